import { Construct } from 'constructs';
import { DataAwsIamPolicyDocument, DataAwsIamPolicyDocumentStatement } from '@cdktf/provider-aws/lib/data-aws-iam-policy-document';
import { KmsAlias } from '@cdktf/provider-aws/lib/kms-alias';
import { KmsKey } from '@cdktf/provider-aws/lib/kms-key';

/**
 * Key administration, listed instead of `kms:*` so no policy in the stack grants a wildcard action.
 * Granted to the key administrators only (KEY_ADMIN_ARNS; by default the account, so a key can never
 * become unmanageable); administration includes no cryptographic use.
 */
export const KEY_ADMIN_ACTIONS = [
  'kms:CancelKeyDeletion', 'kms:CreateAlias', 'kms:DeleteAlias', 'kms:DescribeKey', 'kms:DisableKey',
  'kms:DisableKeyRotation', 'kms:EnableKey', 'kms:EnableKeyRotation', 'kms:GetKeyPolicy',
  'kms:GetKeyRotationStatus', 'kms:ListAliases', 'kms:ListGrants', 'kms:ListKeyPolicies',
  'kms:ListResourceTags', 'kms:PutKeyPolicy', 'kms:RevokeGrant', 'kms:RotateKeyOnDemand',
  'kms:ScheduleKeyDeletion', 'kms:TagResource', 'kms:UntagResource', 'kms:UpdateAlias',
  'kms:UpdateKeyDescription',
] as const;

/**
 * Use of an encryption key by AWS services on behalf of this account's principals (Kinesis, RDS,
 * Secrets Manager, S3, SNS): allowed only through those services (`kms:ViaService`), never directly.
 */
export const SERVICE_KEY_USE_ACTIONS = [
  'kms:Decrypt', 'kms:DescribeKey', 'kms:Encrypt', 'kms:GenerateDataKey',
  'kms:GenerateDataKeyWithoutPlaintext', 'kms:ReEncryptFrom', 'kms:ReEncryptTo',
] as const;

/** Grants only for AWS resources (`kms:GrantIsForAWSResource`), e.g. the grant RDS creates for a cluster. */
export const SERVICE_GRANT_ACTIONS = ['kms:CreateGrant'] as const;

/** Direct envelope-encryption use by the named roles, bound to the key's purpose (encryption context). */
export const ENVELOPE_KEY_USE_ACTIONS = ['kms:Decrypt', 'kms:GenerateDataKey'] as const;

/** Direct use of an HMAC key by the named roles (pseudonyms are computed, never verified). */
export const MAC_KEY_USE_ACTIONS = ['kms:GenerateMac'] as const;

/** What CloudWatch Logs needs on a key that encrypts log groups (AWS's documented key policy). */
export const LOGS_SERVICE_ACTIONS = [
  'kms:Decrypt', 'kms:DescribeKey', 'kms:Encrypt', 'kms:GenerateDataKey',
  'kms:GenerateDataKeyWithoutPlaintext', 'kms:ReEncryptFrom', 'kms:ReEncryptTo',
] as const;

/** Encryption-context `purpose` of each envelope key (src/adapters/phi.ts ENCRYPTION_CONTEXT_PURPOSE). */
export const KEY_PURPOSES = { patientId: 'vitals-pipeline-phi', deadLetter: 'vitals-pipeline-dead-letter' } as const;

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
  /**
   * Key administrators (IAM principal ARNs that must exist). They administer the key, never use it.
   * @default the account (`arn:<partition>:iam::<account>:root`)
   */
  readonly adminArns?: readonly string[];
  /**
   * Services (`kinesis.<region>.amazonaws.com`, ...) through which this account's principals may use
   * the key (`kms:ViaService`); their own IAM policies must allow it too. @default none
   */
  readonly viaServices?: readonly string[];
  /**
   * Roles (ARNs, built from their names: they may not exist yet) that use the key directly, matched by
   * `aws:PrincipalArn`. @default none
   */
  readonly directUserArns?: readonly string[];
  /** Direct use only with this `purpose` encryption context (encryption keys). */
  readonly purpose?: string;
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
    const admins = props.adminArns && props.adminArns.length > 0 ? [...props.adminArns] : [root];
    const statements: DataAwsIamPolicyDocumentStatement[] = [
      { sid: 'KeyAdministrators', principals: [{ type: 'AWS', identifiers: admins }], actions: [...KEY_ADMIN_ACTIONS], resources: ['*'] },
    ];
    const via = props.viaServices ?? [];
    if (via.length > 0) {
      const viaService = { test: 'StringEquals', variable: 'kms:ViaService', values: [...via] };
      statements.push(
        { sid: 'AccountUsesKeyThroughServices', principals: account, actions: [...SERVICE_KEY_USE_ACTIONS], resources: ['*'], condition: [viaService] },
        {
          sid: 'ServicesGrantForTheirResources',
          principals: account,
          actions: [...SERVICE_GRANT_ACTIONS],
          resources: ['*'],
          // The account principal already limits these to this account's identities.
          condition: [viaService, { test: 'Bool', variable: 'kms:GrantIsForAWSResource', values: ['true'] }],
        },
      );
    }
    const users = props.directUserArns ?? [];
    if (users.length > 0) {
      const mac = usage === KeyUsage.GENERATE_VERIFY_MAC;
      statements.push({
        sid: 'NamedRolesUseKey',
        principals: account,
        actions: mac ? [...MAC_KEY_USE_ACTIONS] : [...ENVELOPE_KEY_USE_ACTIONS],
        resources: ['*'],
        // One key per purpose: KMS binds each data key to its purpose's encryption context
        // cryptographically (Decrypt fails without the same context), so the policy names the roles only.
        // (@cloud-copilot/iam-simulate 0.1.173 does not match kms:EncryptionContext:<key> conditions,
        // which would leave the policy-simulation tests unable to prove these grants.)
        condition: [{ test: 'ArnEquals', variable: 'aws:PrincipalArn', values: [...users] }],
      });
    }
    this.policy = new DataAwsIamPolicyDocument(this, 'Policy', { statement: [...statements, ...(props.serviceStatements ?? [])] });

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
  /** Key administrators of every key (KEY_ADMIN_ARNS). @default the account */
  readonly adminArns?: readonly string[];
  /** The processor's task role: the only direct user of the patient-id, dead-letter and HMAC keys. */
  readonly processorTaskRoleArn: string;
  /** Break-glass roles (BREAK_GLASS_ROLE_ARNS) that may decrypt patient ids (not dead letters). @default none */
  readonly breakGlassRoleArns?: readonly string[];
}

/**
 * The pipeline's customer-managed keys:
 * - `data`: Kinesis, Aurora storage and Performance Insights, the master secret, AWS Backup, Fargate
 *   ephemeral storage (service access bound to the cluster by encryption context);
 * - `logs`: every CloudWatch log group, the CloudTrail trail (service access bound to encryption context)
 *   and the alarm topic (CloudWatch publishes to it);
 * - `phi`: envelope encryption of patient identifiers by the processor (purpose `vitals-pipeline-phi`;
 *   break-glass roles may decrypt);
 * - `deadLetter`: envelope encryption of dead-letter payloads by the processor (purpose
 *   `vitals-pipeline-dead-letter`), so no grant for one unwraps the other;
 * - `backup`: the AWS Backup vault, apart from the data key, so scheduling the data key's deletion or
 *   re-policying it cannot destroy the database and its backups together;
 * - `patientHmac`: HMAC_256 key for patient pseudonyms. AWS cannot rotate HMAC keys automatically,
 *   and rotating would break joins on existing pseudonyms, so it is deliberately not rotated.
 */
export class Keys extends Construct {
  readonly data: ManagedKey;
  readonly logs: ManagedKey;
  readonly phi: ManagedKey;
  readonly deadLetter: ManagedKey;
  readonly patientHmac: ManagedKey;
  readonly backup: ManagedKey;

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
      adminArns: props.adminArns,
    };
    const service = (name: string): string => `${name}.${region}.amazonaws.com`;
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
      viaServices: ['kinesis', 'rds', 'secretsmanager', 'backup'].map(service),
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
      // Readers of the audit bucket decrypt through S3; publishers to the alarm topic through SNS.
      viaServices: ['s3', 'sns'].map(service),
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
          // Confused-deputy guard: only this account's alarms (CloudWatch sends both keys when publishing).
          sid: 'CloudWatchAlarmsPublishToEncryptedTopics',
          principals: [{ type: 'Service', identifiers: ['cloudwatch.amazonaws.com'] }],
          actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
          resources: ['*'],
          condition: [
            { test: 'StringEquals', variable: 'aws:SourceAccount', values: [accountId] },
            { test: 'ArnLike', variable: 'aws:SourceArn', values: [`arn:${partition}:cloudwatch:${region}:${accountId}:alarm:*`] },
          ],
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
      directUserArns: [props.processorTaskRoleArn, ...(props.breakGlassRoleArns ?? [])],
      purpose: KEY_PURPOSES.patientId,
    });

    this.deadLetter = new ManagedKey(this, 'DeadLetter', {
      ...common,
      aliasName: name('dead-letter'),
      description: `vitals ${environment}: envelope encryption of dead-letter payloads`,
      directUserArns: [props.processorTaskRoleArn],
      purpose: KEY_PURPOSES.deadLetter,
    });

    this.backup = new ManagedKey(this, 'Backup', {
      ...common,
      aliasName: name('backup'),
      description: `vitals ${environment}: AWS Backup vault (recovery points)`,
      viaServices: ['backup'].map(service),
    });

    this.patientHmac = new ManagedKey(this, 'PatientHmac', {
      ...common,
      aliasName: name('patient-hmac'),
      description: `vitals ${environment}: HMAC_256 for patient pseudonyms (not rotated: pseudonyms must stay stable)`,
      keyUsage: KeyUsage.GENERATE_VERIFY_MAC,
      keySpec: 'HMAC_256',
      directUserArns: [props.processorTaskRoleArn],
    });
  }
}
