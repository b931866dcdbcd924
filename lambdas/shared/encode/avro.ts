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

/** Tables with registry columns: each row written by the registry writer (avsc cannot hold ambiguous unions unwrapped). */
function encodeRegistryRows(table: Table, codec: AvroCodec, level: number | undefined): Buffer {
  const { header, sync } = avroContainer(table, codec);
  const out: Buffer[] = [header];
  const cols = table.columns.map(columnRType);
  const w = new AvroWriter(Math.min(AVRO_BLOCK_BYTES, Math.max(1024, table.rowCount * 256)));
  let count = 0;
  const flush = () => {
    if (count === 0) return;
    out.push(...avroBlock(codec, w.buf.subarray(0, w.pos), count, sync, level));
    w.pos = 0;
    count = 0;
  };
  for (let row = 0; row < table.rowCount; row++) {
    for (let c = 0; c < cols.length; c++) writeAvro(cols[c].type, cols[c].value(table.data[c][row]), w);
    count++;
    if (w.pos >= AVRO_BLOCK_BYTES) flush();
  }
  flush();
  return Buffer.concat(out);
}

export function encodeAvro(table: Table, codec: AvroCodec, level?: number): Buffer {
  if (table.columns.some((c) => c.registry)) return encodeRegistryRows(table, codec, level);
  const { header, sync } = avroContainer(table, codec);
  // avsc resolves the registry's exact long type only for plain 'long', so it encodes with logical types removed.
  const type = avroRecordType(avroSchemaFor(table, false));
  const out: Buffer[] = [header];
  const cols = table.columns;
  // Rows are encoded straight into one block buffer (no Buffer per row), reused after each block is written out. It
  // starts at the size the rows suggest (an object of one record needs a small one) and grows when a row does not fit.
  let block = Buffer.allocUnsafe(Math.min(AVRO_BLOCK_BYTES, Math.max(1024, table.rowCount * 256)));
  let blockBytes = 0;
  let blockCount = 0;
  const flush = () => {
    if (blockCount === 0) return;
    out.push(...avroBlock(codec, block.subarray(0, blockBytes), blockCount, sync, level));
    blockBytes = 0;
    blockCount = 0;
  };
  for (let row = 0; row < table.rowCount; row++) {
    // No prototype: a field named "__proto__" must be an own field, not a prototype change.
    const obj = Object.create(null) as Record<string, unknown>;
    for (let c = 0; c < cols.length; c++) obj[cols[c].name] = table.data[c][row];
    let end = type.encode(obj, block, blockBytes);
    if (end < 0) {
      // It does not fit (encode returns minus the missing bytes): a larger buffer holding the block so far.
      const next = Buffer.allocUnsafe(Math.max(block.length * 2, block.length - end));
      block.copy(next, 0, 0, blockBytes);
      block = next;
      end = type.encode(obj, block, blockBytes);
    }
    blockBytes = end;
    blockCount++;
    if (blockBytes >= AVRO_BLOCK_BYTES) flush();
  }
  flush();
  return Buffer.concat(out);
}
