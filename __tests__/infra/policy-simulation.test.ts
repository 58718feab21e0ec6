/**
 * The IAM boundary, proven by evaluating the synthesized policies (identity policies, permissions
 * boundaries, key/bucket policies) with a policy simulator: what each role must be allowed to do, and
 * the escalations it must be denied. Counts per role go to .tmp/policy-sim/ for the test summary.
 */
import { AuditTrail } from '../../src/infra/audit-trail';
import { PRODUCTION_DENIED_ACTIONS } from '../../src/infra/ci-deploy-role';
import { boundaryPolicyArn } from '../../src/infra/permissions-boundary';
import { asList } from '../../src/infra/policy-sim/documents';
import { SimRequest } from '../../src/infra/policy-sim/simulate';
import { COUNTS_DIR, satisfying, simulator } from './helpers/policy-sim';
import { ACCOUNT_ID, REGION } from './helpers/synth';

jest.setTimeout(60_000);

const sim = simulator();
afterAll(() => sim.writeCounts(COUNTS_DIR, 'policy-simulation'));

const ENVS = ['dev', 'prod'] as const;
const other = (env: string): string => (env === 'dev' ? 'prod' : 'dev');
const deployRole = (env: string): string => `vitals-ci-deploy-${env}`;
const iam = (resource: string): string => `arn:aws:iam::${ACCOUNT_ID}:${resource}`;
const arn = (service: string, resource: string): string => `arn:aws:${service}:${REGION}:${ACCOUNT_ID}:${resource}`;
const apigw = (path: string): string => `arn:aws:apigateway:${REGION}::${path}`;
const tagged = (env: string): Record<string, string> => ({ 'aws:ResourceTag/Environment': env });
const requestTagged = (env: string): Record<string, string | string[]> => ({ 'aws:RequestTag/Environment': env, 'aws:TagKeys': ['Environment'] });
const boundary = (env: string): string => boundaryPolicyArn('aws', ACCOUNT_ID, 'vitals', env);

const allowed = (role: string, request: SimRequest): Promise<void> => sim.expectAllowed(role, request);
const denied = (role: string, request: SimRequest): Promise<void> => sim.expectDenied(role, request);
const explicitlyDenied = (role: string, request: SimRequest): Promise<void> => sim.expectDenied(role, request, 'explicit');

/** The state bucket's ARN, read from the deploy role's own state policy. */
function stateBucketArn(): string {
  const statements = sim.role(deployRole('dev')).identityPolicies.flatMap((p) => p.policy.Statement);
  const read = statements.find((s) => s.Sid === 'ReadState');
  return asList(read?.Resource)[0].replace(/\/.*$/, '');
}
function stateResource(type: 'table' | 'key'): string {
  const deny = sim.role(deployRole('dev')).identityPolicies.flatMap((p) => p.policy.Statement).find((s) => s.Sid === 'NeverTheStateBackend');
  const found = asList(deny?.Resource).find((r) => (type === 'table' ? r.includes(':dynamodb:') : r.includes(':kms:')));
  if (!found) throw new Error(`no state ${type} in the deploy role's denies`);
  return found;
}

describe.each(ENVS)('the %s CI deploy role', (env) => {
  const role = deployRole(env);
  const own = `vitals-processor-task-${env}`;

  test('cannot change its own managed policies or the boundaries (CreatePolicyVersion, SetDefaultPolicyVersion, ...)', async () => {
    for (const policyName of [`vitals-ci-deploy-iam-${env}`, `vitals-ci-deploy-state-${env}`, 'vitals-ci-plan-read', `vitals-boundary-${env}`, `vitals-boundary-${other(env)}`]) {
      for (const action of ['iam:CreatePolicyVersion', 'iam:SetDefaultPolicyVersion', 'iam:DeletePolicyVersion', 'iam:DeletePolicy']) {
        await explicitlyDenied(role, { action, resource: iam(`policy/${policyName}`) });
      }
    }
    await explicitlyDenied(role, { action: 'iam:CreatePolicy', resource: iam(`policy/vitals-anything-${env}`) });
  });

  test('cannot change its own role or the other CI roles', async () => {
    for (const target of [role, deployRole(other(env)), 'vitals-ci-diff']) {
      for (const action of ['iam:AttachRolePolicy', 'iam:PutRolePolicy', 'iam:UpdateAssumeRolePolicy', 'iam:DeleteRolePermissionsBoundary', 'iam:DeleteRole']) {
        await explicitlyDenied(role, { action, resource: iam(`role/${target}`), context: { 'iam:PermissionsBoundary': boundary(env), 'iam:PolicyARN': 'arn:aws:iam::aws:policy/AdministratorAccess' } });
      }
    }
  });

  test('creates and changes its environment\'s roles only with the environment\'s boundary', async () => {
    const target = iam(`role/vitals-new-${env}`);
    await allowed(role, { action: 'iam:CreateRole', resource: target, context: { 'iam:PermissionsBoundary': boundary(env) } });
    await explicitlyDenied(role, { action: 'iam:CreateRole', resource: target });
    await explicitlyDenied(role, { action: 'iam:CreateRole', resource: target, context: { 'iam:PermissionsBoundary': boundary(other(env)) } });
    await explicitlyDenied(role, { action: 'iam:PutRolePermissionsBoundary', resource: iam(`role/${own}`), context: { 'iam:PermissionsBoundary': iam('policy/vitals-ci-plan-read') } });
    await explicitlyDenied(role, { action: 'iam:DeleteRolePermissionsBoundary', resource: iam(`role/${own}`), context: { 'iam:PermissionsBoundary': boundary(env) } });
    await allowed(role, { action: 'iam:PutRolePolicy', resource: iam(`role/${own}`), context: { 'iam:PermissionsBoundary': boundary(env) } });
    await explicitlyDenied(role, { action: 'iam:PutRolePolicy', resource: iam(`role/${own}`) });
    await denied(role, { action: 'iam:PutRolePolicy', resource: iam(`role/vitals-processor-task-${other(env)}`), context: { 'iam:PermissionsBoundary': boundary(env) } });
    await denied(role, { action: 'iam:CreateRole', resource: iam(`role/vitals-new-${other(env)}`), context: { 'iam:PermissionsBoundary': boundary(env) } });
  });

  test('attaches only the AWS managed service policies the stacks use', async () => {
    const ctx = (policy: string): Record<string, string> => ({ 'iam:PermissionsBoundary': boundary(env), 'iam:PolicyARN': `arn:aws:iam::aws:policy/${policy}` });
    await allowed(role, { action: 'iam:AttachRolePolicy', resource: iam(`role/vitals-rds-monitoring-${env}`), context: ctx('service-role/AmazonRDSEnhancedMonitoringRole') });
    await allowed(role, { action: 'iam:AttachRolePolicy', resource: iam(`role/vitals-backup-${env}`), context: ctx('service-role/AWSBackupServiceRolePolicyForBackup') });
    await denied(role, { action: 'iam:AttachRolePolicy', resource: iam(`role/vitals-backup-${env}`), context: ctx('AdministratorAccess') });
    await explicitlyDenied(role, { action: 'iam:AttachRolePolicy', resource: iam(`role/vitals-backup-${env}`), context: { 'iam:PolicyARN': 'arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup' } });
  });

  test('passes only its environment\'s roles, only to the services that run them, and assumes no role', async () => {
    await allowed(role, { action: 'iam:PassRole', resource: iam(`role/${own}`), context: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } });
    await denied(role, { action: 'iam:PassRole', resource: iam(`role/${own}`), context: { 'iam:PassedToService': 'lambda.amazonaws.com' } });
    await denied(role, { action: 'iam:PassRole', resource: iam(`role/vitals-processor-task-${other(env)}`), context: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } });
    await denied(role, { action: 'iam:PassRole', resource: iam(`role/${deployRole(other(env))}`), context: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } });
    await explicitlyDenied(role, { action: 'sts:AssumeRole', resource: iam(`role/${own}`) });
  });

  test('cannot touch the state backend\'s bucket, lock table or key', async () => {
    const bucket = stateBucketArn();
    for (const action of ['s3:PutBucketPolicy', 's3:DeleteBucket', 's3:PutBucketVersioning', 's3:PutLifecycleConfiguration']) await explicitlyDenied(role, { action, resource: bucket });
    await explicitlyDenied(role, { action: 'dynamodb:DeleteTable', resource: stateResource('table') });
    for (const action of ['kms:ScheduleKeyDeletion', 'kms:PutKeyPolicy', 'kms:DisableKey']) await explicitlyDenied(role, { action, resource: stateResource('key'), context: tagged(env) });
  });

  test('reads and writes its own environment\'s state only', async () => {
    const bucket = stateBucketArn();
    for (const stack of ['pipeline', 'registry']) {
      await allowed(role, { action: 's3:GetObject', resource: `${bucket}/${stack}/${env}/terraform.tfstate` });
      await allowed(role, { action: 's3:PutObject', resource: `${bucket}/${stack}/${env}/terraform.tfstate` });
      await denied(role, { action: 's3:GetObject', resource: `${bucket}/${stack}/${other(env)}/terraform.tfstate` });
      await denied(role, { action: 's3:PutObject', resource: `${bucket}/${stack}/${other(env)}/terraform.tfstate` });
    }
    await allowed(role, { action: 'kms:Decrypt', resource: stateResource('key'), context: { 'kms:ViaService': `s3.${REGION}.amazonaws.com` } });
    await denied(role, { action: 'kms:Decrypt', resource: stateResource('key') });
  });

  // Finding 2: the other environment's resources, by ARN and tag, are out of reach.
  const CROSS: ReadonlyArray<[what: string, action: string, resource: string, context?: Record<string, string | string[]>]> = [
    ['a REST API method', 'apigateway:PATCH', apigw('/restapis/a1b2c3/resources/r1/methods/POST')],
    ['a REST API integration', 'apigateway:PUT', apigw('/restapis/a1b2c3/resources/r1/methods/POST/integration')],
    ['a REST API', 'apigateway:DELETE', apigw('/restapis/a1b2c3')],
    ['a stage\'s web ACL (wafv2)', 'wafv2:DisassociateWebACL', apigw('/restapis/a1b2c3/stages/v1')],
    ['an API key', 'apigateway:DELETE', apigw('/apikeys/k1')],
    ['a usage plan', 'apigateway:PATCH', apigw('/usageplans/u1')],
    ['a security group', 'ec2:AuthorizeSecurityGroupIngress', arn('ec2', 'security-group/sg-0123456789abcdef0')],
    ['a security group (revoke)', 'ec2:RevokeSecurityGroupEgress', arn('ec2', 'security-group/sg-0123456789abcdef0')],
    ['a VPC endpoint', 'ec2:ModifyVpcEndpoint', arn('ec2', 'vpc-endpoint/vpce-0123456789abcdef0')],
    ['a route table', 'ec2:CreateRoute', arn('ec2', 'route-table/rtb-0123456789abcdef0')],
    ['a network ACL', 'ec2:CreateNetworkAclEntry', arn('ec2', 'network-acl/acl-0123456789abcdef0')],
    ['a VPC (a new subnet in it)', 'ec2:CreateSubnet', arn('ec2', 'vpc/vpc-0123456789abcdef0')],
    ['a VPC', 'ec2:DeleteVpc', arn('ec2', 'vpc/vpc-0123456789abcdef0')],
    ['a backup plan', 'backup:DeleteBackupPlan', arn('backup', 'backup-plan:11111111-2222-3333-4444-555555555555')],
    ['a backup plan (update)', 'backup:UpdateBackupPlan', arn('backup', 'backup-plan:11111111-2222-3333-4444-555555555555')],
    ['an API Gateway execution log group', 'logs:DeleteLogGroup', arn('logs', 'log-group:API-Gateway-Execution-Logs_a1b2c3/v1')],
    ['PrivateLink endpoint service', 'ec2:ModifyVpcEndpointServicePermissions', arn('ec2', 'vpc-endpoint-service/vpce-svc-0123456789abcdef0')],
  ];
  test.each(CROSS)(`may change its own environment's %s but not the other environment's`, async (_what, action, resource) => {
    if (PRODUCTION_DENIED_ACTIONS.includes(action) && env === 'prod') await explicitlyDenied(role, { action, resource, context: tagged(env) });
    else await allowed(role, { action, resource, context: tagged(env) });
    await denied(role, { action, resource, context: tagged(other(env)) });
  });

  test('creates API Gateway resources and tagged EC2 resources only with its own Environment tag', async () => {
    await allowed(role, { action: 'apigateway:POST', resource: apigw('/restapis'), context: requestTagged(env) });
    await denied(role, { action: 'apigateway:POST', resource: apigw('/restapis'), context: requestTagged(other(env)) });
    await allowed(role, { action: 'ec2:CreateSecurityGroup', resource: arn('ec2', 'security-group/*'), context: requestTagged(env) });
    await denied(role, { action: 'ec2:CreateSecurityGroup', resource: arn('ec2', 'security-group/*'), context: requestTagged(other(env)) });
    await allowed(role, { action: 'ec2:CreateVpc', resource: arn('ec2', 'vpc/*'), context: requestTagged(env) });
    await denied(role, { action: 'ec2:CreateVpc', resource: arn('ec2', 'vpc/*') });
  });

  test('manages only its own cluster\'s RDS-managed master secret', async () => {
    const secret = arn('secretsmanager', 'secret:rds!cluster-0a1b2c3d-AbCdEf');
    const of = (e: string): Record<string, string> => ({ 'aws:ResourceTag/aws:rds:primaryDBClusterArn': arn('rds', `cluster:vitals-${e}`) });
    for (const action of ['secretsmanager:RotateSecret', 'secretsmanager:DeleteSecret', 'secretsmanager:UpdateSecret']) {
      await allowed(role, { action, resource: secret, context: of(env) });
      await denied(role, { action, resource: secret, context: of(other(env)) });
    }
    await denied(role, { action: 'secretsmanager:GetSecretValue', resource: secret, context: of(env) });
  });

  test('administers its own environment\'s keys, never the other environment\'s', async () => {
    const key = (e: string, name: string): string => Object.keys(sim.model.resourcePolicies).find((k) => k.startsWith(arn('kms', `key/pipeline-${e}.Keys_${name}`)))!;
    for (const name of ['Data', 'Logs']) {
      if (env === 'prod') await explicitlyDenied(role, { action: 'kms:ScheduleKeyDeletion', resource: key(env, name), context: tagged(env) });
      else await allowed(role, { action: 'kms:ScheduleKeyDeletion', resource: key(env, name), context: tagged(env) });
      await allowed(role, { action: 'kms:EnableKeyRotation', resource: key(env, name), context: tagged(env) });
      await denied(role, { action: 'kms:ScheduleKeyDeletion', resource: key(other(env), name), context: tagged(other(env)) });
      await denied(role, { action: 'kms:PutKeyPolicy', resource: key(other(env), name), context: tagged(other(env)) });
      await denied(role, { action: 'kms:Decrypt', resource: key(env, name), context: tagged(env) });
    }
  });

  test('names outside its environment are out of reach (streams, clusters, trails, buckets, log groups)', async () => {
    const o = other(env);
    await allowed(role, { action: 'kinesis:DeleteStream', resource: arn('kinesis', `stream/vitals-events-${env}`) }).catch(async (e) => {
      if (env === 'prod') return; // prod may not delete its stream (ProductionNeverErases)
      throw e;
    });
    await denied(role, { action: 'kinesis:CreateStream', resource: arn('kinesis', `stream/vitals-events-${o}`) });
    await denied(role, { action: 'rds:ModifyDBCluster', resource: arn('rds', `cluster:vitals-${o}`) });
    await denied(role, { action: 'cloudtrail:UpdateTrail', resource: arn('cloudtrail', `trail/${AuditTrail.trailName(o)}`) });
    await denied(role, { action: 's3:PutBucketPolicy', resource: `arn:aws:s3:::vitals-audit-${o}-${ACCOUNT_ID}-${REGION}` });
    await denied(role, { action: 'logs:DeleteLogGroup', resource: arn('logs', `log-group:/vitals/${o}/cloudtrail`) });
    await denied(role, { action: 'ecs:UpdateService', resource: arn('ecs', `service/vitals-${o}/vitals-processor-${o}`) });
    await allowed(role, { action: 'elasticloadbalancing:ModifyListener', resource: arn('elasticloadbalancing', `listener/net/vitals-hl7-${env}/50dc6c495c0c9188/f2f7dc8efc522ab2`) });
    await denied(role, { action: 'elasticloadbalancing:ModifyListener', resource: arn('elasticloadbalancing', `listener/net/vitals-hl7-${o}/50dc6c495c0c9188/f2f7dc8efc522ab2`) });
    await denied(role, { action: 'elasticloadbalancing:DeleteLoadBalancer', resource: arn('elasticloadbalancing', `loadbalancer/net/vitals-fhir-${o}/50dc6c495c0c9188`) });
  });

  // Finding 4 (deploy side).
  test('can never stop the trail, erase recovery points or bypass object retention', async () => {
    await explicitlyDenied(role, { action: 'cloudtrail:StopLogging', resource: arn('cloudtrail', `trail/${AuditTrail.trailName(env)}`) });
    await explicitlyDenied(role, { action: 'backup:DeleteRecoveryPoint', resource: arn('backup', 'recovery-point:abc') });
    await explicitlyDenied(role, { action: 's3:BypassGovernanceRetention', resource: `arn:aws:s3:::vitals-audit-${env}-${ACCOUNT_ID}-${REGION}/AWSLogs/x` });
  });
});

describe('the production deploy role cannot erase or blind the audit trail, keys, logs or backups', () => {
  const role = deployRole('prod');
  const audit = `arn:aws:s3:::vitals-audit-prod-${ACCOUNT_ID}-${REGION}`;
  const CASES: ReadonlyArray<[action: string, resource: string]> = [
    ['cloudtrail:DeleteTrail', arn('cloudtrail', `trail/${AuditTrail.trailName('prod')}`)],
    ['cloudtrail:UpdateTrail', arn('cloudtrail', `trail/${AuditTrail.trailName('prod')}`)],
    ['logs:DeleteLogGroup', arn('logs', 'log-group:/vitals/prod/cloudtrail')],
    ['logs:DeleteRetentionPolicy', arn('logs', 'log-group:/vitals/prod/cloudtrail')],
    ['kms:ScheduleKeyDeletion', arn('kms', 'key/0f0f0f0f-1111-2222-3333-444444444444')],
    ['kms:PutKeyPolicy', arn('kms', 'key/0f0f0f0f-1111-2222-3333-444444444444')],
    ['kms:DisableKey', arn('kms', 'key/0f0f0f0f-1111-2222-3333-444444444444')],
    ['backup:DeleteBackupVault', arn('backup', 'backup-vault:vitals-prod')],
    ['backup:DeleteBackupPlan', arn('backup', 'backup-plan:11111111-2222-3333-4444-555555555555')],
    ['s3:DeleteBucket', audit],
    ['s3:DeleteBucketPolicy', audit],
    ['rds:DeleteDBCluster', arn('rds', 'cluster:vitals-prod')],
  ];
  test.each(CASES)('%s on %s is explicitly denied', async (action, resource) => {
    await explicitlyDenied(role, { action, resource, context: tagged('prod') });
  });

  test('audit objects and their versions cannot be deleted in prod; dev may empty its own bucket on destroy', async () => {
    for (const action of ['s3:DeleteObject', 's3:DeleteObjectVersion']) {
      // Explicitly: a bucket policy the role wrote could not grant it back.
      await explicitlyDenied(role, { action, resource: `${audit}/AWSLogs/${ACCOUNT_ID}/CloudTrail/x.json.gz` });
      await allowed(deployRole('dev'), { action, resource: `arn:aws:s3:::vitals-audit-dev-${ACCOUNT_ID}-${REGION}/AWSLogs/${ACCOUNT_ID}/CloudTrail/x.json.gz` });
    }
  });
});

// Finding 9.
describe('the pull-request diff role', () => {
  const role = 'vitals-ci-diff';
  test('reads non-production state and takes its locks, never production state', async () => {
    const bucket = stateBucketArn();
    await allowed(role, { action: 's3:GetObject', resource: `${bucket}/pipeline/dev/terraform.tfstate` });
    await allowed(role, { action: 's3:PutObject', resource: `${bucket}/pipeline/dev/terraform.tfstate.tflock` });
    await denied(role, { action: 's3:PutObject', resource: `${bucket}/pipeline/dev/terraform.tfstate` });
    await denied(role, { action: 's3:GetObject', resource: `${bucket}/pipeline/prod/terraform.tfstate` });
    await denied(role, { action: 's3:GetObject', resource: `${bucket}/registry/prod/terraform.tfstate` });
    await allowed(role, { action: 'dynamodb:PutItem', resource: stateResource('table'), context: { 'dynamodb:LeadingKeys': [`${bucket.replace('arn:aws:s3:::', '')}/pipeline/dev/terraform.tfstate`] } });
    await denied(role, { action: 'dynamodb:PutItem', resource: stateResource('table'), context: { 'dynamodb:LeadingKeys': [`${bucket.replace('arn:aws:s3:::', '')}/pipeline/prod/terraform.tfstate`] } });
  });

  test('reads no data: stream records, secret values, log events, keys', async () => {
    await denied(role, { action: 'kinesis:GetRecords', resource: arn('kinesis', 'stream/vitals-events-dev') });
    await denied(role, { action: 'secretsmanager:GetSecretValue', resource: arn('secretsmanager', 'secret:rds!cluster-x') });
    await denied(role, { action: 'logs:GetLogEvents', resource: arn('logs', 'log-group:/ecs/vitals-processor-dev:log-stream:x') });
    await denied(role, { action: 'kms:Decrypt', resource: stateResource('key') });
    await allowed(role, { action: 'kinesis:DescribeStreamSummary', resource: arn('kinesis', 'stream/vitals-events-dev') });
  });

  test('changes nothing', async () => {
    await denied(role, { action: 'kinesis:DeleteStream', resource: arn('kinesis', 'stream/vitals-events-dev') });
    await denied(role, { action: 'iam:CreateRole', resource: iam('role/vitals-x-dev'), context: { 'iam:PermissionsBoundary': boundary('dev') } });
    await denied(role, { action: 'apigateway:PATCH', resource: apigw('/restapis/a1b2c3'), context: tagged('dev') });
  });
});

// Every workload role: the boundary is attached, caps escalation, and leaves what the role is granted.
describe('workload roles', () => {
  const workloadRoles = Object.values(sim.model.roles).filter((r) => /^pipeline-|^registry-/.test(r.stack));

  test('every role the registry and pipeline stacks create carries its environment\'s boundary', () => {
    expect(workloadRoles.length).toBeGreaterThan(10);
    for (const r of workloadRoles) {
      const env = r.stack.replace(/^(pipeline|registry)-/, '');
      expect({ role: r.name, boundary: r.boundaryArn }).toEqual({ role: r.name, boundary: boundary(env) });
      expect(r.boundary).toBeDefined();
    }
  });

  test.each(ENVS)('%s roles cannot change IAM, reach the state backend, assume the CI roles or blind the trail', async (env) => {
    for (const r of workloadRoles.filter((w) => w.stack.endsWith(`-${env}`))) {
      await explicitlyDenied(r.name, { action: 'iam:PutRolePolicy', resource: r.arn });
      await explicitlyDenied(r.name, { action: 'iam:CreatePolicyVersion', resource: iam(`policy/vitals-boundary-${env}`) });
      await explicitlyDenied(r.name, { action: 'sts:AssumeRole', resource: iam(`role/${deployRole(env)}`) });
      await explicitlyDenied(r.name, { action: 's3:GetObject', resource: `${stateBucketArn()}/pipeline/${env}/terraform.tfstate` });
      await explicitlyDenied(r.name, { action: 'cloudtrail:StopLogging', resource: arn('cloudtrail', `trail/${AuditTrail.trailName(env)}`) });
      await explicitlyDenied(r.name, { action: 'kms:ScheduleKeyDeletion', resource: arn('kms', 'key/any'), context: tagged(env) });
    }
  });

  test.each(ENVS)('%s roles are explicitly denied resources tagged for the other environment, whatever their policies say', async (env) => {
    for (const r of workloadRoles.filter((w) => w.stack.endsWith(`-${env}`))) {
      await explicitlyDenied(r.name, { action: 'kinesis:PutRecords', resource: arn('kinesis', `stream/vitals-events-${other(env)}`), context: tagged(other(env)) });
    }
  });

  test.each(ENVS)('%s service roles keep what their AWS managed policies give them (backup, restore, enhanced monitoring, API Gateway logs)', async (env) => {
    const snapshot = arn('rds', `cluster-snapshot:awsbackup-job-1`);
    await allowed(`vitals-backup-${env}`, { action: 'rds:CreateDBClusterSnapshot', resource: arn('rds', `cluster:vitals-${env}`), context: tagged(env) });
    await allowed(`vitals-backup-${env}`, { action: 'rds:CreateDBClusterSnapshot', resource: snapshot });
    await allowed(`vitals-backup-${env}`, { action: 'tag:GetResources', resource: '*' });
    await allowed(`vitals-backup-${env}`, { action: 'rds:RestoreDBClusterFromSnapshot', resource: snapshot, context: tagged(env) });
    await explicitlyDenied(`vitals-backup-${env}`, { action: 'rds:CreateDBClusterSnapshot', resource: arn('rds', `cluster:vitals-${other(env)}`), context: tagged(other(env)) });
    await allowed(`vitals-rds-monitoring-${env}`, { action: 'logs:PutLogEvents', resource: arn('logs', 'log-group:RDSOSMetrics:log-stream:db-ABC') });
    await allowed(`vitals-apigw-cloudwatch-${env}`, { action: 'logs:PutLogEvents', resource: arn('logs', 'log-group:API-Gateway-Execution-Logs_a1b2c3/v1:log-stream:x'), context: tagged(env) });
    // One API Gateway CloudWatch role per account writes every environment's execution logs; nothing else of the other environment's.
    await allowed(`vitals-apigw-cloudwatch-${env}`, { action: 'logs:PutLogEvents', resource: arn('logs', 'log-group:API-Gateway-Execution-Logs_z9/v1:log-stream:x'), context: tagged(other(env)) });
    await explicitlyDenied(`vitals-apigw-cloudwatch-${env}`, { action: 'logs:PutLogEvents', resource: arn('logs', `log-group:/vitals/${other(env)}/cloudtrail:log-stream:x`), context: tagged(other(env)) });
    await explicitlyDenied(`vitals-processor-task-${env}`, { action: 'logs:PutLogEvents', resource: arn('logs', `log-group:/ecs/vitals-processor-${other(env)}:log-stream:x`), context: tagged(other(env)) });
  });

  /**
   * For every Allow statement of every workload role: each action on each resource it names, with the
   * statement's conditions satisfied and the resource tagged for the role's environment, is allowed
   * through the boundary and the resource's policy. So the boundary takes nothing a role was given.
   */
  test.each(ENVS)('every grant of every %s role survives its boundary and the resource policies', async (env) => {
    let checked = 0;
    for (const r of workloadRoles.filter((w) => w.stack.endsWith(`-${env}`))) {
      for (const s of r.identityPolicies.flatMap((p) => p.policy.Statement).filter((x) => x.Effect === 'Allow')) {
        for (const action of asList(s.Action).filter((a) => !a.includes('*'))) {
          for (const resource of asList(s.Resource).map((x) => (x === '*' ? x : x.replace(/\*/g, 'x')))) {
            const request = { action, resource, context: { ...tagged(env), ...satisfying(s) } };
            // Log-stream actions granted on the group's ARN act on its streams.
            const probe = await sim.evaluate(r.name, request);
            const group = probe.errors?.includes('no.resource.types') ? /^(.*:log-group:[^:]+)(:x)?$/.exec(resource) : null;
            await allowed(r.name, group ? { ...request, resource: `${group[1]}:log-stream:x` } : request);
            checked += 1;
          }
        }
      }
    }
    expect(checked).toBeGreaterThan(20);
  });
});
