/**
 * A local-directory object store behind the S3 client interface the sink uses: objects land as files at
 * `<dir>/<bucket>/<key>`, with the same keys as in S3, written atomically (temporary file, then rename).
 *
 * The commands the sink sends, with S3's semantics (test/support/memory-bucket.ts is the reference):
 * - PutObject: returns the ETag (quoted MD5 of the content, as S3 gives for a single-part upload); with
 *   `IfNoneMatch: '*'` it fails when the key exists, with `IfMatch: etag` when the object is not that one (or absent),
 *   both as `PreconditionFailed` (HTTP 412); a `ChecksumCRC32` that does not match the body is `BadDigest` (400).
 * - GetObject: the body (`transformToString`, `transformToByteArray`) and ETag; a missing key is `NoSuchKey` (404).
 * - DeleteObjects: removes the keys (absent ones count as deleted, as in S3).
 * - ListObjectsV2: keys under a prefix in key order (for the runner's own bookkeeping; temporary files are skipped).
 * A conditional check and its write are one step per key: requests on one key are serialized within the process.
 * Two processes writing one directory are not serialized against each other (run one runner per `--out`).
 * Only single PutObject uploads are needed: the runner sets the multipart threshold above any batch.
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import zlib from 'node:zlib';

interface Command {
  readonly constructor: { readonly name: string };
  readonly input: Record<string, unknown>;
}

const s3Error = (name: string, status: number, message: string) =>
  Object.assign(new Error(message), { name, Code: name, $metadata: { httpStatusCode: status } });

/** The ETag S3 gives a single-part upload without SSE-KMS: the quoted hex MD5 of the content. */
export const etagOf = (body: Uint8Array): string => `"${createHash('md5').update(body).digest('hex')}"`;

/** Temporary files of writes in flight (or of a process killed mid-write): never objects. */
const TMP = /\.tmp-\d+-\d+$/;

const isMissing = (err: unknown) => ['ENOENT', 'ENOTDIR', 'EISDIR'].includes((err as NodeJS.ErrnoException).code ?? '');

/**
 * Creates `dir` a level at a time and writes and removes a file in it: resolves when objects can be written there,
 * rejects with the error (its code, its path) otherwise. Not one recursive mkdir: under /proc that never returns.
 */
export async function ensureWritableDir(dir: string): Promise<void> {
  const missing: string[] = [];
  for (let d = resolve(dir); ; d = dirname(d)) {
    const s = await stat(d).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw err;
    });
    if (s !== undefined) {
      if (!s.isDirectory()) throw Object.assign(new Error(`${d} is not a directory`), { code: 'ENOTDIR', path: d });
      break;
    }
    missing.unshift(d);
    if (dirname(d) === d) break;
  }
  for (const d of missing) {
    await mkdir(d).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    });
  }
  const probe = join(dir, `.kafka-s3-probe-${process.pid}`);
  await writeFile(probe, '');
  await rm(probe, { force: true });
}

export class LocalObjectStore {
  readonly root: string;
  /** Objects and bytes written by PutObject (every key, checkpoints included). */
  objects = 0;
  bytes = 0;
  /** Requests by command name. */
  readonly requests = new Map<string, number>();
  private seq = 0;
  /** The last request queued per file: the next one on that file waits for it. */
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(root: string) {
    this.root = resolve(root);
  }

  async send(command: Command): Promise<Record<string, unknown>> {
    const name = command.constructor.name;
    this.requests.set(name, (this.requests.get(name) ?? 0) + 1);
    const input = command.input;
    switch (name) {
      case 'PutObjectCommand':
        return this.put(input);
      case 'GetObjectCommand':
        return this.get(input);
      case 'DeleteObjectsCommand':
        return this.deleteObjects(input);
      case 'ListObjectsV2Command':
        return this.list(input);
      default:
        throw new Error(`local object store: ${name} is not supported (PutObject, GetObject, DeleteObjects, ListObjectsV2)`);
    }
  }

  /** The directory of a bucket. */
  bucketDir(bucket: string): string {
    const dir = resolve(join(this.root, bucket));
    if (!dir.startsWith(this.root + sep) || bucket.includes('/') || bucket.includes(sep)) throw new Error(`local object store: bad bucket name: ${bucket}`);
    return dir;
  }

  private path(bucket: unknown, key: unknown): string {
    if (typeof bucket !== 'string' || bucket === '' || typeof key !== 'string' || key === '') throw new Error('local object store: the request needs Bucket and Key');
    const dir = this.bucketDir(bucket);
    const path = resolve(join(dir, key));
    if (!path.startsWith(dir + sep)) throw new Error(`local object store: key escapes the store: ${key}`);
    if (TMP.test(path)) throw new Error(`local object store: key looks like a temporary file: ${key}`);
    return path;
  }

  /** Runs `fn` after every earlier request on the same file has finished. */
  private async serialized<T>(path: string, fn: () => Promise<T>): Promise<T> {
    const before = this.locks.get(path);
    const run = (before ?? Promise.resolve()).catch(() => {}).then(fn);
    this.locks.set(path, run);
    try {
      return await run;
    } finally {
      if (this.locks.get(path) === run) this.locks.delete(path);
    }
  }

  /** The current object's ETag, or undefined when there is none. */
  private async currentEtag(path: string): Promise<string | undefined> {
    try {
      return etagOf(await readFile(path));
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
  }

  private async put(input: Record<string, unknown>): Promise<Record<string, unknown>> {
    const { Bucket, Key, Body, IfMatch, IfNoneMatch, ChecksumCRC32 } = input;
    if (Body === undefined || Body === null) throw new Error('local object store: PutObject needs Body');
    if (typeof Body !== 'string' && !(Body instanceof Uint8Array)) throw new Error('local object store: PutObject Body must be a string or bytes');
    const path = this.path(Bucket, Key);
    const body = typeof Body === 'string' ? Buffer.from(Body, 'utf8') : Buffer.from(Body.buffer, Body.byteOffset, Body.byteLength);
    if (IfNoneMatch !== undefined && IfNoneMatch !== '*') throw s3Error('NotImplemented', 501, 'If-None-Match supports only *');
    if (typeof ChecksumCRC32 === 'string') {
      const b = Buffer.allocUnsafe(4);
      b.writeUInt32BE(zlib.crc32(body));
      if (b.toString('base64') !== ChecksumCRC32) throw s3Error('BadDigest', 400, `${String(Key)}: the CRC32 checksum does not match the body`);
    }
    const etag = etagOf(body);
    return this.serialized(path, async () => {
      if (IfNoneMatch !== undefined || IfMatch !== undefined) {
        const current = await this.currentEtag(path);
        if (IfNoneMatch === '*' && current !== undefined) throw s3Error('PreconditionFailed', 412, `${String(Key)} exists (If-None-Match: *)`);
        if (IfMatch !== undefined && IfMatch !== current) {
          // S3 answers 404 for If-Match on a missing key; the sink treats both as a lost condition. 412 as MemoryBucket does.
          throw s3Error('PreconditionFailed', 412, `${String(Key)} ${current === undefined ? 'does not exist' : 'changed'} (If-Match: ${String(IfMatch)})`);
        }
      }
      await mkdir(dirname(path), { recursive: true });
      const tmp = `${path}.tmp-${process.pid}-${++this.seq}`;
      try {
        await writeFile(tmp, body);
        await rename(tmp, path);
      } catch (err) {
        await rm(tmp, { force: true });
        throw err;
      }
      this.objects++;
      this.bytes += body.length;
      return { ETag: etag, $metadata: { httpStatusCode: 200 } };
    });
  }

  private async get(input: Record<string, unknown>): Promise<Record<string, unknown>> {
    const path = this.path(input.Bucket, input.Key);
    // A rename replaces the file whole: a read sees the old or the new content, never a mix.
    let body: Buffer;
    try {
      body = await readFile(path);
    } catch (err) {
      if (isMissing(err)) throw s3Error('NoSuchKey', 404, `${String(input.Key)} does not exist`);
      throw err;
    }
    return {
      ETag: etagOf(body),
      ContentLength: body.length,
      Body: {
        transformToString: async (encoding: BufferEncoding = 'utf8') => body.toString(encoding),
        transformToByteArray: async () => new Uint8Array(body),
      },
      $metadata: { httpStatusCode: 200 },
    };
  }

  private async deleteObjects(input: Record<string, unknown>): Promise<Record<string, unknown>> {
    const del = input.Delete as { Objects?: { Key?: string }[]; Quiet?: boolean } | undefined;
    const objects = del?.Objects ?? [];
    if (objects.length > 1000) throw s3Error('MalformedXML', 400, 'DeleteObjects takes at most 1000 keys');
    const deleted: { Key: string }[] = [];
    const errors: { Key: string; Code: string; Message: string }[] = [];
    for (const o of objects) {
      const key = o.Key ?? '';
      try {
        const path = this.path(input.Bucket, key);
        await this.serialized(path, () => rm(path, { force: true }));
        deleted.push({ Key: key });
      } catch (err) {
        errors.push({ Key: key, Code: 'InternalError', Message: (err as Error).message });
      }
    }
    return { ...(del?.Quiet ? {} : { Deleted: deleted }), ...(errors.length > 0 ? { Errors: errors } : {}), $metadata: { httpStatusCode: 200 } };
  }

  /** Every object key of a bucket under a prefix, sorted (temporary files skipped). */
  async keys(bucket: string, prefix = ''): Promise<string[]> {
    const dir = this.bucketDir(bucket);
    // Walk only the directory the prefix names (its part up to the last '/').
    const base = prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/') + 1) : '';
    const start = resolve(join(dir, base));
    if (start !== dir && !start.startsWith(dir + sep)) return [];
    let entries;
    try {
      entries = await readdir(start, { recursive: true, withFileTypes: true });
    } catch (err) {
      if (isMissing(err)) return [];
      throw err;
    }
    const keys: string[] = [];
    for (const e of entries) {
      if (!e.isFile() || TMP.test(e.name)) continue;
      const key = relative(dir, join(e.parentPath, e.name)).split(sep).join('/');
      if (key.startsWith(prefix)) keys.push(key);
    }
    return keys.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }

  private async list(input: Record<string, unknown>): Promise<Record<string, unknown>> {
    const bucket = input.Bucket;
    if (typeof bucket !== 'string' || bucket === '') throw new Error('local object store: ListObjectsV2 needs Bucket');
    const prefix = typeof input.Prefix === 'string' ? input.Prefix : '';
    const after = (input.ContinuationToken ?? input.StartAfter) as string | undefined;
    const max = Math.max(1, Math.min(1000, Number(input.MaxKeys ?? 1000)));
    const all = (await this.keys(bucket, prefix)).filter((k) => after === undefined || k > after);
    const page = all.slice(0, max);
    const dir = this.bucketDir(bucket);
    const contents = await Promise.all(page.map(async (Key) => {
      const s = await stat(join(dir, Key)).catch(() => undefined);
      return { Key, Size: s?.size ?? 0, LastModified: s?.mtime };
    }));
    const truncated = all.length > page.length;
    return {
      Contents: contents, KeyCount: contents.length, IsTruncated: truncated, Prefix: prefix,
      ...(truncated ? { NextContinuationToken: page[page.length - 1] } : {}), $metadata: { httpStatusCode: 200 },
    };
  }

  destroy(): void {}
}
