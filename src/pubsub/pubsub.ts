import type { LookupResultData } from '../lookup/lookup-result';

/**
 * What travels on a request's topic. Plain JSON-safe values (ISO strings, no Dates), so the Redis engine gives
 * byte-identical GraphQL output to the in-memory one.
 */
export type LookupEvent =
  | { type: 'result'; result: LookupResultData }
  | { type: 'ended'; state: 'COMPLETED' | 'EXPIRED' }
  /**
   * Rebuild from the store. Sent locally by the engine after it may have missed messages (a Redis reconnect),
   * and published when a callback repeated results already stored: the delivery that stored them may have
   * failed to publish (the provider retried because it was answered 503).
   */
  | { type: 'resync' };

/** The topic carrying one async request's events: one topic per request, never one shared topic. */
export function lookupTopic(requestId: string): string {
  return `lookup:${requestId}`;
}

/** Removes a listener; resolves once the engine no longer delivers to it (Redis: UNSUBSCRIBE done). */
export type Unsubscribe = () => Promise<void>;

/**
 * Typed pub/sub. Delivery is at-most-once: subscribers rebuild from the request store, which is written first.
 */
export interface PubSub {
  /** Publishes to every listener of `topic` on every instance. Rejects when the engine is unavailable. */
  publish(topic: string, event: LookupEvent): Promise<void>;
  /**
   * Adds a listener. Resolves only once delivery is live (Redis: SUBSCRIBE acknowledged), so a caller may read
   * the store afterwards without missing anything published in between.
   */
  subscribe(topic: string, listener: (event: LookupEvent) => void): Promise<Unsubscribe>;
  /** Local listener count (all topics), for leak checks and metrics. */
  listenerCount(): number;
  /** True while the engine can deliver. */
  isReady(): boolean;
  dispose(): Promise<void>;
}
