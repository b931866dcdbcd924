/**
 * JSON Schema values of a registry: each value validated against its schema (Ajv, the draft its `$schema` names:
 * 2020-12, 2019-09, else draft-07), and the schema mapped to a type tree so avro, parquet and csv get the registry's
 * columns as for Avro and Protobuf.
 *
 * Patterns (`pattern`, `patternProperties`) run on RE2 (re2js): linear time whatever a producer's schema or value
 * holds; a pattern RE2 cannot run (lookaround, backreferences) makes the schema unreadable (its values are dead
 * letters naming it). Formats are checked by ajv-formats. Remote `$ref`s are not fetched: a schema's references come
 * from the registry (schema references), by name.
 *
 * The mapping: an object with `properties` → a record of those fields in their order (a field not `required`, or
 * whose type allows null, is nullable); an object with only `additionalProperties` → a map; an array with one
 * `items` schema → an array; integer → long; number → double; boolean; string → string, with `format` date-time →
 * timestamp-micros, date → date; a `oneOf`/`anyOf` of null and one schema → that schema, nullable; anything else
 * (other unions, `allOf`, no type) → its JSON text.
 */
import { Ajv, type AnySchema, type ValidateFunction } from 'ajv';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { Ajv2020 } from 'ajv/dist/2020.js';
import AjvDraft04Module from 'ajv-draft-04';
import addFormatsModule from 'ajv-formats';
import { RE2JS } from 're2js';
import { RecordError } from '../errors.ts';
import { JsonText } from '../json.ts';
import { logicalInRange, type RField, type RType } from './types.ts';

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;
const AjvDraft04 = AjvDraft04Module as unknown as typeof Ajv;

/**
 * ECMA-262 pattern syntax RE2 spells otherwise: \uXXXX (RE2: \x{XXXX}), [^] (any character), \cX (a control
 * character). Lookaround and backreferences stay refused (RE2 cannot run them in linear time).
 */
function toRe2(pattern: string): string {
  return pattern
    .replace(/\\u([0-9A-Fa-f]{4})/g, '\\x{$1}')
    .replaceAll('[^]', '[\\s\\S]')
    .replace(/\\c([A-Za-z])/g, (_m, c: string) => `\\x{${(c.toUpperCase().charCodeAt(0) % 32).toString(16).padStart(2, '0')}}`);
}

/** Ajv's RegExp engine on RE2. */
const re2Engine = Object.assign((pattern: string) => {
  const re = RE2JS.compile(toRe2(pattern));
  return { test: (s: string) => re.test(s) };
}, { code: 're2' });

export interface JsonSchemaCompiled {
  /** null when the value holds to the schema, else the first problem. */
  readonly validate: (value: unknown) => string | null;
  /** The record type of the schema's values, when the schema is an object with properties (their columns). */
  readonly type?: Extract<RType, { kind: 'record' }>;
}

type Schema = Record<string, unknown> | boolean;

/** JSON text with object keys sorted: equal JSON values (as uniqueItems means equal) give equal text. */
function canonical(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`).join(',')}}`;
}

function ajvFor(schema: unknown): Ajv {
  const draft = typeof (schema as { $schema?: unknown })?.$schema === 'string' ? String((schema as { $schema: string }).$schema) : '';
  // multipleOfPrecision: 0.07 is a multiple of 0.01 (as a Java validator's BigDecimal says), whatever doubles say.
  const opts = { strict: false, allErrors: false, code: { regExp: re2Engine }, validateSchema: false, multipleOfPrecision: 9 } as const;
  const ajv = (draft.includes('2020-12') ? new Ajv2020(opts) : draft.includes('2019-09') ? new Ajv2019(opts)
    : draft.includes('draft-04') ? new AjvDraft04(opts) : new Ajv(opts)) as Ajv;
  addFormats(ajv);
  // Ajv's uniqueItems compares every pair of object items (quadratic: minutes for one large array); a set of
  // canonical texts is linear in the array's size.
  ajv.removeKeyword('uniqueItems');
  ajv.addKeyword({
    keyword: 'uniqueItems', type: 'array', schemaType: 'boolean', errors: false,
    validate: (unique: boolean, data: unknown[]) => {
      if (!unique) return true;
      const texts = new Set<string>();
      for (const item of data) {
        const text = canonical(item);
        if (texts.has(text)) return false;
        texts.add(text);
      }
      return true;
    },
  });
  // Ajv's enum compares a value with each symbol in turn: a set of canonical texts answers at once.
  ajv.removeKeyword('enum');
  ajv.addKeyword({
    keyword: 'enum', schemaType: 'array', errors: false,
    compile: (symbols: unknown[]) => {
      const texts = new Set(symbols.map(canonical));
      return (data: unknown) => texts.has(canonical(data));
    },
  });
  return ajv;
}

const MAX_COMBINATOR_DEPTH = 16;

/** How deep a parsed JSON value nests (iteratively: no stack to exhaust). */
function depthOf(v: unknown): number {
  let max = 0;
  const stack: [unknown, number][] = [[v, 0]];
  while (stack.length > 0) {
    const [x, d] = stack.pop()!;
    if (x === null || typeof x !== 'object') continue;
    if (d + 1 > max) max = d + 1;
    if (max > MAX_COMBINATOR_DEPTH) return max;
    for (const c of Array.isArray(x) ? x : Object.values(x)) stack.push([c, d + 1]);
  }
  return max;
}

/** Compiles a JSON Schema (text) and its references (name → text). Throws Error when it cannot be used. */
export function compileJsonSchema(text: string, references: readonly { readonly name: string; readonly text: string }[] = []): JsonSchemaCompiled {
  const schema = JSON.parse(text) as Schema;
  const ajv = ajvFor(schema);
  const refs = new Map<string, Schema>();
  for (const r of references) {
    const s = JSON.parse(r.text) as Schema;
    refs.set(r.name, s);
    ajv.addSchema(s as AnySchema, r.name);
  }
  let fn: ValidateFunction;
  try {
    fn = ajv.compile(schema as AnySchema);
  } catch (err) {
    throw new Error(`Ajv cannot use it: ${(err as Error).message}`);
  }
  // oneOf/anyOf try every branch at each level a value nests: a schema whose branches lead back to themselves (or
  // through a DAG of $refs) costs 2^depth for a value a few hundred bytes long. Such schemas take values nested at
  // most MAX_COMBINATOR_DEPTH levels (2^16 branch checks at worst).
  const combinators = [text, ...references.map((r) => r.text)].some((t) => /"(oneOf|anyOf)"\s*:/.test(t));
  const validate = (value: unknown): string | null => {
    if (combinators && depthOf(value) > MAX_COMBINATOR_DEPTH) {
      return `the value nests deeper than ${MAX_COMBINATOR_DEPTH} levels, the most a schema with oneOf/anyOf is checked for`;
    }
    if (fn(value)) return null;
    const text = ajv.errorsText(fn.errors, { separator: '; ', dataVar: 'value' });
    return text.length > 300 ? `${text.slice(0, 297)}...` : text;
  };
  const t = typeOf(schema, schema, refs, 'JsonValue', { open: new Set(), done: new Map(), names: new Set(), nodes: 0 });
  return { validate, ...(t.kind === 'record' ? { type: t } : {}) };
}

/** A local JSON pointer (#/definitions/X, #/$defs/X) or a reference's name. */
function resolveRef(ref: string, root: Schema, refs: ReadonlyMap<string, Schema>): Schema | undefined {
  if (refs.has(ref)) return refs.get(ref);
  if (!ref.startsWith('#')) return undefined;
  let at: unknown = root;
  for (const part of ref.slice(1).split('/').filter(Boolean)) {
    if (at === null || typeof at !== 'object') return undefined;
    at = (at as Record<string, unknown>)[decodeURIComponent(part).replaceAll('~1', '/').replaceAll('~0', '~')];
  }
  return at as Schema | undefined;
}

const JSON_TYPE: RType = { kind: 'json' };
const nullable = (t: RType): RType => (t.kind === 'union' && t.branches.some((b) => b.kind === 'null') ? t : { kind: 'union', branches: [{ kind: 'null' }, t] });
const avroName = (s: string) => s.replace(/[^A-Za-z0-9_]/g, '_').replace(/^([0-9])/, '_$1');

/**
 * What the mapping has seen: the schemas being mapped (a schema met again inside itself is JSON text: recursion,
 * through records, arrays, maps or references alike), the types of schemas already mapped (a schema referred to from
 * many places is mapped once: `$ref`s that form a DAG would otherwise cost 2^depth), and a bound on the work.
 */
interface Seen {
  readonly open: Set<Schema>;
  readonly done: Map<Schema, RType>;
  /** Record names given out: each record is named once (Avro names a record's type by it). */
  readonly names: Set<string>;
  nodes: number;
}

/** Schema nodes one schema may map to columns; beyond, the rest is JSON text. */
const MAX_NODES = 10_000;

function typeOf(s: Schema, root: Schema, refs: ReadonlyMap<string, Schema>, name: string, seen: Seen): RType {
  if (typeof s !== 'object' || s === null) return JSON_TYPE;
  const known = seen.done.get(s);
  if (known) return known;
  if (seen.open.has(s) || ++seen.nodes > MAX_NODES) return JSON_TYPE;
  seen.open.add(s);
  try {
    const t = mapSchema(s, root, refs, name, seen);
    seen.done.set(s, t);
    return t;
  } finally {
    seen.open.delete(s);
  }
}

function mapSchema(s: Record<string, unknown>, root: Schema, refs: ReadonlyMap<string, Schema>, name: string, seen: Seen): RType {
  if (typeof s.$ref === 'string') {
    const target = resolveRef(s.$ref, root, refs);
    if (target === undefined) return JSON_TYPE;
    return typeOf(target, refs.has(s.$ref) ? target : root, refs, name, seen);
  }
  for (const key of ['oneOf', 'anyOf'] as const) {
    const list = s[key];
    if (!Array.isArray(list)) continue;
    const others = list.filter((b) => !(b && typeof b === 'object' && (b as Record<string, unknown>).type === 'null'));
    return others.length === 1 && list.length === 2 ? nullable(typeOf(others[0] as Schema, root, refs, name, seen)) : JSON_TYPE;
  }
  if (s.allOf !== undefined || s.not !== undefined || s.if !== undefined) return JSON_TYPE;
  let types = Array.isArray(s.type) ? (s.type as string[]) : typeof s.type === 'string' ? [s.type] : [];
  if (types.length === 0 && Array.isArray(s.enum) && s.enum.every((v) => typeof v === 'string')) types = ['string'];
  const withNull = types.includes('null');
  const rest = types.filter((t) => t !== 'null');
  if (rest.length !== 1) return withNull && rest.length === 0 ? { kind: 'null' } : JSON_TYPE;
  let t: RType;
  switch (rest[0]) {
    case 'integer': t = { kind: 'long' }; break;
    case 'number': t = { kind: 'double' }; break;
    case 'boolean': t = { kind: 'boolean' }; break;
    case 'string':
      t = s.format === 'date-time' ? { kind: 'long', logical: { kind: 'timestamp-micros' } }
        : s.format === 'date' ? { kind: 'int', logical: { kind: 'date' } } : { kind: 'string' };
      break;
    case 'array':
      // A tuple (prefixItems, or items as a list) has items of several types: its JSON text.
      t = s.items && typeof s.items === 'object' && !Array.isArray(s.items) && s.prefixItems === undefined
        ? { kind: 'array', items: typeOf(s.items as Schema, root, refs, `${name}_item`, seen) } : JSON_TYPE;
      break;
    case 'object': {
      const props = s.properties && typeof s.properties === 'object' ? (s.properties as Record<string, Schema>) : undefined;
      if (!props || Object.keys(props).length === 0) {
        const extra = s.additionalProperties;
        t = extra && typeof extra === 'object' ? { kind: 'map', values: typeOf(extra as Schema, root, refs, `${name}_value`, seen) } : JSON_TYPE;
        break;
      }
      const required = new Set(Array.isArray(s.required) ? (s.required as string[]) : []);
      const fields: RField[] = [];
      let recName = avroName(typeof s.title === 'string' && name === 'JsonValue' ? s.title : name);
      for (let n = 2; seen.names.has(recName); n++) recName = `${avroName(name)}_${n}`;
      seen.names.add(recName);
      const rec: RType = { kind: 'record', name: recName, fields };
      for (const [field, sub] of Object.entries(props)) {
        const ft = typeOf(sub, root, refs, `${name}_${avroName(field)}`, seen);
        fields.push({ name: field, type: required.has(field) ? ft : nullable(ft) });
      }
      t = rec;
      break;
    }
    default: return JSON_TYPE;
  }
  return withNull ? nullable(t) : t;
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** A parsed JSON value (exact numbers: json.ts parseJsonExact) as plain data of its schema's type. */
export function valueOf(t: RType, v: unknown, path: string): unknown {
  if (v === null || v === undefined) return null;
  switch (t.kind) {
    case 'union': {
      const i = t.branches.findIndex((b) => b.kind !== 'null');
      return valueOf(t.branches[i], v, path);
    }
    case 'record': {
      const o = v as Record<string, unknown>;
      const out = Object.create(null) as Record<string, unknown>;
      for (const f of t.fields) out[f.name] = Object.hasOwn(o, f.name) ? valueOf(f.type, o[f.name], `${path}.${f.name}`) : null;
      return out;
    }
    case 'map': {
      const out = Object.create(null) as Record<string, unknown>;
      for (const k of Object.keys(v as object)) out[k] = valueOf(t.values, (v as Record<string, unknown>)[k], `${path}.${k}`);
      return out;
    }
    case 'array': return (v as unknown[]).map((x, i) => valueOf(t.items, x, `${path}[${i}]`));
    case 'long': {
      if (t.logical?.kind === 'timestamp-micros') return micros(v as string, path);
      if (typeof v === 'bigint' && (v < INT64_MIN || v > INT64_MAX)) throw new RecordError('schema', `${path} ${v} is beyond a 64-bit integer column`);
      if (typeof v !== 'number' && typeof v !== 'bigint') throw new RecordError('schema', `${path} is beyond a 64-bit integer column`);
      return v;
    }
    case 'int': {
      const days = Date.parse(`${v as string}T00:00:00Z`) / 86_400_000;
      if (!Number.isInteger(days) || !logicalInRange('date', days)) throw new RecordError('schema', `${path} ${JSON.stringify(String(v).slice(0, 40))} is not a date readers hold (years 0001–9999)`);
      return days;
    }
    case 'double':
      if (typeof v !== 'number') throw new RecordError('schema', `${path} ${String(typeof v === 'bigint' ? v : (v as { rawJSON: string }).rawJSON)} is not exactly a double (its digits would be lost; a string or integer field keeps them)`);
      return v;
    case 'json': return v instanceof JsonText ? JSON.parse(v.text) : v;
    default: return v;
  }
}

/** An RFC 3339 date-time as microseconds since the epoch (UTC). */
function micros(text: string, path: string): bigint {
  // Offsets as RFC 3339 writes them (+01:00), and as Ajv's date-time also takes them (+0100, +01).
  const m = /^(\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:)(\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}(?::?\d{2})?)$/.exec(text);
  // A leap second (:60, which RFC 3339 allows) is the instant after :59, as the systems that count no leap seconds read it.
  const leap = m?.[2] === '60';
  const zone = m ? (/^[+-]\d{2}$/.test(m[4]) ? `${m[4]}:00` : m[4].length === 5 ? `${m[4].slice(0, 3)}:${m[4].slice(3)}` : m[4].toUpperCase()) : '';
  const ms = m ? Date.parse(`${m[1].replace(/[t ]/, 'T')}${leap ? '59' : m[2]}${zone}`) + (leap ? 1000 : 0) : NaN;
  if (!m || Number.isNaN(ms) || !logicalInRange('timestamp-millis', ms)) {
    throw new RecordError('schema', `${path} ${JSON.stringify(text.slice(0, 40))} is not an RFC 3339 date-time readers hold (years 0001–9999)`);
  }
  return BigInt(ms) * 1000n + BigInt((m[3] ?? '').slice(0, 6).padEnd(6, '0'));
}
