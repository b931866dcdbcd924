/**
 * Every format × compression through the real handler into versitygw, read back by independent readers
 * (pyarrow, fastavro, Python csv/json), comparing every record and the column types.
 */
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { expect, it } from 'vitest';
import { CompressionsByFormat, Formats, type Format } from '../../lambdas/shared/constants.ts';
import { createSinkHandler } from '../../lambdas/sink/app.ts';
import { readObject } from '../support/readers.ts';
import { describeS3 } from '../support/s3-context.ts';
import { createBucket, s3ClientFor } from '../support/versitygw.ts';
import { INT64_MAX, sampleEvent, sampleRecords } from './fixtures.ts';

const context = { functionName: 'sink', awsRequestId: 'req-1' } as never;

type Row = Record<string, unknown>;

function expectedValue(i: number): Row {
  const rec = sampleRecords(i + 1)[i];
  return JSON.parse(rec.value as string, (_k, v, ctx?: { source?: string }) =>
    typeof v === 'number' && !Number.isSafeInteger(v) && ctx?.source && /^-?\d+$/.test(ctx.source) ? BigInt(ctx.source) : v) as Row;
}

describeS3('formats round-trip through versitygw and independent readers', (s3) => {
  const client = s3ClientFor(s3);
  const cases = Formats.flatMap((format) => (CompressionsByFormat[format] as readonly string[]).map((compression) => [format, compression] as const));

  it.each(cases)('%s + %s', async (format: Format, compression: string) => {
    // Prepare
    const bucket = `fmt-${format.replaceAll('_', '-')}-${compression}`;
    await createBucket(s3, bucket);
    const raw = format === 'text' || format === 'bytes';
    const env = {
      BUCKET_NAME: bucket, FORMAT: format, COMPRESSION: compression, S3_ENDPOINT: s3.endpoint,
      VALUE_ENCODING: raw ? 'text' : 'json',
      // JSON text never holds a raw NUL, so NUL separates the bytes format's values unambiguously.
      ...(format === 'bytes' ? { BYTES_SEPARATOR: '\\0' } : {}),
      MAX_RECORDS_PER_OBJECT: '1000',
    };
    const handler = createSinkHandler({ env, s3: client });
    const event = sampleEvent(25);

    // Act
    const result = await handler(event, context);

    // Assess
    // text holds one value per line: the 4 pretty-printed values are dead-lettered, the rest written.
    const expectedDead = format === 'text' ? 4 : 0;
    expect(result.recordsIn).toBe(30);
    expect(result.deadLettered).toBe(expectedDead);
    expect(result.written + result.deadLettered).toBe(30);
    const keys = result.keys.filter((k) => k.startsWith('topics/orders/'));
    expect(keys).toEqual([`topics/orders/dt=2026-01-01/hour=00/orders+0+00000000000000000000.${handler.config.format === 'csv_with_headers' ? 'csv' : ''}`.replace(/\.$/, '') + extSuffix(format, compression)].map((k) => k.replace('.csv.csv', '.csv')));
    const rowFormat = raw || format.startsWith('csv') || format === 'jsonl';
    const doc = (await readObject(s3, bucket, keys[0], format, rowFormat ? compression : undefined, format === 'bytes' ? '\\0' : undefined)) as { rows: unknown[]; schema?: unknown };
    const indexes = [...Array(25).keys()].filter((i) => !(format === 'text' && i % 10 === 3));
    expect(doc.rows).toHaveLength(indexes.length + (format === 'csv_with_headers' ? 1 : 0));
    checkRows(format, doc, indexes);

    // The same event handled twice leaves byte-identical objects (the second time, its records are already written).
    const before = await bodyOf(client, bucket, keys[0]);
    await handler(event, context);
    expect(Buffer.compare(await bodyOf(client, bucket, keys[0]), before)).toBe(0);
    const listed = await client.send(new ListObjectsV2Command({ Bucket: bucket }));
    // Besides the data and dead letters, one checkpoint per partition (README, "Delivery guarantees").
    const landed = (listed.Contents ?? []).filter((o) => !o.Key!.startsWith('checkpoints/'));
    expect(landed.length).toBe(result.objects + result.deadLetterObjects);
  });
});

function extSuffix(format: Format, compression: string): string {
  const base = { jsonl: '.jsonl', csv: '.csv', csv_with_headers: '.csv', text: '.txt', bytes: '.bin', avro: '.avro', parquet: '.parquet' }[format];
  if (format === 'avro' || format === 'parquet') return base;
  return base + (compression === 'gzip' ? '.gz' : compression === 'zstd' ? '.zst' : '');
}

async function bodyOf(client: ReturnType<typeof s3ClientFor>, bucket: string, key: string): Promise<Buffer> {
  const r = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await r.Body!.transformToByteArray());
}

const iso = (i: number) => new Date(1_767_225_600_000 + i * 1_000).toISOString();
const keyOf = (i: number) => (i % 5 === 4 ? null : `cust-${i % 7}`);
const headersOf = (i: number) => (i % 2 === 0 ? [{ key: 'trace', value: `t-${i}` }, { key: 'trace', value: 'second' }, { key: 'source', value: 'test' }] : []);

function checkRows(format: Format, doc: { rows: unknown[]; schema?: unknown }, indexes: number[]): void {
  indexes.forEach((i, n) => {
    const row = doc.rows[n];
    const value = expectedValue(i);
    switch (format) {
      case 'jsonl':
        expect(row).toEqual({ key: keyOf(i), value, headers: headersOf(i), topic: 'orders', partition: 0, offset: i, timestamp: iso(i) });
        break;
      case 'text':
        expect(row).toBe(sampleRecords(i + 1)[i].value);
        break;
      case 'bytes':
        expect(Buffer.from(row as string, 'base64').toString()).toBe(sampleRecords(i + 1)[i].value);
        break;
      case 'csv':
      case 'csv_with_headers': {
        const header = (doc.rows as string[][])[0];
        const cells = format === 'csv' ? (row as string[]) : (doc.rows as string[][])[n + 1];
        if (format === 'csv_with_headers') {
          expect(header).toEqual(['order_id', 'customer_id', 'status', 'amount', 'currency', 'items', 'created_at', 'express', 'note', 'big',
            '_kafka_key', '_kafka_headers', '_kafka_topic', '_kafka_partition', '_kafka_offset', '_kafka_timestamp']);
        }
        expect(cells[0]).toBe(value.order_id);
        expect(cells[8]).toBe(value.note);
        expect(cells[9]).toBe(value.big === undefined ? '' : String(value.big));
        expect(cells[10]).toBe(keyOf(i) ?? '');
        expect(JSON.parse(cells[11])).toEqual(headersOf(i));
        expect(cells.slice(12)).toEqual(['orders', '0', String(i), iso(i)]);
        break;
      }
      case 'avro':
      case 'parquet': {
        const r = row as Row;
        const tsText = String(r._kafka_timestamp);
        expect(new Date(tsText).toISOString()).toBe(iso(i));
        expect(tsText).toMatch(/\+00:00$/);
        const { _kafka_timestamp: _t, ...rest } = r;
        expect(rest).toEqual({
          ...value, big: value.big ?? null,
          _kafka_key: keyOf(i), _kafka_headers: JSON.stringify(headersOf(i)), _kafka_topic: 'orders', _kafka_partition: 0, _kafka_offset: i,
        });
        break;
      }
    }
  });
  if (format === 'parquet') {
    const types = Object.fromEntries((doc.schema as { name: string; type: string }[]).map((c) => [c.name, c.type]));
    expect(types).toEqual({
      order_id: 'string', customer_id: 'int64', status: 'string', amount: 'double', currency: 'string', items: 'int64',
      created_at: 'string', express: 'bool', note: 'string', big: 'int64', _kafka_key: 'string', _kafka_headers: 'string',
      _kafka_topic: 'string', _kafka_partition: 'int32', _kafka_offset: 'int64', _kafka_timestamp: 'timestamp[ms, tz=UTC]',
    });
  }
  if (format === 'avro') {
    const fields = (doc.schema as { fields: { name: string; type: unknown }[] }).fields;
    const types = Object.fromEntries(fields.map((f) => [f.name, f.type]));
    expect(types.big).toEqual(['null', 'long']);
    expect(types.amount).toEqual(['null', 'double']);
    expect(types.express).toEqual(['null', 'boolean']);
    expect(types._kafka_offset).toBe('long');
    expect(types._kafka_timestamp).toEqual({ type: 'long', logicalType: 'timestamp-millis' });
  }
  // The largest int64 survives exactly through both readers.
  if (format === 'avro' || format === 'parquet') expect((doc.rows[0] as Row).big).toBe(INT64_MAX);
}
