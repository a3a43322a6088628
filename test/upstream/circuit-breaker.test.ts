import { CircuitBreaker, type BreakerState } from '../../src/upstream/circuit-breaker';

/** A breaker on a hand-driven clock, recording its transitions. */
function breakerAt(options: { failureThreshold?: number; cooldownMs?: number } = {}) {
  const clock = { nowMs: 1_000 };
  const states: BreakerState[] = [];
  const breaker = new CircuitBreaker({
    failureThreshold: 3,
    cooldownMs: 10_000,
    ...options,
    now: () => clock.nowMs,
    onStateChange: (state) => states.push(state),
  });
  const fail = (times: number) => {
    for (let i = 0; i < times; i++) breaker.tryAcquire()?.failure();
  };
  return { breaker, clock, states, fail };
}

describe('CircuitBreaker', () => {
  it('opens after failureThreshold consecutive failures', () => {
    const { breaker, states, fail } = breakerAt();

    fail(2);
    expect(breaker.state).toBe('closed');
    fail(1);

    expect(breaker.state).toBe('open');
    expect(states).toEqual(['open']);
    expect(breaker.tryAcquire()).toBeUndefined();
  });

  it('resets the count on success, so only consecutive failures open it', () => {
    const { breaker, fail } = breakerAt();

    fail(2);
    breaker.tryAcquire()?.success();
    fail(2);

    expect(breaker.state).toBe('closed');
  });

  it('refuses calls for cooldownMs, then lets exactly one probe through', () => {
    const { breaker, clock, states, fail } = breakerAt();
    fail(3);

    clock.nowMs += 9_999;
    expect(breaker.tryAcquire()).toBeUndefined();
    expect(breaker.remainingCooldownMs).toBe(1);
    clock.nowMs += 1;
    const probe = breaker.tryAcquire();

    expect(probe).toBeDefined();
    expect(breaker.state).toBe('half-open');
    expect(breaker.tryAcquire()).toBeUndefined();
    expect(states).toEqual(['open', 'half-open']);
  });

  it('closes when the probe succeeds', () => {
    const { breaker, clock, states, fail } = breakerAt();
    fail(3);
    clock.nowMs += 10_000;

    breaker.tryAcquire()?.success();

    expect(breaker.state).toBe('closed');
    expect(states).toEqual(['open', 'half-open', 'closed']);
    expect(breaker.tryAcquire()).toBeDefined();
  });

  it('re-opens for another cooldown when the probe fails', () => {
    const { breaker, clock, states, fail } = breakerAt();
    fail(3);
    clock.nowMs += 10_000;

    breaker.tryAcquire()?.failure();

    expect(breaker.state).toBe('open');
    expect(breaker.remainingCooldownMs).toBe(10_000);
    expect(states).toEqual(['open', 'half-open', 'open']);
  });

  it('frees the probe slot when the probe is abandoned', () => {
    const { breaker, clock, fail } = breakerAt();
    fail(3);
    clock.nowMs += 10_000;

    breaker.tryAcquire()?.abandon();

    expect(breaker.state).toBe('half-open');
    expect(breaker.tryAcquire()).toBeDefined();
  });

  it('ignores late reports from permits granted before the break', () => {
    const { breaker, clock } = breakerAt({ failureThreshold: 1 });
    const early = breaker.tryAcquire();
    const late = breaker.tryAcquire();
    early?.failure();
    clock.nowMs += 10_000;
    const probe = breaker.tryAcquire();

    late?.failure();
    expect(breaker.state).toBe('half-open');
    probe?.success();
    late?.failure();

    expect(breaker.state).toBe('closed');
  });

  it('counts each permit once', () => {
    const { breaker } = breakerAt({ failureThreshold: 2 });
    const permit = breaker.tryAcquire();

    permit?.failure();
    permit?.failure();

    expect(breaker.state).toBe('closed');
  });

  it('swallows an exception thrown by onStateChange', () => {
    const breaker = new CircuitBreaker({
      failureThreshold: 1,
      onStateChange: () => {
        throw new Error('metrics down');
      },
    });

    expect(() => breaker.tryAcquire()?.failure()).not.toThrow();
    expect(breaker.state).toBe('open');
  });

  it('rejects nonsensical options', () => {
    expect(() => new CircuitBreaker({ failureThreshold: 0 })).toThrow(RangeError);
    expect(() => new CircuitBreaker({ cooldownMs: -1 })).toThrow(RangeError);
  });
});
