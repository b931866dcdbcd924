/**
 * Memory of the runner loop stays flat with run length: 1,000,000 records through runPipeline in a child with a
 * 64 MB old space (before the fix every record stayed reachable from a Promise.race against an abort promise that
 * never settles: ~1.5 KB per record, out of memory after about 300,000 records under a 400 MB heap). The heap after
 * a forced GC is sampled at every tenth of the run; the last sample may not exceed the second by more than a few MB.
 * No timing is asserted.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

it('runs 1,000,000 records under a 64 MB heap with a flat heap', () => {
  // Act
  const child = spawnSync(process.execPath, ['--max-old-space-size=64', '--expose-gc', fileURLToPath(new URL('./fixtures/memory-child.ts', import.meta.url))], {
    env: { ...process.env, RECORDS: '1000000' }, encoding: 'utf8', timeout: 170_000,
  });

  // Assess
  expect(child.status, child.stderr.slice(-2000)).toBe(0);
  const out = JSON.parse(child.stdout.trim().split('\n').pop()!) as { records: number; heapMB: number[]; rssMB: number };
  console.log(`memory: ${JSON.stringify(out)}`);
  expect(out.records).toBe(1_000_000);
  expect(out.heapMB.length).toBeGreaterThanOrEqual(9);
  expect(out.heapMB.at(-1)! - out.heapMB[1]).toBeLessThan(8);
}, 180_000);
