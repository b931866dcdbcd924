/**
 * The forwarder against a real Kinesis API (moto on 127.0.0.1): records read back with GetRecords equal the Kafka
 * records, per-key order holds, PutRecords calls stay within 500 records / 5 MiB, refused entries are re-sent
 * (and only they), oversized records land in the dead-letter prefix of the error bucket. Hostile records fail
 * alone: long and emoji keys are accepted by the stream, numbers arrive as their source text, rows the table would
 * refuse are dead letters; calls that fail as a whole (throttling, 500, reset) are retried by the forwarder alone.
 */
import {
  CreateStreamCommand, GetRecordsCommand, GetShardIteratorCommand, KinesisClient, ListShardsCommand, PutRecordsCommand,
  type PutRecordsCommandInput, type PutRecordsCommandOutput,
} from '@aws-sdk/client-kinesis';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createForwarderHandler, forwardBatch } from '../../lambdas/forwarder/app.ts';
import { loadForwarderConfig } from '../../lambdas/forwarder/config.ts';
import { fitPartitionKey } from '../../lambdas/forwarder/partition-key.ts';
import { PutRecordsError } from '../../lambdas/forwarder/put-records.ts';
import { checkpointKey, ClaimConflictError, decodeCheckpoint } from '../../lambdas/shared/progress.ts';
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

/** Every record of the stream as its data text and partition key. */
async function readRaw(client: KinesisClient, stream: string): Promise<{ data: string; partitionKey: string }[]> {
  const shards = (await client.send(new ListShardsCommand({ StreamName: stream }))).Shards ?? [];
  const out: { data: string; partitionKey: string }[] = [];
  for (const shard of shards) {
    let it = (await client.send(new GetShardIteratorCommand({ StreamName: stream, ShardId: shard.ShardId!, ShardIteratorType: 'TRIM_HORIZON' }))).ShardIterator;
    for (let i = 0; it && i < 100; i++) {
      const r = await client.send(new GetRecordsCommand({ ShardIterator: it, Limit: 10_000 }));
      for (const rec of r.Records ?? []) out.push({ data: Buffer.from(rec.Data!).toString('utf8'), partitionKey: rec.PartitionKey! });
      if ((r.Records ?? []).length === 0) break;
      it = r.NextShardIterator;
    }
  }
  return out;
}

async function readStream(client: KinesisClient, stream: string): Promise<Doc[]> {
  return (await readRaw(client, stream)).map((r) => JSON.parse(r.data) as Doc);
}

type Fault = 'throttle' | 'internal' | 'reset';

/** An HTTP proxy in front of moto that answers the first PutRecords calls with whole-call faults, then forwards. */
async function startKinesisFaultProxy(target: string, faults: readonly Fault[]) {
  const t = new URL(target);
  const seen: string[] = [];
  const sockets = new Set<Socket>();
  const forward = (req: IncomingMessage, res: ServerResponse, body: Buffer) => {
    const up = request({ host: t.hostname, port: t.port, method: req.method, path: req.url, headers: req.headers }, (upRes) => {
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      upRes.pipe(res);
    });
    up.on('error', () => res.destroy());
    up.end(body);
  };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      if (req.headers['x-amz-target'] !== 'Kinesis_20131202.PutRecords') return forward(req, res, body);
      const fault = faults[seen.length];
      seen.push(fault ?? 'forwarded');
      const json = (status: number, type: string, message: string) => res
        .writeHead(status, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-ErrorType': type })
        .end(JSON.stringify({ __type: type, message }));
      if (fault === 'throttle') json(400, 'ProvisionedThroughputExceededException', 'Rate exceeded for stream (injected).');
      else if (fault === 'internal') json(500, 'InternalFailure', 'Internal service failure (injected).');
      else if (fault === 'reset') req.socket.destroy();
      else forward(req, res, body);
    });
  });
  server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    stop: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * Each test's stream has its own checkpoints: the tests share one error bucket and forward the same topic-partitions
 * and offsets, which a shared STATE_PREFIX would drop as already sent.
 */
const statePrefixOf = (stream: string) => `forwarder-checkpoints/${stream}/`;

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
      env: { STREAM_NAME: stream, ERROR_BUCKET: 'forwarder-errors', STATE_PREFIX: statePrefixOf(stream), ...env }, kinesis, s3: s3(), sleep: async () => {},
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
    // Keyed by the claim's start (the batch's first offset here), so a retry or a takeover rewrites the same object.
    expect(result.deadLetterKeys).toEqual(['forwarder-dead-letters/orders/partition=0/orders+0+00000000000000000000.jsonl']);
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

  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it('moto refuses a partition key with half a surrogate pair (500), so the forwarder never sends one', async () => {
    // Prepare: what the old 200-unit cut produced for a key with an emoji across the cut.
    const stream = `orders-${++streamNo}`;
    const kinesis = new KinesisClient(clientConfig());
    await kinesis.send(new CreateStreamCommand({ StreamName: stream, ShardCount: 1 }));
    const key = `${'a'.repeat(199)}😀${'b'.repeat(100)}`;

    // Act
    const half = await kinesis.send(new PutRecordsCommand({ StreamName: stream, Records: [{ Data: Buffer.from('{}'), PartitionKey: key.slice(0, 200) }] }))
      .then(() => 'accepted', (e: { $metadata?: { httpStatusCode?: number } }) => e.$metadata?.httpStatusCode);
    const fitted = await kinesis.send(new PutRecordsCommand({ StreamName: stream, Records: [{ Data: Buffer.from('{}'), PartitionKey: fitPartitionKey(key) }] }));

    // Assess
    expect(half).toBe(500);
    expect(fitted.FailedRecordCount).toBe(0);
  });

  it('forwards long, emoji and binary keys: each record once, its partition key within the limit and stable', async () => {
    // Prepare
    const { stream, handler, reader } = await setup(() => false, { FIELDS: 'offset' });
    const keys: (string | Buffer)[] = [
      `${'a'.repeat(199)}😀${'b'.repeat(100)}`, '😀'.repeat(300), '漢'.repeat(257), 'k'.repeat(256), Buffer.from([0xff, 0xfe, 0x00, 0x80]), 'customer-7',
    ];
    const input: RecordSpec[] = keys.map((key, i) => ({ topic: 'orders', partition: 0, offset: i, key, value: JSON.stringify({ i }) }));

    // Act
    const result = await handler(kafkaEvent(input), context);

    // Assess
    expect(result).toMatchObject({ forwarded: keys.length, deadLettered: 0 });
    const raw = await readRaw(reader, stream);
    expect(raw.map((r) => (JSON.parse(r.data) as { i: number }).i).sort()).toEqual([0, 1, 2, 3, 4, 5]);
    for (const r of raw) {
      const { i } = JSON.parse(r.data) as { i: number };
      const k = keys[i];
      expect(r.partitionKey).toBe(fitPartitionKey(typeof k === 'string' ? k : k.toString('base64')));
      expect(r.partitionKey.length).toBeLessThanOrEqual(256);
    }
  });

  it('sends every number as its source text and Kafka\'s "no timestamp" as null; fails alone what cannot be sent', async () => {
    // Prepare
    const { stream, handler, reader } = await setup(() => false, { FIELDS: 'offset,timestamp' });
    const numbers = ['12345678901234567890.12', '0.1234567890123456789', '1e-400', '9007199254740993', '-9223372036854775808'];
    const input: RecordSpec[] = [
      ...numbers.map((n, i) => ({ topic: 'orders', partition: 0, offset: i, key: 'k', value: `{"n":${n}}`, timestamp: i === 0 ? -1 : undefined })),
      { topic: 'orders', partition: 0, offset: 10, key: 'k', value: '{"n":1e400}' },
      { topic: 'orders', partition: 0, offset: 11, key: 'k', value: `{"deep":${'['.repeat(3000)}${']'.repeat(3000)}}` },
      { topic: 'orders', partition: 0, offset: 12, key: 'k', value: '{"n":1}', timestamp: 8.64e15 },
      { topic: 'orders', partition: 0, offset: 13, key: 'k', value: '{"s":"\\ud800"}' },
    ];

    // Act
    const result = await handler(kafkaEvent(input), context);

    // Assess
    expect(result).toMatchObject({ recordsIn: 9, forwarded: 5, deadLettered: 4 });
    const data = (await readRaw(reader, stream)).map((r) => r.data).sort();
    expect(data).toEqual(numbers.map((n, i) => `{"n":${n},"_kafka_offset":${i},"_kafka_timestamp":${i === 0 ? 'null' : (1_767_225_600_000 + i) * 1000}}`).sort());
    const body = await (await s3().send(new GetObjectCommand({ Bucket: 'forwarder-errors', Key: result.deadLetterKeys[0] }))).Body!.transformToString();
    const lines = body.trim().split('\n').map((l) => JSON.parse(l) as { offset: string; stage: string; reason: string });
    expect(lines.map((l) => l.offset)).toEqual(['10', '11', '12', '13']);
    expect(lines[2].reason).toMatch(/^timestamp 8640000000000000 ms is outside/);
  });

  it('checks documents against the declared table columns: rows Firehose would refuse are dead letters now', async () => {
    // Prepare
    const env = {
      FIELDS: 'offset', TABLE_ROUTES: 'orders=orders',
      TABLE_COLUMNS: JSON.stringify({ orders: { order_id: 'string!', total: 'decimal(38,2)', fee: 'decimal(12,2)', qty: 'int', at: 'timestamptz' } }),
    };
    const { stream, handler, reader } = await setup(() => false, env);
    const input: RecordSpec[] = [
      { offset: 0, key: 'k', value: '{"order_id":"o-0","total":12345678901234567890.12,"qty":3,"at":"2026-01-01T00:00:00Z","extra":1}' },
      { offset: 1, key: 'k', value: '{"total":1}' },
      { offset: 2, key: 'k', value: '{"order_id":"o-2","fee":12345678901234567890.12}' },
      { offset: 3, key: 'k', value: '{"order_id":"o-3","qty":2147483648}' },
      { offset: 4, key: 'k', value: '{"order_id":"o-4","at":"2026-02-30T00:00:00Z"}' },
    ].map((r) => ({ topic: 'orders', partition: 0, ...r }));

    // Act
    const result = await handler(kafkaEvent(input), context);

    // Assess
    expect(result).toMatchObject({ forwarded: 1, deadLettered: 4 });
    expect((await readRaw(reader, stream)).map((r) => r.data)).toEqual([
      '{"order_id":"o-0","total":12345678901234567890.12,"qty":3,"at":"2026-01-01T00:00:00Z","_kafka_offset":0}',
    ]);
    const body = await (await s3().send(new GetObjectCommand({ Bucket: 'forwarder-errors', Key: result.deadLetterKeys[0] }))).Body!.transformToString();
    expect(body.trim().split('\n').map((l) => (JSON.parse(l) as { reason: string }).reason)).toEqual([
      'column "order_id" is required but the value has no such field',
      'column "fee" (decimal(12,2)): the number 12345678901234567890.12 does not fit: has 20 digits before the point, more than 10 (precision 12, scale 2)',
      'column "qty" (int): the number 2147483648 does not fit: out of range -2147483648..2147483647',
      'column "at" (timestamptz): the string "2026-02-30T00:00:00Z" does not fit: not a calendar date between 0001-01-01 and 9999-12-31',
    ]);
  });

  it.each([
    ['ProvisionedThroughputExceededException', ['throttle', 'throttle']],
    ['InternalFailure (500)', ['internal']],
    ['a connection reset', ['reset', 'throttle']],
  ] as const)('retries a call that failed as a whole (%s) with its own loop only: the SDK makes one attempt per call', async (_name, faults) => {
    // Prepare: the handler builds its own client (maxAttempts 1), pointed at a proxy that fails the first calls.
    const stream = `orders-${++streamNo}`;
    await new KinesisClient(clientConfig()).send(new CreateStreamCommand({ StreamName: stream, ShardCount: 2 }));
    const proxy = await startKinesisFaultProxy(m.endpoint, faults);
    vi.stubEnv('AWS_REGION', m.region);
    vi.stubEnv('AWS_ACCESS_KEY_ID', m.admin.accessKeyId);
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', m.admin.secretAccessKey);
    const handler = createForwarderHandler({
      env: { STREAM_NAME: stream, ERROR_BUCKET: 'forwarder-errors', STATE_PREFIX: statePrefixOf(stream), KINESIS_ENDPOINT: proxy.endpoint, PUT_MAX_ATTEMPTS: '4', PUT_TIMEOUT_MS: '5000' },
      s3: s3(), sleep: async () => {},
    });

    // Act
    const result = await handler(kafkaEvent(specs(50)), context).finally(() => proxy.stop());

    // Assess
    expect(result).toMatchObject({ forwarded: 50, putCalls: faults.length + 1, retriedCalls: faults.length, retriedEntries: 50 * faults.length });
    expect(proxy.seen).toEqual([...faults, 'forwarded']);
    const ids = (await readStream(new KinesisClient(clientConfig()), stream)).map((d) => `${d._kafka_partition}:${d._kafka_offset}`);
    expect(ids).toHaveLength(50);
    expect(new Set(ids).size).toBe(50);
  });

  it('fails the batch after PUT_MAX_ATTEMPTS calls that all failed as a whole', async () => {
    // Prepare
    const stream = `orders-${++streamNo}`;
    await new KinesisClient(clientConfig()).send(new CreateStreamCommand({ StreamName: stream, ShardCount: 1 }));
    const proxy = await startKinesisFaultProxy(m.endpoint, ['throttle', 'throttle', 'throttle', 'throttle']);
    vi.stubEnv('AWS_REGION', m.region);
    vi.stubEnv('AWS_ACCESS_KEY_ID', m.admin.accessKeyId);
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', m.admin.secretAccessKey);
    const handler = createForwarderHandler({
      env: { STREAM_NAME: stream, ERROR_BUCKET: 'forwarder-errors', STATE_PREFIX: statePrefixOf(stream), KINESIS_ENDPOINT: proxy.endpoint, PUT_MAX_ATTEMPTS: '3' }, s3: s3(), sleep: async () => {},
    });

    // Act
    const err = await handler(kafkaEvent(specs(5)), context).then(() => undefined, (e: unknown) => e).finally(() => proxy.stop());

    // Assess
    expect(err).toBeInstanceOf(PutRecordsError);
    expect((err as Error).message).toMatch(/^PutRecords to stream orders-\d+ failed 3 times, last with ProvisionedThroughputExceededException/);
    expect(proxy.seen).toEqual(['throttle', 'throttle', 'throttle']);
  });

  describe('delivery guarantee: checkpoints in the error bucket (moto S3), every record read back from the stream', () => {
    const ids = (docs: Doc[]) => docs.map((d) => `${d._kafka_partition}:${d._kafka_offset}`);
    const duplicated = (list: string[]) => [...new Set(list.filter((id, i) => list.indexOf(id) !== i))].sort();
    /** A bad record (not JSON: a dead letter) where `bad` holds. */
    const run = (partition: number, from: number, to: number, bad: (o: number) => boolean = () => false): RecordSpec[] =>
      Array.from({ length: to - from + 1 }, (_, i) => from + i).map((offset) => ({
        topic: 'orders', partition, offset, key: `cust-${offset % 10}`, value: bad(offset) ? `not json ${offset}` : JSON.stringify(orderValue(offset)),
      }));
    const range = (partition: number, from: number, to: number, keep: (o: number) => boolean = () => true) =>
      Array.from({ length: to - from + 1 }, (_, i) => from + i).filter(keep).map((o) => `${partition}:${o}`);
    async function deadLetterIds(prefix: string): Promise<string[]> {
      const client = s3();
      const keys = ((await client.send(new ListObjectsV2Command({ Bucket: 'forwarder-errors', Prefix: prefix }))).Contents ?? []).map((o) => o.Key!);
      const lines = await Promise.all(keys.map(async (Key) => (await (await client.send(new GetObjectCommand({ Bucket: 'forwarder-errors', Key }))).Body!.transformToString()).trim().split('\n')));
      return lines.flat().map((l) => JSON.parse(l) as { partition: number; offset: string }).map((l) => `${l.partition}:${l.offset}`);
    }
    async function checkpointOf(stream: string, partition: number) {
      const body = await (await s3().send(new GetObjectCommand({ Bucket: 'forwarder-errors', Key: checkpointKey(statePrefixOf(stream), 'orders', partition) }))).Body!.transformToString();
      return decodeCheckpoint(body, 'test');
    }

    it('a redelivery from an earlier offset (a lost commit, a replay with other cuts) sends nothing twice', async () => {
      // Prepare
      const { stream, handler, reader } = await setup();

      // Act
      const first = await handler(kafkaEvent([...run(0, 0, 999), ...run(1, 0, 499)]), context);
      const lostCommit = await handler(kafkaEvent([...run(0, 500, 1499), ...run(1, 0, 799)]), context);
      const replay = await handler(kafkaEvent([...run(0, 0, 1499), ...run(1, 0, 799)]), context);

      // Assess
      expect(first).toMatchObject({ forwarded: 1500, alreadySent: 0 });
      expect(lostCommit).toMatchObject({ forwarded: 500 + 300, alreadySent: 500 + 500 });
      expect(replay).toMatchObject({ forwarded: 0, alreadySent: 2300, putCalls: 0 });
      const got = ids(await readStream(reader, stream));
      expect(duplicated(got)).toEqual([]);
      expect(got.sort()).toEqual([...range(0, 0, 1499), ...range(1, 0, 799)].sort());
    });

    it('a PutRecords failure after a chunk was accepted, then the retry: every record once, every dead letter once', async () => {
      // Prepare: 1300 records of one partition (chunks of 500, 500, ~290); the stream refuses every entry of the
      // second chunk until its attempts run out; then it recovers.
      let failing = true;
      const errorPrefix = `forwarder-dead-letters/partial-${streamNo + 1}/`;
      const { stream, handler, reader } = await setup((call) => failing && (call === 1 || call === 2), { PUT_MAX_ATTEMPTS: '2', ERROR_PREFIX: errorPrefix });
      const bad = (o: number) => o % 100 === 42;
      const event = kafkaEvent(run(0, 0, 1299, bad));

      // Act
      const err = await handler(event, context).then(() => undefined, (e: unknown) => e);
      const afterFailure = { stream: ids(await readStream(reader, stream)), checkpoint: await checkpointOf(stream, 0), deadLetters: await deadLetterIds(errorPrefix) };
      failing = false;
      const retry = await handler(event, context);

      // Assess
      expect(err).toBeInstanceOf(PutRecordsError);
      // The first chunk (500 entries: offsets 0–504 but the five dead letters) is in the stream and behind the checkpoint.
      expect(afterFailure.stream.sort()).toEqual(range(0, 0, 504, (o) => !bad(o)).sort());
      expect(afterFailure.checkpoint).toEqual({ next: 505n, claim: null });
      expect(afterFailure.deadLetters.sort()).toEqual(range(0, 0, 504, bad).sort());
      expect(retry).toMatchObject({ alreadySent: 505, forwarded: 1300 - 505 - 8, deadLettered: 8 });
      const got = ids(await readStream(reader, stream));
      expect(duplicated(got)).toEqual([]);
      expect(got.sort()).toEqual(range(0, 0, 1299, (o) => !bad(o)).sort());
      const letters = await deadLetterIds(errorPrefix);
      expect(duplicated(letters)).toEqual([]);
      expect(letters.sort()).toEqual(range(0, 0, 1299, bad).sort());
    });

    it('a killed invocation: its claim blocks the partition until it expires, then exactly what it had put is sent again', async () => {
      // Prepare: invocation A forwards 0–1199 and dies in its third PutRecords call (never answered, nothing runs after).
      const { stream, kinesis, reader } = await setup();
      const env = { STREAM_NAME: stream, ERROR_BUCKET: 'forwarder-errors', STATE_PREFIX: statePrefixOf(stream), ERROR_PREFIX: `forwarder-dead-letters/killed-${stream}/` };
      const cfg = loadForwarderConfig(env);
      const dying = new KinesisClient(clientConfig());
      let puts = 0;
      dying.middlewareStack.add((next, ctx) => async (args) => {
        if (ctx.commandName === 'PutRecordsCommand' && puts++ === 2) return new Promise<never>(() => {});
        return next(args);
      }, { step: 'initialize', name: 'dieInThirdCall' });
      const t0 = Date.now();
      const deadlineMs = t0 + 60_000;
      const bad = (o: number) => o % 250 === 3;
      void forwardBatch(cfg, dying, s3(), kafkaEvent(run(0, 0, 1199, bad)), async () => {}, { owner: 'killed', deadlineMs, now: () => t0 });
      while (puts < 3) await new Promise((resolve) => setTimeout(resolve, 10));
      const putByKilled = ids(await readStream(reader, stream));

      // Act: the event source retries before the claim expires (A's deadline + 1 minute), then after.
      const retry = kafkaEvent(run(0, 0, 1499, bad));
      const early = await forwardBatch(cfg, kinesis, s3(), retry, async () => {}, { now: () => deadlineMs + 59_999 }).then(() => undefined, (e: unknown) => e);
      const late = await forwardBatch(cfg, kinesis, s3(), retry, async () => {}, { now: () => deadlineMs + 60_000 });

      // Assess
      expect(early).toBeInstanceOf(ClaimConflictError);
      expect(late).toMatchObject({ alreadySent: 0, forwarded: 1500 - 6 });
      expect(putByKilled.sort()).toEqual(range(0, 0, 1199, (o) => !bad(o)).slice(0, 1000).sort());
      const got = ids(await readStream(reader, stream));
      // The window: the 1000 records A's answers had accepted are in the stream twice, no other record is.
      expect(duplicated(got)).toEqual([...putByKilled].sort());
      expect(got).toHaveLength(1494 + 1000);
      const letters = await deadLetterIds(env.ERROR_PREFIX);
      expect(letters.sort()).toEqual(range(0, 0, 1499, bad).sort());
    });
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

