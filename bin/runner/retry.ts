/**
 * Handing a batch to the function with the event source mapping's failure semantics: a failed batch is retried
 * (the same batch, or with bisect the first half from the same start offset) with exponential backoff, never
 * skipped; each part that succeeds is committed before the next starts. Records of one batch stay in offset order.
 * A failure that is not the batch's own (`waits`: another invocation holds the claim on one of its partitions, see
 * lambdas/shared/progress.ts) is retried with the same backoff, but as the same batch (no bisect) and without
 * counting toward `maxAttempts`: the other invocation's claim ends when it completes, or at the latest when it expires.
 */
import { setTimeout as wait } from 'node:timers/promises';
import type { RunnerRecord } from './event.ts';

export interface RetryRules {
  readonly bisectOnError: boolean;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  /** Stop retrying and give up the process (not the records: they stay uncommitted). @default Infinity */
  readonly maxAttempts?: number;
}

export interface DeliveryHooks {
  invoke(records: readonly RunnerRecord[]): Promise<void>;
  commit(records: readonly RunnerRecord[]): Promise<void>;
  onRetry?(attempt: number, records: readonly RunnerRecord[], error: unknown, delayMs: number): void;
  sleep?(ms: number): Promise<void>;
  /** Checked between attempts: a stopping runner abandons the rest of the batch, uncommitted. */
  stopping?(): boolean;
  /** Ends a wait between attempts early (the default sleep's): a signal to stop need not wait out a backoff. */
  signal?: AbortSignal;
  /** True for an error that means "wait for another invocation", not "this batch failed" (ClaimConflictError). */
  waits?(error: unknown): boolean;
}

export class GiveUpError extends Error {}

export async function deliver(batch: readonly RunnerRecord[], rules: RetryRules, hooks: DeliveryHooks): Promise<{ attempts: number; delivered: number }> {
  const sleep = hooks.sleep ?? ((ms: number) => wait(ms, undefined, { signal: hooks.signal }).catch(() => {}));
  let rest = batch;
  let attempts = 0;
  let delivered = 0;
  // Failed attempts in a row: maxAttempts bounds these, not the parts that succeeded in between.
  let failedInRow = 0;
  while (rest.length > 0) {
    let part = rest;
    let failures = 0; // failures of this part: its backoff
    let waits = 0; // waits for another invocation's claim: their own backoff
    for (;;) {
      if (hooks.stopping?.()) return { attempts, delivered };
      attempts++;
      try {
        await hooks.invoke(part);
        await hooks.commit(part);
        failedInRow = 0;
        break;
      } catch (err) {
        if (hooks.waits?.(err)) {
          // Not this batch's failure: the same batch again after a backoff, no bisect, not counted toward maxAttempts.
          const delay = Math.min(rules.maxDelayMs, rules.baseDelayMs * 2 ** waits++);
          hooks.onRetry?.(attempts, part, err, delay);
          await sleep(delay);
          continue;
        }
        failedInRow++;
        if (failedInRow >= (rules.maxAttempts ?? Infinity)) throw new GiveUpError(`batch still failing after ${failedInRow} attempts`, { cause: err });
        const delay = Math.min(rules.maxDelayMs, rules.baseDelayMs * 2 ** failures++);
        hooks.onRetry?.(attempts, part, err, delay);
        await sleep(delay);
        if (rules.bisectOnError && part.length > 1) part = part.slice(0, Math.ceil(part.length / 2));
      }
    }
    delivered += part.length;
    rest = rest.slice(part.length);
  }
  return { attempts, delivered };
}
