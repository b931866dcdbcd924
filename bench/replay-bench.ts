/**
 * `npm run bench:replay` — the replay (`npm start -- replay`) from versitygw into a real Kafka broker (both on
 * 127.0.0.1, sharing the machine's cores), against the ceiling: a bare @platformatic/kafka producer sending the same
 * records with the replay's settings (bare-producer.ts). The sink first lands BENCH_RECORDS (200,000) order events
 * of 3 partitions in a bucket per format (BENCH_CASES, default jsonl:zstd,parquet:zstd,avro:snappy). Each run is a
 * fresh process into a fresh topic, runs interleaved; records/s and value MB/s (process start to exit), CPU-seconds
 * per GB of values (the child's own user + system time), steady (without start-up: full run − a 10,000-record run),
 * and peak RSS; medians with the spread (min–max) of BENCH_RUNS (3) runs.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { loadSinkConfig } from '../lambdas/shared/config.ts';
import { SinkPipeline } from '../lambdas/shared/pipeline.ts';
import { kafkaEvent } from '../test/support/events.ts';
import { createTopic, startKafka } from '../test/support/kafka.ts';
import { createBucket, startVersitygw, type S3Endpoint } from '../test/support/versitygw.ts';
import { interleavedRuns, measuredChild, type MeasuredKind, type Usage } from './measure.ts';
import { benchRecords, PARTITIONS } from './replay-records.ts';

const RECORDS = Number(process.env.BENCH_RECORDS ?? 200_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const SMALL = 10_000;
const CASES = (process.env.BENCH_CASES ?? 'jsonl:zstd,parquet:zstd,avro:snappy').split(',').map((c) => c.split(':') as [string, string]);
const TMP = mkdtempSync(join(tmpdir(), 'replay-bench-'));

const s3Env = (s3: S3Endpoint) => ({ AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey, AWS_REGION: s3.region });

/** Lands `count` records through the sink in `bucket`, in events of 10,000; returns their value bytes. */
async function land(s3: S3Endpoint, bucket: string, count: number, format: string, compression: string): Promise<number> {
  await createBucket(s3, bucket);
  const client = new S3Client({ endpoint: s3.endpoint, region: s3.region, forcePathStyle: true, credentials: s3, requestHandler: new NodeHttpHandler() });
  const pipeline = new SinkPipeline(loadSinkConfig({ BUCKET_NAME: bucket, S3_ENDPOINT: s3.endpoint, FORMAT: format, COMPRESSION: compression }), client);
  let bytes = 0;
  let batch: Parameters<typeof kafkaEvent>[0] = [];
  const flush = async () => {
    const r = await pipeline.handle(kafkaEvent(batch));
    if (r.deadLettered > 0 || r.written !== batch.length) throw new Error(`sink wrote ${r.written} of ${batch.length}`);
    batch = [];
  };
  for (const r of benchRecords(count)) {
    bytes += Buffer.byteLength(r.value);
    batch.push({ topic: 'orders', partition: r.partition, offset: r.offset, timestamp: r.timestamp, key: r.key, value: r.value, headers: [['trace-id', r.trace]] });
    if (batch.length === 10_000) await flush();
  }
  if (batch.length > 0) await flush();
  await pipeline.close();
  return bytes;
}

let topics = 0;
async function freshTopic(bootstrap: string): Promise<string> {
  const topic = `bench-replay-${++topics}`;
  await createTopic(bootstrap, topic, PARTITIONS);
  return topic;
}

async function replay(bootstrap: string, s3: S3Endpoint, bucket: string): Promise<Usage> {
  const topic = await freshTopic(bootstrap);
  const state = mkdtempSync(join(TMP, 'state-'));
  return measuredChild(TMP, ['bin/runner.ts', 'replay', '--bucket', bucket, '--s3-endpoint', s3.endpoint, '--brokers', bootstrap, '--target-topic', topic, '--quiet', '--state', state], s3Env(s3));
}

async function bare(bootstrap: string, records: number): Promise<Usage> {
  const topic = await freshTopic(bootstrap);
  return measuredChild(TMP, ['bench/bare-producer.ts', bootstrap, topic, String(records)], {});
}

async function main(): Promise<void> {
  const [kafka, s3] = await Promise.all([startKafka(), startVersitygw()]);
  try {
    process.stderr.write(`landing ${RECORDS.toLocaleString('en-US')} records per format through the sink…\n`);
    let fullBytes = 0;
    let smallBytes = 0;
    const kinds: MeasuredKind[] = [['bare producer (ceiling)', (n) => bare(kafka.bootstrap, n)]];
    for (const [format, compression] of CASES) {
      const full = `replay-${format}-full`;
      const small = `replay-${format}-small`;
      fullBytes = await land(s3, full, RECORDS, format, compression);
      smallBytes = await land(s3, small, SMALL, format, compression);
      kinds.push([`replay of ${format}+${compression} objects`, (n) => replay(kafka.bootstrap, s3, n === SMALL ? small : full)]);
    }
    const gbFull = fullBytes / 1e9;
    const gbSmall = smallBytes / 1e9;
    const { rows } = await interleavedRuns(kinds, { runs: RUNS, full: RECORDS, small: SMALL, gbFull, gbSmall });
    console.log(`\nReplay from versitygw into a real Kafka 4.1 broker, both on 127.0.0.1 (same 2 cores), against a bare producer of the same records; ${RECORDS.toLocaleString('en-US')} order events (${(gbFull * 1000).toFixed(1)} MB of values) in ${PARTITIONS} partitions, landed by the sink; 10,000 records per produce request, idempotent, acks=all; median (min–max) of ${RUNS} runs, each a fresh process and topic; CPU = the child's user + system time; steady = without start-up (full run − ${SMALL.toLocaleString('en-US')}-record run); Node ${process.version}\n`);
    console.log('| process | records/s | value MB/s | CPU-s/GB, whole run | CPU-s/GB, steady | peak RSS (MB) |');
    console.log('|---|---:|---:|---:|---:|---:|');
    for (const r of rows) console.log(r);
  } finally {
    await Promise.all([kafka.stop(), s3.stop()]);
    rmSync(TMP, { recursive: true, force: true });
  }
}

await main();
