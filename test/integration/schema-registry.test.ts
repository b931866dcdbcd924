/**
 * Schema-registry decoding proved against real servers (the unit tests in test/lambdas/registry/decode.test.ts use a
 * map of schemas): one Apicurio Registry (Confluent-compatible API) and one moto (AWS Glue Schema Registry, IAM
 * enforced) for the file, the shared Kafka broker and versitygw from test/support/global-setup.ts.
 *
 * 1. Confluent: values and keys made by the registry's own serializers (@confluentinc/schemaregistry) go through the
 *    real broker and the local runner (a child process, as users run it) into versitygw as jsonl: Avro v1, Avro v2
 *    (evolved under BACKWARD), Protobuf (two message types of one file) and JSON Schema on topics of their own, Avro
 *    keys (SCHEMA_REGISTRY_ATTRIBUTES=key,value), one value that is not framed and one framed with a schema ID the
 *    registry does not have. The registry sits behind a proxy that answers 500 until the runner has failed a batch
 *    (RegistryUnavailableError, nothing written); then the runner's retry writes everything exactly once.
 * 2. AWS Glue: Avro (two versions, plain and zlib), JSON (plain and zlib) and Protobuf values in the Glue wire format,
 *    through the sink handler into versitygw, schemas read from moto's Glue with the admin's credentials from the
 *    environment; a value framed with an unknown schema version ID, and one of another registry's schema, are dead
 *    letters. Glue is behind the same kind of proxy: the batch fails with RegistryUnavailableError and writes nothing;
 *    once Glue answers, the same batch is written, and a third delivery writes nothing again.
 * Every jsonl object is read twice: JSON.parse (exact integers) and Python's json (test/readers/read_object.py).
 * A server that cannot start fails the file in CI (CI set) and skips it locally with the reason.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { Producer, ProduceAcks } from '@platformatic/kafka';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { RegistryDecoder, RegistryUnavailableError } from '../../lambdas/shared/registry/index.ts';
import { createSinkHandler } from '../../lambdas/sink/app.ts';
import { type ApicurioRegistry, CCOMPAT_PATH, startApicurioOrSkipReason } from '../support/apicurio.ts';
import { kafkaEvent } from '../support/events.ts';
import { startFaultProxy } from '../support/fault-proxy.ts';
import {
  createGlueRegistry,
  createGlueSchema,
  glueAvroValue,
  glueClient,
  glueJsonValue,
  glueProtobufValue,
  registerGlueSchemaVersion,
} from '../support/glue-registry.ts';
import { describeKafka } from '../support/kafka-context.ts';
import { createTopic } from '../support/kafka.ts';
import { type MotoServer, startMotoOrSkipReason } from '../support/moto.ts';
import { parseJsonExact, readObject } from '../support/readers.ts';
import {
  avroProducer,
  jsonSchemaProducer,
  ORDER_AVRO_V1,
  ORDER_AVRO_V2,
  ORDER_JSON_SCHEMA,
  ORDER_PROTO_MESSAGE,
  orderAvroValue,
  orderJsonValue,
  orderProto,
  orderProtoValue,
  protobufProducer,
} from '../support/registry-values.ts';
import { describeS3, type ProvidedS3 } from '../support/s3-context.ts';
import { createBucket, s3ClientFor } from '../support/versitygw.ts';

// One of each registry for the file, started together; a server that cannot start fails the file in CI, skips locally.
const [apicurioStarted, motoStarted] = await Promise.allSettled([startApicurioOrSkipReason(), startMotoOrSkipReason()]);
if (apicurioStarted.status === 'rejected' || motoStarted.status === 'rejected') {
  for (const s of [apicurioStarted, motoStarted]) if (s.status === 'fulfilled' && typeof s.value !== 'string') await s.value.stop();
  throw apicurioStarted.status === 'rejected' ? apicurioStarted.reason : (motoStarted as PromiseRejectedResult).reason;
}
const apicurio: ApicurioRegistry | undefined = typeof apicurioStarted.value === 'string' ? undefined : apicurioStarted.value;
const moto: MotoServer | undefined = typeof motoStarted.value === 'string' ? undefined : motoStarted.value;
const skipped = (v: unknown): string => (typeof v === 'string' ? ` (skipped: ${v.split('\n')[0]})` : '');

afterAll(async () => {
  vi.unstubAllEnvs();
  await Promise.all([apicurio?.stop(), moto?.stop()]);
});

const ROOT = new URL('../../', import.meta.url).pathname;
const context = { functionName: 'sink', awsRequestId: 'req-registry' } as never;

type Row = Record<string, unknown>;

interface Landed {
  key: string;
  /** The object's S3 metadata. */
  metadata: Record<string, string>;
  /** The object's lines as text (exact integers are checked in the text too). */
  text: string[];
  /** The lines parsed with exact integers (BigInt beyond 2^53). */
  rows: Row[];
}

async function listKeys(client: S3Client, bucket: string, prefix = ''): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const r = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    keys.push(...(r.Contents ?? []).map((o) => o.Key!));
    token = r.NextContinuationToken;
  } while (token);
  return keys.sort();
}

async function land(client: S3Client, bucket: string, key: string): Promise<Landed> {
  const [head, body] = await Promise.all([
    client.send(new HeadObjectCommand({ Bucket: bucket, Key: key })),
    client.send(new GetObjectCommand({ Bucket: bucket, Key: key })).then((r) => r.Body!.transformToString()),
  ]);
  const text = body.trimEnd().split('\n');
  return { key, metadata: head.Metadata ?? {}, text, rows: text.map((l) => parseJsonExact(l) as Row) };
}

/** The data objects under topics/<topic>/, in offset order (the key ends in +<start offset>.jsonl). */
async function landedObjects(client: S3Client, bucket: string, topic: string): Promise<Landed[]> {
  const keys = await listKeys(client, bucket, `topics/${topic}/`);
  const objects = await Promise.all(keys.map((k) => land(client, bucket, k)));
  const start = (o: Landed) => o.key.replace(/^.*\+(\d+)\.jsonl$/, '$1');
  return objects.sort((a, b) => start(a).localeCompare(start(b)) || a.key.localeCompare(b.key));
}

/** The independent reader (Python's json, exact integers) sees the same rows as JSON.parse. */
async function expectSameRowsInPython(s3: ProvidedS3, bucket: string, objects: Landed[]): Promise<void> {
  for (const o of objects) {
    const doc = (await readObject(s3, bucket, o.key, 'jsonl', 'none')) as { rows: Row[] };
    expect(doc.rows, o.key).toEqual(o.rows);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// What the sink should make of the example values (test/support/registry-values.ts): their JSON, exact.

function decimalText(unscaled: bigint, scale: number): string {
  const neg = unscaled < 0n;
  const digits = (neg ? -unscaled : unscaled).toString().padStart(scale + 1, '0');
  return `${neg ? '-' : ''}${digits.slice(0, -scale)}.${digits.slice(-scale)}`;
}

/** Order i of ORDER_AVRO_V1 (or V2 with `channel`) as JSON: longs exact, logical types as ISO text, decimal a number. */
function avroOrderJson(i: number, channel?: string): Row {
  const v = orderAvroValue(i) as { customer: Row; tags: Row; status: string; order_uuid: string; total: number };
  const micros = 1_700_000_000_123_456n + BigInt(i);
  return {
    id: 2n ** 60n + BigInt(i),
    customer: v.customer,
    lines: Array.from({ length: (i % 3) + 1 }, (_, j) => ({ sku: `SKU-${i}-${j}`, quantity: j + 1, unit_price: Number(avroUnitPrice(i, j)) })),
    tags: v.tags,
    counters: { big: 9007199254740993n + BigInt(i), negative: -(2n ** 62n) },
    status: v.status,
    note: i % 3 === 0 ? null : i % 3 === 1 ? `note ${i}` : { message: `gift ${i}`, wrap: i % 2 === 0 },
    placed_at: new Date(1_700_000_000_123 + i).toISOString(),
    updated_at: `${new Date(Number(micros / 1000n)).toISOString().slice(0, 23)}${String(micros % 1000n).padStart(3, '0')}Z`,
    ship_date: new Date((19_700 + i) * 86_400_000).toISOString().slice(0, 10),
    order_uuid: v.order_uuid,
    total: v.total,
    ...(channel === undefined ? {} : { channel }),
  };
}

/** Line j of Avro order i: unit_price as decimal text (scale 2), as the sink writes it. */
function avroUnitPrice(i: number, j: number): string {
  return decimalText(BigInt(1999 + j * 100 - (i % 2) * 5000), 2);
}

/** Order i of ORDER_PROTO_TEXT as JSON: every field (defaults and nulls), enum names, 64-bit exact, Timestamp as RFC 3339. */
function protoOrderJson(i: number): Row {
  return {
    id: 2n ** 62n + BigInt(i),
    sequence: 2n ** 64n - 1n - BigInt(i),
    status: i % 2 ? 'SHIPPED' : 'PLACED',
    customer: { name: `Customer ${i}`, address: { city: 'Zürich', zip: '8001' } },
    lines: Array.from({ length: (i % 3) + 1 }, (_, j) => ({ sku: `SKU-${i}-${j}`, quantity: j + 1, price_micros: 19_990_000 + j })),
    attributes: { source: 'test', idx: String(i) },
    card_token: i % 2 ? `tok_${i}` : null,
    iban: i % 2 ? null : 'CH9300762011623852957',
    placed_at: `${new Date((1_700_000_000 + i) * 1000).toISOString().slice(0, 19)}.123000000Z`,
    scores: [1, -2, 300_000 + i],
    blob: Buffer.from([0, 255, i & 0xff]).toString('base64'),
    coupon: i % 2 ? `SAVE${i}` : null,
    delta: -(2n ** 62n) - BigInt(i),
    checksum: 2n ** 64n - 2n,
    total: 99.5 + i,
    gift: i % 2 === 0,
  };
}

/** Checks one jsonl line's envelope and returns its value. */
function lineOf(o: Landed, n: number, topic: string, offset: number, key: string | null): Row {
  const row = o.rows[n];
  expect(row, `${o.key} line ${n}`).toMatchObject({ topic, partition: expect.any(Number), offset, key, headers: [] });
  return row.value as Row;
}

/** An Avro record key: customer_id beyond 2^53 (keys are decoded to their JSON text). */
const ORDER_KEY_AVRO = {
  type: 'record',
  name: 'OrderKey',
  namespace: 'com.example.kafkas3',
  fields: [{ name: 'customer_id', type: 'long' }, { name: 'region', type: 'string' }],
};

// ---------------------------------------------------------------------------------------------------------------

describeKafka('schema registry (Confluent API) through Kafka and the runner', ({ bootstrap }) => {
  describeS3('into versitygw', (s3) => {
    describe.skipIf(!apicurio)(`Apicurio Registry${skipped(apicurioStarted.value)}`, () => {
      it('decodes Avro v1/v2, Protobuf and JSON Schema values and Avro keys exactly once, after the registry comes back', async () => {
        // Prepare: a topic per schema type, schemas registered, values and keys made by the registry's serializers.
        const url = apicurio!.url;
        const run = randomUUID().slice(0, 8);
        const topics = { avro: `sr-avro-${run}`, proto: `sr-proto-${run}`, json: `sr-json-${run}` };
        const bucket = `sr-confluent-${run}`;
        const [avroV1, keySchema, proto, json] = await Promise.all([
          avroProducer(url, topics.avro, ORDER_AVRO_V1),
          avroProducer(url, topics.avro, ORDER_KEY_AVRO, { kind: 'key' }),
          protobufProducer(url, topics.proto, orderProto(), ORDER_PROTO_MESSAGE),
          jsonSchemaProducer(url, topics.json, ORDER_JSON_SCHEMA),
          ...Object.values(topics).map((t) => createTopic(bootstrap, t, 1)),
          createBucket(s3, bucket),
        ]);
        // v2 after v1: the registry checks it against v1 (BACKWARD) and gives it a new ID.
        const avroV2 = await avroProducer(url, topics.avro, ORDER_AVRO_V2);
        expect(avroV2.version).toBe(2);
        expect(avroV2.id).not.toBe(avroV1.id);
        // Order.Customer.Address: the same schema (ID), message indexes [1, 1, 0].
        const address = await protobufProducer(url, topics.proto, orderProto(), 'kafkas3.test.Order.Customer.Address');
        expect(address.id).toBe(proto.id);

        const orderKey = (i: number) => ({ customer_id: 2n ** 63n - 1n - BigInt(i), region: `eu-${i}` });
        const keyJson = (i: number) => `{"customer_id":${2n ** 63n - 1n - BigInt(i)},"region":"eu-${i}"}`;
        const keys = await Promise.all([0, 1, 2, 3, 4, 5, 6].map((i) => keySchema.serialize(orderKey(i))));
        const notFramed = Buffer.from('{"id":5,"note":"plain JSON, no schema-registry framing"}');
        const unknownId = 987_654;
        const unknownSchema = Buffer.from(await avroV1.serialize(orderAvroValue(6)));
        unknownSchema.writeInt32BE(unknownId, 1); // framed, but with an ID the registry does not have
        const avroValues = [
          ...(await Promise.all([0, 1, 2].map((i) => avroV1.serialize(orderAvroValue(i))))),
          await avroV2.serialize({ ...orderAvroValue(3), channel: 'app' }),
          await avroV2.serialize({ ...orderAvroValue(4), channel: 'store' }),
          notFramed,
          unknownSchema,
        ];
        const protoValues = [await proto.serialize(orderProtoValue(0)), await proto.serialize(orderProtoValue(1)), await address.serialize({ city: 'Bern', zip: '3000' })];
        const jsonValues = await Promise.all([0, 1].map((i) => json.serialize(orderJsonValue(i))));
        const producer = new Producer({ clientId: 'schema-registry-test', bootstrapBrokers: [bootstrap], acks: ProduceAcks.ALL });
        try {
          await producer.send({
            messages: [
              ...avroValues.map((value, i) => ({ topic: topics.avro, partition: 0, key: keys[i], value })),
              ...protoValues.map((value) => ({ topic: topics.proto, partition: 0, value })),
              ...jsonValues.map((value) => ({ topic: topics.json, partition: 0, value })),
            ],
          });
        } finally {
          await producer.close();
        }
        const total = avroValues.length + protoValues.length + jsonValues.length;

        // The registry behind a proxy that answers 500 to everything until the runner has failed a batch.
        const proxy = await startFaultProxy({ target: url.slice(0, -CCOMPAT_PATH.length), faultRate: 1, faults: ['error500'] });
        const client = s3ClientFor(s3);
        let child: ChildProcess | undefined;
        try {
          // Act
          const proc = spawn(process.execPath, [
            'bin/runner.ts', '--brokers', bootstrap, '--topics', Object.values(topics).join(','), '--group', `g-${run}`,
            '--bucket', bucket, '--s3-endpoint', s3.endpoint, '--stop-after', String(total),
          ], {
            cwd: ROOT,
            stdio: ['ignore', 'pipe', 'pipe'],
            env: {
              ...process.env,
              AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey, AWS_REGION: s3.region,
              // No time in the keys: objects are cut by schema only, whatever the produce time.
              FORMAT: 'jsonl', COMPRESSION: 'none', KEY_TEMPLATE: '{{topic}}/{{topic}}+{{partition}}+{{start_offset}}',
              SCHEMA_REGISTRY: `${proxy.endpoint}${CCOMPAT_PATH}`, SCHEMA_REGISTRY_ATTRIBUTES: 'key,value',
            },
          });
          let stdout = '';
          let stderr = '';
          child = proc;
          proc.stdout.on('data', (d) => (stdout += d));
          proc.stderr.on('data', (d) => (stderr += d));
          const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
          const failedBatch = /^batch of \d+ records failed \(attempt 1\): RegistryUnavailableError: schema registry .* did not answer GET \/schemas\/ids\/\d+: HTTP 500/m;
          const deadline = Date.now() + 20_000;
          while (!failedBatch.test(stderr) && proc.exitCode === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
          expect(stderr, stdout).toMatch(failedBatch);
          // The batch failed before writing anything (every retry fails the same way while the proxy answers 500).
          expect(await listKeys(client, bucket)).toEqual([]);
          proxy.setFaultRate(0);
          const code = await Promise.race([exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 25_000).unref())]);

          // Assess: the run
          expect(code, stderr).toBe(0);
          expect(stdout).toMatch(/\n\s+written\s+10\n/);
          expect(stdout).toMatch(/\n\s+dead-lettered\s+2\n/);
          expect(stdout).toMatch(new RegExp(`\\n\\s+committed\\s+${total}\\n`));

          // Avro: v1 (offsets 0-2) and v2 (3-4) in objects of their own, each naming its value and key schema IDs.
          const avro = await landedObjects(client, bucket, topics.avro);
          expect(avro.map((o) => o.metadata['registry-schema-id'])).toEqual([String(avroV1.id), String(avroV2.id)]);
          expect(avro.map((o) => o.rows.map((r) => r.offset))).toEqual([[0, 1, 2], [3, 4]]);
          for (const [n, i] of [0, 1, 2].entries()) {
            expect(lineOf(avro[0], n, topics.avro, i, keyJson(i))).toEqual(avroOrderJson(i));
            // Exact in the text itself: longs beyond 2^53 and the decimal.
            expect(avro[0].text[n]).toContain(`"id":${2n ** 60n + BigInt(i)},`);
            expect(avro[0].text[n]).toContain(`"counters":{"big":${9007199254740993n + BigInt(i)},"negative":-4611686018427387904}`);
            expect(avro[0].text[n]).toContain(`"unit_price":${avroUnitPrice(i, 0)}}`);
            expect(avro[0].text[n]).toContain(`"key":${JSON.stringify(keyJson(i))}`);
          }
          expect(avro[0].text[1]).toContain('"unit_price":-30.01'); // negative decimal
          expect(lineOf(avro[1], 0, topics.avro, 3, keyJson(3))).toEqual(avroOrderJson(3, 'app'));
          expect(lineOf(avro[1], 1, topics.avro, 4, keyJson(4))).toEqual(avroOrderJson(4, 'store'));

          // Protobuf: Order ([1]) and Order.Customer.Address ([1, 1, 0]) cut into two objects; no keys (null).
          const pb = await landedObjects(client, bucket, topics.proto);
          expect(pb.map((o) => o.metadata['registry-schema-id'])).toEqual([`${proto.id}:1`, `${proto.id}:1.1.0`]);
          expect(lineOf(pb[0], 0, topics.proto, 0, null)).toEqual(protoOrderJson(0));
          expect(lineOf(pb[0], 1, topics.proto, 1, null)).toEqual(protoOrderJson(1));
          expect(pb[0].text[0]).toContain(`"id":${2n ** 62n},"sequence":${2n ** 64n - 1n},"status":"PLACED"`);
          expect(pb[0].text[1]).toContain(`"delta":${-(2n ** 62n) - 1n},"checksum":${2n ** 64n - 2n}`);
          expect(lineOf(pb[1], 0, topics.proto, 2, null)).toEqual({ city: 'Bern', zip: '3000' });

          // JSON Schema: the value's JSON as the serializer wrote it.
          const js = await landedObjects(client, bucket, topics.json);
          expect(js.map((o) => o.metadata['registry-schema-id'])).toEqual([String(json.id)]);
          expect(js[0].rows.map((r, n) => lineOf(js[0], n, topics.json, n, null))).toEqual([orderJsonValue(0), orderJsonValue(1)]);

          // Every good record once, nothing else under topics/.
          const landed = [...avro, ...pb, ...js].flatMap((o) => o.rows.map((r) => `${String(r.topic)}@${String(r.offset)}`));
          expect(landed.sort()).toEqual([
            ...[0, 1, 2, 3, 4].map((o) => `${topics.avro}@${o}`), ...[0, 1, 2].map((o) => `${topics.proto}@${o}`), ...[0, 1].map((o) => `${topics.json}@${o}`),
          ].sort());
          expect(await listKeys(client, bucket, 'topics/')).toHaveLength(avro.length + pb.length + js.length);

          // Dead letters: the original key and value bytes, and why.
          const letterKeys = await listKeys(client, bucket, 'dead-letters/');
          expect(letterKeys).toHaveLength(1);
          const letters = (await land(client, bucket, letterKeys[0])).rows;
          expect(letters.map((l) => [l.topic, l.offset, l.stage])).toEqual([[topics.avro, '5', 'decode'], [topics.avro, '6', 'decode']]);
          expect(Buffer.from(String(letters[0].value), 'base64')).toEqual(notFramed);
          expect(Buffer.from(String(letters[1].value), 'base64')).toEqual(unknownSchema);
          expect(Buffer.from(String(letters[0].key), 'base64')).toEqual(Buffer.from(keys[5]));
          expect(Buffer.from(String(letters[1].key), 'base64')).toEqual(Buffer.from(keys[6]));
          expect(letters[0].reason).toMatch(/^value is not framed for the schema registry: first byte 0x7b, expected the magic byte 0x00/);
          expect(letters[1].reason).toMatch(new RegExp(`names schema ${unknownId}, but the schema registry .* does not have it \\(40403: `));

          // An independent reader sees the same lines.
          await expectSameRowsInPython(s3, bucket, [...avro, ...pb, ...js]);
        } finally {
          // A runner left running by a failed assertion would retry its batch for ever.
          if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
          await proxy.stop();
        }
      }, 60_000);
    });
  });
});

describeKafka('schema registry (Confluent API) through Kafka and the runner into columns', ({ bootstrap }) => {
  describeS3('into versitygw', (s3) => {
    describe.skipIf(!apicurio)(`Apicurio Registry${skipped(apicurioStarted.value)}`, () => {
      it('parquet and avro: the registry\'s nested types as pyarrow and fastavro read them, a new version in an object with its new column', async () => {
        const url = apicurio!.url;
        const run = randomUUID().slice(0, 8);
        const topic = `sr-cols-${run}`;
        const [v1] = await Promise.all([avroProducer(url, topic, ORDER_AVRO_V1), createTopic(bootstrap, topic, 1)]);
        const v2 = await avroProducer(url, topic, ORDER_AVRO_V2);
        const values = [
          await v1.serialize(orderAvroValue(0)), await v1.serialize(orderAvroValue(1)),
          await v2.serialize({ ...orderAvroValue(2), channel: 'app' }),
        ];
        const producer = new Producer({ clientId: 'schema-registry-columns', bootstrapBrokers: [bootstrap], acks: ProduceAcks.ALL });
        try {
          await producer.send({ messages: values.map((value) => ({ topic, partition: 0, value })) });
        } finally {
          await producer.close();
        }
        for (const format of ['parquet', 'avro'] as const) {
          const bucket = `sr-cols-${format}-${run}`;
          await createBucket(s3, bucket);
          const proc = spawn(process.execPath, [
            'bin/runner.ts', '--brokers', bootstrap, '--topics', topic, '--group', `g-${format}-${run}`,
            '--bucket', bucket, '--s3-endpoint', s3.endpoint, '--stop-after', String(values.length),
          ], {
            cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'],
            env: {
              ...process.env, AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey, AWS_REGION: s3.region,
              FORMAT: format, KEY_TEMPLATE: '{{topic}}/{{topic}}+{{partition}}+{{start_offset}}', SCHEMA_REGISTRY: url, FIELDS: 'value,offset',
            },
          });
          let stderr = '';
          proc.stderr.on('data', (d) => (stderr += d));
          const code = await new Promise<number | null>((resolve) => proc.once('exit', resolve));
          expect(code, stderr).toBe(0);
          const keys = await listKeys(s3ClientFor(s3), bucket, 'topics/');
          expect(keys).toHaveLength(2); // v1 (offsets 0-1), v2 (offset 2)
          const [a, b] = (await Promise.all(keys.map((k) => readObject(s3, bucket, k, format)))) as { rows: Row[]; schema: unknown }[];
          expect(a.rows.map((r) => r._kafka_offset)).toEqual([0, 1]);
          expect(a.rows.every((r) => !('channel' in r))).toBe(true);
          expect(b.rows.map((r) => r.channel)).toEqual(['app']);
          const expected = avroOrderJson(0);
          expect(a.rows[0].id).toEqual(expected.id);
          if (format === 'parquet') {
            const types = Object.fromEntries((a.schema as { name: string; type: string }[]).map((f) => [f.name, f.type]));
            expect(types.customer).toMatch(/^struct<name: string not null, email: string, address: struct<street: string not null, city: string not null, zip: string>/);
            expect(types.lines).toMatch(/^list<element: struct<sku: string not null, quantity: int32 not null, unit_price: decimal128\(12, 2\) not null/);
            expect(types.counters).toMatch(/^map<string, int64/);
            expect(types.placed_at).toBe('timestamp[ms, tz=UTC]');
            expect(types.note).toMatch(/^struct<member0: string, member1: struct<message: string not null, wrap: bool not null>>$/);
          } else {
            const fields = (a.schema as { fields: { name: string; type: unknown }[] }).fields;
            expect(JSON.stringify(fields.find((f) => f.name === 'lines')!.type)).toContain('"logicalType":"decimal","precision":12,"scale":2');
            expect(a.rows[0].customer).toEqual(expected.customer);
          }
        }
      }, 60_000);
    });
  });
});

describeS3('schema registry (AWS Glue in moto) through the sink handler', (s3) => {
  describe.skipIf(!moto)(`moto Glue Schema Registry${skipped(motoStarted.value)}`, () => {
    it('decodes Avro (two versions, plain and zlib), JSON and Protobuf; fails the batch while Glue is down; writes it once after', async () => {
      // Prepare: a registry with an Avro schema of two versions, a JSON schema and a Protobuf schema.
      const m = moto!;
      const run = randomUUID().slice(0, 8);
      const bucket = `sr-glue-${run}`;
      const glue = glueClient(m);
      const { registryName, registryArn } = await createGlueRegistry(glue, `orders-${run}`);
      const [avroV1, jsonV, protoV] = await Promise.all([
        createGlueSchema(glue, { registryName, schemaName: 'orders-avro', dataFormat: 'AVRO', definition: ORDER_AVRO_V1 }),
        createGlueSchema(glue, { registryName, schemaName: 'orders-json', dataFormat: 'JSON', definition: ORDER_JSON_SCHEMA }),
        createGlueSchema(glue, { registryName, schemaName: 'orders-proto', dataFormat: 'PROTOBUF', definition: orderProto().text }),
        createBucket(s3, bucket),
      ]);
      const avroV2 = await registerGlueSchemaVersion(glue, avroV1, ORDER_AVRO_V2);
      // A schema version of another registry: Glue answers for it, but the sink reads only the configured registry.
      const other = await createGlueRegistry(glue, `other-${run}`);
      const foreignV = await createGlueSchema(glue, { registryName: other.registryName, schemaName: 'orders-avro', dataFormat: 'AVRO', definition: ORDER_AVRO_V1 });
      glue.destroy();
      const file = orderProto();
      const unknownVersion = randomUUID();
      const unknown = glueAvroValue({ versionId: unknownVersion, definition: avroV1.definition }, orderAvroValue(4));
      const foreign = glueAvroValue(foreignV, orderAvroValue(5));
      const bigJson = '{"id":9223372036854775807,"status":"PLACED","tags":{"n":"-9223372036854775808"}}';
      const topic = `glue-orders-${run}`;
      const p0 = [
        glueAvroValue(avroV1, orderAvroValue(0)),
        glueAvroValue(avroV1, orderAvroValue(1), 'zlib'),
        glueAvroValue(avroV2, { ...orderAvroValue(2), channel: 'app' }),
        glueAvroValue(avroV2, { ...orderAvroValue(3), channel: 'store' }, 'zlib'),
        unknown,
        foreign,
      ];
      const p1 = [
        glueJsonValue(jsonV.versionId, orderJsonValue(2)),
        glueJsonValue(jsonV.versionId, { text: bigJson }, 'zlib'),
        glueProtobufValue(protoV.versionId, file, ORDER_PROTO_MESSAGE, orderProtoValue(5)),
        glueProtobufValue(protoV.versionId, file, ORDER_PROTO_MESSAGE, orderProtoValue(6), 'zlib'),
        glueProtobufValue(protoV.versionId, file, 'kafkas3.test.Order.Customer.Address', { city: 'Bern', zip: '3000' }),
      ];
      const event = kafkaEvent([
        ...p0.map((value, offset) => ({ topic, partition: 0, offset, key: `k0-${offset}`, value })),
        ...p1.map((value, offset) => ({ topic, partition: 1, offset, key: `k1-${offset}`, value })),
      ]);

      // The function's credentials (the admin: moto authorizes Glue against Resource "*" only) from the environment.
      vi.stubEnv('AWS_ACCESS_KEY_ID', m.admin.accessKeyId);
      vi.stubEnv('AWS_SECRET_ACCESS_KEY', m.admin.secretAccessKey);
      vi.stubEnv('AWS_SESSION_TOKEN', '');
      vi.stubEnv('AWS_REGION', m.region);
      // Glue behind a proxy that answers 500 until it is switched off.
      const proxy = await startFaultProxy({ target: m.endpoint, faultRate: 1, faults: ['error500'] });
      const client = s3ClientFor(s3);
      try {
        const handler = createSinkHandler({
          env: {
            BUCKET_NAME: bucket, S3_ENDPOINT: s3.endpoint, FORMAT: 'jsonl', COMPRESSION: 'none', KEY_TEMPLATE: '{{topic}}/{{topic}}+{{partition}}+{{start_offset}}',
            SCHEMA_REGISTRY: registryArn, GLUE_ENDPOINT: proxy.endpoint,
          },
          s3: client,
        });

        // Act 1: Glue does not answer.
        const down = await handler(event, context).then(() => undefined, (err: unknown) => err);

        // Assess 1: the batch failed for a retry, and nothing is in the bucket.
        expect(down).toBeInstanceOf(RegistryUnavailableError);
        expect((down as Error).message).toMatch(/AWS Glue Schema Registry did not answer GetSchemaVersion/);
        expect(await listKeys(client, bucket)).toEqual([]);

        // Act 2: Glue answers; the same batch.
        proxy.setFaultRate(0);
        const result = await handler(event, context);

        // Assess 2
        expect(result).toMatchObject({ recordsIn: 11, written: 9, deadLettered: 2, alreadyWritten: 0 });
        const objects = await landedObjects(client, bucket, topic);
        const byPartition = (p: number) => objects.filter((o) => o.rows[0].partition === p);
        // Partition 0: Avro v1 (plain and zlib) and v2 in objects of their own.
        const a = byPartition(0);
        expect(a.map((o) => o.metadata['registry-schema-id'])).toEqual([avroV1.versionId, avroV2.versionId]);
        expect(a.map((o) => o.rows.map((r) => r.offset))).toEqual([[0, 1], [2, 3]]);
        expect(lineOf(a[0], 0, topic, 0, 'k0-0')).toEqual(avroOrderJson(0));
        expect(lineOf(a[0], 1, topic, 1, 'k0-1')).toEqual(avroOrderJson(1));
        expect(lineOf(a[1], 0, topic, 2, 'k0-2')).toEqual(avroOrderJson(2, 'app'));
        expect(lineOf(a[1], 1, topic, 3, 'k0-3')).toEqual(avroOrderJson(3, 'store'));
        expect(a[0].text[1]).toContain(`"id":${2n ** 60n + 1n},`);
        // Partition 1: JSON, Protobuf Order (Glue message index 1), Order.Customer.Address (index 4).
        const b = byPartition(1);
        expect(b.map((o) => o.metadata['registry-schema-id'])).toEqual([jsonV.versionId, `${protoV.versionId}:1`, `${protoV.versionId}:4`]);
        expect(b.map((o) => o.rows.map((r) => r.offset))).toEqual([[0, 1], [2, 3], [4]]);
        expect(lineOf(b[0], 0, topic, 0, 'k1-0')).toEqual(orderJsonValue(2));
        expect(lineOf(b[0], 1, topic, 1, 'k1-1')).toEqual({ id: 2n ** 63n - 1n, status: 'PLACED', tags: { n: '-9223372036854775808' } });
        expect(b[0].text[1]).toContain(`"value":${bigJson}`);
        expect(lineOf(b[1], 0, topic, 2, 'k1-2')).toEqual(protoOrderJson(5));
        expect(lineOf(b[1], 1, topic, 3, 'k1-3')).toEqual(protoOrderJson(6));
        expect(b[1].text[0]).toContain(`"sequence":${2n ** 64n - 6n},`);
        expect(lineOf(b[2], 0, topic, 4, 'k1-4')).toEqual({ city: 'Bern', zip: '3000' });

        // The unknown version ID and the other registry's version: dead letters with the original bytes and the reason.
        const letterKeys = await listKeys(client, bucket, 'dead-letters/');
        expect(letterKeys).toHaveLength(1);
        const letters = (await land(client, bucket, letterKeys[0])).rows;
        expect(letters.map((l) => [l.topic, l.partition, l.offset, l.stage])).toEqual([[topic, 0, '4', 'decode'], [topic, 0, '5', 'decode']]);
        expect(Buffer.from(String(letters[0].value), 'base64')).toEqual(unknown);
        expect(Buffer.from(String(letters[1].value), 'base64')).toEqual(foreign);
        expect(Buffer.from(String(letters[0].key), 'base64').toString()).toBe('k0-4');
        expect(letters[0].reason).toContain(`names schema ${unknownVersion}, but the AWS Glue Schema Registry does not have that schema version`);
        expect(letters[1].reason).toContain(`names schema ${foreignV.versionId}, but that schema version belongs to ${foreignV.schemaArn}, not to the configured registry ${registryArn}`);

        await expectSameRowsInPython(s3, bucket, objects);

        // Act 3: the same batch delivered again writes nothing new.
        const before = await listKeys(client, bucket);
        const again = await handler(event, context);
        expect(again).toMatchObject({ recordsIn: 11, written: 0, deadLettered: 0, alreadyWritten: 11 });
        expect(await listKeys(client, bucket)).toEqual(before);
      } finally {
        await proxy.stop();
      }
    }, 60_000);
  });
});

describe('schema registry (Confluent API): what producers register besides plain schemas', () => {
  describe.skipIf(!apicurio)(`Apicurio Registry${skipped(apicurioStarted.value)}`, () => {
    /** Registers a schema under a subject through the Confluent-compatible REST API; returns its ID. */
    async function register(subject: string, body: Record<string, unknown>): Promise<number> {
      const res = await fetch(`${apicurio!.url}/subjects/${encodeURIComponent(subject)}/versions`, {
        method: 'POST', headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' }, body: JSON.stringify(body),
      });
      expect(res.status, await res.clone().text()).toBe(200);
      return ((await res.json()) as { id: number }).id;
    }

    it('an Avro schema that references a type of another subject, and a Protobuf schema registered as its descriptor, decode', async () => {
      const suffix = randomUUID().slice(0, 8);
      const address = { type: 'record', name: 'Address', namespace: 'com.acme', fields: [{ name: 'city', type: 'string' }, { name: 'zip', type: ['null', 'long'], default: null }] };
      await register(`address-${suffix}`, { schema: JSON.stringify(address) });
      const order = { type: 'record', name: 'Shipment', namespace: 'com.acme', fields: [{ name: 'id', type: 'long' }, { name: 'to', type: 'com.acme.Address' }] };
      const orderId = await register(`shipment-${suffix}-value`, { schema: JSON.stringify(order), references: [{ name: 'com.acme.Address', subject: `address-${suffix}`, version: 1 }] });
      // The payload as any Avro writer encodes it: id 2^60 (zigzag varint), city "Köln", zip branch 1 = 50667.
      const avsc = (await import('avsc')).default;
      const type = avsc.Type.forSchema({ ...order, fields: [{ name: 'id', type: 'long' }, { name: 'to', type: address }] } as never, { wrapUnions: true, registry: {} });
      const payload = type.toBuffer({ id: 2 ** 52, to: { city: 'Köln', zip: { long: 50667 } } });
      const avroValue = Buffer.concat([Buffer.from([0, 0, 0, 0, 0]), payload]);
      avroValue.writeInt32BE(orderId, 1);

      const proto = await protobufProducer(apicurio!.url, `desc-${suffix}`, orderProto(), ORDER_PROTO_MESSAGE, { register: 'descriptor' });
      const protoValue = await proto.serialize(orderProtoValue(1));

      const decoder = new RegistryDecoder({ location: apicurio!.url, kind: 'confluent', value: true, key: false });
      await decoder.prefetch([{ key: null, value: avroValue }, { key: null, value: protoValue }]);
      expect(decoder.decode(avroValue, 'value').json).toBe(`{"id":${2 ** 52},"to":{"city":"Köln","zip":50667}}`);
      const decoded = parseJsonExact(decoder.decode(protoValue, 'value').json) as Row;
      expect(Object.keys(decoded).length).toBeGreaterThan(3);
      const text = JSON.parse(JSON.stringify(orderProtoValue(1), (_k, v) => (typeof v === 'bigint' ? v.toString() : v))) as Row;
      for (const [k, v] of Object.entries(text)) if (typeof v === 'string') expect(String(decoded[k])).toBe(v);
    });
  });
});
