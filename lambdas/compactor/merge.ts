/**
 * The merge of one topic-partition's inputs (the compactor's; the replay merges its records with it too) (raw objects and an earlier generation's files) into its rows in offset
 * order, each offset once. An input is opened only when the merge reaches its lower bound (no row of it is below
 * that), and read a chunk at a time, so memory holds a chunk of each input that overlaps at one offset, not the
 * window: raw objects of successive claims cover successive offset ranges, and an earlier generation's files are cut
 * in offset order.
 */
import type { Row } from './codec.ts';

/** What is merged: anything with an offset (the compactor's rows, the replay's records). */
export interface HasOffset {
  readonly offset: bigint;
}

export interface MergeInput<R extends HasOffset = Row> {
  /** No row of the input has an offset below this. */
  readonly lowerBound: bigint;
  /** Its rows in offset order, a chunk at a time. */
  readonly load: () => AsyncIterable<R[]>;
}

export interface MergeStats {
  /** Rows dropped because an earlier input held their offset (a record written twice, or merged before). */
  duplicates: number;
}

interface Open<R> {
  readonly chunks: AsyncIterator<R[]>;
  rows: R[];
  at: number;
}

/** Moves an input to its next row; false when it has none left. */
async function fill<R>(o: Open<R>): Promise<boolean> {
  while (o.at >= o.rows.length) {
    const next = await o.chunks.next();
    if (next.done) return false;
    o.rows = next.value;
    o.at = 0;
  }
  return true;
}

export async function* mergeRows<R extends HasOffset = Row>(inputs: readonly MergeInput<R>[], stats: MergeStats): AsyncGenerator<R> {
  const pending = [...inputs].sort((a, b) => (a.lowerBound < b.lowerBound ? -1 : a.lowerBound > b.lowerBound ? 1 : 0));
  const open: Open<R>[] = [];
  let next = 0;
  let last: bigint | undefined;
  for (;;) {
    // The smallest offset at the head of an open input; inputs that could hold a smaller one are opened first.
    let min = -1;
    for (;;) {
      min = -1;
      for (let i = 0; i < open.length; i++) if (min < 0 || open[i].rows[open[i].at].offset < open[min].rows[open[min].at].offset) min = i;
      if (next >= pending.length || (min >= 0 && pending[next].lowerBound > open[min].rows[open[min].at].offset)) break;
      const o: Open<R> = { chunks: pending[next++].load()[Symbol.asyncIterator](), rows: [], at: 0 };
      if (await fill(o)) open.push(o);
    }
    if (min < 0) return;
    const input = open[min];
    const row = input.rows[input.at++];
    if (input.at === input.rows.length && !(await fill(input))) open.splice(min, 1);
    if (last !== undefined && row.offset <= last) {
      stats.duplicates++;
      continue;
    }
    last = row.offset;
    yield row;
  }
}
