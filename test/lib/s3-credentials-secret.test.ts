/**
 * s3CredentialsSecretArn: the sink signs S3 requests with long-term access keys from a Secrets Manager secret. The
 * template gives the function's role GetSecretValue on exactly that secret (and kms:Decrypt through Secrets Manager
 * for a customer-managed key), no S3 grant of its own, and the S3 statements as an output for the keys' owner;
 * the context checks refuse a partial ARN, a role as well, and a missing bucketName, naming the key.
 */
import { Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../lambdas/shared/errors.ts';
import { nagFindings, synth, type Synth } from './synth.ts';

const SECRET = 'arn:aws:secretsmanager:eu-west-1:444455556666:secret:partner/s3-keys-AbCdEf';
const SECRET_KEY = 'arn:aws:kms:eu-west-1:444455556666:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const BUCKET = 'partner-lake';
const KEYS = { bucketName: BUCKET, s3CredentialsSecretArn: SECRET };

interface Statement {
  Sid?: string;
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: unknown;
}

/** The statements of every policy attached to the sink function's role. */
function roleStatements(s: Synth): Statement[] {
  const [fn] = Object.values(s.template.findResources('AWS::Lambda::Function', { Properties: { Description: Match.stringLikeRegexp('^Kafka to S3 sink') } }));
  const roleId = (fn as { Properties: { Role: { 'Fn::GetAtt': [string, string] } } }).Properties.Role['Fn::GetAtt'][0];
  return Object.values(s.template.findResources('AWS::IAM::Policy'))
    .map((p) => (p as { Properties: { Roles: { Ref: string }[]; PolicyDocument: { Statement: Statement[] } } }).Properties)
    .filter((p) => p.Roles.some((r) => r.Ref === roleId))
    .flatMap((p) => p.PolicyDocument.Statement);
}
const actions = (st: Statement) => [st.Action].flat();

function problemsOf(overrides: Record<string, string>): readonly string[] {
  try {
    synth(overrides, { nag: false });
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error(`synth accepted ${JSON.stringify(overrides)}`);
}

describe('s3CredentialsSecretArn: the template', () => {
  it('the role reads exactly that secret and holds no S3 grant; the sink gets its ARN; the S3 statements are an output', () => {
    // Act
    const s = synth(KEYS);

    // Assess
    const statements = roleStatements(s);
    expect(statements.filter((st) => actions(st).some((a) => a.startsWith('secretsmanager:')))).toEqual([
      { Sid: 'ReadS3CredentialsSecret', Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: SECRET },
    ]);
    expect(statements.flatMap(actions).filter((a) => a.startsWith('s3:') || a.startsWith('sts:') || a.startsWith('kms:'))).toEqual([]);
    s.template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ S3_CREDENTIALS_SECRET_ARN: SECRET, BUCKET_NAME: BUCKET }) },
    });
    const [output] = Object.values(s.template.findOutputs('S3CredentialsWriterPolicy')) as { Value: string; Description: string }[];
    const policy = JSON.parse(output.Value) as { Statement: Statement[] };
    expect(policy.Statement.map((st) => st.Sid)).toEqual(['WriteObjects', 'DeleteTakenOverObjects', 'Checkpoints', 'CheckpointsNotFound', 'ListMultipartUploads']);
    expect(policy.Statement[0].Resource).toEqual([`arn:aws:s3:::${BUCKET}/topics/*`, `arn:aws:s3:::${BUCKET}/dead-letters/*`]);
    expect(output.Description).toContain(SECRET);
    expect(s.template.findOutputs('CrossAccountWriterPolicy')).toEqual({});
    expect(nagFindings(s)).toEqual([]);
  });

  it('with the secret\'s customer-managed key: kms:Decrypt on that key only through Secrets Manager in the secret\'s region, for that secret', () => {
    // Act
    const s = synth({ ...KEYS, s3CredentialsSecretKmsKeyArn: SECRET_KEY });

    // Assess
    expect(roleStatements(s).filter((st) => actions(st).some((a) => a.startsWith('kms:')))).toEqual([{
      Sid: 'DecryptS3CredentialsSecret', Effect: 'Allow', Action: 'kms:Decrypt', Resource: SECRET_KEY,
      Condition: { StringEquals: { 'kms:ViaService': 'secretsmanager.eu-west-1.amazonaws.com', 'kms:EncryptionContext:SecretARN': SECRET } },
    }]);
    expect(nagFindings(s)).toEqual([]);
  });

  it('with SSE-KMS and the bucket owner\'s key: the writer policy holds the key\'s actions, the role does not', () => {
    // Prepare
    const key = 'arn:aws:kms:us-east-1:444455556666:key/abcd1234-12ab-34cd-56ef-1234567890ab';

    // Act
    const s = synth({ ...KEYS, encryption: 'kms', kmsKeyArn: key });

    // Assess
    const [output] = Object.values(s.template.findOutputs('S3CredentialsWriterPolicy')) as { Value: string }[];
    expect((JSON.parse(output.Value) as { Statement: Statement[] }).Statement.at(-1)).toMatchObject({ Sid: 'EncryptObjects', Resource: key });
    expect(roleStatements(s).flatMap(actions).filter((a) => a.startsWith('kms:'))).toEqual([]);
    s.template.hasResourceProperties('AWS::Lambda::Function', { Environment: { Variables: Match.objectLike({ SSE_KMS_KEY_ID: key }) } });
  });

  it('without the key, nothing of it is in the template', () => {
    // Act
    const s = synth({});

    // Assess
    expect(roleStatements(s).flatMap(actions).filter((a) => a.startsWith('secretsmanager:'))).toEqual([]);
    expect(s.template.findOutputs('S3CredentialsWriterPolicy')).toEqual({});
    s.template.hasResourceProperties('AWS::Lambda::Function', { Environment: { Variables: Match.not(Match.objectLike({ S3_CREDENTIALS_SECRET_ARN: Match.anyValue() })) } });
  });
});

describe('s3CredentialsSecretArn: context checks', () => {
  it('a partial ARN (without the 6 characters Secrets Manager appends) fails synth naming the key', () => {
    // Act
    const problems = problemsOf({ ...KEYS, s3CredentialsSecretArn: 'arn:aws:secretsmanager:eu-west-1:444455556666:secret:partner/s3-keys' });

    // Assess
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^s3CredentialsSecretArn='arn:aws:secretsmanager:eu-west-1:444455556666:secret:partner\/s3-keys': must be the complete ARN of a Secrets Manager secret/);
  });

  it.each([
    ['another service\'s ARN', 'arn:aws:iam::444455556666:role/writer'],
    ['a name', 'partner/s3-keys'],
  ])('%s fails synth naming the key', (_, value) => {
    // Act
    const problems = problemsOf({ ...KEYS, s3CredentialsSecretArn: value });

    // Assess
    expect(problems).toEqual([expect.stringMatching(new RegExp(`^s3CredentialsSecretArn='${value.replaceAll('/', '\\/')}': must be`))]);
  });

  it('with crossAccountRoleArn as well: one problem saying to choose', () => {
    // Act
    const problems = problemsOf({ ...KEYS, crossAccountRoleArn: 'arn:aws:iam::444455556666:role/kafka-s3-writer' });

    // Assess
    expect(problems).toEqual(['s3CredentialsSecretArn: set crossAccountRoleArn or s3CredentialsSecretArn, not both']);
  });

  it('without bucketName: the keys write to an existing bucket', () => {
    // Act
    const problems = problemsOf({ s3CredentialsSecretArn: SECRET });

    // Assess
    expect(problems).toEqual(['s3CredentialsSecretArn: needs bucketName (the existing bucket the keys may write to)']);
  });

  it('encryption=kms without kmsKeyArn: a key created here is not the bucket owner\'s', () => {
    // Act
    const problems = problemsOf({ ...KEYS, encryption: 'kms' });

    // Assess
    expect(problems).toEqual([expect.stringMatching(/^encryption='kms': with s3CredentialsSecretArn, name the bucket owner's key in kmsKeyArn/)]);
  });

  it('s3CredentialsSecretKmsKeyArn without the secret', () => {
    // Act
    const problems = problemsOf({ bucketName: BUCKET, s3CredentialsSecretKmsKeyArn: SECRET_KEY });

    // Assess
    expect(problems).toEqual([`s3CredentialsSecretKmsKeyArn='${SECRET_KEY}': only with s3CredentialsSecretArn`]);
  });
});
