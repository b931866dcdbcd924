/**
 * KafkaS3EndpointsStack (vpcEndpoints=true): the PrivateLink endpoints the Kafka event source needs in the VPC of
 * self-managed brokers, in one stack of their own that both pipeline stacks depend on. A VPC takes one endpoint with
 * private DNS per service, so the endpoints cannot live in each stack that needs them: `cdk deploy` of either stack
 * deploys this one first, and the second finds it deployed.
 *
 * Lambda guide, "Configuring your self-managed Apache Kafka cluster and network for Lambda": in on-demand poller
 * mode, endpoints for Lambda, AWS STS and (credentials in a secret) Secrets Manager; "Capturing discarded batches for
 * a Kafka event source": a VPC endpoint for the on-failure destination's service in the cluster's VPC.
 */
import { Stack, type StackProps } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import type { Construct } from 'constructs';
import type { AppConfig } from './config.ts';

export interface EndpointsStackProps extends StackProps {
  readonly config: AppConfig;
}

export class KafkaS3EndpointsStack extends Stack {
  readonly endpoints: ec2.InterfaceVpcEndpoint[] = [];

  constructor(scope: Construct, id: string, props: EndpointsStackProps) {
    super(scope, id, props);
    const c = props.config;
    if (!c.vpcId || !c.subnetIds || !c.securityGroupIds) throw new Error('vpcEndpoints needs vpcId, subnetIds and securityGroupIds');
    const vpc = ec2.Vpc.fromVpcAttributes(this, 'Vpc', {
      vpcId: c.vpcId,
      availabilityZones: c.subnetIds.map((_, i) => `${this.region}-az${i}`),
      privateSubnetIds: [...c.subnetIds],
    });
    const subnets = { subnets: c.subnetIds.map((s) => ec2.Subnet.fromSubnetId(this, `Subnet-${s}`, s)) };
    // The event source's security groups: they must allow HTTPS (443) among themselves.
    const securityGroups = c.securityGroupIds.map((g) => ec2.SecurityGroup.fromSecurityGroupId(this, `Sg-${g}`, g));
    const services: [string, ec2.InterfaceVpcEndpointAwsService][] = [
      ['Lambda', ec2.InterfaceVpcEndpointAwsService.LAMBDA],
      ['Sts', ec2.InterfaceVpcEndpointAwsService.STS],
    ];
    if (c.kafkaSecretArn || c.kafkaRootCaSecretArn) services.push(['SecretsManager', ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER]);
    if (c.onFailure === 'sqs') services.push(['Sqs', ec2.InterfaceVpcEndpointAwsService.SQS]);
    if (c.onFailure === 's3') services.push(['S3', ec2.InterfaceVpcEndpointAwsService.S3]);
    for (const [id, service] of services) {
      this.endpoints.push(new ec2.InterfaceVpcEndpoint(this, `${id}Endpoint`, {
        vpc, service, subnets, securityGroups, privateDnsEnabled: true, open: false,
        // S3 serves gateway and interface endpoints: private DNS for all resolvers, since "only for inbound
        // resolver endpoints" requires a gateway endpoint for S3 in the VPC (EC2 API, DnsOptionsSpecification).
        ...(id === 'S3' ? { privateDnsOnlyForInboundResolverEndpoint: ec2.VpcEndpointPrivateDnsOnlyForInboundResolverEndpoint.ALL_RESOLVERS } : {}),
      }));
    }
  }
}
