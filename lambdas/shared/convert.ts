/**
 * Stage 3 — convert: a kept Kafka record → the text/values the encoders and key template need. This is the
 * per-record boundary: everything about a record's content that could stop an encoder or mislead a reader is
 * decided here (README, "Dead letters"), and a record that fails throws RecordError and is dead-lettered. What
 * leaves this function is representable in the configured format.
 */
import { isUtf8 } from 'node:buffer';
import type { SinkConfig } from './config.ts';
import type { KafkaRecord } from './decode.ts';
import { RecordError } from './errors.ts';
import { Limits } from './constants.ts';
import { checkJson, topLevelSpans, type JsonCheck } from './json-validate.ts';
import { exactNumberOf, JsonText, parseJsonExact, stringifyJsonExact, toSingleLine } from './json.ts';
import type { RType } from './registry/types.ts';
import { checkFieldName, checkTimestampMs, ownField, toCell } from './schema.ts';

export interface SinkRecord {
  readonly record: KafkaRecord;
  /** Key per KEY_ENCODING (text or base64), null when the record has no key. jsonl writes the key from its bytes
   * (ConvertPlan.metaFromBytes): there it is set only for the key template. */
  readonly keyText: string | null;
  /** Value per VALUE_ENCODING: single-line JSON text, UTF-8 text or base64; null for a tombstone. For jsonl, a JSON
   * value without line breaks is written from its bytes and its text is not decoded: RAW_JSON_TEXT. */
  readonly valueText: string | null;
  /** Parsed JSON value, when VALUE_ENCODING=json and the key template or a configured schema needs fields. */
  readonly value?: unknown;
  /** Columns inferred from the values (ConvertPlan.topLevelCells): the value of each top-level field, in the order of
   * `fieldNames`, as parseJsonExact would hold it, but a nested object or array as its JSON text (JsonText). */
  readonly fieldValues?: readonly unknown[];
  /** Value cells in schema column order, when a schema is configured. */
  readonly cells?: readonly unknown[];
  /** The headers as a column or document field holds them: the JSON text of a list of `{"key", "value"}` (the value
   * per HEADER_ENCODING, null without one), `[]` when the record has none or nothing writes them, and with
   * ConvertPlan.metaFromBytes (jsonl writes them from their bytes). */
  readonly headersJson: string;
  /** Raw bytes of key, value and headers: what MAX_OBJECT_BYTES counts. */
  readonly rawBytes: number;
  /** jsonl, and columns inferred from the values: the value's top-level field names (readers infer columns from
   * them across the object's records). One list is shared by records whose names are the same. */
  readonly fieldNames?: readonly string[];
  /** SCHEMA_REGISTRY: the record as it arrived (framed), when `record` holds its decoded JSON; dead letters keep it. */
  readonly original?: KafkaRecord;
  /** SCHEMA_REGISTRY: the schema the value (and key: "value/key") was decoded with; objects hold one each. */
  readonly schemaId?: string;
  /** SCHEMA_REGISTRY, Avro and Protobuf values: the value's registry type and decoded value (its columns). */
  readonly registry?: { readonly type: RType; readonly value: unknown };
}

/** What a check names: a header's label is made only when it fails (a JSON.stringify per header otherwise). */
type Named = string | { readonly header: string };

/** Up to this many bytes, an all-ASCII buffer is found by a loop here, cheaper than the call into isUtf8. */
const SHORT_TEXT = 32;

function checkUtf8(buf: Buffer, what: Named): void {
  if (buf.length <= SHORT_TEXT) {
    let high = 0;
    for (let i = 0; i < buf.length; i++) high |= buf[i];
    if (high < 0x80) return;
  }
  if (!isUtf8(buf)) {
    const name = typeof what === 'string' ? what : `header ${JSON.stringify(what.header)}`;
    throw new RecordError('convert', `${name} is not valid UTF-8 (use base64 encoding for binary data)`);
  }
}

type Slice = (start: number, end: number) => string;
const sliceMethods = Buffer.prototype as unknown as { utf8Slice?: Slice; latin1Slice?: Slice };
/**
 * Text of a byte range, with Buffer's own slice methods where Node has them (every release does; toString's argument
 * handling around them costs as much as the decoding for the short fields of a record), else toString.
 */
const utf8Of: (buf: Buffer, start: number, end: number) => string = typeof sliceMethods.utf8Slice === 'function'
  ? (buf, start, end) => (buf as unknown as { utf8Slice: Slice }).utf8Slice(start, end)
  : (buf, start, end) => buf.toString('utf8', start, end);
const latin1Of: (buf: Buffer, start: number, end: number) => string = typeof sliceMethods.latin1Slice === 'function'
  ? (buf, start, end) => (buf as unknown as { latin1Slice: Slice }).latin1Slice(start, end)
  : (buf, start, end) => buf.toString('latin1', start, end);

function text(buf: Buffer, what: Named): string {
  checkUtf8(buf, what);
  return utf8Of(buf, 0, buf.length);
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
  /** csv_with_headers: names become a header row, whose cells CSV readers (DuckDB) trim. */
  readonly headerNames?: boolean;
  /** The record timestamp is written or names the object: it must be an instant readers hold. */
  readonly needsTimestamp?: boolean;
  /** Columns are inferred from the values' fields (no schema): names and field counts are checked per record. */
  readonly inferColumns?: boolean;
  /** The value's fields are the only columns (FIELDS=value): a value without fields would make a row of nothing. */
  readonly valueColumnsOnly?: boolean;
  /** text format: a value holding a line terminator would become several lines. */
  readonly oneLine?: boolean;
  /** bytes format: a value holding the separator could not be split back into records. */
  readonly separator?: Buffer;
  /** Raw bytes (key+value+headers) of one record at most (MAX_OBJECT_BYTES). */
  readonly maxRawBytes?: number;
  /** The JSON value is written as JSON (jsonl): a number beyond a double's range would make readers refuse the file,
   * and its top-level names become columns for readers that infer them (checked across the object's records). */
  readonly finiteNumbers?: boolean;
  /** The encoder writes a JSON value's bytes as they are unless they hold a line break (jsonl): its text is then
   * decoded only for that case, for a syntax error's wording, or when its fields are needed. */
  readonly rawJsonBytes?: boolean;
  /** Columns inferred from the values, and nothing else reads them (no schema, no {{value.…}}): each top-level
   * field's value is taken from its bytes as the JSON check walks them (SinkRecord.fieldValues), with no object
   * built, no text decoded, and nested values kept as their JSON text. */
  readonly topLevelCells?: boolean;
  /** jsonl: the encoder writes the key and header values from their bytes (encode/jsonl.ts), so convert only checks
   * them (UTF-8 for text) and makes their text only where something else reads it (the key template's key). */
  readonly metaFromBytes?: boolean;
  /** The key template reads the key's text. */
  readonly keyTextUsed?: boolean;
}

export function convertPlan(cfg: SinkConfig): ConvertPlan {
  const columnar = cfg.format === 'avro' || cfg.format === 'parquet' || cfg.format === 'csv' || cfg.format === 'csv_with_headers';
  const columns = columnar && cfg.fields.includes('value') && cfg.valueEncoding === 'json';
  const valueUsed = cfg.fields.includes('value') || cfg.keyTemplate.valuePaths.length > 0;
  const topLevelCells = columns && !cfg.schema && cfg.keyTemplate.valuePaths.length === 0;
  return {
    needsValue: cfg.valueEncoding === 'json' && ((columns && !topLevelCells) || cfg.keyTemplate.valuePaths.length > 0),
    needsObject: columns,
    avroNames: cfg.format === 'avro',
    needsKey: cfg.fields.includes('key') || cfg.keyTemplate.usesKey,
    needsHeaders: cfg.fields.includes('headers'),
    valueMode: cfg.format === 'bytes' || !valueUsed ? 'raw' : cfg.format === 'text' ? 'utf8' : cfg.valueEncoding,
    needsTimestamp: cfg.fields.includes('timestamp') || (cfg.keyTemplate.usesTimestamp && cfg.timestampSource === 'record'),
    inferColumns: columns && !cfg.schema,
    headerNames: cfg.format === 'csv_with_headers',
    valueColumnsOnly: columns && cfg.fields.length === 1,
    oneLine: cfg.format === 'text',
    separator: cfg.format === 'bytes' && cfg.bytesSeparator.length > 0 ? cfg.bytesSeparator : undefined,
    maxRawBytes: cfg.maxObjectBytes,
    finiteNumbers: cfg.format === 'jsonl' && cfg.fields.includes('value'),
    rawJsonBytes: cfg.format === 'jsonl',
    topLevelCells,
    metaFromBytes: cfg.format === 'jsonl',
    keyTextUsed: cfg.keyTemplate.usesKey,
  };
}

/** Line terminators of line-splitting readers (Python's str.splitlines, Java, Unicode): LF, CR, VT, FF, FS, GS,
 * RS, NEL (C2 85), LINE and PARAGRAPH SEPARATOR (E2 80 A8/A9). */
function lineTerminator(v: Buffer): string | null {
  for (let i = 0; i < v.length; i++) {
    const c = v[i];
    if (c === 0x0a || c === 0x0d || c === 0x0b || c === 0x0c || (c >= 0x1c && c <= 0x1e)) return `0x${c.toString(16).padStart(2, '0')}`;
    if (c === 0xc2 && v[i + 1] === 0x85) return 'U+0085 (NEL)';
    if (c === 0xe2 && v[i + 1] === 0x80 && (v[i + 2] === 0xa8 || v[i + 2] === 0xa9)) return v[i + 2] === 0xa8 ? 'U+2028' : 'U+2029';
  }
  return null;
}

/** The checks of one record's raw bytes that do not depend on its encoding (format limits, sizes, timestamp). */
function checkRaw(plan: ConvertPlan, r: KafkaRecord, rawBytes: number): void {
  if (plan.needsTimestamp) checkTimestampMs(r.timestamp, 'timestamp', 'convert');
  if (plan.maxRawBytes !== undefined && rawBytes > plan.maxRawBytes) {
    throw new RecordError('limit', `record is ${rawBytes} bytes (key+value+headers), over MAX_OBJECT_BYTES=${plan.maxRawBytes}`);
  }
  if (r.value === null) return;
  if (plan.oneLine) {
    const t = lineTerminator(r.value);
    if (t !== null) throw new RecordError('encode', `value contains a line terminator (${t}); the text format writes one value per line (use jsonl or bytes)`);
  }
  if (plan.separator && r.value.includes(plan.separator)) {
    throw new RecordError('encode', 'value contains BYTES_SEPARATOR, so the object could not be split back into records (choose another separator, or jsonl with VALUE_ENCODING=base64)');
  }
}

/** Validates a JSON value (see checkJson) and parses it with exact numbers when the fields are needed. */
/** The top-level names the last readJson found (set before it can throw; no per-record closure to hand them back). */
let jsonNames: readonly string[] | undefined;
/** Whether the value readJson last checked holds LF or CR (JsonCheck.lineBreaks). */
let jsonLineBreaks = false;

/** What readJson found besides the value (module-level like jsonNames, for the same reason). */
let jsonCheck: JsonCheck | undefined;

function readJson(plan: ConvertPlan, raw: Buffer, t: string | undefined): unknown {
  const cells = plan.topLevelCells === true;
  const check = checkJson(raw, plan.finiteNumbers, plan.finiteNumbers || cells, cells);
  // UTF-8 first, as its error names the cause when both fail. A valid value whose strings are ASCII is ASCII.
  if (check.reason !== null || !check.ascii) checkUtf8(raw, 'value');
  jsonCheck = check;
  jsonNames = check.topLevelNames ?? undefined;
  jsonLineBreaks = check.lineBreaks;
  if (check.reason !== null) {
    if (check.reason !== 'syntax error') throw new RecordError('convert', `value is not accepted as JSON: ${check.reason}`);
    let reason = 'syntax error';
    try {
      JSON.parse(t ?? raw.toString('utf8')); // only to word the reason
    } catch (err) {
      reason = (err as Error).message;
    }
    throw new RecordError('convert', `value is not valid JSON (${reason})`);
  }
  if (plan.inferColumns && check.topLevelFields > Limits.maxInferredFields) {
    throw new RecordError('schema', `value has ${check.topLevelFields} fields, over ${Limits.maxInferredFields} columns (use AVRO_SCHEMA, or VALUE_ENCODING=text)`);
  }
  return plan.needsValue ? parseJsonExact(t ?? raw.toString('utf8'), check.riskyNumbers) : undefined;
}

/** Whether bytes hold LF or CR: a JSON value's whitespace that would split a JSON line. */
export function hasLineBreak(b: Buffer): boolean {
  return b.indexOf(10) !== -1 || b.indexOf(13) !== -1;
}

/**
 * `valueText` of a JSON value whose bytes are one line (no LF or CR), which the jsonl encoder writes as they are (see
 * ConvertPlan.rawJsonBytes).
 */
export const RAW_JSON_TEXT = '';

/** What converting a record reads from a configuration (the sink's, or the forwarder's). */
export type ConvertSettings = Pick<SinkConfig, 'format' | 'keyEncoding' | 'valueEncoding' | 'headerEncoding' | 'schema'>;

const NO_HEADERS = '[]';

/** `{"key":<name>,"value":` per header name, as UTF-8: a topic's records mostly carry the same few names. */
const headerPrefixes = new Map<string, Buffer>();

function headerPrefix(name: string): Buffer {
  let p = headerPrefixes.get(name);
  if (p === undefined) {
    p = Buffer.from(`{"key":${JSON.stringify(name)},"value":`);
    if (headerPrefixes.size >= 256) headerPrefixes.clear();
    headerPrefixes.set(name, p);
  }
  return p;
}

const ESCAPED = 1;
const NON_ASCII = 2;

/** ESCAPED when bytes hold a character JSON.stringify escapes in a string (a quote, a backslash, a control one), |
 * NON_ASCII when they hold a byte above 0x7F. */
function textScan(b: Buffer): number {
  let found = 0;
  for (let i = 0; i < b.length; i++) {
    const c = b[i];
    if (c < 0x20 || c === 0x22 || c === 0x5c) found |= ESCAPED;
    else if (c >= 0x80) found |= NON_ASCII;
  }
  return found;
}

const NULL_CLOSE = Buffer.from('null}');

/** Where headersJsonOf writes the text before it becomes one flat string (grown when a record's headers need it). */
let headerScratch = Buffer.allocUnsafe(4096);

/**
 * The text JSON.stringify writes for the headers as `{key, value}` objects (value per HEADER_ENCODING). Text values
 * that need no escape (the usual case) are copied as bytes into one scratch buffer that becomes one flat string: no
 * object and no string per header (valid UTF-8 decodes to no lone surrogate, the other thing JSON.stringify escapes).
 * Others go through JSON.stringify as before.
 */
export function headersJsonOf(headers: KafkaRecord['headers'], encoding: ConvertSettings['headerEncoding']): string {
  if (headers.length === 0) return NO_HEADERS;
  let bytes = 2;
  let plain = encoding !== 'base64';
  for (let i = 0; i < headers.length && plain; i++) {
    const v = headers[i].value;
    if (v !== null) {
      const found = textScan(v);
      if ((found & NON_ASCII) !== 0) checkUtf8(v, { header: headers[i].key });
      if ((found & ESCAPED) !== 0) plain = false;
    }
    bytes += headerPrefix(headers[i].key).length + (v === null ? 5 : v.length + 3) + 1;
  }
  if (!plain) {
    return JSON.stringify(headers.map((h) => ({
      key: h.key,
      value: h.value === null ? null : encoding === 'base64' ? h.value.toString('base64') : text(h.value, { header: h.key }),
    })));
  }
  // The shared buffer grows to 64 KiB at most; larger headers (rare) get one of their own, not kept.
  if (bytes > headerScratch.length && bytes <= 65_536) headerScratch = Buffer.allocUnsafe(Math.min(65_536, Math.max(bytes, headerScratch.length * 2)));
  const out = bytes <= headerScratch.length ? headerScratch : Buffer.allocUnsafe(bytes);
  let at = 0;
  out[at++] = 0x5b; // [
  for (let i = 0; i < headers.length; i++) {
    if (i > 0) out[at++] = 0x2c; // ,
    const p = headerPrefix(headers[i].key);
    at += p.copy(out, at);
    const v = headers[i].value;
    if (v === null) at += NULL_CLOSE.copy(out, at);
    else {
      out[at++] = 0x22;
      at += v.copy(out, at);
      out[at++] = 0x22;
      out[at++] = 0x7d; // }
    }
  }
  out[at++] = 0x5d; // ]
  return utf8Of(out, 0, at);
}

/** The last header name measured, and its UTF-8 length (a topic's records mostly carry the same names). */
let lastName: string | undefined;
let lastNameBytes = 0;

/** A header name's UTF-8 length; the name is then the last one measured, whose well-formedness was checked. */
function headerName(name: string): number {
  if (name !== lastName) {
    lastNameBytes = Buffer.byteLength(name);
    // Remembered only when it is Unicode text: a name holding a lone surrogate is checked (and refused) each time.
    lastName = name.isWellFormed() ? name : undefined;
  }
  return lastNameBytes;
}

export function convertRecord(cfg: ConvertSettings, plan: ConvertPlan, r: KafkaRecord): SinkRecord {
  let rawBytes = (r.key?.length ?? 0) + (r.value?.length ?? 0);
  for (const h of r.headers) rawBytes += (h.value?.length ?? 0) + headerName(h.key);
  checkRaw(plan, r, rawBytes);
  if (plan.needsHeaders) {
    // Names come from the event's JSON as strings: a lone surrogate there is not Unicode text.
    for (const h of r.headers) if (h.key !== lastName && !h.key.isWellFormed()) throw new RecordError('convert', `header name ${JSON.stringify(h.key)} holds a lone UTF-16 surrogate (not Unicode text)`);
  }
  let headersJson = NO_HEADERS;
  let keyText: string | null = null;
  if (plan.metaFromBytes) {
    if (plan.needsHeaders && cfg.headerEncoding === 'text') for (const h of r.headers) if (h.value !== null) checkUtf8(h.value, { header: h.key });
    if (r.key !== null && plan.needsKey) {
      if (cfg.keyEncoding === 'text') checkUtf8(r.key, 'key');
      if (plan.keyTextUsed) keyText = cfg.keyEncoding === 'base64' ? r.key.toString('base64') : utf8Of(r.key, 0, r.key.length);
    }
  } else {
    if (plan.needsHeaders) headersJson = headersJsonOf(r.headers, cfg.headerEncoding);
    keyText = r.key === null || !plan.needsKey ? null : cfg.keyEncoding === 'base64' ? r.key.toString('base64') : text(r.key, 'key');
  }

  let valueText: string | null = null;
  let value: unknown;
  let cells: unknown[] | undefined;
  let fieldNames: readonly string[] | undefined;
  let fieldValues: unknown[] | undefined;
  if (r.value !== null) {
    const mode = plan.valueMode;
    if (mode === 'base64') valueText = r.value.toString('base64');
    else if (mode === 'text' || mode === 'utf8') valueText = text(r.value, 'value');
    else if (mode === 'json') {
      // readJson checks the bytes are UTF-8 (only when the JSON check saw a byte above 0x7F).
      // jsonl copies a value's bytes when they are one line (the check says so); only others become text. Cells
      // taken from the bytes need no text either.
      const cellsFromBytes = plan.topLevelCells === true;
      const t = (plan.rawJsonBytes === true || cellsFromBytes) && !plan.needsValue ? undefined : r.value.toString('utf8');
      value = readJson(plan, r.value, t);
      fieldNames = jsonNames;
      if (cellsFromBytes) {
        valueText = RAW_JSON_TEXT;
        if (jsonCheck!.topLevelObject) {
          if (!jsonCheck!.integerNames) fieldValues = topLevelValues(r.value, fieldNames!.length, jsonCheck!.riskyNumbers);
          else {
            // JSON.parse orders integer-like names first: such a value is parsed, so its columns come in that order.
            const obj = parseJsonExact(r.value.toString('utf8'), jsonCheck!.riskyNumbers) as Record<string, unknown>;
            fieldNames = Object.keys(obj);
            fieldValues = fieldNames.map((k) => obj[k]);
          }
        }
      } else valueText = t === undefined && !jsonLineBreaks ? RAW_JSON_TEXT : toSingleLine(t ?? r.value.toString('utf8'));
    }
    if (plan.needsObject && plan.topLevelCells) {
      if (!jsonCheck!.topLevelObject) {
        throw new RecordError('convert', `value is not a JSON object (got ${jsonKindOf(r.value)}); ${cfg.format} needs one object per record, or VALUE_ENCODING=text/base64`);
      }
      checkFieldNames(plan, fieldNames!);
    } else if (plan.needsObject) {
      // A number no double holds arrives as a JSON.rawJSON object: it is a number, not an object.
      if (value === null || typeof value !== 'object' || Array.isArray(value) || JSON.isRawJSON(value)) {
        const got = Array.isArray(value) ? 'an array' : value === null ? 'null' : typeof value === 'object' || typeof value === 'bigint' ? 'number' : typeof value;
        throw new RecordError('convert', `value is not a JSON object (got ${got}); ${cfg.format} needs one object per record, or VALUE_ENCODING=text/base64`);
      }
      const obj = value as Record<string, unknown>;
      if (cfg.schema) {
        // Fields the schema does not name are left out, as an Avro reader schema projects them away.
        cells = cfg.schema.columns.map((c) => toCell(c, ownField(obj, c.name)));
      } else {
        let fields = 0;
        for (const k in obj) {
          checkFieldName(k, plan.avroNames, plan.headerNames);
          fields++;
        }
        if (fields === 0 && plan.valueColumnsOnly) {
          throw new RecordError('schema', 'value has no fields and FIELDS=value: the row would have no columns (readers refuse zero-column files and skip blank lines)');
        }
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
  return { record: r, keyText, valueText, value, cells, headersJson, rawBytes, fieldNames, fieldValues };
}

/** The names of the last list checked, and for which plan (a list is shared by the records that have it). */
let checkedNames: { plan: ConvertPlan; names: readonly string[] } | undefined;

/** The value's top-level names as inferred columns: each checked once per list (see checkFieldName). */
function checkFieldNames(plan: ConvertPlan, names: readonly string[]): void {
  if (checkedNames !== undefined && checkedNames.names === names && checkedNames.plan === plan) return;
  for (const k of names) checkFieldName(k, plan.avroNames, plan.headerNames);
  if (names.length === 0 && plan.valueColumnsOnly) {
    throw new RecordError('schema', 'value has no fields and FIELDS=value: the row would have no columns (readers refuse zero-column files and skip blank lines)');
  }
  checkedNames = { plan, names };
}

/** What a JSON value that is not an object is, from its first byte, worded as for a parsed value. */
function jsonKindOf(raw: Buffer): string {
  let at = 0;
  while (raw[at] === 0x20 || raw[at] === 0x09 || raw[at] === 0x0a || raw[at] === 0x0d) at++;
  const c = raw[at];
  return c === 0x5b ? 'an array' : c === 0x6e ? 'null' : c === 0x22 ? 'string' : c === 0x74 || c === 0x66 ? 'boolean' : 'number';
}

/** Powers of ten up to 10^22, each exact as a double. */
const POW10 = Array.from({ length: 23 }, (_, k) => 10 ** k);

/**
 * A number of up to 15 digits and no exponent, from its bytes: its digits as an integer (below 10^15, exact) over a
 * power of ten (exact up to 10^22), one correctly rounded division, so the double Number() gives for the text.
 */
function plainNumber(raw: Buffer, s: number, e: number): number {
  const negative = raw[s] === 0x2d;
  let m = 0;
  let scale = -1;
  for (let k = negative ? s + 1 : s; k < e; k++) {
    const c = raw[k];
    if (c === 0x2e) scale = 0;
    else {
      m = m * 10 + (c - 0x30);
      if (scale >= 0) scale++;
    }
  }
  const v = scale > 0 ? m / POW10[scale] : m;
  return negative ? -v : v;
}

/**
 * The values of a top-level object's members, from the spans the JSON check just recorded (json-validate.ts,
 * topLevelSpans): what parseJsonExact would give for each, but nested objects and arrays as their JSON text
 * (JsonText: the bytes themselves when they are what stringifyJsonExact would write, else that text).
 */
function topLevelValues(raw: Buffer, count: number, riskyNumbers: boolean): unknown[] {
  const spans = topLevelSpans();
  const out = new Array<unknown>(count);
  for (let j = 0; j < count; j++) {
    const k = j * 4, first = spans[k], s = spans[k + 1], e = spans[k + 2], odd = spans[k + 3] !== 0;
    switch (first) {
      case 0x22: out[j] = odd ? JSON.parse(utf8Of(raw, s, e)) : utf8Of(raw, s + 1, e - 1); break;
      case 0x7b:
      case 0x5b:
        out[j] = new JsonText(odd ? stringifyJsonExact(parseJsonExact(utf8Of(raw, s, e), riskyNumbers)) : utf8Of(raw, s, e));
        break;
      case 0x74: out[j] = true; break;
      case 0x66: out[j] = false; break;
      case 0x6e: out[j] = null; break;
      default:
        // A number: up to 15 digits and no exponent (plainNumber); others as parseJsonExact holds them.
        if (odd) out[j] = exactNumberOf(latin1Of(raw, s, e));
        else out[j] = plainNumber(raw, s, e);
    }
  }
  return out;
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
