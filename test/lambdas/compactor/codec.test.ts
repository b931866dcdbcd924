/** The compactor's jsonl codec: rows are the sink's lines byte for byte, offsets exact to int64, order restored. */
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { codecFor, type Codec } from '../../../lambdas/compactor/codec.ts';
import { loadSinkConfig } from '../../../lambdas/shared/config.ts';

const codec = codecFor(loadSinkConfig({ BUCKET_NAME: 'lake' })) as Codec;

describe('jsonl codec', () => {
  it('keeps each line as written, with its exact offset and its time; a nested "offset" is not the record\'s', async () => {
    const lines = [
      '{"value":{"offset":1,"n":12345678901234567890},"offset":9223372036854775807,"timestamp":"2026-03-01T22:00:00.001Z"}',
      '{"offset":9007199254740993,"value":"x"}',
    ];
    const { rows } = await codec.decode(gzipSync(`${lines.join('\n')}\n`), 'test');
    expect(rows.map((r) => [r.offset, r.timeMs, r.bytes!.toString()])).toEqual([
      [9007199254740993n, undefined, lines[1]],
      [9223372036854775807n, Date.UTC(2026, 2, 1, 22, 0, 0, 1), lines[0]],
    ]);
  });

  it('whatever the fields\' order, the top-level offset and time, never a value\'s own keys', async () => {
    const first = codecFor(loadSinkConfig({ BUCKET_NAME: 'lake', FIELDS: 'offset,timestamp,value' })) as Codec;
    const line = '{"offset":5,"timestamp":"2026-01-01T00:00:00.000Z","value":{"offset":9,"timestamp":"1999-01-01T00:00:00.000Z","s":"\\"offset\\":7"}}';
    expect((await first.decode(gzipSync(`${line}\n`), 't')).rows.map((r) => [r.offset, r.timeMs])).toEqual([[5n, Date.UTC(2026, 0, 1)]]);
    const last = codecFor(loadSinkConfig({ BUCKET_NAME: 'lake', FIELDS: 'value,offset,timestamp' })) as Codec;
    const line2 = '{"value":{"offset":9,"timestamp":"1999-01-01T00:00:00.000Z"},"offset":6,"timestamp":"2026-01-01T00:00:00.001Z"}';
    expect((await last.decode(gzipSync(`${line2}\n`), 't')).rows.map((r) => [r.offset, r.timeMs])).toEqual([[6n, Date.UTC(2026, 0, 1, 0, 0, 0, 1)]]);
  });

  it('lines written with another field order than the configuration\'s (FIELDS changed) read the same', async () => {
    // Found by an attack: the offset was looked for by the configured order, so a value's own "offset" was taken.
    const line = '{"topic":"orders","partition":0,"offset":7,"value":{"n":1,"offset":2,"a":[{"offset":3}]},"timestamp":"2026-01-01T00:00:00.000Z"}';
    for (const fields of ['key,value,headers,topic,partition,offset,timestamp', 'offset,value', 'value,offset']) {
      const c = codecFor(loadSinkConfig({ BUCKET_NAME: 'lake', FIELDS: fields })) as Codec;
      expect((await c.decode(gzipSync(`${line}\n`), 't')).rows.map((r) => r.offset)).toEqual([7n]);
    }
  });

  it('names the object and line of what it cannot read', async () => {
    await expect(codec.decode(gzipSync('{"offset":1}\n{"value":2}\n'), 's3://lake/k')).rejects.toThrow('s3://lake/k: row 2 is not a record of this sink (a line without a top-level "offset")');
    await expect(codec.decode(gzipSync('{"offset":1}\n{"offset":"x"}\n'), 's3://lake/k')).rejects.toThrow('s3://lake/k: row 2 is not a record of this sink (a line whose "offset" is not an offset)');
  });

  it('refuses what it cannot deduplicate', async () => {
    expect(codecFor(loadSinkConfig({ BUCKET_NAME: 'lake', FIELDS: 'value' }))).toBe('fields=value: the compactor deduplicates records by offset, so fields must include offset');
  });
});
