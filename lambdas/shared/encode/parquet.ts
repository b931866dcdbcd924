/**
 * Parquet with hyparquet-writer (column-oriented, exact INT64, zstd through Node's zlib). Timestamps are
 * TIMESTAMP(isAdjustedToUTC=true) so readers see UTC instants, not strings.
 */
import zlib from 'node:zlib';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { parquetColumn } from '../registry/columns.ts';
import type { Column } from '../schema.ts';
import type { Table } from './table.ts';

export type ParquetCodec = 'none' | 'snappy' | 'gzip' | 'zstd';

export interface SchemaElement {
  name: string;
  type?: string;
  type_length?: number;
  repetition_type?: string;
  num_children?: number;
  converted_type?: string;
  logical_type?: Record<string, unknown>;
  precision?: number;
  scale?: number;
}

export function parquetElement(c: Column): SchemaElement {
  const repetition_type = c.nullable ? 'OPTIONAL' : 'REQUIRED';
  const base = { name: c.name, repetition_type };
  switch (c.type) {
    case 'boolean': return { ...base, type: 'BOOLEAN' };
    case 'int': return { ...base, type: 'INT32' };
    case 'long': return { ...base, type: 'INT64' };
    case 'float': return { ...base, type: 'FLOAT' };
    case 'double': return { ...base, type: 'DOUBLE' };
    case 'string': return { ...base, type: 'BYTE_ARRAY', converted_type: 'UTF8', logical_type: { type: 'STRING' } };
    case 'json': return { ...base, type: 'BYTE_ARRAY', converted_type: 'UTF8', logical_type: { type: 'STRING' } };
    case 'bytes': return { ...base, type: 'BYTE_ARRAY' };
    case 'date': return { ...base, type: 'INT32', converted_type: 'DATE', logical_type: { type: 'DATE' } };
    case 'timestamp-millis':
      return { ...base, type: 'INT64', converted_type: 'TIMESTAMP_MILLIS', logical_type: { type: 'TIMESTAMP', isAdjustedToUTC: true, unit: 'MILLIS' } };
    case 'timestamp-micros':
      return { ...base, type: 'INT64', converted_type: 'TIMESTAMP_MICROS', logical_type: { type: 'TIMESTAMP', isAdjustedToUTC: true, unit: 'MICROS' } };
    case 'registry':
      throw new Error(`column "${c.name}": a registry column has several elements (parquetSchemaOf)`);
  }
}

/**
 * A string column's values as UTF-8 bytes, encoded together: one join and one encode of the column instead of an
 * encode per value (which hyparquet-writer would do). When every character is ASCII (the bytes are as many as the
 * characters), each value is a view of the one buffer at its character offsets; otherwise each is encoded alone.
 */
function utf8Values(values: readonly unknown[]): (Uint8Array | null)[] {
  const strings: string[] = [];
  for (const v of values) if (v !== null) strings.push(v as string);
  const joined = strings.join('');
  const all = Buffer.from(joined, 'utf8');
  const out = new Array<Uint8Array | null>(values.length);
  if (all.length === joined.length) {
    // Equal strings share one view while the column repeats itself: hyparquet-writer's dictionary then finds a
    // repeated value by identity instead of hashing and comparing its bytes (the file is the same).
    let shared: Map<string, Uint8Array> | undefined = new Map();
    let at = 0;
    for (let i = 0; i < values.length; i++) {
      const v = values[i] as string | null;
      if (v === null) {
        out[i] = null;
        continue;
      }
      if (shared !== undefined) {
        const seen = shared.get(v);
        if (seen !== undefined) {
          out[i] = seen;
          at += v.length;
          continue;
        }
      }
      const view = new Uint8Array(all.buffer, all.byteOffset + at, v.length);
      at += v.length;
      out[i] = view;
      if (shared !== undefined) {
        shared.set(v, view);
        if (shared.size > SHARED_DISTINCT && shared.size * 2 > i) shared = undefined;
      }
    }
  } else {
    for (let i = 0; i < values.length; i++) out[i] = values[i] === null ? null : Buffer.from(values[i] as string, 'utf8');
  }
  return out;
}

/** Past this many distinct values, a column about as distinct as it is long stops sharing views. */
const SHARED_DISTINCT = 256;

export const PARQUET_CODECS = { none: 'UNCOMPRESSED', snappy: 'SNAPPY', gzip: 'GZIP', zstd: 'ZSTD' } as const;

/** The file schema of a table: a root and one column each. */
export function parquetSchemaOf(table: Pick<Table, 'columns'>): SchemaElement[] {
  return [{ name: 'root', num_children: table.columns.length }, ...table.columns.flatMap((c) => (c.registry ? parquetColumn(c.name, c.registry).elements : [parquetElement(c)]))];
}

/** Compressors for hyparquet-writer at a level (snappy is its own). */
export function parquetCompressors(level?: number): Record<string, (input: Uint8Array) => Uint8Array> {
  return {
    ZSTD: (input: Uint8Array) =>
      zlib.zstdCompressSync(input, level === undefined ? {} : { params: { [zlib.constants.ZSTD_c_compressionLevel]: level } }),
    GZIP: (input: Uint8Array) => zlib.gzipSync(input, level === undefined ? {} : { level }),
  };
}

/**
 * A column's settings for hyparquet-writer besides its name and data, for the sink's files and the compactor's alike:
 * JSON text (nested values, headers) carries no statistics. Its bounds would order JSON text, which no predicate on a
 * nested value can use, and they are the longest values of the file (each compared as bytes for every row).
 */
export function parquetColumnOptions(c: Column): { nullable: boolean; statistics?: false } {
  return c.type === 'json' ? { nullable: c.nullable, statistics: false } : { nullable: c.nullable };
}

export const PARQUET_CREATED_BY = 'kafka-s3 sink (hyparquet-writer)';

export function encodeParquet(table: Table, codec: ParquetCodec, rowGroupSize: number, level?: number): Buffer {
  const schema = parquetSchemaOf(table);
  const compressors = parquetCompressors(level);
  const columnData = table.columns.map((c, i) => {
    let data = table.data[i];
    // hyparquet-writer takes INT64 values as BigInt only: long cells that are numbers (schema.ts, toCell) and
    // millisecond timestamps become BigInt here, at the writer's door.
    if (c.registry) data = data.map(parquetColumn(c.name, c.registry).convert);
    else if (c.type === 'timestamp-millis' || c.type === 'long') data = data.map((v) => (typeof v === 'number' ? BigInt(v) : v));
    else if (c.type === 'bytes') data = data.map((v) => (v === null ? null : new Uint8Array(v as Buffer)));
    else if (c.type === 'string' || c.type === 'json') data = utf8Values(data);
    return { name: c.name, data, ...parquetColumnOptions(c) };
  });
  const ab = parquetWriteBuffer({
    columnData: columnData as never,
    schema: schema as never,
    codec: PARQUET_CODECS[codec],
    compressors: compressors as never,
    rowGroupSize,
    createdBy: PARQUET_CREATED_BY,
  });
  return Buffer.from(ab);
}
