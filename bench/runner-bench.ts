/**
 * `npm run bench:runner` — the local runner on a real Kafka broker into versitygw (both on 127.0.0.1, sharing the
 * machine's cores), against the ceiling: a bare @platformatic/kafka consumer of the same topic (bare-consumer.ts), read
 * with the client's fetch as the runner reads, and for comparison with its message stream.
 * Per case (jsonl+gzip, parquet+zstd) and for the bare consumer, RUNS runs (default 3), each a fresh consumer group
 * and (runner) a fresh bucket: records/s and value MB/s (process start to exit), CPU-seconds per GB of values (the
 * child's own user + system time, reported at its exit by report-usage.ts), and peak RSS; medians with the spread
 * (min–max). "steady" CPU-s/GB is measured inside each run, from 20 % of its records to 90 % (measure.ts,
 * steadyCpuPerGb: the child's CPU time at each progress message the runner publishes after a committed batch, and the
 * bare consumer after each response), so start-up, warm-up and the last batches are left out.
 * Then the delay from produce to object visible in S3 with the default batching window.
 *
 * `--long`: one runner (jsonl+gzip) streaming LONG_RECORDS (default 5,000,000) records, its RSS (/proc/<pid>/status)
 * printed at intervals beside the records committed so far: flat when nothing accumulates.
 * Env: BENCH_RECORDS (1,000,000), BENCH_RUNS (3), BENCH_CASES (jsonl:gzip,parquet:zstd), LONG_RECORDS; BENCH_COMPARE
 * (another checkout's directory, with node_modules) and BENCH_COMPARE_NAME add that checkout's runner to the same
 * interleaved runs, for a before/after table; BENCH_CPU_PROF=<directory>: each measured process writes a V8 CPU
 * profile there (--cpu-prof; open it in Chrome DevTools).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { Producer } from '@platformatic/kafka';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { sampleOrder } from '../bin/runner/sample-source.ts';
import { median, pairedTable } from './stats.ts';
import { interleavedRuns, measuredChild, type Usage } from './measure.ts';
import { createTopic, startKafka } from '../test/support/kafka.ts';
import { createBucket, startVersitygw, type S3Endpoint } from '../test/support/versitygw.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const LONG = process.argv.includes('--long');
const RECORDS = Number(process.env.BENCH_RECORDS ?? 1_000_000);
const LONG_RECORDS = Number(process.env.LONG_RECORDS ?? 5_000_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const CASES = (process.env.BENCH_CASES ?? 'jsonl:gzip,parquet:zstd').split(',').map((c) => c.split(':') as [string, string]);
/** BENCH_COMPARE=<directory of another checkout>: its runner too, in the same runs (a before/after table). */
const COMPARE = process.env.BENCH_COMPARE;
const COMPARE_NAME = process.env.BENCH_COMPARE_NAME ?? 'compared checkout';
const TMP = mkdtempSync(join(tmpdir(), 'runner-bench-'));

const measured = (args: string[], env: Record<string, string>, onStderr?: (line: string, pid: number) => void, cwd = ROOT) => measuredChild(TMP, args, env, onStderr, cwd);

const s3Env = (s3: S3Endpoint) => ({ AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey, AWS_REGION: s3.region });

let groups = 0;
async function runner(bootstrap: string, s3: S3Endpoint, topic: string, records: number, format: string, compression: string, extra: string[] = [], onStderr?: (line: string, pid: number) => void, cwd = ROOT) {
  const bucket = `bench-${format.replace(/_/g, '-')}-${++groups}-${Date.now() % 1e6}`;
  await createBucket(s3, bucket);
  return measured(['bin/runner.ts', '--brokers', bootstrap, '--s3-endpoint', s3.endpoint, ...(onStderr ? [] : ['--quiet']), '--topics', topic,
    '--group', `g-${bucket}`, '--bucket', bucket, '--stop-after', String(records), '--window-ms', '500', ...extra],
  { ...s3Env(s3), FORMAT: format, COMPRESSION: compression }, onStderr, cwd);
}

function bare(bootstrap: string, topic: string, records: number, mode: 'stream' | 'fetch') {
  return measured(['bench/bare-consumer.ts', bootstrap, topic, `bare-${++groups}-${Date.now()}`, String(records), mode], {});
}

async function produce(bootstrap: string, topic: string, records: number): Promise<number[]> {
  await createTopic(bootstrap, topic, 3);
  const producer = new Producer({ clientId: 'bench', bootstrapBrokers: [bootstrap], idempotent: true });
  // Cumulative value bytes after each record count that a run stops at (the topic's first N records).
  const sizes: number[] = [];
  let valueBytes = 0;
  for (let start = 0; start < records; start += 2000) {
    const messages = Array.from({ length: Math.min(2000, records - start) }, (_, j) => {
      const i = start + j;
      const value = Buffer.from(JSON.stringify(sampleOrder(i, Date.UTC(2026, 0, 1) + i)));
      valueBytes += value.length;
      return { topic, key: Buffer.from(`cust-${i % 5000}`), value, headers: new Map([[Buffer.from('trace-id'), Buffer.from(`t-${i}`)]]) };
    });
    await producer.send({ messages: messages as never });
    sizes.push(valueBytes);
  }
  await producer.close();
  return sizes;
}


async function main(): Promise<void> {
  const [kafka, s3] = await Promise.all([startKafka(), startVersitygw()]);
  try {
    if (LONG) return await long(kafka.bootstrap, s3);
    // Order events do not all have one size: the value bytes of the first N records (what a run reads).
    const sizes = await produce(kafka.bootstrap, 'bench-orders', RECORDS);
    const gbFull = sizes[sizes.length - 1] / 1e9;
    const rows: string[] = [];
    const kinds: [string, (n: number) => Promise<Usage>][] = [
      ['bare consumer, message stream', (n) => bare(kafka.bootstrap, 'bench-orders', n, 'stream')],
      ['bare consumer, fetch (the runner\'s read path: ceiling)', (n) => bare(kafka.bootstrap, 'bench-orders', n, 'fetch')],
      ...CASES.flatMap(([f, c]) => [
        ...(COMPARE ? [[`runner ${f}+${c}, ${COMPARE_NAME}`, (n: number) => runner(kafka.bootstrap, s3, 'bench-orders', n, f, c, [], undefined, COMPARE)] as [string, (n: number) => Promise<Usage>]] : []),
        [`runner ${f}+${c}`, (n: number) => runner(kafka.bootstrap, s3, 'bench-orders', n, f, c)] as [string, (n: number) => Promise<Usage>],
      ]),
    ];
    const result = await interleavedRuns(kinds, { runs: RUNS, full: RECORDS, gbFull });
    rows.push(...result.rows);
    console.log(`\nRunner and bare consumer on a real Kafka 4.1 broker → versitygw (keep-alive, as S3), both on 127.0.0.1 (same 2 cores); ${RECORDS.toLocaleString('en-US')} order events (${(gbFull * 1000).toFixed(1)} MB of values) in 3 partitions; batch size 10,000, window 500 ms; median (min–max) of ${RUNS} runs, each a fresh process and consumer group; CPU = the child's user + system time; steady = from 20 % to 90 % of each run's records, in the process (its CPU time at each committed batch); Node ${process.version}\n`);
    console.log('| process | records/s | value MB/s | CPU-s/GB, whole run | CPU-s/GB, steady | peak RSS (MB) |');
    console.log('|---|---:|---:|---:|---:|---:|');
    for (const r of rows) console.log(r);
    if (COMPARE) {
      // Each case's runs beside the compared checkout's, pair by pair (the two kinds run one after the other).
      for (let k = 0; k < kinds.length; k++) {
        const [name] = kinds[k];
        if (!name.endsWith(`, ${COMPARE_NAME}`) || k + 1 >= kinds.length) continue;
        console.log(`\nSteady CPU-s/GB, run by run:\n\n${pairedTable(kinds[k + 1][0], result.steady[k + 1], result.steady[k], 'CPU-s/GB steady')}`);
      }
    }
    const delays = await latency(kafka.bootstrap, s3);
    console.log(`\nProduce → object visible in S3 (10 single records, window 500 ms): median ${delays[5]} ms, min ${delays[0]} ms, max ${delays[9]} ms`);
  } finally {
    await Promise.all([kafka.stop(), s3.stop()]);
    rmSync(TMP, { recursive: true, force: true });
  }
}

/** --long: RSS of one runner over LONG_RECORDS records, sampled with its progress lines (every 5 s). */
async function long(bootstrap: string, s3: S3Endpoint): Promise<void> {
  process.stderr.write(`producing ${LONG_RECORDS.toLocaleString('en-US')} records…\n`);
  const sizes = await produce(bootstrap, 'bench-long', LONG_RECORDS);
  const samples: { records: number; rssMb: number; seconds: number }[] = [];
  const t = performance.now();
  const u = await runner(bootstrap, s3, 'bench-long', LONG_RECORDS, 'jsonl', 'gzip', [], (line, pid) => {
    const m = /^([\d,]+) records ·/.exec(line);
    if (!m) return;
    let rssMb = NaN;
    try {
      rssMb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
    } catch { /* exited */ }
    samples.push({ records: Number(m[1].replace(/,/g, '')), rssMb, seconds: (performance.now() - t) / 1000 });
  });
  const gb = sizes[sizes.length - 1] / 1e9;
  console.log(`\nRunner jsonl+gzip, ${LONG_RECORDS.toLocaleString('en-US')} records (${(gb * 1000).toFixed(0)} MB of values): ${u.wallSeconds.toFixed(0)} s, ${(u.cpuSeconds / gb).toFixed(1)} CPU-s/GB, peak RSS ${u.peakRssMb.toFixed(0)} MB; RSS beside the records committed (every ~5 s, one line in ${Math.max(1, Math.round(samples.length / 20))})\n`);
  console.log('| seconds | records committed | RSS (MB) |');
  console.log('|---:|---:|---:|');
  const step = Math.max(1, Math.round(samples.length / 20));
  for (let i = 0; i < samples.length; i += step) {
    const s = samples[i];
    console.log(`| ${s.seconds.toFixed(0)} | ${s.records.toLocaleString('en-US')} | ${s.rssMb.toFixed(0)} |`);
  }
  const rss = samples.slice(Math.floor(samples.length / 5)).map((s) => s.rssMb).filter(Number.isFinite);
  if (rss.length > 0) console.log(`\nafter the first fifth: RSS ${Math.min(...rss).toFixed(0)}–${Math.max(...rss).toFixed(0)} MB (median ${median(rss).toFixed(0)})`);
}

/** Produce to visible: one record a second while a runner is running with the default 500 ms window. */
async function latency(bootstrap: string, s3: S3Endpoint): Promise<number[]> {
  const client = new S3Client({ endpoint: s3.endpoint, region: s3.region, forcePathStyle: true, credentials: s3, requestHandler: new NodeHttpHandler() });
  await createTopic(bootstrap, 'bench-latency', 1);
  await createBucket(s3, 'bench-latency');
  const producer = new Producer({ clientId: 'bench', bootstrapBrokers: [bootstrap], idempotent: true });
  const child = spawn(process.execPath, ['bin/runner.ts', '--brokers', bootstrap, '--topics', 'bench-latency', '--group', 'latency', '--bucket', 'bench-latency', '--s3-endpoint', s3.endpoint, '--quiet', '--window-ms', '500'], {
    cwd: ROOT, stdio: 'ignore', env: { ...process.env, ...s3Env(s3), FORMAT: 'jsonl', COMPRESSION: 'none' },
  });
  await new Promise((r) => setTimeout(r, 4000)); // consumer group joined
  const delays: number[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < 10; i++) {
    const sent = Date.now();
    await producer.send({ messages: [{ topic: 'bench-latency', key: Buffer.from('k'), value: Buffer.from(JSON.stringify({ probe: i })) }] as never });
    for (;;) {
      const list = await client.send(new ListObjectsV2Command({ Bucket: 'bench-latency' }));
      // Data objects only: the runner's claims under the state prefix come and go (one listed may be gone by its GET).
      const fresh = (list.Contents ?? []).filter((o) => !seen.has(o.Key!) && o.Key!.startsWith('topics/'));
      let found = false;
      for (const o of fresh) {
        const body = await (await client.send(new GetObjectCommand({ Bucket: 'bench-latency', Key: o.Key! }))).Body!.transformToString();
        seen.add(o.Key!);
        if (body.includes(`"probe":${i}`)) found = true;
      }
      if (found) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    delays.push(Date.now() - sent);
    await new Promise((r) => setTimeout(r, 1000));
  }
  child.kill('SIGTERM');
  await producer.close();
  return delays.sort((a, b) => a - b);
}

await main();
