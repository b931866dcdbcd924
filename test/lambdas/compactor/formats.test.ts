/**
 * The compactor's codecs for csv, csv_with_headers, avro and parquet, against the sink's own encoders: rows decoded
 * from objects keep their exact offsets and times; rows of several objects merged and written by a codec's file body
 * make the very file the sink would have written for all of those records (byte for byte: nothing re-encoded or
 * lost); a file reads back the same whole or as it streams (Parquet by ranges); what the sink did not write, or
 * wrote with another layout, is refused with its reason.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { codecFor, type Codec, type Row } from '../../../lambdas/compactor/codec.ts';
import { csvCells } from '../../../lambdas/compactor/formats/text.ts';
import { mergeRows } from '../../../lambdas/compactor/merge.ts';
import { compressObject } from '../../../lambdas/shared/compress.ts';
import { loadSinkConfig, type SinkConfig } from '../../../lambdas/shared/config.ts';
import { convertPlan, convertRecord } from '../../../lambdas/shared/convert.ts';
import type { KafkaRecord } from '../../../lambdas/shared/decode.ts';
import { csvCell } from '../../../lambdas/shared/encode/csv.ts';
import { encodeObject } from '../../../lambdas/shared/encode/index.ts';
import { collect, fileOf, stored } from '../../support/codec-files.ts';
import { REPO_ROOT } from '../../support/versitygw.ts';

const AVRO_SCHEMA_FILE = `${REPO_ROOT}test/events/order.avsc`;
const T0 = Date.UTC(2026, 2, 1, 21);
const INT64_MAX = 9223372036854775807n;

const order = (i: number, pad = 0) => JSON.stringify({
  order_id: `ord-${i}${'-'.repeat(pad)}`, customer_id: 100_000 + i, status: ['created', 'paid'][i % 2], amount: i + 0.5, currency: 'EUR', items: i % 5,
  created_at: new Date(T0 + i * 1000).toISOString(), express: i % 3 === 0 ? null : i % 3 === 1,
});

const CONFIGS: Record<string, Record<string, string>> = {
  'csv_with_headers + gzip, schema': { FORMAT: 'csv_with_headers', COMPRESSION: 'gzip', AVRO_SCHEMA_FILE, FIELDS: 'value,key,headers,partition,offset,timestamp' },
  'csv + none, value as text': { FORMAT: 'csv', COMPRESSION: 'none', VALUE_ENCODING: 'text', FIELDS: 'offset,value,timestamp' },
  'csv + zstd, value as base64': { FORMAT: 'csv', COMPRESSION: 'zstd', VALUE_ENCODING: 'base64', FIELDS: 'value,offset' },
  'avro + snappy, schema': { FORMAT: 'avro', COMPRESSION: 'snappy', AVRO_SCHEMA_FILE, FIELDS: 'value,key,headers,partition,offset,timestamp' },
  'avro + deflate, value as text': { FORMAT: 'avro', COMPRESSION: 'deflate', VALUE_ENCODING: 'text', FIELDS: 'value,offset,timestamp' },
  'avro + zstandard, value as base64': { FORMAT: 'avro', COMPRESSION: 'zstandard', VALUE_ENCODING: 'base64', FIELDS: 'key,value,offset' },
  'avro + null, schema': { FORMAT: 'avro', COMPRESSION: 'null', AVRO_SCHEMA_FILE, FIELDS: 'offset,value' },
  'parquet + zstd, schema': { FORMAT: 'parquet', COMPRESSION: 'zstd', AVRO_SCHEMA_FILE, FIELDS: 'value,key,headers,partition,offset,timestamp' },
  'parquet + snappy, value as text': { FORMAT: 'parquet', COMPRESSION: 'snappy', VALUE_ENCODING: 'text', FIELDS: 'value,offset,timestamp' },
  'parquet + gzip, value as base64': { FORMAT: 'parquet', COMPRESSION: 'gzip', VALUE_ENCODING: 'base64', FIELDS: 'value,key,offset' },
  'parquet + none, schema': { FORMAT: 'parquet', COMPRESSION: 'none', AVRO_SCHEMA_FILE, FIELDS: 'offset,value,timestamp' },
};

const cfgOf = (env: Record<string, string>): SinkConfig => loadSinkConfig({ BUCKET_NAME: 'lake', ...env });

function kafka(offset: bigint, i: number, value?: string, pad = 0): KafkaRecord {
  return {
    topic: 'orders', partition: 3, offset, timestamp: T0 + i * 1013, timestampType: 'CREATE_TIME',
    key: i % 4 === 0 ? null : Buffer.from(`k,"${i}"\n`), value: Buffer.from(value ?? order(i, pad)),
    headers: [{ key: 'trace', value: Buffer.from(`t-${i}`) }],
  };
}

/** The object the sink writes for these records, and its bytes before compression. */
function sinkObject(cfg: SinkConfig, recs: readonly KafkaRecord[]): Buffer {
  const plan = convertPlan(cfg);
  const encoded = encodeObject(cfg, recs.map((r) => convertRecord(cfg, plan, r)));
  expect(encoded.rejected).toEqual([]);
  return compressObject(cfg, encoded.body);
}

const offsets = (rows: readonly Row[]) => rows.map((r) => r.offset);

describe.each(Object.entries(CONFIGS))('%s', (_name, env) => {
  const cfg = cfgOf(env);
  const codec = codecFor(cfg) as Codec;
  const withTime = cfg.fields.includes('timestamp');
  const textValue = (i: number) => (cfg.valueEncoding === 'json' ? undefined : ` a,"b"\nc\r\n${i} ünï`);

  it('decodes the sink\'s objects: each row\'s exact offset (to int64) and time, in offset order', async () => {
    expect(typeof codec).toBe('object');
    const recs = [5n, 6n, 9_007_199_254_740_993n, INT64_MAX].map((o, i) => kafka(o, i, textValue(i)));
    const { rows } = await codec.decode(sinkObject(cfg, recs), 'obj');
    expect(offsets(rows)).toEqual([5n, 6n, 9_007_199_254_740_993n, INT64_MAX]);
    expect(rows.map((r) => r.timeMs)).toEqual(recs.map((r) => (withTime ? r.timestamp : undefined)));
    expect(rows.every((r) => r.size > 0)).toBe(true);
  });

  it('merged rows of overlapping objects make the file the sink writes for all the records, read back alike whole or streamed', async () => {
    const recs = Array.from({ length: 60 }, (_, i) => kafka(1000n + BigInt(i), i, textValue(i)));
    // Three objects: the second overlaps both others (a redelivery written again under another claim).
    const objects = [recs.slice(0, 25), recs.slice(20, 45), recs.slice(40)].map((part) => sinkObject(cfg, part));
    const inputs = await Promise.all(objects.map(async (o) => {
      const { rows } = await codec.decode(o, 'obj');
      return { lowerBound: rows[0].offset, load: async function* () { yield rows; } };
    }));
    const stats = { duplicates: 0 };
    const file = await fileOf(codec, cfg, mergeRows(inputs, stats));
    expect(stats.duplicates).toBe(10);
    // Byte for byte the sink's object of the 60 records (Parquet: one row group either way).
    expect(file.equals(sinkObject(cfg, recs))).toBe(true);
    const whole = (await codec.decode(file, 'file')).rows;
    const streamed = await collect(codec.decodeFile(stored(file), 'file'));
    expect(offsets(whole)).toEqual(recs.map((r) => r.offset));
    expect(streamed).toEqual(whole);
  });

  it('a file too large for one piece is cut into pieces (blocks, row groups) that read back in order', async () => {
    const recs = Array.from({ length: 3000 }, (_, i) => kafka(BigInt(i), i, textValue(i)?.repeat(40), 600));
    const { rows } = await codec.decode(sinkObject(cfg, recs), 'obj');
    const body = codec.body(256 << 20);
    const parts: Buffer[] = [];
    let pieces = 0;
    for (const r of rows) {
      body.add(r);
      if (body.ready) {
        parts.push(body.take());
        pieces++;
      }
    }
    parts.push(body.end());
    const file = codec.streamCompressed ? compressObject(cfg, Buffer.concat(parts)) : Buffer.concat(parts);
    if (cfg.format !== 'parquet') expect(pieces).toBeGreaterThan(0); // a Parquet row group holds 32 MB
    expect(offsets(await collect(codec.decodeFile(stored(file, 4096), 'file')))).toEqual(recs.map((r) => r.offset));
  });

  it('refuses a file whose rows are out of order, naming it', async () => {
    const recs = [kafka(7n, 0, textValue(0)), kafka(3n, 1, textValue(1))];
    const plan = convertPlan(cfg);
    const body = compressObject(cfg, encodeObject(cfg, recs.map((r) => convertRecord(cfg, plan, r))).body);
    await expect(collect(codec.decodeFile(stored(body), 's3://lake/f'))).rejects.toThrow(/s3:\/\/lake\/f: row 2 \(offset 3\) is not after offset 7: not a compacted file/);
    // As a raw object it is fine: the sink's objects are sorted when read.
    expect(offsets((await codec.decode(body, 'obj')).rows)).toEqual([3n, 7n]);
  });
});

describe('what the codecs refuse', () => {
  const schema = { AVRO_SCHEMA_FILE, FIELDS: 'value,offset,timestamp' };
  const other = { VALUE_ENCODING: 'text', FIELDS: 'value,offset,timestamp' };

  it.each(['avro', 'parquet', 'csv_with_headers'])('%s: an object written with another layout (the schema changed) fails its window with the reason', async (format) => {
    const before = cfgOf({ FORMAT: format, ...other });
    const now = cfgOf({ FORMAT: format, ...schema });
    const old = sinkObject(before, [kafka(1n, 0, 'plain text')]);
    await expect((codecFor(now) as Codec).decode(old, 's3://lake/old')).rejects.toThrow(format === 'csv_with_headers' ? /s3:\/\/lake\/old: its header row is not this table's .*written with another layout/ : /s3:\/\/lake\/old: .*written with another schema than the configured one/);
  });

  it('csv: a row with another number of cells, an unclosed quote, text after a quote', async () => {
    const c = codecFor(cfgOf({ FORMAT: 'csv', COMPRESSION: 'none', VALUE_ENCODING: 'text', FIELDS: 'value,offset' })) as Codec;
    await expect(c.decode(Buffer.from('a,1\r\nb,2,3\r\n'), 'k')).rejects.toThrow('k: row 2 is not a record of this sink (3 cells where the table has 2 columns)');
    await expect(c.decode(Buffer.from('a,1\r\n"a,1\r\n'), 'k')).rejects.toThrow('k: row 2 never ends (a quote that is not closed)');
    await expect(collect(c.decodeFile(stored(Buffer.from('a,1\r\n"a,1\r\n')), 'k'))).rejects.toThrow('k: row 2 never ends (a quote that is not closed)');
    await expect(c.decode(Buffer.from('"a""\r\n,1\r\n'), 'k')).rejects.toThrow(/never ends/);
    await expect(c.decode(Buffer.from('"a"x,1\r\n'), 'k')).rejects.toThrow(/cell 1 has text after its closing quote/);
    await expect(c.decode(Buffer.from('a,1x\r\n'), 'k')).rejects.toThrow(/an offset that is not an offset/);
  });

  it('avro: not a container, truncated, a foreign sync marker', async () => {
    const cfg = cfgOf({ FORMAT: 'avro', ...schema });
    const c = codecFor(cfg) as Codec;
    const good = sinkObject(cfg, [kafka(1n, 0), kafka(2n, 1)]);
    await expect(c.decode(Buffer.from('PAR1'), 'k')).rejects.toThrow('k: not an Avro object container file');
    await expect(c.decode(good.subarray(0, good.length - 3), 'k')).rejects.toThrow('k: the file ends early');
    const foreign = Buffer.from(good);
    foreign[foreign.length - 1] ^= 0xff;
    await expect(c.decode(foreign, 'k')).rejects.toThrow("k: a block whose sync marker is not the file's");
  });

  it('parquet: not a Parquet file', async () => {
    const c = codecFor(cfgOf({ FORMAT: 'parquet', ...schema })) as Codec;
    await expect(c.decode(Buffer.from('{"offset":1}\n'), 'k')).rejects.toThrow(/^k: not a Parquet file/);
  });

  it('configurations without offsets, or with columns inferred per object', () => {
    expect(codecFor(cfgOf({ FORMAT: 'text' }))).toMatch(/^format=text holds values only/);
    expect(codecFor(cfgOf({ FORMAT: 'bytes' }))).toMatch(/^format=bytes holds values only/);
    expect(codecFor(cfgOf({ FORMAT: 'avro' }))).toMatch(/^format=avro without schemaFile infers columns per object/);
    expect(codecFor(cfgOf({ FORMAT: 'csv', VALUE_ENCODING: 'text', FIELDS: 'value,partition' }))).toMatch(/fields must include offset/);
  });
});

describe('csvCells', () => {
  it('finds each cell of a row the sink writes, whatever its text (quotes, commas, line ends, spaces, empty, null)', () => {
    const cellText = fc.oneof(fc.constant(null), fc.string({ unit: fc.constantFrom('a', ',', '"', '\r', '\n', ' ', 'é', '1') , maxLength: 12 }));
    fc.assert(fc.property(fc.array(cellText, { minLength: 1, maxLength: 8 }), (cells) => {
      const row = Buffer.from(cells.map((v) => csvCell({ name: 'c', type: 'string', nullable: true }, v)).join(','));
      const spans = csvCells(row, cells.length, cells.map((_, i) => i));
      spans.forEach(([start, end], i) => {
        const text = row.toString('utf8', start, end).replaceAll('""', '"');
        expect(text).toBe(cells[i] ?? '');
      });
    }), { numRuns: 500 });
  });
});
