/**
 * Attacks on the compactor for csv / avro / parquet through S3, from an adversarial review: the real sink writes into
 * versitygw (every column type, nulls and extremes; an Avro codec changed between objects; raw objects of a few
 * records; damaged objects; a headerless CSV whose fields changed order), the compactor merges, and pyarrow, fastavro,
 * Python's csv and DuckDB read both views. Each failed before its fix, except the all-types round trips.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { GetObjectTaggingCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { expect, it } from 'vitest';
import { COMPACTION_TAG, Compactor } from '../../lambdas/compactor/compact.ts';
import { loadCompactorConfig } from '../../lambdas/compactor/config.ts';
import type { Manifest } from '../../lambdas/compactor/manifest.ts';
import { loadSinkConfig } from '../../lambdas/shared/config.ts';
import { buildTable } from '../../lambdas/shared/encode/table.ts';
import { createSinkHandler } from '../../lambdas/sink/app.ts';
import { AFTER, context, keysUnder, objectBytes, T0 } from '../support/compaction.ts';
import { kafkaEvent, type RecordSpec } from '../support/events.ts';
import { readObject } from '../support/readers.ts';
import { describeS3 } from '../support/s3-context.ts';
import { createBucket, infraPaths, s3ClientFor } from '../support/versitygw.ts';
import { ALL_TYPES_SCHEMA, allTypesValue } from '../support/codec-files.ts';

const run = promisify(execFile);

type Row = unknown[] | Record<string, unknown>;
interface Read { rows: Row[]; schema?: unknown; codec?: string; num_row_groups?: number; codecs?: string[] }

/** Records of one partition, offsets from..to, all in the first hour window (T0 .. T0+1h). */
function recs(from: number, to: number, partition = 0, value: (i: number) => string = allTypesValue): RecordSpec[] {
  const out: RecordSpec[] = [];
  for (let i = from; i < to; i++) {
    out.push({
      topic: 'orders', partition, offset: i, timestamp: T0 + (i % 3000) * 1000,
      key: i % 4 === 0 ? null : i % 4 === 1 ? '' : `k,"${i}"\r\n`, value: value(i), headers: i % 2 ? [] : [['trace', `t-${i}`]],
    });
  }
  return out;
}

async function duckdbCount(path: string, format: string): Promise<string> {
  const { pyVenvPython } = await infraPaths();
  const fn = format === 'parquet' ? 'read_parquet' : format === 'csv_with_headers' ? "read_csv" : 'read_csv';
  // The dialect is given: DuckDB's sniffer gives up on cells with CR and LF (raw objects alike).
  const dialect = `, all_varchar=true, delim=',', quote='\\"', escape='\\"', new_line='\\\\r\\\\n'`;
  const opts = format === 'csv_with_headers' ? `, header=true${dialect}` : format === 'csv' ? `, header=false${dialect}` : '';
  const code = `import duckdb,sys\nprint(duckdb.sql("select count(*) from ${fn}('${path}'${opts})").fetchall()[0][0])`;
  const { stdout } = await run(pyVenvPython, ['-c', code]);
  return stdout.trim();
}

interface Case { env: Record<string, string>; readerCompression: string; sinkEnv2?: Record<string, string> }
const CASES: Record<string, Case> = {
  'parquet zstd, all types, row groups of 3': { env: { FORMAT: 'parquet', COMPRESSION: 'zstd', AVRO_SCHEMA: ALL_TYPES_SCHEMA, FIELDS: 'value,key,headers,partition,offset,timestamp', PARQUET_ROW_GROUP_SIZE: '3' }, readerCompression: 'none' },
  // The sink wrote the first objects under snappy, the later ones (and the compactor) under zstandard.
  'avro, all types, codec changed between objects': { env: { FORMAT: 'avro', COMPRESSION: 'zstandard', AVRO_SCHEMA: ALL_TYPES_SCHEMA, FIELDS: 'value,key,headers,partition,offset,timestamp' }, readerCompression: 'none', sinkEnv2: { COMPRESSION: 'snappy' } },
  'csv none, all types': { env: { FORMAT: 'csv', COMPRESSION: 'none', AVRO_SCHEMA: ALL_TYPES_SCHEMA, FIELDS: 'offset,value,key,timestamp' }, readerCompression: 'none' },
};

describeS3('compaction of csv, avro and parquet under attack', (s3) => {
  const client = s3ClientFor(s3);
  let n = 0;

  it.each(Object.entries(CASES))('[1,3] %s: every raw record once in the compacted view, equal as pyarrow/fastavro/csv read it; DuckDB reads every file', async (_name, c) => {
    const bucket = `attack-fmt-fmt-${++n}`;
    await createBucket(s3, bucket);
    const env: Record<string, string> = { BUCKET_NAME: bucket, S3_ENDPOINT: s3.endpoint, ...c.env };
    const table = buildTable(loadSinkConfig(env), []).table;
    const col = (name: string) => table.columns.findIndex((x) => x.name === name);
    const write = async (e: Record<string, string>, list: RecordSpec[], size: number) => {
      const sink = createSinkHandler({ env: e, s3: client });
      for (let i = 0; i < list.length; i += size) {
        const r = await sink(kafkaEvent(list.slice(i, i + size)), context);
        expect(r.deadLettered).toBe(0);
      }
    };
    const first = [...recs(0, 60, 0), ...recs(0, 45, 1)];
    await write({ ...env, ...(c.sinkEnv2 ?? {}) }, first, 7);
    const cfg = loadCompactorConfig(env);
    const compactor = (id: string) => new Compactor(client, { ...cfg, targetBytes: 2048, runId: id }, () => AFTER);
    const r1 = await compactor('a').run();
    expect(r1.windows.map((w) => [w.action, w.error])).toEqual([['compacted', undefined]]);
    await write(env, [...recs(60, 90, 0), ...recs(45, 50, 1)], 4);
    const r2 = await compactor('b').run();
    expect(r2.windows.map((w) => [w.action, w.error, w.generation])).toEqual([['compacted', undefined, 2]]);

    const read = async (key: string) => (await readObject(s3, bucket, key, env.FORMAT, c.readerCompression)) as Read;
    const rowsOf = (r: Read) => (env.FORMAT === 'csv_with_headers' ? r.rows.slice(1) : r.rows);
    const cell = (row: Row, name: string) => (Array.isArray(row) ? row[col(name)] : row[name]);
    const raw = new Map<string, Row>();
    let rawSchema: unknown;
    for (const key of await keysUnder(client, bucket, 'topics/')) {
      const r = await read(key);
      rawSchema ??= r.schema;
      const part = /\+(\d+)\+\d+\.[a-z.]+$/.exec(key)![1];
      for (const row of rowsOf(r)) raw.set(`${part}/${String(cell(row, '_kafka_offset'))}`, row);
    }
    expect(raw.size).toBe(90 + 50);
    const seen = new Map<string, Row>();
    const dir = await mkdtemp(join(tmpdir(), 'attack-fmt-'));
    const [symlink] = await keysUnder(client, bucket, 'compacted/symlinks/');
    const manifest = JSON.parse((await objectBytes(client, bucket, symlink.replace('/symlinks/', '/manifests/').replace(/symlink\.txt$/, 'manifest.json'))).toString()) as Manifest;
    for (const f of manifest.files) {
      const r = await read(f.key);
      if (env.FORMAT !== 'csv' && env.FORMAT !== 'csv_with_headers') expect(r.schema).toEqual(rawSchema);
      for (const row of rowsOf(r)) {
        const k = `${f.partition}/${String(cell(row, '_kafka_offset'))}`;
        expect(seen.has(k), `${k} twice`).toBe(false);
        expect(row, k).toEqual(raw.get(k));
        seen.set(k, row);
      }
      // DuckDB reads the file on its own (a local copy; avro has fastavro above).
      if (env.FORMAT === 'avro') continue;
      const bytes = await objectBytes(client, bucket, f.key);
      const local = join(dir, f.key.split('/').pop()!);
      await writeFile(local, bytes);
      expect(await duckdbCount(local, env.FORMAT), f.key).toBe(String(f.records));
    }
    expect(seen.size).toBe(raw.size);
  });

  it.each([
    ['parquet', { FORMAT: 'parquet', COMPRESSION: 'zstd', VALUE_ENCODING: 'text', FIELDS: 'value,offset,timestamp' }],
    ['avro', { FORMAT: 'avro', COMPRESSION: 'zstandard', VALUE_ENCODING: 'text', FIELDS: 'value,offset,timestamp' }],
    ['csv', { FORMAT: 'csv', COMPRESSION: 'zstd', VALUE_ENCODING: 'text', FIELDS: 'value,offset,timestamp' }],
  ] as const)('[sizing] %s: raw objects of few records; compacted files are cut near the target, not far below it', async (_name, e) => {
    const bucket = `attack-fmt-size-${++n}`;
    await createBucket(s3, bucket);
    const env: Record<string, string> = { BUCKET_NAME: bucket, S3_ENDPOINT: s3.endpoint, ...e };
    const sink = createSinkHandler({ env, s3: client });
    // Values that compress a little (pseudo-random text), 3 records per invocation.
    const value = (i: number) => Array.from({ length: 30 }, (_, k) => (((i + 7) * 7919 * (k + 3)) % 104_729).toString(36)).join(' ');
    const list = recs(0, 1500, 0, value);
    for (let i = 0; i < list.length; i += 3) await sink(kafkaEvent(list.slice(i, i + 3)), context);
    const targetBytes = 64 * 1024;
    const cfg = loadCompactorConfig(env);
    const report = await new Compactor(client, { ...cfg, targetBytes, runId: 'a' }, () => AFTER).run();
    expect(report.windows.map((w) => w.action)).toEqual(['compacted']);
    const [symlink] = await keysUnder(client, bucket, 'compacted/symlinks/');
    const manifest = JSON.parse((await objectBytes(client, bucket, symlink.replace('/symlinks/', '/manifests/').replace(/symlink\.txt$/, 'manifest.json'))).toString()) as Manifest;
    const sizes = manifest.files.map((f) => f.bytes);
    const total = sizes.reduce((a, b) => a + b, 0);
    expect(sizes.length, `${total} bytes in all`).toBeGreaterThan(1);
    // All files but the last at least half the target.
    expect(sizes.slice(0, -1).every((s) => s >= targetBytes / 2), `file sizes ${sizes.join(',')} for a target of ${targetBytes}`).toBe(true);
  });

  it.each([
    ['csv gzip: an object cut short', { FORMAT: 'csv', COMPRESSION: 'gzip', VALUE_ENCODING: 'text', FIELDS: 'value,offset,timestamp' }, (b: Buffer) => b.subarray(0, b.length - 12)],
    ['csv gzip: an object that is not gzip', { FORMAT: 'csv', COMPRESSION: 'gzip', VALUE_ENCODING: 'text', FIELDS: 'value,offset,timestamp' }, (b: Buffer) => Buffer.concat([Buffer.from('xx'), b])],
    ['parquet zstd: a damaged page', { FORMAT: 'parquet', COMPRESSION: 'zstd', VALUE_ENCODING: 'text', FIELDS: 'value,offset,timestamp' }, (b: Buffer) => { const c = Buffer.from(b); for (let i = 60; i < 120; i++) c[i] ^= 0x5a; return c; }],
    ['avro deflate: a damaged block', { FORMAT: 'avro', COMPRESSION: 'deflate', VALUE_ENCODING: 'text', FIELDS: 'value,offset,timestamp' }, (b: Buffer) => { const c = Buffer.from(b); for (let i = c.length - 60; i < c.length - 30; i++) c[i] ^= 0x5a; return c; }],
  ] as const)('[2] %s: the window fails with an error naming the object', async (_n, e, damage) => {
    const bucket = `attack-fmt-bad-${++n}`;
    await createBucket(s3, bucket);
    const env: Record<string, string> = { BUCKET_NAME: bucket, S3_ENDPOINT: s3.endpoint, ...e };
    const sink = createSinkHandler({ env, s3: client });
    const list = recs(0, 40, 0, (i) => `value ${i} `.repeat(30));
    for (let i = 0; i < list.length; i += 10) await sink(kafkaEvent(list.slice(i, i + 10)), context);
    const keys = await keysUnder(client, bucket, 'topics/');
    const victim = keys[1];
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: victim, Body: damage(await objectBytes(client, bucket, victim)) }));
    const report = await new Compactor(client, { ...loadCompactorConfig(env), runId: 'a' }, () => AFTER).run();
    expect(report.windows.map((w) => w.action)).toEqual(['failed']);
    expect(report.windows[0].error).toContain(victim);
  });

  it('[1,2] csv without header: FIELDS reordered mid-window (key,offset,value -> offset,key,value), numeric keys: no record may be lost', async () => {
    const bucket = `attack-fmt-reorder-${++n}`;
    await createBucket(s3, bucket);
    const base = { BUCKET_NAME: bucket, S3_ENDPOINT: s3.endpoint, FORMAT: 'csv', COMPRESSION: 'gzip', VALUE_ENCODING: 'text' };
    const oldEnv = { ...base, FIELDS: 'key,offset,value' };
    const env = { ...base, FIELDS: 'offset,key,value' };
    const list = recs(0, 40, 0, (i) => `v${i}`).map((r) => ({ ...r, key: String(1000 + (r.offset as number % 3)) }));
    const oldSink = createSinkHandler({ env: oldEnv, s3: client });
    for (let i = 0; i < 20; i += 5) await oldSink(kafkaEvent(list.slice(i, i + 5)), context);
    const sink = createSinkHandler({ env, s3: client });
    for (let i = 20; i < 40; i += 5) await sink(kafkaEvent(list.slice(i, i + 5)), context);
    const report = await new Compactor(client, { ...loadCompactorConfig(env), runId: 'a' }, () => AFTER).run();
    const w = report.windows[0];
    const tags: Record<string, string | undefined> = {};
    for (const key of await keysUnder(client, bucket, 'topics/')) tags[key.split('/').pop()!] = (await client.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: key }))).TagSet?.find((t) => t.Key === COMPACTION_TAG)?.Value;
    // Either the window fails naming an old object, or all 40 records are in the compacted view.
    expect(w.action === 'failed' ? 'failed' : `${w.action}: ${w.records} records, ${w.duplicates} dropped as duplicates; raw objects tagged ${JSON.stringify(tags)}`).toBe('failed');
  });
});
