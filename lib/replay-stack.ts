/**
 * KafkaS3ReplayStack (replay=true): objects of the bucket back into Kafka, on demand. Wiring only:
 *   state machine: Plan (the function lists the objects and writes the run's streams) → Distributed Map over the
 *   streams (one per source topic-partition) → Replay (the function, until the stream is done; each invocation
 *   resumes from the stream's checkpoint) → done.
 * Start it with `aws stepfunctions start-execution --state-machine-arn <ReplayStateMachineArn> --input '{…}'` (README,
 * "Replay"); the same replayId resumes a stopped run.
 *
 * Least privilege:
 * - S3: list and read under the source prefix only; read and write the stack's own state bucket under replays/.
 * - MSK (IAM access control, Amazon MSK developer guide, "IAM access control" and its actions table): connect and
 *   write idempotently on the cluster; describe, write and read (the resume check) on the target topics only.
 */
import { Aws, CfnOutput, Duration, Fn, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import type { Construct } from 'constructs';
import type { AppConfig } from './config.ts';
import { checkovSkip } from './constructs/checkov.ts';
import { KafkaS3Function } from './constructs/kafka-s3-function.ts';
import { acknowledgeWildcards } from './constructs/nag.ts';
import { SinkBucket } from './constructs/sink-bucket.ts';

export interface ReplayStackProps extends StackProps {
  readonly config: AppConfig;
  /** The bucket replayed from (the direct stack's: its name, an import of the direct stack's export when it created
   * the bucket) and the ARN of its key when SSE-KMS. */
  readonly source: { readonly bucketName: string; readonly keyArn?: string };
}

export const REPLAY_STATE_PREFIX = 'replays/';

/** The ARN of a topic of an MSK cluster: arn:…:cluster/<name>/<uuid> → arn:…:topic/<name>/<uuid>/<topic>. */
export function topicArn(clusterArn: string, topic: string): string {
  return `${clusterArn.replace(':cluster/', ':topic/')}/${topic}`;
}

export class KafkaS3ReplayStack extends Stack {
  readonly fn: KafkaS3Function;
  readonly stateMachine: sfn.StateMachine;
  readonly stateBucket: s3.IBucket;

  constructor(scope: Construct, id: string, props: ReplayStackProps) {
    super(scope, id, props);
    const c = props.config;
    const source = c.replaySource;
    const prefix = c.replayPrefix ?? (source === 'dead-letters' ? c.errorPrefix : c.prefix);
    const targets = c.replayTargetTopic ? [c.replayTargetTopic] : c.topics;
    const state = new SinkBucket(this, 'State', {});
    this.stateBucket = state.bucket;

    this.fn = new KafkaS3Function(this, 'Replay', {
      entry: 'lambdas/replay/handler.ts',
      description: `Replays ${source} objects under ${prefix} into Kafka (${targets.join(', ')})`,
      purpose: 'The replay function reads objects under one prefix and produces their records to Kafka.',
      environment: {
        SOURCE_BUCKET: props.source.bucketName,
        SOURCE_PREFIX: prefix,
        SOURCE_KIND: source,
        // Without a target topic, records go back to their own topics: only those the grant below covers.
        ...(c.replayTargetTopic ? { TARGET_TOPIC: c.replayTargetTopic } : { TOPICS: c.topics.join(',') }),
        ...(c.replayPartitioning ? { PARTITIONING: c.replayPartitioning } : {}),
        BOOTSTRAP_SERVERS: (c.replayBootstrapServers ?? []).join(','),
        KAFKA_AUTH: 'iam',
        STATE_BUCKET: this.stateBucket.bucketName,
        STATE_PREFIX: REPLAY_STATE_PREFIX,
      },
      memoryMb: c.replayMemoryMb,
      // The longest a function runs; each invocation stops taking records 90 s before it (lambdas/replay/app.ts).
      timeout: Duration.minutes(15),
      architecture: c.architecture === 'arm64' ? lambda.Architecture.ARM_64 : lambda.Architecture.X86_64,
      logRetention: c.logRetentionDays as logs.RetentionDays,
      vpc: { subnetIds: c.replaySubnetIds ?? [], securityGroupIds: c.replaySecurityGroupIds ?? [] },
      noDeadLetterQueueReason: 'Invoked synchronously by its state machine, which retries a failed invocation and reports the run as failed.',
    });
    const role = this.fn.role;
    const sourceBucket = s3.Bucket.fromBucketName(this, 'Source', props.source.bucketName);

    // Source: list and read under the prefix only.
    const sourceObjects = sourceBucket.arnForObjects(`${prefix}*`);
    role.addToPolicy(new iam.PolicyStatement({
      sid: 'ListSourcePrefix', actions: ['s3:ListBucket'], resources: [sourceBucket.bucketArn],
      conditions: { StringLike: { 's3:prefix': [`${prefix}*`] } },
    }));
    role.addToPolicy(new iam.PolicyStatement({ sid: 'ReadSourceObjects', actions: ['s3:GetObject'], resources: [sourceObjects] }));
    // SSE-KMS objects are decrypted with the bucket's key (S3 User Guide, "Using server-side encryption with AWS KMS keys").
    if (props.source.keyArn) role.addToPolicy(new iam.PolicyStatement({ sid: 'DecryptSource', actions: ['kms:Decrypt'], resources: [props.source.keyArn] }));
    // State: the plans and checkpoints of each run, in the stack's own bucket.
    const stateObjects = this.stateBucket.arnForObjects(`${REPLAY_STATE_PREFIX}*`);
    role.addToPolicy(new iam.PolicyStatement({
      // Without ListBucket, S3 answers a missing checkpoint with 403 instead of 404 (S3 API, GetObject permissions).
      sid: 'ListState', actions: ['s3:ListBucket'], resources: [this.stateBucket.bucketArn],
      conditions: { StringLike: { 's3:prefix': [`${REPLAY_STATE_PREFIX}*`] } },
    }));
    role.addToPolicy(new iam.PolicyStatement({ sid: 'ReadWriteState', actions: ['s3:GetObject', 's3:PutObject'], resources: [stateObjects] }));
    acknowledgeWildcards(role, [sourceObjects, stateObjects],
      'Objects under one prefix: the replay reads the objects it lists there, and keeps each run\'s plan and checkpoints under replays/ of its own bucket.');

    // MSK IAM: connect and produce idempotently to the cluster; describe, write and read the target topics only.
    const cluster = c.mskClusterArn!;
    role.addToPolicy(new iam.PolicyStatement({ sid: 'MskConnect', actions: ['kafka-cluster:Connect', 'kafka-cluster:WriteDataIdempotently'], resources: [cluster] }));
    role.addToPolicy(new iam.PolicyStatement({
      sid: 'MskTargetTopics',
      // ReadData: on resume the replay reads what landed after its checkpoint (origin headers).
      actions: ['kafka-cluster:DescribeTopic', 'kafka-cluster:WriteData', 'kafka-cluster:ReadData'],
      resources: targets.map((t) => topicArn(cluster, t)),
    }));

    const plan = new tasks.LambdaInvoke(this, 'Plan', {
      lambdaFunction: this.fn.fn,
      payload: sfn.TaskInput.fromObject({ action: 'plan', 'input.$': '$', 'executionName.$': '$$.Execution.Name' }),
      payloadResponseOnly: true,
      resultPath: '$.plan',
      retryOnServiceExceptions: true,
    });
    const replay = new tasks.LambdaInvoke(this, 'Replay stream', {
      lambdaFunction: this.fn.fn,
      payload: sfn.TaskInput.fromObject({ action: 'replay', 'replayId.$': '$.replayId', 'stream.$': '$.stream', 'input.$': '$.input' }),
      payloadResponseOnly: true,
      resultPath: '$.result',
      retryOnServiceExceptions: true,
    });
    // A failed invocation (brokers or S3 unavailable) is tried again from the stream's checkpoint.
    replay.addRetry({ errors: ['States.TaskFailed'], interval: Duration.seconds(10), backoffRate: 2, maxAttempts: 4 });
    const streamDone = new sfn.Choice(this, 'Stream done?')
      // A child's output is its stream's counts only (they go to the state bucket, ResultWriter below).
      .when(sfn.Condition.booleanEquals('$.result.done', true), new sfn.Succeed(this, 'Stream replayed', { outputPath: '$.result' }))
      .otherwise(replay);
    const streams = new sfn.DistributedMap(this, 'Streams', {
      itemReader: new sfn.S3JsonItemReader({ bucket: this.stateBucket, key: sfn.JsonPath.stringAt('$.plan.streamsKey') }),
      itemSelector: { 'stream.$': '$$.Map.Item.Value.stream', 'replayId.$': '$.plan.replayId', 'input.$': '$$.Execution.Input' },
      maxConcurrency: c.replayConcurrency,
      // Without a ResultWriter the children's outputs come back in the state's output, which fails a run of many
      // streams at Step Functions' 256 KiB payload limit (Step Functions guide, "ResultWriter (Map)").
      resultWriterV2: new sfn.ResultWriterV2({ bucket: this.stateBucket, prefix: `${REPLAY_STATE_PREFIX}map-runs` }),
      resultPath: sfn.JsonPath.DISCARD,
    });
    streams.itemProcessor(replay.next(streamDone));
    const logGroup = new logs.LogGroup(this, 'StateMachineLogs', { retention: c.logRetentionDays as logs.RetentionDays, removalPolicy: RemovalPolicy.DESTROY });
    checkovSkip(logGroup, { id: 'CKV_AWS_158', comment: 'The state machine\'s log holds run and stream names and counts, never record contents; CloudWatch Logs encrypts it at rest.' });
    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      definitionBody: sfn.DefinitionBody.fromChainable(plan.next(streams)),
      logs: { destination: logGroup, level: sfn.LogLevel.ALL, includeExecutionData: false },
      tracingEnabled: true,
      comment: 'Replays objects of S3 into Kafka: plan, then each source partition until done',
    });

    // The grants CDK gives a state machine with a Lambda task, a Distributed Map reading its items from S3, tracing and
    // logging: each scoped as far as the service allows.
    const name = Fn.select(6, Fn.split(':', this.stateMachine.stateMachineArn));
    acknowledgeWildcards(this.stateMachine, [`${this.fn.fn.functionArn}:*`], 'Invoking the replay function\'s versions (CDK\'s LambdaInvoke grant), this one function only.');
    acknowledgeWildcards(this.stateMachine, [`arn:${Aws.PARTITION}:s3:::${this.stateBucket.bucketName}/*`], 'The Distributed Map reads the run\'s list of streams from the stack\'s own state bucket and writes its children\'s results there (ResultWriter).');
    acknowledgeWildcards(this.stateMachine, ['*'], 'X-Ray trace segments and CloudWatch Logs log deliveries take no resource-level scope (Step Functions guide, IAM policies for logging and X-Ray).');
    acknowledgeWildcards(this.stateMachine, [`arn:${this.partition}:states:${this.region}:${this.account}:execution:${name}:*`, `arn:${this.partition}:states:${this.region}:${this.account}:execution:${name}/*:*`],
      'The Distributed Map describes and stops its own child executions, of this state machine only.');

    new CfnOutput(this, 'ReplayStateMachineArn', {
      value: this.stateMachine.stateMachineArn,
      description: 'Start a replay: aws stepfunctions start-execution --state-machine-arn <this> --input \'{"replayId":"…"}\' (the same replayId resumes)',
    });
    new CfnOutput(this, 'ReplayStateBucket', { value: this.stateBucket.bucketName, description: `Plans and checkpoints of each run, under ${REPLAY_STATE_PREFIX}<replayId>/` });
  }
}
