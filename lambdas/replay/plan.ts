/**
 * The plan of a replay: the source's objects, listed a page of KEYS_PER_POLL keys at a time, described (HeadObject:
 * the sink's metadata says how each was written) and grouped into streams, each replayed in order on its own:
 * - one per source topic-partition for the sink's objects and dead letters. Objects whose records carry their offsets
 *   are merged by offset (records of one partition can be in objects of two time prefixes whose offsets overlap);
 *   the others (text, bytes, jsonl without the envelope, no offset field) are read whole, by their start offset.
 * - one for objects other tools wrote, in key order or LastModified order.
 * The plan is saved with the checkpoints: a resumed replay reads the objects it planned, in the same order.
 */
import { HeadObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { mapBounded } from '../shared/upload.ts';
import { foreignExtensions, foreignLayout, isSinkObject, LayoutError, sinkLayout, type ForeignLayout, type ObjectLayout } from './layout.ts';

export type SourceKind = 'sink' | 'dead-letters' | 'foreign';

export interface SourceSettings {
  readonly bucket: string;
  readonly prefix: string;
  readonly kind: SourceKind;
  /** foreign objects: key order (lexical) or LastModified order (oldest first, then key). */
  readonly order: 'lexical' | 'last-modified';
  /** Only keys ending with one of these (".parquet"); every key when empty. */
  readonly extensions: readonly string[];
  readonly foreignFormat?: ForeignLayout['format'];
  readonly csvHeader: boolean;
  readonly topics: readonly string[];
  readonly partitions: readonly number[];
  readonly fromOffset?: bigint;
  readonly toOffset?: bigint;
  readonly keysPerPoll: number;
  /** Replay objects of a partition whose records carry no offsets even when they overlap in offsets (time prefixes):
   * each object whole, by its first offset, so records of two overlapping objects are not in offset order. */
  readonly anyOrder?: boolean;
}

export interface PlannedObject {
  readonly key: string;
  readonly size: number;
  readonly etag: string;
  readonly lastModified: number;
  readonly layout: ObjectLayout;
  /** No record of the object is below this offset (offset streams). */
  readonly start?: bigint;
  readonly last?: bigint;
}

export interface Stream {
  /** topic/partition of the source, or "objects". */
  readonly id: string;
  /** offsets: records merged by offset; objects: objects read whole in the plan's order. */
  readonly kind: 'offsets' | 'objects';
  readonly topic?: string;
  readonly partition?: number;
  readonly objects: readonly PlannedObject[];
}

export interface Plan {
  readonly streams: readonly Stream[];
  readonly listed: number;
  /** Keys left out, by reason (extension filter, topic/partition/offset filter). */
  readonly skipped: Readonly<Record<string, number>>;
  /** ListObjectsV2 pages read. */
  readonly pages: number;
}

/** A plan that cannot be made (a source object no layout reads): the message says the object and the fix. */
export class PlanError extends Error {
  override name = 'PlanError';
}

interface Listed {
  readonly key: string;
  readonly size: number;
  readonly etag: string;
  readonly lastModified: number;
}

/** Every key under the prefix, a page of `keysPerPoll` at a time (ListObjectsV2's MaxKeys). */
export async function* listKeys(s3: S3Client, bucket: string, prefix: string, keysPerPoll: number): AsyncGenerator<Listed[]> {
  let token: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, MaxKeys: keysPerPoll, ContinuationToken: token }));
    yield (page.Contents ?? []).filter((o) => o.Key !== undefined && !o.Key.endsWith('/')).map((o) => ({
      key: o.Key!, size: o.Size ?? 0, etag: o.ETag ?? '', lastModified: o.LastModified?.getTime() ?? 0,
    }));
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
}

const DEAD_LETTER_KEY = /(?:^|\/)([^/]+)\/partition=(\d+)\/[^/]*\+(\d+)\+(\d{20})\.jsonl$/;

/** Whether records of the sink layout carry their offset (an offsets stream). */
function hasOffsets(layout: ObjectLayout): boolean {
  if (layout.kind === 'dead-letters') return true;
  if (layout.kind === 'foreign') return false;
  if (!layout.fields.includes('offset')) return false;
  if (layout.format === 'jsonl') return layout.envelope;
  return layout.format !== 'text' && layout.format !== 'bytes';
}

const HEAD_CONCURRENCY = 16;

export async function planReplay(s3: S3Client, src: SourceSettings): Promise<Plan> {
  const skipped: Record<string, number> = {};
  const skip = (why: string) => { skipped[why] = (skipped[why] ?? 0) + 1; };
  const byStream = new Map<string, { kind: Stream['kind']; topic?: string; partition?: number; objects: PlannedObject[] }>();
  let listed = 0;
  let pages = 0;
  for await (const page of listKeys(s3, src.bucket, src.prefix, src.keysPerPoll)) {
    pages++;
    listed += page.length;
    const wanted = page.filter((o) => {
      if (src.extensions.length > 0 && !src.extensions.some((e) => o.key.endsWith(e))) {
        skip('extension');
        return false;
      }
      // An empty object of another tool holds nothing; the sink's (a bytes object of one empty value) says so itself.
      if (o.size === 0 && src.kind === 'foreign') {
        skip('empty');
        return false;
      }
      return true;
    });
    const described = await mapBounded(wanted, HEAD_CONCURRENCY, async (o) => ({ o, layout: await describe(s3, src, o) }));
    for (const { o, layout } of described) {
      let stream: { id: string; kind: Stream['kind']; topic?: string; partition?: number };
      let start: bigint | undefined;
      let last: bigint | undefined;
      if (layout.kind === 'sink') {
        if (src.topics.length > 0 && !src.topics.includes(layout.topic)) { skip('topic'); continue; }
        if (src.partitions.length > 0 && !src.partitions.includes(layout.partition)) { skip('partition'); continue; }
        start = layout.start;
        last = layout.last;
        if ((src.toOffset !== undefined && start > src.toOffset) || (src.fromOffset !== undefined && last !== undefined && last < src.fromOffset)) { skip('offset'); continue; }
        stream = { id: `${layout.topic}/${layout.partition}`, kind: hasOffsets(layout) ? 'offsets' : 'objects', topic: layout.topic, partition: layout.partition };
      } else if (layout.kind === 'dead-letters') {
        const m = DEAD_LETTER_KEY.exec(o.key);
        if (!m) throw new PlanError(`${o.key}: not a dead-letter object of this sink (<topic>/partition=<n>/<topic>+<n>+<20-digit offset>.jsonl); is the prefix the sink's ERROR_PREFIX?`);
        const partition = Number(m[2]);
        if (src.partitions.length > 0 && !src.partitions.includes(partition)) { skip('partition'); continue; }
        start = BigInt(m[4]);
        if (src.toOffset !== undefined && start > src.toOffset) { skip('offset'); continue; }
        // The topic as the key holds it (safe for keys): each dead letter names its own topic.
        stream = { id: `${m[1]}/${partition}`, kind: 'offsets', partition };
      } else {
        stream = { id: 'objects', kind: 'objects' };
      }
      const entry = byStream.get(stream.id) ?? { kind: stream.kind, topic: stream.topic, partition: stream.partition, objects: [] };
      if (entry.kind !== stream.kind) {
        throw new PlanError(`${o.key}: objects of ${stream.id} were written with different fields (some hold each record's offset, some do not): replay them with --extensions or a narrower prefix`);
      }
      entry.objects.push({ ...o, layout, ...(start !== undefined ? { start } : {}), ...(last !== undefined ? { last } : {}) });
      byStream.set(stream.id, entry);
    }
  }
  const streams: Stream[] = [...byStream].map(([id, s]) => ({ id, ...s, objects: sortObjects(s.objects, s.kind === 'objects' && id === 'objects' ? src.order : 'offset') }));
  for (const st of streams) {
    if (st.kind !== 'objects' || st.id === 'objects') continue;
    if (src.fromOffset !== undefined || src.toOffset !== undefined) {
      throw new PlanError(`${st.id}: its objects (${st.objects[0].key}, …) hold no offset per record (text, bytes, jsonl without the envelope, or fields without offset), so an offset range cannot be applied to them: leave out the offset range, or filter by time`);
    }
    // Whole objects in start-offset order are in record order only when their offset ranges do not overlap.
    for (let i = 1; i < st.objects.length && !src.anyOrder; i++) {
      const prev = st.objects[i - 1];
      if (prev.last === undefined || st.objects[i].start! <= prev.last) {
        throw new PlanError(`${st.id}: objects ${prev.key} and ${st.objects[i].key} overlap in offsets (records of one partition under two time prefixes) and their records carry no offsets, so their records cannot be put back in offset order: replay them in any order (--any-order), or write with the offset field`);
      }
    }
  }
  streams.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return { streams, listed, skipped, pages };
}

function sortObjects(objects: PlannedObject[], order: 'lexical' | 'last-modified' | 'offset'): PlannedObject[] {
  const byKey = (a: PlannedObject, b: PlannedObject) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
  if (order === 'lexical') return objects.sort(byKey);
  if (order === 'last-modified') return objects.sort((a, b) => a.lastModified - b.lastModified || byKey(a, b));
  return objects.sort((a, b) => (a.start! < b.start! ? -1 : a.start! > b.start! ? 1 : byKey(a, b)));
}

async function describe(s3: S3Client, src: SourceSettings, o: Listed): Promise<ObjectLayout> {
  if (src.kind === 'dead-letters') {
    if (!o.key.endsWith('.jsonl')) throw new PlanError(`${o.key}: not a dead-letter object (they end with .jsonl); is the prefix the sink's ERROR_PREFIX?`);
    return { kind: 'dead-letters', compression: 'none' };
  }
  if (src.kind === 'foreign') {
    const layout = foreignLayout(o.key, { format: src.foreignFormat, csvHeader: src.csvHeader });
    if (!layout) throw new PlanError(`${o.key}: its extension says no format (known: ${foreignExtensions.join(', ')}, optionally .gz or .zst); set the format, or filter by extension`);
    return layout;
  }
  const head = await s3.send(new HeadObjectCommand({ Bucket: src.bucket, Key: o.key, IfMatch: o.etag || undefined }));
  const metadata = head.Metadata ?? {};
  if (!isSinkObject(metadata)) {
    throw new PlanError(`${o.key}: not an object of this sink (it has no kafka-s3-format metadata): replay objects other tools wrote as foreign objects, or filter by extension`);
  }
  try {
    return sinkLayout(o.key, metadata);
  } catch (err) {
    if (err instanceof LayoutError) throw new PlanError(err.message);
    throw err;
  }
}
