/**
 * The API call record of the rehearsal: every AWS API request terraform's AWS provider and S3
 * backend sent (their TF_LOG=debug "HTTP Request Sent" entries), as the IAM action it needs and the
 * ARN of the resource it acted on, so the CI deploy role's permissions can be checked against what a
 * deploy really calls. Schema: { stack, phase, action, resource } (resource null when not derivable).
 */

export type Phase = 'apply' | 'destroy' | 'diff';
export const PHASES: readonly Phase[] = ['apply', 'diff', 'destroy'];

export interface ApiCall {
  readonly stack: string;
  readonly phase: Phase;
  /** IAM action, e.g. kinesis:CreateStream. */
  readonly action: string;
  readonly resource: string | null;
}

/** One request as the provider logged it. */
export interface LoggedRequest {
  /** SDK service id (rpc.service), e.g. "Kinesis", "CloudWatch Logs". */
  readonly service: string;
  /** API operation (rpc.method), e.g. "CreateStream". */
  readonly operation: string;
  /** Terraform resource type the request was made for; undefined for provider set-up and the backend. */
  readonly resourceType?: string;
  readonly httpMethod: string;
  readonly url: string;
  readonly body: string;
  readonly region?: string;
}

const ENTRY_START = /\n(?=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)/;

/** Field value after ` name=`: a double-quoted string, a `|`-prefixed multi-line block, or a bare word. */
function field(entry: string, name: string): string | undefined {
  const at = entry.search(new RegExp(`(^|[\\s])${name.replace(/\./g, '\\.')}=`));
  if (at < 0) return undefined;
  const start = entry.indexOf('=', at) + 1;
  const rest = entry.slice(start);
  if (rest.startsWith('"')) {
    const m = /^"((?:[^"\\]|\\.)*)"/.exec(rest);
    return m ? JSON.parse(`"${m[1]}"`) as string : undefined;
  }
  if (rest.startsWith('\n')) {
    // multi-line value: following lines start with "  | "
    const lines: string[] = [];
    for (const line of rest.slice(1).split('\n')) {
      const m = /^\s*\| ?(.*)$/.exec(line);
      if (!m) break;
      lines.push(m[1]);
    }
    return lines.join('\n');
  }
  return /^(\S*)/.exec(rest)?.[1];
}

/** Every request a TF_LOG=debug log records (provider and backend alike). */
export function parseTerraformLog(text: string): LoggedRequest[] {
  const requests: LoggedRequest[] = [];
  for (const entry of text.split(ENTRY_START)) {
    if (!entry.includes('HTTP Request Sent')) continue;
    const service = field(entry, 'rpc.service');
    const operation = field(entry, 'rpc.method');
    if (service === undefined || operation === undefined) continue;
    requests.push({
      service,
      operation,
      resourceType: field(entry, 'tf_resource_type'),
      httpMethod: field(entry, 'http.method') ?? '',
      url: field(entry, 'http.url') ?? '',
      body: field(entry, 'http.request.body') ?? '',
      region: field(entry, 'aws.region'),
    });
  }
  return requests;
}

/** IAM service prefix of an SDK service id. */
export const IAM_PREFIX: Readonly<Record<string, string>> = {
  'API Gateway': 'apigateway',
  'Application Auto Scaling': 'application-autoscaling',
  Backup: 'backup',
  CloudTrail: 'cloudtrail',
  CloudWatch: 'cloudwatch',
  'CloudWatch Logs': 'logs',
  DynamoDB: 'dynamodb',
  EC2: 'ec2',
  EventBridge: 'events',
  ECR: 'ecr',
  ECS: 'ecs',
  IAM: 'iam',
  Kinesis: 'kinesis',
  KMS: 'kms',
  RDS: 'rds',
  S3: 's3',
  'Secrets Manager': 'secretsmanager',
  SNS: 'sns',
  SQS: 'sqs',
  STS: 'sts',
  WAFV2: 'wafv2',
};

/**
 * S3 operations whose IAM action has another name (the S3 "actions, resources and condition keys"
 * table); every other S3 operation is authorised by the action of the same name.
 */
export const S3_IAM_ACTIONS: Readonly<Record<string, string>> = {
  HeadBucket: 's3:ListBucket',
  ListObjects: 's3:ListBucket',
  ListObjectsV2: 's3:ListBucket',
  ListObjectVersions: 's3:ListBucketVersions',
  HeadObject: 's3:GetObject',
  CreateBucket: 's3:CreateBucket',
  DeleteObjects: 's3:DeleteObject',
  GetBucketLifecycleConfiguration: 's3:GetLifecycleConfiguration',
  PutBucketLifecycleConfiguration: 's3:PutLifecycleConfiguration',
  DeleteBucketLifecycle: 's3:PutLifecycleConfiguration',
  GetBucketEncryption: 's3:GetEncryptionConfiguration',
  PutBucketEncryption: 's3:PutEncryptionConfiguration',
  DeleteBucketEncryption: 's3:PutEncryptionConfiguration',
  GetPublicAccessBlock: 's3:GetBucketPublicAccessBlock',
  PutPublicAccessBlock: 's3:PutBucketPublicAccessBlock',
  DeletePublicAccessBlock: 's3:PutBucketPublicAccessBlock',
  GetBucketCors: 's3:GetBucketCORS',
  PutBucketCors: 's3:PutBucketCORS',
  DeleteBucketCors: 's3:PutBucketCORS',
  GetBucketAccelerateConfiguration: 's3:GetAccelerateConfiguration',
  GetBucketReplication: 's3:GetReplicationConfiguration',
  GetBucketWebsite: 's3:GetBucketWebsite',
  GetObjectLockConfiguration: 's3:GetBucketObjectLockConfiguration',
  GetBucketOwnershipControls: 's3:GetBucketOwnershipControls',
  PutBucketOwnershipControls: 's3:PutBucketOwnershipControls',
  DeleteBucketOwnershipControls: 's3:PutBucketOwnershipControls',
  DeleteBucketTagging: 's3:PutBucketTagging',
  GetBucketRequestPayment: 's3:GetBucketRequestPayment',
  GetBucketLogging: 's3:GetBucketLogging',
};

/** The IAM action a request needs. API Gateway's management API is authorised per HTTP method. */
export function iamAction(request: LoggedRequest): string {
  const prefix = IAM_PREFIX[request.service] ?? request.service.toLowerCase().replace(/\s+/g, '');
  if (prefix === 'apigateway') return `apigateway:${request.httpMethod.toUpperCase()}`;
  if (prefix === 's3') return S3_IAM_ACTIONS[request.operation] ?? `s3:${request.operation}`;
  return `${prefix}:${request.operation}`;
}

/** A resource from `terraform show -json`. */
export interface StateResource {
  readonly address: string;
  readonly type: string;
  readonly mode?: string;
  readonly values: Record<string, unknown>;
}
export interface StateJson {
  readonly values?: { readonly root_module?: { readonly resources?: readonly StateResource[] } };
}

/** Attributes that name a resource in requests (the id in a URL or body). */
const IDENTIFYING_ATTRIBUTES = ['arn', 'id', 'name', 'key_id', 'cluster_identifier', 'identifier', 'bucket'] as const;
/** Identifiers too short or generic to attribute a request by (e.g. "daily", a tag value). */
const MIN_IDENTIFIER_LENGTH = 8;

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * The ARN a request acted on. S3: the bucket (or object) from the path-style URL. API Gateway: the
 * request path as its IAM resource (arn:aws:apigateway:<region>::<path>). DynamoDB calls of the state
 * backend (the lock table): the table its body names. Otherwise the resource in the stack's state
 * whose identifier (arn, id, name...) the URL or body names, longest match first, preferring the
 * request's own Terraform type, taking the ARN of another resource of the same service it names where
 * that type has none (a role policy's role, a topic policy's topic); null when nothing matches (a create whose id the
 * service assigns, a describe or list call, provider set-up).
 */
export function resourceArn(request: LoggedRequest, state: readonly StateResource[]): string | null {
  const prefix = IAM_PREFIX[request.service];
  let url: URL | undefined;
  try {
    url = new URL(request.url);
  } catch {
    url = undefined;
  }
  if (prefix === 's3' && url !== undefined) {
    const [bucket, ...key] = url.pathname.replace(/^\//, '').split('/');
    if (bucket === undefined || bucket === '') return null;
    const objectKey = decodeURIComponent(key.join('/'));
    return objectKey === '' ? `arn:aws:s3:::${bucket}` : `arn:aws:s3:::${bucket}/${objectKey}`;
  }
  if (prefix === 'apigateway' && url !== undefined) {
    return `arn:aws:apigateway:${request.region ?? ''}::${decodeURIComponent(url.pathname)}`;
  }
  if (prefix === 'dynamodb' && request.resourceType === undefined) {
    const table = /"TableName":"([^"]+)"/.exec(request.body)?.[1];
    const account = accountOf(state);
    return table !== undefined && account !== undefined && request.region !== undefined ? `arn:aws:dynamodb:${request.region}:${account}:table/${table}` : null;
  }
  if (request.resourceType === undefined) return null;
  const haystack = [
    url !== undefined ? decodeURIComponent(url.pathname + url.search) : request.url,
    request.body,
    formDecoded(request.body),
  ].join('\n');
  const ofType = bestMatch(haystack, state.filter((r) => r.type === request.resourceType));
  if (ofType?.arn !== undefined) return ofType.arn;
  // Only resources of the request's own service: a role policy's body names the log groups and keys
  // it grants, but the call acts on the role.
  const sameService = state.filter((r) => r.type !== request.resourceType && arnOf(r)?.split(':')[2] === prefix);
  return bestMatch(haystack, sameService)?.arn ?? null;
}

function formDecoded(body: string): string {
  try {
    return decodeURIComponent(body.replace(/\+/g, ' '));
  } catch {
    return body;
  }
}

/** The resource's `arn`, or its `id` where that is an ARN (an ECS service's, say). */
function arnOf(resource: StateResource): string | undefined {
  for (const value of [resource.values.arn, resource.values.id]) {
    if (typeof value === 'string' && value.startsWith('arn:')) return value;
  }
  return undefined;
}

function accountOf(state: readonly StateResource[]): string | undefined {
  for (const resource of state) {
    const account = arnOf(resource)?.split(':')[4];
    if (account !== undefined && /^\d{12}$/.test(account)) return account;
  }
  return undefined;
}

/** The resource whose longest identifier the text names as a whole word; its ARN (undefined when it has none). */
function bestMatch(haystack: string, candidates: readonly StateResource[]): { arn: string | undefined } | undefined {
  let best: { length: number; arn: string | undefined } | undefined;
  for (const resource of candidates) {
    if (resource.mode === 'data') continue;
    for (const attribute of IDENTIFYING_ATTRIBUTES) {
      const value = resource.values[attribute];
      if (typeof value !== 'string' || value.length < MIN_IDENTIFIER_LENGTH) continue;
      if (best !== undefined && value.length <= best.length) continue;
      if (new RegExp(`(^|[^A-Za-z0-9_-])${escapeRegExp(value)}($|[^A-Za-z0-9_-])`).test(haystack)) {
        best = { length: value.length, arn: arnOf(resource) };
      }
    }
  }
  return best;
}

/** The record of one log: every request as { stack, phase, action, resource }. */
export function apiCallsFromLog(stack: string, phase: Phase, logText: string, state: readonly StateResource[]): ApiCall[] {
  return parseTerraformLog(logText).map((request) => ({
    stack,
    phase,
    action: iamAction(request),
    resource: resourceArn(request, state),
  }));
}

export function stateResources(state: StateJson): StateResource[] {
  return [...(state.values?.root_module?.resources ?? [])];
}
