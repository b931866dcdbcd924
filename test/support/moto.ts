/**
 * moto server with IAM enforcement, for tests that prove a policy by running code under it.
 *
 * How enforcement is switched on: moto counts "actions" (every AWS API request that reaches a service backend;
 * /moto-api/ requests are not actions). While the count is below INITIAL_NO_AUTH_ACTION_COUNT a request is allowed
 * without any signature or policy check and the count goes up by one; from then on every request must be SigV4-signed
 * with an access key of an IAM user (or an assumed role) of moto and is allowed only when that principal's policies
 * allow the action on the resource (moto/core/authorization.py, moto/iam/access_control.py). moto has no root or
 * built-in admin credentials, so startMoto() spends the unauthenticated actions on exactly one thing — creating an
 * admin user (CreateUser, PutUserPolicy with Allow * on *, CreateAccessKey: 3 actions) — and returns its key. Every
 * later request, the admin's included, is authenticated and authorized. startMoto() checks that the window is closed
 * before it returns.
 */
import { createHash, createHmac } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { access } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { delay, freePort, ServerProcess } from './server-process.ts';
import { infraPaths } from './versitygw.ts';

/** The unauthenticated actions startMoto() performs: CreateUser, PutUserPolicy and CreateAccessKey of the admin. */
export const MOTO_BOOTSTRAP_ACTIONS = 3;
/** moto's default account. */
export const MOTO_ACCOUNT_ID = '123456789012';

const REGION = 'us-east-1';
const STARTUP_TIMEOUT_MS = 30_000;
const ADMIN_USER = 'moto-admin';

export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
}

export interface MotoServer {
  endpoint: string;
  region: string;
  /** An IAM user allowed every action: for setup and for reading back, under enforcement. */
  admin: AwsCredentials;
  stop(): Promise<void>;
}

export function isCi(): boolean {
  const ci = process.env.CI;
  return ci !== undefined && ci !== '' && ci !== '0' && ci.toLowerCase() !== 'false';
}

/**
 * Starts moto_server from the project's Python venv on a free 127.0.0.1 port with IAM enforcement, creates the admin
 * user with the only unauthenticated actions allowed, and checks that enforcement is on.
 */
export async function startMoto(): Promise<MotoServer> {
  const { pyVenvPython } = await infraPaths();
  const motoBin = join(dirname(pyVenvPython), 'moto_server');
  try {
    await access(motoBin, fsConstants.X_OK);
  } catch {
    throw new Error(`moto_server is not installed at ${motoBin}; install it with: bash scripts/infra/install-python.sh`);
  }

  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  for (let attemptsLeft = 4; ; attemptsLeft--) {
    const port = await freePort();
    const endpoint = `http://127.0.0.1:${port}`;
    const args = ['-H', '127.0.0.1', '-p', String(port)];
    const proc = new ServerProcess(motoBin, args, { ...process.env, PYTHONUNBUFFERED: '1', INITIAL_NO_AUTH_ACTION_COUNT: String(MOTO_BOOTSTRAP_ACTIONS) });
    const outcome = await waitUntilReady(proc, endpoint, deadline);
    if (outcome === 'ready') {
      try {
        const admin = await bootstrapAdmin(endpoint);
        await checkEnforced(endpoint, admin);
        return {
          endpoint,
          region: REGION,
          admin,
          stop: () => proc.kill(),
        };
      } catch (err) {
        await proc.kill();
        const reason = err instanceof Error ? err.message : String(err);
        throw new Error(`moto_server started but IAM enforcement could not be set up: ${reason}\nstderr:\n${proc.stderrTail().trim() || '(empty)'}`, { cause: err });
      }
    }
    await proc.kill();
    const stderr = proc.stderrTail().trim();
    // A port found free can be taken by someone else before moto binds it.
    if (outcome === 'exited' && /address already in use/i.test(stderr) && attemptsLeft > 0) continue;
    const how = outcome === 'exited' ? `exited early (${proc.exitDescription()})` : `was not ready within ${STARTUP_TIMEOUT_MS} ms`;
    throw new Error(`moto_server ${how}: ${motoBin} ${args.join(' ')}\nstderr:\n${stderr || '(empty)'}`);
  }
}

/**
 * startMoto(), or — outside CI — the reason it could not start (printed as a warning), so the tests can skip.
 * In CI (CI set) a failure to start throws: the enforcement tests must not silently disappear.
 */
export async function startMotoOrSkipReason(): Promise<MotoServer | string> {
  try {
    return await startMoto();
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    if (isCi()) throw new Error(`moto server (IAM enforcement tests) could not start: ${reason}`, { cause: err });
    const bar = '='.repeat(78);
    console.warn(`\n${bar}\nWARNING: IAM enforcement tests will be SKIPPED: moto could not start.\n${reason}\n(In CI, with CI set, this fails the run.)\n${bar}\n`);
    return reason;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// IAM (query API), signed with SigV4. The project has no IAM SDK client; the protocol is four form fields.

export class MotoIamError extends Error {
  readonly code: string;
  readonly status: number;
  constructor(action: string, status: number, code: string, body: string) {
    super(`IAM ${action} failed (${status} ${code}): ${body.slice(0, 500)}`);
    this.name = 'MotoIamError';
    this.code = code;
    this.status = status;
  }
}

/** Calls one IAM action and returns the response XML; throws MotoIamError on an error response. */
export async function iamCall(endpoint: string, creds: AwsCredentials, action: string, params: Record<string, string> = {}): Promise<string> {
  const body = Object.entries({ Action: action, Version: '2010-05-08', ...params })
    .map(([k, v]) => `${formEncode(k)}=${formEncode(v)}`)
    .join('&');
  const url = new URL(endpoint);
  const headers = signV4({
    method: 'POST',
    host: url.host,
    path: '/',
    body,
    contentType: 'application/x-www-form-urlencoded; charset=utf-8',
    service: 'iam',
    region: REGION,
    creds,
  });
  const res = await fetch(new URL('/', endpoint), { method: 'POST', headers, body });
  const text = await res.text();
  if (!res.ok) throw new MotoIamError(action, res.status, /<Code>([^<]+)<\/Code>/.exec(text)?.[1] ?? 'Unknown', text);
  return text;
}

/**
 * Form encoding as Python's urllib.parse.quote_plus does it. moto checks the signature over the body it re-encodes
 * from the parsed form (botocore's urlencode), so the bytes signed here must match that encoding exactly.
 */
function formEncode(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`).replace(/%20/g, '+');
}

/** Creates an IAM user with one inline policy and an access key; returns the key. */
export async function createUserWithPolicy(endpoint: string, admin: AwsCredentials, userName: string, policy: unknown): Promise<AwsCredentials> {
  await iamCall(endpoint, admin, 'CreateUser', { UserName: userName });
  await iamCall(endpoint, admin, 'PutUserPolicy', { UserName: userName, PolicyName: `${userName}-policy`, PolicyDocument: JSON.stringify(policy) });
  return parseAccessKey(await iamCall(endpoint, admin, 'CreateAccessKey', { UserName: userName }));
}

function parseAccessKey(xml: string): AwsCredentials {
  const accessKeyId = /<AccessKeyId>([^<]+)<\/AccessKeyId>/.exec(xml)?.[1];
  const secretAccessKey = /<SecretAccessKey>([^<]+)<\/SecretAccessKey>/.exec(xml)?.[1];
  if (!accessKeyId || !secretAccessKey) throw new Error(`CreateAccessKey returned no key: ${xml.slice(0, 500)}`);
  return { accessKeyId, secretAccessKey };
}

/** The MOTO_BOOTSTRAP_ACTIONS unauthenticated actions: moto checks neither signature nor key while the window is open. */
async function bootstrapAdmin(endpoint: string): Promise<AwsCredentials> {
  const anyone: AwsCredentials = { accessKeyId: 'AKIABOOTSTRAPNOCHECK', secretAccessKey: 'not-checked' };
  const allowAll = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] };
  const admin = await createUserWithPolicy(endpoint, anyone, ADMIN_USER, allowAll); // 3 actions
  return admin;
}

/** The window is closed (an unknown key is refused) and the admin key works under enforcement. */
async function checkEnforced(endpoint: string, admin: AwsCredentials): Promise<void> {
  const unknown: AwsCredentials = { accessKeyId: 'AKIAUNKNOWNKEY000000', secretAccessKey: 'nope' };
  try {
    await iamCall(endpoint, unknown, 'GetUser', { UserName: ADMIN_USER });
  } catch (err) {
    if (err instanceof MotoIamError && err.code === 'InvalidClientTokenId') {
      await iamCall(endpoint, admin, 'GetUser', { UserName: ADMIN_USER });
      return;
    }
    throw err;
  }
  throw new Error(`IAM enforcement is off: a request with an unknown access key was allowed after ${MOTO_BOOTSTRAP_ACTIONS} actions`);
}

interface SignInput {
  method: string;
  host: string;
  path: string;
  body: string;
  contentType: string;
  service: string;
  region: string;
  creds: AwsCredentials;
}

/** AWS Signature Version 4 headers for a request without a query string. */
function signV4(r: SignInput): Record<string, string> {
  const amzDate = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, ''); // yyyyMMddTHHmmssZ
  const day = amzDate.slice(0, 8);
  const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');
  const hmac = (key: string | Buffer, s: string) => createHmac('sha256', key).update(s, 'utf8').digest();
  const headers: Record<string, string> = { 'content-type': r.contentType, host: r.host, 'x-amz-date': amzDate };
  const names = Object.keys(headers).sort();
  const canonicalRequest = [
    r.method,
    r.path,
    '',
    ...names.map((n) => `${n}:${headers[n].trim()}`),
    '',
    names.join(';'),
    sha256(r.body),
  ].join('\n');
  const scope = `${day}/${r.region}/${r.service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256(canonicalRequest)].join('\n');
  const kDate = hmac(`AWS4${r.creds.secretAccessKey}`, day);
  const kSigning = hmac(hmac(hmac(kDate, r.region), r.service), 'aws4_request');
  const signature = createHmac('sha256', kSigning).update(stringToSign, 'utf8').digest('hex');
  return {
    'Content-Type': r.contentType,
    'X-Amz-Date': amzDate,
    Authorization: `AWS4-HMAC-SHA256 Credential=${r.creds.accessKeyId}/${scope}, SignedHeaders=${names.join(';')}, Signature=${signature}`,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Process handling

async function waitUntilReady(proc: ServerProcess, endpoint: string, deadline: number): Promise<'ready' | 'exited' | 'timeout'> {
  // /moto-api/ is moto's own dashboard: it is not an AWS action, so polling it spends none of the unauthenticated ones.
  const probeUrl = new URL('/moto-api/', endpoint);
  while (Date.now() < deadline) {
    if (proc.exited) return 'exited';
    const ok = await fetch(probeUrl, { signal: AbortSignal.timeout(2_000) }).then(
      async (res) => {
        await res.arrayBuffer();
        return res.ok;
      },
      () => false,
    );
    if (ok) return 'ready';
    await Promise.race([delay(100), proc.exitPromise]);
  }
  return proc.exited ? 'exited' : 'timeout';
}

