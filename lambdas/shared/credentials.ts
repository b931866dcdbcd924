/**
 * Long-term S3 access keys read from a Secrets Manager secret (S3_CREDENTIALS_SECRET_ARN), for a bucket whose owner
 * gives keys rather than a role to assume. The keys never pass through the environment: the secret is read at the
 * first S3 request (cold start), again once the keys are older than the maximum age (a rotation with an overlap
 * window, both keys valid for a while, is picked up without any failed request), and again when S3 refuses them
 * (a rotation that already invalidated the old key): the refused request is then sent once more with the new keys.
 * Nothing here logs or reports a key or a secret's text; errors name the secret's ARN and the field at fault.
 */
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { S3Client, S3ClientConfig } from '@aws-sdk/client-s3';
import { MAX_KEY_AGE_SECONDS } from './config.ts';

/** The SDK's credential provider (AwsCredentialIdentityProvider), as an S3 client's `credentials` takes it. */
export type CredentialsProvider = Extract<NonNullable<S3ClientConfig['credentials']>, (...args: never[]) => unknown>;

export interface AccessKeys {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

/** The secret's JSON fields: the SDK's names, or those of Aiven's S3 sink connector (aws.access.key.id, …). */
export const SecretFields = {
  accessKeyId: ['accessKeyId', 'aws.access.key.id'],
  secretAccessKey: ['secretAccessKey', 'aws.secret.access.key'],
} as const;

/** After a failed read while keys are in hand, those keys are used this long before the next try. */
const REREAD_AFTER_FAILURE_MS = 30_000;

/** S3's answers to keys it does not accept: deleted or deactivated (InvalidAccessKeyId), a changed secret key, no grant. */
const REFUSED_KEY_ERRORS: ReadonlySet<string> = new Set(['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'AccessDenied']);

export class CredentialsSecretError extends Error {
  override readonly name = 'CredentialsSecretError';
}

/** Why the secret was read: the first request, keys older than the maximum age, or S3 refusing the keys. */
export type SecretReadReason = 'first-use' | 'max-age' | 'refused';

export interface SecretReadEvent {
  readonly reason: SecretReadReason;
  /** changed: other keys than before (a rotation); failed: the read or the secret's content failed (see error). */
  readonly outcome: 'loaded' | 'changed' | 'unchanged' | 'failed';
  readonly error?: Error;
}

export interface SecretCredentialsOptions {
  /** Complete ARN of the secret (its region is where it is read). */
  readonly secretArn: string;
  /** @default MAX_KEY_AGE_SECONDS */
  readonly maxAgeSeconds?: number;
  /** Secrets Manager endpoint override (local servers, tests). */
  readonly endpoint?: string;
  /** Reads the secret; by default a Secrets Manager client in the secret's region with the default credential chain. */
  readonly client?: { send(command: GetSecretValueCommand): Promise<{ SecretString?: string }> };
  readonly now?: () => number;
  /** Told of every read, without the keys. */
  readonly onRead?: (event: SecretReadEvent) => void;
}

/** The keys in a secret's SecretString, or an error naming the secret and every field at fault, never a value. */
export function parseCredentialsSecret(secretArn: string, secretString: string | undefined): AccessKeys {
  const shape = `a SecretString of JSON {"accessKeyId": "…", "secretAccessKey": "…"} (or "aws.access.key.id", "aws.secret.access.key")`;
  const fail = (what: string) => new CredentialsSecretError(`S3 credentials secret ${secretArn}: ${what}; expected ${shape}`);
  if (secretString === undefined) throw fail('has no SecretString (a binary secret?)');
  let json: unknown;
  try {
    json = JSON.parse(secretString);
  } catch {
    // JSON.parse's message quotes the text: it is not repeated.
    throw fail('the SecretString is not JSON');
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw fail('the SecretString is not a JSON object');
  const fields = json as Record<string, unknown>;
  const problems: string[] = [];
  const field = (names: readonly string[]): string => {
    const given = names.filter((n) => Object.hasOwn(fields, n));
    if (given.length === 0) problems.push(`${names.join(' or ')} is missing`);
    else if (given.length > 1) problems.push(`both ${given.join(' and ')} are given (one name per field)`);
    else {
      const v = fields[given[0]];
      if (typeof v !== 'string' || v === '') problems.push(`${given[0]} is not a non-empty string`);
      else if (/\s/.test(v)) problems.push(`${given[0]} contains whitespace`);
      else return v;
    }
    return '';
  };
  const accessKeyId = field(SecretFields.accessKeyId);
  const secretAccessKey = field(SecretFields.secretAccessKey);
  if (problems.length > 0) throw fail(problems.join(', '));
  return { accessKeyId, secretAccessKey };
}

const sameKeys = (a: AccessKeys, b: AccessKeys) => a.accessKeyId === b.accessKeyId && a.secretAccessKey === b.secretAccessKey;

/** Whether S3 refused the request's keys: then a rotated secret may hold keys it accepts. */
export function isRefusedKeyError(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } } | undefined;
  return REFUSED_KEY_ERRORS.has(e?.name ?? '') || e?.$metadata?.httpStatusCode === 403;
}

interface Held {
  readonly keys: AccessKeys & { readonly expiration: Date };
  /** When the secret is read again (the maximum age, or the retry after a failed read). */
  readonly refreshAt: number;
}

/** The keys of one secret, read once and shared by every request; `provider` is the S3 client's `credentials`. */
export class SecretCredentials {
  readonly secretArn: string;
  readonly provider: CredentialsProvider;
  readonly #maxAgeMs: number;
  readonly #now: () => number;
  readonly #onRead?: (event: SecretReadEvent) => void;
  readonly #client: () => NonNullable<SecretCredentialsOptions['client']>;
  #held?: Held;
  /** The read in flight: every caller waits for the same one. */
  #reading?: Promise<Held>;

  constructor(opts: SecretCredentialsOptions) {
    this.secretArn = opts.secretArn;
    const maxAgeSeconds = opts.maxAgeSeconds ?? MAX_KEY_AGE_SECONDS;
    if (!(maxAgeSeconds > 0 && maxAgeSeconds <= MAX_KEY_AGE_SECONDS)) throw new RangeError(`maxAgeSeconds must be in (0, ${MAX_KEY_AGE_SECONDS}]`);
    this.#maxAgeMs = maxAgeSeconds * 1000;
    this.#now = opts.now ?? Date.now;
    this.#onRead = opts.onRead;
    let client = opts.client;
    this.#client = () => (client ??= new SecretsManagerClient({
      region: opts.secretArn.split(':')[3],
      ...(opts.endpoint ? { endpoint: opts.endpoint } : {}),
    }));
    this.provider = async () => (await this.#current()).keys;
  }

  /** The held keys; read at first use and once they are due. */
  async #current(): Promise<Held> {
    const held = this.#held;
    if (held === undefined) return this.#read('first-use');
    if (this.#now() < held.refreshAt) return held;
    try {
      return await this.#read('max-age');
    } catch {
      // The secret cannot be read now (reported through onRead): the keys in hand may still work, and S3 says if not.
      this.#held = this.#hold(held.keys, Math.min(this.#maxAgeMs, REREAD_AFTER_FAILURE_MS));
      return this.#held;
    }
  }

  #hold(keys: AccessKeys, ttlMs: number): Held {
    const refreshAt = this.#now() + ttlMs;
    return { keys: { accessKeyId: keys.accessKeyId, secretAccessKey: keys.secretAccessKey, expiration: new Date(refreshAt) }, refreshAt };
  }

  #read(reason: SecretReadReason): Promise<Held> {
    this.#reading ??= (async () => {
      const before = this.#held?.keys;
      try {
        let secretString: string | undefined;
        try {
          secretString = (await this.#client().send(new GetSecretValueCommand({ SecretId: this.secretArn }))).SecretString;
        } catch (err) {
          const e = err as Error;
          throw new CredentialsSecretError(`S3 credentials secret ${this.secretArn}: cannot be read (${e.name}: ${e.message})`, { cause: err });
        }
        const keys = parseCredentialsSecret(this.secretArn, secretString);
        this.#held = this.#hold(keys, this.#maxAgeMs);
        this.#onRead?.({ reason, outcome: before === undefined ? 'loaded' : sameKeys(before, keys) ? 'unchanged' : 'changed' });
        return this.#held;
      } catch (err) {
        this.#onRead?.({ reason, outcome: 'failed', error: err as Error });
        throw err;
      } finally {
        this.#reading = undefined;
      }
    })();
    return this.#reading;
  }

  /**
   * After S3 refused `used` (the keys the request was signed with): whether other keys are held now, reading the
   * secret again unless that happened since the request was signed.
   */
  async keysChangedSince(used: AccessKeys | undefined): Promise<boolean> {
    const held = this.#held?.keys;
    const refused = used ?? held;
    if (held && refused && !sameKeys(held, refused)) return true;
    const now = await this.#read('refused');
    return refused === undefined || !sameKeys(now.keys, refused);
  }

  /**
   * Sends a request that S3 refused (isRefusedKeyError) once more when the secret holds other keys by then; the
   * second answer stands. The keys a request was signed with are those the SDK's auth-scheme step selected for it.
   */
  retryRefusedRequests(client: S3Client): void {
    client.middlewareStack.add((next, context) => async (args) => {
      try {
        return await next(args);
      } catch (err) {
        if (!isRefusedKeyError(err)) throw err;
        const used = context.__smithy_context?.selectedHttpAuthScheme?.identity as AccessKeys | undefined;
        let changed: boolean;
        try {
          changed = await this.keysChangedSince(used);
        } catch (readErr) {
          throw new CredentialsSecretError(`${(readErr as Error).message} (read again because S3 refused the keys: ${(err as Error).name})`, { cause: err });
        }
        if (!changed) throw err;
        return next(args);
      }
    }, { step: 'initialize', priority: 'high', name: 'retryWithRotatedS3Keys' });
  }
}
