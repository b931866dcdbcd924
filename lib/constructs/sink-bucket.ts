/**
 * The destination bucket: an existing one imported by name, or a new one with secure defaults — no public access,
 * TLS only, SSE-S3 or SSE-KMS, versioned (old versions expire), incomplete multipart uploads aborted after a day,
 * server access logs, and kept when the stack is deleted.
 */
import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { checkovSkip } from './checkov.ts';

export interface SinkBucketProps {
  /** Existing bucket to write to. @default - a new bucket is created */
  readonly bucketName?: string;
  /** @default 's3' (SSE-S3) */
  readonly encryption?: 's3' | 'kms';
  /** Key for SSE-KMS. @default - a new key with rotation when encryption is 'kms' */
  readonly kmsKeyArn?: string;
}

export class SinkBucket extends Construct {
  readonly bucket: s3.IBucket;
  /** The KMS key objects are encrypted with, when SSE-KMS. */
  readonly key?: kms.IKey;
  /** True when this construct created the bucket. */
  readonly created: boolean;

  constructor(scope: Construct, id: string, props: SinkBucketProps = {}) {
    super(scope, id);
    const useKms = props.encryption === 'kms';
    this.key = useKms
      ? props.kmsKeyArn
        ? kms.Key.fromKeyArn(this, 'Key', props.kmsKeyArn)
        : new kms.Key(this, 'Key', { enableKeyRotation: true, description: 'Kafka to S3 sink objects', removalPolicy: RemovalPolicy.RETAIN })
      : undefined;

    if (props.bucketName) {
      this.bucket = s3.Bucket.fromBucketName(this, 'Bucket', props.bucketName);
      this.created = false;
      return;
    }
    const logs = new s3.Bucket(this, 'AccessLogs', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      encryption: s3.BucketEncryption.S3_MANAGED,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
      versioned: true,
      lifecycleRules: [{ expiration: Duration.days(365), noncurrentVersionExpiration: Duration.days(30) }],
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const loopReason = 'This is the access-log bucket of the sink bucket; logging it into itself would loop.';
    Validations.of(logs).acknowledge({ id: 'AwsSolutions-S1', reason: loopReason });
    checkovSkip(logs, { id: 'CKV_AWS_18', comment: loopReason });
    this.bucket = new s3.Bucket(this, 'Bucket', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      encryption: useKms ? s3.BucketEncryption.KMS : s3.BucketEncryption.S3_MANAGED,
      encryptionKey: this.key,
      bucketKeyEnabled: useKms,
      versioned: true,
      serverAccessLogsBucket: logs,
      serverAccessLogsPrefix: 'sink-bucket/',
      lifecycleRules: [
        // Retried batches overwrite objects by design; old versions are kept for 7 days, not forever.
        { abortIncompleteMultipartUploadAfter: Duration.days(1), noncurrentVersionExpiration: Duration.days(7) },
      ],
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.created = true;
  }
}
