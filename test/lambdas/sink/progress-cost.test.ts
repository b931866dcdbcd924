/**
 * What exactly-once costs in S3 requests (the README's cost table): a steady-state invocation makes, per partition,
 * one GET and two conditional PUTs of the checkpoint besides its data PUTs; a redelivery of what is written makes one
 * GET and nothing else; taking over a dead claim adds one DeleteObjects.
 */
import { describe, expect, it } from 'vitest';
import { loadSinkConfig } from '../../../lambdas/shared/config.ts';
import { SinkPipeline } from '../../../lambdas/shared/pipeline.ts';
import { kafkaEvent, type RecordSpec } from '../../support/events.ts';
import { MemoryBucket } from '../../support/memory-bucket.ts';

const cfg = loadSinkConfig({ BUCKET_NAME: 'bkt', FORMAT: 'jsonl', KEY_TEMPLATE: '{{topic}}/{{partition}}/{{start_offset}}' });
const records = (partitions: number, from: number, to: number): RecordSpec[] =>
  Array.from({ length: partitions }, (_, p) => Array.from({ length: to - from + 1 }, (_, i) => ({ partition: p, offset: from + i, value: '{"a":1}' }))).flat();

describe('requests per invocation', () => {
  it('per partition: one checkpoint GET and two conditional PUTs besides the data PUT; a redelivery costs one GET', async () => {
    const bucket = new MemoryBucket();
    let clock = 1_767_225_600_000;
    const pipeline = new SinkPipeline(cfg, bucket as never, () => clock);
    await pipeline.handle(kafkaEvent(records(3, 0, 99)));
    bucket.requests.clear();

    await pipeline.handle(kafkaEvent(records(3, 100, 199)));
    expect(Object.fromEntries(bucket.requests)).toEqual({ GetObjectCommand: 3, PutObjectCommand: 3 + 3 * 2 });

    bucket.requests.clear();
    const again = await pipeline.handle(kafkaEvent(records(3, 0, 199)));
    expect(again.alreadyWritten).toBe(600);
    expect(Object.fromEntries(bucket.requests)).toEqual({ GetObjectCommand: 3 });

    // A claim whose invocation died after writing one of its two objects: after expiry the next invocation takes it
    // over with a shorter batch (one object) and deletes the object it does not rewrite.
    const windows = new SinkPipeline(loadSinkConfig({ BUCKET_NAME: 'bkt', FORMAT: 'jsonl', MAX_RECORDS_PER_OBJECT: '50', KEY_TEMPLATE: '{{topic}}/{{partition}}/{{start_offset}}' }), bucket as never, () => clock);
    let claimed = false;
    bucket.beforeRequest = (name, key) => {
      if (name !== 'PutObjectCommand') return;
      if (key?.startsWith('checkpoints/')) {
        if (claimed) throw new Error('killed'); // dead: it cannot release its claim
        claimed = true;
      } else if (key?.endsWith('00000000000000000200.jsonl.gz')) throw new Error('killed');
    };
    await expect(windows.handle(kafkaEvent(records(1, 200, 299)), { deadlineMs: clock + 1000 })).rejects.toThrow();
    bucket.beforeRequest = undefined;
    expect(bucket.keys('topics/orders/0/')).toContain('topics/orders/0/00000000000000000250.jsonl.gz');
    clock += 2 * 60_000;
    bucket.requests.clear();
    await windows.handle(kafkaEvent(records(1, 200, 240)));
    expect(Object.fromEntries(bucket.requests)).toEqual({ GetObjectCommand: 1, PutObjectCommand: 3, DeleteObjectsCommand: 1 });
    expect(bucket.keys('topics/orders/0/').filter((k) => k >= 'topics/orders/0/00000000000000000200')).toEqual(['topics/orders/0/00000000000000000200.jsonl.gz']);
  });

  it('a shorter retry without dead letters deletes the dead-letter object a failed attempt wrote (no dead letter twice)', async () => {
    const bucket = new MemoryBucket();
    const pipeline = new SinkPipeline(cfg, bucket as never);
    const recs = (a: number, z: number) => Array.from({ length: z - a + 1 }, (_, i) => ({ offset: a + i, value: a + i === 800 ? 'bad' : '{"a":1}' }));
    let checkpointPuts = 0;
    // The attempt 0–999 writes its objects and its dead letter, then fails to advance its checkpoint.
    bucket.beforeRequest = (name, key) => {
      if (name === 'PutObjectCommand' && key?.startsWith('checkpoints/') && ++checkpointPuts === 2) throw new Error('S3 unavailable');
    };
    await expect(pipeline.handle(kafkaEvent(recs(0, 999)))).rejects.toThrow();
    bucket.beforeRequest = undefined;
    await pipeline.handle(kafkaEvent(recs(0, 499)));
    await pipeline.handle(kafkaEvent(recs(500, 999)));
    expect(bucket.deadLetters().map((d) => d.offset)).toEqual(['800']);
  });
});
