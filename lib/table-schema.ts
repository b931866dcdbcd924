/**
 * Iceberg table schemas for the S3 Tables stack, from configuration: a schema file (an Avro record schema, or
 * `{"columns": [...]}`, or `{"tables": {"<table>": {"columns": [...]}}}`) or inline `name:type` columns. The Kafka
 * metadata columns (`_kafka_*`) are appended to every table; names are lowercase, as Glue and Athena need.
 */
import { MetadataColumnPrefix } from '../lambdas/shared/constants.ts';

export interface IcebergColumn {
  readonly name: string;
  readonly type: string;
  readonly required: boolean;
}

/** Iceberg primitive types Firehose writes from JSON (timestamps arrive as epoch microseconds). */
const PRIMITIVE = /^(boolean|int|long|float|double|string|binary|date|time|timestamp|timestamptz|uuid|decimal\((\d{1,2}),\s*(\d{1,2})\))$/;
/** S3 Tables names (tables, namespaces): lowercase letters, digits and _, starting and ending with a letter or digit. */
export const TABLE_NAME = /^[a-z0-9]([a-z0-9_]{0,253}[a-z0-9])?$/;
export const COLUMN_NAME = /^[a-z_][a-z0-9_]{0,254}$/;

/** The metadata columns the forwarder writes (see lambdas/forwarder/document.ts). */
export const KafkaMetadataColumns: readonly IcebergColumn[] = [
  { name: `${MetadataColumnPrefix}topic`, type: 'string', required: false },
  { name: `${MetadataColumnPrefix}partition`, type: 'int', required: false },
  { name: `${MetadataColumnPrefix}offset`, type: 'long', required: false },
  { name: `${MetadataColumnPrefix}timestamp`, type: 'timestamptz', required: false },
  { name: `${MetadataColumnPrefix}key`, type: 'string', required: false },
  { name: `${MetadataColumnPrefix}headers`, type: 'string', required: false },
];
/** The whole value as text, for tables without a value schema. */
export const ValueColumn: IcebergColumn = { name: `${MetadataColumnPrefix}value`, type: 'string', required: false };

const AVRO_TO_ICEBERG: Record<string, string> = {
  boolean: 'boolean', int: 'int', long: 'long', float: 'float', double: 'double', string: 'string', bytes: 'binary',
};

function avroColumn(f: { name?: unknown; type?: unknown }): IcebergColumn {
  let t = f.type;
  let required = true;
  if (Array.isArray(t)) {
    const rest = t.filter((x) => x !== 'null');
    if (rest.length !== 1) throw new Error(`field "${String(f.name)}": only unions of null and one type are supported`);
    required = rest.length === t.length;
    t = rest[0];
  }
  let type: string | undefined;
  if (typeof t === 'string') type = AVRO_TO_ICEBERG[t];
  else if (t && typeof t === 'object') {
    const o = t as Record<string, unknown>;
    // Firehose takes timestamp columns in microseconds: epoch milliseconds stay a long column.
    if (o.logicalType === 'timestamp-micros') type = 'timestamptz';
    else if (o.logicalType === 'timestamp-millis') type = 'long';
    else if (o.logicalType === 'date') type = 'date';
    else if (typeof o.type === 'string' && !o.logicalType) type = AVRO_TO_ICEBERG[o.type];
  }
  if (!type) throw new Error(`field "${String(f.name)}": Avro type ${JSON.stringify(t)} has no Iceberg column type here`);
  return { name: String(f.name), type, required };
}

function columnsFrom(spec: unknown, where: string): IcebergColumn[] {
  const o = spec as { columns?: unknown };
  if (!o || !Array.isArray(o.columns) || o.columns.length === 0) throw new Error(`${where}: expected {"columns": [{"name", "type", "required"?}, …]}`);
  return o.columns.map((c: { name?: unknown; type?: unknown; required?: unknown }) => ({
    name: String(c.name), type: String(c.type).toLowerCase(), required: c.required === true,
  }));
}

function check(table: string, columns: IcebergColumn[]): IcebergColumn[] {
  const seen = new Set<string>();
  for (const c of columns) {
    if (!COLUMN_NAME.test(c.name)) throw new Error(`table "${table}": column "${c.name}" must be lowercase letters, digits and _ (Glue and Athena need lowercase)`);
    if (c.name.startsWith(MetadataColumnPrefix)) throw new Error(`table "${table}": column "${c.name}" uses the prefix "${MetadataColumnPrefix}" reserved for Kafka metadata`);
    const dec = /^decimal\((\d+),\s*(\d+)\)$/.exec(c.type);
    if (dec && (Number(dec[1]) < 1 || Number(dec[1]) > 38 || Number(dec[2]) > Number(dec[1]))) {
      throw new Error(`table "${table}": column "${c.name}" has type "${c.type}"; decimal precision is 1-38 and the scale at most the precision`);
    }
    if (!PRIMITIVE.test(c.type)) throw new Error(`table "${table}": column "${c.name}" has type "${c.type}"; use boolean, int, long, float, double, decimal(p,s), string, binary, date, time, timestamp, timestamptz or uuid`);
    if (seen.has(c.name)) throw new Error(`table "${table}": column "${c.name}" appears twice`);
    seen.add(c.name);
  }
  return columns;
}

/**
 * Value columns per table. `tables` are the destination tables; the result has an entry for each, or is undefined
 * when no schema is configured (the tables then hold the value as text in `_kafka_value`).
 */
export function parseTableSchemas(tables: readonly string[], schemaText?: string, inlineColumns?: string): Map<string, IcebergColumn[]> | undefined {
  if (schemaText === undefined && inlineColumns === undefined) return undefined;
  const out = new Map<string, IcebergColumn[]>();
  if (inlineColumns !== undefined) {
    const cols = inlineColumns.split(',').map((p) => p.trim()).filter(Boolean).map((p) => {
      const m = /^([^:]+):(.+?)(!)?$/.exec(p);
      if (!m) throw new Error(`"${p}" is not name:type (append ! for a required column)`);
      return { name: m[1].trim(), type: m[2].trim().toLowerCase(), required: m[3] === '!' };
    });
    for (const t of tables) out.set(t, check(t, cols));
    return out;
  }
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(schemaText!) as Record<string, unknown>;
  } catch (err) {
    throw new Error(`not valid JSON (${(err as Error).message})`);
  }
  if (doc.type === 'record' && Array.isArray(doc.fields)) {
    const cols = (doc.fields as { name?: unknown; type?: unknown }[]).map(avroColumn);
    for (const t of tables) out.set(t, check(t, cols));
  } else if (doc.tables && typeof doc.tables === 'object') {
    const per = doc.tables as Record<string, unknown>;
    for (const t of tables) {
      if (!(t in per)) throw new Error(`no schema for table "${t}" (the file's "tables" has ${Object.keys(per).join(', ') || 'none'})`);
      out.set(t, check(t, columnsFrom(per[t], `tables.${t}`)));
    }
    const extra = Object.keys(per).filter((k) => !tables.includes(k));
    if (extra.length > 0) throw new Error(`schemas for tables no topic is routed to: ${extra.join(', ')}`);
  } else {
    const cols = columnsFrom(doc, 'schema');
    for (const t of tables) out.set(t, check(t, cols));
  }
  return out;
}

/** Topic → table: from `topic=table` pairs, else each topic's own name made a valid table name. */
export function tableRoutes(topics: readonly string[], routes?: string, key = 'tables'): Map<string, string> {
  const map = new Map<string, string>();
  const given = new Map<string, string>();
  for (const pair of (routes ?? '').split(',').map((p) => p.trim()).filter(Boolean)) {
    const [topic, table, ...rest] = pair.split('=');
    if (!topic || !table || rest.length > 0) throw new Error(`"${pair}" is not topic=table`);
    if (!TABLE_NAME.test(table)) throw new Error(`table "${table}" must be lowercase letters, digits and _ (starting and ending with a letter or digit)`);
    if (!topics.includes(topic)) throw new Error(`"${topic}" is not one of the topics (${topics.join(', ')})`);
    given.set(topic, table);
  }
  for (const t of topics) {
    const table = given.get(t) ?? t.toLowerCase().replace(/[^a-z0-9_]/g, '_').replace(/^_+|_+$/g, '');
    if (!table) throw new Error(`topic "${t}" gives no valid table name; route it with ${key}=${t}=<table>`);
    map.set(t, table);
  }
  return map;
}
