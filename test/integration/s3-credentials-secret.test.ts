/**
 * Access keys from a Secrets Manager secret (s3CredentialsSecretArn), against moto with IAM enforcement: the sink's
 * own identity holds only the statements the stack gives its role (GetSecretValue on that one secret), the keys in
 * the secret belong to an IAM user holding the stack's S3CredentialsWriterPolicy output, and one handler (no cold
 * start) keeps writing while the secret is rotated:
 * - a rotation that withdraws the old key at once: S3 refuses the old key (InvalidAccessKeyId), the sink reads the
 *   secret again and sends the request once more with the new key;
 * - a rotation with an overlap window (both keys valid for a while): once its keys are S3_CREDENTIALS_MAX_AGE_SECONDS
 *   old the sink reads the secret again, so withdrawing the old key later refuses nothing.
 *
 * moto authorizes Secrets Manager actions against the resource "*" only; moto-secret-arns/sitecustomize.py, put on
 * moto's PYTHONPATH, makes it authorize them against the named secret's ARN, as AWS does (the test checks that
 * another secret is refused). moto's Secrets Manager answers a refusal as XML, which the SDK cannot parse as the
 * JSON protocol's error: such a refusal is seen here by its HTTP status, 403.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateSecretCommand, GetSecretValueCommand, PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { Logger } from '@aws-lambda-powertools/logger';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createSinkHandler } from '../../lambdas/sink/app.ts';
import { kafkaEvent } from '../support/events.ts';
import { createUserWithPolicy, iamCall, startMotoOrSkipReason, type AwsCredentials, type MotoServer } from '../support/moto.ts';
import { synth } from '../lib/synth.ts';

const BUCKET = 'partner-lake';
const WRITER = 'partner-writer';
const context = { functionName: 'sink', awsRequestId: 'req-secret' } as never;

interface Statement {
  Sid?: string;
  Effect: string;
  Action: string | string[];
  Resource: unknown;
}

vi.stubEnv('PYTHONPATH', new URL('./moto-secret-arns', import.meta.url).pathname);
const started = await startMotoOrSkipReason();
vi.unstubAllEnvs();
const moto = typeof started === 'string' ? undefined : started;

const s3For = (m: MotoServer, credentials: AwsCredentials) => new S3Client({
  endpoint: m.endpoint, region: m.region, forcePathStyle: true, credentials, maxAttempts: 1, requestHandler: new NodeHttpHandler(),
});
const secretsFor = (m: MotoServer, credentials: AwsCredentials) => new SecretsManagerClient({ endpoint: m.endpoint, region: m.region, credentials, maxAttempts: 1 });

/** The HTTP status of a failed call (moto's Secrets Manager refusals do not parse as errors of the JSON protocol). */
const statusOf = (p: Promise<unknown>) => p.then(() => 200, (err: { $metadata?: { httpStatusCode?: number } }) => err.$metadata?.httpStatusCode);

async function createAccessKey(m: MotoServer, userName: string): Promise<AwsCredentials> {
  const xml = await iamCall(m.endpoint, m.admin, 'CreateAccessKey', { UserName: userName });
  return { accessKeyId: /<AccessKeyId>([^<]+)</.exec(xml)![1], secretAccessKey: /<SecretAccessKey>([^<]+)</.exec(xml)![1] };
}

describe.skipIf(!moto)(`S3 access keys from a Secrets Manager secret, rotated under a running sink${typeof started === 'string' ? ` (skipped: ${started})` : ''}`, () => {
  let secretArn: string;
  let otherSecretArn: string;
  let sinkUser: AwsCredentials;
  let firstKey: AwsCredentials;
  let secondKey: AwsCredentials;
  /** The handler's log lines about the secret: "<reason>:<outcome>". */
  const reads: string[] = [];

  const putKeys = (keys: Record<string, string>) => secretsFor(moto!, moto!.admin).send(new PutSecretValueCommand({ SecretId: secretArn, SecretString: JSON.stringify(keys) }));

  /** A handler as Lambda would start it: the function's identity in the default chain, the settings the stack sets. */
  const startHandler = (env: Record<string, string> = {}) => {
    const logger = new Logger({ serviceName: 'secret-test' });
    const seen = (outcomeOf: (message: string) => string) => (message: unknown, extra: unknown) => {
      if (String(message).startsWith('S3 credentials')) reads.push(`${(extra as { reason: string }).reason}:${outcomeOf(String(message))}`);
    };
    vi.spyOn(logger, 'info').mockImplementation(seen((m) => (m.includes('rotated') ? 'changed' : 'loaded')) as never);
    vi.spyOn(logger, 'error').mockImplementation(seen(() => 'failed') as never);
    vi.stubEnv('AWS_ACCESS_KEY_ID', sinkUser.accessKeyId);
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', sinkUser.secretAccessKey);
    vi.stubEnv('AWS_SESSION_TOKEN', '');
    vi.stubEnv('AWS_REGION', moto!.region);
    return createSinkHandler({
      logger,
      env: {
        BUCKET_NAME: BUCKET, S3_ENDPOINT: moto!.endpoint, SECRETS_MANAGER_ENDPOINT: moto!.endpoint, S3_CREDENTIALS_SECRET_ARN: secretArn,
        COMPRESSION: 'none', S3_MAX_ATTEMPTS: '1', ...env,
      },
    });
  };

  const readBack = async (key: string) => {
    const body = await s3For(moto!, moto!.admin).send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
    return JSON.parse(await body.Body!.transformToString()) as { offset: number };
  };

  beforeAll(async () => {
    // Prepare: the secret (its complete ARN comes from Secrets Manager), the stack for it, and what the outputs say.
    const m = moto!;
    const admin = secretsFor(m, m.admin);
    secretArn = (await admin.send(new CreateSecretCommand({ Name: 'partner/s3-keys', SecretString: '{}' }))).ARN!;
    otherSecretArn = (await admin.send(new CreateSecretCommand({ Name: 'partner/other', SecretString: '{"accessKeyId":"AKIAOTHER","secretAccessKey":"x"}' }))).ARN!;
    const s = synth({ bucketName: BUCKET, s3CredentialsSecretArn: secretArn }, { nag: false });
    const roleStatements = Object.values(s.template.findResources('AWS::IAM::Policy'))
      .flatMap((p) => (p as { Properties: { PolicyDocument: { Statement: Statement[] } } }).Properties.PolicyDocument.Statement)
      .filter((st) => [st.Action].flat().some((a) => a.startsWith('secretsmanager:') || a.startsWith('s3:')));
    expect(roleStatements).toEqual([{ Sid: 'ReadS3CredentialsSecret', Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: secretArn }]);
    const writerPolicy = JSON.parse((Object.values(s.template.findOutputs('S3CredentialsWriterPolicy'))[0] as { Value: string }).Value);

    await s3For(m, m.admin).send(new CreateBucketCommand({ Bucket: BUCKET }));
    sinkUser = await createUserWithPolicy(m.endpoint, m.admin, 'sink-function', { Version: '2012-10-17', Statement: roleStatements });
    firstKey = await createUserWithPolicy(m.endpoint, m.admin, WRITER, writerPolicy);
    await putKeys({ accessKeyId: firstKey.accessKeyId, secretAccessKey: firstKey.secretAccessKey });
  });

  afterAll(async () => {
    vi.unstubAllEnvs();
    await moto?.stop();
  });

  it('the sink\'s own identity may read that secret and no other, and cannot write to the bucket', async () => {
    // Act
    const own = await statusOf(secretsFor(moto!, sinkUser).send(new GetSecretValueCommand({ SecretId: secretArn })));
    const other = await statusOf(secretsFor(moto!, sinkUser).send(new GetSecretValueCommand({ SecretId: otherSecretArn })));
    const write = s3For(moto!, sinkUser).send(new PutObjectCommand({ Bucket: BUCKET, Key: 'topics/direct.txt', Body: 'x' }));

    // Assess
    expect(own).toBe(200);
    expect(other).toBe(403);
    await expect(write).rejects.toMatchObject({ name: 'AccessDenied' });
  });

  let handler: ReturnType<typeof startHandler>;

  it('the handler writes with the keys in the secret, read at its first request', async () => {
    // Prepare
    handler = startHandler();

    // Act
    const result = await handler(kafkaEvent([{ offset: 1, value: '{"id":1}' }]), context);

    // Assess
    expect(result.objects).toBe(1);
    expect(await readBack(result.keys[0])).toMatchObject({ offset: 1 });
    expect(reads).toEqual(['first-use:loaded']);
  });

  it('a rotation that withdraws the old key at once: the same handler reads the secret again and writes with the new key', async () => {
    // Prepare: the new key in the secret (here under Aiven's names), then the old key deleted.
    secondKey = await createAccessKey(moto!, WRITER);
    await putKeys({ 'aws.access.key.id': secondKey.accessKeyId, 'aws.secret.access.key': secondKey.secretAccessKey });
    await iamCall(moto!.endpoint, moto!.admin, 'DeleteAccessKey', { UserName: WRITER, AccessKeyId: firstKey.accessKeyId });
    await expect(s3For(moto!, firstKey).send(new PutObjectCommand({ Bucket: BUCKET, Key: 'topics/old-key.txt', Body: 'x' })))
      .rejects.toMatchObject({ name: 'InvalidAccessKeyId' });

    // Act
    const result = await handler(kafkaEvent([{ offset: 2, value: '{"id":2}' }]), context);

    // Assess
    expect(result.objects).toBe(1);
    expect(await readBack(result.keys[0])).toMatchObject({ offset: 2 });
    expect(reads).toEqual(['first-use:loaded', 'refused:changed']);
  });

  it('a rotation with an overlap window: at the maximum age the new key is read, so withdrawing the old one refuses nothing', async () => {
    // Prepare: a sink whose keys are at most a second old (the default is 300 s) that has written with the second key.
    reads.length = 0;
    const quick = startHandler({ S3_CREDENTIALS_MAX_AGE_SECONDS: '1' });
    await quick(kafkaEvent([{ offset: 3, value: '{"id":3}' }]), context);
    const thirdKey = await createAccessKey(moto!, WRITER);
    await putKeys({ accessKeyId: thirdKey.accessKeyId, secretAccessKey: thirdKey.secretAccessKey });

    // Act: both keys are valid while the sink's keys age; then the old key goes.
    await sleep(1_100);
    const during = await quick(kafkaEvent([{ offset: 4, value: '{"id":4}' }]), context);
    await iamCall(moto!.endpoint, moto!.admin, 'DeleteAccessKey', { UserName: WRITER, AccessKeyId: secondKey.accessKeyId });
    const after = await quick(kafkaEvent([{ offset: 5, value: '{"id":5}' }]), context);

    // Assess
    expect(await readBack(during.keys[0])).toMatchObject({ offset: 4 });
    expect(await readBack(after.keys[0])).toMatchObject({ offset: 5 });
    expect(reads).toEqual(['first-use:loaded', 'max-age:changed']);
  });

  it('a malformed secret fails the batch naming the secret and the missing field, and no key', async () => {
    // Prepare
    reads.length = 0;
    await putKeys({ accessKeyId: 'AKIAMALFORMED0000001', secret: 'not-the-field-name-0001' });
    const cold = startHandler();

    // Act
    let error: unknown;
    try {
      await cold(kafkaEvent([{ offset: 6, value: '{"id":6}' }]), context);
    } catch (err) {
      error = err;
    }

    // Assess
    const message = (error as Error).message;
    expect(message).toContain(`S3 credentials secret ${secretArn}: secretAccessKey or aws.secret.access.key is missing`);
    expect(message).not.toContain('AKIAMALFORMED0000001');
    expect(message).not.toContain('not-the-field-name-0001');
    expect(reads[0]).toBe('first-use:failed');
    const listed = await s3For(moto!, moto!.admin).send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'topics/' }));
    expect(listed.Contents?.map((o) => o.Key).filter((k) => k?.includes('+6'))).toEqual([]);
  });
});
