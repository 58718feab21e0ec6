import { Cloudtrail } from '@cdktf/provider-aws/lib/cloudtrail';
import { S3BucketLifecycleConfiguration } from '@cdktf/provider-aws/lib/s3-bucket-lifecycle-configuration';
import { S3BucketPublicAccessBlock } from '@cdktf/provider-aws/lib/s3-bucket-public-access-block';
import { S3BucketServerSideEncryptionConfigurationA } from '@cdktf/provider-aws/lib/s3-bucket-server-side-encryption-configuration';
import { S3BucketVersioningA } from '@cdktf/provider-aws/lib/s3-bucket-versioning';
import { AuditTrail, AuditTrailProps } from '../../src/infra/audit-trail';
import { ACCOUNT_ID, KEY_ARN, REGION, allowedActions, ofType, synthConstruct } from './helpers/synth';

const audit = (props: Partial<AuditTrailProps> = {}) => synthConstruct((scope) => new AuditTrail(scope, 'Audit', {
  environment: 'dev', region: REGION, accountId: ACCOUNT_ID, logsKeyArn: KEY_ARN('logs'), ...props,
}));
type Statement = { sid?: string; effect?: string; actions: string[]; condition?: { test: string; variable: string; values: string[] }[] };
const bucketPolicy = (json: ReturnType<typeof audit>): Statement[] =>
  ofType(json, 'aws_iam_policy_document', 'data').flatMap((d) => d.statement as Statement[]).filter((s) => s.actions.some((a) => a.startsWith('s3:')));

describe('AuditTrail', () => {
  it('puts the log and digest files under Object Lock when asked (COMPLIANCE in production), on a bucket created for it', () => {
    const locked = audit({ objectLock: { mode: 'COMPLIANCE', days: 365 } });
    expect(ofType(locked, 'aws_s3_bucket')[0]).toMatchObject({ object_lock_enabled: true });
    expect(ofType(locked, 'aws_s3_bucket_object_lock_configuration')).toEqual([
      expect.objectContaining({ rule: { default_retention: { mode: 'COMPLIANCE', days: 365 } } }),
    ]);
    expect(ofType(audit(), 'aws_s3_bucket_object_lock_configuration')).toEqual([]);
    expect(ofType(audit(), 'aws_s3_bucket')[0].object_lock_enabled).toBeUndefined();
    expect(() => audit({ objectLock: { mode: 'GOVERNANCE', days: 0 } })).toThrow(/objectLock.days must be an integer >= 1; received 0/);
  });

  it('is multi-region, validates log files and encrypts them with the logs key', () => {
    expect(JSON.stringify(audit())).toHaveResourceWithProperties(Cloudtrail, {
      name: 'vitals-trail-dev',
      is_multi_region_trail: true,
      include_global_service_events: true,
      enable_log_file_validation: true,
      kms_key_id: KEY_ARN('logs'),
    });
  });

  it('delivers to an encrypted CloudWatch log group as well as S3', () => {
    const json = audit();
    expect(ofType(json, 'aws_cloudtrail')[0].cloud_watch_logs_group_arn).toMatch(/aws_cloudwatch_log_group\.Audit_LogGroup.*\.arn\}:\*/);
    expect(ofType(json, 'aws_cloudwatch_log_group')).toEqual([expect.objectContaining({ name: '/vitals/dev/cloudtrail', kms_key_id: KEY_ARN('logs') })]);
  });

  it('keeps log files in a versioned, KMS-encrypted bucket with public access blocked', () => {
    const json = JSON.stringify(audit());
    expect(json).toHaveResourceWithProperties(S3BucketVersioningA, { versioning_configuration: { status: 'Enabled' } });
    expect(json).toHaveResourceWithProperties(S3BucketServerSideEncryptionConfigurationA, {
      rule: [{ apply_server_side_encryption_by_default: { sse_algorithm: 'aws:kms', kms_master_key_id: KEY_ARN('logs') }, bucket_key_enabled: true }],
    });
    expect(json).toHaveResourceWithProperties(S3BucketPublicAccessBlock, {
      block_public_acls: true, block_public_policy: true, ignore_public_acls: true, restrict_public_buckets: true,
    });
  });

  it('names the bucket with environment, account and region', () => {
    expect(ofType(audit(), 'aws_s3_bucket')[0].bucket).toBe(`vitals-audit-dev-${ACCOUNT_ID}-${REGION}`);
  });

  it('denies every request without TLS', () => {
    expect(bucketPolicy(audit())).toContainEqual(expect.objectContaining({
      effect: 'Deny', actions: ['s3:*'], condition: [{ test: 'Bool', variable: 'aws:SecureTransport', values: ['false'] }],
    }));
  });

  it('lets only this trail write, with bucket-owner-full-control', () => {
    const write = bucketPolicy(audit()).find((s) => s.sid === 'CloudTrailWritesLogs');
    expect(write?.condition).toEqual(expect.arrayContaining([
      { test: 'StringEquals', variable: 'aws:SourceArn', values: [`arn:aws:cloudtrail:${REGION}:${ACCOUNT_ID}:trail/vitals-trail-dev`] },
      { test: 'StringEquals', variable: 's3:x-amz-acl', values: ['bucket-owner-full-control'] },
    ]));
  });

  it('expires log files after the configured retention', () => {
    expect(JSON.stringify(audit({ retentionDays: 2192 }))).toHaveResourceWithProperties(S3BucketLifecycleConfiguration, {
      rule: [expect.objectContaining({ expiration: [{ days: 2192 }] })],
    });
  });

  it('force-destroys the bucket only when asked (non-production)', () => {
    expect(ofType(audit(), 'aws_s3_bucket')[0].force_destroy).toBe(false);
    expect(ofType(audit({ forceDestroy: true }), 'aws_s3_bucket')[0].force_destroy).toBe(true);
  });

  it('grants the delivery role only stream creation and writes', () => {
    expect(allowedActions(audit()).filter((a) => a.startsWith('logs:')).sort()).toEqual(['logs:CreateLogStream', 'logs:PutLogEvents']);
  });

  it('rejects a retention under a year', () => {
    expect(() => audit({ retentionDays: 30 })).toThrow(/retentionDays must be an integer of at least 365; received 30/);
  });
});
