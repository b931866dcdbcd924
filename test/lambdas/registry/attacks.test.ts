/**
 * Registry decoding under attack (what an adversarial review found, each kept as a test): schemas and payloads that
 * cost time or memory without bytes, values readers would refuse, shapes Parquet cannot nest, producers naming random
 * schemas. Every case must end as a dead letter with its reason or a readable file — never a failed batch, a hang,
 * or a record set aside by the encoder's second line of defence (EncodeFallbacks).
 */
import avro from 'avsc';
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { loadSinkConfig } from '../../../lambdas/shared/config.ts';
import { SinkPipeline } from '../../../lambdas/shared/pipeline.ts';
import { MAX_NEW_SCHEMAS, RegistryDecoder } from '../../../lambdas/shared/registry/index.ts';
import type { RawSchema } from '../../../lambdas/shared/registry/client.ts';
import { kafkaEvent, type RecordSpec } from '../../support/events.ts';
import { MemoryBucket } from '../../support/memory-bucket.ts';
import { avroType, confluent, MapFetcher } from '../../support/schema-fetcher.ts';

const avroSchema = (id: string, s: unknown): [string, RawSchema] => [id, { type: 'AVRO', text: JSON.stringify(s), references: [] }];

async function run(format: string, schemas: Map<string, RawSchema>, records: RecordSpec[], env: Record<string, string> = {}) {
  const bucket = new MemoryBucket();
  const cfg = loadSinkConfig({ BUCKET_NAME: 'bkt', FORMAT: format, SCHEMA_REGISTRY: 'http://127.0.0.1:1', FIELDS: 'value,offset', COMPRESSION: format === 'avro' ? 'null' : 'none', ...env });
  const pipeline = new SinkPipeline(cfg, bucket as never);
  const fetcher = new MapFetcher(schemas);
  pipeline.useRegistry(new RegistryDecoder(cfg.registry!, fetcher));
  const result = await pipeline.handle(kafkaEvent(records));
  expect([result.unexpectedRecordErrors, result.encodeFallbacks]).toEqual([0, 0]);
  return { result, bucket, fetcher, reasons: bucket.deadLetters().map((d) => String(d.reason)) };
}

describe('work bounded by the payload, not by the schema', () => {
  it('a schema that nests one record twice per level (2^levels values from 5 bytes) is a dead letter', async () => {
    const def = (i: number): unknown => (i === 24 ? { type: 'record', name: `L${i}`, fields: [] }
      : { type: 'record', name: `L${i}`, fields: [{ name: 'a', type: def(i + 1) }, { name: 'b', type: `L${i + 1}` }] });
    const { reasons } = await run('jsonl', new Map([avroSchema('9', def(0))]), [{ offset: 0, value: confluent(9, Buffer.alloc(0)) }]);
    expect(reasons).toEqual([expect.stringMatching(/more than 1000000 values beyond one per payload byte/)]);
  });

  it('a decimal of absurd precision makes the schema unreadable at once, not a quadratic decode per record', async () => {
    const s = { type: 'record', name: 'R', fields: [{ name: 'd', type: { type: 'bytes', logicalType: 'decimal', precision: 3_000_000, scale: 0 } }] };
    const big = Buffer.concat([Buffer.from([0x80, 0xb5, 0x18]), Buffer.alloc(200_000, 0x11)]);
    const { reasons } = await run('jsonl', new Map([avroSchema('1', s)]), [{ offset: 0, value: confluent(1, big) }]);
    expect(reasons).toEqual([expect.stringMatching(/decimal precision 3000000 is beyond 1000 digits/)]);
  });

  it('a JSON Schema of $refs that form a DAG maps in linear time; uniqueItems over a large array is linear', async () => {
    const defs: Record<string, unknown> = { d30: { type: 'object', properties: { v: { type: 'integer' } } } };
    for (let i = 29; i >= 0; i--) defs[`d${i}`] = { type: 'object', properties: { a: { $ref: `#/definitions/d${i + 1}` }, b: { $ref: `#/definitions/d${i + 1}` } } };
    const dag = { definitions: defs, type: 'object', properties: { root: { $ref: '#/definitions/d0' }, list: { type: 'array', uniqueItems: true, items: { type: 'object' } } } };
    const items = Array.from({ length: 50_000 }, (_, i) => ({ i, s: 'x' }));
    const value = confluent(3, Buffer.from(JSON.stringify({ root: {}, list: items })));
    const dup = confluent(3, Buffer.from(JSON.stringify({ list: [{ a: 1, b: 2 }, { b: 2, a: 1 }] })));
    const { result, reasons } = await run('parquet', new Map([['3', { type: 'JSON', text: JSON.stringify(dag), references: [] }]]), [{ offset: 0, value }, { offset: 1, value: dup }]);
    expect(result.written).toBe(1);
    expect(reasons).toEqual([expect.stringMatching(/value\/list must pass "uniqueItems" keyword validation/)]);
  });

  it('a JSON value nested deeper than the stack is a dead letter, in the sink and the forwarder alike', async () => {
    const s = { type: 'object', properties: { free: {} } };
    const deep = confluent(4, Buffer.from(`{"free":${'['.repeat(200_000)}${']'.repeat(200_000)}}`));
    for (const format of ['jsonl', 'parquet']) {
      const { reasons } = await run(format, new Map([['4', { type: 'JSON', text: JSON.stringify(s), references: [] }]]), [{ offset: 0, value: deep }]);
      expect(reasons).toEqual([expect.stringMatching(/nests too deep to be read|nested deeper than 128 levels/)]);
    }
  });

  it(`a producer naming random schema IDs costs at most ${MAX_NEW_SCHEMAS} registry requests per batch`, async () => {
    const records = Array.from({ length: 2000 }, (_, i) => ({ offset: i, value: confluent(100_000 + i, Buffer.from([0])) }));
    const { fetcher, reasons } = await run('jsonl', new Map(), records);
    expect(fetcher.calls).toHaveLength(MAX_NEW_SCHEMAS);
    expect(reasons.filter((r) => /more than 256 schemas new to this function in one batch/.test(r))).toHaveLength(2000 - MAX_NEW_SCHEMAS);
  });
});

describe('values readers hold, or dead letters', () => {
  it('decimals: sign-extended to a fixed\'s size are read; more digits than the precision are refused', async () => {
    const s = { type: 'record', name: 'R', fields: [{ name: 'amount', type: { type: 'fixed', name: 'F16', size: 16, logicalType: 'decimal', precision: 10, scale: 2 } }, { name: 'd', type: { type: 'bytes', logicalType: 'decimal', precision: 4, scale: 2 } }] };
    const fixed = (n: bigint) => Buffer.from(BigInt.asUintN(128, n).toString(16).padStart(32, '0'), 'hex');
    const t = avroType(s);
    const ok = confluent(5, t.toBuffer({ amount: fixed(-1234n), d: Buffer.from([0x04, 0xd2]) })); // -12.34, 12.34
    const tooMany = confluent(5, t.toBuffer({ amount: fixed(1n), d: Buffer.from([0x7f, 0xff]) })); // 32767: 5 digits in decimal(4, 2)
    const { bucket, reasons } = await run('jsonl', new Map([avroSchema('5', s)]), [{ offset: 0, value: ok }, { offset: 1, value: tooMany }]);
    expect(bucket.text()).toContain('"value":{"amount":-12.34,"d":12.34}');
    expect(reasons).toEqual([expect.stringMatching(/decimal\(4, 2\) holding 5 digits/)]);
  });

  it('a uuid that is not a UUID and a timestamp outside 0001–9999 are dead letters, not files readers refuse', async () => {
    const s = { type: 'record', name: 'R', fields: [{ name: 'u', type: { type: 'string', logicalType: 'uuid' } }, { name: 't', type: { type: 'long', logicalType: 'timestamp-millis' } }] };
    const t = avroType(s);
    const records = [
      { offset: 0, value: confluent(6, t.toBuffer({ u: '0f8fad5b-d9cb-469f-a165-70867728950e', t: 0 })) },
      { offset: 1, value: confluent(6, t.toBuffer({ u: 'not-a-uuid', t: 0 })) },
      { offset: 2, value: confluent(6, t.toBuffer({ u: '0f8fad5b-d9cb-469f-a165-70867728950e', t: 253_402_300_800_000 })) },
    ];
    for (const format of ['avro', 'parquet', 'jsonl']) {
      const { result, reasons } = await run(format, new Map([avroSchema('6', s)]), records);
      expect([format, result.written]).toEqual([format, 1]);
      expect(reasons).toEqual([expect.stringMatching(/a uuid "not-a-uuid" that is not a UUID/), expect.stringMatching(/timestamp-millis of 253402300800000, outside what readers hold/)]);
    }
  });

  it('a Protobuf Timestamp beyond 2262 is a dead letter in avro and parquet (nanosecond columns), written in jsonl', async () => {
    const text = 'syntax = "proto3"; import "google/protobuf/timestamp.proto"; message E { google.protobuf.Timestamp at = 1; }';
    const root = protobuf.parse(text, new protobuf.Root(), { keepCase: true }).root;
    root.addJSON(protobuf.common.get('google/protobuf/timestamp.proto')!.nested as never);
    root.resolveAll();
    const E = root.lookupType('E');
    const at = (seconds: number) => Buffer.concat([confluent(7, Buffer.from([0])), Buffer.from(E.encode(E.fromObject({ at: { seconds } })).finish())]);
    const schemas = new Map<string, RawSchema>([['7', { type: 'PROTOBUF', text, references: [] }]]);
    const records = [{ offset: 0, value: at(1_767_225_600) }, { offset: 1, value: at(32_503_680_000) }];
    for (const [format, written] of [['parquet', 1], ['avro', 1], ['jsonl', 2]] as const) {
      const { result, reasons } = await run(format, schemas, records);
      expect([format, result.written, reasons.length]).toEqual([format, written, 2 - written]);
    }
  });
});

describe('schema shapes every format writes', () => {
  it('unions with null second, a field of type null, empty records, a null-only union, fixed of no bytes, a field named __proto__', async () => {
    const s = {
      type: 'record', name: 'KafkaRecord', fields: [
        { name: 'name', type: ['string', 'null'] }, { name: 'nothing', type: 'null' }, { name: 'empty', type: { type: 'record', name: 'Empty', fields: [] } },
        { name: 'onlyNull', type: ['null'] }, { name: 'z', type: { type: 'fixed', name: 'Z', size: 0 } },
        { name: 'inner', type: { type: 'record', name: 'Inner', fields: [{ name: '__proto__', type: 'int' }] } },
      ],
    };
    const value = confluent(8, avroType(s).toBuffer({ name: { string: 'ann' }, nothing: null, empty: {}, onlyNull: null, z: Buffer.alloc(0), inner: JSON.parse('{"__proto__":5}') }));
    for (const format of ['avro', 'parquet', 'csv_with_headers', 'jsonl']) {
      const { result, bucket } = await run(format, new Map([avroSchema('8', s)]), [{ offset: 0, value }]);
      expect([format, result.written, result.deadLettered]).toEqual([format, 1, 0]);
      if (format === 'avro') {
        // avsc refuses a file whose schema gives a union a default of another branch, or names a type twice.
        const rows: unknown[] = [];
        await new Promise<void>((resolve, reject) => {
          const file = bucket.objects.get(bucket.keys('topics/')[0])!;
          const decoder = new avro.streams.BlockDecoder();
          decoder.on('data', (r) => rows.push(r)).on('end', resolve).on('error', reject);
          decoder.end(file);
        });
        expect(rows).toHaveLength(1);
      }
    }
  });

  it('JSON Schema values in csv keep their optional fields', async () => {
    const s = { type: 'object', required: ['id'], properties: { id: { type: 'integer' }, customer: { type: 'string' }, tags: { type: 'array', items: { type: 'string' } } } };
    const { bucket } = await run('csv_with_headers', new Map([['9', { type: 'JSON', text: JSON.stringify(s), references: [] }]]), [{ offset: 0, value: confluent(9, Buffer.from('{"id":7,"customer":"ann","tags":["a"]}')) }], { COMPRESSION: 'none' });
    expect(bucket.text().split('\r\n').slice(0, 2)).toEqual(['id,customer,tags,_kafka_offset', '7,ann,"[""a""]",0']);
  });

  it('a key\'s schema does not cut objects: tombstones and keys of several schemas stay in one object', async () => {
    const v = { type: 'record', name: 'V', fields: [{ name: 'x', type: 'int' }] };
    const k = { type: 'record', name: 'K', fields: [{ name: 'id', type: 'int' }] };
    const k2 = { type: 'record', name: 'K2', fields: [{ name: 'id', type: 'long' }] };
    const schemas = new Map([avroSchema('1', v), avroSchema('2', k), avroSchema('3', k2)]);
    const key = (id: string, n: number) => confluent(Number(id), avroType(id === '2' ? k : k2).toBuffer({ id: n }));
    const records = [0, 1, 2, 3].map((offset) => ({ offset, key: key(offset % 2 ? '3' : '2', offset), value: offset === 2 ? null : confluent(1, avroType(v).toBuffer({ x: offset })) }));
    const { result } = await run('jsonl', schemas, records, { SCHEMA_REGISTRY_ATTRIBUTES: 'key,value', TOMBSTONES: 'write', FIELDS: 'key,value,offset' });
    expect([result.written, result.objects]).toEqual([4, 1]);
  });
});

describe('JSON Schema, second review', () => {
  const json = (id: string, schema: unknown): [string, RawSchema] => [id, { type: 'JSON', text: JSON.stringify(schema), references: [] }];

  it('a oneOf that leads back to itself costs 2^depth: values nested past 16 levels under it are dead letters, at once', async () => {
    const s = { $defs: { n: { oneOf: [{ type: 'object', properties: { c: { $ref: '#/$defs/n' } } }, { type: 'object', properties: { c: { $ref: '#/$defs/n' } }, minProperties: 0 }] } }, $ref: '#/$defs/n' };
    const nest = (d: number): string => (d === 0 ? '{}' : `{"c":${nest(d - 1)}}`);
    const { reasons } = await run('jsonl', new Map([json('1', s)]), [{ offset: 0, value: confluent(1, Buffer.from(nest(40))) }]);
    expect(reasons).toEqual([expect.stringMatching(/nests deeper than 16 levels, the most a schema with oneOf\/anyOf is checked for/)]);
  });

  it('drafts and keywords as producers\' validators read them: draft-04, multipleOf 0.01, ECMA escapes in patterns, a large enum, tuples', async () => {
    const schemas = new Map([
      json('2', { $schema: 'http://json-schema.org/draft-04/schema#', type: 'object', properties: { n: { type: 'number', maximum: 10, exclusiveMaximum: true } } }),
      json('3', { type: 'object', properties: { price: { type: 'number', multipleOf: 0.01 }, s: { type: 'string', pattern: '^[^\\u0000-\\u001F]*$' } } }),
      json('4', { type: 'object', properties: { e: { enum: Array.from({ length: 100_000 }, (_, i) => `s${i}`) } } }),
      json('5', { $schema: 'https://json-schema.org/draft/2020-12/schema', type: 'object', properties: { t: { type: 'array', prefixItems: [{ type: 'string' }], items: { type: 'integer' } } } }),
    ]);
    const records = [
      { offset: 0, value: confluent(2, Buffer.from('{"n":9.5}')) }, { offset: 1, value: confluent(2, Buffer.from('{"n":10}')) },
      { offset: 2, value: confluent(3, Buffer.from('{"price":19.99,"s":"ok"}')) }, { offset: 3, value: confluent(3, Buffer.from('{"price":0.07,"s":"tab\\there"}')) },
      { offset: 4, value: confluent(4, Buffer.from('{"e":"s99999"}')) },
      { offset: 5, value: confluent(5, Buffer.from('{"t":["a",1,2]}')) },
    ];
    for (const format of ['jsonl', 'parquet']) {
      const { result, reasons } = await run(format, schemas, records);
      expect([format, result.written]).toEqual([format, 4]);
      expect(reasons).toEqual([expect.stringMatching(/value\/n must be < 10/), expect.stringMatching(/value\/s must match pattern/)]);
    }
  });

  it('jsonl keeps what its schema allows even where a column could not (digits past a double, offsets without a colon); columns say why', async () => {
    const s = { type: 'object', properties: { x: { type: 'number' }, at: { type: 'string', format: 'date-time' }, d: { type: 'string', format: 'date' } } };
    const records = [
      { offset: 0, value: confluent(6, Buffer.from('{"x":0.12345678901234567890,"at":"2024-01-01T00:00:00+0100"}')) },
      { offset: 1, value: confluent(6, Buffer.from('{"x":1,"at":"2024-01-01T00:00:00+01"}')) },
      { offset: 2, value: confluent(6, Buffer.from('{"d":"0000-01-01"}')) },
    ];
    const jsonl = await run('jsonl', new Map([json('6', s)]), records);
    expect([jsonl.result.written, jsonl.reasons]).toEqual([3, []]);
    const pq = await run('parquet', new Map([json('6', s)]), records);
    expect(pq.result.written).toBe(1);
    expect(pq.reasons).toEqual([expect.stringMatching(/value\.x 0\.12345678901234567890 is not exactly a double/), expect.stringMatching(/value\.d "0000-01-01" is not a date readers hold/)]);
  });
});
