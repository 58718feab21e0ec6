import { Construct } from 'constructs';
import { Cloudtrail } from '@cdktf/provider-aws/lib/cloudtrail';
import { CloudwatchLogGroup } from '@cdktf/provider-aws/lib/cloudwatch-log-group';
import { DataAwsIamPolicyDocument } from '@cdktf/provider-aws/lib/data-aws-iam-policy-document';
import { IamRole } from '@cdktf/provider-aws/lib/iam-role';
import { IamRolePolicy } from '@cdktf/provider-aws/lib/iam-role-policy';
import { AUDIT_RETENTION_DAYS_MIN } from './config';
import { SecureBucket } from './secure-bucket';

/** CloudTrail's delivery to CloudWatch Logs: streams in its own log group only. */
export const TRAIL_LOG_DELIVERY_ACTIONS = ['logs:CreateLogStream', 'logs:PutLogEvents'] as const;

export interface AuditTrailProps {
  readonly environment: string;
  readonly region: string;
  readonly accountId: string;
  /** Key for the trail's log files, the bucket's default encryption and the trail's log group. */
  readonly logsKeyArn: string;
  /** Days log files are kept in S3 before they expire (at least 365). @default 2557 (7 years) */
  readonly retentionDays?: number;
  /** @default 365 */
  readonly logRetentionDays?: number;
  /** Non-production: the bucket may be destroyed with its contents. @default false */
  readonly forceDestroy?: boolean;
  /**
   * Object Lock on the log files and digest files (AUDIT_OBJECT_LOCK_MODE/DAYS): COMPLIANCE in
   * production, so no principal (CI, root) can delete or overwrite the audit trail before it expires.
   * @default none
   */
  readonly objectLock?: { readonly mode: 'COMPLIANCE' | 'GOVERNANCE'; readonly days: number };
  /** @default 'aws' */
  readonly partition?: string;
}

/**
 * CloudTrail: multi-region, global service events, log-file validation, KMS-encrypted, delivered to
 * a hardened S3 bucket and to CloudWatch Logs (so metric filters and alarms can watch it).
 */
export class AuditTrail extends Construct {
  readonly trail: Cloudtrail;
  readonly bucket: SecureBucket;
  readonly logGroup: CloudwatchLogGroup;
  readonly trailName: string;

  constructor(scope: Construct, id: string, props: AuditTrailProps) {
    super(scope, id);
    const { environment, region, accountId } = props;
    const partition = props.partition ?? 'aws';
    const retentionDays = props.retentionDays ?? 2557;
    if (!Number.isInteger(retentionDays) || retentionDays < AUDIT_RETENTION_DAYS_MIN) {
      throw new Error(`AuditTrail: retentionDays must be an integer of at least ${AUDIT_RETENTION_DAYS_MIN}; received ${retentionDays}`);
    }
    this.trailName = AuditTrail.trailName(environment);
    const trailArn = `arn:${partition}:cloudtrail:${region}:${accountId}:trail/${this.trailName}`;
    const cloudtrail = [{ type: 'Service', identifiers: ['cloudtrail.amazonaws.com'] }];
    const fromThisTrail = { test: 'StringEquals', variable: 'aws:SourceArn', values: [trailArn] };

    this.bucket = new SecureBucket(this, 'Bucket', {
      // Globally unique: account and region in the name.
      bucketName: `vitals-audit-${environment}-${accountId}-${region}`,
      kmsKeyArn: props.logsKeyArn,
      expirationDays: retentionDays,
      forceDestroy: props.forceDestroy,
      ...(props.objectLock ? { objectLock: props.objectLock } : {}),
      policyStatements: (bucketArn) => [
        { sid: 'CloudTrailChecksAcl', principals: cloudtrail, actions: ['s3:GetBucketAcl'], resources: [bucketArn], condition: [fromThisTrail] },
        {
          sid: 'CloudTrailWritesLogs',
          principals: cloudtrail,
          actions: ['s3:PutObject'],
          resources: [`${bucketArn}/AWSLogs/${accountId}/*`],
          condition: [fromThisTrail, { test: 'StringEquals', variable: 's3:x-amz-acl', values: ['bucket-owner-full-control'] }],
        },
      ],
    });

    this.logGroup = new CloudwatchLogGroup(this, 'LogGroup', {
      name: `/vitals/${environment}/cloudtrail`,
      kmsKeyId: props.logsKeyArn,
      retentionInDays: props.logRetentionDays ?? 365,
    });
    const assume = new DataAwsIamPolicyDocument(this, 'RoleAssume', {
      statement: [{ actions: ['sts:AssumeRole'], principals: cloudtrail, condition: [fromThisTrail] }],
    });
    const role = new IamRole(this, 'LogsRole', { name: `vitals-cloudtrail-logs-${environment}`, assumeRolePolicy: assume.json });
    const deliver = new DataAwsIamPolicyDocument(this, 'RoleDeliver', {
      statement: [{ actions: [...TRAIL_LOG_DELIVERY_ACTIONS], resources: [`${this.logGroup.arn}:log-stream:*`] }],
    });
    const rolePolicy = new IamRolePolicy(this, 'LogsRolePolicy', { name: 'deliver-trail-logs', role: role.id, policy: deliver.json });

    this.trail = new Cloudtrail(this, 'Trail', {
      name: this.trailName,
      s3BucketName: this.bucket.name,
      kmsKeyId: props.logsKeyArn,
      isMultiRegionTrail: true,
      includeGlobalServiceEvents: true,
      enableLogFileValidation: true,
      enableLogging: true,
      cloudWatchLogsGroupArn: `${this.logGroup.arn}:*`,
      cloudWatchLogsRoleArn: role.arn,
      eventSelector: [{ readWriteType: 'All', includeManagementEvents: true }],
      dependsOn: [this.bucket.policy, rolePolicy],
    });
  }

  /** The trail's name, known before the trail exists (the logs key policy names it). */
  static trailName(environment: string): string {
    return `vitals-trail-${environment}`;
  }
}
