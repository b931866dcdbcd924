/**
 * Rows of one object as typed columns (for csv, avro, parquet): the value's fields (configured or inferred
 * schema), then the chosen Kafka metadata as `_kafka_*` columns, which no value field may use.
 */
import type { SinkConfig } from '../config.ts';
import { MetadataColumnPrefix } from '../constants.ts';
import type { SinkRecord } from '../convert.ts';
import { inferSchema, ownField, toCell, type Column, type TableSchema } from '../schema.ts';

export interface Table {
  readonly name: string;
  readonly namespace?: string;
  readonly columns: readonly Column[];
  /** Column-major cell values, see toCell for the representation per type. */
  readonly data: readonly unknown[][];
  readonly rowCount: number;
}

const meta = (name: string) => `${MetadataColumnPrefix}${name}`;

export function buildTable(cfg: SinkConfig, records: readonly SinkRecord[]): Table {
  const columns: Column[] = [];
  const data: unknown[][] = [];
  const add = (col: Column, values: unknown[]) => {
    columns.push(col);
    data.push(values);
  };

  if (cfg.fields.includes('value')) {
    if (cfg.valueEncoding === 'json') {
      let schema: TableSchema;
      if (cfg.schema) {
        schema = cfg.schema;
        schema.columns.forEach((c, i) => add(c, records.map((r) => (r.cells ? r.cells[i] : null))));
      } else {
        const objects = records.map((r) => (r.value ?? {}) as Record<string, unknown>);
        schema = inferSchema(objects);
        for (const c of schema.columns) add(c, objects.map((o) => toCell(c, ownField(o, c.name))));
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
        add({ name: meta('headers'), type: 'json', nullable: false }, records.map((r) => JSON.stringify(r.headers)));
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
  return { name: cfg.schema?.name ?? 'KafkaRecord', namespace: cfg.schema?.namespace, columns, data, rowCount: records.length };
}
