/**
 * An S3 table bucket, its namespace and Iceberg tables, and — when asked — the s3tablescatalog Glue catalog that the
 * S3 Tables analytics integration creates (once per account and region) and the Lake Formation grants for the
 * writer in LF access mode.
 */
import { Stack } from 'aws-cdk-lib';
import * as glue from 'aws-cdk-lib/aws-glue';
import * as lakeformation from 'aws-cdk-lib/aws-lakeformation';
import * as s3tables from 'aws-cdk-lib/aws-s3tables';
import { Construct } from 'constructs';
import type { IcebergColumn } from '../table-schema.ts';

export interface IcebergTablesProps {
  readonly tableBucketName: string;
  readonly namespace: string;
  /** Table name → its columns (value columns and Kafka metadata columns). */
  readonly tables: ReadonlyMap<string, readonly IcebergColumn[]>;
  /** Create the s3tablescatalog federated Glue catalog. @default false (enabled once per account and region) */
  readonly createCatalog?: boolean;
}

export class IcebergTables extends Construct {
  readonly tableBucket: s3tables.CfnTableBucket;
  readonly tableBucketArn: string;
  /** The Glue catalog Firehose writes through: arn:aws:glue:<region>:<account>:catalog/s3tablescatalog/<table-bucket>. */
  readonly catalogArn: string;
  readonly catalog?: glue.CfnCatalog;
  readonly tableResources: s3tables.CfnTable[] = [];
  readonly namespace: string;
  readonly tableBucketName: string;

  constructor(scope: Construct, id: string, props: IcebergTablesProps) {
    super(scope, id);
    const stack = Stack.of(this);
    this.namespace = props.namespace;
    this.tableBucketName = props.tableBucketName;
    this.tableBucket = new s3tables.CfnTableBucket(this, 'TableBucket', {
      tableBucketName: props.tableBucketName,
      encryptionConfiguration: { sseAlgorithm: 'AES256' },
      unreferencedFileRemoval: { status: 'Enabled', unreferencedDays: 3, noncurrentDays: 10 },
    });
    this.tableBucketArn = this.tableBucket.attrTableBucketArn;
    const ns = new s3tables.CfnNamespace(this, 'Namespace', { namespace: props.namespace, tableBucketArn: this.tableBucketArn });
    for (const [name, columns] of props.tables) {
      const table = new s3tables.CfnTable(this, `Table-${name}`, {
        tableBucketArn: this.tableBucketArn,
        namespace: props.namespace,
        tableName: name,
        openTableFormat: 'ICEBERG',
        icebergMetadata: { icebergSchema: { schemaFieldList: columns.map((c) => ({ name: c.name, type: c.type, required: c.required })) } },
      });
      table.addResourceDependency(ns);
      this.tableResources.push(table);
    }
    this.catalogArn = `arn:${stack.partition}:glue:${stack.region}:${stack.account}:catalog/s3tablescatalog/${props.tableBucketName}`;
    if (props.createCatalog) {
      this.catalog = new glue.CfnCatalog(this, 'S3TablesCatalog', {
        name: 's3tablescatalog',
        federatedCatalog: { identifier: `arn:${stack.partition}:s3tables:${stack.region}:${stack.account}:bucket/*`, connectionName: 'aws:s3tables' },
        allowFullTableExternalDataAccess: 'True',
      });
      for (const t of this.tableResources) t.addResourceDependency(this.catalog);
    }
  }

  /** Glue resource ARNs of the namespace and its tables in the federated catalog. */
  glueArns(): string[] {
    const s = Stack.of(this);
    const base = `arn:${s.partition}:glue:${s.region}:${s.account}`;
    return [
      `${base}:catalog`,
      `${base}:catalog/s3tablescatalog`,
      this.catalogArn,
      `${base}:database/s3tablescatalog/${this.tableBucketName}/${this.namespace}`,
      `${base}:table/s3tablescatalog/${this.tableBucketName}/${this.namespace}/*`,
    ];
  }

  /** Lake Formation access mode: the writer may describe the namespace and write its tables. */
  grantLakeFormation(principalArn: string): lakeformation.CfnPrincipalPermissions[] {
    const s = Stack.of(this);
    const catalogId = `${s.account}:s3tablescatalog/${this.tableBucketName}`;
    const principal = { dataLakePrincipalIdentifier: principalArn };
    const db = new lakeformation.CfnPrincipalPermissions(this, 'LfDatabase', {
      principal, permissions: ['DESCRIBE'], permissionsWithGrantOption: [],
      resource: { database: { catalogId, name: this.namespace } },
    });
    const tables = new lakeformation.CfnPrincipalPermissions(this, 'LfTables', {
      principal, permissions: ['DESCRIBE', 'SELECT', 'INSERT', 'ALTER'], permissionsWithGrantOption: [],
      resource: { table: { catalogId, databaseName: this.namespace, tableWildcard: {} } },
    });
    for (const g of [db, tables]) {
      for (const t of this.tableResources) g.addResourceDependency(t);
      if (this.catalog) g.addResourceDependency(this.catalog);
    }
    return [db, tables];
  }
}
