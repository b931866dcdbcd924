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
import { planDeadLetters, type DeadLetter } from '../shared/dead-letter.ts';
import { decodeEvent } from '../shared/decode.ts';
import { ConfigError, RecordError } from '../shared/errors.ts';
import { filterRecord } from '../shared/filter.ts';
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

/** Forwards one decoded batch. Exported for the local runner and tests; the handler adds logs and metrics. */
export async function forwardBatch(cfg: ForwarderConfig, kinesis: KinesisClient, s3: S3Client, event: unknown, sleep?: Sleep): Promise<ForwardResult> {
  const decoded = decodeEvent(event);
  const plan = forwarderPlan(cfg);
  const convertSettings = forwarderConvertSettings(cfg);
  const result: ForwardResult = {
    recordsIn: decoded.recordCount, forwarded: 0, filtered: 0, tombstonesIgnored: 0, deadLettered: 0, putCalls: 0, retriedEntries: 0, retriedCalls: 0, unexpectedRecordErrors: 0, deadLetterKeys: [],
  };
  const entries: KinesisEntry[] = [];
  const letters: DeadLetter[] = [];
  for (const batch of decoded.partitions) {
    for (const record of batch.records) {
      // A record whose own fields the event could not carry (decode.ts) is its own dead letter.
      if (record.invalid) {
        letters.push({ record, stage: 'decode', reason: record.invalid.reason });
        continue;
      }
      const outcome = filterRecord(cfg, record);
      if (outcome === 'filtered') { result.filtered++; continue; }
      if (outcome === 'tombstone-ignored') { result.tombstonesIgnored++; continue; }
      if (outcome === 'tombstone-deadletter') {
        letters.push({ record, stage: 'filter', reason: 'tombstone (null value) with TOMBSTONES=deadletter' });
        continue;
      }
      // Nothing in here does I/O: whatever it throws is about this record's content, so it fails this record only.
      try {
        entries.push(toEntry(cfg, convertRecord(convertSettings, plan, record)));
      } catch (err) {
        if (err instanceof RecordError) {
          letters.push({ record, stage: err.stage, reason: err.message });
          continue;
        }
        // An error no check foresaw: a missing check, logged and counted (RecordCheckGaps) by the handler.
        const e = err as Error;
        letters.push({ record, stage: 'encode', reason: `unexpected ${e?.name ?? 'error'}: ${String(e?.message ?? err).slice(0, 300)}` });
        result.unexpectedRecordErrors++;
      }
    }
  }
  // Dead letters first: if Kinesis then fails, the retried batch rewrites the same dead-letter keys.
  const objects = planDeadLetters({ errorPrefix: cfg.errorPrefix }, letters);
  await mapBounded(objects, 4, (o) => uploadObject(s3, { bucket: cfg.errorBucket, multipartThresholdBytes: 16 * 1024 * 1024, partSizeBytes: 8 * 1024 * 1024 }, {
    key: o.key, body: o.body, contentType: 'application/x-ndjson', metadata: { 'kafka-record-count': String(o.count) },
  }));
  const stats = await putAll(kinesis, cfg, entries, sleep);
  result.forwarded = entries.length;
  result.deadLettered = letters.length;
  result.putCalls = stats.calls;
  result.retriedEntries = stats.retriedEntries;
  result.retriedCalls = stats.retriedCalls;
  result.deadLetterKeys = objects.map((o) => o.key);
  return result;
}

export function createForwarderHandler(opts: ForwarderHandlerOptions = {}): ForwarderHandler {
  const logger = opts.logger ?? new Logger({ serviceName: FORWARDER_SERVICE_NAME });
  const metrics = opts.metrics ?? new Metrics({ namespace: MetricsNamespace, serviceName: FORWARDER_SERVICE_NAME });
  let config: ForwarderConfig;
  try {
    config = loadForwarderConfig(opts.env ?? process.env);
  } catch (err) {
    if (err instanceof ConfigError) logger.error('configuration rejected at cold start', { problems: err.problems });
    throw err;
  }
  const kinesis = opts.kinesis ?? createKinesisClient(config);
  const s3 = opts.s3 ?? new S3Client({ ...(config.s3Endpoint ? { endpoint: config.s3Endpoint, forcePathStyle: true } : {}) });

  const run = async (event: unknown): Promise<ForwardResult> => {
    const started = performance.now();
    let r: ForwardResult;
    try {
      r = await forwardBatch(config, kinesis, s3, event, opts.sleep);
    } catch (err) {
      logger.error('batch failed; the event source will retry it', { error: err as Error });
      metrics.addMetric('BatchFailures', MetricUnit.Count, 1);
      throw err;
    }
    logger.info('batch forwarded', { ...r, deadLetterKeys: undefined });
    if (r.unexpectedRecordErrors > 0) {
      logger.error('records set aside by an error no check foresaw (see their dead letters): a check is missing', { count: r.unexpectedRecordErrors, deadLetterKeys: r.deadLetterKeys });
    }
    metrics.addMetric('RecordsIn', MetricUnit.Count, r.recordsIn);
    metrics.addMetric('RecordsForwarded', MetricUnit.Count, r.forwarded);
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
