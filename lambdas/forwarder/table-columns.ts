/**
 * The table columns the forwarder checks documents against, and their two environment variables:
 *  - TABLE_COLUMNS: `{"<table>": {"<column>": "<type>", …}, …}`, a `!` after the type marking a required column
 *    (`{"orders": {"order_id": "string!", "amount": "decimal(12,2)"}}`), value columns only (the `_kafka_*` ones
 *    are the forwarder's own);
 *  - TABLE_ROUTES: `topic=table,…`, the same pairs the router gets.
 * The CDK app writes both from the table schemas (encodeTableColumns), so what the stack creates and what the
 * forwarder checks come from one place; the forwarder parses them once at cold start (parseTables).
 */
import { MetadataColumnPrefix } from '../shared/constants.ts';

export const PrimitiveTypes = ['boolean', 'int', 'long', 'float', 'double', 'string', 'binary', 'date', 'time', 'timestamp', 'timestamptz', 'uuid'] as const;
export type ColumnType =
  | { readonly kind: (typeof PrimitiveTypes)[number] }
  | { readonly kind: 'decimal'; readonly precision: number; readonly scale: number };

export interface Column {
  readonly name: string;
  readonly type: ColumnType;
  readonly required: boolean;
}

/** Topic → table, and each table's value columns (with a lowercase-name index for case-only mismatches). */
export interface Tables {
  readonly routes: ReadonlyMap<string, string>;
  readonly columns: ReadonlyMap<string, TableColumns>;
}

export interface TableColumns {
  readonly list: readonly Column[];
  readonly byName: ReadonlyMap<string, Column>;
  readonly byLowerName: ReadonlyMap<string, Column>;
}

/** Lowercase, as Glue and Athena need (the same rule as lib/table-schema.ts). */
const COLUMN_NAME = /^[a-z_][a-z0-9_]{0,254}$/;
const TABLE_NAME = /^[a-z0-9]([a-z0-9_]{0,253}[a-z0-9])?$/;
const DECIMAL = /^decimal\((\d{1,2}),\s*(\d{1,2})\)$/;

/** `decimal(12, 2)`, `long`, … → the column type; undefined when it is not one the forwarder can check. */
export function parseColumnType(text: string): ColumnType | undefined {
  const t = text.trim().toLowerCase();
  if ((PrimitiveTypes as readonly string[]).includes(t)) return { kind: t as (typeof PrimitiveTypes)[number] };
  const m = DECIMAL.exec(t);
  if (!m) return undefined;
  const precision = Number(m[1]);
  const scale = Number(m[2]);
  return precision >= 1 && precision <= 38 && scale <= precision ? { kind: 'decimal', precision, scale } : undefined;
}

export const typeName = (t: ColumnType): string => (t.kind === 'decimal' ? `decimal(${t.precision},${t.scale})` : t.kind);

/** TABLE_COLUMNS text for the tables' value columns (the CDK app writes it; compact: it counts against 4 KB). */
export function encodeTableColumns(tables: ReadonlyMap<string, readonly { readonly name: string; readonly type: string; readonly required: boolean }[]>): string {
  const out: Record<string, Record<string, string>> = {};
  for (const [table, cols] of tables) {
    const o: Record<string, string> = {};
    for (const c of cols) o[c.name] = `${c.type.replace(/\s+/g, '').toLowerCase()}${c.required ? '!' : ''}`;
    out[table] = o;
  }
  return JSON.stringify(out);
}

/** TABLE_ROUTES text (topic=table pairs). */
export const encodeTableRoutes = (routes: ReadonlyMap<string, string>): string => [...routes].map(([t, tb]) => `${t}=${tb}`).join(',');

function indexColumns(list: Column[]): TableColumns {
  return { list, byName: new Map(list.map((c) => [c.name, c])), byLowerName: new Map(list.map((c) => [c.name.toLowerCase(), c])) };
}

/** Parses TABLE_COLUMNS; each problem is pushed (worded after the variable name and value the caller prefixes). */
function parseColumns(text: string, problems: string[]): Map<string, TableColumns> {
  const out = new Map<string, TableColumns>();
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    problems.push(`not valid JSON (${(err as Error).message})`);
    return out;
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc) || Object.keys(doc).length === 0) {
    problems.push('expected {"<table>": {"<column>": "<type>[!]", …}, …} with at least one table');
    return out;
  }
  for (const [table, cols] of Object.entries(doc as Record<string, unknown>)) {
    if (!TABLE_NAME.test(table)) problems.push(`table "${table}" must be lowercase letters, digits and _ (starting and ending with a letter or digit)`);
    if (cols === null || typeof cols !== 'object' || Array.isArray(cols) || Object.keys(cols).length === 0) {
      problems.push(`table "${table}": expected {"<column>": "<type>[!]", …} with at least one column`);
      continue;
    }
    const list: Column[] = [];
    for (const [name, spec] of Object.entries(cols as Record<string, unknown>)) {
      const where = `table "${table}", column "${name}"`;
      if (!COLUMN_NAME.test(name)) problems.push(`${where}: the name must be lowercase letters, digits and _, starting with a letter or _`);
      else if (name.startsWith(MetadataColumnPrefix)) problems.push(`${where}: the prefix "${MetadataColumnPrefix}" is reserved for the forwarder's Kafka metadata columns`);
      const s = typeof spec === 'string' ? spec : '';
      const required = s.endsWith('!');
      const type = parseColumnType(required ? s.slice(0, -1) : s);
      if (!type) {
        problems.push(`${where}: type ${JSON.stringify(spec)} is not one of ${PrimitiveTypes.join(', ')}, decimal(p,s) with 1 ≤ p ≤ 38 and s ≤ p (append ! for a required column)`);
        continue;
      }
      list.push({ name, type, required });
    }
    out.set(table, indexColumns(list));
  }
  return out;
}

function parseRoutes(text: string, problems: string[]): Map<string, string> {
  const routes = new Map<string, string>();
  for (const pair of text.split(',').map((p) => p.trim()).filter(Boolean)) {
    const [topic, table, ...rest] = pair.split('=');
    if (!topic || !table || rest.length > 0 || !TABLE_NAME.test(table)) problems.push(`"${pair}" is not topic=table with a lowercase table name`);
    else if (routes.has(topic)) problems.push(`topic "${topic}" is routed twice`);
    else routes.set(topic, table);
  }
  if (routes.size === 0 && problems.length === 0) problems.push('expected topic=table pairs, comma list');
  return routes;
}

/**
 * TABLE_COLUMNS and TABLE_ROUTES → the tables; problems are returned as `VARIABLE: what is wrong` lines (the
 * caller shows the values). Both or neither must be set; every routed table needs columns, every table a route.
 */
export function parseTables(columnsText: string | undefined, routesText: string | undefined): { tables?: Tables; problems: { variable: 'TABLE_COLUMNS' | 'TABLE_ROUTES'; problem: string }[] } {
  const problems: { variable: 'TABLE_COLUMNS' | 'TABLE_ROUTES'; problem: string }[] = [];
  if (columnsText === undefined && routesText === undefined) return { problems };
  if (columnsText === undefined) return { problems: [{ variable: 'TABLE_COLUMNS', problem: 'required with TABLE_ROUTES (the columns of each routed table)' }] };
  if (routesText === undefined) return { problems: [{ variable: 'TABLE_ROUTES', problem: 'required with TABLE_COLUMNS (which topic goes to which table)' }] };
  const c: string[] = [];
  const r: string[] = [];
  const columns = parseColumns(columnsText, c);
  const routes = parseRoutes(routesText, r);
  if (c.length === 0 && r.length === 0) {
    for (const [topic, table] of routes) if (!columns.has(table)) r.push(`topic "${topic}" goes to table "${table}", which TABLE_COLUMNS does not have`);
    const routed = new Set(routes.values());
    for (const table of columns.keys()) if (!routed.has(table)) c.push(`table "${table}" has no topic routed to it in TABLE_ROUTES`);
  }
  problems.push(...c.map((problem) => ({ variable: 'TABLE_COLUMNS' as const, problem })), ...r.map((problem) => ({ variable: 'TABLE_ROUTES' as const, problem })));
  return problems.length > 0 ? { problems } : { tables: { routes, columns }, problems };
}
