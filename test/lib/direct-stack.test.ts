/**
 * KafkaS3DirectStack: fine-grained template assertions per option, cdk-nag (AwsSolutions) with zero unacknowledged
 * findings for every configuration, and one snapshot with asset hashes masked.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { MSK_ARN, nagFindings, synth, type Synth } from './synth.ts';

const SECRET = 'arn:aws:secretsmanager:us-east-1:111122223333:secret:kafka-creds-AbCdEf';
const KEY = 'arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const SELF_MANAGED = {
  mskClusterArn: '', bootstrapServers: 'b-1.kafka.internal:9096,b-2.kafka.internal:9096', kafkaAuth: 'scram512', kafkaSecretArn: SECRET,
  vpcId: 'vpc-0123456789abcdef0', subnetIds: 'subnet-0123456789abcdef0,subnet-0fedcba9876543210', securityGroupIds: 'sg-0123456789abcdef0,sg-0fedcba9876543210',
};
const PROVISIONED = { minPollers: '2', maxPollers: '20', retryAttempts: '10', maxRecordAgeSeconds: '3600', bisectOnError: 'true' };

type Statement = { Action: string | string[]; Resource: unknown; Effect: string; Sid?: string };

function statements(s: Synth): Statement[] {
  const policies = s.template.findResources('AWS::IAM::Policy');
  return Object.values(policies).flatMap((p) => (p as { Properties: { PolicyDocument: { Statement: Statement[] } } }).Properties.PolicyDocument.Statement);
}
const actionsOf = (st: Statement) => (Array.isArray(st.Action) ? st.Action : [st.Action]);
const bySid = (s: Synth, sid: string) => statements(s).find((st) => st.Sid === sid);
function mappings(s: Synth): Record<string, unknown>[] {
  return Object.values(s.template.findResources('AWS::Lambda::EventSourceMapping')).map((m) => (m as { Properties: Record<string, unknown> }).Properties);
}
function functionProps(s: Synth): Record<string, unknown> {
  const fns = Object.values(s.template.findResources('AWS::Lambda::Function')) as { Properties: Record<string, unknown> }[];
  expect(fns).toHaveLength(1);
  return fns[0].Properties;
}
const env = (s: Synth) => (functionProps(s).Environment as { Variables: Record<string, unknown> }).Variables;

describe('default configuration (MSK, IAM auth, new bucket)', () => {
  const s = synth();

  it('creates one event source mapping per topic with the batching settings', () => {
    expect(mappings(s)).toHaveLength(2);
    s.template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: MSK_ARN, Topics: ['orders'], BatchSize: 10000, MaximumBatchingWindowInSeconds: 30, StartingPosition: 'TRIM_HORIZON',
      AmazonManagedKafkaEventSourceConfig: { ConsumerGroupId: 'kafka-s3-sink' },
    });
    s.template.hasResourceProperties('AWS::Lambda::EventSourceMapping', { Topics: ['payments'] });
    for (const m of mappings(s)) {
      expect(m.ProvisionedPollerConfig).toBeUndefined();
      expect(m.MaximumRetryAttempts).toBeUndefined();
      expect(m.DestinationConfig).toBeUndefined();
    }
  });

  it('runs the sink on Node 24, arm64, with the validated environment', () => {
    expect(functionProps(s)).toMatchObject({ Runtime: 'nodejs24.x', Architectures: ['arm64'], MemorySize: 1769, Timeout: 300, Handler: 'index.handler' });
    expect(env(s)).toMatchObject({
      BUCKET_NAME: { Ref: expect.stringMatching(/^StorageBucket/) }, PREFIX: 'topics/', ERROR_PREFIX: 'dead-letters/', FORMAT: 'jsonl',
      TIMEZONE: 'UTC', MAX_RECORDS_PER_OBJECT: '100000', TOMBSTONES: 'ignore', VALUE_ENCODING: 'json',
    });
    expect(env(s).SSE_KMS_KEY_ID).toBeUndefined();
    s.template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
  });

  it('creates the bucket with secure defaults: no public access, TLS only, SSE-S3, multipart cleanup, retained', () => {
    s.template.hasResource('AWS::S3::Bucket', {
      DeletionPolicy: 'Retain',
      Properties: Match.objectLike({
        PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
        BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
        VersioningConfiguration: { Status: 'Enabled' },
        LoggingConfiguration: Match.objectLike({ LogFilePrefix: 'sink-bucket/' }),
        LifecycleConfiguration: { Rules: [Match.objectLike({ AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 }, Status: 'Enabled' })] },
      }),
    });
    s.template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: Match.stringLikeRegexp('^StorageBucket') },
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Action: 's3:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
    });
  });

  it('grants exactly the object and multipart actions under the two prefixes, and multipart listing on the bucket', () => {
    const write = bySid(s, 'WriteObjects')!;
    expect(actionsOf(write).sort()).toEqual(['s3:AbortMultipartUpload', 's3:GetObject', 's3:ListMultipartUploadParts', 's3:PutObject']);
    expect(JSON.stringify(write.Resource)).toContain('"/dead-letters/*"');
    expect(JSON.stringify(write.Resource)).toContain('"/topics/*"');
    expect((write.Resource as unknown[]).length).toBe(2);
    const list = bySid(s, 'ListMultipartUploads')!;
    expect(list.Action).toBe('s3:ListBucketMultipartUploads');
    expect(list.Resource).toEqual({ 'Fn::GetAtt': [expect.stringMatching(/^StorageBucket/), 'Arn'] });
    expect(bySid(s, 'EncryptObjects')).toBeUndefined();
  });

  it('grants the kafka-cluster data-plane actions on the cluster, topic and group ARNs', () => {
    const base = 'arn:aws:kafka:us-east-1:111122223333';
    const id = 'demo/abcd1234-ab12-cd34-ef56-abcdef123456-1';
    expect(bySid(s, 'KafkaClusterConnect')).toMatchObject({ Action: ['kafka-cluster:Connect', 'kafka-cluster:DescribeClusterDynamicConfiguration'], Resource: MSK_ARN });
    expect(bySid(s, 'KafkaTopicsRead')).toMatchObject({
      Action: ['kafka-cluster:DescribeTopic', 'kafka-cluster:ReadData'], Resource: [`${base}:topic/${id}/orders`, `${base}:topic/${id}/payments`],
    });
    expect(bySid(s, 'KafkaGroup')).toMatchObject({ Action: ['kafka-cluster:AlterGroup', 'kafka-cluster:DescribeGroup'], Resource: `${base}:group/${id}/kafka-s3-sink` });
  });

  it('uses no wildcard action and no managed policy on the sink role', () => {
    for (const st of statements(s)) for (const a of actionsOf(st)) expect(a, `action ${a}`).not.toMatch(/\*/);
    const roles = Object.values(s.template.findResources('AWS::IAM::Role')) as { Properties: { ManagedPolicyArns?: unknown } }[];
    for (const r of roles) expect(r.Properties.ManagedPolicyArns).toBeUndefined();
  });

  it('alarms on errors, throttles, offset lag, dead letters and check gaps, and has a dashboard', () => {
    s.template.resourceCountIs('AWS::CloudWatch::Alarm', 5);
    s.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Threshold: 0,
      Metrics: Match.arrayWith([
        Match.objectLike({ Expression: 'FILL(gaps, 0) + FILL(fallbacks, 0)' }),
        Match.objectLike({ Id: 'gaps', MetricStat: Match.objectLike({ Metric: Match.objectLike({ MetricName: 'RecordCheckGaps', Namespace: 'KafkaS3' }) }) }),
        Match.objectLike({ Id: 'fallbacks', MetricStat: Match.objectLike({ Metric: Match.objectLike({ MetricName: 'EncodeFallbacks' }) }) }),
      ]),
    });
    s.template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'OffsetLag', Namespace: 'AWS/Lambda', Threshold: 100000, Statistic: 'Maximum', EvaluationPeriods: 3 });
    s.template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'Errors', Threshold: 0 });
    s.template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'Throttles', Threshold: 0 });
    s.template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'RecordsDeadLettered', Namespace: 'KafkaS3', Dimensions: [{ Name: 'service', Value: 'kafka-s3-sink' }] });
    s.template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
    s.template.resourceCountIs('AWS::SNS::Topic', 0);
  });

  it('passes cdk-nag AwsSolutions with no unacknowledged finding', () => {
    expect(nagFindings(s)).toEqual([]);
  });
});

describe('options', () => {
  it('existing bucket with a given KMS key: imported, key permissions, SSE-KMS in the environment', () => {
    const s = synth({ bucketName: 'acme-datalake', encryption: 'kms', kmsKeyArn: KEY });
    s.template.resourceCountIs('AWS::S3::Bucket', 0);
    s.template.resourceCountIs('AWS::KMS::Key', 0);
    expect(bySid(s, 'WriteObjects')!.Resource).toEqual(['arn:aws:s3:::acme-datalake/dead-letters/*', 'arn:aws:s3:::acme-datalake/topics/*']);
    expect(bySid(s, 'ListMultipartUploads')!.Resource).toBe('arn:aws:s3:::acme-datalake');
    expect(bySid(s, 'EncryptObjects')).toMatchObject({ Action: ['kms:Decrypt', 'kms:GenerateDataKey'], Resource: KEY });
    expect(env(s)).toMatchObject({ BUCKET_NAME: 'acme-datalake', SSE_KMS_KEY_ID: KEY });
    expect(nagFindings(s)).toEqual([]);
  });

  it('encryption=kms without a key creates one with rotation and encrypts the bucket with it', () => {
    const s = synth({ encryption: 'kms' });
    s.template.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
    s.template.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ BucketKeyEnabled: true, ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: Match.anyValue() } }] },
    });
    expect(bySid(s, 'EncryptObjects')!.Resource).toEqual({ 'Fn::GetAtt': [expect.stringMatching(/^StorageKey/), 'Arn'] });
    expect(nagFindings(s)).toEqual([]);
  });

  it('self-managed Kafka with SCRAM in a VPC: endpoints, secret, subnets and security groups on the mapping', () => {
    const s = synth(SELF_MANAGED);
    for (const m of mappings(s)) {
      expect(m.SelfManagedEventSource).toEqual({ Endpoints: { KafkaBootstrapServers: ['b-1.kafka.internal:9096', 'b-2.kafka.internal:9096'] } });
      expect(m.SourceAccessConfigurations).toEqual([
        { Type: 'SASL_SCRAM_512_AUTH', URI: SECRET },
        { Type: 'VPC_SUBNET', URI: 'subnet:subnet-0123456789abcdef0' },
        { Type: 'VPC_SUBNET', URI: 'subnet:subnet-0fedcba9876543210' },
        { Type: 'VPC_SECURITY_GROUP', URI: 'security_group:sg-0123456789abcdef0' },
        { Type: 'VPC_SECURITY_GROUP', URI: 'security_group:sg-0fedcba9876543210' },
      ]);
      expect(m.SelfManagedKafkaEventSourceConfig).toEqual({ ConsumerGroupId: 'kafka-s3-sink' });
    }
    const all = statements(s).flatMap(actionsOf);
    expect(all).toContain('secretsmanager:GetSecretValue');
    expect(all.some((a) => a.startsWith('kafka-cluster:') || a.startsWith('kafka:'))).toBe(false);
    expect(bySid(s, 'EventSourceNetworking')).toBeDefined();
    expect(nagFindings(s)).toEqual([]);
  });

  it('MSK with mTLS: the client-certificate secret on the mapping and no kafka-cluster grants', () => {
    const s = synth({ kafkaAuth: 'mtls', kafkaSecretArn: SECRET });
    for (const m of mappings(s)) expect(m.SourceAccessConfigurations).toEqual([{ Type: 'CLIENT_CERTIFICATE_TLS_AUTH', URI: SECRET }]);
    expect(bySid(s, 'KafkaClusterConnect')).toBeUndefined();
    expect(nagFindings(s)).toEqual([]);
  });

  it('provisioned mode with retries, record age, bisect and an S3 on-failure destination', () => {
    const s = synth({ ...PROVISIONED, onFailure: 's3' });
    for (const m of mappings(s)) {
      expect(m).toMatchObject({
        ProvisionedPollerConfig: { MinimumPollers: 2, MaximumPollers: 20 }, MaximumRetryAttempts: 10, MaximumRecordAgeInSeconds: 3600,
        BisectBatchOnFunctionError: true, DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [expect.stringMatching(/FailedBatches/), 'Arn'] } } },
      });
    }
    expect(bySid(s, 'OnFailureWrite')).toMatchObject({ Action: 's3:PutObject' });
    expect(bySid(s, 'OnFailureList')).toMatchObject({ Action: 's3:ListBucket' });
    expect(statements(s).flatMap(actionsOf).filter((a) => a.startsWith('s3:Delete'))).toEqual([]);
    expect(nagFindings(s)).toEqual([]);
  });

  it('an SQS on-failure destination: encrypted queue and send permission', () => {
    const s = synth({ onFailure: 'sqs' });
    s.template.hasResourceProperties('AWS::SQS::Queue', { SqsManagedSseEnabled: true, MessageRetentionPeriod: 1_209_600 });
    expect(statements(s).flatMap(actionsOf)).toContain('sqs:SendMessage');
    expect(nagFindings(s)).toEqual([]);
  });

  it('AT_TIMESTAMP starts each mapping at the given time', () => {
    const s = synth({ startingPosition: 'AT_TIMESTAMP', startingTimestamp: '2026-01-01T00:00:00Z' });
    for (const m of mappings(s)) expect(m).toMatchObject({ StartingPosition: 'AT_TIMESTAMP', StartingPositionTimestamp: 1_767_225_600 });
  });

  it('cross-account: the role may only assume the writer role, and the writer policy is an output', () => {
    const role = 'arn:aws:iam::444455556666:role/kafka-s3-writer';
    const s = synth({ bucketName: 'partner-lake', crossAccountRoleArn: role, externalId: 'ext-1234' });
    expect(bySid(s, 'AssumeWriterRole')).toMatchObject({ Action: 'sts:AssumeRole', Resource: role });
    expect(statements(s).flatMap(actionsOf).filter((a) => a.startsWith('s3:'))).toEqual([]);
    expect(env(s)).toMatchObject({ CROSS_ACCOUNT_ROLE_ARN: role, EXTERNAL_ID: 'ext-1234' });
    const out = s.template.findOutputs('CrossAccountWriterPolicy');
    const text = JSON.stringify(Object.values(out)[0]);
    expect(text).toContain('s3:PutObject');
    expect(text).toContain('partner-lake/topics/*');
    expect(nagFindings(s)).toEqual([]);
  });

  it('alarm notifications: a new topic for alarmEmail, an existing topic by ARN', () => {
    const e = synth({ alarmEmail: 'ops@example.com' });
    e.template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'ops@example.com' });
    e.template.hasResourceProperties('AWS::CloudWatch::Alarm', { AlarmActions: [{ Ref: Match.stringLikeRegexp('AlarmTopic') }] });
    expect(nagFindings(e)).toEqual([]);
    const topic = 'arn:aws:sns:us-east-1:111122223333:ops-alerts';
    const t = synth({ alarmTopicArn: topic });
    t.template.resourceCountIs('AWS::SNS::Topic', 0);
    t.template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'Errors', AlarmActions: [topic] });
  });

  it('function settings: x86_64, memory, timeout, reserved concurrency, log retention', () => {
    const s = synth({ architecture: 'x86_64', memoryMb: '3008', timeoutSeconds: '840', reservedConcurrency: '20', logRetentionDays: '365', offsetLagAlarmThreshold: '5000' });
    expect(functionProps(s)).toMatchObject({ Architectures: ['x86_64'], MemorySize: 3008, Timeout: 840, ReservedConcurrentExecutions: 20 });
    s.template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 365 });
    s.template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'OffsetLag', Threshold: 5000 });
  });

  it('output settings reach the function environment; an empty prefix grants the whole bucket', () => {
    const s = synth({ prefix: '', errorPrefix: '_errors/', format: 'parquet', compression: 'zstd', fields: 'value,offset', tombstones: 'write', timezone: 'Europe/Berlin', filterRegex: '"status":"paid"' });
    expect(env(s)).toMatchObject({ PREFIX: '', ERROR_PREFIX: '_errors/', FORMAT: 'parquet', COMPRESSION: 'zstd', FIELDS: 'value,offset', TOMBSTONES: 'write', TIMEZONE: 'Europe/Berlin', FILTER_REGEX: '"status":"paid"' });
    expect(JSON.stringify(bySid(s, 'WriteObjects')!.Resource)).toContain('"/*"');
    expect(nagFindings(s)).toEqual([]);
  });

  it('a schema file is bundled with the function and its path set in the environment', () => {
    const s = synth({ format: 'avro', schemaFile: 'test/events/order.avsc' }, { bundle: true });
    expect(env(s)).toMatchObject({ AVRO_SCHEMA_FILE: '/var/task/value-schema.avsc' });
    const asm = s.app.synth().directory;
    const assetDir = readdirSync(asm).find((d) => d.startsWith('asset.'))!;
    expect(readdirSync(join(asm, assetDir)).sort()).toEqual(['index.mjs', 'index.mjs.map', 'value-schema.avsc']);
    expect(readFileSync(join(asm, assetDir, 'value-schema.avsc'), 'utf8')).toBe(readFileSync('test/events/order.avsc', 'utf8'));
  });
});

describe('cdk-nag catches what it should', () => {
  it('a wildcard grant fails synth with AwsSolutions-IAM5 (the check is live)', () => {
    expect(() => synth({}, { mutate: (st) => st.sink.role.addToPolicy(new iam.PolicyStatement({ actions: ['s3:*'], resources: ['*'] })) }))
      .toThrow(/AwsSolutions-IAM5\[Action::s3:\*\]/);
  });
});

describe('snapshot', () => {
  it('matches the default template with asset hashes masked', () => {
    const json = JSON.stringify(synth({}, { nag: false }).template.toJSON(), null, 2)
      .replace(/[0-9a-f]{64}(\.zip)?/g, '<asset-hash>');
    expect(json).toMatchSnapshot();
  });
});
