/**
 * The compactor against versitygw (issue 12, part 2), with the real sink writing: late records, redeliveries and
 * concurrent sink invocations (of one partition each, and overlapping ones) while it runs, two compactor runs racing, and a failure at every S3 request of a run.
 * What a reader sees is the symlink file of each window (the only list readers use): at every moment its files
 * hold each offset of the window at most once and, once a run has published, exactly the records the sink wrote
 * there; the manifest agrees with the files; a crashed run leaves the previous view, and a rerun converges.
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import { GetObjectTaggingCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { expect, it } from 'vitest';
import { COMPACTION_TAG, TAG_COMPACTED, TAG_SUPERSEDED, type CompactorOptions } from '../../lambdas/compactor/compact.ts';
import { createCompactorHandler } from '../../lambdas/compactor/app.ts';
import { loadCompactorConfig } from '../../lambdas/compactor/config.ts';
import type { Manifest } from '../../lambdas/compactor/manifest.ts';
import { AFTER, compactionSetup, context, HOUR, keysUnder, objectBytes, records, T0 } from '../support/compaction.ts';
import { kafkaEvent } from '../support/events.ts';
import { describeS3 } from '../support/s3-context.ts';
import { s3ClientFor } from '../support/versitygw.ts';

interface View {
  /** topic/partition/offset → times seen, and each line. */
  readonly counts: Map<string, number>;
  readonly lines: Map<string, string>;
  readonly manifests: Manifest[];
}

/** What readers see: every window's symlink file, and the records of the files it lists. */
async function compactedView(client: S3Client, bucket: string): Promise<View> {
  const counts = new Map<string, number>();
  const lines = new Map<string, string>();
  for (const key of await keysUnder(client, bucket, 'compacted/symlinks/')) {
    for (const uri of (await objectBytes(client, bucket, key)).toString().split('\n').filter(Boolean)) {
      const file = uri.replace(`s3://${bucket}/`, '');
      for (const line of gunzipSync(await objectBytes(client, bucket, file)).toString().split('\n').filter(Boolean)) {
        const r = JSON.parse(line) as { topic: string; partition: number; offset: number };
        const id = `${r.topic}/${r.partition}/${r.offset}`;
        counts.set(id, (counts.get(id) ?? 0) + 1);
        lines.set(id, line);
      }
    }
  }
  const manifests: Manifest[] = [];
  for (const key of await keysUnder(client, bucket, 'compacted/manifests/')) manifests.push(JSON.parse((await objectBytes(client, bucket, key)).toString()) as Manifest);
  return { counts, lines, manifests };
}

/** The raw view: every record the sink wrote, by id (the sink's own objects are exactly once). */
async function rawView(client: S3Client, bucket: string): Promise<Map<string, string>> {
  const lines = new Map<string, string>();
  for (const key of await keysUnder(client, bucket, 'topics/')) {
    for (const line of gunzipSync(await objectBytes(client, bucket, key)).toString().split('\n').filter(Boolean)) {
      const r = JSON.parse(line) as { topic: string; partition: number; offset: number };
      const id = `${r.topic}/${r.partition}/${r.offset}`;
      expect(lines.has(id), `raw ${id} twice`).toBe(false);
      lines.set(id, line);
    }
  }
  return lines;
}

/** Every offset at most once in the view, and (complete) the view is the raw records exactly, line for line. */
function expectExactlyOnce(view: View, raw: Map<string, string>, complete = true): void {
  const twice = [...view.counts].filter(([, n]) => n > 1).map(([id]) => id);
  expect(twice, 'offsets read twice').toEqual([]);
  for (const [id, line] of view.lines) expect(raw.get(id), id).toBe(line);
  if (complete) expect([...view.lines.keys()].sort()).toEqual([...raw.keys()].sort());
}

/** The manifests agree with the files they list and the records they hold. */
async function expectManifestsAgree(client: S3Client, bucket: string, view: View): Promise<void> {
  for (const m of view.manifests) {
    expect(m.published).toBe(true);
    let records = 0;
    for (const f of m.files) {
      const rows = gunzipSync(await objectBytes(client, bucket, f.key)).toString().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { offset: number; partition: number; timestamp: string });
      expect([rows.length, String(rows[0].offset), String(rows[rows.length - 1].offset)]).toEqual([f.records, f.firstOffset, f.lastOffset]);
      expect(rows.every((r) => r.partition === f.partition)).toBe(true);
      records += rows.length;
    }
    expect(m.records).toBe(records);
    for (const p of m.partitions) {
      const ids = [...view.lines.keys()].filter((id) => id.startsWith(`${p.topic}/${p.partition}/`));
      const mine = ids.map((id) => JSON.parse(view.lines.get(id)!) as { offset: number; timestamp: string })
        .filter((r) => Date.parse(r.timestamp) >= Date.parse(m.start) && Date.parse(r.timestamp) < Date.parse(m.end))
        .sort((a, b) => a.offset - b.offset);
      expect(p.records).toBe(mine.length);
      const ranges: [string, string][] = [];
      for (const r of mine) {
        const tail = ranges[ranges.length - 1];
        if (tail && Number(tail[1]) + 1 === r.offset) tail[1] = String(r.offset);
        else ranges.push([String(r.offset), String(r.offset)]);
      }
      expect(p.offsetRanges).toEqual(ranges);
      const times = mine.map((r) => r.timestamp).sort();
      expect([p.minTimestamp, p.maxTimestamp]).toEqual([times[0], times[times.length - 1]]);
    }
  }
}

describeS3('compaction: the compacted view is exactly once, whatever runs, races or fails', (s3) => {
  const client = s3ClientFor(s3);
  let n = 0;

  const setup = (extra: Partial<CompactorOptions> = {}) => compactionSetup(s3, client, `compaction-${++n}`, extra);

  it('merges closed windows into one file per partition, late records and redeliveries in later generations', async () => {
    // Prepare: 120 records per partition over three hours, in small batches, one batch delivered twice
    const { bucket, compactor, write, sink } = await setup();
    await write(records(0, 120));
    await sink(kafkaEvent(records(30, 45)), context); // a redelivery: already written, dropped by the checkpoint

    // Act
    const first = await compactor().run();

    // Assess
    expect(first.windows.map((w) => [w.action, w.generation])).toEqual([['compacted', 1], ['compacted', 1], ['compacted', 1]]);
    expect(first.windowsLeft).toBe(0);
    let view = await compactedView(client, bucket);
    expectExactlyOnce(view, await rawView(client, bucket));
    expect(view.manifests.flatMap((m) => m.files.map((f) => f.partition)).sort()).toEqual([0, 0, 0, 1, 1, 1]);
    await expectManifestsAgree(client, bucket, view);
    const watermarks = view.manifests.flatMap((m) => m.partitions.map((p) => p.watermark));
    expect(new Set(watermarks)).toEqual(new Set(['120']));

    // A second run finds nothing new.
    expect((await compactor().run()).windows.map((w) => w.action)).toEqual(['current', 'current', 'current']);

    // Late records (old times, new offsets) and a redelivery land in the first window, and one of its raw objects is
    // written again (as a claim taken over rewrites its keys: a new ETag, records merged before): a later generation
    // merges them, each offset once.
    await write(records(120, 160, { late: true }));
    await sink(kafkaEvent(records(100, 130)), context);
    const [rewritten] = await keysUnder(client, bucket, 'topics/orders/dt=2026-03-01/hour=21/');
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: rewritten, Body: gzipSync(gunzipSync(await objectBytes(client, bucket, rewritten)), { level: 1 }) }));
    const second = await compactor().run();
    expect(second.windows.map((w) => [w.action, w.generation])).toEqual([['compacted', 2], ['current', 1], ['current', 1]]);
    expect(second.windows[0].duplicates).toBeGreaterThan(0);
    view = await compactedView(client, bucket);
    expectExactlyOnce(view, await rawView(client, bucket));
    await expectManifestsAgree(client, bucket, view);

    // Lifecycle hand-off: merged raw objects tagged compacted; the first generation's files retired, and tagged
    // superseded only once no query can be reading them (the retirement age, an hour by default).
    const tagOf = async (key: string) => (await client.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: key }))).TagSet?.find((t) => t.Key === COMPACTION_TAG)?.Value;
    for (const key of await keysUnder(client, bucket, 'topics/')) expect(await tagOf(key), key).toBe(TAG_COMPACTED);
    const referenced = new Set(view.manifests.flatMap((m) => m.files.map((f) => f.key)));
    const old = (await keysUnder(client, bucket, 'compacted/data/')).filter((k) => !referenced.has(k));
    expect(old.length).toBe(2);
    expect(view.manifests.flatMap((m) => m.retired.map((r) => r.key)).sort()).toEqual(old.sort());
    for (const key of old) expect(await tagOf(key), key).toBeUndefined();
    await compactor(client, AFTER + 2 * HOUR).run();
    for (const key of await keysUnder(client, bucket, 'compacted/data/')) expect(await tagOf(key), key).toBe(referenced.has(key) ? undefined : TAG_SUPERSEDED);
  });

  it('leaves open windows (and those within the grace period) alone', async () => {
    const { compactor, write } = await setup();
    await write(records(0, 120));
    // At 23:10: hours 21 and 22 ended, 23 not; with an hour of grace only hour 21 is closed.
    const report = await compactor(client, T0 + 2 * HOUR + 10 * 60_000).run();
    expect(report.windows.map((w) => w.window)).toEqual(['topics/orders/dt=2026-03-01/hour=21/']);
  });

  it('a window more than a run can merge is left aside (too-large), and the windows after it are compacted', async () => {
    const { compactor, write } = await setup();
    await write(records(0, 120)); // three hours, about 4 KB of objects each
    await write(records(120, 3120, { partition: 0, late: true }), 500); // the first hour grows to about 150 KB
    // A run of 60 ms at the cautious 1 MB/s merge rate: the first hour cannot fit, the others can.
    const report = await compactor().run(AFTER + 60);
    expect(report.windows.map((w) => w.action)).toEqual(['too-large', 'compacted', 'compacted']);
    expect(report.windows[0].error).toMatch(/^\d+ new objects, \d+ bytes to merge: more than one run can/);
    expect(report.lagSeconds).toBe((AFTER - (T0 + HOUR) - 3600_000) / 1000);
  });

  it('files of about the target size', async () => {
    const target = 16 * 1024;
    const { bucket, compactor, write } = await setup({ targetBytes: target });
    await write(records(0, 3000, { partition: 0, late: true }), 500); // all in the first hour
    await compactor().run();
    const view = await compactedView(client, bucket);
    expectExactlyOnce(view, await rawView(client, bucket));
    const files = view.manifests.flatMap((m) => m.files);
    expect(files.length).toBeGreaterThan(3);
    // Every file but the last is cut within a fifth of the target (the size is estimated as rows are compressed).
    for (const f of files.slice(0, -1)) expect(Math.abs(f.bytes - target) / target, `${f.key}: ${f.bytes} bytes`).toBeLessThan(0.2);
    expect(files[files.length - 1].bytes).toBeLessThan(target * 1.2);
  });

  it('a failure at any S3 request of a run leaves a consistent view, and a rerun converges', async () => {
    // Prepare: generation 1 published, then late records for generation 2
    const { bucket, compactor, write } = await setup();
    await write(records(0, 60));
    await compactor().run();
    await write(records(60, 90, { late: true }));
    // Count the requests of a clean run on a copy of the state: one run per failure point, in fresh buckets is costly,
    // so each attempt fails at request k of this bucket's run, then the view is checked and the next k tried.
    let requests = 0;
    for (let k = 1; ; k++) {
      let seen = 0;
      const failing = s3ClientFor(s3);
      failing.middlewareStack.add((next) => async (args) => {
        if (++seen === k) throw Object.assign(new Error(`injected failure at request ${k}`), { $metadata: { httpStatusCode: 500 } });
        return next(args);
      }, { step: 'initialize', name: 'injectFailure' });
      // A failed window is reported (the run goes on with the others); a failure before any window fails the run.
      const outcome = await compactor(failing).run().then((r) => r.windows.find((w) => w.action === 'failed')?.error ?? 'done', (err: Error) => err.message);
      const view = await compactedView(client, bucket);
      // Mid-way, readers see one whole generation: every offset at most once, and no record of another window.
      expectExactlyOnce(view, await rawView(client, bucket), false);
      if (outcome === 'done') {
        requests = k; // failure points tried, each on the state the ones before left
        break;
      }
      expect(outcome).toContain(`injected failure at request ${k}`);
    }
    expect(requests).toBeGreaterThan(10);
    await compactor().run();
    const view = await compactedView(client, bucket);
    expectExactlyOnce(view, await rawView(client, bucket));
    await expectManifestsAgree(client, bucket, view);
  });

  it('two runs racing on the same windows, and concurrent sink invocations writing late records meanwhile (one partition each, and an overlapping redelivery): one publishes, the view stays exactly once', async () => {
    const { bucket, compactor, write, sink } = await setup();
    await write(records(0, 120));
    // As the event source does: a batch whose invocation fails (a claim held by an overlapping invocation) is retried.
    const deliver = async (recs: ReturnType<typeof records>, size: number) => {
      for (let i = 0; i < recs.length; i += size) {
        for (let attempt = 1; ; attempt++) {
          try {
            await sink(kafkaEvent(recs.slice(i, i + size)), context);
            break;
          } catch (err) {
            if (attempt >= 50) throw err;
            await new Promise((r) => setTimeout(r, 20));
          }
        }
      }
    };
    // Partition 0's overlapping redelivery starts at 130 once 120..129 are written, as the event source redelivers from a
    // committed offset (a batch from 130 before 120..129 were processed is not a delivery Kafka makes).
    const first = deliver(records(120, 130, { late: true, partition: 0 }), 10);
    const [a, b] = await Promise.all([
      compactor().run(), compactor().run(),
      first.then(() => deliver(records(130, 150, { late: true, partition: 0 }), 10)), deliver(records(120, 150, { late: true, partition: 1 }), 10),
      first.then(() => deliver(records(130, 145, { late: true, partition: 0 }), 15)),
    ]);
    const actions = [...a.windows, ...b.windows].map((w) => w.action);
    expect(actions.filter((x) => x === 'compacted').length).toBeGreaterThanOrEqual(3);
    let view = await compactedView(client, bucket);
    const raw = await rawView(client, bucket);
    expectExactlyOnce(view, raw, false);
    // Every delivered record is in the raw view (once: rawView checks), on both partitions.
    for (const p of [0, 1]) for (let o = 120; o < 150; o++) expect(raw.has(`orders/${p}/${o}`), `orders/${p}/${o}`).toBe(true);
    // The next runs pick up what the losers and the late writes left.
    await compactor(client, AFTER + HOUR).run();
    await compactor(client, AFTER + 2 * HOUR).run();
    view = await compactedView(client, bucket);
    expectExactlyOnce(view, await rawView(client, bucket));
    await expectManifestsAgree(client, bucket, view);
  });

  it('the function: a run to a minute before its deadline, its metrics', async () => {
    const { env, write, bucket } = await setup();
    await write(records(0, 120));
    const raw = (await keysUnder(client, bucket, 'topics/')).length;
    const metrics: Record<string, number> = {};
    const stub = { addMetric: (name: string, _unit: string, value: number) => (metrics[name] = value), publishStoredMetrics: () => undefined };
    const quiet = new Proxy({}, { get: () => () => undefined });
    const handler = createCompactorHandler({ env, s3: client, metrics: stub as never, logger: quiet as never, now: () => AFTER });
    // 59 s left: the run keeps a minute back, so no window starts.
    expect((await handler({}, { getRemainingTimeInMillis: () => 59_000 })).windows).toEqual([]);
    expect(metrics).toMatchObject({ WindowsCompacted: 0, WindowsPending: 3 });
    const report = await handler({}, { getRemainingTimeInMillis: () => 900_000 });
    expect(report.windows.map((w) => w.action)).toEqual(['compacted', 'compacted', 'compacted']);
    expect(metrics).toMatchObject({ WindowsCompacted: 3, WindowsPending: 0, CompactionLag: 0, ObjectsCompacted: raw, DuplicatesDropped: 0, WindowsFailed: 0, WindowsTooLarge: 0, CompactionRacesLost: 0 });
    expect(metrics.BytesCompacted).toBeGreaterThan(0);
  });

  it('configuration: what the compactor cannot merge is named at cold start', () => {
    const base = { BUCKET_NAME: 'b-b-b' };
    expect(() => loadCompactorConfig({ ...base, FORMAT: 'parquet' })).toThrow(/format=parquet without schemaFile infers columns per object, so objects differ and cannot be merged/);
    expect(() => loadCompactorConfig({ ...base, FORMAT: 'text' })).toThrow(/format=text holds values only, no offsets/);
    expect(() => loadCompactorConfig({ ...base, FORMAT: 'avro', FIELDS: 'value,partition', VALUE_ENCODING: 'text' })).toThrow(/fields must include offset/);
    expect(() => loadCompactorConfig({ ...base, FORMAT: 'parquet', VALUE_ENCODING: 'base64' })).not.toThrow();
    expect(() => loadCompactorConfig({ ...base, FIELDS: 'value,key' })).toThrow(/fields must include offset/);
    expect(() => loadCompactorConfig({ ...base, COMPACTED_PREFIX: 'topics/compacted/' })).toThrow(/COMPACTED_PREFIX='topics\/compacted\/': overlaps PREFIX='topics\/'/);
    expect(() => loadCompactorConfig({ ...base, KEY_TEMPLATE: '{{topic}}/{{topic}}+{{partition}}+{{start_offset}}' })).toThrow(/no time directory with the year/);
    expect(() => loadCompactorConfig({ ...base, TIMESTAMP_SOURCE: 'wallclock' })).toThrow(/timestampSource=wallclock/);
  });
});
