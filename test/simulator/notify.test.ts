import { startProviderSimulator, simulateLookup, type ProviderSimulator } from '../../src/simulator';
import type { ProviderErrorBody, ProviderResultsResponse } from '../../src/upstream/provider-types';
import { send, startReceiver, type CallbackReceiver } from './helpers';

let sim: ProviderSimulator;
let receiver: CallbackReceiver;

beforeEach(async () => {
  sim = await startProviderSimulator({ callbackDelayMs: 0 });
  receiver = await startReceiver();
});

afterEach(async () => {
  await sim.dispose();
  await receiver.close();
});

const NUMBERS = ['41793026727', '41793026720', '41793026724'];
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const notify = (to: string[] = NUMBERS, extra: Record<string, unknown> = {}) =>
  send(sim.url, '/number/1/notify', {
    body: { to, notifyUrl: `${receiver.url}/cb/one`, notifyContentType: 'application/json', ...extra },
    apiKey: sim.apiKey,
  });

describe('POST /number/1/notify', () => {
  it('acknowledges with PENDING results, then POSTs the final results once with the same messageIds', async () => {
    const ack = await notify();
    expect(ack.status).toBe(200);
    const body = ack.json<ProviderResultsResponse>();
    expect(body.bulkId).toEqual(expect.any(String));
    expect(body.results).toHaveLength(3);
    body.results.forEach((r, i) => {
      expect(r).toStrictEqual({
        to: NUMBERS[i],
        messageId: expect.stringMatching(UUID),
        status: {
          groupId: 1,
          groupName: 'PENDING',
          id: 3,
          name: 'PENDING_WAITING_DELIVERY',
          description: 'Message sent, waiting for delivery report',
        },
      });
    });

    const [callback] = await receiver.waitFor(1);
    await sim.idle();
    expect(receiver.received).toHaveLength(1);
    expect(callback.path).toBe('/cb/one');
    expect(callback.headers['content-type']).toBe('application/json');
    expect(Object.keys(callback.body)).toEqual(['results']);
    expect(callback.body.results).toEqual(
      NUMBERS.map((to, i) => ({ ...simulateLookup(to), messageId: body.results[i].messageId })),
    );
    expect(sim.callbacks).toEqual([
      { url: `${receiver.url}/cb/one`, body: callback.body, status: 200, at: expect.any(Number) },
    ]);
  });

  it('waits callbackDelayMs before the callback', async () => {
    sim.setOptions({ callbackDelayMs: 150 });
    const acked = Date.now();
    await notify(['41793026720']);
    const [callback] = await receiver.waitFor(1);
    expect(callback.at - acked).toBeGreaterThanOrEqual(140);
  });

  it('POSTs one callback per number in per-number mode', async () => {
    sim.setOptions({ callbackMode: 'per-number' });
    await notify();
    await receiver.waitFor(3);
    await sim.idle();
    expect(receiver.received.map((c) => c.body.results.map((r) => r.to))).toEqual(NUMBERS.map((n) => [n]));
  });

  it('delivers every POST twice with duplicate', async () => {
    sim.faults.callbacks({ duplicate: true, perNumber: true });
    await notify(['41793026720', '41793026721']);
    await receiver.waitFor(4);
    await sim.idle();
    expect(receiver.received.map((c) => c.body.results[0].to)).toEqual([
      '41793026720',
      '41793026720',
      '41793026721',
      '41793026721',
    ]);
    expect(receiver.received[0].body).toEqual(receiver.received[1].body);
  });

  it('delivers per-number POSTs in reverse order with outOfOrder', async () => {
    sim.faults.callbacks({ outOfOrder: true });
    await notify();
    await receiver.waitFor(3);
    expect(receiver.received.map((c) => c.body.results[0].to)).toEqual([...NUMBERS].reverse());
  });

  it('finishes the callbacks before answering with beforeAck', async () => {
    sim.faults.callbacks({ beforeAck: true });
    const ack = await notify();
    expect(ack.status).toBe(200);
    expect(receiver.received).toHaveLength(1);
    const ids = ack.json<ProviderResultsResponse>().results.map((r) => r.messageId);
    expect(receiver.received[0].body.results.map((r) => r.messageId)).toEqual(ids);
  });

  it('applies a callback behaviour to the next `times` notify requests only', async () => {
    sim.faults.callbacks({ perNumber: true }, { times: 1 });
    await notify(['41793026720', '41793026721']);
    await receiver.waitFor(2);
    await sim.idle();
    await notify(['41793026720', '41793026721']);
    await receiver.waitFor(3);
    await sim.idle();
    expect(receiver.received.map((c) => c.body.results.length)).toEqual([1, 1, 2]);
  });

  it('retries a failed callback with backoff and records every attempt', async () => {
    receiver.statusFor = (n) => (n < 2 ? 503 : 200);
    await notify(['41793026720']);
    await receiver.waitFor(3);
    await sim.idle();
    expect(sim.callbacks.map((c) => c.status)).toEqual([503, 503, 200]);
    expect(sim.callbacks[1].at - sim.callbacks[0].at).toBeGreaterThanOrEqual(45);
  });

  it('gives up after retryOnFailure re-POSTs', async () => {
    receiver.statusFor = () => 500;
    sim.faults.callbacks({ retryOnFailure: 0 });
    await notify(['41793026720']);
    await sim.waitForCallback();
    await sim.idle();
    expect(sim.callbacks.map((c) => c.status)).toEqual([500]);
  });

  it('records network failures as errors', async () => {
    const dead = await startReceiver();
    const deadUrl = dead.url;
    await dead.close();
    await send(sim.url, '/number/1/notify', {
      body: { to: ['41793026720'], notifyUrl: deadUrl },
      apiKey: sim.apiKey,
    });
    const attempt = await sim.waitForCallback((c) => c.error !== undefined);
    expect(attempt).toMatchObject({ url: deadUrl, error: expect.any(String) });
    expect(attempt.status).toBeUndefined();
    await sim.idle();
    expect(sim.callbacks).toHaveLength(3);
  });

  it.each([
    ['a missing notifyUrl', { notifyUrl: undefined }],
    ['a relative notifyUrl', { notifyUrl: '/callbacks' }],
    ['a non-http notifyUrl', { notifyUrl: 'ftp://example.com/cb' }],
    ['a non-JSON notifyContentType', { notifyContentType: 'application/xml' }],
  ])('answers 400 for %s and sends no callback', async (_case, extra) => {
    const reply = await notify(['41793026720'], extra);
    expect(reply.status).toBe(400);
    expect(reply.json<ProviderErrorBody>().requestError?.serviceException?.messageId).toBe('BAD_REQUEST');
    await sim.idle();
    expect(sim.callbacks).toHaveLength(0);
  });

  it('validates `to` like query', async () => {
    expect((await notify([])).status).toBe(400);
    expect((await notify(Array.from({ length: 1_001 }, () => '41793026720'))).status).toBe(400);
  });
});
