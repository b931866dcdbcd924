/**
 * Registry wire formats: how a producer's serializer frames a value (or key) so a consumer can find its schema.
 *
 * - Confluent Schema Registry (and compatible registries: Apicurio's ccompat API, Karapace, Redpanda):
 *   byte 0 = 0 (magic), bytes 1–4 = the schema ID (big-endian int32), then the payload. For Protobuf the payload
 *   starts with the message indexes: which message of the schema's file the payload holds, as a zigzag varint count
 *   followed by that many zigzag varint indexes (a path through nested messages); the single byte 0 is short for [0],
 *   the file's first message. https://docs.confluent.io/platform/current/schema-registry/fundamentals/serdes-develop/index.html#wire-format
 * - AWS Glue Schema Registry: byte 0 = 3 (header version), byte 1 = compression (0 none, 5 zlib), bytes 2–17 = the
 *   schema version UUID, then the payload, zlib-compressed when byte 1 is 5
 *   (awslabs/aws-glue-schema-registry: AWSSchemaRegistryConstants, AWSSerializer/AWSDeserializer).
 *
 * A value that is not framed this way is a record problem (dead letter), never a failed batch.
 */
import zlib from 'node:zlib';
import { RecordError } from '../errors.ts';

export type RegistryKind = 'confluent' | 'glue';

export interface Framed {
  /** The schema's identity in its registry: the decimal schema ID (Confluent) or the schema version UUID (Glue). */
  readonly schemaId: string;
  /** The serialized value without the framing (decompressed for Glue). */
  readonly payload: Buffer;
  /** Confluent Protobuf only: where the payload reads its message indexes (they are parsed with the schema). */
  readonly offset: number;
}

export const CONFLUENT_MAGIC = 0;
export const GLUE_HEADER_VERSION = 3;
export const GLUE_COMPRESSION_NONE = 0;
export const GLUE_COMPRESSION_ZLIB = 5;
const GLUE_HEADER_BYTES = 18;
/** A Glue payload inflates to this many bytes at most unless told less: a zlib bomb is refused. */
const MAX_INFLATED_BYTES = 16 * 1024 * 1024;

function hex(b: number): string {
  return `0x${b.toString(16).padStart(2, '0')}`;
}

function uuidOf(b: Buffer): string {
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/** The schema identity in a framed value's header (nothing decompressed), or undefined when it is not framed. */
export function schemaIdOf(kind: RegistryKind, bytes: Buffer): string | undefined {
  if (kind === 'confluent') return bytes.length >= 5 && bytes[0] === CONFLUENT_MAGIC ? String(bytes.readInt32BE(1)) : undefined;
  return bytes.length >= GLUE_HEADER_BYTES && bytes[0] === GLUE_HEADER_VERSION ? uuidOf(bytes.subarray(2, GLUE_HEADER_BYTES)) : undefined;
}

/**
 * Reads the framing of `bytes` (a value or key: `what` names it in reasons); a zlib payload may inflate to
 * `maxInflate` bytes at most. Throws RecordError('decode').
 */
export function unframe(kind: RegistryKind, bytes: Buffer, what: string, maxInflate = MAX_INFLATED_BYTES): Framed {
  if (kind === 'confluent') {
    if (bytes.length < 5 || bytes[0] !== CONFLUENT_MAGIC) {
      throw new RecordError('decode', bytes.length === 0
        ? `${what} is empty, not framed for the schema registry (magic byte 0, 4-byte schema ID, payload)`
        : bytes[0] !== CONFLUENT_MAGIC
          ? `${what} is not framed for the schema registry: first byte ${hex(bytes[0])}, expected the magic byte 0x00 (was it written by a schema-registry serializer?)`
          : `${what} is ${bytes.length} bytes, too short for the schema registry's framing (magic byte 0, 4-byte schema ID)`);
    }
    return { schemaId: String(bytes.readInt32BE(1)), payload: bytes, offset: 5 };
  }
  if (bytes.length < GLUE_HEADER_BYTES || bytes[0] !== GLUE_HEADER_VERSION) {
    throw new RecordError('decode', bytes.length > 0 && bytes[0] !== GLUE_HEADER_VERSION
      ? `${what} is not framed for the AWS Glue Schema Registry: first byte ${hex(bytes[0])}, expected the header version 0x03`
      : `${what} is ${bytes.length} bytes, too short for the AWS Glue Schema Registry header (18 bytes)`);
  }
  const schemaId = uuidOf(bytes.subarray(2, GLUE_HEADER_BYTES));
  const body = bytes.subarray(GLUE_HEADER_BYTES);
  if (bytes[1] === GLUE_COMPRESSION_NONE) return { schemaId, payload: body, offset: 0 };
  if (bytes[1] !== GLUE_COMPRESSION_ZLIB) {
    throw new RecordError('decode', `${what} has AWS Glue Schema Registry compression byte ${hex(bytes[1])}; known: 0x00 (none), 0x05 (zlib)`);
  }
  try {
    if (maxInflate <= 0) throw new Error('the batch\'s compressed values inflated past its budget already');
    return { schemaId, payload: zlib.inflateSync(body, { maxOutputLength: maxInflate }), offset: 0 };
  } catch (err) {
    throw new RecordError('decode', `${what} is zlib-compressed (AWS Glue Schema Registry) but does not inflate within ${maxInflate} bytes: ${(err as Error).message}`);
  }
}

/** A zigzag varint (protobuf sint32) at `at`; returns the value and the offset after it. */
function readZigzag(buf: Buffer, at: number): [number, number] {
  let result = 0;
  let shift = 0;
  for (;;) {
    if (at >= buf.length) throw new RecordError('decode', 'Protobuf message indexes end before the payload does');
    const b = buf[at++];
    result |= (b & 0x7f) << shift;
    if ((b & 0x80) === 0) break;
    shift += 7;
    if (shift > 28) throw new RecordError('decode', 'Protobuf message indexes hold a varint longer than 5 bytes');
  }
  return [(result >>> 1) ^ -(result & 1), at];
}

/** Message indexes that are plausible: a file holds fewer messages than this at any depth. */
const MAX_INDEX_DEPTH = 32;

/** Confluent Protobuf: the message indexes at `offset`, and where the message bytes start. */
export function readMessageIndexes(payload: Buffer, offset: number): { indexes: number[]; start: number } {
  let [count, at] = readZigzag(payload, offset);
  if (count === 0) return { indexes: [0], start: at };
  if (count < 0 || count > MAX_INDEX_DEPTH) throw new RecordError('decode', `Protobuf message index count ${count} is not a path into a schema (0..${MAX_INDEX_DEPTH})`);
  const indexes: number[] = [];
  for (let i = 0; i < count; i++) {
    let v: number;
    [v, at] = readZigzag(payload, at);
    if (v < 0) throw new RecordError('decode', `Protobuf message index ${v} is negative`);
    indexes.push(v);
  }
  return { indexes, start: at };
}

/**
 * AWS Glue Protobuf: one unsigned varint before the message, its index among the file's message types sorted by
 * full name (awslabs/aws-glue-schema-registry: serializers/protobuf/ProtobufWireFormatEncoder.java writes it with
 * writeUInt32NoTag; deserializers/protobuf/ProtobufWireFormatDecoder.java reads it with readUInt32).
 */
export function readGlueMessageIndex(payload: Buffer, offset: number): { index: number; start: number } {
  let index = 0;
  let shift = 0;
  let at = offset;
  for (;;) {
    if (at >= payload.length) throw new RecordError('decode', 'the Protobuf message index ends before the payload does');
    const b = payload[at++];
    index += (b & 0x7f) * 2 ** shift;
    if ((b & 0x80) === 0) break;
    shift += 7;
    if (shift > 28) throw new RecordError('decode', 'the Protobuf message index is a varint longer than 5 bytes');
  }
  return { index, start: at };
}
