/**
 * The forwarder function of the S3 Tables stack: each Kafka batch → Kinesis records (one JSON document per Kafka
 * record), bad records → dead letters in the error bucket. Configuration is parsed once at cold start.
 */
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { S3Client } from '@aws-sdk/client-s3';
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { MetricsNamespace } from '../shared/constants.ts';
import { convertRecord } from '../shared/convert.ts';
import { deadLetterKey, planDeadLetters, type DeadLetter } from '../shared/dead-letter.ts';
import { decodeEvent } from '../shared/decode.ts';
import { ConfigError, RecordError } from '../shared/errors.ts';
import { filterRecord } from '../shared/filter.ts';
import { addTopicDimension, serviceNameOf } from '../shared/metrics-dimensions.ts';
import { ClaimConflictError, completeClaim, openClaim, ProgressStore, releaseClaim, takeClaim, type PartitionClaim } from '../shared/progress.ts';
import { mapBounded, uploadObject } from '../shared/upload.ts';
import { loadForwarderConfig, type ForwarderConfig } from './config.ts';
import { toEntry, type KinesisEntry } from './document.ts';
import { createKinesisClient } from './kinesis-client.ts';
import { forwarderConvertSettings, forwarderPlan } from './plan.ts';
import { putAll, type Sleep } from './put-records.ts';

export const FORWARDER_SERVICE_NAME = 'kafka-s3-forwarder';

export interface ForwardResult {
  recordsIn: number;
  forwarded: number;
  filtered: number;
  tombstonesIgnored: number;
  deadLettered: number;
  putCalls: number;
  retriedEntries: number;
  /** PutRecords calls that failed as a whole (throttled, timed out, reset, 5xx) and were sent again. */
  retriedCalls: number;
  /** Records set aside by an error no check foresaw (a missing check: logged and counted as RecordCheckGaps). */
  unexpectedRecordErrors: number;
  deadLetterKeys: string[];
  /** Records below their partition's checkpoint: an earlier delivery already sent them. */
  alreadySent: number;
}

export interface ForwarderHandlerOptions {
  readonly env?: Record<string, string | undefined>;
  readonly kinesis?: KinesisClient;
  readonly s3?: S3Client;
  readonly logger?: Logger;
  readonly metrics?: Metrics;
  /** Backoff sleep (tests pass a fast one). */
  readonly sleep?: Sleep;
}

export type ForwarderHandler = ((event: unknown, context: Context) => Promise<ForwardResult>) & { readonly config: ForwarderConfig };

/**
 * Forwards one decoded batch. Exported for the local runner and tests; the handler adds logs and metrics.
 * Per partition the same checkpoints and claims as the sink (lambdas/shared/progress.ts), in ERROR_BUCKET under
 * STATE_PREFIX: records below the checkpoint were sent by an earlier delivery and are dropped; a live claim of
 * another invocation fails this one (ClaimConflictError); when PutRecords fails part-way, the checkpoint is advanced
 * past what the stream already accepted (and the dead-letter object trimmed to match), so the retry does not send
 * it again. What remains: an invocation killed before it advanced its checkpoint leaves its claim to expire
 * (`invocation.deadlineMs`, else 15 min from `invocation.now`, plus 1 min), and the invocation that takes it over
 * sends the claim's range again — every record the killed one had put is then in the stream twice.
 */
export async function forwardBatch(
  cfg: ForwarderConfig, kinesis: KinesisClient, s3: S3Client, event: unknown, sleep?: Sleep,
  invocation: { owner?: string; deadlineMs?: number; now?: () => number } = {},
): Promise<ForwardResult> {
  const decoded = decodeEvent(event);
  const plan = forwarderPlan(cfg);
  const convertSettings = forwarderConvertSettings(cfg);
  const now = invocation.now ?? Date.now;
  const nowMs = now();
  const owner = invocation.owner ?? `pid-${process.pid}-${nowMs}-${Math.random().toString(36).slice(2, 10)}`;
  const expiresAt = (invocation.deadlineMs ?? nowMs + 15 * 60_000) + 60_000;
  const store = new ProgressStore(s3, { bucket: cfg.errorBucket, statePrefix: cfg.statePrefix });
  const result: ForwardResult = {
    recordsIn: decoded.recordCount, forwarded: 0, filtered: 0, tombstonesIgnored: 0, deadLettered: 0, putCalls: 0, retriedEntries: 0, retriedCalls: 0, unexpectedRecordErrors: 0, deadLetterKeys: [], alreadySent: 0,
  };
  const entries: KinesisEntry[] = [];
  const letters: DeadLetter[] = [];
  const batches = decoded.partitions.filter((b) => b.records.length > 0);
  const opened = await mapBounded(batches, 4, (b) => openClaim(store, b.topic, b.partition, b.records[0].offset, nowMs));
  const toSend = batches.map((batch, i) => batch.records.filter((r) => r.offset >= opened[i].start));
  // SCHEMA_REGISTRY: the schemas the records name, fetched before anything is sent (an outage fails the batch).
  const registry = cfg.registry ? (await import('../shared/registry/index.ts')).decoderFor(cfg.registry) : undefined;
  if (registry !== undefined) await registry.prefetch(toSend.flat());
  const claims: ForwarderClaim[] = [];
  for (const [i, batch] of batches.entries()) {
    const pc = opened[i];
    const records = toSend[i];
    result.alreadySent += batch.records.length - records.length;
    if (records.length === 0) continue;
    const lettersBefore = letters.length;
    for (const original of records) {
      // A record whose own fields the event could not carry (decode.ts) is its own dead letter.
      if (original.invalid) {
        letters.push({ record: original, stage: 'decode', reason: original.invalid.reason });
        continue;
      }
      // Registry-framed value and key → their JSON (dead letters keep the record as it arrived).
      let record = original;
      if (registry !== undefined) {
        try {
          record = registry.decodeRecord(original).record;
        } catch (err) {
          // Whatever decoding throws is about this record's bytes: a dead letter; one no check foresaw is counted.
          if (err instanceof RecordError) letters.push({ record: original, stage: err.stage, reason: err.message });
          else {
            const e = err as Error;
            letters.push({ record: original, stage: 'decode', reason: `unexpected ${e?.name ?? 'error'}: ${String(e?.message ?? err).slice(0, 300)}` });
            result.unexpectedRecordErrors++;
          }
          continue;
        }
      }
      const outcome = filterRecord(cfg, record);
      if (outcome === 'filtered') { result.filtered++; continue; }
      if (outcome === 'tombstone-ignored') { result.tombstonesIgnored++; continue; }
      if (outcome === 'tombstone-deadletter') {
        letters.push({ record: original, stage: 'filter', reason: 'tombstone (null value) with TOMBSTONES=deadletter' });
        continue;
      }
      // Nothing in here does I/O: whatever it throws is about this record's content, so it fails this record only.
      try {
        entries.push(toEntry(cfg, convertRecord(convertSettings, plan, record)));
      } catch (err) {
        if (err instanceof RecordError) {
          letters.push({ record: original, stage: err.stage, reason: err.message });
          continue;
        }
        // An error no check foresaw: a missing check, logged and counted (RecordCheckGaps) by the handler.
        const e = err as Error;
        letters.push({ record: original, stage: 'encode', reason: `unexpected ${e?.name ?? 'error'}: ${String(e?.message ?? err).slice(0, 300)}` });
        result.unexpectedRecordErrors++;
      }
    }
    // The claim lists its dead-letter object only when it writes one: a key it lists but does not write would
    // shelter a stale object of a failed attempt from the cleanup of a taken-over claim (progress.ts, step 4).
    const deadLetterKeyOf = deadLetterKey(cfg.errorPrefix, batch.topic, batch.partition, pc.start);
    claims.push({ pc, to: records[records.length - 1].offset, keys: letters.length > lettersBefore ? [deadLetterKeyOf] : [], deadLetterKey: deadLetterKeyOf });
  }
  const starts = new Map(claims.map((c) => [partitionId(c.pc.topic, c.pc.partition), c.pc.start]));
  const writeLetters = (list: readonly DeadLetter[]) => {
    const objects = planDeadLetters({ errorPrefix: cfg.errorPrefix }, list, (t, p) => starts.get(partitionId(t, p)));
    return mapBounded(objects, 4, (o) => uploadObject(s3, { bucket: cfg.errorBucket, multipartThresholdBytes: 16 * 1024 * 1024, partSizeBytes: 8 * 1024 * 1024 }, {
      key: o.key, body: o.body, contentType: 'application/x-ndjson', metadata: { 'kafka-record-count': String(o.count) },
    })).then(() => objects);
  };
  const taken = new Set<ForwarderClaim>();
  const accepted = new Set<KinesisEntry>();
  let lettersWritten = false;
  try {
    for (const c of claims) {
      await takeClaim(store, c.pc, c.to, c.keys, owner, expiresAt, nowMs);
      taken.add(c);
    }
    // Dead letters first: if Kinesis then fails, the retry rewrites the same dead-letter key.
    const objects = await writeLetters(letters);
    lettersWritten = true;
    const stats = await putAll(kinesis, cfg, entries, sleep, (ok) => { for (const e of ok) accepted.add(e); });
    await mapBounded(claims, 4, async (c) => {
      await completeClaim(store, c.pc, c.to, c.keys, now());
      taken.delete(c);
    });
    result.forwarded = entries.length;
    result.deadLettered = letters.length;
    result.putCalls = stats.calls;
    result.retriedEntries = stats.retriedEntries;
    result.retriedCalls = stats.retriedCalls;
    result.deadLetterKeys = objects.map((o) => o.key);
    return result;
  } catch (err) {
    await settlePartialProgress(store, [...taken], entries, accepted, lettersWritten ? letters : undefined, writeLetters, owner, now);
    throw err;
  }
}

/** One partition's claim in a forwarder invocation. */
interface ForwarderClaim {
  readonly pc: PartitionClaim;
  readonly to: bigint;
  /** The keys the claim writes: its dead-letter object, when it has dead letters. */
  readonly keys: string[];
  readonly deadLetterKey: string;
}

const partitionId = (topic: string, partition: number) => `${topic}\u0000${partition}`;

/**
 * After a failure, per claim: it advances to its partition's first entry the stream did not accept (entries are
 * sent in offset order per partition; putAll reports every entry an answer accepted, also in the chunk that
 * failed), so nothing below it is sent again; its dead-letter object is trimmed to that range (rewritten, or
 * deleted when none of its dead letters is below it: the retry writes them under its own start). A claim with
 * nothing accepted, or whose dead letters were not all written, is released. Accepted entries above the first
 * unaccepted one of their partition (refusals scattered over the failing call) are sent again by the retry. Best
 * effort: a claim this cannot settle expires, and the range is sent again (the window of duplicates, README).
 */
async function settlePartialProgress(
  store: ProgressStore, claims: readonly ForwarderClaim[], entries: readonly KinesisEntry[], accepted: ReadonlySet<KinesisEntry>,
  /** The dead letters, when all were written; undefined when their upload failed or never ran. */
  letters: readonly DeadLetter[] | undefined,
  writeLetters: (l: readonly DeadLetter[]) => Promise<unknown>, owner: string, now: () => number,
): Promise<void> {
  const firstUnsent = new Map<string, bigint>();
  for (const e of entries) {
    if (accepted.has(e)) continue;
    const r = e.record.record;
    const k = partitionId(r.topic, r.partition);
    if (!firstUnsent.has(k)) firstUnsent.set(k, r.offset);
  }
  await Promise.all(claims.map(async (c) => {
    try {
      const id = partitionId(c.pc.topic, c.pc.partition);
      const next = letters ? (firstUnsent.get(id) ?? c.to + 1n) : c.pc.start;
      if (next <= c.pc.start) {
        await releaseClaim(store, c.pc, c.to, c.keys, owner, now());
        return;
      }
      const own = letters!.filter((d) => partitionId(d.record.topic, d.record.partition) === id);
      const kept = own.filter((d) => d.record.offset < next);
      if (kept.length < own.length) {
        if (kept.length > 0) await writeLetters(kept);
        else await store.deleteObjects([c.deadLetterKey]);
      }
      await completeClaim(store, c.pc, next - 1n, c.keys, now());
    } catch {
      // This claim expires on its own.
    }
  }));
}

export function createForwarderHandler(opts: ForwarderHandlerOptions = {}): ForwarderHandler {
  const service = serviceNameOf(opts.env ?? process.env, FORWARDER_SERVICE_NAME);
  const logger = opts.logger ?? new Logger({ serviceName: service });
  const metrics = opts.metrics ?? new Metrics({ namespace: MetricsNamespace, serviceName: service });
  let config: ForwarderConfig;
  try {
    config = loadForwarderConfig(opts.env ?? process.env);
  } catch (err) {
    if (err instanceof ConfigError) logger.error('configuration rejected at cold start', { problems: err.problems });
    throw err;
  }
  const kinesis = opts.kinesis ?? createKinesisClient(config);
  const s3 = opts.s3 ?? new S3Client({ ...(config.s3Endpoint ? { endpoint: config.s3Endpoint, forcePathStyle: true } : {}) });

  const run = async (event: unknown, context: Context): Promise<ForwardResult> => {
    const started = performance.now();
    addTopicDimension(metrics, event);
    let r: ForwardResult;
    try {
      const remaining = typeof context?.getRemainingTimeInMillis === 'function' ? context.getRemainingTimeInMillis() : undefined;
      r = await forwardBatch(config, kinesis, s3, event, opts.sleep, {
        owner: context?.awsRequestId ? `${context.awsRequestId}-${Date.now()}` : undefined,
        deadlineMs: remaining !== undefined && Number.isFinite(remaining) ? Date.now() + remaining : undefined,
      });
    } catch (err) {
      logger.error('batch failed; the event source will retry it', { error: err as Error });
      metrics.addMetric('BatchFailures', MetricUnit.Count, 1);
      // Another invocation holds a partition's claim (overlapping invocations): the retry converges.
      if (err instanceof ClaimConflictError) metrics.addMetric('ClaimConflicts', MetricUnit.Count, 1);
      throw err;
    }
    logger.info('batch forwarded', { ...r, deadLetterKeys: undefined });
    if (r.unexpectedRecordErrors > 0) {
      logger.error('records set aside by an error no check foresaw (see their dead letters): a check is missing', { count: r.unexpectedRecordErrors, deadLetterKeys: r.deadLetterKeys });
    }
    metrics.addMetric('RecordsIn', MetricUnit.Count, r.recordsIn);
    metrics.addMetric('RecordsForwarded', MetricUnit.Count, r.forwarded);
    metrics.addMetric('RecordsAlreadySent', MetricUnit.Count, r.alreadySent);
    metrics.addMetric('RecordsFiltered', MetricUnit.Count, r.filtered);
    metrics.addMetric('TombstonesIgnored', MetricUnit.Count, r.tombstonesIgnored);
    metrics.addMetric('RecordsDeadLettered', MetricUnit.Count, r.deadLettered);
    metrics.addMetric('PutRecordsRetriedEntries', MetricUnit.Count, r.retriedEntries);
    metrics.addMetric('PutRecordsRetriedCalls', MetricUnit.Count, r.retriedCalls);
    metrics.addMetric('RecordCheckGaps', MetricUnit.Count, r.unexpectedRecordErrors);
    metrics.addMetric('BatchDuration', MetricUnit.Milliseconds, performance.now() - started);
    return r;
  };
  const handler = middy(run).use(injectLambdaContext(logger)).use(logMetrics(metrics, { throwOnEmptyMetrics: false }));
  return Object.assign((event: unknown, context: Context) => handler(event, context), { config });
}
