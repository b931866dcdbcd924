/**
 * One value against one column type: what fits is written (as given, or an exact integer), what Firehose would
 * refuse or change is a RecordError('schema') naming the column, its type and the value. Numbers come as the shared
 * parser hands them out: number, BigInt, or JSON.rawJSON(literal).
 */
import { describe, expect, it } from 'vitest';
import { checkColumn, epochDay } from '../../../lambdas/forwarder/column-check.ts';
import { parseColumnType, type Column } from '../../../lambdas/forwarder/table-columns.ts';
import { RecordError } from '../../../lambdas/shared/errors.ts';

const raw = (text: string) => (JSON as unknown as { rawJSON(t: string): unknown }).rawJSON(text);
const col = (type: string, required = false): Column => ({ name: 'c', type: parseColumnType(type)!, required });

function mismatch(type: string, value: unknown): string {
  try {
    checkColumn(col(type), value);
  } catch (err) {
    expect(err).toBeInstanceOf(RecordError);
    expect((err as RecordError).stage).toBe('schema');
    return (err as Error).message;
  }
  throw new Error(`${type} accepted ${String(value)}`);
}

/** Accepted values of each type, in the forms Firehose documents. */
const FITS: [string, unknown[]][] = [
  ['boolean', [true, false, 'true', 'false', 1, 0]],
  ['int', [7, -2_147_483_648, 2_147_483_647, '7', '-12', 7n]],
  ['long', [8, 9_223_372_036_854_775_807n, -9_223_372_036_854_775_808n, '9223372036854775807', 2 ** 60]],
  ['float', [0.6242226, '0.6242226', 3.4e38, 1e-40, raw('0.12345678901234567890')]],
  ['double', [9.18477568715142, '9.18477568715142', 1e308, raw('0.1234567890123456789'), raw('1e-300'), 12n]],
  ['decimal(38,2)', [19.99, '9455262425851.13', 9455262425852, raw('123456789012345678901234567890123456.78'), 1.5, raw('1.2300')]],
  ['decimal(3,3)', [0.123, raw('0.1230000'), 0]],
  ['string', ['', 'paid', '😀', 'line\nbreak']],
  ['binary', ['AsYhnHD/Ra54hA==', 'AsYhnHD_Ra54hA==', 'AsYh\r\nnHD/', '02c6219c70ff', '']],
  ['date', [19_970, '2024-09-04', '0001-01-01', '9999-12-31', '2024-02-29', -719_162]],
  ['time', [68_175_096_000, '18:56:15.096', '00:00', '23:59:59.999999', 0]],
  ['timestamp', [1_725_476_175_114_000, '2024-09-04T18:56:15.114', '2024-09-04T18:56:15.114Z', '2024-09-04T18:56:15.114-07:00', 253_402_300_799_999_999n]],
  ['timestamptz', [1_725_476_175_099_000, '2024-09-04T18:56:15.099Z', '2024-09-04T18:56:15.099', '0001-01-01T00:00:00Z', '2024-09-04T18:56:15.123456000Z', -62_135_596_800_000_000n]],
  ['uuid', ['21c5521c-a6d4-48d4-b2c8-7f6d842f72c3', '21C5521C-A6D4-48D4-B2C8-7F6D842F72C3']],
];

describe('checkColumn: values that fit are written as given', () => {
  it.each(FITS.flatMap(([type, values]) => values.map((v) => [type, v] as const)))('%s takes %o', (type, value) => {
    expect(checkColumn(col(type), value)).toBe(value);
  });

  it('writes a long given as an exact non-integer literal as its integer, so Firehose never reads it through a double', () => {
    // Prepare
    const value = raw('9007199254740993.0');

    // Act
    const out = checkColumn(col('long'), value);

    // Assess
    expect(out).toBe(9_007_199_254_740_993n);
  });

  // Found against pyiceberg (test/integration/iceberg-tables.test.ts): these went to Firehose as given.
  it.each([
    ['int', '7.0', 7n],
    ['int', '-2E0', -2n],
    ['long', '9223372036854775807.0', 9_223_372_036_854_775_807n],
    ['long', '90071992547409930e-1', 9_007_199_254_740_993n],
    ['timestamptz', raw('9007199254740993.0'), 9_007_199_254_740_993n],
    ['timestamp', raw('-621355967999999990e-1'), -62_135_596_799_999_999n],
    ['date', raw('19970.0'), 19_970n],
    ['time', raw('1e3'), 1000n],
  ])('writes %s given as %o as its plain integer', (type, value, integer) => {
    expect(checkColumn(col(type), value)).toBe(integer);
  });

  it.each(['-18:00', '+18:00', '+17:59'])('takes the zone offset %s, Java\'s ZoneOffset range', (offset) => {
    expect(checkColumn(col('timestamptz'), `2024-09-04T18:56:15${offset}`)).toBe(`2024-09-04T18:56:15${offset}`);
  });
});

describe('checkColumn: missing and null', () => {
  it.each([undefined, null])('an optional column takes %s', (value) => {
    expect(checkColumn(col('long'), value)).toBe(value);
  });

  it.each([
    [undefined, 'column "c" is required but the value has no such field'],
    [null, 'column "c" is required but the value holds null'],
  ])('a required column refuses %s', (value, message) => {
    expect(() => checkColumn(col('long', true), value)).toThrow(message);
  });
});

describe('checkColumn: values that do not fit are dead letters with a reason', () => {
  it.each([
    ['boolean', 'yes', 'column "c" (boolean): the string "yes" does not fit: expected true, false, "true", "false", 1 or 0'],
    ['boolean', 2, 'column "c" (boolean): the number 2 does not fit: expected true, false, "true", "false", 1 or 0'],
    ['int', 2_147_483_648, 'column "c" (int): the number 2147483648 does not fit: out of range -2147483648..2147483647'],
    ['int', 1.5, 'column "c" (int): the number 1.5 does not fit: expected an integer, not a fraction'],
    ['int', true, 'column "c" (int): true does not fit: expected an integer'],
    ['int', '7.0x', 'column "c" (int): the string "7.0x" does not fit: expected an integer'],
    ['long', 9_223_372_036_854_775_808n, 'column "c" (long): the number 9223372036854775808 does not fit: out of range -9223372036854775808..9223372036854775807'],
    ['long', raw('12345678901234567890.12'), 'column "c" (long): the number 12345678901234567890.12 does not fit: expected an integer, not a fraction'],
    ['long', raw('1e400'), 'column "c" (long): the number 1e400 does not fit: out of range -9223372036854775808..9223372036854775807'],
    ['double', raw('1e400'), 'column "c" (double): the number 1e400 does not fit: beyond the range of a double'],
    ['double', raw('-1e400'), 'column "c" (double): the number -1e400 does not fit: beyond the range of a double'],
    ['double', raw('1e-400'), 'column "c" (double): the number 1e-400 does not fit: so close to 0 that a double would hold 0'],
    ['double', 'NaN', 'column "c" (double): the string "NaN" does not fit: expected a number'],
    ['float', 3.5e38, 'column "c" (float): the number 3.5e+38 does not fit: beyond the range of a float'],
    ['float', 1e-50, 'column "c" (float): the number 1e-50 does not fit: so close to 0 that a float would hold 0'],
    ['decimal(12,2)', 19.999, 'column "c" (decimal(12,2)): the number 19.999 does not fit: has 3 digits after the point, more than the scale 2'],
    ['decimal(12,2)', raw('12345678901234567890.12'), 'column "c" (decimal(12,2)): the number 12345678901234567890.12 does not fit: has 20 digits before the point, more than 10 (precision 12, scale 2)'],
    ['decimal(38,10)', raw('0.1234567890123456789'), 'column "c" (decimal(38,10)): the number 0.1234567890123456789 does not fit: has 19 digits after the point, more than the scale 10'],
    ['decimal(5,0)', raw('1e400'), 'column "c" (decimal(5,0)): the number 1e400 does not fit: has 401 digits before the point, more than 5 (precision 5, scale 0)'],
    ['decimal(5,2)', { amount: 1 }, 'column "c" (decimal(5,2)): an object does not fit: expected a number'],
    ['string', 42, 'column "c" (string): the number 42 does not fit: expected a string'],
    ['string', '\ud800x', 'column "c" (string): the string "\\ud800x" does not fit: holds a lone UTF-16 surrogate, which is not Unicode text'],
    ['string', ['a'], 'column "c" (string): an array does not fit: expected a string'],
    ['binary', 'not base64!', 'column "c" (binary): the string "not base64!" does not fit: expected base64 (standard, MIME or URL-safe) or hex text'],
    ['binary', 'abc', 'column "c" (binary): the string "abc" does not fit: expected base64 (standard, MIME or URL-safe) or hex text'],
    ['date', '2024-02-30', 'column "c" (date): the string "2024-02-30" does not fit: not a calendar date between 0001-01-01 and 9999-12-31'],
    ['date', '2023-02-29', 'column "c" (date): the string "2023-02-29" does not fit: not a calendar date between 0001-01-01 and 9999-12-31'],
    ['date', '0000-12-31', 'column "c" (date): the string "0000-12-31" does not fit: not a calendar date between 0001-01-01 and 9999-12-31'],
    ['date', '10000-01-01', 'column "c" (date): the string "10000-01-01" does not fit: expected days since 1970-01-01 or an ISO-8601 date (2024-09-04)'],
    ['date', 2_932_897, 'column "c" (date): the number 2932897 does not fit: out of range -719162..2932896'],
    ['date', '19970', 'column "c" (date): the string "19970" does not fit: expected days since 1970-01-01 or an ISO-8601 date (2024-09-04)'],
    ['time', '24:00', 'column "c" (time): the string "24:00" does not fit: not a time of day 00:00:00..23:59:59'],
    ['time', 86_400_000_000, 'column "c" (time): the number 86400000000 does not fit: out of range 0..86399999999'],
    ['time', '12:00:00.1234567', 'column "c" (time): the string "12:00:00.1234567" does not fit: finer than microseconds, which the column keeps'],
    ['timestamptz', 253_402_300_800_000_000n, 'column "c" (timestamptz): the number 253402300800000000 does not fit: out of range -62135596800000000..253402300799999999'],
    ['timestamptz', 1.5, 'column "c" (timestamptz): the number 1.5 does not fit: expected epoch microseconds or an ISO-8601 date-time (2024-09-04T18:56:15.099Z), not a fraction'],
    ['timestamptz', '2024-09-04 18:56:15Z', 'column "c" (timestamptz): the string "2024-09-04 18:56:15Z" does not fit: expected epoch microseconds or an ISO-8601 date-time (2024-09-04T18:56:15.099Z)'],
    ['timestamptz', '2024-13-04T18:56:15Z', 'column "c" (timestamptz): the string "2024-13-04T18:56:15Z" does not fit: not a calendar date between 0001-01-01 and 9999-12-31'],
    ['timestamptz', '2024-09-04T18:61:15Z', 'column "c" (timestamptz): the string "2024-09-04T18:61:15Z" does not fit: not a time of day 00:00:00..23:59:59'],
    ['timestamptz', '0001-01-01T00:00:00+01:00', 'column "c" (timestamptz): the string "0001-01-01T00:00:00+01:00" does not fit: outside years 0001..9999'],
    ['timestamp', '9999-12-31T23:00:00-01:00', 'column "c" (timestamp): the string "9999-12-31T23:00:00-01:00" does not fit: outside years 0001..9999'],
    ['timestamp', '2024-09-04T18:56:15+19:00', 'column "c" (timestamp): the string "2024-09-04T18:56:15+19:00" does not fit: has a zone offset beyond ±18:00'],
    // Java's ZoneOffset stops at ±18:00 (found against pyiceberg, test/integration/iceberg-tables.test.ts).
    ['timestamptz', '2024-09-04T18:56:15-18:30', 'column "c" (timestamptz): the string "2024-09-04T18:56:15-18:30" does not fit: has a zone offset beyond ±18:00'],
    // URL-safe base64 has no line breaks: a MIME decoder would skip its - and _ and decode other bytes.
    ['binary', 'AsYhnHD_\nRa54hA==', 'column "c" (binary): the string "AsYhnHD_\\nRa54hA==" does not fit: expected base64 (standard, MIME or URL-safe) or hex text'],
    ['uuid', '21c5521ca6d448d4b2c87f6d842f72c3', 'column "c" (uuid): the string "21c5521ca6d448d4b2c87f6d842f72c3" does not fit: expected a UUID (21c5521c-a6d4-48d4-b2c8-7f6d842f72c3)'],
  ])('%s refuses %o', (type, value, message) => {
    expect(mismatch(type, value)).toBe(message);
  });

  it('names a required column as such, and cuts a long value in the reason', () => {
    // Prepare
    const c = { ...col('int'), name: 'order_no', required: true };

    // Act
    const run = () => checkColumn(c, 'x'.repeat(100));

    // Assess
    expect(run).toThrow(`column "order_no" (int, required): the string "${'x'.repeat(36)}... does not fit: expected an integer`);
  });

  it('checks a value in time linear in its length (a 1 MB decimal literal, a 1 MB binary string)', () => {
    // Prepare
    const longDecimal = raw(`0.${'1'.repeat(1_000_000)}`);
    const longBinary = 'QUJD'.repeat(250_000);

    // Act
    const started = performance.now();
    const decimal = () => checkColumn(col('decimal(38,2)'), longDecimal);
    const binary = checkColumn(col('binary'), longBinary);
    const elapsed = performance.now() - started;

    // Assess
    expect(decimal).toThrow(/has 1000000 digits after the point/);
    expect(binary).toBe(longBinary);
    expect(elapsed).toBeLessThan(1000);
  });
});

describe('epochDay', () => {
  it.each([
    [1970, 1, 1, 0], [2024, 9, 4, 19_970], [1, 1, 1, -719_162], [9999, 12, 31, 2_932_896], [2000, 2, 29, 11_016], [1969, 12, 31, -1],
  ])('%i-%i-%i is day %i', (y, m, d, day) => {
    expect(epochDay(y, m, d)).toBe(day);
  });

  it('agrees with Date.UTC for every day of 1900..2100', () => {
    // Prepare
    const mismatches: string[] = [];

    // Act
    for (let t = Date.UTC(1900, 0, 1); t <= Date.UTC(2100, 11, 31); t += 86_400_000) {
      const d = new Date(t);
      if (epochDay(d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate()) !== t / 86_400_000) mismatches.push(d.toISOString());
    }

    // Assess
    expect(mismatches).toEqual([]);
  });
});
