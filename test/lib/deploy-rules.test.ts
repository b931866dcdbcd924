/**
 * Deploy-time rules that cdk-nag, cfn-lint and checkov do not catch, each checked on synthesized templates and named
 * after the AWS documentation it follows. Several pipelines are built in one app, as lib/app.ts allows.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { App } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import { addPipeline, type Pipeline } from '../../lib/app.ts';
import { consumerGroupId } from '../../lib/naming.ts';
import { CDK_DEFAULTS, MSK_ARN } from './synth.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const ENV = { account: '111122223333', region: 'us-east-1' };
const SECRET = 'arn:aws:secretsmanager:us-east-1:111122223333:secret:kafka-creds-AbCdEf';
const CA = 'arn:aws:secretsmanager:us-east-1:111122223333:secret:kafka-root-ca-XyZ123';
const SELF_MANAGED = {
  mskClusterArn: undefined, bootstrapServers: 'b-1.kafka.internal:9096,b-2.kafka.internal:9096', kafkaAuth: 'scram512', kafkaSecretArn: SECRET,
  vpcId: 'vpc-0123456789abcdef0', subnetIds: 'subnet-0123456789abcdef0,subnet-0fedcba9876543210', securityGroupIds: 'sg-0123456789abcdef0',
};

type Context = Record<string, unknown>;
const contextOf = (overrides: Context): Context => {
  const c: Context = { ...CDK_DEFAULTS, mskClusterArn: MSK_ARN, topics: 'orders,payments', 'aws:cdk:bundling-stacks': [], ...overrides };
  for (const [k, v] of Object.entries(c)) if (v === undefined) delete c[k];
  return c;
};

/** Builds pipelines in one app (each with its own context, as several `cdk deploy` configurations would have). */
function build(...contexts: Context[]): { app: App; pipelines: Pipeline[] } {
  const app = new App({ outdir: mkdtempSync(join(tmpdir(), 'kafka-s3-rules-')), context: { 'aws:cdk:bundling-stacks': [] } });
  const pipelines = contexts.map((o) => addPipeline(app, { context: contextOf(o), env: ENV, baseDir: ROOT }));
  return { app, pipelines };
}

type Resource = { Type: string; Properties?: Record<string, unknown> };
const resources = (t: Template, type?: string): [string, Resource][] =>
  Object.entries(t.toJSON().Resources as Record<string, Resource>).filter(([, r]) => !type || r.Type === type);
const templates = (p: Pipeline[]) => p.flatMap((x) => [Template.fromStack(x.direct), Template.fromStack(x.tables)]);
const groupIds = (t: Template): string[] => resources(t, 'AWS::Lambda::EventSourceMapping').map(([, r]) => {
  const p = r.Properties!;
  const cfg = (p.AmazonManagedKafkaEventSourceConfig ?? p.SelfManagedKafkaEventSourceConfig) as { ConsumerGroupId: string };
  return cfg.ConsumerGroupId;
});
const groupsByTopic = (t: Template): Record<string, string> => Object.fromEntries(resources(t, 'AWS::Lambda::EventSourceMapping').map(([, r]) => {
  const p = r.Properties!;
  return [(p.Topics as string[])[0], ((p.AmazonManagedKafkaEventSourceConfig ?? p.SelfManagedKafkaEventSourceConfig) as { ConsumerGroupId: string }).ConsumerGroupId];
}));

describe('consumer groups (Lambda guide, "Customizable consumer group ID": "must be unique among all your Kafka event sources")', () => {
  it('every mapping has its own group, within and across both stacks and two pipelines', () => {
    const { pipelines } = build({ topics: 'orders,payments,refunds' }, { pipeline: 'eu-lake', topics: 'orders,payments,refunds', format: 'parquet' });
    const all = templates(pipelines).flatMap(groupIds);
    expect(all).toHaveLength(12);
    expect(new Set(all).size).toBe(12);
    for (const g of all) expect(g).toMatch(/^[a-zA-Z0-9\-/*:_+=.@]{1,200}$/);
  });

  it('stays the same across deploys: other settings, other topics added or removed, other order', () => {
    const base = groupsByTopic(Template.fromStack(build({}).pipelines[0].direct));
    const changed = [
      { batchSize: '500', format: 'parquet', memoryMb: '3008', prefix: 'lake/' },
      { topics: 'payments,orders,refunds' },
      { topics: 'orders' },
      { maxBatchingWindowSeconds: '5', onFailure: 'sqs' },
    ];
    for (const o of changed) {
      const now = groupsByTopic(Template.fromStack(build(o).pipelines[0].direct));
      for (const [topic, group] of Object.entries(now)) if (base[topic]) expect(group, JSON.stringify(o)).toBe(base[topic]);
    }
  });

  it('changes exactly when a create-only property of the mapping changes (CloudFormation replaces it, creating the new one first)', () => {
    // AWS::Lambda::EventSourceMapping: StartingPosition, StartingPositionTimestamp, EventSourceArn and
    // SelfManagedEventSource are "Update requires: Replacement"; the new mapping exists beside the old one for a while.
    const base = groupsByTopic(Template.fromStack(build({}).pipelines[0].direct)).orders;
    for (const o of [
      { startingPosition: 'LATEST' },
      { startingPosition: 'AT_TIMESTAMP', startingTimestamp: '1700000000' },
      { mskClusterArn: 'arn:aws:kafka:us-east-1:111122223333:cluster/other/abcd1234-ab12-cd34-ef56-abcdef123456-2' },
      { pipeline: 'other' },
      { consumerGroupPrefix: 'team-a' },
    ]) {
      const now = groupsByTopic(Template.fromStack(build(o).pipelines[0].direct)).orders;
      expect(now, JSON.stringify(o)).not.toBe(base);
    }
    expect(consumerGroupId({ pipelineName: 'kafka-s3', pinnedConsumerGroups: new Map(), mskClusterArn: MSK_ARN, startingPosition: 'TRIM_HORIZON' } as never, 'direct', 'orders')).toBe(base);
  });

  it('a group pinned with consumerGroupIds is used as given by the direct stack (to continue from an existing group)', () => {
    const { pipelines } = build({ consumerGroupIds: 'orders=kafka-s3-sink' });
    expect(groupsByTopic(Template.fromStack(pipelines[0].direct)).orders).toBe('kafka-s3-sink');
    // The tables stack keeps its own groups, so both stacks may read the same topics.
    expect(groupsByTopic(Template.fromStack(pipelines[0].tables)).orders).toMatch(/^kafka-s3-tables-orders-[0-9a-f]{8}$/);
  });

  it('fits the 200-character limit for the longest topic names and keeps them apart', () => {
    const long = (c: string) => c.repeat(249);
    const t = Template.fromStack(build({ topics: `${long('a')},${long('a').slice(0, 248)}b` }).pipelines[0].direct);
    const ids = groupIds(t);
    for (const g of ids) expect(g.length).toBeLessThanOrEqual(200);
    expect(new Set(ids).size).toBe(2);
  });

  it('the IAM group grant names each mapping\'s group', () => {
    const t = Template.fromStack(build({}).pipelines[0].direct);
    const policy = resources(t, 'AWS::IAM::Policy').flatMap(([, r]) => (r.Properties!.PolicyDocument as { Statement: { Sid?: string; Resource: unknown }[] }).Statement);
    const grant = policy.find((s) => s.Sid === 'KafkaGroup')!;
    expect(grant.Resource).toEqual(groupIds(t).map((g) => `arn:aws:kafka:us-east-1:111122223333:group/demo/abcd1234-ab12-cd34-ef56-abcdef123456-1/${g}`));
  });
});

describe('several pipelines in one account and region', () => {
  const { app, pipelines } = build({ pipeline: 'orders-lake', topics: 'orders' }, { pipeline: 'payments-lake', topics: 'orders,payments', format: 'parquet' });

  it('stack names carry the pipeline name', () => {
    expect(app.node.children.map((c) => c.node.id).sort()).toEqual([
      'orders-lake-KafkaS3DirectStack', 'orders-lake-KafkaS3TablesStack', 'payments-lake-KafkaS3DirectStack', 'payments-lake-KafkaS3TablesStack',
    ]);
  });

  it('no physical name, table bucket or metrics dimension is shared', () => {
    const named: string[] = [];
    for (const t of templates(pipelines)) {
      for (const [, r] of resources(t)) {
        const p = r.Properties ?? {};
        for (const k of ['BucketName', 'TableBucketName', 'FunctionName', 'RoleName', 'AlarmName', 'DashboardName', 'QueueName', 'TopicName', 'StreamName', 'DeliveryStreamName', 'LogGroupName']) {
          if (typeof p[k] === 'string') named.push(`${r.Type}:${p[k] as string}`);
        }
      }
    }
    expect(named.filter((n, i) => named.indexOf(n) !== i)).toEqual([]);
    expect(named).toEqual(expect.arrayContaining(['AWS::S3Tables::TableBucket:orders-lake-tables', 'AWS::S3Tables::TableBucket:payments-lake-tables']));
    const services = templates(pipelines).flatMap((t) => resources(t, 'AWS::CloudWatch::Alarm').flatMap(([, r]) =>
      ((r.Properties!.Dimensions ?? []) as { Name: string; Value: string }[]).filter((d) => d.Name === 'service').map((d) => d.Value)));
    expect([...new Set(services)].sort()).toEqual(['orders-lake-forwarder', 'orders-lake-sink', 'payments-lake-forwarder', 'payments-lake-sink']);
    const env = templates(pipelines).flatMap((t) => resources(t, 'AWS::Lambda::Function').map(([, r]) =>
      ((r.Properties!.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables ?? {}).POWERTOOLS_SERVICE_NAME)).filter(Boolean);
    expect([...new Set(env)].sort()).toEqual(['orders-lake-forwarder', 'orders-lake-sink', 'payments-lake-forwarder', 'payments-lake-sink']);
  });

  it('refuses, in one app, a second pipeline that would share a stack, a consumer group or the table bucket', () => {
    expect(() => build({ pipeline: 'a' }, { pipeline: 'a', format: 'parquet' })).toThrow(/its stack a-KafkaS3DirectStack is also pipeline 'a''s/);
    expect(() => build({ pipeline: 'a' }, { pipeline: 'b', tableBucketName: 'a-tables' })).toThrow(/its table bucket a-tables is also pipeline 'a''s/);
    expect(() => build({}, { pipeline: 'b', consumerGroupIds: 'orders=kafka-s3-direct-orders-13fb0ea5' })).toThrow(/consumer group kafka-s3-direct-orders-13fb0ea5/);
  });

  it('a named pipeline gets its own groups even with the same consumerGroupPrefix, and kafka-s3 is reserved for the unnamed one', () => {
    const { pipelines } = build({ pipeline: 'a', consumerGroupPrefix: 'team' }, { pipeline: 'b', consumerGroupPrefix: 'team' });
    const [a, b] = pipelines.map((p) => groupsByTopic(Template.fromStack(p.direct)).orders);
    expect(a).toMatch(/^team-orders-[0-9a-f]{8}$/);
    expect(b).not.toBe(a);
    expect(() => build({ pipeline: 'kafka-s3' })).toThrow(/pipeline='kafka-s3': is the name of the unnamed pipeline/);
  });

  it('refuses a cluster or secret of another region than the stacks (Lambda guide: secrets in the same Region as the function)', () => {
    expect(() => build({ mskClusterArn: MSK_ARN.replace('us-east-1', 'eu-west-1') })).toThrow(/mskClusterArn=.*is in eu-west-1, but the stacks deploy to us-east-1/);
    expect(() => build({ ...SELF_MANAGED, kafkaSecretArn: SECRET.replace('us-east-1', 'eu-west-1') })).toThrow(/kafkaSecretArn=.*is in eu-west-1/);
  });

  it('without a pipeline name, stacks and names stay those of earlier versions', () => {
    const { app: plain, pipelines: [p] } = build({});
    expect(plain.node.children.map((c) => c.node.id).sort()).toEqual(['KafkaS3DirectStack', 'KafkaS3TablesStack']);
    Template.fromStack(p.tables).hasResourceProperties('AWS::S3Tables::TableBucket', { TableBucketName: 'kafka-s3-tables' });
    Template.fromStack(p.direct).hasResourceProperties('AWS::Lambda::Function', { Environment: { Variables: { POWERTOOLS_SERVICE_NAME: 'kafka-s3-sink' } } });
  });
});

describe('Lake Formation access mode', () => {
  it('warns that the deploy role must be a Lake Formation administrator (AWS::LakeFormation::PrincipalPermissions; S3 User Guide, granting permissions with Lake Formation)', () => {
    const [p] = build({ lakeFormation: 'true' }).pipelines;
    Annotations.fromStack(p.tables).hasWarning('*', Match.stringLikeRegexp('must be a Lake Formation data lake administrator'));
    expect(Annotations.fromStack(build({}).pipelines[0].tables).findWarning('*', Match.stringLikeRegexp('Lake Formation'))).toEqual([]);
  });
});

describe('self-managed Kafka networking and TLS', () => {
  it('a private root CA goes on every mapping as SERVER_ROOT_CA_CERTIFICATE, readable by the role (Lambda guide, self-managed Kafka: server root CA certificate)', () => {
    const t = Template.fromStack(build({ ...SELF_MANAGED, kafkaRootCaSecretArn: CA }).pipelines[0].direct);
    for (const [, m] of resources(t, 'AWS::Lambda::EventSourceMapping')) {
      expect(m.Properties!.SourceAccessConfigurations).toEqual(expect.arrayContaining([{ Type: 'SERVER_ROOT_CA_CERTIFICATE', URI: CA }, { Type: 'SASL_SCRAM_512_AUTH', URI: SECRET }]));
    }
    const statements = resources(t, 'AWS::IAM::Policy').flatMap(([, r]) => (r.Properties!.PolicyDocument as { Statement: { Sid?: string; Action: unknown; Resource: unknown }[] }).Statement);
    expect(statements.find((s) => s.Sid === 'KafkaRootCa')).toMatchObject({ Action: 'secretsmanager:GetSecretValue', Resource: CA });
  });

  it('in on-demand mode, warns that PrivateLink endpoints are needed; vpcEndpoints=true creates them (Lambda guide, with-kafka-cluster-network)', () => {
    const warned = build(SELF_MANAGED).pipelines[0].direct;
    Annotations.fromStack(warned).hasWarning('*', Match.stringLikeRegexp('PrivateLink endpoints for Lambda, STS'));
    const [p] = build({ ...SELF_MANAGED, vpcEndpoints: 'true', onFailure: 'sqs' }).pipelines;
    // A VPC takes one endpoint with private DNS per service: the endpoints are in a stack of their own, which both
    // pipeline stacks depend on (cdk deploy of either deploys it first), never in both.
    expect(p.endpoints?.stackName).toBe('KafkaS3EndpointsStack');
    expect(p.direct.dependencies).toContain(p.endpoints);
    expect(p.tables.dependencies).toContain(p.endpoints);
    for (const s of [p.direct, p.tables]) Template.fromStack(s).resourceCountIs('AWS::EC2::VPCEndpoint', 0);
    const t = Template.fromStack(p.endpoints!);
    const services = resources(t, 'AWS::EC2::VPCEndpoint').map(([, r]) => JSON.stringify(r.Properties!.ServiceName));
    expect(services.map((s) => /\.(lambda|sts|secretsmanager|sqs|s3)"/.exec(s.replace(/"\]\]\}$/, '"'))?.[1] ?? s).sort())
      .toEqual(['lambda', 'secretsmanager', 'sqs', 'sts']);
    for (const [, r] of resources(t, 'AWS::EC2::VPCEndpoint')) {
      expect(r.Properties).toMatchObject({ VpcId: SELF_MANAGED.vpcId, VpcEndpointType: 'Interface', PrivateDnsEnabled: true, SubnetIds: SELF_MANAGED.subnetIds.split(','), SecurityGroupIds: [SELF_MANAGED.securityGroupIds] });
    }
  });

  it('an S3 interface endpoint (onFailure=s3) resolves for all resolvers: "inbound only" would need a gateway endpoint (EC2 API, DnsOptionsSpecification)', () => {
    const t = Template.fromStack(build({ ...SELF_MANAGED, vpcEndpoints: 'true', onFailure: 's3' }).pipelines[0].endpoints!);
    const s3 = resources(t, 'AWS::EC2::VPCEndpoint').find(([, r]) => JSON.stringify(r.Properties!.ServiceName).includes('.s3'));
    expect(s3?.[1].Properties).toMatchObject({ PrivateDnsEnabled: true, DnsOptions: { PrivateDnsOnlyForInboundResolverEndpoint: 'AllResolvers' } });
  });

  it('onFailure warns about the 10-retry cap with retryAttempts=-1 and the endpoint it needs (Lambda guide, Kafka retries and on-failure destinations)', () => {
    const stack = build({ onFailure: 's3' }).pipelines[0].direct;
    Annotations.fromStack(stack).hasWarning('*', Match.stringLikeRegexp('retries a failing batch at most 10 times'));
    Annotations.fromStack(stack).hasWarning('*', Match.stringLikeRegexp('needs a VPC endpoint for S3'));
  });
});
