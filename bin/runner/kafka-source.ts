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
  private stream?: AsyncIterable<Message> & { close(): Promise<void> | void };

  constructor(options: KafkaSourceOptions) {
    this.options = options;
    this.consumer = new Consumer({
      groupId: options.groupId,
      clientId: options.clientId ?? 'kafka-s3-runner',
      bootstrapBrokers: [...options.brokers],
      autocommit: false,
      maxWaitTime: 500,
      sessionTimeout: 20_000,
      heartbeatInterval: 1_000,
    });
  }

  describe() {
    return { eventSource: 'SelfManagedKafka' as const, bootstrapServers: this.options.brokers.join(',') };
  }

  async *records(): AsyncGenerator<RunnerRecord> {
    const stream = await this.consumer.consume({ topics: [...this.options.topics], mode: 'committed', fallbackMode: 'earliest', autocommit: false });
    this.stream = stream as unknown as AsyncIterable<Message> & { close(): Promise<void> };
    for await (const m of this.stream) {
      this.epochs.set(`${m.topic}\u0000${m.partition}`, m.leaderEpoch);
      yield {
        topic: m.topic,
        partition: m.partition,
        offset: m.offset,
        timestamp: Number(m.timestamp),
        // The client gives an absent key/value as undefined; an empty one stays an empty buffer.
        key: m.key === undefined || m.key === null ? null : Buffer.from(m.key),
        value: m.value === undefined || m.value === null ? null : Buffer.from(m.value),
        headers: (m.headerEntries ?? []).map(([k, v]) => [Buffer.from(k).toString('utf8'), Buffer.from(v ?? Buffer.alloc(0))] as const),
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

  async close(): Promise<void> {
    await this.stream?.close();
    await this.consumer.close(true);
  }
}
