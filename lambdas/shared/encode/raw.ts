/** text (one UTF-8 value per line) and bytes (raw values joined by a separator). */
import type { SinkConfig } from '../config.ts';
import type { SinkRecord } from '../convert.ts';
import { RecordError } from '../errors.ts';

/** text cannot hold a line break inside a value: such records are dead-lettered before encoding. */
export function checkTextRecord(r: SinkRecord): void {
  const v = r.record.value;
  if (v !== null && (v.includes(10) || v.includes(13))) {
    throw new RecordError('encode', 'value contains a line break; the text format writes one value per line (use jsonl or bytes)');
  }
}

export function encodeText(records: readonly SinkRecord[]): Buffer {
  const parts: Buffer[] = [];
  const nl = Buffer.from('\n');
  for (const r of records) {
    if (r.record.value) parts.push(r.record.value);
    parts.push(nl);
  }
  return Buffer.concat(parts);
}

export function encodeBytes(cfg: SinkConfig, records: readonly SinkRecord[]): Buffer {
  const parts: Buffer[] = [];
  records.forEach((r, i) => {
    if (i > 0 && cfg.bytesSeparator.length > 0) parts.push(cfg.bytesSeparator);
    if (r.record.value) parts.push(r.record.value);
  });
  return Buffer.concat(parts);
}
