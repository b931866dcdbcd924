/** Synthesizes the app in-process for tests: cdk.json defaults + string overrides (as `-c` gives them). */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { loadAppConfig } from '../../lib/config.ts';
import { KafkaS3DirectStack } from '../../lib/direct-stack.ts';
import { KafkaS3TablesStack } from '../../lib/tables-stack.ts';
import { KafkaS3ReplayStack } from '../../lib/replay-stack.ts';
import { replaySource } from '../../lib/app.ts';

export const MSK_ARN = 'arn:aws:kafka:us-east-1:111122223333:cluster/demo/abcd1234-ab12-cd34-ef56-abcdef123456-1';
const ROOT = new URL('../../', import.meta.url).pathname;
export const CDK_DEFAULTS = (JSON.parse(readFileSync(join(ROOT, 'cdk.json'), 'utf8')) as { context: Record<string, unknown> }).context;

export interface Synth {
  readonly app: App;
  readonly stack: KafkaS3DirectStack;
  readonly template: Template;
  readonly outdir: string;
}

export interface NagFinding {
  readonly rule: string;
  readonly path: string;
  readonly message: string;
}

/** Unacknowledged cdk-nag findings from the assembly's validation report. */
export function nagFindings(s: { app: App }): NagFinding[] {
  const report = JSON.parse(readFileSync(join(s.app.synth().directory, 'validation-report.json'), 'utf8')) as {
    pluginReports: { pluginName: string; violations?: { ruleName: string; description: string; violatingResources?: { resourceLogicalId: string; constructPath?: string }[] }[] }[];
  };
  return report.pluginReports.flatMap((p) => (p.violations ?? []).flatMap((v) =>
    (v.violatingResources ?? [{ resourceLogicalId: '?' }]).map((r) => ({ rule: v.ruleName, path: r.constructPath ?? r.resourceLogicalId, message: v.description.slice(0, 160) }))));
}

/**
 * Builds KafkaS3DirectStack with cdk-nag attached. Bundling is skipped unless `bundle` (tests of templates do not
 * need the asset's bytes; its hash then comes from the source).
 */
export function synth(
  overrides: Record<string, string> = {},
  opts: { bundle?: boolean; nag?: boolean; mutate?: (stack: KafkaS3DirectStack) => void } = {},
): Synth {
  const outdir = mkdtempSync(join(tmpdir(), 'kafka-s3-cdk-'));
  const context: Record<string, unknown> = { ...CDK_DEFAULTS, mskClusterArn: MSK_ARN, topics: 'orders,payments', ...overrides };
  // '' removes a default (e.g. mskClusterArn for self-managed Kafka); prefix='' is a real value (bucket root).
  for (const [k, v] of Object.entries(overrides)) if (v === '' && k !== 'prefix') delete context[k];
  if (!opts.bundle) context['aws:cdk:bundling-stacks'] = [];
  const app = new App({ context, outdir });
  const config = loadAppConfig((k) => app.node.tryGetContext(k), ROOT);
  const stack = new KafkaS3DirectStack(app, 'KafkaS3DirectStack', { config, env: { account: '111122223333', region: 'us-east-1' }, baseDir: ROOT });
  opts.mutate?.(stack);
  // Before Template.fromStack: that synthesizes the app, and an app is synthesized once.
  if (opts.nag !== false) Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, stack, template: Template.fromStack(stack), outdir };
}

export interface TablesSynth {
  readonly app: App;
  readonly stack: KafkaS3TablesStack;
  readonly template: Template;
}

/** Builds KafkaS3TablesStack the same way (cdk.json defaults + string overrides, cdk-nag attached). */
export function synthTables(overrides: Record<string, string> = {}, opts: { nag?: boolean } = {}): TablesSynth {
  const outdir = mkdtempSync(join(tmpdir(), 'kafka-s3-cdk-'));
  const context: Record<string, unknown> = { ...CDK_DEFAULTS, mskClusterArn: MSK_ARN, topics: 'orders,payments', ...overrides, 'aws:cdk:bundling-stacks': [] };
  for (const [k, v] of Object.entries(overrides)) if (v === '' && k !== 'prefix') delete context[k];
  const app = new App({ context, outdir });
  const config = loadAppConfig((k) => app.node.tryGetContext(k), ROOT);
  const stack = new KafkaS3TablesStack(app, 'KafkaS3TablesStack', { config, env: { account: '111122223333', region: 'us-east-1' } });
  if (opts.nag !== false) Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, stack, template: Template.fromStack(stack) };
}

export const REPLAY_CONTEXT: Readonly<Record<string, string>> = {
  replay: 'true', replayBootstrapServers: 'b-1.demo.kafka.us-east-1.amazonaws.com:9098,b-2.demo.kafka.us-east-1.amazonaws.com:9098',
  replaySubnetIds: 'subnet-0123456789abcdef0,subnet-0123456789abcdef1', replaySecurityGroupIds: 'sg-0123456789abcdef0',
};

export interface ReplaySynth {
  readonly app: App;
  readonly stack: KafkaS3ReplayStack;
  readonly direct: KafkaS3DirectStack;
  readonly template: Template;
}

/** Builds KafkaS3ReplayStack (with the direct stack whose bucket it reads), cdk-nag attached. */
export function synthReplay(overrides: Record<string, string> = {}, opts: { nag?: boolean; bundle?: boolean } = {}): ReplaySynth {
  const outdir = mkdtempSync(join(tmpdir(), 'kafka-s3-cdk-'));
  const context: Record<string, unknown> = {
    ...CDK_DEFAULTS, mskClusterArn: MSK_ARN, topics: 'orders,payments', ...REPLAY_CONTEXT, ...overrides,
    'aws:cdk:bundling-stacks': opts.bundle ? ['KafkaS3ReplayStack'] : [],
  };
  for (const [k, v] of Object.entries(overrides)) if (v === '' && k !== 'prefix') delete context[k];
  const app = new App({ context, outdir });
  const config = loadAppConfig((k) => app.node.tryGetContext(k), ROOT);
  const env = { account: '111122223333', region: 'us-east-1' };
  const direct = new KafkaS3DirectStack(app, 'KafkaS3DirectStack', { config, env, baseDir: ROOT });
  const stack = new KafkaS3ReplayStack(app, 'KafkaS3ReplayStack', { config, env, source: replaySource(config, direct) });
  stack.addStackDependency(direct);
  if (opts.nag !== false) Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, stack, direct, template: Template.fromStack(stack) };
}
