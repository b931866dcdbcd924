import { describe, expect, it } from 'vitest';
import { loadSinkConfig, type SinkConfig } from '../../../lambdas/shared/config.ts';
import { convertPlan, convertRecord, type SinkRecord } from '../../../lambdas/shared/convert.ts';
import type { KafkaRecord } from '../../../lambdas/shared/decode.ts';
import { TimeFormatter } from '../../../lambdas/shared/key-template.ts';
import { KeyGrouper, partitionRecords, type GroupedRecord, type PlannedObject } from '../../../lambdas/shared/partition.ts';

const cfgOf = (env: Record<string, string> = {}): SinkConfig =>
  loadSinkConfig({ BUCKET_NAME: 'my-bucket', COMPRESSION: 'none', ...env });

const T0 = Date.UTC(2026, 0, 1, 10, 0, 0, 0);
const pad = (n: number) => String(n).padStart(20, '0');

interface Spec {
  offset: number;
  timestamp?: number;
  key?: string | null;
  value?: string;
}

function records(cfg: SinkConfig, specs: Spec[]): SinkRecord[] {
  const plan = convertPlan(cfg);
  return specs.map((s) => {
    const r: KafkaRecord = {
      topic: 'orders',
      partition: 3,
      offset: BigInt(s.offset),
      timestamp: s.timestamp ?? T0 + s.offset,
      timestampType: 'CREATE_TIME',
      key: s.key === null ? null : Buffer.from(s.key ?? `k${s.offset}`),
      value: Buffer.from(s.value ?? `{"n":${s.offset}}`),
      headers: [],
    };
    return convertRecord(cfg, plan, r);
  });
}

const range = (from: number, to: number): Spec[] => Array.from({ length: to - from + 1 }, (_, i) => ({ offset: from + i }));

/** key, start, end and the offsets of each object: the whole plan in one comparable value. */
function summary(result: PartitionResult): [string, bigint, bigint, number[]][] {
  return result.objects.map((o) => [o.key, o.startOffset, o.endOffset, o.records.map((r) => Number(r.record.offset))]);
}

interface PartitionResult {
  objects: PlannedObject[];
  rejected: { record: SinkRecord; reason: string }[];
}

/** The per-record key grouping (as the pipeline runs it) followed by the partition stage. */
function plan(cfg: SinkConfig, specs: Spec[], nowMs = 0): PartitionResult {
  const grouper = new KeyGrouper(cfg, new TimeFormatter(cfg.timezone));
  const grouped: GroupedRecord[] = [];
  const rejected: PartitionResult['rejected'] = [];
  for (const record of records(cfg, specs)) {
    try {
      grouped.push({ record, groupKey: grouper.groupKey(record, nowMs) });
    } catch (err) {
      rejected.push({ record, reason: (err as Error).message });
    }
  }
  return { objects: partitionRecords(cfg, grouped), rejected };
}

const WINDOW_TEMPLATE = '{{topic}}/{{partition}}/{{start_offset}}-{{end_offset}}';

describe('partitionRecords: prefix groups', () => {
  it('splits records by {{timestamp:…}} hour, keeping offset order within each group', () => {
    // Prepare
    const cfg = cfgOf({ KEY_TEMPLATE: '{{topic}}/dt={{timestamp:yyyy-MM-dd}}/hour={{timestamp:HH}}/{{topic}}+{{partition}}+{{start_offset}}' });
    const specs: Spec[] = [
      { offset: 0, timestamp: T0 + 3_599_999 },
      { offset: 1, timestamp: T0 + 3_600_000 },
      { offset: 2, timestamp: T0 + 1000 },
      { offset: 3, timestamp: T0 + 3_700_000 },
    ];

    // Act
    const result = plan(cfg, specs);

    // Assess
    expect(result.rejected).toEqual([]);
    expect(summary(result)).toEqual([
      [`topics/orders/dt=2026-01-01/hour=10/orders+3+${pad(0)}.jsonl`, 0n, 99_999n, [0, 2]],
      [`topics/orders/dt=2026-01-01/hour=11/orders+3+${pad(1)}.jsonl`, 1n, 99_999n, [1, 3]],
    ]);
    expect(result.objects.map((o) => [o.topic, o.partition])).toEqual([['orders', 3], ['orders', 3]]);
  });

  it('separates records of the same minute when the template has seconds or milliseconds', () => {
    // Prepare
    const seconds = cfgOf({ KEY_TEMPLATE: '{{timestamp:HH-mm-ss}}/{{topic}}+{{partition}}+{{start_offset}}' });
    const millis = cfgOf({ KEY_TEMPLATE: '{{timestamp:ss.SSS}}/{{topic}}+{{partition}}+{{start_offset}}' });
    const specs: Spec[] = [{ offset: 0, timestamp: T0 }, { offset: 1, timestamp: T0 + 1 }, { offset: 2, timestamp: T0 + 1000 }];

    // Act
    const bySecond = plan(seconds, specs).objects.map((o) => [o.key, o.records.length]);
    const byMilli = plan(millis, specs).objects.map((o) => [o.key, o.records.length]);

    // Assess
    expect(bySecond).toEqual([[`topics/10-00-00/orders+3+${pad(0)}.jsonl`, 2], [`topics/10-00-01/orders+3+${pad(2)}.jsonl`, 1]]);
    expect(byMilli).toEqual([
      [`topics/00.000/orders+3+${pad(0)}.jsonl`, 1],
      [`topics/00.001/orders+3+${pad(1)}.jsonl`, 1],
      [`topics/01.000/orders+3+${pad(2)}.jsonl`, 1],
    ]);
  });

  it('uses the time zone for {{timestamp:…}}', () => {
    // Prepare
    const cfg = cfgOf({ TIMEZONE: 'America/New_York', KEY_TEMPLATE: '{{timestamp:yyyy-MM-dd}}/{{topic}}+{{partition}}+{{start_offset}}' });

    // Act
    const result = plan(cfg, [{ offset: 0, timestamp: Date.UTC(2026, 0, 1, 3, 0, 0) }]);

    // Assess
    expect(result.objects.map((o) => o.key)).toEqual([`topics/2025-12-31/orders+3+${pad(0)}.jsonl`]);
  });

  it('uses the invocation wall clock with TIMESTAMP_SOURCE=wallclock', () => {
    // Prepare
    const cfg = cfgOf({ TIMESTAMP_SOURCE: 'wallclock', KEY_TEMPLATE: '{{timestamp:yyyy-MM-dd-HH}}/{{topic}}+{{partition}}+{{start_offset}}' });
    const now = Date.UTC(2027, 5, 7, 8, 9, 10);

    // Act
    const result = plan(cfg, [{ offset: 0, timestamp: T0 }, { offset: 1, timestamp: T0 + 86_400_000 }], now);

    // Assess
    expect(summary(result)).toEqual([[`topics/2027-06-07-08/orders+3+${pad(0)}.jsonl`, 0n, 99_999n, [0, 1]]]);
  });

  it('groups by {{key}}, escaping keys and naming a null key', () => {
    // Prepare
    const cfg = cfgOf({ KEY_TEMPLATE: '{{topic}}/{{key}}/{{partition}}+{{start_offset}}', MAX_RECORDS_PER_OBJECT: '10' });
    const specs: Spec[] = [
      { offset: 10, key: 'b' },
      { offset: 11, key: 'a/x' },
      { offset: 12, key: null },
      { offset: 13, key: 'b' },
      { offset: 14, key: null },
    ];

    // Act
    const result = plan(cfg, specs);

    // Assess
    expect(summary(result)).toEqual([
      [`topics/orders/b/3+${pad(10)}.jsonl`, 10n, 19n, [10, 13]],
      [`topics/orders/a%2Fx/3+${pad(11)}.jsonl`, 11n, 19n, [11]],
      [`topics/orders/_null/3+${pad(12)}.jsonl`, 12n, 19n, [12, 14]],
    ]);
  });

  it('groups by {{value.field}}, naming a missing field', () => {
    // Prepare
    const cfg = cfgOf({ KEY_TEMPLATE: '{{topic}}/region={{value.customer.region}}/{{partition}}+{{start_offset}}' });
    const specs: Spec[] = [
      { offset: 0, value: '{"customer":{"region":"eu"}}' },
      { offset: 1, value: '{"customer":{"region":"us"}}' },
      { offset: 2, value: '{"customer":{}}' },
      { offset: 3, value: '{"customer":{"region":"eu"},"n":3}' },
    ];

    // Act
    const result = plan(cfg, specs);

    // Assess
    expect(summary(result).map(([key, , , offsets]) => [key, offsets])).toEqual([
      [`topics/orders/region=eu/3+${pad(0)}.jsonl`, [0, 3]],
      [`topics/orders/region=us/3+${pad(1)}.jsonl`, [1]],
      [`topics/orders/region=_null/3+${pad(2)}.jsonl`, [2]],
    ]);
  });

  it.each([
    [{ FORMAT: 'jsonl', COMPRESSION: 'gzip' }, 'jsonl.gz'],
    [{ FORMAT: 'csv', COMPRESSION: 'zstd' }, 'csv.zst'],
    [{ FORMAT: 'bytes' }, 'bin'],
    [{ FORMAT: 'text' }, 'txt'],
    [{ FORMAT: 'avro', COMPRESSION: 'snappy' }, 'avro'],
    [{ FORMAT: 'parquet', COMPRESSION: 'zstd' }, 'parquet'],
  ])('appends the extension for %j: .%s', (env, ext) => {
    // Prepare
    const cfg = cfgOf({ ...env, KEY_TEMPLATE: WINDOW_TEMPLATE, MAX_RECORDS_PER_OBJECT: '10' });

    // Act
    const result = plan(cfg, [{ offset: 0 }]);

    // Assess
    expect(result.objects.map((o) => o.key)).toEqual([`topics/orders/3/${pad(0)}-${pad(9)}.${ext}`]);
  });
});

describe('partitionRecords: offset-aligned cuts', () => {
  it('MAX_RECORDS_PER_OBJECT=10, offsets 5..24 → objects from 5, 10 and 20 ending at 9, 19 and 29', () => {
    // Prepare
    const cfg = cfgOf({ KEY_TEMPLATE: WINDOW_TEMPLATE, MAX_RECORDS_PER_OBJECT: '10' });

    // Act
    const result = plan(cfg, range(5, 24));

    // Assess
    expect(summary(result)).toEqual([
      [`topics/orders/3/${pad(5)}-${pad(9)}.jsonl`, 5n, 9n, [5, 6, 7, 8, 9]],
      [`topics/orders/3/${pad(10)}-${pad(19)}.jsonl`, 10n, 19n, [10, 11, 12, 13, 14, 15, 16, 17, 18, 19]],
      [`topics/orders/3/${pad(20)}-${pad(29)}.jsonl`, 20n, 29n, [20, 21, 22, 23, 24]],
    ]);
  });

  it('handles offset gaps (compacted topics): a window holds whatever offsets it has', () => {
    // Prepare
    const cfg = cfgOf({ KEY_TEMPLATE: WINDOW_TEMPLATE, MAX_RECORDS_PER_OBJECT: '10' });

    // Act
    const result = plan(cfg, [{ offset: 5 }, { offset: 8 }, { offset: 31 }, { offset: 1_000_000_007 }]);

    // Assess
    expect(summary(result).map(([, s, e, o]) => [s, e, o])).toEqual([
      [5n, 9n, [5, 8]],
      [31n, 39n, [31]],
      [1_000_000_007n, 1_000_000_009n, [1_000_000_007]],
    ]);
  });

  it('with MAX_RECORDS_PER_OBJECT=1 every record is its own object', () => {
    // Prepare
    const cfg = cfgOf({ KEY_TEMPLATE: WINDOW_TEMPLATE, MAX_RECORDS_PER_OBJECT: '1' });

    // Act
    const result = plan(cfg, range(7, 9));

    // Assess
    expect(summary(result).map(([, s, e]) => [s, e])).toEqual([[7n, 7n], [8n, 8n], [9n, 9n]]);
  });

  it('cuts a window by MAX_OBJECT_BYTES, each object ending just before the next one starts', () => {
    // Prepare
    const cfg = cfgOf({ KEY_TEMPLATE: WINDOW_TEMPLATE, MAX_RECORDS_PER_OBJECT: '10', MAX_OBJECT_BYTES: '1024' });
    const big = `"${'x'.repeat(398)}"`; // 400 bytes
    const specs = range(0, 4).map((s) => ({ ...s, key: null, value: big }));

    // Act
    const result = plan(cfg, specs);

    // Assess
    expect(result.objects.map((o) => o.records.reduce((n, r) => n + r.rawBytes, 0))).toEqual([800, 800, 400]);
    expect(summary(result).map(([, s, e, o]) => [s, e, o])).toEqual([
      [0n, 1n, [0, 1]],
      [2n, 3n, [2, 3]],
      [4n, 9n, [4]],
    ]);
  });
});

describe('partitionRecords: S3 key length', () => {
  it('rejects the records of an object whose key is over 1024 bytes, keeping the others', () => {
    // Prepare
    const cfg = cfgOf({ FORMAT: 'jsonl', COMPRESSION: 'gzip', KEY_TEMPLATE: `{{topic}}/${'d'.repeat(900)}/{{key}}/{{partition}}+{{start_offset}}` });
    const specs: Spec[] = [{ offset: 0, key: 'a' }, { offset: 1, key: 'x'.repeat(200) }, { offset: 2, key: 'x'.repeat(200) }];

    // Act
    const result = plan(cfg, specs);

    // Assess
    expect(result.objects.map((o) => [Buffer.byteLength(o.key), o.records.map((r) => Number(r.record.offset))])).toEqual([[948, [0]]]);
    expect(result.rejected.map((x) => [Number(x.record.record.offset), x.reason])).toEqual([
      [1, 'object key is 1060 bytes, over the S3 limit of 1024'],
      [2, 'object key is 1060 bytes, over the S3 limit of 1024'],
    ]);
  });

  it('accepts a key of exactly 1024 bytes', () => {
    // Prepare: prefix 7 + "orders/" 7 + literal + "/3+" 3 + offset 20 + ".jsonl" 6 = 1024
    const literal = 'd'.repeat(1024 - 7 - 7 - 3 - 20 - 6);
    const cfg = cfgOf({ KEY_TEMPLATE: `{{topic}}/${literal}/{{partition}}+{{start_offset}}` });

    // Act
    const result = plan(cfg, [{ offset: 0 }]);

    // Assess
    expect(result.rejected).toEqual([]);
    expect(result.objects.map((o) => Buffer.byteLength(o.key))).toEqual([1024]);
  });
});

describe('partitionRecords: retry stability', () => {
  it('a retried batch that starts later at a window boundary rewrites the same keys for the same records', () => {
    // Prepare
    const cfg = cfgOf({ KEY_TEMPLATE: WINDOW_TEMPLATE, MAX_RECORDS_PER_OBJECT: '10' });

    // Act
    const first = summary(plan(cfg, range(5, 24)));
    const later = summary(plan(cfg, range(10, 33)));

    // Assess
    expect(later).toEqual([
      first[1],
      [first[2][0], 20n, 29n, [20, 21, 22, 23, 24, 25, 26, 27, 28, 29]],
      [`topics/orders/3/${pad(30)}-${pad(39)}.jsonl`, 30n, 39n, [30, 31, 32, 33]],
    ]);
  });

  it('a shorter batch from the same start (a split retry) gives the same keys', () => {
    // Prepare
    const cfg = cfgOf({ KEY_TEMPLATE: '{{topic}}/{{timestamp:HH}}/{{partition}}+{{start_offset}}', MAX_RECORDS_PER_OBJECT: '10' });
    const specs = range(5, 24).map((s) => ({ ...s, timestamp: T0 + (s.offset % 2) * 3_600_000 }));

    // Act
    const full = plan(cfg, specs).objects.map((o) => o.key);
    const shorter = plan(cfg, specs.slice(0, 8)).objects.map((o) => o.key);

    // Assess
    expect(full).toEqual([
      `topics/orders/11/3+${pad(5)}.jsonl`,
      `topics/orders/11/3+${pad(11)}.jsonl`,
      `topics/orders/11/3+${pad(21)}.jsonl`,
      `topics/orders/10/3+${pad(6)}.jsonl`,
      `topics/orders/10/3+${pad(10)}.jsonl`,
      `topics/orders/10/3+${pad(20)}.jsonl`,
    ]);
    expect(shorter).toEqual([full[0], full[1], full[3], full[4]]);
  });

  it('the same records planned twice give identical plans', () => {
    // Prepare
    const cfg = cfgOf({ MAX_RECORDS_PER_OBJECT: '7' });

    // Act
    const a = summary(plan(cfg, range(0, 30)));
    const b = summary(plan(cfg, range(0, 30)));

    // Assess
    expect(b).toEqual(a);
    expect(a.map(([, s]) => s)).toEqual([0n, 7n, 14n, 21n, 28n]);
  });
});
