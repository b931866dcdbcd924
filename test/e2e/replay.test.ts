/**
 * Replay on real components: the sink writes objects to versitygw (every format), the replay sends them to a real
 * Kafka broker, and an independent reader (a @platformatic/kafka consumer group, not the replay's own fetches)
 * compares what landed with what went in, record by record: key, value, headers, timestamp, partition and order.
 * Records interleave around an hour, so each partition's objects of two hour prefixes overlap in offsets.
 */
import { randomUUID } from 'node:crypto';
import type { Message } from '@platformatic/kafka';
import { expect, it } from 'vitest';
import { loadSinkConfig } from '../../lambdas/shared/config.ts';
import { SinkPipeline } from '../../lambdas/shared/pipeline.ts';
import { ORIGIN_HEADER } from '../../lambdas/replay/target.ts';
import { runReplay, type ReplaySettings } from '../../lambdas/replay/replay.ts';
import { DirectoryState } from '../../lambdas/replay/state.ts';
import { kafkaEvent } from '../support/events.ts';
import { createTopic } from '../support/kafka.ts';
import { PARTITIONS, PER_PARTITION, readTopic, records, spec, type Sent } from '../support/replay.ts';
import { describeKafka } from '../support/kafka-context.ts';
import { replayHarness } from '../support/replay.ts';
import { createBucket } from '../support/versitygw.ts';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The landed records of a partition in order, as comparable rows (the origin header left out, and checked). */
function rows(messages: Message[], partition: number, withMeta: { key: boolean; headers: boolean; timestamp: boolean }, value: (v: Buffer | null) => unknown) {
  return messages.filter((m) => m.partition === partition).sort((a, b) => (a.offset < b.offset ? -1 : 1)).map((m) => {
    const headers = m.headerEntries.map(([k, v]) => [Buffer.from(k as Buffer).toString(), v === null ? null : Buffer.from(v as Buffer).toString()]);
    expect(headers[headers.length - 1][0]).toBe(ORIGIN_HEADER);
    return {
      value: value(m.value as Buffer | null),
      ...(withMeta.key ? { key: m.key === null || m.key === undefined ? null : Buffer.from(m.key as Buffer).toString() } : {}),
      ...(withMeta.headers ? { headers: headers.slice(0, -1) } : {}),
      ...(withMeta.timestamp ? { timestamp: Number(m.timestamp) } : {}),
    };
  });
}

describeKafka('replay: sink → S3 → replay → Kafka, record by record', (kafka) => {
  const { s3, client, target: newTarget, track } = replayHarness();

  async function sinkThenReplay(name: string, env: Record<string, string>): Promise<{ messages: Message[]; sent: Sent[] }> {
    const bucket = `replay-${name}`;
    await createBucket(s3!, bucket);
    const cfg = loadSinkConfig({ BUCKET_NAME: bucket, S3_ENDPOINT: s3!.endpoint, ...env });
    const pipeline = new SinkPipeline(cfg, client);
    const sent = records();
    // Three events, each a third of every partition.
    for (let part = 0; part < 3; part++) {
      const slice = sent.filter((r) => Math.floor((r.offset - 100) / (PER_PARTITION / 3)) === part);
      const result = await pipeline.handle(kafkaEvent(slice.map((r) => spec('orders', r))));
      expect(result).toMatchObject({ deadLettered: 0 });
    }
    await pipeline.close();
    const topic = `replayed-${name}-${randomUUID().slice(0, 8)}`;
    await createTopic(kafka.bootstrap, topic, PARTITIONS);
    const target = newTarget(`replay-${name}`);
    const settings: ReplaySettings = {
      bucket, prefix: 'topics/', kind: 'sink', order: 'lexical', extensions: [], csvHeader: true, topics: [], partitions: [], keysPerPoll: 1000,
      targetTopic: topic, partitioning: 'keep', recordsPerPoll: 50, maxBytesPerSecond: 0,
    };
    const state = new DirectoryState(await mkdtemp(join(tmpdir(), 'replay-state-')));
    const report = await runReplay({ s3: client, target, state }, settings);
    expect(report.done).toBe(true);
    expect(report.streams.map((s) => s.sent).reduce((a, b) => a + b, 0)).toBe(sent.length);
    return { messages: await readTopic(kafka.bootstrap, topic, sent.length), sent };
  }

  const expected = (sent: Sent[], p: number, withMeta: { key: boolean; headers: boolean; timestamp: boolean }, value: (v: string) => unknown) =>
    sent.filter((r) => r.partition === p).sort((a, b) => a.offset - b.offset).map((r) => ({
      value: value(r.value),
      ...(withMeta.key ? { key: r.key } : {}),
      ...(withMeta.headers ? { headers: r.headers } : {}),
      ...(withMeta.timestamp ? { timestamp: r.timestamp } : {}),
    }));

  const exact = (v: Buffer | string | null) => (v === null ? null : v.toString());
  // Values rebuilt from columns: the same JSON document (numbers compared as their digits).
  const doc = (v: Buffer | string | null) => (v === null ? null : JSON.parse(v.toString().replace(/(\d{16,})/g, '"$1"')));
  const all = { key: true, headers: true, timestamp: true };

  it('jsonl with the envelope: every field, values byte-exact, merged by offset across hour prefixes', async () => {
    const { messages, sent } = await sinkThenReplay('jsonl', { FORMAT: 'jsonl', COMPRESSION: 'zstd' });
    for (let p = 0; p < PARTITIONS; p++) expect(rows(messages, p, all, exact)).toEqual(expected(sent, p, all, exact));
  });

  it('jsonl with base64 values, keys and headers: byte-exact', async () => {
    const { messages, sent } = await sinkThenReplay('jsonl-b64', { FORMAT: 'jsonl', VALUE_ENCODING: 'base64', KEY_ENCODING: 'base64', HEADER_ENCODING: 'base64' });
    for (let p = 0; p < PARTITIONS; p++) expect(rows(messages, p, all, exact)).toEqual(expected(sent, p, all, exact));
  });

  for (const [format, compression] of [['avro', 'snappy'], ['parquet', 'zstd'], ['csv_with_headers', 'gzip']] as const) {
    it(`${format}: key, headers, timestamp, partition and order; values rebuilt from the columns`, async () => {
      const { messages, sent } = await sinkThenReplay(format.replaceAll('_', '-'), { FORMAT: format, COMPRESSION: compression });
      for (let p = 0; p < PARTITIONS; p++) expect(rows(messages, p, all, doc)).toEqual(expected(sent, p, all, doc));
    });
  }

  it('csv with text values: the value column exactly', async () => {
    const { messages, sent } = await sinkThenReplay('csv-text', { FORMAT: 'csv', VALUE_ENCODING: 'text' });
    for (let p = 0; p < PARTITIONS; p++) expect(rows(messages, p, all, exact)).toEqual(expected(sent, p, all, exact));
  });

  for (const format of ['text', 'bytes'] as const) {
    it(`${format}: the values, in order, in their partitions`, async () => {
      const none = { key: false, headers: false, timestamp: false };
      // Values only, no offsets: objects are replayed whole by their start offset, so one object per batch and partition.
      const { messages, sent } = await sinkThenReplay(format, { FORMAT: format, KEY_TEMPLATE: '{{topic}}/partition={{partition}}/{{topic}}+{{partition}}+{{start_offset}}' });
      for (let p = 0; p < PARTITIONS; p++) expect(rows(messages, p, none, exact)).toEqual(expected(sent, p, none, exact));
    });
  }
});
