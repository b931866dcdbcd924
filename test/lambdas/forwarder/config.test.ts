import { describe, expect, it } from 'vitest';
import { ForwarderMetadataFields, loadForwarderConfig } from '../../../lambdas/forwarder/config.ts';
import { ConfigError } from '../../../lambdas/shared/errors.ts';

const BASE = { STREAM_NAME: 'orders-stream', ERROR_BUCKET: 'forwarder-errors' };

/** Runs loadForwarderConfig and returns the ConfigError it throws (fails the test if it does not throw one). */
function configError(env: Record<string, string | undefined>): ConfigError {
  try {
    loadForwarderConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('loadForwarderConfig did not throw');
}

describe('loadForwarderConfig: defaults', () => {
  it('fills every default when only STREAM_NAME and ERROR_BUCKET are set', () => {
    // Prepare
    const env = { ...BASE };

    // Act
    const cfg = loadForwarderConfig(env);

    // Assess
    expect(cfg).toEqual({
      streamName: 'orders-stream',
      errorBucket: 'forwarder-errors',
      errorPrefix: 'forwarder-dead-letters/',
      statePrefix: 'forwarder-checkpoints/',
      partitionKey: 'key',
      fields: ['key', 'headers', 'topic', 'partition', 'offset', 'timestamp'],
      valueLayout: 'columns',
      keyEncoding: 'text',
      valueEncoding: 'json',
      headerEncoding: 'text',
      tombstones: 'ignore',
      filter: undefined,
      putMaxAttempts: 8,
      putBaseDelayMs: 100,
      putMaxDelayMs: 5_000,
      putTimeoutMs: 10_000,
      kinesisEndpoint: undefined,
      s3Endpoint: undefined,
    });
  });

  it('treats empty variables as unset', () => {
    // Prepare
    const env = {
      ...BASE, ERROR_PREFIX: '', STATE_PREFIX: '', PARTITION_KEY: '', FIELDS: '', TOMBSTONES: '', FILTER_REGEX: '', PUT_MAX_ATTEMPTS: '', KINESIS_ENDPOINT: '',
    };

    // Act
    const cfg = loadForwarderConfig(env);

    // Assess
    expect(cfg).toEqual(loadForwarderConfig(BASE));
  });

  it('offers every Kafka metadata field but the value', () => {
    // Prepare
    const expected = ['key', 'headers', 'topic', 'partition', 'offset', 'timestamp'];

    // Act
    const fields = [...ForwarderMetadataFields];

    // Assess
    expect(fields).toEqual(expected);
  });
});

describe('loadForwarderConfig: values', () => {
  it('reads every variable', () => {
    // Prepare
    const env = {
      ...BASE,
      ERROR_PREFIX: 'errors/forwarder/',
      STATE_PREFIX: 'state/forwarder/',
      PARTITION_KEY: 'topic-partition',
      FIELDS: ' offset , topic,offset',
      VALUE_LAYOUT: 'single',
      KEY_ENCODING: 'base64',
      VALUE_ENCODING: 'text',
      HEADER_ENCODING: 'base64',
      TOMBSTONES: 'write',
      FILTER_REGEX: '"status":"(paid|shipped)"',
      PUT_MAX_ATTEMPTS: '3',
      PUT_BASE_DELAY_MS: '250',
      PUT_MAX_DELAY_MS: '250',
      PUT_TIMEOUT_MS: '2500',
      KINESIS_ENDPOINT: 'https://vpce-0a1b2c3d-kinesis.eu-west-1.vpce.amazonaws.com',
      S3_ENDPOINT: 'http://127.0.0.1:9000',
    };

    // Act
    const { filter, ...cfg } = loadForwarderConfig(env);

    // Assess
    expect(cfg).toEqual({
      streamName: 'orders-stream',
      errorBucket: 'forwarder-errors',
      errorPrefix: 'errors/forwarder/',
      statePrefix: 'state/forwarder/',
      partitionKey: 'topic-partition',
      fields: ['offset', 'topic'],
      valueLayout: 'single',
      keyEncoding: 'base64',
      valueEncoding: 'text',
      headerEncoding: 'base64',
      tombstones: 'write',
      putMaxAttempts: 3,
      putBaseDelayMs: 250,
      putMaxDelayMs: 250,
      putTimeoutMs: 2500,
      kinesisEndpoint: 'https://vpce-0a1b2c3d-kinesis.eu-west-1.vpce.amazonaws.com',
      s3Endpoint: 'http://127.0.0.1:9000',
    });
    expect(filter?.source).toBe('"status":"(paid|shipped)"');
    expect(filter?.test('{"status":"paid"}')).toBe(true);
  });

  it('compiles FILTER_REGEX with RE2: linear time on a pattern that backtracks exponentially in JavaScript', () => {
    // Prepare
    const cfg = loadForwarderConfig({ ...BASE, FILTER_REGEX: '^(a+)+$' });

    // Act
    const started = performance.now();
    const matched = cfg.filter!.test(`${'a'.repeat(10_000)}!`);
    const elapsed = performance.now() - started;

    // Assess
    expect(matched).toBe(false);
    expect(elapsed).toBeLessThan(1000);
  });

  it('compiles FILTER_REGEX so that Unicode property escapes work', () => {
    // Prepare
    const env = { ...BASE, FILTER_REGEX: '"city":"\\p{Lu}' };

    // Act
    const cfg = loadForwarderConfig(env);

    // Assess
    expect(cfg.filter?.test('{"city":"Ürümqi"}')).toBe(true);
    expect(cfg.filter?.test('{"city":"ürümqi"}')).toBe(false);
  });

  it('accepts the boundaries of the retry settings', () => {
    // Prepare
    const low = { ...BASE, PUT_MAX_ATTEMPTS: '1', PUT_BASE_DELAY_MS: '1', PUT_MAX_DELAY_MS: '10' };
    const high = { ...BASE, PUT_MAX_ATTEMPTS: '30', PUT_BASE_DELAY_MS: '10000', PUT_MAX_DELAY_MS: '60000' };

    // Act
    const a = loadForwarderConfig(low);
    const b = loadForwarderConfig(high);

    // Assess
    expect([a.putMaxAttempts, a.putBaseDelayMs, a.putMaxDelayMs]).toEqual([1, 1, 10]);
    expect([b.putMaxAttempts, b.putBaseDelayMs, b.putMaxDelayMs]).toEqual([30, 10_000, 60_000]);
  });
});

describe('loadForwarderConfig: table columns', () => {
  it('reads TABLE_COLUMNS and TABLE_ROUTES into the tables of each topic', () => {
    // Prepare
    const env = { ...BASE, TABLE_COLUMNS: '{"orders":{"order_id":"string!","amount":"decimal(12, 2)"}}', TABLE_ROUTES: 'orders=orders,orders-eu=orders' };

    // Act
    const cfg = loadForwarderConfig(env);

    // Assess
    expect(cfg.tables?.routes).toEqual(new Map([['orders', 'orders'], ['orders-eu', 'orders']]));
    expect(cfg.tables?.columns.get('orders')?.list).toEqual([
      { name: 'order_id', type: { kind: 'string' }, required: true },
      { name: 'amount', type: { kind: 'decimal', precision: 12, scale: 2 }, required: false },
    ]);
  });

  it('has no tables without TABLE_COLUMNS', () => {
    expect(loadForwarderConfig(BASE).tables).toBeUndefined();
  });
});

describe('loadForwarderConfig: each bad value is named in the message', () => {
  it.each([
    ['STREAM_NAME unset', { STREAM_NAME: undefined }, 'STREAM_NAME=(unset): Invalid input: expected string, received undefined'],
    ['STREAM_NAME with a blank', { STREAM_NAME: 'orders stream' }, "STREAM_NAME='orders stream': must be a Kinesis stream name"],
    ['STREAM_NAME too long', { STREAM_NAME: 's'.repeat(129) }, `STREAM_NAME='${'s'.repeat(129)}': must be a Kinesis stream name`],
    ['ERROR_BUCKET unset', { ERROR_BUCKET: undefined }, 'ERROR_BUCKET=(unset): Invalid input: expected string, received undefined'],
    ['ERROR_BUCKET uppercase', { ERROR_BUCKET: 'Forwarder_Errors' }, "ERROR_BUCKET='Forwarder_Errors': must be a valid S3 bucket name"],
    ['STATE_PREFIX inside ERROR_PREFIX', { STATE_PREFIX: 'forwarder-dead-letters/state/' },
      "STATE_PREFIX='forwarder-dead-letters/state/': must not overlap ERROR_PREFIX='forwarder-dead-letters/' (checkpoints would mix with dead letters)"],
    ['STATE_PREFIX around ERROR_PREFIX', { STATE_PREFIX: 'forwarder-' },
      "STATE_PREFIX='forwarder-': must not overlap ERROR_PREFIX='forwarder-dead-letters/' (checkpoints would mix with dead letters)"],
    ['STATE_PREFIX with a leading /', { STATE_PREFIX: '/state/' }, "STATE_PREFIX='/state/': must not start with '/' or contain a '..' segment"],
    ['STATE_PREFIX with a .. segment', { STATE_PREFIX: 'a/../b/' }, "STATE_PREFIX='a/../b/': must not start with '/' or contain a '..' segment"],
    ['STATE_PREFIX too long', { STATE_PREFIX: 's'.repeat(257) }, `STATE_PREFIX='${'s'.repeat(257)}': Too big: expected string to have <=256 characters`],
    ['PARTITION_KEY', { PARTITION_KEY: 'offset' }, `PARTITION_KEY='offset': Invalid option: expected one of "key"|"topic-partition"`],
    ['FIELDS with value', { FIELDS: 'key,value' },
      "FIELDS='key,value': expected a comma list of key, headers, topic, partition, offset, timestamp (the value's fields are always included)"],
    ['FIELDS with an unknown field', { FIELDS: 'topic, timestmp' },
      "FIELDS='topic, timestmp': expected a comma list of key, headers, topic, partition, offset, timestamp (the value's fields are always included)"],
    ['VALUE_LAYOUT', { VALUE_LAYOUT: 'nested' }, `VALUE_LAYOUT='nested': Invalid option: expected one of "columns"|"single"`],
    ['KEY_ENCODING', { KEY_ENCODING: 'hex' }, `KEY_ENCODING='hex': Invalid option: expected one of "text"|"base64"`],
    ['VALUE_ENCODING', { VALUE_ENCODING: 'avro' }, `VALUE_ENCODING='avro': Invalid option: expected one of "json"|"text"|"base64"`],
    ['HEADER_ENCODING', { HEADER_ENCODING: 'json' }, `HEADER_ENCODING='json': Invalid option: expected one of "text"|"base64"`],
    ['TOMBSTONES', { TOMBSTONES: 'drop' }, `TOMBSTONES='drop': Invalid option: expected one of "ignore"|"write"|"deadletter"`],
    ['FILTER_REGEX', { FILTER_REGEX: '"status":"(paid' },
      `FILTER_REGEX='"status":"(paid': not a valid RE2 regular expression (missing closing ): \`"status":"(paid\`); RE2 has no lookaround or backreferences`],
    ['FILTER_REGEX with a lookahead', { FILTER_REGEX: '(?=paid)' },
      "FILTER_REGEX='(?=paid)': not a valid RE2 regular expression (invalid or unsupported Perl syntax: `(?=`); RE2 has no lookaround or backreferences"],
    ['PUT_TIMEOUT_MS too small', { PUT_TIMEOUT_MS: '50' }, "PUT_TIMEOUT_MS='50': Too small: expected number to be >=100"],
    ['TABLE_COLUMNS without TABLE_ROUTES', { TABLE_COLUMNS: '{"orders":{"id":"long"}}' },
      `TABLE_ROUTES=(unset): required with TABLE_COLUMNS (which topic goes to which table)`],
    ['TABLE_COLUMNS with a bad type', { TABLE_COLUMNS: '{"orders":{"id":"bigint"}}', TABLE_ROUTES: 'orders=orders' },
      `TABLE_COLUMNS='{"orders":{"id":"bigint"}}': table "orders", column "id": type "bigint" is not one of boolean, int, long, float, double, string, binary, date, time, timestamp, timestamptz, uuid, decimal(p,s) with 1 ≤ p ≤ 38 and s ≤ p (append ! for a required column)`],
    ['TABLE_COLUMNS with VALUE_LAYOUT=single', { TABLE_COLUMNS: '{"orders":{"id":"long"}}', TABLE_ROUTES: 'orders=orders', VALUE_LAYOUT: 'single' },
      "TABLE_COLUMNS: only with VALUE_LAYOUT='columns' (VALUE_LAYOUT='single' writes the value as text in _kafka_value)"],
    ['TABLE_COLUMNS with VALUE_ENCODING=text', { TABLE_COLUMNS: '{"orders":{"id":"long"}}', TABLE_ROUTES: 'orders=orders', VALUE_ENCODING: 'text' },
      "TABLE_COLUMNS: only with VALUE_ENCODING='json' (the columns are a JSON object value's fields)"],
    ['PUT_MAX_ATTEMPTS zero', { PUT_MAX_ATTEMPTS: '0' }, "PUT_MAX_ATTEMPTS='0': Too small: expected number to be >=1"],
    ['PUT_MAX_ATTEMPTS too high', { PUT_MAX_ATTEMPTS: '31' }, "PUT_MAX_ATTEMPTS='31': Too big: expected number to be <=30"],
    ['PUT_MAX_ATTEMPTS not a number', { PUT_MAX_ATTEMPTS: 'eight' }, "PUT_MAX_ATTEMPTS='eight': Invalid input: expected number, received NaN"],
    ['PUT_MAX_ATTEMPTS fractional', { PUT_MAX_ATTEMPTS: '2.5' }, "PUT_MAX_ATTEMPTS='2.5': Invalid input: expected int, received number"],
    ['PUT_BASE_DELAY_MS over PUT_MAX_DELAY_MS', { PUT_BASE_DELAY_MS: '2000', PUT_MAX_DELAY_MS: '1000' },
      "PUT_BASE_DELAY_MS='2000': must not exceed PUT_MAX_DELAY_MS='1000'"],
    ['PUT_MAX_DELAY_MS too small', { PUT_MAX_DELAY_MS: '9' }, "PUT_MAX_DELAY_MS='9': Too small: expected number to be >=10"],
    ['KINESIS_ENDPOINT', { KINESIS_ENDPOINT: 'kinesis.eu-west-1' }, "KINESIS_ENDPOINT='kinesis.eu-west-1': Invalid URL"],
    ['S3_ENDPOINT', { S3_ENDPOINT: '127.0.0.1 port 9000' }, "S3_ENDPOINT='127.0.0.1 port 9000': Invalid URL"],
  ])('%s', (_name, over, problem) => {
    // Prepare
    const env = { ...BASE, ...over };

    // Act
    const err = configError(env);

    // Assess
    expect(err.problems).toEqual([problem]);
    expect(err.message).toBe(`Invalid forwarder configuration (1 problem):\n  - ${problem}`);
  });
});

describe('loadForwarderConfig: every problem at once', () => {
  it('lists every rule a value breaks', () => {
    // Prepare
    const env = { ...BASE, ERROR_BUCKET: 'ab' };

    // Act
    const err = configError(env);

    // Assess
    expect(err.problems).toEqual([
      "ERROR_BUCKET='ab': Too small: expected string to have >=3 characters",
      "ERROR_BUCKET='ab': must be a valid S3 bucket name",
    ]);
  });

  it('lists the problems of all variables in one error', () => {
    // Prepare
    const env = {
      STREAM_NAME: 'orders stream',
      ERROR_BUCKET: 'Forwarder_Errors',
      PARTITION_KEY: 'offset',
      FIELDS: 'value',
      KEY_ENCODING: 'hex',
      VALUE_ENCODING: 'avro',
      HEADER_ENCODING: 'json',
      TOMBSTONES: 'drop',
      FILTER_REGEX: '(',
      PUT_MAX_ATTEMPTS: '0',
      PUT_BASE_DELAY_MS: '500',
      PUT_MAX_DELAY_MS: '100',
      KINESIS_ENDPOINT: 'nope',
    };

    // Act
    const err = configError(env);

    // Assess
    expect(err.problems).toEqual([
      "STREAM_NAME='orders stream': must be a Kinesis stream name",
      "ERROR_BUCKET='Forwarder_Errors': must be a valid S3 bucket name",
      `PARTITION_KEY='offset': Invalid option: expected one of "key"|"topic-partition"`,
      `KEY_ENCODING='hex': Invalid option: expected one of "text"|"base64"`,
      `VALUE_ENCODING='avro': Invalid option: expected one of "json"|"text"|"base64"`,
      `HEADER_ENCODING='json': Invalid option: expected one of "text"|"base64"`,
      `TOMBSTONES='drop': Invalid option: expected one of "ignore"|"write"|"deadletter"`,
      "PUT_MAX_ATTEMPTS='0': Too small: expected number to be >=1",
      "KINESIS_ENDPOINT='nope': Invalid URL",
      "FIELDS='value': expected a comma list of key, headers, topic, partition, offset, timestamp (the value's fields are always included)",
      "FILTER_REGEX='(': not a valid RE2 regular expression (missing closing ): `(`); RE2 has no lookaround or backreferences",
      "PUT_BASE_DELAY_MS='500': must not exceed PUT_MAX_DELAY_MS='100'",
    ]);
    expect(err.message.split('\n')[0]).toBe('Invalid forwarder configuration (12 problems):');
  });

  it('reports both required variables when the environment is empty', () => {
    // Prepare
    const env = {};

    // Act
    const err = configError(env);

    // Assess
    expect(err.problems).toEqual([
      'STREAM_NAME=(unset): Invalid input: expected string, received undefined',
      'ERROR_BUCKET=(unset): Invalid input: expected string, received undefined',
    ]);
  });
});
