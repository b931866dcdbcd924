/**
 * Kafka event source mappings of one function, one per topic (MSK or self-managed), each with its own consumer group,
 * with the permissions the event source needs on the function's role: kafka-cluster data-plane actions for IAM auth
 * (CDK's ManagedKafkaEventSource does not add them), the network-interface actions for brokers in a VPC, the
 * SCRAM/mTLS secret and a private root CA, the on-failure destination (SQS queue or S3 bucket, kept on delete) when
 * asked for, and warnings about the network the event source needs (lib/endpoints-stack.ts creates endpoints).
 */
import { Annotations, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
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
  /** The consumer group of each topic's mapping (lib/naming.ts: unique per mapping, as AWS requires). */
  readonly consumerGroupIds: ReadonlyMap<string, string>;
  /** Self-managed Kafka: secret with the root CA certificate of the brokers (SERVER_ROOT_CA_CERTIFICATE). */
  readonly rootCaSecretArn?: string;
  /** Self-managed Kafka in a VPC: the PrivateLink endpoints are created (lib/endpoints-stack.ts); only for the warnings. */
  readonly vpcEndpoints?: boolean;
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
  /** The event source's own schema registry support (provisioned mode only). */
  readonly schemaRegistry?: SchemaRegistrySource;
}

/**
 * A schema registry the event source validates records with before invoking (Lambda guide, "Using schema registries
 * with Kafka event sources in Lambda"): a Glue registry, reached with the function's role, or a Confluent registry,
 * with the secret it authenticates with.
 */
export interface SchemaRegistrySource {
  /** A Glue registry ARN or a Confluent https:// URL. */
  readonly uri: string;
  readonly format: 'json' | 'source';
  readonly attributes: readonly ('key' | 'value')[];
  /** Confluent only. */
  readonly auth?: 'basic' | 'mtls';
  readonly secretArn?: string;
}

/** The context's schema registry settings as the event source's, or undefined unless the event source decodes. */
export function schemaRegistrySource(c: { schemaRegistry?: string; schemaRegistryDecoder: 'function' | 'eventSource'; schemaRegistryFormat: 'json' | 'source'; schemaRegistryAttributes: string; schemaRegistryAuth: 'basic' | 'mtls'; schemaRegistrySecretArn?: string }): SchemaRegistrySource | undefined {
  if (!c.schemaRegistry || c.schemaRegistryDecoder !== 'eventSource') return undefined;
  const glue = c.schemaRegistry.startsWith('arn:');
  return {
    uri: c.schemaRegistry, format: c.schemaRegistryFormat, attributes: c.schemaRegistryAttributes.split(',') as ('key' | 'value')[],
    ...(glue ? {} : { auth: c.schemaRegistryAuth, secretArn: c.schemaRegistrySecretArn }),
  };
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
    const source = props.source;
    for (const topic of source.topics) if (!source.consumerGroupIds.get(topic)) throw new Error(`no consumer group for topic ${topic}`);
    this.addKafkaPermissions(source);
    const onFailure = this.onFailureDestination(source.onFailure);
    for (const topic of source.topics) this.addTopic(source, topic, onFailure);
    this.warnAboutNetwork(source);
  }

  /**
   * What the event source needs from the network that a template cannot check (Lambda guide,
   * with-kafka-cluster-network and kafka-on-failure): self-managed brokers in a VPC need PrivateLink endpoints (Lambda,
   * STS, Secrets Manager) in on-demand mode, and an on-failure destination needs an endpoint for its service in the
   * cluster's VPC.
   */
  private warnAboutNetwork(source: KafkaSourceProps): void {
    const notes = Annotations.of(this);
    if (source.vpc && !source.pollers && !source.vpcEndpoints) {
      notes.addWarningV2('kafka-s3:privatelink', 'Self-managed Kafka in a VPC with on-demand pollers: the event source needs PrivateLink endpoints for Lambda, STS (and Secrets Manager for a secret) in that VPC, or a NAT gateway (set vpcEndpoints=true to create the endpoints).');
    }
    if (source.onFailure !== 'none' && !(source.vpc && source.vpcEndpoints)) {
      notes.addWarningV2('kafka-s3:on-failure-endpoint', `onFailure=${source.onFailure}: the event source sends given-up batches from the cluster's VPC; it needs a VPC endpoint for ${source.onFailure === 's3' ? 'S3' : 'SQS'} there (or a NAT gateway).`);
    }
    if (source.schemaRegistry) {
      const where = source.schemaRegistry.uri.startsWith('arn:') ? 'AWS Glue (a VPC endpoint for Glue, or a NAT gateway)' : `${source.schemaRegistry.uri} (and Secrets Manager)`;
      notes.addWarningV2('kafka-s3:schema-registry-network', `schemaRegistry: the event source's pollers reach ${where} from the cluster's VPC; a registry they cannot reach fails every batch.`);
    }
    if (source.onFailure !== 'none' && source.retryAttempts === -1) {
      notes.addWarningV2('kafka-s3:on-failure-retries', 'onFailure with retryAttempts=-1: Lambda retries a failing batch at most 10 times, then sends it to the destination and moves on (the records are not written to the bucket).');
    }
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
          resources: source.topics.map((t) => `${prefix}:group/${name}/${uuid}/${source.consumerGroupIds.get(t)}`),
        }));
      }
    }
    if (source.mskClusterArn || source.vpc) {
      // The event source polls from network interfaces in the cluster's subnets, created with the function's role
      // (Lambda guide, with-msk-permissions / with-kafka-permissions). CreateNetworkInterface is authorized on the new
      // interface, the subnet and the security groups, DeleteNetworkInterface on the interface (Service Authorization
      // Reference, Amazon EC2): scoped to this account and region, and to the given subnets and security groups of
      // self-managed brokers (an MSK cluster's subnets are not in the template). The Describe* actions support no
      // resource-level permissions: they alone take '*'.
      const ec2Arn = (resource: string) => Stack.of(this).formatArn({ service: 'ec2', resource, resourceName: '*' });
      const scoped = (resource: string, ids?: readonly string[]) =>
        ids ? ids.map((id) => Stack.of(this).formatArn({ service: 'ec2', resource, resourceName: id })) : [ec2Arn(resource)];
      const interfaces = ec2Arn('network-interface');
      this.role.addToPolicy(new iam.PolicyStatement({
        sid: 'EventSourceNetworkInterfaces',
        actions: ['ec2:CreateNetworkInterface'],
        resources: [interfaces, ...scoped('subnet', source.vpc?.subnetIds), ...scoped('security-group', source.vpc?.securityGroupIds)],
      }));
      this.role.addToPolicy(new iam.PolicyStatement({ sid: 'EventSourceNetworkInterfacesDelete', actions: ['ec2:DeleteNetworkInterface'], resources: [interfaces] }));
      this.role.addToPolicy(new iam.PolicyStatement({
        sid: 'EventSourceNetworkDescribe',
        actions: ['ec2:DescribeNetworkInterfaces', 'ec2:DescribeVpcs', 'ec2:DescribeSubnets', 'ec2:DescribeSecurityGroups'],
        resources: ['*'],
      }));
      const reason = 'The Kafka event source describes network interfaces, VPCs, subnets and security groups of the cluster VPC; these EC2 Describe* actions support no resource-level permissions. Creating and deleting interfaces is scoped to this account and region.';
      Validations.of(this.role).acknowledge({ id: 'AwsSolutions-IAM5[Resource::*]', reason });
      acknowledgeWildcards(this.role, [interfaces, ...(source.vpc ? [] : [ec2Arn('subnet'), ec2Arn('security-group')])],
        'Network interfaces the event source creates get IDs only at creation; an MSK cluster\'s subnets and security groups are not known to the template.');
      checkovSkip(this.role.node.findChild('DefaultPolicy'), { id: 'CKV_AWS_111', comment: reason });
    }
    if (source.rootCaSecretArn) {
      this.role.addToPolicy(new iam.PolicyStatement({ sid: 'KafkaRootCa', actions: ['secretsmanager:GetSecretValue'], resources: [source.rootCaSecretArn] }));
    }
  }

  private onFailureDestination(kind: KafkaSourceProps['onFailure']): lambda.IEventSourceDlq | undefined {
    if (kind === 'sqs') {
      // Kept when the stack is deleted: it holds the only record of batches the event source gave up on.
      const queue = new sqs.Queue(this, 'FailedBatches', {
        encryption: sqs.QueueEncryption.SQS_MANAGED, enforceSSL: true, retentionPeriod: Duration.days(14), removalPolicy: RemovalPolicy.RETAIN,
      });
      Validations.of(queue).acknowledge({ id: 'AwsSolutions-SQS3', reason: 'This queue is itself the on-failure destination of the Kafka event source.' });
      checkovSkip(queue, { id: 'CKV_AWS_27', comment: 'Encrypted at rest with SQS-managed SSE (SqsManagedSseEnabled), which this check does not recognise.' });
      (this as { failureQueue?: sqs.Queue }).failureQueue = queue;
      return new sources.SqsDlq(queue);
    }
    if (kind === 's3') {
      const bucket = new s3.Bucket(this, 'FailedBatches', {
        blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL, enforceSSL: true, encryption: s3.BucketEncryption.S3_MANAGED,
        versioned: true, lifecycleRules: [{ noncurrentVersionExpiration: Duration.days(30) }], removalPolicy: RemovalPolicy.RETAIN,
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

  /**
   * The registry of one topic's mapping. CDK's classes grant what the event source needs on the function's role: a
   * Glue registry's glue:GetRegistry and glue:GetSchemaVersion (on the registry and its schemas), a Confluent
   * registry's secret read.
   */
  private registry(r: SchemaRegistrySource, topic: string): lambda.ISchemaRegistry {
    const common = {
      eventRecordFormat: r.format === 'json' ? lambda.EventRecordFormat.JSON : lambda.EventRecordFormat.SOURCE,
      schemaValidationConfigs: r.attributes.map((a) => ({ attribute: a === 'key' ? lambda.KafkaSchemaValidationAttribute.KEY : lambda.KafkaSchemaValidationAttribute.VALUE })),
    };
    if (r.uri.startsWith('arn:')) {
      // CDK's class grants glue:GetSchemaVersion on the registry's schemas as this Fn::Sub, which cdk-nag names so.
      const sub = JSON.stringify(['arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}:schema/${registryName}/*', { registryName: r.uri.split('/').pop() }]);
      Validations.of(this.role).acknowledge({ id: `AwsSolutions-IAM5[Resource::${sub}]`, reason: 'The event source reads the schema versions of any schema in the configured Glue registry; producers name the schemas.' });
      return new sources.GlueSchemaRegistry({ ...common, schemaRegistryArn: r.uri });
    }
    return new sources.ConfluentSchemaRegistry({
      ...common,
      schemaRegistryUri: r.uri,
      authenticationType: r.auth === 'mtls' ? lambda.KafkaSchemaRegistryAccessConfigType.CLIENT_CERTIFICATE_TLS_AUTH : lambda.KafkaSchemaRegistryAccessConfigType.BASIC_AUTH,
      secret: secretsmanager.Secret.fromSecretCompleteArn(this, `RegistrySecret-${topic}`, r.secretArn!),
    });
  }

  private addTopic(source: KafkaSourceProps, topic: string, onFailure: lambda.IEventSourceDlq | undefined): void {
    const secret = source.secretArn ? secretsmanager.Secret.fromSecretCompleteArn(this, `Secret-${topic}`, source.secretArn) : undefined;
    const common = {
      topic,
      batchSize: source.batchSize,
      maxBatchingWindow: source.maxBatchingWindow,
      startingPosition: lambda.StartingPosition[source.startingPosition],
      startingPositionTimestamp: source.startingTimestampSeconds,
      consumerGroupId: source.consumerGroupIds.get(topic)!,
      onFailure,
      ...(source.pollers
        ? {
          provisionedPollerConfig: { minimumPollers: source.pollers.min, maximumPollers: source.pollers.max },
          retryAttempts: source.retryAttempts,
          maxRecordAge: source.maxRecordAge,
          bisectBatchOnError: source.bisectOnError,
          ...(source.schemaRegistry ? { schemaRegistryConfig: this.registry(source.schemaRegistry, topic) } : {}),
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
        ...(source.rootCaSecretArn ? { rootCACertificate: secretsmanager.Secret.fromSecretCompleteArn(this, `RootCa-${topic}`, source.rootCaSecretArn) } : {}),
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
    // A private CA's root certificate for the brokers' TLS (Lambda guide, self-managed Kafka: "Configuring the server
    // root CA certificate secret"); the override below replaces CDK's list, so it is listed here.
    if (!source.mskClusterArn && source.rootCaSecretArn) access.push({ Type: 'SERVER_ROOT_CA_CERTIFICATE', URI: source.rootCaSecretArn });
    if (source.vpc) {
      for (const s of source.vpc.subnetIds) access.push({ Type: 'VPC_SUBNET', URI: `subnet:${s}` });
      for (const g of source.vpc.securityGroupIds) access.push({ Type: 'VPC_SECURITY_GROUP', URI: `security_group:${g}` });
    }
    if (access.length > 0) cfn.addPropertyOverride('SourceAccessConfigurations', access);
  }
}
