/**
 * Attacks on the compactor's csv / avro / parquet codecs, from an adversarial review of them: every column type with
 * nulls and extremes, CSV cells cut at every chunk boundary, files as they end, damaged and foreign objects (each
 * error names the object), schema changes that keep the physical type, objects read with another layout, ordering
 * of compacted files, and where files are cut against the target. Each failed before its fix.
 */
import { gunzipSync, gzipSync, zstdCompressSync, zstdDecompressSync } from 'node:zlib';
import { parquetMetadata, parquetReadObjects } from 'hyparquet';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { codecFor, type Codec, type Row } from '../../../lambdas/compactor/codec.ts';
import { checkRawObject } from '../../../lambdas/compactor/compact.ts';
import { estimateFileBytes } from '../../../lambdas/compactor/file-writer.ts';
import { mergeRows } from '../../../lambdas/compactor/merge.ts';
import { compressObject } from '../../../lambdas/shared/compress.ts';
import { loadSinkConfig, type SinkConfig } from '../../../lambdas/shared/config.ts';
import { convertPlan, convertRecord } from '../../../lambdas/shared/convert.ts';
import type { KafkaRecord } from '../../../lambdas/shared/decode.ts';
import { encodeObject } from '../../../lambdas/shared/encode/index.ts';
import { ALL_TYPES_SCHEMA, allTypesValue, collect, fileOf, stored } from '../../support/codec-files.ts';

const INT64_MAX = 9223372036854775807n;
const T0 = Date.UTC(2026, 2, 1, 21);

const cfgOf = (env: Record<string, string>): SinkConfig => loadSinkConfig({ BUCKET_NAME: 'lake', ...env });

function kafka(offset: bigint, i: number, value?: string | null, timestamp?: number): KafkaRecord {
  return {
    topic: 'orders', partition: 3, offset, timestamp: timestamp ?? T0 + i * 1013, timestampType: 'CREATE_TIME',
    key: i % 4 === 0 ? null : i % 4 === 1 ? Buffer.alloc(0) : Buffer.from(`k,"${i}"\r\n`), value: value === null ? null : Buffer.from(value ?? allTypesValue(i)),
    headers: i % 2 ? [] : [{ key: 'trace', value: Buffer.from(`t-${i}`) }, { key: 'e', value: null as never }],
  };
}

function sinkObject(cfg: SinkConfig, recs: readonly KafkaRecord[]): Buffer {
  const plan = convertPlan(cfg);
  const encoded = encodeObject(cfg, recs.map((r) => convertRecord(cfg, plan, r)));
  expect(encoded.rejected.map((r) => r.reason)).toEqual([]);
  return compressObject(cfg, encoded.body);
}

const offsets = (rows: readonly Row[]) => rows.map((r) => r.offset);
const dec = async (c: Codec, body: Buffer, where: string): Promise<Row[]> => (await c.decode(body, where)).rows;
const show = (rows: readonly Row[]) => rows.map((r) => (r.bytes ? r.bytes.toString('latin1') : r.cells));

/** Values as an independent reading of the parquet (hyparquet's default conversions, not the codec's raw cells). */
async function parquetValues(file: Buffer): Promise<unknown[]> {
  const ab = file.buffer.slice(file.byteOffset, file.byteOffset + file.length) as ArrayBuffer;
  return parquetReadObjects({ file: ab, compressors: { ZSTD: (i: Uint8Array) => zstdDecompressSync(i), GZIP: (i: Uint8Array) => gunzipSync(i) } as never });
}

const ALL_CONFIGS: Record<string, Record<string, string>> = {
  'csv none': { FORMAT: 'csv', COMPRESSION: 'none', AVRO_SCHEMA: ALL_TYPES_SCHEMA, FIELDS: 'value,key,headers,partition,offset,timestamp', KEY_ENCODING: 'text' },
  'csv gzip': { FORMAT: 'csv', COMPRESSION: 'gzip', AVRO_SCHEMA: ALL_TYPES_SCHEMA, FIELDS: 'value,key,headers,partition,offset,timestamp' },
  'csv_with_headers none': { FORMAT: 'csv_with_headers', COMPRESSION: 'none', AVRO_SCHEMA: ALL_TYPES_SCHEMA, FIELDS: 'offset,value,key,headers,timestamp' },
  'csv_with_headers zstd': { FORMAT: 'csv_with_headers', COMPRESSION: 'zstd', AVRO_SCHEMA: ALL_TYPES_SCHEMA, FIELDS: 'offset,value,key,timestamp' },
  'avro null': { FORMAT: 'avro', COMPRESSION: 'null', AVRO_SCHEMA: ALL_TYPES_SCHEMA, FIELDS: 'value,key,headers,partition,offset,timestamp' },
  'avro snappy': { FORMAT: 'avro', COMPRESSION: 'snappy', AVRO_SCHEMA: ALL_TYPES_SCHEMA, FIELDS: 'offset,value,key,timestamp', KEY_ENCODING: 'base64' },
  'avro zstandard': { FORMAT: 'avro', COMPRESSION: 'zstandard', AVRO_SCHEMA: ALL_TYPES_SCHEMA, FIELDS: 'value,offset' },
  'parquet none rg3': { FORMAT: 'parquet', COMPRESSION: 'none', AVRO_SCHEMA: ALL_TYPES_SCHEMA, FIELDS: 'value,key,headers,partition,offset,timestamp', PARQUET_ROW_GROUP_SIZE: '3' },
  'parquet zstd rg3': { FORMAT: 'parquet', COMPRESSION: 'zstd', AVRO_SCHEMA: ALL_TYPES_SCHEMA, FIELDS: 'offset,value,key,timestamp', KEY_ENCODING: 'base64', PARQUET_ROW_GROUP_SIZE: '3' },
  'parquet snappy': { FORMAT: 'parquet', COMPRESSION: 'snappy', AVRO_SCHEMA: ALL_TYPES_SCHEMA, FIELDS: 'value,offset,timestamp' },
  'parquet gzip bytes value': { FORMAT: 'parquet', COMPRESSION: 'gzip', VALUE_ENCODING: 'base64', FIELDS: 'value,key,offset,timestamp', KEY_ENCODING: 'base64', PARQUET_ROW_GROUP_SIZE: '2' },
  'csv none bytes value': { FORMAT: 'csv', COMPRESSION: 'none', VALUE_ENCODING: 'base64', FIELDS: 'value,key,offset', KEY_ENCODING: 'base64' },
  'avro deflate text value': { FORMAT: 'avro', COMPRESSION: 'deflate', VALUE_ENCODING: 'text', FIELDS: 'value,key,offset,timestamp' },
};

describe.each(Object.entries(ALL_CONFIGS))('[1,3] every type, nulls, extremes: %s', (_name, env) => {
  const cfg = cfgOf(env);
  const codec = codecFor(cfg) as Codec;
  const valueOf = (i: number) => (cfg.valueEncoding === 'json' ? allTypesValue(i) : i % 5 === 0 ? '' : ` a,"b"\r\n${i}\r`);
  const recs = Array.from({ length: 41 }, (_, i) => kafka(i < 40 ? 100n + BigInt(i) * 3n : INT64_MAX, i, valueOf(i), i % 3 === 0 ? -62135596800000 + i : T0 - i * 86_400_000 * 400));

  it('decode, merge of three overlapping objects, then decodeFile at every chunk size 1..23: rows exactly the sink\'s', async () => {
    expect(typeof codec).toBe('object');
    const objects = [recs.slice(0, 15), recs.slice(10, 30), recs.slice(28)].map((part) => sinkObject(cfg, part));
    const decoded = await Promise.all(objects.map((o) => dec(codec, o, 'obj')));
    expect(decoded.map((d) => d.length)).toEqual([15, 20, 13]);
    const inputs = decoded.map((rows) => ({ lowerBound: rows[0].offset, load: async function* () { yield rows; } }));
    const stats = { duplicates: 0 };
    const file = await fileOf(codec, cfg, mergeRows(inputs, stats));
    expect(stats.duplicates).toBe(7);
    const whole = sinkObject(cfg, recs);
    if (cfg.format === 'parquet') {
      // Same values as an independent reading of the sink's object (several row groups) sees.
      expect(await parquetValues(file)).toEqual(await parquetValues(whole));
      expect(parquetMetadata(file.buffer.slice(file.byteOffset, file.byteOffset + file.length) as ArrayBuffer).schema)
        .toEqual(parquetMetadata(whole.buffer.slice(whole.byteOffset, whole.byteOffset + whole.length) as ArrayBuffer).schema);
    } else {
      expect(file.equals(whole)).toBe(true);
    }
    const all = await dec(codec, whole, 'whole');
    expect(offsets(all)).toEqual(recs.map((r) => r.offset));
    for (let chunk = 1; chunk <= 23; chunk++) {
      const streamed = await collect(codec.decodeFile(stored(file, chunk), `file@${chunk}`));
      expect(show(streamed), `chunk ${chunk}`).toEqual(show(all));
    }
  });
});

describe('[1] csv: rows whose cells hold quotes, CR and LF, cut at every chunk boundary (fast-check)', () => {
  const cfg = cfgOf({ FORMAT: 'csv_with_headers', COMPRESSION: 'none', VALUE_ENCODING: 'text', FIELDS: 'value,key,offset' });
  const codec = codecFor(cfg) as Codec;
  it('decodeFile at any chunk size reads the very rows decode reads', async () => {
    const text = fc.string({ unit: fc.constantFrom('a', ',', '"', '\r', '\n', ' ', 'é', '1', '""'), maxLength: 9 });
    await fc.assert(fc.asyncProperty(fc.array(fc.tuple(text, fc.option(text)), { minLength: 1, maxLength: 12 }), fc.integer({ min: 1, max: 40 }), async (vals, chunk) => {
      const recs = vals.map(([v, k], i) => ({ ...kafka(BigInt(i), i, v), key: k === null ? null : Buffer.from(k) }));
      const obj = sinkObject(cfg, recs);
      const rows = await dec(codec, obj, 'o');
      expect(rows.length).toBe(recs.length);
      const file = await fileOf(codec, cfg, rows);
      expect(file.equals(obj)).toBe(true);
      const streamed = await collect(codec.decodeFile(stored(file, chunk), 'f'));
      expect(show(streamed)).toEqual(show(rows));
    }), { numRuns: 400 });
  });
});

describe('[1,2] csv: files as they end', () => {
  const cfg = cfgOf({ FORMAT: 'csv', COMPRESSION: 'none', VALUE_ENCODING: 'text', FIELDS: 'value,offset' });
  const codec = codecFor(cfg) as Codec;
  it('a last row without its CR LF is read (decode and decodeFile)', async () => {
    const text = Buffer.from('"a\r\nb",1\r\nc,2');
    expect(show(await dec(codec, text, 'k'))).toEqual(['"a\r\nb",1', 'c,2']);
    for (let chunk = 1; chunk < 16; chunk++) expect(show(await collect(codec.decodeFile(stored(text, chunk), 'k')))).toEqual(['"a\r\nb",1', 'c,2']);
  });
  it('a last row ended by a lone CR is not kept with the CR glued to its cell', async () => {
    const text = Buffer.from('a,1\r\nc,2\r');
    // Either refused, or read as 'c,2': never a row whose bytes end with CR.
    const got = await dec(codec, text, 'k').then(show, (e: Error) => e.message);
    expect(got).not.toEqual(['a,1', 'c,2\r']);
  });
  it('csv_with_headers: a file of the header alone has no rows; a file without header row is refused', async () => {
    const c = codecFor(cfgOf({ FORMAT: 'csv_with_headers', COMPRESSION: 'none', VALUE_ENCODING: 'text', FIELDS: 'value,offset' })) as Codec;
    expect(await dec(c, Buffer.from('_kafka_value,_kafka_offset\r\n'), 'k')).toEqual([]);
    expect(await collect(c.decodeFile(stored(Buffer.from('_kafka_value,_kafka_offset\r\n'), 3), 'k'))).toEqual([]);
    await expect(dec(c, Buffer.from('a,1\r\n'), 's3://lake/x')).rejects.toThrow(/s3:\/\/lake\/x: its header row/);
  });
});

describe('[2] an object the codec cannot read fails with an error naming the object', () => {
  it.each([
    ['csv gzip, a zstd object', { FORMAT: 'csv', COMPRESSION: 'gzip', VALUE_ENCODING: 'text', FIELDS: 'value,offset' }, (b: Buffer) => zstdCompressSync(b)],
    ['csv zstd, a gzip object', { FORMAT: 'csv', COMPRESSION: 'zstd', VALUE_ENCODING: 'text', FIELDS: 'value,offset' }, (b: Buffer) => gzipSync(b)],
    ['csv gzip, a truncated gzip object', { FORMAT: 'csv', COMPRESSION: 'gzip', VALUE_ENCODING: 'text', FIELDS: 'value,offset' }, (b: Buffer) => gzipSync(b).subarray(0, 12)],
  ] as const)('decode: %s', async (_n, env, mangle) => {
    const codec = codecFor(cfgOf(env)) as Codec;
    await expect(dec(codec, mangle(Buffer.from('a,1\r\nb,2\r\n')), 's3://lake/topics/obj.csv.gz')).rejects.toThrow(/s3:\/\/lake\/topics\/obj\.csv\.gz/);
  });
  it('decodeFile: a compacted gzip file cut short', async () => {
    const codec = codecFor(cfgOf({ FORMAT: 'csv', COMPRESSION: 'gzip', VALUE_ENCODING: 'text', FIELDS: 'value,offset' })) as Codec;
    const gz = gzipSync(Buffer.from('a,1\r\nb,2\r\n'.repeat(50)));
    await expect(collect(codec.decodeFile(stored(gz.subarray(0, gz.length - 10), 5), 's3://lake/compacted/f.csv.gz'))).rejects.toThrow(/s3:\/\/lake\/compacted\/f\.csv\.gz/);
  });
});

describe('[1] avro: objects written under another COMPRESSION, empty blocks', () => {
  const env = { AVRO_SCHEMA: ALL_TYPES_SCHEMA, FIELDS: 'value,key,offset,timestamp', FORMAT: 'avro' };
  it.each(['null', 'deflate', 'snappy', 'zstandard'])('objects written with %s merge into a file of the configured codec (deflate), records byte for byte', async (old) => {
    const before = cfgOf({ ...env, COMPRESSION: old });
    const now = cfgOf({ ...env, COMPRESSION: 'deflate' });
    const codec = codecFor(now) as Codec;
    const recs = Array.from({ length: 20 }, (_, i) => kafka(BigInt(i), i));
    const rows = [...await dec(codec, sinkObject(before, recs.slice(0, 10)), 'a'), ...await dec(codec, sinkObject(now, recs.slice(10)), 'b')];
    const file = await fileOf(codec, now, rows);
    expect(file.equals(sinkObject(now, recs))).toBe(true);
  });
  it('a block of count 0 (allowed by the spec) is skipped, records around it kept', async () => {
    const cfg = cfgOf({ ...env, COMPRESSION: 'null' });
    const codec = codecFor(cfg) as Codec;
    const one = sinkObject(cfg, [kafka(1n, 1)]);
    const two = sinkObject(cfg, [kafka(2n, 2)]);
    const sync = one.subarray(one.length - 16);
    // header + block(1) + empty block + block(2 of the second object)
    const headerLen = one.indexOf(sync) + 16;
    const emptyBlock = Buffer.concat([Buffer.from([0, 0]), sync]);
    const file = Buffer.concat([one, emptyBlock, two.subarray(headerLen)]);
    expect(offsets(await dec(codec, file, 'k'))).toEqual([1n, 2n]);
    for (let chunk = 1; chunk < 20; chunk++) expect(offsets(await collect(codec.decodeFile(stored(file, chunk), 'k')))).toEqual([1n, 2n]);
  });
  it('a record of more than a block (1 MB) alone', async () => {
    const cfg = cfgOf({ FORMAT: 'avro', COMPRESSION: 'snappy', VALUE_ENCODING: 'text', FIELDS: 'value,offset' });
    const codec = codecFor(cfg) as Codec;
    const recs = [kafka(1n, 1, 'x'.repeat(1_500_000)), kafka(2n, 2, 'y'), kafka(3n, 3, 'z'.repeat(2_000_000))];
    const rows = await dec(codec, sinkObject(cfg, recs), 'k');
    const file = await fileOf(codec, cfg, rows);
    expect(show(await collect(codec.decodeFile(stored(file, 65536), 'f')))).toEqual(show(rows));
  });
});

describe('[2,3] a schema change that keeps the physical type must not merge silently', () => {
  const schemaWith = (t: unknown) => JSON.stringify({ type: 'record', name: 'R', fields: [{ name: 'x', type: t }] });
  const cases: [string, unknown, unknown, string][] = [
    ['timestamp-millis -> timestamp-micros', { type: 'long', logicalType: 'timestamp-millis' }, { type: 'long', logicalType: 'timestamp-micros' }, '{"x":1700000000000}'],
    ['long -> timestamp-millis', 'long', { type: 'long', logicalType: 'timestamp-millis' }, '{"x":1700000000000}'],
    ['string -> bytes', 'string', 'bytes', '{"x":"AAAA"}'],
    ['int -> date', 'int', { type: 'int', logicalType: 'date' }, '{"x":19000}'],
  ];
  it.each(cases)('parquet: %s', async (_n, before, after, value) => {
    const old = cfgOf({ FORMAT: 'parquet', AVRO_SCHEMA: schemaWith(before), FIELDS: 'value,offset' });
    const now = cfgOf({ FORMAT: 'parquet', AVRO_SCHEMA: schemaWith(after), FIELDS: 'value,offset' });
    const obj = sinkObject(old, [kafka(1n, 1, value)]);
    const codec = codecFor(now) as Codec;
    const got = await dec(codec, obj, 's3://lake/old.parquet').then(async (rows) => {
      // Merged anyway: what a reader sees of the record before and after compaction.
      const file = await fileOf(codec, now, rows);
      const show = (v: unknown) => JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? `${x}n` : x instanceof Uint8Array ? `bytes(${Buffer.from(x).toString()})` : x));
      return `merged: the sink wrote ${show(await parquetValues(obj))}, the compacted file holds ${show(await parquetValues(file))}`;
    }, (e: Error) => e.message);
    expect(got).toMatch(/s3:\/\/lake\/old\.parquet: .*another schema/);
  });
  it.each(cases)('avro (reference: the header\'s schema text is compared): %s', async (_n, before, after, value) => {
    const old = cfgOf({ FORMAT: 'avro', AVRO_SCHEMA: schemaWith(before), FIELDS: 'value,offset' });
    const now = cfgOf({ FORMAT: 'avro', AVRO_SCHEMA: schemaWith(after), FIELDS: 'value,offset' });
    const obj = sinkObject(old, [kafka(1n, 1, value)]);
    await expect(dec(codecFor(now) as Codec, obj, 's3://lake/old.avro')).rejects.toThrow(/another schema/);
  });
});

describe('[5] ordering of compacted files', () => {
  it.each(['csv', 'avro', 'parquet'])('%s: a repeated offset in a compacted file is refused', async (format) => {
    const cfg = cfgOf({ FORMAT: format, VALUE_ENCODING: 'text', FIELDS: 'value,offset' });
    const codec = codecFor(cfg) as Codec;
    const body = sinkObject(cfg, [kafka(5n, 0, 'a'), kafka(5n, 1, 'b')]);
    await expect(collect(codec.decodeFile(stored(body), 's3://lake/f'))).rejects.toThrow(/s3:\/\/lake\/f: row 2 \(offset 5\) is not after offset 5/);
  });
  it('parquet: rows out of order across row groups of a compacted file are refused', async () => {
    const cfg = cfgOf({ FORMAT: 'parquet', VALUE_ENCODING: 'text', FIELDS: 'value,offset', PARQUET_ROW_GROUP_SIZE: '2' });
    const codec = codecFor(cfg) as Codec;
    const body = sinkObject(cfg, [kafka(1n, 0, 'a'), kafka(4n, 1, 'b'), kafka(3n, 2, 'c'), kafka(6n, 3, 'd')]);
    await expect(collect(codec.decodeFile(stored(body), 's3://lake/f'))).rejects.toThrow(/row 3 \(offset 3\) is not after offset 4/);
  });
});

describe('[sizing] the estimate FileWriter cuts files by (out + held × ratio), replayed without S3', () => {
  /** compact.ts's loop: ratio from the inputs read (their rows' bytes), a file cut once the estimate reaches the target. */
  async function cut(codec: Codec, cfg: SinkConfig, objects: Buffer[], target: number): Promise<number[]> {
    let compressed = 0;
    let raw = 0;
    const all: Row[] = [];
    for (const o of objects) {
      const rows = await dec(codec, o, 'o');
      compressed += o.length;
      for (const r of rows) raw += r.size;
      all.push(...rows);
    }
    const ratio = compressed / raw;
    const sizes: number[] = [];
    let body = codec.body(target);
    let out = 0;
    let taken = 0;
    let parts: Buffer[] = [];
    const close = () => {
      parts.push(body.end());
      const whole = Buffer.concat(parts);
      sizes.push(codec.streamCompressed ? compressObject(cfg, whole).length : whole.length);
      body = codec.body(target);
      out = 0;
      taken = 0;
      parts = [];
    };
    let open = false;
    for (const r of all) {
      body.add(r);
      open = true;
      if (body.ready) {
        taken += body.held;
        const p = body.take();
        out += p.length;
        parts.push(p);
      }
      // As FileWriter does (not stream-compressed: these formats compress their own pieces).
      if (estimateFileBytes({ streamCompressed: false, uploaded: out, taken, out, held: body.held }, ratio) >= target) {
        close();
        open = false;
      }
    }
    if (open) close();
    return sizes;
  }
  const value = (i: number) => Array.from({ length: 30 }, (_, k) => (((i + 7) * 7919 * (k + 3)) % 104_729).toString(36)).join(' ');
  it.each([
    ['parquet', 20, 4 << 20], ['parquet', 500, 4 << 20], ['parquet', 5, 4 << 20], ['avro', 20, 4 << 20], ['avro', 5, 4 << 20],
  ] as const)('%s, raw objects of %i records, target %i bytes: files but the last reach 0.8 of the target', async (format, per, target) => {
    const cfg = cfgOf({ FORMAT: format, COMPRESSION: format === 'avro' ? 'zstandard' : 'zstd', VALUE_ENCODING: 'text', FIELDS: 'value,offset,timestamp' });
    const codec = codecFor(cfg) as Codec;
    const total = Math.ceil((target * 3) / 120);
    const objects: Buffer[] = [];
    for (let i = 0; i < total; i += per) objects.push(sinkObject(cfg, Array.from({ length: Math.min(per, total - i) }, (_, k) => kafka(BigInt(i + k), i + k, value(i + k)))));
    const sizes = await cut(codec, cfg, objects, target);
    expect(sizes.slice(0, -1).every((s) => s >= 0.8 * target), sizes.map((s) => (s / target).toFixed(2)).join(' ')).toBe(true);
  }, 600_000);
});

describe('[2] parquet: a damaged object or file fails with an error naming it', () => {
  const cfg = cfgOf({ FORMAT: 'parquet', COMPRESSION: 'zstd', VALUE_ENCODING: 'text', FIELDS: 'value,offset' });
  const codec = codecFor(cfg) as Codec;
  const good = () => sinkObject(cfg, Array.from({ length: 50 }, (_, i) => kafka(BigInt(i), i, `value ${i} `.repeat(20))));
  it('decode: a data page whose compressed bytes are damaged', async () => {
    const bad = good();
    for (let i = 200; i < 260; i++) bad[i] ^= 0x5a;
    await expect(dec(codec, bad, 's3://lake/topics/obj.parquet')).rejects.toThrow(/s3:\/\/lake\/topics\/obj\.parquet/);
  });
  it('decodeFile: a file cut short (its footer gone)', async () => {
    const file = good();
    await expect(collect(codec.decodeFile(stored(file.subarray(0, file.length - 100)), 's3://lake/compacted/f.parquet'))).rejects.toThrow(/s3:\/\/lake\/compacted\/f\.parquet/);
  });
});

describe('[1,2] csv without header: an object written with FIELDS in another order', () => {
  it('is refused by the raw-object check (the sink\'s count and last offset), not read with the key cell taken for the offset', async () => {
    const before = cfgOf({ FORMAT: 'csv', COMPRESSION: 'none', VALUE_ENCODING: 'text', FIELDS: 'key,offset,value' });
    const now = cfgOf({ FORMAT: 'csv', COMPRESSION: 'none', VALUE_ENCODING: 'text', FIELDS: 'offset,key,value' });
    const codec = codecFor(now) as Codec;
    const meta = { 'kafka-record-count': '10', 'kafka-last-offset': '109' };
    // Numeric keys (customer ids): every cell the new layout reads as the offset is digits.
    const repeated = Array.from({ length: 10 }, (_, i) => ({ ...kafka(BigInt(100 + i), i, `v${i}`), key: Buffer.from(String(107 + (i % 2))) }));
    const rows = await dec(codec, sinkObject(before, repeated), 's3://lake/old.csv');
    expect(() => checkRawObject(rows, 100n, meta, 's3://lake/old.csv')).toThrow(/^s3:\/\/lake\/old\.csv: holds offset 107 twice: not read as it was written/);
    // Keys unique and above the start: only the sink's metadata tells.
    const unique = Array.from({ length: 10 }, (_, i) => ({ ...kafka(BigInt(100 + i), i, `v${i}`), key: Buffer.from(String(200 + i)) }));
    const read = await dec(codec, sinkObject(before, unique), 's3://lake/old.csv');
    expect(() => checkRawObject(read, 100n, {}, 's3://lake/old.csv')).not.toThrow();
    expect(() => checkRawObject(read, 100n, meta, 's3://lake/old.csv')).toThrow('s3://lake/old.csv: its last offset read is 209, the sink wrote 109');
    expect(() => checkRawObject(read, 100n, { 'kafka-record-count': '11' }, 's3://lake/old.csv')).toThrow('10 rows read where the sink wrote 11');
    expect(() => checkRawObject(read, 201n, {}, 's3://lake/old.csv')).toThrow('holds offset 200, below its first (201)');
    // Read with its own layout, it passes.
    expect(() => checkRawObject(unique.map((r) => ({ offset: r.offset, size: 1 })), 100n, meta, 'k')).not.toThrow();
  });
});
