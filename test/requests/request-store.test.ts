import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import type { LookupResultData } from '../../src/lookup/lookup-result';
import { toLookupResult } from '../../src/lookup/lookup-result';
import { MemoryRequestStore } from '../../src/requests/memory-request-store';
import { RedisRequestStore } from '../../src/requests/redis-request-store';
import type { RequestRecord, RequestStore } from '../../src/requests/request-store';
import { simulateLookup } from '../../src/simulator';
import { until } from '../helpers/deadline';
import { Harness } from '../helpers/gateway';
import { cleanUpPrefix, redisClient, uniquePrefix } from '../helpers/redis';

const NUMBERS = ['41793026720', '41793026724', '41793026725'];
const HOUR_MS = 3_600_000;

const result = (to: string, mccMnc?: string): LookupResultData => ({
  ...toLookupResult(simulateLookup(to), to),
  ...(mccMnc ? { mccMnc } : {}),
});

function newRecord(to = NUMBERS, expiresInMs = HOUR_MS): RequestRecord {
  const now = Date.now();
  return {
    id: randomUUID(),
    secretHash: 'ab'.repeat(32),
    to,
    state: 'PENDING',
    bulkIds: [],
    messageIds: {},
    results: [],
    createdAt: new Date(now).toISOString(),
    expiresAt: new Date(now + expiresInMs).toISOString(),
  };
}

const nowIso = () => new Date().toISOString();

describe.each([{ mode: 'in-process' }, { mode: 'redis' }])('RequestStore ($mode)', ({ mode }) => {
  const harness = new Harness();
  afterEach(() => harness.dispose());

  /** Two handles on the same store: two Redis stores on separate connections, as two instances have. */
  async function stores(): Promise<[RequestStore, RequestStore]> {
    if (mode === 'in-process') {
      const store = new MemoryRequestStore();
      harness.defer(() => store.dispose());
      return [store, store];
    }
    const prefix = uniquePrefix('store');
    await cleanUpPrefix(harness, prefix);
    const a = new RedisRequestStore(await redisClient(harness), { keyPrefix: prefix });
    const b = new RedisRequestStore(await redisClient(harness), { keyPrefix: prefix });
    return [a, b];
  }

  /**
   * A store and its index of PENDING ids (Redis: the `pending` sorted set): its size, and a way to leave in it
   * ids whose request is gone, due long ago, as retention, eviction or a Redis that lost its data do.
   */
  async function indexedStore() {
    if (mode === 'in-process') {
      const store = new MemoryRequestStore();
      harness.defer(() => store.dispose());
      return {
        store,
        size: async () => store.pendingSize,
        leaveGone: async (count: number) => {
          // Past their retention: gone for every reader, though still indexed until someone looks.
          for (let i = 0; i < count; i++) {
            const at = (ms: number) => new Date(ms).toISOString();
            await store.create({ ...newRecord(), createdAt: at(i), expiresAt: at(i + 1) }, 1);
          }
        },
      };
    }
    const prefix = uniquePrefix('store');
    await cleanUpPrefix(harness, prefix);
    const client = await redisClient(harness);
    const pending = `${prefix}pending`;
    return {
      store: new RedisRequestStore(client, { keyPrefix: prefix }),
      size: () => client.zcard(pending),
      leaveGone: async (count: number) => {
        await client.zadd(pending, ...Array.from({ length: count }, (_, i) => [i + 1, randomUUID()]).flat());
      },
    };
  }

  it('drops ids of requests that are gone from the expiry index, finding an overdue one behind 500+ of them', async () => {
    const { store, size, leaveGone } = await indexedStore();
    await leaveGone(600);
    const overdue = newRecord(NUMBERS, 0);
    await store.create(overdue, HOUR_MS);
    expect(await size()).toBe(601);
    expect(await store.dueForExpiry(Date.now(), 500)).toEqual([overdue.id]);
    expect(await size()).toBe(1);
    expect(await store.expire(overdue.id, nowIso())).toBe(true);
    expect(await size()).toBe(0);
  });

  it('keeps the first result per number when many writers race, and completes exactly once', async () => {
    const [a, b] = await stores();
    const last = '41793026721';
    const record = newRecord([...NUMBERS, last]);
    await a.create(record, HOUR_MS);

    // 40 writers, each with its own version of three numbers; only one version per number may win.
    const version = (i: number) => `2280${i}`;
    const racing = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        (i % 2 ? a : b).addResults(
          record.id,
          NUMBERS.map((n) => result(n, version(i))),
          nowIso(),
        ),
      ),
    );
    const added = racing.flatMap((o) => o!.added);
    expect(added.map((r) => r.to).sort()).toEqual([...NUMBERS].sort());
    expect(racing.every((o) => o!.state === 'PENDING' && o!.pending === 1 && !o!.completedNow)).toBe(true);

    // Then 10 writers race for the last number: exactly one of them completes the request.
    const finishing = await Promise.all(
      Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).addResults(record.id, [result(last)], nowIso())),
    );
    expect(finishing.filter((o) => o!.completedNow)).toHaveLength(1);
    expect(finishing.flatMap((o) => o!.added)).toHaveLength(1);
    expect(finishing.every((o) => o!.state === 'COMPLETED' && o!.pending === 0)).toBe(true);

    const stored = (await b.get(record.id))!;
    expect(stored.state).toBe('COMPLETED');
    expect(stored.completedAt).toEqual(expect.any(String));
    // What each winner was told it stored is exactly what every reader sees.
    expect(stored.results.slice(0, 3)).toEqual(
      [...added].sort(
        (x, y) =>
          stored.results.findIndex((r) => r.to === x.to) - stored.results.findIndex((r) => r.to === y.to),
      ),
    );
    expect(stored.results.map((r) => r.to)).toHaveLength(4);
  });

  it('stores results in arrival order and reports what is still pending', async () => {
    const [a, b] = await stores();
    const record = newRecord();
    await a.create(record, HOUR_MS);
    const first = await b.addResults(record.id, [result(NUMBERS[2])], nowIso());
    expect(first).toMatchObject({ state: 'PENDING', completedNow: false, expiredNow: false, pending: 2 });
    const second = await a.addResults(record.id, [result(NUMBERS[2], '99999'), result(NUMBERS[0])], nowIso());
    expect(second!.added.map((r) => r.to)).toEqual([NUMBERS[0]]);
    expect(second!.pending).toBe(1);
    const stored = (await a.get(record.id))!;
    expect(stored.results.map((r) => r.to)).toEqual([NUMBERS[2], NUMBERS[0]]);
    expect(stored.results[0].mccMnc).toBe(result(NUMBERS[2]).mccMnc);
  });

  it('answers null for an unknown request and stores nothing', async () => {
    const [a] = await stores();
    expect(await a.addResults(randomUUID(), [result(NUMBERS[0])], nowIso())).toBeNull();
    expect(await a.get(randomUUID())).toBeNull();
  });

  it('expires a pending request exactly once when several instances try at the same time', async () => {
    const [a, b] = await stores();
    const record = newRecord();
    await a.create(record, HOUR_MS);
    const outcomes = await Promise.all(
      Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).expire(record.id, nowIso())),
    );
    expect(outcomes.filter(Boolean)).toHaveLength(1);
    expect((await b.get(record.id))!.state).toBe('EXPIRED');
    // Nothing is stored once the request is no longer pending.
    const late = await a.addResults(record.id, [result(NUMBERS[0])], nowIso());
    expect(late).toMatchObject({ added: [], state: 'EXPIRED', completedNow: false, expiredNow: false });
    expect((await a.get(record.id))!.results).toEqual([]);
  });

  it('never expires a completed request, and never stores into it', async () => {
    const [a, b] = await stores();
    const record = newRecord([NUMBERS[0]]);
    await a.create(record, HOUR_MS);
    expect((await a.addResults(record.id, [result(NUMBERS[0])], nowIso()))!.completedNow).toBe(true);
    expect(await b.expire(record.id, nowIso())).toBe(false);
    expect(await b.dueForExpiry(Date.now() + 2 * HOUR_MS, 10)).not.toContain(record.id);
    expect((await b.get(record.id))!.state).toBe('COMPLETED');
  });

  it('turns results arriving after the expiry time into the expiry, atomically', async () => {
    const [a, b] = await stores();
    const record = newRecord(NUMBERS, 50);
    await a.create(record, HOUR_MS);
    const afterExpiry = new Date(Date.parse(record.expiresAt) + 1).toISOString();
    const outcomes = await Promise.all([
      a.addResults(record.id, [result(NUMBERS[0])], afterExpiry),
      b.addResults(record.id, [result(NUMBERS[1])], afterExpiry),
    ]);
    expect(outcomes.filter((o) => o!.expiredNow)).toHaveLength(1);
    expect(outcomes.every((o) => o!.added.length === 0 && o!.state === 'EXPIRED')).toBe(true);
    const stored = (await a.get(record.id))!;
    expect(stored).toMatchObject({ state: 'EXPIRED', results: [], completedAt: afterExpiry });
  });

  it('lists overdue pending requests for the sweep', async () => {
    const [a, b] = await stores();
    const overdue = newRecord(NUMBERS, 0);
    const later = newRecord(NUMBERS, HOUR_MS);
    await a.create(overdue, HOUR_MS);
    await a.create(later, HOUR_MS);
    const due = await b.dueForExpiry(Date.now(), 100);
    expect(due).toContain(overdue.id);
    expect(due).not.toContain(later.id);
    await b.expire(overdue.id, nowIso());
    expect(await a.dueForExpiry(Date.now(), 100)).not.toContain(overdue.id);
  });

  it('forgets a request after the retention time', async () => {
    const [a, b] = await stores();
    const record = newRecord(NUMBERS, 100);
    await a.create(record, 300);
    await b.addResults(record.id, [result(NUMBERS[0])], nowIso());
    expect(await a.get(record.id)).not.toBeNull();
    await until(async () => (await b.get(record.id)) === null, 5_000, 'the request to be forgotten');
    expect(await a.addResults(record.id, [result(NUMBERS[1])], nowIso())).toBeNull();
  });

  it('merges acknowledgements: bulk ids without duplicates, the first message id per number', async () => {
    const [a, b] = await stores();
    const record = newRecord();
    await a.create(record, HOUR_MS);
    // An acknowledgement without a bulk id still leaves a list (cjson would write an empty one as an object).
    await a.addAcknowledgement(record.id, { bulkIds: [], messageIds: { [NUMBERS[2]]: 'm-2' } });
    expect(await b.get(record.id)).toMatchObject({ bulkIds: [], messageIds: { [NUMBERS[2]]: 'm-2' } });
    await a.addAcknowledgement(record.id, { bulkIds: ['b-1', 'b-2'], messageIds: { [NUMBERS[0]]: 'm-0' } });
    await b.addAcknowledgement(record.id, {
      bulkIds: ['b-2', 'b-3'],
      messageIds: { [NUMBERS[0]]: 'other', [NUMBERS[1]]: 'm-1' },
    });
    expect(await a.get(record.id)).toMatchObject({
      bulkIds: ['b-1', 'b-2', 'b-3'],
      messageIds: { [NUMBERS[0]]: 'm-0', [NUMBERS[1]]: 'm-1', [NUMBERS[2]]: 'm-2' },
    });
    // Kept apart from the results, which stay as stored.
    await a.addResults(record.id, [result(NUMBERS[0])], nowIso());
    expect((await b.get(record.id))!.results).toEqual([result(NUMBERS[0])]);
    expect(await a.addAcknowledgement(randomUUID(), { bulkIds: ['b-4'], messageIds: {} })).toBeUndefined();
  });

  it('deletes a request entirely', async () => {
    const [a, b] = await stores();
    const record = newRecord();
    await a.create(record, HOUR_MS);
    await b.delete(record.id);
    expect(await a.get(record.id)).toBeNull();
    expect(await a.dueForExpiry(Date.now() + 2 * HOUR_MS, 100)).not.toContain(record.id);
  });
});

describe('RedisRequestStore', () => {
  const harness = new Harness();
  afterEach(() => harness.dispose());

  it('reads back exactly what the in-process store does', async () => {
    const prefix = uniquePrefix('store');
    await cleanUpPrefix(harness, prefix);
    const redis = new RedisRequestStore(await redisClient(harness), { keyPrefix: prefix });
    const memory = new MemoryRequestStore();
    harness.defer(() => memory.dispose());
    const record = { ...newRecord(), ownerId: 'client-1' };
    const results = [result(NUMBERS[1]), result(NUMBERS[0]), result(NUMBERS[2])];
    for (const store of [redis, memory]) {
      await store.create(record, HOUR_MS);
      await store.addAcknowledgement(record.id, {
        bulkIds: ['b-1'],
        messageIds: Object.fromEntries(NUMBERS.map((n) => [n, `m-${n}`])),
      });
      await store.addResults(record.id, results.slice(0, 1), record.createdAt);
      await store.addResults(record.id, results.slice(1), record.createdAt);
    }
    const fromRedis = (await redis.get(record.id))!;
    const fromMemory = (await memory.get(record.id))!;
    expect(JSON.parse(JSON.stringify(fromRedis))).toEqual(JSON.parse(JSON.stringify(fromMemory)));
    // Results are what clients see: identical to the byte.
    expect(JSON.stringify(fromRedis.results)).toBe(JSON.stringify(fromMemory.results));
  });

  it('lets every key of a request expire with the retention time', async () => {
    const prefix = uniquePrefix('store');
    await cleanUpPrefix(harness, prefix);
    const client = await redisClient(harness);
    const store = new RedisRequestStore(client, { keyPrefix: prefix });
    const record = newRecord();
    await store.create(record, 60_000);
    await store.addResults(record.id, [result(NUMBERS[0])], nowIso());
    const meta = `${prefix}req:${record.id}`;
    for (const key of [meta, `${meta}:results`, `${meta}:order`]) {
      const ttl = await client.pttl(key);
      expect(ttl).toBeGreaterThan(50_000);
      expect(ttl).toBeLessThanOrEqual(60_000);
    }
  });

  it('rejects at once while Redis is unreachable, and writes nothing', async () => {
    const prefix = uniquePrefix('store');
    await cleanUpPrefix(harness, prefix);
    const client = await redisClient(harness);
    const store = new RedisRequestStore(client, { keyPrefix: prefix });
    const record = newRecord();
    await store.create(record, HOUR_MS);

    const offline = new Redis('redis://127.0.0.1:1', {
      lazyConnect: true,
      enableOfflineQueue: false,
      retryStrategy: () => null,
    });
    offline.on('error', () => undefined);
    const broken = new RedisRequestStore(offline, { keyPrefix: prefix });
    await expect(broken.addResults(record.id, [result(NUMBERS[0])], nowIso())).rejects.toThrow();
    await expect(broken.get(record.id)).rejects.toThrow();
    expect(await broken.ping()).toBe(false);
    expect((await store.get(record.id))!.results).toEqual([]);
  });
});
