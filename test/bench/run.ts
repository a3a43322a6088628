import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { Redis } from 'ioredis';
import { Pool } from 'undici';
import { simulateLookup } from '../../src/simulator';
import { canPin, pin, startChild, type BenchChild } from './children';
import type { ClosedLoopResult, LoadTarget, OpenLoopResult } from './load-main';
import type { ProcessUsage, ServerConfig, ServerReady } from './server-main';
import { createRandom, nowMs, summarise } from './stats';
import type { Arrival, SubscriberCounts } from './subscriber-main';

/*
 * `npm run bench [-- --quick] [-- --only=a,c] [-- --profile] [-- --subscriptions=N]`: the gateway against a
 * hand-written proxy and the bare simulator (a), async delivery and idle subscriptions (b), provider cost with
 * and without the cache (c), and (b) across two instances sharing Redis (d). Every server runs in a process of
 * its own, pinned to a core when taskset exists; load generators and clients run in other processes.
 */

const ROOT = resolve(__dirname, '../../..');
const OUT = join(ROOT, 'bench-results.json');
const args = process.argv.slice(2);
const QUICK = args.includes('--quick');
const PROFILE = args.includes('--profile');
const ONLY = new Set(
  (args.find((a) => a.startsWith('--only='))?.slice('--only='.length) ?? 'a,b,c,d').split(','),
);
const REDIS_URL =
  args.find((a) => a.startsWith('--redis='))?.slice('--redis='.length) ??
  process.env.BENCH_REDIS_URL ??
  'redis://127.0.0.1:6379';

const SETTINGS = {
  warmupS: QUICK ? 1 : 2,
  closedS: QUICK ? 3 : 5,
  openS: QUICK ? 3 : 6,
  connections: 64,
  subscribers: 1_000,
  callbackRatePerS: 100,
  fanOutRounds: QUICK ? 3 : 5,
  idleSubscriptions: Number(
    args.find((a) => a.startsWith('--subscriptions='))?.slice('--subscriptions='.length) ??
      (QUICK ? 2_000 : 10_000),
  ),
  clientsPerProcess: 2_500,
  costRequests: QUICK ? 600 : 2_000,
  costConcurrency: 8,
};

/** WebSocket keep-alive of the async gateways (the default); idle subscriptions are held for one full round. */
const KEEPALIVE_MS = 15_000;

const CORES = availableParallelism();
/**
 * The server under test gets core 0 to itself (in (d) both instances share it); load generators, clients, the
 * upstream simulator and this process share core 1.
 */
const SERVER_CORE = 0;
const LOAD_CORE = CORES > 1 ? 1 : 0;
const UPSTREAM_CORE = CORES > 2 ? 2 : LOAD_CORE;

const script = (name: string) => join(__dirname, `${name}.js`);
const operation = (...files: string[]) =>
  files.map((f) => readFileSync(join(ROOT, 'test/fixtures/operations', f), 'utf8')).join('\n');
const LOOKUP_NUMBERS = operation('lookup-numbers.graphql', 'result-fields.graphql');
const LOOKUP_COMPLETED = operation('lookup-completed.graphql', 'result-fields.graphql');
const REQUEST_LOOKUP = 'mutation ($to: [String!]!) { requestLookup(to: $to) { id } }';

/** One line of the table (and of the JSON). */
interface Row {
  section: string;
  metric: string;
  value: number;
  unit: string;
  target?: { op: '>=' | '<='; value: number };
  pass?: boolean;
  note?: string;
}

const rows: Row[] = [];
const raw: Record<string, unknown> = {};
const children = new Set<BenchChild<unknown>>();

function row(
  section: string,
  metric: string,
  value: number,
  unit: string,
  target?: Row['target'],
  note?: string,
) {
  const pass = target ? (target.op === '>=' ? value >= target.value : value <= target.value) : undefined;
  rows.push({ section, metric, value, unit, ...(target ? { target, pass } : {}), ...(note ? { note } : {}) });
}

function log(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

async function child<T>(name: string, config: unknown, core?: number, execArgv: string[] = []) {
  // Libraries read NODE_ENV at load time (graphql-js skips its cross-realm instanceOf checks in production).
  const env = { NODE_ENV: 'production' };
  const started = await startChild<T>(script(name), config, { core, execArgv, name, env });
  children.add(started as BenchChild<unknown>);
  return started;
}

async function stop(...stopping: (BenchChild<unknown> | undefined)[]): Promise<void> {
  await Promise.all(
    stopping.map(async (c) => {
      if (!c) return;
      children.delete(c);
      await c.stop();
    }),
  );
}

const PROFILE_DIR = join(tmpdir(), 'bench-profiles');

/**
 * Runs `measure`; with `--profile`, CPU-profiles `targets` for exactly that window (startup and setup would drown
 * the hot path) and writes `<tmp>/bench-profiles/<label>[-i].cpuprofile` (Chrome DevTools, speedscope).
 */
async function profiled<T>(
  targets: BenchChild<unknown>[],
  label: string,
  measure: () => Promise<T>,
): Promise<T> {
  if (!PROFILE) return measure();
  mkdirSync(PROFILE_DIR, { recursive: true });
  await Promise.all(targets.map((t) => t.call('profileStart')));
  try {
    return await measure();
  } finally {
    await Promise.all(
      targets.map((t, i) =>
        t.call('profileStop', {
          path: join(PROFILE_DIR, `${label}${targets.length > 1 ? `-${i}` : ''}.cpuprofile`),
        }),
      ),
    );
  }
}

async function startGateway(upstream: BenchChild<ServerReady>, env: Record<string, string>, core: number) {
  const config: ServerConfig = {
    kind: 'gateway',
    upstreamUrl: upstream.ready.url,
    apiKey: upstream.ready.apiKey,
    env,
  };
  return child<ServerReady>('server-main', config, core, ['--expose-gc']);
}

async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T>, done: (v: T) => boolean) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A GraphQL client for setup calls (not measured). */
function graphqlClient(graphqlUrl: string) {
  const url = new URL(graphqlUrl);
  const pool = new Pool(url.origin, { connections: 32 });
  return {
    async request<T>(query: string, variables: Record<string, unknown>): Promise<T> {
      const response = await pool.request({
        path: url.pathname,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query, variables }),
      });
      const body = (await response.body.json()) as { data?: T; errors?: unknown };
      if (response.statusCode !== 200 || !body.data) {
        throw new Error(`GraphQL ${response.statusCode}: ${JSON.stringify(body.errors)}`);
      }
      return body.data;
    },
    close: () => pool.close(),
  };
}

async function parallel<T>(
  count: number,
  concurrency: number,
  task: (i: number) => Promise<T>,
): Promise<T[]> {
  const out = new Array<T>(count);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      out[i] = await task(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return out;
}

const number = (base: number, i: number) => String(base + i);
const round = (v: number, digits = 2) => Math.round(v * 10 ** digits) / 10 ** digits;

function cpuShare(before: ProcessUsage, after: ProcessUsage): number {
  return (after.cpuUs - before.cpuUs) / 1_000 / (after.atMs - before.atMs);
}

// ---------------------------------------------------------------------------------------------------------------
// (a) sync throughput and latency

async function benchSync(upstream: BenchChild<ServerReady>, load: BenchChild<object>): Promise<void> {
  log('(a) starting the direct simulator, the minimal proxy and the gateway on core ' + SERVER_CORE);
  const direct = await child<ServerReady>(
    'server-main',
    { kind: 'simulator' } satisfies ServerConfig,
    SERVER_CORE,
  );
  const proxy = await child<ServerReady>(
    'server-main',
    { kind: 'proxy', upstreamUrl: upstream.ready.url, apiKey: upstream.ready.apiKey } satisfies ServerConfig,
    SERVER_CORE,
  );
  const gateway = await startGateway(upstream, {}, SERVER_CORE);
  const servers = { direct, proxy, gateway } as const;
  type Kind = keyof typeof servers;
  // The simulators keep what they received and a lookup log (bounded, but hundreds of thousands of objects): left
  // to grow from run to run, their garbage collection would show in every later run's tail latency.
  const resetSimulators = () => Promise.all([direct.call('reset'), upstream.call('reset')]);

  // Every request asks for numbers of its own (in turn from BODIES sets): identical concurrent requests would let
  // the gateway share one provider call between them (in-flight coalescing, measured in (c)), which flatters it.
  const BODIES = 512;
  const numberSets = (size: number) =>
    Array.from({ length: BODIES }, (_, b) =>
      Array.from({ length: size }, (_, i) => number(41_791_000_000, b * size + i)),
    );
  const target = (kind: Kind, size: number): LoadTarget => {
    const sets = numberSets(size);
    if (kind === 'direct') {
      return {
        url: `${direct.ready.url}/number/1/query`,
        bodies: sets.map((to) => JSON.stringify({ to })),
        headers: { 'content-type': 'application/json', authorization: `App ${direct.ready.apiKey}` },
      };
    }
    if (kind === 'proxy') {
      return {
        url: `${proxy.ready.url}/`,
        bodies: sets.map((to) => JSON.stringify({ to })),
        headers: { 'content-type': 'application/json' },
      };
    }
    return {
      url: gateway.ready.graphqlUrl as string,
      bodies: sets.map((to) => JSON.stringify({ query: LOOKUP_NUMBERS, variables: { to } })),
      headers: { 'content-type': 'application/json' },
    };
  };

  const check = async (kind: Kind, size: number) => {
    const t = target(kind, size);
    const response = await fetch(t.url, { method: 'POST', headers: t.headers, body: t.bodies[0] });
    const body = (await response.json()) as { results?: unknown[]; data?: { lookupNumbers?: unknown[] } };
    const results = body.results ?? body.data?.lookupNumbers;
    if (response.status !== 200 || results?.length !== size) {
      throw new Error(`(a) ${kind} answered ${response.status} with ${results?.length} results, not ${size}`);
    }
  };

  const closed: Record<string, ClosedLoopResult & { serverCpu: number; cpuUsPerRequest: number }> = {};
  for (const size of [10, 100]) {
    for (const kind of Object.keys(servers) as Kind[]) {
      await check(kind, size);
      const t = target(kind, size);
      await load.call('closed', {
        target: t,
        connections: SETTINGS.connections,
        durationS: SETTINGS.warmupS,
        warmupS: 0,
      });
      await resetSimulators();
      const before = await servers[kind].call<ProcessUsage>('usage');
      const result = await profiled([servers[kind]], `a-${kind}-${size}`, () =>
        load.call<ClosedLoopResult>('closed', {
          target: t,
          connections: SETTINGS.connections,
          durationS: SETTINGS.closedS,
          warmupS: 0,
        }),
      );
      const after = await servers[kind].call<ProcessUsage>('usage');
      const serverCpu = cpuShare(before, after);
      const cpuUsPerRequest = (after.cpuUs - before.cpuUs) / Math.max(1, result.requests);
      closed[`${kind}-${size}`] = { ...result, serverCpu, cpuUsPerRequest };
      log(
        `(a) ${kind} ${size} numbers: ${Math.round(result.rps)} req/s, p50 ${round(result.latency.p50)} ms, ` +
          `p99 ${round(result.latency.p99)} ms, server CPU ${Math.round(serverCpu * 100)}%, ` +
          `${Math.round(cpuUsPerRequest)} µs CPU/request, errors ${result.errors + result.non2xx}`,
      );
      if (result.errors + result.non2xx > 0)
        throw new Error(`(a) ${kind} ${size}: ${result.errors + result.non2xx} errors`);
    }
  }
  raw.sync = closed;
  for (const size of [10, 100]) {
    for (const kind of Object.keys(servers) as Kind[]) {
      const r = closed[`${kind}-${size}`];
      const label = { direct: 'simulator direct', proxy: 'minimal proxy', gateway: 'gateway' }[kind];
      row('a sync', `${label}, ${size} numbers: throughput`, Math.round(r.rps), 'req/s');
      row(
        'a sync',
        `${label}, ${size} numbers: p50 / p99 (closed loop, ${SETTINGS.connections} conns)`,
        round(r.latency.p50),
        'ms',
        undefined,
        `p99 ${round(r.latency.p99)} ms`,
      );
      row(
        'a sync',
        `${label}, ${size} numbers: server CPU per request`,
        Math.round(r.cpuUsPerRequest),
        'µs',
        undefined,
        `server core busy ${Math.round(r.serverCpu * 100)}%`,
      );
    }
    const ratio = closed[`gateway-${size}`].rps / closed[`proxy-${size}`].rps;
    // The same ratio from CPU cost alone: what each would do with a core to itself, whoever the bottleneck was.
    const perCore = closed[`proxy-${size}`].cpuUsPerRequest / closed[`gateway-${size}`].cpuUsPerRequest;
    row(
      'a sync',
      `gateway ÷ minimal proxy throughput, ${size} numbers`,
      round(ratio),
      '×',
      size === 10 ? { op: '>=', value: 0.5 } : undefined,
      `per server core (CPU per request): ${round(perCore)}`,
    );
  }

  // Open loop at half the proxy's maximum (the target), and at half the gateway's own maximum (what it adds when
  // it is not overloaded). Latency counts from each request's scheduled time, so queueing is never hidden.
  const openLoop = async (kinds: Kind[], rate: number) => {
    const out: Partial<Record<Kind, OpenLoopResult>> = {};
    for (const kind of kinds) {
      await resetSimulators();
      const o = await load.call<OpenLoopResult>(
        'open',
        { target: target(kind, 10), rate, durationS: SETTINGS.openS, warmupS: SETTINGS.warmupS },
        (SETTINGS.openS + SETTINGS.warmupS) * 1_000 + 60_000,
      );
      out[kind] = o;
      log(
        `(a) open loop ${rate} req/s, ${kind}: achieved ${Math.round(o.achievedRps)} req/s, p50 ${round(o.latency.p50)} ms, ` +
          `p99 ${round(o.latency.p99)} ms, errors ${o.errors}`,
      );
    }
    return out as Record<Kind, OpenLoopResult>;
  };
  const added = (
    label: string,
    rate: number,
    open: Record<Kind, OpenLoopResult>,
    kind: Kind,
    target?: Row['target'],
  ) =>
    row(
      'a sync',
      `${label}: added p99 latency vs direct, ${rate} req/s open loop`,
      round(open[kind].latency.p99 - open.direct.latency.p99),
      'ms',
      target,
      `added p50 ${round(open[kind].latency.p50 - open.direct.latency.p50)} ms; p99 ${round(open[kind].latency.p99)} ` +
        `vs ${round(open.direct.latency.p99)} ms direct; ${open[kind].errors} errors`,
    );
  const halfProxy = Math.max(1, Math.round(closed['proxy-10'].rps / 2));
  const halfGateway = Math.max(1, Math.round(closed['gateway-10'].rps / 2));
  log(`(a) open loop at ${halfProxy} req/s (half the proxy's maximum at 10 numbers)`);
  const atHalfProxy = await openLoop(['direct', 'proxy', 'gateway'], halfProxy);
  log(`(a) open loop at ${halfGateway} req/s (half the gateway's own maximum at 10 numbers)`);
  const atHalfGateway = await openLoop(['direct', 'gateway'], halfGateway);
  raw.openLoop = { [halfProxy]: atHalfProxy, [halfGateway]: atHalfGateway };
  added('minimal proxy', halfProxy, atHalfProxy, 'proxy');
  added('gateway', halfProxy, atHalfProxy, 'gateway', { op: '<=', value: 4 });
  added('gateway (half its own maximum)', halfGateway, atHalfGateway, 'gateway');
  await stop(direct, proxy, gateway);
}

// ---------------------------------------------------------------------------------------------------------------
// (b) and (d): async delivery and idle subscriptions

interface AsyncSetup {
  label: string;
  section: string;
  /** Instances clients connect to (round-robin by process) and the one callbacks are posted to. */
  gateways: BenchChild<ServerReady>[];
  callbackTarget: BenchChild<ServerReady>;
}

async function createRequests(setup: AsyncSetup, upstream: BenchChild<ServerReady>, numbers: string[][]) {
  const clients = setup.gateways.map((g) => graphqlClient(g.ready.graphqlUrl as string));
  try {
    await upstream.call('reset');
    const ids = await parallel(numbers.length, 32, async (i) => {
      const data = await clients[i % clients.length].request<{ requestLookup: { id: string } }>(
        REQUEST_LOOKUP,
        {
          to: numbers[i],
        },
      );
      return data.requestLookup.id;
    });
    const urls = await upstream.call<string[]>('notifyUrls');
    const callbackPath = new Map<string, string>();
    for (const u of urls) {
      const path = new URL(u).pathname;
      const segments = path.split('/');
      callbackPath.set(segments[segments.length - 2], path);
    }
    return ids.map((id, i) => ({ id, numbers: numbers[i], path: callbackPath.get(id) as string }));
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
}

async function startSubscribers(setup: AsyncSetup, total: number, perProcess: number) {
  const processes: { child: BenchChild<object>; count: number; gateway: BenchChild<ServerReady> }[] = [];
  const count = Math.ceil(total / perProcess);
  for (let p = 0; p < count; p++) {
    const sub = await child<object>('subscriber-main', {}, LOAD_CORE);
    processes.push({
      child: sub,
      count: Math.min(perProcess, total - p * perProcess),
      gateway: setup.gateways[p % setup.gateways.length],
    });
  }
  await Promise.all(
    processes.map((p) =>
      p.child.call('connect', { url: p.gateway.ready.wsUrl, count: p.count, concurrency: 50 }, 300_000),
    ),
  );
  return processes;
}

async function totalWatches(setup: AsyncSetup): Promise<number> {
  const stats = await Promise.all(setup.gateways.map((g) => g.call<{ activeWatches: number }>('stats')));
  return stats.reduce((sum, s) => sum + s.activeWatches, 0);
}

async function arrivalsSoFar(processes: { child: BenchChild<object> }[]): Promise<number> {
  const counts = await Promise.all(
    processes.map((p) => p.child.call<{ arrivals: number } & SubscriberCounts>('counts')),
  );
  const errors = counts.find((c) => c.errors > 0);
  if (errors) throw new Error(`subscriber errors: ${errors.firstError}`);
  return counts.reduce((sum, c) => sum + c.arrivals, 0);
}

async function drain(processes: { child: BenchChild<object> }[]): Promise<Arrival[]> {
  const drained = await Promise.all(processes.map((p) => p.child.call<{ arrivals: Arrival[] }>('drain')));
  return drained.flatMap((d) => d.arrivals);
}

async function benchAsync(setup: AsyncSetup, upstream: BenchChild<ServerReady>): Promise<void> {
  const { section, label } = setup;
  const callbackOrigin = new URL(setup.callbackTarget.ready.url).origin;
  const callbacks = new Pool(callbackOrigin, { connections: 16 });
  const post = async (path: string, results: unknown[]) => {
    const response = await callbacks.request({
      path,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ results }),
    });
    await response.body.text();
    if (response.statusCode !== 200) throw new Error(`callback answered ${response.statusCode}`);
  };
  const base = section.startsWith('d') ? 41_795_000_000 : 41_793_000_000;
  const result: Record<string, unknown> = {};
  try {
    // Delivery: 1,000 subscribers, each on a request of its own with two numbers; one callback per request, at a
    // constant rate, carries the first number, so all of them stay subscribed throughout. A warm-up of 50 more
    // goes first and is not counted (cold code would otherwise make the first deliveries the slowest).
    const n = SETTINGS.subscribers;
    const warm = 50;
    log(`${section}: ${n} subscribers on ${n} requests (${label}), after a warm-up of ${warm}`);
    const all = await createRequests(
      setup,
      upstream,
      Array.from({ length: warm + n }, (_, i) => [number(base, 2 * i), number(base, 2 * i + 1)]),
    );
    const subscriberSetup = {
      ...setup,
      gateways: setup.gateways.length > 1 ? [setup.gateways[0]] : setup.gateways,
    };
    let processes = await startSubscribers(subscriberSetup, warm + n, Math.ceil((warm + n) / 2));
    let offset = 0;
    for (const p of processes) {
      await p.child.call('subscribe', {
        query: LOOKUP_COMPLETED,
        requestIds: all.slice(offset, offset + p.count).map((r) => r.id),
      });
      offset += p.count;
    }
    await waitFor(
      'subscriptions',
      60_000,
      () => totalWatches(setup),
      (w) => w >= warm + n,
    );
    const sentAt = new Map<string, number>();
    const intervalMs = 1_000 / SETTINGS.callbackRatePerS;
    const sendAtRate = async (batch: typeof all) => {
      const start = performance.now();
      await parallel(batch.length, 64, async (i) => {
        const due = start + i * intervalMs - performance.now();
        if (due > 0) await new Promise((r) => setTimeout(r, due));
        sentAt.set(batch[i].id, nowMs());
        await post(batch[i].path, [simulateLookup(batch[i].numbers[0])]);
      });
    };
    await sendAtRate(all.slice(0, warm));
    await waitFor(
      'warm-up deliveries',
      30_000,
      () => arrivalsSoFar(processes),
      (a) => a >= warm,
    );
    await drain(processes);
    const requests = all.slice(warm);
    // The idle cost first (keep-alive pings, timers, and the 1 ms event-loop monitor, which alone costs about as
    // much CPU as 100 callbacks a second), so the CPU per callback is the callbacks' own.
    await Promise.all(setup.gateways.map((g) => g.call('loopDelayStart')));
    const idleBefore = await Promise.all(setup.gateways.map((g) => g.call<ProcessUsage>('usage')));
    await new Promise((r) => setTimeout(r, 2_000));
    const cpuBefore = await Promise.all(setup.gateways.map((g) => g.call<ProcessUsage>('usage')));
    const idleUsPerMs = cpuBefore.map(
      (u, i) => (u.cpuUs - idleBefore[i].cpuUs) / (u.atMs - idleBefore[i].atMs),
    );
    await Promise.all(setup.gateways.map((g) => g.call('loopDelayStart')));
    await profiled(setup.gateways, `${section[0]}-delivery`, async () => {
      await sendAtRate(requests);
      await waitFor(
        'deliveries',
        30_000,
        () => arrivalsSoFar(processes),
        (a) => a >= n,
      );
    });
    const loopDelay = await Promise.all(
      setup.gateways.map((g) => g.call<{ p50Ms: number; p99Ms: number; maxMs: number }>('loopDelayStop')),
    );
    const cpuAfter = await Promise.all(setup.gateways.map((g) => g.call<ProcessUsage>('usage')));
    const cpuUsPerCallback =
      cpuAfter.reduce(
        (sum, u, i) => sum + u.cpuUs - cpuBefore[i].cpuUs - idleUsPerMs[i] * (u.atMs - cpuBefore[i].atMs),
        0,
      ) / n;
    const busy = cpuAfter.map((u, i) => Math.round(cpuShare(cpuBefore[i], u) * 100));
    const latencyOf = new Map(
      (await drain(processes)).map(([id, , at]) => [id, at - (sentAt.get(id) as number)]),
    );
    const delivery = summarise([...latencyOf.values()]);
    // In sending order, so a stall shows as a run of slow deliveries.
    const series = requests.map((r) => round(latencyOf.get(r.id) ?? NaN, 2));
    result.delivery = { ...delivery, cpuUsPerCallback, idleCpuUsPerMs: idleUsPerMs, busy, loopDelay, series };
    log(
      `${section}: delivery p50 ${round(delivery.p50)} ms, p99 ${round(delivery.p99)} ms, max ${round(delivery.max)} ms; ` +
        `gateway CPU ${Math.round(cpuUsPerCallback)} µs per callback, busy ${busy.join('/')}%`,
    );
    const what = `${n} subscribers on ${n} requests, ${SETTINGS.callbackRatePerS} callbacks/s`;
    row(section, `delivery p50, ${what}`, round(delivery.p50), 'ms');
    row(
      section,
      `delivery p99, ${what}`,
      round(delivery.p99),
      'ms',
      { op: '<=', value: 15 },
      `max ${round(delivery.max)} ms; ${Math.round(cpuUsPerCallback)} µs gateway CPU per callback (net of idle); ` +
        `event-loop delay max ${loopDelay.map((d) => round(d.maxMs, 1)).join('/')} ms`,
    );
    await stop(...processes.map((p) => p.child));
    await waitFor(
      'subscriptions to be released',
      30_000,
      () => totalWatches(setup),
      (w) => w === 0,
    );

    // Fan-out: one request, 1,000 subscribers (spread over every instance), one callback per round.
    const rounds = SETTINGS.fanOutRounds;
    log(`${section}: fan-out of one callback to ${n} subscribers, ${rounds} rounds`);
    const [fan] = await createRequests(setup, upstream, [
      Array.from({ length: rounds }, (_, i) => number(base + 500_000, i)),
    ]);
    processes = await startSubscribers(setup, n, Math.ceil(n / 2));
    for (const p of processes)
      await p.child.call('subscribe', { query: LOOKUP_COMPLETED, requestIds: [fan.id] });
    await waitFor(
      'fan-out subscriptions',
      60_000,
      () => totalWatches(setup),
      (w) => w >= n,
    );
    const fanLatencies: number[] = [];
    const lastPerRound: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const t0 = nowMs();
      await profiled(setup.gateways, `${section[0]}-fan-out-${r}`, async () => {
        await post(fan.path, [simulateLookup(fan.numbers[r])]);
        await waitFor(
          'fan-out deliveries',
          30_000,
          () => arrivalsSoFar(processes),
          (a) => a >= n,
        );
      });
      const arrivals = (await drain(processes)).map(([, , at]) => at - t0);
      fanLatencies.push(...arrivals);
      lastPerRound.push(Math.max(...arrivals));
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const fanOut = summarise(fanLatencies);
    result.fanOut = { ...fanOut, lastPerRound };
    log(
      `${section}: fan-out p50 ${round(fanOut.p50)} ms, p99 ${round(fanOut.p99)} ms, last subscriber ${round(fanOut.max)} ms`,
    );
    row(section, `fan-out of one callback to ${n} subscribers: p50`, round(fanOut.p50), 'ms');
    row(
      section,
      `fan-out of one callback to ${n} subscribers: p99`,
      round(fanOut.p99),
      'ms',
      { op: '<=', value: 15 },
      `last subscriber ${round(fanOut.max)} ms`,
    );
    await waitFor(
      'fan-out subscriptions to be released',
      30_000,
      () => totalWatches(setup),
      (w) => w === 0,
    );
    await stop(...processes.map((p) => p.child));

    await benchIdle(setup, upstream, base + 100_000, result);
  } finally {
    await callbacks.close();
    raw[section] = result;
  }
}

async function benchIdle(
  setup: AsyncSetup,
  upstream: BenchChild<ServerReady>,
  base: number,
  result: Record<string, unknown>,
) {
  const { section } = setup;
  const n = SETTINGS.idleSubscriptions;
  const warm = Math.min(500, n);
  log(`${section}: ${n} idle subscriptions, one WebSocket and one request each (after a warm-up of ${warm})`);
  const all = await createRequests(
    setup,
    upstream,
    Array.from({ length: warm + n }, (_, i) => [number(base, i)]),
  );
  // A warm-up round, subscribed and dropped: code, the young generation and allocator arenas grow once, and
  // that one-off growth must not be counted against each subscription.
  const warming = await startSubscribers(setup, warm, warm);
  for (const p of warming) {
    await p.child.call('subscribe', {
      query: LOOKUP_COMPLETED,
      requestIds: all.slice(0, p.count).map((r) => r.id),
    });
  }
  await waitFor(
    'warm-up subscriptions',
    60_000,
    () => totalWatches(setup),
    (w) => w >= warm,
  );
  await stop(...warming.map((p) => p.child));
  await waitFor(
    'warm-up subscriptions to be released',
    60_000,
    () => totalWatches(setup),
    (w) => w === 0,
  );
  const requests = all.slice(warm);

  const before = await Promise.all(setup.gateways.map((g) => g.call<ProcessUsage>('usage', { gc: true })));
  const started = performance.now();
  const processes = await startSubscribers(setup, n, SETTINGS.clientsPerProcess);
  const connectedS = (performance.now() - started) / 1_000;
  let offset = 0;
  // Every instance can serve every request, so which instance created a request does not matter.
  for (const p of processes) {
    await p.child.call('subscribe', {
      query: LOOKUP_COMPLETED,
      requestIds: requests.slice(offset, offset + p.count).map((r) => r.id),
    });
    offset += p.count;
  }
  await waitFor(
    'idle subscriptions',
    120_000,
    () => totalWatches(setup),
    (w) => w >= n,
  );
  const establishedS = (performance.now() - started) / 1_000;
  // Held: still every one of them one keep-alive round later (every socket pinged and ponged), no socket lost;
  // the event-loop delay over that round is what a delivery would have waited behind the pings.
  await Promise.all(setup.gateways.map((g) => g.call('loopDelayStart')));
  await new Promise((r) => setTimeout(r, QUICK ? 1_000 : KEEPALIVE_MS + 500));
  const loopDelay = await Promise.all(
    setup.gateways.map((g) => g.call<{ p50Ms: number; p99Ms: number; maxMs: number }>('loopDelayStop')),
  );
  const held = await totalWatches(setup);
  const counts = await Promise.all(processes.map((p) => p.child.call<SubscriberCounts>('counts')));
  const closed = counts.reduce((sum, c) => sum + c.closed, 0);
  const errors = counts.reduce((sum, c) => sum + c.errors, 0);
  const firstError = counts.find((c) => c.firstError)?.firstError;
  const lost = closed + errors;
  const after = await Promise.all(setup.gateways.map((g) => g.call<ProcessUsage>('usage', { gc: true })));
  const growth = (field: 'rss' | 'heapUsed' | 'external') =>
    after.reduce((sum, u, i) => sum + u[field] - before[i][field], 0) / Math.max(1, held);
  const rss = growth('rss');
  const heap = growth('heapUsed') + growth('external');
  // RSS growth alone can hide behind slack left by earlier work, heap growth alone misses native memory: the
  // larger of the two is the figure.
  const perSubscription = Math.max(rss, heap);
  const clientRss = (await Promise.all(processes.map((p) => p.child.call<number>('usage')))).reduce(
    (a, b) => a + b,
    0,
  );
  result.idle = {
    attempted: n,
    held,
    lost,
    closed,
    errors,
    firstError,
    connectedS,
    establishedS,
    loopDelay,
    bytesPerSubscription: perSubscription,
    rssPerSubscription: rss,
    heapAndExternalPerSubscription: heap,
    before,
    after,
    clientRss,
  };
  log(
    `${section}: held ${held} of ${n} (lost ${lost}) in ${round(establishedS, 1)} s; per subscription ` +
      `${Math.round(rss)} B RSS, ${Math.round(heap)} B heap+external`,
  );
  row(
    section,
    'concurrent idle subscriptions held',
    held,
    'subs',
    { op: '>=', value: 10_000 },
    `${n} attempted, ${lost} lost, all up in ${round(establishedS, 1)} s; event-loop delay while held ` +
      `p99 ${loopDelay.map((d) => round(d.p99Ms, 1)).join('/')} ms, max ${loopDelay.map((d) => round(d.maxMs, 1)).join('/')} ms`,
  );
  row(
    section,
    'gateway memory per idle subscription (after GC)',
    round(perSubscription / 1_000, 1),
    'kB',
    { op: '<=', value: 60 },
    `larger of RSS growth ${round(rss / 1_000, 1)} kB and heap+external growth ${round(heap / 1_000, 1)} kB`,
  );
  await stop(...processes.map((p) => p.child));
  const released = await waitFor(
    'idle subscriptions to be released',
    60_000,
    () => totalWatches(setup),
    (w) => w === 0,
  ).catch(() => -1);
  if (released !== 0) {
    row(section, 'subscriptions left after every client left', released, 'subs', { op: '<=', value: 0 });
  }
}

// ---------------------------------------------------------------------------------------------------------------
// (c) provider cost with repeats

async function benchCost(upstream: BenchChild<ServerReady>): Promise<void> {
  const cost: Record<string, unknown> = {};
  const workloads = [
    { name: '1 number per request', size: 1 },
    { name: '10 numbers per request', size: 10 },
  ];
  for (const cacheTtlMs of [0, 600_000]) {
    const gateway = await startGateway(upstream, { CACHE_TTL_MS: String(cacheTtlMs) }, SERVER_CORE);
    const client = graphqlClient(gateway.ready.graphqlUrl as string);
    try {
      for (const [w, workload] of workloads.entries()) {
        const random = createRandom(42 + w);
        const base = 41_797_000_000 + w * 1_000_000;
        const seen: string[] = [];
        let fresh = 0;
        let repeats = 0;
        const requestCount = Math.ceil(SETTINGS.costRequests / workload.size);
        const batches: string[][] = [];
        for (let r = 0; r < requestCount; r++) {
          const batch = new Set<string>();
          while (batch.size < workload.size) {
            // Half the numbers asked for were asked for before (by an earlier request).
            const repeat = seen.length > 0 && random() < 0.5;
            const candidate = repeat ? seen[Math.floor(random() * seen.length)] : number(base, fresh);
            if (batch.has(candidate)) continue;
            batch.add(candidate);
            if (repeat) repeats++;
            else fresh++;
          }
          batches.push([...batch]);
          seen.push(...[...batch].filter((b) => !seen.includes(b)));
        }
        await upstream.call('reset');
        await parallel(batches.length, SETTINGS.costConcurrency, (i) =>
          client.request(LOOKUP_NUMBERS, { to: batches[i] }),
        );
        const counts = await upstream.call<{ queryCalls: number; queryNumbers: number }>('counts');
        const numbersRequested = batches.length * workload.size;
        const key = `${workload.name}, cache ${cacheTtlMs ? 'on' : 'off'}`;
        const callsPerRequest = counts.queryCalls / batches.length;
        const numbersPerNumber = counts.queryNumbers / numbersRequested;
        cost[key] = {
          ...counts,
          requests: batches.length,
          numbersRequested,
          repeatShare: repeats / numbersRequested,
        };
        log(
          `(c) ${key}: ${round(callsPerRequest, 3)} calls/request, ${round(numbersPerNumber, 3)} numbers sent/number`,
        );
        const target = cacheTtlMs && workload.size === 1 ? { op: '<=' as const, value: 0.55 } : undefined;
        row(
          'c cost',
          `${key}: provider calls per request`,
          round(callsPerRequest, 3),
          'calls',
          target,
          `${round((repeats / numbersRequested) * 100, 1)}% repeats, ${batches.length} requests, ${SETTINGS.costConcurrency} in flight`,
        );
        row('c cost', `${key}: numbers sent per number requested`, round(numbersPerNumber, 3), '×');
      }
    } finally {
      await client.close();
      await stop(gateway);
    }
  }
  raw.cost = cost;
}

// ---------------------------------------------------------------------------------------------------------------

function printTable(): void {
  const lines = rows.map((r) => [
    r.section,
    r.metric,
    `${r.value} ${r.unit}`,
    r.target ? `${r.target.op} ${r.target.value}` : '',
    r.pass === undefined ? '' : r.pass ? 'PASS' : 'FAIL',
    r.note ?? '',
  ]);
  const header = ['section', 'metric', 'value', 'target', '', 'note'];
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const fmt = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  const out = [fmt(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...lines.map(fmt)];
  process.stdout.write(`${out.join('\n')}\n`);
}

function machine() {
  return {
    nproc: CORES,
    cpu: cpus()[0]?.model ?? 'unknown',
    memoryGb: Math.round(totalmem() / 1e9),
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    pinned: canPin(),
    cores: { server: SERVER_CORE, load: LOAD_CORE, upstream: UPSTREAM_CORE },
    openFilesLimit: openFilesLimit(),
  };
}

function openFilesLimit(): number | undefined {
  try {
    return Number(execFileSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim()) || undefined;
  } catch {
    return undefined;
  }
}

async function main(): Promise<void> {
  const startedAt = new Date();
  const loadAtStart = loadavg()[0];
  if (canPin()) pin(process.pid, LOAD_CORE);
  log(
    `machine: ${JSON.stringify(machine())}; ${QUICK ? 'quick' : 'full'} run, sections ${[...ONLY].join(',')}`,
  );
  if (loadAtStart > 0.5) {
    log(
      `warning: load average ${loadAtStart.toFixed(2)} at start; other work on this machine skews the figures`,
    );
  }
  const upstream = await child<ServerReady>(
    'server-main',
    // The bench posts callbacks itself, timed; the simulator's own would come long after the run.
    { kind: 'simulator', callbackDelayMs: 600_000 } satisfies ServerConfig,
    UPSTREAM_CORE,
  );
  try {
    if (ONLY.has('a')) {
      const load = await child<object>('load-main', {}, LOAD_CORE);
      try {
        await benchSync(upstream, load);
      } finally {
        await stop(load);
      }
    }
    const asyncEnv = {
      ASYNC_RESULT_TIMEOUT_MS: '600000',
      REQUEST_RETENTION_MS: '900000',
      WS_KEEPALIVE_MS: String(KEEPALIVE_MS),
    };
    if (ONLY.has('b')) {
      const gateway = await startGateway(upstream, asyncEnv, SERVER_CORE);
      try {
        await benchAsync(
          {
            label: 'one instance, in-process pub/sub',
            section: 'b async',
            gateways: [gateway],
            callbackTarget: gateway,
          },
          upstream,
        );
      } finally {
        await stop(gateway);
      }
    }
    if (ONLY.has('c')) await benchCost(upstream);
    if (ONLY.has('d')) {
      const prefix = `bench:${process.pid}:${Date.now()}:`;
      const env = { ...asyncEnv, REDIS_URL, REDIS_KEY_PREFIX: prefix };
      const a = await startGateway(upstream, env, SERVER_CORE);
      const b = await startGateway(upstream, env, SERVER_CORE).catch(async (e: unknown) => {
        await stop(a);
        throw e;
      });
      try {
        await benchAsync(
          {
            label: 'two instances sharing Redis; subscribers on A, callbacks to B',
            section: 'd redis',
            gateways: [a, b],
            callbackTarget: b,
          },
          upstream,
        );
      } finally {
        await stop(a, b);
        await deleteKeys(prefix);
      }
    }
  } finally {
    await stop(upstream, ...children);
  }
  const finishedAt = new Date();
  const report = {
    startedAt: startedAt.toISOString(),
    durationS: Math.round((finishedAt.getTime() - startedAt.getTime()) / 1_000),
    quick: QUICK,
    loadAverage: { atStart: loadAtStart, atEnd: loadavg()[0] },
    machine: machine(),
    settings: SETTINGS,
    rows,
    raw,
  };
  printTable();
  writeFileSync(OUT, `${JSON.stringify(report, null, 2)}\n`);
  const failed = rows.filter((r) => r.pass === false).length;
  process.stdout.write(
    `\n${rows.filter((r) => r.pass).length} targets met, ${failed} not met; ${report.durationS} s. JSON: ${OUT}\n`,
  );
}

async function deleteKeys(prefix: string): Promise<void> {
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1_000);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(
    `bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  if (rows.length > 0) printTable();
  process.exitCode = 1;
  void Promise.all([...children].map((c) => c.stop())).finally(() => process.exit(1));
});
