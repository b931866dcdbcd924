import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DefaultKeyTemplate } from '../../../lambdas/shared/constants.ts';
import {
  END_MARK,
  padOffset,
  parseKeyTemplate,
  renderObjectKey,
  renderRecordKey,
  safeKeyValue,
  START_MARK,
  TimeFormatter,
  type KeyInputs,
  type TimePart,
} from '../../../lambdas/shared/key-template.ts';

/** The parsed pattern of {{timestamp:<pattern>}}. */
function pattern(p: string): readonly TimePart[] {
  const part = parseKeyTemplate(`{{timestamp:${p}}}/{{topic}}+{{partition}}+{{start_offset}}`).parts[0];
  if (part.kind !== 'timestamp') throw new Error('not a timestamp part');
  return part.pattern;
}

/** Runs parseKeyTemplate and returns the message of the error it throws. */
function parseError(source: string): string {
  try {
    parseKeyTemplate(source);
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error(`parseKeyTemplate accepted ${source}`);
}

const FULL = pattern('yyyy-MM-dd HH:mm:ss.SSS');

describe('parseKeyTemplate', () => {
  it('parses the default template into literals and variables', () => {
    // Prepare
    const source = DefaultKeyTemplate;

    // Act
    const t = parseKeyTemplate(source);

    // Assess
    expect(t.source).toBe(source);
    expect(t.parts).toEqual([
      { kind: 'topic' },
      { kind: 'literal', text: '/dt=' },
      { kind: 'timestamp', pattern: [{ token: 'yyyy' }, { literal: '-' }, { token: 'MM' }, { literal: '-' }, { token: 'dd' }] },
      { kind: 'literal', text: '/hour=' },
      { kind: 'timestamp', pattern: [{ token: 'HH' }] },
      { kind: 'literal', text: '/' },
      { kind: 'topic' },
      { kind: 'literal', text: '+' },
      { kind: 'partition' },
      { kind: 'literal', text: '+' },
      { kind: 'start_offset' },
    ]);
    expect([t.usesTimestamp, t.usesKey, t.valuePaths]).toEqual([true, false, []]);
  });

  it('parses key, nested value fields, end_offset and spaces inside braces', () => {
    // Prepare
    const source = '{{ topic }}/{{key}}/{{value.customer.region}}/{{partition}}+{{start_offset}}-{{end_offset}}';

    // Act
    const t = parseKeyTemplate(source);

    // Assess
    expect(t.parts).toEqual([
      { kind: 'topic' },
      { kind: 'literal', text: '/' },
      { kind: 'key' },
      { kind: 'literal', text: '/' },
      { kind: 'value', path: ['customer', 'region'] },
      { kind: 'literal', text: '/' },
      { kind: 'partition' },
      { kind: 'literal', text: '+' },
      { kind: 'start_offset' },
      { kind: 'literal', text: '-' },
      { kind: 'end_offset' },
    ]);
    expect([t.usesTimestamp, t.usesKey, t.valuePaths]).toEqual([false, true, [['customer', 'region']]]);
  });

  it.each([
    ['{{topic}}/{{partition}}', 'must contain {{start_offset}} so that every object key is unique (see "Object keys" in the README)'],
    ['{{partition}}+{{start_offset}}', 'must contain {{topic}} so that every object key is unique (see "Object keys" in the README)'],
    ['{{topic}}+{{start_offset}}', 'must contain {{partition}} so that every object key is unique (see "Object keys" in the README)'],
    ['{{topic}}/{{offset}}/{{partition}}+{{start_offset}}',
      'unknown variable {{offset}}; use topic, partition, start_offset, end_offset, timestamp:<pattern>, key, value.<field>'],
    ['{{topic}}/{{value}}/{{partition}}+{{start_offset}}',
      'unknown variable {{value}}; use topic, partition, start_offset, end_offset, timestamp:<pattern>, key, value.<field>'],
    ['{{topic}}/{{timestamp:}}/{{partition}}+{{start_offset}}', '{{timestamp:…}} needs a pattern such as yyyy-MM-dd'],
    ['{{topic}}/{{timestamp:yy-MM}}/{{partition}}+{{start_offset}}',
      'timestamp pattern "yy-MM": unknown token "yy-" (tokens: yyyy MM dd HH mm ss SSS)'],
    ['{{topic}}/a#b/{{partition}}+{{start_offset}}', 'literal text "/a#b/" has characters that are unsafe in S3 keys'],
    ['{{topic}}/{{partition}}+{{start_offset}}}}', 'unbalanced braces in "}}"'],
    ['/{{topic}}/{{partition}}+{{start_offset}}', 'must not start with "/", contain "//", or have "." or ".." segments'],
    ['{{topic}}//{{partition}}+{{start_offset}}', 'must not start with "/", contain "//", or have "." or ".." segments'],
    ['{{topic}}/../{{partition}}+{{start_offset}}', 'must not start with "/", contain "//", or have "." or ".." segments'],
    ['{{topic}}/{{partition}}+{{start_offset}}/', 'must not end with "/" (the file name comes last)'],
  ])('rejects %s', (source, message) => {
    // Prepare (the case table)

    // Act
    const got = parseError(source);

    // Assess
    expect(got).toBe(message);
  });
});

describe('safeKeyValue', () => {
  it.each([
    ['order-42', 'order-42'],
    ['a_b.c=d+e@f,g', 'a_b.c=d+e@f,g'],
    ['a/b', 'a%2Fb'],
    ['../etc/passwd', '%2E.%2Fetc%2Fpasswd'],
    ['..', '%2E.'],
    ['...', '%2E%2E.'],
    ['.', '%2E'],
    ['.hidden', '.hidden'],
    ['line\nbreak\u0000nul\u007f', 'line%0Abreak%00nul%7F'],
    ['100%', '100%25'],
    ['a b', 'a%20b'],
    ['Grüße', 'Gr%C3%BC%C3%9Fe'],
    ['東京', '%E6%9D%B1%E4%BA%AC'],
    ['😀', '%F0%9F%98%80'],
  ])('%j → %s', (raw, expected) => {
    // Prepare (the case table)

    // Act
    const got = safeKeyValue(raw);

    // Assess
    expect(got).toBe(expected);
  });

  it('names null and empty values', () => {
    // Prepare
    const inputs = [null, undefined, ''];

    // Act
    const got = inputs.map((v) => safeKeyValue(v));

    // Assess
    expect(got).toEqual(['_null', '_null', '_empty']);
  });

  it('keeps a value of 128 safe characters as it is', () => {
    // Prepare
    const raw = 'a'.repeat(128);

    // Act
    const got = safeKeyValue(raw);

    // Assess
    expect(got).toBe(raw);
  });

  it('shortens a long value to a 96-character head, "~" and 16 hex digits of its SHA-256', () => {
    // Prepare
    const raw = 'a'.repeat(129);
    const hash = createHash('sha256').update(raw).digest('hex').slice(0, 16);

    // Act
    const got = safeKeyValue(raw);

    // Assess
    expect(got).toBe(`${'a'.repeat(96)}~${hash}`);
    expect(got).toHaveLength(113);
  });

  it('gives different long values with the same head different segments', () => {
    // Prepare
    const head = 'customer-'.repeat(20);
    const a = `${head}alpha`;
    const b = `${head}beta`;

    // Act
    const ka = safeKeyValue(a);
    const kb = safeKeyValue(b);

    // Assess
    expect(ka.slice(0, 96)).toBe(kb.slice(0, 96));
    expect(ka).not.toBe(kb);
    expect(ka).toMatch(/^[A-Za-z0-9-]{96}~[0-9a-f]{16}$/);
  });

  it('measures the length after escaping: 50 two-byte characters become 300 characters and are shortened', () => {
    // Prepare
    const raw = 'é'.repeat(50);

    // Act
    const got = safeKeyValue(raw);

    // Assess
    expect(got.startsWith('%C3%A9'.repeat(16))).toBe(true);
    expect(got).toBe(`${'%C3%A9'.repeat(16)}~${createHash('sha256').update(raw).digest('hex').slice(0, 16)}`);
  });
});

describe('TimeFormatter', () => {
  it('formats every token in UTC', () => {
    // Prepare
    const fmt = new TimeFormatter('UTC');
    const ms = Date.UTC(2026, 0, 2, 3, 4, 5, 6);

    // Act
    const got = fmt.format(ms, FULL);

    // Assess
    expect(got).toBe('2026-01-02 03:04:05.006');
  });

  it('formats patterns without separators and before 1970', () => {
    // Prepare
    const fmt = new TimeFormatter('Etc/UTC');

    // Act
    const compact = fmt.format(Date.UTC(2026, 11, 31, 23, 59, 59, 999), pattern('yyyyMMddHHmmssSSS'));
    const old = fmt.format(-1, FULL);

    // Assess
    expect(compact).toBe('20261231235959999');
    expect(old).toBe('1969-12-31 23:59:59.999');
  });

  it('Europe/Berlin: the hour from 02:00 to 03:00 is skipped at 2026-03-29 01:00 UTC', () => {
    // Prepare
    const fmt = new TimeFormatter('Europe/Berlin');
    const at = Date.UTC(2026, 2, 29, 1, 0, 0, 0);

    // Act
    const got = [at - 60_001, at - 1, at, at + 59_999, at + 60_000].map((ms) => fmt.format(ms, FULL));

    // Assess
    expect(got).toEqual([
      '2026-03-29 01:58:59.999',
      '2026-03-29 01:59:59.999',
      '2026-03-29 03:00:00.000',
      '2026-03-29 03:00:59.999',
      '2026-03-29 03:01:00.000',
    ]);
  });

  it('Europe/Berlin: the hour from 02:00 to 03:00 repeats at 2026-10-25 01:00 UTC', () => {
    // Prepare
    const fmt = new TimeFormatter('Europe/Berlin');
    const at = Date.UTC(2026, 9, 25, 1, 0, 0, 0);

    // Act
    const got = [at - 3_600_000, at - 1, at, at + 3_600_000].map((ms) => fmt.format(ms, pattern('yyyy-MM-dd HH:mm:ss.SSS')));

    // Assess
    expect(got).toEqual([
      '2026-10-25 02:00:00.000',
      '2026-10-25 02:59:59.999',
      '2026-10-25 02:00:00.000',
      '2026-10-25 03:00:00.000',
    ]);
  });

  it('America/New_York: EST → EDT at 2026-03-08 07:00 UTC and EDT → EST at 2026-11-01 06:00 UTC', () => {
    // Prepare
    const fmt = new TimeFormatter('America/New_York');
    const spring = Date.UTC(2026, 2, 8, 7, 0, 0, 0);
    const autumn = Date.UTC(2026, 10, 1, 6, 0, 0, 0);

    // Act
    const got = [spring - 1, spring, autumn - 1, autumn].map((ms) => fmt.format(ms, FULL));

    // Assess
    expect(got).toEqual([
      '2026-03-08 01:59:59.999',
      '2026-03-08 03:00:00.000',
      '2026-11-01 01:59:59.999',
      '2026-11-01 01:00:00.000',
    ]);
  });

  it('America/New_York: the local date is still the previous day at 03:00 UTC', () => {
    // Prepare
    const fmt = new TimeFormatter('America/New_York');
    const ms = Date.UTC(2026, 0, 1, 3, 0, 0, 0);

    // Act
    const day = fmt.format(ms, pattern('yyyy-MM-dd'));
    const hour = fmt.format(ms, pattern('HH'));

    // Assess
    expect([day, hour]).toEqual(['2025-12-31', '22']);
  });

  it('handles a half-hour zone (Asia/Kolkata, UTC+05:30)', () => {
    // Prepare
    const fmt = new TimeFormatter('Asia/Kolkata');

    // Act
    const got = fmt.format(Date.UTC(2026, 5, 30, 18, 45, 0, 0), FULL);

    // Assess
    expect(got).toBe('2026-07-01 00:15:00.000');
  });
});

describe('rendering keys', () => {
  const inputs = (over: Partial<KeyInputs> = {}): KeyInputs => ({
    topic: 'orders',
    partition: 3,
    timeMs: Date.UTC(2026, 0, 2, 3, 4, 5, 6),
    keyText: 'cust/42',
    valueField: (path) => (path.join('.') === 'customer.region' ? 'eu-west' : undefined),
    ...over,
  });

  it('renderRecordKey fills record variables and leaves marks for the offsets', () => {
    // Prepare
    const t = parseKeyTemplate('{{topic}}/{{timestamp:yyyy-MM-dd}}/{{key}}/{{value.customer.region}}/{{value.missing}}/{{partition}}+{{start_offset}}+{{end_offset}}');

    // Act
    const groupKey = renderRecordKey(t, new TimeFormatter('UTC'), inputs());

    // Assess
    expect(groupKey).toBe(`orders/2026-01-02/cust%2F42/eu-west/_null/3+${START_MARK}+${END_MARK}`);
  });

  it('renderRecordKey escapes the topic and names a null key', () => {
    // Prepare
    const t = parseKeyTemplate('{{topic}}/{{key}}/{{partition}}+{{start_offset}}');

    // Act
    const groupKey = renderRecordKey(t, new TimeFormatter('UTC'), inputs({ topic: 'a..b', keyText: null }));

    // Assess
    expect(groupKey).toBe(`a%2E.b/_null/3+${START_MARK}`);
  });

  it('renderObjectKey zero-pads offsets to 20 digits', () => {
    // Prepare
    const groupKey = `orders/0+${START_MARK}-${END_MARK}`;

    // Act
    const small = renderObjectKey(groupKey, 5n, 9n);
    const max = renderObjectKey(groupKey, 9223372036854775806n, 9223372036854775807n);

    // Assess
    expect(small).toBe('orders/0+00000000000000000005-00000000000000000009');
    expect(max).toBe('orders/0+09223372036854775806-09223372036854775807');
  });

  it('renderObjectKey replaces every occurrence of a mark', () => {
    // Prepare
    const groupKey = `${START_MARK}/${START_MARK}`;

    // Act
    const key = renderObjectKey(groupKey, 0n, 0n);

    // Assess
    expect(key).toBe('00000000000000000000/00000000000000000000');
    expect(padOffset(123n)).toBe('00000000000000000123');
  });
});
