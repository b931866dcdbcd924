/**
 * Avro values of a registry schema: the schema (JSON text, with the schemas it references) compiled to a type tree,
 * and a payload decoded by it from Avro's binary encoding (https://avro.apache.org/docs/1.12.0/specification/).
 *
 * avsc checks the schema (names, defaults, references) but does not decode: its logical types sit on its own long,
 * which refuses integers beyond 2^53 (a timestamp-nanos of today is beyond), and its decoded graph would be walked
 * again to write JSON. The binary reader here is small (varints, lengths, blocks) and keeps every long exact.
 */
import avro from 'avsc';
import { RecordError } from '../errors.ts';
import { bigintOfBytes, logicalInRange, MAX_DEPTH, UnionValue, type Logical, type RField, type RType } from './types.ts';

const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

const PRIMITIVES = new Set(['null', 'boolean', 'int', 'long', 'float', 'double', 'bytes', 'string']);
const LOGICAL_ON: Record<string, readonly string[]> = {
  date: ['int'], 'time-millis': ['int'], 'time-micros': ['long'], 'timestamp-millis': ['long'], 'timestamp-micros': ['long'],
  'timestamp-nanos': ['long'], 'local-timestamp-millis': ['long'], 'local-timestamp-micros': ['long'], 'local-timestamp-nanos': ['long'],
  uuid: ['string', 'fixed'], decimal: ['bytes', 'fixed'],
};

type Json = Record<string, unknown>;

/** Values one payload may build beyond one per payload byte (see Reader.items). */
const MAX_ITEMS = 1_000_000;
const MAX_DECIMAL_PRECISION = 1000;

/**
 * Compiles an Avro schema to a type tree. `references` are the schemas it names (Confluent schema references), in
 * the order they must be read (a reference's own references first). Throws Error when the schema is not Avro.
 */
export function compileAvro(text: string, references: readonly string[] = []): RType {
  const parsed: unknown[] = [];
  const registry = {};
  for (const t of [...references, text]) {
    const json = JSON.parse(t) as unknown;
    // avsc validates names, defaults and references and fails with a message naming the problem.
    avro.Type.forSchema(json as avro.Schema, { registry, wrapUnions: true });
    parsed.push(json);
  }
  const named = new Map<string, RType>();
  let root: RType = { kind: 'null' };
  for (const json of parsed) root = compile(json, '', named);
  return root;
}

function fullName(name: string, namespace: string): string {
  return name.includes('.') || namespace === '' ? name : `${namespace}.${name}`;
}

function logicalOf(s: Json, base: string): Logical | undefined {
  const l = s.logicalType;
  if (typeof l !== 'string' || !LOGICAL_ON[l]?.includes(base)) return undefined; // unknown logical types read as their base type (the spec)
  if (l === 'decimal') {
    const precision = Number(s.precision);
    const scale = s.scale === undefined ? 0 : Number(s.scale);
    if (!Number.isInteger(precision) || precision < 1 || !Number.isInteger(scale) || scale < 0 || scale > precision) return undefined;
    // Readers hold 38 (decimal128) or 76 (decimal256) digits; far beyond, the digits' text costs time for nothing.
    if (precision > MAX_DECIMAL_PRECISION) throw new Error(`decimal precision ${precision} is beyond ${MAX_DECIMAL_PRECISION} digits`);
    return { kind: 'decimal', precision, scale };
  }
  if (l === 'uuid' && base === 'fixed' && s.size !== 16) return undefined;
  return { kind: l } as Logical;
}

function compile(s: unknown, namespace: string, named: Map<string, RType>): RType {
  if (typeof s === 'string') {
    if (PRIMITIVES.has(s)) return { kind: s } as RType;
    const t = named.get(fullName(s, namespace)) ?? named.get(s);
    if (!t) throw new Error(`Avro schema names an unknown type "${s}"`);
    return t;
  }
  if (Array.isArray(s)) return { kind: 'union', branches: s.map((b) => compile(b, namespace, named)) };
  const o = s as Json;
  const type = o.type;
  if (typeof type !== 'string') return compile(type, namespace, named);
  switch (type) {
    case 'record': case 'error': {
      const name = fullName(o.name as string, typeof o.namespace === 'string' ? o.namespace : namespace);
      const ns = name.includes('.') ? name.slice(0, name.lastIndexOf('.')) : '';
      const fields: RField[] = [];
      const t: RType = { kind: 'record', name, fields };
      named.set(name, t);
      for (const f of o.fields as Json[]) fields.push({ name: f.name as string, type: compile(f.type, ns, named) });
      return t;
    }
    case 'enum': {
      const name = fullName(o.name as string, typeof o.namespace === 'string' ? o.namespace : namespace);
      const t: RType = { kind: 'enum', name, symbols: o.symbols as string[] };
      named.set(name, t);
      return t;
    }
    case 'fixed': {
      const name = fullName(o.name as string, typeof o.namespace === 'string' ? o.namespace : namespace);
      const t: RType = { kind: 'fixed', name, size: o.size as number, logical: logicalOf(o, 'fixed') };
      named.set(name, t);
      return t;
    }
    case 'array': return { kind: 'array', items: compile(o.items, namespace, named) };
    case 'map': return { kind: 'map', values: compile(o.values, namespace, named) };
    default: {
      if (PRIMITIVES.has(type)) {
        const logical = logicalOf(o, type);
        return logical ? ({ kind: type, logical } as RType) : ({ kind: type } as RType);
      }
      return compile(type, namespace, named);
    }
  }
}

/** Reads Avro's binary encoding. Every problem is a RecordError naming where the bytes stop making sense. */
class Reader {
  pos: number;
  private readonly buf: Buffer;
  /** Values left to build: a value of a type that takes no bytes (null, an empty record, a record of such) costs
   * time and memory but no payload, so the payload's size alone does not bound the work (a schema that nests one
   * record type twice per level doubles the values per level). */
  private items: number;
  constructor(buf: Buffer, pos: number) {
    this.buf = buf;
    this.pos = pos;
    this.items = MAX_ITEMS + buf.length;
  }

  fail(why: string): never {
    throw new RecordError('decode', `value does not decode with its Avro schema: ${why} (at byte ${this.pos})`);
  }

  /** A zigzag varint long: a number when a double holds it, else a bigint. */
  long(): number | bigint {
    const buf = this.buf;
    let n = 0;
    let mul = 1;
    let b: number;
    // Up to 7 groups (49 bits) in doubles: exact. Beyond, the rest is read as a bigint.
    for (let i = 0; i < 7; i++) {
      if (this.pos >= buf.length) this.fail('the payload ends inside a number');
      b = buf[this.pos++];
      n += (b & 0x7f) * mul;
      if ((b & 0x80) === 0) return n % 2 === 0 ? n / 2 : -(n + 1) / 2;
      mul *= 128;
    }
    let big = BigInt(n);
    let shift = 49n;
    for (;;) {
      if (this.pos >= buf.length) this.fail('the payload ends inside a number');
      b = buf[this.pos++];
      big |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) break;
      shift += 7n;
      if (shift > 63n) this.fail('a long is longer than 10 bytes');
    }
    big = BigInt.asUintN(64, big);
    const v = (big >> 1n) ^ -(big & 1n);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  }

  int(): number {
    const v = this.long();
    if (typeof v !== 'number' || v < -(2 ** 31) || v > 2 ** 31 - 1) this.fail(`an int is out of range (${v})`);
    return v;
  }

  count(what: string): number {
    const n = this.long();
    if (typeof n !== 'number' || n < 0 || n > this.buf.length - this.pos) this.fail(`a ${what} length ${n} is beyond the payload`);
    return n;
  }

  bytes(n: number): Buffer {
    if (n > this.buf.length - this.pos) this.fail(`${n} bytes are announced, ${this.buf.length - this.pos} remain`);
    const out = Buffer.from(this.buf.subarray(this.pos, this.pos + n)); // a copy: values outlive the event
    this.pos += n;
    return out;
  }

  string(): string {
    const n = this.count('string');
    const bytes = this.buf.subarray(this.pos, this.pos + n);
    const s = bytes.toString('utf8');
    // Invalid UTF-8 would be replaced silently (U+FFFD): a string that does not round-trip is not text.
    if (s.includes('\ufffd') && !Buffer.from(s, 'utf8').equals(bytes)) this.fail('a string is not valid UTF-8');
    this.pos += n;
    return s;
  }

  /** Array or map blocks: count (negative: followed by the block's byte size), until a zero count. */
  blocks(each: () => void): void {
    for (;;) {
      let n = this.long();
      if (n === 0) return;
      if (typeof n !== 'number') this.fail('a block count is beyond any payload');
      if (n < 0) {
        n = -n;
        this.long(); // the block's size in bytes, for readers that skip
      }
      if (n > this.items) this.tooMany();
      for (let i = 0; i < n; i++) each();
    }
  }

  tooMany(): never {
    this.fail(`the value holds more than ${MAX_ITEMS} values beyond one per payload byte (arrays, maps, or a schema that repeats nested records)`);
  }

  /**
   * A decimal's digits fit its precision (readers such as pyarrow refuse more; fastavro reads a wrong number). Writers
   * sign-extend to a fixed's size or add sign bytes, so those are skipped before the digits are counted, which keeps
   * the count's cost bounded by the precision.
   */
  decimal(t: RType, b: Buffer): Buffer {
    const l = 'logical' in t ? t.logical : undefined;
    if (l?.kind !== 'decimal') return b;
    let i = 0;
    while (i < b.length - 1 && ((b[i] === 0 && !(b[i + 1] & 0x80)) || (b[i] === 0xff && b[i + 1] & 0x80))) i++;
    const needed = Math.ceil((l.precision * Math.log2(10) + 1) / 8);
    if (b.length - i > needed) this.fail(`a decimal(${l.precision}, ${l.scale}) of ${b.length - i} significant bytes, more than its precision allows`);
    const n = bigintOfBytes(b.subarray(i));
    const digits = (n < 0n ? -n : n).toString().length;
    if (n !== 0n && digits > l.precision) this.fail(`a decimal(${l.precision}, ${l.scale}) holding ${digits} digits`);
    return b;
  }

  /** A logical value that readers hold (years 0001–9999, a time within a day, a UUID's text), or a record error. */
  logical(t: RType, v: unknown): unknown {
    const l = 'logical' in t ? t.logical : undefined;
    if (!l || l.kind === 'decimal') return v;
    if (l.kind === 'uuid') {
      if (typeof v === 'string' && !UUID.test(v)) this.fail(`a uuid ${JSON.stringify(v.slice(0, 40))} that is not a UUID`);
      return v;
    }
    if (!logicalInRange(l.kind, v as number | bigint)) this.fail(`a ${l.kind} of ${String(v)}, outside what readers hold (years 0001–9999, times within a day)`);
    return v;
  }

  value(t: RType, depth: number): unknown {
    if (depth > MAX_DEPTH) this.fail(`values nest deeper than ${MAX_DEPTH} levels`);
    if (--this.items < 0) this.tooMany();
    if ('logical' in t && t.logical) return this.logical(t, this.plain(t, depth));
    return this.plain(t, depth);
  }

  plain(t: RType, depth: number): unknown {
    const buf = this.buf;
    switch (t.kind) {
      case 'null': return null;
      case 'boolean': {
        if (this.pos >= buf.length) this.fail('the payload ends inside a boolean');
        const b = buf[this.pos++];
        if (b > 1) this.fail(`a boolean byte is ${b}`);
        return b === 1;
      }
      case 'int': return this.int();
      case 'long': return this.long();
      case 'float': {
        if (this.pos + 4 > buf.length) this.fail('the payload ends inside a float');
        const v = buf.readFloatLE(this.pos);
        this.pos += 4;
        return v;
      }
      case 'double': {
        if (this.pos + 8 > buf.length) this.fail('the payload ends inside a double');
        const v = buf.readDoubleLE(this.pos);
        this.pos += 8;
        return v;
      }
      case 'bytes': return this.decimal(t, this.bytes(this.count('bytes')));
      case 'string': return this.string();
      case 'fixed': return this.decimal(t, this.bytes(t.size));
      case 'enum': {
        const i = this.int();
        if (i < 0 || i >= t.symbols.length) this.fail(`enum ${t.name} has no symbol ${i}`);
        return t.symbols[i];
      }
      case 'array': {
        const out: unknown[] = [];
        this.blocks(() => out.push(this.value(t.items, depth + 1)));
        return out;
      }
      case 'map': {
        const out = Object.create(null) as Record<string, unknown>;
        this.blocks(() => {
          const k = this.string();
          out[k] = this.value(t.values, depth + 1);
        });
        return out;
      }
      case 'record': {
        const out = Object.create(null) as Record<string, unknown>;
        for (const f of t.fields) out[f.name] = this.value(f.type, depth + 1);
        return out;
      }
      case 'union': {
        const i = this.long();
        if (typeof i !== 'number' || i < 0 || i >= t.branches.length) this.fail(`union branch ${i} of ${t.branches.length}`);
        return new UnionValue(i, this.value(t.branches[i], depth + 1));
      }
      default: this.fail(`no Avro reading for ${t.kind}`);
    }
  }
}

/** Decodes one Avro payload that starts at `start` and must end where `payload` does. */
export function decodeAvro(t: RType, payload: Buffer, start: number): unknown {
  const r = new Reader(payload, start);
  const v = r.value(t, 0);
  if (r.pos !== payload.length) r.fail(`${payload.length - r.pos} bytes are left after the value`);
  return v;
}
