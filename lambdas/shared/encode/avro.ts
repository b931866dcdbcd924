/**
 * Avro object container files. Records are encoded by avsc (with an exact 64-bit long type: avsc's default long
 * refuses BigInt); the container (header, blocks, codec, sync marker) is assembled here so that the same input
 * always yields the same bytes — the sync marker is derived from the schema, not random.
 */
import { createHash } from 'node:crypto';
import zlib from 'node:zlib';
import avro from 'avsc';
import snappy from 'snappyjs';
import { AvroWriter, avroSchemaOf, nullableColumn, writeAvro } from '../registry/columns.ts';
import type { RType } from '../registry/types.ts';
import type { Column } from '../schema.ts';
import type { Table } from './table.ts';

/**
 * avsc packs a long's 8 bytes into the output at once and keeps nothing: one scratch buffer serves every value. A
 * long cell is a number when a double holds it exactly (no BigInt made for it), else a BigInt (schema.ts, toCell).
 */
const longBytes = Buffer.alloc(8);
const TWO_32 = 2 ** 32;
export const ExactLong = avro.types.LongType.__with({
  fromBuffer: (buf: Buffer) => buf.readBigInt64LE(),
  toBuffer: (n: bigint | number) => {
    if (typeof n === 'number') {
      // Two's complement of a safe integer, as two 32-bit halves.
      longBytes.writeUInt32LE(n >>> 0, 0);
      longBytes.writeInt32LE(Math.floor(n / TWO_32), 4);
    } else longBytes.writeBigInt64LE(n);
    return longBytes;
  },
  fromJSON: (v: unknown) => BigInt(v as string),
  toJSON: (n: bigint | number) => Number(n),
  isValid: (n: unknown) => typeof n === 'bigint' || Number.isSafeInteger(n),
  compare: (a: bigint | number, b: bigint | number) => (a < b ? -1 : a > b ? 1 : 0),
});

function avroType(c: Column, logical: boolean, defined: Set<string>): unknown {
  if (c.registry) return avroSchemaOf(nullableColumn(c.registry).type, defined, logical);
  if (!logical) return c.type === 'timestamp-millis' || c.type === 'timestamp-micros' ? 'long' : c.type === 'date' ? 'int' : c.type === 'json' ? 'string' : c.type;
  switch (c.type) {
    case 'timestamp-millis':
    case 'timestamp-micros':
      return { type: 'long', logicalType: c.type };
    case 'date':
      return { type: 'int', logicalType: 'date' };
    case 'json':
      return 'string';
    default:
      return c.type;
  }
}

/** The file's schema; with `logical` false, the same schema without logical types, for avsc's encoder. */
export function avroSchemaFor(table: Table, logical = true): Record<string, unknown> {
  // Named types of registry columns are defined once in the file's schema, then named.
  const defined = new Set<string>();
  return {
    type: 'record',
    name: table.name,
    ...(table.namespace ? { namespace: table.namespace } : {}),
    fields: table.columns.map((c) => ({
      name: c.name,
      type: c.registry ? avroType(c, logical, defined) : c.nullable ? ['null', avroType(c, logical, defined)] : avroType(c, logical, defined),
      ...(c.nullable ? { default: null } : {}),
      ...(c.doc ? { doc: c.doc } : {}),
    })),
  };
}

function zigzag(n: number): Buffer {
  const out: number[] = [];
  let v = BigInt(n);
  v = v >= 0n ? v << 1n : ((-v) << 1n) - 1n;
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) byte |= 0x80;
    out.push(byte);
  } while (v > 0n);
  return Buffer.from(out);
}

function avroBytes(b: Buffer): Buffer[] {
  return [zigzag(b.length), b];
}

export type AvroCodec = 'null' | 'deflate' | 'snappy' | 'zstandard';

function compressBlock(codec: AvroCodec, data: Buffer, level?: number): Buffer {
  switch (codec) {
    case 'null': return data;
    case 'deflate': return zlib.deflateRawSync(data, level === undefined ? {} : { level });
    case 'zstandard':
      return zlib.zstdCompressSync(data, level === undefined ? {} : { params: { [zlib.constants.ZSTD_c_compressionLevel]: level } });
    case 'snappy': {
      // Avro's snappy blocks end with the big-endian CRC-32 of the uncompressed data.
      const crc = Buffer.allocUnsafe(4);
      crc.writeUInt32BE(zlib.crc32(data));
      return Buffer.concat([Buffer.from(snappy.compress(data)), crc]);
    }
  }
}

/** A block's data as written by `codec` (any of the four; a snappy block's CRC is checked). */
export function decompressBlock(codec: string, data: Buffer): Buffer {
  switch (codec) {
    case 'null': return data;
    case 'deflate': return zlib.inflateRawSync(data);
    case 'zstandard': return zlib.zstdDecompressSync(data);
    case 'snappy': {
      const out = Buffer.from(snappy.uncompress(data.subarray(0, data.length - 4)));
      if (data.length < 4 || zlib.crc32(out) !== data.readUInt32BE(data.length - 4)) throw new Error('a snappy block whose CRC does not match its data');
      return out;
    }
    default: throw new Error(`an Avro codec this sink does not write: ${JSON.stringify(codec)}`);
  }
}

/** Rows a block holds at most, in uncompressed bytes (a block is compressed as one piece). */
export const AVRO_BLOCK_BYTES = 1024 * 1024;

/** avsc's type for encoding (or decoding) a table's records: logical types removed, longs exact. */
export function avroRecordType(schema: Record<string, unknown>): avro.Type {
  return avro.Type.forSchema(schema as avro.Schema, { registry: { long: ExactLong } as never, wrapUnions: false });
}

export interface AvroContainer {
  /** The file's schema, as its header holds it. */
  readonly schemaText: string;
  /** Magic, metadata (schema, codec) and sync marker: what every file of this table and codec starts with. */
  readonly header: Buffer;
  readonly sync: Buffer;
}

/** The container of a table's files. The sync marker is derived from the schema, so equal input gives equal bytes. */
export function avroContainer(table: Table, codec: AvroCodec): AvroContainer {
  const schemaText = JSON.stringify(avroSchemaFor(table));
  const sync = createHash('md5').update(schemaText).digest();
  const header = Buffer.concat([
    Buffer.from('Obj\x01', 'latin1'),
    zigzag(2),
    ...avroBytes(Buffer.from('avro.schema')), ...avroBytes(Buffer.from(schemaText)),
    ...avroBytes(Buffer.from('avro.codec')), ...avroBytes(Buffer.from(codec)),
    zigzag(0),
    sync,
  ]);
  return { schemaText, header, sync };
}

/** One data block: the count of its records, the size of its compressed data, the data, the sync marker. */
export function avroBlock(codec: AvroCodec, data: Buffer, count: number, sync: Buffer, level?: number): Buffer[] {
  const body = compressBlock(codec, data, level);
  return [zigzag(count), zigzag(body.length), body === data ? Buffer.from(data) : body, sync];
}

/** A table column as a registry type, for the row writer of tables with registry columns (same bytes as avsc's). */
function columnRType(c: Column): { type: RType; value: (v: unknown) => unknown } {
  if (c.registry) return nullableColumn(c.registry);
  const base: RType = c.type === 'timestamp-millis' || c.type === 'timestamp-micros' ? { kind: 'long' }
    : c.type === 'date' ? { kind: 'int' } : c.type === 'json' ? { kind: 'string' } : { kind: c.type as 'boolean' | 'int' | 'long' | 'float' | 'double' | 'string' | 'bytes' };
  return { type: c.nullable ? { kind: 'union', branches: [{ kind: 'null' }, base] } : base, value: (v) => v };
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

function invalid(col: Column, v: unknown): never {
  const text = typeof v === 'bigint' ? `${v}n` : typeof v === 'string' ? JSON.stringify(v.slice(0, 40)) : Buffer.isBuffer(v) ? 'bytes' : String(v);
  throw new TypeError(`invalid ${col.type} cell for column ${JSON.stringify(col.name)}: ${text}`);
}

/**
 * One cell of a table without registry columns, as avsc writes it for the schema of avroSchemaFor(table, false):
 * a nullable column is the union ["null", T] (branch 0 for null, 1 for a value), longs exact (ExactLong), logical
 * types as their base type. A cell avsc would refuse throws here too (the pipeline's bisect sets its record aside).
 */
function writeCell(w: AvroWriter, col: Column, v: unknown): void {
  if (col.nullable) {
    // A missing cell takes the field's default, null (as avsc's record writer does).
    if (v === null || v === undefined) {
      w.byte(0);
      return;
    }
    w.byte(2);
  }
  switch (col.type) {
    case 'boolean':
      if (typeof v !== 'boolean') invalid(col, v);
      w.boolean(v);
      return;
    case 'int':
    case 'date':
      if (v !== ((v as number) | 0)) invalid(col, v);
      w.long(v as number);
      return;
    case 'long':
    case 'timestamp-millis':
    case 'timestamp-micros':
      if (typeof v === 'bigint' ? v < INT64_MIN || v > INT64_MAX : !Number.isSafeInteger(v)) invalid(col, v);
      w.long(v as number | bigint);
      return;
    case 'float':
      if (typeof v !== 'number') invalid(col, v);
      w.float(v);
      return;
    case 'double':
      if (typeof v !== 'number') invalid(col, v);
      w.double(v);
      return;
    case 'string':
    case 'json':
      if (typeof v !== 'string') invalid(col, v);
      w.str(v);
      return;
    case 'bytes':
      if (!Buffer.isBuffer(v)) invalid(col, v);
      w.sized(v);
      return;
    default:
      invalid(col, v);
  }
}

/**
 * The rows of a table into blocks. Tables of plain columns are written a cell at a time, straight from the columns
 * (no object per row); tables with registry columns by the registry writer (avsc cannot hold ambiguous unions
 * unwrapped). Both give the bytes avsc gives (test/lambdas/shared/avro-bytes.test.ts holds the first to avsc).
 */
export function encodeAvro(table: Table, codec: AvroCodec, level?: number): Buffer {
  const { header, sync } = avroContainer(table, codec);
  const out: Buffer[] = [header];
  const registry = table.columns.some((c) => c.registry);
  const cols = table.columns;
  const rtypes = registry ? cols.map(columnRType) : [];
  // One block buffer, reused after each block is written out. It starts at the size the rows suggest (an object of
  // one record needs a small one) and grows when a row does not fit.
  const w = new AvroWriter(Math.min(AVRO_BLOCK_BYTES, Math.max(1024, table.rowCount * 256)));
  let count = 0;
  const flush = () => {
    if (count === 0) return;
    out.push(...avroBlock(codec, w.buf.subarray(0, w.pos), count, sync, level));
    w.pos = 0;
    count = 0;
  };
  for (let row = 0; row < table.rowCount; row++) {
    if (registry) for (let c = 0; c < cols.length; c++) writeAvro(rtypes[c].type, rtypes[c].value(table.data[c][row]), w);
    else for (let c = 0; c < cols.length; c++) writeCell(w, cols[c], table.data[c][row]);
    count++;
    if (w.pos >= AVRO_BLOCK_BYTES) flush();
  }
  flush();
  return Buffer.concat(out);
}
