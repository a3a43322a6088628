import type { ExecutionResult } from 'graphql';
import type { Client } from 'graphql-ws';
import WebSocket from 'ws';
import { simulateLookup } from '../../src/simulator';
import {
  LookupCompletedDocument,
  LookupRequestDocument,
  RequestLookupDocument,
} from '../fixtures/generated/graphql';
import { within } from '../helpers/deadline';
import { Harness, type TestGateway } from '../helpers/gateway';

const NUMBERS = ['41793026727', '41793026728', '41793026729'];

type Errors = { message: string; extensions?: Record<string, unknown> }[];

/** Runs one operation over graphql-ws and returns what came back: the results, or the operation's errors. */
function overWs(client: Client, query: string, variables: Record<string, unknown> = {}) {
  return within(
    new Promise<{ results: ExecutionResult[]; errors?: Errors }>((resolve) => {
      const results: ExecutionResult[] = [];
      client.subscribe(
        { query, variables },
        {
          next: (value) => void results.push(value as ExecutionResult),
          error: (errors) => resolve({ results, errors: errors as Errors }),
          complete: () => resolve({ results }),
        },
      );
    }),
    5_000,
    'the operation over WebSocket',
  );
}

/** The close code a graphql-ws client got when the server refused its connection. */
function closeCodeOf(gateway: TestGateway, connectionParams?: Record<string, unknown>): Promise<number> {
  return within(
    new Promise<number>((resolve) => {
      gateway.wsClient({
        connectionParams,
        on: { closed: (event) => resolve((event as { code: number }).code) },
        // The refusal is what the test expects; graphql-ws would print it to the console by default.
        onNonLazyError: () => undefined,
      });
    }),
    5_000,
    'the server to close the connection',
  );
}

const codeOf = (body: { errors?: Errors }) => body.errors?.[0]?.extensions?.code;

const providerCalls = (gateway: TestGateway) =>
  gateway.simulator.received.filter((r) => r.path.startsWith('/number/1/'));

describe('client auth and abuse limits', () => {
  const harness = new Harness();
  afterEach(() => harness.dispose());

  describe('client API keys (CLIENT_API_KEYS)', () => {
    const keys = { CLIENT_API_KEYS: 'key-a, key-b' };
    const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

    it('answers UNAUTHENTICATED with HTTP 401 to a missing or wrong Bearer key, and serves a right one', async () => {
      const gateway = await harness.gateway(keys);
      const query = '{ lookupNumbers(to: ["41793026727"]) { to } }';
      for (const headers of [
        {},
        bearer('wrong'),
        { authorization: 'key-a' },
        { authorization: 'Basic key-a' },
      ]) {
        const { status, body, headers: answer } = await gateway.gql(query, undefined, headers);
        expect(status).toBe(401);
        expect(answer.get('www-authenticate')).toBe('Bearer');
        expect(codeOf(body)).toBe('UNAUTHENTICATED');
        expect(body.data).toBeUndefined();
      }
      expect(providerCalls(gateway)).toHaveLength(0);
      const { status, body } = await gateway.gql(query, undefined, bearer('key-b'));
      expect(status).toBe(200);
      expect(body.errors).toBeUndefined();
    });

    it('counts wrong keys against the rate limit of their address, so guessing keys stalls', async () => {
      const gateway = await harness.gateway({ ...keys, RATE_LIMIT_PER_MINUTE: '3' });
      const codes: unknown[] = [];
      for (let i = 0; i < 4; i++) {
        codes.push(codeOf((await gateway.gql('{ __typename }', undefined, bearer(`guess-${i}`))).body));
      }
      // Then even the right key is refused from that address: a lucky guess looks like the others.
      codes.push(codeOf((await gateway.gql('{ __typename }', undefined, bearer('key-a'))).body));
      expect(codes).toEqual([
        'UNAUTHENTICATED',
        'UNAUTHENTICATED',
        'UNAUTHENTICATED',
        'RATE_LIMITED',
        'RATE_LIMITED',
      ]);
    });

    it('stalls key guessing over WebSocket the same way: 4403 for wrong keys, then 4429 for any', async () => {
      const gateway = await harness.gateway({ ...keys, RATE_LIMIT_PER_MINUTE: '3' });
      const codes: number[] = [];
      for (let i = 0; i < 4; i++)
        codes.push(await closeCodeOf(gateway, { authorization: `Bearer guess-${i}` }));
      codes.push(await closeCodeOf(gateway, { authorization: 'Bearer key-a' }));
      expect(codes).toEqual([4403, 4403, 4403, 4429, 4429]);
    });

    it('closes a WebSocket with 4403 for missing or wrong connectionParams, and serves a right key', async () => {
      const gateway = await harness.gateway(keys);
      expect(await closeCodeOf(gateway)).toBe(4403);
      expect(await closeCodeOf(gateway, { authorization: 'Bearer wrong' })).toBe(4403);
      expect(await closeCodeOf(gateway, { somethingElse: 'key-a' })).toBe(4403);

      for (const connectionParams of [
        { authorization: 'Bearer key-a' },
        { Authorization: 'key-b' },
        { headers: { Authorization: 'Bearer key-a' } },
      ]) {
        const client = gateway.wsClient({ connectionParams });
        expect((await overWs(client, '{ __typename }')).results).toEqual([{ data: { __typename: 'Query' } }]);
      }
    });

    it('lets a client see only the async requests it created', async () => {
      const gateway = await harness.gateway(keys);
      const created = await gateway.gql(RequestLookupDocument, { to: NUMBERS }, bearer('key-a'));
      const id = created.body.data!.requestLookup.id;
      await gateway.simulator.waitForCallback();

      const foreign = await gateway.gql(LookupRequestDocument, { id }, bearer('key-b'));
      expect(foreign.body.errors).toBeUndefined();
      expect(foreign.body.data!.lookupRequest).toBeNull();
      const own = await gateway.gql(LookupRequestDocument, { id }, bearer('key-a'));
      expect(own.body.data!.lookupRequest).toMatchObject({ id, state: 'COMPLETED' });

      const stranger = gateway.wsClient({ connectionParams: bearer('key-b') });
      const refused = gateway.subscribe(stranger, LookupCompletedDocument, { requestId: id });
      const events = await refused.completed();
      expect(events).toHaveLength(1);
      expect(events[0].data ?? null).toBeNull();
      expect(events[0].errors![0].extensions!.code).toBe('NOT_FOUND');

      const owner = gateway.wsClient({ connectionParams: bearer('key-a') });
      const replayed = await gateway.subscribe(owner, LookupCompletedDocument, { requestId: id }).completed();
      expect(replayed.map((e) => e.data!.lookupCompleted.to).sort()).toEqual(NUMBERS);
    });
  });

  describe('numbers per operation (MAX_NUMBERS_PER_OPERATION), counted across aliases', () => {
    it('refuses aliases that together carry too many numbers, before any provider call', async () => {
      const gateway = await harness.gateway({ MAX_NUMBERS_PER_OPERATION: '3' });
      const aliases = await gateway.gql(
        '{ a: lookupNumbers(to: ["41793026727", "41793026728"]) { to } b: lookupNumbers(to: ["41793026729", "41793026720"]) { to } }',
      );
      expect(aliases.status).toBe(400);
      expect(aliases.body.errors![0].extensions).toEqual({ code: 'BAD_USER_INPUT', maxCount: 3, count: 4 });

      const viaVariables = await gateway.gql(
        'mutation ($to: [String!]!) { a: requestLookup(to: $to) { id } b: requestLookup(to: $to) { id } }',
        { to: ['41793026727', '41793026728'] },
      );
      expect(viaVariables.status).toBe(400);
      expect(codeOf(viaVariables.body)).toBe('BAD_USER_INPUT');
      expect(providerCalls(gateway)).toHaveLength(0);

      const within = await gateway.gql(
        '{ a: lookupNumbers(to: ["41793026727", "41793026728"]) { to } b: lookupNumbers(to: ["41793026729"]) { to } }',
      );
      expect(within.body.errors).toBeUndefined();
    });

    it('applies over WebSocket too', async () => {
      const gateway = await harness.gateway({ MAX_NUMBERS_PER_OPERATION: '3' });
      const { errors } = await overWs(
        gateway.wsClient(),
        '{ a: lookupNumbers(to: ["41793026727", "41793026728"]) { to } b: lookupNumbers(to: ["41793026729", "41793026720"]) { to } }',
      );
      expect(errors![0].extensions).toEqual({ code: 'BAD_USER_INPUT', maxCount: 3, count: 4 });
      expect(providerCalls(gateway)).toHaveLength(0);
    });
  });

  describe('query depth (MAX_QUERY_DEPTH)', () => {
    it('refuses deeper operations with GRAPHQL_VALIDATION_FAILED over HTTP and WebSocket', async () => {
      // LookupRequest reaches lookupRequest → results → originalNetwork → networkName: depth 4.
      const gateway = await harness.gateway({ MAX_QUERY_DEPTH: '3' });
      const deep = await gateway.gql(LookupRequestDocument, { id: 'x' });
      expect(deep.status).toBe(400);
      expect(deep.body.errors![0].extensions).toMatchObject({
        code: 'GRAPHQL_VALIDATION_FAILED',
        maxQueryDepth: 3,
      });
      const shallow = await gateway.gql('{ lookupRequest(id: "x") { results { to } } }');
      expect(shallow.body).toEqual({ data: { lookupRequest: null } });

      // lookupCompleted → originalNetwork → networkName: depth 3.
      const strict = await harness.gateway({ MAX_QUERY_DEPTH: '2' });
      const { errors } = await overWs(
        strict.wsClient(),
        'subscription { lookupCompleted(requestId: "x") { originalNetwork { networkName } } }',
      );
      expect(errors![0].extensions).toMatchObject({ code: 'GRAPHQL_VALIDATION_FAILED', maxQueryDepth: 2 });
    });
  });

  describe('document size (MAX_QUERY_TOKENS)', () => {
    it('refuses a document of more tokens, so aliases cannot multiply a response, over HTTP and WebSocket', async () => {
      const gateway = await harness.gateway({ MAX_QUERY_TOKENS: '500' });
      const aliases = (n: number) =>
        `{ lookupNumbers(to: ["41793026727"]) { ${Array.from({ length: n }, (_, i) => `a${i}: to`).join(' ')} } }`;

      const refused = await gateway.gql(aliases(200));
      expect(refused.status).toBe(400);
      expect(refused.body.errors![0].extensions?.code).toBe('GRAPHQL_PARSE_FAILED');
      expect(refused.body.errors![0].message).toContain('500 tokens');
      const { errors } = await overWs(gateway.wsClient(), aliases(200));
      expect(errors![0].extensions).toMatchObject({ code: 'GRAPHQL_PARSE_FAILED' });
      expect(gateway.simulator.received).toHaveLength(0);

      expect((await gateway.gql(aliases(100))).body.errors).toBeUndefined();
    });
  });

  describe('stored async requests in process (MAX_STORED_NUMBERS)', () => {
    it('forgets finished requests first to make room, then refuses requestLookup before any provider call', async () => {
      const simulator = await harness.simulator({ callbackDelayMs: 60_000 });
      const gateway = await harness.gateway(
        { MAX_STORED_NUMBERS: '1000', MAX_NUMBERS_PER_OPERATION: '600' },
        { simulator },
      );
      const numbers = (base: number, n: number) =>
        Array.from({ length: n }, (_, i) => String(41_793_000_000 + base + i));
      const first = await gateway.gql(RequestLookupDocument, { to: numbers(0, 600) });
      const firstId = first.body.data!.requestLookup.id;
      // Finished: every number answered.
      const notify = await simulator.waitForRequest((r) => r.path === '/number/1/notify');
      const url = (notify.body as { notifyUrl: string }).notifyUrl;
      const results = numbers(0, 600).map((to) => ({ ...simulateLookup(to), messageId: `m-${to}` }));
      expect((await gateway.postCallback(url, { results })).status).toBe(200);

      const second = await gateway.gql(RequestLookupDocument, { to: numbers(1_000, 400) });
      expect(second.body.errors).toBeUndefined();
      // Room was made by forgetting the finished request, never a pending one.
      const third = await gateway.gql(RequestLookupDocument, { to: numbers(2_000, 600) });
      expect(third.body.errors).toBeUndefined();
      expect((await gateway.gql(LookupRequestDocument, { id: firstId })).body.data!.lookupRequest).toBeNull();

      const refused = await gateway.gql(RequestLookupDocument, { to: numbers(3_000, 10) });
      expect(refused.body.errors![0].extensions?.code).toBe('SERVICE_UNAVAILABLE');
      expect(refused.body.errors![0].message).toContain('MAX_STORED_NUMBERS');
      expect(simulator.received.filter((r) => r.path === '/number/1/notify')).toHaveLength(3);
      const pending = await gateway.gql(LookupRequestDocument, { id: second.body.data!.requestLookup.id });
      expect(pending.body.data!.lookupRequest).toMatchObject({ state: 'PENDING' });
    });
  });

  describe('batched HTTP requests (MAX_BATCH_SIZE)', () => {
    const batch = (size: number) =>
      Array.from({ length: size }, (_, i) => ({ query: `query Q${i} { __typename }` }));
    const post = (gateway: TestGateway, body: unknown) =>
      fetch(gateway.app.graphqlUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });

    it('are refused by default', async () => {
      const gateway = await harness.gateway();
      const response = await post(gateway, batch(2));
      expect(response.status).toBe(400);
      expect(codeOf((await response.json()) as { errors: Errors })).toBe('BAD_REQUEST');
    });

    it('are answered up to the configured size, and refused beyond it', async () => {
      const gateway = await harness.gateway({ MAX_BATCH_SIZE: '2' });
      const ok = await post(gateway, batch(2));
      expect(ok.status).toBe(200);
      expect(await ok.json()).toEqual([{ data: { __typename: 'Query' } }, { data: { __typename: 'Query' } }]);
      const tooMany = await post(gateway, batch(3));
      expect(tooMany.status).toBe(400);
      const body = (await tooMany.json()) as { errors: Errors };
      expect(body.errors[0].extensions).toEqual({ code: 'BAD_REQUEST', maxBatchSize: 2 });
    });
  });

  describe('request size (MAX_BODY_BYTES)', () => {
    it('answers 413 to a larger HTTP body and closes a WebSocket that sends a larger message', async () => {
      const gateway = await harness.gateway({ MAX_BODY_BYTES: '2048' });
      const padding = 'x'.repeat(3_000);
      const { status, body } = await gateway.gql('query { __typename }', { padding } as never);
      expect(status).toBe(413);
      expect(codeOf(body)).toBe('PAYLOAD_TOO_LARGE');
      expect((await gateway.gql('{ __typename }')).status).toBe(200);

      const socket = new WebSocket(gateway.app.wsUrl, 'graphql-transport-ws');
      const closed = new Promise<number>((resolve) => socket.on('close', (code) => resolve(code)));
      harness.defer(async () => {
        socket.terminate();
        await closed;
      });
      await within(new Promise((resolve) => socket.once('open', resolve)), 5_000, 'the socket to open');
      socket.send(JSON.stringify({ type: 'connection_init', payload: { padding } }));
      expect(await within(closed, 5_000, 'the close')).toBe(1009);
    });
  });

  describe('per-client rate limit (RATE_LIMIT_PER_MINUTE)', () => {
    it('answers RATE_LIMITED with HTTP 429, Retry-After and retryAfterSeconds once the budget is spent', async () => {
      const gateway = await harness.gateway({ RATE_LIMIT_PER_MINUTE: '2' });
      expect((await gateway.gql('{ __typename }')).status).toBe(200);
      expect((await gateway.gql('{ __typename }')).status).toBe(200);
      const { status, body, headers } = await gateway.gql('{ lookupNumbers(to: ["41793026727"]) { to } }');
      expect(status).toBe(429);
      const extensions = body.errors![0].extensions as { code: string; retryAfterSeconds: number };
      expect(extensions.code).toBe('RATE_LIMITED');
      expect(extensions.retryAfterSeconds).toBeGreaterThanOrEqual(1);
      expect(extensions.retryAfterSeconds).toBeLessThanOrEqual(60);
      expect(headers.get('retry-after')).toBe(String(extensions.retryAfterSeconds));
      expect(providerCalls(gateway)).toHaveLength(0);

      // The WebSocket path spends the same budget.
      const { errors } = await overWs(gateway.wsClient(), '{ __typename }');
      expect(errors![0].extensions).toMatchObject({ code: 'RATE_LIMITED' });
    });

    it('counts per client key, each operation of a batch, and over WebSocket', async () => {
      const gateway = await harness.gateway({
        RATE_LIMIT_PER_MINUTE: '3',
        CLIENT_API_KEYS: 'key-a,key-b',
        MAX_BATCH_SIZE: '5',
      });
      const a = { authorization: 'Bearer key-a' };
      const batch = await fetch(gateway.app.graphqlUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...a },
        body: JSON.stringify([{ query: '{ __typename }' }, { query: '{ __typename }' }]),
      });
      expect(batch.status).toBe(200);
      const client = gateway.wsClient({ connectionParams: a });
      expect((await overWs(client, '{ __typename }')).errors).toBeUndefined();
      expect((await overWs(client, '{ __typename }')).errors![0].extensions!.code).toBe('RATE_LIMITED');
      expect((await gateway.gql('{ __typename }', undefined, a)).status).toBe(429);

      const b = { authorization: 'Bearer key-b' };
      expect((await gateway.gql('{ __typename }', undefined, b)).status).toBe(200);
    });
  });

  describe('callback route limits', () => {
    it('answers 413 beyond CALLBACK_MAX_BODY_BYTES and 415 to a non-JSON content type, changing nothing', async () => {
      const simulator = await harness.simulator({ callbackDelayMs: 60_000 });
      const gateway = await harness.gateway({ CALLBACK_MAX_BODY_BYTES: '2048' }, { simulator });
      const { body } = await gateway.gql(RequestLookupDocument, { to: NUMBERS });
      const notify = await gateway.simulator.waitForRequest((r) => r.path === '/number/1/notify');
      const notifyUrl = (notify.body as { notifyUrl: string }).notifyUrl;

      const tooLarge = await gateway.postCallback(notifyUrl, { results: [], padding: 'x'.repeat(3_000) });
      expect(tooLarge.status).toBe(413);
      const form = await gateway.postCallback(notifyUrl, 'results=1', {
        'content-type': 'application/x-www-form-urlencoded',
      });
      expect(form.status).toBe(415);
      const text = await gateway.postCallback(notifyUrl, JSON.stringify({ results: [] }), {
        'content-type': 'text/plain',
      });
      expect(text.status).toBe(415);

      const after = await gateway.gql(LookupRequestDocument, { id: body.data!.requestLookup.id });
      expect(after.body.data!.lookupRequest).toMatchObject({ state: 'PENDING', results: [] });
    });
  });
});
