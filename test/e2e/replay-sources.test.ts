/**
 * Replay sources and throttles on real components (versitygw, a Kafka broker, an independent consumer group):
 * dead letters redriven byte-exact; objects other tools wrote in key order and in LastModified order; the extension
 * filter; text lines by regex; CSV with and without a header row; foreign Avro and Parquet rows as JSON values;
 * keys listed per poll and records per produce request.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { PutObjectCommand, GetObjectCommand } from '@aws-sdk/client-s3';
import type { Message, MessageToProduce } from '@platformatic/kafka';
import { expect, it } from 'vitest';
import { loadSinkConfig } from '../../lambdas/shared/config.ts';
import { SinkPipeline } from '../../lambdas/shared/pipeline.ts';
import { runReplay, type ReplayReport, type ReplaySettings } from '../../lambdas/replay/replay.ts';
import { DirectoryState } from '../../lambdas/replay/state.ts';
import { KafkaTarget, ORIGIN_HEADER } from '../../lambdas/replay/target.ts';
import { kafkaEvent, type RecordSpec } from '../support/events.ts';
import { createTopic } from '../support/kafka.ts';
import { describeKafka } from '../support/kafka-context.ts';
import { replayHarness } from '../support/replay.ts';
import { readTopic } from '../support/replay.ts';
import { createBucket } from '../support/versitygw.ts';

/** Counts produce requests. */
class CountingTarget extends KafkaTarget {
  sends: number[] = [];
  override async send(messages: MessageToProduce<Buffer, Buffer, Buffer, Buffer>[]): Promise<void> {
    this.sends.push(messages.length);
    return super.send(messages);
  }
}

const text = (b: unknown) => (b === null || b === undefined ? null : Buffer.from(b as Buffer).toString());
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describeKafka('replay sources: dead letters, foreign objects, filters and throttles', (kafka) => {
  const { s3, client, target: newTarget, track } = replayHarness();

  const base = (bucket: string, over: Partial<ReplaySettings>): ReplaySettings => ({
    bucket, prefix: '', kind: 'foreign', order: 'lexical', extensions: [], csvHeader: true, topics: [], partitions: [], keysPerPoll: 1000,
    partitioning: 'key', recordsPerPoll: 10_000, maxBytesPerSecond: 0, ...over,
  });

  async function replay(settings: ReplaySettings, partitions = 1): Promise<{ report: ReplayReport; target: CountingTarget; topic: string }> {
    const topic = settings.targetTopic ?? `replay-src-${randomUUID().slice(0, 8)}`;
    await createTopic(kafka.bootstrap, topic, partitions);
    const target = track(new CountingTarget({ brokers: [kafka.bootstrap], clientId: 'replay-sources' }));
    const state = new DirectoryState(await mkdtemp(join(tmpdir(), 'replay-src-')));
    const report = await runReplay({ s3: client, target, state }, { ...settings, targetTopic: topic });
    expect(report.done).toBe(true);
    return { report, target, topic };
  }

  const values = (messages: Message[]) => messages.sort((a, b) => (a.offset < b.offset ? -1 : 1)).map((m) => text(m.value));
  const put = (bucket: string, key: string, body: string | Buffer) => client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));

  it('dead letters: binary keys, values and headers redriven byte-exact to their partitions', async () => {
    // Prepare: records the sink cannot write as JSON lines (a key that is not UTF-8, a value that is not JSON).
    const bucket = 'replay-dead-letters';
    await createBucket(s3!, bucket);
    const pipeline = new SinkPipeline(loadSinkConfig({ BUCKET_NAME: bucket, S3_ENDPOINT: s3!.endpoint, FORMAT: 'jsonl' }), client);
    const specs: RecordSpec[] = Array.from({ length: 40 }, (_, i) => ({
      topic: 'payments', partition: i % 2, offset: 1000 + i, timestamp: 1_767_225_600_000 + i,
      key: i % 3 === 0 ? Buffer.from([0xff, 0xfe, i]) : `k-${i}`,
      value: i % 3 === 0 ? '{"fine": true}' : Buffer.from([0x7b, 0x80, i, 0x00]),
      headers: [['bin', Buffer.from([0xc3, i])], ['bin', 'again']],
    }));
    const r = await pipeline.handle(kafkaEvent(specs));
    await pipeline.close();
    expect(r.deadLettered).toBe(40);

    // Act
    const topic = `redriven-${randomUUID().slice(0, 8)}`;
    const { report } = await replay(base(bucket, { kind: 'dead-letters', prefix: 'dead-letters/', partitioning: 'keep', targetTopic: topic }), 2);

    // Assess
    expect(report.streams.map((s) => s.sent).reduce((a, b) => a + b)).toBe(40);
    const got = await readTopic(kafka.bootstrap, topic, 40);
    for (const p of [0, 1]) {
      const mine = got.filter((m) => m.partition === p).sort((a, b) => (a.offset < b.offset ? -1 : 1));
      const want = specs.filter((s) => s.partition === p);
      expect(mine.map((m) => ({
        key: Buffer.from(m.key as Buffer).toString('hex'), value: Buffer.from(m.value as Buffer).toString('hex'), timestamp: Number(m.timestamp),
        headers: m.headerEntries.slice(0, -1).map(([k, v]) => [text(k), Buffer.from(v as Buffer).toString('hex')]),
      }))).toEqual(want.map((s) => ({
        key: Buffer.from(s.key as Buffer | string).toString('hex'), value: Buffer.from(s.value as Buffer | string).toString('hex'), timestamp: s.timestamp,
        headers: s.headers!.map(([k, v]) => [k, Buffer.from(v).toString('hex')]),
      })));
      expect(text(mine[0].headerEntries.at(-1)![0])).toBe(ORIGIN_HEADER);
    }
  });

  it('foreign objects in key order and in LastModified order', async () => {
    // Prepare: b.jsonl is written first, a.jsonl.gz a second later.
    const bucket = 'replay-order';
    await createBucket(s3!, bucket);
    await put(bucket, 'in/b.jsonl', '{"n":1}\n{"n":2}\n');
    await sleep(1100);
    await put(bucket, 'in/a.jsonl.gz', gzipSync('{"n":3}\r\n{"n":4}\n'));

    // Act
    const lexical = await replay(base(bucket, { prefix: 'in/', order: 'lexical' }));
    const modified = await replay(base(bucket, { prefix: 'in/', order: 'last-modified' }));

    // Assess
    expect(values(await readTopic(kafka.bootstrap, lexical.topic, 4))).toEqual(['{"n":3}', '{"n":4}', '{"n":1}', '{"n":2}']);
    expect(values(await readTopic(kafka.bootstrap, modified.topic, 4))).toEqual(['{"n":1}', '{"n":2}', '{"n":3}', '{"n":4}']);
  });

  it('extension filter, text lines by regex, CSV with and without its header row', async () => {
    // Prepare
    const bucket = 'replay-foreign';
    await createBucket(s3!, bucket);
    await put(bucket, 'logs/app.txt', 'INFO start\nERROR disk full\nINFO ok\nERROR timeout\n');
    await put(bucket, 'logs/app.jsonl', '{"not":"a log"}\n');
    await put(bucket, 'csv/people.csv', 'name,city\r\nAda,"London, UK"\r\n"Bob ""B""",Paris\r\n"multi\nline",Rome\r\n');

    // Act
    const errors = await replay(base(bucket, { prefix: 'logs/', extensions: ['.txt'], lineRegex: '^ERROR' }));
    const withHeader = await replay(base(bucket, { prefix: 'csv/' }));
    const noHeader = await replay(base(bucket, { prefix: 'csv/', csvHeader: false }));

    // Assess
    expect(errors.report.skippedKeys).toEqual({ extension: 1 });
    expect(values(await readTopic(kafka.bootstrap, errors.topic, 2))).toEqual(['ERROR disk full', 'ERROR timeout']);
    expect(values(await readTopic(kafka.bootstrap, withHeader.topic, 3))).toEqual(['Ada,"London, UK"', '"Bob ""B""",Paris', '"multi\nline",Rome']);
    expect(values(await readTopic(kafka.bootstrap, noHeader.topic, 4))[0]).toBe('name,city');
  });

  it('foreign Avro and Parquet files: each row a JSON value', async () => {
    // Prepare: files the sink wrote, copied without their metadata (as another tool's would be).
    const bucket = 'replay-foreign-columnar';
    await createBucket(s3!, bucket);
    for (const format of ['avro', 'parquet']) {
      const pipeline = new SinkPipeline(loadSinkConfig({ BUCKET_NAME: bucket, S3_ENDPOINT: s3!.endpoint, FORMAT: format, FIELDS: 'value', PREFIX: `sink-${format}/`, STATE_PREFIX: `state-${format}/` }), client);
      const r = await pipeline.handle(kafkaEvent([0, 1, 2].map((i) => ({ offset: i, value: JSON.stringify({ id: i, big: 9_007_199_254_740_993n.toString(), name: `n-${i}` }).replace('"9007199254740993"', '9007199254740993') }))));
      await pipeline.close();
      expect(r, JSON.stringify(r)).toMatchObject({ written: 3 });
      const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: r.keys.find((k) => k.startsWith(`sink-${format}/`)) }));
      await put(bucket, `other/${format}-file.${format}`, Buffer.from(await got.Body!.transformToByteArray()));
    }

    // Act
    const { topic } = await replay(base(bucket, { prefix: 'other/' }));

    // Assess: int64 digits exact.
    const got = values(await readTopic(kafka.bootstrap, topic, 6));
    expect(got.slice(0, 3)).toEqual([0, 1, 2].map((i) => `{"id":${i},"big":9007199254740993,"name":"n-${i}"}`));
    expect(got.slice(3)).toEqual(got.slice(0, 3));
  });

  it('a poll is cut where one partition\'s records would pass the broker\'s 1 MB record batch', async () => {
    // Prepare: 5 lines of 400 KB.
    const bucket = 'replay-big-records';
    await createBucket(s3!, bucket);
    await put(bucket, 'big/values.jsonl', Array.from({ length: 5 }, (_, i) => JSON.stringify({ i, pad: 'x'.repeat(400_000) })).join('\n'));

    // Act
    const { target, topic } = await replay(base(bucket, { prefix: 'big/', recordsPerPoll: 10 }));

    // Assess: two of 400 KB fit under 900 KB, a third does not.
    expect(target.sends).toEqual([2, 2, 1]);
    expect((await readTopic(kafka.bootstrap, topic, 5)).map((m) => (m.value as Buffer).length)).toEqual(Array(5).fill(400_000 + 16));
  });

  it('throttles: keys listed per poll and records per produce request', async () => {
    // Prepare: 7 objects of 5 lines.
    const bucket = 'replay-throttle';
    await createBucket(s3!, bucket);
    for (let i = 0; i < 7; i++) await put(bucket, `t/${i}.jsonl`, Array.from({ length: 5 }, (_, j) => `{"o":${i},"l":${j}}`).join('\n'));

    // Act
    const { report, target, topic } = await replay(base(bucket, { prefix: 't/', keysPerPoll: 2, recordsPerPoll: 4 }));

    // Assess: 4 ListObjectsV2 pages of 2 keys at most; 35 records in requests of at most 4.
    expect(report.pages).toBe(4);
    expect(target.sends).toEqual([4, 4, 4, 4, 4, 4, 4, 4, 3]);
    expect(values(await readTopic(kafka.bootstrap, topic, 35))).toHaveLength(35);
  });
});
