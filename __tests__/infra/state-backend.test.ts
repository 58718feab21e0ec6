import { DynamodbTable } from '@cdktf/provider-aws/lib/dynamodb-table';
import { KmsKey } from '@cdktf/provider-aws/lib/kms-key';
import { S3BucketServerSideEncryptionConfigurationA } from '@cdktf/provider-aws/lib/s3-bucket-server-side-encryption-configuration';
import { S3BucketVersioningA } from '@cdktf/provider-aws/lib/s3-bucket-versioning';
import { StateBackend } from '../../src/infra/state-backend';
import { ACCOUNT_ID, ofType, synthConstruct, testConfig } from './helpers/synth';

const state = () => synthConstruct((scope) => new StateBackend(scope, 'State', { settings: testConfig().state, accountId: ACCOUNT_ID }));

describe('StateBackend', () => {
  it('keeps state in a versioned bucket named from the settings', () => {
    const json = state();
    expect(ofType(json, 'aws_s3_bucket')).toContainEqual(expect.objectContaining({ bucket: 'vitals-tfstate-eu-central-2', force_destroy: false }));
    expect(JSON.stringify(json)).toHaveResourceWithProperties(S3BucketVersioningA, { versioning_configuration: { status: 'Enabled' } });
  });

  it('encrypts state with its own rotated customer-managed key', () => {
    const json = state();
    expect(JSON.stringify(json)).toHaveResourceWithProperties(KmsKey, { enable_key_rotation: true });
    expect(ofType(json, 'aws_kms_alias')[0].name).toBe('alias/vitals-tfstate');
    expect(JSON.stringify(json)).toHaveResourceWithProperties(S3BucketServerSideEncryptionConfigurationA, {
      rule: [expect.objectContaining({ apply_server_side_encryption_by_default: { sse_algorithm: 'aws:kms', kms_master_key_id: expect.stringMatching(/^\$\{aws_kms_key\.State_Key_\w+\.arn\}$/) } })],
    });
  });

  it('denies non-TLS access to the state bucket', () => {
    const statements = ofType(state(), 'aws_iam_policy_document', 'data').flatMap((d) => d.statement as { sid?: string; effect?: string }[]);
    expect(statements).toContainEqual(expect.objectContaining({ sid: 'DenyInsecureTransport', effect: 'Deny' }));
  });

  it('locks with a LockID table encrypted with the state key, with point-in-time recovery', () => {
    const json = state();
    expect(JSON.stringify(json)).toHaveResourceWithProperties(DynamodbTable, {
      name: 'vitals-tfstate-lock',
      hash_key: 'LockID',
      attribute: [{ name: 'LockID', type: 'S' }],
      point_in_time_recovery: { enabled: true },
      deletion_protection_enabled: true,
    });
    expect(JSON.stringify(ofType(json, 'aws_dynamodb_table')[0].server_side_encryption)).toMatch(/"enabled":true,"kms_key_arn":"\$\{aws_kms_key\.State_Key/);
  });
});
