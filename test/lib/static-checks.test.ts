/**
 * Static checkers on every synthesized template of a set of configurations: cfn-lint (zero errors) and checkov
 * (no failed check; every skipped check carries a written justification on its resource).
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { infraPaths } from '../support/versitygw.ts';
import { synth, synthReplay, synthTables } from './synth.ts';

const run = promisify(execFile);
const SECRET = 'arn:aws:secretsmanager:us-east-1:111122223333:secret:kafka-creds-AbCdEf';

const CONFIGS: Record<string, Record<string, string>> = {
  default: {},
  'self-managed scram in a VPC': {
    mskClusterArn: '', bootstrapServers: 'b-1.kafka.internal:9096', kafkaAuth: 'scram512', kafkaSecretArn: SECRET,
    vpcId: 'vpc-0123456789abcdef0', subnetIds: 'subnet-0123456789abcdef0', securityGroupIds: 'sg-0123456789abcdef0',
  },
  'provisioned, retries, s3 on-failure, kms': {
    minPollers: '1', maxPollers: '10', retryAttempts: '5', maxRecordAgeSeconds: '600', bisectOnError: 'true', onFailure: 's3', encryption: 'kms',
  },
  'sqs on-failure, alarm email, parquet': { onFailure: 'sqs', alarmEmail: 'ops@example.com', format: 'parquet', reservedConcurrency: '10' },
  'catalog: jsonl tables over a created bucket': { catalog: 'true' },
  'catalog: parquet with a schema, one table for both topics, every projection type': {
    catalog: 'true', format: 'parquet', schemaFile: 'test/events/order.avsc', bucketName: 'lake-bucket', catalogTables: 'orders=events,payments=events',
    catalogPartitionCount: '6', keyTemplate: 'kafka_topic={{topic}}/dt={{timestamp:yyyy-MM-dd}}/p={{partition}}/k={{key}}/{{topic}}+{{partition}}+{{start_offset}}',
  },
  'compaction with the catalog, kms': { compaction: 'true', catalog: 'true', encryption: 'kms', alarmEmail: 'ops@example.com' },
  'compaction of avro with the catalog (Avro SerDe literal), a Glue schema registry on the event source': {
    compaction: 'true', catalog: 'true', format: 'avro', schemaFile: 'test/events/order.avsc', compactionScheduleMinutes: '60',
    minPollers: '1', maxPollers: '2', schemaRegistry: 'arn:aws:glue:us-east-1:111122223333:registry/orders-registry', schemaRegistryDecoder: 'eventSource',
  },
  'csv_with_headers catalog, a Confluent schema registry on the event source': {
    catalog: 'true', format: 'csv_with_headers', schemaFile: 'test/events/order.avsc', minPollers: '1', maxPollers: '2', schemaRegistryDecoder: 'eventSource',
    schemaRegistry: 'https://registry.example.com', schemaRegistrySecretArn: 'arn:aws:secretsmanager:us-east-1:111122223333:secret:registry-AbCdEf',
  },
  'parquet decoded by the sink from a Glue schema registry (keys too)': {
    format: 'parquet', schemaRegistry: 'arn:aws:glue:us-east-1:111122223333:registry/orders-registry', schemaRegistryAttributes: 'key,value',
  },
  'avro decoded by the sink from a Confluent registry with basic auth': {
    format: 'avro', schemaRegistry: 'https://registry.example.com', schemaRegistrySecretArn: 'arn:aws:secretsmanager:us-east-1:111122223333:secret:registry-AbCdEf',
  },
  'parquet with a SQL transform (TRANSFORM_SQL)': {
    format: 'parquet', transformSql: "SELECT order_id, CAST(amount AS DECIMAL(12,2)) AS amount FROM input WHERE status <> 'test'",
  },
  'existing bucket, cross-account, x86': {
    bucketName: 'partner-lake', crossAccountRoleArn: 'arn:aws:iam::444455556666:role/writer', externalId: 'ext-1', architecture: 'x86_64',
    alarmTopicArn: 'arn:aws:sns:us-east-1:111122223333:ops',
  },
};

const TABLES_CONFIGS: Record<string, Record<string, string>> = {
  'tables: default (Kinesis, on-demand, router)': {},
  'tables: schemas per table, Lake Formation, catalog, shards, upserts': {
    tables: 'orders=orders,payments=payment_events', tableSchemaFile: 'test/events/tables-schema.json', lakeFormation: 'true',
    createTablesCatalog: 'true', kinesisShardCount: '2', appendOnly: 'false', alarmEmail: 'ops@example.com',
  },
  'tables: MSK source': { tablesSource: 'msk', tableColumns: 'order_id:string!,amount:double' },
};

const REPLAY_CONFIGS: Record<string, Record<string, string>> = {
  'replay: sink objects over MSK IAM': {},
  'replay: foreign objects to one topic, kms source': { replaySource: 'foreign', replayPrefix: 'imports/', replayTargetTopic: 'restored', encryption: 'kms' },
};

const paths = await infraPaths().catch(() => undefined);
const bin = paths ? dirname(paths.pyVenvPython) : '';
const available = paths !== undefined && existsSync(join(bin, 'cfn-lint')) && existsSync(join(bin, 'checkov'));
if (!available && process.env.CI) throw new Error(`cfn-lint/checkov are not installed in ${bin || 'the venv'}: run bash scripts/infra/install-python.sh`);
if (!available) console.warn('[static-checks] skipped: cfn-lint/checkov not installed (bash scripts/infra/install-python.sh)');

const ALL: [string, () => string][] = [
  ...Object.entries(CONFIGS).map(([name, o]): [string, () => string] => [name, () => join(synth(o).app.synth().directory, 'KafkaS3DirectStack.template.json')]),
  ...Object.entries(TABLES_CONFIGS).map(([name, o]): [string, () => string] => [name, () => join(synthTables(o).app.synth().directory, 'KafkaS3TablesStack.template.json')]),
  ...Object.entries(REPLAY_CONFIGS).map(([name, o]): [string, () => string] => [name, () => join(synthReplay(o).app.synth().directory, 'KafkaS3ReplayStack.template.json')]),
];

describe.skipIf(!available).each(ALL)('static checks: %s', (_name, build) => {
  const template = build();

  it('cfn-lint reports no error', async () => {
    // Exit codes: 2 = errors, 4 = warnings, 8 = informational; a non-zero exit still prints the JSON findings.
    const out = await run(join(bin, 'cfn-lint'), ['--format', 'json', template]).catch((e: { stdout: string }) => ({ stdout: e.stdout }));
    const findings = JSON.parse(out.stdout || '[]') as { Level: string; Rule: { Id: string }; Message: string }[];
    expect(findings.filter((f) => f.Level === 'Error').map((f) => `${f.Rule.Id}: ${f.Message}`)).toEqual([]);
  }, 120_000);

  it('checkov finds no failed check, and each skip is justified', async () => {
    const out = await run(join(bin, 'checkov'), ['-f', template, '--framework', 'cloudformation', '--skip-download', '-o', 'json'], { maxBuffer: 64 << 20 })
      .catch((e: { stdout: string }) => ({ stdout: e.stdout }));
    const report = JSON.parse(out.stdout) as { results: { failed_checks: { check_id: string; resource: string }[]; skipped_checks: { check_id: string; check_result: { suppress_comment?: string } }[] }; summary: { passed: number } };
    expect(report.results.failed_checks.map((f) => `${f.check_id} ${f.resource}`)).toEqual([]);
    expect(report.summary.passed).toBeGreaterThan(10);
    for (const skip of report.results.skipped_checks) expect(skip.check_result.suppress_comment?.length ?? 0, skip.check_id).toBeGreaterThan(30);
  }, 120_000);

  it('the template carries no checkov skip without a comment', () => {
    const t = JSON.parse(readFileSync(template, 'utf8')) as { Resources: Record<string, { Metadata?: { checkov?: { skip: { id: string; comment?: string }[] } } }> };
    for (const r of Object.values(t.Resources)) for (const skip of r.Metadata?.checkov?.skip ?? []) expect(skip.comment, skip.id).toBeTruthy();
  });
});
