/**
 * The runner loop: records from a source → batches with the event source mapping's rules → the same sink handler
 * that runs in Lambda → offsets committed only after the handler succeeded for a whole (part of a) batch.
 * Invocations run one at a time, each with a deadline (as a Lambda's timeout) that the sink's claims expire after.
 * An invocation that lost a partition's claim to another one (ClaimConflictError) is retried with backoff; before
 * that, claims this runner can prove dead are released (see claims.ts). After any failed invocation, this loop's own
 * claims left live (the sink's release is best effort) are released before its next invocation, when the rest of the
 * batch went to another member, or when it stops: the partition's next owner never waits for them to expire.
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import type { Context } from 'aws-lambda';
import type { BatchResult } from '../../lambdas/shared/pipeline.ts';
import { ClaimConflictError } from '../../lambdas/shared/progress.ts';
import { Batcher, type BatchRules } from './batcher.ts';
import { newIdentity, requestId, type RunnerIdentity } from './claims.ts';
import { toSinkRecords, type RunnerRecord } from './event.ts';
import { PROGRESS_CHANNEL } from './progress-channel.ts';
import { deliver, type RetryRules } from './retry.ts';

export interface RunnerSourceLike {
  records(): AsyncIterable<RunnerRecord>;
  /** The same records in chunks (what the source holds at a time): no promise per record. Used when present. */
  chunks?(): AsyncIterable<readonly RunnerRecord[]>;
  /** Commits after the records (the source may leave out those it no longer owns); returns how many it committed. */
  commit(records: readonly RunnerRecord[]): Promise<void | number>;
  describe(): { eventSource: 'aws:kafka' | 'SelfManagedKafka'; bootstrapServers: string; eventSourceArn?: string };
  /** Records not read yet, when the source knows. */
  lag?(): Promise<number | undefined>;
  /** False for a partition a rebalance took away: its records are dropped, uncommitted, for the new owner. */
  owns?(topic: string, partition: number): boolean;
  /**
   * False for a record of an earlier assignment (generation) or of a partition revoked since: it is neither written
   * nor committed (the source reads it again from the committed offset). Takes precedence over `owns`.
   */
  isCurrent?(record: RunnerRecord): boolean;
  /** The records `isCurrent` keeps, judged as the source can judge them at once (the same list when all are). */
  keepCurrent?(records: readonly RunnerRecord[]): readonly RunnerRecord[];
  close(): Promise<void>;
}

export type Handler = (event: unknown, context: Context) => Promise<BatchResult>;

const progressChannel = diagnosticsChannel.channel(PROGRESS_CHANNEL);

export interface RunnerStats {
  recordsIn: number;
  written: number;
  filtered: number;
  tombstonesIgnored: number;
  deadLettered: number;
  /** TRANSFORM_SQL: rows its statement made (a record makes none, one or several). */
  transformedRows?: number;
  /** Records below their partition's checkpoint: an earlier delivery (a lost commit, a rewind, the other consumer) wrote them. */
  alreadyWritten: number;
  /** Attempts that found a partition claimed by another live invocation and waited. */
  claimConflicts: number;
  /** Claims of dead invocations (this runner's, or a killed runner's on this machine) released. */
  claimsReleased: number;
  objects: number;
  bytes: number;
  valueBytes: number;
  batches: number;
  retries: number;
  committed: number;
  startedAt: number;
  /** Set when a record was handed over: produce-to-visible delay = now - record timestamp at commit. */
  lastDelayMs?: number;
}

export interface RunnerOptions {
  readonly source: RunnerSourceLike;
  readonly handler: Handler;
  readonly batch: BatchRules;
  readonly retry: RetryRules;
  /** Stop after this many records are committed (tests, soak); the source keeps its other records. */
  readonly stopAfter?: number;
  readonly onProgress?: (s: RunnerStats) => void;
  readonly onRetry?: (attempt: number, records: number, error: unknown, delayMs: number) => void;
  readonly signal?: AbortSignal;
  /** Names this loop's invocations (claim owners). @default a new identity */
  readonly identity?: RunnerIdentity;
  /** The totals to count into (read them when the loop fails, e.g. for a summary after giving up). */
  readonly stats?: RunnerStats;
  /** Each invocation's deadline (the sink's claims expire a minute after it). @default INVOCATION_TIMEOUT_MS */
  readonly invocationTimeoutMs?: number;
  /** After a ClaimConflictError: releases the claims this loop can prove dead (claims.ts); returns how many. */
  readonly releaseStaleClaims?: (self: RunnerIdentity) => Promise<number>;
  /** A release scan failed (the batch still waits for the claim to expire). */
  readonly onReleaseError?: (error: unknown) => void;
}

/** Lambda's longest timeout for a Kafka event source: 14 minutes. */
export const INVOCATION_TIMEOUT_MS = 14 * 60_000;

/** Totals of nothing yet, from now. */
export const emptyStats = (): RunnerStats => ({
  recordsIn: 0, written: 0, filtered: 0, tombstonesIgnored: 0, deadLettered: 0, alreadyWritten: 0, claimConflicts: 0,
  claimsReleased: 0, objects: 0, bytes: 0, valueBytes: 0, batches: 0, retries: 0, committed: 0, startedAt: Date.now(),
});

export async function runPipeline(o: RunnerOptions): Promise<RunnerStats> {
  const stats = o.stats ?? emptyStats();
  const identity = o.identity ?? newIdentity();
  const timeoutMs = o.invocationTimeoutMs ?? INVOCATION_TIMEOUT_MS;
  let invocations = 0;
  const batcher = new Batcher(o.batch);
  const source = o.source;
  const meta = source.describe();
  const stopping = () => o.signal?.aborted === true || (o.stopAfter !== undefined && stats.committed >= o.stopAfter);
  // With stopAfter, a batch closes at the records left to commit: the run commits exactly that many (when the source
  // has them), not the whole batch that reaches it. A batch is sent before the next record joins, so the open one
  // never holds more than that.
  const cap = () => (o.stopAfter === undefined ? Infinity : o.stopAfter - stats.committed);

  // The source's judges, looked up once (through afterCommit's proxy each lookup would bind a new function).
  const keepCurrent = source.keepCurrent?.bind(source);
  const isCurrent = source.isCurrent?.bind(source);
  const owns = source.owns?.bind(source);
  const owned = (records: readonly RunnerRecord[]): readonly RunnerRecord[] => {
    if (keepCurrent) return keepCurrent(records);
    if (isCurrent) return keepIf(records, isCurrent);
    return owns ? keepIf(records, (r) => owns(r.topic, r.partition)) : records;
  };
  // Set when an invocation of this loop failed, until a release scan succeeded (releaseOwnLeftovers). The scan (one
  // LIST and a GET per checkpoint) also releases the claims of dead runners on this machine.
  let leftovers = false;
  const releaseOwnLeftovers = async () => {
    if (!leftovers || !o.releaseStaleClaims) return;
    try {
      stats.claimsReleased += await o.releaseStaleClaims(identity);
      leftovers = false;
    } catch (scanError) {
      o.onReleaseError?.(scanError); // tried again before the next invocation
    }
  };
  const send = async (all: RunnerRecord[]) => {
    const batch = owned(all);
    if (batch.length === 0) return releaseOwnLeftovers();
    await deliver(batch, o.retry, {
      invoke: async (part) => {
        // A rebalance since the batch was cut: records of revoked partitions (or an earlier assignment) are not written.
        const records = owned(part);
        // Before this loop's next invocation, or when the rest of a failed batch went to another member: its own
        // claims left live (nothing of this loop is writing between two invocations).
        await releaseOwnLeftovers();
        if (records.length === 0) return;
        const deadline = Date.now() + timeoutMs;
        const context = {
          functionName: 'kafka-s3-runner', awsRequestId: requestId(identity, ++invocations),
          getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
        } as Context;
        let r: BatchResult;
        try {
          // The sink's second entry: the records decoded, not an event it would decode again (event.ts).
          r = await o.handler(toSinkRecords(records, meta), context);
        } catch (err) {
          // The sink gives back its claims when it fails, but only once and best effort (S3 may be failing just then): a
          // claim left live would make the partition's next owner wait for it to expire (15 minutes), since this
          // process is alive and no other can judge it dead.
          leftovers = true;
          if (err instanceof ClaimConflictError) {
            stats.claimConflicts++;
            // Nothing of this loop is writing now: its own leftover claims, and those of dead runners here, can go
            // before the retry waits.
            await releaseOwnLeftovers();
          }
          throw err;
        }
        stats.recordsIn += r.recordsIn;
        stats.written += r.written;
        stats.filtered += r.filtered;
        stats.tombstonesIgnored += r.tombstonesIgnored;
        stats.deadLettered += r.deadLettered;
        stats.transformedRows = (stats.transformedRows ?? 0) + r.transformedRows;
        stats.alreadyWritten += r.alreadyWritten;
        stats.objects += r.objects + r.deadLetterObjects;
        stats.bytes += r.bytes;
        for (let i = 0; i < records.length; i++) stats.valueBytes += records[i].value?.length ?? 0;
      },
      commit: async (delivered) => {
        // A partition revoked while its records were being written is not committed by this member.
        const records = owned(delivered);
        const n = records.length > 0 ? await source.commit(records) : 0;
        stats.committed += typeof n === 'number' ? n : records.length;
        stats.batches++;
        if (records.length > 0) {
          let newest = -Infinity;
          for (let i = 0; i < records.length; i++) if (records[i].timestamp > newest) newest = records[i].timestamp;
          stats.lastDelayMs = Date.now() - newest;
        }
        o.onProgress?.(stats);
        if (progressChannel.hasSubscribers) progressChannel.publish(stats);
      },
      onRetry: (attempt, records, err, delay) => {
        stats.retries++;
        o.onRetry?.(attempt, records.length, err, delay);
      },
      stopping: () => o.signal?.aborted === true,
      ...(o.signal ? { signal: o.signal } : {}),
      waits: (err) => err instanceof ClaimConflictError,
    });
  };

  const it = (source.chunks ? source.chunks() : singles(source.records()))[Symbol.asyncIterator]();
  let pending: Promise<IteratorResult<readonly RunnerRecord[]>> | undefined;
  let settled: IteratorResult<readonly RunnerRecord[]> | undefined;
  let failed: { error: unknown } | undefined;
  let ended = false;
  // One wake-up for whatever the loop waits on (the next record, the batch window, the abort signal), made per wait
  // and dropped when it fires: nothing stays attached to a promise that never settles, so no record is kept alive by
  // the wait it arrived in (a Promise.race against a never-settling abort promise retained every record).
  let wake: (() => void) | undefined;
  const onAbort = () => wake?.();
  o.signal?.addEventListener('abort', onAbort, { once: true });
  // One timer per open batch (not per record): it fires when the batch's window closes.
  let timerHandle: NodeJS.Timeout | undefined;
  let timerFired = false;
  const resetTimer = () => {
    if (timerHandle) clearTimeout(timerHandle);
    timerHandle = undefined;
    timerFired = false;
  };
  try {
    while (!stopping()) {
      if (!pending) {
        const p = it.next();
        pending = p;
        // One reaction per chunk, released when it settles.
        p.then(
          (v) => { if (pending === p) { settled = v; wake?.(); } },
          (error: unknown) => { if (pending === p) { failed = { error }; wake?.(); } },
        );
      }
      const due = batcher.msUntilDue(Date.now());
      if (due === undefined) resetTimer();
      else if (!timerHandle) timerHandle = setTimeout(() => { timerFired = true; wake?.(); }, due);
      if (!settled && !failed && !timerFired && !o.signal?.aborted) await new Promise<void>((resolve) => { wake = resolve; });
      wake = undefined;
      if (failed) throw failed.error;
      if (o.signal?.aborted) break;
      if (settled) {
        const next = settled;
        settled = undefined;
        pending = undefined;
        if (next.done) {
          ended = true;
          const rest = batcher.ready(Date.now(), true);
          if (rest) await send(rest);
          break;
        }
        // The clock is read again after each invocation (nothing else in this loop takes time).
        const chunk = next.value;
        let now = Date.now();
        for (let k = 0; k < chunk.length; k++) {
          const closed = batcher.add(chunk[k], now);
          if (closed) {
            await send(closed);
            now = Date.now();
            batcher.restartWindow(now);
          }
          // Full batches close at once; the window is looked at once the chunk (what was read together) is in:
          // with a window of 0 a batch holds what was read, as the event source's does, not one record.
          const full = batcher.full(cap());
          if (full) {
            await send(full);
            now = Date.now();
          }
          // The rest of the chunk stays uncommitted (read again next time), as an open batch does.
          if (stopping()) break;
        }
        if (!stopping()) {
          const ready = batcher.ready(Date.now(), false, cap());
          if (ready) await send(ready);
        }
        continue;
      }
      if (timerFired) {
        timerHandle = undefined;
        timerFired = false;
        const ready = batcher.ready(Date.now());
        if (ready) await send(ready);
      }
    }
    // Stopping (a signal, stopAfter, the end of the records) after a failed invocation: its claims go too.
    await releaseOwnLeftovers();
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
    // Not awaited: a generator blocked on the next message cannot return until the source closes (the caller's job),
    // and the fetch in flight then ends with an abort that is not an error here.
    resetTimer();
    pending?.catch(() => {});
    if (!ended) it.return?.(undefined)?.catch(() => {});
  }
  return stats;
}

/** The records `keep` keeps: the same list when it keeps all. */
function keepIf(records: readonly RunnerRecord[], keep: (r: RunnerRecord) => boolean): readonly RunnerRecord[] {
  for (let i = 0; i < records.length; i++) if (!keep(records[i])) return records.filter(keep);
  return records;
}

/** A source without chunks: each record a chunk of its own. */
async function* singles(records: AsyncIterable<RunnerRecord>): AsyncGenerator<readonly RunnerRecord[]> {
  for await (const r of records) yield [r];
}

/**
 * `inner` with `after` run after each commit (the CLI's lag bookkeeping). Every other member is `inner`'s own, the
 * optional hooks included (chunks, isCurrent, owns, lag), present or added later: a wrapper listing them by hand
 * once left out isCurrent and chunks, so the loop judged records by partition alone and read them one by one.
 */
export function afterCommit(inner: RunnerSourceLike, after: (records: readonly RunnerRecord[]) => Promise<void>): RunnerSourceLike {
  return new Proxy(inner, {
    get(target, prop) {
      if (prop === 'commit') {
        return async (records: readonly RunnerRecord[]) => {
          const n = await target.commit(records);
          await after(records);
          return n;
        };
      }
      const v: unknown = Reflect.get(target, prop, target);
      return typeof v === 'function' ? (v as (...args: unknown[]) => unknown).bind(target) : v;
    },
  });
}
