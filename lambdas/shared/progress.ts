/**
 * Delivery progress per topic-partition: the one home of the exactly-once guarantee (README, "Delivery guarantees").
 *
 * The event source is at-least-once: a partition can restart at any committed offset with other cuts, and two
 * invocations can overlap. So the sink keeps, per partition, one small checkpoint object in the bucket:
 *   { next: first offset not yet durably written, claim: { from, to, owner, expiresAt, keys } | null }
 * changed only by conditional writes (If-Match on its ETag, If-None-Match: * for the first one), so of two writers
 * that read the same state exactly one can change it. One invocation, per partition:
 *   1. read the checkpoint; records below `next` are already written: dropped and counted;
 *   2. claim [next, last offset of the batch] with the keys of every object it will write (a conditional write):
 *      a live claim of another invocation makes this one fail loudly (ClaimConflictError: the event source retries
 *      it, and by then the claim is done); an expired one (its invocation died) is taken over;
 *   3. write the objects (keys start at the claim's start, so they depend only on the claim, never on a cut);
 *   4. delete what an expired claim it took over wrote and it did not overwrite (that claim never completed, so no
 *      record in those objects was ever counted as written: the new claim writes them again);
 *   5. advance: { next: to + 1, claim: null } (conditional on its own claim).
 * Every offset is then in exactly one completed claim's objects, and a claim's objects are written by one live
 * invocation only. A failing invocation releases its claim (expires it at once) so its retry need not wait.
 */
import { DeleteObjectsCommand, GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { SinkError, UploadError } from './errors.ts';
import { safeKeyValue } from './key-template.ts';

/** Another live invocation holds the partition's claim (overlapping invocations): this one fails and is retried. */
export class ClaimConflictError extends SinkError {}

export interface Claim {
  readonly from: bigint;
  readonly to: bigint;
  readonly owner: string;
  /** Epoch ms after which the claim's invocation is surely gone (its timeout plus a margin). */
  readonly expiresAt: number;
  /** Every object key the claim writes (data and dead letters). */
  readonly keys: readonly string[];
}

export interface Checkpoint {
  /** First offset not yet durably written; null before the first write. */
  readonly next: bigint | null;
  readonly claim: Claim | null;
}

export interface StoredCheckpoint {
  readonly checkpoint: Checkpoint;
  /** ETag of the checkpoint object; null when there is none yet. */
  readonly etag: string | null;
  /** Answered from what this store itself last wrote there (no GET): to be trusted only through a write on `etag`. */
  readonly known?: boolean;
}

const VERSION = 1;

export function encodeCheckpoint(topic: string, partition: number, cp: Checkpoint, nowMs: number): string {
  return JSON.stringify({
    version: VERSION, topic, partition, next: cp.next?.toString() ?? null, updatedAt: new Date(nowMs).toISOString(),
    claim: cp.claim && { ...cp.claim, from: cp.claim.from.toString(), to: cp.claim.to.toString() },
  });
}

export function decodeCheckpoint(text: string, where: string): Checkpoint {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new SinkError(`checkpoint ${where} is not JSON; restore it from a version or delete it only with the data it describes`);
  }
  if (o.version !== VERSION) throw new SinkError(`checkpoint ${where} has version ${String(o.version)}, expected ${VERSION}`);
  const c = o.claim as Record<string, unknown> | null;
  return {
    next: o.next === null ? null : BigInt(o.next as string),
    claim: c ? { from: BigInt(c.from as string), to: BigInt(c.to as string), owner: String(c.owner), expiresAt: Number(c.expiresAt), keys: c.keys as string[] } : null,
  };
}

/** Where the checkpoint of one partition lives. */
export function checkpointKey(statePrefix: string, topic: string, partition: number): string {
  return `${statePrefix}${safeKeyValue(topic)}/${partition}.json`;
}

const status = (err: unknown) => (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
const named = (err: unknown) => (err as { name?: string }).name ?? '';

/** A conditional write lost: 412 PreconditionFailed, or 409 ConditionalRequestConflict (a concurrent one). */
export function isConditionFailure(err: unknown): boolean {
  const s = status(err);
  return s === 412 || s === 409 || named(err) === 'PreconditionFailed' || named(err) === 'ConditionalRequestConflict';
}

/** Checkpoints of one bucket over the S3 API: GET, conditional PUT, and DeleteObjects for taken-over claims. */
export class ProgressStore {
  private readonly s3: S3Client;
  private readonly bucket: string;
  private readonly statePrefix: string;
  private readonly sseKmsKeyId?: string;

  /**
   * With `remember`: per checkpoint key, the completed checkpoint this store last wrote there and the ETag S3 gave
   * it. A checkpoint only moves forward, so one known this way can only be behind the bucket's (another invocation
   * advanced it since): the conditional write that follows (If-Match on that ETag) then fails, and the caller reads
   * again (SinkPipeline.run). One entry per partition this store wrote, as long as it lives.
   *
   * The local runner remembers (one process reads its partitions in turn until a rebalance). A Lambda function does
   * not: the event source hands a partition's batches to any warm instance, so a remembered checkpoint would often be
   * behind, and each time cost a failed claim and the batch's claims again, more than the GET it saves.
   */
  remember = false;
  private readonly known = new Map<string, StoredCheckpoint>();

  constructor(s3: S3Client, opts: { bucket: string; statePrefix: string; sseKmsKeyId?: string }) {
    this.s3 = s3;
    this.bucket = opts.bucket;
    this.statePrefix = opts.statePrefix;
    this.sseKmsKeyId = opts.sseKmsKeyId;
  }

  /** The partition's checkpoint: what this store last wrote there when it knows it (no GET), unless `fresh`. */
  async read(topic: string, partition: number, fresh = false): Promise<StoredCheckpoint> {
    const key = checkpointKey(this.statePrefix, topic, partition);
    const known = fresh ? undefined : this.known.get(key);
    if (known !== undefined) return known;
    this.known.delete(key);
    return this.readKey(key);
  }

  /** The checkpoint of a topic as object keys render it (safeKeyValue), as the compactor knows topics. */
  async readRendered(renderedTopic: string, partition: number): Promise<StoredCheckpoint> {
    return this.readKey(`${this.statePrefix}${renderedTopic}/${partition}.json`);
  }

  private async readKey(key: string): Promise<StoredCheckpoint> {
    try {
      const out = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      const text = await out.Body!.transformToString('utf8');
      return { checkpoint: decodeCheckpoint(text, `s3://${this.bucket}/${key}`), etag: out.ETag ?? null };
    } catch (err) {
      if (status(err) === 404 || named(err) === 'NoSuchKey') return { checkpoint: { next: null, claim: null }, etag: null };
      if (err instanceof SinkError) throw err;
      throw new UploadError(`Reading checkpoint s3://${this.bucket}/${key} failed: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Writes the checkpoint if it is still `etag` (null: if there is none). Returns the new ETag; throws ClaimConflictError when it changed. */
  async write(topic: string, partition: number, cp: Checkpoint, etag: string | null, nowMs: number): Promise<string> {
    const key = checkpointKey(this.statePrefix, topic, partition);
    // Known again only once written complete (no claim): a failed or claiming write leaves it to be read.
    this.known.delete(key);
    try {
      const out = await this.s3.send(new PutObjectCommand({
        Bucket: this.bucket, Key: key, Body: encodeCheckpoint(topic, partition, cp, nowMs), ContentType: 'application/json',
        ...(etag === null ? { IfNoneMatch: '*' } : { IfMatch: etag }),
        ...(this.sseKmsKeyId ? { ServerSideEncryption: 'aws:kms', SSEKMSKeyId: this.sseKmsKeyId } : {}),
      }));
      if (this.remember && cp.claim === null && out.ETag) this.known.set(key, { checkpoint: cp, etag: out.ETag, known: true });
      return out.ETag ?? '';
    } catch (err) {
      // If-Match on a checkpoint that is gone (deleted with its data, to write a range again): S3 answers 404.
      if (isConditionFailure(err) || (etag !== null && (status(err) === 404 || named(err) === 'NoSuchKey'))) {
        throw new ClaimConflictError(`${topic}-${partition}: the checkpoint changed under this invocation (another invocation is writing the partition); the event source retries this batch`, { cause: err });
      }
      throw new UploadError(`Writing checkpoint s3://${this.bucket}/${key} failed: ${(err as Error).message}`, { cause: err });
    }
  }

  async deleteObjects(keys: readonly string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += 1000) {
      const chunk = keys.slice(i, i + 1000);
      try {
        const out = await this.s3.send(new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: chunk.map((Key) => ({ Key })), Quiet: true } }));
        if (out.Errors && out.Errors.length > 0) throw new Error(`${out.Errors.length} keys not deleted (${out.Errors[0].Code}: ${out.Errors[0].Message})`);
      } catch (err) {
        throw new UploadError(`Deleting the objects of an expired claim failed: ${(err as Error).message}`, { cause: err });
      }
    }
  }
}

/** What the claim of one partition found before anything is written. */
export interface PartitionClaim {
  readonly topic: string;
  readonly partition: number;
  /** Records below this offset were already written. */
  readonly start: bigint;
  /** Keys an expired claim (its invocation died) may have written: deleted unless this claim overwrites them. */
  readonly inherited: readonly string[];
  etag: string | null;
  /** The checkpoint was the one this store last wrote (no GET): `start` holds only if the claim's write succeeds. */
  readonly known: boolean;
}

/**
 * Step 1: the claim's start for a partition, from its checkpoint. Throws ClaimConflictError while another
 * invocation's claim is live; an expired claim is taken over (from its start).
 */
export async function openClaim(store: ProgressStore, topic: string, partition: number, firstOffset: bigint, nowMs: number, fresh = false): Promise<PartitionClaim> {
  const { checkpoint, etag, known } = await store.read(topic, partition, fresh);
  const claim = checkpoint.claim;
  if (claim && claim.expiresAt > nowMs) {
    throw new ClaimConflictError(
      `${topic}-${partition}: offsets ${claim.from}..${claim.to} are being written by another invocation (${claim.owner}) until ${new Date(claim.expiresAt).toISOString()} at the latest; the event source retries this batch`,
    );
  }
  const start = checkpoint.next ?? firstOffset;
  return { topic, partition, start, inherited: claim?.keys ?? [], etag, known: known === true };
}

/** The keys a claim records: its own and those it inherited (so that if it dies too, the next takeover cleans both). */
const claimKeys = (pc: PartitionClaim, keys: readonly string[]) => [...new Set([...keys, ...pc.inherited])];

/** Step 2: records the claim [start, to] with the keys it will write. */
export async function takeClaim(store: ProgressStore, pc: PartitionClaim, to: bigint, keys: readonly string[], owner: string, expiresAt: number, nowMs: number): Promise<void> {
  pc.etag = await store.write(pc.topic, pc.partition, { next: pc.start, claim: { from: pc.start, to, owner, expiresAt, keys: claimKeys(pc, keys) } }, pc.etag, nowMs);
}

/** Steps 4 and 5: removes what an expired claim left that this one did not overwrite, then advances past `to`. */
export async function completeClaim(store: ProgressStore, pc: PartitionClaim, to: bigint, keys: readonly string[], nowMs: number): Promise<void> {
  const ours = new Set(keys);
  const leftovers = pc.inherited.filter((k) => !ours.has(k));
  if (leftovers.length > 0) await store.deleteObjects(leftovers);
  pc.etag = await store.write(pc.topic, pc.partition, { next: to + 1n, claim: null }, pc.etag, nowMs);
}

/** After a failure: expires this invocation's claim at once, so the retry can take it over without waiting. Best effort. */
export async function releaseClaim(store: ProgressStore, pc: PartitionClaim, to: bigint, keys: readonly string[], owner: string, nowMs: number): Promise<void> {
  try {
    pc.etag = await store.write(pc.topic, pc.partition, { next: pc.start, claim: { from: pc.start, to, owner, expiresAt: 0, keys: claimKeys(pc, keys) } }, pc.etag, nowMs);
  } catch {
    // The claim then expires on its own (expiresAt); nothing else to do.
  }
}
