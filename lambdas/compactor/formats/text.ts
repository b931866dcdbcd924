/**
 * Row formats (jsonl, csv, csv_with_headers): rows end with a line feed (csv: CR LF, and a line feed inside a quoted
 * cell does not end one); the file is compressed as one stream. A row is kept as its bytes; only the cells that carry
 * the offset and the record time are looked at.
 */
import type { Readable } from 'node:stream';
import { createGunzip, createZstdDecompress, gunzipSync, zstdDecompressSync } from 'node:zlib';
import type { SinkConfig } from '../../shared/config.ts';
import { csvHeader } from '../../shared/encode/csv.ts';
import { buildTable } from '../../shared/encode/table.ts';
import { MetadataColumnPrefix } from '../../shared/constants.ts';
import { byOffset, inOrder, named, namedRows, type Codec, type FileBody, type Row } from '../codec.ts';

interface RowFormat {
  /** The index of the line feed that ends the row starting at `start`, or -1 when `buf` does not hold its end. */
  rowEnd(buf: Buffer, start: number): number;
  /** The row's offset and time; throws for a row this sink does not write. */
  parse(row: Buffer): { offset: bigint; timeMs?: number };
  /** What ends a row. */
  readonly terminator: Buffer;
  /** The first row of every object and file (csv_with_headers), checked and skipped when read. */
  readonly header?: Buffer;
}

type Compression = SinkConfig['compression'];

function decompress(compression: Compression, body: Buffer): Buffer {
  if (compression === 'gzip') return gunzipSync(body);
  if (compression === 'zstd') return zstdDecompressSync(body);
  return body;
}

function decompressed(compression: Compression, body: Readable): AsyncIterable<Buffer> {
  const d = compression === 'gzip' ? createGunzip() : compression === 'zstd' ? createZstdDecompress() : undefined;
  if (!d) return body;
  body.on('error', (err) => d.destroy(err));
  return body.pipe(d);
}

/** An offset's decimal digits (at most 19: a Kafka offset is an int64). */
export function offsetOf(buf: Buffer, start: number, end: number): bigint {
  if (end === start || end - start > 19) throw new Error('an offset that is not an offset');
  for (let i = start; i < end; i++) if (buf[i] < 0x30 || buf[i] > 0x39) throw new Error('an offset that is not an offset');
  const digits = buf.toString('latin1', start, end);
  return end - start <= 15 ? BigInt(Number(digits)) : BigInt(digits);
}

/** Splits text into rows, parsing each; `rest` is where the unfinished last row starts. */
function splitRows(f: RowFormat, buf: Buffer, where: string, counter: { rows: number; header: boolean }, out: Row[]): number {
  let start = 0;
  for (let end = f.rowEnd(buf, start); end >= 0; end = f.rowEnd(buf, start)) {
    const cut = f.terminator.length === 2 && end > start && buf[end - 1] === 0x0d ? end - 1 : end;
    const bytes = buf.subarray(start, cut);
    start = end + 1;
    if (bytes.length === 0) continue;
    counter.rows++;
    if (counter.header) {
      counter.header = false;
      if (!bytes.equals(f.header!)) throw new Error(`${where}: its header row is not this table's (${JSON.stringify(f.header!.toString())}): written with another layout`);
      continue;
    }
    try {
      out.push({ ...f.parse(bytes), size: bytes.length + f.terminator.length, bytes });
    } catch (err) {
      throw new Error(`${where}: row ${counter.rows} is not a record of this sink (${(err as Error).message})`, { cause: err });
    }
  }
  return start;
}

/** The text after the last line end: a row without its line end, or one that never ends (an unclosed quote). */
function lastRow(f: RowFormat, text: Buffer, where: string, counter: { rows: number; header: boolean }, out: Row[]): void {
  const ended = Buffer.concat([text, f.terminator]);
  if (splitRows(f, ended, where, counter, out) < ended.length) throw new Error(`${where}: row ${counter.rows + 1} never ends (a quote that is not closed)`);
}

class TextBody implements FileBody {
  private piece: Buffer;
  private used = 0;
  private readonly f: RowFormat;
  private readonly pieceBytes: number;
  constructor(f: RowFormat, pieceBytes: number) {
    this.f = f;
    this.pieceBytes = pieceBytes;
    this.piece = Buffer.allocUnsafe(pieceBytes);
    if (f.header) this.push(f.header);
  }

  private push(bytes: Buffer): void {
    const need = bytes.length + this.f.terminator.length;
    if (this.used + need > this.piece.length) {
      const bigger = Buffer.allocUnsafe(Math.max(this.piece.length * 2, this.used + need));
      this.piece.copy(bigger, 0, 0, this.used);
      this.piece = bigger;
    }
    this.used += bytes.copy(this.piece, this.used);
    this.used += this.f.terminator.copy(this.piece, this.used);
  }

  add(row: Row): void {
    this.push(row.bytes!);
  }

  get held(): number {
    return this.used;
  }

  get ready(): boolean {
    return this.used >= this.pieceBytes;
  }

  take(): Buffer {
    const out = Buffer.from(this.piece.subarray(0, this.used));
    this.used = 0;
    if (this.piece.length > this.pieceBytes) this.piece = Buffer.allocUnsafe(this.pieceBytes);
    return out;
  }

  end(): Buffer {
    return this.take();
  }
}

/** Rows are handed to the compressor in pieces of this size (one write per row would cost a call each). */
const PIECE_BYTES = 256 * 1024;

function rowCodec(compression: Compression, f: RowFormat): Codec {
  return {
    streamCompressed: true,
    mergeBytesPerMs: 1000,
    async decode(body, where) {
      try {
        const rows: Row[] = [];
        const text = decompress(compression, body);
        const counter = { rows: 0, header: f.header !== undefined };
        const rest = splitRows(f, text, where, counter, rows);
        // The last row may lack its line end.
        if (rest < text.length) lastRow(f, text.subarray(rest), where, counter, rows);
        // The sink writes a partition's records in offset order; sorting keeps it so for any object.
        return { rows: rows.sort(byOffset), bytes: body.length };
      } catch (err) {
        throw named(where, err);
      }
    },
    decodeFile: (file, where) => namedRows(where, (async function* () {
      const check = inOrder(where);
      const counter = { rows: 0, header: f.header !== undefined };
      let carry: Buffer | undefined;
      let n = 0;
      for await (const chunk of decompressed(compression, await file.stream())) {
        const buf = carry ? Buffer.concat([carry, chunk]) : chunk;
        const rows: Row[] = [];
        const rest = splitRows(f, buf, where, counter, rows);
        // The unfinished row is copied: a view would keep this whole chunk alive.
        carry = rest < buf.length ? Buffer.from(buf.subarray(rest)) : undefined;
        for (const r of rows) check(r, ++n);
        if (rows.length > 0) yield rows;
      }
      if (carry) {
        const rows: Row[] = [];
        lastRow(f, carry, where, counter, rows);
        for (const r of rows) check(r, ++n);
        yield rows;
      }
    })()),
    body: () => new TextBody(f, PIECE_BYTES),
  };
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
export function envelopeOf(line: Buffer): { offset: bigint; timeMs?: number } {
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
  const offset = offsetOf(line, offsetAt, end);
  if (timeAt < 0) return { offset };
  const close = line.indexOf(0x22, timeAt);
  const timeMs = close > timeAt ? Date.parse(line.toString('latin1', timeAt, close)) : Number.NaN;
  return Number.isFinite(timeMs) ? { offset, timeMs } : { offset };
}

const LF = Buffer.from('\n');
const CRLF = Buffer.from('\r\n');

export function jsonlCodec(cfg: SinkConfig): Codec {
  // A JSON line holds no raw line feed (JSON escapes it inside strings).
  return rowCodec(cfg.compression, { rowEnd: (buf, start) => buf.indexOf(0x0a, start), parse: envelopeOf, terminator: LF });
}

/**
 * The end of a CSV row: the first line feed outside quotes. Quotes pair up (one inside a quoted cell is doubled, so
 * it closes and reopens), so the text between a quote and the next one is skipped whole. The next quote found is
 * kept for the rows after (a search from each row to the end of a buffer without quotes would make reading
 * quadratic in its rows).
 */
function csvRowEnder(): (buf: Buffer, start: number) => number {
  let seen: Buffer | undefined;
  let from = 0;
  let quote = -1; // the first quote at or after `from` in `seen`, -1 for none
  const quoteAt = (buf: Buffer, i: number): number => {
    if (buf !== seen || i < from || (quote >= 0 && quote < i)) {
      seen = buf;
      from = i;
      quote = buf.indexOf(0x22, i);
    }
    return quote;
  };
  return (buf, start) => {
    let i = start;
    let lf = buf.indexOf(0x0a, i);
    while (lf >= 0) {
      const open = quoteAt(buf, i);
      if (open < 0 || open > lf) return lf;
      const close = quoteAt(buf, open + 1);
      if (close < 0) return -1;
      i = close + 1;
      if (lf < i) lf = buf.indexOf(0x0a, i);
    }
    return -1;
  };
}

/**
 * The cells at `wanted` (column indexes) of a CSV row as the sink writes it (RFC 4180: a cell is quoted, with quotes
 * doubled, or has no quote, comma or line end), checking the row has `columns` cells.
 */
export function csvCells(row: Buffer, columns: number, wanted: readonly number[]): [number, number][] {
  const out: [number, number][] = wanted.map(() => [0, 0]);
  let cell = 0;
  let i = 0;
  for (;;) {
    let start = i;
    let end: number;
    if (row[i] === 0x22) {
      // Quoted: runs to a quote not followed by another.
      for (i++; ; i++) {
        if (i >= row.length) throw new Error(`cell ${cell + 1} has no closing quote`);
        if (row[i] === 0x22) {
          if (row[i + 1] === 0x22) i++;
          else break;
        }
      }
      start++;
      end = i++;
      if (i < row.length && row[i] !== 0x2c) throw new Error(`cell ${cell + 1} has text after its closing quote`);
    } else {
      while (i < row.length && row[i] !== 0x2c) i++;
      end = i;
    }
    const k = wanted.indexOf(cell);
    if (k >= 0) out[k] = [start, end];
    cell++;
    if (i >= row.length) break;
    i++; // the comma
  }
  if (cell !== columns) throw new Error(`${cell} cells where the table has ${columns} columns`);
  return out;
}

export function csvCodec(cfg: SinkConfig): Codec {
  const columns = buildTable(cfg, []).table.columns;
  const offsetAt = columns.findIndex((c) => c.name === `${MetadataColumnPrefix}offset`);
  const timeAt = columns.findIndex((c) => c.name === `${MetadataColumnPrefix}timestamp`);
  const wanted = timeAt >= 0 ? [offsetAt, timeAt] : [offsetAt];
  return rowCodec(cfg.compression, {
    rowEnd: csvRowEnder(),
    terminator: CRLF,
    header: cfg.format === 'csv_with_headers' ? Buffer.from(csvHeader(columns)) : undefined,
    parse(row) {
      const [o, t] = csvCells(row, columns.length, wanted);
      const offset = offsetOf(row, o[0], o[1]);
      if (!t) return { offset };
      // The sink writes the ISO-8601 instant (csv.ts, csvCell).
      const timeMs = Date.parse(row.toString('latin1', t[0], t[1]));
      return Number.isFinite(timeMs) ? { offset, timeMs } : { offset };
    },
  });
}
