/**
 * The Avro encoder writes plain tables a cell at a time (no object per row): held here, for generated tables of
 * every column type (nullable or not, with cells valid and not), to avsc itself. A file is byte for byte the file
 * avsc's encoding of the same rows makes, and a cell avsc refuses makes the encoder throw too.
 */
import avro from 'avsc';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AvroWriter } from '../../../lambdas/shared/registry/columns.ts';
import { avroBlock, decompressBlock, avroContainer, avroRecordType, avroSchemaFor, encodeAvro } from '../../../lambdas/shared/encode/avro.ts';
import type { Table } from '../../../lambdas/shared/encode/table.ts';
import type { Column } from '../../../lambdas/shared/schema.ts';

/** What avsc makes of the table's rows, in one uncompressed block; or 'refused' when it throws for a cell. */
function avscFile(t: Table): Buffer | 'refused' {
  const type = avroRecordType(avroSchemaFor(t, false));
  const rows: Buffer[] = [];
  try {
    for (let row = 0; row < t.rowCount; row++) {
      const obj = Object.create(null) as Record<string, unknown>;
      t.columns.forEach((c, i) => { obj[c.name] = t.data[i][row]; });
      rows.push(type.toBuffer(obj));
    }
  } catch {
    return 'refused';
  }
  const { header, sync } = avroContainer(t, 'null');
  return Buffer.concat([header, ...avroBlock('null', Buffer.concat(rows), t.rowCount, sync)]);
}

const text = fc.oneof(fc.string({ maxLength: 140 }), fc.string({ unit: 'binary', maxLength: 140 }).filter((s) => s.isWellFormed()));
const types = ['boolean', 'int', 'long', 'float', 'double', 'string', 'bytes', 'timestamp-millis', 'timestamp-micros', 'date', 'json'] as const;
/** Mostly valid cells of each type, and now and then one avsc refuses (or a null, or a value of another type). */
const cellOf = (type: Column['type']): fc.Arbitrary<unknown> => {
  const valid: Record<string, fc.Arbitrary<unknown>> = {
    boolean: fc.boolean(),
    int: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
    date: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
    long: fc.oneof(fc.maxSafeInteger(), fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n })),
    'timestamp-millis': fc.integer({ min: -62_135_596_800_000, max: 253_402_300_799_999 }),
    'timestamp-micros': fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
    float: fc.float(),
    double: fc.double(),
    string: text,
    json: text,
    bytes: fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)),
  };
  const wrong = fc.constantFrom<unknown>(undefined, null, 2 ** 31, 1.5, 2 ** 53, 2n ** 63n, -(2n ** 63n) - 1n, '1', true, Buffer.from('x'), 7n);
  return fc.oneof({ arbitrary: valid[type], weight: 12 }, { arbitrary: wrong, weight: 1 });
};

const table = fc.array(fc.tuple(fc.constantFrom(...types), fc.boolean()), { minLength: 1, maxLength: 7 }).chain((cols) =>
  fc.array(fc.tuple(...cols.map(([t, nullable]) => (nullable ? fc.option(cellOf(t), { nil: null, freq: 4 }) : cellOf(t)))), { minLength: 1, maxLength: 6 })
    .map((rows): Table => ({
      name: 'KafkaRecord',
      columns: cols.map(([type, nullable], i) => ({ name: `c${i}`, type, nullable })),
      data: cols.map((_, c) => rows.map((r) => r[c])),
      rowCount: rows.length,
    })));

describe('avro bytes', () => {
  it('are what avsc writes for the same rows, and a cell avsc refuses is refused', () => {
    let written = 0;
    let refused = 0;
    fc.assert(fc.property(table, (t) => {
      const expected = avscFile(t);
      if (expected === 'refused') {
        refused++;
        expect(() => encodeAvro(t, 'null')).toThrow();
      } else {
        written++;
        expect(encodeAvro(t, 'null').equals(expected)).toBe(true);
      }
    }), { numRuns: 600 });
    // Both outcomes were tried, many times each.
    expect(Math.min(written, refused)).toBeGreaterThan(50);
  });

  it('writes every string and long whole when it meets the end of the buffer, at every offset', () => {
    // The writer grows its buffer on demand: each value is written with 0 to 3 bytes of room left, after a filler,
    // and followed by a marker byte; the bytes must be the filler, avsc's encoding of the value, then the marker.
    const str = avro.Type.forSchema('string');
    const long = avroRecordType({ type: 'record', name: 'L', fields: [{ name: 'v', type: 'long' }] });
    const values: { text: string; encoded: Buffer; write: (w: AvroWriter) => void }[] = [];
    for (let n = 0; n <= 300; n++) {
      for (const s of ['a'.repeat(n), `${'b'.repeat(Math.max(0, n - 1))}é`.slice(-n || undefined)]) {
        values.push({ text: `string of ${n}`, encoded: str.toBuffer(s), write: (w) => w.str(s) });
      }
    }
    for (const v of [0, 63, 64, -65, 2 ** 31, -(2 ** 52) - 1, 2 ** 52, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER]) {
      values.push({ text: `long ${v}`, encoded: long.toBuffer({ v }), write: (w) => w.long(v) });
    }
    for (const { text, encoded, write } of values) {
      for (let room = 0; room <= encoded.length + 2; room++) {
        const w = new AvroWriter(1024);
        const filler = Buffer.alloc(1024 - room, 0x7e);
        w.raw(filler);
        write(w);
        w.byte(0xaa);
        expect(Buffer.from(w.buf.subarray(0, w.pos)).equals(Buffer.concat([filler, encoded, Buffer.from([0xaa])])), `${text}, ${room} bytes of room`).toBe(true);
      }
    }
  });

  it('writes a table over one block as several blocks that avsc reads back', async () => {
    // Prepare: 3 MB of rows, so the 1 MiB block limit cuts them.
    const t: Table = {
      name: 'KafkaRecord',
      columns: [{ name: 'id', type: 'long', nullable: false }, { name: 's', type: 'string', nullable: true }],
      data: [Array.from({ length: 3000 }, (_, i) => i), Array.from({ length: 3000 }, (_, i) => (i % 7 === 0 ? null : `é${'x'.repeat(1000)}${i}`))],
      rowCount: 3000,
    };

    // Act
    const file = encodeAvro(t, 'snappy');
    const rows: { id: number; s: string | null }[] = [];
    await new Promise<void>((resolve, reject) => {
      const decoder = new avro.streams.BlockDecoder({ codecs: { snappy: (buf: Buffer, cb: (e: Error | null, b?: Buffer) => void) => cb(null, decompressBlock('snappy', buf)) } } as never);
      decoder.on('data', (r: { id: number; s: string | null }) => rows.push(r)).on('end', resolve).on('error', reject);
      decoder.end(file);
    });

    // Assess
    expect(rows.map((r) => r.id)).toEqual(t.data[0]);
    expect(rows.map((r) => r.s)).toEqual(t.data[1]);
  });
});
