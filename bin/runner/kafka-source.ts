/**
 * Kafka as the runner's source: a consumer group, no automatic commits — offsets are committed only after the
 * function succeeded for the records before them.
 *
 * Rebalances, correct by construction (see `Assignment`):
 * - every `consumer:group:join` starts a new **generation** with the partitions the group gave this member;
 * - for each generation a new stream is opened at the partitions' committed offsets (earliest where the group has
 *   none) — the rewind is always applied, never left to the client's own position (which an in-flight fetch of the
 *   previous assignment can move on, and which it keeps for partitions without a committed offset);
 * - records of an older stream, or of a partition not owned in the current generation, are dropped without moving
 *   any position (the partition's next owner, or this member's next generation, reads them from the committed offset);
 * - a record handed out is tagged with its generation: the runner writes and commits it only while that generation
 *   is current and its partition still owned (`current`), so a commit never covers a record it did not write.
 */
import type { Readable } from 'node:stream';
import { Consumer, type Message } from '@platformatic/kafka';
import type { RunnerRecord } from './event.ts';

type FetchOptions = { topics: readonly unknown[] } & Record<string, unknown>;

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
  /** Per owned partition: the generation's start offset and the last offset handed out (no BigInt made per record). */
  private positions = new Map<string, { readonly start: bigint; last?: bigint }>();
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
    if (generation !== this.generation || !this.started) return false;
    const p = this.positions.get(tp);
    // Not owned, or before the start, or handed out already in this generation.
    if (p === undefined || (p.last === undefined ? offset < p.start : offset <= p.last)) return false;
    p.last = offset;
    return true;
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

  /** The next offset to hand out. */
  position(tp: string): bigint | undefined {
    const p = this.positions.get(tp);
    return p === undefined ? undefined : p.last === undefined ? p.start : p.last + 1n;
  }

  get isStarted(): boolean {
    return this.started;
  }
}

type MessageStream = AsyncIterable<Message> & { close(): Promise<void> | void };

/** Records handed out at most in one chunk (KafkaSource.chunks). */
export const CHUNK_RECORDS = 1000;

/** The runner waiting this long for a record while an owned partition has records left: the stream is reopened. */
export const STALL_MS = 30_000;

export class KafkaSource {
  private readonly consumer: Consumer;
  private readonly options: KafkaSourceOptions;
  private readonly epochs = new Map<string, number>();
  readonly assignment = new Assignment();
  /** The stream of the current generation (undefined until it is open). */
  private current?: { generation: number; stream: MessageStream };
  private first?: MessageStream;
  private wake?: () => void;
  private opening = Promise.resolve();
  /** When the runner last asked for a record, while it waits for one (undefined while it works on a batch). */
  private waitingSince?: number;
  private watchdog?: NodeJS.Timeout;
  /** Streams reopened because owned partitions had records left and none came for STALL_MS. */
  stallRestarts = 0;
  onStall?: (partitions: string[]) => void = (partitions) => {
    process.stderr.write(`no record for ${STALL_MS / 1000} s while ${partitions.map((tp) => tp.replace('\u0000', '/')).join(', ')} had records left: stream reopened at the committed offsets\n`);
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
    });
    // Every fetch the streams make goes through here, its partitions rotated (rotateFetch).
    const fetch = this.consumer.fetch.bind(this.consumer) as (o: FetchOptions, cb?: unknown) => unknown;
    let turn = 0;
    (this.consumer as unknown as { fetch: typeof fetch }).fetch = (o, cb) => fetch({ ...o, topics: rotateFetch(o.topics, turn++) }, cb);
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
    void Promise.resolve(this.current?.stream.close()).catch(() => {});
    this.wake?.();
  }

  /** A new generation owning `owned`, its stream opened after those before it (one at a time). */
  private reassign(owned: string[]): void {
    const generation = this.assignment.assign(owned);
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

  /** Reopens the current generation's stream when the runner has waited STALL_MS with owned records left. */
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

  /** Opens the stream of `generation` at its committed offsets (earliest where none), then closes the previous one. */
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
      const [committed, earliest] = await Promise.all([
        this.consumer.listCommittedOffsets({ topics: [...byTopic].map(([topic, partitions]) => ({ topic, partitions })) }),
        this.consumer.listOffsets({ topics, timestamp: -2n }),
      ]);
      for (const [topic, partitions] of byTopic) {
        for (const p of partitions) {
          const c = committed.get(topic)?.[p];
          const e = earliest.get(topic)?.[p] ?? 0n;
          offsets.set(tpKey(topic, p), c !== undefined && c >= 0n && c >= e ? c : e);
        }
      }
    }
    if (!this.assignment.start(generation, offsets) || this.closing) return; // a newer generation took over meanwhile
    const previous = this.current?.stream ?? this.first;
    this.first = undefined;
    let stream: MessageStream | undefined;
    if (offsets.size > 0) {
      // Opened before the previous stream closes, so the topics stay subscribed (closing the last stream would
      // unsubscribe them, and subscribing again would rejoin the group: a rebalance of its own).
      stream = (await this.consumer.consume({
        topics: [...this.options.topics], mode: 'manual', autocommit: false,
        offsets: [...offsets].map(([tp, offset]) => ({ topic: tp.split('\u0000')[0], partition: Number(tp.split('\u0000')[1]), offset })),
      })) as unknown as MessageStream;
      // Superseded while opening: still made current, the next open (they run one at a time) replaces it.
      this.current = { generation, stream };
    } else if (previous) {
      // Nothing owned: keep the previous stream open (topics stay subscribed); its records are all dropped.
      this.current = { generation, stream: previous };
      this.wake?.();
      return;
    }
    if (previous && previous !== stream) await Promise.resolve(previous.close()).catch(() => {});
    this.wake?.();
  }

  /** Whether a record handed out may still be written and committed: its generation is current, its partition owned. */
  isCurrent(r: RunnerRecord): boolean {
    return this.assignment.current((r as Tagged)[GENERATION], tpKey(r.topic, r.partition));
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

  /**
   * The records in chunks: what the current stream holds at each moment (up to CHUNK_RECORDS), read from it without a
   * promise per record (an async iteration per record cost the runner a tenth of its CPU).
   */
  async *chunks(): AsyncGenerator<RunnerRecord[]> {
    // The first stream only joins the group (from the latest offsets, its records are never handed out): each
    // generation's own stream starts at the committed offsets.
    const first = (await this.consumer.consume({ topics: [...this.options.topics], mode: 'latest', autocommit: false })) as unknown as MessageStream;
    // A generation's stream already open (the join came first): the first stream is not needed any more.
    if (this.closing || this.current) await Promise.resolve(first.close()).catch(() => {});
    else this.first = first;
    this.watchdog = setInterval(() => void this.checkStall().catch(() => {}), 5_000);
    this.watchdog.unref();
    try {
      while (!this.closing && !this.failure) {
        const cur = this.current;
        if (!cur || cur.generation !== this.assignment.generation) {
          await new Promise<void>((resolve) => {
            this.wake = resolve;
            if (this.closing || this.failure || (this.current && this.current !== cur)) resolve();
          });
          this.wake = undefined;
          continue;
        }
        try {
          yield* this.chunksOf(cur.generation, cur.stream);
        } catch (err) {
          // An older stream closed under the loop (a new generation): not a failure.
          if (cur.generation === this.assignment.generation && !this.closing && !this.failure) throw err;
        }
        if (cur === this.current && !this.closing && !this.failure) {
          // The current stream ended on its own: wait for the next generation rather than spin.
          await new Promise<void>((resolve) => {
            this.wake = resolve;
            if (this.closing || this.failure || this.current !== cur) resolve();
          });
          this.wake = undefined;
        }
      }
    } catch (err) {
      // Closing the source aborts the fetch in flight: the end of the records, not a failure.
      if (!this.closing && !this.failure) throw err;
    }
    // A consumer that failed must not look like the end of the topics: the open batch is not flushed or committed.
    if (this.failure) throw new Error(`Kafka consumer failed: ${this.failure.message}`, { cause: this.failure });
  }

  /** The stream's records of `generation` that are handed out, a chunk at a time; ends with the stream or the generation. */
  private async *chunksOf(generation: number, stream: MessageStream): AsyncGenerator<RunnerRecord[]> {
    // The client's stream is a Readable in object mode: read() hands out what it holds, 'readable' says when there is
    // more (or an end, or an error), as its async iterator does per record. The listener stays on while the stream is
    // read: without one the stream counts as not consumed and the client stops fetching.
    const readable = stream as unknown as Readable;
    let wakeRead: (() => void) | undefined;
    const signal = () => {
      const w = wakeRead;
      wakeRead = undefined;
      w?.();
    };
    readable.on('readable', signal).on('end', signal).on('error', signal).on('close', signal);
    this.waitingSince ??= Date.now();
    try {
      for (;;) {
        if (generation !== this.assignment.generation) return; // a newer generation has its own stream
        const out: RunnerRecord[] = [];
        let m: Message | null;
        while (out.length < CHUNK_RECORDS && (m = readable.read() as Message | null) !== null) {
          const r = this.handOut(generation, m);
          if (r !== undefined) out.push(r);
        }
        if (out.length > 0) {
          this.waitingSince = undefined;
          yield out;
          this.waitingSince = Date.now();
          continue;
        }
        if (readable.errored) throw readable.errored;
        if (readable.readableEnded || readable.destroyed) return;
        await new Promise<void>((resolve) => {
          wakeRead = resolve;
        });
      }
    } finally {
      readable.off('readable', signal).off('end', signal).off('error', signal).off('close', signal);
    }
  }

  /** A record of `generation`'s stream as the runner's, or undefined when it is not handed out (no position moves). */
  private handOut(generation: number, m: Message): RunnerRecord | undefined {
    const tp = tpKey(m.topic, m.partition);
    // Not owned in this generation, or before its start / handed out already: dropped, no position moves.
    if (!this.assignment.accept(generation, tp, m.offset)) return undefined;
    if (this.epochs.get(tp) !== m.leaderEpoch) this.epochs.set(tp, m.leaderEpoch);
    // Key, value and header values are the client's views of the fetch response, not copies: a batch keeps alive
    // the responses its records came from (FETCH_MAX_BYTES each, about its own size), and nothing after it does.
    const entries = m.headerEntries;
    let headers = NO_HEADERS;
    if (entries !== undefined && entries.length > 0) {
      const list = new Array<readonly [string, Buffer | null]>(entries.length);
      for (let j = 0; j < entries.length; j++) {
        const [k, v] = entries[j] as [Buffer, Buffer | null | undefined];
        list[j] = [k.toString('utf8'), v === null || v === undefined ? null : v];
      }
      headers = list;
    }
    const r: Tagged = {
      topic: m.topic,
      partition: m.partition,
      offset: m.offset,
      timestamp: Number(m.timestamp),
      // The client gives an absent key/value as undefined; an empty one stays an empty buffer.
      key: m.key === undefined || m.key === null ? null : (m.key as Buffer),
      value: m.value === undefined || m.value === null ? null : (m.value as Buffer),
      headers,
      [GENERATION]: generation,
    };
    return r;
  }

  /**
   * Commits, per partition, the offset after the last record given — only records of the current generation whose
   * partition is still owned (the runner passes only records the function wrote). Returns how many were committed.
   */
  async commit(records: readonly RunnerRecord[]): Promise<number> {
    const last = new Map<string, RunnerRecord>();
    let n = 0;
    for (const r of records) {
      if (!this.isCurrent(r)) continue;
      n++;
      const k = tpKey(r.topic, r.partition);
      const seen = last.get(k);
      if (!seen || r.offset > seen.offset) last.set(k, r);
    }
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

  async close(): Promise<void> {
    this.closing = true;
    if (this.watchdog) clearInterval(this.watchdog);
    this.wake?.();
    // Closing aborts the fetch in flight, which the stream reports as an AbortError: expected here.
    const quiet = (err: unknown) => {
      if ((err as Error)?.name !== 'AbortError') throw err;
    };
    await this.opening.catch(() => {});
    await Promise.resolve(this.first?.close()).catch(quiet);
    await Promise.resolve(this.current?.stream.close()).catch(quiet);
    await this.consumer.close(true).catch(quiet);
  }
}
