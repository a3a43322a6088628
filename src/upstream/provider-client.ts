import type { IncomingHttpHeaders } from 'node:http';
import { Pool } from 'undici';
import { GatewayErrorCode, UpstreamError, type UpstreamDetails } from '../errors';
import { createLogger, type Logger } from '../observability/logger';
import { fullJitterDelayMs, parseRetryAfterMs } from './backoff';
import { CircuitBreaker, type BreakerState } from './circuit-breaker';
import {
  ProviderShapeError,
  parseErrorBody,
  parseLogsResponse,
  parseResultsResponse,
} from './provider-schemas';
import type {
  ProviderLogsQuery,
  ProviderLogsResponse,
  ProviderNotifyRequest,
  ProviderQueryRequest,
  ProviderResultsResponse,
} from './provider-types';

export type { BreakerState };

/** The three provider operations, as named in hooks, logs and metrics. */
export type ProviderEndpoint = 'query' | 'notify' | 'logs';

/** Retry policy of {@link ProviderClient}. Only query and logs retry freely; see {@link ProviderClient.notify}. */
export interface ProviderRetryOptions {
  /** Attempts per call, the first included. Default `3`; `1` disables retries. */
  maxAttempts?: number;
  /** Ceiling of the first backoff (full jitter: the actual delay is random in `[0, ceiling)`). Default `200` ms. */
  baseDelayMs?: number;
  /** Cap of the exponential backoff ceiling. Does not shorten a provider's `Retry-After`. Default `2_000` ms. */
  maxDelayMs?: number;
  /**
   * Budget for one call: all attempts and the waits between them. A wait (backoff or `Retry-After`) that would
   * reach past it ends the call with the last failure instead, and each attempt's deadline is clipped to what is
   * left of it. Default `15_000` ms.
   */
  maxTotalMs?: number;
}

/** Circuit breaker of {@link ProviderClient}: one per client, shared by all three endpoints. */
export interface ProviderBreakerOptions {
  /** Consecutive counted failures (5xx, network error, timeout, truncated body) that open it. Default `5`. */
  failureThreshold?: number;
  /** How long it fails calls fast before letting one probe through. Default `10_000` ms. */
  cooldownMs?: number;
}

/**
 * Observation points for metrics. Hooks are called synchronously; an exception a hook throws is logged and
 * swallowed, never changing the outcome of a call.
 */
export interface ProviderClientHooks {
  /**
   * Once per attempt that reached the network (breaker fast-fails are not attempts: see `breaker`). `outcome` is
   * `'ok'` or the {@link GatewayErrorCode} that attempt would have failed with; `status` is the HTTP status when
   * the provider answered.
   */
  call?(e: { endpoint: ProviderEndpoint; outcome: string; status?: number; durationMs: number }): void;
  /** Before each retry wait. `attempt` is the number of the attempt about to be made (2 for the first retry). */
  retry?(e: { endpoint: ProviderEndpoint; attempt: number; delayMs: number; reason: string }): void;
  /** On every breaker state change. */
  breaker?(state: BreakerState): void;
}

/** Options of {@link ProviderClient}. */
export interface ProviderClientOptions {
  /**
   * The provider's base URL, e.g. `https://xyz.api.infobip.com`; a path prefix is kept (`https://proxy/infobip`).
   * Userinfo (`https://user:pass@host`) is stripped: never sent, logged or shown (the provider authenticates with
   * `apiKey`). The constructor throws if it is not an absolute http(s) URL without query or fragment.
   */
  baseUrl: string;
  /** Sent as `Authorization: App <apiKey>`. Required; never appears in errors or logs. */
  apiKey: string;
  /**
   * Deadline of one attempt, covering connect, response headers AND the whole body: a provider that sends headers
   * and then stalls fails within it (as a retryable `UPSTREAM_UNAVAILABLE`). Default `10_000` ms.
   */
  timeoutMs?: number;
  /** Retry policy. Defaults: 3 attempts, 200 ms base, 2_000 ms cap, 15_000 ms total. */
  retry?: ProviderRetryOptions;
  /** Circuit breaker. Defaults: 5 consecutive failures, 10_000 ms cooldown. */
  breaker?: ProviderBreakerOptions;
  /** Keep-alive connections per origin. Default `32`. */
  connections?: number;
  /** Where state changes, retries and failures are logged. Default: silent. */
  logger?: Logger;
  /** Metrics hooks. Default: none. */
  hooks?: ProviderClientHooks;
}

/** Per-call options of {@link ProviderClient}'s methods. */
export interface ProviderCallOptions {
  /** Cancels the call: see {@link ProviderClient} for what a cancelled call rejects with. */
  signal?: AbortSignal;
  /** The operation the call is made for: every log line of the call carries it as `reqId`. */
  requestId?: string;
}

/** Largest provider body read: 1000 results of a few hundred bytes each fit many times over. */
const MAX_RESPONSE_BYTES = 16_777_216;
/** Idle keep-alive sockets are closed after this, below the usual 5 s (Node) to 60 s (load balancers) of servers. */
const KEEP_ALIVE_TIMEOUT_MS = 4_000;
/** Default deadline of {@link ProviderClient.ping}: a readiness probe must answer well within its own timeout. */
const PING_TIMEOUT_MS = 2_000;
/** Longest provider text copied into `extensions.upstream.text`. */
const MAX_UPSTREAM_TEXT_CHARS = 200;

const PATHS: Record<ProviderEndpoint, string> = {
  query: '/number/1/query',
  notify: '/number/1/notify',
  logs: '/number/1/logs',
};

/** Errors raised before the connection exists: the provider cannot have seen a single byte of the request. */
const CONNECT_PHASE_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EAI_NONAME',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'EADDRNOTAVAIL',
  'UND_ERR_CONNECT_TIMEOUT',
]);
const CONNECT_PHASE_SYSCALLS = new Set(['connect', 'getaddrinfo']);
const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

/** A prepared call: what to send, how to read a 2xx body, and which strings must never leave in provider text. */
interface ProviderCall<T> {
  endpoint: ProviderEndpoint;
  method: 'GET' | 'POST';
  path: string;
  body?: string;
  parse(json: unknown): T;
  secrets: string[];
  /**
   * What a JSON 2xx whose body cannot be used (cut off, not JSON after all, another shape) stands for, when the
   * status alone says the call succeeded (notify: the provider took the lookup). Unset: such an answer fails.
   */
  unreadable?: () => T;
}

/** Why one attempt failed, and what that means for retries, the breaker and the caller. */
interface AttemptFailure {
  code: UpstreamError['extensions']['code'];
  /** Safe for clients: no secrets, no raw provider body. */
  message: string;
  upstream: UpstreamDetails;
  /** Short, safe label for logs and the retry hook: `HTTP 503`, `timeout`, `ECONNREFUSED`. */
  reason: string;
  status?: number;
  /** Another attempt may succeed (429, 5xx, network, timeout). */
  retryable: boolean;
  /** Certain that the provider never received the request (connect-phase error, refusal): safe to resend notify. */
  notSent: boolean;
  /** Certain that the provider refused the request without acting on it (a 4xx answer). */
  refused: boolean;
  breaker: 'success' | 'failure' | 'abandon';
  retryAfterMs?: number;
}

type AttemptResult<T> = { ok: true; value: T } | { ok: false; failure: AttemptFailure };

/**
 * The gateway's only door to the provider's Number Lookup API: an undici keep-alive pool, a per-attempt deadline,
 * retries with full-jitter backoff, and a circuit breaker. Every failure leaves as an {@link UpstreamError}:
 *
 * - 401/403 → `UPSTREAM_UNAUTHORIZED` (an operator problem: the gateway's credentials), never retried;
 * - 400 → `UPSTREAM_BAD_REQUEST` with the provider's `messageId`/`text` in `extensions.upstream`, never retried;
 * - 429 → retried, honouring `Retry-After`; still 429 at the end → `UPSTREAM_RATE_LIMITED`;
 * - 5xx, network errors, timeouts → retried (query, logs); still failing → `UPSTREAM_UNAVAILABLE`;
 * - a 2xx that is not JSON, truncated or not the documented shape, and other statuses → `UPSTREAM_BAD_RESPONSE`;
 * - breaker open → `UPSTREAM_UNAVAILABLE` at once, without calling the provider.
 *
 * A call cancelled through its `signal` rejects with a non-retryable `UPSTREAM_UNAVAILABLE` saying so. Methods
 * never throw anything but {@link UpstreamError}; the constructor throws `TypeError`/`RangeError` for bad options.
 */
export class ProviderClient {
  private readonly pool: Pool;
  private readonly pathPrefix: string;
  /** Request headers, built once (undici does not change them). */
  private readonly headers: { get: Record<string, string>; post: Record<string, string> };
  private readonly secrets: string[];
  private readonly timeoutMs: number;
  private readonly maxAttempts: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly maxTotalMs: number;
  private readonly breaker: CircuitBreaker;
  private readonly logger: Logger;
  private readonly hooks: ProviderClientHooks;
  private disposed?: Promise<void>;

  /** Validates the options and creates the pool; no connection is opened until the first call. */
  constructor(options: ProviderClientOptions) {
    const target = parseBaseUrl(options.baseUrl);
    if (typeof options.apiKey !== 'string' || options.apiKey.length === 0) {
      throw new TypeError('ProviderClient: apiKey is required (set INFOBIP_API_KEY).');
    }
    // Checked here rather than left to undici, whose error could quote the offending header value.
    if (!/^[\x21-\x7e]+$/.test(options.apiKey)) {
      throw new TypeError(
        'ProviderClient: apiKey contains characters that are not allowed in an HTTP header.',
      );
    }
    this.pathPrefix = target.pathPrefix;
    const get = { authorization: `App ${options.apiKey}`, accept: 'application/json' };
    this.headers = { get, post: { ...get, 'content-type': 'application/json' } };
    this.secrets = [options.apiKey, ...target.userinfo];
    this.timeoutMs = positive('timeoutMs', options.timeoutMs ?? 10_000);
    this.maxAttempts = positiveInteger('retry.maxAttempts', options.retry?.maxAttempts ?? 3);
    this.baseDelayMs = nonNegative('retry.baseDelayMs', options.retry?.baseDelayMs ?? 200);
    this.maxDelayMs = nonNegative('retry.maxDelayMs', options.retry?.maxDelayMs ?? 2_000);
    this.maxTotalMs = positive('retry.maxTotalMs', options.retry?.maxTotalMs ?? 15_000);
    this.hooks = options.hooks ?? {};
    // Bindings (component etc.) are the caller's to choose: app.ts already names its child logger.
    this.logger = options.logger ?? createLogger({ level: 'silent' });
    this.breaker = new CircuitBreaker({
      failureThreshold: options.breaker?.failureThreshold,
      cooldownMs: options.breaker?.cooldownMs,
      onStateChange: (state) => {
        this.logger.warn({ breaker: state }, `provider circuit breaker ${state}`);
        this.report('breaker', () => this.hooks.breaker?.(state));
      },
    });
    // Idle keep-alive sockets the provider closes: undici drops a socket whose FIN/RST has arrived, checks a
    // reused idle socket for one before writing to it, and re-queues requests not yet written when a socket dies.
    // What is left is a close racing the write itself; query and logs retry it as a network error, notify cannot
    // know whether the provider read the request first and reports the outcome as unknown.
    this.pool = new Pool(target.origin, {
      connections: positiveInteger('connections', options.connections ?? 32),
      keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
      // undici's own timers are per-phase inactivity timers; the per-attempt deadline in attempt() is the real
      // bound, these only make sure nothing outlives it if a signal were ever lost.
      headersTimeout: this.timeoutMs,
      bodyTimeout: this.timeoutMs,
      // Half the deadline: a connect that hangs then fails as a connect error (certainly not sent, so a notify may
      // be resent) instead of being swallowed by the attempt deadline as an ambiguous timeout.
      connectTimeout: Math.max(1, Math.floor(this.timeoutMs / 2)),
      maxResponseSize: MAX_RESPONSE_BYTES,
    });
    if (target.userinfo.length > 0) {
      this.logger.warn(
        { origin: target.origin },
        'provider baseUrl carries credentials: ignored, apiKey is used',
      );
    }
    this.logger.debug({ origin: target.origin }, 'provider client created');
  }

  /** The circuit breaker's state (see {@link CircuitBreaker.state}: `open` until the next call probes). */
  get breakerState(): BreakerState {
    return this.breaker.state;
  }

  /**
   * Synchronous lookup: POST /number/1/query with `{ to }` (numbers already normalised, at most 1000). Retried on
   * 429, 5xx, network errors and timeouts within the retry policy. Rejects with an {@link UpstreamError} only.
   */
  query(to: string[], options?: ProviderCallOptions): Promise<ProviderResultsResponse> {
    const body: ProviderQueryRequest = { to };
    return this.run(
      {
        endpoint: 'query',
        method: 'POST',
        path: PATHS.query,
        body: JSON.stringify(body),
        parse: parseResultsResponse,
        secrets: [],
      },
      options,
    );
  }

  /**
   * Asynchronous lookup: POST /number/1/notify with `notifyContentType: application/json`; resolves with the
   * provider's PENDING acknowledgement. A second notify is a second charge, so it is resent ONLY when the provider
   * certainly did not act on the first: the connection was never established (refused, DNS failure, connect
   * timeout), or the provider answered 429. Anything else after the request may have left — a timeout, a dropped
   * or reset connection (even on a reused keep-alive socket: the provider may have read the request before the
   * reset), a 5xx — rejects at once with `UPSTREAM_UNAVAILABLE` and `extensions.upstream.outcomeKnown: false`: the
   * provider may have accepted the lookup and will then call `notifyUrl`. Every notify error carries
   * `outcomeKnown`. A JSON 2xx whose body cannot be used (cut off, not JSON after all, of another shape) resolves
   * with no results and no `bulkId`, logged at warn: the provider took the lookup; a 2xx that is not JSON (a proxy's
   * page, a wrong base URL) fails with the outcome unknown. `notifyUrl` (which holds a callback secret) never
   * appears in errors or logs.
   */
  notify(to: string[], notifyUrl: string, options?: ProviderCallOptions): Promise<ProviderResultsResponse> {
    const body: ProviderNotifyRequest = { to, notifyUrl, notifyContentType: 'application/json' };
    return this.run(
      {
        endpoint: 'notify',
        method: 'POST',
        path: PATHS.notify,
        body: JSON.stringify(body),
        parse: parseResultsResponse,
        secrets: [notifyUrl, encodeURIComponent(notifyUrl)],
        // The provider answering JSON 2xx took the lookup, whatever the body says: it will charge and call back,
        // and what is lost is only the acknowledgement's ids. (A 2xx that is not JSON may well be a proxy or a
        // wrong base URL speaking: that stays an error, with the outcome unknown.)
        unreadable: () => ({ results: [] }),
      },
      options,
    );
  }

  /**
   * History of sent lookups: GET /number/1/logs. `bulkId` and `messageId` are sent as repeated query parameters
   * (`?bulkId=a&bulkId=b`). Retried like {@link query}; note the provider throttles this endpoint at 60 requests
   * per minute. Rejects with an {@link UpstreamError} only.
   */
  logs(query: ProviderLogsQuery, options?: ProviderCallOptions): Promise<ProviderLogsResponse> {
    return this.run(
      {
        endpoint: 'logs',
        method: 'GET',
        path: PATHS.logs + logsQueryString(query),
        parse: parseLogsResponse,
        secrets: [],
      },
      options,
    );
  }

  /**
   * Cheap reachability probe for `/readyz`: a HEAD of the base URL without credentials, so it costs no lookup and
   * none of the logs endpoint's 60/min quota. True when the origin answers with any status below 500 within
   * `timeoutMs` (default 2_000 ms, capped by the client's `timeoutMs`). Ignores the breaker and does not feed it.
   * Never throws: any failure, timeout or a disposed client is `false`.
   */
  async ping(timeoutMs: number = Math.min(this.timeoutMs, PING_TIMEOUT_MS)): Promise<boolean> {
    if (this.disposed) return false;
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), timeoutMs);
    try {
      const response = await this.pool.request({
        method: 'HEAD',
        path: this.pathPrefix || '/',
        signal: controller.signal,
      });
      await response.body.dump();
      return response.statusCode < 500;
    } catch {
      return false;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Closes the pool: in-flight attempts may finish for `graceMs` (default `timeoutMs`), then their connections
   * are destroyed (they fail as network errors); idle sockets close; later calls reject with
   * `UPSTREAM_UNAVAILABLE` and `ping()` returns false. Idempotent; never throws.
   */
  dispose(graceMs: number = this.timeoutMs): Promise<void> {
    this.disposed ??= new Promise<void>((resolve) => {
      const cut = setTimeout(() => void this.pool.destroy().catch(() => undefined), graceMs);
      cut.unref();
      void this.pool
        .close()
        .catch(() => undefined)
        .finally(() => {
          clearTimeout(cut);
          resolve();
        });
    });
    return this.disposed;
  }

  private async run<T>(call: ProviderCall<T>, options: ProviderCallOptions = {}): Promise<T> {
    const { endpoint } = call;
    const { signal, requestId: reqId } = options;
    const startedMs = performance.now();
    for (let attempt = 1; ; attempt++) {
      // Outside an attempt nothing is in flight, and notify only loops after failures it knows were not acted on.
      if (signal?.aborted) throw this.fail(call, cancelledFailure(endpoint, true), attempt - 1, reqId);
      if (this.disposed) throw this.fail(call, disposedFailure(endpoint), attempt - 1, reqId);
      const permit = this.breaker.tryAcquire();
      if (!permit) throw this.fail(call, this.breakerOpenFailure(endpoint), attempt - 1, reqId);

      const attemptTimeoutMs = Math.max(1, Math.min(this.timeoutMs, this.maxTotalMs - elapsedMs(startedMs)));
      const attemptStartedMs = performance.now();
      const result = await this.attempt(call, attemptTimeoutMs, signal);
      const durationMs = elapsedMs(attemptStartedMs);
      const status = result.ok ? undefined : result.failure.status;
      const outcome = result.ok ? 'ok' : result.failure.code;
      this.report('call', () => this.hooks.call?.({ endpoint, outcome, status, durationMs }));
      if (this.logger.isLevelEnabled('debug')) {
        this.logger.debug({ reqId, endpoint, attempt, outcome, status, durationMs }, 'provider attempt');
      }

      if (result.ok) {
        permit.success();
        return result.value;
      }
      const failure = result.failure;
      permit[failure.breaker]();

      const mayResend = endpoint === 'notify' ? failure.notSent || failure.refused : true;
      if (!failure.retryable || !mayResend || attempt >= this.maxAttempts) {
        throw this.fail(call, failure, attempt, reqId);
      }
      const delayMs = failure.retryAfterMs ?? fullJitterDelayMs(attempt, this.baseDelayMs, this.maxDelayMs);
      if (delayMs >= this.maxTotalMs - elapsedMs(startedMs)) {
        // Retrying sooner than Retry-After would only earn another refusal, and waiting past the budget is what
        // the budget forbids: give up now and let the caller see the provider's wish in retryAfterMs.
        throw this.fail(call, failure, attempt, reqId);
      }
      this.report('retry', () =>
        this.hooks.retry?.({ endpoint, attempt: attempt + 1, delayMs, reason: failure.reason }),
      );
      this.logger.info(
        { reqId, endpoint, attempt, reason: failure.reason, delayMs },
        'retrying provider call',
      );
      if (!(await sleep(delayMs, signal)))
        throw this.fail(call, cancelledFailure(endpoint, true), attempt, reqId);
    }
  }

  private async attempt<T>(
    call: ProviderCall<T>,
    attemptTimeoutMs: number,
    signal?: AbortSignal,
  ): Promise<AttemptResult<T>> {
    // One controller per attempt: its deadline covers connect, headers and body, and undici destroys the body
    // stream when it fires, so a provider that sends headers and then stalls cannot hold the call open.
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort(new Error('provider attempt deadline'));
    }, attemptTimeoutMs);
    const onCallerAbort = (): void => controller.abort(signal?.reason);
    signal?.addEventListener('abort', onCallerAbort, { once: true });
    let status: number | undefined;
    let headers: IncomingHttpHeaders = {};
    try {
      const response = await this.pool.request({
        method: call.method,
        path: this.pathPrefix + call.path,
        headers: call.body === undefined ? this.headers.get : this.headers.post,
        body: call.body,
        signal: controller.signal,
      });
      status = response.statusCode;
      headers = response.headers;
      const text = await readText(response.body, headers['content-type']);
      return this.interpret(call, status, headers, text);
    } catch (error) {
      if (timedOut) return { ok: false, failure: timeoutFailure(call.endpoint, attemptTimeoutMs, status) };
      if (signal?.aborted) return { ok: false, failure: cancelledFailure(call.endpoint, false) };
      // The status of an error answer says it all; its body is only a nicety, so losing it changes nothing.
      if (status !== undefined && (status < 200 || status >= 300))
        return this.interpret(call, status, headers, '');
      const accepted = status === undefined ? undefined : this.acceptUnreadable(call, status, headers);
      if (accepted) return accepted;
      return { ok: false, failure: networkFailure(call.endpoint, error, status) };
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onCallerAbort);
    }
  }

  private interpret<T>(
    call: ProviderCall<T>,
    status: number,
    headers: IncomingHttpHeaders,
    text: string,
  ): AttemptResult<T> {
    const { endpoint } = call;
    const notify = endpoint === 'notify';
    if (status >= 200 && status < 300) {
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        const accepted = this.acceptUnreadable(call, status, headers);
        if (accepted) return accepted;
        const problem = text.trim() === '' ? 'an empty body' : 'a body that is not JSON';
        return { ok: false, failure: badResponse(endpoint, status, `HTTP ${status} with ${problem}`) };
      }
      try {
        return { ok: true, value: call.parse(json) };
      } catch (error) {
        const accepted = this.acceptUnreadable(call, status, headers);
        if (accepted) return accepted;
        const where = error instanceof ProviderShapeError ? error.path : 'unknown';
        return {
          ok: false,
          failure: badResponse(endpoint, status, `a body of unexpected shape (at ${where})`),
        };
      }
    }

    const details = this.providerDetails(call, status, text);
    const refusal = { status, retryable: false, notSent: false, refused: true, breaker: 'success' } as const;
    if (status === 401 || status === 403) {
      return {
        ok: false,
        failure: {
          ...refusal,
          code: GatewayErrorCode.UPSTREAM_UNAUTHORIZED,
          message:
            `The provider refused the gateway's own credentials (HTTP ${status}): an operator must check the ` +
            'configured provider API key and account permissions. Nothing is wrong with the request itself.',
          upstream: withOutcome(notify, true, details),
          reason: `HTTP ${status}`,
        },
      };
    }
    if (status === 400) {
      return {
        ok: false,
        failure: {
          ...refusal,
          code: GatewayErrorCode.UPSTREAM_BAD_REQUEST,
          message: `The provider rejected the request as invalid${details.text ? `: ${details.text}` : '.'}`,
          upstream: withOutcome(notify, true, details),
          reason: 'HTTP 400',
        },
      };
    }
    if (status === 429) {
      const retryAfterMs = parseRetryAfterMs(headers['retry-after']);
      return {
        ok: false,
        failure: {
          ...refusal,
          code: GatewayErrorCode.UPSTREAM_RATE_LIMITED,
          message: 'The provider is rate-limiting the gateway (HTTP 429); try again later.',
          upstream: withOutcome(notify, true, details),
          reason: 'HTTP 429',
          retryable: true,
          retryAfterMs,
        },
      };
    }
    if (status >= 500 || status === 408) {
      return {
        ok: false,
        failure: {
          code: GatewayErrorCode.UPSTREAM_UNAVAILABLE,
          message: `The provider is unavailable (HTTP ${status}).`,
          upstream: withOutcome(notify, false, details),
          reason: `HTTP ${status}`,
          status,
          retryable: true,
          notSent: false,
          refused: false,
          breaker: 'failure',
          retryAfterMs: parseRetryAfterMs(headers['retry-after']),
        },
      };
    }
    // 3xx (not followed: a redirect of a POST is not ours to replay), 404 (a wrong base URL path) and other 4xx:
    // the provider did not act on it, and asking again will not change the answer.
    return {
      ok: false,
      failure: {
        ...refusal,
        code: GatewayErrorCode.UPSTREAM_BAD_RESPONSE,
        message: `The provider answered with unexpected HTTP status ${status}.`,
        upstream: withOutcome(notify, true, details),
        reason: `HTTP ${status}`,
      },
    };
  }

  /** The call's `unreadable` answer for a JSON 2xx whose body could not be used, logged; else undefined. */
  private acceptUnreadable<T>(
    call: ProviderCall<T>,
    status: number,
    headers: IncomingHttpHeaders,
  ): AttemptResult<T> | undefined {
    const type = String(headers['content-type'] ?? '')
      .split(';')[0]
      .trim();
    if (!call.unreadable || !/^application\/(.+\+)?json$/i.test(type)) return undefined;
    this.logger.warn(
      { endpoint: call.endpoint, status },
      `the provider accepted the ${call.endpoint} call, but its answer could not be read: taken without it`,
    );
    return { ok: true, value: call.unreadable() };
  }

  /** messageId/text from a provider error body, cut short and scrubbed of anything secret it might echo. */
  private providerDetails(call: ProviderCall<unknown>, status: number, text: string): UpstreamDetails {
    const parsed = parseErrorBody(text);
    const details: UpstreamDetails = { status };
    if (parsed.messageId !== undefined) details.messageId = this.scrub(call, parsed.messageId, 100);
    if (parsed.text !== undefined) details.text = this.scrub(call, parsed.text, MAX_UPSTREAM_TEXT_CHARS);
    return details;
  }

  private scrub(call: ProviderCall<unknown>, text: string, maxChars: number): string {
    let out = text;
    for (const secret of [...this.secrets, ...call.secrets]) {
      if (secret.length > 0) out = out.split(secret).join('[redacted]');
    }
    return out.length > maxChars ? `${out.slice(0, maxChars - 1)}…` : out;
  }

  private breakerOpenFailure(endpoint: ProviderEndpoint): AttemptFailure {
    return {
      code: GatewayErrorCode.UPSTREAM_UNAVAILABLE,
      message:
        'The provider is unavailable: the circuit breaker is open after repeated failures, so calls fail fast ' +
        `without reaching the provider for about ${this.breaker.remainingCooldownMs} ms more.`,
      upstream: withOutcome(endpoint === 'notify', true, {}),
      reason: 'breaker open',
      retryable: true,
      notSent: true,
      refused: false,
      breaker: 'abandon',
    };
  }

  /** The error the caller sees, logged once at the level its cause deserves. */
  private fail(
    call: ProviderCall<unknown>,
    failure: AttemptFailure,
    attempts: number,
    reqId: string | undefined,
  ): UpstreamError {
    const { endpoint } = call;
    const { code } = failure;
    const outcomeUnknown = endpoint === 'notify' && failure.upstream.outcomeKnown === false;
    let message = failure.message;
    if (outcomeUnknown && code === GatewayErrorCode.UPSTREAM_BAD_RESPONSE) {
      message +=
        ` The provider accepted the asynchronous lookup (HTTP ${failure.status ?? '2xx'}), so results will still reach ` +
        'the callback URL; it was not resent, because a second request would be a second charge.';
    } else if (outcomeUnknown) {
      message =
        `The provider did not confirm the asynchronous lookup (${failure.reason}): its outcome is unknown. The ` +
        'provider may have accepted it (and will then deliver results to the callback URL); it was not resent, ' +
        'because a second request would be a second charge.';
    } else if (code === GatewayErrorCode.UPSTREAM_RATE_LIMITED && attempts > 1) {
      message = `The provider kept rate-limiting the gateway (HTTP 429) after ${attempts} attempts; try again later.`;
    } else if (attempts > 1) {
      message = `${message} Gave up after ${attempts} attempts.`;
    }
    const level = code === GatewayErrorCode.UPSTREAM_UNAUTHORIZED ? 'error' : 'warn';
    this.logger[level](
      { reqId, endpoint, code, reason: failure.reason, status: failure.status, attempts },
      message,
    );
    // Resending a notify whose outcome is unknown is exactly the double charge this client avoids.
    const retryable = failure.retryable && !outcomeUnknown;
    return new UpstreamError(code, message, failure.upstream, retryable, failure.retryAfterMs);
  }

  private report(hook: keyof ProviderClientHooks, fn: () => void): void {
    try {
      fn();
    } catch (error) {
      this.logger.warn(
        { hook, err: error instanceof Error ? error.name : typeof error },
        'provider hook threw',
      );
    }
  }
}

const CHARSET = /;\s*charset\s*=\s*"?([^";\s]+)/i;

/**
 * The body as text in the charset its `Content-Type` names (UTF-8 when none, or one TextDecoder does not know):
 * JSON is UTF-8 by its standard, but a provider or a proxy in front of it may say otherwise.
 */
async function readText(
  body: { text(): Promise<string>; arrayBuffer(): Promise<ArrayBuffer> },
  contentType: string | string[] | undefined,
): Promise<string> {
  const charset = CHARSET.exec(String(contentType ?? ''))?.[1]?.toLowerCase();
  if (!charset || charset === 'utf-8' || charset === 'utf8') return body.text();
  const bytes = await body.arrayBuffer();
  try {
    return new TextDecoder(charset).decode(bytes);
  } catch {
    return new TextDecoder().decode(bytes);
  }
}

function withOutcome(notify: boolean, outcomeKnown: boolean, details: UpstreamDetails): UpstreamDetails {
  return notify ? { ...details, outcomeKnown } : details;
}

function badResponse(
  endpoint: ProviderEndpoint,
  status: number | undefined,
  problem: string,
): AttemptFailure {
  return {
    code: GatewayErrorCode.UPSTREAM_BAD_RESPONSE,
    message: `The provider's answer could not be understood: ${problem}.`,
    // A notify that got a 2xx was accepted, whatever the body says: the provider will charge and call back.
    upstream: withOutcome(endpoint === 'notify', false, status === undefined ? {} : { status }),
    reason: 'bad response',
    status,
    retryable: false,
    notSent: false,
    refused: false,
    // The provider answered; a shape problem says nothing about its health, and must not open the breaker.
    breaker: 'success',
  };
}

function timeoutFailure(endpoint: ProviderEndpoint, timeoutMs: number, status?: number): AttemptFailure {
  const phase = status === undefined ? 'before it answered' : 'while it was sending its answer';
  return {
    code: GatewayErrorCode.UPSTREAM_UNAVAILABLE,
    message: `The provider is unavailable: it timed out after ${Math.round(timeoutMs)} ms ${phase}.`,
    upstream: withOutcome(endpoint === 'notify', false, status === undefined ? {} : { status }),
    reason: 'timeout',
    status,
    retryable: true,
    notSent: false,
    refused: false,
    breaker: 'failure',
  };
}

function cancelledFailure(endpoint: ProviderEndpoint, outcomeKnown: boolean): AttemptFailure {
  return {
    code: GatewayErrorCode.UPSTREAM_UNAVAILABLE,
    message: outcomeKnown
      ? 'The provider call was cancelled by the caller before it was sent.'
      : 'The provider call was cancelled by the caller while in flight.',
    upstream: withOutcome(endpoint === 'notify', outcomeKnown, {}),
    reason: 'cancelled',
    retryable: false,
    notSent: outcomeKnown,
    refused: false,
    breaker: 'abandon',
  };
}

function disposedFailure(endpoint: ProviderEndpoint): AttemptFailure {
  return {
    code: GatewayErrorCode.UPSTREAM_UNAVAILABLE,
    message: 'The provider client has been shut down.',
    upstream: withOutcome(endpoint === 'notify', true, {}),
    reason: 'disposed',
    retryable: false,
    notSent: true,
    refused: false,
    breaker: 'abandon',
  };
}

/** A transport error: `status` is set when it happened while reading the body of an answer. */
function networkFailure(endpoint: ProviderEndpoint, error: unknown, status?: number): AttemptFailure {
  const code = errorCode(error) ?? 'unknown';
  const notify = endpoint === 'notify';
  if (code === 'UND_ERR_CLOSED' || code === 'UND_ERR_DESTROYED') return disposedFailure(endpoint);
  if (TIMEOUT_CODES.has(code)) {
    return { ...timeoutFailure(endpoint, 0, status), message: 'The provider is unavailable: it timed out.' };
  }
  if (code === 'UND_ERR_RES_EXCEEDED_MAX_SIZE') {
    return badResponse(endpoint, status, 'a body larger than the gateway accepts');
  }
  if (isTls(code)) {
    return {
      code: GatewayErrorCode.UPSTREAM_UNAVAILABLE,
      message: `The provider is unavailable: the TLS handshake failed (${code}).`,
      upstream: withOutcome(notify, true, {}),
      reason: code,
      // A certificate problem does not fix itself within a retry budget.
      retryable: false,
      notSent: true,
      refused: false,
      breaker: 'failure',
    };
  }
  if (status !== undefined && status >= 200 && status < 300) {
    // Headers said success, then the connection died mid-body: the provider acted, its answer is lost.
    return {
      ...badResponse(endpoint, status, `the body was truncated (${code})`),
      reason: 'truncated',
      retryable: true,
      breaker: 'failure',
    };
  }
  const notSent = isConnectPhase(error);
  return {
    code: GatewayErrorCode.UPSTREAM_UNAVAILABLE,
    message: notSent
      ? `The provider is unavailable: the connection could not be established (${code}).`
      : `The provider is unavailable: the connection failed (${code}).`,
    upstream: withOutcome(notify, notSent, status === undefined ? {} : { status }),
    reason: code,
    status,
    retryable: true,
    notSent,
    refused: false,
    breaker: 'failure',
  };
}

function errorCode(error: unknown): string | undefined {
  if (error instanceof AggregateError) {
    const inner = error.errors.map(errorCode).find((c) => c !== undefined);
    if (inner) return inner;
  }
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** Connect-phase errors only; with happy eyeballs (several addresses) every address must have failed that way. */
function isConnectPhase(error: unknown): boolean {
  if (error instanceof AggregateError && error.errors.length > 0) return error.errors.every(isConnectPhase);
  const { code, syscall } = (error ?? {}) as { code?: unknown; syscall?: unknown };
  return (
    (typeof code === 'string' && CONNECT_PHASE_CODES.has(code)) ||
    (typeof syscall === 'string' && CONNECT_PHASE_SYSCALLS.has(syscall))
  );
}

function isTls(code: string): boolean {
  return (
    code.startsWith('ERR_TLS_') ||
    code.startsWith('ERR_SSL_') ||
    code.startsWith('CERT_') ||
    code.includes('SELF_SIGNED') ||
    code.startsWith('UNABLE_TO_')
  );
}

function logsQueryString(query: ProviderLogsQuery): string {
  const params = new URLSearchParams();
  const single = (key: string, value: string | number | undefined): void => {
    if (value !== undefined) params.append(key, String(value));
  };
  single('to', query.to);
  for (const id of query.bulkId ?? []) params.append('bulkId', id);
  for (const id of query.messageId ?? []) params.append('messageId', id);
  single('generalStatus', query.generalStatus);
  single('sentSince', query.sentSince);
  single('sentUntil', query.sentUntil);
  single('limit', query.limit);
  single('mcc', query.mcc);
  single('mnc', query.mnc);
  const text = params.toString();
  return text === '' ? '' : `?${text}`;
}

function parseBaseUrl(baseUrl: string): { origin: string; pathPrefix: string; userinfo: string[] } {
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch {
    // Not rethrown as is: URL's own error quotes the input, which may carry credentials.
    throw new TypeError(
      'ProviderClient: baseUrl must be an absolute URL such as https://xyz.api.infobip.com.',
    );
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new TypeError('ProviderClient: baseUrl must use http or https.');
  }
  if (url.search !== '' || url.hash !== '') {
    throw new TypeError('ProviderClient: baseUrl must not carry a query string or fragment.');
  }
  const userinfo = new Set<string>();
  for (const part of [url.username, url.password]) {
    if (part === '') continue;
    userinfo.add(part);
    userinfo.add(safeDecode(part));
  }
  return { origin: url.origin, pathPrefix: url.pathname.replace(/\/+$/, ''), userinfo: [...userinfo] };
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function elapsedMs(sinceMs: number): number {
  return performance.now() - sinceMs;
}

/** Resolves true after `ms`, or false as soon as `signal` aborts. */
function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function positive(name: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0) throw new RangeError(`ProviderClient: ${name} must be > 0.`);
  return value;
}

function nonNegative(name: string, value: number): number {
  if (!Number.isFinite(value) || value < 0) throw new RangeError(`ProviderClient: ${name} must be >= 0.`);
  return value;
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1)
    throw new RangeError(`ProviderClient: ${name} must be an integer >= 1.`);
  return value;
}
