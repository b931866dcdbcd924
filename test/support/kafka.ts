/** A real Apache Kafka broker (KRaft, single node: broker and controller in one JVM) for integration tests. */
import { execFile } from 'node:child_process';
import { constants as fsConstants } from 'node:fs';
import { access, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Admin } from '@platformatic/kafka';
import { delay, freePort, ServerProcess } from './server-process.ts';
import { infraPaths } from './versitygw.ts';

const execFileAsync = promisify(execFile);

const STARTUP_TIMEOUT_MS = 60_000;
const PROBE_TIMEOUT_MS = 2_000;
const MAX_ATTEMPTS = 3;

export interface KafkaBroker {
  /** host:port of the PLAINTEXT listener, e.g. 127.0.0.1:40123. */
  bootstrap: string;
  /** The broker's log.dirs (topic partitions, __cluster_metadata). */
  logDir: string;
  /** Stops the broker (SIGTERM, SIGKILL after 5 s) and removes its directory. Idempotent. */
  stop(): Promise<void>;
}

/** Formats a fresh KRaft log dir and starts a broker on free ports; resolves once it answers a metadata request. */
export async function startKafka(): Promise<KafkaBroker> {
  const libs = await kafkaLibs();
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  for (let attempt = 1; ; attempt++) {
    const rootDir = await mkdtemp(join(tmpdir(), 'kafka-s3-kafka-'));
    try {
      const started = await startOnce(libs, rootDir, deadline);
      if (started.outcome === 'ready') return started.broker;
      // freePort() only finds a port that was free a moment ago: another process may bind it before the JVM does.
      // Without an SLF4J binding among the jars the broker's own log is silent, so any early exit counts as such.
      const retriable =
        started.outcome === 'exited' &&
        attempt < MAX_ATTEMPTS &&
        Date.now() < deadline &&
        (/address already in use/i.test(started.stderr) || !/\bERROR\b|Exception/.test(started.stderr));
      if (!retriable) throw new Error(started.message);
    } catch (err) {
      await rm(rootDir, { recursive: true, force: true });
      throw err;
    }
    await rm(rootDir, { recursive: true, force: true });
  }
}

/**
 * Creates a topic (replication factor 1) and waits until every partition is writable. The broker lists a leader in its
 * metadata a moment before its replica manager serves the partition, and a produce in that window fails for that
 * partition with a retriable error, upon which @platformatic/kafka's (non-idempotent) Producer resends the whole
 * request to the broker, duplicating the records of the partitions that had succeeded.
 */
export async function createTopic(bootstrap: string, name: string, partitions: number): Promise<void> {
  // Short retry delays: a test broker's transient errors (a partition not served yet) clear in milliseconds.
  const admin = new Admin({ clientId: 'kafka-s3-test-admin', bootstrapBrokers: [bootstrap], retries: 3, retryDelay: 50 });
  try {
    await admin.createTopics({ topics: [name], partitions, replicas: 1 });
    await waitUntilWritable(admin, name, partitions);
  } finally {
    await admin.close();
  }
}

async function waitUntilWritable(admin: Admin, topic: string, partitions: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  const request = { topics: [{ name: topic, partitions: Array.from({ length: partitions }, (_, i) => ({ partitionIndex: i, timestamp: -1n })) }] };
  for (;;) {
    // ListOffsets is answered by the partition leader's replica manager: it fails until the partition is served there.
    const error = await admin.listOffsets(request).then(
      (listed) => (listed[0]?.partitions.length === partitions ? undefined : new Error(`ListOffsets returned ${JSON.stringify(listed, jsonBigint)}`)),
      (err: unknown) => (err instanceof Error ? err : new Error(String(err))),
    );
    if (!error) return;
    if (Date.now() > deadline) throw new Error(`topic ${topic}: not all ${partitions} partitions writable after 10 s: ${error.message}`, { cause: error });
    await delay(25);
  }
}

function jsonBigint(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? String(value) : value;
}

type Attempt =
  | { outcome: 'ready'; broker: KafkaBroker }
  | { outcome: 'exited' | 'timeout'; stderr: string; message: string };

async function startOnce(libs: string, rootDir: string, deadline: number): Promise<Attempt> {
  const port = await freePort();
  let controllerPort = await freePort();
  while (controllerPort === port) controllerPort = await freePort();
  const logDir = join(rootDir, 'logs');
  const propsFile = join(rootDir, 'server.properties');
  const log4jFile = join(rootDir, 'log4j2.properties');
  await mkdir(logDir);
  await writeFile(propsFile, serverProperties(port, controllerPort, logDir));
  await writeFile(log4jFile, LOG4J2_PROPERTIES);

  const classpath = join(libs, '*');
  // C1 only: the JVM starts faster, and neither the tools nor a test broker run long enough for C2 to pay off.
  const jvmOpts = ['-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1', `-Dlog4j2.configurationFile=${log4jFile}`, '-Djava.awt.headless=true'];
  // What kafka-storage.sh runs. With controller.quorum.voters (a static quorum) 4.1 refuses --standalone.
  const clusterId = (await java([...jvmOpts, '-cp', classpath, 'kafka.tools.StorageTool', 'random-uuid'])).trim();
  await java([...jvmOpts, '-cp', classpath, 'kafka.tools.StorageTool', 'format', '-t', clusterId, '-c', propsFile]);

  const args = [
    '-Xmx768m', '-Xms256m',
    ...jvmOpts,
    '-cp', classpath,
    'kafka.Kafka', propsFile,
  ];
  const proc = new ServerProcess('java', args, javaEnv());
  const bootstrap = `127.0.0.1:${port}`;
  const outcome = await waitUntilReady(proc, bootstrap, deadline);
  if (outcome === 'ready') return { outcome, broker: makeBroker(proc, bootstrap, logDir, rootDir) };
  await proc.kill();
  const stderr = proc.stderrTail().trim();
  const how = outcome === 'exited' ? `exited early (${proc.exitDescription()})` : `did not answer a metadata request within ${STARTUP_TIMEOUT_MS} ms`;
  return {
    outcome,
    stderr,
    message: `Kafka broker ${how}: java ${args.join(' ')}\nserver.properties:\n${serverProperties(port, controllerPort, logDir)}\nstderr:\n${stderr || '(empty)'}`,
  };
}

function serverProperties(port: number, controllerPort: number, logDir: string): string {
  const props: Record<string, string | number | boolean> = {
    'process.roles': 'broker,controller',
    'node.id': 1,
    'controller.quorum.voters': `1@127.0.0.1:${controllerPort}`,
    'listeners': `PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}`,
    'advertised.listeners': `PLAINTEXT://127.0.0.1:${port}`,
    'controller.listener.names': 'CONTROLLER',
    'inter.broker.listener.name': 'PLAINTEXT',
    'listener.security.protocol.map': 'CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
    'log.dirs': logDir,
    'num.partitions': 3,
    'auto.create.topics.enable': false,
    'default.replication.factor': 1,
    'min.insync.replicas': 1,
    'offsets.topic.replication.factor': 1,
    'transaction.state.log.replication.factor': 1,
    'transaction.state.log.min.isr': 1,
    'share.coordinator.state.topic.replication.factor': 1,
    'share.coordinator.state.topic.min.isr': 1,
    'group.initial.rebalance.delay.ms': 0,
    // Internal topics are created on first use (first consumer group, first transaction): one partition instead of
    // 50 makes that first use fast.
    'offsets.topic.num.partitions': 1,
    'transaction.state.log.num.partitions': 1,
    'share.coordinator.state.topic.num.partitions': 1,
    // A single node: no leader rebalancing to do, and no other broker to hand partitions to on shutdown.
    'auto.leader.rebalance.enable': false,
    'controlled.shutdown.enable': false,
    'num.network.threads': 2,
    'num.io.threads': 4,
    'num.recovery.threads.per.data.dir': 1,
    'background.threads': 2,
  };
  return Object.entries(props).map(([k, v]) => `${k}=${String(v)}`).join('\n') + '\n';
}

/** Kafka 4.x logs through SLF4J; with the log4j2 binding on the classpath this keeps it to WARN and above, on stderr. */
const LOG4J2_PROPERTIES = `status = warn
shutdownHook = disable
appender.stderr.type = Console
appender.stderr.name = STDERR
appender.stderr.target = SYSTEM_ERR
appender.stderr.layout.type = PatternLayout
appender.stderr.layout.pattern = [%d{HH:mm:ss.SSS}] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.stderr.ref = STDERR
`;

async function kafkaLibs(): Promise<string> {
  const { kafkaLibs: libs } = await infraPaths();
  const hint = 'install it with: bash scripts/infra/install-kafka.sh';
  if (!libs) throw new Error(`scripts/infra/paths.sh did not print KAFKA_LIBS; ${hint}`);
  let jars: string[];
  try {
    await access(libs, fsConstants.R_OK);
    jars = await readdir(libs);
  } catch {
    throw new Error(`Kafka is not installed at ${libs}; ${hint}`);
  }
  if (!jars.some((f) => /^kafka_2\.\d+-.*\.jar$/.test(f))) throw new Error(`no kafka_2.*.jar in ${libs}; ${hint}`);
  return libs;
}

async function java(args: string[]): Promise<string> {
  try {
    const { stdout } = await execFileAsync('java', args, { env: javaEnv(), timeout: 30_000 });
    return stdout;
  } catch (err) {
    const e = err as Error & { code?: unknown; signal?: unknown; stdout?: string; stderr?: string };
    const how = e.signal ? `signal ${String(e.signal)}` : typeof e.code === 'number' ? `exit code ${e.code}` : e.message;
    throw new Error(`java ${args.join(' ')} failed (${how})\nstdout:\n${e.stdout || '(empty)'}\nstderr:\n${e.stderr || '(empty)'}`, {
      cause: err,
    });
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

function makeBroker(proc: ServerProcess, bootstrap: string, logDir: string, rootDir: string): KafkaBroker {
  let stopping: Promise<void> | undefined;
  return {
    bootstrap,
    logDir,
    stop() {
      stopping ??= (async () => {
        await proc.kill();
        await rm(rootDir, { recursive: true, force: true });
      })();
      return stopping;
    },
  };
}

async function waitUntilReady(proc: ServerProcess, bootstrap: string, deadline: number): Promise<'ready' | 'exited' | 'timeout'> {
  while (Date.now() < deadline) {
    if (proc.exited) return 'exited';
    const probe = probeMetadata(bootstrap);
    if ((await Promise.race([probe, proc.exitPromise])) === true) return 'ready';
    if (proc.exited) return 'exited';
    await Promise.race([delay(100), proc.exitPromise]);
  }
  return proc.exited ? 'exited' : 'timeout';
}

/** One metadata request, no retries: true once the broker is serving and lists itself (i.e. it is unfenced). */
async function probeMetadata(bootstrap: string): Promise<boolean> {
  const admin = new Admin({
    clientId: 'kafka-s3-test-probe',
    bootstrapBrokers: [bootstrap],
    retries: 0,
    timeout: PROBE_TIMEOUT_MS,
    connectTimeout: PROBE_TIMEOUT_MS,
  });
  try {
    const md = await admin.metadata({ topics: [] });
    return md.brokers.size > 0;
  } catch {
    return false;
  } finally {
    await admin.close().catch(() => {});
  }
}
