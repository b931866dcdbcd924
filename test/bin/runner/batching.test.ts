/** The runner's event source semantics: batch closing rules, the MSK event shape, retries and bisect. */
import diagnosticsChannel from 'node:diagnostics_channel';
import { readFile } from 'node:fs/promises';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeEvent } from '../../../lambdas/shared/decode.ts';
import { Batcher, EVENT_ENVELOPE_BYTES } from '../../../bin/runner/batcher.ts';
import { recordEventBytes, toKafkaEvent, type RunnerRecord } from '../../../bin/runner/event.ts';
import { LocalObjectStore } from '../../../bin/runner/local-store.ts';
import { PROGRESS_CHANNEL, type ProgressMessage } from '../../../bin/runner/progress-channel.ts';
import { deliver, GiveUpError } from '../../../bin/runner/retry.ts';
import { runPipeline, type RunnerSourceLike } from '../../../bin/runner/runner.ts';
import { chunksOf, sampleRecords } from '../../../bin/runner/sample-source.ts';

const rec = (offset: number, partition = 0, size = 10): RunnerRecord => ({
  topic: 'orders', partition, offset: BigInt(offset), timestamp: 1_767_225_600_000 + offset, timestampType: 'CREATE_TIME',
  key: Buffer.from(`k${offset}`), value: Buffer.alloc(size, 120), headers: [{ key: 'h', value: Buffer.from([0, 255]) }, { key: 'h', value: Buffer.from('x') }],
});

/** A handler's result that wrote all n records as one object. */
const written = (n: number) => ({ recordsIn: n, written: n, filtered: 0, tombstonesIgnored: 0, tombstonesWritten: 0, deadLettered: 0, objects: 1, bytes: 0, multipartObjects: 0, deadLetterObjects: 0, unexpectedRecordErrors: 0, encodeFallbacks: 0, alreadyWritten: 0, transformedRows: 0, keys: [], ranges: [] });

/** A source of these chunks (and of their records one by one), committing nothing, that owns every partition. */
const chunkSource = (chunks: readonly RunnerRecord[][], over: Partial<RunnerSourceLike> = {}): RunnerSourceLike => ({
  async *records() { for (const c of chunks) yield* c; },
  async *chunks() { yield* chunks; },
  commit: async () => {},
  describe: () => ({ eventSource: 'SelfManagedKafka', bootstrapServers: 'test' }),
  close: async () => {},
  ...over,
});

describe('Batcher', () => {
  it('closes a batch at batchSize', () => {
    const b = new Batcher({ batchSize: 3, windowMs: 10_000 });
    for (let i = 0; i < 2; i++) b.add(rec(i), 0);
    expect(b.ready(1)).toBeUndefined();
    b.add(rec(2), 1);
    expect(b.ready(1)?.map((r) => r.offset)).toEqual([0n, 1n, 2n]);
    expect(b.size).toBe(0);
  });

  it('closes a batch when its window has passed since the first record', () => {
    const b = new Batcher({ batchSize: 100, windowMs: 500 });
    b.add(rec(0), 1000);
    b.add(rec(1), 1400);
    expect(b.msUntilDue(1400)).toBe(100);
    expect(b.ready(1499)).toBeUndefined();
    expect(b.ready(1500)?.length).toBe(2);
  });

  it('never lets a batch exceed the payload limit: the record that would is the first of the next batch', () => {
    const limit = EVENT_ENVELOPE_BYTES + 3 * recordEventBytes(rec(0, 0, 1000)) + 10;
    const b = new Batcher({ batchSize: 100, windowMs: 10_000, payloadLimitBytes: limit });
    const closed = [0, 1, 2, 3].map((i) => b.add(rec(i, 0, 1000), 0));
    expect(closed.slice(0, 3)).toEqual([undefined, undefined, undefined]);
    expect(closed[3]?.map((r) => r.offset)).toEqual([0n, 1n, 2n]);
    expect(b.size).toBe(1);
  });

  it('estimates at least the real size of the event JSON, so 6 MB events stay under the limit', () => {
    const records = [rec(0, 0, 1), rec(1, 1, 3000), { ...rec(2), key: null, value: null }];
    const real = JSON.stringify(toKafkaEvent(records, { eventSource: 'SelfManagedKafka', bootstrapServers: 'b:9092' })).length;
    expect(EVENT_ENVELOPE_BYTES + records.reduce((n, r) => n + recordEventBytes(r), 0)).toBeGreaterThanOrEqual(real);
  });
});

describe('runner loop: batches cut by the payload limit while invocations take longer than the window', () => {
  it('never sends the record that closed a batch alone: its window starts after the invocation', async () => {
    // Prepare: 20 records of 1 MB (4 fit a 6 MB event), a 10 ms window, invocations of 40 ms.
    const records = Array.from({ length: 20 }, (_, i) => rec(i, 0, 1_000_000));
    const sizes: number[] = [];
    const source: RunnerSourceLike = {
      async *records() {
        yield* records;
      },
      commit: async () => {},
      describe: () => ({ eventSource: 'SelfManagedKafka', bootstrapServers: 'test' }),
      close: async () => {},
    };
    const handler = async (event: unknown) => {
      const n = (event as { records: readonly unknown[] }).records.length;
      sizes.push(n);
      await new Promise((r) => setTimeout(r, 40));
      return written(n);
    };

    // Act
    await runPipeline({ source, handler, batch: { batchSize: 100, windowMs: 10 }, retry: { bisectOnError: false, baseDelayMs: 1, maxDelayMs: 1 } });

    // Assess: full batches of 4; before, each full batch was followed by one of a single record.
    expect(sizes).toEqual([4, 4, 4, 4, 4]);
  });
});

describe('toKafkaEvent', () => {
  it('builds the event the sink decodes back to the same records (keys, null value, repeated headers, binary bytes)', () => {
    const records = [rec(5), { ...rec(6), key: null, value: null }, rec(9, 2)];
    const event = toKafkaEvent(records, { eventSource: 'SelfManagedKafka', bootstrapServers: 'b:9092' });
    const decoded = decodeEvent(JSON.parse(JSON.stringify(event)));
    expect(decoded.partitions.map((p) => [p.topic, p.partition, p.records.map((r) => r.offset)])).toEqual([
      ['orders', 0, [5n, 6n]], ['orders', 2, [9n]],
    ]);
    const [r5, r6] = decoded.partitions[0].records;
    expect(r5.headers).toEqual([{ key: 'h', value: Buffer.from([0, 255]) }, { key: 'h', value: Buffer.from('x') }]);
    expect([r6.key, r6.value]).toEqual([null, null]);
  });
});

describe('deliver (retries as the event source does)', () => {
  const batch = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => rec(i));

  it('retries the same batch until it succeeds and commits it once', async () => {
    const calls: bigint[][] = [];
    const commits: bigint[][] = [];
    let failures = 2;
    const r = await deliver(batch, { bisectOnError: false, baseDelayMs: 1, maxDelayMs: 1 }, {
      invoke: async (rs) => { calls.push(rs.map((x) => x.offset)); if (failures-- > 0) throw new Error('S3 unavailable'); },
      commit: async (rs) => { commits.push(rs.map((x) => x.offset)); },
      sleep: async () => {},
    });
    expect(calls).toHaveLength(3);
    expect(calls.every((c) => c.length === 8)).toBe(true);
    expect(commits).toEqual([batch.map((x) => x.offset)]);
    expect(r).toEqual({ attempts: 3, delivered: 8 });
  });

  it('with bisect, retries the first half from the same start, then the rest, committing each part in order', async () => {
    const calls: string[] = [];
    const commits: string[] = [];
    const r = await deliver(batch, { bisectOnError: true, baseDelayMs: 1, maxDelayMs: 1 }, {
      invoke: async (rs) => {
        calls.push(`${rs[0].offset}-${rs[rs.length - 1].offset}`);
        if (rs.some((x) => x.offset === 3n) && rs.length > 2) throw new Error('bad batch');
      },
      commit: async (rs) => { commits.push(`${rs[0].offset}-${rs[rs.length - 1].offset}`); },
      sleep: async () => {},
    });
    // After a part succeeds, the next batch starts right after it with the rest, as the event source continues.
    expect(calls).toEqual(['0-7', '0-3', '0-1', '2-7', '2-4', '2-3', '4-7']);
    expect(commits).toEqual(['0-1', '2-3', '4-7']);
    expect(r.delivered).toBe(8);
  });

  it('backs off exponentially up to the cap, and gives up without committing after maxAttempts', async () => {
    const delays: number[] = [];
    const commits: unknown[] = [];
    await expect(deliver(batch, { bisectOnError: false, baseDelayMs: 100, maxDelayMs: 350, maxAttempts: 5 }, {
      invoke: async () => { throw new Error('down'); },
      commit: async (rs) => { commits.push(rs); },
      sleep: async (ms) => { delays.push(ms); },
    })).rejects.toBeInstanceOf(GiveUpError);
    expect(delays).toEqual([100, 200, 350, 350]);
    expect(commits).toEqual([]);
  });

  it('a stopping runner abandons the rest of the batch, uncommitted', async () => {
    let stop = false;
    const commits: number[] = [];
    const r = await deliver(batch, { bisectOnError: true, baseDelayMs: 1, maxDelayMs: 1 }, {
      invoke: async (rs) => { if (rs.length === 8) { stop = true; throw new Error('x'); } },
      commit: async (rs) => { commits.push(rs.length); },
      sleep: async () => {},
      stopping: () => stop,
    });
    expect(commits).toEqual([]);
    expect(r.delivered).toBe(0);
  });

  it('a signal to stop ends the wait between attempts at once, not after the backoff', async () => {
    const controller = new AbortController();
    const commits: number[] = [];
    const t0 = performance.now();
    setTimeout(() => controller.abort(), 50);
    const r = await deliver(batch, { bisectOnError: false, baseDelayMs: 10_000, maxDelayMs: 10_000 }, {
      invoke: async () => { throw new Error('S3 is down'); },
      commit: async (rs) => { commits.push(rs.length); },
      stopping: () => controller.signal.aborted,
      signal: controller.signal,
    });
    expect(performance.now() - t0).toBeLessThan(5000);
    expect(commits).toEqual([]);
    expect(r.delivered).toBe(0);
  });
});

describe('LocalObjectStore and the sample source', () => {
  it('writes objects under the bucket directory with their S3 keys and refuses keys that escape it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kafka-s3-local-'));
    const store = new LocalObjectStore(dir);
    await store.send(new PutObjectCommand({ Bucket: 'b', Key: 'topics/orders/dt=2026-01-01/a.jsonl', Body: Buffer.from('x\n') }) as never);
    expect(await readFile(join(dir, 'b/topics/orders/dt=2026-01-01/a.jsonl'), 'utf8')).toBe('x\n');
    await expect(store.send(new PutObjectCommand({ Bucket: 'b', Key: '../../etc/x', Body: Buffer.from('x') }) as never)).rejects.toThrow(/escapes/);
    expect([store.objects, store.bytes]).toEqual([1, 2]);
  });

  it('generates realistic orders across partitions with per-partition offsets, null keys and tombstones', async () => {
    const out: RunnerRecord[] = [];
    for await (const r of sampleRecords({ topic: 'orders', partitions: 3, records: 600, startTime: 0 })) out.push(r);
    expect(out.filter((r) => r.partition === 1).map((r) => r.offset).slice(0, 3)).toEqual([0n, 1n, 2n]);
    expect(out.filter((r) => r.value === null)).toHaveLength(3);
    expect(out.filter((r) => r.key === null)).toHaveLength(12);
    expect(JSON.parse(out[0].value!.toString())).toMatchObject({ order_id: 'ord-000000000', currency: 'EUR' });
  });
});

describe('deliver: maxAttempts counts failures in a row', () => {
  it('parts that succeed in between do not use up the attempts', async () => {
    const batch = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => rec(i));
    let calls = 0;
    // 0-7 fails, 0-3 succeeds, 4-7 fails once then succeeds: 2 failures, never 2 in a row.
    const r = await deliver(batch, { bisectOnError: true, baseDelayMs: 1, maxDelayMs: 1, maxAttempts: 2 }, {
      invoke: async (rs) => { calls++; if ((rs.length === 8) || (rs[0].offset === 4n && calls === 3)) throw new Error('x'); },
      commit: async () => {},
      sleep: async () => {},
    });
    expect(r.delivered).toBe(8);
  });
});

describe('progress channel', () => {
  it('publishes the running totals after each committed batch, and the committed records are those of the batches', async () => {
    // Prepare: 25 records of 10 bytes, batches of 10; a subscriber on the channel (as bench/report-usage.ts).
    const records = Array.from({ length: 25 }, (_, i) => rec(i));
    const commits: number[] = [];
    const source: RunnerSourceLike = {
      async *records() {
        yield* records;
      },
      commit: async (rs) => void commits.push(rs.length),
      describe: () => ({ eventSource: 'SelfManagedKafka', bootstrapServers: 'test' }),
      close: async () => {},
    };
    const handler = async (event: unknown) => {
      const n = (event as { records: readonly unknown[] }).records.length;
      return written(n);
    };
    const seen: ProgressMessage[] = [];
    const listener = (m: unknown) => seen.push({ ...(m as ProgressMessage) });
    diagnosticsChannel.subscribe(PROGRESS_CHANNEL, listener);

    // Act
    try {
      await runPipeline({ source, handler, batch: { batchSize: 10, windowMs: 10_000 }, retry: { bisectOnError: false, baseDelayMs: 1, maxDelayMs: 1 } });
    } finally {
      diagnosticsChannel.unsubscribe(PROGRESS_CHANNEL, listener);
    }

    // Assess: one message per commit, totals growing by each batch's records and value bytes.
    expect(commits).toEqual([10, 10, 5]);
    expect(seen.map((m) => [m.committed, m.valueBytes])).toEqual([[10, 100], [20, 200], [25, 250]]);
  });
});

describe('runner loop: --stop-after n commits exactly n records', () => {
  // Attack: chunks of any size, any batch size, n anywhere (inside a batch, a chunk, past the end), partitions revoked
  // mid-run (their records dropped uncommitted, so batches commit fewer than they hold), failed invocations, bisect.
  it('commits min(n, what the source offers and owns), a prefix of each partition, never a record more', async () => {
    await fc.assert(fc.asyncProperty(
      fc.record({
        chunks: fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 12 }),
        batchSize: fc.integer({ min: 1, max: 50 }),
        stopAfter: fc.integer({ min: 1, max: 300 }),
        revokeAt: fc.option(fc.integer({ min: 0, max: 200 }), { nil: undefined }),
        failEvery: fc.option(fc.integer({ min: 2, max: 5 }), { nil: undefined }),
        bisect: fc.boolean(),
      }),
      async ({ chunks, batchSize, stopAfter, revokeAt, failEvery, bisect }) => {
        // Prepare: records round-robin over 3 partitions; partition 2 is revoked once revokeAt records were read.
        let offered = 0;
        const next = [0, 0, 0];
        const all: RunnerRecord[][] = chunks.map((n) => Array.from({ length: n }, () => {
          const p = offered++ % 3;
          return rec(next[p]++, p);
        }));
        let read = 0;
        const owns = (_t: string, p: number) => p !== 2 || revokeAt === undefined || read < revokeAt;
        const committed: RunnerRecord[] = [];
        let calls = 0;
        const source = chunkSource(all, {
          async *chunks() { for (const c of all) { read += c.length; yield c; } },
          commit: async (rs) => {
            const kept = rs.filter((r) => owns(r.topic, r.partition));
            committed.push(...kept);
            return kept.length;
          },
          owns,
        });
        const handler = async (event: unknown) => {
          if (failEvery !== undefined && ++calls % failEvery === 0) throw new Error('S3 unavailable');
          const n = (event as { records: readonly unknown[] }).records.length;
          return written(n);
        };

        // Act
        const stats = await runPipeline({ source, handler, stopAfter, batch: { batchSize, windowMs: 60_000 }, retry: { bisectOnError: bisect, baseDelayMs: 0, maxDelayMs: 0 } });

        // Assess: exactly n when the owned records reach it (all records are owned until the revocation), never more;
        // each partition's committed offsets are 0, 1, 2, … (a prefix, in order).
        expect(stats.committed).toBe(committed.length);
        expect(committed.length).toBeLessThanOrEqual(stopAfter);
        if (revokeAt === undefined) expect(committed.length).toBe(Math.min(stopAfter, offered));
        for (const p of [0, 1, 2]) {
          const offsets = committed.filter((r) => r.partition === p).map((r) => Number(r.offset));
          expect(offsets).toEqual(offsets.map((_, i) => i));
        }
      },
    ), { numRuns: 300 });
  });
});

describe('runner loop: a batching window of 0', () => {
  it('sends what was read together (up to the batch size), not one record per invocation', async () => {
    // Before: with --window-ms 0 every record passed its window at once and went alone (2,000 invocations for 2,000).
    const chunks = [Array.from({ length: 2000 }, (_, i) => rec(i)), Array.from({ length: 25_000 }, (_, i) => rec(2000 + i))];
    const sizes: number[] = [];
    const source = chunkSource(chunks);
    const handler = async (event: unknown) => {
      const n = (event as { records: readonly unknown[] }).records.length;
      sizes.push(n);
      return written(n);
    };

    await runPipeline({ source, handler, batch: { batchSize: 10_000, windowMs: 0 }, retry: { bisectOnError: false, baseDelayMs: 1, maxDelayMs: 1 } });

    expect(sizes).toEqual([2000, 10_000, 10_000, 5000]);
  });
});

describe('chunksOf: the sample and file sources read in chunks', () => {
  it('yields the records in order, in chunks of up to the size, the last one short', async () => {
    const sizes: number[] = [];
    const offsets: bigint[] = [];
    for await (const c of chunksOf(sampleRecords({ topic: 't', partitions: 1, records: 2500, startTime: 0 }), 1000)) {
      sizes.push(c.length);
      offsets.push(...c.map((r) => r.offset));
    }
    expect(sizes).toEqual([1000, 1000, 500]);
    expect(offsets).toEqual(Array.from({ length: 2500 }, (_, i) => BigInt(i)));
  });
});
