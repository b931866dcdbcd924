/**
 * Object key templates: parsing (a bad template is a configuration error) and rendering. Record-level variables
 * ({{timestamp:…}}, {{key}}, {{value.<field>}}) decide which object a record goes to; object-level variables
 * ({{start_offset}}, {{end_offset}}) are filled in once the object's offset range is known.
 */
import { createHash } from 'node:crypto';
import { Limits } from './constants.ts';

export type TemplatePart =
  | { readonly kind: 'literal'; readonly text: string }
  | { readonly kind: 'topic' | 'partition' | 'start_offset' | 'end_offset' | 'key' }
  | { readonly kind: 'timestamp'; readonly pattern: readonly TimePart[] }
  | { readonly kind: 'value'; readonly path: readonly string[] };

export type TimePart = { readonly token: 'yyyy' | 'MM' | 'dd' | 'HH' | 'mm' | 'ss' | 'SSS' } | { readonly literal: string };

export interface KeyTemplate {
  readonly source: string;
  readonly parts: readonly TemplatePart[];
  readonly usesTimestamp: boolean;
  readonly usesKey: boolean;
  readonly valuePaths: readonly (readonly string[])[];
}

const TIME_TOKEN = /yyyy|MM|dd|HH|mm|ss|SSS/g;
const SAFE_LITERAL = /^[A-Za-z0-9!\-_.*'()=+/:@, ]*$/;

function parseTimePattern(pattern: string): TimePart[] {
  if (pattern.length === 0) throw new Error('{{timestamp:…}} needs a pattern such as yyyy-MM-dd');
  const parts: TimePart[] = [];
  let last = 0;
  for (const m of pattern.matchAll(TIME_TOKEN)) {
    if (m.index > last) parts.push({ literal: pattern.slice(last, m.index) });
    parts.push({ token: m[0] as 'yyyy' });
    last = m.index + m[0].length;
  }
  if (last < pattern.length) parts.push({ literal: pattern.slice(last) });
  for (const p of parts) {
    if ('literal' in p && (/[A-Za-z]/.test(p.literal) || !SAFE_LITERAL.test(p.literal))) {
      throw new Error(`timestamp pattern "${pattern}": unknown token "${p.literal}" (tokens: yyyy MM dd HH mm ss SSS)`);
    }
  }
  return parts;
}

export function parseKeyTemplate(source: string): KeyTemplate {
  const parts: TemplatePart[] = [];
  const re = /\{\{([^{}]*)\}\}/g;
  let last = 0;
  for (const m of source.matchAll(re)) {
    if (m.index > last) parts.push({ kind: 'literal', text: source.slice(last, m.index) });
    const expr = m[1].trim();
    if (expr === 'topic' || expr === 'partition' || expr === 'start_offset' || expr === 'end_offset' || expr === 'key') {
      parts.push({ kind: expr });
    } else if (expr.startsWith('timestamp:')) {
      parts.push({ kind: 'timestamp', pattern: parseTimePattern(expr.slice('timestamp:'.length)) });
    } else if (expr.startsWith('value.') && /^value(\.[A-Za-z0-9_$-]+)+$/.test(expr)) {
      parts.push({ kind: 'value', path: expr.split('.').slice(1) });
    } else {
      throw new Error(
        `unknown variable {{${expr}}}; use topic, partition, start_offset, end_offset, timestamp:<pattern>, key, value.<field>`,
      );
    }
    last = m.index + m[0].length;
  }
  if (last < source.length) parts.push({ kind: 'literal', text: source.slice(last) });

  for (const p of parts) {
    if (p.kind !== 'literal') continue;
    if (p.text.includes('{{') || p.text.includes('}}')) throw new Error(`unbalanced braces in "${p.text}"`);
    if (!SAFE_LITERAL.test(p.text)) throw new Error(`literal text "${p.text}" has characters that are unsafe in S3 keys`);
  }
  const literalOnly = parts.map((p) => (p.kind === 'literal' ? p.text : 'x')).join('');
  if (literalOnly.startsWith('/') || literalOnly.includes('//') || literalOnly.split('/').some((s) => s === '..' || s === '.')) {
    throw new Error('must not start with "/", contain "//", or have "." or ".." segments');
  }
  // Keys must identify an object uniquely per batch of one partition, or a batch would overwrite another's data.
  for (const needed of ['topic', 'partition', 'start_offset'] as const) {
    if (!parts.some((p) => p.kind === needed)) {
      throw new Error(`must contain {{${needed}}} so that every object key is unique (see "Object keys" in the README)`);
    }
  }
  // Two variables side by side, or digits right after {{partition}}, could render two different objects' keys the
  // same (topic "t1" + partition 1 = topic "t" + partition 11): a literal must separate them.
  for (let i = 1; i < parts.length; i++) {
    const prev = parts[i - 1];
    const cur = parts[i];
    if (prev.kind !== 'literal' && cur.kind !== 'literal') {
      throw new Error('variables must be separated by literal text (e.g. {{topic}}+{{partition}}), or two objects could get the same key');
    }
    if (prev.kind === 'partition' && cur.kind === 'literal' && /^\d/.test(cur.text)) {
      throw new Error('{{partition}} must not be followed by a digit, or two partitions could give the same key');
    }
  }
  const last2 = parts[parts.length - 1];
  if (last2.kind === 'literal' && last2.text.endsWith('/')) throw new Error('must not end with "/" (the file name comes last)');
  return {
    source,
    parts,
    usesTimestamp: parts.some((p) => p.kind === 'timestamp'),
    usesKey: parts.some((p) => p.kind === 'key'),
    valuePaths: parts.flatMap((p) => (p.kind === 'value' ? [p.path] : [])),
  };
}

/** Makes a piece of record data safe as (part of) one key segment: no '/', control characters or '..'. */
const safeCache = new Map<string, string>();
let safeCacheChars = 0;
/** Values longer than this are hashed anyway and not worth caching; the cache holds at most ~4 MB of text. */
const CACHEABLE_CHARS = 256;
const CACHE_MAX_CHARS = 2 * 1024 * 1024;

/** Characters the cache holds now (its bound is tested). */
export const safeKeyCacheChars = (): number => safeCacheChars;

export function safeKeyValue(raw: string | null | undefined): string {
  if (raw === null || raw === undefined) return '_null';
  if (raw === '') return '_empty';
  if (raw.length > CACHEABLE_CHARS) return makeSafe(raw);
  let cached = safeCache.get(raw);
  if (cached === undefined) {
    cached = makeSafe(raw);
    // Topics and low-cardinality keys repeat in every batch; the bound (by size, not entries) keeps high-cardinality
    // values from growing a warm container's heap.
    if (safeCacheChars > CACHE_MAX_CHARS) {
      safeCache.clear();
      safeCacheChars = 0;
    }
    safeCache.set(raw, cached);
    safeCacheChars += raw.length + cached.length;
  }
  return cached;
}

function makeSafe(raw: string): string {
  // The data values "_null" and "_empty" must not share a prefix with a missing or empty value.
  if (raw === '_null' || raw === '_empty') return `%5F${raw.slice(1)}`;
  let out = '';
  for (const ch of raw) {
    if (/^[A-Za-z0-9\-_.=+@,]$/.test(ch)) out += ch;
    else for (const b of Buffer.from(ch, 'utf8')) out += `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
    // Past 128 characters only the first 96 are kept (plus a hash of the whole): a long value costs no more.
    if (out.length > 140) break;
  }
  out = out.replace(/\.(?=\.)/g, '%2E');
  if (out === '.') out = '%2E';
  if (out.length > 128) {
    // Long values keep a readable head and a hash so different values never share a key.
    out = `${out.slice(0, 96)}~${createHash('sha256').update(raw).digest('hex').slice(0, 16)}`;
  }
  return out;
}

const pad2 = (n: number) => (n < 10 ? `0${n}` : String(n));

/** Formats epoch milliseconds with a parsed pattern in a time zone. Offsets are cached per minute. */
export class TimeFormatter {
  private readonly dtf: Intl.DateTimeFormat | undefined;
  private readonly offsets = new Map<number, number>();
  readonly timezone: string;
  constructor(timezone: string) {
    this.timezone = timezone;
    this.dtf = timezone === 'UTC' || timezone === 'Etc/UTC'
      ? undefined
      : new Intl.DateTimeFormat('en-US', {
        timeZone: timezone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric',
        hour: 'numeric', minute: 'numeric', second: 'numeric',
      });
  }

  /** Offset of the zone from UTC in ms at this instant (zone transitions fall on whole minutes). */
  private offsetAt(ms: number): number {
    if (!this.dtf) return 0;
    const minute = Math.floor(ms / 60_000);
    let off = this.offsets.get(minute);
    if (off === undefined) {
      const at = minute * 60_000;
      const p: Record<string, number> = {};
      for (const part of this.dtf.formatToParts(at)) if (part.type !== 'literal') p[part.type] = Number(part.value);
      off = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second) - at;
      if (this.offsets.size > 10_000) this.offsets.clear();
      this.offsets.set(minute, off);
    }
    return off;
  }

  format(ms: number, pattern: readonly TimePart[]): string {
    const d = new Date(ms + this.offsetAt(ms));
    let out = '';
    for (const p of pattern) {
      if ('literal' in p) out += p.literal;
      else if (p.token === 'yyyy') out += String(d.getUTCFullYear()).padStart(4, '0');
      else if (p.token === 'MM') out += pad2(d.getUTCMonth() + 1);
      else if (p.token === 'dd') out += pad2(d.getUTCDate());
      else if (p.token === 'HH') out += pad2(d.getUTCHours());
      else if (p.token === 'mm') out += pad2(d.getUTCMinutes());
      else if (p.token === 'ss') out += pad2(d.getUTCSeconds());
      else out += String(d.getUTCMilliseconds()).padStart(3, '0');
    }
    return out;
  }
}

export const padOffset = (offset: bigint): string => offset.toString().padStart(Limits.offsetPadding, '0');

/** What the record-level variables of a template need from one record. */
export interface KeyInputs {
  readonly topic: string;
  readonly partition: number;
  readonly timeMs: number;
  readonly keyText: string | null;
  readonly valueField: (path: readonly string[]) => string | null | undefined;
}

/** Placeholders the partitioner leaves for the object-level variables. */
export const START_MARK = '\u0000S';
export const END_MARK = '\u0000E';

/** Renders the record-level part of a template: the result identifies the record's prefix group. */
export function renderRecordKey(t: KeyTemplate, fmt: TimeFormatter, r: KeyInputs): string {
  let out = '';
  for (const p of t.parts) {
    switch (p.kind) {
      case 'literal': out += p.text; break;
      case 'topic': out += safeKeyValue(r.topic); break;
      case 'partition': out += String(r.partition); break;
      case 'start_offset': out += START_MARK; break;
      case 'end_offset': out += END_MARK; break;
      case 'key': out += safeKeyValue(r.keyText); break;
      case 'timestamp': out += fmt.format(r.timeMs, p.pattern); break;
      case 'value': out += safeKeyValue(r.valueField(p.path)); break;
    }
  }
  return out;
}

/** Fills in the object-level variables. */
export function renderObjectKey(groupKey: string, start: bigint, end: bigint): string {
  return groupKey.replaceAll(START_MARK, padOffset(start)).replaceAll(END_MARK, padOffset(end));
}
