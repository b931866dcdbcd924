/** A batch that exercises every field: keys (text, null), repeated headers, exact 64-bit integers, unicode. */
import { kafkaEvent, orderValue, type RecordSpec } from '../support/events.ts';

export const INT64_MAX = 9_223_372_036_854_775_807n;

export function valueJson(i: number): string {
  const v = { ...orderValue(i), note: i % 4 === 0 ? 'Grüße, "quoted", x\ty' : `plain ${i}` };
  // JSON.stringify cannot write an exact int64, so the big field is spliced in as text.
  return JSON.stringify(v).replace(/}$/, `,"big":${INT64_MAX - BigInt(i)}}`);
}

export function sampleRecords(count: number, topic = 'orders', partition = 0, first = 0): RecordSpec[] {
  return Array.from({ length: count }, (_, n) => {
    const i = first + n;
    return {
      topic,
      partition,
      offset: i,
      timestamp: 1_767_225_600_000 + i * 1_000,
      key: i % 5 === 4 ? null : `cust-${i % 7}`,
      value: i % 10 === 3 ? JSON.stringify(JSON.parse(valueJson(i).replace(/,"big":\d+/, '')), null, 2) : valueJson(i),
      headers: i % 2 === 0 ? [['trace', `t-${i}`], ['trace', 'second'], ['source', 'test']] : [],
    };
  });
}

export function sampleEvent(count = 25) {
  return kafkaEvent([...sampleRecords(count, 'orders', 0), ...sampleRecords(5, 'payments', 3, 1000)]);
}
