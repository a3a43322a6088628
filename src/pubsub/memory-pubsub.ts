import type { LookupEvent, PubSub, Unsubscribe } from './pubsub';

/** In-process pub/sub: one instance only; delivery is synchronous within the process. */
export class MemoryPubSub implements PubSub {
  private readonly topics = new Map<string, Set<(event: LookupEvent) => void>>();

  async publish(topic: string, event: LookupEvent): Promise<void> {
    const listeners = this.topics.get(topic);
    if (!listeners) return;
    // Copy: a listener may unsubscribe (and so mutate the set) while being called.
    for (const listener of [...listeners]) listener(event);
  }

  async subscribe(topic: string, listener: (event: LookupEvent) => void): Promise<Unsubscribe> {
    let listeners = this.topics.get(topic);
    if (!listeners) {
      listeners = new Set();
      this.topics.set(topic, listeners);
    }
    // Wrap so the same function subscribed twice gets two independent registrations.
    const entry = (event: LookupEvent) => listener(event);
    listeners.add(entry);
    return async () => {
      const set = this.topics.get(topic);
      if (!set) return;
      set.delete(entry);
      if (set.size === 0) this.topics.delete(topic);
    };
  }

  listenerCount(): number {
    let count = 0;
    for (const set of this.topics.values()) count += set.size;
    return count;
  }

  isReady(): boolean {
    return true;
  }

  async dispose(): Promise<void> {
    this.topics.clear();
  }
}
