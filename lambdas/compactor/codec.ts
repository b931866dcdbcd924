/**
 * What the compactor reads from and writes to one object, per format: rows (kept as the bytes the sink wrote, never
 * re-encoded, so a compacted file holds byte for byte the records of the objects it merges) and, per row, the
 * offset that deduplicates it and the record time that the manifest's bounds come from.
 */
import type { Readable } from 'node:stream';
import { createGunzip, createZstdDecompress, gunzipSync, zstdDecompressSync } from 'node:zlib';
import type { SinkConfig } from '../shared/config.ts';

export interface Row {
  readonly offset: bigint;
  /** Record time (epoch ms) when the records carry it. */
  readonly timeMs?: number;
  /** The row as the format holds it (a JSON line without its line feed). */
  readonly bytes: Buffer;
}

export interface Codec {
  /** The object's rows in offset order; throws for an object that is not what the sink writes. */
  decode(body: Buffer, where: string): Row[];
  /**
   * The rows of a file already in offset order (the compactor's own), a chunk at a time as the body streams in:
   * a file of hundreds of MB is never held whole. Throws for a row out of order.
   */
  decodeStream(body: Readable, where: string): AsyncIterable<Row[]>;
  /** What the compactor cannot do with this configuration, if anything. */
  readonly problem?: string;
}

function decompress(cfg: Pick<SinkConfig, 'compression'>, body: Buffer): Buffer {
  if (cfg.compression === 'gzip') return gunzipSync(body);
  if (cfg.compression === 'zstd') return zstdDecompressSync(body);
  return body;
}

const OFFSET_KEY = Buffer.from('"offset":');
const TIME_KEY = Buffer.from('"timestamp":"');

function startsWithAt(line: Buffer, at: number, key: Buffer): boolean {
  if (at + key.length > line.length) return false;
  for (let k = 1; k < key.length; k++) if (line[at + k] !== key[k]) return false;
  return true;
}

/**
 * An envelope line's top-level "offset" and "timestamp": one pass over its bytes that skips strings and counts
 * nesting, so the value's own keys (at any depth, in any field order, whatever FIELDS said when the line was
 * written) are never taken. No JSON is built: the row is copied as it is.
 */
function envelopeOf(line: Buffer): { offset: bigint; timeMs?: number } {
  let depth = 0;
  let offsetAt = -1;
  let timeAt = -1;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === 0x22) {
      if (depth === 1 && offsetAt < 0 && startsWithAt(line, i, OFFSET_KEY)) offsetAt = i + OFFSET_KEY.length;
      else if (depth === 1 && timeAt < 0 && startsWithAt(line, i, TIME_KEY)) timeAt = i + TIME_KEY.length;
      // Skip the string: a backslash escapes the next byte.
      for (i++; i < line.length && line[i] !== 0x22; i++) if (line[i] === 0x5c) i++;
    } else if (c === 0x7b || c === 0x5b) depth++;
    else if (c === 0x7d || c === 0x5d) depth--;
  }
  if (offsetAt < 0) throw new Error('a line without a top-level "offset"');
  let end = offsetAt;
  while (end < line.length && line[end] >= 0x30 && line[end] <= 0x39) end++;
  if (end === offsetAt || end - offsetAt > 19) throw new Error('a line whose "offset" is not an offset');
  const digits = line.toString('latin1', offsetAt, end);
  const offset = end - offsetAt <= 15 ? BigInt(Number(digits)) : BigInt(digits);
  if (timeAt < 0) return { offset };
  const close = line.indexOf(0x22, timeAt);
  const timeMs = close > timeAt ? Date.parse(line.toString('latin1', timeAt, close)) : Number.NaN;
  return Number.isFinite(timeMs) ? { offset, timeMs } : { offset };
}

function jsonlCodec(cfg: SinkConfig): Codec {
  return {
    decode(body, where) {
      const text = decompress(cfg, body);
      const rows: Row[] = [];
      let start = 0;
      while (start < text.length) {
        let end = text.indexOf(0x0a, start);
        if (end < 0) end = text.length;
        if (end > start) {
          const bytes = text.subarray(start, end);
          try {
            rows.push({ ...envelopeOf(bytes), bytes });
          } catch (err) {
            throw new Error(`${where}: line ${rows.length + 1} is not a record of this sink (${(err as Error).message})`, { cause: err });
          }
        }
        start = end + 1;
      }
      // The sink writes a partition's records in offset order; a file merged here too. Sorting keeps it so for any.
      return rows.sort((a, b) => (a.offset < b.offset ? -1 : a.offset > b.offset ? 1 : 0));
    },
    async *decodeStream(body, where) {
      const decompressor = cfg.compression === 'gzip' ? createGunzip() : cfg.compression === 'zstd' ? createZstdDecompress() : undefined;
      let text: AsyncIterable<Buffer> = body;
      if (decompressor) {
        body.on('error', (err) => decompressor.destroy(err));
        text = body.pipe(decompressor);
      }
      let carry: Buffer | undefined;
      let line = 0;
      let last: bigint | undefined;
      const parse = (bytes: Buffer): Row => {
        line++;
        let row: Row;
        try {
          row = { ...envelopeOf(bytes), bytes };
        } catch (err) {
          throw new Error(`${where}: line ${line} is not a record of this sink (${(err as Error).message})`, { cause: err });
        }
        if (last !== undefined && row.offset <= last) throw new Error(`${where}: line ${line} (offset ${row.offset}) is not after offset ${last}: not a compacted file`);
        last = row.offset;
        return row;
      };
      for await (const chunk of text) {
        const buf = carry ? Buffer.concat([carry, chunk]) : chunk;
        const rows: Row[] = [];
        let start = 0;
        for (let end = buf.indexOf(0x0a, start); end >= 0; end = buf.indexOf(0x0a, start)) {
          if (end > start) rows.push(parse(buf.subarray(start, end)));
          start = end + 1;
        }
        // The unfinished line is copied: a view would keep this whole chunk alive.
        carry = start < buf.length ? Buffer.from(buf.subarray(start)) : undefined;
        if (rows.length > 0) yield rows;
      }
      if (carry) yield [parse(carry)];
    },
  };
}

/** The codec of a configuration, or why the compactor cannot merge its objects. */
export function codecFor(cfg: SinkConfig): Codec | string {
  if (cfg.format !== 'jsonl') return `format=${cfg.format}: the compactor merges jsonl objects (other formats are not built yet)`;
  if (!cfg.envelope) return 'jsonl without the envelope: each line needs its offset to be deduplicated';
  if (!cfg.fields.includes('offset')) return `fields=${cfg.fields.join(',')}: the compactor deduplicates records by offset, so fields must include offset`;
  return jsonlCodec(cfg);
}
