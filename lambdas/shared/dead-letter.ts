/**
 * Dead letters: records that cannot be written are kept, never dropped, as JSON lines under ERROR_PREFIX with the
 * raw key/value (base64), headers, coordinates, timestamp, stage and reason. One object per partition and claim,
 * keyed by the claim's start like the data objects, so a retry rewrites the same dead-letter object.
 */
import type { SinkConfig } from './config.ts';
import type { KafkaRecord } from './decode.ts';
import type { RecordStage } from './errors.ts';
import { createHash } from 'node:crypto';
import { Limits } from './constants.ts';
import { stringifyJsonExact } from './json.ts';
import { padOffset, safeKeyValue } from './key-template.ts';

export interface DeadLetter {
  readonly record: KafkaRecord;
  readonly stage: RecordStage;
  readonly reason: string;
}

export interface DeadLetterObject {
  readonly key: string;
  readonly body: Buffer;
  readonly count: number;
  readonly topic: string;
  readonly partition: number;
}

export function deadLetterLine(d: DeadLetter): string {
  const r = d.record;
  if (r.invalid) {
    // Fields that could not be decoded are kept as the event held them.
    return stringifyJsonExact({
      topic: r.topic, partition: r.partition, offset: r.offset.toString(), timestamp: null, timestampType: null,
      key: null, value: null, headers: [], received: r.invalid.received, stage: d.stage, reason: d.reason,
    });
  }
  return JSON.stringify({
    topic: r.topic,
    partition: r.partition,
    offset: r.offset.toString(),
    timestamp: r.timestamp,
    timestampType: r.timestampType,
    key: r.key === null ? null : r.key.toString('base64'),
    value: r.value === null ? null : r.value.toString('base64'),
    headers: r.headers.map((h) => ({ key: h.key, value: h.value === null ? null : h.value.toString('base64') })),
    stage: d.stage,
    reason: d.reason,
  });
}

/** The dead-letter object of one partition's claim (or batch) starting at `start`. */
export function deadLetterKey(errorPrefix: string, topic: string, partition: number, start: bigint): string {
  let t = safeKeyValue(topic);
  let key = `${errorPrefix}${t}/partition=${partition}/${t}+${partition}+${padOffset(start)}.jsonl`;
  if (Buffer.byteLength(key) > Limits.maxKeyBytes) {
    // A long prefix and topic must not make the dead-letter upload fail: the topic shrinks to a hash.
    t = createHash('sha256').update(topic).digest('hex').slice(0, 32);
    key = `${errorPrefix}${t}/partition=${partition}/${t}+${partition}+${padOffset(start)}.jsonl`;
  }
  return key;
}

/**
 * Dead letters of one batch → one object per topic-partition, keyed by the partition's claim start (progress.ts)
 * or, without one, its first dead letter's offset.
 */
export function planDeadLetters(
  cfg: Pick<SinkConfig, 'errorPrefix'>,
  letters: readonly DeadLetter[],
  claimStart?: (topic: string, partition: number) => bigint | undefined,
): DeadLetterObject[] {
  const groups = new Map<string, DeadLetter[]>();
  const sorted = [...letters].sort((a, b) => (a.record.offset < b.record.offset ? -1 : a.record.offset > b.record.offset ? 1 : 0));
  for (const d of sorted) {
    const g = `${d.record.topic}\u0000${d.record.partition}`;
    const list = groups.get(g);
    if (list) list.push(d);
    else groups.set(g, [d]);
  }
  return [...groups.values()].map((list) => {
    const { topic, partition, offset } = list[0].record;
    return {
      key: deadLetterKey(cfg.errorPrefix, topic, partition, claimStart?.(topic, partition) ?? offset),
      body: Buffer.from(list.map(deadLetterLine).join('\n') + '\n'),
      count: list.length,
      topic,
      partition,
    };
  });
}
