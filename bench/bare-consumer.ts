/**
 * The ceilings of `npm run bench:runner`: a bare @platformatic/kafka consumer of the same topic with the runner's fetch
 * settings (kafka-source.ts), reading until it has seen `count` records and touching every value, nothing else.
 * `stream`: the client's message stream (`consume`), a message object per record. `fetch`: the client's fetch, as the
 * runner reads (its parsed record batches, positions kept by the reader), one broker's partitions per request.
 * argv: bootstrap topic group count [stream|fetch]
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import { Consumer } from '@platformatic/kafka';
import { PROGRESS_CHANNEL, type ProgressMessage } from '../bin/runner/progress-channel.ts';
import { FETCH_MAX_BYTES, FETCH_PARTITION_MAX_BYTES } from '../bin/runner/kafka-source.ts';

const [bootstrap, topic, groupId, countText, mode = 'stream'] = process.argv.slice(2);
const count = Number(countText);
const consumer = new Consumer({
  groupId, clientId: 'bench-bare', bootstrapBrokers: [bootstrap], autocommit: false, maxWaitTime: 500,
  maxBytes: FETCH_MAX_BYTES, maxBytesPerPartition: FETCH_PARTITION_MAX_BYTES, sessionTimeout: 20_000, heartbeatInterval: 1_000,
});
let seen = 0;
let bytes = 0;
// Progress as the runner publishes it (report-usage.ts samples CPU time at each): after each response, or 5,000 messages.
const progress = diagnosticsChannel.channel(PROGRESS_CHANNEL);
const publish = () => progress.hasSubscribers && progress.publish({ committed: seen, valueBytes: bytes } satisfies ProgressMessage);
if (mode === 'fetch') {
  const t = (await consumer.metadata({ topics: [topic] })).topics.get(topic)!;
  const next = t.partitions.map(() => 0n);
  const byNode = new Map<number, number[]>();
  t.partitions.forEach((p, i) => (byNode.get(p.leader) ?? byNode.set(p.leader, []).get(p.leader)!).push(i));
  while (seen < count) {
    for (const [node, partitions] of byNode) {
      const response = await consumer.fetch({
        node, topics: partitions.map((partition) => ({ topicId: t.id, partitions: [{ partition, fetchOffset: next[partition], partitionMaxBytes: FETCH_PARTITION_MAX_BYTES, currentLeaderEpoch: -1, lastFetchedEpoch: -1 }] })),
      });
      for (const { partitions: parts } of response.responses) {
        for (const part of parts) {
          for (const batch of part.records ?? []) {
            for (const r of batch.records) {
              const offset = batch.firstOffset + BigInt(r.offsetDelta);
              if (offset < next[part.partitionIndex]) continue;
              bytes += r.value?.length ?? 0;
              seen++;
            }
            next[part.partitionIndex] = batch.firstOffset + BigInt(batch.lastOffsetDelta) + 1n;
          }
        }
      }
      publish();
    }
  }
} else {
  const stream = await consumer.consume({ topics: [topic], mode: 'earliest', autocommit: false });
  for await (const m of stream) {
    bytes += (m.value as Buffer | undefined)?.length ?? 0;
    if (++seen % 5000 === 0) publish();
    if (seen >= count) break;
  }
  await Promise.resolve((stream as unknown as { close(): Promise<void> }).close()).catch(() => {});
}
await consumer.close(true).catch(() => {});
process.stdout.write(`${JSON.stringify({ records: seen, valueBytes: bytes })}\n`);
process.exit(0);
