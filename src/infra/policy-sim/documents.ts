/**
 * Synthesized Terraform JSON -> concrete IAM policy documents: `aws_iam_policy_document` data sources
 * converted to IAM's JSON grammar, and Terraform references (`${aws_kinesis_stream.X.arn}`,
 * `${var.account_id}`) replaced by the ARNs AWS would give those resources, so a policy simulator can
 * evaluate exactly what the stacks declare.
 */

export interface PolicyDocument {
  readonly Version: string;
  readonly Statement: readonly PolicyStatement[];
}
export interface PolicyStatement {
  readonly Sid?: string;
  readonly Effect: 'Allow' | 'Deny';
  readonly Action?: string | readonly string[];
  readonly NotAction?: string | readonly string[];
  readonly Resource?: string | readonly string[];
  readonly NotResource?: string | readonly string[];
  readonly Principal?: unknown;
  readonly Condition?: Record<string, Record<string, string | readonly string[]>>;
}

/** A synthesized stack (cdk.tf.json), as far as this module reads it. */
export interface TerraformJson {
  readonly resource?: Record<string, Record<string, Record<string, unknown>>>;
  readonly data?: Record<string, Record<string, Record<string, unknown>>>;
}

/** Where the stacks are deployed: what `${var.account_id}` and ARNs resolve to. */
export interface Deployment {
  readonly accountId: string;
  readonly region: string;
  readonly partition?: string;
  /** Name of the stack being resolved: key ids are made from it and the logical id, so keys of different stacks differ. */
  readonly stack?: string;
}

interface DataStatement {
  sid?: string;
  effect?: string;
  actions?: string[];
  not_actions?: string[];
  resources?: string[];
  not_resources?: string[];
  principals?: Array<{ type: string; identifiers: string[] }>;
  condition?: Array<{ test: string; variable: string; values: string[] }>;
}

/** ARN (or attribute) a resource of a given type will have, from its configuration and logical id. */
type AttributeResolver = (config: Record<string, unknown>, logicalId: string, d: Required<Deployment>) => Record<string, string>;

const regional = (d: Required<Deployment>, service: string, resource: string): string => `arn:${d.partition}:${service}:${d.region}:${d.accountId}:${resource}`;

const RESOLVERS: Record<string, AttributeResolver> = {
  aws_kinesis_stream: (c, _id, d) => ({ arn: regional(d, 'kinesis', `stream/${String(c.name)}`), name: String(c.name) }),
  // Key ids are random: the logical id stands in for one (unique per stack).
  aws_kms_key: (_c, id, d) => ({ arn: regional(d, 'kms', `key/${d.stack}.${id}`), key_id: `${d.stack}.${id}`, id: `${d.stack}.${id}` }),
  aws_kms_alias: (c, _id, d) => ({ arn: regional(d, 'kms', String(c.name)), name: String(c.name) }),
  aws_cloudwatch_log_group: (c, _id, d) => ({ arn: regional(d, 'logs', `log-group:${String(c.name)}`), name: String(c.name) }),
  aws_s3_bucket: (c, _id, d) => ({ arn: `arn:${d.partition}:s3:::${String(c.bucket)}`, bucket: String(c.bucket), id: String(c.bucket) }),
  aws_sns_topic: (c, _id, d) => ({ arn: regional(d, 'sns', String(c.name)), name: String(c.name) }),
  aws_iam_role: (c, _id, d) => ({ arn: `arn:${d.partition}:iam::${d.accountId}:role/${String(c.name)}`, name: String(c.name), id: String(c.name) }),
  aws_iam_policy: (c, _id, d) => ({ arn: `arn:${d.partition}:iam::${d.accountId}:policy/${String(c.name)}`, name: String(c.name) }),
  aws_dynamodb_table: (c, _id, d) => ({ arn: regional(d, 'dynamodb', `table/${String(c.name)}`), name: String(c.name) }),
  aws_rds_cluster: (c, id, d) => ({
    arn: regional(d, 'rds', `cluster:${String(c.cluster_identifier)}`),
    cluster_resource_id: `cluster-${id}`,
    'master_user_secret[0].secret_arn': regional(d, 'secretsmanager', `secret:rds!cluster-${id}`),
  }),
  aws_secretsmanager_secret: (c, _id, d) => ({ arn: regional(d, 'secretsmanager', `secret:${String(c.name)}`) }),
  aws_ecr_repository: (c, _id, d) => ({ arn: regional(d, 'ecr', `repository/${String(c.name)}`), name: String(c.name) }),
  aws_cloudtrail: (c, _id, d) => ({ arn: regional(d, 'cloudtrail', `trail/${String(c.name)}`), name: String(c.name) }),
  aws_ecs_cluster: (c, _id, d) => ({ arn: regional(d, 'ecs', `cluster/${String(c.name)}`), name: String(c.name) }),
  aws_backup_vault: (c, _id, d) => ({ arn: regional(d, 'backup', `backup-vault:${String(c.name)}`), name: String(c.name) }),
  aws_cloudwatch_event_bus: (c, _id, d) => ({ arn: regional(d, 'events', `event-bus/${String(c.name)}`), name: String(c.name) }),
  aws_cloudwatch_event_archive: (c, _id, d) => ({ arn: regional(d, 'events', `archive/${String(c.name)}`), name: String(c.name) }),
  aws_sqs_queue: (c, _id, d) => ({
    arn: regional(d, 'sqs', String(c.name)),
    name: String(c.name),
    url: `https://sqs.${d.region}.amazonaws.com/${d.accountId}/${String(c.name)}`,
    id: `https://sqs.${d.region}.amazonaws.com/${d.accountId}/${String(c.name)}`,
  }),
  aws_api_gateway_rest_api: (_c, id, d) => ({ id, execution_arn: regional(d, 'execute-api', id) }),
};

/** Marks a reference this module cannot resolve; tests assert none is left in a policy they evaluate. */
export const UNRESOLVED = 'UNRESOLVED:';

/** Replaces every `${...}` reference in `text` with its concrete value. */
export function resolveReferences(text: string, json: TerraformJson, deployment: Deployment): string {
  const d = { partition: 'aws', stack: 'stack', ...deployment };
  return text.replace(/\$\{([^{}]+)\}/g, (_m, expression: string) => {
    if (expression === 'var.account_id') return d.accountId;
    const data = /^data\.aws_iam_policy_document\.([^.]+)\.json$/.exec(expression);
    if (data) {
      const source = json.data?.aws_iam_policy_document?.[data[1]];
      return source ? JSON.stringify(policyFromDataSource(source, json, d)) : `${UNRESOLVED}${expression}`;
    }
    const ref = /^(aws_[a-z0-9_]+)\.([^.]+)\.(.+)$/.exec(expression);
    if (ref) {
      const [, type, id, attribute] = ref;
      const config = json.resource?.[type]?.[id];
      const value = config && RESOLVERS[type]?.(config, id, d)[attribute];
      if (value !== undefined) return value;
    }
    return `${UNRESOLVED}${expression}`;
  });
}

const list = <T>(v: T | readonly T[] | undefined): readonly T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v as T]);

/** An `aws_iam_policy_document` data source as an IAM policy document, references resolved. */
export function policyFromDataSource(source: Record<string, unknown>, json: TerraformJson, deployment: Deployment): PolicyDocument {
  const statements = ((source.statement ?? []) as DataStatement[]).map((s): PolicyStatement => {
    const condition: Record<string, Record<string, string[]>> = {};
    for (const c of s.condition ?? []) (condition[c.test] ??= {})[c.variable] = c.values;
    const principal: Record<string, string[]> = {};
    for (const p of s.principals ?? []) principal[p.type] = [...(principal[p.type] ?? []), ...p.identifiers];
    const out: Record<string, unknown> = { Effect: s.effect === 'Deny' ? 'Deny' : 'Allow' };
    if (s.sid) out.Sid = s.sid;
    if (s.actions) out.Action = s.actions;
    if (s.not_actions) out.NotAction = s.not_actions;
    if (s.resources) out.Resource = s.resources;
    if (s.not_resources) out.NotResource = s.not_resources;
    if (s.principals) out.Principal = principal['*']?.includes('*') && s.principals.length === 1 ? '*' : principal;
    if (s.condition) out.Condition = condition;
    return out as unknown as PolicyStatement;
  });
  const doc: PolicyDocument = { Version: '2012-10-17', Statement: statements };
  return JSON.parse(resolveReferences(JSON.stringify(doc), json, deployment)) as PolicyDocument;
}

/** A policy attribute (a data source reference or a JSON string with references) as a document. */
export function policyFromAttribute(value: unknown, json: TerraformJson, deployment: Deployment): PolicyDocument {
  return JSON.parse(resolveReferences(String(value), json, deployment)) as PolicyDocument;
}

export { list as asList };
