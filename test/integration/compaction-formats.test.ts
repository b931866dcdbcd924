/**
 * The compactor for every format it merges (csv, csv_with_headers, avro, parquet; jsonl has compaction.test.ts), with
 * the real sink writing into versitygw: redeliveries, late records merged by a second generation (which reads the
 * first generation's files back as they stream, Parquet by ranges), files cut at a small target. Both views are read
 * by the independent readers (test/readers/read_object.py: Python's csv, fastavro, pyarrow), never by our code: every
 * record the sink wrote is in the compacted view exactly once with equal content, each file has the sink's schema,
 * and the manifests agree with what the readers see.
 */
import { join } from 'node:path';
import { zstdDecompressSync } from 'node:zlib';
import { parquetReadObjects } from 'hyparquet';
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
    const byPartition = new Map<number, Row[]>();
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
          (byPartition.get(f.partition) ?? byPartition.set(f.partition, []).get(f.partition)!).push(row);
        }
        records += rows.length;
      }
      expect(manifest.records).toBe(records);
      // Per partition, what the readers see agrees with the manifest: record counts, offset ranges, time bounds.
      for (const p of manifest.partitions) {
        const mine = byPartition.get(p.partition) ?? [];
        const offsets = mine.map((row) => Number(cell(row, '_kafka_offset'))).sort((a, b) => a - b);
        const ranges: [string, string][] = [];
        for (const o of offsets) {
          const tail = ranges[ranges.length - 1];
          if (tail && Number(tail[1]) + 1 === o) tail[1] = String(o);
          else ranges.push([String(o), String(o)]);
        }
        expect([p.records, p.offsetRanges], `partition ${p.partition}`).toEqual([mine.length, ranges]);
        const times = table.columns.some((x) => x.name === '_kafka_timestamp') ? mine.map((row) => Date.parse(String(cell(row, '_kafka_timestamp')))).sort((a, b) => a - b) : [];
        expect([p.minTimestamp, p.maxTimestamp]).toEqual(times.length > 0 ? [new Date(times[0]).toISOString(), new Date(times[times.length - 1]).toISOString()] : [null, null]);
      }
      byPartition.clear();
      // The first window (40 records a partition and the late ones): several files per partition, cut at the target.
      if (manifest.generation === 2) expect(manifest.files.length).toBeGreaterThan(manifest.partitions.length);
    }
    expect([...seen.keys()].sort()).toEqual([...raw.keys()].sort());
  });
  it('parquet: a failure at any S3 request of a run (ranged reads of the earlier generation included) leaves one whole generation in view, and a rerun converges', async () => {
    // Prepare: generation 1 published, then late records for generation 2 (which reads generation 1's files by ranges)
    const bucket = `compact-formats-crash-${++n}`;
    await createBucket(s3, bucket);
    const env: Record<string, string> = { BUCKET_NAME: bucket, S3_ENDPOINT: s3.endpoint, FORMAT: 'parquet', COMPRESSION: 'zstd', VALUE_ENCODING: 'text', FIELDS: 'value,partition,offset,timestamp' };
    const sink = createSinkHandler({ env, s3: client });
    const write = async (recs: RecordSpec[]) => {
      for (let i = 0; i < recs.length; i += 20) await sink(kafkaEvent(recs.slice(i, i + 20)), context);
    };
    await write(records(0, 40));
    const cfg = loadCompactorConfig(env);
    const compactor = (c = client) => new Compactor(c, { ...cfg, runId: `r${++n}` }, () => AFTER);
    await compactor().run();
    await write(records(40, 60, { late: true }));

    // What readers see: the files every symlink file lists (hyparquet here: pyarrow reads them in the tests above)
    const rowsOf = async (key: string) => {
      const body = await objectBytes(client, bucket, key);
      return (await parquetReadObjects({ file: body.buffer.slice(body.byteOffset, body.byteOffset + body.length) as ArrayBuffer, compressors: { ZSTD: (b: Uint8Array) => zstdDecompressSync(b) } as never })) as { _kafka_partition: number; _kafka_offset: bigint; _kafka_value: string }[];
    };
    const view = async () => {
      const seen = new Map<string, number>();
      for (const symlink of await keysUnder(client, bucket, 'compacted/symlinks/')) {
        for (const uri of (await objectBytes(client, bucket, symlink)).toString().split('\n').filter(Boolean)) {
          for (const r of await rowsOf(uri.replace(`s3://${bucket}/`, ''))) seen.set(`${r._kafka_partition}/${r._kafka_offset}`, (seen.get(`${r._kafka_partition}/${r._kafka_offset}`) ?? 0) + 1);
        }
      }
      return seen;
    };
    const raw = new Set<string>();
    for (const key of await keysUnder(client, bucket, 'topics/')) for (const r of await rowsOf(key)) raw.add(`${r._kafka_partition}/${r._kafka_offset}`);

    // Act: a run that fails at its k-th request, for k = 1, 2, … until one completes
    let k = 1;
    for (; ; k++) {
      let seen = 0;
      const failing = s3ClientFor(s3);
      failing.middlewareStack.add((next) => async (args) => {
        if (++seen === k) throw Object.assign(new Error(`injected failure at request ${k}`), { $metadata: { httpStatusCode: 500 } });
        return next(args);
      }, { step: 'initialize', name: 'injectFailure' });
      const outcome = await compactor(failing).run().then((r) => r.windows.find((w) => w.action === 'failed')?.error ?? 'done', (err: Error) => err.message);
      // Assess: mid-way, every offset at most once, each a record the sink wrote
      const mid = await view();
      expect([...mid].filter(([, times]) => times > 1), `after a failure at request ${k}`).toEqual([]);
      for (const id of mid.keys()) expect(raw.has(id), id).toBe(true);
      if (outcome === 'done') break;
      expect(outcome).toContain(`injected failure at request ${k}`);
    }
    expect(k).toBeGreaterThan(10);
    await compactor().run();
    const end = await view();
    expect([...end.keys()].sort()).toEqual([...raw].sort());
    expect([...end.values()].every((times) => times === 1)).toBe(true);
  });
});
