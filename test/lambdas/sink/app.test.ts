import zlib from 'node:zlib';
import type { S3Client } from '@aws-sdk/client-s3';
import type { Context } from 'aws-lambda';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ConfigError, EventShapeError, UploadError } from '../../../lambdas/shared/errors.ts';
import { createSinkHandler, METRICS_NAMESPACE, SERVICE_NAME } from '../../../lambdas/sink/app.ts';
import { kafkaEvent, orderValue } from '../../support/events.ts';

interface SentCommand {
  readonly name: string;
  readonly input: Record<string, unknown>;
}

function fakeS3(fail?: (c: SentCommand) => boolean): { client: S3Client; sent: SentCommand[] } {
  const sent: SentCommand[] = [];
  const client = {
    config: {},
    send: async (command: { constructor: { name: string }; input: Record<string, unknown> }) => {
      const c = { name: command.constructor.name, input: command.input };
      // Checkpoints: none yet (the first delivery), and every conditional write succeeds.
      if (c.name === 'GetObjectCommand') throw Object.assign(new Error('NoSuchKey'), { name: 'NoSuchKey', $metadata: { httpStatusCode: 404 } });
      if (String(c.input.Key).startsWith('checkpoints/')) return { ETag: '"cp"' };
      sent.push(c);
      if (fail?.(c)) throw new Error('AccessDenied');
      return {};
    },
  };
  return { client: client as unknown as S3Client, sent };
}

const context: Context = {
  callbackWaitsForEmptyEventLoop: true,
  functionName: 'kafka-s3-sink',
  functionVersion: '$LATEST',
  invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:kafka-s3-sink',
  memoryLimitInMB: '1024',
  awsRequestId: '0f8c7b4e-5f7d-4a39-9b9c-1d2e3f4a5b6c',
  logGroupName: '/aws/lambda/kafka-s3-sink',
  logStreamName: '2026/01/01/[$LATEST]0123456789abcdef',
  getRemainingTimeInMillis: () => 60_000,
  done: () => undefined,
  fail: () => undefined,
  succeed: () => undefined,
};

const ENV = { BUCKET_NAME: 'my-bucket', FILTER_REGEX: '"status":"(paid|shipped)"' };

/**
 * Ten records of orders-0: offsets 0..7 are orders (statuses created, paid, shipped, delivered, …; the filter keeps
 * paid and shipped: 1, 2, 5, 6), 8 is a tombstone (ignored), 9 matches the filter but is not JSON (dead-lettered).
 * Two more records on orders-1 are kept.
 */
function mixedEvent(): Record<string, unknown> {
  return kafkaEvent([
    ...Array.from({ length: 8 }, (_, i) => ({ offset: i, key: `order-${i}`, value: JSON.stringify(orderValue(i)) })),
    { offset: 8, key: 'order-8', value: null },
    { offset: 9, key: 'order-9', value: 'not json "status":"paid"' },
    { partition: 1, offset: 100, key: 'a', value: '{"status":"paid","n":1}', headers: [['trace', 't-1']] },
    { partition: 1, offset: 101, key: 'b', value: '{"status":"shipped","n":2}' },
  ]);
}

/** Captures what Powertools writes to stdout (EMF metrics, JSON logs) and stderr; the output is not shown. */
let stdout: string[] = [];
let stderr: string[] = [];
beforeEach(() => {
  stdout = [];
  stderr = [];
  // Powertools only prints metrics when not in dev mode; pin that for the test process.
  vi.stubEnv('POWERTOOLS_DEV', 'false');
  vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'INFO');
  vi.stubEnv('POWERTOOLS_METRICS_DISABLED', 'false');
  vi.spyOn(process.stdout, 'write').mockImplementation(((chunk: string | Uint8Array) => {
    stdout.push(String(chunk));
    return true;
  }) as typeof process.stdout.write);
  vi.spyOn(process.stderr, 'write').mockImplementation(((chunk: string | Uint8Array) => {
    stderr.push(String(chunk));
    return true;
  }) as typeof process.stderr.write);
});
afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
});

function jsonLines(chunks: string[]): Record<string, unknown>[] {
  return chunks
    .join('')
    .split('\n')
    .filter((l) => l.trim().startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

interface Emf {
  _aws: { CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string; Unit: string }[] }[] };
  [name: string]: unknown;
}

describe('createSinkHandler', () => {
  it('an event from a mapping with a schema registry (schemaRegistryFormat=json): records carry keySchemaMetadata and valueSchemaMetadata, values are JSON text; written as any JSON value, int64 digits kept', async () => {
    // Prepare: the record shape AWS documents for such mappings (Powertools' KafkaRecord: {dataFormat, schemaId})
    const { client, sent } = fakeS3();
    const handler = createSinkHandler({ env: { BUCKET_NAME: 'my-bucket' }, s3: client });
    const event = kafkaEvent([
      { offset: 0, key: 'k-0', value: '{"order_id":"o-1","customer_id":9223372036854775807,"amount":12.5}' },
      { offset: 1, key: 'k-1', value: '{"order_id":"o-2","customer_id":1,"amount":3}' },
    ]);
    for (const list of Object.values(event.records as Record<string, Record<string, unknown>[]>)) {
      for (const r of list) Object.assign(r, { keySchemaMetadata: { dataFormat: 'JSON', schemaId: null }, valueSchemaMetadata: { dataFormat: 'AVRO', schemaId: '7' } });
    }

    // Act
    const result = await handler(event, context);

    // Assess
    expect(result).toMatchObject({ recordsIn: 2, written: 2, deadLettered: 0 });
    const lines = zlib.gunzipSync(sent[0].input.Body as Buffer).toString().trim().split('\n');
    expect(lines[0]).toContain('"value":{"order_id":"o-1","customer_id":9223372036854775807,"amount":12.5}');
    expect(lines.map((l) => JSON.parse(l).offset)).toEqual([0, 1]);
  });

  it('processes an event: every record is written, filtered, ignored or dead-lettered', async () => {
    // Prepare
    const { client, sent } = fakeS3();
    const handler = createSinkHandler({ env: ENV, s3: client });

    // Act
    const result = await handler(mixedEvent(), context);

    // Assess
    expect(result).toMatchObject({
      recordsIn: 12,
      written: 6,
      filtered: 4,
      tombstonesIgnored: 1,
      tombstonesWritten: 0,
      deadLettered: 1,
      objects: 2,
      deadLetterObjects: 1,
      multipartObjects: 0,
    });
    expect(result.written + result.filtered + result.tombstonesIgnored + result.deadLettered).toBe(result.recordsIn);
    expect(result.keys).toEqual([
      'topics/orders/dt=2026-01-01/hour=00/orders+0+00000000000000000000.jsonl.gz',
      'topics/orders/dt=2026-01-01/hour=00/orders+1+00000000000000000100.jsonl.gz',
      'dead-letters/orders/partition=0/orders+0+00000000000000000000.jsonl',
    ]);
    expect(result.ranges).toEqual([
      { topic: 'orders', partition: 0, firstOffset: '0', lastOffset: '9', records: 10 },
      { topic: 'orders', partition: 1, firstOffset: '100', lastOffset: '101', records: 2 },
    ]);
    expect(sent.map((c) => [c.name, c.input.Key])).toEqual(result.keys.map((k) => ['PutObjectCommand', k]));
    expect(result.bytes).toBe(sent.reduce((n, c) => n + (c.input.Body as Buffer).length, 0));
  });

  it('uploads gzip JSON lines with the kept records and object metadata', async () => {
    // Prepare
    const { client, sent } = fakeS3();
    const handler = createSinkHandler({ env: ENV, s3: client });

    // Act
    await handler(mixedEvent(), context);

    // Assess
    const [first, second] = sent;
    const lines = zlib.gunzipSync(first.input.Body as Buffer).toString('utf8').trimEnd().split('\n');
    expect(lines.map((l) => (JSON.parse(l) as { offset: number; key: string }).offset)).toEqual([1, 2, 5, 6]);
    expect(JSON.parse(lines[0])).toEqual({
      key: 'order-1',
      value: orderValue(1),
      headers: [],
      topic: 'orders',
      partition: 0,
      offset: 1,
      timestamp: '2026-01-01T00:00:00.001Z',
    });
    expect(first.input).toMatchObject({
      Bucket: 'my-bucket',
      ContentType: 'application/x-ndjson',
      Metadata: {
        'kafka-topic': 'orders',
        'kafka-partition': '0',
        'kafka-start-offset': '0', // the claim's start (offset 0 was not written)
        'kafka-last-offset': '6',
        'kafka-record-count': '4',
      },
    });
    expect(zlib.gunzipSync(second.input.Body as Buffer).toString('utf8')).toBe(
      '{"key":"a","value":{"status":"paid","n":1},"headers":[{"key":"trace","value":"t-1"}],"topic":"orders","partition":1,"offset":100,"timestamp":"2026-01-01T00:00:00.100Z"}\n'
        + '{"key":"b","value":{"status":"shipped","n":2},"headers":[],"topic":"orders","partition":1,"offset":101,"timestamp":"2026-01-01T00:00:00.101Z"}\n',
    );
  });

  it('writes the dead letter with the raw value and the reason', async () => {
    // Prepare
    const { client, sent } = fakeS3();
    const handler = createSinkHandler({ env: ENV, s3: client });

    // Act
    await handler(mixedEvent(), context);

    // Assess
    const letter = sent.find((c) => String(c.input.Key).startsWith('dead-letters/'));
    expect(letter?.input.Metadata).toEqual({ 'kafka-record-count': '1' });
    const line = JSON.parse((letter?.input.Body as Buffer).toString('utf8')) as Record<string, unknown>;
    expect(line).toMatchObject({
      topic: 'orders',
      partition: 0,
      offset: '9',
      key: Buffer.from('order-9').toString('base64'),
      value: Buffer.from('not json "status":"paid"').toString('base64'),
      stage: 'convert',
    });
    expect(String(line.reason)).toMatch(/^value is not valid JSON \(/);
  });

  it('prints the batch metrics as CloudWatch EMF on stdout', async () => {
    // Prepare
    const { client } = fakeS3();
    const handler = createSinkHandler({ env: ENV, s3: client });

    // Act
    const result = await handler(mixedEvent(), context);

    // Assess
    const emf = jsonLines(stdout).filter((l) => '_aws' in l) as unknown as Emf[];
    expect(emf).toHaveLength(1);
    const [directive] = emf[0]._aws.CloudWatchMetrics;
    expect(directive.Namespace).toBe(METRICS_NAMESPACE);
    // The service set (alarms read it) and the per-topic set: an event source mapping reads one topic.
    expect(directive.Dimensions).toEqual([['service'], ['service', 'topic']]);
    expect(emf[0].service).toBe(SERVICE_NAME);
    expect((emf[0] as unknown as { topic: string }).topic).toBe('orders');
    const names = directive.Metrics.map((m) => m.Name);
    expect(names).toEqual(expect.arrayContaining(['RecordsIn', 'RecordsWritten', 'RecordsDeadLettered', 'BytesWritten']));
    expect(directive.Metrics.find((m) => m.Name === 'BytesWritten')?.Unit).toBe('Bytes');
    expect([emf[0].RecordsIn, emf[0].RecordsWritten, emf[0].RecordsFiltered, emf[0].RecordsDeadLettered, emf[0].TombstonesIgnored])
      .toEqual([12, 6, 4, 1, 1]);
    expect(emf[0].BytesWritten).toBe(result.bytes);
    expect(emf[0].ObjectsWritten).toBe(3);
  });

  it("takes the pipeline's service name from POWERTOOLS_SERVICE_NAME, and no topic dimension for an event of several topics", async () => {
    // Prepare
    const { client } = fakeS3();
    const handler = createSinkHandler({ env: { ...ENV, POWERTOOLS_SERVICE_NAME: 'payments-pipeline-sink' }, s3: client });
    const two = mixedEvent() as { records: Record<string, { topic: string }[]> };
    const [, list] = Object.entries(two.records)[0];
    two.records['refunds-0'] = list.map((r) => ({ ...r, topic: 'refunds' }));

    // Act
    await handler(two, context);

    // Assess
    const [emf] = jsonLines(stdout).filter((l) => '_aws' in l) as unknown as Emf[];
    expect(emf._aws.CloudWatchMetrics[0].Dimensions).toEqual([['service']]);
    expect(emf.service).toBe('payments-pipeline-sink');
  });

  it('logs the batch summary as structured JSON with the Lambda context', async () => {
    // Prepare
    const { client } = fakeS3();
    const handler = createSinkHandler({ env: ENV, s3: client });

    // Act
    await handler(mixedEvent(), context);

    // Assess
    const logs = jsonLines([...stdout, ...stderr]).filter((l) => 'message' in l);
    const summary = logs.find((l) => l.message === 'batch written');
    expect(summary).toMatchObject({
      level: 'INFO',
      service: SERVICE_NAME,
      function_request_id: context.awsRequestId,
      ranges: ['orders-0@0..9', 'orders-1@100..101'],
      recordsIn: 12,
      written: 6,
      deadLettered: 1,
    });
    expect(logs.find((l) => l.message === 'records dead-lettered')).toMatchObject({ level: 'WARN', count: 1, errorPrefix: 'dead-letters/' });
  });

  it('exposes the parsed configuration', () => {
    // Prepare
    const { client } = fakeS3();

    // Act
    const handler = createSinkHandler({ env: { ...ENV, FORMAT: 'parquet' }, s3: client });

    // Assess
    expect(handler.config.format).toBe('parquet');
    expect(handler.config.compression).toBe('zstd');
    expect(handler.config.filter?.source).toBe('"status":"(paid|shipped)"');
  });

  it('throws ConfigError at creation for a bad environment, listing every problem', () => {
    // Prepare
    const env = { BUCKET_NAME: 'my-bucket', FORMAT: 'xml', TIMEZONE: 'Nowhere/City' };

    // Act
    const create = () => createSinkHandler({ env, s3: fakeS3().client });

    // Assess
    expect(create).toThrow(ConfigError);
    try {
      create();
    } catch (err) {
      expect((err as ConfigError).problems).toHaveLength(2);
      expect((err as ConfigError).message).toContain("FORMAT='xml'");
      expect((err as ConfigError).message).toContain("TIMEZONE='Nowhere/City'");
    }
    const logged = jsonLines([...stdout, ...stderr]).find((l) => l.message === 'configuration rejected at cold start');
    expect(logged?.problems).toHaveLength(2);
  });

  it('fails the invocation with EventShapeError for an event that is not a Kafka event', async () => {
    // Prepare
    const { client, sent } = fakeS3();
    const handler = createSinkHandler({ env: ENV, s3: client });

    // Act
    const outcome = handler({ Records: [{ eventSource: 'aws:sqs' }] }, context);

    // Assess
    await expect(outcome).rejects.toThrow(EventShapeError);
    expect(sent).toEqual([]);
  });

  it('fails the invocation with UploadError when S3 rejects a write', async () => {
    // Prepare
    const { client } = fakeS3((c) => String(c.input.Key).startsWith('dead-letters/'));
    const handler = createSinkHandler({ env: ENV, s3: client });

    // Act
    const outcome = handler(mixedEvent(), context);

    // Assess
    await expect(outcome).rejects.toThrow(UploadError);
    await expect(outcome).rejects.toThrow(/^Upload of s3:\/\/my-bucket\/dead-letters\/orders\/partition=0\/orders\+0\+00000000000000000000\.jsonl failed: AccessDenied$/);
  });

  it('accounts for every record of an event with nothing to write', async () => {
    // Prepare
    const { client, sent } = fakeS3();
    const handler = createSinkHandler({ env: ENV, s3: client });
    const event = kafkaEvent([{ offset: 0, value: null }, { offset: 1, value: '{"status":"created"}' }]);

    // Act
    const result = await handler(event, context);

    // Assess
    expect([result.recordsIn, result.written, result.filtered, result.tombstonesIgnored, result.deadLettered]).toEqual([2, 0, 1, 1, 0]);
    expect(sent).toEqual([]);
  });
});
