/**
 * Exactly-once under the event source's real delivery semantics (issue 9), attacked generatively: deliveries that
 * start at ANY offset up to what was committed (lost commits, rebalances, new consumer groups), with any cut,
 * failures injected at any S3 request (checkpoint reads and writes included), invocations killed without a chance
 * to release their claim (the clock then moves past the claim's expiry), and two invocations overlapping with
 * their S3 requests interleaved at every await by fast-check's scheduler. Whatever happens, once the event source
 * has delivered everything the final objects hold every offset exactly once, with its content.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { loadSinkConfig } from '../../lambdas/shared/config.ts';
import { SinkPipeline } from '../../lambdas/shared/pipeline.ts';
import { kafkaEvent, type RecordSpec } from '../support/events.ts';
import { MemoryBucket } from '../support/memory-bucket.ts';

/** An injected failure: an S3 request that errors (the invocation fails), or the invocation dies on the spot. */
class Injected extends Error {}

interface Delivery {
  /** Where the delivery starts, as a fraction of the committed position (0: from the beginning, 1: at it). */
  readonly rewind: number;
  readonly length: number;
  /** Fail the n-th S3 request of this invocation. */
  readonly failAt: number | null;
  /** The failure kills the invocation: no release of its claim, and later requests of it never happen. */
  readonly kill: boolean;
  /** The commit after a success is lost (the next delivery starts where the last commit was). */
  readonly commitLost: boolean;
  /** Run a second delivery at the same time, its S3 requests interleaved with this one's. */
  readonly overlap: { readonly rewind: number; readonly length: number } | null;
}

interface Scenario {
  readonly partitions: { readonly offsets: number[]; readonly bad: boolean[] }[];
  readonly maxRecordsPerObject: number;
  readonly deliveries: Delivery[];
}

const delivery: fc.Arbitrary<Delivery> = fc.record({
  rewind: fc.double({ min: 0, max: 1, noNaN: true }),
  length: fc.integer({ min: 1, max: 40 }),
  failAt: fc.option(fc.integer({ min: 0, max: 12 }), { freq: 2 }),
  kill: fc.boolean(),
  commitLost: fc.boolean(),
  overlap: fc.option(fc.record({ rewind: fc.double({ min: 0, max: 1, noNaN: true }), length: fc.integer({ min: 1, max: 40 }) }), { freq: 3 }),
});

const scenario: fc.Arbitrary<Scenario> = fc.record({
  partitions: fc.array(
    fc.integer({ min: 1, max: 50 }).chain((n) => fc.record({
      // Strictly increasing offsets with gaps (compaction, transaction markers).
      offsets: fc.array(fc.integer({ min: 1, max: 3 }), { minLength: n, maxLength: n }).map((gaps) => {
        let o = -1;
        return gaps.map((g) => (o += g));
      }),
      bad: fc.array(fc.integer({ min: 0, max: 7 }).map((x) => x === 0), { minLength: n, maxLength: n }),
    })),
    { minLength: 1, maxLength: 2 },
  ),
  maxRecordsPerObject: fc.integer({ min: 1, max: 12 }),
  deliveries: fc.array(delivery, { minLength: 1, maxLength: 25 }),
});

function specsOf(s: Scenario): RecordSpec[][] {
  return s.partitions.map((p, partition) => p.offsets.map((offset, i) => ({
    topic: 'orders', partition, offset, key: `k${offset % 3}`, timestamp: 1_767_225_600_000 + offset * 900_000,
    // Some records are dead letters (not JSON): they too must land exactly once.
    value: p.bad[i] ? `not json ${offset}` : JSON.stringify({ partition, offset }),
  })));
}

/** One partition's view of the event source: what is committed, and the next delivery's range. */
function window(all: RecordSpec[], committed: number, rewind: number, length: number): RecordSpec[] {
  const start = Math.floor(committed * rewind);
  return all.slice(start, Math.min(all.length, start + length));
}

const MINUTE = 60_000;

async function run(s: Scenario, scheduler: fc.Scheduler) {
  const bucket = new MemoryBucket();
  let clock = Date.UTC(2026, 0, 1);
  const cfg = loadSinkConfig({
    BUCKET_NAME: 'prop', FORMAT: 'jsonl', COMPRESSION: 'none', MAX_RECORDS_PER_OBJECT: String(s.maxRecordsPerObject),
    UPLOAD_CONCURRENCY: '3', FIELDS: 'partition,offset,value',
    // Prefixes from the record key and the record time: one partition's batch spreads over many objects.
    KEY_TEMPLATE: '{{topic}}/key={{key}}/hour={{timestamp:yyyy-MM-dd-HH}}/{{topic}}+{{partition}}+{{start_offset}}',
  });
  const all = specsOf(s);
  const committed = all.map(() => 0);
  let interleave = false;
  /** Per invocation: its request count, and whether it is dead. */
  const invocations = new Map<string, { requests: number; failAt: number | null; kill: boolean; dead: boolean }>();
  let current = '';
  bucket.beforeRequest = async () => {
    const id = current;
    if (interleave) await scheduler.schedule(Promise.resolve(), `request of ${id}`);
    const inv = invocations.get(id);
    if (!inv) return;
    if (inv.dead) throw new Injected('killed');
    if (inv.failAt !== null && inv.requests++ === inv.failAt) {
      if (inv.kill) inv.dead = true;
      throw new Injected('S3 request failed');
    }
  };
  // Each invocation runs on its own pipeline view (same config, same bucket), tagged so requests know their owner.
  const invoke = async (id: string, records: RecordSpec[], failAt: number | null, kill: boolean) => {
    invocations.set(id, { requests: 0, failAt, kill, dead: false });
    const tagged = { send: (c: never) => { current = id; return bucket.send(c); } };
    const pipeline = new SinkPipeline(cfg, tagged as never, () => clock);
    return pipeline.handle(kafkaEvent(records), { owner: id, deadlineMs: clock + 5 * MINUTE });
  };
  const commit = (records: RecordSpec[]) => {
    for (const r of records) {
      const p = r.partition ?? 0;
      committed[p] = Math.max(committed[p], all[p].findIndex((x) => x.offset === r.offset) + 1);
    }
  };

  let n = 0;
  for (const d of s.deliveries) {
    const batch = all.flatMap((recs, p) => window(recs, committed[p], d.rewind, d.length));
    if (batch.length === 0) continue;
    if (d.overlap) {
      const other = all.flatMap((recs, p) => window(recs, committed[p], d.overlap!.rewind, d.overlap!.length));
      interleave = true;
      const outcomes = [invoke(`a${n}`, batch, d.failAt, d.kill), invoke(`b${n}`, other, null, false)]
        .map((p) => p.then(() => true, () => false));
      const [okA, okB] = await scheduler.waitFor(Promise.all(outcomes));
      interleave = false;
      if (okA && !d.commitLost) commit(batch);
      if (okB) commit(other);
    } else {
      const ok = await invoke(`a${n}`, batch, d.failAt, d.kill).then(() => true, () => false);
      if (ok && !d.commitLost) commit(batch);
    }
    n++;
    clock += MINUTE;
    // A killed invocation's claim holds its partition until it expires; the event source keeps retrying meanwhile.
    if (d.kill && d.failAt !== null) clock += 7 * MINUTE;
  }
  // Drain: the event source goes on from the committed offsets until everything is committed.
  for (let guard = 0; committed.some((c, p) => c < all[p].length); guard++) {
    expect(guard).toBeLessThan(200);
    const batch = all.flatMap((recs, p) => recs.slice(committed[p], committed[p] + 25));
    const ok = await invoke(`drain${guard}`, batch, null, false).then(() => true, () => false);
    if (ok) commit(batch);
    clock += 7 * MINUTE;
  }
  return { bucket, all };
}

/** Every record in the final objects, by partition:offset, with the number of times it appears. */
function tally(bucket: MemoryBucket): Map<string, number> {
  const seen = new Map<string, number>();
  const add = (id: string) => seen.set(id, (seen.get(id) ?? 0) + 1);
  for (const key of bucket.keys('topics/')) {
    for (const line of bucket.objects.get(key)!.toString().trimEnd().split('\n')) {
      const r = JSON.parse(line) as { partition: number; offset: number; value: { offset: number } };
      expect(r.value.offset).toBe(r.offset);
      expect(key).toContain(`+${r.partition}+`);
      add(`${r.partition}:${r.offset}`);
    }
  }
  for (const d of bucket.deadLetters()) {
    expect(Buffer.from(d.value as string, 'base64').toString()).toBe(`not json ${d.offset}`);
    add(`${d.partition}:${d.offset}`);
  }
  return seen;
}

describe('exactly-once under the event source\'s delivery semantics (property)', () => {
  it('every offset lands exactly once, whatever starts, cuts, failures, kills and overlaps the event source produces', async () => {
    await fc.assert(
      fc.asyncProperty(scenario, fc.scheduler(), async (s, scheduler) => {
        // Act
        const { bucket, all } = await run(s, scheduler);

        // Assess
        const seen = tally(bucket);
        const expected = all.flatMap((recs) => recs.map((r) => `${r.partition}:${r.offset}`)).sort();
        expect([...seen.keys()].sort()).toEqual(expected);
        expect([...seen.entries()].filter(([, count]) => count !== 1)).toEqual([]);
      }),
      { numRuns: Number(process.env.IDEMPOTENCY_RUNS ?? 150) },
    );
  });

  it('keys sort in offset order within a prefix, and an object never holds more than MAX_RECORDS_PER_OBJECT records', async () => {
    await fc.assert(
      fc.asyncProperty(scenario, fc.scheduler(), async (s, scheduler) => {
        const { bucket } = await run(s, scheduler);
        const byPrefix = new Map<string, bigint[]>();
        for (const key of bucket.keys('topics/')) {
          const lines = bucket.objects.get(key)!.toString().trimEnd().split('\n');
          expect(lines.length).toBeLessThanOrEqual(s.maxRecordsPerObject);
          const m = /^(.*\+)(\d{20})\.jsonl$/.exec(key)!;
          const first = BigInt((JSON.parse(lines[0]) as { offset: number }).offset);
          expect(BigInt(m[2]) <= first).toBe(true); // the claim's or the window's start: at or before its first record
          (byPrefix.get(m[1]) ?? byPrefix.set(m[1], []).get(m[1])!).push(first);
        }
        for (const starts of byPrefix.values()) {
          const lexical = [...starts].map((o) => o.toString().padStart(20, '0')).sort().map(BigInt);
          expect(lexical).toEqual([...starts].sort((a, b) => (a < b ? -1 : 1)));
        }
      }),
      { numRuns: 40 },
    );
  });
});
