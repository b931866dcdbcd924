/**
 * The CSV encoder writes its rows as bytes (no string per cell or line): held here, for generated tables of hostile
 * text and every cell type it writes directly, byte for byte to an oracle that builds each line as text with
 * RFC 4180's quoting (and the sink's: a cell is quoted when empty or when it starts or ends with whitespace).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeCsv } from '../../../lambdas/shared/encode/csv.ts';
import type { Table } from '../../../lambdas/shared/encode/table.ts';
import type { Column } from '../../../lambdas/shared/schema.ts';

function oracleCell(col: Column, v: unknown): string {
  if (v === null || v === undefined) return '';
  switch (col.type) {
    case 'timestamp-millis': return new Date(v as number).toISOString();
    case 'string':
    case 'json': {
      const s = v as string;
      return s === '' || /^\s|\s$/.test(s) || /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
    }
    default: return String(v);
  }
}

/** ASCII (the cells written one character at a time) and any text (the others). */
const ascii = fc.string({ unit: fc.constantFrom('"', ',', '\r', '\n', ' ', '\t', '\u000b', 'a', 'b', '{', ':', '1'), maxLength: 300 });
const anyText = fc.string({
  unit: fc.oneof(
    fc.constantFrom('"', ',', '\r', '\n', ' ', '\t', '\u00a0', '\u2028', '\ufeff', 'é', '😀', 'a', '{', ':'),
    fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
  ),
  maxLength: 300,
}).filter((s) => s.isWellFormed());
const text = fc.oneof(ascii, anyText);

const column = fc.constantFrom<Column['type']>('string', 'json', 'int', 'long', 'boolean', 'timestamp-millis', 'double');
const cellOf = (type: Column['type']): fc.Arbitrary<unknown> => {
  switch (type) {
    case 'string': case 'json': return text;
    case 'int': return fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
    case 'long': return fc.oneof(fc.maxSafeInteger(), fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }));
    case 'boolean': return fc.boolean();
    case 'timestamp-millis': return fc.integer({ min: -62_135_596_800_000, max: 253_402_300_799_999 });
    default: return fc.double();
  }
};

const table = fc.array(column, { minLength: 1, maxLength: 6 }).chain((types) =>
  fc.array(fc.tuple(...types.map((t) => fc.option(cellOf(t), { nil: null, freq: 5 }))), { minLength: 1, maxLength: 8 }).map((rows): Table => ({
    name: 'KafkaRecord',
    columns: types.map((type, i) => ({ name: `c${i}`, type, nullable: true })),
    data: types.map((_, c) => rows.map((r) => r[c])),
    rowCount: rows.length,
  })));

describe('csv bytes', () => {
  it('are, row by row, the lines an RFC 4180 writer makes of the cells, with and without the header row', () => {
    fc.assert(fc.property(table, fc.boolean(), (t, header) => {
      const lines = Array.from({ length: t.rowCount }, (_, row) => t.columns.map((col, c) => oracleCell(col, t.data[c][row])).join(','));
      const expected = [...(header ? [t.columns.map((c) => c.name).join(',')] : []), ...lines].map((l) => `${l}\r\n`).join('');
      expect(encodeCsv(t, header).toString('utf8')).toBe(expected);
    }), { numRuns: 500 });
  });
});
