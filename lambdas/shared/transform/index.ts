/**
 * Stage 3b — transform (TRANSFORM_SQL): one SELECT over the batch's records; its result rows are what gets written.
 *
 * The records go into DuckDB once per batch (input.ts: the value's text and the metadata the statement reads), a
 * view `input` turns each JSON value into columns (columns.ts), and the statement runs once per group of records whose
 * fields agree, usually once for the whole batch. Each result row carries `_kafka_row`, the index of the record it
 * came from, so the record's Kafka metadata, offsets and dead letters follow the row. A statement that fails for a
 * run (a cast error, a value too big for memory, a time-out) is run again on parts of it (halves, sixteenths after a
 * time-out) until the records that make it fail are found: they become dead letters with the engine's message and the
 * others are written, within the batch's time. Only an engine that broke (a fatal or internal error) fails the batch,
 * which the event source then retries.
 */
import { isReservedName, Limits } from '../constants.ts';
import { ConfigError, RecordError, type RecordStage } from '../errors.ts';
import type { KafkaRecord } from '../decode.ts';
import type { TableSchema } from '../schema.ts';
import type { RType } from '../registry/types.ts';
import { QueryTimeoutError, SqlEngine } from './engine.ts';
import { groupOf, normalize, pointerOf, runColumns } from './columns.ts';
import { checkRecord, exactColumnsOf, loadRaw, metadataSelect, type Input } from './input.ts';
import { CellError, rowShape, type RowShape } from './rows.ts';
import { MetadataColumns, planStatement, ROW_COLUMN, type StatementPlan } from './statement.ts';

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

export class SqlTransform {
  private engine?: SqlEngine;
  private readonly settings: TransformSettings;
  readonly plan: StatementPlan;
  private readonly usesValueColumns: boolean;
  /** Row types seen, by their JSON: rows of equal types share a shape, one type object (encoders compare types by
   * identity), and may share an object. Ids are never reused, so a cleared map cannot give two types one id. */
  private readonly shapes = new Map<string, { readonly id: number; readonly type: TransformedRow['type'] }>();
  private lastShape = 0;
  /** This batch's columns of `raw` for fields given as their own JSON text (input.ts, exactColumnsOf). */
  private exactColumn: ReadonlyMap<string, number> = new Map();

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
        checked.push(checkRecord(this.settings, this.plan, this.usesValueColumns, records[i]));
        from.push(i);
      } catch (err) {
        if (!(err instanceof RecordError)) throw err;
        outcomes[i] = { dead: { stage: err.stage, reason: err.message } };
      }
    }
    if (checked.length > 0) {
      // Records in groups whose fields agree (columns.ts), each group a contiguous range of `raw`, run on its own.
      this.exactColumn = exactColumnsOf(checked, from, outcomes);
      const group = groupOf(checked.map((c) => c.fields), this.plan.aliasedColumns);
      const order = [...checked.keys()].sort((a, b) => group[a] - group[b] || a - b);
      const inputs = order.map((k) => checked[k]);
      const at = order.map((k) => from[k]); // input index → record index
      const engine = this.engine ?? (this.engine = await SqlEngine.open({ memoryLimitMb: this.settings.memoryLimitMb }));
      try {
        await loadRaw(engine, this.settings, this.plan, inputs, this.exactColumn);
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
    const select = [ROW_COLUMN, ...metadataSelect(this.settings, this.plan)];
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
