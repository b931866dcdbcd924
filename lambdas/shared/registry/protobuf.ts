/**
 * Protobuf values of a registry schema, with protobufjs: the schema's .proto text (and the files it imports, given
 * as schema references) parsed into one root, the message named by the payload's message indexes, decoded from the
 * wire and turned into plain data by the type tree compiled from it.
 *
 * What a message becomes (the decoded value's plain data, then JSON or columns):
 * - every field of the message, in declaration order, by its name in the .proto file;
 * - a field without presence (a proto3 scalar, repeated, map) that is not on the wire: its default (0, "", false,
 *   [], {}); a field with presence (a message, a oneof member, proto3 `optional`, proto2) that is not: null;
 * - 64-bit integers exact; enums by name (a number the enum does not name: its number as text); bytes as bytes;
 *   map keys as text; google.protobuf.Timestamp as an instant; the wrapper types (Int64Value, …) as their value.
 *
 * Message indexes count a file's messages in declaration order, as protoc does for files without map fields in
 * the message that nests the indexed one (protoc adds a nested map-entry message per map field; protobufjs has none).
 */
import protobuf from 'protobufjs';
import descriptor from 'protobufjs/ext/descriptor/index.js';
import { RecordError } from '../errors.ts';
import { MAX_DEPTH, UnionValue, type RField, type RType } from './types.ts';

const WRAPPERS: Record<string, RType> = {
  'google.protobuf.DoubleValue': { kind: 'double' }, 'google.protobuf.FloatValue': { kind: 'float' },
  'google.protobuf.Int64Value': { kind: 'long' }, 'google.protobuf.UInt64Value': { kind: 'long', unsigned: true },
  'google.protobuf.Int32Value': { kind: 'int' }, 'google.protobuf.UInt32Value': { kind: 'long' },
  'google.protobuf.BoolValue': { kind: 'boolean' }, 'google.protobuf.StringValue': { kind: 'string' },
  'google.protobuf.BytesValue': { kind: 'bytes' },
};

const PB_MIN_SECONDS = -62_135_596_800;
const PB_MAX_SECONDS = 253_402_300_799;
const NANOS_MIN_SECONDS = Math.ceil(Number(-(2n ** 63n)) / 1e9) + 1;
const NANOS_MAX_SECONDS = Math.floor(Number(2n ** 63n - 1n) / 1e9) - 1;

const WELL_KNOWN = ['any', 'duration', 'timestamp', 'empty', 'struct', 'wrappers', 'field_mask'].map((f) => `google/protobuf/${f}.proto`);

const SCALARS: Record<string, RType> = {
  double: { kind: 'double' }, float: { kind: 'float' },
  int32: { kind: 'int' }, sint32: { kind: 'int' }, sfixed32: { kind: 'int' },
  uint32: { kind: 'long' }, fixed32: { kind: 'long' },
  int64: { kind: 'long' }, sint64: { kind: 'long' }, sfixed64: { kind: 'long' },
  uint64: { kind: 'long', unsigned: true }, fixed64: { kind: 'long', unsigned: true },
  bool: { kind: 'boolean' }, string: { kind: 'string' }, bytes: { kind: 'bytes' },
};

/** How one field is read from a decoded message. */
interface FieldPlan {
  readonly name: string;
  readonly field: protobuf.Field;
  /** null when absent (explicit presence), else the default the type gives. */
  readonly presence: boolean;
  readonly read: (v: unknown, depth: number) => unknown;
}

export interface ProtobufMessage {
  readonly type: RType;
  decode(payload: Buffer, start: number): unknown;
}

export interface ProtobufSchema {
  /** Confluent: the message of an index path ([0], [1, 2]: top-level and nested messages in declaration order). */
  message(indexes: readonly number[]): ProtobufMessage;
  /**
   * AWS Glue: the message at `index` among every message type of the file (nested ones and protoc's map-entry types
   * included) sorted by full name, as the Glue Schema Registry library writes it (awslabs/aws-glue-schema-registry,
   * serializers/protobuf/MessageIndexFinder.java and ProtobufWireFormatEncoder.java).
   */
  glueMessage(index: number): ProtobufMessage;
}

/** protoc's name for a map field's entry message: the field name in CamelCase, then "Entry" (descriptor.cc). */
function mapEntryName(field: string): string {
  return `${field.replace(/(?:^|_)([a-z0-9]?)/g, (_m, c: string) => c.toUpperCase())}Entry`;
}

function fullNameOf(t: protobuf.ReflectionObject): string {
  return t.fullName.replace(/^\./, '');
}

function longValue(v: unknown, unsigned: boolean): number | bigint {
  if (typeof v === 'number') return v;
  const l = v as { low: number; high: number; unsigned?: boolean };
  const big = (BigInt(l.high >>> 0) << 32n) | BigInt(l.low >>> 0);
  const n = unsigned ? big : BigInt.asIntN(64, big);
  return n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n;
}

function isLongType(type: string): boolean {
  return type === 'int64' || type === 'uint64' || type === 'sint64' || type === 'fixed64' || type === 'sfixed64';
}

/** google/protobuf/*.proto (Timestamp, wrappers, Struct, …), as protoc knows them without an import path. */
function withWellKnown(root: protobuf.Root): protobuf.Root {
  for (const file of WELL_KNOWN) root.addJSON(protobuf.common.get(file)!.nested as never);
  return root;
}

/** A FileDescriptorProto in base64: how a registry may hold a schema a serializer registered as its descriptor. */
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** One message of the schema's own file, with its nested messages in the order its file declares them. */
interface OwnMessage {
  readonly fullName: string;
  readonly nested: readonly OwnMessage[];
  /** protoc's map-entry message: named by indexes, never a value's message. */
  readonly mapEntry: boolean;
}

interface DescriptorMessage { name: string; nestedType?: DescriptorMessage[]; options?: { mapEntry?: boolean } }
interface DescriptorFile { package?: string; messageType?: DescriptorMessage[] }

function descriptorOf(text: string): DescriptorFile | undefined {
  const trimmed = text.trim();
  if (!BASE64.test(trimmed) || trimmed.length % 4 !== 0) return undefined;
  const type = (descriptor as unknown as { FileDescriptorProto: protobuf.Type }).FileDescriptorProto;
  return type.decode(Buffer.from(trimmed, 'base64')) as unknown as DescriptorFile;
}

/**
 * The schema file's own messages. From a descriptor they come with protoc's map-entry messages where it puts them;
 * from .proto text (protobufjs keeps no map-entry messages) those are added after a message's declared nested ones.
 */
function ownMessages(text: string): OwnMessage[] {
  const file = descriptorOf(text);
  if (file) {
    const pkg = file.package ? `${file.package}.` : '';
    const walk = (m: DescriptorMessage, prefix: string): OwnMessage => ({
      fullName: `${prefix}${m.name}`, mapEntry: m.options?.mapEntry === true, nested: (m.nestedType ?? []).map((n) => walk(n, `${prefix}${m.name}.`)),
    });
    return (file.messageType ?? []).map((m) => walk(m, pkg));
  }
  const own = protobuf.parse(text, new protobuf.Root(), { keepCase: true });
  const ns = (own.package ? own.root.lookup(own.package) : own.root) as protobuf.Namespace | null;
  const walk = (t: protobuf.Type): OwnMessage => ({
    fullName: fullNameOf(t), mapEntry: false,
    nested: [
      ...t.nestedArray.filter((n): n is protobuf.Type => n instanceof protobuf.Type).map(walk),
      ...t.fieldsArray.filter((f) => f.map).map((f) => ({ fullName: `${fullNameOf(t)}.${mapEntryName(f.name)}`, mapEntry: true, nested: [] })),
    ],
  });
  return (ns?.nestedArray ?? []).filter((n): n is protobuf.Type => n instanceof protobuf.Type).map(walk);
}

/**
 * Adds one .proto file to `root`: its text, or (what Confluent's `format=serialized` gives and some registries
 * store) its FileDescriptorProto in base64, which protobufjs resolves together with every file `root` holds.
 * Returns the root that holds them all.
 */
function addFile(text: string, root: protobuf.Root): protobuf.Root {
  const file = descriptorOf(text);
  if (!file) {
    protobuf.parse(text, root, { keepCase: true });
    return root;
  }
  root.resolveAll();
  const known = (root as unknown as { toDescriptor(syntax: string): { file: unknown[] } }).toDescriptor('proto3').file;
  return (protobuf.Root as unknown as { fromDescriptor(set: unknown): protobuf.Root }).fromDescriptor({ file: [...known, file] });
}

/**
 * Parses a Protobuf schema. `references` are the files it imports (name → .proto text or descriptor), each added to
 * the same root; google/protobuf's well-known types come from protobufjs. Throws Error when it is not a valid schema.
 */
export function compileProtobuf(text: string, references: ReadonlyMap<string, string> = new Map(), options: { readonly nanosecondColumns?: boolean } = {}): ProtobufSchema {
  let root = withWellKnown(new protobuf.Root());
  for (const [name, ref] of references) {
    if (name.startsWith('google/protobuf/')) continue; // protobufjs's own
    root = addFile(ref, root);
  }
  root = addFile(text, root);
  root.resolveAll();
  const top = ownMessages(text);
  if (top.length === 0) throw new Error('the Protobuf schema defines no message');
  const compiled = new Map<string, ProtobufMessage>();
  const plans = new Map<protobuf.Type, { type: RType; read: (m: unknown, depth: number) => unknown }>();

  const messageOf = (t: protobuf.Type): { type: RType; read: (m: unknown, depth: number) => unknown } => {
    let plan = plans.get(t);
    if (plan) return plan;
    const fields: RField[] = [];
    const fieldPlans: FieldPlan[] = [];
    const type: RType = { kind: 'record', name: fullNameOf(t), fields };
    const read = (m: unknown, depth: number): unknown => {
      if (depth > MAX_DEPTH) throw new RecordError('decode', `value does not decode with its Protobuf schema: messages nest deeper than ${MAX_DEPTH} levels`);
      const msg = m as Record<string, unknown>;
      const out = Object.create(null) as Record<string, unknown>;
      for (const p of fieldPlans) {
        const has = Object.hasOwn(msg, p.name) && msg[p.name] !== null && msg[p.name] !== undefined;
        out[p.name] = has ? p.read(msg[p.name], depth + 1) : p.presence ? null : p.read(p.field.repeated ? [] : p.field.map ? {} : p.field.typeDefault, depth + 1);
      }
      return out;
    };
    plan = { type, read };
    plans.set(t, plan); // before the fields: a message may hold itself
    for (const f of t.fieldsArray) {
      const [ft, reader] = fieldType(f);
      const presence = !f.repeated && !f.map && (f.resolvedType instanceof protobuf.Type || f.partOf !== null && f.partOf !== undefined || f.hasPresence);
      fields.push({ name: f.name, type: presence ? { kind: 'union', branches: [{ kind: 'null' }, ft] } : ft });
      fieldPlans.push({ name: f.name, field: f, presence, read: presence ? (v, d) => new UnionValue(1, reader(v, d)) : reader });
    }
    return plan;
  };

  /** A single (not repeated) value of a field's type, and how to read it. */
  const valueType = (typeName: string, resolved: protobuf.ReflectionObject | null, keyOf = false): [RType, (v: unknown, depth: number) => unknown] => {
    if (resolved instanceof protobuf.Enum) {
      const e = resolved;
      const symbols = Object.keys(e.values);
      return [{ kind: 'enum', name: fullNameOf(e), symbols, open: true }, (v) => e.valuesById[v as number] ?? String(v)];
    }
    if (resolved instanceof protobuf.Type) {
      const name = fullNameOf(resolved);
      if (name === 'google.protobuf.Timestamp') {
        return [{ kind: 'pb-timestamp' }, (v) => {
          const m = v as { seconds?: unknown; nanos?: number };
          const seconds = longValue(m.seconds ?? 0, false);
          const nanos = m.nanos ?? 0;
          // timestamp.proto: seconds within 0001-01-01..9999-12-31, nanos 0..999,999,999; Avro and Parquet columns
          // hold it as int64 nanoseconds: 1677-09-21..2262-04-11.
          const [min, max] = options.nanosecondColumns ? [NANOS_MIN_SECONDS, NANOS_MAX_SECONDS] : [PB_MIN_SECONDS, PB_MAX_SECONDS];
          if (seconds < min || seconds > max || nanos < 0 || nanos > 999_999_999) {
            throw new RecordError('decode', `a google.protobuf.Timestamp of ${seconds} s ${nanos} ns is outside ${options.nanosecondColumns ? 'the years 1677–2262 a nanosecond timestamp column holds' : 'what timestamp.proto allows (0001–9999)'}`);
          }
          return { seconds, nanos };
        }];
      }
      const wrapped = WRAPPERS[name];
      if (wrapped) {
        return [wrapped, (v) => {
          const x = (v as { value?: unknown }).value;
          return wrapped.kind === 'long' ? longValue(x ?? 0, wrapped.unsigned === true) : wrapped.kind === 'bytes' ? Buffer.from((x as Uint8Array) ?? []) : x ?? (wrapped.kind === 'string' ? '' : wrapped.kind === 'boolean' ? false : 0);
        }];
      }
      const m = messageOf(resolved);
      return [m.type, (v, d) => m.read(v, d)];
    }
    const scalar = SCALARS[typeName];
    if (!scalar) throw new Error(`Protobuf type "${typeName}" is not known`);
    if (isLongType(typeName)) {
      const unsigned = typeName.startsWith('u') || typeName === 'fixed64';
      // Map keys of 64 bits come as protobufjs's 8-character hashes.
      if (keyOf) return [scalar, (v) => longValue(protobuf.util.longFromHash(v as string, unsigned), unsigned)];
      return [scalar, (v) => longValue(v, unsigned)];
    }
    if (typeName === 'bytes') return [scalar, (v) => Buffer.from(v as Uint8Array)];
    return [scalar, (v) => v];
  };

  const fieldType = (f: protobuf.Field): [RType, (v: unknown, depth: number) => unknown] => {
    if (f.map) {
      const mf = f as unknown as protobuf.MapField;
      const [vt, readValue] = valueType(mf.type, mf.resolvedType);
      const [, readKey] = valueType(mf.keyType, null, true);
      return [{ kind: 'map', values: vt }, (v, d) => {
        const out = Object.create(null) as Record<string, unknown>;
        for (const k of Object.keys(v as object)) out[String(readKey(k, d))] = readValue((v as Record<string, unknown>)[k], d);
        return out;
      }];
    }
    const [vt, read] = valueType(f.type, f.resolvedType);
    if (!f.repeated) return [vt, read];
    return [{ kind: 'array', items: vt }, (v, d) => (v as unknown[]).map((x) => read(x, d))];
  };

  const compileType = (key: string, type: protobuf.Type): ProtobufMessage => {
    let c = compiled.get(key);
    if (c) return c;
    const m = messageOf(type);
    c = {
      type: m.type,
      decode: (payload, start) => {
        let msg: protobuf.Message;
        try {
          msg = type.decode(payload.subarray(start));
        } catch (err) {
          throw new RecordError('decode', `value does not decode with its Protobuf schema (${fullNameOf(type)}): ${(err as Error).message}`);
        }
        return m.read(msg, 0);
      },
    };
    compiled.set(key, c);
    return c;
  };

  const lookup = (m: OwnMessage, what: string): protobuf.Type => {
    if (m.mapEntry) throw new RecordError('decode', `Protobuf ${what} names ${m.fullName}, a map entry, not a message a value can be`);
    try {
      return root.lookupType(m.fullName);
    } catch (err) {
      throw new RecordError('decode', `Protobuf ${what} names ${m.fullName}, which the schema does not resolve (${(err as Error).message})`);
    }
  };

  // Glue's index: every message type of the file by full name, protoc's map-entry types included.
  let glueOrder: OwnMessage[] | undefined;
  const sortedMessages = (): OwnMessage[] => {
    if (glueOrder) return glueOrder;
    const all: OwnMessage[] = [];
    const walk = (m: OwnMessage): void => {
      all.push(m);
      m.nested.forEach(walk);
    };
    top.forEach(walk);
    glueOrder = all.sort((x, y) => (x.fullName < y.fullName ? -1 : x.fullName > y.fullName ? 1 : 0));
    return glueOrder;
  };

  return {
    message(indexes) {
      const key = indexes.join('.');
      const known = compiled.get(key);
      if (known) return known;
      let list: readonly OwnMessage[] = top;
      let m: OwnMessage | undefined;
      for (const i of indexes) {
        m = list[i];
        if (m === undefined) throw new RecordError('decode', `Protobuf message indexes [${indexes.join(', ')}] name no message of the schema`);
        list = m.nested;
      }
      return compileType(key, lookup(m!, `message indexes [${indexes.join(', ')}]`));
    },
    glueMessage(index) {
      const key = `glue:${index}`;
      const known = compiled.get(key);
      if (known) return known;
      const all = sortedMessages();
      if (index >= all.length) throw new RecordError('decode', `Protobuf message index ${index} names no message of the schema (it has ${all.length})`);
      return compileType(key, lookup(all[index], `message index ${index}`));
    },
  };
}
