/**
 * The sink's configuration: read once at cold start from environment variables, validated with one schema.
 * Each setting's `describe()` text is its user documentation (the README table is checked against it).
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import {
  CompressionsByFormat,
  DefaultCompression,
  DefaultKeyTemplate,
  Formats,
  HeaderEncodings,
  KeyEncodings,
  Limits,
  NullCapableFormats,
  OutputFields,
  TimestampSources,
  TombstoneModes,
  ValueEncodings,
  type Compression,
  type Format,
  type OutputField,
} from './constants.ts';
import { ConfigError } from './errors.ts';
import { parseSettings, showValue as show } from './settings.ts';
import { parseKeyTemplate, type KeyTemplate } from './key-template.ts';
import { parseAvroSchema, type TableSchema } from './schema.ts';
import { compileFilter, type ValueFilter } from './filter.ts';
import type { RegistrySettings } from './registry/index.ts';
import { registrySettings, RegistryEnvFields, secretArnSchema } from './registry/settings.ts';

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const bool = z.enum(['true', 'false']).transform((v) => v === 'true');
/**
 * A string setting with a check of its own. The check is part of the schema so that its problem is reported together
 * with every other one (a check after a failed parse would never run).
 */
const checked = (schema: z.ZodString, check: (value: string) => unknown) =>
  schema.superRefine((value, ctx) => {
    try {
      check(value);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
    }
  });

/**
 * The longest S3_CREDENTIALS_MAX_AGE_SECONDS. The SDK asks its credential provider again before each request only
 * for credentials that expire within 5 minutes (for later ones it keeps its own copy); keys read again after a
 * refusal must reach the next request, so the age the provider reports as expiration stays within that window.
 */
export const MAX_KEY_AGE_SECONDS = 300;

/** Environment variables of the sink function, with defaults. */
export const SinkEnvSchema = z.object({
  BUCKET_NAME: z.string().min(3).max(63).regex(/^[a-z0-9][a-z0-9.-]+[a-z0-9]$/, 'must be a valid S3 bucket name')
    .describe('Bucket the objects are written to (required).'),
  PREFIX: z.string().max(512).default('topics/').describe('Prefix of every data object key.'),
  ERROR_PREFIX: z.string().min(1).max(256).default('dead-letters/').describe('Prefix of dead-letter objects; must not overlap PREFIX.'),
  STATE_PREFIX: z.string().min(1).max(256).default('checkpoints/')
    .describe('Prefix of the per-partition checkpoints that make delivery exactly-once; one pipeline per bucket and STATE_PREFIX; must not overlap PREFIX or ERROR_PREFIX.'),
  FORMAT: z.enum(Formats).default('jsonl').describe('Output format.'),
  COMPRESSION: z.string().optional().describe('Compression or codec; allowed values depend on FORMAT (default: gzip for row formats, snappy for avro, zstd for parquet).'),
  COMPRESSION_LEVEL: int(-7, 22).optional().describe('Level for gzip (1-9), zstd (-7..22) or deflate; codec default when unset.'),
  KEY_TEMPLATE: checked(z.string().min(1), parseKeyTemplate).default(DefaultKeyTemplate).describe('Object key template (the extension is appended).'),
  TIMEZONE: checked(z.string(), checkTimeZone).default('UTC').describe('IANA time zone for {{timestamp:…}} in keys.'),
  TIMESTAMP_SOURCE: z.enum(TimestampSources).default('record').describe('Time for {{timestamp:…}}: the record timestamp, or the wall clock (not retry-stable).'),
  FIELDS: z.string().optional().describe('Comma list of key,value,headers,topic,partition,offset,timestamp (default: all; value for text/bytes).'),
  ENVELOPE: bool.default(true).describe('jsonl: wrap each record in an object of the chosen fields; false writes the bare value (FIELDS=value only).'),
  KEY_ENCODING: z.enum(KeyEncodings).default('text').describe('Record key as UTF-8 text or base64 (binary keys).'),
  VALUE_ENCODING: z.enum(ValueEncodings).default('json').describe('Record value as JSON (fields become columns), UTF-8 text, or base64.'),
  HEADER_ENCODING: z.enum(HeaderEncodings).default('text').describe('Header values as UTF-8 text or base64.'),
  TOMBSTONES: z.enum(TombstoneModes).default('ignore').describe('Records with a null value: ignore (counted), write, or deadletter.'),
  FILTER_REGEX: checked(z.string(), compileFilter).optional().describe('Only records whose value text matches (RE2 syntax, linear time) are written; the others are counted as filtered.'),
  BYTES_SEPARATOR: checked(z.string(), decodeEscapes).default('\\n').describe('bytes format: separator between values (escapes \\n \\r \\t \\0 \\xHH allowed; empty for none).'),
  AVRO_SCHEMA: z.string().optional().describe('Avro record schema (JSON) of the value, for avro, parquet and csv; with TRANSFORM_SQL, the columns of input.'),
  AVRO_SCHEMA_FILE: z.string().optional().describe('Path of a file holding the Avro schema (alternative to AVRO_SCHEMA).'),
  TRANSFORM_SQL: z.string().trim().min(1).max(Limits.maxTransformSqlChars).optional()
    .describe('One SELECT … FROM input run on every batch (DuckDB SQL); its rows are what is written (README, "Transform with SQL").'),
  TRANSFORM_MEMORY_MB: int(64, 8192).optional().describe('Memory limit of the TRANSFORM_SQL engine (default: a quarter of the function memory, 512 MB elsewhere).'),
  MAX_RECORDS_PER_OBJECT: int(1, 10_000_000).default(100_000)
    .describe('Records per object at most; objects are cut at offsets that are multiples of it.'),
  MAX_OBJECT_BYTES: int(1024, 5 * 1024 ** 4).default(512 * 1024 * 1024)
    .describe('Raw record bytes (key+value+headers) per object at most; a larger record is dead-lettered.'),
  PARQUET_ROW_GROUP_SIZE: int(1, 10_000_000).default(100_000).describe('Rows per Parquet row group.'),
  MULTIPART_THRESHOLD_BYTES: int(Limits.minPartSize, 5 * 1024 ** 3).default(16 * 1024 * 1024)
    .describe('Objects of at least this size are uploaded with multipart upload.'),
  PART_SIZE_BYTES: int(Limits.minPartSize, 5 * 1024 ** 3).default(8 * 1024 * 1024).describe('Multipart part size.'),
  UPLOAD_CONCURRENCY: int(1, 64).default(4).describe('Uploads of one batch in flight at once.'),
  S3_MAX_ATTEMPTS: int(1, 20).default(5).describe('Attempts per S3 request (SDK retries with backoff) before the batch fails.'),
  SSE_KMS_KEY_ID: z.string().optional().describe('KMS key for SSE-KMS; default is the bucket encryption.'),
  CROSS_ACCOUNT_ROLE_ARN: z.string().regex(/^arn:aws[a-z-]*:iam::\d{12}:role\/.+$/, 'must be an IAM role ARN').optional()
    .describe('Role to assume (STS) to write to a bucket in another account.'),
  ROLE_SESSION_NAME: z.string().regex(/^[\w+=,.@-]{2,64}$/, 'must be 2-64 characters of [A-Za-z0-9_+=,.@-]').default('kafka-s3-sink')
    .describe('Session name when assuming CROSS_ACCOUNT_ROLE_ARN.'),
  EXTERNAL_ID: z.string().min(2).max(1224).optional().describe('External ID when assuming CROSS_ACCOUNT_ROLE_ARN.'),
  S3_ENDPOINT: z.url().optional().describe('S3 endpoint override (local servers, VPC endpoints); path-style addressing is used.'),
  STS_ENDPOINT: z.url().optional().describe('STS endpoint override for CROSS_ACCOUNT_ROLE_ARN (VPC endpoints, local servers).'),
  S3_CREDENTIALS_SECRET_ARN: secretArnSchema.optional().describe('Sign S3 requests with the long-term access keys in this secret (JSON accessKeyId, secretAccessKey) instead of the function\'s role.'),
  S3_CREDENTIALS_MAX_AGE_SECONDS: int(1, MAX_KEY_AGE_SECONDS).default(MAX_KEY_AGE_SECONDS)
    .describe('Keys from S3_CREDENTIALS_SECRET_ARN are read again once they are this old (and whenever S3 refuses them).'),
  SECRETS_MANAGER_ENDPOINT: z.url().optional().describe('Secrets Manager endpoint override for S3_CREDENTIALS_SECRET_ARN and SCHEMA_REGISTRY_SECRET_ARN (VPC endpoints, local servers).'),
  ...RegistryEnvFields,
});

export type SinkEnv = z.input<typeof SinkEnvSchema>;

/** The validated, derived configuration the pipeline stages read. */
export interface SinkConfig {
  readonly bucket: string;
  readonly prefix: string;
  readonly errorPrefix: string;
  readonly statePrefix: string;
  readonly format: Format;
  readonly compression: Compression;
  readonly compressionLevel?: number;
  readonly keyTemplate: KeyTemplate;
  readonly timezone: string;
  readonly timestampSource: 'record' | 'wallclock';
  readonly fields: readonly OutputField[];
  readonly envelope: boolean;
  readonly keyEncoding: 'text' | 'base64';
  readonly valueEncoding: 'json' | 'text' | 'base64';
  readonly headerEncoding: 'text' | 'base64';
  readonly tombstones: 'ignore' | 'write' | 'deadletter';
  readonly filter?: ValueFilter;
  readonly bytesSeparator: Buffer;
  readonly schema?: TableSchema;
  readonly maxRecordsPerObject: number;
  readonly maxObjectBytes: number;
  readonly parquetRowGroupSize: number;
  readonly multipartThresholdBytes: number;
  readonly partSizeBytes: number;
  readonly uploadConcurrency: number;
  readonly s3MaxAttempts: number;
  readonly sseKmsKeyId?: string;
  readonly crossAccount?: { readonly roleArn: string; readonly sessionName: string; readonly externalId?: string };
  readonly s3Endpoint?: string;
  readonly stsEndpoint?: string;
  /** Long-term access keys from this secret instead of the function's role (lambdas/shared/credentials.ts). */
  readonly s3CredentialsSecret?: { readonly arn: string; readonly maxAgeSeconds: number; readonly endpoint?: string };
  /** Registry-framed values and keys are decoded with this registry's schemas (lambdas/shared/registry). */
  readonly registry?: RegistrySettings;
  /** TRANSFORM_SQL: the statement whose rows are written (lambdas/shared/transform). */
  readonly transform?: { readonly sql: string; readonly memoryLimitMb: number; readonly queryTimeoutMs: number };
}


/** Decodes \n, \r, \t, \0, \\ and \xHH escapes of a separator setting. */
export function decodeEscapes(text: string): Buffer {
  const out: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c !== '\\' || i === text.length - 1) {
      out.push(...Buffer.from(c, 'utf8'));
      continue;
    }
    const n = text[++i];
    if (n === 'n') out.push(10);
    else if (n === 'r') out.push(13);
    else if (n === 't') out.push(9);
    else if (n === '0') out.push(0);
    else if (n === '\\') out.push(92);
    else if (n === 'x' && /^[0-9a-fA-F]{2}$/.test(text.slice(i + 1, i + 3))) {
      out.push(parseInt(text.slice(i + 1, i + 3), 16));
      i += 2;
    } else throw new Error(`unknown escape \\${n}`);
  }
  return Buffer.from(out);
}

function checkTimeZone(timezone: string): void {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: timezone });
  } catch {
    throw new Error('not an IANA time zone (for example UTC, Europe/Berlin, America/New_York)');
  }
}

/** Settings where an empty value means empty (not unset): BYTES_SEPARATOR='' joins values with no separator, PREFIX='' writes at the bucket root. */
const EmptyAllowed: ReadonlySet<string> = new Set(['BYTES_SEPARATOR', 'PREFIX']);

/**
 * Parses and checks the environment. Every problem is collected and thrown together as one ConfigError.
 */
export function loadSinkConfig(env: Record<string, string | undefined> = process.env): SinkConfig {
  const problems: string[] = [];
  const input: Record<string, string> = {};
  for (const key of Object.keys(SinkEnvSchema.shape)) {
    const v = env[key];
    if (v !== undefined && (v !== '' || EmptyAllowed.has(key))) input[key] = v;
  }
  // Each setting is parsed on its own, so one bad value does not hide the others' problems. A setting that failed
  // takes its default for the checks that combine settings, and their problems naming it are not repeated.
  const parsed = parseSettings(SinkEnvSchema, input);
  problems.push(...parsed.problems);
  const failed = [...parsed.failed];
  const reportedBySchema = problems.length;
  const e = parsed.values;

  const format = e.FORMAT;
  const allowedCompressions: readonly string[] = CompressionsByFormat[format];
  const compression = (e.COMPRESSION ?? DefaultCompression[format]) as Compression;
  if (!allowedCompressions.includes(compression)) {
    problems.push(`COMPRESSION=${show(e.COMPRESSION)}: not allowed for FORMAT=${format}; expected one of ${allowedCompressions.join(', ')}`);
  }
  if (e.COMPRESSION_LEVEL !== undefined && (compression === 'gzip' || compression === 'deflate')
    && (e.COMPRESSION_LEVEL < 1 || e.COMPRESSION_LEVEL > 9)) {
    problems.push(`COMPRESSION_LEVEL=${show(e.COMPRESSION_LEVEL)}: ${compression} levels are 1-9`);
  }
  if (e.COMPRESSION_LEVEL !== undefined && !['gzip', 'deflate', 'zstd', 'zstandard'].includes(compression)) {
    problems.push(`COMPRESSION_LEVEL=${show(e.COMPRESSION_LEVEL)}: ${compression} has no level (gzip, deflate, zstd and zstandard do)`);
  }

  if (e.PREFIX && (e.PREFIX.startsWith(e.ERROR_PREFIX) || e.ERROR_PREFIX.startsWith(e.PREFIX))) {
    problems.push(`ERROR_PREFIX=${show(e.ERROR_PREFIX)}: must not overlap PREFIX=${show(e.PREFIX)} (dead letters would mix with data)`);
  }
  for (const [name, value] of [['PREFIX', e.PREFIX], ['ERROR_PREFIX', e.ERROR_PREFIX]] as const) {
    if (!value || !(e.STATE_PREFIX.startsWith(value) || value.startsWith(e.STATE_PREFIX))) continue;
    problems.push(`STATE_PREFIX=${show(e.STATE_PREFIX)}: must not overlap ${name}=${show(value)} (checkpoints would mix with ${name === 'PREFIX' ? 'data' : 'dead letters'})`);
  }
  for (const [name, value] of [['PREFIX', e.PREFIX], ['ERROR_PREFIX', e.ERROR_PREFIX], ['STATE_PREFIX', e.STATE_PREFIX]] as const) {
    if (value.startsWith('/') || value.split('/').includes('..')) {
      problems.push(`${name}=${show(value)}: must not start with '/' or contain a '..' segment`);
    }
  }

  const rawFormat = format === 'text' || format === 'bytes';
  let fields: OutputField[] = rawFormat ? ['value'] : [...OutputFields];
  if (e.FIELDS !== undefined) {
    const list = e.FIELDS.split(',').map((f) => f.trim()).filter(Boolean);
    const unknown = list.filter((f) => !(OutputFields as readonly string[]).includes(f));
    if (unknown.length > 0 || list.length === 0) {
      problems.push(`FIELDS=${show(e.FIELDS)}: expected a comma list of ${OutputFields.join(', ')}`);
    } else if (new Set(list).size !== list.length) {
      problems.push(`FIELDS=${show(e.FIELDS)}: a field is listed twice`);
    } else fields = list as OutputField[];
  }
  if (rawFormat && (fields.length !== 1 || fields[0] !== 'value')) {
    problems.push(`FIELDS=${show(e.FIELDS)}: FORMAT=${format} writes the value only; set FIELDS=value or use jsonl/csv/avro/parquet`);
  }
  if (!e.ENVELOPE && (format !== 'jsonl' || fields.length !== 1 || fields[0] !== 'value')) {
    problems.push(`ENVELOPE='false': only for FORMAT=jsonl with FIELDS=value`);
  }
  if (!e.ENVELOPE && e.VALUE_ENCODING !== 'json') {
    problems.push(`ENVELOPE='false': needs VALUE_ENCODING=json (each line must be a JSON value)`);
  }
  if (e.TOMBSTONES === 'write' && !NullCapableFormats.includes(format)) {
    problems.push(`TOMBSTONES='write': FORMAT=${format} cannot express a null value; use ignore or deadletter`);
  }
  if (e.TOMBSTONES === 'write' && !fields.includes('value')) {
    problems.push(`TOMBSTONES='write': FIELDS must include value`);
  }

  // FILTER_REGEX, BYTES_SEPARATOR and KEY_TEMPLATE were checked by the schema: these cannot throw.
  const filter = e.FILTER_REGEX === undefined ? undefined : compileFilter(e.FILTER_REGEX);
  const bytesSeparator = decodeEscapes(e.BYTES_SEPARATOR);
  const keyTemplate: KeyTemplate = parseKeyTemplate(e.KEY_TEMPLATE);

  if (keyTemplate.valuePaths.length > 0 && e.VALUE_ENCODING !== 'json') {
    problems.push(`KEY_TEMPLATE=${show(e.KEY_TEMPLATE)}: {{value.…}} needs VALUE_ENCODING=json (the value's fields)`);
  }

  let schema: TableSchema | undefined;
  if (e.AVRO_SCHEMA !== undefined && e.AVRO_SCHEMA_FILE !== undefined) {
    problems.push(`AVRO_SCHEMA_FILE=${show(e.AVRO_SCHEMA_FILE)}: set AVRO_SCHEMA or AVRO_SCHEMA_FILE, not both`);
  } else if (e.AVRO_SCHEMA !== undefined || e.AVRO_SCHEMA_FILE !== undefined) {
    const name = e.AVRO_SCHEMA !== undefined ? 'AVRO_SCHEMA' : 'AVRO_SCHEMA_FILE';
    try {
      const text = e.AVRO_SCHEMA ?? readFileSync(e.AVRO_SCHEMA_FILE as string, 'utf8');
      schema = parseAvroSchema(text);
    } catch (err) {
      problems.push(`${name}=${show(name === 'AVRO_SCHEMA' ? abbreviate(e.AVRO_SCHEMA as string) : e.AVRO_SCHEMA_FILE)}: ${(err as Error).message}`);
    }
    // With TRANSFORM_SQL the schema describes the statement's input, whatever is written.
    if (!['avro', 'parquet', 'csv', 'csv_with_headers'].includes(format) && e.TRANSFORM_SQL === undefined) {
      problems.push(`${name}: a schema applies to avro, parquet, csv and csv_with_headers, not FORMAT=${format}`);
    }
    if (e.VALUE_ENCODING !== 'json') {
      problems.push(`${name}: a value schema needs VALUE_ENCODING=json`);
    }
  }

  if (e.TRANSFORM_MEMORY_MB !== undefined && e.TRANSFORM_SQL === undefined) problems.push('TRANSFORM_MEMORY_MB: only used with TRANSFORM_SQL, which is unset');
  if (e.PART_SIZE_BYTES > e.MULTIPART_THRESHOLD_BYTES) {
    problems.push(`PART_SIZE_BYTES=${show(e.PART_SIZE_BYTES)}: must not exceed MULTIPART_THRESHOLD_BYTES=${show(e.MULTIPART_THRESHOLD_BYTES)}`);
  }
  if (e.EXTERNAL_ID !== undefined && e.CROSS_ACCOUNT_ROLE_ARN === undefined) {
    problems.push(`EXTERNAL_ID: only used with CROSS_ACCOUNT_ROLE_ARN, which is unset`);
  }
  if (e.S3_CREDENTIALS_SECRET_ARN !== undefined && e.CROSS_ACCOUNT_ROLE_ARN !== undefined) {
    problems.push(`S3_CREDENTIALS_SECRET_ARN: set CROSS_ACCOUNT_ROLE_ARN or S3_CREDENTIALS_SECRET_ARN, not both`);
  }
  if (input.S3_CREDENTIALS_MAX_AGE_SECONDS !== undefined && e.S3_CREDENTIALS_SECRET_ARN === undefined && !failed.includes('S3_CREDENTIALS_SECRET_ARN')) {
    problems.push(`S3_CREDENTIALS_MAX_AGE_SECONDS: only used with S3_CREDENTIALS_SECRET_ARN, which is unset`);
  }
  const registry = registrySettings(e, problems, { format, valueEncoding: e.VALUE_ENCODING, keyEncoding: e.KEY_ENCODING });
  if (problems.length > 0) {
    const mentionsFailed = (p: string) => failed.some((k) => new RegExp(`\\b${k}\\b`).test(p));
    throw new ConfigError([...problems.slice(0, reportedBySchema), ...problems.slice(reportedBySchema).filter((p) => !mentionsFailed(p))]);
  }

  return {
    bucket: e.BUCKET_NAME,
    prefix: e.PREFIX,
    errorPrefix: e.ERROR_PREFIX,
    statePrefix: e.STATE_PREFIX,
    format,
    compression,
    compressionLevel: e.COMPRESSION_LEVEL,
    keyTemplate,
    timezone: e.TIMEZONE,
    timestampSource: e.TIMESTAMP_SOURCE,
    fields,
    envelope: e.ENVELOPE,
    keyEncoding: e.KEY_ENCODING,
    valueEncoding: e.VALUE_ENCODING,
    headerEncoding: e.HEADER_ENCODING,
    tombstones: e.TOMBSTONES,
    filter,
    bytesSeparator,
    schema,
    maxRecordsPerObject: e.MAX_RECORDS_PER_OBJECT,
    maxObjectBytes: e.MAX_OBJECT_BYTES,
    parquetRowGroupSize: e.PARQUET_ROW_GROUP_SIZE,
    multipartThresholdBytes: e.MULTIPART_THRESHOLD_BYTES,
    partSizeBytes: e.PART_SIZE_BYTES,
    uploadConcurrency: e.UPLOAD_CONCURRENCY,
    s3MaxAttempts: e.S3_MAX_ATTEMPTS,
    sseKmsKeyId: e.SSE_KMS_KEY_ID,
    crossAccount: e.CROSS_ACCOUNT_ROLE_ARN
      ? { roleArn: e.CROSS_ACCOUNT_ROLE_ARN, sessionName: e.ROLE_SESSION_NAME, externalId: e.EXTERNAL_ID }
      : undefined,
    s3Endpoint: e.S3_ENDPOINT,
    stsEndpoint: e.STS_ENDPOINT,
    s3CredentialsSecret: e.S3_CREDENTIALS_SECRET_ARN
      ? { arn: e.S3_CREDENTIALS_SECRET_ARN, maxAgeSeconds: e.S3_CREDENTIALS_MAX_AGE_SECONDS, endpoint: e.SECRETS_MANAGER_ENDPOINT }
      : undefined,
    registry,
    transform: e.TRANSFORM_SQL === undefined ? undefined : {
      sql: e.TRANSFORM_SQL,
      memoryLimitMb: e.TRANSFORM_MEMORY_MB ?? transformMemoryMb(env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE),
      queryTimeoutMs: Limits.transformQueryTimeoutMs,
    },
  };
}

/** A quarter of the function's memory (the rest holds the batch, its objects and the runtime), at least 128 MB. */
function transformMemoryMb(functionMemory: string | undefined): number {
  const mb = Number(functionMemory);
  return Number.isFinite(mb) && mb > 0 ? Math.max(128, Math.floor(mb / 4)) : 512;
}

function abbreviate(text: string): string {
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
