/**
 * What a function that decodes registry-framed values itself (schemaRegistryDecoder=function) may do: read schema
 * versions of the one configured Glue registry, or read the Confluent-compatible registry's credentials secret.
 *
 * Glue: the sink calls GetSchemaVersion with a SchemaVersionId only (never GetRegistry), which AWS's own
 * deserializer policies grant on "*" (see below).
 */
import { Annotations } from 'aws-cdk-lib';
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
    // GetSchemaVersion by SchemaVersionId names no registry or schema in the request: AWS's examples grant it on
    // "*" (AWS Glue developer guide, "Integrating with AWS Glue Schema Registry", the deserializer's IAM policy; Amazon
    // Data Firehose, "Grant Firehose access to AWS Glue for data format conversion": "has no resource
    // restrictions"). The function reads only the configured registry's versions: it checks each version's
    // SchemaArn against the registry and dead-letters the others (lambdas/shared/registry/client.ts, GlueFetcher).
    role.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'ReadRegistrySchemaVersions', actions: ['glue:GetSchemaVersion'], resources: ['*'] }));
    acknowledgeWildcards(role, ['*'], 'glue:GetSchemaVersion by version ID is authorized on "*" (AWS Glue and Firehose documentation); the function reads only the configured registry\'s versions, checking each SchemaArn.');
    return;
  }
  if (access.secretArn) {
    role.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'ReadRegistryCredentials', actions: ['secretsmanager:GetSecretValue'], resources: [access.secretArn] }));
  }
  Annotations.of(scope).addWarningV2('kafka-s3:schema-registry-reach',
    `schemaRegistry: the function (not in a VPC) reaches ${access.registry} over the internet; a registry it cannot reach fails every batch until it can.`);
}
