/**
 * The broker probe's timeout branch (bin/runner/preflight.ts): an address where the TCP handshake never completes
 * (a firewall dropping SYNs, a wrong address) must fail within the probe's timeout, naming the broker and the cause.
 * Here a listener that never accepts, its accept queue filled first: the kernel then drops further SYNs, so a
 * connect hangs as it would against a firewall.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UsageError } from '../../../bin/runner/cli.ts';
import { probeBroker, probeBrokers } from '../../../bin/runner/preflight.ts';

let listener: ChildProcess;
let port = 0;
const fillers: Socket[] = [];

beforeAll(async () => {
  // A socket listening with backlog 0 that never accepts (Node accepts by itself, so Python holds it).
  listener = spawn('python3', ['-c', [
    'import socket, sys, time',
    's = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(0)',
    'print(s.getsockname()[1], flush=True)',
    'time.sleep(120)',
  ].join('\n')], { stdio: ['ignore', 'pipe', 'inherit'] });
  port = await new Promise<number>((resolve, reject) => {
    listener.stdout!.once('data', (d: Buffer) => resolve(Number(String(d).trim())));
    listener.once('error', reject);
  });
  // Fill the accept queue: these complete the handshake and wait in it.
  for (let i = 0; i < 4; i++) {
    const s = connect({ host: '127.0.0.1', port });
    s.on('error', () => {});
    fillers.push(s);
  }
  await new Promise((r) => setTimeout(r, 300));
});

afterAll(() => {
  for (const s of fillers) s.destroy();
  listener?.kill('SIGKILL');
});

describe('broker probe: no answer', () => {
  it('times out within its timeout, naming the broker and the cause', async () => {
    // Act
    const t0 = Date.now();
    const r = await probeBroker(`127.0.0.1:${port}`, 800);
    const ms = Date.now() - t0;

    // Assess
    expect(r).toMatchObject({ broker: `127.0.0.1:${port}`, ok: false, code: 'ETIMEDOUT' });
    expect(r.reason).toMatch(/^no answer \(timed out: a firewall, a wrong address or a broker not reachable from here\) after 0.8 s$/);
    expect(ms).toBeGreaterThanOrEqual(700);
    expect(ms).toBeLessThan(5000);
  });

  it('probeBrokers: one line for the user (UsageError), each broker with its cause', async () => {
    const err = await probeBrokers([`127.0.0.1:${port}`, '127.0.0.1:1'], 800).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toBe(`Kafka brokers not reachable — 127.0.0.1:${port}: no answer (timed out: a firewall, a wrong address or a broker not reachable from here) after 0.8 s; 127.0.0.1:1: connection refused (nothing listens on that port). Check --brokers (host:port of a listener reachable from this machine)`);
  });
});
