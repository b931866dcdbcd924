/** IAM statements of a synthesized template, as an IAM-enforcing server takes them (test/integration/*-iam*.test.ts). */
export interface Statement {
  Effect: string;
  Action: string | string[];
  Resource: string | string[];
  Sid?: string;
  Condition?: Record<string, Record<string, string | string[]>>;
}
export type CfnResource = { Type: string; Properties?: Record<string, unknown> };

export const asList = (v: string | string[]): string[] => (Array.isArray(v) ? v : [v]);

/** Turns the intrinsics an S3 ARN of an existing bucket is built from into plain strings; anything else is an error. */
export function resolveIntrinsics(v: unknown): unknown {
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map(resolveIntrinsics);
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o);
  if (keys.length === 1 && keys[0] === 'Fn::Join') {
    const [sep, parts] = o['Fn::Join'] as [string, unknown[]];
    return parts.map((p) => {
      const s = resolveIntrinsics(p);
      if (typeof s !== 'string') throw new Error(`cannot resolve ${JSON.stringify(p)} to a string`);
      return s;
    }).join(sep);
  }
  if (keys.length === 1 && keys[0] === 'Ref') {
    if (o.Ref === 'AWS::Partition') return 'aws';
    if (o.Ref === 'AWS::URLSuffix') return 'amazonaws.com';
    throw new Error(`cannot resolve Ref ${String(o.Ref)}: the test expects an existing bucket (bucketName), whose ARNs are literals`);
  }
  if (keys.length === 1 && keys[0].startsWith('Fn::')) {
    throw new Error(`cannot resolve ${JSON.stringify(o)}: the test expects an existing bucket (bucketName), whose ARNs are literals`);
  }
  return Object.fromEntries(keys.map((k) => [k, resolveIntrinsics(o[k])]));
}

/** The S3 statements of the policies attached to the role of the function whose description starts so, resolved to plain ARNs. */
export function roleS3Statements(resources: Record<string, CfnResource>, description: string): Statement[] {
  const functions = Object.values(resources).filter(
    (r) => r.Type === 'AWS::Lambda::Function' && String(r.Properties?.Description ?? '').startsWith(description),
  );
  if (functions.length !== 1) throw new Error(`expected one function "${description}…" in the template, found ${functions.length}`);
  const roleRef = functions[0].Properties?.Role as { 'Fn::GetAtt'?: [string, string] };
  const roleId = roleRef['Fn::GetAtt']?.[0];
  if (!roleId || resources[roleId]?.Type !== 'AWS::IAM::Role') throw new Error(`the function's Role is not a role of the stack: ${JSON.stringify(roleRef)}`);
  const statements = Object.values(resources)
    .filter((r) => r.Type === 'AWS::IAM::Policy' && (r.Properties?.Roles as unknown[] | undefined)?.some((x) => (x as { Ref?: string }).Ref === roleId))
    .flatMap((p) => (p.Properties?.PolicyDocument as { Statement: unknown[] }).Statement);
  // Only the S3 statements are resolved: the others (logs, kafka, ec2) reference resources of the stack.
  const s3 = (statements as Statement[]).filter((s) => asList(s.Action).some((a) => a.startsWith('s3:')));
  for (const s of s3) {
    if (!asList(s.Action).every((a) => a.startsWith('s3:'))) throw new Error(`a statement mixes S3 and other actions: ${JSON.stringify(s)}`);
  }
  return s3.map((s) => resolveIntrinsics(s) as Statement);
}

