/**
 * Multipart uploads a killed runner left open (a SIGKILL cannot abort them) are aborted at start: those under the
 * sink's prefixes that began before this runner did. One runner per prefix is assumed; in AWS the bucket's
 * lifecycle rule aborts incomplete uploads after a day instead.
 */
import { AbortMultipartUploadCommand, ListMultipartUploadsCommand, type S3Client } from '@aws-sdk/client-s3';

export async function abortStaleUploads(s3: S3Client, bucket: string, prefixes: readonly string[], before: Date): Promise<number> {
  let aborted = 0;
  // Without a prefix the whole bucket would be listed, and other writers' uploads aborted: only real prefixes.
  for (const prefix of new Set(prefixes.filter((p) => p !== ''))) {
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    for (;;) {
      const page = await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: prefix || undefined, KeyMarker: keyMarker, UploadIdMarker: uploadIdMarker }));
      for (const u of page.Uploads ?? []) {
        if (u.Key && u.UploadId && (!u.Initiated || u.Initiated < before)) {
          await s3.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: u.Key, UploadId: u.UploadId }));
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
