/**
 * Compaction of closed windows, resumable and safe to crash at any step. Per window:
 *   1. read its manifest (the commit point, manifest.ts), then the sink's checkpoint of each partition in it (the
 *      watermarks), then list its raw objects: objects listed after a checkpoint was read hold every record below it;
 *   2. nothing new since the manifest (same keys and ETags): done, or finish publishing (step 5) if a run died there;
 *   3. merge, per topic-partition, the earlier generation's files and the new raw objects in offset order, each
 *      offset once (merge.ts), into files of about the target size, under names of this generation and run: never
 *      a name a reader may be reading (Athena: "does not support deleting or replacing the contents of a file when
 *      a query is running");
 *   4. write the manifest, conditional on the one read in step 1: of two runs, one wins, the other's files are never
 *      referenced (swept as orphans later);
 *   5. publish: the symlink file readers list the window's files from (one PUT replaces the whole list: old files or
 *      new, never both, never half; never an older generation's list than it holds), tag the raw objects merged
 *      (those still as merged) so that a lifecycle rule expires them, then mark the manifest published. Files no
 *      generation lists any more are retired, and tagged for their lifecycle rule once no query can be reading them.
 * A crash before 4 leaves the window as it was; after 4, the next run finishes 5. Nothing is deleted here: the
 * bucket's lifecycle rules remove what is tagged, after queries that may read it have ended.
 */
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, PutObjectTaggingCommand, type S3Client, type _Object } from '@aws-sdk/client-s3';
import type { Readable } from 'node:stream';
import type { SinkConfig } from '../shared/config.ts';
import { extensionFor } from '../shared/constants.ts';
import { padOffset } from '../shared/key-template.ts';
import { isConditionFailure, ProgressStore } from '../shared/progress.ts';
import { mapBounded } from '../shared/upload.ts';
import { codecFor, type Codec, type Row, type StoredFile } from './codec.ts';
import { FileWriter } from './file-writer.ts';
import { MANIFEST_VERSION, MAX_OFFSET_RANGES, readManifest, writeManifest, type Manifest, type ManifestFile, type ManifestPartition } from './manifest.ts';
import { mergeRows, type MergeInput, type MergeStats } from './merge.ts';
import { WindowResolver, type ObjectWindow, type WindowedObject } from './windows.ts';

/** Tag of what the compactor hands to the bucket's lifecycle rules. */
export const COMPACTION_TAG = 'kafka-s3-compaction';
/** Raw objects merged into a published generation. */
export const TAG_COMPACTED = 'compacted';
/** Compacted files no manifest references any more (an older generation, or a run that lost or died). */
export const TAG_SUPERSEDED = 'superseded';

export interface CompactorOptions {
  readonly sink: SinkConfig;
  /** Where the compactor writes (ends with '/'): data/, manifests/, symlinks/ below it. */
  readonly compactedPrefix: string;
  /** Compressed bytes a compacted file aims at. */
  readonly targetBytes: number;
  /** How long after a window's end its objects keep arriving in the normal course (the sink's batching and retries). */
  readonly graceMs: number;
  /** A file in a window's data directory that its manifest does not list, this old, is an orphan (a lost or dead run). */
  readonly orphanAgeMs: number;
  /** Names this run's files apart from any other run's. */
  readonly runId: string;
}

export type WindowAction = 'compacted' | 'current' | 'republished' | 'lost-race' | 'failed' | 'too-large' | 'deferred';

export interface WindowReport {
  readonly window: string;
  readonly action: WindowAction;
  readonly generation: number;
  readonly sources: number;
  readonly newSources: number;
  readonly records: number;
  readonly duplicates: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly files: number;
  /** Why the window failed (action 'failed'): it is retried by the next run, the other windows go on. */
  readonly error?: string;
}

export interface RunReport {
  readonly windows: WindowReport[];
  /** Closed windows left for the next run (the deadline came first). */
  readonly windowsLeft: number;
  /** Seconds since the end (plus grace) of the oldest closed window left with objects not compacted; 0 when none. */
  readonly lagSeconds: number;
  readonly objectsSkipped: number;
}

interface Listed {
  readonly key: string;
  readonly etag: string;
  readonly bytes: number;
  readonly lastModified: number;
  readonly name: WindowedObject;
}

const tpKey = (topic: string, partition: number) => `${topic}\u0000${partition}`;

export class Compactor {
  private readonly s3: S3Client;
  private readonly o: CompactorOptions;
  private readonly now: () => number;
  private readonly codec: Codec;
  private readonly windows: WindowResolver;
  private readonly progress: ProgressStore;
  private readonly ext: string;

  constructor(s3: S3Client, options: CompactorOptions, now: () => number = Date.now) {
    const codec = codecFor(options.sink);
    if (typeof codec === 'string') throw new Error(codec);
    this.s3 = s3;
    this.o = options;
    this.now = now;
    this.codec = codec;
    this.windows = new WindowResolver(options.sink);
    this.progress = new ProgressStore(s3, { bucket: options.sink.bucket, statePrefix: options.sink.statePrefix, sseKmsKeyId: options.sink.sseKmsKeyId });
    this.ext = extensionFor(options.sink.format, options.sink.compression);
  }

  manifestKey(w: ObjectWindow): string {
    return `${this.o.compactedPrefix}manifests/${w.rel}manifest.json`;
  }

  symlinkKey(w: ObjectWindow): string {
    return `${this.o.compactedPrefix}symlinks/${w.rel}symlink.txt`;
  }

  dataDir(w: ObjectWindow): string {
    return `${this.o.compactedPrefix}data/${w.rel}`;
  }

  private async list(prefix: string): Promise<_Object[]> {
    const out: _Object[] = [];
    let token: string | undefined;
    do {
      const page = await this.s3.send(new ListObjectsV2Command({ Bucket: this.o.sink.bucket, Prefix: prefix, ContinuationToken: token }));
      out.push(...(page.Contents ?? []));
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return out;
  }

  /** The raw objects under `prefix` with their windows; keys the sink does not write are counted apart. */
  private async listRaw(prefix: string): Promise<{ objects: Listed[]; skipped: number }> {
    const objects: Listed[] = [];
    let skipped = 0;
    for (const o of await this.list(prefix)) {
      const name = this.windows.resolve(o.Key!);
      if (name === null) skipped++;
      else objects.push({ key: o.Key!, etag: o.ETag ?? '', bytes: o.Size ?? 0, lastModified: o.LastModified?.getTime() ?? 0, name });
    }
    return { objects, skipped };
  }

  /** Compacts the closed windows, oldest first, until `deadlineMs` (leaving the rest for the next run). */
  async run(deadlineMs = Number.POSITIVE_INFINITY): Promise<RunReport> {
    const { objects, skipped } = await this.listRaw(this.o.sink.prefix);
    const byWindow = new Map<string, ObjectWindow>();
    for (const o of objects) byWindow.set(o.name.window.dir, o.name.window);
    const now = this.now();
    const closed = [...byWindow.values()].filter((w) => w.endMs + this.o.graceMs <= now).sort((a, b) => a.startMs - b.startMs || (a.dir < b.dir ? -1 : 1));
    const listedIn = new Map<string, Listed[]>();
    for (const o of objects) (listedIn.get(o.name.window.dir) ?? listedIn.set(o.name.window.dir, []).get(o.name.window.dir)!).push(o);
    const reports: WindowReport[] = [];
    const started = this.now();
    const failed = (w: ObjectWindow, action: 'failed', error: string): WindowReport => ({
      window: w.dir, action, generation: 0, sources: 0, newSources: 0, records: 0, duplicates: 0, bytesIn: 0, bytesOut: 0, files: 0, error,
    });
    let i = 0;
    for (; i < closed.length && this.now() < deadlineMs; i++) {
      const w = closed[i];
      // One window's failure (an object that does not decode, S3 refusing) does not hold the others back.
      const report = await this.compactWindow(w, listedIn.get(w.dir) ?? [], { leftMs: deadlineMs - this.now(), runMs: deadlineMs - started })
        .catch((err: Error) => failed(w, 'failed', err.message));
      if (report.action === 'deferred') break; // no time left in this run for it: the next run starts with it
      reports.push(report);
    }
    const left = closed.slice(i);
    // The oldest window still to do: one not reached, or one that failed, lost a race or is too large.
    const behind = [...closed.slice(0, i).filter((_, j) => ['failed', 'lost-race', 'too-large'].includes(reports[j].action)), ...left];
    const oldest = behind.reduce<ObjectWindow | undefined>((a, w) => (a === undefined || w.endMs < a.endMs ? w : a), undefined);
    return {
      windows: reports,
      windowsLeft: left.length,
      lagSeconds: oldest ? Math.max(0, Math.round((this.now() - oldest.endMs - this.o.graceMs) / 1000)) : 0,
      objectsSkipped: skipped,
    };
  }

  /**
   * One window (see the module comment). `listedByRun`: the window's objects in the run's listing; when the manifest
   * already holds exactly those, the window costs its manifest's GET (and housekeeping while due), nothing more.
   */
  async compactWindow(w: ObjectWindow, listedByRun?: readonly Listed[], budget?: { readonly leftMs: number; readonly runMs: number }): Promise<WindowReport> {
    const bucket = this.o.sink.bucket;
    const manifestKey = this.manifestKey(w);
    // Orphans are judged by the time the manifest was read: a file written after it may be a newer generation's.
    const readAt = this.now();
    const stored = await readManifest(this.s3, bucket, manifestKey);
    const prev = stored.manifest;
    if (prev?.published && listedByRun) {
      const merged = new Set(prev.sources.map((x) => `${x.key}\u0000${x.etag}`));
      if (listedByRun.every((o) => merged.has(`${o.key}\u0000${o.etag}`))) {
        // Soon after a compaction the symlink file is checked (a run that raced may have left another list), and
        // retired files wait for their tags; after that a current window is one GET a run.
        const recent = Date.parse(prev.compactedAt) + this.o.orphanAgeMs + DAY_MS >= this.now();
        const fixed = recent && (await this.writeSymlink(w, prev));
        // While recent, the watermarks follow the checkpoints (a partition may have been behind the window's end).
        const current = recent ? await this.refreshWatermarks(w, prev, stored.etag!) : { manifest: prev, etag: stored.etag! };
        if (current) await this.tidy(w, current.manifest, current.etag, readAt);
        return {
          window: w.dir, action: fixed ? 'republished' : 'current', generation: prev.generation, sources: listedByRun.length, newSources: 0,
          records: prev.records, duplicates: 0, bytesIn: 0, bytesOut: 0, files: prev.files.length,
        };
      }
    }
    // 1. Watermarks before the listing: every record below a checkpoint is in an object the listing shows.
    const first = await this.listRaw(w.dir);
    const topicOf = (o: Listed) => o.name.topic ?? w.topic ?? '';
    // The partitions listed, and those of the previous generation (whose raw objects may have expired since).
    const partitions = [...new Map([
      ...first.objects.map((o) => [tpKey(topicOf(o), o.name.partition), { topic: topicOf(o), partition: o.name.partition }] as const),
      ...(prev?.partitions ?? []).map((p) => [tpKey(p.topic, p.partition), { topic: p.topic, partition: p.partition }] as const),
    ]).values()];
    const marks = new Map<string, string | null>();
    await mapBounded(partitions, 8, async (p) => {
      const cp = await this.progress.readRendered(p.topic, p.partition);
      marks.set(tpKey(p.topic, p.partition), cp.checkpoint.next?.toString() ?? null);
    });
    // Partitions first seen in this listing wait for the next run (their checkpoint was not read before it).
    const listed = (await this.listRaw(w.dir)).objects.filter((o) => marks.has(tpKey(topicOf(o), o.name.partition)));

    // 2. What is new since the manifest.
    const known = new Set((prev?.sources ?? []).map((s) => `${s.key}\u0000${s.etag}`));
    const fresh = listed.filter((o) => !known.has(`${o.key}\u0000${o.etag}`));
    const base = { window: w.dir, sources: listed.length, newSources: fresh.length, duplicates: 0, bytesIn: 0, bytesOut: 0 };
    if (prev && fresh.length === 0) {
      const done = { ...base, generation: prev.generation, records: prev.records, files: prev.files.length };
      if (!prev.published) return { ...done, action: (await this.publish(w, prev, stored.etag!, readAt)) ? 'republished' : 'lost-race' };
      // The symlink file is checked (one small GET): a run that died before it, or a hand that changed it.
      const fixed = await this.writeSymlink(w, prev);
      // Nothing new below the checkpoints read before this listing: the watermarks can rise to them.
      const current = await this.raiseWatermarks(w, prev, stored.etag!, marks, listed);
      if (current) await this.tidy(w, current.manifest, current.etag, readAt);
      return { ...done, action: fixed ? 'republished' : 'current' };
    }
    if (!prev && listed.length === 0) return { ...base, action: 'current', generation: 0, records: 0, files: 0 };

    const prevSources = new Map((prev?.sources ?? []).map((x) => [x.key, x.generation]));
    const prevGeneration = (key: string) => prevSources.get(key) ?? 0;

    // 3. Merge per topic-partition into this generation's files.
    const generation = (prev?.generation ?? 0) + 1;
    const groups = new Map<string, { topic: string; partition: number; inputs: MergeInput[] }>();
    const group = (topic: string, partition: number) => {
      const k = tpKey(topic, partition);
      let g = groups.get(k);
      if (!g) groups.set(k, (g = { topic, partition, inputs: [] }));
      return g;
    };
    const sizes = { compressed: 0, raw: 0 };
    // A raw object (one invocation's records of a partition: small) is read whole; an earlier generation's file as it streams.
    const loadRaw = async function* (this: Compactor, o: Listed): AsyncGenerator<Row[]> {
      const got = await this.s3.send(new GetObjectCommand({ Bucket: bucket, Key: o.key }));
      const body = Buffer.from(await got.Body!.transformToByteArray());
      const where = `s3://${bucket}/${o.key}`;
      const { rows, bytes } = await this.codec.decode(body, where);
      checkRawObject(rows, o.name.start, got.Metadata ?? {}, where);
      sizes.compressed += bytes;
      for (const r of rows) sizes.raw += r.size;
      yield rows;
    }.bind(this);
    const loadFile = async function* (this: Compactor, f: ManifestFile): AsyncGenerator<Row[]> {
      const stored: StoredFile = {
        bytes: f.bytes,
        stream: async () => (await this.s3.send(new GetObjectCommand({ Bucket: bucket, Key: f.key }))).Body as Readable,
        range: async (start, end) => Buffer.from(await (await this.s3.send(new GetObjectCommand({ Bucket: bucket, Key: f.key, Range: `bytes=${start}-${end - 1}` }))).Body!.transformToByteArray()),
      };
      sizes.compressed += f.bytes;
      for await (const rows of this.codec.decodeFile(stored, `s3://${bucket}/${f.key}`)) {
        for (const r of rows) sizes.raw += r.size;
        yield rows;
      }
    }.bind(this);
    // Only partitions with new objects are merged again; the others keep their files as they are.
    const changed = new Set(fresh.map((o) => tpKey(topicOf(o), o.name.partition)));
    const kept = (prev?.files ?? []).filter((f) => !changed.has(tpKey(f.topic, f.partition)));
    for (const f of prev?.files ?? []) if (changed.has(tpKey(f.topic, f.partition))) group(f.topic, f.partition).inputs.push({ lowerBound: BigInt(f.firstOffset), load: () => loadFile(f) });
    for (const o of fresh) group(topicOf(o), o.name.partition).inputs.push({ lowerBound: o.name.start, load: () => loadRaw(o) });
    // What this merge reads, at a cautious rate: a window no run could merge is left aside (it would take every run's
    // time and hold back the windows after it); one this run has no time left for waits for the next.
    if (budget) {
      const bytes = fresh.reduce((sum, o) => sum + o.bytes, 0) + (prev?.files ?? []).filter((f) => changed.has(tpKey(f.topic, f.partition))).reduce((sum, f) => sum + f.bytes, 0);
      const needMs = bytes / this.codec.mergeBytesPerMs;
      if (needMs > budget.runMs) return { ...base, action: 'too-large', generation: prev?.generation ?? 0, records: prev?.records ?? 0, files: prev?.files.length ?? 0, error: `${fresh.length} new objects, ${bytes} bytes to merge: more than one run can (about ${Math.round(needMs / 60_000)} min at ${this.codec.mergeBytesPerMs / 1000} MB/s)` };
      if (needMs > budget.leftMs) return { ...base, action: 'deferred', generation: prev?.generation ?? 0, records: 0, files: 0 };
    }

    const stats: MergeStats = { duplicates: 0 };
    const files: ManifestFile[] = [];
    const parts: ManifestPartition[] = [];
    let records = 0;
    let bytesOut = 0;
    for (const g of [...groups.values()].sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition))) {
      // Rows come in ascending offsets: the ranges grow at their end (no offset is kept per row).
      const ranges: [bigint, bigint][] = [];
      let exact = true;
      let count = 0;
      let minT = Number.POSITIVE_INFINITY;
      let maxT = Number.NEGATIVE_INFINITY;
      let file: FileWriter | undefined;
      const close = async () => {
        if (!file) return;
        await file.close();
        files.push({ key: file.key, bytes: file.bytes, records: file.records, topic: g.topic, partition: g.partition, firstOffset: file.firstOffset.toString(), lastOffset: file.lastOffset.toString() });
        bytesOut += file.bytes;
        file = undefined;
      };
      for await (const row of mergeRows(g.inputs, stats)) {
        if (file) await file.write(row);
        else file = new FileWriter(this.s3, this.o.sink, this.codec, `${this.dataDir(w)}${g.topic}+${g.partition}+${padOffset(row.offset)}+g${generation}-${this.o.runId}.${this.ext}`, row, this.o.targetBytes);
        count++;
        const tail = ranges[ranges.length - 1];
        const gap = tail !== undefined && row.offset !== tail[1] + 1n;
        if (tail && (!gap || ranges.length >= MAX_OFFSET_RANGES)) {
          if (gap) exact = false;
          tail[1] = row.offset;
        } else ranges.push([row.offset, row.offset]);
        if (row.timeMs !== undefined) {
          if (row.timeMs < minT) minT = row.timeMs;
          if (row.timeMs > maxT) maxT = row.timeMs;
        }
        // The target is compressed bytes: the inputs read so far give the ratio until the file's own output does.
        if (file.estimatedBytes(sizes.raw > 0 ? sizes.compressed / sizes.raw : 1) >= this.o.targetBytes) await close();
      }
      await close();
      records += count;
      parts.push({
        topic: g.topic, partition: g.partition, records: count, offsetRanges: ranges.map(([a, b]) => [a.toString(), b.toString()] as const), offsetRangesExact: exact,
        minTimestamp: Number.isFinite(minT) ? new Date(minT).toISOString() : null, maxTimestamp: Number.isFinite(maxT) ? new Date(maxT).toISOString() : null,
        watermark: marks.get(tpKey(g.topic, g.partition)) ?? null,
      });
    }

    for (const f of kept) files.push(f);
    for (const p of prev?.partitions ?? []) {
      const k = tpKey(p.topic, p.partition);
      if (!changed.has(k)) parts.push({ ...p, watermark: marks.get(k) ?? p.watermark });
    }
    records = parts.reduce((sum, p) => sum + p.records, 0);
    files.sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition || (BigInt(a.firstOffset) < BigInt(b.firstOffset) ? -1 : 1)));
    parts.sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition));

    // 4. The commit point.
    const manifest: Manifest = {
      version: MANIFEST_VERSION, window: w.dir, values: w.values, start: new Date(w.startMs).toISOString(), end: new Date(w.endMs).toISOString(),
      generation, compactedAt: new Date(this.now()).toISOString(), format: this.o.sink.format, compression: this.o.sink.compression,
      records, files, partitions: parts, published: false,
      // A source keeps the generation that merged it once a published generation did (its tag is done); those of an
      // unpublished one are this generation's to tag.
      sources: listed.map((o) => {
        const g = known.has(`${o.key}\u0000${o.etag}`) ? prevGeneration(o.key) : generation;
        return { key: o.key, etag: o.etag, bytes: o.bytes, generation: prev && !prev.published && g === prev.generation ? generation : g };
      }),
      // The previous generation's files of the partitions merged again leave the readers' list with this one: their
      // retirement starts when the symlink file stops listing them (publish).
      retired: [...(prev?.retired ?? []), ...(prev?.files ?? []).filter((f) => changed.has(tpKey(f.topic, f.partition))).map((f) => ({ key: f.key, since: null }))],
    };
    const report = { ...base, generation, records, duplicates: stats.duplicates, bytesIn: sizes.compressed, bytesOut, files: files.length };
    const etag = await writeManifest(this.s3, bucket, manifestKey, manifest, stored.etag, this.o.sink.sseKmsKeyId);
    if (etag === null) return { ...report, action: 'lost-race' };
    // 5. Publish.
    return { ...report, action: (await this.publish(w, manifest, etag, readAt)) ? 'compacted' : 'lost-race' };
  }

  /**
   * A published window's watermarks, raised to the partitions' checkpoints when nothing was written into the window
   * that the manifest does not hold: the checkpoints are read first, then the window is listed, so every record below
   * a checkpoint is in an object the listing shows, and every such object is merged. A window is compacted again only
   * when objects land in it; without this, a partition whose checkpoint was still behind the window's end when it was
   * compacted would keep that watermark, and a job waiting for it would wait for ever. Returns the manifest as it now
   * stands, or undefined when another run changed it meanwhile.
   */
  private async refreshWatermarks(w: ObjectWindow, manifest: Manifest, etag: string): Promise<{ manifest: Manifest; etag: string } | undefined> {
    // Only partitions whose watermark has not passed the window's last offset + 1 (the sink had not yet written past
    // this window's records when it was compacted): once it has, a run costs no checkpoint reads for the window.
    const behind = manifest.partitions.filter((p) => {
      const last = p.offsetRanges[p.offsetRanges.length - 1]?.[1];
      return p.watermark === null || (last !== undefined && BigInt(p.watermark) <= BigInt(last) + 1n);
    });
    if (behind.length === 0) return { manifest, etag };
    const marks = new Map<string, string | null>();
    await mapBounded(behind, 8, async (p) => {
      const cp = await this.progress.readRendered(p.topic, p.partition);
      marks.set(tpKey(p.topic, p.partition), cp.checkpoint.next?.toString() ?? null);
    });
    const moved = behind.some((p) => above(marks.get(tpKey(p.topic, p.partition)) ?? null, p.watermark));
    if (!moved) return { manifest, etag };
    return this.raiseWatermarks(w, manifest, etag, marks, (await this.listRaw(w.dir)).objects);
  }

  /** Raises the watermarks to `marks` (read before `listed` was listed) if the manifest holds every object listed. */
  private async raiseWatermarks(w: ObjectWindow, manifest: Manifest, etag: string, marks: ReadonlyMap<string, string | null>, listed: readonly Listed[]): Promise<{ manifest: Manifest; etag: string } | undefined> {
    const merged = new Set(manifest.sources.map((x) => `${x.key}\u0000${x.etag}`));
    const raised = manifest.partitions.map((p) => {
      const mark = marks.get(tpKey(p.topic, p.partition)) ?? null;
      return above(mark, p.watermark) ? { ...p, watermark: mark } : p;
    });
    if (raised.every((p, i) => p === manifest.partitions[i])) return { manifest, etag };
    // An object the manifest does not hold may have records below a checkpoint: the next compaction merges it first.
    if (!listed.every((o) => merged.has(`${o.key}\u0000${o.etag}`))) return { manifest, etag };
    const next = { ...manifest, partitions: raised };
    const written = await writeManifest(this.s3, this.o.sink.bucket, this.manifestKey(w), next, etag, this.o.sink.sseKmsKeyId);
    return written === null ? undefined : { manifest: next, etag: written };
  }

  /**
   * The readers' list of the window's files: "one full S3 URI per line" (the symlink format of Hive's
   * SymlinkTextInputFormat, as S3 Inventory writes it), with the generation it lists in its metadata. Written only
   * when it lists another generation than the manifest's, never one older than it lists (a run that read an older
   * manifest must not put old files back), and conditionally on the one read. Returns whether it was written.
   */
  private async writeSymlink(w: ObjectWindow, manifest: Manifest): Promise<boolean> {
    const bucket = this.o.sink.bucket;
    const key = this.symlinkKey(w);
    const body = manifest.files.map((f) => `s3://${bucket}/${f.key}\n`).join('');
    for (let attempt = 0; attempt < 3; attempt++) {
      const current = await this.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key })).then(
        async (o) => ({ body: await o.Body!.transformToString('utf8'), generation: Number(o.Metadata?.generation ?? 0), etag: o.ETag! }),
        (err: unknown) => {
          ignoreMissing(err);
          return undefined;
        },
      );
      if (current && (current.generation > manifest.generation || (current.generation === manifest.generation && current.body === body))) return false;
      try {
        await this.s3.send(new PutObjectCommand({
          Bucket: bucket, Key: key, Body: body, ContentType: 'text/plain', Metadata: { generation: String(manifest.generation) },
          ...(current ? { IfMatch: current.etag } : { IfNoneMatch: '*' }),
          ...(this.o.sink.sseKmsKeyId ? { ServerSideEncryption: 'aws:kms', SSEKMSKeyId: this.o.sink.sseKmsKeyId } : {}),
        }));
        return true;
      } catch (err) {
        if (!isConditionFailure(err)) throw err; // another run wrote it meanwhile: look again
      }
    }
    return false;
  }

  private tag(key: string, value: string, versionId?: string): Promise<unknown> {
    return this.s3.send(new PutObjectTaggingCommand({ Bucket: this.o.sink.bucket, Key: key, VersionId: versionId, Tagging: { TagSet: [{ Key: COMPACTION_TAG, Value: value }] } }));
  }

  /**
   * The manifest's housekeeping: retired files no query can still be reading (retired longer than the orphan age)
   * tagged superseded, and, with `sweep`, orphans (files in the window's data directory no manifest ever listed: a
   * run that lost or died) tagged too. Returns the manifest without the retired files it tagged.
   */
  private async housekeeping(w: ObjectWindow, manifest: Manifest, readAt: number, sweep = true): Promise<Manifest> {
    const now = this.now();
    const due = manifest.retired.filter((r) => r.since !== null && Date.parse(r.since) + this.o.orphanAgeMs <= now);
    const known = new Set([...manifest.files.map((f) => f.key), ...manifest.retired.map((r) => r.key)]);
    const orphans = sweep
      ? (await this.list(this.dataDir(w))).filter((o) => !known.has(o.Key!) && (o.LastModified?.getTime() ?? 0) + this.o.orphanAgeMs <= readAt).map((o) => o.Key!)
      : [];
    await mapBounded([...due.map((r) => r.key), ...orphans], 8, (key) => this.tag(key, TAG_SUPERSEDED).catch(ignoreMissing));
    const tagged = new Set(due.map((r) => r.key));
    return { ...manifest, retired: manifest.retired.filter((r) => !tagged.has(r.key)) };
  }

  /**
   * Housekeeping of a published window, only when some is due: retired files past their age (no listing), and once,
   * when every run that could have raced this generation has ended (its orphans old enough), a sweep of the data
   * directory for orphans. A window with nothing due costs nothing here.
   */
  private async tidy(w: ObjectWindow, manifest: Manifest, etag: string, readAt: number): Promise<void> {
    const sweep = !manifest.orphansSwept && Date.parse(manifest.compactedAt) + this.o.orphanAgeMs + RUN_MS <= readAt;
    const retiredDue = manifest.retired.some((r) => r.since !== null && Date.parse(r.since) + this.o.orphanAgeMs <= this.now());
    if (!sweep && !retiredDue) return;
    const next = await this.housekeeping(w, manifest, readAt, sweep);
    await writeManifest(this.s3, this.o.sink.bucket, this.manifestKey(w), { ...next, ...(sweep ? { orphansSwept: true } : {}) }, etag, this.o.sink.sseKmsKeyId);
  }

  /**
   * Step 5: the readers' symlink file, the raw objects merged by this generation tagged for the lifecycle rule (each
   * only if it is still the object merged: one rewritten since, by a claim taken over, is merged by a later run),
   * housekeeping, then the manifest marked published. False when another run changed the manifest meanwhile.
   */
  private async publish(w: ObjectWindow, manifest: Manifest, etag: string, readAt: number): Promise<boolean> {
    const bucket = this.o.sink.bucket;
    await this.writeSymlink(w, manifest);
    // The symlink file lists this generation (or a newer one) now: the files it retired are off the readers' list
    // from here, and their retirement age counts from here.
    const switched = new Date(this.now()).toISOString();
    manifest = { ...manifest, retired: manifest.retired.map((r) => (r.since === null ? { ...r, since: switched } : r)) };
    await mapBounded(manifest.sources.filter((x) => x.generation === manifest.generation), 8, async (x) => {
      const head = await this.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: x.key })).catch((err: unknown) => {
        ignoreMissing(err);
        return undefined;
      });
      // The version read is the one tagged (in a versioned bucket a rewrite after this makes a new version, untagged).
      if (head?.ETag === x.etag) await this.tag(x.key, TAG_COMPACTED, head.VersionId).catch(ignoreMissing);
    });
    const next = await this.housekeeping(w, manifest, readAt);
    return (await writeManifest(this.s3, bucket, this.manifestKey(w), { ...next, published: true }, etag, this.o.sink.sseKmsKeyId)) !== null;
  }
}

const DAY_MS = 86_400_000;
/** The longest a run can last (Lambda's timeout): a run that raced a generation has ended this long after it. */
const RUN_MS = 15 * 60_000;

/**
 * Throws unless the rows (in offset order) are what the sink wrote into an object named for `start`: each offset
 * once, none below the object's first, and as many as, ending at the offset that, the sink's metadata on the object
 * says (kafka-record-count, kafka-last-offset; objects written before the sink set them have only the first checks).
 * Rows read with another layout than they were written with (a CSV without header whose fields changed order,
 * another cell taken for the offset) fail here, instead of being merged wrong or dropped as duplicates while the
 * object is tagged merged.
 */
export function checkRawObject(rows: readonly Row[], start: bigint, metadata: Record<string, string>, where: string): void {
  const fail = (what: string) => {
    throw new Error(`${where}: ${what}: not read as it was written (fields or layout changed since?)`);
  };
  if (rows.length > 0 && rows[0].offset < start) fail(`holds offset ${rows[0].offset}, below its first (${start})`);
  for (let i = 1; i < rows.length; i++) if (rows[i].offset === rows[i - 1].offset) fail(`holds offset ${rows[i].offset} twice`);
  const count = metadata['kafka-record-count'];
  if (count !== undefined && Number(count) !== rows.length) fail(`${rows.length} rows read where the sink wrote ${count}`);
  const last = metadata['kafka-last-offset'];
  if (last !== undefined && rows.length > 0 && rows[rows.length - 1].offset.toString() !== last) fail(`its last offset read is ${rows[rows.length - 1].offset}, the sink wrote ${last}`);
}

/** Whether checkpoint `mark` is past watermark `was` (offsets as decimal strings; null is none yet). */
function above(mark: string | null, was: string | null): boolean {
  return mark !== null && (was === null || BigInt(mark) > BigInt(was));
}

/** An object gone since it was listed (a lifecycle rule expired it, or a claim takeover removed it): nothing to tag. */
function ignoreMissing(err: unknown): void {
  const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  if (status !== 404 && (err as { name?: string }).name !== 'NoSuchKey') throw err;
}
