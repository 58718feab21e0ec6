import { Construct } from 'constructs';
import { Cloudtrail, CloudtrailAdvancedEventSelector } from '@cdktf/provider-aws/lib/cloudtrail';
import { CloudwatchLogGroup } from '@cdktf/provider-aws/lib/cloudwatch-log-group';
import { DataAwsIamPolicyDocument } from '@cdktf/provider-aws/lib/data-aws-iam-policy-document';
import { IamRole } from '@cdktf/provider-aws/lib/iam-role';
import { IamRolePolicy } from '@cdktf/provider-aws/lib/iam-role-policy';
import { AUDIT_RETENTION_DAYS_MIN } from './config';
import { SecureBucket, accessLogBucket } from './secure-bucket';

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
  /** Kinesis streams whose data events (GetRecords, PutRecords, ...) the trail records. @default none */
  readonly streamArns?: readonly string[];
  /** Further buckets (by name) whose object-level calls the trail records, e.g. the state bucket. @default none */
  readonly dataEventBucketNames?: readonly string[];
  /** Days the server access logs of the audit bucket are kept. @default retentionDays */
  readonly accessLogRetentionDays?: number;
}

/** The object writes of the delivery services themselves, left out of data events (see below). */
export const DELIVERY_WRITE_EVENTS = ['PutObject'] as const;

/**
 * CloudTrail: multi-region, global service events, log-file validation, KMS-encrypted, delivered to
 * a hardened S3 bucket and to CloudWatch Logs (so metric filters and alarms can watch it); data events
 * for the streams and the buckets holding audit and state data; S3 server access logs of the audit
 * bucket into an access-log bucket of its own.
 */
export class AuditTrail extends Construct {
  readonly trail: Cloudtrail;
  readonly bucket: SecureBucket;
  /** Receives the audit bucket's S3 server access logs. */
  readonly accessLogBucket: SecureBucket;
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

    const bucketName = `vitals-audit-${environment}-${accountId}-${region}`;
    this.bucket = new SecureBucket(this, 'Bucket', {
      // Globally unique: account and region in the name.
      bucketName,
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

    // Server access logs of the audit bucket (who read or listed the audit trail, at the S3 level).
    this.accessLogBucket = accessLogBucket(this, 'AccessLogBucket', {
      bucketName: AuditTrail.accessLogBucketName(environment, accountId, region),
      accountId,
      partition,
      sourceBucketNames: [bucketName],
      expirationDays: props.accessLogRetentionDays ?? retentionDays,
      forceDestroy: props.forceDestroy,
    });
    this.bucket.logAccessTo(this.accessLogBucket);

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
      advancedEventSelector: AuditTrail.eventSelectors({
        streamArns: props.streamArns ?? [],
        bucketArns: (props.dataEventBucketNames ?? []).map((n) => `arn:${partition}:s3:::${n}`),
        deliveryBucketArns: [this.bucket.arn, this.accessLogBucket.arn],
      }),
      dependsOn: [this.bucket.policy, rolePolicy],
    });
  }

  /** The audit bucket's access-log bucket: `vitals-access-logs-<env>-<account>-<region>`. */
  static accessLogBucketName(environment: string, accountId: string, region: string): string {
    return `vitals-access-logs-${environment}-${accountId}-${region}`;
  }

  /**
   * Management events, plus data events (issue 9 finding 8): every call on the streams' records and on
   * the given buckets' objects; on the trail's own bucket and the access-log bucket every call but the
   * delivery services' writes (CloudTrail writing log files, S3 writing access logs): recording those
   * would record each delivery in the next log file, whose delivery is recorded again, without end.
   * Reads, lists and deletes of audit objects are recorded.
   */
  static eventSelectors(p: { streamArns: readonly string[]; bucketArns: readonly string[]; deliveryBucketArns: readonly string[] }): CloudtrailAdvancedEventSelector[] {
    const selectors: CloudtrailAdvancedEventSelector[] = [
      { name: 'Management events', fieldSelector: [{ field: 'eventCategory', equalTo: ['Management'] }] },
    ];
    if (p.streamArns.length > 0) {
      selectors.push({
        name: 'Stream data events',
        fieldSelector: [
          { field: 'eventCategory', equalTo: ['Data'] },
          { field: 'resources.type', equalTo: ['AWS::Kinesis::Stream'] },
          { field: 'resources.ARN', equalTo: [...p.streamArns] },
        ],
      });
    }
    if (p.bucketArns.length > 0) {
      selectors.push({
        name: 'Bucket object data events',
        fieldSelector: [
          { field: 'eventCategory', equalTo: ['Data'] },
          { field: 'resources.type', equalTo: ['AWS::S3::Object'] },
          { field: 'resources.ARN', startsWith: p.bucketArns.map((a) => `${a}/`) },
        ],
      });
    }
    selectors.push({
      name: 'Audit and access-log object data events, except deliveries',
      fieldSelector: [
        { field: 'eventCategory', equalTo: ['Data'] },
        { field: 'resources.type', equalTo: ['AWS::S3::Object'] },
        { field: 'resources.ARN', startsWith: p.deliveryBucketArns.map((a) => `${a}/`) },
        { field: 'eventName', notEquals: [...DELIVERY_WRITE_EVENTS] },
      ],
    });
    return selectors;
  }

  /** The trail's name, known before the trail exists (the logs key policy names it). */
  static trailName(environment: string): string {
    return `vitals-trail-${environment}`;
  }
}
