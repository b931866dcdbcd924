/**
 * A replay's durable state: its plan (the objects of each stream, in order) and one checkpoint per stream (how far
 * it got, and where the target's partitions ended when it got there: resume.ts reads what landed after that).
 * Kept in a local directory (the runner) or under an S3 prefix (the serverless replay), one document per name,
 * each write whole (a file renamed into place; a PutObject).
 */
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface StateStore {
  /** The document, or undefined when there is none. */
  read(name: string): Promise<string | undefined>;
  write(name: string, text: string): Promise<void>;
  /** Where the state is, for messages. */
  readonly where: string;
}

export class DirectoryState implements StateStore {
  private readonly dir: string;
  private seq = 0;
  constructor(dir: string) {
    this.dir = dir;
  }

  get where(): string {
    return this.dir;
  }

  async read(name: string): Promise<string | undefined> {
    try {
      return await readFile(join(this.dir, name), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async write(name: string, text: string): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const tmp = join(this.dir, `${name}.tmp-${process.pid}-${this.seq++}`);
    await writeFile(tmp, text);
    await rename(tmp, join(this.dir, name));
  }
}

export class S3State implements StateStore {
  private readonly s3: S3Client;
  private readonly bucket: string;
  private readonly prefix: string;
  constructor(s3: S3Client, bucket: string, prefix: string) {
    this.s3 = s3;
    this.bucket = bucket;
    this.prefix = prefix;
  }

  get where(): string {
    return `s3://${this.bucket}/${this.prefix}`;
  }

  async read(name: string): Promise<string | undefined> {
    try {
      const got = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: `${this.prefix}${name}` }));
      return await got.Body!.transformToString('utf8');
    } catch (err) {
      const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
      if (e.name === 'NoSuchKey' || e.$metadata?.httpStatusCode === 404) return undefined;
      throw err;
    }
  }

  async write(name: string, text: string): Promise<void> {
    await this.s3.send(new PutObjectCommand({ Bucket: this.bucket, Key: `${this.prefix}${name}`, Body: text, ContentType: 'application/json' }));
  }
}

/** The document name of a stream's checkpoint (stream IDs hold '/'). */
export const checkpointName = (streamId: string): string => `checkpoint-${createHash('sha256').update(streamId).digest('hex').slice(0, 24)}.json`;
export const PLAN_NAME = 'plan.json';
/** The document of a stream's planned objects. */
export const streamName = (streamId: string): string => `stream-${createHash('sha256').update(streamId).digest('hex').slice(0, 24)}.json`;
