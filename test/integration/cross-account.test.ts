/**
 * Cross-account writes: the sink assumes a role in the bucket owner's account through STS and writes with the
 * role's temporary credentials. In moto with IAM enforcement, the sink's own identity holds only sts:AssumeRole
 * (the statement the stack gives it), the role holds the stack's CrossAccountWriterPolicy output, and the writes
 * succeed only through the role.
 */
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createSinkHandler } from '../../lambdas/sink/app.ts';
import { kafkaEvent } from '../support/events.ts';
import { createUserWithPolicy, iamCall, MOTO_ACCOUNT_ID, startMotoOrSkipReason, type AwsCredentials, type MotoServer } from '../support/moto.ts';
import { synth } from '../lib/synth.ts';

const BUCKET = 'partner-lake';
const ROLE_NAME = 'kafka-s3-writer';
const ROLE_ARN = `arn:aws:iam::${MOTO_ACCOUNT_ID}:role/${ROLE_NAME}`;
const context = { functionName: 'sink', awsRequestId: 'req-xacct' } as never;

/** Resolves the few intrinsics an S3 ARN can hold in these templates (partition). */
function plain(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    if (o['Fn::Join']) {
      const [sep, parts] = o['Fn::Join'] as [string, unknown[]];
      return parts.map((p) => plain(p)).join(sep);
    }
    if (o.Ref === 'AWS::Partition') return 'aws';
    return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, plain(x)]));
  }
  return v;
}

const s3For = (moto: MotoServer, credentials: AwsCredentials) => new S3Client({
  endpoint: moto.endpoint, region: moto.region, forcePathStyle: true, credentials, maxAttempts: 1, requestHandler: new NodeHttpHandler(),
});

const started = await startMotoOrSkipReason();
const moto = typeof started === 'string' ? undefined : started;

describe.skipIf(!moto)(`cross-account writes through STS${typeof started === 'string' ? ` (skipped: ${started})` : ''}`, () => {
  let sinkUser: AwsCredentials;

  beforeAll(async () => {
    const m = moto!;
    // Prepare: the stack for a bucket in another account, and what its outputs tell the bucket owner to set up.
    const s = synth({ bucketName: BUCKET, crossAccountRoleArn: ROLE_ARN, externalId: 'ext-42' }, { nag: false });
    const writerPolicy = plain(JSON.parse(JSON.stringify(s.template.findOutputs('CrossAccountWriterPolicy').CrossAccountWriterPolicy.Value)));
    const writerDoc = typeof writerPolicy === 'string' ? JSON.parse(writerPolicy) : writerPolicy;
    const sinkStatements = Object.values(s.template.findResources('AWS::IAM::Policy'))
      .flatMap((p) => (p as { Properties: { PolicyDocument: { Statement: { Sid?: string }[] } } }).Properties.PolicyDocument.Statement)
      .filter((st) => st.Sid === 'AssumeWriterRole');
    expect(sinkStatements).toEqual([{ Sid: 'AssumeWriterRole', Effect: 'Allow', Action: 'sts:AssumeRole', Resource: ROLE_ARN }]);

    await s3For(m, m.admin).send(new CreateBucketCommand({ Bucket: BUCKET }));
    sinkUser = await createUserWithPolicy(m.endpoint, m.admin, 'sink-function', { Version: '2012-10-17', Statement: sinkStatements });
    // The bucket owner trusts the sink's identity, with the external ID (SinkRoleArn output; here the stand-in user).
    const trust = {
      Version: '2012-10-17',
      Statement: [{
        Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${MOTO_ACCOUNT_ID}:user/sink-function` }, Action: 'sts:AssumeRole',
        Condition: { StringEquals: { 'sts:ExternalId': 'ext-42' } },
      }],
    };
    await iamCall(m.endpoint, m.admin, 'CreateRole', { RoleName: ROLE_NAME, AssumeRolePolicyDocument: JSON.stringify(trust) });
    await iamCall(m.endpoint, m.admin, 'PutRolePolicy', { RoleName: ROLE_NAME, PolicyName: 'writer', PolicyDocument: JSON.stringify(writerDoc) });
  });

  afterAll(async () => {
    vi.unstubAllEnvs();
    await moto?.stop();
  });

  it('the sink\'s own identity cannot write to the bucket', async () => {
    await expect(s3For(moto!, sinkUser).send(new PutObjectCommand({ Bucket: BUCKET, Key: 'topics/direct.txt', Body: 'x' })))
      .rejects.toMatchObject({ name: 'AccessDenied' });
  });

  const handlerWith = (externalId: string) => {
    // The function's default credential chain is the sink identity (as the Lambda role would be).
    vi.stubEnv('AWS_ACCESS_KEY_ID', sinkUser.accessKeyId);
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', sinkUser.secretAccessKey);
    vi.stubEnv('AWS_SESSION_TOKEN', '');
    vi.stubEnv('AWS_REGION', moto!.region);
    return createSinkHandler({
      env: {
        BUCKET_NAME: BUCKET, S3_ENDPOINT: moto!.endpoint, STS_ENDPOINT: moto!.endpoint, COMPRESSION: 'none',
        CROSS_ACCOUNT_ROLE_ARN: ROLE_ARN, EXTERNAL_ID: externalId, ROLE_SESSION_NAME: 'kafka-s3-test', S3_MAX_ATTEMPTS: '1',
      },
    });
  };

  it('a wrong external ID is refused by the role\'s trust policy, and the batch fails for a retry', async () => {
    const handler = handlerWith('not-the-id');
    await expect(handler(kafkaEvent([{ offset: 1, value: '{"id":1}' }]), context)).rejects.toThrow(/not authorized to perform: sts:AssumeRole/);
  });

  it('the handler assumes the role and writes under the prefix with its credentials', async () => {
    // Prepare
    const handler = handlerWith('ext-42');

    // Act
    const result = await handler(kafkaEvent([{ offset: 7, key: 'k', value: '{"id":7}' }]), context);

    // Assess
    expect(result.objects).toBe(1);
    const body = await s3For(moto!, moto!.admin).send(new GetObjectCommand({ Bucket: BUCKET, Key: result.keys[0] }));
    expect(JSON.parse(await body.Body!.transformToString())).toMatchObject({ offset: 7, value: { id: 7 } });
  });
});
