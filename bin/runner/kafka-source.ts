/**
 * Kafka as the runner's source: a consumer group reading from the committed offsets (earliest when none), with no
 * automatic commits — offsets are committed only after the function succeeded for the records before them.
 */
import { Consumer, type Message } from '@platformatic/kafka';
import type { RunnerRecord } from './event.ts';

export interface KafkaSourceOptions {
  readonly brokers: readonly string[];
  readonly topics: readonly string[];
  readonly groupId: string;
  readonly clientId?: string;
}

export class KafkaSource {
  private readonly consumer: Consumer;
  private readonly options: KafkaSourceOptions;
  private readonly epochs = new Map<string, number>();
  /** Next offset to read per topic-partition (after the last record handed out). */
  private readonly positions = new Map<string, bigint>();
  private stream?: AsyncIterable<Message> & { close(): Promise<void> | void };

  constructor(options: KafkaSourceOptions) {
    this.options = options;
    this.consumer = new Consumer({
      groupId: options.groupId,
      clientId: options.clientId ?? 'kafka-s3-runner',
      bootstrapBrokers: [...options.brokers],
      autocommit: false,
      maxWaitTime: 500,
      // Fetch about a full event source batch (6 MB) at a time rather than the client's small default.
      maxBytes: 16 * 1024 * 1024,
      maxBytesPerPartition: 8 * 1024 * 1024,
      sessionTimeout: 20_000,
      heartbeatInterval: 1_000,
    });
    // Partitions this member owns: records of a partition revoked by a rebalance are neither delivered nor committed
    // by this runner any more (the new owner reads them from the committed offset).
    this.consumer.on('consumer:group:join', (payload: { assignments?: { topic: string; partitions: number[] }[] }) => {
      const list = payload.assignments ?? this.consumer.assignments;
      if (!list) return; // no assignment known yet: keep what we have
      const owned = new Set<string>();
      for (const a of list) for (const p of a.partitions) owned.add(`${a.topic}\u0000${p}`);
      for (const tp of [...this.positions.keys()]) if (!owned.has(tp)) this.positions.delete(tp);
      this.assigned = owned;
    });
    // A failed rejoin is reported as an 'error' event; unhandled it would end the process without closing cleanly.
    this.consumer.on('error', (err: Error) => {
      this.failure = err;
      void this.stream?.close();
    });
  }

  /** Set when the consumer failed: the runner stops, uncommitted records are read again on the next start. */
  failure?: Error;
  private assigned?: Set<string>;

  /** Whether this member still owns the partition (true until the first assignment is known). */
  owns(topic: string, partition: number): boolean {
    return this.assigned === undefined || this.assigned.has(`${topic}\u0000${partition}`);
  }

  describe() {
    return { eventSource: 'SelfManagedKafka' as const, bootstrapServers: this.options.brokers.join(',') };
  }

  async *records(): AsyncGenerator<RunnerRecord> {
    const stream = await this.consumer.consume({ topics: [...this.options.topics], mode: 'committed', fallbackMode: 'earliest', autocommit: false });
    this.stream = stream as unknown as AsyncIterable<Message> & { close(): Promise<void> };
    try {
      yield* this.messages();
    } catch (err) {
      // Closing the source aborts the fetch in flight: the end of the records, not a failure.
      if (!this.closing && !this.failure) throw err;
    }
    // A consumer that failed must not look like the end of the topics: the open batch is not flushed or committed.
    if (this.failure) throw new Error(`Kafka consumer failed: ${this.failure.message}`, { cause: this.failure });
  }

  private async *messages(): AsyncGenerator<RunnerRecord> {
    for await (const m of this.stream!) {
      const tp = `${m.topic}\u0000${m.partition}`;
      // After a group rejoin the client rewinds to the committed offset, while records read before it are still in
      // the runner's batch: what was handed out already is not handed out again (no duplicates, offsets stay ordered).
      const next = this.positions.get(tp);
      if (next !== undefined && m.offset < next) continue;
      this.epochs.set(tp, m.leaderEpoch);
      this.positions.set(tp, m.offset + 1n);
      yield {
        topic: m.topic,
        partition: m.partition,
        offset: m.offset,
        timestamp: Number(m.timestamp),
        // The client gives an absent key/value as undefined; an empty one stays an empty buffer.
        key: m.key === undefined || m.key === null ? null : Buffer.from(m.key),
        value: m.value === undefined || m.value === null ? null : Buffer.from(m.value),
        headers: (m.headerEntries ?? []).map(([k, v]) => [Buffer.from(k).toString('utf8'), v === null || v === undefined ? null : Buffer.from(v)] as const),
      };
    }
  }

  /** Commits, per partition, the offset after the last record given. */
  async commit(records: readonly RunnerRecord[]): Promise<void> {
    const last = new Map<string, RunnerRecord>();
    for (const r of records) {
      const k = `${r.topic}\u0000${r.partition}`;
      const seen = last.get(k);
      if (!seen || r.offset > seen.offset) last.set(k, r);
    }
    await this.consumer.commit({
      offsets: [...last.entries()].map(([k, r]) => ({ topic: r.topic, partition: r.partition, offset: r.offset + 1n, leaderEpoch: this.epochs.get(k) ?? -1 })),
    });
  }

  /** Records in the topics not yet read: end offsets minus the positions reached (partitions not read yet count whole). */
  async lag(): Promise<number | undefined> {
    try {
      const ends = await this.consumer.listOffsets({ topics: [...this.options.topics] });
      let lag = 0n;
      for (const [topic, offsets] of ends) {
        offsets.forEach((end, partition) => {
          const pos = this.positions.get(`${topic}\u0000${partition}`) ?? 0n;
          if (end > pos) lag += end - pos;
        });
      }
      return Number(lag);
    } catch {
      return undefined;
    }
  }

  private closing = false;

  async close(): Promise<void> {
    this.closing = true;
    // Closing aborts the fetch in flight, which the stream reports as an AbortError: expected here.
    const quiet = (err: unknown) => {
      if ((err as Error)?.name !== 'AbortError') throw err;
    };
    await Promise.resolve(this.stream?.close()).catch(quiet);
    await this.consumer.close(true).catch(quiet);
  }
}
