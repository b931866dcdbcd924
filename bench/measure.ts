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

export interface Usage {
  cpuSeconds: number;
  peakRssMb: number;
  wallSeconds: number;
  /** [records, value bytes, CPU seconds] at each message on the runner's progress channel (report-usage.ts). */
  progress?: [number, number, number][];
}

/** The middle of a run that "steady" measures: from 20 % of its records to 90 %. */
export const STEADY_WINDOW = [0.2, 0.9] as const;

/**
 * CPU-seconds per GB of values in the middle of one run, in the process itself: from its first progress message at
 * 20 % of `records` or more to its last at 90 % or less (CPU time and value bytes at each); NaN without two such.
 * Start-up, warm-up and the last batches are left out, and no second run is subtracted.
 */
export function steadyCpuPerGb(progress: Usage['progress'], records: number): number {
  const inside = (progress ?? []).filter(([n]) => n >= records * STEADY_WINDOW[0] && n <= records * STEADY_WINDOW[1]);
  if (inside.length < 2) return Number.NaN;
  const [first, last] = [inside[0], inside[inside.length - 1]];
  return last[1] > first[1] ? (last[2] - first[2]) / ((last[1] - first[1]) / 1e9) : Number.NaN;
}

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
 * Each kind run `runs` times on `full` records, interleaved (run 1 of every kind, then run 2, …: a change in the
 * machine's load hits all of them); returns a table row per kind: records/s, value MB/s, CPU-s/GB of the whole run
 * and steady, peak RSS, as median (min–max). Steady is measured inside the run (steadyCpuPerGb) when its process
 * publishes progress; otherwise, given `small`, a run of that many records is subtracted (full − small: without
 * start-up, but with warm-up and two start-ups' noise).
 */
/** The table's rows, and each kind's steady CPU-s/GB per run (in run order, for paired comparisons). */
export interface InterleavedResult {
  readonly rows: string[];
  readonly steady: number[][];
}

export async function interleavedRuns(kinds: readonly MeasuredKind[], o: { runs: number; full: number; gbFull: number; small?: number; gbSmall?: number }): Promise<InterleavedResult> {
  const all = kinds.map(() => ({ rps: [] as number[], mbps: [] as number[], cpuGb: [] as number[], steady: [] as number[], rss: [] as number[] }));
  for (let i = 0; i < o.runs; i++) {
    for (const [k, [name, run]] of kinds.entries()) {
      const m = all[k];
      const full = await run(o.full);
      let steady = steadyCpuPerGb(full.progress, o.full);
      let how = 'in the run';
      if (Number.isNaN(steady) && o.small !== undefined && o.gbSmall !== undefined) {
        const small = await run(o.small);
        steady = (full.cpuSeconds - small.cpuSeconds) / (o.gbFull - o.gbSmall);
        how = `${o.small.toLocaleString('en-US')}-record run ${small.cpuSeconds.toFixed(2)} CPU-s subtracted`;
      }
      m.rps.push(o.full / full.wallSeconds);
      m.mbps.push(o.gbFull * 1000 / full.wallSeconds);
      m.cpuGb.push(full.cpuSeconds / o.gbFull);
      m.steady.push(steady);
      m.rss.push(full.peakRssMb);
      process.stderr.write(`  ${name} run ${i + 1}: ${full.cpuSeconds.toFixed(2)} CPU-s, steady ${steady.toFixed(1)} CPU-s/GB (${how}), ${full.wallSeconds.toFixed(1)} s, ${full.peakRssMb.toFixed(0)} MB\n`);
    }
  }
  const rows = kinds.map(([name], k) => {
    const m = all[k];
    return `| ${name} | ${fmt(m.rps, 0)} | ${fmt(m.mbps, 1)} | ${fmt(m.cpuGb, 1)} | **${fmt(m.steady, 1)}** | ${fmt(m.rss, 0)} |`;
  });
  return { rows, steady: all.map((m) => m.steady) };
}
