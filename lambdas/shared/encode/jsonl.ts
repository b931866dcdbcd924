/**
 * JSON lines: one record per line, an envelope of the chosen fields (or the bare value with ENVELOPE=false).
 * Lines are written as bytes straight into one growing buffer, with no string per record: a single-line JSON value
 * is copied as its original bytes (big integers stay exact, no decode/encode round trip), the key and header values
 * are escaped from their bytes (convert checked them: UTF-8, or base64 per their encoding), and the envelope's
 * fixed parts (names, the topic, the timestamp's second) are encoded once. The output is byte for byte what
 * JSON.stringify of the envelope's strings writes (test/lambdas/shared/jsonl-bytes.test.ts holds it to that).
 */
import type { SinkConfig } from '../config.ts';
import { hasLineBreak, RAW_JSON_TEXT, type SinkRecord } from '../convert.ts';
import type { KafkaHeader } from '../decode.ts';
import { ByteSink, IsoTime } from './byte-sink.ts';

const NEEDS_ESCAPE = /["\\\u0000-\u001f\u2028\u2029\ud800-\udfff]/;

/** JSON string literal; the common case (nothing to escape) skips JSON.stringify. */
export function jsonString(s: string): string {
  return NEEDS_ESCAPE.test(s) ? JSON.stringify(s) : `"${s}"`;
}

/** How JSON.stringify escapes each byte below 0x20 and the quote and backslash (null: the byte is written as it is). */
const ESCAPES: (Uint8Array | null)[] = Array.from({ length: 256 }, (_, c) => {
  if (c >= 0x20 && c !== 0x22 && c !== 0x5c) return null;
  return Buffer.from(JSON.stringify(String.fromCharCode(c)).slice(1, -1), 'latin1');
});
const PLAIN = new Uint8Array(256).map((_, c) => (ESCAPES[c] === null ? 1 : 0));

/** The output, with the JSON string writers. */
class LineWriter extends ByteSink {
  /** Text (a JS string) as its JSON string literal, UTF-8. */
  text(s: string): void {
    if (s.length > 64) {
      this.string(jsonString(s));
      return;
    }
    this.ensure(s.length * 6 + 2);
    const buf = this.buf;
    let p = this.pos;
    // ASCII with nothing to escape (names are, nearly always): one store per character.
    let k = 0;
    buf[p++] = 0x22;
    for (; k < s.length; k++) {
      const c = s.charCodeAt(k);
      if (c >= 0x80 || PLAIN[c] === 0) break;
      buf[p++] = c;
    }
    if (k < s.length) {
      this.string(jsonString(s));
      return;
    }
    buf[p++] = 0x22;
    this.pos = p;
  }
  /** UTF-8 bytes (checked by convert) as a JSON string literal: what JSON.stringify writes of their text. */
  utf8(b: Uint8Array): void {
    const n = b.length;
    this.ensure(n * 6 + 2);
    const buf = this.buf;
    let p = this.pos;
    buf[p++] = 0x22;
    for (let k = 0; k < n; k++) {
      const c = b[k];
      if (PLAIN[c] === 1) buf[p++] = c;
      else {
        const e = ESCAPES[c]!;
        for (let x = 0; x < e.length; x++) buf[p++] = e[x];
      }
    }
    buf[p++] = 0x22;
    this.pos = p;
  }
  /** Bytes as a JSON string of their base64. */
  base64(b: Buffer): void {
    this.byte(0x22);
    this.ascii(b.toString('base64'));
    this.byte(0x22);
  }
}

const ascii = (s: string) => Buffer.from(s, 'latin1');
const NULL = ascii('null');
const NAMES = {
  topic: ascii('"topic":'), partition: ascii('"partition":'), offset: ascii('"offset":'), timestamp: ascii('"timestamp":"'),
  key: ascii('"key":'), headers: ascii('"headers":'), value: ascii('"value":'),
};
const HEADER_KEY = ascii('{"key":');
const HEADER_VALUE = ascii(',"value":');
const EMPTY_LIST = ascii('[]');

export function encodeJsonl(cfg: SinkConfig, records: readonly SinkRecord[]): Buffer {
  let estimate = 0;
  for (const r of records) estimate += (r.record.value?.length ?? 4) + 160 + (r.record.key?.length ?? 0) * 2 + r.record.headers.length * 40;
  const out = new LineWriter(estimate);
  const valueJson = cfg.valueEncoding === 'json';
  const writeValue = (r: SinkRecord) => {
    const raw = r.record.value;
    if (r.valueText === null || raw === null) out.raw(NULL);
    else if (!valueJson) out.text(r.valueText);
    else if (r.valueText === RAW_JSON_TEXT || !hasLineBreak(raw)) out.bytes(raw); // RAW_JSON_TEXT: convert saw one line
    else out.string(r.valueText);
  };
  if (!cfg.envelope) {
    for (const r of records) {
      writeValue(r);
      out.byte(0x0a);
    }
    return out.result();
  }
  const fields = cfg.fields;
  const keyBase64 = cfg.keyEncoding === 'base64';
  const headerBase64 = cfg.headerEncoding === 'base64';
  const iso = new IsoTime();
  // An object's records share their topic: its literal is encoded once.
  let topic: string | undefined;
  let topicBytes: Uint8Array = NULL;
  const headerValue = (h: KafkaHeader) => {
    if (h.value === null) out.raw(NULL);
    else if (headerBase64) out.base64(h.value);
    else out.utf8(h.value);
  };
  for (const r of records) {
    const rec = r.record;
    out.byte(0x7b);
    for (let i = 0; i < fields.length; i++) {
      if (i > 0) out.byte(0x2c);
      switch (fields[i]) {
        case 'topic':
          if (rec.topic !== topic) topicBytes = Buffer.from(jsonString((topic = rec.topic)), 'utf8');
          out.raw(NAMES.topic);
          out.raw(topicBytes);
          break;
        case 'partition': out.raw(NAMES.partition); out.integer(rec.partition); break;
        case 'offset':
          out.raw(NAMES.offset);
          if (rec.offset <= 9_007_199_254_740_991n) out.integer(Number(rec.offset));
          else out.ascii(rec.offset.toString());
          break;
        case 'timestamp':
          out.raw(NAMES.timestamp);
          iso.write(out, rec.timestamp);
          out.byte(0x22);
          break;
        case 'key':
          out.raw(NAMES.key);
          if (rec.key === null) out.raw(NULL);
          else if (keyBase64) out.base64(rec.key);
          else out.utf8(rec.key);
          break;
        case 'headers': {
          out.raw(NAMES.headers);
          const headers = rec.headers;
          if (headers.length === 0) {
            out.raw(EMPTY_LIST);
            break;
          }
          out.byte(0x5b);
          for (let h = 0; h < headers.length; h++) {
            if (h > 0) out.byte(0x2c);
            out.raw(HEADER_KEY);
            out.text(headers[h].key);
            out.raw(HEADER_VALUE);
            headerValue(headers[h]);
            out.byte(0x7d);
          }
          out.byte(0x5d);
          break;
        }
        case 'value':
          out.raw(NAMES.value);
          writeValue(r);
          break;
      }
    }
    out.byte(0x7d);
    out.byte(0x0a);
  }
  return out.result();
}
