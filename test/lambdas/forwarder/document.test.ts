import { describe, expect, it } from 'vitest';
import { loadForwarderConfig, type ForwarderConfig } from '../../../lambdas/forwarder/config.ts';
import { chunkEntries, KinesisLimits, toDocument, toEntry } from '../../../lambdas/forwarder/document.ts';
import { partitionKeyFor } from '../../../lambdas/forwarder/partition-key.ts';
import { forwarderConvertSettings, forwarderPlan } from '../../../lambdas/forwarder/plan.ts';
import { convertRecord, type SinkRecord } from '../../../lambdas/shared/convert.ts';
import type { KafkaRecord } from '../../../lambdas/shared/decode.ts';
import { RecordError } from '../../../lambdas/shared/errors.ts';

const BASE = { STREAM_NAME: 'orders-stream', ERROR_BUCKET: 'forwarder-errors' };
const cfgOf = (env: Record<string, string> = {}): ForwarderConfig => loadForwarderConfig({ ...BASE, ...env });

const TS = 1_767_225_600_123; // 2026-01-01T00:00:00.123Z

function rec(over: { key?: Buffer | string | null; value?: Buffer | string | null; headers?: [string, Buffer | string][]; offset?: bigint; topic?: string; partition?: number } = {}): KafkaRecord {
  const buf = (v: Buffer | string | null | undefined, dflt: Buffer | null) =>
    v === undefined ? dflt : v === null ? null : typeof v === 'string' ? Buffer.from(v, 'utf8') : v;
  return {
    topic: over.topic ?? 'orders',
    partition: over.partition ?? 3,
    offset: over.offset ?? 42n,
    timestamp: TS,
    timestampType: 'CREATE_TIME',
    key: buf(over.key, Buffer.from('order-1')),
    value: buf(over.value, Buffer.from('{"status":"paid"}')),
    headers: (over.headers ?? []).map(([key, v]) => ({ key, value: typeof v === 'string' ? Buffer.from(v) : v })),
  };
}

/** Converts a Kafka record with the plan of forwardBatch (lambdas/forwarder/app.ts). */
function convert(cfg: ForwarderConfig, r: KafkaRecord): SinkRecord {
  return convertRecord(forwarderConvertSettings(cfg), forwarderPlan(cfg), r);
}

/** The Kinesis record data of a Kafka record, as text. */
const dataText = (cfg: ForwarderConfig, r: KafkaRecord): string => toEntry(cfg, convert(cfg, r)).data.toString('utf8');

/** Runs `fn` and returns the RecordError it throws (fails the test if it does not throw one). */
function recordError(fn: () => unknown): RecordError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(RecordError);
    return err as RecordError;
  }
  throw new Error('no RecordError thrown');
}

describe('toDocument / toEntry: JSON object values', () => {
  it('makes the value fields top-level fields, followed by the metadata as _kafka_* fields', () => {
    // Prepare
    const cfg = cfgOf();
    const r = rec({ value: '{"order_id":"ord-1","amount":19.99,"items":[{"sku":"a-1","qty":2}],"note":null}', headers: [['trace', 't-1'], ['trace', 't-2']] });

    // Act
    const text = dataText(cfg, r);

    // Assess
    expect(text).toBe(
      '{"order_id":"ord-1","amount":19.99,"items":[{"sku":"a-1","qty":2}],"note":null,'
        + '"_kafka_key":"order-1",'
        + '"_kafka_headers":"[{\\"key\\":\\"trace\\",\\"value\\":\\"t-1\\"},{\\"key\\":\\"trace\\",\\"value\\":\\"t-2\\"}]",'
        + '"_kafka_topic":"orders","_kafka_partition":3,"_kafka_offset":42,"_kafka_timestamp":1767225600123000}',
    );
  });

  it('returns the same document as an object', () => {
    // Prepare
    const cfg = cfgOf();
    const r = convert(cfg, rec({ key: null, value: '{"status":"paid","n":1}' }));

    // Act
    const doc = toDocument(cfg, r);

    // Assess
    expect(doc).toEqual({
      status: 'paid', n: 1, _kafka_key: null, _kafka_headers: '[]', _kafka_topic: 'orders', _kafka_partition: 3, _kafka_offset: 42n, _kafka_timestamp: 1_767_225_600_123_000,
    });
  });

  it('writes an offset beyond 2^53 exactly, and integer value fields beyond 2^53 too', () => {
    // Prepare
    const cfg = cfgOf({ FIELDS: 'offset' });
    const r = rec({ offset: 9_223_372_036_854_775_807n, value: '{"id":9007199254740993,"small":9007199254740991}' });

    // Act
    const text = dataText(cfg, r);

    // Assess
    expect(text).toContain('"_kafka_offset":9223372036854775807');
    expect(text).toBe('{"id":9007199254740993,"small":9007199254740991,"_kafka_offset":9223372036854775807}');
  });

  it('adds the metadata fields of FIELDS only, in the order FIELDS names them', () => {
    // Prepare
    const cfg = cfgOf({ FIELDS: 'timestamp,partition,topic' });

    // Act
    const text = dataText(cfg, rec());

    // Assess
    expect(text).toBe('{"status":"paid","_kafka_timestamp":1767225600123000,"_kafka_partition":3,"_kafka_topic":"orders"}');
  });

  it('writes a pretty-printed value as one line', () => {
    // Prepare
    const cfg = cfgOf({ FIELDS: 'topic' });

    // Act
    const text = dataText(cfg, rec({ value: '{\n  "status": "paid",\n  "lines": [\n    1,\n    2\n  ]\n}\n' }));

    // Assess
    expect(text).toBe('{"status":"paid","lines":[1,2],"_kafka_topic":"orders"}');
  });

  it('keeps a value field named __proto__ as a field', () => {
    // Prepare
    const cfg = cfgOf({ FIELDS: 'topic' });

    // Act
    const text = dataText(cfg, rec({ value: '{"__proto__":{"admin":true},"status":"paid"}' }));

    // Assess
    expect(text).toBe('{"__proto__":{"admin":true},"status":"paid","_kafka_topic":"orders"}');
  });

  it('rejects a value field starting with _kafka_ as a RecordError of stage schema', () => {
    // Prepare
    const cfg = cfgOf();
    const r = convert(cfg, rec({ value: '{"status":"paid","_kafka_offset":7}' }));

    // Act
    const err = recordError(() => toEntry(cfg, r));

    // Assess
    expect(err.stage).toBe('schema');
    expect(err.message).toBe('value field "_kafka_offset" uses the prefix "_kafka_" (in any letter case) reserved for Kafka metadata columns');
  });

  it.each(['_KAFKA_offset', '_Kafka_topic', '_kAfKa_note'])('rejects %s too: case-insensitive engines would read it as a metadata column', (name) => {
    // Prepare
    const cfg = cfgOf({ FIELDS: 'topic' });
    const r = convert(cfg, rec({ value: `{"status":"paid","${name}":5}` }));

    // Act
    const err = recordError(() => toEntry(cfg, r));

    // Assess
    expect(err.stage).toBe('schema');
    expect(err.message).toBe(`value field "${name}" uses the prefix "_kafka_" (in any letter case) reserved for Kafka metadata columns`);
  });

  it('allows _kafka_ below the top level, and names that only contain it', () => {
    // Prepare
    const cfg = cfgOf({ FIELDS: 'topic' });

    // Act
    const text = dataText(cfg, rec({ value: '{"inner":{"_kafka_topic":"x"},"note_kafka_":1,"_kafka":2}' }));

    // Assess
    expect(text).toBe('{"inner":{"_kafka_topic":"x"},"note_kafka_":1,"_kafka":2,"_kafka_topic":"orders"}');
  });
});

describe('toDocument / toEntry: other values go to _kafka_value', () => {
  const others = [
    ['an array', '[1,2,{"a":"b"}]'],
    ['a string', '"paid"'],
    ['a number', '19.99'],
    ['a boolean', 'true'],
    ['null', 'null'],
    ['an integer beyond 2^53', '12345678901234567890'],
  ];

  it.each(others)('a JSON value that is %s is a dead letter when the table columns are the value fields', (_what, value) => {
    const cfg = cfgOf({ FIELDS: 'topic' });
    expect(() => dataText(cfg, rec({ value }))).toThrow(/^value is not a JSON object \(got /);
  });

  it.each(others)('a JSON value that is %s is kept whole as text with VALUE_LAYOUT=single', (_what, value) => {
    // Prepare
    const cfg = cfgOf({ FIELDS: 'topic', VALUE_LAYOUT: 'single' });

    // Act
    const text = dataText(cfg, rec({ value }));

    // Assess
    expect(text).toBe(`{"_kafka_value":${JSON.stringify(value)},"_kafka_topic":"orders"}`);
  });

  it('VALUE_ENCODING=text: the value as a string, even when it is a JSON object', () => {
    // Prepare
    const cfg = cfgOf({ VALUE_ENCODING: 'text', FIELDS: 'topic' });

    // Act
    const texts = ['{"status":"paid"}', 'plain text, not JSON'].map((value) => dataText(cfg, rec({ value })));

    // Assess
    expect(texts).toEqual([
      '{"_kafka_value":"{\\"status\\":\\"paid\\"}","_kafka_topic":"orders"}',
      '{"_kafka_value":"plain text, not JSON","_kafka_topic":"orders"}',
    ]);
  });

  it('VALUE_ENCODING=base64: the raw bytes as base64', () => {
    // Prepare
    const cfg = cfgOf({ VALUE_ENCODING: 'base64', FIELDS: 'topic' });

    // Act
    const text = dataText(cfg, rec({ value: Buffer.from([0x00, 0xff, 0x10, 0x7b]) }));

    // Assess
    expect(text).toBe('{"_kafka_value":"AP8Qew==","_kafka_topic":"orders"}');
  });

  it('VALUE_LAYOUT=single: a JSON object value as one-line text, _kafka_ fields in it allowed', () => {
    // Prepare
    const cfg = cfgOf({ VALUE_LAYOUT: 'single', FIELDS: 'topic' });

    // Act
    const text = dataText(cfg, rec({ value: '{\n  "status": "paid",\n  "_kafka_offset": 7\n}' }));

    // Assess
    expect(text).toBe('{"_kafka_value":"{\\"status\\": \\"paid\\",\\"_kafka_offset\\": 7}","_kafka_topic":"orders"}');
  });

  it('KEY_ENCODING and HEADER_ENCODING base64: key and header values as base64', () => {
    // Prepare
    const cfg = cfgOf({ KEY_ENCODING: 'base64', HEADER_ENCODING: 'base64', FIELDS: 'key,headers' });
    const r = rec({ key: Buffer.from([0xde, 0xad, 0xff]), headers: [['sig', Buffer.from([0xff])]] });

    // Act
    const entry = toEntry(cfg, convert(cfg, r));

    // Assess
    expect(entry.data.toString('utf8')).toBe('{"status":"paid","_kafka_key":"3q3/","_kafka_headers":"[{\\"key\\":\\"sig\\",\\"value\\":\\"/w==\\"}]"}');
    // The partition key comes from the raw bytes, whatever KEY_ENCODING says: base64 for a key that is not UTF-8.
    expect(entry.partitionKey).toBe('3q3/');
  });
});

describe('toDocument / toEntry: tombstones (TOMBSTONES=write)', () => {
  it.each([
    ['VALUE_ENCODING=json', { VALUE_ENCODING: 'json' }],
    ['VALUE_ENCODING=text', { VALUE_ENCODING: 'text' }],
    ['VALUE_ENCODING=base64', { VALUE_ENCODING: 'base64' }],
    ['VALUE_LAYOUT=single', { VALUE_LAYOUT: 'single' }],
  ])('writes metadata only, no value fields (%s)', (_name, env) => {
    // Prepare
    const cfg = cfgOf({ TOMBSTONES: 'write', ...env });

    // Act
    const text = dataText(cfg, rec({ value: null }));

    // Assess
    expect(text).toBe(
      '{"_kafka_key":"order-1","_kafka_headers":"[]","_kafka_topic":"orders","_kafka_partition":3,"_kafka_offset":42,"_kafka_timestamp":1767225600123000}',
    );
  });
});

describe('partitionKeyFor', () => {
  const LONG = 'k'.repeat(300);

  it.each([
    ['the Kafka key', 'key', 'order-1', 'order-1'],
    ['topic-partition for a record without a key', 'key', null, 'orders-3'],
    ['topic-partition for an empty key', 'key', '', 'orders-3'],
    ['topic-partition when PARTITION_KEY=topic-partition', 'topic-partition', 'order-1', 'orders-3'],
    ['a key of exactly 256 characters as it is', 'key', 'k'.repeat(256), 'k'.repeat(256)],
    ['a longer key as its first 200 characters and a hash', 'key', LONG, `${'k'.repeat(200)}~17b16d8ef494060fefa36a6a41567b8c32d213a1`],
  ] as const)('%s', (_name, partitionKey, key, expected) => {
    // Prepare
    const cfg = cfgOf({ PARTITION_KEY: partitionKey });

    // Act
    const pk = partitionKeyFor(cfg, rec({ key }));

    // Assess
    expect(pk).toBe(expected);
    expect(pk.length).toBeLessThanOrEqual(KinesisLimits.maxPartitionKeyChars);
  });

  it('hashes a long key deterministically, and distinct long keys to distinct partition keys', () => {
    // Prepare
    const cfg = cfgOf();
    const prefix = 'customer/'.repeat(30); // 270 characters: the two keys share their first 200
    const a = convert(cfg, rec({ key: `${prefix}0001` }));
    const b = convert(cfg, rec({ key: `${prefix}0002` }));

    // Act
    const keys = [partitionKeyFor(cfg, a.record), partitionKeyFor(cfg, a.record), partitionKeyFor(cfg, b.record)];

    // Assess
    expect(keys[0]).toBe(keys[1]);
    expect(keys[0]).not.toBe(keys[2]);
    expect(keys.map((k) => k.length)).toEqual([241, 241, 241]);
    expect(keys.map((k) => k.slice(0, 201))).toEqual(Array(3).fill(`${prefix.slice(0, 200)}~`));
  });

  it('hashes a topic-partition longer than 256 characters too', () => {
    // Prepare
    const cfg = cfgOf({ PARTITION_KEY: 'topic-partition' });
    const topic = 't'.repeat(249); // the longest Kafka topic name

    // Act
    const pk = partitionKeyFor(cfg, rec({ topic, partition: 12345678 }));

    // Assess
    expect(pk).toMatch(/^t{200}~[0-9a-f]{40}$/);
  });

  it('is the partition key of the entry', () => {
    // Prepare
    const cfg = cfgOf();

    // Act
    const entries = [rec({ key: 'order-7' }), rec({ key: null, partition: 5 })].map((r) => toEntry(cfg, convert(cfg, r)));

    // Assess
    expect(entries.map((e) => e.partitionKey)).toEqual(['order-7', 'orders-5']);
  });
});

describe('toEntry: the 1 MiB Kinesis record limit counts data and partition key', () => {
  // With FIELDS=topic the key is only in the partition key: {"pad":"<n>","_kafka_topic":"orders"} is n + 34 bytes.
  const cfg = cfgOf({ FIELDS: 'topic' });
  const padded = (n: number, key: string) => rec({ key, value: `{"pad":"${'x'.repeat(n)}"}` });
  const AT_LIMIT = 1024 * 1024 - 34 - 'order-1'.length; // 1,048,535

  it('accepts a record of exactly 1 MiB', () => {
    // Prepare
    const r = convert(cfg, padded(AT_LIMIT, 'order-1'));

    // Act
    const entry = toEntry(cfg, r);

    // Assess
    expect(entry.data.length).toBe(1_048_569);
    expect(entry.partitionKey).toBe('order-1');
    expect(entry.data.length + Buffer.byteLength(entry.partitionKey)).toBe(KinesisLimits.maxRecordBytes);
  });

  it.each([
    ['one more byte of data', AT_LIMIT + 1, 'order-1'],
    ['one more byte of partition key', AT_LIMIT, 'order-10'],
    ['a two-byte character in the partition key', AT_LIMIT, 'ordér-1'],
  ])('rejects %s as a RecordError of stage limit', (_name, n, key) => {
    // Prepare
    const r = convert(cfg, padded(n, key));

    // Act
    const err = recordError(() => toEntry(cfg, r));

    // Assess
    expect(err.stage).toBe('limit');
    expect(err.message).toBe('Kinesis record is 1048577 bytes (data + partition key), over the 1 MiB limit');
  });
});

describe('chunkEntries', () => {
  /** An entry of `bytes` bytes in all: a one-character partition key and bytes - 1 bytes of data. */
  const entry = (bytes: number, id = 0) => ({ data: Buffer.alloc(bytes - 1, id % 256), partitionKey: 'k', id });
  const MiB = 1024 * 1024;

  it('uses the Kinesis PutRecords limits', () => {
    // Prepare
    const expected = { maxRecordBytes: MiB, maxPartitionKeyChars: 256, maxRecordsPerCall: 500, maxBytesPerCall: 5 * MiB };

    // Act
    const limits = { ...KinesisLimits };

    // Assess
    expect(limits).toEqual(expected);
  });

  it.each([
    [0, []],
    [1, [1]],
    [500, [500]],
    [501, [500, 1]],
    [1000, [500, 500]],
    [1234, [500, 500, 234]],
  ])('cuts %i small entries into chunks of at most 500: %j', (n, sizes) => {
    // Prepare
    const entries = Array.from({ length: n }, (_, i) => entry(100, i));

    // Act
    const chunks = chunkEntries(entries);

    // Assess
    expect(chunks.map((c) => c.length)).toEqual(sizes);
    expect(chunks.flat().map((e) => e.id)).toEqual(entries.map((e) => e.id));
  });

  it('puts exactly 5 MiB in one chunk', () => {
    // Prepare
    const entries = Array.from({ length: 5 }, (_, i) => entry(MiB, i));

    // Act
    const chunks = chunkEntries([...entries, entry(2, 5)]);

    // Assess
    expect(chunks.map((c) => c.map((e) => e.id))).toEqual([[0, 1, 2, 3, 4], [5]]);
    expect(chunks[0].reduce((n, e) => n + e.data.length + Buffer.byteLength(e.partitionKey), 0)).toBe(5 * MiB);
  });

  it('starts a new chunk when one more byte would exceed 5 MiB', () => {
    // Prepare
    const entries = [entry(MiB, 0), entry(MiB, 1), entry(MiB, 2), entry(MiB, 3), entry(MiB + 1, 4)];

    // Act
    const chunks = chunkEntries(entries);

    // Assess
    expect(chunks.map((c) => c.map((e) => e.id))).toEqual([[0, 1, 2, 3], [4]]);
  });

  it('counts partition keys in bytes of UTF-8', () => {
    // Prepare: 5 entries of 1 MiB with a one-character partition key of two bytes are one byte each over.
    const entries = Array.from({ length: 5 }, (_, i) => ({ data: Buffer.alloc(MiB - 1), partitionKey: 'é', id: i }));

    // Act
    const chunks = chunkEntries(entries);

    // Assess
    expect(chunks.map((c) => c.map((e) => e.id))).toEqual([[0, 1, 2, 3], [4]]);
  });

  it('gives an entry that alone fills 5 MiB a chunk of its own', () => {
    // Prepare
    const entries = [entry(10, 0), entry(5 * MiB, 1), entry(10, 2), entry(10, 3)];

    // Act
    const chunks = chunkEntries(entries);

    // Assess
    expect(chunks.map((c) => c.map((e) => e.id))).toEqual([[0], [1], [2, 3]]);
  });

  it('never returns an empty chunk, even for an entry over 5 MiB first', () => {
    // Prepare
    const entries = [entry(5 * MiB + 1, 0), entry(10, 1)];

    // Act
    const chunks = chunkEntries(entries);

    // Assess
    expect(chunks.map((c) => c.map((e) => e.id))).toEqual([[0], [1]]);
  });

  it.each([
    ['the record count', 10_485, [500, 100]], // 500 × 10,485 = 5,242,500 bytes: within 5 MiB
    ['the bytes', 10_486, [499, 101]], // 500 × 10,486 = 5,243,000 bytes: over 5 MiB (5,242,880)
  ])('cuts at whichever limit comes first: here %s', (_name, bytes, sizes) => {
    // Prepare
    const entries = Array.from({ length: 600 }, (_, i) => entry(bytes, i));

    // Act
    const chunks = chunkEntries(entries);

    // Assess
    expect(chunks.map((c) => c.length)).toEqual(sizes);
  });
});
