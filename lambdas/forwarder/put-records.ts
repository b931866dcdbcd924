/**
 * PutRecords with both kinds of failure handled by one loop, up to PUT_MAX_ATTEMPTS attempts per chunk, with
 * exponential backoff and full jitter (retry.ts):
 *  - entries the stream refused in an answer (throttled, internal failure) are re-sent alone — never the ones
 *    already accepted, so no duplicates;
 *  - a call that failed as a whole with a retryable error (throttling, KMS throttling, 5xx, timeout, reset) is
 *    sent again whole; if Kinesis had in fact written it before the answer was lost, those records are in the
 *    stream twice (at least once);
 *  - a call that failed with any other error (stream not found, access denied, validation) fails at once.
 * When attempts run out or an error is not retryable, PutRecordsError is thrown and the event source retries the
 * batch.
 */
import { PutRecordsCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import { SinkError } from '../shared/errors.ts';
import type { ForwarderConfig } from './config.ts';
import { chunkEntries, type KinesisEntry } from './document.ts';
import { backoffDelay, isRetryable } from './retry.ts';

export class PutRecordsError extends SinkError {}

export interface PutStats {
  calls: number;
  /** Entries sent again, after a refusal or a failed call. */
  retriedEntries: number;
  /** Calls that failed as a whole and were sent again. */
  retriedCalls: number;
  /** Error codes of refused entries, with counts. */
  failedCodes: Record<string, number>;
  /** Error names of calls that failed as a whole, with counts (retried or not). */
  callErrors: Record<string, number>;
}

export type Sleep = (ms: number) => Promise<void>;
const realSleep: Sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const nameOf = (err: unknown): string => (err instanceof Error ? err.name : typeof err);
const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));

export async function putAll(
  client: KinesisClient,
  cfg: Pick<ForwarderConfig, 'streamName' | 'putMaxAttempts' | 'putBaseDelayMs' | 'putMaxDelayMs'>,
  entries: readonly KinesisEntry[],
  sleep: Sleep = realSleep,
  /**
   * Called after each answer with the entries the stream accepted in it (each has a sequence number: it is in the
   * stream for sure), also when the chunk then fails: the forwarder's checkpoint advances past them (app.ts).
   */
  onAccepted?: (accepted: readonly KinesisEntry[]) => void,
): Promise<PutStats> {
  const stats: PutStats = { calls: 0, retriedEntries: 0, retriedCalls: 0, failedCodes: {}, callErrors: {} };
  // Chunks go one after another: records of one key in later chunks must not overtake earlier ones.
  for (const chunk of chunkEntries(entries)) {
    let pending = chunk;
    for (let attempt = 1; pending.length > 0; attempt++) {
      if (attempt > 1) {
        await sleep(backoffDelay(attempt, cfg.putBaseDelayMs, cfg.putMaxDelayMs));
        stats.retriedEntries += pending.length;
      }
      stats.calls++;
      let out;
      try {
        out = await client.send(new PutRecordsCommand({
          StreamName: cfg.streamName,
          Records: pending.map((e) => ({ Data: e.data, PartitionKey: e.partitionKey })),
        }));
      } catch (err) {
        const name = nameOf(err);
        stats.callErrors[name] = (stats.callErrors[name] ?? 0) + 1;
        if (!isRetryable(err)) {
          throw new PutRecordsError(`PutRecords to stream ${cfg.streamName} failed with ${name}, which is not retried (${messageOf(err)}); the batch fails`, { cause: err });
        }
        if (attempt >= cfg.putMaxAttempts) {
          throw new PutRecordsError(
            `PutRecords to stream ${cfg.streamName} failed ${attempt} times, last with ${name} (${messageOf(err)}); the batch fails so the event source retries it`,
            { cause: err },
          );
        }
        stats.retriedCalls++;
        continue;
      }
      const results = out.Records ?? [];
      if (results.length !== pending.length) {
        throw new PutRecordsError(`PutRecords answered ${results.length} results for ${pending.length} records`);
      }
      const failed: KinesisEntry[] = [];
      const accepted: KinesisEntry[] = [];
      results.forEach((r, i) => {
        if (r.ErrorCode) {
          failed.push(pending[i]);
          stats.failedCodes[r.ErrorCode] = (stats.failedCodes[r.ErrorCode] ?? 0) + 1;
        } else {
          accepted.push(pending[i]);
        }
      });
      if (accepted.length > 0) onAccepted?.(accepted);
      if (failed.length > 0 && attempt >= cfg.putMaxAttempts) {
        const first = results.find((r) => r.ErrorCode);
        throw new PutRecordsError(
          `${failed.length} of ${chunk.length} records still refused by stream ${cfg.streamName} after ${attempt} attempts ` +
          `(${first?.ErrorCode}: ${first?.ErrorMessage}); the batch fails so the event source retries it`,
        );
      }
      pending = failed;
    }
  }
  return stats;
}
