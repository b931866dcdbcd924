/**
 * The app's stacks for one pipeline: configuration from the context (every key checked, unknown ones refused), the
 * direct stack and the tables stack, named after the pipeline (lib/naming.ts), and cdk-nag. bin/app.ts calls this
 * once; a program (or a test) may call it for several pipelines in one app.
 */
import { type App, type Environment, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { loadAppConfig, type AppConfig } from './config.ts';
import { KafkaS3DirectStack } from './direct-stack.ts';
import { stackId } from './naming.ts';
import { KafkaS3TablesStack } from './tables-stack.ts';

export interface Pipeline {
  readonly config: AppConfig;
  readonly direct: KafkaS3DirectStack;
  readonly tables: KafkaS3TablesStack;
}

export interface PipelineOptions {
  /** Context of this pipeline; @default the app's context (cdk.json and -c values) */
  readonly context?: Readonly<Record<string, unknown>>;
  readonly env?: Environment;
  /** Directory relative paths (schemaFile, tableSchemaFile) are resolved from. @default the working directory */
  readonly baseDir?: string;
}

/** Adds one pipeline's two stacks to `app`. Throws ConfigError with every problem of the context. */
export function addPipeline(app: App, opts: PipelineOptions = {}): Pipeline {
  const context = opts.context ?? app.node.getAllContext();
  const config = loadAppConfig((key) => context[key], opts.baseDir, Object.keys(context));
  const env = opts.env;
  const named = config.pipelineNamed ? `, pipeline ${config.pipelineName}` : '';
  const direct = new KafkaS3DirectStack(app, stackId(config, 'direct'), {
    config, env, baseDir: opts.baseDir, description: `Kafka topics into S3 objects through a serverless sink (kafka-s3${named})`,
  });
  const tables = new KafkaS3TablesStack(app, stackId(config, 'tables'), {
    config, env, description: `Kafka topics into Iceberg tables of an S3 table bucket (kafka-s3${named})`,
  });
  return { config, direct, tables };
}

/** cdk-nag on every stack of the app, once. */
export function checkWithNag(app: App): void {
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
}
