/**
 * The Kafka source's position and ownership logic (bin/runner/kafka-source.ts `Assignment`) against a model, with
 * generated sequences of group events: assignments (a rebalance: new generation, any partitions), the generation's
 * start at the committed offsets, deliveries by the current stream (in order, or replayed from earlier offsets),
 * deliveries after revoke (an older generation's stream still handing out records of any partition, at any offset),
 * the runner writing its open batch (only records still current) and committing (only records it wrote that are
 * still current), as runner.ts does. Whatever the order:
 * - no record is handed out unless its partition is owned in the current generation;
 * - handed-out offsets per partition and generation start at the committed offset and increase without gaps;
 * - every offset below a partition's committed offset was written (nothing is committed past what was written);
 * - positions exist only for owned partitions of a started generation.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Assignment } from '../../../bin/runner/kafka-source.ts';

const PARTITIONS = ['t\u00000', 't\u00001', 't\u00002', 't\u00003'];
const LOG_END = 40n;

type Op =
  | { t: 'assign'; parts: number[] }
  | { t: 'start' }
  | { t: 'deliver'; part: number; replay: number }
  | { t: 'stale'; part: number; offset: number; genBack: number }
  | { t: 'write' }
  | { t: 'commit' };

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 2, arbitrary: fc.record({ t: fc.constant('assign' as const), parts: fc.subarray([0, 1, 2, 3]) }) },
  { weight: 2, arbitrary: fc.constant({ t: 'start' as const }) },
  { weight: 10, arbitrary: fc.record({ t: fc.constant('deliver' as const), part: fc.nat(3), replay: fc.oneof({ weight: 5, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.nat(5) }) }) },
  { weight: 4, arbitrary: fc.record({ t: fc.constant('stale' as const), part: fc.nat(3), offset: fc.nat(45), genBack: fc.integer({ min: 1, max: 3 }) }) },
  { weight: 3, arbitrary: fc.constant({ t: 'write' as const }) },
  { weight: 3, arbitrary: fc.constant({ t: 'commit' as const }) },
);

interface Rec { tp: string; offset: bigint; gen: number }

function run(ops: Op[]): void {
  const a = new Assignment();
  const committed = new Map<string, bigint>(PARTITIONS.map((tp) => [tp, 0n]));
  const written = new Map<string, Set<bigint>>(PARTITIONS.map((tp) => [tp, new Set()]));
  // The stream of each generation: its own read position per partition (where the client fetches next).
  const streams = new Map<number, Map<string, bigint>>();
  const handed = new Map<string, bigint>(); // `${gen}/${tp}` → next offset expected in that generation
  const owned = new Map<number, Set<string>>();
  let batch: Rec[] = [];
  let wrote: Rec[] = [];
  const hand = (gen: number, tp: string, offset: bigint) => {
    if (offset >= LOG_END) return;
    if (!a.accept(gen, tp, offset)) return;
    // Handed out: owned in the current generation, in order from the committed offset, no gap.
    expect(gen).toBe(a.generation);
    expect(owned.get(gen)!.has(tp)).toBe(true);
    const key = `${gen}/${tp}`;
    expect(offset).toBe(handed.get(key));
    handed.set(key, offset + 1n);
    batch.push({ tp, offset, gen });
  };
  for (const o of ops) {
    if (o.t === 'assign') {
      const parts = o.parts.map((i) => PARTITIONS[i]);
      const gen = a.assign(parts);
      owned.set(gen, new Set(parts));
    } else if (o.t === 'start') {
      const gen = a.generation;
      if (a.isStarted || !owned.has(gen)) continue;
      const start = new Map([...owned.get(gen)!].map((tp) => [tp, committed.get(tp)!]));
      expect(a.start(gen, start)).toBe(true);
      streams.set(gen, new Map(start));
      for (const [tp, at] of start) handed.set(`${gen}/${tp}`, at);
    } else if (o.t === 'deliver') {
      const gen = a.generation;
      const s = streams.get(gen);
      const tp = PARTITIONS[o.part];
      if (!s?.has(tp)) continue;
      // The client may hand a range again (a fetch retried): from up to `replay` records back.
      let at = s.get(tp)! - BigInt(o.replay);
      if (at < 0n) at = 0n;
      hand(gen, tp, at);
      if (at === s.get(tp)!) s.set(tp, at + 1n);
    } else if (o.t === 'stale') {
      // A record of an older generation's stream (delivered after its partition was revoked), any offset.
      const gen = a.generation - o.genBack;
      if (gen < 0) continue;
      hand(gen, PARTITIONS[o.part], BigInt(o.offset));
    } else if (o.t === 'write') {
      // runner.ts: the handler gets only records still current; those are durably written.
      const current = batch.filter((r) => a.current(r.gen, r.tp));
      for (const r of current) written.get(r.tp)!.add(r.offset);
      wrote.push(...current);
      batch = [];
    } else {
      // runner.ts + KafkaSource.commit: only written records still current, per partition the offset after the last.
      const last = new Map<string, bigint>();
      for (const r of wrote) if (a.current(r.gen, r.tp) && (last.get(r.tp) ?? -1n) < r.offset) last.set(r.tp, r.offset);
      for (const [tp, off] of last) committed.set(tp, off + 1n);
      wrote = [];
    }
    // Invariants after every step.
    for (const tp of PARTITIONS) {
      for (let x = 0n; x < committed.get(tp)!; x++) expect(written.get(tp)!.has(x), `${tp} offset ${x} committed but not written`).toBe(true);
      if (a.position(tp) !== undefined) {
        expect(a.isStarted).toBe(true);
        expect(owned.get(a.generation)!.has(tp)).toBe(true);
      }
    }
  }
}

describe('Assignment: positions and ownership under rebalances', () => {
  it('hands out only owned, in-order records from the committed offset, and never commits past what was written', () => {
    fc.assert(fc.property(fc.array(op, { minLength: 1, maxLength: 200 }), (ops) => run(ops)), { numRuns: 600 });
  });

  it('the issue: records delivered after a revoke do not move the position, and the rewind applies on return', () => {
    const a = new Assignment();
    const tp = PARTITIONS[3];
    const g1 = a.assign([tp]);
    a.start(g1, new Map([[tp, 0n]]));
    for (let i = 0n; i < 10n; i++) expect(a.accept(g1, tp, i)).toBe(true);
    const g2 = a.assign([]); // revoked; committed stays at 10
    a.start(g2, new Map());
    // The old stream keeps delivering 10–49 after the revoke: none handed out, nothing moves.
    for (let i = 10n; i < 50n; i++) expect(a.accept(g1, tp, i)).toBe(false);
    expect(a.position(tp)).toBeUndefined();
    const g3 = a.assign([tp]); // back, committed offset 10
    a.start(g3, new Map([[tp, 10n]]));
    expect(a.position(tp)).toBe(10n);
    expect(a.accept(g3, tp, 10n)).toBe(true);
    expect(a.current(g1, tp)).toBe(false); // the first generation's records are not committed any more
    expect(a.current(g3, tp)).toBe(true);
  });
});
