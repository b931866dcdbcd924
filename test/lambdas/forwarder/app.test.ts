import type { KinesisClient, PutRecordsCommandInput } from '@aws-sdk/client-kinesis';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { Metrics } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import { describe, expect, it, vi } from 'vitest';
import { createForwarderHandler, forwardBatch, type ForwardResult } from '../../../lambdas/forwarder/app.ts';
import { loadForwarderConfig, type ForwarderConfig } from '../../../lambdas/forwarder/config.ts';
import { PutRecordsError } from '../../../lambdas/forwarder/put-records.ts';
import { ConfigError, EventShapeError, UploadError } from '../../../lambdas/shared/errors.ts';
import { checkpointKey, ClaimConflictError, encodeCheckpoint } from '../../../lambdas/shared/progress.ts';
import { kafkaEvent } from '../../support/events.ts';
import { MemoryBucket } from '../../support/memory-bucket.ts';

const ENV = { STREAM_NAME: 'orders-stream', ERROR_BUCKET: 'forwarder-errors', FILTER_REGEX: '"status":"(paid|shipped)"' };
const cfgOf = (env: Record<string, string> = {}): ForwarderConfig => loadForwarderConfig({ ...ENV, ...env });

/** What the fakes saw, in order: S3 and Kinesis calls share one log. */
type Logged =
  | { readonly service: 's3'; readonly command: string; readonly input: Record<string, unknown> }
  | { readonly service: 'kinesis'; readonly command: string; readonly input: PutRecordsCommandInput };

function fakes(opts: { refuse?: (call: number, index: number) => boolean; s3Fails?: boolean } = {}) {
  const log: Logged[] = [];
  let putCalls = 0;
  const kinesis = {
    send: async (command: { constructor: { name: string }; input: PutRecordsCommandInput }) => {
      log.push({ service: 'kinesis', command: command.constructor.name, input: command.input });
      const call = putCalls++;
      const records = (command.input.Records ?? []).map((_, i) => (opts.refuse?.(call, i)
        ? { ErrorCode: 'ProvisionedThroughputExceededException', ErrorMessage: 'Rate exceeded for shard shardId-000000000000 in stream orders-stream under account 123456789012.' }
        : { SequenceNumber: `49669146285321187394843960711289036251766531870843863${String(call).padStart(3, '0')}`, ShardId: 'shardId-000000000000' }));
      return { Records: records, FailedRecordCount: records.filter((r) => 'ErrorCode' in r).length, $metadata: {} };
    },
  };
  const s3 = {
    config: {},
    send: async (command: { constructor: { name: string }; input: Record<string, unknown> }) => {
      // Checkpoints (lambdas/shared/progress.ts): none yet, and every conditional write succeeds.
      if (String(command.input.Key).startsWith('forwarder-checkpoints/')) {
        if (command.constructor.name === 'GetObjectCommand') throw Object.assign(new Error('NoSuchKey'), { name: 'NoSuchKey', $metadata: { httpStatusCode: 404 } });
        return { ETag: '"cp"' };
      }
      log.push({ service: 's3', command: command.constructor.name, input: command.input });
      if (opts.s3Fails) throw new Error('AccessDenied');
      return { ETag: '"0a1b2c"' };
    },
  };
  return { kinesis: kinesis as unknown as KinesisClient, s3: s3 as unknown as S3Client, log };
}

const kinesisCalls = (log: Logged[]) => log.filter((l): l is Extract<Logged, { service: 'kinesis' }> => l.service === 'kinesis');
const s3Calls = (log: Logged[]) => log.filter((l): l is Extract<Logged, { service: 's3' }> => l.service === 's3');
const dataOf = (input: PutRecordsCommandInput) => (input.Records ?? []).map((r) => Buffer.from(r.Data!).toString('utf8'));

const NOT_UTF8 = Buffer.concat([Buffer.from('{"status":"paid","city":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]);
const OVERSIZED = JSON.stringify({ status: 'paid', pad: 'x'.repeat(1_100_000) });

/**
 * orders-0: 0 forwarded, 1 filtered (created), 2 tombstone (ignored), 3 not UTF-8, 4 not JSON, 5 over 1 MiB;
 * orders-1: 100 forwarded (with a header); payments-0: 7 has a value field named _kafka_offset.
 */
function mixedEvent(): Record<string, unknown> {
  return kafkaEvent([
    { offset: 0, key: 'order-0', value: '{"status":"paid","order_id":"ord-0"}' },
    { offset: 1, key: 'order-1', value: '{"status":"created","order_id":"ord-1"}' },
    { offset: 2, key: 'order-2', value: null },
    { offset: 3, key: 'order-3', value: NOT_UTF8 },
    { offset: 4, key: 'order-4', value: 'not json "status":"paid"' },
    { offset: 5, key: 'order-5', value: OVERSIZED },
    { partition: 1, offset: 100, key: 'order-100', value: '{"status":"shipped","order_id":"ord-100"}', headers: [['trace', 't-100']] },
    { topic: 'payments', offset: 7, key: 'pay-7', value: '{"status":"paid","_kafka_offset":7}' },
  ]);
}

const context: Context = {
  callbackWaitsForEmptyEventLoop: true,
  functionName: 'kafka-s3-forwarder',
  functionVersion: '$LATEST',
  invokedFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:kafka-s3-forwarder',
  memoryLimitInMB: '1024',
  awsRequestId: '6c1f0d7e-2b9a-4e53-8f1c-3a4b5c6d7e8f',
  logGroupName: '/aws/lambda/kafka-s3-forwarder',
  logStreamName: '2026/01/01/[$LATEST]fedcba9876543210',
  getRemainingTimeInMillis: () => 60_000,
  done: () => undefined,
  fail: () => undefined,
  succeed: () => undefined,
};

/** Keyed by the claim's start (the partition's first offset in this batch, or its checkpoint), not the first dead letter. */
const DEAD_LETTER_KEYS = [
  'forwarder-dead-letters/orders/partition=0/orders+0+00000000000000000000.jsonl',
  'forwarder-dead-letters/payments/partition=0/payments+0+00000000000000000007.jsonl',
];

describe('forwardBatch', () => {
  it('accounts for every record: forwarded + filtered + tombstonesIgnored + deadLettered == recordsIn', async () => {
    // Prepare
    const { kinesis, s3 } = fakes();

    // Act
    const result = await forwardBatch(cfgOf(), kinesis, s3, mixedEvent(), async () => {});

    // Assess
    expect(result).toEqual<ForwardResult>({
      alreadySent: 0,
      recordsIn: 8,
      forwarded: 2,
      filtered: 1,
      tombstonesIgnored: 1,
      deadLettered: 4,
      putCalls: 1,
      retriedEntries: 0,
      retriedCalls: 0,
      unexpectedRecordErrors: 0,
      deadLetterKeys: DEAD_LETTER_KEYS,
    });
    expect(result.forwarded + result.filtered + result.tombstonesIgnored + result.deadLettered).toBe(result.recordsIn);
  });

  it('sends the forwarded records as JSON documents with their partition keys', async () => {
    // Prepare
    const { kinesis, s3, log } = fakes();

    // Act
    await forwardBatch(cfgOf(), kinesis, s3, mixedEvent(), async () => {});

    // Assess
    const [put] = kinesisCalls(log);
    expect(put.command).toBe('PutRecordsCommand');
    expect(put.input.StreamName).toBe('orders-stream');
    expect(put.input.Records!.map((r) => r.PartitionKey)).toEqual(['order-0', 'order-100']);
    expect(dataOf(put.input)).toEqual([
      '{"status":"paid","order_id":"ord-0","_kafka_key":"order-0","_kafka_headers":"[]","_kafka_topic":"orders",'
        + '"_kafka_partition":0,"_kafka_offset":0,"_kafka_timestamp":1767225600000000}',
      '{"status":"shipped","order_id":"ord-100","_kafka_key":"order-100","_kafka_headers":"[{\\"key\\":\\"trace\\",\\"value\\":\\"t-100\\"}]",'
        + '"_kafka_topic":"orders","_kafka_partition":1,"_kafka_offset":100,"_kafka_timestamp":1767225600100000}',
    ]);
  });

  it('writes dead letters with stage and reason to the error bucket', async () => {
    // Prepare
    const { kinesis, s3, log } = fakes();

    // Act
    await forwardBatch(cfgOf(), kinesis, s3, mixedEvent(), async () => {});

    // Assess
    const puts = s3Calls(log);
    expect(puts.map((p) => [p.command, p.input.Bucket, p.input.Key, p.input.ContentType, p.input.Metadata])).toEqual([
      ['PutObjectCommand', 'forwarder-errors', DEAD_LETTER_KEYS[0], 'application/x-ndjson', { 'kafka-record-count': '3' }],
      ['PutObjectCommand', 'forwarder-errors', DEAD_LETTER_KEYS[1], 'application/x-ndjson', { 'kafka-record-count': '1' }],
    ]);
    const lines = puts.flatMap((p) => (p.input.Body as Buffer).toString('utf8').trim().split('\n'))
      .map((l) => JSON.parse(l) as { topic: string; offset: string; stage: string; reason: string; value: string });
    // Offset 5: 1,100,025 bytes of value fields, 145 of metadata and the partition key order-5 (7).
    expect(lines.map((l) => [l.topic, l.offset, l.stage, l.reason])).toEqual([
      ['orders', '3', 'convert', 'value is not valid UTF-8 (use base64 encoding for binary data)'],
      ['orders', '4', 'convert', `value is not valid JSON (Unexpected token 'o', "not json "s"... is not valid JSON)`],
      ['orders', '5', 'limit', 'Kinesis record is 1100177 bytes (data + partition key), over the 1 MiB limit'],
      ['payments', '7', 'schema', 'value field "_kafka_offset" uses the prefix "_kafka_" (in any letter case) reserved for Kafka metadata columns'],
    ]);
    expect(Buffer.from(lines[0].value, 'base64')).toEqual(NOT_UTF8);
  });

  it('uploads the dead letters BEFORE the first PutRecords call', async () => {
    // Prepare
    const { kinesis, s3, log } = fakes();

    // Act
    await forwardBatch(cfgOf(), kinesis, s3, mixedEvent(), async () => {});

    // Assess
    expect(log.map((l) => `${l.service}:${l.command}`)).toEqual(['s3:PutObjectCommand', 's3:PutObjectCommand', 'kinesis:PutRecordsCommand']);
  });

  it('sends nothing to Kinesis when the dead-letter upload fails, and fails the batch', async () => {
    // Prepare
    const { kinesis, s3, log } = fakes({ s3Fails: true });

    // Act
    const err = await forwardBatch(cfgOf(), kinesis, s3, mixedEvent(), async () => {}).then(() => undefined, (e: unknown) => e);

    // Assess
    expect(err).toBeInstanceOf(UploadError);
    expect((err as Error).message).toMatch(/^Upload of s3:\/\/forwarder-errors\/forwarder-dead-letters\/\S+ failed: AccessDenied$/);
    expect(kinesisCalls(log)).toEqual([]);
  });

  it('counts re-sent entries and calls when Kinesis refuses some', async () => {
    // Prepare: the first call refuses the first entry.
    const { kinesis, s3, log } = fakes({ refuse: (call, i) => call === 0 && i === 0 });
    const delays: number[] = [];

    // Act
    const result = await forwardBatch(cfgOf(), kinesis, s3, mixedEvent(), async (ms) => { delays.push(ms); });

    // Assess
    expect(result).toMatchObject({ forwarded: 2, putCalls: 2, retriedEntries: 1 });
    expect(kinesisCalls(log).map((c) => c.input.Records!.map((r) => r.PartitionKey))).toEqual([['order-0', 'order-100'], ['order-0']]);
    expect(delays).toHaveLength(1);
  });

  it.each([
    ['ignore', { forwarded: 1, tombstonesIgnored: 1, deadLettered: 0 }, 0],
    ['write', { forwarded: 2, tombstonesIgnored: 0, deadLettered: 0 }, 0],
    ['deadletter', { forwarded: 1, tombstonesIgnored: 0, deadLettered: 1 }, 1],
  ] as const)('TOMBSTONES=%s', async (mode, counts, objects) => {
    // Prepare
    const { kinesis, s3, log } = fakes();
    const event = kafkaEvent([{ offset: 0, key: 'order-0', value: null }, { offset: 1, key: 'order-1', value: '{"status":"paid"}' }]);

    // Act
    const result = await forwardBatch(cfgOf({ TOMBSTONES: mode }), kinesis, s3, event, async () => {});

    // Assess
    expect(result).toMatchObject({ recordsIn: 2, filtered: 0, ...counts });
    expect(result.forwarded + result.filtered + result.tombstonesIgnored + result.deadLettered).toBe(2);
    expect(s3Calls(log)).toHaveLength(objects);
  });

  it('writes a tombstone line with stage filter when TOMBSTONES=deadletter', async () => {
    // Prepare
    const { kinesis, s3, log } = fakes();

    // Act
    await forwardBatch(cfgOf({ TOMBSTONES: 'deadletter' }), kinesis, s3, kafkaEvent([{ offset: 9, key: 'order-9', value: null }]), async () => {});

    // Assess
    const [put] = s3Calls(log);
    expect(JSON.parse((put.input.Body as Buffer).toString('utf8'))).toMatchObject({
      offset: '9', value: null, stage: 'filter', reason: 'tombstone (null value) with TOMBSTONES=deadletter',
    });
    expect(kinesisCalls(log)).toEqual([]);
  });

  it('makes no call at all for an event without records', async () => {
    // Prepare
    const { kinesis, s3, log } = fakes();

    // Act
    const result = await forwardBatch(cfgOf(), kinesis, s3, kafkaEvent([]), async () => {});

    // Assess
    expect(result).toEqual<ForwardResult>({
      alreadySent: 0,
      recordsIn: 0, forwarded: 0, filtered: 0, tombstonesIgnored: 0, deadLettered: 0, putCalls: 0, retriedEntries: 0, retriedCalls: 0, unexpectedRecordErrors: 0, deadLetterKeys: [],
    });
    expect(log).toEqual([]);
  });

  it('throws EventShapeError for an event that is not a Kafka event', async () => {
    // Prepare
    const { kinesis, s3, log } = fakes();

    // Act
    const err = await forwardBatch(cfgOf(), kinesis, s3, { Records: [] }, async () => {}).then(() => undefined, (e: unknown) => e);

    // Assess
    expect(err).toBeInstanceOf(EventShapeError);
    expect(log).toEqual([]);
  });
});

describe('createForwarderHandler', () => {
  it('returns the result of the batch through middy with a Lambda context', async () => {
    // Prepare
    const { kinesis, s3, log } = fakes();
    const handler = createForwarderHandler({ env: ENV, kinesis, s3, sleep: async () => {} });

    // Act
    const result = await handler(mixedEvent(), context);

    // Assess
    expect(result).toEqual<ForwardResult>({
      alreadySent: 0,
      recordsIn: 8,
      forwarded: 2,
      filtered: 1,
      tombstonesIgnored: 1,
      deadLettered: 4,
      putCalls: 1,
      retriedEntries: 0,
      retriedCalls: 0,
      unexpectedRecordErrors: 0,
      deadLetterKeys: DEAD_LETTER_KEYS,
    });
    expect(log.map((l) => l.service)).toEqual(['s3', 's3', 'kinesis']);
  });

  it('fails with ClaimConflictError and counts ClaimConflicts while another invocation holds a partition\'s claim', async () => {
    // Prepare: orders-0's checkpoint holds a live claim of another invocation.
    const { kinesis, log } = fakes();
    const bucket = new MemoryBucket();
    const claim = { from: 0n, to: 9n, owner: 'other', expiresAt: Date.now() + 600_000, keys: [] };
    await (bucket as unknown as S3Client).send(new PutObjectCommand({
      Bucket: 'forwarder-errors', Key: checkpointKey('forwarder-checkpoints/', 'orders', 0), Body: encodeCheckpoint('orders', 0, { next: 0n, claim }, Date.now()),
    }));
    const metrics = new Metrics({ namespace: 'test', serviceName: 'test' });
    const added = vi.spyOn(metrics, 'addMetric');
    const handler = createForwarderHandler({ env: ENV, kinesis, s3: bucket as unknown as S3Client, metrics, sleep: async () => {} });

    // Act
    const err = await handler(mixedEvent(), context).then(() => undefined, (e: unknown) => e);

    // Assess
    expect(err).toBeInstanceOf(ClaimConflictError);
    expect(added.mock.calls.map((c) => c[0])).toEqual(expect.arrayContaining(['BatchFailures', 'ClaimConflicts']));
    expect(log).toEqual([]);
  });

  it('exposes the configuration parsed at cold start', () => {
    // Prepare
    const { kinesis, s3 } = fakes();

    // Act
    const handler = createForwarderHandler({ env: { ...ENV, PUT_MAX_ATTEMPTS: '4' }, kinesis, s3 });

    // Assess
    expect(handler.config).toMatchObject({ streamName: 'orders-stream', errorBucket: 'forwarder-errors', putMaxAttempts: 4 });
  });

  it('rejects a bad configuration at cold start with ConfigError', () => {
    // Prepare
    const env = { STREAM_NAME: 'orders stream', ERROR_BUCKET: 'forwarder-errors' };

    // Act
    const create = () => createForwarderHandler({ env });

    // Assess
    expect(create).toThrow(ConfigError);
    expect(create).toThrow("STREAM_NAME='orders stream': must be a Kinesis stream name");
  });

  it('fails the invocation with PutRecordsError when Kinesis keeps refusing, so the event source retries', async () => {
    // Prepare
    const { kinesis, s3, log } = fakes({ refuse: () => true });
    const handler = createForwarderHandler({ env: { ...ENV, PUT_MAX_ATTEMPTS: '2' }, kinesis, s3, sleep: async () => {} });

    // Act
    const err = await handler(mixedEvent(), context).then(() => undefined, (e: unknown) => e);

    // Assess
    expect(err).toBeInstanceOf(PutRecordsError);
    expect((err as Error).message).toMatch(/^2 of 2 records still refused by stream orders-stream after 2 attempts \(ProvisionedThroughputExceededException: /);
    expect(kinesisCalls(log)).toHaveLength(2);
  });
});

describe('forwardBatch: a record fails alone, never the batch', () => {
  it('forwards a binary key that only picks the shard, with its base64 form as partition key', async () => {
    // Prepare
    const { kinesis, s3, log } = fakes();
    const event = kafkaEvent([{ offset: 0, key: Buffer.from([0xc3, 0x28, 0xff]), value: '{"status":"paid"}' }]);

    // Act
    const result = await forwardBatch(cfgOf({ FIELDS: 'topic,offset' }), kinesis, s3, event, async () => {});

    // Assess
    expect(result).toMatchObject({ forwarded: 1, deadLettered: 0 });
    const [put] = kinesisCalls(log);
    expect(put.input.Records!.map((r) => r.PartitionKey)).toEqual(['wyj/']);
    expect(dataOf(put.input)).toEqual(['{"status":"paid","_kafka_topic":"orders","_kafka_offset":0}']);
  });

  it('dead-letters a record whose fields the event cannot carry (decode) and one outside the timestamp range, forwards the rest', async () => {
    // Prepare: offset 1 has a timestamp that is not a number; offset 2 one in year 275760; offset 3 Kafka's "no timestamp".
    const { kinesis, s3, log } = fakes();
    const event = kafkaEvent([
      { offset: 0, key: 'k', value: '{"status":"paid"}' },
      { offset: 2, key: 'k', value: '{"status":"paid"}', timestamp: 8.64e15 },
      { offset: 3, key: 'k', value: '{"status":"paid"}', timestamp: -1 },
    ]);
    ((event.records as Record<string, Record<string, unknown>[]>)['orders-0']).splice(1, 0, {
      topic: 'orders', partition: 0, offset: 1, timestamp: 'soon', timestampType: 'CREATE_TIME', key: null, value: null, headers: [],
    });

    // Act
    const result = await forwardBatch(cfgOf({ FIELDS: 'offset,timestamp' }), kinesis, s3, event, async () => {});

    // Assess
    expect(result).toMatchObject({ recordsIn: 4, forwarded: 2, deadLettered: 2, unexpectedRecordErrors: 0 });
    expect(dataOf(kinesisCalls(log)[0].input)).toEqual([
      '{"status":"paid","_kafka_offset":0,"_kafka_timestamp":1767225600000000}',
      '{"status":"paid","_kafka_offset":3,"_kafka_timestamp":null}',
    ]);
    const lines = (s3Calls(log)[0].input.Body as Buffer).toString('utf8').trim().split('\n').map((l) => JSON.parse(l) as { offset: string; stage: string; reason: string });
    expect(lines.map((l) => [l.offset, l.stage])).toEqual([['1', 'decode'], ['2', 'schema']]);
    expect(lines[0].reason).toMatch(/timestamp/);
    expect(lines[1].reason).toBe('timestamp 8640000000000000 ms is outside 0001-01-01T00:00:00Z..9999-12-31T23:59:59.999Z, the instants readers of the _kafka_timestamp column hold');
  });

  it('dead-letters rows the table would refuse, with the column and the reason', async () => {
    // Prepare
    const { kinesis, s3, log } = fakes();
    const env = { TABLE_COLUMNS: '{"orders":{"order_id":"string!","amount":"decimal(10,2)"}}', TABLE_ROUTES: 'orders=orders', FIELDS: 'offset', FILTER_REGEX: '' };
    const event = kafkaEvent([
      { offset: 0, key: 'k', value: '{"order_id":"o-0","amount":19.99,"note":"left out"}' },
      { offset: 1, key: 'k', value: '{"amount":1}' },
      { offset: 2, key: 'k', value: '{"order_id":"o-2","amount":12345678901234567890.12}' },
    ]);

    // Act
    const result = await forwardBatch(cfgOf(env), kinesis, s3, event, async () => {});

    // Assess
    expect(result).toMatchObject({ forwarded: 1, deadLettered: 2 });
    expect(dataOf(kinesisCalls(log)[0].input)).toEqual(['{"order_id":"o-0","amount":19.99,"_kafka_offset":0}']);
    const lines = (s3Calls(log)[0].input.Body as Buffer).toString('utf8').trim().split('\n').map((l) => JSON.parse(l) as { stage: string; reason: string });
    expect(lines.map((l) => [l.stage, l.reason])).toEqual([
      ['schema', 'column "order_id" is required but the value has no such field'],
      ['schema', 'column "amount" (decimal(10,2)): the number 12345678901234567890.12 does not fit: has 20 digits before the point, more than 8 (precision 10, scale 2)'],
    ]);
  });

  it('re-sends a call that failed as a whole and counts it', async () => {
    // Prepare
    const { kinesis: inner, s3 } = fakes();
    let calls = 0;
    const kinesis = {
      send: async (command: never) => {
        if (calls++ === 0) throw Object.assign(new Error('Rate exceeded for stream orders-stream'), { name: 'ProvisionedThroughputExceededException', $metadata: { httpStatusCode: 400 } });
        return inner.send(command);
      },
    } as unknown as KinesisClient;

    // Act
    const result = await forwardBatch(cfgOf(), kinesis, s3, kafkaEvent([{ offset: 0, key: 'k', value: '{"status":"paid"}' }]), async () => {});

    // Assess
    expect(result).toMatchObject({ forwarded: 1, putCalls: 2, retriedEntries: 1, retriedCalls: 1 });
  });
});
