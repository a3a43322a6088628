import {
  Metadata,
  parsePhoneNumberFromString,
  validatePhoneNumberLength,
  type CountryCode,
  type MetadataJson,
  type ValidatePhoneNumberLengthResult,
} from 'libphonenumber-js/core';
// `min` metadata on purpose: possibility checks read only the general possible lengths per country, which
// `min` carries exactly as `max` does (the test checks our verdicts against `max`). `max` adds the per-type
// digit patterns behind `isValid()`, which we deliberately skip: the provider decides if a number exists.
import minMetadata from 'libphonenumber-js/min/metadata';
import { BadUserInputError, type InvalidNumber } from '../errors';

// TypeScript types the JSON file itself (its exports map has no typings for `require`), not as MetadataJson.
const metadata = minMetadata as unknown as MetadataJson;

/** Outcome of normalizing one list of user-typed numbers. */
export interface NormalizedNumbers {
  /** International digits without '+', one per input entry, in input order (duplicates kept here). */
  numbers: string[];
  /** The distinct numbers in first-seen order (what goes to the provider). */
  unique: string[];
}

/** Result of {@link normalizeNumber}: the international digits, or a short, stable reason for the refusal. */
export type NormalizeNumberResult = { ok: true; number: string } | { ok: false; reason: InvalidNumberReason };

/**
 * Why a number is refused. The strings reach clients in `extensions.invalidNumbers[].reason`, so they are
 * part of the contract: keep them short and never reword them.
 */
export const InvalidNumberReason = {
  /** Nothing but whitespace. */
  EMPTY: 'empty',
  /** Longer than {@link MAX_INPUT_LENGTH} characters before any cleaning. */
  INPUT_TOO_LONG: 'input too long',
  /** A letter or a character that is neither a digit, a separator nor a leading '+'. */
  INVALID_CHARACTERS: 'contains letters or symbols',
  /** A '+' after a digit, or a second '+'. */
  MISPLACED_PLUS: 'misplaced plus sign',
  /** Only separators (and perhaps a '+'), no digit at all. */
  NO_DIGITS: 'no digits',
  /** A national number (single leading 0): the country is unknown, so it needs its country code. */
  NATIONAL_FORMAT: 'international format required',
  /** The leading digits are no assigned country calling code. */
  UNKNOWN_COUNTRY_CODE: 'unknown country code',
  /** Fewer digits than any number under its country calling code has. */
  TOO_SHORT: 'too short',
  /** More digits than any number under its country calling code has. */
  TOO_LONG: 'too long',
  /** A length between two possible ones under its country calling code, matching neither. */
  INVALID_LENGTH: 'invalid length',
  /** Anything else libphonenumber refuses to parse: a safety net the cleaning above makes unreachable. */
  NOT_A_NUMBER: 'not a possible number',
} as const;

/** One of the {@link InvalidNumberReason} strings. */
export type InvalidNumberReason = (typeof InvalidNumberReason)[keyof typeof InvalidNumberReason];

/**
 * Raw inputs longer than this are refused before any parsing, to keep hostile input cheap. The longest
 * international number is 15 digits, so 64 leaves room for any human formatting. Also the cap on how much of
 * a refused input is echoed back in `extensions.invalidNumbers[].input`.
 */
export const MAX_INPUT_LENGTH = 64;

/** How many refused entries the error message names (all of them are in `extensions.invalidNumbers`). */
const MAX_REASONS_IN_MESSAGE = 5;

// The API's own output format ('41793026727', '+41793026727') skips the character-by-character pass.
const PLAIN_DIGITS = /^\+?[0-9]+$/;
const WHITESPACE_ONLY = /^[\s\u200b-\u200f\u202a-\u202e\u2060-\u2064]*$/;
const PLUS = 0x2b;
const FULL_WIDTH_PLUS = 0xff0b;
const ZERO = 0x30;

function range(from: number, to: number): string[] {
  const chars: string[] = [];
  for (let code = from; code <= to; code++) chars.push(String.fromCharCode(code));
  return chars;
}

// Characters people put between digits, or that ride along when a number is pasted from a web page, a PDF
// or a chat app (no-break and thin spaces, bidi marks around numbers in RTL text, zero-width spaces).
const SEPARATORS: ReadonlySet<number> = new Set(
  [
    ...'\t\n\v\f\r ()-./[]',
    '\u00a0', // no-break space
    '\u00ad', // soft hyphen
    '\u1680',
    ...range(0x2000, 0x200f), // typographic spaces, zero-width space/joiners, LRM/RLM
    ...range(0x2010, 0x2015), // hyphens and dashes
    '\u2028',
    '\u2029',
    ...range(0x202a, 0x202f), // bidi embeddings, narrow no-break space
    '\u205f',
    ...range(0x2060, 0x2064), // word joiner and invisible operators
    '\u2212', // minus sign
    '\u3000', // ideographic space
    '\ufeff', // BOM / zero-width no-break space
    ...'\uff08\uff09\uff0d\uff0e\uff0f\uff3b\uff3d', // full-width ( ) - . / [ ]
  ].map((c) => c.charCodeAt(0)),
);

/** The value of a digit in the scripts people type numbers in (ASCII, full-width, Arabic-Indic), else -1. */
function digitValue(code: number): number {
  if (code >= ZERO && code <= ZERO + 9) return code - ZERO;
  if (code >= 0xff10 && code <= 0xff19) return code - 0xff10;
  if (code >= 0x0660 && code <= 0x0669) return code - 0x0660;
  if (code >= 0x06f0 && code <= 0x06f9) return code - 0x06f0;
  return -1;
}

type Cleaned = { ok: true; digits: string; plus: boolean } | { ok: false; reason: InvalidNumberReason };

/** One pass over the input: keeps digits (as ASCII), drops separators, refuses anything else. */
function clean(input: string): Cleaned {
  let digits = '';
  let plus = false;
  for (let i = 0; i < input.length; i++) {
    const code = input.charCodeAt(i);
    const digit = digitValue(code);
    if (digit >= 0) {
      digits += digit;
    } else if (code === PLUS || code === FULL_WIDTH_PLUS) {
      // '(+41) 79…' is common, so a '+' may follow separators, but never a digit or another '+'.
      if (plus || digits.length > 0) return { ok: false, reason: InvalidNumberReason.MISPLACED_PLUS };
      plus = true;
    } else if (!SEPARATORS.has(code)) {
      return { ok: false, reason: InvalidNumberReason.INVALID_CHARACTERS };
    }
  }
  if (digits.length === 0) {
    return {
      ok: false,
      reason:
        !plus && WHITESPACE_ONLY.test(input) ? InvalidNumberReason.EMPTY : InvalidNumberReason.NO_DIGITS,
    };
  }
  return { ok: true, digits, plus };
}

/**
 * What a country calling code needs for a number to be accepted without a full libphonenumber parse
 * (which costs microseconds and builds regexes on every call).
 */
interface FastPlan {
  /** Lengths of the national number that are possible in EVERY country sharing this calling code. */
  lengths: ReadonlySet<number>;
  /** libphonenumber's national-prefix pattern of the calling code's main country, anchored. */
  nationalPrefix: RegExp | undefined;
}

const planMetadata = new Metadata(metadata);
// null = this calling code always takes the full parse (non-geographic, or metadata we cannot read).
const fastPlans = new Map<string, FastPlan | null>();

function fastPlanFor(callingCode: string, countries: readonly CountryCode[]): FastPlan | null {
  let plan = fastPlans.get(callingCode);
  if (plan === undefined) {
    plan = buildFastPlan(countries);
    fastPlans.set(callingCode, plan);
  }
  return plan;
}

function buildFastPlan(countries: readonly CountryCode[]): FastPlan | null {
  let lengths: Set<number> | undefined;
  for (const country of countries) {
    planMetadata.selectNumberingPlan(country);
    const possible = planMetadata.numberingPlan?.possibleLengths();
    if (!possible) return null;
    const common = lengths;
    lengths = common ? new Set(possible.filter((length) => common.has(length))) : new Set(possible);
  }
  planMetadata.selectNumberingPlan(countries[0]);
  // Not in the typings: when the library stops exposing it, every number takes the full parse, which is
  // slower but still correct.
  const numberingPlan = planMetadata.numberingPlan as { nationalPrefixForParsing?: () => string | undefined };
  if (!lengths || typeof numberingPlan.nationalPrefixForParsing !== 'function') return null;
  const prefix = numberingPlan.nationalPrefixForParsing();
  return { lengths, nationalPrefix: prefix ? new RegExp(`^(?:${prefix})`) : undefined };
}

const LENGTH_REASONS: Record<ValidatePhoneNumberLengthResult, InvalidNumberReason> = {
  INVALID_COUNTRY: InvalidNumberReason.UNKNOWN_COUNTRY_CODE,
  TOO_SHORT: InvalidNumberReason.TOO_SHORT,
  TOO_LONG: InvalidNumberReason.TOO_LONG,
  INVALID_LENGTH: InvalidNumberReason.INVALID_LENGTH,
  NOT_A_NUMBER: InvalidNumberReason.NOT_A_NUMBER,
};

/** Checks international digits (country code first, no '+') and returns them in canonical form. */
function checkInternational(digits: string): NormalizeNumberResult {
  // Calling codes are prefix-free and 1-3 digits long (E.164); libphonenumber finds them the same way.
  for (let length = 1; length <= 3 && length <= digits.length; length++) {
    const callingCode = digits.slice(0, length);
    const countries = metadata.country_calling_codes[callingCode];
    if (countries !== undefined) {
      const plan = fastPlanFor(callingCode, countries);
      const national = digits.slice(length);
      // A number that may start with a national prefix (+44 0 7911…), or whose length is possible in only
      // some of the countries sharing the code (+1, +44, +7), needs libphonenumber's full rules.
      if (plan && plan.lengths.has(national.length) && !plan.nationalPrefix?.test(national)) {
        return { ok: true, number: digits };
      }
      return parseFully(digits);
    }
    if (metadata.nonGeographic[callingCode] !== undefined) return parseFully(digits);
  }
  // Too few digits to tell a missing code from a short number: libphonenumber says which.
  if (digits.length < 3) return parseFully(digits);
  return { ok: false, reason: InvalidNumberReason.UNKNOWN_COUNTRY_CODE };
}

function parseFully(digits: string): NormalizeNumberResult {
  const international = `+${digits}`;
  const parsed = parsePhoneNumberFromString(international, { extract: false }, metadata);
  if (parsed?.isPossible()) {
    // E.164 from the parse, not the input digits: it drops a national prefix typed after the country code
    // ('+44 (0) 7911 123456' is how many Britons write their number).
    return { ok: true, number: parsed.number.slice(1) };
  }
  const verdict = validatePhoneNumberLength(international, metadata);
  return { ok: false, reason: verdict ? LENGTH_REASONS[verdict] : InvalidNumberReason.NOT_A_NUMBER };
}

/**
 * Normalizes one user-typed phone number to international digits without '+' (`'+41 79 302 67 27'` →
 * `'41793026727'`), the form the provider expects and results carry in `to`.
 *
 * Accepts separators (spaces, tabs, no-break spaces, `-`, `.`, `/`, parentheses), full-width and Arabic-Indic
 * digits, a leading `+` or `00`, and plain digits, which are read as international. Checks that the number is
 * *possible* (a known country calling code and a length that exists under it), not that it is assigned: the
 * provider is the judge of that, and unassigned ranges are still worth a lookup.
 *
 * Never throws; a refusal carries one of the {@link InvalidNumberReason} strings.
 */
export function normalizeNumber(input: string): NormalizeNumberResult {
  if (input.length > MAX_INPUT_LENGTH) return { ok: false, reason: InvalidNumberReason.INPUT_TOO_LONG };
  let digits: string;
  let plus: boolean;
  if (PLAIN_DIGITS.test(input)) {
    plus = input.charCodeAt(0) === PLUS;
    digits = plus ? input.slice(1) : input;
  } else {
    const cleaned = clean(input);
    if (!cleaned.ok) return cleaned;
    ({ digits, plus } = cleaned);
  }
  if (!plus && digits.charCodeAt(0) === ZERO) {
    // '00' is the international prefix in most of the world; a single 0 starts a national number.
    if (digits.charCodeAt(1) !== ZERO) {
      return { ok: false, reason: InvalidNumberReason.NATIONAL_FORMAT };
    }
    digits = digits.slice(2);
  }
  if (digits.length === 0) return { ok: false, reason: InvalidNumberReason.TOO_SHORT };
  return checkInternational(digits);
}

/**
 * Normalizes a request's list of numbers with {@link normalizeNumber} and de-duplicates it, so each distinct
 * number is looked up once.
 *
 * @throws {BadUserInputError} (`BAD_USER_INPUT`) before any provider call:
 * - when the list is empty (`extensions.count: 0`);
 * - when it has more than `options.maxCount` entries (`extensions.maxCount`, `extensions.count`); checked
 *   before any entry is parsed;
 * - when any entry is refused: `extensions.invalidNumbers` lists EVERY refused entry as
 *   `{ index, input, reason }`, in input order, with `input` cut to {@link MAX_INPUT_LENGTH} characters.
 */
export function normalizeNumbers(
  inputs: readonly string[],
  options: { maxCount: number },
): NormalizedNumbers {
  const count = inputs.length;
  if (count === 0) {
    throw new BadUserInputError('At least one number is required.', { count });
  }
  if (count > options.maxCount) {
    throw new BadUserInputError(
      `At most ${options.maxCount} numbers are allowed per request; got ${count}.`,
      { maxCount: options.maxCount, count },
    );
  }
  const numbers: string[] = new Array<string>(count);
  const invalidNumbers: InvalidNumber[] = [];
  for (let index = 0; index < count; index++) {
    const input = inputs[index];
    const result = normalizeNumber(input);
    if (result.ok) numbers[index] = result.number;
    else invalidNumbers.push({ index, input: truncate(input), reason: result.reason });
  }
  if (invalidNumbers.length > 0) {
    throw new BadUserInputError(invalidNumbersMessage(invalidNumbers, count), { invalidNumbers });
  }
  return { numbers, unique: [...new Set(numbers)] };
}

function truncate(input: string): string {
  if (input.length <= MAX_INPUT_LENGTH) return input;
  const code = input.charCodeAt(MAX_INPUT_LENGTH - 1);
  // Cutting between the halves of a surrogate pair would send a lone surrogate to the client.
  return input.slice(0, code >= 0xd800 && code <= 0xdbff ? MAX_INPUT_LENGTH - 1 : MAX_INPUT_LENGTH);
}

function invalidNumbersMessage(invalid: readonly InvalidNumber[], count: number): string {
  const named = invalid
    .slice(0, MAX_REASONS_IN_MESSAGE)
    .map(({ index, reason }) => `#${index} (${reason})`)
    .join(', ');
  const more =
    invalid.length > MAX_REASONS_IN_MESSAGE ? ` and ${invalid.length - MAX_REASONS_IN_MESSAGE} more` : '';
  return (
    `Refused ${invalid.length} of ${count} phone numbers: ${named}${more}. ` +
    'Send international numbers with their country code (+41 79 302 67 27); see extensions.invalidNumbers.'
  );
}
