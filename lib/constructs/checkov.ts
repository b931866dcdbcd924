/**
 * Written justifications for checkov findings, kept on the resource they concern (checkov reads
 * `Metadata.checkov.skip` from CloudFormation templates).
 */
import { CfnResource } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

export interface CheckovSkip {
  readonly id: string;
  readonly comment: string;
}

export function checkovSkip(construct: IConstruct, ...skips: CheckovSkip[]): void {
  const resource = construct instanceof CfnResource ? construct : construct.node.defaultChild;
  if (!(resource instanceof CfnResource)) throw new Error(`checkovSkip: ${construct.node.path} has no CloudFormation resource`);
  const existing = (resource.getMetadata('checkov') as { skip?: CheckovSkip[] } | undefined)?.skip ?? [];
  resource.addMetadata('checkov', { skip: [...existing, ...skips] });
}
