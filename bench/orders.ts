/** The benches' record: an order event of about 400 bytes (10,000 of them fill the 6 MB invoke payload). */
import { kafkaEvent, orderValue, type RecordSpec } from '../test/support/events.ts';

export const PAYLOAD_LIMIT = 6 * 1024 * 1024;
const MAX_RECORDS = 10_000;

export function benchOrder(i: number): Record<string, unknown> {
  return {
    ...orderValue(i),
    shipping: { name: `Customer ${i % 5000}`, street: `${(i % 300) + 1} Long Street`, city: ['Berlin', 'Lyon', 'Porto', 'Graz'][i % 4], zip: String(10_000 + (i % 80_000)), country: 'DE' },
    lines: [{ sku: `SKU-${i % 977}`, qty: (i % 3) + 1, price: 19.99 }],
  };
}

/** An MSK event of order records across `partitions` partitions, as many as fit the 6 MB payload (at most 10,000),
 * measured on the real JSON. */
export function benchEvent(partitions: number): { text: string; records: number; valueBytes: number } {
  const specs: RecordSpec[] = [];
  let size = JSON.stringify(kafkaEvent([])).length + partitions * 32;
  let valueBytes = 0;
  for (let i = 0; specs.length < MAX_RECORDS; i++) {
    const spec: RecordSpec = {
      topic: 'orders', partition: i % partitions, offset: 5_000_000 + i, timestamp: 1_767_225_600_000 + i * 10,
      key: `cust-${i % 5000}`, value: JSON.stringify(benchOrder(i)), headers: [['trace-id', `t-${i}`]],
    };
    const one = JSON.stringify((kafkaEvent([spec]).records as Record<string, unknown[]>)[`orders-${i % partitions}`][0]).length + 1;
    if (size + one > PAYLOAD_LIMIT) break;
    size += one;
    valueBytes += Buffer.byteLength(spec.value as string);
    specs.push(spec);
  }
  const text = JSON.stringify(kafkaEvent(specs));
  if (text.length > PAYLOAD_LIMIT) throw new Error(`event is ${text.length} bytes, over the payload limit`);
  return { text, records: specs.length, valueBytes };
}
