import { createServer, type AddressInfo, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import zlib from 'node:zlib';
import type { S3Client } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { loadSinkConfig } from '../../../lambdas/shared/config.ts';
import { UploadError } from '../../../lambdas/shared/errors.ts';
import { createS3Client, mapBounded, S3_SOCKET_TIMEOUT_MS, s3RequestHandler, uploadObject } from '../../../lambdas/shared/upload.ts';

interface SentCommand {
  readonly name: string;
  readonly input: Record<string, unknown>;
}

/** A stand-in for S3Client: records every command and answers with `respond`. */
function fakeS3(respond: (c: SentCommand) => unknown = () => ({})): { client: S3Client; sent: SentCommand[] } {
  const sent: SentCommand[] = [];
  const client = {
    config: { requestChecksumCalculation: async () => 'WHEN_SUPPORTED', requestHandler: undefined },
    send: async (command: { constructor: { name: string }; input: Record<string, unknown> }) => {
      const c = { name: command.constructor.name, input: command.input };
      sent.push(c);
      return respond(c);
    },
  };
  return { client: client as unknown as S3Client, sent };
}

const MiB = 1024 * 1024;
const cfg = { bucket: 'my-bucket', multipartThresholdBytes: 5 * MiB, partSizeBytes: 5 * MiB, sseKmsKeyId: undefined };

describe('mapBounded', () => {
  it('never has more than `limit` calls in flight and keeps the results in input order', async () => {
    // Prepare
    const items = Array.from({ length: 20 }, (_, i) => i);
    let inFlight = 0;
    let maxInFlight = 0;
    const fn = async (i: number) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await sleep([7, 1, 4, 2][i % 4]);
      inFlight--;
      return `item-${i}`;
    };

    // Act
    const results = await mapBounded(items, 3, fn);

    // Assess
    expect(maxInFlight).toBe(3);
    expect(inFlight).toBe(0);
    expect(results).toEqual(items.map((i) => `item-${i}`));
  });

  it('runs everything at once when the limit is above the item count', async () => {
    // Prepare
    let inFlight = 0;
    let maxInFlight = 0;
    const fn = async (i: number) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await sleep(2);
      inFlight--;
      return i * 2;
    };

    // Act
    const results = await mapBounded([1, 2, 3], 64, fn);
    const empty = await mapBounded([], 4, fn);

    // Assess
    expect(results).toEqual([2, 4, 6]);
    expect(maxInFlight).toBe(3);
    expect(empty).toEqual([]);
  });

  it('throws the first error only after the calls in flight have settled, and starts nothing new', async () => {
    // Prepare
    const started: number[] = [];
    const settled: number[] = [];
    const fn = async (i: number) => {
      started.push(i);
      try {
        if (i === 2) {
          await sleep(5);
          throw new Error('item 2 failed first');
        }
        if (i === 1) {
          await sleep(30);
          throw new Error('item 1 failed later');
        }
        await sleep(40);
        return i;
      } finally {
        settled.push(i);
      }
    };

    // Act
    const outcome = await mapBounded([0, 1, 2, 3, 4, 5], 3, fn).then(
      () => new Error('mapBounded resolved'),
      (err: unknown) => err,
    );

    // Assess
    expect((outcome as Error).message).toBe('item 2 failed first');
    expect(started).toEqual([0, 1, 2]);
    expect([...settled].sort()).toEqual([0, 1, 2]);
  });

  it('does not start new items on the other workers after a failure', async () => {
    // Prepare
    const started: number[] = [];
    const fn = async (i: number) => {
      started.push(i);
      await sleep(i === 0 ? 1 : 10);
      if (i === 0) throw new Error('boom');
      return i;
    };

    // Act
    const outcome = mapBounded([0, 1, 2, 3], 2, fn);

    // Assess
    await expect(outcome).rejects.toThrow('boom');
    expect(started).toEqual([0, 1]);
  });
});

describe('uploadObject', () => {
  it('sends one PutObject with a CRC32 checksum below the multipart threshold', async () => {
    // Prepare
    const { client, sent } = fakeS3();
    const body = Buffer.from('hello');
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(zlib.crc32(body));

    // Act
    const result = await uploadObject(client, cfg, {
      key: 'topics/orders/0.jsonl.gz',
      body,
      contentType: 'application/x-ndjson',
      metadata: { 'kafka-topic': 'orders' },
    });

    // Assess
    expect(result).toEqual({ key: 'topics/orders/0.jsonl.gz', bytes: 5, multipart: false });
    expect(sent).toHaveLength(1);
    expect(sent[0].name).toBe('PutObjectCommand');
    expect(sent[0].input).toEqual({
      Bucket: 'my-bucket',
      Key: 'topics/orders/0.jsonl.gz',
      Body: body,
      ContentType: 'application/x-ndjson',
      Metadata: { 'kafka-topic': 'orders' },
      ChecksumCRC32: crc.toString('base64'),
    });
    // crc32("hello") = 0x3610a686
    expect(sent[0].input.ChecksumCRC32).toBe('NhCmhg==');
  });

  it('asks for SSE-KMS when a key is configured', async () => {
    // Prepare
    const { client, sent } = fakeS3();

    // Act
    await uploadObject(client, { ...cfg, sseKmsKeyId: 'alias/sink' }, { key: 'k', body: Buffer.alloc(0), contentType: 'text/plain' });

    // Assess
    expect(sent[0].input).toMatchObject({ ServerSideEncryption: 'aws:kms', SSEKMSKeyId: 'alias/sink', ChecksumCRC32: 'AAAAAA==' });
  });

  it('wraps a failed PutObject in UploadError naming the object, keeping the cause', async () => {
    // Prepare
    const cause = new Error('SlowDown: please reduce your request rate');
    const { client } = fakeS3(() => {
      throw cause;
    });

    // Act
    const outcome = await uploadObject(client, cfg, { key: 'topics/a.jsonl', body: Buffer.from('x'), contentType: 'text/plain' })
      .then(() => new Error('uploadObject resolved'), (err: unknown) => err);

    // Assess
    expect(outcome).toBeInstanceOf(UploadError);
    expect((outcome as UploadError).message).toBe('Upload of s3://my-bucket/topics/a.jsonl failed: SlowDown: please reduce your request rate');
    expect((outcome as UploadError).cause).toBe(cause);
  });

  it('uses a multipart upload at the threshold, with parts that add up to the body', async () => {
    // Prepare
    const { client, sent } = fakeS3((c) => {
      if (c.name === 'CreateMultipartUploadCommand') return { UploadId: 'upload-1' };
      if (c.name === 'UploadPartCommand') return { ETag: `"etag-${String(c.input.PartNumber)}"` };
      return {};
    });
    const body = Buffer.alloc(11 * MiB);
    for (let i = 0; i < body.length; i += 4096) body[i] = i % 251;

    // Act
    const result = await uploadObject(client, cfg, { key: 'big.parquet', body, contentType: 'application/vnd.apache.parquet' });

    // Assess
    expect(result).toEqual({ key: 'big.parquet', bytes: 11 * MiB, multipart: true });
    expect(sent.map((c) => c.name)).toEqual([
      'CreateMultipartUploadCommand', 'UploadPartCommand', 'UploadPartCommand', 'UploadPartCommand', 'CompleteMultipartUploadCommand',
    ]);
    expect(sent[0].input).toMatchObject({ Bucket: 'my-bucket', Key: 'big.parquet', ChecksumAlgorithm: 'CRC32' });
    const parts = sent.filter((c) => c.name === 'UploadPartCommand').sort((a, b) => Number(a.input.PartNumber) - Number(b.input.PartNumber));
    expect(parts.map((p) => [p.input.PartNumber, (p.input.Body as Uint8Array).length])).toEqual([[1, 5 * MiB], [2, 5 * MiB], [3, MiB]]);
    expect(Buffer.concat(parts.map((p) => p.input.Body as Uint8Array)).equals(body)).toBe(true);
    const completed = (sent[4].input.MultipartUpload as { Parts: { PartNumber: number; ETag: string }[] }).Parts;
    expect(completed.map((p) => [p.PartNumber, p.ETag])).toEqual([[1, '"etag-1"'], [2, '"etag-2"'], [3, '"etag-3"']]);
    expect(sent[4].input).toMatchObject({ Bucket: 'my-bucket', Key: 'big.parquet', UploadId: 'upload-1' });
  });

  it('aborts the multipart upload when a part fails and throws UploadError', async () => {
    // Prepare
    const { client, sent } = fakeS3((c) => {
      if (c.name === 'CreateMultipartUploadCommand') return { UploadId: 'upload-2' };
      if (c.name === 'UploadPartCommand' && c.input.PartNumber === 2) throw new Error('InternalError');
      if (c.name === 'UploadPartCommand') return { ETag: '"e"' };
      return {};
    });

    // Act
    const outcome = await uploadObject(client, cfg, { key: 'big.avro', body: Buffer.alloc(10 * MiB), contentType: 'application/avro' })
      .then(() => new Error('uploadObject resolved'), (err: unknown) => err);

    // Assess
    expect(outcome).toBeInstanceOf(UploadError);
    expect((outcome as Error).message).toBe('Upload of s3://my-bucket/big.avro failed: InternalError');
    const abort = sent.filter((c) => c.name === 'AbortMultipartUploadCommand');
    expect(abort.map((c) => c.input)).toEqual([{ Bucket: 'my-bucket', Key: 'big.avro', UploadId: 'upload-2' }]);
    expect(sent.some((c) => c.name === 'CompleteMultipartUploadCommand')).toBe(false);
  });
});

describe('the S3 client: a connection on which nothing moves', () => {
  it('is abandoned after the idle timeout and retried, then the upload fails (not held until the function times out)', async () => {
    // Prepare: a server that accepts connections and never answers (a stalled S3, or a proxy on the way).
    const sockets: Socket[] = [];
    const server = createServer((s) => void sockets.push(s));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    const sink = loadSinkConfig({ BUCKET_NAME: 'my-bucket', S3_ENDPOINT: `http://127.0.0.1:${port}`, S3_MAX_ATTEMPTS: '2' });
    // As the Lambda runtime sets them.
    const saved = { ...process.env };
    Object.assign(process.env, { AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' });
    const client = createS3Client(sink, { socketTimeoutMs: 400 });

    // Act
    const t0 = Date.now();
    const err = await uploadObject(client, sink, { key: 'k', body: Buffer.from('x'), contentType: 'text/plain' }).catch((e: unknown) => e);
    const ms = Date.now() - t0;
    client.destroy();
    for (const k of ['AWS_REGION', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY']) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
    for (const s of sockets) s.destroy();
    await new Promise((r) => server.close(r));

    // Assess: both attempts timed out (two connections), well before anything like a Lambda timeout.
    expect(err).toBeInstanceOf(UploadError);
    expect(String((err as Error).message)).toMatch(/timed out after 400 ms of inactivity/);
    expect(sockets.length).toBe(2);
    expect(ms).toBeLessThan(10_000);
  });

  it('is the function\'s and the runner\'s client: an idle timeout of 15 s by default', () => {
    expect(S3_SOCKET_TIMEOUT_MS).toBe(15_000);
    const handler = s3RequestHandler() as unknown as { configProvider: Promise<{ socketTimeout?: number; connectionTimeout?: number }> };
    return handler.configProvider.then((c) => {
      expect(c.socketTimeout).toBe(15_000);
      expect(c.connectionTimeout).toBe(3_000);
    });
  });
});
