/**
 * `npm run bench` — end-to-end sink throughput (not a test: no assertions). For each format and compression, a
 * child process handles generated MSK events at the 6 MB payload limit: event JSON parse → decode → encode →
 * compress → upload to versitygw on 127.0.0.1. The floor is decode + upload of the raw value bytes.
 * Prints MB/s of value bytes, records/s, ratio to the floor and the child's peak RSS, per core (one process).
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { decodeEvent } from '../lambdas/shared/decode.ts';
import { createSinkHandler } from '../lambdas/sink/app.ts';
import { kafkaEvent, orderValue, type RecordSpec } from '../test/support/events.ts';
import { createBucket, s3ClientFor, startVersitygw, type S3Endpoint } from '../test/support/versitygw.ts';

const PAYLOAD_LIMIT = 6 * 1024 * 1024;
const CASES: [string, string][] = [
  ['floor', '-'],
  ['jsonl', 'none'], ['jsonl', 'gzip'], ['jsonl', 'zstd'],
  ['csv_with_headers', 'zstd'], ['text', 'zstd'], ['bytes', 'zstd'],
  ['avro', 'null'], ['avro', 'snappy'], ['avro', 'zstandard'],
  ['parquet', 'snappy'], ['parquet', 'zstd'],
];
const ITERATIONS = Number(process.env.BENCH_ITERATIONS ?? 12);

/** An order event of about 430 bytes: 10,000 of them fill the 6 MB invoke payload, as in a full batch. */
function benchOrder(i: number): Record<string, unknown> {
  return {
    ...orderValue(i),
    shipping: { name: `Customer ${i % 5000}`, street: `${(i % 300) + 1} Long Street`, city: ['Berlin', 'Lyon', 'Porto', 'Graz'][i % 4], zip: String(10_000 + (i % 80_000)), country: 'DE' },
    lines: [{ sku: `SKU-${i % 977}`, qty: (i % 3) + 1, price: 19.99 }, { sku: `SKU-${(i * 7) % 977}`, qty: 1, price: 5.5 }],
    channel: 'web',
  };
}

/** Realistic order events with Kafka metadata, as many as fit the 6 MB invoke payload (about 10,000). */
function eventText(): { text: string; records: number; valueBytes: number } {
  const specs: RecordSpec[] = [];
  let size = 200;
  let valueBytes = 0;
  for (let i = 0; ; i++) {
    const value = JSON.stringify(benchOrder(i));
    const spec: RecordSpec = { topic: 'orders', partition: i % 3, offset: 1_000_000 + i, key: `cust-${i % 5000}`, value, headers: [['trace-id', `t${i}`]] };
    const approx = Math.ceil(value.length / 3) * 4 + 150;
    if (size + approx > PAYLOAD_LIMIT - 64 * 1024 || specs.length === 10_000) break;
    size += approx;
    valueBytes += Buffer.byteLength(value);
    specs.push(spec);
  }
  const text = JSON.stringify(kafkaEvent(specs));
  return { text, records: specs.length, valueBytes };
}

async function child(format: string, compression: string, s3: S3Endpoint): Promise<void> {
  const { text, records, valueBytes } = eventText();
  const bucket = 'bench';
  const client = s3ClientFor(s3);
  let run: () => Promise<void>;
  if (format === 'floor') {
    run = async () => {
      const decoded = decodeEvent(JSON.parse(text));
      let n = 0;
      for (const p of decoded.partitions) {
        const body = Buffer.concat(p.records.map((r) => r.value!));
        await client.send(new PutObjectCommand({ Bucket: bucket, Key: `floor/${p.partition}/${n++}`, Body: body }));
      }
    };
  } else {
    const handler = createSinkHandler({
      env: { BUCKET_NAME: bucket, FORMAT: format, COMPRESSION: compression, S3_ENDPOINT: s3.endpoint, POWERTOOLS_METRICS_DISABLED: 'true',
        ...(format === 'text' || format === 'bytes' ? { VALUE_ENCODING: 'text' } : {}) },
      s3: client,
    });
    const ctx = { functionName: 'bench', awsRequestId: 'bench' } as never;
    run = async () => {
      const r = await handler(JSON.parse(text), ctx);
      if (r.written !== records) throw new Error(`wrote ${r.written} of ${records}`);
    };
  }
  for (let i = 0; i < 3; i++) await run();
  const times: number[] = [];
  for (let i = 0; i < ITERATIONS; i++) {
    (globalThis as { gc?: () => void }).gc?.();
    const t = performance.now();
    await run();
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)] / 1000;
  process.stdout.write(JSON.stringify({
    format, compression, records, eventBytes: text.length, valueBytes,
    mbps: valueBytes / 1e6 / median, rps: records / median, ms: median * 1000,
    peakRssMb: process.resourceUsage().maxRSS / 1024,
  }) + '\n');
}

async function main(): Promise<void> {
  const [mode, format, compression, endpoint, accessKeyId, secretAccessKey] = process.argv.slice(2);
  if (mode === '--child') {
    await child(format, compression, { endpoint, region: 'us-east-1', accessKeyId, secretAccessKey });
    return;
  }
  // Quiet the sink's structured logs: they are not what is measured.
  process.env.POWERTOOLS_LOG_LEVEL = 'ERROR';
  const server = await startVersitygw();
  try {
    await createBucket(server, 'bench');
    const self = fileURLToPath(import.meta.url);
    const rows: Record<string, number | string>[] = [];
    for (const [format, compression] of CASES) {
      const out = execFileSync(process.execPath, ['--expose-gc', self, '--child', format, compression, server.endpoint, server.accessKeyId, server.secretAccessKey], {
        encoding: 'utf8', env: { ...process.env, POWERTOOLS_LOG_LEVEL: 'ERROR', POWERTOOLS_METRICS_DISABLED: 'true' }, maxBuffer: 64 * 1024 * 1024,
      });
      const line = out.trim().split('\n').filter((l) => l.startsWith('{"format"')).pop();
      if (!line) throw new Error(`no result for ${format}+${compression}: ${out.slice(-500)}`);
      rows.push(JSON.parse(line));
      process.stderr.write(`  measured ${format}+${compression}\n`);
    }
    const floor = rows[0].mbps as number;
    const first = rows[1];
    console.log(`\nNode ${process.version}, ${first.records} records per event, event ${(Number(first.eventBytes) / 1e6).toFixed(2)} MB, value bytes ${(Number(first.valueBytes) / 1e6).toFixed(2)} MB, median of ${ITERATIONS}, one process (one core)\n`);
    console.log('| format | compression | ms / event | value MB/s | records/s | ratio to floor | peak RSS MB |');
    console.log('|---|---|---:|---:|---:|---:|---:|');
    for (const r of rows) {
      console.log(`| ${r.format} | ${r.compression} | ${(r.ms as number).toFixed(1)} | ${(r.mbps as number).toFixed(1)} | ${Math.round(r.rps as number).toLocaleString('en-US')} | ${((r.mbps as number) / floor).toFixed(2)} | ${(r.peakRssMb as number).toFixed(0)} |`);
    }
  } finally {
    await server.stop();
  }
}

await main();
