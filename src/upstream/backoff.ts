/**
 * Delay before retry number `retry` (1 for the first retry): exponential backoff with "full jitter", a uniformly
 * random delay between 0 and `min(maxDelayMs, baseDelayMs * 2 ** (retry - 1))`. Full jitter spreads the retries of
 * many gateway instances that failed together, so they do not hit a recovering provider in lock-step.
 *
 * `random` defaults to `Math.random` (injectable for tests). Never throws; returns whole milliseconds.
 */
export function fullJitterDelayMs(
  retry: number,
  baseDelayMs: number,
  maxDelayMs: number,
  random: () => number = Math.random,
): number {
  // 2 ** 31 is plenty: past it the cap applies anyway, and a bigger exponent would only risk Infinity * 0 = NaN.
  const ceilingMs = Math.min(maxDelayMs, baseDelayMs * 2 ** Math.min(Math.max(retry - 1, 0), 31));
  return Math.floor(random() * ceilingMs);
}

/**
 * Parses an HTTP `Retry-After` header (RFC 9110 §10.2.3): either delay-seconds (`"120"`) or an HTTP-date
 * (`"Wed, 21 Oct 2015 07:28:00 GMT"`), relative to `nowMs` (default `Date.now()`).
 *
 * Returns the delay in milliseconds (0 for a date in the past), or `undefined` when the header is absent or not
 * understood: a malformed value is ignored rather than trusted. Never throws.
 */
export function parseRetryAfterMs(
  value: string | string[] | undefined,
  nowMs: number = Date.now(),
): number | undefined {
  const raw = (Array.isArray(value) ? value[0] : value)?.trim();
  if (!raw) return undefined;
  // The RFC allows only an integer; some proxies send decimals, which are harmless to honour.
  if (/^\d+(\.\d+)?$/.test(raw)) {
    const ms = Math.ceil(Number(raw) * 1_000);
    return Number.isFinite(ms) ? ms : undefined;
  }
  // Date.parse accepts far more than HTTP-dates (e.g. "1"), so insist on something date-like first.
  if (!/[a-z]/i.test(raw)) return undefined;
  const atMs = Date.parse(raw);
  if (Number.isNaN(atMs)) return undefined;
  return Math.max(0, atMs - nowMs);
}
