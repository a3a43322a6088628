import type { ProviderLog, ProviderResult } from '../upstream/provider-types';
import { formatProviderDate, parseProviderDate } from './provider-dates';

/** The provider only serves logs of the last 48 hours. */
export const LOG_RETENTION_MS = 48 * 60 * 60 * 1_000;

/** Entries kept at most; the oldest go first so a long benchmark cannot grow the simulator without bound. */
export const MAX_LOG_ENTRIES = 200_000;

/** `limit` when the request names none. */
export const DEFAULT_LOGS_LIMIT = 50;
/** The largest `limit` accepted; more is a 400, as at the provider. */
export const MAX_LOGS_LIMIT = 1_000;

/** The `generalStatus` values the provider accepts. */
export const GENERAL_STATUSES = ['ACCEPTED', 'PENDING', 'UNDELIVERABLE', 'DELIVERED', 'EXPIRED', 'REJECTED'];

const PRICE = { currency: 'EUR', pricePerLookup: 0.01 } as const;

interface StoredLog {
  sentAtMs: number;
  log: ProviderLog;
}

/** Parsed, validated logs filters. */
export interface LogsFilter {
  to?: string;
  bulkIds?: Set<string>;
  messageIds?: Set<string>;
  generalStatus?: string;
  sentSinceMs?: number;
  sentUntilMs?: number;
  limit: number;
  mcc?: string;
  mnc?: string;
}

/** Either the filter or the provider's per-field validation errors. */
export type LogsFilterParse =
  { ok: true; filter: LogsFilter } | { ok: false; errors: Record<string, string[]> };

/**
 * Validates GET /number/1/logs query parameters as the provider documents them: unknown `generalStatus`,
 * unparseable dates, `limit` outside 1..1000 and `mnc` without `mcc` are errors; unknown parameters are ignored.
 * Never throws.
 */
export function parseLogsQuery(query: Record<string, string[]>): LogsFilterParse {
  const errors: Record<string, string[]> = {};
  const first = (name: string): string | undefined => query[name]?.[0];
  const filter: LogsFilter = { limit: DEFAULT_LOGS_LIMIT };

  const to = first('to');
  if (to !== undefined && to !== '') filter.to = to;
  if (query.bulkId?.length) filter.bulkIds = new Set(query.bulkId);
  if (query.messageId?.length) filter.messageIds = new Set(query.messageId);

  const generalStatus = first('generalStatus');
  if (generalStatus !== undefined) {
    if (GENERAL_STATUSES.includes(generalStatus)) filter.generalStatus = generalStatus;
    else errors.generalStatus = [`must be one of ${GENERAL_STATUSES.join(', ')}`];
  }
  for (const [name, key] of [
    ['sentSince', 'sentSinceMs'],
    ['sentUntil', 'sentUntilMs'],
  ] as const) {
    const text = first(name);
    if (text === undefined) continue;
    const ms = parseProviderDate(text);
    if (ms === undefined) errors[name] = ['must be a date-time like 2015-02-22T17:42:05.390+0100'];
    else filter[key] = ms;
  }
  const limit = first('limit');
  if (limit !== undefined) {
    const n = /^[0-9]+$/.test(limit) ? Number(limit) : NaN;
    if (n >= 1 && n <= MAX_LOGS_LIMIT) filter.limit = n;
    else errors.limit = [`must be an integer between 1 and ${MAX_LOGS_LIMIT}`];
  }
  const mcc = first('mcc');
  const mnc = first('mnc');
  if (mcc !== undefined) {
    if (/^[0-9]{3}$/.test(mcc)) filter.mcc = mcc;
    else errors.mcc = ['must be 3 digits'];
  }
  if (mnc !== undefined) {
    if (mcc === undefined) errors.mnc = ['requires mcc'];
    else if (/^[0-9]{2,3}$/.test(mnc)) filter.mnc = mnc;
    else errors.mnc = ['must be 2 or 3 digits'];
  }
  return Object.keys(errors).length > 0 ? { ok: false, errors } : { ok: true, filter };
}

/**
 * What the simulator really looked up, for GET /number/1/logs. Entries are appended in time order and served
 * newest first; entries older than {@link LOG_RETENTION_MS} are never served, and beyond
 * {@link MAX_LOG_ENTRIES} the oldest are dropped. Holds references to the (immutable) result objects, no copies.
 */
export class LookupLog {
  private entries: StoredLog[] = [];

  /** Records one bulk: one entry per result, all sent at `sentAtMs` and done at `doneAtMs`. */
  record(
    bulkId: string,
    results: readonly ProviderResult[],
    messageIds: readonly string[],
    sentAtMs: number,
    doneAtMs: number,
  ): void {
    const sentAt = formatProviderDate(sentAtMs);
    const doneAt = formatProviderDate(doneAtMs);
    for (let i = 0; i < results.length; i++) {
      const r = results[i];
      this.entries.push({
        sentAtMs,
        log: {
          bulkId,
          messageId: messageIds[i],
          to: r.to,
          sentAt,
          doneAt,
          mccMnc: r.mccMnc,
          price: PRICE,
          status: r.status,
          error: r.error,
        },
      });
    }
    if (this.entries.length > MAX_LOG_ENTRIES * 1.25) {
      // trim in batches so appending stays amortised O(1)
      this.entries.splice(0, this.entries.length - MAX_LOG_ENTRIES);
    }
  }

  /** Matching entries, newest first, at most `filter.limit`. */
  query(filter: LogsFilter, nowMs: number): ProviderLog[] {
    const out: ProviderLog[] = [];
    const oldestMs = nowMs - LOG_RETENTION_MS;
    for (let i = this.entries.length - 1; i >= 0 && out.length < filter.limit; i--) {
      const { sentAtMs, log } = this.entries[i];
      if (sentAtMs < oldestMs) break;
      if (filter.sentUntilMs !== undefined && sentAtMs > filter.sentUntilMs) continue;
      if (filter.sentSinceMs !== undefined && sentAtMs < filter.sentSinceMs) break;
      if (filter.to !== undefined && log.to !== filter.to) continue;
      if (filter.bulkIds && !filter.bulkIds.has(log.bulkId as string)) continue;
      if (filter.messageIds && !filter.messageIds.has(log.messageId as string)) continue;
      if (filter.generalStatus !== undefined && log.status?.groupName !== filter.generalStatus) continue;
      if (filter.mcc !== undefined) {
        const mccMnc = log.mccMnc ?? '';
        if (!mccMnc.startsWith(filter.mcc)) continue;
        if (filter.mnc !== undefined && mccMnc.slice(3) !== filter.mnc) continue;
      }
      out.push(log);
    }
    return out;
  }

  /** Forgets every entry. */
  clear(): void {
    this.entries = [];
  }
}
