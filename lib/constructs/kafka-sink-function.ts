/**
 * The sink function and its Kafka event sources (one per topic), with a role that holds exactly what it needs:
 * object and multipart permissions under the data and dead-letter prefixes, the per-partition checkpoints under the
 * state prefix (lambdas/shared/progress.ts), the KMS key when SSE-KMS, and what the event sources need (see
 * KafkaEventSources). With access keys from a Secrets Manager secret, the role may read that secret instead of the
 * bucket, and the S3 statements are an output for the keys' owner.
 */
import { CfnOutput, Stack, type Duration } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { SinkServiceName } from '../../lambdas/shared/constants.ts';
import { KafkaEventSources, type KafkaSourceProps } from './kafka-event-sources.ts';
import { KafkaS3Function } from './kafka-s3-function.ts';
import { acknowledgeWildcards } from './nag.ts';

export type { KafkaAuth, KafkaSourceProps } from './kafka-event-sources.ts';
export { mskArnParts } from './kafka-event-sources.ts';
export { acknowledgeWildcards } from './nag.ts';

export interface KafkaSinkFunctionProps {
  readonly source: KafkaSourceProps;
  /** The metrics' service dimension and the logs' service (lib/naming.ts). @default kafka-s3-sink */
  readonly serviceName?: string;
  readonly bucket: s3.IBucket;
  /** The bucket's SSE-KMS key, when objects are encrypted with one. */
  readonly key?: kms.IKey;
  readonly prefix: string;
  readonly errorPrefix: string;
  /** Prefix of the per-partition checkpoints (the sink's STATE_PREFIX); one pipeline per bucket and state prefix. */
  readonly statePrefix: string;
  /**
   * The sink's environment (validated by the sink's schema at synth). BUCKET_NAME, PREFIX, ERROR_PREFIX and
   * STATE_PREFIX are set here from the props, so the function writes exactly where its role may.
   */
  readonly environment: Readonly<Record<string, string>>;
  /** Schema file bundled with the function at this absolute path on the build machine. */
  readonly schemaFile?: string;
  /** Where the function reads a bundled schema file. */
  readonly bundledSchemaPath?: string;
  /** Write through this role (bucket in another account): the function's own role gets only sts:AssumeRole on it. */
  readonly crossAccountRoleArn?: string;
  /**
   * Sign S3 requests with the long-term access keys in this Secrets Manager secret (complete ARN; the sink reads it at
   * cold start and on rotation): the function's role may read that secret only, and the S3 statements are for the
   * keys' owner to grant (output S3CredentialsWriterPolicy). Not with crossAccountRoleArn.
   */
  readonly s3CredentialsSecretArn?: string;
  /** The customer-managed key that secret is encrypted with: kms:Decrypt through Secrets Manager, for that secret only. */
  readonly s3CredentialsSecretKmsKeyArn?: string;
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
  /** The S3 statements the writer needs: on the function's role, or for the bucket owner's role or user whose keys sign. */
  readonly s3Statements: iam.PolicyStatement[];

  constructor(scope: Construct, id: string, props: KafkaSinkFunctionProps) {
    super(scope, id);
    const secretArn = props.s3CredentialsSecretArn;
    if (secretArn && props.crossAccountRoleArn) throw new Error('KafkaSinkFunction: set crossAccountRoleArn or s3CredentialsSecretArn, not both');
    if (props.s3CredentialsSecretKmsKeyArn && !secretArn) throw new Error('KafkaSinkFunction: s3CredentialsSecretKmsKeyArn needs s3CredentialsSecretArn');
    const f = new KafkaS3Function(this, 'Fn', {
      entry: 'lambdas/sink/handler.ts',
      description: 'Kafka to S3 sink: writes each Kafka batch as formatted, compressed objects',
      purpose: secretArn
        ? 'The function only calls S3, and Secrets Manager for the access keys it signs S3 requests with.'
        : 'The function only calls S3 (and STS for cross-account writes).',
      environment: {
        ...props.environment,
        ...(secretArn ? { S3_CREDENTIALS_SECRET_ARN: secretArn } : {}),
        BUCKET_NAME: props.bucket.bucketName,
        PREFIX: props.prefix,
        ERROR_PREFIX: props.errorPrefix,
        STATE_PREFIX: props.statePrefix,
        POWERTOOLS_SERVICE_NAME: props.serviceName ?? SinkServiceName,
      },
      memoryMb: props.memoryMb,
      timeout: props.timeout,
      architecture: props.architecture,
      reservedConcurrency: props.reservedConcurrency,
      logRetention: props.logRetention,
      bundleFiles: props.schemaFile ? [[props.schemaFile, (props.bundledSchemaPath ?? '/var/task/value-schema.avsc').split('/').pop()!]] : [],
      sqlEngine: props.environment.TRANSFORM_SQL !== undefined,
    });
    this.fn = f.fn;
    this.role = f.role;
    this.logGroup = f.logGroup;

    const prefixes = { data: props.prefix, deadLetters: props.errorPrefix, state: props.statePrefix };
    this.s3Statements = sinkS3Statements(props.bucket, prefixes, props.key);
    if (props.crossAccountRoleArn) {
      this.role.addToPolicy(new iam.PolicyStatement({ sid: 'AssumeWriterRole', actions: ['sts:AssumeRole'], resources: [props.crossAccountRoleArn] }));
    } else if (secretArn) {
      for (const s of secretReadStatements(secretArn, props.s3CredentialsSecretKmsKeyArn)) this.role.addToPolicy(s);
      // The keys' owner grants these to the principal whose keys are in the secret (an IAM user of the bucket's account).
      new CfnOutput(this, 'S3CredentialsWriterPolicy', {
        value: Stack.of(this).toJsonString(new iam.PolicyDocument({ statements: this.s3Statements }).toJSON()),
        description: `Attach to the IAM user whose access keys are in ${secretArn}: the sink writes with those keys`,
      }).overrideLogicalId('S3CredentialsWriterPolicy');
    } else {
      for (const s of this.s3Statements) this.role.addToPolicy(s);
      acknowledgeWildcards(this.role, objectArns(props.bucket, [prefixes.data, prefixes.deadLetters]),
        'Object keys under the sink prefixes come from the key template and offsets; the grant is limited to those prefixes.');
      acknowledgeWildcards(this.role, objectArns(props.bucket, [prefixes.state]),
        'One checkpoint object per topic-partition, named by topic and partition; the grant is limited to the state prefix.');
    }
    const sources = new KafkaEventSources(this, 'Sources', { fn: this.fn, role: this.role, source: props.source });
    this.mappings = sources.mappings;
    this.failureBucket = sources.failureBucket;
    this.failureQueue = sources.failureQueue;
  }
}

/**
 * What the function needs to read the secret with its S3 access keys: GetSecretValue on that one secret, and with a
 * customer-managed key, kms:Decrypt on it only as Secrets Manager calls it (kms:ViaService in the secret's region)
 * for this secret (the encryption context Secrets Manager sets: SecretARN).
 */
export function secretReadStatements(secretArn: string, kmsKeyArn?: string): iam.PolicyStatement[] {
  const statements = [new iam.PolicyStatement({ sid: 'ReadS3CredentialsSecret', actions: ['secretsmanager:GetSecretValue'], resources: [secretArn] })];
  if (kmsKeyArn) {
    statements.push(new iam.PolicyStatement({
      sid: 'DecryptS3CredentialsSecret',
      actions: ['kms:Decrypt'],
      resources: [kmsKeyArn],
      conditions: {
        StringEquals: { 'kms:ViaService': `secretsmanager.${secretArn.split(':')[3]}.amazonaws.com`, 'kms:EncryptionContext:SecretARN': secretArn },
      },
    }));
  }
  return statements;
}

/** Where the sink's objects are: its data, its dead letters, and its per-partition checkpoints. */
export interface SinkPrefixes {
  readonly data: string;
  readonly deadLetters: string;
  readonly state: string;
}

const objectArns = (bucket: s3.IBucket, prefixes: readonly string[]) => [...new Set(prefixes)].map((p) => bucket.arnForObjects(`${p}*`));

/**
 * The sink's S3 statements, no wildcard action (lambdas/shared/progress.ts has the protocol they serve):
 * - WriteObjects: objects and multipart uploads under the data and dead-letter prefixes. No GetObject: the sink
 *   never reads what it wrote.
 * - DeleteTakenOverObjects: DeleteObject under the same two prefixes, for the leftovers of an expired claim it takes
 *   over (the keys that claim listed; DeleteObjects is authorized as s3:DeleteObject per key).
 * - Checkpoints: GetObject and PutObject (conditional: If-Match / If-None-Match, which need no other action) of the
 *   checkpoints under the state prefix, and nothing else there.
 * - CheckpointsNotFound: s3:ListBucket on the bucket, only for keys under the state prefix. Without ListBucket, S3
 *   answers a GetObject of a missing key with 403 instead of 404, and the first delivery of every partition (no
 *   checkpoint yet) would fail for good. For that decision S3 takes the requested key as s3:prefix (Ceph RGW copies
 *   this to match AWS, ceph/ceph#68577), so the condition holds for checkpoint keys only; listing outside the state
 *   prefix stays refused.
 * - ListMultipartUploads on the bucket, and the KMS actions SSE-KMS needs (kms:Decrypt also reads checkpoints).
 * With the data prefix at the bucket root (prefix ''), the data grants cover the whole bucket, state prefix included.
 */
export function sinkS3Statements(bucket: s3.IBucket, prefixes: SinkPrefixes, key?: kms.IKey): iam.PolicyStatement[] {
  const output = objectArns(bucket, [prefixes.data, prefixes.deadLetters]);
  const state = objectArns(bucket, [prefixes.state]);
  const statements = [
    new iam.PolicyStatement({
      sid: 'WriteObjects',
      actions: ['s3:PutObject', 's3:AbortMultipartUpload', 's3:ListMultipartUploadParts'],
      resources: output,
    }),
    new iam.PolicyStatement({ sid: 'DeleteTakenOverObjects', actions: ['s3:DeleteObject'], resources: output }),
    new iam.PolicyStatement({ sid: 'Checkpoints', actions: ['s3:GetObject', 's3:PutObject'], resources: state }),
    new iam.PolicyStatement({
      sid: 'CheckpointsNotFound',
      actions: ['s3:ListBucket'],
      resources: [bucket.bucketArn],
      conditions: { StringLike: { 's3:prefix': `${prefixes.state}*` } },
    }),
    new iam.PolicyStatement({ sid: 'ListMultipartUploads', actions: ['s3:ListBucketMultipartUploads'], resources: [bucket.bucketArn] }),
  ];
  if (key) {
    statements.push(new iam.PolicyStatement({ sid: 'EncryptObjects', actions: ['kms:GenerateDataKey', 'kms:Decrypt'], resources: [key.keyArn] }));
  }
  return statements;
}
