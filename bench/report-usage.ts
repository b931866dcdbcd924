/**
 * Preloaded into a benchmarked process (`node --import ./bench/report-usage.ts …`): at exit it writes its own CPU
 * time (user + system, process.cpuUsage) and peak RSS (resourceUsage().maxRSS) as JSON to $BENCH_USAGE_FILE, and its
 * progress: the CPU time at each message on the runner's progress channel (after each committed batch: records
 * committed and their value bytes so far; the bare consumer publishes the same), from which measure.ts takes the
 * steady cost in the middle of the run, in this one process.
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import { writeFileSync } from 'node:fs';
import { PROGRESS_CHANNEL, type ProgressMessage } from '../bin/runner/progress-channel.ts';

const file = process.env.BENCH_USAGE_FILE;
if (file) {
  const cpuSeconds = () => {
    const cpu = process.cpuUsage();
    return (cpu.user + cpu.system) / 1e6;
  };
  /** [records, value bytes, CPU seconds] at each progress message. */
  const progress: [number, number, number][] = [];
  diagnosticsChannel.subscribe(PROGRESS_CHANNEL, (m) => {
    const s = m as ProgressMessage;
    progress.push([s.committed, s.valueBytes, cpuSeconds()]);
  });
  process.on('exit', () => {
    const cpu = process.cpuUsage();
    writeFileSync(file, JSON.stringify({ cpuSeconds: (cpu.user + cpu.system) / 1e6, userSeconds: cpu.user / 1e6, peakRssMb: process.resourceUsage().maxRSS / 1024, progress }));
  });
}
