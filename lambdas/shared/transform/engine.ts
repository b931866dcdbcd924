/**
 * The SQL engine of TRANSFORM_SQL: an in-memory DuckDB (@duckdb/node-api), loaded only when the setting is present,
 * and locked down before any statement runs: no file or network access, no extension installed or loaded, one
 * thread, a memory limit, UTC, and a configuration that cannot be changed afterwards (lock_configuration).
 */
import type { DuckDBConnection, DuckDBInstance, DuckDBResultReader } from '@duckdb/node-api';
import { parseJsonExact, stringifyJsonExact } from '../json.ts';

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

  /** The names of the engine's aggregate functions (an aggregate in a per-record statement is refused). */
  async aggregates(): Promise<Set<string>> {
    const r = await this.con.runAndReadAll(`SELECT DISTINCT lower(function_name) FROM duckdb_functions() WHERE function_type = 'aggregate'
      EXCEPT SELECT lower(function_name) FROM duckdb_functions() WHERE function_type = 'scalar'`);
    return new Set(r.getRows().map((row) => String(row[0])));
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
