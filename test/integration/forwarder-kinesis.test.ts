/**
 * The forwarder against a real Kinesis API (moto on 127.0.0.1): records read back with GetRecords equal the Kafka
 * records, per-key order holds, PutRecords calls stay within 500 records / 5 MiB, refused entries are re-sent
 * (and only they), oversized records land in the dead-letter prefix of the error bucket.
 */
import {
  CreateStreamCommand, GetRecordsCommand, GetShardIteratorCommand, KinesisClient, ListShardsCommand,
  type PutRecordsCommandInput, type PutRecordsCommandOutput,
} from '@aws-sdk/client-kinesis';
import { CreateBucketCommand, GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createForwarderHandler } from '../../lambdas/forwarder/app.ts';
import { PutRecordsError } from '../../lambdas/forwarder/put-records.ts';
import { kafkaEvent, orderValue, type RecordSpec } from '../support/events.ts';
import { startMotoOrSkipReason, type MotoServer } from '../support/moto.ts';

const context = { functionName: 'forwarder', awsRequestId: 'req-fwd' } as never;
const started = await startMotoOrSkipReason();
const moto = typeof started === 'string' ? undefined : started;

type Doc = Record<string, unknown> & { _kafka_topic: string; _kafka_partition: number; _kafka_offset: number; _kafka_key: string | null };

/** Observes (and can refuse entries of) every PutRecords call, like a throttling stream would. */
function instrument(client: KinesisClient, refuse: (call: number, index: number) => boolean) {
  const calls: { records: number; bytes: number }[] = [];
  client.middlewareStack.add((next, ctx) => async (args) => {
    if (ctx.commandName !== 'PutRecordsCommand') return next(args);
    const input = args.input as PutRecordsCommandInput;
    const all = input.Records ?? [];
    const call = calls.length;
    calls.push({ records: all.length, bytes: all.reduce((n, r) => n + (r.Data?.length ?? 0) + Buffer.byteLength(r.PartitionKey ?? ''), 0) });
    const refused = all.map((_, i) => refuse(call, i));
    const sent = all.filter((_, i) => !refused[i]);
    const out = sent.length > 0
      ? await next({ ...args, input: { ...input, Records: sent } }) as { output: PutRecordsCommandOutput }
      : { output: { Records: [], FailedRecordCount: 0, $metadata: {} } as PutRecordsCommandOutput, response: {} };
    const results = [...(out.output.Records ?? [])];
    const merged = refused.map((r) => (r
      ? { ErrorCode: 'ProvisionedThroughputExceededException', ErrorMessage: 'Rate exceeded for shard (injected)' }
      : results.shift()!));
    return { ...out, output: { ...out.output, Records: merged, FailedRecordCount: refused.filter(Boolean).length } } as never;
  }, { step: 'initialize', name: 'instrumentPutRecords' });
  return calls;
}

async function readStream(client: KinesisClient, stream: string): Promise<Doc[]> {
  const shards = (await client.send(new ListShardsCommand({ StreamName: stream }))).Shards ?? [];
  const docs: Doc[] = [];
  for (const shard of shards) {
    let it = (await client.send(new GetShardIteratorCommand({ StreamName: stream, ShardId: shard.ShardId!, ShardIteratorType: 'TRIM_HORIZON' }))).ShardIterator;
    for (let i = 0; it && i < 100; i++) {
      const r = await client.send(new GetRecordsCommand({ ShardIterator: it, Limit: 10_000 }));
      for (const rec of r.Records ?? []) docs.push(JSON.parse(Buffer.from(rec.Data!).toString('utf8')) as Doc);
      if ((r.Records ?? []).length === 0) break;
      it = r.NextShardIterator;
    }
  }
  return docs;
}

describe.skipIf(!moto)(`forwarder → Kinesis${typeof started === 'string' ? ` (skipped: ${started})` : ''}`, () => {
  const m = moto as MotoServer;
  const clientConfig = () => ({ endpoint: m.endpoint, region: m.region, credentials: m.admin, requestHandler: new NodeHttpHandler(), maxAttempts: 1 });
  const s3 = () => new S3Client({ ...clientConfig(), forcePathStyle: true });
  let streamNo = 0;

  async function setup(refuse: (call: number, index: number) => boolean = () => false, env: Record<string, string> = {}) {
    const stream = `orders-${++streamNo}`;
    const kinesis = new KinesisClient(clientConfig());
    await kinesis.send(new CreateStreamCommand({ StreamName: stream, ShardCount: 3 }));
    const calls = instrument(kinesis, refuse);
    const handler = createForwarderHandler({
      env: { STREAM_NAME: stream, ERROR_BUCKET: 'forwarder-errors', ...env }, kinesis, s3: s3(), sleep: async () => {},
    });
    return { stream, kinesis, calls, handler, reader: new KinesisClient(clientConfig()) };
  }

  beforeAll(async () => {
    await s3().send(new CreateBucketCommand({ Bucket: 'forwarder-errors' }));
  });
  afterAll(async () => {
    await moto?.stop();
  });

  const specs = (n: number, partitions = 3): RecordSpec[] => Array.from({ length: n }, (_, i) => ({
    topic: 'orders', partition: i % partitions, offset: 1000 + Math.floor(i / partitions), key: i % 17 === 0 ? null : `cust-${i % 10}`,
    value: JSON.stringify(orderValue(i)), headers: [['trace', `t${i}`]],
  }));

  it('forwards every record as a JSON document that equals the Kafka record, per-key order kept, within 500 records per call', async () => {
    // Prepare
    const { stream, calls, handler, reader } = await setup();
    const input = specs(1200);

    // Act
    const result = await handler(kafkaEvent(input), context);

    // Assess
    expect(result).toMatchObject({ recordsIn: 1200, forwarded: 1200, deadLettered: 0, retriedEntries: 0 });
    expect(calls.map((c) => c.records)).toEqual([500, 500, 200]);
    const docs = await readStream(reader, stream);
    expect(docs).toHaveLength(1200);
    const byId = new Map(docs.map((d) => [`${d._kafka_partition}:${d._kafka_offset}`, d]));
    input.forEach((spec, i) => {
      const d = byId.get(`${spec.partition}:${spec.offset}`)!;
      expect(d).toMatchObject({ ...orderValue(i), _kafka_topic: 'orders', _kafka_key: spec.key ?? null, _kafka_headers: JSON.stringify([{ key: 'trace', value: `t${i}` }]) });
      expect(d._kafka_timestamp).toBe((1_767_225_600_000 + Number(spec.offset)) * 1000);
    });
    // Records of one key (or, without a key, one topic-partition) are on one shard in offset order.
    const perKey = new Map<string, number[]>();
    for (const d of docs) {
      const k = d._kafka_key ?? `orders-${d._kafka_partition}`;
      perKey.set(`${k}|${d._kafka_partition}`, [...(perKey.get(`${k}|${d._kafka_partition}`) ?? []), d._kafka_offset]);
    }
    for (const offsets of perKey.values()) expect(offsets).toEqual([...offsets].sort((a, b) => a - b));
  });

  it('cuts PutRecords calls at 5 MiB and sets aside records over 1 MiB in the dead-letter prefix', async () => {
    // Prepare: 30 records of ~400 kB (12 MB in all) and two over the 1 MiB record limit.
    const { stream, calls, handler, reader } = await setup();
    const big = (i: number, size: number): RecordSpec => ({ topic: 'orders', partition: 0, offset: i, key: `k${i}`, value: JSON.stringify({ i, pad: 'x'.repeat(size) }) });
    const input = [...Array.from({ length: 30 }, (_, i) => big(i, 400_000)), big(30, 1_100_000), big(31, 1_048_576)];

    // Act
    const result = await handler(kafkaEvent(input), context);

    // Assess
    expect(result).toMatchObject({ forwarded: 30, deadLettered: 2 });
    for (const c of calls) {
      expect(c.records).toBeLessThanOrEqual(500);
      expect(c.bytes).toBeLessThanOrEqual(5 * 1024 * 1024);
    }
    expect(calls.map((c) => c.records)).toEqual([13, 13, 4]);
    expect((await readStream(reader, stream)).map((d) => d._kafka_offset).sort((a, b) => a - b)).toEqual([...Array(30).keys()]);
    expect(result.deadLetterKeys).toEqual(['forwarder-dead-letters/orders/partition=0/orders+0+00000000000000000030.jsonl']);
    const body = await (await s3().send(new GetObjectCommand({ Bucket: 'forwarder-errors', Key: result.deadLetterKeys[0] }))).Body!.transformToString();
    const lines = body.trim().split('\n').map((l) => JSON.parse(l) as { offset: string; stage: string; reason: string; value: string });
    expect(lines.map((l) => [l.offset, l.stage])).toEqual([['30', 'limit'], ['31', 'limit']]);
    expect(lines[0].reason).toMatch(/^Kinesis record is \d+ bytes \(data \+ partition key\), over the 1 MiB limit$/);
    expect(JSON.parse(Buffer.from(lines[1].value, 'base64').toString()).i).toBe(31);
  });

  it('re-sends only the refused entries of a partial failure: every record once, none duplicated', async () => {
    // Prepare: the stream refuses every 4th entry of the first two calls.
    const { stream, calls, handler, reader } = await setup((call, i) => call < 2 && i % 4 === 1);
    const input = specs(900);

    // Act
    const result = await handler(kafkaEvent(input), context);

    // Assess
    expect(result.forwarded).toBe(900);
    expect(result.retriedEntries).toBeGreaterThan(0);
    expect(calls.length).toBeGreaterThan(2);
    const ids = (await readStream(reader, stream)).map((d) => `${d._kafka_partition}:${d._kafka_offset}`);
    expect(ids).toHaveLength(900);
    expect(new Set(ids).size).toBe(900);
  });

  it('fails the batch when entries are still refused after the last attempt, so the event source retries it', async () => {
    const { handler } = await setup((_call, i) => i === 0, { PUT_MAX_ATTEMPTS: '3' });
    await expect(handler(kafkaEvent(specs(10)), context)).rejects.toBeInstanceOf(PutRecordsError);
  });

  it('partition key: the Kafka key by default, topic-partition when set', async () => {
    const { kinesis, handler } = await setup(() => false, { PARTITION_KEY: 'topic-partition' });
    const seen: string[] = [];
    kinesis.middlewareStack.add((next, ctx) => async (args) => {
      if (ctx.commandName === 'PutRecordsCommand') seen.push(...((args.input as PutRecordsCommandInput).Records ?? []).map((r) => r.PartitionKey!));
      return next(args);
    }, { step: 'initialize', name: 'seeKeys' });
    await handler(kafkaEvent(specs(6)), context);
    expect(new Set(seen)).toEqual(new Set(['orders-0', 'orders-1', 'orders-2']));
  });
});

