/**
 * A function of this product with its secure defaults: Node 24 (the newest runtime CDK offers), arm64 unless told
 * otherwise, an esbuild ESM bundle with the AWS SDK at the pinned version, its own log group with retention, a role
 * that the Kafka event sources cannot widen with the broad AWSLambdaMSKExecutionRole, and written justifications for
 * the checkov findings that do not apply.
 */
import { fileURLToPath } from 'node:url';
import { Duration } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { checkovSkip } from './checkov.ts';
import { acknowledgeWildcards } from './nag.ts';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** A role that keeps CDK's Kafka event sources from attaching the broad AWSLambdaMSKExecutionRole managed policy. */
class SinkRole extends iam.Role {
  override addManagedPolicy(policy: iam.IManagedPolicy): void {
    if (policy.managedPolicyArn.includes('AWSLambdaMSKExecutionRole')) return;
    super.addManagedPolicy(policy);
  }
}

export interface KafkaS3FunctionProps {
  /** Entry file, relative to the repository root (e.g. lambdas/sink/handler.ts). */
  readonly entry: string;
  readonly description: string;
  readonly environment: Readonly<Record<string, string>>;
  /** What the function does with its environment and network, for the checkov justifications. */
  readonly purpose: string;
  /** @default 1024 */
  readonly memoryMb?: number;
  /** @default 5 minutes */
  readonly timeout?: Duration;
  /** @default ARM_64 */
  readonly architecture?: lambda.Architecture;
  /** @default - unreserved */
  readonly reservedConcurrency?: number;
  /** @default ONE_MONTH */
  readonly logRetention?: logs.RetentionDays;
  /** Why the function needs no dead-letter queue (checkov CKV_AWS_116). @default invoked synchronously by its caller */
  readonly noDeadLetterQueueReason?: string;
  /** Extra files copied next to the bundle: [absolute source path, file name in the bundle]. */
  readonly bundleFiles?: readonly (readonly [string, string])[];
  /** The function runs TRANSFORM_SQL: DuckDB's packages go into the bundle's node_modules, with the native binary
   * built for the function's architecture (linux-arm64 or linux-x64, glibc: Amazon Linux 2023). @default false */
  readonly sqlEngine?: boolean;
  /** Run the function in these subnets of a VPC (it connects to brokers there itself). @default - no VPC */
  readonly vpc?: { readonly subnetIds: readonly string[]; readonly securityGroupIds: readonly string[] };
}

/** The commands that put DuckDB's packages into a bundle: the JavaScript ones from this checkout, the native one for
 * the architecture from the npm registry at the lockfile's version and integrity (scripts/platform-package.mjs). */
function sqlEngineCommands(out: string, architecture: lambda.Architecture): string[] {
  const modules = `${out}/node_modules`;
  const native = `@duckdb/node-bindings-linux-${architecture === lambda.Architecture.X86_64 ? 'x64' : 'arm64'}`;
  return [
    `mkdir -p "${modules}/@duckdb"`,
    ...['@duckdb/node-api', '@duckdb/node-bindings', 'detect-libc'].map((p) => `cp -R "${ROOT}node_modules/${p}" "${modules}/${p.split('/')[0] === p ? '' : '@duckdb/'}"`),
    `node "${ROOT}scripts/platform-package.mjs" ${native} "${modules}"`,
  ];
}

export class KafkaS3Function extends Construct {
  readonly fn: nodejs.NodejsFunction;
  readonly role: iam.Role;
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: KafkaS3FunctionProps) {
    super(scope, id);
    this.logGroup = new logs.LogGroup(this, 'Logs', { retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH });
    this.role = new SinkRole(this, 'Role', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'), description: props.description });
    // logGroupArn ends in ':*': the log streams the runtime creates in this one group.
    this.role.addToPolicy(new iam.PolicyStatement({ sid: 'Logs', actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [this.logGroup.logGroupArn] }));
    acknowledgeWildcards(this.role, [this.logGroup.logGroupArn], 'The Lambda runtime writes to log streams it names itself, in this function\'s log group only.');
    const files = props.bundleFiles ?? [];
    const architecture = props.architecture ?? lambda.Architecture.ARM_64;
    this.fn = new nodejs.NodejsFunction(this, 'Function', {
      entry: `${ROOT}${props.entry}`,
      projectRoot: ROOT,
      depsLockFilePath: `${ROOT}package-lock.json`,
      handler: 'handler',
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture,
      memorySize: props.memoryMb ?? 1024,
      timeout: props.timeout ?? Duration.minutes(5),
      reservedConcurrentExecutions: props.reservedConcurrency,
      role: this.role,
      logGroup: this.logGroup,
      description: props.description,
      environment: { ...props.environment, NODE_OPTIONS: '--enable-source-maps' },
      bundling: {
        format: nodejs.OutputFormat.ESM,
        target: 'node24',
        mainFields: ['module', 'main'],
        minify: true,
        sourceMap: true,
        // The AWS SDK is bundled at the pinned version rather than taken from the runtime. TRANSFORM_SQL's engine is a
        // native package: never bundled, loaded at run time from node_modules next to the bundle (nativePackages).
        externalModules: ['@duckdb/node-api'],
        // @platformatic/kafka's WebAssembly helpers read native.wasm next to their own file, which a bundle does not
        // have: their bundled build carries it inline (scripts/bundle.mjs does the same).
        esbuildArgs: { '--alias:@platformatic/wasm-utils': '@platformatic/wasm-utils/bundled' },
        banner: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
        ...(files.length > 0 || props.sqlEngine
          ? {
            commandHooks: {
              beforeBundling: () => [],
              beforeInstall: () => [],
              afterBundling: (_in: string, out: string) => [
                ...files.map(([from, name]) => `cp "${from}" "${out}/${name}"`),
                ...(props.sqlEngine ? sqlEngineCommands(out, architecture) : []),
              ],
            },
          }
          : {}),
      },
    });
    if (props.vpc) {
      (this.fn.node.defaultChild as lambda.CfnFunction).vpcConfig = { subnetIds: [...props.vpc.subnetIds], securityGroupIds: [...props.vpc.securityGroupIds] };
      // What Lambda needs to attach the function to the subnets (Lambda guide, "Attaching Lambda functions to an Amazon
      // VPC": the execution role's EC2 permissions; these actions support no resource-level scoping).
      const eni = new iam.PolicyStatement({
        sid: 'VpcNetworkInterfaces',
        actions: ['ec2:CreateNetworkInterface', 'ec2:DescribeNetworkInterfaces', 'ec2:DescribeSubnets', 'ec2:DeleteNetworkInterface', 'ec2:AssignPrivateIpAddresses', 'ec2:UnassignPrivateIpAddresses'],
        resources: ['*'],
      });
      this.role.addToPolicy(eni);
      const why = 'Lambda creates and deletes the function\'s network interfaces in its VPC subnets; the EC2 network interface actions take no resource-level scope (Lambda guide, VPC permissions).';
      acknowledgeWildcards(this.role, ['*'], why);
      checkovSkip(this.role.node.findChild('DefaultPolicy'), { id: 'CKV_AWS_111', comment: why });
    }
    checkovSkip(this.fn,
      { id: 'CKV_AWS_116', comment: props.noDeadLetterQueueReason ?? 'Invoked synchronously (Kafka event source mapping or Firehose); a function DLQ applies to asynchronous invocations only. Failed batches are retried by the caller.' },
      ...(props.vpc ? [] : [{ id: 'CKV_AWS_117', comment: `${props.purpose} It needs no VPC: the Kafka event source mapping, not the function, connects to the brokers in their VPC.` }]),
      { id: 'CKV_AWS_173', comment: 'The environment holds settings only (names, formats, prefixes), no secrets; Kafka credentials stay in Secrets Manager.' },
      ...(props.reservedConcurrency === undefined
        ? [{ id: 'CKV_AWS_115', comment: 'Concurrency follows the event source (one poller per partition at most); set reservedConcurrency to cap it.' }]
        : []));
    checkovSkip(this.logGroup, { id: 'CKV_AWS_158', comment: 'The logs hold batch summaries (offset ranges, counts, reasons), never record contents; CloudWatch Logs encrypts them at rest.' });
  }
}
