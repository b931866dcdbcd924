import { isUtf8 } from 'node:buffer';
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { loadSinkConfig, type SinkConfig } from '../../../lambdas/shared/config.ts';
import { convertPlan, convertRecord, headersJsonOf, RAW_JSON_TEXT, valueFieldText, type SinkRecord } from '../../../lambdas/shared/convert.ts';
import type { KafkaRecord } from '../../../lambdas/shared/decode.ts';
import { RecordError } from '../../../lambdas/shared/errors.ts';
import { filterRecord } from '../../../lambdas/shared/filter.ts';
import { exactNumberOf, JsonText } from '../../../lambdas/shared/json.ts';

describe('convertRecord: short keys and fields as text', () => {
  it('short keys and string fields of any bytes convert as their UTF-8 text, or are refused as not UTF-8', () => {
    const cfg = cfgOf({ FORMAT: 'parquet', COMPRESSION: 'none' });
    const plan = convertPlan(cfg);
    const bytes = fc.oneof(
      fc.uint8Array({ maxLength: 30 }).map((b) => Buffer.from(b)),
      fc.uint8Array({ maxLength: 30 }).map((b) => Buffer.from(b.map((x) => 0x20 + (x % 0x5f)))).filter((b) => !b.includes(0x22) && !b.includes(0x5c)),
      fc.string({ maxLength: 12, unit: 'grapheme' }).map((t) => Buffer.from(t)),
    );
    fc.assert(fc.property(bytes, bytes, (key, field) => {
      // The field as a JSON string: the bytes themselves when they need no escape (so a byte above 0x7F stays raw).
      const needsEscape = field.some((x) => x < 0x20 || x === 0x22 || x === 0x5c);
      const value = needsEscape ? Buffer.from(`{"f":${JSON.stringify(field.toString('latin1'))}}`) : Buffer.concat([Buffer.from('{"f":"'), field, Buffer.from('"}')]);
      let got: SinkRecord | string;
      try {
        got = convertRecord(cfg, plan, rec({ key, value }));
      } catch (err) {
        got = (err as Error).message;
      }
      if (!isUtf8(key)) expect(got).toBe('key is not valid UTF-8 (use base64 encoding for binary data)');
      else if (!isUtf8(value)) expect(got).toBe('value is not valid UTF-8 (use base64 encoding for binary data)');
      else {
        expect(typeof got).toBe('object');
        const r = got as SinkRecord;
        expect(r.keyText).toBe(key.toString('utf8'));
        expect(r.fieldValues).toEqual([JSON.parse(value.toString('utf8')).f]);
      }
    }), { numRuns: 3000 });
  });
});

const cfgOf = (env: Record<string, string> = {}): SinkConfig => loadSinkConfig({ BUCKET_NAME: 'my-bucket', ...env });

function rec(over: { key?: Buffer | string | null; value?: Buffer | string | null; headers?: [string, Buffer | string][]; offset?: bigint } = {}): KafkaRecord {
  const buf = (v: Buffer | string | null | undefined, dflt: Buffer | null) =>
    v === undefined ? dflt : v === null ? null : typeof v === 'string' ? Buffer.from(v, 'utf8') : v;
  return {
    topic: 'orders',
    partition: 0,
    offset: over.offset ?? 42n,
    timestamp: 1_767_225_600_000,
    timestampType: 'CREATE_TIME',
    key: buf(over.key, Buffer.from('order-1')),
    value: buf(over.value, Buffer.from('{"status":"paid"}')),
    headers: (over.headers ?? []).map(([key, v]) => ({ key, value: typeof v === 'string' ? Buffer.from(v) : v })),
  };
}

/** Converts with the configuration's plan. */
function convert(cfg: SinkConfig, r: KafkaRecord): SinkRecord {
  return convertRecord(cfg, convertPlan(cfg), r);
}

/** Converts and returns the RecordError thrown (fails the test if none is thrown). */
function convertError(cfg: SinkConfig, r: KafkaRecord): RecordError {
  try {
    convert(cfg, r);
  } catch (err) {
    expect(err).toBeInstanceOf(RecordError);
    return err as RecordError;
  }
  throw new Error('convertRecord did not throw');
}

const INVALID_UTF8 = Buffer.from([0x61, 0xc3, 0x28]);
const ORDER_SCHEMA = JSON.stringify({
  type: 'record',
  name: 'Order',
  fields: [
    { name: 'order_id', type: 'string' },
    { name: 'amount', type: 'double' },
    { name: 'big', type: ['null', 'long'], default: null },
  ],
});

describe('filterRecord: tombstones', () => {
  it.each([
    ['ignore', 'tombstone-ignored'],
    ['deadletter', 'tombstone-deadletter'],
    ['write', 'keep'],
  ] as const)('TOMBSTONES=%s → %s', (mode, outcome) => {
    // Prepare
    const cfg = cfgOf({ TOMBSTONES: mode });

    // Act
    const got = filterRecord(cfg, rec({ value: null }));

    // Assess
    expect(got).toBe(outcome);
  });

  it('does not apply the value regex to a written tombstone', () => {
    // Prepare
    const cfg = cfgOf({ TOMBSTONES: 'write', FILTER_REGEX: 'paid' });

    // Act
    const got = filterRecord(cfg, rec({ value: null }));

    // Assess
    expect(got).toBe('keep');
  });

  it('keeps records with a value whatever the tombstone mode', () => {
    // Prepare
    const cfgs = ['ignore', 'write', 'deadletter'].map((m) => cfgOf({ TOMBSTONES: m }));

    // Act
    const got = cfgs.map((c) => filterRecord(c, rec({ value: '' })));

    // Assess
    expect(got).toEqual(['keep', 'keep', 'keep']);
  });
});

describe('filterRecord: FILTER_REGEX', () => {
  it('keeps matching values and filters the others', () => {
    // Prepare
    const cfg = cfgOf({ FILTER_REGEX: '"status":"(paid|shipped)"' });
    const values = ['{"status":"paid"}', '{"status":"created"}', '{"status":"shipped","n":1}', 'paid'];

    // Act
    const got = values.map((v) => filterRecord(cfg, rec({ value: v })));

    // Assess
    expect(got).toEqual(['keep', 'filtered', 'keep', 'filtered']);
  });

  it('gives the same answer for the same record every time (no lastIndex state)', () => {
    // Prepare
    const cfg = cfgOf({ FILTER_REGEX: 'paid' });
    const r = rec({ value: 'paid paid' });

    // Act
    const got = [filterRecord(cfg, r), filterRecord(cfg, r), filterRecord(cfg, r)];

    // Assess
    expect(got).toEqual(['keep', 'keep', 'keep']);
  });

  it('matches Unicode text as code points (the u flag)', () => {
    // Prepare
    const cfg = cfgOf({ FILTER_REGEX: '^\\{"city":"M.nchen"\\}$' });

    // Act
    const got = [filterRecord(cfg, rec({ value: '{"city":"München"}' })), filterRecord(cfg, rec({ value: '{"city":"Mnchen"}' }))];

    // Assess
    expect(got).toEqual(['keep', 'filtered']);
  });
});

describe('convertRecord: text and encodings', () => {
  it('converts a jsonl record: key, headers and value checked, and written from their bytes (no text made), raw byte count', () => {
    // Prepare
    const cfg = cfgOf();
    const r = rec({ key: 'order-1', value: '{"status":"paid"}', headers: [['trace', 'abc'], ['trace', 'def']] });

    // Act
    const got = convert(cfg, r);
    const forTemplate = convert(cfgOf({ KEY_TEMPLATE: '{{topic}}/{{key}}/{{partition}}-{{start_offset}}' }), r);

    // Assess
    expect(got).toEqual({
      record: r,
      keyText: null, // the encoder escapes the key's bytes (checked UTF-8 here)
      valueText: RAW_JSON_TEXT, // the encoder copies the value's bytes
      value: undefined,
      cells: undefined,
      headersJson: '[]', // jsonl writes them from the record's header bytes
      rawBytes: 7 + 17 + (5 + 3) * 2,
      fieldNames: ['status'], // jsonl: top-level names, checked across the object (admit)
      fieldValues: undefined,
    });
    expect(forTemplate.keyText).toBe('order-1'); // the key template reads its text
  });

  it('keeps a null key as null', () => {
    // Prepare
    const cfg = cfgOf();

    // Act
    const got = convert(cfg, rec({ key: null }));

    // Assess
    expect(got.keyText).toBeNull();
    expect(got.rawBytes).toBe(17);
  });

  it.each([
    ['key', { key: INVALID_UTF8 }, 'key is not valid UTF-8 (use base64 encoding for binary data)'],
    ['value', { value: INVALID_UTF8 }, 'value is not valid UTF-8 (use base64 encoding for binary data)'],
    ['header', { headers: [['trace', INVALID_UTF8]] as [string, Buffer][] },
      'header "trace" is not valid UTF-8 (use base64 encoding for binary data)'],
  ])('an invalid UTF-8 %s is a convert RecordError', (_what, over, message) => {
    // Prepare
    const cfg = cfgOf();

    // Act
    const err = convertError(cfg, rec(over));

    // Assess
    expect(err.stage).toBe('convert');
    expect(err.message).toBe(message);
  });

  it('refuses a header name holding a lone surrogate wherever it stands, before and after well-formed names', () => {
    // Prepare: the sink remembers the last well-formed name it measured; a bad one must never pass on that.
    const cfg = cfgOf();
    const bad = '\ud800x';
    const batches: [string, Buffer | string][][] = [[['trace', 'a']], [[bad, 'b'], ['trace', 'c']], [['trace', 'd'], [bad, 'e']], [[bad, 'f']], [['trace', 'g']]];

    // Act
    const outcomes = batches.map((headers) => {
      try {
        convert(cfg, rec({ headers }));
        return 'ok';
      } catch (err) {
        return (err as RecordError).message;
      }
    });

    // Assess
    const refused = 'header name "\\ud800x" holds a lone UTF-16 surrogate (not Unicode text)';
    expect(outcomes).toEqual(['ok', refused, refused, refused, 'ok']);
  });

  it('writes binary key, value and header as base64 when so configured', () => {
    // Prepare
    const cfg = cfgOf({ FORMAT: 'csv', KEY_ENCODING: 'base64', VALUE_ENCODING: 'base64', HEADER_ENCODING: 'base64' });
    const r = rec({ key: INVALID_UTF8, value: Buffer.from([0, 255, 1]), headers: [['bin', Buffer.from([0xff])]] });

    // Act
    const got = convert(cfg, r);

    // Assess
    expect([got.keyText, got.valueText, JSON.parse(got.headersJson)]).toEqual(['YcMo', 'AP8B', [{ key: 'bin', value: '/w==' }]]);
  });

  it('takes a text value as it is, without parsing it as JSON', () => {
    // Prepare
    const cfg = cfgOf({ VALUE_ENCODING: 'text' });

    // Act
    const got = convert(cfg, rec({ value: 'not { json' }));

    // Assess
    expect(got.valueText).toBe('not { json');
  });

  it.each([
    ['not json', 'not json'],
    ['an empty value', ''],
    ['a truncated object', '{"a":'],
  ])('a value that is %s is a convert RecordError with VALUE_ENCODING=json', (_what, value) => {
    // Prepare
    const cfg = cfgOf();

    // Act
    const err = convertError(cfg, rec({ value }));

    // Assess
    expect(err.stage).toBe('convert');
    expect(err.message).toMatch(/^value is not valid JSON \(.+\)$/);
  });

  it('makes a pretty-printed JSON value a single line, keeping escaped newlines inside strings', () => {
    // Prepare
    const cfg = cfgOf();
    const pretty = '{\r\n  "a": 1,\n  "s": "x\\ny",\n  "b": [\n    1,\n    2\n  ]\n}\n';

    // Act
    const got = convert(cfg, rec({ value: pretty }));

    // Assess
    expect(got.valueText).toBe('{"a": 1,"s": "x\\ny","b": [1,2]}');
    expect(JSON.parse(got.valueText as string)).toEqual({ a: 1, s: 'x\ny', b: [1, 2] });
  });

  it('leaves the value text of a tombstone null', () => {
    // Prepare
    const cfg = cfgOf({ TOMBSTONES: 'write' });

    // Act
    const got = convert(cfg, rec({ value: null }));

    // Assess
    expect([got.valueText, got.value, got.cells]).toEqual([null, undefined, undefined]);
  });
});

describe('convertRecord: parsed values, exact integers and schemas', () => {
  it('keeps 2^63-1 exactly as a BigInt when parquet needs the value (its fields, taken from the bytes)', () => {
    // Prepare
    const cfg = cfgOf({ FORMAT: 'parquet' });
    const value = '{"id":9223372036854775807,"small":5,"neg":-9223372036854775808,"f":1.5,"o":{"a":[1,2]}}';

    // Act
    const got = convert(cfg, rec({ value }));

    // Assess
    expect(got.value).toBeUndefined();
    expect(got.fieldNames).toEqual(['id', 'small', 'neg', 'f', 'o']);
    expect(got.fieldValues).toEqual([9223372036854775807n, 5, -9223372036854775808n, 1.5, new JsonText('{"a":[1,2]}')]);
    expect(typeof got.fieldValues![0]).toBe('bigint');
  });

  it('integers at the edges of int64 and beyond: BigInt within, the literal itself beyond (no BigInt of a huge literal)', () => {
    // 19 digits is the longest int64; 20 and more are beyond it whatever the digits (JSON has no leading zeros).
    const cases: [string, unknown][] = [
      ['9223372036854775807', 9223372036854775807n], ['-9223372036854775808', -9223372036854775808n],
      ['9223372036854775808', JSON.rawJSON('9223372036854775808')], ['-9223372036854775809', JSON.rawJSON('-9223372036854775809')],
      ['9999999999999999999', JSON.rawJSON('9999999999999999999')], ['10000000000000000000', JSON.rawJSON('10000000000000000000')],
      ['-10000000000000000000', JSON.rawJSON('-10000000000000000000')], ['9007199254740993', 9007199254740993n],
    ];
    for (const [literal, want] of cases) {
      const got = exactNumberOf(literal);
      const text = (v: unknown) => (typeof v === 'bigint' ? v.toString() : JSON.stringify(v));
      expect([literal, typeof got, text(got)]).toEqual([literal, typeof want, text(want)]);
    }
    // Beyond 19 digits no BigInt is built just to compare it (a literal of 300M+ digits makes BigInt() throw).
    const spy = vi.spyOn(globalThis, 'BigInt');
    try {
      expect(JSON.isRawJSON(exactNumberOf('9'.repeat(100_000)))).toBe(true);
      expect(JSON.isRawJSON(exactNumberOf(`-1${'0'.repeat(19)}`))).toBe(true);
      expect(spy).not.toHaveBeenCalled();
      exactNumberOf('9223372036854775807');
      expect(spy).toHaveBeenCalledTimes(1); // the spy sees the calls it must
    } finally {
      spy.mockRestore();
    }
  });

  it('keeps 2^63-1 exactly when a key template reads a value field', () => {
    // Prepare
    const cfg = cfgOf({ KEY_TEMPLATE: '{{topic}}/{{value.id}}/{{partition}}+{{start_offset}}' });

    // Act
    const got = convert(cfg, rec({ value: '{"id":9223372036854775807}' }));

    // Assess
    expect(got.value).toEqual({ id: 9223372036854775807n });
    expect(valueFieldText(got.value, ['id'])).toBe('9223372036854775807');
  });

  it('does not keep the parsed value when nothing needs it (jsonl embeds the text)', () => {
    // Prepare
    const cfg = cfgOf({ FORMAT: 'jsonl' });

    // Act
    const got = convert(cfg, rec({ value: '{"id":9223372036854775807}' }));

    // Assess
    expect(got.value).toBeUndefined();
    expect(got.valueText).toBe(RAW_JSON_TEXT);
  });

  it('jsonl: a JSON value with line breaks gets its single-line text (the encoder writes that instead of the bytes)', () => {
    const got = convert(cfgOf({ FORMAT: 'jsonl' }), rec({ value: '{\n  "id": 1,\r\n  "s": "a b"\n}' }));
    expect(got.valueText).toBe('{"id": 1,"s": "a b"}');
  });

  it.each([
    ['an array', '[1,2]'],
    ['null', 'null'],
    ['number', '42'],
    ['string', '"text"'],
  ])('a value that is %s is a RecordError for parquet', (got, value) => {
    // Prepare
    const cfg = cfgOf({ FORMAT: 'parquet' });

    // Act
    const err = convertError(cfg, rec({ value }));

    // Assess
    expect(err.stage).toBe('convert');
    expect(err.message).toBe(`value is not a JSON object (got ${got}); parquet needs one object per record, or VALUE_ENCODING=text/base64`);
  });

  it('accepts a non-object value for parquet with VALUE_ENCODING=text', () => {
    // Prepare
    const cfg = cfgOf({ FORMAT: 'parquet', VALUE_ENCODING: 'text' });

    // Act
    const got = convert(cfg, rec({ value: '[1,2]' }));

    // Assess
    expect(got.valueText).toBe('[1,2]');
    expect(got.cells).toBeUndefined();
  });

  it('turns a value into cells in schema order, leaving out unknown fields and filling defaults', () => {
    // Prepare
    const cfg = cfgOf({ FORMAT: 'avro', AVRO_SCHEMA: ORDER_SCHEMA });

    // Act
    const got = convert(cfg, rec({ value: '{"extra":true,"amount":12,"order_id":"ord-1","big":9223372036854775807}' }));
    const noBig = convert(cfg, rec({ value: '{"amount":12.5,"order_id":"ord-2"}' }));

    // Assess
    expect(got.cells).toEqual(['ord-1', 12, 9223372036854775807n]);
    expect(noBig.cells).toEqual(['ord-2', 12.5, null]);
  });

  it.each([
    ['{"order_id":"ord-1","amount":"12.5"}', 'field "amount": expected double, got "12.5"'],
    ['{"order_id":7,"amount":1}', 'field "order_id": expected string, got 7'],
    ['{"amount":1}', 'field "order_id" is missing and has no default'],
    ['{"order_id":"o","amount":1,"big":1.5}', 'field "big": expected long or null, got 1.5'],
    ['{"order_id":"o","amount":1,"big":9223372036854775808}', 'field "big": expected long or null, got 9223372036854775808'],
  ])('a value that does not fit the given schema is a schema RecordError: %s', (value, message) => {
    // Prepare
    const cfg = cfgOf({ FORMAT: 'parquet', AVRO_SCHEMA: ORDER_SCHEMA });

    // Act
    const err = convertError(cfg, rec({ value }));

    // Assess
    expect(err.stage).toBe('schema');
    expect(err.message).toBe(message);
  });

  it('a written tombstone needs every schema field to be nullable', () => {
    // Prepare
    const cfg = cfgOf({ FORMAT: 'parquet', TOMBSTONES: 'write', AVRO_SCHEMA: ORDER_SCHEMA });

    // Act
    const err = convertError(cfg, rec({ value: null }));

    // Assess
    expect(err.stage).toBe('schema');
    expect(err.message).toBe('tombstone cannot be written: field "order_id" is not nullable');
  });

  it('a written tombstone gets all-null cells when every field is nullable', () => {
    // Prepare
    const schema = JSON.stringify({ type: 'record', name: 'R', fields: [{ name: 'a', type: ['null', 'string'] }] });
    const cfg = cfgOf({ FORMAT: 'csv', TOMBSTONES: 'write', AVRO_SCHEMA: schema });

    // Act
    const got = convert(cfg, rec({ value: null }));

    // Assess
    expect(got.cells).toEqual([null]);
  });

  it('without a schema, avro rejects field names that are not Avro names and everyone rejects _kafka_ fields', () => {
    // Prepare
    const avro = cfgOf({ FORMAT: 'avro' });
    const parquet = cfgOf({ FORMAT: 'parquet' });

    // Act
    const badName = convertError(avro, rec({ value: '{"order-id":1}' }));
    const reserved = convertError(parquet, rec({ value: '{"_kafka_offset":1}' }));
    const parquetDash = convert(parquet, rec({ value: '{"order-id":1}' }));

    // Assess
    expect([badName.stage, badName.message]).toEqual(['schema', 'value field "order-id" is not a valid Avro name ([A-Za-z_][A-Za-z0-9_]*)']);
    expect([reserved.stage, reserved.message]).toEqual(['schema', 'value field "_kafka_offset" uses the prefix "_kafka_" (in any letter case) reserved for Kafka metadata columns']);
    expect(convertError(parquet, rec({ value: '{"_KAFKA_offset":1}' })).message).toBe('value field "_KAFKA_offset" uses the prefix "_kafka_" (in any letter case) reserved for Kafka metadata columns');
    expect([parquetDash.fieldNames, parquetDash.fieldValues]).toEqual([['order-id'], [1]]);
  });
});

describe('valueFieldText', () => {
  it('reads nested fields as key text', () => {
    // Prepare
    const value = { a: { b: 'x', n: 12, big: 2n ** 63n - 1n, o: { k: [1, 2n ** 64n] }, nil: null, t: true }, arr: [1] };

    // Act
    const got = [
      valueFieldText(value, ['a', 'b']),
      valueFieldText(value, ['a', 'n']),
      valueFieldText(value, ['a', 'big']),
      valueFieldText(value, ['a', 'o']),
      valueFieldText(value, ['a', 'nil']),
      valueFieldText(value, ['a', 't']),
      valueFieldText(value, ['a', 'missing']),
      valueFieldText(value, ['arr', '0']),
      valueFieldText('scalar', ['a']),
    ];

    // Assess
    expect(got).toEqual(['x', '12', '9223372036854775807', '{"k":[1,18446744073709551616]}', null, 'true', undefined, undefined, undefined]);
  });
});

describe('convertPlan', () => {
  const all = { needsKey: true, needsHeaders: true };
  it.each([
    [{}, { needsValue: false, needsObject: false, avroNames: false, ...all, valueMode: 'json' }],
    [{ FORMAT: 'csv' }, { needsValue: false, needsObject: true, topLevelCells: true, avroNames: false, ...all, valueMode: 'json' }],
    [{ FORMAT: 'avro' }, { needsValue: false, needsObject: true, topLevelCells: true, avroNames: true, ...all, valueMode: 'json' }],
    [{ FORMAT: 'avro', AVRO_SCHEMA: '{"type":"record","name":"R","fields":[{"name":"a","type":"long"}]}' }, { needsValue: true, needsObject: true, topLevelCells: false, valueMode: 'json' }],
    [{ FORMAT: 'parquet', KEY_TEMPLATE: '{{topic}}/{{value.a}}/{{partition}}+{{start_offset}}' }, { needsValue: true, needsObject: true, topLevelCells: false, valueMode: 'json' }],
    [{ FORMAT: 'parquet', FIELDS: 'key,offset' }, { needsValue: false, needsObject: false, avroNames: false, needsKey: true, needsHeaders: false, valueMode: 'raw' }],
    [{ FORMAT: 'parquet', VALUE_ENCODING: 'base64' }, { needsValue: false, needsObject: false, avroNames: false, ...all, valueMode: 'base64' }],
    [{ KEY_TEMPLATE: '{{topic}}/{{value.a}}/{{partition}}+{{start_offset}}' }, { needsValue: true, needsObject: false, avroNames: false, ...all, valueMode: 'json' }],
    [{ FORMAT: 'text' }, { needsValue: false, needsObject: false, avroNames: false, needsKey: false, needsHeaders: false, valueMode: 'utf8' }],
    [{ FORMAT: 'bytes', VALUE_ENCODING: 'base64' }, { needsValue: false, needsObject: false, avroNames: false, needsKey: false, needsHeaders: false, valueMode: 'raw' }],
    [{ FIELDS: 'value,offset', KEY_TEMPLATE: '{{topic}}/{{key}}/{{partition}}+{{start_offset}}' }, { needsValue: false, needsObject: false, avroNames: false, needsKey: true, needsHeaders: false, valueMode: 'json' }],
  ])('%j → %j', (env, plan) => {
    // Prepare
    const cfg = cfgOf(env as Record<string, string>);

    // Act
    const got = convertPlan(cfg);

    // Assess
    expect(got).toMatchObject(plan);
  });
});

describe('convertRecord: only what the output holds is checked', () => {
  const convert = (env: Record<string, string>, r: KafkaRecord) => {
    const cfg = cfgOf(env);
    return convertRecord(cfg, convertPlan(cfg), r);
  };

  it('a binary header or key does not dead-letter a record whose output leaves them out', () => {
    // Prepare
    const r = rec({ key: Buffer.from([0xff, 0x00]), value: '{"a":1}', headers: [['traceparent', Buffer.from([0xc3])]] });

    // Act
    const got = convert({ FIELDS: 'value,offset' }, r);

    // Assess
    expect([got.keyText, got.headersJson, got.valueText]).toEqual([null, '[]', RAW_JSON_TEXT]);
  });

  it('the same binary header dead-letters the record when the output writes headers as text', () => {
    const r = rec({ value: '{"a":1}', headers: [['traceparent', Buffer.from([0xc3])]] });
    expect(() => convert({ FIELDS: 'value,headers' }, r)).toThrow('header "traceparent" is not valid UTF-8 (use base64 encoding for binary data)');
  });

  it('bytes format takes any value bytes, whatever VALUE_ENCODING says', () => {
    const r = rec({ value: Buffer.from([0xff, 0xfe, 0x00, 0x7b]) });
    expect(() => convert({ FORMAT: 'bytes', VALUE_ENCODING: 'json' }, r)).not.toThrow();
  });

  it('text format writes UTF-8 text, whatever VALUE_ENCODING says: plain text passes, binary does not', () => {
    expect(convert({ FORMAT: 'text', VALUE_ENCODING: 'json' }, rec({ value: 'plain words' })).valueText).toBe('plain words');
    expect(() => convert({ FORMAT: 'text', VALUE_ENCODING: 'base64' }, rec({ value: Buffer.from([0xff]) })))
      .toThrow('value is not valid UTF-8 (use base64 encoding for binary data)');
  });
});

describe('toCell through a schema: values a column cannot hold are dead letters', () => {
  const schema = JSON.stringify({
    type: 'record', name: 'T', fields: [
      { name: 'd', type: ['null', { type: 'int', logicalType: 'date' }], default: null },
      { name: 'tm', type: ['null', { type: 'long', logicalType: 'timestamp-millis' }], default: null },
      { name: 'f', type: ['null', 'float'], default: null },
      { name: 'constructor', type: ['null', 'string'], default: null },
    ],
  });
  const convert = (value: string) => {
    const cfg = cfgOf({ FORMAT: 'parquet', AVRO_SCHEMA: schema });
    return convertRecord(cfg, convertPlan(cfg), rec({ value }));
  };

  it.each([
    ['{"d": 3000000000}', 'field "d": expected date or null, got 3000000000'],
    ['{"d": "2024-02-30"}', 'field "d": expected date or null, got "2024-02-30"'],
    ['{"tm": 9000000000000000}', 'field "tm": expected timestamp-millis or null, got 9000000000000000'],
    ['{"tm": "2024-02-30T00:00:00Z"}', 'field "tm": expected timestamp-millis or null, got "2024-02-30T00:00:00Z"'],
    ['{"f": 1e300}', 'field "f": expected float or null, got 1e+300'],
  ])('%s is refused: %s', (value, reason) => {
    expect(() => convert(value)).toThrow(reason);
  });

  it('a missing field named like an inherited property (constructor) is null, not the inherited function', () => {
    expect(convert('{"d": 1}').cells).toEqual([1, null, null, null]);
    expect(convert('{"tm": "2024-03-01T00:30:00+02:00"}').cells).toEqual([null, Date.parse('2024-02-29T22:30:00Z'), null, null]);
  });
});

describe('headersJsonOf: the headers column text made from bytes', () => {
  // The oracle: what the sink wrote before, an object per header through JSON.stringify, the value decoded as text
  // (TextDecoder fatal: the same bytes refused) or as base64.
  const oracle = (headers: KafkaRecord['headers'], encoding: 'text' | 'base64'): string => JSON.stringify(headers.map((h) => ({
    key: h.key,
    value: h.value === null ? null : encoding === 'base64' ? h.value.toString('base64') : new TextDecoder('utf-8', { fatal: true }).decode(h.value),
  })));
  // Bytes that need escaping (quotes, backslashes, every control character, DEL), UTF-8 of every length, U+2028/9
  // (not escaped), invalid UTF-8 (overlong, surrogate halves, cut sequences).
  const piece = fc.oneof(
    fc.constantFrom(...['"', '\\', '\n', '\t', '\u0000', '\u001f', '\u007f', 'é', '€', '😀', '\u2028', '\u2029', 'a', ' ', '/'].map((c) => Buffer.from(c))),
    fc.constantFrom(Buffer.from([0xc0, 0x80]), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from([0xe2, 0x82]), Buffer.from([0xff])),
    fc.uint8Array({ maxLength: 6 }).map((b) => Buffer.from(b)),
  );
  const header = fc.record({
    key: fc.oneof(fc.constantFrom('trace-id', 'a"b', 'x\\y', 'é😀', 'ctl\u0001', ''), fc.string({ unit: 'binary', maxLength: 8 })),
    value: fc.option(fc.array(piece, { maxLength: 5 }).map((ps) => Buffer.concat(ps)), { nil: null }),
  });

  it('is JSON.stringify of the header objects, byte for byte, and refuses the same values', () => {
    fc.assert(fc.property(fc.array(header, { maxLength: 4 }), fc.constantFrom('text' as const, 'base64' as const), (headers, encoding) => {
      let want: string | Error;
      try {
        want = oracle(headers, encoding);
      } catch (err) {
        want = err as Error;
      }
      if (want instanceof Error) {
        expect(() => headersJsonOf(headers, encoding)).toThrow(RecordError);
        expect(() => headersJsonOf(headers, encoding)).toThrow(/^header ".*" is not valid UTF-8/s);
      } else expect(headersJsonOf(headers, encoding)).toBe(want);
    }), { numRuns: 3000 });
  });

  it('values past the shared buffer (64 KiB), before and after shorter ones, are whole', () => {
    const big = { key: 'big', value: Buffer.alloc(100_000, 0x61) };
    const small = { key: 's', value: Buffer.from('v') };
    for (const headers of [[big], [small], [small, big, small], [big, big]]) expect(headersJsonOf(headers, 'text')).toBe(oracle(headers, 'text'));
  });

  it('through convertRecord: a record without headers, or whose output leaves them out, has []', () => {
    const cfg = cfgOf({ FORMAT: 'parquet' });
    expect(convertRecord(cfg, convertPlan(cfg), rec({ value: '{"a":1}', headers: [] })).headersJson).toBe('[]');
    const r = { ...rec({ value: '{"a":1}' }), headers: [{ key: 'h', value: Buffer.from('v') }, { key: 'h', value: null }] };
    expect(convertRecord(cfg, convertPlan(cfg), r).headersJson)
      .toBe('[{"key":"h","value":"v"},{"key":"h","value":null}]');
  });
});

describe('convertRecord: a value is checked as UTF-8 before as JSON, whatever the check skips', () => {
  // The UTF-8 check of a JSON value runs only when the JSON check saw a byte above 0x7F or failed; the outcome must be
  // the one of checking UTF-8 first, then JSON: valid UTF-8 and ASCII JSON alike, bytes of any kind in or out of
  // strings, overlong forms, surrogate halves, cut sequences, on every format that reads JSON values.
  const piece = fc.oneof(
    fc.constantFrom('{"a":', '"x"', '1', '}', '[', ']', ',', '"', ' ', '\\u00e9', '"é"', '😀', 'null', '{"b":{"c":[1,2]}}').map((t) => Buffer.from(t)),
    fc.constantFrom(Buffer.from([0xc0, 0x80]), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from([0xe2, 0x82]), Buffer.from([0xff]), Buffer.from([0x80]), Buffer.from([0xc3, 0xa9])),
  );
  const value = fc.oneof(
    fc.array(piece, { maxLength: 8 }).map((ps) => Buffer.concat(ps)),
    // A valid object with one string's bytes replaced by any of the pieces.
    fc.array(piece, { maxLength: 3 }).map((ps) => Buffer.concat([Buffer.from('{"k":"'), ...ps, Buffer.from('","n":1}')])),
  );

  it('is the UTF-8 error when the bytes are not UTF-8, else what the JSON check says', () => {
    for (const format of ['jsonl', 'parquet', 'csv']) {
      const cfg = cfgOf({ FORMAT: format, COMPRESSION: 'none' });
      const plan = convertPlan(cfg);
      fc.assert(fc.property(value, (v) => {
        const outcome = (): string => {
          try {
            convertRecord(cfg, plan, rec({ value: v }));
            return 'ok';
          } catch (err) {
            return (err as Error).message;
          }
        };
        const got = outcome();
        if (!isUtf8(v)) expect(got).toBe('value is not valid UTF-8 (use base64 encoding for binary data)');
        else expect(got).not.toMatch(/UTF-8/);
      }), { numRuns: 1500 });
    }
  });
});
