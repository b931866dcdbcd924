/** The README's settings table is the user's manual: it must list exactly the sink's settings with their defaults. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { RUNNER_FLAGS } from '../bin/runner/cli.ts';
import { SinkEnvSchema } from '../lambdas/shared/config.ts';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

function settingsRows(): Map<string, { default: string; allowed: string }> {
  const start = readme.indexOf('<!-- settings-table');
  const lines = readme.slice(start).split('\n').slice(1);
  const rows = new Map<string, { default: string; allowed: string }>();
  for (const line of lines.slice(2)) {
    if (!line.startsWith('|')) break;
    const cells = line.split(/(?<!\\)\|/).slice(1, -1).map((c) => c.trim());
    rows.set(cells[0].replaceAll('`', ''), { default: cells[1], allowed: cells[2] });
  }
  return rows;
}

describe('README settings table', () => {
  it('lists every sink setting and no other', () => {
    expect([...settingsRows().keys()].sort()).toEqual(Object.keys(SinkEnvSchema.shape).sort());
  });

  it('shows each schema default', () => {
    const rows = settingsRows();
    for (const [name, schema] of Object.entries(SinkEnvSchema.shape)) {
      const parsed = schema.safeParse(undefined);
      const value = parsed.success ? parsed.data : undefined;
      if (value === undefined) continue;
      const shown = typeof value === 'string' ? value.replaceAll('\\\\', '\\') : String(value);
      expect(rows.get(name)?.default, name).toBe(`\`${shown}\``);
    }
  });

  it('lists the allowed values of every enumerated setting', () => {
    const rows = settingsRows();
    for (const [name, schema] of Object.entries(SinkEnvSchema.shape)) {
      const options = (schema as { unwrap?: () => { options?: readonly string[] } }).unwrap?.().options;
      if (!options) continue;
      for (const o of options) expect(rows.get(name)?.allowed, name).toContain(`\`${o}\``);
    }
  });
});

describe('README runner flags table', () => {
  it('lists every flag of the runner and no other', () => {
    const start = readme.indexOf('<!-- runner-flags-table -->');
    expect(start).toBeGreaterThan(0);
    const rows = readme.slice(start).split('\n').slice(3);
    const listed: string[] = [];
    for (const line of rows) {
      if (!line.startsWith('|')) break;
      for (const m of line.split('|')[1].matchAll(/`--([a-z0-9-]+)/g)) listed.push(m[1]);
    }
    expect(listed.sort()).toEqual([...RUNNER_FLAGS].sort());
  });
});
