/**
 * LocalObjectStore, the runner's local-directory S3 stand-in: the commands the sink sends (conditional PutObject,
 * GetObject, DeleteObjects) with the semantics of test/support/memory-bucket.ts, compared request by request,
 * and atomic per key under concurrent requests.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync, mkdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteObjectsCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { ClaimConflictError, ProgressStore } from '../../../lambdas/shared/progress.ts';
import { LocalObjectStore } from '../../../bin/runner/local-store.ts';
import { MemoryBucket } from '../../support/memory-bucket.ts';

const newStore = () => new LocalObjectStore(mkdtempSync(join(tmpdir(), 'kafka-s3-store-')));
type Store = { send(c: unknown): Promise<object> };
const send = (s: Store, c: unknown) => s.send(c) as Promise<Record<string, unknown>>;

/** What a request ended as, without the parts that differ by design (ETag values, messages). */
async function outcome(s: Store, c: unknown): Promise<string> {
  try {
    const out = await send(s, c);
    if (out.Body) return `ok body=${await (out.Body as { transformToString(): Promise<string> }).transformToString()} etag=${typeof out.ETag === 'string'}`;
    return `ok etag=${typeof out.ETag === 'string'}`;
  } catch (err) {
    const e = err as { name: string; $metadata?: { httpStatusCode?: number } };
    return `error ${e.name} ${e.$metadata?.httpStatusCode}`;
  }
}

const put = (Key: string, Body: string, cond: { IfMatch?: string; IfNoneMatch?: string } = {}) => new PutObjectCommand({ Bucket: 'b', Key, Body, ...cond });
const get = (Key: string) => new GetObjectCommand({ Bucket: 'b', Key });

describe('LocalObjectStore: the sink\'s S3 commands', () => {
  it('answers a sequence of conditional writes, reads and deletes as the memory bucket does', async () => {
    // Prepare: one script of requests; ETags are taken from each store's own answers.
    const local = newStore();
    const memory = new MemoryBucket();
    const results: Record<string, string[]> = { local: [], memory: [] };

    // Act
    for (const [name, s] of [['local', local], ['memory', memory]] as const) {
      const r = results[name];
      const etag = async (key: string) => ((await send(s, get(key))).ETag as string);
      r.push(await outcome(s, get('checkpoints/t/0.json'))); // nothing yet
      r.push(await outcome(s, put('checkpoints/t/0.json', 'v1', { IfNoneMatch: '*' }))); // first writer
      r.push(await outcome(s, put('checkpoints/t/0.json', 'v1b', { IfNoneMatch: '*' }))); // second "first" writer loses
      r.push(await outcome(s, get('checkpoints/t/0.json')));
      const e1 = await etag('checkpoints/t/0.json');
      r.push(await outcome(s, put('checkpoints/t/0.json', 'v2', { IfMatch: e1 }))); // advance
      r.push(await outcome(s, put('checkpoints/t/0.json', 'v3', { IfMatch: e1 }))); // stale ETag loses
      r.push(await outcome(s, put('checkpoints/t/1.json', 'x', { IfMatch: e1 }))); // If-Match on a missing key
      r.push(await outcome(s, get('checkpoints/t/0.json')));
      r.push(await outcome(s, put('topics/a', 'data'))); // unconditional
      r.push(await outcome(s, put('topics/a', 'data2'))); // overwrite
      r.push(await outcome(s, new DeleteObjectsCommand({ Bucket: 'b', Delete: { Objects: [{ Key: 'topics/a' }, { Key: 'topics/never' }], Quiet: true } })));
      r.push(await outcome(s, get('topics/a')));
      r.push(await outcome(s, put('checkpoints/t/0.json', 'v4', { IfMatch: await etag('checkpoints/t/0.json') })));
      r.push(await outcome(s, get('checkpoints/t/0.json')));
    }

    // Assess
    expect(results.local).toEqual(results.memory);
    expect(results.local).toEqual([
      'error NoSuchKey 404', 'ok etag=true', 'error PreconditionFailed 412', 'ok body=v1 etag=true', 'ok etag=true',
      'error PreconditionFailed 412', 'error PreconditionFailed 412', 'ok body=v2 etag=true', 'ok etag=true', 'ok etag=true',
      'ok etag=false', 'error NoSuchKey 404', 'ok etag=true', 'ok body=v4 etag=true',
    ]);
  });

  it('gives the quoted MD5 of the content as ETag, on PutObject and GetObject alike, and the bytes back', async () => {
    const store = newStore();
    const body = Buffer.from([0, 1, 2, 255, 10]);
    const out = await send(store, new PutObjectCommand({ Bucket: 'b', Key: 'k/x.bin', Body: body }));
    expect(out.ETag).toBe(`"${createHash('md5').update(body).digest('hex')}"`);
    const got = await send(store, get('k/x.bin'));
    expect(got.ETag).toBe(out.ETag);
    expect(Buffer.from(await (got.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray())).toEqual(body);
    expect(got.ContentLength).toBe(5);
  });

  it('of concurrent writes conditional on one state, exactly one wins; the others get PreconditionFailed (412)', async () => {
    // Prepare
    const store = newStore();
    const first = await send(store, put('cp.json', 'start', { IfNoneMatch: '*' }));

    // Act: 20 writers that all read the same ETag, and 20 that all think the key is new.
    const ifMatch = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => send(store, put('cp.json', `writer ${i}`, { IfMatch: first.ETag as string }))));
    const ifNone = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => send(store, put('new.json', `creator ${i}`, { IfNoneMatch: '*' }))));

    // Assess
    for (const settled of [ifMatch, ifNone]) {
      expect(settled.filter((s) => s.status === 'fulfilled')).toHaveLength(1);
      const lost = settled.filter((s): s is PromiseRejectedResult => s.status === 'rejected').map((s) => [s.reason.name, s.reason.$metadata.httpStatusCode]);
      expect(lost).toEqual(Array.from({ length: 19 }, () => ['PreconditionFailed', 412]));
    }
    const winner = ifMatch.findIndex((s) => s.status === 'fulfilled');
    expect(await readFile(join(store.root, 'b', 'cp.json'), 'utf8')).toBe(`writer ${winner}`);
    expect(store.objects).toBe(3); // the first write and one winner each
  });

  it('refuses a body whose CRC32 checksum does not match (BadDigest), as S3 does', async () => {
    const store = newStore();
    await expect(send(store, new PutObjectCommand({ Bucket: 'b', Key: 'x', Body: Buffer.from('abc'), ChecksumCRC32: 'AAAAAA==' }))).rejects.toMatchObject({ name: 'BadDigest', $metadata: { httpStatusCode: 400 } });
    await expect(send(store, new PutObjectCommand({ Bucket: 'b', Key: 'x', Body: Buffer.from('abc'), ChecksumCRC32: 'NSRBwg==' }))).resolves.toMatchObject({ ETag: expect.any(String) });
  });

  it('deletes keys (absent ones included) and lists keys under a prefix in order, without temporary files', async () => {
    // Prepare
    const store = newStore();
    for (const k of ['topics/o/b', 'topics/o/a', 'topics/p/c', 'checkpoints/o/0.json', 'dead-letters/x']) await send(store, put(k, k));
    mkdirSync(join(store.root, 'b', 'topics', 'o'), { recursive: true });
    writeFileSync(join(store.root, 'b', 'topics', 'o', 'a.tmp-123-4'), 'half a write of a killed process');

    // Act
    const del = await send(store, new DeleteObjectsCommand({ Bucket: 'b', Delete: { Objects: [{ Key: 'topics/p/c' }, { Key: 'nope' }] } }));
    const all = await send(store, new ListObjectsV2Command({ Bucket: 'b' }));
    const topics = await send(store, new ListObjectsV2Command({ Bucket: 'b', Prefix: 'topics/o/' }));
    const page1 = await send(store, new ListObjectsV2Command({ Bucket: 'b', MaxKeys: 2 }));
    const page2 = await send(store, new ListObjectsV2Command({ Bucket: 'b', MaxKeys: 2, ContinuationToken: page1.NextContinuationToken as string }));

    // Assess
    expect(del.Deleted).toEqual([{ Key: 'topics/p/c' }, { Key: 'nope' }]);
    const keys = (out: Record<string, unknown>) => (out.Contents as { Key: string }[]).map((c) => c.Key);
    expect(keys(all)).toEqual(['checkpoints/o/0.json', 'dead-letters/x', 'topics/o/a', 'topics/o/b']);
    expect(keys(topics)).toEqual(['topics/o/a', 'topics/o/b']);
    expect([keys(page1), page1.IsTruncated, keys(page2), page2.IsTruncated]).toEqual([['checkpoints/o/0.json', 'dead-letters/x'], true, ['topics/o/a', 'topics/o/b'], false]);
    expect(await store.keys('b', 'checkpoints/')).toEqual(['checkpoints/o/0.json']);
  });

  it('refuses keys and buckets that would leave the store directory', async () => {
    const store = newStore();
    await expect(send(store, put('../../etc/x', 'x'))).rejects.toThrow(/escapes/);
    await expect(send(store, new GetObjectCommand({ Bucket: '..', Key: 'x' }))).rejects.toThrow(/bucket/);
    await expect(send(store, new PutObjectCommand({ Bucket: 'b', Key: 'k.tmp-1-2', Body: 'x' }))).rejects.toThrow(/temporary/);
  });

  it('carries the sink\'s checkpoint protocol: first write, advance, and a stale writer losing with ClaimConflictError', async () => {
    // Prepare
    const store = newStore();
    const progress = new ProgressStore(store as never, { bucket: 'b', statePrefix: 'checkpoints/' });

    // Act
    const none = await progress.read('orders', 3);
    const e1 = await progress.write('orders', 3, { next: 0n, claim: { from: 0n, to: 99n, owner: 'a', expiresAt: 1e15, keys: ['topics/k'] } }, null, 0);
    const read1 = await progress.read('orders', 3);
    const e2 = await progress.write('orders', 3, { next: 100n, claim: null }, e1, 0);
    const stale = progress.write('orders', 3, { next: 50n, claim: null }, e1, 0);
    const again = progress.write('orders', 3, { next: 0n, claim: null }, null, 0);

    // Assess
    expect(none).toEqual({ checkpoint: { next: null, claim: null }, etag: null });
    expect(read1).toMatchObject({ checkpoint: { next: 0n, claim: { from: 0n, to: 99n, owner: 'a', keys: ['topics/k'] } }, etag: e1 });
    await expect(stale).rejects.toBeInstanceOf(ClaimConflictError);
    await expect(again).rejects.toBeInstanceOf(ClaimConflictError);
    expect(await progress.read('orders', 3)).toEqual({ checkpoint: { next: 100n, claim: null }, etag: e2 });
  });
});
