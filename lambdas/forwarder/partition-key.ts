/**
 * The Kinesis partition key of a record. It only picks the shard, so it is derived from the Kafka key's raw bytes
 * whatever FIELDS and KEY_ENCODING say: the key as text when it is UTF-8, else its base64 form — a binary key that
 * is not written to the table never dead-letters its record. Records of one key share a partition key, so they stay
 * on one shard in offset order.
 *
 * Kinesis takes at most 256 characters. A longer key becomes its first 200 UTF-16 units, cut between code points
 * (never inside a surrogate pair: half an emoji is not Unicode), then `~` and 40 hex digits of its SHA-256, so one
 * key always maps to one partition key and distinct keys almost surely to distinct ones. Lengths are counted in
 * UTF-16 units, so the key fits however the limit counts characters (UTF-16 units or code points).
 */
import { isUtf8 } from 'node:buffer';
import { createHash } from 'node:crypto';
import type { KafkaRecord } from '../shared/decode.ts';
import type { ForwarderConfig } from './config.ts';

export const MaxPartitionKeyLength = 256;
const KEPT_PREFIX = 200;

/** Any text → a partition key of at most 256 UTF-16 units (see the module comment). */
export function fitPartitionKey(raw: string): string {
  if (raw.length <= MaxPartitionKeyLength) return raw;
  let cut = KEPT_PREFIX;
  const last = raw.charCodeAt(cut - 1);
  if (last >= 0xd800 && last <= 0xdbff) cut--; // a high surrogate: its pair starts the part that is cut off
  return `${raw.slice(0, cut)}~${createHash('sha256').update(raw).digest('hex').slice(0, 40)}`;
}

/** The Kafka key as partition-key text: UTF-8 text, else base64. */
export function keyPartitionText(key: Buffer): string {
  return isUtf8(key) ? key.toString('utf8') : key.toString('base64');
}

/** The partition key: the Kafka key (records without one, or with an empty one, use topic-partition), or topic-partition. */
export function partitionKeyFor(cfg: Pick<ForwarderConfig, 'partitionKey'>, r: Pick<KafkaRecord, 'key' | 'topic' | 'partition'>): string {
  const raw = cfg.partitionKey === 'key' && r.key !== null && r.key.length > 0 ? keyPartitionText(r.key) : `${r.topic}-${r.partition}`;
  return fitPartitionKey(raw);
}
