/**
 * The forwarder's Kinesis client. One attempt per call (maxAttempts 1): put-records.ts retries itself, up to
 * PUT_MAX_ATTEMPTS, so the SDK's own retries would multiply them. PUT_TIMEOUT_MS bounds each call — connecting and
 * the whole request — so a silent endpoint fails the call (which is then retried) instead of holding the
 * invocation until the function times out. HTTP/1.1: PutRecords needs no streaming, and local Kinesis servers do
 * not speak the SDK's default HTTP/2 for Kinesis.
 */
import { KinesisClient, type KinesisClientConfig } from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { ForwarderConfig } from './config.ts';

export function createKinesisClient(cfg: Pick<ForwarderConfig, 'kinesisEndpoint' | 'putTimeoutMs'>, overrides: KinesisClientConfig = {}): KinesisClient {
  return new KinesisClient({
    maxAttempts: 1,
    requestHandler: new NodeHttpHandler({
      connectionTimeout: cfg.putTimeoutMs,
      requestTimeout: cfg.putTimeoutMs,
      // Without it the handler only logs a warning when requestTimeout passes, and the call waits on.
      throwOnRequestTimeout: true,
      httpAgent: { keepAlive: true },
      httpsAgent: { keepAlive: true },
    }),
    ...(cfg.kinesisEndpoint ? { endpoint: cfg.kinesisEndpoint } : {}),
    ...overrides,
  });
}
