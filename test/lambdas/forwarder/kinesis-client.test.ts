/**
 * The forwarder's Kinesis client against a local TCP server that accepts connections, reads the request and never
 * answers: PUT_TIMEOUT_MS fails each call, put-records.ts retries it PUT_MAX_ATTEMPTS times in all (the SDK adds
 * none), and the batch fails well inside any function timeout instead of hanging.
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import type { S3Client } from '@aws-sdk/client-s3';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createForwarderHandler } from '../../../lambdas/forwarder/app.ts';
import { loadForwarderConfig } from '../../../lambdas/forwarder/config.ts';
import type { KinesisEntry } from '../../../lambdas/forwarder/document.ts';
import { createKinesisClient } from '../../../lambdas/forwarder/kinesis-client.ts';
import { putAll, PutRecordsError } from '../../../lambdas/forwarder/put-records.ts';
import type { SinkRecord } from '../../../lambdas/shared/convert.ts';
import { kafkaEvent } from '../../support/events.ts';
import { MemoryBucket } from '../../support/memory-bucket.ts';

const CREDENTIALS = { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' };

/** Accepts every connection, reads what comes, answers nothing. */
async function silentServer(): Promise<{ endpoint: string; connections: () => number; requests: () => number; stop: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  let connections = 0;
  let requests = 0;
  const server: Server = createServer((s) => {
    connections++;
    sockets.add(s);
    s.on('data', (d) => { if (d.toString('latin1').startsWith('POST ')) requests++; });
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    connections: () => connections,
    requests: () => requests,
    stop: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const entries = (n: number): KinesisEntry[] => Array.from({ length: n }, (_, i) => ({ data: Buffer.from(`{"i":${i}}`), partitionKey: `k${i}`, record: {} as SinkRecord }));

let server: Awaited<ReturnType<typeof silentServer>>;
beforeEach(async () => {
  server = await silentServer();
});
afterEach(async () => {
  vi.unstubAllEnvs();
  await server.stop();
});

describe('createKinesisClient', () => {
  it('makes one attempt per call, with the request timeout of PUT_TIMEOUT_MS', async () => {
    // Prepare
    const cfg = { kinesisEndpoint: server.endpoint, putTimeoutMs: 1234 };

    // Act
    const client = createKinesisClient(cfg, { region: 'us-east-1', credentials: CREDENTIALS });

    // Assess
    expect(await client.config.maxAttempts()).toBe(1);
    const handlerConfig = await (client.config.requestHandler as unknown as { configProvider: Promise<Record<string, unknown>> }).configProvider;
    expect(handlerConfig).toMatchObject({ connectionTimeout: 1234, requestTimeout: 1234, throwOnRequestTimeout: true });
    expect((await client.config.endpoint!()).hostname).toBe('127.0.0.1');
  });

  it('fails a call to a silent endpoint after PUT_TIMEOUT_MS, and PUT_MAX_ATTEMPTS calls in all', async () => {
    // Prepare
    const cfg = { streamName: 'orders-stream', kinesisEndpoint: server.endpoint, putTimeoutMs: 300, putMaxAttempts: 3, putBaseDelayMs: 1, putMaxDelayMs: 10 };
    const client = createKinesisClient(cfg, { region: 'us-east-1', credentials: CREDENTIALS });

    // Act
    const started = performance.now();
    const err = await putAll(client, cfg, entries(2)).then(() => undefined, (e: unknown) => e);
    const elapsed = performance.now() - started;

    // Assess
    expect(err).toBeInstanceOf(PutRecordsError);
    expect((err as Error).message).toMatch(/^PutRecords to stream orders-stream failed 3 times, last with TimeoutError \(.*300 ms requestTimeout.*\); the batch fails so the event source retries it$/);
    expect(((err as Error).cause as Error).name).toBe('TimeoutError');
    expect(server.requests()).toBe(3);
    expect(elapsed).toBeGreaterThanOrEqual(3 * 300 - 50);
    expect(elapsed).toBeLessThan(3_000);
  });
});

describe('the handler with a silent Kinesis endpoint', () => {
  it('fails the invocation within attempts × PUT_TIMEOUT_MS instead of holding it until the function times out', async () => {
    // Prepare: credentials and region as Lambda gives them, the endpoint from the forwarder's own settings.
    vi.stubEnv('AWS_REGION', 'us-east-1');
    vi.stubEnv('AWS_ACCESS_KEY_ID', CREDENTIALS.accessKeyId);
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', CREDENTIALS.secretAccessKey);
    // The checkpoints (GetObject 404 first, then conditional PutObject) must work for the batch to reach Kinesis.
    const bucket = new MemoryBucket();
    const s3 = bucket as unknown as S3Client;
    const env = { STREAM_NAME: 'orders-stream', ERROR_BUCKET: 'forwarder-errors', KINESIS_ENDPOINT: server.endpoint, PUT_TIMEOUT_MS: '200', PUT_MAX_ATTEMPTS: '4', PUT_BASE_DELAY_MS: '1', PUT_MAX_DELAY_MS: '10' };
    const handler = createForwarderHandler({ env, s3 });
    const event = kafkaEvent([{ offset: 0, key: 'k', value: '{"a":1}' }]);

    // Act
    const started = performance.now();
    const err = await handler(event, { functionName: 'forwarder', awsRequestId: 'req' } as never).then(() => undefined, (e: unknown) => e);
    const elapsed = performance.now() - started;

    // Assess
    expect(err).toBeInstanceOf(PutRecordsError);
    expect(server.requests()).toBe(4);
    expect(elapsed).toBeLessThan(3_000);
    // Nothing was accepted: the claim is released (expired at once) with the checkpoint where it was, for the retry.
    const cp = JSON.parse(bucket.objects.get('forwarder-checkpoints/orders/0.json')!.toString()) as { next: string; claim: { expiresAt: number } };
    expect(cp).toMatchObject({ next: '0', claim: { from: '0', to: '0', expiresAt: 0 } });
  });

  it('reads PUT_TIMEOUT_MS with its default and bounds', () => {
    // Prepare
    const base = { STREAM_NAME: 'orders-stream', ERROR_BUCKET: 'forwarder-errors' };

    // Act
    const timeouts = [loadForwarderConfig(base), loadForwarderConfig({ ...base, PUT_TIMEOUT_MS: '100' }), loadForwarderConfig({ ...base, PUT_TIMEOUT_MS: '120000' })].map((c) => c.putTimeoutMs);

    // Assess
    expect(timeouts).toEqual([10_000, 100, 120_000]);
    expect(() => loadForwarderConfig({ ...base, PUT_TIMEOUT_MS: '99' })).toThrow("PUT_TIMEOUT_MS='99': Too small: expected number to be >=100");
    expect(() => loadForwarderConfig({ ...base, PUT_TIMEOUT_MS: '120001' })).toThrow("PUT_TIMEOUT_MS='120001': Too big: expected number to be <=120000");
  });
});
