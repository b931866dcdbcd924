import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';
import { startKafka } from './kafka.ts';
import type { ProvidedKafka } from './kafka-context.ts';
import type { ProvidedS3 } from './s3-context.ts';
import { startVersitygw } from './versitygw.ts';

function isCi(): boolean {
  const ci = process.env.CI;
  return ci !== undefined && ci !== '' && ci !== '0' && ci.toLowerCase() !== 'false';
}

/**
 * Installs what the integration tests need (scripts/infra/install-all.sh: versitygw, the Python venv, the Kafka jars,
 * Apicurio Registry; idempotent, cached per user, instant when present), so `npm test` on a fresh machine runs the
 * whole suite with no skips. A failed install fails the run in CI; locally, the tests that need the missing tool skip
 * with a warning.
 */
function installTools(): void {
  if (process.env.KAFKA_S3_SKIP_INSTALL) return;
  const r = spawnSync('bash', [fileURLToPath(new URL('../../scripts/infra/install-all.sh', import.meta.url))], { stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status === 0) return;
  const why = `scripts/infra/install-all.sh failed (${r.error?.message ?? `exit ${r.status ?? r.signal}`}); see its output above`;
  if (isCi()) throw new Error(why);
  console.warn(`WARNING: ${why}; integration tests that need a missing tool will skip.`);
}

type Started<T> =
  | { server: T; ms: number }
  | { unavailable: string } // locally: tests skip
  | { error: Error }; // in CI: fails the run

/**
 * Starts one test server. In CI a failure must fail the run, not silently skip the integration tests; locally it
 * prints a warning and the tests that need the server skip.
 */
async function startServer<T>(what: string, tests: string, start: () => Promise<T>): Promise<Started<T>> {
  const t0 = Date.now();
  try {
    const server = await start();
    return { server, ms: Date.now() - t0 };
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    if (isCi()) return { error: new Error(`${what} could not start: ${reason}`, { cause: err }) };
    const bar = '='.repeat(78);
    console.warn(
      `\n${bar}\nWARNING: ${tests} integration tests will be SKIPPED: ${what} could not start.\n${reason}\n` +
        `(In CI, with CI set, this fails the run.)\n${bar}\n`,
    );
    return { unavailable: reason };
  }
}

/**
 * Starts one versitygw and one Kafka broker for the whole run, concurrently, and provides them to the tests as
 * inject('s3') and inject('kafka'); each is null, with the reason in inject('s3Unavailable') /
 * inject('kafkaUnavailable'), when it could not start.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  installTools();
  const [s3, kafka] = await Promise.all([
    startServer('S3 test server (versitygw)', 'S3', startVersitygw),
    startServer('Kafka test broker', 'Kafka', startKafka),
  ]);
  const running = [s3, kafka].flatMap((s) => ('server' in s ? [s.server] : []));
  const teardown = async (): Promise<void> => {
    await Promise.all(running.map((s) => s.stop()));
  };
  for (const s of [s3, kafka]) {
    if ('error' in s) {
      await teardown();
      throw s.error;
    }
  }
  const verbose = Boolean(process.env.KAFKA_S3_TEST_VERBOSE);

  if ('server' in s3) {
    const { server, ms } = s3;
    const provided: ProvidedS3 = {
      endpoint: server.endpoint,
      region: server.region,
      accessKeyId: server.accessKeyId,
      secretAccessKey: server.secretAccessKey,
    };
    project.provide('s3', provided);
    project.provide('s3Unavailable', null);
    if (verbose) console.log(`versitygw ready at ${server.endpoint} (data ${server.dataDir}) in ${ms} ms`);
  } else {
    project.provide('s3', null);
    project.provide('s3Unavailable', 'unavailable' in s3 ? s3.unavailable : 'unknown');
  }

  if ('server' in kafka) {
    const { server, ms } = kafka;
    const provided: ProvidedKafka = { bootstrap: server.bootstrap };
    project.provide('kafka', provided);
    project.provide('kafkaUnavailable', null);
    if (verbose) console.log(`Kafka broker ready at ${server.bootstrap} (logs ${server.logDir}) in ${ms} ms`);
  } else {
    project.provide('kafka', null);
    project.provide('kafkaUnavailable', 'unavailable' in kafka ? kafka.unavailable : 'unknown');
  }

  return teardown;
}
