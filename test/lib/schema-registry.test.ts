/**
 * The event source's own schema registry support (schemaRegistry*): each mapping gets the SchemaRegistryConfig AWS
 * documents (AWS::Lambda::EventSourceMapping SchemaRegistryConfig: SchemaRegistryURI, EventRecordFormat JSON|SOURCE,
 * AccessConfigs for a Confluent registry, SchemaValidationConfigs KEY|VALUE), the function's role what the event
 * source needs to reach the registry and nothing wider, and what AWS refuses (no provisioned mode) or what would
 * dead-letter every record (JSON values kept as base64, binary payloads read as text) is refused at synth, named.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import { addPipeline } from '../../lib/app.ts';
import { CDK_DEFAULTS, MSK_ARN, nagFindings, synth, synthTables } from './synth.ts';

const GLUE = 'arn:aws:glue:us-east-1:111122223333:registry/orders-registry';
const CONFLUENT = 'https://schema-registry.example.com:8081';
const SECRET = 'arn:aws:secretsmanager:us-east-1:111122223333:secret:registry/basic-AbCdEf';
/** The event source converts: provisioned mode, and schemaRegistryDecoder=eventSource. */
const PROVISIONED = { minPollers: '1', maxPollers: '3', schemaRegistryDecoder: 'eventSource' };

type Statement = { Action: string | string[]; Resource: unknown; Sid?: string };

function statements(template: ReturnType<typeof synth>['template']): Statement[] {
  const policies = Object.values(template.findResources('AWS::IAM::Policy')) as { Properties: { PolicyDocument: { Statement: Statement[] } } }[];
  return policies.flatMap((p) => p.Properties.PolicyDocument.Statement);
}

const actionsOf = (st: Statement) => (Array.isArray(st.Action) ? st.Action : [st.Action]);

type Mapping = { Properties: Record<string, unknown> & { AmazonManagedKafkaEventSourceConfig?: { SchemaRegistryConfig?: unknown }; SelfManagedKafkaEventSourceConfig?: { SchemaRegistryConfig?: unknown } } };

/** Each mapping's SchemaRegistryConfig (inside AmazonManagedKafkaEventSourceConfig or SelfManagedKafkaEventSourceConfig). */
function registryConfigs(template: ReturnType<typeof synth>['template']): unknown[] {
  return (Object.values(template.findResources('AWS::Lambda::EventSourceMapping')) as Mapping[])
    .map((m) => (m.Properties.AmazonManagedKafkaEventSourceConfig ?? m.Properties.SelfManagedKafkaEventSourceConfig)?.SchemaRegistryConfig);
}

describe('schemaRegistry: the event source validates and converts registry-framed records', () => {
  it('a Glue registry: SchemaRegistryConfig on every mapping, glue:GetRegistry and glue:GetSchemaVersion on that registry and its schemas only', () => {
    const s = synth({ ...PROVISIONED, schemaRegistry: GLUE });
    const mappings = Object.values(s.template.findResources('AWS::Lambda::EventSourceMapping')) as Mapping[];
    expect(mappings).toHaveLength(2);
    for (const m of mappings) expect(m.Properties.ProvisionedPollerConfig).toEqual({ MinimumPollers: 1, MaximumPollers: 3 });
    expect(registryConfigs(s.template)).toEqual([0, 1].map(() => ({ SchemaRegistryURI: GLUE, EventRecordFormat: 'JSON', SchemaValidationConfigs: [{ Attribute: 'VALUE' }] })));
    const glue = statements(s.template).filter((st) => actionsOf(st).some((a) => a.startsWith('glue:')));
    expect(glue.flatMap(actionsOf).sort()).toEqual(['glue:GetRegistry', 'glue:GetSchemaVersion']);
    expect(glue.find((st) => actionsOf(st).includes('glue:GetRegistry'))!.Resource).toBe(GLUE);
    const schemas = JSON.stringify(glue.find((st) => actionsOf(st).includes('glue:GetSchemaVersion'))!.Resource);
    expect(schemas).toContain(GLUE);
    expect(schemas).toContain(':schema/${registryName}/*');
    expect(schemas).toContain('"registryName":"orders-registry"');
    expect(statements(s.template).some((st) => actionsOf(st).some((a) => a.startsWith('secretsmanager:')))).toBe(false);
    expect(nagFindings(s)).toEqual([]);
  });

  it('a Confluent registry: its URL, the secret as BASIC_AUTH (or the client certificate for mtls), read access to that secret only; key and value, as their payload', () => {
    const s = synth({ ...PROVISIONED, schemaRegistry: CONFLUENT, schemaRegistrySecretArn: SECRET, schemaRegistryFormat: 'source', schemaRegistryAttributes: 'key,value', valueEncoding: 'base64', keyEncoding: 'base64' });
    expect(registryConfigs(s.template)).toEqual([0, 1].map(() => ({
      SchemaRegistryURI: CONFLUENT, EventRecordFormat: 'SOURCE', AccessConfigs: [{ Type: 'BASIC_AUTH', URI: SECRET }],
      SchemaValidationConfigs: [{ Attribute: 'KEY' }, { Attribute: 'VALUE' }],
    })));
    const secretReads = statements(s.template).filter((st) => actionsOf(st).some((a) => a.startsWith('secretsmanager:')));
    expect(secretReads.length).toBeGreaterThan(0);
    for (const st of secretReads) expect(st.Resource).toBe(SECRET);
    expect(statements(s.template).some((st) => actionsOf(st).some((a) => a.startsWith('glue:')))).toBe(false);
    const mtls = synth({ ...PROVISIONED, schemaRegistry: CONFLUENT, schemaRegistrySecretArn: SECRET, schemaRegistryAuth: 'mtls' }, { nag: false });
    expect((registryConfigs(mtls.template)[0] as { AccessConfigs: unknown }).AccessConfigs).toEqual([{ Type: 'CLIENT_CERTIFICATE_TLS_AUTH', URI: SECRET }]);
    expect(nagFindings(s)).toEqual([]);
  });

  it('the Tables stack\'s forwarder mappings too', () => {
    const t = synthTables({ ...PROVISIONED, schemaRegistry: GLUE });
    const configs = registryConfigs(t.template);
    expect(configs.length).toBeGreaterThan(0);
    for (const c of configs) expect(c).toMatchObject({ SchemaRegistryURI: GLUE, EventRecordFormat: 'JSON' });
  });

  it('without schemaRegistry: no SchemaRegistryConfig, and its settings alone are refused', () => {
    const s = synth({ minPollers: '1', maxPollers: '3' });
    expect(registryConfigs(s.template)).toEqual([undefined, undefined]);
    expect(() => synth({ schemaRegistryFormat: 'source' })).toThrow(/schemaRegistryFormat='source': only with schemaRegistry/);
    expect(() => synth({ schemaRegistrySecretArn: SECRET })).toThrow(/schemaRegistrySecretArn=.*: only with a Confluent schemaRegistry/);
  });

  it('refuses at synth what AWS refuses or what would dead-letter every record, naming the key', () => {
    const refused: [Record<string, string>, RegExp][] = [
      [{ schemaRegistry: GLUE, schemaRegistryDecoder: 'eventSource' }, /schemaRegistry='arn:aws:glue:.*': the event source supports a schema registry in provisioned mode only \(set minPollers and maxPollers, or schemaRegistryDecoder=function\)/],
      [{ ...PROVISIONED, schemaRegistry: 'http://registry.example.com', schemaRegistrySecretArn: SECRET }, /schemaRegistry='http:\/\/registry\.example\.com': the event source reaches a Confluent registry over https only/],
      [{ ...PROVISIONED, schemaRegistry: 'https://user:pw@registry.example.com' }, /schemaRegistry='https:\/\/user:pw@registry\.example\.com': must be an AWS Glue schema registry ARN .* no credentials in it/],
      [{ ...PROVISIONED, schemaRegistry: 'arn:aws:glue:us-east-1:111122223333:schema/orders/x' }, /schemaRegistry='arn:aws:glue:us-east-1:111122223333:schema\/orders\/x': must be an AWS Glue schema registry ARN/],
      [{ ...PROVISIONED, schemaRegistry: CONFLUENT }, /schemaRegistrySecretArn=\(unset\): a Confluent registry needs the secret/],
      [{ ...PROVISIONED, schemaRegistry: CONFLUENT, schemaRegistrySecretArn: 'arn:aws:secretsmanager:us-east-1:111122223333:secret:registry/basic' }, /schemaRegistrySecretArn='arn:aws:secretsmanager:[^']*': must be the complete ARN of a Secrets Manager secret/],
      [{ ...PROVISIONED, schemaRegistry: GLUE, schemaRegistrySecretArn: SECRET }, /a Glue registry is reached with the function's role, not a secret/],
      [{ ...PROVISIONED, schemaRegistry: GLUE, schemaRegistryAuth: 'mtls' }, /schemaRegistryAuth='mtls': only for a Confluent registry/],
      [{ ...PROVISIONED, schemaRegistry: GLUE, valueEncoding: 'base64' }, /valueEncoding='base64': with schemaRegistryFormat=json the event source delivers each value as JSON text/],
      [{ ...PROVISIONED, schemaRegistry: GLUE, schemaRegistryFormat: 'source' }, /valueEncoding='json': with schemaRegistryFormat=source values arrive as their binary payload/],
      [{ ...PROVISIONED, schemaRegistry: GLUE, schemaRegistryFormat: 'source', schemaRegistryAttributes: 'key', valueEncoding: 'json' }, /keyEncoding='text': with schemaRegistryFormat=source keys arrive as their binary payload/],
    ];
    for (const [context, message] of refused) expect(() => synth(context, { nag: false }), JSON.stringify(context)).toThrow(message);
    // A registry of another region (checked where the stacks get their region).
    const app = new App({ context: { ...CDK_DEFAULTS, mskClusterArn: MSK_ARN, topics: 'orders', ...PROVISIONED, schemaRegistry: 'arn:aws:glue:eu-west-1:111122223333:registry/r' }, outdir: mkdtempSync(join(tmpdir(), 'kafka-s3-cdk-')) });
    expect(() => addPipeline(app, { env: { account: '111122223333', region: 'us-east-1' } })).toThrow(/schemaRegistry='arn:aws:glue:eu-west-1:.*': is in eu-west-1, but the stacks deploy to us-east-1/);
    // A key-only registry leaves the value as it was.
    expect(() => synth({ ...PROVISIONED, schemaRegistry: GLUE, schemaRegistryFormat: 'source', schemaRegistryAttributes: 'key', keyEncoding: 'base64' }, { nag: false })).not.toThrow();
  });
});

describe('schemaRegistryDecoder=function (the default): the stack\'s function decodes, any capacity mode', () => {
  const env = (template: ReturnType<typeof synth>['template'], entry: string): Record<string, string> => {
    const fns = Object.values(template.findResources('AWS::Lambda::Function')) as { Properties: { Handler?: string; Environment?: { Variables: Record<string, string> } } }[];
    return fns.map((f) => f.Properties.Environment?.Variables ?? {}).find((v) => entry in v) ?? {};
  };

  it('a Glue registry: SCHEMA_REGISTRY in the sink\'s environment, glue:GetSchemaVersion as AWS documents it (by version ID: on "*"), no SchemaRegistryConfig', () => {
    const s = synth({ schemaRegistry: GLUE, schemaRegistryAttributes: 'key,value' });
    expect(registryConfigs(s.template)).toEqual([undefined, undefined]);
    const vars = env(s.template, 'SCHEMA_REGISTRY');
    expect([vars.SCHEMA_REGISTRY, vars.SCHEMA_REGISTRY_ATTRIBUTES, vars.SCHEMA_REGISTRY_SECRET_ARN]).toEqual([GLUE, 'key,value', undefined]);
    const glue = statements(s.template).filter((st) => actionsOf(st).some((a) => a.startsWith('glue:')));
    expect(glue.flatMap(actionsOf)).toEqual(['glue:GetSchemaVersion']);
    expect(glue[0].Resource).toBe('*');
    expect(statements(s.template).some((st) => actionsOf(st).some((a) => a.startsWith('secretsmanager:')))).toBe(false);
    expect(nagFindings(s)).toEqual([]);
  });

  it('a Confluent-compatible registry: its URL and the secret in the environment, read access to that secret only; http is allowed, a secret optional', () => {
    const s = synth({ schemaRegistry: CONFLUENT, schemaRegistrySecretArn: SECRET });
    expect(registryConfigs(s.template)).toEqual([undefined, undefined]);
    const vars = env(s.template, 'SCHEMA_REGISTRY');
    expect([vars.SCHEMA_REGISTRY, vars.SCHEMA_REGISTRY_SECRET_ARN]).toEqual([CONFLUENT, SECRET]);
    const secretReads = statements(s.template).filter((st) => actionsOf(st).some((a) => a.startsWith('secretsmanager:')));
    expect(secretReads.map((st) => [actionsOf(st), st.Resource])).toEqual([[['secretsmanager:GetSecretValue'], SECRET]]);
    expect(statements(s.template).some((st) => actionsOf(st).some((a) => a.startsWith('glue:')))).toBe(false);
    expect(nagFindings(s)).toEqual([]);
    expect(() => synth({ schemaRegistry: 'http://registry.internal:8081' }, { nag: false })).not.toThrow();
  });

  it('the Tables stack\'s forwarder decodes too', () => {
    const t = synthTables({ schemaRegistry: GLUE });
    expect(registryConfigs(t.template).every((c) => c === undefined)).toBe(true);
    expect(env(t.template, 'STREAM_NAME').SCHEMA_REGISTRY).toBe(GLUE);
    expect(statements(t.template).filter((st) => actionsOf(st).includes('glue:GetSchemaVersion'))).toHaveLength(1);
  });

  it('refuses what the function cannot do, naming the key', () => {
    const refused: [Record<string, string>, RegExp][] = [
      [{ schemaRegistry: CONFLUENT, schemaRegistrySecretArn: SECRET, schemaRegistryAuth: 'mtls' }, /schemaRegistryAuth='mtls': the function authenticates with basic auth/],
      [{ schemaRegistry: GLUE, schemaRegistryFormat: 'source' }, /schemaRegistryFormat='source': only with schemaRegistryDecoder=eventSource/],
      [{ schemaRegistry: GLUE, valueEncoding: 'base64' }, /valueEncoding='base64'.*values decoded with SCHEMA_REGISTRY are JSON/],
      [{ schemaRegistry: GLUE, schemaRegistryAttributes: 'key', keyEncoding: 'base64' }, /keyEncoding='base64'.*keys decoded with SCHEMA_REGISTRY are text/],
      [{ schemaRegistry: GLUE, format: 'bytes' }, /FORMAT=bytes writes values as they are/],
      [{ schemaRegistry: GLUE, tablesSource: 'msk', tableColumns: 'id:long' }, /with tablesSource=msk Firehose reads the topics itself/],
      [{ schemaRegistryDecoder: 'eventSource' }, /schemaRegistryDecoder='eventSource': only with schemaRegistry/],
    ];
    for (const [context, message] of refused) expect(() => synth(context, { nag: false }), JSON.stringify(context)).toThrow(message);
  });
});
