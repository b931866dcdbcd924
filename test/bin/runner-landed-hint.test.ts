/**
 * The closing "query what landed" hint runs: every `duckdb -c "…"` line the runner prints, for the sample orders and
 * for --input files, in Parquet, jsonl and CSV, is run through DuckDB (the Python package of the test venv, the same
 * engine as the CLI) and must count exactly the records written.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { bucketHint } from '../../bin/runner/landed.ts';
import { infraPaths } from '../support/versitygw.ts';

const run = promisify(execFile);
const ROOT = new URL('../../', import.meta.url).pathname;
const paths = await infraPaths().catch((err: Error) => err);
const python = paths instanceof Error ? undefined : paths.pyVenvPython;
const hasDuckdb = python !== undefined && (await run(python, ['-c', 'import duckdb']).then(() => true, () => false));

/** The SQL of each hint line, unescaped from its shell double quotes. */
function hintQueries(stdout: string): string[] {
  return [...stdout.matchAll(/^ {2}duckdb -c "((?:[^"\\]|\\.)*)"$/gm)].map((m) => m[1].replace(/\\(["\\$`])/g, '$1'));
}

describe.skipIf(!hasDuckdb)('runner: the landing hint queries run in DuckDB', () => {
  const input = join(mkdtempSync(join(tmpdir(), 'kafka-s3-hint-in-')), "it's.jsonl");
  writeFileSync(input, '{"a":1,"b":"x"}\n{"a":2,"b":"y"}\n{"a":3,"b":"z"}\n');
  for (const [format, args, written] of [
    ['parquet', ['--records', '400'], 398],
    ['parquet', ['--input', input], 3],
    ['jsonl', ['--input', input], 3],
    ['csv_with_headers', ['--records', '400'], 398],
    ['csv', ['--input', input], 3],
  ] as const) {
    it(`${format}, ${args[0]}`, async () => {
      const out = mkdtempSync(join(tmpdir(), "kafka-s3-hint-'out-"));
      const r = await run(process.execPath, ['bin/runner.ts', ...args, '--out', out, '--quiet'], { cwd: ROOT, env: { ...process.env, FORMAT: format, COMPRESSION: 'zstd' } });
      const queries = hintQueries(r.stdout);
      expect(queries).toHaveLength(2);
      if (args[0] === '--input') expect(queries[1]).not.toContain('revenue');
      else if (format === 'parquet') expect(queries[1]).toContain('revenue');
      for (const q of queries) {
        const { stdout } = await run(python!, ['-c', 'import duckdb, sys, json; print(json.dumps(duckdb.sql(sys.argv[1]).fetchall(), default=str))', q]);
        const rows = JSON.parse(stdout) as unknown[][];
        if (q.includes('count(*) AS records')) expect(rows[0][0]).toBe(written);
        else expect(rows.length).toBeGreaterThan(0);
      }
    }, 60_000);
  }

  it('a run that dead-lettered records: the hint queries their reasons', async () => {
    const bad = join(mkdtempSync(join(tmpdir(), 'kafka-s3-hint-in-')), 'bad.jsonl');
    writeFileSync(bad, '{"a":1}\n{"a":\n{"a":3}\n');
    const out = mkdtempSync(join(tmpdir(), 'kafka-s3-hint-out-'));
    const r = await run(process.execPath, ['bin/runner.ts', '--input', bad, '--out', out, '--quiet', '--partitions', '1'], { cwd: ROOT, env: { ...process.env, FORMAT: 'jsonl', COMPRESSION: 'zstd' } });
    expect(r.stdout).toContain('Dead letters under');
    const queries = hintQueries(r.stdout);
    expect(queries).toHaveLength(3);
    const { stdout } = await run(python!, ['-c', 'import duckdb, sys, json; print(json.dumps(duckdb.sql(sys.argv[1]).fetchall(), default=str))', queries[2]]);
    expect(JSON.parse(stdout)).toEqual([['convert', expect.stringMatching(/^value is not valid JSON/), 1]]);
  }, 60_000);
});

describe('runner: the landing hint for a bucket', () => {
  const layout = { prefix: 'topics/', errorPrefix: 'errors/', statePrefix: '_state/', compression: 'zstd' } as const;
  it('names the prefix and extension, and DuckDB only for formats it reads', () => {
    expect(bucketHint('lake', { ...layout, format: 'jsonl', compression: 'gzip' }, 3)).toEqual([
      'This run wrote 3 objects (data and dead letters) to s3://lake/: its data under s3://lake/topics/, as *.jsonl.gz',
      '  DuckDB reads them in S3 with its httpfs extension and an S3 secret (https://duckdb.org/docs/extensions/httpfs/s3api)',
    ]);
    expect(bucketHint('lake', { ...layout, format: 'avro', compression: 'snappy' }, 1)).toEqual(['This run wrote 1 object (data and dead letters) to s3://lake/: its data under s3://lake/topics/, as *.avro']);
    expect(bucketHint('lake', { ...layout, format: 'parquet' }, 0)).toEqual(['No objects written to s3://lake/ in this run']);
  });
});
