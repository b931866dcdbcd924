/**
 * The sink role's S3 permissions, proven by enforcement: the S3 statements are taken from the synthesized template
 * of KafkaS3DirectStack, attached to an IAM user of a moto server that enforces IAM policies, and the real handler
 * runs with that user's key. What the sink does must succeed: PutObject, a full multipart upload, a dead letter, the
 * checkpoints of lambdas/shared/progress.ts (GetObject, conditional PutObject with If-None-Match / If-Match), and the
 * takeover of an expired claim (DeleteObject of the data and dead-letter objects it listed). Everything else must be
 * refused with AccessDenied: GetObject of data, PutObject outside the data, dead-letter and state prefixes,
 * DeleteObject under the state prefix or outside the data and dead-letter prefixes (also when a tampered checkpoint
 * lists such keys), listing the bucket.
 *
 * Where moto differs from S3, and what the test does about it (moto 5.2.5, scripts/infra/requirements.txt):
 * - Conditional writes: moto honours If-None-Match: * and If-Match on PutObject (412 PreconditionFailed), as S3 does;
 *   a test below checks that, so the claims here are real compare-and-swap writes, not just permitted PUTs.
 * - DeleteObjects: S3 authorizes a multi-object delete per key (s3:DeleteObject on each key's ARN, refused keys come
 *   back in Errors). moto checks s3:DeleteObject once on the bucket ARN and then per key only against the bucket
 *   policy, so it would refuse every key under a policy scoped to prefixes. The sink's client therefore sends each
 *   DeleteObjects as one DeleteObject per key (deleteObjectsPerKey below): the same action on the same key ARNs, which
 *   moto enforces.
 * - Conditions: moto evaluates only StringEquals (and only sts:ExternalId); any other condition counts as met. The
 *   statement that grants s3:ListBucket under the condition s3:prefix like '<state prefix>*' would thus let moto list
 *   the whole bucket. It exists only so that S3 answers a GetObject of a checkpoint not written yet with 404 rather
 *   than 403; moto answers 404 whenever GetObject is allowed. So it is left out of moto's policy (the test checks
 *   that it is the only conditioned statement) and asserted in test/lib/direct-stack.test.ts.
 */
import { readFileSync } from 'node:fs';
import {
  DeleteObjectCommand,
  type DeleteObjectsCommandInput,
  type DeleteObjectsCommandOutput,
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
import { checkpointKey, decodeCheckpoint, encodeCheckpoint, type Checkpoint } from '../../lambdas/shared/progress.ts';
import { createSinkHandler } from '../../lambdas/sink/app.ts';
import { kafkaEvent } from '../support/events.ts';
import { asList, resolveIntrinsics, roleS3Statements, type CfnResource, type Statement } from '../support/iam-template.ts';
import { createUserWithPolicy, startMotoOrSkipReason, type AwsCredentials, type MotoServer } from '../support/moto.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const MSK_ARN = 'arn:aws:kafka:us-east-1:111122223333:cluster/demo/abcd1234-ab12-cd34-ef56-abcdef123456-1';
const BUCKET = 'sink-iam-enforced';
const OTHER_BUCKET = 'sink-iam-other';
const DATA_PREFIX = 'topics/';
const ERROR_PREFIX = 'dead-letters/';
const STATE_PREFIX = 'checkpoints/';
const MiB = 1024 * 1024;
const context = { functionName: 'sink', awsRequestId: 'req-iam' } as never;


/** Objects the denial probes aim at: one under each prefix the sink may not read or delete there, one outside. */
interface Victims {
  readonly data: string;
  readonly state: string;
  readonly outside: string;
}

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
      statePrefix: STATE_PREFIX,
    },
  });
  const config = loadAppConfig((k) => app.node.tryGetContext(k), ROOT);
  const stack = new KafkaS3DirectStack(app, 'KafkaS3DirectStack', { config, baseDir: ROOT });
  const json = Template.fromStack(stack).toJSON() as { Resources: Record<string, CfnResource> };
  return { resources: json.Resources };
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

/** One S3 call a client made: the command, the key, the write condition, and how it ended (ok or the error name). */
interface S3Call {
  command: string;
  key?: string;
  condition?: string;
  outcome: string;
}

/** Records every call of the client into `calls` (nested calls included, in the order they start). */
function recordCalls(client: S3Client, calls: S3Call[]): void {
  client.middlewareStack.add((next, context) => async (args) => {
    const input = args.input as { Key?: string; IfMatch?: string; IfNoneMatch?: string };
    const condition = input.IfNoneMatch !== undefined ? `If-None-Match: ${input.IfNoneMatch}` : input.IfMatch !== undefined ? 'If-Match' : undefined;
    const call: S3Call = { command: context.commandName ?? '?', ...(input.Key === undefined ? {} : { key: input.Key }), ...(condition ? { condition } : {}), outcome: 'pending' };
    calls.push(call);
    try {
      const out = await next(args);
      call.outcome = 'ok';
      return out;
    } catch (err) {
      call.outcome = (err as Error).name;
      throw err;
    }
  }, { step: 'initialize', name: 'recordCalls', priority: 'high' });
}

/**
 * Serves DeleteObjects as one DeleteObject per key, answering as S3 does: refused keys in Errors, the others in
 * Deleted. S3 authorizes a multi-object delete per key; moto only on the bucket ARN (see the header).
 */
function deleteObjectsPerKey(client: S3Client): void {
  client.middlewareStack.add((next, context) => async (args) => {
    if (context.commandName !== 'DeleteObjectsCommand') return next(args);
    const input = args.input as DeleteObjectsCommandInput;
    const output: DeleteObjectsCommandOutput = { Deleted: [], Errors: [], $metadata: { httpStatusCode: 200 } };
    for (const { Key } of input.Delete?.Objects ?? []) {
      try {
        await client.send(new DeleteObjectCommand({ Bucket: input.Bucket, Key }));
        output.Deleted!.push({ Key });
      } catch (err) {
        output.Errors!.push({ Key, Code: (err as Error).name, Message: (err as Error).message });
      }
    }
    return { output, response: {} } as Awaited<ReturnType<typeof next>>;
  }, { step: 'initialize', name: 'deleteObjectsPerKey', priority: 'low' });
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
  /** What moto can enforce: the statements without a condition (see the header). */
  let enforced: Statement[];
  let functionEnv: Record<string, string>;
  let admin: S3Client;
  let sink: S3Client;
  let wide: S3Client;
  const calls: S3Call[] = [];

  beforeAll(async () => {
    const { resources } = synthesize();
    statements = roleS3Statements(resources, 'Kafka to S3 sink');
    enforced = statements.filter((st) => st.Condition === undefined);
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
    const policy = { Version: '2012-10-17', Statement: enforced };
    sink = s3Client(moto.endpoint, await createUserWithPolicy(moto.endpoint, moto.admin, 'kafka-s3-sink', policy));
    // Control: the template's statements plus s3:* everywhere. The denial probes must pass for this user, or they
    // would not show that it is the template's policy that refuses them.
    const widened = { Version: '2012-10-17', Statement: [...enforced, { Effect: 'Allow', Action: 's3:*', Resource: '*' }] };
    wide = s3Client(moto.endpoint, await createUserWithPolicy(moto.endpoint, moto.admin, 'kafka-s3-sink-widened', widened));
    for (const c of [sink, wide]) {
      recordCalls(c, calls);
      deleteObjectsPerKey(c);
    }
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

  const adminExists = async (key: string): Promise<boolean> =>
    admin.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key })).then(() => true, (err: { name?: string }) => {
      if (err.name === 'NotFound') return false;
      throw err;
    });

  const adminPut = (key: string, body: string) => admin.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }));

  /** The checkpoint of orders-<partition> as the sink reads it. */
  const readCheckpoint = async (partition: number): Promise<Checkpoint> => {
    const key = checkpointKey(STATE_PREFIX, 'orders', partition);
    return decodeCheckpoint((await adminRead(key)).text, key);
  };

  /** Writes the checkpoint an invocation that died mid-claim leaves: next offset, and its expired claim with its keys. */
  const writeExpiredClaim = (partition: number, next: bigint, keys: string[]) =>
    adminPut(checkpointKey(STATE_PREFIX, 'orders', partition), encodeCheckpoint('orders', partition, {
      next, claim: { from: next, to: next + 99n, owner: 'invocation-that-died', expiresAt: Date.now() - 60_000, keys },
    }, Date.now()));

  /** The calls `run` makes, as recorded on the instrumented clients. */
  const callsOf = async (run: () => Promise<unknown>): Promise<{ calls: S3Call[]; error?: unknown }> => {
    const from = calls.length;
    try {
      await run();
      return { calls: calls.slice(from) };
    } catch (error) {
      return { calls: calls.slice(from), error };
    }
  };

  /**
   * What the sink must not be able to do; each is run for the sink user (denied) and the widened user (allowed).
   * `tamperedPartition` is the partition whose checkpoint is given an expired claim listing keys outside the sink's
   * delete grant.
   */
  const probes = (m: MotoServer, client: S3Client, v: Victims, tamperedPartition: number) => ({
    otherPrefix: () => createSinkHandler({ env: sinkEnv(m, { PREFIX: 'other/' }), s3: client })(kafkaEvent(records(3, 5)), context),
    otherBucket: () => createSinkHandler({ env: sinkEnv(m, { BUCKET_NAME: OTHER_BUCKET }), s3: client })(kafkaEvent(records(3, 6)), context),
    getDataObject: () => client.send(new GetObjectCommand({ Bucket: BUCKET, Key: v.data })),
    putOutsidePrefixes: () => client.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'other/written-by-the-sink.json', Body: '{}' })),
    putAtBucketRoot: () => client.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'written-by-the-sink.json', Body: '{}' })),
    deleteUnderStatePrefix: () => client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: v.state })),
    deleteOutsidePrefixes: () => client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: v.outside })),
    tamperedClaim: async () => {
      await writeExpiredClaim(tamperedPartition, 300n, [v.state, v.outside]);
      return createSinkHandler({ env: sinkEnv(m), s3: client })(kafkaEvent(records(2, tamperedPartition, 0, 300)), context);
    },
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
      ['s3:DeleteObject', objects(DATA_PREFIX)],
      ['s3:PutObject', objects(ERROR_PREFIX)],
      ['s3:AbortMultipartUpload', objects(ERROR_PREFIX)],
      ['s3:ListMultipartUploadParts', objects(ERROR_PREFIX)],
      ['s3:DeleteObject', objects(ERROR_PREFIX)],
      ['s3:GetObject', objects(STATE_PREFIX)],
      ['s3:PutObject', objects(STATE_PREFIX)],
      ['s3:ListBucketMultipartUploads', `arn:aws:s3:::${BUCKET}`],
    ];
    const missing = required.filter(([action, resource]) => !grants(enforced, action, resource));
    const notWanted: [string, string][] = [
      ['s3:GetObject', objects(DATA_PREFIX)],
      ['s3:GetObject', objects(ERROR_PREFIX)],
      ['s3:DeleteObject', objects(STATE_PREFIX)],
    ];
    const present = notWanted.filter(([action, resource]) => grants(statements, action, resource));

    // Assess
    expect(missing).toEqual([]);
    expect(present).toEqual([]);
    expect(statements.every((st) => st.Effect === 'Allow')).toBe(true);
    expect(statements.flatMap((st) => asList(st.Action)).filter((a) => a.includes('*'))).toEqual([]);
    // The one statement moto cannot enforce (its condition), left out of moto's policy: see the header.
    expect(statements.filter((st) => st.Condition !== undefined)).toEqual([{
      Sid: 'CheckpointsNotFound', Effect: 'Allow', Action: 's3:ListBucket', Resource: `arn:aws:s3:::${BUCKET}`,
      Condition: { StringLike: { 's3:prefix': `${STATE_PREFIX}*` } },
    }]);
    expect(functionEnv).toMatchObject({ BUCKET_NAME: BUCKET, PREFIX: DATA_PREFIX, ERROR_PREFIX: ERROR_PREFIX, STATE_PREFIX: STATE_PREFIX });
  });

  it('moto honours If-None-Match: * and If-Match on PutObject, and the role may make those writes on a checkpoint', async (ctx) => {
    // Prepare
    needMoto(ctx);
    const key = checkpointKey(STATE_PREFIX, 'orders', 99);
    const put = (body: string, condition: { IfNoneMatch?: string; IfMatch?: string }) =>
      sink.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body, ...condition }));

    // Act
    const created = await put('first', { IfNoneMatch: '*' });
    const secondCreate = await rejection(put('second', { IfNoneMatch: '*' }));
    const advanced = await put('advanced', { IfMatch: created.ETag });
    const stale = await rejection(put('stale', { IfMatch: created.ETag }));
    const read = await sink.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));

    // Assess
    for (const err of [secondCreate, stale]) {
      expect({ name: (err as Error).name, status: (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode }).toEqual({ name: 'PreconditionFailed', status: 412 });
    }
    expect(advanced.ETag).not.toBe(created.ETag);
    expect(await read.Body!.transformToString()).toBe('advanced');
  });

  it('writes a small batch with PutObject under the data prefix', async (ctx) => {
    // Prepare
    const m = needMoto(ctx);
    const handler = createSinkHandler({ env: sinkEnv(m), s3: sink });

    // Act
    let result!: Awaited<ReturnType<typeof handler>>;
    const run = await callsOf(async () => {
      result = await handler(kafkaEvent(records(5, 0)), context);
    });

    // Assess
    expect(run.error).toBeUndefined();
    expect(result).toMatchObject({ recordsIn: 5, written: 5, objects: 1, multipartObjects: 0, deadLetterObjects: 0 });
    expect(result.keys[0].startsWith(DATA_PREFIX)).toBe(true);
    const { text } = await adminRead(result.keys[0]);
    expect(text.trimEnd().split('\n').map((l) => (JSON.parse(l) as { offset: number }).offset)).toEqual([0, 1, 2, 3, 4]);
    // The first checkpoint of the partition: read (none yet), created with If-None-Match, advanced with If-Match.
    const checkpoint = checkpointKey(STATE_PREFIX, 'orders', 0);
    expect(run.calls).toEqual([
      { command: 'GetObjectCommand', key: checkpoint, outcome: 'NoSuchKey' },
      { command: 'PutObjectCommand', key: checkpoint, condition: 'If-None-Match: *', outcome: 'ok' },
      { command: 'PutObjectCommand', key: result.keys[0], outcome: 'ok' },
      { command: 'PutObjectCommand', key: checkpoint, condition: 'If-Match', outcome: 'ok' },
    ]);
    expect(await readCheckpoint(0)).toEqual({ next: 5n, claim: null });
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

  it('takes over an expired claim: reads and rewrites the checkpoint, deletes the data and dead-letter objects it listed', async (ctx) => {
    // Prepare: an invocation claimed orders-7 from offset 100, wrote three objects and died. One of them is the object
    // the retry writes again (same key, overwritten); the other two it does not write (another hour, an older letter).
    const m = needMoto(ctx);
    const rewritten = `${DATA_PREFIX}orders/dt=2026-01-01/hour=00/orders+7+00000000000000000100.jsonl`;
    const leftoverData = `${DATA_PREFIX}orders/dt=2025-12-31/hour=23/orders+7+00000000000000000100.jsonl`;
    const leftoverLetter = `${ERROR_PREFIX}orders/partition=7/orders+7+00000000000000000150.jsonl`;
    for (const key of [rewritten, leftoverData, leftoverLetter]) await adminPut(key, '{"partial":true}\n');
    await writeExpiredClaim(7, 100n, [rewritten, leftoverData, leftoverLetter]);
    const checkpoint = checkpointKey(STATE_PREFIX, 'orders', 7);
    const handler = createSinkHandler({ env: sinkEnv(m), s3: sink });

    // Act: the redelivery starts below the checkpoint (95), as after a lost commit.
    let result!: Awaited<ReturnType<typeof handler>>;
    const run = await callsOf(async () => {
      result = await handler(kafkaEvent(records(10, 7, 0, 95)), context);
    });

    // Assess
    expect(run.error).toBeUndefined();
    expect(result).toMatchObject({ recordsIn: 10, alreadyWritten: 5, written: 5, objects: 1, keys: [rewritten] });
    expect(run.calls).toEqual([
      { command: 'GetObjectCommand', key: checkpoint, outcome: 'ok' },
      { command: 'PutObjectCommand', key: checkpoint, condition: 'If-Match', outcome: 'ok' },
      { command: 'PutObjectCommand', key: rewritten, outcome: 'ok' },
      { command: 'DeleteObjectsCommand', outcome: 'ok' },
      { command: 'DeleteObjectCommand', key: leftoverData, outcome: 'ok' },
      { command: 'DeleteObjectCommand', key: leftoverLetter, outcome: 'ok' },
      { command: 'PutObjectCommand', key: checkpoint, condition: 'If-Match', outcome: 'ok' },
    ]);
    expect(await readCheckpoint(7)).toEqual({ next: 105n, claim: null });
    expect({ leftoverData: await adminExists(leftoverData), leftoverLetter: await adminExists(leftoverLetter) })
      .toEqual({ leftoverData: false, leftoverLetter: false });
    const { text } = await adminRead(rewritten);
    expect(text.trimEnd().split('\n').map((l) => (JSON.parse(l) as { offset: number }).offset)).toEqual([100, 101, 102, 103, 104]);
  });

  describe('refuses what the sink does not need', () => {
    const victims: Victims = {
      data: `${DATA_PREFIX}orders/victim.jsonl`,
      state: `${STATE_PREFIX}orders/victim.json`,
      outside: 'other/victim.jsonl',
    };
    beforeAll(async () => {
      if (moto) for (const key of Object.values(victims)) await adminPut(key, '{"keep":true}\n');
    });
    const victimsLeft = async () => ({
      data: await adminExists(victims.data), state: await adminExists(victims.state), outside: await adminExists(victims.outside),
    });

    it('a batch with another prefix in the same bucket fails with UploadError caused by AccessDenied', async (ctx) => {
      // Prepare
      const m = needMoto(ctx);

      // Act
      const err = await rejection(probes(m, sink, victims, 8).otherPrefix());

      // Assess
      expect(err).toBeInstanceOf(UploadError);
      expect((err as Error).message).toContain(`s3://${BUCKET}/other/`);
      expectAccessDenied((err as Error).cause);
    });

    it('a batch to another existing bucket fails with UploadError caused by AccessDenied', async (ctx) => {
      // Prepare
      const m = needMoto(ctx);

      // Act
      const err = await rejection(probes(m, sink, victims, 8).otherBucket());

      // Assess: refused at its first call, the checkpoint read.
      expect(err).toBeInstanceOf(UploadError);
      expect((err as Error).message).toContain(`s3://${OTHER_BUCKET}/${STATE_PREFIX}orders/6.json`);
      expectAccessDenied((err as Error).cause);
    });

    it('GetObject of a data object is denied (the sink reads only its checkpoints)', async (ctx) => {
      // Prepare
      const m = needMoto(ctx);

      // Act
      const err = await rejection(probes(m, sink, victims, 8).getDataObject());

      // Assess
      expectAccessDenied(err);
    });

    it('PutObject outside the data, dead-letter and state prefixes is denied', async (ctx) => {
      // Prepare
      const m = needMoto(ctx);
      const p = probes(m, sink, victims, 8);

      // Act
      const errors = [await rejection(p.putOutsidePrefixes()), await rejection(p.putAtBucketRoot())];

      // Assess
      for (const err of errors) expectAccessDenied(err);
    });

    it('DeleteObject under the state prefix and outside the data and dead-letter prefixes is denied, and the objects stay', async (ctx) => {
      // Prepare
      const m = needMoto(ctx);
      const p = probes(m, sink, victims, 8);

      // Act
      const errors = [await rejection(p.deleteUnderStatePrefix()), await rejection(p.deleteOutsidePrefixes())];

      // Assess
      for (const err of errors) expectAccessDenied(err);
      expect(await victimsLeft()).toEqual({ data: true, state: true, outside: true });
    });

    it('a tampered checkpoint whose expired claim lists keys outside the delete grant cannot make the sink delete them', async (ctx) => {
      // Prepare
      const m = needMoto(ctx);

      // Act
      const run = await callsOf(() => probes(m, sink, victims, 8).tamperedClaim());

      // Assess: the takeover's deletes are refused key by key, the batch fails, nothing is removed.
      expect(run.error).toBeInstanceOf(UploadError);
      expect((run.error as Error).message).toMatch(/expired claim failed: 2 keys not deleted \(AccessDenied/);
      expect(run.calls.filter((c) => c.command === 'DeleteObjectCommand')).toEqual([
        { command: 'DeleteObjectCommand', key: victims.state, outcome: 'AccessDenied' },
        { command: 'DeleteObjectCommand', key: victims.outside, outcome: 'AccessDenied' },
      ]);
      expect(await victimsLeft()).toEqual({ data: true, state: true, outside: true });
    });

    it('ListObjectsV2 on the bucket is denied (listing is not granted)', async (ctx) => {
      // Prepare
      const m = needMoto(ctx);

      // Act
      const err = await rejection(probes(m, sink, victims, 8).listObjects());

      // Assess
      expectAccessDenied(err);
    });

    it('control: the same calls succeed for a user with s3:* added, so the denials come from the template\'s policy', async (ctx) => {
      // Prepare
      const m = needMoto(ctx);
      const p = probes(m, wide, victims, 9);

      // Act
      const outcomes = {
        otherPrefix: await p.otherPrefix().then((r) => r.keys),
        otherBucket: await p.otherBucket().then((r) => r.keys),
        getDataObject: await p.getDataObject().then((r) => r.Body!.transformToString()),
        putOutsidePrefixes: await p.putOutsidePrefixes().then(() => true),
        putAtBucketRoot: await p.putAtBucketRoot().then(() => true),
        listObjects: await p.listObjects().then((r) => (r.Contents ?? []).length > 0),
        // Last: these remove the victims.
        deleteUnderStatePrefix: await p.deleteUnderStatePrefix().then(() => true),
        deleteOutsidePrefixes: await p.deleteOutsidePrefixes().then(() => true),
        tamperedClaim: await p.tamperedClaim().then((r) => r.written),
      };

      // Assess
      expect(outcomes.otherPrefix[0].startsWith('other/')).toBe(true);
      expect(outcomes.otherBucket[0].startsWith(DATA_PREFIX)).toBe(true);
      expect(outcomes).toMatchObject({
        getDataObject: '{"keep":true}\n', putOutsidePrefixes: true, putAtBucketRoot: true, listObjects: true,
        deleteUnderStatePrefix: true, deleteOutsidePrefixes: true, tamperedClaim: 2,
      });
      expect(await victimsLeft()).toMatchObject({ state: false, outside: false });
      await adminRead(outcomes.otherBucket[0], OTHER_BUCKET);
    });
  });
});
