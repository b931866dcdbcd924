/**
 * The data path, top to bottom: decode → filter → convert → partition → encode → compress → upload.
 * Every input record ends as exactly one of: written, filtered, tombstone ignored, or dead-lettered.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import type { SinkConfig } from './config.ts';
import { compressObject, contentTypeFor } from './compress.ts';
import { convertPlan, convertRecord, type SinkRecord } from './convert.ts';
import { planDeadLetters, type DeadLetter } from './dead-letter.ts';
import { decodeEvent } from './decode.ts';
import { encodeObject } from './encode/index.ts';
import { checkTextRecord } from './encode/raw.ts';
import { RecordError } from './errors.ts';
import { filterRecord } from './filter.ts';
import { TimeFormatter } from './key-template.ts';
import { partitionRecords, type PlannedObject } from './partition.ts';
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
  keys: string[];
  ranges: PartitionRange[];
}

export class SinkPipeline {
  private readonly fmt: TimeFormatter;
  private readonly plan: ReturnType<typeof convertPlan>;
  private readonly cfg: SinkConfig;
  private readonly s3: S3Client;
  private readonly now: () => number;

  constructor(cfg: SinkConfig, s3: S3Client, now: () => number = Date.now) {
    this.cfg = cfg;
    this.s3 = s3;
    this.now = now;
    this.fmt = new TimeFormatter(cfg.timezone);
    this.plan = convertPlan(cfg);
  }

  async handle(event: unknown): Promise<BatchResult> {
    const cfg = this.cfg;
    const nowMs = this.now();
    const decoded = decodeEvent(event);
    const result: BatchResult = {
      recordsIn: decoded.recordCount, written: 0, filtered: 0, tombstonesIgnored: 0, tombstonesWritten: 0,
      deadLettered: 0, objects: 0, bytes: 0, multipartObjects: 0, deadLetterObjects: 0, keys: [], ranges: [],
    };
    const deadLetters: DeadLetter[] = [];
    const planned: PlannedObject[] = [];

    for (const batch of decoded.partitions) {
      if (batch.records.length === 0) continue;
      result.ranges.push({
        topic: batch.topic, partition: batch.partition, records: batch.records.length,
        firstOffset: batch.records[0].offset.toString(), lastOffset: batch.records[batch.records.length - 1].offset.toString(),
      });
      const kept: SinkRecord[] = [];
      for (const record of batch.records) {
        const outcome = filterRecord(cfg, record);
        if (outcome === 'filtered') { result.filtered++; continue; }
        if (outcome === 'tombstone-ignored') { result.tombstonesIgnored++; continue; }
        if (outcome === 'tombstone-deadletter') {
          deadLetters.push({ record, stage: 'filter', reason: 'tombstone (null value) with TOMBSTONES=deadletter' });
          continue;
        }
        try {
          const r = convertRecord(cfg, this.plan, record);
          if (cfg.format === 'text') checkTextRecord(r);
          if (r.rawBytes > cfg.maxObjectBytes) {
            throw new RecordError('limit', `record is ${r.rawBytes} bytes (key+value+headers), over MAX_OBJECT_BYTES=${cfg.maxObjectBytes}`);
          }
          kept.push(r);
        } catch (err) {
          if (!(err instanceof RecordError)) throw err;
          deadLetters.push({ record, stage: err.stage, reason: err.message });
        }
      }
      const { objects, rejected } = partitionRecords(cfg, this.fmt, kept, nowMs);
      planned.push(...objects);
      for (const { record, reason } of rejected) deadLetters.push({ record: record.record, stage: 'partition', reason });
    }

    const uploads: (() => ObjectToUpload)[] = planned.map((o) => () => {
      const body = compressObject(cfg, encodeObject(cfg, o.records));
      return {
        key: o.key,
        body,
        contentType: contentTypeFor(cfg.format),
        metadata: {
          'kafka-topic': encodeURIComponent(o.topic),
          'kafka-partition': String(o.partition),
          'kafka-start-offset': o.startOffset.toString(),
          'kafka-last-offset': o.records[o.records.length - 1].record.offset.toString(),
          'kafka-record-count': String(o.records.length),
        },
      };
    });
    const letterObjects = planDeadLetters(cfg, deadLetters);
    for (const d of letterObjects) {
      uploads.push(() => ({ key: d.key, body: d.body, contentType: 'application/x-ndjson', metadata: { 'kafka-record-count': String(d.count) } }));
    }

    // Encoding runs inside the upload pool so CPU work overlaps with uploads already in flight.
    const done = await mapBounded(uploads, cfg.uploadConcurrency, (make) => uploadObject(this.s3, cfg, make()));
    for (const o of planned) {
      result.written += o.records.length;
      for (const r of o.records) if (r.record.value === null) result.tombstonesWritten++;
    }
    result.deadLettered = deadLetters.length;
    result.objects = planned.length;
    result.deadLetterObjects = letterObjects.length;
    for (const u of done) {
      result.bytes += u.bytes;
      if (u.multipart) result.multipartObjects++;
    }
    result.keys = done.map((u) => u.key);
    return result;
  }
}
