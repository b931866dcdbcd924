/**
 * `npm run fuzz -- --runs N [--seed S]` — the long run of the hostile-events property (issue 8, point 5), and a search
 * for slow and memory-hungry events.
 *
 * 1. Property: N generated events (every format, representative settings, a share at the 6 MB / 10,000-record limit
 *    and a share with a malformed structure) through the real handler, every object read back by the independent
 *    readers (test/support/hostile.ts, test/readers/read_many.py). The runs are split over --jobs child processes
 *    (seeds S, S+1, …); every failure is recorded, not only the first, and one counterexample per (format, failure
 *    kind) is shrunk by fast-check (replayed from its seed and path).
 * 2. Cost: events shaped to be expensive (long whitespace runs, many distinct field names, deep nesting, many
 *    distinct {{key}} values, backtracking-prone FILTER_REGEX values, 10,000 tiny records, …), each handled in a
 *    fresh `node --max-old-space-size=1536` (one core's worth of a 1,769 MB Lambda), measuring the handler's CPU
 *    time (process.cpuUsage) and the process's peak RSS (VmHWM); a child over the wall-clock cut is killed and
 *    reported. Sizes grow per shape up to the 6 MB payload; a shape stops growing once it breaks a limit.
 *
 * Exit status 1 when the property failed, or an event within 6 MB took over 10 s of CPU or 1 GB of RSS, was
 * killed, or crashed the process.
 *
 * Options: --runs N (default 200) --seed S (default: random) --jobs J (default 2) --shapes-only --property-only
 *          --cut-s T (wall-clock cut per cost child, default 60) --shrink-s T (per counterexample, default 60)
 *          --run-timeout-s T (property: one event, default 180) --max-shrinks K (kinds shrunk per job, default 12)
 *          --shape TEXT (cost: only shapes whose name contains TEXT)
 *          --replay SEED:PATH (one event of the property again, with its failures; HOSTILE_KEEP=1 keeps its objects)
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { mulberry32 } from '../test/support/fault-proxy.ts';
import {
  brokenCase, describeCase, FORMATS, hostileCase, largeCase, MemoryBucket, PAYLOAD_LIMIT, runHostileCase, startReaders,
  summarizeFailures, type Failure, type Format, type HostileCase,
} from '../test/support/hostile.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const SELF = fileURLToPath(import.meta.url);
const WORK = join(ROOT, '.tmp/fuzz');
const HEAP_MB = 1536;
const CPU_LIMIT_MS = 10_000;
const RSS_LIMIT_MB = 1024;

process.env.POWERTOOLS_LOG_LEVEL ??= 'SILENT';
process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';

// ================================================================================================ arguments

function parseArgs(argv: string[]): Map<string, string> {
  const m = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`);
    const [k, v] = a.slice(2).split('=', 2);
    if (v !== undefined) m.set(k, v);
    else if (i + 1 < argv.length && !argv[i + 1].startsWith('--')) m.set(k, argv[++i]);
    else m.set(k, 'true');
  }
  return m;
}

const args = parseArgs(process.argv.slice(2));
const num = (k: string, d: number) => {
  const v = args.get(k);
  if (v === undefined) return d;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new Error(`--${k} must be a number, got ${v}`);
  return n;
};

// ======================================================================================= property (children)

/** What the fuzzer generates: every format; 1 in 8 events at the limits, 1 in 16 with a malformed structure. */
function fuzzCase(): fc.Arbitrary<HostileCase> {
  return fc.oneof(
    { weight: 13, arbitrary: fc.constantFrom(...FORMATS).chain((f) => hostileCase(f)) },
    { weight: 2, arbitrary: fc.constantFrom(...FORMATS).chain((f) => largeCase(f)) },
    { weight: 1, arbitrary: brokenCase() },
  );
}

const signature = (c: HostileCase, f: Failure) => `${c.event.breakage ? 'any' : c.settings.format} (${f.assertion}) ${f.kind}`;

interface Found {
  signature: string;
  count: number;
  firstRun: number;
  detail: string;
  shrunk?: { description: string; failures: string; shrinks: number; interrupted: boolean };
}

async function childProperty(): Promise<void> {
  const runs = num('runs', 100);
  const seed = num('seed', 1);
  const out = args.get('out')!;
  const shrinkMs = num('shrink-s', 60) * 1000;
  const maxShrinks = num('max-shrinks', 12);
  const readers = await startReaders();
  const arb = fuzzCase();
  const found = new Map<string, Found>();
  let run = 0;
  let events = 0;
  let failedRuns = 0;
  const maxMs = { ms: 0, run: -1 };
  await fc.check(fc.asyncProperty(arb, async (c) => {
    const i = run++;
    process.stderr.write(`progress ${i}\n`);
    const t0 = performance.now();
    const o = await runHostileCase(c, readers);
    events++;
    const ms = performance.now() - t0;
    if (ms > maxMs.ms) Object.assign(maxMs, { ms, run: i });
    if (o.failures.length) failedRuns++;
    for (const f of o.failures) {
      const sig = signature(c, f);
      const e = found.get(sig);
      if (e) e.count++;
      else found.set(sig, { signature: sig, count: 1, firstRun: i, detail: f.detail });
    }
    return true;
  }), { seed, numRuns: runs });

  // One shrink per failing event: its most telling kind ((a) throws, then (c) readers, (d) values, (b) counts).
  const rank = (sig: string) => ['(a)', '(c)', '(d)', '(b)'].findIndex((a) => sig.includes(` ${a} `));
  const primary = new Map<number, Found>();
  for (const e of found.values()) {
    const p = primary.get(e.firstRun);
    if (!p || rank(e.signature) < rank(p.signature)) primary.set(e.firstRun, e);
  }
  let shrunk = 0;
  for (const e of [...primary.values()].sort((a, b) => a.firstRun - b.firstRun)) {
    if (shrunk++ >= maxShrinks) break;
    process.stderr.write(`shrink ${e.signature}\n`);
    let last: { c: HostileCase; failures: Failure[] } | undefined;
    const started = Date.now();
    const details = await fc.check(fc.asyncProperty(arb, async (c) => {
      process.stderr.write('progress shrink\n');
      const o = await runHostileCase(c, readers);
      events++;
      const hit = o.failures.filter((f) => signature(c, f) === e.signature);
      if (hit.length === 0) return true;
      last = { c, failures: o.failures };
      return false;
    }), { seed, path: String(e.firstRun), plugins: [fc.interruptAfterTimeLimit(shrinkMs)] });
    if (last) {
      e.shrunk = {
        description: describeCase(last.c),
        failures: summarizeFailures(last.failures),
        shrinks: details.numShrinks,
        interrupted: details.interrupted || Date.now() - started >= shrinkMs,
      };
    }
  }
  await readers.stop();
  writeFileSync(out, JSON.stringify({ runs, seed, events, failedRuns, slowest: maxMs, found: [...found.values()] }));
}

// ============================================================================================ cost (children)

interface CostJob {
  readonly shape: string;
  readonly format: Format;
  readonly size: string;
  readonly env: Record<string, string>;
  /** Event files, handled one after the other by one warm handler (the first is the cold invocation). */
  readonly events: string[];
}

interface CostResult {
  cpuMs: number;
  maxInvocationCpuMs: number;
  wallMs: number;
  parseMs: number;
  rssMb: number;
  heapAfterMb: number;
  eventBytes: number;
  records: number;
  written: number;
  deadLettered: number;
  filtered: number;
  threw?: string;
  accounting?: string;
  reasons: string[];
}

function vmHwmMb(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) / 1024 : process.resourceUsage().maxRSS / 1024;
}

/**
 * The S3 fake of the property (conditional writes, GetObject, DeleteObjects), except that data and dead-letter
 * bodies are counted, not kept (a Lambda's upload frees the body once sent); the sink's state (STATE_PREFIX) is kept.
 */
class DiscardBucket extends MemoryBucket {
  bytes = 0;
  discarded = 0;
  private readonly keep: string;
  constructor(keep: string) {
    super();
    this.keep = keep;
  }
  override async send(command: { constructor: { name: string }; input: Record<string, unknown> }): Promise<object> {
    if (command.constructor.name === 'PutObjectCommand' && !String(command.input.Key).startsWith(this.keep)) {
      const body = command.input.Body as Uint8Array | string;
      this.bytes += typeof body === 'string' ? Buffer.byteLength(body) : body.length;
      this.discarded++;
      return { ETag: `"d${this.discarded}"` };
    }
    return super.send(command);
  }
}

async function childCost(): Promise<void> {
  const job = JSON.parse(readFileSync(args.get('job')!, 'utf8')) as CostJob;
  const { createSinkHandler } = await import('../lambdas/sink/app.ts');
  const bucket = new DiscardBucket(job.env.STATE_PREFIX ?? 'checkpoints/');
  const handler = createSinkHandler({ env: job.env, s3: bucket as never });
  const r: CostResult = {
    cpuMs: 0, maxInvocationCpuMs: 0, wallMs: 0, parseMs: 0, rssMb: 0, heapAfterMb: 0, eventBytes: 0, records: 0,
    written: 0, deadLettered: 0, filtered: 0, reasons: [],
  };
  for (const file of job.events) {
    const text = readFileSync(file, 'utf8');
    r.eventBytes = Math.max(r.eventBytes, Buffer.byteLength(text));
    let t = performance.now();
    const event = JSON.parse(text) as { records: Record<string, unknown[]> };
    r.parseMs += performance.now() - t;
    const records = Object.values(event.records).reduce((n, l) => n + l.length, 0);
    r.records += records;
    const cpu0 = process.cpuUsage();
    t = performance.now();
    try {
      const res = await handler(event, { functionName: 'sink', awsRequestId: 'fuzz' } as never) as unknown as Record<string, number>;
      r.written += res.written;
      r.deadLettered += res.deadLettered;
      r.filtered += res.filtered;
      const sum = res.written + res.filtered + res.tombstonesIgnored + res.deadLettered;
      if (sum !== records || res.recordsIn !== records) r.accounting = `written ${res.written} + filtered ${res.filtered} + tombstonesIgnored ${res.tombstonesIgnored} + deadLettered ${res.deadLettered} = ${sum}; recordsIn ${res.recordsIn}; the event holds ${records}`;
    } catch (err) {
      r.threw = `${(err as Error).name}: ${String((err as Error).message).slice(0, 300)}`;
    }
    const cpu = process.cpuUsage(cpu0);
    const ms = (cpu.user + cpu.system) / 1000;
    r.cpuMs += ms;
    r.maxInvocationCpuMs = Math.max(r.maxInvocationCpuMs, ms);
    r.wallMs += performance.now() - t;
  }
  r.rssMb = vmHwmMb();
  r.heapAfterMb = process.memoryUsage().heapUsed / 1024 / 1024;
  process.stdout.write(`${JSON.stringify(r)}\n`);
}

// ================================================================================================ cost shapes

/** A seeded generator (mulberry32), so that --seed reproduces the shapes' content. */
const rng = mulberry32;

interface ShapeRecord {
  partition?: number;
  topic?: string;
  key?: string | null;
  value: string | Buffer | null;
  headers?: [string, string][];
}

/** One event; `base` is its partitions' first offset (warm invocations continue where the previous event ended). */
function eventText(records: ShapeRecord[], base = 1_000_000): string {
  const lists: Record<string, unknown[]> = {};
  const next = new Map<string, number>();
  for (const r of records) {
    const topic = r.topic ?? 'orders';
    const p = r.partition ?? 0;
    const rkey = `${topic}-${p}`;
    const offset = next.get(rkey) ?? base;
    next.set(rkey, offset + 1);
    (lists[rkey] ??= []).push({
      topic, partition: p, offset, timestamp: 1_767_225_600_000 + offset, timestampType: 'CREATE_TIME',
      key: r.key === undefined || r.key === null ? null : Buffer.from(r.key).toString('base64'),
      value: r.value === null ? null : Buffer.from(r.value).toString('base64'),
      headers: (r.headers ?? []).map(([k, v]) => ({ [k]: [...Buffer.from(v)] })),
    });
  }
  return JSON.stringify({ eventSource: 'aws:kafka', eventSourceArn: 'arn:aws:kafka:us-east-1:123456789012:cluster/demo/abc', bootstrapServers: 'b-1.demo:9098', records: lists });
}

/** Raw value bytes that fit one record into the payload (base64 grows them by 4/3). */
const ONE_RECORD_MAX = Math.floor((PAYLOAD_LIMIT - 400) * 3 / 4);

interface Shape {
  readonly name: string;
  readonly formats: readonly Format[];
  /** Sizes to try, smallest first, and the records (or several events: a warm container) for each. */
  readonly sizes: readonly string[];
  readonly build: (size: string, random: () => number) => ShapeRecord[][];
  readonly env?: Record<string, string>;
}

const FULL = ['jsonl', 'csv_with_headers', 'avro', 'parquet'] as const;
const ALL = FORMATS;

function sized(size: string): number {
  if (size === 'max') return ONE_RECORD_MAX;
  const m = /^(\d+(?:\.\d+)?)([km]?)$/.exec(size)!;
  return Math.floor(Number(m[1]) * (m[2] === 'm' ? 1_000_000 : m[2] === 'k' ? 1000 : 1));
}

function fill(count: number, make: (i: number) => ShapeRecord): ShapeRecord[] {
  const out: ShapeRecord[] = [];
  let bytes = 400;
  for (let i = 0; i < count; i++) {
    const r = make(i);
    const v = r.value === null ? 0 : Buffer.byteLength(r.value);
    const k = r.key ? Buffer.byteLength(r.key) : 0;
    const h = (r.headers ?? []).reduce((n, [a, b]) => n + a.length + b.length * 4 + 8, 0);
    bytes += Math.ceil(v / 3) * 4 + Math.ceil(k / 3) * 4 + h + 150;
    if (bytes > PAYLOAD_LIMIT) break;
    out.push(r);
  }
  return out;
}

const SHAPES: Shape[] = [
  {
    name: 'whitespace run in one value',
    formats: FULL,
    sizes: ['100k', '1m', 'max'],
    build: (size, random) => {
      // One line break, then a long run of blanks that no line break ends.
      const n = sized(size) - 20;
      const unit = [' ', '\t', ' \t', '  '][Math.floor(random() * 4)];
      return [[{ value: `{\n"a":${unit.repeat(Math.ceil(n / unit.length)).slice(0, n)}1}` }]];
    },
  },
  {
    name: 'whitespace runs, 10,000 records',
    formats: ['jsonl', 'parquet'],
    sizes: ['10000'],
    build: () => [fill(10_000, () => ({ value: `{\n"a":${' '.repeat(400)}1}` }))],
  },
  {
    name: 'distinct field names, one per record',
    formats: ALL.filter((f) => f !== 'text' && f !== 'bytes'),
    sizes: ['1000', '10000'],
    build: (size) => [fill(Number(size), (i) => ({ value: `{"f${i}":${i}}` }))],
  },
  {
    name: 'distinct field names, 100,000 in 20 records',
    formats: ['csv_with_headers', 'avro', 'parquet'],
    sizes: ['20000', '100000'],
    build: (size) => {
      const per = Number(size) / 20;
      return [fill(20, (r) => ({ value: `{${Array.from({ length: per }, (_, k) => `"n${r * per + k}":${k}`).join(',')}}` }))];
    },
  },
  {
    name: 'fields in one record',
    formats: ['jsonl', 'csv_with_headers', 'avro', 'parquet'],
    sizes: ['1000', '40000', '200000'],
    build: (size) => [[{ value: `{${Array.from({ length: Number(size) }, (_, k) => `"g${k}":${k}`).join(',')}}` }]],
  },
  {
    name: 'deep nesting',
    formats: ALL.filter((f) => f !== 'text' && f !== 'bytes'),
    sizes: ['1000', '100000', 'max'],
    build: (size, random) => {
      const arr = random() < 0.5;
      const perLevel = arr ? 2 : 6;
      const levels = size === 'max' ? Math.floor((ONE_RECORD_MAX - 20) / perLevel) : Number(size);
      return [[{ value: arr ? `{"a":${'['.repeat(levels)}1${']'.repeat(levels)}}` : `{"a":${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}}` }]];
    },
  },
  {
    name: 'deep nesting through {{value.a}}',
    formats: ['jsonl', 'parquet'],
    sizes: ['100000'],
    env: { KEY_TEMPLATE: '{{topic}}/a={{value.a}}/{{topic}}+{{partition}}+{{start_offset}}' },
    build: (size) => [[{ value: `{"a":${'['.repeat(Number(size))}1${']'.repeat(Number(size))}}` }]],
  },
  {
    name: 'distinct {{key}} values, 5 warm invocations',
    formats: ['jsonl', 'parquet'],
    sizes: ['1000', '10000'],
    env: { KEY_TEMPLATE: '{{topic}}/k={{key}}/{{topic}}+{{partition}}+{{start_offset}}' },
    build: (size, random) => Array.from({ length: 5 }, (_, inv) => fill(Number(size), (i) => ({
      key: `k${inv}-${i}-${Math.floor(random() * 1e9)}-${'x'.repeat(300)}`, value: `{"i":${i}}`,
    }))),
  },
  {
    name: 'FILTER_REGEX ^(a+)+$ on "aaa…b"',
    formats: ['jsonl'],
    sizes: ['20', '28', '34', '100000'],
    env: { FILTER_REGEX: '^(a+)+$', VALUE_ENCODING: 'text' },
    build: (size) => [[{ value: `${'a'.repeat(Number(size))}b` }, { value: 'a'.repeat(Number(size)) }]],
  },
  {
    name: 'FILTER_REGEX .*"level":"error".* on a long value',
    formats: ['jsonl'],
    sizes: ['30k', '300k', 'max'],
    env: { FILTER_REGEX: '.*"level":"error".*' },
    build: (size) => [[{ value: `{"msg":"${'x'.repeat(sized(size) - 20)}"}` }]],
  },
  {
    name: 'FILTER_REGEX .*"level":"error".* on 10,000 records',
    formats: ['jsonl'],
    sizes: ['10000'],
    env: { FILTER_REGEX: '.*"level":"error".*' },
    build: () => [fill(10_000, (i) => ({ value: `{"msg":"${'y'.repeat(400)}","i":${i}}` }))],
  },
  {
    name: '10,000 tiny records',
    formats: ALL,
    sizes: ['10000'],
    build: (_s, random) => [fill(10_000, (i) => ({ partition: i % 3, key: `k${i % 7}`, value: ['{}', '1', '{"a":1}', '"x"'][Math.floor(random() * 4)] }))],
  },
  {
    name: '10,000 partitions',
    formats: ['jsonl', 'parquet', 'avro'],
    sizes: ['10000'],
    build: () => [fill(10_000, (i) => ({ partition: i, value: '{"a":1}' }))],
  },
  {
    name: '50 headers per record',
    formats: ['jsonl', 'parquet'],
    sizes: ['2000'],
    build: () => [fill(2000, (i) => ({ value: `{"i":${i}}`, headers: Array.from({ length: 50 }, (_, k): [string, string] => [`h${k}`, `value-${i}-${k}`]) }))],
  },
  {
    name: 'one string of escapes',
    formats: ['jsonl', 'csv_with_headers', 'parquet', 'avro'],
    sizes: ['1m', 'max'],
    build: (size, random) => {
      const unit = ['\\"', '\\u2028', '\\ud83d\\ude00', '\\n', '\u2028'][Math.floor(random() * 5)];
      const n = Math.floor((sized(size) - 20) / Buffer.byteLength(unit));
      return [[{ value: `{"s":"${unit.repeat(n)}"}` }]];
    },
  },
  {
    name: 'extreme numbers, 10,000 records',
    formats: ['csv_with_headers', 'avro', 'parquet'],
    sizes: ['10000'],
    build: (_s, random) => {
      const pool = ['1e400', '9007199254740993', '0.1234567890123456789', '12345678901234567890.12', '-9223372036854775808', '1.5'];
      return [fill(10_000, () => ({ value: `{"a":${pool[Math.floor(random() * pool.length)]},"b":${pool[Math.floor(random() * pool.length)]}}` }))];
    },
  },
];

interface CostOutcome {
  readonly job: CostJob;
  readonly result?: CostResult;
  readonly killed?: boolean;
  readonly crashed?: string;
  readonly wallS: number;
}

function runChild(argv: string[], cutMs: number, onStderr?: (line: string) => void): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; killed: boolean }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [`--max-old-space-size=${HEAP_MB}`, SELF, ...argv], {
      stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env },
    });
    let stdout = '';
    let stderr = '';
    let killed = false;
    let timer: NodeJS.Timeout;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        killed = true;
        child.kill('SIGKILL');
      }, cutMs);
    };
    arm();
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (d: string) => { stdout += d; });
    let pending = '';
    child.stderr.on('data', (d: string) => {
      stderr = (stderr + d).slice(-20_000);
      if (!onStderr) return;
      pending += d;
      let at = pending.indexOf('\n');
      while (at !== -1) {
        onStderr(pending.slice(0, at));
        if (pending.startsWith('progress')) arm(); // the cut is per event for the property children
        pending = pending.slice(at + 1);
        at = pending.indexOf('\n');
      }
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, killed });
    });
  });
}

async function runCostJob(job: CostJob, jobFile: string, cutMs: number): Promise<CostOutcome> {
  const t0 = Date.now();
  const r = await runChild(['--child-cost', '--job', jobFile], cutMs * job.events.length);
  const wallS = (Date.now() - t0) / 1000;
  if (r.killed) return { job, killed: true, wallS };
  const line = r.stdout.trim().split('\n').pop();
  if (r.code !== 0 || !line) return { job, crashed: `exit ${r.code ?? r.signal}: ${r.stderr.trim().split('\n').filter(Boolean).slice(-3).join(' | ').slice(0, 400)}`, wallS };
  return { job, result: JSON.parse(line) as CostResult, wallS };
}

async function pool<T, R>(items: readonly T[], n: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  }));
  return out;
}

const over = (o: CostOutcome) => o.killed || o.crashed !== undefined || (o.result !== undefined
  && (o.result.maxInvocationCpuMs > CPU_LIMIT_MS || o.result.rssMb > RSS_LIMIT_MB));

async function costSearch(seed: number, jobs: number, cutMs: number): Promise<{ outcomes: CostOutcome[]; bad: string[] }> {
  mkdirSync(WORK, { recursive: true });
  const random = rng(seed);
  const outcomes: CostOutcome[] = [];
  const bad: string[] = [];
  // Per (shape, format) the sizes run in order; a larger size runs only while the smaller stayed within limits.
  const only = args.get('shape')?.toLowerCase();
  const lanes = SHAPES.filter((s) => !only || s.name.toLowerCase().includes(only)).flatMap((shape) => shape.formats.map((format) => ({ shape, format })));
  let n = 0;
  await pool(lanes, jobs, async ({ shape, format }) => {
    for (const size of shape.sizes) {
      const id = `job-${n++}`;
      const events = shape.build(size, random);
      const files = events.map((records, k) => {
        const text = eventText(records, 1_000_000 + k * 100_000);
        const f = join(WORK, `${id}-${k}.json`);
        writeFileSync(f, text);
        return { f, bytes: Buffer.byteLength(text) };
      });
      if (files.some((x) => x.bytes > PAYLOAD_LIMIT)) {
        bad.push(`internal: ${shape.name} ${size} built an event of ${Math.max(...files.map((x) => x.bytes))} bytes, over the payload`);
        break;
      }
      const env: Record<string, string> = { BUCKET_NAME: 'fuzz', FORMAT: format, ...(shape.env ?? {}) };
      if ((format === 'text' || format === 'bytes') && env.VALUE_ENCODING === undefined) env.VALUE_ENCODING = 'text';
      const job: CostJob = { shape: shape.name, format, size, env, events: files.map((x) => x.f) };
      const jobFile = join(WORK, `${id}.job.json`);
      writeFileSync(jobFile, JSON.stringify(job));
      const o = await runCostJob(job, jobFile, cutMs);
      for (const x of files) rmSync(x.f, { force: true });
      rmSync(jobFile, { force: true });
      outcomes.push(o);
      const label = `${shape.name} / ${format} / ${size}`;
      process.stderr.write(`cost ${label}: ${o.killed ? `KILLED after ${o.wallS.toFixed(0)} s` : o.crashed ? `CRASHED ${o.crashed}` : `${o.result!.maxInvocationCpuMs.toFixed(0)} ms CPU, ${o.result!.rssMb.toFixed(0)} MB RSS`}\n`);
      if (o.killed) bad.push(`${label}: killed at the ${cutMs / 1000} s wall-clock cut`);
      else if (o.crashed) bad.push(`${label}: the process died: ${o.crashed}`);
      else {
        const r = o.result!;
        if (r.maxInvocationCpuMs > CPU_LIMIT_MS) bad.push(`${label}: ${(r.maxInvocationCpuMs / 1000).toFixed(1)} s CPU for one event (limit 10 s)`);
        if (r.rssMb > RSS_LIMIT_MB) bad.push(`${label}: peak RSS ${r.rssMb.toFixed(0)} MB (limit 1024 MB)`);
        if (r.threw) bad.push(`${label}: the handler threw ${r.threw} (property (a))`);
        if (r.accounting) bad.push(`${label}: ${r.accounting} (property (b))`);
      }
      if (over(o)) break;
    }
  });
  return { outcomes, bad };
}

function costTable(outcomes: CostOutcome[]): string {
  const rows: string[] = [
    `| shape | formats | sizes run | worst CPU, one event (s) | at | peak RSS (MB) | at | dead-lettered / records (largest size run) |`,
    '|---|---|---|---:|---|---:|---|---|',
  ];
  const byShape = new Map<string, CostOutcome[]>();
  for (const o of outcomes) (byShape.get(o.job.shape) ?? byShape.set(o.job.shape, []).get(o.job.shape)!).push(o);
  const cpu = (o: CostOutcome) => (o.killed ? Infinity : o.result?.maxInvocationCpuMs ?? (o.crashed ? Infinity : 0));
  const rss = (o: CostOutcome) => (o.crashed ? Infinity : o.result?.rssMb ?? 0);
  const fmtCpu = (o: CostOutcome) => (o.killed ? `> ${o.wallS.toFixed(0)} (killed)` : o.crashed ? 'crashed' : (o.result!.maxInvocationCpuMs / 1000).toFixed(2));
  const fmtRss = (o: CostOutcome) => (o.crashed ? 'crashed' : o.killed ? '(killed)' : o.result!.rssMb.toFixed(0));
  const at = (o: CostOutcome) => `${o.job.format} ${o.job.size}`;
  const all: CostOutcome[] = [];
  for (const [shape, list] of byShape) {
    const worstCpu = list.reduce((a, b) => (cpu(b) > cpu(a) ? b : a));
    const worstRss = list.reduce((a, b) => (rss(b) > rss(a) ? b : a));
    const dl = list.filter((o) => o.result).map((o) => `${o.result!.deadLettered}/${o.result!.records}`).pop() ?? '-';
    rows.push(`| ${shape} | ${[...new Set(list.map((o) => o.job.format))].join(', ')} | ${list.length} | ${fmtCpu(worstCpu)} | ${at(worstCpu)} | ${fmtRss(worstRss)} | ${at(worstRss)} | ${dl} |`);
    all.push(...list);
  }
  if (all.length) {
    const worstCpu = all.reduce((a, b) => (cpu(b) > cpu(a) ? b : a));
    const worstRss = all.reduce((a, b) => (rss(b) > rss(a) ? b : a));
    rows.push(`| **overall** | | ${all.length} | **${fmtCpu(worstCpu)}** | ${worstCpu.job.shape}: ${at(worstCpu)} | **${fmtRss(worstRss)}** | ${worstRss.job.shape}: ${at(worstRss)} | |`);
  }
  return rows.join('\n');
}

// ==================================================================================================== parent

async function propertyPhase(runs: number, seed: number, jobs: number): Promise<{ ok: boolean; report: string; events: number }> {
  mkdirSync(WORK, { recursive: true });
  const n = Math.max(1, Math.min(jobs, runs));
  const per = Array.from({ length: n }, (_, k) => Math.floor(runs / n) + (k < runs % n ? 1 : 0));
  const runTimeout = num('run-timeout-s', 180) * 1000;
  const results = await Promise.all(per.map(async (r, k) => {
    const out = join(WORK, `property-${process.pid}-${k}.json`);
    let last = '-';
    const child = await runChild(['--child-property', '--runs', String(r), '--seed', String(seed + k), '--out', out,
      '--shrink-s', String(num('shrink-s', 60)), '--max-shrinks', String(num('max-shrinks', 12))], runTimeout, (line) => {
      if (line.startsWith('progress ') && line !== 'progress shrink') last = line.slice(9);
      if (line.startsWith('shrink ')) process.stderr.write(`property job ${k}: shrinking ${line.slice(7)}\n`);
    });
    if (child.killed) return { k, seed: seed + k, error: `killed: event #${last} (seed ${seed + k}, path "${last}") ran over ${runTimeout / 1000} s` };
    if (child.code !== 0) return { k, seed: seed + k, error: `the property process died (exit ${child.code ?? child.signal}) at event #${last} (seed ${seed + k}): ${child.stderr.split('\n').filter((l) => l && !l.startsWith('progress')).slice(-5).join(' | ').slice(0, 800)}` };
    const doc = JSON.parse(readFileSync(out, 'utf8')) as { runs: number; seed: number; events: number; failedRuns: number; slowest: { ms: number; run: number }; found: Found[] };
    rmSync(out, { force: true });
    return { k, seed: seed + k, doc };
  }));
  const lines: string[] = [];
  let ok = true;
  let events = 0;
  const found: (Found & { seed: number })[] = [];
  for (const r of results) {
    if ('error' in r) {
      ok = false;
      lines.push(`job ${r.k} (seed ${r.seed}): ${r.error}`);
      continue;
    }
    events += r.doc.events;
    lines.push(`job ${r.k}: seed ${r.seed}, ${r.doc.runs} generated events, ${r.doc.failedRuns} with failures; ${r.doc.events} handled in all (with shrinking); slowest event #${r.doc.slowest.run} ${(r.doc.slowest.ms / 1000).toFixed(1)} s`);
    for (const f of r.doc.found) found.push({ ...f, seed: r.seed });
  }
  if (found.length) ok = false;
  const merged = new Map<string, Found & { seed: number }>();
  for (const f of found) {
    const e = merged.get(f.signature);
    if (!e) merged.set(f.signature, { ...f });
    else {
      e.count += f.count;
      if (!e.shrunk && f.shrunk) Object.assign(e, { shrunk: f.shrunk, seed: f.seed, firstRun: f.firstRun });
    }
  }
  lines.push('', `| format (assertion) kind | events | first (seed, run) | detail |`, '|---|---:|---|---|');
  for (const f of [...merged.values()].sort((a, b) => b.count - a.count)) {
    lines.push(`| ${f.signature} | ${f.count} | ${f.seed}, ${f.firstRun} | ${f.detail.replace(/\|/g, '\\|').replace(/\n/g, ' ').slice(0, 240)} |`);
  }
  for (const f of merged.values()) {
    if (!f.shrunk) continue;
    lines.push('', `### ${f.signature} — shrunk ${f.shrunk.shrinks} times${f.shrunk.interrupted ? ' (stopped at the time limit)' : ''}; replay: seed ${f.seed}, path "${f.firstRun}"`, '```', f.shrunk.description, '--', f.shrunk.failures, '```');
  }
  return { ok, report: lines.join('\n'), events };
}

/** --replay SEED:PATH — one generated event of the property again, with its failures (no shrinking). */
async function replay(spec: string): Promise<void> {
  const [seed, path] = spec.split(':', 2);
  const readers = await startReaders();
  let done = false;
  await fc.check(fc.asyncProperty(fuzzCase(), async (c) => {
    if (done) return true;
    done = true;
    const o = await runHostileCase(c, readers);
    console.log(describeCase(c));
    console.log(o.failures.length ? summarizeFailures(o.failures, 50) : 'no failure');
    return true;
  }), { seed: Number(seed), path, numRuns: 1 });
  await readers.stop();
}

async function main(): Promise<void> {
  if (args.has('replay')) return replay(args.get('replay')!);
  if (args.has('child-property')) return childProperty();
  if (args.has('child-cost')) return childCost();
  const runs = num('runs', 200);
  const seed = num('seed', Math.floor(Math.random() * 2 ** 31));
  const jobs = num('jobs', Math.max(1, Math.min(2, availableParallelism())));
  const started = Date.now();
  console.log(`npm run fuzz -- --runs ${runs} --seed ${seed} (jobs ${jobs}, Node ${process.version}, children with --max-old-space-size=${HEAP_MB})`);
  let failed = false;
  if (!args.has('shapes-only')) {
    console.log(`\n## Property: ${runs} generated events`);
    const p = await propertyPhase(runs, seed, jobs);
    console.log(p.report);
    console.log(`\nproperty: ${p.ok ? 'PASSED' : 'FAILED'}; ${p.events} events handled`);
    failed ||= !p.ok;
  }
  if (!args.has('property-only')) {
    const cutMs = num('cut-s', 60) * 1000;
    console.log(`\n## Cost: events shaped to be slow or memory-hungry (one core, heap cap ${HEAP_MB} MB, wall-clock cut ${cutMs / 1000} s)`);
    const { outcomes, bad } = await costSearch(seed, jobs, cutMs);
    console.log(costTable(outcomes));
    if (bad.length) {
      console.log('\nOver the limits (10 s CPU, 1 GB RSS for an event within 6 MB), killed, crashed, threw or miscounted:');
      for (const b of bad) console.log(`- ${b}`);
    }
    console.log(`\ncost: ${bad.length ? 'FAILED' : 'PASSED'}; ${outcomes.length} events`);
    failed ||= bad.length > 0;
  }
  console.log(`\nfuzz ${failed ? 'FAILED' : 'PASSED'} in ${((Date.now() - started) / 1000).toFixed(0)} s (seed ${seed})`);
  process.exitCode = failed ? 1 : 0;
}

await main();
