import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decodeEvent } from '../../../lambdas/shared/decode.ts';
import { EventShapeError } from '../../../lambdas/shared/errors.ts';
import { kafkaEvent } from '../../support/events.ts';

const mskFixture = (): Record<string, unknown> =>
  JSON.parse(readFileSync(new URL('../../events/msk-event.json', import.meta.url), 'utf8')) as Record<string, unknown>;

/** One well-formed record of topic "orders", partition 0, in the event source's wire shape. */
function wireRecord(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    topic: 'orders',
    partition: 0,
    offset: 7,
    timestamp: 1_767_225_600_000,
    timestampType: 'CREATE_TIME',
    key: Buffer.from('k').toString('base64'),
    value: Buffer.from('{"a":1}').toString('base64'),
    headers: [],
    ...overrides,
  };
}

function eventWith(records: unknown): Record<string, unknown> {
  return { eventSource: 'aws:kafka', eventSourceArn: 'arn:aws:kafka:us-east-1:123456789012:cluster/demo/abc', records };
}

/** Runs decodeEvent and returns the EventShapeError it throws (fails the test if it does not throw one). */
function shapeError(event: unknown): EventShapeError {
  try {
    decodeEvent(event);
  } catch (err) {
    expect(err).toBeInstanceOf(EventShapeError);
    return err as EventShapeError;
  }
  throw new Error('decodeEvent did not throw');
}

describe('decodeEvent: well-formed events', () => {
  it('decodes the MSK fixture shaped like the AWS documentation example', () => {
    // Prepare
    const event = mskFixture();

    // Act
    const decoded = decodeEvent(event);

    // Assess
    expect(decoded.eventSource).toBe('aws:kafka');
    expect(decoded.eventSourceArn).toBe(
      'arn:aws:kafka:us-east-1:123456789012:cluster/vpc-2priv-2pub/751d2973-a626-431c-9d4e-d7975eb44dd7-2',
    );
    expect(decoded.recordCount).toBe(2);
    expect(decoded.partitions).toHaveLength(1);
    const [batch] = decoded.partitions;
    expect(batch.topic).toBe('mytopic');
    expect(batch.partition).toBe(0);
    expect(batch.records).toEqual([
      {
        topic: 'mytopic',
        partition: 0,
        offset: 15n,
        timestamp: 1545084650987,
        timestampType: 'CREATE_TIME',
        key: Buffer.from('order-42'),
        value: Buffer.from('{"order_id":"ord-000000042","amount":19.99}'),
        headers: [{ key: 'headerKey', value: Buffer.from('headerValue') }],
      },
      {
        topic: 'mytopic',
        partition: 0,
        offset: 16n,
        timestamp: 1545084651123,
        timestampType: 'CREATE_TIME',
        key: Buffer.from('order-43'),
        value: Buffer.from('Hello, this is a test.'),
        headers: [],
      },
    ]);
  });

  it('decodes a SelfManagedKafka event, which has no eventSourceArn', () => {
    // Prepare
    const event = kafkaEvent([{ topic: 'orders', partition: 3, offset: 100, key: 'k1', value: '{"n":1}' }], 'SelfManagedKafka');

    // Act
    const decoded = decodeEvent(event);

    // Assess
    expect(decoded.eventSource).toBe('SelfManagedKafka');
    expect(decoded.eventSourceArn).toBeUndefined();
    expect(decoded.recordCount).toBe(1);
    expect(decoded.partitions.map((p) => [p.topic, p.partition, p.records.map((r) => r.offset)])).toEqual([
      ['orders', 3, [100n]],
    ]);
    expect(decoded.partitions[0].records[0].key).toEqual(Buffer.from('k1'));
    expect(decoded.partitions[0].records[0].value).toEqual(Buffer.from('{"n":1}'));
  });

  it('splits "topic-partition" keys at the last dash, so topics may contain dashes', () => {
    // Prepare
    const event = kafkaEvent([
      { topic: 'my-orders-v2', partition: 12, offset: 1, value: '1' },
      { topic: 'other', partition: 0, offset: 2, value: '2' },
    ]);

    // Act
    const decoded = decodeEvent(event);

    // Assess
    expect(decoded.partitions.map((p) => `${p.topic}|${p.partition}`)).toEqual(['my-orders-v2|12', 'other|0']);
    expect(decoded.recordCount).toBe(2);
  });

  it('reads an absent key and a null key as null', () => {
    // Prepare
    const { key: _unused, ...withoutKey } = wireRecord({ offset: 1 });
    const event = eventWith({ 'orders-0': [withoutKey, wireRecord({ offset: 2, key: null })] });

    // Act
    const records = decodeEvent(event).partitions[0].records;

    // Assess
    expect(records.map((r) => r.key)).toEqual([null, null]);
    expect(records.map((r) => r.value?.toString())).toEqual(['{"a":1}', '{"a":1}']);
  });

  it('reads a null value as a tombstone (value null) and an empty string as an empty value', () => {
    // Prepare
    const event = eventWith({ 'orders-0': [wireRecord({ offset: 1, value: null }), wireRecord({ offset: 2, value: '' })] });

    // Act
    const records = decodeEvent(event).partitions[0].records;

    // Assess
    expect(records[0].value).toBeNull();
    expect(records[0].key).toEqual(Buffer.from('k'));
    expect(records[1].value).toEqual(Buffer.alloc(0));
  });

  it('keeps repeated header names as separate headers, in the order given', () => {
    // Prepare
    const event = eventWith({
      'orders-0': [
        wireRecord({
          headers: [
            { trace: [...Buffer.from('first')] },
            { other: [...Buffer.from('x')] },
            { trace: [...Buffer.from('second')] },
            { a: [], b: [...Buffer.from('two in one entry')] },
          ],
        }),
      ],
    });

    // Act
    const headers = decodeEvent(event).partitions[0].records[0].headers;

    // Assess
    expect(headers.map((h) => [h.key, h.value?.toString()])).toEqual([
      ['trace', 'first'],
      ['other', 'x'],
      ['trace', 'second'],
      ['a', ''],
      ['b', 'two in one entry'],
    ]);
  });

  it('turns signed Java header bytes into unsigned bytes (-1 → 255, -128 → 128)', () => {
    // Prepare
    const event = eventWith({ 'orders-0': [wireRecord({ headers: [{ bin: [-1, -128, 0, 127, 200] }] })] });

    // Act
    const [header] = decodeEvent(event).partitions[0].records[0].headers;

    // Assess
    expect([...header.value!]).toEqual([255, 128, 0, 127, 200]);
  });

  it('sorts each partition by offset', () => {
    // Prepare
    const event = eventWith({
      'orders-0': [
        wireRecord({ offset: 12, value: Buffer.from('c').toString('base64') }),
        wireRecord({ offset: 10, value: Buffer.from('a').toString('base64') }),
        wireRecord({ offset: 11, value: Buffer.from('b').toString('base64') }),
      ],
      'orders-1': [wireRecord({ partition: 1, offset: '9007199254740993' }), wireRecord({ partition: 1, offset: 3 })],
    });

    // Act
    const decoded = decodeEvent(event);

    // Assess
    expect(decoded.recordCount).toBe(5);
    expect(decoded.partitions[0].records.map((r) => [r.offset, r.value?.toString()])).toEqual([
      [10n, 'a'],
      [11n, 'b'],
      [12n, 'c'],
    ]);
    expect(decoded.partitions[1].records.map((r) => r.offset)).toEqual([3n, 9007199254740993n]);
  });

  it('refuses an event that holds one offset twice (nothing is dropped silently)', () => {
    const event = eventWith({ 'orders-0': [wireRecord({ offset: 10 }), wireRecord({ offset: 9 }), wireRecord({ offset: 10 })] });
    expect(() => decodeEvent(event)).toThrow('Malformed Kafka event: topic-partition orders-0 holds offset 10 twice');
  });

  it('merges two map keys that name one topic-partition ("orders-0", "orders-00"): no object can overwrite another', () => {
    // Prepare
    const event = eventWith({ 'orders-0': [wireRecord({ offset: 2 })], 'orders-00': [wireRecord({ offset: 1 }), wireRecord({ offset: 3 })] });

    // Act
    const decoded = decodeEvent(event);

    // Assess
    expect(decoded.partitions.map((p) => [p.topic, p.partition, p.records.map((r) => r.offset)])).toEqual([['orders', 0, [1n, 2n, 3n]]]);
    expect(() => decodeEvent(eventWith({ 'orders-0': [wireRecord({ offset: 2 })], 'orders-00': [wireRecord({ offset: 2 })] })))
      .toThrow('topic-partition orders-0 holds offset 2 twice');
  });

  it('keeps a header with a null value (Kafka allows one) as a null value', () => {
    const event = eventWith({ 'orders-0': [wireRecord({ headers: [{ none: null }, { some: [104, 105] }] })] });
    const [r] = decodeEvent(event).partitions[0].records;
    expect(r.invalid).toBeUndefined();
    expect(r.headers.map((h) => [h.key, h.value?.toString() ?? null])).toEqual([['none', null], ['some', 'hi']]);
  });


  it('accepts timestamps given as strings and defaults a missing timestampType to CREATE_TIME', () => {
    // Prepare
    const event = eventWith({ 'orders-0': [wireRecord({ timestamp: '1767225600123', timestampType: undefined })] });

    // Act
    const [r] = decodeEvent(event).partitions[0].records;

    // Assess
    expect(r.timestamp).toBe(1_767_225_600_123);
    expect(r.timestampType).toBe('CREATE_TIME');
  });

  it("accepts any integer timestamp (Kafka's are int64; -1 is no timestamp): ranges are checked where it is used", () => {
    // Prepare
    const event = eventWith({ 'orders-0': [
      wireRecord({ offset: 1, timestamp: -1 }), wireRecord({ offset: 2, timestamp: 8.64e15 }),
      wireRecord({ offset: 3, timestamp: 9.2e18 }), wireRecord({ offset: 4, timestamp: '-9223372036854775808' }),
    ] });

    // Act
    const records = decodeEvent(event).partitions[0].records;

    // Assess
    expect(records.map((r) => r.timestamp)).toEqual([-1, 8.64e15, 9.2e18, -9223372036854775808]);
    expect(records.every((r) => r.invalid === undefined)).toBe(true);
  });

  it('decodes an event with no records to zero partitions', () => {
    // Prepare
    const event = eventWith({});

    // Act
    const decoded = decodeEvent(event);

    // Assess
    expect(decoded).toEqual({
      eventSource: 'aws:kafka',
      eventSourceArn: 'arn:aws:kafka:us-east-1:123456789012:cluster/demo/abc',
      partitions: [],
      recordCount: 0,
    });
  });
});

describe('decodeEvent: malformed events throw EventShapeError naming the problem', () => {
  const cases: [string, unknown, string][] = [
    ['event is null', null, 'Malformed Kafka event: event is not an object'],
    ['event is a string', 'hello', 'Malformed Kafka event: event is not an object'],
    ['unknown eventSource', { eventSource: 'aws:sqs', records: {} }, 'eventSource must be "aws:kafka" or "SelfManagedKafka", got "aws:sqs"'],
    ['missing eventSource', { records: {} }, 'eventSource must be "aws:kafka" or "SelfManagedKafka", got undefined'],
    ['records missing', { eventSource: 'aws:kafka' }, 'records must be an object keyed "topic-partition"'],
    ['records is a list', { eventSource: 'aws:kafka', records: [] }, 'records must be an object keyed "topic-partition"'],
    ['partition entry is not a list', eventWith({ 'orders-0': {} }), 'records["orders-0"] must be a list'],
    ['key without partition number', eventWith({ orders: [] }), 'records key "orders" is not "topic-partition"'],
    ['record is null', eventWith({ 'orders-0': [null] }), 'records["orders-0"][0] is not an object'],
    ['record topic differs from its key', eventWith({ 'orders-0': [wireRecord({ topic: 'payments' })] }),
      'records["orders-0"][0].topic "payments" does not match "orders-0"'],
    ['record partition differs from its key', eventWith({ 'orders-0': [wireRecord({ partition: 1 })] }),
      'records["orders-0"][0].partition does not match "orders-0"'],
    ['negative offset', eventWith({ 'orders-0': [wireRecord({ offset: -1 })] }),
      'records["orders-0"][0].offset must be a non-negative integer, got "-1"'],
    ['fractional offset', eventWith({ 'orders-0': [wireRecord({ offset: 1.5 })] }),
      'records["orders-0"][0].offset must be a non-negative integer, got "1.5"'],
    ['offset missing', eventWith({ 'orders-0': [wireRecord({ offset: undefined })] }),
      'records["orders-0"][0].offset must be a non-negative integer, got "undefined"'],
  ];

  it.each(cases)('%s', (_name, event, message) => {
    // Prepare (the case table)

    // Act
    const err = shapeError(event);

    // Assess
    expect(err.name).toBe('EventShapeError');
    expect(err.message).toContain(message);
    expect(err.message.startsWith('Malformed Kafka event: ')).toBe(true);
  });

  it('names the failing record by its position in the second partition', () => {
    // Prepare
    const event = eventWith({
      'orders-0': [wireRecord()],
      'orders-1': [wireRecord({ partition: 1, offset: 1 }), wireRecord({ partition: 1, offset: 2.5 })],
    });

    // Act
    const err = shapeError(event);

    // Assess
    expect(err.message).toBe('Malformed Kafka event: records["orders-1"][1].offset must be a non-negative integer, got "2.5"');
  });
});

describe("decodeEvent: a record's own fields that cannot be decoded make only that record invalid", () => {
  const cases: [string, Record<string, unknown>, string][] = [
    ['timestamp missing', { timestamp: undefined }, 'record timestamp undefined is not an integer of epoch milliseconds'],
    ['timestamp not a number', { timestamp: 'yesterday' }, 'record timestamp "yesterday" is not an integer of epoch milliseconds'],
    ['fractional timestamp', { timestamp: 1_767_225_600_000.5 }, 'record timestamp 1767225600000.5 is not an integer of epoch milliseconds'],
    ['key is not base64', { key: 'not base64!' }, 'record key is not a base64 string or null'],
    ['value is a number', { value: 42 }, 'record value is not a base64 string or null'],
    ['value has a bad base64 length', { value: 'abc' }, 'record value is not a base64 string or null'],
    ['long value (≥ 256 chars) is not base64', { value: '!'.repeat(400) }, 'record value is not a base64 string or null'],
    ['headers is an object', { headers: { h: [1] } }, 'record headers is not a list'],
    ['header entry is a list', { headers: [[1, 2]] }, 'record a headers entry is not an object like {"name": [bytes]}'],
    ['header value is a string', { headers: [{ h: 'dmFsdWU=' }] }, 'record header "h" is not a list of bytes or null'],
    ['header byte out of range', { headers: [{ h: [1, 256] }] }, 'record header "h" byte 1 is not a byte'],
    ['header byte not an integer', { headers: [{ h: [0.5] }] }, 'record header "h" byte 0 is not a byte'],
  ];

  it.each(cases)('%s', (_name, fields, reason) => {
    // Prepare
    const bad = wireRecord({ offset: 2, ...fields });
    const event = eventWith({ 'orders-0': [wireRecord({ offset: 1 }), bad, wireRecord({ offset: 3 })] });

    // Act
    const records = decodeEvent(event).partitions[0].records;

    // Assess
    expect(records.map((r) => [r.offset, r.invalid?.reason])).toEqual([[1n, undefined], [2n, reason], [3n, undefined]]);
    expect(records[1].invalid?.received).toBe(bad);
  });
});
