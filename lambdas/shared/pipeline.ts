/**
 * The data path, top to bottom: decode → filter → convert → partition → encode → compress → upload.
 * Every input record ends as exactly one of: written, filtered, tombstone ignored, or dead-lettered.
 *
 * Isolation by construction: everything that depends on one record's content (filter, convert, key template) runs
 * in `prepare`, inside one per-record try, so any error there — expected (RecordError) or not — sets that record
 * aside with the reason and nothing else. Encoders then see only representable values. As a second line of
 * defence, an object whose encoding still throws is bisected to find the records that make it throw; they are
 * dead-lettered and the rest written, and the event is counted (EncodeFallbacks), since it means a check is
 * missing. Only S3 errors (UploadError) and malformed events fail the invocation.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import type { SinkConfig } from './config.ts';
import { compressObject, contentTypeFor } from './compress.ts';
import { convertPlan, convertRecord, type SinkRecord } from './convert.ts';
import { planDeadLetters, type DeadLetter } from './dead-letter.ts';
import { decodeEvent, type KafkaRecord } from './decode.ts';
import { encodeObject } from './encode/index.ts';
import { RecordError, UploadError, type RecordStage } from './errors.ts';
import { filterRecord } from './filter.ts';
import { TimeFormatter } from './key-template.ts';
import { KeyGrouper, partitionRecords, type GroupedRecord, type PlannedObject } from './partition.ts';
import { mapBounded, uploadObject, type ObjectToUpload } from './upload.ts';

export interface PartitionRange {
  readonly topic: string;
  readonly partition: number;
  readonly firstOffset: string;
  readonly lastOffset: string;
  readonly records: number;
}

export interface BatchResult {
  recordsIn: number;
  written: number;
  filtered: number;
  tombstonesIgnored: number;
  tombstonesWritten: number;
  deadLettered: number;
  objects: number;
  bytes: number;
  multipartObjects: number;
  deadLetterObjects: number;
  /** Records set aside by an error no check foresaw (a missing check: logged and counted as RecordCheckGaps). */
  unexpectedRecordErrors: number;
  /** Objects whose encoding threw and were bisected to isolate the records that made it throw. */
  encodeFallbacks: number;
  keys: string[];
  ranges: PartitionRange[];
}

type Prepared =
  | { readonly kind: 'keep'; readonly grouped: GroupedRecord }
  | { readonly kind: 'filtered' | 'tombstone-ignored' }
  | { readonly kind: 'dead'; readonly stage: RecordStage; readonly reason: string; readonly unexpected: boolean };

/** What an error thrown for one record's content becomes. */
function asDeadLetter(err: unknown, stage: RecordStage): { stage: RecordStage; reason: string; unexpected: boolean } {
  if (err instanceof RecordError) return { stage: err.stage, reason: err.message, unexpected: false };
  const e = err as Error;
  return { stage, reason: `unexpected ${e?.name ?? 'error'}: ${String(e?.message ?? err).slice(0, 300)}`, unexpected: true };
}

interface Encoded {
  readonly body: Buffer;
  readonly records: readonly SinkRecord[];
  readonly rejected: { readonly record: SinkRecord; readonly reason: string }[];
  readonly fallback: boolean;
}

export class SinkPipeline {
  private readonly fmt: TimeFormatter;
  private readonly plan: ReturnType<typeof convertPlan>;
  private readonly cfg: SinkConfig;
  private readonly s3: S3Client;
  private readonly now: () => number;

  private readonly encodeFn: typeof encodeObject;

  /** `encode` replaces the encoder stage (tests of the second line of defence inject one that fails). */
  constructor(cfg: SinkConfig, s3: S3Client, now: () => number = Date.now, encode: typeof encodeObject = encodeObject) {
    this.cfg = cfg;
    this.s3 = s3;
    this.now = now;
    this.encodeFn = encode;
    this.fmt = new TimeFormatter(cfg.timezone);
    this.plan = convertPlan(cfg);
  }

  /** The per-record boundary: one record → kept (converted, with its object group) or an outcome with a reason. */
  private prepare(record: KafkaRecord, grouper: KeyGrouper, nowMs: number): Prepared {
    let stage: RecordStage = 'decode';
    try {
      if (record.invalid) return { kind: 'dead', stage, reason: record.invalid.reason, unexpected: false };
      stage = 'filter';
      const outcome = filterRecord(this.cfg, record);
      if (outcome === 'filtered' || outcome === 'tombstone-ignored') return { kind: outcome };
      if (outcome === 'tombstone-deadletter') {
        return { kind: 'dead', stage, reason: 'tombstone (null value) with TOMBSTONES=deadletter', unexpected: false };
      }
      stage = 'convert';
      const r = convertRecord(this.cfg, this.plan, record);
      stage = 'partition';
      return { kind: 'keep', grouped: { record: r, groupKey: grouper.groupKey(r, nowMs) } };
    } catch (err) {
      return { kind: 'dead', ...asDeadLetter(err, stage) };
    }
  }

  private encodeOnce(records: readonly SinkRecord[]): { body: Buffer; records: readonly SinkRecord[]; rejected: Encoded['rejected'] } {
    const enc = this.encodeFn(this.cfg, records);
    return { body: enc.records.length === 0 ? enc.body : compressObject(this.cfg, enc.body), records: enc.records, rejected: [...enc.rejected] };
  }

  /** Encodes an object; if that throws for its content, bisects to set aside the records that make it throw. */
  private encode(o: PlannedObject): Encoded {
    try {
      return { ...this.encodeOnce(o.records), fallback: false };
    } catch (err) {
      if (err instanceof UploadError) throw err;
      const culprits: { record: SinkRecord; reason: string }[] = [];
      const bisect = (list: readonly SinkRecord[], error: unknown): void => {
        if (list.length === 1) {
          culprits.push({ record: list[0], reason: asDeadLetter(error, 'encode').reason });
          return;
        }
        const before = culprits.length;
        for (const half of [list.slice(0, list.length >> 1), list.slice(list.length >> 1)]) {
          try {
            this.encodeOnce(half);
          } catch (e) {
            bisect(half, e);
          }
        }
        // Each half encodes but not both together: the combination is the problem, so the whole list goes.
        if (culprits.length === before) for (const record of list) culprits.push({ record, reason: asDeadLetter(error, 'encode').reason });
      };
      bisect(o.records, err);
      const out = new Set(culprits.map((c) => c.record));
      const rest = o.records.filter((r) => !out.has(r));
      try {
        const enc = rest.length > 0 ? this.encodeOnce(rest) : { body: Buffer.alloc(0), records: [], rejected: [] };
        return { body: enc.body, records: enc.records, rejected: [...culprits, ...enc.rejected], fallback: true };
      } catch (last) {
        for (const record of rest) culprits.push({ record, reason: asDeadLetter(last, 'encode').reason });
        return { body: Buffer.alloc(0), records: [], rejected: culprits, fallback: true };
      }
    }
  }

  async handle(event: unknown): Promise<BatchResult> {
    const cfg = this.cfg;
    const nowMs = this.now();
    const decoded = decodeEvent(event);
    const result: BatchResult = {
      recordsIn: decoded.recordCount, written: 0, filtered: 0, tombstonesIgnored: 0, tombstonesWritten: 0,
      deadLettered: 0, objects: 0, bytes: 0, multipartObjects: 0, deadLetterObjects: 0, unexpectedRecordErrors: 0,
      encodeFallbacks: 0, keys: [], ranges: [],
    };
    const deadLetters: DeadLetter[] = [];
    const planned: PlannedObject[] = [];

    for (const batch of decoded.partitions) {
      if (batch.records.length === 0) continue;
      result.ranges.push({
        topic: batch.topic, partition: batch.partition, records: batch.records.length,
        firstOffset: batch.records[0].offset.toString(), lastOffset: batch.records[batch.records.length - 1].offset.toString(),
      });
      const grouper = new KeyGrouper(cfg, this.fmt);
      const kept: GroupedRecord[] = [];
      for (const record of batch.records) {
        const p = this.prepare(record, grouper, nowMs);
        if (p.kind === 'keep') kept.push(p.grouped);
        else if (p.kind === 'filtered') result.filtered++;
        else if (p.kind === 'tombstone-ignored') result.tombstonesIgnored++;
        else if (p.kind === 'dead') {
          deadLetters.push({ record, stage: p.stage, reason: p.reason });
          if (p.unexpected) result.unexpectedRecordErrors++;
        }
      }
      planned.push(...partitionRecords(cfg, kept));
    }

    // Encoding runs inside the upload pool so CPU work overlaps with uploads already in flight.
    const uploaded = await mapBounded(planned, cfg.uploadConcurrency, async (o) => {
      const enc = this.encode(o);
      if (enc.fallback) result.encodeFallbacks++;
      for (const { record, reason } of enc.rejected) deadLetters.push({ record: record.record, stage: 'encode', reason });
      if (enc.records.length === 0) return null;
      const upload: ObjectToUpload = {
        key: o.key,
        body: enc.body,
        contentType: contentTypeFor(cfg.format),
        metadata: {
          'kafka-topic': encodeURIComponent(o.topic),
          'kafka-partition': String(o.partition),
          'kafka-start-offset': o.startOffset.toString(),
          'kafka-last-offset': enc.records[enc.records.length - 1].record.offset.toString(),
          'kafka-record-count': String(enc.records.length),
        },
      };
      const u = await uploadObject(this.s3, cfg, upload);
      result.objects++;
      result.written += enc.records.length;
      for (const r of enc.records) if (r.record.value === null) result.tombstonesWritten++;
      return u;
    });
    const written = uploaded.filter((u) => u !== null);
    // Dead letters last: the encode stage can add to them. If their upload fails, the retried batch rewrites the
    // same data keys and then these.
    const letterObjects = planDeadLetters(cfg, deadLetters);
    const letters = await mapBounded(letterObjects, cfg.uploadConcurrency, (d) => uploadObject(this.s3, cfg, {
      key: d.key, body: d.body, contentType: 'application/x-ndjson', metadata: { 'kafka-record-count': String(d.count) },
    }));
    result.deadLettered = deadLetters.length;
    result.deadLetterObjects = letterObjects.length;
    for (const u of [...written, ...letters]) {
      result.bytes += u.bytes;
      if (u.multipart) result.multipartObjects++;
    }
    result.keys = [...written, ...letters].map((u) => u.key);
    return result;
  }
}
