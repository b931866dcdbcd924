/** CSV (RFC 4180): value fields and metadata columns; null is an empty cell, an empty string is "". */
import { csvText } from '../registry/columns.ts';
import type { Column } from '../schema.ts';
import { ByteSink } from './byte-sink.ts';
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

export function encodeCsv(table: Table, withHeader: boolean): Buffer {
  const cols = table.columns;
  // Rows go into one buffer as they are built: no list of lines, no joined copy of them.
  const out = new ByteSink(table.rowCount * cols.length * 12);
  if (withHeader) out.string(`${csvHeader(cols)}\r\n`);
  for (let row = 0; row < table.rowCount; row++) {
    let line = '';
    for (let c = 0; c < cols.length; c++) {
      if (c > 0) line += ',';
      line += csvCell(cols[c], table.data[c][row]);
    }
    out.string(`${line}\r\n`);
  }
  return out.result();
}
