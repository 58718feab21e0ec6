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
    expect(ofType(locked, 'aws_s3_bucket').find((b) => String(b.bucket).startsWith('vitals-audit-'))).toMatchObject({ object_lock_enabled: true });
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
    expect(ofType(audit(), 'aws_s3_bucket').map((b) => b.bucket).sort()).toEqual([`vitals-access-logs-dev-${ACCOUNT_ID}-${REGION}`, `vitals-audit-dev-${ACCOUNT_ID}-${REGION}`]);
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

describe('AuditTrail data events and access logs (issue 9 finding 8)', () => {
  const STREAM = `arn:aws:kinesis:${REGION}:${ACCOUNT_ID}:stream/vitals-events-dev`;
  const withData = () => audit({ streamArns: [STREAM], dataEventBucketNames: ['vitals-tfstate-eu-central-2'] });
  type Selector = { name: string; field_selector: Array<Record<string, unknown>> };
  const selectors = (json: ReturnType<typeof audit>): Selector[] => ofType(json, 'aws_cloudtrail')[0].advanced_event_selector as Selector[];

  it('records management events and the stream\'s data events (advanced event selectors)', () => {
    const [management, stream] = selectors(withData());
    expect(management).toEqual({ name: 'Management events', field_selector: [{ field: 'eventCategory', equals: ['Management'] }] });
    expect(stream.field_selector).toEqual([
      { field: 'eventCategory', equals: ['Data'] },
      { field: 'resources.type', equals: ['AWS::Kinesis::Stream'] },
      { field: 'resources.ARN', equals: [STREAM] },
    ]);
    expect(ofType(withData(), 'aws_cloudtrail')[0].event_selector).toBeUndefined();
  });

  it('records every object call on the state bucket, and on the audit and access-log buckets every call but the deliveries\' own writes', () => {
    const [, , state, audited] = selectors(withData());
    expect(state.field_selector).toContainEqual({ field: 'resources.ARN', starts_with: ['arn:aws:s3:::vitals-tfstate-eu-central-2/'] });
    expect(audited.field_selector).toContainEqual({ field: 'resources.type', equals: ['AWS::S3::Object'] });
    expect(JSON.stringify(audited.field_selector)).toMatch(/aws_s3_bucket\.Audit_Bucket[^.]*\.arn\}\/.*aws_s3_bucket\.Audit_AccessLogBucket[^.]*\.arn\}\//);
    // CloudTrail writing log files and S3 writing access logs: recording those would record each delivery again, without end.
    expect(audited.field_selector).toContainEqual({ field: 'eventName', not_equals: ['PutObject'] });
  });

  it('logs the audit bucket\'s S3 server access into an SSE-S3 access-log bucket with its own retention', () => {
    const json = audit({ accessLogRetentionDays: 400 });
    const logBucket = Object.entries(json.resource?.aws_s3_bucket ?? {}).find(([, b]) => String(b.bucket).startsWith('vitals-access-logs-'))![0];
    expect(ofType(json, 'aws_s3_bucket_logging')).toEqual([expect.objectContaining({ target_bucket: `\${aws_s3_bucket.${logBucket}.bucket}`, target_prefix: `vitals-audit-dev-${ACCOUNT_ID}-${REGION}/` })]);
    const lifecycles = ofType(json, 'aws_s3_bucket_lifecycle_configuration').filter((l) => l.bucket === `\${aws_s3_bucket.${logBucket}.id}`);
    expect((lifecycles[0].rule as Array<{ expiration: Array<{ days: number }> }>)[0].expiration).toEqual([{ days: 400 }]);
    const encryption = ofType(json, 'aws_s3_bucket_server_side_encryption_configuration').find((e) => e.bucket === `\${aws_s3_bucket.${logBucket}.id}`);
    expect(encryption?.rule).toEqual([{ apply_server_side_encryption_by_default: { sse_algorithm: 'AES256' } }]);
  });
});
