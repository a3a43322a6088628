import { BadUserInputError, GatewayErrorCode, UpstreamError } from '../../src/errors';
import { toLookupResult } from '../../src/lookup/lookup-result';
import {
  LookupService,
  toProviderDate,
  type LookupProvider,
  type LookupServiceOptions,
} from '../../src/lookup/lookup-service';
import { createLogger } from '../../src/observability/logger';
import { MemoryPubSub } from '../../src/pubsub/memory-pubsub';
import { MemoryRequestStore } from '../../src/requests/memory-request-store';
import { parseCallbackPath } from '../../src/requests/callback-route';
import { RequestRegistry } from '../../src/requests/request-registry';
import type { RequestStore } from '../../src/requests/request-store';
import { simulateLookup } from '../../src/simulator';
import type {
  ProviderLog,
  ProviderLogsQuery,
  ProviderResultsResponse,
} from '../../src/upstream/provider-types';
import { until } from '../helpers/deadline';

const A = '41793026720';
const B = '41793026724';
const C = '41793026725';

/** What the service must answer for `to`: the simulator's (the provider's) result, mapped. */
const expected = (to: string) => toLookupResult(simulateLookup(to), to);

/**
 * An in-memory provider answering like the simulator. A call can be held open until the test releases it, so
 * overlaps are made on purpose rather than hoped for.
 */
class ScriptedProvider implements LookupProvider {
  readonly queries: string[][] = [];
  readonly notifies: string[][] = [];
  readonly notifyUrls: string[] = [];
  /** Runs inside a notify call, before it answers: a callback that beats the acknowledgement. */
  beforeAck: ((notifyUrl: string) => Promise<unknown>) | undefined;
  readonly logQueries: ProviderLogsQuery[] = [];
  logEntries: ProviderLog[] = [];
  inFlight = 0;
  maxInFlight = 0;
  hold = false;
  /** Thrown by the next query calls (until cleared). */
  failWith: unknown;
  /** Rewrites the answer of a query (reorder, drop results). */
  shape: (results: ProviderResultsResponse['results']) => ProviderResultsResponse['results'] = (r) => r;
  private readonly held: (() => void)[] = [];

  async query(to: string[]): Promise<ProviderResultsResponse> {
    this.queries.push([...to]);
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      if (this.hold) await new Promise<void>((resolve) => this.held.push(resolve));
      if (this.failWith) throw this.failWith;
      return { bulkId: `b-${this.queries.length}`, results: this.shape(to.map(simulateLookup)) };
    } finally {
      this.inFlight--;
    }
  }

  async notify(to: string[], notifyUrl: string): Promise<ProviderResultsResponse> {
    this.notifies.push([...to]);
    this.notifyUrls.push(notifyUrl);
    if (this.failWith && this.notifies.length > 1) throw this.failWith;
    await this.beforeAck?.(notifyUrl);
    // The acknowledgement: a PENDING status and a messageId per number, echoed with a '+' as the provider may.
    const results = to.map((n) => ({
      to: `+${n}`,
      messageId: `ack-${n}`,
      status: { groupId: 1, groupName: 'PENDING', id: 3, name: 'PENDING_WAITING_DELIVERY' },
    }));
    return { bulkId: `n-${this.notifies.length}`, results };
  }

  async logs(query: ProviderLogsQuery): Promise<{ results: ProviderLog[] }> {
    this.logQueries.push(query);
    return { results: this.logEntries };
  }

  /** Lets every held call answer. */
  release(): void {
    for (const resolve of this.held.splice(0)) resolve();
  }

  get waiting(): number {
    return this.held.length;
  }
}

describe('LookupService', () => {
  let provider: ScriptedProvider;
  let registry: RequestRegistry;
  let store: MemoryRequestStore;
  let pubsub: MemoryPubSub;
  let clockMs: number;

  const service = (options: Partial<LookupServiceOptions> = {}) =>
    new LookupService({
      provider,
      registry,
      logger: createLogger({ level: 'silent' }),
      publicUrl: () => 'http://gateway.test',
      callbackPath: '/callbacks/number-lookup',
      maxNumbersPerOperation: 1_000,
      chunkConcurrency: 4,
      cacheTtlMs: 0,
      cacheMaxEntries: 1_000,
      now: () => clockMs,
      ...options,
    });

  beforeEach(() => {
    provider = new ScriptedProvider();
    store = new MemoryRequestStore();
    pubsub = new MemoryPubSub();
    registry = new RequestRegistry({
      store,
      pubsub,
      logger: createLogger({ level: 'silent' }),
      asyncTimeoutMs: 60_000,
      retentionMs: 120_000,
    });
    clockMs = 1_000_000;
  });

  afterEach(async () => {
    provider.release();
    await registry.dispose();
    await pubsub.dispose();
    await store.dispose();
  });

  describe('no wasted lookups', () => {
    it('sends each distinct number of one operation once and answers every entry in input order', async () => {
      const results = await service().lookupNumbers(['+41 79 302 67 20', A, '0041793026724', A]);

      expect(provider.queries).toEqual([[A, B]]);
      expect(results).toEqual([expected(A), expected(A), expected(B), expected(A)]);
    });

    it('coalesces concurrent operations: a number in flight is not sent again', async () => {
      const s = service();
      provider.hold = true;
      const first = s.lookupNumbers([A, B]);
      await until(() => provider.waiting === 1, 2_000, 'the first provider call');
      const second = s.lookupNumbers([B, C, A]);
      await until(() => provider.waiting === 2, 2_000, 'the second provider call');
      provider.release();

      expect(await first).toEqual([expected(A), expected(B)]);
      expect(await second).toEqual([expected(B), expected(C), expected(A)]);
      // The second operation sent only the number nobody was already asking for.
      expect(provider.queries).toEqual([[A, B], [C]]);
      expect(s.inflightCount).toBe(0);
    });

    it('fails every waiter of a failed shared call with the same error, and caches nothing', async () => {
      const s = service({ cacheTtlMs: 60_000 });
      const failure = new UpstreamError(GatewayErrorCode.UPSTREAM_UNAVAILABLE, 'down');
      provider.hold = true;
      provider.failWith = failure;
      const first = s.lookupNumbers([A]);
      await until(() => provider.waiting === 1, 2_000, 'the provider call');
      const second = s.lookupNumbers([A]);
      provider.release();

      await expect(first).rejects.toBe(failure);
      await expect(second).rejects.toBe(failure);
      expect(provider.queries).toEqual([[A]]);

      provider.hold = false;
      provider.failWith = undefined;
      expect(await s.lookupNumbers([A])).toEqual([expected(A)]);
      expect(provider.queries).toEqual([[A], [A]]);
    });

    it('has no cache by default: a repeat is a new provider call', async () => {
      const s = service();
      await s.lookupNumbers([A]);
      await s.lookupNumbers([A]);
      expect(provider.queries).toEqual([[A], [A]]);
    });

    it('serves a cached result only while younger than the TTL, counted from the start of the provider call', async () => {
      const s = service({ cacheTtlMs: 1_000 });
      provider.hold = true;
      const first = s.lookupNumbers([A]);
      await until(() => provider.waiting === 1, 2_000, 'the provider call');
      clockMs += 400; // the provider takes 400 ms to answer
      provider.release();
      expect(await first).toEqual([expected(A)]);
      provider.hold = false;

      clockMs += 599; // 999 ms after the call started
      expect(await s.lookupNumbers([A, B])).toEqual([expected(A), expected(B)]);
      expect(provider.queries).toEqual([[A], [B]]);

      clockMs += 1; // 1000 ms: as old as the TTL, no longer served
      expect(await s.lookupNumbers([A])).toEqual([expected(A)]);
      expect(provider.queries).toEqual([[A], [B], [A]]);
    });

    it('does not cache a result whose call outlasted the TTL', async () => {
      const s = service({ cacheTtlMs: 100 });
      provider.hold = true;
      const first = s.lookupNumbers([A]);
      await until(() => provider.waiting === 1, 2_000, 'the provider call');
      clockMs += 150;
      provider.release();
      await first;
      provider.hold = false;

      await s.lookupNumbers([A]);
      expect(provider.queries).toEqual([[A], [A]]);
    });

    it('evicts the least recently used results beyond cacheMaxEntries', async () => {
      const s = service({ cacheTtlMs: 60_000, cacheMaxEntries: 2 });
      await s.lookupNumbers([A, B]);
      await s.lookupNumbers([A]); // A is now the most recently used
      await s.lookupNumbers([C]); // evicts B
      await s.lookupNumbers([A, B, C]);
      expect(provider.queries).toEqual([[A, B], [C], [B]]);
    });
  });

  describe('chunking', () => {
    const numbers = (count: number) =>
      Array.from({ length: count }, (_, i) => `41793${String((i * 7_919) % count).padStart(6, '0')}`);

    it('splits 2,500 numbers into provider calls of at most 1000 and reassembles them in input order', async () => {
      const to = numbers(2_500);
      const results = await service({ maxNumbersPerOperation: 2_500 }).lookupNumbers(to);

      expect(provider.queries.map((q) => q.length)).toEqual([1_000, 1_000, 500]);
      expect(new Set(provider.queries.flat()).size).toBe(2_500);
      expect(results.map((r) => r.to)).toEqual(to);
      expect(results[1_234]).toEqual(expected(to[1_234]));
    });

    it('keeps at most chunkConcurrency provider calls in flight', async () => {
      provider.hold = true;
      const pending = service({ chunkSize: 10, chunkConcurrency: 2 }).lookupNumbers(numbers(55));
      while (provider.queries.length < 6) {
        await until(() => provider.waiting > 0, 2_000, 'a provider call');
        expect(provider.inFlight).toBeLessThanOrEqual(2);
        provider.release();
      }
      provider.release();
      provider.hold = false;
      expect(await pending).toHaveLength(55);
      expect(provider.maxInFlight).toBe(2);
      expect(provider.queries.map((q) => q.length)).toEqual([10, 10, 10, 10, 10, 5]);
    });

    it('matches results by number, whatever order the provider answers in', async () => {
      provider.shape = (results) => [...results].reverse();
      expect(await service().lookupNumbers([A, B, C])).toEqual([expected(A), expected(B), expected(C)]);
    });

    it('matches results whose number the provider formatted (+, 00) by its digits, never by position', async () => {
      provider.shape = (results) =>
        [...results].reverse().map((r, i) => ({ ...r, to: i % 2 ? `+${r.to}` : `00${r.to}` }));
      expect(await service().lookupNumbers([A, B, C])).toEqual([expected(A), expected(B), expected(C)]);
    });

    it('never reports a result for a number it is not about, even when the count matches', async () => {
      // One number left out and an unasked one in its place: by position, B would get C's result.
      provider.shape = (results) => [...results.filter((r) => r.to !== B), simulateLookup('41793026729')];
      await expect(service().lookupNumbers([A, B, C])).rejects.toMatchObject({
        extensions: { code: 'UPSTREAM_BAD_RESPONSE' },
      });
    });

    it('fails with UPSTREAM_BAD_RESPONSE when the provider leaves a number out, and caches nothing', async () => {
      const s = service({ cacheTtlMs: 60_000 });
      provider.shape = (results) => results.filter((r) => r.to !== B);
      await expect(s.lookupNumbers([A, B, C])).rejects.toMatchObject({
        extensions: { code: 'UPSTREAM_BAD_RESPONSE' },
      });
      provider.shape = (r) => r;
      await s.lookupNumbers([B]);
      expect(provider.queries).toEqual([[A, B, C], [B]]);
    });

    it('splits an async request into notify calls of at most 1000 and records every bulk id', async () => {
      const to = numbers(2_500);
      const record = await service({ maxNumbersPerOperation: 2_500 }).requestLookup(to);

      expect(provider.notifies.map((n) => n.length)).toEqual([1_000, 1_000, 500]);
      expect(provider.notifies.flat()).toEqual(to);
      expect(record).toMatchObject({ state: 'PENDING', to, bulkIds: ['n-1', 'n-2', 'n-3'] });
    });

    it('keeps a request whose later notify failed, naming it in extensions.requestId', async () => {
      provider.failWith = new UpstreamError(GatewayErrorCode.UPSTREAM_BAD_REQUEST, 'no', {
        outcomeKnown: true,
      });
      const error = await service({ maxNumbersPerOperation: 2_500 })
        .requestLookup(numbers(1_500))
        .then(
          () => undefined,
          (e: unknown) => e as UpstreamError,
        );

      expect(error?.extensions.code).toBe('UPSTREAM_BAD_REQUEST');
      const requestId = error?.extensions.requestId as string;
      // The first 1000 were acknowledged: their results will come, so the request is kept.
      expect(await registry.get(requestId)).toMatchObject({ state: 'PENDING', bulkIds: ['n-1'] });
    });
  });

  describe('async requests', () => {
    /** Delivers a callback to the registry as the callback route would, at the notifyUrl's request. */
    const callback = (notifyUrl: string, results: unknown[]) => {
      const { id, secret } = parseCallbackPath(new URL(notifyUrl).pathname)!;
      return registry.receiveCallback(id, secret, { results });
    };

    /** `store`, failing every call but those `working` names once `create` has succeeded (Redis went away). */
    const failingAfterCreate = (working: string[]) => {
      let down = false;
      const failing = new Proxy(store, {
        get(target, property) {
          const value = Reflect.get(target, property, target) as unknown;
          if (typeof value !== 'function') return value;
          const call = (...args: unknown[]) => (value as (...a: unknown[]) => unknown).apply(target, args);
          if (property === 'create')
            return async (...args: unknown[]) => {
              await call(...args);
              down = true;
            };
          return (...args: unknown[]) =>
            down && !working.includes(String(property))
              ? Promise.reject(new Error('connection is closed'))
              : call(...args);
        },
      }) as RequestStore;
      const failingRegistry = new RequestRegistry({
        store: failing,
        pubsub,
        logger: createLogger({ level: 'silent' }),
        asyncTimeoutMs: 60_000,
        retentionMs: 120_000,
      });
      return { failingRegistry, recover: () => (down = false) };
    };

    it("fills the acknowledgement's messageIds into results without one, also one stored before it", async () => {
      // Callbacks carry no messageId here; the first one lands before the notify call has answered.
      provider.beforeAck = (notifyUrl) => callback(notifyUrl, [simulateLookup(A)]);
      const record = await service().requestLookup([A, B, C]);
      expect(record.results).toEqual([{ ...expected(A), messageId: `ack-${A}` }]);

      await callback(provider.notifyUrls[0], [simulateLookup(B), { ...simulateLookup(C), messageId: 'own' }]);
      const messageIds = [
        [A, `ack-${A}`],
        [B, `ack-${B}`],
        [C, 'own'],
      ];
      expect((await registry.get(record.id))!.results.map((r) => [r.to, r.messageId])).toEqual(messageIds);
      const replayed = [];
      for await (const result of await registry.watch(record.id))
        replayed.push([result.to, result.messageId]);
      expect(replayed).toEqual(messageIds);
    });

    it('answers the request after a successful notify even when the store fails right after creating it', async () => {
      const { failingRegistry, recover } = failingAfterCreate([]);
      try {
        const record = await service({ registry: failingRegistry }).requestLookup([A, B]);
        expect(record).toMatchObject({ state: 'PENDING', to: [A, B], bulkIds: ['n-1'], results: [] });
        expect(record.id).toEqual(expect.any(String));
        expect(provider.notifies).toEqual([[A, B]]);
        // Created before the provider was called: there for pollers and subscribers once the store is back.
        recover();
        expect(await failingRegistry.get(record.id)).toMatchObject({ id: record.id, state: 'PENDING' });
      } finally {
        await failingRegistry.dispose();
      }
    });

    it('answers the bulk ids and message ids it got when only recording the acknowledgement fails', async () => {
      const { failingRegistry } = failingAfterCreate(['get', 'addResults']);
      try {
        provider.beforeAck = async (notifyUrl) => {
          const { id, secret } = parseCallbackPath(new URL(notifyUrl).pathname)!;
          await failingRegistry.receiveCallback(id, secret, { results: [simulateLookup(A)] });
        };
        const record = await service({ registry: failingRegistry }).requestLookup([A, B]);
        expect(record).toMatchObject({ state: 'PENDING', to: [A, B], bulkIds: ['n-1'] });
        expect(record.results).toEqual([{ ...expected(A), messageId: `ack-${A}` }]);
      } finally {
        await failingRegistry.dispose();
      }
    });
  });

  describe('lookupLogs', () => {
    it('passes every filter to the provider in its own terms', async () => {
      await service().lookupLogs({
        to: '+41 79 302 67 27',
        bulkIds: ['b-1', 'b-2'],
        messageIds: ['m-1', 'm-2'],
        generalStatus: ' delivered ',
        sentSince: new Date('2024-05-01T12:00:00.250+02:00'),
        sentUntil: '2024-05-02T00:00:00Z',
        limit: 1_000,
        mcc: '228',
        mnc: '01',
      });

      expect(provider.logQueries).toEqual([
        {
          to: '41793026727',
          bulkId: ['b-1', 'b-2'],
          messageId: ['m-1', 'm-2'],
          generalStatus: 'DELIVERED',
          sentSince: '2024-05-01T10:00:00.250+0000',
          sentUntil: '2024-05-02T00:00:00.000+0000',
          limit: 1_000,
          mcc: '228',
          mnc: '01',
        },
      ]);
    });

    it('sends no parameter for an empty filter', async () => {
      await service().lookupLogs({});
      await service().lookupLogs({ bulkIds: [], limit: null, mcc: null });
      expect(provider.logQueries).toEqual([{}, {}]);
    });

    it.each([
      ['limit above 1000', { limit: 1_001 }],
      ['limit below 1', { limit: 0 }],
      ['mnc without mcc', { mnc: '01' }],
      ['an mcc that is not 3 digits', { mcc: '22' }],
      ['an unknown generalStatus', { generalStatus: 'SOMETIMES' }],
      ['sentSince after sentUntil', { sentSince: '2024-05-02T00:00:00Z', sentUntil: '2024-05-01T00:00:00Z' }],
      ['a sentSince that is no date', { sentSince: 'yesterday' }],
      ['a to that is no number', { to: 'call me' }],
      ['an empty bulk id', { bulkIds: [' '] }],
    ])('refuses %s with BAD_USER_INPUT before any provider call', async (_name, filter) => {
      const error = await service()
        .lookupLogs(filter)
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(error).toBeInstanceOf(BadUserInputError);
      expect((error as BadUserInputError).extensions.code).toBe('BAD_USER_INPUT');
      expect(provider.logQueries).toHaveLength(0);
    });

    it('lists every problem of a filter at once', async () => {
      const error = (await service()
        .lookupLogs({ limit: 5_000, mnc: '01', generalStatus: 'NOPE' })
        .catch((e: unknown) => e)) as BadUserInputError;
      expect(error.extensions.problems).toHaveLength(3);
    });

    it('maps provider logs: ISO dates, price, status and error', async () => {
      const result = simulateLookup(A);
      provider.logEntries = [
        {
          bulkId: 'b-1',
          messageId: 'm-1',
          to: A,
          sentAt: '2024-05-01T12:00:00.250+0200',
          doneAt: '2024-05-01T10:00:01.000+0000',
          mccMnc: result.mccMnc,
          price: { currency: 'EUR', pricePerLookup: 0.01 },
          status: result.status,
          error: result.error,
        },
        { to: A, price: { currency: 'EUR' } as ProviderLog['price'], sentAt: 'not a date' },
      ];

      const logs = await service().lookupLogs();

      expect(logs[0]).toEqual({
        to: A,
        mccMnc: result.mccMnc,
        status: expected(A).status,
        error: expected(A).error,
        bulkId: 'b-1',
        messageId: 'm-1',
        sentAt: '2024-05-01T10:00:00.250Z',
        doneAt: '2024-05-01T10:00:01.000Z',
        price: { currency: 'EUR', pricePerLookup: 0.01 },
      });
      // A malformed price or date is left out, never shown half-read.
      expect(logs[1]).toEqual({ to: A, sentAt: null, doneAt: null });
    });
  });

  it('formats provider dates as yyyy-MM-ddTHH:mm:ss.SSS+0000', () => {
    expect(toProviderDate(new Date(Date.UTC(2015, 1, 22, 16, 42, 5, 390)))).toBe(
      '2015-02-22T16:42:05.390+0000',
    );
  });
});
