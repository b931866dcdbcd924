#!/usr/bin/env node
/** The CDK app: parse the configuration, create the stacks, check them with cdk-nag. */
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { loadAppConfig } from '../lib/config.ts';
import { KafkaS3DirectStack } from '../lib/direct-stack.ts';
import { ConfigError } from '../lambdas/shared/errors.ts';

const app = new App();
try {
  const config = loadAppConfig((key) => app.node.tryGetContext(key));
  new KafkaS3DirectStack(app, 'KafkaS3DirectStack', {
    config,
    env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
    description: 'Kafka topics into S3 objects through a serverless sink (kafka-s3)',
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  console.error(err.message);
  process.exit(1);
}
