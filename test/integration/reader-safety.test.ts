/**
 * Issue 8, the defects that were reader failures: a hostile batch of each format goes through the real handler into
 * versitygw, and the independent readers (pyarrow to_pylist, fastavro, Python csv/json) read every object whole,
 * every written record equal to its input. Before, one lone surrogate made fastavro refuse a whole Avro object, a
 * year-10000 timestamp made pyarrow and fastavro fail, a zero-column Parquet file read as 0 rows, and an int64 next
 * to a fraction lost its last digit.
 */
import { expect, it } from 'vitest';
import { createSinkHandler } from '../../lambdas/sink/app.ts';
import { kafkaEvent, type RecordSpec } from '../support/events.ts';
import { readObject } from '../support/readers.ts';
import { describeS3 } from '../support/s3-context.ts';
import { createBucket, s3ClientFor } from '../support/versitygw.ts';

const context = { functionName: 'sink', awsRequestId: 'reader-safety' } as never;
const MAX_MS = 253_402_300_799_999; // 9999-12-31T23:59:59.999Z, the last instant written

/** Values that each broke a reader or lost data, then good ones. */
const hostile: RecordSpec[] = [
  { offset: 0, value: '{"s":"\\ud800"}' }, // lone surrogate: dead letter
  { offset: 1, value: '{"s":"\\ud83d\\ude00 ok","n":9007199254740993,"m":1e400}' },
  { offset: 2, value: '{"s":"x","n":1.5,"m":0.1234567890123456789}' },
  { offset: 3, value: '{"a":1,"a":2}' }, // duplicate key: dead letter
  { offset: 4, value: '{"__proto__":7,"s":"p"}' },
  { offset: 5, value: '{"s":"max","n":2}', timestamp: MAX_MS },
  { offset: 6, value: '{"s":"y10k"}', timestamp: MAX_MS + 1 }, // year 10000: dead letter
  { offset: 7, value: '{"s":"none","n":3}', timestamp: -1 }, // Kafka's "no timestamp", written as is
];

describeS3('hostile records read back whole by independent readers', (s3) => {
  const client = s3ClientFor(s3);

  it.each([
    ['avro', 'null'], ['parquet', 'zstd'], ['csv_with_headers', 'gzip'], ['jsonl', 'zstd'],
  ] as const)('%s + %s', async (format, compression) => {
    // Prepare
    const bucket = `safety-${format.replaceAll('_', '-')}`;
    await createBucket(s3, bucket);
    const env = {
      BUCKET_NAME: bucket, FORMAT: format, COMPRESSION: compression, S3_ENDPOINT: s3.endpoint, FIELDS: 'value,offset,timestamp',
      KEY_TEMPLATE: '{{topic}}/{{partition}}/{{start_offset}}',
    };
    const handler = createSinkHandler({ env, s3: client });

    // Act
    const result = await handler(kafkaEvent(hostile), context);

    // Assess
    // jsonl writes the value as JSON: 1e400 would make pyarrow refuse the whole file, so that record is set aside too;
    // avro refuses a field named __proto__ (avsc would turn it into a prototype), the other formats write it.
    expect([result.written, result.deadLettered]).toEqual(format === 'jsonl' || format === 'avro' ? [4, 4] : [5, 3]);
    const [key] = result.keys.filter((k) => k.startsWith('topics/'));
    const row = format === 'avro' || format === 'parquet';
    const doc = (await readObject(s3, bucket, key, format, row ? undefined : compression)) as { rows: unknown[] };
    if (format === 'csv_with_headers') {
      const [header, ...lines] = doc.rows as string[][];
      expect(header).toEqual(['s', 'n', 'm', '__proto__', '_kafka_offset', '_kafka_timestamp']);
      expect(lines.map((l) => l[4])).toEqual(['1', '2', '4', '5', '7']);
      // n mixes an int64 beyond 2^53 with a fraction, m holds numbers no double holds: both JSON text, every digit kept.
      expect(lines.map((l) => [l[1], l[2]])).toEqual([['9007199254740993', '1e400'], ['1.5', '0.1234567890123456789'], ['', ''], ['2', ''], ['3', '']]);
      expect(lines.map((l) => l[5])).toEqual(['2026-01-01T00:00:00.001Z', '2026-01-01T00:00:00.002Z', '2026-01-01T00:00:00.004Z', '9999-12-31T23:59:59.999Z', '1969-12-31T23:59:59.999Z']);
      return;
    }
    if (format === 'jsonl') {
      const rows = doc.rows as { value: Record<string, unknown>; offset: number }[];
      expect(rows.map((r) => r.offset)).toEqual([2, 4, 5, 7]);
      expect(rows[0].value).toEqual({ s: 'x', n: 1.5, m: 0.12345678901234568 }); // the bytes keep every digit; Python reads a float
      expect(rows.map((r) => (Object.hasOwn(r.value, '__proto__') ? r.value.__proto__ : null))).toEqual([null, 7, null, null]);
      return;
    }
    const rows = doc.rows as Record<string, unknown>[];
    const avro = format === 'avro'; // offset 4 ({"__proto__":7}) dead-lettered
    const pick = <T,>(xs: T[]) => (avro ? xs.filter((_, i) => i !== 2) : xs);
    expect(rows.map((r) => Number(r._kafka_offset))).toEqual(pick([1, 2, 4, 5, 7]));
    expect(rows.map((r) => r.n)).toEqual(pick(['9007199254740993', '1.5', null, '2', '3']));
    expect(rows.map((r) => r.m)).toEqual(pick(['1e400', '0.1234567890123456789', null, null, null]));
    if (!avro) expect(Object.hasOwn(rows[2], '__proto__') && rows[2].__proto__).toBe(7);
    expect(rows[0].s).toBe('\u{1f600} ok');
    expect(rows.at(-2)!._kafka_timestamp).toBe('9999-12-31T23:59:59.999+00:00');
    expect(rows.at(-1)!._kafka_timestamp).toBe('1969-12-31T23:59:59.999+00:00');
  });

  it('text: values with U+2028, NEL, VT or FF are dead-lettered, so a line-splitting reader sees exactly the records', async () => {
    // Prepare
    const bucket = 'safety-text';
    await createBucket(s3, bucket);
    const handler = createSinkHandler({ env: { BUCKET_NAME: bucket, FORMAT: 'text', COMPRESSION: 'none', S3_ENDPOINT: s3.endpoint }, s3: client });
    const values = ['one', 'a\u2028b', 'two', 'a\u0085b', 'a\u000bb', 'a\u000cb', 'three'];

    // Act
    const result = await handler(kafkaEvent(values.map((value, offset) => ({ offset, value }))), context);

    // Assess
    expect([result.written, result.deadLettered]).toEqual([3, 4]);
    const [key] = result.keys.filter((k) => k.startsWith('topics/'));
    const doc = (await readObject(s3, bucket, key, 'text', 'none')) as { rows: unknown[] };
    expect(doc.rows).toEqual(['one', 'two', 'three']);
  });

  it('parquet with FIELDS=value and empty values: no zero-column file; the other rows are read', async () => {
    // Prepare
    const bucket = 'safety-empty';
    await createBucket(s3, bucket);
    const handler = createSinkHandler({ env: { BUCKET_NAME: bucket, FORMAT: 'parquet', FIELDS: 'value', S3_ENDPOINT: s3.endpoint }, s3: client });

    // Act
    const result = await handler(kafkaEvent([{ offset: 0, value: '{}' }, { offset: 1, value: '{"a":1}' }, { offset: 2, value: '{}' }]), context);

    // Assess
    expect([result.written, result.deadLettered]).toEqual([1, 2]);
    const [key] = result.keys.filter((k) => k.startsWith('topics/'));
    expect(((await readObject(s3, bucket, key, 'parquet')) as { rows: unknown[] }).rows).toEqual([{ a: 1 }]);
  });
});
