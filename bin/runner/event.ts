import { DecodedRecords, type KafkaRecord } from '../../lambdas/shared/decode.ts';

/**
 * Kafka records → the event a Kafka event source mapping hands the function (MSK shape): records keyed
 * `topic-partition`, base64 key/value, headers as a list of one-entry objects of byte arrays.
 */
export interface RunnerRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: bigint;
  /** Epoch milliseconds. */
  readonly timestamp: number;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  /** A null value: Kafka allows a header without one. */
  readonly headers: readonly (readonly [string, Buffer | null])[];
}

/** Size of one record in the event's JSON (base64 grows bytes by 4/3; headers are arrays of numbers). */
export function recordEventBytes(r: RunnerRecord): number {
  const b64 = (n: number) => Math.ceil(n / 3) * 4;
  let size = 150 + r.topic.length + (r.key ? b64(r.key.length) : 4) + (r.value ? b64(r.value.length) : 4);
  for (const [k, v] of r.headers) size += k.length + 8 + (v ? v.length * 4 : 4);
  return size;
}

export function toKafkaEvent(records: readonly RunnerRecord[], source: { eventSource: 'aws:kafka' | 'SelfManagedKafka'; eventSourceArn?: string; bootstrapServers: string }) {
  const grouped: Record<string, unknown[]> = {};
  for (const r of records) {
    (grouped[`${r.topic}-${r.partition}`] ??= []).push({
      topic: r.topic,
      partition: r.partition,
      // Beyond 2^53 a JSON number loses digits: the decimal string, which the sink's decode reads exactly.
      offset: r.offset <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(r.offset) : r.offset.toString(),
      timestamp: r.timestamp,
      timestampType: 'CREATE_TIME',
      ...(r.key === null ? {} : { key: r.key.toString('base64') }),
      value: r.value === null ? null : r.value.toString('base64'),
      headers: r.headers.map(([k, v]) => ({ [k]: v === null ? null : [...v] })),
    });
  }
  return {
    eventSource: source.eventSource,
    ...(source.eventSourceArn ? { eventSourceArn: source.eventSourceArn } : {}),
    bootstrapServers: source.bootstrapServers,
    records: grouped,
  };
}

/**
 * Kafka records → the records the sink's decode stage produces, for its second entry (`handleRecords`): the same
 * Buffers (no copy, no base64, no JSON), headers as {key, value}.
 */
export function toKafkaRecords(records: readonly RunnerRecord[]): KafkaRecord[] {
  const out = new Array<KafkaRecord>(records.length);
  for (let i = 0; i < records.length; i++) {
    const r = records[i];
    const headers = r.headers.length === 0 ? NO_HEADERS : new Array<{ key: string; value: Buffer | null }>(r.headers.length);
    for (let j = 0; j < r.headers.length; j++) (headers as { key: string; value: Buffer | null }[])[j] = { key: r.headers[j][0], value: r.headers[j][1] };
    out[i] = { topic: r.topic, partition: r.partition, offset: r.offset, timestamp: r.timestamp, timestampType: 'CREATE_TIME', key: r.key, value: r.value, headers };
  }
  return out;
}

const NO_HEADERS: readonly { key: string; value: Buffer | null }[] = Object.freeze([]);

/** What the runner hands the sink handler: the records decoded, from this source (the sink's second entry). */
export function toSinkRecords(records: readonly RunnerRecord[], source: { eventSource: 'aws:kafka' | 'SelfManagedKafka'; eventSourceArn?: string }): DecodedRecords {
  return new DecodedRecords(toKafkaRecords(records), source);
}
