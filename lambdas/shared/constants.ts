/**
 * Constants shared by the sink Lambda and the CDK app (lib/), so both validate against the same lists and limits.
 */
export const Formats = ['jsonl', 'csv', 'csv_with_headers', 'text', 'bytes', 'avro', 'parquet'] as const;
export type Format = (typeof Formats)[number];

export const RowFormats = ['jsonl', 'csv', 'csv_with_headers', 'text', 'bytes'] as const;

/** Compression allowed per format: row formats are compressed as a whole, avro/parquet use their own codecs. */
export const CompressionsByFormat = {
  jsonl: ['none', 'gzip', 'zstd'],
  csv: ['none', 'gzip', 'zstd'],
  csv_with_headers: ['none', 'gzip', 'zstd'],
  text: ['none', 'gzip', 'zstd'],
  bytes: ['none', 'gzip', 'zstd'],
  avro: ['null', 'deflate', 'snappy', 'zstandard'],
  parquet: ['none', 'snappy', 'gzip', 'zstd'],
} as const satisfies Record<Format, readonly string[]>;
export type Compression = (typeof CompressionsByFormat)[Format][number];

export const DefaultCompression = {
  jsonl: 'gzip',
  csv: 'gzip',
  csv_with_headers: 'gzip',
  text: 'gzip',
  bytes: 'gzip',
  avro: 'snappy',
  parquet: 'zstd',
} as const satisfies Record<Format, Compression>;

/** File extension: it tells the format and, for row formats, the compression. */
export function extensionFor(format: Format, compression: Compression): string {
  const base = { jsonl: 'jsonl', csv: 'csv', csv_with_headers: 'csv', text: 'txt', bytes: 'bin', avro: 'avro', parquet: 'parquet' }[format];
  if (format === 'avro' || format === 'parquet') return base;
  if (compression === 'gzip') return `${base}.gz`;
  if (compression === 'zstd') return `${base}.zst`;
  return base;
}

/** Kafka record fields a user can choose for the output (Aiven's format.output.fields). */
export const OutputFields = ['key', 'value', 'headers', 'topic', 'partition', 'offset', 'timestamp'] as const;
export type OutputField = (typeof OutputFields)[number];

export const TombstoneModes = ['ignore', 'write', 'deadletter'] as const;
export type TombstoneMode = (typeof TombstoneModes)[number];

/** Formats that can express a null value (tombstones=write). */
export const NullCapableFormats: readonly Format[] = ['jsonl', 'csv', 'csv_with_headers', 'avro', 'parquet'];

export const KeyEncodings = ['text', 'base64'] as const;
export const ValueEncodings = ['json', 'text', 'base64'] as const;
export const HeaderEncodings = ['text', 'base64'] as const;
export const TimestampSources = ['record', 'wallclock'] as const;

/** Variables a key template may use. */
export const KeyTemplateVariables = ['topic', 'partition', 'start_offset', 'end_offset', 'timestamp', 'key', 'value'] as const;

export const DefaultKeyTemplate =
  '{{topic}}/dt={{timestamp:yyyy-MM-dd}}/hour={{timestamp:HH}}/{{topic}}+{{partition}}+{{start_offset}}';

/** Columns for Kafka metadata in CSV/Avro/Parquet carry this prefix; value fields may not use it, in any letter case. */
export const MetadataColumnPrefix = '_kafka_';

/** True when a field name uses the reserved prefix in any letter case (case-insensitive readers would confuse them). */
export function isReservedName(name: string): boolean {
  return name.length >= MetadataColumnPrefix.length && name.slice(0, MetadataColumnPrefix.length).toLowerCase() === MetadataColumnPrefix;
}

export const Limits = {
  /** TRANSFORM_SQL: its length at most (the whole function environment is limited to 4 KB). */
  maxTransformSqlChars: 3000,
  /** TRANSFORM_SQL: one run of the statement is interrupted after this long; its records are then bisected. */
  transformQueryTimeoutMs: 10_000,
  /** TRANSFORM_SQL: the statement's time per batch at most, isolation of failing records included. */
  transformBatchBudgetMs: 300_000,
  /** TRANSFORM_SQL: kept free before the invocation's deadline for the uploads and checkpoints after the statement. */
  transformWriteReserveMs: 60_000,
  /** S3 object keys are at most 1024 bytes of UTF-8. */
  maxKeyBytes: 1024,
  /** S3 multipart parts are at least 5 MiB (except the last). */
  minPartSize: 5 * 1024 * 1024,
  maxParts: 10_000,
  /** The Lambda invoke payload limit that bounds one Kafka batch. */
  maxPayloadBytes: 6 * 1024 * 1024,
  maxBatchSize: 10_000,
  offsetPadding: 20,
  /** JSON values nested deeper are dead-lettered: recursive serializers and readers overflow their stacks. */
  maxJsonDepth: 128,
  /** Top-level fields of one value, and columns of one object, when columns are inferred (csv, avro, parquet). */
  maxInferredFields: 1000,
  /** Instants every reader here holds (pyarrow to_pylist, fastavro and Python datetime stop at years 1 and 9999). */
  minTimestampMs: -62_135_596_800_000, // 0001-01-01T00:00:00.000Z
  maxTimestampMs: 253_402_300_799_999, // 9999-12-31T23:59:59.999Z
} as const;

/** Powertools service name and EMF namespace of the sink (the CDK app's alarms and dashboard read these). */
export const SinkServiceName = 'kafka-s3-sink';
export const MetricsNamespace = 'KafkaS3';
