import { Construct } from 'constructs';
import { DataAwsIamPolicyDocument, DataAwsIamPolicyDocumentStatement } from '@cdktf/provider-aws/lib/data-aws-iam-policy-document';
import { KmsAlias } from '@cdktf/provider-aws/lib/kms-alias';
import { KmsKey } from '@cdktf/provider-aws/lib/kms-key';

/**
 * Key administration, listed instead of `kms:*` so no policy in the stack grants a wildcard action.
 * Administration stays with the account (and through IAM with its administrators), so a key can
 * never become unmanageable.
 */
export const KEY_ADMIN_ACTIONS = [
  'kms:CancelKeyDeletion', 'kms:CreateAlias', 'kms:DeleteAlias', 'kms:DescribeKey', 'kms:DisableKey',
  'kms:DisableKeyRotation', 'kms:EnableKey', 'kms:EnableKeyRotation', 'kms:GetKeyPolicy',
  'kms:GetKeyRotationStatus', 'kms:ListAliases', 'kms:ListGrants', 'kms:ListKeyPolicies',
  'kms:ListResourceTags', 'kms:PutKeyPolicy', 'kms:RevokeGrant', 'kms:RotateKeyOnDemand',
  'kms:ScheduleKeyDeletion', 'kms:TagResource', 'kms:UntagResource', 'kms:UpdateAlias',
  'kms:UpdateKeyDescription',
] as const;

/** Cryptographic use of an encryption key, delegated to IAM policies of this account. */
export const ENCRYPTION_KEY_USE_ACTIONS = [
  'kms:CreateGrant', 'kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey',
  'kms:GenerateDataKeyWithoutPlaintext', 'kms:ReEncryptFrom', 'kms:ReEncryptTo',
] as const;

/** Cryptographic use of an HMAC key, delegated to IAM policies of this account. */
export const MAC_KEY_USE_ACTIONS = ['kms:GenerateMac', 'kms:VerifyMac'] as const;

/** What CloudWatch Logs needs on a key that encrypts log groups (AWS's documented key policy). */
export const LOGS_SERVICE_ACTIONS = [
  'kms:Decrypt', 'kms:DescribeKey', 'kms:Encrypt', 'kms:GenerateDataKey',
  'kms:GenerateDataKeyWithoutPlaintext', 'kms:ReEncryptFrom', 'kms:ReEncryptTo',
] as const;

export enum KeyUsage {
  ENCRYPT_DECRYPT = 'ENCRYPT_DECRYPT',
  GENERATE_VERIFY_MAC = 'GENERATE_VERIFY_MAC',
}

export const DELETION_WINDOW_DAYS_MIN = 7; // KMS bounds
export const DELETION_WINDOW_DAYS_MAX = 30;

export interface ManagedKeyProps {
  /** Alias without the `alias/` prefix, e.g. `vitals-data-dev`. */
  readonly aliasName: string;
  readonly description: string;
  /** Account that owns and administers the key (a Terraform variable token is fine). */
  readonly accountId: string;
  /** @default 'aws' */
  readonly partition?: string;
  /** @default KeyUsage.ENCRYPT_DECRYPT */
  readonly keyUsage?: KeyUsage;
  /** @default 'SYMMETRIC_DEFAULT' ('HMAC_256' for MAC keys) */
  readonly keySpec?: string;
  /** Days between scheduling deletion and deletion (7–30). @default 30 */
  readonly deletionWindowInDays?: number;
  /** Statements for AWS services that use the key directly (not through a caller's IAM policy). */
  readonly serviceStatements?: DataAwsIamPolicyDocumentStatement[];
}

/**
 * One customer-managed KMS key with its alias and a key policy that grants the account
 * administration and IAM-delegated use, plus whatever service statements the caller adds.
 * Automatic yearly rotation is on for symmetric encryption keys; AWS does not rotate HMAC keys.
 */
export class ManagedKey extends Construct {
  readonly key: KmsKey;
  readonly alias: KmsAlias;
  readonly policy: DataAwsIamPolicyDocument;

  constructor(scope: Construct, id: string, props: ManagedKeyProps) {
    super(scope, id);
    const usage = props.keyUsage ?? KeyUsage.ENCRYPT_DECRYPT;
    const window = props.deletionWindowInDays ?? DELETION_WINDOW_DAYS_MAX;
    if (!Number.isInteger(window) || window < DELETION_WINDOW_DAYS_MIN || window > DELETION_WINDOW_DAYS_MAX) {
      throw new Error(`ManagedKey ${props.aliasName}: deletionWindowInDays must be an integer from ${DELETION_WINDOW_DAYS_MIN} to ${DELETION_WINDOW_DAYS_MAX}; received ${window}`);
    }
    const root = `arn:${props.partition ?? 'aws'}:iam::${props.accountId}:root`;
    const account = [{ type: 'AWS', identifiers: [root] }];

    this.policy = new DataAwsIamPolicyDocument(this, 'Policy', {
      statement: [
        { sid: 'AccountAdministersKey', principals: account, actions: [...KEY_ADMIN_ACTIONS], resources: ['*'] },
        {
          sid: 'AccountUsesKeyThroughIam',
          principals: account,
          actions: usage === KeyUsage.GENERATE_VERIFY_MAC ? [...MAC_KEY_USE_ACTIONS] : [...ENCRYPTION_KEY_USE_ACTIONS],
          resources: ['*'],
        },
        ...(props.serviceStatements ?? []),
      ],
    });

    const symmetric = usage === KeyUsage.ENCRYPT_DECRYPT;
    this.key = new KmsKey(this, 'Key', {
      description: props.description,
      keyUsage: usage,
      customerMasterKeySpec: props.keySpec ?? (symmetric ? 'SYMMETRIC_DEFAULT' : 'HMAC_256'),
      enableKeyRotation: symmetric,
      deletionWindowInDays: window,
      policy: this.policy.json,
    });
    this.alias = new KmsAlias(this, 'Alias', { name: `alias/${props.aliasName}`, targetKeyId: this.key.keyId });
  }

  get arn(): string {
    return this.key.arn;
  }
}

export interface KeysProps {
  readonly environment: string;
  readonly region: string;
  readonly accountId: string;
  /** @default 'aws' */
  readonly partition?: string;
  /** Production keeps a 30-day deletion window; other environments 7 days so they tear down quickly. @default false */
  readonly production?: boolean;
  /** Name of the CloudTrail trail allowed to encrypt with the logs key. @default `vitals-trail-<environment>` */
  readonly trailName?: string;
  /** ECS cluster whose Fargate ephemeral storage the data key encrypts. @default `vitals-<environment>` */
  readonly ecsClusterName?: string;
}

/**
 * The pipeline's customer-managed keys:
 * - `data`: Kinesis, Aurora storage and Performance Insights, the master secret, AWS Backup, Fargate
 *   ephemeral storage (service access bound to the cluster by encryption context);
 * - `logs`: every CloudWatch log group, the CloudTrail trail (service access bound to encryption context)
 *   and the alarm topic (CloudWatch publishes to it);
 * - `phi`: envelope encryption of patient identifiers by the processor;
 * - `patientHmac`: HMAC_256 key for patient pseudonyms. AWS cannot rotate HMAC keys automatically,
 *   and rotating would break joins on existing pseudonyms, so it is deliberately not rotated.
 */
export class Keys extends Construct {
  readonly data: ManagedKey;
  readonly logs: ManagedKey;
  readonly phi: ManagedKey;
  readonly patientHmac: ManagedKey;

  constructor(scope: Construct, id: string, props: KeysProps) {
    super(scope, id);
    const partition = props.partition ?? 'aws';
    const { environment, region, accountId } = props;
    const trailName = props.trailName ?? `vitals-trail-${environment}`;
    const trailArn = `arn:${partition}:cloudtrail:${region}:${accountId}:trail/${trailName}`;
    const common = {
      accountId,
      partition,
      deletionWindowInDays: props.production ? DELETION_WINDOW_DAYS_MAX : DELETION_WINDOW_DAYS_MIN,
    };
    const name = (key: string): string => `vitals-${key}-${environment}`;

    // Fargate ephemeral storage: AWS's documented statements, bound to this cluster by the
    // encryption context Fargate sends; the grant it creates may only decrypt.
    const ecsClusterContext = [
      { test: 'StringEquals', variable: 'kms:EncryptionContext:aws:ecs:clusterAccount', values: [accountId] },
      { test: 'StringEquals', variable: 'kms:EncryptionContext:aws:ecs:clusterName', values: [props.ecsClusterName ?? `vitals-${environment}`] },
    ];
    const fargate = [{ type: 'Service', identifiers: ['fargate.amazonaws.com'] }];
    this.data = new ManagedKey(this, 'Data', {
      ...common,
      aliasName: name('data'),
      description: `vitals ${environment}: Kinesis, Aurora, Secrets Manager, Backup and Fargate ephemeral storage`,
      serviceStatements: [
        {
          sid: 'FargateEncryptsEphemeralStorage',
          principals: fargate,
          actions: ['kms:GenerateDataKeyWithoutPlaintext'],
          resources: ['*'],
          condition: ecsClusterContext,
        },
        {
          sid: 'FargateGrantsDecryptForEphemeralStorage',
          principals: fargate,
          actions: ['kms:CreateGrant'],
          resources: ['*'],
          condition: [...ecsClusterContext, { test: 'ForAllValues:StringEquals', variable: 'kms:GrantOperations', values: ['Decrypt'] }],
        },
      ],
    });

    this.logs = new ManagedKey(this, 'Logs', {
      ...common,
      aliasName: name('logs'),
      description: `vitals ${environment}: CloudWatch Logs, CloudTrail and the alarm topic`,
      serviceStatements: [
        {
          sid: 'CloudWatchLogsEncryptsThisAccountsLogGroups',
          principals: [{ type: 'Service', identifiers: [`logs.${region}.amazonaws.com`] }],
          actions: [...LOGS_SERVICE_ACTIONS],
          resources: ['*'],
          condition: [{
            test: 'ArnLike',
            variable: 'kms:EncryptionContext:aws:logs:arn',
            values: [`arn:${partition}:logs:${region}:${accountId}:log-group:*`],
          }],
        },
        {
          sid: 'CloudTrailEncryptsTrailLogs',
          principals: [{ type: 'Service', identifiers: ['cloudtrail.amazonaws.com'] }],
          actions: ['kms:GenerateDataKey'],
          resources: ['*'],
          condition: [
            { test: 'StringLike', variable: 'kms:EncryptionContext:aws:cloudtrail:arn', values: [`arn:${partition}:cloudtrail:*:${accountId}:trail/*`] },
            { test: 'StringEquals', variable: 'aws:SourceArn', values: [trailArn] },
          ],
        },
        {
          // Alarm topics are encrypted with this key; CloudWatch must encrypt what it publishes.
          // AWS's documented statement for alarms on SSE-KMS topics (no condition keys are documented for it).
          sid: 'CloudWatchAlarmsPublishToEncryptedTopics',
          principals: [{ type: 'Service', identifiers: ['cloudwatch.amazonaws.com'] }],
          actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
          resources: ['*'],
        },
        {
          sid: 'CloudTrailDescribesKey',
          principals: [{ type: 'Service', identifiers: ['cloudtrail.amazonaws.com'] }],
          actions: ['kms:DescribeKey'],
          resources: ['*'],
          condition: [{ test: 'StringEquals', variable: 'aws:SourceArn', values: [trailArn] }],
        },
      ],
    });

    this.phi = new ManagedKey(this, 'Phi', {
      ...common,
      aliasName: name('phi'),
      description: `vitals ${environment}: envelope encryption of patient identifiers`,
    });

    this.patientHmac = new ManagedKey(this, 'PatientHmac', {
      ...common,
      aliasName: name('patient-hmac'),
      description: `vitals ${environment}: HMAC_256 for patient pseudonyms (not rotated: pseudonyms must stay stable)`,
      keyUsage: KeyUsage.GENERATE_VERIFY_MAC,
      keySpec: 'HMAC_256',
    });
  }
}
