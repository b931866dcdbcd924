/**
 * Windows of the compactor: the directories the sink's key template gives objects, and the span of record time each
 * covers, in the template's time zone. Checked against the sink's own key rendering: a record's object lies in the
 * window whose span holds the record's time, whatever the zone (daylight-saving changes included).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { WindowResolver, windowProblems } from '../../../lambdas/compactor/windows.ts';
import { loadSinkConfig } from '../../../lambdas/shared/config.ts';
import { parseKeyTemplate, renderObjectKey, renderRecordKey, TimeFormatter } from '../../../lambdas/shared/key-template.ts';

function keyOf(env: Record<string, string>, timeMs: number, partition = 3, start = 1234n): { key: string; resolver: WindowResolver } {
  const cfg = loadSinkConfig({ BUCKET_NAME: 'lake', ...env });
  const group = renderRecordKey(cfg.keyTemplate, new TimeFormatter(cfg.timezone), { topic: 'orders', partition, timeMs, keyText: 'k', valueField: () => 'v' });
  return { key: `${cfg.prefix}${renderObjectKey(group, start, start + 99n)}.jsonl.gz`, resolver: new WindowResolver(cfg) };
}

describe('WindowResolver', () => {
  it('the default template: hour windows, the name parts of the object', () => {
    const { key, resolver } = keyOf({}, Date.UTC(2026, 2, 1, 22, 17, 5));
    expect(resolver.resolve(key)).toEqual({
      window: {
        dir: 'topics/orders/dt=2026-03-01/hour=22/', rel: 'orders/dt=2026-03-01/hour=22/', values: { dt: '2026-03-01', hour: '22' }, topic: 'orders',
        startMs: Date.UTC(2026, 2, 1, 22), endMs: Date.UTC(2026, 2, 1, 23),
      },
      topic: 'orders', partition: 3, start: 1234n,
    });
    expect(resolver.resolve('topics/orders/dt=2026-03-01/hour=22/other-tool.json')).toBeNull();
    expect(resolver.resolve('dead-letters/orders/x.jsonl')).toBeNull();
    expect(resolver.resolve('topics/orders/dt=2026-03-01/orders+0+00000000000000000000.jsonl.gz')).toBeNull();
  });

  it.each([
    ['Europe/Berlin', '{{topic}}/dt={{timestamp:yyyy-MM-dd}}/h={{timestamp:HH}}/{{topic}}+{{partition}}+{{start_offset}}', 3_600_000],
    ['America/New_York', '{{topic}}/d={{timestamp:yyyy-MM-dd}}/{{topic}}+{{partition}}+{{start_offset}}', 86_400_000],
    ['Asia/Kolkata', 'data/kafka_topic={{topic}}/m={{timestamp:yyyy-MM}}/{{partition}}+{{start_offset}}', 31 * 86_400_000],
    ['UTC', '{{topic}}/at={{timestamp:yyyy-MM-dd-HH-mm}}/{{partition}}+{{start_offset}}', 60_000],
  ])('%s, %s: the window of a record holds its time', (timezone, template, longest) => {
    fc.assert(fc.property(fc.integer({ min: Date.UTC(2020, 0, 1), max: Date.UTC(2030, 0, 1) }), (t) => {
      const { key, resolver } = keyOf({ TIMEZONE: timezone, KEY_TEMPLATE: template }, t);
      const w = resolver.resolve(key)!.window;
      expect(w.startMs <= t && t < w.endMs, `${new Date(t).toISOString()} in ${w.dir} [${new Date(w.startMs).toISOString()}, ${new Date(w.endMs).toISOString()})`).toBe(true);
      expect(w.endMs - w.startMs).toBeLessThanOrEqual(longest + 3_600_000); // a day of a DST change is 25 hours
    }), { numRuns: 400 });
  });

  it('daylight-saving changes: the repeated hour is one window of two hours, the skipped hour none', () => {
    const env = { TIMEZONE: 'Europe/Berlin', KEY_TEMPLATE: '{{topic}}/dt={{timestamp:yyyy-MM-dd}}/h={{timestamp:HH}}/{{topic}}+{{partition}}+{{start_offset}}' };
    // 2022-10-30: 03:00 CEST (01:00Z) back to 02:00 CET. Both 00:30Z and 01:30Z are 02:30 on the clock.
    const a = keyOf(env, Date.UTC(2022, 9, 30, 0, 30));
    const b = keyOf(env, Date.UTC(2022, 9, 30, 1, 30));
    expect(a.key.split('/').slice(0, 3)).toEqual(b.key.split('/').slice(0, 3));
    const w = a.resolver.resolve(a.key)!.window;
    expect([w.dir, new Date(w.startMs).toISOString(), new Date(w.endMs).toISOString()]).toEqual(['topics/orders/dt=2022-10-30/h=02/', '2022-10-30T00:00:00.000Z', '2022-10-30T02:00:00.000Z']);
    // 2022-03-27: 02:00 CET (01:00Z) on to 03:00 CEST: the hour 01 ends at the change, the hour 03 starts there.
    const before = keyOf(env, Date.UTC(2022, 2, 27, 0, 59)).resolver.resolve(keyOf(env, Date.UTC(2022, 2, 27, 0, 59)).key)!.window;
    const next = keyOf(env, Date.UTC(2022, 2, 27, 1, 0)).resolver.resolve(keyOf(env, Date.UTC(2022, 2, 27, 1, 0)).key)!.window;
    expect([before.values.h, before.endMs, next.values.h, next.startMs]).toEqual(['01', Date.UTC(2022, 2, 27, 1), '03', Date.UTC(2022, 2, 27, 1)]);
  });

  it('says why a template has no windows', () => {
    const problems = (env: Record<string, string>) => windowProblems(loadSinkConfig({ BUCKET_NAME: 'lake', ...env }));
    expect(problems({ KEY_TEMPLATE: '{{topic}}/{{partition}}+{{start_offset}}' })).toEqual([
      'keyTemplate has no time directory with the year (e.g. dt={{timestamp:yyyy-MM-dd}}): a window must be a span of record time that closes',
    ]);
    expect(problems({ KEY_TEMPLATE: '{{topic}}/{{timestamp:yyyy}}/{{partition}}+{{start_offset}}' })[0]).toMatch(/is not Hive-style/);
    expect(problems({})).toEqual([]);
  });
});

describe('parseKeyTemplate round trip', () => {
  it('the resolver reads back the partition and start offset of any object name', () => {
    const cfg = loadSinkConfig({ BUCKET_NAME: 'lake' });
    const resolver = new WindowResolver(cfg);
    fc.assert(fc.property(fc.integer({ min: 0, max: 100_000 }), fc.bigInt({ min: 0n, max: 2n ** 63n - 1n }), (partition, start) => {
      const group = renderRecordKey(parseKeyTemplate(cfg.keyTemplate.source), new TimeFormatter('UTC'), { topic: 'a.b-c_d', partition, timeMs: 0, keyText: null, valueField: () => null });
      const got = resolver.resolve(`topics/${renderObjectKey(group, start, start)}.jsonl.gz`);
      expect([got?.partition, got?.start, got?.topic]).toEqual([partition, start, 'a.b-c_d']);
    }));
  });
});
