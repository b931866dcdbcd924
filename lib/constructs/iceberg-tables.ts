/**
 * An S3 table bucket, its namespace and Iceberg tables, and — when asked — the s3tablescatalog Glue catalog that the
 * S3 Tables analytics integration creates (once per account and region) and the Lake Formation grants for the
 * writers in LF access mode.
 *
 * Everything here that holds data — the table bucket, the namespace, the tables and the catalog — is retained
 * (DeletionPolicy and UpdateReplacePolicy Retain): a topic removed from the context, a schema change or `cdk destroy`
 * leaves the table and its data in the bucket instead of deleting them (README, "What `cdk destroy` keeps").
 */
import { RemovalPolicy, Stack, type CfnResource } from 'aws-cdk-lib';
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

/**
 * Lake Formation permissions of a writer (LF access mode). The Firehose guide ("Prerequisites to deliver to Amazon S3
 * Tables") asks for Lake Formation permissions on the table resources, the S3 User Guide ("Streaming data to tables
 * with Amazon Data Firehose", step 3) for explicit permissions on the table or namespace; neither lists them, so these
 * are the ones that cover the calls Firehose makes: DESCRIBE on the namespace (glue:GetDatabase) and, on each table it
 * writes, DESCRIBE (glue:GetTable), SELECT and INSERT (the read and write credentials lakeformation:GetDataAccess
 * vends for the table's data) and ALTER (glue:UpdateTable, which commits each new snapshot).
 */
export const LF_DATABASE_PERMISSIONS = ['DESCRIBE'] as const;
export const LF_TABLE_PERMISSIONS = ['DESCRIBE', 'SELECT', 'INSERT', 'ALTER'] as const;

export class IcebergTables extends Construct {
  readonly tableBucket: s3tables.CfnTableBucket;
  readonly tableBucketArn: string;
  /** The Glue catalog Firehose writes through: arn:aws:glue:<region>:<account>:catalog/s3tablescatalog/<table-bucket>. */
  readonly catalogArn: string;
  readonly catalog?: glue.CfnCatalog;
  readonly namespaceResource: s3tables.CfnNamespace;
  readonly tableResources: s3tables.CfnTable[] = [];
  readonly namespace: string;
  readonly tableBucketName: string;
  private readonly byName = new Map<string, s3tables.CfnTable>();
  private readonly grantKeys = new Set<string>();

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
    retain(this.tableBucket);
    this.tableBucketArn = this.tableBucket.attrTableBucketArn;
    this.namespaceResource = new s3tables.CfnNamespace(this, 'Namespace', { namespace: props.namespace, tableBucketArn: this.tableBucketArn });
    retain(this.namespaceResource);
    for (const [name, columns] of props.tables) {
      // IcebergMetadata is create-only ("Update requires: Replacement"): CloudFormation would have to create a second
      // table of the same name first, which fails, so the update rolls back. A new schema goes into a new table name
      // (README, "Table schema").
      const table = new s3tables.CfnTable(this, `Table-${name}`, {
        tableBucketArn: this.tableBucketArn,
        namespace: props.namespace,
        tableName: name,
        openTableFormat: 'ICEBERG',
        icebergMetadata: { icebergSchema: { schemaFieldList: columns.map((c) => ({ name: c.name, type: c.type, required: c.required })) } },
      });
      retain(table);
      table.addResourceDependency(this.namespaceResource);
      this.tableResources.push(table);
      this.byName.set(name, table);
    }
    this.catalogArn = `arn:${stack.partition}:glue:${stack.region}:${stack.account}:catalog/s3tablescatalog/${props.tableBucketName}`;
    if (props.createCatalog) {
      this.catalog = new glue.CfnCatalog(this, 'S3TablesCatalog', {
        name: 's3tablescatalog',
        federatedCatalog: { identifier: `arn:${stack.partition}:s3tables:${stack.region}:${stack.account}:bucket/*`, connectionName: 'aws:s3tables' },
        allowFullTableExternalDataAccess: 'True',
      });
      // The account's one s3tablescatalog: every table bucket of the region is reached through it, not only ours.
      retain(this.catalog);
      for (const t of this.tableResources) t.addResourceDependency(this.catalog);
    }
  }

  /** The S3 Tables ARN of each named table (its TableARN attribute). */
  tableArns(tableNames: readonly string[]): string[] {
    return tableNames.map((n) => this.table(n).attrTableArn);
  }

  /**
   * Glue ARNs a writer of these tables needs through the federated catalog: Glue authorizes a table action on the
   * table and on every level above it (root catalog, s3tablescatalog, this table bucket's catalog, the namespace).
   */
  glueArns(tableNames: readonly string[]): { readonly catalogs: string[]; readonly database: string; readonly tables: string[] } {
    const s = Stack.of(this);
    const base = `arn:${s.partition}:glue:${s.region}:${s.account}`;
    for (const n of tableNames) this.table(n);
    return {
      catalogs: [`${base}:catalog`, `${base}:catalog/s3tablescatalog`, this.catalogArn],
      database: `${base}:database/s3tablescatalog/${this.tableBucketName}/${this.namespace}`,
      tables: tableNames.map((n) => `${base}:table/s3tablescatalog/${this.tableBucketName}/${this.namespace}/${n}`),
    };
  }

  /**
   * Lake Formation access mode: the writer may describe the namespace and describe, read, write and alter the named
   * tables (LF_DATABASE_PERMISSIONS, LF_TABLE_PERMISSIONS). One set of grants per writer: `key` names the writer
   * ('' for the one delivery of the Kinesis path, whose grant IDs are those this construct always used: an update
   * must not re-create an identical grant, or removing the old resource would revoke it), and a key used twice throws.
   */
  grantLakeFormation(key: string, principalArn: string, tableNames: readonly string[]): lakeformation.CfnPrincipalPermissions[] {
    if (this.grantKeys.has(key)) throw new Error(`IcebergTables.grantLakeFormation: grants for '${key}' exist already (one key per writer)`);
    this.grantKeys.add(key);
    const s = Stack.of(this);
    const catalogId = `${s.account}:s3tablescatalog/${this.tableBucketName}`;
    const principal = { dataLakePrincipalIdentifier: principalArn };
    const db = new lakeformation.CfnPrincipalPermissions(this, `LfDatabase${key}`, {
      principal, permissions: [...LF_DATABASE_PERMISSIONS], permissionsWithGrantOption: [],
      resource: { database: { catalogId, name: this.namespace } },
    });
    const grants = [db];
    for (const name of tableNames) {
      const g = new lakeformation.CfnPrincipalPermissions(this, `LfTable${key}-${name}`, {
        principal, permissions: [...LF_TABLE_PERMISSIONS], permissionsWithGrantOption: [],
        resource: { table: { catalogId, databaseName: this.namespace, name } },
      });
      g.addResourceDependency(this.table(name));
      grants.push(g);
    }
    db.addResourceDependency(this.namespaceResource);
    for (const g of grants) if (this.catalog) g.addResourceDependency(this.catalog);
    return grants;
  }

  private table(name: string): s3tables.CfnTable {
    const t = this.byName.get(name);
    if (!t) throw new Error(`IcebergTables: no table '${name}' (tables: ${[...this.byName.keys()].join(', ')})`);
    return t;
  }
}

function retain(r: CfnResource): void {
  r.applyRemovalPolicy(RemovalPolicy.RETAIN);
}
