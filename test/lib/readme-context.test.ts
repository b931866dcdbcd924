/**
 * The README's context table (section "Deploy") is the manual of the CDK app's configuration: it must list exactly
 * the keys of lib/config.ts's ContextSchema, with cdk.json's defaults, the enum options and the integer ranges.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { ContextSchema } from '../../lib/config.ts';

const MARKER = '<!-- context-table: kept in sync with lib/config.ts by test/lib/readme-context.test.ts -->';
const HEADER = '| parameter | type | default | allowed / range | description |';
const TYPES = ['string', 'integer', 'boolean', 'list (comma-separated)', 'ARN', 'email'];

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const cdkContext = (JSON.parse(readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8')) as { context: Record<string, unknown> })
  .context;

interface Row {
  readonly type: string;
  readonly default: string;
  readonly allowed: string;
  readonly description: string;
}

/** The table lines between the marker and the next blank line. */
function tableLines(): string[] {
  const lines = readme.split('\n');
  const start = lines.indexOf(MARKER);
  if (start < 0) return [];
  const end = lines.findIndex((line, i) => i > start && line.trim() === '');
  return lines.slice(start + 1, end < 0 ? undefined : end);
}

function rows(): Map<string, Row> {
  const result = new Map<string, Row>();
  for (const line of tableLines().slice(2)) {
    const cells = line.split(/(?<!\\)\|/).slice(1, -1).map((c) => c.trim());
    result.set(cells[0].replaceAll('`', ''), { type: cells[1], default: cells[2], allowed: cells[3], description: cells[4] });
  }
  return result;
}

/** The schema inside .optional(). */
function inner(schema: z.ZodType): z.ZodType {
  let s = schema as z.ZodType & { unwrap?: () => z.ZodType };
  while (s.def.type === 'optional' && s.unwrap) s = s.unwrap() as typeof s;
  return s;
}

describe('README context table', () => {
  it('sits in the Deploy section, before Settings, with the expected columns', () => {
    // Prepare
    const deploy = readme.indexOf('\n## Deploy\n');
    const settings = readme.indexOf('\n## Settings\n');

    // Act
    const marker = readme.indexOf(MARKER);
    const lines = tableLines();

    // Assess
    expect(deploy).toBeGreaterThan(0);
    expect(marker).toBeGreaterThan(deploy);
    expect(settings).toBeGreaterThan(marker);
    expect(lines[0]).toBe(HEADER);
    expect(lines[1]).toMatch(/^\|(---\|){5}$/);
    expect(lines.slice(2).every((line) => line.split(/(?<!\\)\|/).length === 7), 'every row has five cells').toBe(true);
  });

  it('lists every context parameter and no other', () => {
    // Prepare
    const keys = Object.keys(ContextSchema.shape);

    // Act
    const documented = [...rows().keys()];

    // Assess
    expect([...documented].sort()).toEqual([...keys].sort());
    expect(new Set(documented).size).toBe(documented.length);
  });

  it("shows cdk.json's default, or (none)", () => {
    // Prepare
    const table = rows();

    // Act
    const shown = Object.keys(ContextSchema.shape).map((key) => [key, table.get(key)?.default]);

    // Assess
    expect(shown).toEqual(
      Object.keys(ContextSchema.shape).map((key) => [key, key in cdkContext ? `\`${String(cdkContext[key])}\`` : '(none)']),
    );
  });

  it('names one of the documented types', () => {
    // Prepare
    const table = rows();

    // Act
    const types = Object.keys(ContextSchema.shape).map((key) => [key, table.get(key)?.type]);

    // Assess
    for (const [key, type] of types) expect(TYPES, `${key}: type ${type}`).toContain(type);
    for (const [key, schema] of Object.entries(ContextSchema.shape)) {
      if (inner(schema).def.type === 'number') expect(table.get(key)?.type, key).toBe('integer');
    }
  });

  it('lists every option of each enumerated parameter', () => {
    // Prepare
    const table = rows();

    // Act
    const enums = Object.entries(ContextSchema.shape)
      .map(([key, schema]) => [key, inner(schema)] as const)
      .filter(([, schema]) => schema.def.type === 'enum')
      .map(([key, schema]) => [key, (schema as z.ZodEnum).options as readonly string[]] as const);

    // Assess
    expect(enums.length).toBeGreaterThan(0);
    for (const [key, options] of enums) {
      for (const o of options) expect(table.get(key)?.allowed, key).toContain(`\`${o}\``);
    }
  });

  it("shows each integer parameter's range", () => {
    // Prepare
    const table = rows();

    // Act
    const ranges = Object.entries(ContextSchema.shape)
      .map(([key, schema]) => [key, inner(schema) as { minValue?: number | null; maxValue?: number | null }] as const)
      .filter(([, s]) => Number.isSafeInteger(s.minValue) && Number.isSafeInteger(s.maxValue))
      .filter(([, s]) => Math.abs(s.minValue as number) < Number.MAX_SAFE_INTEGER && Math.abs(s.maxValue as number) < Number.MAX_SAFE_INTEGER);

    // Assess
    expect(ranges.length).toBeGreaterThan(0);
    for (const [key, s] of ranges) expect(table.get(key)?.allowed, key).toContain(`${s.minValue} to ${s.maxValue}`);
  });

  it("shows each parameter's schema description", () => {
    // Prepare
    const table = rows();

    // Act
    const described = Object.keys(ContextSchema.shape).map((key) => [key, table.get(key)?.description]);

    // Assess
    expect(described).toEqual(Object.entries(ContextSchema.shape).map(([key, schema]) => [key, schema.description]));
  });
});
