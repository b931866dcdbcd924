/**
 * Stage 1 — decode: Kafka event source event → records grouped by topic-partition, in offset order.
 * A malformed event throws EventShapeError (the invocation fails); nothing here is a per-record decision.
 */
import { EventShapeError } from './errors.ts';

export interface KafkaHeader {
  readonly key: string;
  readonly value: Buffer;
}

export interface KafkaRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: bigint;
  /** Epoch milliseconds. */
  readonly timestamp: number;
  readonly timestampType: string;
  readonly key: Buffer | null;
  /** null = tombstone. */
  readonly value: Buffer | null;
  readonly headers: readonly KafkaHeader[];
}

export interface PartitionBatch {
  readonly topic: string;
  readonly partition: number;
  /** Sorted by offset, no duplicates. */
  readonly records: readonly KafkaRecord[];
}

export interface DecodedEvent {
  readonly eventSource: 'aws:kafka' | 'SelfManagedKafka';
  readonly eventSourceArn?: string;
  readonly partitions: readonly PartitionBatch[];
  readonly recordCount: number;
}


function fail(message: string): never {
  throw new EventShapeError(`Malformed Kafka event: ${message}`);
}

function toOffset(raw: unknown, where: () => string): bigint {
  if (typeof raw === 'bigint' && raw >= 0n) return raw;
  if (typeof raw === 'number' && Number.isSafeInteger(raw) && raw >= 0) return BigInt(raw);
  if (typeof raw === 'string' && /^\d{1,19}$/.test(raw)) return BigInt(raw);
  return fail(`${where()}.offset must be a non-negative integer, got ${JSON.stringify(String(raw))}`);
}

function toBytes(raw: unknown, where: () => string, field: string): Buffer | null {
  if (raw === null || raw === undefined) return null;
  if (typeof raw !== 'string' || raw.length % 4 !== 0) return fail(`${where()}.${field} must be a base64 string or null`);
  const buf = Buffer.from(raw, 'base64');
  // Buffer.from skips characters outside the alphabet, so a length check catches them without a regex pass.
  const padding = raw.endsWith('==') ? 2 : raw.endsWith('=') ? 1 : 0;
  if (buf.length !== (raw.length / 4) * 3 - padding) return fail(`${where()}.${field} must be a base64 string or null`);
  return buf;
}

function toHeaders(raw: unknown, where: () => string): KafkaHeader[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) return fail(`${where()}.headers must be a list`);
  const out: KafkaHeader[] = [];
  for (const entry of raw) {
    if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) {
      return fail(`${where()}.headers entries must be objects like {"name": [bytes]}`);
    }
    // Each entry holds one header; names may repeat across entries, so order is kept as given.
    for (const [key, bytes] of Object.entries(entry as Record<string, unknown>)) {
      if (!Array.isArray(bytes)) return fail(`${where()}.headers["${key}"] must be a list of bytes`);
      const buf = Buffer.allocUnsafe(bytes.length);
      for (let i = 0; i < bytes.length; i++) {
        const b = bytes[i];
        if (typeof b !== 'number' || !Number.isInteger(b) || b < -128 || b > 255) {
          return fail(`${where()}.headers["${key}"][${i}] is not a byte`);
        }
        buf[i] = b & 0xff; // Java bytes arrive signed
      }
      out.push({ key, value: buf });
    }
  }
  return out;
}

export function decodeEvent(event: unknown): DecodedEvent {
  if (event === null || typeof event !== 'object') fail('event is not an object');
  const e = event as Record<string, unknown>;
  if (e.eventSource !== 'aws:kafka' && e.eventSource !== 'SelfManagedKafka') {
    fail(`eventSource must be "aws:kafka" or "SelfManagedKafka", got ${JSON.stringify(e.eventSource)}`);
  }
  if (e.records === null || typeof e.records !== 'object' || Array.isArray(e.records)) {
    fail('records must be an object keyed "topic-partition"');
  }
  const partitions: PartitionBatch[] = [];
  let recordCount = 0;
  for (const [tp, list] of Object.entries(e.records as Record<string, unknown>)) {
    if (!Array.isArray(list)) fail(`records["${tp}"] must be a list`);
    const m = /^(.+)-(\d+)$/.exec(tp);
    if (!m) fail(`records key "${tp}" is not "topic-partition"`);
    const [, topic, partText] = m;
    const partition = Number(partText);
    const records: KafkaRecord[] = new Array(list.length);
    let ordered = true;
    for (let i = 0; i < list.length; i++) {
      // Error locations are built only on failure: this loop runs for every record of a 6 MB batch.
      const where = () => `records["${tp}"][${i}]`;
      const r = list[i] as Record<string, unknown>;
      if (r === null || typeof r !== 'object') fail(`${where()} is not an object`);
      if (r.topic !== undefined && r.topic !== topic) fail(`${where()}.topic "${String(r.topic)}" does not match "${tp}"`);
      if (r.partition !== undefined && r.partition !== partition && Number(r.partition) !== partition) {
        fail(`${where()}.partition does not match "${tp}"`);
      }
      const timestamp = typeof r.timestamp === 'string' ? Number(r.timestamp) : r.timestamp;
      // Whole milliseconds within the range of a Date: encoders turn them into BigInt and ISO-8601 text.
      if (typeof timestamp !== 'number' || !Number.isInteger(timestamp) || Math.abs(timestamp) > 8.64e15) {
        fail(`${where()}.timestamp must be epoch milliseconds`);
      }
      const record: KafkaRecord = {
        topic,
        partition,
        offset: toOffset(r.offset, where),
        timestamp,
        timestampType: typeof r.timestampType === 'string' ? r.timestampType : 'CREATE_TIME',
        key: toBytes(r.key, where, 'key'),
        value: toBytes(r.value, where, 'value'),
        headers: toHeaders(r.headers, where),
      };
      if (i > 0 && record.offset <= records[i - 1].offset) ordered = false;
      records[i] = record;
    }
    // The event source delivers offset order; if not, sort. One offset twice is not a record problem: the event is wrong.
    const unique = ordered ? records : records.sort((a, b) => (a.offset < b.offset ? -1 : a.offset > b.offset ? 1 : 0));
    if (!ordered) {
      for (let i = 1; i < unique.length; i++) {
        if (unique[i].offset === unique[i - 1].offset) fail(`records["${tp}"] holds offset ${unique[i].offset} twice`);
      }
    }
    recordCount += unique.length;
    partitions.push({ topic, partition, records: unique });
  }
  return {
    eventSource: e.eventSource as DecodedEvent['eventSource'],
    eventSourceArn: typeof e.eventSourceArn === 'string' ? e.eventSourceArn : undefined,
    partitions,
    recordCount,
  };
}
