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
  /** Final results, arrival order, at most one per number. */
  results: LookupResultData[];
  createdAt: string;
  completedAt?: string;
  expiresAt: string;
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
  /** Records the provider's bulk ids; no effect on an unknown request. */
  addBulkIds(id: string, bulkIds: string[]): Promise<void>;
  /**
   * Stores final results of a PENDING request, first writer wins per number; moves it to COMPLETED once every
   * number has one. Null when the request is unknown. Results for a request no longer PENDING are not stored,
   * and a PENDING request past its `expiresAt` (compared with `nowIso`) is moved to EXPIRED instead, in the
   * same atomic step. The caller passes only numbers the request asked for.
   */
  addResults(id: string, results: LookupResultData[], nowIso: string): Promise<AddResultsOutcome | null>;
  /** PENDING → EXPIRED, atomically; true only for the one caller that made the change. */
  expire(id: string, nowIso: string): Promise<boolean>;
  /** Ids of PENDING requests whose `expiresAt` has passed (at most `limit`). */
  dueForExpiry(nowMs: number, limit: number): Promise<string[]>;
  /** Removes a request (e.g. the provider surely never received it). */
  delete(id: string): Promise<void>;
  /** True when the store answers. Never throws. */
  ping(): Promise<boolean>;
  dispose(): Promise<void>;
}
