import { Construct } from 'constructs';
import { TerraformOutput } from 'cdktf';
import { AppConfig } from './config';
import { VitalsStack } from './base-stack';
import { Registry } from './registry';
import { applyPermissionsBoundary, boundaryPolicyArn } from './permissions-boundary';
import { useRemoteState } from './state-backend';

export const registryStackId = (environment: string): string => `registry-${environment}`;

/**
 * The processor's ECR repository, in its own stack so the image can be built and pushed before the
 * pipeline (which runs it) is planned.
 */
export class RegistryStack extends VitalsStack {
  readonly registry: Registry;

  constructor(scope: Construct, config: AppConfig) {
    super(scope, registryStackId(config.environment), config);
    useRemoteState(this, config.state, `registry/${config.environment}/terraform.tfstate`);
    // Every role gets the environment's permissions boundary (created by the bootstrap stack).
    applyPermissionsBoundary(this, boundaryPolicyArn(config.partition, this.accountId, config.project, config.environment));
    this.registry = new Registry(this, 'Registry', {
      environment: config.environment,
      region: config.region,
      accountId: this.accountId,
      partition: config.partition,
      production: config.production,
    });
    new TerraformOutput(this, 'ecr_repository_url', { value: this.registry.repository.repositoryUrl, description: 'push the processor image here' });
    new TerraformOutput(this, 'ecr_repository_arn', { value: this.registry.repository.arn });
    new TerraformOutput(this, 'ecr_key_arn', { value: this.registry.key.arn });
  }
}
