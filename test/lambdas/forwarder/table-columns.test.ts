import { describe, expect, it } from 'vitest';
import { encodeTableColumns, encodeTableRoutes, parseColumnType, parseTables, typeName } from '../../../lambdas/forwarder/table-columns.ts';
import { KafkaMetadataColumns } from '../../../lib/table-schema.ts';

const COLUMNS = '{"orders":{"order_id":"string!","amount":"decimal(12,2)","created_at":"timestamptz"},"payment_events":{"payment_id":"string!"}}';
const ROUTES = 'orders=orders,payments=payment_events';

describe('parseColumnType', () => {
  it.each(['boolean', 'int', 'long', 'float', 'double', 'string', 'binary', 'date', 'time', 'timestamp', 'timestamptz', 'uuid'])('knows %s', (t) => {
    expect(typeName(parseColumnType(t)!)).toBe(t);
  });

  it.each([['decimal(12,2)', 'decimal(12,2)'], ['DECIMAL(38, 0)', 'decimal(38,0)'], [' Long ', 'long'], ['decimal(1,1)', 'decimal(1,1)']])('reads %j as %s', (text, name) => {
    expect(typeName(parseColumnType(text)!)).toBe(name);
  });

  it.each(['decimal(39,2)', 'decimal(0,0)', 'decimal(5,6)', 'decimal(5)', 'varchar', 'struct<a:int>', 'list<long>', ''])('refuses %j', (text) => {
    expect(parseColumnType(text)).toBeUndefined();
  });

  it('knows the type of every Kafka metadata column the stack adds', () => {
    expect(KafkaMetadataColumns.map((c) => parseColumnType(c.type) && typeName(parseColumnType(c.type)!))).toEqual(KafkaMetadataColumns.map((c) => c.type));
  });
});

describe('encodeTableColumns / encodeTableRoutes', () => {
  it('writes compact JSON the forwarder reads back', () => {
    // Prepare
    const tables = new Map([
      ['orders', [{ name: 'order_id', type: 'string', required: true }, { name: 'amount', type: 'decimal(12, 2)', required: false }, { name: 'created_at', type: 'timestamptz', required: false }]],
      ['payment_events', [{ name: 'payment_id', type: 'string', required: true }]],
    ]);
    const routes = new Map([['orders', 'orders'], ['payments', 'payment_events']]);

    // Act
    const columns = encodeTableColumns(tables);
    const routesText = encodeTableRoutes(routes);
    const parsed = parseTables(columns, routesText);

    // Assess
    expect(columns).toBe(COLUMNS);
    expect(routesText).toBe(ROUTES);
    expect(parsed.problems).toEqual([]);
    expect(parsed.tables!.routes).toEqual(routes);
    expect(parsed.tables!.columns.get('orders')!.list).toEqual([
      { name: 'order_id', type: { kind: 'string' }, required: true },
      { name: 'amount', type: { kind: 'decimal', precision: 12, scale: 2 }, required: false },
      { name: 'created_at', type: { kind: 'timestamptz' }, required: false },
    ]);
  });
});

describe('parseTables', () => {
  it('is empty when neither variable is set', () => {
    expect(parseTables(undefined, undefined)).toEqual({ problems: [] });
  });

  it('indexes columns by lowercase name for case-only mismatches', () => {
    const t = parseTables(COLUMNS, ROUTES).tables!.columns.get('orders')!;
    expect([...t.byLowerName.keys()]).toEqual(['order_id', 'amount', 'created_at']);
  });

  it.each([
    ['TABLE_ROUTES alone', undefined, ROUTES, [['TABLE_COLUMNS', 'required with TABLE_ROUTES (the columns of each routed table)']]],
    ['TABLE_COLUMNS alone', COLUMNS, undefined, [['TABLE_ROUTES', 'required with TABLE_COLUMNS (which topic goes to which table)']]],
    ['columns that are not JSON', '{"orders":', ROUTES, [['TABLE_COLUMNS', 'not valid JSON (Unexpected end of JSON input)']]],
    ['columns that are a list', '[]', ROUTES, [['TABLE_COLUMNS', 'expected {"<table>": {"<column>": "<type>[!]", …}, …} with at least one table']]],
    ['a table without columns', '{"orders":{}}', 'orders=orders', [['TABLE_COLUMNS', 'table "orders": expected {"<column>": "<type>[!]", …} with at least one column']]],
    ['a bad table name', '{"Orders":{"a":"int"}}', 'orders=orders', [['TABLE_COLUMNS', 'table "Orders" must be lowercase letters, digits and _ (starting and ending with a letter or digit)']]],
    ['a bad column name and type', '{"orders":{"Order Id":"string","n":"number!","_kafka_x":"int"}}', 'orders=orders', [
      ['TABLE_COLUMNS', 'table "orders", column "Order Id": the name must be lowercase letters, digits and _, starting with a letter or _'],
      ['TABLE_COLUMNS', 'table "orders", column "n": type "number!" is not one of boolean, int, long, float, double, string, binary, date, time, timestamp, timestamptz, uuid, decimal(p,s) with 1 ≤ p ≤ 38 and s ≤ p (append ! for a required column)'],
      ['TABLE_COLUMNS', 'table "orders", column "_kafka_x": the prefix "_kafka_" is reserved for the forwarder\'s Kafka metadata columns'],
    ]],
    ['a route to a table without columns', COLUMNS, 'orders=orders,payments=payment_events,refunds=refunds', [['TABLE_ROUTES', 'topic "refunds" goes to table "refunds", which TABLE_COLUMNS does not have']]],
    ['a table no topic goes to', COLUMNS, 'orders=orders', [['TABLE_COLUMNS', 'table "payment_events" has no topic routed to it in TABLE_ROUTES']]],
    ['a bad route', COLUMNS, 'orders=orders,payments', [['TABLE_ROUTES', '"payments" is not topic=table with a lowercase table name']]],
    ['a topic routed twice', COLUMNS, 'orders=orders,orders=payment_events', [['TABLE_ROUTES', 'topic "orders" is routed twice']]],
    ['no routes', COLUMNS, ' , ', [['TABLE_ROUTES', 'expected topic=table pairs, comma list']]],
  ])('reports %s', (_name, columns, routes, expected) => {
    // Act
    const { tables, problems } = parseTables(columns, routes);

    // Assess
    expect(tables).toBeUndefined();
    expect(problems.map((p) => [p.variable, p.problem])).toEqual(expected);
  });
});
