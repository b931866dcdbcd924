/**
 * Large objects go through multipart upload and, when a part fails, the upload is aborted (nothing left open).
 * Bad records land in the dead-letter prefix with their reason, and every record is accounted for.
 */
import { GetObjectCommand, ListMultipartUploadsCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { expect, it } from 'vitest';
import { UploadError } from '../../lambdas/shared/errors.ts';
import { createSinkHandler } from '../../lambdas/sink/app.ts';
import { kafkaEvent } from '../support/events.ts';
import { readObject } from '../support/readers.ts';
import { describeS3 } from '../support/s3-context.ts';
import { createBucket, s3ClientFor } from '../support/versitygw.ts';

const context = { functionName: 'sink', awsRequestId: 'req-1' } as never;
const MiB = 1024 * 1024;

function bigEvent(records: number, valueBytes: number) {
  return kafkaEvent(Array.from({ length: records }, (_, i) => ({
    offset: i, key: `k${i}`, value: JSON.stringify({ i, pad: 'x'.repeat(valueBytes) }),
  })));
}

describeS3('multipart upload', (s3) => {
  it('writes an object above the threshold with multipart upload and it reads back whole', async () => {
    // Prepare
    const bucket = 'multipart-ok';
    await createBucket(s3, bucket);
    const env = { BUCKET_NAME: bucket, S3_ENDPOINT: s3.endpoint, COMPRESSION: 'none', MULTIPART_THRESHOLD_BYTES: String(5 * MiB), PART_SIZE_BYTES: String(5 * MiB) };
    const handler = createSinkHandler({ env, s3: s3ClientFor(s3) });

    // Act
    const result = await handler(bigEvent(700, 10_000), context);

    // Assess
    expect(result.objects).toBe(1);
    expect(result.multipartObjects).toBe(1);
    expect(result.bytes).toBeGreaterThan(5 * MiB);
    const doc = (await readObject(s3, bucket, result.keys[0], 'jsonl', 'none')) as { rows: { offset: number; value: { i: number } }[] };
    expect(doc.rows.map((r) => r.offset)).toEqual([...Array(700).keys()]);
    expect(doc.rows[699].value.i).toBe(699);
  });

  it('aborts the multipart upload when a part fails, leaving no upload open, and throws for a batch retry', async () => {
    // Prepare
    const bucket = 'multipart-abort';
    await createBucket(s3, bucket);
    const client = s3ClientFor(s3);
    let injected = 0;
    client.middlewareStack.add(
      (next, ctx) => async (args) => {
        const input = args.input as { PartNumber?: number };
        if (ctx.commandName === 'UploadPartCommand' && input.PartNumber === 2) {
          injected++;
          throw new Error('injected failure of part 2');
        }
        return next(args);
      },
      { step: 'initialize', name: 'failPart2' },
    );
    const env = { BUCKET_NAME: bucket, S3_ENDPOINT: s3.endpoint, COMPRESSION: 'none', MULTIPART_THRESHOLD_BYTES: String(5 * MiB), PART_SIZE_BYTES: String(5 * MiB) };
    const handler = createSinkHandler({ env, s3: client });

    // Act
    const outcome = handler(bigEvent(700, 10_000), context);

    // Assess
    await expect(outcome).rejects.toBeInstanceOf(UploadError);
    expect(injected).toBe(1);
    const open = await s3ClientFor(s3).send(new ListMultipartUploadsCommand({ Bucket: bucket }));
    expect(open.Uploads ?? []).toEqual([]);
    const listed = await s3ClientFor(s3).send(new ListObjectsV2Command({ Bucket: bucket }));
    // Only the partition's checkpoint, its claim released for the retry.
    expect((listed.Contents ?? []).map((o) => o.Key)).toEqual(['checkpoints/orders/0.json']);
  });
});

describeS3('dead letters', (s3) => {
  it('sets aside each kind of bad record with its reason and accounts for every record', async () => {
    // Prepare
    const bucket = 'dead-letters';
    await createBucket(s3, bucket);
    const schema = JSON.stringify({
      type: 'record', name: 'Order', fields: [
        { name: 'id', type: 'long' },
        { name: 'amount', type: 'double' },
        { name: 'at', type: { type: 'long', logicalType: 'timestamp-millis' } },
      ],
    });
    const env = {
      BUCKET_NAME: bucket, S3_ENDPOINT: s3.endpoint, FORMAT: 'parquet', AVRO_SCHEMA: schema, TOMBSTONES: 'deadletter',
      FILTER_REGEX: 'keep', MAX_OBJECT_BYTES: '2048',
    };
    const handler = createSinkHandler({ env, s3: s3ClientFor(s3) });
    const good = (i: number) => JSON.stringify({ id: i, amount: i / 2, at: '2026-01-01T00:00:00Z', tag: 'keep' });
    const event = kafkaEvent([
      { offset: 0, value: good(0) },
      { offset: 1, value: '{"id": 1, "amount": "ten", "at": 0, "tag": "keep"}' }, // fits no schema
      { offset: 2, value: '{"id": 2, "tag": "keep", ' }, // not JSON
      { offset: 3, value: Buffer.from([0xff, 0xfe, 0x6b, 0x65, 0x65, 0x70]) }, // not UTF-8
      { offset: 4, value: null, key: 'gone' }, // tombstone
      { offset: 5, value: JSON.stringify({ id: 5, amount: 1, at: 0, tag: 'keep', pad: 'x'.repeat(3000) }) }, // over MAX_OBJECT_BYTES
      { offset: 6, value: '{"id": 6, "tag": "drop"}' }, // filtered out
      { offset: 7, value: '["keep"]' }, // not an object
      { offset: 8, value: good(8), headers: [['bad', Buffer.from([0xc3])]] }, // header not UTF-8
      { offset: 9, value: good(9) },
    ]);

    // Act
    const result = await handler(event, context);

    // Assess
    expect(result).toMatchObject({ recordsIn: 10, written: 2, filtered: 1, tombstonesIgnored: 0, deadLettered: 7 });
    expect(result.written + result.filtered + result.tombstonesIgnored + result.deadLettered).toBe(result.recordsIn);
    const dlqKey = 'dead-letters/orders/partition=0/orders+0+00000000000000000000.jsonl'; // keyed by the claim's start
    expect(result.keys).toContain(dlqKey);
    const doc = (await readObject(s3, bucket, dlqKey, 'jsonl', 'none')) as { rows: Record<string, unknown>[] };
    const byOffset = Object.fromEntries(doc.rows.map((r) => [r.offset as string, r]));
    expect(Object.keys(byOffset)).toEqual(['1', '2', '3', '4', '5', '7', '8']);
    expect(byOffset['1']).toMatchObject({ stage: 'schema', reason: 'field "amount": expected double, got "ten"' });
    expect(byOffset['2']).toMatchObject({ stage: 'convert' });
    expect(byOffset['2'].reason).toMatch(/^value is not valid JSON/);
    expect(byOffset['3']).toMatchObject({ stage: 'convert', reason: 'value is not valid UTF-8 (use base64 encoding for binary data)' });
    expect(byOffset['4']).toMatchObject({ stage: 'filter', key: Buffer.from('gone').toString('base64'), value: null });
    expect(byOffset['5']).toMatchObject({ stage: 'limit' });
    expect(byOffset['7'].reason).toMatch(/^value is not a JSON object/);
    expect(byOffset['8']).toMatchObject({ stage: 'convert', reason: 'header "bad" is not valid UTF-8 (use base64 encoding for binary data)' });
    // The raw value is kept byte for byte.
    expect(Buffer.from(byOffset['3'].value as string, 'base64')).toEqual(Buffer.from([0xff, 0xfe, 0x6b, 0x65, 0x65, 0x70]));
    expect(byOffset['8'].headers).toEqual([{ key: 'bad', value: Buffer.from([0xc3]).toString('base64') }]);
    const data = (await readObject(s3, bucket, result.keys.find((k) => k.endsWith('.parquet'))!, 'parquet')) as { rows: Record<string, unknown>[] };
    expect(data.rows.map((r) => r._kafka_offset)).toEqual([0, 9]);
    const listed = await s3ClientFor(s3).send(new ListObjectsV2Command({ Bucket: bucket }));
    expect(listed.KeyCount).toBe(3); // the data object, the dead letters and the partition's checkpoint
    const obj = await s3ClientFor(s3).send(new GetObjectCommand({ Bucket: bucket, Key: dlqKey }));
    expect(obj.ContentType).toBe('application/x-ndjson');
  });
});
