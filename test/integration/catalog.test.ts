/**
 * The Glue tables of catalog=true read what the sink writes (issue 12, part 1), with Athena out of reach: the stack
 * is synthesized, the sink runs with the function environment the template holds into versitygw, and then
 * - every object key under a table's location is one of its projected partitions: it matches the table's
 *   storage.location.template, and each value is one its projection generates (date format and range, integer
 *   range and digits, enum values), as Athena's partition projection computes them;
 * - every object is read with exactly the columns and SerDe the table declares (test/readers/catalog_read.py: DuckDB
 *   for the JSON, CSV and Parquet SerDes with the declared types and no inference, fastavro with avro.schema.literal
 *   as the reader schema, the SerDe's regular expression for text), and DuckDB's hive_partitioning reads the same
 *   partition values from the paths;
 * - the rows are the records: every offset exactly once, values equal, partition values the record's time.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { Compactor } from '../../lambdas/compactor/compact.ts';
import { loadCompactorConfig } from '../../lambdas/compactor/config.ts';
import { afterAll, expect, it } from 'vitest';
import { createSinkHandler } from '../../lambdas/sink/app.ts';
import { synth } from '../lib/synth.ts';
import { kafkaEvent, orderValue, type RecordSpec } from '../support/events.ts';
import { describeS3 } from '../support/s3-context.ts';
import { createBucket, infraPaths, REPO_ROOT, s3ClientFor } from '../support/versitygw.ts';

const context = { functionName: 'sink', awsRequestId: 'catalog' } as never;
const TMP = mkdtempSync(join(tmpdir(), 'catalog-read-'));
afterAll(() => rmSync(TMP, { recursive: true, force: true }));

/** 2026-03-01T22:00:00Z: records run across midnight, so objects land under two days and four hours. */
const START = Date.UTC(2026, 2, 1, 22, 0, 0);
const TOPICS = ['orders', 'payments'];

function records(text: boolean): RecordSpec[] {
  const out: RecordSpec[] = [];
  for (const topic of TOPICS) {
    for (let partition = 0; partition < 2; partition++) {
      for (let offset = 0; offset < 24; offset++) {
        const i = offset * 4 + partition * 2 + TOPICS.indexOf(topic);
        out.push({
          topic, partition, offset, timestamp: START + i * 150_000 + partition * 7, key: `cust-${i % 5}`,
          value: text ? `line ${i} of ${topic}, "quoted" \\ back-slash ü` : JSON.stringify(orderValue(i)),
          headers: [['trace', `t-${i}`], ['trace', `u-${i}`]],
        });
      }
    }
  }
  return out;
}

interface TableInput {
  Name: string;
  Parameters: Record<string, string>;
  PartitionKeys: { Name: string; Type: string }[];
  StorageDescriptor: { Location: string; Columns: { Name: string; Type: string }[]; SerdeInfo: { SerializationLibrary: string; Parameters?: Record<string, string> } };
}

/** Java DateTimeFormatter tokens the key template can hold → what they match. */
const DATE_TOKENS: Record<string, string> = { yyyy: '(\\d{4})', MM: '(\\d{2})', dd: '(\\d{2})', HH: '(\\d{2})', mm: '(\\d{2})', ss: '(\\d{2})' };

/** A projected date value → epoch ms (UTC), or undefined when the format does not produce it. */
function parseDate(format: string, value: string): number | undefined {
  const tokens: string[] = [];
  const re = format.replace(/yyyy|MM|dd|HH|mm|ss|[.*+?^${}()|[\]\\-]/g, (m) => {
    if (DATE_TOKENS[m]) {
      tokens.push(m);
      return DATE_TOKENS[m];
    }
    return `\\${m}`;
  });
  const m = new RegExp(`^${re}$`).exec(value);
  if (!m) return undefined;
  const f: Record<string, number> = { yyyy: 1970, MM: 1, dd: 1, HH: 0, mm: 0, ss: 0 };
  tokens.forEach((t, i) => (f[t] = Number(m[i + 1])));
  const ms = Date.UTC(f.yyyy, f.MM - 1, f.dd, f.HH, f.mm, f.ss);
  const d = new Date(ms);
  // A real instant (no 2026-02-30): formatting it back gives the same fields.
  return d.getUTCMonth() + 1 === f.MM && d.getUTCDate() === f.dd ? ms : undefined;
}

/**
 * The partition values of an object key under partition projection, or why Athena would not read it: its directory
 * must be the location template with each ${key} filled by a value the key's projection generates.
 */
function projected(t: TableInput, bucket: string, key: string): Record<string, string> {
  const template = t.Parameters['storage.location.template'];
  if (!template) {
    expect(`s3://${bucket}/${key}`.startsWith(t.StorageDescriptor.Location)).toBe(true);
    return {};
  }
  const names: string[] = [];
  const pattern = template.replace(`s3://${bucket}/`, '').replace(/\$\{([a-z0-9_]+)\}|[.*+?^${}()|[\]\\]/g, (m, name?: string) => {
    if (name === undefined) return `\\${m}`;
    names.push(name);
    return '([^/]+)';
  });
  const m = new RegExp(`^${pattern}[^/]+$`).exec(key);
  if (!m) throw new Error(`${key} is not under ${template}`);
  const values: Record<string, string> = {};
  names.forEach((n, i) => (values[n] = m[i + 1]));
  for (const [name, value] of Object.entries(values)) {
    const p = (k: string) => t.Parameters[`projection.${name}.${k}`];
    const type = p('type');
    if (type === 'enum') expect(p('values').split(','), `${key}: ${name}`).toContain(value);
    else if (type === 'integer') {
      const [min, max] = p('range').split(',').map(Number);
      expect(/^\d+$/.test(value) && Number(value) >= min && Number(value) <= max, `${key}: ${name}=${value} in ${p('range')}`).toBe(true);
      if (p('digits')) expect(value.length, `${key}: ${name} digits`).toBe(Number(p('digits')));
    } else if (type === 'date') {
      const at = parseDate(p('format'), value);
      const [from, to] = p('range').split(',');
      expect(to).toBe('NOW+1DAYS');
      expect(at !== undefined && at >= parseDate(p('format'), from)! && at <= Date.now() + 86_400_000, `${key}: ${name}=${value} in ${p('range')} as ${p('format')}`).toBe(true);
      expect(p('interval.unit')).toMatch(/^(YEARS|MONTHS|DAYS|HOURS|MINUTES|SECONDS)$/);
    } else expect(type, `${key}: ${name}`).toBe('injected');
  }
  return values;
}

async function download(client: S3Client, bucket: string, key: string): Promise<string> {
  const path = join(TMP, bucket, key);
  mkdirSync(dirname(path), { recursive: true });
  const body = await (await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body!.transformToByteArray();
  writeFileSync(path, body);
  return path;
}

interface Read { files: { path: string; rows: Record<string, unknown>[]; hive: Record<string, unknown>[] | null }[]; error?: string }

/** Reads the files with the table's declared columns and SerDe (test/readers/catalog_read.py). */
async function readAsDeclared(t: TableInput, paths: string[]): Promise<Read> {
  const { pyVenvPython } = await infraPaths();
  const request = join(TMP, `request-${t.Name}-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(request, JSON.stringify({
    serde: { library: t.StorageDescriptor.SerdeInfo.SerializationLibrary, parameters: t.StorageDescriptor.SerdeInfo.Parameters ?? {} },
    parameters: t.Parameters,
    columns: t.StorageDescriptor.Columns.map((c) => ({ name: c.Name, type: c.Type })),
    files: paths.map((path) => ({ path, root: TMP })),
  }));
  const out = await new Promise<string>((resolve, reject) => execFile(pyVenvPython, [join(REPO_ROOT, 'test/readers/catalog_read.py'), request], { maxBuffer: 256 << 20 },
    (err, stdout, stderr) => (err ? reject(new Error(`catalog_read.py: ${stderr || err.message}`)) : resolve(stdout))));
  return JSON.parse(out) as Read;
}

interface Case {
  readonly context: Record<string, string>;
  /** What a row of this format must say about its record. */
  readonly check: (row: Record<string, unknown>, r: RecordSpec) => void;
  /** The column holding the offset. */
  readonly offset: string;
  readonly tables: string[];
}

const schemaFile = 'test/events/order.avsc';
const order = (r: RecordSpec) => JSON.parse(r.value as string) as ReturnType<typeof orderValue>;
const typedOrder = (row: Record<string, unknown>, r: RecordSpec) => {
  const o = order(r);
  expect([row.order_id, row.customer_id, row.status, row.amount, row.items, row.express]).toEqual([o.order_id, o.customer_id, o.status, o.amount, o.items, o.express]);
  expect(Date.parse(row.created_at as string)).toBe(Date.parse(o.created_at as string));
  expect(row._kafka_offset).toBe(Number(r.offset));
  expect(row._kafka_partition).toBe(r.partition);
};

const CASES: Record<string, Case> = {
  'jsonl + gzip, default key template: a table per topic': {
    context: { format: 'jsonl', compression: 'gzip' },
    offset: 'offset', tables: ['orders', 'payments'],
    check: (row, r) => {
      expect(JSON.parse(row.value as string)).toEqual(order(r));
      expect([row.key, row.topic, row.partition, row.timestamp]).toEqual([r.key, r.topic, r.partition, new Date(r.timestamp!).toISOString()]);
      expect(row.headers).toEqual([{ key: 'trace', value: (r.headers![0][1]) }, { key: 'trace', value: r.headers![1][1] }]);
    },
  },
  'jsonl + zstd, both topics in one table with the topic as a partition and hourly dates': {
    context: {
      format: 'jsonl', compression: 'zstd', fields: 'value,offset,partition,topic', catalogTables: 'orders=events,payments=events',
      keyTemplate: 'data/kafka_topic={{topic}}/at={{timestamp:yyyy-MM-dd-HH}}/{{topic}}+{{partition}}+{{start_offset}}',
    },
    offset: 'offset', tables: ['events'],
    check: (row, r) => expect([JSON.parse(row.value as string), row.topic]).toEqual([order(r), r.topic]),
  },
  'csv_with_headers + gzip with a schema': {
    context: { format: 'csv_with_headers', compression: 'gzip', schemaFile, fields: 'value,key,partition,offset,timestamp' },
    offset: '_kafka_offset', tables: ['orders', 'payments'],
    check: (row, r) => {
      const o = order(r);
      // Columns OpenCSVSerde cannot parse from the sink's text, or that may be empty, are strings.
      expect([row.order_id, row.customer_id, row.amount, row.items, row.express, row.created_at]).toEqual([o.order_id, o.customer_id, o.amount, o.items, String(o.express), new Date(o.created_at as string).toISOString()]);
      expect([row._kafka_key, row._kafka_partition, row._kafka_offset, row._kafka_timestamp]).toEqual([r.key, r.partition, Number(r.offset), new Date(r.timestamp!).toISOString()]);
    },
  },
  'csv + none, partition directories, no header row': {
    context: {
      format: 'csv', compression: 'none', schemaFile, fields: 'value,offset', catalogPartitionCount: '2',
      keyTemplate: '{{topic}}/p={{partition}}/day={{timestamp:yyyy-MM-dd}}/{{topic}}+{{partition}}+{{start_offset}}',
    },
    offset: '_kafka_offset', tables: ['orders', 'payments'],
    check: (row, r) => expect([row.order_id, row._kafka_offset]).toEqual([order(r).order_id, Number(r.offset)]),
  },
  'avro + snappy with a schema': {
    context: { format: 'avro', compression: 'snappy', schemaFile, fields: 'value,key,partition,offset' },
    offset: '_kafka_offset', tables: ['orders', 'payments'],
    check: typedOrder,
  },
  'parquet + zstd with a schema': {
    context: { format: 'parquet', compression: 'zstd', schemaFile, fields: 'value,key,partition,offset,timestamp' },
    offset: '_kafka_offset', tables: ['orders', 'payments'],
    check: (row, r) => {
      typedOrder(row, r);
      expect([Date.parse(row._kafka_timestamp as string), (row._kafka_timestamp as string).slice(-6)]).toEqual([r.timestamp, '+00:00']);
    },
  },
  'parquet + snappy, the value as bytes (no schema needed)': {
    context: { format: 'parquet', compression: 'snappy', valueEncoding: 'base64', fields: 'value,offset' },
    offset: '_kafka_offset', tables: ['orders', 'payments'],
    check: (row, r) => expect(Buffer.from((row._kafka_value as { b64: string }).b64, 'base64').toString()).toBe(r.value),
  },
  'text + zstd: one line, one row': {
    context: { format: 'text', compression: 'zstd' },
    offset: '', tables: ['orders', 'payments'],
    check: (row, r) => expect(row.value).toBe(r.value),
  },
};

describeS3('Glue tables of catalog=true read the objects the sink wrote (and the compactor merged)', (s3) => {
  const client = s3ClientFor(s3);
  let n = 0;

  it.each(Object.entries(CASES))('%s', async (_name, c) => {
    // Prepare: the stack's tables and the function environment it deploys
    const bucket = `catalog-${++n}-${c.context.format.replace(/_/g, '-')}`;
    const s = synth({ ...c.context, catalog: 'true', bucketName: bucket }, { nag: false });
    const tables = Object.values(s.template.findResources('AWS::Glue::Table')).map((r) => r.Properties.TableInput as TableInput);
    expect(tables.map((t) => t.Name).sort()).toEqual(c.tables);
    const fn = Object.values(s.template.findResources('AWS::Lambda::Function')).find((r) => r.Properties.Environment?.Variables?.FORMAT);
    const env: Record<string, string> = { ...fn!.Properties.Environment.Variables, S3_ENDPOINT: s3.endpoint };
    if (env.AVRO_SCHEMA_FILE) env.AVRO_SCHEMA_FILE = join(REPO_ROOT, schemaFile);
    await createBucket(s3, bucket);
    const handler = createSinkHandler({ env, s3: client });
    const sent = records(c.context.format === 'text');

    // Act: two deliveries, the second overlapping the first (a redelivery)
    const first = await handler(kafkaEvent(sent.filter((r) => Number(r.offset) < 16)), context);
    const second = await handler(kafkaEvent(sent.filter((r) => Number(r.offset) >= 8)), context);

    // Assess: every written key is a projected partition of exactly one table
    expect(first.written + second.written).toBe(sent.length);
    expect(first.deadLettered + second.deadLettered).toBe(0);
    const keys = ((await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'topics/' }))).Contents ?? []).map((o) => o.Key!);
    expect(keys.length).toBeGreaterThan(4);
    const seen = new Map<string, number>(); // topic/partition/offset → times read
    for (const t of tables) {
      const mine = keys.filter((k) => `s3://${bucket}/${k}`.startsWith(t.StorageDescriptor.Location));
      expect(mine.length, t.Name).toBeGreaterThan(0);
      const partitions = mine.map((k) => projected(t, bucket, k));
      const paths = await Promise.all(mine.map((k) => download(client, bucket, k)));

      // Read with the declared columns and SerDe
      const read = await readAsDeclared(t, paths);
      expect(read.error).toBeUndefined();
      read.files.forEach((file, f) => {
        const values = partitions[f];
        if (file.hive) for (const h of file.hive) for (const [k, v] of Object.entries(values)) expect(h[k], `hive ${k}`).toBe(v);
        const topicHere = values.kafka_topic ?? TOPICS.find((tp) => mine[f].startsWith(`topics/${tp}/`));
        const pHere = values.p ?? /\+(\d+)\+\d+\.[a-z.]+$/.exec(mine[f])![1];
        file.rows.forEach((row, i) => {
          // text rows carry no offset: a line is its record's value, unique in these records
          const r = sent.find((x) => x.topic === topicHere && x.partition === Number(pHere) && (c.offset ? Number(x.offset) === Number(row[c.offset]) : x.value === row.value))!;
          expect(r, `${mine[f]} row ${i}`).toBeDefined();
          c.check(row, r);
          const at = new Date(r.timestamp!).toISOString();
          if (values.dt) expect(values.dt).toBe(at.slice(0, 10));
          if (values.day) expect(values.day).toBe(at.slice(0, 10));
          if (values.hour) expect(values.hour).toBe(at.slice(11, 13));
          if (values.at) expect(values.at).toBe(`${at.slice(0, 10)}-${at.slice(11, 13)}`);
          const id = `${r.topic}/${r.partition}/${r.offset}`;
          seen.set(id, (seen.get(id) ?? 0) + 1);
        });
      });
    }
    expect(seen.size).toBe(sent.length);
    expect([...seen.values()].every((v) => v === 1)).toBe(true);
  });

  it.each(Object.entries(CASES).filter(([, c]) => c.offset))('compaction=true, %s: the <table>_compacted tables read the compacted view through the symlink files, each offset once', async (_name, c) => {
    // Prepare: the sink writes (a redelivery included), the compactor merges every window
    const bucket = `catalog-${++n}-compacted`;
    const s = synth({ ...c.context, catalog: 'true', compaction: 'true', bucketName: bucket }, { nag: false });
    const tables = Object.values(s.template.findResources('AWS::Glue::Table')).map((r) => r.Properties.TableInput as TableInput).filter((t) => t.Name.endsWith('_compacted'));
    expect(tables.map((t) => t.Name).sort()).toEqual(c.tables.map((t) => `${t}_compacted`));
    const fn = Object.values(s.template.findResources('AWS::Lambda::Function')).find((r) => r.Properties.Environment?.Variables?.COMPACTED_PREFIX);
    const env: Record<string, string> = { ...fn!.Properties.Environment.Variables, S3_ENDPOINT: s3.endpoint };
    if (env.AVRO_SCHEMA_FILE) env.AVRO_SCHEMA_FILE = join(REPO_ROOT, schemaFile);
    await createBucket(s3, bucket);
    const sent = records(false);
    const handler = createSinkHandler({ env, s3: client });
    await handler(kafkaEvent(sent.filter((r) => Number(r.offset) < 16)), context);
    await handler(kafkaEvent(sent.filter((r) => Number(r.offset) >= 8)), context);
    const report = await new Compactor(client, { ...loadCompactorConfig(env), runId: 'cat' }, () => Date.UTC(2030, 0, 1)).run();
    expect(report.windows.length).toBeGreaterThan(0);
    expect(report.windows.every((w) => w.action === 'compacted')).toBe(true);

    // Act: what each table's projected partitions hold, read as the table declares
    const seen = new Map<string, number>();
    for (const t of tables) {
      const symlinks = ((await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: t.StorageDescriptor.Location.replace(`s3://${bucket}/`, '') }))).Contents ?? []).map((o) => o.Key!);
      expect(symlinks.length).toBeGreaterThan(0);
      for (const key of symlinks) {
        const values = projected(t, bucket, key);
        const listed = (await (await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body!.transformToString()).split('\n').filter(Boolean);
        const paths = await Promise.all(listed.map((uri) => download(client, bucket, uri.replace(`s3://${bucket}/`, ''))));
        const read = await readAsDeclared(t, paths);
        expect(read.error).toBeUndefined();
        read.files.forEach((file, f) => {
          // The compacted files sit under Hive-style directories too: DuckDB reads the same partition values.
          for (const h of file.hive ?? []) for (const [k, v] of Object.entries(values)) expect(h[k]).toBe(v);
          // A compacted file holds one topic-partition, named in its file name.
          const [, topicHere, pHere] = /([^/+]+)\+(\d+)\+\d+\+g\d+-[a-z0-9]+\.[a-z.]+$/.exec(listed[f])!;
          for (const row of file.rows) {
            const r = sent.find((x) => x.topic === topicHere && x.partition === Number(pHere) && Number(x.offset) === Number(row[c.offset]))!;
            expect(r, `${listed[f]}: ${JSON.stringify(row)}`).toBeDefined();
            c.check(row, r);
            const at = new Date(r.timestamp!).toISOString();
            if (values.hour) expect(values.hour).toBe(at.slice(11, 13));
            if (values.day) expect(values.day).toBe(at.slice(0, 10));
            const id = `${r.topic}/${r.partition}/${r.offset}`;
            seen.set(id, (seen.get(id) ?? 0) + 1);
          }
        });
      }
    }

    // Assess: every record once
    expect(seen.size).toBe(sent.length);
    expect([...seen.values()].every((v) => v === 1)).toBe(true);
  });
});
