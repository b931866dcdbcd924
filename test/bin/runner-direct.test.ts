/**
 * The sink's two entries agree: the runner's records handed over decoded (`handleRecords`) and the same records as
 * the Lambda-shaped event the runner built before (`toKafkaEvent` → the handler → decode) write byte-identical data
 * objects, dead letters and checkpoints, and count the same outcomes. Records from fast-check: tombstones, null and
 * empty keys, binary, repeated and null headers, values that are not JSON or not UTF-8, offsets up to 2^63 - 1,
 * timestamps that are not integers, unordered and duplicated offsets.
 */
import type { Context } from 'aws-lambda';
import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { toKafkaEvent, toSinkRecords, type RunnerRecord } from '../../bin/runner/event.ts';
import { decodeEvent, decodeRecords } from '../../lambdas/shared/decode.ts';
import { createSinkHandler } from '../../lambdas/sink/app.ts';
import { MemoryBucket } from '../support/memory-bucket.ts';

const NOW = Date.UTC(2026, 2, 1, 12, 0, 0);
const context = { functionName: 'kafka-s3-runner', awsRequestId: 'req-1', getRemainingTimeInMillis: () => 60_000 } as unknown as Context;
const meta = { eventSource: 'SelfManagedKafka' as const, bootstrapServers: 'localhost:9092' };

const bytes = (max: number) => fc.uint8Array({ maxLength: max }).map((a) => Buffer.from(a));
const jsonValue = fc.oneof(
  fc.record({ id: fc.integer(), status: fc.constantFrom('paid', 'shipped', 'créé'), amount: fc.double({ noNaN: true, noDefaultInfinity: true }) }).map((o) => JSON.stringify(o)),
  fc.constantFrom('{"id":1,', '{"a":1,"a":2}', 'not json', '[1,2]', '{"deep":' + '['.repeat(300) + ']'.repeat(300) + '}', '{"big":1e400}', '"\\ud800"'),
  fc.string({ maxLength: 40 }),
).map((t) => Buffer.from(t));
const value = fc.oneof({ weight: 6, arbitrary: jsonValue }, { weight: 1, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: bytes(30) });
const key = fc.oneof(fc.constant(null), fc.constant(Buffer.alloc(0)), fc.string({ maxLength: 12 }).map((s) => Buffer.from(s)), bytes(8));
const headerName = fc.constantFrom('trace-id', 'trace-id', 'ce_type', '', 'üñí', '__proto__', 'constructor');
const headers = fc.array(fc.record({ key: headerName, value: fc.oneof(fc.constant(null), bytes(6), fc.string({ maxLength: 8 }).map((s) => Buffer.from(s))) }), { maxLength: 4 });
const offset = fc.oneof(fc.bigInt({ min: 0n, max: 200n }), fc.bigInt({ min: 2n ** 53n - 5n, max: 2n ** 53n + 5n }), fc.bigInt({ min: 2n ** 63n - 300n, max: 2n ** 63n - 1n }));
const timestamp = fc.oneof({ weight: 8, arbitrary: fc.integer({ min: 0, max: 4_102_444_800_000 }) }, { weight: 1, arbitrary: fc.constantFrom(-1, 1.5, 2 ** 60) });
const record = fc.record({ topic: fc.constantFrom('orders', 'pay-1'), partition: fc.constantFrom(0, 1, 7), offset, timestamp, timestampType: fc.constant('CREATE_TIME'), key, value, headers });
const records = fc.array(record, { minLength: 1, maxLength: 25 }).map((list) => list as RunnerRecord[]);

const CONFIGS: Record<string, Record<string, string>> = {
  'jsonl+gzip': { FORMAT: 'jsonl', COMPRESSION: 'gzip' },
  'jsonl, tombstones written, base64 headers': { FORMAT: 'jsonl', COMPRESSION: 'none', TOMBSTONES: 'write', HEADER_ENCODING: 'base64' },
  'parquet, tombstones dead-lettered': { FORMAT: 'parquet', COMPRESSION: 'zstd', TOMBSTONES: 'deadletter' },
  'csv_with_headers, filter': { FORMAT: 'csv_with_headers', COMPRESSION: 'none', FILTER_REGEX: 'paid|not' },
  'avro, key in the object key': { FORMAT: 'avro', COMPRESSION: 'snappy', KEY_TEMPLATE: '{{topic}}/{{key}}/{{partition}}/{{start_offset}}' },
};

type Outcome = { result?: unknown; error?: string; objects: [string, string][] };

async function deliver(env: Record<string, string>, batches: RunnerRecord[][], direct: boolean): Promise<Outcome> {
  const bucket = new MemoryBucket();
  const sink = createSinkHandler({ env: { BUCKET_NAME: 'bkt', ...env }, s3: bucket as never, logger: silentLogger() as never });
  const results: unknown[] = [];
  for (const batch of batches) {
    try {
      // The runner's call (runner.ts), and the one it made before: the event the sink decodes again.
      results.push(direct ? await sink(toSinkRecords(batch, meta), context) : await sink(toKafkaEvent(batch, meta), context));
    } catch (err) {
      return { result: results, error: (err as Error).name, objects: snapshot(bucket) };
    }
  }
  return { result: results, objects: snapshot(bucket) };
}

function snapshot(bucket: MemoryBucket): [string, string][] {
  return [...bucket.objects.entries()].map(([k, v]) => [k, v.toString('base64')] as [string, string]).sort((a, b) => (a[0] < b[0] ? -1 : 1));
}

function silentLogger() {
  const nop = () => undefined;
  return new Proxy({}, { get: (_t, name) => (name === 'addContext' || name === 'refreshSampleRateCalculation' ? nop : nop) });
}

afterEach(() => vi.restoreAllMocks());

describe('the sink\'s two entries: event and decoded records', () => {
  for (const [name, env] of Object.entries(CONFIGS)) {
    it(`write the same objects, dead letters and checkpoints (${name})`, async () => {
      vi.spyOn(Date, 'now').mockReturnValue(NOW);
      const seen = { errors: 0, data: 0, deadLetters: 0, checkpoints: 0 };
      await fc.assert(
        fc.asyncProperty(fc.array(records, { minLength: 1, maxLength: 3 }), async (batches) => {
          const viaEvent = await deliver(env, batches, false);
          const viaRecords = await deliver(env, batches, true);
          expect(viaRecords).toEqual(viaEvent);
          seen.errors += viaEvent.error ? 1 : 0;
          seen.data += viaEvent.objects.filter(([k]) => k.startsWith('topics/')).length;
          seen.deadLetters += viaEvent.objects.filter(([k]) => k.startsWith('dead-letters/')).length;
          seen.checkpoints += viaEvent.objects.filter(([k]) => k.startsWith('checkpoints/')).length;
        }),
        { numRuns: 40 },
      );
      // The property saw every kind of outcome, not only failed batches.
      expect(seen.data).toBeGreaterThan(0);
      expect(seen.deadLetters).toBeGreaterThan(0);
      expect(seen.checkpoints).toBeGreaterThan(0);
    });
  }

  it('handleRecords is the same entry as the handler given DecodedRecords', async () => {
    vi.spyOn(Date, 'now').mockReturnValue(NOW);
    const batch = fc.sample(records, { numRuns: 1, seed: 7 })[0];
    const a = new MemoryBucket();
    const b = new MemoryBucket();
    const env = { BUCKET_NAME: 'bkt', FORMAT: 'jsonl', COMPRESSION: 'gzip' };
    const ra = await createSinkHandler({ env, s3: a as never, logger: silentLogger() as never }).handleRecords(batch, context);
    const rb = await createSinkHandler({ env, s3: b as never, logger: silentLogger() as never })(toSinkRecords(batch, meta), context);
    expect(ra).toEqual(rb);
    expect(snapshot(a)).toEqual(snapshot(b));
  });

  it('decode the same records (the decoded shape of both entries is equal)', () => {
    fc.assert(
      fc.property(records, (list) => {
        let fromEvent: unknown;
        let fromRecords: unknown;
        try {
          fromEvent = decodeEvent(JSON.parse(JSON.stringify(toKafkaEvent(list, meta))));
        } catch (err) {
          fromEvent = (err as Error).name;
        }
        try {
          fromRecords = decodeRecords(list);
        } catch (err) {
          fromRecords = (err as Error).name;
        }
        // Equal up to the order of partitions (the event's map groups by key first; records keep their order).
        const norm = (d: unknown) => (typeof d === 'string' ? d : [...(d as { partitions: { topic: string; partition: number }[] }).partitions]
          .sort((a, b) => `${a.topic}-${a.partition}`.localeCompare(`${b.topic}-${b.partition}`)));
        expect(norm(fromRecords)).toEqual(norm(fromEvent));
      }),
      { numRuns: 300 },
    );
  });

  it('structural faults fail the batch as for an event; field faults dead-letter the record', () => {
    const base = { topic: 'orders', partition: 0, offset: 1n, timestamp: 5, timestampType: 'CREATE_TIME', key: null, value: Buffer.from('{}'), headers: [] };
    expect(() => decodeRecords([base, { ...base }])).toThrow(/offset 1 twice/);
    expect(() => decodeRecords([{ ...base, offset: -1n }])).toThrow(/offset/);
    expect(() => decodeRecords([{ ...base, offset: 10n ** 19n }])).toThrow(/offset/);
    expect(() => decodeRecords([{ ...base, partition: 2 ** 31 }])).toThrow(/partition/);
    expect(() => decodeRecords([{ ...base, topic: '' }])).toThrow(/topic/);
    const d = decodeRecords([{ ...base, timestamp: 1.5 }, { ...base, offset: 2n, value: 'x' as never }, { ...base, offset: 3n, headers: [{ key: 'h', value: [1] as never }] }]);
    expect(d.partitions[0].records.map((r) => r.invalid?.reason)).toEqual([
      'record timestamp 1.5 is not an integer of epoch milliseconds', 'record value is not bytes or null', 'record header "h" is not bytes or null',
    ]);
    expect(d.partitions[0].records[0].invalid?.received).toEqual({ topic: 'orders', partition: 0, offset: 1, timestamp: 1.5, timestampType: 'CREATE_TIME', value: 'e30=', headers: [] });
  });
});
