#!/usr/bin/env node
/** The CDK app: one pipeline (its two stacks) from the context, checked with cdk-nag. */
import { App } from 'aws-cdk-lib';
import { addPipeline, checkWithNag } from '../lib/app.ts';
import { ConfigError } from '../lambdas/shared/errors.ts';

const app = new App();
try {
  addPipeline(app, { env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION } });
  checkWithNag(app);
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  console.error(err.message);
  process.exit(1);
}
