import { fullJitterDelayMs, parseRetryAfterMs } from '../../src/upstream/backoff';

describe('fullJitterDelayMs', () => {
  it('draws from [0, base * 2^(retry-1)), capped at maxDelayMs', () => {
    const top = () => 0.999_999;

    expect(fullJitterDelayMs(1, 200, 2_000, top)).toBe(199);
    expect(fullJitterDelayMs(2, 200, 2_000, top)).toBe(399);
    expect(fullJitterDelayMs(3, 200, 2_000, top)).toBe(799);
    expect(fullJitterDelayMs(10, 200, 2_000, top)).toBe(1_999);
    expect(fullJitterDelayMs(1_000, 200, 2_000, top)).toBe(1_999);
    expect(fullJitterDelayMs(3, 200, 2_000, () => 0)).toBe(0);
  });

  it('uses Math.random by default and stays in range', () => {
    for (let i = 0; i < 100; i++) {
      const delayMs = fullJitterDelayMs(2, 100, 1_000);
      expect(delayMs).toBeGreaterThanOrEqual(0);
      expect(delayMs).toBeLessThan(200);
    }
  });
});

describe('parseRetryAfterMs', () => {
  const nowMs = Date.parse('2026-01-01T00:00:00Z');

  it('reads delay-seconds', () => {
    expect(parseRetryAfterMs('120', nowMs)).toBe(120_000);
    expect(parseRetryAfterMs(' 0 ', nowMs)).toBe(0);
    expect(parseRetryAfterMs('1.5', nowMs)).toBe(1_500);
  });

  it('reads an HTTP-date relative to now, a past date as 0', () => {
    expect(parseRetryAfterMs('Thu, 01 Jan 2026 00:00:05 GMT', nowMs)).toBe(5_000);
    expect(parseRetryAfterMs('Wed, 31 Dec 2025 23:59:00 GMT', nowMs)).toBe(0);
  });

  it('takes the first of repeated headers', () => {
    expect(parseRetryAfterMs(['2', '30'], nowMs)).toBe(2_000);
  });

  it('ignores absent or malformed values', () => {
    expect(parseRetryAfterMs(undefined, nowMs)).toBeUndefined();
    expect(parseRetryAfterMs('', nowMs)).toBeUndefined();
    expect(parseRetryAfterMs('-5', nowMs)).toBeUndefined();
    expect(parseRetryAfterMs('soon', nowMs)).toBeUndefined();
    expect(parseRetryAfterMs('12abc', nowMs)).toBeUndefined();
  });
});
