/**
 * `npm run bench` — the sink's cost per event in CPU time (a benchmark, not a test: nothing is asserted).
 * For each format and compression, PROCESSES fresh processes (default 3) each run the esbuild-bundled sink (as
 * deployed) on a generated MSK event at the 6 MB invoke payload limit (realistic order events): event JSON parse →
 * decode → convert → encode → compress → upload to versitygw on 127.0.0.1. Per process: CPU ms per event of the sink
 * process (user + system, all threads) and of the S3 server, separately, over ITERATIONS events after WARMUPS warm-up events;
 * printed as the median over the processes with the spread (min–max). CPU time, not wall time: the machine's two
 * cores are shared by the sink, its GC threads and the S3 server, and a Lambda function of 1,769 MB has one vCPU.
 * The floor is what any sink of this event must do: parse it, base64-decode the values, upload compressed bytes
 * (precompressed) with the SDK's checksum. Each case also runs once in another fresh process for the peak RSS of
 * handling one event (a cold invocation). Env: PROCESSES (3), BENCH_ITERATIONS (20), BENCH_WARMUPS (10), BENCH_CASES (format+compression,…);
 * BENCH_COMPARE (another checkout's directory, with node_modules) and BENCH_COMPARE_NAME add that checkout's sink to the
 * same interleaved processes, each case beside it: a before/after table on a machine whose load drifts. That checkout's
 * sink runs under this checkout's child (bench/child.ts and stats.ts are copied beside its sources as bench/.compared-*.ts).
 * BENCH_CPU_PROF=<directory>: each throughput process writes a V8 CPU profile there (--cpu-prof; Chrome DevTools opens it).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundle } from '../scripts/bundle.mjs';
import { benchEvent, PAYLOAD_LIMIT } from './orders.ts';
import { createBucket, startVersitygw } from '../test/support/versitygw.ts';
import { fmt, median } from './stats.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const ITERATIONS = Number(process.env.BENCH_ITERATIONS ?? 20);
const WARMUPS = Number(process.env.BENCH_WARMUPS ?? 10);
const PROCESSES = Number(process.env.PROCESSES ?? 3);
/** Per-core targets (issue 14), value MB per CPU-second. */
const TARGETS: Record<string, number> = { 'jsonl+zstd': 85, 'csv_with_headers+zstd': 45, 'avro+snappy': 45, 'parquet+zstd': 45 };
const RSS_TARGET_MB = 200;
const COMPARE = process.env.BENCH_COMPARE;
const COMPARE_NAME = process.env.BENCH_COMPARE_NAME ?? 'compared checkout';
const CASES: [string, string][] = [
  ['floor', '-'],
  ['jsonl', 'none'], ['jsonl', 'gzip'], ['jsonl', 'zstd'],
  ['csv_with_headers', 'zstd'], ['text', 'zstd'], ['bytes', 'zstd'],
  ['avro', 'null'], ['avro', 'snappy'], ['avro', 'zstandard'],
  ['parquet', 'snappy'], ['parquet', 'zstd'],
  // TRANSFORM_SQL (README, "Transform with SQL"): the statement below on the same event.
  ['jsonl+sql', 'zstd'], ['parquet+sql', 'zstd'],
];
/** The transform of the "+sql" cases: projections, casts, a nested field, a filter that keeps the orders (all). */
const BENCH_SQL = process.env.BENCH_SQL ?? "SELECT order_id, customer_id, lower(status) AS status, CAST(amount AS DECIMAL(12,2)) AS amount, CAST(created_at AS TIMESTAMPTZ) AS created_at, shipping.city AS city, express FROM input WHERE amount >= 0";

async function main(): Promise<void> {
  const work = join(ROOT, '.tmp/bench');
  mkdirSync(work, { recursive: true });
  const child = await bundle(join(ROOT, 'bench/child.ts'), join(work, 'child.mjs'));
  let compared: string | undefined;
  if (COMPARE) {
    writeFileSync(join(COMPARE, 'bench/.compared-stats.ts'), readFileSync(join(ROOT, 'bench/stats.ts')));
    writeFileSync(join(COMPARE, 'bench/.compared-child.ts'), readFileSync(join(ROOT, 'bench/child.ts'), 'utf8').replace("'./stats.ts'", "'./.compared-stats.ts'"));
    compared = await bundle(join(COMPARE, 'bench/.compared-child.ts'), join(work, 'child-compared.mjs'));
  }
  const event = benchEvent(3);
  const eventFile = join(work, 'event.json');
  writeFileSync(eventFile, event.text);
  const server = await startVersitygw();
  try {
    await createBucket(server, 'bench');
    const env = { ...process.env, POWERTOOLS_LOG_LEVEL: 'ERROR', POWERTOOLS_METRICS_DISABLED: 'true', BENCH_SQL };
    const runChild = (mode: string, format: string, compression: string, script = child) => {
      const prof = process.env.BENCH_CPU_PROF && mode === 'throughput' ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [];
      const out = execFileSync(process.execPath, [...prof, script, mode, format, compression, eventFile,
        server.endpoint, server.accessKeyId, server.secretAccessKey, String(ITERATIONS), String(server.pid ?? ''), String(WARMUPS)], { encoding: 'utf8', env, maxBuffer: 64 << 20 });
      const line = out.trim().split('\n').filter((l) => l.startsWith('{"records"')).pop();
      if (!line) throw new Error(`${format}+${compression}: the child printed no result`);
      return JSON.parse(line) as { records: number; cpuMs: number; serverCpuMs: number; wallMs: number; peakRssMb: number };
    };
    const only = process.env.BENCH_CASES?.split(',');
    const cases = CASES.filter(([f, c]) => f === 'floor' || !only || only.includes(`${f}+${c}`));
    const rows = cases.flatMap(([format, compression]) => [...(compared ? [compared] : []), child].map((script) => ({
      format, compression, script, name: script === child ? '' : ` (${COMPARE_NAME})`, cpu: [] as number[], server: [] as number[], wall: [] as number[], rss1: 0, rssRun: [] as number[], cold: [] as number[],
    })));
    // Processes interleaved (process 1 of every case, then process 2, …): a change in the machine's load hits all alike.
    for (let p = 0; p < PROCESSES; p++) {
      for (const row of rows) {
        const t = runChild('throughput', row.format, row.compression, row.script);
        if (t.records !== event.records) throw new Error(`${row.format}: handled ${t.records} of ${event.records} records`);
        row.cpu.push(t.cpuMs);
        row.server.push(t.serverCpuMs);
        row.wall.push(t.wallMs);
        row.rssRun.push(t.peakRssMb);
        const first = runChild('rss', row.format, row.compression, row.script);
        row.cold.push(first.cpuMs);
        if (p === 0) row.rss1 = first.peakRssMb;
        process.stderr.write(`  process ${p + 1}: ${row.format} + ${row.compression}${row.name}: ${t.cpuMs.toFixed(1)} CPU ms/event (S3 server ${t.serverCpuMs.toFixed(0)}), ${t.wallMs.toFixed(1)} ms wall\n`);
      }
    }
    const mb = event.valueBytes / 1e6;
    const floor = median(rows.find((r) => r.script === child)!.cpu);
    console.log(`\nNode ${process.version}; event ${(event.text.length / 1e6).toFixed(2)} MB (limit ${(PAYLOAD_LIMIT / 1e6).toFixed(2)} MB), ${event.records} records, ${mb.toFixed(2)} MB of value bytes; per case ${PROCESSES} fresh processes × ${ITERATIONS} events after ${WARMUPS} warm-up events; median (min–max) over the processes; CPU = user + system time of all the process's threads; S3 = versitygw on 127.0.0.1 (same machine), its CPU counted apart\n`);
    console.log('| format | compression | sink CPU ms / event | value MB per CPU-s | records per CPU-s | CPU ratio to floor | S3 server CPU ms / event | wall ms / event | cold: CPU ms to the end of the first event | peak RSS, one event (MB) | peak RSS, whole run (MB) |');
    console.log('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const r of rows) {
      const s = median(r.cpu) / 1000;
      console.log(`| ${r.format}${r.name} | ${r.compression} | ${fmt(r.cpu, 1)} | ${(mb / s).toFixed(1)} | ${Math.round(event.records / s).toLocaleString('en-US')} | ${(floor / median(r.cpu)).toFixed(2)} | ${fmt(r.server, 0)} | ${median(r.wall).toFixed(1)} | ${fmt(r.cold, 0)} | ${r.rss1.toFixed(0)} | ${fmt(r.rssRun, 0)} |`);
    }
    console.log('');
    for (const r of rows.filter((x) => x.script === child)) {
      const target = TARGETS[`${r.format}+${r.compression}`];
      if (target === undefined) continue;
      const got = mb / (median(r.cpu) / 1000);
      console.log(`target ${r.format}+${r.compression} ≥ ${target} MB per CPU-s: ${got.toFixed(1)} (${got >= target ? 'met' : `${((1 - got / target) * 100).toFixed(0)} % short`})`);
    }
    for (const r of rows.filter((x) => x.script === child && x.format.endsWith('+sql'))) {
      const plain = rows.find((x) => x.script === child && x.format === r.format.slice(0, -4) && x.compression === r.compression);
      if (plain) console.log(`TRANSFORM_SQL on ${r.format.slice(0, -4)}+${r.compression}: +${(median(r.cpu) - median(plain.cpu)).toFixed(0)} CPU ms per event, cold start +${(median(r.cold) - median(plain.cold)).toFixed(0)} CPU ms (statement: ${BENCH_SQL})`);
    }
    const over = rows.filter((r) => r.script === child && r.rss1 > RSS_TARGET_MB);
    console.log(`target peak RSS of one event ≤ ${RSS_TARGET_MB} MB: ${over.length === 0 ? 'met for every case' : `over for ${over.map((r) => `${r.format}+${r.compression} (${r.rss1.toFixed(0)} MB)`).join(', ')}`}`);
  } finally {
    await server.stop();
  }
}

await main();
