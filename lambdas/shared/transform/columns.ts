/**
 * The value columns of `input` when no AVRO_SCHEMA gives them: inferred so that what a record's row holds does not
 * depend on which other records share its batch (README, "Transform with SQL", inferred columns).
 *
 * Each record's top-level fields get a kind from their JSON (string, integer, decimal number, boolean, object, array,
 * or exact JSON: a number no DOUBLE holds as written, or an object or array holding one, whose text is then given to
 * DuckDB as it is). Records whose kinds disagree on a field (a string here, a number there; "a" here, "A" there), or on
 * whether they have a field the statement also uses as an alias, never share a run of the statement: the batch is
 * split into groups whose kinds agree, so a column's type is the one its records' JSON says, not one a neighbour
 * forced. Integers up to 2^53 and decimal numbers do agree: the column is then DOUBLE, exact for both. Objects and
 * arrays get their nested types from DuckDB (json_group_structure) over the run's records.
 */
import { RecordError } from '../errors.ts';
import { Limits } from '../constants.ts';
import { topLevelSpans } from '../json-validate.ts';
import { exactNumberOf, parseJsonExact } from '../json.ts';

/** 'bigint': an integer a DOUBLE would round (beyond 2^53), within BIGINT. */
export type Kind = 'string' | 'int' | 'bigint' | 'float' | 'boolean' | 'object' | 'array' | 'null' | 'json';
export interface Field {
  readonly name: string;
  readonly kind: Kind;
}

/** How many of the newest groups a record is compared with before it starts a group of its own: bounds the cost of
 * grouping a hostile batch (each group is a run of the statement, within the batch's time). */
export const GROUP_PROBES = 16;

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
    if (names[j].includes('\u0000')) throw new RecordError('convert', `value has a field name holding a NUL character (${JSON.stringify(names[j])}), which DuckDB's column names cannot hold (read _kafka_value)`);
    const k = j * 4;
    const first = spans[k], s = spans[k + 1], e = spans[k + 2], odd = spans[k + 3] !== 0;
    let kind: Kind;
    switch (first) {
      case 0x22: kind = 'string'; break;
      case 0x74: case 0x66: kind = 'boolean'; break;
      case 0x6e: kind = 'null'; break;
      case 0x7b: case 0x5b:
        // Nested numbers are typed by DuckDB, which reads them as doubles where a run mixes them: a nested number a
        // double would round keeps the whole field as its JSON text.
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
    if (e - s <= 16) return 'int'; // 15 digits and a sign at most: below 2^53
    const big = BigInt(raw.toString('latin1', s, e));
    if (big > INT64_MAX || big < -INT64_MAX - 1n) return 'json';
    return big > 9_007_199_254_740_992n || big < -9_007_199_254_740_992n ? 'bigint' : 'int';
  }
  // A decimal a double holds as written, or one it would round (more digits, or beyond its range): kept exact.
  return !odd || !JSON.isRawJSON(exactNumberOf(raw.toString('latin1', s, e))) ? 'float' : 'json';
}

/** Whether a parsed value holds a number a double does not hold as written (an integer beyond 2^53 included). */
function holdsInexact(v: unknown): boolean {
  if (typeof v === 'bigint') return true;
  if (JSON.isRawJSON(v)) return true;
  if (Array.isArray(v)) return v.some(holdsInexact);
  if (v !== null && typeof v === 'object') return Object.values(v).some(holdsInexact);
  return false;
}

const NUMBERS: Partial<Record<Kind, Kind>> = { int: 'float', float: 'int' };
const agree = (a: Kind, b: Kind) => a === b || a === 'null' || b === 'null' || NUMBERS[a] === b
  || (a === 'bigint' && b === 'int') || (a === 'int' && b === 'bigint');
/** Of two agreeing kinds, the one the column takes. */
const wider = (a: Kind, b: Kind): Kind => (a === 'null' ? b : b === 'null' ? a : a === b ? a : a === 'float' || b === 'float' ? 'float' : 'bigint');

interface Group {
  readonly fields: Map<string, Field>;
  /** Which of the statement's aliased names its records have (README: an input column would hide the alias). */
  readonly aliases: string;
}

/**
 * Each record's group: one whose fields agree with its own (a name in any letter case → the same spelling and agreeing
 * kinds; the same aliased names present; at most Limits.maxInferredFields columns in all). Records without fields
 * (not read as columns) are all in group 0. `aliased`: names (lower case) the statement reads that are also aliases.
 */
export function groupOf(fields: readonly (readonly Field[] | undefined)[], aliased: ReadonlySet<string> = new Set()): number[] {
  const groups: Group[] = [];
  const out = new Array<number>(fields.length);
  const aliasNames = [...aliased];
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
    const present = aliasNames.length === 0 ? '' : aliasNames.map((a) => (list.some((f) => f.name.toLowerCase() === a) ? '1' : '0')).join('');
    let g = -1;
    for (let k = groups.length - 1; k >= Math.max(0, groups.length - GROUP_PROBES) && g === -1; k--) {
      const known = groups[k].fields;
      if (groups[k].aliases !== present) continue;
      let added = 0;
      const fits = list.every((f) => {
        const have = known.get(f.name.toLowerCase());
        if (have === undefined) added++;
        return have === undefined || (have.name === f.name && agree(have.kind, f.kind));
      });
      if (fits && known.size + added <= Limits.maxInferredFields) g = k;
    }
    if (g === -1) g = groups.push({ fields: new Map(), aliases: present }) - 1;
    const known = groups[g].fields;
    for (const f of list) {
      const lower = f.name.toLowerCase();
      const have = known.get(lower);
      if (have === undefined) known.set(lower, f);
      else if (have.kind !== f.kind) known.set(lower, { name: f.name, kind: wider(have.kind, f.kind) });
    }
    out[i] = g;
  }
  return out;
}

/** 'EXACT': the field's own JSON text, given apart (the run's records hold it as Input.exact), as the JSON type. */
const SCALAR: Partial<Record<Kind, string>> = { string: 'VARCHAR', int: 'BIGINT', bigint: 'BIGINT', float: 'DOUBLE', boolean: 'BOOLEAN', json: 'EXACT', null: 'JSON' };

/**
 * The top-level columns of one run (its records' fields): the name as the records spell it and its type, 'nested' for
 * objects and arrays (typed by DuckDB), or 'EXACT' for a field given as its own JSON text. A run is one group or part
 * of one, so its kinds agree; were they to mix all the same, the column would be JSON. `wanted`: whether a column
 * (lower case) is read at all.
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
      else if (k.kind !== 'mixed') k.kind = wider(k.kind, f.kind);
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

/** The JSON text of each field of kind 'json' (read right after fieldsOf, while checkJson's spans are the record's). */
export function exactTexts(raw: Buffer, fields: readonly Field[]): Map<string, string> | undefined {
  let out: Map<string, string> | undefined;
  const spans = topLevelSpans();
  for (let j = 0; j < fields.length; j++) {
    if (fields[j].kind !== 'json') continue;
    (out ??= new Map()).set(fields[j].name, raw.toString('utf8', spans[j * 4 + 1], spans[j * 4 + 2]));
  }
  return out;
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
      if (k === '' || k.includes('\u0000') || seen.has(k.toLowerCase())) return 'JSON';
      seen.add(k.toLowerCase());
      o[k] = normalize(v);
    }
    return o;
  }
  return t;
}
