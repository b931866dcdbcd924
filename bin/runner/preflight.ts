/**
 * Checks before the run, so that a wrong address, bucket, key or topic fails in seconds with one line naming it
 * (UsageError) instead of after the Kafka client's or the SDK's retries with a stack:
 * - each bootstrap broker gets a TCP connect with a short timeout (refused, unknown host, timeout told apart);
 * - the topics must exist (listed with an admin client of the same brokers);
 * - the bucket must answer HeadBucket (missing bucket, refused credentials, no access told apart).
 */
import { connect } from 'node:net';
import { HeadBucketCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { Admin } from '@platformatic/kafka';
import { UsageError } from './cli.ts';

export interface ProbeResult {
  broker: string;
  ok: boolean;
  /** ECONNREFUSED, ENOTFOUND, ETIMEDOUT, … */
  code?: string;
  reason?: string;
}

const REASONS: Record<string, string> = {
  ECONNREFUSED: 'connection refused (nothing listens on that port)',
  ENOTFOUND: 'unknown host (DNS lookup failed)',
  EAI_AGAIN: 'host name lookup failed (DNS not answering)',
  ETIMEDOUT: 'no answer (timed out: a firewall, a wrong address or a broker not reachable from here)',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ECONNRESET: 'connection reset',
};

export function splitHostPort(broker: string): { host: string; port: number } {
  const i = broker.lastIndexOf(':');
  return { host: broker.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(broker.slice(i + 1)) };
}

/** One TCP connect to a broker; never throws. */
export function probeBroker(broker: string, timeoutMs: number): Promise<ProbeResult> {
  const { host, port } = splitHostPort(broker);
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (r: ProbeResult) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => done({ broker, ok: false, code: 'ETIMEDOUT', reason: `${REASONS.ETIMEDOUT} after ${timeoutMs / 1000} s` }), timeoutMs);
    socket.once('connect', () => done({ broker, ok: true }));
    socket.once('error', (err: NodeJS.ErrnoException) => {
      const code = err.code ?? 'ERROR';
      done({ broker, ok: false, code, reason: code === 'ETIMEDOUT' ? `${REASONS.ETIMEDOUT}` : REASONS[code] ?? `${code}: ${err.message}` });
    });
  });
}

/** Probes every bootstrap broker at once; throws UsageError (one line naming each broker and its cause) when none answers. */
export async function probeBrokers(brokers: readonly string[], timeoutMs = 3000): Promise<ProbeResult[]> {
  const results = await Promise.all(brokers.map((b) => probeBroker(b, timeoutMs)));
  if (results.some((r) => r.ok)) return results;
  const what = results.map((r) => `${r.broker}: ${r.reason}`).join('; ');
  throw new UsageError(`Kafka broker${brokers.length > 1 ? 's' : ''} not reachable — ${what}. Check --brokers (host:port of a listener reachable from this machine)`);
}

/** Throws UsageError naming the topics that do not exist on the cluster. */
export async function checkTopics(brokers: readonly string[], topics: readonly string[], timeoutMs = 5000): Promise<void> {
  const admin = new Admin({ clientId: 'kafka-s3-runner-preflight', bootstrapBrokers: [...brokers], timeout: timeoutMs, retries: 1, retryDelay: 250 });
  let existing: string[];
  let advertised: string[] = [];
  let timer: NodeJS.Timeout | undefined;
  try {
    // The client's own timeout does not bound a listener that accepts and never answers: a timer does.
    const answered = await Promise.race([
      Promise.all([admin.listTopics({ includeInternals: false }), admin.metadata({ topics: [] })]),
      new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`no answer in ${timeoutMs / 1000} s`)), timeoutMs); }),
    ]);
    existing = answered[0];
    advertised = [...answered[1].brokers.values()].map((b) => `${b.host.includes(':') ? `[${b.host}]` : b.host}:${b.port}`);
  } catch (err) {
    throw new UsageError(`Kafka at ${brokers.join(',')} accepts connections but does not answer as a Kafka broker (${firstLine(err)}): check --brokers (the port of a Kafka listener)`);
  } finally {
    clearTimeout(timer);
    void admin.close().catch(() => {});
  }
  // The consumer talks to the addresses the brokers advertise, not to the bootstrap address: a broker that
  // advertises a name or port not reachable from here (a container's hostname, say) would stall the group join.
  // Only when none of them is reachable (the bootstrap address, when advertised too, just answered).
  const unreachable = (await Promise.all(advertised.filter((b) => !brokers.includes(b)).map((b) => probeBroker(b, 3000)))).filter((r) => !r.ok);
  if (advertised.length > 0 && unreachable.length === advertised.length) {
    throw new UsageError(`Kafka at ${brokers.join(',')} answers, but advertises ${unreachable.map((r) => `${r.broker} (${r.reason})`).join(', ')}, which the consumer cannot reach from here: use a listener whose advertised address is reachable (the broker's advertised.listeners)`);
  }
  const missing = topics.filter((t) => !existing.includes(t));
  if (missing.length > 0) {
    const some = existing.filter((t) => !t.startsWith('__')).slice(0, 8);
    throw new UsageError(`topic${missing.length > 1 ? 's' : ''} ${missing.map((t) => `'${t}'`).join(', ')} not found on ${brokers.join(',')}${some.length > 0 ? ` (topics there: ${some.join(', ')}${existing.length > some.length ? ', …' : ''})` : ' (no topics there)'}: check --topics`);
  }
}

function firstLine(err: unknown): string {
  const e = err as Error & { errors?: Error[] };
  const inner = e?.errors?.[0] ?? e;
  return String(inner?.message ?? inner).split('\n')[0];
}

/** An S3 error as one line for a user, or undefined when it is not one of the known mistakes. */
export function explainS3(err: unknown, bucket: string, endpoint: string | undefined): string | undefined {
  const e = err as Error & { $metadata?: { httpStatusCode?: number }; Code?: string; code?: string };
  const name = e?.name ?? '';
  const status = e?.$metadata?.httpStatusCode;
  const where = endpoint ? ` at ${endpoint}` : '';
  // The code first: some servers answer refused keys with a 404 (versitygw: XAdminUserNotFound).
  if (['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'ExpiredToken', 'InvalidToken', 'TokenRefreshRequired', 'InvalidClientTokenId', 'XAdminUserNotFound'].includes(name)) {
    return `S3${where} refused the credentials (${name}): check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, --profile, or refresh the session`;
  }
  if (name === 'NoSuchBucket' || (name === 'NotFound' && status === 404) || status === 404) {
    return `bucket '${bucket}' does not exist${where}: create it, or check --bucket${endpoint ? ' and --s3-endpoint' : ' and --region'}`;
  }
  if (name === 'CredentialsProviderError' || /Could not load credentials/i.test(e?.message ?? '')) {
    return `no AWS credentials found (${(e.message ?? '').split('\n')[0]}): set AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, AWS_PROFILE or --profile`;
  }
  if (name === 'AccessDenied' || name === 'Forbidden' || status === 403) {
    return `S3${where} denied access to bucket '${bucket}' (${name || 403}): these credentials need s3:ListBucket, s3:GetObject, s3:PutObject on it`;
  }
  if (name === 'PermanentRedirect' || name === 'AuthorizationHeaderMalformed' || status === 301) {
    return `bucket '${bucket}' is in another region: pass its region with --region`;
  }
  const code = (e as { code?: string })?.code ?? (e?.cause as { code?: string } | undefined)?.code;
  if (code && ['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT'].includes(code)) {
    return `S3 endpoint${where || ''} not reachable: ${REASONS[code]}${endpoint ? ': check --s3-endpoint' : ''}`;
  }
  return undefined;
}

/** How long one attempt of the bucket check waits for S3, the SDK's retries included (an endpoint that accepts but
 * never answers), and how many attempts: a request lost in one stall of S3 is not taken for a wrong endpoint. */
export const S3_CHECK_MS = 5000;
export const S3_CHECK_ATTEMPTS = 2;

/**
 * HeadBucket (and a LIST to tell why it failed), S3_CHECK_ATTEMPTS attempts of S3_CHECK_MS: throws UsageError for a missing bucket, refused
 * credentials, denied access, and for an endpoint that does not answer or does not answer as S3.
 */
export async function checkBucket(s3: S3Client, bucket: string, endpoint: string | undefined): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const signal = AbortSignal.timeout(S3_CHECK_MS);
    try {
      await s3.send(new HeadBucketCommand({ Bucket: bucket }), { abortSignal: signal });
      return;
    } catch (head) {
      if (signal.aborted && attempt < S3_CHECK_ATTEMPTS) continue;
      return bucketCheckFailed(head, signal, s3, bucket, endpoint);
    }
  }
}

/** Throws the UsageError that says why the bucket check failed. */
async function bucketCheckFailed(head: unknown, signal: AbortSignal, s3: S3Client, bucket: string, endpoint: string | undefined): Promise<never> {
  // HeadBucket answers with a status only (no error code): a LIST tells a missing bucket from refused keys.
  let err = head;
  if ((head as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode !== undefined && !signal.aborted) {
    try {
      await s3.send(new ListObjectsV2Command({ Bucket: bucket, MaxKeys: 1 }), { abortSignal: signal });
    } catch (list) {
      err = list;
    }
  }
  const where = endpoint ? `S3 at ${endpoint}` : 'S3';
  const fix = endpoint ? 'check --s3-endpoint (the address of an S3 API)' : 'check --region and the network';
  if (signal.aborted) throw new UsageError(`${where} did not answer the check of bucket '${bucket}' in ${S3_CHECK_ATTEMPTS} attempts of ${S3_CHECK_MS / 1000} s: ${fix}`, { cause: err });
  const msg = explainS3(err, bucket, endpoint);
  if (msg) throw new UsageError(msg, { cause: err });
  const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  throw new UsageError(`${where} did not answer the check of bucket '${bucket}' as S3 does (${status ? `HTTP ${status}, ` : ''}${(err as Error)?.name ?? 'Error'}: ${firstLine(err)}): ${fix}`, { cause: err });
}
