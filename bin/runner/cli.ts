/**
 * The runner's command line: flags parsed and checked up front, every mistake a one-line message that says the fix
 * (UsageError, exit code 2), flags that do not apply to the chosen source or destination refused.
 */
import { parseArgs } from 'node:util';

/** A user mistake: printed as one line (no stack unless --debug), exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export const EXIT_USAGE = 2;
/** Exit codes after a signal, as a shell reports them (128 + signal number). */
export const EXIT_SIGNAL = { SIGINT: 130, SIGTERM: 143 } as const;

/** The runner's default format when FORMAT is not set, the same for a local directory and for --bucket. */
export const RUNNER_DEFAULT_FORMAT = 'parquet';

export const HELP = `kafka-s3 local runner — usage: npm start -- [flags]   (the -- passes the flags to the runner, not to npm)
Replay objects from S3 back into Kafka: npm start -- replay --help

Source (default: built-in sample orders)
  --brokers host:port[,…]     read Kafka with a consumer group instead
  --topics a,b                topics to read (Kafka); the sample's topic name   default orders
  --group id                  consumer group (Kafka)               default kafka-s3-local
  --stop-after n              stop once n records are committed, exactly n (Kafka; the last batch closes at the rest)
  --records n                 sample records to generate           default 20000
  --partitions n              sample (or --input) partitions       default 3
  --input file.jsonl          use the lines of a file as values instead of generated orders
Destination (default: a local directory laid out like the bucket)
  --out dir                   local directory                      default .tmp/local-s3
  --bucket name               write to S3 instead
  --s3-endpoint url           S3 endpoint (local servers); path-style addressing (with --bucket)
  --region r                  default us-east-1 (or AWS_REGION) (with --bucket)
  --profile name              credentials of this profile in ~/.aws (with --bucket; default: the AWS default chain)
Batching and retries, as the event source mapping
  --batch-size n              records per invocation at most       default 10000
  --window-ms n               batching window                      default 500
  --bisect                    retry a failed batch as its first half
  --max-attempts n            give up (uncommitted, exit 1) after n failed attempts of one batch   default unlimited
                              (waiting for another invocation's claim on a partition is not a failed attempt)
Output
  --quiet                     no status line, no warnings (the summary still prints)
  --debug                     full logs of the sink (JSON) and stack traces
  --metrics-port n            serve Prometheus metrics on http://127.0.0.1:n/metrics (0: any free port, printed)
  --metrics-host addr         listen on this address instead of 127.0.0.1 (with --metrics-port)
  --linger                    after the run, keep serving /metrics until SIGINT/SIGTERM (with --metrics-port)
  -h, --help                  this help

Sink settings: the function's environment variables (FORMAT, COMPRESSION, KEY_TEMPLATE, FIELDS, …; see README).
Where objects go comes from the flags: BUCKET_NAME is refused unless it is --bucket's name, S3_ENDPOINT is the default
of --s3-endpoint (with --bucket), and the function's credential settings (S3_CREDENTIALS_SECRET_ARN,
CROSS_ACCOUNT_ROLE_ARN, …) are refused: the runner uses the AWS default chain or --profile.
Format: the runner writes FORMAT=${RUNNER_DEFAULT_FORMAT} (its default compression) unless FORMAT is set, locally and with
--bucket alike; the deployed function's default is FORMAT=jsonl with gzip. COMPRESSION must suit the FORMAT.
Exit codes: 0 done · 1 a failure (a batch given up, S3 or Kafka failing) · 2 a usage or setting mistake, S3 bucket,
credentials, brokers or topics not usable · 130 SIGINT · 143 SIGTERM (after the summary; uncommitted records are read
again next time; 0 when the signal ends --linger after a complete run).`;

const OPTIONS = {
  brokers: { type: 'string' }, topics: { type: 'string' }, group: { type: 'string' }, 'stop-after': { type: 'string' },
  records: { type: 'string' }, partitions: { type: 'string' }, input: { type: 'string' },
  out: { type: 'string' }, bucket: { type: 'string' }, 's3-endpoint': { type: 'string' }, region: { type: 'string' }, profile: { type: 'string' },
  'batch-size': { type: 'string' }, 'window-ms': { type: 'string' }, bisect: { type: 'boolean' }, 'max-attempts': { type: 'string' },
  quiet: { type: 'boolean' }, debug: { type: 'boolean' }, 'metrics-port': { type: 'string' }, 'metrics-host': { type: 'string' },
  linger: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
} as const;

export interface CliOptions {
  help: boolean;
  brokers?: string[];
  topics: string[];
  group: string;
  stopAfter?: number;
  records: number;
  partitions: number;
  input?: string;
  out: string;
  bucket?: string;
  s3Endpoint?: string;
  region: string;
  profile?: string;
  batchSize: number;
  windowMs: number;
  bisect: boolean;
  maxAttempts?: number;
  quiet: boolean;
  debug: boolean;
  metricsPort?: number;
  metricsHost: string;
  linger: boolean;
}

function intFlag(name: string, value: string | undefined, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  // Digits only: Number() would also take 1e3, 0x10 and ' 7 '.
  if (!/^-?\d+$/.test(value) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(`--${name}=${value}: expected an integer from ${min} to ${max.toLocaleString('en-US')}`);
  }
  return n;
}

/** The runner's flags, without their dashes (the README's flag table lists each). */
export const RUNNER_FLAGS: readonly string[] = Object.keys(OPTIONS);
const KNOWN = RUNNER_FLAGS;

/** Settings of the deployed function the runner has no use for: where its credentials come from instead. */
const FUNCTION_ONLY = ['S3_CREDENTIALS_SECRET_ARN', 'S3_CREDENTIALS_MAX_AGE_SECONDS', 'CROSS_ACCOUNT_ROLE_ARN', 'EXTERNAL_ID', 'STS_ENDPOINT'];
/** Settings that only a bucket has a use for (a local directory's objects are written whole, with no endpoint). */
const BUCKET_ONLY = ['S3_ENDPOINT', 'MULTIPART_THRESHOLD_BYTES', 'PART_SIZE_BYTES'];

/**
 * The sink's variables that say where objects go and how to reach S3 (the function's environment): the runner takes
 * these from its flags, so one set in the environment is either what the flag says, the flag's default (S3_ENDPOINT
 * with --bucket), or refused with the flag to use, never ignored. Returns the S3 endpoint to use.
 */
function checkFunctionEnv(env: NodeJS.ProcessEnv, bucket: string | undefined, endpointFlag: string | undefined): string | undefined {
  const set = (k: string) => env[k] !== undefined && env[k] !== '';
  if (set('BUCKET_NAME') && env.BUCKET_NAME !== bucket) {
    throw new UsageError(`BUCKET_NAME=${env.BUCKET_NAME} is not read by the runner: give --bucket ${env.BUCKET_NAME} to write there (or unset BUCKET_NAME to write to a local directory)`);
  }
  const fnOnly = FUNCTION_ONLY.filter(set);
  if (fnOnly.length > 0) {
    throw new UsageError(`${fnOnly.join(', ')}: read by the deployed function only; the runner signs S3 requests with the AWS default credential chain, or --profile name (unset ${fnOnly.length === 1 ? 'it' : 'them'})`);
  }
  if (bucket === undefined) {
    const bucketOnly = BUCKET_ONLY.filter(set);
    if (bucketOnly.length > 0) throw new UsageError(`${bucketOnly.join(', ')} ${bucketOnly.length === 1 ? 'applies' : 'apply'} with --bucket only (a local directory's objects are written whole): add --bucket name, or unset ${bucketOnly.length === 1 ? 'it' : 'them'}`);
    return undefined;
  }
  if (!set('S3_ENDPOINT')) return endpointFlag;
  if (endpointFlag !== undefined && endpointFlag !== env.S3_ENDPOINT) {
    throw new UsageError(`S3_ENDPOINT=${env.S3_ENDPOINT} and --s3-endpoint ${endpointFlag} differ: give one of them`);
  }
  if (!/^https?:\/\/[^/]+/.test(env.S3_ENDPOINT!)) throw new UsageError(`S3_ENDPOINT=${env.S3_ENDPOINT}: expected a URL such as http://127.0.0.1:7070`);
  return env.S3_ENDPOINT;
}

/** Parses and checks the runner's flags; throws UsageError with a one-line message for any mistake. */
export function parseCli(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): CliOptions {
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options: OPTIONS, strict: true, allowPositionals: true, tokens: true });
  } catch (err) {
    const e = err as Error & { code?: string };
    const neg = /Option '(?:-\w, )?(--[\w-]+)' argument is ambiguous/.exec(e.message);
    if (neg) {
      // `--records -5`: parseArgs will not take a value that starts with a dash after a space.
      const value = argv[argv.indexOf(neg[1]) + 1];
      throw new UsageError(`${neg[1]} ${value}: a value that starts with - reads as a flag; write ${neg[1]}=${value} if you mean it`);
    }
    const m = /Unknown option '([^']+)'/.exec(e.message);
    if (m) {
      const name = m[1].replace(/^-+/, '');
      const near = KNOWN.find((k) => k.startsWith(name) || name.startsWith(k));
      throw new UsageError(`unknown flag ${m[1]}${near ? ` (did you mean --${near}?)` : ''}; npm start -- --help lists the flags`);
    }
    const v = /Option '(?:-\w, )?(--[\w-]+)(?: <value>)?' argument missing/.exec(e.message);
    if (v) throw new UsageError(`${v[1]} needs a value, e.g. ${v[1]} <value>; npm start -- --help lists the flags`);
    throw new UsageError(`${e.message.split('\n')[0]}; npm start -- --help lists the flags`);
  }
  const a = parsed.values;
  // `npm start --records 10` or `--records=10` or `--bisect` without `--`: npm keeps the flag for itself (as
  // npm_config_records) and passes on only a separate value ("10"), if any.
  const swallowed = KNOWN.filter((k) => env[`npm_config_${k.replace(/-/g, '_')}`] !== undefined);
  if (parsed.positionals.length > 0) {
    const fix = swallowed.length > 0
      ? `npm took --${swallowed.join(', --')} for itself: put -- before the runner's flags, e.g. npm start -- --${swallowed[0]} ${parsed.positionals[0]}`
      : 'the runner takes flags only (npm start -- --help)';
    throw new UsageError(`unexpected argument '${parsed.positionals[0]}': ${fix}`);
  }
  if (swallowed.length > 0) {
    const k = swallowed[0];
    const v = env[`npm_config_${k.replace(/-/g, '_')}`]!;
    const example = OPTIONS[k as keyof typeof OPTIONS].type === 'boolean' ? `--${k}` : `--${k} ${v}`;
    throw new UsageError(`npm took --${swallowed.join(', --')} for itself, so the runner would run without ${swallowed.length === 1 ? 'it' : 'them'}: put -- before the runner's flags, e.g. npm start -- ${example}`);
  }
  const twice = new Map<string, string[]>();
  for (const t of parsed.tokens ?? []) if (t.kind === 'option') twice.set(t.name, [...(twice.get(t.name) ?? []), t.value ?? 'true']);
  for (const [name, values] of twice) {
    if (values.length > 1) throw new UsageError(`--${name} is given ${values.length} times (${values.join(', ')}): give it once`);
  }
  const given = (k: keyof typeof OPTIONS) => a[k] !== undefined;
  const refuse = (flags: (keyof typeof OPTIONS)[], why: string) => {
    const bad = flags.filter(given);
    if (bad.length > 0) throw new UsageError(`--${bad.join(', --')} ${bad.length === 1 ? 'does' : 'do'} not apply ${why}`);
  };
  if (a.help) return { help: true } as CliOptions;
  if (a.brokers !== undefined) {
    refuse(['records', 'partitions', 'input'], 'to a Kafka source (--brokers): the records come from the topics');
  } else {
    refuse(['group', 'stop-after'], 'to the sample source: add --brokers host:port to read Kafka');
    if (a.input !== undefined) refuse(['records'], 'with --input: the file\'s lines are the records');
  }
  if (a.bucket !== undefined) refuse(['out'], 'with --bucket: objects go to S3, not to a local directory');
  else refuse(['s3-endpoint', 'region', 'profile'], 'to a local directory: add --bucket name to write to S3');
  if (a['metrics-port'] === undefined) refuse(['metrics-host', 'linger'], 'without --metrics-port');
  if (a.quiet && a.debug) throw new UsageError('--quiet and --debug contradict each other: choose one');
  const brokers = a.brokers?.split(',').map((b) => b.trim()).filter(Boolean);
  if (brokers) {
    if (brokers.length === 0) throw new UsageError('--brokers: expected host:port[,host:port…]');
    for (const b of brokers) {
      const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(b);
      if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) throw new UsageError(`--brokers: '${b}' is not host:port (e.g. 127.0.0.1:9092)`);
    }
  }
  const topics = (a.topics ?? 'orders').split(',').map((t) => t.trim()).filter(Boolean);
  if (topics.length === 0) throw new UsageError('--topics: expected one or more topic names, comma-separated');
  if (!brokers && topics.length > 1) throw new UsageError(`--topics ${topics.join(',')}: the sample source writes one topic; give one name, or add --brokers host:port to read several`);
  // Kafka's own rule for topic names (org.apache.kafka.common.internals.Topic): the sample's name becomes keys too.
  for (const t of topics) {
    if (!/^[a-zA-Z0-9._-]{1,249}$/.test(t) || t === '.' || t === '..') {
      throw new UsageError(`--topics: '${t}' is not a Kafka topic name (1-249 of letters, digits, '.', '_' and '-')`);
    }
  }
  // An empty value (an unset shell variable) must not mean "here" or "every interface".
  const blank = (flag: keyof typeof OPTIONS, example: string) => {
    const v = a[flag];
    if (typeof v === 'string' && v.trim() === '') throw new UsageError(`--${flag}: the value is empty; expected ${example}`);
  };
  blank('bucket', 'a bucket name');
  blank('out', 'a directory, e.g. --out .tmp/local-s3');
  blank('metrics-host', 'an address of this machine, e.g. --metrics-host 127.0.0.1 (0.0.0.0: every interface)');
  blank('region', 'a region, e.g. --region eu-west-1');
  blank('profile', 'a profile name of ~/.aws/config');
  blank('input', 'a file of JSON lines');
  // The client refuses a group id with white space only after connecting (and the broker an empty one).
  if (a.group !== undefined && !/^\S+$/.test(a.group)) {
    throw new UsageError(`--group '${a.group}': a consumer group id is one word without spaces, e.g. --group kafka-s3-local`);
  }
  if (a['s3-endpoint'] !== undefined && !/^https?:\/\/[^/]+/.test(a['s3-endpoint'])) {
    throw new UsageError(`--s3-endpoint=${a['s3-endpoint']}: expected a URL such as http://127.0.0.1:7070`);
  }
  const s3Endpoint = checkFunctionEnv(env, a.bucket, a['s3-endpoint']);
  return {
    help: false,
    ...(brokers ? { brokers } : {}),
    topics,
    group: a.group ?? 'kafka-s3-local',
    stopAfter: intFlag('stop-after', a['stop-after'], 1, Number.MAX_SAFE_INTEGER),
    records: intFlag('records', a.records ?? '20000', 1, 100_000_000)!,
    partitions: intFlag('partitions', a.partitions ?? '3', 1, 1000)!,
    ...(a.input !== undefined ? { input: a.input } : {}),
    out: a.out ?? '.tmp/local-s3',
    ...(a.bucket !== undefined ? { bucket: a.bucket } : {}),
    ...(s3Endpoint !== undefined ? { s3Endpoint } : {}),
    region: a.region ?? env.AWS_REGION ?? 'us-east-1',
    ...(a.profile !== undefined ? { profile: a.profile } : {}),
    batchSize: intFlag('batch-size', a['batch-size'] ?? '10000', 1, 10_000)!,
    windowMs: intFlag('window-ms', a['window-ms'] ?? '500', 0, 300_000)!,
    bisect: a.bisect ?? false,
    maxAttempts: intFlag('max-attempts', a['max-attempts'], 1, 1_000_000),
    quiet: a.quiet ?? false,
    debug: a.debug ?? false,
    metricsPort: intFlag('metrics-port', a['metrics-port'], 0, 65535),
    metricsHost: a['metrics-host'] ?? '127.0.0.1',
    linger: a.linger ?? false,
  };
}
