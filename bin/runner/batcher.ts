/**
 * Batching with the event source mapping's rules: a batch closes at `batchSize` records, when the next record would
 * take the event past the 6 MB invoke payload, or when the batching window has passed since its first record.
 */
import { recordEventBytes, type RunnerRecord } from './event.ts';

export const PAYLOAD_LIMIT_BYTES = 6 * 1024 * 1024;
/** Room for the event's own fields (eventSource, bootstrapServers, the topic-partition keys). */
export const EVENT_ENVELOPE_BYTES = 1024;

export interface BatchRules {
  readonly batchSize: number;
  readonly windowMs: number;
  readonly payloadLimitBytes?: number;
}

export class Batcher {
  private records: RunnerRecord[] = [];
  private bytes = EVENT_ENVELOPE_BYTES;
  private firstAt = 0;
  private readonly rules: BatchRules;

  constructor(rules: BatchRules) {
    this.rules = rules;
  }

  get size(): number {
    return this.records.length;
  }

  /** Adds a record; returns a closed batch when this record could not join the open one (payload limit). */
  add(r: RunnerRecord, now: number): RunnerRecord[] | undefined {
    const limit = this.rules.payloadLimitBytes ?? PAYLOAD_LIMIT_BYTES;
    const size = recordEventBytes(r);
    let closed: RunnerRecord[] | undefined;
    if (this.records.length > 0 && this.bytes + size > limit) closed = this.take();
    if (this.records.length === 0) this.firstAt = now;
    this.records.push(r);
    this.bytes += size;
    return closed;
  }

  /**
   * The open batch, when it is full or its window has passed (or `force`, e.g. at the end of a finite source). `cap`
   * closes it earlier, at that many records (what a run stopping after n records has left to commit).
   */
  ready(now: number, force = false, cap = Infinity): RunnerRecord[] | undefined {
    if (this.records.length === 0) return undefined;
    if (force || now - this.firstAt >= this.rules.windowMs) return this.take();
    return this.full(cap);
  }

  /** The open batch when it holds batchSize records (or `cap`), whatever its window: checked after each record. */
  full(cap = Infinity): RunnerRecord[] | undefined {
    return this.records.length > 0 && this.records.length >= Math.min(this.rules.batchSize, cap) ? this.take() : undefined;
  }

  /**
   * The open batch's window starts again now. After an invocation the runner calls this: the event source keeps
   * reading while a function runs, the runner does not, so the record that closed the previous batch (payload limit)
   * would otherwise find its window already passed and go alone, one invocation of one record after each full one.
   */
  restartWindow(now: number): void {
    if (this.records.length > 0) this.firstAt = now;
  }

  /** Milliseconds until the open batch's window closes (undefined when empty). */
  msUntilDue(now: number): number | undefined {
    return this.records.length === 0 ? undefined : Math.max(0, this.firstAt + this.rules.windowMs - now);
  }

  private take(): RunnerRecord[] {
    const out = this.records;
    this.records = [];
    this.bytes = EVENT_ENVELOPE_BYTES;
    return out;
  }
}
