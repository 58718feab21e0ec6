/**
 * The permissions boundary of every role the registry and pipeline stacks create (one managed policy
 * per environment, `vitals-boundary-<env>`, created by the bootstrap stack so no deploy role can
 * change it), and the aspect that attaches it to every such role.
 *
 * A boundary caps what a role can ever do, whatever policies a deploy gives it: the CI deploy role
 * may create and change workload roles only with this boundary attached (src/infra/ci-deploy-role.ts),
 * so a deploy role cannot mint a role stronger than the boundary. The boundary allows the services
 * the workloads use and denies what no workload needs and an attacker would want:
 * - any IAM change (roles, policies, boundaries, the OIDC provider) and assuming the CI roles;
 * - the Terraform state backend (bucket, lock table, state key);
 * - another environment's resources (resources tagged with a different `Environment`), except log
 *   delivery to API Gateway execution log groups (the account's one API Gateway CloudWatch role);
 * - weakening the audit trail, scheduling key deletion or re-writing key policies, erasing backups.
 */
import { IAspect, TerraformStack, Aspects } from 'cdktf';
import { Construct, IConstruct } from 'constructs';
import { IamPolicy } from '@cdktf/provider-aws/lib/iam-policy';
import { IamRole } from '@cdktf/provider-aws/lib/iam-role';

/** Physical name of an environment's boundary policy. */
export const boundaryPolicyName = (prefix: string, environment: string): string => `${prefix}-boundary-${environment}`;
export const boundaryPolicyArn = (partition: string, accountId: string, prefix: string, environment: string): string =>
  `arn:${partition}:iam::${accountId}:policy/${boundaryPolicyName(prefix, environment)}`;

/** Services the workload roles call (task roles, execution roles, service roles). */
export const BOUNDARY_ALLOWED_SERVICES: readonly string[] = [
  'kinesis', 'kms', 'logs', 'cloudwatch', 'rds', 'rds-db', 'secretsmanager', 'ecr', 's3', 'sns', 'backup', 'backup-storage',
  'tag', 'ec2', 'ecs', 'elasticloadbalancing', 'apigateway', 'execute-api', 'ssmmessages', 'xray', 'dynamodb', 'storagegateway',
  'elasticfilesystem', 'fsx', 'redshift', 'cloudformation', 'ssm', 'glacier', 'events', 'sqs',
];

/** IAM changes no workload makes: every one of them could widen a role. */
export const BOUNDARY_DENIED_IAM_ACTIONS: readonly string[] = [
  'iam:Add*', 'iam:Attach*', 'iam:Change*', 'iam:Create*', 'iam:Delete*', 'iam:Detach*', 'iam:PassRole', 'iam:Put*',
  'iam:Remove*', 'iam:Reset*', 'iam:Set*', 'iam:Tag*', 'iam:Untag*', 'iam:Update*', 'iam:Upload*',
];

/** What a log-delivering service role does (API Gateway's account-wide CloudWatch role among them). */
export const LOG_DELIVERY_ACTIONS: readonly string[] = [
  'logs:CreateLogGroup', 'logs:CreateLogStream', 'logs:PutLogEvents', 'logs:DescribeLogGroups', 'logs:DescribeLogStreams',
];

/** Destroying or blinding the audit trail, the keys and the backups. */
export const BOUNDARY_DENIED_TAMPER_ACTIONS: readonly string[] = [
  'cloudtrail:StopLogging', 'cloudtrail:DeleteTrail', 'cloudtrail:UpdateTrail', 'cloudtrail:PutEventSelectors',
  'kms:ScheduleKeyDeletion', 'kms:PutKeyPolicy', 'kms:DisableKey', 'kms:DisableKeyRotation',
  'backup:DeleteBackupVault', 'backup:DeleteBackupVaultAccessPolicy', 'backup:PutBackupVaultAccessPolicy',
  'backup:DeleteBackupVaultLockConfiguration', 'backup:DeleteBackupPlan', 'backup:UpdateRecoveryPointLifecycle',
  'logs:DeleteLogGroup', 'logs:DeleteLogStream', 'logs:PutRetentionPolicy', 'logs:DeleteRetentionPolicy', 'logs:DisassociateKmsKey',
  's3:DeleteObjectVersion', 's3:PutBucketPolicy', 's3:DeleteBucketPolicy', 's3:PutBucketObjectLockConfiguration',
  's3:PutLifecycleConfiguration', 's3:PutBucketVersioning', 's3:DeleteBucket', 's3:BypassGovernanceRetention',
];

export interface BoundaryDocumentProps {
  readonly partition: string;
  readonly accountId: string;
  readonly region: string;
  /** @default 'vitals' */
  readonly prefix?: string;
  readonly environment: string;
  /** Tag key carrying the environment. @default 'Environment' */
  readonly environmentTagKey?: string;
  /** The Terraform state backend (never reachable from a workload). */
  readonly state: { readonly bucketName: string; readonly lockTableArn: string; readonly keyArn: string };
}

/** The boundary policy document of one environment. */
export function permissionsBoundaryDocument(p: BoundaryDocumentProps): { Version: string; Statement: Record<string, unknown>[] } {
  const prefix = p.prefix ?? 'vitals';
  const tagKey = p.environmentTagKey ?? 'Environment';
  const iam = (resource: string): string => `arn:${p.partition}:iam::${p.accountId}:${resource}`;
  const stateBucket = `arn:${p.partition}:s3:::${p.state.bucketName}`;
  const otherEnvironment = { StringNotEquals: { [`aws:ResourceTag/${tagKey}`]: p.environment }, Null: { [`aws:ResourceTag/${tagKey}`]: 'false' } };
  return {
    Version: '2012-10-17',
    Statement: [
      { Sid: 'WorkloadServicesInRegion', Effect: 'Allow', Action: BOUNDARY_ALLOWED_SERVICES.map((s) => `${s}:*`), Resource: '*', Condition: { StringEquals: { 'aws:RequestedRegion': p.region } } },
      // Regional calls above; the few global ones a workload makes (reading its own identity).
      { Sid: 'GlobalReads', Effect: 'Allow', Action: ['sts:GetCallerIdentity', 'iam:GetRole', 'iam:ListRoles'], Resource: '*' },
      { Sid: 'NoIamChanges', Effect: 'Deny', Action: BOUNDARY_DENIED_IAM_ACTIONS, Resource: '*' },
      { Sid: 'NeverTheCiRoles', Effect: 'Deny', Action: ['sts:AssumeRole', 'sts:AssumeRoleWithWebIdentity', 'sts:TagSession'], Resource: iam(`role/${prefix}-ci-*`) },
      { Sid: 'NeverTheStateBackend', Effect: 'Deny', Action: ['s3:*', 'dynamodb:*', 'kms:*'], Resource: [stateBucket, `${stateBucket}/*`, p.state.lockTableArn, p.state.keyArn] },
      { Sid: 'NoTampering', Effect: 'Deny', Action: BOUNDARY_DENIED_TAMPER_ACTIONS, Resource: '*' },
      {
        Sid: 'NeverAnotherEnvironment',
        Effect: 'Deny',
        NotAction: LOG_DELIVERY_ACTIONS,
        Resource: '*',
        // Only resources that carry the tag: Null=false makes an untagged resource (or an action without
        // resource tags) fall outside this Deny instead of matching the negated comparison.
        Condition: otherEnvironment,
      },
      // API Gateway's CloudWatch role is one per account and region (the environment that manages the
      // account settings creates it) and writes every stage's execution logs: log delivery to another
      // environment's execution log groups stays possible, to any other log group it does not.
      {
        Sid: 'NeverAnotherEnvironmentsLogs',
        Effect: 'Deny',
        Action: LOG_DELIVERY_ACTIONS,
        NotResource: [`arn:${p.partition}:logs:${p.region}:${p.accountId}:log-group:API-Gateway-Execution-Logs_*`, `arn:${p.partition}:logs:${p.region}:${p.accountId}:log-group:API-Gateway-Execution-Logs_*:*`],
        Condition: otherEnvironment,
      },
    ],
  };
}

export interface PermissionsBoundaryProps extends BoundaryDocumentProps {}

/** The boundary policy of one environment (bootstrap stack). */
export class PermissionsBoundary extends Construct {
  readonly policy: IamPolicy;
  constructor(scope: Construct, id: string, props: PermissionsBoundaryProps) {
    super(scope, id);
    this.policy = new IamPolicy(this, 'Resource', {
      name: boundaryPolicyName(props.prefix ?? 'vitals', props.environment),
      description: `Permissions boundary of every ${props.environment} workload role (created by the bootstrap; no deploy role can change it)`,
      policy: JSON.stringify(permissionsBoundaryDocument(props)),
    });
  }
}

/** Attaches the boundary to every IAM role in the stack (roles created later in the tree included). */
export class PermissionsBoundaryAspect implements IAspect {
  constructor(private readonly boundaryArn: string) {}
  visit(node: IConstruct): void {
    if (node instanceof IamRole && node.permissionsBoundaryInput === undefined) node.permissionsBoundary = this.boundaryArn;
  }
}

/** Every role of `stack` gets the environment's boundary. */
export function applyPermissionsBoundary(stack: TerraformStack, boundaryArn: string): void {
  Aspects.of(stack).add(new PermissionsBoundaryAspect(boundaryArn));
}
