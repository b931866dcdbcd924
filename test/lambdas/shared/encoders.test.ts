import { Readable } from 'node:stream';
import zlib from 'node:zlib';
import avro from 'avsc';
import fc from 'fast-check';
import { parquetMetadata, parquetReadObjects, type Compressors } from 'hyparquet';
import { parquetWriteBuffer } from 'hyparquet-writer';
import snappy from 'snappyjs';
import { describe, expect, it } from 'vitest';
import { compressObject, contentTypeFor } from '../../../lambdas/shared/compress.ts';
import { loadSinkConfig, type SinkConfig } from '../../../lambdas/shared/config.ts';
import { convertPlan, convertRecord, type SinkRecord } from '../../../lambdas/shared/convert.ts';
import type { KafkaRecord } from '../../../lambdas/shared/decode.ts';
import { csvCell } from '../../../lambdas/shared/encode/csv.ts';
import { encodeObject } from '../../../lambdas/shared/encode/index.ts';
import { encodeParquet, encodeParquetWithWriter, PARQUET_CODECS, PARQUET_CREATED_BY, parquetColumnOptions, parquetCompressors, parquetSchemaOf, type ParquetCodec } from '../../../lambdas/shared/encode/parquet.ts';
import type { Table } from '../../../lambdas/shared/encode/table.ts';
import { RecordError } from '../../../lambdas/shared/errors.ts';

const cfgOf = (env: Record<string, string> = {}): SinkConfig => loadSinkConfig({ BUCKET_NAME: 'my-bucket', ...env });

const T0 = Date.UTC(2026, 0, 1, 0, 0, 0, 0);
const INT64_MAX = 9223372036854775807n;

interface Spec {
  offset?: bigint;
  timestamp?: number;
  key?: string | Buffer | null;
  value?: string | Buffer | null;
  headers?: [string, string][];
}

function kafka(s: Spec, i: number): KafkaRecord {
  const buf = (v: string | Buffer | null | undefined): Buffer | null =>
    v === null || v === undefined ? null : typeof v === 'string' ? Buffer.from(v) : v;
  return {
    topic: 'orders',
    partition: 2,
    offset: s.offset ?? 100n + BigInt(i),
    timestamp: s.timestamp ?? T0 + i,
    timestampType: 'CREATE_TIME',
    key: s.key === undefined ? Buffer.from(`k${i}`) : buf(s.key),
    value: s.value === undefined ? Buffer.from(`{"i":${i}}`) : buf(s.value),
    headers: (s.headers ?? []).map(([key, v]) => ({ key, value: Buffer.from(v) })),
  };
}

function sinkRecords(cfg: SinkConfig, specs: Spec[]): SinkRecord[] {
  const plan = convertPlan(cfg);
  return specs.map((s, i) => convertRecord(cfg, plan, kafka(s, i)));
}

function encode(env: Record<string, string>, specs: Spec[]): Buffer {
  const cfg = cfgOf(env);
  return encodeObject(cfg, sinkRecords(cfg, specs)).body;
}

/** avsc's exact long (BigInt) for reading back, the same idea as the encoder's but written independently. */
const ReadLong = avro.types.LongType.__with({
  fromBuffer: (buf: Buffer) => buf.readBigInt64LE(),
  toBuffer: (n: bigint) => {
    const buf = Buffer.alloc(8);
    buf.writeBigInt64LE(n);
    return buf;
  },
  fromJSON: (v: unknown) => BigInt(v as string),
  toJSON: (n: bigint) => Number(n),
  isValid: (n: unknown) => typeof n === 'bigint',
  compare: (a: bigint, b: bigint) => (a === b ? 0 : a < b ? -1 : 1),
});

interface AvroFile {
  codec: string;
  schema: Record<string, unknown>;
  rows: Record<string, unknown>[];
}

/** Reads an Avro object container file with avsc's BlockDecoder (plain long → BigInt, logical types left as-is). */
function readAvro(buf: Buffer): Promise<AvroFile> {
  type Callback = (err: Error | null, out?: Buffer) => void;
  const decoder = new avro.streams.BlockDecoder({
    codecs: {
      // Giving codecs replaces avsc's defaults, so null and deflate are listed too.
      null: (b: Buffer, cb: Callback) => cb(null, b),
      deflate: (b: Buffer, cb: Callback) => cb(null, zlib.inflateRawSync(b)),
      // Avro snappy blocks carry a 4-byte CRC-32 of the uncompressed data after the compressed bytes.
      snappy: (b: Buffer, cb: Callback) => {
        const out = Buffer.from(snappy.uncompress(b.subarray(0, b.length - 4)));
        cb(zlib.crc32(out) === b.readUInt32BE(b.length - 4) ? null : new Error('snappy block CRC-32 mismatch'), out);
      },
      zstandard: (b: Buffer, cb: Callback) => cb(null, zlib.zstdDecompressSync(b)),
    },
    parseHook: (schema: unknown) =>
      avro.Type.forSchema(schema as avro.Schema, { registry: { long: ReadLong } as never, wrapUnions: false }),
  } as never);
  return new Promise((resolve, reject) => {
    const rows: Record<string, unknown>[] = [];
    let codec = '';
    let schema: Record<string, unknown> = {};
    decoder.on('metadata', (_type: unknown, c: string, header: { meta: Record<string, Buffer> }) => {
      codec = c;
      schema = JSON.parse(header.meta['avro.schema'].toString('utf8')) as Record<string, unknown>;
    });
    decoder.on('data', (row: Record<string, unknown>) => rows.push({ ...row }));
    decoder.on('error', reject);
    decoder.on('end', () => resolve({ codec, schema, rows }));
    Readable.from([buf]).pipe(decoder);
  });
}

const PARQUET_DECOMPRESSORS: Compressors = {
  GZIP: (input) => zlib.gunzipSync(input),
  ZSTD: (input) => zlib.zstdDecompressSync(input),
};

function arrayBufferOf(buf: Buffer): ArrayBuffer {
  return buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length) as ArrayBuffer;
}

async function readParquet(buf: Buffer, utf8 = true): Promise<Record<string, unknown>[]> {
  const rows = await parquetReadObjects({ file: arrayBufferOf(buf), compressors: PARQUET_DECOMPRESSORS, utf8 });
  return rows.map((r) => ({ ...r }));
}

describe('jsonl', () => {
  it('writes the full envelope: key, raw JSON value, headers, coordinates and an ISO timestamp', () => {
    // Prepare
    const specs: Spec[] = [
      {
        offset: 42n,
        timestamp: Date.UTC(2026, 2, 29, 1, 2, 3, 45),
        key: 'order-"1"',
        value: '{"status":"paid","amount":19.99,"id":9223372036854775807}',
        headers: [['trace', 'abc'], ['trace', 'dé']],
      },
    ];

    // Act
    const out = encode({}, specs);

    // Assess
    expect(out.toString('utf8')).toBe(
      '{"key":"order-\\"1\\"","value":{"status":"paid","amount":19.99,"id":9223372036854775807},'
        + '"headers":[{"key":"trace","value":"abc"},{"key":"trace","value":"dé"}],'
        + '"topic":"orders","partition":2,"offset":42,"timestamp":"2026-03-29T01:02:03.045Z"}\n',
    );
  });

  it('writes one line per record, null keys and written tombstones as null, and an exact int64 offset', () => {
    // Prepare
    const env = { TOMBSTONES: 'write', FIELDS: 'offset,key,value' };
    const specs: Spec[] = [
      { offset: INT64_MAX - 1n, key: null, value: '[1,2]' },
      { offset: INT64_MAX, key: 'k', value: null },
    ];

    // Act
    const out = encode(env, specs);

    // Assess
    expect(out.toString('utf8')).toBe(
      '{"offset":9223372036854775806,"key":null,"value":[1,2]}\n{"offset":9223372036854775807,"key":"k","value":null}\n',
    );
  });

  it('writes ISO timestamps with millisecond padding, across seconds and before 1970', () => {
    // Prepare
    const specs: Spec[] = [{ timestamp: -1 }, { timestamp: T0 + 7 }, { timestamp: T0 + 70 }, { timestamp: T0 + 1000 }, { timestamp: T0 + 999 }];

    // Act
    const out = encode({ FIELDS: 'timestamp' }, specs);

    // Assess
    expect(out.toString('utf8')).toBe([
      '{"timestamp":"1969-12-31T23:59:59.999Z"}',
      '{"timestamp":"2026-01-01T00:00:00.007Z"}',
      '{"timestamp":"2026-01-01T00:00:00.070Z"}',
      '{"timestamp":"2026-01-01T00:00:01.000Z"}',
      '{"timestamp":"2026-01-01T00:00:00.999Z"}',
    ].join('\n') + '\n');
  });

  it('escapes keys, header names and values so every line parses back to the same text', () => {
    // Prepare
    const keys = ['tab\there', 'quote"back\\slash', 'nul\u0000', 'line\u2028sep', 'emoji 😀', 'plain'];
    const specs: Spec[] = keys.map((key) => ({ key, headers: [[key, `v-${key}`]] }));

    // Act
    const out = encode({ FIELDS: 'key,headers' }, specs);

    // Assess
    const rows = out.toString('utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as { key: string; headers: { key: string; value: string }[] });
    expect(rows.map((r) => r.key)).toEqual(keys);
    expect(rows.map((r) => r.headers)).toEqual(keys.map((k) => [{ key: k, value: `v-${k}` }]));
  });

  it('writes a pretty-printed value on one line', () => {
    // Prepare
    const specs: Spec[] = [{ value: '{\n  "a": [\n    1\n  ]\n}' }];

    // Act
    const out = encode({ FIELDS: 'value' }, specs);

    // Assess
    expect(out.toString('utf8')).toBe('{"value":{"a": [1]}}\n');
  });

  it('writes text and base64 values as JSON strings', () => {
    // Prepare
    const text = { VALUE_ENCODING: 'text', FIELDS: 'value' };
    const b64 = { VALUE_ENCODING: 'base64', KEY_ENCODING: 'base64', FIELDS: 'key,value' };

    // Act
    const textOut = encode(text, [{ value: 'say "hi"\tthere' }]);
    const b64Out = encode(b64, [{ key: Buffer.from([0xff]), value: Buffer.from([0, 1, 2]) }]);

    // Assess
    expect(textOut.toString('utf8')).toBe('{"value":"say \\"hi\\"\\tthere"}\n');
    expect(b64Out.toString('utf8')).toBe('{"key":"/w==","value":"AAEC"}\n');
  });

  it('ENVELOPE=false writes the bare values, null for a written tombstone', () => {
    // Prepare
    const env = { FIELDS: 'value', ENVELOPE: 'false', TOMBSTONES: 'write' };
    const specs: Spec[] = [{ value: '{"a":1}' }, { value: '"text"' }, { value: null }, { value: '{\r\n"b":2\r\n}' }];

    // Act
    const out = encode(env, specs);

    // Assess
    expect(out.toString('utf8')).toBe('{"a":1}\n"text"\nnull\n{"b":2}\n');
  });
});

describe('csv', () => {
  const specs: Spec[] = [
    { key: 'a,b', value: '{"name":"Smith, J","note":"","n":1}' },
    { key: '', value: '{"name":null,"note":"say \\"hi\\"\\nbye","n":2.5}' },
    { key: null, value: '{"name":" lead","n":null}' },
  ];

  it('quotes cells that need it, writes null as an empty cell and an empty string as ""', () => {
    // Prepare
    const env = { FORMAT: 'csv', FIELDS: 'value,key,offset' };

    // Act
    const out = encode(env, specs);

    // Assess
    expect(out.toString('utf8')).toBe(
      '"Smith, J","",1,"a,b",100\r\n'
        + ',"say ""hi""\nbye",2.5,"",101\r\n'
        + '" lead",,,,102\r\n',
    );
  });

  it('csv_with_headers writes the column names first', () => {
    // Prepare
    const env = { FORMAT: 'csv_with_headers', FIELDS: 'value,key,offset' };

    // Act
    const out = encode(env, specs);

    // Assess
    const lines = out.toString('utf8').split('\r\n');
    expect(lines[0]).toBe('name,note,n,_kafka_key,_kafka_offset');
    expect(lines.slice(1)).toEqual(encode({ FORMAT: 'csv', FIELDS: 'value,key,offset' }, specs).toString('utf8').split('\r\n'));
  });

  it('writes metadata columns: headers as quoted JSON, timestamps as ISO-8601, topic and partition', () => {
    // Prepare
    const env = { FORMAT: 'csv', FIELDS: 'headers,topic,partition,timestamp' };

    // Act
    const out = encode(env, [{ headers: [['h', 'v']], timestamp: Date.UTC(2026, 6, 1, 12, 0, 0, 7) }]);

    // Assess
    expect(out.toString('utf8')).toBe('"[{""key"":""h"",""value"":""v""}]",orders,2,2026-07-01T12:00:00.007Z\r\n');
  });

  it('follows a given schema: column order, defaults and types', () => {
    // Prepare
    const schema = JSON.stringify({
      type: 'record',
      name: 'Order',
      fields: [
        { name: 'id', type: 'long' },
        { name: 'at', type: { type: 'long', logicalType: 'timestamp-millis' } },
        { name: 'day', type: { type: 'int', logicalType: 'date' } },
        { name: 'us', type: { type: 'long', logicalType: 'timestamp-micros' } },
        { name: 'raw', type: ['null', 'bytes'] },
        { name: 'ok', type: 'boolean', default: false },
      ],
    });
    const env = { FORMAT: 'csv_with_headers', FIELDS: 'value', AVRO_SCHEMA: schema };
    const value = '{"ok":true,"raw":"AAE=","us":"2026-01-01T00:00:00.123456Z","day":"2026-01-02","at":"2026-01-01T01:00:00+01:00","id":9223372036854775807}';

    // Act
    const out = encode(env, [{ value }, { value: '{"id":1,"at":0,"day":0,"us":0}' }]);

    // Assess
    expect(out.toString('utf8')).toBe(
      'id,at,day,us,raw,ok\r\n'
        + '9223372036854775807,2026-01-01T00:00:00.000Z,2026-01-02,2026-01-01T00:00:00.123456Z,AAE=,true\r\n'
        + '1,1970-01-01T00:00:00.000Z,1970-01-01,1970-01-01T00:00:00.000000Z,,false\r\n',
    );
  });

  it('csvCell writes a negative microsecond timestamp with the right fraction', () => {
    // Prepare
    const col = { name: 'us', type: 'timestamp-micros', nullable: false } as const;

    // Act
    const got = csvCell(col, -1n);

    // Assess
    expect(got).toBe('1969-12-31T23:59:59.999999Z');
  });

  it('quotes a string cell exactly when it is empty, holds a quote, comma or line end, or starts or ends with whitespace', () => {
    const col = { name: 's', type: 'string', nullable: true } as const;
    // The rule as a regular expression (JavaScript's \s: ASCII and Unicode spaces, line ends, BOM), quotes doubled.
    const expected = (s: string) => (s === '' || /[",\r\n]|^\s|\s$/.test(s) ? `"${s.replaceAll('"', '""')}"` : s);
    const edge = fc.constantFrom(' ', '\t', '\u000b', '\f', '\u00a0', '\u1680', '\u2003', '\u2028', '\u3000', '\ufeff', '\u0085', '\u200b', 'x', '"', ',');
    fc.assert(fc.property(fc.oneof(fc.string({ unit: 'binary' }), fc.tuple(edge, fc.string(), edge).map(([a, m, z]) => a + m + z)), (s) => {
      expect(csvCell(col, s)).toBe(expected(s));
    }), { numRuns: 3000 });
  });
});

describe('text and bytes', () => {
  it('text writes one value per line', () => {
    // Prepare
    const specs: Spec[] = [{ value: 'first line' }, { value: '' }, { value: 'trzecia linia ü' }];

    // Act
    const out = encode({ FORMAT: 'text', VALUE_ENCODING: 'text' }, specs);

    // Assess
    expect(out.toString('utf8')).toBe('first line\n\ntrzecia linia ü\n');
  });

  it('text refuses a value holding any line terminator a line-splitting reader knows (checked before encoding)', () => {
    // Prepare
    const cfg = cfgOf({ FORMAT: 'text', VALUE_ENCODING: 'text' });
    const values = ['a\r\nb', 'a\nb', 'a\rb', 'a\vb', 'a\fb', 'a\x1cb', 'a\x1db', 'a\x1eb', 'a\u0085b', 'a\u2028b', 'a\u2029b'];
    const plan = convertPlan(cfg);

    // Act
    const errors = values.map((v, i) => {
      try {
        convertRecord(cfg, plan, kafka({ value: v }, i));
        return undefined;
      } catch (err) {
        return err;
      }
    });

    // Assess
    for (const err of errors) {
      expect(err).toBeInstanceOf(RecordError);
      expect((err as RecordError).stage).toBe('encode');
      expect((err as RecordError).message).toMatch(/^value contains a line terminator \(.+\); the text format writes one value per line \(use jsonl or bytes\)$/);
    }
    expect(() => convertRecord(cfg, plan, kafka({ value: 'a b\tc' }, 0))).not.toThrow();
  });

  it('bytes refuses a value that holds the separator: the object could not be split back into records', () => {
    const cfg = cfgOf({ FORMAT: 'bytes', VALUE_ENCODING: 'base64', BYTES_SEPARATOR: '\\r\\n' });
    const plan = convertPlan(cfg);
    expect(() => convertRecord(cfg, plan, kafka({ value: Buffer.from('a\r\nb') }, 0))).toThrow('value contains BYTES_SEPARATOR');
    expect(() => convertRecord(cfg, plan, kafka({ value: Buffer.from('a\rb\n') }, 0))).not.toThrow();
  });

  it('bytes joins the raw values with the separator, without a trailing separator', () => {
    // Prepare
    const env = { FORMAT: 'bytes', VALUE_ENCODING: 'base64', BYTES_SEPARATOR: '\\x1e' };
    const specs: Spec[] = [{ value: Buffer.from([0, 255]) }, { value: Buffer.alloc(0) }, { value: Buffer.from([0x1f, 1]) }];

    // Act
    const out = encode(env, specs);

    // Assess
    expect([...out]).toEqual([0, 255, 0x1e, 0x1e, 0x1f, 1]);
  });

  it('bytes with the default separator is newline-joined; with an empty separator the values are concatenated', () => {
    // Prepare
    const specs: Spec[] = [{ value: 'ab' }, { value: 'cd' }];

    // Act
    const newline = encode({ FORMAT: 'bytes', VALUE_ENCODING: 'text' }, specs);
    const none = encode({ FORMAT: 'bytes', VALUE_ENCODING: 'text', BYTES_SEPARATOR: '' }, specs);

    // Assess
    expect(newline.toString()).toBe('ab\ncd');
    expect(none.toString()).toBe('abcd');
  });
});

/** A given schema with every supported column type, and one value that fills it. */
const ALL_TYPES_SCHEMA = JSON.stringify({
  type: 'record',
  name: 'AllTypes',
  fields: [
    { name: 'b', type: 'boolean' },
    { name: 'i', type: 'int' },
    { name: 'l', type: 'long' },
    { name: 'f', type: 'float' },
    { name: 'd', type: 'double' },
    { name: 's', type: ['null', 'string'] },
    { name: 'y', type: 'bytes' },
    { name: 'tm', type: { type: 'long', logicalType: 'timestamp-millis' } },
    { name: 'tu', type: { type: 'long', logicalType: 'timestamp-micros' } },
    { name: 'dt', type: { type: 'int', logicalType: 'date' } },
  ],
});
const ALL_TYPES_VALUE = '{"b":true,"i":-5,"l":9223372036854775807,"f":1.5,"d":2.25,"s":null,"y":"AP8=",'
  + '"tm":"2026-01-01T00:00:00.123Z","tu":"2026-01-01T00:00:00.123456Z","dt":"2026-01-02"}';
const TM = T0 + 123;
const TU = BigInt(T0) * 1000n + 123_456n;

describe('avro', () => {
  const specs: Spec[] = [
    { offset: INT64_MAX - 1n, key: 'k0', value: '{"id":1,"name":"first","score":1.5,"tags":["a"]}', headers: [['h', 'v']] },
    { offset: INT64_MAX, key: null, value: '{"id":9223372036854775807,"name":null,"score":2}' },
  ];

  it.each(['null', 'snappy', 'deflate', 'zstandard'])('keeps every row across block boundaries and rows larger than a block (%s)', async (codec) => {
    // Prepare: small rows filling several 1 MiB blocks, with rows of 3 MiB (larger than a block) among them.
    const big = (i: number) => 'x'.repeat(3 * 1024 * 1024 + i);
    const rows = Array.from({ length: 9000 }, (_, i) => ({ offset: BigInt(i), key: `k${i}`, value: JSON.stringify({ id: i, s: i % 3000 === 7 ? big(i) : `v${i}`.repeat(40) }) }));

    // Act
    const file = await readAvro(encode({ FORMAT: 'avro', COMPRESSION: codec, MAX_OBJECT_BYTES: String(64 * 1024 * 1024) }, rows));

    // Assess
    expect(file.codec).toBe(codec);
    expect(file.rows.map((r) => r.id)).toEqual(rows.map((_, i) => BigInt(i)));
    expect(file.rows.map((r) => (r.s as string).length)).toEqual(rows.map((_, i) => (i % 3000 === 7 ? big(i).length : `v${i}`.repeat(40).length)));
    expect(file.rows.map((r) => r._kafka_offset)).toEqual(rows.map((r) => r.offset));
  });

  it('writes long cells held as numbers (within ±2^53) and as BigInts alike, at every edge of the two halves', async () => {
    // Prepare: a number is written from two 32-bit halves; each edge of them, the sign, and BigInts beyond 2^53.
    const edges = ['0', '-0', '1', '-1', '2147483647', '-2147483648', '4294967295', '4294967296', '-4294967296', '-4294967297',
      '-5000000000', '9007199254740991', '-9007199254740991', '9007199254740993', '-9223372036854775808', '9223372036854775807'];
    const rows = edges.map((n) => ({ value: `{"n":${n}}` }));

    // Act
    const file = await readAvro(encode({ FORMAT: 'avro', FIELDS: 'value,timestamp' }, rows));

    // Assess
    expect(file.rows.map((r) => r.n)).toEqual(edges.map((n) => BigInt(n)));
    expect(file.rows.map((r) => r._kafka_timestamp)).toEqual(edges.map((_, i) => T0 + i)); // avsc reads the logical type as a number
  });

  it('writes a container file avsc reads back, with exact longs and a timestamp-millis logical type', async () => {
    // Prepare
    const env = { FORMAT: 'avro' };

    // Act
    const file = await readAvro(encode(env, specs));

    // Assess
    expect(file.codec).toBe('snappy');
    expect(file.schema).toEqual({
      type: 'record',
      name: 'KafkaRecord',
      fields: [
        { name: 'id', type: ['null', 'long'], default: null },
        { name: 'name', type: ['null', 'string'], default: null },
        { name: 'score', type: ['null', 'double'], default: null },
        { name: 'tags', type: ['null', 'string'], default: null },
        { name: '_kafka_key', type: ['null', 'string'], default: null },
        { name: '_kafka_headers', type: 'string' },
        { name: '_kafka_topic', type: 'string' },
        { name: '_kafka_partition', type: 'int' },
        { name: '_kafka_offset', type: 'long' },
        { name: '_kafka_timestamp', type: { type: 'long', logicalType: 'timestamp-millis' } },
      ],
    });
    expect(file.rows).toEqual([
      {
        id: 1n, name: 'first', score: 1.5, tags: '["a"]', _kafka_key: 'k0', _kafka_headers: '[{"key":"h","value":"v"}]',
        _kafka_topic: 'orders', _kafka_partition: 2, _kafka_offset: INT64_MAX - 1n, _kafka_timestamp: T0,
      },
      {
        id: INT64_MAX, name: null, score: 2, tags: null, _kafka_key: null, _kafka_headers: '[]',
        _kafka_topic: 'orders', _kafka_partition: 2, _kafka_offset: INT64_MAX, _kafka_timestamp: T0 + 1,
      },
    ]);
  });

  it.each(['null', 'deflate', 'snappy', 'zstandard'])('codec %s reads back to the same rows', async (codec) => {
    // Prepare
    const env = { FORMAT: 'avro', COMPRESSION: codec, FIELDS: 'value,offset' };

    // Act
    const file = await readAvro(encode(env, specs));

    // Assess
    expect(file.codec).toBe(codec);
    expect(file.rows).toEqual([
      { id: 1n, name: 'first', score: 1.5, tags: '["a"]', _kafka_offset: INT64_MAX - 1n },
      { id: INT64_MAX, name: null, score: 2, tags: null, _kafka_offset: INT64_MAX },
    ]);
  });

  it('gives byte-identical output for the same input', () => {
    // Prepare
    const env = { FORMAT: 'avro', COMPRESSION: 'deflate' };

    // Act
    const a = encode(env, specs);
    const b = encode(env, specs);

    // Assess
    expect(a.subarray(0, 4).toString('latin1')).toBe('Obj\x01');
    expect(Buffer.compare(a, b)).toBe(0);
  });

  it('writes every column type of a given schema', async () => {
    // Prepare
    const env = { FORMAT: 'avro', COMPRESSION: 'null', FIELDS: 'value', AVRO_SCHEMA: ALL_TYPES_SCHEMA };

    // Act
    const file = await readAvro(encode(env, [{ value: ALL_TYPES_VALUE }]));

    // Assess
    expect(file.rows).toEqual([
      { b: true, i: -5, l: INT64_MAX, f: 1.5, d: 2.25, s: null, y: Buffer.from([0, 255]), tm: TM, tu: Number(TU), dt: 20_455 },
    ]);
    expect((file.schema.fields as { name: string; type: unknown }[]).map((f) => [f.name, f.type])).toEqual([
      ['b', 'boolean'], ['i', 'int'], ['l', 'long'], ['f', 'float'], ['d', 'double'], ['s', ['null', 'string']], ['y', 'bytes'],
      ['tm', { type: 'long', logicalType: 'timestamp-millis' }],
      ['tu', { type: 'long', logicalType: 'timestamp-micros' }],
      ['dt', { type: 'int', logicalType: 'date' }],
    ]);
  });

  it('writes the given schema with its name, namespace, docs and logical types', async () => {
    // Prepare
    const schema = JSON.stringify({
      type: 'record',
      name: 'Order',
      namespace: 'com.example',
      fields: [
        { name: 'order_id', type: 'string', doc: 'Order number' },
        { name: 'created_at', type: { type: 'long', logicalType: 'timestamp-millis' } },
        { name: 'day', type: ['null', { type: 'int', logicalType: 'date' }] },
      ],
    });
    const env = { FORMAT: 'avro', FIELDS: 'value', AVRO_SCHEMA: schema };

    // Act
    const file = await readAvro(encode(env, [{ value: '{"order_id":"o-1","created_at":"2026-01-01T00:00:01.500Z","day":"2026-01-03"}' }]));

    // Assess
    expect(file.schema).toEqual({
      type: 'record',
      name: 'Order',
      namespace: 'com.example',
      fields: [
        { name: 'order_id', type: 'string', doc: 'Order number' },
        { name: 'created_at', type: { type: 'long', logicalType: 'timestamp-millis' } },
        { name: 'day', type: ['null', { type: 'int', logicalType: 'date' }], default: null },
      ],
    });
    expect(file.rows).toEqual([{ order_id: 'o-1', created_at: T0 + 1500, day: 20_456 }]);
  });
});

describe('parquet', () => {
  const specs: Spec[] = [
    { offset: INT64_MAX - 1n, key: 'k0', value: '{"id":1,"name":"first","score":1.5}' },
    { offset: INT64_MAX, key: null, value: '{"id":9223372036854775807,"name":null,"score":2}' },
  ];

  it('writes string and JSON columns (ASCII or not, empty, null, repeated, nested) that read back as written, with UTF-8 byte-order statistics (none for JSON)', async () => {
    // The encoder hands hyparquet-writer each string column as UTF-8 bytes (views of one buffer when all ASCII).
    const text = fc.oneof(fc.string({ unit: 'binary-ascii', maxLength: 12 }), fc.string({ unit: 'grapheme', maxLength: 6 }), fc.constantFrom('', 'a', 'é', '😀', 'Ω'));
    const cell = fc.option(text, { nil: null });
    const nested = fc.option(fc.dictionary(fc.constantFrom('x', 'y'), text, { maxKeys: 2 }), { nil: null });
    await fc.assert(fc.asyncProperty(fc.array(fc.tuple(cell, nested), { minLength: 1, maxLength: 60 }), async (rows) => {
      const specs: Spec[] = rows.map(([s, n], i) => ({ offset: BigInt(i), value: JSON.stringify({ s, n }) }));
      const buf = encode({ FORMAT: 'parquet', FIELDS: 'value' }, specs);
      const back = await readParquet(buf);
      expect(back.map((r) => r.s)).toEqual(rows.map(([s]) => s));
      expect(back.map((r) => (r.n === null ? null : JSON.parse(r.n as string)))).toEqual(rows.map(([, n]) => n));
      const stats = parquetMetadata(arrayBufferOf(buf)).row_groups[0].columns[0].meta_data?.statistics;
      // A JSON column (nested values) carries no bounds: they order JSON text, which no predicate can use.
      if (rows.some(([, n]) => n !== null)) expect(parquetMetadata(arrayBufferOf(buf)).row_groups[0].columns[1].meta_data?.statistics?.max_value).toBeUndefined();
      const present = rows.map(([s]) => s).filter((s): s is string => s !== null).map((s) => Buffer.from(s)).sort(Buffer.compare);
      if (present.length > 0) {
        // Bounds: exact, or (long values) truncated to a lower bound of the minimum and an upper bound of the maximum.
        const min = Buffer.from(stats?.min_value as Uint8Array), max = Buffer.from(stats?.max_value as Uint8Array);
        const [lo, hi] = [present[0], present[present.length - 1]];
        if (stats?.is_min_value_exact === false) expect(Buffer.compare(min, lo)).toBeLessThanOrEqual(0);
        else expect(min.toString()).toBe(lo.toString());
        if (stats?.is_max_value_exact === false) expect(Buffer.compare(max, hi)).toBeGreaterThanOrEqual(0);
        else expect(max.toString()).toBe(hi.toString());
      }
    }), { numRuns: 150 });
  });

  it('writes string columns byte for byte as hyparquet-writer does from one UTF-8 array per value (shared views of repeated values change nothing)', () => {
    // The encoder hands a repeated ASCII value over as one shared view until a column proves about as distinct as it
    // is long; the oracle encodes every value alone. Columns: few distinct values, all distinct, and repeats that
    // start only after hundreds of distinct values (the sharing stops part-way), with nulls anywhere.
    const column = fc.oneof(
      fc.array(fc.option(fc.constantFrom('EUR', 'USD', '', 'a'), { nil: null, freq: 8 }), { minLength: 1, maxLength: 2000 }),
      fc.integer({ min: 1, max: 1500 }).map((n) => Array.from({ length: n }, (_, i) => `id-${i}`)),
      fc.tuple(fc.integer({ min: 200, max: 700 }), fc.integer({ min: 1, max: 1500 }), fc.integer({ min: 1, max: 9 }))
        .map(([distinct, repeats, pool]) => [...Array.from({ length: distinct }, (_, i) => `u${i}`), ...Array.from({ length: repeats }, (_, i) => (i % 5 === 4 ? null : `p${i % pool}`))]),
    );
    fc.assert(fc.property(column, fc.constantFrom<ParquetCodec>('none', 'zstd'), (cells, codec) => {
      const table: Table = { name: 't', columns: [{ name: 's', type: 'string', nullable: true }], data: [cells], rowCount: cells.length };
      const oracle = Buffer.from(parquetWriteBuffer({
        columnData: [{ name: 's', data: cells.map((c) => (c === null ? null : new Uint8Array(Buffer.from(c)))), ...parquetColumnOptions(table.columns[0]) }] as never,
        schema: parquetSchemaOf(table) as never,
        codec: PARQUET_CODECS[codec],
        compressors: parquetCompressors() as never,
        rowGroupSize: 10_000,
        createdBy: PARQUET_CREATED_BY,
      }));
      expect(encodeParquet(table, codec, 10_000).equals(oracle)).toBe(true);
    }), { numRuns: 60 });
  });

  it('writes every flat column type byte for byte as hyparquet-writer does from the whole table (dictionary or plain, nulls, pages, row groups, codecs)', () => {
    // encodeParquet writes number and string columns itself (parquet-columns.ts); hyparquet-writer given the same
    // table is the oracle. Columns are drawn to cross each of its decisions: the dictionary's sample and its
    // "halve the bytes" rule (few or many distinct values), -0 beside 0, INT64 beyond ±2^53 and at its bounds,
    // non-ASCII text, required and optional, all-null columns, and pages past 1 MiB (several pages, an offset index).
    const many = <T>(g: fc.Arbitrary<T>, distinct: boolean) => (distinct ? fc.uniqueArray(g, { minLength: 1, maxLength: 40 }) : fc.array(g, { minLength: 1, maxLength: 4 }));
    const pools: Record<string, (distinct: boolean) => fc.Arbitrary<unknown[]>> = {
      int: (d) => many(fc.integer(), d),
      date: (d) => many(fc.integer({ min: -719_162, max: 2_932_896 }), d),
      long: (d) => many(fc.oneof(fc.maxSafeInteger(), fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), fc.constantFrom(0, -1, 2 ** 53 - 1, 2n ** 63n - 1n, -(2n ** 63n))), d),
      'timestamp-millis': (d) => many(fc.integer({ min: -62_135_596_800_000, max: 253_402_300_799_999 }), d),
      'timestamp-micros': (d) => many(fc.bigInt({ min: -62_135_596_800_000_000n, max: 253_402_300_799_999_999n }), d),
      float: (d) => many(fc.float({ noNaN: true }).map((f) => Math.fround(f)), d),
      double: (d) => many(fc.oneof(fc.double({ noNaN: true }), fc.constantFrom(0, -0, 1.5, -1e300)), d),
      string: (d) => many(fc.oneof(fc.string({ unit: 'binary-ascii', maxLength: 16 }), fc.string({ unit: 'grapheme', maxLength: 6 })), d),
      json: (d) => many(fc.json({ maxDepth: 2 }), d),
      boolean: () => fc.constant([true, false]),
      bytes: (d) => many(fc.uint8Array({ maxLength: 8 }).map((b) => Buffer.from(b)), d),
    };
    const columnArb = fc.constantFrom(...Object.keys(pools)).chain((type) =>
      fc.record({
        type: fc.constant(type),
        nullable: fc.boolean(),
        distinct: fc.boolean(),
        nulls: fc.constantFrom(0, 0.2, 1),
      }).chain((c) => pools[type](c.distinct).map((pool) => ({ ...c, pool }))));
    const tableArb = fc.record({
      columns: fc.array(columnArb, { minLength: 1, maxLength: 5 }),
      rows: fc.oneof(fc.integer({ min: 1, max: 50 }), fc.integer({ min: 900, max: 2500 })),
      seed: fc.integer(),
      rowGroupSize: fc.constantFrom(7, 1000, 100_000),
      codec: fc.constantFrom<ParquetCodec>('none', 'snappy', 'gzip', 'zstd'),
    });
    fc.assert(fc.property(tableArb, ({ columns, rows, seed, rowGroupSize, codec }) => {
      let state = seed >>> 0;
      const next = () => ((state = (Math.imul(state, 1_664_525) + 1_013_904_223) >>> 0) / 2 ** 32);
      const table: Table = {
        name: 't',
        columns: columns.map((c, i) => ({ name: `c${i}`, type: c.type as never, nullable: c.nullable })),
        data: columns.map((c) => Array.from({ length: rows }, (_, r) => (c.nullable && next() < c.nulls ? null : c.distinct ? c.pool[r % c.pool.length] : c.pool[Math.floor(next() * c.pool.length)]))),
        rowCount: rows,
      };
      expect(encodeParquet(table, codec, rowGroupSize).equals(encodeParquetWithWriter(table, codec, rowGroupSize))).toBe(true);
    }), { numRuns: 120 });

    // Pages past 1 MiB: a plain string column of long distinct values and a dictionary column beside it.
    const long = Array.from({ length: 3000 }, (_, i) => `${'x'.repeat(700)}-${i}`);
    const table: Table = {
      name: 't',
      columns: [{ name: 's', type: 'string', nullable: true }, { name: 'n', type: 'long', nullable: false }, { name: 'd', type: 'double', nullable: true }],
      data: [long.map((s, i) => (i % 11 === 0 ? null : s)), long.map((_, i) => i * 2 ** 40), long.map((_, i) => (i % 3 === 0 ? null : i / 7))],
      rowCount: long.length,
    };
    const buf = encodeParquet(table, 'zstd', 100_000);
    expect(buf.equals(encodeParquetWithWriter(table, 'zstd', 100_000))).toBe(true);
    expect(parquetMetadata(arrayBufferOf(buf)).row_groups[0].columns[0].offset_index_length).toBeGreaterThan(0);
  });

  it('leaves a table with a string that is not Unicode text (a lone surrogate) to hyparquet-writer: the same file', () => {
    // Such strings can have equal bytes (U+FFFD) while unequal: the dictionary must go by bytes, as the writer's does.
    const table: Table = { name: 't', columns: [{ name: 's', type: 'string', nullable: true }], data: [['a\ud800', 'a\udbff', 'é', null, 'a\ud800']], rowCount: 5 };
    expect(encodeParquet(table, 'none', 100).equals(encodeParquetWithWriter(table, 'none', 100))).toBe(true);
  });

  it('writes rows hyparquet reads back with exact INT64 and a UTC TIMESTAMP(MILLIS) column', async () => {
    // Prepare
    const env = { FORMAT: 'parquet', FIELDS: 'value,key,offset,timestamp' };

    // Act
    const buf = encode(env, specs);
    const rows = await readParquet(buf);
    const meta = parquetMetadata(arrayBufferOf(buf));

    // Assess
    expect(rows).toEqual([
      { id: 1n, name: 'first', score: 1.5, _kafka_key: 'k0', _kafka_offset: INT64_MAX - 1n, _kafka_timestamp: new Date(T0) },
      { id: INT64_MAX, name: null, score: 2, _kafka_key: null, _kafka_offset: INT64_MAX, _kafka_timestamp: new Date(T0 + 1) },
    ]);
    const ts = meta.schema.find((e) => e.name === '_kafka_timestamp');
    expect(ts?.type).toBe('INT64');
    expect(ts?.logical_type).toEqual({ type: 'TIMESTAMP', isAdjustedToUTC: true, unit: 'MILLIS' });
    expect(meta.schema.find((e) => e.name === 'id')?.type).toBe('INT64');
    expect(meta.schema.find((e) => e.name === 'id')?.repetition_type).toBe('OPTIONAL');
    expect(meta.schema.find((e) => e.name === '_kafka_offset')?.repetition_type).toBe('REQUIRED');
    expect(Number(meta.num_rows)).toBe(2);
  });

  it.each(['none', 'snappy', 'gzip', 'zstd'])('codec %s reads back to the same rows', async (codec) => {
    // Prepare
    const env = { FORMAT: 'parquet', COMPRESSION: codec, FIELDS: 'value,offset' };
    const expectedCodec = { none: 'UNCOMPRESSED', snappy: 'SNAPPY', gzip: 'GZIP', zstd: 'ZSTD' }[codec];

    // Act
    const buf = encode(env, specs);
    const rows = await readParquet(buf);
    const meta = parquetMetadata(arrayBufferOf(buf));

    // Assess
    expect(rows).toEqual([
      { id: 1n, name: 'first', score: 1.5, _kafka_offset: INT64_MAX - 1n },
      { id: INT64_MAX, name: null, score: 2, _kafka_offset: INT64_MAX },
    ]);
    expect(meta.row_groups[0].columns.map((c) => c.meta_data?.codec)).toEqual([expectedCodec, expectedCodec, expectedCodec, expectedCodec]);
  });

  it('writes every column type of a given schema with its physical and logical type', async () => {
    // Prepare
    const env = { FORMAT: 'parquet', FIELDS: 'value', AVRO_SCHEMA: ALL_TYPES_SCHEMA };

    // Act
    const buf = encode(env, [{ value: ALL_TYPES_VALUE }]);
    const rows = await parquetReadObjects({
      file: arrayBufferOf(buf),
      compressors: PARQUET_DECOMPRESSORS,
      utf8: false,
      // Raw values instead of Date objects, so microseconds and day numbers are compared exactly.
      parsers: { timestampFromMilliseconds: (v: bigint) => v, timestampFromMicroseconds: (v: bigint) => v, dateFromDays: (v: number) => v },
    });
    const meta = parquetMetadata(arrayBufferOf(buf));

    // Assess
    expect(rows.map((r) => ({ ...r, y: [...(r.y as Uint8Array)] }))).toEqual([
      { b: true, i: -5, l: INT64_MAX, f: 1.5, d: 2.25, s: null, y: [0, 255], tm: BigInt(TM), tu: TU, dt: 20_455 },
    ]);
    expect(meta.schema.slice(1).map((e) => [e.name, e.type, e.repetition_type, e.logical_type])).toEqual([
      ['b', 'BOOLEAN', 'REQUIRED', undefined],
      ['i', 'INT32', 'REQUIRED', undefined],
      ['l', 'INT64', 'REQUIRED', undefined],
      ['f', 'FLOAT', 'REQUIRED', undefined],
      ['d', 'DOUBLE', 'REQUIRED', undefined],
      ['s', 'BYTE_ARRAY', 'OPTIONAL', { type: 'STRING' }],
      ['y', 'BYTE_ARRAY', 'REQUIRED', undefined],
      ['tm', 'INT64', 'REQUIRED', { type: 'TIMESTAMP', isAdjustedToUTC: true, unit: 'MILLIS' }],
      ['tu', 'INT64', 'REQUIRED', { type: 'TIMESTAMP', isAdjustedToUTC: true, unit: 'MICROS' }],
      ['dt', 'INT32', 'REQUIRED', { type: 'DATE' }],
    ]);
  });

  it('splits rows into row groups of PARQUET_ROW_GROUP_SIZE', async () => {
    // Prepare
    const env = { FORMAT: 'parquet', FIELDS: 'offset', PARQUET_ROW_GROUP_SIZE: '2' };
    const five: Spec[] = [0n, 1n, 2n, 3n, 4n].map((offset) => ({ offset }));

    // Act
    const buf = encode(env, five);
    const meta = parquetMetadata(arrayBufferOf(buf));
    const rows = await readParquet(buf);

    // Assess
    expect(meta.row_groups.map((g) => Number(g.num_rows))).toEqual([2, 2, 1]);
    expect(rows.map((r) => r._kafka_offset)).toEqual([0n, 1n, 2n, 3n, 4n]);
  });

  it('writes base64 values as a binary column and written tombstones as null', async () => {
    // Prepare
    const env = { FORMAT: 'parquet', VALUE_ENCODING: 'base64', FIELDS: 'value', TOMBSTONES: 'write' };

    // Act
    const buf = encode(env, [{ value: Buffer.from([0, 255, 7]) }, { value: null }]);
    const rows = await readParquet(buf, false);
    const meta = parquetMetadata(arrayBufferOf(buf));

    // Assess
    expect(rows.map((r) => (r._kafka_value === null ? null : [...(r._kafka_value as Uint8Array)]))).toEqual([[0, 255, 7], null]);
    expect(meta.schema[1]).toMatchObject({ name: '_kafka_value', type: 'BYTE_ARRAY', repetition_type: 'OPTIONAL' });
    expect(meta.schema[1].logical_type).toBeUndefined();
  });
});

describe('compress', () => {
  const body = Buffer.from('{"a":1}\n'.repeat(1000));

  it('gzip round-trips with zlib and honours the level', () => {
    // Prepare
    const fast = { format: 'jsonl', compression: 'gzip', compressionLevel: 1 } as const;
    const best = { format: 'jsonl', compression: 'gzip', compressionLevel: 9 } as const;

    // Act
    const a = compressObject(fast, body);
    const b = compressObject(best, body);

    // Assess
    expect(zlib.gunzipSync(a)).toEqual(body);
    expect(zlib.gunzipSync(b)).toEqual(body);
    expect([a[0], a[1]]).toEqual([0x1f, 0x8b]);
    // The gzip header's XFL byte: 4 = fastest, 2 = maximum compression.
    expect([a[8], b[8]]).toEqual([4, 2]);
  });

  it('zstd round-trips with zlib and writes a content checksum and the content size', () => {
    // Prepare
    const cfg = { format: 'csv', compression: 'zstd' } as const;

    // Act
    const out = compressObject(cfg, body);

    // Assess
    expect(zlib.zstdDecompressSync(out)).toEqual(body);
    expect(out.readUInt32LE(0)).toBe(0xfd2fb528);
    const descriptor = out[4];
    expect(descriptor & 0x04).toBe(0x04);
    expect(descriptor >> 6).not.toBe(0);
  });

  it('leaves none, avro and parquet bodies as they are', () => {
    // Prepare
    const cfgs = [
      { format: 'bytes', compression: 'none' },
      { format: 'avro', compression: 'snappy' },
      { format: 'parquet', compression: 'zstd' },
    ] as const;

    // Act
    const outs = cfgs.map((c) => compressObject(c, body));

    // Assess
    for (const out of outs) expect(out).toBe(body);
  });

  it('names the content type of each format', () => {
    // Prepare
    const formats = ['jsonl', 'csv', 'csv_with_headers', 'text', 'bytes', 'avro', 'parquet'] as const;

    // Act
    const types = formats.map((f) => contentTypeFor(f));

    // Assess
    expect(types).toEqual([
      'application/x-ndjson',
      'text/csv; charset=utf-8',
      'text/csv; charset=utf-8',
      'text/plain; charset=utf-8',
      'application/octet-stream',
      'application/avro',
      'application/vnd.apache.parquet',
    ]);
  });
});
