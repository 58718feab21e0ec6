import { Construct } from 'constructs';
import { DataAwsIamPolicyDocument, DataAwsIamPolicyDocumentStatement } from '@cdktf/provider-aws/lib/data-aws-iam-policy-document';
import { S3Bucket } from '@cdktf/provider-aws/lib/s3-bucket';
import { S3BucketLifecycleConfiguration } from '@cdktf/provider-aws/lib/s3-bucket-lifecycle-configuration';
import { S3BucketLoggingA } from '@cdktf/provider-aws/lib/s3-bucket-logging';
import { S3BucketObjectLockConfigurationA } from '@cdktf/provider-aws/lib/s3-bucket-object-lock-configuration';
import { S3BucketOwnershipControls } from '@cdktf/provider-aws/lib/s3-bucket-ownership-controls';
import { S3BucketPolicy } from '@cdktf/provider-aws/lib/s3-bucket-policy';
import { S3BucketPublicAccessBlock } from '@cdktf/provider-aws/lib/s3-bucket-public-access-block';
import { S3BucketServerSideEncryptionConfigurationA } from '@cdktf/provider-aws/lib/s3-bucket-server-side-encryption-configuration';
import { S3BucketVersioningA } from '@cdktf/provider-aws/lib/s3-bucket-versioning';

export interface SecureBucketProps {
  readonly bucketName: string;
  /**
   * Default encryption: a customer-managed key (SSE-KMS, bucket keys on), or `'SSE-S3'` (AES256, keys
   * S3 manages) for the one kind of bucket that takes no KMS key here: S3 server access log targets.
   */
  readonly kmsKeyArn: string | 'SSE-S3';

  /** Days after which current objects expire. @default never */
  readonly expirationDays?: number;
  /** Days after which superseded versions expire. @default 90 */
  readonly noncurrentVersionExpirationDays?: number;
  /** Statements added to the bucket policy after the TLS-only denial (e.g. a service's write access), given the bucket ARN. */
  readonly policyStatements?: (bucketArn: string) => DataAwsIamPolicyDocumentStatement[];
  /** Let `terraform destroy` delete a non-empty bucket: non-production only. @default false */
  readonly forceDestroy?: boolean;
  /**
   * S3 Object Lock default retention for every new object version: COMPLIANCE (nobody, root included,
   * can delete or shorten it) or GOVERNANCE (only with s3:BypassGovernanceRetention). @default none
   */
  readonly objectLock?: { readonly mode: 'COMPLIANCE' | 'GOVERNANCE'; readonly days: number };
}

/**
 * An S3 bucket with the hardening every bucket here needs: versioning, SSE-KMS with our key (SSE-S3
 * for access-log buckets), all public access blocked, ACLs disabled, a policy denying any request
 * without TLS, lifecycle rules and, when given a target, server access logging.
 */
export class SecureBucket extends Construct {
  readonly bucket: S3Bucket;
  readonly policy: S3BucketPolicy;
  accessLogging?: S3BucketLoggingA;
  private readonly bucketName: string;

  constructor(scope: Construct, id: string, props: SecureBucketProps) {
    super(scope, id);
    if (props.objectLock && (!Number.isInteger(props.objectLock.days) || props.objectLock.days < 1)) {
      throw new Error(`SecureBucket ${props.bucketName}: objectLock.days must be an integer >= 1; received ${props.objectLock.days}`);
    }
    this.bucket = new S3Bucket(this, 'Resource', {
      bucket: props.bucketName,
      forceDestroy: props.forceDestroy ?? false,
      // Object Lock can only be enabled when the bucket is created.
      ...(props.objectLock ? { objectLockEnabled: true } : {}),
    });
    const bucket = this.bucket.id;
    if (props.objectLock) {
      new S3BucketObjectLockConfigurationA(this, 'ObjectLock', {
        bucket,
        rule: { defaultRetention: { mode: props.objectLock.mode, days: props.objectLock.days } },
      });
    }
    const publicAccess = new S3BucketPublicAccessBlock(this, 'PublicAccessBlock', {
      bucket, blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: true,
    });
    new S3BucketOwnershipControls(this, 'OwnershipControls', { bucket, rule: { objectOwnership: 'BucketOwnerEnforced' } });
    new S3BucketVersioningA(this, 'Versioning', { bucket, versioningConfiguration: { status: 'Enabled' } });
    new S3BucketServerSideEncryptionConfigurationA(this, 'Encryption', {
      bucket,
      rule: [props.kmsKeyArn === 'SSE-S3'
        ? { applyServerSideEncryptionByDefault: { sseAlgorithm: 'AES256' } }
        : { applyServerSideEncryptionByDefault: { sseAlgorithm: 'aws:kms', kmsMasterKeyId: props.kmsKeyArn }, bucketKeyEnabled: true }],
    });
    new S3BucketLifecycleConfiguration(this, 'Lifecycle', {
      bucket,
      rule: [{
        id: 'retention',
        status: 'Enabled',
        filter: [{ prefix: '' }],
        expiration: props.expirationDays === undefined ? undefined : [{ days: props.expirationDays }],
        noncurrentVersionExpiration: [{ noncurrentDays: props.noncurrentVersionExpirationDays ?? 90 }],
        abortIncompleteMultipartUpload: [{ daysAfterInitiation: 7 }],
      }],
    });
    const document = new DataAwsIamPolicyDocument(this, 'PolicyDocument', {
      statement: [
        {
          sid: 'DenyInsecureTransport',
          effect: 'Deny',
          principals: [{ type: '*', identifiers: ['*'] }],
          actions: ['s3:*'],
          resources: [this.bucket.arn, `${this.bucket.arn}/*`],
          condition: [{ test: 'Bool', variable: 'aws:SecureTransport', values: ['false'] }],
        },
        ...(props.policyStatements?.(this.bucket.arn) ?? []),
      ],
    });
    // After the public access block, or S3 may reject the policy while the block is being applied.
    this.policy = new S3BucketPolicy(this, 'Policy', { bucket, policy: document.json, dependsOn: [publicAccess] });
    this.bucketName = props.bucketName;
  }

  /** S3 server access logging of this bucket into `target` (an {@link accessLogBucket}), under `<this bucket's name>/`. */
  logAccessTo(target: SecureBucket): S3BucketLoggingA {
    // S3 checks that the target's policy admits log delivery when logging is switched on.
    this.accessLogging = new S3BucketLoggingA(this, 'AccessLogging', {
      bucket: this.bucket.id,
      targetBucket: target.name,
      targetPrefix: `${this.bucketName}/`,
      dependsOn: [target.policy],
    });
    return this.accessLogging;
  }

  get arn(): string {
    return this.bucket.arn;
  }

  get name(): string {
    return this.bucket.bucket;
  }
}

export interface AccessLogBucketProps {
  readonly bucketName: string;
  readonly accountId: string;
  /** Names of the buckets whose server access logs it receives (aws:SourceArn of the log delivery). */
  readonly sourceBucketNames: readonly string[];
  /** Days access-log files are kept. */
  readonly expirationDays: number;
  /** @default false */
  readonly forceDestroy?: boolean;
  /** @default 'aws' */
  readonly partition?: string;
}

/**
 * The target of S3 server access logs (issue 9 finding 8): versioned, public access blocked, TLS-only,
 * expiring after its own retention, writable only by S3's log delivery for the named source buckets of
 * this account. SSE-S3 (AES256): log delivery is documented for SSE-S3 targets and needs no grant on a
 * customer-managed key; the records are request metadata (requester, operation, object key), no object
 * content. It does not log its own access (its log records would be written into itself); CloudTrail
 * data events record the calls on its objects instead.
 */
export function accessLogBucket(scope: Construct, id: string, props: AccessLogBucketProps): SecureBucket {
  const partition = props.partition ?? 'aws';
  return new SecureBucket(scope, id, {
    bucketName: props.bucketName,
    kmsKeyArn: 'SSE-S3',
    expirationDays: props.expirationDays,
    forceDestroy: props.forceDestroy,
    policyStatements: (bucketArn) => [{
      sid: 'S3ServerAccessLogDelivery',
      principals: [{ type: 'Service', identifiers: ['logging.s3.amazonaws.com'] }],
      actions: ['s3:PutObject'],
      resources: [`${bucketArn}/*`],
      condition: [
        { test: 'StringEquals', variable: 'aws:SourceAccount', values: [props.accountId] },
        { test: 'ArnLike', variable: 'aws:SourceArn', values: props.sourceBucketNames.map((n) => `arn:${partition}:s3:::${n}`) },
      ],
    }],
  });
}
