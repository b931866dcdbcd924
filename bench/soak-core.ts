/**
 * End-to-end proof under faults: records are produced to a real Kafka broker, the runner (a child process, as the
 * deployed function would be) writes them to versitygw through a fault-injecting proxy; at the end every offset
 * must be in exactly one object, with the produced content, keys in offset order per partition, every partition's
 * checkpoint complete (past its last offset, no claim left), and no multipart upload left open. Two modes:
 * - `kills`: one runner, SIGKILLed mid-batch `kills` times and restarted (as a crashed function is retried);
 * - `rewinds`: two consumer groups over the same topics (two runners writing the same partitions at once, plus a
 *   second member in the first group with `consumers: 3`), and `kills` chaos events in turn: a member SIGKILLed and
 *   restarted; a whole group SIGKILLed (its commits since the last batch lost), its dead members removed and its
 *   committed offsets moved back to earlier ones; a group stopped with SIGTERM and rewound the same way. Each
 *   restart picks another batch size, so the redelivered ranges are cut differently.
 * - `rebalance`: one consumer group, runners joining and leaving it over and over (1 to 3 members: a new member
 *   started, a member stopped with SIGTERM or SIGKILLed, in turn): every rebalance moves partitions between live
 *   runners while batches are in flight. The committed offsets of every partition are sampled all along, and the
 *   longest time a partition with records left made no progress is reported (`maxPartitionIdleSeconds`).
 * Used by the e2e test and by `npm run soak`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import {
  CreateBucketCommand, GetObjectCommand, ListMultipartUploadsCommand, ListObjectsV2Command, S3Client,
} from '@aws-sdk/client-s3';
import { Admin, Producer } from '@platformatic/kafka';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { createTopic } from '../test/support/kafka.ts';
import { mulberry32, startFaultProxy, type Fault, type FaultProxy } from '../test/support/fault-proxy.ts';
import type { S3Endpoint } from '../test/support/versitygw.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));

export type SoakMode = 'kills' | 'rewinds' | 'rebalance';

export interface SoakOptions {
  readonly records: number;
  /** Share of S3 requests that fail (500, 503 SlowDown, reset, stall). */
  readonly faultRate: number;
  /** Which faults the proxy injects. @default all four: 500, 503 SlowDown, connection reset, stall past the client timeout */
  readonly faults?: readonly Fault[];
  /** kills: times the runner is SIGKILLed mid-run and restarted; rewinds: chaos events (kills and rewinds in turn); rebalance: joins and leaves. */
  readonly kills: number;
  /** @default 'kills' */
  readonly mode?: SoakMode;
  /** rewinds: runner processes, 2 (one per group) or 3 (two in the first group). @default 2 */
  readonly consumers?: number;
  readonly bootstrap: string;
  readonly s3: S3Endpoint;
  readonly seed?: number;
  readonly log?: (line: string) => void;
  /** Give up after this long (ms). */
  readonly timeoutMs?: number;
}

export interface SoakReport {
  mode: SoakMode;
  records: number;
  objects: number;
  uniqueOffsets: number;
  /** Offsets (and produced records) found more than once. */
  duplicates: number;
  /** Produced records found in no object. */
  missing: number;
  contentMismatches: number;
  orderViolations: number;
  openUploads: number;
  deadLetterObjects: number;
  /** Partitions whose checkpoint is not past their last offset, or still holds a claim. */
  checkpointProblems: number;
  checkpoints: number;
  runs: number;
  kills: number;
  /** rewinds: consumer processes, groups, group rewinds and the offsets they moved back in all. */
  consumers: number;
  groups: number;
  rewinds: number;
  offsetsRewound: number;
  /** rebalance: members that joined and left the group (each a rebalance). */
  joins: number;
  leaves: number;
  /** Longest time a partition with records left saw its committed offset not move (every mode; sampled every 250 ms). */
  maxPartitionIdleSeconds: number;
  /** The partition that stood still longest: group/topic/partition, the offset it stood at, from when (s into the run). */
  idlest?: { partition: string; offset: string; fromSecond: number; seconds: number };
  /**
   * From the runners' output, every run (a SIGKILLed one up to its death): invocations that succeeded, records they
   * wrote (each offset is in exactly one completed claim, so at most `records`; a run killed between a batch's
   * completion and its log line leaves it out) and found already written; failed invocations, those that lost a
   * claim to another invocation, and claims of dead runners released.
   */
  runner: { invocations: number; written: number; alreadyWritten: number; failedInvocations: number; claimConflicts: number; claimsReleased: number };
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

async function committedOffsets(admin: Admin, group: string): Promise<{ topic: string; partition: number; offset: bigint }[]> {
  const groups = await admin.listConsumerGroupOffsets({ groups: [group] }).catch(() => []);
  const out = [];
  for (const g of groups) for (const t of g.topics) for (const p of t.partitions) if (p.committedOffset > 0n) out.push({ topic: t.name, partition: p.partitionIndex, offset: p.committedOffset });
  return out;
}

async function committedTotal(admin: Admin, group: string): Promise<number> {
  return (await committedOffsets(admin, group)).reduce((n, c) => n + Number(c.offset), 0);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One runner process slot: a member of a consumer group, restarted as often as the soak says. */
interface Member {
  readonly name: string;
  readonly group: string;
  child?: ChildProcess;
  exited?: Promise<void>;
  stopping: boolean;
}

export async function runSoak(o: SoakOptions): Promise<SoakReport> {
  const startedAt = Date.now();
  const log = o.log ? (line: string) => o.log!(`[${((Date.now() - startedAt) / 1000).toFixed(1)} s] ${line}`) : () => {};
  const mode = o.mode ?? 'kills';
  const random = mulberry32((o.seed ?? 7) * 7919 + 13);
  const id = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
  const topics = { events: `soak-events-${id}`, blobs: `soak-blobs-${id}` };
  if (!['kills', 'rewinds', 'rebalance'].includes(mode)) throw new Error(`unknown soak mode ${mode}`);
  const groups = mode === 'rewinds' ? [`soak-group-a-${id}`, `soak-group-b-${id}`] : [`soak-group-${id}`];
  const consumers = mode === 'rewinds' ? (o.consumers ?? 2) : 1;
  if (mode === 'rewinds' && consumers !== 2 && consumers !== 3) throw new Error('rewinds mode runs 2 or 3 consumers');
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

  const proxy = await startFaultProxy({ target: o.s3.endpoint, faultRate: o.faultRate, seed: o.seed ?? 7, stallMs: 30_000, ...(o.faults ? { faults: o.faults } : {}) });
  const admin = new Admin({ clientId: 'soak-admin', bootstrapBrokers: [o.bootstrap] });
  const env = {
    ...process.env,
    AWS_ACCESS_KEY_ID: o.s3.accessKeyId, AWS_SECRET_ACCESS_KEY: o.s3.secretAccessKey, AWS_REGION: o.s3.region,
    FORMAT: 'jsonl', COMPRESSION: 'none', KEY_ENCODING: 'base64', VALUE_ENCODING: 'base64', HEADER_ENCODING: 'base64',
    TOMBSTONES: 'write', MAX_RECORDS_PER_OBJECT: '5000', MULTIPART_THRESHOLD_BYTES: String(5 * 1024 * 1024),
    PART_SIZE_BYTES: String(5 * 1024 * 1024), S3_MAX_ATTEMPTS: '4',
    // One line per batch ('batch written' with alreadyWritten, 'batch failed' with the error): counted below.
    POWERTOOLS_LOG_LEVEL: 'INFO',
  };
  const argsFor = (group: string, batchSize: number) => [
    'bin/runner.ts', '--brokers', o.bootstrap, '--topics', `${topics.events},${topics.blobs}`, '--group', group,
    '--bucket', bucket, '--s3-endpoint', proxy.endpoint, '--batch-size', String(batchSize), '--window-ms', '300', '--bisect',
    // The sink's JSON log lines as they are (counted below), not condensed for a terminal.
    '--debug',
  ];
  const t1 = Date.now();
  const deadline = t1 + (o.timeoutMs ?? 20 * 60_000);
  let runs = 0;
  let stderr = '';
  const runner: SoakReport['runner'] = { invocations: 0, written: 0, alreadyWritten: 0, failedInvocations: 0, claimConflicts: 0, claimsReleased: 0 };
  const countLine = (line: string) => {
    if (line.includes('released the claim of ')) runner.claimsReleased++;
    if (!line.startsWith('{')) return;
    let log: { message?: string; written?: number; alreadyWritten?: number; error?: { name?: string } };
    try {
      log = JSON.parse(line) as typeof log;
    } catch {
      return;
    }
    if (log.message === 'batch written') {
      runner.invocations++;
      runner.written += log.written ?? 0;
      runner.alreadyWritten += log.alreadyWritten ?? 0;
    } else if (log.message === 'batch failed; the event source will retry it') {
      runner.failedInvocations++;
      if (log.error?.name === 'ClaimConflictError') runner.claimConflicts++;
    }
  };
  /** Splits a stream into lines, counting each; keeps the tail of what is not a sink log line for error messages. */
  const lines = (name: string, stream: NodeJS.ReadableStream | null) => {
    let rest = '';
    stream?.on('data', (d: Buffer) => {
      const parts = (rest + d.toString()).split('\n');
      rest = parts.pop()!;
      for (const line of parts) {
        countLine(line);
        if (line.includes('stream reopened')) log(`[${name}] ${line}`);
        if (!line.startsWith('{') && line.trim() !== '') stderr = `${stderr}[${name}] ${line}\n`.slice(-8000);
        if (process.env.SOAK_DEBUG) process.stderr.write(`[${name}] ${line}\n`);
      }
    });
  };

  const start = (m: Member, batchSize: number) => {
    const child = spawn(process.execPath, argsFor(m.group, batchSize), { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    runs++;
    m.child = child;
    m.stopping = false;
    lines(m.name, child.stdout);
    lines(m.name, child.stderr);
    m.exited = new Promise((r) => child.once('exit', () => r()));
  };
  /** A runner that ended without being told to (crash, gave up) is a failure. */
  const checkAlive = (members: readonly Member[]) => {
    for (const m of members) {
      if (!m.stopping && m.child && m.child.exitCode !== null) throw new Error(`runner ${m.name} exited (${m.child.exitCode}) on its own; stderr: ${stderr}`);
    }
  };
  const stop = async (m: Member, signal: 'SIGKILL' | 'SIGTERM') => {
    m.stopping = true;
    if (m.child && m.child.exitCode === null && m.child.signalCode === null) m.child.kill(signal);
    await m.exited;
  };
  const batchSizes = [10_000, 4000, 2500, 7000, 1500, 600];
  const pickBatch = () => batchSizes[Math.floor(random() * batchSizes.length)];

  let rewinds = 0;
  let offsetsRewound = 0;
  let joins = 0;
  let leaves = 0;
  // Committed offsets of every partition of every group, sampled: when each last moved, and the longest stand-still.
  const lastMove = new Map<string, { offset: bigint; at: number }>();
  const idle = new Map<string, number>();
  let sampling = true;
  let idlest: SoakReport['idlest'];
  const sampleOnce = async () => {
    const now = Date.now();
    for (const g of groups) {
      for (const c of await committedOffsets(admin, g)) {
        const k = `${g}/${c.topic}/${c.partition}`;
        const seen = lastMove.get(k);
        if (!seen) lastMove.set(k, { offset: c.offset, at: t1 });
        else if (seen.offset !== c.offset) {
          if (now - seen.at > (idle.get(k) ?? 0)) {
            idle.set(k, now - seen.at);
            if (now - seen.at > (idlest?.seconds ?? 0) * 1000) {
              idlest = { partition: k.replace(/-[0-9a-z]+\//g, '/'), offset: String(seen.offset), fromSecond: (seen.at - t1) / 1000, seconds: (now - seen.at) / 1000 };
            }
          }
          lastMove.set(k, { offset: c.offset, at: now });
        }
      }
    }
  };
  // Every partition from the start (offset 0 until its first commit): one never consumed counts too.
  for (const g of groups) {
    for (const [topic, n] of [[topics.events, 4], [topics.blobs, 1]] as const) for (let p = 0; p < n; p++) lastMove.set(`${g}/${topic}/${p}`, { offset: 0n, at: t1 });
  }
  const sampler = (async () => {
    while (sampling) {
      await sampleOnce().catch(() => {});
      await sleep(250);
    }
  })();
  /** Moves a stopped group's committed offsets back: to 0 for about a quarter of its partitions, else to a random earlier one. */
  const rewind = async (group: string) => {
    // Members killed with SIGKILL stay in the group until their session times out: remove them now.
    await admin.removeMembersFromConsumerGroup({ groupId: group }).catch(() => {});
    const committed = await committedOffsets(admin, group);
    const targets = committed.map((c) => ({ ...c, to: random() < 0.25 ? 0n : BigInt(Math.floor(Number(c.offset) * random())) }));
    const byTopic = new Map<string, { partition: number; offset: bigint }[]>();
    for (const t of targets) (byTopic.get(t.topic) ?? byTopic.set(t.topic, []).get(t.topic)!).push({ partition: t.partition, offset: t.to });
    for (let attempt = 1; ; attempt++) {
      try {
        await admin.alterConsumerGroupOffsets({ groupId: group, topics: [...byTopic].map(([name, partitionOffsets]) => ({ name, partitionOffsets })) });
        break;
      } catch (err) {
        // The coordinator refuses while the group still has members (a rebalance settling): try again shortly.
        if (attempt >= 60 || Date.now() > deadline) throw new Error(`rewinding ${group} failed: ${(err as Error).message}`, { cause: err });
        await admin.removeMembersFromConsumerGroup({ groupId: group }).catch(() => {});
        await sleep(500);
      }
    }
    rewinds++;
    const moved = targets.reduce((n, t) => n + Number(t.offset - t.to), 0);
    offsetsRewound += moved;
    return moved;
  };

  try {
    if (mode === 'kills') {
      const m: Member = { name: 'runner', group: groups[0], stopping: false };
      for (let k = 0; k < o.kills; k++) {
        const before = await committedTotal(admin, m.group);
        start(m, 10_000);
        // Kill once the runner has made some progress (some batches committed), in the middle of its work.
        const target = Math.min(o.records, before + Math.max(1, Math.floor(o.records / (o.kills + 2))));
        while (Date.now() < deadline && m.child!.exitCode === null && (await committedTotal(admin, m.group)) < target) await sleep(100);
        await sleep(50 + ((k * 137) % 400));
        checkAlive([m]);
        await stop(m, 'SIGKILL');
        log(`run ${runs}: SIGKILL after ${await committedTotal(admin, m.group)} committed`);
      }
      start(m, 10_000);
      while ((await committedTotal(admin, m.group)) < o.records) {
        if (Date.now() > deadline) throw new Error(`soak timed out with ${await committedTotal(admin, m.group)} of ${o.records} committed; runner stderr: ${stderr}`);
        checkAlive([m]);
        await sleep(200);
      }
      await stop(m, 'SIGTERM');
    } else if (mode === 'rewinds') {
      const members: Member[] = Array.from({ length: consumers }, (_, i) => ({
        name: consumers === 3 ? ['a1', 'a2', 'b'][i] : ['a', 'b'][i], group: groups[consumers === 3 && i < 2 ? 0 : Math.min(i, 1)], stopping: false,
      }));
      for (const m of members) start(m, pickBatch());
      const progress = async () => (await Promise.all(groups.map((g) => committedTotal(admin, g)))).reduce((a, b) => a + b, 0);
      const step = Math.max(1, Math.floor((groups.length * o.records) / (o.kills + 2)));
      for (let k = 0; k < o.kills; k++) {
        // Let the consumers make some progress, then strike in the middle of their work.
        const target = Math.min(groups.length * o.records, (await progress()) + step);
        while (Date.now() < deadline && (await progress()) < target) {
          checkAlive(members);
          await sleep(100);
        }
        await sleep(50 + Math.floor(random() * 400));
        checkAlive(members);
        const kind = k % 3;
        if (kind === 0) {
          const m = members[Math.floor(random() * members.length)];
          await stop(m, 'SIGKILL');
          start(m, pickBatch());
          log(`event ${k + 1}: SIGKILL ${m.name} (${m.group}), restarted`);
        } else {
          const group = groups[Math.floor(random() * groups.length)];
          const inGroup = members.filter((m) => m.group === group);
          const signal = kind === 1 ? 'SIGKILL' : 'SIGTERM';
          await Promise.all(inGroup.map((m) => stop(m, signal)));
          const moved = await rewind(group);
          for (const m of inGroup) start(m, pickBatch());
          log(`event ${k + 1}: ${signal} ${inGroup.map((m) => m.name).join(', ')} (${group}), committed offsets moved back by ${moved} in all, restarted`);
        }
      }
      // Every group must get through every record: the later one finds them written and only advances.
      for (;;) {
        const done = await Promise.all(groups.map((g) => committedTotal(admin, g)));
        if (done.every((n) => n >= o.records)) break;
        if (Date.now() > deadline) throw new Error(`soak timed out with ${done.join(' / ')} of ${o.records} committed; runner stderr: ${stderr}`);
        checkAlive(members);
        await sleep(200);
      }
      await Promise.all(members.map((m) => stop(m, 'SIGTERM')));
    } else {
      // rebalance: one group; members join and leave it in turn, 1 to 3 running at any time.
      const members: Member[] = ['a', 'b', 'c'].map((name) => ({ name, group: groups[0], stopping: true }));
      const running = () => members.filter((m) => !m.stopping);
      start(members[0], pickBatch());
      const step = Math.max(1, Math.floor(o.records / (o.kills + 2)));
      for (let k = 0; k < o.kills; k++) {
        const target = Math.min(o.records, (await committedTotal(admin, groups[0])) + step);
        while (Date.now() < deadline && (await committedTotal(admin, groups[0])) < target) {
          checkAlive(members);
          await sleep(100);
        }
        await sleep(50 + Math.floor(random() * 400));
        checkAlive(members);
        const up = running();
        // Join when one runs (or randomly with two), leave when three run (or randomly with two).
        const join = up.length === 1 || (up.length === 2 && random() < 0.5);
        if (join) {
          const m = members.find((x) => x.stopping)!;
          start(m, pickBatch());
          joins++;
          log(`event ${k + 1}: ${m.name} joins (${up.length + 1} members)`);
        } else {
          const m = up[Math.floor(random() * up.length)];
          const signal = random() < 0.5 ? 'SIGKILL' : 'SIGTERM';
          await stop(m, signal);
          leaves++;
          log(`event ${k + 1}: ${m.name} leaves by ${signal} (${up.length - 1} members)`);
        }
      }
      while ((await committedTotal(admin, groups[0])) < o.records) {
        if (Date.now() > deadline) throw new Error(`soak timed out with ${await committedTotal(admin, groups[0])} of ${o.records} committed; runner stderr: ${stderr}`);
        checkAlive(members);
        await sleep(200);
      }
      await Promise.all(running().map((m) => stop(m, 'SIGTERM')));
    }
    await sampleOnce();
  } finally {
    sampling = false;
    await sampler;
    await admin.close();
  }
  // Partitions still behind at the last sample never got there: their stand-still counts to the end.
  const maxPartitionIdleSeconds = Math.max(0, ...idle.values()) / 1000;
  const runSeconds = (Date.now() - t1) / 1000;
  proxy.setFaultRate(0);
  await proxy.stop();

  // Verify with the server itself (no proxy): every object, every record.
  const listAll = async (prefix: string) => {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const page = await direct.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
      for (const obj of page.Contents ?? []) keys.push(obj.Key!);
      token = page.NextContinuationToken;
    } while (token);
    return keys;
  };
  const seen = new Map<string, number>();
  const lastOffset = new Map<string, bigint>();
  const indexes = new Map<number, number>();
  let objects = 0;
  let contentMismatches = 0;
  let orderViolations = 0;
  let valueBytes = 0;
  const firstOffsets = new Map<string, { key: string; first: bigint }[]>();
  for (const key of await listAll('topics/')) {
    objects++;
    const body = await (await direct.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body!.transformToString();
    let first: bigint | undefined;
    let tp = '';
    for (const line of body.split('\n')) {
      if (!line) continue;
      const r = JSON.parse(line) as { topic: string; partition: number; offset: number; key: string | null; value: string | null; headers: { key: string; value: string }[] };
      const id = `${r.topic}:${r.partition}:${r.offset}`;
      seen.set(id, (seen.get(id) ?? 0) + 1);
      first ??= BigInt(r.offset);
      tp = `${r.topic}:${r.partition}`;
      if ((lastOffset.get(tp) ?? -1n) < BigInt(r.offset)) lastOffset.set(tp, BigInt(r.offset));
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
    if (first !== undefined) (firstOffsets.get(tp) ?? firstOffsets.set(tp, []).get(tp)!).push({ key, first });
  }
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
  // Each partition's checkpoint: past the partition's last offset, no claim left.
  let checkpointProblems = 0;
  const checkpointKeys = await listAll('checkpoints/');
  const covered = new Set<string>();
  for (const key of checkpointKeys) {
    const cp = JSON.parse(await (await direct.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body!.transformToString()) as { topic: string; partition: number; next: string | null; claim: unknown };
    const tp = `${cp.topic}:${cp.partition}`;
    covered.add(tp);
    const last = lastOffset.get(tp);
    if (cp.claim !== null || last === undefined || cp.next !== String(last + 1n)) {
      checkpointProblems++;
      log(`checkpoint ${key}: next ${cp.next}, last offset written ${last}, claim ${JSON.stringify(cp.claim)}`);
    }
  }
  for (const tp of lastOffset.keys()) if (!covered.has(tp)) checkpointProblems++;
  const deadLetterObjects = (await listAll('dead-letters/')).length;
  const open = await direct.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
  // Every produced record (by its index) exactly once, and no offset twice.
  let missingIndexes = 0;
  for (let i = 0; i < o.records; i++) if (!indexes.has(i)) missingIndexes++;
  const duplicates = [...seen.values()].filter((n) => n > 1).length + [...indexes.values()].filter((n) => n > 1).length;
  return {
    mode, records: o.records, objects, uniqueOffsets: seen.size, duplicates, missing: missingIndexes, contentMismatches, orderViolations,
    openUploads: (open.Uploads ?? []).length, deadLetterObjects, checkpointProblems, checkpoints: checkpointKeys.length,
    runs, kills: o.kills, consumers: mode === 'rebalance' ? 3 : consumers, groups: groups.length, rewinds, offsetsRewound, joins, leaves,
    maxPartitionIdleSeconds, idlest, runner,
    faults: { ...proxy.counts }, produceSeconds, runSeconds, recordsPerSecond: o.records / runSeconds, valueMB: valueBytes / 1e6,
  };
}

/** Whether a report shows exactly-once delivery. */
export function soakPassed(r: SoakReport): boolean {
  return r.missing === 0 && r.duplicates === 0 && r.contentMismatches === 0 && r.orderViolations === 0 && r.openUploads === 0
    && r.checkpointProblems === 0 && r.deadLetterObjects === 0 && r.uniqueOffsets === r.records;
}
