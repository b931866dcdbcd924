/**
 * How an object was written, so that its records can be read back: from the sink's object metadata (format,
 * compression, fields, encodings, envelope, separator, JSON columns and the partition's coordinates: pipeline.ts,
 * objectLayout), for a dead-letter object, or, for an object another tool wrote, from its extension.
 */
import {
  CompressionsByFormat, Formats, HeaderEncodings, KeyEncodings, OutputFields, ValueEncodings,
  type Compression, type Format, type OutputField,
} from '../shared/constants.ts';

export type Encoding = 'text' | 'base64';

export interface SinkLayout {
  readonly kind: 'sink';
  readonly format: Format;
  readonly compression: Compression;
  readonly fields: readonly OutputField[];
  readonly keyEncoding: Encoding;
  readonly valueEncoding: 'json' | Encoding;
  readonly headerEncoding: Encoding;
  readonly envelope: boolean;
  /** TOMBSTONES of the sink: with 'write', a jsonl JSON value null is a tombstone (the sink writes both as null). */
  readonly tombstones: 'ignore' | 'write' | 'deadletter';
  readonly separator: Buffer;
  /** Positions of the columns holding JSON text; '*' when the sink could not list them (too many). */
  readonly jsonColumns: ReadonlySet<number> | '*';
  readonly topic: string;
  readonly partition: number;
  readonly start: bigint;
  readonly last?: bigint;
  readonly count?: number;
  /** CREATE_TIME, LOG_APPEND_TIME, mixed or unknown. */
  readonly timestampType?: string;
}

export interface DeadLetterLayout {
  readonly kind: 'dead-letters';
  readonly compression: 'none';
}

/** Objects another tool wrote: values only (a line, a CSV row as its text, an Avro or Parquet row as JSON). */
export interface ForeignLayout {
  readonly kind: 'foreign';
  readonly format: 'jsonl' | 'csv' | 'text' | 'bytes' | 'avro' | 'parquet';
  readonly compression: 'none' | 'gzip' | 'zstd';
  /** csv: the first row is a header, not a record. */
  readonly csvHeader: boolean;
}

export type ObjectLayout = SinkLayout | DeadLetterLayout | ForeignLayout;

/** Why an object's metadata is not a layout this reader knows (names the key). */
export class LayoutError extends Error {
  override name = 'LayoutError';
}

function oneOf<T extends string>(list: readonly T[], value: string | undefined, what: string, key: string): T {
  if (value !== undefined && (list as readonly string[]).includes(value)) return value as T;
  throw new LayoutError(`${key}: metadata ${what}=${JSON.stringify(value ?? null)} is not one of ${list.join(', ')}`);
}

/** The column positions of "0,3-5,9". */
function parseRanges(text: string, key: string): ReadonlySet<number> | '*' {
  if (text === '*') return '*';
  const out = new Set<number>();
  for (const part of text.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m || (m[2] !== undefined && Number(m[2]) < Number(m[1])) || Number(m[2] ?? m[1]) > 100_000) {
      throw new LayoutError(`${key}: metadata kafka-s3-json-columns=${JSON.stringify(text)} is not a list of column positions`);
    }
    for (let i = Number(m[1]); i <= Number(m[2] ?? m[1]); i++) out.add(i);
  }
  return out;
}

const offsetOf = (text: string | undefined, what: string, key: string): bigint => {
  if (text === undefined || !/^\d{1,19}$/.test(text)) throw new LayoutError(`${key}: metadata ${what}=${JSON.stringify(text ?? null)} is not an offset`);
  return BigInt(text);
};

/** Whether the metadata is the sink's (S3 returns user metadata keys in lower case). */
export function isSinkObject(metadata: Readonly<Record<string, string>>): boolean {
  return metadata['kafka-s3-format'] !== undefined;
}

/** The layout of an object the sink wrote, from its metadata; throws LayoutError naming what is wrong. */
export function sinkLayout(key: string, m: Readonly<Record<string, string>>): SinkLayout {
  const format = oneOf(Formats, m['kafka-s3-format'], 'kafka-s3-format', key);
  const compression = oneOf(CompressionsByFormat[format] as readonly Compression[], m['kafka-s3-compression'], 'kafka-s3-compression', key);
  const fields = (m['kafka-s3-fields'] ?? '').split(',').filter(Boolean).map((f) => oneOf(OutputFields, f, 'kafka-s3-fields', key));
  if (fields.length === 0) throw new LayoutError(`${key}: metadata kafka-s3-fields is missing`);
  const enc = new Map((m['kafka-s3-encodings'] ?? '').split(',').map((kv) => kv.split('=') as [string, string]));
  let topic: string;
  try {
    topic = decodeURIComponent(m['kafka-topic'] ?? '');
  } catch {
    throw new LayoutError(`${key}: metadata kafka-topic is not URI-encoded text`);
  }
  if (topic === '') throw new LayoutError(`${key}: metadata kafka-topic is missing`);
  const partition = Number(m['kafka-partition']);
  if (!Number.isInteger(partition) || partition < 0) throw new LayoutError(`${key}: metadata kafka-partition=${JSON.stringify(m['kafka-partition'] ?? null)} is not a partition`);
  const separator = m['kafka-s3-separator'] ?? '0a';
  if (!/^(?:[0-9a-f]{2})*$/.test(separator)) throw new LayoutError(`${key}: metadata kafka-s3-separator is not hex`);
  const count = m['kafka-record-count'] === undefined ? undefined : Number(m['kafka-record-count']);
  return {
    kind: 'sink',
    format,
    compression,
    fields,
    keyEncoding: oneOf(KeyEncodings, enc.get('key'), 'kafka-s3-encodings key', key),
    valueEncoding: oneOf(ValueEncodings, enc.get('value'), 'kafka-s3-encodings value', key),
    headerEncoding: oneOf(HeaderEncodings, enc.get('headers'), 'kafka-s3-encodings headers', key),
    envelope: m['kafka-s3-envelope'] !== 'false',
    // Objects of versions before this metadata: the sink's default.
    tombstones: oneOf(['ignore', 'write', 'deadletter'] as const, m['kafka-s3-tombstones'] ?? 'ignore', 'kafka-s3-tombstones', key),
    separator: Buffer.from(separator, 'hex'),
    jsonColumns: m['kafka-s3-json-columns'] === undefined ? new Set() : parseRanges(m['kafka-s3-json-columns'], key),
    topic,
    partition,
    start: offsetOf(m['kafka-start-offset'], 'kafka-start-offset', key),
    ...(m['kafka-last-offset'] !== undefined ? { last: offsetOf(m['kafka-last-offset'], 'kafka-last-offset', key) } : {}),
    ...(count !== undefined && Number.isSafeInteger(count) ? { count } : {}),
    ...(m['kafka-timestamp-type'] !== undefined ? { timestampType: m['kafka-timestamp-type'] } : {}),
  };
}

const FOREIGN_EXTENSIONS: Record<string, ForeignLayout['format']> = {
  jsonl: 'jsonl', ndjson: 'jsonl', json: 'jsonl', csv: 'csv', txt: 'text', text: 'text', log: 'text', bin: 'bytes', avro: 'avro', parquet: 'parquet',
};

/**
 * The layout of an object another tool wrote, from its extension (`name.jsonl.gz`: jsonl, gzip), or `format` when
 * given; undefined for an extension that says no format (the caller names the fix).
 */
export function foreignLayout(key: string, opts: { format?: ForeignLayout['format']; csvHeader: boolean }): ForeignLayout | undefined {
  const name = key.slice(key.lastIndexOf('/') + 1).toLowerCase();
  const parts = name.split('.');
  let compression: ForeignLayout['compression'] = 'none';
  const last = parts.length > 1 ? parts[parts.length - 1] : '';
  if (last === 'gz' || last === 'gzip') compression = 'gzip';
  if (last === 'zst' || last === 'zstd') compression = 'zstd';
  const ext = compression === 'none' ? last : parts.length > 2 ? parts[parts.length - 2] : '';
  const format = opts.format ?? FOREIGN_EXTENSIONS[ext];
  if (!format) return undefined;
  return { kind: 'foreign', format, compression: format === 'avro' || format === 'parquet' ? 'none' : compression, csvHeader: opts.csvHeader };
}

/** The extensions foreignLayout knows, for messages. */
export const foreignExtensions = Object.keys(FOREIGN_EXTENSIONS);
