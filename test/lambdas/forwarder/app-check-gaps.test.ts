/**
 * The second line of defence: an error no check foresaw, thrown while one record becomes a document, fails that
 * record alone (a dead letter with the error as its reason), is counted (RecordCheckGaps) and logged — never the
 * batch. toEntry is made to throw a TypeError for one offset, as a missing check would.
 */
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { S3Client } from '@aws-sdk/client-s3';
import { Logger } from '@aws-lambda-powertools/logger';
import { describe, expect, it, vi } from 'vitest';
import { createForwarderHandler } from '../../../lambdas/forwarder/app.ts';
import { kafkaEvent } from '../../support/events.ts';

vi.mock('../../../lambdas/forwarder/document.ts', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../../lambdas/forwarder/document.ts')>();
  return {
    ...real,
    toEntry: (...args: Parameters<typeof real.toEntry>) => {
      if (args[1].record.offset === 1n) throw new TypeError("Cannot read properties of undefined (reading 'x')");
      return real.toEntry(...args);
    },
  };
});

describe('an error no check foresaw', () => {
  it('dead-letters its record with the error as the reason, counts and logs it, and forwards the rest', async () => {
    // Prepare
    const sent: number[] = [];
    const kinesis = {
      send: async (c: { input: { Records: unknown[] } }) => {
        sent.push(c.input.Records.length);
        return { Records: c.input.Records.map(() => ({ SequenceNumber: '1', ShardId: 'shardId-000000000000' })), $metadata: {} };
      },
    } as unknown as KinesisClient;
    const bodies: string[] = [];
    const s3 = {
      config: {},
      send: async (c: { constructor: { name: string }; input: { Key: string; Body: Buffer } }) => {
        // Checkpoints (lambdas/shared/progress.ts): none yet, and every conditional write succeeds.
        if (c.input.Key.startsWith('forwarder-checkpoints/')) {
          if (c.constructor.name === 'GetObjectCommand') throw Object.assign(new Error('NoSuchKey'), { name: 'NoSuchKey', $metadata: { httpStatusCode: 404 } });
          return { ETag: '"cp"' };
        }
        bodies.push(c.input.Body.toString());
        return {};
      },
    } as unknown as S3Client;
    const logger = new Logger({ serviceName: 'test' });
    const error = vi.spyOn(logger, 'error');
    const handler = createForwarderHandler({ env: { STREAM_NAME: 'orders-stream', ERROR_BUCKET: 'forwarder-errors' }, kinesis, s3, logger, sleep: async () => {} });
    const event = kafkaEvent([0, 1, 2].map((offset) => ({ offset, key: 'k', value: '{"status":"paid"}' })));

    // Act
    const result = await handler(event, { functionName: 'forwarder', awsRequestId: 'req' } as never);

    // Assess
    expect(result).toMatchObject({ recordsIn: 3, forwarded: 2, deadLettered: 1, unexpectedRecordErrors: 1 });
    expect(sent).toEqual([2]);
    expect(JSON.parse(bodies[0])).toMatchObject({ offset: '1', stage: 'encode', reason: "unexpected TypeError: Cannot read properties of undefined (reading 'x')" });
    expect(error).toHaveBeenCalledWith(expect.stringMatching(/a check is missing/), expect.objectContaining({ count: 1 }));
  });
});
