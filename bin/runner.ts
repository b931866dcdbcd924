#!/usr/bin/env node
/**
 * The local runner: the sink handler that runs in Lambda, driven with the Kafka event source mapping's semantics.
 *   npm start                       built-in sample orders → local directory (.tmp/local-s3), Parquet
 *   npm start -- --brokers 127.0.0.1:9092 --topics orders --bucket my-bucket --s3-endpoint http://127.0.0.1:7070
 *   npm start -- replay --bucket my-bucket --brokers 127.0.0.1:9092   objects back into Kafka (bin/runner/replay-cli.ts)
 * Sink settings come from the same environment variables the function uses (FORMAT, KEY_TEMPLATE, …).
 * User mistakes (flags, settings, unreachable brokers, missing topics or bucket, refused credentials) are one line
 * and exit code 2; stacks only with --debug. See bin/runner/cli.ts for the flags and exit codes.
 */
import { existsSync, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { inspect } from 'node:util';
import { S3Client } from '@aws-sdk/client-s3';
import { fromIni } from '@aws-sdk/credential-providers';
import { loadSinkConfig } from '../lambdas/shared/config.ts';
import { ConfigError } from '../lambdas/shared/errors.ts';
import { ClaimConflictError } from '../lambdas/shared/progress.ts';
import { s3RequestHandler } from '../lambdas/shared/upload.ts';
import { createSinkHandler } from '../lambdas/sink/app.ts';
import { parseOwner, releaseStaleClaims } from './runner/claims.ts';
import { EXIT_SIGNAL, EXIT_USAGE, HELP, RUNNER_DEFAULT_FORMAT, UsageError, parseCli, type CliOptions } from './runner/cli.ts';
import { KafkaSource } from './runner/kafka-source.ts';
import { kafkaLag, sampleLag, tpName, type LagSource } from './runner/lag.ts';
import { bucketHint, landingHint } from './runner/landed.ts';
import { ensureWritableDir, LocalObjectStore } from './runner/local-store.ts';
import { RunnerMetrics } from './runner/metrics.ts';
import { checkBucket, checkTopics, explainS3, probeBrokers } from './runner/preflight.ts';
import { GiveUpError } from './runner/retry.ts';
import { abortStaleUploads } from './runner/stale-uploads.ts';
import { afterCommit, emptyStats, INVOCATION_TIMEOUT_MS, runPipeline, type Handler, type RunnerSourceLike, type RunnerStats } from './runner/runner.ts';
import { chunksOf, fileRecords, sampleRecords } from './runner/sample-source.ts';
import { StatusLine, condenseLog } from './runner/status.ts';
import { replayMain } from './runner/replay-cli.ts';

function table(rows: [string, string][]): string {
  const w = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `  ${k.padEnd(w)}  ${v}`).join('\n');
}

const mb = (n: number) => `${(n / 1e6).toFixed(2)} MB`;
const num = (n: number) => n.toLocaleString('en-US');
/** The first line of an error's message, with the first inner error's (AggregateError, cause) when it adds one. */
const firstLine = (err: unknown): string => {
  const e = err as Error & { errors?: unknown[] };
  const own = String(e?.message ?? err).split('\n')[0];
  const inner = e?.errors?.[0] ?? e?.cause;
  if (!inner || inner === err) return own;
  const more = `${(inner as Error)?.name ?? 'Error'}: ${firstLine(inner)}`;
  return own.includes(more) ? own : `${own} (${more})`;
};

/** Whether a command is on PATH (for the DuckDB hint). */
function onPath(cmd: string): boolean {
  return (process.env.PATH ?? '').split(delimiter).some((d) => d !== '' && existsSync(join(d, cmd)));
}

let args: CliOptions | undefined;
const rawStderr = process.stderr.write.bind(process.stderr) as (s: string) => boolean;
const rawStdout = process.stdout.write.bind(process.stdout) as (s: string) => boolean;

/**
 * The sink's logger (Powertools) writes JSON lines to stdout/stderr. Without --debug each becomes one short line
 * above the status line (warnings such as dead letters, a failed batch); with --debug the JSON passes through.
 */
function captureSinkLogs(status: StatusLine, debug: boolean): void {
  const wrap = (raw: (s: string) => boolean) => (chunk: unknown, ...rest: unknown[]): boolean => {
    const text = typeof chunk === 'string' ? chunk : Buffer.isBuffer(chunk) ? chunk.toString('utf8') : undefined;
    const short = text === undefined ? undefined : condenseLog(text);
    if (short === undefined) return (raw as (...a: unknown[]) => boolean)(chunk, ...rest);
    if (debug) status.note(text!.trimEnd());
    // A failed batch: the runner's own line says so with the error, and what happens next (a retry, or giving up).
    else if (!short.startsWith('error: batch failed')) status.note(short);
    const cb = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
    cb?.();
    return true;
  };
  process.stdout.write = wrap(rawStdout) as typeof process.stdout.write;
  process.stderr.write = wrap(rawStderr) as typeof process.stderr.write;
}

/** Bad sink settings as one usage error; the bucket's name is --bucket's (the runner sets BUCKET_NAME from it). */
function settingsError(err: ConfigError): UsageError {
  const problems = err.problems.map((p) => p.replace(/^BUCKET_NAME=/, '--bucket '));
  // A problem that names its README section already needs no second pointer.
  const pointer = problems.every((p) => p.includes('README')) ? '' : ' (see README, Settings)';
  return new UsageError(`invalid sink setting${problems.length > 1 ? 's' : ''}: ${problems.join('; ')}${pointer}`);
}

/** Prometheus metrics served on --metrics-port, before anything else starts (a port taken changes nothing). */
async function serveMetrics(a: CliOptions): Promise<RunnerMetrics | undefined> {
  if (a.metricsPort === undefined) return undefined;
  const metrics = new RunnerMetrics();
  const addr = await metrics.listen(a.metricsPort, a.metricsHost).catch((err: NodeJS.ErrnoException) => {
    const fix = err.code === 'EADDRINUSE' || err.code === 'EACCES' ? 'choose another port' : 'check --metrics-host (an address of this machine)';
    throw new UsageError(`--metrics-port ${a.metricsPort}: cannot listen on ${a.metricsHost} (${err.code ?? firstLine(err)}): ${fix}`);
  });
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  rawStderr(`metrics on http://${host}:${addr.port}/metrics\n`);
  return metrics;
}

async function main(): Promise<number> {
  if (process.argv[2] === 'replay') {
    return replayMain(process.argv.slice(3), { write: (s) => void rawStderr(s), print: (s) => void rawStdout(`${s}\n`), tty: process.stderr.isTTY === true });
  }
  args = parseCli(process.argv.slice(2));
  if (args.help) {
    console.log(HELP);
    return 0;
  }
  const a = args;
  if (a.input !== undefined) {
    if (!existsSync(a.input)) throw new UsageError(`--input ${a.input}: no such file`);
    if (!statSync(a.input).isFile()) throw new UsageError(`--input ${a.input}: not a file (a JSON-lines file: one value per line)`);
  }
  const local = a.bucket === undefined;
  const env: Record<string, string | undefined> = {
    // One default for a local directory and for --bucket alike (the deployed function's is jsonl); any sink
    // variable in the environment wins.
    FORMAT: RUNNER_DEFAULT_FORMAT,
    ...process.env,
    // An empty FORMAT is not set (the sink's schema would take it for its own default, jsonl).
    ...(process.env.FORMAT ? {} : { FORMAT: RUNNER_DEFAULT_FORMAT }),
    BUCKET_NAME: a.bucket ?? 'local-bucket',
    ...(a.s3Endpoint ? { S3_ENDPOINT: a.s3Endpoint } : {}),
    // A local batch never needs multipart; remote uploads keep the configured threshold.
    ...(local ? { MULTIPART_THRESHOLD_BYTES: String(5 * 1024 ** 3), PART_SIZE_BYTES: String(5 * 1024 ** 3) } : {}),
  };
  // Powertools reads these from the process: the function's per-batch logs and EMF lines would bury the status line.
  process.env.POWERTOOLS_LOG_LEVEL ??= a.debug ? 'INFO' : 'WARN';
  process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
  let settings;
  try {
    settings = loadSinkConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) throw settingsError(err);
    throw err;
  }
  const metrics = await serveMetrics(a);
  const status = new StatusLine({ tty: process.stderr.isTTY === true, quiet: a.quiet, write: (s) => void rawStderr(s) });
  captureSinkLogs(status, a.debug);
  const say = (line: string) => status.note(line);

  const store = local ? new LocalObjectStore(a.out) : undefined;
  if (store) {
    await ensureWritableDir(store.bucketDir(env.BUCKET_NAME!)).catch((err: NodeJS.ErrnoException) => {
      throw new UsageError(`--out ${a.out}: objects cannot be written there (${err.code ?? firstLine(err)}${err.path ? `: ${err.path}` : ''}): choose a directory you can write`, { cause: err });
    });
  }
  // A connection idle for 15 s is abandoned and the request retried (S3_MAX_ATTEMPTS), as in the function.
  const s3 = store ?? new S3Client({
    region: a.region, maxAttempts: settings.s3MaxAttempts, retryMode: 'adaptive',
    ...(a.profile ? { credentials: fromIni({ profile: a.profile }) } : {}),
    requestHandler: s3RequestHandler(),
    ...(a.s3Endpoint ? { endpoint: a.s3Endpoint, forcePathStyle: true } : {}),
  });
  const topics = a.topics;
  // The brokers that took a connection: a dead bootstrap address listed first would stall every client on it.
  let brokers = a.brokers;
  if (brokers) {
    say(`connecting to ${brokers.join(', ')}…`);
    const probed = await probeBrokers(brokers);
    const dead = probed.filter((r) => !r.ok);
    if (dead.length > 0) {
      brokers = probed.filter((r) => r.ok).map((r) => r.broker);
      say(`warning: left out of --brokers, not reachable: ${dead.map((r) => `${r.broker} (${r.reason})`).join('; ')}; bootstrapping from ${brokers.join(', ')}`);
    }
    await checkTopics(brokers, topics);
  }
  if (!store) {
    say(`checking s3://${settings.bucket}${a.s3Endpoint ? ` at ${a.s3Endpoint}` : ''}…`);
    await checkBucket(s3 as S3Client, settings.bucket, a.s3Endpoint);
    let aborted;
    try {
      aborted = await abortStaleUploads(s3 as S3Client, { bucket: settings.bucket, statePrefix: settings.statePrefix, before: new Date() });
    } catch (err) {
      const msg = explainS3(err, settings.bucket, a.s3Endpoint);
      if (msg) throw new UsageError(msg, { cause: err });
      throw err;
    }
    if (aborted > 0) say(`aborted ${aborted} multipart upload(s) an earlier run left open`);
  }
  let sink;
  try {
    sink = createSinkHandler({ env, s3: s3 as never, rememberCheckpoints: true });
  } catch (err) {
    if (err instanceof ConfigError) throw settingsError(err);
    throw err;
  }
  try {
    await sink.ready({ quiet: true }); // the problem is printed as a usage error
  } catch (err) {
    if (err instanceof ConfigError) throw settingsError(err);
    throw err;
  }
  const config = sink.config;
  say(`writing ${config.format} (${config.compression}) to ${store ? `${store.root}/${config.bucket}/` : `s3://${config.bucket}/`}${process.env.FORMAT ? '' : ' (the runner\'s default format; set FORMAT and COMPRESSION to choose)'}`);


  // As Lambda ends a function at its timeout: an invocation past its deadline stops the process, so that nothing of
  // it is still writing when its claims expire (a minute after the deadline) and another invocation takes them over.
  const handler: Handler = async (event, context) => {
    const watchdog = setTimeout(() => {
      status.error(`an invocation ran past its ${INVOCATION_TIMEOUT_MS / 60_000}-minute deadline: stopping, as Lambda ends a function at its timeout (its records stay uncommitted)`);
      process.exit(1);
    }, INVOCATION_TIMEOUT_MS);
    const end = metrics?.batchSeconds.startTimer();
    let outcome = 'failed';
    try {
      const r = await sink(event, context);
      outcome = 'ok';
      return r;
    } finally {
      end?.({ outcome });
      clearTimeout(watchdog);
    }
  };

  let inner: RunnerSourceLike;
  let lagSource: LagSource | undefined;
  if (brokers) {
    inner = new KafkaSource({ brokers, topics, groupId: a.group });
    lagSource = kafkaLag(brokers, topics, a.group);
  } else {
    const startTime = Date.UTC(2026, 0, 1);
    const records = () => (a.input ? fileRecords(a.input, topics[0], a.partitions, startTime) : sampleRecords({ topic: topics[0], partitions: a.partitions, records: a.records, startTime }));
    inner = {
      records,
      // Records these sources have at once come in chunks, as a fetch brings them: a batching window of 0 then sends
      // a chunk, not each record alone.
      chunks: () => chunksOf(records()),
      commit: async () => {},
      describe: () => ({ eventSource: 'SelfManagedKafka', bootstrapServers: 'sample' }),
      close: async () => {},
    };
    if (!a.input) lagSource = sampleLag(topics[0], a.partitions, a.records);
  }
  let lag: Map<string, number> | undefined;
  const pollLag = async () => {
    if (!lagSource) return;
    const l = await lagSource.poll();
    if (!l) return;
    lag = l;
    status.setLag(l);
    metrics?.setLag(l);
  };
  // The source as the runner loop sees it: each commit lowers the lag of its partitions at once (the sample's lag is
  // bookkeeping; Kafka's is polled every 2 s, and this runner's own commits need not wait for the next poll).
  const source = afterCommit(inner, async (records) => {
    const l = lagSource?.committed?.(records);
    if (!l) return;
    lag = l;
    status.setLag(l);
    metrics?.setLag(l);
  });

  const controller = new AbortController();
  let signalled: 'SIGINT' | 'SIGTERM' | undefined;
  let lingering = false;
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      if (signalled) {
        // A second signal: stop now, as a SIGKILL would (claims left live are released by the next run here).
        rawStderr(`\n${sig} again: exiting now, the batch in flight abandoned uncommitted\n`);
        process.exit(EXIT_SIGNAL[sig]);
      }
      signalled = sig;
      // After a complete run (--linger) there is no batch left: the signal only ends the metrics server.
      if (lingering) rawStderr(`${sig}: the run was complete; stopping the /metrics server (exit 0)\n`);
      else status.note(`${sig}: finishing the batch in flight, then stopping (uncommitted records are read again next time; ${sig} again to exit now)`);
      controller.abort();
    });
  }
  await pollLag();
  // Drawn before the first commit too (an empty or caught-up topic never commits): zeros until the loop reports.
  const totals = emptyStats();
  status.update(totals);
  status.start();
  const lagTimer = lagSource ? setInterval(() => void pollLag(), a.brokers ? 2000 : 1000).unref() : undefined;

  /** The summary table on stdout, with a title that says why the run ended when it did not end on its own. */
  const summary = (stats: RunnerStats, ended?: string) => {
    const secs = (Date.now() - stats.startedAt) / 1000;
    let lagTotal: number | undefined;
    if (lag) lagTotal = [...lag.values()].reduce((x, y) => x + y, 0);
    console.log(`\nkafka-s3 runner summary (${config.format}, ${config.compression})${ended ? ` — ${ended}` : ''}`);
    console.log(table([
      ['records in', num(stats.recordsIn)],
      ['written', num(stats.written)],
      ...(config.transform ? [['rows written', `${num(stats.transformedRows ?? 0)} (TRANSFORM_SQL: a record makes none, one or several)`] as [string, string]] : []),
      ['filtered', num(stats.filtered)],
      ['tombstones ignored', num(stats.tombstonesIgnored)],
      ['dead-lettered', num(stats.deadLettered)],
      ['already written', `${num(stats.alreadyWritten)} (below their partition's checkpoint: an earlier delivery wrote them)`],
      ['committed', num(stats.committed)],
      ['invocations', `${stats.batches} (${stats.retries} retries, ${stats.claimConflicts} claim conflicts${stats.claimsReleased > 0 ? `, ${stats.claimsReleased} stale claims released` : ''})`],
      ['objects', `${stats.objects} (${mb(stats.bytes)})`],
      ['value bytes', mb(stats.valueBytes)],
      ['throughput', `${(stats.committed / secs).toFixed(0)} records/s, ${(stats.valueBytes / 1e6 / secs).toFixed(1)} MB/s`],
      ...(lagTotal !== undefined ? [['lag', `${num(lagTotal)}${lagTotal > 0 ? ` (${[...lag!.entries()].filter(([, v]) => v > 0).map(([k, v]) => `${tpName(k)} ${num(v)}`).join(', ')})` : ''}`] as [string, string]] : []),
      ['destination', store ? `${store.root}/${env.BUCKET_NAME}/` : `s3://${a.bucket}/`],
    ]));
  };

  let failure: unknown;
  // A failed scan for leftover claims is said once until a batch commits again (it is tried before every attempt).
  let releaseNoted = false;
  const stats = await runPipeline({
    source, handler, stats: totals,
    batch: { batchSize: a.batchSize, windowMs: a.windowMs },
    retry: { bisectOnError: a.bisect, baseDelayMs: 200, maxDelayMs: 10_000, ...(a.maxAttempts ? { maxAttempts: a.maxAttempts } : {}) },
    stopAfter: a.stopAfter,
    onProgress: (s) => {
      releaseNoted = false;
      status.update(s);
      metrics?.update(s);
      status.draw();
    },
    onRetry: (attempt, records, err, delay) => {
      const what = err instanceof ClaimConflictError
        ? `batch of ${num(records)} records waits for a claim on its partition (attempt ${attempt}; another invocation's, or one a request of this runner left when S3 applied it without answering): ${firstLine(err)}`
        : `batch of ${num(records)} records failed (attempt ${attempt}): ${a.debug ? (err as Error)?.stack ?? err : `${(err as Error)?.name ?? 'Error'}: ${firstLine(err)}`}`;
      status.note(`${what}; retrying in ${delay} ms`);
    },
    // After a lost claim: claims of this runner, or of killed runners on this machine, need not be waited out.
    releaseStaleClaims: async (self) => {
      const released = await releaseStaleClaims(s3 as S3Client, { bucket: config.bucket, statePrefix: config.statePrefix, sseKmsKeyId: config.sseKmsKeyId }, self);
      for (const c of released) {
        const own = parseOwner(c.owner)?.pid === self.pid;
        status.note(own
          ? `released this runner's own leftover claim on offsets ${c.from}..${c.to} (${c.key}): nothing of it is writing`
          : `released the claim of ${c.owner} on offsets ${c.from}..${c.to} (${c.key}): its runner is gone`);
      }
      return released.length;
    },
    onReleaseError: (err) => {
      if (releaseNoted) return;
      releaseNoted = true;
      status.note(`could not look for claims this runner or a stopped one left (${firstLine(err)}); looking again before the next attempt`);
    },
    signal: controller.signal,
  }).catch((err: unknown) => {
    failure = err;
    return undefined;
  }).finally(async () => {
    if (lagTimer) clearInterval(lagTimer);
    await source.close().catch(() => {});
  });
  if (!stats) {
    status.stop();
    if (failure instanceof GiveUpError) {
      // What was done before the batch was given up, then the reason on stderr (below).
      await pollLag();
      summary(totals, 'gave up');
    }
    await lagSource?.close();
    await metrics?.close();
    throw failure;
  }
  await pollLag();
  await lagSource?.close();
  status.update(stats);
  metrics?.update(stats);
  status.stop();

  summary(stats, signalled ? `stopped by ${signalled}` : undefined);
  if (stats.alreadyWritten > 0 && !a.brokers) {
    const where = store ? `${store.bucketDir(config.bucket)}/${config.statePrefix}` : `s3://${config.bucket}/${config.statePrefix}`;
    const fix = store ? `use a new --out, or delete ${store.root}` : 'set another STATE_PREFIX';
    console.log(`\n${num(stats.alreadyWritten)} records were not written again: the checkpoints in ${where} show an earlier run wrote their offsets. To write them anew (in another FORMAT, say), ${fix}.`);
  }
  if (store) {
    // Checkpoints (STATE_PREFIX) and dead letters are keys of the bucket too: the hint names the data objects only.
    const keys = await store.keys(config.bucket);
    const sampleOrders = !a.brokers && !a.input;
    const hint = landingHint(store.bucketDir(config.bucket), keys, config, sampleOrders);
    if (hint.some((l) => l.includes('duckdb -c')) && !onPath('duckdb')) hint.push('  (duckdb is not on PATH: see https://duckdb.org/docs/installation, or read the files with any Parquet/JSON/CSV reader)');
    console.log(`\n${hint.join('\n')}`);
  } else {
    console.log(`\n${bucketHint(config.bucket, config, stats.objects).join('\n')}`);
  }
  if (metrics) {
    if (a.linger && !signalled) {
      lingering = true;
      rawStderr('run complete; serving /metrics until SIGINT/SIGTERM (then exit 0)\n');
      await new Promise<void>((resolve) => controller.signal.addEventListener('abort', () => resolve(), { once: true }));
      await metrics.close();
      return 0;
    }
    await metrics.close();
  }
  return signalled ? EXIT_SIGNAL[signalled] : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    const debug = args?.debug ?? process.argv.includes('--debug');
    if (err instanceof UsageError) {
      rawStderr(`${debug ? `${err.stack ?? err.message}${err.cause ? `\ncaused by: ${inspect(err.cause)}` : ''}` : err.message}\n`);
      process.exit(EXIT_USAGE);
    }
    if (debug) {
      rawStderr(`${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
      process.exit(1);
    }
    let msg: string;
    if (err instanceof GiveUpError) {
      const cause = err.cause;
      const s3 = args?.bucket ? explainS3(cause, args.bucket, args.s3Endpoint) : undefined;
      msg = `${err.message} (--max-attempts ${args?.maxAttempts}): ${s3 ?? `${(cause as Error)?.name ?? 'Error'}: ${firstLine(cause)}`}; the batch stays uncommitted (read again next time)`;
    } else {
      msg = `${(err as Error)?.name ?? 'Error'}: ${firstLine(err)} (run with --debug for the stack)`;
    }
    rawStderr(`${msg}\n`);
    process.exit(1);
  },
);
