/** The README's forwarder settings table (S3 Tables stack section) lists exactly the forwarder's settings, with their defaults. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ForwarderEnvSchema } from '../../../lambdas/forwarder/config.ts';

const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
const MARKER = '<!-- forwarder-settings-table: kept in sync with lambdas/forwarder/config.ts by test/lambdas/forwarder/readme.test.ts -->';

function rows(): Map<string, { default: string; allowed: string }> {
  const start = readme.indexOf(MARKER);
  expect(start).toBeGreaterThan(readme.indexOf('## S3 Tables stack'));
  const lines = readme.slice(start).split('\n').slice(1);
  const out = new Map<string, { default: string; allowed: string }>();
  for (const line of lines.slice(2)) {
    if (!line.startsWith('|')) break;
    const cells = line.split(/(?<!\\)\|/).slice(1, -1).map((c) => c.trim());
    out.set(cells[0].replaceAll('`', ''), { default: cells[1], allowed: cells[2] });
  }
  return out;
}

describe('README forwarder settings table', () => {
  it('sits in the S3 Tables section and lists every forwarder setting and no other', () => {
    expect([...rows().keys()].sort()).toEqual(Object.keys(ForwarderEnvSchema.shape).sort());
  });

  it('shows each schema default', () => {
    const r = rows();
    for (const [name, schema] of Object.entries(ForwarderEnvSchema.shape)) {
      const parsed = schema.safeParse(undefined);
      const value = parsed.success ? parsed.data : undefined;
      if (value === undefined) continue;
      expect(r.get(name)?.default, name).toBe(`\`${String(value)}\``);
    }
  });

  it('lists the allowed values of every enumerated setting', () => {
    const r = rows();
    for (const [name, schema] of Object.entries(ForwarderEnvSchema.shape)) {
      const options = (schema as { unwrap?: () => { options?: readonly string[] } }).unwrap?.().options;
      if (!options) continue;
      for (const o of options) expect(r.get(name)?.allowed, name).toContain(`\`${o}\``);
    }
  });
});
