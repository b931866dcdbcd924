/**
 * The Kafka side of a replay: an idempotent producer (acks=all; each send awaited before the next, so a partition's
 * records land in the order they are sent), the target's end offsets, and a reader of what landed after a checkpoint
 * (the origin header of each record: resume.ts). The reader fetches partitions by offset with no consumer group.
 */
import { Consumer, murmur2, ProduceAcks, Producer, type MessageToProduce } from '@platformatic/kafka';

/** The header each replayed record carries: where it came from (resume.ts, originOf). */
export const ORIGIN_HEADER = 'kafka-s3-replay';

export interface KafkaConnection {
  readonly brokers: readonly string[];
  readonly clientId: string;
  /** SASL (MSK IAM: OAUTHBEARER with a token provider) and TLS, as @platformatic/kafka takes them. */
  readonly sasl?: unknown;
  readonly tls?: unknown;
}

export interface LandedRecord {
  readonly partition: number;
  readonly offset: bigint;
  /** The last ORIGIN_HEADER value of the record, if it has one. */
  readonly origin?: string;
}

/** Java's default partitioner for a keyed record (murmur2, positive, modulo the partitions): where Kafka Connect and
 * the Java producer put a key, so a re-partitioned topic keeps keys where consumers of the original expect them. */
export function partitionForKey(key: Buffer, partitions: number): number {
  return (murmur2(key) & 0x7fffffff) % partitions;
}

export class KafkaTarget {
  private readonly producer: Producer;
  private readonly reader: Consumer;
  private readonly partitionCounts = new Map<string, number>();
  /** Bytes and records sent. */
  sentRecords = 0;
  sentBytes = 0;

  constructor(conn: KafkaConnection) {
    const base = {
      clientId: conn.clientId, bootstrapBrokers: [...conn.brokers],
      ...(conn.sasl ? { sasl: conn.sasl as never } : {}), ...(conn.tls ? { tls: conn.tls as never } : {}),
      retries: 5, retryDelay: 250, timeout: 15_000,
    };
    this.producer = new Producer({ ...base, idempotent: true, acks: ProduceAcks.ALL });
    this.reader = new Consumer({ ...base, clientId: `${conn.clientId}-reader`, groupId: `${conn.clientId}-unused`, autocommit: false });
  }

  /** The topic's partition count; throws naming the topic when it does not exist. */
  async partitions(topic: string): Promise<number> {
    const known = this.partitionCounts.get(topic);
    if (known !== undefined) return known;
    let count: number | undefined;
    try {
      count = (await this.reader.metadata({ topics: [topic] })).topics.get(topic)?.partitionsCount;
    } catch (err) {
      throw new Error(`target topic ${topic}: ${(err as Error).message}`, { cause: err });
    }
    if (!count) throw new Error(`target topic ${topic} does not exist: create it first (replay does not create topics)`);
    this.partitionCounts.set(topic, count);
    return count;
  }

  /** The next offset of every partition of the topic (its high watermark). */
  async ends(topic: string): Promise<bigint[]> {
    const offsets = await this.reader.listOffsets({ topics: [topic], isolationLevel: 0 });
    const list = offsets.get(topic);
    if (!list) throw new Error(`target topic ${topic}: no end offsets listed`);
    return list;
  }

  /** Sends the records and waits until the brokers have them all (acks=all). */
  async send(messages: MessageToProduce<Buffer, Buffer, Buffer, Buffer>[]): Promise<void> {
    if (messages.length === 0) return;
    await this.producer.send({ messages });
    this.sentRecords += messages.length;
    for (const m of messages) this.sentBytes += (m.value?.length ?? 0) + (m.key?.length ?? 0);
  }

  /**
   * Every record of the topic's partitions from `from[p]` up to the end as it is now, with its origin header: what a
   * replay sent after its checkpoint. A partition is read to the high watermark listed before reading.
   */
  async *landed(topic: string, from: readonly bigint[]): AsyncGenerator<LandedRecord[]> {
    const ends = await this.ends(topic);
    const metadata = await this.reader.metadata({ topics: [topic] });
    const t = metadata.topics.get(topic)!;
    const origin = Buffer.from(ORIGIN_HEADER);
    for (let p = 0; p < ends.length; p++) {
      let next = from[p] ?? 0n;
      while (next < ends[p]) {
        const fetch = () => this.reader.fetch({
          node: t.partitions[p].leader,
          topics: [{ topicId: t.id, partitions: [{ partition: p, fetchOffset: next, partitionMaxBytes: 8 << 20, currentLeaderEpoch: -1, lastFetchedEpoch: -1 }] }],
          maxWaitTime: 500, minBytes: 1, maxBytes: 8 << 20, isolationLevel: 0,
        });
        let response: Awaited<ReturnType<typeof fetch>> | undefined;
        // An offset below the end listed can still be refused as out of range for a moment (a partition just created,
        // a leader just elected): tried again, and if it stays so, the error names where the partition stands.
        for (let attempt = 1; response === undefined; attempt++) {
          try {
            response = await fetch();
          } catch (err) {
            if (!outOfRange(err)) throw err;
            if (attempt >= OUT_OF_RANGE_ATTEMPTS) {
              const now = (await this.ends(topic))[p];
              throw new Error(`target ${topic}/${p}: the fetch at offset ${next} (below the end ${ends[p]} listed before) was out of range ${attempt} times; the partition's end is now ${now}`, { cause: err });
            }
            await new Promise((resolve) => setTimeout(resolve, 200 * attempt));
          }
        }
        const part = response.responses[0]?.partitions[0];
        if (!part) throw new Error(`target ${topic}/${p}: the fetch at offset ${next} returned nothing`);
        if (part.errorCode !== 0) throw new Error(`target ${topic}/${p}: the fetch at offset ${next} failed with Kafka error code ${part.errorCode}`);
        const out: LandedRecord[] = [];
        let advanced = false;
        for (const batch of part.records ?? []) {
          for (const r of batch.records) {
            const offset = batch.firstOffset + BigInt(r.offsetDelta);
            if (offset < next) continue;
            let value: string | undefined;
            for (const [k, v] of r.headers) if (k !== null && v !== null && k.equals(origin)) value = v.toString('utf8');
            if (offset < ends[p]) out.push({ partition: p, offset, ...(value !== undefined ? { origin: value } : {}) });
          }
          // Compacted topics and transaction markers leave gaps: the batch's last offset moves the position.
          const last = batch.firstOffset + BigInt(batch.lastOffsetDelta);
          if (last + 1n > next) {
            next = last + 1n;
            advanced = true;
          }
        }
        if (out.length > 0) yield out;
        if (!advanced) throw new Error(`target ${topic}/${p}: no records from offset ${next} below the end ${ends[p]}`);
      }
    }
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.producer.close(), this.reader.close()]);
  }
}

/** Fetches of one offset refused as out of range before the resume gives up (about 3 s in all). */
const OUT_OF_RANGE_ATTEMPTS = 6;
/** Kafka's OFFSET_OUT_OF_RANGE. */
const OFFSET_OUT_OF_RANGE = 1;

/** Whether a fetch was refused as OFFSET_OUT_OF_RANGE (the client's ResponseError carries the partition's code). */
function outOfRange(err: unknown): boolean {
  const e = err as { response?: { responses?: { partitions?: { errorCode?: number }[] }[] } };
  return e?.response?.responses?.[0]?.partitions?.[0]?.errorCode === OFFSET_OUT_OF_RANGE;
}
