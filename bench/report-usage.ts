/**
 * Preloaded into a benchmarked process (`node --import ./bench/report-usage.ts …`): at exit it writes its own CPU
 * time (user + system, process.cpuUsage) and peak RSS (resourceUsage().maxRSS) as JSON to $BENCH_USAGE_FILE.
 */
import { writeFileSync } from 'node:fs';

const file = process.env.BENCH_USAGE_FILE;
if (file) {
  process.on('exit', () => {
    const cpu = process.cpuUsage();
    writeFileSync(file, JSON.stringify({ cpuSeconds: (cpu.user + cpu.system) / 1e6, userSeconds: cpu.user / 1e6, peakRssMb: process.resourceUsage().maxRSS / 1024 }));
  });
}
