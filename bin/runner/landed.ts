/**
 * What a local run landed, read back from the local store: the data objects (never the checkpoints under
 * STATE_PREFIX, which sit in the bucket like any key and, with an empty PREFIX, among the data; nor dead letters),
 * and a query for them that fits the format.
 */
import { extensionFor } from '../../lambdas/shared/constants.ts';
import type { SinkConfig } from '../../lambdas/shared/config.ts';

type Layout = Pick<SinkConfig, 'prefix' | 'errorPrefix' | 'statePrefix' | 'format' | 'compression'>;

/** The data object keys among `keys`: under PREFIX, not under STATE_PREFIX or ERROR_PREFIX. */
export function dataKeys(keys: readonly string[], cfg: Layout): string[] {
  return keys.filter((k) => k.startsWith(cfg.prefix) && !k.startsWith(cfg.statePrefix) && !k.startsWith(cfg.errorPrefix));
}

/**
 * Glob patterns (DuckDB syntax) that match the data objects of this format and nothing else: one per first key
 * segment. Objects an earlier run wrote in another format (another extension) are left out.
 */
export function dataGlobs(bucketDir: string, keys: readonly string[], cfg: Layout): string[] {
  const ext = extensionFor(cfg.format, cfg.compression);
  const globs = new Set<string>();
  for (const k of dataKeys(keys, cfg)) {
    if (!k.endsWith(`.${ext}`)) continue;
    const rest = k.slice(cfg.prefix.length);
    const slash = rest.indexOf('/');
    globs.add(slash < 0 ? `${bucketDir}/${cfg.prefix}*.${ext}` : `${bucketDir}/${cfg.prefix}${rest.slice(0, slash)}/**/*.${ext}`);
  }
  return [...globs].sort();
}

/** Formats a stock DuckDB reads (read_parquet, read_json, read_csv). */
const DUCKDB_READS = new Set(['parquet', 'jsonl', 'csv', 'csv_with_headers']);

const sqlString = (s: string) => `'${s.replace(/'/g, "''")}'`;
const shellDouble = (s: string) => s.replace(/(["\\$`])/g, '\\$1');

/**
 * Lines telling how to look at what landed. `sampleOrders`: the built-in sample source in its default shape
 * (JSON order values), for which a query by order status is shown.
 */
export function landingHint(bucketDir: string, keys: readonly string[], cfg: Layout, sampleOrders: boolean): string[] {
  const data = dataHint(bucketDir, keys, cfg, sampleOrders);
  // Dead letters (one JSON line per record: its coordinates, bytes, stage and reason), from this run or earlier ones.
  if (!keys.some((k) => k.startsWith(cfg.errorPrefix) && k.endsWith('.jsonl'))) return data;
  const letters = sqlString(`${bucketDir}/${cfg.errorPrefix}**/*.jsonl`);
  return [...data, `Dead letters under ${bucketDir}/${cfg.errorPrefix} (a JSON line per record, with its stage and reason):`,
    `  duckdb -c "${shellDouble(`SELECT stage, reason, count(*) AS records FROM read_json(${letters}, format = 'newline_delimited') GROUP BY ALL ORDER BY records DESC`)}"`];
}

function dataHint(bucketDir: string, keys: readonly string[], cfg: Layout, sampleOrders: boolean): string[] {
  const globs = dataGlobs(bucketDir, keys, cfg);
  if (globs.length === 0) {
    const other = dataKeys(keys, cfg).length > 0 ? ` (only objects of another format: ${cfg.format} files end in .${extensionFor(cfg.format, cfg.compression)})` : '';
    return [`No ${cfg.format} objects landed under ${bucketDir}/${cfg.prefix}${other}`];
  }
  const list = globs.length === 1 ? sqlString(globs[0]) : `[${globs.map(sqlString).join(', ')}]`;
  const reader = {
    parquet: `read_parquet(${list})`,
    jsonl: `read_json(${list}, format = 'newline_delimited')`,
    csv: `read_csv(${list}, header = false)`,
    csv_with_headers: `read_csv(${list}, header = true)`,
  }[cfg.format as string];
  const files = globs.map((g) => `    ${g}`);
  if (!reader) {
    // text, bytes and avro: no reader that comes with a stock DuckDB; the files themselves.
    return [`What landed (${cfg.format}, ${globs.length === 1 ? 'one pattern' : `${globs.length} patterns`}):`, ...files];
  }
  const duck = (sql: string) => `  duckdb -c "${shellDouble(sql)}"`;
  const out = ['Query what landed with DuckDB (https://duckdb.org; not installed by npm ci):', duck(`SELECT count(*) AS records FROM ${reader}`)];
  if (sampleOrders && cfg.format === 'parquet') {
    out.push(duck(`SELECT status, count(*) AS orders, round(sum(amount), 2) AS revenue FROM ${reader} GROUP BY status ORDER BY orders DESC`));
  } else {
    out.push(duck(`SELECT * FROM ${reader} LIMIT 5`));
  }
  return out;
}

/**
 * Where a run into a bucket landed (--bucket): the prefix of its data objects, and how to read them there. No LIST of
 * the bucket (it may hold far more than this run wrote), so no patterns: the prefix and the format's extension.
 */
export function bucketHint(bucket: string, cfg: Layout, objects: number): string[] {
  if (objects === 0) return [`No objects written to s3://${bucket}/ in this run`];
  const out = [`This run wrote ${objects.toLocaleString('en-US')} object${objects === 1 ? '' : 's'} (data and dead letters) to s3://${bucket}/: its data under s3://${bucket}/${cfg.prefix}, as *.${extensionFor(cfg.format, cfg.compression)}`];
  if (DUCKDB_READS.has(cfg.format)) out.push('  DuckDB reads them in S3 with its httpfs extension and an S3 secret (https://duckdb.org/docs/extensions/httpfs/s3api)');
  return out;
}
