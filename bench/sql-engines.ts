/**
 * `npm run bench:sql` — the engines TRANSFORM_SQL could use, side by side (a benchmark, not a test): DuckDB
 * (@duckdb/node-api, what the sink uses) through the sink's own transform stage, and SQLite (node:sqlite, built into
 * Node 24) with the same statement written in its dialect. Each run is a fresh process: the cold cost (load the
 * engine, open it, check/prepare the statement) and the CPU per batch of 10,000 order records (~400 bytes each) after
 * warm-up batches, as the median (min–max) over PROCESSES runs (default 5). CPU time of the process (all threads).
 *
 * What the figures do not show: SQLite casts never fail (CAST('n/a' AS REAL) is 0.0, silently) and it has no DECIMAL,
 * TIMESTAMP or STRUCT types, so a cast error could not become a dead letter and columnar output would lose types.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { benchOrder } from './orders.ts';
import { fmt } from './stats.ts';

const PROCESSES = Number(process.env.PROCESSES ?? 5);
const BATCHES = Number(process.env.BENCH_ITERATIONS ?? 10);
const WARMUPS = 3;
const N = 10_000;

const DUCKDB_SQL = "SELECT order_id, CAST(amount AS DECIMAL(12,2)) AS amount, upper(status) AS status, shipping.city AS city, CAST(created_at AS TIMESTAMPTZ) AS created_at FROM input WHERE status <> 'created'";
const SQLITE_SQL = "SELECT json_extract(v, '$.order_id') AS order_id, CAST(json_extract(v, '$.amount') AS REAL) AS amount, upper(json_extract(v, '$.status')) AS status, json_extract(v, '$.shipping.city') AS city, json_extract(v, '$.created_at') AS created_at FROM input WHERE json_extract(v, '$.status') <> 'created'";

const cpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

function values(): Buffer[] {
  return Array.from({ length: N }, (_, i) => Buffer.from(JSON.stringify(benchOrder(i))));
}

/** One engine in this process: prints {coldMs, batchMs, rows}. */
async function child(engine: string): Promise<void> {
  const vals = values();
  const t0 = cpu();
  let run: () => Promise<number>;
  if (engine === 'duckdb') {
    const { SqlTransform } = await import('../lambdas/shared/transform/index.ts');
    const t = await SqlTransform.open({ sql: DUCKDB_SQL, valueEncoding: 'json', keyEncoding: 'text', headerEncoding: 'text', memoryLimitMb: 512, queryTimeoutMs: 60_000 });
    const records = vals.map((value, i) => ({ topic: 'orders', partition: 0, offset: BigInt(i), timestamp: 1_767_225_600_000, timestampType: 'CREATE_TIME', key: null, value, headers: [] }));
    run = async () => (await t.apply(records)).reduce((n, o) => n + ('rows' in o ? o.rows.length : 0), 0);
  } else {
    const { DatabaseSync } = await import('node:sqlite');
    const db = new DatabaseSync(':memory:');
    db.exec('CREATE TABLE input (row INTEGER, v TEXT)');
    const insert = db.prepare('INSERT INTO input VALUES (?, ?)');
    const query = db.prepare(SQLITE_SQL);
    run = async () => {
      db.exec('DELETE FROM input; BEGIN');
      for (let i = 0; i < vals.length; i++) insert.run(i, vals[i].toString('utf8'));
      db.exec('COMMIT');
      return query.all().length;
    };
  }
  const coldMs = cpu() - t0;
  let rows = 0;
  for (let i = 0; i < WARMUPS; i++) rows = await run();
  const t1 = cpu();
  for (let i = 0; i < BATCHES; i++) rows = await run();
  process.stdout.write(`${JSON.stringify({ coldMs, batchMs: (cpu() - t1) / BATCHES, rows })}\n`);
}

async function main(): Promise<void> {
  const script = fileURLToPath(import.meta.url);
  const results: Record<string, { cold: number[]; batch: number[]; rows: number }> = { duckdb: { cold: [], batch: [], rows: 0 }, sqlite: { cold: [], batch: [], rows: 0 } };
  for (let p = 0; p < PROCESSES; p++) {
    for (const engine of Object.keys(results)) {
      const r = JSON.parse(execFileSync(process.execPath, [script, engine], { encoding: 'utf8' }).trim().split('\n').pop()!) as { coldMs: number; batchMs: number; rows: number };
      results[engine].cold.push(r.coldMs);
      results[engine].batch.push(r.batchMs);
      results[engine].rows = r.rows;
      process.stderr.write(`  process ${p + 1}: ${engine}: cold ${r.coldMs.toFixed(0)} CPU ms, ${r.batchMs.toFixed(1)} CPU ms per batch\n`);
    }
  }
  console.log(`\nNode ${process.version}; ${N} order records per batch; ${PROCESSES} fresh processes × ${BATCHES} batches after ${WARMUPS} warm-up batches; median (min–max)\n`);
  console.log('| engine | cold: load + open + check the statement (CPU ms) | CPU ms per batch | rows per batch |');
  console.log('|---|---:|---:|---:|');
  console.log(`| DuckDB (@duckdb/node-api), through the sink's transform stage | ${fmt(results.duckdb.cold, 0)} | ${fmt(results.duckdb.batch, 1)} | ${results.duckdb.rows} |`);
  console.log(`| SQLite (node:sqlite), the same statement with json_extract | ${fmt(results.sqlite.cold, 0)} | ${fmt(results.sqlite.batch, 1)} | ${results.sqlite.rows} |`);
  console.log(`\nDuckDB: ${DUCKDB_SQL}\nSQLite: ${SQLITE_SQL}`);
}

if (process.argv[2]) await child(process.argv[2]);
else await main();
