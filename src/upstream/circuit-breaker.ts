/** Where the breaker stands: `closed` lets calls through, `open` fails them fast, `half-open` lets one probe through. */
export type BreakerState = 'closed' | 'open' | 'half-open';

/** Options of {@link CircuitBreaker}. */
export interface CircuitBreakerOptions {
  /** Consecutive counted failures that open the breaker. Default `5`. */
  failureThreshold?: number;
  /** How long the breaker stays open before it lets one probe through. Default `10_000` ms. */
  cooldownMs?: number;
  /**
   * Called synchronously on every state change. An exception it throws is swallowed: reporting must never
   * change the outcome of a provider call.
   */
  onStateChange?: (state: BreakerState) => void;
  /** Monotonic clock in milliseconds. Default `performance.now` (wall-clock jumps must not open or close it). */
  now?: () => number;
}

/**
 * Permission to make one call, handed out by {@link CircuitBreaker.tryAcquire}. Report exactly one outcome;
 * further reports are ignored.
 */
export interface BreakerPermit {
  /** The provider answered (any answer that says nothing about its health counts here too, e.g. 400 or 429). */
  success(): void;
  /** A failure that counts: 5xx, network error, timeout. */
  failure(): void;
  /** The call ended without telling anything (e.g. the caller cancelled it): a half-open probe slot is freed. */
  abandon(): void;
}

/**
 * A consecutive-failures circuit breaker. Closed: `failureThreshold` counted failures in a row open it (a success
 * resets the count). Open: every {@link tryAcquire} is refused for `cooldownMs`. Then the next caller becomes the
 * single half-open probe while everyone else is still refused: its success closes the breaker, its failure opens it
 * for another `cooldownMs`.
 *
 * Permits granted before the breaker opened may report afterwards; only the probe decides the half-open outcome, so
 * a slow failure from before the break cannot re-open a breaker that a successful probe has just closed.
 */
export class CircuitBreaker {
  private readonly failureThreshold: number;
  private readonly cooldownMs: number;
  private readonly onStateChange?: (state: BreakerState) => void;
  private readonly now: () => number;
  private current: BreakerState = 'closed';
  private consecutiveFailures = 0;
  private openedAtMs = 0;
  private probeInFlight = false;
  /** Bumped on every transition, so a permit can tell whether the state it was granted in still holds. */
  private generation = 0;

  constructor(options: CircuitBreakerOptions = {}) {
    this.failureThreshold = options.failureThreshold ?? 5;
    this.cooldownMs = options.cooldownMs ?? 10_000;
    this.onStateChange = options.onStateChange;
    this.now = options.now ?? (() => performance.now());
    if (!Number.isInteger(this.failureThreshold) || this.failureThreshold < 1) {
      throw new RangeError('breaker.failureThreshold must be an integer >= 1');
    }
    if (!Number.isFinite(this.cooldownMs) || this.cooldownMs < 0) {
      throw new RangeError('breaker.cooldownMs must be a finite number >= 0');
    }
  }

  /**
   * The state as of the last call. An open breaker whose cooldown has passed still reads `open` until the next
   * call becomes the half-open probe.
   */
  get state(): BreakerState {
    return this.current;
  }

  /** Milliseconds until an open breaker lets a probe through; 0 when it is not open. */
  get remainingCooldownMs(): number {
    if (this.current !== 'open') return 0;
    return Math.max(0, Math.ceil(this.openedAtMs + this.cooldownMs - this.now()));
  }

  /** A permit for one call, or `undefined` when the breaker refuses it (open, or a probe is already running). */
  tryAcquire(): BreakerPermit | undefined {
    if (this.current === 'open') {
      if (this.now() - this.openedAtMs < this.cooldownMs) return undefined;
      this.transition('half-open');
    }
    if (this.current === 'half-open') {
      if (this.probeInFlight) return undefined;
      this.probeInFlight = true;
      return this.permit(true);
    }
    return this.permit(false);
  }

  private permit(isProbe: boolean): BreakerPermit {
    const generation = this.generation;
    let settled = false;
    const settle = (outcome: 'success' | 'failure' | 'abandon'): void => {
      if (settled) return;
      settled = true;
      if (isProbe) {
        this.settleProbe(generation, outcome);
      } else if (this.current === 'closed' && outcome !== 'abandon') {
        this.settleClosed(outcome);
      }
    };
    return {
      success: () => settle('success'),
      failure: () => settle('failure'),
      abandon: () => settle('abandon'),
    };
  }

  private settleClosed(outcome: 'success' | 'failure'): void {
    if (outcome === 'success') {
      this.consecutiveFailures = 0;
      return;
    }
    this.consecutiveFailures += 1;
    if (this.consecutiveFailures >= this.failureThreshold) this.open();
  }

  private settleProbe(generation: number, outcome: 'success' | 'failure' | 'abandon'): void {
    if (generation !== this.generation || this.current !== 'half-open') return;
    this.probeInFlight = false;
    if (outcome === 'success') this.transition('closed');
    else if (outcome === 'failure') this.open();
    // abandon: stay half-open with the slot free, so the next caller probes at once.
  }

  private open(): void {
    this.openedAtMs = this.now();
    this.transition('open');
  }

  private transition(state: BreakerState): void {
    if (state === this.current) return;
    this.current = state;
    this.generation += 1;
    this.consecutiveFailures = 0;
    this.probeInFlight = false;
    try {
      this.onStateChange?.(state);
    } catch {
      // Reporting (logs, metrics) must never change the outcome of a call.
    }
  }
}
