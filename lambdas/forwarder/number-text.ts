/**
 * Exact arithmetic on a JSON number's source text, for the column checks: whether it is an integer, how many
 * digits it has before and after the point, whether a double or float holds it. A double is never trusted here:
 * the shared parser hands out a number only when the double is the literal's exact value (its shortest text is the
 * literal), a BigInt for integers beyond ±2^53, and JSON.rawJSON(literal) for anything else, so the text is always
 * at hand. Exponents are kept as numbers and never expanded into digits: `1e999999999` costs what `1e9` costs.
 */

/** A decimal as `(negative ? -1 : 1) × digits × 10^exponent`; `digits` has no leading or trailing zeros ('' = 0). */
export interface DecimalParts {
  readonly negative: boolean;
  readonly digits: string;
  /** May be ±Infinity for an exponent too long for a double (then the value is 0, or beyond every column's range). */
  readonly exponent: number;
}

/** The JSON number grammar (RFC 8259); strings Firehose reads as numbers must match it too. */
const JSON_NUMBER = /^(-)?(0|[1-9]\d*)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/;

const RawJSON = JSON as unknown as { isRawJSON(v: unknown): v is { readonly rawJSON: string } };

/** The JSON text of a number value (number, BigInt or rawJSON), or undefined for any other value. */
export function numberText(v: unknown): string | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : undefined;
  if (typeof v === 'bigint') return v.toString();
  if (RawJSON.isRawJSON(v) && JSON_NUMBER.test(v.rawJSON)) return v.rawJSON;
  return undefined;
}

/** True for a value that stands for a JSON number (number, BigInt or rawJSON literal). */
export const isNumberValue = (v: unknown): boolean => numberText(v) !== undefined;

/** Parses JSON number text exactly; undefined when the text is not a JSON number. */
export function decimalParts(text: string): DecimalParts | undefined {
  const m = JSON_NUMBER.exec(text);
  if (!m) return undefined;
  const [, sign, int, frac = '', exp] = m;
  let all = int + frac;
  let exponent = (exp === undefined ? 0 : Number(exp)) - frac.length;
  let a = 0;
  while (a < all.length && all.charCodeAt(a) === 0x30) a++;
  let z = all.length;
  while (z > a && all.charCodeAt(z - 1) === 0x30) z--;
  exponent += all.length - z;
  all = all.slice(a, z);
  return { negative: sign === '-' && all !== '', digits: all, exponent: all === '' ? 0 : exponent };
}

/** Digits before the decimal point (0 for |x| < 1). */
export const integerDigits = (p: DecimalParts): number => (p.digits === '' ? 0 : Math.max(0, p.digits.length + p.exponent));
/** Digits after the decimal point, trailing zeros not counted (1.50 has 1). */
export const fractionDigits = (p: DecimalParts): number => (p.digits === '' ? 0 : Math.max(0, -p.exponent));

/**
 * The value as a BigInt when it is an integer of at most `maxDigits` digits; 'fraction' when it is not an integer;
 * 'huge' when it has more digits (so callers never build a BigInt from an unbounded exponent).
 */
export function toInteger(p: DecimalParts, maxDigits = 20): bigint | 'fraction' | 'huge' {
  if (p.digits === '') return 0n;
  if (p.exponent < 0) return 'fraction';
  if (p.digits.length + p.exponent > maxDigits) return 'huge';
  const n = BigInt(p.digits) * 10n ** BigInt(p.exponent);
  return p.negative ? -n : n;
}

/** The nearest double, or why none holds the value: beyond ±1.8e308, or so small that it would become 0. */
export function toDouble(text: string, p: DecimalParts, float = false): number | 'overflow' | 'underflow' {
  const d = Number(text);
  const n = float ? Math.fround(d) : d;
  if (!Number.isFinite(n)) return 'overflow';
  if (n === 0 && p.digits !== '') return 'underflow';
  return n;
}
