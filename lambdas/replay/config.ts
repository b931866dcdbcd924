/**
 * The serverless replay's settings: what the stack fixes in the function's environment (the source prefix and the
 * target topic, which its IAM policy is scoped to; the brokers; where the state goes) and what each run's execution
 * input chooses (filters and throttles; a replay ID that names its state: the same ID resumes). One schema each,
 * every problem reported at once (ConfigError).
 */
import { z } from 'zod';
import { ConfigError } from '../shared/errors.ts';
import { compileFilter } from '../shared/filter.ts';
import { parseSettings } from '../shared/settings.ts';
import type { ReplaySettings } from './replay.ts';

const list = z.string().transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean));
const int = (min: number, max: number) => {
  const error = `must be an integer from ${min} to ${max}`;
  return z.coerce.number({ error }).int({ error }).min(min, { error }).max(max, { error });
};
const offset = z.union([z.string().regex(/^\d{1,19}$/), z.number().int().min(0)]).transform((v) => BigInt(v))
  .refine((v) => v <= 2n ** 63n - 1n, 'must be an offset (0 to 2^63-1)');
const time = z.union([z.number().int(), z.string()]).transform((v, ctx) => {
  const ms = typeof v === 'number' ? v : /^\d+$/.test(v) ? Number(v) : /^\d{4}-\d{2}-\d{2}(T[\d:.]+)?(Z|[+-]\d{2}:\d{2})$/.test(v) ? Date.parse(v) : NaN;
  if (!Number.isSafeInteger(ms)) {
    ctx.addIssue({ code: 'custom', message: 'must be an ISO-8601 time with its zone (2026-01-01T10:00:00Z) or epoch milliseconds' });
    return z.NEVER;
  }
  return ms;
});

/** The function's environment, set by the stack. */
export const ReplayEnvSchema = z.object({
  SOURCE_BUCKET: z.string().min(3).max(63).describe('Bucket whose objects are replayed.'),
  SOURCE_PREFIX: z.string().max(512).default('topics/').describe('Prefix of the objects replayed (the function may read only below it).'),
  SOURCE_KIND: z.enum(['sink', 'dead-letters', 'foreign']).default('sink').describe('sink objects, dead letters, or objects other tools wrote.'),
  TARGET_TOPIC: z.string().regex(/^[A-Za-z0-9._-]{1,249}$/).optional().describe('Topic the records go to; unset: the topic each came from.'),
  TOPICS: list.pipe(z.array(z.string().regex(/^[A-Za-z0-9._-]{1,249}$/))).optional()
    .describe('Without TARGET_TOPIC: the topics the function may write (its IAM grant); only their objects are replayed.'),
  PARTITIONING: z.enum(['keep', 'key']).optional().describe('keep: the source partition; key: Java\'s default partitioner (default: keep, key for foreign objects).'),
  BOOTSTRAP_SERVERS: list.pipe(z.array(z.string().regex(/^[A-Za-z0-9.-]+:\d{1,5}$/, 'must be host:port')).min(1)).describe('Brokers, comma list of host:port.'),
  KAFKA_AUTH: z.enum(['iam', 'none']).default('iam').describe('iam: MSK IAM (SASL/OAUTHBEARER over TLS, signed with the function\'s role); none: plaintext.'),
  STATE_BUCKET: z.string().min(3).max(63).describe('Bucket of the plans and checkpoints.'),
  STATE_PREFIX: z.string().min(1).max(256).default('replays/').describe('Prefix of the plans and checkpoints; each replay ID has its own below it.'),
  S3_ENDPOINT: z.url().optional().describe('S3 endpoint with path-style addressing (local S3 servers, tests); unset: AWS.'),
  AWS_REGION: z.string().min(1).default('us-east-1'),
});

/** A run's execution input (every key optional). */
export const ReplayInputSchema = z.object({
  replayId: z.string().regex(/^[A-Za-z0-9._-]{1,80}$/, 'must be 1-80 of A-Z a-z 0-9 . _ -').optional()
    .describe('Names the run\'s state: the same ID resumes a stopped run; unset: the execution\'s name.'),
  topics: z.array(z.string()).optional().describe('Only objects of these topics.'),
  partitions: z.array(z.number().int().min(0)).optional().describe('Only objects of these partitions.'),
  fromOffset: offset.optional(),
  toOffset: offset.optional(),
  fromTime: time.optional(),
  toTime: time.optional(),
  extensions: z.array(z.string().min(1)).optional().describe('Only keys ending with one of these.'),
  lineRegex: z.string().refine((v) => { try { compileFilter(v); return true; } catch { return false; } }, 'must be an RE2 regular expression').optional(),
  order: z.enum(['lexical', 'last-modified']).optional(),
  format: z.enum(['jsonl', 'csv', 'text', 'bytes', 'avro', 'parquet']).optional().describe('Foreign objects: their format, when the extension does not say.'),
  csvHeader: z.boolean().optional(),
  anyOrder: z.boolean().optional().describe('Objects of a partition that overlap in offsets and hold no offset per record: replay each whole, by its first offset.'),
  keysPerPoll: int(1, 1000).optional(),
  recordsPerPoll: int(1, 100_000).optional(),
  maxMbPerSecond: z.number().min(0).optional(),
}).strict();

export type ReplayEnv = z.output<typeof ReplayEnvSchema>;
export type ReplayInput = z.output<typeof ReplayInputSchema>;

export function loadReplayEnv(env: Record<string, string | undefined>): ReplayEnv {
  const parsed = parseSettings(ReplayEnvSchema, env);
  if (parsed.problems.length > 0) throw new ConfigError(parsed.problems, 'replay function environment');
  return parsed.values as ReplayEnv;
}

export function parseReplayInput(input: unknown): ReplayInput {
  const r = ReplayInputSchema.safeParse(input ?? {});
  if (!r.success) throw new ConfigError(r.error.issues.map((i) => `${i.path.join('.') || 'input'}: ${i.message}`), 'replay execution input');
  const v = r.data;
  const problems: string[] = [];
  if (v.fromOffset !== undefined && v.toOffset !== undefined && v.toOffset < v.fromOffset) problems.push('toOffset: is below fromOffset');
  if (v.fromTime !== undefined && v.toTime !== undefined && v.toTime <= v.fromTime) problems.push('toTime: must be after fromTime');
  if (problems.length > 0) throw new ConfigError(problems, 'replay execution input');
  return v;
}

/** The replay's settings from the environment and a run's input. */
export function replaySettings(env: ReplayEnv, input: ReplayInput): ReplaySettings {
  const foreign = env.SOURCE_KIND === 'foreign';
  const problems: string[] = [];
  if (foreign && !env.TARGET_TOPIC) problems.push('TARGET_TOPIC: required for foreign objects (they do not say which topic their records came from)');
  if (foreign && env.PARTITIONING === 'keep') problems.push('PARTITIONING=keep: foreign objects carry no partition; use key');
  if (!foreign && (input.format !== undefined || input.order !== undefined || input.csvHeader !== undefined)) problems.push('format, order, csvHeader: only for foreign objects');
  if (foreign && (input.topics || input.partitions || input.fromOffset !== undefined || input.toOffset !== undefined)) problems.push('topics, partitions, fromOffset, toOffset: foreign objects carry none');
  // Records go back to their own topics: only those the function may write (its IAM grant is on these alone).
  const allowed = !env.TARGET_TOPIC && env.TOPICS && env.TOPICS.length > 0 ? env.TOPICS : undefined;
  const outside = allowed ? (input.topics ?? []).filter((t) => !allowed.includes(t)) : [];
  if (outside.length > 0) problems.push(`topics: ${outside.join(', ')} not among the topics this replay may write (${allowed!.join(', ')}): deploy with them in topics, or with replayTargetTopic`);
  if (problems.length > 0) throw new ConfigError(problems, 'replay settings');
  return {
    bucket: env.SOURCE_BUCKET,
    prefix: env.SOURCE_PREFIX,
    kind: env.SOURCE_KIND,
    order: input.order ?? 'lexical',
    extensions: input.extensions ?? [],
    ...(input.format ? { foreignFormat: input.format } : {}),
    csvHeader: input.csvHeader ?? true,
    topics: input.topics ?? allowed ?? [],
    partitions: input.partitions ?? [],
    ...(input.fromOffset !== undefined ? { fromOffset: input.fromOffset } : {}),
    ...(input.toOffset !== undefined ? { toOffset: input.toOffset } : {}),
    keysPerPoll: input.keysPerPoll ?? 1000,
    ...(input.anyOrder ? { anyOrder: true } : {}),
    ...(env.TARGET_TOPIC ? { targetTopic: env.TARGET_TOPIC } : {}),
    partitioning: env.PARTITIONING ?? (foreign ? 'key' : 'keep'),
    recordsPerPoll: input.recordsPerPoll ?? 10_000,
    maxBytesPerSecond: (input.maxMbPerSecond ?? 0) * 1e6,
    ...(input.fromTime !== undefined ? { fromTime: input.fromTime } : {}),
    ...(input.toTime !== undefined ? { toTime: input.toTime } : {}),
    ...(input.lineRegex !== undefined ? { lineRegex: input.lineRegex } : {}),
  };
}
