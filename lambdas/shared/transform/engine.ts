/**
 * The SQL engine of TRANSFORM_SQL: an in-memory DuckDB (@duckdb/node-api), loaded only when the setting is present,
 * and locked down before any statement runs: no file or network access, no extension installed or loaded, one
 * thread, a memory limit, UTC, and a configuration that cannot be changed afterwards (lock_configuration).
 */
import type { DuckDBConnection, DuckDBInstance, DuckDBResultReader } from '@duckdb/node-api';
import { parseJsonExact, stringifyJsonExact } from '../json.ts';
import type { FunctionCatalog } from './statement.ts';

/** A query ran out of its time: the records it read are set aside one by one (bisection), like any record error. */
export class QueryTimeoutError extends Error {}

export interface EngineOptions {
  /** DuckDB's memory limit. A statement that needs more fails for the records that make it (dead letters). */
  readonly memoryLimitMb: number;
}

/** The configuration every engine starts with (README, "Transform with SQL": sandbox). */
export function sandboxConfig(memoryLimitMb: number): Record<string, string> {
  return {
    threads: '1',
    memory_limit: `${memoryLimitMb}MB`,
    max_memory: `${memoryLimitMb}MB`,
    enable_external_access: 'false',
    autoinstall_known_extensions: 'false',
    autoload_known_extensions: 'false',
    allow_community_extensions: 'false',
    allow_unsigned_extensions: 'false',
  };
}

export class SqlEngine {
  private readonly instance: DuckDBInstance;
  readonly con: DuckDBConnection;

  private constructor(instance: DuckDBInstance, con: DuckDBConnection) {
    this.instance = instance;
    this.con = con;
  }

  static async open(options: EngineOptions): Promise<SqlEngine> {
    const { DuckDBInstance } = await import('@duckdb/node-api');
    const instance = await DuckDBInstance.create(':memory:', sandboxConfig(options.memoryLimitMb));
    const con = await instance.connect();
    // ICU's time zone is set once loaded (it is not a startup option), then nothing may change the configuration.
    await con.run("SET TimeZone = 'UTC'");
    await con.run('SET lock_configuration = true');
    return new SqlEngine(instance, con);
  }

  /** DuckDB's parse tree of a statement (json_serialize_sql), numbers exact (locations are 64-bit). */
  async parse(sql: string): Promise<Record<string, unknown>> {
    const r = await this.con.runAndReadAll('SELECT json_serialize_sql($1::VARCHAR)', [sql]);
    return parseJsonExact(String(r.getRows()[0][0]), true) as Record<string, unknown>;
  }

  /** A parse tree printed back as SQL (json_deserialize_sql). */
  async print(tree: unknown): Promise<string> {
    const r = await this.con.runAndReadAll('SELECT json_deserialize_sql($1::JSON)', [stringifyJsonExact(tree)]);
    return String(r.getRows()[0][0]);
  }

  /**
   * The engine's functions by kind, for the checks of a statement's calls: aggregates (refused), scalar functions and
   * macros (allowed, but for macros that read the catalog or settings, or call an aggregate), table functions.
   */
  async functions(): Promise<FunctionCatalog> {
    const r = await this.con.runAndReadAll("SELECT lower(function_name), function_type, coalesce(macro_definition, '') FROM duckdb_functions()");
    const aggregate = new Set<string>();
    const scalar = new Set<string>();
    const table = new Set<string>();
    const macros: [string, string][] = [];
    for (const [name, type, definition] of r.getRows() as [string, string, string][]) {
      if (type === 'aggregate') aggregate.add(name);
      else if (type === 'scalar') scalar.add(name);
      else if (type === 'table' || type === 'table_macro') table.add(name);
      else if (type === 'macro') macros.push([name, definition]);
    }
    for (const n of scalar) aggregate.delete(n); // a name that is both is called as a scalar function
    const refused = new Map<string, string>([['sleep_ms', 'it makes the function wait'], ['pg_sleep', 'it makes the function wait']]);
    // Until nothing changes: a macro calling a refused one (geometric_mean → geomean → avg) is refused too.
    for (let changed = true; changed;) {
      changed = false;
      for (const [name, definition] of macros) {
        if (refused.has(name)) continue;
        const calls = [...definition.toLowerCase().matchAll(/([a-z_][a-z0-9_]*)\s*\(/g)].map((m) => m[1]);
        const aggregated = calls.find((c) => aggregate.has(c));
        const via = calls.find((c) => refused.has(c));
        let why: string | undefined;
        if (/\bselect\b|\bpg_catalog\b|\binformation_schema\b|\bduckdb_[a-z_]+|\bcurrent_setting\b/i.test(definition)) why = 'it reads the catalog or the engine\'s settings';
        else if (aggregated) why = `it aggregates rows (${aggregated}), which would combine records of a batch`;
        else if (via) why = `it calls ${via}(): ${refused.get(via)}`;
        if (why) {
          refused.set(name, why);
          changed = true;
        }
      }
    }
    for (const [name] of macros) if (!refused.has(name)) scalar.add(name);
    scalar.delete('sleep_ms');
    return { aggregate, scalar, table, refused };
  }

  /** Runs a statement and reads its result, interrupting it after `timeoutMs`. */
  async query(sql: string, timeoutMs: number): Promise<DuckDBResultReader> {
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      this.con.interrupt();
    }, timeoutMs);
    try {
      return await this.con.runAndReadAll(sql);
    } catch (err) {
      if (timedOut) throw new QueryTimeoutError(`the statement took longer than ${timeoutMs / 1000} s`);
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  close(): void {
    this.con.closeSync();
    this.instance.closeSync();
  }
}
