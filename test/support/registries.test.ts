/**
 * Test harness: real schema registries. Apicurio Registry's Confluent-compatible API with the Confluent client's own
 * serializers and deserializers (Avro, Protobuf, JSON Schema; schema evolution under BACKWARD), and moto's AWS Glue
 * Schema Registry answering for the schema version IDs that Glue-framed values carry.
 */
import { randomUUID } from 'node:crypto';
import { GetSchemaVersionCommand, type GlueClient } from '@aws-sdk/client-glue';
import { AvroDeserializer, ProtobufDeserializer, SerdeType, SubjectNameStrategyType } from '@confluentinc/schemaregistry';
import protobuf from 'protobufjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApicurioRegistry, startApicurioOrSkipReason } from './apicurio.ts';
import {
  createGlueRegistry,
  createGlueSchema,
  GLUE_COMPRESSION_ZLIB,
  glueAvroValue,
  glueClient,
  glueJsonValue,
  glueProtobufMessageIndex,
  glueProtobufValue,
  readGlueFrame,
  registerGlueSchemaVersion,
} from './glue-registry.ts';
import { type MotoServer, startMotoOrSkipReason } from './moto.ts';
import {
  AVRO_BIGINT_LONGS,
  avroProducer,
  avroType,
  jsonSchemaProducer,
  ORDER_AVRO_V1,
  ORDER_AVRO_V2,
  ORDER_JSON_SCHEMA,
  ORDER_PROTO_MESSAGE,
  ORDER_PROTO_TEXT,
  orderAvroValue,
  orderJsonValue,
  orderProto,
  orderProtoValue,
  protobufProducer,
  protoFile,
  readConfluentFrame,
  readMessageIndexes,
  registerSchema,
  registryClient,
  registryDeserializers,
  subjectFor,
} from './registry-values.ts';

// One of each server for the file, started together; a server that cannot start fails the file in CI, skips locally.
const [apicurioStarted, motoStarted] = await Promise.allSettled([startApicurioOrSkipReason(), startMotoOrSkipReason()]);
if (apicurioStarted.status === 'rejected' || motoStarted.status === 'rejected') {
  for (const s of [apicurioStarted, motoStarted]) if (s.status === 'fulfilled' && typeof s.value !== 'string') await s.value.stop();
  throw apicurioStarted.status === 'rejected' ? apicurioStarted.reason : (motoStarted as PromiseRejectedResult).reason;
}
const apicurio: ApicurioRegistry | undefined = typeof apicurioStarted.value === 'string' ? undefined : apicurioStarted.value;
const moto: MotoServer | undefined = typeof motoStarted.value === 'string' ? undefined : motoStarted.value;
const skipped = (v: unknown): string => (typeof v === 'string' ? ` (skipped: ${v.split('\n')[0]})` : '');

afterAll(async () => {
  await Promise.all([apicurio?.stop(), moto?.stop()]);
});

/** The protobufjs decoding of a message from .proto text: an independent reading of the bytes the serializer wrote. */
function decodeWithProtobufjs(text: string, typeName: string, bytes: Uint8Array): Record<string, unknown> {
  const { root } = protobuf.parse(text, { keepCase: true });
  root.addJSON((protobuf.common.get('google/protobuf/timestamp.proto') as protobuf.INamespace).nested!);
  const type = root.lookupType(typeName);
  return type.toObject(type.decode(bytes), { longs: String, enums: String, bytes: String, oneofs: true });
}

describe.skipIf(!apicurio)(`Apicurio Registry + @confluentinc/schemaregistry serializers${skipped(apicurioStarted.value)}`, () => {
  const url = apicurio?.url ?? '';
  const topic = (): string => `registry-${randomUUID().slice(0, 8)}`;

  it('serves the Confluent API with global compatibility BACKWARD', async () => {
    const res = await fetch(`${url}/config`);
    const body = (await res.json()) as { compatibility?: string; compatibilityLevel?: string };
    expect(body.compatibility ?? body.compatibilityLevel).toBe('BACKWARD');
  });

  it('Avro: nested records, logical types and longs beyond 2^53 round-trip; v2 evolves under BACKWARD, a breaking v3 is refused', async () => {
    const t = topic();
    const v1 = await avroProducer(url, t, ORDER_AVRO_V1);
    expect(v1).toMatchObject({ subject: `${t}-value`, version: 1, schemaType: 'AVRO' });
    const values = [0, 1, 2].map(orderAvroValue);
    const framed = await Promise.all(values.map((v) => v1.serialize(v)));
    const deser = registryDeserializers(url);
    for (const [i, bytes] of framed.entries()) {
      // 00 | schema ID (4 bytes, big-endian) | Avro binary
      expect(bytes[0]).toBe(0);
      expect(readConfluentFrame(bytes)).toEqual({ id: v1.id, payload: avroType(ORDER_AVRO_V1).toBuffer(values[i]) });
      expect(await deser.avro.deserialize(t, bytes)).toEqual(values[i]);
    }

    const v2 = await avroProducer(url, t, ORDER_AVRO_V2);
    expect(v2.version).toBe(2);
    expect(v2.id).not.toBe(v1.id);
    const v2Value = { ...orderAvroValue(3), channel: 'app' };
    expect(await deser.avro.deserialize(t, await v2.serialize(v2Value))).toEqual(v2Value);
    // A reader on the latest version resolves v1 data: the added field takes its default.
    const latest = new AvroDeserializer(registryClient(url), SerdeType.VALUE, { useLatestVersion: true, subjectNameStrategyType: SubjectNameStrategyType.TOPIC, ...AVRO_BIGINT_LONGS });
    expect(await latest.deserialize(t, framed[0])).toEqual({ ...values[0], channel: 'web' });

    const breaking = { ...ORDER_AVRO_V2, fields: ORDER_AVRO_V2.fields.map((f) => (f.name === 'id' ? { name: 'id', type: 'string' } : f)) };
    await expect(registerSchema(url, subjectFor(t), 'AVRO', breaking)).rejects.toMatchObject({ status: 409 });

    // Keys: the <topic>-key subject.
    const key = await avroProducer(url, t, '"long"', { kind: 'key' });
    expect(key.subject).toBe(`${t}-key`);
    expect(await registryDeserializers(url, 'key').avro.deserialize(t, await key.serialize(2n ** 63n - 1n))).toBe(2n ** 63n - 1n);
  });

  it('JSON Schema: values are validated, framed and read back', async () => {
    const t = topic();
    const producer = await jsonSchemaProducer(url, t, ORDER_JSON_SCHEMA);
    const value = orderJsonValue(1);
    const bytes = await producer.serialize(value);
    expect(readConfluentFrame(bytes)).toEqual({ id: producer.id, payload: Buffer.from(JSON.stringify(value)) });
    expect(await registryDeserializers(url).json.deserialize(t, bytes)).toEqual(value);
    await expect(producer.serialize({ id: 'not an integer', status: 'PLACED' })).rejects.toThrow(/Invalid message/);
  });

  it('Protobuf registered as .proto text: message indexes, nested types, 64-bit integers, oneof, map, Timestamp; v2 evolves under BACKWARD', async () => {
    const t = topic();
    const file = orderProto();
    const order = await protobufProducer(url, t, file, ORDER_PROTO_MESSAGE);
    // What the registry holds and serves is the text, as Confluent's registry serves it.
    const served = (await (await fetch(`${url}/schemas/ids/${order.id}`)).json()) as { schema: string; schemaType: string };
    expect(served).toMatchObject({ schema: ORDER_PROTO_TEXT, schemaType: 'PROTOBUF' });

    const deser = registryDeserializers(url);
    for (const i of [0, 1]) {
      const bytes = await order.serialize(orderProtoValue(i));
      const { id, payload } = readConfluentFrame(bytes);
      expect(id).toBe(order.id);
      // Order is the file's second top-level message: indexes [1], written 02 02.
      expect(payload.subarray(0, 2)).toEqual(Buffer.from([0x02, 0x02]));
      const { indexes, start } = readMessageIndexes(payload);
      expect(indexes).toEqual([1]);
      const independent = decodeWithProtobufjs(served.schema, ORDER_PROTO_MESSAGE, payload.subarray(start));
      expect(independent).toMatchObject({ id: String(2n ** 62n + BigInt(i)), sequence: String(2n ** 64n - 1n - BigInt(i)), checksum: String(2n ** 64n - 2n), placed_at: { seconds: String(1_700_000_000 + i) } });
      expect(independent.payment).toBe(i % 2 ? 'card_token' : 'iban');
      const back = (await deser.protobuf.deserialize(t, bytes)) as Record<string, unknown>;
      expect(back).toMatchObject({ $typeName: ORDER_PROTO_MESSAGE, ...orderProtoValue(i), customer: expect.anything(), lines: expect.any(Array), placedAt: expect.anything() });
    }

    // A nested message: Order.Customer.Address is the path [1, 1, 0].
    const address = await protobufProducer(url, t, file, 'kafkas3.test.Order.Customer.Address');
    expect(address.id).toBe(order.id);
    const addressBytes = await address.serialize({ city: 'Bern', zip: '3000' });
    expect(readMessageIndexes(readConfluentFrame(addressBytes).payload).indexes).toEqual([1, 1, 0]);
    expect(await deser.protobuf.deserialize(t, addressBytes)).toMatchObject({ city: 'Bern', zip: '3000' });

    // The client's own ProtobufDeserializer, unpatched, cannot read a text schema from Apicurio 3.0.9: it asks for
    // ?format=serialized (a base64 FileDescriptorProto) and gets the text (serializedProtobufClient() works around it).
    const plain = new ProtobufDeserializer(registryClient(url), SerdeType.VALUE, { subjectNameStrategyType: SubjectNameStrategyType.TOPIC });
    await expect(plain.deserialize(t, addressBytes)).rejects.toThrow();

    const v2 = await protobufProducer(url, t, protoFile('kafkas3/test/order.proto', ORDER_PROTO_TEXT.replace('bool gift = 16;', 'bool gift = 16;\n  string channel = 17;')), ORDER_PROTO_MESSAGE);
    expect(v2.version).toBe(2);
    expect(await deser.protobuf.deserialize(t, await v2.serialize({ ...orderProtoValue(2), channel: 'app' }))).toMatchObject({ channel: 'app' });
    const breaking = ORDER_PROTO_TEXT.replace('int64 id = 1;', 'string id = 1;');
    await expect(registerSchema(url, subjectFor(t), 'PROTOBUF', breaking)).rejects.toMatchObject({ status: 409 });
  });

  it('Protobuf registered by the serializer itself (base64 descriptor): the unpatched deserializer reads it', async () => {
    const t = topic();
    const file = orderProto();
    const order = await protobufProducer(url, t, file, ORDER_PROTO_MESSAGE, { register: 'descriptor' });
    expect(order.schema).toBe(file.base64());
    const served = (await (await fetch(`${url}/schemas/ids/${order.id}`)).json()) as { schema: string };
    expect(served.schema).toBe(file.base64()); // stored verbatim (Confluent's registry would serve the .proto text)
    const plain = new ProtobufDeserializer(registryClient(url), SerdeType.VALUE, { subjectNameStrategyType: SubjectNameStrategyType.TOPIC });
    const value = orderProtoValue(3);
    expect(await plain.deserialize(t, await order.serialize(value))).toMatchObject({ id: value.id, sequence: value.sequence, payment: value.payment });
  });
});

describe.skipIf(!moto)(`AWS Glue Schema Registry in moto${skipped(motoStarted.value)}`, () => {
  let glue: GlueClient;
  const registryName = `registry-${randomUUID().slice(0, 8)}`;

  beforeAll(async () => {
    glue = glueClient(moto!);
    await createGlueRegistry(glue, registryName);
  });
  afterAll(() => glue?.destroy());

  /** GetSchemaVersion by the ID a framed value carries: the sink's lookup. */
  async function lookup(framed: Buffer): Promise<{ definition: string; dataFormat: string; versionNumber: number; data: Buffer }> {
    const { versionId, data } = readGlueFrame(framed);
    const r = await glue.send(new GetSchemaVersionCommand({ SchemaVersionId: versionId }));
    return { definition: r.SchemaDefinition!, dataFormat: r.DataFormat!, versionNumber: r.VersionNumber!, data };
  }

  it('Avro: two versions; each framed value (plain and zlib) names the definition it was written with', async () => {
    const v1 = await createGlueSchema(glue, { registryName, schemaName: 'orders-avro', dataFormat: 'AVRO', definition: ORDER_AVRO_V1 });
    const v2 = await registerGlueSchemaVersion(glue, v1, ORDER_AVRO_V2);
    expect([v1.versionNumber, v2.versionNumber]).toEqual([1, 2]);
    expect(v2.versionId).not.toBe(v1.versionId);

    const value = orderAvroValue(2);
    const plain = glueAvroValue(v1, value);
    // 03 | 00 | the 16 bytes of the version UUID | Avro binary
    expect(plain.subarray(0, 2)).toEqual(Buffer.from([3, 0]));
    expect(plain.subarray(2, 18).toString('hex')).toBe(v1.versionId.replace(/-/g, ''));
    const found = await lookup(plain);
    expect(found).toMatchObject({ definition: JSON.stringify(ORDER_AVRO_V1), dataFormat: 'AVRO', versionNumber: 1 });
    expect(avroType(found.definition).fromBuffer(found.data)).toEqual(value);

    const zlib = glueAvroValue(v2, { ...value, channel: 'app' }, 'zlib');
    expect(zlib[1]).toBe(GLUE_COMPRESSION_ZLIB);
    const found2 = await lookup(zlib);
    expect(found2.versionNumber).toBe(2);
    expect(avroType(found2.definition).fromBuffer(found2.data)).toEqual({ ...value, channel: 'app' });
  });

  it('JSON and Protobuf schemas: the definition comes back for the framed version ID; Protobuf data starts with the Glue message index', async () => {
    const json = await createGlueSchema(glue, { registryName, schemaName: 'orders-json', dataFormat: 'JSON', definition: ORDER_JSON_SCHEMA });
    const jsonValue = orderJsonValue(4);
    const jsonFound = await lookup(glueJsonValue(json.versionId, jsonValue));
    expect(jsonFound).toMatchObject({ definition: JSON.stringify(ORDER_JSON_SCHEMA), dataFormat: 'JSON' });
    expect(JSON.parse(jsonFound.data.toString('utf8'))).toEqual(jsonValue);
    expect((await lookup(glueJsonValue(json.versionId, { text: '{"id":9223372036854775807}' }, 'zlib'))).data.toString()).toBe('{"id":9223372036854775807}');

    const file = orderProto();
    const proto = await createGlueSchema(glue, { registryName, schemaName: 'orders-proto', dataFormat: 'PROTOBUF', definition: ORDER_PROTO_TEXT });
    // All message types sorted by full name: Envelope 0, Order 1, Order.AttributesEntry 2, Order.Customer 3,
    // Order.Customer.Address 4, Order.Line 5.
    expect(glueProtobufMessageIndex(file, ORDER_PROTO_MESSAGE)).toBe(1);
    expect(glueProtobufMessageIndex(file, 'kafkas3.test.Order.Customer.Address')).toBe(4);
    for (const compression of ['none', 'zlib'] as const) {
      const framed = glueProtobufValue(proto.versionId, file, ORDER_PROTO_MESSAGE, orderProtoValue(5), compression);
      const found = await lookup(framed);
      expect(found).toMatchObject({ definition: ORDER_PROTO_TEXT, dataFormat: 'PROTOBUF', versionNumber: 1 });
      expect(found.data[0]).toBe(1); // one unsigned varint: the index of Order
      expect(decodeWithProtobufjs(found.definition, ORDER_PROTO_MESSAGE, found.data.subarray(1))).toMatchObject({
        id: String(2n ** 62n + 5n),
        sequence: String(2n ** 64n - 6n),
        card_token: 'tok_5',
        attributes: { source: 'test', idx: '5' },
      });
    }
    const address = glueProtobufValue(proto.versionId, file, 'kafkas3.test.Order.Customer.Address', { city: 'Bern', zip: '3000' });
    const addressFound = await lookup(address);
    expect(addressFound.data[0]).toBe(4);
    expect(decodeWithProtobufjs(addressFound.definition, 'kafkas3.test.Order.Customer.Address', addressFound.data.subarray(1))).toEqual({ city: 'Bern', zip: '3000' });
  });
});
