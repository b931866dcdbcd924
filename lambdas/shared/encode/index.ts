/** Stage 5 — encode: one planned object's records → the bytes of the object in the configured format. */
import type { SinkConfig } from '../config.ts';
import type { SinkRecord } from '../convert.ts';
import { encodeAvro, type AvroCodec } from './avro.ts';
import { encodeCsv } from './csv.ts';
import { encodeJsonl } from './jsonl.ts';
import { encodeParquet, type ParquetCodec } from './parquet.ts';
import { encodeBytes, encodeText } from './raw.ts';
import { buildTable } from './table.ts';

export function encodeObject(cfg: SinkConfig, records: readonly SinkRecord[]): Buffer {
  switch (cfg.format) {
    case 'jsonl': return encodeJsonl(cfg, records);
    case 'text': return encodeText(records);
    case 'bytes': return encodeBytes(cfg, records);
    case 'csv': return encodeCsv(buildTable(cfg, records), false);
    case 'csv_with_headers': return encodeCsv(buildTable(cfg, records), true);
    case 'avro': return encodeAvro(buildTable(cfg, records), cfg.compression as AvroCodec, cfg.compressionLevel);
    case 'parquet':
      return encodeParquet(buildTable(cfg, records), cfg.compression as ParquetCodec, cfg.parquetRowGroupSize, cfg.compressionLevel);
  }
}
