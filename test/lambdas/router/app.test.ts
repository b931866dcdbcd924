import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  createRouterHandler, loadRouterConfig, route, type FirehoseTransformationEvent, type FirehoseTransformationResult, type RouterConfig,
} from '../../../lambdas/router/app.ts';
import { ConfigError } from '../../../lambdas/shared/errors.ts';

/** A Firehose data-transformation event of a Kinesis-stream source: forwarder documents of orders, payments and inventory, and a line that is not JSON. */
const loadEvent = (): FirehoseTransformationEvent & { sourceKinesisStreamArn: string } =>
  JSON.parse(readFileSync(new URL('../../events/firehose-transformation-event.json', import.meta.url), 'utf8')) as FirehoseTransformationEvent & { sourceKinesisStreamArn: string };

const ENV = { DATABASE: 'kafka_events', TABLE_ROUTES: 'orders=orders,payments=payment_events' };

/** Runs loadRouterConfig and returns the ConfigError it throws (fails the test if it does not throw one). */
function configError(env: Record<string, string | undefined>): ConfigError {
  try {
    loadRouterConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('loadRouterConfig did not throw');
}

const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');

/** An event of one record per data text. */
function eventOf(...texts: string[]): FirehoseTransformationEvent {
  return {
    invocationId: 'a0b1c2d3-e4f5-4061-8729-3a4b5c6d7e8f',
    deliveryStreamArn: 'arn:aws:firehose:eu-west-1:123456789012:deliverystream/kafka-s3-tables',
    region: 'eu-west-1',
    records: texts.map((t, i) => ({ recordId: `record-${i}`, approximateArrivalTimestamp: 1_767_225_600_000 + i, data: b64(t) })),
  };
}

describe('the fixture', () => {
  it('is a Kinesis-stream source event of forwarder documents', () => {
    // Prepare
    const event = loadEvent();

    // Act
    const topics = event.records.map((r) => {
      try {
        return (JSON.parse(Buffer.from(r.data, 'base64').toString('utf8')) as { _kafka_topic: string })._kafka_topic;
      } catch {
        return 'not JSON';
      }
    });

    // Assess
    expect(event.sourceKinesisStreamArn).toBe('arn:aws:kinesis:eu-west-1:123456789012:stream/kafka-s3-tables-forwarder');
    expect(topics).toEqual(['orders', 'payments', 'orders', 'inventory', 'not JSON']);
    expect(event.records.map((r) => r.kinesisRecordMetadata?.partitionKey)).toEqual(['ord-000001042', 'pay-7f3a9c', 'orders-1', 'sku-88412', 'load-balancer-probe']);
  });
});

describe('route', () => {
  it('routes each document to the table of its topic, keeps recordId and data, and fails the unroutable records', () => {
    // Prepare
    const cfg = loadRouterConfig(ENV);
    const event = loadEvent();
    const [order, payment, order2, inventory, notJson] = event.records;

    // Act
    const result = route(cfg, event);

    // Assess
    const insertInto = (table: string) => ({ otfMetadata: { destinationDatabaseName: 'kafka_events', destinationTableName: table, operation: 'insert' as const } });
    expect(result).toStrictEqual<FirehoseTransformationResult>({
      records: [
        { recordId: order.recordId, result: 'Ok', data: order.data, metadata: insertInto('orders') },
        { recordId: payment.recordId, result: 'Ok', data: payment.data, metadata: insertInto('payment_events') },
        { recordId: order2.recordId, result: 'Ok', data: order2.data, metadata: insertInto('orders') },
        { recordId: inventory.recordId, result: 'ProcessingFailed', data: inventory.data },
        { recordId: notJson.recordId, result: 'ProcessingFailed', data: notJson.data },
      ],
    });
    expect(result.records.map((r) => r.recordId)).toEqual([
      '49669146285321187394843960711289036251766531870843863042000000',
      '49669146285343488140042491334430571985457236227393830930000000',
      '49669146285321187394843960711290245177586146500018569218000000',
      '49669146285365788885241021957572107719147940583943798834000000',
      '49669146285321187394843960711291454103405761129193275394000000',
    ]);
  });

  it('does not change the data of a routed record', () => {
    // Prepare
    const cfg = loadRouterConfig(ENV);
    const event = loadEvent();
    const before = event.records.map((r) => r.data);

    // Act
    const result = route(cfg, event);

    // Assess
    expect(result.records.map((r) => r.data)).toEqual(before);
    expect(Buffer.from(result.records[1].data, 'base64').toString('utf8')).toBe(
      '{"payment_id":"pay-7f3a9c","order_id":"ord-000001042","method":"card","amount":59.9,"currency":"EUR","captured":true,'
        + '"_kafka_key":"pay-7f3a9c","_kafka_headers":"[]","_kafka_topic":"payments","_kafka_partition":2,"_kafka_offset":88071,"_kafka_timestamp":1767225600480000}',
    );
  });

  it.each([
    ['a document without _kafka_topic', '{"order_id":"ord-1"}'],
    ['a _kafka_topic that is not a string', '{"_kafka_topic":["orders"]}'],
    ['a topic routed by no route, differing in case only', '{"_kafka_topic":"Orders"}'],
    ['a topic named like an object property', '{"_kafka_topic":"constructor"}'],
    ['a JSON array', '[{"_kafka_topic":"orders"}]'],
    ['JSON null', 'null'],
    ['a JSON string', '"orders"'],
    ['truncated JSON', '{"_kafka_topic":"orders"'],
    ['an empty record', ''],
  ])('fails %s', (_name, text) => {
    // Prepare
    const cfg = loadRouterConfig(ENV);

    // Act
    const result = route(cfg, eventOf(text));

    // Assess
    expect(result).toStrictEqual<FirehoseTransformationResult>({ records: [{ recordId: 'record-0', result: 'ProcessingFailed', data: b64(text) }] });
  });

  it('fails a record whose bytes are not UTF-8', () => {
    // Prepare
    const cfg = loadRouterConfig(ENV);
    const data = Buffer.from([0x7b, 0xff, 0xfe, 0x7d]).toString('base64');
    const event = { ...eventOf(), records: [{ recordId: 'record-0', approximateArrivalTimestamp: 1_767_225_600_000, data }] };

    // Act
    const result = route(cfg, event);

    // Assess
    expect(result.records).toStrictEqual([{ recordId: 'record-0', result: 'ProcessingFailed', data }]);
  });

  it('answers an empty event with no records', () => {
    // Prepare
    const cfg = loadRouterConfig(ENV);

    // Act
    const result = route(cfg, eventOf());

    // Assess
    expect(result).toStrictEqual({ records: [] });
  });
});

describe('createRouterHandler', () => {
  it('routes the event with the configuration read at cold start', async () => {
    // Prepare
    const handler = createRouterHandler(ENV);
    const event = loadEvent();

    // Act
    const result = await handler(event);

    // Assess
    expect(result).toStrictEqual(route(loadRouterConfig(ENV), loadEvent()));
    expect(result.records.map((r) => r.result)).toEqual(['Ok', 'Ok', 'Ok', 'ProcessingFailed', 'ProcessingFailed']);
  });

  it('rejects a bad configuration at cold start', () => {
    // Prepare
    const env = { DATABASE: 'Kafka', TABLE_ROUTES: ENV.TABLE_ROUTES };

    // Act
    const create = () => createRouterHandler(env);

    // Assess
    expect(create).toThrow(ConfigError);
  });
});

describe('loadRouterConfig', () => {
  it('reads the database and the topic → table routes', () => {
    // Prepare
    const env = { DATABASE: 'kafka_events', TABLE_ROUTES: ' orders=orders , payments=payment_events,,audit.log-v2=audit_2026 ' };

    // Act
    const cfg = loadRouterConfig(env);

    // Assess
    expect(cfg).toEqual<RouterConfig>({
      database: 'kafka_events',
      operation: 'insert',
      routes: new Map([['orders', 'orders'], ['payments', 'payment_events'], ['audit.log-v2', 'audit_2026']]),
    });
  });

  it.each([
    ['DATABASE unset', { DATABASE: undefined }, ["DATABASE='(unset)': Invalid input: expected string, received undefined"]],
    ['DATABASE with uppercase', { DATABASE: 'Kafka_Events' }, ["DATABASE='Kafka_Events': must be an S3 Tables namespace (lowercase letters, digits, _; not starting with aws)"]],
    ['DATABASE with a hyphen', { DATABASE: 'kafka-events' }, ["DATABASE='kafka-events': must be an S3 Tables namespace (lowercase letters, digits, _; not starting with aws)"]],
    ['DATABASE starting with _', { DATABASE: '_kafka' }, ["DATABASE='_kafka': must be an S3 Tables namespace (lowercase letters, digits, _; not starting with aws)"]],
    ['TABLE_ROUTES unset', { TABLE_ROUTES: undefined }, ["TABLE_ROUTES='(unset)': Invalid input: expected string, received undefined"]],
    ['TABLE_ROUTES empty', { TABLE_ROUTES: '' }, ["TABLE_ROUTES='': required: comma list of topic=table"]],
    ['TABLE_ROUTES of commas only', { TABLE_ROUTES: ' , ,' }, ["TABLE_ROUTES=' , ,': names no route (comma list of topic=table)"]],
    ['TABLE_ROUTES without =', { TABLE_ROUTES: 'orders' }, ["TABLE_ROUTES='orders': \"orders\" is not topic=table with a lowercase table name"]],
    ['TABLE_ROUTES without a table', { TABLE_ROUTES: 'orders=' }, ["TABLE_ROUTES='orders=': \"orders=\" is not topic=table with a lowercase table name"]],
    ['TABLE_ROUTES without a topic', { TABLE_ROUTES: '=orders' }, ["TABLE_ROUTES='=orders': \"=orders\" is not topic=table with a lowercase table name"]],
    ['TABLE_ROUTES with two =', { TABLE_ROUTES: 'orders=orders=v2' }, ["TABLE_ROUTES='orders=orders=v2': \"orders=orders=v2\" is not topic=table with a lowercase table name"]],
    ['TABLE_ROUTES with a semicolon list', { TABLE_ROUTES: 'orders=orders;payments=payments' },
      ["TABLE_ROUTES='orders=orders;payments=payments': \"orders=orders;payments=payments\" is not topic=table with a lowercase table name"]],
    ['a topic routed twice', { TABLE_ROUTES: 'orders=orders,payments=payments,orders=orders_v2' },
      ["TABLE_ROUTES='orders=orders,payments=payments,orders=orders_v2': topic \"orders\" is routed twice"]],
    ['an uppercase table name', { TABLE_ROUTES: 'orders=Orders' }, ["TABLE_ROUTES='orders=Orders': \"orders=Orders\" is not topic=table with a lowercase table name"]],
    ['a table name with a hyphen', { TABLE_ROUTES: 'orders=order-events' }, ["TABLE_ROUTES='orders=order-events': \"orders=order-events\" is not topic=table with a lowercase table name"]],
  ])('%s', (_name, over, problems) => {
    // Prepare
    const env = { ...ENV, ...over };

    // Act
    const err = configError(env);

    // Assess
    expect(err.problems).toEqual(problems);
    expect(err.message.split('\n')[0]).toBe(`Invalid router configuration (${problems.length} problem${problems.length === 1 ? '' : 's'}):`);
  });

  it('reports every problem at once: a bad DATABASE and every bad route', () => {
    // Prepare
    const env = { DATABASE: 'Kafka', TABLE_ROUTES: 'orders=Orders,payments,orders=orders,orders=orders_v2' };

    // Act
    const err = configError(env);

    // Assess
    expect(err.problems).toEqual([
      "DATABASE='Kafka': must be an S3 Tables namespace (lowercase letters, digits, _; not starting with aws)",
      "TABLE_ROUTES='orders=Orders,payments,orders=orders,orders=orders_v2': \"orders=Orders\" is not topic=table with a lowercase table name",
      "TABLE_ROUTES='orders=Orders,payments,orders=orders,orders=orders_v2': \"payments\" is not topic=table with a lowercase table name",
      "TABLE_ROUTES='orders=Orders,payments,orders=orders,orders=orders_v2': topic \"orders\" is routed twice",
    ]);
  });

  it('reports both variables when the environment is empty', () => {
    // Prepare
    const env = {};

    // Act
    const err = configError(env);

    // Assess
    expect(err.problems).toEqual([
      "DATABASE='(unset)': Invalid input: expected string, received undefined",
      "TABLE_ROUTES='(unset)': Invalid input: expected string, received undefined",
    ]);
  });
});

describe('router operation (upserts)', () => {
  it('marks every routed record for update when OPERATION=update (appendOnly=false)', () => {
    const cfg = loadRouterConfig({ DATABASE: 'kafka', TABLE_ROUTES: 'orders=orders', OPERATION: 'update' });
    const data = Buffer.from(JSON.stringify({ _kafka_topic: 'orders' })).toString('base64');
    const out = route(cfg, { invocationId: 'i', deliveryStreamArn: 'arn', records: [{ recordId: 'r1', data }] });
    expect(out.records[0].metadata?.otfMetadata).toEqual({ destinationDatabaseName: 'kafka', destinationTableName: 'orders', operation: 'update' });
  });
});
