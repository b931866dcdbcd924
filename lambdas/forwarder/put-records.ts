/**
 * PutRecords with partial-failure handling: entries the stream refused (throttled, internal failure) are re-sent
 * alone — never the ones already accepted, so no duplicates — with exponential backoff and full jitter. When
 * entries still fail after the last attempt, PutRecordsError is thrown and the event source retries the batch.
 */
import { PutRecordsCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import { SinkError } from '../shared/errors.ts';
import type { ForwarderConfig } from './config.ts';
import { chunkEntries, type KinesisEntry } from './document.ts';

export class PutRecordsError extends SinkError {}

export interface PutStats {
  calls: number;
  retriedEntries: number;
  failedCodes: Record<string, number>;
}

export type Sleep = (ms: number) => Promise<void>;
const realSleep: Sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export async function putAll(
  client: KinesisClient,
  cfg: Pick<ForwarderConfig, 'streamName' | 'putMaxAttempts' | 'putBaseDelayMs' | 'putMaxDelayMs'>,
  entries: readonly KinesisEntry[],
  sleep: Sleep = realSleep,
): Promise<PutStats> {
  const stats: PutStats = { calls: 0, retriedEntries: 0, failedCodes: {} };
  // Chunks go one after another: records of one key in later chunks must not overtake earlier ones.
  for (const chunk of chunkEntries(entries)) {
    let pending = chunk;
    for (let attempt = 1; pending.length > 0; attempt++) {
      if (attempt > 1) {
        const cap = Math.min(cfg.putMaxDelayMs, cfg.putBaseDelayMs * 2 ** (attempt - 2));
        await sleep(Math.random() * cap);
        stats.retriedEntries += pending.length;
      }
      stats.calls++;
      const out = await client.send(new PutRecordsCommand({
        StreamName: cfg.streamName,
        Records: pending.map((e) => ({ Data: e.data, PartitionKey: e.partitionKey })),
      }));
      const results = out.Records ?? [];
      if (results.length !== pending.length) {
        throw new PutRecordsError(`PutRecords answered ${results.length} results for ${pending.length} records`);
      }
      const failed: KinesisEntry[] = [];
      results.forEach((r, i) => {
        if (r.ErrorCode) {
          failed.push(pending[i]);
          stats.failedCodes[r.ErrorCode] = (stats.failedCodes[r.ErrorCode] ?? 0) + 1;
        }
      });
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
