/** Builds Kafka event source events (the MSK / self-managed shape) for tests and the benchmark. */
export interface RecordSpec {
  topic?: string;
  partition?: number;
  offset: number | bigint;
  timestamp?: number;
  key?: string | Buffer | null;
  value?: string | Buffer | null;
  headers?: [string, string | Buffer][];
}

const b64 = (v: string | Buffer) => (typeof v === 'string' ? Buffer.from(v, 'utf8') : v).toString('base64');

export function kafkaEvent(records: RecordSpec[], eventSource: 'aws:kafka' | 'SelfManagedKafka' = 'aws:kafka'): Record<string, unknown> {
  const grouped: Record<string, unknown[]> = {};
  for (const r of records) {
    const topic = r.topic ?? 'orders';
    const partition = r.partition ?? 0;
    (grouped[`${topic}-${partition}`] ??= []).push({
      topic,
      partition,
      offset: typeof r.offset === 'bigint' ? Number(r.offset) : r.offset,
      timestamp: r.timestamp ?? 1_767_225_600_000 + Number(r.offset),
      timestampType: 'CREATE_TIME',
      ...(r.key === undefined ? {} : { key: r.key === null ? null : b64(r.key) }),
      value: r.value === null || r.value === undefined ? null : b64(r.value),
      headers: (r.headers ?? []).map(([k, v]) => ({ [k]: [...(typeof v === 'string' ? Buffer.from(v) : v)] })),
    });
  }
  return {
    eventSource,
    ...(eventSource === 'aws:kafka' ? { eventSourceArn: 'arn:aws:kafka:us-east-1:123456789012:cluster/demo/abc' } : {}),
    bootstrapServers: 'b-1.demo:9098',
    records: grouped,
  };
}

/** Realistic order events (the benchmark and property tests use these). */
export function orderValue(i: number): Record<string, unknown> {
  return {
    order_id: `ord-${String(i).padStart(9, '0')}`,
    customer_id: 100_000 + (i * 7919) % 50_000,
    status: ['created', 'paid', 'shipped', 'delivered'][i % 4],
    amount: Math.round(((i * 37) % 100_000) + 0.99 * 100) / 100,
    currency: 'EUR',
    items: (i % 5) + 1,
    created_at: new Date(1_767_225_600_000 + i * 1000).toISOString(),
    express: i % 3 === 0,
  };
}
