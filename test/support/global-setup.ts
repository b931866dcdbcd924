import type { TestProject } from 'vitest/node';
import type { ProvidedS3 } from './s3-context.ts';
import { startVersitygw } from './versitygw.ts';

function isCi(): boolean {
  const ci = process.env.CI;
  return ci !== undefined && ci !== '' && ci !== '0' && ci.toLowerCase() !== 'false';
}

/** Starts one versitygw for the whole run and provides it to the tests as inject('s3'). */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const started = Date.now();
  let server;
  try {
    server = await startVersitygw();
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    if (isCi()) {
      // In CI a missing S3 server must fail the run, not silently skip the integration tests.
      throw new Error(`S3 test server (versitygw) could not start: ${reason}`, { cause: err });
    }
    const bar = '='.repeat(78);
    console.warn(
      `\n${bar}\nWARNING: S3 integration tests will be SKIPPED: versitygw could not start.\n${reason}\n` +
        `(In CI, with CI set, this fails the run.)\n${bar}\n`,
    );
    project.provide('s3', null);
    project.provide('s3Unavailable', reason);
    return async () => {};
  }

  const provided: ProvidedS3 = {
    endpoint: server.endpoint,
    region: server.region,
    accessKeyId: server.accessKeyId,
    secretAccessKey: server.secretAccessKey,
  };
  project.provide('s3', provided);
  project.provide('s3Unavailable', null);
  if (process.env.KAFKA_S3_TEST_VERBOSE) {
    console.log(`versitygw ready at ${server.endpoint} (data ${server.dataDir}) in ${Date.now() - started} ms`);
  }
  const running = server;
  return async () => {
    await running.stop();
  };
}
