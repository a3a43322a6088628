import type { LookupEvent } from '../../src/pubsub/pubsub';
import { lookupTopic } from '../../src/pubsub/pubsub';
import {
  LookupCompletedDocument,
  LookupLogsDocument,
  LookupRequestDocument,
  RequestLookupDocument,
} from '../fixtures/generated/graphql';
import { until } from '../helpers/deadline';
import { Harness, type TestGateway } from '../helpers/gateway';
import {
  callbackUrlAt,
  finalResult,
  notifyUrlOf,
  pendingResult,
  requestLookup,
  startInstances,
  STORE_MODES,
} from '../helpers/instances';
import { cleanUpPrefix, startPrivateRedis, TEST_REDIS_URL, uniquePrefix } from '../helpers/redis';

const NUMBERS = ['41793026720', '41793026724', '41793026725'];

const numbersOf = (events: { data?: { lookupCompleted: { to: string } } | null }[]) =>
  events.map((e) => e.data!.lookupCompleted.to);

/** Every event published on a request's topic, as seen by `gateway`'s pub/sub engine. */
async function tap(harness: Harness, gateway: TestGateway, requestId: string): Promise<LookupEvent[]> {
  const events: LookupEvent[] = [];
  const unsubscribe = await gateway.app.internals.pubsub.subscribe(lookupTopic(requestId), (e) =>
    events.push(e),
  );
  harness.defer(unsubscribe);
  return events;
}

async function watching(gateway: TestGateway, count: number): Promise<void> {
  await until(
    () => gateway.app.internals.registry.stats().activeWatches === count,
    5_000,
    `${count} active subscriptions`,
  );
}

describe.each(STORE_MODES)('async lookups on several instances ($name)', (mode) => {
  const harness = new Harness();
  afterEach(() => harness.dispose());

  /** Three instances (one, in process) behind a pretend load balancer; the provider's callback is held back. */
  async function setup() {
    const simulator = await harness.simulator({ callbackDelayMs: 60_000 });
    const [a, b, c] = await startInstances(harness, mode, 3, simulator);
    return { simulator, a, b, c };
  }

  it('delivers a callback received by one instance to a subscriber on another', async () => {
    const { simulator, a, b, c } = await setup();
    const request = await requestLookup(a, NUMBERS);
    const notifyUrl = await notifyUrlOf(simulator, request.id);
    const subscription = b.subscribe(b.wsClient(), LookupCompletedDocument, { requestId: request.id });
    await watching(b, 1);

    const posted = await c.postCallback(callbackUrlAt(notifyUrl, c), {
      results: NUMBERS.map((n) => finalResult(n)),
    });
    expect(posted).toMatchObject({ status: 200, body: { code: 'ACCEPTED', stored: 3 } });
    expect(numbersOf(await subscription.completed())).toEqual(NUMBERS);

    const { body } = await a.gql(LookupRequestDocument, { id: request.id });
    expect(body.data!.lookupRequest).toMatchObject({ state: 'COMPLETED', completedAt: expect.any(String) });
    expect(body.data!.lookupRequest!.results.map((r) => r.to)).toEqual(NUMBERS);
  });

  it('replays earlier results to a subscriber that arrives late, on another instance', async () => {
    const { simulator, a, b, c } = await setup();
    const request = await requestLookup(a, NUMBERS);
    const notifyUrl = await notifyUrlOf(simulator, request.id);
    await b.postCallback(callbackUrlAt(notifyUrl, b), { results: [finalResult(NUMBERS[2])] });

    const subscription = c.subscribe(c.wsClient(), LookupCompletedDocument, { requestId: request.id });
    expect(numbersOf(await subscription.waitForEvents(1))).toEqual([NUMBERS[2]]);
    expect(subscription.finished).toBe(false);
    await a.postCallback(notifyUrl, { results: [finalResult(NUMBERS[0]), finalResult(NUMBERS[1])] });
    expect(numbersOf(await subscription.completed())).toEqual([NUMBERS[2], NUMBERS[0], NUMBERS[1]]);

    // After completion, a subscriber anywhere gets the full replay and an immediate completion.
    const late = a.subscribe(a.wsClient(), LookupCompletedDocument, { requestId: request.id });
    expect(numbersOf(await late.completed())).toEqual([NUMBERS[2], NUMBERS[0], NUMBERS[1]]);
  });

  it('stores and publishes one result per number when the same callback hits several instances at once', async () => {
    const { simulator, a, b, c } = await setup();
    // One number more than the racing callbacks carry, so the request stays pending through the race.
    const last = '41793026721';
    const request = await requestLookup(a, [...NUMBERS, last]);
    const notifyUrl = await notifyUrlOf(simulator, request.id);
    const published = await tap(harness, a, request.id);
    const subscription = a.subscribe(a.wsClient(), LookupCompletedDocument, { requestId: request.id });
    await watching(a, 1);

    // Six deliveries of the same numbers at once, each a different version (distinct mccMnc), spread over the
    // instances: exactly one version per number may win, and it is the one everybody sees.
    const instances = [b, c, a, b, c, a];
    const responses = await Promise.all(
      instances.map((gateway, i) =>
        gateway.postCallback(callbackUrlAt(notifyUrl, gateway), {
          results: NUMBERS.map((n) => finalResult(n, { mccMnc: `2280${i}` })),
        }),
      ),
    );
    expect(responses.every((r) => r.status === 200)).toBe(true);
    expect(responses.reduce((sum, r) => sum + (r.body!.stored as number), 0)).toBe(3);
    expect(responses.reduce((sum, r) => sum + (r.body!.duplicates as number), 0)).toBe(15);
    expect([...numbersOf(await subscription.waitForEvents(3))].sort()).toEqual([...NUMBERS].sort());

    // The last number, posted twice at once: one event, one completion.
    await Promise.all(
      [b, c].map((gateway) =>
        gateway.postCallback(callbackUrlAt(notifyUrl, gateway), { results: [finalResult(last)] }),
      ),
    );
    const events = await subscription.completed();
    expect([...numbersOf(events)].sort()).toEqual([...NUMBERS, last].sort());
    const results = published.flatMap((e) => (e.type === 'result' ? [e.result] : []));
    expect(results.map((r) => r.to).sort()).toEqual([...NUMBERS, last].sort());
    expect(published.filter((e) => e.type === 'ended')).toHaveLength(1);

    const { body } = await b.gql(LookupRequestDocument, { id: request.id });
    const stored = body.data!.lookupRequest!.results;
    expect(stored).toHaveLength(4);
    for (const event of events) {
      const { to, mccMnc } = event.data!.lookupCompleted;
      expect(stored.find((r) => r.to === to)!.mccMnc).toBe(mccMnc);
      expect(results.find((r) => r.to === to)!.mccMnc).toBe(mccMnc);
    }
  });

  it('copes with callbacks split per number, out of order, repeated and spread over the instances', async () => {
    const { simulator, a, b, c } = await setup();
    const to = [...NUMBERS, '41793026721', '41793026723'];
    const request = await requestLookup(a, to);
    const notifyUrl = await notifyUrlOf(simulator, request.id);
    const subscription = b.subscribe(b.wsClient(), LookupCompletedDocument, { requestId: request.id });
    await watching(b, 1);

    const deliveries: [TestGateway, string[]][] = [
      [c, [to[4]]],
      [a, [to[2], to[0]]],
      [b, [to[4]]],
      [c, [to[3], to[2]]],
    ];
    for (const [gateway, numbers] of deliveries) {
      const response = await gateway.postCallback(callbackUrlAt(notifyUrl, gateway), {
        results: numbers.map((n) => finalResult(n)),
      });
      expect(response.status).toBe(200);
    }
    expect(numbersOf(await subscription.waitForEvents(4))).toEqual([to[4], to[2], to[0], to[3]]);
    expect(subscription.finished).toBe(false);
    await a.postCallback(notifyUrl, { results: [finalResult(to[1])] });
    expect(numbersOf(await subscription.completed())).toEqual([to[4], to[2], to[0], to[3], to[1]]);
  });

  it('never lets a pending status replace a final result, nor count as one', async () => {
    const { simulator, a, b, c } = await setup();
    const request = await requestLookup(a, NUMBERS.slice(0, 2));
    const notifyUrl = await notifyUrlOf(simulator, request.id);
    const subscription = c.subscribe(c.wsClient(), LookupCompletedDocument, { requestId: request.id });
    await watching(c, 1);

    // Pending first: ignored, nothing stored, nothing sent.
    const early = await b.postCallback(callbackUrlAt(notifyUrl, b), { results: [pendingResult(NUMBERS[0])] });
    expect(early).toMatchObject({ status: 200, body: { stored: 0, ignored: 1 } });
    expect(await a.postCallback(notifyUrl, { results: [finalResult(NUMBERS[0])] })).toMatchObject({
      status: 200,
      body: { stored: 1 },
    });
    // Pending after the final result, on another instance: ignored too.
    const late = await c.postCallback(callbackUrlAt(notifyUrl, c), {
      results: [pendingResult(NUMBERS[0]), pendingResult(NUMBERS[1])],
    });
    expect(late).toMatchObject({ status: 200, body: { stored: 0, ignored: 2 } });

    const { body } = await b.gql(LookupRequestDocument, { id: request.id });
    expect(body.data!.lookupRequest).toMatchObject({ state: 'PENDING' });
    expect(body.data!.lookupRequest!.results).toEqual([
      expect.objectContaining({
        to: NUMBERS[0],
        status: expect.objectContaining({ groupName: 'DELIVERED' }),
      }),
    ]);
    await a.postCallback(notifyUrl, { results: [finalResult(NUMBERS[1])] });
    const events = await subscription.completed();
    expect(numbersOf(events)).toEqual(NUMBERS.slice(0, 2));
    expect(events.every((e) => e.data!.lookupCompleted.status!.groupName !== 'PENDING')).toBe(true);
  });

  it("delivers the simulator's own repeated, out-of-order per-number callbacks to a subscriber elsewhere", async () => {
    const simulator = await harness.simulator({ callbackDelayMs: 100 });
    const [a, b] = await startInstances(harness, mode, 2, simulator);
    simulator.faults.callbacks({ perNumber: true, duplicate: true, outOfOrder: true, delayMs: 300 });
    const request = await requestLookup(a, NUMBERS);
    const subscription = b.subscribe(b.wsClient(), LookupCompletedDocument, { requestId: request.id });
    const events = await subscription.completed();
    expect(numbersOf(events)).toEqual([...NUMBERS].reverse());
    await simulator.idle();
    expect(simulator.callbacks.filter((c) => c.url.includes(request.id)).map((c) => c.status)).toEqual(
      Array(6).fill(200),
    );
  });
});

describe('async lookups, in process and with Redis', () => {
  const harness = new Harness();
  afterEach(() => harness.dispose());

  it('give byte-identical GraphQL output for the same callbacks', async () => {
    const outputs: string[] = [];
    for (const mode of STORE_MODES) {
      const simulator = await harness.simulator({ callbackDelayMs: 60_000 });
      const [gateway] = await startInstances(harness, mode, 1, simulator);
      const request = await requestLookup(gateway, NUMBERS);
      const notifyUrl = await notifyUrlOf(simulator, request.id);
      const subscription = gateway.subscribe(gateway.wsClient(), LookupCompletedDocument, {
        requestId: request.id,
      });
      await watching(gateway, 1);
      await gateway.postCallback(notifyUrl, { results: [finalResult(NUMBERS[1])] });
      await gateway.postCallback(notifyUrl, { results: [finalResult(NUMBERS[2]), finalResult(NUMBERS[0])] });
      const events = await subscription.completed();
      const { body } = await gateway.gql(LookupRequestDocument, { id: request.id });
      outputs.push(JSON.stringify({ events, results: body.data!.lookupRequest!.results }));
    }
    expect(outputs[1]).toBe(outputs[0]);
  });

  it("fill the acknowledgement's messageId into callback results without one, byte-identically", async () => {
    const outputs: string[] = [];
    for (const mode of STORE_MODES) {
      const simulator = await harness.simulator({ callbackDelayMs: 60_000 });
      const [gateway] = await startInstances(harness, mode, 1, simulator);
      const request = await requestLookup(gateway, NUMBERS);
      const notifyUrl = await notifyUrlOf(simulator, request.id);
      // The provider's own record of the messageIds its acknowledgement gave.
      const logs = await gateway.gql(LookupLogsDocument, { filter: { bulkIds: [request.bulkId!] } });
      expect(logs.body.errors).toBeUndefined();
      const acked = new Map(logs.body.data!.lookupLogs.map((log) => [log.to, log.messageId]));
      expect([...acked.keys()].sort()).toEqual([...NUMBERS].sort());

      const subscription = gateway.subscribe(gateway.wsClient(), LookupCompletedDocument, {
        requestId: request.id,
      });
      await watching(gateway, 1);
      const bare = (to: string) => ({ ...finalResult(to), messageId: undefined });
      await gateway.postCallback(notifyUrl, { results: [bare(NUMBERS[1])] });
      await gateway.postCallback(notifyUrl, {
        results: [finalResult(NUMBERS[2], { messageId: 'own' }), bare(NUMBERS[0])],
      });
      const events = await subscription.completed();
      const { body } = await gateway.gql(LookupRequestDocument, { id: request.id });
      const results = body.data!.lookupRequest!.results;
      const expected = [
        [NUMBERS[1], acked.get(NUMBERS[1])],
        [NUMBERS[2], 'own'],
        [NUMBERS[0], acked.get(NUMBERS[0])],
      ];
      expect(events.map((e) => [e.data!.lookupCompleted.to, e.data!.lookupCompleted.messageId])).toEqual(
        expected,
      );
      expect(results.map((r) => [r.to, r.messageId])).toEqual(expected);
      // The simulator's messageIds are random: the same placeholder stands for each in both runs.
      let output = JSON.stringify({ events, results });
      for (const [to, messageId] of acked) output = output.replaceAll(messageId!, `ack:${to}`);
      outputs.push(output);
    }
    expect(outputs[1]).toBe(outputs[0]);
  });
});

describe('async lookups with Redis, through restarts and outages', () => {
  const harness = new Harness();
  afterEach(() => harness.dispose());

  it('loses nothing when the instance that started a request is replaced before the callback', async () => {
    const simulator = await harness.simulator({ callbackDelayMs: 60_000 });
    const prefix = uniquePrefix('restart');
    await cleanUpPrefix(harness, prefix);
    const env = { REDIS_URL: TEST_REDIS_URL, REDIS_KEY_PREFIX: prefix };
    const a = await harness.gateway(env, { simulator });
    const b = await harness.gateway(env, { simulator });
    const request = await requestLookup(a, NUMBERS);
    const notifyUrl = await notifyUrlOf(simulator, request.id);
    const early = b.subscribe(b.wsClient(), LookupCompletedDocument, { requestId: request.id });
    await watching(b, 1);
    await a.postCallback(notifyUrl, { results: [finalResult(NUMBERS[0])] });
    await early.waitForEvents(1);

    // Instance A goes away (a deploy) and a new one takes its address, as behind a load balancer.
    const { port } = new URL(a.app.url);
    await a.app.stop();
    const replacement = await harness.gateway({ ...env, PORT: port }, { simulator });
    expect(replacement.app.publicUrl).toBe(a.app.publicUrl);

    const late = replacement.subscribe(replacement.wsClient(), LookupCompletedDocument, {
      requestId: request.id,
    });
    expect(numbersOf(await late.waitForEvents(1))).toEqual([NUMBERS[0]]);
    // The provider's callback, to the notifyUrl it was given, now reaches the new instance.
    const posted = await replacement.postCallback(notifyUrl, {
      results: [finalResult(NUMBERS[1]), finalResult(NUMBERS[2])],
    });
    expect(posted).toMatchObject({ status: 200, body: { stored: 2 } });
    expect(numbersOf(await late.completed())).toEqual(NUMBERS);
    expect(numbersOf(await early.completed())).toEqual(NUMBERS);
    const { body } = await replacement.gql(LookupRequestDocument, { id: request.id });
    expect(body.data!.lookupRequest).toMatchObject({ state: 'COMPLETED' });
  });

  it('reports an outage on /readyz, answers callbacks 503, and resumes delivery on every instance', async () => {
    const redis = await startPrivateRedis(harness);
    const simulator = await harness.simulator({ callbackDelayMs: 60_000 });
    const env = { REDIS_URL: redis.url, REDIS_KEY_PREFIX: uniquePrefix('outage') };
    const a = await harness.gateway(env, { simulator });
    const b = await harness.gateway(env, { simulator });
    const readyz = async (gateway: TestGateway) => {
      const response = await fetch(`${gateway.app.url}/readyz`);
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    };
    expect((await readyz(a)).status).toBe(200);

    const request = await requestLookup(a, NUMBERS);
    const notifyUrl = await notifyUrlOf(simulator, request.id);
    const onA = a.subscribe(a.wsClient(), LookupCompletedDocument, { requestId: request.id });
    const onB = b.subscribe(b.wsClient(), LookupCompletedDocument, { requestId: request.id });
    await watching(a, 1);
    await watching(b, 1);
    await b.postCallback(callbackUrlAt(notifyUrl, b), { results: [finalResult(NUMBERS[0])] });
    await onA.waitForEvents(1);
    await onB.waitForEvents(1);

    await redis.stop();
    for (const gateway of [a, b]) {
      await until(async () => (await readyz(gateway)).status === 503, 5_000, '/readyz to report the outage');
      expect((await readyz(gateway)).body).toMatchObject({
        status: 'unavailable',
        checks: { store: 'unavailable', pubsub: 'unavailable', provider: 'ok' },
      });
    }
    for (const gateway of [a, b]) {
      const refused = await gateway.postCallback(callbackUrlAt(notifyUrl, gateway), {
        results: [finalResult(NUMBERS[1]), finalResult(NUMBERS[2])],
      });
      expect(refused).toMatchObject({ status: 503, body: { code: 'STORE_UNAVAILABLE' } });
    }
    // The subscriptions stay open through the outage; new ones and new requests are refused.
    expect(onA.finished || onB.finished).toBe(false);
    const refusedSubscription = b.subscribe(b.wsClient(), LookupCompletedDocument, { requestId: request.id });
    const refusedOutcome = await refusedSubscription.done;
    const subscriptionErrors =
      refusedOutcome === 'complete'
        ? refusedSubscription.events[0]?.errors
        : (refusedOutcome.error as { extensions?: unknown }[]);
    expect(subscriptionErrors?.[0]).toMatchObject({ extensions: { code: 'SERVICE_UNAVAILABLE' } });
    const notifies = () => simulator.received.filter((r) => r.path === '/number/1/notify').length;
    const notifiesBefore = notifies();
    const refusedRequest = await b.gql(RequestLookupDocument, { to: NUMBERS });
    expect(refusedRequest.body.errors?.[0]).toMatchObject({ extensions: { code: 'SERVICE_UNAVAILABLE' } });
    // Refused before the provider was asked: a request it could not store is never sent.
    expect(notifies()).toBe(notifiesBefore);
    expect(b.app.internals.registry.stats().activeWatches).toBe(1);

    await redis.start();
    for (const gateway of [a, b]) {
      await until(async () => (await readyz(gateway)).status === 200, 10_000, '/readyz to recover');
    }
    // The refused callbacks left nothing behind.
    const { body } = await b.gql(LookupRequestDocument, { id: request.id });
    expect(body.data!.lookupRequest).toMatchObject({ state: 'PENDING' });
    expect(body.data!.lookupRequest!.results.map((r) => r.to)).toEqual([NUMBERS[0]]);

    // The provider retries; both subscribers, attached before the outage, get the rest.
    await a.postCallback(notifyUrl, { results: [finalResult(NUMBERS[1])] });
    await b.postCallback(callbackUrlAt(notifyUrl, b), { results: [finalResult(NUMBERS[2])] });
    expect(numbersOf(await onA.completed(10_000))).toEqual(NUMBERS);
    expect(numbersOf(await onB.completed(10_000))).toEqual(NUMBERS);
  });
});
