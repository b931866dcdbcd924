/**
 * End-to-end proof under faults: records are produced to a real Kafka broker, the runner (a child process, as the
 * deployed function would be) writes them to versitygw through a fault-injecting proxy, and is SIGKILLed mid-batch
 * and restarted; at the end every offset must be in exactly one object, with the produced content, keys in offset
 * order per partition, and no multipart upload left open. Used by the e2e test and by `npm run soak`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import {
  CreateBucketCommand, GetObjectCommand, ListMultipartUploadsCommand, ListObjectsV2Command, S3Client,
} from '@aws-sdk/client-s3';
import { Admin, Producer } from '@platformatic/kafka';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { createTopic } from '../test/support/kafka.ts';
import { startFaultProxy, type FaultProxy } from '../test/support/fault-proxy.ts';
import type { S3Endpoint } from '../test/support/versitygw.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));

export interface SoakOptions {
  readonly records: number;
  /** Share of S3 requests that fail (500, 503 SlowDown, reset, stall). */
  readonly faultRate: number;
  /** Times the runner is SIGKILLed mid-run and restarted. */
  readonly kills: number;
  readonly bootstrap: string;
  readonly s3: S3Endpoint;
  readonly seed?: number;
  readonly log?: (line: string) => void;
  /** Give up after this long (ms). */
  readonly timeoutMs?: number;
}

export interface SoakReport {
  records: number;
  objects: number;
  uniqueOffsets: number;
  duplicates: number;
  missing: number;
  contentMismatches: number;
  orderViolations: number;
  openUploads: number;
  runs: number;
  kills: number;
  faults: FaultProxy['counts'];
  produceSeconds: number;
  runSeconds: number;
  recordsPerSecond: number;
  valueMB: number;
}

/** The record with index i: some without a key, some tombstones, JSON or binary values, repeated header names. */
export function soakRecord(i: number): { topic: 'events' | 'blobs'; key: Buffer | undefined; value: Buffer | undefined; headers: [string, Buffer][] } {
  const blob = i % 10 === 9;
  const key = i % 25 === 3 ? undefined : Buffer.from(`k-${i % 1000}`);
  let value: Buffer | undefined;
  if (i % 100 === 50) value = undefined; // tombstone
  else if (blob) value = Buffer.from(Array.from({ length: 2048 }, (_, j) => (i * 31 + j * 7) & 0xff));
  else value = Buffer.from(JSON.stringify({ i, order_id: `ord-${i}`, amount: (i % 997) / 10, big: `${2n ** 60n + BigInt(i)}` }));
  return { topic: blob ? 'blobs' : 'events', key, value, headers: [['i', Buffer.from(String(i))], ['dup', Buffer.from('a')], ['dup', Buffer.from([0xff, i & 0xff])]] };
}

async function produce(bootstrap: string, topics: { events: string; blobs: string }, n: number): Promise<void> {
  const producer = new Producer({ clientId: 'soak-producer', bootstrapBrokers: [bootstrap], idempotent: true });
  try {
    for (let start = 0; start < n; start += 1000) {
      const messages = [];
      for (let i = start; i < Math.min(n, start + 1000); i++) {
        const r = soakRecord(i);
        messages.push({ topic: topics[r.topic], key: r.key, value: r.value, headers: new Map(r.headers.map(([k, v]) => [Buffer.from(k), v])) });
      }
      await producer.send({ messages: messages as never });
    }
  } finally {
    await producer.close();
  }
}

async function committedTotal(admin: Admin, group: string): Promise<number> {
  const groups = await admin.listConsumerGroupOffsets({ groups: [group] }).catch(() => []);
  let n = 0;
  for (const g of groups) for (const t of g.topics) for (const p of t.partitions) if (p.committedOffset > 0n) n += Number(p.committedOffset);
  return n;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runSoak(o: SoakOptions): Promise<SoakReport> {
  const log = o.log ?? (() => {});
  const id = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
  const topics = { events: `soak-events-${id}`, blobs: `soak-blobs-${id}` };
  const group = `soak-group-${id}`;
  const bucket = `soak-${id}`;
  const direct = new S3Client({
    endpoint: o.s3.endpoint, region: o.s3.region, forcePathStyle: true, requestHandler: new NodeHttpHandler(),
    credentials: { accessKeyId: o.s3.accessKeyId, secretAccessKey: o.s3.secretAccessKey },
  });
  await direct.send(new CreateBucketCommand({ Bucket: bucket }));
  await createTopic(o.bootstrap, topics.events, 4);
  await createTopic(o.bootstrap, topics.blobs, 1);

  const t0 = Date.now();
  await produce(o.bootstrap, topics, o.records);
  const produceSeconds = (Date.now() - t0) / 1000;
  log(`produced ${o.records} records in ${produceSeconds.toFixed(1)} s`);

  const proxy = await startFaultProxy({ target: o.s3.endpoint, faultRate: o.faultRate, seed: o.seed ?? 7, stallMs: 30_000 });
  const admin = new Admin({ clientId: 'soak-admin', bootstrapBrokers: [o.bootstrap] });
  const env = {
    ...process.env,
    AWS_ACCESS_KEY_ID: o.s3.accessKeyId, AWS_SECRET_ACCESS_KEY: o.s3.secretAccessKey, AWS_REGION: o.s3.region,
    FORMAT: 'jsonl', COMPRESSION: 'none', KEY_ENCODING: 'base64', VALUE_ENCODING: 'base64', HEADER_ENCODING: 'base64',
    TOMBSTONES: 'write', MAX_RECORDS_PER_OBJECT: '5000', MULTIPART_THRESHOLD_BYTES: String(5 * 1024 * 1024),
    PART_SIZE_BYTES: String(5 * 1024 * 1024), S3_MAX_ATTEMPTS: '4', POWERTOOLS_LOG_LEVEL: 'ERROR',
  };
  const args = [
    'bin/runner.ts', '--brokers', o.bootstrap, '--topics', `${topics.events},${topics.blobs}`, '--group', group,
    '--bucket', bucket, '--s3-endpoint', proxy.endpoint, '--batch-size', '10000', '--window-ms', '300', '--bisect', ...(process.env.SOAK_DEBUG ? [] : ['--quiet']),
  ];
  const start = () => spawn(process.execPath, args, { cwd: ROOT, env, stdio: ['ignore', 'ignore', 'pipe'] });
  const t1 = Date.now();
  const deadline = t1 + (o.timeoutMs ?? 20 * 60_000);
  let runs = 0;
  let stderr = '';
  const watch = (c: ChildProcess) => c.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-8000);
    if (process.env.SOAK_DEBUG) process.stderr.write(d);
  });
  try {
    for (let k = 0; k < o.kills; k++) {
      const before = await committedTotal(admin, group);
      const child = start();
      runs++;
      watch(child);
      // Kill once the runner has made some progress (some batches committed), in the middle of its work.
      const target = before + Math.max(1, Math.floor(o.records / (o.kills + 2)));
      const exited = new Promise((r) => child.once('exit', r));
      while (Date.now() < deadline && child.exitCode === null && (await committedTotal(admin, group)) < target) await sleep(100);
      await sleep(50 + ((k * 137) % 400));
      // A runner that ended on its own (crash, gave up) is a failure, not a kill.
      if (child.exitCode !== null) throw new Error(`runner exited (${child.exitCode}) before it was killed; stderr: ${stderr}`);
      child.kill('SIGKILL');
      await exited;
      log(`run ${runs}: SIGKILL after ${await committedTotal(admin, group)} committed`);
    }
    const child = start();
    runs++;
    watch(child);
    while ((await committedTotal(admin, group)) < o.records) {
      if (Date.now() > deadline) throw new Error(`soak timed out with ${await committedTotal(admin, group)} of ${o.records} committed; runner stderr: ${stderr}`);
      if (child.exitCode !== null) throw new Error(`runner exited (${child.exitCode}) before the end; stderr: ${stderr}`);
      await sleep(200);
    }
    const exited = child.exitCode === null ? new Promise((r) => child.once('exit', r)) : Promise.resolve();
    child.kill('SIGTERM');
    await exited;
  } finally {
    await admin.close();
  }
  const runSeconds = (Date.now() - t1) / 1000;
  proxy.setFaultRate(0);
  await proxy.stop();

  // Verify with the server itself (no proxy): every object, every record.
  const seen = new Map<string, number>();
  const indexes = new Map<number, number>();
  let objects = 0;
  let contentMismatches = 0;
  let orderViolations = 0;
  let valueBytes = 0;
  const firstOffsets = new Map<string, { key: string; first: bigint }[]>();
  let token: string | undefined;
  do {
    const page = await direct.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'topics/', ContinuationToken: token }));
    for (const obj of page.Contents ?? []) {
      objects++;
      const body = await (await direct.send(new GetObjectCommand({ Bucket: bucket, Key: obj.Key! }))).Body!.transformToString();
      let first: bigint | undefined;
      let tp = '';
      for (const line of body.split('\n')) {
        if (!line) continue;
        const r = JSON.parse(line) as { topic: string; partition: number; offset: number; key: string | null; value: string | null; headers: { key: string; value: string }[] };
        const id = `${r.topic}:${r.partition}:${r.offset}`;
        seen.set(id, (seen.get(id) ?? 0) + 1);
        first ??= BigInt(r.offset);
        tp = `${r.topic}:${r.partition}`;
        const i = Number(Buffer.from(r.headers.find((h) => h.key === 'i')!.value, 'base64').toString());
        indexes.set(i, (indexes.get(i) ?? 0) + 1);
        const want = soakRecord(i);
        const ok = r.topic === topics[want.topic]
          && r.key === (want.key ? want.key.toString('base64') : null)
          && r.value === (want.value ? want.value.toString('base64') : null)
          && JSON.stringify(r.headers) === JSON.stringify(want.headers.map(([k, v]) => ({ key: k, value: v.toString('base64') })));
        if (!ok) contentMismatches++;
        valueBytes += want.value?.length ?? 0;
      }
      if (first !== undefined) (firstOffsets.get(tp) ?? firstOffsets.set(tp, []).get(tp)!).push({ key: obj.Key!, first });
    }
    token = page.NextContinuationToken;
  } while (token);
  // Within one key prefix (the key up to the offset), sorting the real keys as strings must sort them by first offset.
  for (const list of firstOffsets.values()) {
    const byPrefix = new Map<string, { key: string; first: bigint }[]>();
    for (const x of list) {
      const prefix = x.key.replace(/\+\d{20}\.[a-z.]+$/, '');
      (byPrefix.get(prefix) ?? byPrefix.set(prefix, []).get(prefix)!).push(x);
    }
    for (const objs of byPrefix.values()) {
      const byKey = [...objs].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)).map((x) => x.first);
      const byOffset = [...objs].map((x) => x.first).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      if (byKey.join() !== byOffset.join()) orderViolations++;
    }
  }
  const open = await direct.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
  // Every produced record (by its index) exactly once, and no offset twice.
  let missingIndexes = 0;
  for (let i = 0; i < o.records; i++) if (!indexes.has(i)) missingIndexes++;
  const duplicates = [...seen.values()].filter((n) => n > 1).length + [...indexes.values()].filter((n) => n > 1).length;
  return {
    records: o.records, objects, uniqueOffsets: seen.size, duplicates, missing: missingIndexes, contentMismatches, orderViolations,
    openUploads: (open.Uploads ?? []).length, runs, kills: o.kills, faults: { ...proxy.counts }, produceSeconds, runSeconds,
    recordsPerSecond: o.records / runSeconds, valueMB: valueBytes / 1e6,
  };
}
