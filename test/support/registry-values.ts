/**
 * Values in a Confluent-compatible schema registry's wire format, made by the registry's own client library
 * (@confluentinc/schemaregistry's AvroSerializer, ProtobufSerializer and JsonSerializer) against a real registry
 * (test/support/apicurio.ts), with schemas registered under TopicNameStrategy subjects: `<topic>-value`, `<topic>-key`.
 *
 * Confluent wire format (what serialize() returns):
 *
 *   byte 0      magic byte 0
 *   bytes 1-4   the schema ID, a 32-bit big-endian integer (the registry's ID, not the subject version)
 *   Avro        the Avro binary encoding of the value (no container header, no schema)
 *   JSON        the UTF-8 JSON text of the value (JSON.stringify: no integer beyond 2^53 can be carried)
 *   Protobuf    message indexes, then the message's protobuf binary encoding. The indexes name the message type in
 *               the schema's file as a path: first the top-level message index, then the index among that message's
 *               nested types, and so on (nested types counted as protoc lists them, map-entry types included). Written
 *               as zigzag varints: the path's length, then each index; the path [0] (the file's first message) is
 *               written as the single byte 0x00. E.g. [1] is 02 02, [1, 0] is 04 02 00.
 *
 *   00 00 00 00 07 | <payload>            schema ID 7
 *   00 00 00 00 07 | 00 | <protobuf>      Protobuf, first message of the file
 *   00 00 00 00 07 | 04 02 00 | <protobuf> Protobuf, message path [1, 0]
 *
 * Protobuf schemas are written as .proto text (protoFile()); this module derives the FileDescriptorProto the JS
 * serializer needs from that text (protobufjs parses it), so one text is both what the registry holds and what the
 * bytes are encoded with.
 */
import { Buffer } from 'node:buffer';
import {
  AvroDeserializer,
  AvroSerializer,
  type Client,
  JsonDeserializer,
  JsonSerializer,
  ProtobufDeserializer,
  ProtobufSerializer,
  type SchemaInfo,
  SchemaRegistryClient,
  SerdeType,
  SubjectNameStrategyType,
} from '@confluentinc/schemaregistry';
// @bufbuild/protobuf is the Protobuf runtime @confluentinc/schemaregistry is built on (its dependency, at the version
// package-lock.json pins): the ProtobufSerializer takes its messages and descriptors.
import { create, createFileRegistry, type DescFile, type DescMessage, type MessageInitShape, toBinary } from '@bufbuild/protobuf';
import {
  type DescriptorProto,
  DescriptorProtoSchema,
  type EnumDescriptorProto,
  EnumDescriptorProtoSchema,
  type FieldDescriptorProto,
  FieldDescriptorProto_Label as Label,
  FieldDescriptorProtoSchema,
  FieldDescriptorProto_Type as FieldType,
  type FileDescriptorProto,
  FileDescriptorProtoSchema,
  file_google_protobuf_any,
  file_google_protobuf_duration,
  file_google_protobuf_empty,
  file_google_protobuf_field_mask,
  file_google_protobuf_struct,
  file_google_protobuf_timestamp,
  file_google_protobuf_wrappers,
} from '@bufbuild/protobuf/wkt';
import avro from 'avsc';
import protobuf from 'protobufjs';

export type SchemaType = 'AVRO' | 'PROTOBUF' | 'JSON';
export type SerdeKind = 'value' | 'key';

export interface RegisteredSchema {
  subject: string;
  /** The schema ID the wire format carries. */
  id: number;
  /** The subject version. */
  version: number;
  schemaType: SchemaType;
  /** The schema text as registered. */
  schema: string;
}

export interface RegistryProducer<T> extends RegisteredSchema {
  /** The value in Confluent wire format, made by the registry client's serializer. */
  serialize(value: T): Promise<Buffer>;
}

export interface ProducerOptions {
  /** Serialize keys (subject `<topic>-key`, SerdeType.KEY) instead of values. */
  kind?: SerdeKind;
}

/** A client for the registry at `url` (the Confluent-compatible base URL, e.g. <apicurio>/apis/ccompat/v7). */
export function registryClient(url: string): SchemaRegistryClient {
  return new SchemaRegistryClient({ baseURLs: [url], maxRetries: 1 });
}

/** TopicNameStrategy: the subject a topic's values (or keys) are registered under. */
export function subjectFor(topic: string, kind: SerdeKind = 'value'): string {
  return `${topic}-${kind}`;
}

function serdeType(kind: SerdeKind | undefined): SerdeType {
  return kind === 'key' ? SerdeType.KEY : SerdeType.VALUE;
}

function clientOf(registry: string | Client): Client {
  return typeof registry === 'string' ? registryClient(registry) : registry;
}

/**
 * Registers a schema under a subject (POST /subjects/{subject}/versions) and reads back its ID and version. Rejected
 * when the subject's compatibility level refuses it (RestError, status 409).
 */
export async function registerSchema(registry: string | Client, subject: string, schemaType: SchemaType, schema: string | object): Promise<RegisteredSchema> {
  const client = clientOf(registry);
  const text = typeof schema === 'string' ? schema : JSON.stringify(schema);
  const info: SchemaInfo = { schemaType, schema: text, references: [] };
  const id = await client.register(subject, info, false);
  const found = await lookupSchema(client, subject, schemaType, text);
  if (found.id !== id) throw new Error(`registry lookup of ${subject} returned ID ${found.id}, registered ID ${id}`);
  return found;
}

/** POST /subjects/{subject}: the ID and version an exact schema has in a subject (RestError 404 if it has none). */
export async function lookupSchema(registry: string | Client, subject: string, schemaType: SchemaType, schema: string | object): Promise<RegisteredSchema> {
  const text = typeof schema === 'string' ? schema : JSON.stringify(schema);
  const found = await clientOf(registry).getIdFullResponse(subject, { schemaType, schema: text, references: [] }, false);
  if (found.id == null || found.version == null) throw new Error(`registry lookup of ${subject} returned ${JSON.stringify(found)}`);
  return { subject, id: found.id, version: found.version, schemaType, schema: text };
}

// ---------------------------------------------------------------------------------------------------------------
// Avro

const BIGINT_LONG = avro.types.LongType.__with({
  fromBuffer: (b: Buffer) => b.readBigInt64LE(),
  toBuffer: (n: bigint) => {
    const b = Buffer.alloc(8);
    b.writeBigInt64LE(n);
    return b;
  },
  fromJSON: (v: unknown) => BigInt(v as string | number),
  toJSON: (n: bigint) => Number(n),
  isValid: (n: unknown) => typeof n === 'bigint' && n >= -(2n ** 63n) && n < 2n ** 63n,
  compare: (a: bigint, b: bigint) => (a < b ? -1 : a > b ? 1 : 0),
});

/**
 * avsc options that read and write every Avro long (timestamp-millis/-micros included) as a BigInt, so longs beyond
 * 2^53 are exact. For the registry serializers' config and for avro.Type.forSchema. Logical types are not converted
 * (avsc has none built in): decimal is the bytes (decimalBytes()), timestamps the long, date the int, uuid the string.
 */
export const AVRO_BIGINT_LONGS = {
  typeHook: (schema: unknown): avro.Type | undefined =>
    schema === 'long' || (typeof schema === 'object' && schema !== null && (schema as { type?: unknown }).type === 'long') ? BIGINT_LONG : undefined,
};

/** An avsc Type for a schema, longs as BigInt (AVRO_BIGINT_LONGS). */
export function avroType(schema: object | string): avro.Type {
  return avro.Type.forSchema(typeof schema === 'string' ? JSON.parse(schema) : (schema as avro.Schema), { ...AVRO_BIGINT_LONGS });
}

/** An Avro decimal's bytes: the unscaled value in big-endian two's complement, in as few bytes as it takes. */
export function decimalBytes(unscaled: bigint): Buffer {
  let n = 1;
  while (unscaled < -(1n << BigInt(8 * n - 1)) || unscaled >= 1n << BigInt(8 * n - 1)) n++;
  const out = Buffer.alloc(n);
  for (let i = 0; i < n; i++) out[n - 1 - i] = Number(BigInt.asUintN(8, unscaled >> BigInt(8 * i)));
  return out;
}

/**
 * Registers an Avro schema under the topic's subject and returns a producer whose serialize() is the registry
 * client's AvroSerializer pinned to that schema's ID. Values as avsc takes them, longs as BigInt (AVRO_BIGINT_LONGS).
 */
export async function avroProducer(registry: string | Client, topic: string, schema: object | string, opts: ProducerOptions = {}): Promise<RegistryProducer<unknown>> {
  const client = clientOf(registry);
  const registered = await registerSchema(client, subjectFor(topic, opts.kind), 'AVRO', schema);
  const serializer = new AvroSerializer(client, serdeType(opts.kind), {
    useSchemaId: registered.id,
    autoRegisterSchemas: false,
    subjectNameStrategyType: SubjectNameStrategyType.TOPIC,
    ...AVRO_BIGINT_LONGS,
  });
  return { ...registered, serialize: (value) => serializer.serialize(topic, value) };
}

// ---------------------------------------------------------------------------------------------------------------
// JSON Schema

/**
 * Registers a JSON Schema under the topic's subject and returns a producer whose serialize() is the registry client's
 * JsonSerializer pinned to that schema's ID, validating each value against the schema (Ajv) first.
 */
export async function jsonSchemaProducer(registry: string | Client, topic: string, schema: object | string, opts: ProducerOptions = {}): Promise<RegistryProducer<unknown>> {
  const client = clientOf(registry);
  const registered = await registerSchema(client, subjectFor(topic, opts.kind), 'JSON', schema);
  const serializer = new JsonSerializer(client, serdeType(opts.kind), {
    useSchemaId: registered.id,
    autoRegisterSchemas: false,
    subjectNameStrategyType: SubjectNameStrategyType.TOPIC,
    validate: true,
  });
  return { ...registered, serialize: (value) => serializer.serialize(topic, value) };
}

// ---------------------------------------------------------------------------------------------------------------
// Protobuf

export interface ProtoFile {
  /** The file name in the descriptor (schemas registered as text carry none; the JS serializer's carry this). */
  name: string;
  /** The .proto text: what registerSchema() registers. */
  text: string;
  /** The FileDescriptorProto derived from the text. */
  proto: FileDescriptorProto;
  /** The descriptor, resolved: what the JS serializer encodes with. */
  file: DescFile;
  /** A message type of the file by full name ("pkg.Order", "pkg.Order.Line"). */
  message(fullName: string): DescMessage;
  /** The serialized FileDescriptorProto in base64: the form the JS client registers and asks for (format=serialized). */
  base64(): string;
}

const WELL_KNOWN: Record<string, DescFile> = {
  'google/protobuf/any.proto': file_google_protobuf_any,
  'google/protobuf/duration.proto': file_google_protobuf_duration,
  'google/protobuf/empty.proto': file_google_protobuf_empty,
  'google/protobuf/field_mask.proto': file_google_protobuf_field_mask,
  'google/protobuf/struct.proto': file_google_protobuf_struct,
  'google/protobuf/timestamp.proto': file_google_protobuf_timestamp,
  'google/protobuf/wrappers.proto': file_google_protobuf_wrappers,
};

const SCALARS: Record<string, FieldType> = {
  double: FieldType.DOUBLE, float: FieldType.FLOAT, int64: FieldType.INT64, uint64: FieldType.UINT64, int32: FieldType.INT32,
  fixed64: FieldType.FIXED64, fixed32: FieldType.FIXED32, bool: FieldType.BOOL, string: FieldType.STRING, bytes: FieldType.BYTES,
  uint32: FieldType.UINT32, sfixed32: FieldType.SFIXED32, sfixed64: FieldType.SFIXED64, sint32: FieldType.SINT32, sint64: FieldType.SINT64,
};

/**
 * Parses a proto3 file (protobufjs) into the FileDescriptorProto protoc would make of it, for the JS serializer.
 * Supported: messages, nested messages and enums, repeated, map, oneof, proto3 optional, every scalar type, and imports
 * of the google/protobuf well-known types (no other imports: schema references are out of scope). protoc places a map
 * field's map-entry type among the nested types where the field is declared; this places them after the declared
 * nested types, so declare a message's nested messages before its map fields (message indexes then agree).
 */
export function protoFile(name: string, text: string): ProtoFile {
  if (!/^\s*syntax\s*=\s*["']proto3["']\s*;/m.test(text)) throw new Error(`${name}: only proto3 files are supported`);
  const root = new protobuf.Root();
  const parsed = protobuf.parse(text, root, { keepCase: true });
  const imports = parsed.imports ?? [];
  for (const imp of imports) {
    const json = protobuf.common.get(imp) as protobuf.INamespace | null;
    if (!WELL_KNOWN[imp] || !json?.nested) throw new Error(`${name}: import "${imp}" is not a supported well-known type`);
    root.addJSON(json.nested);
  }
  root.resolveAll();
  const pkg = parsed.package ?? '';
  const scope = pkg ? root.lookup(pkg) : root;
  if (!(scope instanceof protobuf.Namespace)) throw new Error(`${name}: package ${pkg} not found`);
  const messageType: DescriptorProto[] = [];
  const enumType: EnumDescriptorProto[] = [];
  for (const obj of scope.nestedArray) {
    if (obj instanceof protobuf.Type) messageType.push(messageProto(obj));
    else if (obj instanceof protobuf.Enum) enumType.push(enumProto(obj));
    // Without a package, the imported well-known types' namespace (google) sits beside the file's own types.
  }
  const proto = create(FileDescriptorProtoSchema, { name, package: pkg || undefined, dependency: imports, messageType, enumType, syntax: 'proto3' });
  const registry = createFileRegistry(proto, (dep) => WELL_KNOWN[dep]);
  const file = registry.getFile(name);
  if (!file) throw new Error(`${name}: descriptor did not resolve`);
  return {
    name,
    text,
    proto,
    file,
    message(fullName) {
      const m = registry.getMessage(fullName);
      if (!m) throw new Error(`${name}: no message ${fullName}`);
      return m;
    },
    base64: () => Buffer.from(toBinary(FileDescriptorProtoSchema, proto)).toString('base64'),
  };
}

function enumProto(e: protobuf.Enum): EnumDescriptorProto {
  return create(EnumDescriptorProtoSchema, { name: e.name, value: Object.entries(e.values).map(([n, number]) => ({ name: n, number })) });
}

function isSyntheticOneof(o: protobuf.OneOf): boolean {
  return o.fieldsArray.length === 1 && o.fieldsArray[0].getOption('proto3_optional') === true;
}

/** protoc's json_name and map-entry naming: lowerCamelCase of a snake_case name. */
function camel(name: string): string {
  return name.replace(/_+([a-zA-Z0-9])/g, (_, c: string) => c.toUpperCase());
}

function messageProto(type: protobuf.Type): DescriptorProto {
  const nestedType: DescriptorProto[] = [];
  const enumType: EnumDescriptorProto[] = [];
  for (const obj of type.nestedArray) {
    if (obj instanceof protobuf.Type) nestedType.push(messageProto(obj));
    else if (obj instanceof protobuf.Enum) enumType.push(enumProto(obj));
  }
  // protoc lists the declared oneofs first and the synthetic ones of proto3 optional fields after them.
  const oneofs = [...type.oneofsArray.filter((o) => !isSyntheticOneof(o)), ...type.oneofsArray.filter(isSyntheticOneof)];
  const field: FieldDescriptorProto[] = [];
  for (const f of type.fieldsArray) {
    const out: MessageInitShape<typeof FieldDescriptorProtoSchema> = { name: f.name, number: f.id, jsonName: camel(f.name) };
    if (f instanceof protobuf.MapField) {
      const entryName = `${camel(f.name).replace(/^./, (c) => c.toUpperCase())}Entry`;
      const value: MessageInitShape<typeof FieldDescriptorProtoSchema> = { name: 'value', number: 2, jsonName: 'value', label: Label.OPTIONAL, ...typeOf(f) };
      nestedType.push(
        create(DescriptorProtoSchema, {
          name: entryName,
          field: [
            { name: 'key', number: 1, jsonName: 'key', label: Label.OPTIONAL, type: scalar(f.keyType) },
            value,
          ],
          options: { mapEntry: true },
        }),
      );
      Object.assign(out, { label: Label.REPEATED, type: FieldType.MESSAGE, typeName: `${type.fullName}.${entryName}` });
    } else {
      Object.assign(out, { label: f.repeated ? Label.REPEATED : f.required ? Label.REQUIRED : Label.OPTIONAL, ...typeOf(f) });
    }
    if (f.partOf) {
      out.oneofIndex = oneofs.indexOf(f.partOf);
      if (isSyntheticOneof(f.partOf)) out.proto3Optional = true;
    }
    field.push(create(FieldDescriptorProtoSchema, out));
  }
  return create(DescriptorProtoSchema, { name: type.name, field, nestedType, enumType, oneofDecl: oneofs.map((o) => ({ name: o.name })) });
}

function scalar(t: string): FieldType {
  const s = SCALARS[t];
  if (s === undefined) throw new Error(`not a scalar type: ${t}`);
  return s;
}

function typeOf(f: protobuf.Field): Pick<FieldDescriptorProto, 'type'> & { typeName?: string } {
  if (SCALARS[f.type] !== undefined) return { type: SCALARS[f.type] };
  const resolved = f.resolvedType;
  if (resolved instanceof protobuf.Type) return { type: FieldType.MESSAGE, typeName: resolved.fullName };
  if (resolved instanceof protobuf.Enum) return { type: FieldType.ENUM, typeName: resolved.fullName };
  throw new Error(`field ${f.fullName}: type ${f.type} did not resolve`);
}

export interface ProtobufProducerOptions extends ProducerOptions {
  /**
   * How the schema gets into the registry. 'text' (default): registerSchema() registers the .proto text, as
   * Confluent's Java serializer does and as Confluent's registry stores it (GET /schemas/ids/{id} answers the text).
   * 'descriptor': the JS ProtobufSerializer registers it itself (autoRegisterSchemas), as a base64 FileDescriptorProto,
   * which Apicurio 3.0.9 stores and returns verbatim (the unpatched ProtobufDeserializer reads it; a second version
   * under BACKWARD fails, the compatibility check parsing the base64 as .proto text).
   */
  register?: 'text' | 'descriptor';
}

/**
 * A producer of one message type of a .proto file: serialize() takes the message's fields as @bufbuild/protobuf's
 * create() does (int64/uint64 as BigInt, enums as numbers, oneofs as { case, value }, maps as plain objects, a
 * google.protobuf.Timestamp as { seconds: bigint, nanos }) and returns the registry client's ProtobufSerializer output.
 */
export async function protobufProducer(
  registry: string | Client,
  topic: string,
  file: ProtoFile,
  messageName: string,
  opts: ProtobufProducerOptions = {},
): Promise<RegistryProducer<Record<string, unknown>>> {
  const client = clientOf(registry);
  const subject = subjectFor(topic, opts.kind);
  const desc = file.message(messageName);
  let registered: RegisteredSchema;
  let serializer: ProtobufSerializer;
  if ((opts.register ?? 'text') === 'text') {
    registered = await registerSchema(client, subject, 'PROTOBUF', file.text);
    serializer = new ProtobufSerializer(client, serdeType(opts.kind), {
      useSchemaId: registered.id,
      autoRegisterSchemas: false,
      subjectNameStrategyType: SubjectNameStrategyType.TOPIC,
    });
  } else {
    serializer = new ProtobufSerializer(client, serdeType(opts.kind), { autoRegisterSchemas: true, subjectNameStrategyType: SubjectNameStrategyType.TOPIC });
    // The first serialize() registers; a message with every field unset is enough to do it.
    serializer.registry.add(desc);
    await serializer.serialize(topic, create(desc));
    // The serializer registers the file descriptor exactly as base64() encodes it.
    registered = await lookupSchema(client, subject, 'PROTOBUF', file.base64());
  }
  serializer.registry.add(desc);
  return {
    ...registered,
    serialize: (value) => serializer.serialize(topic, create(desc, value as never)),
  };
}

/**
 * A Client for @confluentinc/schemaregistry's ProtobufDeserializer against a registry that answers Protobuf schemas
 * as .proto text where the client asks for ?format=serialized (Apicurio 3.0.9 ignores the parameter): such answers
 * are turned into the base64 FileDescriptorProto (protoFile()) the deserializer parses. Everything else passes through.
 */
export function serializedProtobufClient(client: Client): Client {
  return new Proxy(client, {
    get(target, prop, receiver) {
      if (prop === 'getBySubjectAndId') {
        return async (subject: string, id: number, format?: string): Promise<SchemaInfo> => {
          const info = await target.getBySubjectAndId(subject, id, format);
          if (format !== 'serialized' || info.schemaType !== 'PROTOBUF' || /^[A-Za-z0-9+/=\s]*$/.test(info.schema)) return info;
          return { ...info, schema: protoFile(`schema-${id}.proto`, info.schema).base64() };
        };
      }
      const v: unknown = Reflect.get(target, prop, receiver);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

export interface RegistryDeserializers {
  avro: AvroDeserializer;
  json: JsonDeserializer;
  protobuf: ProtobufDeserializer;
}

/**
 * The registry client's deserializers (TopicNameStrategy, Avro longs as BigInt), the Protobuf one through
 * serializedProtobufClient(). deserialize(topic, bytes) reads the schema ID (and message indexes) from the bytes.
 */
export function registryDeserializers(registry: string | Client, kind: SerdeKind = 'value'): RegistryDeserializers {
  const client = clientOf(registry);
  const common = { subjectNameStrategyType: SubjectNameStrategyType.TOPIC };
  return {
    avro: new AvroDeserializer(client, serdeType(kind), { ...common, ...AVRO_BIGINT_LONGS }),
    json: new JsonDeserializer(client, serdeType(kind), { ...common }),
    protobuf: new ProtobufDeserializer(serializedProtobufClient(client), serdeType(kind), { ...common }),
  };
}

/** The parts of a Confluent-framed value: schema ID and what follows (Protobuf: message indexes, then the message). */
export function readConfluentFrame(bytes: Buffer): { id: number; payload: Buffer } {
  if (bytes.length < 5 || bytes[0] !== 0) throw new Error(`not Confluent wire format: ${bytes.subarray(0, 8).toString('hex')}`);
  return { id: bytes.readUInt32BE(1), payload: bytes.subarray(5) };
}

/** Confluent Protobuf message indexes at the start of a payload (zigzag varints), and where the message starts. */
export function readMessageIndexes(payload: Buffer): { indexes: number[]; start: number } {
  let at = 0;
  const next = (): number => {
    let v = 0;
    for (let shift = 0; ; shift += 7) {
      const b = payload[at++];
      if (b === undefined) throw new Error('message indexes run past the payload');
      v |= (b & 0x7f) << shift;
      if (!(b & 0x80)) break;
    }
    return (v >>> 1) ^ -(v & 1);
  };
  const count = next();
  if (count === 0) return { indexes: [0], start: at };
  const indexes = Array.from({ length: count }, next);
  return { indexes, start: at };
}

// ---------------------------------------------------------------------------------------------------------------
// Example schemas

/**
 * A nested Avro schema, version 1: records in records, arrays, maps, an enum, a union of null/string/record, and the
 * logical types decimal (bytes), timestamp-millis, timestamp-micros, date and uuid; `id` holds longs beyond 2^53.
 */
export const ORDER_AVRO_V1 = {
  type: 'record',
  name: 'Order',
  namespace: 'com.example.kafkas3',
  fields: [
    { name: 'id', type: 'long' },
    {
      name: 'customer',
      type: {
        type: 'record',
        name: 'Customer',
        fields: [
          { name: 'name', type: 'string' },
          { name: 'email', type: ['null', 'string'], default: null },
          {
            name: 'address',
            type: {
              type: 'record',
              name: 'Address',
              fields: [
                { name: 'street', type: 'string' },
                { name: 'city', type: 'string' },
                { name: 'zip', type: ['null', 'string'], default: null },
              ],
            },
          },
        ],
      },
    },
    {
      name: 'lines',
      type: {
        type: 'array',
        items: {
          type: 'record',
          name: 'Line',
          fields: [
            { name: 'sku', type: 'string' },
            { name: 'quantity', type: 'int' },
            { name: 'unit_price', type: { type: 'bytes', logicalType: 'decimal', precision: 12, scale: 2 } },
          ],
        },
      },
    },
    { name: 'tags', type: { type: 'map', values: 'string' } },
    { name: 'counters', type: { type: 'map', values: 'long' } },
    { name: 'status', type: { type: 'enum', name: 'Status', symbols: ['PLACED', 'SHIPPED', 'CANCELLED'] } },
    {
      name: 'note',
      type: ['null', 'string', { type: 'record', name: 'Gift', fields: [{ name: 'message', type: 'string' }, { name: 'wrap', type: 'boolean' }] }],
      default: null,
    },
    { name: 'placed_at', type: { type: 'long', logicalType: 'timestamp-millis' } },
    { name: 'updated_at', type: { type: 'long', logicalType: 'timestamp-micros' } },
    { name: 'ship_date', type: { type: 'int', logicalType: 'date' } },
    { name: 'order_uuid', type: { type: 'string', logicalType: 'uuid' } },
    { name: 'total', type: 'double' },
  ],
} as const;

/** Version 2: adds `channel` with a default (BACKWARD compatible: a v2 reader fills it in for v1 data). */
export const ORDER_AVRO_V2 = {
  ...ORDER_AVRO_V1,
  fields: [...ORDER_AVRO_V1.fields, { name: 'channel', type: 'string', default: 'web' }],
} as const;

/** Order i in ORDER_AVRO_V1, as avsc takes it (longs BigInt); `note` cycles through null, a string and a Gift. */
export function orderAvroValue(i: number): Record<string, unknown> {
  return {
    id: 2n ** 60n + BigInt(i),
    customer: { name: `Customer ${i}`, email: i % 2 ? null : `c${i}@example.com`, address: { street: `${i} Main St`, city: 'Zürich', zip: i % 3 ? '8001' : null } },
    lines: Array.from({ length: (i % 3) + 1 }, (_, j) => ({ sku: `SKU-${i}-${j}`, quantity: j + 1, unit_price: decimalBytes(BigInt(1999 + j * 100 - (i % 2) * 5000)) })),
    tags: { source: 'test', idx: String(i) },
    counters: { big: 9007199254740993n + BigInt(i), negative: -(2n ** 62n) },
    status: ['PLACED', 'SHIPPED', 'CANCELLED'][i % 3],
    note: i % 3 === 0 ? null : i % 3 === 1 ? `note ${i}` : { message: `gift ${i}`, wrap: i % 2 === 0 },
    placed_at: 1_700_000_000_123n + BigInt(i),
    updated_at: 1_700_000_000_123_456n + BigInt(i),
    ship_date: 19_700 + i,
    order_uuid: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
    total: 12.5 + i,
  };
}

/**
 * A Protobuf schema: two top-level messages (so Order's values carry the message index [1]), a nested message with
 * its own nested message, repeated (packed scalars and messages), a map, an enum, int64/uint64/sint64/fixed64, a oneof,
 * a proto3 optional and google.protobuf.Timestamp. Order's nested types, as protoc numbers them: Line 0, Customer 1,
 * Customer.Address is Customer's 0, AttributesEntry (the map) 2.
 */
export const ORDER_PROTO_TEXT = `syntax = "proto3";
package kafkas3.test;

import "google/protobuf/timestamp.proto";

message Envelope {
  string note = 1;
}

message Order {
  enum Status {
    STATUS_UNSPECIFIED = 0;
    PLACED = 1;
    SHIPPED = 2;
  }
  message Line {
    string sku = 1;
    uint32 quantity = 2;
    int64 price_micros = 3;
  }
  message Customer {
    message Address {
      string city = 1;
      string zip = 2;
    }
    string name = 1;
    Address address = 2;
  }
  int64 id = 1;
  uint64 sequence = 2;
  Status status = 3;
  Customer customer = 4;
  repeated Line lines = 5;
  map<string, string> attributes = 6;
  oneof payment {
    string card_token = 7;
    string iban = 8;
  }
  google.protobuf.Timestamp placed_at = 9;
  repeated int32 scores = 10;
  bytes blob = 11;
  optional string coupon = 12;
  sint64 delta = 13;
  fixed64 checksum = 14;
  double total = 15;
  bool gift = 16;
}
`;

export const ORDER_PROTO_MESSAGE = 'kafkas3.test.Order';

/** ORDER_PROTO_TEXT as a ProtoFile (file name kafkas3/test/order.proto). */
export function orderProto(): ProtoFile {
  return protoFile('kafkas3/test/order.proto', ORDER_PROTO_TEXT);
}

/** Order i in ORDER_PROTO_TEXT, as protobufProducer().serialize() takes it. */
export function orderProtoValue(i: number): Record<string, unknown> {
  return {
    id: 2n ** 62n + BigInt(i),
    sequence: 2n ** 64n - 1n - BigInt(i),
    status: 1 + (i % 2),
    customer: { name: `Customer ${i}`, address: { city: 'Zürich', zip: '8001' } },
    lines: Array.from({ length: (i % 3) + 1 }, (_, j) => ({ sku: `SKU-${i}-${j}`, quantity: j + 1, priceMicros: 19_990_000n + BigInt(j) })),
    attributes: { source: 'test', idx: String(i) },
    payment: i % 2 ? { case: 'cardToken', value: `tok_${i}` } : { case: 'iban', value: 'CH9300762011623852957' },
    placedAt: { seconds: 1_700_000_000n + BigInt(i), nanos: 123_000_000 },
    scores: [1, -2, 300_000 + i],
    blob: Buffer.from([0, 255, i & 0xff]),
    ...(i % 2 ? { coupon: `SAVE${i}` } : {}),
    delta: -(2n ** 62n) - BigInt(i),
    checksum: 2n ** 64n - 2n,
    total: 99.5 + i,
    gift: i % 2 === 0,
  };
}

/** A JSON Schema (draft-07): nested object, array of objects, enum, map (additionalProperties), nullable. */
export const ORDER_JSON_SCHEMA = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  title: 'Order',
  type: 'object',
  properties: {
    id: { type: 'integer' },
    customer: {
      type: 'object',
      properties: { name: { type: 'string' }, email: { type: ['string', 'null'] } },
      required: ['name'],
    },
    lines: {
      type: 'array',
      items: {
        type: 'object',
        properties: { sku: { type: 'string' }, quantity: { type: 'integer', minimum: 1 }, price: { type: 'number' } },
        required: ['sku', 'quantity'],
      },
    },
    status: { enum: ['PLACED', 'SHIPPED', 'CANCELLED'] },
    tags: { type: 'object', additionalProperties: { type: 'string' } },
    placed_at: { type: 'string' },
  },
  required: ['id', 'status'],
};

/** Order i in ORDER_JSON_SCHEMA. */
export function orderJsonValue(i: number): Record<string, unknown> {
  return {
    id: 9_007_199_254_740_991 - i,
    customer: { name: `Customer ${i}`, email: i % 2 ? null : `c${i}@example.com` },
    lines: [{ sku: `SKU-${i}`, quantity: 1 + i, price: 19.99 }],
    status: ['PLACED', 'SHIPPED', 'CANCELLED'][i % 3],
    tags: { source: 'test' },
    placed_at: new Date(1_700_000_000_123 + i).toISOString(),
  };
}
