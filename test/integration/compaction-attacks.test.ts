/**
 * Attacks on the compactor's guarantees (an adversarial review found each; every test failed before its fix):
 * A. lines written with another field order (FIELDS changed) read with the new one; B. a run with an old manifest
 * putting an old symlink list back over a newer generation; C. a raw object rewritten (a claim taken over) between
 * the listing and its tag; D. a watermark lost when a partition's raw objects have expired; E. files of a race loser,
 * or superseded by a generation a rerun finished, never tagged for expiry; F. manifests growing with every record
 * on transactional topics; G. {{partition}} in a directory. A second review: H. raw objects of an unpublished
 * generation never tagged; I. retired files tagged as the symlink switched; J. a stale run taking live files for
 * orphans; K. the run's budget not counting the files merged again; L. current windows reported too large.
 */
import { gunzipSync } from 'node:zlib';
import { DeleteObjectCommand, GetObjectTaggingCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { expect, it } from 'vitest';
import { Compactor, COMPACTION_TAG, TAG_COMPACTED, TAG_SUPERSEDED, type CompactorOptions } from '../../lambdas/compactor/compact.ts';
import { loadCompactorConfig } from '../../lambdas/compactor/config.ts';
import type { Manifest } from '../../lambdas/compactor/manifest.ts';
import { WindowResolver } from '../../lambdas/compactor/windows.ts';
import { createSinkHandler } from '../../lambdas/sink/app.ts';
import { AFTER, compactionSetup, context, HOUR, keysUnder, objectBytes, records, T0 } from '../support/compaction.ts';
import { kafkaEvent, type RecordSpec } from '../support/events.ts';
import { describeS3 } from '../support/s3-context.ts';
import { createBucket, s3ClientFor } from '../support/versitygw.ts';

const H21 = 'topics/orders/dt=2026-03-01/hour=21/';

const symlinkFiles = async (client: S3Client, bucket: string, rel = 'orders/dt=2026-03-01/hour=21/') =>
  (await objectBytes(client, bucket, `compacted/symlinks/${rel}symlink.txt`)).toString().split('\n').filter(Boolean).map((u) => u.replace(`s3://${bucket}/`, ''));
const offsetsIn = async (client: S3Client, bucket: string, files: string[], partition: number) => {
  const out: number[] = [];
  for (const f of files) for (const l of gunzipSync(await objectBytes(client, bucket, f)).toString().split('\n').filter(Boolean)) {
    const r = JSON.parse(l) as { partition: number; offset: number };
    if (r.partition === partition) out.push(r.offset);
  }
  return out.sort((a, b) => a - b);
};
const manifestOf = async (client: S3Client, bucket: string, rel = 'orders/dt=2026-03-01/hour=21/') =>
  JSON.parse((await objectBytes(client, bucket, `compacted/manifests/${rel}manifest.json`)).toString()) as Manifest;

describeS3('compaction under attack', (s3) => {
  const client = s3ClientFor(s3);
  let n = 0;

  async function setup(extra: Partial<CompactorOptions> = {}) {
    const base = await compactionSetup(s3, client, `attack-${++n}`, extra);
    const resolver = new WindowResolver(base.cfg.sink);
    const windowOf = async (dir: string) => resolver.resolve((await keysUnder(client, base.bucket, dir))[0])!.window;
    const tagOf = async (key: string) => (await client.send(new GetObjectTaggingCommand({ Bucket: base.bucket, Key: key }))).TagSet?.find((t) => t.Key === COMPACTION_TAG)?.Value;
    return { ...base, windowOf, tagOf, resolver };
  }

  /** A client whose requests pass `hook` first (context.commandName, args.input). */
  function hooked(hook: (command: string, input: Record<string, unknown>) => Promise<void> | void): S3Client {
    const c = s3ClientFor(s3);
    c.middlewareStack.add((next, ctx) => async (args) => {
      await hook((ctx as { commandName: string }).commandName, args.input as Record<string, unknown>);
      return next(args);
    }, { step: 'initialize', name: 'attackHook' });
    return c;
  }

  const crashOnSymlinkPut = () => hooked((cmd, input) => {
    if (cmd === 'PutObjectCommand' && String(input.Key).endsWith('symlink.txt')) throw Object.assign(new Error('injected'), { $metadata: { httpStatusCode: 500 } });
  });

  it('A: objects written with another field order than the compactor is configured with are read right', async () => {
    const { bucket, env } = await setup();
    const sink = createSinkHandler({ env, s3: client });
    // Values with their own integer "offset" (a page offset): the default FIELDS put the value before the offset.
    const recs = records(0, 60, { value: (i) => JSON.stringify({ n: i, offset: i % 5 }) });
    for (let i = 0; i < recs.length; i += 15) await sink(kafkaEvent(recs.slice(i, i + 15)), context);
    // The operator reorders FIELDS (offset first); the compactor reads the earlier objects with the new configuration.
    const cfg2 = loadCompactorConfig({ ...env, FIELDS: 'topic,partition,offset,timestamp,key,value,headers' });
    const r = await new Compactor(client, { ...cfg2, runId: 'reordered' }, () => AFTER).run();
    expect(r.windows.every((w) => w.action === 'compacted' && w.duplicates === 0)).toBe(true);
    const raw: number[] = [];
    for (const k of await keysUnder(client, bucket, H21)) if (k.includes('orders+0+')) raw.push(...(await offsetsIn(client, bucket, [k], 0)));
    expect(await offsetsIn(client, bucket, await symlinkFiles(client, bucket), 0)).toEqual(raw.sort((a, b) => a - b));
  });

  it('B: a run that read an older generation never puts its list back over a newer one', async () => {
    const { bucket, compactor, write, windowOf, tagOf } = await setup();
    await write(records(0, 60));
    await compactor().run();
    const w = await windowOf(H21);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let paused!: () => void;
    const atGate = new Promise<void>((r) => (paused = r));
    const c = compactor(hooked(async (cmd, input) => {
      if (cmd === 'GetObjectCommand' && String(input.Key).endsWith('hour=21/symlink.txt')) {
        paused();
        await gate;
      }
    }));
    const slow = c.compactWindow(w); // read generation 1 (published, nothing new): on to the symlink check
    await atGate;
    await write(records(60, 80, { partition: 0, late: true }));
    const d = await compactor().compactWindow(w);
    expect([d.action, d.generation]).toEqual(['compacted', 2]);
    release();
    await slow;
    const m = await manifestOf(client, bucket);
    const listed = await symlinkFiles(client, bucket);
    expect(listed).toEqual(m.files.map((f) => f.key));
    expect(await Promise.all(listed.map(tagOf))).toEqual(listed.map(() => undefined));
  });

  it('C: a raw object rewritten (a claim taken over) after it was listed is not tagged until a run merges what it holds', async () => {
    const { bucket, compactor, write, env, windowOf, tagOf, cfg } = await setup();
    await write(records(0, 60));
    await compactor().run();
    // An invocation writes late records 60..69 of partition 0 and fails before completing its claim (it releases it).
    const failing = hooked((cmd, input) => {
      if (cmd === 'PutObjectCommand' && String(input.Key).startsWith(cfg.sink.statePrefix) && String(input.Body).includes('"claim":null')) {
        throw Object.assign(new Error('injected: completeClaim lost'), { $metadata: { httpStatusCode: 500 } });
      }
    });
    await expect(createSinkHandler({ env, s3: failing })(kafkaEvent(records(60, 70, { partition: 0, late: true })), context)).rejects.toThrow();
    const x = (await keysUnder(client, bucket, H21)).find((k) => /orders\+0\+0*60\./.test(k))!;
    const w = await windowOf(H21);
    const sink2 = createSinkHandler({ env, s3: client });
    let rewritten = false;
    // The retry (a bigger batch) takes the released claim over from 60 and writes the same key with 60..89, just
    // before the compactor looks at x again to tag it.
    const c = compactor(hooked(async (cmd, input) => {
      if (cmd === 'HeadObjectCommand' && input.Key === x && !rewritten) {
        rewritten = true;
        await sink2(kafkaEvent(records(60, 90, { partition: 0, late: true })), context);
      }
    }));
    await c.compactWindow(w);
    expect(rewritten).toBe(true);
    expect(await tagOf(x)).toBeUndefined();
    // The next run merges x as it is now, and tags it; no offset is missing from the view.
    await compactor(client, AFTER + HOUR).compactWindow(w);
    expect(await tagOf(x)).toBe('compacted');
    const inX = await offsetsIn(client, bucket, [x], 0);
    const inView = await offsetsIn(client, bucket, await symlinkFiles(client, bucket), 0);
    expect(inX.filter((o) => !inView.includes(o))).toEqual([]);
  });

  it('D: a partition whose raw objects have expired keeps its watermark in later generations', async () => {
    const { bucket, compactor, write } = await setup();
    await write(records(0, 60));
    await compactor().run();
    for (const k of await keysUnder(client, bucket, H21)) if (k.includes('orders+1+')) await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: k }));
    await write(records(60, 70, { partition: 0, late: true }));
    await compactor().run();
    const m = await manifestOf(client, bucket);
    expect(m.generation).toBe(2);
    expect(m.partitions.map((p) => [p.partition, p.watermark])).toEqual([[0, '70'], [1, '60']]);
  });

  it('E: a race loser\'s files and a superseded generation are tagged for expiry once no query can read them', async () => {
    const { bucket, compactor, write, windowOf, tagOf } = await setup();
    await write(records(0, 60));
    const w = await windowOf(H21);
    const now = Date.now();
    await Promise.all([compactor(client, now).compactWindow(w), compactor(client, now).compactWindow(w)]);
    // A crash of generation 2's run right after its manifest (the symlink PUT fails); the next run finishes it.
    await write(records(60, 70, { partition: 0, late: true }));
    const crash = hooked((cmd, input) => {
      if (cmd === 'PutObjectCommand' && String(input.Key).endsWith('symlink.txt')) throw Object.assign(new Error('injected'), { $metadata: { httpStatusCode: 500 } });
    });
    await expect(compactor(crash, now).compactWindow(w)).rejects.toThrow();
    expect((await compactor(client, now + 60_000).compactWindow(w)).action).toBe('republished');
    // Within the retirement age nothing is tagged (a query may be reading the old files); after it, all is.
    const unreferenced = async () => {
      const referenced = new Set((await manifestOf(client, bucket)).files.map((f) => f.key));
      return (await keysUnder(client, bucket, `compacted/data/${H21.slice('topics/'.length)}`)).filter((k) => !referenced.has(k));
    };
    expect((await unreferenced()).length).toBeGreaterThan(0);
    expect((await Promise.all((await unreferenced()).map(tagOf))).filter((t) => t === TAG_SUPERSEDED)).toEqual([]);
    await compactor(client, now + 2 * HOUR).compactWindow(w);
    expect(await Promise.all((await unreferenced()).map(tagOf))).toEqual((await unreferenced()).map(() => TAG_SUPERSEDED));
    expect((await manifestOf(client, bucket)).retired).toEqual([]);
  });

  it('F: a manifest stays small when every other offset is a transaction marker', async () => {
    const { bucket, compactor, sink } = await setup();
    const recs: RecordSpec[] = [];
    for (let i = 0; i < 20_000; i++) recs.push({ topic: 'orders', partition: 0, offset: 2 * i, timestamp: T0 + i * 100, key: `k${i}`, value: `{"n":${i}}` });
    for (let i = 0; i < recs.length; i += 2000) await sink(kafkaEvent(recs.slice(i, i + 2000)), context);
    await compactor().run();
    const m = await manifestOf(client, bucket);
    const p = m.partitions[0];
    expect([p.records, p.offsetRanges.length, p.offsetRangesExact, p.offsetRanges[0][0], p.offsetRanges.at(-1)![1]]).toEqual([m.records, 1000, false, '0', String(2 * (m.records - 1))]);
  });

  it('G: {{partition}} in a directory: the partition from the directory, its checkpoint read', async () => {
    const bucket = 'attack-g';
    await createBucket(s3, bucket);
    const env = { BUCKET_NAME: bucket, S3_ENDPOINT: s3.endpoint, FORMAT: 'jsonl', COMPRESSION: 'gzip',
      KEY_TEMPLATE: '{{topic}}/partition={{partition}}/dt={{timestamp:yyyy-MM-dd}}/hour={{timestamp:HH}}/{{topic}}+{{start_offset}}' };
    const sink = createSinkHandler({ env, s3: client });
    for (let i = 0; i < 60; i += 15) await sink(kafkaEvent(records(i, i + 15)), context);
    const read: string[] = [];
    const spy = hooked((cmd, input) => { if (cmd === 'GetObjectCommand' && String(input.Key).startsWith('checkpoints/')) read.push(String(input.Key)); });
    await new Compactor(spy, { ...loadCompactorConfig(env), runId: 'g' }, () => AFTER).run();
    const m = await manifestOf(client, bucket, 'orders/partition=0/dt=2026-03-01/hour=21/');
    expect(m.partitions.map((p) => [p.partition, p.watermark])).toEqual([[0, '60']]);
    expect(m.files.every((f) => f.key.includes('/orders+0+'))).toBe(true);
    expect([...new Set(read)].sort()).toEqual(['checkpoints/orders/0.json', 'checkpoints/orders/1.json']);
  });
  it('H: raw objects merged by a generation that never published are tagged by the generation that publishes them', async () => {
    const { bucket, compactor, write, windowOf, tagOf } = await setup();
    const now = Date.now();
    await write(records(0, 60));
    await compactor(client, now).run();
    const before = new Set(await keysUnder(client, bucket, H21));
    await write(records(60, 70, { partition: 0, late: true }));
    const x = (await keysUnder(client, bucket, H21)).filter((k) => !before.has(k));
    expect(x.length).toBeGreaterThan(0);
    const w = await windowOf(H21);
    // Generation 2 commits its manifest, then the run dies at the symlink PUT.
    await expect(compactor(crashOnSymlinkPut(), now).compactWindow(w)).rejects.toThrow();
    expect((await manifestOf(client, bucket)).published).toBe(false);
    // More late records arrive before the next run: it builds generation 3 on the unpublished generation 2.
    await write(records(70, 80, { partition: 0, late: true }));
    expect((await compactor(client, now + 60_000).compactWindow(w)).action).toBe('compacted');
    // And any number of later runs.
    for (const t of [HOUR, 3 * HOUR, 2 * 24 * HOUR]) await compactor(client, now + t).compactWindow(w);
    const m = await manifestOf(client, bucket);
    expect(m.published).toBe(true);
    // Merged by generation 2, which never published: generation 3 published them, and tagged them.
    expect(m.sources.filter((s) => x.includes(s.key)).map((s) => s.generation)).toEqual(x.map(() => 3));
    // Their records are in the published files: they should be tagged for expiry.
    expect(await Promise.all(x.map(tagOf))).toEqual(x.map(() => TAG_COMPACTED));
  });

  it('I: retired files wait the retirement age from when the symlink file stopped listing them, not from the manifest', async () => {
    const { bucket, compactor, write, windowOf, tagOf } = await setup();
    const now = Date.now();
    await write(records(0, 60));
    await compactor(client, now).run();
    const gen1 = await symlinkFiles(client, bucket);
    await write(records(60, 70, { partition: 0, late: true }));
    const w = await windowOf(H21);
    await expect(compactor(crashOnSymlinkPut(), now).compactWindow(w)).rejects.toThrow();
    // The readers still list generation 1 (a query may be reading its files right now).
    expect(await symlinkFiles(client, bucket)).toEqual(gen1);
    // The next run comes two hours later (the compactor was failing or throttled): it republishes and in the same call tags.
    let tagsWhileListed = 0;
    const spy = hooked(async (cmd, input) => {
      if (cmd === 'PutObjectTaggingCommand' && gen1.includes(String(input.Key))) {
        // What do readers list at the instant the tag is applied?
        const listed = await symlinkFiles(client, bucket);
        if (!listed.includes(String(input.Key))) tagsWhileListed++;
      }
    });
    expect((await compactor(spy, now + 2 * HOUR).compactWindow(w)).action).toBe('republished');
    expect(await symlinkFiles(client, bucket)).not.toEqual(gen1);
    // Expected: gen1 files stay untagged for the retirement age after they left the symlink list.
    expect(await Promise.all(gen1.map(tagOf)), `tagged ${tagsWhileListed} files just after the symlink switch`).toEqual(gen1.map(() => undefined));
  });

  it('J: a run holding an older manifest never takes a newer generation\'s files for orphans', async () => {
    const { bucket, compactor, write, windowOf, tagOf, cfg } = await setup();
    const now = Date.now();
    await write(records(0, 60));
    await compactor(client, now).run();
    const w = await windowOf(H21);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let paused!: () => void;
    const atGate = new Promise<void>((r) => (paused = r));
    // D: a run that read generation 1 and then stalls, past a retirement age, before its housekeeping.
    let dClock = now;
    const d = new Compactor(hooked(async (cmd, input) => {
      if (cmd === 'GetObjectCommand' && String(input.Key).endsWith('hour=21/symlink.txt')) {
        paused();
        await gate;
      }
    }), { ...cfg, runId: 'stalled' }, () => dClock);
    const slow = d.compactWindow(w);
    await atGate;
    // A: generation 2, published, symlink lists its files.
    await write(records(60, 80, { partition: 0, late: true }));
    expect((await compactor(client, Date.now()).compactWindow(w)).action).toBe('compacted');
    const live = await symlinkFiles(client, bucket);
    expect(live).toEqual((await manifestOf(client, bucket)).files.map((f) => f.key));
    dClock = Date.now() + cfg.orphanAgeMs + 120_000;
    release();
    await slow;
    expect(await symlinkFiles(client, bucket)).toEqual(live);
    expect(await Promise.all(live.map(tagOf))).toEqual(live.map(() => undefined));
  });

  const rawBytes = async (bucket: string, prefix: string) => {
    const out = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
    return (out.Contents ?? []).reduce((s, o) => s + (o.Size ?? 0), 0);
  };
  const padded = (i: number) => JSON.stringify({ n: i, pad: `${i}`.repeat(50 + (i % 17)) });

  it('K: the run\'s budget counts what a window merges (the earlier files of the partitions merged again), and a partition with nothing new keeps its files', async () => {
    const { bucket, compactor, write } = await setup();
    await write(records(0, 120, { value: padded }));
    await compactor().run();
    const m1 = await manifestOf(client, bucket);
    const prevBytes = m1.files.reduce((s, f) => s + f.bytes, 0);
    // The raw objects of hour 21 expire (lifecycle, compactionRawRetentionDays); one late record lands after.
    for (const k of await keysUnder(client, bucket, H21)) await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: k }));
    await write(records(120, 121, { partition: 0, late: true, value: padded }));
    const lateBytes = await rawBytes(bucket, H21);
    const budgetBytes = Math.round((lateBytes + prevBytes) / 2);
    // A run whose budget (deadline - start, at MERGE_BYTES_PER_MS = 1000 B/ms) holds half of it all.
    const r = await compactor(client, AFTER).run(AFTER + budgetBytes / 1000);
    const h21 = r.windows.find((x) => x.window === H21);
    // Let in only if what it merges fits: the late object and partition 0's files, not partition 1's.
    if (h21?.action === 'compacted') expect(h21.bytesIn, 'bytes merged by a window the budget let in').toBeLessThanOrEqual(budgetBytes);
    else expect(h21?.action ?? 'deferred').toMatch(/^(too-large|deferred)$/);
    const unbounded = await compactor(client, AFTER).run();
    expect(unbounded.windows.find((x) => x.window === H21)!.action).toBe('compacted');
    const m2 = await manifestOf(client, bucket);
    expect(m2.files.filter((f) => f.partition === 1)).toEqual(m1.files.filter((f) => f.partition === 1));
    expect(m2.retired.map((x) => x.key)).toEqual(m1.files.filter((f) => f.partition === 0).map((f) => f.key));
  });

  it('L: a current window is never too large, whatever the budget, nor counted in the lag', async () => {
    const { bucket, compactor, write } = await setup();
    await write(records(0, 120, { value: padded }));
    expect((await compactor().run()).windows.map((w) => w.action)).toEqual(['compacted', 'compacted', 'compacted']);
    const sizes = await Promise.all(['21', '22', '23'].map((h) => rawBytes(bucket, `topics/orders/dt=2026-03-01/hour=${h}/`)));
    // The next run, whose budget is 1% short of the biggest window's raw bytes (a slower listing, say).
    const budget = Math.max(...sizes) * 0.99;
    const r = await compactor(client, AFTER + HOUR).run(AFTER + HOUR + budget / 1000);
    expect(r.windows.map((w) => w.action)).toEqual(['current', 'current', 'current']);
    expect(r.lagSeconds).toBe(0);
  });
  it('M: a window compacted while a partition was behind keeps following its checkpoint, never past an object it has not merged', async () => {
    // Prepare: the first hour written and compacted (watermark 40), then the sink goes on into later hours
    const { bucket, compactor, write, windowOf, resolver } = await setup();
    await write(records(0, 40));
    expect((await compactor().run()).windows.map((w) => w.action)).toEqual(['compacted']);
    expect((await manifestOf(client, bucket)).partitions.map((p) => p.watermark)).toEqual(['40', '40']);
    await write(records(40, 120));

    // Act: runs while the first window has nothing new
    const second = await compactor().run();

    // Assess: its watermarks rose to the checkpoints (every record below them is durably written, and in its files)
    expect(second.windows.map((w) => w.action)).toEqual(['current', 'compacted', 'compacted']);
    expect((await manifestOf(client, bucket)).partitions.map((p) => p.watermark)).toEqual(['120', '120']);

    // A run whose listing predates late records in the window: its checkpoint read is past them, the window's
    // listing shows an object not merged, so the watermark stays (the next compaction merges the object first).
    const dir = 'topics/orders/dt=2026-03-01/hour=21/';
    const stale = ((await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: dir }))).Contents ?? [])
      .map((o) => ({ key: o.Key!, etag: o.ETag!, bytes: o.Size!, lastModified: o.LastModified!.getTime(), name: resolver.resolve(o.Key!)! }));
    const w = await windowOf(dir);
    await write(records(120, 125, { late: true }));
    expect((await compactor().compactWindow(w, stale)).action).toBe('current');
    expect((await manifestOf(client, bucket)).partitions.map((p) => p.watermark)).toEqual(['120', '120']);
    const third = await compactor().run();
    expect(third.windows[0].action).toBe('compacted');
    expect((await manifestOf(client, bucket)).partitions.map((p) => p.watermark)).toEqual(['125', '125']);

    // Once the sink has written past a window's last record, its watermark is no longer followed (no checkpoint
    // reads): the window's is 125 = its last offset + 1, so one more move raises it, and no later one.
    await write(records(125, 130));
    await compactor().run();
    expect((await manifestOf(client, bucket)).partitions.map((p) => p.watermark)).toEqual(['130', '130']);
    await write(records(130, 135));
    await compactor().run();
    expect((await manifestOf(client, bucket)).partitions.map((p) => p.watermark)).toEqual(['130', '130']);
  });

  it('N: a current window costs its manifest GET (and, the first day, its symlink GET): the orphan sweep runs once, when every run that raced it has ended', async () => {
    // Prepare: three windows compacted at AFTER, the sink past all of them
    const { compactor, write } = await setup();
    await write(records(0, 120));
    await write(records(120, 125)); // the next day's first hour: the watermarks of the first three are past their records
    expect((await compactor().run()).windows.map((w) => w.action)).toEqual(['compacted', 'compacted', 'compacted', 'compacted']);
    const requests = async (now: number) => {
      const seen: string[] = [];
      const c = hooked((command, input) => {
        seen.push(`${command.replace('Command', '')} ${String(input.Prefix ?? input.Key ?? '').replace(/^(topics|compacted\/[a-z]+)\/orders\/dt=2026-03-01\/hour=(\d\d)\/.*$/, '$1 $2')}`);
      });
      const r = await compactor(c, now).run();
      expect(r.windows.map((w) => w.action)).toEqual(['current', 'current', 'current', 'current']);
      return seen;
    };

    // Act: runs before and after the retirement age (plus the longest run) has passed since the compaction
    const early = await requests(AFTER + 15 * 60_000);
    const sweep = await requests(AFTER + HOUR + 16 * 60_000);
    const after = await requests(AFTER + 2 * HOUR);
    const dayLater = await requests(AFTER + 2 * 86_400_000);

    // Assess: the listing of the raw prefix, then per window of the first day only what is due (the next day's window
    // is still followed: its watermark is its last offset + 1)
    const perWindow = (seen: string[]) => seen.filter((x) => / 2[123]$/.test(x) && !x.startsWith('ListObjectsV2 topics/')).sort();
    const gets = ['21', '22', '23'].flatMap((h) => [`GetObject compacted/manifests ${h}`, `GetObject compacted/symlinks ${h}`]).sort();
    expect(early.filter((x) => x.startsWith('ListObjectsV2 topics/'))).toHaveLength(1);
    expect(perWindow(early)).toEqual(gets);
    expect(perWindow(sweep)).toEqual([...gets, ...['21', '22', '23'].flatMap((h) => [`ListObjectsV2 compacted/data ${h}`, `PutObject compacted/manifests ${h}`])].sort());
    expect(perWindow(after)).toEqual(gets);
    expect(perWindow(dayLater)).toEqual(['21', '22', '23'].map((h) => `GetObject compacted/manifests ${h}`));
  });
});
