/**
 * `npm run bench` — end-to-end sink throughput (a benchmark, not a test: nothing is asserted).
 * For each format and compression, a fresh process runs the esbuild-bundled sink (as deployed) on a generated MSK
 * event at the 6 MB invoke payload limit (realistic order events): event JSON parse → decode → encode → compress →
 * upload to versitygw on 127.0.0.1. The floor is parse + decode + upload of the raw value bytes. Each case also
 * runs once in another fresh process to measure the peak RSS of handling one event (a cold Lambda invocation).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundle } from '../scripts/bundle.mjs';
import { kafkaEvent, orderValue, type RecordSpec } from '../test/support/events.ts';
import { createBucket, startVersitygw } from '../test/support/versitygw.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const PAYLOAD_LIMIT = 6 * 1024 * 1024;
const MAX_RECORDS = 10_000;
const ITERATIONS = Number(process.env.BENCH_ITERATIONS ?? 15);
const CASES: [string, string][] = [
  ['floor', '-'],
  ['jsonl', 'none'], ['jsonl', 'gzip'], ['jsonl', 'zstd'],
  ['csv_with_headers', 'zstd'], ['text', 'zstd'], ['bytes', 'zstd'],
  ['avro', 'null'], ['avro', 'snappy'], ['avro', 'zstandard'],
  ['parquet', 'snappy'], ['parquet', 'zstd'],
];

/** An order event of about 400 bytes: 10,000 of them fill the 6 MB invoke payload, as in a full batch. */
function benchOrder(i: number): Record<string, unknown> {
  return {
    ...orderValue(i),
    shipping: { name: `Customer ${i % 5000}`, street: `${(i % 300) + 1} Long Street`, city: ['Berlin', 'Lyon', 'Porto', 'Graz'][i % 4], zip: String(10_000 + (i % 80_000)), country: 'DE' },
    lines: [{ sku: `SKU-${i % 977}`, qty: (i % 3) + 1, price: 19.99 }],
  };
}

/** Records across 3 partitions, as many as fit the 6 MB payload (at most 10,000), measured on the real JSON. */
function buildEvent(): { text: string; records: number; valueBytes: number } {
  const specs: RecordSpec[] = [];
  let size = JSON.stringify(kafkaEvent([])).length + 3 * 32;
  let valueBytes = 0;
  for (let i = 0; specs.length < MAX_RECORDS; i++) {
    const spec: RecordSpec = {
      topic: 'orders', partition: i % 3, offset: 5_000_000 + i, timestamp: 1_767_225_600_000 + i * 10,
      key: `cust-${i % 5000}`, value: JSON.stringify(benchOrder(i)), headers: [['trace-id', `t-${i}`]],
    };
    const one = JSON.stringify((kafkaEvent([spec]).records as Record<string, unknown[]>)[`orders-${i % 3}`][0]).length + 1;
    if (size + one > PAYLOAD_LIMIT) break;
    size += one;
    valueBytes += Buffer.byteLength(spec.value as string);
    specs.push(spec);
  }
  const text = JSON.stringify(kafkaEvent(specs));
  if (text.length > PAYLOAD_LIMIT) throw new Error(`event is ${text.length} bytes, over the payload limit`);
  return { text, records: specs.length, valueBytes };
}

async function main(): Promise<void> {
  const work = join(ROOT, '.tmp/bench');
  mkdirSync(work, { recursive: true });
  const child = await bundle(join(ROOT, 'bench/child.ts'), join(work, 'child.mjs'));
  const event = buildEvent();
  const eventFile = join(work, 'event.json');
  writeFileSync(eventFile, event.text);
  const server = await startVersitygw();
  try {
    await createBucket(server, 'bench');
    const env = { ...process.env, POWERTOOLS_LOG_LEVEL: 'ERROR', POWERTOOLS_METRICS_DISABLED: 'true' };
    const runChild = (mode: string, format: string, compression: string) => {
      const out = execFileSync(process.execPath, ['--expose-gc', child, mode, format, compression, eventFile,
        server.endpoint, server.accessKeyId, server.secretAccessKey, String(ITERATIONS)], { encoding: 'utf8', env, maxBuffer: 64 << 20 });
      return JSON.parse(out.trim().split('\n').filter((l) => l.startsWith('{"records"')).pop() ?? 'null') as { ms: number; peakRssMb: number; records: number };
    };
    const rows: { format: string; compression: string; ms: number; rss1: number; rssRun: number }[] = [];
    const only = process.env.BENCH_CASES?.split(',');
    for (const [format, compression] of CASES.filter(([f, c]) => f === 'floor' || !only || only.includes(`${f}+${c}`))) {
      const t = runChild('throughput', format, compression);
      const one = runChild('rss', format, compression);
      if (t.records !== event.records) throw new Error(`${format}: handled ${t.records} of ${event.records} records`);
      rows.push({ format, compression, ms: t.ms, rss1: one.peakRssMb, rssRun: t.peakRssMb });
      process.stderr.write(`  measured ${format} + ${compression}\n`);
    }
    const mb = event.valueBytes / 1e6;
    const floor = rows[0].ms;
    console.log(`\nNode ${process.version}; event ${(event.text.length / 1e6).toFixed(2)} MB (limit ${(PAYLOAD_LIMIT / 1e6).toFixed(2)} MB), ${event.records} records, ${mb.toFixed(2)} MB of value bytes; median of ${ITERATIONS} after 3 warm-up runs; one process = one core; S3 = versitygw on 127.0.0.1 (same machine)\n`);
    console.log('| format | compression | ms / event | value MB/s | records/s | ratio to floor | peak RSS, one event (MB) | peak RSS, whole run (MB) |');
    console.log('|---|---|---:|---:|---:|---:|---:|---:|');
    for (const r of rows) {
      const s = r.ms / 1000;
      console.log(`| ${r.format} | ${r.compression} | ${r.ms.toFixed(1)} | ${(mb / s).toFixed(1)} | ${Math.round(event.records / s).toLocaleString('en-US')} | ${(floor / r.ms).toFixed(2)} | ${r.rss1.toFixed(0)} | ${r.rssRun.toFixed(0)} |`);
    }
  } finally {
    await server.stop();
  }
}

await main();
