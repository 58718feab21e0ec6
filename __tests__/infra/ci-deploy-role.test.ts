import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TerraformStack, Testing } from 'cdktf';
import 'cdktf/lib/testing/adapters/jest'; // type declarations of the cdktf matchers
import { AwsProvider } from '@cdktf/provider-aws/lib/provider';
import { IamOpenidConnectProvider } from '@cdktf/provider-aws/lib/iam-openid-connect-provider';
import { BootstrapStack } from '../../src/infra/bootstrap-stack';
import { PipelineStack } from '../../src/infra/pipeline-stack';
import { RegistryStack } from '../../src/infra/registry-stack';
import { loadConfig } from '../../src/infra/config';
import {
  CiDeployRole,
  CiDeployRoleProps,
  MANAGED_POLICY_MAX_CHARS,
  PASS_ROLE_SERVICES,
} from '../../src/infra/ci-deploy-role';

const STATE = {
  bucketName: 'vitals-tfstate-eu-central-2',
  lockTableArn: 'arn:aws:dynamodb:eu-central-2:123456789012:table/vitals-tfstate-lock',
  keyArn: 'arn:aws:kms:eu-central-2:123456789012:key/state-key',
};
const baseProps: CiDeployRoleProps = {
  repository: 'example-org/vitals-pipeline',
  environments: ['dev', 'prod'],
  accountId: '123456789012',
  region: 'eu-central-2',
  state: STATE,
  productionEnvironments: ['prod'],
};

interface Statement {
  Sid: string;
  Effect: 'Allow' | 'Deny';
  Action: string[] | string;
  Resource: string[] | string;
  Condition?: Record<string, Record<string, string | string[]>>;
}
interface Synthesized {
  resource: {
    aws_iam_role: Record<string, { name: string; assume_role_policy: string; max_session_duration: number }>;
    aws_iam_policy: Record<string, { name: string; policy: string }>;
    aws_iam_role_policy_attachment: Record<string, { role: string; policy_arn: string }>;
    aws_iam_openid_connect_provider?: Record<string, { url: string; client_id_list: string[] }>;
  };
}

function synth(overrides: Partial<CiDeployRoleProps> = {}): { json: Synthesized; stack: TerraformStack; construct: CiDeployRole } {
  const app = Testing.app();
  const stack = new TerraformStack(app, 'test');
  const construct = new CiDeployRole(stack, 'Ci', { ...baseProps, ...overrides });
  return { json: JSON.parse(Testing.synth(stack)) as Synthesized, stack, construct };
}

const list = (v: string[] | string): string[] => (Array.isArray(v) ? v : [v]);

/** Statements of every policy attached to the role named `roleName`. */
function statementsOf(json: Synthesized, stack: TerraformStack, construct: CiDeployRole, roleName: string): Statement[] {
  const roleKey = Object.entries(json.resource.aws_iam_role).find(([, r]) => r.name === roleName)?.[0];
  if (!roleKey) throw new Error(`no role ${roleName}`);
  const attachedPolicyRefs = Object.values(json.resource.aws_iam_role_policy_attachment)
    .filter((a) => a.role === `\${aws_iam_role.${roleKey}.name}`)
    .map((a) => a.policy_arn);
  return Object.entries(construct.policies)
    .filter(([, p]) => attachedPolicyRefs.includes(`\${aws_iam_policy.${stack.getLogicalId(p)}.arn}`))
    .flatMap(([name]) => {
      const policy = Object.values(json.resource.aws_iam_policy).find((p) => p.name === name);
      return (JSON.parse(policy!.policy) as { Statement: Statement[] }).Statement;
    });
}

function trustOf(json: Synthesized, roleName: string): Statement & { Principal: { Federated: string } } {
  const role = Object.values(json.resource.aws_iam_role).find((r) => r.name === roleName);
  if (!role) throw new Error(`no role ${roleName}`);
  const doc = JSON.parse(role.assume_role_policy) as { Statement: Array<Statement & { Principal: { Federated: string } }> };
  expect(doc.Statement).toHaveLength(1);
  return doc.Statement[0];
}

describe('CiDeployRole', () => {
  const { json, stack, construct } = synth();
  const diffStatements = statementsOf(json, stack, construct, 'vitals-ci-diff');
  const devStatements = statementsOf(json, stack, construct, 'vitals-ci-deploy-dev');

  test('creates the GitHub OIDC provider for the sts.amazonaws.com audience', () => {
    expect(Testing.synth(stack)).toHaveResourceWithProperties(IamOpenidConnectProvider, {
      url: 'https://token.actions.githubusercontent.com',
      client_id_list: ['sts.amazonaws.com'],
    });
  });

  test('reuses an existing OIDC provider instead of creating a second one', () => {
    const existing = 'arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com';
    const { json: other } = synth({ existingOidcProviderArn: existing });
    expect(other.resource.aws_iam_openid_connect_provider).toBeUndefined();
    expect(trustOf(other, 'vitals-ci-diff').Principal.Federated).toBe(existing);
  });

  test('the diff role trusts only pull requests of the configured repository', () => {
    const trust = trustOf(json, 'vitals-ci-diff');
    expect(trust.Action).toBe('sts:AssumeRoleWithWebIdentity');
    expect(trust.Condition?.StringEquals).toEqual({
      'token.actions.githubusercontent.com:aud': 'sts.amazonaws.com',
      'token.actions.githubusercontent.com:sub': 'repo:example-org/vitals-pipeline:pull_request',
    });
  });

  test('each deploy role trusts only jobs in the GitHub environment of the same name', () => {
    for (const env of ['dev', 'prod']) {
      const trust = trustOf(json, `vitals-ci-deploy-${env}`);
      expect(trust.Condition?.StringEquals['token.actions.githubusercontent.com:sub']).toBe(`repo:example-org/vitals-pipeline:environment:${env}`);
      expect(trust.Condition?.StringEquals['token.actions.githubusercontent.com:aud']).toBe('sts.amazonaws.com');
    }
  });

  test('sessions last at most one hour', () => {
    for (const role of Object.values(json.resource.aws_iam_role)) expect(role.max_session_duration).toBe(3600);
  });

  test('no policy allows a bare "*" action or every action of a service', () => {
    for (const policy of Object.values(json.resource.aws_iam_policy)) {
      for (const statement of (JSON.parse(policy.policy) as { Statement: Statement[] }).Statement) {
        for (const action of list(statement.Action)) {
          expect(action).not.toBe('*');
          expect(action).not.toMatch(/^[a-z0-9-]+:\*$/);
        }
      }
    }
  });

  test('every managed policy fits IAM\'s size limit, even for the longest environment name', () => {
    const { json: longest } = synth({ environments: ['staging1'] });
    for (const policy of Object.values(longest.resource.aws_iam_policy)) {
      expect(policy.policy.replace(/\s/g, '').length).toBeLessThanOrEqual(MANAGED_POLICY_MAX_CHARS);
    }
  });

  test('no role has more managed policies than IAM\'s default quota of 10', () => {
    const perRole = new Map<string, number>();
    for (const a of Object.values(json.resource.aws_iam_role_policy_attachment)) perRole.set(a.role, (perRole.get(a.role) ?? 0) + 1);
    for (const count of perRole.values()) expect(count).toBeLessThanOrEqual(10);
  });

  test('IAM reads are limited to this account\'s roles, policies and the GitHub provider (and AWS managed policies)', () => {
    const read = diffStatements.find((s) => s.Sid === 'ReadIam');
    expect(list(read!.Resource).sort()).toEqual([
      'arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com',
      'arn:aws:iam::123456789012:policy/*',
      'arn:aws:iam::123456789012:role/*',
      'arn:aws:iam::aws:policy/*',
    ]);
  });

  test('the diff role can change nothing but its state locks', () => {
    const writes = diffStatements
      .filter((s) => s.Effect === 'Allow')
      .flatMap((s) => list(s.Action).map((a) => ({ action: a, statement: s })))
      .filter(({ action }) => /:(Create|Delete|Put|Update|Modify|Attach|Detach|Tag|Untag|Run|Start|Stop|Register|Set|Pass|Schedule|Authorize|Revoke|POST|PUT|PATCH|DELETE)/.test(action));
    for (const { action, statement } of writes) {
      if (action.startsWith('s3:')) {
        expect(list(statement.Resource).every((r) => r.endsWith('.tflock'))).toBe(true);
      } else {
        expect(action).toMatch(/^dynamodb:(PutItem|DeleteItem)$/);
        expect(statement.Condition?.['ForAllValues:StringLike']?.['dynamodb:LeadingKeys']).toBeDefined();
      }
    }
    expect(writes.length).toBeGreaterThan(0);
  });

  test('the diff role cannot read stream records, secret values or log events', () => {
    const actions = diffStatements.flatMap((s) => list(s.Action));
    for (const forbidden of ['kinesis:GetRecords', 'kinesis:GetShardIterator', 'kinesis:Get*', 'secretsmanager:GetSecretValue', 'logs:GetLogEvents', 'logs:FilterLogEvents', 'kms:Decrypt']) {
      const allowedStatements = diffStatements.filter((s) => s.Effect === 'Allow' && list(s.Action).includes(forbidden));
      // kms:Decrypt is allowed on the state key only, and only through S3/DynamoDB.
      if (forbidden === 'kms:Decrypt') {
        expect(allowedStatements.every((s) => list(s.Resource).every((r) => r === STATE.keyArn) && s.Condition?.StringEquals['kms:ViaService'])).toBe(true);
      } else {
        expect(actions).not.toContain(forbidden);
      }
    }
  });

  test('the diff role reads state objects only under the registry and pipeline prefixes of non-production environments', () => {
    const getObject = diffStatements.filter((s) => list(s.Action).includes('s3:GetObject'));
    expect(getObject.flatMap((s) => list(s.Resource)).sort()).toEqual([
      'arn:aws:s3:::vitals-tfstate-eu-central-2/pipeline/dev/*',
      'arn:aws:s3:::vitals-tfstate-eu-central-2/registry/dev/*',
    ]);
  });

  test('with only production environments the diff role reads no state at all', () => {
    const { json: only, stack: s, construct: c } = synth({ environments: ['prod'] });
    expect(statementsOf(only, s, c, 'vitals-ci-diff').filter((x) => list(x.Action).includes('s3:GetObject'))).toEqual([]);
  });

  test('a deploy role writes only its own environment\'s state and locks', () => {
    const putState = devStatements.filter((s) => s.Sid === 'WriteState').flatMap((s) => list(s.Resource));
    expect(putState.sort()).toEqual([
      'arn:aws:s3:::vitals-tfstate-eu-central-2/pipeline/dev/*',
      'arn:aws:s3:::vitals-tfstate-eu-central-2/registry/dev/*',
    ]);
    const locks = devStatements.find((s) => s.Sid === 'DynamoDbLocks');
    expect(locks?.Condition?.['ForAllValues:StringLike']['dynamodb:LeadingKeys']).toEqual([
      'vitals-tfstate-eu-central-2/registry/dev/*',
      'vitals-tfstate-eu-central-2/pipeline/dev/*',
    ]);
  });

  test('the dev deploy role changes no resource named for another environment', () => {
    const sharedReadSids = ['DescribeInRegion', 'ReadIam', 'ReadBucketConfiguration'];
    const resources = devStatements.filter((s) => s.Effect === 'Allow' && !sharedReadSids.includes(s.Sid)).flatMap((s) => list(s.Resource));
    for (const resource of resources) {
      expect(resource).not.toMatch(/prod/);
      if (/vitals-/.test(resource) && !resource.includes('vitals-tfstate') && !resource.includes(':policy/vitals-ci-')) {
        expect(resource).toMatch(/vitals-(dev|\*-dev|processor-dev)(\b|-|\/|:|$)/);
      }
    }
  });

  test('unscoped resources in a deploy role are limited to the region or the environment tag', () => {
    for (const statement of devStatements.filter((s) => s.Effect === 'Allow')) {
      if (list(statement.Resource).includes('*')) {
        const condition = JSON.stringify(statement.Condition ?? {});
        expect(condition).toMatch(/aws:RequestedRegion|aws:ResourceTag\/Environment/);
      }
    }
  });

  test('the deploy role may manage the log groups the pipeline stack names for its environment', () => {
    const logs = devStatements.find((s) => s.Sid === 'LogsOwnGroups');
    const arn = (group: string): string => `arn:aws:log-group:${group}`;
    const patterns = list(logs!.Resource).map((r) => r.replace(/^arn:aws:logs:eu-central-2:123456789012:/, 'arn:aws:'));
    const matches = (group: string): boolean => patterns.some((p) => new RegExp(`^${p.split('*').map((x) => x.replace(/[.+?^${}()|[\]\\/]/g, '\\$&')).join('.*')}$`).test(arn(group)));
    for (const group of ['/vitals/dev/cloudtrail', '/vitals/dev/vpc-flow-logs', '/ecs/vitals-processor-dev', '/aws/rds/cluster/vitals-dev/postgresql',
      '/aws/apigateway/vitals-ingest-dev/access', 'aws-waf-logs-vitals-ingest-dev']) {
      expect({ group, allowed: matches(group) }).toEqual({ group, allowed: true });
    }
    expect(matches('/aws/rds/cluster/vitals-prod/postgresql')).toBe(false);
    expect(matches('/vitals/prod/cloudtrail')).toBe(false);
  });

  test('environment-scoped deletions and key administration require the Environment tag', () => {
    for (const sid of ['Ec2DeleteOwnEnvironment', 'KmsOwnEnvironmentKeys', 'KmsOwnKeysThroughServices']) {
      const statement = devStatements.find((s) => s.Sid === sid);
      expect(statement?.Condition?.StringEquals['aws:ResourceTag/Environment']).toBe('dev');
    }
  });

  test('the deploy role uses keys cryptographically only through AWS services', () => {
    const crypto = devStatements.filter((s) => s.Effect === 'Allow' && list(s.Action).some((a) => ['kms:Decrypt', 'kms:GenerateDataKey'].includes(a)));
    for (const statement of crypto) expect(statement.Condition?.StringEquals['kms:ViaService']).toBeDefined();
  });

  test('roles are passed only to the services that run them', () => {
    const pass = devStatements.find((s) => list(s.Action).includes('iam:PassRole'));
    expect(pass?.Condition?.StringEquals['iam:PassedToService']).toEqual([...PASS_ROLE_SERVICES]);
    expect(list(pass!.Resource).every((r) => r.includes(':role/vitals-') && r.includes('dev'))).toBe(true);
  });

  test('a deploy role is denied any change to the CI roles, the OIDC provider and the state backend', () => {
    const denies = devStatements.filter((s) => s.Effect === 'Deny');
    const denied = denies.flatMap((s) => list(s.Resource));
    expect(denied).toEqual(expect.arrayContaining([
      'arn:aws:iam::123456789012:role/vitals-ci-*',
      'arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com',
      'arn:aws:s3:::vitals-tfstate-eu-central-2',
      STATE.lockTableArn,
      STATE.keyArn,
    ]));
    const deniedActions = denies.flatMap((s) => list(s.Action));
    expect(deniedActions).toEqual(expect.arrayContaining(['iam:PutRolePolicy', 'iam:UpdateAssumeRolePolicy', 's3:PutBucketPolicy', 's3:DeleteBucket', 'kms:ScheduleKeyDeletion', 'kms:PutKeyPolicy']));
  });

  test('every environment gets its own deploy role', () => {
    expect(Object.keys(construct.deployRoles).sort()).toEqual(['dev', 'prod']);
  });
});

describe('the deploy role covers what the stacks name', () => {
  // Every physical name the registry and pipeline stacks give must fall inside the dev deploy role's
  // resource patterns for the call that creates it; a renamed resource fails here, not in a deploy.
  const ACCOUNT = '123456789012';
  const REGION = 'eu-central-2';
  const config = loadConfig({});
  const app = Testing.app();
  const stacks = [new PipelineStack(app, config), new RegistryStack(app, config)];
  const resources = stacks.flatMap((stack) => Object.entries((JSON.parse(Testing.synth(stack)) as { resource: Record<string, Record<string, Record<string, unknown>>> }).resource));
  const { json, stack, construct } = synth({ environments: ['dev'] });
  const allows = statementsOf(json, stack, construct, 'vitals-ci-deploy-dev').filter((s) => s.Effect === 'Allow');
  const glob = (pattern: string): RegExp => new RegExp(`^${pattern.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\/]/g, '\\$&')).join('.*')}$`);
  const allowed = (action: string, arn: string): boolean =>
    allows.some((s) => list(s.Action).includes(action) && list(s.Resource).some((r) => glob(r).test(arn)));
  const concrete = (name: string): string => name.replace(/\$\{var\.account_id\}/g, ACCOUNT).replace(/\$\{[^}]+\}/g, 'tok');
  const regional = (service: string, resource: string): string => `arn:aws:${service}:${REGION}:${ACCOUNT}:${resource}`;

  const CASES: ReadonlyArray<[type: string, field: string, action: string, arn: (name: string) => string]> = [
    ['aws_cloudwatch_log_group', 'name', 'logs:CreateLogGroup', (n) => regional('logs', `log-group:${n}`)],
    ['aws_iam_role', 'name', 'iam:CreateRole', (n) => `arn:aws:iam::${ACCOUNT}:role/${n}`],
    ['aws_kinesis_stream', 'name', 'kinesis:CreateStream', (n) => regional('kinesis', `stream/${n}`)],
    ['aws_ecs_cluster', 'name', 'ecs:CreateCluster', (n) => regional('ecs', `cluster/${n}`)],
    ['aws_ecs_service', 'name', 'ecs:CreateService', (n) => regional('ecs', `service/${config.project}-${config.environment}/${n}`)],
    ['aws_ecs_task_definition', 'family', 'ecs:RunTask', (n) => regional('ecs', `task-definition/${n}:1`)],
    ['aws_ecr_repository', 'name', 'ecr:CreateRepository', (n) => regional('ecr', `repository/${n}`)],
    ['aws_sns_topic', 'name', 'sns:CreateTopic', (n) => regional('sns', n)],
    ['aws_cloudwatch_metric_alarm', 'alarm_name', 'cloudwatch:PutMetricAlarm', (n) => regional('cloudwatch', `alarm:${n}`)],
    ['aws_cloudwatch_dashboard', 'dashboard_name', 'cloudwatch:PutDashboard', (n) => `arn:aws:cloudwatch::${ACCOUNT}:dashboard/${n}`],
    ['aws_rds_cluster', 'cluster_identifier', 'rds:CreateDBCluster', (n) => regional('rds', `cluster:${n}`)],
    ['aws_rds_cluster_instance', 'identifier', 'rds:CreateDBInstance', (n) => regional('rds', `db:${n}`)],
    ['aws_db_subnet_group', 'name', 'rds:CreateDBSubnetGroup', (n) => regional('rds', `subgrp:${n}`)],
    ['aws_rds_cluster_parameter_group', 'name', 'rds:CreateDBClusterParameterGroup', (n) => regional('rds', `cluster-pg:${n}`)],
    ['aws_backup_vault', 'name', 'backup:CreateBackupVault', (n) => regional('backup', `backup-vault:${n}`)],
    ['aws_kms_alias', 'name', 'kms:CreateAlias', (n) => regional('kms', n)],
    ['aws_cloudtrail', 'name', 'cloudtrail:CreateTrail', (n) => regional('cloudtrail', `trail/${n}`)],
    ['aws_wafv2_web_acl', 'name', 'wafv2:CreateWebACL', (n) => regional('wafv2', `regional/webacl/${n}/0000`)],
    ['aws_s3_bucket', 'bucket', 's3:CreateBucket', (n) => `arn:aws:s3:::${n}`],
  ];

  test.each(CASES)('every %s (%s) is within the dev deploy role for %s', (type, field, action, arn) => {
    const named = resources.filter(([t]) => t === type).flatMap(([, byId]) => Object.values(byId).map((r) => r[field]));
    expect(named.length).toBeGreaterThan(0);
    for (const name of named) {
      const target = arn(concrete(String(name)));
      expect({ target, allowed: allowed(action, target) }).toEqual({ target, allowed: true });
    }
  });

  test('the same names in another environment are outside the dev role', () => {
    expect(allowed('kinesis:CreateStream', regional('kinesis', 'stream/vitals-events-prod'))).toBe(false);
    expect(allowed('rds:CreateDBCluster', regional('rds', 'cluster:vitals-prod'))).toBe(false);
    expect(allowed('iam:CreateRole', `arn:aws:iam::${ACCOUNT}:role/vitals-backup-prod`)).toBe(false);
    expect(allowed('s3:CreateBucket', `arn:aws:s3:::vitals-audit-prod-${ACCOUNT}-${REGION}`)).toBe(false);
  });
});

describe('CiDeployRole validation', () => {
  const build = (overrides: Partial<CiDeployRoleProps>): (() => void) => () => synth(overrides);

  test('a repository that is not owner/name is rejected', () => {
    expect(build({ repository: 'vitals-pipeline' })).toThrow(/repository must be "owner\/name".*received "vitals-pipeline"/);
  });

  test('an empty environment list is rejected', () => {
    expect(build({ environments: [] })).toThrow(/environments must name at least one environment/);
  });

  test('an invalid environment name is rejected', () => {
    expect(build({ environments: ['Prod!'] })).toThrow(/environments must be lowercase alphanumeric.*received "Prod!"/);
  });

  test('a repeated environment is rejected', () => {
    expect(build({ environments: ['dev', 'dev'] })).toThrow(/environments must not repeat/);
  });

  test('an account id that is not 12 digits is rejected', () => {
    expect(build({ accountId: 'abc' })).toThrow(/accountId must be a 12-digit AWS account id; received "abc"/);
  });

  test('an existing provider ARN for another issuer is rejected', () => {
    expect(build({ existingOidcProviderArn: 'arn:aws:iam::123456789012:oidc-provider/example.com' })).toThrow(/existingOidcProviderArn must be the ARN of the token.actions.githubusercontent.com provider/);
  });
});

describe('CI settings and the bootstrap stack', () => {
  const bootstrap = (settings: Record<string, string>): Synthesized & { output: Record<string, unknown> } => {
    const app = Testing.app();
    return JSON.parse(Testing.synth(new BootstrapStack(app, loadConfig(settings)))) as Synthesized & { output: Record<string, unknown> };
  };

  test('without CI_GITHUB_REPOSITORY the bootstrap stack creates no OIDC provider and no CI role', () => {
    const json = bootstrap({});
    expect(json.resource.aws_iam_openid_connect_provider).toBeUndefined();
    expect(Object.values(json.resource.aws_iam_role ?? {}).filter((r) => r.name.startsWith('vitals-ci-'))).toEqual([]);
  });

  test('with CI_GITHUB_REPOSITORY it creates the diff role and one deploy role per CI environment, with their ARNs as outputs', () => {
    const json = bootstrap({ CI_GITHUB_REPOSITORY: 'example-org/vitals-pipeline', CI_ENVIRONMENTS: 'dev,staging,prod' });
    const names = Object.values(json.resource.aws_iam_role).map((r) => r.name).sort();
    expect(names).toEqual(['vitals-ci-deploy-dev', 'vitals-ci-deploy-prod', 'vitals-ci-deploy-staging', 'vitals-ci-diff']);
    expect(Object.keys(json.output)).toEqual(expect.arrayContaining(['ci_diff_role_arn', 'ci_deploy_role_arn_dev', 'ci_deploy_role_arn_staging', 'ci_deploy_role_arn_prod']));
    expect(trustOf(json, 'vitals-ci-diff').Condition?.StringEquals['token.actions.githubusercontent.com:sub']).toBe('repo:example-org/vitals-pipeline:pull_request');
  });

  test('an existing OIDC provider from CI_OIDC_PROVIDER_ARN is reused', () => {
    const arn = 'arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com';
    const json = bootstrap({ CI_GITHUB_REPOSITORY: 'o/n', CI_OIDC_PROVIDER_ARN: arn });
    expect(json.resource.aws_iam_openid_connect_provider).toBeUndefined();
    expect(trustOf(json, 'vitals-ci-diff').Principal.Federated).toBe(arn);
  });

  test('a repository setting that is not owner/name fails synth naming the setting', () => {
    expect(() => loadConfig({ CI_GITHUB_REPOSITORY: 'https://github.com/o/n' })).toThrow(/CI_GITHUB_REPOSITORY must be a GitHub repository as owner\/name.*received "https:\/\/github.com\/o\/n"/);
  });

  test('CI environments must be distinct environment names', () => {
    expect(() => loadConfig({ CI_ENVIRONMENTS: 'dev,dev' })).toThrow(/CI_ENVIRONMENTS must be distinct environment names.*received "dev,dev"/);
    expect(() => loadConfig({ CI_ENVIRONMENTS: 'Prod' })).toThrow(/CI_ENVIRONMENTS must be distinct environment names/);
  });

  test('an OIDC provider ARN for another issuer fails synth', () => {
    expect(() => loadConfig({ CI_OIDC_PROVIDER_ARN: 'arn:aws:iam::123456789012:oidc-provider/example.com' })).toThrow(/CI_OIDC_PROVIDER_ARN must be the ARN/);
  });

  test('alarm e-mails are parsed from a comma-separated setting and validated', () => {
    expect(loadConfig({ ALARM_EMAILS: 'a@example.org, b@example.org' }).alarmEmails).toEqual(['a@example.org', 'b@example.org']);
    expect(loadConfig({}).alarmEmails).toEqual([]);
    expect(() => loadConfig({ ALARM_EMAILS: 'oncall' })).toThrow(/ALARM_EMAILS must be comma-separated e-mail addresses; received "oncall"/);
  });
});

describe('CiDeployRole with real terraform (offline)', () => {
  const mirror = process.env.TF_PROVIDER_MIRROR ?? '/opt/tf-plugins';

  test('terraform validates and plans the OIDC provider, roles and policies offline', () => {
    let hasTerraform = true;
    try {
      execFileSync('terraform', ['version'], { stdio: 'ignore' });
    } catch {
      hasTerraform = false;
    }
    if (!hasTerraform || !existsSync(join(mirror, 'registry.terraform.io/hashicorp/aws/5.100.0'))) {
      console.warn(`SKIPPED: offline terraform plan of CiDeployRole (terraform on PATH: ${hasTerraform}; provider mirror ${mirror} present: ${existsSync(mirror)})`);
      return;
    }
    const app = Testing.app();
    const stack = new TerraformStack(app, 'offline');
    new AwsProvider(stack, 'aws', {
      region: 'eu-central-2',
      accessKey: 'offline',
      secretKey: 'offline',
      skipCredentialsValidation: true,
      skipRequestingAccountId: true,
      skipMetadataApiCheck: 'true',
    });
    new CiDeployRole(stack, 'Ci', baseProps);
    const dir = mkdtempSync(join(process.env.TMPDIR ?? '/tmp', 'tf-offline-ci-'));
    writeFileSync(join(dir, 'cdk.tf.json'), Testing.synth(stack));
    const cliConfig = join(dir, 'cli.tfrc');
    writeFileSync(cliConfig, `provider_installation {\n  filesystem_mirror {\n    path = "${mirror}"\n  }\n}\n`);
    const env = { ...process.env, TF_CLI_CONFIG_FILE: cliConfig, TF_IN_AUTOMATION: '1', CHECKPOINT_DISABLE: '1' };
    const tf = (...args: string[]): string => execFileSync('terraform', args, { cwd: dir, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    let plan: { resource_changes: Array<{ type: string }> };
    try {
      tf('init', '-backend=false', '-input=false', '-no-color');
      tf('plan', '-refresh=false', '-input=false', '-no-color', '-out=plan.tfplan');
      plan = JSON.parse(tf('show', '-json', 'plan.tfplan')) as typeof plan;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const types = plan.resource_changes.map((c) => c.type);
    expect(types.filter((t) => t === 'aws_iam_role')).toHaveLength(3);
    expect(types).toContain('aws_iam_openid_connect_provider');
  });
});
