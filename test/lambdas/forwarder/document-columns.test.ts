/**
 * The document of a record with the table's columns known (TABLE_COLUMNS), its metadata columns, and the numbers it
 * carries: exactly the declared columns, each checked; exact number text; Kafka's "no timestamp" as null; a record
 * whose content no check foresaw still fails alone (RecordError, never another error).
 */
import { describe, expect, it } from 'vitest';
import { loadForwarderConfig, type ForwarderConfig } from '../../../lambdas/forwarder/config.ts';
import { timestampMicros, toDocument, toEntry } from '../../../lambdas/forwarder/document.ts';
import { forwarderConvertSettings, forwarderPlan } from '../../../lambdas/forwarder/plan.ts';
import { convertRecord, type SinkRecord } from '../../../lambdas/shared/convert.ts';
import type { KafkaRecord } from '../../../lambdas/shared/decode.ts';
import { RecordError } from '../../../lambdas/shared/errors.ts';

const BASE = { STREAM_NAME: 'orders-stream', ERROR_BUCKET: 'forwarder-errors' };
const TABLES = {
  TABLE_COLUMNS: JSON.stringify({
    orders: { order_id: 'string!', amount: 'decimal(12,2)', qty: 'int', big: 'long', ratio: 'double', paid: 'boolean', created_at: 'timestamptz' },
    payments: { payment_id: 'string!' },
  }),
  TABLE_ROUTES: 'orders=orders,orders-eu=orders,payments=payments',
};
const cfgOf = (env: Record<string, string> = {}): ForwarderConfig => loadForwarderConfig({ ...BASE, ...env });

function rec(value: string | null, over: Partial<KafkaRecord> = {}): KafkaRecord {
  return {
    topic: 'orders', partition: 3, offset: 42n, timestamp: 1_767_225_600_123, timestampType: 'CREATE_TIME',
    key: Buffer.from('order-1'), value: value === null ? null : Buffer.from(value), headers: [], ...over,
  };
}

const convert = (cfg: ForwarderConfig, r: KafkaRecord): SinkRecord => convertRecord(forwarderConvertSettings(cfg), forwarderPlan(cfg), r);
const dataText = (cfg: ForwarderConfig, r: KafkaRecord): string => toEntry(cfg, convert(cfg, r)).data.toString('utf8');

function recordError(fn: () => unknown): RecordError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(RecordError);
    return err as RecordError;
  }
  throw new Error('no RecordError thrown');
}

describe('toDocument with TABLE_COLUMNS: the declared columns, checked', () => {
  const cfg = cfgOf({ ...TABLES, FIELDS: 'topic,offset' });

  it('writes the declared columns in table order and leaves out fields the table does not have', () => {
    // Prepare
    const value = '{"note":"x","paid":"true","amount":19.99,"order_id":"ord-1","extra":{"deep":[1,2]},"qty":"3"}';

    // Act
    const text = dataText(cfg, rec(value));

    // Assess
    expect(text).toBe('{"order_id":"ord-1","amount":19.99,"qty":"3","paid":"true","_kafka_topic":"orders","_kafka_offset":42}');
  });

  it('keeps every number\'s source text: decimals beyond a double, int64 beyond 2^53, fractions a double would round', () => {
    // Prepare
    const value = '{"order_id":"o","amount":1234567890.12,"big":9223372036854775807,"ratio":0.1234567890123456789}';

    // Act
    const text = dataText(cfg, rec(value));

    // Assess
    expect(text).toBe('{"order_id":"o","amount":1234567890.12,"big":9223372036854775807,"ratio":0.1234567890123456789,"_kafka_topic":"orders","_kafka_offset":42}');
  });

  it('writes a present null as null, and an absent optional column not at all', () => {
    expect(dataText(cfg, rec('{"order_id":"o","amount":null}'))).toBe('{"order_id":"o","amount":null,"_kafka_topic":"orders","_kafka_offset":42}');
  });

  it('uses the table of each topic (two topics may share one)', () => {
    // Act
    const texts = [rec('{"order_id":"o"}', { topic: 'orders-eu' }), rec('{"payment_id":"p","order_id":"o"}', { topic: 'payments' })].map((r) => dataText(cfg, r));

    // Assess
    expect(texts).toEqual(['{"order_id":"o","_kafka_topic":"orders-eu","_kafka_offset":42}', '{"payment_id":"p","_kafka_topic":"payments","_kafka_offset":42}']);
  });

  it.each([
    ['a required column missing', '{"amount":1}', 'column "order_id" is required but the value has no such field'],
    ['a required column null', '{"order_id":null}', 'column "order_id" is required but the value holds null'],
    ['an amount with too many decimals', '{"order_id":"o","amount":19.999}', 'column "amount" (decimal(12,2)): the number 19.999 does not fit: has 3 digits after the point, more than the scale 2'],
    ['12345678901234567890.12 into decimal(12,2)', '{"order_id":"o","amount":12345678901234567890.12}',
      'column "amount" (decimal(12,2)): the number 12345678901234567890.12 does not fit: has 20 digits before the point, more than 10 (precision 12, scale 2)'],
    ['1e400 into a double', '{"order_id":"o","ratio":1e400}', 'column "ratio" (double): the number 1e400 does not fit: beyond the range of a double'],
    ['1e-400 into a double', '{"order_id":"o","ratio":1e-400}', 'column "ratio" (double): the number 1e-400 does not fit: so close to 0 that a double would hold 0'],
    ['an int beyond 32 bits', '{"order_id":"o","qty":4294967296}', 'column "qty" (int): the number 4294967296 does not fit: out of range -2147483648..2147483647'],
    ['a string where a boolean goes', '{"order_id":"o","paid":"yes"}', 'column "paid" (boolean): the string "yes" does not fit: expected true, false, "true", "false", 1 or 0'],
    ['a number where a string goes', '{"order_id":42}', 'column "order_id" (string, required): the number 42 does not fit: expected a string'],
    ['a field that differs from a column only in case', '{"order_id":"o","Amount":5}', 'value field "Amount" differs from column "amount" only in letter case; columns are matched by their exact (lowercase) name'],
    ['a reserved field name in another case', '{"order_id":"o","_KAFKA_offset":5}', 'value field "_KAFKA_offset" uses the prefix "_kafka_" (in any letter case) reserved for Kafka metadata columns'],
  ])('dead-letters %s', (_name, value, message) => {
    // Act
    const err = recordError(() => dataText(cfg, rec(value)));

    // Assess
    expect(err.stage).toBe('schema');
    expect(err.message).toBe(message);
  });

  it('dead-letters a record of a topic TABLE_ROUTES does not name', () => {
    expect(recordError(() => dataText(cfg, rec('{"order_id":"o"}', { topic: 'refunds' }))).message).toBe('topic "refunds" has no table in TABLE_ROUTES, so its columns are unknown');
  });

  it('dead-letters a written tombstone when the table has a required column', () => {
    // Prepare
    const c = cfgOf({ ...TABLES, TOMBSTONES: 'write', FIELDS: 'offset' });

    // Act
    const err = recordError(() => dataText(c, rec(null)));

    // Assess
    expect(err.message).toBe('column "order_id" is required but the value has no such field');
  });

  it('writes a tombstone as metadata only when no column is required', () => {
    // Prepare
    const c = cfgOf({ TABLE_COLUMNS: '{"orders":{"amount":"double"}}', TABLE_ROUTES: 'orders=orders', TOMBSTONES: 'write', FIELDS: 'offset' });

    // Act
    const text = dataText(c, rec(null));

    // Assess
    expect(text).toBe('{"_kafka_offset":42}');
  });
});

describe('toDocument without TABLE_COLUMNS: numbers as their source text', () => {
  const cfg = cfgOf({ FIELDS: 'offset' });

  it.each([
    '12345678901234567890.12', '0.1234567890123456789', '1e-400', '9007199254740993', '123456789012345678901234567890', '-9223372036854775808',
  ])('%s is written as it was', (n) => {
    expect(dataText(cfg, rec(`{"n":${n},"nested":{"m":[${n}]}}`))).toBe(`{"n":${n},"nested":{"m":[${n}]},"_kafka_offset":42}`);
  });

  it.each([['1.50', '1.5'], ['1.5e3', '1500'], ['1E2', '100'], ['0.10', '0.1']])('%s, which a double holds exactly, is written as the same number %s', (n, written) => {
    expect(dataText(cfg, rec(`{"n":${n}}`))).toBe(`{"n":${written},"_kafka_offset":42}`);
  });

  it('dead-letters a number beyond the range of a double (1e400), which no table column could hold', () => {
    // Act
    const err = recordError(() => dataText(cfg, rec('{"n":1e400}')));

    // Assess
    expect(err.message).toMatch(/^value is not accepted as JSON: number 1e400 is beyond the range of a double/);
  });
});

describe('metadata columns', () => {
  it.each([
    ['Kafka\'s "no timestamp" (-1)', { timestamp: -1 }, null],
    ['a record of NO_TIMESTAMP_TYPE', { timestamp: 0, timestampType: 'NO_TIMESTAMP_TYPE' }, null],
    ['an instant before 1970', { timestamp: -2 }, -2000],
    ['the epoch', { timestamp: 0 }, 0],
    ['a time past 2^53 microseconds, exactly', { timestamp: 253_402_300_799_999 }, 253_402_300_799_999_000n],
    ['the first instant readers hold', { timestamp: -62_135_596_800_000 }, -62_135_596_800_000_000n],
  ] as const)('_kafka_timestamp of %s', (_name, over, micros) => {
    expect(timestampMicros({ timestampType: 'CREATE_TIME', ...over })).toBe(micros);
  });

  it('writes null for Kafka\'s "no timestamp", not 1969-12-31T23:59:59.999Z', () => {
    // Prepare
    const cfg = cfgOf({ FIELDS: 'timestamp' });

    // Act
    const text = dataText(cfg, rec('{"a":1}', { timestamp: -1 }));

    // Assess
    expect(text).toBe('{"a":1,"_kafka_timestamp":null}');
  });

  it('writes microseconds past 2^53 exactly', () => {
    expect(dataText(cfgOf({ FIELDS: 'timestamp' }), rec('{"a":1}', { timestamp: 253_402_300_799_999 }))).toBe('{"a":1,"_kafka_timestamp":253402300799999000}');
  });

  it.each([253_402_300_800_000, -62_135_596_800_001, 8.64e15, -8.64e15, 9.2e18])('dead-letters timestamp %d ms (outside years 0001..9999)', (ms) => {
    // Act
    const err = recordError(() => dataText(cfgOf({ FIELDS: 'timestamp' }), rec('{"a":1}', { timestamp: ms })));

    // Assess
    expect(err.stage).toBe('schema');
    expect(err.message).toBe(`timestamp ${ms} ms is outside 0001-01-01T00:00:00Z..9999-12-31T23:59:59.999Z, the instants readers of the _kafka_timestamp column hold`);
  });

  it('does not look at the timestamp when FIELDS does not write it', () => {
    expect(dataText(cfgOf({ FIELDS: 'topic' }), rec('{"a":1}', { timestamp: 9.2e18 }))).toBe('{"a":1,"_kafka_topic":"orders"}');
  });

  it('dead-letters an offset beyond int64 (the _kafka_offset column is a long)', () => {
    expect(recordError(() => dataText(cfgOf({ FIELDS: 'offset' }), rec('{"a":1}', { offset: 9_999_999_999_999_999_999n }))).message)
      .toBe('offset 9999999999999999999 does not fit the long column _kafka_offset');
  });

  it('writes a header without a value as null', () => {
    expect(dataText(cfgOf({ FIELDS: 'headers' }), rec('{"a":1}', { headers: [{ key: 'h', value: null }] }))).toBe('{"a":1,"_kafka_headers":"[{\\"key\\":\\"h\\",\\"value\\":null}]"}');
  });
});

describe('a value no serializer can write fails its record only', () => {
  it('turns a serializer error (a value nested past the stack) into a RecordError of stage encode', () => {
    // Prepare: built by hand, past the shared depth check, as a missing check would let it through.
    let deep: unknown = 1;
    for (let i = 0; i < 200_000; i++) deep = [deep];
    const cfg = cfgOf({ FIELDS: 'offset' });
    const r: SinkRecord = { ...convert(cfg, rec('{"a":1}')), value: { a: deep } };

    // Act
    const err = recordError(() => toEntry(cfg, r));

    // Assess
    expect(err.stage).toBe('encode');
    expect(err.message).toMatch(/^the document cannot be written as JSON \(Maximum call stack size exceeded\)$/);
  });

  it('dead-letters a value nested deeper than the shared depth cap before it is built', () => {
    // Prepare
    const value = `{"a":${'['.repeat(3000)}${']'.repeat(3000)}}`;

    // Act
    const err = recordError(() => dataText(cfgOf(), rec(value)));

    // Assess
    expect(err.stage).toBe('convert');
    expect(err.message).toMatch(/^value is not accepted as JSON: .*nest/);
  });

  it('returns the document as an object too', () => {
    const cfg = cfgOf({ ...TABLES, FIELDS: 'offset' });
    expect(toDocument(cfg, convert(cfg, rec('{"order_id":"o","big":9223372036854775807}')))).toEqual({ order_id: 'o', big: 9_223_372_036_854_775_807n, _kafka_offset: 42n });
  });
});
