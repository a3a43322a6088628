import { LRUCache } from 'lru-cache';
import { BadUserInputError, GatewayErrorCode, UpstreamError } from '../errors';
import type { Logger } from '../observability/logger';
import type { Acknowledgement, RequestRecord } from '../requests/request-store';
import type { RequestRegistry } from '../requests/request-registry';
import type { ProviderCallOptions } from '../upstream/provider-client';
import type {
  ProviderLog,
  ProviderLogsQuery,
  ProviderResult,
  ProviderResultsResponse,
} from '../upstream/provider-types';
import { resultNumber, toLookupResult, withMessageIds, type LookupResultData } from './lookup-result';
import { normalizeNumbers } from './phone-numbers';

/** The provider calls the service needs (the upstream client implements them). */
export interface LookupProvider {
  query(to: string[], options?: ProviderCallOptions): Promise<ProviderResultsResponse>;
  notify(to: string[], notifyUrl: string, options?: ProviderCallOptions): Promise<ProviderResultsResponse>;
  logs(query: ProviderLogsQuery, options?: ProviderCallOptions): Promise<{ results: ProviderLog[] }>;
}

/** Who an operation of the service runs for. */
export interface OperationScope {
  /** The operation's request id, for the log lines of the provider calls it makes (a shared call: the first's). */
  requestId?: string;
}

/** Options of {@link LookupService}. */
export interface LookupServiceOptions {
  provider: LookupProvider;
  registry: RequestRegistry;
  logger: Logger;
  /** Base URL the provider reaches the callback route at; read per request (known only after listen). */
  publicUrl: () => string;
  /** Path prefix of the callback route (the request id and secret follow). */
  callbackPath: string;
  /** Most numbers per operation (default 1000). */
  maxNumbersPerOperation: number;
  /** Numbers per provider call: the provider's maximum is 1000. */
  chunkSize?: number;
  /** Provider calls in flight for one operation (default 4). */
  chunkConcurrency: number;
  /**
   * Result cache time-to-live; 0 = no cache. A result is served from the cache only while less than this has
   * passed since the provider call that produced it was started, so no answer is ever older than the TTL.
   */
  cacheTtlMs: number;
  /** Most numbers the cache holds; the least recently used go first. */
  cacheMaxEntries: number;
  /** Monotonic clock in milliseconds for the cache TTL. Default `performance.now` (tests inject their own). */
  now?: () => number;
  /**
   * Told about numbers sent to the provider (by query calls, and by notify calls that succeeded or may have
   * reached it) and numbers saved (cache, coalescing), for metrics and the cost benchmark.
   */
  onLookupCost?: (e: {
    endpoint: 'query' | 'notify';
    providerCalls: number;
    numbersSent: number;
    cacheHits: number;
    coalesced: number;
  }) => void;
}

/** Filter of the lookup history, as the GraphQL input carries it. */
export interface LookupLogFilterData {
  to?: string | null;
  bulkIds?: string[] | null;
  messageIds?: string[] | null;
  generalStatus?: string | null;
  sentSince?: Date | string | null;
  sentUntil?: Date | string | null;
  limit?: number | null;
  mcc?: string | null;
  mnc?: string | null;
}

/** A history entry in the gateway's shape. */
export interface LookupLogData extends Omit<LookupResultData, 'to'> {
  to: string;
  bulkId?: string | null;
  sentAt?: string | null;
  doneAt?: string | null;
  price?: { currency: string; pricePerLookup: number } | null;
}

const GENERAL_STATUSES = ['ACCEPTED', 'PENDING', 'UNDELIVERABLE', 'DELIVERED', 'EXPIRED', 'REJECTED'];

/** A cached result and the clock reading after which it must not be served any more. */
interface CacheEntry {
  result: LookupResultData;
  expiresAtMs: number;
}

/** What one provider call settled for each of its numbers: its result, or why there is none. */
type CallOutcome = Map<string, LookupResultData | UpstreamError>;

/** Provider date-time format: `2015-02-22T17:42:05.390+0000`. Throws RangeError for an invalid date. */
export function toProviderDate(value: Date | string): string {
  const date = value instanceof Date ? value : new Date(value);
  return date.toISOString().replace('Z', '+0000');
}

/** A date from a filter field, or undefined when absent; `null` when present but not a date. */
function filterDate(value: Date | string | null | undefined): Date | null | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  const date = value instanceof Date ? value : new Date(value);
  return Number.isNaN(date.getTime()) ? null : date;
}

/** Provider date-time (`…+0100`, `…Z`) to ISO-8601 UTC; undefined when unparseable. */
export function fromProviderDate(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const withColon = value.replace(/([+-]\d{2})(\d{2})$/, '$1:$2');
  const ms = Date.parse(withColon);
  return Number.isNaN(ms) ? undefined : new Date(ms).toISOString();
}

/**
 * The gateway's lookup logic between the resolvers and the provider: number normalization, de-duplication,
 * in-flight coalescing, the optional result cache, chunking to the provider's 1000-number limit, and the
 * async request flow. Every provider failure surfaces as the upstream client's UpstreamError.
 */
export class LookupService {
  // Numbers with a provider call in flight, each mapped to that call: a concurrent operation asking for one of them
  // joins the call instead of making its own.
  private readonly inflight = new Map<string, Promise<CallOutcome>>();
  // Expiry is checked here rather than by lru-cache's own TTL, which counts from the moment of `set` (after the
  // provider answered) and reads a clock cached for a millisecond: both would serve a result past its TTL.
  private readonly cache: LRUCache<string, CacheEntry> | undefined;
  private readonly chunkSize: number;
  private readonly now: () => number;

  constructor(private readonly options: LookupServiceOptions) {
    this.chunkSize = options.chunkSize ?? 1_000;
    this.now = options.now ?? (() => performance.now());
    this.cache =
      options.cacheTtlMs > 0 ? new LRUCache({ max: Math.max(1, options.cacheMaxEntries) }) : undefined;
  }

  /** A cached result still younger than the TTL; an expired one is dropped. */
  private cached(number: string): LookupResultData | undefined {
    const entry = this.cache?.get(number);
    if (!entry) return undefined;
    if (this.now() < entry.expiresAtMs) return entry.result;
    this.cache?.delete(number);
    return undefined;
  }

  /**
   * Synchronous lookup: one result per input entry, in input order. Throws BadUserInputError before any
   * provider call when an entry is invalid; a provider failure rejects the whole operation.
   */
  async lookupNumbers(inputs: readonly string[], scope: OperationScope = {}): Promise<LookupResultData[]> {
    const { numbers, unique } = normalizeNumbers(inputs, { maxCount: this.options.maxNumbersPerOperation });
    const byNumber = await this.resolveNumbers(unique, scope);
    return numbers.map((n) => byNumber.get(n) as LookupResultData);
  }

  private async resolveNumbers(
    unique: string[],
    scope: OperationScope,
  ): Promise<Map<string, LookupResultData>> {
    const out = new Map<string, LookupResultData>();
    const joined = new Map<Promise<CallOutcome>, string[]>();
    const mine: string[] = [];
    let cacheHits = 0;
    let coalesced = 0;
    for (const number of unique) {
      const cached = this.cached(number);
      if (cached) {
        out.set(number, cached);
        cacheHits++;
        continue;
      }
      const running = this.inflight.get(number);
      if (running) {
        coalesced++;
        const waiting = joined.get(running);
        if (waiting) waiting.push(number);
        else joined.set(running, [number]);
        continue;
      }
      mine.push(number);
    }
    const chunks: string[][] = [];
    for (let i = 0; i < mine.length; i += this.chunkSize) chunks.push(mine.slice(i, i + this.chunkSize));
    this.options.onLookupCost?.({
      endpoint: 'query',
      providerCalls: chunks.length,
      numbersSent: mine.length,
      cacheHits,
      coalesced,
    });

    // Every chunk's call is registered before the first await, so a concurrent operation asking for the same
    // number joins it; at most chunkConcurrency of them run at once.
    let running = 0;
    const queued: (() => void)[] = [];
    const calls = chunks.map(async (chunk) => {
      if (running >= this.options.chunkConcurrency) await new Promise<void>((go) => queued.push(go));
      running++;
      try {
        return await this.queryChunk(chunk, scope);
      } finally {
        running--;
        queued.shift()?.();
      }
    });
    calls.forEach((call, i) => {
      const settled = () => {
        for (const number of chunks[i]) if (this.inflight.get(number) === call) this.inflight.delete(number);
      };
      call.then(settled, settled);
      for (const number of chunks[i]) this.inflight.set(number, call);
      joined.set(call, chunks[i]);
    });

    for (const [call, numbers] of joined) {
      const outcome = await call;
      for (const number of numbers) {
        const result = outcome.get(number) as LookupResultData | UpstreamError;
        if (result instanceof UpstreamError) throw result;
        out.set(number, result);
      }
    }
    return out;
  }

  private async queryChunk(chunk: string[], scope: OperationScope): Promise<CallOutcome> {
    // The provider may look a number up at any moment of the call, retries included: age counts from its start.
    const expiresAtMs = this.now() + this.options.cacheTtlMs;
    const response = await this.options.provider.query(chunk, { requestId: scope.requestId });
    const byNumber = new Map<string, ProviderResult>();
    for (const result of response.results) {
      // The provider echoes `to` as sent, but may format it (a leading + or 00): matched on its digits, never on
      // its position, so a result can only ever be reported for the number it is about.
      const number = resultNumber(result.to);
      if (!byNumber.has(number)) byNumber.set(number, result);
    }
    const outcome: CallOutcome = new Map();
    for (const number of chunk) {
      const raw = byNumber.get(number);
      if (!raw) {
        outcome.set(
          number,
          new UpstreamError(
            GatewayErrorCode.UPSTREAM_BAD_RESPONSE,
            'The provider answered without a result for one of the numbers.',
          ),
        );
        continue;
      }
      const result = toLookupResult(raw, number);
      if (this.cache && this.now() < expiresAtMs) this.cache.set(number, { result, expiresAtMs });
      outcome.set(number, result);
    }
    return outcome;
  }

  /**
   * Starts an asynchronous lookup. The request is stored before the provider is called, because its callback
   * can arrive before its acknowledgement. If the provider surely never got the request, it is forgotten and
   * the error thrown; if the outcome is unknown, the request stays PENDING (results may still come) and the
   * error carries its id in `extensions.requestId`. Once every notify call succeeded, it answers the request
   * whatever the store does next: the acknowledgement (bulk ids, message ids) is recorded and the request read
   * back (callbacks may already have landed), but when either fails that is only logged, and the answer is the
   * request as created plus the acknowledgement; the provider was charged, so the client must get the id.
   */
  async requestLookup(
    inputs: readonly string[],
    ownerId?: string,
    scope: OperationScope = {},
  ): Promise<RequestRecord> {
    const { unique } = normalizeNumbers(inputs, { maxCount: this.options.maxNumbersPerOperation });
    const { registry } = this.options;
    const { record, secret } = await registry.create(unique, ownerId);
    const notifyUrl = `${this.options.publicUrl()}${this.options.callbackPath}/${record.id}/${secret}`;
    const ack: Acknowledgement = { bulkIds: [], messageIds: {} };
    const warn = (error: unknown, message: string) =>
      this.options.logger.warn({ err: { message: (error as Error).message }, requestId: record.id }, message);
    const recordAck = () =>
      registry
        .addAcknowledgement(record.id, ack)
        .catch((error: unknown) =>
          warn(error, 'recording the notify acknowledgement failed; its bulk and message ids are lost'),
        );
    let sent = 0;
    try {
      for (let i = 0; i < unique.length; i += this.chunkSize) {
        const chunk = unique.slice(i, i + this.chunkSize);
        const sentChunk = () =>
          this.options.onLookupCost?.({
            endpoint: 'notify',
            providerCalls: 1,
            numbersSent: chunk.length,
            cacheHits: 0,
            coalesced: 0,
          });
        const answer = await this.options.provider
          .notify(chunk, notifyUrl, { requestId: scope.requestId })
          .catch((error: unknown) => {
            // Maybe charged: counted as sent, as the provider may well have taken it.
            if (error instanceof UpstreamError && error.upstream.outcomeKnown === false) sentChunk();
            throw error;
          });
        sentChunk();
        sent++;
        if (answer.bulkId) ack.bulkIds.push(answer.bulkId);
        const asked = new Set(chunk);
        for (const result of answer.results) {
          // Matched by digits like every provider result; an id for a number not asked for is not kept.
          const number = resultNumber(result.to);
          if (asked.has(number) && typeof result.messageId === 'string' && result.messageId !== '')
            ack.messageIds[number] ??= result.messageId;
        }
      }
    } catch (error) {
      const outcomeKnown = !(error instanceof UpstreamError) || error.upstream.outcomeKnown !== false;
      if (sent === 0 && outcomeKnown) {
        await registry.abandon(record.id).catch(() => undefined);
        throw error;
      }
      await recordAck();
      if (error instanceof UpstreamError) error.extensions.requestId = record.id;
      throw error;
    }
    await recordAck();
    let stored: RequestRecord | null = null;
    try {
      // Read back: callbacks may already have landed.
      stored = await registry.get(record.id, ownerId);
    } catch (error) {
      warn(error, 'reading back a notified request failed; answering it as created');
    }
    // The acknowledgement merged in too, in case recording it failed while the read-back worked.
    const answer = stored ?? record;
    const bulkIds = [...answer.bulkIds, ...ack.bulkIds.filter((b) => !answer.bulkIds.includes(b))];
    const messageIds = { ...ack.messageIds, ...answer.messageIds };
    return { ...answer, bulkIds, messageIds, results: withMessageIds(answer.results, messageIds) };
  }

  /** The lookup history (provider GET /number/1/logs); throws BadUserInputError for a bad filter. */
  async lookupLogs(filter: LookupLogFilterData = {}, scope: OperationScope = {}): Promise<LookupLogData[]> {
    const query = this.toLogsQuery(filter);
    const response = await this.options.provider.logs(query, { requestId: scope.requestId });
    return response.results.map((log) => {
      const mapped = toLookupResult({ ...log, to: typeof log.to === 'string' ? log.to : '' });
      const price =
        log.price && typeof log.price.currency === 'string' && typeof log.price.pricePerLookup === 'number'
          ? { currency: log.price.currency, pricePerLookup: log.price.pricePerLookup }
          : undefined;
      return {
        ...mapped,
        ...(typeof log.bulkId === 'string' ? { bulkId: log.bulkId } : {}),
        sentAt: fromProviderDate(log.sentAt) ?? null,
        doneAt: fromProviderDate(log.doneAt) ?? null,
        ...(price ? { price } : {}),
      };
    });
  }

  private toLogsQuery(filter: LookupLogFilterData): ProviderLogsQuery {
    const problems: string[] = [];
    const query: ProviderLogsQuery = {};
    if (filter.to) {
      try {
        query.to = normalizeNumbers([filter.to], { maxCount: 1 }).unique[0];
      } catch {
        problems.push('to: not a possible international phone number');
      }
    }
    const ids = (name: string, values: string[] | null | undefined) => {
      if (!values) return undefined;
      if (values.length > 100) problems.push(`${name}: at most 100 values`);
      if (values.some((v) => v.trim() === '')) problems.push(`${name}: values must not be empty`);
      return values.length > 0 ? values : undefined;
    };
    query.bulkId = ids('bulkIds', filter.bulkIds);
    query.messageId = ids('messageIds', filter.messageIds);
    if (filter.generalStatus) {
      const status = filter.generalStatus.trim().toUpperCase();
      if (!GENERAL_STATUSES.includes(status)) {
        problems.push(`generalStatus: must be one of ${GENERAL_STATUSES.join(', ')}`);
      }
      query.generalStatus = status;
    }
    const since = filterDate(filter.sentSince);
    const until = filterDate(filter.sentUntil);
    if (since === null) problems.push('sentSince: not a date-time');
    if (until === null) problems.push('sentUntil: not a date-time');
    if (since && until && since.getTime() > until.getTime())
      problems.push('sentSince: must not be after sentUntil');
    if (since) query.sentSince = toProviderDate(since);
    if (until) query.sentUntil = toProviderDate(until);
    if (filter.limit !== undefined && filter.limit !== null) {
      if (!Number.isInteger(filter.limit) || filter.limit < 1 || filter.limit > 1_000) {
        problems.push('limit: must be between 1 and 1000');
      }
      query.limit = filter.limit;
    }
    if (filter.mcc !== undefined && filter.mcc !== null) {
      if (!/^\d{3}$/.test(filter.mcc)) problems.push('mcc: must be 3 digits');
      query.mcc = filter.mcc;
    }
    if (filter.mnc !== undefined && filter.mnc !== null) {
      if (!/^\d{2,3}$/.test(filter.mnc)) problems.push('mnc: must be 2 or 3 digits');
      if (!query.mcc) problems.push('mnc: requires mcc');
      query.mnc = filter.mnc;
    }
    if (problems.length > 0)
      throw new BadUserInputError(`Invalid lookupLogs filter: ${problems.join('; ')}.`, { problems });
    for (const key of Object.keys(query) as (keyof ProviderLogsQuery)[])
      if (query[key] === undefined) delete query[key];
    return query;
  }

  /** Number of numbers with a provider call in flight (tests, metrics). */
  get inflightCount(): number {
    return this.inflight.size;
  }
}
