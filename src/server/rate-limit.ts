import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import { RateLimitedError } from '../errors';

/** Admits or refuses operations per client; shared by the HTTP and WebSocket paths. */
export interface OperationRateLimiter {
  /**
   * Counts `operations` (a batch counts each) against `key`'s budget. Resolves to a `RATE_LIMITED` error
   * (HTTP 429, `Retry-After`, `extensions.retryAfterSeconds`) when over it, else undefined. Never rejects.
   */
  admit(key: string, operations?: number): Promise<RateLimitedError | undefined>;
}

/** The client's rate-limit key: its client id when it authenticated, else its address. */
export function rateLimitKey(clientId: string | undefined, address: string | undefined): string {
  return clientId ? `client:${clientId}` : `ip:${address ?? 'unknown'}`;
}

/**
 * A fixed-window limiter of `perMinute` operations per key (rate-limiter-flexible, in process memory: with
 * several instances, each counts on its own). `perMinute` 0 turns limiting off: everything is admitted.
 */
export function createRateLimiter(perMinute: number): OperationRateLimiter {
  if (perMinute <= 0) return { admit: async () => undefined };
  const limiter = new RateLimiterMemory({ points: perMinute, duration: 60 });
  return {
    async admit(key, operations = 1) {
      try {
        await limiter.consume(key, operations);
        return undefined;
      } catch (rejection) {
        // The memory store cannot fail; should it ever, serving beats refusing everyone.
        if (!(rejection instanceof RateLimiterRes)) return undefined;
        const retryAfterSeconds = Math.max(1, Math.ceil(rejection.msBeforeNext / 1_000));
        const error = new RateLimitedError(retryAfterSeconds);
        error.extensions.http = {
          status: 429,
          headers: new Map([['retry-after', String(retryAfterSeconds)]]),
        };
        return error;
      }
    },
  };
}
