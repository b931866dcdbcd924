/**
 * A benchmarked child process: node with report-usage.ts preloaded, so it reports its own CPU time (user + system,
 * all threads) and peak RSS at exit; the wall time is taken here. bench:runner and bench:replay measure with it.
 */
import { spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fmt } from './stats.ts';

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

/** A process measured by interleavedRuns: its name, and a run of n records. */
export type MeasuredKind = readonly [name: string, run: (records: number) => Promise<Usage>];

/**
 * Each kind run `runs` times on `full` and on `small` records, interleaved (run 1 of every kind, then run 2, …: a
 * change in the machine's load hits all of them); returns a table row per kind: records/s, value MB/s, CPU-s/GB of
 * the whole run and steady (full − small, without start-up), peak RSS, as median (min–max).
 */
export async function interleavedRuns(kinds: readonly MeasuredKind[], o: { runs: number; full: number; small: number; gbFull: number; gbSmall: number }): Promise<string[]> {
  const all = kinds.map(() => ({ rps: [] as number[], mbps: [] as number[], cpuGb: [] as number[], steady: [] as number[], rss: [] as number[] }));
  for (let i = 0; i < o.runs; i++) {
    for (const [k, [name, run]] of kinds.entries()) {
      const m = all[k];
      const full = await run(o.full);
      const small = await run(o.small);
      m.rps.push(o.full / full.wallSeconds);
      m.mbps.push(o.gbFull * 1000 / full.wallSeconds);
      m.cpuGb.push(full.cpuSeconds / o.gbFull);
      m.steady.push((full.cpuSeconds - small.cpuSeconds) / (o.gbFull - o.gbSmall));
      m.rss.push(full.peakRssMb);
      process.stderr.write(`  ${name} run ${i + 1}: ${full.cpuSeconds.toFixed(2)} CPU-s (${o.small.toLocaleString('en-US')}-record run ${small.cpuSeconds.toFixed(2)}), ${full.wallSeconds.toFixed(1)} s, ${full.peakRssMb.toFixed(0)} MB\n`);
    }
  }
  return kinds.map(([name], k) => {
    const m = all[k];
    return `| ${name} | ${fmt(m.rps, 0)} | ${fmt(m.mbps, 1)} | ${fmt(m.cpuGb, 1)} | **${fmt(m.steady, 1)}** | ${fmt(m.rss, 0)} |`;
  });
}
