/**
 * `npm run bench:runner` — the local runner on a real Kafka broker into versitygw (both on 127.0.0.1, sharing the
 * machine's cores): throughput per format (records/s and MB/s of value bytes, runner process start to last commit),
 * and the delay from produce to object visible in S3 with the default batching window.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { Producer } from '@platformatic/kafka';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { sampleOrder } from '../bin/runner/sample-source.ts';
import { createTopic, startKafka } from '../test/support/kafka.ts';
import { createBucket, startVersitygw, type S3Endpoint } from '../test/support/versitygw.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const RECORDS = Number(process.env.BENCH_RECORDS ?? 200_000);
const CASES: [string, string][] = [['jsonl', 'zstd'], ['csv_with_headers', 'zstd'], ['avro', 'snappy'], ['parquet', 'zstd']];

function runRunner(bootstrap: string, s3: S3Endpoint, args: string[], env: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const t = performance.now();
    const child = spawn(process.execPath, ['bin/runner.ts', '--brokers', bootstrap, '--s3-endpoint', s3.endpoint, '--quiet', ...args], {
      cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'],
      env: { ...process.env, AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey, AWS_REGION: s3.region, ...env },
    });
    child.once('exit', (code) => (code === 0 ? resolve(performance.now() - t) : reject(new Error(`runner exited ${code}`))));
  });
}

async function main(): Promise<void> {
  const [kafka, s3] = await Promise.all([startKafka(), startVersitygw()]);
  const client = new S3Client({ endpoint: s3.endpoint, region: s3.region, forcePathStyle: true, credentials: s3, requestHandler: new NodeHttpHandler() });
  try {
    await createTopic(kafka.bootstrap, 'bench-orders', 3);
    const producer = new Producer({ clientId: 'bench', bootstrapBrokers: [kafka.bootstrap], idempotent: true });
    let valueBytes = 0;
    for (let start = 0; start < RECORDS; start += 2000) {
      const messages = Array.from({ length: Math.min(2000, RECORDS - start) }, (_, j) => {
        const i = start + j;
        const value = Buffer.from(JSON.stringify(sampleOrder(i, Date.UTC(2026, 0, 1) + i)));
        valueBytes += value.length;
        return { topic: 'bench-orders', key: Buffer.from(`cust-${i % 5000}`), value, headers: new Map([[Buffer.from('trace-id'), Buffer.from(`t-${i}`)]]) };
      });
      await producer.send({ messages: messages as never });
    }
    const rows: string[] = [];
    for (const [format, compression] of CASES) {
      const bucket = `bench-${format.replace(/_/g, '-')}`;
      await createBucket(s3, bucket);
      const ms = await runRunner(kafka.bootstrap, s3, ['--topics', 'bench-orders', '--group', `bench-${format}`, '--bucket', bucket, '--stop-after', String(RECORDS), '--window-ms', '500'], { FORMAT: format, COMPRESSION: compression });
      rows.push(`| ${format} | ${compression} | ${RECORDS.toLocaleString('en-US')} | ${(ms / 1000).toFixed(1)} | ${Math.round(RECORDS / (ms / 1000)).toLocaleString('en-US')} | ${(valueBytes / 1e6 / (ms / 1000)).toFixed(1)} |`);
      process.stderr.write(`  measured ${format}\n`);
    }

    // Produce to visible: one record a second while a runner is running with the default 500 ms window.
    await createTopic(kafka.bootstrap, 'bench-latency', 1);
    await createBucket(s3, 'bench-latency');
    const child = spawn(process.execPath, ['bin/runner.ts', '--brokers', kafka.bootstrap, '--topics', 'bench-latency', '--group', 'latency', '--bucket', 'bench-latency', '--s3-endpoint', s3.endpoint, '--quiet', '--window-ms', '500'], {
      cwd: ROOT, stdio: 'ignore', env: { ...process.env, AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey, AWS_REGION: s3.region, FORMAT: 'jsonl', COMPRESSION: 'none' },
    });
    await new Promise((r) => setTimeout(r, 4000)); // consumer group joined
    const delays: number[] = [];
    const seen = new Set<string>();
    for (let i = 0; i < 10; i++) {
      const sent = Date.now();
      await producer.send({ messages: [{ topic: 'bench-latency', key: Buffer.from('k'), value: Buffer.from(JSON.stringify({ probe: i })) }] as never });
      for (;;) {
        const list = await client.send(new ListObjectsV2Command({ Bucket: 'bench-latency' }));
        const fresh = (list.Contents ?? []).filter((o) => !seen.has(o.Key!));
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
    delays.sort((a, b) => a - b);
    console.log(`\nRunner on a real Kafka 4.1 broker → versitygw, both on 127.0.0.1 (same 2 cores); ${RECORDS.toLocaleString('en-US')} order events (${(valueBytes / 1e6).toFixed(1)} MB of values) in 3 partitions; batch size 10,000, window 500 ms; time from runner start to its last commit (process start, group join and Kafka fetches included); Node ${process.version}\n`);
    console.log('| format | compression | records | seconds | records/s | value MB/s |');
    console.log('|---|---|---:|---:|---:|---:|');
    for (const r of rows) console.log(r);
    console.log(`\nProduce → object visible in S3 (10 single records, window 500 ms): median ${delays[5]} ms, min ${delays[0]} ms, max ${delays[9]} ms`);
  } finally {
    await Promise.all([kafka.stop(), s3.stop()]);
  }
}

await main();
