/**
 * Replay: objects back into Kafka. The stages, per stream (plan.ts), top to bottom:
 *   plan (saved) → resume (what landed after the checkpoint) → read objects in order (merged by offset) → filter
 *   → target partition → send a poll of records, await acks → checkpoint.
 *
 * No record twice, none lost, across kills and restarts, by construction:
 * - A checkpoint holds the stream's position (every record before it is in the target) and the target partitions'
 *   end offsets when it was written, taken with no send in flight: whatever the stream sends after it lands at or
 *   beyond those ends.
 * - Every record sent carries its origin (ORIGIN_HEADER: the stream and its offset, or object and record number).
 * - On resume the stream reads its target partitions from the checkpoint's ends to their current end and collects
 *   its own origins there: the records sent after the checkpoint that landed. Replaying from the checkpoint's position,
 *   it skips exactly those. A target topic the stream had not sent to is added to the checkpoint before its first send.
 * The idempotent producer keeps a send's retries from landing twice; each poll is awaited before the next, so a
 * partition's records land in order.
 */
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { createHash, randomUUID } from 'node:crypto';
import { mergeChunks, type MergeStats } from '../compactor/merge.ts';
import { compileFilter } from '../shared/filter.ts';
import { mapBounded } from '../shared/upload.ts';
import { foreignLayout, sinkLayout, type ObjectLayout } from './layout.ts';
import { planReplay, type Plan, type SourceSettings, type Stream } from './plan.ts';
import { readObject, type ReplayRecord } from './read.ts';
import { checkpointName, PLAN_NAME, streamName, type StateStore } from './state.ts';
import { KafkaTarget, ORIGIN_HEADER, partitionForKey } from './target.ts';

export interface ReplaySettings extends SourceSettings {
  /** The topic records go to; the topic they came from when unset (sink objects and dead letters). */
  readonly targetTopic?: string;
  /** keep: a record goes to the partition it came from; key: Java's default partitioner on its key (round robin
   * for records without a key). */
  readonly partitioning: 'keep' | 'key';
  readonly recordsPerPoll: number;
  /** Bytes of keys and values sent per second at most (0: no limit). */
  readonly maxBytesPerSecond: number;
  /** Record time range, epoch ms: [fromTime, toTime). */
  readonly fromTime?: number;
  readonly toTime?: number;
  /** text objects: only lines matching this (RE2) are records. */
  readonly lineRegex?: string;
  /** Bytes sent between checkpoints (default CHECKPOINT_BYTES). */
  readonly checkpointBytes?: number;
}

type Position = { readonly offset: string } | { readonly object: number; readonly record: number };

interface Checkpoint {
  readonly version: 1;
  readonly position: Position;
  /** Per target topic, the next offset of each partition when the checkpoint was written. */
  readonly ends: Readonly<Record<string, readonly string[]>>;
  readonly sent: number;
  readonly done: boolean;
}

interface SavedObject {
  readonly key: string;
  readonly etag: string;
  readonly size: number;
  readonly start?: string;
  readonly last?: string;
}

interface SavedStream {
  readonly id: string;
  readonly kind: Stream['kind'];
  readonly topic?: string;
  readonly partition?: number;
  readonly objects: readonly SavedObject[];
}

/** A stream as the plan summary lists it: its objects are in a file of their own (streamName). */
interface PlannedStream {
  readonly id: string;
  readonly kind: Stream['kind'];
  readonly objects: number;
}

interface SavedPlan {
  readonly version: 2;
  /** Names this replay in the origin header of every record it sends: resume counts only its own records. */
  readonly runId: string;
  /** The settings that decide what is replayed where: a resume with other settings is refused. */
  readonly fingerprint: string;
  readonly listed: number;
  readonly pages: number;
  readonly skipped: Readonly<Record<string, number>>;
  /** Each stream's objects are saved apart, so that a worker reads its own stream's list only. */
  readonly streams: readonly PlannedStream[];
}

export interface StreamReport {
  readonly id: string;
  /** Records sent this run. */
  sent: number;
  bytes: number;
  /** Records found in the target on resume (sent before a kill, after the last checkpoint): not sent again. */
  landed: number;
  /** Records left out by the time, offset, topic or line filters. */
  filtered: number;
  /** Records merged away because an earlier object held their offset. */
  duplicates: number;
  /** Records that cannot be replayed (dead letters of events that held no record), with reasons. */
  unreplayable: number;
  objects: number;
  done: boolean;
}

export interface ReplayReport {
  readonly streams: StreamReport[];
  readonly listed: number;
  /** ListObjectsV2 requests the plan took (KEYS_PER_POLL keys each at most). */
  readonly pages: number;
  readonly skippedKeys: Readonly<Record<string, number>>;
  readonly objects: number;
  readonly done: boolean;
}

export interface ReplayDeps {
  readonly s3: S3Client;
  readonly target: KafkaTarget;
  readonly state: StateStore;
  /** A line of progress or a warning. */
  readonly log?: (line: string) => void;
  /** Called after each poll is acknowledged. */
  readonly onPoll?: (stream: StreamReport) => void;
}

export interface RunOptions {
  /** Only these streams (a serverless worker's); every stream when unset. */
  readonly streams?: readonly string[];
  /** Streams replayed at once. */
  readonly concurrency?: number;
  /** Stop (after a checkpoint) once Date.now() passes this; the report says which streams are not done. */
  readonly deadlineMs?: number;
  /** Stop (after a checkpoint) when this is aborted. */
  readonly signal?: AbortSignal;
}

/** A replay whose settings contradict its saved state, or a target that cannot take a stream. */
export class ReplayError extends Error {
  override name = 'ReplayError';
}

export function fingerprintOf(s: ReplaySettings): string {
  const what = {
    bucket: s.bucket, prefix: s.prefix, kind: s.kind, order: s.order, extensions: s.extensions, foreignFormat: s.foreignFormat ?? null,
    csvHeader: s.csvHeader, topics: s.topics, partitions: s.partitions, fromOffset: s.fromOffset?.toString() ?? null, toOffset: s.toOffset?.toString() ?? null,
    targetTopic: s.targetTopic ?? null, partitioning: s.partitioning, anyOrder: s.anyOrder ?? false, fromTime: s.fromTime ?? null, toTime: s.toTime ?? null, lineRegex: s.lineRegex ?? null,
  };
  return createHash('sha256').update(JSON.stringify(what)).digest('hex').slice(0, 32);
}

const savedStream = (s: Stream): SavedStream => ({
  id: s.id, kind: s.kind, ...(s.topic !== undefined ? { topic: s.topic } : {}), ...(s.partition !== undefined ? { partition: s.partition } : {}),
  objects: s.objects.map((o) => ({
    key: o.key, etag: o.etag, size: o.size, ...(o.start !== undefined ? { start: o.start.toString() } : {}), ...(o.last !== undefined ? { last: o.last.toString() } : {}),
  })),
});

/** A stream's saved objects. */
async function loadStream(state: StateStore, id: string): Promise<SavedStream> {
  const text = await state.read(streamName(id));
  if (text === undefined) throw new ReplayError(`${state.where}: the plan's list of objects of stream ${id} is missing: give another state location for a new replay`);
  return JSON.parse(text) as SavedStream;
}

/** The saved plan, or a new one saved before anything is sent. */
export async function loadPlan(s3: S3Client, state: StateStore, settings: ReplaySettings, log?: (line: string) => void): Promise<SavedPlan> {
  const fingerprint = fingerprintOf(settings);
  const text = await state.read(PLAN_NAME);
  if (text !== undefined) {
    const saved = JSON.parse(text) as SavedPlan;
    if (saved.version !== 2) throw new ReplayError(`${state.where} holds a replay of another version of this tool: give another state location`);
    if (saved.fingerprint !== fingerprint) {
      throw new ReplayError(`${state.where} holds a replay with other settings (source, filters or target changed): give another state location for a new replay, or the same settings to resume it`);
    }
    log?.(`resuming the replay planned in ${state.where}: ${saved.streams.length} streams`);
    return saved;
  }
  const planned = await planReplay(s3, settings);
  // Each stream's objects first, the summary last: a plan interrupted half-saved is planned again.
  await mapBounded(planned.streams, 16, (st) => state.write(streamName(st.id), JSON.stringify(savedStream(st))));
  const plan: SavedPlan = {
    version: 2, runId: randomUUID().slice(0, 8), fingerprint, listed: planned.listed, pages: planned.pages, skipped: planned.skipped,
    streams: planned.streams.map((st) => ({ id: st.id, kind: st.kind, objects: st.objects.length })),
  };
  await state.write(PLAN_NAME, JSON.stringify(plan));
  return plan;
}

/** The origin header of a record: `<run>:<stream>@<offset>`, or `<run>:<stream>@<record number>@<object key>`. */
export function originOf(runId: string, streamId: string, at: { offset: bigint } | { record: number; key: string }): string {
  return 'offset' in at ? `${runId}:${streamId}@${at.offset}` : `${runId}:${streamId}@${at.record}@${at.key}`;
}

interface Positioned {
  readonly record: ReplayRecord;
  readonly origin: string;
  /** The stream's position once this record is handled. */
  readonly next: Position;
}

async function fetchObject(s3: S3Client, bucket: string, o: SavedObject, settings: ReplaySettings): Promise<{ layout: ObjectLayout; body: Buffer }> {
  let got;
  try {
    got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: o.key, IfMatch: o.etag || undefined }));
  } catch (err) {
    const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
    if (e.name === 'PreconditionFailed' || e.$metadata?.httpStatusCode === 412) {
      throw new ReplayError(`s3://${bucket}/${o.key} changed since the replay planned it (ETag ${o.etag}): what was sent stays; start a new replay (another state) to replay the objects as they are now`, { cause: err });
    }
    if (e.name === 'NoSuchKey' || e.$metadata?.httpStatusCode === 404) {
      throw new ReplayError(`s3://${bucket}/${o.key} was deleted since the replay planned it: start a new replay (another state) to replay the objects as they are now`, { cause: err });
    }
    throw err;
  }
  const body = Buffer.from(await got.Body!.transformToByteArray());
  let layout: ObjectLayout;
  if (settings.kind === 'dead-letters') layout = { kind: 'dead-letters', compression: 'none' };
  else if (settings.kind === 'foreign') layout = foreignLayout(o.key, { format: settings.foreignFormat, csvHeader: settings.csvHeader })!;
  else layout = sinkLayout(o.key, got.Metadata ?? {});
  return { layout, body };
}

/** The stream's records from `from`, in order, each with its origin and the position after it. */
async function* streamRecords(deps: ReplayDeps, settings: ReplaySettings, runId: string, stream: SavedStream, from: Position, report: StreamReport, stats: MergeStats): AsyncGenerator<Positioned[]> {
  const lineFilter = settings.lineRegex !== undefined ? compileFilter(settings.lineRegex) : undefined;
  const read = async (o: SavedObject) => {
    const { layout, body } = await fetchObject(deps.s3, settings.bucket, o, settings);
    const result = await readObject(layout, body, o.key, { lineFilter });
    report.objects++;
    for (const s of result.skipped) {
      report.unreplayable++;
      deps.log?.(`${o.key}: line ${s.at + 1} not replayed: ${s.reason}`);
    }
    return result.records;
  };
  if (stream.kind === 'offsets') {
    const start = BigInt((from as { offset: string }).offset);
    const inputs = stream.objects.filter((o) => o.last === undefined || BigInt(o.last) >= start).map((o) => ({
      lowerBound: BigInt(o.start ?? '0'),
      load: async function* () {
        const records = await read(o);
        for (const r of records) if (r.offset === undefined) throw new Error(`${o.key}: a record without its offset in a stream merged by offset`);
        // The sink writes a partition's records in offset order; a dead-letter object too.
        yield (records as (ReplayRecord & { offset: bigint })[]).filter((r) => r.offset >= start).sort((a, b) => (a.offset < b.offset ? -1 : a.offset > b.offset ? 1 : 0));
      },
    }));
    for await (const rows of mergeChunks(inputs, stats)) {
      yield rows.map((r) => ({ record: r, origin: originOf(runId, stream.id, { offset: r.offset }), next: { offset: (r.offset + 1n).toString() } }));
    }
    return;
  }
  const at = from as { object: number; record: number };
  for (let i = at.object; i < stream.objects.length; i++) {
    const o = stream.objects[i];
    const records = await read(o);
    const out: Positioned[] = [];
    for (let j = i === at.object ? at.record : 0; j < records.length; j++) {
      out.push({ record: records[j], origin: originOf(runId, stream.id, { record: j, key: o.key }), next: j + 1 < records.length ? { object: i, record: j + 1 } : { object: i + 1, record: 0 } });
    }
    yield out;
  }
}

/** Whether a record passes the record filters (time, offset, topic). */
function wanted(r: ReplayRecord, s: ReplaySettings): boolean {
  if (s.fromTime !== undefined || s.toTime !== undefined) {
    if (r.timestamp === undefined) throw new ReplayError('a time range was given but the objects do not hold record timestamps (fields without timestamp, or objects other tools wrote)');
    if ((s.fromTime !== undefined && r.timestamp < s.fromTime) || (s.toTime !== undefined && r.timestamp >= s.toTime)) return false;
  }
  if (r.offset !== undefined && ((s.fromOffset !== undefined && r.offset < s.fromOffset) || (s.toOffset !== undefined && r.offset > s.toOffset))) return false;
  if (s.kind === 'dead-letters' && s.topics.length > 0 && r.topic !== undefined && !s.topics.includes(r.topic)) return false;
  return true;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A poll's records of one target partition, at most (keys, values, headers and record overhead): under the 1 MB
 * (1,048,588 bytes) the brokers take per record batch by default (message.max.bytes). A larger single record goes
 * alone, and the broker decides. */
export const MAX_PARTITION_BATCH_BYTES = 900_000;
/** A checkpoint is written once this many bytes (keys and values) were sent since the last, or CHECKPOINT_MS passed,
 * and whenever the stream stops: about one S3 PUT per 8 MB rather than one per poll. */
export const CHECKPOINT_BYTES = 8 * 1024 * 1024;
export const CHECKPOINT_MS = 10_000;
/** The origin header's name: one Buffer for every record (each record's headers are a Map of their own). */
const ORIGIN_KEY = Buffer.from(ORIGIN_HEADER);
/** What a record costs in a batch besides its key, value and headers (lengths, deltas, attributes), at most. */
const RECORD_OVERHEAD_BYTES = 24;

/** MAX_BYTES_PER_SECOND across the run's streams: a poll waits until the bytes sent so far are within the rate. */
class RateLimit {
  private readonly started = Date.now();
  private bytes = 0;
  private readonly perSecond: number;
  constructor(perSecond: number) {
    this.perSecond = perSecond;
  }

  async take(bytes: number): Promise<void> {
    if (this.perSecond <= 0) return;
    this.bytes += bytes;
    const due = this.started + (this.bytes / this.perSecond) * 1000;
    if (due > Date.now()) await sleep(due - Date.now());
  }
}

async function replayStream(deps: ReplayDeps, settings: ReplaySettings, runId: string, stream: SavedStream, opts: RunOptions, rate: RateLimit): Promise<StreamReport> {
  const { state, target } = deps;
  const report: StreamReport = { id: stream.id, sent: 0, bytes: 0, landed: 0, filtered: 0, duplicates: 0, unreplayable: 0, objects: 0, done: false };
  const stop = () => opts.signal?.aborted === true || (opts.deadlineMs !== undefined && Date.now() > opts.deadlineMs);
  if (stop()) return report;
  const name = checkpointName(stream.id);
  const savedText = await state.read(name);
  let cp: Checkpoint = savedText !== undefined ? JSON.parse(savedText) as Checkpoint
    : { version: 1, position: stream.kind === 'offsets' ? { offset: (settings.fromOffset ?? 0n).toString() } : { object: 0, record: 0 }, ends: {}, sent: 0, done: false };
  if (cp.done) {
    report.done = true;
    return report;
  }
  // Resume: the origins of this stream that landed after the checkpoint.
  const landed = new Set<string>();
  const mine = `${runId}:${stream.id}@`;
  for (const [topic, ends] of Object.entries(cp.ends)) {
    for await (const chunk of target.landed(topic, ends.map(BigInt))) for (const r of chunk) if (r.origin?.startsWith(mine)) landed.add(r.origin);
  }
  if (landed.size > 0) deps.log?.(`${stream.id}: ${landed.size} records sent after the last checkpoint are in the target already: not sent again`);

  const writeCheckpoint = async (position: Position, topics: Iterable<string>, done = false) => {
    const ends: Record<string, readonly string[]> = { ...cp.ends };
    for (const t of topics) ends[t] = (await target.ends(t)).map(String);
    cp = { version: 1, position, ends, sent: cp.sent, done };
    await state.write(name, JSON.stringify(cp));
  };

  let roundRobin = 0;
  let sentBytes = 0;
  let batch: { topic: string; partition: number; key?: Buffer; value?: Buffer; headers: Map<Buffer, Buffer>; timestamp?: bigint }[] = [];
  let batchTopics = new Set<string>();
  /** Bytes of the poll per target topic-partition: a produce request holds one record batch per partition, which the
   * broker refuses beyond its message.max.bytes (1 MB by default). */
  let batchBytes = new Map<string, number>();
  let position = cp.position;
  const stats: MergeStats = { duplicates: 0 };
  // Topics sent to, and bytes sent, since the last checkpoint: a checkpoint is written every CHECKPOINT_BYTES or
  // CHECKPOINT_MS, and before the stream stops. What resume reads back is what was sent since: that much at most.
  let pending = new Set<string>();
  let pendingBytes = 0;
  let checkpointedAt = Date.now();
  const flush = async (force: boolean) => {
    let bytes = 0;
    if (batch.length > 0) {
      await target.send(batch);
      report.sent += batch.length;
      cp = { ...cp, sent: cp.sent + batch.length };
      for (const m of batch) bytes += (m.value?.length ?? 0) + (m.key?.length ?? 0);
      sentBytes += bytes;
      report.bytes = sentBytes;
    }
    for (const t of batchTopics) pending.add(t);
    pendingBytes += bytes;
    if (force || pendingBytes >= (settings.checkpointBytes ?? CHECKPOINT_BYTES) || Date.now() - checkpointedAt >= CHECKPOINT_MS) {
      await writeCheckpoint(position, pending);
      pending = new Set();
      pendingBytes = 0;
      checkpointedAt = Date.now();
    }
    batch = [];
    batchTopics = new Set();
    batchBytes = new Map();
    report.duplicates = stats.duplicates;
    deps.onPoll?.(report);
    await rate.take(bytes);
  };

  const partitionCounts = new Map<string, number>();
  for await (const chunk of streamRecords(deps, settings, runId, stream, cp.position, report, stats)) for (const p of chunk) {
    const r = p.record;
    if (!wanted(r, settings)) {
      report.filtered++;
      position = p.next;
      continue;
    }
    if (landed.has(p.origin)) {
      report.landed++;
      landed.delete(p.origin);
      position = p.next;
      continue;
    }
    const topic = settings.targetTopic ?? r.topic ?? stream.topic;
    if (topic === undefined) throw new ReplayError(`${stream.id}: the objects do not say which topic their records came from: give a target topic`);
    let partitions = partitionCounts.get(topic);
    if (partitions === undefined) partitionCounts.set(topic, partitions = await target.partitions(topic));
    let partition: number;
    if (settings.partitioning === 'keep') {
      const source = r.partition ?? stream.partition;
      if (source === undefined) throw new ReplayError(`${stream.id}: the objects do not say which partition their records came from: partition by key instead`);
      if (source >= partitions) throw new ReplayError(`target topic ${topic} has ${partitions} partitions, fewer than the source's (a record of partition ${source}): add partitions, or partition by key`);
      partition = source;
    } else partition = r.key !== null ? partitionForKey(r.key, partitions) : roundRobin++ % partitions;
    if (cp.ends[topic] === undefined) {
      // A topic first sent to: its ends go into the checkpoint before anything is sent there (at the position of the
      // last poll sent: the records of this poll are not sent yet).
      await writeCheckpoint(cp.position, [topic]);
    }
    const headers = new Map<Buffer, Buffer>();
    let size = RECORD_OVERHEAD_BYTES + (r.key?.length ?? 0) + (r.value?.length ?? 0);
    for (const [k, v] of r.headers) {
      headers.set(k, v as Buffer);
      size += k.length + (v?.length ?? 0) + 2;
    }
    const origin = Buffer.from(p.origin);
    headers.set(ORIGIN_KEY, origin);
    size += ORIGIN_KEY.length + origin.length + 2;
    const tp = `${topic}\u0000${partition}`;
    if (batch.length > 0 && (batchBytes.get(tp) ?? 0) + size > MAX_PARTITION_BATCH_BYTES) {
      // The poll is sent before this record, at the position before it.
      const stopping = stop();
      await flush(stopping);
      if (stopping) return report;
    }
    batchBytes.set(tp, (batchBytes.get(tp) ?? 0) + size);
    batch.push({
      topic, partition, ...(r.key !== null ? { key: r.key } : {}), ...(r.value !== null ? { value: r.value } : {}), headers,
      ...(r.timestamp !== undefined ? { timestamp: BigInt(r.timestamp) } : {}),
    });
    batchTopics.add(topic);
    position = p.next;
    if (batch.length >= settings.recordsPerPoll) {
      const stopping = stop();
      await flush(stopping);
      if (stopping) return report;
    }
  }
  await flush(true);
  await writeCheckpoint(position, [], true);
  report.done = true;
  return report;
}

/** Plans (or resumes) a replay and runs its streams; returns what each did. */
export async function runReplay(deps: ReplayDeps, settings: ReplaySettings, opts: RunOptions = {}): Promise<ReplayReport> {
  const plan = await loadPlan(deps.s3, deps.state, settings, deps.log);
  const streams = opts.streams ? plan.streams.filter((s) => opts.streams!.includes(s.id)) : plan.streams;
  // A stream that fails stops the others at their next checkpoint: the run ends with its error, nothing left running.
  const inner = new AbortController();
  const outer = () => inner.abort();
  opts.signal?.addEventListener('abort', outer, { once: true });
  if (opts.signal?.aborted) inner.abort();
  const rate = new RateLimit(settings.maxBytesPerSecond);
  const reports = await mapBounded(streams, opts.concurrency ?? 4, async (s) => replayStream(deps, settings, plan.runId, await loadStream(deps.state, s.id), { ...opts, signal: inner.signal }, rate).catch((err: unknown) => {
    inner.abort();
    throw err;
  })).finally(() => opts.signal?.removeEventListener('abort', outer));
  return {
    streams: reports, listed: plan.listed, pages: plan.pages, skippedKeys: plan.skipped, objects: plan.streams.reduce((n, s) => n + s.objects, 0),
    done: reports.every((r) => r.done),
  };
}
