/**
 * The compactor role's S3 permissions, proven by enforcement (as test/integration/iam-enforcement.test.ts does for
 * the sink): the statements of the synthesized template (compaction=true) are attached to a user of a moto server
 * that enforces IAM policies, and a whole compaction runs with that user's key over objects the sink wrote: listing,
 * reading raw objects and checkpoints, writing files, the conditional manifest and symlink writes, HEAD and tags.
 * What it must not do is refused: writing or deleting raw objects, reading or writing outside its prefixes.
 * moto evaluates no s3:prefix condition (it counts as met), so the ListBucket statement's condition is asserted in
 * test/lib/compaction-stack.test.ts instead; here it is attached as it is.
 */
import { readFileSync } from 'node:fs';
import { CreateBucketCommand, DeleteObjectCommand, GetObjectCommand, GetObjectTaggingCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it, type TestContext } from 'vitest';
import { Compactor } from '../../lambdas/compactor/compact.ts';
import { loadCompactorConfig } from '../../lambdas/compactor/config.ts';
import { createSinkHandler } from '../../lambdas/sink/app.ts';
import { loadAppConfig } from '../../lib/config.ts';
import { KafkaS3DirectStack } from '../../lib/direct-stack.ts';
import { AFTER, context, records } from '../support/compaction.ts';
import { kafkaEvent } from '../support/events.ts';
import { resolveIntrinsics, roleS3Statements, type CfnResource, type Statement } from '../support/iam-template.ts';
import { createUserWithPolicy, startMotoOrSkipReason, type AwsCredentials, type MotoServer } from '../support/moto.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const BUCKET = 'compactor-iam-enforced';

function synthesize(): Record<string, CfnResource> {
  const cdkDefaults = (JSON.parse(readFileSync(new URL('cdk.json', `file://${ROOT}`), 'utf8')) as { context: Record<string, unknown> }).context;
  const app = new App({
    context: {
      'aws:cdk:bundling-stacks': [], ...cdkDefaults, topics: 'orders', bucketName: BUCKET, compaction: 'true',
      mskClusterArn: 'arn:aws:kafka:us-east-1:111122223333:cluster/demo/abcd1234-ab12-cd34-ef56-abcdef123456-1',
    },
  });
  const stack = new KafkaS3DirectStack(app, 'KafkaS3DirectStack', { config: loadAppConfig((k) => app.node.tryGetContext(k), ROOT), baseDir: ROOT });
  return (Template.fromStack(stack).toJSON() as { Resources: Record<string, CfnResource> }).Resources;
}

const client = (endpoint: string, creds: AwsCredentials) => new S3Client({
  endpoint, region: 'us-east-1', forcePathStyle: true, credentials: creds, requestHandler: new NodeHttpHandler(), maxAttempts: 1,
});

async function denied(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return (err as Error).name;
  }
  return 'allowed';
}

describe('compactor role S3 permissions, enforced by moto IAM', () => {
  let moto: MotoServer | undefined;
  let skipReason: string | undefined;
  let statements: Statement[];
  let env: Record<string, string>;
  let admin: S3Client;
  let compactorUser: S3Client;

  beforeAll(async () => {
    const resources = synthesize();
    statements = roleS3Statements(resources, 'Kafka to S3 compactor');
    const fn = Object.values(resources).find((r) => r.Type === 'AWS::Lambda::Function' && String(r.Properties?.Description ?? '').startsWith('Kafka to S3 compactor'));
    env = resolveIntrinsics((fn?.Properties?.Environment as { Variables: unknown }).Variables) as Record<string, string>;
    const started = await startMotoOrSkipReason();
    if (typeof started === 'string') {
      skipReason = started;
      return;
    }
    moto = started;
    admin = client(moto.endpoint, moto.admin);
    await admin.send(new CreateBucketCommand({ Bucket: BUCKET }));
    compactorUser = client(moto.endpoint, await createUserWithPolicy(moto.endpoint, moto.admin, 'kafka-s3-compactor', { Version: '2012-10-17', Statement: statements }));
    // The sink (with full rights here: its own grants are the other test's) writes three hour windows.
    const sink = createSinkHandler({ env: { ...env, S3_ENDPOINT: moto.endpoint }, s3: admin });
    const recs = records(0, 90);
    for (let i = 0; i < recs.length; i += 30) await sink(kafkaEvent(recs.slice(i, i + 30)), context);
  });

  afterAll(async () => {
    admin?.destroy();
    compactorUser?.destroy();
    await moto?.stop();
  });

  const needMoto = (ctx: TestContext): MotoServer => {
    if (!moto) ctx.skip(`moto unavailable: ${skipReason ?? 'not started'}`);
    return moto as MotoServer;
  };

  it('takes the compactor role\'s S3 statements from the template', () => {
    expect(statements.map((s) => s.Sid)).toEqual(['ReadAndTagRawObjects', 'ReadCheckpoints', 'WriteCompacted', 'ListWindows']);
  });

  it('a whole compaction runs with the role\'s grants: files, manifests, symlinks, tags', async (ctx) => {
    const m = needMoto(ctx);
    const compactor = new Compactor(compactorUser, { ...loadCompactorConfig({ ...env, S3_ENDPOINT: m.endpoint }), runId: 'iam' }, () => AFTER);
    const report = await compactor.run();
    expect(report.windows.map((w) => [w.action, w.error])).toEqual([['compacted', undefined], ['compacted', undefined], ['compacted', undefined]]);
    // A second run (nothing new: the symlink check) and one after the retirement age (housekeeping) too.
    expect((await compactor.run()).windows.map((w) => w.action)).toEqual(['current', 'current', 'current']);
    const raw = ((await admin.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'topics/' }))).Contents ?? []).map((o) => o.Key!);
    for (const key of raw) expect((await admin.send(new GetObjectTaggingCommand({ Bucket: BUCKET, Key: key }))).TagSet).toEqual([{ Key: 'kafka-s3-compaction', Value: 'compacted' }]);
  });

  it('refuses what the compactor does not need', async (ctx) => {
    needMoto(ctx);
    const [raw] = ((await admin.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'topics/' }))).Contents ?? []).map((o) => o.Key!);
    await admin.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'dead-letters/x.jsonl', Body: '{}' }));
    const probes = {
      writeRawObject: () => compactorUser.send(new PutObjectCommand({ Bucket: BUCKET, Key: raw, Body: 'x' })),
      deleteRawObject: () => compactorUser.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: raw })),
      deleteCompacted: () => compactorUser.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: 'compacted/manifests/x' })),
      readDeadLetters: () => compactorUser.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'dead-letters/x.jsonl' })),
      writeCheckpoint: () => compactorUser.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'checkpoints/orders/0.json', Body: '{}' })),
      writeOutside: () => compactorUser.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'other/x', Body: 'x' })),
    };
    const outcomes: Record<string, string> = {};
    for (const [name, probe] of Object.entries(probes)) outcomes[name] = await denied(probe());
    expect(outcomes).toEqual(Object.fromEntries(Object.keys(probes).map((k) => [k, 'AccessDenied'])));
    // The raw object is still there, as the sink wrote it.
    expect((await admin.send(new GetObjectCommand({ Bucket: BUCKET, Key: raw }))).ContentLength).toBeGreaterThan(0);
  });
});
