/**
 * The sink function and its Kafka event sources (one per topic), with a role that holds exactly what it needs:
 * object and multipart permissions under the data and dead-letter prefixes, the KMS key when SSE-KMS, and what the
 * event sources need (see KafkaEventSources).
 */
import type { Duration } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { KafkaEventSources, type KafkaSourceProps } from './kafka-event-sources.ts';
import { KafkaS3Function } from './kafka-s3-function.ts';
import { acknowledgeWildcards } from './nag.ts';

export type { KafkaAuth, KafkaSourceProps } from './kafka-event-sources.ts';
export { mskArnParts } from './kafka-event-sources.ts';
export { acknowledgeWildcards } from './nag.ts';

export interface KafkaSinkFunctionProps {
  readonly source: KafkaSourceProps;
  readonly bucket: s3.IBucket;
  /** The bucket's SSE-KMS key, when objects are encrypted with one. */
  readonly key?: kms.IKey;
  readonly prefix: string;
  readonly errorPrefix: string;
  /** The sink's environment (validated by the sink's schema at synth); BUCKET_NAME is added here. */
  readonly environment: Readonly<Record<string, string>>;
  /** Schema file bundled with the function at this absolute path on the build machine. */
  readonly schemaFile?: string;
  /** Where the function reads a bundled schema file. */
  readonly bundledSchemaPath?: string;
  /** Write through this role (bucket in another account): the function's own role gets only sts:AssumeRole on it. */
  readonly crossAccountRoleArn?: string;
  /** @default 1024 */
  readonly memoryMb?: number;
  /** @default 300 seconds; at most 14 minutes for Kafka event sources */
  readonly timeout?: Duration;
  /** @default ARM_64 */
  readonly architecture?: lambda.Architecture;
  /** @default - unreserved */
  readonly reservedConcurrency?: number;
  /** @default ONE_MONTH */
  readonly logRetention?: logs.RetentionDays;
}

export class KafkaSinkFunction extends Construct {
  readonly fn: nodejs.NodejsFunction;
  readonly role: iam.Role;
  readonly logGroup: logs.LogGroup;
  readonly mappings: lambda.EventSourceMapping[];
  /** The on-failure destination, when one is created. */
  readonly failureBucket?: s3.Bucket;
  readonly failureQueue?: sqs.Queue;
  /** The S3 statements the writer needs (on the function's role, or for the bucket owner's role when cross-account). */
  readonly s3Statements: iam.PolicyStatement[];

  constructor(scope: Construct, id: string, props: KafkaSinkFunctionProps) {
    super(scope, id);
    const f = new KafkaS3Function(this, 'Fn', {
      entry: 'lambdas/sink/handler.ts',
      description: 'Kafka to S3 sink: writes each Kafka batch as formatted, compressed objects',
      purpose: 'The function only calls S3 (and STS for cross-account writes).',
      environment: { ...props.environment, BUCKET_NAME: props.bucket.bucketName, POWERTOOLS_SERVICE_NAME: 'kafka-s3-sink' },
      memoryMb: props.memoryMb,
      timeout: props.timeout,
      architecture: props.architecture,
      reservedConcurrency: props.reservedConcurrency,
      logRetention: props.logRetention,
      bundleFiles: props.schemaFile ? [[props.schemaFile, (props.bundledSchemaPath ?? '/var/task/value-schema.avsc').split('/').pop()!]] : [],
    });
    this.fn = f.fn;
    this.role = f.role;
    this.logGroup = f.logGroup;

    this.s3Statements = sinkS3Statements(props.bucket, [props.prefix, props.errorPrefix], props.key);
    if (props.crossAccountRoleArn) {
      this.role.addToPolicy(new iam.PolicyStatement({ sid: 'AssumeWriterRole', actions: ['sts:AssumeRole'], resources: [props.crossAccountRoleArn] }));
    } else {
      for (const s of this.s3Statements) this.role.addToPolicy(s);
      acknowledgeWildcards(this.role, this.s3Statements[0].resources,
        'Object keys under the sink prefixes come from the key template and offsets; the grant is limited to those prefixes.');
    }
    const sources = new KafkaEventSources(this, 'Sources', { fn: this.fn, role: this.role, source: props.source });
    this.mappings = sources.mappings;
    this.failureBucket = sources.failureBucket;
    this.failureQueue = sources.failureQueue;
  }
}

/**
 * Object and multipart permissions under the given prefixes, listing of in-progress multipart uploads on the bucket,
 * and the KMS actions SSE-KMS needs. No wildcard actions.
 */
export function sinkS3Statements(bucket: s3.IBucket, prefixes: readonly string[], key?: kms.IKey): iam.PolicyStatement[] {
  const statements = [
    new iam.PolicyStatement({
      sid: 'WriteObjects',
      actions: ['s3:PutObject', 's3:GetObject', 's3:AbortMultipartUpload', 's3:ListMultipartUploadParts'],
      resources: [...new Set(prefixes)].map((p) => bucket.arnForObjects(`${p}*`)),
    }),
    new iam.PolicyStatement({ sid: 'ListMultipartUploads', actions: ['s3:ListBucketMultipartUploads'], resources: [bucket.bucketArn] }),
  ];
  if (key) {
    statements.push(new iam.PolicyStatement({ sid: 'EncryptObjects', actions: ['kms:GenerateDataKey', 'kms:Decrypt'], resources: [key.keyArn] }));
  }
  return statements;
}
