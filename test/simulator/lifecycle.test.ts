import { spawn } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import { startProviderSimulator } from '../../src/simulator';
import { loadSimulatorOptions } from '../../src/simulator/main';
import { send, startReceiver } from './helpers';

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
  it('leaves nothing behind: a process that disposes the simulator exits on its own', async () => {
    // a child process is the only honest check: in-process handle counts are shared with jest itself
    const child = spawn(
      process.execPath,
      ['-r', 'ts-node/register/transpile-only', path.join(__dirname, 'fixtures', 'dispose-child.ts')],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const code = await new Promise<number | null>((resolve) => {
      const deadline = setTimeout(() => child.kill('SIGKILL'), 15_000);
      child.once('exit', (exitCode) => {
        clearTimeout(deadline);
        resolve(exitCode);
      });
    });
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toEqual({
      outcomes: ['rejected', 'idle', 'dropped'],
      callbacks: 0,
      received: 0,
    });
  });

  it('is idempotent, rejects waiters and refuses connections afterwards', async () => {
    const sim = await startProviderSimulator({ callbackDelayMs: 60_000 });
    const pending = sim.waitForRequest(undefined, 60_000);
    await Promise.all([sim.dispose(), sim.dispose()]);
    await expect(pending).rejects.toThrow(/disposed/);
    await expect(sim.waitForCallback()).rejects.toThrow(/disposed/);
    await expect(sim.idle()).resolves.toBeUndefined();
    await expect(send(sim.url, '/number/1/query', { body: { to: ['1'] } })).rejects.toThrow(/ECONNREFUSED/);
  });

  it('cancels a scheduled callback and aborts one in flight', async () => {
    const receiver = await startReceiver();
    const hang = http.createServer(() => undefined);
    await new Promise<void>((resolve) => hang.listen(0, '127.0.0.1', resolve));
    const { port } = hang.address() as { port: number };
    const sim = await startProviderSimulator({ callbackDelayMs: 60_000 });
    await send(sim.url, '/number/1/notify', {
      body: { to: ['41793026720'], notifyUrl: receiver.url },
      apiKey: sim.apiKey,
    });
    const arrived = new Promise<void>((resolve) => hang.once('request', () => resolve()));
    sim.faults.callbacks({ delayMs: 0 });
    await send(sim.url, '/number/1/notify', {
      body: { to: ['41793026720'], notifyUrl: `http://127.0.0.1:${port}/cb` },
      apiKey: sim.apiKey,
    });
    await arrived;
    let idle = false;
    const idlePromise = sim.idle().then(() => (idle = true));
    await Promise.resolve();
    expect(idle).toBe(false);
    await sim.dispose();
    await idlePromise;
    await new Promise<void>((resolve) => {
      hang.close(() => resolve());
      hang.closeAllConnections();
    });
    await receiver.close();
    expect(sim.callbacks).toEqual([]);
    expect(receiver.received).toEqual([]);
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
      loadSimulatorOptions({
        SIMULATOR_PORT: 'x',
        SIMULATOR_CALLBACK_MODE: 'some',
        SIMULATOR_LATENCY_MS: '-1',
      }),
    ).toThrow(/SIMULATOR_CALLBACK_MODE[\s\S]*SIMULATOR_PORT[\s\S]*SIMULATOR_LATENCY_MS/);
  });
});
