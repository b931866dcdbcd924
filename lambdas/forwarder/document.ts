/**
 * A Kafka record → one Kinesis record: a JSON document whose first-level fields are what the Iceberg table's
 * columns map to (Firehose maps first-level JSON fields to columns): the value's fields when the value is a JSON
 * object (otherwise `_kafka_value`), plus the chosen metadata as `_kafka_*` fields, which no value field may use.
 * With the table's columns known (TABLE_COLUMNS), the document holds exactly the declared columns, each checked
 * against its type (column-check.ts): a row Firehose would refuse is this record's dead letter, now.
 * This is the forwarder's per-record boundary: what a record's content makes it throw is a RecordError.
 */
import type { SinkRecord } from '../shared/convert.ts';
import type { KafkaRecord } from '../shared/decode.ts';
import { isReservedName as isReserved, Limits, MetadataColumnPrefix } from '../shared/constants.ts';
import { RecordError } from '../shared/errors.ts';
import { stringifyJsonExact } from '../shared/json.ts';
import { checkColumn } from './column-check.ts';
import type { ForwarderConfig } from './config.ts';
import { MaxPartitionKeyLength, partitionKeyFor } from './partition-key.ts';
import type { TableColumns, Tables } from './table-columns.ts';

/** Kinesis limits: a record's data plus partition key at most 1 MiB; partition keys at most 256 characters. */
export const KinesisLimits = {
  maxRecordBytes: 1024 * 1024,
  maxPartitionKeyChars: MaxPartitionKeyLength,
  maxRecordsPerCall: 500,
  maxBytesPerCall: 5 * 1024 * 1024,
} as const;

export interface KinesisEntry {
  readonly data: Buffer;
  readonly partitionKey: string;
  /** Offset for logs and dead letters. */
  readonly record: SinkRecord;
}

type DocumentSettings = Pick<ForwarderConfig, 'fields' | 'valueEncoding' | 'valueLayout'> & { readonly tables?: Tables };

const meta = (name: string) => `${MetadataColumnPrefix}${name}`;

const RawJSON = JSON as unknown as { isRawJSON(v: unknown): boolean };
const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v) && !RawJSON.isRawJSON(v);
const kindOf = (v: unknown): string => (Array.isArray(v) ? 'an array' : v === null ? 'null'
  : typeof v === 'bigint' || typeof v === 'number' || RawJSON.isRawJSON(v) ? 'a number' : `a ${typeof v}`);

/** Kafka's "no timestamp" (RecordBatch.NO_TIMESTAMP). */
const NO_TIMESTAMP = -1;
const INT32_MAX = 2 ** 31 - 1;
const INT64_MAX = 2n ** 63n - 1n;

/**
 * `_kafka_timestamp`: epoch microseconds, as Firehose's Iceberg destination takes timestamps; null for Kafka's
 * "no timestamp" (-1); exact beyond 2^53 microseconds (a BigInt there).
 */
export function timestampMicros(r: Pick<KafkaRecord, 'timestamp' | 'timestampType'>): number | bigint | null {
  if (r.timestamp === NO_TIMESTAMP || r.timestampType === 'NO_TIMESTAMP_TYPE') return null;
  const ms = r.timestamp;
  // Instants between 0001-01-01 and 9999-12-31 (UTC): what readers of a timestamptz column hold.
  if (!(ms >= Limits.minTimestampMs && ms <= Limits.maxTimestampMs)) {
    throw new RecordError('schema', `timestamp ${ms} ms is outside 0001-01-01T00:00:00Z..9999-12-31T23:59:59.999Z, the instants readers of the _kafka_timestamp column hold`);
  }
  const us = ms * 1000;
  return Number.isSafeInteger(us) ? us : BigInt(ms) * 1000n;
}

/** The table of a record's topic; undefined without TABLE_COLUMNS. */
function tableOf(cfg: DocumentSettings, topic: string): TableColumns | undefined {
  if (!cfg.tables) return undefined;
  const name = cfg.tables.routes.get(topic);
  const table = name === undefined ? undefined : cfg.tables.columns.get(name);
  if (!table) throw new RecordError('schema', `topic "${topic}" has no table in TABLE_ROUTES, so its columns are unknown`);
  return table;
}

/** The declared columns of an object value, checked; other fields are left out (Firehose would drop them). */
function columnFields(table: TableColumns, obj: Record<string, unknown>, doc: Record<string, unknown>): void {
  for (const k of Object.keys(obj)) {
    if (isReserved(k)) throw new RecordError('schema', `value field "${k}" uses the prefix "${MetadataColumnPrefix}" (in any letter case) reserved for Kafka metadata columns`);
    if (table.byName.has(k)) continue;
    const near = table.byLowerName.get(k.toLowerCase());
    if (near) throw new RecordError('schema', `value field "${k}" differs from column "${near.name}" only in letter case; columns are matched by their exact (lowercase) name`);
  }
  for (const c of table.list) {
    const v = Object.hasOwn(obj, c.name) ? obj[c.name] : undefined;
    const out = checkColumn(c, v);
    if (out !== undefined) doc[c.name] = out;
  }
}

function valueFields(cfg: DocumentSettings, r: SinkRecord, table: TableColumns | undefined, doc: Record<string, unknown>): void {
  const v = r.value;
  if (cfg.valueLayout === 'single') {
    if (r.record.value !== null) doc[meta('value')] = r.valueText;
  } else if (cfg.valueEncoding === 'json' && isObject(v)) {
    if (table) return columnFields(table, v, doc);
    for (const [k, x] of Object.entries(v)) {
      if (isReserved(k)) throw new RecordError('schema', `value field "${k}" uses the prefix "${MetadataColumnPrefix}" (in any letter case) reserved for Kafka metadata columns`);
      doc[k] = x;
    }
  } else if (r.record.value !== null) {
    if (cfg.valueEncoding === 'json') {
      // The table's columns are the value's fields: any other JSON value has nowhere to go.
      throw new RecordError('convert', `value is not a JSON object (got ${kindOf(v)}); the table's columns are an object's fields`);
    }
    doc[meta('value')] = r.valueText;
  } else if (table) {
    // A written tombstone (TOMBSTONES=write) has no value fields: a required column makes it a row Firehose refuses.
    for (const c of table.list) checkColumn(c, undefined);
  }
}

export function toDocument(cfg: DocumentSettings, r: SinkRecord): Record<string, unknown> {
  // No prototype: a value field named "__proto__" is then an own field like any other, not a silently dropped setter call.
  const doc: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  const rec = r.record;
  valueFields(cfg, r, cfg.valueLayout === 'columns' ? tableOf(cfg, rec.topic) : undefined, doc);
  for (const f of cfg.fields) {
    switch (f) {
      case 'topic': doc[meta('topic')] = rec.topic; break;
      case 'partition':
        if (rec.partition > INT32_MAX) throw new RecordError('schema', `partition ${rec.partition} does not fit the int column _kafka_partition`);
        doc[meta('partition')] = rec.partition;
        break;
      case 'offset':
        if (rec.offset > INT64_MAX) throw new RecordError('schema', `offset ${rec.offset} does not fit the long column _kafka_offset`);
        doc[meta('offset')] = rec.offset;
        break;
      case 'timestamp': doc[meta('timestamp')] = timestampMicros(rec); break;
      case 'key': doc[meta('key')] = r.keyText; break;
      case 'headers': doc[meta('headers')] = r.headersJson; break;
      default: break;
    }
  }
  return doc;
}

/** The document as JSON text; a value no serializer can write is this record's problem, not the batch's. */
function serialize(doc: Record<string, unknown>): string {
  try {
    return stringifyJsonExact(doc);
  } catch (err) {
    throw new RecordError('encode', `the document cannot be written as JSON (${(err as Error).message})`);
  }
}

/** Document → Kinesis entry; a record over the 1 MiB limit is a RecordError (dead-lettered by the caller). */
export function toEntry(cfg: DocumentSettings & Pick<ForwarderConfig, 'partitionKey'>, r: SinkRecord): KinesisEntry {
  const data = Buffer.from(serialize(toDocument(cfg, r)), 'utf8');
  const partitionKey = partitionKeyFor(cfg, r.record);
  const size = data.length + Buffer.byteLength(partitionKey);
  if (size > KinesisLimits.maxRecordBytes) {
    throw new RecordError('limit', `Kinesis record is ${size} bytes (data + partition key), over the 1 MiB limit`);
  }
  return { data, partitionKey, record: r };
}

/** Entries → PutRecords calls of at most 500 records and 5 MiB, in order. */
export function chunkEntries<T extends { data: Buffer; partitionKey: string }>(entries: readonly T[]): T[][] {
  const chunks: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const e of entries) {
    const size = e.data.length + Buffer.byteLength(e.partitionKey);
    if (current.length === KinesisLimits.maxRecordsPerCall || (current.length > 0 && bytes + size > KinesisLimits.maxBytesPerCall)) {
      chunks.push(current);
      current = [];
      bytes = 0;
    }
    current.push(e);
    bytes += size;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}
