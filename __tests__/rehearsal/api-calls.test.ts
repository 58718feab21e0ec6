import { apiCallsFromLog, iamAction, LoggedRequest, parseTerraformLog, resourceArn, StateResource } from '../../src/rehearsal/api-calls';

// Entries as terraform 1.11 + hashicorp/aws 5.100.0 write them with TF_LOG=debug (trimmed): fields in
// any order, multi-line bodies as "  | " lines, and responses that must not count as calls.
const LOG = [
  '2026-12-01T03:23:29.981Z [DEBUG] provider.terraform-provider-aws_v5.100.0_x5: HTTP Request Sent: rpc.service=STS http.url=https://127.0.0.1:45123/ http.method=POST aws.region=eu-central-2 tf_rpc=ConfigureProvider rpc.method=GetCallerIdentity http.request.body="Action=GetCallerIdentity&Version=2011-06-15"',
  '2026-12-01T03:23:45.794Z [DEBUG] provider.terraform-provider-aws_v5.100.0_x5: HTTP Request Sent: tf_rpc=ApplyResourceChange rpc.service=DynamoDB http.method=POST',
  '  http.request.body=',
  '  | {"AttributeDefinitions":[{"AttributeName":"LockID","AttributeType":"S"}],"SSESpecification":{"KMSMasterKeyId":"arn:aws:kms:eu-central-2:123456789012:key/k-1"},"TableName":"vitals-tfstate-lock"}',
  '   http.url=https://127.0.0.1:45123/ tf_resource_type=aws_dynamodb_table rpc.method=CreateTable aws.region=eu-central-2 timestamp=2026-12-01T03:23:45.793Z',
  '2026-12-01T03:23:45.901Z [DEBUG] provider.terraform-provider-aws_v5.100.0_x5: HTTP Response Received: rpc.service=DynamoDB rpc.method=CreateTable http.status_code=200',
  '2026-12-01T03:23:33.764Z [DEBUG] provider.terraform-provider-aws_v5.100.0_x5: HTTP Request Sent: @module=aws',
  '  http.request.body=',
  '  | {"Statement":[{"Action":"s3:*","Effect":"Deny"}],"Version":"2012-10-17"}',
  '   rpc.service=S3 tf_resource_type=aws_s3_bucket_policy http.url=https://127.0.0.1:45123/vitals-tfstate-eu-central-2?policy= http.method=PUT rpc.method=PutBucketPolicy',
  '2026-12-01T03:23:36.000Z [DEBUG] provider.terraform-provider-aws_v5.100.0_x5: HTTP Request Sent: rpc.service=S3 rpc.method=GetBucketLifecycleConfiguration http.method=GET http.url="https://127.0.0.1:45123/vitals-tfstate-eu-central-2?lifecycle=" tf_resource_type=aws_s3_bucket_lifecycle_configuration',
  '2026-12-01T03:23:37.000Z [DEBUG] provider.terraform-provider-aws_v5.100.0_x5: HTTP Request Sent: rpc.service=KMS rpc.method=CreateKey http.method=POST http.url=https://127.0.0.1:45123/ tf_resource_type=aws_kms_key http.request.body="{\\"Description\\":\\"Terraform state\\"}"',
  '2026-12-01T03:23:38.000Z [DEBUG] provider.terraform-provider-aws_v5.100.0_x5: HTTP Request Sent: rpc.service="API Gateway" rpc.method=PutMethod http.method=PUT http.url=https://127.0.0.1:45123/restapis/abc123/resources/r1/methods/POST aws.region=eu-central-2 tf_resource_type=aws_api_gateway_method',
  '2026-12-01T03:23:39.000Z [DEBUG] backend-s3: HTTP Request Sent: rpc.service=S3 rpc.method=PutObject http.method=PUT http.url=https://127.0.0.1:45123/vitals-tfstate-eu-central-2/pipeline/dev/terraform.tfstate.tflock',
].join('\n');

const STATE: StateResource[] = [
  { address: 'aws_dynamodb_table.Lock', type: 'aws_dynamodb_table', values: { id: 'vitals-tfstate-lock', name: 'vitals-tfstate-lock', arn: 'arn:aws:dynamodb:eu-central-2:123456789012:table/vitals-tfstate-lock' } },
  { address: 'aws_dynamodb_table.LockHistory', type: 'aws_dynamodb_table', values: { id: 'vitals-tfstate-lock-history', name: 'vitals-tfstate-lock-history', arn: 'arn:aws:dynamodb:eu-central-2:123456789012:table/vitals-tfstate-lock-history' } },
  { address: 'aws_kms_key.Key', type: 'aws_kms_key', values: { id: 'k-1', key_id: 'k-1', arn: 'arn:aws:kms:eu-central-2:123456789012:key/k-1' } },
];

describe('terraform debug log', () => {
  const requests = parseTerraformLog(LOG);

  it('yields one request per "HTTP Request Sent" entry, responses left out', () => {
    expect(requests.map((r) => `${r.service}:${r.operation}`)).toEqual([
      'STS:GetCallerIdentity', 'DynamoDB:CreateTable', 'S3:PutBucketPolicy', 'S3:GetBucketLifecycleConfiguration', 'KMS:CreateKey', 'API Gateway:PutMethod', 'S3:PutObject',
    ]);
  });

  it('reads multi-line bodies, quoted values and the resource type of each request', () => {
    const createTable = requests[1];
    expect(createTable.body).toContain('"TableName":"vitals-tfstate-lock"');
    expect(createTable.resourceType).toBe('aws_dynamodb_table');
    expect(requests[3].url).toBe('https://127.0.0.1:45123/vitals-tfstate-eu-central-2?lifecycle=');
    expect(requests[0].body).toBe('Action=GetCallerIdentity&Version=2011-06-15');
  });
});

describe('IAM action', () => {
  const request = (service: string, operation: string, httpMethod = 'POST'): LoggedRequest => ({ service, operation, httpMethod, url: '', body: '' });

  it('is the service prefix and the operation for most services', () => {
    expect(iamAction(request('Kinesis', 'CreateStream'))).toBe('kinesis:CreateStream');
    expect(iamAction(request('CloudWatch Logs', 'PutRetentionPolicy'))).toBe('logs:PutRetentionPolicy');
    expect(iamAction(request('Application Auto Scaling', 'RegisterScalableTarget'))).toBe('application-autoscaling:RegisterScalableTarget');
  });

  it('uses the S3 action names that differ from the operation names', () => {
    expect(iamAction(request('S3', 'HeadBucket', 'HEAD'))).toBe('s3:ListBucket');
    expect(iamAction(request('S3', 'PutBucketLifecycleConfiguration', 'PUT'))).toBe('s3:PutLifecycleConfiguration');
    expect(iamAction(request('S3', 'GetBucketEncryption', 'GET'))).toBe('s3:GetEncryptionConfiguration');
    expect(iamAction(request('S3', 'PutBucketPolicy', 'PUT'))).toBe('s3:PutBucketPolicy');
  });

  it('is the HTTP method for API Gateway, whose management API is authorised that way', () => {
    expect(iamAction(request('API Gateway', 'PutMethod', 'PUT'))).toBe('apigateway:PUT');
  });
});

describe('resource ARN', () => {
  const requests = parseTerraformLog(LOG);

  it('is the state resource of the request\'s type that the request names, the longest name winning', () => {
    expect(resourceArn(requests[1], STATE)).toBe('arn:aws:dynamodb:eu-central-2:123456789012:table/vitals-tfstate-lock');
  });

  it('is the bucket (or object) of an S3 request, from its path', () => {
    expect(resourceArn(requests[2], STATE)).toBe('arn:aws:s3:::vitals-tfstate-eu-central-2');
    expect(resourceArn(requests[6], STATE)).toBe('arn:aws:s3:::vitals-tfstate-eu-central-2/pipeline/dev/terraform.tfstate.tflock');
  });

  it('is the request path for API Gateway', () => {
    expect(resourceArn(requests[5], STATE)).toBe('arn:aws:apigateway:eu-central-2::/restapis/abc123/resources/r1/methods/POST');
  });

  it('is null when no resource can be told: provider set-up, or a create whose id the service assigns', () => {
    expect(resourceArn(requests[0], STATE)).toBeNull();
    expect(resourceArn(requests[4], STATE)).toBeNull();
  });
});

describe('resource ARN of a type without one', () => {
  const state: StateResource[] = [
    { address: 'aws_iam_role.R', type: 'aws_iam_role', values: { id: 'vitals-processor-task-dev', name: 'vitals-processor-task-dev', arn: 'arn:aws:iam::123456789012:role/vitals-processor-task-dev' } },
    { address: 'aws_iam_role_policy.P', type: 'aws_iam_role_policy', values: { id: 'vitals-processor-task-dev:policy', name: 'vitals-processor-task-dev-policy', role: 'vitals-processor-task-dev' } },
    { address: 'aws_kinesis_stream.S', type: 'aws_kinesis_stream', values: { id: 'arn:aws:kinesis:eu-central-2:123456789012:stream/vitals-events-dev', name: 'vitals-events-dev', arn: 'arn:aws:kinesis:eu-central-2:123456789012:stream/vitals-events-dev' } },
    { address: 'aws_ecs_service.Svc', type: 'aws_ecs_service', values: { id: 'arn:aws:ecs:eu-central-2:123456789012:service/vitals-dev/vitals-processor-dev', name: 'vitals-processor-dev' } },
  ];
  const request = (over: Partial<LoggedRequest>): LoggedRequest => ({ service: 'IAM', operation: 'PutRolePolicy', httpMethod: 'POST', url: 'https://127.0.0.1:1/', body: '', region: 'eu-central-2', ...over });

  it('is the resource of the same service the (form-encoded) request names: a role policy acts on its role, not on what it grants', () => {
    const body = `Action=PutRolePolicy&PolicyDocument=${encodeURIComponent('{"Resource":"arn:aws:kinesis:eu-central-2:123456789012:stream/vitals-events-dev"}')}&PolicyName=vitals-processor-task-dev-policy&RoleName=vitals-processor-task-dev`;
    expect(resourceArn(request({ body, resourceType: 'aws_iam_role_policy' }), state)).toBe('arn:aws:iam::123456789012:role/vitals-processor-task-dev');
  });

  it('is the id of a resource whose id is its ARN', () => {
    const create = request({ service: 'ECS', operation: 'CreateService', resourceType: 'aws_ecs_service', body: '{"cluster":"vitals-dev","serviceName":"vitals-processor-dev"}' });
    expect(resourceArn(create, state)).toBe('arn:aws:ecs:eu-central-2:123456789012:service/vitals-dev/vitals-processor-dev');
  });

  it('is the lock table for the state backend\'s DynamoDB calls', () => {
    const lock = request({ service: 'DynamoDB', operation: 'PutItem', resourceType: undefined, body: '{"Item":{"LockID":{"S":"b/k"}},"TableName":"vitals-tfstate-lock"}' });
    expect(resourceArn(lock, state)).toBe('arn:aws:dynamodb:eu-central-2:123456789012:table/vitals-tfstate-lock');
  });
});

describe('API call record', () => {
  it('has exactly the fields stack, phase, action and resource', () => {
    const calls = apiCallsFromLog('state-bootstrap', 'apply', LOG, STATE);
    expect(calls).toHaveLength(7);
    for (const call of calls) expect(Object.keys(call)).toEqual(['stack', 'phase', 'action', 'resource']);
    expect(calls[1]).toEqual({ stack: 'state-bootstrap', phase: 'apply', action: 'dynamodb:CreateTable', resource: 'arn:aws:dynamodb:eu-central-2:123456789012:table/vitals-tfstate-lock' });
  });
});
