/**
 * Stage 7 — upload: objects to S3 with bounded concurrency. Small objects: one PutObject carrying a CRC32
 * checksum that S3 verifies. Large objects: multipart upload (lib-storage), aborted on failure so no parts are left
 * behind. Any failure after the SDK's retries throws UploadError: the event source then retries the whole batch,
 * which rewrites the same keys.
 */
import zlib from 'node:zlib';
import { PutObjectCommand, S3Client, type PutObjectCommandInput } from '@aws-sdk/client-s3';
import { fromTemporaryCredentials } from '@aws-sdk/credential-providers';
import { Upload } from '@aws-sdk/lib-storage';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { SinkConfig } from './config.ts';
import { SecretCredentials, type SecretReadEvent } from './credentials.ts';
import { UploadError } from './errors.ts';

export interface ObjectToUpload {
  readonly key: string;
  readonly body: Buffer;
  readonly contentType: string;
  readonly metadata?: Record<string, string>;
}

export interface UploadResult {
  readonly key: string;
  readonly bytes: number;
  readonly multipart: boolean;
}

export interface S3ClientOptions {
  /** Told of each read of S3_CREDENTIALS_SECRET_ARN (never the keys). */
  readonly onSecretRead?: (event: SecretReadEvent) => void;
  /** @default S3_SOCKET_TIMEOUT_MS */
  readonly socketTimeoutMs?: number;
}

/** A connection to S3 idle this long (no byte sent or received) is abandoned: the SDK retries the request. */
export const S3_SOCKET_TIMEOUT_MS = 15_000;
export const S3_CONNECTION_TIMEOUT_MS = 3_000;

/**
 * The HTTP handler of every S3 client here (the function's and the runner's). The SDK's own has no timeout: a
 * connection S3 (or a proxy on the way) stops answering held its invocation until the function's timeout, and
 * with it every partition of the batch. An idle timeout, unlike `requestTimeout` (a bound on the whole request,
 * which a large part on a slow link can exceed while bytes flow; this SDK only warns on it unless told to throw),
 * ends only a request on which nothing moves; the SDK's retry strategy treats the TimeoutError as transient.
 */
export function s3RequestHandler(socketTimeoutMs = S3_SOCKET_TIMEOUT_MS): NodeHttpHandler {
  return new NodeHttpHandler({
    connectionTimeout: S3_CONNECTION_TIMEOUT_MS,
    socketTimeout: socketTimeoutMs,
    httpAgent: { keepAlive: true },
    httpsAgent: { keepAlive: true },
  });
}

/**
 * The S3 client: the function's role by default, a role in the bucket owner's account through STS, or the access
 * keys of a Secrets Manager secret (read again on rotation, lambdas/shared/credentials.ts).
 */
export function createS3Client(cfg: SinkConfig, opts: S3ClientOptions = {}): S3Client {
  const secret = cfg.s3CredentialsSecret
    ? new SecretCredentials({
      secretArn: cfg.s3CredentialsSecret.arn,
      maxAgeSeconds: cfg.s3CredentialsSecret.maxAgeSeconds,
      endpoint: cfg.s3CredentialsSecret.endpoint,
      onRead: opts.onSecretRead,
    })
    : undefined;
  const credentials = secret ? secret.provider : cfg.crossAccount
    ? fromTemporaryCredentials({
      params: {
        RoleArn: cfg.crossAccount.roleArn,
        RoleSessionName: cfg.crossAccount.sessionName,
        ExternalId: cfg.crossAccount.externalId,
        DurationSeconds: 3600,
      },
      ...(cfg.stsEndpoint ? { clientConfig: { endpoint: cfg.stsEndpoint } } : {}),
    })
    : undefined;
  const client = new S3Client({
    maxAttempts: cfg.s3MaxAttempts,
    retryMode: 'adaptive',
    requestHandler: s3RequestHandler(opts.socketTimeoutMs),
    ...(credentials ? { credentials } : {}),
    ...(cfg.s3Endpoint ? { endpoint: cfg.s3Endpoint, forcePathStyle: true } : {}),
  });
  secret?.retryRefusedRequests(client);
  return client;
}

function crc32Base64(body: Buffer): string {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(zlib.crc32(body));
  return b.toString('base64');
}

export async function uploadObject(
  s3: S3Client,
  cfg: Pick<SinkConfig, 'bucket' | 'multipartThresholdBytes' | 'partSizeBytes' | 'sseKmsKeyId'>,
  obj: ObjectToUpload,
): Promise<UploadResult> {
  const params: PutObjectCommandInput = {
    Bucket: cfg.bucket,
    Key: obj.key,
    Body: obj.body,
    ContentType: obj.contentType,
    Metadata: obj.metadata,
    ...(cfg.sseKmsKeyId ? { ServerSideEncryption: 'aws:kms', SSEKMSKeyId: cfg.sseKmsKeyId } : {}),
  };
  try {
    if (obj.body.length < cfg.multipartThresholdBytes) {
      await s3.send(new PutObjectCommand({ ...params, ChecksumCRC32: crc32Base64(obj.body) }));
      return { key: obj.key, bytes: obj.body.length, multipart: false };
    }
    const upload = new Upload({
      client: s3,
      params: { ...params, ChecksumAlgorithm: 'CRC32' },
      partSize: cfg.partSizeBytes,
      queueSize: 4,
      leavePartsOnError: false, // abort the multipart upload on failure
    });
    await upload.done();
    return { key: obj.key, bytes: obj.body.length, multipart: true };
  } catch (err) {
    throw new UploadError(`Upload of s3://${cfg.bucket}/${obj.key} failed: ${(err as Error).message}`, { cause: err });
  }
}

/** Runs `fn` over `items` with at most `limit` in flight; the first failure is thrown after in-flight work settles. */
export async function mapBounded<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  let failure: { err: unknown } | undefined;
  const worker = async () => {
    while (failure === undefined && next < items.length) {
      const i = next++;
      try {
        results[i] = await fn(items[i]);
      } catch (err) {
        failure ??= { err };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure) throw failure.err;
  return results;
}
