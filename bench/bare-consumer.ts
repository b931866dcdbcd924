/**
 * The ceiling of `npm run bench:runner`: a bare @platformatic/kafka consumer of the same topic with the runner's fetch
 * settings (kafka-source.ts), reading until it has seen `count` records and touching every value, nothing else.
 * argv: bootstrap topic group count
 */
import { Consumer } from '@platformatic/kafka';
import { FETCH_MAX_BYTES, FETCH_PARTITION_MAX_BYTES } from '../bin/runner/kafka-source.ts';

const [bootstrap, topic, groupId, countText] = process.argv.slice(2);
const count = Number(countText);
const consumer = new Consumer({
  groupId, clientId: 'bench-bare', bootstrapBrokers: [bootstrap], autocommit: false, maxWaitTime: 500,
  maxBytes: FETCH_MAX_BYTES, maxBytesPerPartition: FETCH_PARTITION_MAX_BYTES, sessionTimeout: 20_000, heartbeatInterval: 1_000,
});
const stream = await consumer.consume({ topics: [topic], mode: 'earliest', autocommit: false });
let seen = 0;
let bytes = 0;
for await (const m of stream) {
  bytes += (m.value as Buffer | undefined)?.length ?? 0;
  if (++seen >= count) break;
}
await Promise.resolve((stream as unknown as { close(): Promise<void> }).close()).catch(() => {});
await consumer.close(true).catch(() => {});
process.stdout.write(`${JSON.stringify({ records: seen, valueBytes: bytes })}\n`);
process.exit(0);
