/** CSV (RFC 4180): value fields and metadata columns; null is an empty cell, an empty string is "". */
import { csvText } from '../registry/columns.ts';
import type { Column } from '../schema.ts';
import { ByteSink, IsoTime } from './byte-sink.ts';
import type { Table } from './table.ts';

/** What JavaScript's \s matches (the old rule quoted a cell that starts or ends with one): spaces, line ends, BOM. */
function isSpace(c: number): boolean {
  return c === 0x20 || (c >= 0x09 && c <= 0x0d) || (c >= 0x80 && /\s/.test(String.fromCharCode(c)));
}

const NEEDS_QUOTES = /[",\r\n]/;

/** A cell quoted when it holds a quote, comma or line end, starts or ends with a space, or is empty. */
function quote(s: string): string {
  if (s === '' || isSpace(s.charCodeAt(0)) || isSpace(s.charCodeAt(s.length - 1)) || NEEDS_QUOTES.test(s)) {
    return `"${s.replaceAll('"', '""')}"`;
  }
  return s;
}

export function csvCell(col: Column, v: unknown): string {
  if (v === null || v === undefined) return '';
  switch (col.type) {
    // Empty bytes are "" (an empty string), never an empty cell, which means null (and alone makes a blank line).
    case 'bytes': return (v as Buffer).length === 0 ? '""' : (v as Buffer).toString('base64');
    case 'timestamp-millis': return new Date(v as number).toISOString();
    case 'timestamp-micros': {
      const us = v as bigint;
      const frac = ((us % 1000n) + 1000n) % 1000n;
      const ms = Number((us - frac) / 1000n); // floor: before 1970 the fraction counts up from the earlier millisecond
      return new Date(ms).toISOString().replace('Z', `${String(frac).padStart(3, '0')}Z`);
    }
    case 'date': return new Date((v as number) * 86_400_000).toISOString().slice(0, 10);
    case 'string':
    case 'json': return quote(v as string);
    case 'registry': {
      const text = csvText(col.registry!, v);
      return text === null ? '' : quote(text);
    }
    default: return String(v);
  }
}

/** The header row (without its line end). */
export function csvHeader(cols: readonly Column[]): string {
  return cols.map((c) => quote(c.name)).join(',');
}

/** Characters that make a cell quoted (quote, comma, CR, LF). */
const QUOTE_CHARS = new Uint8Array(128);
for (const c of '",\r\n') QUOTE_CHARS[c.charCodeAt(0)] = 1;

/**
 * A text cell written as bytes, quoted as `quote` does, with no cell string made: ASCII text of up to 256
 * characters is scanned and stored one character at a time (a quote doubled as it goes); longer or other text takes
 * the string path.
 */
function writeText(out: ByteSink, s: string): void {
  const n = s.length;
  if (n === 0 || n > 256) {
    out.string(quote(s));
    return;
  }
  let quoted = isSpace(s.charCodeAt(0)) || isSpace(s.charCodeAt(n - 1));
  for (let k = 0; k < n; k++) {
    const c = s.charCodeAt(k);
    if (c >= 0x80) {
      out.string(quote(s));
      return;
    }
    if (QUOTE_CHARS[c] === 1) quoted = true;
  }
  out.ensure(2 * n + 2);
  const buf = out.buf;
  let p = out.pos;
  if (quoted) buf[p++] = 0x22;
  for (let k = 0; k < n; k++) {
    const c = s.charCodeAt(k);
    buf[p++] = c;
    if (c === 0x22) buf[p++] = 0x22;
  }
  if (quoted) buf[p++] = 0x22;
  out.pos = p;
}

/** One cell into the output: the common types written as bytes, the others as csvCell's text. */
function writeCell(out: ByteSink, iso: IsoTime, col: Column, v: unknown): void {
  if (v === null || v === undefined) return;
  switch (col.type) {
    case 'string':
    case 'json': writeText(out, v as string); return;
    case 'timestamp-millis': iso.write(out, v as number); return;
    case 'int':
    case 'long':
      if (typeof v === 'number' && v >= 0 && Number.isSafeInteger(v)) out.integer(v);
      else out.ascii(String(v));
      return;
    case 'float':
    case 'double': out.ascii(String(v)); return; // JavaScript's number text is ASCII
    case 'boolean': out.ascii(v ? 'true' : 'false'); return;
    default: out.string(csvCell(col, v));
  }
}

export function encodeCsv(table: Table, withHeader: boolean): Buffer {
  const cols = table.columns;
  // Rows go into one buffer as they are written: no string per cell or line, no list of lines.
  const out = new ByteSink(table.rowCount * cols.length * 12);
  const iso = new IsoTime();
  if (withHeader) out.string(`${csvHeader(cols)}\r\n`);
  for (let row = 0; row < table.rowCount; row++) {
    for (let c = 0; c < cols.length; c++) {
      if (c > 0) out.byte(0x2c);
      writeCell(out, iso, cols[c], table.data[c][row]);
    }
    out.byte(0x0d);
    out.byte(0x0a);
  }
  return out.result();
}
