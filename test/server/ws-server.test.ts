import { connect } from 'node:net';
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
import { RawGraphqlSocket, type WsMessage } from '../helpers/raw-ws';

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
    // Completed before the close: a client that missed it would run the mutation again after reconnecting.
    expect(socket.messages.filter((m) => m.id === 'm').map((m) => m.type)).toEqual(['next', 'complete']);
    expect(await within(stopped, 10_000, 'app.stop()')).toEqual({ graceful: true });
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

  it('stops in time when a peer never answers the close, and calls that graceful', async () => {
    const gateway = await harness.gateway({ SHUTDOWN_TIMEOUT_MS: '2000' });
    const { port } = new URL(gateway.app.url);
    // An upgraded socket whose peer then reads and answers nothing: a phone that lost its network.
    const peer = connect(Number(port), '127.0.0.1');
    harness.defer(async () => void peer.destroy());
    await within(
      new Promise<void>((resolve) => {
        peer.once('connect', () =>
          peer.write(
            'GET /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
              'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n' +
              'Sec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n',
          ),
        );
        peer.once('data', () => resolve());
      }),
      5_000,
      'the upgrade',
    );
    peer.pause();
    await until(() => gateway.app.internals.webSocketConnections() === 1, 5_000, 'the socket');

    const startedAt = Date.now();
    expect(await within(gateway.app.stop(), 5_000, 'app.stop()')).toEqual({ graceful: true });
    // The peer gets the close handshake's 500 ms (a quarter of the bound), not the whole bound.
    expect(Date.now() - startedAt).toBeLessThan(1_500);
  });

  it('refuses an id still running after its client completed it, so the slot and the answer stay its own', async () => {
    const simulator = await harness.simulator();
    const gateway = await harness.gateway({ MAX_OPERATIONS_PER_CONNECTION: '2' }, { simulator });
    simulator.faults.inject({ kind: 'latency', ms: 300 }, { endpoint: 'query', times: Infinity });
    const socket = await RawGraphqlSocket.open(gateway.app.wsUrl);
    harness.defer(async () => socket.terminate());
    socket.subscribe('x', print(LookupNumbersDocument), { to: ['41793026720'] });
    await simulator.waitForRequest((r) => r.path === '/number/1/query');
    socket.send({ id: 'x', type: 'complete' });
    socket.subscribe('x', print(LookupNumbersDocument), { to: ['41793026729'] });

    const refused = await socket.waitFor((m) => m.id === 'x', 5_000, 'the reused id to be answered');
    expect(refused.type).toBe('error');
    expect(refused.payload).toMatchObject([{ extensions: { code: 'BAD_REQUEST' } }]);
    // The completed query's answer is not sent under the id either, and nothing else reached the provider.
    await until(() => gateway.app.internals.registry.stats().activeWatches === 0, 5_000, 'idle');
    await simulator.idle();
    expect(socket.messages.filter((m) => m.id === 'x').map((m) => m.type)).toEqual(['error']);
    expect(simulator.received.filter((r) => r.path === '/number/1/query')).toHaveLength(1);
  });

  it('frees the slot of a refused operation its client completed while it was being checked', async () => {
    const gateway = await harness.gateway({ MAX_OPERATIONS_PER_CONNECTION: '1' });
    const socket = await RawGraphqlSocket.open(gateway.app.wsUrl);
    harness.defer(async () => socket.terminate());
    // Refused by validation, and completed by the client in the same breath.
    socket.subscribe('bad', '{ nope }', {});
    socket.send({ id: 'bad', type: 'complete' });
    // Until the refusal is through, the slot is rightly taken; after it, a leaked slot would refuse every try.
    let answer: WsMessage | undefined;
    for (let attempt = 0; attempt < 100 && answer?.type !== 'next'; attempt++) {
      socket.subscribe(`good-${attempt}`, '{ __typename }', {});
      answer = await socket.waitFor((m) => m.id === `good-${attempt}`, 5_000, 'the next operation');
    }
    expect(answer).toMatchObject({ type: 'next', payload: { data: { __typename: 'Query' } } });
  });

  it('closes with 4409 for a long reused id, its reason cut to what a close frame carries', async () => {
    const gateway = await harness.gateway();
    const socket = await RawGraphqlSocket.open(gateway.app.wsUrl);
    harness.defer(async () => socket.terminate());
    const id = 'i'.repeat(200);
    const requestId = '00000000-0000-4000-8000-000000000000';
    socket.subscribe(id, print(LookupCompletedDocument), { requestId });
    socket.subscribe(id, print(LookupCompletedDocument), { requestId });
    const closed = await within(socket.closed, 5_000, 'the close');
    expect(closed.code).toBe(4409);
    expect(Buffer.byteLength(closed.reason)).toBeLessThanOrEqual(123);
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
