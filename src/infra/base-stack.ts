import { Construct } from 'constructs';
import { TerraformStack, TerraformVariable } from 'cdktf';
import { AwsProvider } from '@cdktf/provider-aws/lib/provider';
import { AppConfig } from './config';

export const ACCOUNT_ID_VARIABLE = 'account_id';

/**
 * What every stack here shares: the AWS provider for the configured region with default tags set
 * once, and the target account as a Terraform variable (`TF_VAR_account_id`). The account id is not
 * discoverable offline (aws_caller_identity would call AWS during plan), and the provider's
 * `allowed_account_ids` turns it into a guard: Terraform refuses to touch any other account.
 */
export class VitalsStack extends TerraformStack {
  readonly config: AppConfig;
  readonly accountIdVariable: TerraformVariable;
  readonly provider: AwsProvider;

  constructor(scope: Construct, id: string, config: AppConfig) {
    super(scope, id);
    this.config = config;
    this.accountIdVariable = new TerraformVariable(this, ACCOUNT_ID_VARIABLE, {
      type: 'string',
      description: 'AWS account to deploy into (12 digits). Set TF_VAR_account_id; Terraform refuses any other account.',
      nullable: false,
      validation: [{
        condition: `\${can(regex("^[0-9]{12}$", var.${ACCOUNT_ID_VARIABLE}))}`,
        errorMessage: 'account_id must be the 12-digit AWS account id (export TF_VAR_account_id=123456789012).',
      }],
    });
    this.provider = new AwsProvider(this, 'aws', {
      region: config.region,
      allowedAccountIds: [this.accountId],
      defaultTags: [{
        tags: {
          Project: config.project,
          Environment: config.environment,
          ManagedBy: 'cdktf',
          DataClassification: 'PHI',
        },
      }],
    });
  }

  /** The account id (a Terraform variable reference). */
  get accountId(): string {
    return this.accountIdVariable.stringValue;
  }
}
