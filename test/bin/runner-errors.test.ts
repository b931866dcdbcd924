/**
 * The runner's errors as a user meets them: each mistake one line naming the fix, exit code 2, no stack (only with
 * --debug); an unreachable broker named with its cause within seconds; sink logs (dead letters, a failed batch) one
 * short line each; a live status line; Prometheus metrics scraped from a real run that match its summary.
 */
import { execFile, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { createServer as createHttpServer, request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Producer, ProduceAcks } from '@platformatic/kafka';
import { describe, expect, it } from 'vitest';
import { condenseLog } from '../../bin/runner/status.ts';
import { startFaultProxy } from '../support/fault-proxy.ts';
import { describeKafka } from '../support/kafka-context.ts';
import { createTopic } from '../support/kafka.ts';
import { describeS3 } from '../support/s3-context.ts';
import { createBucket, type S3Endpoint } from '../support/versitygw.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const NODE = process.execPath;

interface Run { code: number | null; stdout: string; stderr: string; ms: number }

function runner(args: string[], env: Record<string, string | undefined> = {}, timeoutMs = 60_000): Promise<Run> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    execFile(NODE, ['bin/runner.ts', ...args], { cwd: ROOT, env: { ...process.env, ...env }, maxBuffer: 16 << 20, timeout: timeoutMs }, (err, stdout, stderr) => {
      resolve({ code: err ? (err as { code?: number }).code ?? null : 0, stdout, stderr, ms: Date.now() - t0 });
    });
  });
}

const s3Env = (s3: S3Endpoint) => ({ AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey, AWS_REGION: s3.region });

/** One line on stderr, no stack frame, exit code 2. */
function expectUsage(r: Run, text: string | RegExp): void {
  expect(r.code, r.stderr).toBe(2);
  const lines = r.stderr.trim().split('\n');
  expect(lines.at(-1)).toMatch(text);
  expect(r.stderr).not.toMatch(/\n\s+at /);
  expect(r.stdout).toBe('');
}

describe('runner usage errors: one line with the fix, exit code 2', () => {
  it('an unknown flag names it and a near flag', async () => {
    const r = await runner(['--record', '10']);
    expectUsage(r, /^unknown flag --record \(did you mean --records\?\); npm start -- --help lists the flags$/);
  });

  it('-h prints the help, exit 0', async () => {
    const r = await runner(['-h']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('usage: npm start -- [flags]');
    expect(r.stdout).toContain('--metrics-port');
    expect(r.stdout).toMatch(/Exit codes: 0 done/);
    expect(r.stderr).toBe('');
  });

  it('`npm start --records 10` (no --): npm keeps the flag, the runner says where the -- goes', async () => {
    // What npm hands the script: the value as an argument, the flag as npm_config_records.
    const r = await runner(['10'], { npm_config_records: 'true' });
    expectUsage(r, "unexpected argument '10': npm took --records for itself: put -- before the runner's flags, e.g. npm start -- --records 10");
  });

  it('a flag that does not apply is refused', async () => {
    expectUsage(await runner(['--records', '10', '--brokers', '127.0.0.1:9092']), '--records does not apply to a Kafka source (--brokers): the records come from the topics');
    expectUsage(await runner(['--group', 'g']), '--group does not apply to the sample source: add --brokers host:port to read Kafka');
    expectUsage(await runner(['--region', 'eu-west-1']), '--region does not apply to a local directory: add --bucket name to write to S3');
    expectUsage(await runner(['--bucket', 'some-bucket', '--out', '/tmp/x']), '--out does not apply with --bucket: objects go to S3, not to a local directory');
    expectUsage(await runner(['--linger']), '--linger does not apply without --metrics-port');
  }, 60_000);

  it('npm keeping a flag with no value after it (--records=50, --bisect) is refused, not run without it', async () => {
    expectUsage(await runner([], { npm_config_records: '50' }), 'npm took --records for itself, so the runner would run without it: put -- before the runner\'s flags, e.g. npm start -- --records 50');
    expectUsage(await runner([], { npm_config_bisect: 'true' }), 'npm took --bisect for itself, so the runner would run without it: put -- before the runner\'s flags, e.g. npm start -- --bisect');
  }, 60_000);

  it('a negative value after a space, a number that is not digits, a flag given twice', async () => {
    expectUsage(await runner(['--records', '-5']), '--records -5: a value that starts with - reads as a flag; write --records=-5 if you mean it');
    expectUsage(await runner(['--records=-5']), '--records=-5: expected an integer from 1 to 100,000,000');
    expectUsage(await runner(['--records', '1e3']), '--records=1e3: expected an integer from 1 to 100,000,000');
    expectUsage(await runner(['--records', '0x10']), '--records=0x10: expected an integer from 1 to 100,000,000');
    expectUsage(await runner(['--records', '10', '--records', '20']), '--records is given 2 times (10, 20): give it once');
  }, 60_000);

  it('an --out where nothing can be written, an --input that is a directory, a bad --bucket name: named by their flag', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'runner-out-'));
    const file = join(dir, 'a-file');
    writeFileSync(file, 'x');
    expectUsage(await runner(['--out', file, '--records', '5']), new RegExp(`^--out ${file}: objects cannot be written there \\(ENOTDIR: .*\\): choose a directory you can write$`));
    expectUsage(await runner(['--out', '/proc/kafka-s3-nothing', '--records', '5']), /^--out \/proc\/kafka-s3-nothing: objects cannot be written there \(E[A-Z]+: \/proc\/kafka-s3-nothing\): choose a directory you can write$/);
    expectUsage(await runner(['--input', dir]), `--input ${dir}: not a file (a JSON-lines file: one value per line)`);
    expectUsage(await runner(['--bucket', 'Bad_Bucket..Name']), /^invalid sink setting: --bucket 'Bad_Bucket\.\.Name': .*\(see README, Settings\)$/);
  }, 60_000);

  it('an empty FORMAT is not set: the runner\'s default (Parquet) and its note', async () => {
    const out = mkdtempSync(join(tmpdir(), 'runner-fmt-'));
    const r = await runner(['--out', out, '--records', '10'], { FORMAT: '' });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/writing parquet \(zstd\) to .* \(the runner's default format; set FORMAT and COMPRESSION to choose\)/);
  }, 60_000);

  it('a --metrics-host that is not this machine\'s says to check --metrics-host', async () => {
    expectUsage(await runner(['--metrics-port', '0', '--metrics-host', '192.0.2.1', '--records', '5']), '--metrics-port 0: cannot listen on 192.0.2.1 (EADDRNOTAVAIL): check --metrics-host (an address of this machine)');
  }, 60_000);

  it('an S3 endpoint that accepts connections but never answers, or answers as no S3 does: named, exit 2, within seconds', async () => {
    const silent = createServer(() => {}).listen(0, '127.0.0.1');
    const junk = createServer((socket) => socket.once('data', () => socket.end('HTTP/1.1 500 Internal Server Error\r\ncontent-length: 4\r\n\r\noops'))).listen(0, '127.0.0.1');
    await Promise.all([once(silent, 'listening'), once(junk, 'listening')]);
    const endpoint = (srv: Server) => `http://127.0.0.1:${(srv.address() as { port: number }).port}`;
    const keys = { AWS_ACCESS_KEY_ID: 'a', AWS_SECRET_ACCESS_KEY: 'b', AWS_REGION: 'us-east-1' };
    try {
      const r1 = await runner(['--bucket', 'landing', '--s3-endpoint', endpoint(silent), '--records', '5'], keys);
      expectUsage(r1, `S3 at ${endpoint(silent)} did not answer the check of bucket 'landing' in 2 attempts of 5 s: check --s3-endpoint (the address of an S3 API)`);
      expect(r1.ms).toBeLessThan(20_000);
      const r2 = await runner(['--bucket', 'landing', '--s3-endpoint', endpoint(junk), '--records', '5'], keys);
      expectUsage(r2, new RegExp(`^S3 at ${endpoint(junk)} did not answer the check of bucket 'landing' as S3 does \\(HTTP 500, .+\\): check --s3-endpoint`));
    } finally {
      silent.close();
      junk.close();
    }
  }, 60_000);

  it('a function setting the runner has no use for is refused with the flag to use, not ignored', async () => {
    expectUsage(await runner([], { BUCKET_NAME: 'prod-lake' }), 'BUCKET_NAME=prod-lake is not read by the runner: give --bucket prod-lake to write there (or unset BUCKET_NAME to write to a local directory)');
    expectUsage(await runner(['--bucket', 'other-lake'], { BUCKET_NAME: 'prod-lake' }), /^BUCKET_NAME=prod-lake is not read by the runner: give --bucket prod-lake/);
    expectUsage(await runner(['--bucket', 'b-lake'], { CROSS_ACCOUNT_ROLE_ARN: 'arn:aws:iam::123456789012:role/w', EXTERNAL_ID: 'x' }),
      'CROSS_ACCOUNT_ROLE_ARN, EXTERNAL_ID: read by the deployed function only; the runner signs S3 requests with the AWS default credential chain, or --profile name (unset them)');
    expectUsage(await runner([], { S3_CREDENTIALS_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:s' }), /^S3_CREDENTIALS_SECRET_ARN: read by the deployed function only/);
    expectUsage(await runner([], { S3_ENDPOINT: 'http://127.0.0.1:7070' }), "S3_ENDPOINT applies with --bucket only (a local directory's objects are written whole): add --bucket name, or unset it");
    expectUsage(await runner(['--bucket', 'b-lake', '--s3-endpoint', 'http://127.0.0.1:7071'], { S3_ENDPOINT: 'http://127.0.0.1:7070' }), 'S3_ENDPOINT=http://127.0.0.1:7070 and --s3-endpoint http://127.0.0.1:7071 differ: give one of them');
  }, 60_000);

  it('S3_ENDPOINT is the default of --s3-endpoint with --bucket: the runner checks the bucket there, not at AWS', async () => {
    const closed = await new Promise<number>((resolve) => {
      const srv = createServer().listen(0, '127.0.0.1', () => {
        const { port } = srv.address() as { port: number };
        srv.close(() => resolve(port));
      });
    });
    const r = await runner(['--bucket', 'b-lake'], { S3_ENDPOINT: `http://127.0.0.1:${closed}`, AWS_ACCESS_KEY_ID: 'a', AWS_SECRET_ACCESS_KEY: 'b' });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain(`checking s3://b-lake at http://127.0.0.1:${closed}`);
    expect(r.stderr.trim().split('\n').at(-1)).toMatch(/refused/);
  }, 60_000);

  it('several topics for the sample source, a missing --input file, a metrics port in use', async () => {
    expectUsage(await runner(['--topics', 'a,b']), '--topics a,b: the sample source writes one topic; give one name, or add --brokers host:port to read several');
    expectUsage(await runner(['--input', '/no/such/file.jsonl']), '--input /no/such/file.jsonl: no such file');
    // A file with no record is a mistake, not a run of nothing that exits 0.
    const blank = join(mkdtempSync(join(tmpdir(), 'kafka-s3-blank-')), 'blank.jsonl');
    writeFileSync(blank, '\n   \n\t\n');
    const b = await runner(['--input', blank, '--out', mkdtempSync(join(tmpdir(), 'kafka-s3-blank-out-'))]);
    expect(b.code, b.stderr).toBe(2);
    expect(b.stderr.trim().split('\n').at(-1)).toBe(`--input ${blank}: no records (the file has no line that is not blank): give a file of JSON lines`);
    const busy: Server = createServer(() => {});
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', () => r()));
    const port = (busy.address() as { port: number }).port;
    try {
      const out = mkdtempSync(join(tmpdir(), 'kafka-s3-port-'));
      expectUsage(await runner(['--records', '10', '--out', out, '--metrics-port', String(port)]), `--metrics-port ${port}: cannot listen on 127.0.0.1 (EADDRINUSE): choose another port`);
    } finally {
      busy.close();
    }
  });

  it('no AWS credentials at all, and an S3 endpoint that refuses connections', async () => {
    const noCreds = { AWS_ACCESS_KEY_ID: undefined, AWS_SECRET_ACCESS_KEY: undefined, AWS_SESSION_TOKEN: undefined, AWS_PROFILE: undefined, HOME: mkdtempSync(join(tmpdir(), 'kafka-s3-home-')) };
    expectUsage(await runner(['--bucket', 'my-bucket-x', '--s3-endpoint', 'http://127.0.0.1:1'], noCreds), /^no AWS credentials found \(.*\): set AWS_ACCESS_KEY_ID \/ AWS_SECRET_ACCESS_KEY, AWS_PROFILE or --profile$/);
    expectUsage(await runner(['--bucket', 'my-bucket-x', '--s3-endpoint', 'http://127.0.0.1:1'], { AWS_ACCESS_KEY_ID: 'a', AWS_SECRET_ACCESS_KEY: 'b' }), 'S3 endpoint at http://127.0.0.1:1 not reachable: connection refused (nothing listens on that port): check --s3-endpoint');
  }, 60_000);

  it('a bad value and a missing value name the flag', async () => {
    expectUsage(await runner(['--records', 'many']), '--records=many: expected an integer from 1 to 100,000,000');
    expectUsage(await runner(['--records']), '--records needs a value, e.g. --records <value>; npm start -- --help lists the flags');
    expectUsage(await runner(['--brokers', 'localhost']), "--brokers: 'localhost' is not host:port (e.g. 127.0.0.1:9092)");
  });

  it('an empty value (an unset shell variable) is refused, not read as here or every interface; a bad group or topic name too', async () => {
    // Before: --out '' wrote into the working directory, --metrics-host '' listened on every interface, and a group
    // id with a space failed after connecting, exit 1.
    expectUsage(await runner(['--out', '']), '--out: the value is empty; expected a directory, e.g. --out .tmp/local-s3');
    expectUsage(await runner(['--records', '5', '--metrics-port', '0', '--metrics-host', ' ']), /^--metrics-host: the value is empty; expected an address/);
    expectUsage(await runner(['--input', '']), '--input: the value is empty; expected a file of JSON lines');
    expectUsage(await runner(['--bucket', 'b', '--region', '']), '--region: the value is empty; expected a region, e.g. --region eu-west-1');
    expectUsage(await runner(['--brokers', '127.0.0.1:1', '--group', 'a b']), "--group 'a b': a consumer group id is one word without spaces, e.g. --group kafka-s3-local");
    expectUsage(await runner(['--brokers', '127.0.0.1:1', '--group', '']), /^--group '': a consumer group id/);
    expectUsage(await runner(['--topics', 'my topic']), "--topics: 'my topic' is not a Kafka topic name (1-249 of letters, digits, '.', '_' and '-')");
    expectUsage(await runner(['--brokers', '127.0.0.1:1', '--topics', 'a,..']), /^--topics: '\.\.' is not a Kafka topic name/);
  });

  it('a bad sink setting is one line; COMPRESSION that does not suit the format is refused alike locally and with --bucket', async () => {
    const r = await runner(['--records', '10'], { FORMAT: 'jsonl', COMPRESSION: 'snappy' });
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('COMPRESSION');
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('a TRANSFORM_SQL the engine refuses is one line naming the problem, before any record is read', async () => {
    const r = await runner(['--records', '10', '--out', '.tmp/runner-errors-sql'], { TRANSFORM_SQL: 'SELECT status, count(*) FROM input GROUP BY status' });
    expectUsage(r, /^invalid sink settings: TRANSFORM_SQL: GROUP BY is supported only by the record.*Flink\); TRANSFORM_SQL: aggregate count\(\*\) is not supported without GROUP BY the record.* \(see README, Settings\)$/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('--debug shows the stack', async () => {
    const r = await runner(['--brokers', '127.0.0.1:1', '--debug']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/\n\s+at /);
  });
});

describe('runner: an unreachable broker fails within seconds, naming it and the cause', () => {
  it('connection refused', async () => {
    const r = await runner(['--brokers', '127.0.0.1:1', '--topics', 'orders', '--bucket', 'some-bucket']);
    expectUsage(r, /^Kafka broker not reachable — 127\.0\.0\.1:1: connection refused/);
    expect(r.stderr).toContain('connecting to 127.0.0.1:1…'); // said while it waits
    expect(r.ms).toBeLessThan(15_000);
  }, 30_000);

  it('unknown host', async () => {
    const r = await runner(['--brokers', 'no-such-broker.invalid:9092', '--bucket', 'some-bucket']);
    expectUsage(r, /^Kafka broker not reachable — no-such-broker\.invalid:9092: (unknown host|host name lookup failed)/);
    expect(r.ms).toBeLessThan(15_000);
  }, 30_000);

  it('a port that accepts connections but never answers (no Kafka there)', async () => {
    const server: Server = createServer(() => {}); // accepts, says nothing
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as { port: number }).port;
    try {
      const r = await runner(['--brokers', `127.0.0.1:${port}`, '--bucket', 'some-bucket']);
      expectUsage(r, new RegExp(`^Kafka at 127\\.0\\.0\\.1:${port} accepts connections but does not answer as a Kafka broker`));
      expect(r.ms).toBeLessThan(30_000);
    } finally {
      server.close();
    }
  }, 60_000);

  it('several brokers: each named with its cause', async () => {
    const r = await runner(['--brokers', '127.0.0.1:1,no-such-broker.invalid:9092', '--bucket', 'some-bucket']);
    expectUsage(r, /^Kafka brokers not reachable — 127\.0\.0\.1:1: connection refused.*; no-such-broker\.invalid:9092: /);
    expect(r.ms).toBeLessThan(15_000);
  }, 30_000);
});

describeS3('runner: S3 mistakes are one line, exit code 2', (s3) => {
  it('one stalled request at the bucket check is not a mistake: the check asks again and the run goes on', async () => {
    // Before, a single stall of S3 at start ended the run as a usage error (exit 2), which supervisors do not restart.
    const target = new URL(s3.endpoint);
    let requests = 0;
    const proxy = createHttpServer((req, res) => {
      if (requests++ === 0) {
        req.resume();
        setTimeout(() => res.destroy(), 15_000).unref();
        return;
      }
      const up = httpRequest({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (u) => {
        res.writeHead(u.statusCode ?? 502, u.headers);
        u.pipe(res);
      });
      up.on('error', () => res.destroy());
      req.pipe(up);
    }).listen(0, '127.0.0.1');
    await once(proxy, 'listening');
    try {
      const bucket = `stall-${randomUUID().slice(0, 8)}`;
      await createBucket(s3, bucket);
      const endpoint = `http://127.0.0.1:${(proxy.address() as { port: number }).port}`;
      const r = await runner(['--bucket', bucket, '--s3-endpoint', endpoint, '--records', '10', '--quiet'], { ...s3Env(s3), FORMAT: 'jsonl' });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/written\s+10\b/);
    } finally {
      proxy.closeAllConnections();
      proxy.close();
    }
  }, 60_000);

  it('a bucket that does not exist', async () => {
    const bucket = `nope-${randomUUID().slice(0, 8)}`;
    const r = await runner(['--bucket', bucket, '--s3-endpoint', s3.endpoint, '--records', '10'], s3Env(s3));
    expectUsage(r, `bucket '${bucket}' does not exist at ${s3.endpoint}: create it, or check --bucket and --s3-endpoint`);
  }, 60_000);

  it('credentials S3 refuses', async () => {
    const bucket = `creds-${randomUUID().slice(0, 8)}`;
    await createBucket(s3, bucket);
    const r = await runner(['--bucket', bucket, '--s3-endpoint', s3.endpoint, '--records', '10'], { ...s3Env(s3), AWS_ACCESS_KEY_ID: 'AKIAWRONG', AWS_SECRET_ACCESS_KEY: 'wrong' });
    expectUsage(r, new RegExp(`^S3 at ${s3.endpoint.replace(/[.]/g, '\\.')} refused the credentials \\((InvalidAccessKeyId|SignatureDoesNotMatch|XAdminUserNotFound)\\)`));
  }, 60_000);

  it('the same default format with --bucket as locally (Parquet), said at start', async () => {
    const bucket = `fmt-${randomUUID().slice(0, 8)}`;
    await createBucket(s3, bucket);
    const r = await runner(['--bucket', bucket, '--s3-endpoint', s3.endpoint, '--records', '100'], { ...s3Env(s3), FORMAT: undefined, COMPRESSION: undefined });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('kafka-s3 runner summary (parquet,');
    expect(r.stderr).toContain(`writing parquet (zstd) to s3://${bucket}/ (the runner's default format; set FORMAT and COMPRESSION to choose)`);
    // The closing hint says where this run's objects are in the bucket, and what reads them there.
    expect(r.stdout).toMatch(new RegExp(`This run wrote \\d+ objects \\(data and dead letters\\) to s3://${bucket}/: its data under s3://${bucket}/topics/, as \\*\\.parquet`));
    expect(r.stdout).toContain('DuckDB reads them in S3 with its httpfs extension');
  }, 60_000);

  it('a failing batch: one short line per attempt (no JSON), then a one-line give-up, exit 1', async () => {
    const bucket = `fail-${randomUUID().slice(0, 8)}`;
    await createBucket(s3, bucket);
    // Every request fails once the preflight has passed: the proxy starts clean and turns to 500s.
    const proxy = await startFaultProxy({ target: s3.endpoint, faultRate: 0, faults: ['error500'] });
    try {
      const child = spawn(NODE, ['bin/runner.ts', '--bucket', bucket, '--s3-endpoint', proxy.endpoint, '--records', '100', '--max-attempts', '2', '--window-ms', '2000'], {
        cwd: ROOT, env: { ...process.env, ...s3Env(s3), S3_MAX_ATTEMPTS: '1', POWERTOOLS_LOG_LEVEL: 'WARN' }, stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      let stdout = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => {
        stderr += d;
        if (stderr.includes('writing parquet')) proxy.setFaultRate(1);
      });
      const code = await new Promise((r) => child.once('exit', r));
      expect(code).toBe(1);
      expect(stderr).not.toContain('{"');
      expect(stderr).not.toMatch(/\n\s+at /);
      expect(stderr).toMatch(/^batch of 100 records failed \(attempt 1\): \w+: .*; retrying in 200 ms$/m);
      expect(stderr.trim().split('\n').at(-1)).toMatch(/^batch still failing after 2 attempts \(--max-attempts 2\): .+; the batch stays uncommitted \(read again next time\)$/);
      // The sink's own "batch failed" line is left out: the runner's line says it, and what happens next.
      expect(stderr).not.toContain('error: batch failed');
      // What was done, on stdout as after any run, titled with why it ended.
      expect(stdout).toContain('kafka-s3 runner summary (parquet, zstd) — gave up');
      expect(stdout).toMatch(/invocations +0 \(1 retries, 0 claim conflicts\)/);
      expect(stdout).toMatch(/committed +0/);
    } finally {
      await proxy.stop();
    }
  }, 90_000);
});

describeKafka('runner: Kafka topics', ({ bootstrap }) => {
  it('an unknown topic is one line naming it, exit code 2', async () => {
    const r = await runner(['--brokers', bootstrap, '--topics', 'no-such-topic-here', '--bucket', 'some-bucket']);
    expectUsage(r, new RegExp(`^topic 'no-such-topic-here' not found on ${bootstrap.replace(/[.]/g, '\\.')}.*: check --topics$`));
  }, 60_000);

  it('a dead bootstrap address listed before a live broker is left out with a warning, not taken for the cluster', async () => {
    // Before, the topic check stalled on the first address and said the live cluster did not answer as Kafka.
    const r = await runner(['--brokers', `127.0.0.1:1,${bootstrap}`, '--topics', 'no-such-topic-here', '--bucket', 'some-bucket']);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/warning: left out of --brokers, not reachable: 127\.0\.0\.1:1 \(connection refused/);
    expect(r.stderr.trim().split('\n').at(-1)).toMatch(new RegExp(`^topic 'no-such-topic-here' not found on ${bootstrap.replace(/[.]/g, '\\.')} `));
  }, 60_000);
});

describeKafka('runner: lag that is true when idle', ({ bootstrap }) => {
  describeS3('with S3', (s3) => {
    it('after catching up (--stop-after), the lag is 0 in the summary', async () => {
      const topic = `lag-${randomUUID().slice(0, 8)}`;
      await createTopic(bootstrap, topic, 2);
      const producer = new Producer({ clientId: 'lag-test', bootstrapBrokers: [bootstrap], acks: ProduceAcks.ALL });
      try {
        await producer.send({ messages: Array.from({ length: 300 }, (_, i) => ({ topic, partition: i % 2, key: Buffer.from(`k${i}`), value: Buffer.from(JSON.stringify({ i })) })) });
      } finally {
        await producer.close();
      }
      const bucket = `lag-${randomUUID().slice(0, 8)}`;
      await createBucket(s3, bucket);
      const r = await runner(['--brokers', bootstrap, '--topics', topic, '--group', `g-${topic}`, '--bucket', bucket, '--s3-endpoint', s3.endpoint, '--stop-after', '300'], { ...s3Env(s3), FORMAT: 'jsonl' }, 90_000);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/committed\s+300\b/);
      expect(r.stdout).toMatch(/\n\s+lag\s+0\n/);
    }, 120_000);

    it('a runner kept running: once idle, /metrics shows lag 0 per partition; SIGTERM prints the summary and exits 143', async () => {
      const topic = `idle-${randomUUID().slice(0, 8)}`;
      await createTopic(bootstrap, topic, 2);
      const producer = new Producer({ clientId: 'idle-test', bootstrapBrokers: [bootstrap], acks: ProduceAcks.ALL });
      try {
        await producer.send({ messages: Array.from({ length: 200 }, (_, i) => ({ topic, partition: i % 2, value: Buffer.from(JSON.stringify({ i })) })) });
      } finally {
        await producer.close();
      }
      const bucket = `idle-${randomUUID().slice(0, 8)}`;
      await createBucket(s3, bucket);
      const child = spawn(NODE, ['bin/runner.ts', '--brokers', bootstrap, '--topics', topic, '--group', `g-${topic}`, '--bucket', bucket, '--s3-endpoint', s3.endpoint, '--metrics-port', '0'], {
        cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...s3Env(s3), FORMAT: 'jsonl' },
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      const exited = new Promise((r) => child.once('exit', r));
      try {
        let body = '';
        const deadline = Date.now() + 60_000;
        const value = (name: string) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(body)?.[1]);
        let lagAtCommit: number | undefined;
        // Caught up and idle: committed 200, and the lag the broker reports is 0 for both partitions.
        while (Date.now() < deadline) {
          const url = /metrics on (http:\/\/127\.0\.0\.1:\d+\/metrics)/.exec(stderr)?.[1];
          if (url) {
            body = await (await fetch(url)).text();
            // The runner's own commit lowers the lag at once, not at the next poll of the broker.
            if (value('kafka_s3_records_committed_total') === 200) lagAtCommit ??= value('kafka_s3_lag_records_total');
            if (value('kafka_s3_records_committed_total') === 200 && value('kafka_s3_lag_records_total') === 0 && body.includes(`partition="1"} 0`)) break;
          }
          await new Promise((r) => setTimeout(r, 250));
        }
        expect(body).toMatch(new RegExp(`^kafka_s3_lag_records\\{topic="${topic}",partition="0"\\} 0$`, 'm'));
        expect(body).toMatch(new RegExp(`^kafka_s3_lag_records\\{topic="${topic}",partition="1"\\} 0$`, 'm'));
        expect(value('kafka_s3_records_written_total')).toBe(200);
        expect(lagAtCommit).toBe(0);
      } finally {
        child.kill('SIGTERM');
      }
      expect(await exited).toBe(143);
      expect(stdout).toContain('stopped by SIGTERM');
      expect(stdout).toMatch(/committed\s+200\b/);
      expect(stdout).toMatch(/\n\s+lag\s+0\n/);
    }, 120_000);
  });
});

describe('runner: sink logs condensed', () => {
  it('a dead-letter warning is one short line, not JSON', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kafka-s3-dl-'));
    writeFileSync(join(dir, 'in.jsonl'), '{"a":1}\nnot json\n{"a":2}\n');
    const r = await runner(['--input', join(dir, 'in.jsonl'), '--out', join(dir, 'out')], { FORMAT: 'jsonl', COMPRESSION: 'none', POWERTOOLS_LOG_LEVEL: 'WARN' });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('warning: records dead-lettered (count 1, errorPrefix dead-letters/)');
    expect(r.stderr).not.toContain('{"');
    expect(r.stdout).toMatch(/dead-lettered\s+1\n/);
    // A plain jsonl reader for jsonl output, no sample revenue query for --input files.
    expect(r.stdout).toContain("read_json('");
    expect(r.stdout).not.toContain('revenue');
  });

  it('condenses a Powertools error line with its error', () => {
    const line = JSON.stringify({ level: 'ERROR', message: 'batch failed; the event source will retry it', timestamp: 't', service: 's', error: { name: 'NoSuchBucket', message: 'The bucket does not exist\nmore', stack: 'x\n at y' } });
    expect(condenseLog(`${line}\n`)).toBe('error: batch failed; the event source will retry it: NoSuchBucket: The bucket does not exist');
    expect(condenseLog('not json\n')).toBeUndefined();
  });
});

describe('runner: Prometheus metrics from a real run', () => {
  it('serves /metrics on 127.0.0.1 with the counters of the summary', async () => {
    const out = mkdtempSync(join(tmpdir(), 'kafka-s3-metrics-'));
    const child = spawn(NODE, ['bin/runner.ts', '--records', '3000', '--out', out, '--metrics-port', '0', '--linger'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FORMAT: 'jsonl', COMPRESSION: 'none' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    const lingering = new Promise<void>((resolve) => child.stderr.on('data', (d) => {
      stderr += d;
      if (stderr.includes('serving /metrics until')) resolve();
    }));
    const exited = new Promise((r) => child.once('exit', r));
    await Promise.race([lingering, exited]);
    const url = /metrics on (http:\/\/127\.0\.0\.1:\d+\/metrics)/.exec(stderr)?.[1];
    expect(url, stderr).toBeDefined();
    const body = await (await fetch(url!)).text();
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    const value = (name: string) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(body)?.[1]);
    const summary = (row: string) => Number(new RegExp(`\\n\\s+${row}\\s+([\\d,]+)`).exec(stdout)![1].replace(/,/g, ''));
    expect(value('kafka_s3_records_in_total')).toBe(summary('records in'));
    expect(value('kafka_s3_records_written_total')).toBe(summary('written'));
    expect(value('kafka_s3_records_dead_lettered_total')).toBe(summary('dead-lettered'));
    expect(value('kafka_s3_records_committed_total')).toBe(3000);
    expect(value('kafka_s3_objects_written_total')).toBe(summary('objects'));
    expect(value('kafka_s3_bytes_written_total')).toBeGreaterThan(0);
    expect(body).toMatch(/^kafka_s3_lag_records\{topic="orders",partition="0"\} 0$/m);
    expect(value('kafka_s3_lag_records_total')).toBe(0);
    expect(body).toMatch(/^kafka_s3_batch_duration_seconds_count\{outcome="ok"\} [1-9]\d*$/m);
    expect(body).toContain('# TYPE kafka_s3_batch_duration_seconds histogram');
  }, 60_000);
});

describe('runner: signals', () => {
  it('SIGINT prints the summary and exits 130', async () => {
    const out = mkdtempSync(join(tmpdir(), 'kafka-s3-sigint-'));
    const child = spawn(NODE, ['bin/runner.ts', '--records', '5000000', '--out', out, '--batch-size', '1000'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise((r) => child.once('exit', r));
    while (!/\d records ·/.test(stderr)) await new Promise((r) => setTimeout(r, 100));
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    expect(stdout).toContain('stopped by SIGINT');
  }, 60_000);
});

describeS3('runner: a second signal', (s3) => {
  it('exits at once while the batch in flight hangs', async () => {
    const bucket = `sig-${randomUUID().slice(0, 8)}`;
    await createBucket(s3, bucket);
    // Requests stall once the preflight has passed: the first batch hangs in flight.
    const proxy = await startFaultProxy({ target: s3.endpoint, faultRate: 0, faults: ['stall'], stallMs: 60_000 });
    try {
      const child = spawn(NODE, ['bin/runner.ts', '--bucket', bucket, '--s3-endpoint', proxy.endpoint, '--records', '100', '--window-ms', '0'], {
        cwd: ROOT, env: { ...process.env, ...s3Env(s3) }, stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (d) => {
        stderr += d;
        if (stderr.includes('writing parquet')) proxy.setFaultRate(1);
      });
      const exited = new Promise((r) => child.once('exit', r));
      while (!stderr.includes('writing parquet')) await new Promise((r) => setTimeout(r, 50));
      await new Promise((r) => setTimeout(r, 1000)); // the batch is in flight, stalled
      child.kill('SIGINT');
      while (!stderr.includes('SIGINT: finishing')) await new Promise((r) => setTimeout(r, 20));
      child.kill('SIGINT');
      expect(await exited).toBe(130);
      expect(stderr).toContain('SIGINT again: exiting now, the batch in flight abandoned uncommitted');
    } finally {
      await proxy.stop();
    }
  }, 60_000);
});

describe('runner: the status line', () => {
  it('is true when idle: the rate falls to 0 and the lag per partition shows 0 without a new commit', async () => {
    const { StatusLine } = await import('../../bin/runner/status.ts');
    const out: string[] = [];
    const line = new StatusLine({ tty: false, quiet: false, write: (s) => out.push(s) });
    const t0 = 1_000_000;
    const stats = {
      recordsIn: 30_000, written: 30_000, filtered: 0, tombstonesIgnored: 0, deadLettered: 2, alreadyWritten: 0, claimConflicts: 0,
      claimsReleased: 0, objects: 6, bytes: 5e6, valueBytes: 6e6, batches: 3, retries: 0, committed: 30_000, startedAt: t0 - 3000,
    };
    line.update(stats);
    line.setLag(new Map([['orders\u00000', 30_000], ['orders\u00001', 0]]));
    expect(line.line(t0)).toBe('30,000 records · 10,000 rec/s · 6.00 MB (2.0 MB/s) · 6 objects · 2 dead letters · lag 30,000 (orders/0 30,000)');
    // Caught up, no commit since: the lag poll and the clock alone change the line.
    line.setLag(new Map([['orders\u00000', 0], ['orders\u00001', 0]]));
    expect(line.line(t0 + 2000)).toBe('30,000 records · 0 rec/s · 6.00 MB (0.0 MB/s) · 6 objects · 2 dead letters · lag 0');
    line.note('warning: records dead-lettered (count 2)');
    expect(out).toEqual(['warning: records dead-lettered (count 2)\n']);
  });

  it('fits a narrow terminal by leaving out detail, keeping records, rate, dead letters and the lag in sight', async () => {
    const { StatusLine } = await import('../../bin/runner/status.ts');
    const line = new StatusLine({ tty: true, quiet: false, write: () => {} });
    const t0 = 1_000_000;
    line.update({
      recordsIn: 1_250_000, written: 1_250_000, filtered: 0, tombstonesIgnored: 0, deadLettered: 12, alreadyWritten: 3_000, claimConflicts: 0,
      claimsReleased: 0, objects: 1_234, bytes: 5e8, valueBytes: 2.27e8, batches: 125, retries: 4, committed: 1_250_000, startedAt: t0 - 30_000,
    });
    line.setLag(new Map([['orders\u00000', 30_000], ['orders\u00001', 12], ['payments-eu\u00007', 9_999], ['payments-eu\u00008', 1], ['x\u00001', 5]]));
    const wide = line.line(t0);
    expect(wide).toContain('lag 40,017 (orders/0 30,000, orders/1 12, payments-eu/7 9,999, payments-eu/8 1, …)');
    for (const width of [120, 100, 79, 70]) {
      const l = line.line(t0, width);
      expect(l.length, l).toBeLessThanOrEqual(width);
      expect(l).toMatch(/^1,250,000 records · [\d,]+ rec\/s · /);
      expect(l).toContain('12 dead letters');
      expect(l).toMatch(/lag 40,017/);
    }
    expect(line.line(t0, 79)).not.toContain('…');
  });

  it('--quiet drops notes but not the line that says why the runner stops', async () => {
    const { StatusLine } = await import('../../bin/runner/status.ts');
    const out: string[] = [];
    const line = new StatusLine({ tty: false, quiet: true, write: (s) => out.push(s) });
    line.note('warning: records dead-lettered (count 2)');
    line.error('an invocation ran past its 14-minute deadline: stopping');
    expect(out).toEqual(['an invocation ran past its 14-minute deadline: stopping\n']);
  });
});
