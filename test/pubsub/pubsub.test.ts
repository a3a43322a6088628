import { Redis } from 'ioredis';
import { createLogger } from '../../src/observability/logger';
import { MemoryPubSub } from '../../src/pubsub/memory-pubsub';
import type { LookupEvent, PubSub } from '../../src/pubsub/pubsub';
import { RedisPubSub } from '../../src/pubsub/redis-pubsub';
import { until, within } from '../helpers/deadline';
import { Harness } from '../helpers/gateway';
import { numsub, redisClient, TEST_REDIS_URL, uniquePrefix } from '../helpers/redis';

const logger = createLogger({ level: 'silent' });
const ended: LookupEvent = { type: 'ended', state: 'COMPLETED' };

/** A connection configured as the gateway configures its own (fail fast while Redis is away). */
async function gatewayConnection(harness: Harness, retryDelayMs = 50): Promise<Redis> {
  const redis = new Redis(TEST_REDIS_URL, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: 2_000,
    retryStrategy: () => retryDelayMs,
    // ioredis arms this timer even when disconnecting an already closed socket; the default 2 s outlives jest.
    disconnectTimeout: 100,
  });
  redis.on('error', () => undefined);
  await redis.connect();
  harness.defer(async () => {
    await redis.quit().catch(() => redis.disconnect());
  });
  return redis;
}

/** Collects events; `next(n)` waits for the n-th. */
function collector() {
  const events: LookupEvent[] = [];
  const waiters: (() => void)[] = [];
  return {
    events,
    listener: (event: LookupEvent) => {
      events.push(event);
      for (const waiter of waiters.splice(0)) waiter();
    },
    async count(n: number, ms = 5_000) {
      await within(
        new Promise<void>((resolve) => {
          const check = () => (events.length >= n ? resolve() : waiters.push(check));
          check();
        }),
        ms,
        `${n} events (got ${events.length})`,
      );
      return events;
    },
  };
}

describe.each([{ mode: 'in-process' }, { mode: 'redis' }])('PubSub ($mode)', ({ mode }) => {
  const harness = new Harness();
  afterEach(() => harness.dispose());
  let prefix = '';

  /** Two engines sharing one bus: two Redis engines on their own connections, as two instances have. */
  async function engines(): Promise<[PubSub, PubSub]> {
    if (mode === 'in-process') {
      const pubsub = new MemoryPubSub();
      harness.defer(() => pubsub.dispose());
      return [pubsub, pubsub];
    }
    prefix = uniquePrefix('pubsub');
    const make = async () => {
      const pubsub = new RedisPubSub(
        await gatewayConnection(harness),
        await gatewayConnection(harness),
        logger,
        {
          channelPrefix: prefix,
        },
      );
      harness.defer(() => pubsub.dispose());
      return pubsub;
    };
    return [await make(), await make()];
  }

  it('delivers an event to every listener of its topic and to no other topic', async () => {
    const [a, b] = await engines();
    const first = collector();
    const second = collector();
    const other = collector();
    await a.subscribe('lookup:1', first.listener);
    await b.subscribe('lookup:1', second.listener);
    await a.subscribe('lookup:2', other.listener);
    await b.publish('lookup:1', ended);
    expect(await first.count(1)).toEqual([ended]);
    expect(await second.count(1)).toEqual([ended]);
    await b.publish('lookup:2', { type: 'resync' });
    await other.count(1);
    expect(other.events).toEqual([{ type: 'resync' }]);
    expect(first.events).toHaveLength(1);
  });

  it('resolves subscribe only once delivery is live, for every concurrent subscriber', async () => {
    const [a, b] = await engines();
    // Each subscriber publishes the moment its subscribe resolves: a subscribe that resolved early misses it.
    const topics = Array.from({ length: 50 }, (_, i) => `lookup:live-${i % 10}`);
    const collectors = topics.map(() => collector());
    await Promise.all(
      topics.map(async (topic, i) => {
        await a.subscribe(topic, collectors[i].listener);
        await b.publish(topic, ended);
      }),
    );
    for (const c of collectors) await c.count(1);
  });

  it('stops delivering to a listener that left, and keeps the topic for the others', async () => {
    const [a, b] = await engines();
    const leaving = collector();
    const staying = collector();
    const leave = await a.subscribe('lookup:3', leaving.listener);
    await a.subscribe('lookup:3', staying.listener);
    await leave();
    expect(a.listenerCount()).toBe(1);
    await b.publish('lookup:3', ended);
    await staying.count(1);
    expect(leaving.events).toEqual([]);
  });

  it('is back at zero listeners after heavy concurrent subscribe/unsubscribe churn', async () => {
    const [a, b] = await engines();
    await Promise.all(
      Array.from({ length: 200 }, async (_, i) => {
        const unsubscribe = await a.subscribe(`lookup:churn-${i % 5}`, () => undefined);
        if (i % 3 === 0) await b.publish(`lookup:churn-${i % 5}`, ended);
        await unsubscribe();
      }),
    );
    expect(a.listenerCount()).toBe(0);
    if (mode === 'redis') {
      const admin = await redisClient(harness);
      for (let i = 0; i < 5; i++) expect(await numsub(admin, `${prefix}lookup:churn-${i}`)).toBe(0);
    }
  });
});

describe('RedisPubSub', () => {
  const harness = new Harness();
  afterEach(() => harness.dispose());

  async function setup(retryDelayMs = 50) {
    const prefix = uniquePrefix('pubsub');
    const subscriber = await gatewayConnection(harness, retryDelayMs);
    const subscriberId = (await subscriber.client('ID')) as number;
    const pubsub = new RedisPubSub(await gatewayConnection(harness), subscriber, logger, {
      channelPrefix: prefix,
    });
    const other = new RedisPubSub(
      await gatewayConnection(harness),
      await gatewayConnection(harness),
      logger,
      {
        channelPrefix: prefix,
      },
    );
    harness.defer(() => pubsub.dispose());
    harness.defer(() => other.dispose());
    const admin = await redisClient(harness);
    const kill = () => admin.client('KILL', 'ID', String(subscriberId));
    return { prefix, subscriber, pubsub, other, admin, kill };
  }

  it('subscribes one Redis channel per topic and unsubscribes it when the last listener leaves', async () => {
    const { prefix, pubsub, admin } = await setup();
    const channel = `${prefix}lookup:a`;
    const unsubscribers = await Promise.all(
      [1, 2, 3].map(() => pubsub.subscribe('lookup:a', () => undefined)),
    );
    expect(await numsub(admin, channel)).toBe(1);
    expect(await numsub(admin, `${prefix}lookup:b`)).toBe(0);
    await unsubscribers[0]();
    await unsubscribers[1]();
    expect(await numsub(admin, channel)).toBe(1);
    await unsubscribers[2]();
    expect(await numsub(admin, channel)).toBe(0);
    expect(pubsub.listenerCount()).toBe(0);
  });

  it('resubscribes after its connection is killed and tells listeners to resync what they missed', async () => {
    // Reconnects after 300 ms: long enough to publish into the gap for sure.
    const { prefix, subscriber, pubsub, other, admin, kill } = await setup(300);
    const events = collector();
    await pubsub.subscribe('lookup:r', events.listener);
    const closed = new Promise((resolve) => subscriber.once('close', resolve));
    await kill();
    await within(closed, 5_000, 'the subscriber connection to close');
    expect(pubsub.isReady()).toBe(false);
    // Published while the connection is down: lost, as Redis pub/sub always loses it.
    await other.publish('lookup:r', { type: 'ended', state: 'COMPLETED' });

    await events.count(1);
    expect(events.events).toEqual([{ type: 'resync' }]);
    // The resync comes only once the channel is live again: a message published now is delivered.
    expect(await numsub(admin, `${prefix}lookup:r`)).toBe(1);
    await other.publish('lookup:r', ended);
    expect(await events.count(2)).toEqual([{ type: 'resync' }, ended]);
    expect(pubsub.isReady()).toBe(true);
  });

  it('refuses to subscribe while its connection is down and leaves no listener behind', async () => {
    const { subscriber, pubsub, kill } = await setup(1_000);
    const closed = new Promise((resolve) => subscriber.once('close', resolve));
    await kill();
    await within(closed, 5_000, 'the subscriber connection to close');
    await expect(pubsub.subscribe('lookup:down', () => undefined)).rejects.toThrow();
    expect(pubsub.listenerCount()).toBe(0);
  });

  it('drops, once reconnected, a channel whose UNSUBSCRIBE failed during the outage', async () => {
    const { prefix, subscriber, pubsub, admin, kill } = await setup(300);
    const unsubscribe = await pubsub.subscribe('lookup:stale', () => undefined);
    const kept = collector();
    await pubsub.subscribe('lookup:kept', kept.listener);
    const closed = new Promise((resolve) => subscriber.once('close', resolve));
    await kill();
    await within(closed, 5_000, 'the subscriber connection to close');
    await unsubscribe();
    expect(pubsub.listenerCount()).toBe(1);

    await kept.count(1);
    expect(kept.events).toEqual([{ type: 'resync' }]);
    await until(
      async () => (await numsub(admin, `${prefix}lookup:stale`)) === 0,
      5_000,
      'the stale channel to be unsubscribed',
    );
    expect(await numsub(admin, `${prefix}lookup:kept`)).toBe(1);
  });
});
