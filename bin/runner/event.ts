import { DecodedRecords, eventRecordOf, type KafkaRecord } from '../../lambdas/shared/decode.ts';

/**
 * A record as the runner's sources hand it out: the shape the sink's decode stage produces (`KafkaRecord`), so the
 * runner passes its batches to the sink's second entry as they are, with no second object per record.
 */
export type RunnerRecord = Omit<KafkaRecord, 'invalid'>;

/** Size of one record in the event's JSON (base64 grows bytes by 4/3; headers are arrays of numbers). */
export function recordEventBytes(r: RunnerRecord): number {
  const b64 = (n: number) => Math.ceil(n / 3) * 4;
  let size = 150 + r.topic.length + (r.key ? b64(r.key.length) : 4) + (r.value ? b64(r.value.length) : 4);
  const headers = r.headers;
  for (let i = 0; i < headers.length; i++) size += headers[i].key.length + 8 + (headers[i].value ? headers[i].value!.length * 4 : 4);
  return size;
}

/**
 * Kafka records → the event a Kafka event source mapping hands the function (MSK shape): records keyed
 * `topic-partition`, base64 key/value, headers as a list of one-entry objects of byte arrays.
 */
export function toKafkaEvent(records: readonly RunnerRecord[], source: { eventSource: 'aws:kafka' | 'SelfManagedKafka'; eventSourceArn?: string; bootstrapServers: string }) {
  const grouped: Record<string, unknown[]> = {};
  for (const r of records) (grouped[`${r.topic}-${r.partition}`] ??= []).push(eventRecordOf(r));
  return {
    eventSource: source.eventSource,
    ...(source.eventSourceArn ? { eventSourceArn: source.eventSourceArn } : {}),
    bootstrapServers: source.bootstrapServers,
    records: grouped,
  };
}

/** What the runner hands the sink handler: its records as decoded records, from this source (the sink's second entry). */
export function toSinkRecords(records: readonly RunnerRecord[], source: { eventSource: 'aws:kafka' | 'SelfManagedKafka'; eventSourceArn?: string }): DecodedRecords {
  return new DecodedRecords(records, source);
}
