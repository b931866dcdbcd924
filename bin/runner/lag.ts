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
  /** Records this runner committed: the lag after them, without asking the broker (undefined before a first poll). */
  committed?(records: readonly RunnerRecord[]): LagMap | undefined;
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
      return new Map(left);
    },
    close: async () => {},
  };
}

/** Keeps the newer of `r`'s offset and the one noted for its partition. */
function newer(newest: Map<string, bigint>, r: RunnerRecord): void {
  const k = tpKey(r.topic, r.partition);
  const seen = newest.get(k);
  if (seen === undefined || r.offset > seen) newest.set(k, r.offset);
}

export function kafkaLag(brokers: readonly string[], topics: readonly string[], group: string): LagSource {
  const admin = new Admin({ clientId: 'kafka-s3-runner-lag', bootstrapBrokers: [...brokers], timeout: 5000, retries: 1 });
  // The end offsets and lag of the last poll: a commit of this runner lowers its partitions' lag at once (the next
  // poll, every 2 s, says again what the broker says, other members' commits and rewinds included).
  let ends = new Map<string, bigint>();
  let last: LagMap | undefined;
  // Offsets this runner committed while a poll was under way: that poll may have read the group's offsets before them.
  let during = new Map<string, bigint>();
  return {
    poll: async () => {
      during = new Map();
      const since = during;
      try {
        const meta = await admin.metadata({ topics: [...topics] });
        const req = (timestamp: bigint) => [...meta.topics.entries()].map(([name, t]) => ({
          name, partitions: t.partitions.map((_, partitionIndex) => ({ partitionIndex, timestamp })),
        }));
        const [listed, starts, groups] = await Promise.all([
          admin.listOffsets({ topics: req(-1n) }),
          admin.listOffsets({ topics: req(-2n) }),
          admin.listConsumerGroupOffsets({ groups: [group] }),
        ]);
        const committed = new Map<string, bigint>();
        for (const g of groups) for (const t of g.topics ?? []) for (const p of t.partitions) committed.set(tpKey(t.name, p.partitionIndex), p.committedOffset);
        const start = new Map<string, bigint>();
        for (const t of starts) for (const p of t.partitions) start.set(tpKey(t.name, p.partitionIndex), p.offset);
        const lag: LagMap = new Map();
        const endOf = new Map<string, bigint>();
        for (const t of listed) {
          for (const p of t.partitions) {
            const k = tpKey(t.name, p.partitionIndex);
            const c = committed.get(k);
            // No committed offset: the runner starts from the earliest record still in the log.
            const from = c !== undefined && c >= 0n ? c : start.get(k) ?? 0n;
            const mine = since.get(k);
            const next = mine !== undefined && mine > from ? mine : from;
            lag.set(k, Number(p.offset > next ? p.offset - next : 0n));
            endOf.set(k, p.offset);
          }
        }
        ends = endOf;
        last = lag;
        return new Map(lag);
      } catch {
        return undefined;
      }
    },
    committed: (rs) => {
      // The newest offset per partition, a key per run of one partition (not per record: a batch holds 10,000).
      const newest = new Map<string, bigint>();
      let run: RunnerRecord | undefined;
      for (let i = 0; i < rs.length; i++) {
        const r = rs[i];
        if (run !== undefined && run.partition === r.partition && run.topic === r.topic) {
          if (r.offset > run.offset) run = r;
          continue;
        }
        if (run !== undefined) newer(newest, run);
        run = r;
      }
      if (run !== undefined) newer(newest, run);
      for (const [k, offset] of newest) {
        const next = offset + 1n;
        if ((during.get(k) ?? -1n) < next) during.set(k, next);
        const end = ends.get(k);
        if (end === undefined || !last) continue;
        const left = Number(end > next ? end - next : 0n);
        if (left < (last.get(k) ?? Infinity)) last.set(k, left);
      }
      return last && new Map(last);
    },
    close: () => admin.close().catch(() => {}),
  };
}
