/**
 * The IAM principals and resource policies a set of synthesized stacks declares: every role with its
 * inline and managed policies and its permissions boundary, every managed policy by ARN (so a
 * boundary created in the bootstrap stack is found for a pipeline role), every KMS key policy, bucket
 * policy and topic policy by the resource's ARN.
 */
import { Deployment, PolicyDocument, policyFromAttribute, resolveReferences, TerraformJson } from './documents';

export interface RoleModel {
  readonly name: string;
  readonly arn: string;
  readonly stack: string;
  /** Inline and customer-managed policies (AWS managed ones are listed in `awsManagedPolicyArns`). */
  readonly identityPolicies: ReadonlyArray<{ readonly name: string; readonly policy: PolicyDocument }>;
  readonly awsManagedPolicyArns: readonly string[];
  readonly boundaryArn?: string;
  readonly boundary?: PolicyDocument;
  readonly trust: PolicyDocument;
}

export interface StackModel {
  readonly roles: Readonly<Record<string, RoleModel>>;
  readonly managedPolicies: Readonly<Record<string, PolicyDocument>>;
  /** Resource policies by the ARN of the resource they protect (key, bucket, topic). */
  readonly resourcePolicies: Readonly<Record<string, PolicyDocument>>;
  /**
   * VPC endpoint policies by `<stack>/<endpoint>`, the endpoint named by its service without the
   * `com.amazonaws.<region>.` prefix (`pipeline-dev/s3`, `pipeline-dev/kinesis-streams`).
   */
  readonly endpointPolicies: Readonly<Record<string, PolicyDocument>>;
  /** Every policy document, named `<stack>/<resource type>.<logical id>`, for linters. */
  readonly allDocuments: Readonly<Record<string, PolicyDocument>>;
}

/** Builds the model of `stacks` (name -> synthesized JSON) deployed as `deployment`. */
export function modelOf(stacks: Readonly<Record<string, TerraformJson>>, base: Deployment): StackModel {
  let deployment: Deployment = base;
  const partition = deployment.partition ?? 'aws';
  const managedPolicies: Record<string, PolicyDocument> = {};
  const resourcePolicies: Record<string, PolicyDocument> = {};
  const allDocuments: Record<string, PolicyDocument> = {};
  const endpointPolicies: Record<string, PolicyDocument> = {};
  const resolve = (json: TerraformJson, text: string): string => resolveReferences(text, json, deployment);

  for (const [stack, json] of Object.entries(stacks)) {
    deployment = { ...base, stack };
    for (const [id, p] of Object.entries(json.resource?.aws_iam_policy ?? {})) {
      const doc = policyFromAttribute(p.policy, json, deployment);
      managedPolicies[`arn:${partition}:iam::${deployment.accountId}:policy/${String(p.name)}`] = doc;
      allDocuments[`${stack}/aws_iam_policy.${id}`] = doc;
    }
    const resourcePolicy = (type: string, policyField: string, target: (r: Record<string, unknown>) => string): void => {
      for (const [id, config] of Object.entries(json.resource?.[type] ?? {})) {
        if (config[policyField] === undefined) continue;
        // A key's policy protects the key itself.
        const r = type === 'aws_kms_key' ? { ...config, __arn: `\${aws_kms_key.${id}.arn}` } : config;
        const doc = policyFromAttribute(r[policyField], json, deployment);
        resourcePolicies[resolve(json, target(r))] = doc;
        allDocuments[`${stack}/${type}.${id}`] = doc;
      }
    };
    resourcePolicy('aws_kms_key', 'policy', (r) => String(r.__arn));
    resourcePolicy('aws_s3_bucket_policy', 'policy', (r) => `arn:${partition}:s3:::${String(r.bucket)}`);
    resourcePolicy('aws_sns_topic_policy', 'policy', (r) => String(r.arn));
    resourcePolicy('aws_kinesis_resource_policy', 'policy', (r) => String(r.resource_arn));
    // A queue policy names its queue by URL (https://sqs.<region>.amazonaws.com/<account>/<name>): keyed by the queue's ARN.
    resourcePolicy('aws_sqs_queue_policy', 'policy', (r) => String(r.queue_url).replace(/\.url\}$/, '.arn}'));
    for (const [id, config] of Object.entries(json.resource?.aws_vpc_endpoint ?? {})) {
      if (config.policy === undefined) continue;
      const doc = policyFromAttribute(config.policy, json, deployment);
      endpointPolicies[`${stack}/${String(config.service_name).replace(/^com\.amazonaws\.[a-z0-9-]+\./, '')}`] = doc;
      allDocuments[`${stack}/aws_vpc_endpoint.${id}`] = doc;
    }
    for (const [id, config] of Object.entries(json.resource?.aws_api_gateway_rest_api_policy ?? {})) {
      const doc = policyFromAttribute(config.policy, json, deployment);
      resourcePolicies[resolve(json, `\${${String(config.rest_api_id).replace(/^\$\{|\.id\}$/g, '')}.execution_arn}`)] = doc;
      allDocuments[`${stack}/aws_api_gateway_rest_api_policy.${id}`] = doc;
    }
  }

  const roles: Record<string, RoleModel> = {};
  for (const [stack, json] of Object.entries(stacks)) {
    deployment = { ...base, stack };
    for (const [id, r] of Object.entries(json.resource?.aws_iam_role ?? {})) {
      const name = String(r.name);
      const refs = [`\${aws_iam_role.${id}.id}`, `\${aws_iam_role.${id}.name}`];
      const inline = Object.entries(json.resource?.aws_iam_role_policy ?? {})
        .filter(([, p]) => refs.includes(String(p.role)))
        .map(([pid, p]) => ({ name: `${String(p.name ?? pid)}`, policy: policyFromAttribute(p.policy, json, deployment) }));
      const attachedArns = Object.values(json.resource?.aws_iam_role_policy_attachment ?? {})
        .filter((a) => refs.includes(String(a.role)))
        .map((a) => resolve(json, String(a.policy_arn)));
      const customer = attachedArns.filter((a) => managedPolicies[a] !== undefined).map((a) => ({ name: a.split('/').pop() ?? a, policy: managedPolicies[a] }));
      const trust = policyFromAttribute(r.assume_role_policy, json, deployment);
      const boundaryArn = r.permissions_boundary === undefined ? undefined : resolve(json, String(r.permissions_boundary));
      roles[name] = {
        name,
        arn: `arn:${partition}:iam::${deployment.accountId}:role/${name}`,
        stack,
        identityPolicies: [...inline, ...customer],
        awsManagedPolicyArns: attachedArns.filter((a) => managedPolicies[a] === undefined),
        ...(boundaryArn !== undefined ? { boundaryArn, boundary: managedPolicies[boundaryArn] } : {}),
        trust,
      };
      inline.forEach((p) => { allDocuments[`${stack}/aws_iam_role_policy.${name}.${p.name}`] = p.policy; });
      allDocuments[`${stack}/aws_iam_role.${id}.trust`] = trust;
    }
  }
  return { roles, managedPolicies, resourcePolicies, endpointPolicies, allDocuments };
}
