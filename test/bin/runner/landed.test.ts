/** The closing hint of a local run: data objects only (never checkpoints or dead letters), a query per format. */
import { describe, expect, it } from 'vitest';
import { dataGlobs, dataKeys, landingHint } from '../../../bin/runner/landed.ts';

const keys = [
  'checkpoints/orders/0.json', 'checkpoints/orders/1.json',
  'dead-letters/orders/partition=0/orders+0+00000000000000000000.jsonl',
  'orders/dt=2026-01-01/hour=00/orders+0+00000000000000000000.parquet',
  'payments/dt=2026-01-01/hour=00/payments+0+00000000000000000000.parquet',
];
const layout = { prefix: '', errorPrefix: 'dead-letters/', statePrefix: 'checkpoints/', format: 'parquet', compression: 'zstd' } as const;

describe('what a local run landed', () => {
  it('with an empty PREFIX (checkpoints among the data), names the data objects and nothing else', () => {
    expect(dataKeys(keys, layout)).toEqual([keys[3], keys[4]]);
    expect(dataGlobs('/out/b', keys, layout)).toEqual(['/out/b/orders/**/*.parquet', '/out/b/payments/**/*.parquet']);
  });

  it('with the default prefix, one pattern under it; keys right under the prefix get a pattern of their own', () => {
    const cfg = { ...layout, prefix: 'topics/' };
    expect(dataGlobs('/o', ['topics/orders/x+0+1.parquet', 'checkpoints/orders/0.json'], cfg)).toEqual(['/o/topics/orders/**/*.parquet']);
    expect(dataGlobs('/o', ['topics/orders+0+1.parquet'], cfg)).toEqual(['/o/topics/*.parquet']);
  });

  it('fits the query to the format, and shows the order query only for the sample orders in Parquet', () => {
    const hint = (format: string, compression: string, sample = true) => landingHint('/o', ['t/a/x.' + ({ parquet: 'parquet', jsonl: 'jsonl.gz', csv: 'csv', csv_with_headers: 'csv', avro: 'avro' } as Record<string, string>)[format]], { ...layout, prefix: 't/', format, compression } as never, sample).join('\n');
    expect(hint('parquet', 'zstd')).toContain("read_parquet('/o/t/a/**/*.parquet') GROUP BY status");
    expect(hint('parquet', 'zstd', false)).not.toContain('status');
    expect(hint('jsonl', 'gzip')).toContain("read_json('/o/t/a/**/*.jsonl.gz', format = 'newline_delimited')");
    expect(hint('csv', 'none')).toContain('header = false');
    expect(hint('csv_with_headers', 'none')).toContain('header = true');
    expect(hint('avro', 'snappy')).not.toContain('duckdb');
    expect(hint('parquet', 'zstd')).toContain('not installed by npm ci');
    expect(landingHint('/o', ['checkpoints/orders/0.json'], layout, true)).toEqual(['No parquet objects landed under /o/']);
  });

  it('leaves out files of another format an earlier run wrote there, and says so when only those are there', () => {
    // Before, a csv run after a parquet run into the same directory was shown a pattern that matched no file.
    const mixed = ['t/orders/a+0+1.parquet', 't/orders/a+0+9.csv.zst'];
    const csv = { ...layout, prefix: 't/', format: 'csv', compression: 'zstd' } as const;
    expect(dataGlobs('/o', mixed, csv)).toEqual(['/o/t/orders/**/*.csv.zst']);
    expect(landingHint('/o', ['t/orders/a+0+1.parquet'], csv, false))
      .toEqual(['No csv objects landed under /o/t/ (only objects of another format: csv files end in .csv.zst)']);
  });

  it('points at the dead letters, with a query of their reasons, when there are any', () => {
    const hint = landingHint('/out/b', keys, layout, false);
    expect(hint.at(-2)).toBe('Dead letters under /out/b/dead-letters/ (a JSON line per record, with its stage and reason):');
    expect(hint.at(-1)).toContain("read_json('/out/b/dead-letters/**/*.jsonl', format = 'newline_delimited') GROUP BY ALL");
    expect(landingHint('/out/b', keys.filter((k) => !k.startsWith('dead-letters/')), layout, false).join('\n')).not.toContain('Dead letters');
  });
});
