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

/** The index of the open input whose next row has the smallest offset (-1 when none is open). */
function smallest<R extends HasOffset>(open: readonly Open<R>[]): number {
  let min = -1;
  for (let i = 0; i < open.length; i++) if (min < 0 || open[i].rows[open[i].at].offset < open[min].rows[open[min].at].offset) min = i;
  return min;
}

/**
 * The merge, a run of rows at a time: the rows that follow from the inputs in hand, up to where an input not opened
 * yet could hold a smaller offset, or an open input needs its next chunk. Rows are chosen without an await each.
 */
export async function* mergeChunks<R extends HasOffset = Row>(inputs: readonly MergeInput<R>[], stats: MergeStats): AsyncGenerator<R[]> {
  const pending = [...inputs].sort((a, b) => (a.lowerBound < b.lowerBound ? -1 : a.lowerBound > b.lowerBound ? 1 : 0));
  const open: Open<R>[] = [];
  let next = 0;
  let last: bigint | undefined;
  for (;;) {
    // Inputs that could hold a smaller offset than every open input's next row are opened first.
    let min = smallest(open);
    while (next < pending.length && (min < 0 || pending[next].lowerBound <= open[min].rows[open[min].at].offset)) {
      const o: Open<R> = { chunks: pending[next++].load()[Symbol.asyncIterator](), rows: [], at: 0 };
      if (await fill(o)) open.push(o);
      min = smallest(open);
    }
    if (min < 0) return;
    const bound = next < pending.length ? pending[next].lowerBound : undefined;
    const out: R[] = [];
    for (;;) {
      const input = open[min];
      const row = input.rows[input.at];
      if (bound !== undefined && bound <= row.offset) break;
      input.at++;
      if (last !== undefined && row.offset <= last) stats.duplicates++;
      else {
        last = row.offset;
        out.push(row);
      }
      if (input.at === input.rows.length) break;
      min = smallest(open);
    }
    if (out.length > 0) yield out;
    for (let i = open.length - 1; i >= 0; i--) if (open[i].at >= open[i].rows.length && !(await fill(open[i]))) open.splice(i, 1);
  }
}

/** The merge a row at a time (the compactor's writer takes rows one by one). */
export async function* mergeRows<R extends HasOffset = Row>(inputs: readonly MergeInput<R>[], stats: MergeStats): AsyncGenerator<R> {
  for await (const rows of mergeChunks(inputs, stats)) yield* rows;
}
