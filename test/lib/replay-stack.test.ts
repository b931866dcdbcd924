/**
 * KafkaS3ReplayStack as synthesized: least-privilege IAM (MSK IAM actions per AWS's "Common use cases for client
 * authorization policy": produce idempotently = Connect, DescribeTopic, WriteData, WriteDataIdempotently, and
 * ReadData for the resume check, on the target topics only; S3 read on the source prefix only), the state machine
 * (plan → Distributed Map over the streams → replay until done), cdk-nag clean, context checks, and a bundle that
 * loads.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import { addPipeline } from '../../lib/app.ts';
import { CDK_DEFAULTS, MSK_ARN, nagFindings, REPLAY_CONTEXT, synthReplay } from './synth.ts';

type Statement = { Sid?: string; Action: string | string[]; Resource: unknown; Condition?: unknown };

function statements(s: ReturnType<typeof synthReplay>, role: RegExp): Statement[] {
  const resources = s.template.toJSON().Resources as Record<string, { Type: string; Properties: { PolicyDocument: { Statement: Statement[] } } }>;
  return Object.entries(resources).filter(([id, r]) => r.Type === 'AWS::IAM::Policy' && role.test(id)).flatMap(([, r]) => r.Properties.PolicyDocument.Statement);
}

const actions = (st: Statement) => (Array.isArray(st.Action) ? st.Action : [st.Action]);
const TOPIC = (t: string) => `${MSK_ARN.replace(':cluster/', ':topic/')}/${t}`;

describe('KafkaS3ReplayStack', () => {
  it('grants MSK IAM produce-idempotently and read on the target topics only, S3 read on the source prefix only; cdk-nag clean', () => {
    // Act
    const s = synthReplay();

    // Assess
    expect(nagFindings(s)).toEqual([]);
    const fn = statements(s, /^ReplayRole/);
    const kafka = fn.filter((st) => actions(st).some((a) => a.startsWith('kafka-cluster:')));
    expect(kafka.map((st) => ({ actions: actions(st).sort(), resource: st.Resource }))).toEqual([
      { actions: ['kafka-cluster:Connect', 'kafka-cluster:WriteDataIdempotently'], resource: MSK_ARN },
      { actions: ['kafka-cluster:DescribeTopic', 'kafka-cluster:ReadData', 'kafka-cluster:WriteData'], resource: [TOPIC('orders'), TOPIC('payments')] },
    ]);
    const s3 = fn.filter((st) => actions(st).some((a) => a.startsWith('s3:')));
    expect(s3.map((st) => st.Sid)).toEqual(['ListSourcePrefix', 'ReadSourceObjects', 'ListState', 'ReadWriteState']);
    expect(s3.find((st) => st.Sid === 'ListSourcePrefix')!.Condition).toEqual({ StringLike: { 's3:prefix': ['topics/*'] } });
    expect(JSON.stringify(s3.find((st) => st.Sid === 'ReadSourceObjects')!.Resource)).toContain('"/topics/*"');
    expect(actions(s3.find((st) => st.Sid === 'ReadSourceObjects')!)).toEqual(['s3:GetObject']);
    // No action beyond these families, and no wildcard action.
    for (const st of fn) for (const a of actions(st)) expect(a).toMatch(/^(logs|ec2|s3|kafka-cluster):[A-Za-z]+$/);
    expect(fn.filter((st) => st.Resource === '*').map((st) => st.Sid)).toEqual(['VpcNetworkInterfaces']);
  });

  it('reads the dead-letter prefix for dead letters; a foreign source writes only its target topic', () => {
    const dead = statements(synthReplay({ replaySource: 'dead-letters' }), /^ReplayRole/);
    expect(dead.find((st) => st.Sid === 'ListSourcePrefix')!.Condition).toEqual({ StringLike: { 's3:prefix': ['dead-letters/*'] } });
    const foreign = synthReplay({ replaySource: 'foreign', replayPrefix: 'imports/', replayTargetTopic: 'restored' });
    const fn = statements(foreign, /^ReplayRole/);
    expect(fn.find((st) => st.Sid === 'MskTargetTopics')!.Resource).toEqual(TOPIC('restored'));
    expect(fn.find((st) => st.Sid === 'ListSourcePrefix')!.Condition).toEqual({ StringLike: { 's3:prefix': ['imports/*'] } });
    expect(nagFindings(foreign)).toEqual([]);
  });

  it('decrypts with the bucket\'s key when objects are SSE-KMS', () => {
    const fn = statements(synthReplay({ encryption: 'kms' }), /^ReplayRole/);
    expect(fn.find((st) => st.Sid === 'DecryptSource')).toMatchObject({ Action: 'kms:Decrypt', Resource: { 'Fn::ImportValue': 'KafkaS3DirectStack-BucketKeyArn' } });
  });

  it('runs the function in the cluster\'s subnets with the brokers and state in its environment', () => {
    const s = synthReplay();
    const fns = s.template.findResources('AWS::Lambda::Function');
    const replay = Object.values(fns).find((f) => (f as { Properties: { Environment?: { Variables?: Record<string, unknown> } } }).Properties.Environment?.Variables?.SOURCE_KIND) as { Properties: Record<string, any> };
    expect(replay.Properties.VpcConfig).toEqual({ SubnetIds: ['subnet-0123456789abcdef0', 'subnet-0123456789abcdef1'], SecurityGroupIds: ['sg-0123456789abcdef0'] });
    expect(replay.Properties.Timeout).toBe(900);
    expect(replay.Properties.Environment.Variables).toMatchObject({
      SOURCE_PREFIX: 'topics/', SOURCE_KIND: 'sink', KAFKA_AUTH: 'iam', STATE_PREFIX: 'replays/', BOOTSTRAP_SERVERS: REPLAY_CONTEXT.replayBootstrapServers,
      SOURCE_BUCKET: { 'Fn::ImportValue': 'KafkaS3DirectStack-BucketName' },
    });
  });

  it('state machine: plan, a Distributed Map over the streams file, each stream replayed again until done', () => {
    const s = synthReplay();
    const sm = Object.values(s.template.findResources('AWS::StepFunctions::StateMachine'))[0] as { Properties: { DefinitionString: unknown; TracingConfiguration: unknown; LoggingConfiguration: { Level: string } } };
    // The definition is a Fn::Join of text and references: the references stand as X.
    const parts = (sm.Properties.DefinitionString as { 'Fn::Join': [string, unknown[]] })['Fn::Join'][1];
    const def = JSON.parse(parts.map((p) => (typeof p === 'string' ? p : 'X')).join('')) as Record<string, any>;
    expect(def.StartAt).toBe('Plan');
    expect(def.States.Plan.Next).toBe('Streams');
    const map = def.States.Streams;
    expect(map.ItemProcessor.ProcessorConfig.Mode).toBe('DISTRIBUTED');
    expect(map.ItemReader.Parameters['Key.$']).toBe('$.plan.streamsKey');
    expect(map.MaxConcurrency).toBe(10);
    // The children's outputs go to S3, not into the state's output (256 KiB for every stream together).
    expect(map.ResultWriter.Parameters.Prefix).toBe('replays/map-runs');
    expect(map.ItemProcessor.States['Stream replayed'].OutputPath).toBe('$.result');
    const loop = map.ItemProcessor.States;
    expect(loop['Stream done?'].Choices[0]).toMatchObject({ Variable: '$.result.done', BooleanEquals: true, Next: 'Stream replayed' });
    expect(loop['Stream done?'].Default).toBe('Replay stream');
    expect(loop['Replay stream'].Retry.map((r: { ErrorEquals: string[] }) => r.ErrorEquals[0])).toContain('States.TaskFailed');
    expect(sm.Properties.TracingConfiguration).toEqual({ Enabled: true });
    expect(sm.Properties.LoggingConfiguration.Level).toBe('ALL');
  });

  it('refuses what the serverless replay cannot do, each key named', () => {
    expect(() => synthReplay({ mskClusterArn: '', bootstrapServers: 'b-1.kafka.internal:9096', kafkaAuth: 'scram512', kafkaSecretArn: 'arn:aws:secretsmanager:us-east-1:111122223333:secret:kafka-creds-AbCdEf', vpcId: 'vpc-0123456789abcdef0', subnetIds: 'subnet-0123456789abcdef0', securityGroupIds: 'sg-0123456789abcdef0' }))
      .toThrow(/replay='true': the serverless replay connects to MSK with IAM/);
    expect(() => synthReplay({ replaySubnetIds: '' })).toThrow(/replaySubnetIds=\(unset\): required with replay=true/);
    expect(() => synthReplay({ replayBootstrapServers: 'b-1.demo:9092' })).toThrow(/MSK's IAM listener is port 9098/);
    expect(() => synthReplay({ replaySource: 'foreign' })).toThrow(/replayPrefix=\(unset\): required with replaySource='foreign'[\s\S]*replayTargetTopic=\(unset\)/);
    expect(() => synthReplay({ replaySource: 'foreign', replayPrefix: 'x/', replayTargetTopic: 't', replayPartitioning: 'keep' })).toThrow(/replayPartitioning='keep': objects of other tools carry no partition/);
    expect(() => synthReplay({ replay: 'false', replayTargetTopic: 'x' })).toThrow(/replayTargetTopic='x': only with replay=true/);
  });

  it('is added by the app only with replay=true, named after the pipeline, after the direct stack', () => {
    const without = addPipeline(new App({ context: { ...CDK_DEFAULTS, mskClusterArn: MSK_ARN, topics: 'orders', 'aws:cdk:bundling-stacks': [] } }));
    expect(without.replay).toBeUndefined();
    const p = addPipeline(new App({ context: { ...CDK_DEFAULTS, mskClusterArn: MSK_ARN, topics: 'orders', pipeline: 'sales', ...REPLAY_CONTEXT, 'aws:cdk:bundling-stacks': [] } }));
    expect(p.replay?.stackName).toBe('sales-KafkaS3ReplayStack');
    expect(p.replay?.dependencies.map((d) => d.stackName)).toContain('sales-KafkaS3DirectStack');
  });

  it('bundles the function with the MSK IAM signer; the bundle loads and checks its environment at init', () => {
    const s = synthReplay({}, { bundle: true, nag: false });
    const asm = s.app.synth().directory;
    const assets = readdirSync(asm).filter((d) => d.startsWith('asset.')).map((d) => join(asm, d));
    const bundle = assets.find((d) => readdirSync(d).includes('index.mjs'))!;
    const init = (env: Record<string, string>) => spawnSync(process.execPath, ['--input-type=module', '-e', `await import(${JSON.stringify(join(bundle, 'index.mjs'))})`], {
      cwd: bundle, encoding: 'utf8', env: { PATH: process.env.PATH, AWS_REGION: 'us-east-1', ...env },
    });
    const ok = init({ SOURCE_BUCKET: 'src', STATE_BUCKET: 'state', BOOTSTRAP_SERVERS: 'b-1:9098' });
    expect(ok.status, ok.stderr).toBe(0);
    const bad = init({ SOURCE_BUCKET: 'src', STATE_BUCKET: 'state', BOOTSTRAP_SERVERS: 'not a broker' });
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toContain('BOOTSTRAP_SERVERS');
  });
});
