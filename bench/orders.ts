/** The benches' record: an order event of about 400 bytes (10,000 of them fill the 6 MB invoke payload). */
import { orderValue } from '../test/support/events.ts';

export function benchOrder(i: number): Record<string, unknown> {
  return {
    ...orderValue(i),
    shipping: { name: `Customer ${i % 5000}`, street: `${(i % 300) + 1} Long Street`, city: ['Berlin', 'Lyon', 'Porto', 'Graz'][i % 4], zip: String(10_000 + (i % 80_000)), country: 'DE' },
    lines: [{ sku: `SKU-${i % 977}`, qty: (i % 3) + 1, price: 19.99 }],
  };
}
