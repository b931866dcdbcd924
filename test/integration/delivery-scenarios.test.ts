/**
 * Issue 9's table, row by row, against versitygw (which enforces If-Match / If-None-Match) with the real handler:
 * redeliveries from earlier offsets with other cuts, lost commits, overlapping invocations, byte cuts with bisect,
 * and a batch given up after retries. After each scenario every object is read back and each offset counted:
 * 0 missing, 0 duplicated, content equal. Every row runs in every format (read back by pyarrow, fastavro, DuckDB,
 * Python csv/json through test/readers/read_many.py), and in jsonl once more for a failure at every S3 request.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { extensionFor, Formats, type Format } from '../../lambdas/shared/constants.ts';
import { createSinkHandler } from '../../lambdas/sink/app.ts';
import { kafkaEvent, type RecordSpec } from '../support/events.ts';
import { ReaderPool } from '../support/hostile.ts';
import { describeS3 } from '../support/s3-context.ts';
import { createBucket, infraPaths, REPO_ROOT, s3ClientFor } from '../support/versitygw.ts';

const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 0, 1);
const MARK = /rec-(\d+)-(\d+)-ok/g;

/** Records of one partition: an hour boundary at offset 700, and every 97th record a dead letter (not JSON). */
function recordsOf(topic: string, count: number): RecordSpec[] {
  return Array.from({ length: count }, (_, offset) => ({
    topic, partition: 0, offset, key: `k${offset % 4}`, timestamp: T0 + (offset < 700 ? 0 : HOUR) + offset,
    value: offset % 97 === 13 ? `broken rec-0-${offset}-ok` : JSON.stringify({ id: `rec-0-${offset}-ok`, n: offset, note: 'x'.repeat(offset % 40) }),
  }));
}

/**
 * Per invocation: hold its requests after the first `holdAfter` until released; fail all of them; or let the first
 * `failAfterPuts` data PutObjects through and fail the later ones (checkpoint writes pass, so it releases its claim).
 */
interface Control { holdAfter?: number; failAll?: boolean; failAfterPuts?: number }

/** An S3 client whose requests can be failed or held, per invocation. */
class Wire {
  puts = 0;
  failPutAt = -1;
  private releases: (() => void)[] = [];
  private gate: Promise<void> | null = null;
  readonly inner: S3Client;
  constructor(inner: S3Client) {
    this.inner = inner;
  }
  /** Holds back invocations with holdAfter until release(). */
  arm(): void {
    this.gate ??= new Promise<void>((r) => this.releases.push(r));
  }
  release(): void {
    for (const r of this.releases.splice(0)) r();
    this.gate = null;
  }
  client(control: Control): S3Client {
    let requests = 0;
    let dataPuts = 0;
    return {
      config: this.inner.config,
      send: async (command: { constructor: { name: string } }) => {
        if (control.holdAfter !== undefined && requests++ >= control.holdAfter && this.gate) await this.gate;
        if (control.failAll) throw new Error('injected: S3 unavailable for this batch');
        const put = command.constructor.name === 'PutObjectCommand';
        const checkpoint = put && String((command as unknown as { input: { Key: string } }).input.Key).startsWith('checkpoints/');
        if (control.failAfterPuts !== undefined && put && !checkpoint && dataPuts++ >= control.failAfterPuts) throw new Error('injected: S3 failed mid-batch');
        if (command.constructor.name === 'PutObjectCommand' && this.puts++ === this.failPutAt) throw new Error('injected: S3 unavailable');
        return this.inner.send(command as never);
      },
    } as unknown as S3Client;
  }
}

interface Env { readonly [k: string]: string | undefined }

/** One scenario: runs deliveries as the event source would; `release` lets held invocations go on. */
type Scenario = (deliver: Deliver, release: () => void) => Promise<void>;
/** Delivers offsets from..to; a failed invocation is retried once (a transient failure), unless it fails all. */
type Deliver = (from: number, to: number, opts?: Control) => Promise<boolean>;

const cases: [string, number, Scenario][] = [
  ['same batch retried; a longer retry; a shorter retry (bisect) from the same start', 1200, async (d) => {
    await d(0, 399); await d(0, 399); await d(0, 599); await d(0, 299); await d(300, 1199);
  }],
  ['0–999 written, commit lost, next batch 500–1499', 1500, async (d) => {
    await d(0, 999); await d(500, 1499);
  }],
  ['0–299 and 300–599 written, both commits lost, 0–599 redelivered', 600, async (d) => {
    await d(0, 299); await d(300, 599); await d(0, 599);
  }],
  ['the same range redelivered with other batch cuts (new group)', 1200, async (d) => {
    for (let o = 0; o < 1200; o += 400) await d(o, o + 399);
    for (let o = 0; o < 1200; o += 250) await d(o, Math.min(1199, o + 249));
  }],
  ['mid-object start across a MAX_RECORDS_PER_OBJECT window, an hour boundary, with dead letters', 1000, async (d) => {
    await d(0, 650); await d(120, 750); await d(333, 999); await d(0, 999);
  }],
  ['two invocations overlapping: 0–999 and a slow 0–499 writing last', 1000, async (d, release) => {
    // The slow one reads the checkpoint, then stalls; the other writes everything; the slow one's claim must lose.
    const slow = d(0, 499, { holdAfter: 1 });
    await new Promise((r) => setTimeout(r, 100));
    await d(0, 999);
    release();
    await slow;
    await d(0, 499); // the event source's retry of the loser
  }],
  ['the same overlap, other order: a slow 0–999 holds the claim while 0–499 arrives', 1000, async (d, release) => {
    const slow = d(0, 999, { holdAfter: 2 }); // checkpoint read and claim, then it stalls before the data
    await new Promise((r) => setTimeout(r, 100));
    await d(0, 499); // the claim is live: this one (and its retry) fail loudly
    release();
    await slow;
    await d(0, 499);
  }],
  ['MAX_OBJECT_BYTES below the batch size, failure then bisect', 400, async (d) => {
    await d(0, 399); await d(0, 199); await d(200, 399);
  }],
];

const settingsFor = (format: Format): Env => ({
  FORMAT: format,
  FIELDS: format === 'text' || format === 'bytes' ? 'value' : 'value,offset,key',
  VALUE_ENCODING: format === 'text' || format === 'bytes' ? 'text' : 'json',
  ...(format === 'bytes' ? { BYTES_SEPARATOR: '\\0' } : {}),
  MAX_RECORDS_PER_OBJECT: '250',
  KEY_TEMPLATE: '{{topic}}/dt={{timestamp:yyyy-MM-dd}}/hour={{timestamp:HH}}/{{topic}}+{{partition}}+{{start_offset}}',
});

describeS3('delivery scenarios: every offset exactly once, whatever the event source delivers', (s3) => {
  const admin = s3ClientFor(s3);
  let readers: ReaderPool;
  const work = join(tmpdir(), `kafka-s3-scenarios-${process.pid}`);
  beforeAll(async () => {
    const { pyVenvPython } = await infraPaths();
    readers = ReaderPool.start(pyVenvPython, join(REPO_ROOT, 'test/readers/read_many.py'));
  });
  afterAll(async () => {
    await readers?.stop();
    await rm(work, { recursive: true, force: true });
  });

  let bucketSeq = 0;
  /** Runs a scenario on a fresh bucket; returns how often each offset is in the data and dead-letter objects. */
  async function play(format: Format, count: number, scenario: Scenario, extra: Env = {}, failPutAt = -1) {
    const bucket = `scn-${process.pid % 10000}-${++bucketSeq}`;
    await createBucket(s3, bucket);
    const topic = 'orders';
    const env = { BUCKET_NAME: bucket, S3_ENDPOINT: s3.endpoint, S3_MAX_ATTEMPTS: '1', ...settingsFor(format), ...extra };
    const wire = new Wire(admin);
    wire.failPutAt = failPutAt;
    const all = recordsOf(topic, count);
    const context = (id: string) => ({ awsRequestId: id, getRemainingTimeInMillis: () => 60_000 }) as never;
    const deliver: Deliver = async (from, to, opts = {}) => {
      if (opts.holdAfter !== undefined) wire.arm();
      const handler = createSinkHandler({ env, s3: wire.client(opts) });
      try {
        await handler(kafkaEvent(all.slice(from, to + 1)), context(`r${from}-${to}-${Math.random()}`));
        return true;
      } catch {
        if (opts.failAll || opts.failAfterPuts !== undefined) return false; // given up: sent to the on-failure destination
        // The event source retries a failed batch: once more, with nothing injected (the failure was transient).
        const retry = createSinkHandler({ env, s3: wire.client({}) });
        await retry(kafkaEvent(all.slice(from, to + 1)), context(`retry-${from}-${to}`)).catch(() => undefined);
        return false;
      }
    };
    await scenario(deliver, () => wire.release());
    return countOffsets(bucket, format, env);
  }

  /** Downloads every data and dead-letter object and counts each record once per appearance (independent readers). */
  async function countOffsets(bucket: string, format: Format, env: Env): Promise<Map<number, number>> {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const page = await admin.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
      keys.push(...(page.Contents ?? []).map((o) => o.Key!));
      token = page.NextContinuationToken;
    } while (token);
    const dir = join(work, bucket);
    await mkdir(dir, { recursive: true });
    const manifest: { file: string; key: string; format: string; compression: string; separator: string }[] = [];
    const counts = new Map<number, number>();
    const add = (o: number) => counts.set(o, (counts.get(o) ?? 0) + 1);
    const compression = format === 'avro' || format === 'parquet' ? 'none' : env.COMPRESSION ?? 'gzip';
    for (const key of keys) {
      if (key.startsWith('checkpoints/')) continue;
      const body = Buffer.from(await (await admin.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body!.transformToByteArray());
      if (key.startsWith('dead-letters/')) {
        for (const line of body.toString().trim().split('\n')) {
          const d = JSON.parse(line) as { offset: string; value: string };
          expect(Buffer.from(d.value, 'base64').toString()).toBe(`broken rec-0-${d.offset}-ok`);
          add(Number(d.offset));
        }
        continue;
      }
      const file = `o${manifest.length}`;
      await writeFile(join(dir, file), body);
      manifest.push({ file, key, format, compression, separator: env.BYTES_SEPARATOR === '\\0' ? '00' : '0a' });
    }
    await writeFile(join(dir, 'manifest.json'), JSON.stringify({ objects: manifest }));
    const doc = await readers.read(dir);
    expect(doc.error).toBeUndefined();
    for (const o of doc.objects ?? []) {
      const results = Object.entries(o.readers);
      for (const [name, r] of results) expect(r.ok, `${name} on ${manifest.find((m) => m.file === o.file)?.key}: ${r.ok ? '' : r.error}`).toBe(true);
      // One reader's rows count the records; every reader of the object must see the same count.
      const [first] = results;
      const counted = new Set(results.map(([, r]) => (r.ok ? r.count : -1)));
      expect(counted.size, `readers disagree on ${o.file}`).toBe(1);
      for (const text of texts(first[1])) for (const m of text.matchAll(MARK)) add(Number(m[2]));
    }
    return counts;
  }

  /** Every string in a reader's tagged result (bytes, {"y": base64}, decoded). */
  function* texts(v: unknown): Generator<string> {
    if (typeof v === 'string') yield v;
    else if (Array.isArray(v)) for (const x of v) yield* texts(x);
    else if (v && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      if (typeof o.y === 'string' && Object.keys(o).length === 1) yield Buffer.from(o.y, 'base64').toString('utf8');
      else for (const x of Object.values(o)) yield* texts(x);
    }
  }

  function expectExactlyOnce(counts: Map<number, number>, count: number, missing: ReadonlySet<number> = new Set()) {
    const wrong = [...Array(count).keys()].filter((o) => (counts.get(o) ?? 0) !== (missing.has(o) ? 0 : 1));
    expect(wrong.map((o) => [o, counts.get(o) ?? 0]).slice(0, 10)).toEqual([]);
  }

  for (const format of Formats) {
    it.each(cases)(`${format}: %s`, async (_name, count, scenario) => {
      const extra = _name.startsWith('MAX_OBJECT_BYTES') ? { MAX_OBJECT_BYTES: '8192' } : {};
      expectExactlyOnce(await play(format, count, scenario, extra), count);
    }, 60_000);
  }

  it('jsonl: each row again with a failure at every S3 PutObject (data, dead letters, checkpoints) in turn', async () => {
    for (const [name, count, scenario] of cases) {
      for (let k = 0; k < 12; k++) {
        const extra = name.startsWith('MAX_OBJECT_BYTES') ? { MAX_OBJECT_BYTES: '8192' } : {};
        expectExactlyOnce(await play('jsonl', count, scenario, { ...extra, COMPRESSION: 'none' }, k), count);
      }
    }
  }, 600_000);

  it('a batch given up after retries (on-failure destination): its records are in no object, every other record once', async () => {
    const counts = await play('jsonl', 900, async (d) => {
      await d(0, 299);
      // 300–599: the first attempt writes some objects, then S3 fails; every retry fails; the event source gives up on
      // it (the batch goes to the on-failure destination) and moves on to 600.
      await d(300, 599, { failAfterPuts: 2 });
      await d(300, 599, { failAll: true });
      await d(600, 899);
    }, { COMPRESSION: 'none', MAX_RECORDS_PER_OBJECT: '50' });
    expectExactlyOnce(counts, 900, new Set(Array.from({ length: 300 }, (_, i) => 300 + i)));
  }, 60_000);
});
