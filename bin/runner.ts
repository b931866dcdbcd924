#!/usr/bin/env node
/**
 * The local runner: the sink handler that runs in Lambda, driven with the Kafka event source mapping's semantics.
 *   npm start                       built-in sample orders → local directory (.tmp/local-s3), Parquet
 *   npm start -- --brokers 127.0.0.1:9092 --topics orders --bucket my-bucket --s3-endpoint http://127.0.0.1:7070
 * Sink settings come from the same environment variables the function uses (FORMAT, KEY_TEMPLATE, …).
 */
import { parseArgs } from 'node:util';
import { S3Client } from '@aws-sdk/client-s3';
import { fromIni } from '@aws-sdk/credential-providers';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { loadSinkConfig } from '../lambdas/shared/config.ts';
import { ConfigError } from '../lambdas/shared/errors.ts';
import { createSinkHandler } from '../lambdas/sink/app.ts';
import { KafkaSource } from './runner/kafka-source.ts';
import { LocalObjectStore } from './runner/local-store.ts';
import { abortStaleUploads } from './runner/stale-uploads.ts';
import { runPipeline, type RunnerSourceLike, type RunnerStats } from './runner/runner.ts';
import { fileRecords, sampleRecords } from './runner/sample-source.ts';

const HELP = `kafka-s3 local runner

Source (default: built-in sample orders)
  --brokers host:port[,…]     read Kafka with a consumer group instead
  --topics a,b                topics to read (Kafka)               default orders
  --group id                  consumer group                       default kafka-s3-local
  --records n                 sample records to generate           default 20000
  --partitions n              sample partitions                    default 3
  --input file.jsonl          use the lines of a file as values instead of generated orders
Destination (default: a local directory laid out like the bucket)
  --out dir                   local directory                      default .tmp/local-s3
  --bucket name               write to S3 instead
  --s3-endpoint url           S3 endpoint (local servers); path-style addressing
  --region r                  default us-east-1 (or AWS_REGION)
  --profile name              credentials of this profile in ~/.aws (default: the AWS default chain)
Batching and retries, as the event source mapping
  --batch-size n              records per invocation at most       default 10000
  --window-ms n               batching window                      default 500
  --bisect                    retry a failed batch as its first half
  --max-attempts n            give up (uncommitted) after n failed attempts of one batch   default unlimited
  --stop-after n              stop once n records are committed (Kafka)
Output
  --quiet                     no progress display
Sink settings: the function's environment variables (FORMAT, COMPRESSION, KEY_TEMPLATE, FIELDS, …; see README).
`;

const { values: args } = parseArgs({
  options: {
    brokers: { type: 'string' }, topics: { type: 'string', default: 'orders' }, group: { type: 'string', default: 'kafka-s3-local' },
    records: { type: 'string', default: '20000' }, partitions: { type: 'string', default: '3' }, input: { type: 'string' },
    out: { type: 'string', default: '.tmp/local-s3' }, bucket: { type: 'string' }, 's3-endpoint': { type: 'string' }, region: { type: 'string' },
    profile: { type: 'string' },
    'batch-size': { type: 'string', default: '10000' }, 'window-ms': { type: 'string', default: '500' }, bisect: { type: 'boolean', default: false },
    'max-attempts': { type: 'string' }, 'stop-after': { type: 'string' }, quiet: { type: 'boolean', default: false }, help: { type: 'boolean', default: false },
  },
  strict: true,
});

function intFlag(name: string, value: string | undefined, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) {
    console.error(`--${name}=${value}: expected an integer from ${min} to ${max}`);
    process.exit(2);
  }
  return n;
}

function table(rows: [string, string][]): string {
  const w = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `  ${k.padEnd(w)}  ${v}`).join('\n');
}

const mb = (n: number) => `${(n / 1e6).toFixed(2)} MB`;

async function main(): Promise<void> {
  if (args.help) {
    console.log(HELP);
    return;
  }
  const batchSize = intFlag('batch-size', args['batch-size'], 1, 10_000)!;
  const windowMs = intFlag('window-ms', args['window-ms'], 0, 300_000)!;
  const local = args.bucket === undefined;
  const region = args.region ?? process.env.AWS_REGION ?? 'us-east-1';
  const env: Record<string, string | undefined> = {
    // The embedded default lands Parquet you can query; any sink variable in the environment wins.
    ...(local ? { FORMAT: 'parquet' } : {}),
    ...process.env,
    BUCKET_NAME: args.bucket ?? 'local-bucket',
    ...(args['s3-endpoint'] ? { S3_ENDPOINT: args['s3-endpoint'] } : {}),
    // A local batch never needs multipart; remote uploads keep the configured threshold.
    ...(local ? { MULTIPART_THRESHOLD_BYTES: String(5 * 1024 ** 3), PART_SIZE_BYTES: String(5 * 1024 ** 3) } : {}),
  };
  // Powertools reads these from the process: the function's per-batch logs and EMF lines would bury the progress display.
  process.env.POWERTOOLS_LOG_LEVEL ??= 'WARN';
  process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
  let settings;
  try {
    settings = loadSinkConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(2);
    }
    throw err;
  }
  const store = local ? new LocalObjectStore(args.out!) : undefined;
  // A request that hangs is abandoned after 15 s and retried (S3_MAX_ATTEMPTS), as a Lambda's SDK client would.
  const s3 = store ?? new S3Client({
    region, maxAttempts: settings.s3MaxAttempts, retryMode: 'adaptive',
    ...(args.profile ? { credentials: fromIni({ profile: args.profile }) } : {}),
    requestHandler: new NodeHttpHandler({ requestTimeout: 15_000, connectionTimeout: 3_000, httpAgent: { keepAlive: true } as never }),
    ...(args['s3-endpoint'] ? { endpoint: args['s3-endpoint'], forcePathStyle: true } : {}),
  });
  if (!store) {
    const aborted = await abortStaleUploads(s3 as S3Client, settings.bucket, [settings.prefix, settings.errorPrefix], new Date());
    if (aborted > 0 && !args.quiet) console.error(`aborted ${aborted} multipart upload(s) an earlier run left open`);
  }
  let handler;
  try {
    handler = createSinkHandler({ env, s3: s3 as never });
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(2);
    }
    throw err;
  }

  let source: RunnerSourceLike;
  const topics = args.topics!.split(',').map((t) => t.trim()).filter(Boolean);
  if (args.brokers) {
    source = new KafkaSource({ brokers: args.brokers.split(','), topics, groupId: args.group! });
  } else {
    const partitions = intFlag('partitions', args.partitions, 1, 1000)!;
    const records = intFlag('records', args.records, 1, 100_000_000)!;
    const startTime = Date.UTC(2026, 0, 1);
    source = {
      records: () => (args.input ? fileRecords(args.input, topics[0], partitions, startTime) : sampleRecords({ topic: topics[0], partitions, records, startTime })),
      commit: async () => {},
      describe: () => ({ eventSource: 'SelfManagedKafka', bootstrapServers: 'sample' }),
      close: async () => {},
    };
  }

  const controller = new AbortController();
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      if (!args.quiet) process.stderr.write(`\n${sig}: finishing the batch in flight, then stopping (uncommitted records are read again next time)\n`);
      controller.abort();
    });
  }
  const tty = process.stderr.isTTY && !args.quiet;
  let lastLine = 0;
  let lag: number | undefined;
  const lagTimer = source.lag && !args.quiet
    ? setInterval(() => void source.lag!().then((l) => { lag = l; }), 2000).unref()
    : undefined;
  const progress = (s: RunnerStats) => {
    const secs = (Date.now() - s.startedAt) / 1000;
    const line = `${s.committed.toLocaleString('en-US')} records · ${(s.committed / secs).toFixed(0)} rec/s · ${mb(s.valueBytes)} · ${(s.valueBytes / 1e6 / secs).toFixed(1)} MB/s · ${s.objects} objects · ${s.deadLettered} dead letters · ${s.retries} retries${lag === undefined ? '' : ` · lag ${lag.toLocaleString('en-US')}`}`;
    if (tty) process.stderr.write(`\r\x1b[2K${line}`);
    else if (!args.quiet && Date.now() - lastLine > 5000) {
      lastLine = Date.now();
      console.error(line);
    }
  };

  const maxAttempts = intFlag('max-attempts', args['max-attempts'], 1, 1_000_000);
  const stats = await runPipeline({
    source, handler,
    batch: { batchSize, windowMs },
    retry: { bisectOnError: args.bisect!, baseDelayMs: 200, maxDelayMs: 10_000, ...(maxAttempts ? { maxAttempts } : {}) },
    stopAfter: intFlag('stop-after', args['stop-after'], 1, Number.MAX_SAFE_INTEGER),
    onProgress: progress,
    onRetry: (attempt, records, err, delay) => {
      if (!args.quiet) process.stderr.write(`${tty ? '\n' : ''}batch of ${records} records failed (attempt ${attempt}): ${(err as Error).message}; retrying in ${delay} ms\n`);
    },
    signal: controller.signal,
  }).finally(() => {
    if (lagTimer) clearInterval(lagTimer);
    return source.close();
  });
  if (tty) process.stderr.write('\n');

  const secs = (Date.now() - stats.startedAt) / 1000;
  console.log(`\nkafka-s3 runner summary (${handler.config.format}, ${handler.config.compression})`);
  console.log(table([
    ['records in', stats.recordsIn.toLocaleString('en-US')],
    ['written', stats.written.toLocaleString('en-US')],
    ['filtered', stats.filtered.toLocaleString('en-US')],
    ['tombstones ignored', stats.tombstonesIgnored.toLocaleString('en-US')],
    ['dead-lettered', stats.deadLettered.toLocaleString('en-US')],
    ['committed', stats.committed.toLocaleString('en-US')],
    ['invocations', `${stats.batches} (${stats.retries} retries)`],
    ['objects', `${stats.objects} (${mb(stats.bytes)})`],
    ['value bytes', mb(stats.valueBytes)],
    ['throughput', `${(stats.committed / secs).toFixed(0)} records/s, ${(stats.valueBytes / 1e6 / secs).toFixed(1)} MB/s`],
    ['destination', store ? `${store.root}/${env.BUCKET_NAME}/` : `s3://${args.bucket}/`],
  ]));
  if (store) {
    const root = `${store.root}/${env.BUCKET_NAME}/${handler.config.prefix}`;
    const q = handler.config.format === 'parquet'
      ? `duckdb -c "SELECT status, count(*) AS orders, round(sum(amount), 2) AS revenue FROM read_parquet('${root}**/*.parquet') GROUP BY status ORDER BY orders DESC"`
      : `ls -R ${root}`;
    console.log(`\nQuery what landed:\n  ${q}\n  (or in Python: pyarrow.parquet.read_table('${root}'))`);
  }
}

main().catch((err) => {
  console.error(err instanceof Error ? err.stack ?? err.message : err);
  process.exit(1);
});
