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
import avro from 'avsc';
import { parquetReadObjects } from 'hyparquet';
import { MetadataColumnPrefix } from '../shared/constants.ts';
import { avroRecordType, decompressBlock } from '../shared/encode/avro.ts';
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

function decompress(compression: string, body: Buffer): Buffer {
  if (compression === 'gzip') return gunzipSync(body);
  if (compression === 'zstd') return zstdDecompressSync(body);
  return body;
}

/** The lines of a text (LF ends a line; a CR before it goes with it); a last line without its end counts. */
function lines(text: Buffer, crlf = false): Buffer[] {
  const out: Buffer[] = [];
  let start = 0;
  for (let end = text.indexOf(0x0a, start); end >= 0; end = text.indexOf(0x0a, start)) {
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
  const parsed = (name: string): unknown => {
    const span = field(name);
    return span === undefined ? undefined : JSON.parse(span.toString('utf8'));
  };
  const rawValue = field('value');
  let value: Buffer | null = null;
  if (rawValue !== undefined && !(rawValue.length === 4 && rawValue.toString('latin1') === 'null')) {
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
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : 'null';
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

const AVRO_MAGIC = Buffer.from('Obj\x01', 'latin1');

class Cursor {
  at = 0;
  readonly buf: Buffer;
  constructor(buf: Buffer) {
    this.buf = buf;
  }

  long(): number {
    let n = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.at >= this.buf.length) throw new Error('the file ends inside a number');
      const b = this.buf[this.at++];
      n += (b & 0x7f) * scale;
      scale *= 128;
      if ((b & 0x80) === 0) return n % 2 === 0 ? n / 2 : -(n + 1) / 2;
    }
    throw new Error('a number of more than 10 bytes');
  }

  bytes(n: number): Buffer {
    if (n < 0 || this.at + n > this.buf.length) throw new Error('the file ends early');
    const out = this.buf.subarray(this.at, this.at + n);
    this.at += n;
    return out;
  }
}

/** Logical types removed (avsc then decodes the underlying types), recursively. */
function withoutLogical(s: unknown): unknown {
  if (Array.isArray(s)) return s.map(withoutLogical);
  if (s === null || typeof s !== 'object') return s;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(s)) if (k !== 'logicalType') out[k] = k === 'fields' ? (v as { type: unknown }[]).map((f) => ({ ...f, type: withoutLogical(f.type) })) : withoutLogical(v);
  return out;
}

/** An Avro object container's records as avsc decodes them (longs exact, as BigInt). */
export function avroRows(body: Buffer, key: string): { names: string[]; rows: Record<string, unknown>[] } {
  const r = new Cursor(body);
  try {
    if (!r.bytes(4).equals(AVRO_MAGIC)) throw new Error('not an Avro object container file');
    const metaMap = new Map<string, Buffer>();
    for (let count = r.long(); count !== 0; count = r.long()) {
      if (count < 0) {
        count = -count;
        r.long();
      }
      for (let i = 0; i < count; i++) metaMap.set(r.bytes(r.long()).toString(), r.bytes(r.long()));
    }
    const sync = r.bytes(16);
    const schema = JSON.parse(metaMap.get('avro.schema')?.toString() ?? 'null') as { type?: string; fields?: { name: string }[] };
    if (schema?.type !== 'record' || !Array.isArray(schema.fields)) throw new Error('its schema is not a record');
    const type = avroRecordType(withoutLogical(schema) as Record<string, unknown>);
    const codec = metaMap.get('avro.codec')?.toString() ?? 'null';
    const rows: Record<string, unknown>[] = [];
    while (r.at < body.length) {
      const count = r.long();
      const block = decompressBlock(codec, r.bytes(r.long()));
      if (!r.bytes(16).equals(sync)) throw new Error('a block whose sync marker is not the file\'s');
      let pos = 0;
      for (let i = 0; i < count; i++) {
        const d = type.decode(block, pos);
        if (d.offset < 0) throw new Error('a block that ends inside a record');
        rows.push(d.value as Record<string, unknown>);
        pos = d.offset;
      }
    }
    return { names: schema.fields.map((f) => f.name), rows };
  } catch (err) {
    throw new Error(`${key}: ${(err as Error).message}`, { cause: err });
  }
}

/** A Parquet file's rows as hyparquet reads them (INT64 as BigInt, timestamps as Date). */
async function parquetRows(body: Buffer, key: string): Promise<{ names: string[]; rows: Record<string, unknown>[] }> {
  try {
    const file = body.buffer.slice(body.byteOffset, body.byteOffset + body.length) as ArrayBuffer;
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
  return table.rows.map((row, at) => rowRecord(table.names.map((name) => ({ name, value: row[name] })), l,
    (i, v) => jsonOf(v, isJsonColumn(l, i)), typedBytes, `${key}: record ${at + 1}`));
}

/** Foreign Avro/Parquet rows: each row is a value, as a JSON object. */
const jsonRowValue = (row: Record<string, unknown>): Buffer => Buffer.from(jsonOf(row, false));

const plain = (value: Buffer | null): ReplayRecord => ({ key: null, value, headers: [] });

/** The records of an object, in the order it holds them. */
export async function readObject(layout: ObjectLayout, body: Buffer, key: string, opts: ReadOptions = {}): Promise<ReadResult> {
  const skipped: ReadResult['skipped'] = [];
  const textLines = (text: Buffer): ReplayRecord[] => lines(text, true).filter((line) => !opts.lineFilter || opts.lineFilter.test(line.toString('utf8'))).map((line) => plain(Buffer.from(line)));
  if (layout.kind === 'dead-letters') {
    const records: ReplayRecord[] = [];
    lines(decompress(layout.compression, body)).forEach((line, at) => {
      if (line.length === 0) return;
      const r = deadLetterRecord(line, `${key}: line ${at + 1}`);
      if (typeof r === 'string') skipped.push({ at, reason: r });
      else records.push(r);
    });
    return { records, skipped };
  }
  if (layout.kind === 'foreign') {
    const text = layout.format === 'avro' || layout.format === 'parquet' ? body : decompress(layout.compression, body);
    switch (layout.format) {
      case 'jsonl': return { records: lines(text, true).filter((line) => line.length > 0).map((line) => plain(Buffer.from(line))), skipped };
      case 'text': return { records: textLines(text), skipped };
      case 'csv': {
        // A CSV row is its line's text; a quoted cell may hold a line end, so rows are found by the CSV grammar.
        const rows = csvRowSpans(text);
        return { records: rows.slice(layout.csvHeader ? 1 : 0).map((span) => plain(Buffer.from(text.subarray(span[0], span[1])))), skipped };
      }
      case 'bytes': return { records: [plain(Buffer.from(text))], skipped };
      case 'avro': return { records: avroRows(body, key).rows.map((row) => plain(jsonRowValue(row))), skipped };
      case 'parquet': return { records: (await parquetRows(body, key)).rows.map((row) => plain(jsonRowValue(row))), skipped };
    }
  }
  const l = layout;
  if (!l.fields.includes('value')) throw new Error(`${key}: the object holds no values (fields=${l.fields.join(',')}): there is nothing to replay`);
  switch (l.format) {
    case 'jsonl': {
      const text = decompress(l.compression, body);
      const all = lines(text).filter((line) => line.length > 0);
      if (l.envelope) return { records: all.map((line, at) => envelopeRecord(line, l, `${key}: line ${at + 1}`)), skipped };
      return {
        records: all.map((line) => {
          if (l.valueEncoding === 'json') return plain(line.toString('latin1') === 'null' ? null : Buffer.from(line));
          const v = JSON.parse(line.toString('utf8')) as unknown;
          return plain(v === null ? null : fromText(String(v), l.valueEncoding));
        }),
        skipped,
      };
    }
    case 'text': {
      // Every record's line ends with a line feed, the last included.
      const text = decompress(l.compression, body);
      const all = lines(text);
      return { records: all.filter((line) => !opts.lineFilter || opts.lineFilter.test(line.toString('utf8'))).map((line) => plain(Buffer.from(line))), skipped };
    }
    case 'bytes': {
      const text = decompress(l.compression, body);
      if (l.separator.length === 0) return { records: [plain(Buffer.from(text))], skipped };
      const records: ReplayRecord[] = [];
      let start = 0;
      for (let end = text.indexOf(l.separator, start); end >= 0; end = text.indexOf(l.separator, start)) {
        records.push(plain(Buffer.from(text.subarray(start, end))));
        start = end + l.separator.length;
      }
      records.push(plain(Buffer.from(text.subarray(start))));
      return { records, skipped };
    }
    case 'csv':
    case 'csv_with_headers':
      return { records: csvRecords(decompress(l.compression, body), l, key), skipped };
    case 'avro': return { records: typedRecords(avroRows(body, key), l, key), skipped };
    case 'parquet': return { records: typedRecords(await parquetRows(body, key), l, key), skipped };
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
