import http from 'node:http';
import https from 'node:https';
import type { Logger } from '../observability/logger';
import type { ProviderResultsResponse } from '../upstream/provider-types';
import type { RecordedCallback } from './types';

/** Each callback POST is abandoned (and counted as failed) after this long. */
export const CALLBACK_TIMEOUT_MS = 5_000;

/** Backoff step between re-POSTs: attempt n waits n × this. */
export const CALLBACK_RETRY_STEP_MS = 50;

/** Re-POSTs after a failed callback when the behaviour names none. */
export const DEFAULT_CALLBACK_RETRIES = 2;

/** One notify request's callbacks, ready to deliver. */
export interface CallbackPlan {
  url: URL;
  /** notifyUrl exactly as the client sent it, for the record (URL would normalise it). */
  notifyUrl: string;
  /** POST bodies in delivery order. */
  bodies: ProviderResultsResponse[];
  duplicate: boolean;
  retries: number;
}

/**
 * Delivers notify callbacks: sequentially per plan (so an intended order really is the arrival order), with
 * retries on non-2xx or failure, a {@link CALLBACK_TIMEOUT_MS} timeout per POST, and every attempt reported to
 * `onAttempt`. `dispose()` cancels what is scheduled, aborts what is in flight and closes kept-alive sockets.
 */
export class CallbackDispatcher {
  private active = 0;
  private disposed = false;
  private readonly sleepers = new Map<NodeJS.Timeout, () => void>();
  private readonly inflight = new Set<http.ClientRequest>();
  private idleWaiters: (() => void)[] = [];
  // keep-alive: per-number callbacks in a benchmark would otherwise open a connection per POST
  private readonly httpAgent = new http.Agent({ keepAlive: true });
  private readonly httpsAgent = new https.Agent({ keepAlive: true });

  constructor(
    private readonly onAttempt: (attempt: RecordedCallback) => void,
    private readonly logger: Logger,
  ) {}

  /** Delivers `plan` after `delayMs`; resolves when every POST of it is done (never rejects). */
  async deliver(plan: CallbackPlan, delayMs: number): Promise<void> {
    if (this.disposed) return;
    this.active += 1;
    try {
      if (delayMs > 0 && !(await this.sleep(delayMs))) return;
      for (const body of plan.bodies) {
        for (let copy = plan.duplicate ? 2 : 1; copy > 0; copy--) {
          if (!(await this.deliverOne(plan, body))) return;
        }
      }
    } finally {
      this.active -= 1;
      if (this.active === 0) this.wakeIdle();
    }
  }

  /** Resolves when nothing is scheduled or in flight. */
  idle(): Promise<void> {
    if (this.active === 0 || this.disposed) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Cancels scheduled deliveries and aborts in-flight POSTs; idempotent. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const [timer, wake] of this.sleepers) {
      clearTimeout(timer);
      wake();
    }
    this.sleepers.clear();
    for (const req of this.inflight) req.destroy(new Error('simulator disposed'));
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
    this.wakeIdle();
  }

  private wakeIdle(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const wake of waiters) wake();
  }

  /** Resolves true after `ms`, or false as soon as the dispatcher is disposed. */
  private sleep(ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.sleepers.delete(timer);
        resolve(!this.disposed);
      }, ms);
      this.sleepers.set(timer, () => resolve(false));
    });
  }

  /** False when disposed mid-way (the caller stops); true otherwise, delivered or not. */
  private async deliverOne(plan: CallbackPlan, body: ProviderResultsResponse): Promise<boolean> {
    const { url, notifyUrl, retries } = plan;
    const payload = Buffer.from(JSON.stringify(body));
    for (let attempt = 0; attempt <= retries; attempt++) {
      if (attempt > 0 && !(await this.sleep(CALLBACK_RETRY_STEP_MS * attempt))) return false;
      if (this.disposed) return false;
      const at = Date.now();
      const outcome = await this.post(url, payload);
      if (this.disposed) return false;
      this.onAttempt({ url: notifyUrl, body, ...outcome, at });
      if (outcome.status !== undefined && outcome.status >= 200 && outcome.status < 300) return true;
      this.logger.debug({ status: outcome.status, error: outcome.error, attempt }, 'callback attempt failed');
    }
    this.logger.warn({ retries }, 'callback not delivered, giving up');
    return true;
  }

  private post(url: URL, payload: Buffer): Promise<{ status?: number; error?: string }> {
    return new Promise((resolve) => {
      const secure = url.protocol === 'https:';
      const req = (secure ? https : http).request(url, {
        method: 'POST',
        agent: secure ? this.httpsAgent : this.httpAgent,
        headers: { 'content-type': 'application/json', 'content-length': payload.length },
      });
      let settled = false;
      const settle = (outcome: { status?: number; error?: string }): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.inflight.delete(req);
        resolve(outcome);
      };
      const timer = setTimeout(
        () => req.destroy(new Error(`callback timed out after ${CALLBACK_TIMEOUT_MS} ms`)),
        CALLBACK_TIMEOUT_MS,
      );
      this.inflight.add(req);
      req.on('error', (err) => settle({ error: err.message }));
      req.on('response', (res) => {
        const status = res.statusCode ?? 0;
        // drain the body so the kept-alive socket can be reused
        res.resume();
        res.on('end', () => settle({ status }));
        res.on('error', (err) => settle({ status, error: err.message }));
        res.on('close', () => settle({ status }));
      });
      req.end(payload);
    });
  }
}
