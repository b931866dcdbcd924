/**
 * Attacks on replay's byte-exactness, order and "nothing lost silently" promises, with objects the sink itself wrote.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { loadSinkConfig } from '../../lambdas/shared/config.ts';
import { SinkPipeline } from '../../lambdas/shared/pipeline.ts';
import { runReplay, type ReplayReport, type ReplaySettings } from '../../lambdas/replay/replay.ts';
import { DirectoryState } from '../../lambdas/replay/state.ts';
import { kafkaEvent, type RecordSpec } from '../support/events.ts';
import { createTopic } from '../support/kafka.ts';
import { describeKafka } from '../support/kafka-context.ts';
import { readTopic, replayHarness } from '../support/replay.ts';
import { createBucket } from '../support/versitygw.ts';

const hex = (b: unknown) => (b === null || b === undefined ? null : Buffer.from(b as Buffer).toString('hex'));
const txt = (b: unknown) => (b === null || b === undefined ? null : Buffer.from(b as Buffer).toString());

/** Every record of a topic: waits for `atLeast`, then a moment more; returns what arrived (never throws on a short read). */

describeKafka('replay attack: values', (kafka) => {
  const { s3, client, target: newTarget, track } = replayHarness();

  async function sinkThenReplay(name: string, env: Record<string, string>, events: Record<string, unknown>[], partitions = 1, over: Partial<ReplaySettings> = {}) {
    const bucket = `attack-${name}-${randomUUID().slice(0, 6)}`;
    await createBucket(s3!, bucket);
    const pipeline = new SinkPipeline(loadSinkConfig({ BUCKET_NAME: bucket, S3_ENDPOINT: s3!.endpoint, ...env }), client);
    const results = [];
    for (const e of events) results.push(await pipeline.handle(e));
    await pipeline.close();
    const topic = `attack-${name}-${randomUUID().slice(0, 8)}`;
    await createTopic(kafka.bootstrap, topic, partitions);
    const target = newTarget(`attack-${name}`);
    const settings: ReplaySettings = {
      bucket, prefix: 'topics/', kind: 'sink', order: 'lexical', extensions: [], csvHeader: true, topics: [], partitions: [], keysPerPoll: 1000,
      targetTopic: topic, partitioning: 'keep', recordsPerPoll: 50, maxBytesPerSecond: 0, ...over,
    };
    const state = new DirectoryState(await mkdtemp(join(tmpdir(), 'attack-state-')));
    const report: ReplayReport = await runReplay({ s3: client, target, state }, settings);
    return { results, report, topic, bucket };
  }

  it('jsonl envelope: a JSON value `null` (not a tombstone) comes back as a tombstone', async () => {
    const specs: RecordSpec[] = [
      { offset: 0, key: 'user-1', value: '{"name":"x"}' },
      { offset: 1, key: 'user-1', value: 'null' },
    ];
    const { results, topic } = await sinkThenReplay('jsonnull', { FORMAT: 'jsonl' }, [kafkaEvent(specs)]);
    expect(results[0]).toMatchObject({ written: 2, deadLettered: 0 });
    const got = await readTopic(kafka.bootstrap, topic, 2, { allowShort: true, timeoutMs: 8000 });
    expect(got.map((m) => txt(m.value))).toEqual(['{"name":"x"}', 'null']);
  });

  it('jsonl envelope: a JSON value with surrounding blanks (no line break) is not byte-exact', async () => {
    const specs: RecordSpec[] = [{ offset: 0, key: 'k', value: ' {"a":1}\t' }];
    const { results, topic } = await sinkThenReplay('jsonws', { FORMAT: 'jsonl' }, [kafkaEvent(specs)]);
    expect(results[0]).toMatchObject({ written: 1, deadLettered: 0 });
    const got = await readTopic(kafka.bootstrap, topic, 1, { allowShort: true, timeoutMs: 8000 });
    expect(got.map((m) => txt(m.value))).toEqual([' {"a":1}\t']);
  });

  it('jsonl envelope text encoding: empty key vs null key, empty value, header with a null value', async () => {
    const ev = kafkaEvent([
      { offset: 0, key: '', value: '', headers: [['h', 'x']] },
      { offset: 1, key: null, value: 'v' },
    ]);
    // A header without a value (Kafka allows it).
    ((ev.records as Record<string, { headers: unknown[] }[]>)['orders-0'][1]).headers = [{ nullh: null }, { empty: [] }];
    const { results, topic } = await sinkThenReplay('empties', { FORMAT: 'jsonl', VALUE_ENCODING: 'text' }, [ev]);
    expect(results[0]).toMatchObject({ written: 2, deadLettered: 0 });
    const got = await readTopic(kafka.bootstrap, topic, 2, { allowShort: true, timeoutMs: 8000 });
    expect(got.map((m) => ({ key: hex(m.key), value: hex(m.value), headers: m.headerEntries.slice(0, -1).map(([k, v]) => [txt(k), hex(v)]) }))).toEqual([
      { key: '', value: '', headers: [['h', hex('x')]] },
      { key: null, value: hex('v'), headers: [['nullh', null], ['empty', '']] },
    ]);
  });

  it('text objects of one partition under two hour prefixes: refused (not offset order), or each whole with anyOrder', async () => {
    const HOUR = Date.UTC(2026, 0, 1, 10);
    // Offsets alternate between the hour before and the hour after: the two objects overlap in offsets.
    const specs: RecordSpec[] = Array.from({ length: 6 }, (_, i) => ({ offset: 100 + i, timestamp: HOUR + (i % 2 === 0 ? -60_000 : 60_000), value: `line-${100 + i}` }));
    await expect(sinkThenReplay('texthours', { FORMAT: 'text' }, [kafkaEvent(specs)]))
      .rejects.toThrow(/orders\/0: objects .* overlap in offsets .* replay them in any order \(--any-order\)/);
    const { topic, report } = await sinkThenReplay('texthours2', { FORMAT: 'text' }, [kafkaEvent(specs)], 1, { anyOrder: true });
    expect(report.done).toBe(true);
    const got = await readTopic(kafka.bootstrap, topic, 6, { allowShort: true, timeoutMs: 8000 });
    expect(got.map((m) => txt(m.value))).toEqual(['line-100', 'line-102', 'line-104', 'line-101', 'line-103', 'line-105']);
  });

  it('bytes with BYTES_SEPARATOR empty: several values in one object are refused, never sent as one', async () => {
    const specs: RecordSpec[] = [{ offset: 0, value: 'aa' }, { offset: 1, value: 'bb' }, { offset: 2, value: 'cc' }];
    await expect(sinkThenReplay('bytesnosep', { FORMAT: 'bytes', BYTES_SEPARATOR: '' }, [kafkaEvent(specs)]))
      .rejects.toThrow(/3 values written with an empty BYTES_SEPARATOR cannot be told apart/);
  });

  it('bytes: an object holding one empty value is replayed (not skipped as an empty key)', async () => {
    const specs: RecordSpec[] = [{ offset: 0, value: '' }];
    const { results, topic, report } = await sinkThenReplay('bytesempty', { FORMAT: 'bytes', COMPRESSION: 'none' }, [kafkaEvent(specs)]);
    expect(results[0]).toMatchObject({ written: 1 });
    expect(report.skippedKeys).toEqual({});
    const got = await readTopic(kafka.bootstrap, topic, 1, { allowShort: true, timeoutMs: 4000 });
    expect(got.map((m) => hex(m.value))).toEqual(['']);
  });
  it('text objects (no offsets in the records): --to-offset / --from-offset are applied to records, or refused', async () => {
    const specs: RecordSpec[] = Array.from({ length: 10 }, (_, i) => ({ offset: i, value: `line-${i}` }));
    const { results, topic, report } = await sinkThenReplay('textrange', { FORMAT: 'text', KEY_TEMPLATE: '{{topic}}/partition={{partition}}/{{topic}}+{{partition}}+{{start_offset}}' },
      [kafkaEvent(specs)], 1, { fromOffset: 3n, toOffset: 5n }).catch((err: Error) => ({ results: [], topic: '', report: { error: err.message } as never }));
    if ((report as { error?: string }).error) return; // refused: fine
    expect(results[0]).toMatchObject({ written: 10 });
    const got = await readTopic(kafka.bootstrap, topic, 3, { allowShort: true, timeoutMs: 4000 });
    expect(got.map((m) => txt(m.value))).toEqual(['line-3', 'line-4', 'line-5']);
  });

  it('time range [from, to) at its exact boundaries (jsonl envelope)', async () => {
    const T = Date.UTC(2026, 0, 1, 10);
    const specs: RecordSpec[] = [-1, 0, 1, 999, 1000, 1001].map((d, i) => ({ offset: i, timestamp: T + d, value: JSON.stringify({ d }) }));
    const { topic, report } = await sinkThenReplay('timerange', { FORMAT: 'jsonl' }, [kafkaEvent(specs)], 1, { fromTime: T, toTime: T + 1000 });
    expect(report.done).toBe(true);
    const got = await readTopic(kafka.bootstrap, topic, 3, { allowShort: true, timeoutMs: 4000 });
    expect(got.map((m) => [txt(m.value), Number(m.timestamp)])).toEqual([0, 1, 999].map((d) => [JSON.stringify({ d }), T + d]));
  });
});
