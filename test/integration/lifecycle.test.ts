import { print } from 'graphql';
import type { Redis } from 'ioredis';
import { LookupCompletedDocument } from '../fixtures/generated/graphql';
import { until, within } from '../helpers/deadline';
import { Harness, type TestGateway } from '../helpers/gateway';
import { finalResult, notifyUrlOf, requestLookup, startInstances, STORE_MODES } from '../helpers/instances';
import { numsub, redisClient, uniquePrefix } from '../helpers/redis';
import { RawGraphqlSocket } from '../helpers/raw-ws';

const NUMBERS = ['41793026720', '41793026724'];
const SUBSCRIPTION = print(LookupCompletedDocument);
/** The smallest subscription: validating a document costs more than anything this suite measures. */
const SMALL_SUBSCRIPTION = 'subscription ($requestId: ID!) { lookupCompleted(requestId: $requestId) { to } }';

describe.each(STORE_MODES)('subscription lifecycle ($name)', (mode) => {
  const harness = new Harness();
  afterEach(() => harness.dispose());

  /** One gateway, the provider's callback held back, and a way to read every leak counter at once. */
  async function setup(env: Record<string, string> = {}) {
    const simulator = await harness.simulator({ callbackDelayMs: 60_000 });
    const prefix = uniquePrefix('lifecycle');
    const [gateway] = await startInstances(harness, mode, 1, simulator, { ...env, REDIS_KEY_PREFIX: prefix });
    const admin: Redis | undefined = mode.redis ? await redisClient(harness) : undefined;
    const counters = async (requestId: string) => ({
      activeWatches: gateway.app.internals.registry.stats().activeWatches,
      listeners: gateway.app.internals.pubsub.listenerCount(),
      redisSubscriptions: admin ? await numsub(admin, `${prefix}lookup:${requestId}`) : 0,
      sockets: gateway.app.internals.webSocketConnections(),
    });
    return { simulator, gateway, counters };
  }

  async function finish(gateway: TestGateway, notifyUrl: string) {
    const subscription = gateway.subscribe(gateway.wsClient(), LookupCompletedDocument, {
      requestId: new URL(notifyUrl).pathname.split('/').at(-2)!,
    });
    await until(() => gateway.app.internals.registry.stats().activeWatches === 1, 5_000, 'the subscription');
    await gateway.postCallback(notifyUrl, { results: NUMBERS.map((n) => finalResult(n)) });
    return subscription.completed();
  }

  it('leaves no watch, listener or Redis subscription behind after 1,000 abrupt disconnects', async () => {
    const { simulator, gateway, counters } = await setup();
    const request = await requestLookup(gateway, NUMBERS);
    const notifyUrl = await notifyUrlOf(simulator, request.id);
    const baseline = { activeWatches: 0, listeners: 0, redisSubscriptions: 0, sockets: 0 };
    expect(await counters(request.id)).toEqual(baseline);

    const BATCH = 100;
    for (let batch = 0; batch < 10; batch++) {
      const sockets = await Promise.all(
        Array.from({ length: BATCH }, () => RawGraphqlSocket.open(gateway.app.wsUrl)),
      );
      // Half vanish the instant they have asked to subscribe, while the server is still subscribing them.
      const [hasty, settled] = [sockets.slice(0, BATCH / 2), sockets.slice(BATCH / 2)];
      for (const socket of hasty) {
        socket.subscribe('1', SMALL_SUBSCRIPTION, { requestId: request.id });
        socket.terminate();
      }
      // The other half vanish once their subscription is live.
      for (const socket of settled) socket.subscribe('1', SMALL_SUBSCRIPTION, { requestId: request.id });
      await until(
        () => gateway.app.internals.registry.stats().activeWatches >= settled.length,
        10_000,
        'the subscriptions to be live',
      );
      for (const socket of settled) socket.terminate();
    }
    // Cleaning up is a matter of milliseconds; the deadline only absorbs a loaded machine.
    await until(
      async () => JSON.stringify(await counters(request.id)) === JSON.stringify(baseline),
      5_000,
      'every counter back at its baseline',
    );

    // And the request is still delivered to whoever subscribes properly.
    expect(await finish(gateway, notifyUrl)).toHaveLength(NUMBERS.length);
    expect(await counters(request.id)).toMatchObject({
      activeWatches: 0,
      listeners: 0,
      redisSubscriptions: 0,
    });
  });

  it('cleans up subscriptions a client stops, and a socket it closes in the middle of subscribing', async () => {
    const { gateway, counters } = await setup();
    const request = await requestLookup(gateway, NUMBERS);
    const client = gateway.wsClient();
    const subscriptions = Array.from({ length: 20 }, () =>
      gateway.subscribe(client, LookupCompletedDocument, { requestId: request.id }),
    );
    await until(() => gateway.app.internals.registry.stats().activeWatches === 20, 5_000, '20 subscriptions');
    for (const subscription of subscriptions) subscription.stop();
    await until(async () => (await counters(request.id)).activeWatches === 0, 5_000, 'client-side completes');

    // Closing (politely) right after subscribing: the server may be mid-subscribe.
    for (let i = 0; i < 20; i++) {
      const socket = await RawGraphqlSocket.open(gateway.app.wsUrl);
      socket.subscribe('1', SUBSCRIPTION, { requestId: request.id });
      socket.socket.close(1000);
    }
    await until(
      async () => {
        const c = await counters(request.id);
        return c.activeWatches === 0 && c.listeners === 0 && c.redisSubscriptions === 0 && c.sockets === 1;
      },
      5_000,
      'every counter back at its baseline',
    );
  });

  it('terminates a peer that stops answering pings, and frees its subscription', async () => {
    const { simulator, gateway, counters } = await setup({ WS_KEEPALIVE_MS: '100' });
    const request = await requestLookup(gateway, NUMBERS);
    const notifyUrl = await notifyUrlOf(simulator, request.id);
    const dead = await RawGraphqlSocket.open(gateway.app.wsUrl, { autoPong: false });
    const alive = await RawGraphqlSocket.open(gateway.app.wsUrl);
    dead.subscribe('1', SUBSCRIPTION, { requestId: request.id });
    alive.subscribe('1', SUBSCRIPTION, { requestId: request.id });
    await until(
      () => gateway.app.internals.registry.stats().activeWatches === 2,
      5_000,
      'both subscriptions',
    );

    const closed = await within(dead.closed, 5_000, 'the silent peer to be dropped');
    // Terminated, not closed with a frame: a peer that does not answer pings would not read one either.
    expect(closed.code).toBe(1006);
    expect(dead.pings).toBeGreaterThanOrEqual(1);
    await until(
      async () => (await counters(request.id)).activeWatches === 1,
      5_000,
      'the dead peer cleaned up',
    );
    expect(await counters(request.id)).toMatchObject({ listeners: 1, sockets: 1 });

    // The peer that answers stays connected through many more pings, and still gets its results.
    const pingsBefore = alive.pings;
    await alive.waitForPings(pingsBefore + 5, 5_000);
    await gateway.postCallback(notifyUrl, { results: NUMBERS.map((n) => finalResult(n)) });
    await alive.waitFor((m) => m.type === 'complete' && m.id === '1', 5_000, 'the subscription to complete');
    expect(alive.messages.filter((m) => m.type === 'next')).toHaveLength(NUMBERS.length);
  });

  it("never closes a client's other subscriptions when one of them fails", async () => {
    const { simulator, gateway, counters } = await setup();
    const request = await requestLookup(gateway, NUMBERS);
    const notifyUrl = await notifyUrlOf(simulator, request.id);
    let closedSocket = false;
    const client = gateway.wsClient({ on: { closed: () => (closedSocket = true) } });

    const healthy = gateway.subscribe(client, LookupCompletedDocument, { requestId: request.id });
    const unknown = gateway.subscribe(client, LookupCompletedDocument, {
      requestId: '00000000-0000-4000-8000-000000000000',
    });
    const outcome = await unknown.done;
    const errors =
      outcome === 'complete'
        ? unknown.events[0]?.errors
        : (outcome.error as { extensions?: { code?: string } }[]);
    expect(errors?.[0]).toMatchObject({ extensions: { code: 'NOT_FOUND' } });
    // A subscription that is not even valid GraphQL, on the same socket.
    const invalid = gateway.subscribe(client, LookupCompletedDocument, {} as { requestId: string });
    const invalidOutcome = await invalid.done;
    expect(invalidOutcome === 'complete' ? invalid.events[0]?.errors : invalidOutcome.error).toHaveLength(1);

    await until(
      async () => (await counters(request.id)).activeWatches === 1,
      5_000,
      'the healthy subscription',
    );
    await gateway.postCallback(notifyUrl, { results: [finalResult(NUMBERS[0])] });
    await healthy.waitForEvents(1);
    await gateway.postCallback(notifyUrl, { results: [finalResult(NUMBERS[1])] });
    expect((await healthy.completed()).map((e) => e.data!.lookupCompleted.to)).toEqual(NUMBERS);
    expect(closedSocket).toBe(false);
    expect(gateway.app.internals.webSocketConnections()).toBe(1);
  });
});
