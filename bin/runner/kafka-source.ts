/**
 * Kafka as the runner's source: a consumer group, no automatic commits — offsets are committed only after the
 * function succeeded for the records before them.
 *
 * Rebalances, correct by construction (see `Assignment`):
 * - every `consumer:group:join` starts a new **generation** with the partitions the group gave this member;
 * - each generation starts at the partitions' committed offsets (earliest where the group has none): the source
 *   fetches from positions it keeps per generation, so the rewind is always applied;
 * - a response asked for by an older generation, or records of a partition not owned in the current generation, are
 *   dropped without moving any position (the partition's next owner, or this member's next generation, reads them
 *   from the committed offset);
 * - a record handed out is tagged with its generation: the runner writes and commits it only while that generation
 *   is current and its partition still owned (`current`), so a commit never covers a record it did not write.
 */
import { Consumer } from '@platformatic/kafka';
import type { RunnerRecord } from './event.ts';

export interface KafkaSourceOptions {
  readonly brokers: readonly string[];
  readonly topics: readonly string[];
  readonly groupId: string;
  readonly clientId?: string;
  /** Bytes one fetch response may hold: the client's read-ahead per broker. @default FETCH_MAX_BYTES */
  readonly fetchMaxBytes?: number;
  /** Bytes one partition may add to a fetch response. @default FETCH_PARTITION_MAX_BYTES */
  readonly fetchPartitionMaxBytes?: number;
}

/**
 * Fetch sizes. A response is handed out in its order, partition after partition, and a rebalance drops what is left
 * of it (the next generation reads again from the committed offsets). With 8 MiB per partition and 16 MiB a
 * response, a backlog of small records filled each response with one or two partitions, so the others waited tens of
 * seconds behind them, and under rebalances every few seconds a 1-partition topic of large values got nothing
 * written for 1,237 s of a 1,000,000-record soak. 256 KiB per partition in responses of at most 4 MiB puts every
 * partition with records in each response (up to sixteen with a backlog; the broker's fetch session moves those that
 * returned data to the end of its list), so a partition with records left waits at most two responses (8 MiB) of
 * the others' records, in practice one share of each other partition (a few thousand small records, not tens of
 * thousands: with 1 MiB a share, a runner alone on five backlogged partitions at batch size 600 left one partition
 * unwritten for 348 s while it worked through the others' shares under S3 stalls), and the read-ahead held in
 * memory stays small.
 */
export const FETCH_MAX_BYTES = 4 * 1024 * 1024;
export const FETCH_PARTITION_MAX_BYTES = 256 * 1024;

/**
 * The partitions of fetch number `turn`, rotated so that each is first in turn. Without a fetch session (the broker's
 * session cache full, or after a session error) the broker fills a response in the request's order and only the
 * first partition is sure to get data (KIP-74), while the client always asks in the same order: rotating gives each
 * partition the first place once every n fetches. Within a session the broker keeps its own order (KIP-227) and
 * this changes nothing.
 */
export function rotateFetch<T>(partitions: readonly T[], turn: number): T[] {
  const n = partitions.length;
  if (n < 2) return [...partitions];
  const k = turn % n;
  return [...partitions.slice(k), ...partitions.slice(0, k)];
}

/** The generation a record was handed out in (a symbol: no serializer sees it). */
export const GENERATION: unique symbol = Symbol('generation');
type Tagged = RunnerRecord & { [GENERATION]?: number };
const NO_HEADERS: RunnerRecord['headers'] = Object.freeze([]);

/**
 * A record as the consumer hands it out: already the sink's decoded record (the runner passes its batches to the
 * sink as they are), tagged with its generation. One class, so every record has one shape.
 */
class ConsumedRecord implements RunnerRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: bigint;
  readonly timestamp: number;
  readonly timestampType: string;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers: RunnerRecord['headers'];
  readonly [GENERATION]: number;
  constructor(topic: string, partition: number, offset: bigint, timestamp: number, timestampType: string, key: Buffer | null, value: Buffer | null, headers: RunnerRecord['headers'], generation: number) {
    this.topic = topic;
    this.partition = partition;
    this.offset = offset;
    this.timestamp = timestamp;
    this.timestampType = timestampType;
    this.key = key;
    this.value = value;
    this.headers = headers;
    this[GENERATION] = generation;
  }
}

/**
 * Per owned partition: the generation's start offset, the last offset handed out (no BigInt made per record), and
 * the offset after the last batch fetched when that is further (a batch with nothing to hand out: a transaction
 * marker, aborted records, a compacted range).
 */
type Position = { readonly start: bigint; last?: bigint; past?: bigint };

/** The next offset to fetch at `p`. */
function nextOffset(p: Position): bigint {
  const handed = p.last === undefined ? p.start : p.last + 1n;
  return p.past !== undefined && p.past > handed ? p.past : handed;
}

/** Hands out `offset` at `p` (moves the position past it): false when it is before the start or handed out already. */
function advance(p: Position, offset: bigint): boolean {
  if (p.last === undefined ? offset < p.start : offset <= p.last) return false;
  p.last = offset;
  return true;
}

/** Header names as the records repeat them: one string per distinct name, not one per record. */
class HeaderNames {
  private bytes: Buffer[] = [];
  private names: string[] = [];
  name(k: Buffer): string {
    const bytes = this.bytes;
    for (let i = 0; i < bytes.length; i++) if (bytes[i].length === k.length && bytes[i].equals(k)) return this.names[i];
    const name = k.toString('utf8');
    // A few names at most: a topic whose records carry many distinct names keeps the recent ones.
    if (bytes.length >= 16) {
      bytes.shift();
      this.names.shift();
    }
    bytes.push(Buffer.from(k));
    this.names.push(name);
    return name;
  }
}

/** Keys of topic-partitions, made once each: a record's checks (several per record) allocate no string and find
 * their Map entries by a string whose hash is already known. */
const tpKeys = new Map<string, string[]>();
function tpKey(topic: string, partition: number): string {
  let keys = tpKeys.get(topic);
  if (keys === undefined) tpKeys.set(topic, (keys = []));
  return (keys[partition] ??= `${topic}\u0000${partition}`);
}

/**
 * Ownership and positions of one group member, without I/O (test/bin/runner/assignment.test.ts checks it against a
 * model). A position exists only for a partition owned in the current generation, and only once that generation's
 * start offsets are known; nothing else moves it.
 */
export class Assignment {
  generation = 0;
  private owned = new Set<string>();
  private positions = new Map<string, Position>();
  private started = false;

  /** A new generation owning exactly `partitions` (keys of `tpKey`); positions wait for `start`. */
  assign(partitions: Iterable<string>): number {
    this.generation++;
    this.owned = new Set(partitions);
    this.positions = new Map();
    this.started = false;
    return this.generation;
  }

  /** Nothing owned any more (left the group, failed): a new generation owning nothing. */
  revokeAll(): number {
    return this.assign([]);
  }

  /** The generation's start offsets (committed, or earliest): false when that generation is already over. */
  start(generation: number, offsets: ReadonlyMap<string, bigint>): boolean {
    if (generation !== this.generation) return false;
    for (const tp of this.owned) {
      const at = offsets.get(tp);
      if (at === undefined) throw new Error(`no start offset for ${tp.replace('\u0000', '/')}`);
      this.positions.set(tp, { start: at });
    }
    this.started = true;
    return true;
  }

  /** A record a stream of `generation` delivered: true when it is handed out (and the position moves past it). */
  accept(generation: number, tp: string, offset: bigint): boolean {
    const p = this.positionOf(generation, tp);
    // Not owned, or before the start, or handed out already in this generation.
    return p !== undefined && advance(p, offset);
  }

  /**
   * Where a stream of `generation` hands out records of `tp`: undefined when that generation is over, not started, or
   * does not own it. Valid until the next `assign` (the stream reads a run of one partition's records through it).
   */
  positionOf(generation: number, tp: string): Position | undefined {
    return generation !== this.generation || !this.started ? undefined : this.positions.get(tp);
  }

  /** Whether a record handed out in `generation` may still be written and committed. */
  current(generation: number | undefined, tp: string): boolean {
    return generation === this.generation && this.positions.has(tp);
  }

  owns(tp: string): boolean {
    return this.owned.has(tp);
  }

  partitions(): string[] {
    return [...this.owned];
  }

  /** The next offset to fetch (past every offset handed out, and every batch fetched). */
  position(tp: string): bigint | undefined {
    const p = this.positions.get(tp);
    return p === undefined ? undefined : nextOffset(p);
  }

  get isStarted(): boolean {
    return this.started;
  }
}

/** A fetch response as the client parses it (the fields the source reads). */
interface FetchResponse {
  responses: {
    topicId: string;
    partitions: {
      partitionIndex: number;
      errorCode: number;
      abortedTransactions: { producerId: bigint; firstOffset: bigint }[] | null;
      records: {
        firstOffset: bigint;
        lastOffsetDelta: number;
        partitionLeaderEpoch: number;
        attributes: number;
        producerId: bigint;
        firstTimestamp: bigint;
        maxTimestamp: bigint;
        records: { timestampDelta: bigint; offsetDelta: number; key: Buffer | null; value: Buffer | null; headers: [Buffer | null, Buffer | null][] }[];
      }[] | null;
    }[];
  }[];
}

/** One broker's fetch, settled: its response or its error, and the generation it was asked for. */
interface Fetched {
  readonly node: number;
  readonly generation: number;
  /** The response's records handed out as it arrived (its parsed batches are not kept while it waits its turn). */
  readonly records?: RunnerRecord[];
  readonly error?: Error;
}

/** Record batch attributes (Kafka's record batch format v2). */
const TIMESTAMP_LOG_APPEND = 1 << 3;
const TRANSACTIONAL_BATCH = 1 << 4;
const CONTROL_BATCH = 1 << 5;
/** Kafka's OFFSET_OUT_OF_RANGE. */
const OFFSET_OUT_OF_RANGE = 1;

/**
 * Read committed, as Kafka's Java consumer reads it: the broker lists the transactions aborted in the range it
 * returns (producer, first offset); a transactional batch of a producer listed at or before it is skipped until that
 * producer's abort marker. The client filters too, but keeps one producer's range only (a second aborted transaction
 * of the same producer in one response hid the first) and leaves a range whose marker is in the next response:
 * those records were handed out.
 */
class AbortedTransactions {
  private readonly list: readonly { producerId: bigint; firstOffset: bigint }[];
  private next = 0;
  private readonly open = new Set<bigint>();
  constructor(list: readonly { producerId: bigint; firstOffset: bigint }[] | null) {
    this.list = list === null || list.length < 2 ? (list ?? []) : [...list].sort((a, b) => (a.firstOffset < b.firstOffset ? -1 : a.firstOffset > b.firstOffset ? 1 : 0));
  }

  /** Whether a batch is skipped as aborted (called once per batch, in offset order; control batches included). */
  skips(batch: { attributes: number; producerId: bigint; records: { key: Buffer | null }[] }, lastOffset: bigint): boolean {
    if (this.list.length === 0 || batch.producerId < 0n) return false;
    while (this.next < this.list.length && this.list[this.next].firstOffset <= lastOffset) this.open.add(this.list[this.next++].producerId);
    if ((batch.attributes & CONTROL_BATCH) !== 0) {
      // A control record's key: version (int16), type (int16): 0 aborts, 1 commits.
      const key = batch.records[0]?.key;
      if (key && key.length >= 4 && key.readInt16BE(2) === 0) this.open.delete(batch.producerId);
      return true;
    }
    return (batch.attributes & TRANSACTIONAL_BATCH) !== 0 && this.open.has(batch.producerId);
  }
}

/** Attempts after the first of a group operation or fetch that failed with a retriable error. */
export const KAFKA_RETRIES = 8;

/** Records handed out at most in one chunk (KafkaSource.chunks). */
export const CHUNK_RECORDS = 1000;

/** The runner waiting this long for a record while an owned partition has records left: the fetches start again. */
export const STALL_MS = 30_000;

type MembershipStream = { close(): Promise<void> | void; on(event: 'error', listener: (err: Error) => void): unknown };

/**
 * Reads with the client's fetch (sessions, retries, leader moves, read-committed filtering), not its message stream:
 * the stream made about 2.7 KB of objects per record (a message with a header map, a bound commit function, a
 * diagnostic context), two thirds of the runner's allocation, and its garbage collection copied every open batch.
 * The source keeps one stream, never read, for the group membership only (subscribing, joining, heartbeats).
 */
export class KafkaSource {
  private readonly consumer: Consumer;
  private readonly options: KafkaSourceOptions;
  private readonly epochs = new Map<string, number>();
  readonly assignment = new Assignment();
  /** The stream that holds the membership (it never fetches: nothing reads it). */
  private membership?: MembershipStream;
  /** The fetch in flight per broker (at most one each, whatever generation asked for it). */
  private readonly inflight = new Map<number, Promise<Fetched>>();
  private fetchTurn = 0;
  private wake?: () => void;
  private opening = Promise.resolve();
  /** When the runner last asked for a record, while it waits for one (undefined while it works on a batch). */
  private waitingSince?: number;
  private watchdog?: NodeJS.Timeout;
  /** Generations restarted because owned partitions had records left and none came for STALL_MS. */
  stallRestarts = 0;
  onStall?: (partitions: string[]) => void = (partitions) => {
    process.stderr.write(`no record for ${STALL_MS / 1000} s while ${partitions.map((tp) => tp.replace('\u0000', '/')).join(', ')} had records left: reading again from the committed offsets\n`);
  };

  constructor(options: KafkaSourceOptions) {
    this.options = options;
    this.consumer = new Consumer({
      groupId: options.groupId,
      clientId: options.clientId ?? 'kafka-s3-runner',
      bootstrapBrokers: [...options.brokers],
      autocommit: false,
      maxWaitTime: 500,
      maxBytes: options.fetchMaxBytes ?? FETCH_MAX_BYTES,
      maxBytesPerPartition: options.fetchPartitionMaxBytes ?? FETCH_PARTITION_MAX_BYTES,
      sessionTimeout: 20_000,
      heartbeatInterval: 1_000,
      // Group operations and fetches retried for about 20 s with backoff (the client's default: 3 times, 1 s apart). A
      // group whose members join and leave every few seconds can refuse a rejoin (a rebalance in progress) more often
      // than that: a member then failed and stopped, in a rebalance soak with three runners on two busy cores.
      retries: KAFKA_RETRIES,
      retryDelay: (_client: unknown, _operation: string, attempt: number) => Math.min(250 * 2 ** (attempt - 1), 4_000),
    });
    this.consumer.on('consumer:group:join', (payload: { assignments?: { topic: string; partitions: number[] }[] }) => {
      const list = payload.assignments ?? this.consumer.assignments ?? [];
      const owned: string[] = [];
      for (const a of list) if (this.options.topics.includes(a.topic)) for (const p of a.partitions) owned.push(tpKey(a.topic, p));
      this.reassign(owned);
    });
    this.consumer.on('consumer:group:leave', () => {
      this.assignment.revokeAll();
      this.wake?.();
    });
    // A failed rejoin is reported as an 'error' event; unhandled it would end the process without closing cleanly.
    this.consumer.on('error', (err: Error) => this.fail(err));
  }

  /** Set when the consumer failed: the runner stops, uncommitted records are read again on the next start. */
  failure?: Error;

  private fail(err: Error): void {
    if (this.closing) return;
    this.failure ??= err;
    this.assignment.revokeAll();
    this.wake?.();
  }

  /** A new generation owning `owned`, started after those before it (one at a time). */
  private reassign(owned: string[]): void {
    const generation = this.assignment.assign(owned);
    this.wake?.();
    this.opening = this.opening.then(() => this.openRetrying(generation)).catch((err: Error) => this.fail(err));
  }

  /** Offsets are read from the coordinator, which refuses while a rebalance settles: retried while still current. */
  private async openRetrying(generation: number): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.open(generation);
        return;
      } catch (err) {
        if (generation !== this.assignment.generation || this.closing) return;
        if (attempt >= 10) throw err;
        await new Promise((r) => setTimeout(r, 250 * attempt));
      }
    }
  }

  /** Partitions per topic when last looked at (the client's metadata, refreshed by it every few seconds). */
  private readonly partitionCounts = new Map<string, number>();
  /** Group rejoins asked for because a topic gained partitions. */
  partitionRejoins = 0;

  /**
   * A topic that gained partitions: this member asks the group to rebalance (it joins again), so that the new
   * partitions are assigned. The client does not (a rebalance came only when a member joined or left: records of a
   * partition added while the runners ran were not read until then), Kafka's Java consumer does.
   */
  private async checkPartitionCounts(): Promise<void> {
    if (this.closing || this.failure) return;
    const metadata = await this.consumer.metadata({ topics: [...this.options.topics] });
    let grew = false;
    for (const topic of this.options.topics) {
      const count = metadata.topics.get(topic)?.partitionsCount;
      if (count === undefined) continue;
      const before = this.partitionCounts.get(topic);
      if (before !== undefined && count > before) grew = true;
      this.partitionCounts.set(topic, count);
    }
    if (!grew || this.closing || this.failure) return;
    this.partitionRejoins++;
    await this.consumer.joinGroup({});
  }

  /** Starts the current generation again when the runner has waited STALL_MS with owned records left. */
  private async checkStall(): Promise<void> {
    if (this.waitingSince === undefined || Date.now() - this.waitingSince < STALL_MS || !this.assignment.isStarted || this.closing) return;
    const generation = this.assignment.generation;
    const owned = this.assignment.partitions();
    if (owned.length === 0) return;
    const ends = await this.consumer.listOffsets({ topics: [...new Set(owned.map((tp) => tp.split('\u0000')[0]))] });
    const behind = owned.filter((tp) => {
      const [topic, p] = tp.split('\u0000');
      const end = ends.get(topic)?.[Number(p)];
      const pos = this.assignment.position(tp);
      return end !== undefined && pos !== undefined && pos < end;
    });
    if (behind.length === 0 || generation !== this.assignment.generation || this.waitingSince === undefined || Date.now() - this.waitingSince < STALL_MS) return;
    this.stallRestarts++;
    this.onStall?.(behind);
    this.waitingSince = Date.now();
    // As a rebalance to the same partitions: a new generation from the committed offsets (the open batch's records,
    // of the old generation, are dropped and read again).
    this.reassign(owned);
  }

  /**
   * Starts `generation` at its partitions' committed offsets: the earliest offset where the group has none or where
   * retention has deleted past it, the end where the log was truncated below it (records that no longer exist).
   */
  private async open(generation: number): Promise<void> {
    if (generation !== this.assignment.generation || this.closing) return;
    const owned = this.assignment.partitions();
    const byTopic = new Map<string, number[]>();
    for (const tp of owned) {
      const [topic, p] = tp.split('\u0000');
      (byTopic.get(topic) ?? byTopic.set(topic, []).get(topic)!).push(Number(p));
    }
    const offsets = new Map<string, bigint>();
    if (byTopic.size > 0) {
      const topics = [...byTopic.keys()];
      const [committed, earliest, latest] = await Promise.all([
        this.consumer.listCommittedOffsets({ topics: [...byTopic].map(([topic, partitions]) => ({ topic, partitions })) }),
        this.consumer.listOffsets({ topics, timestamp: -2n }),
        this.consumer.listOffsets({ topics, timestamp: -1n }),
      ]);
      for (const [topic, partitions] of byTopic) {
        for (const p of partitions) {
          const c = committed.get(topic)?.[p];
          const e = earliest.get(topic)?.[p] ?? 0n;
          const l = latest.get(topic)?.[p];
          const at = c !== undefined && c >= 0n && c >= e ? c : e;
          offsets.set(tpKey(topic, p), l !== undefined && at > l ? l : at);
        }
      }
    }
    if (!this.assignment.start(generation, offsets) || this.closing) return; // a newer generation took over meanwhile
    this.wake?.();
  }

  /** Whether a record handed out may still be written and committed: its generation is current, its partition owned. */
  isCurrent(r: RunnerRecord): boolean {
    return this.assignment.current((r as Tagged)[GENERATION], tpKey(r.topic, r.partition));
  }

  /**
   * The records that may still be written and committed (`isCurrent`), judged once per run of one partition and
   * generation; the same list when all are.
   */
  keepCurrent(records: readonly RunnerRecord[]): readonly RunnerRecord[] {
    let out: RunnerRecord[] | undefined;
    let prev: Tagged | undefined;
    let current = false;
    for (let i = 0; i < records.length; i++) {
      const r = records[i] as Tagged;
      if (prev === undefined || r.partition !== prev.partition || r.topic !== prev.topic || r[GENERATION] !== prev[GENERATION]) current = this.isCurrent(r);
      prev = r;
      if (!current) out ??= records.slice(0, i);
      else if (out !== undefined) out.push(r);
    }
    return out ?? records;
  }

  /** Whether this member owns the partition in the current generation. */
  owns(topic: string, partition: number): boolean {
    return this.assignment.owns(tpKey(topic, partition));
  }

  describe() {
    return { eventSource: 'SelfManagedKafka' as const, bootstrapServers: this.options.brokers.join(',') };
  }

  async *records(): AsyncGenerator<RunnerRecord> {
    for await (const chunk of this.chunks()) yield* chunk;
  }

  /** The records in chunks of up to CHUNK_RECORDS, as fetches bring them (no promise per record). */
  async *chunks(): AsyncGenerator<RunnerRecord[]> {
    // Subscribes and joins the group; its records are never read (the fetches below read each generation's records).
    const membership = (await this.consumer.consume({ topics: [...this.options.topics], mode: 'latest', autocommit: false })) as unknown as MembershipStream;
    membership.on('error', (err) => this.fail(err));
    this.membership = membership;
    await this.checkPartitionCounts().catch(() => {});
    this.watchdog = setInterval(() => {
      void this.checkStall().catch(() => {});
      void this.checkPartitionCounts().catch(() => {});
    }, 5_000);
    this.watchdog.unref();
    try {
      while (!this.closing && !this.failure) {
        const generation = this.assignment.generation;
        if (this.assignment.isStarted) yield* this.generationChunks(generation);
        if (generation === this.assignment.generation && !this.closing && !this.failure) {
          // Not started yet, or nothing to fetch: wait for the next generation (or a start, or the end).
          await this.sleep();
        }
      }
    } catch (err) {
      // Closing the source aborts the fetch in flight: the end of the records, not a failure.
      if (!this.closing && !this.failure) throw err;
    }
    // A consumer that failed must not look like the end of the topics: the open batch is not flushed or committed.
    if (this.failure) {
      // The client's retries collect their errors: the first one says why (a rebalance in progress, a member unknown).
      const first = (this.failure as Error & { errors?: Error[] }).errors?.[0];
      throw new Error(`Kafka consumer failed: ${this.failure.message}${first ? ` (first: ${first.message})` : ''}`, { cause: this.failure });
    }
  }

  /** Until `wake` (a new generation, a start, a failure, the end), or `until` settles. */
  private sleep<T>(until?: Promise<T>): Promise<T | undefined> {
    return new Promise<T | undefined>((resolve) => {
      this.wake = () => resolve(undefined);
      if (this.closing || this.failure) resolve(undefined);
      until?.then(resolve);
    }).finally(() => {
      this.wake = undefined;
    });
  }

  /**
   * The records of one started generation, a response at a time: one fetch in flight per leader broker of its
   * partitions, each from the position its records reached. Ends when the generation is over.
   */
  private async *generationChunks(generation: number): AsyncGenerator<RunnerRecord[]> {
    this.waitingSince ??= Date.now();
    while (generation === this.assignment.generation && !this.closing && !this.failure) {
      await this.fetchAll(generation);
      if (generation !== this.assignment.generation || this.closing || this.failure) return;
      if (this.inflight.size === 0) {
        if (this.assignment.partitions().length === 0) return; // nothing owned: the caller waits for the next generation
        // Owned partitions without a leader just now (an election): asked again shortly.
        await this.sleep(new Promise((r) => setTimeout(r, 500)));
        continue;
      }
      const done = await this.sleep(Promise.race(this.inflight.values()));
      if (done === undefined) continue; // woken: the generation may be over
      this.inflight.delete(done.node);
      if (done.generation !== generation) continue; // asked for by an earlier generation: dropped
      if (done.error !== undefined) {
        if (this.closing) return;
        if (outOfRange(done.error)) {
          // Retention deleted the position's records, or the log was truncated below it: the generation starts again
          // from the committed offsets, within the log as it is now (open).
          await new Promise((r) => setTimeout(r, 250));
          if (generation === this.assignment.generation) this.reassign(this.assignment.partitions());
          return;
        }
        throw done.error;
      }
      const records = done.records!;
      // The broker's next response is fetched while the runner writes these (the positions are already past them).
      await this.fetchAll(generation);
      for (let k = 0; k < records.length; k += CHUNK_RECORDS) {
        this.waitingSince = undefined;
        yield k === 0 && records.length <= CHUNK_RECORDS ? records : records.slice(k, k + CHUNK_RECORDS);
        this.waitingSince = Date.now();
      }
    }
  }

  /** Starts a fetch for every leader broker of the generation's partitions that has none in flight. */
  private async fetchAll(generation: number): Promise<void> {
    const owned = this.assignment.partitions();
    if (owned.length === 0) return;
    const metadata = await this.consumer.metadata({ topics: [...this.options.topics] });
    if (generation !== this.assignment.generation || this.closing) return;
    const byNode = new Map<number, { topicId: string; partitions: object[] }[]>();
    const topicIds = new Map<string, string>();
    for (const tp of owned) {
      const at = this.assignment.position(tp);
      if (at === undefined) continue;
      const [topic, p] = tp.split('\u0000');
      const t = metadata.topics.get(topic);
      const partition = Number(p);
      const leader = t?.partitions[partition]?.leader;
      if (t === undefined || leader === undefined || leader < 0) continue; // no leader now: the next round asks again
      topicIds.set(t.id, topic);
      if (this.inflight.has(leader)) continue;
      const list = byNode.get(leader) ?? byNode.set(leader, []).get(leader)!;
      // One entry per partition, as the client's own stream asks, so that rotateFetch can move each to the front.
      list.push({ topicId: t.id, partitions: [{ partition, fetchOffset: at, partitionMaxBytes: this.options.fetchPartitionMaxBytes ?? FETCH_PARTITION_MAX_BYTES, currentLeaderEpoch: -1, lastFetchedEpoch: -1 }] });
    }
    const turn = this.fetchTurn++;
    for (const [node, topics] of byNode) {
      const fetched = this.consumer.fetch({ node, topics: rotateFetch(topics, turn) } as never).then(
        (response) => ({ node, generation, records: this.handOutResponse(generation, topicIds, response as unknown as FetchResponse) }),
        (error: Error) => ({ node, generation, error }),
      );
      this.inflight.set(node, fetched);
    }
  }

  /** The records of a response that are handed out (the positions move past them), as the runner's records. */
  private handOutResponse(generation: number, topicIds: ReadonlyMap<string, string>, response: FetchResponse): RunnerRecord[] {
    const out: RunnerRecord[] = [];
    for (const t of response.responses) {
      const topic = topicIds.get(t.topicId);
      if (topic === undefined) continue;
      for (const part of t.partitions) {
        if (part.errorCode !== 0 || !part.records) continue;
        const partition = part.partitionIndex;
        const tp = tpKey(topic, partition);
        // Not owned in this generation (a partition a broker's fetch session still serves): dropped.
        const position = this.assignment.positionOf(generation, tp);
        if (position === undefined) continue;
        const aborted = new AbortedTransactions(part.abortedTransactions);
        for (const batch of part.records) {
          const past = batch.firstOffset + BigInt(batch.lastOffsetDelta) + 1n;
          if (batch.partitionLeaderEpoch !== this.epochs.get(tp)) this.epochs.set(tp, batch.partitionLeaderEpoch);
          // Transaction markers (control batches) and aborted transactions: the position moves past them, no record.
          const skipped = aborted.skips(batch, past - 1n) || (batch.attributes & CONTROL_BATCH) !== 0;
          if (!skipped) this.handOutBatch(generation, topic, partition, position, batch, out);
          if (position.past === undefined || past > position.past) position.past = past;
        }
      }
    }
    return out;
  }

  private readonly headerNames = new HeaderNames();

  private handOutBatch(generation: number, topic: string, partition: number, position: Position, batch: NonNullable<FetchResponse['responses'][number]['partitions'][number]['records']>[number], out: RunnerRecord[]): void {
    const logAppend = (batch.attributes & TIMESTAMP_LOG_APPEND) !== 0;
    const timestampType = logAppend ? 'LOG_APPEND_TIME' : 'CREATE_TIME';
    // Timestamps are int64: exact as numbers within 2^53 (every real one), else rounded as Number() rounds them.
    const first = Number(batch.firstTimestamp);
    const safe = Number.isSafeInteger(first);
    const appendTime = Number(batch.maxTimestamp);
    for (const r of batch.records) {
      const offset = batch.firstOffset + BigInt(r.offsetDelta);
      // Before the generation's start, or handed out already: dropped, no position moves.
      if (!advance(position, offset)) continue;
      let timestamp = appendTime;
      if (!logAppend) {
        const delta = Number(r.timestampDelta);
        timestamp = safe && Number.isSafeInteger(first + delta) ? first + delta : Number(batch.firstTimestamp + r.timestampDelta);
      }
      const entries = r.headers;
      let headers = NO_HEADERS;
      if (entries.length > 0) {
        const list = new Array<{ key: string; value: Buffer | null }>(entries.length);
        for (let j = 0; j < entries.length; j++) {
          const [k, v] = entries[j];
          list[j] = { key: k === null ? '' : this.headerNames.name(k), value: v };
        }
        headers = list;
      }
      // Key, value and header values are the client's views of the fetch response, not copies: a batch keeps alive
      // the responses its records came from (FETCH_MAX_BYTES each, about its own size), and nothing after it does.
      out.push(new ConsumedRecord(topic, partition, offset, timestamp, timestampType, r.key, r.value, headers, generation));
    }
  }

  /**
   * Commits, per partition, the offset after the last record given — only records of the current generation whose
   * partition is still owned (the runner passes only records the function wrote). Returns how many were committed.
   */
  async commit(records: readonly RunnerRecord[]): Promise<number> {
    const last = new Map<string, RunnerRecord>();
    const current = this.keepCurrent(records);
    // Per run of one partition, its newest record is looked for in the map once.
    let run: RunnerRecord | undefined;
    const close = (r: RunnerRecord) => {
      const k = tpKey(r.topic, r.partition);
      const seen = last.get(k);
      if (!seen || r.offset > seen.offset) last.set(k, r);
    };
    for (let i = 0; i < current.length; i++) {
      const r = current[i];
      if (run !== undefined && (r.partition !== run.partition || r.topic !== run.topic)) close(run);
      else if (run !== undefined && r.offset < run.offset) continue;
      run = r;
    }
    if (run !== undefined) close(run);
    const n = current.length;
    if (last.size === 0) return 0;
    await this.consumer.commit({
      offsets: [...last.entries()].map(([k, r]) => ({ topic: r.topic, partition: r.partition, offset: r.offset + 1n, leaderEpoch: this.epochs.get(k) ?? -1 })),
    });
    return n;
  }

  /** Records in the topics not yet read: end offsets minus the positions reached (partitions not owned count whole). */
  async lag(): Promise<number | undefined> {
    try {
      const ends = await this.consumer.listOffsets({ topics: [...this.options.topics] });
      let lag = 0n;
      for (const [topic, offsets] of ends) {
        offsets.forEach((end, partition) => {
          const pos = this.assignment.position(tpKey(topic, partition)) ?? 0n;
          if (end > pos) lag += end - pos;
        });
      }
      return Number(lag);
    } catch {
      return undefined;
    }
  }

  private closing = false;

  private closed?: Promise<void>;

  /** Closes the consumer (once: a second call waits for the first). */
  close(): Promise<void> {
    return (this.closed ??= this.closeOnce());
  }

  private async closeOnce(): Promise<void> {
    this.closing = true;
    if (this.watchdog) clearInterval(this.watchdog);
    this.wake?.();
    // Closing aborts the fetch in flight, which the stream reports as an AbortError: expected here.
    const quiet = (err: unknown) => {
      if ((err as Error)?.name !== 'AbortError') throw err;
    };
    await this.opening.catch(() => {});
    await Promise.resolve(this.membership?.close()).catch(quiet);
    await this.consumer.close(true).catch(quiet);
    await Promise.allSettled(this.inflight.values());
  }
}

/** Whether a fetch was refused as OFFSET_OUT_OF_RANGE for one of its partitions (the client's error carries the response). */
function outOfRange(err: unknown): boolean {
  const e = err as { response?: { responses?: { partitions?: { errorCode?: number }[] }[] } };
  return e?.response?.responses?.some((t) => t.partitions?.some((p) => p.errorCode === OFFSET_OUT_OF_RANGE)) === true;
}
