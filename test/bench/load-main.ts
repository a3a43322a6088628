import autocannon from 'autocannon';
import { Pool } from 'undici';
import { childConfig, serveChild } from './children';
import { Samples, summarise, type LatencySummary } from './stats';

/** One HTTP request shape, repeated by both load modes. */
export interface LoadTarget {
  url: string;
  /** Sent in turn, one per request: distinct bodies keep the gateway from sharing provider calls between them. */
  bodies: string[];
  headers: Record<string, string>;
}

/** The next body of `target`, in turn. */
function rotation(target: LoadTarget): () => string {
  let next = 0;
  return () => target.bodies[next++ % target.bodies.length];
}

/** Result of a closed-loop run (autocannon). */
export interface ClosedLoopResult {
  rps: number;
  latency: LatencySummary;
  requests: number;
  errors: number;
  non2xx: number;
  startedAtMs: number;
  endedAtMs: number;
}

/** Result of an open-loop run at a fixed offered rate. */
export interface OpenLoopResult {
  offeredRps: number;
  achievedRps: number;
  /** From each request's scheduled send time, so a slow answer delays nothing and hides nothing. */
  latency: LatencySummary;
  errors: number;
  /** Requests still unanswered at the deadline (counted as errors too). */
  unfinished: number;
}

function runAutocannon(target: LoadTarget, connections: number, durationS: number) {
  const latencies = new Samples();
  let errors = 0;
  const startedAtMs = performance.now();
  const nextBody = rotation(target);
  return new Promise<ClosedLoopResult>((resolve, reject) => {
    const instance = autocannon(
      {
        url: target.url,
        requests: [
          {
            method: 'POST',
            headers: target.headers,
            setupRequest: (request) => ({ ...request, body: nextBody() }),
          },
        ],
        connections,
        pipelining: 1,
        duration: durationS,
        timeout: 10,
      },
      (error, result) => {
        if (error) {
          reject(error);
          return;
        }
        const endedAtMs = performance.now();
        resolve({
          rps: latencies.length / ((endedAtMs - startedAtMs) / 1_000),
          latency: summarise(latencies.values()),
          requests: latencies.length,
          errors: errors + result.errors + result.timeouts,
          non2xx: result.non2xx,
          startedAtMs,
          endedAtMs,
        });
      },
    );
    // autocannon's own histogram has 1 ms resolution; its per-response event carries the exact time.
    instance.on('response', (_client, statusCode, _bytes, responseTime) => {
      if (statusCode === 200) latencies.push(responseTime);
      else errors++;
    });
  });
}

async function runOpenLoop(
  pool: Pool,
  target: LoadTarget,
  rate: number,
  durationS: number,
): Promise<OpenLoopResult> {
  const path = new URL(target.url).pathname;
  const nextBody = rotation(target);
  const total = Math.max(1, Math.round(rate * durationS));
  const intervalMs = 1_000 / rate;
  const latencies = new Samples();
  let errors = 0;
  let finished = 0;
  const start = performance.now() + 10;
  await new Promise<void>((resolve) => {
    let sent = 0;
    const deadline = setTimeout(resolve, durationS * 1_000 + 15_000);
    const settle = () => {
      finished++;
      if (finished === total) {
        clearTimeout(deadline);
        resolve();
      }
    };
    // Requests go out on schedule whatever the server does: latency counts from the scheduled time.
    const tick = () => {
      const now = performance.now();
      while (sent < total && start + sent * intervalMs <= now) {
        const scheduled = start + sent * intervalMs;
        sent++;
        pool
          .request({ path, method: 'POST', headers: target.headers, body: nextBody() })
          .then(async (response) => {
            await response.body.text();
            if (response.statusCode === 200) latencies.push(performance.now() - scheduled);
            else errors++;
          })
          .catch(() => errors++)
          .finally(settle);
      }
      if (sent < total) setTimeout(tick, 1);
    };
    tick();
  });
  const elapsedS = (performance.now() - start) / 1_000;
  return {
    offeredRps: rate,
    achievedRps: latencies.length / Math.max(elapsedS, durationS),
    latency: summarise(latencies.values()),
    errors: errors + (total - finished),
    unfinished: total - finished,
  };
}

serveChild(async () => {
  childConfig<Record<string, never>>();
  return {
    ready: {},
    dispose: async () => undefined,
    handlers: {
      closed: async (args: {
        target: LoadTarget;
        connections: number;
        durationS: number;
        warmupS: number;
      }) => {
        if (args.warmupS > 0) await runAutocannon(args.target, args.connections, args.warmupS);
        return runAutocannon(args.target, args.connections, args.durationS);
      },
      open: async (args: { target: LoadTarget; rate: number; durationS: number; warmupS: number }) => {
        // One pool for warm-up and measurement: connections are open before the measured requests go out.
        const pool = new Pool(new URL(args.target.url).origin, {
          connections: 512,
          headersTimeout: 10_000,
          bodyTimeout: 10_000,
        });
        try {
          if (args.warmupS > 0) await runOpenLoop(pool, args.target, args.rate, args.warmupS);
          return await runOpenLoop(pool, args.target, args.rate, args.durationS);
        } finally {
          await pool.destroy();
        }
      },
    },
  };
});
