/**
 * A claim the runner leaves live must not hold the partition's next owner. The sink gives back its claims when an
 * invocation fails, but once and best effort: when S3 also fails that write, the claim stays live. If the partition
 * is then revoked, the runner never invokes for it again, and before this test's fix its live claim (this process is
 * alive, so no other runner can judge it dead) made the new owner wait until it expired: 15 minutes. The runner now
 * releases its own leftover claims before its next invocation, when a batch's rest went to another member, and when it
 * stops.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ProgressStore } from '../../../lambdas/shared/progress.ts';
import { createSinkHandler } from '../../../lambdas/sink/app.ts';
import { releaseStaleClaims } from '../../../bin/runner/claims.ts';
import type { RunnerRecord } from '../../../bin/runner/event.ts';
import { LocalObjectStore } from '../../../bin/runner/local-store.ts';
import { runPipeline, type RunnerSourceLike } from '../../../bin/runner/runner.ts';

const rec = (offset: number): RunnerRecord => ({
  topic: 'orders', partition: 0, offset: BigInt(offset), timestamp: 1_767_225_600_000 + offset, timestampType: 'CREATE_TIME', key: null,
  value: Buffer.from(JSON.stringify({ o: offset })), headers: [],
});

function source(records: RunnerRecord[], current: () => boolean = () => true): RunnerSourceLike {
  return {
    async *records() {
      yield* records;
    },
    commit: async () => {},
    isCurrent: () => current(),
    describe: () => ({ eventSource: 'SelfManagedKafka', bootstrapServers: 'test' }),
    close: async () => {},
  };
}

const env = { BUCKET_NAME: 'bkt', FORMAT: 'jsonl', COMPRESSION: 'none' };

describe('a claim left live by a failed invocation whose partition was then revoked', () => {
  it('is released by the runner that left it, so the next owner writes at once', async () => {
    // Prepare: the first data upload fails, and so does the sink's release of its claim right after; the partition
    // is revoked at that moment (a rebalance), so the first runner never invokes for it again.
    const store = new LocalObjectStore(mkdtempSync(join(tmpdir(), 'kafka-s3-leftover-')));
    let revoked = false;
    let failRelease = false;
    const s3 = {
      async send(command: { constructor: { name: string }; input: { Key?: string } }) {
        const key = command.input.Key ?? '';
        if (!revoked && command.constructor.name === 'PutObjectCommand' && key.startsWith('topics/')) {
          revoked = true;
          failRelease = true;
          throw Object.assign(new Error('We encountered an internal error'), { name: 'InternalError', $metadata: { httpStatusCode: 500 } });
        }
        if (failRelease && key.startsWith('checkpoints/')) {
          failRelease = false;
          throw Object.assign(new Error('Service unavailable'), { name: 'ServiceUnavailable', $metadata: { httpStatusCode: 503 } });
        }
        return store.send(command as never);
      },
    };
    const release = async (self: Parameters<typeof releaseStaleClaims>[2]) => (await releaseStaleClaims(s3 as never, { bucket: 'bkt', statePrefix: 'checkpoints/' }, self)).length;
    const records = Array.from({ length: 100 }, (_, i) => rec(i));
    const retry = { bisectOnError: false, baseDelayMs: 1, maxDelayMs: 20 };

    // Act: the first owner (its partition revoked after the failure), then the next owner, bounded at 10 s.
    const first = await runPipeline({
      source: source(records, () => !revoked), handler: createSinkHandler({ env, s3: s3 as never }),
      batch: { batchSize: 100, windowMs: 10 }, retry, releaseStaleClaims: release,
    });
    const checkpoint = (await new ProgressStore(store as never, { bucket: 'bkt', statePrefix: 'checkpoints/' }).read('orders', 0)).checkpoint;
    const second = await runPipeline({
      source: source(records), handler: createSinkHandler({ env, s3: s3 as never }), batch: { batchSize: 100, windowMs: 10 }, retry,
      releaseStaleClaims: release, signal: AbortSignal.timeout(10_000),
    });

    // Assess: the failure and the failed release happened; the first runner released its claim (expired at once);
    // the next owner wrote everything without waiting on a claim.
    expect(revoked).toBe(true);
    expect(first.written).toBe(0);
    expect(first.claimsReleased).toBe(1);
    expect(checkpoint.claim?.expiresAt).toBe(0);
    expect(second.claimConflicts).toBe(0);
    expect(second.written).toBe(100);
  });
});
