/**
 * Stage 4 — partition: records → objects. A record's key-template prefix (rendered per record, in the per-record
 * path: see KeyGrouper) decides its group; within a group, objects are cut at offsets that are multiples of
 * MAX_RECORDS_PER_OBJECT. An object's start offset is the start of its window, or the claim's start for the first
 * window (progress.ts): keys depend only on the claim and the records, never on where a delivery was cut.
 */
import type { SinkConfig } from './config.ts';
import type { SinkRecord } from './convert.ts';
import { valueFieldText } from './convert.ts';
import { extensionFor, Limits } from './constants.ts';
import { RecordError } from './errors.ts';
import { renderObjectKey, renderRecordKey, type TimeFormatter } from './key-template.ts';
import { checkTimestampMs } from './schema.ts';

export interface PlannedObject {
  readonly key: string;
  readonly topic: string;
  readonly partition: number;
  readonly startOffset: bigint;
  /** Last offset this object may hold: the end of its offset window (see README, "Object keys"). */
  readonly endOffset: bigint;
  readonly records: readonly SinkRecord[];
  /** SCHEMA_REGISTRY: the one schema of the object's records (none for an object of tombstones only). */
  readonly schemaId?: string;
}

/** A converted record and the prefix group its key template puts it in. */
export interface GroupedRecord {
  readonly record: SinkRecord;
  readonly groupKey: string;
}

/**
 * Renders the record-level part of the key template for one record and checks that the object key it leads to
 * fits S3's limit (offsets are always 20 digits, so the length is known before the object is). Throws RecordError.
 */
export class KeyGrouper {
  private readonly memo = new Map<number, string>();
  private readonly timeOnly: boolean;
  private readonly resolution: number;
  private readonly ext: string;
  private readonly cfg: SinkConfig;
  private readonly fmt: TimeFormatter;

  constructor(cfg: SinkConfig, fmt: TimeFormatter) {
    this.cfg = cfg;
    this.fmt = fmt;
    const t = cfg.keyTemplate;
    // With only time-based record variables, records of the same minute (or second) share a key: render it once.
    this.timeOnly = !t.usesKey && t.valuePaths.length === 0;
    this.resolution = t.parts.some((p) => p.kind === 'timestamp' && p.pattern.some((x) => 'token' in x && (x.token === 'ss' || x.token === 'SSS')))
      ? 1 : 60_000;
    this.ext = extensionFor(cfg.format, cfg.compression);
  }

  groupKey(r: SinkRecord, nowMs: number): string {
    const t = this.cfg.keyTemplate;
    const timeMs = this.cfg.timestampSource === 'wallclock' ? nowMs : r.record.timestamp;
    if (t.usesTimestamp) checkTimestampMs(timeMs, 'timestamp', 'partition');
    const bucket = Math.floor(timeMs / this.resolution);
    let key = this.timeOnly ? this.memo.get(bucket) : undefined;
    if (key === undefined) {
      key = renderRecordKey(t, this.fmt, {
        topic: r.record.topic,
        partition: r.record.partition,
        timeMs,
        keyText: r.keyText,
        valueField: (path) => valueFieldText(r.value, path),
      });
      const bytes = Buffer.byteLength(this.cfg.prefix) + Buffer.byteLength(renderObjectKey(key, 0n, 0n)) + 1 + this.ext.length;
      if (bytes > Limits.maxKeyBytes) throw new RecordError('partition', `object key is ${bytes} bytes, over the S3 limit of ${Limits.maxKeyBytes}`);
      if (this.timeOnly) {
        if (this.memo.size > 10_000) this.memo.clear();
        this.memo.set(bucket, key);
      }
    }
    return key;
  }
}

/**
 * Records of one topic-partition (offset order, all ≥ claimStart), each with its group key → planned objects.
 * Without a claim start the first record's offset is used.
 */
export function partitionRecords(cfg: SinkConfig, records: readonly GroupedRecord[], claimStart?: bigint): PlannedObject[] {
  const groups = new Map<string, SinkRecord[]>();
  for (let i = 0; i < records.length; i++) {
    const { record, groupKey } = records[i];
    const list = groups.get(groupKey);
    if (list) list.push(record);
    else groups.set(groupKey, [record]);
  }
  const ext = extensionFor(cfg.format, cfg.compression);
  const n = BigInt(cfg.maxRecordsPerObject);
  const objects: PlannedObject[] = [];
  for (const [groupKey, list] of groups) {
    let i = 0;
    while (i < list.length) {
      const windowStart = (list[i].record.offset / n) * n;
      const windowEnd = windowStart + n - 1n;
      let j = i;
      let bytes = 0;
      // Greedy cut by MAX_OBJECT_BYTES (only reached when a window holds more raw bytes than the limit), and where
      // the registry schema changes (SCHEMA_REGISTRY: one schema per object; a new version starts a new object).
      // A record without a schema (a tombstone) fits any object.
      let schemaId: string | undefined;
      while (j < list.length && list[j].record.offset <= windowEnd && (j === i || bytes + list[j].rawBytes <= cfg.maxObjectBytes)) {
        const sid = list[j].schemaId;
        if (sid !== undefined) {
          if (schemaId !== undefined && sid !== schemaId) break;
          schemaId = sid;
        }
        bytes += list[j].rawBytes;
        j++;
      }
      const slice = list.slice(i, j);
      // The first object of a window starts where the window or the claim does; a cut starts at its record.
      const cutInWindow = i > 0 && list[i - 1].record.offset >= windowStart;
      const start = cutInWindow ? slice[0].record.offset : claimStart !== undefined && claimStart > windowStart ? claimStart : claimStart !== undefined ? windowStart : slice[0].record.offset;
      const end = j < list.length && list[j].record.offset <= windowEnd ? list[j].record.offset - 1n : windowEnd;
      const key = `${cfg.prefix}${renderObjectKey(groupKey, start, end)}.${ext}`;
      objects.push({ key, topic: slice[0].record.topic, partition: slice[0].record.partition, startOffset: start, endOffset: end, records: slice, ...(schemaId !== undefined ? { schemaId } : {}) });
      i = j;
    }
  }
  return objects;
}
