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

/**
 * A string column's cells as UTF-8: each value's byte length (0 for nulls) and, when a page needs them, the bytes of
 * all values in one buffer with each value's start. ASCII columns (the usual case) compare, hash and measure as
 * strings; their bytes are only made for plain pages.
 */
class TextColumn {
  readonly ascii: boolean;
  readonly length: Int32Array;
  private readonly joined: string;
  private made?: { bytes: Buffer; start: Int32Array };

  constructor(values: readonly unknown[], a: number, present: Uint8Array) {
    const n = present.length;
    // join writes null as nothing: the chunk's cells are joined as they are, without a list of its strings.
    this.joined = (a === 0 && n === values.length ? values : values.slice(a, a + n)).join('');
    this.ascii = Buffer.byteLength(this.joined, 'utf8') === this.joined.length;
    this.length = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      if (present[i] === 0) continue;
      const v = values[a + i] as string;
      // Not Unicode text: unequal strings could have equal bytes (U+FFFD), which the dictionary must treat as one.
      if (!this.ascii && !v.isWellFormed()) throw new NotWellFormed();
      this.length[i] = this.ascii ? v.length : Buffer.byteLength(v, 'utf8');
    }
  }

  /** The bytes of all values (well-formed strings: the concatenation's UTF-8 is each value's, one after another). */
  spans(): { bytes: Buffer; start: Int32Array } {
    if (this.made === undefined) {
      const start = new Int32Array(this.length.length);
      for (let i = 0, at = 0; i < start.length; i++) {
        start[i] = at;
        at += this.length[i];
      }
      this.made = { bytes: Buffer.from(this.joined, this.ascii ? 'latin1' : 'utf8'), start };
    }
    return this.made;
  }

  /** hyparquet-writer's hashBytes (FNV-1a) of a value's UTF-8 bytes, as a signed int32 (the same key for each
   * hash, and a small integer rather than a boxed double). */
  hash(values: readonly unknown[], a: number, i: number): number {
    let h = 0x811c9dc5;
    if (this.ascii) {
      const v = values[a + i] as string;
      for (let k = 0; k < v.length; k++) {
        h ^= v.charCodeAt(k);
        h = Math.imul(h, 0x01000193);
      }
    } else {
      const { bytes, start } = this.spans();
      for (let k = start[i], e = start[i] + this.length[i]; k < e; k++) {
        h ^= bytes[k];
        h = Math.imul(h, 0x01000193);
      }
    }
    return h | 0;
  }

  /** Unsigned byte order of two values (BYTE_ARRAY statistics); ASCII strings order as their bytes do. */
  compare(values: readonly unknown[], a: number, i: number, j: number): number {
    if (this.ascii) {
      const x = values[a + i] as string, y = values[a + j] as string;
      return x < y ? -1 : x > y ? 1 : 0;
    }
    const { bytes, start } = this.spans();
    return bytes.compare(bytes, start[j], start[j] + this.length[j], start[i], start[i] + this.length[i]);
  }

  /** A value's bytes, for a statistic. */
  bytesOf(values: readonly unknown[], a: number, i: number): Uint8Array {
    if (this.ascii) return new Uint8Array(Buffer.from(values[a + i] as string, 'latin1'));
    const { bytes, start } = this.spans();
    return new Uint8Array(bytes.subarray(start[i], start[i] + this.length[i]));
  }
}

/** Thrown when a string is not well-formed Unicode: equal bytes could then come from unequal strings. */
export class NotWellFormed extends Error {}

/** An INT64 cell as a dictionary key: a number when a double holds it, else its BigInt (range checked). */
function int64Key(v: unknown): number | bigint {
  if (typeof v === 'bigint') {
    if (v < INT64_MIN || v > INT64_MAX) throw new RangeError(`parquet INT64 value out of range: ${v}`);
    return v >= MIN_SAFE && v <= MAX_SAFE ? Number(v) : v;
  }
  return v as number;
}

/**
 * An open-addressing table from doubles to int32 values, compared as a Map compares its keys (SameValueZero: -0 as
 * 0, every NaN as one), reused by every chunk: the dictionary decision of number columns and of byte arrays' hashes
 * without a Map's entries and boxed keys per value.
 */
class DoubleTable {
  private lo = new Uint32Array(0);
  private hi = new Uint32Array(0);
  private value = new Int32Array(0);
  private stamp = new Uint32Array(0);
  private generation = 0;
  private mask = 0;
  private readonly bits = new Float64Array(1);
  private readonly halves = new Uint32Array(this.bits.buffer);

  /** Empties the table for up to `count` keys (at most half full, so a probe always ends). */
  reset(count: number): void {
    let size = 16;
    while (size < count * 2) size *= 2;
    if (size > this.stamp.length) {
      this.lo = new Uint32Array(size);
      this.hi = new Uint32Array(size);
      this.value = new Int32Array(size);
      this.stamp = new Uint32Array(size);
      this.generation = 0;
    }
    this.mask = size - 1;
    if (++this.generation === 0xffffffff) {
      this.stamp.fill(0);
      this.generation = 1;
    }
  }

  /** The value stored for x; when there is none, stores v for x and returns -1. */
  getOrAdd(x: number, v: number): number {
    this.bits[0] = x === 0 ? 0 : x !== x ? NaN : x;
    const lo = this.halves[0], hi = this.halves[1];
    let h = Math.imul(lo ^ Math.imul(hi, 0x9e3779b1), 0x85ebca6b);
    h ^= h >>> 15;
    let slot = h & this.mask;
    while (this.stamp[slot] === this.generation) {
      if (this.lo[slot] === lo && this.hi[slot] === hi) return this.value[slot];
      slot = (slot + 1) & this.mask;
    }
    this.stamp[slot] = this.generation;
    this.lo[slot] = lo;
    this.hi[slot] = hi;
    this.value[slot] = v;
    return -1;
  }
}

const keys = new DoubleTable();

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

/**
 * Writes the chunk of rows [a, b) of one column, as hyparquet-writer's writeColumn would: returns its result for the
 * row group's columns and the file's page indexes.
 */
export function writeFlatChunk(writer: ByteWriter, values: readonly unknown[], a: number, b: number, o: ChunkOptions): ChunkResult {
  const { column, type, stats } = o;
  const n = b - a;
  const isBytes = type === 'BYTE_ARRAY';
  const isInt64 = type === 'INT64';
  const prefix = isBytes ? 4 : 0;
  const fixed = isBytes ? 0 : valueSize(type);
  const present = new Uint8Array(n);
  let nonNull = 0;
  let big = false; // an INT64 cell beyond ±2^53: keys go in a Map (BigInt by value), not the table of doubles
  for (let i = 0; i < n; i++) {
    const v = values[a + i];
    if (v === null || v === undefined) continue;
    present[i] = 1;
    nonNull++;
    if (isInt64 && typeof int64Key(v) === 'bigint') big = true;
  }
  if (!column.nullable && nonNull < n) throw new Error('parquet required value is undefined');
  const text = isBytes ? new TextColumn(values, a, present) : undefined;
  // Keys: what hyparquet-writer's Map would see as one value (BigInt by value, numbers by SameValueZero, bytes by
  // content: a well-formed string's bytes are equal exactly when the strings are).
  const keyOf = (i: number): unknown => (isInt64 ? int64Key(values[a + i]) : values[a + i]);
  const sizeOf = (i: number): number => (isBytes ? text!.length[i] : fixed);

  // Dictionary decision: the sample, then the whole chunk (hyparquet-writer's useDictionary).
  let dictionary: number[] | undefined; // the row (within the chunk) of each dictionary value's first occurrence
  let indexes: Int32Array | undefined;
  {
    const sampleSize = Math.min(n, SAMPLE);
    // Numbers and byte arrays' hashes go in the table of doubles (no Map, no boxed keys); a chunk with INT64 cells
    // beyond ±2^53 uses a Map. Nulls count nothing in the sample.
    const inTable = !big;
    const sampleSizes = inTable ? undefined : new Map<unknown, number>();
    if (inTable) keys.reset(sampleSize);
    let sampleDictionary = 0;
    let sampleTotal = 0;
    for (let j = 0; j < sampleSize; j++) {
      const i = sampleSize === 1 ? 0 : Math.floor((j * (n - 1)) / (sampleSize - 1));
      if (present[i] === 0) continue;
      const key = isBytes ? text!.hash(values, a, i) : keyOf(i);
      const size = sizeOf(i) + prefix;
      const seen = inTable ? keys.getOrAdd(key as number, size) : (sampleSizes!.get(key) ?? -1);
      if (seen < 0) {
        sampleSizes?.set(key, size);
        sampleDictionary += size;
        sampleTotal += size;
      } else sampleTotal += seen;
    }
    if (sampleTotal && sampleDictionary / sampleTotal <= SAMPLE_REJECTION_RATIO) {
      // Strings by value in a Map (its hash is the string's own); numbers in the table.
      const index = isBytes || big ? new Map<unknown, number>() : undefined;
      if (index === undefined) keys.reset(n);
      const firsts: number[] = [];
      const idx = new Int32Array(n).fill(-1);
      let dictSize = 0;
      let totalSize = 0;
      for (let i = 0; i < n; i++) {
        if (present[i] === 0) continue;
        const size = sizeOf(i);
        totalSize += size;
        const key = keyOf(i);
        let k = index === undefined ? keys.getOrAdd(key as number, firsts.length) : (index.get(key) ?? -1);
        if (k < 0) {
          k = firsts.length;
          firsts.push(i);
          index?.set(key, k);
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

  // Statistics (hyparquet-writer's getStatistics over the cells). A string column's bounds are among its dictionary's
  // values when it has one: equal strings are equal bytes.
  let statistics: Record<string, unknown> | undefined;
  if (stats) {
    let nans = 0;
    let min = -1;
    let max = -1;
    if (isBytes) {
      const visit = (i: number) => {
        if (min < 0 || text!.compare(values, a, i, min) < 0) min = i;
        if (max < 0 || text!.compare(values, a, i, max) > 0) max = i;
      };
      if (dictionary) for (const i of dictionary) visit(i);
      else for (let i = 0; i < n; i++) if (present[i] === 1) visit(i);
    } else {
      for (let i = 0; i < n; i++) {
        if (present[i] === 0) continue;
        const v = values[a + i] as number | bigint;
        if (v !== v) {
          nans++; // NaN
          continue;
        }
        if (min < 0 || v < (values[a + min] as number | bigint)) min = i;
        if (max < 0 || v > (values[a + max] as number | bigint)) max = i;
      }
    }
    const stat = (i: number): unknown => {
      if (i < 0) return undefined;
      if (isBytes) return text!.bytesOf(values, a, i);
      const v = values[a + i] as number | bigint;
      return isInt64 ? BigInt(v) : v;
    };
    let min_value = stat(min);
    let max_value = stat(max);
    if (min_value === 0) min_value = -0;
    if (max_value === 0) max_value = 0;
    statistics = { min_value, max_value, null_count: BigInt(n - nonNull), nan_count: type === 'FLOAT' || type === 'DOUBLE' ? BigInt(nans) : undefined };
  }

  /** Plain-encodes the values of rows (within the chunk), nulls left out. */
  const plain = (rows: ArrayLike<number>, from: number, to: number): Uint8Array => {
    let size = 0;
    for (let r = from; r < to; r++) if (present[rows[r]] === 1) size += sizeOf(rows[r]) + prefix;
    const buf = Buffer.allocUnsafe(Math.max(size, 16));
    let at = 0;
    if (isBytes) {
      if (rows === dictionary) {
        // A dictionary's values, each written from its string: the whole column's bytes are not needed.
        for (let r = from; r < to; r++) {
          const i = rows[r];
          const l = text!.length[i];
          buf.writeUInt32LE(l, at);
          buf.write(values[a + i] as string, at + 4, l, text!.ascii ? 'latin1' : 'utf8');
          at += 4 + l;
        }
      } else {
        const { bytes, start } = text!.spans();
        for (let r = from; r < to; r++) {
          const i = rows[r];
          if (present[i] === 0) continue;
          const s = start[i], l = text!.length[i];
          buf.writeUInt32LE(l, at);
          bytes.copy(buf, at + 4, s, s + l);
          at += 4 + l;
        }
      }
      return new Uint8Array(buf.buffer, buf.byteOffset, at);
    }
    for (let r = from; r < to; r++) {
      const i = rows[r];
      if (present[i] === 0) continue;
      const v = values[a + i];
      switch (type) {
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
    return new Uint8Array(buf.buffer, buf.byteOffset, at);
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
      const size = present[i] === 0 ? 0 : dictionary ? 4 : sizeOf(i);
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
    for (let i = start; i < end; i++) nulls += 1 - present[i];
    let definition_levels_byte_length = 0;
    if (column.nullable) {
      definition_levels_byte_length = writeRleBitPackedHybrid(levelWriter, present.subarray(start, end) as never, 1);
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
