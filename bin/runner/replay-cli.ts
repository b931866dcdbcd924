/**
 * `npm start -- replay …`: objects in S3 back into Kafka topics (lambdas/replay), from this machine. Flags are checked
 * up front (UsageError: one line, exit code 2); the state (plan and checkpoints) is kept in a directory, so the same
 * command run again resumes where a killed or interrupted run stopped, sending no record twice.
 */
import { createHash } from 'node:crypto';
import { parseArgs } from 'node:util';
import { S3Client } from '@aws-sdk/client-s3';
import { fromIni } from '@aws-sdk/credential-providers';
import { compileFilter } from '../../lambdas/shared/filter.ts';
import { s3RequestHandler } from '../../lambdas/shared/upload.ts';
import type { ForeignLayout } from '../../lambdas/replay/layout.ts';
import { PlanError, type SourceKind } from '../../lambdas/replay/plan.ts';
import { fingerprintOf, ReplayError, runReplay, type ReplayReport, type ReplaySettings, type StreamReport } from '../../lambdas/replay/replay.ts';
import { DirectoryState } from '../../lambdas/replay/state.ts';
import { KafkaTarget } from '../../lambdas/replay/target.ts';
import { closestKey } from '../../lib/context-keys.ts';
import { EXIT_SIGNAL, UsageError } from './cli.ts';
import { checkBucket, checkTopics, explainS3, probeBrokers } from './preflight.ts';

export const REPLAY_HELP = `kafka-s3 replay — objects in S3 back into Kafka: npm start -- replay --brokers host:port --bucket name [flags]

Source
  --bucket name               the bucket to read (required)
  --prefix p                  key prefix   default topics/ (sink), dead-letters/ (dead letters), none (foreign)
  --source kind               sink: objects this sink wrote (its metadata says how) · dead-letters: redrive the
                              sink's dead letters byte-exact · foreign: objects other tools wrote   default sink
  --format f                  foreign: jsonl, csv, text, bytes, avro or parquet (default: from each key's extension)
  --order o                   foreign: lexical (key order) or last-modified   default lexical
  --extensions .a,.b          only keys ending with one of these (e.g. .parquet)
  --no-csv-header             foreign csv: the first row is a record, not a header
  --line-regex re             text objects: only lines matching this (RE2) are records
  --any-order                 objects of one partition that overlap in offsets and hold no offset per record (text,
                              bytes): replay each whole, by its first offset (refused otherwise: not offset order)
  --s3-endpoint url, --region r, --profile name   as for the sink runner
Filters
  --topics a,b  --partitions 0,1  --from-offset n  --to-offset n (inclusive)
  --from-time t  --to-time t  record time range [from, to), ISO-8601 (2026-01-01T10:00:00Z) or epoch ms
Target
  --brokers host:port[,…]     the Kafka cluster to write to (required)
  --target-topic t            default: the topic each record came from (sink objects, dead letters)
  --partitioning p            keep (the record's source partition) or key (Java's default partitioner)
                              default keep; key for foreign objects
Throttles
  --keys-per-poll n           object keys listed per request   default 1000
  --records-per-poll n        records sent per produce request, then a checkpoint   default 10000
  --max-mb-per-second x       keys and values sent per second at most   default no limit
State
  --state dir                 plan and checkpoints   default .tmp/replay/<a hash of the settings>
  --concurrency n             streams (source partitions) replayed at once   default 4
Output
  --quiet, --debug, -h/--help

The same command run again resumes: records sent after the last checkpoint are found in the target by their
kafka-s3-replay header and not sent again. Exit codes: 0 done · 1 a failure · 2 a usage mistake, bucket, brokers or
topic not usable · 130 SIGINT · 143 SIGTERM (after a checkpoint; run the same command to resume).`;

const OPTIONS = {
  bucket: { type: 'string' }, prefix: { type: 'string' }, source: { type: 'string' }, format: { type: 'string' }, order: { type: 'string' },
  extensions: { type: 'string' }, 'no-csv-header': { type: 'boolean' }, 'line-regex': { type: 'string' }, 'any-order': { type: 'boolean' },
  's3-endpoint': { type: 'string' }, region: { type: 'string' }, profile: { type: 'string' },
  topics: { type: 'string' }, partitions: { type: 'string' }, 'from-offset': { type: 'string' }, 'to-offset': { type: 'string' },
  'from-time': { type: 'string' }, 'to-time': { type: 'string' },
  brokers: { type: 'string' }, 'target-topic': { type: 'string' }, partitioning: { type: 'string' },
  'keys-per-poll': { type: 'string' }, 'records-per-poll': { type: 'string' }, 'max-mb-per-second': { type: 'string' },
  state: { type: 'string' }, concurrency: { type: 'string' }, quiet: { type: 'boolean' }, debug: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
} as const;

export interface ReplayCli {
  readonly help: boolean;
  readonly settings: ReplaySettings;
  readonly brokers: readonly string[];
  readonly s3Endpoint?: string;
  readonly region: string;
  readonly profile?: string;
  readonly state: string;
  readonly concurrency: number;
  readonly quiet: boolean;
  readonly debug: boolean;
}

const FOREIGN_FORMATS = ['jsonl', 'csv', 'text', 'bytes', 'avro', 'parquet'] as const;

function choice<T extends string>(flag: string, value: string | undefined, list: readonly T[], fallback: T): T {
  if (value === undefined) return fallback;
  if ((list as readonly string[]).includes(value)) return value as T;
  throw new UsageError(`--${flag}=${value}: expected one of ${list.join(', ')}`);
}

function int(flag: string, value: string | undefined, min: number, max: number, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n) || n < min || n > max) throw new UsageError(`--${flag}=${value}: expected an integer from ${min} to ${max.toLocaleString('en-US')}`);
  return n;
}

function offset(flag: string, value: string | undefined): bigint | undefined {
  if (value === undefined) return undefined;
  if (!/^\d{1,19}$/.test(value) || BigInt(value) > 2n ** 63n - 1n) throw new UsageError(`--${flag}=${value}: expected an offset (0 to 2^63-1)`);
  return BigInt(value);
}

function time(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ms = /^-?\d+$/.test(value) ? Number(value) : /^\d{4}-\d{2}-\d{2}(T[\d:.]+)?(Z|[+-]\d{2}:\d{2})$/.test(value) ? Date.parse(value) : NaN;
  if (!Number.isSafeInteger(ms)) throw new UsageError(`--${flag}=${value}: expected an ISO-8601 time with its zone (2026-01-01T10:00:00Z) or epoch milliseconds`);
  return ms;
}

const list = (v: string | undefined) => (v ?? '').split(',').map((s) => s.trim()).filter(Boolean);

/** Parses and checks the replay's flags; throws UsageError with a one-line message for any mistake. */
export function parseReplayCli(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): ReplayCli {
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options: OPTIONS, strict: true, allowPositionals: true });
  } catch (err) {
    const e = err as Error;
    const m = /Unknown option '([^']+)'/.exec(e.message);
    if (m) {
      const name = m[1].replace(/^-+/, '');
      const near = closestKey(name, Object.keys(OPTIONS));
      throw new UsageError(`unknown flag ${m[1]}${near ? ` (did you mean --${near}?)` : ''}; npm start -- replay --help lists the flags`);
    }
    const v = /Option '(?:-\w, )?(--[\w-]+)(?: <value>)?' argument missing/.exec(e.message);
    if (v) throw new UsageError(`${v[1]} needs a value, e.g. ${v[1]} <value>; npm start -- replay --help lists the flags`);
    throw new UsageError(`${e.message.split('\n')[0]}; npm start -- replay --help lists the flags`);
  }
  const a = parsed.values;
  if (a.help) return { help: true } as ReplayCli;
  if (parsed.positionals.length > 0) throw new UsageError(`unexpected argument '${parsed.positionals[0]}': the replay takes flags only (npm start -- replay --help)`);
  if (a.bucket === undefined || a.bucket.trim() === '') throw new UsageError('--bucket is required: the bucket whose objects are replayed');
  const brokers = list(a.brokers);
  if (brokers.length === 0) throw new UsageError('--brokers is required: host:port of the Kafka cluster the records go to');
  for (const b of brokers) {
    const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(b);
    if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) throw new UsageError(`--brokers: '${b}' is not host:port (e.g. 127.0.0.1:9092)`);
  }
  const kind = choice<SourceKind>('source', a.source, ['sink', 'dead-letters', 'foreign'], 'sink');
  const foreign = kind === 'foreign';
  const refuse = (flags: (keyof typeof OPTIONS)[], why: string) => {
    const bad = flags.filter((f) => a[f] !== undefined);
    if (bad.length > 0) throw new UsageError(`--${bad.join(', --')} ${bad.length === 1 ? 'does' : 'do'} not apply ${why}`);
  };
  if (!foreign) refuse(['format', 'order', 'no-csv-header'], `to --source ${kind}: objects of this sink say how they were written, and are merged by offset`);
  else refuse(['topics', 'partitions', 'from-offset', 'to-offset'], 'to --source foreign: objects of other tools carry no topic, partition or offsets');
  if (a['s3-endpoint'] !== undefined && !/^https?:\/\/[^/]+/.test(a['s3-endpoint'])) throw new UsageError(`--s3-endpoint=${a['s3-endpoint']}: expected a URL such as http://127.0.0.1:7070`);
  if (a['line-regex'] !== undefined) {
    try {
      compileFilter(a['line-regex']);
    } catch (err) {
      throw new UsageError(`--line-regex: ${(err as Error).message}`);
    }
  }
  if (foreign && a['target-topic'] === undefined) throw new UsageError('--target-topic is required with --source foreign: objects of other tools do not say which topic their records came from');
  const partitioning = choice('partitioning', a.partitioning, ['keep', 'key'] as const, foreign ? 'key' : 'keep');
  if (foreign && partitioning === 'keep') throw new UsageError('--partitioning keep does not apply to --source foreign: objects of other tools carry no partition; use key');
  const partitions = list(a.partitions).map((p) => int('partitions', p, 0, 1_000_000, 0));
  const mbps = a['max-mb-per-second'] === undefined ? 0 : Number(a['max-mb-per-second']);
  if (!Number.isFinite(mbps) || mbps < 0) throw new UsageError(`--max-mb-per-second=${a['max-mb-per-second']}: expected a positive number`);
  const fromOffset = offset('from-offset', a['from-offset']);
  const toOffset = offset('to-offset', a['to-offset']);
  if (fromOffset !== undefined && toOffset !== undefined && toOffset < fromOffset) throw new UsageError(`--to-offset ${toOffset} is below --from-offset ${fromOffset}`);
  const fromTime = time('from-time', a['from-time']);
  const toTime = time('to-time', a['to-time']);
  if (fromTime !== undefined && toTime !== undefined && toTime <= fromTime) throw new UsageError('--to-time must be after --from-time');
  const settings: ReplaySettings = {
    bucket: a.bucket,
    prefix: a.prefix ?? (kind === 'sink' ? 'topics/' : kind === 'dead-letters' ? 'dead-letters/' : ''),
    kind,
    order: choice('order', a.order, ['lexical', 'last-modified'] as const, 'lexical'),
    extensions: list(a.extensions),
    ...(a.format !== undefined ? { foreignFormat: choice<ForeignLayout['format']>('format', a.format, FOREIGN_FORMATS, 'jsonl') } : {}),
    csvHeader: a['no-csv-header'] !== true,
    topics: list(a.topics),
    partitions,
    ...(fromOffset !== undefined ? { fromOffset } : {}),
    ...(toOffset !== undefined ? { toOffset } : {}),
    keysPerPoll: int('keys-per-poll', a['keys-per-poll'], 1, 1000, 1000),
    ...(a['any-order'] ? { anyOrder: true } : {}),
    ...(a['target-topic'] !== undefined ? { targetTopic: a['target-topic'] } : {}),
    partitioning,
    recordsPerPoll: int('records-per-poll', a['records-per-poll'], 1, 100_000, 10_000),
    maxBytesPerSecond: mbps * 1e6,
    ...(fromTime !== undefined ? { fromTime } : {}),
    ...(toTime !== undefined ? { toTime } : {}),
    ...(a['line-regex'] !== undefined ? { lineRegex: a['line-regex'] } : {}),
  };
  if (a.quiet && a.debug) throw new UsageError('--quiet and --debug contradict each other: choose one');
  return {
    help: false, settings, brokers,
    ...(a['s3-endpoint'] !== undefined ? { s3Endpoint: a['s3-endpoint'] } : {}),
    region: a.region ?? env.AWS_REGION ?? 'us-east-1',
    ...(a.profile !== undefined ? { profile: a.profile } : {}),
    // The settings and the cluster: the same command into another cluster is another replay.
    state: a.state ?? `.tmp/replay/${createHash('sha256').update(`${fingerprintOf(settings)} ${brokers.join(',')}`).digest('hex').slice(0, 12)}`,
    concurrency: int('concurrency', a.concurrency, 1, 64, 4),
    quiet: a.quiet ?? false,
    debug: a.debug ?? false,
  };
}

const num = (n: number) => n.toLocaleString('en-US');

function totals(streams: readonly StreamReport[]) {
  const t = { sent: 0, bytes: 0, landed: 0, filtered: 0, duplicates: 0, unreplayable: 0, objects: 0 };
  for (const s of streams) for (const k of Object.keys(t) as (keyof typeof t)[]) t[k] += s[k];
  return t;
}

/** Runs the replay command; returns the exit code. `write` is stderr (progress), `print` stdout (the summary). */
export async function replayMain(argv: readonly string[], io: { write: (s: string) => void; print: (s: string) => void; tty: boolean }): Promise<number> {
  const cli = parseReplayCli(argv);
  if (cli.help) {
    io.print(REPLAY_HELP);
    return 0;
  }
  const s = cli.settings;
  const note = (line: string) => { if (!cli.quiet) io.write(`${io.tty ? '\r\x1b[K' : ''}${line}\n`); };
  note(`connecting to ${cli.brokers.join(', ')}…`);
  await probeBrokers(cli.brokers);
  if (s.targetTopic !== undefined) await checkTopics(cli.brokers, [s.targetTopic]);
  const s3 = new S3Client({
    region: cli.region, maxAttempts: 5, retryMode: 'adaptive', requestHandler: s3RequestHandler(),
    ...(cli.profile ? { credentials: fromIni({ profile: cli.profile }) } : {}),
    ...(cli.s3Endpoint ? { endpoint: cli.s3Endpoint, forcePathStyle: true } : {}),
  });
  note(`checking s3://${s.bucket}${cli.s3Endpoint ? ` at ${cli.s3Endpoint}` : ''}…`);
  await checkBucket(s3, s.bucket, cli.s3Endpoint);
  const target = new KafkaTarget({ brokers: cli.brokers, clientId: 'kafka-s3-replay' });
  const controller = new AbortController();
  let signalled: 'SIGINT' | 'SIGTERM' | undefined;
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      if (signalled) process.exit(EXIT_SIGNAL[sig]);
      signalled = sig;
      note(`${sig}: stopping after the poll in flight and its checkpoint (${sig} again to exit now; the same command resumes)`);
      controller.abort();
    });
  }
  const started = Date.now();
  const live = new Map<string, StreamReport>();
  let drawn = 0;
  const draw = (force = false) => {
    if (cli.quiet || (!force && Date.now() - drawn < (io.tty ? 250 : 5000))) return;
    drawn = Date.now();
    const t = totals([...live.values()]);
    const secs = Math.max(0.001, (Date.now() - started) / 1000);
    const line = `replayed ${num(t.sent)} records, ${(t.bytes / 1e6).toFixed(1)} MB · ${num(Math.round(t.sent / secs))} records/s, ${(t.bytes / 1e6 / secs).toFixed(1)} MB/s · ${t.objects} objects · streams ${[...live.values()].filter((r) => r.done).length} done of ${live.size} started`;
    io.write(io.tty ? `\r\x1b[K${line}` : `${line}\n`);
  };
  let report: ReplayReport;
  try {
    report = await runReplay({
      s3, target, state: new DirectoryState(cli.state),
      log: note,
      onPoll: (r) => { live.set(r.id, r); draw(); },
    }, s, { concurrency: cli.concurrency, signal: controller.signal });
  } catch (err) {
    if (err instanceof PlanError || err instanceof ReplayError) throw new UsageError(err.message, { cause: err });
    const explained = explainS3(err, s.bucket, cli.s3Endpoint);
    if (explained) throw new UsageError(explained, { cause: err });
    throw err;
  } finally {
    await target.close();
  }
  draw(true);
  if (io.tty && !cli.quiet) io.write('\n');
  const t = totals(report.streams);
  const secs = (Date.now() - started) / 1000;
  const rows: [string, string][] = [
    ['objects planned', `${num(report.objects)} of ${num(report.listed)} keys listed${Object.keys(report.skippedKeys).length > 0 ? ` (left out: ${Object.entries(report.skippedKeys).map(([k, v]) => `${num(v)} ${k}`).join(', ')})` : ''}`],
    ['streams', `${report.streams.length} (${report.streams.filter((r) => r.done).length} done)`],
    ['records sent', num(t.sent)],
    ['already in the target', `${num(t.landed)} (sent before an interruption, after its last checkpoint)`],
    ['filtered', num(t.filtered)],
    ['duplicates merged', num(t.duplicates)],
    ...(t.unreplayable > 0 ? [['not replayable', num(t.unreplayable)] as [string, string]] : []),
    ['bytes sent', `${(t.bytes / 1e6).toFixed(2)} MB (keys and values)`],
    ['throughput', `${num(Math.round(t.sent / secs))} records/s, ${(t.bytes / 1e6 / secs).toFixed(1)} MB/s`],
    ['state', cli.state],
  ];
  const w = Math.max(...rows.map(([k]) => k.length));
  io.print(`\nkafka-s3 replay summary (${s.kind} objects of s3://${s.bucket}/${s.prefix} → ${s.targetTopic ?? 'their source topics'})${signalled ? ` — stopped by ${signalled}` : ''}`);
  io.print(rows.map(([k, v]) => `  ${k.padEnd(w)}  ${v}`).join('\n'));
  if (report.done && t.sent === 0 && t.landed === 0 && report.objects > 0) {
    io.print(`\nNothing sent: the state in ${cli.state} says this replay is complete. To replay again, give another --state.`);
  }
  if (!report.done && !signalled) return 1;
  return signalled ? EXIT_SIGNAL[signalled] : 0;
}
