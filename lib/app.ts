/**
 * The app's stacks for one pipeline: configuration from the context (every key checked, unknown ones refused), the
 * direct stack and the tables stack named after the pipeline (lib/naming.ts), the endpoints stack when asked for,
 * and cdk-nag. bin/app.ts calls this once; a program (or a test) may call it for several pipelines in one app, and
 * what two pipelines of one app would share (stacks, consumer groups, the table bucket) is refused.
 */
import { type App, type Environment, Fn, Token, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ConfigError } from '../lambdas/shared/errors.ts';
import { loadAppConfig, type AppConfig } from './config.ts';
import { KafkaS3DirectStack } from './direct-stack.ts';
import { KafkaS3EndpointsStack } from './endpoints-stack.ts';
import { KafkaS3ReplayStack } from './replay-stack.ts';
import { consumerGroupId, stackId } from './naming.ts';
import { KafkaS3TablesStack } from './tables-stack.ts';

export interface Pipeline {
  readonly config: AppConfig;
  readonly direct: KafkaS3DirectStack;
  readonly tables: KafkaS3TablesStack;
  /** With vpcEndpoints=true: the PrivateLink endpoints both stacks depend on. */
  readonly endpoints?: KafkaS3EndpointsStack;
  /** With replay=true: the serverless replay of the direct stack's bucket. */
  readonly replay?: KafkaS3ReplayStack;
}

export interface PipelineOptions {
  /** Context of this pipeline; @default the app's context (cdk.json and -c values) */
  readonly context?: Readonly<Record<string, unknown>>;
  readonly env?: Environment;
  /** Directory relative paths (schemaFile, tableSchemaFile) are resolved from. @default the working directory */
  readonly baseDir?: string;
}

/** What the pipelines of one app have claimed so far: names that must not repeat. */
const claimed = new WeakMap<App, Map<string, string>>();

/**
 * Resources of the context that must be in the region the stacks deploy to (Lambda guide, Kafka authentication:
 * "secrets must be stored in the same AWS Region as your Lambda function"; an event source mapping reads a cluster
 * of its own region).
 */
function regionProblems(c: AppConfig, region: string | undefined): string[] {
  if (!region || Token.isUnresolved(region)) return [];
  const arns: [string, string | undefined][] = [
    ['mskClusterArn', c.mskClusterArn], ['kafkaSecretArn', c.kafkaSecretArn], ['kafkaRootCaSecretArn', c.kafkaRootCaSecretArn],
    ['kafkaSecretKmsKeyArn', c.kafkaSecretKmsKeyArn], ['s3CredentialsSecretArn', c.s3CredentialsSecretArn],
    ['schemaRegistry', c.schemaRegistry?.startsWith('arn:') ? c.schemaRegistry : undefined], ['schemaRegistrySecretArn', c.schemaRegistrySecretArn],
  ];
  return arns.flatMap(([key, arn]) => {
    const r = arn?.split(':')[3];
    return arn && r && r !== region ? [`${key}='${arn}': is in ${r}, but the stacks deploy to ${region}; the event source and the function use resources of their own region`] : [];
  });
}

/** Adds one pipeline's stacks to `app`. Throws ConfigError with every problem of the context. */
export function addPipeline(app: App, opts: PipelineOptions = {}): Pipeline {
  const context = opts.context ?? app.node.getAllContext();
  const config = loadAppConfig((key) => context[key], opts.baseDir, Object.keys(context));
  const env = opts.env;
  const problems = regionProblems(config, env?.region);
  const names = claimed.get(app) ?? new Map<string, string>();
  const mine = [
    ...(['direct', 'tables', ...(config.replay ? ['replay'] as const : [])] as const).map((k) => `stack ${stackId(config, k)}`),
    ...config.topics.flatMap((t) => (['direct', 'tables'] as const).map((k) => `consumer group ${consumerGroupId(config, k, t)}`)),
    `table bucket ${config.tableBucketName}`,
  ];
  for (const n of mine) if (names.has(n)) problems.push(`pipeline='${config.pipelineName}': its ${n} is also pipeline '${names.get(n)}''s; give each pipeline its own name (and tableBucketName)`);
  if (problems.length > 0) throw new ConfigError(problems, 'CDK context');
  for (const n of mine) names.set(n, config.pipelineName);
  claimed.set(app, names);

  const named = config.pipelineNamed ? `, pipeline ${config.pipelineName}` : '';
  const endpoints = config.vpcEndpoints && config.vpcId
    ? new KafkaS3EndpointsStack(app, stackId(config, 'endpoints'), {
      config, env, description: `PrivateLink endpoints the Kafka event source needs in the brokers' VPC (kafka-s3${named})`,
    })
    : undefined;
  const direct = new KafkaS3DirectStack(app, stackId(config, 'direct'), {
    config, env, baseDir: opts.baseDir, description: `Kafka topics into S3 objects through a serverless sink (kafka-s3${named})`,
  });
  const tables = new KafkaS3TablesStack(app, stackId(config, 'tables'), {
    config, env, description: `Kafka topics into Iceberg tables of an S3 table bucket (kafka-s3${named})`,
  });
  if (endpoints) for (const s of [direct, tables]) s.addStackDependency(endpoints, 'the event source reaches AWS services through these endpoints');
  const replay = config.replay
    ? new KafkaS3ReplayStack(app, stackId(config, 'replay'), {
      config, env, source: replaySource(config, direct),
      description: `Replays objects of the direct stack's bucket back into Kafka, on demand (kafka-s3${named})`,
    })
    : undefined;
  replay?.addStackDependency(direct, 'it reads the bucket the direct stack exports');
  return { config, direct, tables, endpoints, replay };
}

/** What the replay stack reads: the bucket by name (an import of the direct stack's export when it created it), its key. */
export function replaySource(c: AppConfig, direct: KafkaS3DirectStack): { bucketName: string; keyArn?: string } {
  const keyArn = c.encryption !== 'kms' ? undefined : c.kmsKeyArn ?? Fn.importValue(`${direct.stackName}-BucketKeyArn`);
  return { bucketName: c.bucketName ?? Fn.importValue(`${direct.stackName}-BucketName`), ...(keyArn ? { keyArn } : {}) };
}

/** cdk-nag on every stack of the app, once. */
export function checkWithNag(app: App): void {
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
}
