import { Construct } from 'constructs';
import { S3Backend, TerraformStack } from 'cdktf';
import { DynamodbTable } from '@cdktf/provider-aws/lib/dynamodb-table';
import { StateBackendSettings } from './config';
import { ManagedKey } from './keys';
import { SecureBucket, accessLogBucket } from './secure-bucket';

export interface StateBackendProps {
  readonly settings: StateBackendSettings;
  readonly accountId: string;
  /** @default 'aws' */
  readonly partition?: string;
  /** Days superseded state versions are kept (the history to roll back to). @default 365 */
  readonly noncurrentVersionDays?: number;
  /** Days the state bucket's server access logs are kept. @default 2557 */
  readonly accessLogRetentionDays?: number;
}

/**
 * Remote state for every stack: a hardened, versioned S3 bucket encrypted with its own
 * customer-managed key, and a DynamoDB lock table (`LockID`), KMS-encrypted with point-in-time
 * recovery. State holds resource attributes, so both are protected from deletion. The bucket's server
 * access logs go to an access-log bucket of their own.
 */
export class StateBackend extends Construct {
  readonly key: ManagedKey;
  readonly bucket: SecureBucket;
  /** Receives the state bucket's S3 server access logs (SSE-S3). */
  readonly accessLogBucket: SecureBucket;
  readonly lockTable: DynamodbTable;

  constructor(scope: Construct, id: string, props: StateBackendProps) {
    super(scope, id);
    const { settings } = props;
    this.key = new ManagedKey(this, 'Key', {
      aliasName: settings.keyAlias.replace(/^alias\//, ''),
      description: 'Terraform state and lock table',
      accountId: props.accountId,
      partition: props.partition,
      // State objects (SSE-KMS) and the lock table are read and written through S3 and DynamoDB only.
      viaServices: ['s3', 'dynamodb'].map((svc) => `${svc}.${settings.region}.amazonaws.com`),
    });
    this.bucket = new SecureBucket(this, 'Bucket', {
      bucketName: settings.bucket,
      kmsKeyArn: this.key.arn,
      noncurrentVersionExpirationDays: props.noncurrentVersionDays ?? 365,
    });
    // Who read or wrote which state object, at the S3 level (state holds resource attributes,
    // the API key value among them).
    this.accessLogBucket = accessLogBucket(this, 'AccessLogBucket', {
      bucketName: settings.accessLogBucket,
      accountId: props.accountId,
      partition: props.partition,
      sourceBucketNames: [settings.bucket],
      expirationDays: props.accessLogRetentionDays ?? 2557,
    });
    this.bucket.logAccessTo(this.accessLogBucket);
    this.lockTable = new DynamodbTable(this, 'LockTable', {
      name: settings.lockTable,
      billingMode: 'PAY_PER_REQUEST',
      hashKey: 'LockID',
      attribute: [{ name: 'LockID', type: 'S' }],
      serverSideEncryption: { enabled: true, kmsKeyArn: this.key.arn },
      pointInTimeRecovery: { enabled: true },
      deletionProtectionEnabled: true,
    });
  }
}

/**
 * Points a stack at the remote state: S3 with encryption under the state key, DynamoDB locking and,
 * for Terraform >= 1.10, S3-native lock files as well (the DynamoDB lock is deprecated there; both
 * together keep older and newer Terraform versions safe).
 */
export function useRemoteState(stack: TerraformStack, settings: StateBackendSettings, key: string): S3Backend {
  const backend = new S3Backend(stack, {
    bucket: settings.bucket,
    key,
    region: settings.region,
    encrypt: true,
    kmsKeyId: settings.keyAlias,
    dynamodbTable: settings.lockTable,
  });
  stack.addOverride('terraform.backend.s3.use_lockfile', true);
  return backend;
}
