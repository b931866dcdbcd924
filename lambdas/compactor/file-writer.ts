/**
 * One compacted file, written as its rows come: the format's body hands out pieces (text, an Avro block, a Parquet
 * row group), compressed as a stream for row formats, uploaded as they go (multipart, a part at a time), so a file of
 * hundreds of MB never sits in memory whole. The compactor cuts a file once its estimated size reaches the target.
 */
import { once } from 'node:events';
import { PassThrough, type Transform } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { SinkConfig } from '../shared/config.ts';
import { compressionStream, contentTypeFor } from '../shared/compress.ts';
import { UploadError } from '../shared/errors.ts';
import type { Codec, FileBody, Row } from './codec.ts';

/** What a file being written has handed out and holds (see FileWriter). */
export interface FileProgress {
  readonly streamCompressed: boolean;
  /** Bytes uploaded so far. */
  readonly uploaded: number;
  /** Uncompressed bytes the body handed out, and the bytes they became (before any stream compression). */
  readonly taken: number;
  readonly out: number;
  /** Uncompressed bytes the body holds. */
  readonly held: number;
}

/**
 * A file's compressed size if it ended now, `ratio` being the compressed / uncompressed bytes of the inputs (written
 * by the same codec from rows alike). A stream compressor's output lags what it holds by its buffers, so its count
 * only bounds the estimate from below. A format that compresses its own pieces (Avro blocks, Parquet row groups) has
 * counted those exactly, and once one is out its own ratio serves for the rest: the inputs' ratio counts the fixed
 * overhead of small objects (headers, footers) as if it grew with their rows, and would cut files early.
 */
export function estimateFileBytes(f: FileProgress, ratio: number): number {
  if (f.streamCompressed) return Math.max(f.uploaded, (f.taken + f.held) * ratio);
  return f.out + f.held * (f.taken > 0 ? f.out / f.taken : ratio);
}

export class FileWriter {
  readonly key: string;
  readonly firstOffset: bigint;
  lastOffset: bigint;
  records = 0;
  /** Bytes uploaded so far (compressed). */
  bytes = 0;
  private readonly compressor: Transform;
  private readonly done: Promise<unknown>;
  private readonly body: FileBody;
  private readonly streamCompressed: boolean;
  /** Uncompressed bytes handed out by the body, and the bytes they became. */
  private taken = 0;
  private out = 0;
  private failed?: Error;

  constructor(s3: S3Client, cfg: Pick<SinkConfig, 'bucket' | 'format' | 'compression' | 'compressionLevel' | 'partSizeBytes' | 'sseKmsKeyId'>, codec: Codec, key: string, first: Row, targetBytes: number) {
    this.key = key;
    this.firstOffset = first.offset;
    this.lastOffset = first.offset;
    this.streamCompressed = codec.streamCompressed;
    this.compressor = codec.streamCompressed ? compressionStream(cfg) : new PassThrough();
    const counted = new PassThrough();
    counted.on('data', (chunk: Buffer) => (this.bytes += chunk.length));
    this.compressor.pipe(counted);
    const upload = new Upload({
      client: s3,
      params: {
        Bucket: cfg.bucket, Key: key, Body: counted, ContentType: contentTypeFor(cfg.format), ChecksumAlgorithm: 'CRC32',
        ...(cfg.sseKmsKeyId ? { ServerSideEncryption: 'aws:kms', SSEKMSKeyId: cfg.sseKmsKeyId } : {}),
      },
      partSize: cfg.partSizeBytes,
      queueSize: 2,
      leavePartsOnError: false, // abort the multipart upload on failure
    });
    this.done = upload.done().catch((err: Error) => {
      this.failed = err;
      this.compressor.destroy();
      throw new UploadError(`Upload of s3://${cfg.bucket}/${key} failed: ${err.message}`, { cause: err });
    });
    this.done.catch(() => {}); // observed in close(); a write that sees `failed` throws first
    this.body = codec.body(targetBytes);
    this.add(first);
  }

  /** Appends a row. */
  async write(row: Row): Promise<void> {
    this.add(row);
    if (this.body.ready) await this.send(this.body.held, this.body.take());
  }

  private add(row: Row): void {
    this.body.add(row);
    this.records++;
    this.lastOffset = row.offset;
  }

  /** Hands on a piece the body made of `held` uncompressed bytes. */
  private async send(held: number, piece: Buffer): Promise<void> {
    if (this.failed) throw this.failed;
    this.taken += held;
    this.out += piece.length;
    if (piece.length > 0 && !this.compressor.write(piece)) await Promise.race([once(this.compressor, 'drain'), this.done]);
  }

  /** The file's compressed size if it ended now (estimateFileBytes). */
  estimatedBytes(ratio: number): number {
    return estimateFileBytes({ streamCompressed: this.streamCompressed, uploaded: this.bytes, taken: this.taken, out: this.out, held: this.body.held }, ratio);
  }

  /** Ends the file: every row encoded, compressed and uploaded. */
  async close(): Promise<void> {
    await this.send(this.body.held, this.body.end());
    this.compressor.end();
    await this.done;
  }
}
