import type { Logger } from '../observability/logger';
import type { ProviderErrorBody, ProviderResultsResponse } from '../upstream/provider-types';

/** How the simulator is started; every field is optional. */
export interface SimulatorOptions {
  /**
   * The only API key accepted, sent as `Authorization: App <key>` (or `Bearer <key>`); any other or missing
   * header is answered 401 with the provider's `UNAUTHORIZED` body. Default `'simulator-key'`.
   */
  apiKey?: string;
  /** Interface to listen on. Default `'127.0.0.1'`. */
  host?: string;
  /** Port to listen on; `0` picks a free one (read it back from `url`). Default `0`. */
  port?: number;
  /** Artificial delay before every `/number/*` answer, including refusals. Default `0`. */
  latencyMs?: number;
  /** Delay between the notify acknowledgement and the first callback POST. Default `200`. */
  callbackDelayMs?: number;
  /** `'single'`: one callback POST with every result; `'per-number'`: one POST per number. Default `'single'`. */
  callbackMode?: 'single' | 'per-number';
  /** Where callback delivery problems are logged (never per request at info). Default: silent. */
  logger?: Logger;
}

/** One request the simulator received on `/number/*`, recorded before auth so refused ones are there too. */
export interface RecordedRequest {
  method: string;
  /** Path without the query string. */
  path: string;
  /** Every query parameter, repeated ones in order. */
  query: Record<string, string[]>;
  headers: Record<string, string | string[] | undefined>;
  /** The parsed JSON body; the raw text when it was not JSON; `undefined` when empty. */
  body: unknown;
  /** Epoch milliseconds of arrival. */
  at: number;
}

/** One callback POST attempt to a notifyUrl and how it ended (`status` on an answer, `error` on a failure). */
export interface RecordedCallback {
  url: string;
  body: ProviderResultsResponse;
  status?: number;
  error?: string;
  /** Epoch milliseconds when the attempt started. */
  at: number;
}

/** Which provider endpoint a fault applies to; `'any'` also matches unknown `/number/*` paths. */
export type FaultEndpoint = 'query' | 'notify' | 'logs' | 'any';

/** A failure to inject into the next matching `/number/*` answers (applied before the auth check). */
export type Fault =
  /**
   * Answer with this status. Default body: the provider error shape for 400/401/403/429/500, plain text for
   * 502/503/504. A string body is sent as-is (as JSON when it parses as JSON, else text/plain).
   */
  | { kind: 'status'; status: number; body?: ProviderErrorBody | string; retryAfter?: string }
  /** Delay by `ms`, then answer normally. */
  | { kind: 'latency'; ms: number }
  /** Send 200 headers and never the body; the socket is destroyed on dispose (or when the client gives up). */
  | { kind: 'stall-after-headers' }
  /**
   * 200 `application/json` carrying the first half of the real body, with a matching Content-Length so the
   * client sees a complete response that is not JSON. The request is processed (notify callbacks still go out).
   */
  | { kind: 'truncated' }
  /** 200 with an HTML page instead of JSON, as a misconfigured proxy would; the request is not processed. */
  | { kind: 'non-json' }
  /** Destroy the socket without answering; the request is not processed. */
  | { kind: 'drop' };

/** How the callbacks of one notify request are delivered. */
export interface CallbackBehaviour {
  /** Overrides `callbackDelayMs` (with `beforeAck`, the default delay is 0). */
  delayMs?: number;
  /** One POST per number instead of one for all. */
  perNumber?: boolean;
  /** Deliver every callback POST twice, back to back. */
  duplicate?: boolean;
  /** Deliver the per-number POSTs in reverse order (implies `perNumber`). */
  outOfOrder?: boolean;
  /** Deliver the callback(s), and wait until they are done, before answering the notify request. */
  beforeAck?: boolean;
  /** Re-POST up to this many times when notifyUrl answers non-2xx or fails, after 50 ms × attempt. Default 2. */
  retryOnFailure?: number;
}

/** Fault and callback-behaviour injection; both queues are FIFO and consumed by matching requests. */
export interface SimulatorFaults {
  /**
   * Queues `fault` for the next `times` (default 1, `Infinity` allowed) `/number/*` requests to `endpoint`
   * (default `'any'`). Throws TypeError/RangeError on a malformed fault or count.
   */
  inject(fault: Fault, opts?: { endpoint?: FaultEndpoint; times?: number }): void;
  /**
   * Queues `behaviour` for the callbacks of the next `times` (default 1) accepted notify requests.
   * Throws TypeError/RangeError on a malformed behaviour or count.
   */
  callbacks(behaviour: CallbackBehaviour, opts?: { times?: number }): void;
  /** Drops every queued fault and callback behaviour. */
  clear(): void;
}

/** A running provider simulator; see `startProviderSimulator`. */
export interface ProviderSimulator {
  /** Base URL, e.g. `http://127.0.0.1:54321` (no trailing slash). */
  readonly url: string;
  /** The accepted API key. */
  readonly apiKey: string;
  /** Every request to `/number/*`, in arrival order, including refused ones. */
  readonly received: RecordedRequest[];
  /** Every callback POST attempt made, with its outcome. */
  readonly callbacks: RecordedCallback[];
  /** Fault and callback-behaviour injection. */
  readonly faults: SimulatorFaults;
  /** Changes latency and callback defaults for requests arriving from now on. Throws RangeError on bad values. */
  setOptions(
    options: Partial<Pick<SimulatorOptions, 'latencyMs' | 'callbackDelayMs' | 'callbackMode'>>,
  ): void;
  /**
   * Resolves with the first recorded request (already recorded or future) matching `predicate` (default: any);
   * rejects after `timeoutMs` (default 5000) or on dispose.
   */
  waitForRequest(predicate?: (r: RecordedRequest) => boolean, timeoutMs?: number): Promise<RecordedRequest>;
  /** Like `waitForRequest`, for callback attempts (resolved once the attempt's outcome is known). */
  waitForCallback(
    predicate?: (c: RecordedCallback) => boolean,
    timeoutMs?: number,
  ): Promise<RecordedCallback>;
  /** Resolves when no callback delivery is scheduled or in flight (at once after dispose). */
  idle(): Promise<void>;
  /** Clears recorded requests and callbacks, faults, lookup logs and the logs rate-limit window. */
  reset(): void;
  /** Cancels pending callbacks, destroys open sockets and closes the server; idempotent, never rejects. */
  dispose(): Promise<void>;
}
