/**
 * The runner under the sink's checkpoints: claims it may release (its own leftovers, killed runners' on this
 * machine) and those it must wait out; claim conflicts retried with backoff, never bisected or given up on.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AbortMultipartUploadCommand, GetObjectCommand, ListMultipartUploadsCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { ClaimConflictError, encodeCheckpoint, ProgressStore } from '../../../lambdas/shared/progress.ts';
import { machineId, newIdentity, parseOwner, processAlive, releasable, releaseStaleClaims, requestId } from '../../../bin/runner/claims.ts';
import type { RunnerRecord } from '../../../bin/runner/event.ts';
import { LocalObjectStore } from '../../../bin/runner/local-store.ts';
import { abortStaleUploads } from '../../../bin/runner/stale-uploads.ts';
import { deliver, GiveUpError } from '../../../bin/runner/retry.ts';

/** A pid that surely belonged to a process that is gone now. */
const deadPid = () => spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout;

describe('runner claim owners', () => {
  it('names invocations so that the sink\'s owner (request id + claim time) parses back to this runner loop', () => {
    const id = newIdentity();
    const owner = `${requestId(id, 42)}-${Date.now()}`; // as lambdas/sink/app.ts builds it
    expect(parseOwner(owner)).toEqual(id);
    expect(id.machine).toBe(machineId());
    expect(parseOwner('f1a2b3c4-aws-request-id-1796166306578')).toBeUndefined();
  });

  it('releases its own loop\'s claims and those of dead processes on this machine, nothing else', () => {
    const self = newIdentity();
    const at = (id: { machine: string; pid: number; instance: string }) => `${requestId(id, 1)}-1`;
    const dead = Number(deadPid());
    expect(processAlive(dead)).toBe(false);
    expect(processAlive(process.pid)).toBe(true);
    expect(releasable(at(self), self)).toBe(true); // this loop, between its invocations
    expect(releasable(at({ ...self, instance: 'abcdef' }), self)).toBe(false); // another loop of this process
    expect(releasable(at({ ...self, pid: dead }), self)).toBe(true); // a killed runner here
    expect(releasable(at({ ...self, pid: process.ppid }), self)).toBe(false); // a live process here
    expect(releasable(at({ ...self, machine: 'other-host', pid: dead }), self)).toBe(false); // another machine: cannot tell
    expect(releasable('lambda-request-id-1', self)).toBe(false);
  });

  it('releaseStaleClaims expires exactly the provably dead live claims, keeping their keys for the takeover', async () => {
    // Prepare: six partitions' checkpoints with claims of different owners.
    const store = new LocalObjectStore(mkdtempSync(join(tmpdir(), 'kafka-s3-claims-')));
    const progress = new ProgressStore(store as never, { bucket: 'b', statePrefix: 'checkpoints/' });
    const self = newIdentity();
    const dead = Number(deadPid());
    const now = Date.now();
    const owners = {
      0: `${requestId(self, 3)}-${now}`, // own leftover (its release failed)
      1: `${requestId({ ...self, pid: dead, instance: 'aaaaaa' }, 9)}-${now}`, // a SIGKILLed runner
      2: `${requestId({ ...self, pid: process.ppid, instance: 'bbbbbb' }, 1)}-${now}`, // a live runner
      3: `${requestId({ machine: 'elsewhere', pid: dead, instance: 'cccccc' }, 1)}-${now}`, // another machine
      4: 'lambda-0f0e-1', // a Lambda invocation
    };
    for (const [p, owner] of Object.entries(owners)) {
      await progress.write('orders', Number(p), { next: 100n, claim: { from: 100n, to: 199n, owner, expiresAt: now + 600_000, keys: [`topics/o+${p}`] } }, null, now);
    }
    await progress.write('orders', 5, { next: 7n, claim: null }, null, now);

    // Act
    const released = await releaseStaleClaims(store, { bucket: 'b', statePrefix: 'checkpoints/' }, self);

    // Assess
    expect(released.map((r) => r.key)).toEqual(['checkpoints/orders/0.json', 'checkpoints/orders/1.json']);
    for (let p = 0; p <= 4; p++) {
      const { checkpoint } = await progress.read('orders', p);
      expect(checkpoint.next).toBe(100n);
      expect(checkpoint.claim?.keys).toEqual([`topics/o+${p}`]);
      expect(checkpoint.claim!.expiresAt > now).toBe(p >= 2);
    }
    expect((await progress.read('orders', 5)).checkpoint).toEqual({ next: 7n, claim: null });
  });
});

describe('deliver: a claim conflict waits, it does not fail the batch', () => {
  const rec = (offset: number): RunnerRecord => ({ topic: 'orders', partition: 0, offset: BigInt(offset), timestamp: 0, timestampType: 'CREATE_TIME', key: null, value: Buffer.from('x'), headers: [] });
  const batch = [0, 1, 2, 3, 4, 5, 6, 7].map(rec);
  const conflict = () => new ClaimConflictError('orders-0: offsets 0..7 are being written by another invocation');

  it('retries the whole batch with growing backoff, never bisected, and not counted toward maxAttempts', async () => {
    const calls: number[] = [];
    const delays: number[] = [];
    let conflicts = 6;
    const r = await deliver(batch, { bisectOnError: true, baseDelayMs: 10, maxDelayMs: 100, maxAttempts: 2 }, {
      invoke: async (rs) => { calls.push(rs.length); if (conflicts-- > 0) throw conflict(); },
      commit: async () => {},
      sleep: async (ms) => { delays.push(ms); },
      waits: (err) => err instanceof ClaimConflictError,
    });
    expect(calls).toEqual([8, 8, 8, 8, 8, 8, 8]);
    expect(delays).toEqual([10, 20, 40, 80, 100, 100]);
    expect(r).toEqual({ attempts: 7, delivered: 8 });
  });

  it('real failures between conflicts still bisect and still count', async () => {
    const calls: string[] = [];
    const script = ['conflict', 'fail', 'conflict', 'fail'];
    await expect(deliver(batch, { bisectOnError: true, baseDelayMs: 1, maxDelayMs: 1, maxAttempts: 2 }, {
      invoke: async (rs) => {
        const next = script.shift();
        calls.push(`${rs.length}:${next}`);
        if (next === 'conflict') throw conflict();
        if (next === 'fail') throw new Error('S3 down');
      },
      commit: async () => {},
      sleep: async () => {},
      waits: (err) => err instanceof ClaimConflictError,
    })).rejects.toBeInstanceOf(GiveUpError);
    expect(calls).toEqual(['8:conflict', '8:fail', '4:conflict', '4:fail']);
  });
});

describe('abortStaleUploads: only a dead runner\'s uploads, begun in an earlier second', () => {
  it('aborts uploads of a dead claim\'s keys initiated before the start\'s second, never one of that second or another key', async () => {
    // Prepare: a dead runner of this machine (its pid reported gone) claimed key "topics/a.jsonl"; four open uploads.
    const self = newIdentity();
    const dead = { ...self, pid: self.pid + 1, instance: 'abc123' };
    const claim = { from: 0n, to: 9n, owner: `${requestId(dead, 1)}-1767225600000`, expiresAt: Date.now() + 60_000, keys: ['topics/a.jsonl'] };
    const checkpoint = encodeCheckpoint('t', 0, { next: 0n, claim }, Date.now());
    const before = new Date('2026-12-08T00:00:00.700Z');
    const uploads = [
      { Key: 'topics/a.jsonl', UploadId: 'dead-earlier', Initiated: new Date('2026-12-07T23:59:59.000Z') },
      // A server reporting to the second: begun at 00:00:00.900, after the start, reads 00:00:00.000 < before.
      { Key: 'topics/a.jsonl', UploadId: 'same-second', Initiated: new Date('2026-12-08T00:00:00.000Z') },
      { Key: 'topics/a.jsonl.bak', UploadId: 'longer-key', Initiated: new Date('2026-12-07T23:00:00.000Z') },
      { Key: 'topics/b.jsonl', UploadId: 'other-key', Initiated: new Date('2026-12-07T23:00:00.000Z') },
    ];
    const aborted: string[] = [];
    const s3 = {
      send: async (cmd: object) => {
        const input = (cmd as { input: Record<string, string> }).input;
        if (cmd instanceof ListObjectsV2Command) return { Contents: [{ Key: '_state/t/0.json' }] };
        if (cmd instanceof GetObjectCommand) return { Body: { transformToString: async () => checkpoint } };
        if (cmd instanceof ListMultipartUploadsCommand) return { Uploads: uploads.filter((u) => u.Key.startsWith(input.Prefix)) };
        if (cmd instanceof AbortMultipartUploadCommand) return aborted.push(input.UploadId);
        throw new Error(`unexpected ${cmd.constructor.name}`);
      },
    };

    // Act
    const n = await abortStaleUploads(s3 as never, { bucket: 'b', statePrefix: '_state/', before, self, alive: (pid) => pid === self.pid });

    // Assess
    expect(aborted).toEqual(['dead-earlier']);
    expect(n).toBe(1);
  });
});
