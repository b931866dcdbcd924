/**
 * The S3 Tables path against a real Iceberg implementation, since Firehose cannot run here. The tables
 * KafkaS3TablesStack declares (the synthesized AWS::S3Tables::Table schemas) are created in a local Iceberg catalog
 * (pyiceberg: SQL catalog on sqlite, file:// warehouse; test/readers/iceberg_tables.py); the real forwarder, with
 * the environment the stack gives it, turns Kafka records into the documents it puts to Kinesis; the real router
 * names each document's table; the documents are appended as Firehose maps first-level JSON fields to columns (our
 * reading of the Firehose docs, stated in the script) and scanned back.
 * Proves: every column type lands as declared with the value produced (timestamps to the microsecond, decimals
 * exact, longs beyond 2^53 exact, binary bytes exact); a value that does not fit a declared column is a record the
 * forwarder dead-letters, and Iceberg refuses that value too; every document the forwarder forwards, also
 * thousands generated near the type limits (fast-check), is accepted by Iceberg.
 * Does not prove: Firehose itself (its JSON-to-column mapping is our reading of its documentation).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { KinesisClient, PutRecordsCommandInput } from '@aws-sdk/client-kinesis';
import type { S3Client } from '@aws-sdk/client-s3';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createForwarderHandler, type ForwardResult } from '../../lambdas/forwarder/app.ts';
import { loadRouterConfig, route } from '../../lambdas/router/app.ts';
import { synthTables } from '../lib/synth.ts';
import { kafkaEvent, type RecordSpec } from '../support/events.ts';
import { MemoryBucket } from '../support/memory-bucket.ts';
import { parseJsonExact } from '../support/readers.ts';
import { infraPaths, REPO_ROOT } from '../support/versitygw.ts';

const SCRIPT = join(REPO_ROOT, 'test/readers/iceberg_tables.py');
const TYPED = 'typed-events';
const PAYMENTS = 'payments';
/** Documents generated near the type limits; a fixed seed in `npm test` (ICEBERG_SEED explores others). */
const RUNS = Number(process.env.ICEBERG_RUNS ?? 3000);
const SEED = Number(process.env.ICEBERG_SEED ?? 20260704);
/** The pyiceberg the venv pins (scripts/infra/requirements.txt). */
const PYICEBERG = /^pyiceberg\[[^\]]*\]==(\S+)$/m.exec(readFileSync(join(REPO_ROOT, 'scripts/infra/requirements.txt'), 'utf8'))?.[1];

function isCi(): boolean {
  const ci = process.env.CI;
  return ci !== undefined && ci !== '' && ci !== '0' && ci.toLowerCase() !== 'false';
}

const paths = await infraPaths().catch((err: Error) => err);
const python = paths instanceof Error ? undefined : paths.pyVenvPython;
const unavailable = paths instanceof Error ? `scripts/infra/paths.sh failed: ${paths.message}`
  : !existsSync(join(dirname(dirname(paths.pyVenvPython)), '.complete'))
    ? `the Python venv with pyiceberg is not installed at ${dirname(dirname(paths.pyVenvPython))}: run bash scripts/infra/install-python.sh`
    : undefined;
if (unavailable && isCi()) throw new Error(`iceberg-tables: ${unavailable}`);
if (unavailable) console.warn(`\n[iceberg-tables] SKIPPED locally: ${unavailable} (in CI, with CI set, this fails the run)\n`);

// ---- The stack under test -------------------------------------------------------------------------------------

interface SchemaField { readonly Name: string; readonly Type: string; readonly Required: boolean }
interface TableSpec { readonly namespace: string; readonly name: string; readonly schemaFieldList: readonly SchemaField[] }

/** Synthesizes the stack with every column type we support; returns its tables and its functions' environments. */
function stackUnderTest() {
  const s = synthTables({
    topics: `${TYPED},${PAYMENTS}`, tables: `${TYPED}=all_types,${PAYMENTS}=payment_events`, tableSchemaFile: 'test/events/iceberg-all-types.json',
  }, { nag: false });
  const props = (type: string) => Object.values(s.template.findResources(type)).map((r) => (r as { Properties: Record<string, unknown> }).Properties);
  const tables: TableSpec[] = props('AWS::S3Tables::Table').map((p) => ({
    namespace: p.Namespace as string,
    name: p.TableName as string,
    schemaFieldList: (p.IcebergMetadata as { IcebergSchema: { SchemaFieldList: SchemaField[] } }).IcebergSchema.SchemaFieldList,
  }));
  const envOf = (description: string, literals: Record<string, string>): Record<string, string> => {
    const fn = props('AWS::Lambda::Function').find((f) => String(f.Description).includes(description))!;
    const vars = (fn.Environment as { Variables: Record<string, unknown> }).Variables;
    // References to other resources (the stream, the error bucket) become names of our own.
    return Object.fromEntries(Object.entries(vars).map(([k, v]) => [k, typeof v === 'string' ? v : literals[k]]));
  };
  const [delivery] = props('AWS::KinesisFirehose::DeliveryStream');
  const destinations = (delivery.IcebergDestinationConfiguration as { DestinationTableConfigurationList: { DestinationDatabaseName: string; DestinationTableName: string }[] })
    .DestinationTableConfigurationList;
  return {
    tables,
    table: (name: string) => tables.find((t) => t.name === name)!,
    forwarderEnv: envOf('forwards', { STREAM_NAME: 'tables-stream', ERROR_BUCKET: 'tables-errors' }),
    routerEnv: envOf('routes', {}),
    destinations,
  };
}

// ---- The forwarder and the router, as deployed ---------------------------------------------------------------

interface DeadLetterLine { topic: string; partition: number; offset: string; stage: string; reason: string; value: string | null }

/** Runs the real forwarder on one event; returns what it put to Kinesis (in order) and its dead letters. */
async function forward(env: Record<string, string>, records: RecordSpec[]) {
  const sent: { data: string; partitionKey: string }[] = [];
  const kinesis = {
    send: async (command: { input: PutRecordsCommandInput }) => {
      const entries = command.input.Records ?? [];
      for (const r of entries) sent.push({ data: Buffer.from(r.Data!).toString('utf8'), partitionKey: r.PartitionKey! });
      return { FailedRecordCount: 0, Records: entries.map((_, i) => ({ SequenceNumber: String(sent.length + i), ShardId: 'shardId-000000000000' })), $metadata: {} };
    },
  };
  const bucket = new MemoryBucket();
  const handler = createForwarderHandler({ env, kinesis: kinesis as unknown as KinesisClient, s3: bucket as unknown as S3Client });
  const result: ForwardResult = await handler(kafkaEvent(records), { functionName: 'forwarder', awsRequestId: 'req-iceberg', getRemainingTimeInMillis: () => 600_000 } as never);
  const deadLetters = bucket.keys(env.ERROR_PREFIX).flatMap((k) => bucket.objects.get(k)!.toString('utf8').split('\n').filter(Boolean)
    .map((line) => JSON.parse(line) as DeadLetterLine));
  return { result, sent, deadLetters };
}

/** The router (Firehose's data transformation) on the forwarded documents: the table of each, in order. */
function routeAll(env: Record<string, string>, sent: readonly { data: string }[]) {
  const out = route(loadRouterConfig(env), {
    invocationId: 'inv-1', deliveryStreamArn: 'arn:aws:firehose:us-east-1:111122223333:deliverystream/tables',
    records: sent.map((s, i) => ({ recordId: String(i), data: Buffer.from(s.data, 'utf8').toString('base64') })),
  });
  return out.records.map((r) => ({ result: r.result, database: r.metadata?.otfMetadata.destinationDatabaseName, table: r.metadata?.otfMetadata.destinationTableName }));
}

// ---- pyiceberg -----------------------------------------------------------------------------------------------

type Verdict =
  | { index: number; accepted: true; ignored: string[] }
  | { index: number; accepted: false; column: string | null; kind: 'refused' | 'lossy'; reason: string };
interface Landed {
  identifier: string;
  iceberg_schema: { id: number; name: string; type: string; required: boolean }[];
  arrow_schema: { name: string; type: string; nullable: boolean }[];
  verdicts: Verdict[];
  rows: { index: number; values: Record<string, unknown> }[];
  data_files: number;
}

/** Creates the tables in a fresh local catalog, appends the documents that fit, and scans them back. */
async function land(tables: (TableSpec & { documents: string[] })[]): Promise<{ pyiceberg: string; tables: Landed[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'iceberg-tables-'));
  try {
    const input = join(dir, 'input.json');
    writeFileSync(input, JSON.stringify({ tables }));
    const stdout = await new Promise<string>((resolve, reject) => {
      execFile(python!, [SCRIPT, '--input', input], { encoding: 'utf8', maxBuffer: 1 << 30, env: { ...process.env, PYTHONIOENCODING: 'utf-8' } },
        (err, out, errOut) => (err ? reject(new Error(`iceberg_tables.py failed: ${errOut.trim() || err.message}`, { cause: err })) : resolve(out)));
    });
    return parseJsonExact(stdout) as { pyiceberg: string; tables: Landed[] };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The Arrow type pyiceberg writes and scans for a declared Iceberg type. */
function arrowTypeOf(type: string): string {
  const dec = /^decimal\((\d+),\s*(\d+)\)$/.exec(type);
  if (dec) return `decimal128(${dec[1]}, ${dec[2]})`;
  const map: Record<string, string> = {
    boolean: 'bool', int: 'int32', long: 'int64', float: 'float', double: 'double', string: 'large_string', binary: 'large_binary',
    date: 'date32[day]', time: 'time64[us]', timestamp: 'timestamp[us]', timestamptz: 'timestamp[us, tz=UTC]', uuid: 'extension<arrow.uuid>',
  };
  return map[type];
}

/** The declared schema, as the catalog holds it and as the scan returns it. */
function expectDeclaredTypes(landed: Landed, spec: TableSpec): void {
  expect(landed.iceberg_schema.map((f) => ({ name: f.name, type: f.type.replace(/\s+/g, ''), required: f.required })))
    .toEqual(spec.schemaFieldList.map((f) => ({ name: f.Name, type: f.Type.replace(/\s+/g, ''), required: f.Required })));
  expect(landed.arrow_schema).toEqual(spec.schemaFieldList.map((f) => ({ name: f.Name, type: arrowTypeOf(f.Type), nullable: !f.Required })));
}

// ---- Values --------------------------------------------------------------------------------------------------

/** An integer as parseJsonExact returns it: a number when safe, else a BigInt. */
const exact = (n: bigint): number | bigint => (n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n);
const bytes = (n: number, seed: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 73 + seed * 151 + 41) % 256));
const ALL_BYTES = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
const mime = (b: Buffer, eol: string) => b.toString('base64').replace(/.{76}(?=.)/g, `$&${eol}`);
const urlSafe = (b: Buffer) => b.toString('base64').replace(/\+/g, '-').replace(/\//g, '_');
/** Microseconds of 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999999Z. */
const MIN_MICROS = -62_135_596_800_000_000n;
const MAX_MICROS = 253_402_300_799_999_999n;

interface Produced { readonly value: string; readonly expected: Record<string, unknown> }

/** Values of every type in the forms the Firehose docs show, at the limits of each; `expected` is what a reader holds. */
const TYPED_VALUES: Produced[] = [
  {
    value: `{"id":"max","flag":true,"small":2147483647,"big":9223372036854775807,"ratio":3.4028234663852886e38,"score":1.7976931348623157e308,
      "amount":9999999999.99,"wide":9999999999999999999999999999.9999999999,"whole":99999999999999999999999999999999999999,
      "payload":"${ALL_BYTES.toString('base64')}","day":2932896,"clock":86399999999,"local_ts":253402300799999999,"created_at":253402300799999999,
      "ref":"ffffffff-ffff-4fff-bfff-ffffffffffff"}`,
    expected: {
      id: 'max', flag: true, small: 2147483647, big: 9223372036854775807n, ratio: 3.4028234663852886e38, score: 1.7976931348623157e308,
      amount: '9999999999.99', wide: '9999999999999999999999999999.9999999999', whole: '99999999999999999999999999999999999999',
      payload: ALL_BYTES.toString('base64'), day: '9999-12-31', clock: 86399999999, local_ts: MAX_MICROS, created_at: MAX_MICROS,
      ref: 'ffffffff-ffff-4fff-bfff-ffffffffffff',
    },
  },
  {
    value: `{"id":"min","flag":false,"small":-2147483648,"big":-9223372036854775808,"ratio":-1.401298464324817e-45,"score":5e-324,
      "amount":-9999999999.99,"wide":-0.0000000001,"whole":-99999999999999999999999999999999999999,"payload":"",
      "day":-719162,"clock":0,"local_ts":-62135596800000000,"created_at":-62135596800000000,"ref":"00000000-0000-0000-0000-000000000000"}`,
    expected: {
      id: 'min', flag: false, small: -2147483648, big: -9223372036854775808n, ratio: -1.401298464324817e-45, score: 5e-324,
      amount: '-9999999999.99', wide: '-0.0000000001', whole: '-99999999999999999999999999999999999999', payload: '',
      day: '0001-01-01', clock: 0, local_ts: MIN_MICROS, created_at: MIN_MICROS, ref: '00000000-0000-0000-0000-000000000000',
    },
  },
  {
    // Strings, as the docs show them for each type; MIME base64 (CRLF lines of 76).
    value: JSON.stringify({
      id: 'strings', flag: 'true', small: '-7', big: '9007199254740993', ratio: '0.6242226', score: '9.18477568715142', amount: '19.9',
      wide: '1234567890123456789012345678.0123456789', whole: '-12345678901234567890123456789012345678', payload: mime(bytes(100, 1), '\r\n'),
      day: '2024-09-04', clock: '18:56:15.096', local_ts: '2024-09-04T18:56:15.114', created_at: '2024-09-04T18:56:15.099Z',
      ref: '21C5521C-A6D4-48D4-B2C8-7F6D842F72C3',
    }),
    expected: {
      id: 'strings', flag: true, small: -7, big: 9007199254740993n, ratio: Math.fround(0.6242226), score: 9.18477568715142, amount: '19.90',
      wide: '1234567890123456789012345678.0123456789', whole: '-12345678901234567890123456789012345678', payload: bytes(100, 1).toString('base64'),
      day: '2024-09-04', clock: 68_175_096_000, local_ts: 1_725_476_175_114_000, created_at: 1_725_476_175_099_000,
      ref: '21c5521c-a6d4-48d4-b2c8-7f6d842f72c3',
    },
  },
  {
    // Beyond 2^53 as numbers; exponents; microseconds in ISO text; an offset; URL-safe base64; 1 for true.
    value: `{"id":"exact","flag":1,"small":0,"big":9007199254740993,"ratio":0.1,"score":0.1,"amount":0.01,"wide":1e-10,"whole":1E+37,
      "payload":"${urlSafe(ALL_BYTES)}","day":"0001-01-01","clock":"23:59:59.999999","local_ts":"2262-04-11T23:47:16.854775Z",
      "created_at":"2024-09-04T20:56:15.123456+02:00","ref":"21c5521c-a6d4-48d4-b2c8-7f6d842f72c3"}`,
    expected: {
      id: 'exact', flag: true, small: 0, big: 9007199254740993n, ratio: Math.fround(0.1), score: 0.1, amount: '0.01', wide: '0.0000000001',
      whole: `1${'0'.repeat(37)}`, payload: ALL_BYTES.toString('base64'), day: '0001-01-01', clock: 86_399_999_999,
      local_ts: 9_223_372_036_854_775n, created_at: 1_725_476_175_123_456,
      ref: '21c5521c-a6d4-48d4-b2c8-7f6d842f72c3',
    },
  },
  {
    // Hex binary (not base64: 6 characters), 9 fraction digits ending in zeros, a time without seconds, 0 and "false".
    value: `{"id":"forms","flag":"false","small":"2147483647","big":"-9223372036854775808","ratio":"-0","score":-2.5e-300,"amount":"-0.5",
      "wide":"0.00000000010000","whole":"1e0","payload":"00ff7f","day":19970,"clock":"00:00","local_ts":"1969-12-31T23:59:59.999999",
      "created_at":"2024-09-04T18:56:15.099000000Z"}`,
    expected: {
      id: 'forms', flag: false, small: 2147483647, big: -9223372036854775808n, ratio: -0, score: -2.5e-300, amount: '-0.50',
      wide: '0.0000000001', whole: '1', payload: Buffer.from([0x00, 0xff, 0x7f]).toString('base64'), day: '2024-09-04', clock: 0,
      local_ts: -1, created_at: 1_725_476_175_099_000, ref: null,
    },
  },
  {
    // Integers not written as plain digits: the forwarder sends them as their integer (Firehose's examples show 7 and
    // "7"), exact also beyond 2^53.
    value: '{"id":"normalized","small":"2E0","big":"9223372036854775807.0","local_ts":-621355967999999990e-1,"created_at":9007199254740993.0}',
    expected: { id: 'normalized', small: 2, big: 9223372036854775807n, local_ts: MIN_MICROS + 1n, created_at: 9_007_199_254_740_993n },
  },
  // Only the required column: every other one is null.
  { value: '{"id":"nulls","flag":null,"big":null}', expected: { id: 'nulls' } },
];

const PAYMENT_VALUES: Produced[] = [
  {
    value: `{"payment_id":"pay-1","amount":12345.6789,"paid_at":1767225600123456,"settled":true,"attempts":3,"card_hash":"${bytes(33, 7).toString('hex')}"}`,
    expected: { payment_id: 'pay-1', amount: '12345.6789', paid_at: 1_767_225_600_123_456, settled: true, attempts: 3, card_hash: bytes(33, 7).toString('base64') },
  },
  {
    value: `{"payment_id":"pay-2","amount":"-99999.9999","paid_at":"2026-01-01T00:00:00Z","settled":0,"note":"not a column"}`,
    expected: { payment_id: 'pay-2', amount: '-99999.9999', paid_at: 1_767_225_600_000_000, settled: false, attempts: null, card_hash: null },
  },
];

/** The Kafka metadata columns of a record (the forwarder's FIELDS default: all of them). */
function metadataOf(r: RecordSpec): Record<string, unknown> {
  const ms = r.timestamp ?? 1_767_225_600_000 + Number(r.offset);
  return {
    _kafka_topic: r.topic, _kafka_partition: r.partition ?? 0, _kafka_offset: Number(r.offset), _kafka_timestamp: exact(BigInt(ms) * 1000n),
    _kafka_key: typeof r.key === 'string' ? r.key : null,
    _kafka_headers: JSON.stringify((r.headers ?? []).map(([key, value]) => ({ key, value: String(value) }))),
  };
}

/** A row as the scan returns it: every declared column, null when the document had no value. */
function rowOf(spec: TableSpec, values: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(spec.schemaFieldList.map((f) => [f.Name, values[f.Name] ?? null]));
}

// ---- Hostile values ------------------------------------------------------------------------------------------

/** One value per record that does not fit its column: [column, JSON text of the record's value]. */
const HOSTILE: [string, string][] = [
  ['big', '{"id":"h","big":9223372036854775808}'],
  ['big', '{"id":"h","big":-9223372036854775809}'],
  ['big', '{"id":"h","big":"92233720368547758070"}'],
  ['small', '{"id":"h","small":2147483648}'],
  ['small', '{"id":"h","small":1.5}'],
  ['amount', '{"id":"h","amount":1.234}'],
  ['amount', '{"id":"h","amount":"12345678901.5"}'],
  ['wide', '{"id":"h","wide":1e28}'],
  ['whole', '{"id":"h","whole":0.5}'],
  ['whole', '{"id":"h","whole":100000000000000000000000000000000000000}'],
  ['created_at', '{"id":"h","created_at":"2024-13-01T00:00:00Z"}'],
  ['created_at', '{"id":"h","created_at":"2023-02-29T00:00:00Z"}'],
  ['created_at', '{"id":"h","created_at":"yesterday"}'],
  ['created_at', '{"id":"h","created_at":253402300800000000}'],
  ['created_at', '{"id":"h","created_at":"2024-09-04T18:56:15.1234567Z"}'],
  ['created_at', '{"id":"h","created_at":"9999-12-31T23:59:59-01:00"}'],
  ['created_at', '{"id":"h","created_at":1725476175099000.5}'],
  ['created_at', '{"id":"h","created_at":"2024-09-04T18:56:15-18:30"}'],
  ['local_ts', '{"id":"h","local_ts":"2024-09-04 18:56:15"}'],
  ['day', '{"id":"h","day":"2024-02-30"}'],
  ['day', '{"id":"h","day":2932897}'],
  ['clock', '{"id":"h","clock":86400000000}'],
  ['clock', '{"id":"h","clock":"24:00:00"}'],
  ['flag', '{"id":"h","flag":"yes"}'],
  ['flag', '{"id":"h","flag":2}'],
  ['ratio', '{"id":"h","ratio":1e39}'],
  ['ratio', '{"id":"h","ratio":1e-50}'],
  ['score', '{"id":"h","score":1e309}'],
  ['id', '{"flag":true}'],
  ['id', '{"id":null}'],
  ['id', '{"id":42}'],
  ['id', '{"id":"\\ud800"}'],
  ['payload', '{"id":"h","payload":"not base64!"}'],
  ['payload', '{"id":"h","payload":123}'],
  ['payload', '{"id":"h","payload":"AsYhnHD_\\nRa54hA=="}'],
  ['ref', '{"id":"h","ref":"not-a-uuid"}'],
  ['ref', '{"id":"h","ref":"21c5521ca6d448d4b2c87f6d842f72c3"}'],
];
const HOSTILE_PAYMENTS: [string, string][] = [
  ['amount', '{"payment_id":"h","paid_at":0,"settled":true}'],
  ['amount', '{"payment_id":"h","amount":123456.1,"paid_at":0,"settled":true}'],
  ['paid_at', '{"payment_id":"h","amount":1,"paid_at":null,"settled":true}'],
  ['settled', '{"payment_id":"h","amount":1,"paid_at":0,"settled":"maybe"}'],
  ['attempts', '{"payment_id":"h","amount":1,"paid_at":0,"settled":true,"attempts":"3.5"}'],
];

// ---- Values near the type limits (fast-check) ----------------------------------------------------------------

const str = (s: string) => JSON.stringify(s);
/** An integer in the JSON forms a producer may use: plain, as a string, with a zero fraction, with an exponent. */
const integerForms = (n: bigint): fc.Arbitrary<string> => fc.constantFrom(
  `${n}`, str(`${n}`), `${n}.0`, str(`${n}.0`), `${n}e0`, str(`${n}E0`), `${n * 10n}e-1`, n === 0n ? '-0' : `${n}`,
);
const near = (...bounds: bigint[]) => fc.oneof(...bounds.map((b) => fc.bigInt({ min: b - 3n, max: b + 3n })));
const integers = (lo: bigint, hi: bigint) => fc.oneof(near(lo, hi, 0n), fc.bigInt({ min: lo * 2n, max: hi * 2n })).chain(integerForms);
const pad = (n: number, w: number) => String(n).padStart(w, '0');
const digits = (min: number, max: number) => fc.string({ unit: fc.constantFrom(...'0123456789'), minLength: min, maxLength: max });

const dateText = fc.tuple(fc.constantFrom(0, 1, 1969, 1970, 2023, 2024, 2100, 9999), fc.integer({ min: 0, max: 13 }), fc.constantFrom(0, 1, 28, 29, 30, 31, 32))
  .map(([y, m, d]) => `${pad(y, 4)}-${pad(m, 2)}-${pad(d, 2)}`);
const fraction = fc.oneof(fc.constant(''), digits(1, 9).map((d) => `.${d}`), digits(1, 6).map((d) => `.${d}000`), fc.constant('.'));
const timeText = fc.tuple(fc.constantFrom(0, 9, 23, 24), fc.constantFrom(0, 59, 60), fc.option(fc.constantFrom(0, 30, 59, 60)), fraction)
  .map(([h, m, s, f]) => `${pad(h, 2)}:${pad(m, 2)}${s === null ? '' : `:${pad(s, 2)}${f}`}`);
const zone = fc.constantFrom('', 'Z', '+00:00', '-00:00', '+05:30', '-07:00', '+14:00', '+18:00', '-18:00', '+18:01', '-18:30', '+19:00', '+05:60', 'z');
const dateTimeText = fc.oneof(
  fc.tuple(dateText, timeText, zone).map(([d, t, z]) => `${d}T${t}${z}`),
  // Instants at the edges of years 0001..9999, moved by an offset.
  fc.tuple(fc.constantFrom('0001-01-01T00:00:00', '0001-01-01T00:59:59.999999', '9999-12-31T23:59:59.999999', '9999-12-31T23:00:00'), zone).map(([t, z]) => `${t}${z}`),
);
const numberTexts = (...texts: string[]) => fc.constantFrom(...texts.flatMap((t) => [t, str(t)]));
const anyDouble = fc.double({ noNaN: true, noDefaultInfinity: true }).map((d) => String(d));
function decimalText(precision: number, scale: number): fc.Arbitrary<string> {
  return fc.tuple(fc.boolean(), digits(0, precision - scale + 1), digits(0, scale + 1), fc.constantFrom('', '0', '00'), fc.integer({ min: 0, max: 3 }), fc.boolean())
    .map(([negative, int, frac, zeros, form, quoted]) => {
      const i = int.replace(/^0+(?=.)/, '') || '0';
      const f = frac + (frac ? zeros : '');
      const sign = negative ? '-' : '';
      let text: string;
      if (form === 0 || !f) text = `${sign}${i}${f ? `.${f}` : ''}`;
      else if (form === 1) text = `${sign}${(i + f).replace(/^0+(?=.)/, '')}e-${f.length}`;
      else if (form === 2) text = `${sign}${i}.${f}E+0`;
      else text = `${sign}0.${i}${f}e${i === '0' ? 0 : i.length}`;
      return quoted ? str(text) : text;
    });
}
const binaryText = fc.tuple(fc.oneof(fc.uint8Array({ maxLength: 20 }), fc.uint8Array({ minLength: 55, maxLength: 120 })), fc.integer({ min: 0, max: 9 })).map(([a, form]) => {
  const b = Buffer.from(a);
  const s = b.toString('base64');
  const forms = [s, s.replace(/=+$/, ''), mime(b, '\r\n'), mime(b, '\n'), urlSafe(b), urlSafe(b).replace(/.{76}(?=.)/g, '$&\n'),
    b.toString('hex'), b.toString('hex').toUpperCase().slice(1), `${s.slice(0, 4)} ${s.slice(4)}`, s.replace(/\+/, '-')];
  return str(forms[form]);
});
const uuidText = fc.tuple(fc.uuid(), fc.integer({ min: 0, max: 4 }))
  .map(([u, form]) => str([u, u.toUpperCase(), `{${u}}`, u.replace(/-/g, ''), `urn:uuid:${u}`][form]));
const stringText = fc.oneof(fc.string({ unit: 'binary', maxLength: 12 }).map(str), fc.constantFrom('1', 'true', 'null', '[]'));

/** Per column of all_types: JSON texts near its type's limits, valid and not. */
const NEAR_LIMITS: Record<string, fc.Arbitrary<string>> = {
  id: fc.oneof({ weight: 8, arbitrary: fc.constant('"p"') }, { weight: 1, arbitrary: stringText }),
  flag: fc.constantFrom('true', 'false', '"true"', '"false"', '1', '0', '2', '-1', '1.0', '"1"', '"TRUE"', 'null', '"yes"', '1e0'),
  small: integers(-(2n ** 31n), 2n ** 31n - 1n),
  big: fc.oneof(integers(-(2n ** 63n), 2n ** 63n - 1n), near(2n ** 53n, -(2n ** 53n)).chain(integerForms)),
  ratio: fc.oneof(numberTexts('3.4028234663852886e38', '3.4028235677973366e38', '3.4028235677973362e38', '3.40282357e38', '-3.5e38', '1e39',
    '1.401298464324817e-45', '7.006492321624086e-46', '7.006492321624085e-46', '1e-46', '0', '-0', '1e-400'), anyDouble),
  score: fc.oneof(numberTexts('1.7976931348623157e308', '1.7976931348623158e308', '1.7976931348623159e308', '-1.8e308', '5e-324',
    '2.4703282292062328e-324', '2.4703282292062327e-324', '1e-400', '1e309', '0'), fc.constantFrom('"NaN"', '"Infinity"'), anyDouble),
  amount: decimalText(12, 2),
  wide: decimalText(38, 10),
  whole: decimalText(38, 0),
  payload: binaryText,
  day: fc.oneof(near(-719_162n, 2_932_896n, 0n).chain(integerForms), dateText.map(str)),
  clock: fc.oneof(near(0n, 86_399_999_999n).chain(integerForms), timeText.map(str)),
  local_ts: fc.oneof(near(MIN_MICROS, MAX_MICROS, 2n ** 53n).chain(integerForms), dateTimeText.map(str)),
  created_at: fc.oneof(near(MIN_MICROS, MAX_MICROS, -(2n ** 53n)).chain(integerForms), dateTimeText.map(str)),
  ref: uuidText,
};
/** A record value: `id` and one to three other columns, each with a value near its limits. */
const nearLimitValue = fc.tuple(fc.option(NEAR_LIMITS.id, { freq: 12 }), fc.subarray(Object.keys(NEAR_LIMITS).filter((c) => c !== 'id'), { minLength: 1, maxLength: 3 }))
  .chain(([id, cols]) => fc.tuple(...cols.map((c) => NEAR_LIMITS[c])).map((texts) => {
    const fields = [...(id === null ? [] : [`"id":${id}`]), ...cols.map((c, i) => `${str(c)}:${texts[i]}`)];
    return `{${fields.join(',')}}`;
  }));

/** Up to 20 disagreements, one per line, for a failure message. */
const listed = (lines: string[]) => `${lines.length} disagreement(s):\n${lines.slice(0, Number(process.env.ICEBERG_LIST ?? 20)).join('\n')}`;

describe.skipIf(unavailable !== undefined)('S3 Tables path against pyiceberg (the stack\'s tables, the forwarder\'s documents)', () => {
  const stack = stackUnderTest();

  it('routes each topic to a declared table, and every value of every column type reads back exact, as declared', async () => {
    // Prepare: the stack declares two tables (all column types + the _kafka_* ones); Kafka records of both topics.
    expect(stack.tables.map((t) => t.name).sort()).toEqual(['all_types', 'payment_events']);
    expect(stack.table('all_types').schemaFieldList.map((f) => f.Type.replace(/\(.*$/, '')).sort())
      .toEqual(expect.arrayContaining(['binary', 'boolean', 'date', 'decimal', 'double', 'float', 'int', 'long', 'string', 'time', 'timestamp', 'timestamptz', 'uuid']));
    const records: RecordSpec[] = [
      ...TYPED_VALUES.map((p, i): RecordSpec => ({ topic: TYPED, partition: i % 2, offset: 10 + i, key: `k-${i}`, value: p.value.replace(/\n\s*/g, ''), headers: [['trace', `t-${i}`]] })),
      ...PAYMENT_VALUES.map((p, i): RecordSpec => ({ topic: PAYMENTS, partition: 3, offset: 7 + i, key: i === 0 ? null : `pay-${i}`, value: p.value })),
    ];
    // Kafka's timestamp far out (9999-12-31T23:59:59.999Z): _kafka_timestamp is 2.5e17 microseconds, beyond 2^53.
    records[0].timestamp = 253_402_300_799_999;
    const produced = [...TYPED_VALUES, ...PAYMENT_VALUES];

    // Act
    const { result, sent, deadLetters } = await forward(stack.forwarderEnv, records);
    const routes = routeAll(stack.routerEnv, sent);
    const byTable = new Map<string, number[]>();
    routes.forEach((r, i) => byTable.set(r.table!, [...(byTable.get(r.table!) ?? []), i]));
    const out = await land(stack.tables.map((t) => ({ ...t, documents: (byTable.get(t.name) ?? []).map((i) => sent[i].data) })));

    // Assess: all forwarded, each to the table of its topic that the delivery stream writes.
    expect(deadLetters).toEqual([]);
    expect(result).toMatchObject({ recordsIn: records.length, forwarded: records.length, deadLettered: 0 });
    expect(routes.every((r) => r.result === 'Ok' && r.database === 'kafka')).toBe(true);
    for (const r of routes) expect(stack.destinations).toContainEqual({ DestinationDatabaseName: r.database, DestinationTableName: r.table, S3ErrorOutputPrefix: `firehose-errors/${r.table}/` });
    expect(out.pyiceberg).toBe(PYICEBERG);
    for (const landed of out.tables) {
      const name = landed.identifier.split('.')[1];
      const spec = stack.table(name);
      const docs = byTable.get(name)!;
      expectDeclaredTypes(landed, spec);
      expect(landed.verdicts.filter((v) => !v.accepted)).toEqual([]);
      // Every value reads back as produced, in the declared type, in the order appended.
      const expected = docs.map((i) => {
        const original = records.findIndex((r) => r.topic === JSON.parse(sent[i].data)._kafka_topic && r.offset === JSON.parse(sent[i].data)._kafka_offset);
        return rowOf(spec, { ...produced[original].expected, ...metadataOf(records[original]) });
      });
      expect(landed.rows.map((r) => r.values)).toEqual(expected);
      expect(landed.rows.map((r) => r.index)).toEqual(docs.map((_, j) => j));
      expect(landed.data_files).toBe(1);
    }
  });

  it('dead-letters exactly the records with a value that does not fit its column, and Iceberg refuses those values too', async () => {
    // Prepare: one value that does not fit per record, between records that fit.
    const good = (i: number) => `{"id":"ok-${i}","big":${2n ** 63n - 1n},"created_at":"2024-09-04T18:56:15.099Z"}`;
    const records: RecordSpec[] = [];
    const hostile = new Map<string, { topic: string; column: string; value: string }>();
    HOSTILE.forEach(([column, value], i) => {
      records.push({ topic: TYPED, offset: 2 * i, key: `k-${i}`, value: good(i) });
      records.push({ topic: TYPED, offset: 2 * i + 1, key: `k-${i}`, value });
      hostile.set(`${TYPED}:${2 * i + 1}`, { topic: TYPED, column, value });
    });
    HOSTILE_PAYMENTS.forEach(([column, value], i) => {
      records.push({ topic: PAYMENTS, offset: i, key: `p-${i}`, value });
      hostile.set(`${PAYMENTS}:${i}`, { topic: PAYMENTS, column, value });
    });

    // Act: the forwarder; then the forwarded documents, and the values it set aside as they are (the value's fields
    // as the document, no metadata), into the tables.
    const { result, sent, deadLetters } = await forward(stack.forwarderEnv, records);
    const set = [...hostile.values()];
    const raw = (topic: string) => set.filter((h) => h.topic === topic).map((h) => h.value);
    const out = await land([
      { ...stack.table('all_types'), documents: sent.map((s) => s.data) },
      { ...stack.table('all_types'), name: 'all_types_refused', documents: raw(TYPED) },
      { ...stack.table('payment_events'), name: 'payment_events_refused', documents: raw(PAYMENTS) },
    ]);

    // Assess: exactly the hostile records are dead letters, each for its column (stage schema).
    expect(result).toMatchObject({ recordsIn: records.length, forwarded: HOSTILE.length, deadLettered: hostile.size, unexpectedRecordErrors: 0 });
    expect(deadLetters.map((d) => `${d.topic}:${d.offset}`).sort()).toEqual([...hostile.keys()].sort());
    for (const d of deadLetters) {
      const h = hostile.get(`${d.topic}:${d.offset}`)!;
      // A lone surrogate is refused by the forwarder's JSON reader already (stage convert), before any column.
      const surrogate = h.value.includes('\\ud800');
      expect({ stage: d.stage, value: Buffer.from(d.value!, 'base64').toString('utf8') }).toEqual({ stage: surrogate ? 'convert' : 'schema', value: h.value });
      expect(d.reason).toContain(surrogate ? 'surrogate' : `column "${h.column}"`);
    }
    // Every document forwarded is accepted; every value set aside is refused by Iceberg, on the same column.
    const [forwarded, typedRefused, paymentsRefused] = out.tables;
    expect(forwarded.verdicts.filter((v) => !v.accepted)).toEqual([]);
    expect(forwarded.rows).toHaveLength(HOSTILE.length);
    const verdicts = [...typedRefused.verdicts.map((v) => ({ v, h: set.filter((x) => x.topic === TYPED)[v.index] })),
      ...paymentsRefused.verdicts.map((v) => ({ v, h: set.filter((x) => x.topic === PAYMENTS)[v.index] }))];
    expect(verdicts.map(({ v, h }) => ({ value: h.value, accepted: v.accepted, column: v.accepted ? undefined : v.column })))
      .toEqual(set.map((h) => ({ value: h.value, accepted: false, column: h.column })));
  });

  it(`agrees with Iceberg on ${RUNS} documents generated near the type limits: forwarded ones are accepted, dead-lettered ones refused`, async () => {
    // Prepare: values near each type's limits, valid and not, in the forms producers use (fixed seed).
    const values = fc.sample(nearLimitValue, { numRuns: RUNS, seed: SEED });
    for (const v of values) JSON.parse(v); // the values are JSON: what is judged is their fields
    const records = values.map((value, i): RecordSpec => ({ topic: TYPED, partition: i % 4, offset: i, key: `k-${i % 97}`, value }));

    // Act
    const { result, sent, deadLetters } = await forward(stack.forwarderEnv, records);
    const letters = new Map(deadLetters.map((d) => [Number(d.offset), d]));
    const refusedOffsets = [...letters.keys()];
    const out = await land([
      { ...stack.table('all_types'), documents: sent.map((s) => s.data) },
      { ...stack.table('all_types'), name: 'all_types_refused', documents: refusedOffsets.map((o) => values[o]) },
    ]);

    // Assess: every record is forwarded or dead-lettered (for a column), none for an error no check foresaw ...
    expect(result.forwarded + result.deadLettered).toBe(RUNS);
    expect(result.unexpectedRecordErrors).toBe(0);
    expect(deadLetters.filter((d) => d.stage !== 'schema' && !(d.stage === 'convert' && d.reason.includes('surrogate')))).toEqual([]);
    // ... both verdicts are well represented ...
    expect(Math.min(result.forwarded, result.deadLettered)).toBeGreaterThan(RUNS / 5);
    // ... Iceberg accepts every document the forwarder forwarded ...
    const [forwarded, refused] = out.tables;
    const offsetOf = (i: number) => (JSON.parse(sent[i].data) as { _kafka_offset: number })._kafka_offset;
    const forwardedButRefused = forwarded.verdicts.filter((v) => !v.accepted)
      .map((v) => `value ${values[offsetOf(v.index)]} → document ${sent[v.index].data}: ${v.accepted ? '' : `${v.column}: ${v.reason}`}`);
    expect(forwardedButRefused, listed(forwardedButRefused)).toEqual([]);
    expect(forwarded.rows).toHaveLength(result.forwarded);
    // ... and refuses every value the forwarder dead-lettered.
    const deadLetteredButAccepted = refused.verdicts.filter((v) => v.accepted)
      .map((v) => `value ${values[refusedOffsets[v.index]]}: forwarder: ${letters.get(refusedOffsets[v.index])!.reason}`);
    expect(deadLetteredButAccepted, listed(deadLetteredButAccepted)).toEqual([]);
  });
});
