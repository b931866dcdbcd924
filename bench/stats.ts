/** Figures the benchmarks print: medians with their spread, and another process's CPU time from /proc. */
import { readFileSync } from 'node:fs';

export const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
export const spread = (xs: readonly number[], digits: number): string => `${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)}`;
/** "median (min–max)". */
export const fmt = (xs: readonly number[], digits: number): string => `${median(xs).toFixed(digits)} (${spread(xs, digits)})`;

/**
 * CPU seconds (user + system, all threads) a process has used so far, from /proc/<pid>/stat (utime and stime, fields
 * 14 and 15, in clock ticks of 1/100 s on Linux); NaN where there is no /proc.
 */
export function processCpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces: count fields after its closing one.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

/**
 * Paired runs of one case, this checkout against a compared one (BENCH_COMPARE), run after run in the same
 * interleaving: the machine's speed moves between runs more than a small change moves the figure, so the pairs say
 * more than two medians. A Markdown table of each pair and the difference, and a line: in how many pairs this
 * checkout was lower, and the median of the differences.
 */
export function pairedTable(name: string, mine: readonly number[], compared: readonly number[], unit: string): string {
  const n = Math.min(mine.length, compared.length);
  if (n === 0) return '';
  const lines = [`| ${name}: run | this checkout | compared | difference |`, '|---:|---:|---:|---:|'];
  const diffs: number[] = [];
  let lower = 0;
  for (let i = 0; i < n; i++) {
    const d = ((mine[i] - compared[i]) / compared[i]) * 100;
    diffs.push(d);
    if (mine[i] < compared[i]) lower++;
    lines.push(`| ${i + 1} | ${mine[i].toFixed(1)} | ${compared[i].toFixed(1)} | ${d >= 0 ? '+' : '−'}${Math.abs(d).toFixed(1)} % |`);
  }
  const m = median(diffs);
  lines.push('', `${name}: this checkout lower in ${lower} of ${n} pairs; median difference ${m >= 0 ? '+' : '−'}${Math.abs(m).toFixed(1)} % (${unit})`);
  return lines.join('\n');
}
