import { simulateLookup } from '../../src/simulator';
import type { ProviderResult } from '../../src/upstream/provider-types';
import {
  LookupCompletedDocument,
  LookupRequestDocument,
  RequestLookupDocument,
} from '../fixtures/generated/graphql';
import { until } from '../helpers/deadline';
import { Harness, type TestGateway } from '../helpers/gateway';

const NUMBERS = ['41793026727', '41793026728', '41793026729'];

async function requestLookup(gateway: TestGateway, to: string[]) {
  const { body } = await gateway.gql(RequestLookupDocument, { to });
  expect(body.errors).toBeUndefined();
  return body.data!.requestLookup;
}

/** The notifyUrl the gateway gave the provider for its latest notify call. */
async function notifyUrlOf(gateway: TestGateway): Promise<string> {
  const notify = await gateway.simulator.waitForRequest((r) => r.path === '/number/1/notify');
  return (notify.body as { notifyUrl: string }).notifyUrl;
}

const finalResult = (to: string): ProviderResult => ({ ...simulateLookup(to), messageId: `m-${to}` });

describe('requestLookup + lookupCompleted (async, provider POST /number/1/notify)', () => {
  const harness = new Harness();
  afterEach(() => harness.dispose());

  it('streams each result to a subscriber that attached before the callback, then completes', async () => {
    // The provider's callback is held back: this test plays the provider's part itself.
    const simulator = await harness.simulator({ callbackDelayMs: 60_000 });
    const gateway = await harness.gateway({}, { simulator });
    const request = await requestLookup(gateway, NUMBERS);
    expect(request).toMatchObject({ state: 'PENDING', to: NUMBERS });
    expect(request.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(request.bulkId).toEqual(expect.any(String));
    const notifyUrl = await notifyUrlOf(gateway);
    expect(notifyUrl.startsWith(`${gateway.app.publicUrl}/callbacks/number-lookup/${request.id}/`)).toBe(
      true,
    );

    const subscription = gateway.subscribe(gateway.wsClient(), LookupCompletedDocument, {
      requestId: request.id,
    });
    await until(() => gateway.app.internals.registry.stats().activeWatches === 1, 5_000, 'the subscription');

    expect((await gateway.postCallback(notifyUrl, { results: [finalResult(NUMBERS[1])] })).status).toBe(200);
    await subscription.waitForEvents(1);
    expect(subscription.finished).toBe(false);
    expect((await gateway.postCallback(notifyUrl, { results: [finalResult(NUMBERS[0])] })).status).toBe(200);
    await subscription.waitForEvents(2);
    expect(subscription.finished).toBe(false);
    expect((await gateway.postCallback(notifyUrl, { results: [finalResult(NUMBERS[2])] })).status).toBe(200);

    const events = await subscription.completed();
    expect(events.map((e) => e.data!.lookupCompleted.to)).toEqual([NUMBERS[1], NUMBERS[0], NUMBERS[2]]);
    expect(events[0].data!.lookupCompleted).toMatchObject({ messageId: `m-${NUMBERS[1]}`, mccMnc: '22801' });

    const { body } = await gateway.gql(LookupRequestDocument, { id: request.id });
    expect(body.data!.lookupRequest).toMatchObject({ state: 'COMPLETED', completedAt: expect.any(String) });
    expect(body.data!.lookupRequest!.results.map((r) => r.to)).toEqual([NUMBERS[1], NUMBERS[0], NUMBERS[2]]);
  });

  it("replays results to a subscriber that arrives after the provider's callback", async () => {
    const gateway = await harness.gateway();
    const request = await requestLookup(gateway, NUMBERS);
    const callback = await gateway.simulator.waitForCallback();
    expect(callback.status).toBe(200);

    const subscription = gateway.subscribe(gateway.wsClient(), LookupCompletedDocument, {
      requestId: request.id,
    });
    const events = await subscription.completed();
    expect(events.map((e) => e.data!.lookupCompleted.to).sort()).toEqual([...NUMBERS].sort());
    expect(events[0].data!.lookupCompleted.messageId).toEqual(expect.any(String));
  });

  it('copes with the callback arriving before the notify acknowledgement', async () => {
    const gateway = await harness.gateway();
    gateway.simulator.faults.callbacks({ beforeAck: true });
    const request = await requestLookup(gateway, NUMBERS);
    expect(gateway.simulator.callbacks).toHaveLength(1);
    expect(gateway.simulator.callbacks[0].status).toBe(200);
    // The request already holds every result when the mutation answers.
    expect(request.state).toBe('COMPLETED');

    const subscription = gateway.subscribe(gateway.wsClient(), LookupCompletedDocument, {
      requestId: request.id,
    });
    expect(await subscription.completed()).toHaveLength(3);
  });

  it('handles one callback POST per number', async () => {
    const gateway = await harness.gateway();
    gateway.simulator.faults.callbacks({ perNumber: true });
    const request = await requestLookup(gateway, NUMBERS);
    const subscription = gateway.subscribe(gateway.wsClient(), LookupCompletedDocument, {
      requestId: request.id,
    });
    const events = await subscription.completed();
    expect(events.map((e) => e.data!.lookupCompleted.to).sort()).toEqual([...NUMBERS].sort());
    await gateway.simulator.idle();
    expect(gateway.simulator.callbacks.map((c) => c.status)).toEqual([200, 200, 200]);
  });

  it('sends one event per number when the provider delivers the same callback twice', async () => {
    const gateway = await harness.gateway();
    gateway.simulator.faults.callbacks({ duplicate: true, perNumber: true });
    const request = await requestLookup(gateway, NUMBERS);
    const subscription = gateway.subscribe(gateway.wsClient(), LookupCompletedDocument, {
      requestId: request.id,
    });
    const events = await subscription.completed();
    await gateway.simulator.idle();
    expect(gateway.simulator.callbacks).toHaveLength(6);
    expect(gateway.simulator.callbacks.every((c) => c.status === 200)).toBe(true);
    expect(events.map((e) => e.data!.lookupCompleted.to).sort()).toEqual([...NUMBERS].sort());

    const { body } = await gateway.gql(LookupRequestDocument, { id: request.id });
    expect(body.data!.lookupRequest!.results).toHaveLength(3);
  });

  it('refuses forged callbacks (wrong secret, unknown id) with 404 and changes nothing', async () => {
    const simulator = await harness.simulator({ callbackDelayMs: 60_000 });
    const gateway = await harness.gateway({}, { simulator });
    const request = await requestLookup(gateway, NUMBERS);
    const notifyUrl = await notifyUrlOf(gateway);
    const body = { results: NUMBERS.map(finalResult) };

    const wrongSecret = notifyUrl.replace(/[^/]+$/, 'A'.repeat(43));
    const unknownId = notifyUrl.replace(request.id, '00000000-0000-4000-8000-000000000000');
    const noSecret = notifyUrl.replace(/\/[^/]+$/, '');
    expect((await gateway.postCallback(wrongSecret, body)).status).toBe(404);
    expect((await gateway.postCallback(unknownId, body)).status).toBe(404);
    expect((await gateway.postCallback(noSecret, body)).status).toBe(404);

    const { body: after } = await gateway.gql(LookupRequestDocument, { id: request.id });
    expect(after.data!.lookupRequest).toMatchObject({ state: 'PENDING', results: [] });
  });

  it('answers 400 to an unparseable callback, 415 to a non-JSON one, and accepts other charsets', async () => {
    const simulator = await harness.simulator({ callbackDelayMs: 60_000 });
    const gateway = await harness.gateway({}, { simulator });
    const request = await requestLookup(gateway, NUMBERS);
    const notifyUrl = await notifyUrlOf(gateway);

    expect((await gateway.postCallback(notifyUrl, '{"results": [')).status).toBe(400);
    expect((await gateway.postCallback(notifyUrl, '{"nothing": 1}')).status).toBe(400);
    // Results, but not one of them usable: a body of the wrong shape, not an empty delivery.
    expect(await gateway.postCallback(notifyUrl, '{"results": [null, 1, "x"]}')).toMatchObject({
      status: 400,
      body: { code: 'BAD_SHAPE' },
    });
    expect((await gateway.postCallback(notifyUrl, 'results', { 'content-type': 'text/plain' })).status).toBe(
      415,
    );

    const latin1 = Buffer.from(
      JSON.stringify({ results: [{ ...finalResult(NUMBERS[0]), servingMSC: 'Zürich' }] }),
      'latin1',
    );
    const accepted = await gateway.postCallback(notifyUrl, new Uint8Array(latin1), {
      'content-type': 'application/json; charset=ISO-8859-1',
    });
    expect(accepted.status).toBe(200);
    const utf16 = Buffer.from(JSON.stringify({ results: [finalResult(NUMBERS[1])] }), 'utf16le');
    expect(
      (
        await gateway.postCallback(notifyUrl, new Uint8Array(utf16), {
          'content-type': 'application/json; charset=utf-16le',
        })
      ).status,
    ).toBe(200);

    // A charset label nobody knows is read as UTF-8, JSON's own, rather than losing the results.
    const unknownCharset = await gateway.postCallback(
      notifyUrl,
      JSON.stringify({ results: [finalResult(NUMBERS[2])] }),
      { 'content-type': 'application/json; charset=utf-8mb4' },
    );
    expect(unknownCharset).toMatchObject({ status: 200, body: { stored: 1 } });

    const { body } = await gateway.gql(LookupRequestDocument, { id: request.id });
    expect(body.data!.lookupRequest!.results.map((r) => [r.to, r.servingMsc])).toEqual([
      [NUMBERS[0], 'Zürich'],
      [NUMBERS[1], simulateLookup(NUMBERS[1]).servingMSC ?? null],
      [NUMBERS[2], simulateLookup(NUMBERS[2]).servingMSC ?? null],
    ]);
  });

  it('ignores numbers it did not ask for and pending statuses, never replacing a final result', async () => {
    const simulator = await harness.simulator({ callbackDelayMs: 60_000 });
    const gateway = await harness.gateway({}, { simulator });
    const request = await requestLookup(gateway, NUMBERS.slice(0, 2));
    const notifyUrl = await notifyUrlOf(gateway);
    const pending = {
      to: NUMBERS[0],
      status: { groupId: 1, groupName: 'PENDING', id: 3, name: 'PENDING_WAITING_DELIVERY' },
    };

    const first = await gateway.postCallback(notifyUrl, { results: [finalResult('4915112345678'), pending] });
    expect(first).toMatchObject({ status: 200, body: { stored: 0, ignored: 2 } });
    const second = await gateway.postCallback(notifyUrl, { results: [finalResult(NUMBERS[0])] });
    expect(second).toMatchObject({ status: 200, body: { stored: 1 } });
    const third = await gateway.postCallback(notifyUrl, {
      results: [{ ...finalResult(NUMBERS[0]), mccMnc: '99999' }],
    });
    expect(third).toMatchObject({ status: 200, body: { stored: 0, duplicates: 1 } });

    const { body } = await gateway.gql(LookupRequestDocument, { id: request.id });
    expect(body.data!.lookupRequest).toMatchObject({ state: 'PENDING' });
    expect(body.data!.lookupRequest!.results).toEqual([
      expect.objectContaining({ to: NUMBERS[0], mccMnc: '22801' }),
    ]);
  });

  it("matches the numbers of a callback written with '+' or '00' to the request's", async () => {
    const simulator = await harness.simulator({ callbackDelayMs: 60_000 });
    const gateway = await harness.gateway({}, { simulator });
    const request = await requestLookup(gateway, NUMBERS);
    const notifyUrl = await notifyUrlOf(gateway);
    const posted = await gateway.postCallback(notifyUrl, {
      results: [
        { ...finalResult(NUMBERS[0]), to: `+${NUMBERS[0]}` },
        { ...finalResult(NUMBERS[1]), to: `00${NUMBERS[1]}` },
        { ...finalResult('41793026720'), to: '+41793026720' },
      ],
    });
    expect(posted).toMatchObject({ status: 200, body: { stored: 2, duplicates: 0, ignored: 1 } });
    const { body } = await gateway.gql(LookupRequestDocument, { id: request.id });
    expect(body.data!.lookupRequest!.results.map((r) => r.to)).toEqual([NUMBERS[0], NUMBERS[1]]);
  });

  it('answers 503 when storing the results fails after the secret checked out, and takes the retry', async () => {
    const simulator = await harness.simulator({ callbackDelayMs: 60_000 });
    const gateway = await harness.gateway({}, { simulator });
    const request = await requestLookup(gateway, NUMBERS);
    const notifyUrl = await notifyUrlOf(gateway);
    const store = gateway.app.internals.store;
    const addResults = store.addResults;
    store.addResults = async () => Promise.reject(new Error('connection is closed'));
    const results = NUMBERS.map((n) => finalResult(n));
    try {
      expect(await gateway.postCallback(notifyUrl, { results })).toMatchObject({
        status: 503,
        body: { code: 'STORE_UNAVAILABLE' },
      });
      const { body } = await gateway.gql(LookupRequestDocument, { id: request.id });
      expect(body.data!.lookupRequest).toMatchObject({ state: 'PENDING', results: [] });
    } finally {
      store.addResults = addResults;
    }
    // The provider's retry of the same delivery is stored whole.
    expect(await gateway.postCallback(notifyUrl, { results })).toMatchObject({
      status: 200,
      body: { stored: 3 },
    });
  });

  it('answers NOT_FOUND for an unknown request id, on subscription and as null on lookupRequest', async () => {
    const gateway = await harness.gateway();
    const unknown = '00000000-0000-4000-8000-000000000000';
    const subscription = gateway.subscribe(gateway.wsClient(), LookupCompletedDocument, {
      requestId: unknown,
    });
    const outcome = await subscription.done;
    const errors =
      outcome === 'complete'
        ? subscription.events[0]?.errors
        : (outcome.error as { message: string; extensions?: unknown }[]);
    expect(errors?.[0]).toMatchObject({ extensions: { code: 'NOT_FOUND' } });

    const { body } = await gateway.gql(LookupRequestDocument, { id: unknown });
    expect(body.errors).toBeUndefined();
    expect(body.data!.lookupRequest).toBeNull();
  });
});
