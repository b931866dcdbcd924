/**
 * A Kafka record → one Kinesis record: a JSON document whose first-level fields are what the Iceberg table's
 * columns map to (Firehose maps first-level JSON fields to columns): the value's fields when the value is a JSON
 * object (otherwise `_kafka_value`), plus the chosen metadata as `_kafka_*` fields, which no value field may use.
 */
import { createHash } from 'node:crypto';
import type { SinkRecord } from '../shared/convert.ts';
import { MetadataColumnPrefix } from '../shared/constants.ts';
import { RecordError } from '../shared/errors.ts';
import { stringifyJsonExact } from '../shared/json.ts';
import type { ForwarderConfig } from './config.ts';

/** Kinesis limits: a record's data plus partition key at most 1 MiB; partition keys at most 256 characters. */
export const KinesisLimits = {
  maxRecordBytes: 1024 * 1024,
  maxPartitionKeyChars: 256,
  maxRecordsPerCall: 500,
  maxBytesPerCall: 5 * 1024 * 1024,
} as const;

export interface KinesisEntry {
  readonly data: Buffer;
  readonly partitionKey: string;
  /** Offset for logs and dead letters. */
  readonly record: SinkRecord;
}

const meta = (name: string) => `${MetadataColumnPrefix}${name}`;

/** The partition key: per Kafka key (so records of one key stay on one shard, in order) or per topic-partition. */
export function partitionKeyFor(cfg: Pick<ForwarderConfig, 'partitionKey'>, r: SinkRecord): string {
  const raw = cfg.partitionKey === 'key' && r.keyText !== null && r.keyText !== '' ? r.keyText : `${r.record.topic}-${r.record.partition}`;
  if (raw.length <= KinesisLimits.maxPartitionKeyChars) return raw;
  // A long key keeps its shard mapping stable through a hash (same key, same partition key).
  return `${raw.slice(0, 200)}~${createHash('sha256').update(raw).digest('hex').slice(0, 40)}`;
}

export function toDocument(cfg: Pick<ForwarderConfig, 'fields' | 'valueEncoding' | 'valueLayout'>, r: SinkRecord): Record<string, unknown> {
  // No prototype: a value field named "__proto__" is then an own field like any other, not a silently dropped setter call.
  const doc: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  const v = r.value;
  if (cfg.valueLayout === 'single') {
    if (r.record.value !== null) doc[meta('value')] = r.valueText;
  } else if (cfg.valueEncoding === 'json' && v !== null && typeof v === 'object' && !Array.isArray(v)) {
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      if (k.startsWith(MetadataColumnPrefix)) {
        throw new RecordError('schema', `value field "${k}" uses the prefix "${MetadataColumnPrefix}" reserved for Kafka metadata columns`);
      }
      doc[k] = x;
    }
  } else if (r.record.value !== null) {
    if (cfg.valueEncoding === 'json') {
      // The table's columns are the value's fields: any other JSON value has nowhere to go.
      throw new RecordError('convert', `value is not a JSON object (got ${Array.isArray(v) ? 'an array' : v === null ? 'null' : typeof v}); the table's columns are an object's fields`);
    }
    doc[meta('value')] = r.valueText;
  }
  const rec = r.record;
  for (const f of cfg.fields) {
    switch (f) {
      case 'topic': doc[meta('topic')] = rec.topic; break;
      case 'partition': doc[meta('partition')] = rec.partition; break;
      case 'offset': doc[meta('offset')] = rec.offset; break;
      // Firehose's Iceberg destination takes timestamp columns as epoch microseconds.
      case 'timestamp': doc[meta('timestamp')] = rec.timestamp * 1000; break;
      case 'key': doc[meta('key')] = r.keyText; break;
      case 'headers': doc[meta('headers')] = JSON.stringify(r.headers); break;
      default: break;
    }
  }
  return doc;
}

/** Document → Kinesis entry; a record over the 1 MiB limit is a RecordError (dead-lettered by the caller). */
export function toEntry(cfg: ForwarderConfig, r: SinkRecord): KinesisEntry {
  const data = Buffer.from(stringifyJsonExact(toDocument(cfg, r)), 'utf8');
  const partitionKey = partitionKeyFor(cfg, r);
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
