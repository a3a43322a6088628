import { Redis } from 'ioredis';
import type { LookupResultData } from '../../src/lookup/lookup-result';
import { createLogger } from '../../src/observability/logger';
import { MemoryPubSub } from '../../src/pubsub/memory-pubsub';
import { lookupTopic } from '../../src/pubsub/pubsub';
import { RedisPubSub } from '../../src/pubsub/redis-pubsub';
import { MemoryRequestStore } from '../../src/requests/memory-request-store';
import { RedisRequestStore } from '../../src/requests/redis-request-store';
import { RequestRegistry } from '../../src/requests/request-registry';
import type { RequestStore } from '../../src/requests/request-store';
import type { ProviderResult } from '../../src/upstream/provider-types';
import { within } from '../helpers/deadline';
import { Harness } from '../helpers/gateway';
import { finalResult, pendingResult } from '../helpers/instances';
import { cleanUpPrefix, numsub, redisClient, TEST_REDIS_URL, uniquePrefix } from '../helpers/redis';

const logger = createLogger({ level: 'silent' });
const NUMBERS = ['41793026720', '41793026724', '41793026725'];
const HOUR_MS = 3_600_000;

/** A final result as a callback may carry it: without a messageId. */
const bare = (to: string): Omit<ProviderResult, 'messageId'> => {
  const { messageId: _messageId, ...rest } = finalResult(to);
  return rest;
};

/** Reads a watch into an array as it streams; `count(n)` waits for n results, `done` for the end. */
function drain(iterator: AsyncIterableIterator<LookupResultData>) {
  const results: LookupResultData[] = [];
  const waiters: (() => void)[] = [];
  let finished = false;
  const done = (async () => {
    for await (const result of iterator) {
      results.push(result);
      for (const waiter of waiters.splice(0)) waiter();
    }
    finished = true;
    for (const waiter of waiters.splice(0)) waiter();
  })();
  return {
    results,
    done: within(done, 5_000, 'the watch to finish').then(() => results),
    async count(n: number, ms = 5_000) {
      await within(
        new Promise<void>((resolve) => {
          const check = () => (results.length >= n || finished ? resolve() : waiters.push(check));
          check();
        }),
        ms,
        `${n} results (got ${results.length})`,
      );
      return results;
    },
  };
}

describe.each([{ mode: 'in-process' }, { mode: 'redis' }])('RequestRegistry ($mode)', ({ mode }) => {
  const harness = new Harness();
  afterEach(() => harness.dispose());

  async function connection(retryDelayMs = 50): Promise<Redis> {
    const redis = new Redis(TEST_REDIS_URL, {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      commandTimeout: 2_000,
      retryStrategy: () => retryDelayMs,
      disconnectTimeout: 100,
    });
    redis.on('error', () => undefined);
    await redis.connect();
    harness.defer(async () => {
      await redis.quit().catch(() => redis.disconnect());
    });
    return redis;
  }

  /**
   * Two registries sharing one store and bus (two instances, with Redis; the same one in process). Their
   * Redis connections reconnect after `retryDelayMs`, and can be killed one by one.
   */
  async function registries(options: { asyncTimeoutMs?: number; retryDelayMs?: number } = {}) {
    const settings = { logger, asyncTimeoutMs: options.asyncTimeoutMs ?? HOUR_MS, retentionMs: HOUR_MS };
    if (mode === 'in-process') {
      const store = new MemoryRequestStore();
      const pubsub = new MemoryPubSub();
      const registry = new RequestRegistry({ store, pubsub, ...settings });
      harness.defer(async () => {
        await registry.dispose();
        await store.dispose();
      });
      return { a: registry, b: registry, pubsubA: pubsub, prefix: '', kill: undefined };
    }
    const prefix = uniquePrefix('registry');
    await cleanUpPrefix(harness, prefix);
    const admin = await redisClient(harness);
    const instance = async () => {
      const [command, publisher, subscriber] = await Promise.all([
        connection(options.retryDelayMs),
        connection(options.retryDelayMs),
        connection(options.retryDelayMs),
      ]);
      const ids = {
        publisher: (await publisher.client('ID')) as number,
        subscriber: (await subscriber.client('ID')) as number,
      };
      const pubsub = new RedisPubSub(publisher, subscriber, logger, { channelPrefix: prefix });
      const store = new RedisRequestStore(command, { keyPrefix: prefix });
      const registry = new RequestRegistry({ store, pubsub, ...settings });
      harness.defer(async () => {
        await registry.dispose();
        await pubsub.dispose();
      });
      /**
       * Kills one of this instance's connections server-side; resolves once the client saw it close, with a
       * promise of its return.
       */
      const kill = async (which: 'publisher' | 'subscriber') => {
        const connection = which === 'publisher' ? publisher : subscriber;
        const closed = new Promise((resolve) => connection.once('close', resolve));
        const back = new Promise<void>((resolve) => connection.once('ready', () => resolve()));
        await admin.client('KILL', 'ID', String(ids[which]));
        await within(closed, 5_000, `the ${which} connection to close`);
        return { back: () => within(back, 5_000, `the ${which} connection to come back`) };
      };
      return { registry, pubsub, kill };
    };
    const a = await instance();
    const b = await instance();
    return { a: a.registry, b: b.registry, pubsubA: a.pubsub, prefix, kill: { a: a.kill, b: b.kill }, admin };
  }

  it('replays what was stored before the watch, then streams the rest, one result per number', async () => {
    const { a, b } = await registries();
    const { record, secret } = await a.create(NUMBERS);
    await b.receiveCallback(record.id, secret, { results: [finalResult(NUMBERS[1])] });

    const watch = drain(await a.watch(record.id));
    await watch.count(1);
    // The same number again (a provider retry, another instance), a pending status, then the rest.
    await b.receiveCallback(record.id, secret, { results: [finalResult(NUMBERS[1], { mccMnc: '99999' })] });
    await a.receiveCallback(record.id, secret, { results: [pendingResult(NUMBERS[0])] });
    await b.receiveCallback(record.id, secret, {
      results: [finalResult(NUMBERS[2]), finalResult(NUMBERS[0])],
    });
    const results = await watch.done;
    expect(results.map((r) => r.to)).toEqual([NUMBERS[1], NUMBERS[2], NUMBERS[0]]);
    expect(results[0].mccMnc).not.toBe('99999');
    expect(results[2].status?.groupName).not.toBe('PENDING');
    expect(a.stats().activeWatches).toBe(0);
  });

  it('counts what a callback stored, repeated and ignored, and what is still pending', async () => {
    const { a, b } = await registries();
    const { record, secret } = await a.create(NUMBERS);
    expect(
      await b.receiveCallback(record.id, secret, {
        results: [finalResult(NUMBERS[0]), pendingResult(NUMBERS[1]), finalResult('4915112345678')],
      }),
    ).toEqual({ kind: 'accepted', stored: 1, duplicates: 0, ignored: 2, pending: 2 });
    expect(
      await a.receiveCallback(record.id, secret, {
        results: [finalResult(NUMBERS[0]), finalResult(NUMBERS[1])],
      }),
    ).toEqual({ kind: 'accepted', stored: 1, duplicates: 1, ignored: 0, pending: 1 });
    expect(await a.receiveCallback(record.id, 'wrong', { results: [finalResult(NUMBERS[2])] })).toEqual({
      kind: 'not-found',
    });
  });

  it('expires an overdue request when it is read, and completes its watchers', async () => {
    const { a, b } = await registries({ asyncTimeoutMs: 200 });
    const { record, secret } = await a.create(NUMBERS);
    await b.receiveCallback(record.id, secret, { results: [finalResult(NUMBERS[0])] });
    const watch = drain(await b.watch(record.id));
    expect((await watch.done).map((r) => r.to)).toEqual([NUMBERS[0]]);
    expect(await a.get(record.id)).toMatchObject({ state: 'EXPIRED', completedAt: expect.any(String) });
    // A result arriving after the expiry is refused, not stored: ignored, even when given twice.
    expect(
      await a.receiveCallback(record.id, secret, {
        results: [finalResult(NUMBERS[1]), finalResult(NUMBERS[1])],
      }),
    ).toEqual({ kind: 'accepted', stored: 0, duplicates: 0, ignored: 2, pending: 2 });
    expect((await b.get(record.id))!.results).toHaveLength(1);
  });

  it("fills the acknowledgement's messageId into results that lack one, whichever arrived first", async () => {
    const { a, b } = await registries();
    const { record, secret } = await a.create(NUMBERS);
    // The callback beats the acknowledgement: its result is stored before the message ids are known.
    await b.receiveCallback(record.id, secret, { results: [bare(NUMBERS[0])] });
    const messageIds = Object.fromEntries(NUMBERS.map((n) => [n, `ack-${n}`]));
    await a.addAcknowledgement(record.id, { bulkIds: ['b-1'], messageIds });
    const watch = drain(await b.watch(record.id));
    await watch.count(1);
    // Then one after it (streamed live), and one with a messageId of its own, which is kept.
    await a.receiveCallback(record.id, secret, {
      results: [bare(NUMBERS[1]), finalResult(NUMBERS[2], { messageId: 'own' })],
    });
    const expected = [
      [NUMBERS[0], `ack-${NUMBERS[0]}`],
      [NUMBERS[1], `ack-${NUMBERS[1]}`],
      [NUMBERS[2], 'own'],
    ];
    expect((await watch.done).map((r) => [r.to, r.messageId])).toEqual(expected);
    expect((await b.get(record.id))!.results.map((r) => [r.to, r.messageId])).toEqual(expected);
    const replayed = drain(await a.watch(record.id));
    expect((await replayed.done).map((r) => [r.to, r.messageId])).toEqual(expected);
  });

  it('takes only ids of the form it hands out, so no client string names another store key', async () => {
    const { a } = await registries();
    const { record, secret } = await a.create(NUMBERS);
    for (const forged of [`${record.id}:order`, `${record.id}:results`, record.id.toUpperCase(), '*']) {
      expect(await a.get(forged)).toBeNull();
      expect(await a.verifyCallback(forged, secret)).toBe(false);
      expect(await a.receiveCallback(forged, secret, { results: [] })).toEqual({ kind: 'not-found' });
      await expect(a.watch(forged)).rejects.toMatchObject({ extensions: { code: 'NOT_FOUND' } });
    }
    expect(await a.get(record.id)).not.toBeNull();
  });

  it('hands every watch on an instance the same object for a live result, so one execution serves them all', async () => {
    const { a, b } = await registries();
    const { record, secret } = await a.create(NUMBERS);
    const messageIds = Object.fromEntries(NUMBERS.map((n) => [n, `ack-${n}`]));
    await a.addAcknowledgement(record.id, { bulkIds: ['b-1'], messageIds });
    const first = drain(await a.watch(record.id));
    const second = drain(await a.watch(record.id));
    await b.receiveCallback(record.id, secret, { results: [bare(NUMBERS[0])] });
    await first.count(1);
    await second.count(1);
    expect(first.results[0]).toBe(second.results[0]);
    expect(first.results[0].messageId).toBe(`ack-${NUMBERS[0]}`);
  });

  it('fails a watch with NOT_FOUND, not a completion, when its request disappears while watched', async () => {
    const { a, b, pubsubA } = await registries();
    const { record, secret } = await a.create(NUMBERS);
    await b.receiveCallback(record.id, secret, { results: [finalResult(NUMBERS[0])] });
    const watch = drain(await a.watch(record.id));
    await watch.count(1);
    const failed = expect(watch.done).rejects.toMatchObject({ extensions: { code: 'NOT_FOUND' } });
    // Gone from the store (Redis restarted empty, eviction); the next rebuild finds nothing.
    await b.abandon(record.id);
    await pubsubA.publish(lookupTopic(record.id), { type: 'resync' });
    await failed;
    expect(watch.results.map((r) => r.to)).toEqual([NUMBERS[0]]);
    expect(a.stats().activeWatches).toBe(0);
    expect(pubsubA.listenerCount()).toBe(0);
  });

  it('never lets a pending status pass for a final result, even one the mapping cannot read', async () => {
    const { a, b } = await registries();
    const { record, secret } = await a.create(NUMBERS);
    // String ids, or no id and name: the mapping drops such a status, but it is still PENDING.
    const pending = [
      { to: NUMBERS[0], status: { groupId: '1', groupName: 'PENDING', id: '3', name: 'PENDING_ENROUTE' } },
      { to: NUMBERS[1], status: { groupId: 1, groupName: 'PENDING' } },
      { to: NUMBERS[2], status: { groupName: 'pending', id: 26 } },
    ];
    expect(await b.receiveCallback(record.id, secret, { results: pending })).toEqual({
      kind: 'accepted',
      stored: 0,
      duplicates: 0,
      ignored: 3,
      pending: 3,
    });
    expect(
      await a.receiveCallback(record.id, secret, { results: NUMBERS.map((n) => finalResult(n)) }),
    ).toMatchObject({ stored: 3, duplicates: 0 });
    const stored = (await b.get(record.id))!;
    expect(stored.state).toBe('COMPLETED');
    expect(stored.results.map((r) => r.status?.groupId)).toEqual(
      NUMBERS.map((n) => finalResult(n).status?.groupId),
    );
    expect(stored.results.every((r) => r.status && r.status.groupId !== 1)).toBe(true);
  });

  it('counts a number given twice in one callback as a duplicate, keeping the first', async () => {
    const { a, b } = await registries();
    const { record, secret } = await a.create(NUMBERS);
    expect(
      await b.receiveCallback(record.id, secret, {
        results: [finalResult(NUMBERS[0]), finalResult(NUMBERS[0], { mccMnc: '99999' })],
      }),
    ).toEqual({ kind: 'accepted', stored: 1, duplicates: 1, ignored: 0, pending: 2 });
    // Once stored, repeated within a body and across bodies alike.
    expect(
      await a.receiveCallback(record.id, secret, {
        results: [finalResult(NUMBERS[0]), finalResult(NUMBERS[0]), finalResult(NUMBERS[1])],
      }),
    ).toEqual({ kind: 'accepted', stored: 1, duplicates: 2, ignored: 0, pending: 1 });
    expect((await a.get(record.id))!.results.map((r) => [r.to, r.mccMnc])).toEqual([
      [NUMBERS[0], finalResult(NUMBERS[0]).mccMnc],
      [NUMBERS[1], finalResult(NUMBERS[1]).mccMnc],
    ]);
  });

  it('refuses a callback without a single usable result, and keeps the usable ones among garbage', async () => {
    const { a, b } = await registries();
    const { record, secret } = await a.create(NUMBERS);
    expect(await b.receiveCallback(record.id, secret, { results: [null, 1, 'x'] })).toMatchObject({
      kind: 'invalid',
    });
    expect(
      await b.receiveCallback(record.id, secret, { results: [{ to: 41793026720 }, [NUMBERS[0]], {}] }),
    ).toMatchObject({ kind: 'invalid' });
    expect(await b.receiveCallback(record.id, secret, { results: {} })).toMatchObject({ kind: 'invalid' });
    expect(
      await a.receiveCallback(record.id, secret, {
        results: [null, finalResult(NUMBERS[1]), 'x', { to: 5 }],
      }),
    ).toEqual({ kind: 'accepted', stored: 1, duplicates: 0, ignored: 3, pending: 2 });
    // Empty is not garbage: a callback with nothing in it.
    expect(await b.receiveCallback(record.id, secret, { results: [] })).toEqual({
      kind: 'accepted',
      stored: 0,
      duplicates: 0,
      ignored: 0,
      pending: 2,
    });
    expect((await a.get(record.id))!.results.map((r) => r.to)).toEqual([NUMBERS[1]]);
  });

  it("matches numbers the provider writes with '+' or '00' to the request's, ignoring ones it did not ask for", async () => {
    const { a, b } = await registries();
    const { record, secret } = await a.create(NUMBERS);
    const as = (to: string, written: string) => ({ ...finalResult(to), to: written });
    expect(
      await b.receiveCallback(record.id, secret, {
        results: [
          as(NUMBERS[0], `+${NUMBERS[0]}`),
          as(NUMBERS[1], `00${NUMBERS[1]}`),
          as('41793026727', '+41793026727'),
          as('41793026727', '0041793026727'),
        ],
      }),
    ).toEqual({ kind: 'accepted', stored: 2, duplicates: 0, ignored: 2, pending: 1 });
    // Another spelling of a number already stored is that number again.
    expect(
      await a.receiveCallback(record.id, secret, {
        results: [as(NUMBERS[0], `00${NUMBERS[0]}`), as(NUMBERS[2], `+${NUMBERS[2]}`)],
      }),
    ).toEqual({ kind: 'accepted', stored: 1, duplicates: 1, ignored: 0, pending: 0 });
    const stored = (await a.get(record.id))!;
    expect(stored.results.map((r) => r.to)).toEqual([NUMBERS[0], NUMBERS[1], NUMBERS[2]]);
    expect(stored.state).toBe('COMPLETED');
  });

  it('lets go of everything when the consumer returns a watch mid-stream', async () => {
    const { a, pubsubA, prefix } = await registries();
    const { record } = await a.create(NUMBERS);
    const iterator = await a.watch(record.id);
    expect(a.stats().activeWatches).toBe(1);
    expect(pubsubA.listenerCount()).toBe(1);
    const waiting = iterator.next();
    await iterator.return!();
    expect(await waiting).toEqual({ value: undefined, done: true });
    expect(a.stats().activeWatches).toBe(0);
    expect(pubsubA.listenerCount()).toBe(0);
    if (mode === 'redis') {
      const admin = await redisClient(harness);
      await within(
        (async () => {
          while ((await numsub(admin, `${prefix}lookup:${record.id}`)) !== 0) await new Promise(setImmediate);
        })(),
        5_000,
        'NUMSUB 0',
      );
    }
  });

  it('ends every open watch on dispose', async () => {
    const { a } = await registries();
    const { record } = await a.create(NUMBERS);
    const watch = drain(await a.watch(record.id));
    await a.dispose();
    expect(await watch.done).toEqual([]);
    expect(a.stats().activeWatches).toBe(0);
  });

  if (mode !== 'redis') return;

  it('delivers results stored while its pub/sub connection was down, once it is back (resync)', async () => {
    const { a, b, kill } = await registries({ retryDelayMs: 300 });
    const { record, secret } = await a.create(NUMBERS);
    const watch = drain(await a.watch(record.id));
    await kill!.a('subscriber');
    // Stored and published by instance B while A cannot hear it: the publish is lost for A.
    expect(await b.receiveCallback(record.id, secret, { results: [finalResult(NUMBERS[0])] })).toMatchObject({
      stored: 1,
    });
    expect((await watch.count(1)).map((r) => r.to)).toEqual([NUMBERS[0]]);
    await b.receiveCallback(record.id, secret, {
      results: [finalResult(NUMBERS[1]), finalResult(NUMBERS[2])],
    });
    expect((await watch.done).map((r) => r.to)).toEqual(NUMBERS.slice(0, 3));
  });

  it('fails a callback whose publish failed after storing, and makes watchers catch up on the retry', async () => {
    const { a, b, kill } = await registries({ retryDelayMs: 300 });
    const { record, secret } = await a.create(NUMBERS);
    const watch = drain(await a.watch(record.id));
    const { back } = await kill!.b('publisher');
    const body = { results: [finalResult(NUMBERS[2])] };
    await expect(b.receiveCallback(record.id, secret, body)).rejects.toThrow();
    // Stored nevertheless (atomically), but nobody was told.
    expect((await a.get(record.id))!.results.map((r) => r.to)).toEqual([NUMBERS[2]]);
    expect(watch.results).toEqual([]);

    // The provider retries after the 503, by which time B's publisher is back.
    await back();
    expect(await b.receiveCallback(record.id, secret, body)).toMatchObject({ stored: 0, duplicates: 1 });
    expect((await watch.count(1)).map((r) => r.to)).toEqual([NUMBERS[2]]);
  });

  it('expires an overdue request queued behind 500+ ids of requests that are gone, and drops those ids', async () => {
    const prefix = uniquePrefix('sweep');
    await cleanUpPrefix(harness, prefix);
    const admin = await redisClient(harness);
    const pending = `${prefix}pending`;
    // Ids whose records went (retention, eviction, a Redis that lost its data), all due long before the real one.
    await admin.zadd(pending, ...Array.from({ length: 600 }, (_, i) => [i + 1, `gone-${i}`]).flat());
    const store = new RedisRequestStore(await connection(), { keyPrefix: prefix });
    let expired: (id: string) => void = () => undefined;
    const expiredId = new Promise<string>((resolve) => (expired = resolve));
    const registry = new RequestRegistry({
      store,
      pubsub: new MemoryPubSub(),
      logger,
      // Overdue at once, and nobody reads it: only the sweep can expire it.
      asyncTimeoutMs: 0,
      retentionMs: HOUR_MS,
      expirySweepIntervalMs: 10,
      onStateChange: ({ id, state }) => state === 'EXPIRED' && expired(id),
    });
    harness.defer(() => registry.dispose());
    const { record } = await registry.create(NUMBERS);
    expect(await within(expiredId, 5_000, 'the sweep to expire the request')).toBe(record.id);
    expect((await store.get(record.id))!.state).toBe('EXPIRED');
    expect(await admin.zcard(pending)).toBe(0);
  });

  it('refuses a watch while pub/sub is down, leaving no listener or watch behind', async () => {
    const { a, pubsubA, kill } = await registries({ retryDelayMs: 1_000 });
    const { record } = await a.create(NUMBERS);
    await kill!.a('subscriber');
    await expect(a.watch(record.id)).rejects.toThrow();
    expect(a.stats().activeWatches).toBe(0);
    expect(pubsubA.listenerCount()).toBe(0);
  });
});

describe('RequestRegistry.watch', () => {
  const harness = new Harness();
  afterEach(() => harness.dispose());

  /**
   * A registry whose store runs `duringRead` (once armed) inside the watch's store read, once the watch is on the
   * live topic: before reading (the read sees what it did) or after (the read is already stale).
   */
  function racingRegistry(order: 'before read' | 'after read') {
    const inner = new MemoryRequestStore();
    const pubsub = new MemoryPubSub();
    let duringRead: (() => Promise<unknown>) | undefined;
    const store = new Proxy(inner, {
      get(target, property) {
        if (property === 'get') {
          return async (id: string) => {
            // Only the read made by a watch that is already subscribed.
            const race = pubsub.listenerCount() > 0 ? duringRead : undefined;
            if (race) duringRead = undefined;
            if (race && order === 'before read') await race();
            const record = await target.get(id);
            if (race && order === 'after read') await race();
            return record;
          };
        }
        const value = Reflect.get(target, property, target) as unknown;
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    }) as RequestStore;
    const registry = new RequestRegistry({
      store,
      pubsub,
      logger,
      asyncTimeoutMs: HOUR_MS,
      retentionMs: HOUR_MS,
    });
    harness.defer(async () => {
      await registry.dispose();
      await inner.dispose();
    });
    return { registry, arm: (race: () => Promise<unknown>) => (duringRead = race) };
  }

  it.each(['after read', 'before read'] as const)(
    'delivers exactly once a result stored and published while the watch reads the store (%s)',
    async (order) => {
      const { registry, arm } = racingRegistry(order);
      const { record, secret } = await registry.create(NUMBERS);
      // A callback lands while the watch reads: stored, then published, while the watch is replaying.
      arm(() => registry.receiveCallback(record.id, secret, { results: [finalResult(NUMBERS[1])] }));
      const watch = drain(await registry.watch(record.id));
      expect((await watch.count(1, 2_000)).map((r) => r.to)).toEqual([NUMBERS[1]]);
      await registry.receiveCallback(record.id, secret, {
        results: [finalResult(NUMBERS[0]), finalResult(NUMBERS[2])],
      });
      expect((await watch.done).map((r) => r.to)).toEqual([NUMBERS[1], NUMBERS[0], NUMBERS[2]]);
      expect(registry.stats().activeWatches).toBe(0);
    },
  );
});
