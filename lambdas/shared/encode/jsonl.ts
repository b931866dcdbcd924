/** JSON lines: one record per line, an envelope of the chosen fields (or the bare value with ENVELOPE=false). */
import type { SinkConfig } from '../config.ts';
import type { SinkRecord } from '../convert.ts';

export function encodeJsonl(cfg: SinkConfig, records: readonly SinkRecord[]): Buffer {
  const parts: string[] = [];
  if (!cfg.envelope) {
    for (const r of records) parts.push(r.valueText ?? 'null');
    return Buffer.from(parts.join('\n') + '\n', 'utf8');
  }
  const fields = cfg.fields;
  const valueJson = cfg.valueEncoding === 'json';
  for (const r of records) {
    const rec = r.record;
    let line = '{';
    for (let i = 0; i < fields.length; i++) {
      if (i > 0) line += ',';
      switch (fields[i]) {
        case 'topic': line += `"topic":${JSON.stringify(rec.topic)}`; break;
        case 'partition': line += `"partition":${rec.partition}`; break;
        case 'offset': line += `"offset":${rec.offset}`; break;
        case 'timestamp': line += `"timestamp":"${new Date(rec.timestamp).toISOString()}"`; break;
        case 'key': line += `"key":${r.keyText === null ? 'null' : JSON.stringify(r.keyText)}`; break;
        case 'headers': line += `"headers":${JSON.stringify(r.headers)}`; break;
        case 'value':
          line += `"value":${r.valueText === null ? 'null' : valueJson ? r.valueText : JSON.stringify(r.valueText)}`;
          break;
      }
    }
    parts.push(line + '}');
  }
  return Buffer.from(parts.join('\n') + '\n', 'utf8');
}
