/**
 * JSON lines: one record per line, an envelope of the chosen fields (or the bare value with ENVELOPE=false).
 * Lines are written straight into one growing buffer; a single-line JSON value is copied as its original bytes,
 * which keeps big integers exact and skips a decode/encode round trip.
 */
import type { SinkConfig } from '../config.ts';
import { hasLineBreak, RAW_JSON_TEXT, type SinkRecord } from '../convert.ts';
import { ByteSink } from './byte-sink.ts';

const NEEDS_ESCAPE = /["\\\u0000-\u001f\u2028\u2029\ud800-\udfff]/;

/** JSON string literal; the common case (nothing to escape) skips JSON.stringify. */
export function jsonString(s: string): string {
  return NEEDS_ESCAPE.test(s) ? JSON.stringify(s) : `"${s}"`;
}

/** ISO-8601 UTC text of epoch ms; the seconds part is cached since records of a batch share it. */
export class IsoTime {
  private second = NaN;
  private prefix = '';
  format(ms: number): string {
    const sec = Math.floor(ms / 1000);
    if (sec !== this.second) {
      this.second = sec;
      this.prefix = new Date(sec * 1000).toISOString().slice(0, -4);
    }
    const frac = ms - sec * 1000;
    return `${this.prefix}${frac < 10 ? '00' : frac < 100 ? '0' : ''}${frac}Z`;
  }
}

function headersJson(headers: SinkRecord['headers']): string {
  if (headers.length === 0) return '[]';
  let s = '[';
  for (let i = 0; i < headers.length; i++) {
    s += `${i > 0 ? ',' : ''}{"key":${jsonString(headers[i].key)},"value":${headers[i].value === null ? 'null' : jsonString(headers[i].value as string)}}`;
  }
  return s + ']';
}

export function encodeJsonl(cfg: SinkConfig, records: readonly SinkRecord[]): Buffer {
  let estimate = 0;
  for (const r of records) estimate += (r.record.value?.length ?? 4) + 160 + (r.keyText?.length ?? 0) + r.headers.length * 40;
  const out = new ByteSink(estimate);
  const valueJson = cfg.valueEncoding === 'json';
  const writeValue = (r: SinkRecord) => {
    const raw = r.record.value;
    if (r.valueText === null || raw === null) out.string('null');
    else if (!valueJson) out.string(jsonString(r.valueText));
    else if (r.valueText === RAW_JSON_TEXT || !hasLineBreak(raw)) out.bytes(raw); // RAW_JSON_TEXT: convert saw one line
    else out.string(r.valueText);
  };
  if (!cfg.envelope) {
    for (const r of records) {
      writeValue(r);
      out.string('\n');
    }
    return out.result();
  }
  const fields = cfg.fields;
  const iso = new IsoTime();
  // The text between two values (one line's end, the next one's start) goes out in one write.
  let line = '';
  for (const r of records) {
    const rec = r.record;
    line += '{';
    for (let i = 0; i < fields.length; i++) {
      if (i > 0) line += ',';
      switch (fields[i]) {
        case 'topic': line += `"topic":${jsonString(rec.topic)}`; break;
        case 'partition': line += `"partition":${rec.partition}`; break;
        case 'offset': line += `"offset":${rec.offset}`; break;
        case 'timestamp': line += `"timestamp":"${iso.format(rec.timestamp)}"`; break;
        case 'key': line += `"key":${r.keyText === null ? 'null' : jsonString(r.keyText)}`; break;
        case 'headers': line += `"headers":${headersJson(r.headers)}`; break;
        case 'value':
          out.string(line + '"value":');
          writeValue(r);
          line = '';
          break;
      }
    }
    line += '}\n';
  }
  out.string(line);
  return out.result();
}
