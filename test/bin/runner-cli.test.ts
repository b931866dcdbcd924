/** The runner as users run it: `npm start` on built-in defaults, flags and settings checked, a clean stop. */
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gunzipSync, zstdDecompressSync } from 'node:zlib';
import { parquetReadObjects } from 'hyparquet';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const ROOT = new URL('../../', import.meta.url).pathname;
const NODE = process.execPath;

async function runner(args: string[], env: Record<string, string> = {}) {
  try {
    const r = await run(NODE, ['bin/runner.ts', ...args], { cwd: ROOT, env: { ...process.env, ...env }, maxBuffer: 16 << 20 });
    return { code: 0, ...r };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

function files(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true }).filter((d) => d.isFile()).map((d) => join(d.parentPath, d.name));
}

describe('local runner CLI', () => {
  it('runs the whole pipeline on built-in defaults into a local directory of Parquet objects', async () => {
    // Prepare
    const out = mkdtempSync(join(tmpdir(), 'kafka-s3-start-'));

    // Act
    const r = await runner(['--records', '3000', '--out', out, '--quiet']);

    // Assess
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/committed\s+3,000/);
    expect(r.stdout).toMatch(/tombstones ignored\s+15/);
    expect(r.stdout).toContain('duckdb -c');
    const parquet = files(join(out, 'local-bucket')).filter((f) => f.endsWith('.parquet'));
    expect(parquet.length).toBeGreaterThan(0);
    expect(parquet.every((f) => /topics\/orders\/dt=2026-01-01\/hour=00\/orders\+\d\+\d{20}\.parquet$/.test(f))).toBe(true);
    let rows = 0;
    for (const f of parquet) {
      const buf = readFileSync(f);
      const file = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length);
      rows += (await parquetReadObjects({ file, compressors: { ZSTD: (input: Uint8Array) => new Uint8Array(zstdDecompressSync(input)) } as never })).length;
    }
    expect(rows).toBe(3000 - 15);
  }, 60_000);

  it('TRANSFORM_SQL: the statement\'s rows are written, the summary counts records and rows', async () => {
    const out = mkdtempSync(join(tmpdir(), 'kafka-s3-sql-'));
    const r = await runner(['--records', '2000', '--out', out, '--quiet'], {
      FORMAT: 'jsonl', TRANSFORM_SQL: "SELECT order_id, unnest([1, 2]) AS copy FROM input WHERE status = 'paid'",
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/written\s+400\n\s+rows written\s+800 \(TRANSFORM_SQL/);
    const lines = files(join(out, 'local-bucket')).filter((f) => f.endsWith('.jsonl.gz'))
      .flatMap((f) => gunzipSync(readFileSync(f)).toString().trim().split('\n').map((l) => JSON.parse(l) as { value: Record<string, unknown> }));
    expect(lines).toHaveLength(800);
    expect(Object.keys(lines[0].value)).toEqual(['order_id', 'copy']);
  }, 60_000);

  it('run again into the same directory, writes nothing twice: the checkpoints say the records are already written', async () => {
    // Prepare
    const out = mkdtempSync(join(tmpdir(), 'kafka-s3-again-'));
    const first = await runner(['--records', '3000', '--out', out, '--quiet'], { FORMAT: 'jsonl', COMPRESSION: 'none' });

    // Act: the same sample offsets and 1,500 more.
    const again = await runner(['--records', '4500', '--out', out, '--quiet'], { FORMAT: 'jsonl', COMPRESSION: 'none' });

    // Assess
    expect([first.code, again.code]).toEqual([0, 0]);
    expect(again.stdout).toMatch(/already written\s+3,000/);
    expect(again.stdout).toMatch(/\n\s+written\s+1,493/); // 1,500 new, 7 of them tombstones (ignored)
    expect(again.stdout).toContain('3,000 records were not written again');
    expect(again.stdout).toContain("read_json('");
    const all = files(join(out, 'local-bucket'));
    expect(all.filter((f) => f.includes('/checkpoints/'))).toHaveLength(3);
    const lines = all.filter((f) => f.endsWith('.jsonl')).flatMap((f) => readFileSync(f, 'utf8').trim().split('\n'));
    const offsets = lines.map((l) => { const r = JSON.parse(l) as { partition: number; offset: number }; return `${r.partition}:${r.offset}`; });
    expect(new Set(offsets).size).toBe(offsets.length);
    expect(offsets).toHaveLength(4500 - 22);
  }, 60_000);

  it('refuses a bad flag and a bad sink setting with messages that name them', async () => {
    const flag = await runner(['--batch-size', '0']);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toContain('--batch-size=0: expected an integer from 1 to 10,000');
    const setting = await runner(['--records', '10'], { FORMAT: 'xml', TIMEZONE: 'Mars/Base' });
    expect(setting.code).toBe(2);
    expect(setting.stderr).toContain("FORMAT='xml'");
    expect(setting.stderr).toContain("TIMEZONE='Mars/Base'");
  }, 60_000);

  it('stops cleanly on SIGTERM: finishes the batch in flight and prints the summary', async () => {
    const out = mkdtempSync(join(tmpdir(), 'kafka-s3-stop-'));
    const child = spawn(NODE, ['bin/runner.ts', '--records', '5000000', '--out', out, '--batch-size', '1000'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    await new Promise((r) => setTimeout(r, 2500));
    child.kill('SIGTERM');
    const code = await new Promise((r) => child.once('exit', r));
    expect(code).toBe(143);
    expect(stdout).toContain('stopped by SIGTERM');
    expect(stderr).toContain('SIGTERM: finishing the batch in flight, then stopping');
    const committed = Number(/committed\s+([\d,]+)/.exec(stdout)![1].replace(/,/g, ''));
    expect(committed).toBeGreaterThan(0);
    expect(committed).toBeLessThan(5_000_000);
    expect(committed % 1000).toBe(0);
  }, 60_000);
});
