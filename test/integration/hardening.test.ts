import WebSocket from 'ws';
import { buildApp } from '../../src/app';
import { APOLLO_SANDBOX_ORIGIN, loadConfig } from '../../src/config';
import { createLogger } from '../../src/observability/logger';
import { RequestLookupDocument } from '../fixtures/generated/graphql';
import { within } from '../helpers/deadline';
import { Harness, type TestGateway } from '../helpers/gateway';
import { RawGraphqlSocket } from '../helpers/raw-ws';

/** Opens a raw WebSocket with an `Origin` header; resolves with 'open' or the HTTP status it was refused with. */
async function openWithOrigin(gateway: TestGateway, origin?: string): Promise<'open' | number> {
  const socket = new WebSocket(gateway.app.wsUrl, 'graphql-transport-ws', origin ? { origin } : {});
  try {
    return await within(
      new Promise<'open' | number>((resolve, reject) => {
        socket.once('open', () => resolve('open'));
        socket.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        socket.once('error', reject);
      }),
      5_000,
      'the WebSocket handshake',
    );
  } finally {
    socket.terminate();
  }
}

describe('hardening against hostile clients', () => {
  const harness = new Harness();
  afterEach(() => harness.dispose());

  it('answers an error about a huge client-supplied name in linear time', async () => {
    const gateway = await harness.gateway();
    // Error messages echo the unknown field name; a backtracking scrubber made this take tens of seconds.
    const started = Date.now();
    const { status, body } = await gateway.gql(`{ ${'x'.repeat(90_000)} }`);
    expect(status).toBe(400);
    expect(body.errors![0].extensions).toMatchObject({ code: 'GRAPHQL_VALIDATION_FAILED' });
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('caps top-level fields per operation, so aliases cannot multiply provider calls', async () => {
    const gateway = await harness.gateway({ MAX_ROOT_FIELDS: '3' });
    const aliases = (n: number) =>
      `{ ${Array.from({ length: n }, (_, i) => `a${i}: lookupLogs(filter: { limit: 1 }) { to }`).join(' ')} }`;

    const refused = await gateway.gql(aliases(4));
    expect(refused.status).toBe(400);
    expect(refused.body.errors![0].extensions).toMatchObject({
      code: 'GRAPHQL_VALIDATION_FAILED',
      maxRootFields: 3,
    });
    expect(gateway.simulator.received).toHaveLength(0);

    const allowed = await gateway.gql(aliases(3));
    expect(allowed.body.errors).toBeUndefined();
    expect(gateway.simulator.received.filter((r) => r.path === '/number/1/logs')).toHaveLength(3);
  });

  it('says what to change when an operation is too costly to validate or its body is not an object', async () => {
    const gateway = await harness.gateway();
    const repeated = await gateway.gql(`{ ${'__typename '.repeat(1_000)}}`);
    expect(repeated.status).toBe(400);
    expect(repeated.body.errors![0].extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(repeated.body.errors![0].message).toContain('Select each field once');

    const post = (body: string) =>
      fetch(gateway.app.graphqlUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      });
    for (const body of ['"hello"', '42', 'null']) {
      const answer = await post(body);
      expect(answer.status).toBe(400);
      const { errors } = (await answer.json()) as {
        errors: { message: string; extensions: { code: string } }[];
      };
      expect(errors[0].extensions.code).toBe('BAD_REQUEST');
      expect(errors[0].message).toContain('must be a JSON object');
    }
    const broken = (await (await post('{"query": ')).json()) as { errors: { message: string }[] };
    expect(broken.errors[0].message).toContain('not valid JSON');
  });

  it('reads request bodies in UTF-8 only (utf8 spelled either way), answering 415 to any other charset', async () => {
    const gateway = await harness.gateway();
    const post = (charset: string, body: Buffer) =>
      fetch(gateway.app.graphqlUrl, {
        method: 'POST',
        headers: { 'content-type': `application/json; charset=${charset}` },
        body: new Uint8Array(body),
      });
    const query = JSON.stringify({ query: '{ __typename }' });
    expect((await post('utf-8', Buffer.from(query))).status).toBe(200);
    expect((await post('UTF8', Buffer.from(query))).status).toBe(200);
    // UTF-7 hides braces from anything in front that matches bytes: +AHs- is "{".
    for (const [charset, body] of [
      ['utf-7', Buffer.from('{"query":"+AHs- __typename +AH0-"}')],
      ['utf-16le', Buffer.from(query, 'utf16le')],
      ['latin1', Buffer.from(query, 'latin1')],
    ] as const) {
      const answer = await post(charset, body);
      expect(answer.status).toBe(415);
      expect(
        ((await answer.json()) as { errors: { extensions: { code: string } }[] }).errors[0].extensions.code,
      ).toBe('BAD_REQUEST');
    }
  });

  it('holds at most MAX_CONNECTIONS connections, refusing the next one at once', async () => {
    const gateway = await harness.gateway({ MAX_CONNECTIONS: '2' });
    const sockets = await Promise.all([1, 2].map(() => RawGraphqlSocket.open(gateway.app.wsUrl)));
    for (const socket of sockets) harness.defer(async () => socket.terminate());
    const third = new WebSocket(gateway.app.wsUrl, 'graphql-transport-ws');
    const outcome = await within(
      new Promise<string>((resolve) => {
        third.once('open', () => resolve('open'));
        third.once('error', () => resolve('refused'));
      }),
      5_000,
      'the third connection',
    );
    third.terminate();
    expect(outcome).toBe('refused');
  });

  it('refuses WebSocket upgrades from browser origins CORS does not admit, so no page can drive the gateway', async () => {
    const gateway = await harness.gateway({ CORS_ORIGINS: 'https://app.example.com' });
    expect(await openWithOrigin(gateway, 'https://evil.example')).toBe(403);
    expect(await openWithOrigin(gateway, 'null')).toBe(403);
    expect(await openWithOrigin(gateway, 'https://app.example.com')).toBe('open');
    // Not a browser (no Origin), and the gateway's own pages (same origin), are let through.
    expect(await openWithOrigin(gateway)).toBe('open');
    expect(await openWithOrigin(gateway, new URL(gateway.app.url).origin)).toBe('open');

    const production = await harness.gateway({ NODE_ENV: 'production' });
    expect(await openWithOrigin(production, APOLLO_SANDBOX_ORIGIN)).toBe(403);
    const development = await harness.gateway({ NODE_ENV: 'development' });
    expect(await openWithOrigin(development, APOLLO_SANDBOX_ORIGIN)).toBe('open');
  });

  it('refuses a forged callback with 404 before reading its body, whatever the body is', async () => {
    const simulator = await harness.simulator({ callbackDelayMs: 60_000 });
    const gateway = await harness.gateway({}, { simulator });
    const { body } = await gateway.gql(RequestLookupDocument, { to: ['41793026727'] });
    const id = body.data!.requestLookup.id;
    const forged = `${gateway.app.publicUrl}/callbacks/number-lookup/${id}/${'A'.repeat(43)}`;

    expect((await gateway.postCallback(forged, '{"results": [')).status).toBe(404);
    expect((await gateway.postCallback(forged, 'plain', { 'content-type': 'text/plain' })).status).toBe(404);
    expect((await gateway.postCallback(forged, 'x'.repeat(6_000_000))).status).toBe(404);
  });

  it('fails start-up with one clear error when it cannot listen', async () => {
    const first = await harness.gateway();
    const port = new URL(first.app.url).port;
    const config = loadConfig({ PORT: port, HOST: '127.0.0.1', LOG_LEVEL: 'silent' });
    const simulator = await harness.simulator();
    const second = buildApp(config, { simulator, logger: createLogger({ level: 'silent' }) });
    harness.defer(() => second.stop().catch(() => undefined));
    await expect(second.start()).rejects.toMatchObject({ code: 'EADDRINUSE' });
  });
});
