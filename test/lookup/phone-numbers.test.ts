import {
  parsePhoneNumberFromString as parseWithMaxMetadata,
  validatePhoneNumberLength as validateLengthWithMaxMetadata,
} from 'libphonenumber-js/max';
import maxMetadata from 'libphonenumber-js/max/metadata';
import { BadUserInputError, GatewayErrorCode } from '../../src/errors';
import {
  InvalidNumberReason,
  MAX_INPUT_LENGTH,
  normalizeNumber,
  normalizeNumbers,
} from '../../src/lookup/phone-numbers';

const SWISS = '41793026727';

function expectBadUserInput(fn: () => unknown): BadUserInputError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(BadUserInputError);
    const badInput = error as BadUserInputError;
    expect(badInput.extensions.code).toBe(GatewayErrorCode.BAD_USER_INPUT);
    return badInput;
  }
  throw new Error('expected a BadUserInputError');
}

describe('normalizeNumber', () => {
  it.each([
    ['spaces and +', '+41 79 302 67 27'],
    ['00 international prefix', '0041793026727'],
    ['00 prefix with spaces', '00 41 79 302 67 27'],
    ['dashes', '41-79-302-67-27'],
    ['parenthesised country code', '(41) 793026727'],
    ['parenthesised +country code', '(+41) 79 302 67 27'],
    ['dots', '41.79.302.67.27'],
    ['slashes', '+41 79/302 67 27'],
    ['en dashes', '+41–79–302–67–27'],
    ['surrounding whitespace', '   +41793026727  '],
    ['tabs', '\t41\t79 302 67 27\t'],
    ['no-break spaces', '+41\u00a079\u00a0302\u00a067\u00a027'],
    ['narrow no-break and thin spaces', '+41\u202f79\u2009302\u202f67\u202f27'],
    ['bidi marks from a pasted RTL text', '\u202a+41 79 302 67 27\u202c'],
    ['full-width digits', '４１７９３０２６７２７'],
    ['full-width plus, digits and spaces', '＋４１\u3000７９\u3000３０２\u3000６７\u3000２７'],
    ['Arabic-Indic digits', '+٤١٧٩٣٠٢٦٧٢٧'],
    ['plain international digits', SWISS],
    ['E.164', `+${SWISS}`],
    ['national prefix after the country code', '+41 (0)79 302 67 27'],
    ['exactly the maximum input length', `+${SWISS}`.padStart(MAX_INPUT_LENGTH)],
  ])('accepts %s', (_name, input) => {
    expect(normalizeNumber(input)).toEqual({ ok: true, number: SWISS });
  });

  it.each([
    ['US', '+1 201 555 0123', '12015550123'],
    ['US, national punctuation', '+1 (201) 555-0123', '12015550123'],
    ['UK mobile', '+44 7911 123456', '447911123456'],
    ['UK mobile with (0)', '+44 (0) 7911 123456', '447911123456'],
    ['DE mobile', '+49 151 12345678', '4915112345678'],
    ['DE mobile via 00', '0049 151 1234 5678', '4915112345678'],
    ['HR mobile', '+385 91 234 5678', '385912345678'],
    ['IT fixed line keeps its leading 0', '+39 06 1234 5678', '390612345678'],
    ['RU mobile', '+7 900 123-45-67', '79001234567'],
    ['non-geographic freephone', '+800 1234 5678', '80012345678'],
    // Possible but not valid: the provider, not the gateway, decides whether these exist.
    ['US number in an unassigned area code', '+1 123 456 7890', '11234567890'],
    ['CH number in an unassigned range', '+41 00 000 00 00', '41000000000'],
  ])('accepts %s', (_name, input, expected) => {
    expect(normalizeNumber(input)).toEqual({ ok: true, number: expected });
  });

  it.each([
    ['an empty string', '', InvalidNumberReason.EMPTY],
    ['whitespace only', ' \t\u00a0\u3000 ', InvalidNumberReason.EMPTY],
    [
      'input longer than the cap',
      `+${SWISS}`.padStart(MAX_INPUT_LENGTH + 1),
      InvalidNumberReason.INPUT_TOO_LONG,
    ],
    ['letters', 'abc', InvalidNumberReason.INVALID_CHARACTERS],
    ['a letter among digits', '+41 79 302 67 2x', InvalidNumberReason.INVALID_CHARACTERS],
    ['an extension', '+41 79 302 67 27 ext. 5', InvalidNumberReason.INVALID_CHARACTERS],
    ['a hash', '+41#793026727', InvalidNumberReason.INVALID_CHARACTERS],
    ['a trailing semicolon', `${SWISS};`, InvalidNumberReason.INVALID_CHARACTERS],
    ['an emoji', `📞 ${SWISS}`, InvalidNumberReason.INVALID_CHARACTERS],
    ['a tel: URI', `tel:+${SWISS}`, InvalidNumberReason.INVALID_CHARACTERS],
    ['a + inside the digits', '41+793026727', InvalidNumberReason.MISPLACED_PLUS],
    ['two +', `++${SWISS}`, InvalidNumberReason.MISPLACED_PLUS],
    ['separators only', '(--)', InvalidNumberReason.NO_DIGITS],
    ['a lone +', '+', InvalidNumberReason.NO_DIGITS],
    ['a national number', '0793026727', InvalidNumberReason.NATIONAL_FORMAT],
    ['a formatted national number', '079 302 67 27', InvalidNumberReason.NATIONAL_FORMAT],
    ['a single 0', '0', InvalidNumberReason.NATIONAL_FORMAT],
    ['an unknown country code', '+999 1234567', InvalidNumberReason.UNKNOWN_COUNTRY_CODE],
    ['an unknown country code without +', '9991234567', InvalidNumberReason.UNKNOWN_COUNTRY_CODE],
    ['a country code starting with 0', '+0 41 79 302 67 27', InvalidNumberReason.UNKNOWN_COUNTRY_CODE],
    [
      '00 then a 0 where the country code belongs',
      '000041793026727',
      InvalidNumberReason.UNKNOWN_COUNTRY_CODE,
    ],
    ['a country code alone', '+41', InvalidNumberReason.TOO_SHORT],
    ['00 alone', '00', InvalidNumberReason.TOO_SHORT],
    ['too few digits for CH', '+41 79 302 67 2', InvalidNumberReason.TOO_SHORT],
    ['too few digits for the US', '+1 201 555 012', InvalidNumberReason.TOO_SHORT],
    ['too many digits for CH', '+41 79 302 67 27 12345', InvalidNumberReason.TOO_LONG],
    ['too many digits for the US', '+1 201 555 01234', InvalidNumberReason.TOO_LONG],
    ['too many digits for any number', '+41 79 302 67 27 1234 5678 9012', InvalidNumberReason.TOO_LONG],
    ['a length between two CH lengths', '+41 79 302 67 270', InvalidNumberReason.INVALID_LENGTH],
  ])('rejects %s', (_name, input, reason) => {
    expect(normalizeNumber(input)).toEqual({ ok: false, reason });
  });

  // The fast path accepts numbers without a full libphonenumber parse; this pins it to the full rules,
  // using the `max` metadata as the reference, so it also shows `min` gives the same possibility verdicts.
  it('agrees with a full parse against the max metadata for every calling code', () => {
    const reasons: Record<string, string> = {
      INVALID_COUNTRY: InvalidNumberReason.UNKNOWN_COUNTRY_CODE,
      TOO_SHORT: InvalidNumberReason.TOO_SHORT,
      TOO_LONG: InvalidNumberReason.TOO_LONG,
      INVALID_LENGTH: InvalidNumberReason.INVALID_LENGTH,
      NOT_A_NUMBER: InvalidNumberReason.NOT_A_NUMBER,
    };
    const reference = (digits: string) => {
      const parsed = parseWithMaxMetadata(`+${digits}`, { extract: false });
      if (parsed?.isPossible()) return { ok: true, number: parsed.number.slice(1) };
      return { ok: false, reason: reasons[validateLengthWithMaxMetadata(`+${digits}`) ?? 'NOT_A_NUMBER'] };
    };
    let seed = 42;
    const randomDigits = (length: number, first = '') => {
      let digits = first;
      while (digits.length < length) {
        seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
        digits += Math.floor((seed / 2 ** 31) * 10);
      }
      return digits;
    };
    const callingCodes = [
      ...Object.keys(maxMetadata.country_calling_codes),
      ...Object.keys(maxMetadata.nonGeographic),
      '999',
      '0',
    ];
    const mismatches: unknown[] = [];
    let accepted = 0;
    for (const callingCode of callingCodes) {
      for (let length = 0; length <= 17; length++) {
        // A random national number, plus ones led by the digits national prefixes use (0, 1, 8, 9).
        for (const first of length > 0 ? ['', '0', '1', '8', '9'] : ['']) {
          const digits = callingCode + randomDigits(length, first);
          const expected = reference(digits);
          const inputs = [`+${digits}`];
          if (expected.ok) {
            accepted++;
            inputs.push(digits);
          }
          for (const input of inputs) {
            const actual = normalizeNumber(input);
            if (JSON.stringify(actual) !== JSON.stringify(expected))
              mismatches.push({ input, actual, expected });
          }
        }
      }
    }
    expect(mismatches).toEqual([]);
    // Guards against a sample that only exercises rejections.
    expect(accepted).toBeGreaterThan(1_000);
  });
});

describe('normalizeNumbers', () => {
  it('normalizes every entry in input order and de-duplicates in first-seen order', () => {
    const result = normalizeNumbers(
      ['+44 7911 123456', '+41 79 302 67 27', '0041793026727', '447911123456', '+1 201 555 0123', SWISS],
      { maxCount: 10 },
    );
    expect(result).toEqual({
      numbers: ['447911123456', SWISS, SWISS, '447911123456', '12015550123', SWISS],
      unique: ['447911123456', SWISS, '12015550123'],
    });
  });

  it('reports every bad entry with its index, input and reason in one error', () => {
    const error = expectBadUserInput(() =>
      normalizeNumbers(
        ['+41 79 302 67 27', 'abc', '0041793026727', '', '+999 1234567', SWISS, '0793026727'],
        {
          maxCount: 10,
        },
      ),
    );
    expect(error.extensions.invalidNumbers).toEqual([
      { index: 1, input: 'abc', reason: InvalidNumberReason.INVALID_CHARACTERS },
      { index: 3, input: '', reason: InvalidNumberReason.EMPTY },
      { index: 4, input: '+999 1234567', reason: InvalidNumberReason.UNKNOWN_COUNTRY_CODE },
      { index: 6, input: '0793026727', reason: InvalidNumberReason.NATIONAL_FORMAT },
    ]);
  });

  it('echoes at most MAX_INPUT_LENGTH characters of a refused input', () => {
    const error = expectBadUserInput(() => normalizeNumbers([SWISS, 'x'.repeat(10_000)], { maxCount: 10 }));
    expect(error.extensions.invalidNumbers).toEqual([
      { index: 1, input: 'x'.repeat(MAX_INPUT_LENGTH), reason: InvalidNumberReason.INPUT_TOO_LONG },
    ]);
  });

  it('never echoes half of a surrogate pair', () => {
    const input = `${'1'.repeat(MAX_INPUT_LENGTH - 1)}📞`;
    const error = expectBadUserInput(() => normalizeNumbers([input], { maxCount: 10 }));
    expect(error.extensions.invalidNumbers).toEqual([
      { index: 0, input: '1'.repeat(MAX_INPUT_LENGTH - 1), reason: InvalidNumberReason.INPUT_TOO_LONG },
    ]);
  });

  it('accepts exactly maxCount numbers', () => {
    expect(normalizeNumbers([SWISS, SWISS], { maxCount: 2 }).unique).toEqual([SWISS]);
  });

  it('refuses more than maxCount numbers before looking at any of them', () => {
    const error = expectBadUserInput(() => normalizeNumbers(['abc', 'def', 'ghi'], { maxCount: 2 }));
    expect(error.extensions).toEqual({ code: GatewayErrorCode.BAD_USER_INPUT, maxCount: 2, count: 3 });
  });

  it('refuses an empty list', () => {
    const error = expectBadUserInput(() => normalizeNumbers([], { maxCount: 10 }));
    expect(error.extensions).toEqual({ code: GatewayErrorCode.BAD_USER_INPUT, count: 0 });
  });
});
