/**
 * The data path, top to bottom: decode → filter → convert (or transform: TRANSFORM_SQL) → partition → encode →
 * compress → upload.
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
import { deadLetterKey, planDeadLetters, type DeadLetter } from './dead-letter.ts';
import { DecodedRecords, decodeEvent, decodeRecords, type DecodedEvent, type KafkaRecord } from './decode.ts';
import { encodeObject } from './encode/index.ts';
import { RecordError, UploadError, type RecordStage } from './errors.ts';
import { filterRecord } from './filter.ts';
import { TimeFormatter } from './key-template.ts';
import { KeyGrouper, partitionRecords, type GroupedRecord, type PlannedObject } from './partition.ts';
import { ClaimConflictError, completeClaim, openClaim, ProgressStore, releaseClaim, takeClaim, type PartitionClaim } from './progress.ts';
import { mapBounded, uploadObject, type ObjectToUpload } from './upload.ts';
import type { RegistryDecoder } from './registry/index.ts';
import { jsonOf, type RType } from './registry/types.ts';
import type { SqlTransform, TransformOutcome } from './transform/index.ts';

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
  /** Records below their partition's checkpoint: an earlier delivery already wrote them (redelivery, lost commit). */
  alreadyWritten: number;
  /** TRANSFORM_SQL: rows the statement made (a record makes none when WHERE drops it, several with unnest). */
  transformedRows: number;
  keys: string[];
  ranges: PartitionRange[];
}

/** What `prepare` makes of one record: kept (its converted record and object group; no wrapper object per record),
 * one of two shared outcomes, or a dead letter. */
type Dead = { readonly kind: 'dead'; readonly stage: RecordStage; readonly reason: string; readonly unexpected: boolean };
const FILTERED = Object.freeze({ kind: 'filtered' as const });
const TOMBSTONE_IGNORED = Object.freeze({ kind: 'tombstone-ignored' as const });
/** TRANSFORM_SQL: a record the statement will turn into rows (the record as decoded; the original for dead letters). */
type ToTransform = { readonly kind: 'transform'; readonly record: KafkaRecord; readonly original: KafkaRecord; readonly at: number };
type Prepared = GroupedRecord | typeof FILTERED | typeof TOMBSTONE_IGNORED | Dead | ToTransform;

/** What an error thrown for one record's content becomes. */
function asDeadLetter(err: unknown, stage: RecordStage): { stage: RecordStage; reason: string; unexpected: boolean } {
  if (err instanceof RecordError) return { stage: err.stage, reason: err.message, unexpected: false };
  const e = err as Error;
  return { stage, reason: `unexpected ${e?.name ?? 'error'}: ${String(e?.message ?? err).slice(0, 300)}`, unexpected: true };
}

/** Who runs an invocation (its claims' owner) and until when (the Lambda's deadline). */
export interface Invocation {
  readonly owner?: string;
  readonly deadlineMs?: number;
}

interface Encoded {
  readonly body: Buffer;
  readonly records: readonly SinkRecord[];
  readonly rejected: { readonly record: SinkRecord; readonly reason: string }[];
  readonly fallback: boolean;
  readonly jsonColumns?: readonly number[];
}

export class SinkPipeline {
  private readonly fmt: TimeFormatter;
  private readonly plan: ReturnType<typeof convertPlan>;
  private readonly cfg: SinkConfig;
  /** What the encoders and key template read: the configuration, or with TRANSFORM_SQL the statement's rows (JSON
   * objects whose columns are the result's, no AVRO_SCHEMA: it describes the input). */
  private readonly out: SinkConfig;
  private readonly s3: S3Client;
  private readonly now: () => number;

  private readonly encodeFn: typeof encodeObject;

  private readonly progress: ProgressStore;

  /** What every object's metadata says about how it was written (objectLayout). */
  private readonly layout: Readonly<Record<string, string>>;

  /** SCHEMA_REGISTRY: made at the first batch (its module, and the Glue SDK, load only when configured). */
  private registry?: Promise<RegistryDecoder>;

  /** TRANSFORM_SQL: the engine, opened at the first batch (DuckDB loads only when configured). */
  private transform?: Promise<SqlTransform>;

  /** `encode` replaces the encoder stage (tests of the second line of defence inject one that fails). */
  constructor(cfg: SinkConfig, s3: S3Client, now: () => number = Date.now, encode: typeof encodeObject = encodeObject) {
    this.cfg = cfg;
    this.out = cfg.transform ? { ...cfg, schema: undefined, valueEncoding: 'json' } : cfg;
    this.s3 = s3;
    this.now = now;
    this.encodeFn = encode;
    this.progress = new ProgressStore(s3, { bucket: cfg.bucket, statePrefix: cfg.statePrefix, sseKmsKeyId: cfg.sseKmsKeyId });
    this.fmt = new TimeFormatter(cfg.timezone);
    this.plan = convertPlan(this.out);
    this.layout = objectLayout(this.out);
  }

  /**
   * Takes the checkpoints this pipeline completed as it knows them, without a GET (ProgressStore.remember): for a
   * process that reads its partitions in turn (the local runner), not for a Lambda function.
   */
  rememberCheckpoints(): void {
    this.progress.remember = true;
  }

  /** `registry` given by tests (a fetcher of their own); otherwise made from SCHEMA_REGISTRY. */
  useRegistry(registry: RegistryDecoder): void {
    this.registry = Promise.resolve(registry);
  }

  /** The transform engine, opened once; one that failed to open is tried again at the next batch. */
  private transformer(): Promise<SqlTransform> | undefined {
    const settings = this.cfg.transform;
    if (settings === undefined) return undefined;
    this.transform ??= import('./transform/index.ts').then((m) => m.SqlTransform.open({
      ...settings, valueEncoding: this.cfg.valueEncoding, keyEncoding: this.cfg.keyEncoding, headerEncoding: this.cfg.headerEncoding, schema: this.cfg.schema,
    }));
    this.transform.catch(() => { this.transform = undefined; });
    return this.transform;
  }

  /** Opens the transform engine now, checking TRANSFORM_SQL (ConfigError): the cold start, not the first batch. */
  async ready(): Promise<void> {
    await this.transformer();
  }

  /** Closes the transform engine (tests, the runner at exit). */
  async close(): Promise<void> {
    const t = this.transform;
    this.transform = undefined;
    if (t) (await t.catch(() => undefined))?.close();
  }

  private registryDecoder(): Promise<RegistryDecoder> | undefined {
    const settings = this.cfg.registry;
    if (settings === undefined) return undefined;
    this.registry ??= import('./registry/index.ts').then((m) => m.decoderFor(settings));
    return this.registry;
  }

  /** The per-record boundary: one record → kept (converted, with its object group) or an outcome with a reason. */
  private prepare(original: KafkaRecord, grouper: KeyGrouper, nowMs: number, registry: RegistryDecoder | undefined, transform: boolean): Prepared {
    let stage: RecordStage = 'decode';
    let record = original;
    try {
      if (record.invalid) return { kind: 'dead', stage, reason: record.invalid.reason, unexpected: false };
      // Registry-framed value and key → their JSON; the record goes on as that JSON (dead letters keep the original).
      let schemaId: string | undefined;
      let decoded: SinkRecord['registry'];
      if (registry !== undefined) ({ record, schemaId, value: decoded } = registry.decodeRecord(record));
      stage = 'filter';
      const outcome = filterRecord(this.cfg, record);
      if (outcome === 'filtered') return FILTERED;
      if (outcome === 'tombstone-ignored') return TOMBSTONE_IGNORED;
      if (outcome === 'tombstone-deadletter') {
        return { kind: 'dead', stage, reason: 'tombstone (null value) with TOMBSTONES=deadletter', unexpected: false };
      }
      // A value goes to the statement (its rows are converted after it ran); a written tombstone goes on as it is.
      if (transform && record.value !== null) return { kind: 'transform', record, original, at: -1 };
      stage = 'convert';
      let r = convertRecord(this.out, this.plan, record);
      if (record !== original) r = { ...r, original, schemaId, ...(decoded ? { registry: decoded } : {}) };
      stage = 'partition';
      return { record: r, groupKey: grouper.groupKey(r, nowMs) };
    } catch (err) {
      return { kind: 'dead', ...asDeadLetter(err, stage) };
    }
  }

  /** One result row of TRANSFORM_SQL → the record written for it: the source record's metadata, the row as its value
   * (JSON) and its columns (the row's type). Converted like any record; a row that fails sets its record aside. */
  private rowRecord(p: ToTransform, row: { type: RType; value: Record<string, unknown>; shape: number }, grouper: KeyGrouper, nowMs: number): GroupedRecord {
    const record: KafkaRecord = { ...p.record, value: Buffer.from(jsonOf(row.type, row.value)) };
    const r: SinkRecord = { ...convertRecord(this.out, this.plan, record), original: p.original, schemaId: `sql-${row.shape}`, registry: { type: row.type, value: row.value } };
    return { record: r, groupKey: grouper.groupKey(r, nowMs) };
  }

  /** A transformed record's outcome as the partition's entries: its rows, or what it became. */
  private transformed(p: ToTransform, outcome: TransformOutcome, grouper: KeyGrouper, nowMs: number): { rows?: GroupedRecord[]; other?: Prepared } {
    if ('dead' in outcome) return { other: { kind: 'dead', stage: outcome.dead.stage, reason: outcome.dead.reason, unexpected: false } };
    if (outcome.rows.length === 0) return { other: FILTERED };
    let stage: RecordStage = 'convert';
    try {
      const rows: GroupedRecord[] = [];
      for (const row of outcome.rows) {
        stage = 'convert';
        rows.push(this.rowRecord(p, row, grouper, nowMs));
      }
      return { rows };
    } catch (err) {
      return { other: { kind: 'dead', ...asDeadLetter(err, stage) } };
    }
  }

  private encodeOnce(records: readonly SinkRecord[]): Omit<Encoded, 'fallback'> {
    const enc = this.encodeFn(this.out, records);
    return {
      body: enc.records.length === 0 ? enc.body : compressObject(this.out, enc.body), records: enc.records, rejected: [...enc.rejected], jsonColumns: enc.jsonColumns,
    };
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
        return { ...enc, rejected: [...culprits, ...enc.rejected], fallback: true };
      } catch (last) {
        for (const record of rest) culprits.push({ record, reason: asDeadLetter(last, 'encode').reason });
        return { body: Buffer.alloc(0), records: [], rejected: culprits, fallback: true };
      }
    }
  }

  /**
   * Handles one event. `invocation` names this invocation's claims (owner) and how long it can live (deadlineMs:
   * the Lambda's deadline); a claim expires a minute after it.
   */
  async handle(event: unknown, invocation: Invocation = {}): Promise<BatchResult> {
    return this.run(() => decodeEvent(event), invocation);
  }

  /**
   * The second entry: records already decoded (the local runner's consumer), without the event's base64 and JSON.
   * Everything after decoding is the same code as `handle`: per-record checks, dead letters, claims, checkpoints.
   */
  async handleRecords(records: readonly KafkaRecord[] | DecodedRecords, invocation: Invocation = {}): Promise<BatchResult> {
    return this.run(() => (records instanceof DecodedRecords ? decodeRecords(records.records, records) : decodeRecords(records)), invocation);
  }

  /**
   * `fresh`: every checkpoint read from S3. Otherwise (rememberCheckpoints) a checkpoint this pipeline completed itself
   * is taken as it knows it (no GET), and trusted only through a conditional write on its ETag: when a claim's write finds it changed
   * (another invocation advanced it), the batch is run again once from fresh reads (nothing is written before the
   * claims), and a partition whose records it would all skip as written is read again before they are skipped.
   */
  private async run(decode: () => DecodedEvent, invocation: Invocation, fresh = false): Promise<BatchResult> {
    const cfg = this.cfg;
    const nowMs = this.now();
    const owner = invocation.owner ?? `pid-${process.pid}-${nowMs}-${Math.random().toString(36).slice(2, 10)}`;
    const expiresAt = (invocation.deadlineMs ?? nowMs + MAX_INVOCATION_MS) + CLAIM_MARGIN_MS;
    const decoded = decode();
    const result: BatchResult = {
      recordsIn: decoded.recordCount, written: 0, filtered: 0, tombstonesIgnored: 0, tombstonesWritten: 0,
      deadLettered: 0, objects: 0, bytes: 0, multipartObjects: 0, deadLetterObjects: 0, unexpectedRecordErrors: 0,
      encodeFallbacks: 0, alreadyWritten: 0, transformedRows: 0, keys: [], ranges: [],
    };
    const deadLetters: DeadLetter[] = [];
    const planned: PlannedObject[] = [];
    const claims: { pc: PartitionClaim; to: bigint; keys: string[] }[] = [];
    const batches = decoded.partitions.filter((b) => b.records.length > 0);
    const registryPending = this.registryDecoder();
    const registry = registryPending === undefined ? undefined : await registryPending;
    const transformPending = this.transformer();
    const transform = transformPending === undefined ? undefined : await transformPending;

    // 1. Where each partition's progress stands (one GET each); records below it were written by an earlier delivery.
    const opened = await mapBounded(batches, cfg.uploadConcurrency, async (b) => {
      const pc = await openClaim(this.progress, b.topic, b.partition, b.records[0].offset, nowMs, fresh);
      // Nothing would be written, so no write would check the checkpoint known: it is read.
      return pc.known && b.records[b.records.length - 1].offset < pc.start ? openClaim(this.progress, b.topic, b.partition, b.records[0].offset, nowMs, true) : pc;
    });
    const toWrite = batches.map((batch, i) => batch.records.filter((r) => r.offset >= opened[i].start));
    // 1b. The schemas the records name, fetched before anything is written: a registry that cannot answer fails the
    // batch here (retried), never a record.
    if (registry !== undefined) await registry.prefetch(toWrite.flat());
    // Each partition's records prepared, in offset order; with TRANSFORM_SQL, the statement runs once for all of them.
    const prepared: { record: KafkaRecord; p: Prepared }[][] = [];
    const groupers: KeyGrouper[] = [];
    const pending: ToTransform[] = [];
    for (const [i, batch] of batches.entries()) {
      const records = toWrite[i];
      result.alreadyWritten += batch.records.length - records.length;
      result.ranges.push({
        topic: batch.topic, partition: batch.partition, records: batch.records.length,
        firstOffset: batch.records[0].offset.toString(), lastOffset: batch.records[batch.records.length - 1].offset.toString(),
      });
      const grouper = new KeyGrouper(this.out, this.fmt);
      groupers.push(grouper);
      prepared.push(records.map((record) => {
        let p = this.prepare(record, grouper, nowMs, registry, transform !== undefined);
        if ('kind' in p && p.kind === 'transform') pending.push((p = { ...p, at: pending.length }));
        return { record, p };
      }));
    }
    const outcomes = transform !== undefined && pending.length > 0 ? await transform.apply(pending.map((p) => p.record), invocation.deadlineMs) : [];
    for (const [i, batch] of batches.entries()) {
      const pc = opened[i];
      const records = toWrite[i];
      if (records.length === 0) continue;
      const kept: GroupedRecord[] = [];
      const entries = prepared[i];
      // Indexed loops over a batch's records here and below: a for-of that runs before V8 optimizes it (an async
      // function runs a few times per batch) makes an iterator result per record.
      for (let j = 0; j < entries.length; j++) {
        const record = entries[j].record;
        let p: Prepared = entries[j].p;
        if ('kind' in p && p.kind === 'transform') {
          const t = this.transformed(p, outcomes[p.at], groupers[i], nowMs);
          if (t.rows) {
            result.transformedRows += t.rows.length;
            kept.push(...t.rows);
            continue;
          }
          p = t.other!;
        }
        if (p === FILTERED) result.filtered++;
        else if (p === TOMBSTONE_IGNORED) result.tombstonesIgnored++;
        else if ('stage' in p) {
          deadLetters.push({ record, stage: p.stage, reason: p.reason });
          if (p.unexpected) result.unexpectedRecordErrors++;
        } else kept.push(p as GroupedRecord);
      }
      const objects = partitionRecords(this.out, kept, pc.start);
      planned.push(...objects);
      claims.push({
        pc, to: records[records.length - 1].offset,
        keys: [...objects.map((o) => o.key), deadLetterKey(cfg.errorPrefix, batch.topic, batch.partition, pc.start)],
      });
    }

    // 2. Claim each partition's range with the keys it will write; if one is held by a live invocation, give back
    // the ones taken and fail (the event source retries this batch; by then that claim is done).
    const taken = new Set<(typeof claims)[number]>();
    let claiming = true;
    try {
      // In parallel (one round trip): every claim that succeeds is given back if another fails.
      await mapBounded(claims, cfg.uploadConcurrency, async (c) => {
        await takeClaim(this.progress, c.pc, c.to, c.keys, owner, expiresAt, nowMs);
        taken.add(c);
      });
      claiming = false;
      await this.write(planned, deadLetters, claims, result);
      // 4-5. Remove what a taken-over claim left behind, then advance every checkpoint past its claim.
      // Only keys actually written count as overwritten: a listed key this attempt did not write (no dead letters this
      // time, an object whose records were all set aside) must still be deleted if a dead claim wrote it.
      const written = new Set(result.keys);
      await mapBounded(claims, cfg.uploadConcurrency, async (c) => {
        await completeClaim(this.progress, c.pc, c.to, c.keys.filter((k) => written.has(k)), this.now());
        taken.delete(c); // completed: never released
      });
    } catch (err) {
      await Promise.all([...taken].map((c) => releaseClaim(this.progress, c.pc, c.to, c.keys, owner, this.now())));
      // A checkpoint known from this pipeline's own write had moved on: the batch again, from what S3 holds.
      if (claiming && !fresh && err instanceof ClaimConflictError && claims.some((c) => c.pc.known)) return this.run(decode, invocation, true);
      throw err;
    }
    return result;
  }

  /** 3. Encodes and uploads the planned objects, then the dead letters (the encode stage can add to them). */
  private async write(planned: readonly PlannedObject[], deadLetters: DeadLetter[], claims: readonly { pc: PartitionClaim }[], result: BatchResult): Promise<void> {
    const cfg = this.out;
    // Records written: with TRANSFORM_SQL a record can make several rows (unnest), each an entry of an object, so
    // they are counted once each; otherwise each entry is its own record (no set of 10,000 entries per batch).
    const writtenRecords = this.cfg.transform ? new Set<KafkaRecord>() : undefined;
    // Encoding runs inside the upload pool so CPU work overlaps with uploads already in flight.
    const uploaded = await mapBounded(planned, cfg.uploadConcurrency, async (o) => {
      const enc = this.encode(o);
      if (enc.fallback) result.encodeFallbacks++;
      for (const { record, reason } of enc.rejected) deadLetters.push({ record: record.original ?? record.record, stage: 'encode', reason });
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
          // How the object was written, so a reader (a replay) needs no configuration (README, "Object keys").
          ...this.layout,
          'kafka-timestamp-type': timestampTypeOf(enc.records),
          ...(enc.jsonColumns && enc.jsonColumns.length > 0 ? { 'kafka-s3-json-columns': indexRanges(enc.jsonColumns) } : {}),
          // One schema per object (partition.ts cuts where it changes): its ID in the registry.
          ...(o.schemaId !== undefined && !o.schemaId.startsWith('sql-') ? { 'registry-schema-id': o.schemaId } : {}),
        },
      };
      const u = await uploadObject(this.s3, cfg, upload);
      result.objects++;
      for (let j = 0; j < enc.records.length; j++) {
        const r = enc.records[j];
        writtenRecords?.add(r.original ?? r.record);
        if (r.record.value === null) result.tombstonesWritten++;
      }
      result.written = writtenRecords ? writtenRecords.size : result.written + enc.records.length;
      return u;
    });
    const written = uploaded.filter((u) => u !== null);
    const starts = new Map(claims.map((c) => [`${c.pc.topic}\u0000${c.pc.partition}`, c.pc.start]));
    const letterObjects = planDeadLetters(cfg, deadLetters, (t, p) => starts.get(`${t}\u0000${p}`));
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
  }
}

/** Lambda's longest timeout for a Kafka event source (14 min) rounded up: a claim without a known deadline. */
const MAX_INVOCATION_MS = 15 * 60_000;
/** Beyond the deadline: clock skew between hosts and requests still in flight when a function is stopped. */
const CLAIM_MARGIN_MS = 60_000;

/**
 * How the sink writes objects, as S3 user metadata on each: format and compression, the fields and their encodings,
 * the jsonl envelope, the bytes format's separator (hex). With the per-object keys (kafka-topic, …) a reader needs
 * nothing else to read an object back into records.
 */
export function objectLayout(cfg: SinkConfig): Record<string, string> {
  return {
    'kafka-s3-format': cfg.format,
    'kafka-s3-compression': cfg.compression,
    'kafka-s3-fields': cfg.fields.join(','),
    'kafka-s3-encodings': `key=${cfg.keyEncoding},value=${cfg.valueEncoding},headers=${cfg.headerEncoding}`,
    // jsonl writes a tombstone and a JSON null value alike (null): a reader tells them apart by this.
    'kafka-s3-tombstones': cfg.tombstones,
    ...(cfg.format === 'jsonl' ? { 'kafka-s3-envelope': String(cfg.envelope) } : {}),
    ...(cfg.format === 'bytes' ? { 'kafka-s3-separator': cfg.bytesSeparator.toString('hex') } : {}),
  };
}

/**
 * Column positions as ranges ("0,3-5,9"). S3 user metadata is 2 KB in all: a list longer than 512 characters is "*",
 * which says the object has JSON columns without naming them (a reader then reads them as text).
 */
export function indexRanges(indexes: readonly number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < indexes.length; i++) {
    let j = i;
    while (j + 1 < indexes.length && indexes[j + 1] === indexes[j] + 1) j++;
    parts.push(j === i ? String(indexes[i]) : `${indexes[i]}-${indexes[j]}`);
    i = j;
  }
  const text = parts.join(',');
  return text.length > 512 ? '*' : text;
}

/** The records' timestamp type (CREATE_TIME or LOG_APPEND_TIME), or "mixed" when a topic changed it between them. */
function timestampTypeOf(records: readonly SinkRecord[]): string {
  const first = records[0].record.timestampType;
  for (let i = 1; i < records.length; i++) if (records[i].record.timestampType !== first) return 'mixed';
  // Only Kafka's names go into a header: an event's text is not ours to send to S3 as it is.
  return TIMESTAMP_TYPES.has(first) ? first : 'unknown';
}
const TIMESTAMP_TYPES = new Set(['CREATE_TIME', 'LOG_APPEND_TIME', 'NO_TIMESTAMP_TYPE']);