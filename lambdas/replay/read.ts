/**
 * Reading an object back into records, per layout (layout.ts). What each format gives back:
 * - jsonl with the envelope: every field it holds. A JSON value is the bytes of the line between its delimiters
 *   (byte-exact unless the sink had to write it on one line); text and base64 values, keys and headers exactly.
 * - jsonl without the envelope, text, bytes: the value only (a text line, a JSON line, the bytes between separators).
 * - csv, csv_with_headers, avro, parquet: the `_kafka_*` columns the object holds, and the value rebuilt as a JSON
 *   object of its columns (nulls left out; the columns the sink marked as JSON text parsed back), or the
 *   `_kafka_value` column's text or bytes exactly.
 * - dead letters: every field, byte-exact (base64 in the object).
 * A row that is not what the layout says is an error naming the object and the row: replay stops rather than skip.
 */
import { gunzipSync, zstdDecompressSync } from 'node:zlib';
import { parquetMetadata, parquetReadObjects } from 'hyparquet';
import { MetadataColumnPrefix } from '../shared/constants.ts';
import { containerRows, one } from '../compactor/formats/avro.ts';
import { avroRecordType } from '../shared/encode/avro.ts';
import { checkJson, topLevelSpans } from '../shared/json-validate.ts';
import type { ObjectLayout, SinkLayout } from './layout.ts';

export type Header = readonly [key: Buffer, value: Buffer | null];

/** A record read from an object; coordinates and timestamp when the object holds them. */
export interface ReplayRecord {
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers: readonly Header[];
  /** Epoch ms. */
  readonly timestamp?: number;
  readonly topic?: string;
  readonly partition?: number;
  readonly offset?: bigint;
}

export interface ReadOptions {
  /** text lines (sink text objects, foreign text): only lines this matches are records. */
  readonly lineFilter?: { test(text: string): boolean };
}

/** Records of an object that cannot be replayed, with the reason (dead letters of records the event could not decode). */
export interface ReadResult {
  readonly records: ReplayRecord[];
  readonly skipped: { readonly at: number; readonly reason: string }[];
}

const meta = (name: string) => `${MetadataColumnPrefix}${name}`;

/** The most an object may hold, decompressed: objects are read whole (the sink's hold one invocation's 6 MB). */
export const MAX_OBJECT_TEXT_BYTES = 256 * 1024 * 1024;
/** The most records one object may make: each is held until the object's poll is sent. */
export const MAX_OBJECT_RECORDS = 2_000_000;

function decompress(compression: string, body: Buffer, key: string): Buffer {
  if (compression === 'none') {
    if (body.length > MAX_OBJECT_TEXT_BYTES) throw new Error(`${key}: the object is over ${MAX_OBJECT_TEXT_BYTES / 1024 ** 2} MiB: the replay reads objects whole; split it`);
    return body;
  }
  try {
    return compression === 'gzip' ? gunzipSync(body, { maxOutputLength: MAX_OBJECT_TEXT_BYTES }) : zstdDecompressSync(body, { maxOutputLength: MAX_OBJECT_TEXT_BYTES });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new Error(`${key}: decompresses to more than ${MAX_OBJECT_TEXT_BYTES / 1024 ** 2} MiB: the replay reads objects whole; split it`, { cause: err });
    }
    throw new Error(`${key}: not ${compression} data (${(err as Error).message})`, { cause: err });
  }
}

/** The lines of a text (LF ends a line; a CR before it goes with it); a last line without its end counts. */
function lines(text: Buffer, key: string, crlf = false): Buffer[] {
  const out: Buffer[] = [];
  let start = 0;
  for (let end = text.indexOf(0x0a, start); end >= 0; end = text.indexOf(0x0a, start)) {
    if (out.length >= MAX_OBJECT_RECORDS) throw new Error(`${key}: more than ${MAX_OBJECT_RECORDS.toLocaleString('en-US')} lines: the replay reads objects whole; split it`);
    out.push(text.subarray(start, crlf && end > start && text[end - 1] === 0x0d ? end - 1 : end));
    start = end + 1;
  }
  if (start < text.length) out.push(text.subarray(start));
  return out;
}

const fromText = (s: string, encoding: string): Buffer => (encoding === 'base64' ? Buffer.from(s, 'base64') : Buffer.from(s, 'utf8'));

function headersOf(list: unknown, encoding: string, where: string): Header[] {
  if (!Array.isArray(list)) throw new Error(`${where}: headers are not a list`);
  return list.map((h: { key?: unknown; value?: unknown }) => {
    if (typeof h?.key !== 'string' || (h.value !== null && typeof h.value !== 'string')) throw new Error(`${where}: a header that is not {key, value}`);
    return [Buffer.from(h.key, 'utf8'), h.value === null ? null : fromText(h.value, encoding)] as const;
  });
}

function timestampOf(v: unknown, where: string): number {
  const ms = typeof v === 'string' ? Date.parse(v) : v instanceof Date ? v.getTime() : typeof v === 'bigint' ? Number(v) : typeof v === 'number' ? v : NaN;
  if (!Number.isFinite(ms)) throw new Error(`${where}: timestamp ${JSON.stringify(String(v))} is not a time`);
  return ms;
}

function offsetOf(v: unknown, where: string): bigint {
  if (typeof v === 'bigint') return v;
  if ((typeof v === 'number' && Number.isSafeInteger(v)) || (typeof v === 'string' && /^\d{1,19}$/.test(v))) return BigInt(v);
  throw new Error(`${where}: offset ${JSON.stringify(String(v))} is not an offset`);
}

/** Whether a JSON text is the literal null (blanks around it allowed). */
const isNullText = (b: Buffer) => b.toString('latin1').trim() === 'null';

/** jsonl with the envelope: the fields of a line, the value as its bytes when it is JSON. */
function envelopeRecord(line: Buffer, l: SinkLayout, where: string): ReplayRecord {
  const check = checkJson(line, false, true, true);
  if (check.reason !== null || !check.topLevelObject) throw new Error(`${where}: not a JSON object (${check.reason ?? 'an array or scalar'})`);
  const names = check.topLevelNames ?? [];
  const spans = topLevelSpans();
  const field = (name: string): Buffer | undefined => {
    const i = names.indexOf(name);
    return i < 0 ? undefined : line.subarray(spans[i * 4 + 1], spans[i * 4 + 2]);
  };
  /** The value as the sink wrote it: its bytes from the ':' to the ',' or '}' after it, blanks around it included. */
  const valueBytes = (): Buffer | undefined => {
    const i = names.indexOf('value');
    if (i < 0) return undefined;
    let a = spans[i * 4 + 1];
    let b = spans[i * 4 + 2];
    while (a > 0 && (line[a - 1] === 0x20 || line[a - 1] === 0x09)) a--;
    while (b < line.length && (line[b] === 0x20 || line[b] === 0x09)) b++;
    return line.subarray(a, b);
  };
  // JSON.parse for the small fields only where a fast read would not do: a string with no escape is its bytes
  // between the quotes, a number of digits its digits, an empty list [].
  const parsed = (name: string): unknown => {
    const span = field(name);
    if (span === undefined) return undefined;
    const first = span[0];
    if (first === 0x22 && span.indexOf(0x5c) < 0) return span.toString('utf8', 1, span.length - 1);
    if (first >= 0x30 && first <= 0x39 && span.length <= 15 && /^\d+$/.test(span.toString('latin1'))) return Number(span.toString('latin1'));
    if (span.length === 2 && first === 0x5b && span[1] === 0x5d) return [];
    return JSON.parse(span.toString('utf8'));
  };
  const rawValue = valueBytes();
  let value: Buffer | null = null;
  if (rawValue !== undefined && !(isNullText(rawValue) && (l.valueEncoding !== 'json' || l.tombstones === 'write'))) {
    if (l.valueEncoding === 'json') value = Buffer.from(rawValue);
    else {
      const text = JSON.parse(rawValue.toString('utf8')) as unknown;
      if (typeof text !== 'string') throw new Error(`${where}: value is not a string (VALUE_ENCODING=${l.valueEncoding})`);
      value = fromText(text, l.valueEncoding);
    }
  }
  const key = parsed('key');
  if (key !== undefined && key !== null && typeof key !== 'string') throw new Error(`${where}: key is not a string`);
  const headers = parsed('headers');
  const ts = parsed('timestamp');
  const partition = parsed('partition');
  const offset = parsed('offset');
  const topic = parsed('topic');
  // A line of another partition or topic than the object's would be sent where its origin does not say.
  if (partition !== undefined && partition !== l.partition) throw new Error(`${where}: partition ${JSON.stringify(partition)} is not the object's (${l.partition})`);
  if (topic !== undefined && topic !== l.topic) throw new Error(`${where}: topic ${JSON.stringify(topic)} is not the object's (${JSON.stringify(l.topic)})`);
  return {
    key: typeof key === 'string' ? fromText(key, l.keyEncoding) : null,
    value,
    headers: headers === undefined ? [] : headersOf(headers, l.headerEncoding, where),
    ...(ts !== undefined ? { timestamp: timestampOf(ts, where) } : {}),
    ...(typeof topic === 'string' ? { topic } : {}),
    ...(typeof partition === 'number' ? { partition } : {}),
    // JSON.parse rounds offsets beyond 2^53: the digits are taken from the line.
    ...(offset !== undefined ? { offset: offsetOf(field('offset')!.toString('latin1'), where) } : {}),
  };
}

/** A dead-letter line (dead-letter.ts): everything base64, byte-exact; a record the event could not decode has none. */
function deadLetterRecord(line: Buffer, where: string): ReplayRecord | string {
  const d = JSON.parse(line.toString('utf8')) as Record<string, unknown>;
  if (d === null || typeof d !== 'object' || typeof d.topic !== 'string' || typeof d.partition !== 'number') throw new Error(`${where}: not a dead letter of this sink`);
  if (d.received !== undefined) return `the event held no decodable record (${String(d.reason)})`;
  const b64 = (v: unknown) => (v === null || v === undefined ? null : Buffer.from(String(v), 'base64'));
  return {
    key: b64(d.key),
    value: b64(d.value),
    headers: headersOf(d.headers ?? [], 'base64', where),
    ...(d.timestamp !== null && d.timestamp !== undefined ? { timestamp: timestampOf(d.timestamp, where) } : {}),
    topic: d.topic,
    partition: d.partition,
    offset: offsetOf(d.offset, where),
  };
}

// ---- JSON values rebuilt from columns ----

const NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;

/** A cell of a value column as JSON text. */
function jsonOf(v: unknown, jsonColumn: boolean): string {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new Error(`a value of ${v}, which JSON cannot hold`);
    return String(v);
  }
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'string') return jsonColumn && checkJson(Buffer.from(v)).reason === null ? v : JSON.stringify(v);
  if (v instanceof Date) return JSON.stringify(v.toISOString());
  if (v instanceof Uint8Array) return JSON.stringify(Buffer.from(v.buffer, v.byteOffset, v.length).toString('base64'));
  if (Array.isArray(v)) return `[${v.map((x) => jsonOf(x, false)).join(',')}]`;
  if (v instanceof Map) return `{${[...v].map(([k, x]) => `${JSON.stringify(String(k))}:${jsonOf(x, false)}`).join(',')}}`;
  return `{${Object.entries(v as Record<string, unknown>).map(([k, x]) => `${JSON.stringify(k)}:${jsonOf(x, false)}`).join(',')}}`;
}

/** A CSV cell of a value column as JSON text: CSV keeps no types, so a number or boolean literal is one. */
function csvJsonOf(text: string, jsonColumn: boolean): string {
  if (jsonColumn && checkJson(Buffer.from(text)).reason === null) return text;
  if (NUMBER.test(text) || text === 'true' || text === 'false') return text;
  return JSON.stringify(text);
}

interface Cell {
  readonly name: string;
  readonly value: unknown;
}

/** A row of named cells (avro, parquet, csv) → a record. `json(i, v)` writes value column i's cell as JSON. */
function rowRecord(row: readonly Cell[], l: SinkLayout, json: (i: number, v: unknown) => string, decodeText: (v: unknown, encoding: string) => Buffer | null, where: string): ReplayRecord {
  let valueJson = '';
  let value: Buffer | null = null;
  let key: Buffer | null = null;
  let headers: Header[] = [];
  let timestamp: number | undefined;
  let topic: string | undefined;
  let partition: number | undefined;
  let offset: bigint | undefined;
  for (let i = 0; i < row.length; i++) {
    const { name, value: v } = row[i];
    switch (name) {
      case meta('value'): value = decodeText(v, l.valueEncoding); break;
      case meta('key'): key = decodeText(v, l.keyEncoding); break;
      case meta('headers'): headers = v === null || v === undefined ? [] : headersOf(JSON.parse(String(v)), l.headerEncoding, where); break;
      case meta('timestamp'): timestamp = timestampOf(v, where); break;
      case meta('topic'): topic = String(v); break;
      case meta('partition'): partition = Number(v); break;
      case meta('offset'): offset = offsetOf(v, where); break;
      default:
        if (v !== null && v !== undefined) valueJson += `${valueJson === '' ? '' : ','}${JSON.stringify(name)}:${json(i, v)}`;
    }
  }
  if (l.valueEncoding === 'json' && l.fields.includes('value')) value = Buffer.from(`{${valueJson}}`);
  return {
    key, value, headers,
    ...(timestamp !== undefined ? { timestamp } : {}),
    ...(topic !== undefined ? { topic } : {}),
    ...(partition !== undefined ? { partition } : {}),
    ...(offset !== undefined ? { offset } : {}),
  };
}

const isJsonColumn = (l: SinkLayout, i: number) => l.jsonColumns !== '*' && l.jsonColumns.has(i);

/** A cell of a typed file (avro, parquet) for a key or text/base64 value: bytes as they are, text as UTF-8. */
function typedBytes(v: unknown, encoding: string): Buffer | null {
  if (v === null || v === undefined) return null;
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.length);
  return fromText(String(v), encoding === 'base64' && typeof v === 'string' ? 'base64' : 'text');
}

// ---- CSV ----

interface CsvCell {
  readonly text: string;
  readonly quoted: boolean;
}

/** RFC 4180 rows (CR LF or LF ends a row outside quotes); an unquoted empty cell is null, "" is the empty string. */
export function parseCsv(text: string, where: string): CsvCell[][] {
  const rows: CsvCell[][] = [];
  let row: CsvCell[] = [];
  let i = 0;
  const n = text.length;
  while (i < n) {
    let cell = '';
    let quoted = false;
    if (text[i] === '"') {
      quoted = true;
      i++;
      for (;;) {
        const q = text.indexOf('"', i);
        if (q < 0) throw new Error(`${where}: row ${rows.length + 1} has a quote that is not closed`);
        cell += text.slice(i, q);
        if (text[q + 1] === '"') {
          cell += '"';
          i = q + 2;
        } else {
          i = q + 1;
          if (i < n && text[i] !== ',' && text[i] !== '\n' && text[i] !== '\r') throw new Error(`${where}: row ${rows.length + 1} has text after a closing quote`);
          break;
        }
      }
    } else {
      let j = i;
      while (j < n && text[j] !== ',' && text[j] !== '\n' && text[j] !== '\r') j++;
      cell = text.slice(i, j);
      i = j;
    }
    row.push({ text: cell, quoted });
    if (i >= n) break;
    if (text[i] === ',') {
      i++;
      if (i === n) row.push({ text: '', quoted: false });
      continue;
    }
    if (text[i] === '\r' && text[i + 1] === '\n') i++;
    if (text[i] === '\n' || text[i] === '\r') i++;
    rows.push(row);
    row = [];
  }
  if (row.length > 0) rows.push(row);
  return rows;
}

function csvRecords(text: Buffer, l: SinkLayout, key: string): ReplayRecord[] {
  const rows = parseCsv(text.toString('utf8'), key);
  if (rows.length > MAX_OBJECT_RECORDS + 1) throw new Error(`${key}: more than ${MAX_OBJECT_RECORDS.toLocaleString('en-US')} rows: the replay reads objects whole; split it`);
  let names: string[];
  if (l.format === 'csv_with_headers') {
    const header = rows.shift();
    if (!header) return [];
    names = header.map((c) => c.text);
  } else {
    if (l.fields.includes('value') && l.valueEncoding === 'json') {
      throw new Error(`${key}: a csv object without a header row whose value fields are columns: their names are not in the object (the sink writes them with FORMAT=csv_with_headers)`);
    }
    names = [...(l.fields.includes('value') ? ['value'] : []), ...l.fields.filter((f) => f !== 'value')].map(meta);
  }
  // An unquoted empty cell is null; the others stay cells (a value column's JSON depends on whether it was quoted).
  const decodeText = (v: unknown, encoding: string) => (v === null ? null : fromText((v as CsvCell).text, encoding));
  const textual = new Set([meta('key'), meta('value')]);
  return rows.map((r, at) => {
    if (r.length !== names.length) throw new Error(`${key}: row ${at + 1} has ${r.length} cells, not ${names.length}`);
    const cells = r.map((c, i) => ({
      name: names[i],
      value: !c.quoted && c.text === '' ? null : names[i].startsWith(MetadataColumnPrefix) && !textual.has(names[i]) ? c.text : c,
    }));
    return rowRecord(cells, l, (i, v) => csvJsonOf((v as CsvCell).text, isJsonColumn(l, i)), decodeText, `${key}: row ${at + 1}`);
  });
}

// ---- Avro ----

/** Logical types removed (avsc then decodes the underlying types), recursively. */
function withoutLogical(s: unknown): unknown {
  if (Array.isArray(s)) return s.map(withoutLogical);
  if (s === null || typeof s !== 'object') return s;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(s)) if (k !== 'logicalType') out[k] = k === 'fields' ? (v as { type: unknown }[]).map((f) => ({ ...f, type: withoutLogical(f.type) })) : withoutLogical(v);
  return out;
}

/** An Avro object container's records as avsc decodes them (longs exact, as BigInt), read by the compactor's parser. */
export async function avroRows(body: Buffer, key: string): Promise<{ names: string[]; rows: Record<string, unknown>[] }> {
  let names: string[] = [];
  let type: ReturnType<typeof avroRecordType> | undefined;
  const rows: Record<string, unknown>[] = [];
  const decode = (block: Buffer, count: number, schemaText: string) => {
    if (!type) {
      const schema = JSON.parse(schemaText || 'null') as { type?: string; fields?: { name: string }[] };
      if (schema?.type !== 'record' || !Array.isArray(schema.fields)) throw new Error('its schema is not a record');
      type = avroRecordType(withoutLogical(schema) as Record<string, unknown>);
      names = schema.fields.map((f) => f.name);
    }
    const out: Record<string, unknown>[] = [];
    let pos = 0;
    for (let i = 0; i < count; i++) {
      const d = type.decode(block, pos);
      if (d.offset < 0) throw new Error('a block that ends inside a record');
      out.push(d.value as Record<string, unknown>);
      pos = d.offset;
    }
    return out;
  };
  for await (const chunk of containerRows(one(body), undefined, decode, key)) for (const r of chunk) rows.push(r);
  return { names, rows };
}

/** A Parquet file's rows as hyparquet reads them (INT64 as BigInt, timestamps as Date). */
async function parquetRows(body: Buffer, key: string): Promise<{ names: string[]; rows: Record<string, unknown>[] }> {
  const file = body.buffer.slice(body.byteOffset, body.byteOffset + body.length) as ArrayBuffer;
  let rowCount: number;
  try {
    rowCount = Number(parquetMetadata(file).num_rows);
  } catch (err) {
    throw new Error(`${key}: not a Parquet file this reader can read (${(err as Error).message})`, { cause: err });
  }
  if (rowCount > MAX_OBJECT_RECORDS) throw new Error(`${key}: more than ${MAX_OBJECT_RECORDS.toLocaleString('en-US')} rows (${rowCount}): the replay reads objects whole; split it`);
  try {
    const rows = (await parquetReadObjects({
      file,
      compressors: { ZSTD: (input: Uint8Array) => zstdDecompressSync(input), GZIP: (input: Uint8Array) => gunzipSync(input) },
    })) as Record<string, unknown>[];
    return { names: rows.length > 0 ? Object.keys(rows[0]) : [], rows };
  } catch (err) {
    throw new Error(`${key}: not a Parquet file this reader can read (${(err as Error).message})`, { cause: err });
  }
}

function typedRecords(table: { names: string[]; rows: Record<string, unknown>[] }, l: SinkLayout, key: string): ReplayRecord[] {
  return table.rows.map((row, at) => {
    const where = `${key}: record ${at + 1}`;
    return rowRecord(table.names.map((name) => ({ name, value: row[name] })), l, (i, v) => {
      try {
        return jsonOf(v, isJsonColumn(l, i));
      } catch (err) {
        throw new Error(`${where}: column ${JSON.stringify(table.names[i])} holds ${(err as Error).message}`, { cause: err });
      }
    }, typedBytes, where);
  });
}

/** Foreign Avro/Parquet rows: each row is a value, as a JSON object. */
function jsonRowValue(row: Record<string, unknown>, where: string): Buffer {
  try {
    return Buffer.from(jsonOf(row, false));
  } catch (err) {
    throw new Error(`${where}: the row holds ${(err as Error).message}`, { cause: err });
  }
}

const plain = (value: Buffer | null): ReplayRecord => ({ key: null, value, headers: [] });

/** The records of an object, in the order it holds them. */
export async function readObject(layout: ObjectLayout, body: Buffer, key: string, opts: ReadOptions = {}): Promise<ReadResult> {
  const skipped: ReadResult['skipped'] = [];
  const format = layout.kind === 'dead-letters' ? 'dead letters' : layout.format;
  if (opts.lineFilter && format !== 'text') throw new Error(`${key}: a line regex applies to text objects, and this one is ${format}: filter the keys by extension`);
  if (body.length > MAX_OBJECT_TEXT_BYTES) throw new Error(`${key}: the object is over ${MAX_OBJECT_TEXT_BYTES / 1024 ** 2} MiB: the replay reads objects whole; split it`);
  const textLines = (text: Buffer): ReplayRecord[] => lines(text, key, true).filter((line) => !opts.lineFilter || opts.lineFilter.test(line.toString('utf8'))).map((line) => plain(Buffer.from(line)));
  if (layout.kind === 'dead-letters') {
    const records: ReplayRecord[] = [];
    lines(decompress(layout.compression, body, key), key).forEach((line, at) => {
      if (line.length === 0) return;
      const r = deadLetterRecord(line, `${key}: line ${at + 1}`);
      if (typeof r === 'string') skipped.push({ at, reason: r });
      else records.push(r);
    });
    return { records, skipped };
  }
  if (layout.kind === 'foreign') {
    const text = layout.format === 'avro' || layout.format === 'parquet' ? body : decompress(layout.compression, body, key);
    switch (layout.format) {
      case 'jsonl': return {
        records: lines(text, key, true).map((line, at) => ({ line, at })).filter(({ line }) => line.length > 0).map(({ line, at }) => {
          const check = checkJson(line);
          if (check.reason !== null) throw new Error(`${key}: line ${at + 1}: not JSON (${check.reason}); replay it as text (format text)`);
          return plain(Buffer.from(line));
        }),
        skipped,
      };
      case 'text': return { records: textLines(text), skipped };
      case 'csv': {
        // A CSV row is its line's text; a quoted cell may hold a line end, so rows are found by the CSV grammar.
        const rows = csvRowSpans(text);
        return { records: rows.slice(layout.csvHeader ? 1 : 0).map((span) => plain(Buffer.from(text.subarray(span[0], span[1])))), skipped };
      }
      case 'bytes': return { records: [plain(Buffer.from(text))], skipped };
      case 'avro': return { records: (await avroRows(body, key)).rows.map((row, at) => plain(jsonRowValue(row, `${key}: record ${at + 1}`))), skipped };
      case 'parquet': return { records: (await parquetRows(body, key)).rows.map((row, at) => plain(jsonRowValue(row, `${key}: record ${at + 1}`))), skipped };
    }
  }
  const l = layout;
  const result = await readSinkObject(l, body, key, opts);
  // The object's record count (metadata) against what was read: a reader that split it wrongly stops here.
  if (l.count !== undefined && result.read !== l.count) {
    throw new Error(`${key}: ${result.read} records read where the sink wrote ${l.count} (kafka-record-count): the object is not what its metadata says`);
  }
  return { records: result.records, skipped };
}

/** A sink object's records, and how many it holds before the line filter. */
async function readSinkObject(l: SinkLayout, body: Buffer, key: string, opts: ReadOptions): Promise<{ records: ReplayRecord[]; read: number }> {
  const all = (records: ReplayRecord[]) => ({ records, read: records.length });
  if (!l.fields.includes('value')) throw new Error(`${key}: the object holds no values (fields=${l.fields.join(',')}): there is nothing to replay`);
  switch (l.format) {
    case 'jsonl': {
      const text = decompress(l.compression, body, key);
      const rows = lines(text, key).filter((line) => line.length > 0);
      if (l.envelope) return all(rows.map((line, at) => envelopeRecord(line, l, `${key}: line ${at + 1}`)));
      return all(rows.map((line, at) => {
          const where = `${key}: line ${at + 1}`;
          const check = checkJson(line);
          if (check.reason !== null) throw new Error(`${where}: not JSON (${check.reason})`);
          if (l.valueEncoding === 'json') return plain(isNullText(line) && l.tombstones === 'write' ? null : Buffer.from(line));
          const v = JSON.parse(line.toString('utf8')) as unknown;
          if (v !== null && typeof v !== 'string') throw new Error(`${where}: not a JSON string (VALUE_ENCODING=${l.valueEncoding})`);
          return plain(v === null ? null : fromText(v, l.valueEncoding));
        }));
    }
    case 'text': {
      // Every record's line ends with a line feed, the last included.
      const text = decompress(l.compression, body, key);
      const rows = lines(text, key);
      return { records: rows.filter((line) => !opts.lineFilter || opts.lineFilter.test(line.toString('utf8'))).map((line) => plain(Buffer.from(line))), read: rows.length };
    }
    case 'bytes': {
      const text = decompress(l.compression, body, key);
      if (l.separator.length === 0) {
        if ((l.count ?? 1) !== 1) throw new Error(`${key}: ${l.count} values written with an empty BYTES_SEPARATOR cannot be told apart: the object cannot be split into its records`);
        return all([plain(Buffer.from(text))]);
      }
      const records: ReplayRecord[] = [];
      let start = 0;
      for (let end = text.indexOf(l.separator, start); end >= 0; end = text.indexOf(l.separator, start)) {
        if (records.length >= MAX_OBJECT_RECORDS) throw new Error(`${key}: more than ${MAX_OBJECT_RECORDS.toLocaleString('en-US')} values: the replay reads objects whole; split it`);
        records.push(plain(Buffer.from(text.subarray(start, end))));
        start = end + l.separator.length;
      }
      records.push(plain(Buffer.from(text.subarray(start))));
      return all(records);
    }
    case 'csv':
    case 'csv_with_headers':
      return all(csvRecords(decompress(l.compression, body, key), l, key));
    case 'avro': return all(typedRecords(await avroRows(body, key), l, key));
    case 'parquet': return all(typedRecords(await parquetRows(body, key), l, key));
  }
}

/** [start, end) of each CSV row of a text (its line end left out), quoted line ends inside a row. */
function csvRowSpans(text: Buffer): [number, number][] {
  const out: [number, number][] = [];
  let start = 0;
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === 0x22) quoted = !quoted;
    else if (c === 0x0a && !quoted) {
      out.push([start, i > start && text[i - 1] === 0x0d ? i - 1 : i]);
      start = i + 1;
    }
  }
  if (start < text.length) out.push([start, text.length]);
  return out.filter(([a, b]) => b > a);
}
