/**
 * KafkaS3TablesStack against the AWS documentation it follows: the Firehose role's statements per access mode and
 * source, the Lake Formation grants of every delivery, the retain policy of every resource that holds data (both
 * stacks), and the encryption reasons of the acknowledgements. Each test names its page.
 */
import { describe, expect, it } from 'vitest';
import { LF_DATABASE_PERMISSIONS, LF_TABLE_PERMISSIONS } from '../../lib/constructs/iceberg-tables.ts';
import { MSK_ARN, nagFindings, synth, synthTables, type TablesSynth } from './synth.ts';

type Statement = { Sid?: string; Effect: string; Action: string | string[]; Resource: unknown; Condition?: unknown };
type Resource = { Type: string; Properties: Record<string, unknown>; DeletionPolicy?: string; UpdateReplacePolicy?: string; Metadata?: Record<string, unknown> };

const ACCOUNT = '111122223333';
const GLUE = `arn:aws:glue:us-east-1:${ACCOUNT}`;
const CATALOGS = [`${GLUE}:catalog`, `${GLUE}:catalog/s3tablescatalog`, `${GLUE}:catalog/s3tablescatalog/kafka-s3-tables`];
const DATABASE = `${GLUE}:database/s3tablescatalog/kafka-s3-tables/kafka`;
const glueTable = (t: string) => `${GLUE}:table/s3tablescatalog/kafka-s3-tables/kafka/${t}`;
const MSK_TABLES = { tablesSource: 'msk', tableColumns: 'order_id:string!,amount:double' };

function resources(s: { template: { toJSON(): unknown } }): Record<string, Resource> {
  return (s.template.toJSON() as { Resources: Record<string, Resource> }).Resources;
}
function logicalId(s: TablesSynth, type: string, pred: (r: Resource) => boolean): string {
  const hits = Object.entries(resources(s)).filter(([, r]) => r.Type === type && pred(r));
  expect(hits, type).toHaveLength(1);
  return hits[0][0];
}
/** The statements of the policy attached to the role whose logical ID starts with the prefix. */
function statements(s: TablesSynth, rolePrefix: string): Statement[] {
  return Object.values(resources(s))
    .filter((r) => r.Type === 'AWS::IAM::Policy' && JSON.stringify(r.Properties.Roles).includes(`"${rolePrefix}`))
    .flatMap((r) => (r.Properties.PolicyDocument as { Statement: Statement[] }).Statement);
}
const bySid = (st: Statement[]): Record<string, Statement> => Object.fromEntries(st.map((x) => [x.Sid ?? '', x]));
const tableArn = (s: TablesSynth, name: string) => ({ 'Fn::GetAtt': [logicalId(s, 'AWS::S3Tables::Table', (r) => r.Properties.TableName === name), 'TableARN'] });
const tableBucketArn = (s: TablesSynth) => ({ 'Fn::GetAtt': [logicalId(s, 'AWS::S3Tables::TableBucket', () => true), 'TableBucketARN'] });
const deliveryRoles = (s: TablesSynth) => Object.entries(resources(s))
  .filter(([, r]) => r.Type === 'AWS::IAM::Role' && JSON.stringify(r.Properties.AssumeRolePolicyDocument).includes('firehose.amazonaws.com'))
  .map(([id]) => id);

describe('Firehose role, IAM access control (the default)', () => {
  // Firehose guide, "Grant Firehose access to Amazon S3 Tables":
  //   https://docs.aws.amazon.com/firehose/latest/dev/controlling-access.html#using-s3-tables
  // Firehose guide, "Prerequisites to deliver to Amazon S3 Tables" (IAM access control: "The Firehose delivery role
  // needs IAM permissions directly on Amazon S3 Tables resources"):
  //   https://docs.aws.amazon.com/firehose/latest/dev/apache-iceberg-prereq.html#s3-tables-prerequisites
  // Glue guide, S3 Tables prerequisites (glue:GetCatalog; the S3 Tables actions for IAM access control):
  //   https://docs.aws.amazon.com/glue/latest/dg/s3tables-catalog-prerequisites.html
  const s = synthTables();
  const st = bySid(statements(s, 'DeliveryRole'));

  it('Glue: GetCatalog on the catalog levels; GetDatabase, GetTable, UpdateTable on them, the namespace and each table', () => {
    expect(st.GlueCatalog).toEqual({ Sid: 'GlueCatalog', Effect: 'Allow', Action: 'glue:GetCatalog', Resource: CATALOGS });
    expect(st.GlueTables).toEqual({
      Sid: 'GlueTables', Effect: 'Allow', Action: ['glue:GetDatabase', 'glue:GetTable', 'glue:UpdateTable'],
      Resource: [...CATALOGS, DATABASE, glueTable('orders'), glueTable('payments')],
    });
  });

  it('S3 Tables: the writer\'s actions on this table bucket and on its tables by TableARN, nothing that creates, lists or deletes', () => {
    expect(st.S3TablesBucket).toEqual({ Sid: 'S3TablesBucket', Effect: 'Allow', Action: ['s3tables:GetNamespace', 's3tables:GetTableBucket'], Resource: tableBucketArn(s) });
    expect(st.S3TablesData).toEqual({
      Sid: 'S3TablesData', Effect: 'Allow',
      Action: ['s3tables:GetTable', 's3tables:GetTableData', 's3tables:GetTableMetadataLocation', 's3tables:PutTableData', 's3tables:UpdateTableMetadataLocation'],
      Resource: [tableArn(s, 'orders'), tableArn(s, 'payments')],
    });
    expect(st.LakeFormationDataAccess).toBeUndefined();
    s.template.resourceCountIs('AWS::LakeFormation::PrincipalPermissions', 0);
  });

  it('no wildcard in a Glue or S3 Tables resource, no wildcard action anywhere', () => {
    for (const x of Object.values(st)) {
      for (const a of [x.Action].flat()) expect(a).not.toContain('*');
      if (/^(Glue|S3Tables)/.test(x.Sid!)) expect(JSON.stringify(x.Resource)).not.toContain('*');
    }
  });

  it('an MSK delivery gets its own table only', () => {
    const m = synthTables({ ...MSK_TABLES });
    const orders = bySid(statements(m, 'DeliveryordersRole'));
    expect(orders.GlueTables.Resource).toEqual([...CATALOGS, DATABASE, glueTable('orders')]);
    expect(orders.S3TablesData.Resource).toEqual(tableArn(m, 'orders'));
  });
});

describe('Firehose role, Lake Formation access control (lakeFormation=true)', () => {
  // Firehose guide, "Grant Firehose access to Amazon S3 Tables" (the Glue statement and
  // RequiredWhenDoingMetadataReadsANDDataAndMetadataWriteViaLakeformation: lakeformation:GetDataAccess on "*"):
  //   https://docs.aws.amazon.com/firehose/latest/dev/controlling-access.html#using-s3-tables
  // Glue guide, "Integrating with Amazon S3 Tables" (Lake Formation mode: IAM permissions for the Data Catalog, Lake
  // Formation grants for the resources, no S3 Tables IAM permissions when Lake Formation vends the credentials):
  //   https://docs.aws.amazon.com/glue/latest/dg/glue-federation-s3tables.html
  // S3 User Guide, "Streaming data to tables with Amazon Data Firehose", step 3 (grant the role on the tables):
  //   https://docs.aws.amazon.com/AmazonS3/latest/userguide/s3-tables-integrating-firehose.html

  it('Glue statements as in IAM mode, GetDataAccess instead of any s3tables action', () => {
    const s = synthTables({ lakeFormation: 'true' });
    const st = bySid(statements(s, 'DeliveryRole'));
    expect(Object.keys(st).sort()).toEqual(['DeliveryLogs', 'ErrorBucket', 'ErrorBucketObjects', 'GlueCatalog', 'GlueTables', 'InvokeRouter', 'KinesisRead', 'LakeFormationDataAccess']);
    expect(st.LakeFormationDataAccess).toEqual({ Sid: 'LakeFormationDataAccess', Effect: 'Allow', Action: 'lakeformation:GetDataAccess', Resource: '*' });
    expect(st.GlueTables.Resource).toEqual([...CATALOGS, DATABASE, glueTable('orders'), glueTable('payments')]);
    expect(nagFindings(s)).toEqual([]);
  });

  it('tablesSource=msk with 3 topics synthesizes (the direct stack too), and every delivery role gets its grants', () => {
    // Before: the second delivery's grants collided ("There is already a Construct with name 'LfDatabase'"), and as
    // the app builds both stacks from one context, no stack synthesized.
    const overrides = { ...MSK_TABLES, lakeFormation: 'true', topics: 'orders,payments,refunds' };
    expect(() => synth(overrides, { nag: false })).not.toThrow();
    const s = synthTables(overrides);
    const grants = Object.values(resources(s)).filter((r) => r.Type === 'AWS::LakeFormation::PrincipalPermissions').map((r) => r.Properties);
    const roles = deliveryRoles(s);
    expect(roles).toHaveLength(3);
    const catalogId = `${ACCOUNT}:s3tablescatalog/kafka-s3-tables`;
    for (const topic of ['orders', 'payments', 'refunds']) {
      const role = roles.find((r) => r.startsWith(`Delivery${topic}Role`))!;
      const mine = grants.filter((g) => JSON.stringify(g.Principal) === JSON.stringify({ DataLakePrincipalIdentifier: { 'Fn::GetAtt': [role, 'Arn'] } }));
      expect(mine).toEqual([
        { Principal: expect.anything(), Permissions: [...LF_DATABASE_PERMISSIONS], PermissionsWithGrantOption: [], Resource: { Database: { CatalogId: catalogId, Name: 'kafka' } } },
        { Principal: expect.anything(), Permissions: [...LF_TABLE_PERMISSIONS], PermissionsWithGrantOption: [], Resource: { Table: { CatalogId: catalogId, DatabaseName: 'kafka', Name: topic } } },
      ]);
      expect(bySid(statements(s, `Delivery${topic}Role`)).LakeFormationDataAccess).toBeDefined();
    }
    expect(grants).toHaveLength(6);
    expect(nagFindings(s)).toEqual([]);
  });

  it('the Kinesis path keeps the namespace grant\'s logical ID, so an update does not re-create (and revoke) it', () => {
    const s = synthTables({ lakeFormation: 'true' });
    const db = Object.keys(resources(s)).filter((id) => resources(s)[id].Type === 'AWS::LakeFormation::PrincipalPermissions' && id.startsWith('TablesLfDatabase'));
    expect(db).toEqual([s.stack.getLogicalId(s.stack.tables.node.findChild('LfDatabase') as never)]);
  });

  it('each grant is created after the table (or namespace) it names', () => {
    const s = synthTables({ ...MSK_TABLES, lakeFormation: 'true' });
    for (const [, r] of Object.entries(resources(s)).filter(([, x]) => x.Type === 'AWS::LakeFormation::PrincipalPermissions')) {
      const target = (r.Properties.Resource as { Table?: { Name: string } }).Table?.Name;
      const dependsOn = (r as { DependsOn?: string[] }).DependsOn ?? [];
      expect(dependsOn.some((d) => d.startsWith(target ? `TablesTable${target}` : 'TablesNamespace'))).toBe(true);
    }
  });
});

describe('Firehose role, MSK source', () => {
  // Firehose guide, "Grant Firehose access to an Amazon S3 destination" ("If you use Amazon MSK as your source, then
  // you can substitute that statement with the following"):
  //   https://docs.aws.amazon.com/firehose/latest/dev/controlling-access.html#using-iam-s3
  it('the cluster, topic and group statements of the guide, the topic scoped to the delivery\'s own', () => {
    const s = synthTables(MSK_TABLES);
    const st = bySid(statements(s, 'DeliverypaymentsRole'));
    const parts = 'demo/abcd1234-ab12-cd34-ef56-abcdef123456-1';
    expect(st.MskCluster).toEqual({ Sid: 'MskCluster', Effect: 'Allow', Action: ['kafka-cluster:Connect', 'kafka:DescribeCluster', 'kafka:DescribeClusterV2', 'kafka:GetBootstrapBrokers'], Resource: MSK_ARN });
    expect(st.MskTopic).toEqual({
      Sid: 'MskTopic', Effect: 'Allow', Action: ['kafka-cluster:DescribeTopic', 'kafka-cluster:DescribeTopicDynamicConfiguration', 'kafka-cluster:ReadData'],
      Resource: `arn:aws:kafka:us-east-1:${ACCOUNT}:topic/${parts}/payments`,
    });
    expect(st.MskGroup).toEqual({ Sid: 'MskGroup', Effect: 'Allow', Action: 'kafka-cluster:DescribeGroup', Resource: `arn:aws:kafka:us-east-1:${ACCOUNT}:group/${parts}/*` });
    expect(st.KinesisRead).toBeUndefined();
  });
});

describe('encryption reasons say what the stack does', () => {
  // Firehose guide, "Data protection" (a Kinesis source: "Firehose no longer stores the data at rest. Instead, the
  // data is stored in the data stream"): https://docs.aws.amazon.com/firehose/latest/dev/encryption.html
  const reasons = (s: TablesSynth) => s.stack.deliveries.map((d) => {
    const ack = d.deliveryStream.node.metadata.find((m) => m.type === 'aws:cdk:acknowledged-rules')!.data as Record<string, string>;
    const skips = ((resources(s)[s.stack.getLogicalId(d.deliveryStream)].Metadata!.checkov as { skip: { id: string; comment: string }[] }).skip);
    return { kdf1: ack['Annotation::AwsSolutions-KDF1'], checkov: skips.map((x) => `${x.id}: ${x.comment}`) };
  });

  it('Kinesis source: the stream\'s AWS managed key, not a customer key', () => {
    const s = synthTables();
    s.template.hasResourceProperties('AWS::Kinesis::Stream', { StreamEncryption: { EncryptionType: 'KMS', KeyId: 'alias/aws/kinesis' } });
    for (const r of reasons(s)) {
      for (const text of [r.kdf1, ...r.checkov]) {
        expect(text).toContain('the AWS managed key aws/kinesis');
        expect(text).not.toMatch(/customer/);
      }
      expect(r.checkov.map((x) => x.split(':')[0])).toEqual(['CKV_AWS_240', 'CKV_AWS_241']);
    }
  });

  it('MSK source: the cluster\'s own encryption', () => {
    for (const r of reasons(synthTables(MSK_TABLES))) for (const text of [r.kdf1, ...r.checkov]) expect(text).toContain('MSK cluster');
  });
});

/**
 * Every resource type either stack creates, in any of these configurations, by what it holds. A type not listed
 * fails the test: a new resource must be classified before it can be deployed.
 * - retain: holds data (tables, objects, dead letters, failed batches, keys that decrypt them) or the diagnostic logs;
 *   DeletionPolicy and UpdateReplacePolicy Retain.
 * - retain also the Kinesis stream (lib/tables-stack.ts): up to 24 h of records sent but not yet delivered by Firehose.
 * - delete: nothing that holds records.
 * - stateless: configuration only; recreated identically by a new deploy.
 */
const RETAIN = ['AWS::S3::Bucket', 'AWS::KMS::Key', 'AWS::SQS::Queue', 'AWS::S3Tables::TableBucket', 'AWS::S3Tables::Namespace', 'AWS::S3Tables::Table', 'AWS::Glue::Catalog', 'AWS::Logs::LogGroup', 'AWS::Logs::LogStream', 'AWS::Kinesis::Stream'];
const DELETE: string[] = [];
const STATELESS = [
  'AWS::IAM::Role', 'AWS::IAM::Policy', 'AWS::S3::BucketPolicy', 'AWS::SQS::QueuePolicy', 'AWS::Lambda::Function', 'AWS::Lambda::EventSourceMapping',
  'AWS::Lambda::Permission', 'AWS::CloudWatch::Alarm', 'AWS::CloudWatch::Dashboard', 'AWS::SNS::Topic', 'AWS::SNS::TopicPolicy', 'AWS::SNS::Subscription',
  'AWS::KinesisFirehose::DeliveryStream', 'AWS::LakeFormation::PrincipalPermissions', 'AWS::EC2::SecurityGroup', 'AWS::EC2::SecurityGroupIngress', 'AWS::EC2::SecurityGroupEgress',
];

describe('retain policies: every resource that holds data, in both stacks', () => {
  // CloudFormation, DeletionPolicy and UpdateReplacePolicy attributes:
  //   https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-attribute-deletionpolicy.html
  //   https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-attribute-updatereplacepolicy.html
  const SECRET = 'arn:aws:secretsmanager:us-east-1:111122223333:secret:kafka-creds-AbCdEf';
  const templates: [string, () => Record<string, Resource>][] = [
    ['direct: default', () => resources(synth({}, { nag: false }))],
    ['direct: sqs on-failure, kms key, alarm email', () => resources(synth({ onFailure: 'sqs', encryption: 'kms', alarmEmail: 'ops@example.com' }, { nag: false }))],
    ['direct: s3 on-failure, provisioned', () => resources(synth({ onFailure: 's3', minPollers: '1', maxPollers: '2' }, { nag: false }))],
    ['direct: self-managed in a VPC', () => resources(synth({
      mskClusterArn: '', bootstrapServers: 'b-1.kafka.internal:9096', kafkaAuth: 'scram512', kafkaSecretArn: SECRET,
      vpcId: 'vpc-0123456789abcdef0', subnetIds: 'subnet-0123456789abcdef0', securityGroupIds: 'sg-0123456789abcdef0',
    }, { nag: false }))],
    ['tables: default', () => resources(synthTables({}, { nag: false }))],
    ['tables: catalog, Lake Formation, sqs on-failure, alarm email', () => resources(synthTables({ createTablesCatalog: 'true', lakeFormation: 'true', onFailure: 'sqs', alarmEmail: 'ops@example.com' }, { nag: false }))],
    ['tables: s3 on-failure, one topic', () => resources(synthTables({ onFailure: 's3', topics: 'orders', tableColumns: 'order_id:string!' }, { nag: false }))],
    ['tables: MSK source, Lake Formation, catalog', () => resources(synthTables({ ...MSK_TABLES, lakeFormation: 'true', createTablesCatalog: 'true' }, { nag: false }))],
  ];

  it.each(templates)('%s', (_name, build) => {
    for (const [id, r] of Object.entries(build())) {
      const policies = { DeletionPolicy: r.DeletionPolicy, UpdateReplacePolicy: r.UpdateReplacePolicy };
      if (RETAIN.includes(r.Type)) expect(policies, `${id} (${r.Type})`).toEqual({ DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
      else if (DELETE.includes(r.Type)) expect(policies, `${id} (${r.Type})`).toEqual({ DeletionPolicy: 'Delete', UpdateReplacePolicy: 'Delete' });
      else expect(STATELESS, `${id}: ${r.Type} is not classified (RETAIN, DELETE or STATELESS in this test)`).toContain(r.Type);
    }
  });

  it('the tables stack holds each data type it creates (no classification is left untested)', () => {
    const types = new Set([
      ...Object.values(resources(synthTables({ createTablesCatalog: 'true', onFailure: 'sqs' }, { nag: false }))).map((r) => r.Type),
      ...Object.values(resources(synth({ encryption: 'kms' }, { nag: false }))).map((r) => r.Type),
    ]);
    for (const t of [...RETAIN, ...DELETE]) expect(types, t).toContain(t);
  });
});
