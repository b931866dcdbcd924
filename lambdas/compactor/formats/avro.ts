/**
 * Avro object container files (the sink's: encode/avro.ts). A row is one record's binary encoding, copied as it is;
 * only its offset and time are decoded, by a reader schema of those two fields (avsc skips the others). Every file of
 * a table has the same header (the sync marker comes from the schema), so a compacted file is that header and blocks
 * of the merged records, compressed with the configured codec.
 */
import type { SinkConfig } from '../../shared/config.ts';
import { MetadataColumnPrefix } from '../../shared/constants.ts';
import { AVRO_BLOCK_BYTES, avroBlock, avroContainer, avroRecordType, avroSchemaFor, decompressBlock, type AvroCodec } from '../../shared/encode/avro.ts';
import { buildTable } from '../../shared/encode/table.ts';
import { byOffset, inOrder, type Codec, type FileBody, type Row } from '../codec.ts';

/** Reads a byte stream a piece at a time: what a container's parser needs, whether from one buffer or a stream. */
class ByteReader {
  private buf: Buffer = Buffer.alloc(0);
  private at = 0;
  private ended = false;
  private readonly chunks: AsyncIterator<Buffer>;
  constructor(chunks: AsyncIterator<Buffer>) {
    this.chunks = chunks;
  }

  /** Whether `n` more bytes are there (false at the end of the stream with fewer). */
  private async fill(n: number): Promise<boolean> {
    if (this.buf.length - this.at >= n) return true;
    const parts: Buffer[] = [this.buf.subarray(this.at)];
    let have = parts[0].length;
    while (have < n && !this.ended) {
      const next = await this.chunks.next();
      if (next.done) this.ended = true;
      else {
        parts.push(next.value);
        have += next.value.length;
      }
    }
    this.buf = parts.length === 1 ? parts[0] : Buffer.concat(parts, have);
    this.at = 0;
    return have >= n;
  }

  /** A zig-zag varint long (as the container's counts and sizes are), or undefined at the end of the stream. */
  async long(): Promise<number | undefined> {
    await this.fill(10);
    if (this.at >= this.buf.length) return undefined;
    let n = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.at >= this.buf.length) throw new Error('the file ends inside a number');
      const b = this.buf[this.at++];
      n += (b & 0x7f) * scale;
      scale *= 128;
      if ((b & 0x80) === 0) return n % 2 === 0 ? n / 2 : -(n + 1) / 2;
    }
    throw new Error('a number of more than 10 bytes');
  }

  async bytes(n: number): Promise<Buffer> {
    if (n < 0 || !(await this.fill(n))) throw new Error('the file ends early');
    const out = this.buf.subarray(this.at, this.at + n);
    this.at += n;
    return out;
  }
}

const MAGIC = Buffer.from('Obj\x01', 'latin1');

/**
 * A container's rows, a block at a time, after checking its header is the table's (`schemaText`; any schema when
 * undefined: the replay reads files of any table). `decodeRows` gets each block's data and the file's schema.
 */
export async function* containerRows<R = Row>(chunks: AsyncIterable<Buffer>, schemaText: string | undefined, decodeRows: (block: Buffer, count: number, schema: string) => R[], where: string, data = { bytes: 0 }): AsyncGenerator<R[]> {
  const r = new ByteReader(chunks[Symbol.asyncIterator]());
  try {
    if (!(await r.bytes(4)).equals(MAGIC)) throw new Error('not an Avro object container file');
    const meta = new Map<string, Buffer>();
    for (let count = await r.long(); count !== 0; count = await r.long()) {
      if (count === undefined) throw new Error('the file ends in its header');
      if (count < 0) {
        count = -count;
        await r.long(); // the block's size in bytes
      }
      for (let i = 0; i < count; i++) {
        const key = (await r.bytes((await r.long()) ?? -1)).toString();
        meta.set(key, Buffer.from(await r.bytes((await r.long()) ?? -1)));
      }
    }
    const sync = Buffer.from(await r.bytes(16));
    const schema = meta.get('avro.schema')?.toString() ?? '';
    if (schemaText !== undefined && schema !== schemaText) {
      throw new Error('written with another schema than the configured one (schemaFile or fields changed since): its records cannot be merged with the others');
    }
    const codec = meta.get('avro.codec')?.toString() ?? 'null';
    for (let count = await r.long(); count !== undefined; count = await r.long()) {
      const size = await r.long();
      if (size === undefined || count < 0) throw new Error('a block without its size');
      const block = decompressBlock(codec, await r.bytes(size));
      // Every record takes a byte at least (a record of no fields aside): a block that claims more is not a file to
      // decode (a 100-byte file claiming 2^40 records would otherwise decode for ever).
      if (count > block.length) throw new Error(`a block claims ${count} records in ${block.length} bytes`);
      if (!(await r.bytes(16)).equals(sync)) throw new Error('a block whose sync marker is not the file\'s');
      data.bytes += size;
      yield decodeRows(block, count, schema);
    }
  } catch (err) {
    throw new Error(`${where}: ${(err as Error).message}`, { cause: err });
  }
}

export async function* one(body: Buffer): AsyncGenerator<Buffer> {
  yield body;
}

class AvroBody implements FileBody {
  private block: Buffer = Buffer.allocUnsafe(AVRO_BLOCK_BYTES);
  private used = 0;
  private count = 0;
  private started = false;
  private readonly codec: AvroCodec;
  private readonly header: Buffer;
  private readonly sync: Buffer;
  private readonly level?: number;
  constructor(codec: AvroCodec, header: Buffer, sync: Buffer, level?: number) {
    this.codec = codec;
    this.header = header;
    this.sync = sync;
    this.level = level;
  }

  add(row: Row): void {
    const bytes = row.bytes!;
    if (this.used + bytes.length > this.block.length) {
      const bigger = Buffer.allocUnsafe(Math.max(this.block.length * 2, this.used + bytes.length));
      this.block.copy(bigger, 0, 0, this.used);
      this.block = bigger;
    }
    this.used += bytes.copy(this.block, this.used);
    this.count++;
  }

  get held(): number {
    return this.used;
  }

  get ready(): boolean {
    return this.used >= AVRO_BLOCK_BYTES;
  }

  take(): Buffer {
    const parts = this.started ? [] : [this.header];
    this.started = true;
    if (this.count > 0) parts.push(...avroBlock(this.codec, this.block.subarray(0, this.used), this.count, this.sync, this.level));
    this.used = 0;
    this.count = 0;
    if (this.block.length > AVRO_BLOCK_BYTES) this.block = Buffer.allocUnsafe(AVRO_BLOCK_BYTES);
    return Buffer.concat(parts);
  }

  end(): Buffer {
    return this.take();
  }
}

export function avroCodec(cfg: SinkConfig): Codec {
  const table = buildTable(cfg, []).table;
  const codec = cfg.compression as AvroCodec;
  const { schemaText, header, sync } = avroContainer(table, codec);
  const has = (name: string) => table.columns.some((c) => c.name === name);
  const offsetName = `${MetadataColumnPrefix}offset`;
  const timeName = `${MetadataColumnPrefix}timestamp`;
  const withTime = has(timeName);
  // The reader schema: the same record (its name resolves it), only the two fields; longs exact.
  const writer = avroRecordType(avroSchemaFor(table, false));
  const reader = avroRecordType({
    type: 'record', name: table.name, ...(table.namespace ? { namespace: table.namespace } : {}),
    fields: [{ name: offsetName, type: 'long' }, ...(withTime ? [{ name: timeName, type: 'long' }] : [])],
  });
  const resolver = reader.createResolver(writer);
  const decodeRows = (block: Buffer, count: number): Row[] => {
    const rows: Row[] = [];
    let pos = 0;
    for (let i = 0; i < count; i++) {
      const { value, offset: next } = reader.decode(block, pos, resolver) as { value: Record<string, bigint | number>; offset: number };
      if (next < 0 || next > block.length) throw new Error(`record ${i + 1} of a block runs past its end`);
      const o = value[offsetName];
      const t = withTime ? Number(value[timeName]) : undefined;
      rows.push({ offset: BigInt(o), ...(t !== undefined ? { timeMs: t } : {}), size: next - pos, bytes: block.subarray(pos, next) });
      pos = next;
    }
    if (pos !== block.length) throw new Error(`a block holds ${block.length - pos} bytes after its ${count} records`);
    return rows;
  };
  return {
    streamCompressed: false,
    mergeBytesPerMs: 1000,
    async decode(body, where) {
      const rows: Row[] = [];
      const data = { bytes: 0 };
      for await (const block of containerRows(one(body), schemaText, decodeRows, where, data)) for (const r of block) rows.push(r);
      return { rows: rows.sort(byOffset), bytes: data.bytes };
    },
    async *decodeFile(file, where) {
      const check = inOrder(where);
      let n = 0;
      for await (const rows of containerRows(await file.stream(), schemaText, decodeRows, where)) {
        for (const r of rows) check(r, ++n);
        yield rows;
      }
    },
    body: () => new AvroBody(codec, header, sync, cfg.compressionLevel),
  };
}
