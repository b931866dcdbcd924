/**
 * S3 access keys from a Secrets Manager secret (lambdas/shared/credentials.ts): the secret's shape, one read for
 * concurrent first requests, the maximum age, and rotation through a real S3Client whose HTTP handler plays an S3
 * server that accepts some access keys: a request refused after a rotation is sent again with the new keys.
 */
import { Readable } from 'node:stream';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { describe, expect, it } from 'vitest';
import { loadSinkConfig } from '../../../lambdas/shared/config.ts';
import { ConfigError } from '../../../lambdas/shared/errors.ts';
import {
  CredentialsSecretError,
  isRefusedKeyError,
  parseCredentialsSecret,
  SecretCredentials,
  type AccessKeys,
  type SecretReadEvent,
} from '../../../lambdas/shared/credentials.ts';

const ARN = 'arn:aws:secretsmanager:eu-west-1:444455556666:secret:partner/s3-keys-AbCdEf';
const KEY_1 = { accessKeyId: 'AKIAFIRSTKEY00000001', secretAccessKey: 'first-secret-0000000000000000000000000001' };
const KEY_2 = { accessKeyId: 'AKIASECONDKEY0000002', secretAccessKey: 'second-secret-000000000000000000000000002' };
const secretOf = (k: AccessKeys) => JSON.stringify(k);

/** A secret whose value the test changes; counts the reads and can hold them until released. */
class FakeSecret {
  value: string | undefined;
  reads = 0;
  failWith?: Error;
  #gate?: Promise<void>;
  #open?: () => void;
  constructor(value: string | undefined) {
    this.value = value;
  }
  hold(): void {
    this.#gate = new Promise((resolve) => { this.#open = resolve; });
  }
  release(): void {
    this.#open?.();
    this.#gate = undefined;
  }
  readonly client = {
    send: async (command: GetSecretValueCommand) => {
      this.reads++;
      expect(command.input.SecretId).toBe(ARN);
      await this.#gate;
      if (this.failWith) throw this.failWith;
      return { SecretString: this.value };
    },
  };
}

function credentialsFor(secret: FakeSecret, opts: { now?: () => number; maxAgeSeconds?: number } = {}) {
  const events: SecretReadEvent[] = [];
  const creds = new SecretCredentials({ secretArn: ARN, client: secret.client, onRead: (e) => events.push(e), ...opts });
  return { creds, events };
}

/** Every message a read failure produced must name the secret and must not hold a key or the secret's text. */
function expectNoSecretIn(text: string): void {
  for (const k of [KEY_1, KEY_2]) {
    expect(text).not.toContain(k.accessKeyId);
    expect(text).not.toContain(k.secretAccessKey);
  }
}

describe('sink settings: S3_CREDENTIALS_SECRET_ARN', () => {
  const problemsOf = (env: Record<string, string>): readonly string[] => {
    try {
      loadSinkConfig({ BUCKET_NAME: 'partner-lake', ...env });
    } catch (err) {
      if (err instanceof ConfigError) return err.problems;
      throw err;
    }
    return [];
  };

  it('a complete ARN, with the default maximum age of 300 s and an endpoint override', () => {
    // Act
    const cfg = loadSinkConfig({ BUCKET_NAME: 'partner-lake', S3_CREDENTIALS_SECRET_ARN: ARN, SECRETS_MANAGER_ENDPOINT: 'http://127.0.0.1:4566' });

    // Assess
    expect(cfg.s3CredentialsSecret).toEqual({ arn: ARN, maxAgeSeconds: 300, endpoint: 'http://127.0.0.1:4566' });
    expect(loadSinkConfig({ BUCKET_NAME: 'partner-lake' }).s3CredentialsSecret).toBeUndefined();
  });

  it.each([
    ['a partial ARN', { S3_CREDENTIALS_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-1:444455556666:secret:partner/s3-keys' }, /^S3_CREDENTIALS_SECRET_ARN='.*': must be the complete ARN of a Secrets Manager secret/],
    ['a role as well', { S3_CREDENTIALS_SECRET_ARN: ARN, CROSS_ACCOUNT_ROLE_ARN: 'arn:aws:iam::444455556666:role/writer' }, /^S3_CREDENTIALS_SECRET_ARN: set CROSS_ACCOUNT_ROLE_ARN or S3_CREDENTIALS_SECRET_ARN, not both$/],
    ['a maximum age above the SDK\'s 5-minute window', { S3_CREDENTIALS_SECRET_ARN: ARN, S3_CREDENTIALS_MAX_AGE_SECONDS: '900' }, /^S3_CREDENTIALS_MAX_AGE_SECONDS='900'/],
    ['a maximum age without the secret', { S3_CREDENTIALS_MAX_AGE_SECONDS: '60' }, /^S3_CREDENTIALS_MAX_AGE_SECONDS: only used with S3_CREDENTIALS_SECRET_ARN, which is unset$/],
  ])('refuses %s', (_, env, problem) => {
    // Act
    const problems = problemsOf(env);

    // Assess
    expect(problems).toEqual([expect.stringMatching(problem)]);
  });
});

describe('parseCredentialsSecret', () => {
  it('reads the SDK names and the Aiven connector names', () => {
    // Act
    const sdk = parseCredentialsSecret(ARN, secretOf(KEY_1));
    const aiven = parseCredentialsSecret(ARN, JSON.stringify({ 'aws.access.key.id': KEY_2.accessKeyId, 'aws.secret.access.key': KEY_2.secretAccessKey, note: 'other fields are ignored' }));

    // Assess
    expect(sdk).toEqual(KEY_1);
    expect(aiven).toEqual(KEY_2);
  });

  it.each([
    ['a missing secret key', JSON.stringify({ accessKeyId: KEY_1.accessKeyId }), /secretAccessKey or aws\.secret\.access\.key is missing/],
    ['both fields missing', JSON.stringify({ user: 'x' }), /accessKeyId or aws\.access\.key\.id is missing, secretAccessKey or aws\.secret\.access\.key is missing/],
    ['a field under both names', JSON.stringify({ ...KEY_1, 'aws.access.key.id': KEY_2.accessKeyId }), /both accessKeyId and aws\.access\.key\.id are given/],
    ['an empty value', JSON.stringify({ ...KEY_1, secretAccessKey: '' }), /secretAccessKey is not a non-empty string/],
    ['a number', JSON.stringify({ ...KEY_1, accessKeyId: 42 }), /accessKeyId is not a non-empty string/],
    ['a pasted newline', JSON.stringify({ ...KEY_1, secretAccessKey: `${KEY_1.secretAccessKey}\n` }), /secretAccessKey contains whitespace/],
    ['text that is not JSON', `accessKeyId=${KEY_1.accessKeyId} secretAccessKey=${KEY_1.secretAccessKey}`, /the SecretString is not JSON/],
    ['a JSON array', JSON.stringify([KEY_1.accessKeyId, KEY_1.secretAccessKey]), /the SecretString is not a JSON object/],
    ['a binary secret', undefined, /has no SecretString/],
  ])('%s: names the secret and the field, never a value', (_, text, problem) => {
    // Act
    let error: unknown;
    try {
      parseCredentialsSecret(ARN, text);
    } catch (err) {
      error = err;
    }

    // Assess
    expect(error).toBeInstanceOf(CredentialsSecretError);
    const message = (error as Error).message;
    expect(message).toMatch(problem);
    expect(message).toContain(`S3 credentials secret ${ARN}:`);
    expectNoSecretIn(message);
  });
});

describe('SecretCredentials provider', () => {
  it('reads the secret once for concurrent first requests', async () => {
    // Prepare
    const secret = new FakeSecret(secretOf(KEY_1));
    const { creds, events } = credentialsFor(secret);
    secret.hold();

    // Act
    const calls = Array.from({ length: 8 }, () => creds.provider());
    secret.release();
    const keys = await Promise.all(calls);

    // Assess
    expect(secret.reads).toBe(1);
    expect(keys.map((k) => k.accessKeyId)).toEqual(Array(8).fill(KEY_1.accessKeyId));
    expect(events).toEqual([{ reason: 'first-use', outcome: 'loaded' }]);
  });

  it('keeps the keys for the maximum age, then reads the secret again (a rotation with an overlap window)', async () => {
    // Prepare
    let now = 1_000_000;
    const secret = new FakeSecret(secretOf(KEY_1));
    const { creds, events } = credentialsFor(secret, { now: () => now, maxAgeSeconds: 300 });
    const first = await creds.provider();
    secret.value = secretOf(KEY_2);

    // Act
    now += 299_999;
    const beforeMaxAge = await creds.provider();
    now += 1;
    const atMaxAge = await creds.provider();

    // Assess
    expect(beforeMaxAge.accessKeyId).toBe(KEY_1.accessKeyId);
    expect(atMaxAge).toMatchObject(KEY_2);
    expect(secret.reads).toBe(2);
    expect(events.map((e) => `${e.reason}:${e.outcome}`)).toEqual(['first-use:loaded', 'max-age:changed']);
    // The expiration the SDK sees is when the secret is read again: within its 5-minute window, so it asks each time.
    expect(first.expiration?.getTime()).toBe(1_000_000 + 300_000);
    expect(atMaxAge.expiration?.getTime()).toBe(now + 300_000);
  });

  it('keeps using its keys when the secret cannot be read at the maximum age, and tries again 30 s later', async () => {
    // Prepare
    let now = 0;
    const secret = new FakeSecret(secretOf(KEY_1));
    const { creds, events } = credentialsFor(secret, { now: () => now, maxAgeSeconds: 60 });
    await creds.provider();
    secret.failWith = Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });

    // Act
    now = 60_000;
    const during = await creds.provider();
    now = 60_000 + 29_999;
    await creds.provider();
    const readsWithinRetryWait = secret.reads;
    secret.failWith = undefined;
    secret.value = secretOf(KEY_2);
    now = 90_000;
    const after = await creds.provider();

    // Assess
    expect(during.accessKeyId).toBe(KEY_1.accessKeyId);
    expect(readsWithinRetryWait).toBe(2);
    expect(after.accessKeyId).toBe(KEY_2.accessKeyId);
    expect(events.map((e) => `${e.reason}:${e.outcome}`)).toEqual(['first-use:loaded', 'max-age:failed', 'max-age:changed']);
    expect(events[1].error?.message).toBe(`S3 credentials secret ${ARN}: cannot be read (ThrottlingException: Rate exceeded)`);
  });

  it('fails the first request with an error naming the secret and the missing field when the secret is malformed', async () => {
    // Prepare
    const secret = new FakeSecret(JSON.stringify({ 'aws.access.key.id': KEY_1.accessKeyId, secret: KEY_1.secretAccessKey }));
    const { creds } = credentialsFor(secret);

    // Act
    const failure = creds.provider();

    // Assess
    await expect(failure).rejects.toThrow(`S3 credentials secret ${ARN}: secretAccessKey or aws.secret.access.key is missing`);
    await expect(creds.provider()).rejects.toBeInstanceOf(CredentialsSecretError);
    expect(secret.reads).toBe(2);
  });

  it('after a refusal: other keys count as changed, the same keys do not, and keys read since the request are not read again', async () => {
    // Prepare
    const secret = new FakeSecret(secretOf(KEY_1));
    const { creds } = credentialsFor(secret);
    await creds.provider();

    // Act
    const unchanged = await creds.keysChangedSince(KEY_1);
    secret.value = secretOf({ accessKeyId: KEY_1.accessKeyId, secretAccessKey: KEY_2.secretAccessKey });
    const newSecretKey = await creds.keysChangedSince(KEY_1);
    const readsBefore = secret.reads;
    const signedWithOlderKeys = await creds.keysChangedSince(KEY_1);

    // Assess
    expect(unchanged).toBe(false);
    expect(newSecretKey).toBe(true);
    expect(signedWithOlderKeys).toBe(true);
    expect(secret.reads).toBe(readsBefore);
  });

  it('counts InvalidAccessKeyId, SignatureDoesNotMatch, AccessDenied and any 403 as refused keys, not throttling or 5xx', () => {
    // Prepare
    const err = (name: string, status: number) => Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status } });

    // Act
    const refused = [err('InvalidAccessKeyId', 403), err('SignatureDoesNotMatch', 403), err('AccessDenied', 403), err('Forbidden', 403)].map(isRefusedKeyError);
    const others = [err('SlowDown', 503), err('InternalError', 500), err('NoSuchBucket', 404), new Error('socket hang up')].map(isRefusedKeyError);

    // Assess
    expect(refused).toEqual([true, true, true, true]);
    expect(others).toEqual([false, false, false, false]);
  });
});

/** An S3 server in the client's HTTP handler: it accepts the access key IDs in `valid` and refuses the others. */
function fakeS3Server(valid: Set<string>) {
  const signedWith: string[] = [];
  const handle = async (request: { headers: Record<string, string> }) => {
    const keyId = /Credential=([^/]+)\//.exec(request.headers.authorization ?? '')?.[1] ?? '';
    signedWith.push(keyId);
    const ok = valid.has(keyId);
    const body = ok ? '' : '<?xml version="1.0" encoding="UTF-8"?><Error><Code>InvalidAccessKeyId</Code><Message>The AWS Access Key Id you provided does not exist in our records.</Message></Error>';
    return {
      response: {
        statusCode: ok ? 200 : 403,
        headers: ok ? { etag: '"abc"' } : { 'content-type': 'application/xml' },
        body: Readable.from([Buffer.from(body)]),
      },
    };
  };
  return { requestHandler: { handle }, signedWith };
}

describe('SecretCredentials with an S3 client (rotation)', () => {
  const setup = (valid: Set<string>, secret: FakeSecret) => {
    const server = fakeS3Server(valid);
    const { creds, events } = credentialsFor(secret);
    const s3 = new S3Client({ region: 'eu-west-1', credentials: creds.provider, requestHandler: server.requestHandler, maxAttempts: 1 });
    creds.retryRefusedRequests(s3);
    const put = (key: string) => s3.send(new PutObjectCommand({ Bucket: 'partner-lake', Key: key, Body: Buffer.from('x') }));
    return { server, events, put };
  };

  it('the first key is refused after a rotation: the secret is read again and the request succeeds with the new key', async () => {
    // Prepare
    const valid = new Set([KEY_1.accessKeyId]);
    const secret = new FakeSecret(secretOf(KEY_1));
    const { server, events, put } = setup(valid, secret);
    await put('topics/before.jsonl');
    // The rotation: the secret holds the new key, and the old one no longer works.
    secret.value = secretOf(KEY_2);
    valid.add(KEY_2.accessKeyId);
    valid.delete(KEY_1.accessKeyId);

    // Act
    await put('topics/after.jsonl');
    await put('topics/next.jsonl');

    // Assess
    expect(server.signedWith).toEqual([KEY_1.accessKeyId, KEY_1.accessKeyId, KEY_2.accessKeyId, KEY_2.accessKeyId]);
    expect(secret.reads).toBe(2);
    expect(events.map((e) => `${e.reason}:${e.outcome}`)).toEqual(['first-use:loaded', 'refused:changed']);
  });

  it('keys refused while the secret still holds them: one read, then the refusal stands (no loop)', async () => {
    // Prepare
    const secret = new FakeSecret(secretOf(KEY_1));
    const { server, events, put } = setup(new Set(), secret);

    // Act
    const failure = put('topics/a.jsonl');

    // Assess
    await expect(failure).rejects.toMatchObject({ name: 'InvalidAccessKeyId' });
    expect(server.signedWith).toEqual([KEY_1.accessKeyId]);
    expect(secret.reads).toBe(2);
    expect(events.map((e) => `${e.reason}:${e.outcome}`)).toEqual(['first-use:loaded', 'refused:unchanged']);
  });

  it('concurrent requests refused after a rotation share one read of the secret', async () => {
    // Prepare
    const valid = new Set([KEY_1.accessKeyId]);
    const secret = new FakeSecret(secretOf(KEY_1));
    const { server, put } = setup(valid, secret);
    await put('topics/first.jsonl');
    secret.value = secretOf(KEY_2);
    valid.clear();
    valid.add(KEY_2.accessKeyId);

    // Act
    await Promise.all(Array.from({ length: 4 }, (_, i) => put(`topics/${i}.jsonl`)));

    // Assess
    expect(secret.reads).toBe(2);
    expect(server.signedWith.filter((k) => k === KEY_2.accessKeyId)).toHaveLength(4);
  });

  it('a secret that cannot be read after a refusal fails the request with both reasons, and no key', async () => {
    // Prepare
    const valid = new Set([KEY_1.accessKeyId]);
    const secret = new FakeSecret(secretOf(KEY_1));
    const { put } = setup(valid, secret);
    await put('topics/first.jsonl');
    valid.clear();
    secret.value = JSON.stringify({ accessKeyId: KEY_2.accessKeyId });

    // Act
    let error: unknown;
    try {
      await put('topics/a.jsonl');
    } catch (err) {
      error = err;
    }

    // Assess
    expect(error).toBeInstanceOf(CredentialsSecretError);
    expect((error as Error).message).toMatch(/secretAccessKey or aws\.secret\.access\.key is missing.* \(read again because S3 refused the keys: InvalidAccessKeyId\)$/);
    expectNoSecretIn((error as Error).message);
  });
});
