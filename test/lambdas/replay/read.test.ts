/** Objects read back into records (lambdas/replay/read.ts), per layout, with the content that could mislead a reader. */
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { sinkLayout, foreignLayout, LayoutError } from '../../../lambdas/replay/layout.ts';
import { parseCsv, readObject } from '../../../lambdas/replay/read.ts';
import { compileFilter } from '../../../lambdas/shared/filter.ts';

const meta = (over: Record<string, string> = {}) => ({
  'kafka-s3-format': 'jsonl', 'kafka-s3-compression': 'none', 'kafka-s3-fields': 'key,value,headers,topic,partition,offset,timestamp',
  'kafka-s3-encodings': 'key=text,value=json,headers=text', 'kafka-s3-envelope': 'true', 'kafka-topic': 'orders', 'kafka-partition': '2',
  'kafka-start-offset': '10', ...over,
});
const text = (b: Buffer | null) => (b === null ? null : b.toString());

describe('readObject', () => {
  it('jsonl envelope: the value is the bytes between its delimiters, whatever the other fields hold', async () => {
    // Prepare: a header value and the key hold "value": text; the value's own nested "value" field; spacing kept.
    const line = '{"key":"\\"value\\":1","value":{ "value" : [1, 2.50, 12345678901234567890] },"headers":[{"key":"value","value":"\\"value\\":{"}],"topic":"orders","partition":2,"offset":9007199254740993,"timestamp":"2026-01-01T00:00:00.123Z"}';

    // Act
    const { records } = await readObject(sinkLayout('k', meta()), Buffer.from(`${line}\n`), 'k');

    // Assess
    expect(records).toHaveLength(1);
    expect(text(records[0].value)).toBe('{ "value" : [1, 2.50, 12345678901234567890] }');
    expect(text(records[0].key)).toBe('"value":1');
    expect(records[0].headers.map(([k, v]) => [k.toString(), text(v)])).toEqual([['value', '"value":{']]);
    expect(records[0]).toMatchObject({ topic: 'orders', partition: 2, offset: 9007199254740993n, timestamp: Date.parse('2026-01-01T00:00:00.123Z') });
  });

  it('jsonl: base64 encodings are decoded byte for byte; null values are tombstones; a null header value stays null', async () => {
    const l = sinkLayout('k', meta({ 'kafka-s3-encodings': 'key=base64,value=base64,headers=base64', 'kafka-s3-compression': 'gzip' }));
    const body = gzipSync(`{"key":"//4=","value":"AAEC","headers":[{"key":"h","value":null}],"offset":1}\n{"key":null,"value":null,"headers":[],"offset":2}\n`);
    const { records } = await readObject(l, body, 'k');
    expect(records.map((r) => [r.key?.toString('hex') ?? null, r.value?.toString('hex') ?? null, r.headers.map(([k, v]) => [k.toString(), v])])).toEqual([
      ['fffe', '000102', [['h', null]]],
      [null, null, []],
    ]);
  });

  it('a line that is not what the layout says is an error naming the object and the line', async () => {
    await expect(readObject(sinkLayout('obj.jsonl', meta()), Buffer.from('{"value":1,"offset":1}\nnot json\n'), 'obj.jsonl')).rejects.toThrow(/obj\.jsonl: line 2: not a JSON object/);
  });

  it('bytes: split at a multi-byte separator, empty values kept; text: only lines the regex matches', async () => {
    const bytes = sinkLayout('k', meta({ 'kafka-s3-format': 'bytes', 'kafka-s3-fields': 'value', 'kafka-s3-separator': '0d0a' }));
    const b = await readObject(bytes, Buffer.from('a\nb\r\n\r\nc'), 'k');
    expect(b.records.map((r) => text(r.value))).toEqual(['a\nb', '', 'c']);
    const t = sinkLayout('k', meta({ 'kafka-s3-format': 'text', 'kafka-s3-fields': 'value' }));
    const lines = await readObject(t, Buffer.from('INFO a\nERROR b\n\nERROR c\n'), 'k', { lineFilter: compileFilter('^ERROR') });
    expect(lines.records.map((r) => text(r.value))).toEqual(['ERROR b', 'ERROR c']);
    expect((await readObject(t, Buffer.from('x\n\ny\n'), 'k')).records.map((r) => text(r.value))).toEqual(['x', '', 'y']);
  });

  it('csv_with_headers: quoted cells, nulls left out of the rebuilt value, JSON columns parsed, _kafka_ columns as fields', async () => {
    const l = sinkLayout('k', meta({ 'kafka-s3-format': 'csv_with_headers', 'kafka-s3-fields': 'value,key,offset', 'kafka-s3-json-columns': '2' }));
    const body = 'name,n,tags,_kafka_key,_kafka_offset\r\n"a, ""b""",12345678901234567890,"[1,""x""]","",7\r\n,1.5,,,8\r\n';
    const { records } = await readObject(l, Buffer.from(body), 'k');
    expect(records.map((r) => [text(r.value), text(r.key), r.offset])).toEqual([
      ['{"name":"a, \\"b\\"","n":12345678901234567890,"tags":[1,"x"]}', '', 7n],
      ['{"n":1.5}', null, 8n],
    ]);
  });

  it('csv without a header whose value fields are columns is refused: the file does not name them', async () => {
    const l = sinkLayout('k', meta({ 'kafka-s3-format': 'csv', 'kafka-s3-fields': 'value,offset' }));
    await expect(readObject(l, Buffer.from('1,2\r\n'), 'k')).rejects.toThrow(/a csv object without a header row whose value fields are columns/);
  });

  it('dead letters: exact bytes; a letter of an event that held no record is counted, not replayed', async () => {
    const body = [
      '{"topic":"t","partition":1,"offset":"5","timestamp":1767225600000,"timestampType":"CREATE_TIME","key":"/w==","value":"AP8=","headers":[{"key":"h","value":null}],"stage":"convert","reason":"r"}',
      '{"topic":"t","partition":1,"offset":"6","timestamp":null,"timestampType":null,"key":null,"value":null,"headers":[],"received":{"value":"%%"},"stage":"decode","reason":"value is not base64"}',
    ].join('\n');
    const r = await readObject({ kind: 'dead-letters', compression: 'none' }, Buffer.from(`${body}\n`), 'k');
    expect(r.records.map((x) => [x.key!.toString('hex'), x.value!.toString('hex'), x.offset, x.headers[0][1]])).toEqual([['ff', '00ff', 5n, null]]);
    expect(r.skipped).toEqual([{ at: 1, reason: 'the event held no decodable record (value is not base64)' }]);
  });
});

describe('parseCsv', () => {
  it('tells null (empty) from the empty string (""), keeps line ends and quotes inside quoted cells, and a trailing empty cell', () => {
    const rows = parseCsv('a,"",\r\n"x\r\ny","q""q",3\n', 'k');
    expect(rows.map((r) => r.map((c) => (c.quoted ? `"${c.text}"` : c.text)))).toEqual([['a', '""', ''], ['"x\r\ny"', '"q"q"', '3']]);
    expect(() => parseCsv('"open', 'obj.csv')).toThrow('obj.csv: row 1 has a quote that is not closed');
  });
});

describe('layouts', () => {
  it('metadata that is not the sink\'s is an error naming the key and the field', () => {
    expect(() => sinkLayout('x.jsonl', meta({ 'kafka-s3-format': 'xml' }))).toThrow(LayoutError);
    expect(() => sinkLayout('x.jsonl', meta({ 'kafka-start-offset': '-1' }))).toThrow(/x\.jsonl: metadata kafka-start-offset="-1" is not an offset/);
    expect(() => sinkLayout('x.jsonl', meta({ 'kafka-s3-json-columns': '5-2' }))).toThrow(/kafka-s3-json-columns/);
  });

  it('foreign objects: the format and compression from the extension', () => {
    expect(foreignLayout('a/b.jsonl.gz', { csvHeader: true })).toMatchObject({ format: 'jsonl', compression: 'gzip' });
    expect(foreignLayout('a/b.CSV.zst', { csvHeader: false })).toMatchObject({ format: 'csv', compression: 'zstd', csvHeader: false });
    expect(foreignLayout('a/b.parquet', { csvHeader: true })).toMatchObject({ format: 'parquet', compression: 'none' });
    expect(foreignLayout('a/b.xml', { csvHeader: true })).toBeUndefined();
    expect(foreignLayout('a/b.xml', { csvHeader: true, format: 'text' })).toMatchObject({ format: 'text' });
  });
});
