import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { print } from 'graphql';
import { serverAudits, type AuditResult } from 'graphql-http';
import WebSocket from 'ws';
import {
  LookupCompletedDocument,
  LookupLogsDocument,
  LookupNumbersDocument,
  LookupRequestDocument,
  RequestLookupDocument,
} from '../fixtures/generated/graphql';
import { until, within } from '../helpers/deadline';
import { Harness, type TestGateway } from '../helpers/gateway';

/** SHOULDs of the GraphQL-over-HTTP audit the gateway knowingly fails; the README explains each. */
const KNOWN_SHOULD_FAILURES = ['572B', 'FDE2', '7B9B'];

const PROTOCOL = 'graphql-transport-ws';

/** A raw graphql-transport-ws socket: every message it receives, and its close code once closed. */
class RawSocket {
  readonly messages: { type: string; id?: string; payload?: unknown }[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  private readonly socket: WebSocket;
  private readonly waiters: (() => void)[] = [];

  constructor(url: string) {
    this.socket = new WebSocket(url, PROTOCOL);
    this.socket.on('message', (data) => {
      this.messages.push(JSON.parse(String(data)));
      for (const waiter of this.waiters.splice(0)) waiter();
    });
    this.closed = new Promise((resolve) =>
      this.socket.on('close', (code, reason) => resolve({ code, reason: String(reason) })),
    );
  }

  async open(): Promise<void> {
    if (this.socket.readyState === WebSocket.OPEN) return;
    await within(new Promise((resolve) => this.socket.once('open', resolve)), 5_000, 'the socket to open');
  }

  send(message: unknown): void {
    this.socket.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  async waitFor(type: string, id?: string) {
    const find = () => this.messages.find((m) => m.type === type && (id === undefined || m.id === id));
    await within(
      new Promise<void>((resolve) => {
        const check = () => (find() ? resolve() : this.waiters.push(check));
        check();
      }),
      5_000,
      `a ${type} message`,
    );
    return find()!;
  }

  async closeCode(): Promise<number> {
    return (await within(this.closed, 5_000, 'the server to close the socket')).code;
  }

  dispose(): Promise<void> {
    this.socket.terminate();
    return this.closed.then(() => undefined);
  }
}

describe('protocol compliance', () => {
  const harness = new Harness();
  afterEach(() => harness.dispose());

  const socket = (gateway: TestGateway) => {
    const raw = new RawSocket(gateway.app.wsUrl);
    harness.defer(() => raw.dispose());
    return raw;
  };

  describe('GraphQL over HTTP (graphql-http audit)', () => {
    it('passes every MUST; the only failing SHOULDs are the ones the README lists', async () => {
      const gateway = await harness.gateway();
      const results: (AuditResult & { id: string; name: string })[] = [];
      for (const audit of serverAudits({ url: gateway.app.graphqlUrl })) {
        results.push({ ...(await audit.fn()), id: audit.id, name: audit.name });
      }
      expect(results.length).toBeGreaterThan(50);
      const describe = (r: (typeof results)[number]) =>
        `${r.id} ${r.name}: ${r.status === 'ok' ? '' : r.reason}`;
      expect(results.filter((r) => r.name.startsWith('MUST') && r.status !== 'ok').map(describe)).toEqual([]);
      const shouldFailures = results.filter((r) => r.name.startsWith('SHOULD') && r.status !== 'ok');
      expect(shouldFailures.map((r) => r.id).sort()).toEqual([...KNOWN_SHOULD_FAILURES].sort());
      const readme = readFileSync(join(__dirname, '..', '..', 'README.md'), 'utf8');
      for (const id of KNOWN_SHOULD_FAILURES) expect(readme).toContain(id);
    });

    it('passes every audit but those SHOULDs, the optional GET ones included, with the CSRF header', async () => {
      const gateway = await harness.gateway();
      const fetchFn = (url: string, init: RequestInit = {}) =>
        fetch(url, {
          ...init,
          headers: { ...(init.headers as Record<string, string>), 'apollo-require-preflight': 'true' },
        });
      const failing: string[] = [];
      for (const audit of serverAudits({ url: gateway.app.graphqlUrl, fetchFn })) {
        if ((await audit.fn()).status !== 'ok') failing.push(audit.id);
      }
      expect(failing.sort()).toEqual([...KNOWN_SHOULD_FAILURES].sort());
    });

    it('answers GET queries, and refuses mutations over GET with 405', async () => {
      const gateway = await harness.gateway();
      const get = (query: string) =>
        fetch(`${gateway.app.graphqlUrl}?query=${encodeURIComponent(query)}`, {
          headers: { 'apollo-require-preflight': 'true', accept: 'application/graphql-response+json' },
        });
      const lookup = await get('{ lookupNumbers(to: ["41793026727"]) { to mccMnc } }');
      expect(lookup.status).toBe(200);
      expect(lookup.headers.get('content-type')).toContain('application/graphql-response+json');
      expect(await lookup.json()).toEqual({
        data: { lookupNumbers: [{ to: '41793026727', mccMnc: '22801' }] },
      });
      const mutation = await get('mutation { requestLookup(to: ["41793026727"]) { id } }');
      expect(mutation.status).toBe(405);
      expect(gateway.simulator.received.filter((r) => r.path === '/number/1/notify')).toHaveLength(0);
    });

    it('answers a subscription sent over HTTP with BAD_REQUEST pointing at WebSocket, not an internal error', async () => {
      const gateway = await harness.gateway();
      const { body: created } = await gateway.gql(RequestLookupDocument, { to: ['41793026727'] });
      for (const requestId of [created.data!.requestLookup.id, 'unknown']) {
        const { status, body } = await gateway.gql(LookupCompletedDocument, { requestId });
        expect(status).toBe(400);
        expect(body.errors).toHaveLength(1);
        expect(body.errors![0].extensions?.code).toBe('BAD_REQUEST');
        expect(body.errors![0].message).toContain('WebSocket');
      }
    });

    it('answers a method GraphQL over HTTP does not use with 405 and the methods it does', async () => {
      const gateway = await harness.gateway();
      for (const method of ['PUT', 'DELETE', 'PATCH']) {
        const response = await fetch(gateway.app.graphqlUrl, { method });
        expect(response.status).toBe(405);
        expect(response.headers.get('allow')).toBe('GET, POST');
      }
    });
  });

  describe('GraphQL over WebSocket (graphql-transport-ws close codes)', () => {
    it('closes with 4408 when connection_init does not arrive in time', async () => {
      const gateway = await harness.gateway({ WS_INIT_TIMEOUT_MS: '100' });
      const raw = socket(gateway);
      await raw.open();
      expect(await raw.closeCode()).toBe(4408);
    });

    it('closes with 4401 on a subscribe before the connection is acknowledged', async () => {
      const gateway = await harness.gateway();
      const raw = socket(gateway);
      await raw.open();
      raw.send({ id: '1', type: 'subscribe', payload: { query: '{ __typename }' } });
      expect(await raw.closeCode()).toBe(4401);
    });

    it('closes with 4409 when a subscriber id is reused while its operation runs', async () => {
      const simulator = await harness.simulator({ callbackDelayMs: 60_000 });
      const gateway = await harness.gateway({}, { simulator });
      const { body } = await gateway.gql<{ requestLookup: { id: string } }, never>(
        'mutation { requestLookup(to: ["41793026727"]) { id } }',
      );
      const raw = socket(gateway);
      await raw.open();
      raw.send({ type: 'connection_init' });
      await raw.waitFor('connection_ack');
      const subscribe = {
        id: 'same',
        type: 'subscribe',
        payload: {
          query: 'subscription ($id: ID!) { lookupCompleted(requestId: $id) { to } }',
          variables: { id: body.data!.requestLookup.id },
        },
      };
      raw.send(subscribe);
      await until(
        () => gateway.app.internals.registry.stats().activeWatches === 1,
        5_000,
        'the subscription',
      );
      raw.send(subscribe);
      expect(await raw.closeCode()).toBe(4409);
    });

    it('closes with 4400 on a message that is not a graphql-transport-ws message', async () => {
      const gateway = await harness.gateway();
      const notJson = socket(gateway);
      await notJson.open();
      notJson.send('this is not JSON');
      expect(await notJson.closeCode()).toBe(4400);

      const unknownType = socket(gateway);
      await unknownType.open();
      unknownType.send({ type: 'connection_init' });
      await unknownType.waitFor('connection_ack');
      unknownType.send({ type: 'start', id: '1', payload: { query: '{ __typename }' } });
      expect(await unknownType.closeCode()).toBe(4400);
    });

    it('closes with 4429 on a second connection_init', async () => {
      const gateway = await harness.gateway();
      const twice = socket(gateway);
      await twice.open();
      twice.send({ type: 'connection_init' });
      await twice.waitFor('connection_ack');
      twice.send({ type: 'connection_init' });
      expect(await twice.closeCode()).toBe(4429);
    });

    it('answers variables of the wrong type with BAD_USER_INPUT, as HTTP does, and keeps the socket open', async () => {
      const gateway = await harness.gateway();
      const raw = socket(gateway);
      await raw.open();
      raw.send({ type: 'connection_init' });
      await raw.waitFor('connection_ack');
      const cases: [string, unknown][] = [
        [print(LookupNumbersDocument), { to: 123 }],
        [print(LookupNumbersDocument), { to: [{}] }],
        [print(LookupRequestDocument), { id: { a: 1 } }],
        [print(LookupLogsDocument), { filter: { sentSince: 'yesterday' } }],
      ];
      for (const [index, [query, variables]] of cases.entries()) {
        raw.send({ id: `v${index}`, type: 'subscribe', payload: { query, variables } });
        const answer = await raw.waitFor('next', `v${index}`);
        const errors = (answer.payload as { errors: { extensions: { code: string } }[] }).errors;
        expect(errors.map((e) => e.extensions.code)).toEqual(['BAD_USER_INPUT']);
        const http = await gateway.gql(query, variables as never);
        expect(http.body.errors![0].extensions?.code).toBe('BAD_USER_INPUT');
      }
      expect(gateway.simulator.received).toHaveLength(0);
    });

    it('answers a syntax error with an error message and keeps the socket open', async () => {
      const gateway = await harness.gateway();
      const raw = socket(gateway);
      await raw.open();
      raw.send({ type: 'connection_init' });
      await raw.waitFor('connection_ack');
      raw.send({ id: 'bad', type: 'subscribe', payload: { query: '{ lookupNumbers(' } });
      const error = await raw.waitFor('error', 'bad');
      expect((error.payload as { extensions: { code: string } }[])[0].extensions.code).toBe(
        'GRAPHQL_PARSE_FAILED',
      );
      raw.send({ id: 'good', type: 'subscribe', payload: { query: '{ __typename }' } });
      expect((await raw.waitFor('next', 'good')).payload).toEqual({ data: { __typename: 'Query' } });
      await raw.waitFor('complete', 'good');
    });
  });
});
