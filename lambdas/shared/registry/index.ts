/**
 * Stage 1b — deserialize: registry-framed values (and keys) → their JSON, by the schema the registry holds.
 *
 * The batch first learns every schema its records name (`prefetch`: async, each schema fetched once per process
 * and kept across invocations); then each record is decoded on its own (`decode`: sync, in the per-record boundary
 * of the pipeline), so one record's bytes can only make that record a dead letter:
 * - not framed, framed for another registry, a schema the registry says does not exist, a schema that does not
 *   compile, a payload that does not decode with its schema → RecordError (dead letter with the reason);
 * - the registry not answering (network, timeout, throttling, 5xx, refused credentials) → RegistryUnavailableError
 *   from `prefetch`: the batch fails before anything is written, and the event source retries it.
 */
import { isUtf8 } from 'node:buffer';
import type { KafkaRecord } from '../decode.ts';
import { parseJsonExact } from '../json.ts';
import { RecordError } from '../errors.ts';
import { compileAvro, decodeAvro } from './avro.ts';
import { ConfluentFetcher, GlueFetcher, type MissingSchema, type RawSchema, type SchemaFetcher } from './client.ts';
import { compileJsonSchema, valueOf, type JsonSchemaCompiled } from './json-schema.ts';
import { compileProtobuf, type ProtobufSchema } from './protobuf.ts';
import { jsonOf, type RType } from './types.ts';
import { readGlueMessageIndex, readMessageIndexes, schemaIdOf, unframe, type RegistryKind } from './wire.ts';

export { RegistryUnavailableError } from './client.ts';

export interface RegistrySettings {
  /** A Confluent-compatible registry's URL (credentials may be in it), or a Glue registry's ARN. */
  readonly location: string;
  readonly kind: RegistryKind;
  readonly value: boolean;
  readonly key: boolean;
  /** Confluent: a Secrets Manager secret with {"username","password"} for basic auth. */
  readonly secretArn?: string;
  /** The values become columns (avro, parquet, csv): JSON Schema values are converted to their columns' types. */
  readonly columns?: boolean;
  /** The values become Avro or Parquet columns: a Protobuf Timestamp must fit int64 nanoseconds (1677–2262). */
  readonly nanosecondColumns?: boolean;
  /** Endpoint overrides: Glue (for a Glue registry) and Secrets Manager. */
  readonly glueEndpoint?: string;
  readonly secretsEndpoint?: string;
}

/** A schema ready to decode with. */
type Compiled =
  | { readonly format: 'AVRO'; readonly type: RType }
  | { readonly format: 'PROTOBUF'; readonly schema: ProtobufSchema }
  | { readonly format: 'JSON'; readonly schema: JsonSchemaCompiled }
  | { readonly format: 'broken'; readonly reason: string };

/** What decoding one value or key gives. */
export interface Deserialized {
  /** Its JSON text (one line, exact numbers). */
  readonly json: string;
  /** The schema's identity in its registry. */
  readonly schemaId: string;
  /** Set for Avro and Protobuf: the type the value was decoded by, and the decoded value (plain data). */
  readonly type?: RType;
  readonly value?: unknown;
}

/** Schemas kept per process (across invocations); "no such schema" answers kept, and for how long. */
const MAX_SCHEMAS = 1_000;
const MAX_MISSING = 10_000;
const MISSING_TTL_MS = 10 * 60_000;
const FETCH_CONCURRENCY = 4;
/** Schemas new to this process one batch may fetch. */
export const MAX_NEW_SCHEMAS = 256;
/** What one record's and one batch's zlib payloads (AWS Glue) may inflate to. */
const MAX_RECORD_INFLATE = 16 * 1024 * 1024;
const MAX_BATCH_INFLATE = 256 * 1024 * 1024;

export function fetcherFor(s: RegistrySettings): SchemaFetcher {
  return s.kind === 'glue'
    ? new GlueFetcher({ registryArn: s.location, endpoint: s.glueEndpoint })
    : new ConfluentFetcher({ url: s.location, secretArn: s.secretArn, secretsEndpoint: s.secretsEndpoint });
}

function compile(raw: RawSchema, settings: RegistrySettings): Compiled {
  try {
    switch (raw.type) {
      case 'AVRO': return { format: 'AVRO', type: compileAvro(raw.text, raw.references.map((r) => r.text)) };
      case 'PROTOBUF': return { format: 'PROTOBUF', schema: compileProtobuf(raw.text, new Map(raw.references.map((r) => [r.name, r.text])), { nanosecondColumns: settings.nanosecondColumns }) };
      case 'JSON': return { format: 'JSON', schema: compileJsonSchema(raw.text, raw.references) };
    }
  } catch (err) {
    const message = String((err as Error).message);
    return { format: 'broken', reason: `its ${raw.type} schema (${raw.source ?? 'from the registry'}) cannot be read: ${message.length > 300 ? `${message.slice(0, 297)}...` : message}` };
  }
}

export class RegistryDecoder {
  readonly settings: RegistrySettings;
  private readonly fetcher: SchemaFetcher;
  private readonly schemas = new Map<string, Compiled>();
  private readonly missing = new Map<string, { reason: string; until: number }>();
  /** This batch: schemas left unfetched (beyond MAX_NEW_SCHEMAS), and the bytes its zlib payloads inflated to. */
  private readonly notFetched = new Set<string>();
  private inflated = 0;
  private readonly now: () => number;

  constructor(settings: RegistrySettings, fetcher: SchemaFetcher = fetcherFor(settings), now: () => number = Date.now) {
    this.settings = settings;
    this.fetcher = fetcher;
    this.now = now;
  }

  /** The schema identity a framed value names (read from its header, nothing inflated), or undefined. */
  private idOf(bytes: Buffer | null): string | undefined {
    return bytes === null ? undefined : schemaIdOf(this.settings.kind, bytes);
  }

  /** Remembers a schema, most recent last; the oldest ones this batch does not use go first when the cache is full. */
  private remember(id: string, schema: Compiled, batch: ReadonlySet<string>): void {
    this.schemas.set(id, schema);
    for (const old of this.schemas.keys()) {
      if (this.schemas.size <= MAX_SCHEMAS) break;
      if (!batch.has(old)) this.schemas.delete(old);
    }
  }

  /**
   * Fetches the schemas the records name that this process does not hold yet: those most records name first, at most
   * MAX_NEW_SCHEMAS per batch (a producer writing random schema IDs would otherwise cost one request per record;
   * the records of the others are dead letters saying so). Throws RegistryUnavailableError when the registry cannot
   * answer; a schema it says it does not have is remembered for a while (its records are dead letters).
   */
  async prefetch(records: Iterable<{ readonly key: Buffer | null; readonly value: Buffer | null }>): Promise<void> {
    const counts = new Map<string, number>();
    const batch = new Set<string>();
    const now = this.now();
    this.inflated = 0;
    this.notFetched.clear();
    for (const r of records) {
      for (const bytes of [this.settings.value ? r.value : null, this.settings.key ? r.key : null]) {
        const id = this.idOf(bytes);
        if (id === undefined) continue;
        batch.add(id);
        const known = this.schemas.get(id);
        if (known) {
          // Used again: most recent now.
          this.schemas.delete(id);
          this.schemas.set(id, known);
          continue;
        }
        const m = this.missing.get(id);
        if (m && m.until > now) continue;
        counts.set(id, (counts.get(id) ?? 0) + 1);
      }
    }
    const ids = [...counts].sort((x, y) => y[1] - x[1]).map(([id]) => id);
    for (const id of ids.slice(MAX_NEW_SCHEMAS)) this.notFetched.add(id);
    const todo = ids.slice(0, MAX_NEW_SCHEMAS);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < todo.length) {
        const id = todo[next++];
        const got: RawSchema | MissingSchema = await this.fetcher.fetch(id);
        if ('missing' in got) {
          this.missing.delete(id);
          this.missing.set(id, { reason: got.missing, until: this.now() + MISSING_TTL_MS });
          if (this.missing.size > MAX_MISSING) this.missing.delete(this.missing.keys().next().value!);
        } else {
          this.remember(id, compile(got, this.settings), batch);
          this.missing.delete(id);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(FETCH_CONCURRENCY, todo.length) }, worker));
  }

  /**
   * A record with its registry-framed value and key (per the settings) replaced by their JSON, and the schema its
   * value was decoded with (undefined for a tombstone, or when only keys are decoded). A key decoded
   * to a JSON string becomes that string's text; any other key its JSON text. Throws RecordError.
   */
  decodeRecord(record: KafkaRecord): { record: KafkaRecord; schemaId?: string; value?: { type: RType; value: unknown } } {
    const s = this.settings;
    const value = s.value && record.value !== null ? this.decode(record.value, 'value') : undefined;
    const key = s.key && record.key !== null ? this.decode(record.key, 'key') : undefined;
    if (!value && !key) return { record };
    return {
      record: {
        ...record,
        value: value ? Buffer.from(value.json, 'utf8') : record.value,
        key: key ? Buffer.from(key.json.startsWith('"') ? (JSON.parse(key.json) as string) : key.json, 'utf8') : record.key,
      },
      // Objects are cut where the value's schema changes (the columns): a key's schema does not shape them.
      schemaId: value?.schemaId,
      // Avro and Protobuf values keep their type and decoded value: the columns of avro, parquet and csv.
      ...(value?.type ? { value: { type: value.type, value: value.value } } : {}),
    };
  }

  /** Decodes one framed value or key (`what`: "value" or "key"). Throws RecordError. Needs `prefetch` first. */
  decode(bytes: Buffer, what: 'value' | 'key'): Deserialized {
    const id = schemaIdOf(this.settings.kind, bytes);
    const schema = id === undefined ? undefined : this.schemas.get(id);
    if (id !== undefined && schema === undefined) {
      const m = this.missing.get(id);
      const why = m ? m.reason : this.notFetched.has(id) ? `it is one of more than ${MAX_NEW_SCHEMAS} schemas new to this function in one batch, so it was not fetched` : 'it was not fetched';
      throw new RecordError('decode', `${what} names schema ${id}, but ${why}`);
    }
    const budget = Math.min(MAX_RECORD_INFLATE, MAX_BATCH_INFLATE - this.inflated);
    const framed = unframe(this.settings.kind, bytes, what, budget);
    this.inflated += framed.payload.length;
    // Not framed: unframe said why. Framed: the header named the schema found above.
    if (schema === undefined || id === undefined) throw new RecordError('decode', `${what} names no schema`);
    switch (schema.format) {
      case 'broken': throw new RecordError('decode', `${what} names schema ${id}, but ${schema.reason}`);
      case 'JSON': {
        const bytes = framed.payload.subarray(framed.offset);
        if (!isUtf8(bytes)) throw new RecordError('decode', `${what} is not valid UTF-8, so not the JSON its JSON Schema describes`);
        const json = bytes.toString('utf8');
        // Parsing, validating and converting walk the value recursively: a value nested deeper than the stack is a
        // record problem too (RangeError), never a failed batch.
        try {
          let parsed: unknown;
          try {
            parsed = JSON.parse(json);
          } catch (err) {
            throw new RecordError('decode', `${what} is not valid JSON (${(err as Error).message})`);
          }
          const problem = schema.schema.validate(parsed);
          if (problem !== null) throw new RecordError('decode', `${what} does not hold to its JSON Schema (${id}): ${problem}`);
          const type = schema.schema.type;
          // Column values only where columns are written (jsonl and the forwarder write the JSON as it is).
          if (!type || !this.settings.columns) return { json, schemaId: id };
          return { json, schemaId: id, type, value: valueOf(type, parseJsonExact(json), what) };
        } catch (err) {
          if (err instanceof RangeError) throw new RecordError('decode', `${what} nests too deep to be read (${err.message})`);
          throw err;
        }
      }
      case 'AVRO': {
        const value = decodeAvro(schema.type, framed.payload, framed.offset);
        return { json: jsonOf(schema.type, value), schemaId: id, type: schema.type, value };
      }
      case 'PROTOBUF': {
        if (this.settings.kind === 'glue') {
          const { index, start } = readGlueMessageIndex(framed.payload, framed.offset);
          const m = schema.schema.glueMessage(index);
          const value = m.decode(framed.payload, start);
          return { json: jsonOf(m.type, value), schemaId: `${id}:${index}`, type: m.type, value };
        }
        const { indexes, start } = readMessageIndexes(framed.payload, framed.offset);
        const m = schema.schema.message(indexes);
        const value = m.decode(framed.payload, start);
        return { json: jsonOf(m.type, value), schemaId: indexes.length === 1 && indexes[0] === 0 ? id : `${id}:${indexes.join('.')}`, type: m.type, value };
      }
    }
  }
}

/** One decoder per settings object (a function's configuration, made once per cold start): schemas outlive invocations. */
const decoders = new WeakMap<RegistrySettings, RegistryDecoder>();
/** Tests: the decoder `decoderFor` hands out for these settings (one with a fetcher of their own). */
export function useDecoderFor(settings: RegistrySettings, decoder: RegistryDecoder): void {
  decoders.set(settings, decoder);
}

export function decoderFor(settings: RegistrySettings): RegistryDecoder {
  let d = decoders.get(settings);
  if (!d) decoders.set(settings, (d = new RegistryDecoder(settings)));
  return d;
}
