/** Stage 5 — encode: one planned object's records → the bytes of the object in the configured format. */
import type { SinkConfig } from '../config.ts';
import { MetadataColumnPrefix } from '../constants.ts';
import type { SinkRecord } from '../convert.ts';
import { encodeAvro, type AvroCodec } from './avro.ts';
import { encodeCsv } from './csv.ts';
import { encodeJsonl } from './jsonl.ts';
import { encodeParquet, type ParquetCodec } from './parquet.ts';
import { encodeBytes, encodeText } from './raw.ts';
import { admit, buildTable, type BuiltTable } from './table.ts';

export interface EncodedObject {
  readonly body: Buffer;
  /** Records the object as a whole could not hold (see buildTable), with the reason. */
  readonly rejected: BuiltTable['rejected'];
  /** Records in the body. */
  readonly records: readonly SinkRecord[];
  /** csv, avro, parquet: the positions of the columns holding JSON text (nested values), which the files' types
   * (a string) do not tell from text: a reader (the replay) parses them back into JSON. */
  readonly jsonColumns?: readonly number[];
}

function tabular(cfg: SinkConfig, records: readonly SinkRecord[], encode: (t: BuiltTable['table']) => Buffer): EncodedObject {
  const { table, rejected } = buildTable(cfg, records);
  const jsonColumns = table.columns.flatMap((c, i) => (c.type === 'json' && !c.name.startsWith(MetadataColumnPrefix) ? [i] : []));
  const body = table.rowCount === 0 ? Buffer.alloc(0) : encode(table);
  if (rejected.length === 0) return { body, rejected, records, jsonColumns };
  const out = new Set(rejected.map((x) => x.record));
  return { body, rejected, records: records.filter((r) => !out.has(r)), jsonColumns };
}

export function encodeObject(cfg: SinkConfig, records: readonly SinkRecord[]): EncodedObject {
  const whole = (body: Buffer): EncodedObject => ({ body, rejected: [], records });
  switch (cfg.format) {
    case 'jsonl': {
      if (!records.some((r) => r.fieldNames)) return whole(encodeJsonl(cfg, records));
      const { kept, rejected } = admit(records);
      return { body: kept.length === 0 ? Buffer.alloc(0) : encodeJsonl(cfg, kept), rejected, records: kept };
    }
    case 'text': return whole(encodeText(records));
    case 'bytes': return whole(encodeBytes(cfg, records));
    case 'csv': return tabular(cfg, records, (t) => encodeCsv(t, false));
    case 'csv_with_headers': return tabular(cfg, records, (t) => encodeCsv(t, true));
    case 'avro': return tabular(cfg, records, (t) => encodeAvro(t, cfg.compression as AvroCodec, cfg.compressionLevel));
    case 'parquet':
      return tabular(cfg, records, (t) => encodeParquet(t, cfg.compression as ParquetCodec, cfg.parquetRowGroupSize, cfg.compressionLevel));
  }
}
