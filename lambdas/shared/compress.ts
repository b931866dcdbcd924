/** Stage 6 — compress: row formats as a whole (gzip, zstd); avro and parquet carry their own codecs. */
import { PassThrough, type Transform } from 'node:stream';
import zlib from 'node:zlib';
import type { SinkConfig } from './config.ts';

export function compressObject(cfg: Pick<SinkConfig, 'format' | 'compression' | 'compressionLevel'>, data: Buffer): Buffer {
  if (cfg.format === 'avro' || cfg.format === 'parquet') return data;
  const level = cfg.compressionLevel;
  switch (cfg.compression) {
    case 'gzip': return zlib.gzipSync(data, level === undefined ? {} : { level });
    case 'zstd':
      return zlib.zstdCompressSync(data, {
        params: {
          [zlib.constants.ZSTD_c_compressionLevel]: level ?? 3,
          [zlib.constants.ZSTD_c_checksumFlag]: 1,
          [zlib.constants.ZSTD_c_contentSizeFlag]: 1,
        },
        pledgedSrcSize: data.length,
      });
    default: return data;
  }
}

/**
 * The same compression as a stream, for files too large to hold whole (the compactor's): one gzip member or one
 * zstd frame with its checksum, as compressObject writes, without the content size (not known up front).
 */
export function compressionStream(cfg: Pick<SinkConfig, 'format' | 'compression' | 'compressionLevel'>): Transform {
  const level = cfg.compressionLevel;
  if (cfg.format === 'avro' || cfg.format === 'parquet') return new PassThrough();
  switch (cfg.compression) {
    case 'gzip': return zlib.createGzip(level === undefined ? {} : { level });
    case 'zstd':
      return zlib.createZstdCompress({
        params: { [zlib.constants.ZSTD_c_compressionLevel]: level ?? 3, [zlib.constants.ZSTD_c_checksumFlag]: 1 },
      });
    default: return new PassThrough();
  }
}

export function contentTypeFor(format: SinkConfig['format']): string {
  switch (format) {
    case 'jsonl': return 'application/x-ndjson';
    case 'csv':
    case 'csv_with_headers': return 'text/csv; charset=utf-8';
    case 'text': return 'text/plain; charset=utf-8';
    case 'avro': return 'application/avro';
    case 'parquet': return 'application/vnd.apache.parquet';
    default: return 'application/octet-stream';
  }
}
