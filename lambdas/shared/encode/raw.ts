/** text (one UTF-8 value per line) and bytes (raw values joined by a separator). Values that hold a line
 * terminator (text) or the separator (bytes) never get here: convertRecord sets them aside. */
import type { SinkConfig } from '../config.ts';
import type { SinkRecord } from '../convert.ts';

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
