/**
 * The Glue catalog derived from the sink's configuration (lib/catalog.ts): partition projection from the key
 * template, columns and SerDe per format, and every reason a catalog cannot be registered, named. What Athena would
 * read is proven against written objects in test/integration/catalog.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { catalogTables, CatalogError, projectionParameters, type CatalogTableSpec } from '../../lib/catalog.ts';
import { avroSchemaFor } from '../../lambdas/shared/encode/avro.ts';
import { buildTable } from '../../lambdas/shared/encode/table.ts';
import { loadSinkConfig } from '../../lambdas/shared/config.ts';
import { nagFindings, synth } from './synth.ts';

const SCHEMA = JSON.stringify({
  type: 'record', name: 'Order', fields: [
    { name: 'order_id', type: 'string' },
    { name: 'Amount', type: ['null', 'double'], default: null },
    { name: 'qty', type: 'long' },
    { name: 'placed', type: { type: 'long', logicalType: 'timestamp-millis' } },
    { name: 'day', type: ['null', { type: 'int', logicalType: 'date' }], default: null },
    { name: 'blob', type: ['null', 'bytes'], default: null },
  ],
});

const ROUTES = new Map([['orders', 'orders'], ['payments', 'payments']]);

function tables(env: Record<string, string>, opts: { routes?: Map<string, string>; partitionCount?: number } = {}): CatalogTableSpec[] {
  const cfg = loadSinkConfig({ BUCKET_NAME: 'lake', ...env });
  return catalogTables(cfg, { routes: opts.routes ?? ROUTES, partitionCount: opts.partitionCount, startDate: '2025-01-01' });
}

function problems(env: Record<string, string>, opts: { routes?: Map<string, string>; partitionCount?: number } = {}): readonly string[] {
  try {
    tables(env, opts);
  } catch (err) {
    expect(err).toBeInstanceOf(CatalogError);
    return (err as CatalogError).problems;
  }
  throw new Error(`catalogTables accepted ${JSON.stringify(env)}`);
}

describe('partition projection from the key template', () => {
  it('default template: a table per topic under its directory, dt as a date and hour as two digits', () => {
    // Act
    const [orders, payments] = tables({});

    // Assess
    expect([orders.name, orders.locationPrefix, orders.partitionTemplate]).toEqual(['orders', 'topics/orders/', 'topics/orders/dt=${dt}/hour=${hour}/']);
    expect(payments.locationPrefix).toBe('topics/payments/');
    expect(orders.partitionKeys.map((k) => [k.name, k.type])).toEqual([['dt', 'string'], ['hour', 'string']]);
    expect(projectionParameters(orders, 'lake')).toEqual({
      'projection.enabled': 'true',
      'storage.location.template': 's3://lake/topics/orders/dt=${dt}/hour=${hour}/',
      'projection.dt.type': 'date', 'projection.dt.format': 'yyyy-MM-dd', 'projection.dt.range': '2025-01-01,NOW+1DAYS',
      'projection.dt.interval': '1', 'projection.dt.interval.unit': 'DAYS',
      'projection.hour.type': 'integer', 'projection.hour.range': '0,23', 'projection.hour.digits': '2',
    });
  });

  it('every projectable variable: hourly dates, the topic as an enum, the partition as an integer, the key injected', () => {
    // Prepare
    const env = { KEY_TEMPLATE: 'data/kafka_topic={{topic}}/at={{timestamp:yyyy-MM-dd-HH}}/p={{partition}}/k={{key}}/{{topic}}+{{partition}}+{{start_offset}}' };

    // Act
    const [events] = tables(env, { routes: new Map([['orders', 'events'], ['payments', 'events']]), partitionCount: 12 });

    // Assess
    expect([events.name, events.topics, events.locationPrefix]).toEqual(['events', ['orders', 'payments'], 'topics/data/']);
    expect(events.partitionTemplate).toBe('topics/data/kafka_topic=${kafka_topic}/at=${at}/p=${p}/k=${k}/');
    expect(events.projection).toEqual({
      kafka_topic: { type: 'enum', values: 'orders,payments' },
      at: { type: 'date', format: 'yyyy-MM-dd-HH', range: '2025-01-01-00,NOW+1DAYS', interval: '1', 'interval.unit': 'HOURS' },
      p: { type: 'integer', range: '0,11' },
      k: { type: 'injected' },
    });
    expect(events.partitionKeys.map((k) => [k.name, k.type])).toEqual([['kafka_topic', 'string'], ['at', 'string'], ['p', 'int'], ['k', 'string']]);
  });

  it('a template without directories after the topic: a table without partitions', () => {
    const [orders] = tables({ KEY_TEMPLATE: '{{topic}}/{{topic}}+{{partition}}+{{start_offset}}' });
    expect([orders.locationPrefix, orders.partitionTemplate, orders.partitionKeys]).toEqual(['topics/orders/', undefined, []]);
    expect(projectionParameters(orders, 'lake')).toEqual({});
  });

  it('one time field alone is an integer with its digits; a year alone a date stepping by years', () => {
    const [orders] = tables({ KEY_TEMPLATE: '{{topic}}/y={{timestamp:yyyy}}/m={{timestamp:MM}}/d={{timestamp:dd}}/{{partition}}+{{start_offset}}' });
    expect(orders.projection).toEqual({
      y: { type: 'date', format: 'yyyy', range: '2025,NOW+1DAYS', interval: '1', 'interval.unit': 'YEARS' },
      m: { type: 'integer', range: '1,12', digits: '2' },
      d: { type: 'integer', range: '1,31', digits: '2' },
    });
  });

  it('says why a template cannot be projected, every reason at once', () => {
    expect(problems({ KEY_TEMPLATE: '{{topic}}/{{timestamp:yyyy}}/{{timestamp:MM}}/{{partition}}+{{start_offset}}' })).toEqual([
      'keyTemplate directory "{{timestamp:yyyy}}" is not Hive-style (name={{variable}}): partition projection and Hive readers take a partition\'s value from a directory named key=value, so no table can be registered; write it as e.g. dt={{timestamp:yyyy-MM-dd}}',
      'keyTemplate directory "{{timestamp:MM}}" is not Hive-style (name={{variable}}): partition projection and Hive readers take a partition\'s value from a directory named key=value, so no table can be registered; write it as e.g. dt={{timestamp:yyyy-MM-dd}}',
    ]);
    expect(problems({ KEY_TEMPLATE: '{{topic}}/Day={{timestamp:MM-dd}}/p={{partition}}/{{partition}}+{{start_offset}}' })).toEqual([
      'keyTemplate directory "Day=…": a partition key is lowercase letters, digits and _ (starting with a letter or _), as Glue and Athena name columns',
      'keyTemplate directory "Day={{timestamp:MM-dd}}": a projected time is a pattern from yyyy down (yyyy, yyyy-MM-dd, yyyy-MM-dd-HH, …) or one field alone (MM, dd, HH, mm, ss)',
      'keyTemplate directory "p={{partition}}" needs the topics\' partition count for its projection\'s range: set catalogPartitionCount',
    ]);
    expect(problems({ KEY_TEMPLATE: 'topic={{topic}}/{{partition}}+{{start_offset}}' })).toEqual([
      'keyTemplate directory "topic=…" has the name of a column of the records; Athena refuses a partition key named like a column: rename the directory (e.g. kafka_topic=…)',
    ]);
    expect(problems({}, { routes: new Map([['orders', 'all'], ['payments', 'all']]) })).toEqual([
      'topics orders, payments share table "all", but keyTemplate puts each topic in a directory of its own ({{topic}}/…): make the topic a partition (kafka_topic={{topic}}/…), or give each topic its own table',
    ]);
    // Found by an attack: the topic only in the file name made each topic's table read every topic.
    expect(problems({ KEY_TEMPLATE: 'dt={{timestamp:yyyy-MM-dd}}/{{topic}}+{{partition}}+{{start_offset}}' })).toEqual([
      'keyTemplate puts every topic\'s objects in the same directories ({{topic}} only in the file name), so each of the tables orders, payments would read all topics: put the topic in a directory ({{topic}}/… or kafka_topic={{topic}}/…), or route every topic to one table with catalogTables',
    ]);
    expect(tables({ KEY_TEMPLATE: 'dt={{timestamp:yyyy-MM-dd}}/{{topic}}+{{partition}}+{{start_offset}}' }, { routes: new Map([['orders', 'all'], ['payments', 'all']]) })[0].locationPrefix).toBe('topics/');
    // A prefix that is not a folder; a table without partitions over the dead letters and checkpoints.
    expect(problems({ PREFIX: 'data', KEY_TEMPLATE: '{{topic}}+{{partition}}+{{start_offset}}' }, { routes: new Map([['orders', 'all']]) })).toEqual([
      'prefix="data": the table\'s location would be "data", not a folder (Athena reads a location as a folder, ending with /): end prefix with /',
    ]);
    expect(problems({ PREFIX: '', KEY_TEMPLATE: '{{topic}}+{{partition}}+{{start_offset}}' }, { routes: new Map([['orders', 'all']]) })).toEqual([
      'errorPrefix="dead-letters/" lies under the location of table "all" (s3://…/), which has no partitions and so reads everything below it: give keyTemplate a directory, or set prefix',
      'statePrefix="checkpoints/" lies under the location of table "all" (s3://…/), which has no partitions and so reads everything below it: give keyTemplate a directory, or set prefix',
    ]);
    // A comma would split the date projection's range "from,to".
    expect(problems({ KEY_TEMPLATE: '{{topic}}/dt={{timestamp:yyyy,MM,dd}}/{{partition}}+{{start_offset}}' })).toEqual([
      'keyTemplate directory "dt=…": a comma in the time pattern would split the date projection\'s range (a comma-separated pair)',
    ]);
    expect(problems({ KEY_TEMPLATE: '{{topic}}/o={{start_offset}}/{{partition}}' })).toEqual([
      'keyTemplate directory "o={{start_offset}}": an offset names objects, not a partition of them',
    ]);
  });
});

describe('columns and SerDe per format', () => {
  it('jsonl: the envelope in FIELDS order with the value as JSON text, OpenX JSON SerDe', () => {
    const [t] = tables({ FIELDS: 'offset,value,headers,timestamp' });
    expect(t.columns.map((c) => [c.name, c.type])).toEqual([
      ['offset', 'bigint'], ['value', 'string'], ['headers', 'array<struct<key:string,value:string>>'], ['timestamp', 'string'],
    ]);
    expect([t.serde.library, t.inputFormat, t.parameters.classification]).toEqual(['org.openx.data.jsonserde.JsonSerDe', 'org.apache.hadoop.mapred.TextInputFormat', 'json']);
  });

  it('parquet and avro: the sink\'s own columns with Hive types; avro declares the writer\'s schema', () => {
    const env = { FORMAT: 'parquet', AVRO_SCHEMA: SCHEMA, FIELDS: 'value,key,partition,offset,timestamp' };
    const [p] = tables(env);
    expect(p.columns.map((c) => [c.name, c.type])).toEqual([
      ['order_id', 'string'], ['amount', 'double'], ['qty', 'bigint'], ['placed', 'timestamp'], ['day', 'date'], ['blob', 'binary'],
      ['_kafka_key', 'string'], ['_kafka_partition', 'int'], ['_kafka_offset', 'bigint'], ['_kafka_timestamp', 'timestamp'],
    ]);
    expect(p.serde.library).toBe('org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe');
    const [a] = tables({ ...env, FORMAT: 'avro' });
    expect(a.columns).toEqual(p.columns);
    // Hive's Avro SerDe maps only timestamp-millis to a timestamp: micros stay the long they are.
    const micros = JSON.stringify({ type: 'record', name: 'M', fields: [{ name: 'ts', type: { type: 'long', logicalType: 'timestamp-micros' } }] });
    expect(tables({ FORMAT: 'avro', AVRO_SCHEMA: micros, FIELDS: 'value' })[0].columns).toEqual([{ name: 'ts', type: 'bigint' }]);
    expect(tables({ FORMAT: 'parquet', AVRO_SCHEMA: micros, FIELDS: 'value' })[0].columns).toEqual([{ name: 'ts', type: 'timestamp' }]);
    const cfg = loadSinkConfig({ BUCKET_NAME: 'lake', ...env, FORMAT: 'avro' });
    expect(JSON.parse(a.serde.parameters['avro.schema.literal'])).toEqual(avroSchemaFor(buildTable(cfg, []).table));
  });

  it('csv: only columns OpenCSVSerde parses are typed (non-null boolean, int, bigint, double); header row skipped', () => {
    const [t] = tables({ FORMAT: 'csv_with_headers', AVRO_SCHEMA: SCHEMA, FIELDS: 'value,offset,timestamp' });
    expect(t.columns.map((c) => [c.name, c.type])).toEqual([
      ['order_id', 'string'], ['amount', 'string'], ['qty', 'bigint'], ['placed', 'string'], ['day', 'string'], ['blob', 'string'],
      ['_kafka_offset', 'bigint'], ['_kafka_timestamp', 'string'],
    ]);
    expect(t.parameters).toEqual({ classification: 'csv', 'skip.header.line.count': '1' });
    expect(tables({ FORMAT: 'csv', AVRO_SCHEMA: SCHEMA })[0].parameters).toEqual({ classification: 'csv' });
  });

  it('text: the line as one column through a regular expression; bytes and inferred columns cannot be declared', () => {
    const [t] = tables({ FORMAT: 'text' });
    expect([t.columns, t.serde]).toEqual([[{ name: 'value', type: 'string', comment: 'record value, one line' }], { library: 'org.apache.hadoop.hive.serde2.RegexSerDe', parameters: { 'input.regex': '^(.*)$' } }]);
    expect(problems({ FORMAT: 'bytes' })).toEqual(['format=bytes writes raw values that no Athena SerDe reads as records: use text (UTF-8 lines) or jsonl with valueEncoding=base64']);
    expect(problems({ FORMAT: 'parquet' })).toEqual(['format=parquet without schemaFile infers columns per object, so objects differ and no table can declare them: set schemaFile (an Avro record schema), or use format=jsonl']);
    // A value that is not JSON is one column, so no schema is needed.
    expect(tables({ FORMAT: 'parquet', VALUE_ENCODING: 'base64', FIELDS: 'value,offset' })[0].columns).toEqual([
      { name: '_kafka_value', type: 'binary' }, { name: '_kafka_offset', type: 'bigint' },
    ]);
  });
});

describe('the stack with catalog=true', () => {
  it('registers a named database and a table per topic over the bucket, named in the outputs', () => {
    // Act
    const s = synth({ catalog: 'true', bucketName: 'my-lake', format: 'parquet', schemaFile: 'test/events/order.avsc' });

    // Assess
    s.template.hasResourceProperties('AWS::Glue::Database', { DatabaseInput: { Name: 'kafka_s3' } });
    const tablesByName = Object.values(s.template.findResources('AWS::Glue::Table')).map((r) => r.Properties.TableInput);
    expect(tablesByName.map((t) => t.Name).sort()).toEqual(['orders', 'payments']);
    const orders = tablesByName.find((t) => t.Name === 'orders');
    expect(orders.StorageDescriptor.Location).toBe('s3://my-lake/topics/orders/');
    expect(orders.StorageDescriptor.SerdeInfo.SerializationLibrary).toBe('org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe');
    expect(orders.Parameters).toMatchObject({ 'projection.enabled': 'true', 'storage.location.template': 's3://my-lake/topics/orders/dt=${dt}/hour=${hour}/', has_encrypted_data: 'false' });
    expect(orders.TableType).toBe('EXTERNAL_TABLE');
    s.template.hasOutput('CatalogTables', { Value: 'orders=kafka_s3.orders,payments=kafka_s3.payments' });
    expect(nagFindings(s)).toEqual([]);
  });

  it('fails synth naming why no catalog can be registered', () => {
    expect(() => synth({ catalog: 'true', format: 'parquet' })).toThrow(/catalog='true': format=parquet without schemaFile infers columns per object/);
    expect(() => synth({ catalog: 'true', keyTemplate: '{{topic}}/{{timestamp:yyyy}}/{{partition}}+{{start_offset}}' })).toThrow(/is not Hive-style/);
  });

  it('without catalog=true registers nothing', () => {
    const s = synth({});
    expect(Object.keys(s.template.findResources('AWS::Glue::Table'))).toEqual([]);
  });
});
