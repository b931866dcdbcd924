/**
 * `npm run bench:libs` — the libraries we could use for the sink's heaviest jobs, side by side with what the sink uses,
 * on the sink bench's 10,000 order values (3.2 MB), in CPU time (a benchmark, not a test: nothing is asserted).
 *
 *  - JSON: the sink's one-pass check (`checkJson`, which builds nothing) against V8's `JSON.parse` of the same bytes
 *    (UTF-8 decode + parse: what any library that builds the value costs at least).
 *  - Parquet, writer only, from the sink's own column table (what `encodeParquet` gets): the sink's column writer
 *    (`parquet-columns.ts` in hyparquet-writer's frame, the same file), hyparquet-writer alone, parquet-wasm (the Rust `parquet` crate in WebAssembly, fed an Apache Arrow table built from the same
 *    columns) and DuckDB (`@duckdb/node-api`, native; rows appended, then `COPY … TO` a Parquet file, read back).
 *  - Parquet, end to end from the JSON values: the sink's convert (check + exact parse) + column table + hyparquet-
 *    writer, against DuckDB reading the values as NDJSON with the columns given (`read_json(columns=…)`) and writing
 *    Parquet itself (DuckDB with 1 thread, the per-core figure, and with 2).
 * Every Parquet case writes zstd and is read back (row count) by DuckDB, so no case can win by writing nothing.
 *
 * The candidates are not dependencies of the sink: they are installed on first run into
 * ~/.cache/kafka-s3/bench-libs (pinned below). Each case runs in PROCESSES (3) fresh processes × ITERATIONS (10)
 * after WARMUPS (5); CPU = user + system of all the process's threads (DuckDB's too); median (min–max).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadSinkConfig, type SinkConfig } from '../lambdas/shared/config.ts';
import { convertPlan, convertRecord, type SinkRecord } from '../lambdas/shared/convert.ts';
import type { KafkaRecord } from '../lambdas/shared/decode.ts';
import { encodeParquet, encodeParquetWithWriter } from '../lambdas/shared/encode/parquet.ts';
import { buildTable } from '../lambdas/shared/encode/table.ts';
import { checkJson } from '../lambdas/shared/json-validate.ts';
import type { Column } from '../lambdas/shared/schema.ts';
import { benchOrder } from './orders.ts';
import { fmt, median } from './stats.ts';

const LIBS = { '@duckdb/node-api': '1.5.6-r.1', 'parquet-wasm': '0.8.0', 'apache-arrow': '21.1.0' };
const LIB_DIR = join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'kafka-s3', 'bench-libs');
const PROCESSES = Number(process.env.PROCESSES ?? 3);
const ITERATIONS = Number(process.env.BENCH_ITERATIONS ?? 10);
const WARMUPS = Number(process.env.BENCH_WARMUPS ?? 5);
const RECORDS = 10_000;

const CASES: { name: string; group: string; detail: string }[] = [
  { name: 'json:check', group: 'JSON, every value', detail: 'checkJson (the sink)' },
  { name: 'json:parse', group: 'JSON, every value', detail: 'JSON.parse(bytes.toString())' },
  { name: 'writer:sink', group: 'Parquet writer, from the column table', detail: 'parquet-columns.ts + hyparquet-writer frame (the sink)' },
  { name: 'writer:hyparquet', group: 'Parquet writer, from the column table', detail: 'hyparquet-writer alone (the same file)' },
  { name: 'writer:parquet-wasm', group: 'Parquet writer, from the column table', detail: 'apache-arrow table → parquet-wasm' },
  { name: 'writer:duckdb', group: 'Parquet writer, from the column table', detail: 'DuckDB appender → COPY TO parquet (1 thread)' },
  { name: 'e2e:sink', group: 'Parquet, from the JSON values', detail: 'convert + column table + column writer (the sink)' },
  { name: 'e2e:duckdb1', group: 'Parquet, from the JSON values', detail: 'DuckDB read_json(columns) → COPY TO parquet, 1 thread' },
  { name: 'e2e:duckdb2', group: 'Parquet, from the JSON values', detail: 'the same, 2 threads' },
];

function install(): void {
  const want = JSON.stringify(LIBS);
  const stamp = join(LIB_DIR, 'installed.json');
  if (existsSync(stamp) && readFileSync(stamp, 'utf8') === want) return;
  mkdirSync(LIB_DIR, { recursive: true });
  writeFileSync(join(LIB_DIR, 'package.json'), JSON.stringify({ name: 'kafka-s3-bench-libs', private: true }));
  process.stderr.write(`installing ${Object.entries(LIBS).map(([k, v]) => `${k}@${v}`).join(' ')} into ${LIB_DIR}\n`);
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', '--save-exact', ...Object.entries(LIBS).map(([k, v]) => `${k}@${v}`)], { cwd: LIB_DIR, stdio: 'inherit' });
  writeFileSync(stamp, want);
}

const cfgOf = (fields: string): SinkConfig => loadSinkConfig({ BUCKET_NAME: 'bench', FORMAT: 'parquet', COMPRESSION: 'zstd', FIELDS: fields } as never);

/** The bench's order values as the sink holds them after decode (value Buffers). */
function records(): KafkaRecord[] {
  const out: KafkaRecord[] = [];
  for (let i = 0; i < RECORDS; i++) {
    out.push({
      topic: 'orders', partition: 0, offset: BigInt(5_000_000 + i), timestamp: 1_767_225_600_000 + i * 10, timestampType: 'CREATE_TIME',
      key: Buffer.from(`cust-${i % 5000}`), value: Buffer.from(JSON.stringify(benchOrder(i))), headers: [{ key: 'trace-id', value: Buffer.from(`t-${i}`) }],
    });
  }
  return out;
}

const SQL_TYPES: Record<Column['type'], string> = {
  boolean: 'BOOLEAN', int: 'INTEGER', long: 'BIGINT', float: 'FLOAT', double: 'DOUBLE', string: 'VARCHAR', json: 'VARCHAR',
  bytes: 'BLOB', date: 'DATE', 'timestamp-millis': 'TIMESTAMP_MS', 'timestamp-micros': 'TIMESTAMP', registry: 'VARCHAR',
};
const quote = (name: string) => `"${name.replaceAll('"', '""')}"`;

async function child(name: string): Promise<void> {
  const req = createRequire(join(LIB_DIR, 'package.json'));
  const recs = records();
  const valueCfg = cfgOf('value');
  const plan = convertPlan(valueCfg);
  const converted: SinkRecord[] = recs.map((r) => convertRecord(valueCfg, plan, r));
  const { table } = buildTable(valueCfg, converted);
  const dir = mkdtempSync(join(tmpdir(), 'bench-libs-'));
  let duck: { run: (sql: string) => Promise<unknown>; rows: (sql: string) => Promise<unknown[][]>; appender: (t: string) => Promise<any> } | undefined;
  if (name.includes('duckdb')) {
    const { DuckDBInstance } = req('@duckdb/node-api');
    const instance = await DuckDBInstance.create(':memory:', { threads: name === 'e2e:duckdb2' ? '2' : '1' });
    const conn = await instance.connect();
    duck = { run: (sql) => conn.run(sql), rows: async (sql) => (await conn.runAndReadAll(sql)).getRows(), appender: (t) => conn.createAppender(t) };
    const cols = table.columns.map((c) => `${quote(c.name)} ${SQL_TYPES[c.type]}`).join(', ');
    await duck.run(`CREATE TABLE t (${cols})`);
  }
  const parquetFile = join(dir, 'out.parquet');
  const readBack = async (body: Uint8Array): Promise<void> => {
    if (!duck) {
      const { DuckDBInstance } = req('@duckdb/node-api');
      const conn = await (await DuckDBInstance.create(':memory:')).connect();
      duck = { run: (sql) => conn.run(sql), rows: async (sql) => (await conn.runAndReadAll(sql)).getRows(), appender: (t) => conn.createAppender(t) };
    }
    writeFileSync(join(dir, 'check.parquet'), body);
    const [[n]] = await duck.rows(`SELECT count(*) FROM read_parquet('${join(dir, 'check.parquet')}')`);
    if (Number(n) !== RECORDS) throw new Error(`${name}: the Parquet file holds ${n} rows, not ${RECORDS}`);
  };

  let run: () => Promise<Uint8Array | undefined>;
  switch (name) {
    case 'json:check': run = async () => {
      for (const r of recs) if (checkJson(r.value!, true, true).reason !== null) throw new Error('invalid');
      return undefined;
    }; break;
    case 'json:parse': run = async () => {
      for (const r of recs) JSON.parse(r.value!.toString('utf8'));
      return undefined;
    }; break;
    case 'writer:sink': run = async () => encodeParquet(table, 'zstd', valueCfg.parquetRowGroupSize); break;
    case 'writer:hyparquet': run = async () => encodeParquetWithWriter(table, 'zstd', valueCfg.parquetRowGroupSize); break;
    case 'writer:parquet-wasm': {
      const arrow = req('apache-arrow');
      const pw = req('parquet-wasm');
      const props = new pw.WriterPropertiesBuilder().setCompression(pw.Compression.ZSTD).build();
      const arrowType = (c: Column) => {
        switch (c.type) {
          case 'int': return new arrow.Int32();
          case 'long': return new arrow.Int64();
          case 'double': return new arrow.Float64();
          case 'boolean': return new arrow.Bool();
          case 'timestamp-millis': return new arrow.TimestampMillisecond('UTC');
          default: return new arrow.Utf8();
        }
      };
      run = async () => {
        const vectors: Record<string, unknown> = {};
        table.columns.forEach((c, i) => {
          const data = c.type === 'long' ? table.data[i].map((v) => (v === null ? null : BigInt(v as bigint))) : table.data[i];
          vectors[c.name] = arrow.vectorFromArray(data, arrowType(c));
        });
        const ipc = arrow.tableToIPC(new arrow.Table(vectors), 'stream');
        const body = pw.writeParquet(pw.Table.fromIPCStream(ipc), props.clone?.() ?? new pw.WriterPropertiesBuilder().setCompression(pw.Compression.ZSTD).build());
        return body;
      };
      break;
    }
    case 'writer:duckdb': run = async () => {
      await duck!.run('DELETE FROM t');
      const app = await duck!.appender('t');
      const cols = table.columns;
      for (let row = 0; row < table.rowCount; row++) {
        for (let c = 0; c < cols.length; c++) {
          const v = table.data[c][row];
          if (v === null || v === undefined) { app.appendNull(); continue; }
          switch (cols[c].type) {
            case 'int': app.appendInteger(v as number); break;
            case 'long': app.appendBigInt(BigInt(v as bigint)); break;
            case 'double': app.appendDouble(v as number); break;
            case 'boolean': app.appendBoolean(v as boolean); break;
            default: app.appendVarchar(v as string);
          }
        }
        app.endRow();
      }
      app.closeSync();
      await duck!.run(`COPY t TO '${parquetFile}' (FORMAT parquet, COMPRESSION zstd)`);
      return readFileSync(parquetFile);
    }; break;
    case 'e2e:sink': run = async () => {
      const conv = recs.map((r) => convertRecord(valueCfg, plan, r));
      return encodeParquet(buildTable(valueCfg, conv).table, 'zstd', valueCfg.parquetRowGroupSize);
    }; break;
    case 'e2e:duckdb1':
    case 'e2e:duckdb2': {
      const columns = `{${table.columns.map((c) => `${quote(c.name).replaceAll("'", "''")}: '${c.type === 'json' ? 'JSON' : SQL_TYPES[c.type]}'`).join(', ')}}`;
      const input = join(dir, 'values.ndjson');
      run = async () => {
        // The values as the sink has them (bytes from the event), one per line, then DuckDB does the rest.
        const lines = Buffer.concat(recs.flatMap((r) => [r.value!, Buffer.from('\n')]));
        writeFileSync(input, lines);
        await duck!.run(`COPY (SELECT * FROM read_json('${input}', format='newline_delimited', columns=${columns})) TO '${parquetFile}' (FORMAT parquet, COMPRESSION zstd)`);
        return readFileSync(parquetFile);
      };
      break;
    }
    default: throw new Error(`unknown case ${name}`);
  }
  for (let i = 0; i < WARMUPS; i++) await run();
  const u0 = process.cpuUsage();
  let last: Uint8Array | undefined;
  for (let i = 0; i < ITERATIONS; i++) last = await run();
  const u = process.cpuUsage(u0);
  const cpuMs = (u.user + u.system) / 1000 / ITERATIONS;
  if (last) await readBack(last);
  rmSync(dir, { recursive: true, force: true });
  console.log(JSON.stringify({ cpuMs, bytes: last?.length ?? 0 }));
}

async function main(): Promise<void> {
  install();
  const self = fileURLToPath(import.meta.url);
  const only = process.env.BENCH_CASES?.split(',');
  const rows = CASES.filter((c) => !only || only.includes(c.name)).map((c) => ({ ...c, cpu: [] as number[], bytes: 0 }));
  const valueBytes = records().reduce((n, r) => n + r.value!.length, 0);
  for (let p = 0; p < PROCESSES; p++) {
    for (const row of rows) {
      const out = execFileSync(process.execPath, [self, 'child', row.name], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } });
      const r = JSON.parse(out.trim().split('\n').pop()!) as { cpuMs: number; bytes: number };
      row.cpu.push(r.cpuMs);
      row.bytes = r.bytes;
      process.stderr.write(`  process ${p + 1}: ${row.name}: ${r.cpuMs.toFixed(1)} CPU ms\n`);
    }
  }
  console.log(`\nNode ${process.version}; ${RECORDS.toLocaleString('en-US')} order values, ${(valueBytes / 1e6).toFixed(2)} MB; ${PROCESSES} fresh processes × ${ITERATIONS} runs after ${WARMUPS} warm-ups; CPU = user + system of all threads; median (min–max); ${Object.entries(LIBS).map(([k, v]) => `${k} ${v}`).join(', ')}\n`);
  console.log('| job | library | CPU ms per 10,000 values | value MB per CPU-s | vs the sink | Parquet bytes |');
  console.log('|---|---|---:|---:|---:|---:|');
  for (const row of rows) {
    const ours = rows.find((r) => r.group === row.group && r.detail.endsWith('(the sink)'));
    const ratio = ours ? `${(median(ours.cpu) / median(row.cpu)).toFixed(2)}×` : '';
    console.log(`| ${row.group} | ${row.detail} | ${fmt(row.cpu, 1)} | ${(valueBytes / 1e6 / (median(row.cpu) / 1000)).toFixed(1)} | ${ratio} | ${row.bytes ? row.bytes.toLocaleString('en-US') : ''} |`);
  }
}

if (process.argv[2] === 'child') await child(process.argv[3]);
else await main();
