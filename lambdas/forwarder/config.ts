/**
 * The forwarder's configuration (Kafka → Kinesis for the S3 Tables stack): environment variables parsed once at
 * cold start; every problem reported at once, naming the variable, its value and what is allowed.
 */
import { z } from 'zod';
import { HeaderEncodings, KeyEncodings, OutputFields, ValueEncodings, type OutputField } from '../shared/constants.ts';
import { ConfigError } from '../shared/errors.ts';
import { compileFilter, type ValueFilter } from '../shared/filter.ts';
import { parseSettings, showValue as show } from '../shared/settings.ts';
import type { RegistrySettings } from '../shared/registry/index.ts';
import { registrySettings, RegistryEnvFields } from '../shared/registry/settings.ts';
import { parseTables, type Tables } from './table-columns.ts';

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

/** Kafka metadata the forwarder can add to each document (the value's fields are always there). */
export const ForwarderMetadataFields = OutputFields.filter((f) => f !== 'value');

export const ForwarderEnvSchema = z.object({
  STREAM_NAME: z.string().regex(/^[a-zA-Z0-9_.-]{1,128}$/, 'must be a Kinesis stream name').describe('Kinesis stream the records go to (required).'),
  ERROR_BUCKET: z.string().min(3).max(63).regex(/^[a-z0-9][a-z0-9.-]+[a-z0-9]$/, 'must be a valid S3 bucket name')
    .describe('Bucket for dead letters (required).'),
  ERROR_PREFIX: z.string().min(1).max(512).default('forwarder-dead-letters/').describe('Prefix of dead-letter objects.'),
  STATE_PREFIX: z.string().min(1).max(256).default('forwarder-checkpoints/')
    .describe('Prefix (in ERROR_BUCKET) of the per-partition checkpoints that keep a redelivery from being sent to Kinesis again; must not overlap ERROR_PREFIX.'),
  PARTITION_KEY: z.enum(['key', 'topic-partition']).default('key')
    .describe('Kinesis partition key: the Kafka key (records without a key use topic-partition), or topic-partition.'),
  FIELDS: z.string().default('key,headers,topic,partition,offset,timestamp')
    .describe('Kafka metadata added to each document as _kafka_<field> columns: comma list of key,headers,topic,partition,offset,timestamp.'),
  VALUE_LAYOUT: z.enum(['columns', 'single']).default('columns')
    .describe('columns: a JSON object value\'s fields become top-level fields (table columns); single: the whole value as text in _kafka_value (tables without a value schema).'),
  KEY_ENCODING: z.enum(KeyEncodings).default('text').describe('Key as UTF-8 text or base64.'),
  VALUE_ENCODING: z.enum(ValueEncodings).default('json').describe('Value as JSON (its fields become columns), UTF-8 text or base64 (in _kafka_value).'),
  HEADER_ENCODING: z.enum(HeaderEncodings).default('text').describe('Header values as UTF-8 text or base64.'),
  TOMBSTONES: z.enum(['ignore', 'write', 'deadletter']).default('ignore').describe('Null values: ignore (counted), write (metadata only), or deadletter.'),
  FILTER_REGEX: z.string().optional().describe('Forward only records whose value text matches (RE2 syntax: linear time, no lookaround or backreferences).'),
  PUT_MAX_ATTEMPTS: int(1, 30).default(8).describe('PutRecords attempts per chunk (refused entries and calls that failed as a whole alike) before the batch fails.'),
  PUT_BASE_DELAY_MS: int(1, 10_000).default(100).describe('First retry delay (exponential backoff with full jitter).'),
  PUT_MAX_DELAY_MS: int(10, 60_000).default(5_000).describe('Retry delay cap.'),
  PUT_TIMEOUT_MS: int(100, 120_000).default(10_000)
    .describe('Time a PutRecords call may take (connecting and the whole request) before it fails and is retried.'),
  TABLE_COLUMNS: z.string().optional()
    .describe('Value columns per table, JSON {"<table>": {"<column>": "<type>[!]"}} (! = required): documents are checked against them before they are sent.'),
  TABLE_ROUTES: z.string().optional().describe('Topic → table, comma list of topic=table (with TABLE_COLUMNS).'),
  KINESIS_ENDPOINT: z.url().optional().describe('Kinesis endpoint override (VPC endpoints, local servers).'),
  S3_ENDPOINT: z.url().optional().describe('S3 endpoint override for dead letters (local servers); path-style addressing.'),
  ...RegistryEnvFields,
  SECRETS_MANAGER_ENDPOINT: z.url().optional().describe('Secrets Manager endpoint override for SCHEMA_REGISTRY_SECRET_ARN (VPC endpoints, local servers).'),
});

export interface ForwarderConfig {
  readonly streamName: string;
  readonly errorBucket: string;
  readonly errorPrefix: string;
  readonly statePrefix: string;
  readonly partitionKey: 'key' | 'topic-partition';
  readonly fields: readonly OutputField[];
  readonly valueLayout: 'columns' | 'single';
  readonly keyEncoding: 'text' | 'base64';
  readonly valueEncoding: 'json' | 'text' | 'base64';
  readonly headerEncoding: 'text' | 'base64';
  readonly tombstones: 'ignore' | 'write' | 'deadletter';
  /** FILTER_REGEX compiled with RE2 (linear time per value). */
  readonly filter?: ValueFilter;
  readonly putMaxAttempts: number;
  readonly putBaseDelayMs: number;
  readonly putMaxDelayMs: number;
  readonly putTimeoutMs: number;
  /** The tables' value columns and the topic → table routes; undefined = documents are not checked against columns. */
  readonly tables?: Tables;
  readonly kinesisEndpoint?: string;
  readonly s3Endpoint?: string;
  /** Registry-framed values and keys are decoded with this registry's schemas (lambdas/shared/registry). */
  readonly registry?: RegistrySettings;
}

export function loadForwarderConfig(env: Record<string, string | undefined> = process.env): ForwarderConfig {
  const problems: string[] = [];
  const input: Record<string, unknown> = {};
  for (const key of Object.keys(ForwarderEnvSchema.shape)) if (env[key] !== '') input[key] = env[key];
  const parsed = parseSettings(ForwarderEnvSchema, input);
  problems.push(...parsed.problems);
  const e = parsed.values;
  const fields = (e.FIELDS ?? '').split(',').map((f) => f.trim()).filter(Boolean);
  const bad = fields.filter((f) => !(ForwarderMetadataFields as readonly string[]).includes(f));
  if (e.FIELDS !== undefined && bad.length > 0) {
    problems.push(`FIELDS=${show(e.FIELDS)}: expected a comma list of ${ForwarderMetadataFields.join(', ')} (the value's fields are always included)`);
  }
  let filter: ValueFilter | undefined;
  if (e.FILTER_REGEX !== undefined) {
    try {
      filter = compileFilter(e.FILTER_REGEX);
    } catch (err) {
      problems.push(`FILTER_REGEX=${show(e.FILTER_REGEX)}: ${(err as Error).message}`);
    }
  }
  if (e.PUT_BASE_DELAY_MS !== undefined && e.PUT_MAX_DELAY_MS !== undefined && e.PUT_BASE_DELAY_MS > e.PUT_MAX_DELAY_MS) {
    problems.push(`PUT_BASE_DELAY_MS=${show(e.PUT_BASE_DELAY_MS)}: must not exceed PUT_MAX_DELAY_MS=${show(e.PUT_MAX_DELAY_MS)}`);
  }
  if (e.STATE_PREFIX !== undefined && e.ERROR_PREFIX !== undefined && (e.STATE_PREFIX.startsWith(e.ERROR_PREFIX) || e.ERROR_PREFIX.startsWith(e.STATE_PREFIX))) {
    problems.push(`STATE_PREFIX=${show(e.STATE_PREFIX)}: must not overlap ERROR_PREFIX=${show(e.ERROR_PREFIX)} (checkpoints would mix with dead letters)`);
  }
  if (e.STATE_PREFIX !== undefined && (e.STATE_PREFIX.startsWith('/') || e.STATE_PREFIX.split('/').includes('..'))) {
    problems.push(`STATE_PREFIX=${show(e.STATE_PREFIX)}: must not start with '/' or contain a '..' segment`);
  }
  const { tables, problems: tableProblems } = parseTables(e.TABLE_COLUMNS, e.TABLE_ROUTES);
  for (const p of tableProblems) problems.push(`${p.variable}=${show(e[p.variable])}: ${p.problem}`);
  if (e.TABLE_COLUMNS !== undefined && e.VALUE_LAYOUT !== 'columns') {
    problems.push(`TABLE_COLUMNS: only with VALUE_LAYOUT='columns' (VALUE_LAYOUT=${show(e.VALUE_LAYOUT)} writes the value as text in _kafka_value)`);
  }
  if (e.TABLE_COLUMNS !== undefined && e.VALUE_ENCODING !== 'json') {
    problems.push(`TABLE_COLUMNS: only with VALUE_ENCODING='json' (the columns are a JSON object value's fields)`);
  }
  const registry = registrySettings(e, problems, { format: 'jsonl', valueEncoding: e.VALUE_ENCODING, keyEncoding: e.KEY_ENCODING });
  if (problems.length > 0) throw new ConfigError(problems, 'forwarder configuration');
  return {
    streamName: e.STREAM_NAME,
    errorBucket: e.ERROR_BUCKET,
    errorPrefix: e.ERROR_PREFIX,
    statePrefix: e.STATE_PREFIX,
    partitionKey: e.PARTITION_KEY,
    fields: [...new Set(fields)] as OutputField[],
    valueLayout: e.VALUE_LAYOUT,
    keyEncoding: e.KEY_ENCODING,
    valueEncoding: e.VALUE_ENCODING,
    headerEncoding: e.HEADER_ENCODING,
    tombstones: e.TOMBSTONES,
    filter,
    putMaxAttempts: e.PUT_MAX_ATTEMPTS,
    putBaseDelayMs: e.PUT_BASE_DELAY_MS,
    putMaxDelayMs: e.PUT_MAX_DELAY_MS,
    putTimeoutMs: e.PUT_TIMEOUT_MS,
    ...(tables ? { tables } : {}),
    kinesisEndpoint: e.KINESIS_ENDPOINT,
    s3Endpoint: e.S3_ENDPOINT,
    ...(registry ? { registry } : {}),
  };
}
