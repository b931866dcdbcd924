/**
 * Two runner loops writing the same partitions at once into one local store (two consumers in two groups over one
 * topic), each restarting once from an earlier offset (a lost commit / a rewind), with other batch cuts, while the
 * store fails requests — some after doing them (the answer lost). Every offset must land exactly once, and every
 * checkpoint must end past the last offset with no claim.
 */
import { mkdtempSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ProgressStore } from '../../../lambdas/shared/progress.ts';
import { createSinkHandler } from '../../../lambdas/sink/app.ts';
import { releaseStaleClaims } from '../../../bin/runner/claims.ts';
import type { RunnerRecord } from '../../../bin/runner/event.ts';
import { LocalObjectStore } from '../../../bin/runner/local-store.ts';
import { runPipeline, type RunnerSourceLike, type RunnerStats } from '../../../bin/runner/runner.ts';

const PARTITIONS = 3;
const OFFSETS = 3000;

function record(partition: number, offset: number): RunnerRecord {
  return {
    topic: 'orders', partition, offset: BigInt(offset), timestamp: 1_767_225_600_000 + offset, timestampType: 'CREATE_TIME',
    key: Buffer.from(`k${offset % 7}`), value: Buffer.from(JSON.stringify({ p: partition, o: offset })), headers: [],
  };
}

/** The offsets [from, OFFSETS) of every partition, interleaved, yielding to the event loop now and then. */
function source(from: number): RunnerSourceLike {
  return {
    async *records() {
      for (let o = from; o < OFFSETS; o++) {
        for (let p = 0; p < PARTITIONS; p++) yield record(p, o);
        if (o % 50 === 0) await new Promise((r) => setImmediate(r));
      }
    },
    commit: async () => {},
    describe: () => ({ eventSource: 'SelfManagedKafka', bootstrapServers: 'test' }),
    close: async () => {},
  };
}

/** A seeded share of requests fails: before the store acts (500), or after it (the answer lost on the way). */
function faulty(store: LocalObjectStore, rate: number, seed: number) {
  let a = seed;
  const random = () => ((a = (a * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const failure = () => Object.assign(new Error('We encountered an internal error'), { name: 'InternalError', $metadata: { httpStatusCode: 500 } });
  let injected = 0;
  return {
    get injected() { return injected; },
    async send(command: { constructor: { name: string }; input: Record<string, unknown> }) {
      const r = random();
      if (r < rate / 2) { injected++; throw failure(); }
      const out = await store.send(command);
      if (r < rate) { injected++; throw failure(); }
      return out;
    },
  };
}

describe('two runner loops over the same partitions, with rewinds and failing S3 requests', () => {
  it('land every offset exactly once and leave every checkpoint complete', async () => {
    // Prepare
    const store = new LocalObjectStore(mkdtempSync(join(tmpdir(), 'kafka-s3-overlap-')));
    const s3 = faulty(store, 0.08, 7);
    const env = { BUCKET_NAME: 'bkt', FORMAT: 'jsonl', COMPRESSION: 'none', MAX_RECORDS_PER_OBJECT: '1000', MULTIPART_THRESHOLD_BYTES: String(1 << 30), PART_SIZE_BYTES: String(1 << 30) };
    const consumer = async (phases: { from: number; batchSize: number; stopAfter?: number }[]) => {
      const handler = createSinkHandler({ env, s3: s3 as never });
      const all: RunnerStats[] = [];
      for (const ph of phases) {
        all.push(await runPipeline({
          source: source(ph.from), handler, batch: { batchSize: ph.batchSize, windowMs: 10_000 },
          retry: { bisectOnError: true, baseDelayMs: 1, maxDelayMs: 20 },
          ...(ph.stopAfter ? { stopAfter: ph.stopAfter } : {}),
          releaseStaleClaims: async (self) => (await releaseStaleClaims(s3 as never, { bucket: 'bkt', statePrefix: 'checkpoints/' }, self)).length,
        }));
      }
      return all;
    };

    // Act: A reads to about 2,000, then restarts at 800; B reads to about 1,500, then restarts at 0 (a new group).
    const [a, b] = await Promise.all([
      consumer([{ from: 0, batchSize: 700, stopAfter: 6000 }, { from: 800, batchSize: 1100 }]),
      consumer([{ from: 0, batchSize: 333, stopAfter: 4500 }, { from: 0, batchSize: 2000 }]),
    ]);

    // Assess: every offset once, with its content.
    const seen = new Map<string, number>();
    for (const key of await store.keys('bkt', 'topics/')) {
      for (const line of (await readFile(join(store.bucketDir('bkt'), key), 'utf8')).split('\n')) {
        if (!line) continue;
        const r = JSON.parse(line) as { partition: number; offset: number; value: { p: number; o: number } };
        expect(r.value).toEqual({ p: r.partition, o: r.offset });
        seen.set(`${r.partition}:${r.offset}`, (seen.get(`${r.partition}:${r.offset}`) ?? 0) + 1);
      }
    }
    const counts = [...seen.values()];
    expect({ distinct: seen.size, duplicated: counts.filter((n) => n > 1).length }).toEqual({ distinct: PARTITIONS * OFFSETS, duplicated: 0 });
    expect(await store.keys('bkt', 'dead-letters/')).toEqual([]);
    const progress = new ProgressStore(store as never, { bucket: 'bkt', statePrefix: 'checkpoints/' });
    for (let p = 0; p < PARTITIONS; p++) expect((await progress.read('orders', p)).checkpoint).toEqual({ next: BigInt(OFFSETS), claim: null });
    // The run went through what it is meant to exercise.
    const sum = (k: keyof RunnerStats) => [...a, ...b].reduce((n, s) => n + (s[k] as number), 0);
    expect(sum('alreadyWritten')).toBeGreaterThan(0);
    expect(sum('claimConflicts')).toBeGreaterThan(0);
    expect(sum('retries')).toBeGreaterThan(0);
    expect(s3.injected).toBeGreaterThan(0);
    expect(sum('written') + sum('tombstonesIgnored') + sum('alreadyWritten')).toBe(sum('recordsIn'));
    console.log(`overlap: ${JSON.stringify({ injected: s3.injected, alreadyWritten: sum('alreadyWritten'), claimConflicts: sum('claimConflicts'), claimsReleased: sum('claimsReleased'), retries: sum('retries') })}`);
  }, 120_000);
});
