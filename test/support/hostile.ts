/**
 * Hostile Kafka events for the sink, and the oracle that judges what the sink made of them (issue 8, point 5).
 *
 * - Arbitraries (fast-check 4) of MSK / self-managed Kafka events whose RECORDS are hostile: arbitrary bytes,
 *   invalid UTF-8, JSON deep and wide, extreme numbers, lone surrogates, duplicate and case-colliding keys, odd field
 *   names, int64 timestamps across the whole range (as JSON numbers and as numeric strings), headers of every shape,
 *   many topics and partitions (odd keys like "orders-0" next to "orders-00"), values holding the bytes separator or
 *   line terminators, long whitespace runs; plus settings for every format.
 * - MemoryBucket: the S3 client the handler writes to (PutObject only; the threshold keeps multipart out).
 * - ReaderPool: one long-lived test/readers/read_many.py process (pyarrow, fastavro, DuckDB, Python csv/json).
 * - runHostileCase: builds the event text (what the Lambda runtime parses), runs the REAL handler
 *   (createSinkHandler from lambdas/sink/app.ts), has every object read back by the independent readers, and
 *   returns the failures of the assertions:
 *     (a) the handler never throws for record content; a malformed event STRUCTURE must throw;
 *     (b) written + filtered + tombstonesIgnored + deadLettered = recordsIn, and every offset is exactly once in a
 *         data object or a dead-letter object (dead letters: topic, partition, offset string, key/value base64);
 *     (c) every object is read by every independent reader without error, with the record count written;
 *     (d) every written record equals its input: metadata, and the value (JSON by exact decimal value; columns
 *         typed: int64 exact, double numerically equal to the literal, JSON text equal, strings equal; bytes equal).
 *
 * The oracle's reading of the README where it leaves room:
 * - JSON objects with a key twice mean what JSON.parse and Python make of them: the last value wins.
 * - A record may always be dead-lettered, except a benign one (ordinary content, see `benign`), which must be
 *   written (unless the event is at a documented scale cap: `atScale`).
 * - Kafka's "no timestamp" (-1), and a missing/null timestamp, may be written as null.
 * - A string column may hold raw strings or JSON text, but one or the other for the whole column; a column whose
 *   inputs have different JSON types must be JSON text (a reader could not tell "5" from 5 otherwise).
 * - Records whose fields the decoder cannot take (timestamp not an integer, key/value not base64, headers not a list
 *   of {name: [bytes] | null}) are dead-lettered before tombstones and FILTER_REGEX are looked at (README, decode).
 *
 * HOSTILE_KEEP=1 keeps every case's objects on disk (the directory is printed) for a closer look.
 */
import { Buffer } from 'node:buffer';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { createSinkHandler } from '../../lambdas/sink/app.ts';

// =============================================================================================== exact JSON

export type JNode =
  | { readonly t: 'null' }
  | { readonly t: 'bool'; readonly v: boolean }
  | { readonly t: 'num'; readonly src: string }
  | { readonly t: 'str'; readonly v: string; readonly src: string }
  | { readonly t: 'arr'; readonly items: readonly JNode[] }
  | { readonly t: 'obj'; readonly members: readonly JMember[] };
export interface JMember {
  readonly k: string;
  /** The key's JSON source text, quotes included. */
  readonly ksrc: string;
  readonly v: JNode;
}

const DECIMAL = /^(-)?(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/;

/** The exact decimal value of a number text (JSON literal, Python float repr, CSV cell) as "<sign><digits>e<exp>". */
export function exactDecimal(text: string): string | undefined {
  const m = DECIMAL.exec(text);
  if (!m) return undefined;
  const frac = m[3] ?? '';
  const digits = (m[2] + frac).replace(/^0+/, '');
  if (digits === '') return '0';
  const trimmed = digits.replace(/0+$/, '');
  const exp = BigInt(m[4] ?? '0') - BigInt(frac.length) + BigInt(digits.length - trimmed.length);
  return `${m[1] ?? ''}${trimmed}e${exp}`;
}

/** A strict RFC 8259 parser that keeps every number's source text and every member (duplicates too); iterative. */
export function parseJsonAst(text: string): JNode {
  let i = 0;
  const n = text.length;
  const fail = (what: string): never => {
    throw new SyntaxError(`${what} at position ${i}`);
  };
  const ws = () => {
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) i++;
      else break;
    }
  };
  const str = (): { v: string; src: string } => {
    const start = i;
    i++;
    let v = '';
    let chunk = i;
    for (;;) {
      if (i >= n) fail('unterminated string');
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        v += text.slice(chunk, i);
        i++;
        return { v, src: text.slice(start, i) };
      }
      if (c < 0x20) fail('control character in a string');
      if (c !== 0x5c) {
        i++;
        continue;
      }
      v += text.slice(chunk, i);
      const e = text[i + 1];
      if (e === 'u') {
        const h = text.slice(i + 2, i + 6);
        if (!/^[0-9a-fA-F]{4}$/.test(h)) fail('bad \\u escape');
        v += String.fromCharCode(parseInt(h, 16));
        i += 6;
      } else {
        const m: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
        if (e === undefined || !(e in m)) fail('bad escape');
        v += m[e];
        i += 2;
      }
      chunk = i;
    }
  };
  const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
  type Frame = { t: 'arr'; items: JNode[] } | { t: 'obj'; members: JMember[]; key: { v: string; src: string } | undefined };
  const stack: Frame[] = [];
  const key = (f: Frame & { t: 'obj' }) => {
    ws();
    if (text[i] !== '"') fail('expected a member name');
    f.key = str();
    ws();
    if (text[i] !== ':') fail('expected ":"');
    i++;
    ws();
  };
  ws();
  for (;;) {
    let node: JNode;
    const c = text[i];
    if (c === '{') {
      i++;
      ws();
      if (text[i] === '}') {
        i++;
        node = { t: 'obj', members: [] };
      } else {
        const f: Frame = { t: 'obj', members: [], key: undefined };
        stack.push(f);
        key(f);
        continue;
      }
    } else if (c === '[') {
      i++;
      ws();
      if (text[i] === ']') {
        i++;
        node = { t: 'arr', items: [] };
      } else {
        stack.push({ t: 'arr', items: [] });
        continue;
      }
    } else if (c === '"') {
      const s = str();
      node = { t: 'str', v: s.v, src: s.src };
    } else if (text.startsWith('true', i)) {
      i += 4;
      node = { t: 'bool', v: true };
    } else if (text.startsWith('false', i)) {
      i += 5;
      node = { t: 'bool', v: false };
    } else if (text.startsWith('null', i)) {
      i += 4;
      node = { t: 'null' };
    } else {
      NUMBER.lastIndex = i;
      const m = NUMBER.exec(text);
      if (!m) fail('expected a value');
      i += m![0].length;
      node = { t: 'num', src: m![0] };
    }
    // Attach the value, closing every container that ends here.
    let more = false;
    while (!more) {
      ws();
      const top = stack[stack.length - 1];
      if (!top) {
        if (i !== n) fail('text after the value');
        return node;
      }
      if (top.t === 'arr') top.items.push(node);
      else top.members.push({ k: top.key!.v, ksrc: top.key!.src, v: node });
      if (text[i] === ',') {
        i++;
        ws();
        if (top.t === 'obj') key(top);
        more = true;
      } else if (text[i] === (top.t === 'arr' ? ']' : '}')) {
        i++;
        stack.pop();
        node = top.t === 'arr' ? { t: 'arr', items: top.items } : { t: 'obj', members: top.members };
      } else fail('expected "," or the end of a container');
    }
  }
}

/** Members of an object as JSON.parse / Python dict see them: the last value of a key wins. */
export function lastWins(members: readonly JMember[]): Map<string, JNode> {
  const m = new Map<string, JNode>();
  for (const x of members) m.set(x.k, x.v);
  return m;
}

const canonJCache = new WeakMap<JNode, string>();
const canonTCache = new WeakMap<object, string>();

/** Canonical text of a JSON value (keys sorted, last one wins, numbers by exact decimal value); iterative. */
export function canonJ(root: JNode): string {
  const hit = canonJCache.get(root);
  if (hit !== undefined) return hit;
  const text = canonJUncached(root);
  canonJCache.set(root, text);
  return text;
}

function canonJUncached(root: JNode): string {
  const out: string[] = [];
  const stack: (JNode | string)[] = [root];
  while (stack.length > 0) {
    const x = stack.pop()!;
    if (typeof x === 'string') {
      out.push(x);
      continue;
    }
    switch (x.t) {
      case 'null': out.push('n'); break;
      case 'bool': out.push(x.v ? 't' : 'f'); break;
      case 'num': out.push(`d${exactDecimal(x.src)};`); break;
      case 'str': out.push(`s${JSON.stringify(x.v)}`); break;
      case 'arr':
        out.push('[');
        stack.push(']');
        for (let k = x.items.length - 1; k >= 0; k--) {
          stack.push(x.items[k]);
          if (k > 0) stack.push(',');
        }
        break;
      case 'obj': {
        const m = lastWins(x.members);
        const keys = [...m.keys()].sort();
        out.push('{');
        stack.push('}');
        for (let k = keys.length - 1; k >= 0; k--) {
          stack.push(m.get(keys[k])!);
          stack.push(`${JSON.stringify(keys[k])}:`);
          if (k > 0) stack.push(',');
        }
        break;
      }
    }
  }
  return out.join('');
}

/** A reader's value in read_many.py's tagged rendering. */
export type Tagged =
  | null | boolean | string
  | { i: string } | { f: string } | { n: string } | { y: string } | { t: string } | { d: string } | { dec: string }
  | { a: Tagged[] } | { o: [string, Tagged][] };

/** Canonical text of a tagged value, comparable with canonJ; iterative. */
export function canonT(root: Tagged): string {
  if (root === null || typeof root !== 'object') return canonTUncached(root);
  const hit = canonTCache.get(root);
  if (hit !== undefined) return hit;
  const text = canonTUncached(root);
  canonTCache.set(root, text);
  return text;
}

function canonTUncached(root: Tagged): string {
  const out: string[] = [];
  const stack: (Tagged | { lit: string })[] = [root];
  while (stack.length > 0) {
    const x = stack.pop()!;
    if (x === null) out.push('n');
    else if (typeof x === 'boolean') out.push(x ? 't' : 'f');
    else if (typeof x === 'string') out.push(`s${JSON.stringify(x)}`);
    else if ('lit' in x) out.push((x as { lit: string }).lit);
    else if ('n' in x) out.push(`d${exactDecimal(x.n)};`);
    else if ('i' in x) out.push(`d${exactDecimal(x.i)};`);
    else if ('f' in x) out.push(exactDecimal(x.f) === undefined ? `x${x.f};` : `d${exactDecimal(x.f)};`);
    else if ('a' in x) {
      out.push('[');
      stack.push({ lit: ']' });
      for (let k = x.a.length - 1; k >= 0; k--) {
        stack.push(x.a[k]);
        if (k > 0) stack.push({ lit: ',' });
      }
    } else if ('o' in x) {
      const m = new Map<string, Tagged>(x.o);
      const keys = [...m.keys()].sort();
      out.push('{');
      stack.push({ lit: '}' });
      for (let k = keys.length - 1; k >= 0; k--) {
        stack.push(m.get(keys[k])!);
        stack.push({ lit: `${JSON.stringify(keys[k])}:` });
        if (k > 0) stack.push({ lit: ',' });
      }
    } else out.push(`?${JSON.stringify(x)};`);
  }
  return out.join('');
}

/** Where two canonical texts differ, for messages. */
function firstDifference(got: string, want: string): string {
  let k = 0;
  while (k < got.length && k < want.length && got[k] === want[k]) k++;
  const from = Math.max(0, k - 30);
  return `got …${clip(got.slice(from, k + 50), 90)}… want …${clip(want.slice(from, k + 50), 90)}…`;
}

export function clip(s: string, max = 160): string {
  const t = s.length > max ? `${s.slice(0, max)}…(${s.length} chars)` : s;
  return JSON.stringify(t).slice(1, -1);
}

/** Minimal JSON escaping of a string's source: quotes, backslash, control characters, lone surrogates. */
export function jsonSource(s: string): string {
  let out = '"';
  for (let k = 0; k < s.length; k++) {
    const c = s.charCodeAt(k);
    if (c === 0x22) out += '\\"';
    else if (c === 0x5c) out += '\\\\';
    else if (c < 0x20) out += `\\u${c.toString(16).padStart(4, '0')}`;
    else if (c >= 0xd800 && c <= 0xdbff && k + 1 < s.length && s.charCodeAt(k + 1) >= 0xdc00 && s.charCodeAt(k + 1) <= 0xdfff) {
      out += s[k] + s[k + 1];
      k++;
    } else if (c >= 0xd800 && c <= 0xdfff) out += `\\u${c.toString(16)}`;
    else out += s[k];
  }
  return `${out}"`;
}

export type WsStyle =
  | { readonly kind: 'compact' }
  | { readonly kind: 'spaced' }
  | { readonly kind: 'newlines' }
  | { readonly kind: 'crlf' }
  /** A long whitespace run at one gap; `lead` is written at the first gap (a line break elsewhere in the value is
   * what made the old single-line rewrite backtrack over a run of spaces). */
  | { readonly kind: 'run'; readonly length: number; readonly at: number; readonly chars: string; readonly lead?: string };

/** Renders a JSON value with the given whitespace between tokens; iterative. */
export function renderJson(root: JNode, style: WsStyle): string {
  const out: string[] = [];
  let token = 0;
  let ran = false;
  const gap = (last = false) => {
    token++;
    switch (style.kind) {
      case 'compact': return;
      case 'spaced': out.push(' '); return;
      case 'newlines': out.push('\n'); return;
      case 'crlf': out.push('\r\n\t'); return;
      case 'run':
        if (token === 1 && style.lead) out.push(style.lead);
        if (!ran && (token >= style.at || last)) {
          ran = true;
          out.push(style.chars.repeat(Math.ceil(style.length / style.chars.length)).slice(0, style.length));
        }
    }
  };
  const stack: (JNode | { lit: string })[] = [root];
  while (stack.length > 0) {
    const x = stack.pop()!;
    if ('lit' in x) {
      gap();
      out.push(x.lit);
      continue;
    }
    switch (x.t) {
      case 'null': gap(); out.push('null'); break;
      case 'bool': gap(); out.push(x.v ? 'true' : 'false'); break;
      case 'num': gap(); out.push(x.src); break;
      case 'str': gap(); out.push(x.src); break;
      case 'arr':
        gap();
        out.push('[');
        stack.push({ lit: ']' });
        for (let k = x.items.length - 1; k >= 0; k--) {
          stack.push(x.items[k]);
          if (k > 0) stack.push({ lit: ',' });
        }
        break;
      case 'obj':
        gap();
        out.push('{');
        stack.push({ lit: '}' });
        for (let k = x.members.length - 1; k >= 0; k--) {
          stack.push(x.members[k].v);
          stack.push({ lit: ':' });
          stack.push({ lit: x.members[k].ksrc });
          if (k > 0) stack.push({ lit: ',' });
        }
        break;
    }
  }
  gap(true);
  return out.join('');
}

const jstr = (v: string): JNode => ({ t: 'str', v, src: jsonSource(v) });
const jnum = (src: string): JNode => ({ t: 'num', src });
const jobj = (members: [string, JNode][]): JNode => ({ t: 'obj', members: members.map(([k, v]) => ({ k, ksrc: jsonSource(k), v })) });

// ========================================================================================= timestamps (exact)

const floorDiv = (a: bigint, b: bigint) => (a >= 0n ? a / b : -((-a + b - 1n) / b));

/** Days since 1970-01-01 of a proleptic Gregorian date. */
function daysFromCivil(y: bigint, m: bigint, d: bigint): bigint {
  const yy = m <= 2n ? y - 1n : y;
  const era = floorDiv(yy, 400n);
  const yoe = yy - era * 400n;
  const doy = (153n * (m + (m > 2n ? -3n : 9n)) + 2n) / 5n + d - 1n;
  const doe = yoe * 365n + yoe / 4n - yoe / 100n + doy;
  return era * 146097n + doe - 719468n;
}

const ISO = /^([+-]\d{6}|\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:?\d{2})$/;

/** Microseconds since the epoch of an ISO-8601 instant with a zone (extended years too); undefined if not one. */
export function isoMicros(s: string): bigint | undefined {
  const m = ISO.exec(s);
  if (!m) return undefined;
  const frac = (m[7] ?? '').padEnd(9, '0');
  if (frac.slice(6) !== '000') return undefined; // finer than microseconds: not exact
  const days = daysFromCivil(BigInt(m[1]), BigInt(m[2]), BigInt(m[3]));
  let us = ((days * 86_400n + BigInt(m[4]) * 3600n + BigInt(m[5]) * 60n + BigInt(m[6] ?? '0')) * 1_000_000n) + BigInt(frac.slice(0, 6));
  if (m[8] !== 'Z') {
    const z = /^([+-])(\d{2}):?(\d{2})$/.exec(m[8])!;
    const off = (BigInt(z[2]) * 60n + BigInt(z[3])) * 60_000_000n;
    us -= z[1] === '+' ? off : -off;
  }
  return us;
}

// ================================================================================================ event specs

export type BytesField =
  | { readonly kind: 'absent' }
  | { readonly kind: 'null' }
  /** `json`: the bytes are the UTF-8 text of this JSON value (rendered by renderJson). */
  | { readonly kind: 'bytes'; readonly bytes: Uint8Array; readonly json?: JNode; readonly note?: string }
  /** Not a base64 string at all: a record-level malformation. */
  | { readonly kind: 'malformed'; readonly raw: unknown };

export type TimestampField =
  | { readonly kind: 'number'; readonly literal: string }
  | { readonly kind: 'string'; readonly s: string }
  | { readonly kind: 'absent' }
  | { readonly kind: 'null' }
  | { readonly kind: 'other'; readonly raw: unknown };

export type HeaderValue =
  | { readonly kind: 'bytes'; readonly arr: readonly number[] }
  | { readonly kind: 'null' }
  | { readonly kind: 'malformed'; readonly raw: unknown };
export type HeaderEntry =
  | { readonly kind: 'entry'; readonly pairs: readonly (readonly [string, HeaderValue])[] }
  | { readonly kind: 'malformed'; readonly raw: unknown };
export type HeadersField =
  | { readonly kind: 'absent' }
  | { readonly kind: 'null' }
  | { readonly kind: 'list'; readonly entries: readonly HeaderEntry[] }
  | { readonly kind: 'malformed'; readonly raw: unknown };

export interface RecordSpec {
  readonly ts: TimestampField;
  readonly timestampType?: string;
  readonly key: BytesField;
  readonly value: BytesField;
  readonly headers: HeadersField;
  /** Ordinary content every setting can write: such a record must not be dead-lettered. */
  readonly benign: boolean;
}

export interface ListSpec {
  /** The key in the event's `records` map ("topic-partition", possibly with leading zeros). */
  readonly rkey: string;
  readonly topic: string;
  readonly partition: number;
  readonly offsets: readonly bigint[];
  /** Offsets written as JSON strings (the decoder accepts "\d{1,19}"), e.g. near 2^63. */
  readonly offsetsAsStrings: boolean;
  readonly records: readonly RecordSpec[];
}

export type Breakage =
  | 'not-an-object' | 'bad-event-source' | 'records-not-a-map' | 'list-not-an-array' | 'record-not-an-object'
  | 'bad-offset' | 'duplicate-offset' | 'bad-records-key';

export interface EventSpec {
  readonly source: 'aws:kafka' | 'SelfManagedKafka';
  readonly lists: readonly ListSpec[];
  /** Two `records` keys for one partition ("orders-0" and "orders-00"): a shape error is allowed. */
  readonly oddKeys: boolean;
  /** Shape at a scale where a documented cap may dead-letter even benign records. */
  readonly atScale: boolean;
  readonly breakage?: { readonly kind: Breakage; readonly variant: number };
}

const utf8 = (s: string) => new Uint8Array(Buffer.from(s, 'utf8'));

// ================================================================================================ arbitraries

const ASCII_WORD = fc.string({ unit: fc.constantFrom(...'abcdefghijXYZ0123456789 _-.,:;!?#%&*()[]{}<>=+~^|\'$@'.split('')), maxLength: 12 });

const STRING_PIECES: [string, string][] = [
  ['"', '\\"'], ['\\', '\\\\'], ['/', '\\/'], ['\n', '\\n'], ['\r', '\\r'], ['\t', '\\t'], ['\b', '\\b'], ['\f', '\\f'],
  ['\u000b', '\\u000b'], ['\u000c', '\\u000C'], ['\u0000', '\\u0000'], ['\u001e', '\\u001e'], ['\u007f', '\u007f'],
  ['\u2028', '\u2028'], ['\u2028', '\\u2028'], ['\u2029', '\\u2029'], ['\u0085', '\u0085'], ['\u0085', '\\u0085'],
  ['\ud800', '\\ud800'], ['\udc00', '\\udc00'], ['\udbff', '\\udbff'], ['\udfff', '\\uDFFF'], ['\ud83d', '\\ud83d'],
  ['\ud83d\ude00', '\\ud83d\\ude00'], ['😀', '😀'], ['ü', 'ü'], ['中', '中'], ['\ufeff', '\ufeff'], ['\uffff', '\\uffff'],
  ['\ufffd', '\ufffd'], ['é', '\\u00e9'], ['\u0301', '\u0301'], ['Ω', '\\u03A9'], ['\u001c', '\\u001c'],
];

const stringPiece: fc.Arbitrary<[string, string]> = fc.oneof(
  { weight: 5, arbitrary: ASCII_WORD.map((s): [string, string] => [s, s]) },
  { weight: 3, arbitrary: fc.constantFrom(...STRING_PIECES) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 4 }).map((s): [string, string] => [s, jsonSource(s).slice(1, -1)]) },
  {
    weight: 1,
    arbitrary: fc.tuple(fc.constantFrom<[string, string]>(['a', 'a'], [' ', ' '], ['\u2028', '\u2028'], ['\n', '\\n'], ['\ud800', '\\ud800'], ['"', '\\"']), fc.integer({ min: 10, max: 3000 }))
      .map(([[v, src], n]): [string, string] => [v.repeat(n), src.repeat(n)]),
  },
);

/** A JSON string built from pieces: plain text, every escape, lone surrogates, pairs, line separators. */
export const jsonString: fc.Arbitrary<JNode> = fc.array(stringPiece, { maxLength: 5 }).map((pieces) => ({
  t: 'str' as const, v: pieces.map((p) => p[0]).join(''), src: `"${pieces.map((p) => p[1]).join('')}"`,
}));

export const EXTREME_NUMBERS = [
  '1e400', '-1e400', '1e-400', '-1e-400', '0.1234567890123456789', '12345678901234567890.12',
  '9223372036854775807', '-9223372036854775808', '9223372036854775808', '-9223372036854775809',
  '9007199254740993', '9007199254740992', '9007199254740991', '-9007199254740993', '9007199254740993.5',
  '18446744073709551615', '123456789012345678901234567890', '1.7976931348623157e308', '1.7976931348623159e308',
  '5e-324', '2.4e-324', '-0', '0', '-0.0', '0.0', '1.0', '1E+2', '1e2', '1E-2', '100', '-7', '0.1',
  '0.30000000000000004', '3.141592653589793238462643383279', '1.5', '2147483647', '2147483648', '-2147483649',
  '4294967296', '1e21', '1e-7', '123e-2', '1.00000000000000000000001', '100000000000000000000000000000e-29',
];

export const jsonNumber: fc.Arbitrary<JNode> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...EXTREME_NUMBERS) },
  { weight: 2, arbitrary: fc.integer().map(String) },
  { weight: 1, arbitrary: fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }).map(String) },
  { weight: 1, arbitrary: fc.double({ noNaN: true, noDefaultInfinity: true }).map((d) => (Object.is(d, -0) ? '-0' : String(d))) },
  {
    weight: 1,
    arbitrary: fc.tuple(fc.bigInt({ min: -(10n ** 25n), max: 10n ** 25n }), fc.nat({ max: 30 }), fc.integer({ min: -30, max: 30 }))
      .map(([m, f, e]) => {
        const s = (m < 0n ? -m : m).toString().padStart(f + 1, '0');
        return `${m < 0n ? '-' : ''}${s.slice(0, s.length - f)}${f > 0 ? `.${s.slice(s.length - f)}` : ''}${e !== 0 ? `e${e}` : ''}`;
      }),
  },
).map(jnum);

export const FIELD_NAMES = [
  'id', 'Id', 'ID', 'amount', 'Amount', 'status', 'name', 'ok', 'note', 'payload', 'at', 'a', 'b', '',
  '__proto__', 'constructor', 'toString', 'hasOwnProperty', 'prototype', 'valueOf',
  '_KAFKA_offset', '_kafka_x', '_Kafka_Topic', '_kafka_', '_kafka_offset', 'value', 'key', 'offset', 'topic', 'headers',
  'timestamp', 'partition', 'x y', 'a.b', 'a/b', '$x', '1', '01', '-1', '0', 'f\u0000x', 'tab\tname', 'new\nline',
  'é', '😀', 'A'.repeat(300), 'f\u2028g', '\ud800', 'sel"ect', "it's", 'a,b', 'NULL', 'true',
];

export const fieldName: fc.Arbitrary<string> = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...FIELD_NAMES) },
  { weight: 1, arbitrary: jsonString.map((s) => (s as { v: string }).v) },
);

export const jsonScalar: fc.Arbitrary<JNode> = fc.oneof(
  { weight: 1, arbitrary: fc.constant<JNode>({ t: 'null' }) },
  { weight: 1, arbitrary: fc.boolean().map((v): JNode => ({ t: 'bool', v })) },
  { weight: 3, arbitrary: jsonNumber },
  { weight: 3, arbitrary: jsonString },
);

const { node: jsonNode } = fc.letrec<{ node: JNode; arr: JNode; obj: JNode }>((tie) => ({
  node: fc.oneof({ depthSize: 'small', withCrossShrink: true }, jsonScalar, tie('arr'), tie('obj')),
  arr: fc.array(tie('node'), { maxLength: 4 }).map((items): JNode => ({ t: 'arr', items })),
  obj: fc.array(fc.tuple(fieldName, tie('node')), { maxLength: 4 }).map((m) => jobj(m)),
}));
export { jsonNode };

/** A value object: names from a small pool, so duplicates ({"a":1,"a":2}) and case collisions are common. */
export const jsonObject: fc.Arbitrary<JNode> = fc.array(fc.tuple(fieldName, jsonNode), { maxLength: 7 }).map((m) => jobj(m));

/** Objects whose fields are numbers: mixed int64/fraction across records of one field. */
export const numberObject: fc.Arbitrary<JNode> = fc.array(fc.tuple(fc.constantFrom('id', 'amount', 'n'), jsonNumber), { minLength: 1, maxLength: 3 })
  .map((m) => jobj(m));

/** Nested arrays/objects, up to thousands of levels (shrinks toward shallow). */
export const deepValue: fc.Arbitrary<JNode> = fc.record({
  depth: fc.oneof(fc.integer({ min: 2, max: 64 }), fc.integer({ min: 900, max: 1100 }), fc.integer({ min: 1000, max: 5000 })),
  kind: fc.constantFrom('arr', 'obj', 'mixed'),
  field: fc.constantFrom('deep', 'id', 'payload'),
}).map(({ depth, kind, field }) => {
  let node: JNode = jnum('1');
  for (let d = 0; d < depth; d++) {
    const arr = kind === 'arr' || (kind === 'mixed' && d % 2 === 0);
    node = arr ? { t: 'arr', items: [node] } : jobj([['a', node]]);
  }
  return jobj([['id', jnum('7')], [field, node]]);
});

/** One object with hundreds to thousands of fields. */
export const wideValue: fc.Arbitrary<JNode> = fc.record({
  width: fc.integer({ min: 100, max: 4000 }),
  names: fc.constantFrom('seq', 'case', 'long'),
}).map(({ width, names }) => {
  const members: [string, JNode][] = [];
  for (let k = 0; k < width; k++) {
    const name = names === 'seq' ? `f${k}` : names === 'case' ? (k % 2 ? `F${k >> 1}` : `f${k >> 1}`) : `field_${'x'.repeat(40)}_${k}`;
    members.push([name, k % 3 === 0 ? jstr(`v${k}`) : jnum(String(k))]);
  }
  return jobj(members);
});

export const wsStyle: fc.Arbitrary<WsStyle> = fc.oneof(
  { weight: 5, arbitrary: fc.constant<WsStyle>({ kind: 'compact' }) },
  { weight: 1, arbitrary: fc.constant<WsStyle>({ kind: 'spaced' }) },
  { weight: 1, arbitrary: fc.constant<WsStyle>({ kind: 'newlines' }) },
  { weight: 1, arbitrary: fc.constant<WsStyle>({ kind: 'crlf' }) },
  {
    weight: 1,
    arbitrary: fc.record({
      length: fc.integer({ min: 1, max: 30_000 }),
      at: fc.integer({ min: 0, max: 12 }),
      chars: fc.constantFrom(' ', '\n', ' \n', '\t \r\n', '        \n', '\t'),
      lead: fc.constantFrom(undefined, '\n', '\r\n'),
    }).map((r): WsStyle => ({ kind: 'run', ...r })),
  },
);

function jsonValueField(ast: JNode, style: WsStyle, note?: string): BytesField {
  return { kind: 'bytes', bytes: utf8(renderJson(ast, style)), json: ast, note };
}

const TEXT_PIECES = ['\u2028', '\u2029', '\u0085', '\u000b', '\u000c', '\r', '\n', '\r\n', '\u0000', '\u001e', '\u001c', '😀', 'é', '\t', '\ufeff'];
export const textValue: fc.Arbitrary<string> = fc.array(fc.oneof(
  { weight: 3, arbitrary: ASCII_WORD },
  { weight: 2, arbitrary: fc.constantFrom(...TEXT_PIECES) },
  { weight: 1, arbitrary: fc.integer({ min: 10, max: 20_000 }).map((n) => ' '.repeat(n)) },
), { maxLength: 6 }).map((p) => p.join(''));

const INVALID_UTF8: number[][] = [
  [0xff], [0xfe, 0xff], [0xc0, 0x80], [0xc3], [0xed, 0xa0, 0x80], [0xed, 0xbf, 0xbf], [0xe2, 0x82], [0xf4, 0x90, 0x80, 0x80],
  [0xf8, 0x88, 0x80, 0x80, 0x80], [0x80], [0xe0, 0x80, 0xaf],
];
export const rawBytes: fc.Arbitrary<Uint8Array> = fc.oneof(
  { weight: 2, arbitrary: fc.uint8Array({ maxLength: 48 }) },
  {
    weight: 2,
    arbitrary: fc.tuple(ASCII_WORD, fc.constantFrom(...INVALID_UTF8), ASCII_WORD)
      .map(([a, bad, b]) => new Uint8Array([...Buffer.from(`{"a":"${a}`), ...bad, ...Buffer.from(`${b}"}`)])),
  },
  { weight: 1, arbitrary: fc.constantFrom(...INVALID_UTF8).map((b) => new Uint8Array(b)) },
);

const INVALID_JSON = [
  '{', '[1,]', '{"a":}', 'NaN', 'Infinity', '-Infinity', '{"a":1}x', "{'a':1}", '01', '1.', '.5', '"\\x"', '"a\u0000b"',
  '', ' ', '\ufeff{}', '{"a":1}{"b":2}', 'tru', '"abc', '{"a" 1}', '[1 2]', '{"a":1,}', '+1', '0x10', '"\t"', '{"a":"\n"}',
  '// c\n{}', '{"\ud800":1}',
];
const NON_OBJECT_JSON = ['5', '"x"', 'null', 'true', '[1,{"a":2}]', '1e400', '[]', '"\\ud800"', '-0', '""'];

/** Keys: benign text first (shrinks toward it), then everything Kafka allows and some it does not. */
export const benignKey: fc.Arbitrary<BytesField> = fc.oneof(
  fc.integer({ min: 0, max: 30 }).map((n): BytesField => ({ kind: 'bytes', bytes: utf8(`cust-${n}`) })),
  fc.constant<BytesField>({ kind: 'null' }),
);
export const hostileKey: fc.Arbitrary<BytesField> = fc.oneof(
  { weight: 2, arbitrary: fc.constant<BytesField>({ kind: 'absent' }) },
  { weight: 1, arbitrary: fc.constant<BytesField>({ kind: 'bytes', bytes: new Uint8Array(0) }) },
  { weight: 3, arbitrary: fc.uint8Array({ maxLength: 24 }).map((bytes): BytesField => ({ kind: 'bytes', bytes })) },
  { weight: 2, arbitrary: fc.constantFrom('_null', '_empty', '../..', 'a/b', '%2F', 'k ey', '..', '.', '😀', '\u2028', 'x'.repeat(129), 'é'.repeat(700)).map((s): BytesField => ({ kind: 'bytes', bytes: utf8(s) })) },
  { weight: 1, arbitrary: fc.constantFrom(...INVALID_UTF8).map((b): BytesField => ({ kind: 'bytes', bytes: new Uint8Array(b) })) },
  { weight: 1, arbitrary: fc.integer({ min: 1000, max: 3000 }).map((n): BytesField => ({ kind: 'bytes', bytes: utf8('k'.repeat(n)) })) },
  { weight: 1, arbitrary: fc.constantFrom<unknown>('@@@@', 'abc', 5, {}, true, 'QUJD=A==').map((raw): BytesField => ({ kind: 'malformed', raw })) },
);

export const benignValue: fc.Arbitrary<BytesField> = fc.record({
  id: fc.integer({ min: 0, max: 1_000_000_000 }),
  cents: fc.integer({ min: 0, max: 10_000_000 }),
  name: fc.string({ unit: fc.constantFrom(...'abcdefghij -_'.split('')), minLength: 1, maxLength: 12 }),
  ok: fc.boolean(),
  at: fc.integer({ min: 1_500_000_000_000, max: 1_900_000_000_000 }),
}).map(({ id, cents, name, ok, at }) => jsonValueField(jobj([
  ['id', jnum(String(id))],
  ['amount', jnum(`${Math.floor(cents / 100)}.${String(cents % 100).padStart(2, '0')}`)],
  ['name', jstr(name)],
  ['ok', { t: 'bool', v: ok }],
  ['payload', jstr(Buffer.from(name).toString('base64'))],
  ['at', jnum(String(at))],
]), { kind: 'compact' }, 'benign'));

export const hostileValue: fc.Arbitrary<BytesField> = fc.oneof(
  { withCrossShrink: true },
  { weight: 5, arbitrary: fc.tuple(jsonObject, wsStyle).map(([o, s]) => jsonValueField(o, s)) },
  { weight: 2, arbitrary: fc.tuple(numberObject, wsStyle).map(([o, s]) => jsonValueField(o, s)) },
  { weight: 1, arbitrary: fc.tuple(jsonNode, wsStyle).map(([o, s]) => jsonValueField(o, s)) },
  { weight: 1, arbitrary: deepValue.map((o) => jsonValueField(o, { kind: 'compact' }, 'deep')) },
  { weight: 1, arbitrary: wideValue.map((o) => jsonValueField(o, { kind: 'compact' }, 'wide')) },
  { weight: 1, arbitrary: fc.constantFrom(...NON_OBJECT_JSON).map((t) => jsonValueField(parseJsonAst(t), { kind: 'compact' })) },
  { weight: 1, arbitrary: fc.constantFrom(...INVALID_JSON).map((t): BytesField => ({ kind: 'bytes', bytes: utf8(t) })) },
  { weight: 2, arbitrary: textValue.map((t): BytesField => ({ kind: 'bytes', bytes: utf8(t) })) },
  { weight: 1, arbitrary: rawBytes.map((bytes): BytesField => ({ kind: 'bytes', bytes })) },
  { weight: 1, arbitrary: fc.constantFrom<BytesField>({ kind: 'null' }, { kind: 'absent' }) },
  { weight: 1, arbitrary: fc.constantFrom<unknown>('@@@@', 'abc', 7, [1, 2], { a: 1 }).map((raw): BytesField => ({ kind: 'malformed', raw })) },
);

export const benignTimestamp: fc.Arbitrary<TimestampField> = fc.integer({ min: 1_500_000_000_000, max: 1_900_000_000_000 })
  .map((n): TimestampField => ({ kind: 'number', literal: String(n) }));

const TIMESTAMP_LITERALS = [
  '-1', '0', '8640000000000000', '-8640000000000000', '8640000000000001', '-8640000000000001', '253402300799999',
  '253402300800000', '-62135596800000', '-62135596800001', '9223372036854775807', '-9223372036854775808',
  '9007199254740993', '1e3', '1.5', '1767225600000.0', '-2', '1e300',
];
export const hostileTimestamp: fc.Arbitrary<TimestampField> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...TIMESTAMP_LITERALS).map((literal): TimestampField => ({ kind: 'number', literal })) },
  { weight: 2, arbitrary: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map((b): TimestampField => ({ kind: 'number', literal: String(b) })) },
  { weight: 2, arbitrary: fc.oneof(fc.constantFrom('1767225600000', '-1', '9223372036854775807', '-9223372036854775808', '253402300800000', '0'), fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map(String)).map((s): TimestampField => ({ kind: 'string', s })) },
  { weight: 1, arbitrary: fc.constantFrom<TimestampField>({ kind: 'absent' }, { kind: 'null' }, { kind: 'string', s: 'abc' }, { kind: 'string', s: '' }, { kind: 'other', raw: true }, { kind: 'string', s: '1.5' }) },
);

const HEADER_NAMES = ['trace-id', 'Trace-Id', '', '__proto__', 'constructor', 'a\u0000b', 'tab\t', '😀', 'x'.repeat(300), 'k', '1', '0', '\ud800'];
const headerValue: fc.Arbitrary<HeaderValue> = fc.oneof(
  { withCrossShrink: true },
  { weight: 3, arbitrary: ASCII_WORD.map((s): HeaderValue => ({ kind: 'bytes', arr: [...Buffer.from(s)] })) },
  { weight: 2, arbitrary: fc.array(fc.integer({ min: -128, max: 127 }), { maxLength: 12 }).map((arr): HeaderValue => ({ kind: 'bytes', arr })) },
  { weight: 1, arbitrary: fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 12 }).map((arr): HeaderValue => ({ kind: 'bytes', arr })) },
  { weight: 1, arbitrary: fc.constantFrom(...INVALID_UTF8).map((arr): HeaderValue => ({ kind: 'bytes', arr })) },
  { weight: 1, arbitrary: textValue.map((s): HeaderValue => ({ kind: 'bytes', arr: [...Buffer.from(s)] })) },
  { weight: 2, arbitrary: fc.constant<HeaderValue>({ kind: 'null' }) },
  { weight: 1, arbitrary: fc.constantFrom<unknown>([256], [-129], [1.5], ['a'], 'AQID', 5, {}, [null], true).map((raw): HeaderValue => ({ kind: 'malformed', raw })) },
);
const headerEntry: fc.Arbitrary<HeaderEntry> = fc.oneof(
  { weight: 8, arbitrary: fc.uniqueArray(fc.tuple(fc.constantFrom(...HEADER_NAMES), headerValue), { selector: (t) => t[0], maxLength: 3 }).map((pairs): HeaderEntry => ({ kind: 'entry', pairs })) },
  { weight: 1, arbitrary: fc.constantFrom<unknown>(null, 'x', [1], 5).map((raw): HeaderEntry => ({ kind: 'malformed', raw })) },
);
export const benignHeaders: fc.Arbitrary<HeadersField> = fc.oneof(
  fc.constant<HeadersField>({ kind: 'list', entries: [] }),
  fc.integer({ min: 0, max: 999 }).map((n): HeadersField => ({ kind: 'list', entries: [{ kind: 'entry', pairs: [['trace-id', { kind: 'bytes', arr: [...Buffer.from(`t-${n}`)] }]] }] })),
);
export const hostileHeaders: fc.Arbitrary<HeadersField> = fc.oneof(
  { weight: 6, arbitrary: fc.array(headerEntry, { maxLength: 4 }).map((entries): HeadersField => ({ kind: 'list', entries })) },
  { weight: 1, arbitrary: fc.constantFrom<HeadersField>({ kind: 'absent' }, { kind: 'null' }) },
  { weight: 1, arbitrary: fc.constantFrom<unknown>({}, 'x', 5, { a: [1] }).map((raw): HeadersField => ({ kind: 'malformed', raw })) },
);

export const benignRecord: fc.Arbitrary<RecordSpec> = fc.record({
  ts: benignTimestamp, key: benignKey, value: benignValue, headers: benignHeaders,
}).map((r): RecordSpec => ({ ...r, benign: true }));

export const hostileRecord: fc.Arbitrary<RecordSpec> = fc.record({
  ts: fc.oneof({ withCrossShrink: true }, { weight: 4, arbitrary: benignTimestamp }, { weight: 2, arbitrary: hostileTimestamp }),
  timestampType: fc.constantFrom(undefined, 'CREATE_TIME', 'LOG_APPEND_TIME', 'NO_TIMESTAMP_TYPE', 'weird'),
  key: fc.oneof({ withCrossShrink: true }, { weight: 3, arbitrary: benignKey }, { weight: 2, arbitrary: hostileKey }),
  value: hostileValue,
  headers: fc.oneof({ withCrossShrink: true }, { weight: 3, arbitrary: benignHeaders }, { weight: 2, arbitrary: hostileHeaders }),
}, { requiredKeys: ['ts', 'key', 'value', 'headers'] }).map((r): RecordSpec => ({ ...r, benign: false }));

export const anyRecord: fc.Arbitrary<RecordSpec> = fc.oneof({ withCrossShrink: true }, { weight: 3, arbitrary: benignRecord }, { weight: 7, arbitrary: hostileRecord });

const TOPICS = ['orders', 'orders-0', 'a.b_c-D', 'T', 'payments', '_x', 'orders-00', 'x'.repeat(249)];
const topicName: fc.Arbitrary<string> = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom(...TOPICS) },
  { weight: 1, arbitrary: fc.string({ unit: fc.constantFrom(...'abcXYZ019._-'.split('')), minLength: 2, maxLength: 30 }).filter((s) => s !== '..') },
);
const partitionNumber = fc.oneof({ weight: 8, arbitrary: fc.integer({ min: 0, max: 3 }) }, { weight: 1, arbitrary: fc.constantFrom(7, 42, 2147483647) });
const baseOffset = fc.oneof(
  { weight: 4, arbitrary: fc.constant({ start: 0n, asStrings: false }) },
  { weight: 4, arbitrary: fc.bigInt({ min: 0n, max: 5_000_000n }).map((start) => ({ start, asStrings: false })) },
  { weight: 1, arbitrary: fc.constant({ start: 2n ** 53n - 200n, asStrings: false }) },
  { weight: 1, arbitrary: fc.constant({ start: 2n ** 63n - 400n, asStrings: true }) },
);

function offsetsFor(start: bigint, gaps: readonly number[], n: number): bigint[] {
  const out: bigint[] = [];
  let o = start;
  for (let k = 0; k < n; k++) {
    if (k > 0) o += BigInt(gaps[k % Math.max(1, gaps.length)] ?? 1);
    out.push(o);
  }
  return out;
}

export interface EventOptions {
  readonly maxLists?: number;
  readonly maxRecords?: number;
  readonly record?: fc.Arbitrary<RecordSpec>;
}

/** Well-structured events whose records are hostile. */
export function hostileEvent(opts: EventOptions = {}): fc.Arbitrary<EventSpec> {
  const record = opts.record ?? anyRecord;
  const list = fc.record({
    topic: topicName,
    partition: partitionNumber,
    base: baseOffset,
    gaps: fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 8 }),
    records: fc.array(record, { minLength: 1, maxLength: opts.maxRecords ?? 14 }),
  });
  return fc.record({
    source: fc.constantFrom<EventSpec['source']>('aws:kafka', 'SelfManagedKafka'),
    lists: fc.array(list, { minLength: 1, maxLength: opts.maxLists ?? 3 }),
    odd: fc.oneof({ weight: 9, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
    twin: fc.array(record, { minLength: 1, maxLength: 4 }),
  }).map(({ source, lists, odd, twin }): EventSpec => {
    const out: ListSpec[] = [];
    const seen = new Set<string>();
    for (const l of lists) {
      const rkey = `${l.topic}-${l.partition}`;
      if (seen.has(rkey)) continue;
      seen.add(rkey);
      out.push({
        rkey, topic: l.topic, partition: l.partition, offsetsAsStrings: l.base.asStrings,
        offsets: offsetsFor(l.base.start, l.gaps, l.records.length), records: l.records,
      });
    }
    if (odd) {
      const first = out[0];
      const rkey = `${first.topic}-0${first.partition}`;
      const start = first.offsets[first.offsets.length - 1] + 10n;
      out.push({
        rkey, topic: first.topic, partition: first.partition, offsetsAsStrings: first.offsetsAsStrings,
        offsets: offsetsFor(start, [1], twin.length), records: twin,
      });
    }
    return { source, lists: out, oddKeys: odd, atScale: atScale(out) };
  });
}

function atScale(lists: readonly ListSpec[]): boolean {
  let names = 0;
  for (const l of lists) for (const r of l.records) if (r.value.kind === 'bytes' && r.value.note === 'wide') names += 100;
  return names > 0 || lists.reduce((n, l) => n + l.records.length, 0) > 2000;
}

/** Events whose STRUCTURE is malformed: the handler must throw (README: EventShapeError). */
export function brokenEvent(): fc.Arbitrary<EventSpec> {
  return fc.tuple(hostileEvent({ maxRecords: 4, record: benignRecord }), fc.constantFrom<Breakage>(
    'not-an-object', 'bad-event-source', 'records-not-a-map', 'list-not-an-array', 'record-not-an-object', 'bad-offset',
    'duplicate-offset', 'bad-records-key',
  ), fc.nat({ max: 20 })).map(([e, kind, variant]) => ({ ...e, oddKeys: false, breakage: { kind, variant } }));
}

// ================================================================================================== settings

export const FORMATS = ['jsonl', 'csv', 'csv_with_headers', 'text', 'bytes', 'avro', 'parquet'] as const;
export type Format = (typeof FORMATS)[number];
export const OUTPUT_FIELDS = ['key', 'value', 'headers', 'topic', 'partition', 'offset', 'timestamp'] as const;
export type Field = (typeof OUTPUT_FIELDS)[number];

export interface SchemaField {
  readonly name: string;
  readonly type: 'long' | 'double' | 'string' | 'boolean' | 'bytes' | 'timestamp-millis';
  readonly nullable: boolean;
}
export interface SchemaSpec {
  readonly text: string;
  readonly fields: readonly SchemaField[];
}

function schemaSpec(name: string, fields: SchemaField[]): SchemaSpec {
  const avroType = (f: SchemaField) => (f.type === 'timestamp-millis' ? { type: 'long', logicalType: 'timestamp-millis' } : f.type);
  return {
    fields,
    text: JSON.stringify({
      type: 'record', name, fields: fields.map((f) => (f.nullable ? { name: f.name, type: ['null', avroType(f)], default: null } : { name: f.name, type: avroType(f) })),
    }),
  };
}

export const SCHEMAS: readonly SchemaSpec[] = [
  schemaSpec('Order', [
    { name: 'id', type: 'long', nullable: false },
    { name: 'amount', type: 'double', nullable: true },
    { name: 'name', type: 'string', nullable: true },
    { name: 'ok', type: 'boolean', nullable: true },
  ]),
  schemaSpec('Event', [
    { name: 'id', type: 'long', nullable: true },
    { name: 'payload', type: 'bytes', nullable: true },
    { name: 'at', type: 'timestamp-millis', nullable: true },
    { name: 'name', type: 'string', nullable: true },
  ]),
];

export interface Settings {
  readonly format: Format;
  readonly env: Readonly<Record<string, string>>;
  /** Row formats: none, gzip or zstd; avro and parquet: their codec. */
  readonly compression: string;
  readonly fields: readonly Field[];
  readonly envelope: boolean;
  readonly valueEncoding: 'json' | 'text' | 'base64';
  readonly keyEncoding: 'text' | 'base64';
  readonly headerEncoding: 'text' | 'base64';
  readonly tombstones: 'ignore' | 'write' | 'deadletter';
  readonly filter?: string;
  readonly separator: Buffer;
  readonly schema?: SchemaSpec;
  readonly prefix: string;
  readonly errorPrefix: string;
}

const CODECS: Record<Format, string[]> = {
  jsonl: ['none', 'gzip', 'zstd'], csv: ['none', 'gzip', 'zstd'], csv_with_headers: ['none', 'gzip', 'zstd'],
  text: ['none', 'gzip', 'zstd'], bytes: ['none', 'gzip', 'zstd'], avro: ['null', 'deflate', 'snappy', 'zstandard'],
  parquet: ['none', 'snappy', 'gzip', 'zstd'],
};
const DEFAULT_CODEC: Record<Format, string> = { jsonl: 'gzip', csv: 'gzip', csv_with_headers: 'gzip', text: 'gzip', bytes: 'gzip', avro: 'snappy', parquet: 'zstd' };

export const KEY_TEMPLATES = {
  key: '{{topic}}/k={{key}}/{{topic}}+{{partition}}+{{start_offset}}',
  value: '{{topic}}/id={{value.id}}/n={{value.a.b}}/p={{partition}}/{{topic}}+{{partition}}+{{start_offset}}',
  time: '{{topic}}/{{timestamp:yyyy}}/{{timestamp:MM-dd HH.mm.ss.SSS}}/{{topic}}+{{partition}}+{{start_offset}}',
  end: '{{topic}}+{{partition}}+{{start_offset}}+{{end_offset}}',
} as const;
export const FILTERS = ['"level":"error"', '^\\{', 'a', '\\d{3}', '^[^x]*$'];
const SEPARATORS: [string, Buffer][] = [['\\n', Buffer.from('\n')], ['\\0', Buffer.from([0])], ['\\x1e', Buffer.from([0x1e])], ['\\r\\n', Buffer.from('\r\n')]];

/** Settings for one format: representative combinations of every setting that changes what is written. */
export function settingsFor(format: Format): fc.Arbitrary<Settings> {
  const raw = format === 'text' || format === 'bytes';
  const columnar = format === 'csv' || format === 'csv_with_headers' || format === 'avro' || format === 'parquet';
  return fc.record({
    codec: fc.option(fc.constantFrom(...CODECS[format]), { nil: undefined }),
    level: fc.option(fc.constantFrom(1, 3), { freq: 8, nil: undefined }),
    fields: raw ? fc.constant(undefined) : fc.oneof(
      { weight: 3, arbitrary: fc.constant(undefined) },
      { weight: 1, arbitrary: fc.constant<Field[]>(['value']) },
      { weight: 3, arbitrary: fc.shuffledSubarray([...OUTPUT_FIELDS], { minLength: 1 }) },
    ),
    envelope: fc.boolean(),
    valueEncoding: fc.oneof({ weight: 4, arbitrary: fc.constant<'json'>('json') }, { weight: 1, arbitrary: fc.constantFrom<'text' | 'base64'>('text', 'base64') }),
    keyEncoding: fc.constantFrom<'text' | 'base64'>('text', 'text', 'base64'),
    headerEncoding: fc.constantFrom<'text' | 'base64'>('text', 'text', 'base64'),
    tombstones: fc.constantFrom<Settings['tombstones']>('ignore', 'write', 'deadletter'),
    filter: fc.option(fc.constantFrom(...FILTERS), { freq: 4, nil: undefined }),
    schema: columnar ? fc.option(fc.constantFrom(...SCHEMAS), { freq: 2, nil: undefined }) : fc.constant(undefined),
    template: fc.option(fc.constantFrom(...(Object.keys(KEY_TEMPLATES) as (keyof typeof KEY_TEMPLATES)[])), { freq: 2, nil: undefined }),
    maxRecords: fc.option(fc.constantFrom('1', '3', '1000'), { freq: 3, nil: undefined }),
    timezone: fc.option(fc.constantFrom('Europe/Berlin', 'Asia/Kathmandu'), { freq: 4, nil: undefined }),
    wallclock: fc.option(fc.constant('wallclock'), { freq: 10, nil: undefined }),
    prefix: fc.option(fc.constantFrom('', 'data/x/'), { freq: 3, nil: undefined }),
    errorPrefix: fc.option(fc.constant('errors/'), { freq: 3, nil: undefined }),
    rowGroup: fc.option(fc.constant('2'), { freq: 3, nil: undefined }),
    concurrency: fc.integer({ min: 1, max: 4 }),
    separator: fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...SEPARATORS) }, { weight: 1, arbitrary: fc.constant<[string, Buffer]>(['', Buffer.alloc(0)]) }),
  }).map((o): Settings => {
    let fields: Field[] = raw ? ['value'] : o.fields ? [...o.fields] : [...OUTPUT_FIELDS];
    const valueEncoding = o.schema ? 'json' : o.valueEncoding;
    const schema = valueEncoding === 'json' && fields.includes('value') ? o.schema : undefined;
    // csv without a header row: the oracle finds columns through the offset column (or the schema).
    if (format === 'csv' && !schema && valueEncoding === 'json' && fields.includes('value') && !fields.includes('offset')) fields.push('offset');
    const envelope = format === 'jsonl' && fields.length === 1 && fields[0] === 'value' && valueEncoding === 'json' ? o.envelope : true;
    let tombstones = o.tombstones;
    if (tombstones === 'write' && (raw || !fields.includes('value'))) tombstones = 'deadletter';
    let template: string | undefined = o.template ? KEY_TEMPLATES[o.template] : undefined;
    if (o.template === 'value' && valueEncoding !== 'json') template = KEY_TEMPLATES.key;
    const separatorEmpty = format === 'bytes' && o.separator[0] === '';
    const env: Record<string, string> = {
      BUCKET_NAME: 'hostile',
      FORMAT: format,
      MULTIPART_THRESHOLD_BYTES: String(5 * 1024 ** 3),
      UPLOAD_CONCURRENCY: String(o.concurrency),
    };
    const codec = o.codec ?? DEFAULT_CODEC[format];
    if (o.codec) env.COMPRESSION = o.codec;
    if (o.level !== undefined && ['gzip', 'zstd', 'deflate', 'zstandard'].includes(codec)) env.COMPRESSION_LEVEL = String(o.level);
    if (!raw && o.fields) env.FIELDS = fields.join(',');
    if (!envelope) env.ENVELOPE = 'false';
    if (valueEncoding !== 'json') env.VALUE_ENCODING = valueEncoding;
    if (o.keyEncoding !== 'text') env.KEY_ENCODING = o.keyEncoding;
    if (o.headerEncoding !== 'text') env.HEADER_ENCODING = o.headerEncoding;
    if (tombstones !== 'ignore') env.TOMBSTONES = tombstones;
    if (o.filter) env.FILTER_REGEX = o.filter;
    if (schema) env.AVRO_SCHEMA = schema.text;
    if (template) env.KEY_TEMPLATE = template;
    if (separatorEmpty) env.MAX_RECORDS_PER_OBJECT = '1';
    else if (o.maxRecords) env.MAX_RECORDS_PER_OBJECT = o.maxRecords;
    if (o.timezone) env.TIMEZONE = o.timezone;
    if (o.wallclock) env.TIMESTAMP_SOURCE = o.wallclock;
    if (o.prefix !== undefined) env.PREFIX = o.prefix;
    if (o.errorPrefix) env.ERROR_PREFIX = o.errorPrefix;
    if (format === 'parquet' && o.rowGroup) env.PARQUET_ROW_GROUP_SIZE = o.rowGroup;
    if (format === 'bytes' && o.separator[0] !== '\\n') env.BYTES_SEPARATOR = o.separator[0];
    return {
      format, env, compression: codec, fields, envelope, valueEncoding, keyEncoding: o.keyEncoding,
      headerEncoding: o.headerEncoding, tombstones, filter: o.filter, schema,
      separator: format === 'bytes' ? o.separator[1] : Buffer.from('\n'),
      prefix: o.prefix ?? 'topics/', errorPrefix: o.errorPrefix ?? 'dead-letters/',
    };
  });
}

export interface HostileCase {
  readonly settings: Settings;
  readonly event: EventSpec;
}

/** A case prints as a compact, readable counterexample (settings, then one line per record). */
function withToString(c: HostileCase): HostileCase {
  return Object.assign(c, { [fc.toStringMethod]: () => describeCase(c) });
}

export function hostileCase(format: Format, opts: EventOptions = {}): fc.Arbitrary<HostileCase> {
  return fc.record({ settings: settingsFor(format), event: hostileEvent(opts) }).map(withToString);
}

export function brokenCase(): fc.Arbitrary<HostileCase> {
  return fc.record({ settings: settingsFor('jsonl'), event: brokenEvent() }).map(withToString);
}

// ============================================================================================= event building

const rawJson = (text: string): unknown => (JSON as unknown as { rawJSON(t: string): unknown }).rawJSON(text);
const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');

function bytesFieldValue(f: BytesField): { set: boolean; v?: unknown } {
  switch (f.kind) {
    case 'absent': return { set: false };
    case 'null': return { set: true, v: null };
    case 'bytes': return { set: true, v: b64(f.bytes) };
    case 'malformed': return { set: true, v: f.raw };
  }
}

function headersValue(h: HeadersField): { set: boolean; v?: unknown } {
  switch (h.kind) {
    case 'absent': return { set: false };
    case 'null': return { set: true, v: null };
    case 'malformed': return { set: true, v: h.raw };
    case 'list':
      return {
        set: true,
        v: h.entries.map((e) => (e.kind === 'malformed' ? e.raw : Object.fromEntries(e.pairs.map(([name, hv]) => [
          name, hv.kind === 'bytes' ? [...hv.arr] : hv.kind === 'null' ? null : hv.raw,
        ])))),
      };
  }
}

function recordObject(l: ListSpec, r: RecordSpec, offset: bigint): Record<string, unknown> {
  const o: Record<string, unknown> = {
    topic: l.topic,
    partition: l.partition,
    offset: l.offsetsAsStrings ? offset.toString() : Number(offset),
  };
  switch (r.ts.kind) {
    case 'number': o.timestamp = rawJson(r.ts.literal); break;
    case 'string': o.timestamp = r.ts.s; break;
    case 'null': o.timestamp = null; break;
    case 'other': o.timestamp = r.ts.raw; break;
    case 'absent': break;
  }
  o.timestampType = r.timestampType ?? 'CREATE_TIME';
  for (const [name, f] of [['key', bytesFieldValue(r.key)], ['value', bytesFieldValue(r.value)], ['headers', headersValue(r.headers)]] as const) {
    if (f.set) o[name] = f.v;
  }
  return o;
}

/** The event as the Lambda runtime receives it: JSON text (int64 timestamps as written, not through doubles). */
export function eventText(e: EventSpec): string {
  const records: Record<string, unknown[]> = {};
  for (const l of e.lists) records[l.rkey] = l.records.map((r, k) => recordObject(l, r, l.offsets[k]));
  const event: Record<string, unknown> = {
    eventSource: e.source,
    ...(e.source === 'aws:kafka' ? { eventSourceArn: 'arn:aws:kafka:us-east-1:123456789012:cluster/demo/abc' } : {}),
    bootstrapServers: 'b-1.demo:9098',
    records,
  };
  const b = e.breakage;
  if (b) {
    const first = Object.keys(records)[0];
    const v = b.variant;
    switch (b.kind) {
      case 'not-an-object': return JSON.stringify([null, 5, 'x', [], true][v % 5]);
      case 'bad-event-source':
        if (v % 2) delete event.eventSource;
        else event.eventSource = 'aws:sqs';
        break;
      case 'records-not-a-map': {
        const bad = [[], 'x', null, undefined, 5][v % 5];
        if (bad === undefined) delete event.records;
        else event.records = bad;
        break;
      }
      case 'list-not-an-array': (records as Record<string, unknown>)[first] = [{}, 'x', null, 5][v % 4]; break;
      case 'record-not-an-object': records[first][0] = [null, 5, 'x', false][v % 4]; break;
      case 'bad-offset': {
        const bad = [-1, 1.5, 'abc', undefined, null, '99999999999999999999', 2 ** 53 + 2, '-1', ''][v % 9];
        const rec = records[first][0] as Record<string, unknown>;
        if (bad === undefined) delete rec.offset;
        else rec.offset = bad;
        break;
      }
      case 'duplicate-offset': {
        const list = records[first];
        if (list.length < 2) list.push({ ...(list[0] as object) });
        else (list[1] as Record<string, unknown>).offset = (list[0] as Record<string, unknown>).offset;
        break;
      }
      case 'bad-records-key': {
        const name = ['orders', 'orders-', '-1', 'orders-x', 'orders-1.5', ''][v % 6];
        const list = records[first];
        delete records[first];
        records[name] = list;
        break;
      }
    }
  }
  return JSON.stringify(event);
}

const utf8Validity = new WeakMap<Uint8Array, boolean>();

/** A short rendering of bytes for messages (UTF-8 text, else hex); the validity of each buffer is decided once. */
function describeBytes(b: Uint8Array, max = 120): string {
  let valid = utf8Validity.get(b);
  if (valid === undefined) utf8Validity.set(b, (valid = strictUtf8(b) !== undefined));
  const head = Buffer.from(b.buffer, b.byteOffset, Math.min(b.length, max * 4));
  const more = b.length > head.length ? `…(${b.length} bytes)` : '';
  if (valid) return `"${clip(head.toString('utf8'), max)}${more}"`;
  return `0x${clip(head.toString('hex'), max)}${more} (not UTF-8)`;
}

function describeField(f: BytesField): string {
  switch (f.kind) {
    case 'absent': return '(absent)';
    case 'null': return 'null';
    case 'malformed': return `${JSON.stringify(f.raw)} (not base64)`;
    case 'bytes': return `${f.note ? `[${f.note}] ` : ''}${describeBytes(f.bytes)}`;
  }
}

function describeHeaders(h: HeadersField): string {
  if (h.kind !== 'list') return h.kind === 'malformed' ? `${JSON.stringify(h.raw)} (not a list)` : `(${h.kind})`;
  return `[${h.entries.map((e) => (e.kind === 'malformed' ? JSON.stringify(e.raw) : `{${e.pairs.map(([n, v]) => `"${clip(n, 20)}":${v.kind === 'bytes' ? `[${v.arr.slice(0, 12).join(',')}${v.arr.length > 12 ? ',…' : ''}]` : v.kind === 'null' ? 'null' : JSON.stringify(v.raw)}`).join(',')}}`)).join(',')}]`;
}

function describeTs(t: TimestampField): string {
  switch (t.kind) {
    case 'number': return t.literal;
    case 'string': return JSON.stringify(t.s);
    case 'other': return JSON.stringify(t.raw);
    default: return `(${t.kind})`;
  }
}

/** A readable counterexample: the settings that differ from the defaults, then one line per record. */
export function describeCase(c: HostileCase): string {
  const skip = new Set(['BUCKET_NAME', 'MULTIPART_THRESHOLD_BYTES', 'UPLOAD_CONCURRENCY']);
  const env = Object.entries(c.settings.env).filter(([k]) => !skip.has(k)).map(([k, v]) => `${k}=${JSON.stringify(clip(v, 300))}`).join(' ');
  const lines = [`settings: ${env}`, `event: ${c.event.source}${c.event.breakage ? ` BROKEN ${c.event.breakage.kind}#${c.event.breakage.variant}` : ''}${c.event.oddKeys ? ' (odd partition keys)' : ''}`];
  for (const l of c.event.lists) {
    lines.push(`  records["${clip(l.rkey, 60)}"]${l.offsetsAsStrings ? ' (offsets as strings)' : ''}:`);
    l.records.forEach((r, k) => {
      if (k === 30) lines.push(`    … ${l.records.length - 30} more records (the pool above repeated)`);
      if (k >= 30) return;
      lines.push(`    @${l.offsets[k]}${r.benign ? ' benign' : ''} ts=${describeTs(r.ts)}${r.timestampType ? ` ${r.timestampType}` : ''} key=${describeField(r.key)} value=${describeField(r.value)} headers=${describeHeaders(r.headers)}`);
    });
  }
  return lines.join('\n');
}

// ================================================================================================= S3 fake

export interface StoredObject {
  readonly body: Buffer;
  readonly metadata: Readonly<Record<string, string>>;
  readonly contentType?: string;
}

function s3Error(name: string, httpStatusCode: number, message: string): Error {
  return Object.assign(new Error(message), { name, $metadata: { httpStatusCode } });
}

/**
 * An in-memory bucket behind the S3 client interface: PutObject (with If-None-Match: * and If-Match on the ETag),
 * GetObject (NoSuchKey when missing), HeadObject, DeleteObject(s). Anything else is an error.
 */
export class MemoryBucket {
  readonly objects = new Map<string, StoredObject & { readonly etag: string }>();
  puts = 0;
  private version = 0;
  async send(command: { constructor: { name: string }; input: Record<string, unknown> }): Promise<object> {
    const input = command.input;
    const key = input.Key as string;
    switch (command.constructor.name) {
      case 'PutObjectCommand': {
        this.puts++;
        const existing = this.objects.get(key);
        if (input.IfNoneMatch === '*' && existing) throw s3Error('PreconditionFailed', 412, `At least one of the pre-conditions you specified did not hold (${key} exists)`);
        if (input.IfMatch !== undefined && existing?.etag !== input.IfMatch) throw s3Error(existing ? 'PreconditionFailed' : 'NoSuchKey', existing ? 412 : 404, `If-Match ${String(input.IfMatch)} does not hold for ${key}`);
        const body = input.Body;
        const etag = `"m${++this.version}"`;
        this.objects.set(key, {
          body: typeof body === 'string' ? Buffer.from(body, 'utf8') : Buffer.from(body as Uint8Array),
          metadata: { ...((input.Metadata as Record<string, string> | undefined) ?? {}) },
          contentType: input.ContentType as string | undefined,
          etag,
        });
        return { ETag: etag };
      }
      case 'GetObjectCommand':
      case 'HeadObjectCommand': {
        const o = this.objects.get(key);
        if (!o) throw s3Error(command.constructor.name === 'GetObjectCommand' ? 'NoSuchKey' : 'NotFound', 404, `The specified key does not exist: ${key}`);
        const out = { ETag: o.etag, Metadata: o.metadata, ContentType: o.contentType, ContentLength: o.body.length };
        if (command.constructor.name === 'HeadObjectCommand') return out;
        return {
          ...out,
          Body: {
            transformToString: async (encoding = 'utf8') => o.body.toString(encoding as BufferEncoding),
            transformToByteArray: async () => new Uint8Array(o.body),
          },
        };
      }
      case 'DeleteObjectCommand':
        this.objects.delete(key);
        return {};
      case 'DeleteObjectsCommand': {
        const objects = ((input.Delete as { Objects?: { Key: string }[] } | undefined)?.Objects) ?? [];
        for (const o of objects) this.objects.delete(o.Key);
        return { Deleted: objects.map((o) => ({ Key: o.Key })), Errors: [] };
      }
      default:
        throw new Error(`MemoryBucket: unexpected ${command.constructor.name}`);
    }
  }
}

// =============================================================================================== readers

export type ReaderResult = { ok: true; count: number; [k: string]: unknown } | { ok: false; error: string };
export interface ReaderDoc {
  objects?: { file: string; readers: Record<string, ReaderResult> }[];
  error?: string;
  trace?: string;
}

export interface ManifestObject {
  readonly file: string;
  readonly key: string;
  readonly format: Format | 'deadletter';
  readonly compression: string;
  readonly separator?: string;
}

/** One long-lived `read_many.py --serve` process: each request reads every object of one directory. */
export class ReaderPool {
  private readonly proc: ChildProcessWithoutNullStreams;
  private chunks: string[] = [];
  private readonly waiting: { resolve: (d: ReaderDoc) => void; reject: (e: Error) => void }[] = [];
  private exited: Error | undefined;
  private stderr = '';
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(python: string, script: string) {
    this.proc = spawn(python, [script, '--serve'], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, PYTHONIOENCODING: 'utf-8' } });
    this.proc.stdout.setEncoding('utf8');
    this.proc.stderr.setEncoding('utf8');
    this.proc.stderr.on('data', (d: string) => {
      this.stderr = (this.stderr + d).slice(-4000);
    });
    this.proc.stdout.on('data', (d: string) => this.onData(d));
    this.proc.on('exit', (code, signal) => {
      this.exited = new Error(`read_many.py exited (${code ?? signal}): ${this.stderr.trim()}`);
      for (const w of this.waiting.splice(0)) w.reject(this.exited);
    });
  }

  static start(python: string, script: string): ReaderPool {
    return new ReaderPool(python, script);
  }

  private onData(d: string): void {
    let at = d.indexOf('\n');
    while (at !== -1) {
      this.chunks.push(d.slice(0, at));
      const line = this.chunks.join('');
      this.chunks = [];
      const w = this.waiting.shift();
      try {
        w?.resolve(JSON.parse(line) as ReaderDoc);
      } catch (err) {
        w?.reject(err as Error);
      }
      d = d.slice(at + 1);
      at = d.indexOf('\n');
    }
    if (d) this.chunks.push(d);
  }

  /** Reads the objects listed in `dir`/manifest.json; requests run one at a time. */
  read(dir: string): Promise<ReaderDoc> {
    const run = () => new Promise<ReaderDoc>((resolve, reject) => {
      if (this.exited) {
        reject(this.exited);
        return;
      }
      this.waiting.push({ resolve, reject });
      this.proc.stdin.write(`${JSON.stringify({ dir })}\n`);
    });
    const p = this.queue.then(run, run);
    this.queue = p.catch(() => undefined);
    return p;
  }

  async stop(): Promise<void> {
    await rm(WORK_ROOT, { recursive: true, force: true });
    if (this.exited) return;
    const done = new Promise((r) => this.proc.once('exit', r));
    this.proc.stdin.end();
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), 5000);
    await done;
    clearTimeout(timer);
  }
}

let workCounter = 0;
const WORK_ROOT = join(tmpdir(), `kafka-s3-hostile-${process.pid}`);

// ================================================================================================== oracle

export interface Failure {
  /** (a) throws, (b) accounting, (c) readers, (d) values. */
  readonly assertion: 'a' | 'b' | 'c' | 'd';
  /** A stable class name, for grouping (the fuzzer shrinks one counterexample per format and kind). */
  readonly kind: string;
  readonly detail: string;
}

export interface CaseOutcome {
  readonly failures: Failure[];
  readonly stats: {
    readonly records: number;
    readonly eventBytes: number;
    readonly objects: number;
    readonly deadLetterLines: number;
    readonly written: number;
    readonly threw?: string;
    readonly handlerMs: number;
  };
}

const DECODER = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
export function strictUtf8(b: Uint8Array): string | undefined {
  try {
    return DECODER.decode(b);
  } catch {
    return undefined;
  }
}

function strictB64(s: unknown): Buffer | undefined {
  if (typeof s !== 'string' || s.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(s)) return undefined;
  const b = Buffer.from(s, 'base64');
  return b.toString('base64') === s ? b : undefined;
}

type Bytes3 = { readonly kind: 'null' } | { readonly kind: 'bytes'; readonly b: Buffer } | { readonly kind: 'bad'; readonly raw: string };

interface InRec {
  readonly id: string;
  readonly topic: string;
  readonly partition: number;
  readonly offset: bigint;
  readonly ts: { readonly kind: 'ms'; readonly ms: bigint } | { readonly kind: 'none' } | { readonly kind: 'bad'; readonly raw: string };
  readonly key: Bytes3;
  readonly value: Bytes3;
  readonly headers: { readonly kind: 'ok'; readonly list: { name: string; value: Buffer | null }[] } | { readonly kind: 'bad'; readonly raw: string };
  readonly benign: boolean;
  /** A field the decoder cannot take (timestamp not an integer, key/value not base64, headers not a list of
   * {name: [bytes] | null}): dead-lettered at decode, before tombstones and the filter are looked at. */
  readonly invalid: boolean;
  readonly tombstone: boolean;
  readonly filter: 'keep' | 'filtered' | 'ambiguous';
  readonly spec: RecordSpec;
  /** The record as the event held it. */
  readonly received: unknown;
  /** The value as JSON (null: not JSON); computed once. */
  json(): JNode | null;
}

const idOf = (topic: string, partition: number, offset: bigint) => `${topic}\u0000${partition}\u0000${offset}`;

function bytes3(v: unknown): Bytes3 {
  if (v === undefined || v === null) return { kind: 'null' };
  const b = strictB64(v);
  return b ? { kind: 'bytes', b } : { kind: 'bad', raw: clip(JSON.stringify(v) ?? String(v), 40) };
}

function inputsOf(c: HostileCase, parsed: { records: Record<string, Record<string, unknown>[]> }): InRec[] {
  const out: InRec[] = [];
  const filter = c.settings.filter === undefined ? undefined : new RegExp(c.settings.filter, 'u');
  for (const [rkey, list] of Object.entries(parsed.records)) {
    const spec = c.event.lists.find((l) => l.rkey === rkey)!;
    const m = /^(.+)-(\d+)$/.exec(rkey)!;
    const topic = m[1];
    const partition = Number(m[2]);
    list.forEach((r, k) => {
      const offset = BigInt(r.offset as number | string);
      const t = r.timestamp;
      const ts: InRec['ts'] = t === undefined || t === null ? { kind: 'none' }
        : typeof t === 'number' && Number.isInteger(t) ? { kind: 'ms', ms: BigInt(t) }
          : typeof t === 'string' && /^-?\d+$/.test(t) ? { kind: 'ms', ms: BigInt(t) }
            : { kind: 'bad', raw: JSON.stringify(t) };
      let headers: InRec['headers'] = { kind: 'ok', list: [] };
      const h = r.headers;
      if (h !== undefined && h !== null) {
        if (!Array.isArray(h)) headers = { kind: 'bad', raw: JSON.stringify(h) };
        else {
          const items: { name: string; value: Buffer | null }[] = [];
          for (const e of h) {
            if (e === null || typeof e !== 'object' || Array.isArray(e)) {
              headers = { kind: 'bad', raw: JSON.stringify(e) };
              break;
            }
            for (const [name, v] of Object.entries(e as Record<string, unknown>)) {
              if (v === null) items.push({ name, value: null });
              else if (Array.isArray(v) && v.every((x) => typeof x === 'number' && Number.isInteger(x) && x >= -128 && x <= 255)) {
                items.push({ name, value: Buffer.from((v as number[]).map((x) => x & 0xff)) });
              } else headers = { kind: 'bad', raw: JSON.stringify(v) };
            }
          }
          if (headers.kind === 'ok') headers = { kind: 'ok', list: items };
        }
      }
      const key = bytes3(r.key);
      const value = bytes3(r.value);
      const invalid = ts.kind !== 'ms' || key.kind === 'bad' || value.kind === 'bad' || headers.kind === 'bad';
      const tombstone = value.kind === 'null' && !invalid;
      let cls: InRec['filter'] = 'keep';
      if (filter && invalid) cls = 'ambiguous';
      else if (filter && !tombstone) {
        const text = value.kind === 'bytes' ? strictUtf8(value.b) : undefined;
        cls = text === undefined ? 'ambiguous' : filter.test(text) ? 'keep' : 'filtered';
      }
      const recSpec = spec.records[k];
      let json: JNode | null | undefined;
      out.push({
        id: idOf(topic, partition, offset), topic, partition, offset, ts, key, value, headers,
        benign: recSpec.benign, invalid, tombstone, filter: cls, spec: recSpec, received: r,
        json: () => {
          if (json !== undefined) return json;
          if (value.kind !== 'bytes') return (json = null);
          if (recSpec.value.kind === 'bytes' && recSpec.value.json) return (json = recSpec.value.json);
          const text = strictUtf8(value.b);
          try {
            json = text === undefined ? null : parseJsonAst(text);
          } catch {
            json = null;
          }
          return json;
        },
      });
    });
  }
  return out;
}

const show = (t: Tagged | undefined): string => (t === undefined ? '(no such column)' : clip(JSON.stringify(t), 120));

/** The text of a number cell: JSON number (jsonl), int/float (typed readers), or CSV text. */
function numberText(cell: Tagged | undefined, repr: Repr): string | undefined {
  if (cell === null || cell === undefined) return undefined;
  if (repr === 'csv') return typeof cell === 'string' ? cell : undefined;
  if (typeof cell !== 'object') return undefined;
  if ('n' in cell) return cell.n;
  if ('i' in cell) return cell.i;
  if ('f' in cell) return cell.f;
  return undefined;
}

type Repr = 'jsonl' | 'typed' | 'csv';

function isNullCell(cell: Tagged | undefined, repr: Repr): boolean {
  return cell === null || cell === undefined || (repr === 'csv' && cell === '');
}

function bytesCell(cell: Tagged | undefined, repr: Repr): Buffer | undefined {
  if (repr === 'typed') return cell !== null && typeof cell === 'object' && 'y' in cell ? Buffer.from(cell.y, 'base64') : undefined;
  return strictB64(cell);
}

interface Expectation {
  readonly diff?: string;
  /** csv: true when the cell must be NULL, false when it must be the empty string (DuckDB tells them apart). */
  readonly expectNull?: boolean;
}

function expectText(want: Bytes3, cell: Tagged | undefined, repr: Repr, encoding: 'text' | 'base64', what: string): Expectation {
  if (want.kind === 'null') return isNullCell(cell, repr) ? { expectNull: true } : { diff: `${what}: null expected, read ${show(cell)}` };
  if (want.kind === 'bad') return { diff: `${what}: the event's field is not base64 (${want.raw}), yet the record was written (read ${show(cell)})` };
  if (encoding === 'base64') {
    const got = bytesCell(cell, repr);
    return got && got.equals(want.b) ? {} : { diff: `${what}: ${b64(want.b) || '""'} (base64) expected, read ${show(cell)}` };
  }
  const text = strictUtf8(want.b);
  if (text === undefined) return { diff: `${what}: not valid UTF-8 (0x${clip(want.b.toString('hex'), 40)}), yet written as text: read ${show(cell)}` };
  return cell === text ? { expectNull: text === '' ? false : undefined } : { diff: `${what}: "${clip(text)}" expected, read ${show(cell)}` };
}

function expectInteger(want: bigint | number, cell: Tagged | undefined, repr: Repr, what: string): Expectation {
  const got = numberText(cell, repr);
  if (repr === 'typed' && !(cell !== null && typeof cell === 'object' && 'i' in cell)) return { diff: `${what}: integer ${want} expected, read ${show(cell)}` };
  return got !== undefined && exactDecimal(got) === exactDecimal(String(want)) ? {} : { diff: `${what}: ${want} expected, read ${show(cell)}` };
}

function expectTimestamp(rec: InRec, cell: Tagged | undefined, repr: Repr): Expectation {
  const ts = rec.ts;
  if (isNullCell(cell, repr)) {
    return ts.kind === 'none' || (ts.kind === 'ms' && ts.ms === -1n) ? { expectNull: true }
      : { diff: `timestamp: ${ts.kind === 'ms' ? ts.ms : (ts as { raw: string }).raw} expected, read null` };
  }
  if (ts.kind === 'bad') return { diff: `timestamp: the event's timestamp ${ts.raw} is not epoch milliseconds, yet the record was written with timestamp ${show(cell)}` };
  if (ts.kind === 'none') return { diff: `timestamp: the event has none, read ${show(cell)}` };
  const wantUs = ts.ms * 1000n;
  let gotUs: bigint | undefined;
  if (typeof cell === 'string') gotUs = isoMicros(cell);
  else if (cell !== null && typeof cell === 'object' && 't' in cell) gotUs = BigInt(cell.t);
  else {
    const n = numberText(cell, repr);
    const d = n === undefined ? undefined : exactDecimal(n);
    if (d !== undefined && d === exactDecimal(String(ts.ms))) gotUs = wantUs;
  }
  return gotUs === wantUs ? {} : { diff: `timestamp: ${ts.ms} ms expected, read ${show(cell)}` };
}

function expectedHeaders(s: Settings, rec: InRec): JNode | string {
  if (rec.headers.kind === 'bad') return `headers: the event's headers are malformed (${clip(rec.headers.raw, 60)}), yet the record was written`;
  const items: JNode[] = [];
  for (const h of rec.headers.list) {
    let v: JNode;
    if (h.value === null) v = { t: 'null' };
    else if (s.headerEncoding === 'base64') v = jstr(h.value.toString('base64'));
    else {
      const t = strictUtf8(h.value);
      if (t === undefined) return `headers: header "${clip(h.name, 30)}" is not UTF-8 (0x${h.value.toString('hex')}), yet written as text`;
      v = jstr(t);
    }
    items.push(jobj([['key', jstr(h.name)], ['value', v]]));
  }
  return { t: 'arr', items };
}

function expectHeaders(s: Settings, rec: InRec, cell: Tagged | undefined, repr: Repr): Expectation {
  const want = expectedHeaders(s, rec);
  if (typeof want === 'string') return { diff: want };
  let got: string;
  if (repr === 'jsonl') got = cell === undefined ? '' : canonT(cell);
  else {
    if (typeof cell !== 'string') return { diff: `headers: JSON text expected, read ${show(cell)}` };
    try {
      got = canonJ(parseJsonAst(cell));
    } catch (err) {
      return { diff: `headers: not JSON (${(err as Error).message}): ${show(cell)}` };
    }
  }
  const w = canonJ(want);
  return got === w ? {} : { diff: `headers: ${firstDifference(got, w)}` };
}

function expectMeta(s: Settings, rec: InRec, f: Exclude<Field, 'value'>, cell: Tagged | undefined, repr: Repr): Expectation {
  switch (f) {
    case 'key': return expectText(rec.key, cell, repr, s.keyEncoding, 'key');
    case 'headers': return expectHeaders(s, rec, cell, repr);
    case 'topic': return cell === rec.topic ? {} : { diff: `topic: "${clip(rec.topic, 40)}" expected, read ${show(cell)}` };
    case 'partition': return expectInteger(rec.partition, cell, repr, 'partition');
    case 'offset': return expectInteger(rec.offset, cell, repr, 'offset');
    case 'timestamp': return expectTimestamp(rec, cell, repr);
  }
}

function expectJsonValue(rec: InRec, cell: Tagged | undefined): string | undefined {
  if (rec.value.kind === 'null') return cell === null ? undefined : `value: null (tombstone) expected, read ${show(cell)}`;
  if (rec.value.kind === 'bad') return `value: the event's value is not base64 (${rec.value.raw}), yet the record was written`;
  const j = rec.json();
  if (j === null) return `value: not JSON (${describeBytes(rec.value.b, 60)}), yet written with VALUE_ENCODING=json: read ${show(cell)}`;
  if (cell === undefined) return 'value: missing';
  const got = canonT(cell);
  const want = canonJ(j);
  return got === want ? undefined : `value: ${firstDifference(got, want)}`;
}

function compareJsonlRow(s: Settings, rec: InRec, row: Tagged): string | undefined {
  if (!s.envelope) return expectJsonValue(rec, row);
  if (row === null || typeof row !== 'object' || !('o' in row)) return `line is not a JSON object: ${show(row)}`;
  const m = new Map(row.o);
  const names = [...m.keys()];
  if (names.length !== s.fields.length || !s.fields.every((f) => m.has(f))) return `envelope fields ${JSON.stringify(names)}, expected ${JSON.stringify(s.fields)}`;
  const diffs: string[] = [];
  for (const f of s.fields) {
    const cell = m.get(f);
    if (f === 'value') {
      const d = s.valueEncoding === 'json' ? expectJsonValue(rec, cell) : expectText(rec.value, cell, 'jsonl', s.valueEncoding, 'value').diff;
      if (d) diffs.push(d);
    } else {
      const e = expectMeta(s, rec, f, cell, 'jsonl');
      if (e.diff) diffs.push(e.diff);
    }
  }
  return diffs.length ? diffs.join('; ') : undefined;
}

const rowBytes = new WeakMap<object, Buffer>();

function compareRawRow(rec: InRec, row: Tagged): string | undefined {
  if (rec.value.kind !== 'bytes') return `value: ${rec.value.kind === 'null' ? 'a tombstone' : 'not base64 in the event'}, yet written`;
  let got: Buffer | undefined;
  if (row !== null && typeof row === 'object' && 'y' in row) {
    got = rowBytes.get(row);
    if (!got) rowBytes.set(row, (got = Buffer.from(row.y, 'base64')));
  }
  return got && got.equals(rec.value.b) ? undefined : `value: ${describeBytes(rec.value.b, 80)} expected, read ${got ? describeBytes(got, 80) : show(row)}`;
}

interface CellEval {
  readonly raw: boolean;
  readonly json: boolean;
  readonly kind: 'null' | 'bool' | 'num' | 'str' | 'obj';
  /** The message, built only when it is reported. */
  readonly detail: () => string;
}

/** One inferred value column cell against the input field: is it the value raw (typed), as JSON text, both? */
function evalInferred(v: JNode, cell: Tagged | undefined, repr: Repr, name: string): CellEval {
  const isNull = isNullCell(cell, repr);
  const str = typeof cell === 'string' ? cell : undefined;
  const asJson = (): JNode | undefined => {
    if (str === undefined) return undefined;
    try {
      return parseJsonAst(str);
    } catch {
      return undefined;
    }
  };
  const detail = () => `field "${clip(name, 40)}": read ${show(cell)} for ${clip(renderJson(v, { kind: 'compact' }), 120)}`;
  switch (v.t) {
    case 'null': return { kind: 'null', raw: isNull, json: isNull || str === 'null', detail };
    case 'bool': {
      const j = asJson();
      return { kind: 'bool', raw: repr === 'csv' ? str === String(v.v) : cell === v.v, json: j?.t === 'bool' && j.v === v.v, detail };
    }
    case 'num': {
      const want = exactDecimal(v.src);
      const got = numberText(cell, repr);
      const j = asJson();
      return { kind: 'num', raw: got !== undefined && exactDecimal(got) === want, json: j?.t === 'num' && exactDecimal(j.src) === want, detail };
    }
    case 'str': {
      const j = asJson();
      return { kind: 'str', raw: str === v.v, json: j?.t === 'str' && j.v === v.v, detail };
    }
    default: {
      const j = asJson();
      return { kind: 'obj', raw: false, json: j !== undefined && canonJ(j) === canonJ(v), detail };
    }
  }
}

function evalSchemaCell(f: SchemaField, v: JNode | undefined, cell: Tagged | undefined, repr: Repr): Expectation {
  const where = `field "${f.name}" (${f.type})`;
  if (v === undefined || v.t === 'null') {
    if (!f.nullable) return { diff: `${where}: the value has ${v ? 'null' : 'no such field'} and the field is not nullable, yet the record was written (read ${show(cell)})` };
    return isNullCell(cell, repr) ? { expectNull: true } : { diff: `${where}: null expected, read ${show(cell)}` };
  }
  const input = clip(renderJson(v, { kind: 'compact' }), 80);
  const bad = (): Expectation => ({ diff: `${where}: input ${input}, read ${show(cell)}` });
  switch (f.type) {
    case 'long': {
      const d = v.t === 'num' ? exactDecimal(v.src) : undefined;
      if (d === undefined || !isIntegerDecimal(d)) return bad();
      if (repr === 'typed' && !(cell !== null && typeof cell === 'object' && 'i' in cell)) return bad();
      const got = numberText(cell, repr);
      return got !== undefined && exactDecimal(got) === d ? {} : bad();
    }
    case 'double': {
      const got = numberText(cell, repr);
      return v.t === 'num' && got !== undefined && exactDecimal(got) === exactDecimal(v.src) ? {} : bad();
    }
    case 'string': return v.t === 'str' && cell === v.v ? { expectNull: v.v === '' ? false : undefined } : bad();
    case 'boolean': return v.t === 'bool' && (repr === 'csv' ? cell === String(v.v) : cell === v.v) ? {} : bad();
    case 'bytes': {
      const want = v.t === 'str' ? strictB64(v.v) : undefined;
      const got = bytesCell(cell, repr);
      return want && got && got.equals(want) ? { expectNull: want.length === 0 && repr === 'csv' ? false : undefined } : bad();
    }
    case 'timestamp-millis': {
      let wantUs: bigint | undefined;
      if (v.t === 'num') {
        const d = exactDecimal(v.src);
        if (d !== undefined && isIntegerDecimal(d)) wantUs = BigInt(renderDecimalInteger(d)) * 1000n;
      } else if (v.t === 'str') wantUs = isoMicros(v.v);
      if (wantUs === undefined || wantUs % 1000n !== 0n) return { diff: `${where}: input ${input} is no exact millisecond instant, yet written (read ${show(cell)})` };
      const gotUs = typeof cell === 'string' ? isoMicros(cell) : cell !== null && typeof cell === 'object' && 't' in cell ? BigInt(cell.t) : undefined;
      return gotUs === wantUs ? {} : bad();
    }
  }
}

const isIntegerDecimal = (d: string) => d === '0' || /e\d+$/.test(d);

function renderDecimalInteger(d: string): string {
  if (d === '0') return '0';
  const m = /^(-?)(\d+)e(\d+)$/.exec(d)!;
  return `${m[1]}${m[2]}${'0'.repeat(Number(m[3]))}`;
}

interface ColumnarView {
  readonly names: readonly string[];
  get(name: string): Tagged | undefined;
  /** Position of a name in the row (csv, for DuckDB's row). */
  index(name: string): number;
}

const META: Record<Exclude<Field, 'value'>, string> = {
  key: '_kafka_key', headers: '_kafka_headers', topic: '_kafka_topic', partition: '_kafka_partition', offset: '_kafka_offset', timestamp: '_kafka_timestamp',
};

function metaColumns(s: Settings): string[] {
  return s.fields.filter((f): f is Exclude<Field, 'value'> => f !== 'value').map((f) => META[f]);
}

interface ColumnarCompare {
  readonly diffs: string[];
  readonly evals: Map<string, CellEval>;
  readonly expectNull: Map<string, boolean>;
}

function compareColumnarRow(s: Settings, rec: InRec, view: ColumnarView, repr: Repr): ColumnarCompare {
  const diffs: string[] = [];
  const evals = new Map<string, CellEval>();
  const expectNull = new Map<string, boolean>();
  const note = (name: string, e: Expectation) => {
    if (e.diff) diffs.push(e.diff);
    if (e.expectNull !== undefined) expectNull.set(name, e.expectNull);
  };
  const metaNames = new Set(metaColumns(s));
  for (const f of s.fields) {
    if (f === 'value') continue;
    const name = META[f];
    const cell = view.get(name);
    if (cell === undefined) diffs.push(`no column ${name}`);
    else note(name, expectMeta(s, rec, f, cell, repr));
  }
  if (s.fields.includes('value')) {
    if (s.valueEncoding !== 'json') {
      note('_kafka_value', expectText(rec.value, view.get('_kafka_value'), repr, s.valueEncoding, 'value'));
    } else if (rec.value.kind === 'bad') {
      diffs.push(`value: the event's value is not base64 (${rec.value.raw}), yet the record was written`);
    } else {
      let fields = new Map<string, JNode>();
      if (rec.value.kind === 'bytes') {
        const j = rec.json();
        if (j === null || j.t !== 'obj') {
          diffs.push(`value: ${j === null ? 'not JSON' : `a JSON ${j.t}, not an object`} (${describeBytes(rec.value.b, 60)}), yet written as columns`);
          return { diffs, evals, expectNull };
        }
        fields = lastWins(j.members);
      }
      if (s.schema) {
        for (const f of s.schema.fields) note(f.name, evalSchemaCell(f, fields.get(f.name), view.get(f.name), repr));
      } else {
        for (const [k, v] of fields) {
          const cell = view.get(k);
          if (cell === undefined) {
            diffs.push(`field "${clip(k, 40)}" has no column (columns: ${clip(JSON.stringify(view.names.filter((n) => !metaNames.has(n))), 200)})`);
            continue;
          }
          const e = evalInferred(v, cell, repr, k);
          evals.set(k, e);
          if (!e.raw && !e.json) diffs.push(e.detail());
          if (v.t === 'null' && isNullCell(cell, repr)) expectNull.set(k, true);
          else if (v.t === 'str' && v.v === '' && cell === '') expectNull.set(k, false);
        }
        for (const name of view.names) {
          if (metaNames.has(name) || fields.has(name)) continue;
          const cell = view.get(name);
          if (!isNullCell(cell, repr)) diffs.push(`column "${clip(name, 40)}" holds ${show(cell)}, but the record's value has no such field`);
          else expectNull.set(name, true);
        }
      }
    }
  }
  return { diffs, evals, expectNull };
}

const EXTENSIONS: Record<Format, string> = { jsonl: 'jsonl', csv: 'csv', csv_with_headers: 'csv', text: 'txt', bytes: 'bin', avro: 'avro', parquet: 'parquet' };
const PRIMARY: Record<Format, string> = {
  jsonl: 'python-json', csv: 'python-csv', csv_with_headers: 'python-csv', text: 'python-split', bytes: 'python-split', avro: 'fastavro', parquet: 'pyarrow',
};
const SINK_CONTEXT = { functionName: 'sink', awsRequestId: 'x' } as never;

function extensionOf(s: Settings): string {
  const base = EXTENSIONS[s.format];
  if (s.format === 'avro' || s.format === 'parquet') return base;
  return s.compression === 'gzip' ? `${base}.gz` : s.compression === 'zstd' ? `${base}.zst` : base;
}

interface DataObject {
  readonly key: string;
  readonly meta: Readonly<Record<string, string>>;
  readonly readers: Record<string, ReaderResult>;
  readonly rows: Tagged[] | undefined;
  readonly count: number;
  readonly topic?: string;
  readonly partition?: number;
  readonly start?: bigint;
  readonly last?: bigint;
}

type BatchResultLike = { recordsIn?: number; written?: number; filtered?: number; tombstonesIgnored?: number; deadLettered?: number };

/**
 * Runs one case through the real handler and judges the outcome; never throws for a sink problem (the returned
 * failures say what went wrong). `readers` reads every object back; without it only (a) and (b) are judged.
 */
export async function runHostileCase(c: HostileCase, readers: ReaderPool | undefined): Promise<CaseOutcome> {
  const s = c.settings;
  const failures: Failure[] = [];
  const fail = (assertion: Failure['assertion'], kind: string, detail: string) => {
    if (failures.length < 200) failures.push({ assertion, kind, detail: detail.length > 1500 ? `${detail.slice(0, 1500)}…` : detail });
  };
  const text = eventText(c.event);
  const parsed = JSON.parse(text) as { records: Record<string, Record<string, unknown>[]> };
  const bucket = new MemoryBucket();
  const stats = { records: 0, eventBytes: Buffer.byteLength(text), objects: 0, deadLetterLines: 0, written: 0, threw: undefined as string | undefined, handlerMs: 0 };
  let handler: ReturnType<typeof createSinkHandler>;
  try {
    handler = createSinkHandler({ env: { ...s.env }, s3: bucket as never });
  } catch (err) {
    fail('a', 'config-rejected', `settings the README allows were refused: ${(err as Error).message}`);
    return { failures, stats };
  }
  const t0 = performance.now();
  let result: BatchResultLike | undefined;
  let thrown: unknown;
  try {
    result = (await handler(parsed, SINK_CONTEXT)) as BatchResultLike;
  } catch (err) {
    thrown = err;
  }
  stats.handlerMs = performance.now() - t0;
  if (c.event.breakage) {
    if (thrown === undefined) fail('a', 'malformed-event-accepted', `${c.event.breakage.kind}: the handler returned ${clip(JSON.stringify(result), 300)} instead of failing the invocation`);
    return { failures, stats };
  }
  if (thrown !== undefined) {
    const e = thrown as Error;
    stats.threw = `${e?.name}: ${e?.message}`;
    if (c.event.oddKeys && e?.name === 'EventShapeError') return { failures, stats };
    const at = (e?.stack ?? '').split('\n').slice(1, 4).map((l) => l.trim()).join(' < ');
    const gist = String(e?.message).replace(/"[^"]*"/g, '"…"').replace(/s3:\/\/\S+/g, 's3://…').replace(/[0-9]+/g, 'N').slice(0, 50);
    fail('a', `throws:${e?.name ?? typeof e}:${gist}`, `the handler threw ${e?.name}: ${clip(String(e?.message), 300)} (${at})`);
    return { failures, stats };
  }
  const inputs = inputsOf(c, parsed);
  stats.records = inputs.length;
  const byId = new Map(inputs.map((r) => [r.id, r]));
  const r = result ?? {};
  if (r.recordsIn !== inputs.length) fail('b', 'records-in', `recordsIn=${r.recordsIn}, the event holds ${inputs.length} records`);
  const sum = (r.written ?? NaN) + (r.filtered ?? NaN) + (r.tombstonesIgnored ?? NaN) + (r.deadLettered ?? NaN);
  if (sum !== r.recordsIn) fail('b', 'sum', `written ${r.written} + filtered ${r.filtered} + tombstonesIgnored ${r.tombstonesIgnored} + deadLettered ${r.deadLettered} = ${sum}, recordsIn ${r.recordsIn}`);
  const tombstones = inputs.filter((x) => x.tombstone).length;
  const wantIgnored = s.tombstones === 'ignore' ? tombstones : 0;
  if (r.tombstonesIgnored !== wantIgnored) fail('b', 'tombstones-ignored', `tombstonesIgnored=${r.tombstonesIgnored}, expected ${wantIgnored}`);
  if (!readers) return { failures, stats };

  // ---- read every object back
  const dir = join(WORK_ROOT, String(++workCounter));
  await mkdir(dir, { recursive: true });
  try {
    const manifest: ManifestObject[] = [];
    const kinds = new Map<string, { key: string; stored: StoredObject; dl: boolean }>();
    const ext = extensionOf(s);
    const rowFormat = s.format !== 'avro' && s.format !== 'parquet';
    // The sink's own state (checkpoints, STATE_PREFIX) is neither data nor dead letters.
    const statePrefix = s.env.STATE_PREFIX ?? 'checkpoints/';
    for (const [key, stored] of bucket.objects) {
      if (key.startsWith(statePrefix)) continue;
      const dl = key.startsWith(s.errorPrefix);
      if (!dl && !key.startsWith(s.prefix)) {
        fail('b', 'object-outside-prefixes', `object ${key} is under neither PREFIX nor ERROR_PREFIX`);
        continue;
      }
      if (!key.endsWith(dl ? '.jsonl' : `.${ext}`)) fail('d', 'key-extension', `object key ${key} does not end with .${dl ? 'jsonl' : ext}`);
      const file = `o${manifest.length}`;
      await writeFile(join(dir, file), stored.body);
      manifest.push({ file, key, format: dl ? 'deadletter' : s.format, compression: dl || !rowFormat ? 'none' : s.compression, separator: s.separator.toString('hex') });
      kinds.set(file, { key, stored, dl });
    }
    await writeFile(join(dir, 'manifest.json'), JSON.stringify({ objects: manifest }));
    stats.objects = manifest.length;
    const doc = await readers.read(dir);
    if (doc.error || !doc.objects) {
      fail('c', 'reader-crash', `read_many.py failed: ${doc.error} ${doc.trace ?? ''}`);
      return { failures, stats };
    }

    // ---- dead letters
    const dead = new Map<string, string>();
    let deadLines = 0;
    const data: DataObject[] = [];
    for (const o of doc.objects) {
      const k = kinds.get(o.file)!;
      if (k.dl) {
        const rd = o.readers['python-json'];
        if (!rd || !rd.ok) {
          fail('c', 'dead-letter-unreadable', `dead-letter object ${k.key}: ${rd && !rd.ok ? rd.error : 'no reader result'}`);
          continue;
        }
        for (const line of (rd.rows as { a: Tagged[] }).a) {
          deadLines++;
          checkDeadLetter(line, k.key, byId, dead, fail);
        }
        continue;
      }
      const meta = k.stored.metadata;
      const info: { topic?: string; partition?: number; start?: bigint; last?: bigint } = {};
      try {
        if (meta['kafka-topic'] !== undefined) info.topic = decodeURIComponent(meta['kafka-topic']);
        if (meta['kafka-partition'] !== undefined) info.partition = Number(meta['kafka-partition']);
        if (meta['kafka-start-offset'] !== undefined) info.start = BigInt(meta['kafka-start-offset']);
        if (meta['kafka-last-offset'] !== undefined) info.last = BigInt(meta['kafka-last-offset']);
      } catch (err) {
        fail('d', 'object-metadata', `object ${k.key}: metadata ${JSON.stringify(meta)} (${(err as Error).message})`);
      }
      const declared = Number(meta['kafka-record-count']);
      const primary = o.readers[PRIMARY[s.format]];
      for (const [name, rd] of Object.entries(o.readers)) {
        if (!rd.ok) fail('c', `reader:${name}`, `${name} cannot read ${k.key}: ${rd.error}`);
      }
      let rows: Tagged[] | undefined;
      if (primary && primary.ok) {
        rows = (primary.rows as { a: Tagged[] }).a;
        if (rows.length !== declared) fail('c', `record-count:${PRIMARY[s.format]}`, `${PRIMARY[s.format]} reads ${rows.length} records in ${k.key}, which holds ${declared} (x-amz-meta-kafka-record-count)`);
        if (s.format === 'parquet' && primary.num_rows !== rows.length) fail('c', 'record-count:pyarrow-num-rows', `${k.key}: num_rows ${String(primary.num_rows)} in the footer, to_pylist gives ${rows.length} rows`);
      }
      // README, Formats: DuckDB's CSV dialect sniffer can misread objects whose quoted fields hold line breaks (it
      // counts rows wrongly and reads "" as NULL); they are read with explicit options. Python csv is the check then.
      const duckdbSkips = (name: string) => name === 'duckdb-csv' && rows !== undefined && JSON.stringify(rows).match(/\\[rn]/) !== null;
      for (const [name, rd] of Object.entries(o.readers)) {
        if (rd.ok && name !== PRIMARY[s.format] && rd.count !== declared && !duckdbSkips(name)) {
          fail('c', `record-count:${name}`, `${name} reads ${rd.count} records in ${k.key}, which holds ${declared}`);
        }
      }
      data.push({ key: k.key, meta, readers: o.readers, rows, count: rows?.length ?? declared, ...info });
    }
    stats.deadLetterLines = deadLines;
    if (r.deadLettered !== deadLines) fail('b', 'dead-lettered-count', `deadLettered=${r.deadLettered}, dead-letter objects hold ${deadLines} lines`);
    const written = data.reduce((n, o) => n + o.count, 0);
    stats.written = written;
    if (r.written !== written) fail('b', 'written-count', `written=${r.written}, data objects hold ${written} records`);

    // ---- data: which input record is each row, and does it equal its input
    const placed = new Map<string, string>();
    const allReadable = data.every((o) => o.rows !== undefined);
    const place = (rec: InRec, where: string) => {
      if (placed.has(rec.id) || dead.has(rec.id)) {
        fail('b', 'offset-twice', `${rec.topic}-${rec.partition}@${rec.offset} appears twice: ${where} and ${placed.get(rec.id) ?? 'a dead letter'}`);
      }
      placed.set(rec.id, where);
    };
    const checker = new ObjectChecker(s, inputs, byId, dead, placed, place, fail);
    const ordered = [...data].sort((a, b) => (a.last ?? 0n) < (b.last ?? 0n) ? -1 : (a.last ?? 0n) > (b.last ?? 0n) ? 1 : 0);
    for (const o of ordered) if (o.rows) checker.check(o);

    // ---- every record exactly once, in its place
    for (const rec of inputs) {
      const inData = placed.has(rec.id);
      const inDead = dead.has(rec.id);
      const at = `${rec.topic}-${rec.partition}@${rec.offset}`;
      if (rec.invalid) {
        if (!inData && !inDead && allReadable) fail('b', 'invalid-record-missing', `${at}: a record with a field the decoder cannot take is in no data object and no dead letter`);
      } else if (rec.tombstone && s.tombstones === 'ignore') {
        if (inData || inDead) fail('b', 'ignored-tombstone-kept', `${at}: a tombstone with TOMBSTONES=ignore is in ${inData ? placed.get(rec.id) : 'the dead letters'}`);
      } else if (rec.tombstone && s.tombstones === 'deadletter') {
        if (!inDead) fail('b', 'tombstone-not-dead-lettered', `${at}: a tombstone with TOMBSTONES=deadletter is ${inData ? `written to ${placed.get(rec.id)}` : 'nowhere'}`);
      } else if (rec.filter === 'filtered') {
        if (inData || inDead) fail('b', 'filtered-record-kept', `${at}: its value does not match FILTER_REGEX, yet it is in ${inData ? placed.get(rec.id) : 'the dead letters'}`);
      } else if (rec.filter === 'keep') {
        if (!inData && !inDead && allReadable) fail('b', 'offset-missing', `${at} is in no data object and no dead letter (value ${rec.value.kind === 'bytes' ? describeBytes(rec.value.b, 80) : rec.value.kind})`);
        if (rec.benign && !c.event.atScale && inDead && !blankCsvRow(s, rec) && !caseCollides(s, rec, inputs)) fail('b', 'benign-dead-lettered', `${at}: an ordinary record was dead-lettered: ${dead.get(rec.id)}`);
      }
    }
    if (allReadable) {
      const filtered = inputs.filter((x) => !placed.has(x.id) && !dead.has(x.id) && !(x.tombstone && s.tombstones === 'ignore')).length;
      if (r.filtered !== filtered) fail('b', 'filtered-count', `filtered=${r.filtered}, ${filtered} records are in no object`);
    }
  } finally {
    if (process.env.HOSTILE_KEEP) console.error(`hostile: objects kept in ${dir}`);
    else await rm(dir, { recursive: true, force: true });
  }
  return { failures, stats };
}

/**
 * Inferred columns: a field named like another record's field of the partition but for letter case ("Id" / "id")
 * may be dead-lettered (README: per object, the later of two names a case-insensitive reader confuses).
 */
function caseCollides(s: Settings, rec: InRec, inputs: readonly InRec[]): boolean {
  if (s.format === 'text' || s.format === 'bytes' || s.schema || s.valueEncoding !== 'json' || !s.fields.includes('value')) return false;
  const own = rec.json();
  if (!own || own.t !== 'obj') return false;
  const names = new Set(own.members.map((m) => m.k));
  const lower = new Set([...names].map((n) => n.toLowerCase()));
  return inputs.some((x) => {
    if (x === rec || x.topic !== rec.topic || x.partition !== rec.partition) return false;
    const j = x.json();
    return j !== null && j.t === 'obj' && j.members.some((m) => !names.has(m.k) && lower.has(m.k.toLowerCase()));
  });
}

/** A csv row of one null column is a blank line, which CSV readers skip: the README dead-letters it. */
function blankCsvRow(s: Settings, rec: InRec): boolean {
  if ((s.format !== 'csv' && s.format !== 'csv_with_headers') || s.fields.length !== 1) return false;
  if (s.fields[0] === 'key') return rec.key.kind === 'null';
  return s.fields[0] === 'value' && s.valueEncoding !== 'json' && rec.value.kind === 'null';
}

function checkDeadLetter(line: Tagged, key: string, byId: Map<string, InRec>, dead: Map<string, string>, fail: (a: Failure['assertion'], k: string, d: string) => void): void {
  if (line === null || typeof line !== 'object' || !('o' in line)) {
    fail('b', 'dead-letter-shape', `${key}: a line is not a JSON object: ${show(line)}`);
    return;
  }
  const m = new Map(line.o);
  const topic = m.get('topic');
  const partition = numberText(m.get('partition'), 'jsonl');
  const offset = m.get('offset');
  const reason = m.get('reason');
  const stage = m.get('stage');
  if (typeof topic !== 'string' || partition === undefined || typeof offset !== 'string' || !/^\d+$/.test(offset) || typeof reason !== 'string' || reason === '' || typeof stage !== 'string') {
    fail('b', 'dead-letter-shape', `${key}: a line lacks topic, partition, offset (string), stage or reason: ${show(line)}`);
    return;
  }
  const id = idOf(topic, Number(partition), BigInt(offset));
  const rec = byId.get(id);
  if (!rec) {
    fail('b', 'dead-letter-unknown', `${key}: dead letter for ${topic}-${partition}@${offset}, which is not in the event`);
    return;
  }
  if (dead.has(id)) fail('b', 'offset-twice', `${topic}-${partition}@${offset} is dead-lettered twice`);
  dead.set(id, reason);
  if (m.has('received')) {
    // A record whose fields could not be decoded: kept exactly as the event held it.
    const got = canonT(m.get('received')!);
    const want = canonJ(parseJsonAst(JSON.stringify(rec.received)));
    if (got !== want) fail('b', 'dead-letter-received', `${key}: ${topic}-${partition}@${offset}: "received" is not the record as the event held it: ${firstDifference(got, want)}`);
    return;
  }
  for (const [field, want] of [['key', rec.key], ['value', rec.value]] as const) {
    const got = m.get(field);
    if (want.kind === 'null' ? got !== null : want.kind === 'bytes' ? !strictB64(got)?.equals(want.b) : false) {
      fail('b', `dead-letter-${field}`, `${key}: ${topic}-${partition}@${offset}: ${field} ${want.kind === 'bytes' ? b64(want.b) : 'null'} expected (base64), dead letter has ${show(got)}`);
    }
  }
}

/** Identifies each row of a data object with its input record and compares them. */
class ObjectChecker {
  private readonly s: Settings;
  private readonly inputs: InRec[];
  private readonly byId: Map<string, InRec>;
  private readonly dead: Map<string, string>;
  private readonly placed: Map<string, string>;
  private readonly place: (rec: InRec, where: string) => void;
  private readonly fail: (a: Failure['assertion'], k: string, d: string) => void;

  constructor(s: Settings, inputs: InRec[], byId: Map<string, InRec>, dead: Map<string, string>, placed: Map<string, string>, place: (rec: InRec, where: string) => void, fail: (a: Failure['assertion'], k: string, d: string) => void) {
    this.s = s;
    this.inputs = inputs;
    this.byId = byId;
    this.dead = dead;
    this.placed = placed;
    this.place = place;
    this.fail = fail;
  }

  check(o: DataObject): void {
    const s = this.s;
    const rows = o.rows!;
    if (s.format === 'jsonl') {
      const byOffset = s.envelope && s.fields.includes('offset');
      this.assign(o, rows.length, byOffset ? (i) => this.locate(o, (f) => jsonlField(rows[i], f), 'jsonl') : undefined, (rec, i) => compareJsonlRow(s, rec, rows[i]), 'value');
      if (byOffset) this.checkDuckJsonOffsets(o, rows);
    } else if (s.format === 'text' || s.format === 'bytes') {
      this.assign(o, rows.length, undefined, (rec, i) => compareRawRow(rec, rows[i]), 'value');
    } else this.checkColumnar(o, rows);
  }

  /** The input record a row names through its offset (and topic/partition, else the object's metadata). */
  private locate(o: DataObject, field: (f: Field) => Tagged | undefined, repr: Repr): InRec | string {
    const off = numberText(field('offset'), repr);
    if (off === undefined || !/^\d+$/.test(off)) return `offset ${show(field('offset'))} is not an integer`;
    const topicCell = this.s.fields.includes('topic') ? field('topic') : o.topic;
    const partText = this.s.fields.includes('partition') ? numberText(field('partition'), repr) : o.partition === undefined ? undefined : String(o.partition);
    if (typeof topicCell !== 'string' || partText === undefined) return 'no topic/partition (neither in the row nor in the object metadata)';
    const rec = this.byId.get(idOf(topicCell, Number(partText), BigInt(off)));
    return rec ?? `${topicCell}-${partText}@${off} is not a record of the event`;
  }

  /**
   * Rows → records. With `locate` (the output holds the offset) each row names its record; otherwise each row is
   * matched to an unused input record of the object's partition and offset range that it equals.
   */
  private assign(o: DataObject, n: number, locate: ((i: number) => InRec | string) | undefined, compare: (rec: InRec, i: number) => string | undefined, kind: string): (InRec | undefined)[] {
    const out: (InRec | undefined)[] = [];
    let candidates: InRec[] | undefined;
    let lo = 0;
    let next = 0;
    const noDefinite = new Set<string>();
    for (let i = 0; i < n; i++) {
      const where = `${o.key} row ${i}`;
      if (locate) {
        const rec = locate(i);
        if (typeof rec === 'string') {
          this.fail('b', 'row-unidentified', `${where}: ${rec}`);
          out.push(undefined);
          continue;
        }
        this.place(rec, where);
        const d = compare(rec, i);
        if (d) this.fail('d', `${this.s.format}:${kindOf(d, kind)}`, `${rec.topic}-${rec.partition}@${rec.offset} in ${where}: ${d}`);
        out.push(rec);
        continue;
      }
      // Records that must be nowhere (ignored tombstones, filtered) are no candidates.
      candidates ??= this.inputs.filter((x) => !(x.tombstone && this.s.tombstones === 'ignore') && x.filter !== 'filtered'
        && (o.topic === undefined || x.topic === o.topic) && (o.partition === undefined || x.partition === o.partition)
        && (o.start === undefined || x.offset >= o.start) && (o.last === undefined || x.offset <= o.last));
      const taken = (x: InRec) => this.placed.has(x.id) || this.dead.has(x.id);
      while (lo < candidates.length && taken(candidates[lo])) lo++;
      // The first free record it equals, in offset order; a record the filter may have dropped (ambiguous) only if
      // no record that must be somewhere equals it within the next few.
      let hit: InRec | undefined;
      let maybe: InRec | undefined;
      let after = 0;
      // Rows of an object are in offset order: search from just after the previous row's record, then from the start.
      const search = (from: number, to: number) => {
        for (let k = from; k < to && after < 64; k++) {
          const x = candidates![k];
          if (taken(x)) continue;
          if (maybe) after++;
          if (compare(x, i) !== undefined) continue;
          if (x.filter !== 'ambiguous') {
            hit = x;
            next = k + 1;
            return;
          }
          if (!maybe) {
            maybe = x;
            maybeAt = k;
          }
        }
      };
      let maybeAt = -1;
      search(Math.max(lo, next), candidates.length);
      if (!hit && !maybe) search(lo, Math.max(lo, next));
      if (!hit && maybe) {
        // Only a maybe within the window: a record that must be somewhere and equals the row may still be further
        // away (rows without offsets, e.g. FIELDS=headers, of a pool repeated across keys: other objects took the
        // near ones), so look at the whole range before settling; a content that equals none is remembered.
        const sig = o.rows?.[i] === undefined ? undefined : canonT(o.rows[i]);
        if (sig === undefined || !noDefinite.has(sig)) {
          const from = Math.max(lo, next);
          for (let j = 0; j < candidates.length - lo && !hit; j++) {
            const k = from + j < candidates.length ? from + j : lo + (from + j - candidates.length);
            const x = candidates[k];
            if (taken(x) || x.filter === 'ambiguous' || compare(x, i) !== undefined) continue;
            hit = x;
            next = k + 1;
          }
          if (!hit && sig !== undefined) noDefinite.add(sig);
        }
        if (!hit) {
          hit = maybe;
          next = maybeAt + 1;
          compare(hit, i); // the comparison the caller keeps is the chosen record's
        }
      }
      if (hit) {
        this.place(hit, where);
        out.push(hit);
        continue;
      }
      const near = candidates.slice(lo).find((x) => !taken(x));
      const d = near ? compare(near, i) : 'no input record left in the range';
      this.fail('d', `${this.s.format}:${kindOf(d ?? '', kind)}`, `${where} (offsets ${o.start}..${o.last}) equals no unused input record; the next one, ${near ? `@${near.offset}` : '-'}: ${d}`);
      out.push(undefined);
    }
    return out;
  }

  private checkDuckJsonOffsets(o: DataObject, rows: Tagged[]): void {
    const duck = o.readers['duckdb-json'];
    if (!duck || !duck.ok || !duck.offsets) return;
    const got = (duck.offsets as { a: Tagged[] }).a.map((x) => numberText(x, 'typed'));
    const want = rows.map((row) => numberText(jsonlField(row, 'offset'), 'jsonl'));
    const bad = want.findIndex((w, i) => w === undefined || got[i] === undefined || exactDecimal(w) !== exactDecimal(got[i]!));
    if (bad !== -1) this.fail('c', 'duckdb-json-values', `${o.key} row ${bad}: DuckDB reads offset ${got[bad]}, Python reads ${want[bad]}`);
  }

  private checkColumnar(o: DataObject, rows: Tagged[]): void {
    const s = this.s;
    const repr: Repr = s.format === 'csv' || s.format === 'csv_with_headers' ? 'csv' : 'typed';
    const metas = metaColumns(s);
    const primary = o.readers[PRIMARY[s.format]] as ReaderResult & { ok: true };
    let names: string[];
    if (s.format === 'csv_with_headers') names = primary.header as string[];
    else if (s.format === 'avro' || s.format === 'parquet') names = primary.columns as string[];
    else names = [];
    const cells = (row: Tagged): Tagged[] => (row !== null && typeof row === 'object' && 'a' in row ? row.a : []);
    const viewOf = (row: Tagged, cols: readonly string[]): ColumnarView => {
      if (repr === 'csv') {
        const c = cells(row);
        const idx = new Map<string, number>();
        cols.forEach((n, k) => { if (!idx.has(n)) idx.set(n, k); });
        return { names: cols, get: (n) => (idx.has(n) ? c[idx.get(n)!] : undefined), index: (n) => idx.get(n) ?? -1 };
      }
      const m = new Map(row !== null && typeof row === 'object' && 'o' in row ? row.o : []);
      return { names: cols, get: (n) => (m.has(n) ? m.get(n) : undefined), index: (n) => cols.indexOf(n) };
    };
    if (s.format === 'csv') {
      // No header row: the columns are the value's (schema, or inferred from the object's records), then metadata.
      const valueCols = !s.fields.includes('value') ? [] : s.valueEncoding !== 'json' ? ['_kafka_value'] : s.schema ? s.schema.fields.map((f) => f.name) : undefined;
      if (valueCols) names = [...valueCols, ...metas];
      else {
        const offsetAt = (row: Tagged) => cells(row).length - metas.length + metas.indexOf('_kafka_offset');
        const recs = rows.map((row) => {
          const c = cells(row);
          const pos = offsetAt(row);
          const at = (f: Field) => (f === 'offset' ? c[pos] : f === 'topic' ? c[pos - metas.indexOf('_kafka_offset') + metas.indexOf('_kafka_topic')] : f === 'partition' ? c[pos - metas.indexOf('_kafka_offset') + metas.indexOf('_kafka_partition')] : undefined);
          const rec = this.locate(o, at, 'csv');
          return typeof rec === 'string' ? undefined : rec;
        });
        const variants = inferredOrders(recs.filter((x): x is InRec => x !== undefined));
        let best: { names: string[]; bad: number } | undefined;
        for (const v of variants) {
          const cols = [...v, ...metas];
          const bad = rows.filter((row, i) => !recs[i] || cells(row).length !== cols.length || compareColumnarRow(s, recs[i]!, viewOf(row, cols), repr).diffs.length > 0).length;
          if (!best || bad < best.bad) best = { names: cols, bad };
        }
        names = best!.names;
      }
      const widths = new Set(rows.map((row) => cells(row).length));
      if (widths.size > 1 || (rows.length > 0 && !widths.has(names.length))) {
        this.fail('d', 'csv:row-width', `${o.key}: rows have ${[...widths].join('/')} cells, ${names.length} columns expected (${clip(JSON.stringify(names), 200)})`);
      }
    }
    const views = rows.map((row) => viewOf(row, names));
    const compared: (ColumnarCompare | undefined)[] = [];
    const recs = this.assign(o, rows.length, s.fields.includes('offset') ? (i) => this.locate(o, (f) => views[i].get(f === 'value' ? '' : META[f]), repr) : undefined, (rec, i) => {
      const c = compareColumnarRow(s, rec, views[i], repr);
      compared[i] = c;
      return c.diffs.length ? c.diffs.join('; ') : undefined;
    }, 'value');

    // Columns: exactly the value's fields (or the schema's) and the chosen metadata, each once.
    const expected = new Set(metas);
    if (s.fields.includes('value')) {
      if (s.valueEncoding !== 'json') expected.add('_kafka_value');
      else if (s.schema) for (const f of s.schema.fields) expected.add(f.name);
      else for (const rec of recs) if (rec && rec.json()?.t === 'obj') for (const k of lastWins((rec.json() as { t: 'obj'; members: readonly JMember[] }).members).keys()) expected.add(k);
    }
    if (s.format !== 'csv' && rows.length > 0) {
      const extra = names.filter((n) => !expected.has(n));
      const missing = [...expected].filter((n) => !names.includes(n));
      const dup = names.filter((n, k) => names.indexOf(n) !== k);
      if (extra.length || missing.length || dup.length) {
        this.fail('d', `${s.format}:columns`, `${o.key}: columns ${clip(JSON.stringify(names), 300)}; unexpected ${clip(JSON.stringify(extra), 120)}, missing ${clip(JSON.stringify(missing), 120)}, twice ${clip(JSON.stringify(dup), 80)}`);
      }
    }

    // One representation per inferred column: raw values of one JSON type, or JSON text throughout.
    if (s.fields.includes('value') && s.valueEncoding === 'json' && !s.schema) {
      const byColumn = new Map<string, CellEval[]>();
      for (const c of compared) for (const [k, e] of c?.evals ?? []) (byColumn.get(k) ?? byColumn.set(k, []).get(k)!).push(e);
      for (const [k, evals] of byColumn) {
        const kinds = new Set(evals.filter((e) => e.kind !== 'null').map((e) => e.kind));
        const rawOk = evals.every((e) => e.raw) && kinds.size <= 1;
        const jsonOk = evals.every((e) => e.json);
        if (!rawOk && !jsonOk && evals.every((e) => e.raw || e.json)) {
          const sample = evals.filter((e) => e.kind !== 'null').slice(0, 3).map((e) => e.detail()).join('; ');
          this.fail('d', `${s.format}:column-mixes-representations`, `${o.key}: column "${clip(k, 40)}" holds values of JSON types ${JSON.stringify([...kinds])} neither all raw of one type nor all JSON text: ${sample}`);
        }
      }
    }

    // DuckDB: same rows, NULL where null is meant and '' where the empty string is.
    const duck = o.readers['duckdb-csv'];
    // Quoted line breaks: see duckdbSkips (DuckDB's sniffer misreads such files; README, Formats).
    if (repr === 'csv' && duck && duck.ok && JSON.stringify(rows).match(/\\[rn]/) === null) {
      const drows = (duck.rows as { a: Tagged[] }).a.map(cells);
      rows.forEach((row, i) => {
        const p = cells(row);
        const d = drows[i];
        if (!d) return;
        const j = p.findIndex((x, k) => !(d[k] === x || (d[k] === null && x === '')));
        if (j !== -1) {
          this.fail('c', 'duckdb-csv-values', `${o.key} row ${i} column ${j} ("${clip(names[j] ?? '?', 40)}"): DuckDB reads ${show(d[j])}, Python csv ${show(p[j])}`);
          return;
        }
        for (const [name, wantNull] of compared[i]?.expectNull ?? []) {
          const k = views[i].index(name);
          if (k < 0 || d[k] === undefined) continue;
          if (wantNull && d[k] !== null) this.fail('d', 'csv:null-vs-empty', `${o.key} row ${i} column "${clip(name, 40)}": null expected, DuckDB reads ${show(d[k])}`);
          if (!wantNull && d[k] !== '') this.fail('d', 'csv:null-vs-empty', `${o.key} row ${i} column "${clip(name, 40)}": the empty string expected, DuckDB reads ${show(d[k])}`);
        }
      });
    }
    for (const name of ['duckdb-parquet', 'duckdb-csv']) {
      const rd = o.readers[name];
      if (rd && rd.ok && Array.isArray(rd.resolution)) {
        for (const p of (rd.resolution as { name: string; detail: string }[]).slice(0, 3)) {
          this.fail('c', `${name}:name-resolution`, `${o.key}: DuckDB resolves column "${clip(p.name, 40)}" by name to other values than the reader finds at its position: ${p.detail}`);
        }
      }
    }
  }
}

function jsonlField(row: Tagged, f: Field): Tagged | undefined {
  if (row === null || typeof row !== 'object' || !('o' in row)) return undefined;
  const hit = row.o.find(([k]) => k === f);
  return hit ? hit[1] : undefined;
}

/** Column order of inferred fields over an object's records: JavaScript property order, and source order. */
function inferredOrders(recs: readonly InRec[]): string[][] {
  const js: string[] = [];
  const src: string[] = [];
  const seenJs = new Set<string>();
  const seenSrc = new Set<string>();
  for (const rec of recs) {
    const j = rec.json();
    if (!j || j.t !== 'obj') continue;
    const probe = Object.fromEntries(j.members.map((m) => [m.k, 0]));
    for (const k of Object.keys(probe)) if (!seenJs.has(k)) { seenJs.add(k); js.push(k); }
    for (const m of j.members) if (!seenSrc.has(m.k)) { seenSrc.add(m.k); src.push(m.k); }
  }
  return js.join('\u0000') === src.join('\u0000') ? [js] : [js, src];
}

/** A short class for a difference message (the field it is about). */
function kindOf(diff: string, fallback: string): string {
  const m = /^(value|key|headers|topic|partition|offset|timestamp|envelope|line|no column|column|field "[^"]*" \([a-z-]+\)|field "[^"]*" has no column|field)/.exec(diff);
  if (!m) return fallback;
  return m[1].replace(/"[^"]*"/, '…');
}

/** Failures grouped for a message: one line per kind, with its first detail. */
export function summarizeFailures(failures: readonly Failure[], max = 12): string {
  const byKind = new Map<string, Failure[]>();
  for (const f of failures) (byKind.get(`(${f.assertion}) ${f.kind}`) ?? byKind.set(`(${f.assertion}) ${f.kind}`, []).get(`(${f.assertion}) ${f.kind}`)!).push(f);
  const lines = [...byKind].slice(0, max).map(([k, fs]) => `${k}${fs.length > 1 ? ` ×${fs.length}` : ''}: ${fs[0].detail}`);
  if (byKind.size > max) lines.push(`… and ${byKind.size - max} more kinds`);
  return lines.join('\n');
}

/** The reader process (venv python from scripts/infra/paths.sh, as test/support/readers.ts finds it). */
export async function startReaders(): Promise<ReaderPool> {
  const { infraPaths, REPO_ROOT } = await import('./versitygw.ts');
  const { pyVenvPython } = await infraPaths();
  return ReaderPool.start(pyVenvPython, join(REPO_ROOT, 'test/readers/read_many.py'));
}

export async function readersAvailable(): Promise<string | undefined> {
  const { access, constants } = await import('node:fs/promises');
  const { infraPaths } = await import('./versitygw.ts');
  try {
    const { pyVenvPython } = await infraPaths();
    await access(pyVenvPython, constants.X_OK);
    return undefined;
  } catch (err) {
    return `the reader venv is not installed (bash scripts/infra/install-python.sh): ${(err as Error).message}`;
  }
}

// ============================================================================================= large events

/** The Lambda invoke payload limit: what one Kafka batch can weigh. */
export const PAYLOAD_LIMIT = 6 * 1024 * 1024;
export const MAX_BATCH_RECORDS = 10_000;

const TINY_VALUES: BytesField[] = [
  '{}', '{"id":9007199254740993}', '{"amount":1.5}', '{"amount":9007199254740993}', '{"Id":1,"id":2}', '{"a":1,"a":2}', '5', '"x"',
  '{"a":"\\ud800"}', '{"_KAFKA_offset":5}', '{"":1}', '{"__proto__":{"x":1}}', '{"a":1e400}', '{"a":1e-400}', '{"n":0.1234567890123456789}',
  '{"s":"\u2028\u0085"}', '{"s":"a\\u000bb\\fc"}', 'null', '[]', '{"id":1,"name":"ok"}', '{"constructor":"x"}', '  {"a" :\n 1}  ',
].map((t) => ({ kind: 'bytes', bytes: utf8(t) }) as BytesField).concat(
  INVALID_UTF8.map((b) => ({ kind: 'bytes', bytes: new Uint8Array(b) }) as BytesField),
  [{ kind: 'null' }, { kind: 'bytes', bytes: utf8('plain text\u2028line') }, { kind: 'bytes', bytes: new Uint8Array([10, 0, 0x1e, 13]) }],
);

const tinyRecord: fc.Arbitrary<RecordSpec> = fc.oneof(
  { weight: 2, arbitrary: benignRecord },
  {
    weight: 3,
    arbitrary: fc.record({
      ts: fc.oneof({ weight: 4, arbitrary: benignTimestamp }, { weight: 1, arbitrary: hostileTimestamp }),
      key: fc.oneof({ weight: 3, arbitrary: benignKey }, { weight: 1, arbitrary: hostileKey }),
      value: fc.constantFrom(...TINY_VALUES),
      headers: fc.oneof({ weight: 3, arbitrary: benignHeaders }, { weight: 1, arbitrary: hostileHeaders }),
    }).map((r): RecordSpec => ({ ...r, benign: false })),
  },
);

/** Values of hundreds of kilobytes to megabytes. */
const hugeValue: fc.Arbitrary<BytesField> = fc.record({
  kind: fc.constantFrom('string', 'numbers', 'text', 'wide', 'deep', 'whitespace', 'bytes'),
  size: fc.integer({ min: 100_000, max: 1_400_000 }),
  piece: fc.constantFrom(...STRING_PIECES),
  number: fc.constantFrom(...EXTREME_NUMBERS),
}).map(({ kind, size, piece, number }): BytesField => {
  switch (kind) {
    case 'string': {
      const n = Math.max(1, Math.floor(size / Math.max(1, piece[1].length)));
      return jsonValueField(jobj([['id', jnum('1')], ['s', { t: 'str', v: piece[0].repeat(n), src: `"${piece[1].repeat(n)}"` }]]), { kind: 'compact' }, 'huge string');
    }
    case 'numbers': {
      const items: JNode[] = [];
      for (let k = 0; k * (number.length + 1) < size; k++) items.push(jnum(k % 2 ? number : String(k)));
      return jsonValueField(jobj([['id', jnum('2')], ['n', { t: 'arr', items }]]), { kind: 'compact' }, 'huge array');
    }
    case 'text': return { kind: 'bytes', bytes: utf8(`${'word \u2028 é '.repeat(Math.floor(size / 14))}end`), note: 'huge text' };
    case 'wide': {
      const members: [string, JNode][] = [];
      for (let k = 0; k * 14 < Math.min(size, 60_000); k++) members.push([`w${k}`, jnum(String(k))]);
      return jsonValueField(jobj(members), { kind: 'compact' }, 'wide');
    }
    case 'deep': {
      let node: JNode = jnum('0');
      for (let d = 0; d < Math.min(size / 2, 200_000); d++) node = { t: 'arr', items: [node] };
      return jsonValueField(jobj([['deep', node]]), { kind: 'compact' }, 'deep');
    }
    case 'whitespace':
      return jsonValueField(jobj([['a', jnum('1')], ['b', jstr('x')]]), { kind: 'run', length: Math.min(size, 100_000), at: 3, chars: ' ', lead: '\n' }, 'whitespace run');
    case 'bytes': {
      const b = new Uint8Array(size);
      for (let k = 0; k < size; k++) b[k] = (k * 2654435761) >>> 24;
      return { kind: 'bytes', bytes: b, note: 'huge binary' };
    }
  }
  throw new Error(kind);
});

function replicate(pool: readonly RecordSpec[], lists: number, total: number): EventSpec {
  const specs: ListSpec[] = [];
  const per = Math.ceil(total / lists);
  for (let p = 0; p < lists; p++) {
    const records: RecordSpec[] = [];
    for (let k = 0; k < per && p * per + k < total; k++) records.push(pool[(p * per + k) % pool.length]);
    if (records.length === 0) continue;
    specs.push({ rkey: `orders-${p}`, topic: 'orders', partition: p, offsetsAsStrings: false, offsets: offsetsFor(1_000_000n, [1], records.length), records });
  }
  return fitPayload({ source: 'aws:kafka', lists: specs, oddKeys: false, atScale: true });
}

/** Drops records from the end until the event text is within the 6 MB invoke payload. */
export function fitPayload(e: EventSpec): EventSpec {
  let cur = e;
  for (;;) {
    const size = Buffer.byteLength(eventText(cur));
    if (size <= PAYLOAD_LIMIT) return cur;
    const total = cur.lists.reduce((n, l) => n + l.records.length, 0);
    const keep = Math.max(1, Math.floor(total * (PAYLOAD_LIMIT / size) * 0.98));
    if (keep >= total && total === 1) return cur;
    let left = Math.min(keep, total - 1);
    const lists: ListSpec[] = [];
    for (const l of cur.lists) {
      const n = Math.min(left, l.records.length);
      left -= n;
      if (n > 0) lists.push({ ...l, records: l.records.slice(0, n), offsets: l.offsets.slice(0, n) });
    }
    cur = { ...cur, lists };
  }
}

/** Events at the limits: 10,000 tiny records; records filling 6 MB; a few values of megabytes. */
export function largeEvent(): fc.Arbitrary<EventSpec> {
  return fc.oneof(
    fc.record({ pool: fc.array(tinyRecord, { minLength: 5, maxLength: 40 }), lists: fc.integer({ min: 1, max: 3 }) })
      .map(({ pool, lists }) => replicate(pool, lists, MAX_BATCH_RECORDS)),
    fc.record({ pool: fc.array(anyRecord, { minLength: 5, maxLength: 40 }), lists: fc.integer({ min: 1, max: 3 }) })
      .map(({ pool, lists }) => replicate(pool, lists, MAX_BATCH_RECORDS)),
    fc.record({ values: fc.array(hugeValue, { minLength: 1, maxLength: 5 }), ts: benignTimestamp })
      .map(({ values, ts }) => replicate(values.map((value) => ({ ts, key: { kind: 'null' }, value, headers: { kind: 'list', entries: [] }, benign: false })), 1, values.length)),
  );
}

export function largeCase(format: Format): fc.Arbitrary<HostileCase> {
  return fc.record({ settings: settingsFor(format), event: largeEvent() }).map(({ settings, event }) => {
    // Thousands of objects (one record each) would measure the readers, not the sink.
    const env = { ...settings.env };
    delete env.MAX_RECORDS_PER_OBJECT;
    let separator = settings.separator;
    if (env.BYTES_SEPARATOR === '') {
      delete env.BYTES_SEPARATOR;
      separator = Buffer.from('\n');
    }
    if (env.KEY_TEMPLATE === KEY_TEMPLATES.time) delete env.KEY_TEMPLATE;
    return withToString({ settings: { ...settings, env, separator }, event });
  });
}
