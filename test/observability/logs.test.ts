import { print } from 'graphql';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { buildApp, type GatewayApp } from '../../src/app';
import { loadConfig } from '../../src/config';
import { createLogger } from '../../src/observability/logger';
import {
  LookupCompletedDocument,
  LookupNumbersDocument,
  RequestLookupDocument,
} from '../fixtures/generated/graphql';
import { until, within } from '../helpers/deadline';
import { Harness } from '../helpers/gateway';

const PROVIDER_KEY = 'provider-key-7f3a9c2e51';
const CLIENT_KEY = 'client-key-b84d0e6a17';
const NUMBERS = ['41793026727', '41793026728'];

type LogLine = Record<string, unknown> & { msg?: string; level: number };

describe('structured logs', () => {
  const harness = new Harness();
  afterEach(() => harness.dispose());

  async function gatewayWithCapturedLogs() {
    const simulator = await harness.simulator({ apiKey: PROVIDER_KEY });
    const raw: string[] = [];
    const logger = createLogger({
      level: 'trace',
      destination: { write: (line: string) => void raw.push(line) },
    });
    const app: GatewayApp = buildApp(
      loadConfig({
        PORT: '0',
        HOST: '127.0.0.1',
        INFOBIP_BASE_URL: simulator.url,
        INFOBIP_API_KEY: PROVIDER_KEY,
        CLIENT_API_KEYS: CLIENT_KEY,
      }),
      { logger },
    );
    await app.start();
    harness.defer(() => app.stop());
    const lines = () => raw.map((line) => JSON.parse(line) as LogLine);
    return { app, simulator, raw, lines };
  }

  const post = (app: GatewayApp, query: string, variables: unknown, headers: Record<string, string> = {}) =>
    fetch(app.graphqlUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${CLIENT_KEY}`, ...headers },
      body: JSON.stringify({ query, variables }),
    });

  it('logs one JSON line per operation with its request id, honouring and echoing x-request-id', async () => {
    const { app, lines } = await gatewayWithCapturedLogs();
    const honoured = await post(
      app,
      print(LookupNumbersDocument),
      { to: NUMBERS },
      { 'x-request-id': 'req-abc.123' },
    );
    expect(honoured.status).toBe(200);
    expect(honoured.headers.get('x-request-id')).toBe('req-abc.123');

    const generated = await post(app, print(LookupNumbersDocument), { to: NUMBERS });
    const generatedId = generated.headers.get('x-request-id')!;
    expect(generatedId).toMatch(/^[0-9a-f-]{36}$/);
    // A header that could forge log lines is replaced, not trusted.
    const forged = await post(app, '{ __typename }', {}, { 'x-request-id': 'x"\\n{"level":60}' });
    expect(forged.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);

    const refused = await post(
      app,
      '{ __typename }',
      {},
      { authorization: 'Bearer nope', 'x-request-id': 'req-401' },
    );
    expect(refused.status).toBe(401);

    const operations = lines().filter((l) => l.msg === 'graphql operation');
    expect(operations).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          reqId: 'req-abc.123',
          operation: 'LookupNumbers',
          type: 'query',
          transport: 'http',
          outcome: 'ok',
          durationMs: expect.any(Number),
        }),
        expect.objectContaining({ reqId: generatedId, operation: 'LookupNumbers', outcome: 'ok' }),
        expect.objectContaining({ reqId: 'req-401', outcome: 'UNAUTHENTICATED' }),
      ]),
    );
    // The provider calls an operation makes are logged with its request id.
    expect(lines()).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ msg: 'provider attempt', reqId: 'req-abc.123', endpoint: 'query' }),
      ]),
    );
  });

  it('logs callbacks with a request id of their own and WebSocket operations with theirs', async () => {
    const { app, simulator, lines } = await gatewayWithCapturedLogs();
    const created = await post(app, print(RequestLookupDocument), { to: NUMBERS });
    const requestId = ((await created.json()) as { data: { requestLookup: { id: string } } }).data
      .requestLookup.id;
    const client = createClient({
      url: app.wsUrl,
      webSocketImpl: WebSocket,
      retryAttempts: 0,
      connectionParams: { authorization: `Bearer ${CLIENT_KEY}` },
    });
    harness.defer(async () => void (await client.dispose()));
    const run = (query: string, variables: Record<string, unknown>) =>
      within(
        new Promise<void>((resolve, reject) =>
          client.subscribe({ query, variables }, { next: () => undefined, error: reject, complete: resolve }),
        ),
        5_000,
        'the operation over WebSocket to complete',
      );
    await run(print(LookupCompletedDocument), { requestId });
    await run(print(LookupNumbersDocument), { to: ['41793026721'] });
    await simulator.idle();
    await until(
      () => lines().filter((l) => l.transport === 'ws').length === 2,
      5_000,
      'the ws operation log lines',
    );
    const wsQuery = lines().find((l) => l.transport === 'ws' && l.operation === 'LookupNumbers');
    expect(wsQuery).toMatchObject({ type: 'query', outcome: 'ok', reqId: expect.any(String) });
    expect(lines()).toEqual(
      expect.arrayContaining([expect.objectContaining({ msg: 'provider attempt', reqId: wsQuery!.reqId })]),
    );

    const callback = lines().find((l) => l.msg === 'callback accepted');
    expect(callback).toMatchObject({ route: 'callback', requestId, reqId: expect.any(String) });
    const ws = lines().find((l) => l.msg === 'graphql operation' && l.transport === 'ws');
    expect(ws).toMatchObject({
      operation: 'LookupCompleted',
      type: 'subscription',
      outcome: 'ok',
      reqId: expect.any(String),
    });
  });

  it('never writes the provider key, client keys or callback secrets', async () => {
    const { app, simulator, raw } = await gatewayWithCapturedLogs();
    await post(app, print(LookupNumbersDocument), { to: NUMBERS });
    await post(
      app,
      print(LookupNumbersDocument),
      { to: NUMBERS },
      { authorization: `Bearer ${CLIENT_KEY}-wrong` },
    );
    simulator.faults.inject({ kind: 'status', status: 503 }, { endpoint: 'query' });
    await post(app, print(LookupNumbersDocument), { to: ['41793026729'] });
    simulator.faults.inject({ kind: 'status', status: 401 }, { endpoint: 'query', times: Infinity });
    await post(app, print(LookupNumbersDocument), { to: ['41793026720'] });
    simulator.faults.clear();
    await post(app, print(RequestLookupDocument), { to: NUMBERS });
    const notify = await simulator.waitForRequest((r) => r.path === '/number/1/notify');
    const secret = (notify.body as { notifyUrl: string }).notifyUrl.split('/').at(-1)!;
    await simulator.waitForCallback();
    await simulator.idle();
    const forged = (notify.body as { notifyUrl: string }).notifyUrl.replace(secret, `${secret}x`);
    const refused = await fetch(forged, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"results": []}',
    });
    expect(refused.status).toBe(404);

    const everything = raw.join('');
    expect(raw.length).toBeGreaterThan(5);
    expect(everything).toContain('callback accepted');
    expect(everything).not.toContain(PROVIDER_KEY);
    expect(everything).not.toContain(CLIENT_KEY);
    expect(everything).not.toContain(secret);
  });
});
