/** CSV (RFC 4180): value fields and metadata columns; null is an empty cell, an empty string is "". */
import type { Column } from '../schema.ts';
import type { Table } from './table.ts';

const NEEDS_QUOTES = /[",\r\n]|^\s|\s$/;

function quote(s: string): string {
  return NEEDS_QUOTES.test(s) || s === '' ? `"${s.replaceAll('"', '""')}"` : s;
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
    default: return String(v);
  }
}

export function encodeCsv(table: Table, withHeader: boolean): Buffer {
  const lines: string[] = [];
  if (withHeader) lines.push(table.columns.map((c) => quote(c.name)).join(','));
  const cols = table.columns;
  for (let row = 0; row < table.rowCount; row++) {
    let line = '';
    for (let c = 0; c < cols.length; c++) {
      if (c > 0) line += ',';
      line += csvCell(cols[c], table.data[c][row]);
    }
    lines.push(line);
  }
  return Buffer.from(lines.join('\r\n') + '\r\n', 'utf8');
}
