/**
 * The jsonl encoder writes its lines as bytes (no string per record): held here, for generated records of hostile
 * content and every envelope setting, byte for byte to an oracle that builds each line with JSON.stringify.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { loadSinkConfig, type SinkConfig } from '../../../lambdas/shared/config.ts';
import { OutputFields } from '../../../lambdas/shared/constants.ts';
import { convertPlan, convertRecord, RAW_JSON_TEXT, type SinkRecord } from '../../../lambdas/shared/convert.ts';
import type { KafkaRecord } from '../../../lambdas/shared/decode.ts';
import { encodeJsonl } from '../../../lambdas/shared/encode/jsonl.ts';
import { RecordError } from '../../../lambdas/shared/errors.ts';

/** What JSON.stringify writes for the envelope of one converted record. */
function oracleLine(cfg: SinkConfig, r: SinkRecord): string {
  const rec = r.record;
  const value = (): string => {
    if (rec.value === null || r.valueText === null) return 'null';
    if (cfg.valueEncoding !== 'json') return JSON.stringify(r.valueText);
    return r.valueText === RAW_JSON_TEXT ? rec.value.toString('utf8') : r.valueText;
  };
  if (!cfg.envelope) return value();
  const bytes = (b: Buffer, encoding: 'text' | 'base64') => (encoding === 'base64' ? b.toString('base64') : b.toString('utf8'));
  const part: Record<(typeof OutputFields)[number], () => string> = {
    topic: () => JSON.stringify(rec.topic),
    partition: () => String(rec.partition),
    offset: () => rec.offset.toString(),
    timestamp: () => JSON.stringify(new Date(rec.timestamp).toISOString()),
    key: () => (rec.key === null ? 'null' : JSON.stringify(bytes(rec.key, cfg.keyEncoding))),
    headers: () => JSON.stringify(rec.headers.map((h) => ({ key: h.key, value: h.value === null ? null : bytes(h.value, cfg.headerEncoding) }))),
    value,
  };
  return `{${cfg.fields.map((f) => `"${f}":${part[f]()}`).join(',')}}`;
}

/** Text that JSON must escape, or may not: quotes, backslashes, control bytes, DEL, U+2028, non-ASCII, emoji. */
const hostileText = fc.string({
  unit: fc.oneof(
    fc.constantFrom('"', '\\', '\n', '\r', '\t', '\b', '\f', '\u0000', '\u0001', '\u001f', '\u007f', '\u2028', '\u2029', 'é', '€', '😀', '/', 'a', ' '),
    fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
  ),
  maxLength: 90,
});
const jsonValue = fc.oneof(
  fc.json({ maxDepth: 3 }),
  fc.constantFrom('{"a":1}', ' { "a" : [ 1 , 2 ] }\n', '{\r\n"b":"x"\n}', '12345678901234567890', '"\\u2028"', 'null', '[]'),
);
const record = fc.record({
  topic: fc.oneof(fc.constantFrom('orders', 'a.b_c-1'), hostileText.filter((s) => s.length > 0 && s.isWellFormed())),
  partition: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
  offset: fc.oneof(fc.bigInt({ min: 0n, max: 2n ** 53n }), fc.bigInt({ min: 2n ** 53n, max: 2n ** 63n - 1n })),
  timestamp: fc.integer({ min: -62_135_596_800_000, max: 253_402_300_799_999 }),
  key: fc.option(hostileText, { nil: null }),
  value: fc.option(jsonValue, { nil: null, freq: 6 }),
  headers: fc.array(fc.record({ key: hostileText.filter((s) => s.isWellFormed()), value: fc.option(hostileText, { nil: null }) }), { maxLength: 3 }),
});

const settings = fc.record({
  fields: fc.shuffledSubarray([...OutputFields], { minLength: 1 }),
  keyEncoding: fc.constantFrom('text', 'base64'),
  headerEncoding: fc.constantFrom('text', 'base64'),
  valueEncoding: fc.constantFrom('json', 'text', 'base64'),
  bare: fc.boolean(),
});

describe('jsonl bytes', () => {
  it('are, line by line, what JSON.stringify writes for every envelope setting and hostile content', () => {
    fc.assert(fc.property(settings, fc.array(record, { minLength: 1, maxLength: 12 }), (s, specs) => {
      const cfg = loadSinkConfig({
        BUCKET_NAME: 'my-bucket', FORMAT: 'jsonl', TOMBSTONES: s.bare || s.fields.includes('value') ? 'write' : 'ignore',
        FIELDS: s.bare ? 'value' : s.fields.join(','), ENVELOPE: s.bare ? 'false' : 'true',
        KEY_ENCODING: s.keyEncoding, HEADER_ENCODING: s.headerEncoding, VALUE_ENCODING: s.bare ? 'json' : s.valueEncoding,
      });
      const plan = convertPlan(cfg);
      const records: SinkRecord[] = [];
      for (const spec of specs) {
        const kafka: KafkaRecord = {
          ...spec, timestampType: 'CREATE_TIME',
          key: spec.key === null ? null : Buffer.from(spec.key, 'utf8'),
          value: spec.value === null ? null : Buffer.from(spec.value, 'utf8'),
          headers: spec.headers.map((h) => ({ key: h.key, value: h.value === null ? null : Buffer.from(h.value, 'utf8') })),
        };
        try {
          records.push(convertRecord(cfg, plan, kafka));
        } catch (err) {
          if (!(err instanceof RecordError)) throw err; // a lone surrogate in text, a JSON value refused: set aside
        }
      }
      const out = encodeJsonl(cfg, records).toString('utf8');
      expect(out).toBe(records.map((r) => `${oracleLine(cfg, r)}\n`).join(''));
      for (const line of out.split('\n').slice(0, -1)) expect(() => JSON.parse(line)).not.toThrow();
    }), { numRuns: 400 });
  });

  it('grows its buffer past the estimate without losing bytes (values and keys far longer than estimated)', () => {
    // Prepare
    const cfg = loadSinkConfig({ BUCKET_NAME: 'my-bucket', FORMAT: 'jsonl', VALUE_ENCODING: 'text', HEADER_ENCODING: 'text' });
    const plan = convertPlan(cfg);
    const long = '"\u0001'.repeat(40_000);
    const records = [0, 1, 2].map((i) => convertRecord(cfg, plan, {
      topic: 'orders', partition: 0, offset: BigInt(i), timestamp: 0, timestampType: 'CREATE_TIME',
      key: Buffer.from(long), value: Buffer.from(long), headers: [{ key: long, value: Buffer.from(long) }],
    }));

    // Act
    const lines = encodeJsonl(cfg, records).toString('utf8').split('\n');

    // Assess
    expect(lines).toHaveLength(4);
    for (const line of lines.slice(0, 3)) {
      const parsed = JSON.parse(line) as { key: string; value: string; headers: { key: string; value: string }[] };
      expect([parsed.key, parsed.value, parsed.headers[0].key, parsed.headers[0].value]).toEqual([long, long, long, long]);
    }
  });
});
