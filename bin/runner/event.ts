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
      offset: Number(r.offset),
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
