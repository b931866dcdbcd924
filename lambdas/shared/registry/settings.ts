/**
 * The registry settings of a function that decodes registry-framed values (the sink, the forwarder): environment
 * variables, and their checks against the settings they meet.
 */
import { z } from 'zod';
import { showValue as show } from '../settings.ts';
import type { RegistrySettings } from './index.ts';

/** A Secrets Manager secret's complete ARN (the sink's S3 keys, a registry's credentials). */
export const secretArnSchema = z.string().regex(
  /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+-[A-Za-z0-9]{6}$/,
  'must be the complete ARN of a Secrets Manager secret, ending in the 6 characters Secrets Manager appends to the name (…:secret:<name>-AbCdEf)',
);

/** Where a schema registry is: a Confluent-compatible URL, or a Glue registry's ARN. */
export const RegistryLocation = /^(arn:aws[a-z-]*:glue:[a-z0-9-]+:\d{12}:registry\/[A-Za-z0-9_$#.-]{1,255}|https?:\/\/[^\s/?#]+(:\d{1,5})?(\/[^\s?#]*)?)$/;

export const RegistryEnvFields = {
  SCHEMA_REGISTRY: z.string().regex(RegistryLocation, 'must be a Confluent-compatible registry URL (http(s)://host[:port][/path]) or an AWS Glue registry ARN (arn:aws:glue:<region>:<account>:registry/<name>)').optional()
    .describe('Decode registry-framed values (and keys) with the schemas of this registry: a Confluent-compatible URL (Confluent, Apicurio ccompat, Karapace, Redpanda) or an AWS Glue registry ARN.'),
  SCHEMA_REGISTRY_ATTRIBUTES: z.enum(['value', 'key', 'key,value']).default('value').describe('With SCHEMA_REGISTRY: what is registry-framed and decoded: the value, the key, or both.'),
  SCHEMA_REGISTRY_SECRET_ARN: secretArnSchema.optional().describe('With a Confluent-compatible SCHEMA_REGISTRY: a Secrets Manager secret holding {"username","password"} (or an API key as {"key","secret"}) for basic auth.'),
  GLUE_ENDPOINT: z.url().optional().describe('AWS Glue endpoint override for a Glue SCHEMA_REGISTRY (VPC endpoints, local servers).'),
};

const RegistryEnvSchema = z.object(RegistryEnvFields);
type RegistryEnv = z.output<typeof RegistryEnvSchema> & { readonly SECRETS_MANAGER_ENDPOINT?: string };

/** SCHEMA_REGISTRY and its companions, checked against the settings they meet. */
export function registrySettings(
  e: RegistryEnv, problems: string[], uses: { readonly format: string; readonly valueEncoding: string; readonly keyEncoding: string },
): RegistrySettings | undefined {
  const location = e.SCHEMA_REGISTRY;
  if (location === undefined) {
    if (e.SCHEMA_REGISTRY_SECRET_ARN !== undefined) problems.push('SCHEMA_REGISTRY_SECRET_ARN: only used with SCHEMA_REGISTRY, which is unset');
    if (e.SCHEMA_REGISTRY_ATTRIBUTES !== 'value') problems.push(`SCHEMA_REGISTRY_ATTRIBUTES=${show(e.SCHEMA_REGISTRY_ATTRIBUTES)}: only used with SCHEMA_REGISTRY, which is unset`);
    if (e.GLUE_ENDPOINT !== undefined) problems.push('GLUE_ENDPOINT: only used with an AWS Glue SCHEMA_REGISTRY, which is unset');
    return undefined;
  }
  const kind = location.startsWith('arn:') ? 'glue' : 'confluent';
  const value = e.SCHEMA_REGISTRY_ATTRIBUTES.includes('value');
  const key = e.SCHEMA_REGISTRY_ATTRIBUTES.includes('key');
  if (kind === 'glue' && e.SCHEMA_REGISTRY_SECRET_ARN !== undefined) problems.push('SCHEMA_REGISTRY_SECRET_ARN: an AWS Glue registry is read with the function\'s role, not a secret');
  if (kind === 'confluent' && e.GLUE_ENDPOINT !== undefined) problems.push('GLUE_ENDPOINT: only used with an AWS Glue SCHEMA_REGISTRY');
  if (kind === 'confluent' && e.SCHEMA_REGISTRY_SECRET_ARN !== undefined && new URL(location).username !== '') {
    problems.push('SCHEMA_REGISTRY_SECRET_ARN: the SCHEMA_REGISTRY URL holds credentials already; use one of them');
  }
  if (uses.format === 'bytes') problems.push('SCHEMA_REGISTRY: FORMAT=bytes writes values as they are; decoding needs jsonl, csv, csv_with_headers, text, avro or parquet');
  if (value && uses.valueEncoding !== 'json') problems.push(`VALUE_ENCODING=${show(uses.valueEncoding)}: values decoded with SCHEMA_REGISTRY are JSON; use VALUE_ENCODING=json (or SCHEMA_REGISTRY_ATTRIBUTES=key)`);
  if (key && uses.keyEncoding !== 'text') problems.push(`KEY_ENCODING=${show(uses.keyEncoding)}: keys decoded with SCHEMA_REGISTRY are text; use KEY_ENCODING=text (or SCHEMA_REGISTRY_ATTRIBUTES=value)`);
  return {
    location, kind, value, key,
    nanosecondColumns: uses.format === 'avro' || uses.format === 'parquet',
    columns: ['avro', 'parquet', 'csv', 'csv_with_headers'].includes(uses.format),
    secretArn: e.SCHEMA_REGISTRY_SECRET_ARN,
    glueEndpoint: e.GLUE_ENDPOINT,
    secretsEndpoint: e.SECRETS_MANAGER_ENDPOINT,
  };
}
