/**
 * A benchmarked child process: node with report-usage.ts preloaded, so it reports its own CPU time (user + system,
 * all threads) and peak RSS at exit; the wall time is taken here. bench:runner and bench:replay measure with it.
 */
import { spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../', import.meta.url));

export interface Usage { cpuSeconds: number; peakRssMb: number; wallSeconds: number }

/** Runs `node <args>` in `cwd` (the repository by default); resolves with its CPU time, peak RSS, wall time and stdout.
 * `tmp` is a directory for the usage file. BENCH_CPU_PROF=<directory>: the child writes a V8 CPU profile there. */
export function measuredChild(tmp: string, args: string[], env: Record<string, string>, onStderr?: (line: string, pid: number) => void, cwd = ROOT): Promise<Usage & { stdout: string }> {
  const file = join(tmp, `usage-${Math.random().toString(36).slice(2)}.json`);
  return new Promise((resolve, reject) => {
    const t = performance.now();
    const prof = process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [];
    const child = spawn(process.execPath, [...prof, '--import', join(ROOT, 'bench/report-usage.ts'), ...args], {
      cwd, stdio: ['ignore', 'pipe', onStderr ? 'pipe' : 'inherit'], env: { ...process.env, ...env, BENCH_USAGE_FILE: file },
    });
    let stdout = '';
    child.stdout!.on('data', (d) => (stdout += d));
    if (onStderr) {
      let buf = '';
      child.stderr!.on('data', (d) => {
        buf += d;
        for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
          onStderr(buf.slice(0, i), child.pid!);
          buf = buf.slice(i + 1);
        }
      });
    }
    child.once('exit', (code) => {
      const wallSeconds = (performance.now() - t) / 1000;
      if (code !== 0) return reject(new Error(`${args[0]} exited ${code}: ${stdout.slice(-500)}`));
      const u = JSON.parse(readFileSync(file, 'utf8')) as Usage;
      rmSync(file, { force: true });
      resolve({ ...u, wallSeconds, stdout });
    });
  });
}
