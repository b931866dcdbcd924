import { describe, expect, it } from 'vitest';
import { pairedTable } from '../../bench/stats.ts';

describe('pairedTable: runs of two checkouts, pair by pair', () => {
  it('gives each pair and its difference, and in how many pairs this checkout was lower', () => {
    const t = pairedTable('runner parquet+zstd', [57.1, 50.6, 54.1, 52.3, 50.7], [53.3, 54.3, 59.1, 50.6, 55.7], 'CPU-s/GB steady');
    expect(t.split('\n').slice(0, 3)).toEqual([
      '| runner parquet+zstd: run | this checkout | compared | difference |',
      '|---:|---:|---:|---:|',
      '| 1 | 57.1 | 53.3 | +7.1 % |',
    ]);
    expect(t).toContain('| 2 | 50.6 | 54.3 | −6.8 % |');
    // Differences +7.1, −6.8, −8.5, +3.4, −9.0: lower in 3 of 5, median −6.8 %.
    expect(t.split('\n').at(-1)).toBe('runner parquet+zstd: this checkout lower in 3 of 5 pairs; median difference −6.8 % (CPU-s/GB steady)');
  });

  it('pairs only the runs both have, and nothing when there are none', () => {
    expect(pairedTable('x', [1, 2, 3], [2, 2], 'u').split('\n').at(-1)).toBe('x: this checkout lower in 1 of 2 pairs; median difference +0.0 % (u)');
    expect(pairedTable('x', [], [1], 'u')).toBe('');
  });
});
