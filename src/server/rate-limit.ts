import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import { RateLimitedError } from '../errors';

/** Admits or refuses operations per client; shared by the HTTP and WebSocket paths. */
export interface OperationRateLimiter {
  /**
   * Counts `operations` (a batch counts each) against `key`'s budget. Resolves to a `RATE_LIMITED` error
   * (HTTP 429, `Retry-After`, `extensions.retryAfterSeconds`) when over it, else undefined. Never rejects.
   */
  admit(key: string, operations?: number): Promise<RateLimitedError | undefined>;
  /** The `RATE_LIMITED` error `key`'s budget stands at now, without spending any of it; undefined while within. */
  blocked(key: string): Promise<RateLimitedError | undefined>;
}

/**
 * A client key as checked under the budget of wrong keys per address: while the address is over it, every key it
 * sends is refused with the `RATE_LIMITED` error before being looked at (so a guess that happens to be right is
 * refused like the wrong ones, and guessing stalls); a wrong key spends one operation of that budget. Returns the
 * client id (undefined when client auth is off), null for a wrong or missing key, or the error.
 */
export async function checkKey(
  limiter: OperationRateLimiter,
  clientId: string | null | undefined,
  address: string | undefined,
): Promise<string | null | undefined | RateLimitedError> {
  if (clientId === undefined) return undefined;
  const key = `wrong-key:${rateLimitKey(undefined, address)}`;
  const blocked = await limiter.blocked(key);
  if (blocked) return blocked;
  if (clientId === null) await limiter.admit(key);
  return clientId;
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
  if (perMinute <= 0) return { admit: async () => undefined, blocked: async () => undefined };
  const limiter = new RateLimiterMemory({ points: perMinute, duration: 60 });
  const refusal = (msBeforeNext: number) => {
    const retryAfterSeconds = Math.max(1, Math.ceil(msBeforeNext / 1_000));
    const error = new RateLimitedError(retryAfterSeconds);
    error.extensions.http = {
      status: 429,
      headers: new Map([['retry-after', String(retryAfterSeconds)]]),
    };
    return error;
  };
  return {
    async admit(key, operations = 1) {
      try {
        await limiter.consume(key, operations);
        return undefined;
      } catch (rejection) {
        // The memory store cannot fail; should it ever, serving beats refusing everyone.
        if (!(rejection instanceof RateLimiterRes)) return undefined;
        return refusal(rejection.msBeforeNext);
      }
    },
    async blocked(key) {
      const state = await limiter.get(key).catch(() => null);
      return state && state.remainingPoints <= 0 ? refusal(state.msBeforeNext) : undefined;
    },
  };
}
