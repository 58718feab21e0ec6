import { Construct } from 'constructs';
import { LocalBackend, TerraformOutput } from 'cdktf';
import { AppConfig } from './config';
import { VitalsStack } from './base-stack';
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
    this.stateBackend = new StateBackend(this, 'StateBackend', { settings: config.state, accountId: this.accountId, partition: config.partition });

    new TerraformOutput(this, 'state_bucket_name', { value: this.stateBackend.bucket.name, description: 'S3 bucket holding Terraform state' });
    new TerraformOutput(this, 'state_lock_table_name', { value: this.stateBackend.lockTable.name, description: 'DynamoDB lock table' });
    new TerraformOutput(this, 'state_key_arn', { value: this.stateBackend.key.arn, description: 'KMS key encrypting state' });
    new TerraformOutput(this, 'state_key_alias', { value: this.stateBackend.key.alias.name, description: 'alias the S3 backends use' });
  }
}
