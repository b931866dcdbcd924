/**
 * KafkaS3TablesStack: template assertions for every option, cdk-nag with zero unacknowledged findings.
 * (cfn-lint and checkov run on these configurations in static-checks.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import { MSK_ARN, nagFindings, synthTables, type TablesSynth } from './synth.ts';

type Statement = { Action: string | string[]; Resource: unknown; Sid?: string; Condition?: unknown };
const ROUTED = { tables: 'orders=orders,payments=payment_events', tableSchemaFile: 'test/events/tables-schema.json' };

function statementsOf(s: TablesSynth, rolePrefix: string): Statement[] {
  const policies = s.template.findResources('AWS::IAM::Policy');
  return Object.values(policies)
    .filter((p) => JSON.stringify((p as { Properties: { Roles: unknown } }).Properties.Roles).includes(rolePrefix))
    .flatMap((p) => (p as { Properties: { PolicyDocument: { Statement: Statement[] } } }).Properties.PolicyDocument.Statement);
}
const sid = (st: Statement[], id: string) => st.find((x) => x.Sid === id);
const acts = (st: Statement) => (Array.isArray(st.Action) ? st.Action : [st.Action]);
function props(s: TablesSynth, type: string): Record<string, unknown>[] {
  return Object.values(s.template.findResources(type)).map((r) => (r as { Properties: Record<string, unknown> }).Properties);
}

describe('default: Kafka → forwarder → Kinesis (on-demand) → Firehose → one table per topic', () => {
  const s = synthTables();

  it('creates the table bucket, the namespace and a table per topic with the value-as-text and Kafka metadata columns', () => {
    expect(props(s, 'AWS::S3Tables::TableBucket')).toEqual([expect.objectContaining({ TableBucketName: 'kafka-s3-tables', EncryptionConfiguration: { SSEAlgorithm: 'AES256' } })]);
    expect(props(s, 'AWS::S3Tables::Namespace')).toEqual([expect.objectContaining({ Namespace: 'kafka' })]);
    const tables = props(s, 'AWS::S3Tables::Table');
    expect(tables.map((t) => t.TableName).sort()).toEqual(['orders', 'payments']);
    expect(tables[0]).toMatchObject({
      Namespace: 'kafka', OpenTableFormat: 'ICEBERG',
      IcebergMetadata: { IcebergSchema: { SchemaFieldList: [
        { Name: '_kafka_value', Type: 'string', Required: false },
        { Name: '_kafka_topic', Type: 'string', Required: false },
        { Name: '_kafka_partition', Type: 'int', Required: false },
        { Name: '_kafka_offset', Type: 'long', Required: false },
        { Name: '_kafka_timestamp', Type: 'timestamptz', Required: false },
        { Name: '_kafka_key', Type: 'string', Required: false },
        { Name: '_kafka_headers', Type: 'string', Required: false },
      ] } },
    });
    s.template.resourceCountIs('AWS::Glue::Catalog', 0);
  });

  it('creates an encrypted on-demand Kinesis stream', () => {
    s.template.hasResourceProperties('AWS::Kinesis::Stream', { StreamModeDetails: { StreamMode: 'ON_DEMAND' }, StreamEncryption: { EncryptionType: 'KMS', KeyId: 'alias/aws/kinesis' } });
  });

  it('runs the forwarder with one event source per topic and only PutRecords on the stream', () => {
    const fns = props(s, 'AWS::Lambda::Function');
    const forwarder = fns.find((f) => (f.Description as string).includes('forwards'))!;
    expect(forwarder).toMatchObject({ Runtime: 'nodejs24.x', Architectures: ['arm64'] });
    expect((forwarder.Environment as { Variables: Record<string, unknown> }).Variables).toMatchObject({
      VALUE_LAYOUT: 'single', ERROR_PREFIX: 'forwarder-dead-letters/', TOMBSTONES: 'ignore', VALUE_ENCODING: 'json',
    });
    expect(props(s, 'AWS::Lambda::EventSourceMapping').map((m) => m.Topics)).toEqual([['orders'], ['payments']]);
    const st = statementsOf(s, 'ForwarderRole');
    expect(sid(st, 'PutRecords')).toMatchObject({ Action: 'kinesis:PutRecords' });
    expect(sid(st, 'DeadLetters')).toMatchObject({ Action: 's3:PutObject' });
    expect(sid(st, 'KafkaClusterConnect')).toMatchObject({ Resource: MSK_ARN });
  });

  it('gives the forwarder its checkpoints (GetObject, PutObject) under STATE_PREFIX, DeleteObject on its dead letters only', async () => {
    // Prepare
    const { ForwarderEnvSchema } = await import('../../lambdas/forwarder/config.ts');
    const forwarder = props(s, 'AWS::Lambda::Function').find((f) => (f.Description as string).includes('forwards'))!;
    const vars = (forwarder.Environment as { Variables: Record<string, unknown> }).Variables;
    const [bucketId] = Object.keys(s.template.findResources('AWS::S3::Bucket')).filter((id) => id.startsWith('ErrorsBucket'));
    const objects = (prefix: string) => ({ 'Fn::Join': ['', [{ 'Fn::GetAtt': [bucketId, 'Arn'] }, `/${prefix}*`]] });

    // Act
    const s3Statements = statementsOf(s, 'ForwarderRole').filter((x) => acts(x).some((a) => a.startsWith('s3:')));

    // Assess: the function writes exactly where the role may, with the forwarder's own default.
    expect(vars).toMatchObject({ ERROR_PREFIX: 'forwarder-dead-letters/', STATE_PREFIX: 'forwarder-checkpoints/' });
    expect(ForwarderEnvSchema.shape.STATE_PREFIX.parse(undefined)).toBe(vars.STATE_PREFIX);
    expect(s3Statements).toEqual([
      { Sid: 'DeadLetters', Effect: 'Allow', Action: 's3:PutObject', Resource: objects('forwarder-dead-letters/') },
      { Sid: 'DeleteDeadLetters', Effect: 'Allow', Action: 's3:DeleteObject', Resource: objects('forwarder-dead-letters/') },
      { Sid: 'Checkpoints', Effect: 'Allow', Action: ['s3:GetObject', 's3:PutObject'], Resource: objects('forwarder-checkpoints/') },
      // Without ListBucket, S3 answers the GetObject of a checkpoint not written yet with 403, not 404; the condition
      // keeps listing to the state prefix.
      {
        Sid: 'CheckpointsNotFound', Effect: 'Allow', Action: 's3:ListBucket', Resource: { 'Fn::GetAtt': [bucketId, 'Arn'] },
        Condition: { StringLike: { 's3:prefix': 'forwarder-checkpoints/*' } },
      },
    ]);
    // No other grant reaches the checkpoints: no DeleteObject there, no GetObject of dead letters.
    for (const x of s3Statements) {
      if (acts(x).includes('s3:DeleteObject')) expect(JSON.stringify(x.Resource)).not.toContain('forwarder-checkpoints/');
      if (acts(x).includes('s3:GetObject')) expect(JSON.stringify(x.Resource)).not.toContain('forwarder-dead-letters/');
    }
    // The state prefix is apart from the dead letters and from Firehose's failed rows in the same bucket.
    for (const other of ['forwarder-dead-letters/', 'firehose-errors/']) {
      expect(other.startsWith(vars.STATE_PREFIX as string) || (vars.STATE_PREFIX as string).startsWith(other)).toBe(false);
    }
  });

  it('delivers with Firehose from the stream into the tables through the s3tablescatalog catalog, append-only', () => {
    const [d] = props(s, 'AWS::KinesisFirehose::DeliveryStream');
    expect(d.DeliveryStreamType).toBe('KinesisStreamAsSource');
    expect(d.IcebergDestinationConfiguration).toMatchObject({
      CatalogConfiguration: { CatalogArn: 'arn:aws:glue:us-east-1:111122223333:catalog/s3tablescatalog/kafka-s3-tables' },
      AppendOnly: true, BufferingHints: { IntervalInSeconds: 60, SizeInMBs: 64 }, RetryOptions: { DurationInSeconds: 300 },
      s3BackupMode: 'FailedDataOnly',
      DestinationTableConfigurationList: [
        { DestinationDatabaseName: 'kafka', DestinationTableName: 'orders', S3ErrorOutputPrefix: 'firehose-errors/orders/' },
        { DestinationDatabaseName: 'kafka', DestinationTableName: 'payments', S3ErrorOutputPrefix: 'firehose-errors/payments/' },
      ],
      ProcessingConfiguration: { Enabled: true, Processors: [expect.objectContaining({ Type: 'Lambda' })] },
      CloudWatchLoggingOptions: expect.objectContaining({ Enabled: true }),
    });
  });

  it('gives Firehose exactly the Glue, S3 Tables, Kinesis, router, error-bucket and log permissions, no wildcard action', () => {
    // The Glue and S3 Tables statements, exactly and with the pages they follow: test/lib/tables-aws-docs.test.ts.
    const st = statementsOf(s, 'DeliveryRole');
    expect(acts(sid(st, 'GlueCatalog')!)).toEqual(['glue:GetCatalog']);
    expect(acts(sid(st, 'GlueTables')!).sort()).toEqual(['glue:GetDatabase', 'glue:GetTable', 'glue:UpdateTable']);
    expect(sid(st, 'GlueTables')!.Resource).toEqual([
      'arn:aws:glue:us-east-1:111122223333:catalog',
      'arn:aws:glue:us-east-1:111122223333:catalog/s3tablescatalog',
      'arn:aws:glue:us-east-1:111122223333:catalog/s3tablescatalog/kafka-s3-tables',
      'arn:aws:glue:us-east-1:111122223333:database/s3tablescatalog/kafka-s3-tables/kafka',
      'arn:aws:glue:us-east-1:111122223333:table/s3tablescatalog/kafka-s3-tables/kafka/orders',
      'arn:aws:glue:us-east-1:111122223333:table/s3tablescatalog/kafka-s3-tables/kafka/payments',
    ]);
    expect(acts(sid(st, 'S3TablesData')!)).toContain('s3tables:PutTableData');
    expect(sid(st, 'LakeFormationDataAccess')).toBeUndefined();
    expect(acts(sid(st, 'KinesisRead')!).sort()).toEqual(['kinesis:DescribeStream', 'kinesis:DescribeStreamSummary', 'kinesis:GetRecords', 'kinesis:GetShardIterator', 'kinesis:ListShards']);
    expect(acts(sid(st, 'InvokeRouter')!)).toEqual(['lambda:GetFunctionConfiguration', 'lambda:InvokeFunction']);
    expect(acts(sid(st, 'ErrorBucketObjects')!).sort()).toEqual(['s3:AbortMultipartUpload', 's3:GetObject', 's3:PutObject']);
    for (const x of st) for (const a of acts(x)) expect(a).not.toMatch(/\*/);
    const trust = props(s, 'AWS::IAM::Role').map((r) => (r.AssumeRolePolicyDocument as { Statement: unknown[] }).Statement[0]);
    expect(trust).toContainEqual({ Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { Service: 'firehose.amazonaws.com' }, Condition: { StringEquals: { 'aws:SourceAccount': '111122223333' } } });
  });

  it('routes records with the router function (topic → table)', () => {
    const router = props(s, 'AWS::Lambda::Function').find((f) => (f.Description as string).includes('routes'))!;
    expect((router.Environment as { Variables: Record<string, unknown> }).Variables).toMatchObject({ DATABASE: 'kafka', TABLE_ROUTES: 'orders=orders,payments=payments' });
  });

  it('alarms on forwarder errors, Kinesis write throttles and iterator age, Firehose failed rows and freshness', () => {
    const alarms = props(s, 'AWS::CloudWatch::Alarm');
    // The forwarder's second line of defence (RecordCheckGaps) is a metric-math alarm, without a MetricName.
    expect(alarms.filter((a) => a.MetricName === undefined).map((a) => (a.Metrics as { Id: string }[]).map((m) => m.Id).sort())).toEqual([['expr_1', 'fallbacks', 'gaps']]);
    const names = alarms.map((a) => a.MetricName).filter((n) => n !== undefined).sort();
    expect(names).toEqual([
      'DeliveryToIceberg.DataFreshness', 'DeliveryToIceberg.FailedRowCount', 'Errors', 'GetRecords.IteratorAgeMilliseconds',
      'OffsetLag', 'RecordsDeadLettered', 'Throttles', 'WriteProvisionedThroughputExceeded',
    ]);
    s.template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'DeliveryToIceberg.DataFreshness', Namespace: 'AWS/Firehose', Threshold: 900 });
    s.template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'RecordsDeadLettered', Dimensions: [{ Name: 'service', Value: 'kafka-s3-forwarder' }] });
    s.template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
  });

  it('passes cdk-nag with no unacknowledged finding', () => {
    expect(nagFindings(s)).toEqual([]);
  });
});

describe('options', () => {
  it('routing and schemas per table: value columns from the schema file, forwarder writes fields as columns', () => {
    const s = synthTables(ROUTED);
    const tables = props(s, 'AWS::S3Tables::Table');
    expect(tables.map((t) => t.TableName).sort()).toEqual(['orders', 'payment_events']);
    const orders = tables.find((t) => t.TableName === 'orders')!;
    const fields = (orders.IcebergMetadata as { IcebergSchema: { SchemaFieldList: { Name: string; Type: string; Required: boolean }[] } }).IcebergSchema.SchemaFieldList;
    expect(fields.slice(0, 5)).toEqual([
      { Name: 'order_id', Type: 'string', Required: true }, { Name: 'customer_id', Type: 'long', Required: false },
      { Name: 'status', Type: 'string', Required: false }, { Name: 'amount', Type: 'decimal(12,2)', Required: false },
      { Name: 'created_at', Type: 'timestamptz', Required: false },
    ]);
    expect(fields.map((f) => f.Name)).toContain('_kafka_offset');
    const forwarder = props(s, 'AWS::Lambda::Function').find((f) => (f.Description as string).includes('forwards'))!;
    expect((forwarder.Environment as { Variables: Record<string, string> }).Variables.VALUE_LAYOUT).toBe('columns');
    const router = props(s, 'AWS::Lambda::Function').find((f) => (f.Description as string).includes('routes'))!;
    expect((router.Environment as { Variables: Record<string, string> }).Variables.TABLE_ROUTES).toBe('orders=orders,payments=payment_events');
    expect(nagFindings(s)).toEqual([]);
  });

  it('one topic: no router, a single destination table', () => {
    const s = synthTables({ topics: 'orders', tableColumns: 'order_id:string!,amount:double' });
    const [d] = props(s, 'AWS::KinesisFirehose::DeliveryStream');
    expect((d.IcebergDestinationConfiguration as Record<string, unknown>).ProcessingConfiguration).toBeUndefined();
    expect(props(s, 'AWS::Lambda::Function').some((f) => (f.Description as string).includes('routes'))).toBe(false);
  });

  it('provisioned Kinesis shards, buffering, retries, and upserts on Kafka coordinates when appendOnly=false', () => {
    const s = synthTables({ kinesisShardCount: '4', firehoseBufferSeconds: '300', firehoseBufferMb: '128', firehoseRetrySeconds: '3600', appendOnly: 'false' });
    s.template.hasResourceProperties('AWS::Kinesis::Stream', { ShardCount: 4, StreamModeDetails: { StreamMode: 'PROVISIONED' } });
    const [d] = props(s, 'AWS::KinesisFirehose::DeliveryStream');
    expect(d.IcebergDestinationConfiguration).toMatchObject({
      AppendOnly: false, BufferingHints: { IntervalInSeconds: 300, SizeInMBs: 128 }, RetryOptions: { DurationInSeconds: 3600 },
    });
    const list = (d.IcebergDestinationConfiguration as { DestinationTableConfigurationList: { UniqueKeys?: string[] }[] }).DestinationTableConfigurationList;
    for (const t of list) expect(t.UniqueKeys).toEqual(['_kafka_topic', '_kafka_partition', '_kafka_offset']);
  });

  it('Lake Formation mode: grants on the namespace and each of its tables, GetDataAccess instead of s3tables actions', () => {
    const s = synthTables({ lakeFormation: 'true' });
    const st = statementsOf(s, 'DeliveryRole');
    expect(sid(st, 'LakeFormationDataAccess')).toMatchObject({ Action: 'lakeformation:GetDataAccess', Resource: '*' });
    expect(sid(st, 'S3TablesData')).toBeUndefined();
    expect(sid(st, 'S3TablesBucket')).toBeUndefined();
    const grants = props(s, 'AWS::LakeFormation::PrincipalPermissions');
    expect(grants.map((g) => g.Resource)).toEqual([
      { Database: { CatalogId: '111122223333:s3tablescatalog/kafka-s3-tables', Name: 'kafka' } },
      { Table: { CatalogId: '111122223333:s3tablescatalog/kafka-s3-tables', DatabaseName: 'kafka', Name: 'orders' } },
      { Table: { CatalogId: '111122223333:s3tablescatalog/kafka-s3-tables', DatabaseName: 'kafka', Name: 'payments' } },
    ]);
    expect(nagFindings(s)).toEqual([]);
  });

  it('creates the s3tablescatalog federated catalog when asked', () => {
    const s = synthTables({ createTablesCatalog: 'true' });
    s.template.hasResourceProperties('AWS::Glue::Catalog', {
      Name: 's3tablescatalog',
      FederatedCatalog: { Identifier: 'arn:aws:s3tables:us-east-1:111122223333:bucket/*', ConnectionName: 'aws:s3tables' },
    });
  });

  it('tablesSource=msk: one Firehose per topic reading MSK directly, no forwarder or stream, the cluster policy as an output', () => {
    const s = synthTables({ tablesSource: 'msk', startingPosition: 'TRIM_HORIZON', tableColumns: 'order_id:string!,amount:double' });
    s.template.resourceCountIs('AWS::Kinesis::Stream', 0);
    s.template.resourceCountIs('AWS::Lambda::Function', 0);
    s.template.resourceCountIs('AWS::Lambda::EventSourceMapping', 0);
    const streams = props(s, 'AWS::KinesisFirehose::DeliveryStream');
    expect(streams).toHaveLength(2);
    expect(streams.map((d) => d.MSKSourceConfiguration)).toEqual([
      { MSKClusterARN: MSK_ARN, TopicName: 'orders', AuthenticationConfiguration: { RoleARN: expect.anything(), Connectivity: 'PRIVATE' }, ReadFromTimestamp: '1970-01-01T00:00:00Z' },
      { MSKClusterARN: MSK_ARN, TopicName: 'payments', AuthenticationConfiguration: { RoleARN: expect.anything(), Connectivity: 'PRIVATE' }, ReadFromTimestamp: '1970-01-01T00:00:00Z' },
    ]);
    expect(streams.map((d) => (d.IcebergDestinationConfiguration as { DestinationTableConfigurationList: { DestinationTableName: string }[] }).DestinationTableConfigurationList.map((t) => t.DestinationTableName))).toEqual([['orders'], ['payments']]);
    const st = statementsOf(s, 'DeliveryordersRole');
    expect(sid(st, 'MskTopic')).toMatchObject({ Resource: 'arn:aws:kafka:us-east-1:111122223333:topic/demo/abcd1234-ab12-cd34-ef56-abcdef123456-1/orders' });
    expect(JSON.stringify(s.template.findOutputs('ClusterPolicyStatement'))).toContain('kafka:CreateVpcConnection');
    const alarms = props(s, 'AWS::CloudWatch::Alarm').map((a) => a.MetricName).sort();
    expect(alarms).toEqual(['DeliveryToIceberg.DataFreshness', 'DeliveryToIceberg.DataFreshness', 'DeliveryToIceberg.FailedRowCount', 'DeliveryToIceberg.FailedRowCount']);
    expect(nagFindings(s)).toEqual([]);
  });

  it('self-managed Kafka with the Kinesis path', () => {
    const s = synthTables({
      mskClusterArn: '', bootstrapServers: 'b-1.kafka.internal:9096', kafkaAuth: 'scram512',
      kafkaSecretArn: 'arn:aws:secretsmanager:us-east-1:111122223333:secret:kafka-creds-AbCdEf',
    });
    expect(props(s, 'AWS::Lambda::EventSourceMapping')[0]).toMatchObject({ SelfManagedEventSource: { Endpoints: { KafkaBootstrapServers: ['b-1.kafka.internal:9096'] } } });
    expect(nagFindings(s)).toEqual([]);
  });
});

describe('review fixes', () => {
  it('upserts (appendOnly=false): the router marks records for update, even with one table', () => {
    const s = synthTables({ topics: 'orders', appendOnly: 'false', tableColumns: 'order_id:string!' });
    const router = props(s, 'AWS::Lambda::Function').find((f) => (f.Description as string).includes('routes'))!;
    expect((router.Environment as { Variables: Record<string, string> }).Variables).toMatchObject({ OPERATION: 'update', TABLE_ROUTES: 'orders=orders' });
    const [d] = props(s, 'AWS::KinesisFirehose::DeliveryStream');
    expect((d.IcebergDestinationConfiguration as Record<string, unknown>).ProcessingConfiguration).toBeDefined();
  });

  it('the delivery stream is created after its tables, namespace and role', () => {
    const s = synthTables();
    const stream = Object.values(s.template.findResources('AWS::KinesisFirehose::DeliveryStream'))[0] as { DependsOn: string[] };
    expect(stream.DependsOn.some((x) => x.startsWith('TablesTableorders'))).toBe(true);
    expect(stream.DependsOn.some((x) => x.startsWith('TablesNamespace'))).toBe(true);
    expect(stream.DependsOn.some((x) => x.startsWith('DeliveryRole'))).toBe(true);
  });

  it('Firehose may write its log stream (a log-stream ARN, not the group ARN with :*)', () => {
    const s = synthTables();
    const st = statementsOf(s, 'DeliveryRole');
    const text = JSON.stringify(sid(st, 'DeliveryLogs')!.Resource);
    expect(text).toContain(':log-stream:');
    expect(text).not.toContain('"Arn"');
  });

  it('the forwarder gets the header encoding; default table names drop trailing underscores', () => {
    const s = synthTables({ headerEncoding: 'base64', topics: 'orders-,payments' });
    const forwarder = props(s, 'AWS::Lambda::Function').find((f) => (f.Description as string).includes('forwards'))!;
    expect((forwarder.Environment as { Variables: Record<string, string> }).Variables.HEADER_ENCODING).toBe('base64');
    expect(props(s, 'AWS::S3Tables::Table').map((t) => t.TableName).sort()).toEqual(['orders', 'payments']);
  });
});

describe('the forwarder checks documents against the table columns', () => {
  const forwarderVariables = (s: TablesSynth) =>
    (props(s, 'AWS::Lambda::Function').find((f) => (f.Description as string).includes('forwards'))!.Environment as { Variables: Record<string, unknown> }).Variables;

  it('gets each table\'s value columns and the topic → table routes', () => {
    // Act
    const vars = forwarderVariables(synthTables(ROUTED));

    // Assess
    expect(vars.TABLE_ROUTES).toBe('orders=orders,payments=payment_events');
    expect(JSON.parse(vars.TABLE_COLUMNS as string)).toEqual({
      orders: { order_id: 'string!', customer_id: 'long', status: 'string', amount: 'decimal(12,2)', created_at: 'timestamptz' },
      payment_events: { payment_id: 'string!', order_id: 'string', amount: 'double' },
    });
  });

  it('gets no columns when the tables hold the value as text', () => {
    // Act
    const vars = forwarderVariables(synthTables());

    // Assess
    expect(vars.VALUE_LAYOUT).toBe('single');
    expect(vars.TABLE_COLUMNS).toBeUndefined();
    expect(vars.TABLE_ROUTES).toBeUndefined();
  });

  it('an environment the forwarder itself accepts, within Lambda\'s 4 KB', async () => {
    // Prepare
    const { loadForwarderConfig } = await import('../../lambdas/forwarder/config.ts');
    const vars = forwarderVariables(synthTables(ROUTED));
    // Tokens (stream and bucket names) at their longest.
    const env = Object.fromEntries(Object.entries(vars).map(([k, v]) => [k, typeof v === 'string' ? v : k === 'STREAM_NAME' ? 's'.repeat(128) : 'b'.repeat(63)]));

    // Act
    const cfg = loadForwarderConfig(env);

    // Assess
    expect(cfg.tables?.columns.get('orders')?.list.map((c) => c.name)).toEqual(['order_id', 'customer_id', 'status', 'amount', 'created_at']);
    expect(Buffer.byteLength(JSON.stringify(env))).toBeLessThan(4096);
  });
});
