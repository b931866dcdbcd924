/**
 * Claims the runner can prove dead. The sink's checkpoints (lambdas/shared/progress.ts) hold, per partition, the
 * claim of the invocation writing it; a claim ends when its invocation completes or releases it, or when it expires
 * (the invocation's deadline plus a margin). A runner process that was SIGKILLed mid-batch, or whose release failed
 * (S3 down at that moment), leaves a live claim behind, and every other invocation of that partition then waits for
 * it to expire (up to 15 minutes with the runner's deadline).
 *
 * The runner names its invocations `runner:<machine>:<pid>:<instance>:<n>` (the sink appends the claim time), so a
 * claim of this machine can be judged:
 * - this very runner loop (same pid and instance): between two of its invocations nothing of it is writing;
 * - another process of this machine whose pid is gone: it can write nothing any more.
 * Those claims are released (expired at once, by a conditional write on the checkpoint's ETag, keeping the keys so
 * the next claim deletes what they left); any other claim is left to expire. Scanning costs one LIST and one GET
 * per checkpoint, and runs only after an invocation lost a claim (ClaimConflictError).
 * `<machine>` is the host name and, on Linux, the PID namespace, so that a pid names one process.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, readlinkSync } from 'node:fs';
import { hostname } from 'node:os';
import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { ClaimConflictError, decodeCheckpoint, ProgressStore } from '../../lambdas/shared/progress.ts';

export interface RunnerIdentity {
  readonly machine: string;
  readonly pid: number;
  /** Random per runner loop: two loops of one process, or a new process reusing a pid, never share it. */
  readonly instance: string;
}

export function machineId(): string {
  let ns = '';
  try {
    ns = /\[(\d+)\]/.exec(readlinkSync('/proc/self/ns/pid'))?.[1] ?? '';
  } catch {
    // not Linux: the host name alone
  }
  return `${hostname().replace(/:/g, '_') || 'localhost'}${ns ? `~${ns}` : ''}`;
}

export function newIdentity(): RunnerIdentity {
  return { machine: machineId(), pid: process.pid, instance: randomBytes(6).toString('hex') };
}

/** The awsRequestId of this runner's n-th invocation (the sink's claim owner is `<awsRequestId>-<claim ms>`). */
export function requestId(id: RunnerIdentity, n: number): string {
  return `runner:${id.machine}:${id.pid}:${id.instance}:${n}`;
}

export function parseOwner(owner: string): RunnerIdentity | undefined {
  const m = /^runner:([^:]+):(\d+):([0-9a-f]+):\d+-\d+$/.exec(owner);
  return m ? { machine: m[1], pid: Number(m[2]), instance: m[3] } : undefined;
}

/** Whether a process with this pid exists (a zombie, killed but not reaped, counts as gone). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // exists, another user's
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true; // no /proc: kill(0) said it exists
  }
}

/** Whether `self`, between two of its invocations, may release a claim of `owner`. */
export function releasable(owner: string, self: RunnerIdentity, alive: (pid: number) => boolean = processAlive): boolean {
  const o = parseOwner(owner);
  if (!o || o.machine !== self.machine) return false;
  if (o.pid === self.pid) return o.instance === self.instance;
  return !alive(o.pid);
}

export interface ReleasedClaim {
  readonly key: string;
  readonly owner: string;
  readonly from: bigint;
  readonly to: bigint;
}

/** Releases the live claims under `statePrefix` that `self` can prove dead; returns them. */
export async function releaseStaleClaims(
  s3: Pick<S3Client, 'send'>, opts: { bucket: string; statePrefix: string; sseKmsKeyId?: string }, self: RunnerIdentity,
  now: () => number = Date.now, alive: (pid: number) => boolean = processAlive,
): Promise<ReleasedClaim[]> {
  const progress = new ProgressStore(s3 as S3Client, opts);
  const released: ReleasedClaim[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: opts.bucket, Prefix: opts.statePrefix, ContinuationToken: token }));
    for (const { Key } of page.Contents ?? []) {
      if (!Key?.endsWith('.json')) continue;
      const out = await s3.send(new GetObjectCommand({ Bucket: opts.bucket, Key }));
      const text = await out.Body!.transformToString('utf8');
      const cp = decodeCheckpoint(text, `s3://${opts.bucket}/${Key}`);
      const claim = cp.claim;
      if (!claim || claim.expiresAt <= now() || !releasable(claim.owner, self, alive)) continue;
      const { topic, partition } = JSON.parse(text) as { topic: string; partition: number };
      try {
        await progress.write(topic, partition, { next: cp.next, claim: { ...claim, expiresAt: 0 } }, out.ETag ?? null, now());
        released.push({ key: Key, owner: claim.owner, from: claim.from, to: claim.to });
      } catch (err) {
        if (!(err instanceof ClaimConflictError)) throw err; // changed meanwhile: someone else moved it on
      }
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return released;
}
