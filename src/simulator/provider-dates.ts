/**
 * Formats epoch milliseconds the way the provider writes dates: `yyyy-MM-ddTHH:mm:ss.SSS+0000` (always UTC).
 * Throws RangeError for non-finite input.
 */
export function formatProviderDate(epochMs: number): string {
  return new Date(epochMs).toISOString().slice(0, 23) + '+0000';
}

const PROVIDER_DATE =
  /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,3})\d*)?(Z|[+\- ]\d{2}:?\d{2})?$/;

/**
 * Parses a provider date-time (`2015-02-22T17:42:05.390+0100`) into epoch milliseconds; also accepts ISO 8601
 * (`Z`, `+01:00`) and a missing offset (taken as UTC). Returns `undefined` when the text is not such a date
 * or names an impossible day or time; never throws.
 */
export function parseProviderDate(text: string): number | undefined {
  const m = PROVIDER_DATE.exec(text);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, frac, zone] = m;
  const ms = frac ? Number(frac.padEnd(3, '0')) : 0;
  const local = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s), ms);
  const check = new Date(local);
  if (
    check.getUTCFullYear() !== Number(y) ||
    check.getUTCMonth() !== Number(mo) - 1 ||
    check.getUTCDate() !== Number(d) ||
    check.getUTCHours() !== Number(h) ||
    check.getUTCMinutes() !== Number(mi) ||
    check.getUTCSeconds() !== Number(s)
  ) {
    return undefined;
  }
  if (!zone || zone === 'Z') return local;
  // an unencoded `+` in a query string arrives as a space: read it as the `+` the client meant
  const sign = zone[0] === '-' ? -1 : 1;
  const digitsOnly = zone.slice(1).replace(':', '');
  const offsetMin = Number(digitsOnly.slice(0, 2)) * 60 + Number(digitsOnly.slice(2));
  if (Number(digitsOnly.slice(2)) > 59) return undefined;
  return local - sign * offsetMin * 60_000;
}
