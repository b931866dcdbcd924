import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { access, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { CreateBucketCommand, ListBucketsCommand, S3Client } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { delay, freePort, ServerProcess } from './server-process.ts';

const execFileAsync = promisify(execFile);

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

const STARTUP_TIMEOUT_MS = 20_000;

/** What a client needs to reach an S3 API: this is also what globalSetup hands to the tests. */
export interface S3Endpoint {
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
}

export interface S3Server extends S3Endpoint {
  /** Top-level posix directory: each bucket is a subdirectory, each object a file. */
  dataDir: string;
  /** The gateway's process ID: benchmarks read its CPU time from /proc/<pid>/stat. */
  pid: number | undefined;
  stop(): Promise<void>;
}

export interface InfraPaths {
  versitygwBin: string;
  pyVenvPython: string;
  /** Directory of the Kafka broker's jars (scripts/infra/install-kafka.sh); undefined if paths.sh predates it. */
  kafkaLibs: string | undefined;
  /** Apicurio Registry's runner jar (scripts/infra/install-apicurio.sh); undefined if paths.sh predates it. */
  apicurioJar: string | undefined;
}

let pathsPromise: Promise<InfraPaths> | undefined;

/** Tool locations as defined by scripts/infra/common.sh (via paths.sh), resolved once per process. */
export function infraPaths(): Promise<InfraPaths> {
  pathsPromise ??= (async () => {
    const script = join(REPO_ROOT, 'scripts/infra/paths.sh');
    const { stdout } = await execFileAsync('bash', [script], { cwd: REPO_ROOT });
    const vars = new Map<string, string>();
    for (const line of stdout.split('\n')) {
      const eq = line.indexOf('=');
      if (eq > 0) vars.set(line.slice(0, eq), unquoteShell(line.slice(eq + 1)));
    }
    const versitygwBin = vars.get('VERSITYGW_BIN');
    const pyVenvPython = vars.get('PY_VENV_PYTHON');
    if (!versitygwBin || !pyVenvPython) {
      throw new Error(`scripts/infra/paths.sh did not print VERSITYGW_BIN and PY_VENV_PYTHON:\n${stdout}`);
    }
    return { versitygwBin, pyVenvPython, kafkaLibs: vars.get('KAFKA_LIBS') || undefined, apicurioJar: vars.get('APICURIO_JAR') || undefined };
  })();
  pathsPromise.catch(() => {
    pathsPromise = undefined;
  });
  return pathsPromise;
}

/** Undoes bash's printf %q for the forms it produces for ordinary paths (backslash escapes). */
function unquoteShell(value: string): string {
  if (value.startsWith("$'")) {
    throw new Error(`paths.sh printed a path with control characters, which is not supported: ${value}`);
  }
  if (value === "''") return '';
  return value.replace(/\\(.)/g, '$1');
}

export function s3ClientFor(server: S3Endpoint): S3Client {
  return makeClient(server, new NodeHttpHandler());
}

function makeClient(server: S3Endpoint, requestHandler: NodeHttpHandler, maxAttempts?: number): S3Client {
  return new S3Client({
    endpoint: server.endpoint,
    region: server.region,
    forcePathStyle: true,
    credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
    requestHandler,
    ...(maxAttempts === undefined ? {} : { maxAttempts }),
  });
}

export async function createBucket(server: S3Endpoint, name: string): Promise<void> {
  const client = s3ClientFor(server);
  try {
    await client.send(new CreateBucketCommand({ Bucket: name }));
  } finally {
    client.destroy();
  }
}

/**
 * Starts versitygw on 127.0.0.1. `keepAlive` (default true) keeps a connection open between requests, as S3 does
 * (HTTP/1.1 persistent connections); versitygw otherwise answers every request with `Connection: close`, so each
 * request would pay a new connection, which the clients here (keep-alive agents) never pay against S3.
 */
export async function startVersitygw(opts?: { port?: number; keepAlive?: boolean }): Promise<S3Server> {
  const { versitygwBin } = await infraPaths();
  try {
    await access(versitygwBin, fsConstants.X_OK);
  } catch {
    throw new Error(
      `versitygw is not installed at ${versitygwBin}; install it with: bash scripts/infra/install-versitygw.sh`,
    );
  }

  const rootDir = await mkdtemp(join(tmpdir(), 'kafka-s3-versitygw-'));
  const dataDir = join(rootDir, 'data');
  const sidecarDir = join(rootDir, 'sidecar');
  await mkdir(dataDir);

  const credentials = {
    region: 'us-east-1',
    accessKeyId: `test${randomBytes(8).toString('hex')}`,
    // Starts with a letter: a leading "-" (1 start in 64 with base64url) reads as a flag on the command lines it is passed on.
    secretAccessKey: `s${randomBytes(24).toString('base64url')}`,
  };
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  let useSidecar = false;
  let attemptsLeft = 5;

  try {
    for (;;) {
      attemptsLeft -= 1;
      if (useSidecar) await mkdir(sidecarDir, { recursive: true });
      const port = opts?.port ?? (await freePort());
      const endpoint = `http://127.0.0.1:${port}`;
      const args = [
        '--access', credentials.accessKeyId,
        '--secret', credentials.secretAccessKey,
        '--region', credentials.region,
        '--port', `127.0.0.1:${port}`,
        '--quiet',
        ...(opts?.keepAlive === false ? [] : ['--keep-alive']),
        'posix',
        ...(useSidecar ? ['--sidecar', sidecarDir] : []),
        dataDir,
      ];
      const proc = new ServerProcess(versitygwBin, args, gatewayEnv());
      const outcome = await waitUntilReady(proc, { ...credentials, endpoint }, deadline);
      if (outcome === 'ready') {
        return makeServer(proc, { ...credentials, endpoint }, dataDir, rootDir);
      }
      await proc.kill();
      const stderr = proc.stderrTail().trim();
      // versitygw checks xattr support on the data dir at startup; the sidecar dir is its fallback.
      if (outcome === 'exited' && !useSidecar && /xattr/i.test(stderr) && attemptsLeft > 0) {
        useSidecar = true;
        continue;
      }
      // The free port found by binding port 0 can be taken by someone else before versitygw binds it.
      if (outcome === 'exited' && opts?.port === undefined && /address already in use/i.test(stderr) && attemptsLeft > 0) {
        continue;
      }
      const how = outcome === 'exited' ? `exited early (${proc.exitDescription()})` : `was not ready within ${STARTUP_TIMEOUT_MS} ms`;
      throw new Error(`versitygw ${how}: ${versitygwBin} ${args.join(' ')}\nstderr:\n${stderr || '(empty)'}`);
    }
  } catch (err) {
    await rm(rootDir, { recursive: true, force: true });
    throw err;
  }
}

function makeServer(proc: ServerProcess, endpoint: S3Endpoint, dataDir: string, rootDir: string): S3Server {
  let stopping: Promise<void> | undefined;
  return {
    ...endpoint,
    dataDir,
    pid: proc.pid,
    stop() {
      stopping ??= (async () => {
        await proc.kill();
        await rm(rootDir, { recursive: true, force: true });
      })();
      return stopping;
    },
  };
}

async function waitUntilReady(proc: ServerProcess, endpoint: S3Endpoint, deadline: number): Promise<'ready' | 'exited' | 'timeout'> {
  const port = Number(new URL(endpoint.endpoint).port);
  // One attempt per probe, since the SDK's retry backoff would only slow the polling; and timeouts, since
  // whatever else holds the port (lost race for a free port) may accept connections and never answer.
  const client = makeClient(endpoint, new NodeHttpHandler({ connectionTimeout: 1_000, requestTimeout: 2_000, throwOnRequestTimeout: true }), 1);
  try {
    while (Date.now() < deadline) {
      if (proc.exited) return 'exited';
      if (await canConnect(port)) {
        const probe = client.send(new ListBucketsCommand({})).then(
          () => 'ready' as const,
          () => 'not-yet' as const, // listening but not serving yet
        );
        if ((await Promise.race([probe, proc.exitPromise])) === 'ready') return 'ready';
      }
      if (proc.exited) return 'exited';
      await Promise.race([delay(50), proc.exitPromise]);
    }
    return proc.exited ? 'exited' : 'timeout';
  } finally {
    client.destroy();
  }
}

/** The parent's environment minus what versitygw would read as configuration (VGW_*, root credentials). */
function gatewayEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith('VGW_') || k.startsWith('ROOT_ACCESS_KEY') || k.startsWith('ROOT_SECRET')) continue;
    env[k] = v;
  }
  return env;
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({ host: '127.0.0.1', port });
    const finish = (ok: boolean): void => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(1_000, () => finish(false));
    sock.once('connect', () => finish(true));
    sock.once('error', () => finish(false));
  });
}

