/** What the compaction tests share: records over three hour windows, S3 listing and reading, a sink and compactors. */
import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { Compactor, type CompactorOptions } from '../../lambdas/compactor/compact.ts';
import { loadCompactorConfig } from '../../lambdas/compactor/config.ts';
import { createSinkHandler } from '../../lambdas/sink/app.ts';
import { kafkaEvent, orderValue, type RecordSpec } from './events.ts';
import { createBucket, type S3Endpoint } from './versitygw.ts';

export const HOUR = 3_600_000;
/** 2026-03-01T21:00Z: records over three hours. */
export const T0 = Date.UTC(2026, 2, 1, 21);
/** Every window closed, grace included. */
export const AFTER = T0 + 6 * HOUR;
export const context = { functionName: 'sink', awsRequestId: 'compaction', getRemainingTimeInMillis: () => 300_000 } as never;

/**
 * Records of topic orders, partitions 0-1 (or one): offset i at T0 + i × 90 s (three hour windows), or, late, a high
 * offset whose time lies in the first hour (a producer's clock, a replay).
 */
export function records(from: number, to: number, opts: { partition?: number; late?: boolean; value?: (i: number) => string } = {}): RecordSpec[] {
  const out: RecordSpec[] = [];
  for (let i = from; i < to; i++) {
    for (const partition of opts.partition === undefined ? [0, 1] : [opts.partition]) {
      const timestamp = opts.late ? T0 + (i % 40) * 60_000 + partition : T0 + i * 90_000 + partition;
      out.push({ topic: 'orders', partition, offset: i, timestamp, key: `k-${i}`, value: opts.value?.(i) ?? JSON.stringify({ ...orderValue(i), n: i }) });
    }
  }
  return out;
}

export async function objectBytes(client: S3Client, bucket: string, key: string): Promise<Buffer> {
  return Buffer.from(await (await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body!.transformToByteArray());
}

export async function keysUnder(client: S3Client, bucket: string, prefix: string): Promise<string[]> {
  const out: string[] = [];
  let token: string | undefined;
  do {
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    out.push(...(page.Contents ?? []).map((o) => o.Key!));
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return out;
}

/** A fresh bucket with the sink (jsonl + gzip) writing into it, and compactors of it at a given time. */
export async function compactionSetup(s3: S3Endpoint, client: S3Client, bucket: string, extra: Partial<CompactorOptions> = {}) {
  await createBucket(s3, bucket);
  const env = { BUCKET_NAME: bucket, S3_ENDPOINT: s3.endpoint, FORMAT: 'jsonl', COMPRESSION: 'gzip' };
  const sink = createSinkHandler({ env, s3: client });
  const cfg = loadCompactorConfig(env);
  let run = 0;
  const compactor = (s3c: S3Client = client, now = AFTER) => new Compactor(s3c, { ...cfg, runId: `r${++run}`, ...extra }, () => now);
  const write = async (recs: RecordSpec[], size = 15) => {
    for (let i = 0; i < recs.length; i += size) await sink(kafkaEvent(recs.slice(i, i + size)), context);
  };
  return { bucket, env, cfg, sink, compactor, write };
}
