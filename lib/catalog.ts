/**
 * The Glue Data Catalog over the direct stack's objects: from the sink's own configuration (format, compression,
 * fields, schema, key template, prefix) the tables Athena reads them with. Pure: the construct
 * (constructs/glue-catalog.ts) only turns these specs into resources, and a test reads the objects the sink wrote
 * with exactly the columns and SerDe declared here.
 *
 * - Columns: for avro, parquet and csv the sink's own table layout (encode/table.ts, built for no records), so the
 *   catalog cannot drift from what is written; for jsonl the envelope fields, the value as JSON text.
 * - Partitions: the key template's directories after the table's root, each Hive-style `name={{variable}}`, become
 *   partition keys with Athena partition projection (no crawler, no MSCK REPAIR): a date projection for a
 *   `{{timestamp:yyyy…}}` pattern, integer for one time field or `{{partition}}`, enum for `{{topic}}`, injected for
 *   `{{key}}` and `{{value.…}}`. Athena: "Use partition projection with Amazon Athena" and "Supported types for
 *   partition projection" (Athena user guide).
 * - Names: "The only acceptable characters for database names, table names, and column names are lowercase letters,
 *   numbers, and the underscore character" (Athena user guide, "Best practices when using Athena with AWS Glue").
 */
import type { SinkConfig } from '../lambdas/shared/config.ts';
import { avroSchemaFor } from '../lambdas/shared/encode/avro.ts';
import { buildTable, inferredColumns } from '../lambdas/shared/encode/table.ts';
import { keyLayout, patternText, type LayoutDir } from '../lambdas/shared/key-layout.ts';
import { safeKeyValue, type TemplatePart, type TimePart } from '../lambdas/shared/key-template.ts';
import type { Column } from '../lambdas/shared/schema.ts';
import { showValue as show } from '../lambdas/shared/settings.ts';
import { tableRoutes } from './table-schema.ts';

/** A column as Glue declares it: a Hive type name (string, bigint, array<struct<…>>). */
export interface GlueColumn {
  readonly name: string;
  readonly type: string;
  readonly comment?: string;
}

export interface CatalogTableSpec {
  readonly name: string;
  /** The Kafka topics whose objects the table covers. */
  readonly topics: readonly string[];
  /** Below the bucket: the prefix every object of the table lies under (ends with '/'). */
  readonly locationPrefix: string;
  /** Below the bucket: one partition's directory with `${key}` for each partition key (ends with '/'); unset
   * without partition keys. */
  readonly partitionTemplate?: string;
  readonly partitionKeys: readonly GlueColumn[];
  /** Athena partition projection parameters per partition key (`projection.<key>.<param>` without the prefix). */
  readonly projection: Readonly<Record<string, Readonly<Record<string, string>>>>;
  readonly columns: readonly GlueColumn[];
  readonly serde: { readonly library: string; readonly parameters: Readonly<Record<string, string>> };
  readonly inputFormat: string;
  readonly outputFormat: string;
  /** Table parameters besides projection and the location template (classification, header lines). */
  readonly parameters: Readonly<Record<string, string>>;
}

export interface CatalogOptions {
  /** Topic → table name (lib/table-schema.ts tableRoutes). */
  readonly routes: ReadonlyMap<string, string>;
  /** The topics' partition count: the range of a `{{partition}}` directory's projection. */
  readonly partitionCount?: number;
  /** First day (YYYY-MM-DD) of a date projection's range: objects of earlier days are not queried. */
  readonly startDate: string;
}

/** Catalog problems, all at once (the context check turns each into a synth error naming its key). */
export class CatalogError extends Error {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(problems.join('; '));
    this.name = 'CatalogError';
    this.problems = problems;
  }
}

export const GLUE_NAME = /^[a-z0-9_]{1,255}$/;
const PARTITION_NAME = /^[a-z_][a-z0-9_]{0,127}$/;

const SERDE = {
  openxJson: 'org.openx.data.jsonserde.JsonSerDe',
  openCsv: 'org.apache.hadoop.hive.serde2.OpenCSVSerde',
  regex: 'org.apache.hadoop.hive.serde2.RegexSerDe',
  avro: 'org.apache.hadoop.hive.serde2.avro.AvroSerDe',
  parquet: 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe',
} as const;
const TEXT_IO = { inputFormat: 'org.apache.hadoop.mapred.TextInputFormat', outputFormat: 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat' };
const AVRO_IO = { inputFormat: 'org.apache.hadoop.hive.ql.io.avro.AvroContainerInputFormat', outputFormat: 'org.apache.hadoop.hive.ql.io.avro.AvroContainerOutputFormat' };
const PARQUET_IO = { inputFormat: 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat', outputFormat: 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat' };

/**
 * Sink column type → Hive type, for files that carry their types (parquet, avro). Hive's Avro SerDe reads
 * timestamp-micros as its long ("other logical types ignored by hive" in Trino's Hive Avro reader, which maps only
 * timestamp-millis to a timestamp), so in avro such a column is a bigint of microseconds.
 */
function typedColumn(c: Column, format: 'avro' | 'parquet'): string {
  switch (c.type) {
    case 'long': return 'bigint';
    case 'bytes': return 'binary';
    case 'json': return 'string';
    case 'timestamp-millis': return 'timestamp';
    case 'timestamp-micros': return format === 'avro' ? 'bigint' : 'timestamp';
    default: return c.type; // boolean, int, float, double, string, date
  }
}

/**
 * Sink column type → Hive type for OpenCSVSerde, which "recognizes BOOLEAN, BIGINT, INT, and DOUBLE data types",
 * reads TIMESTAMP only as epoch milliseconds and DATE only as days (the sink writes ISO-8601 text), and does not
 * recognize empty numeric values (the sink writes null as an empty cell): a column that can be null, and every
 * other type, is declared string (Athena user guide, "Open CSV SerDe for processing CSV").
 */
function csvColumn(c: Column): string {
  if (c.nullable) return 'string';
  switch (c.type) {
    case 'boolean':
    case 'int':
    case 'double': return c.type;
    case 'long': return 'bigint';
    case 'float': return 'double';
    default: return 'string';
  }
}

/** The jsonl envelope as columns, in FIELDS order (encode/jsonl.ts writes exactly these). */
function jsonlColumns(cfg: SinkConfig): GlueColumn[] {
  const out: GlueColumn[] = [];
  for (const f of cfg.fields) {
    switch (f) {
      case 'key': out.push({ name: 'key', type: 'string', comment: `record key (${cfg.keyEncoding})` }); break;
      case 'value':
        out.push({ name: 'value', type: 'string', comment: cfg.valueEncoding === 'json' ? 'record value as JSON text: json_extract_scalar(value, \'$.field\')' : `record value (${cfg.valueEncoding})` });
        break;
      case 'headers': out.push({ name: 'headers', type: 'array<struct<key:string,value:string>>', comment: `record headers in order (values ${cfg.headerEncoding})` }); break;
      case 'topic': out.push({ name: 'topic', type: 'string' }); break;
      case 'partition': out.push({ name: 'partition', type: 'int' }); break;
      case 'offset': out.push({ name: 'offset', type: 'bigint' }); break;
      case 'timestamp': out.push({ name: 'timestamp', type: 'string', comment: 'record time, ISO-8601 UTC: from_iso8601_timestamp("timestamp")' }); break;
    }
  }
  return out;
}

interface Storage {
  readonly columns: GlueColumn[];
  readonly serde: CatalogTableSpec['serde'];
  readonly inputFormat: string;
  readonly outputFormat: string;
  readonly parameters: Record<string, string>;
}

/** How a format is declared, or why it cannot be. */
function storageOf(cfg: SinkConfig): Storage | string {
  const columnar = cfg.format === 'avro' || cfg.format === 'parquet' || cfg.format === 'csv' || cfg.format === 'csv_with_headers';
  if (columnar && cfg.transform) {
    return `format=${cfg.format} with transformSql: the columns are the statement's result, which no schemaFile declares (schemaFile describes its input), so no table can declare them: use format=jsonl (the value as JSON text)`;
  }
  if (columnar && inferredColumns(cfg)) {
    return `format=${cfg.format} without schemaFile infers columns per object, so objects differ and no table can declare them: set schemaFile (an Avro record schema), or use format=jsonl`;
  }
  switch (cfg.format) {
    case 'jsonl':
      // OpenX: case-insensitive keys by default, and a JSON object in a string column comes back as its JSON text.
      return { columns: jsonlColumns(cfg), serde: { library: SERDE.openxJson, parameters: {} }, ...TEXT_IO, parameters: { classification: 'json' } };
    case 'text':
      // One column, the whole line: the sink dead-letters values holding any line terminator.
      return {
        columns: [{ name: 'value', type: 'string', comment: 'record value, one line' }],
        serde: { library: SERDE.regex, parameters: { 'input.regex': '^(.*)$' } }, ...TEXT_IO, parameters: { classification: 'text' },
      };
    case 'bytes':
      return 'format=bytes writes raw values that no Athena SerDe reads as records: use text (UTF-8 lines) or jsonl with valueEncoding=base64';
    case 'csv':
    case 'csv_with_headers': {
      const table = buildTable(cfg, []).table;
      return {
        columns: table.columns.map((c) => ({ name: c.name.toLowerCase(), type: csvColumn(c) })),
        serde: { library: SERDE.openCsv, parameters: { separatorChar: ',', quoteChar: '"' } }, ...TEXT_IO,
        parameters: { classification: 'csv', ...(cfg.format === 'csv_with_headers' ? { 'skip.header.line.count': '1' } : {}) },
      };
    }
    case 'avro': {
      const table = buildTable(cfg, []).table;
      // "Athena does not support using avro.schema.url … use avro.schema.literal" (Athena user guide, "Avro SerDe").
      return {
        columns: table.columns.map((c) => ({ name: c.name.toLowerCase(), type: typedColumn(c, 'avro') })),
        serde: { library: SERDE.avro, parameters: { 'avro.schema.literal': JSON.stringify(avroSchemaFor(table)) } }, ...AVRO_IO,
        parameters: { classification: 'avro' },
      };
    }
    case 'parquet': {
      const table = buildTable(cfg, []).table;
      return {
        columns: table.columns.map((c) => ({ name: c.name.toLowerCase(), type: typedColumn(c, 'parquet') })),
        serde: { library: SERDE.parquet, parameters: {} }, ...PARQUET_IO, parameters: { classification: 'parquet' },
      };
    }
  }
}

const TIME_ORDER = ['yyyy', 'MM', 'dd', 'HH', 'mm', 'ss'] as const;
const TIME_UNIT: Record<string, string> = { yyyy: 'YEARS', MM: 'MONTHS', dd: 'DAYS', HH: 'HOURS', mm: 'MINUTES', ss: 'SECONDS' };
const TIME_RANGE: Record<string, [number, number, number]> = { MM: [1, 12, 2], dd: [1, 31, 2], HH: [0, 23, 2], mm: [0, 59, 2], ss: [0, 59, 2], SSS: [0, 999, 3] };

/** A start day (YYYY-MM-DD, midnight) written with a time pattern: the date projection's first value. */
function formatStart(startDate: string, pattern: readonly TimePart[]): string {
  const [y, m, d] = startDate.split('-');
  const values: Record<string, string> = { yyyy: y, MM: m, dd: d, HH: '00', mm: '00', ss: '00' };
  return pattern.map((p) => ('literal' in p ? p.literal : values[p.token])).join('');
}

interface Partition {
  readonly key: GlueColumn;
  readonly projection: Record<string, string>;
}

/** One Hive-style directory's partition key and projection, or why it cannot be projected. */
function partitionOf(name: string, part: TemplatePart, topics: readonly string[], opts: CatalogOptions, timezone: string): Partition | string {
  switch (part.kind) {
    case 'topic':
      return { key: { name, type: 'string' }, projection: { type: 'enum', values: topics.map((t) => safeKeyValue(t)).join(',') } };
    case 'partition':
      if (opts.partitionCount === undefined) {
        return `directory "${name}={{partition}}" needs the topics' partition count for its projection's range: set catalogPartitionCount`;
      }
      return { key: { name, type: 'int' }, projection: { type: 'integer', range: `0,${opts.partitionCount - 1}` } };
    case 'key':
    case 'value':
      // Values only the data knows: queries must name them ("injected": a static equality in WHERE).
      return { key: { name, type: 'string', comment: 'injected: a query must give its value in WHERE (=, IN)' }, projection: { type: 'injected' } };
    case 'timestamp': {
      const tokens = part.pattern.flatMap((p) => ('token' in p ? [p.token] : []));
      const literals = part.pattern.flatMap((p) => ('literal' in p ? [p.literal] : []));
      // yyyy, yyyy-MM, yyyy-MM-dd, …: a date projection, stepping by its smallest field.
      if (tokens[0] === 'yyyy' && tokens.every((t, i) => t === TIME_ORDER[i])) {
        if (literals.some((l) => l.includes("'"))) return `directory "${name}=…": a quote in the time pattern is not a literal in Java date formats`;
        // projection.<key>.range is "a two-element comma-separated list": a comma in the values would split it.
        if (literals.some((l) => l.includes(','))) return `directory "${name}=…": a comma in the time pattern would split the date projection's range (a comma-separated pair)`;
        const last = tokens[tokens.length - 1];
        // Date projections are "generated in Coordinated Universal Time (UTC) at query execution time": a day more
        // at the end reaches the prefixes of time zones ahead of UTC and of producers' clocks running ahead.
        return {
          key: { name, type: 'string', comment: `record time as ${patternText(part.pattern)} in ${timezone}, from ${opts.startDate}` },
          projection: { type: 'date', format: patternText(part.pattern), range: `${formatStart(opts.startDate, part.pattern)},NOW+1DAYS`, interval: '1', 'interval.unit': TIME_UNIT[last] },
        };
      }
      if (tokens.length === 1 && literals.length === 0 && TIME_RANGE[tokens[0]]) {
        const [min, max, digits] = TIME_RANGE[tokens[0]];
        return { key: { name, type: 'string' }, projection: { type: 'integer', range: `${min},${max}`, digits: String(digits) } };
      }
      return `directory "${name}={{timestamp:${patternText(part.pattern)}}}": a projected time is a pattern from yyyy down (yyyy, yyyy-MM-dd, yyyy-MM-dd-HH, …) or one field alone (MM, dd, HH, mm, ss)`;
    }
    default:
      return `directory "${name}={{${part.kind}}}": an offset names objects, not a partition of them`;
  }
}

/**
 * The tables over the sink's objects, or every reason there can be none (CatalogError). `cfg` is the sink's
 * configuration as deployed (lambdas/shared/config.ts).
 */
export function catalogTables(cfg: SinkConfig, opts: CatalogOptions): CatalogTableSpec[] {
  const problems: string[] = [];
  const storage = storageOf(cfg);
  if (typeof storage === 'string') problems.push(storage);
  const { dirs: layout, unclassified } = keyLayout(cfg.keyTemplate.parts);
  for (const dir of unclassified) {
    problems.push(`keyTemplate directory "${dir}" is not Hive-style (name={{variable}}): partition projection and Hive readers take a partition's value from a directory named key=value, so no table can be registered; write it as e.g. dt={{timestamp:yyyy-MM-dd}}`);
  }
  const partitionDirs = layout.filter((d): d is Extract<LayoutDir, { kind: 'partition' }> => d.kind === 'partition');
  const columnNames = new Set(typeof storage === 'string' ? [] : storage.columns.map((c) => c.name));
  const seenNames = new Set<string>();
  for (const d of partitionDirs) {
    if (!PARTITION_NAME.test(d.name)) problems.push(`keyTemplate directory "${d.name}=…": a partition key is lowercase letters, digits and _ (starting with a letter or _), as Glue and Athena name columns`);
    else if (seenNames.has(d.name)) problems.push(`keyTemplate names the partition "${d.name}" twice`);
    else if (columnNames.has(d.name)) problems.push(`keyTemplate directory "${d.name}=…" has the name of a column of the records; Athena refuses a partition key named like a column: rename the directory (e.g. kafka_${d.name}=…)`);
    seenNames.add(d.name);
  }
  const tables = new Map<string, string[]>();
  for (const [topic, table] of opts.routes) (tables.get(table) ?? tables.set(table, []).get(table)!).push(topic);
  const topicDir = layout.some((d) => d.kind === 'topic');
  const topicPartition = partitionDirs.some((d) => d.part.kind === 'topic');
  for (const [table, topics] of tables) {
    if (!GLUE_NAME.test(table)) problems.push(`table "${table}" must be 1-255 of a-z 0-9 _ (Glue and Athena table names)`);
    if (topicDir && topics.length > 1) {
      problems.push(`topics ${topics.join(', ')} share table "${table}", but keyTemplate puts each topic in a directory of its own ({{topic}}/…): make the topic a partition (kafka_topic={{topic}}/…), or give each topic its own table`);
    }
  }
  if (!topicDir && !topicPartition && tables.size > 1) {
    problems.push(`keyTemplate puts every topic's objects in the same directories ({{topic}} only in the file name), so each of the tables ${[...tables.keys()].join(', ')} would read all topics: put the topic in a directory ({{topic}}/… or kafka_topic={{topic}}/…), or route every topic to one table with catalogTables`);
  }
  const specs: CatalogTableSpec[] = [];
  for (const [name, topics] of tables) {
    const partitions: Partition[] = [];
    for (const d of partitionDirs) {
      const p = partitionOf(d.name, d.part, topics, opts, cfg.timezone);
      if (typeof p === 'string') problems.push(`keyTemplate ${p}`);
      else partitions.push(p);
    }
    // The table's root: the directories before the first partition (a topic's own directory is rendered).
    const render = (d: LayoutDir) => (d.kind === 'text' ? d.text : d.kind === 'topic' ? safeKeyValue(topics[0]) : `${d.name}=\${${d.name}}`);
    const first = layout.findIndex((d) => d.kind === 'partition');
    const root = (first < 0 ? layout : layout.slice(0, first)).map(render);
    const locationPrefix = `${cfg.prefix}${root.map((s) => `${s}/`).join('')}`;
    // "Use a trailing slash for your folder or bucket" (Athena user guide, "Table location in Amazon S3").
    if (locationPrefix !== '' && !locationPrefix.endsWith('/')) {
      problems.push(`prefix=${JSON.stringify(cfg.prefix)}: the table's location would be "${locationPrefix}", not a folder (Athena reads a location as a folder, ending with /): end prefix with /`);
    }
    // A table without partitions reads everything under its location: never the dead letters or checkpoints.
    if (first < 0) {
      for (const [key, other] of [['errorPrefix', cfg.errorPrefix], ['statePrefix', cfg.statePrefix]] as const) {
        if (other.startsWith(locationPrefix)) problems.push(`${key}=${JSON.stringify(other)} lies under the location of table "${name}" (s3://…/${locationPrefix}), which has no partitions and so reads everything below it: give keyTemplate a directory, or set prefix`);
      }
    }
    if (typeof storage === 'string') continue;
    specs.push({
      name,
      topics,
      locationPrefix,
      partitionTemplate: first < 0 ? undefined : `${cfg.prefix}${layout.map((d) => `${render(d)}/`).join('')}`,
      partitionKeys: partitions.map((p) => p.key),
      projection: Object.fromEntries(partitions.map((p) => [p.key.name, p.projection])),
      columns: storage.columns,
      serde: storage.serde,
      inputFormat: storage.inputFormat,
      outputFormat: storage.outputFormat,
      parameters: storage.parameters,
    });
  }
  if (problems.length > 0 || typeof storage === 'string') throw new CatalogError([...new Set(problems)]);
  return specs;
}

/** The table parameters Athena reads a spec's partitions with, for a bucket. */
export function projectionParameters(spec: CatalogTableSpec, bucket: string): Record<string, string> {
  if (!spec.partitionTemplate) return {};
  const out: Record<string, string> = { 'projection.enabled': 'true', 'storage.location.template': `s3://${bucket}/${spec.partitionTemplate}` };
  for (const [key, params] of Object.entries(spec.projection)) {
    for (const [param, value] of Object.entries(params)) out[`projection.${key}.${param}`] = value;
  }
  return out;
}

/** The context keys of the catalog (lib/config.ts), as parsed. */
export interface CatalogContext {
  readonly catalog?: boolean;
  readonly catalogDatabase?: string;
  readonly catalogTables?: string;
  readonly catalogPartitionCount?: number;
  readonly catalogStartDate?: string;
  readonly topics?: readonly string[];
}

export interface CatalogConfig {
  readonly database: string;
  readonly tables: readonly CatalogTableSpec[];
}

/**
 * The catalog the context asks for (undefined with catalog=false), or its problems, each naming its key. `sink` is
 * the sink's configuration as deployed, undefined when it has problems of its own (reported already).
 */
export function catalogFromContext(c: CatalogContext, sink: SinkConfig | undefined, pipelineName: string): { config?: CatalogConfig; problems: string[] } {
  const problems: string[] = [];
  if (!c.catalog) {
    for (const key of ['catalogDatabase', 'catalogTables', 'catalogPartitionCount'] as const) {
      if (c[key] !== undefined) problems.push(`${key}=${show(c[key])}: only with catalog=true`);
    }
    return { problems };
  }
  if (!sink || !c.topics || !c.catalogStartDate) return { problems };
  let routes: Map<string, string>;
  try {
    routes = tableRoutes(c.topics, c.catalogTables, 'catalogTables');
  } catch (err) {
    return { problems: [`catalogTables=${show(c.catalogTables)}: ${(err as Error).message}`] };
  }
  try {
    const tables = catalogTables(sink, { routes, partitionCount: c.catalogPartitionCount, startDate: c.catalogStartDate });
    return { config: { database: c.catalogDatabase ?? pipelineName.replace(/-/g, '_'), tables }, problems };
  } catch (err) {
    if (!(err instanceof CatalogError)) throw err;
    return { problems: err.problems.map((p) => `catalog='true': ${p}`) };
  }
}

/**
 * The tables over the compacted view (compaction=true): the same columns, SerDe and partitions, read through each
 * window's symlink file (lambdas/compactor), which lists the window's compacted files and is replaced in one PUT, so
 * a query sees one whole generation of a window. Named <table>_compacted.
 */
export function compactedTables(tables: readonly CatalogTableSpec[], sinkPrefix: string, compactedPrefix: string): CatalogTableSpec[] {
  const moved = (key: string) => `${compactedPrefix}symlinks/${key.slice(sinkPrefix.length)}`;
  return tables.map((t) => ({
    ...t,
    name: `${t.name}_compacted`,
    locationPrefix: moved(t.locationPrefix),
    partitionTemplate: t.partitionTemplate === undefined ? undefined : moved(t.partitionTemplate),
    // Hive's symlink input: each file at the location lists data files, one s3:// URI a line (as S3 Inventory's).
    inputFormat: 'org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat',
  }));
}
