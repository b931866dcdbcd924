/**
 * The sink function and its Kafka event sources (one per topic), with a role that holds exactly what it needs:
 * object and multipart permissions under the data and dead-letter prefixes, the KMS key when SSE-KMS, the
 * kafka-cluster data-plane actions for IAM auth (which CDK's ManagedKafkaEventSource does not add), and the network
 * permissions the event source needs — inline, instead of the broad managed AWSLambdaMSKExecutionRole.
 */
import { fileURLToPath } from 'node:url';
import { Duration, Stack, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sources from 'aws-cdk-lib/aws-lambda-event-sources';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { checkovSkip } from './checkov.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export type KafkaAuth = 'iam' | 'scram512' | 'scram256' | 'mtls' | 'none';

export interface KafkaSourceProps {
  readonly mskClusterArn?: string;
  readonly bootstrapServers?: readonly string[];
  /** Network of self-managed brokers. */
  readonly vpc?: { readonly vpcId: string; readonly subnetIds: readonly string[]; readonly securityGroupIds: readonly string[] };
  readonly auth: KafkaAuth;
  readonly secretArn?: string;
  readonly topics: readonly string[];
  readonly consumerGroupId: string;
  readonly startingPosition: 'LATEST' | 'TRIM_HORIZON' | 'AT_TIMESTAMP';
  readonly startingTimestampSeconds?: number;
  readonly batchSize: number;
  readonly maxBatchingWindow: Duration;
  /** -1 = until the records expire. */
  readonly retryAttempts: number;
  /** @default - records never expire by age */
  readonly maxRecordAge?: Duration;
  readonly bisectOnError: boolean;
  /** Provisioned mode. @default - on-demand pollers */
  readonly pollers?: { readonly min: number; readonly max: number };
  readonly onFailure: 's3' | 'sqs' | 'none';
}

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

/** A role that keeps CDK's Kafka event sources from attaching the broad AWSLambdaMSKExecutionRole managed policy. */
class SinkRole extends iam.Role {
  override addManagedPolicy(policy: iam.IManagedPolicy): void {
    if (policy.managedPolicyArn.includes('AWSLambdaMSKExecutionRole')) return;
    super.addManagedPolicy(policy);
  }
}

/** arn:aws:kafka:<region>:<account>:cluster/<name>/<uuid> → the ARN pieces kafka-cluster resources are built from. */
export function mskArnParts(clusterArn: string): { prefix: string; name: string; uuid: string } {
  const m = /^(arn:aws[a-z-]*:kafka:[a-z0-9-]+:\d{12}):cluster\/([^/]+)\/(.+)$/.exec(clusterArn);
  if (!m) throw new Error(`not an MSK cluster ARN: ${clusterArn}`);
  return { prefix: m[1], name: m[2], uuid: m[3] };
}

export class KafkaSinkFunction extends Construct {
  readonly fn: nodejs.NodejsFunction;
  readonly role: iam.Role;
  readonly logGroup: logs.LogGroup;
  readonly mappings: lambda.EventSourceMapping[] = [];
  /** The on-failure destination, when one is created. */
  readonly failureBucket?: s3.Bucket;
  readonly failureQueue?: sqs.Queue;
  /** The S3 statements the writer needs (on the function's role, or for the bucket owner's role when cross-account). */
  readonly s3Statements: iam.PolicyStatement[];

  constructor(scope: Construct, id: string, props: KafkaSinkFunctionProps) {
    super(scope, id);
    const { source } = props;
    this.logGroup = new logs.LogGroup(this, 'Logs', { retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH });
    this.role = new SinkRole(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'Kafka to S3 sink: write objects under the sink prefixes, read its Kafka topics',
    });
    // logGroupArn ends in ':*': the log streams the runtime creates in this one group.
    this.role.addToPolicy(new iam.PolicyStatement({ sid: 'Logs', actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [this.logGroup.logGroupArn] }));
    acknowledgeWildcards(this.role, [this.logGroup.logGroupArn], 'The Lambda runtime writes to log streams it names itself, in this function\'s log group only.');

    this.s3Statements = sinkS3Statements(props.bucket, [props.prefix, props.errorPrefix], props.key);
    if (props.crossAccountRoleArn) {
      this.role.addToPolicy(new iam.PolicyStatement({ sid: 'AssumeWriterRole', actions: ['sts:AssumeRole'], resources: [props.crossAccountRoleArn] }));
    } else {
      for (const s of this.s3Statements) this.role.addToPolicy(s);
      acknowledgeWildcards(this.role, this.s3Statements[0].resources,
        'Object keys under the sink prefixes come from the key template and offsets; the grant is limited to those prefixes.');
    }

    const schemaFile = props.schemaFile;
    this.fn = new nodejs.NodejsFunction(this, 'Function', {
      entry: `${ROOT}lambdas/sink/handler.ts`,
      projectRoot: ROOT,
      depsLockFilePath: `${ROOT}package-lock.json`,
      handler: 'handler',
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: props.architecture ?? lambda.Architecture.ARM_64,
      memorySize: props.memoryMb ?? 1024,
      timeout: props.timeout ?? Duration.minutes(5),
      reservedConcurrentExecutions: props.reservedConcurrency,
      role: this.role,
      logGroup: this.logGroup,
      description: 'Kafka to S3 sink: writes each Kafka batch as formatted, compressed objects',
      environment: {
        ...props.environment,
        BUCKET_NAME: props.bucket.bucketName,
        POWERTOOLS_SERVICE_NAME: 'kafka-s3-sink',
        NODE_OPTIONS: '--enable-source-maps',
      },
      bundling: {
        format: nodejs.OutputFormat.ESM,
        target: 'node24',
        mainFields: ['module', 'main'],
        minify: true,
        sourceMap: true,
        // The AWS SDK is bundled at the pinned version rather than taken from the runtime.
        externalModules: [],
        banner: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
        ...(schemaFile
          ? {
            commandHooks: {
              beforeBundling: () => [],
              beforeInstall: () => [],
              afterBundling: (_in: string, out: string) => [`cp "${schemaFile}" "${out}/${(props.bundledSchemaPath ?? '/var/task/value-schema.avsc').split('/').pop()}"`],
            },
          }
          : {}),
      },
    });

    checkovSkip(this.fn,
      { id: 'CKV_AWS_116', comment: 'Invoked synchronously by the Kafka event source mapping; a function DLQ applies to asynchronous invocations only. Failed batches are retried by the event source, and its on-failure destination is the onFailure setting.' },
      { id: 'CKV_AWS_117', comment: 'The function only calls S3 (and STS); the event source mapping, not the function, connects to the Kafka brokers in their VPC.' },
      { id: 'CKV_AWS_173', comment: 'The environment holds settings only (formats, prefixes, key template), no secrets; Kafka credentials stay in Secrets Manager.' },
      ...(props.reservedConcurrency === undefined
        ? [{ id: 'CKV_AWS_115', comment: 'Concurrency follows the event source (one poller per partition at most); set reservedConcurrency to cap it.' }]
        : []));
    checkovSkip(this.logGroup, { id: 'CKV_AWS_158', comment: 'The logs hold batch summaries (offset ranges, counts, reasons), never record contents; CloudWatch Logs encrypts them at rest.' });
    this.addKafkaPermissions(source);
    const onFailure = this.onFailureDestination(source.onFailure);
    for (const topic of source.topics) this.addTopic(source, topic, onFailure);
  }

  private addKafkaPermissions(source: KafkaSourceProps): void {
    if (source.mskClusterArn) {
      const { prefix, name, uuid } = mskArnParts(source.mskClusterArn);
      this.role.addToPolicy(new iam.PolicyStatement({
        sid: 'MskCluster', actions: ['kafka:DescribeClusterV2', 'kafka:GetBootstrapBrokers'], resources: [source.mskClusterArn],
      }));
      if (source.auth === 'iam') {
        this.role.addToPolicy(new iam.PolicyStatement({
          sid: 'KafkaClusterConnect',
          actions: ['kafka-cluster:Connect', 'kafka-cluster:DescribeClusterDynamicConfiguration'],
          resources: [source.mskClusterArn],
        }));
        this.role.addToPolicy(new iam.PolicyStatement({
          sid: 'KafkaTopicsRead',
          actions: ['kafka-cluster:DescribeTopic', 'kafka-cluster:ReadData'],
          resources: source.topics.map((t) => `${prefix}:topic/${name}/${uuid}/${t}`),
        }));
        this.role.addToPolicy(new iam.PolicyStatement({
          sid: 'KafkaGroup',
          actions: ['kafka-cluster:DescribeGroup', 'kafka-cluster:AlterGroup'],
          resources: [`${prefix}:group/${name}/${uuid}/${source.consumerGroupId}`],
        }));
      }
    }
    if (source.mskClusterArn || source.vpc) {
      // The event source polls from network interfaces in the cluster's subnets, created with the function's role.
      this.role.addToPolicy(new iam.PolicyStatement({
        sid: 'EventSourceNetworking',
        actions: ['ec2:CreateNetworkInterface', 'ec2:DeleteNetworkInterface', 'ec2:DescribeNetworkInterfaces', 'ec2:DescribeVpcs', 'ec2:DescribeSubnets', 'ec2:DescribeSecurityGroups'],
        resources: ['*'],
      }));
      const reason = 'The Kafka event source creates and describes network interfaces in the cluster VPC; EC2 Describe* actions support no resource scoping.';
      Validations.of(this.role).acknowledge({ id: 'AwsSolutions-IAM5[Resource::*]', reason });
      checkovSkip(this.role.node.findChild('DefaultPolicy'), { id: 'CKV_AWS_111', comment: reason });
    }
  }

  private onFailureDestination(kind: KafkaSourceProps['onFailure']): lambda.IEventSourceDlq | undefined {
    if (kind === 'sqs') {
      const queue = new sqs.Queue(this, 'FailedBatches', {
        encryption: sqs.QueueEncryption.SQS_MANAGED, enforceSSL: true, retentionPeriod: Duration.days(14),
      });
      Validations.of(queue).acknowledge({ id: 'AwsSolutions-SQS3', reason: 'This queue is itself the on-failure destination of the Kafka event source.' });
      checkovSkip(queue, { id: 'CKV_AWS_27', comment: 'Encrypted at rest with SQS-managed SSE (SqsManagedSseEnabled), which this check does not recognise.' });
      (this as { failureQueue?: sqs.Queue }).failureQueue = queue;
      return new sources.SqsDlq(queue);
    }
    if (kind === 's3') {
      const bucket = new s3.Bucket(this, 'FailedBatches', {
        blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL, enforceSSL: true, encryption: s3.BucketEncryption.S3_MANAGED,
        versioned: true, lifecycleRules: [{ noncurrentVersionExpiration: Duration.days(30) }],
      });
      const reason = 'Holds only invocation records of batches the event source gave up on, written by the Lambda service alone.';
      Validations.of(bucket).acknowledge({ id: 'AwsSolutions-S1', reason });
      checkovSkip(bucket, { id: 'CKV_AWS_18', comment: reason });
      (this as { failureBucket?: s3.Bucket }).failureBucket = bucket;
      // Not S3OnFailureDestination: its grantReadWrite would add delete and wildcard actions the event source never uses.
      return {
        bind: (_mapping, fn) => {
          fn.addToRolePolicy(new iam.PolicyStatement({ sid: 'OnFailureWrite', actions: ['s3:PutObject'], resources: [bucket.arnForObjects('*')] }));
          acknowledgeWildcards(this.role, [bucket.arnForObjects('*')], 'The event source names the invocation records it writes to the on-failure bucket.');
          fn.addToRolePolicy(new iam.PolicyStatement({ sid: 'OnFailureList', actions: ['s3:ListBucket'], resources: [bucket.bucketArn] }));
          return { destination: bucket.bucketArn };
        },
      };
    }
    return undefined;
  }

  private addTopic(source: KafkaSourceProps, topic: string, onFailure: lambda.IEventSourceDlq | undefined): void {
    const secret = source.secretArn ? secretsmanager.Secret.fromSecretCompleteArn(this, `Secret-${topic}`, source.secretArn) : undefined;
    const common = {
      topic,
      batchSize: source.batchSize,
      maxBatchingWindow: source.maxBatchingWindow,
      startingPosition: lambda.StartingPosition[source.startingPosition],
      startingPositionTimestamp: source.startingTimestampSeconds,
      consumerGroupId: source.consumerGroupId,
      onFailure,
      ...(source.pollers
        ? {
          provisionedPollerConfig: { minimumPollers: source.pollers.min, maximumPollers: source.pollers.max },
          retryAttempts: source.retryAttempts,
          maxRecordAge: source.maxRecordAge,
          bisectBatchOnError: source.bisectOnError,
        }
        : {}),
    };
    let eventSource: sources.ManagedKafkaEventSource | sources.SelfManagedKafkaEventSource;
    if (source.mskClusterArn) {
      eventSource = new sources.ManagedKafkaEventSource({ ...common, clusterArn: source.mskClusterArn, secret });
    } else {
      const vpc = source.vpc
        ? ec2.Vpc.fromVpcAttributes(this, `Vpc-${topic}`, {
          vpcId: source.vpc.vpcId,
          availabilityZones: source.vpc.subnetIds.map((_, i) => `${Stack.of(this).region}-az${i}`),
          privateSubnetIds: [...source.vpc.subnetIds],
        })
        : undefined;
      eventSource = new sources.SelfManagedKafkaEventSource({
        ...common,
        bootstrapServers: [...(source.bootstrapServers ?? [])],
        secret,
        authenticationMethod: source.auth === 'scram256'
          ? sources.AuthenticationMethod.SASL_SCRAM_256_AUTH
          : source.auth === 'mtls'
            ? sources.AuthenticationMethod.CLIENT_CERTIFICATE_TLS_AUTH
            : sources.AuthenticationMethod.SASL_SCRAM_512_AUTH,
        ...(vpc && source.vpc
          ? {
            vpc,
            vpcSubnets: { subnets: source.vpc.subnetIds.map((s) => ec2.Subnet.fromSubnetId(this, `Subnet-${topic}-${s}`, s)) },
            securityGroup: ec2.SecurityGroup.fromSecurityGroupId(this, `Sg-${topic}`, source.vpc.securityGroupIds[0]),
          }
          : {}),
      });
    }
    this.fn.addEventSource(eventSource);
    const mapping = this.fn.node.children.filter((c): c is lambda.EventSourceMapping => c instanceof lambda.EventSourceMapping).pop()!;
    this.mappings.push(mapping);
    const cfn = mapping.node.defaultChild as lambda.CfnEventSourceMapping;
    const access: { Type: string; URI: string }[] = [];
    if (source.mskClusterArn && source.auth === 'mtls' && source.secretArn) {
      // ManagedKafkaEventSource only knows SASL/SCRAM secrets; mTLS needs the client-certificate access type.
      access.push({ Type: 'CLIENT_CERTIFICATE_TLS_AUTH', URI: source.secretArn });
    }
    if (!source.mskClusterArn && source.secretArn && source.auth !== 'none') {
      const type = source.auth === 'scram256' ? 'SASL_SCRAM_256_AUTH' : source.auth === 'mtls' ? 'CLIENT_CERTIFICATE_TLS_AUTH' : 'SASL_SCRAM_512_AUTH';
      access.push({ Type: type, URI: source.secretArn });
    }
    if (source.vpc) {
      for (const s of source.vpc.subnetIds) access.push({ Type: 'VPC_SUBNET', URI: `subnet:${s}` });
      for (const g of source.vpc.securityGroupIds) access.push({ Type: 'VPC_SECURITY_GROUP', URI: `security_group:${g}` });
    }
    if (access.length > 0) cfn.addPropertyOverride('SourceAccessConfigurations', access);
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

/** How cdk-nag writes a resource in a finding ID: tokens as <Logical.Attr>, <Ref>, <AWS::Partition>. */
function nagResource(scope: Construct, arn: string): string {
  const render = (v: unknown): string => {
    if (typeof v === 'string') return v;
    const o = v as Record<string, unknown>;
    if (o['Fn::Join']) {
      const [sep, parts] = o['Fn::Join'] as [string, unknown[]];
      return parts.map(render).join(sep);
    }
    if (o['Fn::GetAtt']) return `<${(o['Fn::GetAtt'] as string[]).join('.')}>`;
    if (o.Ref) return `<${String(o.Ref)}>`;
    return JSON.stringify(v);
  };
  return render(Stack.of(scope).resolve(arn));
}

/** Acknowledges exactly these wildcard resources (AwsSolutions-IAM5 findings) on one construct, with the reason. */
export function acknowledgeWildcards(scope: Construct, resources: readonly string[], reason: string): void {
  for (const r of resources) Validations.of(scope).acknowledge({ id: `AwsSolutions-IAM5[Resource::${nagResource(scope, r)}]`, reason });
}
