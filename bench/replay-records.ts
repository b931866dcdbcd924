/** The records bench:replay lands in S3 (through the sink) and replays, and its bare producer sends: order events. */
import { sampleOrder } from '../bin/runner/sample-source.ts';

export const PARTITIONS = 3;
const START = Date.UTC(2026, 0, 1);

export interface BenchRecord {
  readonly partition: number;
  readonly offset: number;
  readonly key: string;
  readonly value: string;
  readonly trace: string;
  readonly timestamp: number;
}

/** Record i goes to partition i % partitions, at offset i / partitions there. */
export function* benchRecords(count: number, partitions = PARTITIONS): Generator<BenchRecord> {
  for (let i = 0; i < count; i++) {
    yield { partition: i % partitions, offset: Math.floor(i / partitions), key: `cust-${i % 5000}`, value: JSON.stringify(sampleOrder(i, START + i)), trace: `t-${i}`, timestamp: START + i };
  }
}
