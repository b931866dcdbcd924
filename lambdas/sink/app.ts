/**
 * The sink function: configuration parsed once (cold start), then each Kafka batch runs through the pipeline
 * with structured logs and EMF metrics. handler.ts only instantiates this with the process environment.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { loadSinkConfig, type SinkConfig } from '../shared/config.ts';
import { MetricsNamespace, SinkServiceName } from '../shared/constants.ts';
import { DecodedRecords, type KafkaRecord } from '../shared/decode.ts';
import { ConfigError, RegistryUnavailableError } from '../shared/errors.ts';
import { SinkPipeline, type BatchResult } from '../shared/pipeline.ts';
import { addTopicDimension, addTopicNameDimension, serviceNameOf, topicOfRecords } from '../shared/metrics-dimensions.ts';
import { ClaimConflictError } from '../shared/progress.ts';
import { createS3Client } from '../shared/upload.ts';

export const SERVICE_NAME = SinkServiceName;
export const METRICS_NAMESPACE = MetricsNamespace;

export interface SinkHandlerOptions {
  readonly env?: Record<string, string | undefined>;
  /** Injected client (tests, the local runner); by default one is built from the configuration. */
  readonly s3?: S3Client;
  readonly logger?: Logger;
  readonly metrics?: Metrics;
  /** The local runner: checkpoints this process completed are known without a GET (SinkPipeline.rememberCheckpoints). */
  readonly rememberCheckpoints?: boolean;
}

export type SinkHandler = ((event: unknown, context: Context) => Promise<BatchResult>) & {
  readonly config: SinkConfig;
  /**
   * The same invocation for records already decoded (the local runner): no event to build and decode, and the
   * same pipeline, logs and metrics as the event path. The handler itself also takes them wrapped in DecodedRecords.
   */
  readonly handleRecords: (records: readonly KafkaRecord[], context: Context) => Promise<BatchResult>;
  /** Opens what the first batch would otherwise open (the TRANSFORM_SQL engine, which checks the statement): a
   * problem then fails the cold start (ConfigError, logged) instead of every batch. */
  readonly ready: (options?: { readonly quiet?: boolean }) => Promise<void>;
  /** Closes the TRANSFORM_SQL engine (the local runner at exit). */
  readonly close: () => Promise<void>;
};

/** The invocation's identity and deadline, from the Lambda context (claims expire a minute after the deadline). */
function invocationOf(context: Partial<Context> | undefined, now: number): { owner?: string; deadlineMs?: number } {
  const remaining = typeof context?.getRemainingTimeInMillis === 'function' ? context.getRemainingTimeInMillis() : undefined;
  return {
    owner: context?.awsRequestId ? `${context.awsRequestId}-${now}` : undefined,
    deadlineMs: remaining !== undefined && Number.isFinite(remaining) ? now + remaining : undefined,
  };
}

export function createSinkHandler(opts: SinkHandlerOptions = {}): SinkHandler {
  const service = serviceNameOf(opts.env ?? process.env, SERVICE_NAME);
  const logger = opts.logger ?? new Logger({ serviceName: service });
  const metrics = opts.metrics ?? new Metrics({ namespace: METRICS_NAMESPACE, serviceName: service });
  let config: SinkConfig;
  try {
    config = loadSinkConfig(opts.env ?? process.env);
  } catch (err) {
    if (err instanceof ConfigError) logger.error('configuration rejected at cold start', { problems: err.problems });
    throw err;
  }
  if (config.timestampSource === 'wallclock' && config.keyTemplate.usesTimestamp) {
    logger.warn('TIMESTAMP_SOURCE=wallclock: a retried batch may land under a different time prefix (not retry-stable)');
  }
  const pipeline = new SinkPipeline(config, opts.s3 ?? createS3Client(config, {
    // Never the keys: the reason, the outcome, and for a failure the message (it names the secret and the field).
    onSecretRead: ({ reason, outcome, error }) => {
      if (outcome === 'failed') logger.error('S3 credentials secret not read', { reason, error });
      else if (outcome !== 'unchanged') logger.info(outcome === 'changed' ? 'S3 credentials secret rotated: its new keys sign from now on' : 'S3 credentials read from the secret', { reason });
    },
  }));

  if (opts.rememberCheckpoints) pipeline.rememberCheckpoints();

  /** `input` is a Kafka event, or (the local runner) records already decoded (DecodedRecords). */
  const processBatch = async (input: unknown, context: Context): Promise<BatchResult> => {
    const started = performance.now();
    const direct = input instanceof DecodedRecords;
    if (direct) addTopicNameDimension(metrics, topicOfRecords(input.records));
    else addTopicDimension(metrics, input);
    let r: BatchResult;
    try {
      const invocation = invocationOf(context, Date.now());
      r = direct ? await pipeline.handleRecords(input, invocation) : await pipeline.handle(input, invocation);
    } catch (err) {
      // The event source retries the batch; the metric lets an alarm see batches that keep failing.
      logger.error('batch failed; the event source will retry it', { error: err as Error });
      metrics.addMetric('BatchFailures', MetricUnit.Count, 1);
      // Overlapping invocations (a rebalance, a lost commit): this one lost the claim and converges on its retry.
      if (err instanceof ClaimConflictError) metrics.addMetric('ClaimConflicts', MetricUnit.Count, 1);
      // The schema registry did not answer (SCHEMA_REGISTRY): retried, never a dead letter.
      if (err instanceof RegistryUnavailableError) metrics.addMetric('RegistryUnavailable', MetricUnit.Count, 1);
      throw err;
    }
    logger.info('batch written', {
      ranges: r.ranges.map((x) => `${x.topic}-${x.partition}@${x.firstOffset}..${x.lastOffset}`),
      recordsIn: r.recordsIn, alreadyWritten: r.alreadyWritten, written: r.written, filtered: r.filtered, tombstonesIgnored: r.tombstonesIgnored,
      deadLettered: r.deadLettered, objects: r.objects, deadLetterObjects: r.deadLetterObjects, bytes: r.bytes,
    });
    if (r.deadLettered > 0) logger.warn('records dead-lettered', { count: r.deadLettered, errorPrefix: config.errorPrefix });
    // Either means a per-record check is missing: the record was still isolated, but the check belongs upstream.
    if (r.unexpectedRecordErrors > 0 || r.encodeFallbacks > 0) {
      logger.error('a record was isolated by the second line of defence (a per-record check is missing); see the dead letters\' reasons', {
        unexpectedRecordErrors: r.unexpectedRecordErrors, encodeFallbacks: r.encodeFallbacks,
      });
    }
    metrics.addMetric('RecordsIn', MetricUnit.Count, r.recordsIn);
    metrics.addMetric('RecordsWritten', MetricUnit.Count, r.written);
    metrics.addMetric('RecordsFiltered', MetricUnit.Count, r.filtered);
    metrics.addMetric('RecordsDeadLettered', MetricUnit.Count, r.deadLettered);
    metrics.addMetric('TombstonesIgnored', MetricUnit.Count, r.tombstonesIgnored);
    metrics.addMetric('TombstonesWritten', MetricUnit.Count, r.tombstonesWritten);
    metrics.addMetric('ObjectsWritten', MetricUnit.Count, r.objects + r.deadLetterObjects);
    metrics.addMetric('BytesWritten', MetricUnit.Bytes, r.bytes);
    metrics.addMetric('RecordsAlreadyWritten', MetricUnit.Count, r.alreadyWritten);
    metrics.addMetric('RecordCheckGaps', MetricUnit.Count, r.unexpectedRecordErrors);
    metrics.addMetric('EncodeFallbacks', MetricUnit.Count, r.encodeFallbacks);
    metrics.addMetric('BatchDuration', MetricUnit.Milliseconds, performance.now() - started);
    return r;
  };

  const handler = middy(processBatch)
    .use(injectLambdaContext(logger))
    .use(logMetrics(metrics, { throwOnEmptyMetrics: false }));
  return Object.assign((event: unknown, context: Context) => handler(event, context), {
    config,
    handleRecords: (records: readonly KafkaRecord[], context: Context) => handler(new DecodedRecords(records), context),
    ready: async (options?: { readonly quiet?: boolean }) => {
      try {
        await pipeline.ready();
      } catch (err) {
        if (err instanceof ConfigError && !options?.quiet) logger.error('configuration rejected at cold start', { problems: err.problems });
        throw err;
      }
    },
    close: () => pipeline.close(),
  });
}
