/**
 * Stage 1 — decode: Kafka event source event → records grouped by topic-partition, in offset order.
 * Only the event's structure can fail the invocation (EventShapeError): not an object, records not a map of lists,
 * a record that is not an object, a missing or bad offset, a topic/partition that contradicts its map key, one
 * offset twice. A record's own fields (timestamp, key, value, headers) that cannot be decoded make that record
 * `invalid`: it is dead-lettered with the reason and the record as received, and the rest of the batch goes on.
 */
import { EventShapeError } from './errors.ts';

export interface KafkaHeader {
  readonly key: string;
  /** null: Kafka allows a header without a value. */
  readonly value: Buffer | null;
}

export interface KafkaRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: bigint;
  /** Epoch milliseconds as given (Kafka's are int64; -1 is "no timestamp"); range checks happen where it is used. */
  readonly timestamp: number;
  readonly timestampType: string;
  readonly key: Buffer | null;
  /** null = tombstone. */
  readonly value: Buffer | null;
  readonly headers: readonly KafkaHeader[];
  /** Set when a field of this record could not be decoded: the reason, and the record as the event held it. */
  readonly invalid?: { readonly reason: string; readonly received: unknown };
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

/** Where a record sits in the event, for an error message (built only on failure). */
function where(tp: string, i: number): string {
  return `records["${tp}"][${i}]`;
}

function toOffset(raw: unknown, tp: string, i: number): bigint {
  if (typeof raw === 'bigint' && raw >= 0n) return raw;
  if (typeof raw === 'number' && Number.isSafeInteger(raw) && raw >= 0) return BigInt(raw);
  if (typeof raw === 'string' && /^\d{1,19}$/.test(raw)) return BigInt(raw);
  return fail(`${where(tp, i)}.offset must be a non-negative integer, got ${JSON.stringify(String(raw))}`);
}

/** A problem with one record's own field: the record is dead-lettered, the event goes on. */
class FieldError extends Error {}

function toBytes(raw: unknown, field: string): Buffer | null {
  if (raw === null || raw === undefined) return null;
  if (typeof raw !== 'string' || raw.length % 4 !== 0) throw new FieldError(`${field} is not a base64 string or null`);
  const buf = Buffer.from(raw, 'base64');
  // Buffer.from skips characters outside the alphabet, so a length check catches them without a regex pass.
  const padding = raw.endsWith('==') ? 2 : raw.endsWith('=') ? 1 : 0;
  if (buf.length !== (raw.length / 4) * 3 - padding) throw new FieldError(`${field} is not a base64 string or null`);
  return buf;
}

function toHeaders(raw: unknown): KafkaHeader[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) throw new FieldError('headers is not a list');
  const out: KafkaHeader[] = [];
  for (const entry of raw) {
    if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) {
      throw new FieldError('a headers entry is not an object like {"name": [bytes]}');
    }
    // Each entry holds one header; names may repeat across entries, so order is kept as given.
    const names = Object.keys(entry);
    for (let n = 0; n < names.length; n++) {
      const key = names[n];
      const bytes = (entry as Record<string, unknown>)[key];
      if (bytes === null) {
        out.push({ key, value: null });
        continue;
      }
      if (!Array.isArray(bytes)) throw new FieldError(`header ${JSON.stringify(key)} is not a list of bytes or null`);
      const buf = Buffer.allocUnsafe(bytes.length);
      for (let i = 0; i < bytes.length; i++) {
        const b = bytes[i];
        if (typeof b !== 'number' || !Number.isInteger(b) || b < -128 || b > 255) {
          throw new FieldError(`header ${JSON.stringify(key)} byte ${i} is not a byte`);
        }
        buf[i] = b & 0xff; // Java bytes arrive signed
      }
      out.push({ key, value: buf });
    }
  }
  return out;
}

function toTimestamp(raw: unknown): number {
  const t = typeof raw === 'string' && /^-?\d{1,19}$/.test(raw) ? Number(raw) : raw;
  if (typeof t !== 'number' || !Number.isInteger(t)) throw new FieldError(`timestamp ${describeRaw(raw)} is not an integer of epoch milliseconds`);
  return t;
}

function describeRaw(raw: unknown): string {
  const text = typeof raw === 'string' ? JSON.stringify(raw) : String(raw);
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}

/**
 * Records already decoded, handed to the sink handler in place of an event (the local runner; a Lambda event is
 * JSON and can never be one): the handler runs them through `decodeRecords`, then the same pipeline.
 */
export class DecodedRecords {
  readonly records: readonly KafkaRecord[];
  readonly eventSource?: DecodedEvent['eventSource'];
  readonly eventSourceArn?: string;
  constructor(records: readonly KafkaRecord[], source: { eventSource?: DecodedEvent['eventSource']; eventSourceArn?: string } = {}) {
    this.records = records;
    this.eventSource = source.eventSource;
    this.eventSourceArn = source.eventSourceArn;
  }
}

/**
 * The second entry: records already decoded (the local runner's consumer hands over Buffers, no base64 or JSON in
 * between), checked and grouped exactly as `decodeEvent` groups an event's records. Structural faults fail the batch
 * (EventShapeError, as for an event): a missing topic, a bad partition or offset, one offset twice. A record whose
 * own fields are wrong (timestamp not an integer, key/value not bytes or null, malformed headers) is dead-lettered,
 * `received` holding it as the event would have held it, so the dead letter is the one the event path writes.
 * Valid records are passed on as given (no copy).
 */
export function decodeRecords(input: readonly KafkaRecord[], source: { eventSource?: DecodedEvent['eventSource']; eventSourceArn?: string } = {}): DecodedEvent {
  if (!Array.isArray(input)) fail('records must be a list');
  const byPartition = new Map<string, { topic: string; partition: number; records: KafkaRecord[]; ordered: boolean }>();
  let last: { topic: string; partition: number; records: KafkaRecord[]; ordered: boolean } | undefined;
  for (let i = 0; i < input.length; i++) {
    const r = input[i];
    if (r === null || typeof r !== 'object') fail(`records[${i}] is not an object`);
    const { topic, partition } = r;
    if (typeof topic !== 'string' || topic === '') fail(`records[${i}].topic must be a non-empty string`);
    if (typeof partition !== 'number' || !Number.isSafeInteger(partition) || partition < 0 || partition > 2 ** 31 - 1) {
      fail(`records[${i}].partition ${JSON.stringify(String(partition))} is not a Kafka partition number`);
    }
    const offset = r.offset;
    // The event path accepts offsets of up to 19 decimal digits; so does this one.
    if (typeof offset !== 'bigint' || offset < 0n || offset > 9_999_999_999_999_999_999n) {
      fail(`records[${i}].offset must be a non-negative integer, got ${JSON.stringify(String(offset))}`);
    }
    // Consecutive records of one partition (the usual case) find their group without a lookup.
    let group = last !== undefined && last.partition === partition && last.topic === topic ? last : undefined;
    if (!group) {
      const id = `${topic}\u0000${partition}`;
      group = byPartition.get(id);
      if (!group) byPartition.set(id, (group = { topic, partition, records: [], ordered: true }));
      last = group;
    }
    const records = group.records;
    if (records.length > 0 && offset <= records[records.length - 1].offset) group.ordered = false;
    const problem = r.invalid ? undefined : recordProblem(r);
    if (r.invalid || problem === undefined) records.push(r);
    else {
      records.push({
        topic, partition, offset, timestamp: 0, timestampType: 'CREATE_TIME', key: null, value: null, headers: [],
        invalid: { reason: `record ${problem}`, received: eventRecordOf(r) },
      });
    }
  }
  return finish(byPartition, source.eventSource ?? 'SelfManagedKafka', source.eventSourceArn);
}

/** What the field checks of `decodeEvent` would say about a decoded record, or undefined when it is sound. */
function recordProblem(r: KafkaRecord): string | undefined {
  if (typeof r.timestamp !== 'number' || !Number.isInteger(r.timestamp)) return `timestamp ${describeRaw(r.timestamp)} is not an integer of epoch milliseconds`;
  if (typeof r.timestampType !== 'string') return 'timestampType is not a string';
  if (r.key !== null && !Buffer.isBuffer(r.key)) return 'key is not bytes or null';
  if (r.value !== null && !Buffer.isBuffer(r.value)) return 'value is not bytes or null';
  if (!Array.isArray(r.headers)) return 'headers is not a list';
  for (const h of r.headers) {
    if (h === null || typeof h !== 'object' || typeof h.key !== 'string') return 'a headers entry is not {key, value}';
    if (h.value !== null && !Buffer.isBuffer(h.value)) return `header ${JSON.stringify(h.key)} is not bytes or null`;
  }
  return undefined;
}

/**
 * One record as a Kafka event source event holds it (MSK shape: base64 key/value, headers as one-entry objects of
 * byte arrays; an offset beyond 2^53 as its decimal string, which `decodeEvent` reads exactly).
 */
export function eventRecordOf(r: KafkaRecord): Record<string, unknown> {
  const offset = r.offset <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(r.offset) : r.offset.toString();
  const bytes = (b: unknown) => (Buffer.isBuffer(b) ? b.toString('base64') : b);
  return {
    topic: r.topic,
    partition: r.partition,
    offset,
    timestamp: r.timestamp,
    timestampType: r.timestampType,
    ...(r.key === null ? {} : { key: bytes(r.key) }),
    value: r.value === null ? null : bytes(r.value),
    headers: Array.isArray(r.headers)
      ? r.headers.map((h) => (h !== null && typeof h === 'object' ? { [h.key]: Buffer.isBuffer(h.value) ? [...h.value] : h.value } : h))
      : r.headers,
  };
}

type Groups = Map<string, { topic: string; partition: number; records: KafkaRecord[]; ordered: boolean }>;

function finish(byPartition: Groups, eventSource: DecodedEvent['eventSource'], eventSourceArn: string | undefined): DecodedEvent {
  const partitions: PartitionBatch[] = [];
  let recordCount = 0;
  for (const { topic, partition, records, ordered } of byPartition.values()) {
    // The event source delivers offset order; if not, sort. One offset twice is not a record problem: the event is wrong.
    if (!ordered) {
      records.sort((a, b) => (a.offset < b.offset ? -1 : a.offset > b.offset ? 1 : 0));
      for (let i = 1; i < records.length; i++) {
        if (records[i].offset === records[i - 1].offset) fail(`topic-partition ${topic}-${partition} holds offset ${records[i].offset} twice`);
      }
    }
    recordCount += records.length;
    partitions.push({ topic, partition, records });
  }
  return { eventSource, eventSourceArn, partitions, recordCount };
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
  // Two map keys can name one topic-partition ("orders-0", "orders-00"): their records are merged, never one
  // object overwriting the other's.
  const byPartition = new Map<string, { topic: string; partition: number; records: KafkaRecord[]; ordered: boolean }>();
  for (const [tp, list] of Object.entries(e.records as Record<string, unknown>)) {
    if (!Array.isArray(list)) fail(`records["${tp}"] must be a list`);
    const m = /^(.+)-(\d+)$/.exec(tp);
    if (!m) fail(`records key "${tp}" is not "topic-partition"`);
    const [, topic, partText] = m;
    const partition = Number(partText);
    if (!Number.isSafeInteger(partition) || partition > 2 ** 31 - 1) fail(`records key "${tp}": partition ${partText} is not a Kafka partition number`);
    const id = `${topic}\u0000${partition}`;
    let group = byPartition.get(id);
    if (!group) byPartition.set(id, (group = { topic, partition, records: [], ordered: true }));
    else group.ordered = false;
    const records = group.records;
    const first = records.length;
    for (let i = 0; i < list.length; i++) {
      // Error locations are built only on failure: this loop runs for every record of a 6 MB batch.
      const r = list[i] as Record<string, unknown>;
      if (r === null || typeof r !== 'object') fail(`${where(tp, i)} is not an object`);
      if (r.topic !== undefined && r.topic !== topic) fail(`${where(tp, i)}.topic "${String(r.topic)}" does not match "${tp}"`);
      if (r.partition !== undefined && r.partition !== partition && Number(r.partition) !== partition) {
        fail(`${where(tp, i)}.partition does not match "${tp}"`);
      }
      const offset = toOffset(r.offset, tp, i);
      let record: KafkaRecord;
      try {
        record = {
          topic,
          partition,
          offset,
          timestamp: toTimestamp(r.timestamp),
          timestampType: typeof r.timestampType === 'string' ? r.timestampType : 'CREATE_TIME',
          key: toBytes(r.key, 'key'),
          value: toBytes(r.value, 'value'),
          headers: toHeaders(r.headers),
        };
      } catch (err) {
        if (!(err instanceof FieldError)) throw err;
        record = {
          topic, partition, offset, timestamp: 0, timestampType: 'CREATE_TIME', key: null, value: null, headers: [],
          invalid: { reason: `record ${err.message}`, received: r },
        };
      }
      if (i > 0 && record.offset <= records[first + i - 1].offset) group.ordered = false;
      records.push(record);
    }
  }
  return finish(byPartition, e.eventSource as DecodedEvent['eventSource'], typeof e.eventSourceArn === 'string' ? e.eventSourceArn : undefined);
}
