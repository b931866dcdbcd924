/**
 * Stage 4 — partition: records → objects. A record's key-template prefix decides its group; within a group,
 * objects are cut at offsets that are multiples of MAX_RECORDS_PER_OBJECT. Keys therefore depend only on record
 * content and offsets, so a retried batch (the same one, or a shorter one from the same start) rewrites the same keys.
 */
import type { SinkConfig } from './config.ts';
import type { SinkRecord } from './convert.ts';
import { valueFieldText } from './convert.ts';
import { extensionFor, Limits } from './constants.ts';
import { renderObjectKey, renderRecordKey, type TimeFormatter } from './key-template.ts';

export interface PlannedObject {
  readonly key: string;
  readonly topic: string;
  readonly partition: number;
  readonly startOffset: bigint;
  /** Last offset this object may hold: the end of its offset window (see README, "Object keys"). */
  readonly endOffset: bigint;
  readonly records: readonly SinkRecord[];
}

export interface PartitionResult {
  readonly objects: PlannedObject[];
  /** Records whose rendered key is over the S3 limit. */
  readonly rejected: { readonly record: SinkRecord; readonly reason: string }[];
}

/** Records of one topic-partition (offset order) → planned objects. `nowMs` is the invocation's wall clock. */
export function partitionRecords(
  cfg: SinkConfig,
  fmt: TimeFormatter,
  records: readonly SinkRecord[],
  nowMs: number,
): PartitionResult {
  const groups = new Map<string, SinkRecord[]>();
  const t = cfg.keyTemplate;
  // With only time-based record variables, records of the same minute (or second) share a key: render it once.
  const timeOnly = !t.usesKey && t.valuePaths.length === 0;
  const resolution = t.parts.some((p) => p.kind === 'timestamp' && p.pattern.some((x) => 'token' in x && (x.token === 'ss' || x.token === 'SSS')))
    ? 1 : 60_000;
  const memo = new Map<number, string>();
  for (const r of records) {
    const timeMs = cfg.timestampSource === 'wallclock' ? nowMs : r.record.timestamp;
    const bucket = Math.floor(timeMs / resolution);
    let groupKey = timeOnly ? memo.get(bucket) : undefined;
    groupKey ??= renderRecordKey(t, fmt, {
      topic: r.record.topic,
      partition: r.record.partition,
      timeMs,
      keyText: r.keyText,
      valueField: (path) => valueFieldText(r.value, path),
    });
    if (timeOnly) memo.set(bucket, groupKey);
    const list = groups.get(groupKey);
    if (list) list.push(r);
    else groups.set(groupKey, [r]);
  }

  const ext = extensionFor(cfg.format, cfg.compression);
  const n = BigInt(cfg.maxRecordsPerObject);
  const objects: PlannedObject[] = [];
  const rejected: PartitionResult['rejected'] = [];
  for (const [groupKey, list] of groups) {
    let i = 0;
    while (i < list.length) {
      const windowStart = (list[i].record.offset / n) * n;
      const windowEnd = windowStart + n - 1n;
      let j = i;
      let bytes = 0;
      // Greedy cut by MAX_OBJECT_BYTES: only reached when a window holds more raw bytes than the limit.
      while (j < list.length && list[j].record.offset <= windowEnd && (j === i || bytes + list[j].rawBytes <= cfg.maxObjectBytes)) {
        bytes += list[j].rawBytes;
        j++;
      }
      const slice = list.slice(i, j);
      const start = slice[0].record.offset;
      const end = j < list.length && list[j].record.offset <= windowEnd ? list[j].record.offset - 1n : windowEnd;
      const key = `${cfg.prefix}${renderObjectKey(groupKey, start, end)}.${ext}`;
      if (Buffer.byteLength(key) > Limits.maxKeyBytes) {
        for (const record of slice) {
          rejected.push({ record, reason: `object key is ${Buffer.byteLength(key)} bytes, over the S3 limit of ${Limits.maxKeyBytes}` });
        }
      } else {
        objects.push({ key, topic: slice[0].record.topic, partition: slice[0].record.partition, startOffset: start, endOffset: end, records: slice });
      }
      i = j;
    }
  }
  return { objects, rejected };
}
