#!/usr/bin/env node
/** The CDK app: parse the configuration, create the stacks, check them with cdk-nag. */
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { loadAppConfig } from '../lib/config.ts';
import { KafkaS3DirectStack } from '../lib/direct-stack.ts';
import { KafkaS3TablesStack } from '../lib/tables-stack.ts';
import { ConfigError } from '../lambdas/shared/errors.ts';

const app = new App();
try {
  const config = loadAppConfig((key) => app.node.tryGetContext(key));
  const env = { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION };
  new KafkaS3DirectStack(app, 'KafkaS3DirectStack', { config, env, description: 'Kafka topics into S3 objects through a serverless sink (kafka-s3)' });
  new KafkaS3TablesStack(app, 'KafkaS3TablesStack', { config, env, description: 'Kafka topics into Iceberg tables of an S3 table bucket (kafka-s3)' });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  console.error(err.message);
  process.exit(1);
}
