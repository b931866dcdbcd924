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
    checkovSkip(this.logGroup, { id: 'CKV_AWS_158', comment: 'Firehose delivery error messages (error codes, table names); the failed records go to the error bucket. CloudWatch Logs encrypts log data at rest.' });
    const logStream = new logs.LogStream(this, 'DeliveryLog', { logGroup: this.logGroup });
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('firehose.amazonaws.com', { conditions: { StringEquals: { 'aws:SourceAccount': stack.account } } }),
      description: 'Firehose: read the source, write Iceberg tables of the S3 table bucket, write failed rows to the error bucket',
    });
    const add = (sid: string, actions: string[], resources: string[]) => this.role.addToPolicy(new iam.PolicyStatement({ sid, actions, resources }));

    // The Firehose guide's policy for an S3 Tables destination ("Grant Firehose access to Amazon S3 Tables",
    // https://docs.aws.amazon.com/firehose/latest/dev/controlling-access.html#using-s3-tables): glue:GetTable,
    // GetDatabase and UpdateTable on the catalog levels, the database and the tables, here only this table bucket's
    // catalog, this namespace and this stream's tables; plus glue:GetCatalog on the catalogs, which the Glue guide
    // lists for every principal working through the s3tablescatalog in either access mode ("glue:GetCatalog –
    // Required to view catalog details", https://docs.aws.amazon.com/glue/latest/dg/s3tables-catalog-prerequisites.html).
    const glue = props.tables.glueArns(props.tableNames);
    add('GlueCatalog', ['glue:GetCatalog'], glue.catalogs);
    add('GlueTables', ['glue:GetDatabase', 'glue:GetTable', 'glue:UpdateTable'], [...glue.catalogs, glue.database, ...glue.tables]);
    if (props.lakeFormation) {
      // Lake Formation access control: Lake Formation vends the table data credentials after checking its grants;
      // the role holds no s3tables action ("When a registered role is configured and credential vending is enabled,
      // S3 Tables IAM permissions are not required", https://docs.aws.amazon.com/glue/latest/dg/glue-federation-s3tables.html).
      // GetDataAccess has no resource type: the Firehose guide's statement grants it on "*".
      add('LakeFormationDataAccess', ['lakeformation:GetDataAccess'], ['*']);
      props.tables.grantLakeFormation(props.source.kind === 'msk' ? `-${props.source.topic}` : '', this.role.roleArn, props.tableNames);
    } else {
      // IAM access control (the integration's default): "The Firehose delivery role needs IAM permissions directly on
      // Amazon S3 Tables resources" (https://docs.aws.amazon.com/firehose/latest/dev/apache-iceberg-prereq.html#s3-tables-prerequisites).
      // Of the S3 Tables actions the Glue guide lists for IAM access control, those of a writer of existing tables
      // (none that creates, lists or deletes): the bucket and namespace reads on the table bucket, the metadata
      // pointer read and commit and the data reads and writes on this stream's tables, by their TableARN.
      add('S3TablesBucket', ['s3tables:GetTableBucket', 's3tables:GetNamespace'], [props.tables.tableBucketArn]);
      add('S3TablesData', [
        's3tables:GetTable', 's3tables:GetTableMetadataLocation', 's3tables:UpdateTableMetadataLocation', 's3tables:GetTableData', 's3tables:PutTableData',
      ], props.tables.tableArns(props.tableNames));
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
    let mskGroups: string | undefined;
    if (props.source.kind === 'kinesis') {
      const stream = props.source.stream;
      add('KinesisRead', ['kinesis:DescribeStream', 'kinesis:DescribeStreamSummary', 'kinesis:GetShardIterator', 'kinesis:GetRecords', 'kinesis:ListShards'], [stream.streamArn]);
      if (stream.encryptionKey) add('KinesisDecrypt', ['kms:Decrypt'], [stream.encryptionKey.keyArn]);
      sourceProps = {
        deliveryStreamType: 'KinesisStreamAsSource',
        kinesisStreamSourceConfiguration: { kinesisStreamArn: stream.streamArn, roleArn: this.role.roleArn },
      };
    } else {
      // The Firehose guide's statements for an MSK source ("Grant Firehose access to an Amazon S3 destination": "If you
      // use Amazon MSK as your source, then you can substitute that statement with the following",
      // https://docs.aws.amazon.com/firehose/latest/dev/controlling-access.html#using-iam-s3), topic scoped to this one.
      const { prefix, name, uuid } = mskArnParts(props.source.clusterArn);
      add('MskCluster', ['kafka:GetBootstrapBrokers', 'kafka:DescribeCluster', 'kafka:DescribeClusterV2', 'kafka-cluster:Connect'], [props.source.clusterArn]);
      add('MskTopic', ['kafka-cluster:DescribeTopic', 'kafka-cluster:DescribeTopicDynamicConfiguration', 'kafka-cluster:ReadData'], [`${prefix}:topic/${name}/${uuid}/${props.source.topic}`]);
      mskGroups = `${prefix}:group/${name}/${uuid}/*`;
      add('MskGroup', ['kafka-cluster:DescribeGroup'], [mskGroups]);
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
    // The wildcards left, each the narrowest the service allows (the Glue and S3 Tables grants name every resource).
    acknowledgeWildcards(this.role, [errorObjects], 'Failed rows and backups under this stream\'s error prefix of the error bucket; Firehose names the objects.');
    if (props.router) {
      acknowledgeWildcards(this.role, [`${props.router.functionArn}:*`],
        'The router function\'s qualified ARNs (versions, $LATEST), as the Firehose guide\'s policy names function:<name>:<version>.');
    }
    if (mskGroups) {
      acknowledgeWildcards(this.role, [mskGroups],
        'Consumer groups of this cluster only: Firehose names its own group, and its guide grants DescribeGroup on group/<cluster>/<uuid>/*.');
    }
    if (props.lakeFormation) acknowledgeWildcards(this.role, ['*'], 'lakeformation:GetDataAccess supports no resource-level permission; Lake Formation\'s grants decide which tables it vends credentials for.');

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
    // "You can enable SSE for a Firehose stream only if it's a Firehose stream that uses DirectPut as its source"
    // (StartDeliveryStreamEncryption, Firehose API reference). With a Kinesis source "Firehose no longer stores the
    // data at rest. Instead, the data is stored in the data stream" (https://docs.aws.amazon.com/firehose/latest/dev/encryption.html).
    const sourceAtRest = props.source.kind === 'kinesis'
      ? `the Kinesis stream holds the records, encrypted at rest with ${props.source.stream.encryptionKey ? 'its customer managed KMS key' : 'the AWS managed key aws/kinesis'}`
      : 'the MSK cluster holds the records, encrypted at rest by MSK';
    const sseReason = `Server-side encryption of a delivery stream applies to Direct PUT sources only; ${sourceAtRest}, and the table bucket encrypts the rows (SSE-S3).`;
    Validations.of(this.deliveryStream).acknowledge({ id: 'AwsSolutions-KDF1', reason: sseReason });
    checkovSkip(this.deliveryStream, { id: 'CKV_AWS_240', comment: sseReason }, { id: 'CKV_AWS_241', comment: sseReason });
  }
}
