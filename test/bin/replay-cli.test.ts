/**
 * `npm start -- replay`: every user mistake is one line naming the fix (UsageError, exit code 2), flags that do not
 * apply are refused, and the defaults are those the README states.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { parseReplayCli } from '../../bin/runner/replay-cli.ts';
import { UsageError } from '../../bin/runner/cli.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const BASE = ['--bucket', 'lake', '--brokers', '127.0.0.1:9092'];

describe('replay flags', () => {
  it('defaults: the sink\'s objects under topics/, partitions kept, the throttles of the README, a state per settings', () => {
    const cli = parseReplayCli(BASE, {});
    expect(cli.settings).toMatchObject({
      bucket: 'lake', prefix: 'topics/', kind: 'sink', partitioning: 'keep', keysPerPoll: 1000, recordsPerPoll: 10_000, maxBytesPerSecond: 0, csvHeader: true,
    });
    expect(cli.state).toMatch(/^\.tmp\/replay\/[0-9a-f]{12}$/);
    expect(parseReplayCli(BASE, {}).state).toBe(cli.state);
    expect(parseReplayCli([...BASE, '--topics', 'orders'], {}).state).not.toBe(cli.state);
    expect(parseReplayCli([...BASE, '--source', 'dead-letters'], {}).settings.prefix).toBe('dead-letters/');
    expect(parseReplayCli([...BASE, '--source', 'foreign', '--target-topic', 't'], {}).settings).toMatchObject({ prefix: '', partitioning: 'key' });
  });

  it.each([
    [['--bucket', 'lake'], '--brokers is required'],
    [['--brokers', '127.0.0.1:9092'], '--bucket is required'],
    [[...BASE, '--bukcet', 'x'], "unknown flag --bukcet (did you mean --bucket?)"],
    [[...BASE, 'orders'], "unexpected argument 'orders'"],
    [[...BASE, '--source', 'kafka'], '--source=kafka: expected one of sink, dead-letters, foreign'],
    [[...BASE, '--source', 'foreign'], '--target-topic is required with --source foreign'],
    [[...BASE, '--source', 'foreign', '--target-topic', 't', '--partitioning', 'keep'], '--partitioning keep does not apply to --source foreign'],
    [[...BASE, '--source', 'foreign', '--target-topic', 't', '--from-offset', '5'], '--from-offset does not apply to --source foreign'],
    [[...BASE, '--format', 'csv'], '--format does not apply to --source sink'],
    [[...BASE, '--from-offset', '9', '--to-offset', '3'], '--to-offset 3 is below --from-offset 9'],
    [[...BASE, '--from-offset', '99999999999999999999'], '--from-offset=99999999999999999999: expected an offset'],
    [[...BASE, '--from-time', '2026-01-01 10:00'], '--from-time=2026-01-01 10:00: expected an ISO-8601 time with its zone'],
    [[...BASE, '--from-time', '2026-01-02T00:00:00Z', '--to-time', '2026-01-01T00:00:00Z'], '--to-time must be after --from-time'],
    [[...BASE, '--line-regex', '(?=x)'], '--line-regex: not a valid RE2 regular expression'],
    [[...BASE, '--keys-per-poll', '5000'], '--keys-per-poll=5000: expected an integer from 1 to 1,000'],
    [[...BASE, '--max-mb-per-second=-1'], '--max-mb-per-second=-1: expected a positive number'],
    [[...BASE, '--brokers', 'kafka'], "--brokers: 'kafka' is not host:port"],
    [[...BASE, '--quiet', '--debug'], '--quiet and --debug contradict each other'],
  ])('%j → %s', (argv, message) => {
    expect(() => parseReplayCli(argv, {})).toThrow(UsageError);
    expect(() => parseReplayCli(argv, {})).toThrow(message);
  });

  it('an unreachable broker is one line naming it, exit code 2, within seconds', () => {
    const t = Date.now();
    const r = spawnSync(process.execPath, ['bin/runner.ts', 'replay', '--bucket', 'lake', '--brokers', '127.0.0.1:1'], { cwd: ROOT, encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n').at(-1)).toBe('Kafka broker not reachable — 127.0.0.1:1: connection refused (nothing listens on that port). Check --brokers (host:port of a listener reachable from this machine)');
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(Date.now() - t).toBeLessThan(20_000);
  });

  it('--help prints the flags and exits 0', () => {
    const r = spawnSync(process.execPath, ['bin/runner.ts', 'replay', '--help'], { cwd: ROOT, encoding: 'utf8' });
    expect(r.status).toBe(0);
    for (const flag of ['--source', '--order', '--extensions', '--line-regex', '--partitioning', '--keys-per-poll', '--records-per-poll', '--max-mb-per-second', '--state']) expect(r.stdout).toContain(flag);
  });
});
