import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeEscapes, loadSinkConfig } from '../../../lambdas/shared/config.ts';
import { DefaultKeyTemplate } from '../../../lambdas/shared/constants.ts';
import { ConfigError } from '../../../lambdas/shared/errors.ts';

const BASE = { BUCKET_NAME: 'my-bucket' };

/** Runs loadSinkConfig and returns the ConfigError it throws (fails the test if it does not throw one). */
function configError(env: Record<string, string | undefined>): ConfigError {
  try {
    loadSinkConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('loadSinkConfig did not throw');
}

const ORDER_SCHEMA = JSON.stringify({
  type: 'record',
  name: 'Order',
  namespace: 'com.example',
  fields: [
    { name: 'order_id', type: 'string', doc: 'Order number' },
    { name: 'amount', type: 'double' },
    { name: 'quantity', type: ['null', 'long'], default: null },
    { name: 'created_at', type: { type: 'long', logicalType: 'timestamp-millis' } },
  ],
});

describe('loadSinkConfig: defaults', () => {
  it('fills every default when only BUCKET_NAME is set', () => {
    // Prepare
    const env = { ...BASE };

    // Act
    const cfg = loadSinkConfig(env);

    // Assess
    const { keyTemplate, bytesSeparator, ...rest } = cfg;
    expect(rest).toEqual({
      bucket: 'my-bucket',
      prefix: 'topics/',
      errorPrefix: 'dead-letters/',
      statePrefix: 'checkpoints/',
      format: 'jsonl',
      compression: 'gzip',
      compressionLevel: undefined,
      timezone: 'UTC',
      timestampSource: 'record',
      fields: ['key', 'value', 'headers', 'topic', 'partition', 'offset', 'timestamp'],
      envelope: true,
      keyEncoding: 'text',
      valueEncoding: 'json',
      headerEncoding: 'text',
      tombstones: 'ignore',
      filter: undefined,
      schema: undefined,
      maxRecordsPerObject: 100_000,
      maxObjectBytes: 512 * 1024 * 1024,
      parquetRowGroupSize: 100_000,
      multipartThresholdBytes: 16 * 1024 * 1024,
      partSizeBytes: 8 * 1024 * 1024,
      uploadConcurrency: 4,
      s3MaxAttempts: 5,
      sseKmsKeyId: undefined,
      crossAccount: undefined,
      s3Endpoint: undefined,
    });
    expect(keyTemplate.source).toBe(DefaultKeyTemplate);
    expect(keyTemplate.usesTimestamp).toBe(true);
    expect(bytesSeparator).toEqual(Buffer.from('\n'));
  });

  it.each([
    ['jsonl', 'gzip'],
    ['csv', 'gzip'],
    ['csv_with_headers', 'gzip'],
    ['text', 'gzip'],
    ['bytes', 'gzip'],
    ['avro', 'snappy'],
    ['parquet', 'zstd'],
  ])('FORMAT=%s defaults COMPRESSION to %s', (format, compression) => {
    // Prepare
    const env = { ...BASE, FORMAT: format };

    // Act
    const cfg = loadSinkConfig(env);

    // Assess
    expect(cfg.compression).toBe(compression);
  });

  it('writes only the value for text and bytes by default', () => {
    // Prepare
    const text = { ...BASE, FORMAT: 'text' };
    const bytes = { ...BASE, FORMAT: 'bytes' };

    // Act
    const textCfg = loadSinkConfig(text);
    const bytesCfg = loadSinkConfig(bytes);

    // Assess
    expect(textCfg.fields).toEqual(['value']);
    expect(bytesCfg.fields).toEqual(['value']);
  });

  it('treats an empty variable as unset, except PREFIX where empty means the bucket root', () => {
    // Prepare
    const env = { ...BASE, FORMAT: '', TIMEZONE: '', PREFIX: '', MAX_RECORDS_PER_OBJECT: '' };

    // Act
    const cfg = loadSinkConfig(env);

    // Assess
    expect([cfg.format, cfg.timezone, cfg.prefix, cfg.maxRecordsPerObject]).toEqual(['jsonl', 'UTC', '', 100_000]);
  });

  it('reads every explicit setting', () => {
    // Prepare
    const env = {
      ...BASE,
      PREFIX: 'data/',
      ERROR_PREFIX: 'errors/',
      FORMAT: 'parquet',
      COMPRESSION: 'snappy',
      TIMEZONE: 'Europe/Berlin',
      TIMESTAMP_SOURCE: 'wallclock',
      FIELDS: ' value , offset ',
      KEY_ENCODING: 'base64',
      HEADER_ENCODING: 'base64',
      TOMBSTONES: 'deadletter',
      FILTER_REGEX: '"status":"paid"',
      MAX_RECORDS_PER_OBJECT: '500',
      MAX_OBJECT_BYTES: '2048',
      PARQUET_ROW_GROUP_SIZE: '50',
      MULTIPART_THRESHOLD_BYTES: String(32 * 1024 * 1024),
      PART_SIZE_BYTES: String(16 * 1024 * 1024),
      UPLOAD_CONCURRENCY: '8',
      S3_MAX_ATTEMPTS: '3',
      SSE_KMS_KEY_ID: 'alias/sink',
      CROSS_ACCOUNT_ROLE_ARN: 'arn:aws:iam::210987654321:role/sink-writer',
      EXTERNAL_ID: 'ext-123',
      S3_ENDPOINT: 'http://127.0.0.1:7070',
    };

    // Act
    const cfg = loadSinkConfig(env);

    // Assess
    expect(cfg).toMatchObject({
      prefix: 'data/',
      errorPrefix: 'errors/',
      format: 'parquet',
      compression: 'snappy',
      timezone: 'Europe/Berlin',
      timestampSource: 'wallclock',
      fields: ['value', 'offset'],
      keyEncoding: 'base64',
      headerEncoding: 'base64',
      tombstones: 'deadletter',
      maxRecordsPerObject: 500,
      maxObjectBytes: 2048,
      parquetRowGroupSize: 50,
      multipartThresholdBytes: 32 * 1024 * 1024,
      partSizeBytes: 16 * 1024 * 1024,
      uploadConcurrency: 8,
      s3MaxAttempts: 3,
      sseKmsKeyId: 'alias/sink',
      crossAccount: { roleArn: 'arn:aws:iam::210987654321:role/sink-writer', sessionName: 'kafka-s3-sink', externalId: 'ext-123' },
      s3Endpoint: 'http://127.0.0.1:7070',
    });
    expect(cfg.filter?.source).toBe('"status":"paid"');
    expect(cfg.filter?.test('{"status":"paid"}')).toBe(true);
  });
});

describe('loadSinkConfig: every problem is reported at once', () => {
  it('lists a bad FORMAT, a bad TIMEZONE and a bad MAX_RECORDS_PER_OBJECT in one ConfigError', () => {
    // Prepare
    const env = { ...BASE, FORMAT: 'xml', TIMEZONE: 'Mars/Phobos', MAX_RECORDS_PER_OBJECT: 'abc' };

    // Act
    const err = configError(env);

    // Assess
    expect(err.problems).toHaveLength(3);
    expect(err.message.startsWith('Invalid sink configuration (3 problems):\n  - ')).toBe(true);
    expect(err.problems[0]).toMatch(/^FORMAT='xml': .*jsonl.*parquet/);
    expect(err.problems).toContain(
      "TIMEZONE='Mars/Phobos': not an IANA time zone (for example UTC, Europe/Berlin, America/New_York)",
    );
    expect(err.problems.find((p) => p.startsWith("MAX_RECORDS_PER_OBJECT='abc': "))).toBeDefined();
    for (const text of ["FORMAT='xml'", "TIMEZONE='Mars/Phobos'", "MAX_RECORDS_PER_OBJECT='abc'"]) {
      expect(err.message).toContain(text);
    }
  });

  it('reports schema-level and semantic problems of different variables together', () => {
    // Prepare
    const env = {
      ...BASE,
      UPLOAD_CONCURRENCY: '0',
      KEY_TEMPLATE: '{{topic}}/{{partition}}',
      FILTER_REGEX: '(',
      BYTES_SEPARATOR: '\\q',
    };

    // Act
    const err = configError(env);

    // Assess
    expect(err.problems).toHaveLength(4);
    expect(err.problems).toContain(
      "KEY_TEMPLATE='{{topic}}/{{partition}}': must contain {{start_offset}} so that every object key is unique (see \"Object keys\" in the README)",
    );
    expect(err.problems).toContain("FILTER_REGEX='(': not a valid RE2 regular expression (missing closing ): `(`); RE2 has no lookaround or backreferences");
    expect(err.problems).toContain("BYTES_SEPARATOR='\\q': unknown escape \\q");
    expect(err.problems.find((p) => p.startsWith("UPLOAD_CONCURRENCY='0': "))).toBeDefined();
  });

  it('reports several cross-setting problems together', () => {
    // Prepare
    const env = {
      ...BASE,
      FORMAT: 'text',
      TOMBSTONES: 'write',
      FIELDS: 'key,value',
      COMPRESSION: 'snappy',
      EXTERNAL_ID: 'ext-123',
    };

    // Act
    const err = configError(env);

    // Assess
    expect(err.problems).toEqual([
      "COMPRESSION='snappy': not allowed for FORMAT=text; expected one of none, gzip, zstd",
      "FIELDS='key,value': FORMAT=text writes the value only; set FIELDS=value or use jsonl/csv/avro/parquet",
      "TOMBSTONES='write': FORMAT=text cannot express a null value; use ignore or deadletter",
      'EXTERNAL_ID: only used with CROSS_ACCOUNT_ROLE_ARN, which is unset',
    ]);
    expect(err.message).toBe(`Invalid sink configuration (4 problems):\n  - ${err.problems.join('\n  - ')}`);
  });

  it('names a missing BUCKET_NAME as unset', () => {
    // Prepare
    const env = {};

    // Act
    const err = configError(env);

    // Assess
    expect(err.problems).toHaveLength(1);
    expect(err.problems[0]).toMatch(/^BUCKET_NAME=\(unset\): /);
    expect(err.message).toMatch(/^Invalid sink configuration \(1 problem\):/);
  });

  it('rejects a bucket name with upper-case letters', () => {
    // Prepare
    const env = { BUCKET_NAME: 'My_Bucket' };

    // Act
    const err = configError(env);

    // Assess
    expect(err.problems).toEqual(["BUCKET_NAME='My_Bucket': must be a valid S3 bucket name"]);
  });
});

describe('loadSinkConfig: compression', () => {
  it.each([
    ['avro', 'gzip', 'null, deflate, snappy, zstandard'],
    ['parquet', 'deflate', 'none, snappy, gzip, zstd'],
    ['jsonl', 'snappy', 'none, gzip, zstd'],
    ['csv', 'zstandard', 'none, gzip, zstd'],
  ])('FORMAT=%s rejects COMPRESSION=%s', (format, compression, allowed) => {
    // Prepare
    const env = { ...BASE, FORMAT: format, COMPRESSION: compression };

    // Act
    const err = configError(env);

    // Assess
    expect(err.problems).toEqual([
      `COMPRESSION='${compression}': not allowed for FORMAT=${format}; expected one of ${allowed}`,
    ]);
  });

  it.each([
    ['avro', 'zstandard'],
    ['avro', 'null'],
    ['parquet', 'none'],
    ['jsonl', 'zstd'],
    ['bytes', 'none'],
  ])('FORMAT=%s accepts COMPRESSION=%s', (format, compression) => {
    // Prepare
    const env = { ...BASE, FORMAT: format, COMPRESSION: compression };

    // Act
    const cfg = loadSinkConfig(env);

    // Assess
    expect(cfg.compression).toBe(compression);
  });

  it('rejects a gzip level that zlib cannot use (it would fail every batch at encode time)', () => {
    // Prepare
    const env = { ...BASE, FORMAT: 'jsonl', COMPRESSION: 'gzip', COMPRESSION_LEVEL: '15' };

    // Act
    const err = configError(env);

    // Assess
    expect(err.problems).toEqual(["COMPRESSION_LEVEL='15': gzip levels are 1-9"]);
  });

  it('accepts zstd levels from -7 to 22 and a gzip level of 9', () => {
    // Prepare
    const envs = [
      { ...BASE, COMPRESSION: 'zstd', COMPRESSION_LEVEL: '-7' },
      { ...BASE, COMPRESSION: 'zstd', COMPRESSION_LEVEL: '22' },
      { ...BASE, COMPRESSION: 'gzip', COMPRESSION_LEVEL: '9' },
    ];

    // Act
    const levels = envs.map((env) => loadSinkConfig(env).compressionLevel);

    // Assess
    expect(levels).toEqual([-7, 22, 9]);
  });
});

describe('loadSinkConfig: fields, envelope and tombstones', () => {
  it.each(['csv', 'jsonl', 'avro', 'parquet'])('allows TOMBSTONES=write for FORMAT=%s', (format) => {
    // Prepare
    const env = { ...BASE, FORMAT: format, TOMBSTONES: 'write' };

    // Act
    const cfg = loadSinkConfig(env);

    // Assess
    expect(cfg.tombstones).toBe('write');
  });

  it('rejects TOMBSTONES=write for bytes and when FIELDS leaves out the value', () => {
    // Prepare
    const bytes = { ...BASE, FORMAT: 'bytes', TOMBSTONES: 'write' };
    const noValue = { ...BASE, FORMAT: 'jsonl', TOMBSTONES: 'write', FIELDS: 'key,offset' };

    // Act
    const bytesErr = configError(bytes);
    const noValueErr = configError(noValue);

    // Assess
    expect(bytesErr.problems).toEqual(["TOMBSTONES='write': FORMAT=bytes cannot express a null value; use ignore or deadletter"]);
    expect(noValueErr.problems).toEqual(["TOMBSTONES='write': FIELDS must include value"]);
  });

  it('accepts FIELDS=value for text and rejects other fields', () => {
    // Prepare
    const ok = { ...BASE, FORMAT: 'text', FIELDS: 'value' };
    const bad = { ...BASE, FORMAT: 'text', FIELDS: 'offset' };

    // Act
    const cfg = loadSinkConfig(ok);
    const err = configError(bad);

    // Assess
    expect(cfg.fields).toEqual(['value']);
    expect(err.problems).toEqual([
      "FIELDS='offset': FORMAT=text writes the value only; set FIELDS=value or use jsonl/csv/avro/parquet",
    ]);
  });

  it('rejects unknown, empty and repeated FIELDS', () => {
    // Prepare
    const unknown = { ...BASE, FIELDS: 'value,partiton' };
    const empty = { ...BASE, FIELDS: ' , ' };
    const twice = { ...BASE, FIELDS: 'value,key,value' };

    // Act
    const errors = [unknown, empty, twice].map((env) => configError(env).problems);

    // Assess
    expect(errors).toEqual([
      ["FIELDS='value,partiton': expected a comma list of key, value, headers, topic, partition, offset, timestamp"],
      ["FIELDS=' , ': expected a comma list of key, value, headers, topic, partition, offset, timestamp"],
      ["FIELDS='value,key,value': a field is listed twice"],
    ]);
  });

  it('accepts ENVELOPE=false for jsonl with FIELDS=value', () => {
    // Prepare
    const env = { ...BASE, FORMAT: 'jsonl', FIELDS: 'value', ENVELOPE: 'false' };

    // Act
    const cfg = loadSinkConfig(env);

    // Assess
    expect(cfg.envelope).toBe(false);
    expect(cfg.fields).toEqual(['value']);
  });

  it('rejects ENVELOPE=false without FIELDS=value, for csv, with text values, or with a non-boolean', () => {
    // Prepare
    const allFields = { ...BASE, ENVELOPE: 'false' };
    const csv = { ...BASE, FORMAT: 'csv', FIELDS: 'value', ENVELOPE: 'false' };
    const textValues = { ...BASE, FIELDS: 'value', ENVELOPE: 'false', VALUE_ENCODING: 'text' };
    const notBoolean = { ...BASE, ENVELOPE: 'no' };

    // Act
    const errors = [allFields, csv, textValues].map((env) => configError(env).problems);
    const notBooleanErr = configError(notBoolean);

    // Assess
    expect(errors).toEqual([
      ["ENVELOPE='false': only for FORMAT=jsonl with FIELDS=value"],
      ["ENVELOPE='false': only for FORMAT=jsonl with FIELDS=value"],
      ["ENVELOPE='false': needs VALUE_ENCODING=json (each line must be a JSON value)"],
    ]);
    expect(notBooleanErr.problems).toHaveLength(1);
    expect(notBooleanErr.problems[0]).toMatch(/^ENVELOPE='no': /);
  });
});

describe('loadSinkConfig: key template', () => {
  it('rejects a template without {{start_offset}}', () => {
    // Prepare
    const env = { ...BASE, KEY_TEMPLATE: '{{topic}}/{{partition}}/data' };

    // Act
    const err = configError(env);

    // Assess
    expect(err.problems).toEqual([
      "KEY_TEMPLATE='{{topic}}/{{partition}}/data': must contain {{start_offset}} so that every object key is unique (see \"Object keys\" in the README)",
    ]);
  });

  it('rejects an unknown variable, naming it', () => {
    // Prepare
    const env = { ...BASE, KEY_TEMPLATE: '{{topic}}/{{offset}}/{{partition}}+{{start_offset}}' };

    // Act
    const err = configError(env);

    // Assess
    expect(err.problems).toEqual([
      "KEY_TEMPLATE='{{topic}}/{{offset}}/{{partition}}+{{start_offset}}': unknown variable {{offset}}; use topic, partition, start_offset, end_offset, timestamp:<pattern>, key, value.<field>",
    ]);
  });

  it('parses a valid custom template', () => {
    // Prepare
    const env = { ...BASE, KEY_TEMPLATE: '{{topic}}/{{value.region}}/{{key}}/{{partition}}-{{start_offset}}-{{end_offset}}' };

    // Act
    const cfg = loadSinkConfig(env);

    // Assess
    expect(cfg.keyTemplate.usesKey).toBe(true);
    expect(cfg.keyTemplate.usesTimestamp).toBe(false);
    expect(cfg.keyTemplate.valuePaths).toEqual([['region']]);
  });
});

describe('loadSinkConfig: Avro schema', () => {
  it('reads a valid AVRO_SCHEMA into table columns', () => {
    // Prepare
    const env = { ...BASE, FORMAT: 'parquet', AVRO_SCHEMA: ORDER_SCHEMA };

    // Act
    const cfg = loadSinkConfig(env);

    // Assess
    expect(cfg.schema).toEqual({
      name: 'Order',
      namespace: 'com.example',
      given: true,
      columns: [
        { name: 'order_id', type: 'string', nullable: false, doc: 'Order number', default: undefined },
        { name: 'amount', type: 'double', nullable: false, doc: undefined, default: undefined },
        { name: 'quantity', type: 'long', nullable: true, doc: undefined, default: null },
        { name: 'created_at', type: 'timestamp-millis', nullable: false, doc: undefined, default: undefined },
      ],
    });
  });

  it('reads the schema from AVRO_SCHEMA_FILE', () => {
    // Prepare
    const dir = mkdtempSync(join(tmpdir(), 'sink-config-'));
    const file = join(dir, 'order.avsc');
    writeFileSync(file, ORDER_SCHEMA);
    const env = { ...BASE, FORMAT: 'avro', AVRO_SCHEMA_FILE: file };

    // Act
    const cfg = loadSinkConfig(env);

    // Assess
    expect(cfg.schema?.columns.map((c) => `${c.name}:${c.type}`)).toEqual([
      'order_id:string', 'amount:double', 'quantity:long', 'created_at:timestamp-millis',
    ]);
  });

  it('rejects AVRO_SCHEMA that is not JSON, abbreviating the value', () => {
    // Prepare
    const text = `{"type": "record", "name": "Order", "fields": [ ${'x'.repeat(80)}`;
    const env = { ...BASE, FORMAT: 'avro', AVRO_SCHEMA: text };

    // Act
    const err = configError(env);

    // Assess
    expect(err.problems).toHaveLength(1);
    expect(err.problems[0].startsWith(`AVRO_SCHEMA='${text.slice(0, 57)}...': not valid JSON (`)).toBe(true);
  });

  it('rejects AVRO_SCHEMA that is not a record, or has an unsupported or reserved field', () => {
    // Prepare
    const notRecord = { ...BASE, FORMAT: 'avro', AVRO_SCHEMA: '"string"' };
    const nested = {
      ...BASE, FORMAT: 'avro',
      AVRO_SCHEMA: JSON.stringify({ type: 'record', name: 'R', fields: [{ name: 'items', type: { type: 'array', items: 'string' } }] }),
    };
    const reserved = {
      ...BASE, FORMAT: 'avro',
      AVRO_SCHEMA: JSON.stringify({ type: 'record', name: 'R', fields: [{ name: '_kafka_offset', type: 'long' }] }),
    };

    // Act
    const errors = [notRecord, nested, reserved].map((env) => configError(env).problems);

    // Assess
    expect(errors).toEqual([
      [`AVRO_SCHEMA='"string"': must be an Avro record schema: {"type":"record","name":…,"fields":[…]}`],
      [`AVRO_SCHEMA='${nested.AVRO_SCHEMA.slice(0, 57)}...': field "items": nested array types are not supported yet; use a string field holding JSON`],
      [`AVRO_SCHEMA='${reserved.AVRO_SCHEMA.slice(0, 57)}...': field "_kafka_offset" uses the prefix "_kafka_" (in any letter case) reserved for Kafka metadata columns`],
    ]);
  });

  it('rejects a schema for jsonl, a schema with text values, and both schema settings at once', () => {
    // Prepare
    const jsonl = { ...BASE, FORMAT: 'jsonl', AVRO_SCHEMA: ORDER_SCHEMA };
    const textValues = { ...BASE, FORMAT: 'avro', VALUE_ENCODING: 'text', AVRO_SCHEMA: ORDER_SCHEMA };
    const both = { ...BASE, FORMAT: 'avro', AVRO_SCHEMA: ORDER_SCHEMA, AVRO_SCHEMA_FILE: '/tmp/order.avsc' };

    // Act
    const errors = [jsonl, textValues, both].map((env) => configError(env).problems);

    // Assess
    expect(errors).toEqual([
      ['AVRO_SCHEMA: a schema applies to avro, parquet, csv and csv_with_headers, not FORMAT=jsonl'],
      ['AVRO_SCHEMA: a value schema needs VALUE_ENCODING=json'],
      ["AVRO_SCHEMA_FILE='/tmp/order.avsc': set AVRO_SCHEMA or AVRO_SCHEMA_FILE, not both"],
    ]);
  });
});

describe('loadSinkConfig: prefixes', () => {
  it.each([
    ['data/', 'data/errors/'],
    ['data/errors/', 'data/'],
    ['same/', 'same/'],
  ])('rejects PREFIX=%s with ERROR_PREFIX=%s', (prefix, errorPrefix) => {
    // Prepare
    const env = { ...BASE, PREFIX: prefix, ERROR_PREFIX: errorPrefix };

    // Act
    const err = configError(env);

    // Assess
    expect(err.problems).toEqual([
      `ERROR_PREFIX='${errorPrefix}': must not overlap PREFIX='${prefix}' (dead letters would mix with data)`,
    ]);
  });

  it('accepts disjoint prefixes', () => {
    // Prepare
    const env = { ...BASE, PREFIX: 'data/', ERROR_PREFIX: 'errors/' };

    // Act
    const cfg = loadSinkConfig(env);

    // Assess
    expect([cfg.prefix, cfg.errorPrefix]).toEqual(['data/', 'errors/']);
  });

  it('rejects a leading slash and ".." segments', () => {
    // Prepare
    const env = { ...BASE, PREFIX: '/data/', ERROR_PREFIX: 'x/../errors/' };

    // Act
    const err = configError(env);

    // Assess
    expect(err.problems).toEqual([
      "PREFIX='/data/': must not start with '/' or contain a '..' segment",
      "ERROR_PREFIX='x/../errors/': must not start with '/' or contain a '..' segment",
    ]);
  });
});

describe('BYTES_SEPARATOR escapes', () => {
  it.each([
    ['\\n', [10]],
    ['\\r\\n', [13, 10]],
    ['\\t', [9]],
    ['\\0', [0]],
    ['\\\\', [92]],
    ['\\x1e', [0x1e]],
    ['\\xFF\\x00', [0xff, 0x00]],
    ['||', [124, 124]],
    ['é', [0xc3, 0xa9]],
    ['end\\', [101, 110, 100, 92]],
  ])('BYTES_SEPARATOR=%s → bytes %j', (setting, bytes) => {
    // Prepare
    const env = { ...BASE, FORMAT: 'bytes', BYTES_SEPARATOR: setting };

    // Act
    const cfg = loadSinkConfig(env);

    // Assess
    expect([...cfg.bytesSeparator]).toEqual(bytes);
    expect([...decodeEscapes(setting)]).toEqual(bytes);
  });

  it('an empty BYTES_SEPARATOR means no separator, as documented', () => {
    // Prepare
    const env = { ...BASE, FORMAT: 'bytes', BYTES_SEPARATOR: '' };

    // Act
    const cfg = loadSinkConfig(env);

    // Assess
    expect(cfg.bytesSeparator).toEqual(Buffer.alloc(0));
  });

  it.each([
    ['\\q', 'unknown escape \\q'],
    ['\\x1', 'unknown escape \\x'],
    ['\\xZZ', 'unknown escape \\x'],
  ])('rejects BYTES_SEPARATOR=%s', (setting, message) => {
    // Prepare
    const env = { ...BASE, FORMAT: 'bytes', BYTES_SEPARATOR: setting };

    // Act
    const err = configError(env);

    // Assess
    expect(err.problems).toEqual([`BYTES_SEPARATOR='${setting}': ${message}`]);
  });
});

describe('loadSinkConfig: upload and credentials settings', () => {
  it('rejects a role ARN that is not an IAM role', () => {
    // Prepare
    const env = { ...BASE, CROSS_ACCOUNT_ROLE_ARN: 'arn:aws:iam::123:user/bob' };

    // Act
    const err = configError(env);

    // Assess
    expect(err.problems).toEqual(["CROSS_ACCOUNT_ROLE_ARN='arn:aws:iam::123:user/bob': must be an IAM role ARN"]);
  });

  it('rejects a part size above the multipart threshold', () => {
    // Prepare
    const env = { ...BASE, MULTIPART_THRESHOLD_BYTES: String(8 * 1024 * 1024), PART_SIZE_BYTES: String(10 * 1024 * 1024) };

    // Act
    const err = configError(env);

    // Assess
    expect(err.problems).toEqual(["PART_SIZE_BYTES='10485760': must not exceed MULTIPART_THRESHOLD_BYTES='8388608'"]);
  });

  it('rejects a part size below the S3 minimum of 5 MiB', () => {
    // Prepare
    const env = { ...BASE, PART_SIZE_BYTES: '1048576' };

    // Act
    const err = configError(env);

    // Assess
    expect(err.problems).toHaveLength(1);
    expect(err.problems[0]).toMatch(/^PART_SIZE_BYTES='1048576': .*5242880/);
  });
});
