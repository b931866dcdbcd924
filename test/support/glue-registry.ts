/**
 * The AWS Glue Schema Registry in moto (test/support/moto.ts, IAM enforced): registries, schemas and versions through
 * @aws-sdk/client-glue, and values framed as the AWS Glue Schema Registry serializers frame them
 * (github.com/awslabs/aws-glue-schema-registry, serializer-deserializer/.../serializers/SerializationDataEncoder.java):
 *
 *   byte 0       3, the header version (AWSSchemaRegistryConstants.HEADER_VERSION_BYTE)
 *   byte 1       compression: 0 none, 5 zlib (COMPRESSION_DEFAULT_BYTE, COMPRESSION_BYTE)
 *   bytes 2-17   the schema version ID, a UUID's 16 bytes in order (most significant long, then least, big-endian)
 *   bytes 18-    the data, zlib-compressed (java.util.zip.Deflater's default: zlib wrapper, not raw deflate) when
 *                byte 1 is 5. The data is, per format:
 *                  AVRO      the Avro binary encoding of the value
 *                  JSON      the UTF-8 JSON text of the value (Jackson)
 *                  PROTOBUF  ONE unsigned varint, the message index, then the message's protobuf encoding
 *
 * The Protobuf message index is not Confluent's path of zigzag varints: ProtobufWireFormatEncoder.java writes
 * CodedOutputStream.writeUInt32NoTag(index) (plain varint, despite its comment saying zig-zag), and
 * MessageIndexFinder.java numbers every message type of the file — top-level and nested at any depth, map-entry types
 * included (Descriptor.getNestedTypes() lists them) — sorted by full name ("pkg.Outer.Inner") in String order, from
 * 0. E.g. the file's types a.B, a.B.A, a.B.A.D, a.B.C get 0, 1, 2, 3. The decoder (ProtobufWireFormatDecoder.java)
 * reads CodedInputStream.readUInt32() the same way. Sources: awslabs/aws-glue-schema-registry,
 * serializer-deserializer/src/main/java/com/amazonaws/services/schemaregistry/serializers/protobuf/
 * {ProtobufWireFormatEncoder,MessageIndexFinder}.java (commits c21dc70e, 12d5fcb7).
 *
 * moto 5.2.5's Glue Schema Registry, as found by running it:
 * - CreateRegistry, CreateSchema (AVRO, JSON, PROTOBUF), RegisterSchemaVersion, GetSchemaVersion (by SchemaVersionId,
 *   by number, LatestVersion), GetSchemaByDefinition and GetSchema work with @aws-sdk/client-glue.
 * - No compatibility checks: any definition is accepted as the next version whatever the schema's Compatibility.
 * - No syntax checks for PROTOBUF (any text is accepted); AVRO and JSON definitions must only be valid JSON.
 * - RegisterSchemaVersion of a definition equal to an existing version (JSON-equal for AVRO/JSON, text-equal for
 *   PROTOBUF) returns that version, as Glue does.
 * - At most 10 registries per moto server (default-registry included); CreateSchema without RegistryId creates
 *   default-registry. ListSchemaVersions is not implemented (HTTP 500).
 * - GetSchemaVersion for an unknown ID: EntityNotFoundException. CreatedTime is "YYYY-MM-DD HH:MM:SS.ffffff".
 * - IAM: moto authorizes Glue actions against Resource "*" only (it passes no resource ARN), so a policy scoped to
 *   registry/schema ARNs is denied in moto although AWS would allow it. A denial is HTTP 403 with an XML body, which
 *   the Glue SDK (JSON protocol) reports as a deserialization SyntaxError, not AccessDeniedException.
 */
import { deflateSync, inflateSync } from 'node:zlib';
import { CreateRegistryCommand, CreateSchemaCommand, GlueClient, RegisterSchemaVersionCommand } from '@aws-sdk/client-glue';
import { create, toBinary } from '@bufbuild/protobuf';
import type { DescriptorProto } from '@bufbuild/protobuf/wkt';
import type { AwsCredentials, MotoServer } from './moto.ts';
import { avroType, type ProtoFile } from './registry-values.ts';

export const GLUE_HEADER_VERSION = 3;
export const GLUE_COMPRESSION_NONE = 0;
export const GLUE_COMPRESSION_ZLIB = 5;
export const GLUE_HEADER_BYTES = 18;

export type GlueDataFormat = 'AVRO' | 'JSON' | 'PROTOBUF';
export type GlueCompression = 'none' | 'zlib';
export type GlueCompatibility = 'NONE' | 'DISABLED' | 'BACKWARD' | 'BACKWARD_ALL' | 'FORWARD' | 'FORWARD_ALL' | 'FULL' | 'FULL_ALL';

export interface GlueSchemaVersion {
  registryName: string;
  schemaName: string;
  schemaArn: string;
  dataFormat: GlueDataFormat;
  /** The schema version ID (a UUID): what framed values carry. */
  versionId: string;
  versionNumber: number;
  /** The definition as registered. */
  definition: string;
}

/** A Glue client for moto, as the admin user unless other credentials are given. */
export function glueClient(moto: MotoServer, credentials: AwsCredentials = moto.admin): GlueClient {
  return new GlueClient({ endpoint: moto.endpoint, region: moto.region, credentials, maxAttempts: 1 });
}

export async function createGlueRegistry(glue: GlueClient, registryName: string): Promise<{ registryName: string; registryArn: string }> {
  const r = await glue.send(new CreateRegistryCommand({ RegistryName: registryName }));
  if (!r.RegistryArn) throw new Error(`CreateRegistry ${registryName} returned no ARN`);
  return { registryName, registryArn: r.RegistryArn };
}

/** CreateSchema: the schema and its version 1. */
export async function createGlueSchema(
  glue: GlueClient,
  params: { registryName: string; schemaName: string; dataFormat: GlueDataFormat; definition: string | object; compatibility?: GlueCompatibility },
): Promise<GlueSchemaVersion> {
  const definition = typeof params.definition === 'string' ? params.definition : JSON.stringify(params.definition);
  const r = await glue.send(
    new CreateSchemaCommand({
      RegistryId: { RegistryName: params.registryName },
      SchemaName: params.schemaName,
      DataFormat: params.dataFormat,
      Compatibility: params.compatibility ?? 'BACKWARD',
      SchemaDefinition: definition,
    }),
  );
  if (!r.SchemaArn || !r.SchemaVersionId) throw new Error(`CreateSchema ${params.schemaName} returned ${JSON.stringify(r)}`);
  return {
    registryName: params.registryName,
    schemaName: params.schemaName,
    schemaArn: r.SchemaArn,
    dataFormat: params.dataFormat,
    versionId: r.SchemaVersionId,
    versionNumber: r.LatestSchemaVersion ?? 1,
    definition,
  };
}

/** RegisterSchemaVersion: a further version of a schema (an equal definition returns the existing version). */
export async function registerGlueSchemaVersion(
  glue: GlueClient,
  schema: Pick<GlueSchemaVersion, 'registryName' | 'schemaName' | 'schemaArn' | 'dataFormat'>,
  definition: string | object,
): Promise<GlueSchemaVersion> {
  const text = typeof definition === 'string' ? definition : JSON.stringify(definition);
  const r = await glue.send(
    new RegisterSchemaVersionCommand({ SchemaId: { RegistryName: schema.registryName, SchemaName: schema.schemaName }, SchemaDefinition: text }),
  );
  if (!r.SchemaVersionId || r.VersionNumber == null) throw new Error(`RegisterSchemaVersion ${schema.schemaName} returned ${JSON.stringify(r)}`);
  return { ...schema, versionId: r.SchemaVersionId, versionNumber: r.VersionNumber, definition: text };
}

/** The 16 bytes of a UUID, in the order the Glue serializers write them. */
export function uuidBytes(uuid: string): Buffer {
  const hex = uuid.replace(/-/g, '');
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw new Error(`not a UUID: ${uuid}`);
  return Buffer.from(hex, 'hex');
}

/** Frames data in the Glue wire format: header version 3, compression byte, schema version ID, (compressed) data. */
export function glueFrame(versionId: string, data: Buffer | Uint8Array, compression: GlueCompression = 'none'): Buffer {
  const header = Buffer.alloc(2);
  header[0] = GLUE_HEADER_VERSION;
  header[1] = compression === 'zlib' ? GLUE_COMPRESSION_ZLIB : GLUE_COMPRESSION_NONE;
  return Buffer.concat([header, uuidBytes(versionId), compression === 'zlib' ? deflateSync(data) : Buffer.from(data)]);
}

/** The parts of a Glue-framed value, the data decompressed. */
export function readGlueFrame(bytes: Buffer): { versionId: string; compression: GlueCompression; data: Buffer } {
  if (bytes.length < GLUE_HEADER_BYTES || bytes[0] !== GLUE_HEADER_VERSION) throw new Error(`not Glue wire format: ${bytes.subarray(0, 4).toString('hex')}`);
  if (bytes[1] !== GLUE_COMPRESSION_NONE && bytes[1] !== GLUE_COMPRESSION_ZLIB) throw new Error(`unknown Glue compression byte ${bytes[1]}`);
  const hex = bytes.subarray(2, GLUE_HEADER_BYTES).toString('hex');
  const versionId = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  const rest = bytes.subarray(GLUE_HEADER_BYTES);
  return bytes[1] === GLUE_COMPRESSION_ZLIB ? { versionId, compression: 'zlib', data: inflateSync(rest) } : { versionId, compression: 'none', data: rest };
}

/** An Avro value (longs as BigInt, see AVRO_BIGINT_LONGS) encoded with the version's definition, framed. */
export function glueAvroValue(version: Pick<GlueSchemaVersion, 'versionId' | 'definition'>, value: unknown, compression: GlueCompression = 'none'): Buffer {
  return glueFrame(version.versionId, avroType(version.definition).toBuffer(value), compression);
}

/** A JSON value framed; `{ text }` frames that exact text (for integers beyond 2^53, which JSON.stringify cannot write). */
export function glueJsonValue(versionId: string, value: unknown, compression: GlueCompression = 'none'): Buffer {
  const text = typeof value === 'object' && value !== null && 'text' in value && Object.keys(value).length === 1 ? String((value as { text: unknown }).text) : JSON.stringify(value);
  return glueFrame(versionId, Buffer.from(text, 'utf8'), compression);
}

/**
 * The Glue serializer's message index of a message type (MessageIndexFinder.java): its position among all the file's
 * message types, nested and map-entry types included, sorted by full name.
 */
export function glueProtobufMessageIndex(file: ProtoFile, fullName: string): number {
  const names: string[] = [];
  const pkg = file.proto.package ? `${file.proto.package}.` : '';
  const queue: Array<[string, DescriptorProto]> = file.proto.messageType.map((m) => [`${pkg}${m.name}`, m]);
  while (queue.length > 0) {
    const [name, m] = queue.shift()!;
    names.push(name);
    for (const n of m.nestedType) queue.push([`${name}.${n.name}`, n]);
  }
  names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)); // Java String.compareTo: UTF-16 code units, as JS compares
  const index = names.indexOf(fullName);
  if (index < 0) throw new Error(`${file.name} has no message ${fullName} (has ${names.join(', ')})`);
  return index;
}

/** A Protobuf message (fields as @bufbuild/protobuf's create() takes them) framed as the Glue serializer frames it. */
export function glueProtobufValue(versionId: string, file: ProtoFile, fullName: string, value: Record<string, unknown>, compression: GlueCompression = 'none'): Buffer {
  const desc = file.message(fullName);
  const message = toBinary(desc, create(desc, value as never));
  return glueFrame(versionId, Buffer.concat([varint(glueProtobufMessageIndex(file, fullName)), message]), compression);
}

function varint(n: number): Buffer {
  const out: number[] = [];
  let v = n >>> 0;
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  out.push(v);
  return Buffer.from(out);
}
