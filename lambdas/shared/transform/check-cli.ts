/**
 * Checks TRANSFORM_SQL with the engine, for synth (lib/config.ts runs it as a child process: the CDK app is
 * synchronous, the engine is not). Reads the sink's environment as JSON on stdin; prints {problems, multiRow} as JSON.
 */
import { readFileSync } from 'node:fs';
import { loadSinkConfig } from '../config.ts';
import { ConfigError } from '../errors.ts';
import { SqlTransform } from './index.ts';

const env = JSON.parse(readFileSync(0, 'utf8')) as Record<string, string>;
let problems: readonly string[] = [];
let multiRow = false;
try {
  const cfg = loadSinkConfig(env);
  const t = await SqlTransform.open({ ...cfg.transform!, valueEncoding: cfg.valueEncoding, keyEncoding: cfg.keyEncoding, headerEncoding: cfg.headerEncoding, schema: cfg.schema });
  multiRow = t.plan.multiRow;
  t.close();
} catch (err) {
  problems = err instanceof ConfigError ? err.problems : [`the SQL engine could not start here: ${(err as Error).message}`];
}
process.stdout.write(JSON.stringify({ problems, multiRow }));
