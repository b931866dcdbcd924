/**
 * The compactor function: a scheduled invocation compacts closed windows, oldest first, until a minute before its
 * deadline; what is left waits for the next run (each window's state is its manifest, so runs resume anywhere).
 */
import { randomUUID } from 'node:crypto';
import type { S3Client } from '@aws-sdk/client-s3';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import { MetricsNamespace } from '../shared/constants.ts';
import { ConfigError } from '../shared/errors.ts';
import { serviceNameOf } from '../shared/metrics-dimensions.ts';
import { createS3Client } from '../shared/upload.ts';
import { Compactor, type RunReport } from './compact.ts';
import { loadCompactorConfig, type CompactorConfig } from './config.ts';

export interface CompactorHandlerOptions {
  readonly env?: Record<string, string | undefined>;
  readonly s3?: S3Client;
  readonly logger?: Logger;
  readonly metrics?: Metrics;
  readonly now?: () => number;
}

/** Time kept back from the deadline: a window started before it finishes (its merge and uploads) within it. */
const DEADLINE_MARGIN_MS = 60_000;

export type CompactorHandler = ((event: unknown, context: Partial<Context>) => Promise<RunReport>) & { readonly config: CompactorConfig };

export function createCompactorHandler(opts: CompactorHandlerOptions = {}): CompactorHandler {
  const env = opts.env ?? process.env;
  const service = serviceNameOf(env, 'kafka-s3-compactor');
  const logger = opts.logger ?? new Logger({ serviceName: service });
  const metrics = opts.metrics ?? new Metrics({ namespace: MetricsNamespace, serviceName: service });
  let config: CompactorConfig;
  try {
    config = loadCompactorConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) logger.error('configuration rejected at cold start', { problems: err.problems });
    throw err;
  }
  const s3 = opts.s3 ?? createS3Client(config.sink);
  const now = opts.now ?? Date.now;

  const handler = async (_event: unknown, context: Partial<Context>): Promise<RunReport> => {
    const remaining = typeof context.getRemainingTimeInMillis === 'function' ? context.getRemainingTimeInMillis() : 15 * 60_000;
    const compactor = new Compactor(s3, { ...config, runId: randomUUID().slice(0, 8) }, now);
    let report: RunReport;
    try {
      report = await compactor.run(now() + remaining - DEADLINE_MARGIN_MS);
    } catch (err) {
      logger.error('compaction run failed; the next run resumes from the manifests', { error: err as Error });
      metrics.addMetric('CompactionFailures', MetricUnit.Count, 1);
      metrics.publishStoredMetrics();
      throw err;
    }
    const sum = (f: (w: RunReport['windows'][number]) => number) => report.windows.reduce((s, w) => s + f(w), 0);
    const compacted = report.windows.filter((w) => w.action === 'compacted');
    logger.info('compaction run', {
      windows: report.windows.map((w) => `${w.window} ${w.action} g${w.generation} (${w.newSources} new of ${w.sources} objects, ${w.records} records in ${w.files} files)`),
      windowsLeft: report.windowsLeft, lagSeconds: report.lagSeconds, objectsSkipped: report.objectsSkipped,
    });
    metrics.addMetric('WindowsCompacted', MetricUnit.Count, compacted.length);
    metrics.addMetric('WindowsPending', MetricUnit.Count, report.windowsLeft + report.windows.filter((w) => w.action !== 'compacted' && w.action !== 'current' && w.action !== 'republished').length);
    metrics.addMetric('CompactionLag', MetricUnit.Seconds, report.lagSeconds);
    metrics.addMetric('ObjectsCompacted', MetricUnit.Count, sum((w) => (w.action === 'compacted' ? w.newSources : 0)));
    metrics.addMetric('BytesCompacted', MetricUnit.Bytes, sum((w) => w.bytesIn));
    metrics.addMetric('CompactedBytesWritten', MetricUnit.Bytes, sum((w) => w.bytesOut));
    metrics.addMetric('DuplicatesDropped', MetricUnit.Count, sum((w) => w.duplicates));
    metrics.addMetric('CompactionRacesLost', MetricUnit.Count, report.windows.filter((w) => w.action === 'lost-race').length);
    metrics.addMetric('WindowsTooLarge', MetricUnit.Count, report.windows.filter((w) => w.action === 'too-large').length);
    metrics.addMetric('WindowsFailed', MetricUnit.Count, report.windows.filter((w) => w.action === 'failed').length);
    metrics.publishStoredMetrics();
    return report;
  };
  return Object.assign(handler, { config });
}
