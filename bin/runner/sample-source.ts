/**
 * The built-in sample source of `npm start`: realistic order events across several partitions (keys, headers,
 * some records without a key, some tombstones), or the lines of a JSON-lines file as values.
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { RunnerRecord } from './event.ts';
import { UsageError } from './cli.ts';

export interface SampleOptions {
  readonly topic: string;
  readonly partitions: number;
  readonly records: number;
  /** Epoch ms of the first record; records are 50 ms apart. */
  readonly startTime: number;
}

const STATUSES = ['created', 'paid', 'shipped', 'delivered', 'cancelled'];
const CITIES = ['Berlin', 'Lyon', 'Porto', 'Graz', 'Gdansk', 'Utrecht'];

export function sampleOrder(i: number, time: number): Record<string, unknown> {
  return {
    order_id: `ord-${String(i).padStart(9, '0')}`,
    customer_id: 100_000 + ((i * 7919) % 50_000),
    status: STATUSES[i % STATUSES.length],
    amount: Math.round(((i * 3779) % 100_000) + 99) / 100,
    currency: 'EUR',
    items: (i % 5) + 1,
    city: CITIES[i % CITIES.length],
    express: i % 3 === 0,
    created_at: new Date(time).toISOString(),
  };
}

export async function* sampleRecords(o: SampleOptions): AsyncGenerator<RunnerRecord> {
  const next = new Array<bigint>(o.partitions).fill(0n);
  for (let i = 0; i < o.records; i++) {
    const partition = i % o.partitions;
    const time = o.startTime + i * 50;
    const order = sampleOrder(i, time);
    yield {
      topic: o.topic,
      partition,
      offset: next[partition]++,
      timestamp: time,
      timestampType: 'CREATE_TIME',
      key: i % 50 === 7 ? null : Buffer.from(String(order.order_id)),
      // Every 200th record deletes an order (a tombstone).
      value: i % 200 === 199 ? null : Buffer.from(JSON.stringify(order)),
      headers: [{ key: 'source', value: Buffer.from('sample') }, { key: 'trace-id', value: Buffer.from(`t-${i}`) }],
    };
  }
}

/** Each non-empty line of a JSON-lines file becomes one record's value, spread over the partitions. */
export async function* fileRecords(path: string, topic: string, partitions: number, startTime: number): AsyncGenerator<RunnerRecord> {
  const next = new Array<bigint>(partitions).fill(0n);
  let i = 0;
  for await (const line of createInterface({ input: createReadStream(path), crlfDelay: Infinity })) {
    if (line.trim() === '') continue;
    const partition = i % partitions;
    yield { topic, partition, offset: next[partition]++, timestamp: startTime + i * 50, timestampType: 'CREATE_TIME', key: null, value: Buffer.from(line), headers: [] };
    i++;
  }
  // An empty file is a mistake (the wrong file, a failed export), not a run of nothing.
  if (i === 0) throw new UsageError(`--input ${path}: no records (the file has no line that is not blank): give a file of JSON lines`);
}

/** Records a source has at once (generated, or a file's lines) in chunks of up to `size`: what one read brings. */
export async function* chunksOf(records: AsyncIterable<RunnerRecord>, size = 1000): AsyncGenerator<RunnerRecord[]> {
  let chunk: RunnerRecord[] = [];
  for await (const r of records) {
    chunk.push(r);
    if (chunk.length >= size) {
      yield chunk;
      chunk = [];
    }
  }
  if (chunk.length > 0) yield chunk;
}
