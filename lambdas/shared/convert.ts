/**
 * Stage 3 — convert: a kept Kafka record → the text/values the encoders and key template need. Problems of one
 * record (not UTF-8, not JSON, does not fit the schema) throw RecordError and the record is dead-lettered.
 */
import { isUtf8 } from 'node:buffer';
import type { SinkConfig } from './config.ts';
import type { KafkaRecord } from './decode.ts';
import { RecordError } from './errors.ts';
import { isJson } from './json-validate.ts';
import { parseJsonExact, stringifyJsonExact, toSingleLine } from './json.ts';
import { checkFieldName, ownField, toCell } from './schema.ts';

export interface SinkRecord {
  readonly record: KafkaRecord;
  /** Key per KEY_ENCODING (text or base64), null when the record has no key. */
  readonly keyText: string | null;
  /** Value per VALUE_ENCODING: single-line JSON text, UTF-8 text or base64; null for a tombstone. */
  readonly valueText: string | null;
  /** Parsed JSON value, when VALUE_ENCODING=json and the format or key template needs fields. */
  readonly value?: unknown;
  /** Value cells in schema column order, when a schema is configured. */
  readonly cells?: readonly unknown[];
  readonly headers: readonly { readonly key: string; readonly value: string }[];
  /** Raw bytes of key, value and headers: what MAX_OBJECT_BYTES counts. */
  readonly rawBytes: number;
}

function text(buf: Buffer, what: string): string {
  if (!isUtf8(buf)) throw new RecordError('convert', `${what} is not valid UTF-8 (use base64 encoding for binary data)`);
  return buf.toString('utf8');
}

export interface ConvertPlan {
  /** Keep the parsed JSON value (columnar/CSV formats, or {{value.…}} in the key template). */
  readonly needsValue: boolean;
  readonly needsObject: boolean;
  readonly avroNames: boolean;
  /** The key and headers are checked and encoded only when something writes them: a binary header the output never
   * holds must not dead-letter its record. */
  readonly needsKey: boolean;
  readonly needsHeaders: boolean;
  /** How the value is read: per VALUE_ENCODING; 'utf8' (text format: UTF-8 lines); 'raw' (bytes format, or the value
   * is not written). */
  readonly valueMode: 'json' | 'text' | 'base64' | 'utf8' | 'raw';
}

export function convertPlan(cfg: SinkConfig): ConvertPlan {
  const columnar = cfg.format === 'avro' || cfg.format === 'parquet' || cfg.format === 'csv' || cfg.format === 'csv_with_headers';
  const columns = columnar && cfg.fields.includes('value') && cfg.valueEncoding === 'json';
  const valueUsed = cfg.fields.includes('value') || cfg.keyTemplate.valuePaths.length > 0;
  return {
    needsValue: cfg.valueEncoding === 'json' && (columns || cfg.keyTemplate.valuePaths.length > 0),
    needsObject: columns,
    avroNames: cfg.format === 'avro',
    needsKey: cfg.fields.includes('key') || cfg.keyTemplate.usesKey,
    needsHeaders: cfg.fields.includes('headers'),
    valueMode: cfg.format === 'bytes' || !valueUsed ? 'raw' : cfg.format === 'text' ? 'utf8' : cfg.valueEncoding,
  };
}

/** What converting a record reads from a configuration (the sink's, or the forwarder's). */
export type ConvertSettings = Pick<SinkConfig, 'format' | 'keyEncoding' | 'valueEncoding' | 'headerEncoding' | 'schema'>;

export function convertRecord(cfg: ConvertSettings, plan: ConvertPlan, r: KafkaRecord): SinkRecord {
  let rawBytes = (r.key?.length ?? 0) + (r.value?.length ?? 0);
  for (const h of r.headers) rawBytes += h.value.length + Buffer.byteLength(h.key);
  const headers = plan.needsHeaders
    ? r.headers.map((h) => ({ key: h.key, value: cfg.headerEncoding === 'base64' ? h.value.toString('base64') : text(h.value, `header "${h.key}"`) }))
    : [];
  const keyText = r.key === null || !plan.needsKey ? null : cfg.keyEncoding === 'base64' ? r.key.toString('base64') : text(r.key, 'key');

  let valueText: string | null = null;
  let value: unknown;
  let cells: unknown[] | undefined;
  if (r.value !== null) {
    const mode = plan.valueMode;
    if (mode === 'base64') valueText = r.value.toString('base64');
    else if (mode === 'text' || mode === 'utf8') valueText = text(r.value, 'value');
    else if (mode === 'json') {
      const t = text(r.value, 'value');
      if (plan.needsValue) {
        try {
          value = parseJsonExact(t);
        } catch (err) {
          throw new RecordError('convert', `value is not valid JSON (${(err as Error).message})`);
        }
      } else if (!isJson(r.value)) {
        // Validation without building the value; JSON.parse runs only to word the reason.
        let reason = 'syntax error';
        try {
          JSON.parse(t);
        } catch (err) {
          reason = (err as Error).message;
        }
        throw new RecordError('convert', `value is not valid JSON (${reason})`);
      }
      valueText = toSingleLine(t);
    }
    if (plan.needsObject) {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) {
        throw new RecordError('convert', `value is not a JSON object (got ${Array.isArray(value) ? 'an array' : value === null ? 'null' : typeof value}); ${cfg.format} needs one object per record, or VALUE_ENCODING=text/base64`);
      }
      const obj = value as Record<string, unknown>;
      if (cfg.schema) {
        // Fields the schema does not name are left out, as an Avro reader schema projects them away.
        cells = cfg.schema.columns.map((c) => toCell(c, ownField(obj, c.name)));
      } else {
        for (const k in obj) checkFieldName(k, plan.avroNames);
      }
    }
  } else if (plan.needsObject && cfg.schema) {
    // A written tombstone: every value column is null, so each must be nullable.
    cells = cfg.schema.columns.map((c) => {
      if (!c.nullable) throw new RecordError('schema', `tombstone cannot be written: field "${c.name}" is not nullable`);
      return null;
    });
  }
  if (!plan.needsValue) value = undefined;
  return { record: r, keyText, valueText, value, cells, headers, rawBytes };
}

/** {{value.a.b}} → text of that field for the key template. */
export function valueFieldText(value: unknown, path: readonly string[]): string | null | undefined {
  let v = value;
  for (const p of path) {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return undefined;
    v = ownField(v as Record<string, unknown>, p);
  }
  if (v === undefined || v === null) return v as null | undefined;
  if (typeof v === 'string') return v;
  if (typeof v === 'object') return stringifyJsonExact(v);
  return String(v);
}
