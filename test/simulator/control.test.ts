import { startProviderSimulator, type ProviderSimulator, type RecordedCallback } from '../../src/simulator';
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

const query = () => send(sim.url, '/number/1/query', { body: { to: ['41793026720'] }, apiKey: sim.apiKey });

describe('control API', () => {
  it('POST /__simulator/faults queues a fault without auth', async () => {
    const reply = await send(sim.url, '/__simulator/faults', {
      body: { fault: { kind: 'status', status: 503 }, endpoint: 'query', times: 2 },
    });
    expect(reply.status).toBe(200);
    expect((await query()).status).toBe(503);
    expect((await query()).status).toBe(503);
    expect((await query()).status).toBe(200);
  });

  it('accepts times "Infinity"', async () => {
    await send(sim.url, '/__simulator/faults', { body: { fault: { kind: 'non-json' }, times: 'Infinity' } });
    for (let i = 0; i < 3; i++) expect((await query()).headers['content-type']).toMatch(/^text\/html/);
  });

  it('answers 400 for a malformed fault or behaviour, and 405 for a wrong method', async () => {
    expect((await send(sim.url, '/__simulator/faults', { body: { fault: { kind: 'nope' } } })).status).toBe(
      400,
    );
    expect((await send(sim.url, '/__simulator/faults', { body: '{' })).status).toBe(400);
    expect(
      (await send(sim.url, '/__simulator/callbacks', { body: { behaviour: { duplicate: 'yes' } } })).status,
    ).toBe(400);
    expect((await send(sim.url, '/__simulator/faults')).status).toBe(405);
    expect((await send(sim.url, '/__simulator/unknown')).status).toBe(404);
    expect((await query()).status).toBe(200);
  });

  it('POST /__simulator/callbacks queues a callback behaviour; GET lists attempts', async () => {
    await send(sim.url, '/__simulator/callbacks', { body: { behaviour: { perNumber: true } } });
    await send(sim.url, '/number/1/notify', {
      body: { to: ['41793026720', '41793026721'], notifyUrl: receiver.url },
      apiKey: sim.apiKey,
    });
    await receiver.waitFor(2);
    await sim.idle();
    const listed = (await send(sim.url, '/__simulator/callbacks')).json<{ callbacks: RecordedCallback[] }>();
    expect(listed.callbacks.map((c) => c.body.results[0].to)).toEqual(['41793026720', '41793026721']);
    expect(listed.callbacks.every((c) => c.status === 200)).toBe(true);
  });

  it('GET /__simulator/requests lists what /number/* received; POST /__simulator/reset clears it', async () => {
    await query();
    const listed = (await send(sim.url, '/__simulator/requests')).json<{ requests: { path: string }[] }>();
    expect(listed.requests.map((r) => r.path)).toEqual(['/number/1/query']);
    await send(sim.url, '/__simulator/faults', { body: { fault: { kind: 'drop' } } });
    expect((await send(sim.url, '/__simulator/reset', { method: 'POST' })).status).toBe(200);
    expect(sim.received).toEqual([]);
    expect((await query()).status).toBe(200);
    const logs = await send(sim.url, '/number/1/logs', { apiKey: sim.apiKey });
    expect(logs.json<{ results: unknown[] }>().results).toHaveLength(1);
  });
});
