/**
 * The registry's schema as one type tree, whatever the schema language (Avro, Protobuf, JSON Schema), and a decoded
 * value rendered as JSON by it.
 *
 * A decoded value is plain data: null, boolean, number, bigint (an integer a double cannot hold), string, Buffer
 * (bytes, fixed), arrays, and null-prototype objects (records, messages, maps). Logical types keep their underlying
 * value (a timestamp-millis is its long, a decimal its two's-complement bytes); the type says how to read it.
 */
import { jsonString } from '../encode/jsonl.ts';

export type Logical =
  | { readonly kind: 'decimal'; readonly precision: number; readonly scale: number }
  | { readonly kind: 'uuid' | 'date' | 'time-millis' | 'time-micros' | 'timestamp-millis' | 'timestamp-micros' | 'timestamp-nanos'
    | 'local-timestamp-millis' | 'local-timestamp-micros' | 'local-timestamp-nanos' };

export type RType =
  | { readonly kind: 'null' | 'boolean' | 'int' | 'float' | 'double' | 'string'; readonly logical?: Logical }
  | { readonly kind: 'long'; readonly logical?: Logical; readonly unsigned?: boolean }
  | { readonly kind: 'bytes'; readonly logical?: Logical }
  | { readonly kind: 'fixed'; readonly name: string; readonly size: number; readonly logical?: Logical }
  /** `open`: a Protobuf enum, whose values may be numbers it does not name (written as strings in columns). */
  | { readonly kind: 'enum'; readonly name: string; readonly symbols: readonly string[]; readonly open?: boolean }
  | { readonly kind: 'array'; readonly items: RType }
  | { readonly kind: 'map'; readonly values: RType }
  | { readonly kind: 'record'; readonly name: string; fields: readonly RField[] }
  | { readonly kind: 'union'; readonly branches: readonly RType[] }
  /** A Protobuf google.protobuf.Timestamp: { seconds, nanos }, rendered as an RFC 3339 instant. */
  | { readonly kind: 'pb-timestamp' }
  /** A JSON Schema value or anything else held as parsed JSON (exact numbers). */
  | { readonly kind: 'json' };

export interface RField {
  readonly name: string;
  /** For records: filled in after the record is registered (recursive schemas refer to themselves). */
  type: RType;
}

/** Values nested deeper than this are refused (a recursive schema lets a hostile value nest without end). */
export const MAX_DEPTH = 256;

const DAY_MS = 86_400_000;
const MIN_MS = -62_135_596_800_000; // 0001-01-01T00:00:00Z
const MAX_MS = 253_402_300_799_999; // 9999-12-31T23:59:59.999Z

/** ISO-8601 of epoch milliseconds plus extra sub-millisecond digits; null when outside years 0001–9999. */
function isoOf(ms: number, extra: string, zone: boolean): string | null {
  if (!Number.isSafeInteger(ms) || ms < MIN_MS || ms > MAX_MS) return null;
  // Values of one batch share their seconds mostly: the date and time up to the second are made once per second.
  const sec = Math.floor(ms / 1000);
  if (sec !== isoSecond) {
    isoSecond = sec;
    isoPrefix = new Date(sec * 1000).toISOString().slice(0, 20);
  }
  const frac = ms - sec * 1000;
  return `${isoPrefix}${frac < 10 ? '00' : frac < 100 ? '0' : ''}${frac}${extra}${zone ? 'Z' : ''}`;
}
let isoSecond = NaN;
let isoPrefix = '';

/** An instant of `unit` ticks per millisecond (1, 1000, 1e6) as ISO-8601; null when outside years 0001–9999. */
function instant(v: number | bigint, perMs: number, zone: boolean): string | null {
  if (perMs === 1) return isoOf(Number(v), '', zone);
  const big = BigInt(v);
  const per = BigInt(perMs);
  let ms = big / per;
  let rest = big % per;
  if (rest < 0n) {
    ms -= 1n;
    rest += per;
  }
  return isoOf(Number(ms), rest.toString().padStart(String(perMs).length - 1, '0'), zone);
}

function timeOfDay(v: number | bigint, perMs: number): string | null {
  const n = Number(v);
  if (n < 0 || n >= DAY_MS * perMs) return null;
  const ms = Math.floor(n / perMs);
  const rest = perMs === 1 ? '' : String(n % perMs).padStart(3, '0');
  return `${new Date(ms).toISOString().slice(11, 23)}${rest}`;
}

/** Two's-complement big-endian bytes as a bigint (a decimal's unscaled value), in time linear in their length. */
export function bigintOfBytes(bytes: Buffer): bigint {
  if (bytes.length === 0) return 0n;
  const n = BigInt(`0x${bytes.toString('hex')}`);
  return bytes[0] & 0x80 ? n - (1n << BigInt(bytes.length * 8)) : n;
}

/** Whether a date, time or timestamp value is one readers hold: years 0001–9999, a time within a day. */
export function logicalInRange(kind: Logical['kind'], v: number | bigint): boolean {
  switch (kind) {
    case 'date': return Number(v) * DAY_MS >= MIN_MS && Number(v) * DAY_MS <= MAX_MS;
    case 'time-millis': return Number(v) >= 0 && Number(v) < DAY_MS;
    case 'time-micros': return Number(v) >= 0 && Number(v) < DAY_MS * 1000;
    case 'decimal': case 'uuid': return true;
    default: {
      if (typeof v === 'number' && kind.endsWith('millis')) return v >= MIN_MS && v <= MAX_MS;
      if (typeof v === 'number' && kind.endsWith('micros')) return v >= MIN_MS * 1000 && v <= MAX_MS * 1000 + 999;
      const per = kind.endsWith('millis') ? 1n : kind.endsWith('micros') ? 1000n : 1_000_000n;
      const b = BigInt(v);
      return b >= BigInt(MIN_MS) * per && b <= (BigInt(MAX_MS) + 1n) * per - 1n;
    }
  }
}

/** Two's-complement big-endian bytes as a decimal with `scale` digits after the point. */
export function decimalText(bytes: Buffer, scale: number): string {
  const n = bigintOfBytes(bytes);
  const neg = n < 0n;
  let digits = (neg ? -n : n).toString();
  if (scale > 0) {
    digits = digits.padStart(scale + 1, '0');
    digits = `${digits.slice(0, -scale)}.${digits.slice(-scale)}`;
  } else if (scale < 0) digits += '0'.repeat(-scale);
  return neg ? `-${digits}` : digits;
}

/** A 32-bit float as the shortest decimal that reads back as the same float (0.1f, not 0.10000000149011612). */
function shortestFloat(f: number): number {
  if (!Number.isFinite(f)) return f;
  for (let p = 1; p <= 9; p++) {
    const d = Number(f.toPrecision(p));
    if (Math.fround(d) === f) return d;
  }
  return f;
}

function number(n: number): string {
  // JSON has no NaN or infinities: they are written as the strings Protobuf's JSON mapping uses.
  if (Number.isFinite(n)) return Object.is(n, -0) ? '-0.0' : String(n);
  return Number.isNaN(n) ? '"NaN"' : n > 0 ? '"Infinity"' : '"-Infinity"';
}

function uuidText(b: Buffer): string {
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** A value with a logical type, or null when the type has no text of its own for it (then its plain value is written). */
function logicalJson(l: Logical, v: unknown): string | null {
  switch (l.kind) {
    case 'decimal': {
      if (!Buffer.isBuffer(v)) return null;
      return decimalText(v, l.scale);
    }
    case 'uuid': {
      if (typeof v === 'string') return null;
      return Buffer.isBuffer(v) && v.length === 16 ? jsonString(uuidText(v)) : null;
    }
    case 'date': {
      const t = typeof v === 'number' ? isoOf(v * DAY_MS, '', false) : null;
      return t === null ? null : jsonString(t.slice(0, 10));
    }
    case 'time-millis': case 'time-micros': {
      const t = timeOfDay(v as number | bigint, l.kind === 'time-millis' ? 1 : 1000);
      return t === null ? null : `"${t}"`;
    }
    default: {
      const perMs = l.kind.endsWith('millis') ? 1 : l.kind.endsWith('micros') ? 1000 : 1_000_000;
      const t = instant(v as number | bigint, perMs, !l.kind.startsWith('local-'));
      return t === null ? null : `"${t}"`;
    }
  }
}

/** The JSON text of a decoded value (one line: every piece is escaped), by string concatenation (V8 ropes). */
export function jsonOf(t: RType, v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if ('logical' in t && t.logical) {
    const text = logicalJson(t.logical, v);
    if (text !== null) return text;
  }
  switch (t.kind) {
    case 'boolean': return v ? 'true' : 'false';
    case 'int': case 'long': return String(v);
    case 'float': return number(shortestFloat(v as number));
    case 'double': return number(v as number);
    case 'string': case 'enum': return jsonString(v as string);
    case 'bytes': case 'fixed': return `"${(v as Buffer).toString('base64')}"`;
    case 'array': {
      const a = v as unknown[];
      let out = '[';
      for (let i = 0; i < a.length; i++) out += (i > 0 ? ',' : '') + jsonOf(t.items, a[i]);
      return `${out}]`;
    }
    case 'map': {
      let out = '{';
      let first = true;
      for (const k in v as Record<string, unknown>) {
        out += `${first ? '' : ','}${jsonString(k)}:${jsonOf(t.values, (v as Record<string, unknown>)[k])}`;
        first = false;
      }
      return `${out}}`;
    }
    case 'record': {
      const o = v as Record<string, unknown>;
      let out = '{';
      for (let i = 0; i < t.fields.length; i++) {
        const f = t.fields[i];
        out += `${i > 0 ? ',' : ''}${jsonString(f.name)}:${jsonOf(f.type, o[f.name])}`;
      }
      return `${out}}`;
    }
    case 'union':
      // A UnionValue (Avro, Protobuf), or a plain value of the one non-null branch (JSON Schema's nullable fields).
      if (v instanceof UnionValue) return jsonOf(t.branches[v.branch], v.value);
      return jsonOf(t.branches.find((b) => b.kind !== 'null') ?? t.branches[0], v);
    case 'pb-timestamp': {
      const o = v as { seconds: number | bigint; nanos: number };
      const text = instant(BigInt(o.seconds) * 1_000_000_000n + BigInt(o.nanos ?? 0), 1_000_000, true);
      return text === null ? `{"seconds":${o.seconds},"nanos":${o.nanos ?? 0}}` : `"${text}"`;
    }
    case 'json': return JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? JSON.rawJSON(x.toString()) : x));
    case 'null': return 'null';
  }
}

/** A union's value: which branch, and its value (the branch decides how it reads). A class, so a record whose
 * fields happen to be named "branch" and "value" is never taken for one. */
export class UnionValue {
  readonly branch: number;
  readonly value: unknown;
  constructor(branch: number, value: unknown) {
    this.branch = branch;
    this.value = value;
  }
}

