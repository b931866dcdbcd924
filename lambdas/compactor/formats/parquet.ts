/**
 * Parquet (the sink's: encode/parquet.ts). A row is its cells as hyparquet reads them with no conversion (INT64 and
 * timestamps as BigInt, dates as day numbers, byte arrays and strings as their bytes), which is what hyparquet-writer
 * takes back: a compacted file has the sink's schema, with row groups of about ROW_GROUP_BYTES of values. A file of
 * an earlier generation is read a row group at a time by ranged GETs (its footer first), never whole.
 */
import { gunzipSync, zstdDecompressSync } from 'node:zlib';
import { parquetMetadata, parquetMetadataAsync, parquetRead, type AsyncBuffer, type FileMetaData } from 'hyparquet';
import { ByteWriter, ParquetWriter } from 'hyparquet-writer';
import type { SinkConfig } from '../../shared/config.ts';
import { MetadataColumnPrefix } from '../../shared/constants.ts';
import { PARQUET_CODECS, PARQUET_CREATED_BY, parquetColumnOptions, parquetCompressors, parquetSchemaOf, type ParquetCodec, type SchemaElement } from '../../shared/encode/parquet.ts';
import { buildTable } from '../../shared/encode/table.ts';
import { byOffset, inOrder, named, namedRows, type Codec, type FileBody, type Row } from '../codec.ts';

/** Values a compacted file's row group holds at most (uncompressed, a quarter of the target for small targets):
 * bounds the cells held in memory while writing. */
export const ROW_GROUP_BYTES = 32 * 1024 * 1024;
/** Rows a compacted file's row group holds at most: small rows cost memory per row and cell more than their bytes. */
export const ROW_GROUP_ROWS = 250_000;

const raw = <T>(v: T): T => v;
/** No conversion: values stay what the file stores, so they are written back exactly. */
const RAW_PARSERS = {
  timestampFromMilliseconds: raw, timestampFromMicroseconds: raw, timestampFromNanoseconds: raw, dateFromDays: raw, stringFromBytes: raw, jsonFromBytes: raw,
};
const DECOMPRESSORS = {
  ZSTD: (input: Uint8Array) => zstdDecompressSync(input),
  GZIP: (input: Uint8Array) => gunzipSync(input),
};

/** The uncompressed size of a row's cells, about. */
function sizeOf(cells: readonly unknown[]): number {
  let n = 0;
  for (const v of cells) n += v instanceof Uint8Array ? v.length + 4 : typeof v === 'boolean' ? 1 : 8;
  return n;
}

/** What a column is, as far as its values mean: physical type, repetition, and the annotations of its logical type. */
function columnKind(e: SchemaElement): string {
  const lt = e.logical_type as { type?: string; unit?: unknown; isAdjustedToUTC?: boolean } | undefined;
  const unit = typeof lt?.unit === 'string' ? lt.unit : lt?.unit && typeof lt.unit === 'object' ? Object.keys(lt.unit).join() : '';
  return [e.name, e.type, e.repetition_type, e.converted_type ?? '', lt?.type ?? '', unit, lt?.isAdjustedToUTC ?? ''].join(' ').trim();
}

function sameSchema(actual: readonly SchemaElement[], expected: readonly SchemaElement[]): string | undefined {
  const show = (s: readonly SchemaElement[]) => s.slice(1).map(columnKind).join(', ');
  const same = actual.length === expected.length && expected.every((e, i) => (i === 0 ? e.name === actual[i].name : columnKind(e) === columnKind(actual[i])));
  return same ? undefined : `written with another schema than the configured one (schemaFile or fields changed since): its columns are ${show(actual)}, the table's ${show(expected)}`;
}

class ParquetBody implements FileBody {
  private readonly writer = new ByteWriter();
  private readonly pw: ParquetWriter;
  private columns: unknown[][];
  private rows = 0;
  private bytes = 0;
  private readonly schema: readonly SchemaElement[];
  /** Each column's settings for the writer (nullable, statistics): the sink's, so the files are the sink's. */
  private readonly options: readonly ReturnType<typeof parquetColumnOptions>[];
  private readonly groupBytes: number;
  constructor(schema: readonly SchemaElement[], codec: ParquetCodec, level: number | undefined, options: readonly ReturnType<typeof parquetColumnOptions>[], targetBytes: number) {
    this.schema = schema;
    this.options = options;
    // A file smaller than a few row groups gets smaller ones: its first row group then tells the file's own
    // compression ratio, which cuts it at its target (the small inputs' ratio counts their footers as data).
    this.groupBytes = Math.min(ROW_GROUP_BYTES, Math.max(256 * 1024, Math.floor(targetBytes / 4)));
    this.pw = new ParquetWriter({ writer: this.writer, schema: schema as never, codec: PARQUET_CODECS[codec], compressors: parquetCompressors(level) as never, createdBy: PARQUET_CREATED_BY });
    this.columns = options.map(() => []);
  }

  add(row: Row): void {
    const cells = row.cells!;
    for (let c = 0; c < cells.length; c++) this.columns[c].push(cells[c]);
    this.rows++;
    this.bytes += row.size;
  }

  get held(): number {
    return this.bytes;
  }

  get ready(): boolean {
    return this.bytes >= this.groupBytes || this.rows >= ROW_GROUP_ROWS;
  }

  /** What the writer holds, handed out (the writer counts on: its offsets are the file's). */
  private drain(): Buffer {
    const out = Buffer.from(this.writer.getBytes());
    this.writer.index = 0;
    return out;
  }

  take(): Buffer {
    if (this.rows > 0) {
      void this.pw.write({
        columnData: this.columns.map((data, c) => ({ name: this.schema[c + 1].name, data, ...this.options[c] })) as never,
        rowGroupSize: this.rows,
      });
      this.columns = this.options.map(() => []);
      this.rows = 0;
      this.bytes = 0;
    }
    return this.drain();
  }

  end(): Buffer {
    const last = this.take();
    void this.pw.finish();
    return Buffer.concat([last, this.drain()]);
  }
}

export function parquetCodec(cfg: SinkConfig): Codec {
  const table = buildTable(cfg, []).table;
  const schema = parquetSchemaOf(table);
  const options = table.columns.map(parquetColumnOptions);
  const offsetAt = table.columns.findIndex((c) => c.name === `${MetadataColumnPrefix}offset`);
  const timeAt = table.columns.findIndex((c) => c.name === `${MetadataColumnPrefix}timestamp`);
  const toRow = (cells: unknown[]): Row => ({
    offset: BigInt(cells[offsetAt] as bigint), ...(timeAt >= 0 ? { timeMs: Number(cells[timeAt]) } : {}), size: sizeOf(cells), cells,
  });
  const read = async (file: AsyncBuffer, metadata: FileMetaData, where: string, rowStart?: number, rowEnd?: number): Promise<Row[]> => {
    const problem = sameSchema(metadata.schema as SchemaElement[], schema);
    if (problem) throw new Error(`${where}: ${problem}`);
    let rows: unknown[][] = [];
    await parquetRead({
      file, metadata, rowStart, rowEnd, compressors: DECOMPRESSORS as never, parsers: RAW_PARSERS as never, utf8: false, rowFormat: 'array',
      onComplete: (r: unknown[][]) => (rows = r),
    });
    return rows.map(toRow);
  };
  return {
    streamCompressed: false,
    mergeBytesPerMs: 250,
    async decode(body, where) {
      try {
        const file = body.buffer.slice(body.byteOffset, body.byteOffset + body.length) as ArrayBuffer;
        let metadata: FileMetaData;
        try {
          metadata = parquetMetadata(file);
        } catch (err) {
          throw new Error(`not a Parquet file (${(err as Error).message})`, { cause: err });
        }
        const rows = await read(file, metadata, where);
        // The rows' compressed bytes: the column chunks, without the footer and its statistics.
        const bytes = metadata.row_groups.reduce((sum, g) => sum + Number(g.total_compressed_size ?? 0n), 0);
        return { rows: rows.sort(byOffset), bytes: bytes > 0 ? bytes : body.length };
      } catch (err) {
        throw named(where, err);
      }
    },
    decodeFile: (stored, where) => namedRows(where, (async function* () {
      const file: AsyncBuffer = {
        byteLength: stored.bytes,
        slice: async (start, end) => {
          const b = await stored.range(start, end ?? stored.bytes);
          return b.buffer.slice(b.byteOffset, b.byteOffset + b.length) as ArrayBuffer;
        },
      };
      const metadata = await parquetMetadataAsync(file);
      const check = inOrder(where);
      let start = 0;
      let n = 0;
      for (const group of metadata.row_groups) {
        const end = start + Number(group.num_rows);
        const rows = await read(file, metadata, where, start, end);
        for (const r of rows) check(r, ++n);
        start = end;
        yield rows;
      }
    })()),
    body: (targetBytes) => new ParquetBody(schema, cfg.compression as ParquetCodec, cfg.compressionLevel, options, targetBytes),
  };
}
