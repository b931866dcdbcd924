/**
 * The statement's result as rows the encoders take: DuckDB's column types mapped to the registry type tree (RType),
 * which every format already writes (jsonl, csv, avro, parquet: README, "Transform with SQL", the type table), and
 * each cell converted to the value that type holds. A cell no reader holds (a date in year 10000, `infinity`) makes
 * its row, and so its record, a dead letter.
 */
import type {
  DuckDBArrayType, DuckDBDecimalType, DuckDBEnumType, DuckDBListType, DuckDBMapType, DuckDBResultReader, DuckDBStructType,
  DuckDBType, DuckDBValue,
} from '@duckdb/node-api';
import { isReservedName } from '../constants.ts';
import { parseJsonExact } from '../json.ts';
import { logicalInRange, type RType } from '../registry/types.ts';

type Converter = (v: DuckDBValue) => unknown;

/** DuckDB's type IDs (DuckDBTypeId), as numbers: this module is bundled, the engine's package is loaded at run time
 * only (a value import of it would load it with every bundle). */
const DuckDBTypeId = {
  BOOLEAN: 1, TINYINT: 2, SMALLINT: 3, INTEGER: 4, BIGINT: 5, UTINYINT: 6, USMALLINT: 7, UINTEGER: 8, UBIGINT: 9, FLOAT: 10,
  DOUBLE: 11, TIMESTAMP: 12, DATE: 13, TIME: 14, HUGEINT: 16, VARCHAR: 17, BLOB: 18, DECIMAL: 19, TIMESTAMP_S: 20,
  TIMESTAMP_MS: 21, TIMESTAMP_NS: 22, ENUM: 23, LIST: 24, STRUCT: 25, MAP: 26, UUID: 27, TIMESTAMP_TZ: 31, UHUGEINT: 32,
  ARRAY: 33, BIGNUM: 35,
} as const;
interface Mapped { readonly type: RType; readonly convert: Converter }

/** A cell outside what the column's readers hold. */
export class CellError extends Error {}

const nullable = (t: RType): RType => ({ kind: 'union', branches: [{ kind: 'null' }, t] });

/** Two's-complement big-endian bytes of an integer (a decimal's unscaled value), in the fewest bytes that hold it. */
export function twosComplement(n: bigint): Buffer {
  let len = 1;
  while (n < -(1n << BigInt(8 * len - 1)) || n >= 1n << BigInt(8 * len - 1)) len++;
  const u = n < 0n ? (1n << BigInt(8 * len)) + n : n;
  return Buffer.from(u.toString(16).padStart(2 * len, '0'), 'hex');
}

function inRange(kind: Parameters<typeof logicalInRange>[0], column: string): (v: number | bigint) => number | bigint {
  return (v) => {
    if (!logicalInRange(kind, v)) throw new CellError(`column ${JSON.stringify(column)}: ${kind} value ${v} is outside years 0001-9999 (or a time of day), which readers hold`);
    return v;
  };
}

/** Names for record types: unique within the row type (Avro files name every record). */
class Names {
  private readonly used = new Set<string>();
  take(path: string): string {
    const base = `Row${path.replace(/[^A-Za-z0-9_]/g, '_')}`;
    let name = base;
    for (let i = 2; this.used.has(name); i++) name = `${base}_${i}`;
    this.used.add(name);
    return name;
  }
}

const asNumber = (v: DuckDBValue) => v;
const asString = (v: DuckDBValue) => (v === null ? null : String(v));

function mapType(t: DuckDBType, column: string, path: string, names: Names): Mapped {
  switch (t.typeId as number) {
    case DuckDBTypeId.BOOLEAN: return { type: { kind: 'boolean' }, convert: asNumber };
    case DuckDBTypeId.TINYINT: case DuckDBTypeId.SMALLINT: case DuckDBTypeId.INTEGER: case DuckDBTypeId.UTINYINT: case DuckDBTypeId.USMALLINT:
      return { type: { kind: 'int' }, convert: asNumber };
    case DuckDBTypeId.UINTEGER: return { type: { kind: 'long' }, convert: asNumber };
    case DuckDBTypeId.BIGINT: return { type: { kind: 'long' }, convert: asNumber };
    case DuckDBTypeId.UBIGINT: return { type: { kind: 'long', unsigned: true }, convert: asNumber };
    case DuckDBTypeId.HUGEINT: case DuckDBTypeId.UHUGEINT: case DuckDBTypeId.BIGNUM:
      // Wider than 64 bits: written as its exact JSON number (text in columnar formats).
      return { type: { kind: 'json' }, convert: asNumber };
    case DuckDBTypeId.FLOAT: return { type: { kind: 'float' }, convert: asNumber };
    case DuckDBTypeId.DOUBLE: return { type: { kind: 'double' }, convert: asNumber };
    case DuckDBTypeId.DECIMAL: {
      const d = t as unknown as DuckDBDecimalType;
      return { type: { kind: 'bytes', logical: { kind: 'decimal', precision: d.width, scale: d.scale } }, convert: (v) => twosComplement((v as { value: bigint }).value) };
    }
    case DuckDBTypeId.VARCHAR:
      if (t.alias === 'JSON') return { type: { kind: 'json' }, convert: (v) => parseJsonExact(String(v), true) };
      return { type: { kind: 'string' }, convert: asNumber };
    case DuckDBTypeId.BLOB: return { type: { kind: 'bytes' }, convert: (v) => Buffer.from((v as { bytes: Uint8Array }).bytes) };
    case DuckDBTypeId.UUID: return { type: { kind: 'string', logical: { kind: 'uuid' } }, convert: asString };
    case DuckDBTypeId.DATE: {
      const check = inRange('date', column);
      return { type: { kind: 'int', logical: { kind: 'date' } }, convert: (v) => check((v as { days: number }).days) };
    }
    case DuckDBTypeId.TIME: {
      const check = inRange('time-micros', column);
      return { type: { kind: 'long', logical: { kind: 'time-micros' } }, convert: (v) => check((v as { micros: bigint }).micros) };
    }
    case DuckDBTypeId.TIMESTAMP: case DuckDBTypeId.TIMESTAMP_TZ: {
      const kind = t.typeId === DuckDBTypeId.TIMESTAMP ? 'local-timestamp-micros' : 'timestamp-micros';
      const check = inRange(kind, column);
      return { type: { kind: 'long', logical: { kind } }, convert: (v) => check((v as { micros: bigint }).micros) };
    }
    case DuckDBTypeId.TIMESTAMP_S: {
      const check = inRange('local-timestamp-micros', column);
      return { type: { kind: 'long', logical: { kind: 'local-timestamp-micros' } }, convert: (v) => check((v as { seconds: bigint }).seconds * 1_000_000n) };
    }
    case DuckDBTypeId.TIMESTAMP_MS: {
      const check = inRange('local-timestamp-millis', column);
      return { type: { kind: 'long', logical: { kind: 'local-timestamp-millis' } }, convert: (v) => check((v as { millis: bigint }).millis) };
    }
    case DuckDBTypeId.TIMESTAMP_NS: {
      const check = inRange('local-timestamp-nanos', column);
      return { type: { kind: 'long', logical: { kind: 'local-timestamp-nanos' } }, convert: (v) => check((v as { nanos: bigint }).nanos) };
    }
    case DuckDBTypeId.ENUM: {
      const e = t as unknown as DuckDBEnumType;
      return { type: { kind: 'enum', name: names.take(`${path}_enum`), symbols: e.values }, convert: asString };
    }
    case DuckDBTypeId.LIST: case DuckDBTypeId.ARRAY: {
      const item = mapType((t as unknown as DuckDBListType | DuckDBArrayType).valueType, column, `${path}_item`, names);
      return {
        type: { kind: 'array', items: nullable(item.type) },
        convert: (v) => (v as { items: readonly DuckDBValue[] }).items.map((x) => (x === null ? null : item.convert(x))),
      };
    }
    case DuckDBTypeId.STRUCT: {
      const s = t as unknown as DuckDBStructType;
      const fields = s.entryNames.map((n, i) => ({ name: n, mapped: mapType(s.entryTypes[i], column, `${path}_${n}`, names) }));
      return {
        type: { kind: 'record', name: names.take(path), fields: fields.map((f) => ({ name: f.name, type: nullable(f.mapped.type) })) },
        convert: (v) => {
          const entries = (v as { entries: Record<string, DuckDBValue> }).entries;
          const out: Record<string, unknown> = Object.create(null);
          for (const f of fields) {
            const x = entries[f.name];
            out[f.name] = x === null || x === undefined ? null : f.mapped.convert(x);
          }
          return out;
        },
      };
    }
    case DuckDBTypeId.MAP: {
      const m = t as unknown as DuckDBMapType;
      const value = mapType(m.valueType, column, `${path}_value`, names);
      if ((m.keyType.typeId as number) === DuckDBTypeId.VARCHAR) {
        return {
          type: { kind: 'map', values: nullable(value.type) },
          convert: (v) => {
            const out: Record<string, unknown> = Object.create(null);
            for (const e of (v as { entries: { key: DuckDBValue; value: DuckDBValue }[] }).entries) out[String(e.key)] = e.value === null ? null : value.convert(e.value);
            return out;
          },
        };
      }
      // Keys of another type: a list of key/value records, as Parquet and Avro hold no such map.
      const key = mapType(m.keyType, column, `${path}_key`, names);
      const entry: RType = { kind: 'record', name: names.take(`${path}_entry`), fields: [{ name: 'key', type: key.type }, { name: 'value', type: nullable(value.type) }] };
      return {
        type: { kind: 'array', items: entry },
        convert: (v) => (v as { entries: { key: DuckDBValue; value: DuckDBValue }[] }).entries.map((e) => {
          const out: Record<string, unknown> = Object.create(null);
          out.key = key.convert(e.key);
          out.value = e.value === null ? null : value.convert(e.value);
          return out;
        }),
      };
    }
    default:
      // INTERVAL, BIT, TIME WITH TIME ZONE, UNION, GEOMETRY, VARIANT: DuckDB's text of the value.
      return { type: { kind: 'string' }, convert: asString };
  }
}

/** The columns of a result that become the row (the value): not `_kafka_row` (first), nor any `_kafka_*` column. */
export interface RowShape {
  readonly type: Extract<RType, { kind: 'record' }>;
  readonly columns: readonly { readonly index: number; readonly name: string; readonly convert: Converter }[];
}

export function rowShape(reader: DuckDBResultReader): RowShape {
  const names = new Names();
  const taken = new Set<string>();
  const columns: { index: number; name: string; convert: Converter; type: RType }[] = [];
  const all = reader.columnNames();
  for (let i = 1; i < all.length; i++) {
    if (isReservedName(all[i])) continue;
    // Names readers tell apart: a second "a" (or "A") becomes "a_2", as DuckDB's own deduplication does.
    let name = all[i];
    for (let k = 2; taken.has(name.toLowerCase()); k++) name = `${all[i]}_${k}`;
    taken.add(name.toLowerCase());
    const m = mapType(reader.columnType(i), name, `_${name}`, names);
    columns.push({ index: i, name, convert: m.convert, type: m.type });
  }
  return {
    type: { kind: 'record', name: 'Row', fields: columns.map((c) => ({ name: c.name, type: c.type })) },
    columns,
  };
}
