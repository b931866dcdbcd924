/**
 * The value columns of `input` when no AVRO_SCHEMA gives them: inferred so that what a record's row holds does not
 * depend on which other records share its batch (README, "Transform with SQL", inferred columns).
 *
 * Each record's top-level fields get a kind from their JSON (string, integer, decimal number, boolean, object, array,
 * or a number no DuckDB number type holds exactly, kept as JSON). Records whose kinds disagree on a field (a string
 * here, a number there; "a" here, "A" there) never share a run of the statement: the batch is split into groups whose
 * kinds agree, so a column's type is the one its records' JSON says, not one a neighbour forced (JSON for a mix).
 * Integers and decimal numbers do agree: the column is then DOUBLE, as every JSON reader does. Objects and arrays get
 * their nested types from DuckDB (json_group_structure) over the run's records.
 */
import { RecordError } from '../errors.ts';
import { Limits } from '../constants.ts';
import { topLevelSpans } from '../json-validate.ts';
import { exactNumberOf, parseJsonExact } from '../json.ts';

export type Kind = 'string' | 'int' | 'float' | 'boolean' | 'object' | 'array' | 'null' | 'json';
export interface Field {
  readonly name: string;
  readonly kind: Kind;
}

/** At most this many groups per batch; records that agree with none share the last (their conflicting columns then
 * hold JSON: README). A hostile batch cannot make a run per record. */
export const MAX_GROUPS = 16;

/** A nested object with more distinct keys than this across a run is a JSON column (an object used as a map: as a
 * STRUCT every row would carry every key of the run). */
export const MAX_NESTED_KEYS = 100;

const INT64_MAX = 9_223_372_036_854_775_807n;

/** The top-level fields of a JSON object value, from the spans checkJson(…, true, true) just recorded. */
export function fieldsOf(raw: Buffer, names: readonly string[], risky: boolean): readonly Field[] {
  if (names.length > Limits.maxInferredFields) {
    throw new RecordError('schema', `value has ${names.length} fields, over ${Limits.maxInferredFields} columns (give AVRO_SCHEMA, or read _kafka_value)`);
  }
  const spans = topLevelSpans();
  // Records of a batch mostly share their names (checkJson then gives the same list) and kinds: they share one list
  // of fields, which the grouping then sees once.
  let same = names === last.names;
  const kinds = same ? scratch : new Array<Kind>(names.length);
  for (let j = 0; j < names.length; j++) {
    if (names[j] === '') throw new RecordError('convert', 'value has a field with an empty name, which no column can have (read _kafka_value)');
    const k = j * 4;
    const first = spans[k], s = spans[k + 1], e = spans[k + 2], odd = spans[k + 3] !== 0;
    let kind: Kind;
    switch (first) {
      case 0x22: kind = 'string'; break;
      case 0x74: case 0x66: kind = 'boolean'; break;
      case 0x6e: kind = 'null'; break;
      case 0x7b: case 0x5b:
        kind = risky && holdsInexact(parseJsonExact(raw.toString('utf8', s, e), true)) ? 'json' : first === 0x7b ? 'object' : 'array';
        break;
      default: kind = numberKind(raw, s, e, odd);
    }
    kinds[j] = kind;
    if (same && last.fields[j].kind !== kind) same = false;
  }
  if (same) return last.fields;
  const fields = names.map((name, j) => ({ name, kind: kinds[j] }));
  last = { names, fields };
  scratch = new Array<Kind>(names.length);
  return fields;
}
let last: { names: readonly string[]; fields: readonly Field[] } = { names: [], fields: [] };
let scratch: Kind[] = [];

function numberKind(raw: Buffer, s: number, e: number, odd: boolean): Kind {
  let integer = true;
  for (let i = s; i < e; i++) if (raw[i] === 0x2e || raw[i] === 0x65 || raw[i] === 0x45) integer = false;
  if (integer) {
    const text = raw.toString('latin1', s, e);
    const big = BigInt(text);
    return big <= INT64_MAX && big >= -INT64_MAX - 1n ? 'int' : 'json';
  }
  // A decimal a double holds as written, or one it would round (more digits, or beyond its range): kept exact.
  return !odd || !JSON.isRawJSON(exactNumberOf(raw.toString('latin1', s, e))) ? 'float' : 'json';
}

/** Whether a parsed value holds a number beyond a double's exactness that is not a 64-bit integer. */
function holdsInexact(v: unknown): boolean {
  if (typeof v === 'bigint') return false;
  if (JSON.isRawJSON(v)) return true;
  if (Array.isArray(v)) return v.some(holdsInexact);
  if (v !== null && typeof v === 'object') return Object.values(v).some(holdsInexact);
  return false;
}

const agree = (a: Kind, b: Kind) => a === b || a === 'null' || b === 'null' || (a === 'int' && b === 'float') || (a === 'float' && b === 'int');

/** Each record's group: the first whose fields agree with its own (same name in any letter case → same spelling and
 * agreeing kinds). Records without fields (not read as columns) are all in group 0. */
export function groupOf(fields: readonly (readonly Field[] | undefined)[]): number[] {
  const groups: Map<string, Field>[] = [];
  const out = new Array<number>(fields.length);
  for (let i = 0; i < fields.length; i++) {
    const list = fields[i];
    if (list === undefined) {
      out[i] = 0;
      continue;
    }
    if (i > 0 && list === fields[i - 1]) {
      out[i] = out[i - 1]; // the same fields as the record before: its group, already holding them
      continue;
    }
    let g = groups.findIndex((known) => list.every((f) => {
      const k = known.get(f.name.toLowerCase());
      return k === undefined || (k.name === f.name && agree(k.kind, f.kind));
    }));
    if (g === -1) {
      if (groups.length < MAX_GROUPS) g = groups.push(new Map()) - 1;
      else g = groups.length - 1;
    }
    const known = groups[g];
    for (const f of list) {
      const k = known.get(f.name.toLowerCase());
      if (k === undefined || k.kind === 'null' || (k.kind === 'int' && f.kind === 'float')) known.set(f.name.toLowerCase(), f);
    }
    out[i] = g;
  }
  return out;
}

const SCALAR: Partial<Record<Kind, string>> = { string: 'VARCHAR', int: 'BIGINT', float: 'DOUBLE', boolean: 'BOOLEAN', json: 'JSON', null: 'JSON' };

/**
 * The top-level columns of one run (its records' fields): the name as the records spell it and its type, or
 * 'nested' for objects and arrays (typed by DuckDB). Where the run still mixes kinds (the last group of a hostile
 * batch), the column is JSON. `wanted`: whether a column (lower case) is read at all.
 */
export function runColumns(fields: readonly (readonly Field[] | undefined)[], wanted: (lower: string) => boolean): Map<string, string> {
  const out = new Map<string, { name: string; kind: Kind | 'mixed' }>();
  for (const list of new Set(fields)) {
    if (list === undefined) continue;
    for (const f of list) {
      const lower = f.name.toLowerCase();
      if (!wanted(lower)) continue;
      const k = out.get(lower);
      if (k === undefined) out.set(lower, { name: f.name, kind: f.kind });
      else if (k.name !== f.name) k.kind = 'mixed';
      else if (k.kind !== 'mixed' && !agree(k.kind, f.kind)) k.kind = 'mixed';
      else if (k.kind === 'null' || (k.kind === 'int' && f.kind === 'float')) k.kind = f.kind;
    }
  }
  const columns = new Map<string, string>();
  for (const { name, kind } of out.values()) {
    if (kind === 'mixed') {
      // Two spellings of one name (a, A): DuckDB's names ignore case, so one column, the first spelling, as JSON.
      if (![...columns.keys()].some((n) => n.toLowerCase() === name.toLowerCase())) columns.set(name, 'JSON');
    } else columns.set(name, SCALAR[kind] ?? 'nested');
  }
  return columns;
}

/** RFC 6901 JSON Pointer of a top-level name (json_extract reads it without any quoting of its own). */
export function pointerOf(name: string): string {
  return `/${name.replace(/~/g, '~0').replace(/\//g, '~1')}`;
}

/** json_group_structure's nested types as columns: integers as BIGINT (it says UBIGINT for non-negative ones),
 * unknown (only nulls seen) as JSON, objects with names only letter case tells apart or with very many keys as JSON. */
export function normalize(t: unknown): unknown {
  if (t === 'UBIGINT') return 'BIGINT';
  if (t === 'NULL') return 'JSON';
  if (Array.isArray(t)) return t.map(normalize);
  if (t !== null && typeof t === 'object') {
    const entries = Object.entries(t);
    if (entries.length > MAX_NESTED_KEYS) return 'JSON';
    const o: Record<string, unknown> = Object.create(null);
    const seen = new Set<string>();
    for (const [k, v] of entries) {
      if (k === '' || seen.has(k.toLowerCase())) return 'JSON';
      seen.add(k.toLowerCase());
      o[k] = normalize(v);
    }
    return o;
  }
  return t;
}
