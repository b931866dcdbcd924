/**
 * End to end on real components: a Kafka broker (KRaft) and versitygw on 127.0.0.1, the runner as a child process
 * (as the function would run), S3 behind a proxy that fails 15 % of requests (500, 503 SlowDown, resets, stalls).
 * 1. The runner SIGKILLed mid-batch three times: 50,000 records — keys, missing keys, repeated and binary headers,
 *    tombstones, JSON and binary values — must each land exactly once with their content, no multipart upload may
 *    be left open, and every partition's checkpoint must end past its last offset with no claim (a SIGKILLed
 *    runner's claims are released by the next run, not waited out).
 * 2. Two runners in two consumer groups writing the same partitions at once, SIGKILLed and rewound to earlier
 *    committed offsets (lost commits, replays with other batch cuts): still every offset exactly once.
 * 3. Runners joining and leaving one consumer group over and over (1–3 members, SIGTERM and SIGKILL), 4 + 1
 *    partitions, under S3 faults (500, 503, resets): every offset exactly once (the group's overlapping members write
 *    nothing twice), and no partition with records left stands still for IDLE_BOUND_S (a SIGKILLed member holds its
 *    partitions until its 20 s session times out, then the next owner releases its claims; a batch waiting on another
 *    member's claim backs off up to 10 s). Stalls are left out of this one: each stalled S3 request holds its
 *    partition for the client's 15 s timeout per attempt, which measures S3, not the consumer (tests 1 and 2 have them).
 * `npm run soak` runs all three at any scale.
 */
import { expect, inject, it } from 'vitest';
import { runSoak } from '../../bench/soak-core.ts';
import { describeKafka } from '../support/kafka-context.ts';

/** Longest a partition with records left may go without its committed offset moving, in the rebalance test. */
const IDLE_BOUND_S = 60;

const exactlyOnce = (records: number) => ({
  records, uniqueOffsets: records, duplicates: 0, missing: 0, contentMismatches: 0, orderViolations: 0, openUploads: 0,
  checkpointProblems: 0, deadLetterObjects: 0,
});

describeKafka('runner on Kafka → S3 with faults and kills', (kafka) => {
  it('lands 50,000 records exactly once through S3 faults and three SIGKILLs', async () => {
    // Prepare
    const s3 = inject('s3');
    if (!s3) throw new Error(`needs the S3 server: ${inject('s3Unavailable')}`);

    // Act
    const report = await runSoak({ records: 50_000, faultRate: 0.15, kills: 3, bootstrap: kafka.bootstrap, s3, seed: 11, timeoutMs: 15 * 60_000 });

    // Assess
    expect(report).toMatchObject({ ...exactlyOnce(50_000), runs: 4 });
    const faults = report.faults.error500 + report.faults.slowdown503 + report.faults.reset + report.faults.stall;
    expect(faults).toBeGreaterThan(0);
    // Each offset is in exactly one completed claim: the completed invocations wrote each record once in all.
    expect(report.runner.written).toBeLessThanOrEqual(50_000);
    console.log(`soak: ${JSON.stringify(report)}`);
  }, 16 * 60_000);

  it('lands 20,000 records exactly once with two groups writing the same partitions, kills and rewinds', async () => {
    // Prepare
    const s3 = inject('s3');
    if (!s3) throw new Error(`needs the S3 server: ${inject('s3Unavailable')}`);

    // Act: kill, rewind after SIGKILL, rewind after SIGTERM, twice over.
    const report = await runSoak({ mode: 'rewinds', records: 20_000, faultRate: 0.1, kills: 6, bootstrap: kafka.bootstrap, s3, seed: 5, timeoutMs: 10 * 60_000 });

    // Assess
    expect(report).toMatchObject({ ...exactlyOnce(20_000), groups: 2, consumers: 2, rewinds: 4 });
    expect(report.offsetsRewound).toBeGreaterThan(0);
    // Both groups went through every record: what one wrote, the other (and every replay) found already written.
    expect(report.runner.alreadyWritten).toBeGreaterThanOrEqual(20_000);
    expect(report.runner.written).toBeLessThanOrEqual(20_000);
    console.log(`soak rewinds: ${JSON.stringify(report)}`);
  }, 11 * 60_000);

  it('lands 30,000 records exactly once with runners joining and leaving one group, under S3 faults', async () => {
    // Prepare
    const s3 = inject('s3');
    if (!s3) throw new Error(`needs the S3 server: ${inject('s3Unavailable')}`);

    // Act: 8 joins and leaves (some by SIGKILL), each a rebalance while batches are in flight.
    const report = await runSoak({
      mode: 'rebalance', records: 30_000, faultRate: 0.1, faults: ['error500', 'slowdown503', 'reset'], kills: 8, bootstrap: kafka.bootstrap, s3, seed: 3, timeoutMs: 6 * 60_000 });

    // Assess
    expect(report).toMatchObject({ ...exactlyOnce(30_000), groups: 1 });
    expect(report.joins + report.leaves).toBe(8);
    expect(report.joins).toBeGreaterThan(0);
    expect(report.leaves).toBeGreaterThan(0);
    expect(report.maxPartitionIdleSeconds).toBeLessThan(IDLE_BOUND_S);
    // What the sink wrote: each offset once in all (overlapping members found the rest already written).
    expect(report.runner.written).toBeLessThanOrEqual(30_000);
    expect(report.runner.invocations).toBeGreaterThan(0);
    console.log(`soak rebalance: ${JSON.stringify(report)}`);
  }, 7 * 60_000);
});
