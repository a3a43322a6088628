import { Redis } from 'ioredis';
import type { LookupResultData } from '../../src/lookup/lookup-result';
import { createLogger } from '../../src/observability/logger';
import { MemoryPubSub } from '../../src/pubsub/memory-pubsub';
import { RedisPubSub } from '../../src/pubsub/redis-pubsub';
import { MemoryRequestStore } from '../../src/requests/memory-request-store';
import { RedisRequestStore } from '../../src/requests/redis-request-store';
import { RequestRegistry } from '../../src/requests/request-registry';
import { within } from '../helpers/deadline';
import { Harness } from '../helpers/gateway';
import { finalResult, pendingResult } from '../helpers/instances';
import { cleanUpPrefix, numsub, redisClient, TEST_REDIS_URL, uniquePrefix } from '../helpers/redis';

const logger = createLogger({ level: 'silent' });
const NUMBERS = ['41793026720', '41793026724', '41793026725'];
const HOUR_MS = 3_600_000;

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
    // A result arriving after the expiry is refused, not stored.
    expect(await a.receiveCallback(record.id, secret, { results: [finalResult(NUMBERS[1])] })).toMatchObject({
      kind: 'accepted',
      stored: 0,
    });
    expect((await b.get(record.id))!.results).toHaveLength(1);
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

  it('refuses a watch while pub/sub is down, leaving no listener or watch behind', async () => {
    const { a, pubsubA, kill } = await registries({ retryDelayMs: 1_000 });
    const { record } = await a.create(NUMBERS);
    await kill!.a('subscriber');
    await expect(a.watch(record.id)).rejects.toThrow();
    expect(a.stats().activeWatches).toBe(0);
    expect(pubsubA.listenerCount()).toBe(0);
  });
});
