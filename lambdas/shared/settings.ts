/**
 * Parsing a configuration one setting at a time, so that a bad value does not hide the other settings' problems.
 * Used by every configuration schema of the project (sink, forwarder, CDK context).
 */
import type { z } from 'zod';

export interface ParsedSettings<T> {
  /** Parsed values; a setting that failed holds its schema default (or undefined) so combined checks can still run. */
  readonly values: T;
  readonly failed: ReadonlySet<string>;
  /** `NAME='value': what is wrong`, one per issue. */
  readonly problems: string[];
}

export const showValue = (v: unknown): string => (v === undefined ? '(unset)' : `'${Array.isArray(v) ? v.join(',') : String(v)}'`);

export function parseSettings<S extends z.ZodObject>(schema: S, input: Record<string, unknown>): ParsedSettings<z.output<S>> {
  const values: Record<string, unknown> = {};
  const failed = new Set<string>();
  const problems: string[] = [];
  for (const [key, field] of Object.entries(schema.shape)) {
    const r = (field as z.ZodType).safeParse(input[key]);
    if (r.success) {
      values[key] = r.data;
      continue;
    }
    failed.add(key);
    for (const issue of r.error.issues) problems.push(`${key}=${showValue(input[key])}: ${issue.message}`);
    const fallback = (field as z.ZodType).safeParse(undefined);
    values[key] = fallback.success ? fallback.data : undefined;
  }
  return { values: values as z.output<S>, failed, problems };
}
