/**
 * Stage 3b — transform (TRANSFORM_SQL): one SELECT over the batch's records; its result rows are what gets written.
 *
 * The records go into DuckDB once per batch (an appender: the value's text and the metadata the statement reads), a
 * view `input` turns each JSON value into columns, and the statement runs once for the whole batch. Each result row
 * carries `_kafka_row`, the index of the record it came from, so the record's Kafka metadata, offsets and dead
 * letters follow the row. A statement that fails for the batch (a cast error, a value too big for memory, a time
 * out) is run again on halves until the records that make it fail are found: they become dead letters with the
 * engine's message and the others are written. Only an engine that broke (a fatal or internal error) fails the
 * batch, which the event source then retries.
 */
import { isUtf8 } from 'node:buffer';
import type { DuckDBAppender } from '@duckdb/node-api';
import { isReservedName, Limits } from '../constants.ts';
import { ConfigError, RecordError, type RecordStage } from '../errors.ts';
import type { KafkaRecord } from '../decode.ts';
import { checkJson } from '../json-validate.ts';
import { parseJsonExact } from '../json.ts';
import { ownField, toCell, type TableSchema } from '../schema.ts';
import type { RType } from '../registry/types.ts';
import { QueryTimeoutError, SqlEngine } from './engine.ts';
import { exactTexts, fieldsOf, groupOf, normalize, pointerOf, runColumns, type Field } from './columns.ts';
import { CellError, rowShape, type RowShape } from './rows.ts';
import { MetadataColumns, planStatement, ROW_COLUMN, type MetadataColumn, type StatementPlan } from './statement.ts';

export interface TransformSettings {
  readonly sql: string;
  readonly valueEncoding: 'json' | 'text' | 'base64';
  readonly keyEncoding: 'text' | 'base64';
  readonly headerEncoding: 'text' | 'base64';
  /** AVRO_SCHEMA: the value columns of `input`, checked per record; otherwise inferred from each batch's values. */
  readonly schema?: TableSchema;
  /** DuckDB's memory limit. */
  readonly memoryLimitMb: number;
  /** How long one run of the statement may take before it is interrupted. */
  readonly queryTimeoutMs: number;
}

/** One result row: the value written for its record (README, "Transform with SQL"). */
export interface TransformedRow {
  /** The row's type; rows of one run share it (object). */
  readonly type: Extract<RType, { kind: 'record' }>;
  readonly value: Record<string, unknown>;
  /** Which run (shape) made it: objects hold rows of one shape. */
  readonly shape: number;
}

export type TransformOutcome =
  | { readonly rows: readonly TransformedRow[] }
  | { readonly dead: { readonly stage: RecordStage; readonly reason: string } };

/** The engine broke (not a problem of any record): the batch fails and is retried with a new engine. */
export class TransformEngineError extends Error {}

/** DuckDB's json_transform type of each AVRO_SCHEMA column type; bytes, timestamps and dates stay JSON (cast them). */
const SCHEMA_TYPES: Record<string, string> = {
  boolean: 'BOOLEAN', int: 'INTEGER', long: 'BIGINT', float: 'FLOAT', double: 'DOUBLE', string: 'VARCHAR',
};

const sqlString = (s: string) => `'${s.replace(/'/g, "''")}'`;
const ident = (s: string) => `"${s.replace(/"/g, '""')}"`;

/** A problem with TRANSFORM_SQL (at synth and cold start), worded with the setting's name. */
export function transformProblems(problems: readonly string[]): ConfigError {
  return new ConfigError(problems.map((p) => `TRANSFORM_SQL: ${p}`));
}

/** What the check of one record hands to the engine. */
interface Input {
  readonly record: KafkaRecord;
  /** Inferred columns: the value's top-level fields and their kinds (columns.ts). */
  readonly fields?: readonly Field[];
  /** Fields of kind 'json': their JSON text as the value holds it (DuckDB's json_transform would reread numbers). */
  readonly exact?: ReadonlyMap<string, string>;
}

/** Distinct fields of kind 'json' per batch at most, each a column of `raw`; a record with one more is a dead letter. */
const MAX_EXACT_COLUMNS = 100;

export class SqlTransform {
  private engine?: SqlEngine;
  private readonly settings: TransformSettings;
  readonly plan: StatementPlan;
  private readonly usesValueColumns: boolean;
  /** Row types seen, by their JSON: rows of equal types share a shape, one type object (encoders compare types by
   * identity), and may share an object. Ids are never reused, so a cleared map cannot give two types one id. */
  private readonly shapes = new Map<string, { readonly id: number; readonly type: TransformedRow['type'] }>();
  private lastShape = 0;

  private constructor(engine: SqlEngine, settings: TransformSettings, plan: StatementPlan) {
    this.engine = engine;
    this.settings = settings;
    this.plan = plan;
    this.usesValueColumns = plan.star || plan.valueColumns.size > 0 || plan.aliasedColumns.size > 0;
  }

  /** Opens the engine and checks the statement (all problems at once, as ConfigError). */
  static async open(settings: TransformSettings): Promise<SqlTransform> {
    const engine = await SqlEngine.open({ memoryLimitMb: settings.memoryLimitMb });
    try {
      const plan = await checkStatement(engine, settings);
      return new SqlTransform(engine, settings, plan);
    } catch (err) {
      engine.close();
      throw err;
    }
  }

  close(): void {
    this.engine?.close();
    this.engine = undefined;
  }

  /** Transforms a batch's records (tombstones are not given: they follow TOMBSTONES). One outcome per record. */
  async apply(records: readonly KafkaRecord[], deadlineMs?: number): Promise<TransformOutcome[]> {
    // The statement's time for this batch: up to the invocation's deadline less what writing needs, or a fixed budget.
    const now = Date.now();
    const budget = { until: Math.min(now + Limits.transformBatchBudgetMs, deadlineMs === undefined ? Infinity : deadlineMs - Limits.transformWriteReserveMs), startedAt: now };
    const outcomes = new Array<TransformOutcome | undefined>(records.length);
    const checked: Input[] = [];
    const from: number[] = []; // checked index → record index
    for (let i = 0; i < records.length; i++) {
      try {
        checked.push(this.check(records[i]));
        from.push(i);
      } catch (err) {
        if (!(err instanceof RecordError)) throw err;
        outcomes[i] = { dead: { stage: err.stage, reason: err.message } };
      }
    }
    if (checked.length > 0) {
      // Records in groups whose fields agree (columns.ts), each group a contiguous range of `raw`, run on its own.
      this.exactColumns(checked, from, outcomes);
      const group = groupOf(checked.map((c) => c.fields), this.plan.aliasedColumns);
      const order = [...checked.keys()].sort((a, b) => group[a] - group[b] || a - b);
      const inputs = order.map((k) => checked[k]);
      const at = order.map((k) => from[k]); // input index → record index
      const engine = this.engine ?? (this.engine = await SqlEngine.open({ memoryLimitMb: this.settings.memoryLimitMb }));
      try {
        await this.load(engine, inputs);
        const results = new Array<TransformOutcome | undefined>(inputs.length);
        for (let lo = 0; lo < inputs.length;) {
          let hi = lo + 1;
          while (hi < inputs.length && group[order[hi]] === group[order[lo]]) hi++;
          await this.runRange(engine, inputs, lo, hi, results, budget);
          lo = hi;
        }
        for (let k = 0; k < inputs.length; k++) outcomes[at[k]] = results[k] ?? { rows: [] };
      } catch (err) {
        if (err instanceof TransformEngineError) this.close();
        throw err;
      }
    }
    return outcomes as TransformOutcome[];
  }

  /** The per-record checks before the engine sees a record: text where the statement reads text, a JSON object where
   * it reads value columns, the schema's types when one is given. */
  private check(r: KafkaRecord): Input {
    const s = this.settings;
    const value = r.value!;
    let fields: readonly Field[] | undefined;
    let exact: Map<string, string> | undefined;
    if (s.valueEncoding === 'json') {
      if (!isUtf8(value)) throw new RecordError('convert', 'value is not valid UTF-8 (use VALUE_ENCODING=base64 for binary data)');
      const infer = this.usesValueColumns && !s.schema;
      const check = checkJson(value, false, infer, infer);
      if (check.reason !== null) throw new RecordError('convert', `value is not accepted as JSON: ${check.reason}`);
      if (this.usesValueColumns && !check.topLevelObject) {
        throw new RecordError('convert', 'value is not a JSON object: TRANSFORM_SQL reads its fields as columns (read _kafka_value instead, or use VALUE_ENCODING=text)');
      }
      if (s.schema && this.usesValueColumns) {
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
    const meta = this.plan.metadata;
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

  /** The columns of `raw` for fields of kind 'json' (exactColumn); a record with one beyond the most is set aside. */
  private exactColumn = new Map<string, number>();
  private exactColumns(checked: Input[], from: number[], outcomes: (TransformOutcome | undefined)[]): void {
    this.exactColumn = new Map();
    for (let k = 0; k < checked.length; k++) {
      const names = checked[k].exact;
      if (names === undefined) continue;
      const fresh = [...names.keys()].filter((n) => !this.exactColumn.has(n));
      if (this.exactColumn.size + fresh.length > MAX_EXACT_COLUMNS) {
        outcomes[from[k]] = { dead: { stage: 'schema', reason: `over ${MAX_EXACT_COLUMNS} fields of one batch hold numbers no DuckDB number type holds exactly (read _kafka_value)` } };
        checked.splice(k, 1);
        from.splice(k, 1);
        k--;
        continue;
      }
      for (const n of fresh) this.exactColumn.set(n, this.exactColumn.size);
    }
  }

  /** The batch's records into table `raw`: the value and the metadata the statement reads. */
  private async load(engine: SqlEngine, inputs: readonly Input[]): Promise<void> {
    const s = this.settings;
    const meta = this.plan.metadata;
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
    for (const i of this.exactColumn.values()) cols.push(`x${i} VARCHAR`);
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
        for (const name of this.exactColumn.keys()) {
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

  /** Runs the statement over inputs [lo, hi); if it fails, over each half, down to the records that make it fail. */
  /**
   * Runs the statement over inputs [lo, hi); if it fails, over parts of the range, down to the records that make it
   * fail: halves for an error, sixteenths for a time-out (a slow record then runs again fewer times). Once the batch's
   * time is spent, the records not yet resolved are set aside with that reason rather than fail the batch again and
   * again (README, "Transform with SQL", limits).
   */
  private async runRange(engine: SqlEngine, inputs: readonly Input[], lo: number, hi: number, out: (TransformOutcome | undefined)[], budget: { until: number; startedAt: number }): Promise<void> {
    if (Date.now() >= budget.until) {
      const spent = ((Date.now() - budget.startedAt) / 1000).toFixed(0);
      for (let i = lo; i < hi; i++) out[i] = { dead: { stage: 'convert', reason: `TRANSFORM_SQL: the batch's time for the statement ran out (${spent} s) while isolating records that make it fail or run slow; this record was not run alone` } };
      return;
    }
    try {
      const reader = await this.runOnce(engine, inputs, lo, hi, Math.max(1, Math.min(this.settings.queryTimeoutMs, budget.until - Date.now())));
      this.collect(reader, out);
    } catch (err) {
      if (isEngineBroken(err)) throw new TransformEngineError(`SQL engine failed: ${messageOf(err)}`, { cause: err });
      if (hi - lo === 1) {
        out[lo] = { dead: { stage: 'convert', reason: `TRANSFORM_SQL failed for this record: ${messageOf(err)}` } };
        return;
      }
      const parts = err instanceof QueryTimeoutError ? 16 : 2;
      const step = Math.ceil((hi - lo) / parts);
      for (let a = lo; a < hi; a += step) await this.runRange(engine, inputs, a, Math.min(hi, a + step), out, budget);
    }
  }

  private async runOnce(engine: SqlEngine, inputs: readonly Input[], lo: number, hi: number, timeoutMs: number): Promise<import('@duckdb/node-api').DuckDBResultReader> {
    const range = `${ROW_COLUMN} >= ${lo} AND ${ROW_COLUMN} < ${hi}`;
    const select = [ROW_COLUMN, ...this.metadataColumns()];
    if (this.usesValueColumns && this.settings.valueEncoding === 'json') {
      const structure = await this.structure(engine, inputs, lo, hi, range);
      // A field given as its own JSON text: cast from that text, which keeps every digit.
      const exact = Object.entries(structure).filter(([, t]) => t === 'EXACT').map(([n]) => n);
      for (const n of exact) delete structure[n];
      if (Object.keys(structure).length > 0) select.push(`unnest(json_transform(v, ${sqlString(JSON.stringify(structure))}))`);
      for (const n of exact) select.push(`x${this.exactColumn.get(n)}::JSON AS ${ident(n)}`);
    }
    await engine.con.run(`CREATE OR REPLACE TEMP VIEW input AS SELECT ${select.join(', ')} FROM raw WHERE ${range}`);
    return engine.query(this.plan.rewritten, timeoutMs);
  }

  private metadataColumns(): string[] {
    const s = this.settings;
    const out: string[] = [];
    for (const c of MetadataColumns) {
      if (!this.plan.metadata.has(c)) continue;
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

  /**
   * The value columns of `input` as a json_transform structure: AVRO_SCHEMA's, or inferred from the run's records
   * (columns.ts): the columns the statement reads (all, for *), scalars by their JSON kind, objects and arrays typed by
   * json_group_structure over just those fields. Columns the statement names that no record has are null JSON, so a
   * batch without them runs.
   */
  private async structure(engine: SqlEngine, inputs: readonly Input[], lo: number, hi: number, range: string): Promise<Record<string, unknown>> {
    const out: Record<string, unknown> = Object.create(null);
    const schema = this.settings.schema;
    if (schema) {
      for (const c of schema.columns) if (!isReservedName(c.name)) out[c.name] = SCHEMA_TYPES[c.type] ?? 'JSON';
      return out;
    }
    const { star, valueColumns, aliasedColumns } = this.plan;
    const wanted = star ? (n: string) => !isReservedName(n) : (n: string) => valueColumns.has(n) || aliasedColumns.has(n);
    const columns = runColumns(inputs.slice(lo, hi).map((i) => i.fields), wanted);
    const nested = [...columns].filter(([, t]) => t === 'nested').map(([n]) => n);
    const types = nested.length === 0 ? [] : (await engine.con.runAndReadAll(
      `SELECT ${nested.map((n) => `json_group_structure(json_extract(v, ${sqlString(pointerOf(n))}))`).join(', ')} FROM raw WHERE ${range}`,
    )).getRows()[0];
    for (const [name, t] of columns) out[name] = t === 'nested' ? normalize(JSON.parse(String(types[nested.indexOf(name)] ?? '"NULL"'))) : t;
    const lower = new Set(Object.keys(out).map((k) => k.toLowerCase()));
    for (const c of this.plan.valueColumns) if (!lower.has(c)) out[c] = 'JSON';
    return out;
  }

  /** The result's rows, by the record each came from (`_kafka_row`). */
  private collect(reader: import('@duckdb/node-api').DuckDBResultReader, out: (TransformOutcome | undefined)[]): void {
    if (reader.currentRowCount === 0) return;
    const shape: RowShape = rowShape(reader);
    const key = JSON.stringify(shape.type);
    let known = this.shapes.get(key);
    if (known === undefined) {
      if (this.shapes.size >= 1000) this.shapes.clear();
      this.shapes.set(key, (known = { id: ++this.lastShape, type: shape.type }));
    }
    const { id, type } = known;
    const columns = reader.getColumns();
    const index = columns[0];
    const rows = new Map<number, TransformedRow[]>();
    const dead = new Map<number, string>();
    for (let r = 0; r < index.length; r++) {
      const i = Number(index[r]);
      if (dead.has(i)) continue;
      try {
        const value: Record<string, unknown> = Object.create(null);
        for (const c of shape.columns) {
          const cell = columns[c.index][r];
          value[c.name] = cell === null ? null : c.convert(cell);
        }
        let list = rows.get(i);
        if (list === undefined) rows.set(i, (list = []));
        list.push({ type, value, shape: id });
      } catch (err) {
        if (!(err instanceof CellError)) throw err;
        dead.set(i, err.message);
      }
    }
    for (const [i, list] of rows) if (!dead.has(i)) out[i] = { rows: list };
    for (const [i, reason] of dead) out[i] = { dead: { stage: 'encode', reason: `TRANSFORM_SQL result: ${reason}` } };
  }
}

/** The engine's message without the statement text it quotes after a blank line (LINE 1: …). */
function messageOf(err: unknown): string {
  return String((err as Error)?.message ?? err).split('\n\n')[0].slice(0, 500);
}

/** Errors after which DuckDB's database is no longer usable (it says so), not a problem of the records. */
function isEngineBroken(err: unknown): boolean {
  if (err instanceof QueryTimeoutError) return false;
  const m = messageOf(err);
  return /^(FATAL|INTERNAL) Error/i.test(m) || /database has been invalidated/i.test(m);
}

/** Parses and checks TRANSFORM_SQL against the engine: the statement's shape, and with AVRO_SCHEMA, that it binds. */
async function checkStatement(engine: SqlEngine, s: TransformSettings): Promise<StatementPlan> {
  const tree = await engine.parse(s.sql);
  const { plan, problems } = planStatement(tree, await engine.functions());
  if (!plan) throw transformProblems(problems);
  if (s.valueEncoding !== 'json' && (plan.star || plan.valueColumns.size > 0)) {
    const what = plan.star ? '*' : [...plan.valueColumns].join(', ');
    throw transformProblems([`reads value columns (${what}), but with VALUE_ENCODING=${s.valueEncoding} the value is not JSON: read it as _kafka_value`]);
  }
  let rewritten: string;
  try {
    rewritten = await engine.print(tree);
  } catch (err) {
    throw transformProblems([`cannot be run as written: ${messageOf(err)}`]);
  }
  if (s.schema) {
    // Bind against an empty `input` of the schema's columns: an unknown column or a type error is named now.
    const cols = [`${ROW_COLUMN} INTEGER`, ...metadataTypes(s), ...s.schema.columns.filter((c) => !isReservedName(c.name)).map((c) => `${ident(c.name)} ${SCHEMA_TYPES[c.type] ?? 'JSON'}`)];
    await engine.con.run(`CREATE OR REPLACE TEMP TABLE input (${cols.join(', ')})`);
    try {
      await engine.con.run(`PREPARE transform_check AS ${rewritten}`);
      await engine.con.run('DEALLOCATE transform_check');
    } catch (err) {
      throw transformProblems([`${messageOf(err)} (input columns: ${s.schema.columns.map((c) => c.name).join(', ')}, and ${MetadataColumns.join(', ')})`]);
    } finally {
      await engine.con.run('DROP TABLE IF EXISTS temp.main.input');
    }
  }
  return { ...plan, rewritten };
}

function metadataTypes(s: TransformSettings): string[] {
  return [
    '_kafka_topic VARCHAR', '_kafka_partition INTEGER', '_kafka_offset BIGINT', '_kafka_timestamp TIMESTAMPTZ', '_kafka_timestamp_type VARCHAR',
    `_kafka_key ${s.keyEncoding === 'base64' ? 'BLOB' : 'VARCHAR'}`, '_kafka_headers STRUCT(key VARCHAR, value VARCHAR)[]',
    `_kafka_value ${s.valueEncoding === 'json' ? 'JSON' : s.valueEncoding === 'base64' ? 'BLOB' : 'VARCHAR'}`,
  ];
}
