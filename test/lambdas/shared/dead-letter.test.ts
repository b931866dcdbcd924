import { describe, expect, it } from 'vitest';
import { deadLetterLine, planDeadLetters, type DeadLetter } from '../../../lambdas/shared/dead-letter.ts';
import type { KafkaRecord } from '../../../lambdas/shared/decode.ts';

function rec(over: Partial<KafkaRecord> = {}): KafkaRecord {
  return {
    topic: 'orders',
    partition: 0,
    offset: 7n,
    timestamp: 1_767_225_600_000,
    timestampType: 'CREATE_TIME',
    key: Buffer.from('order-1'),
    value: Buffer.from([0x7b, 0xff, 0x00]),
    headers: [],
    ...over,
  };
}

const letter = (over: Partial<KafkaRecord>, stage: DeadLetter['stage'] = 'convert', reason = 'value is not valid UTF-8'): DeadLetter => ({
  record: rec(over),
  stage,
  reason,
});

const cfg = { errorPrefix: 'dead-letters/', maxRecordsPerObject: 10 };
const pad = (n: number) => String(n).padStart(20, '0');

describe('deadLetterLine', () => {
  it('writes raw key and value as base64, headers, coordinates, stage and reason', () => {
    // Prepare
    const d = letter({
      offset: 9223372036854775807n,
      headers: [{ key: 'trace', value: Buffer.from('abc') }, { key: 'trace', value: Buffer.from([0xff]) }],
    }, 'schema', 'field "amount": expected double, got "x"');

    // Act
    const line = deadLetterLine(d);

    // Assess
    expect(line).toBe(
      '{"topic":"orders","partition":0,"offset":"9223372036854775807","timestamp":1767225600000,"timestampType":"CREATE_TIME",'
        + '"key":"b3JkZXItMQ==","value":"e/8A",'
        + '"headers":[{"key":"trace","value":"YWJj"},{"key":"trace","value":"/w=="}],'
        + '"stage":"schema","reason":"field \\"amount\\": expected double, got \\"x\\""}',
    );
  });

  it('writes a null key and a tombstone value as null', () => {
    // Prepare
    const d = letter({ key: null, value: null }, 'filter', 'tombstone (null value) with TOMBSTONES=deadletter');

    // Act
    const parsed = JSON.parse(deadLetterLine(d)) as Record<string, unknown>;

    // Assess
    expect(parsed).toEqual({
      topic: 'orders', partition: 0, offset: '7', timestamp: 1767225600000, timestampType: 'CREATE_TIME',
      key: null, value: null, headers: [], stage: 'filter', reason: 'tombstone (null value) with TOMBSTONES=deadletter',
    });
  });

  it('writes the raw bytes exactly, so they decode back to the original record', () => {
    // Prepare
    const value = Buffer.from([0, 1, 2, 253, 254, 255]);
    const d = letter({ value });

    // Act
    const parsed = JSON.parse(deadLetterLine(d)) as { value: string };

    // Assess
    expect(Buffer.from(parsed.value, 'base64')).toEqual(value);
  });
});

describe('planDeadLetters', () => {
  it('makes one object per topic-partition, keyed by its claim start (or the first offset without one)', () => {
    // Prepare
    const letters = [
      letter({ offset: 23n }),
      letter({ offset: 5n }),
      letter({ offset: 9n }),
      letter({ offset: 10n }),
      letter({ offset: 4n, partition: 1 }),
      letter({ offset: 6n, topic: 'pay/ments' }),
    ];

    // Act
    const objects = planDeadLetters(cfg, letters);

    // Assess
    expect(objects.map((o) => [o.key, o.count, o.topic, o.partition])).toEqual([
      [`dead-letters/orders/partition=1/orders+1+${pad(4)}.jsonl`, 1, 'orders', 1],
      [`dead-letters/orders/partition=0/orders+0+${pad(5)}.jsonl`, 4, 'orders', 0],
      [`dead-letters/pay%2Fments/partition=0/pay%2Fments+0+${pad(6)}.jsonl`, 1, 'pay/ments', 0],
    ]);
    const claimed = planDeadLetters(cfg, letters, (topic, partition) => (topic === 'orders' && partition === 0 ? 2n : undefined));
    expect(claimed.map((o) => o.key)).toContain(`dead-letters/orders/partition=0/orders+0+${pad(2)}.jsonl`);
  });

  it('writes the lines of one object in offset order, newline-terminated', () => {
    // Prepare
    const letters = [letter({ offset: 8n }, 'encode', 'second'), letter({ offset: 3n }, 'convert', 'first')];

    // Act
    const [obj] = planDeadLetters(cfg, letters);

    // Assess
    const lines = obj.body.toString('utf8').split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[2]).toBe('');
    expect(lines.slice(0, 2).map((l) => (JSON.parse(l) as { offset: string; stage: string; reason: string })))
      .toEqual([
        expect.objectContaining({ offset: '3', stage: 'convert', reason: 'first' }),
        expect.objectContaining({ offset: '8', stage: 'encode', reason: 'second' }),
      ]);
    expect(obj.body.toString('utf8')).toBe(`${deadLetterLine(letters[1])}\n${deadLetterLine(letters[0])}\n`);
  });

  it('gives the same keys and bodies for the same letters in any order (retry-stable)', () => {
    // Prepare
    const letters = [0n, 3n, 11n, 12n, 19n, 20n, 35n].map((offset) => letter({ offset }));
    const shuffled = [letters[4], letters[0], letters[6], letters[2], letters[5], letters[1], letters[3]];

    // Act
    const a = planDeadLetters(cfg, letters);
    const b = planDeadLetters(cfg, shuffled);

    // Assess
    expect(b.map((o) => [o.key, o.body.toString()])).toEqual(a.map((o) => [o.key, o.body.toString()]));
    expect(a.map((o) => o.key)).toEqual([`dead-letters/orders/partition=0/orders+0+${pad(0)}.jsonl`]);
    expect(a.map((o) => o.count)).toEqual([7]);
  });

  it('uses ERROR_PREFIX and returns nothing for no letters', () => {
    // Prepare
    const custom = { errorPrefix: 'errors/sink-a/', maxRecordsPerObject: 100_000 };

    // Act
    const objects = planDeadLetters(custom, [letter({ offset: 123_456n })]);
    const none = planDeadLetters(custom, []);

    // Assess
    expect(objects.map((o) => o.key)).toEqual([`errors/sink-a/orders/partition=0/orders+0+${pad(123_456)}.jsonl`]);
    expect(none).toEqual([]);
  });
});
