/**
 * A real Confluent-compatible schema registry for integration tests: Apicurio Registry 3.0.9 (in-memory storage),
 * whose /apis/ccompat/v7 API is Confluent Schema Registry's REST API (subjects, versions, /schemas/ids/{id}, config,
 * compatibility). Installed by scripts/infra/install-apicurio.sh; runs on Java 17+.
 *
 * Differences from Confluent's registry that tests meet (3.0.9):
 * - Default compatibility is NONE; startApicurio() sets the global level to BACKWARD, Confluent's default.
 * - Protobuf: the registry keeps a schema as registered. Registered as .proto text (as Confluent's Java serializer and
 *   registerSchema() in registry-values.ts do), it is returned as text even for ?format=serialized, where Confluent
 *   returns a base64 FileDescriptorProto; @confluentinc/schemaregistry's ProtobufDeserializer asks for that format and
 *   fails on text ("premature EOF"). registry-values.ts has the workaround (serializedProtobufClient()). Registered by
 *   the JS ProtobufSerializer itself (autoRegisterSchemas), the schema is the base64 descriptor, stored verbatim and
 *   returned for every format (Confluent would store and return the .proto text); such a subject cannot take a second
 *   version under BACKWARD: the compatibility check parses the stored base64 as .proto text and fails.
 * - Schema IDs are content IDs (apicurio.ccompat.legacy-id-mode.enabled=false): the same schema under two subjects has
 *   one ID, as in Confluent's registry.
 */
import { execFile } from 'node:child_process';
import { constants as fsConstants } from 'node:fs';
import { access, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { isCi } from './moto.ts';
import { delay, freePort, ServerProcess } from './server-process.ts';
import { infraPaths } from './versitygw.ts';

const execFileAsync = promisify(execFile);

const STARTUP_TIMEOUT_MS = 60_000;
const MAX_ATTEMPTS = 3;
const MIN_JAVA = 17;
/** The Confluent-compatible API under the server's root. */
export const CCOMPAT_PATH = '/apis/ccompat/v7';

export interface ApicurioRegistry {
  /** Base URL of the Confluent-compatible API, e.g. http://127.0.0.1:40123/apis/ccompat/v7 (no trailing slash). */
  url: string;
  /** The registry's JVM process ID (for RSS/CPU readings from /proc). */
  pid: number | undefined;
  /** The java binary that runs it. */
  java: string;
  /** Stops the registry (SIGTERM, SIGKILL after 5 s) and removes its temp directory. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Starts Apicurio Registry on a free 127.0.0.1 port and resolves once GET <url>/subjects answers 200, with the global
 * compatibility level set to BACKWARD. Typically ready in 2.5-3.5 s, ~260 MB RSS.
 */
export async function startApicurio(): Promise<ApicurioRegistry> {
  const jar = await apicurioJar();
  const java = await findJava();
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  for (let attempt = 1; ; attempt++) {
    const tmp = await mkdtemp(join(tmpdir(), 'kafka-s3-apicurio-'));
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const url = `${base}${CCOMPAT_PATH}`;
    const args = [
      '-Xmx384m', '-XX:+UseSerialGC',
      // C1 only: starts faster and smaller; a test registry never runs long enough for C2 to pay off.
      '-XX:TieredStopAtLevel=1',
      // Quarkus/Vert.x caches go here, removed on stop.
      `-Djava.io.tmpdir=${tmp}`,
      '-Dquarkus.http.host=127.0.0.1', `-Dquarkus.http.port=${port}`,
      '-Dquarkus.management.enabled=false',
      // Warnings and errors only, on stderr (ServerProcess keeps its tail for error messages); no access log.
      '-Dquarkus.log.level=WARN', '-Dquarkus.log.console.stderr=true', '-Dquarkus.http.access-log.enabled=false',
      // The in-memory H2 database opens 20 connections by default.
      '-Dapicurio.datasource.jdbc.initial-size=2', '-Dapicurio.datasource.jdbc.min-size=2', '-Dapicurio.datasource.jdbc.max-size=10',
      '-jar', jar,
    ];
    const proc = new ServerProcess(java, args, javaEnv());
    const outcome = await waitUntilReady(proc, url, deadline);
    if (outcome === 'ready') {
      try {
        await setGlobalCompatibility(url, 'BACKWARD');
      } catch (err) {
        await proc.kill();
        await rm(tmp, { recursive: true, force: true });
        throw new Error(`Apicurio Registry started but refused the global compatibility level: ${String(err)}\nstderr:\n${proc.stderrTail().trim() || '(empty)'}`, { cause: err });
      }
      let stopping: Promise<void> | undefined;
      return {
        url,
        pid: proc.pid,
        java,
        stop() {
          stopping ??= (async () => {
            await proc.kill();
            await rm(tmp, { recursive: true, force: true });
          })();
          return stopping;
        },
      };
    }
    await proc.kill();
    await rm(tmp, { recursive: true, force: true });
    const stderr = proc.stderrTail().trim();
    // freePort() finds a port that was free a moment ago: another process may bind it before the JVM does.
    if (outcome === 'exited' && /already (bound|in use)/i.test(stderr) && attempt < MAX_ATTEMPTS && Date.now() < deadline) continue;
    const how = outcome === 'exited' ? `exited early (${proc.exitDescription()})` : `was not ready within ${STARTUP_TIMEOUT_MS} ms`;
    throw new Error(`Apicurio Registry ${how}: ${java} ${args.join(' ')}\nstderr:\n${stderr || '(empty)'}`);
  }
}

/**
 * startApicurio(), or — outside CI — the reason it could not start (printed as a warning), so the tests can skip.
 * In CI (CI set) a failure to start throws: the schema-registry tests must not silently disappear.
 */
export async function startApicurioOrSkipReason(): Promise<ApicurioRegistry | string> {
  try {
    return await startApicurio();
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    if (isCi()) throw new Error(`Apicurio Registry (schema-registry tests) could not start: ${reason}`, { cause: err });
    const bar = '='.repeat(78);
    console.warn(`\n${bar}\nWARNING: schema-registry tests will be SKIPPED: Apicurio Registry could not start.\n${reason}\n(In CI, with CI set, this fails the run.)\n${bar}\n`);
    return reason;
  }
}

/** PUT <url>/config: the level new versions of every subject without its own level are checked against. */
export async function setGlobalCompatibility(url: string, level: 'NONE' | 'BACKWARD' | 'BACKWARD_TRANSITIVE' | 'FORWARD' | 'FULL'): Promise<void> {
  const res = await fetch(`${url}/config`, {
    method: 'PUT',
    headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' },
    body: JSON.stringify({ compatibility: level }),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`PUT ${url}/config answered ${res.status}: ${text}`);
  // Confluent answers {"compatibility": ...}; Apicurio 3.0.9 {"compatibilityLevel": ...}.
  const body = JSON.parse(text) as { compatibility?: string; compatibilityLevel?: string };
  if ((body.compatibility ?? body.compatibilityLevel) !== level) throw new Error(`PUT ${url}/config answered ${text}`);
}

async function apicurioJar(): Promise<string> {
  const { apicurioJar: jar } = await infraPaths();
  const hint = 'install it with: bash scripts/infra/install-apicurio.sh';
  if (!jar) throw new Error(`scripts/infra/paths.sh did not print APICURIO_JAR; ${hint}`);
  try {
    await access(jar, fsConstants.R_OK);
  } catch {
    throw new Error(`Apicurio Registry is not installed at ${jar}; ${hint}`);
  }
  return jar;
}

let javaPromise: Promise<string> | undefined;

/** `java` on PATH if it is 17 or newer; else $JAVA_HOME's, else the newest 17+ under /usr/lib/jvm. */
function findJava(): Promise<string> {
  javaPromise ??= (async () => {
    const candidates = ['java'];
    if (process.env.JAVA_HOME) candidates.push(join(process.env.JAVA_HOME, 'bin', 'java'));
    const jvms = await readdir('/usr/lib/jvm').catch(() => [] as string[]);
    candidates.push(...jvms.sort().reverse().map((d) => join('/usr/lib/jvm', d, 'bin', 'java')));
    const seen: string[] = [];
    for (const bin of candidates) {
      const major = await javaMajor(bin);
      if (major !== undefined && major >= MIN_JAVA) return bin;
      seen.push(`${bin}: ${major === undefined ? 'not runnable' : `Java ${major}`}`);
    }
    throw new Error(`Apicurio Registry needs Java ${MIN_JAVA}+; none found (${seen.join('; ')})`);
  })();
  javaPromise.catch(() => {
    javaPromise = undefined;
  });
  return javaPromise;
}

async function javaMajor(bin: string): Promise<number | undefined> {
  try {
    const { stderr } = await execFileAsync(bin, ['-version'], { env: javaEnv(), timeout: 10_000 });
    // version "17.0.15", "21", "25.0.1", or "1.8.0_402" (Java 8).
    const m = /version "(\d+)(?:\.(\d+))?/.exec(stderr);
    if (!m) return undefined;
    const first = Number(m[1]);
    return first === 1 ? Number(m[2]) : first;
  } catch {
    return undefined;
  }
}

/** The parent's environment minus what the JVM would pick up as extra options or classpath. */
function javaEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.CLASSPATH;
  delete env.JAVA_TOOL_OPTIONS;
  delete env.JDK_JAVA_OPTIONS;
  delete env._JAVA_OPTIONS;
  return env;
}

async function waitUntilReady(proc: ServerProcess, url: string, deadline: number): Promise<'ready' | 'exited' | 'timeout'> {
  while (Date.now() < deadline) {
    if (proc.exited) return 'exited';
    const probe = fetch(`${url}/subjects`, { signal: AbortSignal.timeout(2_000) }).then(
      async (res) => {
        await res.arrayBuffer();
        return res.status === 200;
      },
      () => false,
    );
    if ((await Promise.race([probe, proc.exitPromise])) === true) return 'ready';
    if (proc.exited) return 'exited';
    await Promise.race([delay(100), proc.exitPromise]);
  }
  return proc.exited ? 'exited' : 'timeout';
}
