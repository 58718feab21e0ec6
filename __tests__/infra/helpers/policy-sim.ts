/**
 * The synthesized stacks of one account as a policy-simulation model: the bootstrap (state backend,
 * boundaries, CI roles for dev and prod), and registry + pipeline of dev and prod. Built once per test
 * file; add assertions with `simulator()` (src/infra/policy-sim).
 */
import { join } from 'node:path';
import { App, Testing } from 'cdktf';
import { BootstrapStack } from '../../../src/infra/bootstrap-stack';
import { loadConfig, SettingsSource } from '../../../src/infra/config';
import { PipelineStack } from '../../../src/infra/pipeline-stack';
import { RegistryStack } from '../../../src/infra/registry-stack';
import { PolicyDocument, PolicyStatement, TerraformJson, asList } from '../../../src/infra/policy-sim/documents';
import { modelOf, StackModel } from '../../../src/infra/policy-sim/model';
import { PolicySimulator } from '../../../src/infra/policy-sim/simulate';
import { ACCOUNT_ID, REGION, testApiDomain } from './synth';

export const DEPLOYMENT = { accountId: ACCOUNT_ID, region: REGION, partition: 'aws' } as const;
export const CI_SETTINGS: SettingsSource = { CI_GITHUB_REPOSITORY: 'example-org/vitals-pipeline', CI_ENVIRONMENTS: 'dev,prod' };
/** Where suites write their assertion counts (scripts/policy-sim-summary.js reads them). */
export const COUNTS_DIR = join(__dirname, '..', '..', '..', '.tmp', 'policy-sim');

let cached: StackModel | undefined;

/** Bootstrap + registry-<env> + pipeline-<env> for dev and prod, as one model. */
export function accountModel(settings: SettingsSource = {}): StackModel {
  if (cached && Object.keys(settings).length === 0) return cached;
  const stacks: Record<string, TerraformJson> = {};
  const synth = (build: (app: App) => { toString(): string } & object, name: string): void => {
    const app = Testing.app();
    stacks[name] = JSON.parse(Testing.synth(build(app) as never)) as TerraformJson;
  };
  for (const env of ['dev', 'prod']) {
    const config = loadConfig({ ...CI_SETTINGS, ...(env === 'prod' ? testApiDomain(env) : {}), ...settings, ENVIRONMENT: env });
    if (env === 'dev') synth((app) => new BootstrapStack(app, config), 'state-bootstrap');
    synth((app) => new RegistryStack(app, config), `registry-${env}`);
    synth((app) => new PipelineStack(app, config), `pipeline-${env}`);
  }
  const model = modelOf(stacks, DEPLOYMENT);
  if (Object.keys(settings).length === 0) cached = model;
  return model;
}

/**
 * Excerpts of the AWS managed policies the stacks attach: the actions those service roles use for our
 * resources (AWS publishes the full documents; these are the calls a backup of Aurora, enhanced
 * monitoring and API Gateway logging make), so the boundary is proven not to cut them.
 */
export const AWS_MANAGED_POLICY_EXCERPTS: Readonly<Record<string, PolicyDocument>> = {
  'arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup': { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: ['rds:CreateDBClusterSnapshot', 'rds:DescribeDBClusters', 'rds:DescribeDBClusterSnapshots', 'rds:AddTagsToResource', 'rds:DeleteDBClusterSnapshot', 'rds:CopyDBClusterSnapshot', 'rds:ModifyDBClusterSnapshotAttribute', 'tag:GetResources', 'backup:DescribeBackupVault', 'backup:CopyIntoBackupVault', 'kms:DescribeKey'], Resource: '*' }] },
  'arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForRestores': { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: ['rds:RestoreDBClusterFromSnapshot', 'rds:CreateDBInstance', 'rds:DescribeDBClusters', 'rds:AddTagsToResource', 'kms:DescribeKey', 'kms:CreateGrant'], Resource: '*' }] },
  'arn:aws:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole': { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: ['logs:CreateLogGroup', 'logs:PutRetentionPolicy'], Resource: 'arn:aws:logs:*:*:log-group:RDS*' }, { Effect: 'Allow', Action: ['logs:CreateLogStream', 'logs:PutLogEvents', 'logs:DescribeLogStreams', 'logs:GetLogEvents'], Resource: 'arn:aws:logs:*:*:log-group:RDS*:log-stream:*' }] },
  'arn:aws:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs': { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: ['logs:CreateLogGroup', 'logs:CreateLogStream', 'logs:DescribeLogGroups', 'logs:DescribeLogStreams', 'logs:PutLogEvents', 'logs:GetLogEvents', 'logs:FilterLogEvents'], Resource: '*' }] },
};

export function simulator(settings: SettingsSource = {}): PolicySimulator {
  return new PolicySimulator(accountModel(settings), DEPLOYMENT, AWS_MANAGED_POLICY_EXCERPTS);
}

/** A request context that satisfies the statement's conditions (first value of each key). */
export function satisfying(s: PolicyStatement): Record<string, string | string[]> {
  const context: Record<string, string | string[]> = {};
  for (const [operator, entries] of Object.entries(s.Condition ?? {})) {
    for (const [key, values] of Object.entries(entries)) {
      const first = asList(values)[0].replace(/\*/g, 'x');
      if (/^Null$/.test(operator)) continue;
      context[key] = operator.startsWith('ForAllValues') || operator.startsWith('ForAnyValue') ? [first] : first;
    }
  }
  return context;
}
