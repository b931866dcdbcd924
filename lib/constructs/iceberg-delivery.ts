/**
 * An Amazon Data Firehose delivery stream into Iceberg tables of an S3 table bucket, reading a Kinesis stream or an
 * MSK topic, with a role that holds exactly the Glue, S3 Tables (or Lake Formation), source, Lambda, error-bucket
 * and log permissions it needs. Failed rows go to the error bucket under the error prefix; delivery is logged.
 */
import { ArnFormat, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kinesis from 'aws-cdk-lib/aws-kinesis';
import * as firehose from 'aws-cdk-lib/aws-kinesisfirehose';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { checkovSkip } from './checkov.ts';
import type { IcebergTables } from './iceberg-tables.ts';
import { mskArnParts } from './kafka-event-sources.ts';
import { acknowledgeWildcards } from './nag.ts';

export type DeliverySource =
  | { readonly kind: 'kinesis'; readonly stream: kinesis.IStream }
  | { readonly kind: 'msk'; readonly clusterArn: string; readonly topic: string; readonly readFromTimestamp?: string };

export interface IcebergDeliveryProps {
  readonly source: DeliverySource;
  readonly tables: IcebergTables;
  /** Destination tables of this stream (one → no routing needed). */
  readonly tableNames: readonly string[];
  /** Transformation that routes records to their table (several tables). */
  readonly router?: lambda.IFunction;
  readonly errorBucket: s3.IBucket;
  readonly errorPrefix: string;
  /** @default true */
  readonly appendOnly?: boolean;
  /** Columns that identify a row for upserts when appendOnly is false. */
  readonly uniqueKeys?: readonly string[];
  readonly bufferSeconds: number;
  readonly bufferMb: number;
  readonly retrySeconds: number;
  /** Lake Formation access mode (grants, lakeformation:GetDataAccess) instead of IAM (s3tables actions). */
  readonly lakeFormation?: boolean;
  readonly logRetention?: logs.RetentionDays;
}

export class IcebergDelivery extends Construct {
  readonly deliveryStream: firehose.CfnDeliveryStream;
  readonly role: iam.Role;
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: IcebergDeliveryProps) {
    super(scope, id);
    const stack = Stack.of(this);
    this.logGroup = new logs.LogGroup(this, 'Logs', { retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH });
    checkovSkip(this.logGroup, { id: 'CKV_AWS_158', comment: 'Firehose delivery errors (reasons, table names), no record contents; CloudWatch Logs encrypts them at rest.' });
    const logStream = new logs.LogStream(this, 'DeliveryLog', { logGroup: this.logGroup });
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('firehose.amazonaws.com', { conditions: { StringEquals: { 'aws:SourceAccount': stack.account } } }),
      description: 'Firehose: read the source, write Iceberg tables of the S3 table bucket, write failed rows to the error bucket',
    });
    const add = (sid: string, actions: string[], resources: string[]) => this.role.addToPolicy(new iam.PolicyStatement({ sid, actions, resources }));

    const glueArns = props.tables.glueArns();
    add('GlueCatalog', ['glue:GetDatabase', 'glue:GetTable', 'glue:UpdateTable'], glueArns);
    const tableBucket = props.tables.tableBucketArn;
    if (props.lakeFormation) {
      // LF access mode: Lake Formation vends the table bucket credentials after checking its grants.
      add('LakeFormationDataAccess', ['lakeformation:GetDataAccess'], ['*']);
      props.tables.grantLakeFormation(this.role.roleArn);
    } else {
      add('S3TablesData', [
        's3tables:GetTableBucket', 's3tables:GetNamespace', 's3tables:GetTable', 's3tables:GetTableMetadataLocation',
        's3tables:UpdateTableMetadataLocation', 's3tables:GetTableData', 's3tables:PutTableData',
      ], [tableBucket, `${tableBucket}/table/*`]);
    }
    const errorObjects = props.errorBucket.arnForObjects(`${props.errorPrefix}*`);
    add('ErrorBucketObjects', ['s3:AbortMultipartUpload', 's3:GetObject', 's3:PutObject'], [errorObjects]);
    add('ErrorBucket', ['s3:GetBucketLocation', 's3:ListBucket', 's3:ListBucketMultipartUploads'], [props.errorBucket.bucketArn]);
    const logStreamArn = stack.formatArn({
      service: 'logs', resource: 'log-group', resourceName: `${this.logGroup.logGroupName}:log-stream:${logStream.logStreamName}`,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    add('DeliveryLogs', ['logs:PutLogEvents'], [logStreamArn]);
    if (props.router) add('InvokeRouter', ['lambda:InvokeFunction', 'lambda:GetFunctionConfiguration'], [props.router.functionArn, `${props.router.functionArn}:*`]);

    let sourceProps: Partial<firehose.CfnDeliveryStreamProps>;
    if (props.source.kind === 'kinesis') {
      const stream = props.source.stream;
      add('KinesisRead', ['kinesis:DescribeStream', 'kinesis:DescribeStreamSummary', 'kinesis:GetShardIterator', 'kinesis:GetRecords', 'kinesis:ListShards'], [stream.streamArn]);
      if (stream.encryptionKey) add('KinesisDecrypt', ['kms:Decrypt'], [stream.encryptionKey.keyArn]);
      sourceProps = {
        deliveryStreamType: 'KinesisStreamAsSource',
        kinesisStreamSourceConfiguration: { kinesisStreamArn: stream.streamArn, roleArn: this.role.roleArn },
      };
    } else {
      const { prefix, name, uuid } = mskArnParts(props.source.clusterArn);
      add('MskCluster', ['kafka:GetBootstrapBrokers', 'kafka:DescribeCluster', 'kafka:DescribeClusterV2', 'kafka-cluster:Connect'], [props.source.clusterArn]);
      add('MskTopic', ['kafka-cluster:DescribeTopic', 'kafka-cluster:DescribeTopicDynamicConfiguration', 'kafka-cluster:ReadData'], [`${prefix}:topic/${name}/${uuid}/${props.source.topic}`]);
      add('MskGroup', ['kafka-cluster:DescribeGroup'], [`${prefix}:group/${name}/${uuid}/*`]);
      sourceProps = {
        deliveryStreamType: 'MSKAsSource',
        mskSourceConfiguration: {
          mskClusterArn: props.source.clusterArn,
          topicName: props.source.topic,
          authenticationConfiguration: { roleArn: this.role.roleArn, connectivity: 'PRIVATE' },
          ...(props.source.readFromTimestamp ? { readFromTimestamp: props.source.readFromTimestamp } : {}),
        },
      };
    }
    const wildcards = [`${tableBucket}/table/*`, errorObjects, glueArns[glueArns.length - 1], ...(props.router ? [`${props.router.functionArn}:*`] : [])];
    if (props.source.kind === 'msk') wildcards.push(`${mskArnParts(props.source.clusterArn).prefix}:group/${mskArnParts(props.source.clusterArn).name}/${mskArnParts(props.source.clusterArn).uuid}/*`);
    acknowledgeWildcards(this.role, props.lakeFormation ? [...wildcards.filter((w) => w !== `${tableBucket}/table/*`), '*'] : wildcards,
      'Scoped to this table bucket\'s tables, this namespace, the error prefix, the router\'s versions and (MSK source) the consumer groups Firehose names itself; lakeformation:GetDataAccess takes no resource.');

    this.deliveryStream = new firehose.CfnDeliveryStream(this, 'Stream', {
      ...sourceProps,
      icebergDestinationConfiguration: {
        roleArn: this.role.roleArn,
        catalogConfiguration: { catalogArn: props.tables.catalogArn },
        s3Configuration: {
          bucketArn: props.errorBucket.bucketArn,
          roleArn: this.role.roleArn,
          errorOutputPrefix: `${props.errorPrefix}!{firehose:error-output-type}/`,
          prefix: `${props.errorPrefix}backup/`,
        },
        destinationTableConfigurationList: props.tableNames.map((t) => ({
          destinationDatabaseName: props.tables.namespace,
          destinationTableName: t,
          s3ErrorOutputPrefix: `${props.errorPrefix}${t}/`,
          ...(props.appendOnly === false && props.uniqueKeys ? { uniqueKeys: [...props.uniqueKeys] } : {}),
        })),
        appendOnly: props.appendOnly ?? true,
        bufferingHints: { intervalInSeconds: props.bufferSeconds, sizeInMBs: props.bufferMb },
        retryOptions: { durationInSeconds: props.retrySeconds },
        s3BackupMode: 'FailedDataOnly',
        cloudWatchLoggingOptions: { enabled: true, logGroupName: this.logGroup.logGroupName, logStreamName: logStream.logStreamName },
        ...(props.router
          ? {
            processingConfiguration: {
              enabled: true,
              processors: [{
                type: 'Lambda',
                parameters: [
                  { parameterName: 'LambdaArn', parameterValue: props.router.functionArn },
                  { parameterName: 'BufferSizeInMBs', parameterValue: '1' },
                  { parameterName: 'BufferIntervalInSeconds', parameterValue: String(Math.min(60, props.bufferSeconds || 60)) },
                ],
              }],
            },
          }
          : {}),
      },
    });
    // Firehose checks the role, the catalog and the tables (and their unique keys) when the stream is created.
    this.deliveryStream.node.addDependency(this.role, props.tables);
    const sseReason = 'Server-side encryption of a delivery stream applies to Direct PUT only; the source (Kinesis stream with a customer key, or MSK) and the table bucket are encrypted.';
    Validations.of(this.deliveryStream).acknowledge({ id: 'AwsSolutions-KDF1', reason: sseReason });
    checkovSkip(this.deliveryStream, { id: 'CKV_AWS_240', comment: sseReason }, { id: 'CKV_AWS_241', comment: sseReason });
  }
}
