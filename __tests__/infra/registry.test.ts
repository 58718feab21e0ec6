import { EcrRepository } from '@cdktf/provider-aws/lib/ecr-repository';
import { Registry } from '../../src/infra/registry';
import { ACCOUNT_ID, REGION, ofType, synthConstruct } from './helpers/synth';

const registry = (production = false) => synthConstruct((scope) => new Registry(scope, 'Registry', { environment: 'dev', region: REGION, accountId: ACCOUNT_ID, production }));

describe('Registry', () => {
  it('has immutable tags, scans on push and encrypts with its own key', () => {
    const json = registry();
    expect(JSON.stringify(json)).toHaveResourceWithProperties(EcrRepository, {
      name: 'vitals-processor-dev',
      image_tag_mutability: 'IMMUTABLE',
      image_scanning_configuration: { scan_on_push: true },
    });
    expect(JSON.stringify(ofType(json, 'aws_ecr_repository')[0].encryption_configuration)).toMatch(/"encryption_type":"KMS","kms_key":"\$\{aws_kms_key\.Registry_Key/);
    expect(ofType(json, 'aws_kms_key')[0].enable_key_rotation).toBe(true);
  });

  it('deletes images with the repository only outside production', () => {
    expect(ofType(registry(false), 'aws_ecr_repository')[0].force_delete).toBe(true);
    expect(ofType(registry(true), 'aws_ecr_repository')[0].force_delete).toBe(false);
  });

  it('builds the repository ARN the pipeline stack uses without reading this stack', () => {
    expect(Registry.repositoryArn({ region: 'eu-central-2', accountId: ACCOUNT_ID, environment: 'dev' }))
      .toBe(`arn:aws:ecr:eu-central-2:${ACCOUNT_ID}:repository/vitals-processor-dev`);
  });
});
