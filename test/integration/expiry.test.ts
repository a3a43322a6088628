import { LookupCompletedDocument, LookupRequestDocument } from '../fixtures/generated/graphql';
import { Harness, type TestGateway } from '../helpers/gateway';
import {
  callbackUrlAt,
  eventually,
  finalResult,
  notifyUrlOf,
  requestLookup,
  startInstances,
  STORE_MODES,
} from '../helpers/instances';

const NUMBERS = ['41793026720', '41793026724', '41793026725'];
const TIMEOUT_MS = 400;
const RETENTION_MS = 1_000;

async function lookupRequest(gateway: TestGateway, id: string) {
  const { body } = await gateway.gql(LookupRequestDocument, { id });
  expect(body.errors).toBeUndefined();
  return body.data!.lookupRequest;
}

function errorCodeOf(
  subscription: {
    events: { errors?: readonly { extensions?: Record<string, unknown> }[] }[];
  },
  outcome: 'complete' | { error: unknown },
): unknown {
  const errors =
    outcome === 'complete'
      ? subscription.events[0]?.errors
      : (outcome.error as { extensions?: Record<string, unknown> }[]);
  return errors?.[0]?.extensions?.code;
}

describe.each(STORE_MODES)('async request expiry and retention ($name)', (mode) => {
  const harness = new Harness();
  afterEach(() => harness.dispose());

  async function setup() {
    const simulator = await harness.simulator({ callbackDelayMs: 60_000 });
    const [a, b] = await startInstances(harness, mode, 2, simulator, {
      ASYNC_RESULT_TIMEOUT_MS: String(TIMEOUT_MS),
      REQUEST_RETENTION_MS: String(RETENTION_MS),
    });
    return { simulator, a, b };
  }

  it('expires a request still pending after ASYNC_RESULT_TIMEOUT_MS and completes its subscriptions', async () => {
    const { simulator, a, b } = await setup();
    const request = await requestLookup(a, NUMBERS);
    const created = Date.parse(request.createdAt);
    const notifyUrl = await notifyUrlOf(simulator, request.id);
    await a.postCallback(notifyUrl, { results: [finalResult(NUMBERS[1])] });

    const subscription = b.subscribe(b.wsClient(), LookupCompletedDocument, { requestId: request.id });
    expect((await subscription.waitForEvents(1)).map((e) => e.data!.lookupCompleted.to)).toEqual([
      NUMBERS[1],
    ]);
    // Completes (not errors) once the request expired, with what had arrived.
    expect(await subscription.completed(5_000)).toHaveLength(1);
    expect(Date.now() - created).toBeGreaterThanOrEqual(TIMEOUT_MS);

    const expired = await lookupRequest(a, request.id);
    expect(expired).toMatchObject({ state: 'EXPIRED', completedAt: expect.any(String) });
    expect(expired!.results.map((r) => r.to)).toEqual([NUMBERS[1]]);
    expect(Date.parse(expired!.completedAt!)).toBeGreaterThanOrEqual(created + TIMEOUT_MS);

    // Results arriving after the expiry are acknowledged (so the provider stops) but not stored.
    const late = await b.postCallback(callbackUrlAt(notifyUrl, b), { results: [finalResult(NUMBERS[0])] });
    expect(late).toMatchObject({ status: 200, body: { stored: 0, duplicates: 0, ignored: 1 } });
    expect((await lookupRequest(b, request.id))!.results).toHaveLength(1);

    // A subscriber arriving now gets the replay and an immediate completion.
    const afterwards = a.subscribe(a.wsClient(), LookupCompletedDocument, { requestId: request.id });
    expect((await afterwards.completed()).map((e) => e.data!.lookupCompleted.to)).toEqual([NUMBERS[1]]);
  });

  it('ends a subscription with NOT_FOUND, not complete, when its request disappears while watched', async () => {
    const { simulator, a, b } = await setup();
    const request = await requestLookup(a, NUMBERS);
    const notifyUrl = await notifyUrlOf(simulator, request.id);
    await a.postCallback(notifyUrl, { results: [finalResult(NUMBERS[1])] });
    const subscription = b.subscribe(b.wsClient(), LookupCompletedDocument, { requestId: request.id });
    expect((await subscription.waitForEvents(1)).map((e) => e.data!.lookupCompleted.to)).toEqual([
      NUMBERS[1],
    ]);
    // The record goes (a Redis restarted without persistence, an eviction) before the request's time is up;
    // at that time the subscriber looks again and finds nothing.
    await a.app.internals.store.delete(request.id);
    const outcome = await subscription.done;
    expect(outcome).not.toBe('complete');
    expect(errorCodeOf(subscription, outcome)).toBe('NOT_FOUND');
    expect(b.app.internals.registry.stats().activeWatches).toBe(0);
  });

  it('shows a request nobody subscribed to as EXPIRED once its time is up', async () => {
    const { a, b } = await setup();
    const request = await requestLookup(a, NUMBERS);
    expect((await lookupRequest(b, request.id))!.state).toBe('PENDING');
    // Waiting on the clock alone, then one read: it must not take a background sweep to notice the expiry.
    const expiresAtMs = Date.parse(request.createdAt) + TIMEOUT_MS;
    await eventually(async () => Date.now() > expiresAtMs, 5_000, 'the expiry time');
    expect(await lookupRequest(b, request.id)).toMatchObject({
      state: 'EXPIRED',
      completedAt: expect.any(String),
    });
    expect((await lookupRequest(a, request.id))!.state).toBe('EXPIRED');
  });

  it('forgets a request after REQUEST_RETENTION_MS: null on lookupRequest, NOT_FOUND on lookupCompleted', async () => {
    const { simulator, a, b } = await setup();
    const request = await requestLookup(a, NUMBERS);
    const notifyUrl = await notifyUrlOf(simulator, request.id);
    await a.postCallback(notifyUrl, { results: NUMBERS.map((n) => finalResult(n)) });
    expect((await lookupRequest(b, request.id))!.state).toBe('COMPLETED');

    await eventually(async () => (await lookupRequest(b, request.id)) === null, 5_000, 'the request to go');
    expect(Date.now() - Date.parse(request.createdAt)).toBeGreaterThanOrEqual(RETENTION_MS);
    expect(await lookupRequest(a, request.id)).toBeNull();

    const subscription = a.subscribe(a.wsClient(), LookupCompletedDocument, { requestId: request.id });
    expect(errorCodeOf(subscription, await subscription.done)).toBe('NOT_FOUND');
    // And the callback URL is dead too.
    expect((await b.postCallback(callbackUrlAt(notifyUrl, b), { results: [] })).status).toBe(404);
  });
});
