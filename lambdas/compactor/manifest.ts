/**
 * A compacted window's manifest: the one commit point of a compaction. It lists the window's compacted files, what
 * each topic-partition's records cover (offset ranges, counts, record time bounds, the watermark) and the raw
 * objects merged (key and ETag, so that a later run sees what is new). It changes only by conditional writes
 * (If-None-Match: * for the first, If-Match on its ETag after): of two runs on one window, exactly one publishes.
 *
 * Watermark of a topic-partition: the sink's checkpoint (first offset not yet written) read before the window was
 * listed. Every record of the partition below it is durably written, so every one of them whose time falls in this
 * window is in these files: a downstream job knows a window complete for a partition once the watermark is past the
 * last offset produced before the window's end (Kafka's offsets-for-times at the end).
 */
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { isConditionFailure } from '../shared/progress.ts';

export const MANIFEST_VERSION = 1;

/** Offset ranges kept per topic-partition (a manifest stays small whatever the gaps). */
export const MAX_OFFSET_RANGES = 1000;

export interface ManifestFile {
  readonly key: string;
  readonly bytes: number;
  readonly records: number;
  readonly topic: string;
  readonly partition: number;
  readonly firstOffset: string;
  readonly lastOffset: string;
}

export interface ManifestPartition {
  readonly topic: string;
  readonly partition: number;
  readonly records: number;
  /** Inclusive [first, last] runs of consecutive offsets present, ascending; at most MAX_OFFSET_RANGES, the last one
   * then spanning the gaps of the rest (offsetRangesExact false: a transactional topic's commit markers leave a gap
   * after every transaction). */
  readonly offsetRanges: readonly (readonly [string, string])[];
  readonly offsetRangesExact: boolean;
  /** Record time bounds (ISO-8601), when the records carry their time. */
  readonly minTimestamp: string | null;
  readonly maxTimestamp: string | null;
  /** The sink's checkpoint when the window was listed (see the module comment); null before its first write. */
  readonly watermark: string | null;
}

export interface Manifest {
  readonly version: number;
  /** The window's directory of raw objects, and its partition values. */
  readonly window: string;
  readonly values: Readonly<Record<string, string>>;
  /** The record time the window covers (ISO-8601, start inclusive, end exclusive). */
  readonly start: string;
  readonly end: string;
  readonly generation: number;
  readonly compactedAt: string;
  readonly format: string;
  readonly compression: string;
  readonly records: number;
  readonly files: readonly ManifestFile[];
  readonly partitions: readonly ManifestPartition[];
  /** Raw objects merged into these files (a later run merges those not listed, or listed with another ETag), each with
   * the generation that merged it. */
  readonly sources: readonly { readonly key: string; readonly etag: string; readonly bytes: number; readonly generation: number }[];
  /** Files no generation references any more, since when the readers' symlink file stopped listing them (null until
   * it has): tagged for expiry once no query can be reading them. */
  readonly retired: readonly { readonly key: string; readonly since: string | null }[];
  /** The reader's symlink file is written and the merged objects tagged for expiry: the compaction is complete. */
  readonly published: boolean;
  /** The window's data directory was swept for orphans once every run that raced this generation had ended. */
  readonly orphansSwept?: boolean;
}

export interface StoredManifest {
  readonly manifest: Manifest | null;
  readonly etag: string | null;
}

const status = (err: unknown) => (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;

export async function readManifest(s3: S3Client, bucket: string, key: string): Promise<StoredManifest> {
  try {
    const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    const manifest = JSON.parse(await out.Body!.transformToString('utf8')) as Manifest;
    if (manifest.version !== MANIFEST_VERSION) throw new Error(`s3://${bucket}/${key}: manifest version ${manifest.version}, this compactor reads ${MANIFEST_VERSION}`);
    return { manifest, etag: out.ETag ?? null };
  } catch (err) {
    if (status(err) === 404 || (err as { name?: string }).name === 'NoSuchKey') return { manifest: null, etag: null };
    throw err;
  }
}

/** Writes the manifest if it is still `etag` (null: if there is none). Returns the new ETag, or null when it lost. */
export async function writeManifest(s3: S3Client, bucket: string, key: string, manifest: Manifest, etag: string | null, sseKmsKeyId?: string): Promise<string | null> {
  try {
    const out = await s3.send(new PutObjectCommand({
      Bucket: bucket, Key: key, Body: `${JSON.stringify(manifest, null, 1)}\n`, ContentType: 'application/json',
      ...(etag === null ? { IfNoneMatch: '*' } : { IfMatch: etag }),
      ...(sseKmsKeyId ? { ServerSideEncryption: 'aws:kms', SSEKMSKeyId: sseKmsKeyId } : {}),
    }));
    return out.ETag ?? '';
  } catch (err) {
    if (isConditionFailure(err)) return null;
    throw err;
  }
}
