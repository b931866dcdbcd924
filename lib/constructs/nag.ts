/** cdk-nag acknowledgments scoped to exact findings. */
import { Stack, Validations } from 'aws-cdk-lib';
import type { Construct } from 'constructs';

/** How cdk-nag writes a resource in a finding ID: tokens as <Logical.Attr>, <Ref>, <AWS::Partition>. */
function nagResource(scope: Construct, arn: string): string {
  const render = (v: unknown): string => {
    if (typeof v === 'string') return v;
    const o = v as Record<string, unknown>;
    if (o['Fn::Join']) {
      const [sep, parts] = o['Fn::Join'] as [string, unknown[]];
      return parts.map(render).join(sep);
    }
    if (o['Fn::GetAtt']) return `<${(o['Fn::GetAtt'] as string[]).join('.')}>`;
    // A value of another stack (an export): cdk-nag writes the export's name.
    if (o['Fn::ImportValue']) return render(o['Fn::ImportValue']);
    if (o.Ref) return `<${String(o.Ref)}>`;
    return JSON.stringify(v);
  };
  return render(Stack.of(scope).resolve(arn));
}

/** Acknowledges exactly these wildcard resources (AwsSolutions-IAM5 findings) on one construct, with the reason. */
export function acknowledgeWildcards(scope: Construct, resources: readonly string[], reason: string): void {
  for (const r of resources) Validations.of(scope).acknowledge({ id: `AwsSolutions-IAM5[Resource::${nagResource(scope, r)}]`, reason });
}
