/**
 * The runner loop with a source that tells which records are still current (bin/runner/runner.ts `isCurrent`): a
 * record of an earlier group generation, or of a partition revoked since, is neither handed to the function nor
 * committed — also when the rebalance happens while its batch is being written (then it is written, but not
 * committed: the commit covers only records written in the generation that still owns the partition).
 */
import { describe, expect, it } from 'vitest';
import type { RunnerRecord } from '../../../bin/runner/event.ts';
import { afterCommit, runPipeline, type RunnerSourceLike } from '../../../bin/runner/runner.ts';

const rec = (partition: number, offset: number): RunnerRecord => ({
  topic: 't', partition, offset: BigInt(offset), timestamp: 0, timestampType: 'CREATE_TIME', key: null, value: Buffer.from(`v${offset}`), headers: [],
});

/** Every `offset` in an event, whatever its shape (the Lambda-shaped event or the runner's own). */
function offsets(x: unknown, out: number[] = []): number[] {
  if (Array.isArray(x)) for (const y of x) offsets(y, out);
  else if (x && typeof x === 'object') {
    for (const [k, v] of Object.entries(x)) {
      if (k === 'offset' && (typeof v === 'number' || typeof v === 'bigint')) out.push(Number(v));
      else offsets(v, out);
    }
  }
  return out;
}

const result = (n: number) => ({
  recordsIn: n, written: n, filtered: 0, tombstonesIgnored: 0, tombstonesWritten: 0, deadLettered: 0, objects: 1, bytes: 0,
  multipartObjects: 0, deadLetterObjects: 0, unexpectedRecordErrors: 0, encodeFallbacks: 0, alreadyWritten: 0, transformedRows: 0,
});

describe('runner loop: records of an earlier generation', () => {
  it('are neither written nor committed; a rebalance during the write keeps them out of the commit', async () => {
    // Prepare: partition 0's offsets 0–4 are from an earlier generation; 5–9 current. Partition 1 (100–104) is revoked while
    // its batch is being written.
    const all = [...Array.from({ length: 10 }, (_, i) => rec(0, i)), ...Array.from({ length: 5 }, (_, i) => rec(1, 100 + i))];
    const stale = new Set(all.slice(0, 5));
    let revoked = false;
    const committed: RunnerRecord[] = [];
    const seen: number[][] = [];
    const source: RunnerSourceLike = {
      async *records() {
        yield* all;
      },
      isCurrent: (r) => !stale.has(r) && !(revoked && r.partition === 1),
      commit: async (rs) => {
        committed.push(...rs);
      },
      describe: () => ({ eventSource: 'SelfManagedKafka', bootstrapServers: 'fake:9092' }),
      close: async () => {},
    };

    // Act
    const stats = await runPipeline({
      source,
      handler: async (event) => {
        const o = offsets(event);
        seen.push(o);
        revoked = true; // the group moves partition 1 away while this batch is written
        return result(o.length) as never;
      },
      batch: { batchSize: 100, windowMs: 60_000 },
      retry: { bisectOnError: false, baseDelayMs: 1, maxDelayMs: 1 },
    });

    // Assess
    expect(seen).toHaveLength(1);
    expect(seen[0].sort((a, b) => a - b)).toEqual([5, 6, 7, 8, 9, 100, 101, 102, 103, 104]); // partition 0: 5–9; partition 1: 100–104
    expect(committed.map((r) => `${r.partition}/${r.offset}`)).toEqual(['0/5', '0/6', '0/7', '0/8', '0/9']);
    expect(stats.committed).toBe(5);
  });
});

describe('afterCommit: the CLI wrapper of a source', () => {
  it('forwards every member of the source, optional hooks included, and runs its hook after each commit', async () => {
    // Prepare: a source with every hook of RunnerSourceLike, as a class (methods on the prototype, as KafkaSource).
    const calls: string[] = [];
    class Full implements RunnerSourceLike {
      seen = 0;
      async *records() { calls.push('records'); yield rec(0, 0); }
      async *chunks() { calls.push('chunks'); yield [rec(0, 0)]; }
      async commit(records: readonly RunnerRecord[]) { calls.push(`commit ${records.length}`); this.seen++; return 7; }
      describe() { calls.push('describe'); return { eventSource: 'SelfManagedKafka' as const, bootstrapServers: 'x' }; }
      async lag() { calls.push('lag'); return 3; }
      owns() { calls.push('owns'); return true; }
      isCurrent() { calls.push('isCurrent'); return false; }
      async close() { calls.push('close'); }
    }
    const inner = new Full();
    const wrapped = afterCommit(inner, async (records) => void calls.push(`after ${records.length}`));

    // Act
    for await (const _ of wrapped.chunks!()) { /* drain */ }
    const n = await wrapped.commit([rec(0, 0), rec(0, 1)]);
    wrapped.describe();
    await wrapped.lag!();
    wrapped.owns!('t', 0);
    const current = wrapped.isCurrent!(rec(0, 0));
    await wrapped.close();

    // Assess: each call reached the source (its `this` intact), the commit's count came back, the hook ran after it.
    expect(calls).toEqual(['chunks', 'commit 2', 'after 2', 'describe', 'lag', 'owns', 'isCurrent', 'close']);
    expect(n).toBe(7);
    expect(current).toBe(false);
    expect(inner.seen).toBe(1);
    expect('chunks' in wrapped && typeof wrapped.chunks).toBe('function');
    // A source without a hook does not gain one.
    const bare = afterCommit({ records: inner.records.bind(inner), commit: async () => {}, describe: () => inner.describe(), close: async () => {} }, async () => {});
    expect([bare.chunks, bare.isCurrent, bare.owns]).toEqual([undefined, undefined, undefined]);
  });
});
