import { randomUUID } from 'node:crypto';
import { Agent, request } from 'node:http';
import { gzipSync, zstdCompressSync } from 'node:zlib';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { readObject } from './readers.ts';
import { describeS3 } from './s3-context.ts';
import { createBucket, s3ClientFor } from './versitygw.ts';

const INT64_MAX = 9223372036854775807n;

describeS3('test harness: versitygw + independent readers', (s3) => {
  const bucket = `infra-${randomUUID().slice(0, 8)}`;
  let client: S3Client;

  beforeAll(async () => {
    client = s3ClientFor(s3);
    await createBucket(s3, bucket);
  });
  afterAll(() => client.destroy());

  const put = (key: string, body: Uint8Array | string): Promise<unknown> =>
    client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));

  it('keeps a connection open between requests, as S3 does (a keep-alive agent opens one socket for three)', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    let sockets = 0;
    const get = (): Promise<string | undefined> => new Promise((resolve, reject) => {
      const req = request(`${s3.endpoint}/`, { agent }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.headers.connection));
      });
      req.on('socket', (socket) => {
        if (!(socket as { counted?: boolean }).counted) {
          (socket as { counted?: boolean }).counted = true;
          sockets++;
        }
      });
      req.on('error', reject);
      req.end();
    });
    try {
      const connection = [await get(), await get(), await get()];
      expect(connection).not.toContain('close');
      expect(sockets).toBe(1);
    } finally {
      agent.destroy();
    }
  });

  it('reads gzip JSON lines back with int64 max as an exact BigInt', async () => {
    const jsonl = [
      `{"offset":${INT64_MAX},"key":"k1","value":{"n":1.5,"s":"ünïcode"}}`,
      '{"offset":-42,"key":null,"value":[true,false,null]}',
    ].join('\n') + '\n';
    await put('topic/part-0/batch.jsonl.gz', gzipSync(jsonl));

    const got = await readObject(s3, bucket, 'topic/part-0/batch.jsonl.gz', 'jsonl', 'gzip');

    expect(got).toEqual({
      rows: [
        { offset: INT64_MAX, key: 'k1', value: { n: 1.5, s: 'ünïcode' } },
        { offset: -42, key: null, value: [true, false, null] },
      ],
      trailing_separator: true,
    });
    expect(typeof (got as { rows: Array<{ offset: unknown }> }).rows[0].offset).toBe('bigint');
  });

  it('reads zstd JSON lines back', async () => {
    await put('z.jsonl.zst', zstdCompressSync('{"a":1}\n{"a":2}\n'));
    expect(await readObject(s3, bucket, 'z.jsonl.zst', 'jsonl', 'zstd')).toEqual({
      rows: [{ a: 1 }, { a: 2 }],
      trailing_separator: true,
    });
  });

  it('reads CSV with a header row, quoting and embedded newlines', async () => {
    const csv = 'offset,key,value\r\n9223372036854775807,"a,b","line1\nline2"\r\n1,,"say ""hi"""\r\n';
    await put('batch.csv', csv);

    expect(await readObject(s3, bucket, 'batch.csv', 'csv_with_headers')).toEqual({
      rows: [
        ['offset', 'key', 'value'],
        ['9223372036854775807', 'a,b', 'line1\nline2'],
        ['1', '', 'say "hi"'],
      ],
    });
  });

  it('splits bytes on an escaped separator and returns base64 chunks', async () => {
    await put('batch.bin', new Uint8Array([0x00, 0xff, 0x1e, 0x01, 0x1e]));
    expect(await readObject(s3, bucket, 'batch.bin', 'bytes', 'none', '\\x1e')).toEqual({
      rows: [Buffer.from([0x00, 0xff]).toString('base64'), Buffer.from([0x01]).toString('base64')],
      trailing_separator: true,
    });
  });

  it('fails loudly when a JSON line is invalid', async () => {
    await put('bad.jsonl', '{"a":1}\nnot json\n');
    await expect(readObject(s3, bucket, 'bad.jsonl', 'jsonl')).rejects.toThrow(/line 2 is not valid JSON/);
  });
});
