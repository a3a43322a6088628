import type { LookupResultData } from '../lookup/lookup-result';

/** State of an async request, as stored. */
export type RequestState = 'PENDING' | 'COMPLETED' | 'EXPIRED';

/** One async request as stored: JSON-safe, identical in memory and in Redis. */
export interface RequestRecord {
  id: string;
  /** SHA-256 (hex) of the callback secret: the secret itself is never stored. */
  secretHash: string;
  /** Hash of the creating client's key when client auth is on; only that client may see the request. */
  ownerId?: string;
  /** Normalized numbers, request order, no duplicates. */
  to: string[];
  state: RequestState;
  bulkIds: string[];
  /**
   * The provider's `messageId` per number, from the notify acknowledgements (a callback may carry none). Kept
   * apart from the results, which may have been stored before the acknowledgement came back; readers fill it
   * into results that lack one. Empty until acknowledged.
   */
  messageIds: Record<string, string>;
  /** Final results, arrival order, at most one per number. */
  results: LookupResultData[];
  createdAt: string;
  completedAt?: string;
  expiresAt: string;
}

/** What one notify acknowledgement told about a request. */
export interface Acknowledgement {
  /** The provider's bulk ids (none when it gave none). */
  bulkIds: string[];
  /** The provider's message id per number of the request. */
  messageIds: Record<string, string>;
}

/** What {@link RequestStore.addResults} did. */
export interface AddResultsOutcome {
  /** Results stored by this call: first writer wins per number. */
  added: LookupResultData[];
  /** State after the call. */
  state: RequestState;
  /** True when this very call moved the request to COMPLETED. */
  completedNow: boolean;
  /** True when this very call found the request overdue and moved it to EXPIRED (nothing was stored). */
  expiredNow: boolean;
  /** Numbers still without a result after the call. */
  pending: number;
}

/**
 * Where async requests live (in process, or Redis for several instances). Every mutation is atomic: two
 * instances storing the same number at once yield exactly one stored result. Methods reject when the store is
 * unavailable; callers answer the provider 503 then, so it retries.
 */
export interface RequestStore {
  /** Stores a new PENDING request; it is forgotten `retentionMs` after creation. */
  create(record: RequestRecord, retentionMs: number): Promise<void>;
  /** The request, or null when unknown or past retention. */
  get(id: string): Promise<RequestRecord | null>;
  /**
   * Records a notify acknowledgement: merges its bulk ids (no duplicates) and its message ids by number (one
   * already recorded for a number is kept). No effect on an unknown request.
   */
  addAcknowledgement(id: string, ack: Acknowledgement): Promise<void>;
  /**
   * Stores final results of a PENDING request, first writer wins per number; moves it to COMPLETED once every
   * number has one. Null when the request is unknown. Results for a request no longer PENDING are not stored,
   * and a PENDING request past its `expiresAt` (compared with `nowIso`) is moved to EXPIRED instead, in the
   * same atomic step. The caller passes only numbers the request asked for.
   */
  addResults(id: string, results: LookupResultData[], nowIso: string): Promise<AddResultsOutcome | null>;
  /** PENDING → EXPIRED, atomically; true only for the one caller that made the change. */
  expire(id: string, nowIso: string): Promise<boolean>;
  /**
   * Ids of PENDING requests whose `expiresAt` has passed (at most `limit`), earliest first. Ids it passes over
   * whose request is gone (forgotten, evicted, lost) or no longer PENDING are dropped from the index on the
   * way, so the sweep never stalls behind them.
   */
  dueForExpiry(nowMs: number, limit: number): Promise<string[]>;
  /** Removes a request (e.g. the provider surely never received it). */
  delete(id: string): Promise<void>;
  /** True when the store answers. Never throws. */
  ping(): Promise<boolean>;
  dispose(): Promise<void>;
}
