/**
 * The ceiling of `npm run bench:replay`: a bare @platformatic/kafka producer sending the records the replay sends
 * (replay-records.ts: the same keys, values, headers and timestamps, each to its source partition), with the replay's
 * producer settings (idempotent, acks=all) and its discipline: a request of 10,000 records at most (and under 900 KB
 * per partition), awaited before the next.
 * argv: bootstrap topic records
 */
import { ProduceAcks, Producer } from '@platformatic/kafka';
import { MAX_PARTITION_BATCH_BYTES } from '../lambdas/replay/replay.ts';
import { benchRecords, PARTITIONS } from './replay-records.ts';

const [bootstrap, topic, countText] = process.argv.slice(2);
const count = Number(countText);
const producer = new Producer({ clientId: 'bench-bare-producer', bootstrapBrokers: [bootstrap], idempotent: true, acks: ProduceAcks.ALL });
const POLL = 10_000;
let batch = [];
const bytes = new Map<number, number>();
for (const r of benchRecords(count, PARTITIONS)) {
  const m = { topic, partition: r.partition, key: Buffer.from(r.key), value: Buffer.from(r.value), timestamp: BigInt(r.timestamp), headers: new Map([[Buffer.from('trace-id'), Buffer.from(r.trace)]]) };
  // The replay's cut: a request's batch of one partition stays under the broker's message.max.bytes.
  const size = 24 + m.key.length + m.value.length + 8 + r.trace.length + 2;
  if (batch.length > 0 && (bytes.get(r.partition) ?? 0) + size > MAX_PARTITION_BATCH_BYTES) {
    await producer.send({ messages: batch });
    batch = [];
    bytes.clear();
  }
  bytes.set(r.partition, (bytes.get(r.partition) ?? 0) + size);
  batch.push(m);
  if (batch.length === POLL) {
    await producer.send({ messages: batch });
    batch = [];
    bytes.clear();
  }
}
if (batch.length > 0) await producer.send({ messages: batch });
await producer.close();
process.exit(0);
