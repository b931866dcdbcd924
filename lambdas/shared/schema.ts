/**
 * Table schemas for avro, parquet and csv: the value's top-level fields as columns, from a configured Avro schema
 * or inferred from the records of one object (rules in the README, "Schemas").
 */
import { isReservedName, Limits, MetadataColumnPrefix } from './constants.ts';
import { RecordError, type RecordStage } from './errors.ts';
import { JsonText, stringifyJsonExact } from './json.ts';
import type { RType } from './registry/types.ts';

export const ColumnTypes = [
  'boolean', 'int', 'long', 'float', 'double', 'string', 'bytes', 'timestamp-millis', 'timestamp-micros', 'date', 'json',
] as const;
/** 'registry': a column of a registry schema's field (SCHEMA_REGISTRY), typed by `registry` (any nesting). */
export type ColumnType = (typeof ColumnTypes)[number] | 'registry';

export interface Column {
  readonly name: string;
  readonly type: ColumnType;
  /** The registry type of a 'registry' column; its cells are the decoded values (registry/types.ts). */
  readonly registry?: RType;
  readonly nullable: boolean;
  readonly doc?: string;
  /** Default from the Avro schema, used when the field is missing. */
  readonly default?: unknown;
}

export interface TableSchema {
  readonly name: string;
  readonly namespace?: string;
  readonly columns: readonly Column[];
  /** True when given in configuration (records that do not fit are dead-lettered). */
  readonly given: boolean;
}

export const AVRO_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** A valid Avro name that JavaScript's Avro libraries cannot hold: avsc keeps a record's fields by name in a plain
 * object, where "__proto__" replaces the prototype (encoding then throws, and avsc's reader drops the field). */
const PROTO = '__proto__';
const PROTO_WHY = 'JavaScript Avro libraries (avsc, which writes these files) turn it into an object prototype instead of a field';

const PRIMITIVES: Record<string, ColumnType> = {
  boolean: 'boolean', int: 'int', long: 'long', float: 'float', double: 'double', string: 'string', bytes: 'bytes',
};

function columnTypeOf(t: unknown, field: string): ColumnType {
  if (typeof t === 'string' && PRIMITIVES[t]) return PRIMITIVES[t];
  if (t && typeof t === 'object' && !Array.isArray(t)) {
    const o = t as Record<string, unknown>;
    if (o.logicalType === 'timestamp-millis' && o.type === 'long') return 'timestamp-millis';
    if (o.logicalType === 'timestamp-micros' && o.type === 'long') return 'timestamp-micros';
    if (o.logicalType === 'date' && o.type === 'int') return 'date';
    if (typeof o.type === 'string' && PRIMITIVES[o.type] && o.logicalType === undefined) return PRIMITIVES[o.type];
    if (o.type === 'record' || o.type === 'array' || o.type === 'map') {
      throw new Error(`field "${field}": nested ${o.type} types are not supported yet; use a string field holding JSON`);
    }
  }
  throw new Error(`field "${field}": unsupported type ${JSON.stringify(t)} (supported: boolean, int, long, float, double, string, bytes, timestamp-millis, timestamp-micros, date, and unions with null)`);
}

/** Reads an Avro record schema (JSON text) into a table schema. */
export function parseAvroSchema(text: string): TableSchema {
  let s: unknown;
  try {
    s = JSON.parse(text);
  } catch (err) {
    throw new Error(`not valid JSON (${(err as Error).message})`);
  }
  const o = s as Record<string, unknown>;
  if (!o || typeof o !== 'object' || o.type !== 'record' || typeof o.name !== 'string' || !Array.isArray(o.fields)) {
    throw new Error('must be an Avro record schema: {"type":"record","name":…,"fields":[…]}');
  }
  if (!AVRO_NAME.test(o.name)) throw new Error(`record name "${o.name}" is not a valid Avro name`);
  const columns: Column[] = [];
  const seen = new Set<string>();
  for (const f of o.fields as Record<string, unknown>[]) {
    const name = f?.name;
    if (typeof name !== 'string' || !AVRO_NAME.test(name)) throw new Error(`field name ${JSON.stringify(name)} is not a valid Avro name`);
    if (name === PROTO) throw new Error(`field name "${PROTO}" is refused: ${PROTO_WHY}`);
    if (isReservedName(name)) throw new Error(`field "${name}" uses the prefix "${MetadataColumnPrefix}" (in any letter case) reserved for Kafka metadata columns`);
    if (seen.has(name.toLowerCase())) throw new Error(`field "${name}" appears twice (names are compared ignoring letter case, as Athena, Spark and DuckDB do)`);
    seen.add(name.toLowerCase());
    let type = f.type;
    let nullable = false;
    if (Array.isArray(type)) {
      const nonNull = type.filter((t) => t !== 'null');
      if (nonNull.length !== 1 || type.length > 2) throw new Error(`field "${name}": only unions of null and one type are supported`);
      nullable = type.length === 2;
      type = nonNull[0];
    }
    columns.push({ name, type: columnTypeOf(type, name), nullable, doc: typeof f.doc === 'string' ? f.doc : undefined, default: f.default });
  }
  return { name: o.name, namespace: typeof o.namespace === 'string' ? o.namespace : undefined, columns, given: true };
}

/** 'bigLong': integers of which some are beyond ±2^53, so a double column would lose their digits. */
type Inferred = 'null' | 'boolean' | 'long' | 'bigLong' | 'double' | 'string' | 'json';
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const SAFE_MIN = BigInt(Number.MIN_SAFE_INTEGER);
const SAFE_MAX = BigInt(Number.MAX_SAFE_INTEGER);

function kindOf(v: unknown): Inferred {
  if (v === null) return 'null';
  switch (typeof v) {
    case 'boolean': return 'boolean';
    // parseJsonExact hands out numbers only when the double is the literal's exact value.
    case 'number': return Number.isSafeInteger(v) ? 'long' : 'double';
    case 'bigint': return v < INT64_MIN || v > INT64_MAX ? 'json' : v < SAFE_MIN || v > SAFE_MAX ? 'bigLong' : 'long';
    case 'string': return 'string';
    // Objects, arrays, and numbers no double or int64 holds (JSON.rawJSON of their literal).
    default: return 'json';
  }
}

function widen(a: Inferred, b: Inferred): Inferred {
  if (a === b || b === 'null') return a;
  if (a === 'null') return b;
  if ((a === 'long' && b === 'bigLong') || (a === 'bigLong' && b === 'long')) return 'bigLong';
  if ((a === 'long' && b === 'double') || (a === 'double' && b === 'long')) return 'double';
  // bigLong with double: no column type holds both exactly, JSON text keeps every digit.
  return 'json';
}

/**
 * Infers columns from JSON objects, in order of first appearance. All columns are nullable. Integers are long
 * (exact int64); integers and fractions mixed make double, unless an integer is beyond ±2^53 (JSON text then);
 * nested objects/arrays, numbers beyond int64/double and conflicting types are JSON text; a field that is null
 * everywhere is string.
 */
export function inferSchema(values: readonly Record<string, unknown>[]): TableSchema {
  return inferTable(values.map((v) => {
    const names: string[] = [];
    for (const k in v) names.push(k);
    return { names, values: names.map((k) => v[k]) };
  })).schema;
}

/** One record's top-level fields: names, and values in the same order (a nested value as an object or JsonText). */
export interface FieldRow {
  readonly names: readonly string[];
  readonly values: readonly unknown[];
}

/**
 * Infers the columns of rows (inferSchema's rules) and converts their cells as toCell does, column-major (inline: an
 * inferred column holds every value of its fields, so no cell can be refused). Rows that share one names list (the
 * JSON check hands out one list for records with the same names) share its column layout, found once.
 */
export function inferTable(rows: readonly FieldRow[]): { schema: TableSchema; data: unknown[][] } {
  const index = new Map<string, number>();
  const kinds: Inferred[] = [];
  const names: string[] = [];
  // Per names list: the column of each of its names.
  const layouts = new Map<readonly string[], Int32Array>();
  const layoutOf = new Array<Int32Array>(rows.length);
  let lastNames: readonly string[] | undefined;
  let last: Int32Array = new Int32Array(0);
  for (let r = 0; r < rows.length; r++) {
    const row = rows[r];
    if (row.names !== lastNames) {
      lastNames = row.names;
      let layout = layouts.get(row.names);
      if (layout === undefined) {
        layout = new Int32Array(row.names.length);
        for (let j = 0; j < row.names.length; j++) {
          const k = row.names[j];
          let c = index.get(k);
          if (c === undefined) {
            c = kinds.length;
            index.set(k, c);
            kinds.push('null');
            names.push(k);
          }
          layout[j] = c;
        }
        layouts.set(row.names, layout);
      }
      last = layout;
    }
    layoutOf[r] = last;
    for (let j = 0; j < last.length; j++) kinds[last[j]] = widen(kinds[last[j]], kindOf(row.values[j]));
  }
  const columns: Column[] = names.map((name, c) => {
    const kind = kinds[c];
    return { name, type: kind === 'null' ? 'string' : kind === 'bigLong' ? 'long' : kind, nullable: true };
  });
  // Where each column sits in each layout's row (-1: the rows of that layout lack it).
  const positions = new Map<Int32Array, Int32Array>();
  for (const layout of layouts.values()) {
    const at = new Int32Array(columns.length).fill(-1);
    for (let j = 0; j < layout.length; j++) at[layout[j]] = j;
    positions.set(layout, at);
  }
  const data = columns.map(() => new Array<unknown>(rows.length));
  // toCell of an inferred column, inline: every column is nullable, and a value of a column's inferred kind is its own
  // cell (a long a number or an int64 BigInt, a double a number, a string, a boolean), except JSON text.
  const json = columns.map((c) => c.type === 'json');
  let lastLayout: Int32Array | undefined;
  let at: Int32Array = new Int32Array(0);
  for (let r = 0; r < rows.length; r++) {
    if (layoutOf[r] !== lastLayout) {
      lastLayout = layoutOf[r];
      at = positions.get(lastLayout)!;
    }
    const values = rows[r].values;
    for (let c = 0; c < columns.length; c++) {
      const v = at[c] < 0 ? null : values[at[c]];
      data[c][r] = v === null || v === undefined ? null : json[c] ? (v instanceof JsonText ? v.text : stringifyJsonExact(v)) : v;
    }
  }
  return { schema: { name: 'KafkaRecord', columns, given: false }, data };
}

/** Control characters in a column name break CSV headers and SQL identifiers. */
const CONTROL = /[\u0000-\u001f\u007f]/;

/** Names already checked (they repeat in every record of a topic); bounded so that hostile names cannot grow it. */
const checkedNames = [new Set<string>(), new Set<string>(), new Set<string>()];

/** Checks a value field name before it becomes a column (inference only; given schemas are checked at start). */
export function checkFieldName(name: string, avro: boolean, header = false): void {
  const cache = checkedNames[avro ? 1 : header ? 2 : 0];
  if (cache.has(name)) return;
  if (isReservedName(name)) {
    throw new RecordError('schema', `value field "${name}" uses the prefix "${MetadataColumnPrefix}" (in any letter case) reserved for Kafka metadata columns`);
  }
  if (avro && !AVRO_NAME.test(name)) {
    throw new RecordError('schema', `value field ${JSON.stringify(name)} is not a valid Avro name ([A-Za-z_][A-Za-z0-9_]*)`);
  }
  if (avro && name === PROTO) throw new RecordError('schema', `value field "${PROTO}" is refused as an Avro field name: ${PROTO_WHY}`);
  if (name === '') throw new RecordError('schema', 'value field "" has an empty name, which no column can have');
  if (CONTROL.test(name)) throw new RecordError('schema', `value field ${JSON.stringify(name)} has a control character in its name`);
  if (header && name.trim() !== name) {
    throw new RecordError('schema', `value field ${JSON.stringify(name)} starts or ends with whitespace, which CSV readers (DuckDB) trim from header names`);
  }
  if (name.length <= 128) {
    if (cache.size >= 10_000) cache.clear();
    cache.add(name);
  }
}

/** Checks that epoch milliseconds name an instant between 0001-01-01 and 9999-12-31 (UTC), which readers hold. */
export function checkTimestampMs(ms: number, what: string, stage: RecordStage): void {
  if (!(ms >= Limits.minTimestampMs && ms <= Limits.maxTimestampMs)) {
    throw new RecordError(stage, `${what} ${ms} ms is outside 0001-01-01T00:00:00Z..9999-12-31T23:59:59.999Z, the instants readers hold`);
  }
}

/** A JSON object's own field: never an inherited one such as `constructor` or `toString`. */
export function ownField(o: Record<string, unknown>, name: string): unknown {
  return Object.hasOwn(o, name) ? o[name] : undefined;
}

const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;

function describe(v: unknown): string {
  const text = typeof v === 'string' ? JSON.stringify(v) : v instanceof JsonText ? v.text : stringifyJsonExact(v);
  return text === undefined ? String(v) : text.length > 40 ? `${text.slice(0, 37)}...` : text;
}

function mismatch(col: Column, v: unknown, why?: string): never {
  throw new RecordError('schema', `field "${col.name}": expected ${col.type}${col.nullable ? ' or null' : ''}, got ${describe(v)}${why ? `: ${why}` : ''}`);
}

const FLOAT32_MAX = 3.4028234663852886e38;
/** Years 0001..9999 (what pyarrow's to_pylist, fastavro and Python's datetime hold), as days and micros. */
const MIN_DATE_DAYS = Limits.minTimestampMs / 86_400_000;
const MAX_DATE_DAYS = Math.floor(Limits.maxTimestampMs / 86_400_000);
const MIN_MICROS = BigInt(Limits.minTimestampMs) * 1000n;
const MAX_MICROS = BigInt(Limits.maxTimestampMs) * 1000n + 999n;
const inTimeRange = (ms: number) => ms >= Limits.minTimestampMs && ms <= Limits.maxTimestampMs;

/** Date.parse rolls impossible dates over (2024-02-30 → 2024-03-01): such a date is not a date. */
function realDate(isoDatePart: string): boolean {
  const ms = Date.parse(isoDatePart.slice(0, 10));
  return !Number.isNaN(ms) && new Date(ms).toISOString().slice(0, 10) === isoDatePart.slice(0, 10);
}

function parseTime(col: Column, v: string): number {
  // Only full ISO-8601 instants with a zone are accepted: a zone-less time would be ambiguous.
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/.test(v)) mismatch(col, v);
  const ms = Date.parse(v);
  if (Number.isNaN(ms) || !realDate(v) || !inTimeRange(ms)) mismatch(col, v);
  return ms;
}

/**
 * Converts one JSON value to the column's cell value: boolean, number (int/float/double/timestamp-millis/date, and
 * long within ±2^53), bigint (long beyond ±2^53, timestamp-micros), string, Buffer (bytes), or string of JSON (json).
 * Throws RecordError on mismatch.
 */
export function toCell(col: Column, v: unknown): unknown {
  if (v === undefined) {
    if (col.default !== undefined) v = col.default;
    else if (col.nullable) return null;
    else throw new RecordError('schema', `field "${col.name}" is missing and has no default`);
  }
  if (v === null) {
    if (col.nullable) return null;
    return mismatch(col, v);
  }
  switch (col.type) {
    case 'boolean':
      return typeof v === 'boolean' ? v : mismatch(col, v);
    case 'int':
      if (typeof v === 'number' && Number.isInteger(v) && v >= INT32_MIN && v <= INT32_MAX) return v;
      return mismatch(col, v);
    case 'long':
      // A number when a double holds it exactly: no BigInt per cell unless the digits need one.
      if (typeof v === 'number' && Number.isSafeInteger(v)) return v;
      if (typeof v === 'bigint' && v >= INT64_MIN && v <= INT64_MAX) return v;
      return mismatch(col, v);
    case 'double':
      // Only a number the double holds exactly: parseJsonExact hands out a number only then, a BigInt is exact when
      // it survives the round trip, and JSON.rawJSON holds the digits no double has. Never a rounded value.
      if (typeof v === 'number') return v;
      if (typeof v === 'bigint' && BigInt(Number(v)) === v) return Number(v);
      if (typeof v === 'bigint' || JSON.isRawJSON(v)) {
        const finite = Number.isFinite(Number(typeof v === 'bigint' ? v : v.rawJSON));
        return mismatch(col, v, finite ? 'not exactly a double (its digits would be lost; use a string or long field)' : 'beyond the range of a double');
      }
      return mismatch(col, v);
    case 'float': {
      // float is a declared narrowing: the nearest float32, as any Avro writer does; beyond its range a mismatch.
      const n = typeof v === 'number' ? v : typeof v === 'bigint' ? Number(v) : JSON.isRawJSON(v) ? Number(v.rawJSON) : NaN;
      if (Number.isFinite(n) && Math.abs(n) <= FLOAT32_MAX) return n;
      return mismatch(col, v);
    }
    case 'string':
      return typeof v === 'string' ? v : mismatch(col, v);
    case 'bytes':
      if (typeof v === 'string' && /^[A-Za-z0-9+/]*={0,2}$/.test(v) && v.length % 4 === 0) return Buffer.from(v, 'base64');
      return mismatch(col, v);
    case 'timestamp-millis':
      if (typeof v === 'number' && Number.isSafeInteger(v) && inTimeRange(v)) return v;
      if (typeof v === 'string') return parseTime(col, v);
      return mismatch(col, v);
    case 'timestamp-micros':
      if ((typeof v === 'number' && Number.isSafeInteger(v)) || typeof v === 'bigint') {
        const us = BigInt(v);
        if (us >= MIN_MICROS && us <= MAX_MICROS) return us;
        return mismatch(col, v);
      }
      if (typeof v === 'string') {
        const frac = /\.(\d{4,6})/.exec(v)?.[1] ?? '';
        return BigInt(parseTime(col, v)) * 1000n + BigInt(frac.slice(3).padEnd(3, '0'));
      }
      return mismatch(col, v);
    case 'date':
      if (typeof v === 'number' && Number.isInteger(v) && v >= MIN_DATE_DAYS && v <= MAX_DATE_DAYS) return v;
      if (typeof v === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(v) && realDate(v)) return Date.parse(v) / 86_400_000;
      return mismatch(col, v);
    case 'json':
      return v instanceof JsonText ? v.text : stringifyJsonExact(v);
  }
}

