/**
 * The replay function's S3 permissions, proven by enforcement: the S3 statements of the synthesized
 * KafkaS3ReplayStack (source bucket by name, its own state bucket) are attached to an IAM user of a moto server that
 * enforces IAM policies, and the real replay (plan, then every stream) runs with that user's key into a real Kafka
 * broker. What the replay does must succeed: listing and reading (HEAD, conditional GET) the sink's objects under the
 * source prefix, reading and writing its plan and checkpoints under replays/. Everything else must be refused: reading
 * outside the prefix, writing or deleting anything in the source bucket, the state bucket outside replays/.
 * moto evaluates no StringLike condition (test/integration/iam-enforcement.test.ts): the prefix condition on
 * s3:ListBucket counts as met here, and is asserted on the template (test/lib/replay-stack.test.ts).
 */
import { randomUUID } from 'node:crypto';
import { CreateBucketCommand, DeleteObjectCommand, GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { afterAll, beforeAll, expect, it, type TestContext } from 'vitest';
import { createReplayHandler } from '../../lambdas/replay/app.ts';
import { loadSinkConfig } from '../../lambdas/shared/config.ts';
import { SinkPipeline } from '../../lambdas/shared/pipeline.ts';
import { synthReplay } from '../lib/synth.ts';
import { kafkaEvent } from '../support/events.ts';
import { roleS3Statements, type CfnResource } from '../support/iam-template.ts';
import { createTopic } from '../support/kafka.ts';
import { describeKafka } from '../support/kafka-context.ts';
import { createUserWithPolicy, startMotoOrSkipReason, type AwsCredentials, type MotoServer } from '../support/moto.ts';
import { PARTITIONS, readTopic, records, spec } from '../support/replay.ts';

const SOURCE = 'replay-iam-src';
const STATE = 'replay-iam-state';

function client(endpoint: string, credentials: AwsCredentials): S3Client {
  return new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials, requestHandler: new NodeHttpHandler(), maxAttempts: 1 });
}

/** The template's resources with the state bucket's references (a bucket the stack creates) as its name here. */
function resolvedResources(): Record<string, CfnResource> {
  const resources = synthReplay({ bucketName: SOURCE }, { nag: false }).template.toJSON().Resources as Record<string, CfnResource>;
  const stateId = Object.keys(resources).find((id) => resources[id].Type === 'AWS::S3::Bucket' && id.startsWith('StateBucket'));
  if (!stateId) throw new Error('no state bucket in the replay stack');
  const text = JSON.stringify(resources)
    .replaceAll(JSON.stringify({ 'Fn::GetAtt': [stateId, 'Arn'] }), JSON.stringify(`arn:aws:s3:::${STATE}`))
    .replaceAll(JSON.stringify({ Ref: stateId }), JSON.stringify(STATE));
  return JSON.parse(text) as Record<string, CfnResource>;
}

const denied = async (p: Promise<unknown>) => expect(await p.then(() => 'ok', (err: Error) => err.name)).toBe('AccessDenied');

describeKafka('replay role S3 permissions, enforced by moto IAM', (kafka) => {
  let moto: MotoServer | undefined;
  let skipReason: string | undefined;
  let admin: S3Client;
  let replay: S3Client;
  beforeAll(async () => {
    const started = await startMotoOrSkipReason();
    if (typeof started === 'string') {
      skipReason = started;
      return;
    }
    moto = started;
    admin = client(moto.endpoint, moto.admin);
    for (const b of [SOURCE, STATE]) await admin.send(new CreateBucketCommand({ Bucket: b }));
    const statements = roleS3Statements(resolvedResources(), 'Replays ');
    replay = client(moto.endpoint, await createUserWithPolicy(moto.endpoint, moto.admin, 'kafka-s3-replay', { Version: '2012-10-17', Statement: statements }));
  }, 120_000);
  afterAll(async () => moto?.stop());
  const need = (ctx: TestContext) => {
    if (!moto) ctx.skip(`moto unavailable: ${skipReason ?? 'not started'}`);
  };

  it('replays the sink\'s objects with only the stack\'s S3 grants; reads outside the prefix and every write but its state are refused', async (ctx) => {
    need(ctx);
    // Prepare: the sink lands objects (admin key); a private object lies outside the prefix.
    const pipeline = new SinkPipeline(loadSinkConfig({ BUCKET_NAME: SOURCE, S3_ENDPOINT: moto!.endpoint, FORMAT: 'jsonl' }), admin);
    const sent = records(40);
    expect((await pipeline.handle(kafkaEvent(sent.map((r) => spec('orders', r))))).deadLettered).toBe(0);
    await pipeline.close();
    await admin.send(new PutObjectCommand({ Bucket: SOURCE, Key: 'private/secret.jsonl', Body: '{"secret":true}\n' }));
    const topic = `replay-iam-${randomUUID().slice(0, 8)}`;
    await createTopic(kafka.bootstrap, topic, PARTITIONS);
    const handler = createReplayHandler({
      env: { SOURCE_BUCKET: SOURCE, STATE_BUCKET: STATE, BOOTSTRAP_SERVERS: kafka.bootstrap, KAFKA_AUTH: 'none', TARGET_TOPIC: topic },
      s3: replay,
    });

    // Act: the state machine's loop, with the replay's key.
    const plan = await handler({ action: 'plan', input: {}, executionName: 'iam-run' }) as { replayId: string; streamsKey: string };
    const items = JSON.parse(await (await admin.send(new GetObjectCommand({ Bucket: STATE, Key: plan.streamsKey }))).Body!.transformToString()) as { stream: string }[];
    for (const { stream } of items) {
      for (let done = false; !done;) done = (await handler({ action: 'replay', replayId: plan.replayId, stream, input: {} }) as { done: boolean }).done;
    }

    // Assess
    expect(await readTopic(kafka.bootstrap, topic, sent.length)).toHaveLength(sent.length);
    await denied(replay.send(new GetObjectCommand({ Bucket: SOURCE, Key: 'private/secret.jsonl' })));
    await denied(replay.send(new PutObjectCommand({ Bucket: SOURCE, Key: 'topics/injected.jsonl', Body: 'x' })));
    await denied(replay.send(new DeleteObjectCommand({ Bucket: SOURCE, Key: 'private/secret.jsonl' })));
    await denied(replay.send(new PutObjectCommand({ Bucket: STATE, Key: 'elsewhere/x.json', Body: 'x' })));
    await denied(replay.send(new GetObjectCommand({ Bucket: STATE, Key: 'elsewhere/x.json' })));
    await denied(replay.send(new DeleteObjectCommand({ Bucket: STATE, Key: plan.streamsKey })));
  }, 180_000);
});
