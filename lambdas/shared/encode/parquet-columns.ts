/**
 * Column chunks of flat number and string columns, written straight from the column table's cells: the bytes
 * hyparquet-writer's writeColumn writes for the same column, without its per-value objects (a UTF-8 view per string,
 * a BigInt per INT64 cell, level and index arrays, page slices). The parquet encoder spends most of its time and
 * garbage there; the runner bench measured about 40 % of a Parquet run's CPU in the encode stage with
 * hyparquet-writer alone (see README, Performance).
 *
 * Byte for byte the same as writeColumn (a property test holds it against hyparquet-writer): the same dictionary
 * decision (sample of 1,000 values, FNV-1a keyed byte arrays, the "at least halve" rule), the same statistics, page
 * boundaries, RLE/bit-packed levels and indexes, page headers and chunk metadata. Other columns (boolean, bytes) go
 * through writeColumn itself; registry columns keep the whole file on hyparquet-writer (parquet.ts).
 */
import type { ByteWriter } from 'hyparquet-writer';
import { writePageHeader } from 'hyparquet-writer/src/datapage.js';
import { writeRleBitPackedHybrid } from 'hyparquet-writer/src/encoding.js';
import type { Column } from '../schema.ts';

/** hyparquet-writer's default page size (bytes of values estimated per page). */
const PAGE_SIZE = 1_048_576;
/** hyparquet-writer samples this many values spread over the chunk to reject a dictionary early. */
const SAMPLE = 1000;
const SAMPLE_REJECTION_RATIO = 0.9;
const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const TWO_32 = 4_294_967_296;

type Physical = 'INT32' | 'INT64' | 'FLOAT' | 'DOUBLE' | 'BYTE_ARRAY';

/** The physical type this module writes a column as, or undefined when writeColumn must (boolean, bytes, registry). */
export function flatPhysical(c: Column): Physical | undefined {
  if (c.registry) return undefined;
  switch (c.type) {
    case 'int': case 'date': return 'INT32';
    case 'long': case 'timestamp-millis': case 'timestamp-micros': return 'INT64';
    case 'float': return 'FLOAT';
    case 'double': return 'DOUBLE';
    case 'string': case 'json': return 'BYTE_ARRAY';
    default: return undefined;
  }
}

/** A string column's cells as UTF-8: one buffer, each non-null value's start and length (nulls: length -1). */
interface Utf8Column {
  readonly bytes: Buffer;
  readonly start: Int32Array;
  readonly length: Int32Array;
  readonly ascii: boolean;
}

/** Thrown when a string is not well-formed Unicode: equal bytes could then come from unequal strings. */
export class NotWellFormed extends Error {}

function utf8Column(values: readonly unknown[], a: number, b: number): Utf8Column {
  const n = b - a;
  const start = new Int32Array(n);
  const length = new Int32Array(n).fill(-1);
  const strings: string[] = [];
  for (let i = a; i < b; i++) if (values[i] !== null && values[i] !== undefined) strings.push(values[i] as string);
  const joined = strings.join('');
  const bytes = Buffer.from(joined, 'utf8');
  const ascii = bytes.length === joined.length;
  let at = 0;
  if (ascii) {
    for (let i = 0; i < n; i++) {
      const v = values[a + i];
      if (v === null || v === undefined) continue;
      const len = (v as string).length;
      start[i] = at;
      length[i] = len;
      at += len;
    }
    return { bytes, start, length, ascii };
  }
  // Each value alone: a lone surrogate at the end of one string must not pair with the next one's.
  const own = Buffer.allocUnsafe(strings.reduce((s, v) => s + Buffer.byteLength(v, 'utf8'), 0));
  for (let i = 0; i < n; i++) {
    const v = values[a + i] as string | null | undefined;
    if (v === null || v === undefined) continue;
    if (!v.isWellFormed()) throw new NotWellFormed();
    const len = own.write(v, at, 'utf8');
    start[i] = at;
    length[i] = len;
    at += len;
  }
  return { bytes: own, start, length, ascii };
}

/** hyparquet-writer's hashBytes (FNV-1a) of a span. */
function fnv(bytes: Buffer, s: number, len: number): number {
  let h = 0x811c9dc5;
  for (let i = s; i < s + len; i++) {
    h ^= bytes[i];
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** Unsigned byte order of two spans (BYTE_ARRAY statistics). */
function compareSpans(bytes: Buffer, s1: number, l1: number, s2: number, l2: number): number {
  const len = Math.min(l1, l2);
  for (let i = 0; i < len; i++) {
    const d = bytes[s1 + i] - bytes[s2 + i];
    if (d !== 0) return d;
  }
  return l1 - l2;
}

/** An INT64 cell as a dictionary key: a number when a double holds it, else its BigInt (range checked). */
function int64Key(v: unknown): number | bigint {
  if (typeof v === 'bigint') {
    if (v < INT64_MIN || v > INT64_MAX) throw new RangeError(`parquet INT64 value out of range: ${v}`);
    return v >= MIN_SAFE && v <= MAX_SAFE ? Number(v) : v;
  }
  return v as number;
}

const valueSize = (type: Physical): number => (type === 'INT32' || type === 'FLOAT' ? 4 : 8);

export interface ChunkOptions {
  readonly column: Column;
  readonly type: Physical;
  readonly stats: boolean;
  readonly codec: string;
  readonly compress: ((input: Uint8Array) => Uint8Array) | undefined;
}

export interface ChunkResult {
  chunk: Record<string, unknown>;
  columnIndex?: undefined;
  offsetIndex?: { page_locations: { offset: bigint; compressed_page_size: number; first_row_index: bigint }[] };
  bloomFilter?: undefined;
}

/** A growing byte buffer for one page's values. */
class PageBytes {
  buf: Buffer;
  at = 0;
  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(Math.max(size, 16));
  }
  bytes(): Uint8Array {
    return new Uint8Array(this.buf.buffer, this.buf.byteOffset, this.at);
  }
}

/**
 * Writes the chunk of rows [a, b) of one column, as hyparquet-writer's writeColumn would: returns its result for the
 * row group's columns and the file's page indexes.
 */
export function writeFlatChunk(writer: ByteWriter, values: readonly unknown[], a: number, b: number, o: ChunkOptions): ChunkResult {
  const { column, type, stats } = o;
  const n = b - a;
  const isBytes = type === 'BYTE_ARRAY';
  const utf8 = isBytes ? utf8Column(values, a, b) : undefined;
  const prefix = isBytes ? 4 : 0;
  const fixed = isBytes ? 0 : valueSize(type);
  const isNull = (i: number) => values[a + i] === null || values[a + i] === undefined;
  // Keys: what hyparquet-writer's Map would see as one value (BigInt by value, numbers by SameValueZero, bytes by
  // content: a well-formed string's bytes are equal exactly when the strings are).
  const keyOf = (i: number): unknown => (type === 'INT64' ? int64Key(values[a + i]) : values[a + i]);
  const sizeOf = (i: number): number => (isBytes ? utf8!.length[i] : fixed);

  if (!column.nullable) for (let i = 0; i < n; i++) if (isNull(i)) throw new Error('parquet required value is undefined');
  if (type === 'INT64') for (let i = 0; i < n; i++) if (!isNull(i)) int64Key(values[a + i]);

  // Statistics, over the cells (hyparquet-writer's getStatistics).
  let statistics: Record<string, unknown> | undefined;
  if (stats) {
    let nulls = 0;
    let nans = 0;
    let min = -1;
    let max = -1;
    for (let i = 0; i < n; i++) {
      if (isNull(i)) {
        nulls++;
        continue;
      }
      if (isBytes) {
        const s = utf8!.start[i], l = utf8!.length[i];
        if (min < 0 || compareSpans(utf8!.bytes, s, l, utf8!.start[min], utf8!.length[min]) < 0) min = i;
        if (max < 0 || compareSpans(utf8!.bytes, s, l, utf8!.start[max], utf8!.length[max]) > 0) max = i;
      } else {
        const v = values[a + i] as number | bigint;
        if (typeof v === 'number' && Number.isNaN(v)) {
          nans++;
          continue;
        }
        if (min < 0 || v < (values[a + min] as number | bigint)) min = i;
        if (max < 0 || v > (values[a + max] as number | bigint)) max = i;
      }
    }
    const stat = (i: number): unknown => {
      if (i < 0) return undefined;
      if (isBytes) return new Uint8Array(utf8!.bytes.buffer, utf8!.bytes.byteOffset + utf8!.start[i], utf8!.length[i]);
      const v = values[a + i] as number | bigint;
      return type === 'INT64' ? BigInt(v) : v;
    };
    let min_value = stat(min);
    let max_value = stat(max);
    if (min_value === 0) min_value = -0;
    if (max_value === 0) max_value = 0;
    statistics = { min_value, max_value, null_count: BigInt(nulls), nan_count: type === 'FLOAT' || type === 'DOUBLE' ? BigInt(nans) : undefined };
  }

  // Dictionary decision: the sample, then the whole chunk (hyparquet-writer's useDictionary).
  let dictionary: number[] | undefined; // the row (within the chunk) of each dictionary value's first occurrence
  let indexes: Int32Array | undefined;
  {
    const sampleSize = Math.min(n, SAMPLE);
    const sampleSizes = new Map<unknown, number>();
    let sampleDictionary = 0;
    let sampleTotal = 0;
    for (let j = 0; j < sampleSize; j++) {
      const i = sampleSize === 1 ? 0 : Math.floor((j * (n - 1)) / (sampleSize - 1));
      const nil = isNull(i);
      const key = nil ? null : isBytes ? fnv(utf8!.bytes, utf8!.start[i], utf8!.length[i]) : keyOf(i);
      let size = sampleSizes.get(key);
      if (size === undefined) {
        size = nil ? 0 : sizeOf(i) + prefix;
        sampleSizes.set(key, size);
        sampleDictionary += size;
      }
      sampleTotal += size;
    }
    if (sampleTotal && sampleDictionary / sampleTotal <= SAMPLE_REJECTION_RATIO) {
      const index = new Map<unknown, number>();
      const firsts: number[] = [];
      const idx = new Int32Array(n).fill(-1);
      let dictSize = 0;
      let totalSize = 0;
      let nonNull = 0;
      const bytesKey = isBytes && !utf8!.ascii;
      for (let i = 0; i < n; i++) {
        if (isNull(i)) continue;
        nonNull++;
        const size = sizeOf(i);
        totalSize += size;
        const key = bytesKey ? (values[a + i] as string) : keyOf(i);
        let k = index.get(key);
        if (k === undefined) {
          k = firsts.length;
          firsts.push(i);
          index.set(key, k);
          dictSize += size;
        }
        idx[i] = k;
      }
      const bitWidth = Math.ceil(Math.log2(firsts.length));
      const indexSize = Math.ceil((nonNull * bitWidth) / 8);
      const plainSize = totalSize + nonNull * prefix;
      const dictionaryValueSize = dictSize + firsts.length * prefix;
      if (!(2 * (dictionaryValueSize + indexSize) > plainSize)) {
        dictionary = firsts;
        indexes = idx;
      }
    }
  }

  /** Plain-encodes the values of rows (within the chunk), nulls left out. */
  const plain = (rows: ArrayLike<number>, from: number, to: number): Uint8Array => {
    let size = 0;
    for (let r = from; r < to; r++) if (!isNull(rows[r])) size += sizeOf(rows[r]) + prefix;
    const page = new PageBytes(size);
    const buf = page.buf;
    let at = 0;
    for (let r = from; r < to; r++) {
      const i = rows[r];
      if (isNull(i)) continue;
      const v = values[a + i];
      switch (type) {
        case 'BYTE_ARRAY': {
          const s = utf8!.start[i], l = utf8!.length[i];
          buf.writeUInt32LE(l, at);
          utf8!.bytes.copy(buf, at + 4, s, s + l);
          at += 4 + l;
          break;
        }
        case 'INT32':
          if (!Number.isSafeInteger(v)) throw new Error('parquet expected integer value, got ' + String(v));
          buf.writeInt32LE(v as number, at);
          at += 4;
          break;
        case 'FLOAT':
          buf.writeFloatLE(v as number, at);
          at += 4;
          break;
        case 'DOUBLE':
          buf.writeDoubleLE(v as number, at);
          at += 8;
          break;
        case 'INT64': {
          const k = int64Key(v);
          if (typeof k === 'bigint') buf.writeBigInt64LE(k, at);
          else {
            const hi = Math.floor(k / TWO_32);
            buf.writeUInt32LE(k - hi * TWO_32, at);
            buf.writeInt32LE(hi, at + 4);
          }
          at += 8;
          break;
        }
      }
    }
    page.at = at;
    return page.bytes();
  };

  const offsetStart = writer.offset;
  let uncompressedSize = 0;
  const encodings: string[] = [];
  let dictionary_page_offset: bigint | undefined;
  if (dictionary) {
    dictionary_page_offset = BigInt(writer.offset);
    const dictionaryBytes = plain(dictionary, 0, dictionary.length);
    const compressed = o.compress?.(dictionaryBytes) ?? dictionaryBytes;
    const headerStart = writer.offset;
    writePageHeader(writer, {
      type: 'DICTIONARY_PAGE',
      uncompressed_page_size: dictionaryBytes.byteLength,
      compressed_page_size: compressed.byteLength,
      dictionary_page_header: { num_values: dictionary.length, encoding: 'PLAIN' },
    } as never);
    const headerSize = writer.offset - headerStart;
    writer.appendBytes(compressed);
    uncompressedSize += headerSize + dictionaryBytes.byteLength;
    encodings.push('PLAIN');
  }
  const encoding = dictionary ? 'RLE_DICTIONARY' : 'PLAIN';
  encodings.push(encoding);

  // Pages by estimated bytes of the values written (indexes: 4 each), as getPageBoundaries.
  const boundaries: number[] = [0];
  {
    let start = 0;
    let acc = 0;
    for (let i = 0; i < n; i++) {
      const size = isNull(i) ? 0 : dictionary ? 4 : sizeOf(i);
      acc += size;
      if (acc >= PAGE_SIZE && i > start) {
        boundaries.push(i);
        start = i;
        acc = size;
      }
    }
    if (n > 0) boundaries.push(n);
  }
  const pages = boundaries.length - 1;
  const offsetIndex: ChunkResult['offsetIndex'] = pages > 1 ? { page_locations: [] } : undefined;
  const rows = identity(n);
  const data_page_offset = BigInt(writer.offset);
  for (let p = 0; p < pages; p++) {
    const start = boundaries[p], end = boundaries[p + 1];
    const pageOffset = writer.offset;
    const levelWriter = new (writer.constructor as new () => ByteWriter)();
    let nulls = 0;
    for (let i = start; i < end; i++) if (isNull(i)) nulls++;
    let definition_levels_byte_length = 0;
    if (column.nullable) {
      const levels = new Uint8Array(end - start);
      for (let i = start; i < end; i++) levels[i - start] = isNull(i) ? 0 : 1;
      definition_levels_byte_length = writeRleBitPackedHybrid(levelWriter, levels as never, 1);
    }
    let pageBytes: Uint8Array;
    if (indexes) {
      const nonNull = new Int32Array(end - start - nulls);
      let m = 0;
      let maxValue = 0;
      for (let i = start; i < end; i++) {
        const k = indexes[i];
        if (k < 0) continue;
        nonNull[m++] = k;
        if (k > maxValue) maxValue = k;
      }
      const bitWidth = Math.ceil(Math.log2(maxValue + 1));
      const page = new (writer.constructor as new () => ByteWriter)();
      page.appendUint8(bitWidth);
      writeRleBitPackedHybrid(page, nonNull as never, bitWidth);
      pageBytes = page.getBytes();
    } else pageBytes = plain(rows, start, end);
    const compressed = o.compress?.(pageBytes) ?? pageBytes;
    const headerStart = writer.offset;
    writePageHeader(writer, {
      type: 'DATA_PAGE_V2',
      uncompressed_page_size: levelWriter.offset + pageBytes.length,
      compressed_page_size: levelWriter.offset + compressed.length,
      data_page_header_v2: {
        num_values: end - start,
        num_nulls: nulls,
        num_rows: end - start,
        encoding,
        definition_levels_byte_length,
        repetition_levels_byte_length: 0,
        is_compressed: true,
      },
    } as never);
    const headerSize = writer.offset - headerStart;
    writer.appendBytes(levelWriter.getBytes());
    writer.appendBytes(compressed);
    uncompressedSize += headerSize + levelWriter.offset + pageBytes.length;
    offsetIndex?.page_locations.push({ offset: BigInt(pageOffset), compressed_page_size: writer.offset - pageOffset, first_row_index: BigInt(start) });
  }

  const encoding_stats = stats
    ? [...(dictionary_page_offset !== undefined ? [{ page_type: 'DICTIONARY_PAGE', encoding: 'PLAIN', count: 1 }] : []), { page_type: 'DATA_PAGE_V2', encoding, count: pages }]
    : undefined;
  return {
    chunk: {
      meta_data: {
        type,
        encodings,
        path_in_schema: [column.name],
        codec: o.codec,
        num_values: BigInt(n),
        total_compressed_size: BigInt(writer.offset - offsetStart),
        total_uncompressed_size: BigInt(uncompressedSize),
        data_page_offset,
        dictionary_page_offset,
        statistics,
        encoding_stats,
        geospatial_statistics: undefined,
      },
      file_offset: BigInt(offsetStart),
    },
    columnIndex: undefined,
    offsetIndex,
    bloomFilter: undefined,
  };
}

let identityRows = new Int32Array(0);
/** 0..n-1, shared (plain pages read rows through it, dictionary pages through the dictionary's rows). */
function identity(n: number): Int32Array {
  if (identityRows.length < n) {
    identityRows = new Int32Array(Math.max(n, identityRows.length * 2));
    for (let i = 0; i < identityRows.length; i++) identityRows[i] = i;
  }
  return identityRows;
}
