import { ServiceUnavailableError } from '../errors';
import type { LookupResultData } from '../lookup/lookup-result';
import type { Acknowledgement, AddResultsOutcome, RequestRecord, RequestStore } from './request-store';

interface Entry {
  record: RequestRecord;
  byNumber: Set<string>;
  forgetAtMs: number;
}

/**
 * In-process request store: one instance only, lost on restart. Records are copied in and out so callers can
 * never mutate stored state, matching the Redis store's semantics. A request past retention is never returned;
 * memory is reclaimed by a sweep every `sweepIntervalMs` (default 60 s).
 *
 * It holds at most `maxNumbers` numbers over all its requests (default: no bound): a request that would pass the
 * bound first makes room by forgetting finished (COMPLETED or EXPIRED) requests, oldest first, and when only
 * pending ones are left `create` rejects with a `SERVICE_UNAVAILABLE` error saying so. Nothing else rejects.
 */
export class MemoryRequestStore implements RequestStore {
  private readonly entries = new Map<string, Entry>();
  /** Ids of PENDING requests, so the expiry sweep never walks every retained request. */
  private readonly pendingIds = new Set<string>();
  private readonly sweepTimer: NodeJS.Timeout;

  private readonly maxNumbers: number;
  /** Numbers over every stored request, against `maxNumbers`. */
  private heldNumbers = 0;

  constructor(options: { sweepIntervalMs?: number; clock?: () => number; maxNumbers?: number } = {}) {
    this.clock = options.clock ?? Date.now;
    this.maxNumbers = options.maxNumbers ?? Infinity;
    this.sweepTimer = setInterval(() => this.sweep(), options.sweepIntervalMs ?? 60_000);
    this.sweepTimer.unref();
  }

  private readonly clock: () => number;

  private sweep(): void {
    const now = this.clock();
    for (const [id, entry] of this.entries) if (entry.forgetAtMs <= now) this.forget(id);
  }

  private forget(id: string): void {
    const entry = this.entries.get(id);
    if (entry) this.heldNumbers -= entry.record.to.length;
    this.entries.delete(id);
    this.pendingIds.delete(id);
  }

  /** Forgets finished requests, oldest first, until `numbers` more fit; false when they still do not. */
  private makeRoom(numbers: number): boolean {
    if (this.heldNumbers + numbers <= this.maxNumbers) return true;
    this.sweep();
    // A Map iterates in insertion order: the oldest requests come first.
    for (const [id, entry] of this.entries) {
      if (this.heldNumbers + numbers <= this.maxNumbers) break;
      if (entry.record.state !== 'PENDING') this.forget(id);
    }
    return this.heldNumbers + numbers <= this.maxNumbers;
  }

  private live(id: string): Entry | undefined {
    const entry = this.entries.get(id);
    if (entry && entry.forgetAtMs <= this.clock()) {
      this.forget(id);
      return undefined;
    }
    return entry;
  }

  async create(record: RequestRecord, retentionMs: number): Promise<void> {
    if (!this.makeRoom(record.to.length)) {
      throw new ServiceUnavailableError(
        'The gateway holds as many pending asynchronous lookups as it may (MAX_STORED_NUMBERS); retry later.',
      );
    }
    this.heldNumbers += record.to.length;
    this.entries.set(record.id, {
      record: structuredClone(record),
      byNumber: new Set(record.results.map((r) => r.to)),
      forgetAtMs: Date.parse(record.createdAt) + retentionMs,
    });
    if (record.state === 'PENDING') this.pendingIds.add(record.id);
  }

  async get(id: string): Promise<RequestRecord | null> {
    const entry = this.live(id);
    return entry ? structuredClone(entry.record) : null;
  }

  async addAcknowledgement(id: string, ack: Acknowledgement): Promise<void> {
    const entry = this.live(id);
    if (!entry) return;
    const { record } = entry;
    for (const bulkId of ack.bulkIds) if (!record.bulkIds.includes(bulkId)) record.bulkIds.push(bulkId);
    for (const [number, messageId] of Object.entries(ack.messageIds)) {
      if (!Object.hasOwn(record.messageIds, number)) record.messageIds[number] = messageId;
    }
  }

  async addResults(
    id: string,
    results: LookupResultData[],
    nowIso: string,
  ): Promise<AddResultsOutcome | null> {
    const entry = this.live(id);
    if (!entry) return null;
    const { record } = entry;
    const outcome = (added: LookupResultData[], completedNow = false, expiredNow = false) => ({
      added,
      state: record.state,
      completedNow,
      expiredNow,
      pending: record.to.length - entry.byNumber.size,
    });
    if (record.state === 'PENDING' && Date.parse(record.expiresAt) <= Date.parse(nowIso)) {
      this.markEnded(entry, 'EXPIRED', nowIso);
      return outcome([], false, true);
    }
    if (record.state !== 'PENDING') return outcome([]);
    const added: LookupResultData[] = [];
    for (const result of results) {
      if (entry.byNumber.has(result.to)) continue;
      entry.byNumber.add(result.to);
      const copy = structuredClone(result);
      record.results.push(copy);
      added.push(structuredClone(copy));
    }
    const completedNow = entry.byNumber.size >= record.to.length;
    if (completedNow) this.markEnded(entry, 'COMPLETED', nowIso);
    return outcome(added, completedNow);
  }

  private markEnded(entry: Entry, state: 'COMPLETED' | 'EXPIRED', nowIso: string): void {
    entry.record.state = state;
    entry.record.completedAt = nowIso;
    this.pendingIds.delete(entry.record.id);
  }

  async expire(id: string, nowIso: string): Promise<boolean> {
    const entry = this.live(id);
    if (!entry || entry.record.state !== 'PENDING') return false;
    this.markEnded(entry, 'EXPIRED', nowIso);
    return true;
  }

  async dueForExpiry(nowMs: number, limit: number): Promise<string[]> {
    const due: string[] = [];
    for (const id of this.pendingIds) {
      if (due.length >= limit) break;
      const entry = this.live(id);
      // Gone or no longer pending: never due again, so it leaves the index (deleting while iterating a Set is safe).
      if (!entry || entry.record.state !== 'PENDING') this.pendingIds.delete(id);
      else if (Date.parse(entry.record.expiresAt) <= nowMs) due.push(id);
    }
    return due;
  }

  async delete(id: string): Promise<void> {
    this.forget(id);
  }

  async ping(): Promise<boolean> {
    return true;
  }

  /** Number of stored requests (tests and metrics). */
  get size(): number {
    return this.entries.size;
  }

  /** Number of ids in the index of PENDING requests the expiry sweep reads (tests and metrics). */
  get pendingSize(): number {
    return this.pendingIds.size;
  }

  async dispose(): Promise<void> {
    clearInterval(this.sweepTimer);
    this.heldNumbers = 0;
    this.entries.clear();
    this.pendingIds.clear();
  }
}
