/**
 * The app as users run it: `npx cdk synth KafkaS3DirectStack -c …` through the pinned CDK CLI, with real esbuild
 * bundling; a bad context value fails synth with a message naming the key.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const ROOT = new URL('../../', import.meta.url).pathname;
const MSK = 'arn:aws:kafka:us-east-1:111122223333:cluster/demo/abcd1234-ab12-cd34-ef56-abcdef123456-1';

async function cdkSynth(args: string[]): Promise<{ code: number; stdout: string; stderr: string; out: string }> {
  const out = mkdtempSync(join(tmpdir(), 'kafka-s3-cdk-cli-'));
  try {
    const r = await run(join(ROOT, 'node_modules/.bin/cdk'), ['synth', 'KafkaS3DirectStack', '-q', '-o', out, ...args], {
      cwd: ROOT, env: { ...process.env, CDK_DISABLE_VERSION_CHECK: 'true', CI: 'true' }, maxBuffer: 64 << 20,
    });
    return { code: 0, stdout: r.stdout, stderr: r.stderr, out };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr, out };
  }
}

describe('cdk synth (CLI)', () => {
  it('synthesizes the documented example with bundling, and cdk-nag passes', async () => {
    // Act
    const r = await cdkSynth(['-c', `mskClusterArn=${MSK}`, '-c', 'topics=orders,payments', '-c', 'format=parquet', '-c', 'batchSize=5000']);

    // Assess
    expect(r.stderr + r.stdout).not.toMatch(/AwsSolutions-/);
    expect(r.code).toBe(0);
    const template = JSON.parse(readFileSync(join(r.out, 'KafkaS3DirectStack.template.json'), 'utf8')) as { Resources: Record<string, { Type: string; Properties: Record<string, unknown> }> };
    const mappings = Object.values(template.Resources).filter((x) => x.Type === 'AWS::Lambda::EventSourceMapping');
    expect(mappings.map((m) => m.Properties.Topics).flat().sort()).toEqual(['orders', 'payments']);
    expect(mappings.every((m) => m.Properties.BatchSize === 5000)).toBe(true);
    const asset = readFileSync(join(r.out, 'KafkaS3DirectStack.assets.json'), 'utf8');
    const dir = /"path": "(asset\.[0-9a-f]+)"/.exec(asset)![1];
    expect(existsSync(join(r.out, dir, 'index.mjs'))).toBe(true);
  }, 120_000);

  it('a bad value fails synth with a message naming the key, the value and what is allowed', async () => {
    const r = await cdkSynth(['-c', `mskClusterArn=${MSK}`, '-c', 'topics=orders', '-c', 'batchSize=0', '-c', 'format=xml']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("batchSize='0': must be an integer from 1 to 10000");
    expect(r.stderr).toContain("format='xml': must be one of jsonl, csv, csv_with_headers, text, bytes, avro, parquet");
  }, 120_000);

  it('a context key the app does not know fails synth, naming the closest known key', async () => {
    // Typos must not synthesize silently with the defaults; CDK's own keys the CLI adds (aws:cdk:…) pass.
    const r = await cdkSynth(['-c', `mskClusterArn=${MSK}`, '-c', 'topics=orders', '-c', 'batchSze=5', '-c', 'memoryMB=4096']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('batchSze: not a context key of this app; did you mean batchSize?');
    expect(r.stderr).toContain('memoryMB: not a context key of this app; did you mean memoryMb?');
  }, 120_000);

  it('a named pipeline synthesizes its own stacks', async () => {
    const out = mkdtempSync(join(tmpdir(), 'kafka-s3-cdk-cli-'));
    const r = await run(join(ROOT, 'node_modules/.bin/cdk'), ['ls', '-o', out, '-c', `mskClusterArn=${MSK}`, '-c', 'topics=orders', '-c', 'pipeline=billing'], {
      cwd: ROOT, env: { ...process.env, CDK_DISABLE_VERSION_CHECK: 'true', CI: 'true' }, maxBuffer: 64 << 20,
    });
    expect(r.stdout.trim().split('\n').sort()).toEqual(['billing-KafkaS3DirectStack', 'billing-KafkaS3TablesStack']);
  }, 120_000);

  it('missing required keys fail synth with an example command', async () => {
    const r = await cdkSynth([]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('topics: required');
    expect(r.stderr).toContain('npx cdk deploy KafkaS3DirectStack -c mskClusterArn=');
  }, 120_000);
});
