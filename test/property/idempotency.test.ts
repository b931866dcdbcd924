/**
 * Idempotency by key design: the event source retries a failed batch (the same batch, or with bisect a shorter one
 * from the same start offset) after some of its objects were already written. Whatever the cut points, the final
 * set of objects must hold every offset exactly once.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createSinkHandler } from '../../lambdas/sink/app.ts';
import { kafkaEvent, type RecordSpec } from '../support/events.ts';

const context = { functionName: 'sink', awsRequestId: 'prop' } as never;

/** An in-memory bucket behind the S3 client interface; it can fail the n-th PutObject of an attempt. */
class MemoryBucket {
  readonly objects = new Map<string, Buffer>();
  failAfter = Infinity;
  puts = 0;
  async send(command: { constructor: { name: string }; input: { Key: string; Body: Buffer } }): Promise<object> {
    if (command.constructor.name !== 'PutObjectCommand') throw new Error(`unexpected ${command.constructor.name}`);
    if (this.puts++ >= this.failAfter) throw new Error('injected: S3 unavailable');
    this.objects.set(command.input.Key, Buffer.from(command.input.Body));
    return {};
  }
}

interface Scenario {
  partitions: { offsets: number[]; keys: number[] }[];
  maxRecordsPerObject: number;
  concurrency: number;
  steps: { length: number; failures: { afterPuts: number; bisect: boolean }[] }[];
}

const scenario: fc.Arbitrary<Scenario> = fc.record({
  partitions: fc.array(
    fc.integer({ min: 1, max: 60 }).chain((n) => fc.record({
      // Strictly increasing offsets with gaps (compaction, transaction markers).
      offsets: fc.array(fc.integer({ min: 1, max: 3 }), { minLength: n, maxLength: n }).map((gaps) => {
        let o = -1;
        return gaps.map((g) => (o += g));
      }),
      keys: fc.array(fc.integer({ min: 0, max: 2 }), { minLength: n, maxLength: n }),
    })),
    { minLength: 1, maxLength: 3 },
  ),
  maxRecordsPerObject: fc.integer({ min: 1, max: 12 }),
  concurrency: fc.integer({ min: 1, max: 4 }),
  steps: fc.array(fc.record({
    length: fc.integer({ min: 1, max: 40 }),
    failures: fc.array(fc.record({ afterPuts: fc.integer({ min: 0, max: 8 }), bisect: fc.boolean() }), { maxLength: 3 }),
  }), { minLength: 1, maxLength: 30 }),
});

function recordsOf(s: Scenario): RecordSpec[][] {
  return s.partitions.map((p, partition) => p.offsets.map((offset, i) => ({
    topic: 'orders', partition, offset, key: `k${p.keys[i]}`, timestamp: 1_767_225_600_000 + offset * 90_000,
    value: JSON.stringify({ partition, offset }),
  })));
}

async function run(s: Scenario): Promise<{ bucket: MemoryBucket; all: RecordSpec[][] }> {
  const bucket = new MemoryBucket();
  const env = {
    BUCKET_NAME: 'prop', FORMAT: 'jsonl', COMPRESSION: 'none', MAX_RECORDS_PER_OBJECT: String(s.maxRecordsPerObject),
    UPLOAD_CONCURRENCY: String(s.concurrency), FIELDS: 'partition,offset,value',
    // Prefixes from the record key and the record time (hourly): records of one batch spread over many objects.
    KEY_TEMPLATE: '{{topic}}/key={{key}}/hour={{timestamp:yyyy-MM-dd-HH}}/{{topic}}+{{partition}}+{{start_offset}}',
  };
  const handler = createSinkHandler({ env, s3: bucket as never });
  const all = recordsOf(s);
  const next = all.map(() => 0); // index of the next uncommitted record per partition
  let step = 0;
  while (next.some((n, p) => n < all[p].length)) {
    const plan = s.steps[step++ % s.steps.length];
    let lengths = all.map((recs, p) => Math.min(plan.length, recs.length - next[p]));
    for (const failure of [...plan.failures, null]) {
      const batch = all.flatMap((recs, p) => recs.slice(next[p], next[p] + lengths[p]));
      if (batch.length === 0) break;
      bucket.puts = 0;
      bucket.failAfter = failure ? failure.afterPuts : Infinity;
      try {
        await handler(kafkaEvent(batch), context);
      } catch {
        // The event source retries: the same batch, or with bisect on error the first half from the same start.
        if (failure?.bisect) lengths = lengths.map((l) => Math.max(1, Math.ceil(l / 2)));
        continue;
      }
      lengths.forEach((l, p) => (next[p] += l));
      break;
    }
  }
  return { bucket, all };
}

describe('idempotency under retries (property)', () => {
  it('every offset lands exactly once, whatever batches and retry cut points the event source chooses', async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async (s) => {
        // Act
        const { bucket, all } = await run(s);

        // Assess
        const seen = new Map<string, number>();
        for (const [key, body] of bucket.objects) {
          const lines = body.toString().trimEnd().split('\n');
          for (const line of lines) {
            const r = JSON.parse(line) as { partition: number; offset: number; value: { offset: number } };
            expect(r.value.offset).toBe(r.offset);
            expect(key).toContain(`+${r.partition}+`);
            const id = `${r.partition}:${r.offset}`;
            seen.set(id, (seen.get(id) ?? 0) + 1);
          }
        }
        const expected = all.flatMap((recs) => recs.map((r) => `${r.partition}:${r.offset}`)).sort();
        expect([...seen.keys()].sort()).toEqual(expected);
        expect([...seen.values()].every((n) => n === 1)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('an object never holds more than MAX_RECORDS_PER_OBJECT records, and keys sort in offset order', async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async (s) => {
        const { bucket } = await run(s);
        const byPrefix = new Map<string, bigint[]>();
        for (const [key, body] of bucket.objects) {
          const lines = body.toString().trimEnd().split('\n');
          expect(lines.length).toBeLessThanOrEqual(s.maxRecordsPerObject);
          const m = /^(.*\+)(\d{20})\.jsonl$/.exec(key)!;
          const first = BigInt((JSON.parse(lines[0]) as { offset: number }).offset);
          expect(BigInt(m[2])).toBe(first);
          (byPrefix.get(m[1]) ?? byPrefix.set(m[1], []).get(m[1])!).push(first);
        }
        for (const starts of byPrefix.values()) {
          const lexical = [...starts].map((o) => o.toString().padStart(20, '0')).sort().map(BigInt);
          expect(lexical).toEqual([...starts].sort((a, b) => (a < b ? -1 : 1)));
        }
      }),
      { numRuns: 50 },
    );
  });
});
