/**
 * What a function that decodes registry-framed values itself (schemaRegistryDecoder=function) may do: read schema
 * versions of the one configured Glue registry, or read the Confluent-compatible registry's credentials secret.
 *
 * Glue: the sink calls GetSchemaVersion with a SchemaVersionId only. The Glue Schema Registry's IAM actions are
 * authorized on the registry and schema resources (AWS Glue developer guide, "IAM permissions for the Schema
 * Registry": arn:aws:glue:<region>:<account>:registry/<name> and …:schema/<registry>/<schema>), as for the event
 * source's own registry support (Lambda guide, "Using schema registries with Kafka event sources in Lambda":
 * glue:GetRegistry and glue:GetSchemaVersion); the sink never reads the registry itself, so only GetSchemaVersion.
 */
import { Annotations, Arn, ArnFormat, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';
import { acknowledgeWildcards } from './nag.ts';

export interface RegistryAccess {
  /** A Glue registry ARN, or a Confluent-compatible registry URL. */
  readonly registry: string;
  /** Confluent: the secret with the basic-auth credentials. */
  readonly secretArn?: string;
}

/** Adds the registry reads to `role` and notes how the function reaches the registry. */
export function grantRegistryRead(scope: Construct, role: iam.IRole, access: RegistryAccess): void {
  if (access.registry.startsWith('arn:')) {
    const arn = Arn.split(access.registry, ArnFormat.SLASH_RESOURCE_NAME);
    const schemas = Stack.of(scope).formatArn({ ...arn, service: 'glue', resource: 'schema', resourceName: `${arn.resourceName}/*`, arnFormat: ArnFormat.SLASH_RESOURCE_NAME });
    role.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'ReadRegistrySchemaVersions', actions: ['glue:GetSchemaVersion'], resources: [access.registry, schemas] }));
    acknowledgeWildcards(role, [schemas], 'Producers name the schema version (a UUID in each value); the grant is limited to the schemas of the configured Glue registry.');
    return;
  }
  if (access.secretArn) {
    role.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'ReadRegistryCredentials', actions: ['secretsmanager:GetSecretValue'], resources: [access.secretArn] }));
  }
  Annotations.of(scope).addWarningV2('kafka-s3:schema-registry-reach',
    `schemaRegistry: the function (not in a VPC) reaches ${access.registry} over the internet; a registry it cannot reach fails every batch until it can.`);
}
