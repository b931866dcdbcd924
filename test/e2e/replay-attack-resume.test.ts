/**
 * Attacks on replay's exactly-once-across-restarts promise and its plan (objects changed after planning).
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { type MessageToProduce } from '@platformatic/kafka';
import { expect, it } from 'vitest';
import { loadSinkConfig } from '../../lambdas/shared/config.ts';
import { SinkPipeline } from '../../lambdas/shared/pipeline.ts';
import { runReplay, type ReplaySettings } from '../../lambdas/replay/replay.ts';
import { DirectoryState } from '../../lambdas/replay/state.ts';
import { KafkaTarget, ORIGIN_HEADER } from '../../lambdas/replay/target.ts';
import { kafkaEvent, type RecordSpec } from '../support/events.ts';
import { createTopic } from '../support/kafka.ts';
import { describeKafka } from '../support/kafka-context.ts';
import { readTopic, replayHarness } from '../support/replay.ts';
import { createBucket } from '../support/versitygw.ts';

const txt = (b: unknown) => (b === null || b === undefined ? null : Buffer.from(b as Buffer).toString());


class Crash extends Error {}

/** A target whose n-th send lands nothing and fails as if the process died. */
class CrashingTarget extends KafkaTarget {
  sends = 0;
  private readonly at: number;
  constructor(bootstrap: string, at: number) {
    super({ brokers: [bootstrap], clientId: `attack-crash-${randomUUID().slice(0, 6)}` });
    this.at = at;
  }

  override async send(messages: MessageToProduce<Buffer, Buffer, Buffer, Buffer>[]): Promise<void> {
    if (++this.sends === this.at) throw new Crash(`crash at send ${this.at}`);
    return super.send(messages);
  }
}

describeKafka('replay attack: resume and plan', (kafka) => {
  const { s3, client, target: newTarget, track } = replayHarness();

  async function sink(bucket: string, specs: RecordSpec[], env: Record<string, string> = {}) {
    const pipeline = new SinkPipeline(loadSinkConfig({ BUCKET_NAME: bucket, S3_ENDPOINT: s3!.endpoint, FORMAT: 'jsonl', ...env }), client);
    const r = await pipeline.handle(kafkaEvent(specs));
    await pipeline.close();
    return r;
  }

  const settingsFor = (bucket: string, topic: string): ReplaySettings => ({
    bucket, prefix: 'topics/', kind: 'sink', order: 'lexical', extensions: [], csvHeader: true, topics: [], partitions: [], keysPerPoll: 1000,
    targetTopic: topic, partitioning: 'keep', recordsPerPoll: 5, maxBytesPerSecond: 0,
  });

  it('two replays of different sources into one target topic (same topic name and offsets): a resumed one loses records', async () => {
    // Prepare: topic "orders" of two clusters, archived to two buckets; offsets 0-9 in both (different records).
    const eu = `attack-eu-${randomUUID().slice(0, 6)}`;
    const us = `attack-us-${randomUUID().slice(0, 6)}`;
    for (const b of [eu, us]) {
      await createBucket(s3!, b);
      expect(await sink(b, Array.from({ length: 10 }, (_, i) => ({ offset: i, key: `${b}-${i}`, value: JSON.stringify({ from: b, i }) })))).toMatchObject({ written: 10 });
    }
    const topic = `attack-merged-${randomUUID().slice(0, 8)}`;
    await createTopic(kafka.bootstrap, topic, 1);
    const euState = new DirectoryState(await mkdtemp(join(tmpdir(), 'attack-eu-')));
    const usState = new DirectoryState(await mkdtemp(join(tmpdir(), 'attack-us-')));

    // Act: the US replay dies at its first send (its checkpoint holds the target's ends), the EU replay runs meanwhile,
    // then the US replay is run again with the same state.
    const crashing = new CrashingTarget(kafka.bootstrap, 1);
    track(crashing);
    await expect(runReplay({ s3: client, target: crashing, state: usState }, settingsFor(us, topic))).rejects.toThrow(Crash);
    const target = newTarget('attack-merge');
    expect((await runReplay({ s3: client, target, state: euState }, settingsFor(eu, topic))).done).toBe(true);
    const resumed = await runReplay({ s3: client, target, state: usState }, settingsFor(us, topic));

    // Assess: 20 records, 10 of each source.
    expect(resumed.done).toBe(true);
    const got = await readTopic(kafka.bootstrap, topic, 20, { allowShort: true, timeoutMs: 8000 });
    expect({ sentByResumedUs: resumed.streams[0].sent, claimedLanded: resumed.streams[0].landed, total: got.length })
      .toEqual({ sentByResumedUs: 10, claimedLanded: 0, total: 20 });
  }, 30_000);

  it('an object overwritten between plan and read: an error naming it, not the new content replayed silently', async () => {
    const bucket = `attack-etag-${randomUUID().slice(0, 6)}`;
    await createBucket(s3!, bucket);
    const r = await sink(bucket, Array.from({ length: 3 }, (_, i) => ({ offset: i, key: `k${i}`, value: JSON.stringify({ v: 'old', i }) })));
    const key = r.keys[0];
    const topic = `attack-etag-${randomUUID().slice(0, 8)}`;
    await createTopic(kafka.bootstrap, topic, 1);
    const state = new DirectoryState(await mkdtemp(join(tmpdir(), 'attack-etag-')));
    const target = newTarget('attack-etag');
    // Plan only (the deadline has passed: nothing is read or sent).
    expect((await runReplay({ s3: client, target, state }, settingsFor(bucket, topic), { deadlineMs: 0 })).done).toBe(false);
    // Overwritten with the same metadata and other records.
    const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    const old = await (await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body!.transformToString();
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: old.replaceAll('"old"', '"NEW"'), Metadata: head.Metadata }));

    const run = runReplay({ s3: client, target, state }, settingsFor(bucket, topic));
    const outcome = await run.then((rep) => `done: sent ${rep.streams[0].sent}`, (err: Error) => `error: ${err.message}`);
    const got = await readTopic(kafka.bootstrap, topic, 3, { allowShort: true, timeoutMs: 3000 });
    expect({ outcome: outcome.startsWith('error') && outcome.includes(key), values: got.map((m) => txt(m.value)) }, outcome).toEqual({ outcome: true, values: [] });
  }, 30_000);

  it('origin header of a source record is replaced, not duplicated, when the source record carried one already (replay of a replay)', async () => {
    // A topic that was itself filled by a replay: its records carry kafka-s3-replay; replaying it again keeps order/once.
    const bucket = `attack-rr-${randomUUID().slice(0, 6)}`;
    await createBucket(s3!, bucket);
    const specs: RecordSpec[] = Array.from({ length: 6 }, (_, i) => ({ offset: i, key: `k${i}`, value: JSON.stringify({ i }), headers: [[ORIGIN_HEADER, `orders/0@${i}`]] }));
    expect(await sink(bucket, specs)).toMatchObject({ written: 6 });
    const topic = `attack-rr-${randomUUID().slice(0, 8)}`;
    await createTopic(kafka.bootstrap, topic, 1);
    const state = new DirectoryState(await mkdtemp(join(tmpdir(), 'attack-rr-')));
    // Crash at the 2nd send: the first poll (5 records) landed and was checkpointed; then resume.
    const crashing = new CrashingTarget(kafka.bootstrap, 2);
    track(crashing);
    await expect(runReplay({ s3: client, target: crashing, state }, { ...settingsFor(bucket, topic), recordsPerPoll: 3 })).rejects.toThrow(Crash);
    const target = newTarget('attack-rr');
    expect((await runReplay({ s3: client, target, state }, { ...settingsFor(bucket, topic), recordsPerPoll: 3 })).done).toBe(true);
    const got = await readTopic(kafka.bootstrap, topic, 6, { allowShort: true, timeoutMs: 8000 });
    expect(got.map((m) => txt(m.value))).toEqual(specs.map((s) => s.value));
  }, 30_000);

  it('a resume fetch refused as out of range is tried again, then fails naming where the partition stands', async () => {
    // Prepare: a target whose listed ends run 5 past the partition's real end, and a checkpoint beyond that end.
    const topic = `attack-oor-${randomUUID().slice(0, 6)}`;
    await createTopic(kafka.bootstrap, topic, 1);
    class AheadTarget extends KafkaTarget {
      override async ends(t: string): Promise<bigint[]> {
        return (await super.ends(t)).map((e) => e + 5n);
      }
    }
    const target = track(new AheadTarget({ brokers: [kafka.bootstrap], clientId: 'attack-oor' }));
    await target.send([0, 1].map((i) => ({ topic, partition: 0, value: Buffer.from(`v${i}`) })));

    // Act
    const started = Date.now();
    const read: bigint[] = [];
    const err = await (async () => {
      for await (const chunk of target.landed(topic, [3n])) read.push(...chunk.map((r) => r.offset));
    })().then(() => undefined, (e: unknown) => e as Error);

    // Assess: the fetch at 3 (beyond the real end, 2) is tried 6 times over about 3 s, then named (with the end as
    // this target lists it).
    expect(read).toEqual([]);
    expect(err?.message).toBe(`target ${topic}/0: the fetch at offset 3 (below the end 7 listed before) was out of range 6 times; the partition's end is now 7`);
    expect(Date.now() - started).toBeGreaterThanOrEqual(2500);
  }, 30_000);
});

