import { print } from 'graphql';
import WebSocket from 'ws';
import { buildApp } from '../../src/app';
import { loadConfig } from '../../src/config';
import { createLogger } from '../../src/observability/logger';
import {
  LookupCompletedDocument,
  LookupNumbersDocument,
  RequestLookupDocument,
} from '../fixtures/generated/graphql';
import { until, within } from '../helpers/deadline';
import { Harness } from '../helpers/gateway';
import { RawGraphqlSocket } from '../helpers/raw-ws';

describe('startWebSocketServer keep-alive', () => {
  const harness = new Harness();
  afterEach(() => harness.dispose());

  it('spreads its pings over the interval instead of pinging every socket at once', async () => {
    const gateway = await harness.gateway({ WS_KEEPALIVE_MS: '1000' });
    const count = 20;
    const firstPingAt: Promise<number>[] = [];
    for (let i = 0; i < count; i++) {
      const socket = new WebSocket(gateway.app.wsUrl, 'graphql-transport-ws');
      harness.defer(async () => socket.terminate());
      await new Promise<void>((resolve, reject) => {
        socket.once('open', () => resolve());
        socket.once('error', reject);
      });
      socket.send(JSON.stringify({ type: 'connection_init' }));
      firstPingAt.push(new Promise((resolve) => socket.once('ping', () => resolve(performance.now()))));
    }
    const times = await within(Promise.all(firstPingAt), 5_000, 'a ping on every socket');
    // All at once, the first pings would land within a few ms of each other; spread, they span most of a second.
    expect(Math.max(...times) - Math.min(...times)).toBeGreaterThan(500);
  });
});

describe('startWebSocketServer', () => {
  const harness = new Harness();
  afterEach(() => harness.dispose());

  it('lets a running mutation deliver its result before closing with 1001, and refuses new operations meanwhile', async () => {
    const simulator = await harness.simulator({ callbackDelayMs: 60_000 });
    const gateway = await harness.gateway({}, { simulator });
    simulator.faults.inject({ kind: 'latency', ms: 400 }, { endpoint: 'notify' });
    const socket = await RawGraphqlSocket.open(gateway.app.wsUrl);
    harness.defer(async () => socket.terminate());
    socket.subscribe('m', print(RequestLookupDocument), { to: ['41793026727'] });
    await simulator.waitForRequest((r) => r.path === '/number/1/notify');

    const stopped = gateway.app.stop();
    socket.subscribe('late', print(LookupNumbersDocument), { to: ['41793026727'] });
    const refused = await socket.waitFor((m) => m.id === 'late', 5_000, 'the late operation to be answered');
    expect(refused.type).toBe('error');
    expect((refused.payload as { extensions: { code: string } }[])[0].extensions.code).toBe(
      'SERVICE_UNAVAILABLE',
    );

    const result = await socket.waitFor(
      (m) => m.id === 'm' && m.type === 'next',
      5_000,
      'the mutation result',
    );
    expect(result.payload).toMatchObject({ data: { requestLookup: { state: 'PENDING' } } });
    expect((await within(socket.closed, 5_000, 'the close')).code).toBe(1001);
    await within(stopped, 10_000, 'app.stop()');
    // The late operation never ran: one notify, one lookup.
    expect(simulator.received.filter((r) => r.path.startsWith('/number/1/'))).toHaveLength(1);
  });

  it('answers an operation over MAX_OPERATIONS_PER_CONNECTION with BAD_REQUEST and keeps the others', async () => {
    const simulator = await harness.simulator({ callbackDelayMs: 60_000 });
    const gateway = await harness.gateway({ MAX_OPERATIONS_PER_CONNECTION: '2' }, { simulator });
    const { body } = await gateway.gql(RequestLookupDocument, { to: ['41793026727'] });
    const requestId = body.data!.requestLookup.id;
    const socket = await RawGraphqlSocket.open(gateway.app.wsUrl);
    harness.defer(async () => socket.terminate());
    socket.subscribe('1', print(LookupCompletedDocument), { requestId });
    socket.subscribe('2', print(LookupCompletedDocument), { requestId });
    await until(() => gateway.app.internals.registry.stats().activeWatches === 2, 5_000, 'two subscriptions');
    socket.subscribe('3', print(LookupCompletedDocument), { requestId });

    const refused = await socket.waitFor((m) => m.id === '3', 5_000, 'the third subscription to be answered');
    expect(refused.type).toBe('error');
    expect(refused.payload).toMatchObject([
      { extensions: { code: 'BAD_REQUEST', maxOperationsPerConnection: 2 } },
    ]);
    expect(socket.socket.readyState).toBe(WebSocket.OPEN);
    expect(gateway.app.internals.registry.stats().activeWatches).toBe(2);
    // A slot freed is a slot to use.
    socket.send({ id: '1', type: 'complete' });
    await until(() => gateway.app.internals.registry.stats().activeWatches === 1, 5_000, 'one subscription');
    socket.subscribe('4', print(LookupCompletedDocument), { requestId });
    await until(
      () => gateway.app.internals.registry.stats().activeWatches === 2,
      5_000,
      'the new subscription',
    );
  });

  it('logs a client protocol error as one line instead of writing a stack trace to stderr', async () => {
    const lines: string[] = [];
    const logger = createLogger({
      level: 'info',
      destination: { write: (line: string) => void lines.push(line) },
    });
    const app = buildApp(loadConfig({ PORT: '0', HOST: '127.0.0.1', MAX_BODY_BYTES: '2048' }), {
      logger,
      simulator: await harness.simulator(),
    });
    await app.start();
    harness.defer(() => app.stop());
    const stderr = jest.spyOn(console, 'error');
    try {
      const socket = await RawGraphqlSocket.open(app.wsUrl);
      socket.send({ type: 'ping', payload: { padding: 'x'.repeat(4_096) } });
      expect((await within(socket.closed, 5_000, 'the close')).code).toBe(1009);
      await until(() => lines.some((l) => l.includes('protocol error')), 5_000, 'the log line');
      expect(stderr).not.toHaveBeenCalled();
      expect(JSON.parse(lines.find((l) => l.includes('protocol error'))!)).toMatchObject({
        wsError: 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH',
      });
    } finally {
      stderr.mockRestore();
    }
  });
});
