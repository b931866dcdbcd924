/** COMPRESSION_LEVEL applies to codecs that have levels; elsewhere it is refused rather than silently ignored. */
import { describe, expect, it } from 'vitest';
import { loadSinkConfig } from '../../../lambdas/shared/config.ts';

describe('COMPRESSION_LEVEL', () => {
  it.each([
    ['avro', 'snappy'], ['parquet', 'none'], ['jsonl', 'none'], ['avro', 'null'], ['parquet', 'snappy'],
  ])('is refused for %s + %s', (format, compression) => {
    expect(() => loadSinkConfig({ BUCKET_NAME: 'bkt', FORMAT: format, COMPRESSION: compression, COMPRESSION_LEVEL: '5' }))
      .toThrow(`COMPRESSION_LEVEL='5': ${compression} has no level (gzip, deflate, zstd and zstandard do)`);
  });

  it.each([['jsonl', 'zstd', '19'], ['avro', 'zstandard', '3'], ['avro', 'deflate', '9'], ['parquet', 'gzip', '1']])('is kept for %s + %s', (format, compression, level) => {
    expect(loadSinkConfig({ BUCKET_NAME: 'bkt', FORMAT: format, COMPRESSION: compression, COMPRESSION_LEVEL: level }).compressionLevel).toBe(Number(level));
  });
});
