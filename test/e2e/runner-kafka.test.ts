/**
 * End to end on real components: a Kafka broker (KRaft) and versitygw on 127.0.0.1, the runner as a child process
 * (as the function would run), S3 behind a proxy that fails 15 % of requests (500, 503 SlowDown, resets, stalls),
 * and the runner SIGKILLed mid-batch three times. 100,000 records — keys, missing keys, repeated and binary headers,
 * tombstones, JSON and binary values — must each land exactly once with their content, and no multipart upload
 * may be left open, and every partition's checkpoint must end past its last offset with no claim (a SIGKILLed
 * runner's claims are released by the next run, not waited out). `npm run soak` runs the same at any scale.
 */
import { expect, inject, it } from 'vitest';
import { runSoak } from '../../bench/soak-core.ts';
import { describeKafka } from '../support/kafka-context.ts';

describeKafka('runner on Kafka → S3 with faults and kills', (kafka) => {
  it('lands 100,000 records exactly once through S3 faults and three SIGKILLs', async () => {
    // Prepare
    const s3 = inject('s3');
    if (!s3) throw new Error(`needs the S3 server: ${inject('s3Unavailable')}`);

    // Act
    const report = await runSoak({ records: 100_000, faultRate: 0.15, kills: 3, bootstrap: kafka.bootstrap, s3, seed: 11, timeoutMs: 15 * 60_000 });

    // Assess
    expect(report).toMatchObject({
      records: 100_000, uniqueOffsets: 100_000, duplicates: 0, missing: 0, contentMismatches: 0, orderViolations: 0, openUploads: 0,
      checkpointProblems: 0, deadLetterObjects: 0, runs: 4,
    });
    const faults = report.faults.error500 + report.faults.slowdown503 + report.faults.reset + report.faults.stall;
    expect(faults).toBeGreaterThan(0);
    console.log(`soak: ${JSON.stringify(report)}`);
  }, 16 * 60_000);
});
