/**
 * The compactor's merge: whatever inputs overlap, duplicate or arrive in whatever order, the output is each offset
 * once, ascending, the first input's row for a duplicated offset; and an input is opened only when the merge reaches
 * its lower bound (what bounds the compactor's memory).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Row } from '../../../lambdas/compactor/codec.ts';
import { mergeRows, type MergeInput } from '../../../lambdas/compactor/merge.ts';

const row = (offset: bigint, tag: string): Row => ({ offset, size: tag.length + 1, bytes: Buffer.from(tag) });

/** Rows in chunks of `size` (and an empty chunk first: a stream may hand out one). */
async function* chunked(rows: Row[], size: number): AsyncGenerator<Row[]> {
  yield [];
  for (let i = 0; i < rows.length; i += size) yield rows.slice(i, i + size);
}

async function drain(inputs: MergeInput[]): Promise<{ rows: Row[]; duplicates: number }> {
  const stats = { duplicates: 0 };
  const rows: Row[] = [];
  for await (const r of mergeRows(inputs, stats)) rows.push(r);
  return { rows, duplicates: stats.duplicates };
}

describe('mergeRows', () => {
  it('each offset once, ascending, from any set of sorted inputs', async () => {
    await fc.assert(fc.asyncProperty(
      fc.array(fc.uniqueArray(fc.bigInt({ min: 0n, max: 60n }), { maxLength: 20 }), { maxLength: 8 }),
      async (sets) => {
        const inputs = sets.map((offsets, i) => {
          const sorted = [...offsets].sort((a, b) => (a < b ? -1 : 1));
          return { lowerBound: sorted[0] ?? 0n, load: () => chunked(sorted.map((o) => row(o, `${i}`)), 1 + (i % 3)) };
        });
        const { rows, duplicates } = await drain(inputs);
        const all = sets.flat();
        const unique = [...new Set(all)].sort((a, b) => (a < b ? -1 : 1));
        expect(rows.map((r) => r.offset)).toEqual(unique);
        expect(duplicates).toBe(all.length - unique.length);
      },
    ), { numRuns: 500 });
  });

  it('opens an input only when the merge reaches its lower bound', async () => {
    const opened: number[] = [];
    const emitted: bigint[] = [];
    const input = (i: number, from: bigint, to: bigint): MergeInput => ({
      lowerBound: from,
      load: () => {
        opened.push(i);
        // What has been emitted when an input opens is below its lower bound.
        expect(emitted.every((o) => o < from), `input ${i} opened after ${emitted.at(-1)}`).toBe(true);
        return chunked(Array.from({ length: Number(to - from) + 1 }, (_, k) => row(from + BigInt(k), `${i}`)), 7);
      },
    });
    for await (const r of mergeRows([input(2, 200n, 299n), input(0, 0n, 99n), input(1, 100n, 199n)], { duplicates: 0 })) emitted.push(r.offset);
    expect(opened).toEqual([0, 1, 2]);
    expect(emitted.length).toBe(300);
  });

  it('lower bounds below the rows (a claim start) and overlapping inputs still merge right', async () => {
    const { rows, duplicates } = await drain([
      { lowerBound: 0n, load: () => chunked([row(5n, 'a'), row(9n, 'a')], 1) },
      { lowerBound: 0n, load: () => chunked([row(5n, 'b'), row(7n, 'b'), row(12n, 'b')], 2) },
      { lowerBound: 10n, load: () => chunked([row(11n, 'c'), row(12n, 'c')], 5) },
    ]);
    expect(rows.map((r) => `${r.offset}${r.bytes}`)).toEqual(['5a', '7b', '9a', '11c', '12b']);
    expect(duplicates).toBe(2);
  });
});
