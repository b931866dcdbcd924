import { randomUUID } from 'node:crypto';
import { Consumer, type Message, type MessageToProduce, ProduceAcks, Producer } from '@platformatic/kafka';
import { expect, it } from 'vitest';
import { createTopic } from './kafka.ts';
import { describeKafka } from './kafka-context.ts';

const COUNT = 1_000;
const PARTITIONS = 3;

/** Message i: key k-<i>; every 7th a tombstone (null value), every 11th otherwise an empty (non-null) value. */
function produced(topic: string, i: number): MessageToProduce {
  const value = i % 7 === 0 ? undefined : i % 11 === 0 ? Buffer.alloc(0) : Buffer.from(`value-${i}`);
  // Distinct Buffer objects are distinct Map keys: this is how a header name is repeated.
  const headers = new Map<Buffer, Buffer>([
    [Buffer.from('rep'), Buffer.from('first')],
    [Buffer.from('idx'), Buffer.from(String(i))],
    [Buffer.from('rep'), Buffer.from(`second-${i}`)],
  ]);
  return { topic, key: Buffer.from(`k-${i}`), value, headers };
}

function consumeAll(consumer: Consumer, topic: string, count: number): Promise<{ messages: Message[]; close(): Promise<void> }> {
  return consumer.consume({ topics: [topic], mode: 'earliest', autocommit: false, maxWaitTime: 200 }).then(
    (stream) =>
      new Promise((resolve, reject) => {
        const messages: Message[] = [];
        const timer = setTimeout(() => reject(new Error(`consumed ${messages.length} of ${count} messages in 30 s`)), 30_000);
        stream.on('error', (err) => {
          clearTimeout(timer);
          reject(err);
        });
        stream.on('data', (m) => {
          messages.push(m);
          if (messages.length === count) {
            clearTimeout(timer);
            resolve({ messages, close: () => stream.close() });
          }
        });
      }),
  );
}

describeKafka('test harness: Kafka broker + @platformatic/kafka', ({ bootstrap }) => {
  it('round-trips keys, repeated headers and tombstones, and stores committed offsets', async () => {
    const topic = `harness-${randomUUID()}`;
    await createTopic(bootstrap, topic, PARTITIONS);

    const producer = new Producer({ clientId: 'harness-producer', bootstrapBrokers: [bootstrap], acks: ProduceAcks.ALL });
    try {
      for (let start = 0; start < COUNT; start += 100) {
        const batch = Array.from({ length: 100 }, (_, j) => produced(topic, start + j));
        await producer.send({ messages: batch });
      }
    } finally {
      await producer.close();
    }

    const consumer = new Consumer({ clientId: 'harness-consumer', groupId: `harness-${randomUUID()}`, bootstrapBrokers: [bootstrap] });
    try {
      const { messages, close } = await consumeAll(consumer, topic, COUNT);
      try {
        expect(messages).toHaveLength(COUNT);

        const byPartition = new Map<number, Message[]>();
        for (const m of messages) {
          expect(m.topic).toBe(topic);
          byPartition.set(m.partition, [...(byPartition.get(m.partition) ?? []), m]);
        }
        // The default partitioner hashes the keys: with 1,000 keys every partition gets some.
        expect([...byPartition.keys()].sort()).toEqual([0, 1, 2]);

        const seen = new Set<number>();
        for (const [, msgs] of byPartition) {
          // Offsets 0..n-1 in order, and the producer's order kept within the partition.
          expect(msgs.map((m) => m.offset)).toEqual(msgs.map((_, j) => BigInt(j)));
          const idx = msgs.map((m) => Number(m.headerEntries[1][1].toString()));
          expect(idx).toEqual([...idx].sort((a, b) => a - b));
          for (const m of msgs) {
            const i = Number(m.headerEntries[1][1].toString());
            seen.add(i);
            expect(m.key?.toString()).toBe(`k-${i}`);
            expect(m.headerEntries.map(([k, v]) => [k.toString(), v.toString()])).toEqual([
              ['rep', 'first'],
              ['idx', String(i)],
              ['rep', `second-${i}`],
            ]);
            if (i % 7 === 0) expect(m.value).toBeUndefined(); // null on the wire: a tombstone
            else if (i % 11 === 0) expect(m.value).toEqual(Buffer.alloc(0));
            else expect(m.value?.toString()).toBe(`value-${i}`);
          }
        }
        expect(seen.size).toBe(COUNT);

        const offsets = [...byPartition].map(([partition, msgs]) => {
          const last = msgs[msgs.length - 1];
          return { topic, partition, offset: last.offset + 1n, leaderEpoch: last.leaderEpoch };
        });
        await consumer.commit({ offsets });
        const perPartition = [0, 1, 2].map((p) => BigInt(byPartition.get(p)?.length ?? -1));
        const committed = await consumer.listCommittedOffsets({ topics: [{ topic, partitions: [0, 1, 2] }] });
        expect(committed.get(topic)).toEqual(perPartition);
        // The broker holds exactly what was consumed (a producer retry would have appended duplicates), and nothing
        // more arrived on the stream meanwhile.
        expect((await consumer.listOffsets({ topics: [topic] })).get(topic)).toEqual(perPartition);
        expect(messages).toHaveLength(COUNT);
      } finally {
        await close();
      }
    } finally {
      await consumer.close();
    }
  });
});
