/**
 * The registry's schema as columns: a decoded value's type (RType) mapped to the closest Parquet and Avro types, and
 * its values converted for each writer (README, "Schema registry values", the type mapping table).
 *
 * Parquet (hyparquet-writer's nested writer): records → groups; arrays → LIST; maps → MAP with string keys; a union
 * of null and one type → that type, optional; a union of several types → a group of optional `member0`, `member1`, …
 * (one set per row, as Spark maps Avro unions); enums → STRING; decimal → DECIMAL(p, s) on BYTE_ARRAY; date → DATE;
 * time-* → TIME; timestamp-* → TIMESTAMP (UTC; local-timestamp-* not adjusted); Protobuf Timestamp → TIMESTAMP(NANOS);
 * unsigned 64-bit → INT64 UINT_64; a record inside itself (recursion, which Parquet cannot nest) → its JSON text.
 * Avro: the same types as the registry's Avro schema; from Protobuf: messages → records, open enums → string,
 * uint64 → decimal(20, 0), Timestamp → timestamp-nanos.
 */
import { ByteSink } from '../encode/byte-sink.ts';
import { RecordError } from '../errors.ts';
import { bigintOfBytes, decimalText, jsonOf, UnionValue, type RType } from './types.ts';

export interface SchemaElement {
  name: string;
  type?: string;
  type_length?: number;
  repetition_type?: 'REQUIRED' | 'OPTIONAL' | 'REPEATED';
  num_children?: number;
  converted_type?: string;
  logical_type?: Record<string, unknown>;
  precision?: number;
  scale?: number;
}


const NANOS_MIN = -(2n ** 63n);
const NANOS_MAX = 2n ** 63n - 1n;

function pbNanos(v: { seconds: number | bigint; nanos: number }): bigint {
  const n = BigInt(v.seconds) * 1_000_000_000n + BigInt(v.nanos ?? 0);
  if (n < NANOS_MIN || n > NANOS_MAX) {
    throw new RecordError('schema', `a google.protobuf.Timestamp of ${v.seconds} s is outside the years 1677–2262 that a nanosecond timestamp column holds`);
  }
  return n;
}

/** A single non-null branch of a union (a nullable type), or undefined for a union of several. */
function nullableOf(t: RType): RType | undefined {
  if (t.kind !== 'union') return undefined;
  const others = t.branches.filter((b) => b.kind !== 'null');
  return others.length === 1 && t.branches.length === 2 ? others[0] : undefined;
}

/** Whether a value of the type may be null: null itself, or a union with a null branch (its Parquet node OPTIONAL). */
function holdsNull(t: RType): boolean {
  return t.kind === 'null' || (t.kind === 'union' && t.branches.some((b) => b.kind === 'null'));
}

/** The value of a union as its branch's (a UnionValue, or for a nullable column a plain value or null). */
function unionParts(t: Extract<RType, { kind: 'union' }>, v: unknown): [number, unknown] {
  if (v instanceof UnionValue) return [v.branch, v.value];
  if (v === null || v === undefined) return [t.branches.findIndex((b) => b.kind === 'null'), null];
  return [t.branches.findIndex((b) => b.kind !== 'null'), v];
}

// ---------------------------------------------------------------------------------------------------------------
// Parquet

interface ParquetNode {
  /** The column's elements, the first being the column itself (named by the caller). */
  readonly elements: (name: string, repetition: SchemaElement['repetition_type']) => SchemaElement[];
  readonly convert: (v: unknown) => unknown;
}

const leaf = (element: Omit<SchemaElement, 'name' | 'repetition_type'>, convert: (v: unknown) => unknown): ParquetNode => ({
  elements: (name, repetition_type) => [{ name, repetition_type, ...element }],
  convert,
});

const big = (v: unknown) => (v === null || v === undefined ? v : BigInt(v as number | bigint));
const id = (v: unknown) => v;
const utf8 = { type: 'BYTE_ARRAY', converted_type: 'UTF8', logical_type: { type: 'STRING' } } as const;

function timestampLeaf(unit: 'MILLIS' | 'MICROS' | 'NANOS', utc: boolean): Omit<SchemaElement, 'name' | 'repetition_type'> {
  return {
    type: 'INT64',
    ...(utc && unit !== 'NANOS' ? { converted_type: unit === 'MILLIS' ? 'TIMESTAMP_MILLIS' : 'TIMESTAMP_MICROS' } : {}),
    logical_type: { type: 'TIMESTAMP', isAdjustedToUTC: utc, unit },
  };
}

/** Leaf columns a type needs in Parquet (saturating): a schema whose types form a DAG needs 2^depth of them. */
const leafCounts = new WeakMap<RType, number>();
function leaves(t: RType, open: ReadonlySet<RType> = new Set()): number {
  const known = leafCounts.get(t);
  if (known !== undefined) return known;
  if (open.has(t)) return 1; // recursion: JSON text
  const inner = new Set(open).add(t);
  let n: number;
  switch (t.kind) {
    case 'record': n = t.fields.reduce((sum, f) => Math.min(sum + leaves(f.type, inner), MAX_LEAVES + 1), 0) || 1; break;
    case 'array': n = leaves(t.items, inner); break;
    case 'map': n = 1 + leaves(t.values, inner); break;
    case 'union': n = t.branches.reduce((sum, b) => Math.min(sum + (b.kind === 'null' ? 0 : leaves(b, inner)), MAX_LEAVES + 1), 0) || 1; break;
    default: n = 1;
  }
  leafCounts.set(t, n);
  return n;
}

/** Leaf columns one registry column may have in Parquet; a larger type is its JSON text. */
const MAX_LEAVES = 10_000;

/** The Parquet column of a type; records already open above (`open`) become JSON text: Parquet cannot recurse. */
function parquetNode(t: RType, open: ReadonlySet<RType>): ParquetNode {
  if ((t.kind === 'record' || t.kind === 'union' || t.kind === 'array' || t.kind === 'map') && leaves(t) > MAX_LEAVES) {
    return leaf(utf8, (v) => (v === null || v === undefined ? v : jsonOf(t, v)));
  }
  const nullable = nullableOf(t);
  if (nullable) {
    const inner = parquetNode(nullable, open);
    return { elements: (name) => inner.elements(name, 'OPTIONAL'), convert: (v) => inner.convert(v instanceof UnionValue ? v.value : v) };
  }
  const l = 'logical' in t ? t.logical : undefined;
  if (l) {
    switch (l.kind) {
      case 'decimal':
        // Beyond 76 digits (decimal256) readers hold no decimal: its exact text.
        if (l.precision > 76) return leaf(utf8, (v) => (v === null || v === undefined ? v : decimalText(v as Buffer, l.scale)));
        // FIXED_LEN_BYTE_ARRAY of the precision's size: hyparquet-writer writes 0 as no bytes on BYTE_ARRAY, which
        // pyarrow refuses; a fixed length always holds at least one.
        return leaf({
          type: 'FIXED_LEN_BYTE_ARRAY', type_length: Math.ceil((l.precision * Math.log2(10) + 1) / 8), converted_type: 'DECIMAL',
          precision: l.precision, scale: l.scale, logical_type: { type: 'DECIMAL', precision: l.precision, scale: l.scale },
        }, (v) => (v === null || v === undefined ? v : bigintOfBytes(v as Buffer)));
      case 'uuid':
        return leaf(utf8, (v) => (v === null || v === undefined ? v : typeof v === 'string' ? v : JSON.parse(jsonOf(t, v))));
      case 'date': return leaf({ type: 'INT32', converted_type: 'DATE', logical_type: { type: 'DATE' } }, id);
      case 'time-millis': return leaf({ type: 'INT32', converted_type: 'TIME_MILLIS', logical_type: { type: 'TIME', isAdjustedToUTC: false, unit: 'MILLIS' } }, id);
      case 'time-micros': return leaf({ type: 'INT64', converted_type: 'TIME_MICROS', logical_type: { type: 'TIME', isAdjustedToUTC: false, unit: 'MICROS' } }, big);
      default: {
        const unit = l.kind.endsWith('millis') ? 'MILLIS' : l.kind.endsWith('micros') ? 'MICROS' : 'NANOS';
        return leaf(timestampLeaf(unit, !l.kind.startsWith('local-')), big);
      }
    }
  }
  switch (t.kind) {
    case 'null': return leaf(utf8, () => null);
    case 'boolean': return leaf({ type: 'BOOLEAN' }, id);
    case 'int': return leaf({ type: 'INT32' }, id);
    case 'long':
      return t.unsigned ? leaf({ type: 'INT64', converted_type: 'UINT_64' }, big) // hyparquet-writer 0.17 writes an INTEGER logical type pyarrow cannot read: the converted type alone
        : leaf({ type: 'INT64' }, big);
    case 'float': return leaf({ type: 'FLOAT' }, id);
    case 'double': return leaf({ type: 'DOUBLE' }, id);
    case 'string': case 'enum': return leaf(utf8, id);
    case 'bytes': return leaf({ type: 'BYTE_ARRAY' }, (v) => (v === null || v === undefined ? v : new Uint8Array(v as Buffer)));
    case 'fixed':
      // A fixed of no bytes: Parquet has no FIXED_LEN_BYTE_ARRAY of length 0.
      return leaf(t.size > 0 ? { type: 'FIXED_LEN_BYTE_ARRAY', type_length: t.size } : { type: 'BYTE_ARRAY' }, (v) => (v === null || v === undefined ? v : new Uint8Array(v as Buffer)));
    case 'json': return leaf(utf8, (v) => (v === null || v === undefined ? v : jsonOf(t, v)));
    case 'pb-timestamp': return leaf(timestampLeaf('NANOS', true), (v) => (v === null || v === undefined ? v : pbNanos(v as { seconds: number; nanos: number })));
    case 'array': {
      const item = parquetNode(t.items, open);
      const itemNullable = holdsNull(t.items);
      return {
        elements: (name, repetition_type) => [
          { name, repetition_type, num_children: 1, converted_type: 'LIST', logical_type: { type: 'LIST' } },
          { name: 'list', repetition_type: 'REPEATED', num_children: 1 },
          ...item.elements('element', itemNullable ? 'OPTIONAL' : 'REQUIRED'),
        ],
        convert: (v) => (v === null || v === undefined ? v : (v as unknown[]).map(item.convert)),
      };
    }
    case 'map': {
      const value = parquetNode(t.values, open);
      const valueNullable = holdsNull(t.values);
      return {
        elements: (name, repetition_type) => [
          { name, repetition_type, num_children: 1, converted_type: 'MAP', logical_type: { type: 'MAP' } },
          { name: 'key_value', repetition_type: 'REPEATED', num_children: 2 },
          { name: 'key', repetition_type: 'REQUIRED', ...utf8 },
          ...value.elements('value', valueNullable ? 'OPTIONAL' : 'REQUIRED'),
        ],
        convert: (v) => {
          if (v === null || v === undefined) return v;
          const out: { key: string; value: unknown }[] = [];
          for (const k in v as Record<string, unknown>) out.push({ key: k, value: value.convert((v as Record<string, unknown>)[k]) });
          return out;
        },
      };
    }
    case 'record': {
      // A record inside itself (Parquet cannot nest without end), or of no fields (a group needs a child): JSON text.
      if (open.has(t) || t.fields.length === 0) return leaf(utf8, (v) => (v === null || v === undefined ? v : jsonOf(t, v)));
      const inner = new Set(open).add(t);
      const fields = t.fields.map((f) => ({ name: f.name, node: parquetNode(f.type, inner), nullable: holdsNull(f.type) }));
      return {
        elements: (name, repetition_type) => [
          { name, repetition_type, num_children: fields.length },
          ...fields.flatMap((f) => f.node.elements(f.name, f.nullable ? 'OPTIONAL' : 'REQUIRED')),
        ],
        convert: (v) => {
          if (v === null || v === undefined) return v;
          const o = v as Record<string, unknown>;
          const out = Object.create(null) as Record<string, unknown>; // a field named __proto__ stays a field
          for (const f of fields) out[f.name] = f.node.convert(o[f.name]);
          return out;
        },
      };
    }
    case 'union': {
      // Several types: a group of one optional member per non-null branch (the null branch: the group is null).
      const members = t.branches.map((b, i) => ({ i, node: b.kind === 'null' ? undefined : parquetNode(b, open) })).filter((m) => m.node);
      if (members.length === 0) return leaf(utf8, () => null); // a union of null alone
      return {
        elements: (name, repetition_type) => [
          { name, repetition_type, num_children: members.length },
          ...members.flatMap((m, k) => m.node!.elements(`member${k}`, 'OPTIONAL')),
        ],
        convert: (v) => {
          if (v === null || v === undefined) return v;
          const [branch, value] = unionParts(t, v);
          if (branch < 0 || t.branches[branch].kind === 'null') return null;
          const out: Record<string, unknown> = {};
          members.forEach((m, k) => { out[`member${k}`] = m.i === branch ? m.node!.convert(value) : null; });
          return out;
        },
      };
    }
  }
}

const parquetNodes = new WeakMap<RType, ParquetNode>();

/** A registry column's Parquet elements (the column, then its children), optional at the top. */
export function parquetColumn(name: string, t: RType): { elements: SchemaElement[]; convert: (v: unknown) => unknown } {
  let node = parquetNodes.get(t);
  if (!node) parquetNodes.set(t, (node = parquetNode(t, new Set())));
  return { elements: node.elements(name, 'OPTIONAL'), convert: node.convert };
}

// ---------------------------------------------------------------------------------------------------------------
// Avro

/**
 * The Avro schema of a type. Named types are written once (`defined`, shared by the whole file's schema) and named
 * after that. With `logical` false, logical types are left out (what the encoder reads by).
 */
export function avroSchemaOf(t: RType, defined: Set<string>, logical = true): unknown {
  const l = 'logical' in t ? t.logical : undefined;
  const withLogical = (base: Record<string, unknown>): unknown => {
    if (!logical || !l) return Object.keys(base).length === 1 ? base.type : base;
    return { ...base, logicalType: l.kind, ...(l.kind === 'decimal' ? { precision: l.precision, scale: l.scale } : {}) };
  };
  switch (t.kind) {
    case 'null': case 'boolean': case 'int': case 'float': case 'double': case 'string': case 'bytes':
      return withLogical({ type: t.kind });
    case 'long':
      if (t.unsigned) return logical ? { type: 'bytes', logicalType: 'decimal', precision: 20, scale: 0 } : 'bytes';
      return withLogical({ type: 'long' });
    case 'json': return 'string';
    case 'pb-timestamp': return logical ? { type: 'long', logicalType: 'timestamp-nanos' } : 'long';
    case 'enum':
      if (t.open) return 'string';
      if (defined.has(t.name)) return t.name;
      defined.add(t.name);
      return { type: 'enum', name: t.name, symbols: t.symbols };
    case 'fixed': {
      if (defined.has(t.name)) return t.name;
      defined.add(t.name);
      return withLogical({ type: 'fixed', name: t.name, size: t.size });
    }
    case 'array': return { type: 'array', items: avroSchemaOf(t.items, defined, logical) };
    case 'map': return { type: 'map', values: avroSchemaOf(t.values, defined, logical) };
    case 'union': return t.branches.map((b) => avroSchemaOf(b, defined, logical));
    case 'record': {
      if (defined.has(t.name)) return t.name;
      defined.add(t.name);
      return { type: 'record', name: t.name, fields: t.fields.map((f) => ({ name: f.name, type: avroSchemaOf(f.type, defined, logical) })) };
    }
  }
}

const TWO_52 = 2 ** 52;

/** Avro's binary encoding into one growing buffer. */
export class AvroWriter extends ByteSink {
  constructor(size = 1024) {
    super(size);
  }

  long(v: number | bigint): void {
    this.ensure(10);
    // Zigzag doubles a number: exact in a double only below 2^52 in size; larger ones go the BigInt way.
    if (typeof v === 'number' && Number.isInteger(v) && v < TWO_52 && v > -TWO_52) {
      let n = v >= 0 ? v * 2 : -v * 2 - 1;
      while (n >= 0x80) {
        this.buf[this.pos++] = (n % 0x80) | 0x80;
        n = Math.floor(n / 0x80);
      }
      this.buf[this.pos++] = n;
      return;
    }
    let n = BigInt.asUintN(64, (BigInt(v) << 1n) ^ (BigInt(v) >> 63n));
    while (n >= 0x80n) {
      this.buf[this.pos++] = Number(n & 0x7fn) | 0x80;
      n >>= 7n;
    }
    this.buf[this.pos++] = Number(n);
  }

  /** Length-prefixed bytes (Avro bytes). */
  sized(b: Uint8Array): void {
    this.long(b.length);
    this.bytes(b);
  }

  /** An Avro string: its UTF-8 byte count, then its bytes. */
  str(s: string): void {
    const n = s.length;
    // Short ASCII text (most cells): its length is its byte count, and its characters are stored one by one.
    if (n < 128) {
      let k = 0;
      while (k < n && s.charCodeAt(k) < 0x80) k++;
      if (k === n) {
        this.ensure(n + 2); // the length takes 2 bytes from 64 characters on
        const buf = this.buf;
        let p = this.pos;
        buf[p++] = n * 2; // the length, zigzag: one byte below 64
        if (n >= 64) {
          buf[p - 1] = ((n * 2) % 0x80) | 0x80;
          buf[p++] = Math.floor((n * 2) / 0x80);
        }
        for (k = 0; k < n; k++) buf[p++] = s.charCodeAt(k);
        this.pos = p;
        return;
      }
    }
    const bytes = Buffer.byteLength(s);
    this.long(bytes);
    this.ensure(bytes);
    this.pos += this.buf.write(s, this.pos, 'utf8');
  }

  float(v: number): void {
    this.ensure(4);
    this.pos = this.buf.writeFloatLE(v, this.pos);
  }

  double(v: number): void {
    this.ensure(8);
    this.pos = this.buf.writeDoubleLE(v, this.pos);
  }

  boolean(v: boolean): void {
    this.byte(v ? 1 : 0);
  }
}

/** Unsigned 64-bit as the two's-complement bytes of decimal(20, 0). */
function unsignedBytes(v: number | bigint): Buffer {
  let n = BigInt(v);
  const out: number[] = [];
  do {
    out.unshift(Number(n & 0xffn));
    n >>= 8n;
  } while (n > 0n);
  if (out[0] & 0x80) out.unshift(0);
  return Buffer.from(out);
}

/** Writes a value of `t` as `avroSchemaOf(t)` describes it. Throws RecordError for a value the type cannot hold. */
export function writeAvro(t: RType, v: unknown, w: AvroWriter): void {
  switch (t.kind) {
    case 'null': return;
    case 'boolean': w.boolean(v as boolean); return;
    case 'int': w.long(v as number); return;
    case 'long': if (t.unsigned) w.sized(unsignedBytes(v as number | bigint)); else w.long(v as number | bigint); return;
    case 'float': w.float(v as number); return;
    case 'double': w.double(v as number); return;
    case 'string': w.str(v as string); return;
    case 'json': w.str(jsonOf(t, v)); return;
    case 'bytes': w.sized(v as Buffer); return;
    case 'fixed': w.raw(v as Buffer); return;
    case 'pb-timestamp': w.long(pbNanos(v as { seconds: number; nanos: number })); return;
    case 'enum': {
      if (t.open) { w.str(v as string); return; }
      w.long(t.symbols.indexOf(v as string));
      return;
    }
    case 'array': {
      const a = v as unknown[];
      if (a.length > 0) {
        w.long(a.length);
        for (const x of a) writeAvro(t.items, x, w);
      }
      w.long(0);
      return;
    }
    case 'map': {
      const keys = Object.keys(v as object);
      if (keys.length > 0) {
        w.long(keys.length);
        for (const k of keys) {
          w.str(k);
          writeAvro(t.values, (v as Record<string, unknown>)[k], w);
        }
      }
      w.long(0);
      return;
    }
    case 'record':
      for (const f of t.fields) writeAvro(f.type, (v as Record<string, unknown>)[f.name], w);
      return;
    case 'union': {
      const [branch, value] = unionParts(t, v);
      if (branch < 0) throw new RecordError('schema', `a value of ${value === null ? 'null' : 'a type'} the union ${JSON.stringify(avroSchemaOf(t, new Set()))} does not hold`);
      w.long(branch);
      writeAvro(t.branches[branch], value, w);
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// CSV

/** A cell's text: a string as itself, a number or boolean as its JSON, anything nested as its JSON text. */
export function csvText(t: RType, v: unknown): string | null {
  if (v === null || v === undefined) return null;
  const json = jsonOf(t, v);
  if (json === 'null') return null;
  return json.startsWith('"') ? (JSON.parse(json) as string) : json;
}

/**
 * A registry column as a nullable type (a tombstone, or an object's value that is not a record, leaves it null): a
 * union that holds null already stays as it is; another union gets null as a first branch (Avro unions do not nest).
 */
export function nullableColumn(t: RType): { type: RType; value: (v: unknown) => unknown } {
  if (t.kind === 'null') return { type: t, value: () => null };
  if (t.kind === 'union') {
    // Null first (an Avro field's default null must be the first branch's), the others in their order.
    const order = [...t.branches.keys()].sort((a, b) => Number(t.branches[b].kind === 'null') - Number(t.branches[a].kind === 'null'));
    const hasNull = t.branches[order[0]].kind === 'null';
    const branches = [...(hasNull ? [] : [{ kind: 'null' } as RType]), ...order.map((i) => t.branches[i])];
    const at = new Map(order.map((i, k) => [i, k + (hasNull ? 0 : 1)]));
    return {
      type: { kind: 'union', branches },
      value: (v) => (v instanceof UnionValue ? new UnionValue(at.get(v.branch)!, v.value) : v),
    };
  }
  return { type: { kind: 'union', branches: [{ kind: 'null' }, t] }, value: (v) => v };
}
