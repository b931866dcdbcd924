/** The compactor's jsonl codec: rows are the sink's lines byte for byte, offsets exact to int64, order restored. */
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { codecFor, type Codec } from '../../../lambdas/compactor/codec.ts';
import { loadSinkConfig } from '../../../lambdas/shared/config.ts';

const codec = codecFor(loadSinkConfig({ BUCKET_NAME: 'lake' })) as Codec;

describe('jsonl codec', () => {
  it('keeps each line as written, with its exact offset and its time; a nested "offset" is not the record\'s', () => {
    const lines = [
      '{"value":{"offset":1,"n":12345678901234567890},"offset":9223372036854775807,"timestamp":"2026-03-01T22:00:00.001Z"}',
      '{"offset":9007199254740993,"value":"x"}',
    ];
    const rows = codec.decode(gzipSync(`${lines.join('\n')}\n`), 'test');
    expect(rows.map((r) => [r.offset, r.timeMs, r.bytes.toString()])).toEqual([
      [9007199254740993n, undefined, lines[1]],
      [9223372036854775807n, Date.UTC(2026, 2, 1, 22, 0, 0, 1), lines[0]],
    ]);
  });

  it('names the object and line of what it cannot read', () => {
    expect(() => codec.decode(gzipSync('{"offset":1}\n{"value":2}\n'), 's3://lake/k')).toThrow('s3://lake/k: line 2 is not a record of this sink (a line without a top-level "offset")');
    expect(() => codec.decode(gzipSync('{"offset":1}\nnot json\n'), 's3://lake/k')).toThrow(/s3:\/\/lake\/k: line 2 is not a record of this sink/);
  });

  it('refuses what it cannot deduplicate', () => {
    expect(codecFor(loadSinkConfig({ BUCKET_NAME: 'lake', FIELDS: 'value' }))).toBe('fields=value: the compactor deduplicates records by offset, so fields must include offset');
  });
});
