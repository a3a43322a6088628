import type { Redis } from 'ioredis';
import type { Logger } from '../observability/logger';
import type { LookupEvent, PubSub, Unsubscribe } from './pubsub';

/**
 * Redis pub/sub: a channel per topic, subscribed while at least one local listener wants it and unsubscribed
 * when the last one leaves (so `PUBSUB NUMSUB` returns to baseline). Uses its own two connections: a
 * subscriber connection cannot publish. After a reconnect every local listener gets a `resync` event, because
 * whatever was published while the connection was down is lost.
 */
export class RedisPubSub implements PubSub {
  private readonly topics = new Map<string, Set<(event: LookupEvent) => void>>();
  /** Per-channel chain of SUBSCRIBE/UNSUBSCRIBE commands, so they reach Redis in the order they were asked. */
  private readonly pending = new Map<string, Promise<unknown>>();
  private readonly prefix: string;
  /** Channels whose SUBSCRIBE Redis acknowledged. */
  private readonly live = new Set<string>();
  private connectedOnce = false;

  constructor(
    private readonly publisher: Redis,
    private readonly subscriber: Redis,
    private readonly logger: Logger,
    options: { channelPrefix?: string } = {},
  ) {
    this.prefix = options.channelPrefix ?? 'nlg:';
    this.subscriber.on('message', this.onMessage);
    this.subscriber.on('ready', this.onReady);
  }

  private readonly onMessage = (channel: string, message: string) => {
    if (!channel.startsWith(this.prefix)) return;
    const listeners = this.topics.get(channel.slice(this.prefix.length));
    if (!listeners) return;
    let event: LookupEvent;
    try {
      event = JSON.parse(message) as LookupEvent;
    } catch {
      this.logger.warn({ channel }, 'ignored an unparseable pub/sub message');
      return;
    }
    for (const listener of [...listeners]) listener(event);
  };

  private readonly onReady = () => {
    // ioredis re-subscribes its channels itself on reconnect; messages sent meanwhile are gone, so tell
    // every listener to rebuild from the store.
    if (!this.connectedOnce) {
      this.connectedOnce = true;
      return;
    }
    this.logger.info(
      { topics: this.topics.size },
      'pub/sub reconnected; resyncing subscribers from the store',
    );
    for (const listeners of this.topics.values()) {
      for (const listener of [...listeners]) listener({ type: 'resync' });
    }
  };

  async publish(topic: string, event: LookupEvent): Promise<void> {
    await this.publisher.publish(this.prefix + topic, JSON.stringify(event));
  }

  private chain(channel: string, command: () => Promise<unknown>): Promise<unknown> {
    const previous = this.pending.get(channel) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(command);
    this.pending.set(channel, next);
    const clear = () => {
      if (this.pending.get(channel) === next) this.pending.delete(channel);
    };
    next.then(clear, clear);
    return next;
  }

  async subscribe(topic: string, listener: (event: LookupEvent) => void): Promise<Unsubscribe> {
    const channel = this.prefix + topic;
    let listeners = this.topics.get(topic);
    if (!listeners) {
      listeners = new Set();
      this.topics.set(topic, listeners);
    }
    const entry = (event: LookupEvent) => listener(event);
    listeners.add(entry);
    const unsubscribe: Unsubscribe = async () => {
      const set = this.topics.get(topic);
      if (!set || !set.delete(entry)) return;
      if (set.size > 0) return;
      this.topics.delete(topic);
      await this.chain(channel, async () => {
        // Someone may have subscribed again while this was queued.
        if (this.topics.has(topic)) return;
        this.live.delete(channel);
        await this.subscriber.unsubscribe(channel);
      }).catch((error: unknown) => this.logger.warn({ err: error, channel }, 'UNSUBSCRIBE failed'));
    };
    try {
      // Every subscriber waits for the SUBSCRIBE acknowledgement, not only the first: a second listener
      // arriving while the first's SUBSCRIBE is in flight must not read the store before delivery is live.
      await this.chain(channel, async () => {
        if (this.live.has(channel) || !this.topics.get(topic)?.has(entry)) return;
        await this.subscriber.subscribe(channel);
        this.live.add(channel);
      });
    } catch (error) {
      await unsubscribe();
      throw error;
    }
    return unsubscribe;
  }

  listenerCount(): number {
    let count = 0;
    for (const set of this.topics.values()) count += set.size;
    return count;
  }

  isReady(): boolean {
    return this.publisher.status === 'ready' && this.subscriber.status === 'ready';
  }

  async dispose(): Promise<void> {
    this.subscriber.off('message', this.onMessage);
    this.subscriber.off('ready', this.onReady);
    this.topics.clear();
  }
}
