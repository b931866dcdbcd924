/**
 * `npm run bench:parallel` — would encoding one batch across worker threads pay on a function with several vCPUs?
 * (issue 14; a benchmark, not a test: nothing is asserted.) The bundled sink handles the bench event (10,000 orders,
 * 6 MB, PARTITIONS partitions, default 6) inline as deployed, or with its partitions dealt to 1, 2, 3 or 6 worker
 * threads that each run the same handler on their share (bench/parallel-child.ts). Each configuration runs in a
 * fresh process pinned with `taskset` to 1 core (a 1,769 MB function: one vCPU) and to 2 cores (3,538 MB), PROCESSES
 * (3) times interleaved, ITERATIONS (10) events after WARMUPS (10); wall ms per event (the median event of a process)
 * and CPU ms per event (all threads), median (min–max) over the processes. This machine has 2 cores, so 6 vCPUs
 * (10,240 MB) cannot be measured here; the README projects it from the 1- and 2-core figures. versitygw (the S3
 * server) is not pinned and shares the cores. Env: FORMAT (jsonl), COMPRESSION (zstd), PARTITIONS, PROCESSES,
 * BENCH_ITERATIONS, BENCH_WARMUPS.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundle } from '../scripts/bundle.mjs';
import { createBucket, startVersitygw } from '../test/support/versitygw.ts';
import { benchEvent } from './orders.ts';
import { fmt, median } from './stats.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const PARTITIONS = Number(process.env.PARTITIONS ?? 6);
const PROCESSES = Number(process.env.PROCESSES ?? 3);
const ITERATIONS = Number(process.env.BENCH_ITERATIONS ?? 10);
const WARMUPS = Number(process.env.BENCH_WARMUPS ?? 10);
const FORMAT = process.env.FORMAT ?? 'jsonl';
const COMPRESSION = process.env.COMPRESSION ?? 'zstd';

async function main(): Promise<void> {
  const work = join(ROOT, '.tmp/bench');
  mkdirSync(work, { recursive: true });
  const child = await bundle(join(ROOT, 'bench/parallel-child.ts'), join(work, 'parallel-child.mjs'));
  const event = benchEvent(PARTITIONS);
  const eventFile = join(work, `event-${PARTITIONS}.json`);
  writeFileSync(eventFile, event.text);
  const cores = availableParallelism();
  const cpuSets = [[1, '0'], ...(cores >= 2 ? [[2, '0,1']] : [])] as [number, string][];
  const workerCounts = [0, 1, 2, 3, 6].filter((w) => w <= PARTITIONS);
  const server = await startVersitygw();
  try {
    await createBucket(server, 'bench');
    const rows = cpuSets.flatMap(([vcpus, set]) => workerCounts.map((workers) => ({ vcpus, set, workers, wall: [] as number[], cpu: [] as number[] })));
    const env = { ...process.env, FORMAT, COMPRESSION, POWERTOOLS_LOG_LEVEL: 'ERROR', POWERTOOLS_METRICS_DISABLED: 'true' };
    for (let p = 0; p < PROCESSES; p++) {
      for (const row of rows) {
        const out = execFileSync('taskset', ['-c', row.set, process.execPath, child, String(row.workers), eventFile,
          server.endpoint, server.accessKeyId, server.secretAccessKey, String(ITERATIONS), String(WARMUPS)], { encoding: 'utf8', env, maxBuffer: 64 << 20 });
        const r = JSON.parse(out.trim().split('\n').pop()!) as { records: number; cpuMs: number; wallMs: number };
        if (r.records !== event.records) throw new Error(`handled ${r.records} of ${event.records} records`);
        row.wall.push(r.wallMs);
        row.cpu.push(r.cpuMs);
        process.stderr.write(`  process ${p + 1}: ${row.vcpus} core(s), ${row.workers} workers: ${r.wallMs.toFixed(1)} ms wall, ${r.cpuMs.toFixed(1)} CPU ms per event\n`);
      }
    }
    console.log(`\nNode ${process.version}; ${FORMAT}+${COMPRESSION}; event ${(event.text.length / 1e6).toFixed(2)} MB, ${event.records} records in ${PARTITIONS} partitions; ${PROCESSES} fresh processes × ${ITERATIONS} events after ${WARMUPS} warm-ups, pinned with taskset; median (min–max) over the processes; S3 server unpinned on the same ${cores} cores\n`);
    console.log('| cores | encoding | wall ms / event | CPU ms / event (all threads) | wall vs inline on these cores |');
    console.log('|---:|---|---:|---:|---:|');
    for (const row of rows) {
      const inline = rows.find((r) => r.vcpus === row.vcpus && r.workers === 0)!;
      console.log(`| ${row.vcpus} | ${row.workers === 0 ? 'inline (as deployed)' : `${row.workers} worker thread${row.workers > 1 ? 's' : ''}`} | ${fmt(row.wall, 1)} | ${fmt(row.cpu, 1)} | ${(median(inline.wall) / median(row.wall)).toFixed(2)}× |`);
    }
  } finally {
    await server.stop();
  }
}

await main();
