/**
 * One compaction run in a fresh process (bench/compact-bench.ts measures its CPU time and peak RSS, preloading
 * report-usage.ts): the compactor configured from the environment as the function is, every window closed.
 */
import { Compactor } from '../lambdas/compactor/compact.ts';
import { loadCompactorConfig } from '../lambdas/compactor/config.ts';
import { createS3Client } from '../lambdas/shared/upload.ts';

const cfg = loadCompactorConfig(process.env);
const report = await new Compactor(createS3Client(cfg.sink), { ...cfg, runId: 'bench' }, () => Date.UTC(2100, 0, 1)).run();
process.stdout.write(JSON.stringify(report));
