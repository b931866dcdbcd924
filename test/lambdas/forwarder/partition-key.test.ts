import { describe, expect, it } from 'vitest';
import { loadForwarderConfig } from '../../../lambdas/forwarder/config.ts';
import { toEntry } from '../../../lambdas/forwarder/document.ts';
import { fitPartitionKey, keyPartitionText, MaxPartitionKeyLength, partitionKeyFor } from '../../../lambdas/forwarder/partition-key.ts';
import { forwarderConvertSettings, forwarderPlan } from '../../../lambdas/forwarder/plan.ts';
import { convertRecord } from '../../../lambdas/shared/convert.ts';
import type { KafkaRecord } from '../../../lambdas/shared/decode.ts';
import { RecordError } from '../../../lambdas/shared/errors.ts';

const BASE = { STREAM_NAME: 'orders-stream', ERROR_BUCKET: 'forwarder-errors' };
const cfgOf = (env: Record<string, string> = {}) => loadForwarderConfig({ ...BASE, ...env });

const rec = (key: Buffer | null): KafkaRecord => ({
  topic: 'orders', partition: 3, offset: 42n, timestamp: 1_767_225_600_123, timestampType: 'CREATE_TIME', key, value: Buffer.from('{"status":"paid"}'), headers: [],
});

/** Code points of a string, counted without splitting surrogate pairs. */
const codePoints = (s: string) => [...s].length;
const isWellFormed = (s: string) => (s as unknown as { isWellFormed(): boolean }).isWellFormed();

describe('fitPartitionKey: at most 256 characters, cut between code points', () => {
  it('keeps a key of 256 UTF-16 units as it is', () => {
    expect(fitPartitionKey('k'.repeat(256))).toBe('k'.repeat(256));
  });

  it('never leaves half a surrogate pair where the key is cut', () => {
    // Prepare: an emoji (two UTF-16 units) starts at unit 199, so a cut at 200 units would split it.
    const key = `${'a'.repeat(199)}😀${'b'.repeat(100)}`;

    // Act
    const pk = fitPartitionKey(key);

    // Assess
    expect(isWellFormed(pk)).toBe(true);
    expect(pk).toMatch(new RegExp(`^a{199}~[0-9a-f]{40}$`));
  });

  it('keeps a whole emoji that ends at the cut', () => {
    // Prepare
    const key = `${'a'.repeat(198)}😀${'b'.repeat(100)}`;

    // Act
    const pk = fitPartitionKey(key);

    // Assess
    expect(pk.startsWith(`${'a'.repeat(198)}😀~`)).toBe(true);
    expect(isWellFormed(pk)).toBe(true);
  });

  it.each([
    ['emoji only', '😀'.repeat(300)],
    ['emoji at every odd position', Array.from({ length: 200 }, (_, i) => (i % 2 ? '😀' : 'x')).join('')],
    ['CJK', '漢'.repeat(400)],
    ['128 emoji: 256 units, kept', '😀'.repeat(128)],
    ['129 emoji: 258 units, 129 code points, hashed all the same', '😀'.repeat(129)],
  ])('stays within 256 UTF-16 units and well-formed (%s)', (_name, key) => {
    // Act
    const pk = fitPartitionKey(key);

    // Assess
    expect(pk.length).toBeLessThanOrEqual(MaxPartitionKeyLength);
    expect(codePoints(pk)).toBeLessThanOrEqual(MaxPartitionKeyLength);
    expect(isWellFormed(pk)).toBe(true);
    expect(fitPartitionKey(key)).toBe(pk);
  });

  it('gives distinct long keys with one prefix distinct partition keys', () => {
    // Prepare
    const prefix = '😀'.repeat(150);

    // Act
    const keys = new Set(Array.from({ length: 1000 }, (_, i) => fitPartitionKey(`${prefix}${i}`)));

    // Assess
    expect(keys.size).toBe(1000);
  });
});

describe('partitionKeyFor: from the Kafka key bytes', () => {
  it.each([
    ['UTF-8 text as text', Buffer.from('customer-7'), 'customer-7'],
    ['non-UTF-8 bytes as base64', Buffer.from([0xff, 0x00, 0xfe]), '/wD+'],
    ['a lone surrogate encoded in UTF-8 (not valid UTF-8) as base64', Buffer.from([0xed, 0xa0, 0x80]), '7aCA'],
    ['no key as topic-partition', null, 'orders-3'],
    ['an empty key as topic-partition', Buffer.alloc(0), 'orders-3'],
  ])('%s', (_name, key, expected) => {
    expect(partitionKeyFor(cfgOf(), rec(key))).toBe(expected);
  });

  it('does not depend on KEY_ENCODING or FIELDS', () => {
    // Prepare
    const key = Buffer.from('customer-7');
    const configs = [cfgOf(), cfgOf({ KEY_ENCODING: 'base64' }), cfgOf({ FIELDS: 'topic' })];

    // Act
    const keys = configs.map((c) => partitionKeyFor(c, rec(key)));

    // Assess
    expect(keys).toEqual(['customer-7', 'customer-7', 'customer-7']);
    expect(keyPartitionText(Buffer.from([0x80]))).toBe('gA==');
  });
});

describe('a binary key that only picks the shard', () => {
  const binary = Buffer.from([0xc3, 0x28, 0xff]); // not UTF-8
  const entryOf = (env: Record<string, string>) => {
    const cfg = cfgOf(env);
    return toEntry(cfg, convertRecord(forwarderConvertSettings(cfg), forwarderPlan(cfg), rec(binary)));
  };

  it('is forwarded when FIELDS does not write the key, with its base64 form as partition key', () => {
    // Act
    const entry = entryOf({ FIELDS: 'topic,offset' });

    // Assess
    expect(entry.partitionKey).toBe('wyj/');
    expect(entry.data.toString()).toBe('{"status":"paid","_kafka_topic":"orders","_kafka_offset":42}');
  });

  it('is forwarded when FIELDS writes it as base64', () => {
    expect(entryOf({ KEY_ENCODING: 'base64' }).data.toString()).toContain('"_kafka_key":"wyj/"');
  });

  it('is a dead letter when FIELDS writes it as text (the _kafka_key column is a string)', () => {
    // Act
    const run = () => entryOf({});

    // Assess
    expect(run).toThrow(RecordError);
    expect(run).toThrow('key is not valid UTF-8 (use base64 encoding for binary data)');
  });
});
