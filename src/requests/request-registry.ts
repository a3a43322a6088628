import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { GatewayError, NotFoundError, ServiceUnavailableError } from '../errors';
import {
  isPendingStatus,
  resultNumber,
  toLookupResult,
  withMessageIds,
  type LookupResultData,
} from '../lookup/lookup-result';
import type { Logger } from '../observability/logger';
import { lookupTopic, type LookupEvent, type PubSub } from '../pubsub/pubsub';
import type { ProviderResult } from '../upstream/provider-types';
import { EventQueue } from './event-queue';
import type { Acknowledgement, RequestRecord, RequestStore } from './request-store';

/** Options of {@link RequestRegistry}. */
export interface RequestRegistryOptions {
  store: RequestStore;
  pubsub: PubSub;
  logger: Logger;
  /** A request still PENDING this long after creation becomes EXPIRED. */
  asyncTimeoutMs: number;
  /** A request is forgotten this long after creation. */
  retentionMs: number;
  /** How often overdue requests are looked for (default 1 s; subscribers also expire their own request on time). */
  expirySweepIntervalMs?: number;
  /**
   * Told once per state a request reaches (PENDING when created, then COMPLETED or EXPIRED), for metrics.
   * Called after the store has the change; with Redis, only on the instance whose write made the change.
   * Must not throw.
   */
  onStateChange?: (change: { id: string; state: 'PENDING' | 'COMPLETED' | 'EXPIRED' }) => void;
}

/** What happened to one callback delivery; the callback route maps it to an HTTP status. */
export type CallbackOutcome =
  | { kind: 'not-found' }
  | { kind: 'invalid'; reason: string }
  | { kind: 'accepted'; stored: number; duplicates: number; ignored: number; pending: number };

/** Live counters for metrics and leak checks. */
export interface RegistryStats {
  activeWatches: number;
}

const sha256 = (value: string): Buffer => createHash('sha256').update(value).digest();

/** What `randomUUID()` produces: the only request ids there are. */
const REQUEST_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

const isOverdue = (record: RequestRecord): boolean =>
  record.state === 'PENDING' && Date.parse(record.expiresAt) <= Date.now();

const notFound = (id: string) => new NotFoundError(`No lookup request with id "${id.slice(0, 64)}".`);

const isObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

/**
 * The async request core: creates requests, takes the provider's callbacks, and turns a request into a stream
 * of results for subscribers. Knows nothing of HTTP or WebSockets. Store first, publish second: a subscriber
 * always rebuilds from the store, so a lost pub/sub message delays nothing but is never lost.
 */
export class RequestRegistry {
  private readonly store: RequestStore;
  private readonly pubsub: PubSub;
  private readonly logger: Logger;
  private readonly sweepTimer: NodeJS.Timeout;
  private sweeping = false;
  private activeWatches = 0;
  private readonly watches = new Set<EventQueue<LookupResultData>>();

  constructor(private readonly options: RequestRegistryOptions) {
    this.store = options.store;
    this.pubsub = options.pubsub;
    this.logger = options.logger;
    this.sweepTimer = setInterval(() => void this.sweepExpired(), options.expirySweepIntervalMs ?? 1_000);
    this.sweepTimer.unref();
  }

  /**
   * Creates and stores a PENDING request before the provider is called (its callback can beat its own
   * acknowledgement). Returns the record and the callback secret, which exists only here and in `notifyUrl`.
   */
  async create(to: string[], ownerId?: string): Promise<{ record: RequestRecord; secret: string }> {
    const now = Date.now();
    const secret = randomBytes(32).toString('base64url');
    const record: RequestRecord = {
      id: randomUUID(),
      secretHash: sha256(secret).toString('hex'),
      ...(ownerId ? { ownerId } : {}),
      to: [...to],
      state: 'PENDING',
      bulkIds: [],
      messageIds: {},
      results: [],
      createdAt: new Date(now).toISOString(),
      expiresAt: new Date(now + this.options.asyncTimeoutMs).toISOString(),
    };
    await this.store.create(record, this.options.retentionMs);
    this.options.onStateChange?.({ id: record.id, state: 'PENDING' });
    return { record, secret };
  }

  /**
   * The request, or null when unknown, past retention, or created by another client. A request found PENDING
   * past its expiry time is expired first (no need to wait for the sweep). Results without a `messageId` get
   * the acknowledgement's. Rejects when the store is unavailable.
   */
  async get(id: string, ownerId?: string): Promise<RequestRecord | null> {
    let record = await this.read(id);
    if (record && isOverdue(record)) {
      await this.expireIfDue(id);
      record = await this.store.get(id);
    }
    if (!record || (record.ownerId ?? undefined) !== (ownerId ?? undefined)) return null;
    // Filled when read, not when stored: a callback can be stored before the acknowledgement is recorded.
    return { ...record, results: withMessageIds(record.results, record.messageIds) };
  }

  /**
   * The stored request for an id from outside (a client, a callback URL): only ids of the form this registry
   * hands out reach the store, so no client-chosen string becomes part of a store key (`<id>:order` would name
   * another key in Redis).
   */
  private async read(id: string): Promise<RequestRecord | null> {
    return REQUEST_ID.test(id) ? this.store.get(id) : null;
  }

  /**
   * Records a notify acknowledgement (bulk id, message id per number). Rejects when the store is unavailable;
   * the request itself stays as it was.
   */
  async addAcknowledgement(id: string, ack: Acknowledgement): Promise<void> {
    if (ack.bulkIds.length > 0 || Object.keys(ack.messageIds).length > 0)
      await this.store.addAcknowledgement(id, ack);
  }

  /** Forgets a request the provider surely never received. */
  async abandon(id: string): Promise<void> {
    await this.store.delete(id);
  }

  /**
   * Whether `secret` is the callback secret of request `id`, compared in constant time (an unknown id and a
   * wrong secret look the same). Lets the callback route refuse forgeries before reading their bodies.
   * Rejects only when the store is unavailable.
   */
  async verifyCallback(id: string, secret: string): Promise<boolean> {
    const record = await this.read(id);
    const expected = record ? Buffer.from(record.secretHash, 'hex') : sha256('');
    return timingSafeEqual(sha256(secret), expected) && record !== null;
  }

  /**
   * Takes one callback delivery. Checks the secret in constant time (wrong secret and unknown id look the
   * same), keeps only final results for numbers the request asked for (matched by digits, so `+41…` and
   * `0041…` are `41…`), stores them (first writer wins), then publishes what was new. Results arriving after
   * the request expired are not stored. Counts entries that are not results, pending statuses and numbers not
   * asked for as ignored; a number already stored, or given twice in the body, as a duplicate. A body whose
   * `results` is not an array, or is non-empty without a single entry with a string `to`, is invalid.
   *
   * Rejects when the store is unavailable (nothing was stored: every write is atomic) or when publishing
   * failed after storing; either way the caller answers 503 and the provider retries. A retry repeating results
   * already stored publishes a `resync`, so subscribers that missed the first publish rebuild from the store.
   */
  async receiveCallback(id: string, secret: string, body: unknown): Promise<CallbackOutcome> {
    const record = await this.read(id);
    const expected = record ? Buffer.from(record.secretHash, 'hex') : sha256('');
    const matches = timingSafeEqual(sha256(secret), expected) && record !== null;
    if (!record || !matches) return { kind: 'not-found' };

    const results = isObject(body) ? body.results : undefined;
    if (!Array.isArray(results)) {
      return { kind: 'invalid', reason: 'body must be an object with a "results" array' };
    }
    const wanted = new Set(record.to);
    const finals = new Map<string, LookupResultData>();
    let usable = 0;
    let ignored = 0;
    let repeatedInBody = 0;
    for (const raw of results as unknown[]) {
      if (!isObject(raw) || typeof raw.to !== 'string') {
        ignored++;
        continue;
      }
      usable++;
      const number = wanted.has(raw.to) ? raw.to : resultNumber(raw.to);
      // A pending status is an acknowledgement, not an answer: it must never take a final result's place. Judged
      // on the status as received, since the mapping drops a malformed one and the result would then look final.
      if (!wanted.has(number) || isPendingStatus(raw.status)) {
        ignored++;
        continue;
      }
      if (finals.has(number)) {
        repeatedInBody++;
        continue;
      }
      const result = toLookupResult(raw as unknown as ProviderResult, number);
      // Filled in here too when the acknowledgement is already known (reads fill in the rest): the stored and
      // published result is then one object for every subscriber, and one execution serves them all.
      if (!result.messageId && Object.hasOwn(record.messageIds, number)) {
        result.messageId = record.messageIds[number];
      }
      finals.set(number, result);
    }
    if (results.length > 0 && usable === 0) {
      return { kind: 'invalid', reason: 'no entry of "results" is an object with a string "to"' };
    }
    if (finals.size === 0) {
      const pending = record.to.length - record.results.length;
      return { kind: 'accepted', stored: 0, duplicates: 0, ignored, pending };
    }

    const outcome = await this.store.addResults(id, [...finals.values()], new Date().toISOString());
    if (!outcome) return { kind: 'not-found' };
    const events: LookupEvent[] = outcome.added.map((result) => ({ type: 'result', result }));
    // Not stored: repeats of stored results, or late ones when the request expired (those count as ignored,
    // repeated in the body or not).
    const expired = outcome.state === 'EXPIRED';
    const late = expired ? finals.size - outcome.added.length + repeatedInBody : 0;
    const repeated = expired ? 0 : finals.size - outcome.added.length;
    if (outcome.completedNow) {
      this.options.onStateChange?.({ id, state: 'COMPLETED' });
      events.push({ type: 'ended', state: 'COMPLETED' });
    } else if (outcome.expiredNow) {
      this.logger.info({ requestId: id }, 'async request expired');
      this.options.onStateChange?.({ id, state: 'EXPIRED' });
      events.push({ type: 'ended', state: 'EXPIRED' });
    } else if (repeated > 0) {
      // A repeat is usually the provider retrying after a 503; the first delivery may have been stored
      // without being published, so subscribers are told to rebuild from the store.
      events.push({ type: 'resync' });
    }
    await this.publish(id, events);
    return {
      kind: 'accepted',
      stored: outcome.added.length,
      duplicates: expired ? 0 : repeated + repeatedInBody,
      ignored: ignored + late,
      pending: outcome.pending,
    };
  }

  /** Publishes in order; rejects on the first failure (what was stored stays stored). */
  private async publish(id: string, events: LookupEvent[]): Promise<void> {
    for (const event of events) await this.pubsub.publish(lookupTopic(id), event);
  }

  /**
   * Expires the request if it is overdue and tells its subscribers. True if this call expired it. Rejects when
   * the store is unavailable; a failed publish is only logged, because every subscriber also expires the
   * request it watches on its own timer and rebuilds from the store.
   */
  async expireIfDue(id: string): Promise<boolean> {
    const record = await this.store.get(id);
    if (!record || !isOverdue(record)) return false;
    const changed = await this.store.expire(id, new Date().toISOString());
    if (changed) {
      this.logger.info({ requestId: id }, 'async request expired');
      this.options.onStateChange?.({ id, state: 'EXPIRED' });
      await this.publish(id, [{ type: 'ended', state: 'EXPIRED' }]).catch((error: unknown) =>
        this.logger.warn({ err: error, requestId: id }, 'publishing an expiry failed'),
      );
    }
    return changed;
  }

  private async sweepExpired(): Promise<void> {
    if (this.sweeping) return;
    this.sweeping = true;
    try {
      const due = await this.store.dueForExpiry(Date.now(), 500);
      for (const id of due) await this.expireIfDue(id);
    } catch (error) {
      this.logger.debug({ err: error }, 'expiry sweep skipped: store unavailable');
    } finally {
      this.sweeping = false;
    }
  }

  /**
   * A request's results as a stream: first those already stored (replay), then new ones, each number at most
   * once; it finishes when every number has a result or the request is no longer PENDING. Attaches to the live
   * topic before reading the store, so nothing that lands in between is lost. Whenever the pub/sub may have
   * missed something (a `resync`) or announces an end, the stream rebuilds from the store, which is written
   * first; each watcher also expires its own request on time, so it completes even if nobody publishes.
   * Results without a `messageId` get the acknowledgement's.
   * Throws NotFoundError for an unknown, expired-and-forgotten, or foreign request id; rejects when the store
   * or the pub/sub is unavailable. Either way nothing is left behind, and a stream the consumer returns
   * releases its listener (and Redis subscription) at once. A stream whose request disappears from the store
   * while it is watched (Redis restarted empty, eviction) fails with the same NotFoundError, never completes:
   * completion means every result is in or the request expired.
   */
  async watch(id: string, ownerId?: string): Promise<AsyncIterableIterator<LookupResultData>> {
    if (!(await this.get(id, ownerId))) throw notFound(id);

    let unsubscribe: (() => Promise<void>) | undefined;
    let timer: NodeJS.Timeout | undefined;
    const queue: EventQueue<LookupResultData> = new EventQueue(() => {
      if (timer) clearTimeout(timer);
      this.watches.delete(queue);
      this.activeWatches--;
      const done = unsubscribe;
      unsubscribe = undefined;
      void done?.();
    });
    this.activeWatches++;
    this.watches.add(queue);

    const seen = new Set<string>();
    let wanted = new Set<string>();
    // From the latest store read. A subscriber learns the request id from the mutation, which answers only after
    // the acknowledgement was recorded, so this already holds every message id when the first event arrives.
    let messageIds: Record<string, string> = {};
    let replaying = true;
    const buffered: LookupEvent[] = [];

    const emit = (result: LookupResultData) => {
      if (queue.isClosed || seen.has(result.to) || !wanted.has(result.to)) return;
      seen.add(result.to);
      queue.push(withMessageIds([result], messageIds)[0]);
      if (seen.size >= wanted.size) queue.end();
    };

    // Rebuild from the store: replays whatever is missing and finishes when the request is no longer pending.
    const rebuild = async (): Promise<void> => {
      const record = await this.store.get(id);
      if (queue.isClosed) return;
      if (!record) {
        // Gone while watched: the results that were missing will never come, which is not what completing says.
        queue.fail(notFound(id));
        return;
      }
      wanted = new Set(record.to);
      messageIds = record.messageIds;
      for (const result of record.results) emit(result);
      if (record.state !== 'PENDING') queue.end();
      else if (!timer) scheduleExpiry(record.expiresAt);
    };

    const scheduleExpiry = (expiresAt: string) => {
      const delayMs = Math.max(0, Date.parse(expiresAt) - Date.now());
      timer = setTimeout(() => {
        // Cleared first: a timer can fire a millisecond before the wall clock says the request is overdue,
        // and the rebuild below must then be free to schedule another check.
        timer = undefined;
        void this.expireIfDue(id)
          .then(() => rebuild())
          .catch((error: unknown) => {
            this.logger.warn({ err: error, requestId: id }, 'expiry check failed; retrying');
            timer = undefined;
            if (!queue.isClosed) scheduleExpiry(new Date(Date.now() + 1_000).toISOString());
          });
      }, delayMs);
    };

    const handle = (event: LookupEvent) => {
      if (event.type === 'result') emit(event.result);
      // An end or a resync: the store is authoritative (written before anything was published).
      else
        void rebuild().catch((error: unknown) =>
          this.logger.warn({ err: error, requestId: id }, 'resync failed'),
        );
    };

    try {
      unsubscribe = await this.pubsub.subscribe(lookupTopic(id), (event) =>
        replaying ? buffered.push(event) : handle(event),
      );
      // The socket may have closed while we were subscribing: hand back nothing that lives on.
      if (queue.isClosed) {
        const done = unsubscribe;
        unsubscribe = undefined;
        await done();
        return queue;
      }
      await rebuild();
    } catch (error) {
      await queue.return();
      // Pub/sub (Redis) refused the SUBSCRIBE: the same retry-later answer as a store outage.
      if (!(error instanceof GatewayError)) {
        this.logger.warn(
          { err: { message: (error as Error).message }, requestId: id },
          'pub/sub unavailable',
        );
        throw new ServiceUnavailableError();
      }
      throw error;
    }
    replaying = false;
    for (const event of buffered.splice(0)) handle(event);
    return queue;
  }

  /** Counters for metrics and leak checks. */
  stats(): RegistryStats {
    return { activeWatches: this.activeWatches };
  }

  /** Ends every open stream (shutdown) and stops the expiry sweep. */
  async dispose(): Promise<void> {
    clearInterval(this.sweepTimer);
    for (const queue of [...this.watches]) await queue.return();
  }
}
