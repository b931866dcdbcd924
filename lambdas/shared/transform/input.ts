/**
 * Table `input` of TRANSFORM_SQL, from a batch's records: the checks each record passes before the engine sees it,
 * and the records loaded into DuckDB (table `raw`: the value's text, the metadata the statement reads, fields kept as
 * their own JSON text), from which each run of the statement makes the view `input` (index.ts).
 */
import { isUtf8 } from 'node:buffer';
import type { DuckDBAppender } from '@duckdb/node-api';
import { Limits } from '../constants.ts';
import { RecordError } from '../errors.ts';
import type { KafkaRecord } from '../decode.ts';
import { checkJson } from '../json-validate.ts';
import { parseJsonExact } from '../json.ts';
import { ownField, toCell } from '../schema.ts';
import { exactTexts, fieldsOf, type Field } from './columns.ts';
import type { SqlEngine } from './engine.ts';
import type { TransformOutcome, TransformSettings } from './index.ts';
import { MetadataColumns, ROW_COLUMN, type MetadataColumn, type StatementPlan } from './statement.ts';

/** What the check of one record hands to the engine. */
export interface Input {
  readonly record: KafkaRecord;
  /** Inferred columns: the value's top-level fields and their kinds (columns.ts). */
  readonly fields?: readonly Field[];
  /** Fields of kind 'json': their JSON text as the value holds it (DuckDB's json_transform would reread numbers). */
  readonly exact?: ReadonlyMap<string, string>;
}

/** Distinct fields of kind 'json' per batch at most, each a column of `raw`; a record with one more is a dead letter. */
const MAX_EXACT_COLUMNS = 100;

/** The per-record checks before the engine sees a record: text where the statement reads text, a JSON object where
 * it reads value columns, the schema's types when one is given. Throws RecordError. */
export function checkRecord(s: TransformSettings, plan: StatementPlan, usesValueColumns: boolean, r: KafkaRecord): Input {
  const value = r.value!;
  let fields: readonly Field[] | undefined;
  let exact: Map<string, string> | undefined;
  if (s.valueEncoding === 'json') {
    if (!isUtf8(value)) throw new RecordError('convert', 'value is not valid UTF-8 (use VALUE_ENCODING=base64 for binary data)');
    const infer = usesValueColumns && !s.schema;
    const check = checkJson(value, false, infer, infer);
    if (check.reason !== null) throw new RecordError('convert', `value is not accepted as JSON: ${check.reason}`);
    if (usesValueColumns && !check.topLevelObject) {
      throw new RecordError('convert', 'value is not a JSON object: TRANSFORM_SQL reads its fields as columns (read _kafka_value instead, or use VALUE_ENCODING=text)');
    }
    if (s.schema && usesValueColumns) {
      // The schema's checks, as for a value written without a transform (README, "Schemas").
      const obj = parseJsonExact(value.toString('utf8'), check.riskyNumbers) as Record<string, unknown>;
      for (const c of s.schema.columns) toCell(c, ownField(obj, c.name));
    } else if (infer) {
      fields = fieldsOf(value, check.topLevelNames!, check.riskyNumbers);
      if (check.riskyNumbers) exact = exactTexts(value, fields);
    }
  } else if (s.valueEncoding === 'text' && !isUtf8(value)) {
    throw new RecordError('convert', 'value is not valid UTF-8 (use VALUE_ENCODING=base64 for binary data)');
  }
  const meta = plan.metadata;
  if (meta.has('_kafka_key') && s.keyEncoding === 'text' && r.key !== null && !isUtf8(r.key)) {
    throw new RecordError('convert', 'key is not valid UTF-8 (the statement reads _kafka_key; use KEY_ENCODING=base64)');
  }
  if (meta.has('_kafka_headers') && s.headerEncoding === 'text') {
    for (const h of r.headers) {
      if (h.value !== null && !isUtf8(h.value)) throw new RecordError('convert', `header ${JSON.stringify(h.key)} is not valid UTF-8 (the statement reads _kafka_headers; use HEADER_ENCODING=base64)`);
    }
  }
  return { record: r, fields, exact };
}

/**
 * The columns of `raw` for fields of kind 'json', by name; a record that would need one beyond the most is set aside
 * (removed from `checked` and `from`, its outcome set).
 */
export function exactColumnsOf(checked: Input[], from: number[], outcomes: (TransformOutcome | undefined)[]): Map<string, number> {
  const columns = new Map<string, number>();
  for (let k = 0; k < checked.length; k++) {
    const names = checked[k].exact;
    if (names === undefined) continue;
    const fresh = [...names.keys()].filter((n) => !columns.has(n));
    if (columns.size + fresh.length > MAX_EXACT_COLUMNS) {
      outcomes[from[k]] = { dead: { stage: 'schema', reason: `over ${MAX_EXACT_COLUMNS} fields of one batch hold numbers no DuckDB number type holds exactly (read _kafka_value)` } };
      checked.splice(k, 1);
      from.splice(k, 1);
      k--;
      continue;
    }
    for (const n of fresh) columns.set(n, columns.size);
  }
  return columns;
}

/** The batch's records into table `raw`: the value, the metadata the statement reads, the exact JSON texts. */
export async function loadRaw(engine: SqlEngine, s: TransformSettings, plan: StatementPlan, inputs: readonly Input[], exactColumns: ReadonlyMap<string, number>): Promise<void> {
  const meta = plan.metadata;
  const bytes = s.valueEncoding === 'base64';
  const cols = [`${ROW_COLUMN} INTEGER`, `v ${bytes ? 'BLOB' : 'VARCHAR'}`];
  const has = (c: MetadataColumn) => meta.has(c);
  if (has('_kafka_topic')) cols.push('topic VARCHAR');
  if (has('_kafka_partition')) cols.push('part INTEGER');
  if (has('_kafka_offset')) cols.push('off BIGINT');
  if (has('_kafka_timestamp')) cols.push('ts BIGINT');
  if (has('_kafka_timestamp_type')) cols.push('ts_type VARCHAR');
  if (has('_kafka_key')) cols.push(`k ${s.keyEncoding === 'base64' ? 'BLOB' : 'VARCHAR'}`);
  if (has('_kafka_headers')) cols.push('h VARCHAR');
  for (const i of exactColumns.values()) cols.push(`x${i} VARCHAR`);
  await engine.con.run(`CREATE OR REPLACE TEMP TABLE raw (${cols.join(', ')})`);
  const app: DuckDBAppender = await engine.con.createAppender('raw', 'main', 'temp');
  try {
    for (let i = 0; i < inputs.length; i++) {
      const r = inputs[i].record;
      app.appendInteger(i);
      if (bytes) app.appendBlob(r.value!);
      else app.appendVarchar(r.value!.toString('utf8'));
      if (has('_kafka_topic')) app.appendVarchar(r.topic);
      if (has('_kafka_partition')) app.appendInteger(r.partition);
      if (has('_kafka_offset')) app.appendBigInt(r.offset);
      if (has('_kafka_timestamp')) {
        if (r.timestamp >= Limits.minTimestampMs && r.timestamp <= Limits.maxTimestampMs) app.appendBigInt(BigInt(r.timestamp));
        else app.appendNull();
      }
      if (has('_kafka_timestamp_type')) app.appendVarchar(r.timestampType);
      if (has('_kafka_key')) {
        if (r.key === null) app.appendNull();
        else if (s.keyEncoding === 'base64') app.appendBlob(r.key);
        else app.appendVarchar(r.key.toString('utf8'));
      }
      if (has('_kafka_headers')) {
        app.appendVarchar(JSON.stringify(r.headers.map((h) => ({
          key: h.key, value: h.value === null ? null : s.headerEncoding === 'base64' ? h.value.toString('base64') : h.value.toString('utf8'),
        }))));
      }
      for (const name of exactColumns.keys()) {
        const text = inputs[i].exact?.get(name);
        if (text === undefined) app.appendNull();
        else app.appendVarchar(text);
      }
      app.endRow();
    }
    app.flushSync();
  } finally {
    app.closeSync();
  }
}

/** The metadata columns of `input` the statement reads, as select expressions over `raw`. */
export function metadataSelect(s: TransformSettings, plan: StatementPlan): string[] {
  const out: string[] = [];
  for (const c of MetadataColumns) {
    if (!plan.metadata.has(c)) continue;
    switch (c) {
      case '_kafka_topic': out.push(`topic AS ${c}`); break;
      case '_kafka_partition': out.push(`part AS ${c}`); break;
      case '_kafka_offset': out.push(`off AS ${c}`); break;
      case '_kafka_timestamp': out.push(`epoch_ms(ts)::TIMESTAMPTZ AS ${c}`); break;
      case '_kafka_timestamp_type': out.push(`ts_type AS ${c}`); break;
      case '_kafka_key': out.push(`k AS ${c}`); break;
      case '_kafka_headers': out.push(`json_transform(h, '[{"key":"VARCHAR","value":"VARCHAR"}]') AS ${c}`); break;
      case '_kafka_value': out.push(`${s.valueEncoding === 'json' ? 'v::JSON' : 'v'} AS ${c}`); break;
    }
  }
  return out;
}
