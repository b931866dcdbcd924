/**
 * KafkaS3DirectStack: fine-grained template assertions per option, cdk-nag (AwsSolutions) with zero unacknowledged
 * findings for every configuration, and one snapshot with asset hashes masked.
 */
import { spawnSync } from 'node:child_process';
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

type Statement = { Action: string | string[]; Resource: unknown; Effect: string; Sid?: string; Condition?: unknown };

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
const resourcesOf = (st: Statement): unknown[] => (Array.isArray(st.Resource) ? st.Resource : [st.Resource]);
const withAction = (s: Synth, action: string) => statements(s).filter((st) => actionsOf(st).includes(action));
/** ARNs of the stack's new bucket as the template writes them. */
const bucketArn = { 'Fn::GetAtt': [expect.stringMatching(/^StorageBucket/), 'Arn'] };
const objects = (prefix: string) => ({ 'Fn::Join': ['', [bucketArn, `/${prefix}*`]] });

describe('default configuration (MSK, IAM auth, new bucket)', () => {
  const s = synth();

  it('creates one event source mapping per topic with the batching settings', () => {
    expect(mappings(s)).toHaveLength(2);
    s.template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: MSK_ARN, Topics: ['orders'], BatchSize: 10000, MaximumBatchingWindowInSeconds: 30, StartingPosition: 'TRIM_HORIZON',
      AmazonManagedKafkaEventSourceConfig: { ConsumerGroupId: Match.stringLikeRegexp('^kafka-s3-direct-orders-[0-9a-f]{8}$') },
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
    expect(actionsOf(write).sort()).toEqual(['s3:AbortMultipartUpload', 's3:ListMultipartUploadParts', 's3:PutObject']);
    expect(write.Resource).toEqual([objects('dead-letters/'), objects('topics/')]);
    const list = bySid(s, 'ListMultipartUploads')!;
    expect(list.Action).toBe('s3:ListBucketMultipartUploads');
    expect(list.Resource).toEqual(bucketArn);
    expect(bySid(s, 'EncryptObjects')).toBeUndefined();
  });

  it('grants GetObject and PutObject on the checkpoints under the state prefix only, and passes STATE_PREFIX', () => {
    expect(bySid(s, 'Checkpoints')).toEqual({ Sid: 'Checkpoints', Effect: 'Allow', Action: ['s3:GetObject', 's3:PutObject'], Resource: objects('checkpoints/') });
    expect(env(s)).toMatchObject({ STATE_PREFIX: 'checkpoints/' });
    // GetObject nowhere else: the sink reads its checkpoints, never its data or dead letters.
    expect(withAction(s, 's3:GetObject').map((st) => st.Sid)).toEqual(['Checkpoints']);
    expect(withAction(s, 's3:PutObject').flatMap((st) => resourcesOf(st)))
      .toEqual(expect.arrayContaining([objects('topics/'), objects('dead-letters/'), objects('checkpoints/')]));
    expect(withAction(s, 's3:PutObject').flatMap((st) => resourcesOf(st))).toHaveLength(3);
    expect(s.template.findOutputs('StatePrefix')).toEqual({ StatePrefix: expect.objectContaining({ Value: 's3://<bucket>/checkpoints/' }) });
  });

  it('grants DeleteObject under the data and dead-letter prefixes only (leftovers of a taken-over claim), never under the state prefix', () => {
    expect(bySid(s, 'DeleteTakenOverObjects')).toEqual({
      Sid: 'DeleteTakenOverObjects', Effect: 'Allow', Action: 's3:DeleteObject', Resource: [objects('dead-letters/'), objects('topics/')],
    });
    const deletes = statements(s).filter((st) => actionsOf(st).some((a) => a.startsWith('s3:Delete')));
    expect(deletes.map((st) => [st.Sid, actionsOf(st)])).toEqual([['DeleteTakenOverObjects', ['s3:DeleteObject']]]);
  });

  it('grants ListBucket on the bucket only for keys under the state prefix (404, not 403, for a checkpoint not written yet)', () => {
    expect(bySid(s, 'CheckpointsNotFound')).toEqual({
      Sid: 'CheckpointsNotFound', Effect: 'Allow', Action: 's3:ListBucket', Resource: bucketArn,
      Condition: { StringLike: { 's3:prefix': 'checkpoints/*' } },
    });
    expect(withAction(s, 's3:ListBucket').map((st) => st.Sid)).toEqual(['CheckpointsNotFound']);
  });

  it('grants the kafka-cluster data-plane actions on the cluster, topic and group ARNs', () => {
    const base = 'arn:aws:kafka:us-east-1:111122223333';
    const id = 'demo/abcd1234-ab12-cd34-ef56-abcdef123456-1';
    expect(bySid(s, 'KafkaClusterConnect')).toMatchObject({ Action: ['kafka-cluster:Connect', 'kafka-cluster:DescribeClusterDynamicConfiguration'], Resource: MSK_ARN });
    expect(bySid(s, 'KafkaTopicsRead')).toMatchObject({
      Action: ['kafka-cluster:DescribeTopic', 'kafka-cluster:ReadData'], Resource: [`${base}:topic/${id}/orders`, `${base}:topic/${id}/payments`],
    });
    // One group per mapping (lib/naming.ts), each granted by its ARN.
    const groups = mappings(s).map((m) => (m.AmazonManagedKafkaEventSourceConfig as { ConsumerGroupId: string }).ConsumerGroupId);
    expect(bySid(s, 'KafkaGroup')).toMatchObject({ Action: ['kafka-cluster:AlterGroup', 'kafka-cluster:DescribeGroup'], Resource: groups.map((g) => `${base}:group/${id}/${g}`) });
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
    expect(bySid(s, 'DeleteTakenOverObjects')!.Resource).toEqual(['arn:aws:s3:::acme-datalake/dead-letters/*', 'arn:aws:s3:::acme-datalake/topics/*']);
    expect(bySid(s, 'Checkpoints')!.Resource).toBe('arn:aws:s3:::acme-datalake/checkpoints/*');
    expect(bySid(s, 'CheckpointsNotFound')).toMatchObject({ Resource: 'arn:aws:s3:::acme-datalake', Condition: { StringLike: { 's3:prefix': 'checkpoints/*' } } });
    expect(bySid(s, 'ListMultipartUploads')!.Resource).toBe('arn:aws:s3:::acme-datalake');
    // Reading an SSE-KMS checkpoint needs kms:Decrypt on the key (and writing one kms:GenerateDataKey): on the key only.
    expect(bySid(s, 'EncryptObjects')).toEqual({ Sid: 'EncryptObjects', Effect: 'Allow', Action: ['kms:Decrypt', 'kms:GenerateDataKey'], Resource: KEY });
    expect(statements(s).filter((st) => actionsOf(st).some((a) => a.startsWith('kms:'))).map((st) => st.Sid)).toEqual(['EncryptObjects']);
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
      expect(m.SelfManagedKafkaEventSourceConfig).toEqual({ ConsumerGroupId: expect.stringMatching(/^kafka-s3-direct-(orders|payments)-[0-9a-f]{8}$/) });
    }
    const all = statements(s).flatMap(actionsOf);
    expect(all).toContain('secretsmanager:GetSecretValue');
    expect(all.some((a) => a.startsWith('kafka-cluster:') || a.startsWith('kafka:'))).toBe(false);
    // CreateNetworkInterface scoped to the given subnets and security groups (Service Authorization Reference, EC2).
    const ec2 = (r: string) => `arn:aws:ec2:us-east-1:111122223333:${r}`;
    expect(bySid(s, 'EventSourceNetworkInterfaces')).toMatchObject({
      Action: 'ec2:CreateNetworkInterface',
      Resource: [ec2('network-interface/*'), ec2('security-group/sg-0123456789abcdef0'), ec2('security-group/sg-0fedcba9876543210'), ec2('subnet/subnet-0123456789abcdef0'), ec2('subnet/subnet-0fedcba9876543210')],
    });
    expect(bySid(s, 'EventSourceNetworkInterfacesDelete')).toMatchObject({ Action: 'ec2:DeleteNetworkInterface', Resource: ec2('network-interface/*') });
    expect(bySid(s, 'EventSourceNetworkDescribe')).toMatchObject({ Resource: '*' });
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
    // The on-failure destination gets no delete: the only delete is the sink's own, under its prefixes.
    expect(statements(s).filter((st) => actionsOf(st).some((a) => a.startsWith('s3:Delete'))).map((st) => st.Sid)).toEqual(['DeleteTakenOverObjects']);
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
    const policy = JSON.parse((Object.values(out)[0] as { Value: string }).Value) as { Statement: Statement[] };
    const lake = (prefix: string) => `arn:aws:s3:::partner-lake/${prefix}*`;
    expect(policy.Statement).toEqual([
      { Sid: 'WriteObjects', Effect: 'Allow', Action: ['s3:PutObject', 's3:AbortMultipartUpload', 's3:ListMultipartUploadParts'], Resource: [lake('topics/'), lake('dead-letters/')] },
      { Sid: 'DeleteTakenOverObjects', Effect: 'Allow', Action: 's3:DeleteObject', Resource: [lake('topics/'), lake('dead-letters/')] },
      { Sid: 'Checkpoints', Effect: 'Allow', Action: ['s3:GetObject', 's3:PutObject'], Resource: lake('checkpoints/') },
      { Sid: 'CheckpointsNotFound', Effect: 'Allow', Action: 's3:ListBucket', Resource: 'arn:aws:s3:::partner-lake', Condition: { StringLike: { 's3:prefix': 'checkpoints/*' } } },
      { Sid: 'ListMultipartUploads', Effect: 'Allow', Action: 's3:ListBucketMultipartUploads', Resource: 'arn:aws:s3:::partner-lake' },
    ]);
    expect(s.template.findOutputs('StatePrefix')).toEqual({ StatePrefix: expect.objectContaining({ Value: 's3://partner-lake/checkpoints/' }) });
    expect(nagFindings(s)).toEqual([]);
  });

  it('cross-account with the owner\'s KMS key: the writer policy also holds kms:Decrypt for the checkpoints, on that key', () => {
    const s = synth({ bucketName: 'partner-lake', crossAccountRoleArn: 'arn:aws:iam::444455556666:role/kafka-s3-writer', encryption: 'kms', kmsKeyArn: KEY });
    const out = Object.values(s.template.findOutputs('CrossAccountWriterPolicy'))[0] as { Value: string };
    const policy = JSON.parse(out.Value) as { Statement: Statement[] };
    expect(policy.Statement.find((st) => st.Sid === 'EncryptObjects')).toEqual({ Sid: 'EncryptObjects', Effect: 'Allow', Action: ['kms:GenerateDataKey', 'kms:Decrypt'], Resource: KEY });
    expect(statements(s).flatMap(actionsOf).filter((a) => a.startsWith('s3:') || a.startsWith('kms:'))).toEqual([]);
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
    expect(bySid(s, 'Checkpoints')!.Resource).toEqual(objects('checkpoints/'));
    expect(nagFindings(s)).toEqual([]);
  });

  it('statePrefix moves the checkpoint grants, the ListBucket condition and STATE_PREFIX together', () => {
    const s = synth({ bucketName: 'shared-lake', prefix: 'eu/topics/', errorPrefix: 'eu/dead-letters/', statePrefix: 'eu/checkpoints/' });
    expect(env(s)).toMatchObject({ PREFIX: 'eu/topics/', ERROR_PREFIX: 'eu/dead-letters/', STATE_PREFIX: 'eu/checkpoints/' });
    expect(bySid(s, 'Checkpoints')!.Resource).toBe('arn:aws:s3:::shared-lake/eu/checkpoints/*');
    expect(bySid(s, 'CheckpointsNotFound')!.Condition).toEqual({ StringLike: { 's3:prefix': 'eu/checkpoints/*' } });
    expect(bySid(s, 'DeleteTakenOverObjects')!.Resource).toEqual(['arn:aws:s3:::shared-lake/eu/dead-letters/*', 'arn:aws:s3:::shared-lake/eu/topics/*']);
    expect(JSON.stringify(statements(s))).not.toContain('shared-lake/checkpoints/');
    expect(s.template.findOutputs('StatePrefix')).toEqual({ StatePrefix: expect.objectContaining({ Value: 's3://shared-lake/eu/checkpoints/' }) });
    expect(nagFindings(s)).toEqual([]);
  });

  it('a statePrefix that overlaps the data prefix fails synth naming both', () => {
    expect(() => synth({ statePrefix: 'topics/checkpoints/' }))
      .toThrow(/statePrefix='topics\/checkpoints\/': must not overlap PREFIX='topics\/'/);
  });

  it('a schema file is bundled with the function and its path set in the environment', () => {
    const s = synth({ format: 'avro', schemaFile: 'test/events/order.avsc' }, { bundle: true });
    expect(env(s)).toMatchObject({ AVRO_SCHEMA_FILE: '/var/task/value-schema.avsc' });
    const asm = s.app.synth().directory;
    const assetDir = readdirSync(asm).find((d) => d.startsWith('asset.'))!;
    expect(readdirSync(join(asm, assetDir)).sort()).toEqual(['index.mjs', 'index.mjs.map', 'value-schema.avsc']);
    expect(readFileSync(join(asm, assetDir, 'value-schema.avsc'), 'utf8')).toBe(readFileSync('test/events/order.avsc', 'utf8'));
  });

  it('transformSql: checked by the engine at synth; the bundle holds DuckDB with the native binary of the function\'s architecture', () => {
    expect(() => synth({ transformSql: 'SELECT status, count(*) FROM input GROUP BY status' }))
      .toThrow(/transformSql='SELECT status, count\(\*\) FROM input GROUP BY status': GROUP BY is supported only by the record, with _kafka_topic, _kafka_partition, _kafka_offset among its keys/);
    const sql = "SELECT order_id, CAST(amount AS DECIMAL(12,2)) AS amount FROM input WHERE status <> 'created'";
    // ELF e_machine (offset 18): 0xB7 AArch64, 0x3E x86-64.
    for (const [architecture, machine] of [['arm64', 0xb7], ['x86_64', 0x3e]] as const) {
      const s = synth({ format: 'parquet', transformSql: sql, architecture }, { bundle: true });
      expect(env(s)).toMatchObject({ TRANSFORM_SQL: sql });
      const asm = s.app.synth().directory;
      const assetDir = join(asm, readdirSync(asm).find((d) => d.startsWith('asset.'))!);
      const arch = architecture === 'arm64' ? 'arm64' : 'x64';
      const native = join(assetDir, 'node_modules/@duckdb', `node-bindings-linux-${arch}`);
      expect(readdirSync(join(assetDir, 'node_modules/@duckdb')).sort()).toEqual(['node-api', 'node-bindings', `node-bindings-linux-${arch}`]);
      for (const file of ['duckdb.node', 'libduckdb.so']) {
        const head = readFileSync(join(native, file)).subarray(0, 20);
        expect(head.subarray(0, 4).toString('latin1'), file).toBe('\x7fELF');
        expect(head.readUInt16LE(18), `${architecture} ${file}`).toBe(machine);
      }
      expect(readdirSync(join(assetDir, 'node_modules'))).toContain('detect-libc');
      // The bundle loads the engine at run time, from that node_modules.
      expect(readFileSync(join(assetDir, 'index.mjs'), 'utf8')).toMatch(/import\("@duckdb\/node-api"\)/);
      if (architecture === 'x86_64') {
        // This machine's architecture: the bundle as Lambda would load it (outside this checkout, so from its own
        // node_modules) opens the engine and checks the statement during init; a refused statement fails the init.
        const init = (statement: string) => spawnSync(process.execPath, ['--input-type=module', '-e', `await import(${JSON.stringify(join(assetDir, 'index.mjs'))})`], {
          cwd: assetDir, encoding: 'utf8', env: { PATH: process.env.PATH, AWS_REGION: 'us-east-1', BUCKET_NAME: 'bkt', TRANSFORM_SQL: statement, POWERTOOLS_METRICS_DISABLED: 'true' },
        });
        expect(init(sql).status, init(sql).stderr).toBe(0);
        const refused = init('SELECT * FROM input LIMIT 1');
        expect(refused.status).not.toBe(0);
        expect(refused.stdout + refused.stderr).toContain('TRANSFORM_SQL: LIMIT and OFFSET are not supported');
      }
    }
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
