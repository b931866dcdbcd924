/**
 * A Glue database and one external table per spec (lib/catalog.ts) over the sink bucket, so that Athena queries the
 * objects right after `cdk deploy`: no crawler, no `MSCK REPAIR TABLE`, no partitions to add as hours pass
 * (partition projection computes them from the table's parameters).
 *
 * The tables are metadata only: deleting the stack deletes them, never the objects.
 */
import * as glue from 'aws-cdk-lib/aws-glue';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { projectionParameters, type CatalogConfig, type GlueColumn } from '../catalog.ts';

export interface GlueCatalogProps {
  readonly bucket: s3.IBucket;
  readonly config: CatalogConfig;
  /** @default - no description */
  readonly description?: string;
}

const PRIMITIVES = new Set(['boolean', 'int', 'bigint', 'float', 'double', 'string', 'binary', 'timestamp', 'date']);

function columnsOf(columns: readonly GlueColumn[]): glue.Column[] {
  return columns.map((c) => ({ name: c.name, type: { inputString: c.type, isPrimitive: PRIMITIVES.has(c.type) }, comment: c.comment }));
}

export class GlueCatalog extends Construct {
  readonly database: glue.Database;
  /** Table name → table. */
  readonly tables: ReadonlyMap<string, glue.S3Table>;

  constructor(scope: Construct, id: string, props: GlueCatalogProps) {
    super(scope, id);
    // Named: a database CloudFormation names itself "is not compatible with Athena" (AWS::Glue::Database).
    this.database = new glue.Database(this, 'Database', { databaseName: props.config.database, description: props.description });
    const tables = new Map<string, glue.S3Table>();
    for (const spec of props.config.tables) {
      const table = new glue.S3Table(this, `Table-${spec.name}`, {
        database: this.database,
        tableName: spec.name,
        description: `Kafka topic${spec.topics.length > 1 ? 's' : ''} ${spec.topics.join(', ')} as the sink writes them`,
        storage: glue.S3TableStorage.fromBucket(props.bucket),
        s3Prefix: spec.locationPrefix,
        columns: columnsOf(spec.columns),
        partitionKeys: spec.partitionKeys.length > 0 ? columnsOf(spec.partitionKeys) : undefined,
        dataFormat: new glue.DataFormat({
          inputFormat: new glue.InputFormat(spec.inputFormat),
          outputFormat: new glue.OutputFormat(spec.outputFormat),
          serializationLibrary: new glue.SerializationLibrary(spec.serde.library),
        }),
        parameters: { ...spec.parameters, ...projectionParameters(spec, props.bucket.bucketName) },
        // SSE-S3 and SSE-KMS are read transparently; has_encrypted_data is for client-side encryption (CSE-KMS),
        // "This step is not required if SSE-KMS is used" (Athena user guide, "Create tables based on encrypted
        // datasets in Amazon S3").
        hasEncryptedData: false,
      });
      const cfn = table.node.defaultChild as glue.CfnTable;
      // The SerDe's own settings (the Avro schema, the line pattern, CSV quoting), which the L2 table does not take.
      if (Object.keys(spec.serde.parameters).length > 0) {
        cfn.addPropertyOverride('TableInput.StorageDescriptor.SerdeInfo.Parameters', spec.serde.parameters);
      }
      // "When you create a table used by Amazon Athena, and you do not specify any partitionKeys, you must at least
      // set the value of partitionKeys to an empty list" (Glue API, TableInput).
      if (spec.partitionKeys.length === 0) cfn.addPropertyOverride('TableInput.PartitionKeys', []);
      // Table parameters are a map of strings (Glue API, TableInput); the L2 table writes this one as a boolean.
      cfn.addPropertyOverride('TableInput.Parameters.has_encrypted_data', 'false');
      tables.set(spec.name, table);
    }
    this.tables = tables;
  }
}
