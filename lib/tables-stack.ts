/**
 * KafkaS3TablesStack: Kafka records into Iceberg tables of an S3 table bucket. Default path: Kafka event source →
 * forwarder function → Kinesis stream → Firehose (router transformation when several tables) → Iceberg tables.
 * With tablesSource=msk, Firehose reads each MSK topic directly (one delivery stream per topic).
 * Wiring only: resources and their defaults live in the constructs.
 */
import { Annotations, CfnOutput, Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kinesis from 'aws-cdk-lib/aws-kinesis';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';
import { MetadataColumnPrefix } from '../lambdas/shared/constants.ts';
import { FORWARDER_ERROR_PREFIX, FORWARDER_STATE_PREFIX, type AppConfig } from './config.ts';
import { IcebergDelivery } from './constructs/iceberg-delivery.ts';
import { IcebergTables } from './constructs/iceberg-tables.ts';
import { KafkaEventSources, schemaRegistrySource } from './constructs/kafka-event-sources.ts';
import { grantRegistryRead } from './constructs/registry-access.ts';
import { KafkaS3Function } from './constructs/kafka-s3-function.ts';
import { acknowledgeWildcards } from './constructs/nag.ts';
import { SinkBucket } from './constructs/sink-bucket.ts';
import { SinkMonitoring, type ExtraAlarm } from './constructs/sink-monitoring.ts';
import { consumerGroupId, serviceName } from './naming.ts';
import { KafkaMetadataColumns, ValueColumn } from './table-schema.ts';

export interface TablesStackProps extends StackProps {
  readonly config: AppConfig;
}

const ERROR_PREFIX = 'firehose-errors/';
/** Upserts (appendOnly=false) identify a row by its Kafka coordinates. */
const UNIQUE_KEYS = ['topic', 'partition', 'offset'].map((f) => `${MetadataColumnPrefix}${f}`);

export class KafkaS3TablesStack extends Stack {
  readonly tables: IcebergTables;
  readonly deliveries: IcebergDelivery[] = [];
  readonly stream?: kinesis.Stream;
  readonly forwarder?: KafkaS3Function;
  readonly router?: KafkaS3Function;
  readonly errorBucket: SinkBucket;
  readonly monitoring: SinkMonitoring;

  constructor(scope: Construct, id: string, props: TablesStackProps) {
    super(scope, id, props);
    const c = props.config;
    const tableNames = [...new Set(c.tableRoutes.values())];
    // With the MSK source Firehose writes the raw value: only its own fields can be columns (no _kafka_* metadata).
    const metadata = c.tablesSource === 'msk' ? [] : KafkaMetadataColumns;
    const columns = new Map(tableNames.map((t) => [t, [...(c.tableColumnsByTable?.get(t) ?? [ValueColumn]), ...metadata]]));
    this.tables = new IcebergTables(this, 'Tables', {
      tableBucketName: c.tableBucketName, namespace: c.namespace, tables: columns, createCatalog: c.createTablesCatalog,
    });
    this.errorBucket = new SinkBucket(this, 'Errors', { encryption: 's3' });
    if (c.lakeFormation) {
      // AWS::LakeFormation::PrincipalPermissions is created by the deploy role: "To grant permissions, you must be a
      // data lake administrator or have grant permissions" (S3 User Guide, granting permissions on S3 Tables with
      // Lake Formation). A template cannot check who deploys it, so synth says so.
      Annotations.of(this).addWarningV2('kafka-s3:lake-formation-admin', 'lakeFormation=true: the role that deploys this stack (the CDK bootstrap\'s CloudFormation execution role) must be a Lake Formation data lake administrator, or hold the granted permissions with grant option; otherwise the grants fail to create.');
    }
    const common = {
      tables: this.tables, errorBucket: this.errorBucket.bucket, errorPrefix: ERROR_PREFIX, appendOnly: c.appendOnly, uniqueKeys: UNIQUE_KEYS,
      bufferSeconds: c.firehoseBufferSeconds, bufferMb: c.firehoseBufferMb, retrySeconds: c.firehoseRetrySeconds,
      lakeFormation: c.lakeFormation, logRetention: c.logRetentionDays as logs.RetentionDays,
    };
    const extraAlarms: ExtraAlarm[] = [];
    const extraWidgets: cloudwatch.IWidget[][] = [];

    if (c.tablesSource === 'kinesis') {
      this.stream = new kinesis.Stream(this, 'Stream', {
        streamMode: c.kinesisShardCount ? kinesis.StreamMode.PROVISIONED : kinesis.StreamMode.ON_DEMAND,
        ...(c.kinesisShardCount ? { shardCount: c.kinesisShardCount } : {}),
        // The AWS managed key (aws/kinesis): encrypted at rest without per-producer and per-consumer KMS grants.
        encryption: kinesis.StreamEncryption.MANAGED,
        retentionPeriod: Duration.hours(24),
        // Retained like every resource that holds records: at a destroy it may hold up to 24 h of records the
        // forwarder already sent (and checkpointed, so it will not send them again) that Firehose has not delivered
        // yet, e.g. while the tables refuse writes. Kept, they can still be read back; the stream has no fixed name,
        // so it blocks no redeploy. It bills while kept (on-demand: per stream-hour): delete it once drained
        // (README, "What `cdk destroy` keeps").
        removalPolicy: RemovalPolicy.RETAIN,
      });
      // The router names each record's table (several tables) and, for upserts, the operation Firehose needs per record.
      if (tableNames.length > 1 || !c.appendOnly) {
        this.router = new KafkaS3Function(this, 'Router', {
          entry: 'lambdas/router/handler.ts',
          description: 'Kafka to S3 Tables: routes each Firehose record to the Iceberg table of its Kafka topic',
          purpose: 'The function only transforms the records Firehose passes to it.',
          environment: {
            DATABASE: c.namespace, TABLE_ROUTES: [...c.tableRoutes].map(([t, tb]) => `${t}=${tb}`).join(','), OPERATION: c.appendOnly ? 'insert' : 'update',
          },
          memoryMb: 256, timeout: Duration.minutes(1), architecture: arch(c), logRetention: c.logRetentionDays as logs.RetentionDays,
        });
      }
      this.deliveries.push(new IcebergDelivery(this, 'Delivery', { ...common, source: { kind: 'kinesis', stream: this.stream }, tableNames, router: this.router?.fn }));

      this.forwarder = new KafkaS3Function(this, 'Forwarder', {
        entry: 'lambdas/forwarder/handler.ts',
        description: 'Kafka to S3 Tables: forwards each Kafka batch to Kinesis as JSON documents',
        purpose: 'The function only calls Kinesis and S3 (dead letters).',
        environment: {
          // Layout, encodings, filter and the tables' columns (TABLE_COLUMNS, TABLE_ROUTES) come from the context,
          // checked at synth by the forwarder's own schema and against Lambda's 4 KB for an environment.
          ...c.forwarderEnvironment,
          STREAM_NAME: this.stream.streamName, ERROR_BUCKET: this.errorBucket.bucket.bucketName, ERROR_PREFIX: FORWARDER_ERROR_PREFIX,
          STATE_PREFIX: FORWARDER_STATE_PREFIX,
          POWERTOOLS_SERVICE_NAME: serviceName(c, 'forwarder'),
        },
        memoryMb: c.memoryMb, timeout: Duration.seconds(c.timeoutSeconds), architecture: arch(c), reservedConcurrency: c.reservedConcurrency,
        logRetention: c.logRetentionDays as logs.RetentionDays,
      });
      const role = this.forwarder.role;
      // schemaRegistryDecoder=function: the forwarder reads the registry itself (SCHEMA_REGISTRY is in its environment).
      if (c.schemaRegistry && c.schemaRegistryDecoder === 'function') grantRegistryRead(this.forwarder, role, { registry: c.schemaRegistry, secretArn: c.schemaRegistrySecretArn });
      role.addToPolicy(new iam.PolicyStatement({ sid: 'PutRecords', actions: ['kinesis:PutRecords'], resources: [this.stream.streamArn] }));
      for (const st of forwarderS3Statements(this.errorBucket.bucket, { deadLetters: FORWARDER_ERROR_PREFIX, state: FORWARDER_STATE_PREFIX })) role.addToPolicy(st);
      acknowledgeWildcards(role, [this.errorBucket.bucket.arnForObjects(`${FORWARDER_ERROR_PREFIX}*`)],
        'Dead-letter objects under the forwarder\'s prefix of the error bucket, keyed by topic, partition and offset.');
      acknowledgeWildcards(role, [this.errorBucket.bucket.arnForObjects(`${FORWARDER_STATE_PREFIX}*`)],
        'One checkpoint object per topic-partition, named by topic and partition; the grant is limited to the forwarder\'s state prefix.');
      new KafkaEventSources(this, 'Sources', {
        fn: this.forwarder.fn,
        role,
        source: {
          mskClusterArn: c.mskClusterArn, bootstrapServers: c.bootstrapServers,
          vpc: c.vpcId && c.subnetIds && c.securityGroupIds ? { vpcId: c.vpcId, subnetIds: c.subnetIds, securityGroupIds: c.securityGroupIds } : undefined,
          auth: c.kafkaAuth, secretArn: c.kafkaSecretArn,
        secretKmsKeyArn: c.kafkaSecretKmsKeyArn, topics: c.topics,
          consumerGroupIds: new Map(c.topics.map((t) => [t, consumerGroupId(c, 'tables', t)])),
          rootCaSecretArn: c.kafkaRootCaSecretArn, vpcEndpoints: c.vpcEndpoints,
          startingPosition: c.startingPosition, startingTimestampSeconds: c.startingTimestampSeconds, batchSize: c.batchSize,
          maxBatchingWindow: Duration.seconds(c.maxBatchingWindowSeconds), retryAttempts: c.retryAttempts,
          maxRecordAge: c.maxRecordAgeSeconds === -1 ? undefined : Duration.seconds(c.maxRecordAgeSeconds), bisectOnError: c.bisectOnError,
          pollers: c.provisioned ? { min: c.minPollers!, max: c.maxPollers! } : undefined, onFailure: c.onFailure, schemaRegistry: schemaRegistrySource(c),
        },
      });
      extraAlarms.push(
        { id: 'KinesisWriteThrottles', metric: this.stream.metricWriteProvisionedThroughputExceeded({ period: Duration.minutes(5) }), threshold: 0, description: 'Writes to the Kinesis stream were throttled (the forwarder re-sends them).' },
        { id: 'KinesisIteratorAge', metric: this.stream.metricGetRecordsIteratorAgeMilliseconds({ period: Duration.minutes(5), statistic: 'Maximum' }), threshold: 5 * 60_000, description: 'Firehose is falling behind the Kinesis stream (iterator age over 5 minutes).', evaluationPeriods: 3 },
      );
      extraWidgets.push([
        new cloudwatch.GraphWidget({ title: 'Kinesis write throttles', left: [this.stream.metricWriteProvisionedThroughputExceeded()], width: 12 }),
        new cloudwatch.GraphWidget({ title: 'Kinesis iterator age (ms)', left: [this.stream.metricGetRecordsIteratorAgeMilliseconds({ statistic: 'Maximum' })], width: 12 }),
      ]);
      new CfnOutput(this, 'StreamName', { value: this.stream.streamName });
      new CfnOutput(this, 'ConsumerGroups', {
        value: c.topics.map((t) => `${t}=${consumerGroupId(c, 'tables', t)}`).join(','),
        description: 'Consumer group of each topic\'s event source mapping (topic=group)',
      });
    } else {
      for (const [topic, table] of c.tableRoutes) {
        this.deliveries.push(new IcebergDelivery(this, `Delivery-${topic}`, {
          ...common,
          source: {
            kind: 'msk', clusterArn: c.mskClusterArn!, topic,
            readFromTimestamp: c.startingPosition === 'TRIM_HORIZON' ? '1970-01-01T00:00:00Z'
              : c.startingTimestampSeconds ? new Date(c.startingTimestampSeconds * 1000).toISOString() : undefined,
          },
          tableNames: [table],
        }));
      }
      // Firehose connects to the cluster through a multi-VPC private connection: the cluster's policy must allow it.
      new CfnOutput(this, 'ClusterPolicyStatement', {
        description: 'Add to the MSK cluster policy (multi-VPC private connectivity and IAM auth must be on)',
        value: Stack.of(this).toJsonString({
          Effect: 'Allow', Principal: { Service: 'firehose.amazonaws.com' },
          Action: ['kafka:CreateVpcConnection', 'kafka:GetBootstrapBrokers', 'kafka:DescribeClusterV2'], Resource: c.mskClusterArn,
        }),
      });
    }

    for (const d of this.deliveries) {
      const dims = { DeliveryStreamName: d.deliveryStream.ref };
      const fh = (metricName: string, statistic: string) => new cloudwatch.Metric({ namespace: 'AWS/Firehose', metricName, dimensionsMap: dims, statistic, period: Duration.minutes(5) });
      const suffix = this.deliveries.length > 1 ? `-${d.node.id.replace(/^Delivery-/, '')}` : '';
      extraAlarms.push(
        { id: `FirehoseFailedRows${suffix}`, metric: fh('DeliveryToIceberg.FailedRowCount', 'Sum'), threshold: 0, description: `Firehose could not write rows to the Iceberg tables; they are in s3://<error bucket>/${ERROR_PREFIX}.` },
        { id: `FirehoseFreshness${suffix}`, metric: fh('DeliveryToIceberg.DataFreshness', 'Maximum'), threshold: c.freshnessAlarmSeconds, description: 'The oldest record not yet in the tables is older than freshnessAlarmSeconds.', evaluationPeriods: 3 },
      );
      extraWidgets.push([
        new cloudwatch.GraphWidget({ title: `Rows into Iceberg${suffix}`, left: [fh('DeliveryToIceberg.SuccessfulRowCount', 'Sum'), fh('DeliveryToIceberg.FailedRowCount', 'Sum')], width: 12 }),
        new cloudwatch.GraphWidget({ title: `Data freshness (s)${suffix}`, left: [fh('DeliveryToIceberg.DataFreshness', 'Maximum')], width: 12 }),
      ]);
      new CfnOutput(this, `DeliveryStreamName${suffix}`, { value: d.deliveryStream.ref });
    }

    this.monitoring = new SinkMonitoring(this, 'Monitoring', {
      fn: this.forwarder?.fn, serviceName: serviceName(c, 'forwarder'), deliveredMetric: 'RecordsForwarded',
      offsetLagThreshold: c.offsetLagAlarmThreshold, alarmTopicArn: c.alarmTopicArn, alarmEmail: c.alarmEmail, extraAlarms, extraWidgets,
    });
    new CfnOutput(this, 'TableBucketArn', { value: this.tables.tableBucketArn });
    new CfnOutput(this, 'CatalogArn', { value: this.tables.catalogArn, description: 'Glue catalog of the tables (database = namespace)' });
    new CfnOutput(this, 'ErrorBucketName', { value: this.errorBucket.bucket.bucketName });
  }
}

function arch(c: AppConfig): lambda.Architecture {
  return c.architecture === 'arm64' ? lambda.Architecture.ARM_64 : lambda.Architecture.X86_64;
}

/**
 * The forwarder's S3 statements in the error bucket, no wildcard action (lambdas/shared/progress.ts has the protocol
 * they serve; lambdas/forwarder/app.ts uses it):
 * - DeadLetters: PutObject of its dead-letter objects.
 * - DeleteDeadLetters: DeleteObject under the same prefix only: the dead-letter object of an expired claim it takes
 *   over and does not rewrite, and its own object trimmed to nothing after a partial PutRecords failure
 *   (DeleteObjects is authorized as s3:DeleteObject per key). Checkpoints are never deleted.
 * - Checkpoints: GetObject and PutObject (conditional: If-Match / If-None-Match, which need no other action) under the
 *   state prefix, and nothing else there. No GetObject anywhere else: the forwarder never reads a dead letter.
 * - CheckpointsNotFound: s3:ListBucket on the bucket, only for keys under the state prefix. Without ListBucket, S3
 *   answers a GetObject of a missing key with 403 instead of 404, and the first delivery of every partition (no
 *   checkpoint yet) would fail for good; with the condition, listing outside the state prefix stays refused.
 * The error bucket is SSE-S3: no KMS grant.
 */
export function forwarderS3Statements(bucket: s3.IBucket, prefixes: { readonly deadLetters: string; readonly state: string }): iam.PolicyStatement[] {
  const deadLetters = bucket.arnForObjects(`${prefixes.deadLetters}*`);
  const state = bucket.arnForObjects(`${prefixes.state}*`);
  return [
    new iam.PolicyStatement({ sid: 'DeadLetters', actions: ['s3:PutObject'], resources: [deadLetters] }),
    new iam.PolicyStatement({ sid: 'DeleteDeadLetters', actions: ['s3:DeleteObject'], resources: [deadLetters] }),
    new iam.PolicyStatement({ sid: 'Checkpoints', actions: ['s3:GetObject', 's3:PutObject'], resources: [state] }),
    new iam.PolicyStatement({
      sid: 'CheckpointsNotFound',
      actions: ['s3:ListBucket'],
      resources: [bucket.bucketArn],
      conditions: { StringLike: { 's3:prefix': `${prefixes.state}*` } },
    }),
  ];
}
