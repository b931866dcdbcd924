/**
 * One value against one Iceberg column, before the document leaves: what Firehose's Iceberg destination would
 * refuse (or change silently) is a RecordError('schema') now, so the record is dead-lettered with a reason instead
 * of landing under firehose-errors/ later. The accepted forms per type are the ones Firehose documents
 * ("Understand supported data types"); numbers are judged on their source text (see number-text.ts), never on a
 * double. Every check is linear in the value's length.
 */
import { Limits } from '../shared/constants.ts';
import { RecordError } from '../shared/errors.ts';
import { decimalParts, fractionDigits, integerDigits, numberText, toDouble, toInteger, type DecimalParts } from './number-text.ts';
import { typeName, type Column } from './table-columns.ts';

const INT32 = [-(2n ** 31n), 2n ** 31n - 1n] as const;
const INT64 = [-(2n ** 63n), 2n ** 63n - 1n] as const;
/** Years 0001..9999 (Limits): what readers of the tables hold (Python datetime, pyarrow to_pylist, Spark and Trino casts). */
const MIN_EPOCH_DAY = BigInt(Limits.minTimestampMs / 86_400_000); // 0001-01-01
const MAX_EPOCH_DAY = BigInt(Math.floor(Limits.maxTimestampMs / 86_400_000)); // 9999-12-31
const MIN_MICROS = BigInt(Limits.minTimestampMs) * 1000n;
const MAX_MICROS = BigInt(Limits.maxTimestampMs) * 1000n + 999n;
const MICROS_PER_DAY = 86_400_000_000n;

const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const BASE64_URL = /^[A-Za-z0-9_-]*={0,2}$/;
const HEX = /^(?:[0-9a-fA-F]{2})*$/;
/** An integer as Firehose's examples show it in a string ("7"), and as Java's Long.parseLong reads it. */
const PLAIN_INTEGER = /^-?(?:0|[1-9]\d*)$/;
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const TIME = /^(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?$/;
const DATETIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:\d{2})?$/;

/** String.prototype.isWellFormed (ES2024; Node ≥ 20): no lone UTF-16 surrogate. */
const isWellFormed = (s: string): boolean => (s as unknown as { isWellFormed(): boolean }).isWellFormed();

const RawJSON = JSON as unknown as { isRawJSON(v: unknown): v is { readonly rawJSON: string } };

/** A short description of a value for a reason: its kind and, for scalars, its text (cut to 40 characters). */
export function describe(v: unknown): string {
  const cut = (s: string) => (s.length > 40 ? `${s.slice(0, 37)}...` : s);
  const n = numberText(v);
  if (n !== undefined) return `the number ${cut(n)}`;
  if (typeof v === 'string') return `the string ${cut(JSON.stringify(v))}`;
  if (typeof v === 'boolean') return `${v}`;
  if (Array.isArray(v)) return 'an array';
  if (v !== null && typeof v === 'object' && !RawJSON.isRawJSON(v)) return 'an object';
  return String(v);
}

class Mismatch extends Error {}
function fail(why: string): never {
  throw new Mismatch(why);
}

/** Number text from a number value, or from a string when the column also takes numbers as strings. */
function numeric(v: unknown, strings: boolean): { text: string; parts: DecimalParts; fromString: boolean } | undefined {
  const text = numberText(v) ?? (strings && typeof v === 'string' ? v : undefined);
  if (text === undefined) return undefined;
  const parts = decimalParts(text);
  return parts ? { text, parts, fromString: typeof v === 'string' } : undefined;
}

function integerIn(v: unknown, range: readonly [bigint, bigint], what: string, strings: boolean): { value: bigint; fromString: boolean } {
  const n = numeric(v, strings) ?? fail(`expected ${what}`);
  const i = toInteger(n.parts);
  if (i === 'fraction') return fail(`expected ${what}, not a fraction`);
  if (i === 'huge' || i < range[0] || i > range[1]) return fail(`out of range ${range[0]}..${range[1]}`);
  return { value: i, fromString: n.fromString };
}

const daysInMonth = (y: number, m: number) => (m === 2 ? (y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0) ? 29 : 28) : [4, 6, 9, 11].includes(m) ? 30 : 31);

function checkCalendar(y: number, mo: number, d: number): void {
  if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > daysInMonth(y, mo)) fail('not a calendar date between 0001-01-01 and 9999-12-31');
}

function checkClock(h: number, mi: number, s: number, fraction: string | undefined): void {
  if (h > 23 || mi > 59 || s > 59) fail('not a time of day 00:00:00..23:59:59');
  // Iceberg keeps microseconds: digits past the sixth would be cut off silently.
  if (fraction !== undefined && fraction.length > 6 && !/^0+$/.test(fraction.slice(6))) fail('finer than microseconds, which the column keeps');
}

/** Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil; no Date quirks for years < 100). */
export function epochDay(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146_097 + doe - 719_468;
}

function checkDateTime(s: string): void {
  const m = DATETIME.exec(s) ?? fail('expected epoch microseconds or an ISO-8601 date-time (2024-09-04T18:56:15.099Z)');
  const [y, mo, d, h, mi, sec] = [m[1], m[2], m[3], m[4], m[5], m[6] ?? '0'].map(Number);
  checkCalendar(y, mo, d);
  checkClock(h, mi, sec, m[7]);
  let micros = (BigInt(epochDay(y, mo, d)) * 86_400n + BigInt(h * 3600 + mi * 60 + sec)) * 1_000_000n;
  const zone = m[8];
  if (zone && zone !== 'Z') {
    const sign = zone[0] === '-' ? -1n : 1n;
    const [oh, om] = [Number(zone.slice(1, 3)), Number(zone.slice(4, 6))];
    // Java's ZoneOffset (which Firehose parses offsets with) stops at ±18:00: +18:30 is no offset there.
    if (oh > 18 || om > 59 || (oh === 18 && om > 0)) fail('has a zone offset beyond ±18:00');
    micros -= sign * BigInt(oh * 3600 + om * 60) * 1_000_000n;
  }
  if (micros < MIN_MICROS || micros > MAX_MICROS) fail('outside years 0001..9999');
}

function isBinaryText(s: string): boolean {
  if (s.length % 4 === 0 && (BASE64.test(s) || BASE64_URL.test(s))) return true;
  // MIME base64 breaks lines, in the standard alphabet only: URL-safe text with line breaks is none of the encodings
  // Firehose takes (a MIME decoder skips its - and _ and decodes other bytes).
  if (s.includes('\n')) {
    const unwrapped = s.replace(/\r?\n/g, '');
    if (unwrapped.length % 4 === 0 && BASE64.test(unwrapped)) return true;
  }
  return HEX.test(s);
}

/** Checks a value for a column type; returns what to write: an integer given as an exact non-integer literal
 * (7.0, 7e0, also in a string: "7.0", "7E0") is written as its integer, so Firehose never reads it through a
 * double nor has to parse more than the plain digits its examples show. Throws Mismatch. */
function checkType(col: Column, v: unknown): unknown {
  const t = col.type;
  switch (t.kind) {
    case 'boolean':
      if (typeof v === 'boolean' || v === 'true' || v === 'false' || v === 1 || v === 0) return v;
      return fail('expected true, false, "true", "false", 1 or 0');
    case 'string':
      if (typeof v !== 'string') return fail('expected a string');
      // A lone surrogate has no UTF-8 form: Parquet would hold invalid text.
      if (!isWellFormed(v)) return fail('holds a lone UTF-16 surrogate, which is not Unicode text');
      return v;
    case 'int':
    case 'long': {
      const i = integerIn(v, t.kind === 'int' ? INT32 : INT64, 'an integer', true);
      return typeof v === 'number' || (i.fromString && PLAIN_INTEGER.test(v as string)) ? v : i.value;
    }
    case 'float':
    case 'double': {
      const n = numeric(v, true) ?? fail('expected a number');
      const d = toDouble(n.text, n.parts, t.kind === 'float');
      if (d === 'overflow') fail(`beyond the range of a ${t.kind}`);
      if (d === 'underflow') fail(`so close to 0 that a ${t.kind} would hold 0`);
      return v;
    }
    case 'decimal': {
      const n = numeric(v, true) ?? fail('expected a number');
      if (fractionDigits(n.parts) > t.scale) fail(`has ${fractionDigits(n.parts)} digits after the point, more than the scale ${t.scale}`);
      if (integerDigits(n.parts) > t.precision - t.scale) fail(`has ${integerDigits(n.parts)} digits before the point, more than ${t.precision - t.scale} (precision ${t.precision}, scale ${t.scale})`);
      return v;
    }
    case 'date': {
      if (typeof v === 'string') {
        const m = DATE.exec(v) ?? fail('expected days since 1970-01-01 or an ISO-8601 date (2024-09-04)');
        checkCalendar(Number(m[1]), Number(m[2]), Number(m[3]));
        return v;
      }
      const i = integerIn(v, [MIN_EPOCH_DAY, MAX_EPOCH_DAY], 'days since 1970-01-01 or an ISO-8601 date (2024-09-04)', false);
      return typeof v === 'number' ? v : i.value;
    }
    case 'time': {
      if (typeof v === 'string') {
        const m = TIME.exec(v) ?? fail('expected microseconds since midnight or an ISO-8601 time (18:56:15.096)');
        checkClock(Number(m[1]), Number(m[2]), Number(m[3] ?? '0'), m[4]);
        return v;
      }
      const i = integerIn(v, [0n, MICROS_PER_DAY - 1n], 'microseconds since midnight or an ISO-8601 time (18:56:15.096)', false);
      return typeof v === 'number' ? v : i.value;
    }
    case 'timestamp':
    case 'timestamptz': {
      if (typeof v === 'string') {
        checkDateTime(v);
        return v;
      }
      // Firehose takes numbers as epoch microseconds; beyond 2^53 an exact literal such as 9007199254740993.0 is
      // written as its integer, like a long's.
      const i = integerIn(v, [MIN_MICROS, MAX_MICROS], 'epoch microseconds or an ISO-8601 date-time (2024-09-04T18:56:15.099Z)', false);
      return typeof v === 'number' ? v : i.value;
    }
    case 'binary':
      if (typeof v !== 'string') return fail('expected base64 or hex text');
      return isBinaryText(v) ? v : fail('expected base64 (standard, MIME or URL-safe) or hex text');
    case 'uuid':
      if (typeof v === 'string' && UUID.test(v)) return v;
      return fail('expected a UUID (21c5521c-a6d4-48d4-b2c8-7f6d842f72c3)');
    default:
      return fail('has no check');
  }
}

/**
 * The value to write for a column; a missing or null value is fine unless the column is required. Throws
 * RecordError('schema') naming the column, its type and the value.
 */
export function checkColumn(col: Column, v: unknown): unknown {
  if (v === undefined || v === null) {
    if (col.required) throw new RecordError('schema', `column "${col.name}" is required but the value ${v === undefined ? 'has no such field' : 'holds null'}`);
    return v;
  }
  try {
    return checkType(col, v);
  } catch (err) {
    if (!(err instanceof Mismatch)) throw err;
    throw new RecordError('schema', `column "${col.name}" (${typeName(col.type)}${col.required ? ', required' : ''}): ${describe(v)} does not fit: ${err.message}`);
  }
}
