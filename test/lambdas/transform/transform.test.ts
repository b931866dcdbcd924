/**
 * TRANSFORM_SQL with the real engine (DuckDB): what a statement may be, what rows it writes, and that a record's
 * content can cost a dead letter but never the batch.
 */
import { parquetReadObjects } from 'hyparquet';
import { afterAll, describe, expect, it } from 'vitest';
import { loadSinkConfig } from '../../../lambdas/shared/config.ts';
import { ConfigError } from '../../../lambdas/shared/errors.ts';
import { SinkPipeline } from '../../../lambdas/shared/pipeline.ts';
import { SqlEngine } from '../../../lambdas/shared/transform/engine.ts';
import { SqlTransform } from '../../../lambdas/shared/transform/index.ts';
import { createSinkHandler } from '../../../lambdas/sink/app.ts';
import { kafkaEvent, orderValue, type RecordSpec } from '../../support/events.ts';
import { MemoryBucket } from '../../support/memory-bucket.ts';

const pipelines: SinkPipeline[] = [];
afterAll(async () => {
  for (const p of pipelines) await p.close();
});

function sink(env: Record<string, string>) {
  const bucket = new MemoryBucket();
  const pipeline = new SinkPipeline(loadSinkConfig({ BUCKET_NAME: 'bkt', COMPRESSION: 'none', ...env }), bucket as never);
  pipelines.push(pipeline);
  const lines = () => bucket.text('topics/').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
  return { bucket, pipeline, lines };
}

const orders = (n: number, patch: (i: number) => Record<string, unknown> = () => ({})): RecordSpec[] =>
  Array.from({ length: n }, (_, i) => ({ offset: i, partition: i % 2, key: `k${i}`, value: JSON.stringify({ ...orderValue(i), ...patch(i) }), headers: [['trace', `t${i}`]] }));

async function problemsOf(sql: string, env: Record<string, string> = {}): Promise<string[]> {
  const cfg = loadSinkConfig({ BUCKET_NAME: 'bkt', TRANSFORM_SQL: sql, ...env });
  try {
    (await SqlTransform.open({ ...cfg.transform!, valueEncoding: cfg.valueEncoding, keyEncoding: cfg.keyEncoding, headerEncoding: cfg.headerEncoding, schema: cfg.schema })).close();
    return [];
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return [...err.problems];
  }
}

describe('the statement: one stateless SELECT from input, checked on the engine\'s parse tree', () => {
  it.each([
    ['SELEC 1', /does not parse at character 1: .*syntax error/],
    ['SELECT 1 FROM input; SELECT 2 FROM input', /exactly one SELECT statement \(found 2\)/],
    ['SELECT a FROM input UNION ALL SELECT a FROM input', /not UNION.*set operation/],
    ['SELECT status, count(*) FROM input GROUP BY status', /GROUP BY is supported only by the record, with _kafka_topic, _kafka_partition, _kafka_offset among its keys/],
    ['SELECT order_id FROM input GROUP BY _kafka_offset, order_id', /GROUP BY is supported only by the record/],
    ['SELECT order_id FROM input HAVING true', /HAVING is supported only with GROUP BY the record/],
    ['SELECT sum(amount) FROM input', /aggregate sum\(\) is not supported.*Flink/],
    ['SELECT row_number() OVER () FROM input', /window function row_number\(\)/],
    ['SELECT * FROM input JOIN other ON true', /joins are not supported/],
    ['SELECT * FROM other', /reads table "other"/],
    ["SELECT * FROM read_csv('/etc/passwd')", /table function read_csv\(\)/],
    ['SELECT (SELECT 1) AS x FROM input', /subqueries are not supported/],
    ['SELECT * FROM input ORDER BY amount', /ORDER BY is not supported/],
    ['SELECT * FROM input LIMIT 5', /LIMIT and OFFSET are not supported/],
    ['SELECT DISTINCT status FROM input', /DISTINCT is not supported/],
    ['WITH t AS (SELECT 1) SELECT * FROM input', /WITH/],
    ["SELECT nextval('s') FROM input", /nextval\(\) keeps state across batches/],
    ['SELECT _kafka_row FROM input', /_kafka_row is reserved/],
    ['SELECT _kafka_partiton FROM input', /no metadata column _kafka_partiton \(there are _kafka_topic/],
    ['SELECT 1', /must read FROM input/],
    ["SELECT COLUMNS('.*') FROM input", /COLUMNS\(…\) is not supported/],
    ["SELECT a FROM input WHERE COLUMNS('_kafka_r.w') = 0", /COLUMNS\(…\) is not supported/],
    ['SELECT typo_fn(code) FROM input', /no function typo_fn\(\) in DuckDB/],
    ["SELECT read_text('/etc/passwd') AS t FROM input", /read_text\(\) is a table function/],
    ['SELECT pg_get_viewdef(1) AS v FROM input', /pg_get_viewdef\(\) is not supported: it reads the catalog/],
    ['SELECT geometric_mean(amount) AS g FROM input', /geometric_mean\(\) is not supported: it calls geomean\(\): it aggregates rows \(avg\)/],
    ['SELECT sleep_ms(items) AS s FROM input', /sleep_ms\(\) is not supported: it makes the function wait/],
    ['SELECT x FROM input, unnest(b) AS u(x) USING SAMPLE 1 ROWS', /USING SAMPLE is not supported/],
    ['SELECT * RENAME (_kafka_row AS pos) FROM input', /_kafka_row is reserved/],
    ["SELECT current_setting('memory_limit') AS m FROM input", /current_setting\(\) is not supported: it reads the engine/],
    ['SELECT $1 AS p FROM input', /parameters \(\$1, \?\) are not supported/],
    ['SELECT input AS r FROM input', /selects the table input as one value/],
  ])('%s is refused with its reason', async (sql, reason) => {
    const problems = await problemsOf(sql);
    expect(problems.join('\n')).toMatch(reason);
    expect(problems.every((p) => p.startsWith('TRANSFORM_SQL: '))).toBe(true);
  });

  it.each([
    "SELECT order_id, CAST(amount AS DECIMAL(12,2)) AS amount, CASE WHEN express THEN 'x' ELSE 'std' END AS lane FROM input WHERE status <> 'created'",
    "SELECT i.order_id, upper(i.status) AS s, list_transform([1,2], x -> x + i.items) AS l FROM input AS i",
    'SELECT order_id, u.line FROM input, unnest([1, 2]) AS u(line)',
    "SELECT _kafka_value->>'$.order_id' AS id, _kafka_offset, _kafka_timestamp, _kafka_key, _kafka_headers FROM input",
    'SELECT * EXCLUDE (currency) FROM input',
    'SELECT order_id, list_sum([items, 2]) AS s, unnest(lines) AS line FROM input',
    "SELECT main.struct_pack(a := 1) AS s, pg_catalog.lower(status) AS l FROM input",
  ])('%s is accepted', async (sql) => {
    expect(await problemsOf(sql)).toEqual([]);
  });

  it('with AVRO_SCHEMA the statement is bound to its columns: an unknown column or a type error is named', async () => {
    const schema = JSON.stringify({ type: 'record', name: 'O', fields: [{ name: 'order_id', type: 'string' }, { name: 'amount', type: 'double' }] });
    expect(await problemsOf('SELECT order_id, amount * 2 AS twice FROM input', { AVRO_SCHEMA: schema, FORMAT: 'parquet' })).toEqual([]);
    const [p] = await problemsOf('SELECT order_id, amunt FROM input', { AVRO_SCHEMA: schema, FORMAT: 'parquet' });
    expect(p).toMatch(/TRANSFORM_SQL: Binder Error: Referenced column "amunt" not found.*input columns: order_id, amount/s);
  });

  it('a text value has no value columns: the statement reads _kafka_value', async () => {
    expect(await problemsOf('SELECT * FROM input', { VALUE_ENCODING: 'text' })).toEqual([
      'TRANSFORM_SQL: reads value columns (*), but with VALUE_ENCODING=text the value is not JSON: read it as _kafka_value',
    ]);
    expect(await problemsOf("SELECT upper(_kafka_value) AS line FROM input WHERE _kafka_value LIKE 'a%'", { VALUE_ENCODING: 'text' })).toEqual([]);
  });
});

describe('cold start', () => {
  it('the function\'s init opens the engine and checks the statement: a refused one fails the cold start, not each batch', async () => {
    const errors: unknown[] = [];
    const logger = { error: (m: string, x: unknown) => errors.push([m, x]), warn: () => undefined, info: () => undefined, appendKeys: () => undefined } as never;
    const bad = createSinkHandler({ env: { BUCKET_NAME: 'bkt', TRANSFORM_SQL: 'SELECT * FROM input ORDER BY 1' }, s3: new MemoryBucket() as never, logger });
    await expect(bad.ready()).rejects.toThrow(ConfigError);
    expect(errors).toEqual([['configuration rejected at cold start', { problems: ["TRANSFORM_SQL: ORDER BY is not supported: rows keep the order of their records' offsets"] }]]);
    const good = createSinkHandler({ env: { BUCKET_NAME: 'bkt', TRANSFORM_SQL: 'SELECT 1 AS one FROM input' }, s3: new MemoryBucket() as never, logger });
    await good.ready();
    await good.close();
  });
});

describe('the engine is sandboxed', () => {
  it('no files, no extensions, no configuration changes', async () => {
    const engine = await SqlEngine.open({ memoryLimitMb: 128 });
    try {
      await expect(engine.con.run("SELECT * FROM read_text('/etc/hostname')")).rejects.toThrow(/disabled by configuration|Permission Error/);
      await expect(engine.con.run("COPY (SELECT 1) TO '/tmp/kafka-s3-sql-escape.csv'")).rejects.toThrow(/disabled by configuration|Permission Error/);
      await expect(engine.con.run('INSTALL httpfs')).rejects.toThrow();
      await expect(engine.con.run('LOAD httpfs')).rejects.toThrow();
      await expect(engine.con.run('SET enable_external_access = true')).rejects.toThrow(/configuration has been locked/i);
      await expect(engine.con.run("SET memory_limit = '10GB'")).rejects.toThrow(/configuration has been locked/i);
    } finally {
      engine.close();
    }
  });
});

describe('rows: what the statement selects is what is written', () => {
  it('jsonl: projection, cast, CASE and WHERE; each row keeps its record\'s key, headers, offset and timestamp', async () => {
    const { pipeline, lines } = sink({
      TRANSFORM_SQL: "SELECT order_id, CAST(amount AS DECIMAL(12,2)) AS amount, CASE WHEN express THEN 'express' ELSE 'standard' END AS lane, _kafka_offset AS _kafka_offset FROM input WHERE status <> 'created'",
    });
    const r = await pipeline.handle(kafkaEvent(orders(8)));
    expect(r).toMatchObject({ recordsIn: 8, written: 6, filtered: 2, deadLettered: 0, transformedRows: 6 });
    const rows = lines().sort((a, b) => Number(a.offset) - Number(b.offset));
    expect(rows[0]).toEqual({
      key: 'k1', value: { order_id: 'ord-000000001', amount: Number(Number(orderValue(1).amount).toFixed(2)), lane: 'standard' },
      headers: [{ key: 'trace', value: 't1' }], topic: 'orders', partition: 1, offset: 1, timestamp: '2026-01-01T00:00:00.001Z',
    });
    // `_kafka_*` result columns are not value columns: the envelope carries the metadata.
    expect(rows.map((x) => x.offset)).toEqual([1, 2, 3, 5, 6, 7]);
  });

  it('a cast that fails for one record sets that record aside with the engine\'s message; the others are written', async () => {
    const { bucket, pipeline, lines } = sink({ TRANSFORM_SQL: 'SELECT order_id, CAST(amount AS DOUBLE) AS amount FROM input' });
    const r = await pipeline.handle(kafkaEvent(orders(40, (i) => (i === 13 || i === 30 ? { amount: `n/a-${i}` } : {}))));
    expect(r).toMatchObject({ written: 38, deadLettered: 2 });
    expect(lines().map((l) => (l.value as { order_id: string }).order_id)).not.toContain('ord-000000013');
    const letters = bucket.deadLetters();
    expect(letters.map((d) => d.offset).sort()).toEqual(['13', '30']);
    expect(String(letters[0].reason)).toMatch(/^TRANSFORM_SQL failed for this record: Conversion Error: Could not convert string 'n\/a-\d+' to DOUBLE when casting from source column amount$/);
    expect(Buffer.from(String(letters[0].value), 'base64').toString()).toContain('"amount":"n/a-');
  });

  it('parquet after a dead letter: the rows of every run of the statement keep their values (one type per shape)', async () => {
    const { bucket, pipeline } = sink({ FORMAT: 'parquet', COMPRESSION: 'none', FIELDS: 'value,offset', TRANSFORM_SQL: 'SELECT order_id, CAST(amount AS DOUBLE) AS amount FROM input' });
    const r = await pipeline.handle(kafkaEvent(orders(8, (i) => (i === 2 ? { amount: 'n/a' } : {})).map((o) => ({ ...o, partition: 0 }))));
    expect(r).toMatchObject({ written: 7, deadLettered: 1 });
    const rows: Record<string, unknown>[] = [];
    for (const key of bucket.keys('topics/')) {
      const body = bucket.objects.get(key)!;
      rows.push(...(await parquetReadObjects({ file: body.buffer.slice(body.byteOffset, body.byteOffset + body.length) as ArrayBuffer })) as Record<string, unknown>[]);
    }
    expect(rows.map((x) => [Number(x._kafka_offset), x.order_id, x.amount])).toEqual([0, 1, 3, 4, 5, 6, 7].map((i) => [i, orderValue(i).order_id, orderValue(i).amount]));
  });

  it('decimals keep their sign and digits: negative, zero, the largest of DECIMAL(38,…)', async () => {
    const { pipeline, bucket } = sink({ FIELDS: 'value', ENVELOPE: 'false', TRANSFORM_SQL: 'SELECT CAST(a AS DECIMAL(12,2)) AS d, CAST(b AS DECIMAL(38,0)) AS big FROM input' });
    const values = [[-123.45, '-99999999999999999999999999999999999999'], [-1.5, '0'], [-0.01, '99999999999999999999999999999999999999'], [0, '-1'], [2684231.11, '-128']];
    await pipeline.handle(kafkaEvent(values.map(([a, b], offset) => ({ offset, value: `{"a":${a},"b":${b}}` }))));
    expect(bucket.text('topics/').trim().split('\n')).toEqual([
      '{"d":-123.45,"big":-99999999999999999999999999999999999999}', '{"d":-1.50,"big":0}', '{"d":-0.01,"big":99999999999999999999999999999999999999}',
      '{"d":0.00,"big":-1}', '{"d":2684231.11,"big":-128}',
    ]);
  });

  it('unnest: one record, several rows, all with its offset; written counts records', async () => {
    const { pipeline, lines } = sink({ TRANSFORM_SQL: 'SELECT order_id, u.line FROM input, unnest(lines) AS u(line)' });
    const specs = [0, 1, 2].map((i) => ({ offset: i, value: JSON.stringify({ order_id: `o${i}`, lines: Array.from({ length: i }, (_, k) => ({ sku: `s${k}` })) }) }));
    const r = await pipeline.handle(kafkaEvent(specs));
    expect(r).toMatchObject({ recordsIn: 3, written: 2, filtered: 1, transformedRows: 3 });
    expect(lines().map((l) => [l.offset, l.value])).toEqual([
      [1, { order_id: 'o1', line: { sku: 's0' } }], [2, { order_id: 'o2', line: { sku: 's0' } }], [2, { order_id: 'o2', line: { sku: 's1' } }],
    ]);
  });

  it('GROUP BY the record: aggregates over the rows one record made (its unnested lines), each row at its record\'s offset', async () => {
    const { pipeline, lines } = sink({ TRANSFORM_SQL: 'SELECT order_id, sum(l.qty) AS units, count(*) AS n FROM input, unnest(lines) AS u(l) GROUP BY _kafka_topic, _kafka_partition, _kafka_offset, order_id HAVING count(*) > 1' });
    const specs = [1, 2, 3].map((n, i) => ({ offset: i, partition: i % 2, value: JSON.stringify({ order_id: `o${i}`, lines: Array.from({ length: n }, (_, k) => ({ qty: k + 1 })) }) }));
    const r = await pipeline.handle(kafkaEvent(specs));
    expect(r).toMatchObject({ recordsIn: 3, written: 2, filtered: 1, transformedRows: 2 });
    expect(lines().map((l) => [l.partition, l.offset, l.value]).sort()).toEqual([[0, 2, { order_id: 'o2', units: 6, n: 3 }], [1, 1, { order_id: 'o1', units: 3, n: 2 }]]);
  });

  it('inferred columns: a batch whose records lack a column the statement names still runs (null)', async () => {
    const { pipeline, lines } = sink({ TRANSFORM_SQL: 'SELECT id, coupon FROM input', FIELDS: 'value', ENVELOPE: 'false' });
    await pipeline.handle(kafkaEvent([{ offset: 0, value: '{"id":1}' }, { offset: 1, value: '{"id":2}' }]));
    expect(lines()).toEqual([{ id: 1, coupon: null }, { id: 2, coupon: null }]);
  });

  it('numbers stay exact: 64-bit integers, and numbers no number type holds kept as their JSON', async () => {
    const { pipeline, bucket } = sink({ TRANSFORM_SQL: 'SELECT id, big, id + 1 AS next FROM input', FIELDS: 'value', ENVELOPE: 'false' });
    await pipeline.handle(kafkaEvent([{ offset: 0, value: '{"id":9007199254740993,"big":123456789012345678901234567890}' }, { offset: 1, value: '{"id":-9223372036854775807,"big":1}' }]));
    expect(bucket.text('topics/').trim().split('\n')).toEqual(['{"id":9007199254740993,"big":123456789012345678901234567890,"next":9007199254740994}', '{"id":-9223372036854775807,"big":1,"next":-9223372036854775806}']);
  });

  it('a JSON value that is not an object, or not JSON, is a dead letter before the engine', async () => {
    const { bucket, pipeline } = sink({ TRANSFORM_SQL: 'SELECT * FROM input' });
    const r = await pipeline.handle(kafkaEvent([{ offset: 0, value: '[1]' }, { offset: 1, value: '{"a":' }, { offset: 2, value: '{"a":1,"A":2}' }, { offset: 3, value: '{"a":1}' }]));
    expect(r).toMatchObject({ written: 1, deadLettered: 3 });
    expect(bucket.deadLetters().map((d) => d.reason)).toEqual([
      'value is not a JSON object: TRANSFORM_SQL reads its fields as columns (read _kafka_value instead, or use VALUE_ENCODING=text)',
      expect.stringMatching(/^value is not accepted as JSON/),
      expect.stringMatching(/differ only in letter case/),
    ]);
  });

  it('exactly once under redelivery: a batch delivered again, and again from another cut, writes each row once', async () => {
    const { bucket, pipeline, lines } = sink({ TRANSFORM_SQL: "SELECT order_id FROM input WHERE status <> 'paid'" });
    const all = orders(30).map((s) => ({ ...s, partition: 0 }));
    await pipeline.handle(kafkaEvent(all.slice(0, 20)));
    const keys = bucket.keys('topics/');
    const again = await pipeline.handle(kafkaEvent(all.slice(0, 20)));
    expect(again).toMatchObject({ alreadyWritten: 20, written: 0 });
    await pipeline.handle(kafkaEvent(all.slice(10, 30)));
    expect(bucket.keys('topics/').slice(0, keys.length)).toEqual(keys);
    const ids = lines().map((l) => (l.value as { order_id: string }).order_id);
    expect(ids.length).toBe(new Set(ids).size);
    expect(ids.length).toBe(all.filter((_, i) => orderValue(i).status !== 'paid').length);
  });

  it('parquet and avro: the result\'s types are the columns (decimal, timestamp, struct, list)', async () => {
    for (const format of ['parquet', 'avro', 'csv_with_headers']) {
      const { bucket, pipeline } = sink({ FORMAT: format, COMPRESSION: format === 'avro' ? 'null' : 'none', TRANSFORM_SQL: "SELECT order_id, CAST(amount AS DECIMAL(12,2)) AS amount, CAST(created_at AS TIMESTAMPTZ) AS created, {'n': items} AS s, [items, items] AS l FROM input" });
      const r = await pipeline.handle(kafkaEvent(orders(5)));
      expect(r, format).toMatchObject({ written: 5, deadLettered: 0, objects: 2 });
      expect(bucket.keys('topics/').length).toBe(2);
    }
  });

  it('the key template reads the row: {{value.lane}} names the object of each row\'s lane', async () => {
    const { bucket, pipeline } = sink({
      TRANSFORM_SQL: "SELECT order_id, CASE WHEN express THEN 'express' ELSE 'standard' END AS lane FROM input",
      KEY_TEMPLATE: '{{topic}}/lane={{value.lane}}/{{topic}}+{{partition}}+{{start_offset}}',
    });
    await pipeline.handle(kafkaEvent(orders(6).map((o) => ({ ...o, partition: 0 }))));
    expect(bucket.keys('topics/')).toEqual(['topics/orders/lane=express/orders+0+00000000000000000000.jsonl', 'topics/orders/lane=standard/orders+0+00000000000000000000.jsonl']);
  });

  it('text, bytes and csv: each row as its JSON line, its bytes, or its cells', async () => {
    const sql = "SELECT order_id, upper(status) AS status FROM input WHERE status <> 'created'";
    const text = sink({ FORMAT: 'text', TRANSFORM_SQL: sql });
    await text.pipeline.handle(kafkaEvent(orders(3).map((o) => ({ ...o, partition: 0 }))));
    expect(text.bucket.text('topics/')).toBe('{"order_id":"ord-000000001","status":"PAID"}\n{"order_id":"ord-000000002","status":"SHIPPED"}\n');
    const bytes = sink({ FORMAT: 'bytes', BYTES_SEPARATOR: '\\x1e', TRANSFORM_SQL: sql });
    await bytes.pipeline.handle(kafkaEvent(orders(3).map((o) => ({ ...o, partition: 0 }))));
    expect(bytes.bucket.text('topics/').split('\x1e').filter(Boolean)).toEqual(['{"order_id":"ord-000000001","status":"PAID"}', '{"order_id":"ord-000000002","status":"SHIPPED"}']);
    const csv = sink({ FORMAT: 'csv', FIELDS: 'value,offset', TRANSFORM_SQL: sql });
    await csv.pipeline.handle(kafkaEvent(orders(3).map((o) => ({ ...o, partition: 0 }))));
    expect(csv.bucket.text('topics/')).toBe('ord-000000001,PAID,1\r\nord-000000002,SHIPPED,2\r\n');
  });

  it('binary values, keys and headers (base64 encodings): _kafka_value and _kafka_key as BLOB, header values as base64 text', async () => {
    const { pipeline, lines } = sink({
      VALUE_ENCODING: 'base64', KEY_ENCODING: 'base64', HEADER_ENCODING: 'base64', FIELDS: 'value,offset',
      TRANSFORM_SQL: 'SELECT octet_length(_kafka_value) AS n, _kafka_value[1:2] AS head, _kafka_key AS k, _kafka_headers[1].value AS h FROM input',
    });
    await pipeline.handle(kafkaEvent([{ offset: 0, value: Buffer.from([0xff, 0x00, 0x80]), key: Buffer.from([0xfe]), headers: [['t', Buffer.from([0xc3])]] }]));
    expect(lines()).toEqual([{ value: { n: 3, head: Buffer.from([0xff, 0x00]).toString('base64'), k: '/g==', h: 'ww==' }, offset: 0 }]);
  });

  it('tombstones follow TOMBSTONES, not the statement', async () => {
    const { pipeline, lines } = sink({ TRANSFORM_SQL: 'SELECT order_id FROM input', TOMBSTONES: 'write' });
    const r = await pipeline.handle(kafkaEvent([{ offset: 0, value: null, key: 'gone' }, { offset: 1, value: '{"order_id":"a"}' }]));
    expect(r).toMatchObject({ written: 2, tombstonesWritten: 1 });
    expect(lines().map((l) => l.value)).toEqual([null, { order_id: 'a' }]);
  });
});

describe('inferred columns do not depend on the batch\'s other records', () => {
  it('a field whose type differs in one record does not change the others\' rows; letter case and empty names', async () => {
    const sql = 'SELECT lower(trim(email)) AS email, CAST(amount AS DOUBLE) AS amount FROM input';
    const alone = sink({ TRANSFORM_SQL: sql, FIELDS: 'value,offset' });
    await alone.pipeline.handle(kafkaEvent([{ offset: 0, value: '{"email":" A@B.com ","amount":1}' }]));
    const mixed = sink({ TRANSFORM_SQL: sql, FIELDS: 'value,offset' });
    const r = await mixed.pipeline.handle(kafkaEvent([
      { offset: 0, value: '{"email":" A@B.com ","amount":1}' }, { offset: 1, value: '{"email":5,"amount":"2"}' },
      { offset: 2, value: '{"Email":" C@D.com ","amount":2.5}' }, { offset: 3, value: '{"":1,"email":"x"}' },
    ]));
    expect(alone.lines()).toEqual([{ value: { email: 'a@b.com', amount: 1 }, offset: 0 }]);
    const rows = mixed.lines().sort((a, b) => Number(a.offset) - Number(b.offset));
    expect(rows[0]).toEqual({ value: { email: 'a@b.com', amount: 1 }, offset: 0 });
    // "Email" is its own record's column (DuckDB's names ignore case): its value is read, not lost.
    expect(rows.find((x) => x.offset === 2)).toEqual({ value: { email: 'c@d.com', amount: 2.5 }, offset: 2 });
    expect(r.recordsIn).toBe(r.written + r.deadLettered);
    expect(mixed.bucket.deadLetters().find((d) => d.offset === '3')?.reason).toBe('value has a field with an empty name, which no column can have (read _kafka_value)');
  });

  it('objects used as maps: a nested object with very many keys is JSON, not a struct every row carries', async () => {
    const { pipeline, bucket } = sink({ TRANSFORM_SQL: 'SELECT id, prices FROM input', FIELDS: 'value', ENVELOPE: 'false' });
    const specs = Array.from({ length: 30 }, (_, i) => ({ offset: i, value: JSON.stringify({ id: i, prices: Object.fromEntries(Array.from({ length: 10 }, (_, k) => [`sku-${i}-${k}`, k])) }) }));
    specs.push({ offset: 30, value: '{"id":30,"prices":{}}' });
    await pipeline.handle(kafkaEvent(specs));
    const lines = bucket.text('topics/').trim().split('\n');
    expect(lines.at(-1)).toBe('{"id":30,"prices":{}}');
    expect(lines[0]).toBe(`{"id":0,"prices":${JSON.stringify(JSON.parse(specs[0].value as string).prices)}}`);
  });
});

describe('the statement\'s time per batch is bounded', () => {
  it('when the invocation\'s deadline nears, records not yet isolated are set aside with that reason, not the batch failed', async () => {
    const { pipeline, bucket } = sink({ TRANSFORM_SQL: 'SELECT CAST(code AS INTEGER) AS code FROM input' });
    // Every value fails the cast: isolating them runs the statement about twice per record, more than the time left.
    const specs = Array.from({ length: 3000 }, (_, i) => ({ offset: i, value: `{"code":"c${i}"}` }));
    const r = await pipeline.handle(kafkaEvent(specs), { deadlineMs: Date.now() + 60_000 + 400 });
    expect(r).toMatchObject({ recordsIn: 3000, written: 0, deadLettered: 3000 });
    const reasons = bucket.deadLetters().map((d) => String(d.reason));
    expect(reasons.some((x) => x.startsWith('TRANSFORM_SQL failed for this record: Conversion Error'))).toBe(true);
    expect(reasons.some((x) => /^TRANSFORM_SQL: the batch's time for the statement ran out \(\d+ s\) while isolating records/.test(x))).toBe(true);
  });
});

describe('inferred columns: what a second adversarial review found', () => {
  const text = (b: MemoryBucket) => b.text('topics/').trim().split('\n');

  it('any number of disagreeing groups: every record keeps its own value (no group shared by force)', async () => {
    const { pipeline, bucket } = sink({ TRANSFORM_SQL: 'SELECT id, ab FROM input', FIELDS: 'value', ENVELOPE: 'false' });
    const spellings = ['ab', 'aB', 'Ab', 'AB'];
    const specs = Array.from({ length: 40 }, (_, i) => ({ offset: i, value: JSON.stringify({ id: i, [spellings[i % 4]]: i % 3 === 0 ? `s${i}` : i % 3 === 1 ? i : i % 2 === 0, [`f${i % 7}`]: i % 5 === 0 ? 'x' : 1 }) }));
    specs.push({ offset: 40, value: '{"id":40,"ab":"hello"}' });
    const r = await pipeline.handle(kafkaEvent(specs));
    expect(r).toMatchObject({ written: 41, deadLettered: 0 });
    // An unaliased column keeps the spelling of the record's field (DuckDB's names ignore case): read it in any case.
    const byId = new Map(text(bucket).map((l) => JSON.parse(l) as Record<string, unknown>).map((x) => [x.id, Object.entries(x).find(([k]) => k.toLowerCase() === 'ab')?.[1]]));
    for (let i = 0; i < 40; i++) expect(byId.get(i), String(i)).toEqual(i % 3 === 0 ? `s${i}` : i % 3 === 1 ? i : i % 2 === 0);
    expect(byId.get(40)).toBe('hello');
  });

  it('numbers stay as written: an integer beyond 2^53 beside a decimal, long decimals, nested', async () => {
    const { pipeline, bucket } = sink({ TRANSFORM_SQL: 'SELECT a, o FROM input', FIELDS: 'value', ENVELOPE: 'false' });
    const values = [
      '{"a":9007199254740993,"o":{"x":9007199254740993}}', '{"a":1.5,"o":{"x":1.5}}', '{"a":9223372036854775807,"o":null}',
      '{"a":3.141592653589793238462643383279,"o":{"x":1.00000000000000000001}}', '{"a":100000000000000000000.5,"o":[12345678901234567890123]}',
    ];
    await pipeline.handle(kafkaEvent(values.map((value, offset) => ({ offset, value }))));
    expect(text(bucket).sort()).toEqual(values.map((v) => v.replace('"o":null', '"o":null')).sort());
  });

  it('a name that is an alias and, in some records, a field: each record as it would run alone', async () => {
    const { pipeline, bucket } = sink({ TRANSFORM_SQL: 'SELECT a AS b, b AS c FROM input', FIELDS: 'value,offset' });
    await pipeline.handle(kafkaEvent([{ offset: 0, value: '{"a":1}' }, { offset: 1, value: '{"a":2,"b":5}' }]));
    const rows = text(bucket).map((l) => JSON.parse(l) as { value: unknown; offset: number }).sort((x, y) => x.offset - y.offset);
    expect(rows.map((x) => x.value)).toEqual([{ b: 1, c: 1 }, { b: 2, c: 5 }]);
  });

  it('a NUL in a field name: that record is a dead letter (top level), or the object is JSON (nested); its neighbours are written', async () => {
    const { pipeline, bucket } = sink({ TRANSFORM_SQL: 'SELECT * FROM input', FIELDS: 'value,offset' });
    const r = await pipeline.handle(kafkaEvent([
      { offset: 0, value: '{"a\\u0000b":1,"a":2}' }, { offset: 1, value: '{"a":3}' },
      { offset: 2, value: '{"o":{"a\\u0000b":1}}' }, { offset: 3, value: '{"o":{"a":5}}' },
    ]));
    expect(r).toMatchObject({ written: 3, deadLettered: 1 });
    expect(bucket.deadLetters()[0]).toMatchObject({ offset: '0', reason: expect.stringMatching(/field name holding a NUL character/) });
  });

  it('SELECT * over records with many distinct fields: runs hold at most 1,000 columns, no record is set aside', async () => {
    const { pipeline } = sink({ TRANSFORM_SQL: 'SELECT * FROM input', FIELDS: 'value,offset' });
    const r = await pipeline.handle(kafkaEvent(Array.from({ length: 2500 }, (_, i) => ({ offset: i, value: `{"id":${i},"f${i}":1}` }))));
    expect(r).toMatchObject({ written: 2500, deadLettered: 0 });
  });
});

describe('with SCHEMA_REGISTRY: the statement reads the decoded values', () => {
  it('registry-framed Avro values are decoded, then transformed; a value the statement cannot cast is a dead letter with its framed bytes', async () => {
    const { RegistryDecoder } = await import('../../../lambdas/shared/registry/index.ts');
    const { avroType, confluent, MapFetcher, order, ORDER_V1 } = await import('../../support/schema-fetcher.ts');
    const cfg = loadSinkConfig({
      BUCKET_NAME: 'bkt', COMPRESSION: 'none', FIELDS: 'value,offset', SCHEMA_REGISTRY: 'http://127.0.0.1:1',
      TRANSFORM_SQL: "SELECT id, customer.name AS who, CAST(price AS DECIMAL(9,2)) AS price, CAST(note AS INTEGER) AS n FROM input",
    });
    const bucket = new MemoryBucket();
    const pipeline = new SinkPipeline(cfg, bucket as never);
    pipelines.push(pipeline);
    pipeline.useRegistry(new RegistryDecoder(cfg.registry!, new MapFetcher(new Map([['7', { type: 'AVRO', text: JSON.stringify(ORDER_V1), references: [] }]]))));
    const framed = (note: string | null) => confluent(7, avroType(ORDER_V1).toBuffer({ ...order, note: note === null ? null : { string: note } }));
    const r = await pipeline.handle(kafkaEvent([{ offset: 0, value: framed('12') }, { offset: 1, value: framed('twelve') }]));
    expect(r).toMatchObject({ written: 1, deadLettered: 1 });
    expect(bucket.text('topics/').trim()).toBe(`{"value":{"id":${2n ** 62n + 7n},"who":"Zoë \\"Z\\"\\n","price":-1.23,"n":12},"offset":0}`);
    const [letter] = bucket.deadLetters();
    expect(Buffer.from(String(letter.value), 'base64').equals(framed('twelve'))).toBe(true);
    expect(String(letter.reason)).toMatch(/^TRANSFORM_SQL failed for this record: Conversion Error: Could not convert string 'twelve' to INT32/);
  });
});
