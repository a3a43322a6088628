import 'reflect-metadata';
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { writeHeapSnapshot } from 'node:v8';
import { buildApp, type GatewayApp } from '../../src/app';
import { loadConfig } from '../../src/config';
import { createLogger } from '../../src/observability/logger';
import { startProviderSimulator, type ProviderSimulator } from '../../src/simulator';
import { childConfig, serveChild, type Handlers } from './children';
import { startMinimalProxy } from './minimal-proxy';

/** What the orchestrator asks this process to be. */
export interface ServerConfig {
  kind: 'simulator' | 'proxy' | 'gateway';
  /** proxy, gateway: the provider (a simulator process). */
  upstreamUrl?: string;
  apiKey?: string;
  /** simulator: its callback delay; the bench posts callbacks itself, so it is set far beyond any run. */
  callbackDelayMs?: number;
  /** gateway: environment-style settings on top of PORT=0, HOST=127.0.0.1, LOG_LEVEL=silent. */
  env?: Record<string, string>;
}

/** What it reports once listening. */
export interface ServerReady {
  url: string;
  apiKey?: string;
  graphqlUrl?: string;
  wsUrl?: string;
}

/** Process memory and CPU, as the `usage` call returns it. */
export interface ProcessUsage {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  cpuUs: number;
  atMs: number;
}

function usage(gc: boolean): ProcessUsage {
  if (gc) {
    const collect = (globalThis as { gc?: () => void }).gc;
    // Twice: the first pass leaves weakly held and finalizable objects for the second.
    collect?.();
    collect?.();
  }
  const memory = process.memoryUsage();
  const cpu = process.cpuUsage();
  return {
    rss: memory.rss,
    heapUsed: memory.heapUsed,
    heapTotal: memory.heapTotal,
    external: memory.external,
    cpuUs: cpu.user + cpu.system,
    atMs: performance.now(),
  };
}

const loopDelay = monitorEventLoopDelay({ resolution: 1 });

const profiler = {
  session: undefined as Session | undefined,
  post(method: string, params?: object): Promise<unknown> {
    return new Promise((resolve, reject) =>
      this.session?.post(method, params, (error, result) => (error ? reject(error) : resolve(result))),
    );
  },
  async start(): Promise<void> {
    this.session ??= new Session();
    this.session.connect();
    await this.post('Profiler.enable');
    await this.post('Profiler.setSamplingInterval', { interval: 200 });
    await this.post('Profiler.start');
  },
  async stop(path: string): Promise<void> {
    const { profile } = (await this.post('Profiler.stop')) as { profile: unknown };
    writeFileSync(path, JSON.stringify(profile));
    this.session?.disconnect();
  },
};

serveChild<ServerReady>(async () => {
  const config = childConfig<ServerConfig>();
  const common: Handlers = {
    usage: (args: { gc?: boolean } | undefined) => usage(args?.gc === true),
    // For digging into memory per subscription: `node --inspect`-free snapshots on demand.
    heapSnapshot: (args: { path: string }) => writeHeapSnapshot(args.path),
    // Event-loop delay over a window: how long anything (a callback, a ping round) would have waited.
    loopDelayStart: () => {
      loopDelay.reset();
      loopDelay.enable();
    },
    loopDelayStop: () => {
      loopDelay.disable();
      return {
        p50Ms: loopDelay.percentile(50) / 1e6,
        p99Ms: loopDelay.percentile(99) / 1e6,
        maxMs: loopDelay.max / 1e6,
      };
    },
    // CPU profile of a measured window only (`--profile`): startup and setup would drown the hot path.
    profileStart: () => profiler.start(),
    profileStop: (args: { path: string }) => profiler.stop(args.path),
  };

  if (config.kind === 'simulator') {
    const simulator: ProviderSimulator = await startProviderSimulator({
      latencyMs: 0,
      callbackDelayMs: config.callbackDelayMs ?? 0,
    });
    return {
      ready: { url: simulator.url, apiKey: simulator.apiKey },
      dispose: () => simulator.dispose(),
      handlers: {
        ...common,
        counts: () => {
          let queryCalls = 0;
          let queryNumbers = 0;
          let notifyCalls = 0;
          for (const r of simulator.received) {
            const to = (r.body as { to?: unknown[] } | undefined)?.to;
            if (r.path === '/number/1/query') {
              queryCalls++;
              queryNumbers += Array.isArray(to) ? to.length : 0;
            } else if (r.path === '/number/1/notify') notifyCalls++;
          }
          return { queryCalls, queryNumbers, notifyCalls };
        },
        notifyUrls: () =>
          simulator.received
            .filter((r) => r.path === '/number/1/notify')
            .map((r) => (r.body as { notifyUrl: string }).notifyUrl),
        reset: () => simulator.reset(),
      },
    };
  }

  if (config.kind === 'proxy') {
    const proxy = await startMinimalProxy({
      upstreamUrl: config.upstreamUrl as string,
      apiKey: config.apiKey as string,
    });
    return { ready: { url: proxy.url }, dispose: () => proxy.dispose(), handlers: common };
  }

  const app: GatewayApp = buildApp(
    loadConfig({
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'silent',
      // Measured as deployed: production mode (no Sandbox, no introspection; libraries' production paths).
      NODE_ENV: 'production',
      INFOBIP_BASE_URL: config.upstreamUrl as string,
      INFOBIP_API_KEY: config.apiKey as string,
      ...config.env,
    }),
    { logger: createLogger({ level: 'silent' }) },
  );
  await app.start();
  return {
    ready: { url: app.url, graphqlUrl: app.graphqlUrl, wsUrl: app.wsUrl },
    dispose: async () => void (await app.stop()),
    handlers: {
      ...common,
      stats: async () => ({
        activeWatches: app.internals.registry.stats().activeWatches,
        wsConnections: app.internals.webSocketConnections(),
        numbersSent: (await app.metrics.numbersSent.get()).values.reduce((sum, v) => sum + v.value, 0),
      }),
    },
  };
});
