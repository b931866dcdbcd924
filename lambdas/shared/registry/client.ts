/**
 * Fetching a schema by the identity a framed value carries: a Confluent-compatible registry's REST API
 * (GET /schemas/ids/{id}, with its references from GET /subjects/{subject}/versions/{version}), or the AWS Glue
 * Schema Registry (GetSchemaVersion by schema version ID).
 *
 * Two outcomes are final and belong to the record: the schema is found, or the registry says it does not exist (a
 * value naming it is a dead letter). Anything else (network, timeout, throttling, 5xx, refused credentials) is the
 * registry being unavailable: RegistryUnavailableError fails the batch and the event source retries it.
 */
import { GetSchemaVersionCommand, GlueClient } from '@aws-sdk/client-glue';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { RegistryUnavailableError } from '../errors.ts';

export type SchemaType = 'AVRO' | 'PROTOBUF' | 'JSON';

export interface RawSchema {
  readonly type: SchemaType;
  readonly text: string;
  /** Referenced schemas, each before the ones that use it: the name it is imported by (Protobuf) and its text. */
  readonly references: readonly { readonly name: string; readonly text: string }[];
  /** Where the schema lives, for messages and object metadata: subject/version, or the Glue schema ARN and version. */
  readonly source?: string;
}

export { RegistryUnavailableError };

/** The registry's final answer that a schema does not exist (or is not one this sink may read), with the reason. */
export interface MissingSchema {
  readonly missing: string;
}

export interface SchemaFetcher {
  /** Where schemas come from, for messages. */
  readonly name: string;
  fetch(id: string): Promise<RawSchema | MissingSchema>;
}

export interface ConfluentOptions {
  readonly url: string;
  /** Basic auth: given, or read from a Secrets Manager secret ({"username","password"}) on first use. */
  readonly basicAuth?: { readonly username: string; readonly password: string };
  readonly secretArn?: string;
  readonly secretsEndpoint?: string;
  readonly timeoutMs?: number;
  readonly attempts?: number;
  readonly fetchFn?: typeof fetch;
}

const SCHEMA_TYPES = new Set(['AVRO', 'PROTOBUF', 'JSON']);
/** References nest at most this deep (a cycle of references would otherwise never end). */
const MAX_REFERENCE_DEPTH = 32;

/** The registry's final answer for a schema (it does not have it, or will not give it): its records' dead letters. */
class FinalAnswer extends Error {}

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Reads {"username","password"} (or Confluent Cloud's {"key","secret"}) from a secret. */
export async function readBasicAuthSecret(arn: string, endpoint?: string): Promise<{ username: string; password: string }> {
  const region = arn.split(':')[3];
  const client = new SecretsManagerClient({ region, ...(endpoint ? { endpoint } : {}) });
  let text: string | undefined;
  try {
    text = (await client.send(new GetSecretValueCommand({ SecretId: arn }))).SecretString;
  } catch (err) {
    throw new RegistryUnavailableError(`schema registry credentials: secret ${arn} could not be read: ${(err as Error).message}`, { cause: err });
  }
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(text ?? '') as Record<string, unknown>;
  } catch {
    throw new RegistryUnavailableError(`schema registry credentials: secret ${arn} is not JSON like {"username": …, "password": …}`);
  }
  const username = o?.username ?? o?.key;
  const password = o?.password ?? o?.secret;
  if (typeof username !== 'string' || typeof password !== 'string') {
    throw new RegistryUnavailableError(`schema registry credentials: secret ${arn} needs string fields "username" and "password" (or "key" and "secret")`);
  }
  return { username, password };
}

/** A Confluent-compatible registry (Confluent Platform/Cloud, Apicurio's ccompat API, Karapace, Redpanda). */
export class ConfluentFetcher implements SchemaFetcher {
  private readonly base: string;
  private readonly opts: ConfluentOptions;
  private auth?: Promise<string | undefined>;

  constructor(opts: ConfluentOptions) {
    const u = new URL(opts.url);
    let basicAuth = opts.basicAuth;
    // Credentials in the URL (https://user:pass@host) are taken out: fetch refuses such URLs.
    if (u.username !== '') {
      basicAuth = { username: decodeURIComponent(u.username), password: decodeURIComponent(u.password) };
      u.username = '';
      u.password = '';
    }
    this.base = u.toString().replace(/\/+$/, '');
    this.opts = { ...opts, basicAuth };
  }

  private authorization(): Promise<string | undefined> {
    this.auth ??= (async () => {
      const creds = this.opts.basicAuth ?? (this.opts.secretArn ? await readBasicAuthSecret(this.opts.secretArn, this.opts.secretsEndpoint) : undefined);
      return creds ? `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}` : undefined;
    })();
    // A failed read is tried again by the next batch.
    this.auth.catch(() => { this.auth = undefined; });
    return this.auth;
  }

  /**
   * GET a path: the JSON body, or the registry's final answer that it will not give it (FinalAnswer: a 404 with a
   * registry error code — 40401 subject, 40402 version, 40403 schema not found, as Confluent, Karapace, Apicurio's
   * ccompat API and Redpanda send —, 403 for this schema, another 4xx but 401, 408 and 429). Retries the rest
   * (network, timeouts, 5xx, 429, a body that is not JSON), then throws RegistryUnavailableError; so does a 401
   * (credentials: every schema is refused) and a 404 without an error code (a wrong URL, not a missing schema).
   */
  private async get(path: string): Promise<Record<string, unknown>> {
    const attempts = this.opts.attempts ?? 3;
    const f = this.opts.fetchFn ?? fetch;
    const authorization = await this.authorization();
    let last = '';
    for (let attempt = 1; attempt <= attempts; attempt++) {
      try {
        const res = await f(`${this.base}${path}`, {
          headers: { accept: 'application/vnd.schemaregistry.v1+json, application/json', ...(authorization ? { authorization } : {}) },
          signal: AbortSignal.timeout(this.opts.timeoutMs ?? 5_000),
        });
        const body = await res.text();
        let json: Record<string, unknown> | undefined;
        try {
          json = JSON.parse(body) as Record<string, unknown>;
        } catch {
          json = undefined;
        }
        if (res.ok && json && typeof json === 'object') return json;
        last = res.ok ? `HTTP ${res.status} with a body that is not JSON` : `HTTP ${res.status}: ${body.slice(0, 200)}`;
        const code = json && typeof json === 'object' ? Number(json.error_code) : NaN;
        if (res.status === 404 && code >= 40400 && code < 40500) throw new FinalAnswer(`the schema registry ${this.base} does not have it (${code}: ${String(json?.message ?? '').slice(0, 120)})`);
        if (res.status === 403 || (res.status >= 400 && res.status < 500 && ![401, 404, 408, 429].includes(res.status))) {
          throw new FinalAnswer(`the schema registry ${this.base} refuses it (${last})`);
        }
        // 401: no schema will be given until the credentials are fixed; 404 without a code: not a registry's answer.
        if (res.status === 401 || res.status === 404) break;
      } catch (err) {
        if (err instanceof FinalAnswer) throw err;
        last = (err as Error).name === 'TimeoutError' ? `no answer within ${this.opts.timeoutMs ?? 5_000} ms` : `${(err as Error).message}${(err as { cause?: Error }).cause ? ` (${(err as { cause?: Error }).cause!.message})` : ''}`;
      }
      if (attempt < attempts) await delay(100 * 2 ** attempt);
    }
    throw new RegistryUnavailableError(`schema registry ${this.base} did not answer GET ${path}: ${last}`);
  }

  get name(): string {
    return this.base;
  }

  async fetch(id: string): Promise<RawSchema | MissingSchema> {
    try {
      return await this.schemaOf(await this.get(`/schemas/ids/${encodeURIComponent(id)}`), `schema id ${id}`, 0, new Map());
    } catch (err) {
      if (err instanceof FinalAnswer) return { missing: err.message };
      throw err;
    }
  }

  /** A schema and every schema it references (each subject version fetched once: references may form a diamond). */
  private async schemaOf(body: Record<string, unknown>, what: string, depth: number, fetched: Map<string, Promise<RawSchema>>): Promise<RawSchema> {
    const type = (body.schemaType ?? 'AVRO') as string;
    if (typeof body.schema !== 'string' || !SCHEMA_TYPES.has(type)) {
      throw new FinalAnswer(`the schema registry ${this.base} gave ${what} without a schema of a known type (schemaType ${JSON.stringify(body.schemaType)})`);
    }
    const refs = Array.isArray(body.references) ? (body.references as Record<string, unknown>[]) : [];
    if (refs.length > 0 && depth >= MAX_REFERENCE_DEPTH) throw new FinalAnswer(`${what} has references nested deeper than ${MAX_REFERENCE_DEPTH}`);
    const byName = new Map<string, string>();
    for (const ref of refs) {
      const key = `${String(ref.subject)}\u0000${String(ref.version)}`;
      let inner = fetched.get(key);
      if (!inner) {
        const path = `/subjects/${encodeURIComponent(String(ref.subject))}/versions/${encodeURIComponent(String(ref.version))}`;
        inner = this.get(path).then((b) => this.schemaOf(b, `reference ${String(ref.name)}`, depth + 1, fetched));
        fetched.set(key, inner);
      }
      const r = await inner;
      // Each referenced schema once, after the schemas it references.
      for (const x of r.references) if (!byName.has(x.name)) byName.set(x.name, x.text);
      if (!byName.has(String(ref.name))) byName.set(String(ref.name), r.text);
    }
    return { type: type as SchemaType, text: body.schema, references: [...byName].map(([name, text]) => ({ name, text })), source: what };
  }
}

export interface GlueOptions {
  /** The configured registry: a version of another registry's schema is not read. */
  readonly registryArn: string;
  readonly endpoint?: string;
  readonly client?: Pick<GlueClient, 'send'>;
}

/** The AWS Glue Schema Registry: a schema version by its UUID (glue:GetSchemaVersion). */
export class GlueFetcher implements SchemaFetcher {
  private readonly client: Pick<GlueClient, 'send'>;
  private readonly registryArn: string;
  /** arn:…:glue:region:account:schema/<registry>/ — the prefix of every schema ARN in the registry. */
  private readonly schemaPrefix: string;

  constructor(opts: GlueOptions) {
    this.registryArn = opts.registryArn;
    const [, partition, , region, account, resource] = opts.registryArn.split(':');
    this.schemaPrefix = `arn:${partition}:glue:${region}:${account}:schema/${resource.slice('registry/'.length)}/`;
    this.client = opts.client ?? new GlueClient({ region, maxAttempts: 3, ...(opts.endpoint ? { endpoint: opts.endpoint } : {}) });
  }

  get name(): string {
    return this.registryArn;
  }

  async fetch(id: string): Promise<RawSchema | MissingSchema> {
    let out;
    try {
      out = await this.client.send(new GetSchemaVersionCommand({ SchemaVersionId: id }));
    } catch (err) {
      if ((err as Error).name === 'EntityNotFoundException') return { missing: 'the AWS Glue Schema Registry does not have that schema version (EntityNotFoundException)' };

      throw new RegistryUnavailableError(`AWS Glue Schema Registry did not answer GetSchemaVersion ${id}: ${(err as Error).name}: ${(err as Error).message}`, { cause: err });
    }
    if (typeof out.SchemaDefinition !== 'string' || !SCHEMA_TYPES.has(String(out.DataFormat))) {
      throw new RegistryUnavailableError(`AWS Glue Schema Registry: schema version ${id} came back without a definition of a known format (${String(out.DataFormat)})`);
    }
    // A version of another registry's schema: final for this record (the registry answered), not an outage.
    if (!out.SchemaArn?.startsWith(this.schemaPrefix)) {
      return { missing: `that schema version belongs to ${out.SchemaArn ?? 'another registry'}, not to the configured registry ${this.registryArn}` };
    }
    return { type: out.DataFormat as SchemaType, text: out.SchemaDefinition, references: [], source: `${out.SchemaArn} version ${out.VersionNumber ?? '?'}` };
  }
}
