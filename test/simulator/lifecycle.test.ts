import http from 'node:http';
import { startProviderSimulator } from '../../src/simulator';
import { loadSimulatorOptions } from '../../src/simulator/main';
import { send, startReceiver } from './helpers';

/** Handles that would keep jest alive; jest's own come and go, so only these kinds are compared. */
function openHandles(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const kind of process.getActiveResourcesInfo()) {
    if (['TCPServerWrap', 'TCPSocketWrap', 'Timeout'].includes(kind)) counts[kind] = (counts[kind] ?? 0) + 1;
  }
  return counts;
}

describe('startProviderSimulator', () => {
  it('listens on an ephemeral 127.0.0.1 port by default, with the default key', async () => {
    const sim = await startProviderSimulator();
    try {
      expect(sim.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(sim.apiKey).toBe('simulator-key');
    } finally {
      await sim.dispose();
    }
  });

  it('refuses bad options', async () => {
    await expect(startProviderSimulator({ port: 70_000 })).rejects.toThrow(RangeError);
    await expect(startProviderSimulator({ latencyMs: -1 })).rejects.toThrow(RangeError);
    await expect(startProviderSimulator({ callbackMode: 'all' as 'single' })).rejects.toThrow(RangeError);
  });

  it('rejects when the port is taken', async () => {
    const sim = await startProviderSimulator();
    try {
      const port = Number(new URL(sim.url).port);
      await expect(startProviderSimulator({ port })).rejects.toMatchObject({ code: 'EADDRINUSE' });
    } finally {
      await sim.dispose();
    }
  });
});

describe('dispose', () => {
  it('cancels pending callbacks, destroys open sockets and leaves no handle behind', async () => {
    const before = openHandles();
    const receiver = await startReceiver();
    const sim = await startProviderSimulator({ callbackDelayMs: 60_000 });

    await send(sim.url, '/number/1/notify', {
      body: { to: ['41793026720'], notifyUrl: receiver.url },
      apiKey: sim.apiKey,
    });
    let idle = false;
    const idlePromise = sim.idle().then(() => (idle = true));
    const pendingWait = sim.waitForCallback(undefined, 60_000);

    sim.faults.inject({ kind: 'stall-after-headers' });
    const stalled = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const req = http.request(`${sim.url}/number/1/logs`, {
        agent: false,
        headers: { authorization: `App ${sim.apiKey}` },
      });
      req.on('response', resolve);
      req.on('error', reject);
      req.end();
    });
    stalled.on('error', () => undefined);
    const stalledClosed = new Promise<void>((resolve) => stalled.once('close', () => resolve()));
    sim.setOptions({ latencyMs: 60_000 });
    const slow = send(sim.url, '/number/1/query', { body: { to: ['1'] }, apiKey: sim.apiKey });
    await sim.waitForRequest((r) => r.path === '/number/1/query');
    expect(idle).toBe(false);

    await sim.dispose();
    await sim.dispose();
    await idlePromise;
    await expect(pendingWait).rejects.toThrow(/disposed/);
    await stalledClosed;
    await expect(slow).rejects.toThrow();
    expect(sim.callbacks).toEqual([]);
    expect(receiver.received).toEqual([]);
    await expect(send(sim.url, '/number/1/query', { body: { to: ['1'] } })).rejects.toThrow(/ECONNREFUSED/);
    await expect(sim.waitForRequest()).rejects.toThrow(/disposed/);

    await receiver.close();
    expect(openHandles()).toEqual(before);
  });

  it('aborts a callback that is in flight', async () => {
    const hang = http.createServer(() => undefined);
    await new Promise<void>((resolve) => hang.listen(0, '127.0.0.1', resolve));
    const { port } = hang.address() as { port: number };
    const sim = await startProviderSimulator({ callbackDelayMs: 0 });
    const arrived = new Promise<void>((resolve) => hang.once('request', () => resolve()));
    await send(sim.url, '/number/1/notify', {
      body: { to: ['41793026720'], notifyUrl: `http://127.0.0.1:${port}/cb` },
      apiKey: sim.apiKey,
    });
    await arrived;
    await sim.dispose();
    await sim.idle();
    await new Promise<void>((resolve) => {
      hang.close(() => resolve());
      hang.closeAllConnections();
    });
    expect(sim.callbacks).toEqual([]);
  });
});

describe('loadSimulatorOptions', () => {
  it('reads defaults and every variable', () => {
    expect(loadSimulatorOptions({})).toEqual({
      host: '127.0.0.1',
      port: 4_010,
      apiKey: 'simulator-key',
      callbackDelayMs: undefined,
      latencyMs: undefined,
      callbackMode: undefined,
    });
    expect(
      loadSimulatorOptions({
        SIMULATOR_PORT: '0',
        SIMULATOR_HOST: '0.0.0.0',
        SIMULATOR_API_KEY: 'k',
        SIMULATOR_CALLBACK_DELAY_MS: '50',
        SIMULATOR_CALLBACK_MODE: 'per-number',
        SIMULATOR_LATENCY_MS: '5',
      }),
    ).toEqual({
      host: '0.0.0.0',
      port: 0,
      apiKey: 'k',
      callbackDelayMs: 50,
      latencyMs: 5,
      callbackMode: 'per-number',
    });
  });

  it('lists every invalid variable in one error', () => {
    expect(() =>
      loadSimulatorOptions({ SIMULATOR_PORT: 'x', SIMULATOR_CALLBACK_MODE: 'some', SIMULATOR_LATENCY_MS: '-1' }),
    ).toThrow(/SIMULATOR_PORT[\s\S]*SIMULATOR_LATENCY_MS[\s\S]*SIMULATOR_CALLBACK_MODE/);
  });
});
