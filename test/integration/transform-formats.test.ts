/**
 * TRANSFORM_SQL through the whole pipeline to a real S3 server (versitygw), read back by independent readers
 * (pyarrow, fastavro, Python's csv and json): the statement's result types are the files' columns, in every format,
 * with the value's columns inferred or given by AVRO_SCHEMA.
 */
import { afterAll, expect, it } from 'vitest';
import { loadSinkConfig } from '../../lambdas/shared/config.ts';
import { SinkPipeline } from '../../lambdas/shared/pipeline.ts';
import { benchOrder } from '../../bench/orders.ts';
import { kafkaEvent } from '../support/events.ts';
import { readObject } from '../support/readers.ts';
import { describeS3 } from '../support/s3-context.ts';
import { createBucket, s3ClientFor } from '../support/versitygw.ts';

const SQL = `SELECT order_id, CAST(amount AS DECIMAL(12,2)) AS amount, CAST(created_at AS TIMESTAMPTZ) AS created_at,
  CAST(created_at AS DATE) AS day, {'city': shipping.city, 'zip': shipping.zip} AS ship, list_transform(lines, l -> l.sku) AS skus,
  customer_id, express, items * 1.5 AS weight, _kafka_key AS customer_key
  FROM input WHERE status <> 'created'`;

/** The order events' value schema, for the "schema given" case (nested fields are JSON columns there). */
const SCHEMA = JSON.stringify({
  type: 'record', name: 'Order', fields: [
    { name: 'order_id', type: 'string' }, { name: 'customer_id', type: 'long' }, { name: 'status', type: 'string' }, { name: 'amount', type: 'double' },
    { name: 'created_at', type: 'string' }, { name: 'express', type: 'boolean' }, { name: 'items', type: 'int' },
  ],
});
/** Fields the schema does not name (nested ones: AVRO_SCHEMA holds none) are read from the whole value. */
const SCHEMA_SQL = "SELECT order_id, CAST(amount AS DECIMAL(12,2)) AS amount, _kafka_value->>'$.shipping.city' AS city, json_array_length(_kafka_value->'$.lines') AS n_lines FROM input WHERE status <> 'created'";

type Doc = { rows: Record<string, unknown>[]; schema: unknown };

describeS3('TRANSFORM_SQL output read back by pyarrow, fastavro and Python csv/json', (s3) => {
  const client = s3ClientFor(s3);
  const pipelines: SinkPipeline[] = [];
  afterAll(async () => {
    for (const p of pipelines) await p.close();
  });

  async function write(format: string, compression: string, env: Record<string, string> = {}): Promise<{ bucket: string; key: string }> {
    const bucket = `sql-${format.replaceAll('_', '-')}-${Object.keys(env).length}`;
    await createBucket(s3, bucket);
    const cfg = loadSinkConfig({ BUCKET_NAME: bucket, FORMAT: format, COMPRESSION: compression, S3_ENDPOINT: s3.endpoint, FIELDS: 'value,offset', TRANSFORM_SQL: SQL, ...env });
    const pipeline = new SinkPipeline(cfg, client);
    pipelines.push(pipeline);
    const r = await pipeline.handle(kafkaEvent(Array.from({ length: 8 }, (_, i) => ({ offset: i, key: `cust-${i}`, value: JSON.stringify(benchOrder(i)) }))));
    expect(r).toMatchObject({ recordsIn: 8, written: 6, filtered: 2, deadLettered: 0 });
    const keys = r.keys.filter((k) => k.startsWith('topics/'));
    expect(keys).toHaveLength(1);
    return { bucket, key: keys[0] };
  }

  const first = { order_id: 'ord-000000001', customer_key: 'cust-1', ship: { city: 'Lyon', zip: '10001' }, skus: ['SKU-1'], express: false, _kafka_offset: 1 };

  it('parquet: DECIMAL, TIMESTAMP with time zone, DATE, struct and list as pyarrow reads them', async () => {
    const { bucket, key } = await write('parquet', 'zstd');
    const doc = (await readObject(s3, bucket, key, 'parquet')) as Doc;
    const types = Object.fromEntries((doc.schema as { name: string; type: string }[]).map((f) => [f.name, f.type]));
    expect(types).toEqual({
      order_id: 'string', amount: 'decimal128(12, 2)', created_at: 'timestamp[us, tz=UTC]', day: 'date32[day]',
      ship: 'struct<city: string, zip: string>', skus: 'list<element: string>', customer_id: 'int64', express: 'bool',
      weight: 'decimal128(21, 1)', customer_key: 'string', _kafka_offset: 'int64',
    });
    expect(doc.rows[0]).toMatchObject({ ...first, amount: '1.36', created_at: '2026-01-01T00:00:01.000000+00:00', day: '2026-01-01', weight: '3.0' });
  });

  it('avro: the same types as Avro logical types, read by fastavro', async () => {
    const { bucket, key } = await write('avro', 'deflate');
    const doc = (await readObject(s3, bucket, key, 'avro')) as Doc;
    const fields = (doc.schema as { fields: { name: string; type: unknown }[] }).fields;
    const typeOf = (n: string) => JSON.stringify(fields.find((f) => f.name === n)!.type);
    expect(typeOf('amount')).toContain('"logicalType":"decimal","precision":12,"scale":2');
    expect(typeOf('created_at')).toContain('"logicalType":"timestamp-micros"');
    expect(typeOf('day')).toContain('"logicalType":"date"');
    expect(typeOf('ship')).toContain('"type":"record"');
    expect(doc.rows[0]).toMatchObject({ ...first, amount: '1.36', day: '2026-01-01' });
    expect(doc.rows.map((r) => r._kafka_offset)).toEqual([1, 2, 3, 5, 6, 7]);
  });

  it('csv_with_headers and jsonl: the result columns by name, nested values as JSON', async () => {
    const csv = await write('csv_with_headers', 'none');
    const { rows } = (await readObject(s3, csv.bucket, csv.key, 'csv_with_headers', 'none')) as { rows: string[][] };
    expect(rows[0]).toEqual(['order_id', 'amount', 'created_at', 'day', 'ship', 'skus', 'customer_id', 'express', 'weight', 'customer_key', '_kafka_offset']);
    expect(rows[1].slice(0, 6)).toEqual(['ord-000000001', '1.36', '2026-01-01T00:00:01.000000Z', '2026-01-01', '{"city":"Lyon","zip":"10001"}', '["SKU-1"]']);
    const jsonl = await write('jsonl', 'gzip');
    const doc = (await readObject(s3, jsonl.bucket, jsonl.key, 'jsonl', 'gzip')) as { rows: Record<string, unknown>[] };
    expect(doc.rows[0]).toMatchObject({ value: { order_id: 'ord-000000001', amount: 1.36, day: '2026-01-01', ship: { city: 'Lyon', zip: '10001' }, skus: ['SKU-1'] }, offset: 1 });
  });

  it('schema given (AVRO_SCHEMA): the statement reads its typed columns, and nested fields from _kafka_value', async () => {
    const { bucket, key } = await write('parquet', 'snappy', { AVRO_SCHEMA: SCHEMA, TRANSFORM_SQL: SCHEMA_SQL });
    const doc = (await readObject(s3, bucket, key, 'parquet')) as Doc;
    const types = Object.fromEntries((doc.schema as { name: string; type: string }[]).map((f) => [f.name, f.type]));
    expect(types).toEqual({ order_id: 'string', amount: 'decimal128(12, 2)', city: 'string', n_lines: 'uint64', _kafka_offset: 'int64' });
    expect(doc.rows[0]).toMatchObject({ order_id: 'ord-000000001', amount: '1.36', city: 'Lyon', n_lines: 1 });
  });
});
