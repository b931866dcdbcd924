/**
 * The compactor's configuration: the sink's own settings (the same environment the sink function gets, so both read
 * objects the same way) and the compaction settings, validated at cold start with every problem listed.
 */
import { z } from 'zod';
import { loadSinkConfig, type SinkConfig } from '../shared/config.ts';
import { ConfigError } from '../shared/errors.ts';
import { parseSettings } from '../shared/settings.ts';
import { codecFor } from './codec.ts';
import { windowProblems } from './windows.ts';

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

/** Lambda's longest timeout: a run that started writes its files within it. */
const MAX_RUN_SECONDS = 900;

export const CompactorEnvSchema = z.object({
  COMPACTED_PREFIX: z.string().min(1).max(256).regex(/^[^/].*\/$/, 'must end with / and not start with /').default('compacted/')
    .describe('Where the compactor writes: data/ (compacted files), manifests/ (one per window), symlinks/ (what readers list); must not overlap PREFIX, ERROR_PREFIX or STATE_PREFIX.'),
  COMPACTION_TARGET_BYTES: int(1 << 20, 5 * 1024 ** 3).default(256 * 1024 ** 2).describe('Compressed bytes a compacted file aims at.'),
  COMPACTION_GRACE_SECONDS: int(0, 7 * 86_400).default(3600).describe('How long after a window\'s end before it is compacted (records still arriving then are merged by a later run).'),
  COMPACTION_ORPHAN_AGE_SECONDS: int(MAX_RUN_SECONDS, 7 * 86_400).default(3600)
    .describe('How long a compacted file no generation lists any more is kept before it is tagged for expiry (longer than the longest query that may read it), and the age at which a file no manifest ever listed (a run that lost or died) is.'),
});

export interface CompactorConfig {
  readonly sink: SinkConfig;
  readonly compactedPrefix: string;
  readonly targetBytes: number;
  readonly graceMs: number;
  readonly orphanAgeMs: number;
}

const overlaps = (a: string, b: string) => a.startsWith(b) || b.startsWith(a);

export function loadCompactorConfig(env: Record<string, string | undefined>): CompactorConfig {
  const problems: string[] = [];
  let sink: SinkConfig | undefined;
  try {
    sink = loadSinkConfig(env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    problems.push(...err.problems);
  }
  const parsed = parseSettings(CompactorEnvSchema, env);
  problems.push(...parsed.problems);
  const e = parsed.values;
  if (sink) {
    const codec = codecFor(sink);
    if (typeof codec === 'string') problems.push(codec);
    problems.push(...windowProblems(sink));
    for (const [name, prefix] of [['PREFIX', sink.prefix], ['ERROR_PREFIX', sink.errorPrefix], ['STATE_PREFIX', sink.statePrefix]] as const) {
      if (!parsed.failed.has('COMPACTED_PREFIX') && overlaps(e.COMPACTED_PREFIX, prefix)) {
        problems.push(`COMPACTED_PREFIX='${e.COMPACTED_PREFIX}': overlaps ${name}='${prefix}' (the compactor would read its own files as the sink's, or the sink's as its own)`);
      }
    }
  }
  if (problems.length > 0) throw new ConfigError(problems, 'compactor configuration');
  return {
    sink: sink!, compactedPrefix: e.COMPACTED_PREFIX, targetBytes: e.COMPACTION_TARGET_BYTES,
    graceMs: e.COMPACTION_GRACE_SECONDS * 1000, orphanAgeMs: e.COMPACTION_ORPHAN_AGE_SECONDS * 1000,
  };
}
