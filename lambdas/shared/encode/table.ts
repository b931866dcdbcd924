/**
 * Rows of one object as typed columns (for csv, avro, parquet): the value's fields (configured or inferred
 * schema), then the chosen Kafka metadata as `_kafka_*` columns, which no value field may use.
 * With an inferred schema, what only the object as a whole shows is decided here, before anything is encoded, and
 * the records concerned are handed back as rejected (dead letters): a field named like a column of the object but
 * for letter case (the first spelling names the column), a field that would add a column past
 * Limits.maxInferredFields, and (csv) a row that would be a blank line.
 */
import type { SinkConfig } from '../config.ts';
import { Limits, MetadataColumnPrefix } from '../constants.ts';
import type { SinkRecord } from '../convert.ts';
import type { RType } from '../registry/types.ts';
import { AVRO_NAME, inferTable, type Column, type FieldRow, type TableSchema } from '../schema.ts';

/** Full names of the named types in a registry type. */
function registryNames(t: RType, out = new Set<string>()): Set<string> {
  if ((t.kind === 'record' || t.kind === 'enum' || t.kind === 'fixed') && out.has(t.name)) return out;
  if (t.kind === 'record' || t.kind === 'enum' || t.kind === 'fixed') out.add(t.name);
  if (t.kind === 'record') for (const f of t.fields) registryNames(f.type, out);
  if (t.kind === 'array') registryNames(t.items, out);
  if (t.kind === 'map') registryNames(t.values, out);
  if (t.kind === 'union') for (const b of t.branches) registryNames(b, out);
  return out;
}

export interface Table {
  readonly name: string;
  readonly namespace?: string;
  readonly columns: readonly Column[];
  /** Column-major cell values, see toCell for the representation per type. */
  readonly data: readonly unknown[][];
  readonly rowCount: number;
}

const meta = (name: string) => `${MetadataColumnPrefix}${name}`;

export interface BuiltTable {
  readonly table: Table;
  /** Records left out of the table, with the reason (dead-lettered by the caller). */
  readonly rejected: readonly { readonly record: SinkRecord; readonly reason: string }[];
}

/** A record's top-level value field names: listed by the JSON check (jsonl) or parsed (columnar formats). An array,
 * not a generator: this runs for every record, and the JSON check's list is reused as it is. */
function namesOf(r: SinkRecord): readonly string[] {
  if (r.fieldNames) return r.fieldNames;
  const names: string[] = [];
  for (const k in (r.value ?? {}) as Record<string, unknown>) names.push(k);
  return names;
}

const NO_FIELDS: FieldRow = { names: [], values: [] };

/** A record's top-level fields for inferred columns: taken from the bytes by convert (fieldValues), or from the
 * parsed value (a key template that reads value fields keeps it). */
function fieldRow(r: SinkRecord): FieldRow {
  if (r.fieldValues) return { names: r.fieldNames!, values: r.fieldValues };
  if (r.value === null || r.value === undefined) return NO_FIELDS;
  const names = namesOf(r);
  const obj = r.value as Record<string, unknown>;
  return { names, values: names.map((k) => obj[k]) };
}

/**
 * Splits records into those whose fields fit the object's inferred columns and those that cannot. jsonl uses it
 * too: readers such as DuckDB infer one column per top-level name across the file's lines.
 */
export function admit(records: readonly SinkRecord[]): { kept: SinkRecord[]; rejected: BuiltTable['rejected'] } {
  const columns = new Set<string>(); // the object's column names, as spelled
  const spelling = new Map<string, string>(); // folded name -> the column's name
  const kept: SinkRecord[] = [];
  const rejected: { record: SinkRecord; reason: string }[] = [];
  // The list of the last record kept: the JSON check hands out one list for values with the same names.
  let admitted: readonly string[] | undefined;
  for (const r of records) {
    let reason: string | undefined;
    let added: string[] | undefined;
    const names = namesOf(r);
    if (names === admitted) {
      kept.push(r);
      continue;
    }
    for (let i = 0; i < names.length; i++) {
      const k = names[i];
      if (columns.has(k)) continue; // the common case: a name the object already has
      const folded = k.toLowerCase();
      const column = spelling.get(folded);
      if (column !== undefined) {
        reason = `value field ${JSON.stringify(k)} differs only in letter case from column ${JSON.stringify(column)} of this object (case-insensitive readers cannot tell them apart)`;
        break;
      }
      (added ??= []).push(k);
    }
    if (reason === undefined && added && spelling.size + added.length > Limits.maxInferredFields) {
      reason = `value would make ${spelling.size + added.length} columns in this object (${added.length} new), over ${Limits.maxInferredFields} (use AVRO_SCHEMA, or VALUE_ENCODING=text)`;
    }
    if (reason !== undefined) {
      rejected.push({ record: r, reason });
      continue;
    }
    for (const k of added ?? []) {
      columns.add(k);
      spelling.set(k.toLowerCase(), k);
    }
    kept.push(r);
    admitted = names;
  }
  return { kept, rejected };
}

/** Whether the value's columns are inferred per object (JSON values, no schema): objects may then differ in columns. */
export function inferredColumns(cfg: Pick<SinkConfig, 'fields' | 'valueEncoding' | 'schema'>): boolean {
  return cfg.fields.includes('value') && cfg.valueEncoding === 'json' && !cfg.schema;
}

/** The registry record type of an object's values (one schema per object: partition.ts cuts where it changes). */
function registryRecordOf(records: readonly SinkRecord[]): Extract<RType, { kind: 'record' }> | undefined {
  for (const r of records) if (r.registry) return r.registry.type.kind === 'record' ? r.registry.type : undefined;
  return undefined;
}

/** A field name inside a registry type that Avro cannot hold (JSON Schema properties may be any text), or undefined. */
function badAvroName(t: RType, seen = new Set<RType>()): string | undefined {
  if (seen.has(t)) return undefined;
  seen.add(t);
  if (t.kind === 'record') {
    for (const f of t.fields) {
      if (!AVRO_NAME.test(f.name)) return f.name;
      const bad = badAvroName(f.type, seen);
      if (bad !== undefined) return bad;
    }
  }
  if (t.kind === 'array') return badAvroName(t.items, seen);
  if (t.kind === 'map') return badAvroName(t.values, seen);
  if (t.kind === 'union') for (const b of t.branches) { const bad = badAvroName(b, seen); if (bad !== undefined) return bad; }
  return undefined;
}

export function buildTable(cfg: SinkConfig, all: readonly SinkRecord[]): BuiltTable {
  // SCHEMA_REGISTRY without AVRO_SCHEMA: the registry's record type gives the value columns, nothing is inferred.
  const registry = cfg.schema || !cfg.fields.includes('value') || cfg.valueEncoding !== 'json' ? undefined : registryRecordOf(all);
  const badName = registry && cfg.format === 'avro' ? badAvroName(registry) : undefined;
  if (badName !== undefined) {
    const reason = `the value's schema has a field named ${JSON.stringify(badName)}, which is not a valid Avro name ([A-Za-z_][A-Za-z0-9_]*); write it as parquet or jsonl`;
    return { table: { name: 'KafkaRecord', columns: [], data: [], rowCount: 0 }, rejected: all.map((record) => ({ record, reason })) };
  }
  const inferred = inferredColumns(cfg) && registry === undefined;
  const { kept: records, rejected } = inferred ? admit(all) : { kept: [...all], rejected: [] };
  const columns: Column[] = [];
  const data: unknown[][] = [];
  const add = (col: Column, values: unknown[]) => {
    columns.push(col);
    data.push(values);
  };

  if (cfg.fields.includes('value')) {
    if (cfg.valueEncoding === 'json') {
      let schema: TableSchema;
      if (registry) {
        // Every column nullable: a tombstone written (TOMBSTONES=write) leaves them null.
        for (const f of registry.fields) {
          add({ name: f.name, type: 'registry', registry: f.type, nullable: true }, records.map((r) =>
            (r.registry?.type === registry ? (r.registry.value as Record<string, unknown>)[f.name] : null)));
        }
      } else if (cfg.schema) {
        schema = cfg.schema;
        schema.columns.forEach((c, i) => add(c, records.map((r) => (r.cells ? r.cells[i] : null))));
      } else {
        const inferred = inferTable(records.map(fieldRow));
        schema = inferred.schema;
        schema.columns.forEach((c, i) => add(c, inferred.data[i]));
      }
    } else {
      const type = cfg.valueEncoding === 'base64' ? 'bytes' : 'string';
      add({ name: meta('value'), type, nullable: true }, records.map((r) =>
        r.record.value === null ? null : type === 'bytes' ? r.record.value : r.valueText));
    }
  }
  for (const f of cfg.fields) {
    switch (f) {
      case 'key':
        add({ name: meta('key'), type: cfg.keyEncoding === 'base64' ? 'bytes' : 'string', nullable: true },
          records.map((r) => (cfg.keyEncoding === 'base64' ? r.record.key : r.keyText)));
        break;
      case 'headers':
        add({ name: meta('headers'), type: 'json', nullable: false }, records.map((r) => r.headersJson));
        break;
      case 'topic':
        add({ name: meta('topic'), type: 'string', nullable: false }, records.map((r) => r.record.topic));
        break;
      case 'partition':
        add({ name: meta('partition'), type: 'int', nullable: false }, records.map((r) => r.record.partition));
        break;
      case 'offset':
        add({ name: meta('offset'), type: 'long', nullable: false }, records.map((r) => r.record.offset));
        break;
      case 'timestamp':
        add({ name: meta('timestamp'), type: 'timestamp-millis', nullable: false }, records.map((r) => r.record.timestamp));
        break;
      case 'value':
        break;
    }
  }
  // The file's record is KafkaRecord, unless a registry type of the value is named so (Avro names are unique).
  let name = cfg.schema?.name ?? 'KafkaRecord';
  if (registry && !cfg.schema) {
    const taken = registryNames(registry);
    for (let n = 1; taken.has(name); n++) name = `KafkaRecord_${n}`;
  }
  const table = { name, namespace: cfg.schema?.namespace, columns, data, rowCount: records.length };
  // Rows of nothing: no columns at all (FIELDS=value and only empty values or tombstones), or a CSV row of one empty
  // cell, which is a blank line that CSV readers skip. Such records are set aside, never written invisibly.
  const csv = cfg.format === 'csv' || cfg.format === 'csv_with_headers';
  const blank = columns.length === 0 ? records : csv && columns.length === 1 ? records.filter((_, i) => data[0][i] === null) : [];
  if (blank.length > 0) {
    const reason = columns.length === 0
      ? 'the row would have no columns (FIELDS=value and no value fields); readers refuse zero-column files'
      : 'the row would be a blank CSV line (one column, null), which CSV readers skip';
    const out = new Set(blank);
    const rest = buildTable(cfg, records.filter((r) => !out.has(r)));
    return { table: rest.table, rejected: [...rejected, ...blank.map((record) => ({ record, reason })), ...rest.rejected] };
  }
  return { table, rejected };
}
