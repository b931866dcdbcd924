/**
 * The Kafka source reads with the client's fetch (bin/runner/kafka-source.ts), so what the client's message stream
 * did for it is its own job, and each is attacked here on a real broker:
 * - transactions: aborted records are never handed out, transaction markers (control batches) move the position
 *   without a record, and the position reaches the partition's end (lag 0: the stall watchdog must not see records
 *   left where only markers are);
 * - a topic with LogAppendTime: the broker's time and that type, not the producer's timestamp;
 * - records deleted under the position (retention, DeleteRecords) while it reads: the fetch is refused as out of
 *   range, and the source starts again at the log's start, without an error and without a record twice;
 * - a partition added to a topic while it reads: the client starts no rebalance for it, the source does;
 * - `keepCurrent` keeps exactly the records `isCurrent` keeps, whatever the runs of partitions and generations.
 */
import { randomUUID } from 'node:crypto';
import { Admin, Producer, ProduceAcks } from '@platformatic/kafka';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { RunnerRecord } from '../../../bin/runner/event.ts';
import { GENERATION, KafkaSource } from '../../../bin/runner/kafka-source.ts';
import { describeKafka } from '../../support/kafka-context.ts';
import { createTopic } from '../../support/kafka.ts';

/** Reads records until `done` says so (or the time is up), then closes the source. */
async function readUntil(source: KafkaSource, done: (seen: RunnerRecord[]) => boolean, onChunk?: (seen: RunnerRecord[]) => Promise<void>): Promise<RunnerRecord[]> {
  const seen: RunnerRecord[] = [];
  const deadline = Date.now() + 60_000;
  // Closing ends the chunks: the loop below then ends with what it has, for the assertions to say what is missing.
  const timer = setTimeout(() => void source.close().catch(() => {}), 60_000);
  try {
    for await (const chunk of source.chunks()) {
      seen.push(...chunk);
      await onChunk?.(seen);
      if (done(seen) || Date.now() > deadline) break;
    }
  } finally {
    clearTimeout(timer);
    await source.close();
  }
  return seen;
}

/** A new 1-partition topic, written by `write` with a transactional producer of its own. */
async function transactionalTopic(bootstrap: string, name: string, write: (producer: Producer, topic: string) => Promise<void>): Promise<string> {
  const topic = `${name}-${randomUUID().slice(0, 8)}`;
  await createTopic(bootstrap, topic, 1);
  const producer = new Producer({ clientId: 'txn-test', bootstrapBrokers: [bootstrap], idempotent: true, transactionalId: topic, acks: ProduceAcks.ALL });
  try {
    await write(producer, topic);
  } finally {
    await producer.close();
  }
  return topic;
}

/** One transaction of `values` to partition 0, committed or aborted. */
async function transaction(producer: Producer, topic: string, commit: boolean, values: string[]): Promise<void> {
  const txn = await producer.beginTransaction();
  await txn.send({ messages: values.map((v) => ({ topic, partition: 0, value: Buffer.from(v) })) });
  await (commit ? txn.commit() : txn.abort());
}

describeKafka('KafkaSource fetches on a real broker', ({ bootstrap }) => {
  it('hands out committed transactions only, steps over their markers and reaches the end', async () => {
    const topic = await transactionalTopic(bootstrap, 'txn', async (producer, topic) => {
      await transaction(producer, topic, true, ['c1', 'c2']);
      await transaction(producer, topic, false, ['a1', 'a2', 'a3']);
      await transaction(producer, topic, true, ['c3']);
      await transaction(producer, topic, false, ['a4']);
    });
    // 2 + 1 committed records, 4 aborted, 4 markers: the log ends at offset 11, its last offset a marker.
    // A plain record after them: everything before it has been judged once it comes.
    const plain = new Producer({ clientId: 'txn-test', bootstrapBrokers: [bootstrap], acks: ProduceAcks.ALL });
    try {
      await plain.send({ messages: [{ topic, partition: 0, value: Buffer.from('p1') }] });
    } finally {
      await plain.close();
    }
    const source = new KafkaSource({ brokers: [bootstrap], topics: [topic], groupId: topic });
    const seen = await readUntil(source, (s) => s.some((r) => r.value?.toString() === 'p1'));
    // Two aborted transactions of one producer in one response: the client's own filter kept the first one's records.
    expect(seen.map((r) => r.value?.toString())).toEqual(['c1', 'c2', 'c3', 'p1']);
    expect(seen.map((r) => r.offset)).toEqual([0n, 1n, 7n, 11n]);
  }, 60_000);

  it('skips an aborted transaction whose marker comes in a later response', async () => {
    const topic = await transactionalTopic(bootstrap, 'txn-cut', async (producer, topic) => {
      const txn = await producer.beginTransaction();
      // Ten batches of about 10 KB in one aborted transaction: a 16 KB fetch cannot hold them and their marker.
      for (let i = 0; i < 10; i++) await txn.send({ messages: Array.from({ length: 100 }, (_, j) => ({ topic, partition: 0, value: Buffer.from(`a${i * 100 + j}`.padEnd(100, '.')) })) });
      await txn.abort();
      await transaction(producer, topic, true, ['c1']);
    });
    const source = new KafkaSource({ brokers: [bootstrap], topics: [topic], groupId: topic, fetchMaxBytes: 16 * 1024, fetchPartitionMaxBytes: 16 * 1024 });
    const seen = await readUntil(source, (s) => s.some((r) => r.value?.toString() === 'c1'));
    expect(seen.map((r) => r.value?.toString())).toEqual(['c1']);
  }, 60_000);

  it('reaches lag 0 at the end of a partition that ends with a transaction marker', async () => {
    const topic = await transactionalTopic(bootstrap, 'txn-end', (producer, topic) => transaction(producer, topic, true, ['only']));
    const source = new KafkaSource({ brokers: [bootstrap], topics: [topic], groupId: topic });
    const seen: RunnerRecord[] = [];
    let lag: number | undefined;
    const it = source.chunks()[Symbol.asyncIterator]();
    try {
      seen.push(...(await it.next()).value!);
      // Asks for more: the marker's batch comes (no record) and the position moves past it.
      const deadline = Date.now() + 15_000;
      const next = it.next();
      while (Date.now() < deadline && (lag = await source.lag()) !== 0) await new Promise((r) => setTimeout(r, 100));
      void next.catch(() => {});
    } finally {
      await source.close();
    }
    expect(seen.map((r) => r.value?.toString())).toEqual(['only']);
    expect(lag).toBe(0);
  }, 60_000);

  it('gives records of a LogAppendTime topic the broker\'s time and type', async () => {
    const id = randomUUID().slice(0, 8);
    const topic = `append-${id}`;
    const admin = new Admin({ clientId: 'append-test', bootstrapBrokers: [bootstrap] });
    try {
      await admin.createTopics({ topics: [topic], partitions: 1, replicas: 1, configs: [{ name: 'message.timestamp.type', value: 'LogAppendTime' }] });
    } finally {
      await admin.close();
    }
    const before = Date.now();
    const producer = new Producer({ clientId: 'append-test', bootstrapBrokers: [bootstrap], acks: ProduceAcks.ALL, retries: 10, retryDelay: 100 });
    try {
      await producer.send({ messages: [0, 1, 2].map((i) => ({ topic, partition: 0, value: Buffer.from(`v${i}`), timestamp: 1_000n + BigInt(i) })) });
    } finally {
      await producer.close();
    }
    const source = new KafkaSource({ brokers: [bootstrap], topics: [topic], groupId: `append-${id}` });
    const seen = await readUntil(source, (s) => s.length >= 3);
    expect(seen).toHaveLength(3);
    for (const r of seen) {
      expect(r.timestampType).toBe('LOG_APPEND_TIME');
      expect(r.timestamp).toBeGreaterThanOrEqual(before - 1000);
      expect(r.timestamp).toBeLessThanOrEqual(Date.now() + 1000);
    }
    // A CreateTime topic keeps the producer's timestamps and says so.
    const plain = `create-${id}`;
    await createTopic(bootstrap, plain, 1);
    const p2 = new Producer({ clientId: 'append-test', bootstrapBrokers: [bootstrap], acks: ProduceAcks.ALL });
    try {
      await p2.send({ messages: [{ topic: plain, partition: 0, value: Buffer.from('x'), timestamp: 1_000n }] });
    } finally {
      await p2.close();
    }
    const [r] = await readUntil(new KafkaSource({ brokers: [bootstrap], topics: [plain], groupId: `create-${id}` }), (s) => s.length >= 1);
    expect([r.timestamp, r.timestampType]).toEqual([1000, 'CREATE_TIME']);
  }, 60_000);

  it('reads a partition added to its topic while it runs (the group rebalances)', async () => {
    const topic = `grow-${randomUUID().slice(0, 8)}`;
    await createTopic(bootstrap, topic, 1);
    const producer = new Producer({ clientId: 'grow-test', bootstrapBrokers: [bootstrap], acks: ProduceAcks.ALL, retries: 10, retryDelay: 100 });
    const source = new KafkaSource({ brokers: [bootstrap], topics: [topic], groupId: topic });
    try {
      await producer.send({ messages: [{ topic, partition: 0, value: Buffer.from('p0-a') }] });
      const seen = await readUntil(source, (s) => s.some((r) => r.partition === 1), async (s) => {
        if (s.length !== 1) return;
        // Read the first record: the topic grows and the new partition gets one.
        const admin = new Admin({ clientId: 'grow-test', bootstrapBrokers: [bootstrap] });
        try {
          await admin.createPartitions({ topics: [{ name: topic, count: 2 }] } as never);
        } finally {
          await admin.close();
        }
        // A new producer (the first one's metadata has one partition: it sent "partition 1" to partition 0).
        const late = new Producer({ clientId: 'grow-test', bootstrapBrokers: [bootstrap], acks: ProduceAcks.ALL, retries: 10, retryDelay: 100 });
        try {
          await late.send({ messages: [{ topic, partition: 1, value: Buffer.from('p1-a') }] });
        } finally {
          await late.close();
        }
      });
      // The rebalance starts a new generation from the committed offsets (none here): p0-a may come again.
      expect(seen.at(-1)?.value?.toString()).toBe('p1-a');
      expect(new Set(seen.map((r) => `${r.partition}:${r.value?.toString()}`))).toEqual(new Set(['0:p0-a', '1:p1-a']));
      expect(source.partitionRejoins).toBeGreaterThanOrEqual(1);
    } finally {
      await producer.close();
    }
  }, 90_000);

  it('starts again at the log start when records under its position are deleted, with no record twice', async () => {
    const id = randomUUID().slice(0, 8);
    const topic = `deleted-${id}`;
    await createTopic(bootstrap, topic, 1);
    const producer = new Producer({ clientId: 'deleted-test', bootstrapBrokers: [bootstrap], acks: ProduceAcks.ALL });
    try {
      // 30 sends of 100 records: 30 batches of about 10 KB, so a small fetch reads a few batches at a time.
      for (let i = 0; i < 3000; i += 100) {
        await producer.send({ messages: Array.from({ length: 100 }, (_, j) => ({ topic, partition: 0, value: Buffer.from(`${i + j}`.padStart(100, '0')) })) });
      }
    } finally {
      await producer.close();
    }
    const source = new KafkaSource({ brokers: [bootstrap], topics: [topic], groupId: `deleted-${id}`, fetchMaxBytes: 16 * 1024, fetchPartitionMaxBytes: 16 * 1024 });
    const admin = new Admin({ clientId: 'deleted-test', bootstrapBrokers: [bootstrap] });
    let deleted = false;
    let handed = 0n;
    try {
      const seen = await readUntil(source, (s) => s.length > 0 && s[s.length - 1].offset === 2999n, async (s) => {
        if (deleted) return;
        deleted = true;
        handed = s[s.length - 1].offset;
        // Retention deletes far past the position (and past the fetch in flight).
        await admin.deleteRecords({ topics: [{ name: topic, partitions: [{ partition: 0, offset: 2500n }] }] });
      });
      expect(handed).toBeLessThan(2000n);
      // What came after the deletion: the fetch already in flight (if it was answered before), then from 2500 on.
      const after = seen.filter((r) => r.offset > handed).map((r) => r.offset);
      expect(after.at(-1)).toBe(2999n);
      const restart = after.indexOf(2500n);
      expect(restart).toBeGreaterThanOrEqual(0);
      // From the restart on every offset once, in order; before it only offsets right after those handed out.
      expect(after.slice(restart)).toEqual(Array.from({ length: 500 }, (_, k) => 2500n + BigInt(k)));
      expect(after.slice(0, restart).every((o, k) => o === handed + 1n + BigInt(k))).toBe(true);
      // The records of the generation that was reading are not current any more: the runner writes none of them.
      expect(seen.filter((r) => r.offset <= handed).every((r) => !source.isCurrent(r))).toBe(true);
    } finally {
      await admin.close();
    }
  }, 90_000);
});

describe('KafkaSource.keepCurrent', () => {
  it('keeps exactly what isCurrent keeps (judged once per run of one partition and generation)', () => {
    const source = new KafkaSource({ brokers: ['127.0.0.1:1'], topics: ['t', 'u'], groupId: 'keep' });
    const tps = ['t\u00000', 't\u00001', 'u\u00000'];
    fc.assert(fc.property(
      fc.subarray(tps), fc.integer({ min: 0, max: 2 }),
      fc.array(fc.record({ tp: fc.constantFrom(...tps), back: fc.integer({ min: 0, max: 2 }) }), { maxLength: 60 }),
      (owned, assigns, recs) => {
        for (let k = 0; k <= assigns; k++) source.assignment.assign(owned);
        source.assignment.start(source.assignment.generation, new Map(owned.map((tp) => [tp, 0n])));
        const generation = source.assignment.generation;
        const records = recs.map(({ tp, back }, k) => {
          const [topic, p] = tp.split('\u0000');
          return { topic, partition: Number(p), offset: BigInt(k), timestamp: 0, timestampType: 'CREATE_TIME', key: null, value: null, headers: [], [GENERATION]: generation - back } as RunnerRecord;
        });
        const kept = source.keepCurrent(records);
        expect(kept).toEqual(records.filter((r) => source.isCurrent(r)));
        if (kept.length === records.length) expect(kept).toBe(records);
      },
    ));
  });
});
