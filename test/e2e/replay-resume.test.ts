/**
 * Replay killed and resumed: every record lands exactly once, in its partition's order.
 * 1. In process, crashes at generated points of the protocol: a produce request that landed in part or whole but
 *    whose acknowledgement never came back, a checkpoint write that never happened, several streams at once.
 * 2. The runner's `replay` command SIGKILLed at random moments and run again with the same flags.
 * The target is read by an independent consumer group; each record's origin header must appear once.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Message, MessageToProduce } from '@platformatic/kafka';
import { expect, inject, it } from 'vitest';
import { loadSinkConfig } from '../../lambdas/shared/config.ts';
import { SinkPipeline } from '../../lambdas/shared/pipeline.ts';
import { runReplay, type ReplaySettings } from '../../lambdas/replay/replay.ts';
import { DirectoryState, type StateStore } from '../../lambdas/replay/state.ts';
import { KafkaTarget, ORIGIN_HEADER } from '../../lambdas/replay/target.ts';
import { kafkaEvent } from '../support/events.ts';
import { mulberry32 } from '../support/fault-proxy.ts';
import { createTopic } from '../support/kafka.ts';
import { describeKafka } from '../support/kafka-context.ts';
import { PARTITIONS, readTopic, records, spec, type Sent } from '../support/replay.ts';
import { createBucket, REPO_ROOT, s3ClientFor } from '../support/versitygw.ts';

const PER_PARTITION = 900;

class Crash extends Error {}

type SendMode = 'none' | 'half' | 'all';

/** A target whose n-th send lands none, half or all of its records, then fails as if the process died. */
class CrashingTarget extends KafkaTarget {
  sends = 0;
  private readonly at: number;
  private readonly mode: SendMode;
  constructor(bootstrap: string, at: number, mode: SendMode) {
    super({ brokers: [bootstrap], clientId: `replay-crash-${randomUUID().slice(0, 6)}` });
    this.at = at;
    this.mode = mode;
  }

  override async send(messages: MessageToProduce<Buffer, Buffer, Buffer, Buffer>[]): Promise<void> {
    if (++this.sends !== this.at) return super.send(messages);
    if (this.mode === 'half') await super.send(messages.slice(0, Math.max(1, messages.length >> 1)));
    if (this.mode === 'all') await super.send(messages);
    throw new Crash(`crash at send ${this.at} (${this.mode} landed)`);
  }
}

/** A state whose n-th write never happens. */
class CrashingState implements StateStore {
  writes = 0;
  private readonly inner: StateStore;
  private readonly at: number;
  constructor(inner: StateStore, at: number) {
    this.inner = inner;
    this.at = at;
  }
  get where() {
    return this.inner.where;
  }

  read(name: string) {
    return this.inner.read(name);
  }

  async write(name: string, text: string) {
    if (++this.writes === this.at) throw new Crash(`crash at checkpoint write ${this.at}`);
    return this.inner.write(name, text);
  }
}

/** Each source record's origin must be in the target once, and each partition must hold its records in offset order. */
function checkExactlyOnce(messages: Message[], sent: Sent[]): void {
  const origins = new Map<string, number>();
  for (const m of messages) {
    const h = m.headerEntries.find(([k]) => Buffer.from(k as Buffer).toString() === ORIGIN_HEADER);
    const o = h ? Buffer.from(h[1] as Buffer).toString() : '(none)';
    origins.set(o, (origins.get(o) ?? 0) + 1);
  }
  const twice = [...origins].filter(([, n]) => n > 1);
  expect(twice.slice(0, 5)).toEqual([]);
  expect(messages).toHaveLength(sent.length);
  for (let p = 0; p < PARTITIONS; p++) {
    const got = messages.filter((m) => m.partition === p).sort((a, b) => (a.offset < b.offset ? -1 : 1)).map((m) => Buffer.from(m.value as Buffer).toString());
    expect(got).toEqual(sent.filter((r) => r.partition === p).sort((a, b) => a.offset - b.offset).map((r) => r.value));
  }
}

describeKafka('replay: killed and resumed, every record exactly once', (kafka) => {
  const s3 = inject('s3');
  if (!s3) throw new Error(`needs the S3 server: ${inject('s3Unavailable')}`);
  const client = s3ClientFor(s3);

  async function source(bucket: string): Promise<Sent[]> {
    await createBucket(s3!, bucket);
    const pipeline = new SinkPipeline(loadSinkConfig({ BUCKET_NAME: bucket, S3_ENDPOINT: s3!.endpoint, FORMAT: 'jsonl' }), client);
    const sent = records(PER_PARTITION);
    for (let from = 0; from < PER_PARTITION; from += 300) {
      const r = await pipeline.handle(kafkaEvent(sent.filter((x) => x.offset - 100 >= from && x.offset - 100 < from + 300).map((x) => spec('orders', x))));
      expect(r.deadLettered).toBe(0);
    }
    await pipeline.close();
    return sent;
  }

  const settingsFor = (bucket: string, topic: string): ReplaySettings => ({
    bucket, prefix: 'topics/', kind: 'sink', order: 'lexical', extensions: [], csvHeader: true, topics: [], partitions: [], keysPerPoll: 2,
    targetTopic: topic, partitioning: 'keep', recordsPerPoll: 20, maxBytesPerSecond: 0,
    // A checkpoint every few polls: crashes land between checkpoints, and resume reads back several polls.
    checkpointBytes: 16_000,
  });

  it('crashes at generated points of sends and checkpoints, streams replayed at once', async () => {
    // Prepare
    const bucket = 'replay-crashes';
    const sent = await source(bucket);
    const topic = `replay-crashes-${randomUUID().slice(0, 8)}`;
    await createTopic(kafka.bootstrap, topic, PARTITIONS);
    const state = new DirectoryState(await mkdtemp(join(tmpdir(), 'replay-crash-')));
    const random = mulberry32(20261207);
    const crashes: string[] = [];

    // Act: runs that crash at a generated point, until one completes.
    let done = false;
    for (let run = 0; run < 40 && !done; run++) {
      const kind = run >= 14 ? 'none' : random() < 0.6 ? 'send' : 'state';
      const at = 1 + Math.floor(random() * 12);
      const mode = (['none', 'half', 'all'] as const)[Math.floor(random() * 3)];
      const target = new CrashingTarget(kafka.bootstrap, kind === 'send' ? at : -1, mode);
      const store = kind === 'state' ? new CrashingState(state, at) : state;
      try {
        const report = await runReplay({ s3: client, target, state: store }, settingsFor(bucket, topic), { concurrency: 3 });
        done = report.done;
      } catch (err) {
        if (!(err instanceof Crash)) throw err;
        crashes.push(err.message);
      } finally {
        await target.close();
      }
    }

    // Assess
    expect(done).toBe(true);
    expect(crashes.length).toBeGreaterThanOrEqual(8);
    expect(crashes.some((c) => c.includes('half landed'))).toBe(true);
    expect(crashes.some((c) => c.includes('all landed'))).toBe(true);
    expect(crashes.some((c) => c.includes('checkpoint'))).toBe(true);
    checkExactlyOnce(await readTopic(kafka.bootstrap, topic, sent.length), sent);
  }, 180_000);

  it('the replay command SIGKILLed at random moments and run again', async () => {
    // Prepare
    const bucket = 'replay-sigkill';
    const sent = await source(bucket);
    const topic = `replay-sigkill-${randomUUID().slice(0, 8)}`;
    await createTopic(kafka.bootstrap, topic, PARTITIONS);
    const stateDir = await mkdtemp(join(tmpdir(), 'replay-kill-'));
    const args = ['bin/runner.ts', 'replay', '--bucket', bucket, '--s3-endpoint', s3!.endpoint, '--brokers', kafka.bootstrap, '--target-topic', topic,
      '--records-per-poll', '50', '--max-mb-per-second', '0.08', '--state', stateDir, '--quiet'];
    const env = { ...process.env, AWS_ACCESS_KEY_ID: s3!.accessKeyId, AWS_SECRET_ACCESS_KEY: s3!.secretAccessKey };
    const random = mulberry32(7);
    const run = (killAfterMs?: number) => new Promise<{ code: number | null; signal: string | null; out: string }>((resolve) => {
      const child = spawn(process.execPath, args, { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d) => { out += d; });
      child.stderr.on('data', (d) => { out += d; });
      const timer = killAfterMs !== undefined ? setTimeout(() => child.kill('SIGKILL'), killAfterMs) : undefined;
      child.on('exit', (code, signal) => {
        clearTimeout(timer);
        resolve({ code, signal, out });
      });
    });

    // Act: three runs killed 1.5-4 s in, then one to the end.
    const kills: number[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await run(1500 + Math.floor(random() * 2500));
      if (r.signal === 'SIGKILL') kills.push(i);
      else expect(r.code, r.out).toBe(0);
    }
    const last = await run();

    // Assess
    expect(last.code, last.out).toBe(0);
    expect(kills.length).toBeGreaterThanOrEqual(2);
    checkExactlyOnce(await readTopic(kafka.bootstrap, topic, sent.length), sent);
  }, 180_000);
});
