/**
 * Firehose transformation for the S3 Tables stack: routes each record (a forwarder JSON document) to the Iceberg
 * table of its Kafka topic by returning `metadata.otfMetadata`. A record that names no known topic, or is not a
 * JSON document, is returned as ProcessingFailed: Firehose then writes it under the error prefix of its error
 * bucket with the failure, so nothing is dropped silently.
 */
import { z } from 'zod';
import { ConfigError } from '../shared/errors.ts';

export interface FirehoseTransformationEvent {
  invocationId: string;
  deliveryStreamArn: string;
  region?: string;
  records: { recordId: string; approximateArrivalTimestamp?: number; data: string; kinesisRecordMetadata?: Record<string, unknown> }[];
}

export interface FirehoseTransformationResult {
  records: {
    recordId: string;
    result: 'Ok' | 'Dropped' | 'ProcessingFailed';
    data: string;
    metadata?: { otfMetadata: { destinationDatabaseName: string; destinationTableName: string; operation: 'insert' | 'update' } };
  }[];
}

export interface RouterConfig {
  readonly database: string;
  /** insert (append-only tables) or update (upsert on the tables' unique keys). */
  readonly operation: 'insert' | 'update';
  /** Kafka topic → table name. */
  readonly routes: ReadonlyMap<string, string>;
}

/** S3 Tables names: lowercase letters, digits and _, starting and ending with a letter or digit. */
const NAME = /^[a-z0-9]([a-z0-9_]{0,253}[a-z0-9])?$/;

const RouterEnvSchema = z.object({
  DATABASE: z.string().regex(/^(?!aws)[a-z0-9]([a-z0-9_]{0,253}[a-z0-9])?$/, 'must be an S3 Tables namespace (lowercase letters, digits, _; not starting with aws)'),
  TABLE_ROUTES: z.string().min(1, 'required: comma list of topic=table'),
  OPERATION: z.enum(['insert', 'update']).default('insert'),
});

/** TABLE_ROUTES: `orders=orders,payments=payment_events`. */
export function loadRouterConfig(env: Record<string, string | undefined> = process.env): RouterConfig {
  const problems: string[] = [];
  const parsed = RouterEnvSchema.safeParse({ DATABASE: env.DATABASE, TABLE_ROUTES: env.TABLE_ROUTES, OPERATION: env.OPERATION || undefined });
  if (!parsed.success) {
    for (const i of parsed.error.issues) problems.push(`${String(i.path[0])}='${env[String(i.path[0])] ?? '(unset)'}': ${i.message}`);
  }
  // Routes are checked even when DATABASE is bad, so every problem is reported at once.
  const routesText = typeof env.TABLE_ROUTES === 'string' ? env.TABLE_ROUTES : '';
  const routes = new Map<string, string>();
  const pairs = routesText.split(',').map((p) => p.trim()).filter(Boolean);
  for (const pair of pairs) {
    const [topic, table, ...rest] = pair.split('=');
    if (!topic || !table || rest.length > 0 || !NAME.test(table)) {
      problems.push(`TABLE_ROUTES='${routesText}': "${pair}" is not topic=table with a lowercase table name`);
    } else if (routes.has(topic)) {
      problems.push(`TABLE_ROUTES='${routesText}': topic "${topic}" is routed twice`);
    } else routes.set(topic, table);
  }
  // A list of only commas and blanks would route nothing: every record would fail.
  if (routesText !== '' && pairs.length === 0) problems.push(`TABLE_ROUTES='${routesText}': names no route (comma list of topic=table)`);
  if (problems.length > 0 || !parsed.success) throw new ConfigError(problems, 'router configuration');
  return { database: parsed.data.DATABASE, operation: parsed.data.OPERATION, routes };
}

export function route(cfg: RouterConfig, event: FirehoseTransformationEvent): FirehoseTransformationResult {
  return {
    records: event.records.map((r) => {
      let topic: unknown;
      try {
        topic = (JSON.parse(Buffer.from(r.data, 'base64').toString('utf8')) as Record<string, unknown>)._kafka_topic;
      } catch {
        topic = undefined;
      }
      const table = typeof topic === 'string' ? cfg.routes.get(topic) : undefined;
      if (!table) return { recordId: r.recordId, result: 'ProcessingFailed' as const, data: r.data };
      return {
        recordId: r.recordId,
        result: 'Ok' as const,
        data: r.data,
        metadata: { otfMetadata: { destinationDatabaseName: cfg.database, destinationTableName: table, operation: cfg.operation } },
      };
    }),
  };
}

export function createRouterHandler(env: Record<string, string | undefined> = process.env) {
  const cfg = loadRouterConfig(env);
  return async (event: FirehoseTransformationEvent): Promise<FirehoseTransformationResult> => route(cfg, event);
}
