/**
 * Every data object says how it was written (S3 user metadata), so a reader — the replay of issue 15 — needs no
 * configuration: format, compression, fields, encodings, the jsonl envelope, the bytes separator, the timestamp type.
 */
import { describe, expect, it } from 'vitest';
import { loadSinkConfig } from '../../../lambdas/shared/config.ts';
import { SinkPipeline } from '../../../lambdas/shared/pipeline.ts';
import { kafkaEvent } from '../../support/events.ts';
import { MemoryBucket } from '../../support/memory-bucket.ts';

async function metadataOf(env: Record<string, string>, timestampTypes: string[] = ['CREATE_TIME', 'CREATE_TIME']) {
  const bucket = new MemoryBucket();
  const pipeline = new SinkPipeline(loadSinkConfig({ BUCKET_NAME: 'bkt', ...env }), bucket as never);
  const event = kafkaEvent(timestampTypes.map((_, offset) => ({ offset, value: '{"a":1}' }))) as { records: Record<string, { timestampType: string }[]> };
  for (const list of Object.values(event.records)) list.forEach((r, i) => { r.timestampType = timestampTypes[i]; });
  await pipeline.handle(event);
  const [key] = bucket.keys('topics/');
  return bucket.metadata.get(key)!;
}

describe('object metadata: how the object was written', () => {
  it('jsonl: format, compression, fields, encodings, envelope, timestamp type', async () => {
    expect(await metadataOf({ FORMAT: 'jsonl', KEY_ENCODING: 'base64' })).toMatchObject({
      'kafka-s3-format': 'jsonl', 'kafka-s3-compression': 'gzip', 'kafka-s3-fields': 'key,value,headers,topic,partition,offset,timestamp',
      'kafka-s3-encodings': 'key=base64,value=json,headers=text', 'kafka-s3-envelope': 'true', 'kafka-timestamp-type': 'CREATE_TIME',
      'kafka-record-count': '2',
    });
  });

  it('bytes: the separator in hex; a timestamp type that changed between records is "mixed", an unknown one "unknown"', async () => {
    const meta = await metadataOf({ FORMAT: 'bytes', VALUE_ENCODING: 'text', BYTES_SEPARATOR: '\\x1e' }, ['CREATE_TIME', 'LOG_APPEND_TIME']);
    expect(meta).toMatchObject({ 'kafka-s3-format': 'bytes', 'kafka-s3-fields': 'value', 'kafka-s3-separator': '1e', 'kafka-timestamp-type': 'mixed' });
    expect(meta['kafka-s3-envelope']).toBeUndefined();
    expect((await metadataOf({ FORMAT: 'parquet' }, ['CRÉATION\r\nX: y']))['kafka-timestamp-type']).toBe('unknown');
  });
});
