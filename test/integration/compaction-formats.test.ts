/**
 * The compactor for every format it merges (csv, csv_with_headers, avro, parquet; jsonl has compaction.test.ts), with
 * the real sink writing into versitygw: redeliveries, late records merged by a second generation (which reads the
 * first generation's files back as they stream, Parquet by ranges), files cut at a small target. Both views are read
 * by the independent readers (test/readers/read_object.py: Python's csv, fastavro, pyarrow), never by our code: every
 * record the sink wrote is in the compacted view exactly once with equal content, each file has the sink's schema,
 * and the manifests agree with what the readers see.
 */
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { Compactor } from '../../lambdas/compactor/compact.ts';
import { loadCompactorConfig } from '../../lambdas/compactor/config.ts';
import type { Manifest } from '../../lambdas/compactor/manifest.ts';
import { loadSinkConfig } from '../../lambdas/shared/config.ts';
import { buildTable } from '../../lambdas/shared/encode/table.ts';
import { createSinkHandler } from '../../lambdas/sink/app.ts';
import { AFTER, context, keysUnder, objectBytes, records } from '../support/compaction.ts';
import { kafkaEvent, type RecordSpec } from '../support/events.ts';
import { readObject } from '../support/readers.ts';
import { describeS3 } from '../support/s3-context.ts';
import { createBucket, REPO_ROOT, s3ClientFor } from '../support/versitygw.ts';

interface Case {
  readonly env: Record<string, string>;
  /** A file's compression as the reader is told it (avro and parquet carry theirs inside). */
  readonly readerCompression: string;
}

const AVRO_SCHEMA_FILE = join(REPO_ROOT, 'test/events/order.avsc');
const FIELDS = 'value,key,headers,partition,offset,timestamp';
const CASES: Record<string, Case> = {
  'csv_with_headers + gzip': { env: { FORMAT: 'csv_with_headers', COMPRESSION: 'gzip', AVRO_SCHEMA_FILE, FIELDS }, readerCompression: 'gzip' },
  'csv + zstd, value as text (commas, quotes and line ends in cells)': { env: { FORMAT: 'csv', COMPRESSION: 'zstd', VALUE_ENCODING: 'text', FIELDS: 'value,offset,key' }, readerCompression: 'zstd' },
  'avro + snappy': { env: { FORMAT: 'avro', COMPRESSION: 'snappy', AVRO_SCHEMA_FILE, FIELDS }, readerCompression: 'none' },
  'avro + deflate, value as bytes': { env: { FORMAT: 'avro', COMPRESSION: 'deflate', VALUE_ENCODING: 'base64', FIELDS: 'value,offset,timestamp' }, readerCompression: 'none' },
  'parquet + zstd': { env: { FORMAT: 'parquet', COMPRESSION: 'zstd', AVRO_SCHEMA_FILE, FIELDS }, readerCompression: 'none' },
  'parquet + snappy, value as text': { env: { FORMAT: 'parquet', COMPRESSION: 'snappy', VALUE_ENCODING: 'text', FIELDS: 'value,key,offset,timestamp' }, readerCompression: 'none' },
};

type Row = unknown[] | Record<string, unknown>;
interface Read { rows: Row[]; schema?: unknown; codec?: string; num_row_groups?: number; codecs?: string[] }

/** A value whose text needs CSV quoting: commas, quotes, a line feed, a CR LF, leading space. */
const awkward = (i: number) => JSON.stringify({ n: i, s: ` a,"b"\nc\r\nd ${Array.from({ length: 12 }, (_, k) => (((i + 1) * 7919 * (k + 3)) % 104_729).toString(36)).join('')}` });

describeS3('compaction of csv, avro and parquet: the compacted view is the raw records, each exactly once', (s3) => {
  const client = s3ClientFor(s3);
  let n = 0;

  it.each(Object.entries(CASES))('%s', async (_name, c) => {
    // Prepare: the sink writes three hour windows in small invocations, a redelivery among them
    const bucket = `compact-formats-${++n}`;
    await createBucket(s3, bucket);
    const env: Record<string, string> = { BUCKET_NAME: bucket, S3_ENDPOINT: s3.endpoint, ...c.env };
    const sink = createSinkHandler({ env, s3: client });
    const table = buildTable(loadSinkConfig(env), []).table;
    const col = (name: string) => table.columns.findIndex((x) => x.name === name);
    const textValues = env.VALUE_ENCODING === 'text';
    const withHeaders = (recs: RecordSpec[]) => recs.map((r) => ({ ...r, headers: [['trace', `t-${r.offset}`]] as [string, string][] }));
    const sent = withHeaders(records(0, 90, textValues ? { value: awkward } : {}));
    const write = async (recs: RecordSpec[]) => {
      for (let i = 0; i < recs.length; i += 20) {
        const r = await sink(kafkaEvent(recs.slice(i, i + 20)), context);
        expect(r.deadLettered).toBe(0);
      }
    };
    await write(sent);
    await write(sent.slice(40, 70)); // a redelivery: dropped by the checkpoint
    const cfg = loadCompactorConfig(env);
    // A target of 1 KB: each partition's window is cut into several files.
    const compactor = (run: string) => new Compactor(client, { ...cfg, targetBytes: 1024, runId: run }, () => AFTER);

    // Act: compact; then late records (times in the first hour, offsets after), and compact again
    const first = await compactor('a').run();
    expect(first.windows.map((w) => w.action)).toEqual(['compacted', 'compacted', 'compacted']);
    const late = withHeaders(records(90, 110, { late: true, ...(textValues ? { value: awkward } : {}) }));
    await write(late);
    const second = await compactor('b').run();
    expect(second.windows.map((w) => w.action)).toEqual(['compacted', 'current', 'current']);
    expect(second.windows[0].generation).toBe(2);

    // Assess: the raw and the compacted view, both as the independent readers see them
    const read = async (key: string) => (await readObject(s3, bucket, key, env.FORMAT, c.readerCompression)) as Read;
    const rowsOf = (r: Read) => (env.FORMAT === 'csv_with_headers' ? r.rows.slice(1) : r.rows);
    const cell = (row: Row, name: string) => (Array.isArray(row) ? row[col(name)] : row[name]);
    const id = (row: Row) => `${cell(row, '_kafka_partition') ?? '?'}/${String(cell(row, '_kafka_offset'))}`;
    const raw = new Map<string, Row>();
    let rawSchema: unknown;
    for (const key of await keysUnder(client, bucket, 'topics/')) {
      const r = await read(key);
      rawSchema ??= r.schema;
      if (env.FORMAT === 'csv_with_headers') expect(r.rows[0]).toEqual(table.columns.map((x) => x.name));
      for (const row of rowsOf(r)) {
        // Partitions are told apart by the key when the rows do not carry them (each object is one partition's).
        const k = cell(row, '_kafka_partition') === undefined ? `${/\+(\d+)\+\d+\.[a-z.]+$/.exec(key)![1]}/${String(cell(row, '_kafka_offset'))}` : id(row);
        expect(raw.has(k), `raw ${k} twice`).toBe(false);
        raw.set(k, row);
      }
    }
    expect(raw.size).toBe(sent.length + late.length);

    const seen = new Map<string, Row>();
    for (const symlink of await keysUnder(client, bucket, 'compacted/symlinks/')) {
      const manifest = JSON.parse((await objectBytes(client, bucket, symlink.replace('/symlinks/', '/manifests/').replace(/symlink\.txt$/, 'manifest.json'))).toString()) as Manifest;
      const listed = (await objectBytes(client, bucket, symlink)).toString().split('\n').filter(Boolean).map((u) => u.replace(`s3://${bucket}/`, ''));
      expect(listed).toEqual(manifest.files.map((f) => f.key));
      let records = 0;
      for (const f of manifest.files) {
        const r = await read(f.key);
        // The sink's schema and codec, whatever the inputs' count.
        expect(r.schema).toEqual(rawSchema);
        if (env.FORMAT === 'parquet') expect(new Set(r.codecs)).toEqual(new Set([({ zstd: 'ZSTD', snappy: 'SNAPPY' } as Record<string, string>)[env.COMPRESSION]]));
        if (env.FORMAT === 'avro') expect(r.codec).toBe(env.COMPRESSION);
        if (env.FORMAT === 'csv_with_headers') expect(r.rows[0]).toEqual(table.columns.map((x) => x.name));
        const rows = rowsOf(r);
        const offsets = rows.map((row) => BigInt(String(cell(row, '_kafka_offset'))));
        expect(offsets.every((o, i) => i === 0 || o > offsets[i - 1]), `${f.key} in offset order`).toBe(true);
        expect([rows.length, String(offsets[0]), String(offsets[offsets.length - 1])]).toEqual([f.records, f.firstOffset, f.lastOffset]);
        for (const row of rows) {
          const k = `${f.partition}/${String(cell(row, '_kafka_offset'))}`;
          expect(seen.has(k), `${k} read twice`).toBe(false);
          expect(row, k).toEqual(raw.get(k));
          seen.set(k, row);
        }
        records += rows.length;
      }
      expect(manifest.records).toBe(records);
      // The first window (40 records a partition and the late ones): several files per partition, cut at the target.
      if (manifest.generation === 2) expect(manifest.files.length).toBeGreaterThan(manifest.partitions.length);
    }
    expect([...seen.keys()].sort()).toEqual([...raw.keys()].sort());
  });
});
