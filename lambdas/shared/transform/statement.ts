/**
 * TRANSFORM_SQL, checked on DuckDB's own parse tree (json_serialize_sql): one SELECT from `input`, stateless per
 * record, so that what a batch writes does not depend on how the event source cut the batches (README, "Transform
 * with SQL"). The check runs at synth (lib/config.ts, through check-cli.ts) and again at cold start.
 *
 * What the tree gives back besides problems: the columns the statement reads (metadata columns are built only when
 * read) and the statement rewritten to also select `_kafka_row`, the index of the record each result row came from,
 * which carries the record's Kafka metadata through to the row.
 */

/** The metadata columns of `input` (README, "Transform with SQL"). `_kafka_row` is ours: the statement may not use it. */
export const MetadataColumns = [
  '_kafka_topic', '_kafka_partition', '_kafka_offset', '_kafka_timestamp', '_kafka_timestamp_type', '_kafka_key',
  '_kafka_headers', '_kafka_value',
] as const;
export type MetadataColumn = (typeof MetadataColumns)[number];
export const ROW_COLUMN = '_kafka_row';

/** Functions whose result depends on state kept across batches: a retried batch would not write the same rows. */
const STATEFUL_FUNCTIONS = new Set(['nextval', 'currval', 'setseed']);
/** Functions that read the engine rather than the record: its settings, variables, the statement the sink runs. */
const ENGINE_FUNCTIONS = new Set(['current_setting', 'current_query', 'getvariable']);

/** The engine's functions by kind (engine.ts, functions()), for the checks of function calls. */
export interface FunctionCatalog {
  readonly aggregate: ReadonlySet<string>;
  /** Scalar functions and macros a statement may call. */
  readonly scalar: ReadonlySet<string>;
  /** Table functions (valid only in FROM, and there only unnest). */
  readonly table: ReadonlySet<string>;
  /** Macros refused, with why: they read the catalog or settings, or aggregate other rows. */
  readonly refused: ReadonlyMap<string, string>;
}

/** Names the parser gives to syntax rather than to a function of the catalog. */
const SYNTAX_FUNCTIONS = new Set(['unnest', 'row', 'list_value', 'struct_pack', 'count_star']);

/** The keys of a GROUP BY that keeps each group within one record: together they name it within a batch. */
const RECORD_KEYS = ['_kafka_topic', '_kafka_partition', '_kafka_offset'] as const;

/** What was found in a statement. */
export interface StatementPlan {
  /** The statement as DuckDB prints it back, with `_kafka_row` selected first. */
  readonly rewritten: string;
  /** Metadata columns the statement reads. */
  readonly metadata: ReadonlySet<MetadataColumn>;
  /** Value columns it names (lower case), besides metadata, aliases and lambda parameters: a batch whose records
   * lack one still has it (null). */
  readonly valueColumns: ReadonlySet<string>;
  /** Names it reads that are also aliases or lambda parameters: columns only when records have them (an input column
   * would hide the alias of the same name otherwise). */
  readonly aliasedColumns: ReadonlySet<string>;
  /** Whether it selects `*` (every value column). */
  readonly star: boolean;
  /** Whether one record can make several rows (unnest): rows then share their record's offset. */
  readonly multiRow: boolean;
}

type Node = Record<string, unknown>;
const isNode = (v: unknown): v is Node => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Why a clause is refused: the rows it makes would depend on which records share a batch. */
const ACROSS_RECORDS = 'it combines rows of different records, so its result would depend on how the event source cuts batches (windows, joins and aggregates across records need a stream processor such as Amazon Managed Service for Apache Flink)';

/**
 * Checks a statement's parse tree (json_serialize_sql's output, parsed with exact numbers) and plans it. Every
 * problem is listed; `aggregates` are the engine's aggregate function names (an aggregate makes one row of many).
 */
export function planStatement(tree: Node, functions: FunctionCatalog): { plan?: Omit<StatementPlan, 'rewritten'>; problems: string[]; tree: Node } {
  const problems: string[] = [];
  if (tree.error === true) {
    const pos = tree.position === undefined ? '' : ` at character ${Number(tree.position) + 1}`;
    const message = String(tree.error_message);
    // json_serialize_sql parses, then serializes: a statement it cannot serialize did parse.
    if (/cannot serialize/i.test(message)) return { problems: [`uses a construct the check cannot read (${message}): write it another way (a cast to ENUM, say, as a comparison with a list)`], tree };
    return { problems: [`does not parse${pos}: ${message}`], tree };
  }
  const statements = tree.statements as Node[];
  if (statements.length !== 1) return { problems: [`must be exactly one SELECT statement (found ${statements.length})`], tree };
  const node = statements[0].node as Node;
  if (node.type !== 'SELECT_NODE') {
    const what = node.type === 'SET_OPERATION_NODE' ? `${String(node.setop_type ?? 'a set operation').replace(/_/g, ' ')} (a set operation): ${ACROSS_RECORDS}` : String(node.type);
    return { problems: [`must be a plain SELECT … FROM input, not ${what}`], tree };
  }

  const aliases = new Set<string>(); // select-list aliases, table aliases, unnest column aliases, lambda parameters
  const tables = new Set<string>(['input']);
  const refs: string[][] = [];
  let star = false;
  let multiRow = false;

  if (((node.cte_map as Node)?.map as unknown[] | undefined)?.length) problems.push('WITH (a common table expression) is not supported: write one SELECT … FROM input');
  for (const m of (node.modifiers as Node[]) ?? []) {
    if (m.type === 'ORDER_MODIFIER') problems.push('ORDER BY is not supported: rows keep the order of their records\' offsets');
    else if (m.type === 'DISTINCT_MODIFIER') problems.push(`DISTINCT is not supported: ${ACROSS_RECORDS}`);
    else problems.push(`LIMIT and OFFSET are not supported: ${ACROSS_RECORDS}`);
  }
  // GROUP BY the record (its topic, partition and offset, and anything else): aggregates then combine rows of one
  // record only (the elements unnest made), which no batch cut changes.
  const groups = (node.group_expressions as Node[]) ?? [];
  const sets = (node.group_sets as unknown[][]) ?? [];
  const grouped = groups.length > 0 || sets.length > 0 || (node.aggregate_handling !== undefined && node.aggregate_handling !== 'STANDARD_HANDLING');
  const keys = new Set(groups.filter((g) => g.class === 'COLUMN_REF').map((g) => String((g.column_names as string[]).at(-1)).toLowerCase()));
  const perRecord = grouped && node.aggregate_handling === 'STANDARD_HANDLING' && sets.length === 1 && sets[0].length === groups.length
    && RECORD_KEYS.every((k) => keys.has(k));
  if (grouped && !perRecord) problems.push(`GROUP BY is supported only by the record, with ${RECORD_KEYS.join(', ')} among its keys (then aggregates combine one record's rows): otherwise ${ACROSS_RECORDS}`);
  if (isNode(node.having) && !grouped) problems.push(`HAVING is supported only with GROUP BY the record (${RECORD_KEYS.join(', ')})`);
  if (isNode(node.qualify)) problems.push(`QUALIFY is not supported: ${ACROSS_RECORDS}`);
  if (isNode(node.sample)) problems.push('USING SAMPLE is not supported: every record is either written, filtered by WHERE, or dead-lettered');

  let sawInput = false;
  const fromTable = (t: unknown, right: boolean): void => {
    if (!isNode(t)) return;
    switch (t.type) {
      case 'BASE_TABLE': {
        const name = String(t.table_name).toLowerCase();
        if (name !== 'input' || t.schema_name || t.catalog_name || right) {
          problems.push(`reads table ${JSON.stringify(String(t.table_name))}: the statement reads only \`input\` (this batch's records), not other tables (${ACROSS_RECORDS})`);
          return;
        }
        if (isNode(t.sample)) problems.push('USING SAMPLE is not supported: every record is either written, filtered by WHERE, or dead-lettered');
        if (isNode(t.at_clause)) problems.push('AT (time travel) is not supported');
        sawInput = true;
        if (t.alias) tables.add(String(t.alias).toLowerCase());
        return;
      }
      case 'JOIN': {
        // `FROM input, unnest(items) AS u(item)`: each record's rows, so offsets stay meaningful.
        const lateralUnnest = isNode(t.right) && t.right.type === 'TABLE_FUNCTION' && (t.ref_type === 'CROSS' || t.ref_type === 'REGULAR') && !isNode(t.condition) && !(t.using_columns as unknown[])?.length;
        if (!lateralUnnest) {
          problems.push(`joins are not supported except \`FROM input, unnest(<list>)\`: ${ACROSS_RECORDS}`);
          return;
        }
        fromTable(t.left, false);
        fromTable(t.right, true);
        return;
      }
      case 'TABLE_FUNCTION': {
        const f = t.function as Node;
        const name = String(f?.function_name ?? '').toLowerCase();
        if (!right || name !== 'unnest') {
          problems.push(`reads table function ${name}(): the statement reads only \`input\`, and unnest() only as \`FROM input, unnest(<list>)\``);
          return;
        }
        if (isNode(t.sample)) problems.push('USING SAMPLE is not supported: every record is either written, filtered by WHERE, or dead-lettered');
        if (t.with_ordinality !== undefined && t.with_ordinality !== 'WITHOUT_ORDINALITY') problems.push('WITH ORDINALITY is not supported');
        multiRow = true;
        if (t.alias) tables.add(String(t.alias).toLowerCase());
        for (const c of (t.column_name_alias as string[]) ?? []) aliases.add(c.toLowerCase());
        for (const c of (f.children as unknown[]) ?? []) expression(c);
        return;
      }
      case 'EMPTY':
        return;
      default:
        problems.push(`FROM ${String(t.type).toLowerCase().replace(/_/g, ' ')} is not supported: the statement reads \`input\` directly`);
    }
  };

  const expression = (e: unknown): void => {
    if (Array.isArray(e)) {
      for (const x of e) expression(x);
      return;
    }
    if (!isNode(e)) return;
    switch (e.class) {
      case 'COLUMN_REF':
        refs.push((e.column_names as string[]).map((n) => n.toLowerCase()));
        return;
      case 'STAR':
        // COLUMNS(…) picks columns by pattern, metadata and the sink's own included: name them, or use *.
        if (e.columns === true || isNode(e.expr)) {
          problems.push('COLUMNS(…) is not supported: name the columns, or select * (with EXCLUDE or REPLACE)');
          return;
        }
        star = true;
        break;
      case 'WINDOW':
        problems.push(`window function ${String(e.function_name)}() is not supported: ${ACROSS_RECORDS}`);
        return;
      case 'SUBQUERY':
        problems.push('subqueries are not supported: the statement reads `input` once');
        return;
      case 'PARAMETER':
        problems.push('parameters ($1, ?) are not supported: the sink gives the statement no values');
        return;
      case 'LAMBDA': {
        // `x -> …` and `(x, i) -> …`: the parameters are names of the lambda, not columns.
        const lhs = e.lhs as Node;
        const params = lhs?.class === 'FUNCTION' && lhs.function_name === 'row' ? (lhs.children as Node[]) : [lhs];
        for (const p of params) for (const n of (p?.column_names as string[]) ?? []) aliases.add(n.toLowerCase());
        expression(e.expr);
        return;
      }
      case 'FUNCTION': {
        // A qualified name (main.struct_pack, pg_catalog.…) names the same built-in functions: the bare name is checked.
        const name = String(e.function_name).toLowerCase();
        if (e.is_operator) break;
        if (name === 'unnest') multiRow = true;
        if (functions.aggregate.has(name) || name === 'count_star') {
          if (!perRecord) problems.push(`aggregate ${name === 'count_star' ? 'count(*)' : `${name}()`} is not supported without GROUP BY the record (${RECORD_KEYS.join(', ')}): ${ACROSS_RECORDS}`);
        }
        else if (STATEFUL_FUNCTIONS.has(name)) problems.push(`${name}() keeps state across batches: a retried batch would write other rows`);
        else if (ENGINE_FUNCTIONS.has(name)) problems.push(`${name}() is not supported: it reads the engine, not the record`);
        else if (functions.refused.has(name)) problems.push(`${name}() is not supported: ${functions.refused.get(name)}`);
        else if (!SYNTAX_FUNCTIONS.has(name) && !functions.scalar.has(name)) {
          problems.push(functions.table.has(name)
            ? `${name}() is a table function: the statement reads only \`input\` (and unnest(<list>))`
            : `no function ${name}() in DuckDB (its functions: https://duckdb.org/docs/sql/functions/overview)`);
        }
        break;
      }
      default:
        break;
    }
    for (const [k, v] of Object.entries(e)) if (k !== 'class' && k !== 'type' && k !== 'alias' && (isNode(v) || Array.isArray(v))) expression(v);
  };

  fromTable(node.from_table, false);
  if (!sawInput && problems.length === 0) problems.push('must read FROM input (the batch\'s records)');
  for (const item of (node.select_list as Node[]) ?? []) if (item.alias) aliases.add(String(item.alias).toLowerCase());
  expression(node.select_list);
  expression(node.where_clause);
  expression(node.group_expressions);
  expression(node.having);

  const metadata = new Set<MetadataColumn>();
  const valueColumns = new Set<string>();
  const aliasedColumns = new Set<string>();
  // The sink's own column, however it is named: a reference, or a name in * EXCLUDE/REPLACE/RENAME.
  if (JSON.stringify(node).toLowerCase().includes(`"${ROW_COLUMN}"`)) problems.push(`${ROW_COLUMN} is reserved (the sink selects it to carry each record's metadata)`);
  for (const names of refs) {
    // input.amount, u.item: a table qualifier first; otherwise the column, then struct fields.
    if (names.length === 1 && tables.has(names[0]) && !aliases.has(names[0])) {
      problems.push(`selects the table ${names[0]} as one value: name the columns, or select *`);
      continue;
    }
    const column = names.length > 1 && tables.has(names[0]) ? names[1] : names[0];
    if (column === ROW_COLUMN) continue; // refused above
    if (column.startsWith('_kafka_')) {
      if ((MetadataColumns as readonly string[]).includes(column)) metadata.add(column as MetadataColumn);
      else problems.push(`no metadata column ${column} (there are ${MetadataColumns.join(', ')})`);
      continue;
    }
    if (!aliases.has(column) || (names.length > 1 && tables.has(names[0]))) valueColumns.add(column);
    else aliasedColumns.add(column);
  }
  if (problems.length > 0) return { problems: [...new Set(problems)], tree };

  const row: Node = { class: 'COLUMN_REF', type: 'COLUMN_REF', alias: perRecord ? '' : ROW_COLUMN, query_location: 0, column_names: [ROW_COLUMN] };
  // Grouped by the record, every row of a group has the record's index: min() of it is that index.
  node.select_list = [perRecord ? {
    class: 'FUNCTION', type: 'FUNCTION', alias: ROW_COLUMN, query_location: 0, function_name: 'min', schema: '', catalog: '', children: [row],
    filter: null, order_bys: { type: 'ORDER_MODIFIER', orders: [] }, distinct: false, is_operator: false, export_state: false,
  } : row, ...(node.select_list as Node[])];
  return { plan: { metadata, valueColumns, aliasedColumns, star, multiRow }, problems, tree };
}
