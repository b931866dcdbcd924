/**
 * Stage 2 — filter: tombstones (null values) per TOMBSTONES, then the optional value regex.
 * FILTER_REGEX runs on RE2 (re2js, a port of Google's RE2): matching is linear in the value's length for every
 * pattern, so no record can hold a partition with a backtracking blow-up (JavaScript's engine takes seconds on
 * `^(a+)+$` against 30 characters and is quadratic on `.*x.*`). RE2 has no lookaround and no backreferences.
 */
import { RE2JS } from 're2js';
import type { KafkaRecord } from './decode.ts';

export type FilterOutcome = 'keep' | 'filtered' | 'tombstone-ignored' | 'tombstone-deadletter';

/** A compiled FILTER_REGEX. */
export interface ValueFilter {
  readonly source: string;
  test(text: string): boolean;
}

/** Compiles FILTER_REGEX with RE2; throws an Error naming the problem for a pattern RE2 does not accept. */
export function compileFilter(source: string): ValueFilter {
  let re: RE2JS;
  try {
    re = RE2JS.compile(source);
  } catch (err) {
    const why = (err as Error).message.replace(/^error parsing regexp: /i, '');
    throw new Error(`not a valid RE2 regular expression (${why}); RE2 has no lookaround or backreferences`);
  }
  return { source, test: (text: string) => re.test(text) };
}

export function filterRecord(cfg: { readonly tombstones: string; readonly filter?: Pick<ValueFilter, 'test'> }, r: KafkaRecord): FilterOutcome {
  if (r.value === null) {
    if (cfg.tombstones === 'ignore') return 'tombstone-ignored';
    if (cfg.tombstones === 'deadletter') return 'tombstone-deadletter';
    return 'keep';
  }
  if (cfg.filter) return cfg.filter.test(r.value.toString('utf8')) ? 'keep' : 'filtered';
  return 'keep';
}
