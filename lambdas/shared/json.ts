/**
 * JSON numbers kept exact. JSON.parse alone rounds every number to a double: integers beyond 2^53 lose digits,
 * 1e400 becomes Infinity, 0.1234567890123456789 becomes 0.12345678901234568. With source text (Node >= 21 passes it
 * to a reviver) each number comes back as what can hold it exactly:
 *  - a number when the double is the literal's exact value (an integer within ±2^53, or a fraction whose shortest
 *    double text is numerically the literal: 0.1, 1.5e3);
 *  - a BigInt for an integer literal within int64;
 *  - otherwise JSON.rawJSON(literal): an object that JSON.stringify writes back as the literal itself.
 * The reviver is slow, so it runs only when checkJson saw a number that may not survive a double.
 */
declare global {
  interface JSON {
    rawJSON(text: string): { readonly rawJSON: string };
    isRawJSON(value: unknown): value is { readonly rawJSON: string };
  }
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const INTEGER = /^-?\d+$/;

/** A decimal literal as sign, digits without leading/trailing zeros, and exponent: equal keys, equal numbers. */
function decimalKey(text: string): string {
  let s = text;
  const negative = s.startsWith('-');
  if (negative) s = s.slice(1);
  let exponent = 0;
  const e = s.search(/[eE]/);
  if (e >= 0) {
    exponent = Number(s.slice(e + 1));
    s = s.slice(0, e);
  }
  const dot = s.indexOf('.');
  let digits = s;
  if (dot >= 0) {
    digits = s.slice(0, dot) + s.slice(dot + 1);
    exponent -= s.length - dot - 1;
  }
  let a = 0;
  while (a < digits.length - 1 && digits[a] === '0') a++;
  let z = digits.length;
  while (z > a + 1 && digits[z - 1] === '0') z--;
  exponent += digits.length - z;
  digits = digits.slice(a, z);
  if (digits === '0') return '0';
  return `${negative ? '-' : ''}${digits}e${exponent}`;
}

/** True when the double `n` is exactly the number the decimal literal `text` names. */
export function isExactDouble(text: string, n: number): boolean {
  return Number.isFinite(n) && decimalKey(text) === decimalKey(String(n));
}

/** What parseJsonExact makes of a number literal whose double is `value`. */
function exactFrom(source: string, value: number): unknown {
  if (INTEGER.test(source)) {
    if (Number.isSafeInteger(value)) return value;
    // More than 19 digits is beyond int64 (JSON integers have no leading zeros): no BigInt of a huge literal is made
    // just to compare it (a literal of hundreds of millions of digits would throw a RangeError in BigInt()).
    if (source.length - (source.charCodeAt(0) === 0x2d ? 1 : 0) > 19) return JSON.rawJSON(source);
    const big = BigInt(source);
    return big >= INT64_MIN && big <= INT64_MAX ? big : JSON.rawJSON(source);
  }
  return isExactDouble(source, value) ? value : JSON.rawJSON(source);
}

/** A valid JSON number literal as parseJsonExact holds it: number, BigInt or JSON.rawJSON (see the module comment). */
export function exactNumberOf(source: string): unknown {
  return exactFrom(source, Number(source));
}

function exactNumber(_key: string, value: unknown, context?: { source?: string }): unknown {
  if (typeof value !== 'number') return value;
  const source = context?.source;
  return source === undefined ? value : exactFrom(source, value);
}

/**
 * A nested object or array held as its JSON text (what stringifyJsonExact writes for it), not as an object graph:
 * the columnar formats' JSON cells, taken from the value's bytes (convert.ts, topLevelValues).
 */
export class JsonText {
  readonly text: string;
  constructor(text: string) {
    this.text = text;
  }
}

/**
 * Parses JSON with exact numbers (see the module comment). `riskyNumbers` comes from checkJson; without it every
 * number is checked. Throws SyntaxError on invalid JSON.
 */
export function parseJsonExact(text: string, riskyNumbers = true): unknown {
  return riskyNumbers ? JSON.parse(text, exactNumber as (k: string, v: unknown) => unknown) : JSON.parse(text);
}

function bigintAsNumber(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? JSON.rawJSON(value.toString()) : value;
}

/** Stringifies JSON, writing BigInt as exact JSON numbers (rawJSON values are written as their literal). */
export function stringifyJsonExact(value: unknown): string {
  // A replacer makes JSON.stringify several times slower; only values holding a BigInt need it (and throw without).
  try {
    return JSON.stringify(value);
  } catch (err) {
    if (!(err instanceof TypeError)) throw err;
    return JSON.stringify(value, bigintAsNumber);
  }
}

/**
 * JSON text of a value as one line. A valid JSON document holds raw CR/LF only between tokens (never inside a
 * string), where whitespace means nothing: each whitespace run that holds one is dropped. One pass, linear in the
 * text (a regular expression such as /\s*[\r\n]\s*\/g backtracks quadratically on long runs of spaces).
 */
export function toSingleLine(jsonText: string): string {
  if (!jsonText.includes('\n') && !jsonText.includes('\r')) return jsonText;
  let out = '';
  let from = 0;
  const n = jsonText.length;
  let i = 0;
  while (i < n) {
    const c = jsonText.charCodeAt(i);
    if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) { i++; continue; }
    const start = i;
    let breaks = false;
    while (i < n) {
      const w = jsonText.charCodeAt(i);
      if (w === 0x0a || w === 0x0d) breaks = true;
      else if (w !== 0x20 && w !== 0x09) break;
      i++;
    }
    if (breaks) {
      out += jsonText.slice(from, start);
      from = i;
    }
  }
  return out + jsonText.slice(from);
}
