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
