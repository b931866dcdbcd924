/**
 * A pipeline of the local runner takes the checkpoints it completed itself as it knows them (no GET per partition
 * per invocation), and trusts them only through a conditional write on their ETag (lambdas/shared/progress.ts
 * `ProgressStore.known`, SinkPipeline.run). Attacked here: two such pipelines (two runners) taking turns on the same
 * partitions with generated deliveries (redeliveries with other cuts, ranges the other one advanced past), and an
 * operator deleting a range's data and checkpoint to have it written again. Every offset delivered is in exactly one
 * object, whatever each pipeline believed. (A Lambda function's pipeline reads every checkpoint: progress-cost.test.ts.)
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { loadSinkConfig } from '../../../lambdas/shared/config.ts';
import { SinkPipeline } from '../../../lambdas/shared/pipeline.ts';
import { kafkaEvent, type RecordSpec } from '../../support/events.ts';
import { MemoryBucket } from '../../support/memory-bucket.ts';

const cfg = loadSinkConfig({ BUCKET_NAME: 'bkt', FORMAT: 'jsonl', COMPRESSION: 'none', KEY_TEMPLATE: '{{topic}}/{{partition}}/{{start_offset}}' });
/** A pipeline as the local runner makes it (remembering the checkpoints it completes). */
const pipelineOn = (bucket: MemoryBucket) => {
  const p = new SinkPipeline(cfg, bucket as never);
  p.rememberCheckpoints();
  return p;
};
const records = (partitions: readonly number[], from: number, to: number): RecordSpec[] =>
  partitions.flatMap((p) => Array.from({ length: to - from + 1 }, (_, i) => ({ partition: p, offset: from + i, value: `{"p":${p},"o":${from + i}}` })));

/** Offsets written per partition, in object order (each line's envelope). */
function landed(bucket: MemoryBucket): Map<number, number[]> {
  const out = new Map<number, number[]>();
  for (const line of bucket.text().split('\n')) {
    if (line === '') continue;
    const r = JSON.parse(line) as { partition: number; offset: string };
    (out.get(r.partition) ?? out.set(r.partition, []).get(r.partition)!).push(Number(r.offset));
  }
  return out;
}

describe('checkpoints a pipeline knows from its own writes', () => {
  it('cost no GET in steady state, and a redelivery it would skip whole is checked against S3', async () => {
    const bucket = new MemoryBucket();
    const pipeline = pipelineOn(bucket);
    await pipeline.handle(kafkaEvent(records([0, 1, 2], 0, 99)));
    bucket.requests.clear();
    await pipeline.handle(kafkaEvent(records([0, 1, 2], 100, 199)));
    expect(Object.fromEntries(bucket.requests)).toEqual({ PutObjectCommand: 3 + 3 * 2 });
    bucket.requests.clear();
    const again = await pipeline.handle(kafkaEvent(records([0, 1, 2], 0, 199)));
    expect(again.alreadyWritten).toBe(600);
    expect(Object.fromEntries(bucket.requests)).toEqual({ GetObjectCommand: 3 });
  });

  it('run the batch again from S3 when another pipeline advanced a checkpoint (no offset twice)', async () => {
    const bucket = new MemoryBucket();
    const a = pipelineOn(bucket);
    const b = pipelineOn(bucket);
    await a.handle(kafkaEvent(records([0, 1], 0, 99)));
    await b.handle(kafkaEvent(records([1], 100, 199))); // a's checkpoint of partition 1 is behind now
    bucket.requests.clear();
    const r = await a.handle(kafkaEvent(records([0, 1], 100, 299)));
    expect([r.written, r.alreadyWritten]).toEqual([300, 100]);
    // The first claim failed on partition 1's ETag (partition 0's, taken, was given back), then every checkpoint was read.
    expect(bucket.requests.get('GetObjectCommand')).toBe(2);
    const offsets = landed(bucket);
    for (const p of [0, 1]) expect(offsets.get(p)).toEqual(Array.from({ length: 300 }, (_, i) => i));
  });

  it('write a range again whose data and checkpoint an operator deleted, whole or in part', async () => {
    const bucket = new MemoryBucket();
    const pipeline = pipelineOn(bucket);
    await pipeline.handle(kafkaEvent(records([0], 0, 99)));
    const wipe = () => {
      for (const k of [...bucket.objects.keys()]) {
        bucket.objects.delete(k);
        bucket.etags.delete(k);
      }
    };
    // Deleted with its data, the group's offsets reset: the same records again, all below what the pipeline knew.
    wipe();
    expect((await pipeline.handle(kafkaEvent(records([0], 0, 99)))).written).toBe(100);
    expect(landed(bucket).get(0)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    // Again, with a redelivery that reaches past what it knew: the claim's If-Match finds the checkpoint gone.
    wipe();
    expect((await pipeline.handle(kafkaEvent(records([0], 50, 149)))).written).toBe(100);
    expect(landed(bucket).get(0)).toEqual(Array.from({ length: 100 }, (_, i) => 50 + i));
  });

  it('land every delivered offset exactly once whatever two pipelines deliver in turn (generated)', async () => {
    const delivery = fc.record({ who: fc.constantFrom(0, 1), from: fc.nat(60), length: fc.integer({ min: 1, max: 40 }), partitions: fc.subarray([0, 1, 2], { minLength: 1 }) });
    await fc.assert(fc.asyncProperty(fc.array(delivery, { minLength: 1, maxLength: 14 }), async (deliveries) => {
      const bucket = new MemoryBucket();
      const pipelines = [pipelineOn(bucket), pipelineOn(bucket)];
      const delivered = new Map<number, Set<number>>();
      const first = new Map<number, number>();
      for (const d of deliveries) {
        // As the event source delivers: from a committed offset (at or before what was delivered), never past a gap.
        const specs = d.partitions.flatMap((p) => {
          const seen = delivered.get(p);
          const frontier = seen === undefined ? d.from : Math.max(...seen) + 1;
          const from = Math.min(d.from, frontier);
          if (!first.has(p)) first.set(p, from);
          const to = from + d.length - 1;
          for (let o = from; o <= to; o++) (delivered.get(p) ?? delivered.set(p, new Set()).get(p)!).add(o);
          return records([p], from, to);
        });
        await pipelines[d.who].handle(kafkaEvent(specs));
      }
      const offsets = landed(bucket);
      for (const [p, set] of delivered) {
        const got = offsets.get(p) ?? [];
        // Exactly once: no offset twice, and every offset delivered at or after the partition's first delivery is
        // there (a checkpoint starts at the first offset delivered: one below it, delivered later, is taken as
        // written before the sink's first checkpoint, by design: README, Delivery guarantees).
        expect(new Set(got).size).toBe(got.length);
        for (const o of set) if (o >= first.get(p)!) expect(got).toContain(o);
      }
    }), { numRuns: 150 });
  });
});
