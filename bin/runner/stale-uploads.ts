/**
 * Multipart uploads a killed runner left open (a SIGKILL cannot abort them), aborted at start — only those this
 * runner can prove are a dead runner's: uploads of keys recorded in a live or released claim (lambdas/shared/progress.ts)
 * whose owner is a process of this machine that no longer exists (claims.ts `releasable`), begun before this runner
 * started. Other writers' uploads under the same prefixes (a deployed function, another tool writing `topics/`, a
 * runner on another machine) are never touched; what is left is the bucket lifecycle rule's (incomplete multipart
 * uploads aborted after a day in the stack).
 */
import { AbortMultipartUploadCommand, GetObjectCommand, ListMultipartUploadsCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { decodeCheckpoint } from '../../lambdas/shared/progress.ts';
import { newIdentity, processAlive, releasable, type RunnerIdentity } from './claims.ts';

export interface StaleUploadsOptions {
  readonly bucket: string;
  readonly statePrefix: string;
  /** Uploads begun at or after this are never aborted (this runner's own, or any writer's since). */
  readonly before: Date;
  readonly self?: RunnerIdentity;
  readonly alive?: (pid: number) => boolean;
}

/** The keys recorded in the claims of dead runners of this machine, under `statePrefix`. */
export async function deadRunnerKeys(s3: Pick<S3Client, 'send'>, o: StaleUploadsOptions): Promise<Set<string>> {
  const self = o.self ?? newIdentity();
  const keys = new Set<string>();
  let token: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: o.bucket, Prefix: o.statePrefix, ContinuationToken: token }));
    for (const { Key } of page.Contents ?? []) {
      if (!Key?.endsWith('.json')) continue;
      const out = await s3.send(new GetObjectCommand({ Bucket: o.bucket, Key }));
      const claim = decodeCheckpoint(await out.Body!.transformToString('utf8'), `s3://${o.bucket}/${Key}`).claim;
      // A claim of this runner's own identity cannot exist yet (a new identity per start): only dead processes count.
      if (claim && releasable(claim.owner, self, o.alive ?? processAlive)) for (const k of claim.keys) keys.add(k);
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return keys;
}

/** Aborts the open multipart uploads of `deadRunnerKeys` begun before `o.before`; returns how many. */
export async function abortStaleUploads(s3: Pick<S3Client, 'send'>, o: StaleUploadsOptions): Promise<number> {
  const keys = await deadRunnerKeys(s3, o);
  // Servers may report Initiated to the second (versitygw does): an upload begun in the second this runner started
  // could read as older, so only those of earlier seconds count (the rest are the bucket lifecycle rule's).
  const cutoff = Math.floor(o.before.getTime() / 1000) * 1000;
  let aborted = 0;
  for (const key of [...keys].sort()) {
    // Listed by the exact key as prefix: uploads of longer keys that merely start with it are skipped below.
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    for (;;) {
      const page = await s3.send(new ListMultipartUploadsCommand({ Bucket: o.bucket, Prefix: key, KeyMarker: keyMarker, UploadIdMarker: uploadIdMarker }));
      for (const u of page.Uploads ?? []) {
        if (u.Key === key && u.UploadId && u.Initiated && u.Initiated.getTime() < cutoff) {
          await s3.send(new AbortMultipartUploadCommand({ Bucket: o.bucket, Key: u.Key, UploadId: u.UploadId }));
          aborted++;
        }
      }
      if (!page.IsTruncated) break;
      keyMarker = page.NextKeyMarker;
      uploadIdMarker = page.NextUploadIdMarker;
    }
  }
  return aborted;
}
