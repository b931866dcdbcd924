/**
 * `npm run bench:compact` — the compactor on versitygw (127.0.0.1): the sink writes COMPACT_EVENTS invocations of
 * 10,000 order records (about 4 MB of values each) across 3 partitions, all in one hour window, as it does under
 * steady load (one object per partition per invocation); then COMPACT_RUNS fresh processes each compact that window
 * into their own prefix (the raw objects stay), timed in CPU (user + system of the process, all threads) with the
 * process's peak RSS. Prints MB/s of raw objects compacted per CPU-second, and the cost a TB of values adds
 * (requests and Lambda time) against the GETs it saves readers.
 * Env: COMPACT_EVENTS (30), COMPACT_RUNS (3), COMPACT_TARGET_MB (256), COMPACT_FORMAT (jsonl: gzip; csv_with_headers:
 * gzip, avro: snappy, parquet: zstd, each with schemas/order.avsc as its columns; COMPRESSION overrides the codec).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createSinkHandler } from '../lambdas/sink/app.ts';
import { kafkaEvent, type RecordSpec } from '../test/support/events.ts';
import { createBucket, s3ClientFor, startVersitygw } from '../test/support/versitygw.ts';
import { fmt, median } from './stats.ts';
import { benchOrder } from './orders.ts';
import type { RunReport } from '../lambdas/compactor/compact.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const EVENTS = Number(process.env.COMPACT_EVENTS ?? 30);
const RUNS = Number(process.env.COMPACT_RUNS ?? 3);
const TARGET_MB = Number(process.env.COMPACT_TARGET_MB ?? 256);
const FORMAT = process.env.COMPACT_FORMAT ?? 'jsonl';
const CODEC: Record<string, string> = { jsonl: 'gzip', csv_with_headers: 'gzip', csv: 'gzip', avro: 'snappy', parquet: 'zstd' };
if (!CODEC[FORMAT]) throw new Error(`COMPACT_FORMAT=${FORMAT}: one of ${Object.keys(CODEC).join(', ')}`);
const COMPRESSION = process.env.COMPRESSION ?? CODEC[FORMAT];
const PER_EVENT = 10_000;
const T0 = Date.UTC(2026, 0, 1, 0, 0, 0);
/** us-east-1 S3 Standard request prices and Lambda arm64 duration (per GB-second). */
const PRICE = { get: 0.0004 / 1000, put: 0.005 / 1000, lambdaGbSecond: 0.0000133334 };
const COMPACTOR_MEMORY_GB = 2;
const PART_BYTES = 8 * 1024 * 1024;

const s3 = await startVersitygw();
const TMP = mkdtempSync(join(tmpdir(), 'compact-bench-'));
try {
  const bucket = 'compact-bench';
  await createBucket(s3, bucket);
  const env: Record<string, string> = {
    BUCKET_NAME: bucket, S3_ENDPOINT: s3.endpoint, FORMAT, COMPRESSION,
    // Columnar formats need fixed columns to be merged: the order's flat fields (its nested ones are not written).
    ...(FORMAT === 'jsonl' ? {} : { AVRO_SCHEMA_FILE: join(ROOT, 'schemas/order.avsc'), FIELDS: 'value,key,partition,offset,timestamp' }),
  };
  const client = s3ClientFor(s3);
  const quiet = new Proxy({}, { get: () => () => undefined }) as never;
  const sink = createSinkHandler({ env, s3: client, logger: quiet, metrics: quiet });
  const context = { functionName: 'bench', awsRequestId: 'bench', getRemainingTimeInMillis: () => 600_000 } as never;
  let valueBytes = 0;
  process.stderr.write(`writing ${EVENTS} invocations of ${PER_EVENT} records…\n`);
  for (let e = 0; e < EVENTS; e++) {
    const specs: RecordSpec[] = [];
    for (let j = 0; j < PER_EVENT; j++) {
      const i = e * PER_EVENT + j;
      const value = JSON.stringify(benchOrder(i));
      valueBytes += value.length;
      // Offsets per partition go on from one invocation to the next; every record in the hour after T0.
      specs.push({ topic: 'orders', partition: i % 3, offset: Math.floor(i / 3), timestamp: T0 + Math.floor((i / (EVENTS * PER_EVENT)) * 3_599_000), key: `cust-${i % 5000}`, value, headers: [['trace-id', `t-${i}`]] });
    }
    const result = await sink(kafkaEvent(specs), context);
    if (result.deadLettered > 0) throw new Error(`the sink dead-lettered ${result.deadLettered} bench records`);
  }
  const rows: { cpu: number; wall: number; rss: number; report: RunReport }[] = [];
  for (let r = 0; r < RUNS; r++) {
    const usageFile = join(TMP, `usage-${r}.json`);
    const started = performance.now();
    const stdout = await new Promise<string>((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', './bench/report-usage.ts', 'bench/compact-child.ts'], {
        cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'],
        env: { ...process.env, ...env, AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey, AWS_REGION: s3.region,
          COMPACTED_PREFIX: `compacted-run${r}/`, COMPACTION_TARGET_BYTES: String(TARGET_MB * 1024 * 1024), BENCH_USAGE_FILE: usageFile, POWERTOOLS_METRICS_DISABLED: 'true' },
      });
      let out = '';
      child.stdout!.on('data', (d) => (out += d));
      child.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`compact-child exited ${code}`))));
    });
    const usage = JSON.parse(readFileSync(usageFile, 'utf8')) as { cpuSeconds: number; peakRssMb: number };
    const report = JSON.parse(stdout) as RunReport;
    rows.push({ cpu: usage.cpuSeconds, wall: (performance.now() - started) / 1000, rss: usage.peakRssMb, report });
    process.stderr.write(`  run ${r + 1}: ${usage.cpuSeconds.toFixed(2)} CPU-s, ${usage.peakRssMb.toFixed(0)} MB peak RSS\n`);
  }
  const w = rows[0].report.windows;
  const rawBytes = w.reduce((s, x) => s + x.bytesIn, 0);
  const outBytes = w.reduce((s, x) => s + x.bytesOut, 0);
  const objects = w.reduce((s, x) => s + x.newSources, 0);
  const files = w.reduce((s, x) => s + x.files, 0);
  const records = w.reduce((s, x) => s + x.records, 0);
  console.log(`\nCompactor on versitygw (127.0.0.1, same 2 cores), Node ${process.version}: one hour window of ${records.toLocaleString('en-US')} order records in 3 partitions, ${(valueBytes / 1e6).toFixed(1)} MB of values, ${objects} raw ${FORMAT} (${COMPRESSION}) objects of ${(rawBytes / 1e6).toFixed(1)} MB, target ${TARGET_MB} MB; ${RUNS} fresh processes, median (min–max)\n`);
  console.log('| format | raw MB compacted | files out | MB out | CPU-s | raw MB per CPU-s | value MB per CPU-s | k records per CPU-s | wall s | peak RSS (MB) |');
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  const cpus = rows.map((x) => x.cpu);
  console.log(`| ${FORMAT} + ${COMPRESSION} | ${(rawBytes / 1e6).toFixed(1)} | ${files} | ${(outBytes / 1e6).toFixed(1)} | ${fmt(cpus, 2)} | ${fmt(cpus.map((c) => rawBytes / 1e6 / c), 1)} | ${fmt(cpus.map((c) => valueBytes / 1e6 / c), 1)} | ${fmt(cpus.map((c) => records / 1e3 / c), 0)} | ${fmt(rows.map((x) => x.wall), 1)} | ${fmt(rows.map((x) => x.rss), 0)} |`);

  // Per TB of values: what compaction adds (defaults: runs every 15 min, raw objects kept 7 days, a window checked
  // for a day and an hour after its compaction), and what it saves a reader that scans the data once.
  const perTb = 1e12 / valueBytes;
  const windows = w.length;
  const partitionsPerWindow = 3;
  const runsWhileKept = (7 * 24 * 60) / 15;
  const runsWhileRecent = (25 * 60) / 15;
  const filePuts = files * (outBytes / files > 16 * 1024 * 1024 ? Math.ceil(outBytes / files / PART_BYTES) + 2 : 1);
  const once = {
    gets: (2 * objects + windows * (partitionsPerWindow + 2)) * perTb, // raw GET + HEAD, checkpoints, manifest, symlink
    puts: (filePuts + objects + windows * 3) * perTb, // files, tags, manifest twice and the symlink
  };
  const recurring = {
    // Each run: the manifest; for the first day, the symlink file. (Checkpoints are read only for a window whose
    // watermark has not passed its records, a sink running behind: none here.)
    gets: windows * (runsWhileKept + runsWhileRecent) * perTb,
    // Once per window: the sweep for orphans, a LIST of its data directory and a manifest PUT.
    sweeps: windows * 2 * perTb,
    lists: (objects * runsWhileKept / 1000) * perTb, // each run lists every raw object kept, 1,000 a page
  };
  const lambda = median(cpus) * COMPACTOR_MEMORY_GB * PRICE.lambdaGbSecond * perTb;
  const onceCost = once.gets * PRICE.get + once.puts * PRICE.put;
  const recurringCost = recurring.gets * PRICE.get + (recurring.lists + recurring.sweeps) * PRICE.put;
  const total = onceCost + recurringCost + lambda;
  console.log(`\nPer TB of values (${perTb.toFixed(0)} windows like this one): merging adds ${(once.gets / 1e6).toFixed(2)} M GET-class requests (raw objects and their HEAD before the tag, checkpoints, manifests, symlinks), ${(once.puts / 1e6).toFixed(2)} M PUT-class (files, one tag per raw object, manifests, symlinks): $${onceCost.toFixed(2)}; the runs that see each window again while its raw objects are kept add ${(recurring.gets / 1e6).toFixed(1)} M GETs and ${(recurring.lists / 1e6).toFixed(2)} M LISTs: $${recurringCost.toFixed(2)}; ${(median(cpus) * perTb / 3600).toFixed(1)} CPU-hours at ${COMPACTOR_MEMORY_GB * 1024} MB: $${lambda.toFixed(2)} (billed duration adds S3's latency); in all $${total.toFixed(2)}.`);
  console.log(`A reader that scans the data once makes ${((objects * perTb) / 1e3).toFixed(0)}k GETs on the raw objects ($${(objects * perTb * PRICE.get).toFixed(2)}), ${((files * perTb) / 1e3).toFixed(1)}k on the compacted files ($${(files * perTb * PRICE.get).toFixed(3)}); every query opens ${(objects / files).toFixed(0)}× fewer files.`);
} finally {
  await s3.stop();
  rmSync(TMP, { recursive: true, force: true });
}
