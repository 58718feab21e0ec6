import { Construct } from 'constructs';
import { LocalBackend, TerraformOutput } from 'cdktf';
import { AppConfig } from './config';
import { PermissionsBoundary } from './permissions-boundary';
import { VitalsStack } from './base-stack';
import { CiDeployRole } from './ci-deploy-role';
import { StateBackend } from './state-backend';

export const BOOTSTRAP_STACK_ID = 'state-bootstrap';

/**
 * Creates the remote state every other stack uses. Its own state is local (there is nowhere else
 * to keep it before it exists): `terraform.state-bootstrap.tfstate` in the project directory,
 * outside cdktf.out so a new synth never loses it (the path is relative to the stack directory
 * cdktf runs terraform in, cdktf.out/stacks/state-bootstrap).
 */
export class BootstrapStack extends VitalsStack {
  readonly stateBackend: StateBackend;

  constructor(scope: Construct, config: AppConfig) {
    super(scope, BOOTSTRAP_STACK_ID, config);
    new LocalBackend(this, { path: `../../../terraform.${BOOTSTRAP_STACK_ID}.tfstate` });
    this.stateBackend = new StateBackend(this, 'StateBackend', { settings: config.state, accountId: this.accountId, partition: config.partition, accessLogRetentionDays: config.accessLogRetentionDays });

    new TerraformOutput(this, 'state_bucket_name', { value: this.stateBackend.bucket.name, description: 'S3 bucket holding Terraform state' });
    new TerraformOutput(this, 'state_lock_table_name', { value: this.stateBackend.lockTable.name, description: 'DynamoDB lock table' });
    new TerraformOutput(this, 'state_key_arn', { value: this.stateBackend.key.arn, description: 'KMS key encrypting state' });
    new TerraformOutput(this, 'state_key_alias', { value: this.stateBackend.key.alias.name, description: 'alias the S3 backends use' });

    // The permissions boundary of every workload role, one per environment (this stack's environment
    // and every CI environment): here, where no deploy role can change it; the registry and pipeline
    // stacks attach it to each role they create (src/infra/permissions-boundary.ts).
    const stateAccess = { bucketName: config.state.bucket, accessLogBucketName: config.state.accessLogBucket, lockTableArn: this.stateBackend.lockTable.arn, keyArn: this.stateBackend.key.arn };
    const boundaryEnvironments = [...new Set([config.environment, ...config.ci.environments])];
    for (const environment of boundaryEnvironments) {
      const boundary = new PermissionsBoundary(this, `Boundary-${environment}`, {
        partition: config.partition, accountId: this.accountId, region: config.region, environment, state: stateAccess,
      });
      new TerraformOutput(this, `permissions_boundary_arn_${environment}`, { value: boundary.policy.arn, description: `permissions boundary of every ${environment} workload role` });
    }

    // GitHub Actions access (docs/runbook.md, "CI access"). Only with CI_GITHUB_REPOSITORY set: without
    // a repository there is nobody to trust, so no OIDC provider and no role is created (and a
    // bootstrap applied before CI was wanted stays as it was).
    if (config.ci.repository !== undefined) {
      const ci = new CiDeployRole(this, 'Ci', {
        repository: config.ci.repository,
        environments: config.ci.environments,
        accountId: this.accountId,
        region: config.region,
        partition: config.partition,
        state: stateAccess,
        productionEnvironments: config.ci.environments.filter((e) => !config.nonProductionEnvironments.includes(e)),
        ...(config.ci.oidcProviderArn !== undefined ? { existingOidcProviderArn: config.ci.oidcProviderArn } : {}),
      });
      new TerraformOutput(this, 'ci_diff_role_arn', { value: ci.diffRole.arn, description: 'GitHub repository variable AWS_DIFF_ROLE_ARN' });
      for (const [env, role] of Object.entries(ci.deployRoles)) {
        new TerraformOutput(this, `ci_deploy_role_arn_${env}`, { value: role.arn, description: `GitHub environment "${env}" variable AWS_DEPLOY_ROLE_ARN` });
      }
    }
  }
}
