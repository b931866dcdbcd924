/**
 * KafkaS3DirectStack: Kafka event source → sink function → objects in a general-purpose bucket.
 * Wiring only: resources and their defaults live in the constructs.
 */
import { resolve } from 'node:path';
import { CfnOutput, Duration, Stack, type StackProps } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { BUNDLED_SCHEMA_PATH, type AppConfig } from './config.ts';
import { compactedTables } from './catalog.ts';
import { Compactor } from './constructs/compactor.ts';
import { GlueCatalog } from './constructs/glue-catalog.ts';
import { KafkaSinkFunction } from './constructs/kafka-sink-function.ts';
import { schemaRegistrySource } from './constructs/kafka-event-sources.ts';
import { grantRegistryRead } from './constructs/registry-access.ts';
import { SinkBucket } from './constructs/sink-bucket.ts';
import { SinkMonitoring } from './constructs/sink-monitoring.ts';
import { consumerGroupId, serviceName } from './naming.ts';

export interface DirectStackProps extends StackProps {
  readonly config: AppConfig;
  /** Directory that relative paths in the configuration (schemaFile) are resolved from. */
  readonly baseDir?: string;
}

export class KafkaS3DirectStack extends Stack {
  readonly sink: KafkaSinkFunction;
  readonly bucket: SinkBucket;
  readonly monitoring: SinkMonitoring;
  /** The Glue database and tables over the objects (catalog=true). */
  readonly catalog?: GlueCatalog;
  /** The compactor (compaction=true). */
  readonly compactor?: Compactor;

  constructor(scope: Construct, id: string, props: DirectStackProps) {
    super(scope, id, props);
    const c = props.config;
    this.bucket = new SinkBucket(this, 'Storage', { bucketName: c.bucketName, encryption: c.encryption, kmsKeyArn: c.kmsKeyArn });
    const schemaFile = c.schemaFile ? resolve(props.baseDir ?? process.cwd(), c.schemaFile) : undefined;
    this.sink = new KafkaSinkFunction(this, 'Sink', {
      source: {
        mskClusterArn: c.mskClusterArn,
        bootstrapServers: c.bootstrapServers,
        vpc: c.vpcId && c.subnetIds && c.securityGroupIds ? { vpcId: c.vpcId, subnetIds: c.subnetIds, securityGroupIds: c.securityGroupIds } : undefined,
        auth: c.kafkaAuth,
        secretArn: c.kafkaSecretArn,
        secretKmsKeyArn: c.kafkaSecretKmsKeyArn,
        topics: c.topics,
        consumerGroupIds: new Map(c.topics.map((t) => [t, consumerGroupId(c, 'direct', t)])),
        rootCaSecretArn: c.kafkaRootCaSecretArn,
        vpcEndpoints: c.vpcEndpoints,
        startingPosition: c.startingPosition,
        startingTimestampSeconds: c.startingTimestampSeconds,
        batchSize: c.batchSize,
        maxBatchingWindow: Duration.seconds(c.maxBatchingWindowSeconds),
        retryAttempts: c.retryAttempts,
        maxRecordAge: c.maxRecordAgeSeconds === -1 ? undefined : Duration.seconds(c.maxRecordAgeSeconds),
        bisectOnError: c.bisectOnError,
        pollers: c.provisioned ? { min: c.minPollers!, max: c.maxPollers! } : undefined,
        onFailure: c.onFailure,
        schemaRegistry: schemaRegistrySource(c),
      },
      serviceName: serviceName(c, 'sink'),
      bucket: this.bucket.bucket,
      key: this.bucket.key,
      prefix: c.prefix,
      errorPrefix: c.errorPrefix,
      statePrefix: c.statePrefix,
      environment: { ...c.sinkEnvironment, ...(this.bucket.key ? { SSE_KMS_KEY_ID: this.bucket.key.keyArn } : {}) },
      schemaFile,
      bundledSchemaPath: BUNDLED_SCHEMA_PATH,
      crossAccountRoleArn: c.crossAccountRoleArn,
      s3CredentialsSecretArn: c.s3CredentialsSecretArn,
      s3CredentialsSecretKmsKeyArn: c.s3CredentialsSecretKmsKeyArn,
      memoryMb: c.memoryMb,
      timeout: Duration.seconds(c.timeoutSeconds),
      architecture: c.architecture === 'arm64' ? lambda.Architecture.ARM_64 : lambda.Architecture.X86_64,
      reservedConcurrency: c.reservedConcurrency,
      logRetention: c.logRetentionDays as logs.RetentionDays,
    });
    // schemaRegistryDecoder=function: the sink reads the registry itself (SCHEMA_REGISTRY is in its environment).
    if (c.schemaRegistry && c.schemaRegistryDecoder === 'function') grantRegistryRead(this.sink, this.sink.role, { registry: c.schemaRegistry, secretArn: c.schemaRegistrySecretArn });
    if (c.compaction) {
      this.compactor = new Compactor(this, 'Compaction', {
        bucket: this.bucket.bucket, key: this.bucket.key, sinkEnvironment: c.sinkEnvironment,
        prefix: c.prefix, statePrefix: c.statePrefix, compactedPrefix: c.compactedPrefix,
        targetBytes: c.compactionTargetMb * 1024 * 1024, grace: Duration.minutes(c.compactionGraceMinutes), schedule: Duration.minutes(c.compactionScheduleMinutes),
        rawRetentionDays: c.compactionRawRetentionDays, serviceName: serviceName(c, 'compactor'), memoryMb: c.compactionMemoryMb,
        architecture: c.architecture === 'arm64' ? lambda.Architecture.ARM_64 : lambda.Architecture.X86_64, logRetention: c.logRetentionDays as logs.RetentionDays,
        schemaFile, bundledSchemaPath: BUNDLED_SCHEMA_PATH,
      });
      new CfnOutput(this, 'CompactedPrefix', { value: `s3://${c.bucketName ?? '<bucket>'}/${c.compactedPrefix}`, description: 'Compacted files (data/), one manifest per window (manifests/), and what readers list (symlinks/)' });
      if (!this.bucket.created) {
        // An existing bucket's lifecycle belongs to its owner: without these rules nothing merged is ever removed.
        new CfnOutput(this, 'CompactionLifecycleRules', {
          value: Stack.of(this).toJsonString([
            ...this.compactor.lifecycleRules.map((r) => ({
              ID: r.id, Status: 'Enabled', Filter: { And: { Prefix: r.prefix, Tags: Object.entries(r.tagFilters ?? {}).map(([Key, Value]) => ({ Key, Value })) } },
              Expiration: { Days: r.expiration!.toDays() },
            })),
            // A run stopped at its timeout leaves a file's multipart upload open: its parts are billed until aborted.
            { ID: 'AbortCompactorUploads', Status: 'Enabled', Filter: { Prefix: c.compactedPrefix }, AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 } },
          ]),
          description: 'Add these rules to the bucket\'s lifecycle configuration: they remove merged raw objects and superseded compacted files, and the parts of uploads a stopped run left',
        });
      }
    }
    this.monitoring = new SinkMonitoring(this, 'Monitoring', {
      fn: this.sink.fn, serviceName: serviceName(c, 'sink'), offsetLagThreshold: c.offsetLagAlarmThreshold, alarmTopicArn: c.alarmTopicArn, alarmEmail: c.alarmEmail,
      extraAlarms: this.compactor?.alarms, extraWidgets: this.compactor ? [this.compactor.widgets] : undefined,
    });

    if (c.catalogConfig) {
      const cat = c.catalogConfig;
      const tables = c.compaction ? [...cat.tables, ...compactedTables(cat.tables, c.prefix, c.compactedPrefix)] : cat.tables;
      this.catalog = new GlueCatalog(this, 'Catalog', { bucket: this.bucket.bucket, config: { ...cat, tables }, description: `Kafka topics landed by the ${c.pipelineName} pipeline` });
      new CfnOutput(this, 'CatalogDatabase', { value: cat.database, description: 'Glue database of the tables over the objects (Athena)' });
      new CfnOutput(this, 'CatalogTables', {
        value: tables.map((t) => `${t.topics.join('+')}=${cat.database}.${t.name}`).join(','),
        description: 'Glue table of each topic (topic=database.table); query with Athena, e.g. SELECT * FROM <database>.<table> LIMIT 10',
      });
    }

    // Exported: the replay stack (replay=true) reads this bucket, and its key when it is one created here.
    new CfnOutput(this, 'BucketName', { value: this.bucket.bucket.bucketName, description: 'Bucket the sink writes to', exportName: `${this.stackName}-BucketName` });
    if (this.bucket.key && !c.kmsKeyArn) new CfnOutput(this, 'BucketKeyArn', { value: this.bucket.key.keyArn, description: 'KMS key of the sink\'s objects', exportName: `${this.stackName}-BucketKeyArn` });
    new CfnOutput(this, 'FunctionName', { value: this.sink.fn.functionName, description: 'The sink function' });
    new CfnOutput(this, 'DataPrefix', { value: `s3://${c.bucketName ?? '<bucket>'}/${c.prefix}` });
    new CfnOutput(this, 'DeadLetterPrefix', { value: `s3://${c.bucketName ?? '<bucket>'}/${c.errorPrefix}` });
    new CfnOutput(this, 'StatePrefix', {
      value: `s3://${c.bucketName ?? '<bucket>'}/${c.statePrefix}`,
      description: 'Per-partition checkpoints of this pipeline (exactly-once); no other pipeline may use this bucket and prefix',
    });
    new CfnOutput(this, 'ConsumerGroups', {
      value: c.topics.map((t) => `${t}=${consumerGroupId(c, 'direct', t)}`).join(','),
      description: 'Consumer group of each topic\'s event source mapping (topic=group); pin one with -c consumerGroupIds=topic=group',
    });
    if (c.crossAccountRoleArn) {
      // The bucket owner attaches this to the role the sink assumes (and trusts the sink's role with the external ID).
      const policy = new iam.PolicyDocument({ statements: this.sink.s3Statements });
      new CfnOutput(this, 'CrossAccountWriterPolicy', {
        value: Stack.of(this).toJsonString(policy.toJSON()),
        description: `Attach to ${c.crossAccountRoleArn}; its trust policy must allow the sink role (output SinkRoleArn)${c.externalId ? ' with the external ID' : ''}`,
      });
      new CfnOutput(this, 'SinkRoleArn', { value: this.sink.role.roleArn });
    }
  }
}
