/** Replay tests' records and reader: what the sink is given, and what landed in a topic. */
import { randomUUID } from 'node:crypto';
import { Consumer, type Message } from '@platformatic/kafka';
import type { S3Client } from '@aws-sdk/client-s3';
import { afterAll, inject } from 'vitest';
import { KafkaTarget } from '../../lambdas/replay/target.ts';
import type { RecordSpec } from './events.ts';
import { kafkaOrSkip } from './kafka-context.ts';
import type { ProvidedS3 } from './s3-context.ts';
import { s3ClientFor } from './versitygw.ts';

export const PARTITIONS = 3;
export const PER_PARTITION = 120;
/** 2026-01-01T10:00:00Z: records alternate between the hours before and after it. */
const HOUR = Date.UTC(2026, 0, 1, 10);

export interface Sent {
  readonly partition: number;
  readonly offset: number;
  readonly key: string | null;
  readonly value: string;
  readonly headers: [string, string][];
  readonly timestamp: number;
}

/** Records of every partition: keys (some null), nested JSON values with an int64 beyond a double, repeated headers. */
export function records(perPartition = PER_PARTITION): Sent[] {
  const out: Sent[] = [];
  for (let p = 0; p < PARTITIONS; p++) {
    for (let o = 0; o < perPartition; o++) {
      const i = p * 1000 + o;
      out.push({
        partition: p,
        offset: 100 + o,
        key: o % 13 === 0 ? null : `cust-${i % 50}`,
        value: JSON.stringify({ order_id: `ord-${i}`, amount: (i % 97) + 0.25, big: `__BIG${i}__`, shipping: { city: ['Lyon', 'Graz'][i % 2], zip: String(10_000 + i) }, lines: [{ sku: `S-${i % 7}`, qty: (i % 3) + 1 }] })
          .replace(`"__BIG${i}__"`, String(9_007_199_254_740_993n + BigInt(i))),
        headers: [['trace', `t-${i}`], ['dup', 'a'], ['dup', `b-${i}`]],
        timestamp: HOUR + (o % 2 === 0 ? -60_000 : 60_000) + o,
      });
    }
  }
  return out;
}

export const spec = (topic: string, r: Sent): RecordSpec => ({ topic, partition: r.partition, offset: r.offset, timestamp: r.timestamp, key: r.key, value: r.value, headers: r.headers });

/**
 * Every record of a topic, read by a consumer group from the start, in partition and offset order: once `count` have
 * arrived, a moment more (a record beyond the count, a duplicate, would arrive then). Throws after `timeoutMs` with
 * fewer, unless `allowShort` (then what arrived).
 */
export async function readTopic(bootstrap: string, topic: string, count: number, o: { timeoutMs?: number; allowShort?: boolean } = {}): Promise<Message[]> {
  const consumer = new Consumer({ clientId: 'replay-check', groupId: `replay-check-${randomUUID()}`, bootstrapBrokers: [bootstrap] });
  try {
    const stream = await consumer.consume({ topics: [topic], mode: 'earliest', autocommit: false, maxWaitTime: 200 });
    const messages: Message[] = [];
    const timeoutMs = o.timeoutMs ?? 30_000;
    await new Promise<void>((resolve, reject) => {
      let timer = setTimeout(() => (o.allowShort ? resolve() : reject(new Error(`read ${messages.length} of ${count} records of ${topic} in ${timeoutMs / 1000} s`))), timeoutMs);
      stream.on('error', reject);
      stream.on('data', (m: Message) => {
        messages.push(m);
        if (messages.length === count) {
          clearTimeout(timer);
          timer = setTimeout(resolve, 1500);
        }
      });
    });
    await stream.close();
    return messages.sort((a, b) => a.partition - b.partition || (a.offset < b.offset ? -1 : a.offset > b.offset ? 1 : 0));
  } finally {
    await consumer.close();
  }
}

/**
 * What a replay test on the shared servers needs (inside describeKafka): the S3 server, a client of it, and targets
 * that are closed after the suite.
 */
export function replayHarness(): { s3: ProvidedS3; client: S3Client; target: (clientId: string) => KafkaTarget; track: <T extends KafkaTarget>(t: T) => T } {
  const s3 = inject('s3');
  if (!s3) throw new Error(`needs the S3 server: ${inject('s3Unavailable')}`);
  const client = s3ClientFor(s3);
  const targets: KafkaTarget[] = [];
  afterAll(async () => {
    for (const t of targets) await t.close();
  });
  const track = <T extends KafkaTarget>(t: T): T => {
    targets.push(t);
    return t;
  };
  return { s3, client, target: (clientId) => track(new KafkaTarget({ brokers: [kafkaOrSkip()!.bootstrap], clientId })), track };
}

