/**
 * What the compactor reads from and writes to one object, per format (formats/): rows kept as the format holds them
 * (a JSON or CSV line, an Avro record's binary encoding: never re-encoded, so a compacted file holds byte for byte the
 * records of the objects it merges; Parquet rows as the cells read, written back with the same schema) and, per row,
 * the offset that deduplicates it and the record time that the manifest's bounds come from.
 */
import type { Readable } from 'node:stream';
import type { SinkConfig } from '../shared/config.ts';
import { inferredColumns } from '../shared/encode/table.ts';
import { avroCodec } from './formats/avro.ts';
import { csvCodec, jsonlCodec } from './formats/text.ts';
import { parquetCodec } from './formats/parquet.ts';

export interface Row {
  readonly offset: bigint;
  /** Record time (epoch ms) when the records carry it. */
  readonly timeMs?: number;
  /** Uncompressed bytes the row takes in a file (what the compression ratio is taken over). */
  readonly size: number;
  /** The row as the format holds it: a JSON or CSV line without its line end, an Avro record's encoding. */
  readonly bytes?: Buffer;
  /** Parquet: the row's cells in the table's column order, as hyparquet reads and hyparquet-writer takes them. */
  readonly cells?: readonly unknown[];
}

/** A compacted file of an earlier generation, read as it streams (or by ranges, for Parquet's footer first). */
export interface StoredFile {
  readonly bytes: number;
  stream(): Promise<Readable>;
  range(start: number, end: number): Promise<Buffer>;
}

/** A compacted file's bytes as its rows come: handed out a piece at a time (a text piece, an Avro block, a Parquet row group). */
export interface FileBody {
  add(row: Row): void;
  /** Uncompressed bytes of rows added and not yet handed out. */
  readonly held: number;
  /** Whether a piece is worth handing out. */
  readonly ready: boolean;
  /** The rows held, as bytes of the file (its start included the first time). */
  take(): Buffer;
  /** The rest of the file, its end included. */
  end(): Buffer;
}

/** A raw object's rows, and the compressed bytes they take in it (its container's fixed overhead left out). */
export interface Decoded {
  readonly rows: Row[];
  readonly bytes: number;
}

export interface Codec {
  /** The object's rows in offset order; throws for an object that is not what the sink writes, naming it. */
  decode(body: Buffer, where: string): Promise<Decoded>;
  /**
   * The rows of a file already in offset order (the compactor's own), a chunk at a time as the file is read: a file of
   * hundreds of MB is never held whole. Throws for a row out of order.
   */
  decodeFile(file: StoredFile, where: string): AsyncIterable<Row[]>;
  /** A new file's body, for a file of about `targetBytes` (compressed). */
  body(targetBytes: number): FileBody;
  /** Whether the file's bytes are compressed as one stream (row formats) rather than by the format (avro, parquet). */
  readonly streamCompressed: boolean;
  /** A cautious merge rate, compressed input bytes a millisecond (npm run bench:compact measures 2-3 MB a CPU-second
   * for jsonl, csv and avro, 0.6-1 for parquet, whose objects are small for their rows): whether a window fits a run. */
  readonly mergeBytesPerMs: number;
}

/** Throws when rows of a compacted file are not in ascending offsets. */
export function inOrder(where: string): (row: Row, at: number) => void {
  let last: bigint | undefined;
  return (row, at) => {
    if (last !== undefined && row.offset <= last) throw new Error(`${where}: row ${at} (offset ${row.offset}) is not after offset ${last}: not a compacted file`);
    last = row.offset;
  };
}

export function byOffset(a: Row, b: Row): number {
  return a.offset < b.offset ? -1 : a.offset > b.offset ? 1 : 0;
}

/** An error about an object or file, with its name in front (once). */
export function named(where: string, err: unknown): Error {
  const message = (err as Error)?.message ?? String(err);
  return message.startsWith(`${where}: `) ? (err as Error) : new Error(`${where}: ${message}`, { cause: err });
}

/** The rows of `it`, with any error (a decompressor's, a reader's) naming the file. */
export async function* namedRows(where: string, it: AsyncIterable<Row[]>): AsyncGenerator<Row[]> {
  try {
    yield* it;
  } catch (err) {
    throw named(where, err);
  }
}

/** The codec of a configuration, or why the compactor cannot merge its objects. */
export function codecFor(cfg: SinkConfig): Codec | string {
  if (cfg.format === 'text' || cfg.format === 'bytes') {
    return `format=${cfg.format} holds values only, no offsets, so the compactor cannot tell a record written twice from two records: use jsonl, csv, csv_with_headers, avro or parquet (with fields including offset)`;
  }
  if (cfg.format === 'jsonl' && !cfg.envelope) return 'jsonl without the envelope: each line needs its offset to be deduplicated';
  if (!cfg.fields.includes('offset')) return `fields=${cfg.fields.join(',')}: the compactor deduplicates records by offset, so fields must include offset`;
  if (cfg.format !== 'jsonl' && cfg.transform) {
    return `format=${cfg.format} with TRANSFORM_SQL: each object's columns are the statement's result for its batch, which can differ between objects, so they cannot be merged into one file: use format=jsonl`;
  }
  if (cfg.format !== 'jsonl' && inferredColumns(cfg)) {
    return `format=${cfg.format} without schemaFile infers columns per object, so objects differ and cannot be merged into one file: set schemaFile (an Avro record schema), or use format=jsonl`;
  }
  switch (cfg.format) {
    case 'jsonl': return jsonlCodec(cfg);
    case 'csv':
    case 'csv_with_headers': return csvCodec(cfg);
    case 'avro': return avroCodec(cfg);
    case 'parquet': return parquetCodec(cfg);
  }
}
