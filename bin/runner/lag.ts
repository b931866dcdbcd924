/**
 * Lag per partition, true when the runner is idle: for Kafka, the topics' end offsets minus the consumer group's
 * committed offsets (what the broker says, polled with an admin client); for the sample source, the records each
 * partition will get minus those committed.
 */
import { Admin } from '@platformatic/kafka';
import type { RunnerRecord } from './event.ts';

/** `topic\u0000partition` → records not committed yet. */
export type LagMap = Map<string, number>;

export const tpKey = (topic: string, partition: number) => `${topic}\u0000${partition}`;
export const tpName = (key: string) => key.replace('\u0000', '/');

export interface LagSource {
  /** Current lag per partition, or undefined when unknown. */
  poll(): Promise<LagMap | undefined>;
  /** Records committed (sample source bookkeeping). */
  committed?(records: readonly RunnerRecord[]): void;
  close(): Promise<void>;
}

export function sampleLag(topic: string, partitions: number, records: number): LagSource {
  const left = new Map<string, number>();
  for (let p = 0; p < partitions; p++) left.set(tpKey(topic, p), Math.max(0, Math.ceil((records - p) / partitions)));
  return {
    poll: async () => new Map(left),
    committed: (rs) => {
      for (const r of rs) {
        const k = tpKey(r.topic, r.partition);
        left.set(k, Math.max(0, (left.get(k) ?? 0) - 1));
      }
    },
    close: async () => {},
  };
}

export function kafkaLag(brokers: readonly string[], topics: readonly string[], group: string): LagSource {
  const admin = new Admin({ clientId: 'kafka-s3-runner-lag', bootstrapBrokers: [...brokers], timeout: 5000, retries: 1 });
  return {
    poll: async () => {
      try {
        const meta = await admin.metadata({ topics: [...topics] });
        const req = (timestamp: bigint) => [...meta.topics.entries()].map(([name, t]) => ({
          name, partitions: t.partitions.map((_, partitionIndex) => ({ partitionIndex, timestamp })),
        }));
        const [ends, starts, groups] = await Promise.all([
          admin.listOffsets({ topics: req(-1n) }),
          admin.listOffsets({ topics: req(-2n) }),
          admin.listConsumerGroupOffsets({ groups: [group] }),
        ]);
        const committed = new Map<string, bigint>();
        for (const g of groups) for (const t of g.topics ?? []) for (const p of t.partitions) committed.set(tpKey(t.name, p.partitionIndex), p.committedOffset);
        const start = new Map<string, bigint>();
        for (const t of starts) for (const p of t.partitions) start.set(tpKey(t.name, p.partitionIndex), p.offset);
        const lag: LagMap = new Map();
        for (const t of ends) {
          for (const p of t.partitions) {
            const k = tpKey(t.name, p.partitionIndex);
            const c = committed.get(k);
            // No committed offset: the runner starts from the earliest record still in the log.
            const from = c !== undefined && c >= 0n ? c : start.get(k) ?? 0n;
            lag.set(k, Number(p.offset > from ? p.offset - from : 0n));
          }
        }
        return lag;
      } catch {
        return undefined;
      }
    },
    close: () => admin.close().catch(() => {}),
  };
}
