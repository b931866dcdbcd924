/**
 * The CDK app's configuration: one schema for every context key (`cdk deploy … -c key=value`), defaults in
 * cdk.json. `-c` values arrive as strings and are coerced; every problem is reported at once, naming the key, the
 * value and what is allowed. Each key's `describe()` text is its documentation (the README table is checked).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { CompressionsByFormat, DefaultKeyTemplate, Formats, TombstoneModes, type Format } from '../lambdas/shared/constants.ts';
import { loadForwarderConfig } from '../lambdas/forwarder/config.ts';
import { encodeTableColumns, encodeTableRoutes } from '../lambdas/forwarder/table-columns.ts';
import { loadSinkConfig, type SinkConfig } from '../lambdas/shared/config.ts';
import { ConfigError } from '../lambdas/shared/errors.ts';
import { parseSettings, showValue as show } from '../lambdas/shared/settings.ts';
import { unknownContextKeyProblems } from './context-keys.ts';
import { loadCompactorConfig } from '../lambdas/compactor/config.ts';
import { catalogFromContext, GLUE_NAME, type CatalogConfig } from './catalog.ts';
import { parseTableSchemas, tableRoutes, type IcebergColumn } from './table-schema.ts';

const EXAMPLE = 'npx cdk deploy KafkaS3DirectStack -c mskClusterArn=arn:aws:kafka:us-east-1:111122223333:cluster/demo/abcd1234-ab12-cd34-ef56-abcdef123456-1 -c topics=orders,payments';

const str = z.string().trim().min(1, 'must not be empty');
const list = z.string().transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean));
/** An integer in [min, max]; one message that says what is allowed, whatever is wrong with the value. */
const int = (min: number, max: number) => {
  const error = `must be an integer from ${min} to ${max}`;
  return z.coerce.number({ error }).int({ error }).min(min, { error }).max(max, { error });
};
const bool = z.union([z.boolean(), z.enum(['true', 'false']).transform((v) => v === 'true')], { error: 'must be true or false' });
/** One of a fixed list of values, with the list in the message. */
const oneOf = <const T extends readonly [string, ...string[]]>(values: T) => z.enum(values, { error: `must be one of ${values.join(', ')}` });
const arn = (service: string, what: string) =>
  z.string().regex(new RegExp(`^arn:aws[a-z-]*:${service}:[a-z0-9-]*:\\d{12}:.+$`), `must be ${what} ARN (arn:aws:${service}:…)`);
/**
 * A Secrets Manager secret by its complete ARN: the name and the 6 characters Secrets Manager appends (-AbCdEf).
 * The event source mapping and IAM need the complete ARN (a partial one matches no secret in a policy).
 */
export const secretArn = z.string().regex(
  /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+-[A-Za-z0-9]{6}$/,
  'must be the complete ARN of a Secrets Manager secret, ending in the 6 characters Secrets Manager appends to the name ' +
    '(arn:aws:secretsmanager:<region>:<account>:secret:<name>-AbCdEf; `aws secretsmanager describe-secret --secret-id <name>` prints it)',
);
/**
 * S3 table bucket names (S3 User Guide, table bucket naming rules): 3-63 of a-z 0-9 -, beginning and ending with a
 * letter or digit, not beginning with xn--, sthree-, amzn-s3-demo- or aws, not ending with -s3alias, --ol-s3,
 * --x-s3 or --table-s3.
 */
export const TABLE_BUCKET_NAME = /^(?!aws|xn--|sthree-|amzn-s3-demo-)(?!.*(-s3alias|--ol-s3|--x-s3|--table-s3)$)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/;
const TABLE_BUCKET_RULE = 'must be an S3 table bucket name: 3-63 of a-z 0-9 -, starting and ending with a letter or digit, not starting with aws, xn--, sthree- or amzn-s3-demo-, not ending with -s3alias, --ol-s3, --x-s3 or --table-s3';
/** Names of pipelines: they prefix stacks, consumer groups, the table bucket and the metrics' service dimension. */
export const PIPELINE_NAME = /^[a-z](?:[a-z0-9-]{0,22}[a-z0-9])?$/;
/** Consumer group IDs as the event source mapping takes them (AWS::Lambda::EventSourceMapping ConsumerGroupId). */
export const CONSUMER_GROUP_ID = /^[a-zA-Z0-9\-/:_+=.@]{1,200}$/;

/** CloudWatch Logs accepts only these retention periods. */
export const LogRetentionDays = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653] as const;

export const ContextSchema = z.object({
  pipeline: z.string().regex(PIPELINE_NAME, 'must be 1-24 of a-z 0-9 -, starting with a letter and not ending with -')
    .refine((v) => v !== 'kafka-s3', 'is the name of the unnamed pipeline (its groups, table bucket and metrics); choose another or leave pipeline unset')
    .refine((v) => !/^(aws|xn--|sthree-|amzn-s3-demo-)/.test(v), 'must not start with aws, xn--, sthree- or amzn-s3-demo- (it begins the table bucket\'s name, and S3 reserves these)').optional()
    .describe('Name of this pipeline: prefixes the stacks (<pipeline>-KafkaS3DirectStack), consumer groups, table bucket and metrics, so pipelines deploy side by side; unset = kafka-s3 with the stack names unprefixed.'),
  // Source
  mskClusterArn: z.string().regex(/^arn:aws[a-z-]*:kafka:[a-z0-9-]+:\d{12}:cluster\/[^/\s]+\/[^/\s]+$/, 'must be an MSK cluster ARN (arn:aws:kafka:<region>:<account>:cluster/<name>/<uuid>)').optional().describe('MSK cluster to read from (or bootstrapServers for self-managed Kafka).'),
  bootstrapServers: list.pipe(z.array(z.string().regex(/^[A-Za-z0-9.-]+:\d{1,5}$/, 'must be host:port')).min(1)).optional()
    .describe('Self-managed Kafka brokers, comma list of host:port.'),
  vpcId: z.string().regex(/^vpc-[0-9a-f]{8,17}$/, 'must be a VPC ID (vpc-…)').optional().describe('VPC of self-managed brokers.'),
  subnetIds: list.pipe(z.array(z.string().regex(/^subnet-[0-9a-f]{8,17}$/, 'must be subnet IDs (subnet-…)')).min(1)).optional()
    .describe('Subnets for the event source to reach self-managed brokers (with vpcId).'),
  securityGroupIds: list.pipe(z.array(z.string().regex(/^sg-[0-9a-f]{8,17}$/, 'must be security group IDs (sg-…)')).min(1)).optional()
    .describe('Security groups for the event source (with vpcId).'),
  kafkaAuth: oneOf(['iam', 'scram512', 'scram256', 'mtls', 'none']).describe('Kafka authentication.'),
  kafkaSecretArn: secretArn.optional().describe('Secret with SCRAM credentials or the mTLS client certificate.'),
  kafkaSecretKmsKeyArn: arn('kms', 'a KMS key').optional().describe('Customer-managed key the secret is encrypted with (MSK SCRAM secrets must use one).'),
  // AWS::Lambda::EventSourceMapping Topics: 1-249 characters, pattern ^[^.]([a-zA-Z0-9\-_.]+) (so at least 2, not starting with '.').
  topics: list.pipe(z.array(z.string().regex(/^[A-Za-z0-9_-][A-Za-z0-9._-]{1,248}$/, 'must be Kafka topic names of 2-249 of A-Z a-z 0-9 . _ -, not starting with . (the event source mapping\'s Topics pattern)')).min(1, 'must name at least one topic'))
    .describe('Topics, comma list: one event source mapping per topic.'),
  kafkaRootCaSecretArn: secretArn.optional()
    .describe('Self-managed Kafka with TLS: secret holding the root CA certificate ({"certificate": PEM}) of brokers whose certificates a private CA signed.'),
  // No '*': a group name with a wildcard would widen the IAM grant on groups (kafka-cluster:AlterGroup) to other groups.
  consumerGroupPrefix: z.string().regex(/^[a-zA-Z0-9\-/:_+=.@]{1,150}$/, 'must be 1-150 of a-z A-Z 0-9 - / : _ + = . @ (no *)').optional()
    .describe('Start of each mapping\'s consumer group (<prefix>-<topic>-<8 hex>); unset = <pipeline>-direct or <pipeline>-tables.'),
  consumerGroupIds: z.string().optional()
    .describe('Direct stack: exact consumer groups per topic, topic=group comma list (e.g. to continue from an existing group); each unique.'),
  startingPosition: oneOf(['LATEST', 'TRIM_HORIZON', 'AT_TIMESTAMP']).describe('Where a new consumer group starts reading (an existing group continues from its committed offsets).'),
  startingTimestamp: z.string().optional().describe('With AT_TIMESTAMP: ISO-8601 time or epoch seconds, not in the future.'),
  // Registry-framed values: decoded by the stack's function (any mode), or by the event source itself (Lambda guide,
  // services-consume-kafka-events: provisioned mode only).
  schemaRegistry: z.string().regex(/^(arn:aws[a-z-]*:glue:[a-z0-9-]+:\d{12}:registry\/[A-Za-z0-9_$#.-]{1,255}|https?:\/\/[^\s/?#@]+(:\d{1,5})?(\/[^\s?#]*)?)$/,
    'must be an AWS Glue schema registry ARN (arn:aws:glue:<region>:<account>:registry/<name>) or a Confluent-compatible registry URL (https://host[:port][/path], no credentials in it: use schemaRegistrySecretArn)')
    .optional().describe('Registry of registry-framed values (Avro, Protobuf, JSON Schema): a Glue registry ARN or a Confluent-compatible URL; decoded per schemaRegistryDecoder.'),
  schemaRegistryDecoder: oneOf(['function', 'eventSource']).describe('With schemaRegistry: who decodes — the stack\'s function (the sink or forwarder: any mode, dead letters for undecodable values) or the event source (provisioned mode only).'),
  schemaRegistryFormat: oneOf(['json', 'source']).describe('With schemaRegistryDecoder=eventSource: records delivered as JSON (valueEncoding json or text) or as their payload without the registry framing (source: valueEncoding base64).'),
  schemaRegistryAttributes: oneOf(['value', 'key', 'key,value']).describe('With schemaRegistry: what is registry-framed and decoded: the value, the key, or both.'),
  schemaRegistryAuth: oneOf(['basic', 'mtls']).describe('With a Confluent schemaRegistry: how to authenticate (basic: {"username","password"}; mtls: a client certificate, schemaRegistryDecoder=eventSource only), with schemaRegistrySecretArn.'),
  schemaRegistrySecretArn: secretArn.optional().describe('With a Confluent schemaRegistry: the secret with its credentials (complete ARN); optional when the function decodes a registry without authentication.'),
  // Batching and retries
  batchSize: int(1, 10_000).describe('Records per invocation at most.'),
  maxBatchingWindowSeconds: int(0, 300).describe('Seconds to gather records before invoking (Kafka default 0.5 s; any value once set).'),
  retryAttempts: int(-1, 10_000).describe('Retries of a failed batch; -1 = until the records expire, but at most 10 when onFailure is set (provisioned mode for other values).'),
  maxRecordAgeSeconds: z.coerce.number({ error: 'must be -1 or 60-604800' }).int('must be -1 or 60-604800').refine((v) => v === -1 || (v >= 60 && v <= 604_800), 'must be -1 or 60-604800')
    .describe('Discard records older than this; -1 = never (provisioned mode for other values).'),
  bisectOnError: bool.describe('Split a failed batch in two and retry each half (provisioned mode).'),
  minPollers: int(1, 200).optional().describe('Provisioned mode: minimum event pollers.'),
  maxPollers: int(1, 2000).optional().describe('Provisioned mode: maximum event pollers.'),
  onFailure: oneOf(['s3', 'sqs', 'none']).describe('Where the event source sends a batch it gives up on (then it moves on); needs a VPC endpoint for that service in the cluster\'s VPC.'),
  vpcEndpoints: bool.optional()
    .describe('With vpcId: create the PrivateLink endpoints the event source needs in that VPC (Lambda, STS, Secrets Manager when a secret is used, SQS or S3 for onFailure).'),
  // Output
  bucketName: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be an S3 bucket name').optional()
    .describe('Existing bucket to write to; unset creates one.'),
  prefix: z.string().describe('Prefix of data objects.'),
  errorPrefix: str.describe('Prefix of dead-letter objects.'),
  statePrefix: str.describe('Prefix of the per-partition checkpoints that make delivery exactly-once; one pipeline per bucket and statePrefix.'),
  format: oneOf(Formats).describe('Output format.'),
  compression: z.string().optional().describe('Compression or codec (allowed values depend on format).'),
  keyTemplate: str.describe('Object key template.'),
  fields: z.string().optional().describe('Comma list of key,value,headers,topic,partition,offset,timestamp.'),
  timezone: str.describe('IANA time zone for {{timestamp:…}}.'),
  maxRecordsPerObject: int(1, 10_000_000).describe('Records per object at most (offset-aligned cuts).'),
  tombstones: oneOf(TombstoneModes).describe('Null values: ignore, write or deadletter.'),
  transformSql: z.string().optional().describe('Direct stack: one SELECT … FROM input run on every batch (DuckDB SQL); its rows are what is written (README, "Transform with SQL").'),
  filterRegex: z.string().optional().describe('Write only records whose value matches (RE2 syntax: linear time, no lookaround or backreferences).'),
  valueEncoding: oneOf(['json', 'text', 'base64']).describe('Value as JSON, UTF-8 text or base64.'),
  keyEncoding: oneOf(['text', 'base64']).describe('Key as UTF-8 text or base64.'),
  headerEncoding: oneOf(['text', 'base64']).describe('Header values as UTF-8 text or base64 (binary headers).'),
  schemaFile: z.string().optional().describe('Avro schema file for avro/parquet/csv (bundled with the function).'),
  // Security
  encryption: oneOf(['s3', 'kms']).describe('Bucket encryption: SSE-S3 or SSE-KMS.'),
  kmsKeyArn: arn('kms', 'a KMS key').optional().describe('KMS key for encryption=kms (unset creates one).'),
  crossAccountRoleArn: arn('iam', 'an IAM role').optional().describe('Write through this role in the bucket owner\'s account.'),
  externalId: z.string().min(2, 'must be 2-1224 characters').max(1224, 'must be 2-1224 characters').optional().describe('External ID for crossAccountRoleArn.'),
  s3CredentialsSecretArn: secretArn.optional()
    .describe('Write with the long-term access keys in this secret (JSON accessKeyId, secretAccessKey), read at cold start and on rotation; a role (crossAccountRoleArn) is better.'),
  s3CredentialsSecretKmsKeyArn: arn('kms', 'a KMS key').optional().describe('Customer-managed key the s3CredentialsSecretArn secret is encrypted with.'),
  // Function
  memoryMb: int(128, 10_240).describe('Function memory (MB).'),
  timeoutSeconds: int(1, 840).describe('Function timeout (≤ 840: Kafka event sources need ≤ 14 min).'),
  architecture: oneOf(['arm64', 'x86_64']).describe('Function architecture.'),
  reservedConcurrency: int(1, 10_000).optional().describe('Reserved concurrency of the function.'),
  logRetentionDays: z.coerce.number({ error: `must be one of ${LogRetentionDays.join(', ')}` }).refine((v) => (LogRetentionDays as readonly number[]).includes(v), `must be one of ${LogRetentionDays.join(', ')}`)
    .describe('Log retention (days).'),
  // Operations
  offsetLagAlarmThreshold: int(1, 1_000_000_000).describe('Alarm when the event source\'s OffsetLag exceeds this.'),
  alarmTopicArn: arn('sns', 'an SNS topic').optional().describe('Send alarms to this SNS topic.'),
  alarmEmail: z.email('must be an email address').optional().describe('Send alarms to this address (creates a topic).'),
  // S3 Tables stack (KafkaS3TablesStack)
  tablesSource: oneOf(['kinesis', 'msk']).describe('Tables stack: Kafka → forwarder → Kinesis → Firehose, or Firehose reading MSK directly.'),
  tableBucketName: z.string().regex(TABLE_BUCKET_NAME, TABLE_BUCKET_RULE).optional()
    .describe('Tables stack: name of the S3 table bucket to create (unique in the account and region); unset = <pipeline>-tables.'),
  namespace: z.string().regex(/^(?!aws)[a-z0-9][a-z0-9_]{0,253}[a-z0-9]$|^[a-z0-9]$/, 'must be 1-255 of a-z 0-9 _, starting and ending with a letter or digit, not starting with aws')
    .describe('Tables stack: namespace (Glue database) of the tables.'),
  tables: z.string().optional().describe('Tables stack: topic=table pairs, comma list; unset = one table per topic, named after it.'),
  tableSchemaFile: z.string().optional().describe('Tables stack: Iceberg columns of the value (Avro record schema, {"columns":[…]} or {"tables":{…}}).'),
  tableColumns: z.string().optional().describe('Tables stack: inline value columns name:type[!], comma list (! = required).'),
  kinesisShardCount: int(1, 10_000).optional().describe('Tables stack: provisioned shards; unset = on-demand stream.'),
  firehoseBufferSeconds: int(0, 900).describe('Tables stack: Firehose buffering interval (seconds).'),
  firehoseBufferMb: int(1, 128).describe('Tables stack: Firehose buffering size (MB).'),
  firehoseRetrySeconds: int(0, 7200).describe('Tables stack: how long Firehose retries a failed delivery (seconds).'),
  appendOnly: bool.describe('Tables stack: append rows (true), or upsert on topic+partition+offset to drop duplicates of retried batches (false).'),
  lakeFormation: bool.describe('Tables stack: grant Firehose through Lake Formation (LF access mode) instead of IAM; the deploy role must be a Lake Formation data lake administrator or hold the granted permissions with grant option.'),
  createTablesCatalog: bool.describe('Tables stack: create the s3tablescatalog Glue catalog (S3 Tables analytics integration), once per account and region.'),
  freshnessAlarmSeconds: int(60, 86_400).describe('Tables stack: alarm when Firehose data freshness exceeds this.'),
  // Glue Data Catalog over the direct stack's objects (lib/catalog.ts)
  catalog: bool.describe('Direct stack: register a Glue database and a table per topic over the objects, with Athena partition projection from keyTemplate (avro, parquet and csv need schemaFile).'),
  catalogDatabase: z.string().regex(GLUE_NAME, 'must be 1-255 of a-z 0-9 _ (Glue and Athena database names)').optional()
    .describe('Direct stack: name of the Glue database; unset = the pipeline name with _ for - (kafka_s3).'),
  catalogTables: z.string().optional().describe('Direct stack: topic=table pairs, comma list; unset = one table per topic, named after it (topics sharing a table need a name={{topic}} directory in keyTemplate, or the topic in no directory).'),
  catalogPartitionCount: int(1, 100_000).optional().describe('Direct stack: the topics\' partition count, the projected range of a {{partition}} directory in keyTemplate.'),
  catalogStartDate: z.string({ error: 'must be a date YYYY-MM-DD' }).refine((v) => {
    const d = new Date(`${v}T00:00:00Z`);
    return /^\d{4}-\d{2}-\d{2}$/.test(v) && !Number.isNaN(d.getTime()) && d.toISOString().startsWith(v);
  }, 'must be a date YYYY-MM-DD')
    .describe('Direct stack: first day of the projected time partitions (objects of earlier days are not queried; every day since is listed by a query that does not filter on time).'),
  // Compaction of the direct stack's objects (lambdas/compactor)
  compaction: bool.describe('Direct stack: merge each closed window (keyTemplate\'s time directories) into files of compactionTargetMb under compactedPrefix, with a manifest per window (jsonl, csv, csv_with_headers, avro, parquet; offset in fields).'),
  compactedPrefix: z.string().regex(/^[^/].{0,254}\/$/, 'must be 2-256 characters ending with / (not starting with /)').describe('Direct stack: where the compactor writes: data/, manifests/, symlinks/ below it.'),
  compactionTargetMb: int(1, 5120).describe('Direct stack: compressed size a compacted file aims at (MB).'),
  compactionGraceMinutes: int(0, 10_080).describe('Direct stack: how long after a window\'s end it is compacted (later records are merged by a later run).'),
  compactionScheduleMinutes: int(1, 1440).describe('Direct stack: minutes between compaction runs.'),
  compactionRawRetentionDays: int(1, 3650).describe('Direct stack: days after they were written that raw objects merged into a published window are removed (lifecycle rule).'),
  compactionMemoryMb: int(512, 10_240).describe('Direct stack: memory of the compactor function (MB).'),
  // Serverless replay (KafkaS3ReplayStack: lambdas/replay)
  replay: bool.describe('Add KafkaS3ReplayStack: a state machine that replays objects of the bucket back into Kafka on demand, over MSK IAM (README, "Replay").'),
  replaySource: oneOf(['sink', 'dead-letters', 'foreign']).describe('Replay stack: what it replays: the sink\'s objects (under prefix), its dead letters (under errorPrefix), or objects other tools wrote (under replayPrefix).'),
  replayPrefix: z.string().max(512).optional().describe('Replay stack: prefix of the objects replayed (its only read grant); unset = prefix, or errorPrefix for dead letters; required for foreign objects.'),
  replayTargetTopic: z.string().regex(/^[A-Za-z0-9._-]{1,249}$/, 'must be a Kafka topic name (1-249 of A-Z a-z 0-9 . _ -)').optional()
    .describe('Replay stack: the topic records go to (its only write grant); unset = the topic each came from, one of topics; required for foreign objects.'),
  replayPartitioning: oneOf(['keep', 'key']).optional().describe('Replay stack: keep (the source partition) or key (Java\'s default partitioner); unset = keep, key for foreign objects.'),
  replayBootstrapServers: list.pipe(z.array(z.string().regex(/^[A-Za-z0-9.-]+:\d{1,5}$/, 'must be host:port')).min(1)).optional()
    .describe('Replay stack: the cluster\'s IAM bootstrap brokers, comma list of host:port (port 9098: aws kafka get-bootstrap-brokers).'),
  replaySubnetIds: list.pipe(z.array(z.string().regex(/^subnet-[0-9a-f]{8,17}$/, 'must be subnet IDs (subnet-…)')).min(1)).optional()
    .describe('Replay stack: subnets of the replay function in the cluster\'s VPC, with a route to S3 (a gateway endpoint or NAT).'),
  replaySecurityGroupIds: list.pipe(z.array(z.string().regex(/^sg-[0-9a-f]{8,17}$/, 'must be security group IDs (sg-…)')).min(1)).optional()
    .describe('Replay stack: security groups of the replay function; the brokers\' group must admit them on port 9098.'),
  replayConcurrency: int(1, 1000).describe('Replay stack: streams (source partitions) replayed at once.'),
  replayMemoryMb: int(256, 10_240).describe('Replay stack: memory of the replay function (MB).'),
});

export type ContextInput = z.input<typeof ContextSchema>;
type Parsed = z.output<typeof ContextSchema>;

export interface AppConfig extends Omit<Parsed, 'tableBucketName'> {
  /** The pipeline name (default kafka-s3) and whether the user set one (then stack names carry it). */
  readonly pipelineName: string;
  readonly pipelineNamed: boolean;
  /** Tables stack: the table bucket's name (tableBucketName, or <pipeline>-tables). */
  readonly tableBucketName: string;
  /** consumerGroupIds parsed: topic → the exact group the user set. */
  readonly pinnedConsumerGroups: ReadonlyMap<string, string>;
  readonly startingTimestampSeconds?: number;
  readonly provisioned: boolean;
  /** Environment of the sink function, validated by the sink's own schema at synth. */
  readonly sinkEnvironment: Record<string, string>;
  readonly schemaText?: string;
  /** Tables stack: topic → table. */
  readonly tableRoutes: ReadonlyMap<string, string>;
  /** Tables stack: value columns per table; undefined = the value as text in _kafka_value. */
  readonly tableColumnsByTable?: ReadonlyMap<string, IcebergColumn[]>;
  /** Tables stack: the forwarder's environment from the context (the stack adds stream, bucket and prefix),
   * validated by the forwarder's own schema at synth. */
  readonly forwarderEnvironment: Record<string, string>;
  /** Direct stack: the Glue database and tables to register (catalog=true). */
  readonly catalogConfig?: CatalogConfig;
}

/** Lambda refuses a function whose environment (names, values and their encoding) exceeds 4 KB. */
export const LAMBDA_ENVIRONMENT_LIMIT_BYTES = 4096;

/** Where the forwarder writes dead letters in the error bucket (its policy is scoped to this prefix). */
export const FORWARDER_ERROR_PREFIX = 'forwarder-dead-letters/';

/**
 * Where the forwarder keeps its per-partition checkpoints in the error bucket (lambdas/shared/progress.ts; its
 * checkpoint grants are scoped to this prefix). The error bucket belongs to its stack alone, so no other pipeline
 * shares these keys. The forwarder's own default (lambdas/forwarder/config.ts), set explicitly.
 */
export const FORWARDER_STATE_PREFIX = 'forwarder-checkpoints/';

/** The forwarder variables the stack adds, at their longest (stream and bucket names are tokens at synth). */
export const FORWARDER_STACK_VARIABLES: Readonly<Record<string, string>> = {
  STREAM_NAME: 's'.repeat(128), ERROR_BUCKET: 'b'.repeat(63), ERROR_PREFIX: FORWARDER_ERROR_PREFIX, STATE_PREFIX: FORWARDER_STATE_PREFIX,
  POWERTOOLS_SERVICE_NAME: 'kafka-s3-forwarder', NODE_OPTIONS: '--enable-source-maps',
};

/** Size of a function environment as Lambda counts it, approximated from above by its JSON text. */
export const environmentBytes = (env: Readonly<Record<string, string>>): number => Buffer.byteLength(JSON.stringify(env));

/** Sink environment variable → the context key users set. */
const ENV_TO_CONTEXT: Record<string, string> = {
  BUCKET_NAME: 'bucketName', PREFIX: 'prefix', ERROR_PREFIX: 'errorPrefix', STATE_PREFIX: 'statePrefix', FORMAT: 'format', COMPRESSION: 'compression',
  KEY_TEMPLATE: 'keyTemplate', FIELDS: 'fields', TIMEZONE: 'timezone', MAX_RECORDS_PER_OBJECT: 'maxRecordsPerObject',
  TOMBSTONES: 'tombstones', FILTER_REGEX: 'filterRegex', VALUE_ENCODING: 'valueEncoding', KEY_ENCODING: 'keyEncoding',
  AVRO_SCHEMA: 'schemaFile', AVRO_SCHEMA_FILE: 'schemaFile', CROSS_ACCOUNT_ROLE_ARN: 'crossAccountRoleArn', EXTERNAL_ID: 'externalId',
  S3_CREDENTIALS_SECRET_ARN: 's3CredentialsSecretArn', SCHEMA_REGISTRY: 'schemaRegistry', SCHEMA_REGISTRY_ATTRIBUTES: 'schemaRegistryAttributes',
  SCHEMA_REGISTRY_SECRET_ARN: 'schemaRegistrySecretArn', TRANSFORM_SQL: 'transformSql',
};


/** TRANSFORM_SQL as the engine checks it, from a child process (synth is synchronous, the engine not): its problems,
 * and whether one record can make several rows. */
function transformSqlCheck(env: Record<string, string>): { problems: string[]; multiRow: boolean } {
  const script = fileURLToPath(new URL('../lambdas/shared/transform/check-cli.ts', import.meta.url));
  try {
    return JSON.parse(execFileSync(process.execPath, [script], { input: JSON.stringify(env), encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] })) as { problems: string[]; multiRow: boolean };
  } catch (err) {
    return { problems: [`could not be checked: the SQL engine failed to run here (${String((err as { stderr?: string }).stderr || (err as Error).message).trim().split('\n')[0]})`], multiRow: false };
  }
}

/** Where the sink function finds a bundled schema file. */
export const BUNDLED_SCHEMA_PATH = '/var/task/value-schema.avsc';

/** The pipeline name when none is set: the names of earlier versions (kafka-s3-tables, the kafka-s3-sink service). */
export const DEFAULT_PIPELINE = 'kafka-s3';

/** Sink keys whose checks depend on another key: when that one is invalid, their checks would judge against a default. */
const DEPENDS_ON: Readonly<Record<string, readonly string[]>> = {
  compression: ['format'], schemaFile: ['format'], fields: ['format'], keyTemplate: ['format', 'timezone'],
};

/**
 * Validates the context (cdk.json defaults merged with -c values). `get` reads one key (app.node.tryGetContext).
 * `baseDir` resolves relative paths such as schemaFile. `contextKeys`, every key the context holds
 * (app.node.getAllContext()), lets a key the app does not know fail synth instead of being ignored; `now` is the
 * time a starting timestamp must not be after.
 */
/**
 * startingTimestamp as epoch seconds, or what is wrong with it. Only forms that mean one instant everywhere: epoch
 * seconds, or ISO-8601 with a time and a zone (Z or ±hh:mm); a time without a zone would depend on the machine's.
 */
export function parseStartingTimestamp(text: string): number | string {
  if (/^\d+$/.test(text)) {
    const n = Number(text);
    if (n <= 0) return 'not a time after 1970 (epoch seconds must be positive)';
    if (text.length >= 13) return `looks like epoch milliseconds (${new Date(n).toISOString()}); give epoch seconds (${Math.floor(n / 1000)}) or ISO-8601`;
    return n;
  }
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/.exec(text);
  const t = m ? Date.parse(text) : NaN;
  if (!m || !Number.isFinite(t)) return 'not epoch seconds or an ISO-8601 time with a zone (2024-05-01T12:00:00Z, 2024-05-01T14:00:00+02:00)';
  if (t <= 0) return 'not a time after 1970';
  return t / 1000;
}

export function loadAppConfig(get: (key: string) => unknown, baseDir = process.cwd(), contextKeys?: readonly string[], now = Date.now()): AppConfig {
  const input: Record<string, unknown> = {};
  for (const key of Object.keys(ContextSchema.shape)) {
    const v = get(key);
    // An empty -c value means unset, except prefix: `-c prefix=` writes at the bucket root (the sink's PREFIX='').
    if (v !== undefined && v !== null && (v !== '' || key === 'prefix')) input[key] = v;
  }
  const problems: string[] = contextKeys ? unknownContextKeyProblems(contextKeys, Object.keys(ContextSchema.shape)) : [];
  if (input.topics === undefined) problems.push(`topics: required (which Kafka topics to land), e.g. ${EXAMPLE}`);
  if (input.mskClusterArn === undefined && input.bootstrapServers === undefined) {
    problems.push(`mskClusterArn or bootstrapServers: one is required (which cluster to read), e.g. ${EXAMPLE}`);
  }
  // Each key is parsed on its own so that a bad value does not hide the problems of the others; checks that
  // combine keys run only on keys that parsed.
  const parsed = parseSettings(ContextSchema, input);
  const failed = new Set(parsed.failed);
  // A missing topics list is already reported above, with an example command.
  problems.push(...parsed.problems.filter((p) => !(input.topics === undefined && p.startsWith('topics='))));
  if (input.topics === undefined) failed.add('topics');
  const c = parsed.values as Parsed;
  const ok = (...keys: (keyof Parsed)[]) => keys.every((k) => !failed.has(k));

  if (c.mskClusterArn && c.bootstrapServers) problems.push(`bootstrapServers=${show(c.bootstrapServers)}: set mskClusterArn or bootstrapServers, not both`);
  if (ok('mskClusterArn', 'bootstrapServers') && c.kafkaAuth === 'iam' && !c.mskClusterArn) problems.push(`kafkaAuth='iam': IAM authentication needs mskClusterArn (self-managed Kafka: scram512, scram256, mtls or none)`);
  if (c.kafkaAuth === 'none' && c.mskClusterArn) problems.push(`kafkaAuth='none': MSK event sources authenticate with iam, scram512 or mtls`);
  if (c.kafkaAuth === 'scram256' && c.mskClusterArn) problems.push(`kafkaAuth='scram256': MSK supports SCRAM-SHA-512 only (use scram512)`);
  if (ok('kafkaSecretArn') && (c.kafkaAuth === 'scram512' || c.kafkaAuth === 'scram256' || c.kafkaAuth === 'mtls') && !c.kafkaSecretArn) {
    problems.push(`kafkaSecretArn=(unset): required with kafkaAuth='${c.kafkaAuth}' (the secret with the credentials or client certificate)`);
  }
  if (c.kafkaSecretArn && (c.kafkaAuth === 'iam' || c.kafkaAuth === 'none')) {
    problems.push(`kafkaSecretArn=${show(c.kafkaSecretArn)}: not used with kafkaAuth='${c.kafkaAuth}'`);
  }
  const vpcParts = [c.vpcId, c.subnetIds, c.securityGroupIds].filter((x) => x !== undefined).length;
  if (ok('vpcId', 'subnetIds', 'securityGroupIds') && vpcParts > 0 && vpcParts < 3) problems.push(`vpcId/subnetIds/securityGroupIds: set all three to reach brokers in a VPC, or none`);
  if (vpcParts > 0 && c.mskClusterArn) problems.push(`vpcId=${show(c.vpcId)}: only for self-managed Kafka (MSK networking comes from the cluster)`);

  let startingTimestampSeconds: number | undefined;
  if (c.startingPosition === 'AT_TIMESTAMP' && ok('startingTimestamp')) {
    if (!c.startingTimestamp) problems.push(`startingTimestamp=(unset): required with startingPosition='AT_TIMESTAMP' (ISO-8601 or epoch seconds)`);
    else {
      const t = parseStartingTimestamp(c.startingTimestamp);
      if (typeof t === 'string') problems.push(`startingTimestamp=${show(c.startingTimestamp)}: ${t}`);
      // Lambda refuses a StartingPositionTimestamp in the future (CreateEventSourceMapping, StartingPositionTimestamp).
      else if (t * 1000 > now) problems.push(`startingTimestamp=${show(c.startingTimestamp)}: is in the future (${new Date(t * 1000).toISOString()}); the event source accepts only a time that has passed`);
      else startingTimestampSeconds = Math.floor(t);
    }
  } else if (c.startingTimestamp && ok('startingPosition')) {
    problems.push(`startingTimestamp=${show(c.startingTimestamp)}: only with startingPosition='AT_TIMESTAMP'`);
  }

  const provisioned = c.minPollers !== undefined || c.maxPollers !== undefined;
  if (!ok('minPollers', 'maxPollers')) {
    // reported above
  } else if (provisioned && (c.minPollers === undefined || c.maxPollers === undefined)) {
    problems.push(`minPollers/maxPollers: provisioned mode needs both`);
  } else if (provisioned && c.minPollers! > c.maxPollers!) {
    problems.push(`minPollers=${show(c.minPollers)}: must not exceed maxPollers=${show(c.maxPollers)}`);
  }
  problems.push(...schemaRegistryProblems(c, provisioned, ok));
  if (!provisioned && ok('minPollers', 'maxPollers')) {
    if (ok('retryAttempts') && c.retryAttempts !== -1) problems.push(`retryAttempts=${show(c.retryAttempts)}: Kafka retry controls need provisioned mode (set minPollers and maxPollers) or -1`);
    if (ok('maxRecordAgeSeconds') && c.maxRecordAgeSeconds !== -1) problems.push(`maxRecordAgeSeconds=${show(c.maxRecordAgeSeconds)}: needs provisioned mode (minPollers, maxPollers) or -1`);
    if (c.bisectOnError) problems.push(`bisectOnError='true': needs provisioned mode (minPollers, maxPollers)`);
  }

  const allowed: readonly string[] = ok('format') ? CompressionsByFormat[c.format as Format] : [];
  if (ok('format') && c.compression !== undefined && !allowed.includes(c.compression)) {
    problems.push(`compression=${show(c.compression)}: not allowed for format=${c.format}; expected one of ${allowed.join(', ')}`);
  }
  if (c.kafkaSecretKmsKeyArn && ok('kafkaSecretArn') && !c.kafkaSecretArn) problems.push(`kafkaSecretKmsKeyArn=${show(c.kafkaSecretKmsKeyArn)}: only with kafkaSecretArn`);
  if (c.mskClusterArn && c.kafkaAuth === 'scram512' && c.kafkaSecretArn && !c.kafkaSecretKmsKeyArn) {
    problems.push(`kafkaSecretKmsKeyArn=(unset): MSK accepts only SCRAM secrets encrypted with a customer-managed key; name it so the event source may decrypt the secret`);
  }
  if (c.bootstrapServers && c.kafkaAuth === 'none' && !c.vpcId && !c.subnetIds && !c.securityGroupIds) {
    problems.push(`kafkaAuth='none': brokers without authentication must be reached in a VPC (set vpcId, subnetIds, securityGroupIds)`);
  }
  if (ok('topics') && c.topics && new Set(c.topics).size !== c.topics.length) problems.push(`topics=${show(c.topics)}: a topic is listed twice`);
  if (c.crossAccountRoleArn && c.encryption === 'kms' && !c.kmsKeyArn) {
    problems.push(`encryption='kms': with crossAccountRoleArn, name the bucket owner's key in kmsKeyArn (a key created here is not usable by the other account's role)`);
  }
  if (c.kmsKeyArn && ok('encryption') && c.encryption !== 'kms') problems.push(`kmsKeyArn=${show(c.kmsKeyArn)}: only with encryption='kms'`);
  if (c.externalId && ok('crossAccountRoleArn') && !c.crossAccountRoleArn) problems.push(`externalId: only with crossAccountRoleArn`);
  if (c.crossAccountRoleArn && ok('bucketName') && !c.bucketName) problems.push(`crossAccountRoleArn: needs bucketName (the bucket in the other account)`);
  if (c.s3CredentialsSecretArn && c.crossAccountRoleArn) problems.push(`s3CredentialsSecretArn: set crossAccountRoleArn or s3CredentialsSecretArn, not both`);
  if (c.s3CredentialsSecretArn && ok('bucketName') && !c.bucketName) problems.push(`s3CredentialsSecretArn: needs bucketName (the existing bucket the keys may write to)`);
  if (c.s3CredentialsSecretArn && c.encryption === 'kms' && !c.kmsKeyArn) problems.push(`encryption='kms': with s3CredentialsSecretArn, name the bucket owner's key in kmsKeyArn (a key created here is not usable by the keys' owner)`);
  if (c.s3CredentialsSecretKmsKeyArn && ok('s3CredentialsSecretArn') && !c.s3CredentialsSecretArn) problems.push(`s3CredentialsSecretKmsKeyArn=${show(c.s3CredentialsSecretKmsKeyArn)}: only with s3CredentialsSecretArn`);
  if (c.alarmTopicArn && c.alarmEmail) problems.push(`alarmEmail=${show(c.alarmEmail)}: set alarmTopicArn or alarmEmail, not both`);
  // MSK: "the secret name must begin with the prefix AmazonMSK_" (Amazon MSK developer guide, SASL/SCRAM authentication).
  if (c.mskClusterArn && c.kafkaAuth === 'scram512' && c.kafkaSecretArn && !/:secret:AmazonMSK_/.test(c.kafkaSecretArn)) {
    problems.push(`kafkaSecretArn=${show(c.kafkaSecretArn)}: MSK uses only SCRAM secrets whose name begins with AmazonMSK_`);
  }
  // SERVER_ROOT_CA_CERTIFICATE is a self-managed Kafka access configuration (Lambda guide, self-managed Kafka, mTLS):
  // MSK brokers present certificates of Amazon's CA.
  if (c.kafkaRootCaSecretArn && c.mskClusterArn) problems.push(`kafkaRootCaSecretArn=${show(c.kafkaRootCaSecretArn)}: only for self-managed Kafka (MSK brokers use certificates the event source already trusts)`);
  if (c.kafkaRootCaSecretArn && c.kafkaAuth === 'none' && ok('kafkaAuth')) problems.push(`kafkaRootCaSecretArn=${show(c.kafkaRootCaSecretArn)}: a root CA is for brokers reached over TLS (kafkaAuth scram512, scram256 or mtls)`);
  if (c.vpcEndpoints && ok('vpcId') && !c.vpcId) {
    problems.push(`vpcEndpoints='true': needs vpcId, subnetIds and securityGroupIds (the VPC of self-managed brokers; for MSK, create the endpoints in the cluster's VPC yourself)`);
  }
  const pinnedConsumerGroups = new Map<string, string>();
  if (c.consumerGroupIds !== undefined) {
    const seen = new Map<string, string>();
    for (const pair of c.consumerGroupIds.split(',').map((x) => x.trim()).filter(Boolean)) {
      const at = pair.indexOf('=');
      const topic = at < 0 ? '' : pair.slice(0, at).trim();
      const group = at < 0 ? '' : pair.slice(at + 1).trim();
      if (!topic || !group) problems.push(`consumerGroupIds=${show(c.consumerGroupIds)}: '${pair}' is not topic=group`);
      else if (!CONSUMER_GROUP_ID.test(group)) problems.push(`consumerGroupIds=${show(c.consumerGroupIds)}: group '${group}' must be 1-200 of a-z A-Z 0-9 - / : _ + = . @ (no *, which would widen the IAM grant on groups)`);
      else if (ok('topics') && c.topics && !c.topics.includes(topic)) problems.push(`consumerGroupIds=${show(c.consumerGroupIds)}: '${topic}' is not one of the topics (${c.topics.join(', ')})`);
      else if (pinnedConsumerGroups.has(topic)) problems.push(`consumerGroupIds=${show(c.consumerGroupIds)}: topic '${topic}' is given twice`);
      // "The consumer group ID that you specify must be unique among all your Kafka event sources" (Lambda guide,
      // Customizable consumer group ID): a second mapping with the same group fails with 409 AlreadyExists.
      else if (seen.has(group)) problems.push(`consumerGroupIds=${show(c.consumerGroupIds)}: group '${group}' is given to '${seen.get(group)}' and '${topic}'; each event source mapping needs its own group`);
      else {
        pinnedConsumerGroups.set(topic, group);
        seen.set(group, topic);
      }
    }
  }

  let schemaText: string | undefined;
  if (c.schemaFile) {
    try {
      schemaText = readFileSync(resolve(baseDir, c.schemaFile), 'utf8');
    } catch (err) {
      problems.push(`schemaFile=${show(c.schemaFile)}: cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
  }

  // The sink's own schema checks the function environment now, so a bad value fails synth, not a cold start.
  const fromContext: [string, unknown][] = [
    ['BUCKET_NAME', c.bucketName ?? 'placeholder-bucket-name'], ['PREFIX', c.prefix], ['ERROR_PREFIX', c.errorPrefix], ['STATE_PREFIX', c.statePrefix],
    ['FORMAT', c.format], ['KEY_TEMPLATE', c.keyTemplate], ['TIMEZONE', c.timezone], ['MAX_RECORDS_PER_OBJECT', c.maxRecordsPerObject],
    ['TOMBSTONES', c.tombstones], ['VALUE_ENCODING', c.valueEncoding], ['KEY_ENCODING', c.keyEncoding], ['HEADER_ENCODING', c.headerEncoding],
    ['COMPRESSION', c.compression],
    ['FIELDS', c.fields], ['FILTER_REGEX', c.filterRegex], ['CROSS_ACCOUNT_ROLE_ARN', c.crossAccountRoleArn], ['EXTERNAL_ID', c.externalId],
    ['S3_CREDENTIALS_SECRET_ARN', c.s3CredentialsSecretArn], ['TRANSFORM_SQL', c.transformSql], ...registryEnvironment(c),
  ];
  // Keys that failed above are left out: the sink then checks the rest against its defaults, without repeating them.
  const sinkEnvironment: Record<string, string> = Object.fromEntries(fromContext.filter(([, v]) => v !== undefined).map(([k, v]) => [k, String(v)]));
  let sinkConfig: SinkConfig | undefined;
  try {
    sinkConfig = loadSinkConfig({ ...sinkEnvironment, ...(schemaText ? { AVRO_SCHEMA: schemaText } : {}) });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    for (const p of err.problems) {
      const env = /^([A-Z0-9_]+)/.exec(p)?.[1] ?? '';
      const key = ENV_TO_CONTEXT[env];
      // The sink's COMPRESSION and EXTERNAL_ID problems repeat the checks above (compression vs format, externalId without a role).
      if (key && problems.some((q) => q.startsWith(`${key}=`) || q.startsWith(`${key}:`))) continue;
      // A key judged against a default of a key that is itself invalid (compression=snappy against jsonl when format=xml).
      if (key && (DEPENDS_ON[key] ?? []).some((d) => failed.has(d))) continue;
      const rest = p.replace(/^[A-Z0-9_]+(='[^']*'|=\(unset\))?/, '');
      problems.push(key ? `${key}=${show(input[key])}${rest.startsWith(':') ? rest : `: ${rest}`}` : p);
    }
  }
  // The statement is checked by the engine itself, as at cold start (lambdas/shared/transform/check-cli.ts).
  if (sinkConfig?.transform) {
    const check = transformSqlCheck({ ...sinkEnvironment, ...(schemaText ? { AVRO_SCHEMA: schemaText } : {}) });
    for (const p of check.problems) problems.push(`transformSql=${show(input.transformSql)}: ${p.replace(/^TRANSFORM_SQL: /, '')}`);
    // The compactor keeps one line per offset (a record delivered twice), which would drop rows unnest made.
    if (check.multiRow && c.compaction) problems.push(`compaction='true': transformSql makes several rows of one record (unnest), which share its offset, and the compactor keeps one line per offset: unnest after landing (Athena), or leave compaction off`);
  }
  let routes = new Map<string, string>();
  let tableColumnsByTable: Map<string, IcebergColumn[]> | undefined;
  if (ok('topics', 'tables')) {
    try {
      routes = tableRoutes(c.topics, c.tables);
    } catch (err) {
      problems.push(`tables=${show(c.tables)}: ${(err as Error).message}`);
    }
  }
  if (c.tableSchemaFile && c.tableColumns) problems.push(`tableColumns=${show(c.tableColumns)}: set tableSchemaFile or tableColumns, not both`);
  else if (routes.size > 0) {
    const key = c.tableSchemaFile ? 'tableSchemaFile' : 'tableColumns';
    try {
      const text = c.tableSchemaFile ? readFileSync(resolve(baseDir, c.tableSchemaFile), 'utf8') : undefined;
      tableColumnsByTable = parseTableSchemas([...new Set(routes.values())], text, c.tableColumns);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      problems.push(`${key}=${show(c[key])}: ${code ? `cannot be read (${code})` : (err as Error).message}`);
    }
  }
  if (c.tablesSource === 'msk' && ok('mskClusterArn') && !c.mskClusterArn) {
    problems.push(`tablesSource='msk': Firehose reads MSK clusters only (set mskClusterArn; self-managed Kafka uses tablesSource=kinesis)`);
  }
  if (c.tablesSource === 'msk' && ok('kafkaAuth') && c.kafkaAuth !== 'iam') problems.push(`tablesSource='msk': Firehose's MSK source needs kafkaAuth=iam`);
  if (c.tablesSource === 'msk' && !c.tableSchemaFile && !c.tableColumns) {
    problems.push(`tablesSource='msk': Firehose writes the raw Kafka value, so the tables need its columns (tableSchemaFile or tableColumns)`);
  }
  if ((c.tableSchemaFile || c.tableColumns) && c.tablesSource === 'kinesis' && ok('valueEncoding') && c.valueEncoding !== 'json') {
    problems.push(`valueEncoding=${show(c.valueEncoding)}: value columns of a table schema come from JSON values (valueEncoding=json)`);
  }

  if (!c.compaction) {
    // Set to other than their defaults in cdk.json: settings of a compactor that is not deployed.
    const defaults = { compactedPrefix: 'compacted/', compactionTargetMb: 256, compactionGraceMinutes: 60, compactionScheduleMinutes: 15, compactionRawRetentionDays: 7, compactionMemoryMb: 2048 } as const;
    for (const [key, value] of Object.entries(defaults) as [keyof typeof defaults, string | number][]) {
      if (ok(key) && c[key] !== value) problems.push(`${key}=${show(c[key])}: only with compaction=true`);
    }
  }
  // Parquet's row group being written, and the inputs open, peaked at about 600 MB RSS (npm run bench:compact).
  if (c.compaction && c.format === 'parquet' && ok('compactionMemoryMb') && c.compactionMemoryMb < 1024) {
    problems.push(`compactionMemoryMb=${show(c.compactionMemoryMb)}: Parquet compaction needs at least 1024 (a row group of up to 32 MB of values is held while a file is written)`);
  }
  // The compactor reads and tags with its own role in the stack's account: a bucket reached through another account's
  // role or access keys is the sink's alone.
  if (c.compaction && c.crossAccountRoleArn) problems.push(`compaction='true': not with crossAccountRoleArn (the compactor has no role in the bucket's account); compact in the bucket owner's account`);
  if (c.compaction && c.s3CredentialsSecretArn) problems.push(`compaction='true': not with s3CredentialsSecretArn (the compactor does not sign with the secret's keys)`);
  if (c.compaction && sinkConfig && ok('compactedPrefix', 'compactionTargetMb', 'compactionGraceMinutes')) {
    try {
      loadCompactorConfig({
        ...sinkEnvironment, BUCKET_NAME: sinkConfig.bucket, ...(schemaText ? { AVRO_SCHEMA: schemaText } : {}),
        COMPACTED_PREFIX: c.compactedPrefix, COMPACTION_TARGET_BYTES: String(c.compactionTargetMb * 1024 * 1024), COMPACTION_GRACE_SECONDS: String(c.compactionGraceMinutes * 60),
      });
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      for (const p of err.problems) problems.push(p.startsWith('COMPACTED_PREFIX=') ? `compactedPrefix${p.slice('COMPACTED_PREFIX'.length)}` : `compaction='true': ${p}`);
    }
  }
  // With a catalog key unparsed (reported above) the catalog is not judged against its default.
  const catalog = ok('topics', 'catalog', 'catalogTables', 'catalogPartitionCount', 'catalogStartDate', 'pipeline')
    ? catalogFromContext(c, sinkConfig, c.pipeline ?? DEFAULT_PIPELINE) : { problems: [] };
  problems.push(...catalog.problems);
  if (c.compaction && catalog.config) {
    // The compacted view's tables are <table>_compacted, next to the raw ones (Glue table names: at most 255 characters).
    const names = new Set(catalog.config.tables.map((t) => t.name));
    for (const t of catalog.config.tables) {
      const compacted = `${t.name}_compacted`;
      if (names.has(compacted)) problems.push(`catalogTables: table ${show(compacted)} is also the name of the compacted view of table ${show(t.name)} (compaction=true): rename one in catalogTables`);
      if (compacted.length > 255) problems.push(`catalogTables: table ${show(t.name)} is too long for its compacted view's name ${show(compacted)} (Glue tables: at most 255 characters)`);
    }
  }

  problems.push(...replayProblems(c, ok));

  const forwarderEnvironment = forwarderEnvironmentOf(c, routes, tableColumnsByTable);
  if (c.tablesSource === 'kinesis') problems.push(...checkForwarderEnvironment(c, input, forwarderEnvironment, problems));

  if (problems.length > 0) throw new ConfigError(problems, 'CDK context');
  if (c.bucketName === undefined) delete sinkEnvironment.BUCKET_NAME;
  if (schemaText) sinkEnvironment.AVRO_SCHEMA_FILE = BUNDLED_SCHEMA_PATH;
  const pipelineName = c.pipeline ?? DEFAULT_PIPELINE;
  const tableBucketName = c.tableBucketName ?? `${pipelineName}-tables`;
  return {
    ...c, pipelineName, pipelineNamed: c.pipeline !== undefined, tableBucketName, pinnedConsumerGroups,
    startingTimestampSeconds, provisioned, sinkEnvironment, schemaText, tableRoutes: routes, tableColumnsByTable, forwarderEnvironment,
    catalogConfig: catalog.config,
  };
}

/**
 * The replay stack's keys: it connects with MSK IAM from the cluster's VPC, and reads the bucket with its own role.
 */
function replayProblems(c: Parsed, ok: (...keys: (keyof Parsed)[]) => boolean): string[] {
  const problems: string[] = [];
  const keys = ['replaySource', 'replayPrefix', 'replayTargetTopic', 'replayPartitioning', 'replayBootstrapServers', 'replaySubnetIds', 'replaySecurityGroupIds', 'replayConcurrency', 'replayMemoryMb'] as const;
  if (!c.replay) {
    const defaults: Partial<Record<(typeof keys)[number], unknown>> = { replaySource: 'sink', replayConcurrency: 10, replayMemoryMb: 1024 };
    for (const k of keys) if (ok(k) && c[k] !== undefined && c[k] !== defaults[k]) problems.push(`${k}=${show(c[k] as string)}: only with replay=true`);
    return problems;
  }
  if (ok('mskClusterArn', 'kafkaAuth') && (!c.mskClusterArn || c.kafkaAuth !== 'iam')) {
    problems.push(`replay='true': the serverless replay connects to MSK with IAM (mskClusterArn, kafkaAuth=iam); replay from any cluster with npm start -- replay`);
  }
  for (const k of ['replayBootstrapServers', 'replaySubnetIds', 'replaySecurityGroupIds'] as const) {
    if (ok(k) && c[k] === undefined) problems.push(`${k}=(unset): required with replay=true (the function connects to the brokers from the cluster's VPC)`);
  }
  if (ok('replayBootstrapServers') && c.replayBootstrapServers?.some((b) => !b.endsWith(':9098'))) {
    problems.push(`replayBootstrapServers=${show(c.replayBootstrapServers)}: MSK's IAM listener is port 9098 (aws kafka get-bootstrap-brokers, BootstrapBrokerStringSaslIam)`);
  }
  const foreign = c.replaySource === 'foreign';
  if (foreign && ok('replayPrefix') && !c.replayPrefix) problems.push(`replayPrefix=(unset): required with replaySource='foreign' (where the other tool's objects are)`);
  if (foreign && ok('replayTargetTopic') && !c.replayTargetTopic) problems.push(`replayTargetTopic=(unset): required with replaySource='foreign' (its objects do not say which topic their records came from)`);
  if (foreign && c.replayPartitioning === 'keep') problems.push(`replayPartitioning='keep': objects of other tools carry no partition; use key`);
  if (c.replay && c.crossAccountRoleArn) problems.push(`replay='true': not with crossAccountRoleArn (the replay reads with its own role in this account); replay from the bucket owner's account`);
  if (c.replay && c.s3CredentialsSecretArn) problems.push(`replay='true': not with s3CredentialsSecretArn (the replay reads with its own role)`);
  return problems;
}

/** Forwarder variable → the context key users set. */
const FORWARDER_ENV_TO_CONTEXT: Record<string, string> = {
  VALUE_ENCODING: 'valueEncoding', KEY_ENCODING: 'keyEncoding', HEADER_ENCODING: 'headerEncoding', TOMBSTONES: 'tombstones',
  FILTER_REGEX: 'filterRegex', TABLE_ROUTES: 'tables', SCHEMA_REGISTRY: 'schemaRegistry', SCHEMA_REGISTRY_ATTRIBUTES: 'schemaRegistryAttributes',
  SCHEMA_REGISTRY_SECRET_ARN: 'schemaRegistrySecretArn',
};

/** The function's registry settings (schemaRegistryDecoder=function), as the sink's and the forwarder's variables. */
function registryEnvironment(c: Pick<Parsed, 'schemaRegistry' | 'schemaRegistryDecoder' | 'schemaRegistryAttributes' | 'schemaRegistrySecretArn'>): [string, string | undefined][] {
  if (!c.schemaRegistry || c.schemaRegistryDecoder !== 'function') return [];
  return [['SCHEMA_REGISTRY', c.schemaRegistry], ['SCHEMA_REGISTRY_ATTRIBUTES', c.schemaRegistryAttributes], ['SCHEMA_REGISTRY_SECRET_ARN', c.schemaRegistrySecretArn]];
}

/** What the forwarder gets from the context: layout, encodings, filters, and the tables' columns to check documents. */
function forwarderEnvironmentOf(c: Parsed, routes: ReadonlyMap<string, string>, columns: ReadonlyMap<string, IcebergColumn[]> | undefined): Record<string, string> {
  const given: [string, string | undefined][] = [
    ['VALUE_LAYOUT', columns ? 'columns' : 'single'], ['VALUE_ENCODING', c.valueEncoding], ['KEY_ENCODING', c.keyEncoding],
    ['HEADER_ENCODING', c.headerEncoding], ['TOMBSTONES', c.tombstones], ['FILTER_REGEX', c.filterRegex || undefined],
    ...registryEnvironment(c),
  ];
  // Keys that failed to parse are left out: their problems are reported already.
  const env: Record<string, string> = Object.fromEntries(given.filter((e): e is [string, string] => e[1] !== undefined));
  if (columns && routes.size > 0) {
    env.TABLE_COLUMNS = encodeTableColumns(columns);
    env.TABLE_ROUTES = encodeTableRoutes(routes);
  }
  return env;
}

/**
 * The forwarder's own schema checks its environment now, so a bad value fails synth, not a cold start; and the
 * whole environment must fit Lambda's 4 KB, which the table columns (TABLE_COLUMNS) can exceed.
 */
function checkForwarderEnvironment(c: Parsed, input: Record<string, unknown>, env: Record<string, string>, earlier: readonly string[]): string[] {
  const problems: string[] = [];
  const schemaKey = c.tableSchemaFile ? 'tableSchemaFile' : 'tableColumns';
  try {
    loadForwarderConfig({ ...env, ...FORWARDER_STACK_VARIABLES });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    for (const p of err.problems) {
      const variable = /^([A-Z0-9_]+)/.exec(p)?.[1] ?? '';
      const key = variable === 'TABLE_COLUMNS' ? schemaKey : FORWARDER_ENV_TO_CONTEXT[variable];
      // Problems of keys reported already (by the sink's checks, which see the same keys) are not repeated.
      if (key && earlier.some((q) => q.startsWith(`${key}=`) || q.startsWith(`${key}:`))) continue;
      const shown = `${variable}=${show(env[variable])}`;
      const rest = p.startsWith(shown) ? p.slice(shown.length).replace(/^:\s*/, '') : p.slice(variable.length).replace(/^:\s*/, '');
      problems.push(key ? `${key}=${show(input[key])}: the forwarder's ${variable} ${rest}` : p);
    }
  }
  const total = environmentBytes({ ...env, ...FORWARDER_STACK_VARIABLES });
  if (total > LAMBDA_ENVIRONMENT_LIMIT_BYTES) {
    const columns = env.TABLE_COLUMNS === undefined ? '' : ` (the table columns, TABLE_COLUMNS, take ${Buffer.byteLength(env.TABLE_COLUMNS)} bytes)`;
    const key = env.TABLE_COLUMNS === undefined ? 'filterRegex' : schemaKey;
    const advice = env.TABLE_COLUMNS === undefined ? 'use a shorter filterRegex'
      : 'declare fewer or shorter value columns (fields a table does not declare are left out of its rows anyway)';
    problems.push(
      `${key}=${show(input[key])}: the forwarder's environment would be ${total} bytes${columns}, over Lambda's limit of ` +
      `${LAMBDA_ENVIRONMENT_LIMIT_BYTES} bytes for all of a function's variables; ${advice}`,
    );
  }
  return problems;
}

export { DefaultKeyTemplate };

/**
 * The schema registry settings. With schemaRegistryDecoder=function the stack's function (the sink, the forwarder)
 * decodes: it reads the registry over HTTPS (or HTTP) with basic auth from an optional secret, or Glue with its role,
 * and its own settings schema checks encodings and format (lambdas/shared/registry/settings.ts). With eventSource the
 * event source converts (Lambda guide, "Using schema registries with Kafka event sources in Lambda": "only available
 * for event source mappings using provisioned mode"; a Confluent registry authenticates with a secret (BASIC_AUTH or
 * CLIENT_CERTIFICATE_TLS_AUTH), a Glue registry through the function's role; JSON delivers the validated records as
 * JSON, SOURCE as their payload with the schema metadata removed).
 */
function schemaRegistryProblems(c: Parsed, provisioned: boolean, ok: (...keys: (keyof Parsed)[]) => boolean): string[] {
  const problems: string[] = [];
  // Set to other than their defaults in cdk.json.
  const defaults = { schemaRegistryFormat: 'json', schemaRegistryAttributes: 'value', schemaRegistryAuth: 'basic', schemaRegistryDecoder: 'function' } as const;
  const set = (k: keyof typeof defaults) => c[k] !== defaults[k];
  if (!c.schemaRegistry) {
    if (!ok('schemaRegistry')) return problems;
    for (const k of ['schemaRegistryFormat', 'schemaRegistryAttributes', 'schemaRegistryAuth', 'schemaRegistryDecoder'] as const) if (ok(k) && set(k)) problems.push(`${k}=${show(c[k])}: only with schemaRegistry`);
    if (c.schemaRegistrySecretArn) problems.push(`schemaRegistrySecretArn=${show(c.schemaRegistrySecretArn)}: only with a Confluent schemaRegistry`);
    return problems;
  }
  const glue = c.schemaRegistry.startsWith('arn:');
  if (glue && c.schemaRegistrySecretArn) problems.push(`schemaRegistrySecretArn=${show(c.schemaRegistrySecretArn)}: a Glue registry is reached with the function's role, not a secret`);
  if (glue && ok('schemaRegistryAuth') && set('schemaRegistryAuth')) problems.push(`schemaRegistryAuth=${show(c.schemaRegistryAuth)}: only for a Confluent registry`);
  if (!ok('schemaRegistryDecoder')) return problems;
  if (c.schemaRegistryDecoder === 'function') {
    if (ok('schemaRegistryFormat') && set('schemaRegistryFormat')) problems.push(`schemaRegistryFormat=${show(c.schemaRegistryFormat)}: only with schemaRegistryDecoder=eventSource (the function writes decoded values as JSON)`);
    if (!glue && ok('schemaRegistryAuth') && c.schemaRegistryAuth === 'mtls') problems.push(`schemaRegistryAuth='mtls': the function authenticates with basic auth (or none); a client certificate needs schemaRegistryDecoder=eventSource`);
    if (c.tablesSource === 'msk') problems.push(`schemaRegistry=${show(c.schemaRegistry)}: with tablesSource=msk Firehose reads the topics itself and no function decodes registry-framed values; use tablesSource=kinesis`);
    return problems;
  }
  if (c.schemaRegistry.startsWith('http:')) problems.push(`schemaRegistry=${show(c.schemaRegistry)}: the event source reaches a Confluent registry over https only`);
  if (ok('minPollers', 'maxPollers') && !provisioned) {
    problems.push(`schemaRegistry=${show(c.schemaRegistry)}: the event source supports a schema registry in provisioned mode only (set minPollers and maxPollers, or schemaRegistryDecoder=function)`);
  }
  if (!glue && ok('schemaRegistrySecretArn') && !c.schemaRegistrySecretArn) {
    problems.push(`schemaRegistrySecretArn=(unset): a Confluent registry needs the secret the event source authenticates with (schemaRegistryAuth=${c.schemaRegistryAuth})`);
  }
  if (ok('schemaRegistryAttributes', 'schemaRegistryFormat', 'valueEncoding', 'keyEncoding')) {
    const value = c.schemaRegistryAttributes.includes('value');
    const key = c.schemaRegistryAttributes.includes('key');
    if (c.schemaRegistryFormat === 'json') {
      if (value && c.valueEncoding === 'base64') problems.push(`valueEncoding='base64': with schemaRegistryFormat=json the event source delivers each value as JSON text; use valueEncoding json (or text)`);
    } else {
      // The bare payload (Avro, Protobuf) is binary: only base64 keeps it.
      if (value && c.valueEncoding !== 'base64') problems.push(`valueEncoding=${show(c.valueEncoding)}: with schemaRegistryFormat=source values arrive as their binary payload (the registry framing removed); use valueEncoding=base64`);
      if (key && c.keyEncoding !== 'base64') problems.push(`keyEncoding=${show(c.keyEncoding)}: with schemaRegistryFormat=source keys arrive as their binary payload; use keyEncoding=base64`);
    }
  }
  return problems;
}
