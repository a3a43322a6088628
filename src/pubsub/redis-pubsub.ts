import type { Redis } from 'ioredis';
import type { Logger } from '../observability/logger';
import type { LookupEvent, PubSub, Unsubscribe } from './pubsub';

type Listener = (event: LookupEvent) => void;

/**
 * Redis pub/sub: a channel per topic (`<channelPrefix><topic>`, prefix default `nlg:`), subscribed while at least one local listener
 * wants it and unsubscribed when the last one leaves, so `PUBSUB NUMSUB` returns to baseline. Uses two
 * connections of its own (a subscriber connection cannot publish); both belong to the caller, who connects
 * and quits them.
 *
 * While the subscriber connection is down, `subscribe` rejects at once (the caller's subscription fails and
 * the client retries). When it comes back, every channel with local listeners is subscribed again and, once
 * Redis acknowledged it, those listeners get a local `resync` event: whatever was published meanwhile is lost,
 * and they rebuild from the store. Channels whose UNSUBSCRIBE failed during an outage are dropped then too.
 * `publish` rejects while the publisher connection is down.
 */
export class RedisPubSub implements PubSub {
  private readonly topics = new Map<string, Set<Listener>>();
  /** Per-channel chain of SUBSCRIBE/UNSUBSCRIBE commands, so they reach Redis in the order they were asked. */
  private readonly pending = new Map<string, Promise<unknown>>();
  private readonly prefix: string;
  /** Channels whose SUBSCRIBE Redis acknowledged on the current subscriber connection. */
  private readonly live = new Set<string>();
  /** Channels nobody listens to any more whose UNSUBSCRIBE failed: ioredis would resubscribe them. */
  private readonly stale = new Set<string>();
  /** The subscriber connection closed since it was last ready: the next `ready` is a reconnect. */
  private lost = false;
  private disposed = false;

  constructor(
    private readonly publisher: Redis,
    private readonly subscriber: Redis,
    private readonly logger: Logger,
    options: { channelPrefix?: string } = {},
  ) {
    this.prefix = options.channelPrefix ?? 'nlg:';
    this.subscriber.on('message', this.onMessage);
    this.subscriber.on('ready', this.onReady);
    this.subscriber.on('close', this.onClose);
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

  private readonly onClose = () => {
    // Redis forgets a closed connection's subscriptions: nothing is live until subscribed again.
    this.live.clear();
    this.lost = true;
  };

  private readonly onReady = () => {
    if (!this.lost || this.disposed) return;
    this.lost = false;
    void this.restore();
  };

  /**
   * After a reconnect: subscribe every channel that has listeners, drop stale ones, then tell the listeners
   * of each re-established channel to resync. The resync waits for the SUBSCRIBE acknowledgement (ioredis
   * emits `ready` before it resubscribes), or a message published between the store read and the
   * acknowledgement would be lost.
   */
  private async restore(): Promise<void> {
    const topics = [...this.topics.keys()];
    this.logger.info({ topics: topics.length }, 'pub/sub reconnected; resyncing subscribers from the store');
    const outcomes = await Promise.allSettled([
      ...topics.map((topic) => this.ensureSubscribed(topic)),
      ...[...this.stale].map((channel) => this.dropStale(channel)),
    ]);
    const failed = outcomes.filter((o) => o.status === 'rejected').length;
    // Left as they are: the next reconnect tries again.
    if (failed > 0) this.logger.warn({ failed }, 'pub/sub resubscription incomplete');
    for (const topic of topics) {
      if (!this.live.has(this.prefix + topic)) continue;
      for (const listener of [...(this.topics.get(topic) ?? [])]) listener({ type: 'resync' });
    }
  }

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

  private ensureSubscribed(topic: string): Promise<unknown> {
    const channel = this.prefix + topic;
    return this.chain(channel, async () => {
      if (this.live.has(channel) || !this.topics.has(topic)) return;
      await this.subscriber.subscribe(channel);
      this.live.add(channel);
      this.stale.delete(channel);
    });
  }

  private dropStale(channel: string): Promise<unknown> {
    return this.chain(channel, async () => {
      if (this.topics.has(channel.slice(this.prefix.length)) || !this.stale.has(channel)) return;
      await this.subscriber.unsubscribe(channel);
      this.stale.delete(channel);
    });
  }

  async subscribe(topic: string, listener: Listener): Promise<Unsubscribe> {
    const channel = this.prefix + topic;
    let listeners = this.topics.get(topic);
    if (!listeners) {
      listeners = new Set();
      this.topics.set(topic, listeners);
    }
    // Wrap so the same function subscribed twice gets two independent registrations.
    const entry: Listener = (event) => listener(event);
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
        try {
          // Sent even when not known to be live: a SUBSCRIBE that timed out may still have reached Redis.
          await this.subscriber.unsubscribe(channel);
          this.stale.delete(channel);
        } catch (error) {
          this.stale.add(channel);
          this.logger.warn({ err: error, channel }, 'UNSUBSCRIBE failed; retried after reconnecting');
        }
      });
    };
    try {
      // Every subscriber waits for the SUBSCRIBE acknowledgement, not only the first: a second listener
      // arriving while the first's SUBSCRIBE is in flight must not read the store before delivery is live.
      await this.ensureSubscribed(topic);
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
    this.disposed = true;
    this.subscriber.off('message', this.onMessage);
    this.subscriber.off('ready', this.onReady);
    this.subscriber.off('close', this.onClose);
    this.topics.clear();
  }
}
