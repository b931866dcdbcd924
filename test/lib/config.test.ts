/**
 * The CDK app's configuration (lib/config.ts): cdk.json defaults merged with `-c key=value` strings, validated at
 * synth with every problem listed, each naming the context key and the value.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUNDLED_SCHEMA_PATH, ContextSchema, environmentBytes, FORWARDER_STACK_VARIABLES, LAMBDA_ENVIRONMENT_LIMIT_BYTES, loadAppConfig, type AppConfig } from '../../lib/config.ts';
import { loadForwarderConfig } from '../../lambdas/forwarder/config.ts';
import { loadSinkConfig } from '../../lambdas/shared/config.ts';
import { ConfigError } from '../../lambdas/shared/errors.ts';

const CLUSTER_ARN = 'arn:aws:kafka:us-east-1:111122223333:cluster/demo/abcd1234-ab12-cd34-ef56-abcdef123456-1';
const REQUIRED = { mskClusterArn: CLUSTER_ARN, topics: 'orders' } as const;
const CDK_CONTEXT = (JSON.parse(readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8')) as { context: Record<string, unknown> })
  .context;
const EXAMPLE = `npx cdk deploy KafkaS3DirectStack -c mskClusterArn=${CLUSTER_ARN} -c topics=orders,payments`;
const SELF_MANAGED = { mskClusterArn: undefined, bootstrapServers: 'b-1.example.com:9096,b-2.example.com:9096' } as const;
const SECRET_ARN = 'arn:aws:secretsmanager:us-east-1:111122223333:secret:kafka-creds-AbCdEf';
const SECRET_ARN_RULE = 'must be the complete ARN of a Secrets Manager secret, ending in the 6 characters Secrets Manager appends to the name '
  + '(arn:aws:secretsmanager:<region>:<account>:secret:<name>-AbCdEf; `aws secretsmanager describe-secret --secret-id <name>` prints it)';
const SELF_MANAGED_SCRAM = { mskClusterArn: undefined, bootstrapServers: 'b-1.example.com:9096', kafkaAuth: 'scram512', kafkaSecretArn: 'arn:aws:secretsmanager:us-east-1:111122223333:secret:kafka-creds-AbCdEf' } as const;
const KMS_ARN = 'arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const ROLE_ARN = 'arn:aws:iam::444455556666:role/s3-writer';
const TOPIC_ARN = 'arn:aws:sns:us-east-1:111122223333:alarms';
const ORDER_SCHEMA = JSON.stringify({
  type: 'record',
  name: 'Order',
  fields: [
    { name: 'order_id', type: 'string' },
    { name: 'amount', type: 'double' },
  ],
});

/** Overrides as `-c` delivers them: strings; `undefined` removes a key (also a required one or a cdk.json default). */
type Overrides = Record<string, string | undefined>;

/** `get` as bin/app.ts builds it from app.node.tryGetContext: cdk.json's context, the required keys, then the overrides. */
function contextGet(overrides: Overrides = {}): (key: string) => unknown {
  const merged: Record<string, unknown> = { ...CDK_CONTEXT, ...REQUIRED };
  for (const [key, value] of Object.entries(overrides)) {
    if (value === undefined) delete merged[key];
    else merged[key] = value;
  }
  return (key) => merged[key];
}

let dir: string;
let schemaPath: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'kafka-s3-config-'));
  schemaPath = join(dir, 'order.avsc');
  writeFileSync(schemaPath, ORDER_SCHEMA);
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function load(overrides: Overrides = {}): AppConfig {
  return loadAppConfig(contextGet(overrides), dir);
}

/** Runs loadAppConfig and returns the problems of the ConfigError it throws (fails the test if it does not throw one). */
function problemsOf(overrides: Overrides): readonly string[] {
  try {
    load(overrides);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error(`loadAppConfig accepted ${JSON.stringify(overrides)}`);
}

describe('loadAppConfig: defaults and coercion', () => {
  it('loads the cdk.json defaults with only the required keys', () => {
    // Prepare
    const get = contextGet();

    // Act
    const config = loadAppConfig(get, dir);

    // Assess
    for (const [key, value] of Object.entries(CDK_CONTEXT)) {
      if (key in ContextSchema.shape) expect(config[key as keyof AppConfig], key).toEqual(value);
    }
    expect(config.mskClusterArn).toBe(CLUSTER_ARN);
    expect(config.topics).toEqual(['orders']);
    expect(config.provisioned).toBe(false);
    expect(config.startingTimestampSeconds).toBeUndefined();
    expect(config.schemaText).toBeUndefined();
  });

  it('has a schema entry for every cdk.json default (no stale keys)', () => {
    // Prepare
    const keys = Object.keys(CDK_CONTEXT).filter((k) => !k.startsWith('@aws-cdk/'));

    // Act
    const unknown = keys.filter((k) => !(k in ContextSchema.shape));

    // Assess
    expect(unknown).toEqual([]);
  });

  it('coerces numbers, booleans and lists given as strings', () => {
    // Prepare
    const overrides = {
      batchSize: '5000',
      maxBatchingWindowSeconds: '5',
      retryAttempts: '3',
      maxRecordAgeSeconds: '3600',
      bisectOnError: 'true',
      minPollers: '1',
      maxPollers: '4',
      memoryMb: '2048',
      logRetentionDays: '90',
      topics: 'orders, payments,',
    };

    // Act
    const config = load(overrides);

    // Assess
    expect(config).toMatchObject({
      batchSize: 5000,
      maxBatchingWindowSeconds: 5,
      retryAttempts: 3,
      maxRecordAgeSeconds: 3600,
      bisectOnError: true,
      minPollers: 1,
      maxPollers: 4,
      provisioned: true,
      memoryMb: 2048,
      logRetentionDays: 90,
      topics: ['orders', 'payments'],
    });
  });

  it("coerces bisectOnError 'false' to false", () => {
    // Prepare
    const overrides = { bisectOnError: 'false' };

    // Act
    const config = load(overrides);

    // Assess
    expect(config.bisectOnError).toBe(false);
  });

  it('treats an empty -c value as unset (the cdk.json default is not used either)', () => {
    // Prepare
    const overrides = { compression: '', alarmEmail: '' };

    // Act
    const config = load(overrides);

    // Assess
    expect(config.compression).toBeUndefined();
    expect(config.alarmEmail).toBeUndefined();
  });

  it('keeps an empty prefix: -c prefix= writes at the bucket root', () => {
    // Prepare
    const overrides = { prefix: '' };

    // Act
    const config = load(overrides);

    // Assess
    expect(config.prefix).toBe('');
    expect(config.sinkEnvironment.PREFIX).toBe('');
  });
});

/** One bad value of a context key and the exact problem it gives. */
interface BadValue {
  readonly value: string;
  readonly problem: string;
  /** Other keys the case needs (e.g. the startingPosition that makes startingTimestamp parsed). */
  readonly with?: Overrides;
  /** The problem is reported as `<key>: …` (no value), so it is not checked for the value. */
  readonly withoutValue?: true;
}

/** At least one bad value for every key of ContextSchema (the test below fails for a key without one). */
const BAD_VALUES: Record<string, readonly BadValue[]> = {
  mskClusterArn: [
    { value: 'arn:aws:s3:::bucket', problem: "mskClusterArn='arn:aws:s3:::bucket': must be an MSK cluster ARN (arn:aws:kafka:<region>:<account>:cluster/<name>/<uuid>)" },
    { value: 'demo-cluster', problem: "mskClusterArn='demo-cluster': must be an MSK cluster ARN (arn:aws:kafka:<region>:<account>:cluster/<name>/<uuid>)" },
    // Not a cluster (a configuration), or no region: mskArnParts would throw a raw error at synth.
    { value: 'arn:aws:kafka:us-east-1:111122223333:configuration/demo/abcd', problem: "mskClusterArn='arn:aws:kafka:us-east-1:111122223333:configuration/demo/abcd': must be an MSK cluster ARN (arn:aws:kafka:<region>:<account>:cluster/<name>/<uuid>)" },
    { value: 'arn:aws:kafka::111122223333:cluster/demo/abcd', problem: "mskClusterArn='arn:aws:kafka::111122223333:cluster/demo/abcd': must be an MSK cluster ARN (arn:aws:kafka:<region>:<account>:cluster/<name>/<uuid>)" },
  ],
  bootstrapServers: [
    { value: 'broker1', problem: "bootstrapServers='broker1': must be host:port", with: { mskClusterArn: undefined } },
    { value: 'b-1:9092,b 2:9092', problem: "bootstrapServers='b-1:9092,b 2:9092': must be host:port", with: { mskClusterArn: undefined } },
  ],
  vpcId: [{ value: 'vpc-xyz', problem: "vpcId='vpc-xyz': must be a VPC ID (vpc-…)" }],
  subnetIds: [{ value: 'subnet-0123456789abcdef0,sub-1', problem: "subnetIds='subnet-0123456789abcdef0,sub-1': must be subnet IDs (subnet-…)" }],
  securityGroupIds: [{ value: 'group1', problem: "securityGroupIds='group1': must be security group IDs (sg-…)" }],
  kafkaAuth: [
    { value: 'kerberos', problem: `kafkaAuth='kerberos': must be one of iam, scram512, scram256, mtls, none` },
    { value: 'IAM', problem: `kafkaAuth='IAM': must be one of iam, scram512, scram256, mtls, none` },
  ],
  kafkaSecretArn: [
    { value: 'my-secret', problem: `kafkaSecretArn='my-secret': ${SECRET_ARN_RULE}` },
    // Without the 6 characters Secrets Manager appends: CDK's fromSecretCompleteArn would throw, and IAM would match nothing.
    // Amazon MSK developer guide, SASL/SCRAM: "the secret name must begin with the prefix AmazonMSK_".
    { value: SECRET_ARN, problem: `kafkaSecretArn='${SECRET_ARN}': MSK uses only SCRAM secrets whose name begins with AmazonMSK_`, with: { kafkaAuth: 'scram512', kafkaSecretKmsKeyArn: KMS_ARN } },
    { value: 'arn:aws:secretsmanager:us-east-1:111122223333:secret:kafka-creds', problem: `kafkaSecretArn='arn:aws:secretsmanager:us-east-1:111122223333:secret:kafka-creds': ${SECRET_ARN_RULE}`, with: { kafkaAuth: 'mtls' } },
    { value: SECRET_ARN, problem: `kafkaSecretArn='${SECRET_ARN}': not used with kafkaAuth='iam'` },
  ],
  topics: [
    { value: 'bad topic!', problem: "topics='bad topic!': must be Kafka topic names of 2-249 of A-Z a-z 0-9 . _ -, not starting with . (the event source mapping's Topics pattern)" },
    // AWS::Lambda::EventSourceMapping Topics pattern ^[^.]([a-zA-Z0-9\-_.]+): at least 2 characters, no leading '.'.
    { value: 'x', problem: "topics='x': must be Kafka topic names of 2-249 of A-Z a-z 0-9 . _ -, not starting with . (the event source mapping's Topics pattern)" },
    { value: '.hidden', problem: "topics='.hidden': must be Kafka topic names of 2-249 of A-Z a-z 0-9 . _ -, not starting with . (the event source mapping's Topics pattern)" },
    { value: ',', problem: "topics=',': must name at least one topic" },
  ],
  consumerGroupPrefix: [{ value: 'bad group!', problem: "consumerGroupPrefix='bad group!': must be 1-150 of a-z A-Z 0-9 - / : _ + = . @ (no *)" },
    { value: 'team*', problem: "consumerGroupPrefix='team*': must be 1-150 of a-z A-Z 0-9 - / : _ + = . @ (no *)" }],
  consumerGroupIds: [
    { value: 'orders', problem: "consumerGroupIds='orders': 'orders' is not topic=group" },
    { value: 'orders=bad group!', problem: "consumerGroupIds='orders=bad group!': group 'bad group!' must be 1-200 of a-z A-Z 0-9 - / : _ + = . @ (no *, which would widen the IAM grant on groups)" },
    { value: 'orders=*', problem: "consumerGroupIds='orders=*': group '*' must be 1-200 of a-z A-Z 0-9 - / : _ + = . @ (no *, which would widen the IAM grant on groups)" },
    { value: 'refunds=g1', problem: "consumerGroupIds='refunds=g1': 'refunds' is not one of the topics (orders)" },
    // Lambda guide, Customizable consumer group ID: "must be unique among all your Kafka event sources".
    { value: 'orders=g1,payments=g1', problem: "consumerGroupIds='orders=g1,payments=g1': group 'g1' is given to 'orders' and 'payments'; each event source mapping needs its own group", with: { topics: 'orders,payments' } },
  ],
  pipeline: [
    { value: 'Orders', problem: "pipeline='Orders': must be 1-24 of a-z 0-9 -, starting with a letter and not ending with -" },
    { value: 'awsdata', problem: "pipeline='awsdata': must not start with aws, xn--, sthree- or amzn-s3-demo- (it begins the table bucket's name, and S3 reserves these)" },
    { value: 'a'.repeat(25), problem: `pipeline='${'a'.repeat(25)}': must be 1-24 of a-z 0-9 -, starting with a letter and not ending with -` },
  ],
  kafkaRootCaSecretArn: [
    { value: 'ca', problem: `kafkaRootCaSecretArn='ca': ${SECRET_ARN_RULE}`, with: SELF_MANAGED_SCRAM },
    { value: SECRET_ARN, problem: `kafkaRootCaSecretArn='${SECRET_ARN}': only for self-managed Kafka (MSK brokers use certificates the event source already trusts)` },
  ],
  vpcEndpoints: [
    { value: 'yes', problem: "vpcEndpoints='yes': must be true or false" },
    { value: 'true', problem: "vpcEndpoints='true': needs vpcId, subnetIds and securityGroupIds (the VPC of self-managed brokers; for MSK, create the endpoints in the cluster's VPC yourself)" },
  ],
  startingPosition: [
    { value: 'EARLIEST', problem: `startingPosition='EARLIEST': must be one of LATEST, TRIM_HORIZON, AT_TIMESTAMP` },
  ],
  startingTimestamp: [
    { value: 'yesterday', problem: "startingTimestamp='yesterday': not epoch seconds or an ISO-8601 time with a zone (2024-05-01T12:00:00Z, 2024-05-01T14:00:00+02:00)", with: { startingPosition: 'AT_TIMESTAMP' } },
    { value: '0', problem: "startingTimestamp='0': not a time after 1970 (epoch seconds must be positive)", with: { startingPosition: 'AT_TIMESTAMP' } },
    // Without a zone the instant would depend on the machine's time zone (and the consumer group's hash with it).
    { value: '2024-05-01T12:00:00', problem: "startingTimestamp='2024-05-01T12:00:00': not epoch seconds or an ISO-8601 time with a zone (2024-05-01T12:00:00Z, 2024-05-01T14:00:00+02:00)", with: { startingPosition: 'AT_TIMESTAMP' } },
    { value: 'May 1 2024', problem: "startingTimestamp='May 1 2024': not epoch seconds or an ISO-8601 time with a zone (2024-05-01T12:00:00Z, 2024-05-01T14:00:00+02:00)", with: { startingPosition: 'AT_TIMESTAMP' } },
    { value: '1714564800000', problem: "startingTimestamp='1714564800000': looks like epoch milliseconds (2024-05-01T12:00:00.000Z); give epoch seconds (1714564800) or ISO-8601", with: { startingPosition: 'AT_TIMESTAMP' } },
    { value: '1714564800', problem: "startingTimestamp='1714564800': only with startingPosition='AT_TIMESTAMP'" },
    // Lambda refuses a StartingPositionTimestamp in the future (CreateEventSourceMapping API reference).
    { value: '4102444800', problem: "startingTimestamp='4102444800': is in the future (2100-01-01T00:00:00.000Z); the event source accepts only a time that has passed", with: { startingPosition: 'AT_TIMESTAMP' } },
  ],
  batchSize: [
    { value: '0', problem: "batchSize='0': must be an integer from 1 to 10000" },
    { value: '10001', problem: "batchSize='10001': must be an integer from 1 to 10000" },
    { value: 'abc', problem: "batchSize='abc': must be an integer from 1 to 10000" },
    { value: '1.5', problem: "batchSize='1.5': must be an integer from 1 to 10000" },
  ],
  maxBatchingWindowSeconds: [
    { value: '301', problem: "maxBatchingWindowSeconds='301': must be an integer from 0 to 300" },
    { value: '-1', problem: "maxBatchingWindowSeconds='-1': must be an integer from 0 to 300" },
  ],
  retryAttempts: [
    { value: '-2', problem: "retryAttempts='-2': must be an integer from -1 to 10000" },
    { value: '3', problem: "retryAttempts='3': Kafka retry controls need provisioned mode (set minPollers and maxPollers) or -1" },
  ],
  maxRecordAgeSeconds: [
    { value: '30', problem: "maxRecordAgeSeconds='30': must be -1 or 60-604800" },
    { value: '604801', problem: "maxRecordAgeSeconds='604801': must be -1 or 60-604800" },
  ],
  bisectOnError: [
    { value: 'yes', problem: "bisectOnError='yes': must be true or false" },
    { value: 'true', problem: "bisectOnError='true': needs provisioned mode (minPollers, maxPollers)" },
  ],
  minPollers: [
    { value: '0', problem: "minPollers='0': must be an integer from 1 to 200", with: { maxPollers: '2' } },
    { value: '5', problem: "minPollers='5': must not exceed maxPollers='2'", with: { maxPollers: '2' } },
  ],
  maxPollers: [{ value: '2001', problem: "maxPollers='2001': must be an integer from 1 to 2000", with: { minPollers: '1' } }],
  onFailure: [{ value: 'kinesis', problem: `onFailure='kinesis': must be one of s3, sqs, none` }],
  schemaRegistry: [
    { value: 'ftp://registry.example.com', problem: "schemaRegistry='ftp://registry.example.com': must be an AWS Glue schema registry ARN (arn:aws:glue:<region>:<account>:registry/<name>) or a Confluent-compatible registry URL (https://host[:port][/path], no credentials in it: use schemaRegistrySecretArn)" },
    { value: 'arn:aws:glue:us-east-1:111122223333:registry/r', problem: "schemaRegistry='arn:aws:glue:us-east-1:111122223333:registry/r': the event source supports a schema registry in provisioned mode only (set minPollers and maxPollers, or schemaRegistryDecoder=function)", with: { schemaRegistryDecoder: 'eventSource' } },
  ],
  schemaRegistryDecoder: [
    { value: 'sink', problem: "schemaRegistryDecoder='sink': must be one of function, eventSource" },
    { value: 'eventSource', problem: "schemaRegistryDecoder='eventSource': only with schemaRegistry" },
  ],
  schemaRegistryFormat: [
    { value: 'avro', problem: "schemaRegistryFormat='avro': must be one of json, source" },
    { value: 'source', problem: "schemaRegistryFormat='source': only with schemaRegistry" },
  ],
  schemaRegistryAttributes: [{ value: 'headers', problem: "schemaRegistryAttributes='headers': must be one of value, key, key,value" }],
  schemaRegistryAuth: [{ value: 'oauth', problem: "schemaRegistryAuth='oauth': must be one of basic, mtls" }],
  schemaRegistrySecretArn: [{ value: 'secret', problem: `schemaRegistrySecretArn='secret': ${SECRET_ARN_RULE}` }],
  bucketName: [
    { value: 'My_Bucket', problem: "bucketName='My_Bucket': must be an S3 bucket name" },
    { value: 'ab', problem: "bucketName='ab': must be an S3 bucket name" },
  ],
  prefix: [
    { value: '/abs/', problem: "prefix='/abs/': must not start with '/' or contain a '..' segment" },
    { value: 'a/../b/', problem: "prefix='a/../b/': must not start with '/' or contain a '..' segment" },
  ],
  errorPrefix: [
    { value: '   ', problem: "errorPrefix='   ': must not be empty" },
    { value: 'topics/errors/', problem: "errorPrefix='topics/errors/': must not overlap PREFIX='topics/' (dead letters would mix with data)" },
  ],
  statePrefix: [
    { value: '   ', problem: "statePrefix='   ': must not be empty" },
    { value: 'topics/state/', problem: "statePrefix='topics/state/': must not overlap PREFIX='topics/' (checkpoints would mix with data)" },
    { value: 'topics/', problem: "statePrefix='topics/': must not overlap PREFIX='topics/' (checkpoints would mix with data)" },
    { value: 'dead-letters/', problem: "statePrefix='dead-letters/': must not overlap ERROR_PREFIX='dead-letters/' (checkpoints would mix with dead letters)" },
    { value: 'dead', problem: "statePrefix='dead': must not overlap ERROR_PREFIX='dead-letters/' (checkpoints would mix with dead letters)" },
    { value: '/state/', problem: "statePrefix='/state/': must not start with '/' or contain a '..' segment" },
    { value: 'a/../b/', problem: "statePrefix='a/../b/': must not start with '/' or contain a '..' segment" },
  ],
  format: [
    { value: 'xml', problem: `format='xml': must be one of jsonl, csv, csv_with_headers, text, bytes, avro, parquet` },
  ],
  compression: [
    { value: 'brotli', problem: "compression='brotli': not allowed for format=jsonl; expected one of none, gzip, zstd" },
    { value: 'gzip', problem: "compression='gzip': not allowed for format=avro; expected one of null, deflate, snappy, zstandard", with: { format: 'avro' } },
  ],
  keyTemplate: [
    {
      value: '{{topic}}/{{partition}}',
      problem: `keyTemplate='{{topic}}/{{partition}}': must contain {{start_offset}} so that every object key is unique (see "Object keys" in the README)`,
    },
  ],
  fields: [
    { value: 'key,colour', problem: "fields='key,colour': expected a comma list of key, value, headers, topic, partition, offset, timestamp" },
    { value: 'key,value', problem: "fields='key,value': FORMAT=text writes the value only; set FIELDS=value or use jsonl/csv/avro/parquet", with: { format: 'text' } },
  ],
  timezone: [{ value: 'Mars/Base', problem: "timezone='Mars/Base': not an IANA time zone (for example UTC, Europe/Berlin, America/New_York)" }],
  maxRecordsPerObject: [{ value: '0', problem: "maxRecordsPerObject='0': must be an integer from 1 to 10000000" }],
  tombstones: [
    { value: 'keep', problem: `tombstones='keep': must be one of ignore, write, deadletter` },
    { value: 'write', problem: "tombstones='write': FORMAT=text cannot express a null value; use ignore or deadletter", with: { format: 'text' } },
  ],
  filterRegex: [
    {
      value: '(unclosed',
      problem: "filterRegex='(unclosed': not a valid RE2 regular expression (missing closing ): `(unclosed`); RE2 has no lookaround or backreferences",
    },
  ],
  transformSql: [
    { value: 'SELECT * FROM input LIMIT 5', problem: "transformSql='SELECT * FROM input LIMIT 5': LIMIT and OFFSET are not supported: it combines rows of different records, so its result would depend on how the event source cuts batches (windows, joins and aggregates across records need a stream processor such as Amazon Managed Service for Apache Flink)" },
    { value: 'SELECT * FROM input', with: { valueEncoding: 'text' }, problem: "transformSql='SELECT * FROM input': reads value columns (*), but with VALUE_ENCODING=text the value is not JSON: read it as _kafka_value" },
  ],
  valueEncoding: [{ value: 'xml', problem: `valueEncoding='xml': must be one of json, text, base64` }],
  keyEncoding: [{ value: 'hex', problem: `keyEncoding='hex': must be one of text, base64` }],
  schemaFile: [
    { value: 'missing.avsc', problem: "schemaFile='missing.avsc': cannot be read (ENOENT)" },
    { value: 'order.avsc', problem: "schemaFile='order.avsc': a schema applies to avro, parquet, csv and csv_with_headers, not FORMAT=jsonl" },
  ],
  encryption: [{ value: 'aes', problem: `encryption='aes': must be one of s3, kms` }],
  kmsKeyArn: [
    { value: 'alias/foo', problem: "kmsKeyArn='alias/foo': must be a KMS key ARN (arn:aws:kms:…)" },
    { value: KMS_ARN, problem: `kmsKeyArn='${KMS_ARN}': only with encryption='kms'` },
  ],
  crossAccountRoleArn: [
    { value: 'role/foo', problem: "crossAccountRoleArn='role/foo': must be an IAM role ARN (arn:aws:iam:…)" },
    {
      value: 'arn:aws:iam::444455556666:user/writer',
      problem: "crossAccountRoleArn='arn:aws:iam::444455556666:user/writer': must be an IAM role ARN",
      with: { bucketName: 'other-account-bucket' },
    },
    { value: ROLE_ARN, problem: 'crossAccountRoleArn: needs bucketName (the bucket in the other account)', withoutValue: true },
  ],
  externalId: [
    { value: 'x', problem: "externalId='x': must be 2-1224 characters" },
    { value: 'abc', problem: 'externalId: only with crossAccountRoleArn', withoutValue: true },
  ],
  s3CredentialsSecretArn: [
    { value: 'arn:aws:secretsmanager:us-east-1:111122223333:secret:s3-keys', problem: `s3CredentialsSecretArn='arn:aws:secretsmanager:us-east-1:111122223333:secret:s3-keys': ${SECRET_ARN_RULE}` },
    { value: SECRET_ARN, problem: 's3CredentialsSecretArn: needs bucketName (the existing bucket the keys may write to)', withoutValue: true },
    {
      value: SECRET_ARN, problem: 's3CredentialsSecretArn: set crossAccountRoleArn or s3CredentialsSecretArn, not both', withoutValue: true,
      with: { bucketName: 'other-account-bucket', crossAccountRoleArn: ROLE_ARN },
    },
  ],
  s3CredentialsSecretKmsKeyArn: [
    { value: 'alias/foo', problem: "s3CredentialsSecretKmsKeyArn='alias/foo': must be a KMS key ARN (arn:aws:kms:…)" },
    { value: KMS_ARN, problem: `s3CredentialsSecretKmsKeyArn='${KMS_ARN}': only with s3CredentialsSecretArn` },
  ],
  memoryMb: [{ value: '64', problem: "memoryMb='64': must be an integer from 128 to 10240" }],
  timeoutSeconds: [
    { value: '900', problem: "timeoutSeconds='900': must be an integer from 1 to 840" },
    { value: '0', problem: "timeoutSeconds='0': must be an integer from 1 to 840" },
  ],
  architecture: [{ value: 'arm32', problem: `architecture='arm32': must be one of arm64, x86_64` }],
  reservedConcurrency: [{ value: '0', problem: "reservedConcurrency='0': must be an integer from 1 to 10000" }],
  logRetentionDays: [
    {
      value: '2',
      problem:
        "logRetentionDays='2': must be one of 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653",
    },
  ],
  offsetLagAlarmThreshold: [{ value: '0', problem: "offsetLagAlarmThreshold='0': must be an integer from 1 to 1000000000" }],
  alarmTopicArn: [{ value: 'topic', problem: "alarmTopicArn='topic': must be an SNS topic ARN (arn:aws:sns:…)" }],
  alarmEmail: [
    { value: 'not-an-email', problem: "alarmEmail='not-an-email': must be an email address" },
    { value: 'ops@example.com', problem: "alarmEmail='ops@example.com': set alarmTopicArn or alarmEmail, not both", with: { alarmTopicArn: TOPIC_ARN } },
  ],
  kafkaSecretKmsKeyArn: [
    { value: 'key-1', problem: "kafkaSecretKmsKeyArn='key-1': must be a KMS key ARN (arn:aws:kms:…)" },
    { value: KMS_ARN, problem: `kafkaSecretKmsKeyArn='${KMS_ARN}': only with kafkaSecretArn` },
  ],
  headerEncoding: [{ value: 'hex', problem: `headerEncoding='hex': must be one of text, base64` }],
  tablesSource: [
    { value: 'direct', problem: `tablesSource='direct': must be one of kinesis, msk` },
    { value: 'msk', problem: "tablesSource='msk': Firehose's MSK source needs kafkaAuth=iam", with: { kafkaAuth: 'mtls', kafkaSecretArn: SECRET_ARN, tableColumns: 'id:long' } },
    { value: 'msk', problem: "tablesSource='msk': Firehose writes the raw Kafka value, so the tables need its columns (tableSchemaFile or tableColumns)" },
  ],
  tableBucketName: [
    { value: 'Tables_1', problem: "tableBucketName='Tables_1': must be an S3 table bucket name: 3-63 of a-z 0-9 -, starting and ending with a letter or digit, not starting with aws, xn--, sthree- or amzn-s3-demo-, not ending with -s3alias, --ol-s3, --x-s3 or --table-s3" },
    { value: 'aws-tables', problem: "tableBucketName='aws-tables': must be an S3 table bucket name: 3-63 of a-z 0-9 -, starting and ending with a letter or digit, not starting with aws, xn--, sthree- or amzn-s3-demo-, not ending with -s3alias, --ol-s3, --x-s3 or --table-s3" },
    { value: 'abc-s3alias', problem: "tableBucketName='abc-s3alias': must be an S3 table bucket name: 3-63 of a-z 0-9 -, starting and ending with a letter or digit, not starting with aws, xn--, sthree- or amzn-s3-demo-, not ending with -s3alias, --ol-s3, --x-s3 or --table-s3" },
  ],
  namespace: [{ value: 'Sales', problem: "namespace='Sales': must be 1-255 of a-z 0-9 _, starting and ending with a letter or digit, not starting with aws" }],
  tables: [
    { value: 'orders', problem: `tables='orders': "orders" is not topic=table` },
    { value: 'orders=Orders', problem: `tables='orders=Orders': table "Orders" must be lowercase letters, digits and _ (starting and ending with a letter or digit)` },
    { value: 'refunds=refunds', problem: `tables='refunds=refunds': "refunds" is not one of the topics (orders)` },
  ],
  tableSchemaFile: [{ value: 'missing/schema.json', problem: "tableSchemaFile='missing/schema.json': cannot be read (ENOENT)" }],
  tableColumns: [
    { value: 'id', problem: `tableColumns='id': "id" is not name:type (append ! for a required column)` },
    { value: 'Id:long', problem: `tableColumns='Id:long': table "orders": column "Id" must be lowercase letters, digits and _ (Glue and Athena need lowercase)` },
    { value: 'id:bigint', problem: `tableColumns='id:bigint': table "orders": column "id" has type "bigint"; use boolean, int, long, float, double, decimal(p,s), string, binary, date, time, timestamp, timestamptz or uuid` },
  ],
  kinesisShardCount: [{ value: '0', problem: "kinesisShardCount='0': must be an integer from 1 to 10000" }],
  firehoseBufferSeconds: [{ value: '901', problem: "firehoseBufferSeconds='901': must be an integer from 0 to 900" }],
  firehoseBufferMb: [{ value: '129', problem: "firehoseBufferMb='129': must be an integer from 1 to 128" }],
  firehoseRetrySeconds: [{ value: '7201', problem: "firehoseRetrySeconds='7201': must be an integer from 0 to 7200" }],
  appendOnly: [{ value: 'maybe', problem: "appendOnly='maybe': must be true or false" }],
  lakeFormation: [{ value: 'yes', problem: "lakeFormation='yes': must be true or false" }],
  createTablesCatalog: [{ value: '1', problem: "createTablesCatalog='1': must be true or false" }],
  freshnessAlarmSeconds: [{ value: '30', problem: "freshnessAlarmSeconds='30': must be an integer from 60 to 86400" }],
  catalog: [{ value: 'on', problem: "catalog='on': must be true or false" }],
  catalogDatabase: [
    { value: 'Kafka-Lake', problem: "catalogDatabase='Kafka-Lake': must be 1-255 of a-z 0-9 _ (Glue and Athena database names)" },
    { value: 'lake', problem: "catalogDatabase='lake': only with catalog=true" },
  ],
  catalogTables: [
    { value: 'orders', with: { catalog: 'true' }, problem: `catalogTables='orders': "orders" is not topic=table` },
    { value: 'orders=Orders', with: { catalog: 'true' }, problem: `catalogTables='orders=Orders': table "Orders" must be lowercase letters, digits and _ (starting and ending with a letter or digit)` },
  ],
  catalogPartitionCount: [{ value: '0', problem: "catalogPartitionCount='0': must be an integer from 1 to 100000" }],
  catalogStartDate: [
    { value: '2025-13-01', problem: "catalogStartDate='2025-13-01': must be a date YYYY-MM-DD" },
    { value: '2025-02-30', problem: "catalogStartDate='2025-02-30': must be a date YYYY-MM-DD" },
  ],
  compaction: [{ value: 'yes', problem: "compaction='yes': must be true or false" }],
  compactedPrefix: [
    { value: 'compacted', problem: "compactedPrefix='compacted': must be 2-256 characters ending with / (not starting with /)" },
    { value: 'topics/compacted/', with: { compaction: 'true' }, problem: "compactedPrefix='topics/compacted/': overlaps PREFIX='topics/' (the compactor would read its own files as the sink's, or the sink's as its own)" },
  ],
  compactionTargetMb: [{ value: '0', problem: "compactionTargetMb='0': must be an integer from 1 to 5120" }],
  compactionGraceMinutes: [{ value: '-1', problem: "compactionGraceMinutes='-1': must be an integer from 0 to 10080" }],
  compactionScheduleMinutes: [{ value: '0', problem: "compactionScheduleMinutes='0': must be an integer from 1 to 1440" }],
  compactionRawRetentionDays: [{ value: '0', problem: "compactionRawRetentionDays='0': must be an integer from 1 to 3650" }],
  compactionMemoryMb: [{ value: '256', problem: "compactionMemoryMb='256': must be an integer from 512 to 10240" }],
  replay: [{ value: 'yes', problem: "replay='yes': must be true or false" }],
  replaySource: [{ value: 'kafka', problem: "replaySource='kafka': must be one of sink, dead-letters, foreign" }],
  replayPrefix: [{ value: 'imports/', problem: "replayPrefix='imports/': only with replay=true" }],
  replayTargetTopic: [{ value: 'bad topic', problem: "replayTargetTopic='bad topic': must be a Kafka topic name (1-249 of A-Z a-z 0-9 . _ -)" }],
  replayPartitioning: [{ value: 'random', problem: "replayPartitioning='random': must be one of keep, key" }],
  replayBootstrapServers: [{ value: 'broker1', problem: "replayBootstrapServers='broker1': must be host:port" }],
  replaySubnetIds: [{ value: 'sub-1', problem: "replaySubnetIds='sub-1': must be subnet IDs (subnet-…)" }],
  replaySecurityGroupIds: [{ value: 'group', problem: "replaySecurityGroupIds='group': must be security group IDs (sg-…)" }],
  replayConcurrency: [{ value: '0', problem: "replayConcurrency='0': must be an integer from 1 to 1000" }],
  replayMemoryMb: [{ value: '128', problem: "replayMemoryMb='128': must be an integer from 256 to 10240" }],
};

describe('loadAppConfig: a bad value of every context key', () => {
  it('has no bad-value cases for keys that are not in the schema', () => {
    // Prepare
    const schemaKeys = Object.keys(ContextSchema.shape);

    // Act
    const stale = Object.keys(BAD_VALUES).filter((k) => !schemaKeys.includes(k));

    // Assess
    expect(stale).toEqual([]);
  });

  describe.each(Object.keys(ContextSchema.shape))('%s', (key) => {
    it('has at least one bad-value case', () => {
      // Prepare
      const cases = BAD_VALUES[key];

      // Act
      const count = cases?.length ?? 0;

      // Assess
      expect(count, `add a bad value for the new context key ${key} to BAD_VALUES`).toBeGreaterThan(0);
    });

    it.each(BAD_VALUES[key] ?? [])('rejects $value', (bad) => {
      // Prepare
      const overrides: Overrides = { ...bad.with, [key]: bad.value };

      // Act
      const problems = problemsOf(overrides);

      // Assess
      const mine = problems.filter((p) => p.startsWith(bad.withoutValue ? `${key}:` : `${key}=`));
      expect(mine.length, problems.join('\n')).toBeGreaterThan(0);
      if (!bad.withoutValue) expect(mine.some((p) => p.includes(bad.value)), problems.join('\n')).toBe(true);
      expect(problems).toEqual([bad.problem]);
    });
  });
});

describe('loadAppConfig: required keys', () => {
  it('asks for topics with an example deploy command', () => {
    // Prepare
    const overrides = { topics: undefined };

    // Act
    const problems = problemsOf(overrides);

    // Assess
    expect(problems).toEqual([`topics: required (which Kafka topics to land), e.g. ${EXAMPLE}`]);
  });

  it('asks for a cluster with an example deploy command', () => {
    // Prepare
    const overrides = { mskClusterArn: undefined, kafkaAuth: 'none' };

    // Act
    const problems = problemsOf(overrides);

    // Assess
    expect(problems).toEqual([`mskClusterArn or bootstrapServers: one is required (which cluster to read), e.g. ${EXAMPLE}`]);
  });

  it('reports both when neither is given, the message showing the problems', () => {
    // Prepare
    const get = contextGet({ topics: undefined, mskClusterArn: undefined, kafkaAuth: 'none' });

    // Act
    const act = () => loadAppConfig(get, dir);

    // Assess
    expect(act).toThrow(ConfigError);
    expect(act).toThrow(
      `Invalid CDK context (2 problems):\n  - topics: required (which Kafka topics to land), e.g. ${EXAMPLE}\n` +
        `  - mskClusterArn or bootstrapServers: one is required (which cluster to read), e.g. ${EXAMPLE}`,
    );
  });
});

describe('loadAppConfig: every problem at once', () => {
  it('reports three bad values in one call', () => {
    // Prepare
    const overrides = { batchSize: '0', format: 'xml', timeoutSeconds: '900' };

    // Act
    const problems = problemsOf(overrides);

    // Assess
    expect(problems).toEqual([
      "batchSize='0': must be an integer from 1 to 10000",
      `format='xml': must be one of jsonl, csv, csv_with_headers, text, bytes, avro, parquet`,
      "timeoutSeconds='900': must be an integer from 1 to 840",
    ]);
  });

  it('reports a bad value together with cross-field and sink problems of the other keys', () => {
    // Prepare
    const overrides = { batchSize: '0', timezone: 'Mars/Base', keyTemplate: '{{topic}}/{{partition}}', retryAttempts: '3' };

    // Act
    const problems = problemsOf(overrides);

    // Assess
    expect(problems).toEqual([
      "batchSize='0': must be an integer from 1 to 10000",
      "retryAttempts='3': Kafka retry controls need provisioned mode (set minPollers and maxPollers) or -1",
      "keyTemplate='{{topic}}/{{partition}}': must contain {{start_offset}} so that every object key is unique (see \"Object keys\" in the README)",
      "timezone='Mars/Base': not an IANA time zone (for example UTC, Europe/Berlin, America/New_York)",
    ]);
  });

  it('reports cross-field problems and the sink schema problems together', () => {
    // Prepare
    const overrides = { format: 'avro', compression: 'gzip', timezone: 'Mars/Base', alarmTopicArn: TOPIC_ARN, alarmEmail: 'ops@example.com' };

    // Act
    const problems = problemsOf(overrides);

    // Assess
    expect(problems).toEqual([
      "compression='gzip': not allowed for format=avro; expected one of null, deflate, snappy, zstandard",
      "alarmEmail='ops@example.com': set alarmTopicArn or alarmEmail, not both",
      "timezone='Mars/Base': not an IANA time zone (for example UTC, Europe/Berlin, America/New_York)",
    ]);
  });
});

describe('loadAppConfig: cross-field rules', () => {
  it('rejects mskClusterArn together with bootstrapServers', () => {
    // Prepare
    const overrides = { bootstrapServers: 'b-1.example.com:9096' };

    // Act
    const problems = problemsOf(overrides);

    // Assess
    expect(problems).toEqual(["bootstrapServers='b-1.example.com:9096': set mskClusterArn or bootstrapServers, not both"]);
  });

  it('rejects kafkaAuth=iam with bootstrapServers', () => {
    // Prepare
    const overrides = { ...SELF_MANAGED, kafkaAuth: 'iam' };

    // Act
    const problems = problemsOf(overrides);

    // Assess
    expect(problems).toEqual(["kafkaAuth='iam': IAM authentication needs mskClusterArn (self-managed Kafka: scram512, scram256, mtls or none)"]);
  });

  it('rejects kafkaAuth=scram256 and none with MSK', () => {
    // Prepare
    const scram256 = { kafkaAuth: 'scram256', kafkaSecretArn: SECRET_ARN };
    const none = { kafkaAuth: 'none' };

    // Act
    const problems = [...problemsOf(scram256), ...problemsOf(none)];

    // Assess
    expect(problems).toEqual([
      "kafkaAuth='scram256': MSK supports SCRAM-SHA-512 only (use scram512)",
      "kafkaAuth='none': MSK event sources authenticate with iam, scram512 or mtls",
    ]);
  });

  it('requires kafkaSecretArn with scram512', () => {
    // Prepare
    const overrides = { ...SELF_MANAGED, kafkaAuth: 'scram512' };

    // Act
    const problems = problemsOf(overrides);

    // Assess
    expect(problems).toEqual([
      "kafkaSecretArn=(unset): required with kafkaAuth='scram512' (the secret with the credentials or client certificate)",
    ]);
  });

  it('accepts self-managed Kafka with SCRAM and a complete VPC', () => {
    // Prepare
    const overrides = {
      ...SELF_MANAGED,
      kafkaAuth: 'scram512',
      kafkaSecretArn: SECRET_ARN,
      vpcId: 'vpc-0123456789abcdef0',
      subnetIds: 'subnet-0123456789abcdef0, subnet-0fedcba9876543210',
      securityGroupIds: 'sg-0123456789abcdef0',
    };

    // Act
    const config = load(overrides);

    // Assess
    expect(config.mskClusterArn).toBeUndefined();
    expect(config.bootstrapServers).toEqual(['b-1.example.com:9096', 'b-2.example.com:9096']);
    expect(config.subnetIds).toEqual(['subnet-0123456789abcdef0', 'subnet-0fedcba9876543210']);
    expect(config.securityGroupIds).toEqual(['sg-0123456789abcdef0']);
  });

  it.each([
    ['vpcId', { vpcId: 'vpc-0123456789abcdef0' }],
    ['subnetIds and securityGroupIds', { subnetIds: 'subnet-0123456789abcdef0', securityGroupIds: 'sg-0123456789abcdef0' }],
  ])('rejects partial VPC settings (%s only)', (_name, vpc) => {
    // Prepare
    const overrides = { ...SELF_MANAGED, kafkaAuth: 'none', ...vpc };

    // Act
    const problems = problemsOf(overrides);

    // Assess
    expect(problems).toEqual(['vpcId/subnetIds/securityGroupIds: set all three to reach brokers in a VPC, or none']);
  });

  it('rejects VPC settings with MSK', () => {
    // Prepare
    const overrides = { vpcId: 'vpc-0123456789abcdef0', subnetIds: 'subnet-0123456789abcdef0', securityGroupIds: 'sg-0123456789abcdef0' };

    // Act
    const problems = problemsOf(overrides);

    // Assess
    expect(problems).toEqual(["vpcId='vpc-0123456789abcdef0': only for self-managed Kafka (MSK networking comes from the cluster)"]);
  });

  it('requires startingTimestamp with AT_TIMESTAMP', () => {
    // Prepare
    const overrides = { startingPosition: 'AT_TIMESTAMP' };

    // Act
    const problems = problemsOf(overrides);

    // Assess
    expect(problems).toEqual(["startingTimestamp=(unset): required with startingPosition='AT_TIMESTAMP' (ISO-8601 or epoch seconds)"]);
  });

  it.each([
    ['an ISO-8601 time', '2024-05-01T12:00:00Z'],
    ['an ISO-8601 time with milliseconds and offset', '2024-05-01T14:00:00.900+02:00'],
    ['epoch seconds', '1714564800'],
  ])('turns %s into startingTimestampSeconds', (_name, startingTimestamp) => {
    // Prepare
    const overrides = { startingPosition: 'AT_TIMESTAMP', startingTimestamp };

    // Act
    const config = load(overrides);

    // Assess
    expect(config.startingTimestampSeconds).toBe(1714564800);
  });

  it('allows no batching window with any batchSize: the ≥ 1 s rule is for streams and SQS, not Kafka (CreateEventSourceMapping, MaximumBatchingWindowInSeconds)', () => {
    // Prepare
    const overrides = { batchSize: '100', maxBatchingWindowSeconds: '0' };

    // Act
    const config = load(overrides);

    // Assess
    expect([config.batchSize, config.maxBatchingWindowSeconds]).toEqual([100, 0]);
  });

  it('allows no batching window with batchSize 10', () => {
    // Prepare
    const overrides = { batchSize: '10', maxBatchingWindowSeconds: '0' };

    // Act
    const config = load(overrides);

    // Assess
    expect(config.maxBatchingWindowSeconds).toBe(0);
  });

  it('rejects retryAttempts, maxRecordAgeSeconds and bisectOnError without provisioned mode', () => {
    // Prepare
    const overrides = { retryAttempts: '3', maxRecordAgeSeconds: '3600', bisectOnError: 'true' };

    // Act
    const problems = problemsOf(overrides);

    // Assess
    expect(problems).toEqual([
      "retryAttempts='3': Kafka retry controls need provisioned mode (set minPollers and maxPollers) or -1",
      "maxRecordAgeSeconds='3600': needs provisioned mode (minPollers, maxPollers) or -1",
      "bisectOnError='true': needs provisioned mode (minPollers, maxPollers)",
    ]);
  });

  it('rejects minPollers > maxPollers', () => {
    // Prepare
    const overrides = { minPollers: '10', maxPollers: '2' };

    // Act
    const problems = problemsOf(overrides);

    // Assess
    expect(problems).toEqual(["minPollers='10': must not exceed maxPollers='2'"]);
  });

  it('needs both minPollers and maxPollers', () => {
    // Prepare
    const overrides = { maxPollers: '4' };

    // Act
    const problems = problemsOf(overrides);

    // Assess
    expect(problems).toEqual(['minPollers/maxPollers: provisioned mode needs both']);
  });

  it('allows gzip for parquet', () => {
    // Prepare
    const overrides = { format: 'parquet', compression: 'gzip' };

    // Act
    const config = load(overrides);

    // Assess
    expect(config.compression).toBe('gzip');
    expect(config.sinkEnvironment).toMatchObject({ FORMAT: 'parquet', COMPRESSION: 'gzip' });
  });

  it('rejects gzip for avro, once', () => {
    // Prepare
    const overrides = { format: 'avro', compression: 'gzip' };

    // Act
    const problems = problemsOf(overrides);

    // Assess
    expect(problems).toEqual(["compression='gzip': not allowed for format=avro; expected one of null, deflate, snappy, zstandard"]);
  });

  it('rejects kmsKeyArn with encryption=s3 and accepts it with kms', () => {
    // Prepare
    const withS3 = { kmsKeyArn: KMS_ARN };
    const withKms = { kmsKeyArn: KMS_ARN, encryption: 'kms' };

    // Act
    const problems = problemsOf(withS3);
    const config = load(withKms);

    // Assess
    expect(problems).toEqual([`kmsKeyArn='${KMS_ARN}': only with encryption='kms'`]);
    expect(config).toMatchObject({ encryption: 'kms', kmsKeyArn: KMS_ARN });
  });

  it('requires bucketName with crossAccountRoleArn', () => {
    // Prepare
    const overrides = { crossAccountRoleArn: ROLE_ARN };

    // Act
    const problems = problemsOf(overrides);

    // Assess
    expect(problems).toEqual(['crossAccountRoleArn: needs bucketName (the bucket in the other account)']);
  });

  it('rejects externalId without crossAccountRoleArn, once', () => {
    // Prepare
    const overrides = { externalId: 'shared-secret' };

    // Act
    const problems = problemsOf(overrides);

    // Assess
    expect(problems).toEqual(['externalId: only with crossAccountRoleArn']);
  });

  it('rejects alarmTopicArn with alarmEmail', () => {
    // Prepare
    const overrides = { alarmTopicArn: TOPIC_ARN, alarmEmail: 'ops@example.com' };

    // Act
    const problems = problemsOf(overrides);

    // Assess
    expect(problems).toEqual(["alarmEmail='ops@example.com': set alarmTopicArn or alarmEmail, not both"]);
  });

  it('reports a bad keyTemplate under the context key, not the variable KEY_TEMPLATE', () => {
    // Prepare
    const overrides = { keyTemplate: '{{topic}}/{{partition}}/part' };

    // Act
    const problems = problemsOf(overrides);

    // Assess
    expect(problems).toEqual([
      `keyTemplate='{{topic}}/{{partition}}/part': must contain {{start_offset}} so that every object key is unique (see "Object keys" in the README)`,
    ]);
    expect(problems.join('\n')).not.toContain('KEY_TEMPLATE');
  });

  it('rejects a schemaFile that does not exist', () => {
    // Prepare
    const overrides = { format: 'avro', schemaFile: 'schemas/nope.avsc' };

    // Act
    const problems = problemsOf(overrides);

    // Assess
    expect(problems).toEqual(["schemaFile='schemas/nope.avsc': cannot be read (ENOENT)"]);
  });

  it('reads a schemaFile that exists, relative to baseDir or absolute', () => {
    // Prepare
    const relative = { format: 'avro', schemaFile: 'order.avsc' };
    const absolute = { format: 'parquet', schemaFile: schemaPath };

    // Act
    const fromRelative = load(relative);
    const fromAbsolute = load(absolute);

    // Assess
    for (const config of [fromRelative, fromAbsolute]) {
      expect(config.schemaText).toBe(ORDER_SCHEMA);
      expect(config.sinkEnvironment.AVRO_SCHEMA_FILE).toBe(BUNDLED_SCHEMA_PATH);
      expect(config.sinkEnvironment.AVRO_SCHEMA).toBeUndefined();
    }
  });

  it('checks the schema file with the sink (an invalid schema fails synth)', () => {
    // Prepare
    const bad = join(dir, 'not-a-schema.avsc');
    writeFileSync(bad, '{"type": "record"');
    const overrides = { format: 'avro', schemaFile: bad };

    // Act
    const problems = problemsOf(overrides);

    // Assess
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^schemaFile='.*not-a-schema\.avsc': /);
  });
});

describe('loadAppConfig: sinkEnvironment', () => {
  it('is the sink defaults, without BUCKET_NAME, for the cdk.json defaults', () => {
    // Prepare
    const get = contextGet();

    // Act
    const { sinkEnvironment } = loadAppConfig(get, dir);

    // Assess
    expect(sinkEnvironment).toEqual({
      PREFIX: 'topics/',
      ERROR_PREFIX: 'dead-letters/',
      STATE_PREFIX: 'checkpoints/',
      FORMAT: 'jsonl',
      KEY_TEMPLATE: CDK_CONTEXT.keyTemplate,
      TIMEZONE: 'UTC',
      MAX_RECORDS_PER_OBJECT: '100000',
      TOMBSTONES: 'ignore',
      VALUE_ENCODING: 'json',
      KEY_ENCODING: 'text',
      HEADER_ENCODING: 'text',
    });
  });

  it('carries the output settings', () => {
    // Prepare
    const overrides = {
      bucketName: 'analytics-landing',
      prefix: 'raw/',
      errorPrefix: 'failed/',
      statePrefix: '_state/landing/',
      format: 'csv_with_headers',
      compression: 'zstd',
      keyTemplate: '{{topic}}/{{timestamp:yyyy/MM/dd}}/{{partition}}-{{start_offset}}',
      fields: 'key,value,offset',
      timezone: 'Europe/Berlin',
      maxRecordsPerObject: '5000',
      tombstones: 'deadletter',
      filterRegex: '"type":"order"',
      valueEncoding: 'text',
      keyEncoding: 'base64',
      headerEncoding: 'base64',
    };

    // Act
    const { sinkEnvironment } = load(overrides);

    // Assess
    expect(sinkEnvironment).toEqual({
      BUCKET_NAME: 'analytics-landing',
      PREFIX: 'raw/',
      ERROR_PREFIX: 'failed/',
      STATE_PREFIX: '_state/landing/',
      FORMAT: 'csv_with_headers',
      COMPRESSION: 'zstd',
      KEY_TEMPLATE: '{{topic}}/{{timestamp:yyyy/MM/dd}}/{{partition}}-{{start_offset}}',
      FIELDS: 'key,value,offset',
      TIMEZONE: 'Europe/Berlin',
      MAX_RECORDS_PER_OBJECT: '5000',
      TOMBSTONES: 'deadletter',
      FILTER_REGEX: '"type":"order"',
      VALUE_ENCODING: 'text',
      KEY_ENCODING: 'base64',
      HEADER_ENCODING: 'base64',
    });
  });

  it('carries the cross-account role and external ID', () => {
    // Prepare
    const overrides = { bucketName: 'other-account-bucket', crossAccountRoleArn: ROLE_ARN, externalId: 'kafka-s3-sink-42' };

    // Act
    const { sinkEnvironment } = load(overrides);

    // Assess
    expect(sinkEnvironment).toMatchObject({
      BUCKET_NAME: 'other-account-bucket',
      CROSS_ACCOUNT_ROLE_ARN: ROLE_ARN,
      EXTERNAL_ID: 'kafka-s3-sink-42',
    });
  });

  it.each<[string, Overrides]>([
    ['the defaults', {}],
    ['parquet with gzip and a prefix at the bucket root', { format: 'parquet', compression: 'gzip', prefix: '' }],
    ['text values only', { format: 'text', fields: 'value', valueEncoding: 'text', tombstones: 'deadletter' }],
    ['cross account', { bucketName: 'other-account-bucket', crossAccountRoleArn: ROLE_ARN, externalId: 'kafka-s3-sink-42' }],
    ['a state prefix of its own', { prefix: 'landing/a/', errorPrefix: 'landing-errors/a/', statePrefix: 'landing-state/a/' }],
  ])("passes the sink's own loadSinkConfig: %s", (_name, overrides) => {
    // Prepare
    const { sinkEnvironment, format, prefix, statePrefix } = load(overrides);

    // Act
    const sink = loadSinkConfig({ BUCKET_NAME: 'my-data-bucket', ...sinkEnvironment });

    // Assess
    expect(sink.format).toBe(format);
    expect(sink.prefix).toBe(prefix);
    expect(sink.statePrefix).toBe(statePrefix);
    expect(sink.bucket).toBe(sinkEnvironment.BUCKET_NAME ?? 'my-data-bucket');
  });

  it("passes the sink's own loadSinkConfig with the bundled schema file", () => {
    // Prepare
    const { sinkEnvironment } = load({ format: 'avro', schemaFile: 'order.avsc' });
    // The bundle copies the schema file to BUNDLED_SCHEMA_PATH; here it stays where it is.
    const env = { ...sinkEnvironment, BUCKET_NAME: 'my-data-bucket', AVRO_SCHEMA_FILE: schemaPath };

    // Act
    const sink = loadSinkConfig(env);

    // Assess
    expect(sink.format).toBe('avro');
    expect(sink.schema).toBeDefined();
  });
});

describe('loadAppConfig: forwarderEnvironment', () => {
  it('is the layout, encodings and tombstone mode, without table columns when no schema is set', () => {
    // Act
    const c = load();

    // Assess
    expect(c.forwarderEnvironment).toEqual({ VALUE_LAYOUT: 'single', VALUE_ENCODING: 'json', KEY_ENCODING: 'text', HEADER_ENCODING: 'text', TOMBSTONES: 'ignore' });
  });

  it('carries the filter, and the table columns and routes with a schema', () => {
    // Act
    const c = load({ topics: 'orders,payments', tables: 'orders=orders,payments=orders', tableColumns: 'order_id:string!,amount:double', filterRegex: 'paid' });

    // Assess
    expect(c.forwarderEnvironment).toMatchObject({
      VALUE_LAYOUT: 'columns', FILTER_REGEX: 'paid',
      TABLE_COLUMNS: '{"orders":{"order_id":"string!","amount":"double"}}', TABLE_ROUTES: 'orders=orders,payments=orders',
    });
  });

  it("passes the forwarder's own loadForwarderConfig", () => {
    // Prepare
    const c = load({ topics: 'orders', tableColumns: 'order_id:string!,at:timestamptz,n:int,b:binary,u:uuid,d:date,t:time' });

    // Act
    const cfg = loadForwarderConfig({ ...c.forwarderEnvironment, ...FORWARDER_STACK_VARIABLES });

    // Assess
    expect(cfg.tables?.columns.get('orders')?.list.map((col) => `${col.name}:${col.type.kind}`)).toEqual(['order_id:string', 'at:timestamptz', 'n:int', 'b:binary', 'u:uuid', 'd:date', 't:time']);
  });

  it('fails synth when the table columns would make the environment exceed 4 KB, naming the sizes', () => {
    // Prepare: 200 columns of about 20 bytes each.
    const columns = Array.from({ length: 200 }, (_, i) => `column_number_${String(i).padStart(3, '0')}:long`).join(',');

    // Act
    const run = () => load({ topics: 'orders', tableColumns: columns });

    // Assess
    expect(run).toThrow(ConfigError);
    const err = (() => { try { run(); } catch (e) { return e as ConfigError; } throw new Error('no error'); })();
    expect(err.problems).toHaveLength(1);
    expect(err.problems[0]).toMatch(new RegExp(`^tableColumns='column_number_000:long,.*': the forwarder's environment would be \\d+ bytes \\(the table columns, TABLE_COLUMNS, take \\d+ bytes\\), over Lambda's limit of 4096 bytes for all of a function's variables; declare fewer or shorter value columns`));
  });

  it('accepts as many columns as fit, and counts the variables the stack adds at their longest', () => {
    // Prepare: about 120 short columns.
    const columns = Array.from({ length: 120 }, (_, i) => `c${i}:long`).join(',');

    // Act
    const c = load({ topics: 'orders', tableColumns: columns });

    // Assess
    expect(environmentBytes({ ...c.forwarderEnvironment, ...FORWARDER_STACK_VARIABLES })).toBeLessThanOrEqual(LAMBDA_ENVIRONMENT_LIMIT_BYTES);
    expect(FORWARDER_STACK_VARIABLES.STREAM_NAME).toHaveLength(128);
  });

  it('does not check the forwarder environment when Firehose reads MSK directly (no forwarder)', () => {
    // Prepare
    const columns = Array.from({ length: 200 }, (_, i) => `column_number_${String(i).padStart(3, '0')}:long`).join(',');

    // Act
    const c = load({ topics: 'orders', tableColumns: columns, tablesSource: 'msk' });

    // Assess
    expect(c.tablesSource).toBe('msk');
  });
});

describe('loadAppConfig: context keys the app does not know', () => {
  const keysOf = (overrides: Overrides) => {
    const merged: Record<string, unknown> = { ...CDK_CONTEXT, ...REQUIRED, ...overrides };
    return Object.keys(merged).filter((k) => merged[k] !== undefined);
  };
  const problemsWithKeys = (overrides: Overrides): readonly string[] => {
    try {
      loadAppConfig(contextGet(overrides), dir, keysOf(overrides));
    } catch (err) {
      if (err instanceof ConfigError) return err.problems;
      throw err;
    }
    return [];
  };

  it.each([
    ['batchSze', '5', 'batchSize'],
    ['memoryMB', '4096', 'memoryMb'],
    ['Format', 'parquet', 'format'],
    ['bisectOnErrors', 'true', 'bisectOnError'],
    ['topic', 'orders', 'topics'],
    ['tableBucket', 'x', 'tableBucketName'],
  ])('-c %s=%s fails synth and suggests %s', (key, value, near) => {
    expect(problemsWithKeys({ [key]: value })).toEqual([`${key}: not a context key of this app; did you mean ${near}? (the README's parameter table lists every key)`]);
  });

  it('names a key that resembles none without a guess', () => {
    expect(problemsWithKeys({ colour: 'blue' })).toEqual([`colour: not a context key of this app (the README's parameter table lists every key)`]);
  });

  it('explains the removed consumerGroupId and what replaces it', () => {
    const [p] = problemsWithKeys({ consumerGroupId: 'kafka-s3-sink' });
    expect(p).toMatch(/^consumerGroupId: removed: AWS requires a consumer group unique to each event source mapping/);
    expect(p).toContain('consumerGroupIds=topic=group');
  });

  it("leaves CDK's own keys and cached lookups alone", () => {
    const own = {
      '@aws-cdk/core:newStyleStackSynthesis': 'true', 'aws:cdk:bundling-stacks': '[]', 'aws-cdk:enableDiffNoFail': 'true',
      'availability-zones:account=111122223333:region=us-east-1': '[]', 'acknowledged-issue-numbers': '[]', 'cli-telemetry': 'false',
      'vpc-provider:account=111122223333:filter.vpc-id=vpc-1:region=us-east-1:returnAsymmetricSubnets=true': '{}',
    };
    expect(problemsWithKeys(own)).toEqual([]);
  });

  it('reports an unknown key together with the other problems', () => {
    expect(problemsWithKeys({ batchSze: '5', format: 'xml' })).toEqual([
      "batchSze: not a context key of this app; did you mean batchSize? (the README's parameter table lists every key)",
      "format='xml': must be one of jsonl, csv, csv_with_headers, text, bytes, avro, parquet",
    ]);
  });
});

describe('loadAppConfig: messages say what is allowed, about the value the user set', () => {
  it('an invalid format does not make a compression meant for it an error against the default format', () => {
    expect(problemsOf({ format: 'xml', compression: 'snappy' })).toEqual(["format='xml': must be one of jsonl, csv, csv_with_headers, text, bytes, avro, parquet"]);
  });

  it('every key, given a value of the wrong kind, says what is allowed (never a bare "Invalid input")', () => {
    for (const key of Object.keys(ContextSchema.shape)) {
      let problems: readonly string[];
      try {
        loadAppConfig(contextGet({ [key]: '\u0000?' }), dir);
        continue; // free text (a prefix, a regex): the value may be allowed
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        problems = err.problems;
      }
      for (const p of problems) {
        expect(p, key).not.toMatch(/Invalid (input|option|email)|Too (small|big)|expected (number|int|string)/);
        if (p.startsWith(`${key}=`)) expect(p, key).toMatch(/must|not |only|needs|required|expected|cannot|unsafe/);
      }
    }
  });
});

describe('transformSql with the catalog and compaction', () => {
  const sql = "SELECT order_id, CAST(amount AS DECIMAL(12,2)) AS amount FROM input";
  it('columnar objects hold the statement\'s columns, which neither a Glue table nor the compactor can declare: refused, named', () => {
    expect(problemsOf({ format: 'parquet', schemaFile: 'test/events/order.avsc', catalog: 'true', transformSql: sql }).join('\n'))
      .toMatch(/catalog='true': format=parquet with transformSql: the columns are the statement's result, which no schemaFile declares/);
    expect(problemsOf({ format: 'avro', schemaFile: 'test/events/order.avsc', compaction: 'true', transformSql: sql }).join('\n'))
      .toMatch(/compaction='true': format=avro with TRANSFORM_SQL: each object's columns are the statement's result/);
  });

  it('jsonl: a catalog and compaction work, but not compaction of rows that unnest made (they share their record\'s offset)', () => {
    expect(load({ catalog: 'true', compaction: 'true', transformSql: sql }).sinkEnvironment.TRANSFORM_SQL).toBe(sql);
    expect(problemsOf({ compaction: 'true', transformSql: 'SELECT order_id, unnest(lines) AS line FROM input' })).toEqual([
      "compaction='true': transformSql makes several rows of one record (unnest), which share its offset, and the compactor keeps one line per offset: unnest after landing (Athena), or leave compaction off",
    ]);
  });
});
