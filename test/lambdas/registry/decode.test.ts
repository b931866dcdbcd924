/**
 * Registry decoding in the sink: framing, Avro and Protobuf payloads to exact JSON, and the per-record outcomes —
 * attacked with payloads a broken or hostile producer writes. The schemas come from a SchemaFetcher over a map here
 * (the unit under test is the decoding); test/integration/schema-registry.test.ts fetches them from real registries.
 */
import zlib from 'node:zlib';
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { loadSinkConfig } from '../../../lambdas/shared/config.ts';
import { SinkPipeline } from '../../../lambdas/shared/pipeline.ts';
import { RegistryDecoder, RegistryUnavailableError, type RegistrySettings } from '../../../lambdas/shared/registry/index.ts';
import type { RawSchema } from '../../../lambdas/shared/registry/client.ts';
import { kafkaEvent } from '../../support/events.ts';
import { avroType, confluent, expected, MapFetcher, order, ORDER_V1 } from '../../support/schema-fetcher.ts';
import { MemoryBucket } from '../../support/memory-bucket.ts';

const settings = (over: Partial<RegistrySettings> = {}): RegistrySettings => ({ location: 'http://127.0.0.1:1', kind: 'confluent', value: true, key: false, ...over });

describe('Avro values of a Confluent registry', () => {
  const schemas = new Map<string, RawSchema>([['7', { type: 'AVRO', text: JSON.stringify(ORDER_V1), references: [] }]]);

  it('decodes nested records, arrays, maps, enums, unions, fixed and logical types to exact JSON', async () => {
    const d = new RegistryDecoder(settings(), new MapFetcher(schemas));
    const bytes = confluent(7, avroType(ORDER_V1).toBuffer(order));
    await d.prefetch([{ key: null, value: bytes }]);
    const out = d.decode(bytes, 'value');
    expect(out.schemaId).toBe('7');
    expect(out.json).toContain(`"id":${2n ** 62n + 7n},`);
    expect({ ...JSON.parse(out.json), id: '__BIG__' }).toEqual(expected);
  });

  it('sets aside what does not decode: truncated, trailing bytes, bad union branch, bad enum, not framed', async () => {
    const d = new RegistryDecoder(settings(), new MapFetcher(schemas));
    const good = confluent(7, avroType(ORDER_V1).toBuffer(order));
    const cases: [Buffer, RegExp][] = [
      [good.subarray(0, good.length - 3), /payload ends|announced/],
      [Buffer.concat([good, Buffer.from([1])]), /1 bytes are left after the value/],
      [Buffer.from('{"id":1}'), /not framed for the schema registry: first byte 0x7b/],
      [Buffer.from([0, 0, 0]), /too short/],
      [confluent(8, Buffer.from([2])), /names schema 8, but the schema registry map does not have it/],
    ];
    await d.prefetch(cases.map(([value]) => ({ key: null, value })));
    for (const [bytes, reason] of cases) expect(() => d.decode(bytes, 'value')).toThrow(reason);
  });

  it('a recursive schema cannot be made to recurse without end', async () => {
    const list = { type: 'record', name: 'Node', fields: [{ name: 'next', type: ['null', 'Node'] }] };
    const d = new RegistryDecoder(settings(), new MapFetcher(new Map([['1', { type: 'AVRO', text: JSON.stringify(list), references: [] }]])));
    // Each level is one byte (union branch 1 = zigzag 2); 100,000 levels then null.
    const bytes = confluent(1, Buffer.concat([Buffer.alloc(100_000, 2), Buffer.from([0])]));
    await d.prefetch([{ key: null, value: bytes }]);
    expect(() => d.decode(bytes, 'value')).toThrow(/nest deeper than 256 levels/);
  });

  it('a block count that no payload can hold is refused before any allocation', async () => {
    const arr = { type: 'array', items: 'null' };
    const d = new RegistryDecoder(settings(), new MapFetcher(new Map([['2', { type: 'AVRO', text: JSON.stringify(arr), references: [] }]])));
    const bytes = confluent(2, Buffer.from([0xfe, 0xff, 0xff, 0xff, 0x0f])); // 2^31 - 1 items of null
    await d.prefetch([{ key: null, value: bytes }]);
    expect(() => d.decode(bytes, 'value')).toThrow(/more than 1000000 values beyond one per payload byte/);
    // Many blocks of a million nulls each (3 bytes a block): the total is bounded, not each block.
    const block = Buffer.from([0x80, 0x89, 0x7a]); // zigzag 1,000,000
    const many = confluent(2, Buffer.concat([...Array(1000).fill(block), Buffer.from([0])]));
    // Unbounded, these 10^9 items would take minutes and gigabytes (the test's timeout would fail it).
    expect(() => d.decode(many, 'value')).toThrow(/more than 1000000 values beyond one per payload byte/);
  });

  it('a decimal with more bytes than its precision needs is refused before its text is made', async () => {
    const s = { type: 'bytes', logicalType: 'decimal', precision: 9, scale: 2 };
    const d = new RegistryDecoder(settings(), new MapFetcher(new Map([['4', { type: 'AVRO', text: JSON.stringify(s), references: [] }]])));
    const ok = confluent(4, Buffer.from([8, 0x05, 0xf5, 0xe0, 0xff])); // 4 bytes
    const huge = confluent(4, Buffer.concat([Buffer.from([0x80, 0x80, 0x08]), Buffer.alloc(65536, 0x7f)])); // 64 KiB of digits
    await d.prefetch([{ key: null, value: ok }]);
    expect(d.decode(ok, 'value').json).toBe('999999.99');
    expect(() => d.decode(huge, 'value')).toThrow(/decimal\(9, 2\) of 65536 significant bytes, more than its precision allows/);
  });
});

describe('Protobuf values', () => {
  const proto = `syntax = "proto3"; package shop; import "google/protobuf/timestamp.proto";
    message Other { string x = 1; }
    message Order { int64 id = 1; optional string note = 2; Item item = 3; repeated Item items = 4; map<int64, string> tags = 5;
      oneof pay { string card = 6; int32 cash = 7; } google.protobuf.Timestamp at = 8; uint64 big = 9; Kind kind = 10; bytes raw = 11; double d = 12;
      message Item { string sku = 1; int32 qty = 2; } }
    enum Kind { KIND_UNKNOWN = 0; RETAIL = 5; }`;
  const root = protobuf.parse(proto, new protobuf.Root(), { keepCase: true }).root;
  root.addJSON(protobuf.common.get('google/protobuf/timestamp.proto')!.nested as never);
  root.resolveAll();
  const Order = root.lookupType('shop.Order');

  it('decodes the message the indexes name, with defaults, presence, exact 64-bit integers and enum names', async () => {
    const msg = Order.fromObject({ id: '-9007199254740993', items: [{ sku: 'a', qty: 2 }], tags: { '12345678901234': 'x' }, cash: 3, at: { seconds: 1767225600, nanos: 5_000_000 }, big: '18446744073709551615', kind: 5, raw: Buffer.from([1]) });
    const payload = Buffer.from(Order.encode(msg).finish());
    // Message indexes: count 1 (zigzag 2), index 1 (zigzag 2): the file's second message.
    const bytes = Buffer.concat([confluent(3, Buffer.from([2, 2])), payload]);
    const d = new RegistryDecoder(settings(), new MapFetcher(new Map([['3', { type: 'PROTOBUF', text: proto, references: [] }]])));
    await d.prefetch([{ key: null, value: bytes }]);
    const out = d.decode(bytes, 'value');
    expect(out.schemaId).toBe('3:1');
    expect(out.json).toBe('{"id":-9007199254740993,"note":null,"item":null,"items":[{"sku":"a","qty":2}],"tags":{"12345678901234":"x"},'
      + '"card":null,"cash":3,"at":"2026-01-01T00:00:00.005000000Z","big":18446744073709551615,"kind":"RETAIL","raw":"AQ==","d":0}');
  });

  it('indexes that name no message, and bytes that are not the message, are dead letters', async () => {
    const d = new RegistryDecoder(settings(), new MapFetcher(new Map([['3', { type: 'PROTOBUF', text: proto, references: [] }]])));
    const noSuch = Buffer.concat([confluent(3, Buffer.from([2, 8])), Buffer.from([8, 1])]);
    const garbage = Buffer.concat([confluent(3, Buffer.from([0])), Buffer.from([0x0f, 0xff, 0xff])]);
    await d.prefetch([{ key: null, value: noSuch }, { key: null, value: garbage }]);
    expect(() => d.decode(noSuch, 'value')).toThrow(/name no message/);
    expect(() => d.decode(garbage, 'value')).toThrow(/does not decode with its Protobuf schema/);
  });
});

describe('JSON Schema values', () => {
  const schema = {
    $schema: 'http://json-schema.org/draft-07/schema#', title: 'Order', type: 'object', required: ['id', 'sku'],
    properties: {
      id: { type: 'integer' }, sku: { type: 'string', pattern: '^(a+)+$' }, at: { type: 'string', format: 'date-time' },
      tags: { type: 'array', items: { type: 'string' } }, extra: { type: 'object', additionalProperties: { type: 'number' } },
      ship: { oneOf: [{ type: 'null' }, { type: 'object', properties: { city: { type: 'string' } } }] }, any: {},
    },
  };
  const frame = (value: string) => confluent(5, Buffer.from(value));
  const decoder = () => new RegistryDecoder(settings({ columns: true }), new MapFetcher(new Map([['5', { type: 'JSON', text: JSON.stringify(schema), references: [] }]])));

  it('validates each value and maps the schema to columns; exact integers and date-times kept', async () => {
    const d = decoder();
    const good = frame('{"id":9223372036854775807,"sku":"aaa","at":"2026-01-01T01:00:00.123456+01:00","tags":["x"],"extra":{"k":1.5},"ship":{"city":"Bern"},"any":[1,{"b":2}]}');
    await d.prefetch([{ key: null, value: good }]);
    const out = d.decode(good, 'value');
    expect(out.json).toContain('9223372036854775807');
    const t = out.type as Extract<typeof out.type, { kind: 'record' }>;
    expect(t.fields.map((f) => [f.name, f.type.kind])).toEqual([['id', 'long'], ['sku', 'string'], ['at', 'union'], ['tags', 'union'], ['extra', 'union'], ['ship', 'union'], ['any', 'union']]);
    expect(out.value).toMatchObject({ id: 9223372036854775807n, at: 1767225600123456n, tags: ['x'], extra: { k: 1.5 }, ship: { city: 'Bern' }, any: [1, { b: 2 }] });
  });

  it('a value that does not hold to its schema, is not JSON or not UTF-8 is a dead letter; a hostile pattern runs in linear time', async () => {
    const d = decoder();
    const cases: [Buffer, RegExp][] = [
      [frame('{"sku":"a"}'), /does not hold to its JSON Schema \(5\): value must have required property 'id'/],
      [frame('{"id":1.5,"sku":"a"}'), /value\/id must be integer/],
      [frame('{"id":1,"sku":"a","at":"yesterday"}'), /value\/at must match format "date-time"/],
      [frame('{"id":1,'), /is not valid JSON/],
      [Buffer.concat([confluent(5, Buffer.from('{"id":1,"sku":"')), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]), /not valid UTF-8/],
      // (a+)+$ on a long run of a's and one b: exponential for a backtracking engine, linear for RE2.
      [frame(`{"id":1,"sku":"${'a'.repeat(50_000)}b"}`), /value\/sku must match pattern/],
    ];
    await d.prefetch(cases.map(([value]) => ({ key: null, value })));
    for (const [bytes, reason] of cases) expect(() => d.decode(bytes, 'value')).toThrow(reason);
  });

  it('a schema whose pattern RE2 cannot run names the problem in its values\' dead letters', async () => {
    const lookahead = { type: 'object', properties: { p: { type: 'string', pattern: '^(?=a)' } } };
    const d = new RegistryDecoder(settings(), new MapFetcher(new Map([['6', { type: 'JSON', text: JSON.stringify(lookahead), references: [] }]])));
    const v = confluent(6, Buffer.from('{"p":"a"}'));
    await d.prefetch([{ key: null, value: v }]);
    expect(() => d.decode(v, 'value')).toThrow(/its JSON schema .* cannot be read: Ajv cannot use it/);
  });
});

describe('AWS Glue framing', () => {
  const uuid = '0f8fad5b-d9cb-469f-a165-70867728950e';
  const glue = (compression: number, payload: Buffer) => Buffer.concat([Buffer.from([3, compression]), Buffer.from(uuid.replaceAll('-', ''), 'hex'), payload]);
  const schemas = new Map<string, RawSchema>([[uuid, { type: 'AVRO', text: JSON.stringify(ORDER_V1), references: [] }]]);
  const s = settings({ kind: 'glue', location: 'arn:aws:glue:us-east-1:123456789012:registry/r' });

  it('reads plain and zlib-compressed payloads by their schema version UUID', async () => {
    const payload = avroType(ORDER_V1).toBuffer(order);
    const d = new RegistryDecoder(s, new MapFetcher(schemas));
    for (const bytes of [glue(0, payload), glue(5, zlib.deflateSync(payload))]) {
      await d.prefetch([{ key: null, value: bytes }]);
      expect({ ...JSON.parse(d.decode(bytes, 'value').json), id: '__BIG__' }).toEqual(expected);
    }
  });

  it('refuses a zlib bomb (per record and per batch), an unknown compression byte and a Confluent-framed value', async () => {
    const d = new RegistryDecoder(s, new MapFetcher(schemas));
    const bomb = glue(5, zlib.deflateSync(Buffer.alloc(100 * 1024 * 1024)));
    expect(bomb.length).toBeLessThan(200_000);
    await d.prefetch([{ key: null, value: bomb }]);
    expect(() => d.decode(bomb, 'value')).toThrow(/does not inflate within 16777216 bytes/);
    // 20 values of 15 MiB each: each within a record's 16 MiB, the batch's 256 MiB reached after 17 of them.
    const big = glue(5, zlib.deflateSync(Buffer.alloc(15 * 1024 * 1024)));
    const outcomes = Array.from({ length: 20 }, () => {
      try {
        d.decode(big, 'value');
        return 'decoded';
      } catch (err) {
        return /inflate/.test((err as Error).message) ? 'over budget' : (err as Error).message.slice(0, 60);
      }
    });
    // Each "decodes" as far as the payload (15 MiB of zeros is not an Avro order: that fails after inflating).
    expect(outcomes.filter((o) => o === 'over budget')).toHaveLength(3);
    expect(() => d.decode(glue(9, Buffer.from([1])), 'value')).toThrow(/compression byte 0x09/);
    expect(() => d.decode(confluent(7, Buffer.from([1])), 'value')).toThrow(/expected the header version 0x03/);
  });
});

describe('in the pipeline', () => {
  const V2 = { ...ORDER_V1, fields: [...ORDER_V1.fields, { name: 'channel', type: 'string', default: 'web' }] };
  const v1 = avroType(ORDER_V1);
  const v2 = avroType(V2);
  const schemas = new Map<string, RawSchema>([
    ['7', { type: 'AVRO', text: JSON.stringify(ORDER_V1), references: [] }],
    ['9', { type: 'AVRO', text: JSON.stringify(V2), references: [] }],
  ]);
  const cfg = loadSinkConfig({ BUCKET_NAME: 'bkt', FORMAT: 'jsonl', COMPRESSION: 'none', SCHEMA_REGISTRY: 'http://127.0.0.1:1' });

  it('writes decoded JSON, cuts objects where the schema changes, dead-letters the original bytes of a bad record', async () => {
    const fetcher = new MapFetcher(schemas);
    const bucket = new MemoryBucket();
    const pipeline = new SinkPipeline(cfg, bucket as never);
    pipeline.useRegistry(new RegistryDecoder(cfg.registry!, fetcher));
    const bad = confluent(7, Buffer.from([1, 2, 3]));
    const values = [
      confluent(7, v1.toBuffer(order)), confluent(7, v1.toBuffer(order)), bad,
      confluent(9, v2.toBuffer({ ...order, channel: 'app' })), confluent(7, v1.toBuffer(order)), null,
    ];
    const r = await pipeline.handle(kafkaEvent(values.map((value, offset) => ({ offset, value }))));
    expect([r.written, r.deadLettered, r.tombstonesIgnored]).toEqual([4, 1, 1]);
    // 0–1 (v1), 3 (v2), 4 (v1): three objects, each of one schema.
    expect(bucket.keys('topics/').map((k) => k.replace(/^.*\//, ''))).toEqual([
      'orders+0+00000000000000000000.jsonl',
      'orders+0+00000000000000000003.jsonl',
      'orders+0+00000000000000000004.jsonl',
    ]);
    const lines = bucket.text().trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => (l.value as Record<string, unknown>).channel)).toEqual([undefined, undefined, 'app', undefined]);
    expect((lines[0].value as Record<string, unknown>).customer).toEqual({ name: 'Zoë "Z"\n', tier: 'SILVER' });
    const letters = bucket.deadLetters();
    expect(letters).toHaveLength(1);
    expect(Buffer.from(String(letters[0].value), "base64")).toEqual(bad);
    expect(letters[0].reason).toMatch(/does not decode with its Avro schema/);
    expect(fetcher.calls.sort()).toEqual(['7', '9']);
  });

  it('a registry that does not answer fails the batch before anything is written; the retry writes it', async () => {
    const fetcher = new MapFetcher(schemas);
    fetcher.down = true;
    const bucket = new MemoryBucket();
    const pipeline = new SinkPipeline(cfg, bucket as never);
    pipeline.useRegistry(new RegistryDecoder(cfg.registry!, fetcher));
    const event = kafkaEvent([{ offset: 0, value: confluent(7, v1.toBuffer(order)) }]);
    await expect(pipeline.handle(event)).rejects.toThrow(RegistryUnavailableError);
    expect(bucket.keys('')).toEqual([]);
    fetcher.down = false;
    expect((await pipeline.handle(event)).written).toBe(1);
  });

  it('schemas are fetched once per process, not per batch', async () => {
    const fetcher = new MapFetcher(schemas);
    const pipeline = new SinkPipeline(cfg, new MemoryBucket() as never);
    pipeline.useRegistry(new RegistryDecoder(cfg.registry!, fetcher));
    for (let b = 0; b < 3; b++) await pipeline.handle(kafkaEvent([{ offset: b, value: confluent(7, v1.toBuffer(order)) }]));
    expect(fetcher.calls).toEqual(['7']);
  });
});
