/**
 * Kafka event source mappings of one function, one per topic (MSK or self-managed), with the permissions the event
 * source needs on the function's role: kafka-cluster data-plane actions for IAM auth (CDK's ManagedKafkaEventSource
 * does not add them), the network-interface actions for brokers in a VPC, the SCRAM/mTLS secret, and the on-failure
 * destination (SQS queue or S3 bucket) when asked for.
 */
import { Duration, Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sources from 'aws-cdk-lib/aws-lambda-event-sources';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Validations } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { checkovSkip } from './checkov.ts';
import { acknowledgeWildcards } from './nag.ts';

export type KafkaAuth = 'iam' | 'scram512' | 'scram256' | 'mtls' | 'none';

export interface KafkaSourceProps {
  readonly mskClusterArn?: string;
  readonly bootstrapServers?: readonly string[];
  /** Network of self-managed brokers. */
  readonly vpc?: { readonly vpcId: string; readonly subnetIds: readonly string[]; readonly securityGroupIds: readonly string[] };
  readonly auth: KafkaAuth;
  readonly secretArn?: string;
  /** Customer-managed key of the secret: the event source decrypts the secret through Secrets Manager. */
  readonly secretKmsKeyArn?: string;
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

/** arn:aws:kafka:<region>:<account>:cluster/<name>/<uuid> → the ARN pieces kafka-cluster resources are built from. */
export function mskArnParts(clusterArn: string): { prefix: string; name: string; uuid: string } {
  const m = /^(arn:aws[a-z-]*:kafka:[a-z0-9-]+:\d{12}):cluster\/([^/]+)\/(.+)$/.exec(clusterArn);
  if (!m) throw new Error(`not an MSK cluster ARN: ${clusterArn}`);
  return { prefix: m[1], name: m[2], uuid: m[3] };
}

export interface KafkaEventSourcesProps {
  readonly fn: lambda.Function;
  readonly role: iam.Role;
  readonly source: KafkaSourceProps;
}

export class KafkaEventSources extends Construct {
  readonly mappings: lambda.EventSourceMapping[] = [];
  /** The on-failure destination, when one is created. */
  readonly failureBucket?: s3.Bucket;
  readonly failureQueue?: sqs.Queue;
  private readonly fn: lambda.Function;
  private readonly role: iam.Role;

  constructor(scope: Construct, id: string, props: KafkaEventSourcesProps) {
    super(scope, id);
    this.fn = props.fn;
    this.role = props.role;
    this.addKafkaPermissions(props.source);
    const onFailure = this.onFailureDestination(props.source.onFailure);
    for (const topic of props.source.topics) this.addTopic(props.source, topic, onFailure);
  }

  private addKafkaPermissions(source: KafkaSourceProps): void {
    if (source.secretKmsKeyArn) {
      this.role.addToPolicy(new iam.PolicyStatement({
        sid: 'DecryptKafkaSecret', actions: ['kms:Decrypt'], resources: [source.secretKmsKeyArn],
        conditions: { StringEquals: { 'kms:ViaService': `secretsmanager.${Stack.of(this).region}.amazonaws.com` } },
      }));
    }
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
