/**
 * Columns inferred from JSON values take each top-level field's value from the bytes as the JSON check walks them
 * (convert.ts topLevelValues, json-validate.ts topLevelSpans), with no object built. The reference is the path that
 * parses the value (JSON.parse with exact numbers, kept when a key template reads value fields): for generated JSON
 * written every way JSON allows (whitespace anywhere, escapes, numbers spelled 1.50 / 1e2 / -0 / 0.0000001, 20-digit
 * integers, integer-like and escaped keys, nesting), both must give the same columns, types and cells, and refuse
 * the same values with the same reason.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { loadSinkConfig, type SinkConfig } from '../../../lambdas/shared/config.ts';
import { convertPlan, convertRecord, type SinkRecord } from '../../../lambdas/shared/convert.ts';
import type { KafkaRecord } from '../../../lambdas/shared/decode.ts';
import { buildTable } from '../../../lambdas/shared/encode/table.ts';
import { RecordError } from '../../../lambdas/shared/errors.ts';
import { parseJsonExact } from '../../../lambdas/shared/json.ts';
import { inferTable, toCell } from '../../../lambdas/shared/schema.ts';

const cfgOf = (env: Record<string, string>): SinkConfig => loadSinkConfig({ BUCKET_NAME: 'test-bucket', ...env });

function record(value: string, offset: number): KafkaRecord {
  return { topic: 't', partition: 0, offset: BigInt(offset), timestamp: 1_700_000_000_000, timestampType: 'CREATE_TIME', key: null, value: Buffer.from(value), headers: [] };
}

type Outcome = { ok: SinkRecord } | { error: string };

function convertAll(cfg: SinkConfig, values: readonly string[]): Outcome[] {
  const plan = convertPlan(cfg);
  return values.map((v, i) => {
    try {
      return { ok: convertRecord(cfg, plan, record(v, i)) };
    } catch (err) {
      if (!(err instanceof RecordError)) throw err;
      return { error: `${err.stage}: ${err.message}` };
    }
  });
}

/** The table of the converted records (what every columnar encoder gets), or the errors, comparable across paths. */
function outcome(cfg: SinkConfig, values: readonly string[]): unknown {
  const converted = convertAll(cfg, values);
  const kept = converted.flatMap((c) => ('ok' in c ? [c.ok] : []));
  const { table, rejected } = buildTable(cfg, kept);
  // Kafka metadata columns are the same on both paths: only the value's columns are compared.
  const valueColumns = table.columns.map((c, i) => ({ c, i })).filter(({ c }) => !c.name.startsWith('_kafka_'));
  return {
    errors: converted.map((c) => ('error' in c ? c.error : null)),
    rejected: rejected.map((r) => [Number(r.record.record.offset), r.reason]),
    columns: valueColumns.map(({ c }) => c),
    data: valueColumns.map(({ i }) => table.data[i]),
  };
}

// ---- JSON text written every way the grammar allows ----

// Mostly none, so that many nested values are compact (the case whose bytes are taken as they are).
const ws = fc.oneof({ weight: 30, arbitrary: fc.constant('') }, { weight: 1, arbitrary: fc.constantFrom(' ', '\n', '\t', ' \r\n ') });

function escapeAll(s: string): string {
  let out = '';
  for (const ch of s) out += ch.length === 2 ? `\\u${ch.charCodeAt(0).toString(16)}\\u${ch.charCodeAt(1).toString(16)}` : `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`;
  return out;
}

/** A string literal: as JSON.stringify writes it, or with some or all characters escaped, or \/ for /. */
const stringLiteral = (s: string) => fc.oneof({ weight: 6, arbitrary: fc.constant(JSON.stringify(s)) }, { weight: 1, arbitrary: fc.constantFrom(`"${escapeAll(s)}"`, JSON.stringify(s).replaceAll('/', '\\/')) });

/** Number literals: plain, and the spellings JSON.stringify would not write back. */
const numberLiteral = fc.oneof(
  { weight: 1, arbitrary: fc.integer({ min: -1_000_000, max: 1_000_000 }).map(String) },
  { weight: 1, arbitrary: fc.double({ noNaN: true, noDefaultInfinity: true }).map((d) => JSON.stringify(d)) },
  // Decimals of up to 15 digits, the point anywhere (the bytes path divides their digits by a power of ten).
  { weight: 2, arbitrary: fc.tuple(fc.bigInt({ min: 1n, max: 10n ** 15n - 1n }), fc.nat(15), fc.boolean()).map(([m, at, neg]) => {
    const d = m.toString();
    const p = Math.min(at, d.length - 1);
    const text = p === 0 ? d : `${d.slice(0, d.length - p)}.${d.slice(d.length - p)}`;
    return `${neg ? '-' : ''}${text}`;
  }) },
  { weight: 3, arbitrary: fc.constantFrom('-0', '0', '1.50', '1.0', '1e2', '1E+2', '2.5e-3', '0.0000001', '0.000001', '0.0000015', '-0.0', '100000000000000000000',
    '9007199254740993', '-9223372036854775808', '9223372036854775807', '9223372036854775808', '18446744073709551616',
    '123456789012345678901234567890', '0.1234567890123456789', '1e400', '-1e400', '5e-324', '1.7976931348623157e308', '19.99', '12345678901234.5') },
);

const keyText = fc.oneof(fc.constantFrom('a', 'b', 'id', 'name', 'A', '1', '2', '10', '01', '__proto__', 'constructor', 'x y', 'é', '日本'), fc.string({ maxLength: 6 }));


const value: fc.Memo<string> = fc.memo((n: number): fc.Arbitrary<string> => {
  if (n <= 1) return fc.oneof(numberLiteral, fc.string({ maxLength: 8 }).chain(stringLiteral), fc.constantFrom('true', 'false', 'null'));
  return fc.oneof(
    { weight: 3, arbitrary: value(1) },
    { weight: 1, arbitrary: fc.array(fc.tuple(ws, value(n - 1), ws), { maxLength: 4 }).map((items) => `[${items.map(([a, v, b]) => `${a}${v}${b}`).join(',')}]`) },
    { weight: 1, arbitrary: object(n - 1) },
  );
});

function object(n: number): fc.Arbitrary<string> {
  return fc.uniqueArray(keyText, { maxLength: 6 }).chain((keys) =>
    fc.tuple(...keys.map((k) => fc.tuple(stringLiteral(k), ws, ws, value(n), ws))).map((members) =>
      `{${members.map(([k, a, b, v, c]) => `${a}${k}${b}:${c}${v}`).join(',')}}`));
}

/** A topic's values: mostly objects (of a few shapes, so names repeat as in a real topic), some not. */
const topicValues = fc.array(
  fc.oneof({ weight: 8, arbitrary: fc.tuple(ws, object(3), ws).map(([a, o, b]) => `${a}${o}${b}`) }, { weight: 1, arbitrary: value(2) }),
  { minLength: 1, maxLength: 12 },
);

describe('inferred columns from the bytes (topLevelCells) against parsing the value', () => {
  for (const format of ['parquet', 'avro', 'csv_with_headers']) {
    it(`${format}: same columns, cells and refusals for JSON written every way`, () => {
      const fast = cfgOf({ FORMAT: format });
      // A key template that reads a value field keeps the parsed value: the reference path.
      const parsed = cfgOf({ FORMAT: format, KEY_TEMPLATE: '{{topic}}/{{value.zz}}/{{partition}}+{{start_offset}}' });
      expect(convertPlan(fast).topLevelCells).toBe(true);
      expect(convertPlan(parsed).topLevelCells).toBe(false);
      fc.assert(fc.property(topicValues, (values) => {
        expect(outcome(fast, values)).toEqual(outcome(parsed, values));
      }), { numRuns: 1000 });
    });
  }

  it('shares the names list of records with the same names, and keeps nested values as their own text when it is canonical', () => {
    // Prepare
    const cfg = cfgOf({ FORMAT: 'parquet' });

    // Act
    const [a, b] = convertAll(cfg, ['{"id":1,"o":{"k":[1,2.5,"x"]}}', '{"id":2,"o":{"k" : [1]}}']).map((c) => (c as { ok: SinkRecord }).ok);

    // Assess
    expect(a.fieldNames).toBe(b.fieldNames);
    expect(a.fieldValues![1]).toEqual({ text: '{"k":[1,2.5,"x"]}' });
    expect(b.fieldValues![1]).toEqual({ text: '{"k":[1]}' });
  });

  it('a hostile value (50,000 numeric fields) costs linear time, as the check does', () => {
    // Prepare
    const cfg = cfgOf({ FORMAT: 'parquet' });
    const fields = Array.from({ length: 50_000 }, (_, i) => `"f${i}":${i}.5`).join(',');

    // Act
    const [got] = convertAll(cfg, [`{${fields}}`]);

    // Assess: over the column limit, refused with the reason (the fields were counted, not built).
    expect(got).toEqual({ error: expect.stringMatching(/^schema: value has 50000 fields, over \d+ columns/) });
  });
});

describe('inferTable fills the cells of inferred columns', () => {
  it('with what toCell gives for each column and value, for any mix of kinds per field (null, boolean, integers to beyond int64, fractions, text, nested)', () => {
    // inferTable converts cells inline rather than through toCell (every inferred column is nullable and a value of
    // its column's kind is its own cell, JSON text aside): the reference is toCell itself.
    const literal = fc.oneof(
      fc.constant('null'), fc.boolean().map(String), fc.integer().map(String), fc.maxSafeInteger().map(String),
      fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }).map(String), fc.double({ noNaN: true, noDefaultInfinity: true }).map((d) => JSON.stringify(d)),
      fc.string({ maxLength: 6 }).map((s) => JSON.stringify(s)), fc.constantFrom('1.50', '1e2', '-0', '[1,{"a":2}]', '{"x":[true,null]}', '12345678901234567890.5'),
    );
    const row = fc.dictionary(fc.constantFrom('a', 'b', 'c', 'd'), literal, { maxKeys: 4 })
      .map((fields) => `{${Object.entries(fields).map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`);
    fc.assert(fc.property(fc.array(row, { minLength: 1, maxLength: 25 }), (texts) => {
      const rows = texts.map((t) => {
        const obj = parseJsonExact(t) as Record<string, unknown>;
        const names = Object.keys(obj);
        return { names, values: names.map((k) => obj[k]) };
      });
      const { schema, data } = inferTable(rows);
      schema.columns.forEach((c, i) => {
        expect(data[i]).toEqual(rows.map((r) => {
          const at = r.names.indexOf(c.name);
          return toCell(c, at < 0 ? undefined : r.values[at]);
        }));
      });
    }), { numRuns: 300 });
  });
});
