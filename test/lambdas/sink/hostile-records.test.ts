/**
 * Issue 8, one test per defect class: records that real Kafka topics hold must never fail the invocation (which
 * would block the partition under the event source's retries), and must never be written in a way that changes
 * them or that a reader refuses. Through the real handler into an in-memory bucket; test/integration/
 * reader-safety.test.ts reads the same classes back with pyarrow, fastavro and Python's csv/json.
 */
import { describe, expect, it } from 'vitest';
import { Limits } from '../../../lambdas/shared/constants.ts';
import { loadSinkConfig } from '../../../lambdas/shared/config.ts';
import { encodeObject } from '../../../lambdas/shared/encode/index.ts';
import { safeKeyCacheChars, safeKeyValue } from '../../../lambdas/shared/key-template.ts';
import { SinkPipeline } from '../../../lambdas/shared/pipeline.ts';
import { createSinkHandler } from '../../../lambdas/sink/app.ts';
import { kafkaEvent, type RecordSpec } from '../../support/events.ts';
import { MemoryBucket } from '../../support/memory-bucket.ts';

const context = { functionName: 'sink', awsRequestId: 'hostile' } as never;
const TABLE_FORMATS = ['csv', 'csv_with_headers', 'avro', 'parquet'] as const;
const JSON_FORMATS = ['jsonl', ...TABLE_FORMATS] as const;

async function run(env: Record<string, string>, records: RecordSpec[] | Record<string, unknown>) {
  const bucket = new MemoryBucket();
  const handler = createSinkHandler({ env: { BUCKET_NAME: 'bkt', COMPRESSION: env.FORMAT === 'avro' ? 'null' : 'none', ...env }, s3: bucket as never });
  const event = Array.isArray(records) ? kafkaEvent(records) : records;
  const result = await handler(event, context);
  expect(result.written + result.filtered + result.tombstonesIgnored + result.deadLettered).toBe(result.recordsIn);
  return { result, bucket, letters: bucket.deadLetters() };
}

const reasons = (letters: Record<string, unknown>[]) => letters.map((l) => [Number(l.offset), l.stage, l.reason]);
const ok = (offset: number, value = '{"a":1}'): RecordSpec => ({ offset, value });

/** A raw MSK event whose records are given as wire objects (for fields kafkaEvent cannot express). */
function wireEvent(records: Record<string, unknown>[], key = 'orders-0') {
  const base = { topic: 'orders', partition: 0, timestampType: 'CREATE_TIME', value: Buffer.from('{"a":1}').toString('base64'), headers: [] };
  return { eventSource: 'aws:kafka', eventSourceArn: 'arn:aws:kafka:us-east-1:123456789012:cluster/demo/abc', records: { [key]: records.map((r) => ({ ...base, timestamp: 1_767_225_600_000, ...r })) } };
}

describe('record-level event fields are that record\'s dead letter, never an event error', () => {
  it.each(JSON_FORMATS)('%s: int64 timestamps beyond a Date, year 10000, and non-integers set aside only their record', async (format) => {
    const event = wireEvent([
      { offset: 0 }, { offset: 1, timestamp: 9.2e18 }, { offset: 2, timestamp: -9.2e18 }, { offset: 3, timestamp: 253_402_300_800_000 },
      { offset: 4, timestamp: 'soon' }, { offset: 5, timestamp: -1 }, { offset: 6 },
    ]);
    const { result, letters } = await run({ FORMAT: format }, event);
    expect(result.written).toBe(3); // 0, 5 (Kafka's "no timestamp", written as is) and 6
    expect(reasons(letters)).toEqual([
      [1, 'convert', 'timestamp 9200000000000000000 ms is outside 0001-01-01T00:00:00Z..9999-12-31T23:59:59.999Z, the instants readers hold'],
      [2, 'convert', 'timestamp -9200000000000000000 ms is outside 0001-01-01T00:00:00Z..9999-12-31T23:59:59.999Z, the instants readers hold'],
      [3, 'convert', 'timestamp 253402300800000 ms is outside 0001-01-01T00:00:00Z..9999-12-31T23:59:59.999Z, the instants readers hold'],
      [4, 'decode', 'record timestamp "soon" is not an integer of epoch milliseconds'],
    ]);
    expect(letters[3].received).toMatchObject({ offset: 4, timestamp: 'soon' });
  });

  it('a timestamp the output never uses is no reason to set a record aside', async () => {
    const { result } = await run({ FORMAT: 'jsonl', FIELDS: 'value,offset', KEY_TEMPLATE: '{{topic}}/{{partition}}/{{start_offset}}' }, wireEvent([{ offset: 0, timestamp: 9.2e18 }]));
    expect(result.written).toBe(1);
  });

  it('bad base64 and malformed headers dead-letter their record with the record as received', async () => {
    const event = wireEvent([{ offset: 0, value: 'abc' }, { offset: 1, headers: [{ h: 'x' }] }, { offset: 2, headers: [{ n: null }] }]);
    const { result, bucket, letters } = await run({ FORMAT: 'jsonl' }, event);
    expect(reasons(letters)).toEqual([[0, 'decode', 'record value is not a base64 string or null'], [1, 'decode', 'record header "h" is not a list of bytes or null']]);
    expect(letters[0].received).toMatchObject({ value: 'abc' });
    expect(result.written).toBe(1);
    expect(JSON.parse(bucket.text()).headers).toEqual([{ key: 'n', value: null }]); // Kafka allows a header without a value
  });

  it('two map keys for one partition ("orders-0", "orders-00") are merged, not one object overwriting the other', async () => {
    const event = wireEvent([{ offset: 0 }]) as { records: Record<string, Record<string, unknown>[]> };
    event.records['orders-00'] = [{ ...event.records['orders-0'][0], offset: 1 }];
    const { result, bucket } = await run({ FORMAT: 'jsonl', KEY_TEMPLATE: '{{topic}}/{{partition}}/{{start_offset}}' }, event);
    expect(result.written).toBe(2);
    expect(bucket.text().trim().split('\n').map((l) => JSON.parse(l).offset)).toEqual([0, 1]);
  });
});

describe('numbers: exact, or JSON text, or a dead letter with the number named', () => {
  it.each(TABLE_FORMATS)('%s with an inferred schema writes numbers no double holds as JSON text with their digits', async (format) => {
    const values = ['{"n":1e400}', '{"n":-1e400}', '{"n":1e-400}', '{"n":0.1234567890123456789}', '{"n":12345678901234567890.12}'];
    const { result, letters } = await run({ FORMAT: format }, values.map((value, offset) => ({ offset, value })));
    expect(letters).toEqual([]);
    expect(result.written).toBe(5);
  });

  it('jsonl keeps every number as written, but one beyond a double (pyarrow refuses the whole file) is set aside', async () => {
    const values = ['{"n":1e400}', '{"n":-2E+308}', '{"n":1e-400}', '{"n":0.1234567890123456789}', '{"n":1e308}'];
    const { bucket, letters } = await run({ FORMAT: 'jsonl', FIELDS: 'value' }, values.map((value, offset) => ({ offset, value })));
    expect(reasons(letters)).toEqual([
      [0, 'convert', 'value is not accepted as JSON: number 1e400 is beyond the range of a double (JSON lines readers such as pyarrow refuse the whole file; VALUE_ENCODING=text keeps it as text)'],
      [1, 'convert', 'value is not accepted as JSON: number -2E+308 is beyond the range of a double (JSON lines readers such as pyarrow refuse the whole file; VALUE_ENCODING=text keeps it as text)'],
    ]);
    expect(bucket.text()).toBe('{"value":{"n":1e-400}}\n{"value":{"n":0.1234567890123456789}}\n{"value":{"n":1e308}}\n');
  });

  it('an inferred column mixing an int64 beyond 2^53 and a fraction is JSON text, not a double that loses digits', async () => {
    const { bucket } = await run({ FORMAT: 'csv', FIELDS: 'value,offset' }, [ok(0, '{"n":9007199254740993}'), ok(1, '{"n":1.5}'), ok(2, '{"n":7}')]);
    expect(bucket.text()).toBe('9007199254740993,0\r\n1.5,1\r\n7,2\r\n');
    const mixed = await run({ FORMAT: 'parquet', COMPRESSION: 'none', FIELDS: 'value' }, [ok(0, '{"n":3}'), ok(1, '{"n":1.5}')]);
    expect(mixed.result.written).toBe(2); // safe integers and fractions stay a double column (exact)
  });

  it('with AVRO_SCHEMA, a number beyond the column type is dead-lettered and the reason names it (not "got null")', async () => {
    const schema = JSON.stringify({ type: 'record', name: 'R', fields: [{ name: 'n', type: 'double' }, { name: 'l', type: ['null', 'long'], default: null }] });
    const { letters } = await run({ FORMAT: 'avro', AVRO_SCHEMA: schema }, [ok(0, '{"n":1e400}'), ok(1, '{"n":1,"l":9223372036854775808}'), ok(2, '{"n":0.5}')]);
    expect(reasons(letters)).toEqual([
      [0, 'schema', 'field "n": expected double, got 1e400: beyond the range of a double'],
      [1, 'schema', 'field "l": expected long or null, got 9223372036854775808'],
    ]);
  });
});

describe('JSON that readers refuse or misread is set aside with the reason', () => {
  it.each(JSON_FORMATS)('%s: deep nesting, lone surrogates, duplicate and case-colliding keys', async (format) => {
    const deep = `${'['.repeat(5000)}1${']'.repeat(5000)}`;
    const values = [
      `{"a":${deep}}`, '{"s":"\\ud800"}', '{"s":"\\udc00x"}', '{"status":"paid","status":"shipped"}', '{"Id":1,"id":2}',
      '{"o":{"k":1,"\\u006b":2}}', '{"s":"\\ud83d\\ude00"}',
    ];
    const { result, letters } = await run({ FORMAT: format }, values.map((value, offset) => ({ offset, value })));
    expect(reasons(letters)).toEqual([
      [0, 'convert', `value is not accepted as JSON: nested deeper than ${Limits.maxJsonDepth} levels`],
      [1, 'convert', 'value is not accepted as JSON: lone UTF-16 surrogate \\ud800 in a string (not Unicode text)'],
      [2, 'convert', 'value is not accepted as JSON: lone UTF-16 surrogate \\udc00 in a string (not Unicode text)'],
      [3, 'convert', 'value is not accepted as JSON: duplicate key "status" in one object (readers refuse it or keep either value)'],
      [4, 'convert', 'value is not accepted as JSON: keys "Id" and "id" of one object differ only in letter case (case-insensitive readers cannot tell them apart)'],
      [5, 'convert', 'value is not accepted as JSON: duplicate key "k" in one object (readers refuse it or keep either value)'],
    ]);
    expect(result.written).toBe(1); // the valid surrogate pair
  });

  it.each(TABLE_FORMATS)('%s: reserved names in any case, empty and control-character names; case collisions across records', async (format) => {
    const values = ['{"_KAFKA_offset":5}', '{"":1}', '{"a\\u0001":1}', '{"Id":1}', '{"id":2}', '{"ID":3,"x":1}', '{"Id":4}'];
    const { result, letters } = await run({ FORMAT: format }, values.map((value, offset) => ({ offset, value })));
    const avro = format === 'avro';
    expect(reasons(letters)).toEqual([
      [0, 'schema', 'value field "_KAFKA_offset" uses the prefix "_kafka_" (in any letter case) reserved for Kafka metadata columns'],
      [1, 'schema', avro ? 'value field "" is not a valid Avro name ([A-Za-z_][A-Za-z0-9_]*)' : 'value field "" has an empty name, which no column can have'],
      [2, 'schema', avro ? 'value field "a\\u0001" is not a valid Avro name ([A-Za-z_][A-Za-z0-9_]*)' : 'value field "a\\u0001" has a control character in its name'],
      [4, 'encode', 'value field "id" differs only in letter case from column "Id" of this object (case-insensitive readers cannot tell them apart)'],
      [5, 'encode', 'value field "ID" differs only in letter case from column "Id" of this object (case-insensitive readers cannot tell them apart)'],
    ]);
    expect(result.written).toBe(2);
  });

  it('avro: a field named __proto__ is dead-lettered with its reason (avsc would make it a prototype); other formats write it', async () => {
    // With a field named like a property of avsc's Field ("name", "type") after it, avsc threw while building the
    // object's schema: the encode stage's bisect set the record aside (EncodeFallbacks), a missing check.
    const values = [ok(0, '{"__proto__":1,"name":2}'), ok(1, '{"name":2,"__proto__":{"a":1}}'), ok(2, '{"name":3,"type":"x"}')];
    const { result, letters } = await run({ FORMAT: 'avro', FIELDS: 'value,offset' }, values);
    const why = 'value field "__proto__" is refused as an Avro field name: JavaScript Avro libraries (avsc, which writes these files) turn it into an object prototype instead of a field';
    expect(reasons(letters)).toEqual([[0, 'schema', why], [1, 'schema', why]]);
    expect([result.written, result.encodeFallbacks]).toEqual([1, 0]);
    for (const format of ['parquet', 'csv', 'jsonl'] as const) {
      const other = await run({ FORMAT: format, FIELDS: 'value,offset' }, values);
      expect([format, other.result.written, other.result.encodeFallbacks]).toEqual([format, 3, 0]);
    }
  });

  it('a configured schema may not name a field __proto__', () => {
    const schema = JSON.stringify({ type: 'record', name: 'R', fields: [{ name: '__proto__', type: 'long' }] });
    expect(() => loadSinkConfig({ BUCKET_NAME: 'bkt', FORMAT: 'parquet', AVRO_SCHEMA: schema })).toThrow(/field name "__proto__" is refused/);
  });

  it('FIELDS=value: an empty object would be a row of no columns (zero-column Parquet, blank CSV line): dead-lettered', async () => {
    for (const format of ['parquet', 'csv'] as const) {
      const { result, letters } = await run({ FORMAT: format, FIELDS: 'value' }, [ok(0, '{}'), ok(1, '{"a":1}')]);
      expect(reasons(letters).map((r) => r[0])).toEqual([0]);
      expect(result.written).toBe(1);
    }
    // One column and a null cell is a blank CSV line too.
    const { letters } = await run({ FORMAT: 'csv', FIELDS: 'value' }, [ok(0, '{"a":null}'), ok(1, '{"a":1}')]);
    expect(reasons(letters)).toEqual([[0, 'encode', 'the row would be a blank CSV line (one column, null), which CSV readers skip']]);
  });
});

describe('found by the hostile-event fuzzer', () => {
  it.each(TABLE_FORMATS)('%s: a top-level number no double holds is not an object (it was written as a column "rawJSON")', async (format) => {
    const { letters } = await run({ FORMAT: format, FIELDS: 'value' }, [ok(0, '1e400'), ok(1, '12345678901234567890'), ok(2, '{"a":1}')]);
    expect(reasons(letters).map((r) => [r[0], r[2]])).toEqual([
      [0, `value is not a JSON object (got number); ${format} needs one object per record, or VALUE_ENCODING=text/base64`],
      [1, `value is not a JSON object (got number); ${format} needs one object per record, or VALUE_ENCODING=text/base64`],
    ]);
  });

  it('a configured double takes only numbers it holds exactly (no lost digits)', async () => {
    const schema = JSON.stringify({ type: 'record', name: 'R', fields: [{ name: 'amount', type: ['null', 'double'], default: null }] });
    const { bucket, letters } = await run({ FORMAT: 'csv', FIELDS: 'value', AVRO_SCHEMA: schema }, [
      ok(0, '{"amount":-10621796085914015}'), ok(1, '{"amount":0.1234567890123456789}'), ok(2, '{"amount":9007199254740992}'), ok(3, '{"amount":0.1}'),
    ]);
    expect(letters.map((l) => Number(l.offset))).toEqual([0, 1]);
    expect(bucket.text()).toBe('9007199254740992\r\n0.1\r\n');
  });

  it('jsonl: a header name with a lone surrogate is set aside (DuckDB refused the whole object)', async () => {
    const event = wireEvent([{ offset: 0, headers: [{ '\ud800': [] }] }, { offset: 1 }]);
    const { letters } = await run({ FORMAT: 'jsonl' }, event);
    expect(reasons(letters)).toEqual([[0, 'convert', 'header name "\\ud800" holds a lone UTF-16 surrogate (not Unicode text)']]);
  });

  it('jsonl: top-level names that differ only in case across the records of one object (DuckDB infers one column)', async () => {
    const { letters, result } = await run({ FORMAT: 'jsonl', FIELDS: 'value' }, [ok(0, '{"Id":1}'), ok(1, '{"id":2}'), ok(2, '{"Id":3}')]);
    expect(reasons(letters)).toEqual([[1, 'encode', 'value field "id" differs only in letter case from column "Id" of this object (case-insensitive readers cannot tell them apart)']]);
    expect(result.written).toBe(2);
  });

  it('csv: an empty base64 value is "" (an empty string), not a blank line', async () => {
    const { bucket } = await run({ FORMAT: 'csv', FIELDS: 'value', VALUE_ENCODING: 'base64' }, [ok(0, ''), ok(1, 'x')]);
    expect(bucket.text()).toBe('""\r\neA==\r\n');
  });
});

describe('text and bytes: a record is one record for every reader', () => {
  it('text: any line terminator a line-splitting reader knows (LF CR VT FF FS GS RS NEL U+2028 U+2029) sets the value aside', async () => {
    const values = ['a\u2028b', 'a\u0085b', 'a\u000bb', 'a\u000cb', 'a\u001cb', 'a\u2029b', 'plain'];
    const { result, letters } = await run({ FORMAT: 'text' }, values.map((value, offset) => ({ offset, value })));
    expect(letters.map((l) => l.stage)).toEqual(Array(6).fill('encode'));
    expect(result.written).toBe(1);
  });

  it('bytes: a value holding the separator is dead-lettered, so the object splits back into exactly its records', async () => {
    const { result, bucket, letters } = await run({ FORMAT: 'bytes', VALUE_ENCODING: 'base64' }, [ok(0, 'a\nb'), ok(1, 'c'), ok(2, 'd')]);
    expect(reasons(letters)).toEqual([[0, 'encode', 'value contains BYTES_SEPARATOR, so the object could not be split back into records (choose another separator, or jsonl with VALUE_ENCODING=base64)']]);
    expect(result.written).toBe(2);
    expect(bucket.text()).toBe('c\nd');
  });
});

describe('bounded cost per record: what a value or a batch shape can grow is capped', () => {
  it('a long run of spaces before a line break is made one line in linear time (was quadratic)', async () => {
    const value = `{"a":${' '.repeat(1_000_000)}\n1}`;
    const { result, bucket } = await run({ FORMAT: 'jsonl', FIELDS: 'value' }, [ok(0, value)]);
    expect(result.written).toBe(1);
    expect(bucket.text()).toBe('{"value":{"a":1}}\n');
  });

  it('many distinct field names: records past the column cap are dead-lettered, one record past the field cap too', async () => {
    const records = Array.from({ length: 3000 }, (_, i) => ok(i, `{"f${i}":${i}}`));
    const wide = `{${Array.from({ length: 40_000 }, (_, i) => `"g${i}":1`).join(',')}}`;
    records.push(ok(3000, wide));
    for (const format of TABLE_FORMATS) {
      const { result, letters } = await run({ FORMAT: format, FIELDS: 'value,offset' }, records);
      expect(result.written).toBe(Limits.maxInferredFields);
      expect(letters).toHaveLength(3001 - Limits.maxInferredFields);
      expect(letters.at(-1)?.reason).toBe(`value has 40000 fields, over ${Limits.maxInferredFields} columns (use AVRO_SCHEMA, or VALUE_ENCODING=text)`);
    }
  });

  it('FILTER_REGEX runs on RE2: catastrophic patterns finish in linear time, and RE2-only syntax is a configuration error', async () => {
    const hostile = 'a'.repeat(100_000) + 'b';
    const { result } = await run({ FORMAT: 'jsonl', VALUE_ENCODING: 'text', FILTER_REGEX: '^(a+)+$' }, [ok(0, hostile), ok(1, 'aaa')]);
    expect([result.filtered, result.written]).toEqual([1, 1]);
    const quadratic = await run({ FORMAT: 'jsonl', FILTER_REGEX: '.*"level":"error".*' }, [ok(0, `{"m":"${'x'.repeat(300_000)}"}`), ok(1, '{"level":"error"}')]);
    expect([quadratic.result.filtered, quadratic.result.written]).toEqual([1, 1]);
    expect(() => loadSinkConfig({ BUCKET_NAME: 'bkt', FILTER_REGEX: '(?<=a)b' })).toThrow("FILTER_REGEX='(?<=a)b': not a valid RE2 regular expression");
  });

  it('the key-template cache of a warm container is bounded by size, not by entries', () => {
    for (let i = 0; i < 50_000; i++) safeKeyValue(`${'k'.repeat(200)}${i}`);
    expect(safeKeyCacheChars()).toBeLessThan(3 * 1024 * 1024);
    expect(safeKeyValue('x'.repeat(1_000_000))).toMatch(/^x{96}~[0-9a-f]{16}$/);
  });

  it('{{value.<field>}} on deeply nested values is a dead letter, not a stack overflow (jsonl too)', async () => {
    const deep = `${'{"a":'.repeat(4000)}1${'}'.repeat(4000)}`;
    const { result, letters } = await run({ FORMAT: 'jsonl', KEY_TEMPLATE: '{{topic}}/{{value.a}}/{{partition}}+{{start_offset}}' }, [ok(0, deep), ok(1)]);
    expect(letters.map((l) => l.offset)).toEqual(['0']);
    expect(result.written).toBe(1);
  });
});

describe('keys from data', () => {
  it('with {{key}}, a null key and the key "_null" (and "_empty") land under different prefixes', async () => {
    const template = '{{topic}}/{{key}}/{{partition}}+{{start_offset}}';
    const { bucket } = await run({ FORMAT: 'jsonl', KEY_TEMPLATE: template }, [
      { offset: 0, key: null, value: '1' }, { offset: 1, key: '_null', value: '2' }, { offset: 2, key: '', value: '3' }, { offset: 3, key: '_empty', value: '4' },
    ]);
    expect(bucket.keys('topics/').map((k) => k.split('/')[2])).toEqual(['%5Fempty', '%5Fnull', '_empty', '_null'].sort());
  });
});

describe('second line of defence: an encoder that still throws costs only the records that make it throw', () => {
  it('bisects the object, dead-letters the culprits with the error, writes the rest and counts the fallback', async () => {
    const cfg = loadSinkConfig({ BUCKET_NAME: 'bkt', FORMAT: 'jsonl', COMPRESSION: 'none', FIELDS: 'value,offset' });
    const bucket = new MemoryBucket();
    const poisoned: typeof encodeObject = (c, records) => {
      if (records.some((r) => r.record.value?.includes('poison'))) throw new RangeError('Maximum call stack size exceeded');
      return encodeObject(c, records);
    };
    const pipeline = new SinkPipeline(cfg, bucket as never, Date.now, poisoned);
    const values = ['{"a":1}', '{"p":"poison"}', '{"a":2}', '{"a":3}', '{"p":"poison"}', '{"a":4}'];

    const result = await pipeline.handle(kafkaEvent(values.map((value, offset) => ({ offset, value }))));

    expect(result.encodeFallbacks).toBe(1);
    expect([result.written, result.deadLettered]).toEqual([4, 2]);
    expect(reasons(bucket.deadLetters())).toEqual([
      [1, 'encode', 'unexpected RangeError: Maximum call stack size exceeded'],
      [4, 'encode', 'unexpected RangeError: Maximum call stack size exceeded'],
    ]);
    expect(bucket.text().trim().split('\n').map((l) => JSON.parse(l).offset)).toEqual([0, 2, 3, 5]);
  });

  it('an error no per-record check foresaw sets aside its record and is counted, never failing the batch', async () => {
    const cfg = loadSinkConfig({ BUCKET_NAME: 'bkt', FORMAT: 'jsonl', COMPRESSION: 'none', KEY_TEMPLATE: '{{topic}}/{{value.a}}/{{partition}}+{{start_offset}}' });
    const bucket = new MemoryBucket();
    const pipeline = new SinkPipeline(cfg, bucket as never);
    // A value whose field text cannot be computed: a getter that throws stands in for any unforeseen error.
    const original = JSON.parse;
    const result = await (async () => {
      JSON.parse = ((text: string, reviver?: never) => {
        const v = original(text, reviver) as Record<string, unknown>;
        if (v && typeof v === 'object' && 'boom' in v) Object.defineProperty(v, 'a', { get: () => { throw new TypeError('unforeseen'); }, enumerable: true });
        return v;
      }) as typeof JSON.parse;
      try {
        return await pipeline.handle(kafkaEvent([ok(0, '{"a":"x"}'), ok(1, '{"boom":1}'), ok(2, '{"a":"y"}')]));
      } finally {
        JSON.parse = original;
      }
    })();
    expect(result.unexpectedRecordErrors).toBe(1);
    expect(reasons(bucket.deadLetters())).toEqual([[1, 'partition', 'unexpected TypeError: unforeseen']]);
    expect(result.written).toBe(2);
  });
});
