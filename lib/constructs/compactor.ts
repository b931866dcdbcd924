/**
 * The compactor (lambdas/compactor): a scheduled function that merges the sink's closed windows into large files,
 * with a role that reads the raw objects and checkpoints and writes only under the compacted prefix, the bucket's
 * lifecycle rules that remove what it tags (merged raw objects after the retention, superseded files after a day),
 * and its alarms. One run at a time (reserved concurrency 1); each window's state is its manifest, so a run that
 * fails or times out is resumed by the next.
 */
import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import type * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { COMPACTION_TAG, TAG_COMPACTED, TAG_SUPERSEDED } from '../../lambdas/compactor/compact.ts';
import { MetricsNamespace } from '../../lambdas/shared/constants.ts';
import { KafkaS3Function } from './kafka-s3-function.ts';
import { acknowledgeWildcards } from './nag.ts';
import type { ExtraAlarm } from './sink-monitoring.ts';

export interface CompactorProps {
  readonly bucket: s3.IBucket;
  /** The bucket's SSE-KMS key, when objects are encrypted with one. */
  readonly key?: kms.IKey;
  /** The sink's environment (the compactor reads objects as the sink wrote them), validated at synth. */
  readonly sinkEnvironment: Readonly<Record<string, string>>;
  readonly prefix: string;
  readonly statePrefix: string;
  readonly compactedPrefix: string;
  readonly targetBytes: number;
  readonly grace: Duration;
  /** How often a run starts. */
  readonly schedule: Duration;
  /** Raw objects merged into a published window are removed this long after they were written. */
  readonly rawRetentionDays: number;
  /** The metrics' service dimension and the logs' service. */
  readonly serviceName: string;
  /** @default 2048 */
  readonly memoryMb?: number;
  /** @default ARM_64 */
  readonly architecture?: lambda.Architecture;
  /** @default ONE_MONTH */
  readonly logRetention?: logs.RetentionDays;
  /** The value schema file (schemaFile), bundled where the sink's environment says (AVRO_SCHEMA_FILE), as the sink's is. */
  readonly schemaFile?: string;
  readonly bundledSchemaPath?: string;
}

/**
 * Lifecycle expiration counts from an object's creation, not its tag: a superseded file is tagged only once no
 * generation has listed it for the compactor's retirement age (longer than queries run), and then goes at the next
 * lifecycle pass after a day from its creation.
 */
const SUPERSEDED_EXPIRY_DAYS = 1;

export class Compactor extends Construct {
  readonly fn: nodejs.NodejsFunction;
  readonly role: iam.Role;
  /** The lifecycle rules the compaction relies on: on the bucket when the stack created it, else for its owner to add. */
  readonly lifecycleRules: s3.LifecycleRule[];
  readonly alarms: ExtraAlarm[];
  readonly widgets: cloudwatch.IWidget[];

  constructor(scope: Construct, id: string, props: CompactorProps) {
    super(scope, id);
    const cp = props.compactedPrefix;
    const f = new KafkaS3Function(this, 'Fn', {
      entry: 'lambdas/compactor/handler.ts',
      description: 'Kafka to S3 compactor: merges closed windows of the sink\'s objects into large files, with manifests',
      purpose: 'The function only calls S3.',
      noDeadLetterQueueReason: 'Invoked on a schedule; a failed run is not retried (no event to keep): the next scheduled run resumes from the manifests, and failures raise an alarm.',
      environment: {
        ...props.sinkEnvironment,
        BUCKET_NAME: props.bucket.bucketName,
        PREFIX: props.prefix,
        STATE_PREFIX: props.statePrefix,
        COMPACTED_PREFIX: cp,
        COMPACTION_TARGET_BYTES: String(props.targetBytes),
        COMPACTION_GRACE_SECONDS: String(props.grace.toSeconds()),
        POWERTOOLS_SERVICE_NAME: props.serviceName,
      },
      memoryMb: props.memoryMb ?? 2048,
      timeout: Duration.minutes(15),
      architecture: props.architecture,
      reservedConcurrency: 1,
      logRetention: props.logRetention,
      // The compactor reads the columns the sink writes from the same schema file (csv, avro, parquet).
      bundleFiles: props.schemaFile ? [[props.schemaFile, (props.bundledSchemaPath ?? '/var/task/value-schema.avsc').split('/').pop()!]] : [],
    });
    this.fn = f.fn;
    this.role = f.role;
    const objects = (p: string) => props.bucket.arnForObjects(`${p}*`);
    const statements = [
      // Raw objects: read, and tagged once merged (the lifecycle rule removes them after the retention).
      // Tagged by version in a versioned bucket (the version merged, not a rewrite since): s3:PutObjectVersionTagging.
      new iam.PolicyStatement({ sid: 'ReadAndTagRawObjects', actions: ['s3:GetObject', 's3:PutObjectTagging', 's3:PutObjectVersionTagging'], resources: [objects(props.prefix)] }),
      new iam.PolicyStatement({ sid: 'ReadCheckpoints', actions: ['s3:GetObject'], resources: [objects(props.statePrefix)] }),
      // Its own files, manifests (conditional writes: If-Match needs GetObject too) and symlink files; multipart for large files.
      new iam.PolicyStatement({
        sid: 'WriteCompacted',
        actions: ['s3:GetObject', 's3:PutObject', 's3:PutObjectTagging', 's3:AbortMultipartUpload', 's3:ListMultipartUploadParts'],
        resources: [objects(cp)],
      }),
      new iam.PolicyStatement({
        sid: 'ListWindows',
        actions: ['s3:ListBucket'],
        resources: [props.bucket.bucketArn],
        conditions: { StringLike: { 's3:prefix': [`${props.prefix}*`, `${cp}*`, `${props.statePrefix}*`] } },
      }),
    ];
    if (props.key) statements.push(new iam.PolicyStatement({ sid: 'EncryptObjects', actions: ['kms:GenerateDataKey', 'kms:Decrypt'], resources: [props.key.keyArn] }));
    for (const s of statements) this.role.addToPolicy(s);
    acknowledgeWildcards(this.role, [objects(props.prefix), objects(props.statePrefix), objects(cp)],
      'Object keys under these prefixes come from the key template, offsets and windows; the grant is limited to those prefixes.');

    new events.Rule(this, 'Schedule', {
      description: 'Starts a compaction run',
      schedule: events.Schedule.rate(props.schedule),
      // No retry: the next scheduled run does the same work.
      targets: [new targets.LambdaFunction(this.fn, { retryAttempts: 0, maxEventAge: Duration.seconds(Math.max(60, props.schedule.toSeconds())) })],
    });

    this.lifecycleRules = [
      { id: 'ExpireCompactedRawObjects', prefix: props.prefix, tagFilters: { [COMPACTION_TAG]: TAG_COMPACTED }, expiration: Duration.days(props.rawRetentionDays) },
      { id: 'ExpireSupersededCompactedFiles', prefix: `${cp}data/`, tagFilters: { [COMPACTION_TAG]: TAG_SUPERSEDED }, expiration: Duration.days(SUPERSEDED_EXPIRY_DAYS) },
    ];
    if (props.bucket instanceof s3.Bucket) for (const rule of this.lifecycleRules) props.bucket.addLifecycleRule(rule);

    // A run publishes its metrics once: a period shorter than the schedule would leave periods without data (not
    // breaching), and an alarm over two periods could then never fire.
    const period = Duration.minutes(Math.max(15, props.schedule.toMinutes()));
    const metric = (name: string, statistic: string) => new cloudwatch.Metric({
      namespace: MetricsNamespace, metricName: name, dimensionsMap: { service: props.serviceName }, statistic, period,
    });
    // Behind by more than four runs past the grace period: runs fail, time out, or cannot keep up.
    const lagLimit = props.schedule.toSeconds() * 4;
    this.alarms = [
      { id: 'CompactionLagAlarm', metric: metric('CompactionLag', 'Maximum'), threshold: lagLimit, evaluationPeriods: 2, description: `A closed window has waited more than ${lagLimit} s (after its grace period) to be compacted` },
      { id: 'CompactionFailuresAlarm', metric: metric('CompactionFailures', 'Sum'), threshold: 0, description: 'A compaction run failed (the next run resumes; see the compactor\'s logs)' },
      { id: 'CompactionWindowsFailedAlarm', metric: metric('WindowsFailed', 'Sum'), threshold: 0, description: 'A window failed to compact (an object that does not decode, S3 refusing); the next run tries it again' },
      { id: 'CompactionWindowsTooLargeAlarm', metric: metric('WindowsTooLarge', 'Sum'), threshold: 0, description: 'A window holds more than one compactor run can merge: it is left aside (its raw objects stay; make windows smaller in keyTemplate for the windows to come)' },
      { id: 'CompactorErrorsAlarm', metric: this.fn.metricErrors({ period }), threshold: 0, description: 'The compactor function failed (a timeout, or a failure before its first window)' },
    ];
    this.widgets = [
      new cloudwatch.GraphWidget({ title: 'Compaction: windows', left: [metric('WindowsCompacted', 'Sum'), metric('WindowsPending', 'Maximum')], width: 8 }),
      new cloudwatch.GraphWidget({ title: 'Compaction: lag (s)', left: [metric('CompactionLag', 'Maximum')], width: 8 }),
      new cloudwatch.GraphWidget({ title: 'Compaction: bytes', left: [metric('BytesCompacted', 'Sum'), metric('CompactedBytesWritten', 'Sum')], right: [metric('ObjectsCompacted', 'Sum')], width: 8 }),
    ];
  }
}
