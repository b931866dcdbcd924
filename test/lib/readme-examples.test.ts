/**
 * Every `npx cdk deploy` / `npx cdk synth` command in the README's bash blocks synthesizes as written: its `-c`
 * values over cdk.json's defaults, as the CDK CLI merges them, files (schemas/…) resolved from the repository root
 * where `cdk` runs, and the stack it names among the app's stacks.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import { addPipeline } from '../../lib/app.ts';
import { CDK_DEFAULTS } from './synth.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');

/** The cdk commands of the README's ```bash blocks, continuation lines joined, comments dropped. */
function cdkCommands(): string[] {
  const blocks = [...readme.matchAll(/```bash\n([\s\S]*?)```/g)].map((m) => m[1]);
  return blocks.flatMap((b) => b.replace(/\\\n\s*/g, ' ').split('\n'))
    .map((l) => l.replace(/\s+#.*$/, '').trim())
    .filter((l) => /^npx cdk (deploy|synth)\b/.test(l));
}

function parse(command: string): { stack: string; context: Record<string, string> } {
  const words = command.split(/\s+/).slice(3);
  const context: Record<string, string> = {};
  let stack = '';
  for (let i = 0; i < words.length; i++) {
    if (words[i] === '-c' || words[i] === '--context') {
      const [k, ...v] = words[++i].split('=');
      context[k] = v.join('=');
    } else if (!words[i].startsWith('-') && !stack) stack = words[i];
  }
  return { stack, context };
}

describe('README deploy examples', () => {
  const commands = cdkCommands();

  it('has examples for both stacks and for named pipelines', () => {
    const stacks = commands.map((c) => parse(c).stack);
    expect(stacks).toEqual(expect.arrayContaining(['KafkaS3DirectStack', 'KafkaS3TablesStack', 'clicks-KafkaS3DirectStack', 'KafkaS3ReplayStack']));
    expect(commands.length).toBeGreaterThanOrEqual(8);
  });

  it.each(commands.map((c) => [c.slice(0, 110), c]))('%s …', (_, command) => {
    const { stack, context } = parse(command);
    expect(Object.values(context).some((v) => v.includes('…')), 'no placeholder in a command meant to run as is').toBe(false);
    const app = new App({ outdir: mkdtempSync(join(tmpdir(), 'kafka-s3-readme-')), context: { 'aws:cdk:bundling-stacks': [] } });
    const merged = { ...CDK_DEFAULTS, ...context, 'aws:cdk:bundling-stacks': [] };
    const p = addPipeline(app, { context: merged, env: { account: '111122223333', region: 'us-east-1' }, baseDir: ROOT });
    expect([p.direct.stackName, p.tables.stackName, p.replay?.stackName]).toContain(stack);
    app.synth();
  });
});
