/**
 * Parquet with hyparquet-writer (column-oriented, exact INT64, zstd through Node's zlib). Timestamps are
 * TIMESTAMP(isAdjustedToUTC=true) so readers see UTC instants, not strings.
 */
import zlib from 'node:zlib';
import { ByteWriter, ParquetWriter, parquetWriteBuffer } from 'hyparquet-writer';
import { writeColumn } from 'hyparquet-writer/src/column.js';
import { encodeNestedValues } from 'hyparquet-writer/src/dremel.js';
import { schemaPathResolver } from 'hyparquet-writer/src/schema.js';
import { parquetColumn } from '../registry/columns.ts';
import type { Column } from '../schema.ts';
import { flatPhysical, NotWellFormed, writeFlatChunk } from './parquet-columns.ts';
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

/** A column's cells as hyparquet-writer takes them. */
function writerCells(c: Column, data: readonly unknown[]): unknown[] {
  // hyparquet-writer takes INT64 values as BigInt only: long cells that are numbers (schema.ts, toCell) and
  // millisecond timestamps become BigInt here, at the writer's door.
  if (c.registry) return data.map(parquetColumn(c.name, c.registry).convert);
  if (c.type === 'timestamp-millis' || c.type === 'long') return data.map((v) => (typeof v === 'number' ? BigInt(v) : v));
  if (c.type === 'bytes') return data.map((v) => (v === null ? null : new Uint8Array(v as Buffer)));
  if (c.type === 'string' || c.type === 'json') return utf8Values(data);
  return data as unknown[];
}

/** The file as hyparquet-writer writes it from the whole table (registry columns, and the oracle of the tests). */
export function encodeParquetWithWriter(table: Table, codec: ParquetCodec, rowGroupSize: number, level?: number): Buffer {
  const columnData = table.columns.map((c, i) => ({ name: c.name, data: writerCells(c, table.data[i]), ...parquetColumnOptions(c) }));
  const ab = parquetWriteBuffer({
    columnData: columnData as never,
    schema: parquetSchemaOf(table) as never,
    codec: PARQUET_CODECS[codec],
    compressors: parquetCompressors(level) as never,
    rowGroupSize,
    createdBy: PARQUET_CREATED_BY,
  });
  return Buffer.from(ab);
}

/** hyparquet-writer's default page size, which both paths write with. */
const PAGE_SIZE = 1_048_576;

/**
 * The same file as encodeParquetWithWriter, with flat number and string columns written by parquet-columns.ts
 * straight from the cells (boolean and bytes columns still by hyparquet-writer's writeColumn, the file's frame and
 * footer by its ParquetWriter).
 */
function encodeParquetFlat(table: Table, codec: ParquetCodec, rowGroupSize: number, level?: number): Buffer {
  const schema = parquetSchemaOf(table);
  const writer = new ByteWriter();
  const physicalCodec = PARQUET_CODECS[codec];
  const pq = new ParquetWriter({ writer, schema: schema as never, codec: physicalCodec, compressors: parquetCompressors(level) as never, createdBy: PARQUET_CREATED_BY });
  const compressors = pq.compressors as Record<string, ((input: Uint8Array) => Uint8Array) | undefined>;
  const resolve = schemaPathResolver(schema as never);
  const rows = table.data[0]?.length ?? 0;
  const prepared = new Map<number, unknown[]>();
  for (let g = 0; g < rows; g += rowGroupSize) {
    const size = Math.min(rowGroupSize, rows - g);
    const groupStartOffset = writer.offset;
    const columns: Record<string, unknown>[] = [];
    table.columns.forEach((c, j) => {
      const stats = parquetColumnOptions(c).statistics !== false;
      const type = flatPhysical(c);
      let result;
      if (type !== undefined) {
        result = writeFlatChunk(writer, table.data[j], g, g + size, { column: c, type, stats, codec: physicalCodec, compress: compressors[physicalCodec] });
      } else {
        let cells = prepared.get(j);
        if (cells === undefined) prepared.set(j, (cells = writerCells(c, table.data[j])));
        const path = resolve([c.name]);
        const column = {
          columnName: c.name, element: path[path.length - 1].element, schemaPath: path.map((node) => node.element), codec: physicalCodec,
          compressors, stats, statisticsTruncateLength: undefined, pageSize: PAGE_SIZE, dictionarySize: undefined, columnIndex: false,
          offsetIndex: true, encoding: undefined, bloomFilter: undefined,
        };
        result = writeColumn({ writer, column: column as never, pageData: encodeNestedValues(path, cells.slice(g, g + size) as never) });
      }
      columns.push(result.chunk as Record<string, unknown>);
      pq.pendingIndexes.push(result as never);
    });
    let total_byte_size = 0n;
    for (const { meta_data } of columns as { meta_data?: { total_uncompressed_size?: bigint } }[]) total_byte_size += meta_data?.total_uncompressed_size ?? 0n;
    pq.num_rows += BigInt(size);
    pq.row_groups.push({ columns, total_byte_size, num_rows: BigInt(size), total_compressed_size: BigInt(writer.offset - groupStartOffset) } as never);
  }
  pq.finish();
  return Buffer.from(writer.getBuffer());
}

export function encodeParquet(table: Table, codec: ParquetCodec, rowGroupSize: number, level?: number): Buffer {
  if (table.columns.some((c) => c.registry)) return encodeParquetWithWriter(table, codec, rowGroupSize, level);
  try {
    return encodeParquetFlat(table, codec, rowGroupSize, level);
  } catch (err) {
    // A string that is not Unicode text (a lone surrogate): hyparquet-writer's byte arrays decide its dictionary.
    if (err instanceof NotWellFormed) return encodeParquetWithWriter(table, codec, rowGroupSize, level);
    throw err;
  }
}
