/**
 * The registry's schema as the columns of avro, parquet and csv: values decoded by their Avro or Protobuf schema,
 * written through versitygw, read back by fastavro, pyarrow and Python's csv with the nested types the README's
 * mapping table promises (records, arrays, maps, enums, unions, decimal, timestamps, dates, UUID, exact longs).
 */
import protobuf from 'protobufjs';
import { expect, it } from 'vitest';
import { loadSinkConfig } from '../../lambdas/shared/config.ts';
import { SinkPipeline } from '../../lambdas/shared/pipeline.ts';
import { RegistryDecoder } from '../../lambdas/shared/registry/index.ts';
import type { RawSchema } from '../../lambdas/shared/registry/client.ts';
import { kafkaEvent } from '../support/events.ts';
import { MemoryBucket } from '../support/memory-bucket.ts';
import { readObject } from '../support/readers.ts';
import { describeS3 } from '../support/s3-context.ts';
import { avroType, confluent, MapFetcher, order, ORDER_V1 } from '../support/schema-fetcher.ts';
import { createBucket, s3ClientFor } from '../support/versitygw.ts';

const PROTO = `syntax = "proto3"; package shop; import "google/protobuf/timestamp.proto";
  message Order { int64 id = 1; optional string note = 2; Item item = 3; repeated Item items = 4; map<string, int64> tags = 5;
    oneof pay { string card = 6; int32 cash = 7; } google.protobuf.Timestamp at = 8; uint64 big = 9; Kind kind = 10; bytes raw = 11;
    message Item { string sku = 1; int32 qty = 2; } }
  enum Kind { KIND_UNKNOWN = 0; RETAIL = 5; }`;

/** Times, local timestamps, a union of several types and a recursive record; v2 adds a field (evolution). */
const MORE_V1 = {
  type: 'record', name: 'More', fields: [
    { name: 't_ms', type: { type: 'int', logicalType: 'time-millis' } },
    { name: 't_us', type: { type: 'long', logicalType: 'time-micros' } },
    { name: 'local', type: { type: 'long', logicalType: 'local-timestamp-millis' } },
    { name: 'u', type: ['null', 'string', 'long', { type: 'record', name: 'P', fields: [{ name: 'x', type: 'int' }] }] },
    { name: 'tree', type: { type: 'record', name: 'Node', fields: [{ name: 'v', type: 'int' }, { name: 'next', type: ['null', 'Node'] }] } },
  ],
};
const MORE_V2 = { ...MORE_V1, fields: [...MORE_V1.fields, { name: 'added', type: 'string', default: 'x' }] };
const more = (u: unknown) => ({ t_ms: 45_296_789, t_us: 45_296_789_012, local: 1_767_225_600_123, u, tree: { v: 1, next: { Node: { v: 2, next: null } } } });

const schemas = new Map<string, RawSchema>([
  ['7', { type: 'AVRO', text: JSON.stringify(ORDER_V1), references: [] }],
  ['3', { type: 'PROTOBUF', text: PROTO, references: [] }],
  ['11', { type: 'AVRO', text: JSON.stringify(MORE_V1), references: [] }],
  ['12', { type: 'AVRO', text: JSON.stringify(MORE_V2), references: [] }],
  ['20', { type: 'JSON', text: JSON.stringify({
    type: 'object', title: 'Event', required: ['id'],
    properties: {
      id: { type: 'integer' }, at: { type: 'string', format: 'date-time' }, day: { type: 'string', format: 'date' },
      where: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] }, tags: { type: 'array', items: { type: 'string' } },
      score: { type: ['number', 'null'] }, free: {},
    },
  }), references: [] }],
  ['21', { type: 'JSON', text: JSON.stringify({ type: 'object', properties: { 'a-b': { type: 'string' }, ok: { type: 'string' } } }), references: [] }],
]);

function protoValue(): Buffer {
  const root = protobuf.parse(PROTO, new protobuf.Root(), { keepCase: true }).root;
  root.addJSON(protobuf.common.get('google/protobuf/timestamp.proto')!.nested as never);
  root.resolveAll();
  const T = root.lookupType('shop.Order');
  const msg = T.fromObject({ id: '-9007199254740993', items: [{ sku: 'a', qty: 2 }], tags: { x: '12345678901234567' }, cash: 3, at: { seconds: 1767225600, nanos: 123456789 }, big: '18446744073709551615', kind: 5, raw: Buffer.from([1]) });
  return Buffer.concat([confluent(3, Buffer.from([0])), Buffer.from(T.encode(msg).finish())]);
}

type Doc = { rows: Record<string, unknown>[]; schema: unknown };

describeS3('registry schemas as columns, read back by fastavro, pyarrow and Python csv', (s3) => {
  const client = s3ClientFor(s3);

  async function write(format: string, compression: string, values: Buffer[]): Promise<{ bucket: string; keys: string[] }> {
    const bucket = `reg-cols-${format.replaceAll('_', '-')}-${values.length}`;
    await createBucket(s3, bucket);
    const cfg = loadSinkConfig({ BUCKET_NAME: bucket, FORMAT: format, COMPRESSION: compression, S3_ENDPOINT: s3.endpoint, SCHEMA_REGISTRY: 'http://127.0.0.1:1', FIELDS: 'value,offset' });
    const pipeline = new SinkPipeline(cfg, client);
    pipeline.useRegistry(new RegistryDecoder(cfg.registry!, new MapFetcher(schemas)));
    const r = await pipeline.handle(kafkaEvent(values.map((value, offset) => ({ offset, value }))));
    expect(r.deadLettered).toBe(0);
    return { bucket, keys: r.keys.filter((k) => k.startsWith('topics/')) };
  }

  const avroValues = () => [confluent(7, avroType(ORDER_V1).toBuffer(order)), protoValue()];

  it('avro: the registry\'s own types (nested records, enum, map, unions, logical types); Protobuf messages as records', async () => {
    const { bucket, keys } = await write('avro', 'null', avroValues());
    expect(keys).toHaveLength(2); // one object per schema
    const [a, p] = (await Promise.all(keys.map((k) => readObject(s3, bucket, k, 'avro')))) as Doc[];
    const fields = (a.schema as { fields: { name: string; type: unknown }[] }).fields;
    const typeOf = (n: string) => JSON.stringify(fields.find((f) => f.name === n)!.type);
    expect(typeOf('customer')).toBe('["null",{"type":"record","name":"com.acme.Customer","fields":[{"name":"name","type":"string"},{"name":"tier","type":{"type":"enum","name":"com.acme.Tier","symbols":["GOLD","SILVER"]}}]}]');
    expect(typeOf('ship')).toBe('["null","com.acme.Customer"]');
    expect(typeOf('price')).toContain('"logicalType":"decimal","precision":9,"scale":2');
    expect(a.rows[0]).toMatchObject({
      id: 2n ** 62n + 7n, customer: { name: 'Zoë "Z"\n', tier: 'SILVER' }, items: [{ sku: 'a', qty: 1 }, { sku: 'b', qty: -2 }],
      attrs: { x: 'y', 'a b': '' }, note: 'hi', ship: { name: 'S', tier: 'GOLD' }, price: '-1.23',
      at: '2026-01-01T00:00:00.123+00:00', at_us: '2026-01-01T00:00:00.123456+00:00', at_ns: '2026-01-01T00:00:00.123456789+00:00',
      day: '2026-01-01', ref: '0f8fad5b-d9cb-469f-a165-70867728950e', hash: 'AQIDBA==', ratio: 'NaN', f: 0.5, ok: true, raw: 'AP8=', _kafka_offset: 0,
    });
    expect(p.rows[0]).toMatchObject({
      id: -9007199254740993n, note: null, item: null, items: [{ sku: 'a', qty: 2 }], tags: { x: 12345678901234567n }, card: null, cash: 3,
      at: '2026-01-01T00:00:00.123456789+00:00', big: '18446744073709551615', kind: 'RETAIL', raw: 'AQ==', _kafka_offset: 1,
    });
  });

  it('parquet: groups, LIST, MAP, DECIMAL, TIMESTAMP and UINT_64 as pyarrow reads them', async () => {
    const { bucket, keys } = await write('parquet', 'zstd', avroValues());
    const [a, p] = (await Promise.all(keys.map((k) => readObject(s3, bucket, k, 'parquet')))) as Doc[];
    const types = (d: Doc) => Object.fromEntries((d.schema as { name: string; type: string }[]).map((f) => [f.name, f.type]));
    expect(types(a)).toMatchObject({
      id: 'int64', customer: 'struct<name: string not null, tier: string not null>',
      items: 'list<element: struct<sku: string not null, qty: int32 not null> not null>', attrs: "map<string, string ('attrs')>",
      note: 'string', ship: 'struct<name: string not null, tier: string not null>', price: 'decimal128(9, 2)',
      at: 'timestamp[ms, tz=UTC]', at_us: 'timestamp[us, tz=UTC]', at_ns: 'timestamp[ns, tz=UTC]', day: 'date32[day]', ref: 'string',
      hash: 'fixed_size_binary[4]', ratio: 'double', f: 'float', ok: 'bool', raw: 'binary', _kafka_offset: 'int64',
    });
    expect(a.rows[0]).toMatchObject({
      id: 2n ** 62n + 7n, customer: { name: 'Zoë "Z"\n', tier: 'SILVER' }, items: [{ sku: 'a', qty: 1 }, { sku: 'b', qty: -2 }],
      attrs: [['x', 'y'], ['a b', '']], note: 'hi', price: '-1.23', at_ns: '2026-01-01T00:00:00.123456789+00:00', day: '2026-01-01',
    });
    expect(types(p)).toMatchObject({ big: 'uint64', at: 'timestamp[ns, tz=UTC]', tags: "map<string, int64 ('tags')>", kind: 'string' });
    expect(p.rows[0]).toMatchObject({ id: -9007199254740993n, big: 18446744073709551615n, kind: 'RETAIL', cash: 3, card: null, tags: [['x', 12345678901234567n]] });
  });

  it('csv_with_headers: a column per field, nested values as their JSON text', async () => {
    const { bucket, keys } = await write('csv_with_headers', 'none', avroValues().slice(0, 1));
    const doc = (await readObject(s3, bucket, keys[0], 'csv_with_headers', 'none')) as { rows: string[][] };
    const [header, row] = doc.rows;
    const cell = (n: string) => row[header.indexOf(n)];
    expect(cell('id')).toBe(String(2n ** 62n + 7n));
    expect(JSON.parse(cell('customer'))).toEqual({ name: 'Zoë "Z"\n', tier: 'SILVER' });
    expect([cell('note'), cell('price'), cell('at'), cell('day'), cell('ratio')]).toEqual(['hi', '-1.23', '2026-01-01T00:00:00.123Z', '2026-01-01', 'NaN']);
  });

  it('times, local timestamps, a union of several types, recursion, and a new schema version as a new object with its new column', async () => {
    const values = [
      confluent(11, avroType(MORE_V1).toBuffer(more({ string: 's' }))), confluent(11, avroType(MORE_V1).toBuffer(more({ P: { x: 5 } }))),
      confluent(12, avroType(MORE_V2).toBuffer({ ...more({ long: 2n ** 60n }), added: 'y' })), confluent(12, avroType(MORE_V2).toBuffer({ ...more(null), added: 'z' })),
    ];
    for (const [format, compression] of [['parquet', 'zstd'], ['avro', 'deflate']] as const) {
      const { bucket, keys } = await write(format, compression, values);
      expect(keys).toHaveLength(2);
      const [v1, v2] = (await Promise.all(keys.map((k) => readObject(s3, bucket, k, format)))) as Doc[];
      expect(v1.rows.map((r) => 'added' in r)).toEqual([false, false]);
      expect(v2.rows.map((r) => r.added)).toEqual(['y', 'z']);
      if (format === 'parquet') {
        const types = Object.fromEntries((v1.schema as { name: string; type: string }[]).map((f) => [f.name, f.type]));
        expect(types).toMatchObject({
          t_ms: 'time32[ms]', t_us: 'time64[us]', local: 'timestamp[ms]', u: 'struct<member0: string, member1: int64, member2: struct<x: int32 not null>>',
          tree: 'struct<v: int32 not null, next: string>',
        });
        expect(v1.rows.map((r) => r.u)).toEqual([{ member0: 's', member1: null, member2: null }, { member0: null, member1: null, member2: { x: 5 } }]);
        expect(v2.rows.map((r) => r.u)).toEqual([{ member0: null, member1: 2n ** 60n, member2: null }, null]);
        expect(v1.rows[0]).toMatchObject({ t_ms: '12:34:56.789000', t_us: '12:34:56.789012', local: '2026-01-01T00:00:00.123', tree: { v: 1, next: '{"v":2,"next":null}' } });
      } else {
        expect(v1.rows.map((r) => r.u)).toEqual(['s', { x: 5 }]);
        expect(v2.rows.map((r) => r.u)).toEqual([2n ** 60n, null]);
        expect(v1.rows[0]).toMatchObject({ t_ms: '12:34:56.789000', t_us: '12:34:56.789012', local: '2026-01-01T00:00:00.123', tree: { v: 1, next: { v: 2, next: null } } });
      }
    }
  });

  it('JSON Schema values: the schema as columns (records, arrays, date-times, dates, JSON text for what has no type)', async () => {
    const value = confluent(20, Buffer.from('{"id":9223372036854775807,"at":"2026-01-01T01:00:00.5+01:00","day":"2026-01-02","where":{"city":"Bern"},"tags":["a","b"],"score":null,"free":{"x":[1,2]}}'));
    const { bucket, keys } = await write('parquet', 'snappy', [value]);
    const doc = (await readObject(s3, bucket, keys[0], 'parquet')) as Doc;
    const types = Object.fromEntries((doc.schema as { name: string; type: string }[]).map((f) => [f.name, f.type]));
    expect(types).toMatchObject({ id: 'int64', at: 'timestamp[us, tz=UTC]', day: 'date32[day]', where: 'struct<city: string not null>', tags: 'list<element: string not null>', score: 'double', free: 'string' });
    expect(doc.rows[0]).toMatchObject({ id: 9223372036854775807n, at: '2026-01-01T00:00:00.500000+00:00', day: '2026-01-02', where: { city: 'Bern' }, tags: ['a', 'b'], score: null, free: '{"x":[1,2]}' });
    const avro = await write('avro', 'snappy', [value]);
    const a = (await readObject(s3, avro.bucket, avro.keys[0], 'avro')) as Doc;
    expect(a.rows[0]).toMatchObject({ id: 9223372036854775807n, where: { city: 'Bern' }, tags: ['a', 'b'], free: '{"x":[1,2]}' });
  });

  it('a JSON Schema property Avro cannot name is a dead letter in avro, and a column in parquet', async () => {
    const value = confluent(21, Buffer.from('{"a-b":"x","ok":"y"}'));
    const bucket = 'reg-cols-avro-names';
    await createBucket(s3, bucket);
    for (const format of ['avro', 'parquet']) {
      const cfg = loadSinkConfig({ BUCKET_NAME: bucket, FORMAT: format, S3_ENDPOINT: s3.endpoint, SCHEMA_REGISTRY: 'http://127.0.0.1:1', PREFIX: `${format}/`, ERROR_PREFIX: `dl-${format}/`, STATE_PREFIX: `cp-${format}/` });
      const pipeline = new SinkPipeline(cfg, client);
      pipeline.useRegistry(new RegistryDecoder(cfg.registry!, new MapFetcher(schemas)));
      const r = await pipeline.handle(kafkaEvent([{ offset: 0, value }]));
      expect([format, r.written, r.deadLettered, r.encodeFallbacks]).toEqual(format === 'avro' ? ['avro', 0, 1, 0] : ['parquet', 1, 0, 0]);
    }
  });

  it('second review: decimals of 0, null in unions of several types (field, array item, map value), JSON Schema records of one name, 32-bit floats', async () => {
    const s1 = {
      type: 'record', name: 'Z', fields: [
        { name: 'd9', type: { type: 'bytes', logicalType: 'decimal', precision: 9, scale: 2 } },
        { name: 'd39', type: { type: 'bytes', logicalType: 'decimal', precision: 39, scale: 2 } },
        { name: 'u', type: ['null', 'int', 'string'] },
        { name: 'list', type: { type: 'array', items: ['null', 'int', 'string'] } },
        { name: 'm', type: { type: 'map', values: ['null', 'int', 'string'] } },
        { name: 'f', type: 'float' },
      ],
    };
    const js = { type: 'object', properties: { x: { type: 'object', properties: { y: { type: 'object', properties: { a: { type: 'string' } } } } }, x_y: { type: 'object', properties: { b: { type: 'integer' } } } } };
    const local = new Map<string, RawSchema>([...schemas, ['30', { type: 'AVRO', text: JSON.stringify(s1), references: [] }], ['31', { type: 'JSON', text: JSON.stringify(js), references: [] }]]);
    const v1 = confluent(30, avroType(s1).toBuffer({ d9: Buffer.from([0]), d39: Buffer.alloc(0), u: null, list: [null, { int: 1 }, { string: 's' }], m: { a: null, b: { string: 't' } }, f: 0.1 }));
    const v2 = confluent(31, Buffer.from('{"x":{"y":{"a":"A"}},"x_y":{"b":7}}'));
    const run = async (format: string, value: Buffer) => {
      const bucket = `reg-cols-2nd-${format.replaceAll('_', '-')}-${value[4]}`;
      await createBucket(s3, bucket);
      const cfg = loadSinkConfig({ BUCKET_NAME: bucket, FORMAT: format, S3_ENDPOINT: s3.endpoint, SCHEMA_REGISTRY: 'http://127.0.0.1:1', FIELDS: 'value' });
      const pipeline = new SinkPipeline(cfg, client);
      pipeline.useRegistry(new RegistryDecoder(cfg.registry!, new MapFetcher(local)));
      const r = await pipeline.handle(kafkaEvent([{ offset: 0, value }]));
      expect([format, r.written, r.encodeFallbacks]).toEqual([format, 1, 0]);
      return (await readObject(s3, bucket, r.keys.find((k) => k.startsWith('topics/'))!, format)) as Doc;
    };
    const pq = await run('parquet', v1);
    expect(pq.rows[0]).toMatchObject({ d9: '0.00', d39: '0.00', u: null, list: [null, { member0: 1, member1: null }, { member0: null, member1: 's' }], m: [['a', null], ['b', { member0: null, member1: 't' }]] });
    const av = await run('avro', v1);
    expect(av.rows[0]).toMatchObject({ d9: '0.00', d39: '0.00', u: null, list: [null, 1, 's'], m: { a: null, b: 't' } });
    const jsAvro = await run('avro', v2);
    expect(jsAvro.rows[0]).toMatchObject({ x: { y: { a: 'A' } }, x_y: { b: 7 } });
    const bucket = new MemoryBucket();
    const cfg = loadSinkConfig({ BUCKET_NAME: 'bkt', FORMAT: 'jsonl', COMPRESSION: 'none', SCHEMA_REGISTRY: 'http://127.0.0.1:1', FIELDS: 'value' });
    const p = new SinkPipeline(cfg, bucket as never);
    p.useRegistry(new RegistryDecoder(cfg.registry!, new MapFetcher(local)));
    await p.handle(kafkaEvent([{ offset: 0, value: v1 }]));
    expect(bucket.text()).toContain('"f":0.1}');
  });
});
