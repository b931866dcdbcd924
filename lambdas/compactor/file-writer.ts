/**
 * One compacted file, written as its rows come: compressed as a stream and uploaded as it goes (multipart, a part
 * at a time), so a file of hundreds of MB never sits in memory whole. The compactor cuts a file once the compressed
 * bytes reach its target.
 */
import { once } from 'node:events';
import { PassThrough, type Transform } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { SinkConfig } from '../shared/config.ts';
import { compressionStream } from '../shared/compress.ts';
import { UploadError } from '../shared/errors.ts';
import type { Row } from './codec.ts';

/** Rows are handed to the compressor in pieces (one write per row would cost a call each) of at most this size, and
 * at most an eighth of the file's target. */
const PIECE_BYTES = 256 * 1024;

export class FileWriter {
  readonly key: string;
  readonly firstOffset: bigint;
  lastOffset: bigint;
  records = 0;
  /** Compressed bytes out so far. */
  bytes = 0;
  private readonly compressor: Transform;
  private readonly done: Promise<unknown>;
  private piece: Buffer;
  private readonly pieceBytes: number;
  /** Uncompressed bytes handed to the compressor. */
  private written = 0;
  private used = 0;
  private failed?: Error;

  constructor(s3: S3Client, cfg: Pick<SinkConfig, 'bucket' | 'format' | 'compression' | 'compressionLevel' | 'partSizeBytes' | 'sseKmsKeyId'>, key: string, first: Row, targetBytes: number) {
    this.key = key;
    this.firstOffset = first.offset;
    this.lastOffset = first.offset;
    this.compressor = compressionStream(cfg);
    const counted = new PassThrough();
    counted.on('data', (chunk: Buffer) => (this.bytes += chunk.length));
    this.compressor.pipe(counted);
    const upload = new Upload({
      client: s3,
      params: {
        Bucket: cfg.bucket, Key: key, Body: counted, ContentType: 'application/octet-stream', ChecksumAlgorithm: 'CRC32',
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
    this.pieceBytes = Math.max(4096, Math.min(PIECE_BYTES, Math.floor(targetBytes / 8)));
    this.piece = Buffer.allocUnsafe(this.pieceBytes);
    this.add(first);
  }

  /** Appends a row (and its line feed). */
  async write(row: Row): Promise<void> {
    this.add(row);
    if (this.used >= this.pieceBytes) await this.flush();
  }

  private add(row: Row): void {
    const need = row.bytes.length + 1;
    if (this.used + need > this.piece.length) {
      const bigger = Buffer.allocUnsafe(Math.max(this.piece.length * 2, this.used + need));
      this.piece.copy(bigger, 0, 0, this.used);
      this.piece = bigger;
    }
    this.used += row.bytes.copy(this.piece, this.used);
    this.piece[this.used++] = 0x0a;
    this.records++;
    this.lastOffset = row.offset;
  }

  private async flush(): Promise<void> {
    if (this.failed) throw this.failed;
    if (this.used === 0) return;
    const out = Buffer.from(this.piece.subarray(0, this.used));
    this.used = 0;
    if (this.piece.length > this.pieceBytes) this.piece = Buffer.allocUnsafe(this.pieceBytes);
    this.written += out.length;
    if (!this.compressor.write(out)) await Promise.race([once(this.compressor, 'drain'), this.done]);
  }

  /**
   * The file's compressed size if it ended now, at `ratio` (compressed / uncompressed bytes of the objects merged,
   * written by the same codec from rows alike): what the compressor has handed out lags what it holds by its
   * buffers, so its own count only bounds the estimate from below.
   */
  estimatedBytes(ratio: number): number {
    return Math.max(this.bytes, (this.written + this.used) * ratio);
  }

  /** Ends the file: every row compressed and uploaded. */
  async close(): Promise<void> {
    await this.flush();
    this.compressor.end();
    await this.done;
  }
}
