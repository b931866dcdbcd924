/**
 * The sink role's S3 permissions, proven by enforcement: the S3 statements are taken from the synthesized template
 * of KafkaS3DirectStack, attached to an IAM user of a moto server that enforces IAM policies, and the real handler
 * runs with that user's key. What the sink does (PutObject, a full multipart upload, a dead letter) must succeed;
 * writing elsewhere, deleting and listing must be refused with AccessDenied.
 */
import { readFileSync } from 'node:fs';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  CreateBucketCommand,
} from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it, type TestContext } from 'vitest';
import { loadAppConfig } from '../../lib/config.ts';
import { KafkaS3DirectStack } from '../../lib/direct-stack.ts';
import { UploadError } from '../../lambdas/shared/errors.ts';
import { createSinkHandler } from '../../lambdas/sink/app.ts';
import { kafkaEvent } from '../support/events.ts';
import { createUserWithPolicy, startMotoOrSkipReason, type AwsCredentials, type MotoServer } from '../support/moto.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const MSK_ARN = 'arn:aws:kafka:us-east-1:111122223333:cluster/demo/abcd1234-ab12-cd34-ef56-abcdef123456-1';
const BUCKET = 'sink-iam-enforced';
const OTHER_BUCKET = 'sink-iam-other';
const DATA_PREFIX = 'topics/';
const ERROR_PREFIX = 'dead-letters/';
const MiB = 1024 * 1024;
const context = { functionName: 'sink', awsRequestId: 'req-iam' } as never;

interface Statement {
  Effect: string;
  Action: string | string[];
  Resource: string | string[];
  Sid?: string;
}
type CfnResource = { Type: string; Properties?: Record<string, unknown> };

const asList = (v: string | string[]): string[] => (Array.isArray(v) ? v : [v]);

/** Synthesizes the stack as `cdk synth` would with these -c values (cdk.json defaults merged, bundling skipped). */
function synthesize(): { resources: Record<string, CfnResource> } {
  const cdkDefaults = (JSON.parse(readFileSync(new URL('cdk.json', `file://${ROOT}`), 'utf8')) as { context: Record<string, unknown> }).context;
  const app = new App({
    context: {
      'aws:cdk:bundling-stacks': [],
      ...cdkDefaults,
      mskClusterArn: MSK_ARN,
      topics: 'orders',
      bucketName: BUCKET,
      prefix: DATA_PREFIX,
      errorPrefix: ERROR_PREFIX,
    },
  });
  const config = loadAppConfig((k) => app.node.tryGetContext(k), ROOT);
  const stack = new KafkaS3DirectStack(app, 'KafkaS3DirectStack', { config, baseDir: ROOT });
  const json = Template.fromStack(stack).toJSON() as { Resources: Record<string, CfnResource> };
  return { resources: json.Resources };
}

/** Turns the intrinsics an S3 ARN of an existing bucket is built from into plain strings; anything else is an error. */
function resolveIntrinsics(v: unknown): unknown {
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map(resolveIntrinsics);
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o);
  if (keys.length === 1 && keys[0] === 'Fn::Join') {
    const [sep, parts] = o['Fn::Join'] as [string, unknown[]];
    return parts.map((p) => {
      const s = resolveIntrinsics(p);
      if (typeof s !== 'string') throw new Error(`cannot resolve ${JSON.stringify(p)} to a string`);
      return s;
    }).join(sep);
  }
  if (keys.length === 1 && keys[0] === 'Ref') {
    if (o.Ref === 'AWS::Partition') return 'aws';
    if (o.Ref === 'AWS::URLSuffix') return 'amazonaws.com';
    throw new Error(`cannot resolve Ref ${String(o.Ref)}: the test expects an existing bucket (bucketName), whose ARNs are literals`);
  }
  if (keys.length === 1 && keys[0].startsWith('Fn::')) {
    throw new Error(`cannot resolve ${JSON.stringify(o)}: the test expects an existing bucket (bucketName), whose ARNs are literals`);
  }
  return Object.fromEntries(keys.map((k) => [k, resolveIntrinsics(o[k])]));
}

/** The S3 statements of the policies attached to the sink function's role, resolved to plain ARNs. */
function sinkRoleS3Statements(resources: Record<string, CfnResource>): Statement[] {
  const functions = Object.values(resources).filter(
    (r) => r.Type === 'AWS::Lambda::Function' && String(r.Properties?.Description ?? '').startsWith('Kafka to S3 sink'),
  );
  if (functions.length !== 1) throw new Error(`expected one sink function in the template, found ${functions.length}`);
  const roleRef = functions[0].Properties?.Role as { 'Fn::GetAtt'?: [string, string] };
  const roleId = roleRef['Fn::GetAtt']?.[0];
  if (!roleId || resources[roleId]?.Type !== 'AWS::IAM::Role') throw new Error(`the sink function's Role is not a role of the stack: ${JSON.stringify(roleRef)}`);
  const statements = Object.values(resources)
    .filter((r) => r.Type === 'AWS::IAM::Policy' && (r.Properties?.Roles as unknown[] | undefined)?.some((x) => (x as { Ref?: string }).Ref === roleId))
    .flatMap((p) => (p.Properties?.PolicyDocument as { Statement: unknown[] }).Statement);
  // Only the S3 statements are resolved: the others (logs, kafka, ec2) reference resources of the stack.
  const s3 = (statements as Statement[]).filter((s) => asList(s.Action).some((a) => a.startsWith('s3:')));
  for (const s of s3) {
    if (!asList(s.Action).every((a) => a.startsWith('s3:'))) throw new Error(`a statement mixes S3 and other actions: ${JSON.stringify(s)}`);
  }
  return s3.map((s) => resolveIntrinsics(s) as Statement);
}

/** Whether one Allow statement names exactly this action and this resource (no wildcard matching: what the template says). */
function grants(statements: Statement[], action: string, resource: string): boolean {
  return statements.some((s) => s.Effect === 'Allow' && asList(s.Action).includes(action) && asList(s.Resource).includes(resource));
}

function s3Client(endpoint: string, creds: AwsCredentials): S3Client {
  return new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: creds,
    requestHandler: new NodeHttpHandler(),
    maxAttempts: 1,
  });
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected the call to be refused, but it succeeded');
}

function expectAccessDenied(err: unknown): void {
  const e = err as { name?: string; Code?: string; $metadata?: { httpStatusCode?: number } };
  expect({ name: e.name, status: e.$metadata?.httpStatusCode }).toEqual({ name: 'AccessDenied', status: 403 });
}

function records(count: number, partition: number, valueBytes = 0, first = 0) {
  return Array.from({ length: count }, (_, n) => ({
    partition,
    offset: first + n,
    key: `k${first + n}`,
    value: JSON.stringify({ i: first + n, pad: 'x'.repeat(valueBytes) }),
  }));
}

describe('sink role S3 permissions, enforced by moto IAM', () => {
  let moto: MotoServer | undefined;
  let skipReason: string | undefined;
  let statements: Statement[];
  let functionEnv: Record<string, string>;
  let admin: S3Client;
  let sink: S3Client;
  let wide: S3Client;

  beforeAll(async () => {
    const { resources } = synthesize();
    statements = sinkRoleS3Statements(resources);
    const fn = Object.values(resources).find((r) => r.Type === 'AWS::Lambda::Function' && String(r.Properties?.Description ?? '').startsWith('Kafka to S3 sink'));
    functionEnv = resolveIntrinsics((fn?.Properties?.Environment as { Variables: unknown }).Variables) as Record<string, string>;

    const started = await startMotoOrSkipReason();
    if (typeof started === 'string') {
      skipReason = started;
      return;
    }
    moto = started;
    admin = s3Client(moto.endpoint, moto.admin);
    await admin.send(new CreateBucketCommand({ Bucket: BUCKET }));
    await admin.send(new CreateBucketCommand({ Bucket: OTHER_BUCKET }));
    const policy = { Version: '2012-10-17', Statement: statements };
    sink = s3Client(moto.endpoint, await createUserWithPolicy(moto.endpoint, moto.admin, 'kafka-s3-sink', policy));
    // Control: the template's statements plus s3:* everywhere. The denial probes must pass for this user, or they
    // would not show that it is the template's policy that refuses them.
    const widened = { Version: '2012-10-17', Statement: [...statements, { Effect: 'Allow', Action: 's3:*', Resource: '*' }] };
    wide = s3Client(moto.endpoint, await createUserWithPolicy(moto.endpoint, moto.admin, 'kafka-s3-sink-widened', widened));
  });

  afterAll(async () => {
    for (const c of [admin, sink, wide]) c?.destroy();
    await moto?.stop();
  });

  const needMoto = (ctx: TestContext): MotoServer => {
    if (!moto) ctx.skip(`moto unavailable: ${skipReason ?? 'not started'}`);
    return moto as MotoServer;
  };

  /** The function's environment from the template, pointed at moto, with small multipart sizes and no compression. */
  const sinkEnv = (m: MotoServer, overrides: Record<string, string> = {}): Record<string, string> => ({
    ...functionEnv,
    S3_ENDPOINT: m.endpoint,
    COMPRESSION: 'none',
    MULTIPART_THRESHOLD_BYTES: String(5 * MiB),
    PART_SIZE_BYTES: String(5 * MiB),
    ...overrides,
  });

  const adminRead = async (key: string, bucket = BUCKET): Promise<{ text: string; etag: string }> => {
    const got = await admin.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return { text: await got.Body!.transformToString(), etag: got.ETag ?? '' };
  };

  /** What the sink must not be able to do; each is run for the sink user (denied) and the widened user (allowed). */
  const probes = (m: MotoServer, client: S3Client, victimKey: string) => ({
    otherPrefix: () => createSinkHandler({ env: sinkEnv(m, { PREFIX: 'other/' }), s3: client })(kafkaEvent(records(3, 5)), context),
    otherBucket: () => createSinkHandler({ env: sinkEnv(m, { BUCKET_NAME: OTHER_BUCKET }), s3: client })(kafkaEvent(records(3, 6)), context),
    deleteObject: () => client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: victimKey })),
    listObjects: () => client.send(new ListObjectsV2Command({ Bucket: BUCKET })),
  });

  it('takes the sink role\'s S3 statements from the synthesized template', () => {
    // Prepare
    const objects = (prefix: string) => `arn:aws:s3:::${BUCKET}/${prefix}*`;

    // Act
    const required: [string, string][] = [
      ['s3:PutObject', objects(DATA_PREFIX)],
      ['s3:AbortMultipartUpload', objects(DATA_PREFIX)],
      ['s3:ListMultipartUploadParts', objects(DATA_PREFIX)],
      ['s3:PutObject', objects(ERROR_PREFIX)],
      ['s3:AbortMultipartUpload', objects(ERROR_PREFIX)],
      ['s3:ListMultipartUploadParts', objects(ERROR_PREFIX)],
      ['s3:ListBucketMultipartUploads', `arn:aws:s3:::${BUCKET}`],
    ];
    const missing = required.filter(([action, resource]) => !grants(statements, action, resource));

    // Assess
    expect(missing).toEqual([]);
    expect(statements.every((s) => s.Effect === 'Allow')).toBe(true);
    expect(statements.flatMap((s) => asList(s.Action)).filter((a) => a.includes('*'))).toEqual([]);
    expect(functionEnv).toMatchObject({ BUCKET_NAME: BUCKET, PREFIX: DATA_PREFIX, ERROR_PREFIX: ERROR_PREFIX });
  });

  it('writes a small batch with PutObject under the data prefix', async (ctx) => {
    // Prepare
    const m = needMoto(ctx);
    const handler = createSinkHandler({ env: sinkEnv(m), s3: sink });

    // Act
    const result = await handler(kafkaEvent(records(5, 0)), context);

    // Assess
    expect(result).toMatchObject({ recordsIn: 5, written: 5, objects: 1, multipartObjects: 0, deadLetterObjects: 0 });
    expect(result.keys[0].startsWith(DATA_PREFIX)).toBe(true);
    const { text } = await adminRead(result.keys[0]);
    expect(text.trimEnd().split('\n').map((l) => (JSON.parse(l) as { offset: number }).offset)).toEqual([0, 1, 2, 3, 4]);
  });

  it('writes a batch above the threshold with a full multipart upload under the data prefix', async (ctx) => {
    // Prepare
    const m = needMoto(ctx);
    const handler = createSinkHandler({ env: sinkEnv(m), s3: sink });

    // Act
    const result = await handler(kafkaEvent(records(700, 1, 10_000)), context);

    // Assess
    expect(result).toMatchObject({ recordsIn: 700, written: 700, objects: 1, multipartObjects: 1 });
    expect(result.bytes).toBeGreaterThan(5 * MiB);
    expect(result.keys[0].startsWith(DATA_PREFIX)).toBe(true);
    const { text, etag } = await adminRead(result.keys[0]);
    expect(etag).toMatch(/-2"?$/); // completed from two parts
    expect(Buffer.byteLength(text)).toBe(result.bytes);
    expect(text.trimEnd().split('\n')).toHaveLength(700);
    const open = await admin.send(new ListMultipartUploadsCommand({ Bucket: BUCKET }));
    expect(open.Uploads ?? []).toEqual([]);
  });

  it('writes a bad record\'s dead letter under the error prefix', async (ctx) => {
    // Prepare
    const m = needMoto(ctx);
    const handler = createSinkHandler({ env: sinkEnv(m), s3: sink });
    const event = kafkaEvent([
      { partition: 2, offset: 40, value: '{"i": 40, "broken": ' }, // not JSON
      { partition: 2, offset: 41, value: '{"i": 41}' },
    ]);

    // Act
    const result = await handler(event, context);

    // Assess
    expect(result).toMatchObject({ recordsIn: 2, written: 1, deadLettered: 1, objects: 1, deadLetterObjects: 1 });
    const letterKey = result.keys.find((k) => k.startsWith(ERROR_PREFIX));
    expect(letterKey).toBe(`${ERROR_PREFIX}orders/partition=2/orders+2+00000000000000000040.jsonl`);
    const letter = JSON.parse((await adminRead(letterKey!)).text) as { offset: string; stage: string; value: string };
    expect(letter).toMatchObject({ offset: '40', stage: 'convert' });
    expect(Buffer.from(letter.value, 'base64').toString()).toBe('{"i": 40, "broken": ');
    expect(result.keys.filter((k) => k.startsWith(DATA_PREFIX))).toHaveLength(1);
  });

  describe('refuses what the sink does not need', () => {
    const victimKey = `${DATA_PREFIX}orders/victim.jsonl`;
    beforeAll(async () => {
      if (moto) await admin.send(new PutObjectCommand({ Bucket: BUCKET, Key: victimKey, Body: '{"keep":true}\n' }));
    });

    it('a batch with another prefix in the same bucket fails with UploadError caused by AccessDenied', async (ctx) => {
      // Prepare
      const m = needMoto(ctx);

      // Act
      const err = await rejection(probes(m, sink, victimKey).otherPrefix());

      // Assess
      expect(err).toBeInstanceOf(UploadError);
      expect((err as Error).message).toContain(`s3://${BUCKET}/other/`);
      expectAccessDenied((err as Error).cause);
    });

    it('a batch to another existing bucket fails with UploadError caused by AccessDenied', async (ctx) => {
      // Prepare
      const m = needMoto(ctx);

      // Act
      const err = await rejection(probes(m, sink, victimKey).otherBucket());

      // Assess
      expect(err).toBeInstanceOf(UploadError);
      expect((err as Error).message).toContain(`s3://${OTHER_BUCKET}/${DATA_PREFIX}`);
      expectAccessDenied((err as Error).cause);
    });

    it('DeleteObject of an object under the data prefix is denied and the object stays', async (ctx) => {
      // Prepare
      const m = needMoto(ctx);

      // Act
      const err = await rejection(probes(m, sink, victimKey).deleteObject());

      // Assess
      expectAccessDenied(err);
      const head = await admin.send(new HeadObjectCommand({ Bucket: BUCKET, Key: victimKey }));
      expect(head.ContentLength).toBe(14);
    });

    it('ListObjectsV2 on the bucket is denied (listing is not granted)', async (ctx) => {
      // Prepare
      const m = needMoto(ctx);

      // Act
      const err = await rejection(probes(m, sink, victimKey).listObjects());

      // Assess
      expectAccessDenied(err);
    });

    it('control: the same calls succeed for a user with s3:* added, so the denials come from the template\'s policy', async (ctx) => {
      // Prepare
      const m = needMoto(ctx);
      const p = probes(m, wide, victimKey);

      // Act
      const outcomes = {
        otherPrefix: await p.otherPrefix().then((r) => r.keys),
        otherBucket: await p.otherBucket().then((r) => r.keys),
        listObjects: await p.listObjects().then((r) => (r.Contents ?? []).length > 0),
        deleteObject: await p.deleteObject().then(() => true), // last: it removes the victim
      };

      // Assess
      expect(outcomes.otherPrefix[0].startsWith('other/')).toBe(true);
      expect(outcomes.otherBucket[0].startsWith(DATA_PREFIX)).toBe(true);
      expect(outcomes.listObjects).toBe(true);
      expect(outcomes.deleteObject).toBe(true);
      await adminRead(outcomes.otherBucket[0], OTHER_BUCKET);
    });
  });
});
