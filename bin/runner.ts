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
import { ClaimConflictError } from '../lambdas/shared/progress.ts';
import { createSinkHandler } from '../lambdas/sink/app.ts';
import { releaseStaleClaims } from './runner/claims.ts';
import { KafkaSource } from './runner/kafka-source.ts';
import { landingHint } from './runner/landed.ts';
import { LocalObjectStore } from './runner/local-store.ts';
import { abortStaleUploads } from './runner/stale-uploads.ts';
import { INVOCATION_TIMEOUT_MS, runPipeline, type Handler, type RunnerSourceLike, type RunnerStats } from './runner/runner.ts';
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
                              (waiting for another invocation's claim on a partition is not a failed attempt)
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
  let sink;
  try {
    sink = createSinkHandler({ env, s3: s3 as never });
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(2);
    }
    throw err;
  }
  const config = sink.config;
  // As Lambda ends a function at its timeout: an invocation past its deadline stops the process, so that nothing of
  // it is still writing when its claims expire (a minute after the deadline) and another invocation takes them over.
  const handler: Handler = async (event, context) => {
    const watchdog = setTimeout(() => {
      console.error(`\nan invocation ran past its ${INVOCATION_TIMEOUT_MS / 60_000}-minute deadline: stopping, as Lambda ends a function at its timeout (its records stay uncommitted)`);
      process.exit(1);
    }, INVOCATION_TIMEOUT_MS);
    try {
      return await sink(event, context);
    } finally {
      clearTimeout(watchdog);
    }
  };

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
    const already = s.alreadyWritten > 0 ? ` · ${s.alreadyWritten.toLocaleString('en-US')} already written` : '';
    const line = `${s.committed.toLocaleString('en-US')} records · ${(s.committed / secs).toFixed(0)} rec/s · ${mb(s.valueBytes)} · ${(s.valueBytes / 1e6 / secs).toFixed(1)} MB/s · ${s.objects} objects · ${s.deadLettered} dead letters${already} · ${s.retries} retries${lag === undefined ? '' : ` · lag ${lag.toLocaleString('en-US')}`}`;
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
      if (args.quiet) return;
      const what = err instanceof ClaimConflictError
        ? `batch of ${records} records waits for another invocation (attempt ${attempt}): ${err.message}`
        : `batch of ${records} records failed (attempt ${attempt}): ${(err as Error).message}`;
      process.stderr.write(`${tty ? '\n' : ''}${what}; retrying in ${delay} ms\n`);
    },
    // After a lost claim: claims of this runner, or of killed runners on this machine, need not be waited out.
    releaseStaleClaims: async (self) => {
      const released = await releaseStaleClaims(s3 as S3Client, { bucket: config.bucket, statePrefix: config.statePrefix, sseKmsKeyId: config.sseKmsKeyId }, self);
      if (!args.quiet) for (const c of released) process.stderr.write(`${tty ? '\n' : ''}released the claim of ${c.owner} on offsets ${c.from}..${c.to} (${c.key}): its runner is gone\n`);
      return released.length;
    },
    onReleaseError: (err) => {
      if (!args.quiet) process.stderr.write(`${tty ? '\n' : ''}could not look for claims of stopped runners (${(err as Error).message}); waiting for the claim to expire\n`);
    },
    signal: controller.signal,
  }).finally(() => {
    if (lagTimer) clearInterval(lagTimer);
    return source.close();
  });
  if (tty) process.stderr.write('\n');

  const secs = (Date.now() - stats.startedAt) / 1000;
  console.log(`\nkafka-s3 runner summary (${config.format}, ${config.compression})`);
  console.log(table([
    ['records in', stats.recordsIn.toLocaleString('en-US')],
    ['written', stats.written.toLocaleString('en-US')],
    ['filtered', stats.filtered.toLocaleString('en-US')],
    ['tombstones ignored', stats.tombstonesIgnored.toLocaleString('en-US')],
    ['dead-lettered', stats.deadLettered.toLocaleString('en-US')],
    ['already written', `${stats.alreadyWritten.toLocaleString('en-US')} (below their partition's checkpoint: an earlier delivery wrote them)`],
    ['committed', stats.committed.toLocaleString('en-US')],
    ['invocations', `${stats.batches} (${stats.retries} retries, ${stats.claimConflicts} claim conflicts${stats.claimsReleased > 0 ? `, ${stats.claimsReleased} stale claims released` : ''})`],
    ['objects', `${stats.objects} (${mb(stats.bytes)})`],
    ['value bytes', mb(stats.valueBytes)],
    ['throughput', `${(stats.committed / secs).toFixed(0)} records/s, ${(stats.valueBytes / 1e6 / secs).toFixed(1)} MB/s`],
    ['destination', store ? `${store.root}/${env.BUCKET_NAME}/` : `s3://${args.bucket}/`],
  ]));
  if (stats.alreadyWritten > 0 && !args.brokers) {
    const where = store ? `${store.bucketDir(config.bucket)}/${config.statePrefix}` : `s3://${config.bucket}/${config.statePrefix}`;
    const fix = store ? `use a new --out, or delete ${store.root}` : 'set another STATE_PREFIX';
    console.log(`\n${stats.alreadyWritten.toLocaleString('en-US')} records were not written again: the checkpoints in ${where} show an earlier run wrote their offsets. To write them anew (in another FORMAT, say), ${fix}.`);
  }
  if (store) {
    // Checkpoints (STATE_PREFIX) and dead letters are keys of the bucket too: the hint names the data objects only.
    const keys = await store.keys(config.bucket);
    const sampleOrders = !args.brokers && !args.input;
    console.log(`\n${landingHint(store.bucketDir(config.bucket), keys, config, sampleOrders).join('\n')}`);
  }
}

main().catch((err) => {
  console.error(err instanceof Error ? err.stack ?? err.message : err);
  process.exit(1);
});
