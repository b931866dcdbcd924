/**
 * The forwarder's delivery guarantee under the event source's real behaviour (README, S3 Tables stack, "Delivery
 * guarantees and limits"): checkpoints and claims (lambdas/shared/progress.ts) in a MemoryBucket that enforces
 * conditional writes, and a fake Kinesis that keeps every entry it accepted. Each test counts, per offset, what is
 * in the stream and in the dead-letter objects:
 *  - a redelivery from an earlier offset, with any cut, sends nothing twice;
 *  - a PutRecords failure after some chunks were accepted, then the retry: every record once, dead letters once;
 *  - an overlapping invocation on a live claim fails with ClaimConflictError, and its retry converges;
 *  - a killed invocation (its claim never released): after the claim expires the range is sent again, and exactly
 *    the records the killed invocation had put are then in the stream twice — the window that remains.
 */
import type { KinesisClient, PutRecordsCommandInput } from '@aws-sdk/client-kinesis';
import type { S3Client } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { forwardBatch, type ForwardResult } from '../../../lambdas/forwarder/app.ts';
import { loadForwarderConfig } from '../../../lambdas/forwarder/config.ts';
import { PutRecordsError } from '../../../lambdas/forwarder/put-records.ts';
import { checkpointKey, ClaimConflictError, decodeCheckpoint } from '../../../lambdas/shared/progress.ts';
import { kafkaEvent, type RecordSpec } from '../../support/events.ts';
import { MemoryBucket } from '../../support/memory-bucket.ts';

const DEAD = 'forwarder-dead-letters/';
const STATE = 'forwarder-checkpoints/';
const cfg = loadForwarderConfig({ STREAM_NAME: 'orders-stream', ERROR_BUCKET: 'forwarder-errors', PUT_MAX_ATTEMPTS: '2', PARTITION_KEY: 'topic-partition' });
const T0 = Date.parse('2026-01-01T00:00:00Z');
const MINUTE = 60_000;

/** What a call's answer does with each entry: accept it, refuse it (throttled), or the call throws / never answers. */
type Answer = { refuse?: (index: number, id: string) => boolean } | { throws: Error } | 'hang';
const ACCEPT: Answer = {};
/** An error PutRecords does not retry: the batch fails at once. */
const DENIED: Answer = { throws: Object.assign(new Error('denied (test)'), { name: 'AccessDeniedException', $metadata: { httpStatusCode: 400 } }) };

/** A Kinesis stand-in: every entry it accepted is kept, in order, as "partition:offset". */
class RecordingKinesis {
  readonly stream: string[] = [];
  readonly calls: string[][] = [];
  answer: (call: number, ids: readonly string[]) => Answer = () => ({});

  async send(command: { constructor: { name: string }; input: PutRecordsCommandInput }) {
    expect(command.constructor.name).toBe('PutRecordsCommand');
    const ids = (command.input.Records ?? []).map((r) => {
      const d = JSON.parse(Buffer.from(r.Data!).toString('utf8')) as { _kafka_partition: number; _kafka_offset: number };
      return `${d._kafka_partition}:${d._kafka_offset}`;
    });
    const call = this.calls.length;
    this.calls.push(ids);
    const a = this.answer(call, ids);
    if (a === 'hang') return new Promise<never>(() => {});
    if ('throws' in a) throw a.throws;
    const records = ids.map((id, i) => {
      if (a.refuse?.(i, id)) return { ErrorCode: 'ProvisionedThroughputExceededException', ErrorMessage: 'Rate exceeded for shard (test)' };
      this.stream.push(id);
      return { SequenceNumber: String(this.stream.length), ShardId: 'shardId-000000000000' };
    });
    return { Records: records, FailedRecordCount: records.filter((r) => 'ErrorCode' in r).length, $metadata: {} };
  }
}

/** A bad record (not JSON: a dead letter) at every offset where `bad` holds; the others become stream entries. */
const specs = (partition: number, from: number, to: number, bad: (offset: number) => boolean = () => false): RecordSpec[] =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i).map((offset) => ({
    topic: 'orders', partition, offset, key: `k${offset % 7}`, value: bad(offset) ? `not json ${offset}` : JSON.stringify({ n: offset }),
  }));

function world() {
  const bucket = new MemoryBucket();
  const kinesis = new RecordingKinesis();
  const run = (records: RecordSpec[], now = T0, extra: { owner?: string; deadlineMs?: number } = {}): Promise<ForwardResult> =>
    forwardBatch(cfg, kinesis as unknown as KinesisClient, bucket as unknown as S3Client, kafkaEvent(records), async () => {}, { now: () => now, ...extra });
  const deadLetterIds = () => bucket.deadLetters(DEAD).map((l) => `${String(l.partition)}:${String(l.offset)}`);
  const checkpoint = (partition: number) => {
    const body = bucket.objects.get(checkpointKey(STATE, 'orders', partition));
    return body ? decodeCheckpoint(body.toString(), 'test') : undefined;
  };
  return { bucket, kinesis, run, deadLetterIds, checkpoint };
}

/** How many times each id occurs. */
const counts = (ids: readonly string[]) => {
  const m = new Map<string, number>();
  for (const id of ids) m.set(id, (m.get(id) ?? 0) + 1);
  return m;
};
const idsOf = (partition: number, from: number, to: number, keep: (offset: number) => boolean = () => true) =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i).filter(keep).map((o) => `${partition}:${o}`);
const sorted = (ids: readonly string[]) => [...ids].sort();
/** Every id of `expected` exactly once, nothing else. */
function expectExactlyOnce(actual: readonly string[], expected: readonly string[]) {
  const dup = [...counts(actual)].filter(([, n]) => n > 1).map(([id]) => id);
  expect(dup, 'duplicated').toEqual([]);
  expect(sorted(actual)).toEqual(sorted(expected));
}
const isBad = (o: number) => o % 97 === 13;

describe('a redelivery from an earlier offset sends nothing twice', () => {
  it('a lost commit (0–999 sent, then 500–1499), a replay with other cuts (new group), a stale batch', async () => {
    // Prepare
    const w = world();

    // Act: 0–999 of partition 0 and 0–499 of partition 1 are sent; the commit is lost and the next batches start lower.
    const first = await w.run([...specs(0, 0, 999, isBad), ...specs(1, 0, 499, isBad)]);
    const second = await w.run([...specs(0, 500, 1499, isBad), ...specs(1, 300, 799, isBad)]);
    // A new consumer group replays everything with other cuts; then a batch entirely below the checkpoints.
    const replays = [];
    for (const [from, to] of [[0, 299], [300, 1299], [1300, 1799]]) {
      replays.push(await w.run([...specs(0, from, to, isBad), ...(from <= 999 ? specs(1, from, Math.min(to, 999), isBad) : [])]));
    }
    const stale = await w.run([...specs(0, 0, 99, isBad), ...specs(1, 0, 99, isBad)]);

    // Assess
    expect(first).toMatchObject({ alreadySent: 0, recordsIn: 1500 });
    expect(second).toMatchObject({ alreadySent: 500 + 200, recordsIn: 1500 });
    expect(replays.map((r) => r.alreadySent)).toEqual([300 + 300, 1000 + 500, 200]);
    expect(stale).toMatchObject({ alreadySent: 200, forwarded: 0, putCalls: 0, deadLetterKeys: [] });
    const good = (o: number) => !isBad(o);
    expectExactlyOnce(w.kinesis.stream, [...idsOf(0, 0, 1799, good), ...idsOf(1, 0, 999, good)]);
    expectExactlyOnce(w.deadLetterIds(), [...idsOf(0, 0, 1799, isBad), ...idsOf(1, 0, 999, isBad)]);
    expect(w.checkpoint(0)).toEqual({ next: 1800n, claim: null });
    expect(w.checkpoint(1)).toEqual({ next: 1000n, claim: null });
    // Every batch's records are accounted for: sent before, or forwarded, filtered, ignored, dead-lettered now.
    for (const r of [first, second, ...replays, stale]) {
      expect(r.alreadySent + r.forwarded + r.filtered + r.tombstonesIgnored + r.deadLettered).toBe(r.recordsIn);
    }
  });
});

describe('a PutRecords failure after some chunks were accepted, then the retry', () => {
  it('sends every record exactly once: the checkpoint moved past the accepted chunks, the dead-letter object was trimmed', async () => {
    // Prepare: 1300 records of one partition → chunks 0–499, 500–999, 1000–1299 (dead letters in every range, so
    // the entries' offsets shift a little); the second chunk is refused until its attempts run out.
    const bad = (o: number) => o % 100 === 42;
    const w = world();
    w.kinesis.answer = (call) => (call === 1 || call === 2 ? { refuse: () => true } : {});
    const input = specs(0, 0, 1299, bad);

    // Act
    const failed = await w.run(input).then(() => undefined, (e: unknown) => e);
    const afterFailure = { stream: [...w.kinesis.stream], checkpoint: w.checkpoint(0), deadLetters: w.deadLetterIds() };
    const retry = await w.run(input);

    // Assess
    expect(failed).toBeInstanceOf(PutRecordsError);
    // Chunk 1 holds the first 500 entries: offsets 0..504 without 42, 142, 242, 342, 442.
    expect(afterFailure.stream).toEqual(idsOf(0, 0, 504, (o) => !bad(o)));
    expect(afterFailure.checkpoint).toEqual({ next: 505n, claim: null });
    expect(afterFailure.deadLetters).toEqual(idsOf(0, 0, 504, bad));
    expect(retry).toMatchObject({ alreadySent: 505, forwarded: 1300 - 505 - 8, deadLettered: 8 });
    expect(w.kinesis.calls.slice(3).flat()[0]).toBe('0:505');
    expectExactlyOnce(w.kinesis.stream, idsOf(0, 0, 1299, (o) => !bad(o)));
    expectExactlyOnce(w.deadLetterIds(), idsOf(0, 0, 1299, bad));
    expect(w.bucket.keys(DEAD)).toEqual([
      `${DEAD}orders/partition=0/orders+0+00000000000000000000.jsonl`,
      `${DEAD}orders/partition=0/orders+0+00000000000000000505.jsonl`,
    ]);
    expect(w.checkpoint(0)).toEqual({ next: 1300n, claim: null });
  });

  it('two partitions across the chunks, a call that fails as a whole: each partition advances to its first unsent entry', async () => {
    // Prepare: partition 0 has 700 records, partition 1 has 700; entries go partition 0 first, so chunk 1 holds
    // 0:0–499, chunk 2 0:500–699 and 1:0–299, chunk 3 the rest of partition 1. Chunk 2's call fails with an
    // error that is not retried. Partition 0's dead letters are all above what was accepted (its trimmed object
    // must go), partition 1's everywhere.
    const bad0 = (o: number) => o >= 600 && o % 10 === 0;
    const bad1 = (o: number) => o % 50 === 7;
    const w = world();
    w.kinesis.answer = (call) => (call === 1 ? DENIED : ACCEPT);
    const input = [...specs(0, 0, 699, bad0), ...specs(1, 0, 699, bad1)];

    // Act
    const failed = await w.run(input).then(() => undefined, (e: unknown) => e);
    const afterFailure = { checkpoints: [w.checkpoint(0), w.checkpoint(1)], deadLetterKeys: w.bucket.keys(DEAD) };
    const retry = await w.run(input);

    // Assess
    expect(failed).toBeInstanceOf(PutRecordsError);
    expect(afterFailure.checkpoints).toEqual([
      { next: 500n, claim: null },
      // Nothing of partition 1 was accepted: its claim is released (expired at once) for the retry.
      { next: 0n, claim: expect.objectContaining({ from: 0n, to: 699n, expiresAt: 0 }) },
    ]);
    // Partition 0's dead letters (600, 610, …) are all above 500: its object is gone, the retry writes them anew.
    expect(afterFailure.deadLetterKeys).toEqual([`${DEAD}orders/partition=1/orders+1+00000000000000000000.jsonl`]);
    expect(retry.alreadySent).toBe(500);
    expectExactlyOnce(w.kinesis.stream, [...idsOf(0, 0, 699, (o) => !bad0(o)), ...idsOf(1, 0, 699, (o) => !bad1(o))]);
    expectExactlyOnce(w.deadLetterIds(), [...idsOf(0, 0, 699, bad0), ...idsOf(1, 0, 699, bad1)]);
  });

  it('a chunk partly accepted when its attempts run out: what precedes its first refused entry is not sent again', async () => {
    // Prepare: 1200 records; in chunk 2 (offsets 500–999) the stream keeps refusing everything from 750 on.
    const w = world();
    w.kinesis.answer = (call) => (call >= 1 && call <= 2 ? { refuse: (_i, id) => Number(id.split(':')[1]) >= 750 } : {});
    const input = specs(0, 0, 1199);

    // Act
    const failed = await w.run(input).then(() => undefined, (e: unknown) => e);
    const checkpoint = w.checkpoint(0);
    await w.run(input);

    // Assess
    expect(failed).toBeInstanceOf(PutRecordsError);
    expect(checkpoint).toEqual({ next: 750n, claim: null });
    expectExactlyOnce(w.kinesis.stream, idsOf(0, 0, 1199));
  });

  it('refusals scattered in the failing call: entries it accepted after the first refused one are sent again (stated limit)', async () => {
    // Prepare: in chunk 2 (offsets 500–999) the stream keeps refusing 600 and 900 only.
    const w = world();
    w.kinesis.answer = (call) => (call >= 1 && call <= 2 ? { refuse: (_i, id) => id === '0:600' || id === '0:900' } : {});
    const input = specs(0, 0, 1199);

    // Act
    await w.run(input).then(() => undefined, () => undefined);
    const checkpoint = w.checkpoint(0);
    await w.run(input);

    // Assess: one `next` per partition cannot skip 601–899 and 901–999; they are in the stream twice, nothing else is.
    expect(checkpoint).toEqual({ next: 600n, claim: null });
    const twice = [...counts(w.kinesis.stream)].filter(([, n]) => n === 2).map(([id]) => id);
    expect(sorted(twice)).toEqual(sorted(idsOf(0, 601, 999, (o) => o !== 900)));
    expect(sorted([...new Set(w.kinesis.stream)])).toEqual(sorted(idsOf(0, 0, 1199)));
    expect(w.kinesis.stream).toHaveLength(1200 + twice.length);
  });

  it('a failed attempt then a shorter retry (bisect) without its dead letters: each dead letter stays once', async () => {
    // Prepare: 0–999 with a dead letter at 800; the first call fails as a whole, nothing is accepted. The event
    // source bisects: 0–499 (no dead letter), then 500–999.
    const w = world();
    w.kinesis.answer = (call) => (call === 0 ? DENIED : ACCEPT);
    const bad = (o: number) => o === 800;

    // Act
    await w.run(specs(0, 0, 999, bad)).then(() => undefined, () => undefined);
    const keysAfterFailure = w.bucket.keys(DEAD);
    await w.run(specs(0, 0, 499, bad));
    await w.run(specs(0, 500, 999, bad));

    // Assess: the failed attempt's object (keyed at 0) was listed in its released claim and is removed by the
    // retry that took the claim over and wrote no dead letters there.
    expect(keysAfterFailure).toEqual([`${DEAD}orders/partition=0/orders+0+00000000000000000000.jsonl`]);
    expect(w.bucket.keys(DEAD)).toEqual([`${DEAD}orders/partition=0/orders+0+00000000000000000500.jsonl`]);
    expectExactlyOnce(w.deadLetterIds(), ['0:800']);
    expectExactlyOnce(w.kinesis.stream, idsOf(0, 0, 999, (o) => !bad(o)));
  });
});

describe('overlapping invocations', () => {
  it('one on a live claim fails with ClaimConflictError and sends nothing; its retry converges', async () => {
    // Prepare: A's second PutRecords call waits until the test lets it go, so A holds the claim meanwhile.
    const w = world();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => { release = resolve; });
    let gatedCall: Promise<void> | undefined;
    const inner = w.kinesis.send.bind(w.kinesis);
    let calls = 0;
    w.kinesis.send = async (command) => {
      if (calls++ === 1) {
        gatedCall = gate;
        await gate;
      }
      return inner(command);
    };
    const a = w.run(specs(0, 0, 999), T0, { owner: 'invocation-a' });
    while (gatedCall === undefined) await new Promise((resolve) => setImmediate(resolve));

    // Act: B (a rebalance's next owner) overlaps A's range; then A finishes; then B's retry.
    const b = await w.run(specs(0, 0, 1499), T0 + 1000, { owner: 'invocation-b' }).then(() => undefined, (e: unknown) => e);
    const streamWhileA = w.kinesis.stream.length;
    release();
    const aResult = await a;
    const bRetry = await w.run(specs(0, 0, 1499), T0 + 2000, { owner: 'invocation-b-retry' });

    // Assess
    expect(b).toBeInstanceOf(ClaimConflictError);
    expect((b as Error).message).toMatch(/^orders-0: offsets 0\.\.999 are being written by another invocation \(invocation-a\) until /);
    expect(streamWhileA).toBe(500);
    expect(aResult).toMatchObject({ forwarded: 1000, alreadySent: 0 });
    expect(bRetry).toMatchObject({ alreadySent: 1000, forwarded: 500 });
    expectExactlyOnce(w.kinesis.stream, idsOf(0, 0, 1499));
  });

  it('two that read the same checkpoint: the conditional write lets one claim, the other fails and its retry converges', async () => {
    // Prepare: no checkpoint yet; both invocations read it before either writes (If-None-Match: * decides). Both
    // start at the committed offset (0), as the event source restarts a partition; their ends differ.
    const w = world();
    let reads = 0;
    let bothRead!: () => void;
    const barrier = new Promise<void>((resolve) => { bothRead = resolve; });
    w.bucket.beforeRequest = async (name, key) => {
      if (!key?.startsWith(STATE)) return;
      if (name === 'GetObjectCommand' && ++reads === 2) bothRead();
      if (name === 'PutObjectCommand' && reads <= 2) await barrier;
    };

    // Act
    const [x, y] = await Promise.allSettled([w.run(specs(0, 0, 599, isBad), T0, { owner: 'x' }), w.run(specs(0, 0, 899, isBad), T0, { owner: 'y' })]);
    w.bucket.beforeRequest = undefined;
    const loser = x.status === 'rejected' ? 'x' : 'y';
    const retry = await w.run(loser === 'x' ? specs(0, 0, 599, isBad) : specs(0, 0, 899, isBad), T0 + 1000);
    await w.run(specs(0, 0, 899, isBad), T0 + 2000);

    // Assess
    const rejected = [x, y].filter((r) => r.status === 'rejected');
    expect(rejected).toHaveLength(1);
    expect((rejected[0] as PromiseRejectedResult).reason).toBeInstanceOf(ClaimConflictError);
    expect(retry.alreadySent).toBe(600);
    expectExactlyOnce(w.kinesis.stream, idsOf(0, 0, 899, (o) => !isBad(o)));
    expectExactlyOnce(w.deadLetterIds(), idsOf(0, 0, 899, isBad));
  });
});

describe('a killed invocation (its claim never released): the window that remains', () => {
  it('blocks the partition until its claim expires; the takeover sends the range again: exactly what the killed one had put is duplicated', async () => {
    // Prepare: A forwards 0–1199 (chunks 0–499, 500–999, 1000–1199, dead letters among them) and dies during its
    // third PutRecords call: the function timed out, nothing ran after it, the claim stays as A wrote it.
    const bad = (o: number) => o % 250 === 3;
    const w = world();
    w.kinesis.answer = (call) => (call === 2 ? 'hang' : {});
    const deadlineMs = T0 + 5 * MINUTE;
    void w.run(specs(0, 0, 1199, bad), T0, { owner: 'killed', deadlineMs });
    while (w.kinesis.calls.length < 3) await new Promise((resolve) => setImmediate(resolve));
    const putByKilled = [...w.kinesis.stream];
    w.kinesis.answer = () => ({});

    // Act: the event source retries (the batch never succeeded, so it starts at or below 0): before the claim
    // expires (A's deadline + 1 minute), and after.
    const early = await w.run(specs(0, 0, 1499, bad), deadlineMs + MINUTE - 1).then(() => undefined, (e: unknown) => e);
    const late = await w.run(specs(0, 0, 1499, bad), deadlineMs + MINUTE);

    // Assess
    expect(early).toBeInstanceOf(ClaimConflictError);
    expect(late).toMatchObject({ alreadySent: 0, recordsIn: 1500 });
    // What can be duplicated: the entries the killed invocation's answers accepted (its first two chunks), no other.
    const good = (o: number) => !bad(o);
    expect(putByKilled).toEqual(idsOf(0, 0, 1199, good).slice(0, 1000));
    const twice = [...counts(w.kinesis.stream)].filter(([, n]) => n > 1);
    expect(twice.every(([, n]) => n === 2)).toBe(true);
    expect(sorted(twice.map(([id]) => id))).toEqual(sorted(putByKilled));
    expect(sorted([...new Set(w.kinesis.stream)])).toEqual(sorted(idsOf(0, 0, 1499, good)));
    // Dead letters: the takeover rewrote the same object (keyed by the claim's start), so each is there once.
    expectExactlyOnce(w.deadLetterIds(), idsOf(0, 0, 1499, bad));
    expect(w.checkpoint(0)).toEqual({ next: 1500n, claim: null });
  });

  it('without a known deadline the claim lasts 15 minutes from its start, plus 1', async () => {
    // Prepare: A dies in its first call; its claim was taken at T0 with no deadline from a Lambda context.
    const w = world();
    w.kinesis.answer = () => 'hang';
    void w.run(specs(0, 0, 9), T0, { owner: 'killed' });
    while (w.kinesis.calls.length < 1) await new Promise((resolve) => setImmediate(resolve));
    w.kinesis.answer = () => ({});

    // Act
    const early = await w.run(specs(0, 0, 9), T0 + 16 * MINUTE - 1).then(() => undefined, (e: unknown) => e);
    const late = await w.run(specs(0, 0, 9), T0 + 16 * MINUTE);

    // Assess
    expect(early).toBeInstanceOf(ClaimConflictError);
    expect(late).toMatchObject({ forwarded: 10 });
    expectExactlyOnce(w.kinesis.stream, idsOf(0, 0, 9));
  });

  it('a takeover cleans the dead-letter object of a killed claim it does not rewrite', async () => {
    // Prepare: A (0–999, dead letter at 900) dies in its first call; the retry after expiry is a shorter batch
    // (0–499, no dead letter), then 500–999.
    const w = world();
    w.kinesis.answer = () => 'hang';
    const bad = (o: number) => o === 900;
    void w.run(specs(0, 0, 999, bad), T0, { owner: 'killed', deadlineMs: T0 + MINUTE });
    while (w.kinesis.calls.length < 1) await new Promise((resolve) => setImmediate(resolve));
    w.kinesis.answer = () => ({});

    // Act
    await w.run(specs(0, 0, 499, bad), T0 + 2 * MINUTE);
    await w.run(specs(0, 500, 999, bad), T0 + 2 * MINUTE);

    // Assess
    expectExactlyOnce(w.deadLetterIds(), ['0:900']);
    expectExactlyOnce(w.kinesis.stream, idsOf(0, 0, 999, (o) => !bad(o)));
  });
});
