/**
 * The forwarder decodes registry-framed values as the sink does (SCHEMA_REGISTRY): documents carry the decoded
 * value's fields; a value that does not decode is a dead letter holding its original bytes; a registry that does not
 * answer fails the batch before anything is sent to Kinesis.
 */
import type { KinesisClient, PutRecordsCommandInput } from '@aws-sdk/client-kinesis';
import type { S3Client } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { forwardBatch } from '../../../lambdas/forwarder/app.ts';
import { loadForwarderConfig } from '../../../lambdas/forwarder/config.ts';
import { RegistryDecoder, RegistryUnavailableError, useDecoderFor } from '../../../lambdas/shared/registry/index.ts';
import type { RawSchema } from '../../../lambdas/shared/registry/client.ts';
import { kafkaEvent } from '../../support/events.ts';
import { MemoryBucket } from '../../support/memory-bucket.ts';
import { avroType, confluent, MapFetcher, order, ORDER_V1 } from '../../support/schema-fetcher.ts';

function kinesis(): { client: KinesisClient; sent: string[] } {
  const sent: string[] = [];
  const client = {
    send: async (command: { input: PutRecordsCommandInput }) => {
      const records = command.input.Records ?? [];
      for (const r of records) sent.push(Buffer.from(r.Data!).toString('utf8'));
      return { Records: records.map(() => ({ SequenceNumber: '1', ShardId: 'shardId-000000000000' })), FailedRecordCount: 0, $metadata: {} };
    },
  };
  return { client: client as unknown as KinesisClient, sent };
}

describe('forwarder with SCHEMA_REGISTRY', () => {
  const schemas = new Map<string, RawSchema>([['7', { type: 'AVRO', text: JSON.stringify(ORDER_V1), references: [] }]]);

  it('sends the decoded value\'s fields, dead-letters what does not decode with its original bytes', async () => {
    const cfg = loadForwarderConfig({ STREAM_NAME: 'orders-stream', ERROR_BUCKET: 'errors', SCHEMA_REGISTRY: 'https://registry.example.com' });
    const fetcher = new MapFetcher(schemas);
    useDecoderFor(cfg.registry!, new RegistryDecoder(cfg.registry!, fetcher));
    const { client, sent } = kinesis();
    const bucket = new MemoryBucket();
    const bad = confluent(7, Buffer.from([9, 9]));
    const r = await forwardBatch(cfg, client, bucket as unknown as S3Client, kafkaEvent([
      { offset: 0, value: confluent(7, avroType(ORDER_V1).toBuffer(order)) }, { offset: 1, value: bad }, { offset: 2, value: '{"plain":1}' },
    ]));
    expect([r.forwarded, r.deadLettered]).toEqual([1, 2]);
    const doc = JSON.parse(sent[0]) as Record<string, unknown>;
    expect(doc).toMatchObject({ customer: { name: 'Zoë "Z"\n', tier: 'SILVER' }, note: 'hi', price: -1.23, _kafka_offset: 0 });
    expect(sent[0]).toContain(`"id":${2n ** 62n + 7n}`);
    const letters = bucket.deadLetters('forwarder-dead-letters/');
    expect(letters.map((l) => Buffer.from(String(l.value), 'base64'))).toEqual([bad, Buffer.from('{"plain":1}')]);
    expect(letters.map((l) => l.reason)).toEqual([expect.stringMatching(/does not decode with its Avro schema/), expect.stringMatching(/not framed for the schema registry: first byte 0x7b/)]);
  });

  it('a registry that does not answer fails the batch before anything is sent', async () => {
    const cfg = loadForwarderConfig({ STREAM_NAME: 'orders-stream', ERROR_BUCKET: 'errors', SCHEMA_REGISTRY: 'https://registry.example.com' });
    const fetcher = new MapFetcher(schemas);
    fetcher.down = true;
    useDecoderFor(cfg.registry!, new RegistryDecoder(cfg.registry!, fetcher));
    const { client, sent } = kinesis();
    const bucket = new MemoryBucket();
    await expect(forwardBatch(cfg, client, bucket as unknown as S3Client, kafkaEvent([{ offset: 0, value: confluent(7, avroType(ORDER_V1).toBuffer(order)) }]))).rejects.toThrow(RegistryUnavailableError);
    expect(sent).toEqual([]);
    expect(bucket.keys('forwarder-dead-letters/')).toEqual([]);
  });
});
