/**
 * GitHub Actions → AWS without long-lived keys: the GitHub OIDC identity provider and the roles the
 * workflow (.github/workflows/infra.yml) assumes with `aws-actions/configure-aws-credentials`.
 *
 * - `vitals-ci-diff`: assumable only from pull requests of one repository. Read-only: it reads the
 *   state of the registry and pipeline stacks and takes their locks (a plan locks state), uses the
 *   state key only through S3 and DynamoDB, and may describe what `terraform plan` refreshes. It
 *   cannot read stream records, secret values or log events.
 * - `vitals-ci-deploy-<env>`: one per environment, assumable only by a job running in the GitHub
 *   environment of the same name (whose protection rules require a reviewer). Deploying this stack
 *   creates VPCs, keys, streams, databases, services, APIs, trails and IAM roles, so this role is
 *   broad by necessity. It is scoped where AWS allows: resource names `vitals-*-<env>` (so a dev role
 *   cannot touch prod), the deployment region, keys and EC2 deletions by the `Environment` tag, role
 *   passing by receiving service. What cannot be scoped by name (EC2 creation, API Gateway and KMS
 *   key creation, task-definition registration, the RDS-managed secret `rds!cluster-*`) is scoped by
 *   region only. Explicit denies keep it away from the bootstrap (state bucket, lock table, state
 *   key) and from the CI roles themselves. Known residual risk: it may create and change roles named
 *   `vitals-*-<env>`, so it could grant such a role more than this one has; a permissions boundary on
 *   every pipeline role would close that (docs/runbook.md, "CI access").
 *
 * The lists are derived from the resources the stacks declare; when a deploy fails with
 * AccessDenied, the message names the action: add it to the matching list below.
 */
import { PropProblems } from './prop-problems';
import { Construct } from 'constructs';
import { IamOpenidConnectProvider } from '@cdktf/provider-aws/lib/iam-openid-connect-provider';
import { IamPolicy } from '@cdktf/provider-aws/lib/iam-policy';
import { IamRole } from '@cdktf/provider-aws/lib/iam-role';
import { IamRolePolicyAttachment } from '@cdktf/provider-aws/lib/iam-role-policy-attachment';

export const GITHUB_OIDC_HOST = 'token.actions.githubusercontent.com';
export const GITHUB_OIDC_AUDIENCE = 'sts.amazonaws.com';
/** Sessions last one hour: a diff takes minutes; a first deploy (Aurora) ~30 min. */
export const CI_SESSION_DURATION_SECONDS = 3600;
/** IAM's limit on one managed policy document, in characters without whitespace. */
export const MANAGED_POLICY_MAX_CHARS = 6144;

/** Where the Terraform state lives (from the StateBackend construct). */
export interface CiStateAccess {
  /** State bucket name. */
  readonly bucketName: string;
  /** DynamoDB lock table ARN. */
  readonly lockTableArn: string;
  /** KMS key encrypting state objects and the lock table. */
  readonly keyArn: string;
  /**
   * State object prefixes the CI works on, each followed by `/<env>/` (registry and pipeline stacks).
   * @default ['registry', 'pipeline']
   */
  readonly stackPrefixes?: readonly string[];
}

export interface CiDeployRoleProps {
  /** GitHub repository allowed to assume the roles, `owner/name`. */
  readonly repository: string;
  /** Environments that get a deploy role; each must exist as a GitHub environment with reviewers. */
  readonly environments: readonly string[];
  /** 12-digit account id. */
  readonly accountId: string;
  /** Deployment region (regional permissions are limited to it). */
  readonly region: string;
  /** @default 'aws' */
  readonly partition?: string;
  readonly state: CiStateAccess;
  /**
   * ARN of an existing GitHub OIDC provider. An account holds one provider per URL: pass it when
   * another project already created it.
   * @default a provider is created
   */
  readonly existingOidcProviderArn?: string;
  /**
   * Prefix of every physical name.
   * @default 'vitals'
   */
  readonly namePrefix?: string;
  /**
   * Tag key carrying the environment (set by the provider's default tags).
   * @default 'Environment'
   */
  readonly environmentTagKey?: string;
}

// ---- Read-only access for `terraform plan` (refresh) ------------------------------------------
// Configuration reads only: no kinesis:GetRecords, secretsmanager:GetSecretValue, logs:GetLogEvents,
// s3:GetObject outside the state, kms:Decrypt outside the state key.

/** Regional describe/list calls (most support no resource-level scoping). */
export const PLAN_READ_ACTIONS: readonly string[] = [
  'ec2:Describe*',
  'kinesis:DescribeStream', 'kinesis:DescribeStreamSummary', 'kinesis:DescribeStreamConsumer', 'kinesis:ListShards',
  'kinesis:ListStreamConsumers', 'kinesis:ListTagsForStream', 'kinesis:GetResourcePolicy',
  'kms:DescribeKey', 'kms:GetKeyPolicy', 'kms:GetKeyRotationStatus', 'kms:ListResourceTags', 'kms:ListAliases',
  'rds:Describe*', 'rds:ListTagsForResource',
  'secretsmanager:DescribeSecret', 'secretsmanager:GetResourcePolicy', 'secretsmanager:ListSecretVersionIds',
  'ecs:Describe*', 'ecs:List*',
  'ecr:DescribeRepositories', 'ecr:DescribeImages', 'ecr:GetLifecyclePolicy', 'ecr:GetRepositoryPolicy', 'ecr:ListTagsForResource',
  'logs:DescribeLogGroups', 'logs:DescribeMetricFilters', 'logs:DescribeSubscriptionFilters', 'logs:DescribeResourcePolicies',
  'logs:ListTagsForResource', 'logs:ListTagsLogGroup', 'logs:GetDataProtectionPolicy', 'logs:GetLogDelivery', 'logs:ListLogDeliveries',
  'cloudwatch:DescribeAlarms', 'cloudwatch:GetDashboard', 'cloudwatch:ListTagsForResource',
  'sns:GetTopicAttributes', 'sns:GetSubscriptionAttributes', 'sns:ListSubscriptionsByTopic', 'sns:ListTagsForResource',
  'apigateway:GET',
  'wafv2:GetWebACL', 'wafv2:GetWebACLForResource', 'wafv2:GetLoggingConfiguration', 'wafv2:ListTagsForResource', 'wafv2:ListResourcesForWebACL',
  'cloudtrail:DescribeTrails', 'cloudtrail:GetTrail', 'cloudtrail:GetTrailStatus', 'cloudtrail:GetEventSelectors',
  'cloudtrail:GetInsightSelectors', 'cloudtrail:ListTags',
  'backup:DescribeBackupVault', 'backup:GetBackupPlan', 'backup:GetBackupSelection', 'backup:GetBackupVaultAccessPolicy',
  'backup:GetBackupVaultNotifications', 'backup:ListTags',
  'application-autoscaling:DescribeScalableTargets', 'application-autoscaling:DescribeScalingPolicies',
  'application-autoscaling:ListTagsForResource',
];

/** IAM is global: role and policy reads for the roles the stacks declare. */
export const PLAN_READ_IAM_ACTIONS: readonly string[] = [
  'iam:GetRole', 'iam:GetRolePolicy', 'iam:ListRolePolicies', 'iam:ListAttachedRolePolicies', 'iam:ListRoleTags',
  'iam:GetPolicy', 'iam:GetPolicyVersion', 'iam:ListPolicyVersions', 'iam:GetOpenIDConnectProvider',
];

/** Bucket configuration reads (audit bucket); never object reads. */
export const PLAN_READ_S3_BUCKET_ACTIONS: readonly string[] = [
  's3:GetBucket*', 's3:GetEncryptionConfiguration', 's3:GetLifecycleConfiguration', 's3:GetReplicationConfiguration',
  's3:GetAccelerateConfiguration', 's3:GetIntelligentTieringConfiguration', 's3:ListBucket',
];

// ---- State access ------------------------------------------------------------------------------
export const STATE_LOCK_TABLE_ACTIONS: readonly string[] = ['dynamodb:DescribeTable', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:DeleteItem'];
/** Through S3 and DynamoDB only (kms:ViaService). */
export const STATE_KEY_ACTIONS: readonly string[] = ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey', 'kms:DescribeKey'];

// ---- Deploy: create, change, delete ------------------------------------------------------------
export const DEPLOY_EC2_CREATE_ACTIONS: readonly string[] = [
  'ec2:CreateVpc', 'ec2:ModifyVpcAttribute', 'ec2:CreateSubnet', 'ec2:ModifySubnetAttribute',
  'ec2:CreateRouteTable', 'ec2:AssociateRouteTable', 'ec2:DisassociateRouteTable', 'ec2:CreateRoute', 'ec2:ReplaceRoute',
  'ec2:CreateSecurityGroup', 'ec2:AuthorizeSecurityGroupIngress', 'ec2:AuthorizeSecurityGroupEgress',
  'ec2:RevokeSecurityGroupIngress', 'ec2:RevokeSecurityGroupEgress', 'ec2:ModifySecurityGroupRules',
  'ec2:UpdateSecurityGroupRuleDescriptionsIngress', 'ec2:UpdateSecurityGroupRuleDescriptionsEgress',
  'ec2:CreateVpcEndpoint', 'ec2:ModifyVpcEndpoint', 'ec2:CreateFlowLogs',
  'ec2:CreateNetworkAclEntry', 'ec2:ReplaceNetworkAclEntry', 'ec2:DeleteNetworkAclEntry', 'ec2:ReplaceNetworkAclAssociation',
];
/** Tag changes: only on resources of this environment or not yet tagged with one (so a prod resource cannot be re-tagged into reach). */
export const DEPLOY_EC2_TAG_ACTIONS: readonly string[] = ['ec2:CreateTags', 'ec2:DeleteTags'];
/** Destructive EC2 calls: only on resources tagged with this environment. */
export const DEPLOY_EC2_DELETE_ACTIONS: readonly string[] = [
  'ec2:DeleteVpc', 'ec2:DeleteSubnet', 'ec2:DeleteRouteTable', 'ec2:DeleteRoute', 'ec2:DeleteSecurityGroup',
  'ec2:DeleteVpcEndpoints', 'ec2:DeleteFlowLogs',
];
export const DEPLOY_KINESIS_ACTIONS: readonly string[] = [
  'kinesis:CreateStream', 'kinesis:DeleteStream', 'kinesis:AddTagsToStream', 'kinesis:RemoveTagsFromStream',
  'kinesis:IncreaseStreamRetentionPeriod', 'kinesis:DecreaseStreamRetentionPeriod', 'kinesis:StartStreamEncryption',
  'kinesis:StopStreamEncryption', 'kinesis:UpdateShardCount', 'kinesis:UpdateStreamMode', 'kinesis:EnableEnhancedMonitoring',
  'kinesis:DisableEnhancedMonitoring', 'kinesis:PutResourcePolicy', 'kinesis:DeleteResourcePolicy', 'kinesis:TagResource',
  'kinesis:UntagResource',
];
/** Key administration (no cryptographic use). */
export const DEPLOY_KMS_KEY_ACTIONS: readonly string[] = [
  'kms:PutKeyPolicy', 'kms:EnableKeyRotation', 'kms:DisableKeyRotation', 'kms:UpdateKeyDescription',
  'kms:ScheduleKeyDeletion', 'kms:CancelKeyDeletion', 'kms:CreateAlias', 'kms:DeleteAlias', 'kms:UpdateAlias',
];
/**
 * What services do with the caller's rights while creating encrypted resources (RDS and Secrets
 * Manager take grants and data keys, Kinesis and ECR check the key): only through those services,
 * so the CI can never decrypt anything itself.
 */
export const DEPLOY_KMS_VIA_SERVICE_ACTIONS: readonly string[] = ['kms:CreateGrant', 'kms:RetireGrant', 'kms:GenerateDataKey', 'kms:Decrypt', 'kms:Encrypt'];
export const KMS_VIA_SERVICES: readonly string[] = ['rds', 'secretsmanager', 'kinesis', 'ecr', 'backup', 'logs', 'sns'];
/** Tag changes on keys, under the same rule as EC2 tags. */
export const DEPLOY_KMS_TAG_ACTIONS: readonly string[] = ['kms:TagResource', 'kms:UntagResource'];
export const DEPLOY_KMS_ALIAS_ACTIONS: readonly string[] = ['kms:CreateAlias', 'kms:DeleteAlias', 'kms:UpdateAlias'];
export const DEPLOY_RDS_ACTIONS: readonly string[] = [
  'rds:CreateDBCluster', 'rds:ModifyDBCluster', 'rds:DeleteDBCluster', 'rds:CreateDBInstance', 'rds:ModifyDBInstance',
  'rds:DeleteDBInstance', 'rds:RebootDBInstance', 'rds:CreateDBSubnetGroup', 'rds:ModifyDBSubnetGroup', 'rds:DeleteDBSubnetGroup',
  'rds:CreateDBClusterParameterGroup', 'rds:ModifyDBClusterParameterGroup', 'rds:DeleteDBClusterParameterGroup',
  'rds:CreateDBParameterGroup', 'rds:ModifyDBParameterGroup', 'rds:DeleteDBParameterGroup',
  'rds:CreateDBClusterSnapshot', 'rds:AddTagsToResource', 'rds:RemoveTagsFromResource', 'rds:EnableHttpEndpoint',
];
/** The RDS-managed master secret (`rds!cluster-…`): RDS creates and rotates it with the caller's rights. */
export const DEPLOY_RDS_SECRET_ACTIONS: readonly string[] = [
  'secretsmanager:CreateSecret', 'secretsmanager:DeleteSecret', 'secretsmanager:RotateSecret', 'secretsmanager:TagResource',
  'secretsmanager:UntagResource', 'secretsmanager:UpdateSecret',
];
export const DEPLOY_BACKUP_ACTIONS: readonly string[] = [
  'backup:CreateBackupVault', 'backup:DeleteBackupVault', 'backup:PutBackupVaultAccessPolicy', 'backup:DeleteBackupVaultAccessPolicy',
  'backup:CreateBackupPlan', 'backup:UpdateBackupPlan', 'backup:DeleteBackupPlan', 'backup:CreateBackupSelection',
  'backup:DeleteBackupSelection', 'backup:TagResource', 'backup:UntagResource', 'backup-storage:MountCapsule',
];
export const DEPLOY_ECS_ACTIONS: readonly string[] = [
  'ecs:CreateCluster', 'ecs:UpdateCluster', 'ecs:UpdateClusterSettings', 'ecs:DeleteCluster', 'ecs:PutClusterCapacityProviders',
  'ecs:CreateService', 'ecs:UpdateService', 'ecs:DeleteService', 'ecs:TagResource', 'ecs:UntagResource',
  'ecs:RunTask', 'ecs:StopTask', 'ecs:DeleteTaskDefinitions',
];
/** ECS calls without resource-level scoping. */
export const DEPLOY_ECS_UNSCOPED_ACTIONS: readonly string[] = ['ecs:RegisterTaskDefinition', 'ecs:DeregisterTaskDefinition'];
export const DEPLOY_ECR_ACTIONS: readonly string[] = [
  'ecr:CreateRepository', 'ecr:DeleteRepository', 'ecr:PutLifecyclePolicy', 'ecr:DeleteLifecyclePolicy', 'ecr:SetRepositoryPolicy',
  'ecr:DeleteRepositoryPolicy', 'ecr:PutImageScanningConfiguration', 'ecr:PutImageTagMutability', 'ecr:TagResource',
  'ecr:UntagResource', 'ecr:BatchCheckLayerAvailability', 'ecr:InitiateLayerUpload', 'ecr:UploadLayerPart',
  'ecr:CompleteLayerUpload', 'ecr:PutImage', 'ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer',
];
export const DEPLOY_LOGS_ACTIONS: readonly string[] = [
  'logs:CreateLogGroup', 'logs:DeleteLogGroup', 'logs:PutRetentionPolicy', 'logs:DeleteRetentionPolicy', 'logs:AssociateKmsKey',
  'logs:DisassociateKmsKey', 'logs:TagResource', 'logs:UntagResource', 'logs:TagLogGroup', 'logs:UntagLogGroup',
  'logs:PutMetricFilter', 'logs:DeleteMetricFilter', 'logs:PutDataProtectionPolicy', 'logs:DeleteDataProtectionPolicy',
];
/** Log delivery for WAF and API Gateway (account-level resource policies, no resource scoping). */
export const DEPLOY_LOG_DELIVERY_ACTIONS: readonly string[] = [
  'logs:CreateLogDelivery', 'logs:UpdateLogDelivery', 'logs:DeleteLogDelivery', 'logs:PutResourcePolicy', 'logs:DeleteResourcePolicy',
];
export const DEPLOY_CLOUDWATCH_ACTIONS: readonly string[] = [
  'cloudwatch:PutMetricAlarm', 'cloudwatch:DeleteAlarms', 'cloudwatch:EnableAlarmActions', 'cloudwatch:DisableAlarmActions',
  'cloudwatch:PutDashboard', 'cloudwatch:DeleteDashboards', 'cloudwatch:TagResource', 'cloudwatch:UntagResource',
];
export const DEPLOY_SNS_ACTIONS: readonly string[] = [
  'sns:CreateTopic', 'sns:DeleteTopic', 'sns:SetTopicAttributes', 'sns:Subscribe', 'sns:Unsubscribe',
  'sns:SetSubscriptionAttributes', 'sns:TagResource', 'sns:UntagResource',
];
/** API Gateway authorises by HTTP verb on resource paths; ids are random, so the region is the scope. */
export const DEPLOY_APIGATEWAY_ACTIONS: readonly string[] = [
  'apigateway:POST', 'apigateway:PUT', 'apigateway:PATCH', 'apigateway:DELETE', 'apigateway:SetWebACL',
];
export const DEPLOY_WAF_ACTIONS: readonly string[] = [
  'wafv2:CreateWebACL', 'wafv2:UpdateWebACL', 'wafv2:DeleteWebACL', 'wafv2:AssociateWebACL', 'wafv2:DisassociateWebACL',
  'wafv2:PutLoggingConfiguration', 'wafv2:DeleteLoggingConfiguration', 'wafv2:TagResource', 'wafv2:UntagResource',
];
export const DEPLOY_CLOUDTRAIL_ACTIONS: readonly string[] = [
  'cloudtrail:CreateTrail', 'cloudtrail:UpdateTrail', 'cloudtrail:DeleteTrail', 'cloudtrail:StartLogging',
  'cloudtrail:StopLogging', 'cloudtrail:PutEventSelectors', 'cloudtrail:PutInsightSelectors', 'cloudtrail:AddTags',
  'cloudtrail:RemoveTags',
];
export const DEPLOY_S3_BUCKET_ACTIONS: readonly string[] = [
  's3:CreateBucket', 's3:DeleteBucket', 's3:PutBucketPolicy', 's3:DeleteBucketPolicy', 's3:PutBucketVersioning',
  's3:PutBucketPublicAccessBlock', 's3:PutBucketOwnershipControls', 's3:PutBucketTagging', 's3:PutBucketLogging',
  's3:PutEncryptionConfiguration', 's3:PutLifecycleConfiguration', 's3:PutBucketObjectLockConfiguration',
  's3:PutBucketNotification', 's3:ListBucketVersions',
];
/** Emptying a non-production audit bucket on destroy (force_destroy). */
export const DEPLOY_S3_OBJECT_ACTIONS: readonly string[] = ['s3:DeleteObject', 's3:DeleteObjectVersion'];
export const DEPLOY_AUTOSCALING_ACTIONS: readonly string[] = [
  'application-autoscaling:RegisterScalableTarget', 'application-autoscaling:DeregisterScalableTarget',
  'application-autoscaling:PutScalingPolicy', 'application-autoscaling:DeleteScalingPolicy',
  'application-autoscaling:TagResource', 'application-autoscaling:UntagResource',
];
export const DEPLOY_IAM_ROLE_ACTIONS: readonly string[] = [
  'iam:CreateRole', 'iam:DeleteRole', 'iam:UpdateRole', 'iam:UpdateRoleDescription', 'iam:UpdateAssumeRolePolicy',
  'iam:TagRole', 'iam:UntagRole', 'iam:PutRolePolicy', 'iam:DeleteRolePolicy', 'iam:AttachRolePolicy', 'iam:DetachRolePolicy',
];
export const DEPLOY_IAM_POLICY_ACTIONS: readonly string[] = [
  'iam:CreatePolicy', 'iam:DeletePolicy', 'iam:CreatePolicyVersion', 'iam:DeletePolicyVersion', 'iam:TagPolicy', 'iam:UntagPolicy',
];
/** Services the pipeline's roles are passed to. */
export const PASS_ROLE_SERVICES: readonly string[] = [
  'ecs-tasks.amazonaws.com', 'apigateway.amazonaws.com', 'backup.amazonaws.com', 'vpc-flow-logs.amazonaws.com',
  'cloudtrail.amazonaws.com', 'monitoring.rds.amazonaws.com', 'application-autoscaling.amazonaws.com',
];
/** Service-linked roles the first deploy in an account may create. */
export const SERVICE_LINKED_ROLE_SERVICES: readonly string[] = [
  'ecs.amazonaws.com', 'rds.amazonaws.com', 'ecs.application-autoscaling.amazonaws.com', 'backup.amazonaws.com',
  'ops.apigateway.amazonaws.com',
];
/** Mutations that must never reach the CI roles, the OIDC provider or the state backend. */
export const PROTECTED_IAM_ACTIONS: readonly string[] = [
  ...DEPLOY_IAM_ROLE_ACTIONS, 'iam:DeleteOpenIDConnectProvider', 'iam:UpdateOpenIDConnectProviderThumbprint',
  'iam:AddClientIDToOpenIDConnectProvider', 'iam:RemoveClientIDFromOpenIDConnectProvider', 'iam:TagOpenIDConnectProvider',
];
export const PROTECTED_STATE_ACTIONS: readonly string[] = [
  ...DEPLOY_S3_BUCKET_ACTIONS, 'dynamodb:DeleteTable', 'dynamodb:UpdateTable', 'dynamodb:UpdateContinuousBackups',
  'kms:PutKeyPolicy', 'kms:ScheduleKeyDeletion', 'kms:DisableKey', 'kms:DisableKeyRotation', 'kms:CreateGrant',
  'kms:DeleteAlias', 'kms:UpdateAlias', 'kms:TagResource', 'kms:UntagResource',
];

interface Statement {
  readonly Sid: string;
  readonly Effect: 'Allow' | 'Deny';
  readonly Action: readonly string[];
  readonly Resource: readonly string[] | string;
  readonly Condition?: Record<string, Record<string, string | readonly string[]>>;
}

interface PolicySpec {
  /** Suffix of the policy name. */
  readonly suffix: string;
  readonly description: string;
  readonly statements: readonly Statement[];
}

const REPOSITORY_PATTERN = /^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/;

function validate(props: CiDeployRoleProps): void {
  const p = new PropProblems('CiDeployRole')
    .check(REPOSITORY_PATTERN.test(props.repository), 'repository', `must be "owner/name" (letters, digits, '.', '_', '-')`, props.repository)
    .check(props.environments.length > 0, 'environments', 'must name at least one environment', props.environments)
    .check(new Set(props.environments).size === props.environments.length, 'environments', 'must not repeat', props.environments)
    .accountId('accountId', props.accountId);
  for (const env of props.environments) p.environment('environments', env);
  if (props.existingOidcProviderArn !== undefined) {
    p.check(props.existingOidcProviderArn.endsWith(`:oidc-provider/${GITHUB_OIDC_HOST}`), 'existingOidcProviderArn', `must be the ARN of the ${GITHUB_OIDC_HOST} provider`, props.existingOidcProviderArn);
  }
  p.throwIfAny();
}

/** Subject claim of a pull-request job (`pull_request` events; fork PRs get no id token). */
export const pullRequestSubject = (repository: string): string => `repo:${repository}:pull_request`;
/** Subject claim of a job that declares `environment: <env>`. */
export const environmentSubject = (repository: string, environment: string): string => `repo:${repository}:environment:${environment}`;

export class CiDeployRole extends Construct {
  readonly oidcProviderArn: string;
  readonly oidcProvider?: IamOpenidConnectProvider;
  /** Read-only role for `cdktf diff` on pull requests. */
  readonly diffRole: IamRole;
  /** One deploy role per environment. */
  readonly deployRoles: Readonly<Record<string, IamRole>>;
  /** Every managed policy, by name. */
  readonly policies: Readonly<Record<string, IamPolicy>>;

  constructor(scope: Construct, id: string, props: CiDeployRoleProps) {
    super(scope, id);
    validate(props);
    const partition = props.partition ?? 'aws';
    const prefix = props.namePrefix ?? 'vitals';
    const { accountId, region } = props;
    const tagKey = props.environmentTagKey ?? 'Environment';

    if (props.existingOidcProviderArn !== undefined) {
      this.oidcProviderArn = props.existingOidcProviderArn;
    } else {
      // No thumbprint list: for GitHub's issuer AWS validates the certificate against its trusted CAs
      // (IAM fills the field itself when it is omitted), so a pinned thumbprint would only go stale.
      this.oidcProvider = new IamOpenidConnectProvider(this, 'GithubOidc', {
        url: `https://${GITHUB_OIDC_HOST}`,
        clientIdList: [GITHUB_OIDC_AUDIENCE],
      });
      this.oidcProviderArn = this.oidcProvider.arn;
    }

    const policies: Record<string, IamPolicy> = {};
    const policy = (spec: PolicySpec, name: string): IamPolicy => {
      const p = new IamPolicy(this, `Policy-${name}`, {
        name,
        description: spec.description,
        policy: JSON.stringify({ Version: '2012-10-17', Statement: spec.statements }),
      });
      policies[name] = p;
      return p;
    };
    const role = (roleId: string, name: string, description: string, subject: string, attached: readonly IamPolicy[]): IamRole => {
      const r = new IamRole(this, roleId, {
        name,
        description,
        maxSessionDuration: CI_SESSION_DURATION_SECONDS,
        assumeRolePolicy: JSON.stringify({
          Version: '2012-10-17',
          Statement: [{
            Sid: 'GithubActionsOidc',
            Effect: 'Allow',
            Principal: { Federated: this.oidcProviderArn },
            Action: 'sts:AssumeRoleWithWebIdentity',
            Condition: {
              StringEquals: {
                [`${GITHUB_OIDC_HOST}:aud`]: GITHUB_OIDC_AUDIENCE,
                [`${GITHUB_OIDC_HOST}:sub`]: subject,
              },
            },
          }],
        }),
      });
      attached.forEach((p, i) => new IamRolePolicyAttachment(this, `${roleId}Attachment${i}`, { role: r.name, policyArn: p.arn }));
      return r;
    };

    const ctx: PolicyContext = { partition, accountId, region, prefix, tagKey, state: props.state, repository: props.repository };
    const read = policy(planReadPolicy(ctx), `${prefix}-ci-plan-read`);
    const diffState = policy(stateAccessPolicy(ctx, '*', false), `${prefix}-ci-diff-state`);
    this.diffRole = role('DiffRole', `${prefix}-ci-diff`, `cdktf diff from pull requests of ${props.repository} (read-only)`, pullRequestSubject(props.repository), [read, diffState]);

    const deployRoles: Record<string, IamRole> = {};
    for (const env of props.environments) {
      const specs = deployPolicies(ctx, env);
      const attached = [read, policy(stateAccessPolicy(ctx, env, true), `${prefix}-ci-deploy-state-${env}`), ...specs.map((s) => policy(s, `${prefix}-ci-deploy-${s.suffix}-${env}`))];
      deployRoles[env] = role(`DeployRole-${env}`, `${prefix}-ci-deploy-${env}`, `cdktf deploy of ${env} from the GitHub environment "${env}" of ${props.repository}`, environmentSubject(props.repository, env), attached);
    }
    this.deployRoles = deployRoles;
    this.policies = policies;
  }
}

interface PolicyContext {
  readonly partition: string;
  readonly accountId: string;
  readonly region: string;
  readonly prefix: string;
  readonly tagKey: string;
  readonly state: CiStateAccess;
  readonly repository: string;
}

const inRegion = (region: string): Statement['Condition'] => ({ StringEquals: { 'aws:RequestedRegion': region } });

function planReadPolicy(c: PolicyContext): PolicySpec {
  return {
    suffix: 'plan-read',
    description: 'Configuration reads terraform plan needs (no data reads)',
    statements: [
      { Sid: 'DescribeInRegion', Effect: 'Allow', Action: PLAN_READ_ACTIONS, Resource: '*', Condition: inRegion(c.region) },
      {
        Sid: 'ReadIam',
        Effect: 'Allow',
        Action: PLAN_READ_IAM_ACTIONS,
        Resource: ['role/*', 'policy/*', `oidc-provider/${GITHUB_OIDC_HOST}`]
          .map((r) => `arn:${c.partition}:iam::${c.accountId}:${r}`)
          .concat(`arn:${c.partition}:iam::aws:policy/*`),
      },
      { Sid: 'ReadBucketConfiguration', Effect: 'Allow', Action: PLAN_READ_S3_BUCKET_ACTIONS, Resource: `arn:${c.partition}:s3:::${c.prefix}-*` },
    ],
  };
}

/**
 * State objects and locks: `<stack>/<env>/…` for every CI stack prefix (env '*' = every environment,
 * read-only apart from the lock; a deploy role reads and writes its own environment only).
 */
function stateAccessPolicy(c: PolicyContext, env: string, write: boolean): PolicySpec {
  const prefixes = c.state.stackPrefixes ?? ['registry', 'pipeline'];
  const bucketArn = `arn:${c.partition}:s3:::${c.state.bucketName}`;
  const objects = prefixes.map((p) => `${bucketArn}/${p}/${env}/*`);
  const locks = prefixes.map((p) => `${bucketArn}/${p}/${env}/*.tflock`);
  const lockKeys = prefixes.map((p) => `${c.state.bucketName}/${p}/${env}/*`);
  const statements: Statement[] = [
    { Sid: 'ListStatePrefixes', Effect: 'Allow', Action: ['s3:ListBucket'], Resource: bucketArn, Condition: { StringLike: { 's3:prefix': prefixes.map((p) => `${p}/${env}/*`) } } },
    { Sid: 'ReadState', Effect: 'Allow', Action: ['s3:GetObject'], Resource: objects },
    { Sid: 'S3LockFiles', Effect: 'Allow', Action: ['s3:PutObject', 's3:DeleteObject'], Resource: locks },
    ...(write ? [{ Sid: 'WriteState', Effect: 'Allow' as const, Action: ['s3:PutObject'], Resource: objects }] : []),
    {
      Sid: 'DynamoDbLocks',
      Effect: 'Allow',
      Action: STATE_LOCK_TABLE_ACTIONS,
      Resource: c.state.lockTableArn,
      Condition: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': lockKeys } },
    },
    {
      Sid: 'StateKeyThroughS3AndDynamoDb',
      Effect: 'Allow',
      Action: STATE_KEY_ACTIONS,
      Resource: c.state.keyArn,
      Condition: { StringEquals: { 'kms:ViaService': [`s3.${c.region}.amazonaws.com`, `dynamodb.${c.region}.amazonaws.com`] } },
    },
  ];
  return { suffix: 'state', description: write ? `Read and write ${env} state, take its locks` : 'Read registry and pipeline state, take their locks', statements };
}

/** The deploy role's create/change/delete rights for one environment, grouped in managed policies under IAM's size limit. */
function deployPolicies(c: PolicyContext, env: string): PolicySpec[] {
  const arn = (service: string, resource: string, region = c.region): string => `arn:${c.partition}:${service}:${region}:${c.accountId}:${resource}`;
  /**
   * Physical names of this environment: `vitals-<env>` (cluster), `vitals-<component>-<env>`, and
   * children of either (`vitals-<env>-writer`, `vitals-audit-<env>-<account>-<region>`). The hyphen
   * after `<env>` keeps `dev` from matching `dev2`.
   */
  const names = [`${c.prefix}-${env}`, `${c.prefix}-${env}-*`, `${c.prefix}-*-${env}`, `${c.prefix}-*-${env}-*`];
  const named = (service: string, kind: string, region = c.region): string[] => names.map((n) => arn(service, `${kind}${n}`, region));
  const tagged = { StringEquals: { [`aws:ResourceTag/${c.tagKey}`]: env, 'aws:RequestedRegion': c.region } };
  const untaggedGettingOwnTag = {
    StringEquals: { [`aws:RequestTag/${c.tagKey}`]: env, 'aws:RequestedRegion': c.region },
    Null: { [`aws:ResourceTag/${c.tagKey}`]: 'true' },
  };
  const logGroups = [
    `/${c.prefix}/${env}/*`, `/ecs/${c.prefix}-*-${env}`, `/aws/rds/cluster/${c.prefix}-${env}/*`,
    `/aws/apigateway/${c.prefix}-*-${env}/*`, `aws-waf-logs-${c.prefix}-*-${env}`,
    // API Gateway names its execution log group after the (random) API id: not scopable by environment.
    'API-Gateway-Execution-Logs_*',
  ].flatMap((g) => [arn('logs', `log-group:${g}`), arn('logs', `log-group:${g}:*`)]);
  const stateBucketArn = `arn:${c.partition}:s3:::${c.state.bucketName}`;

  return [
    {
      suffix: 'network',
      description: `VPC, subnets, security groups, endpoints, flow logs of ${env}`,
      statements: [
        { Sid: 'Ec2CreateAndChangeInRegion', Effect: 'Allow', Action: DEPLOY_EC2_CREATE_ACTIONS, Resource: '*', Condition: inRegion(c.region) },
        { Sid: 'Ec2DeleteOwnEnvironment', Effect: 'Allow', Action: DEPLOY_EC2_DELETE_ACTIONS, Resource: '*', Condition: tagged },
        { Sid: 'Ec2TagOwnEnvironment', Effect: 'Allow', Action: DEPLOY_EC2_TAG_ACTIONS, Resource: '*', Condition: tagged },
        { Sid: 'Ec2TagNewResources', Effect: 'Allow', Action: DEPLOY_EC2_TAG_ACTIONS, Resource: '*', Condition: untaggedGettingOwnTag },
      ],
    },
    {
      suffix: 'keys',
      description: `KMS keys and aliases of ${env}`,
      statements: [
        { Sid: 'KmsCreateKeyInRegion', Effect: 'Allow', Action: ['kms:CreateKey'], Resource: '*', Condition: inRegion(c.region) },
        { Sid: 'KmsOwnEnvironmentKeys', Effect: 'Allow', Action: [...DEPLOY_KMS_KEY_ACTIONS, ...DEPLOY_KMS_TAG_ACTIONS], Resource: arn('kms', 'key/*'), Condition: tagged },
        {
          Sid: 'KmsOwnKeysThroughServices',
          Effect: 'Allow',
          Action: DEPLOY_KMS_VIA_SERVICE_ACTIONS,
          Resource: arn('kms', 'key/*'),
          Condition: {
            StringEquals: { [`aws:ResourceTag/${c.tagKey}`]: env, 'kms:ViaService': KMS_VIA_SERVICES.map((svc) => `${svc}.${c.region}.amazonaws.com`) },
          },
        },
        { Sid: 'KmsTagNewKeys', Effect: 'Allow', Action: DEPLOY_KMS_TAG_ACTIONS, Resource: arn('kms', 'key/*'), Condition: untaggedGettingOwnTag },
        { Sid: 'KmsOwnEnvironmentAliases', Effect: 'Allow', Action: DEPLOY_KMS_ALIAS_ACTIONS, Resource: named('kms', 'alias/') },
      ],
    },
    {
      suffix: 'data',
      description: `Stream, database, master secret and backups of ${env}`,
      statements: [
        { Sid: 'KinesisOwnStream', Effect: 'Allow', Action: DEPLOY_KINESIS_ACTIONS, Resource: named('kinesis', 'stream/') },
        {
          Sid: 'RdsOwnCluster',
          Effect: 'Allow',
          Action: DEPLOY_RDS_ACTIONS,
          Resource: [
            ...['cluster:', 'db:', 'subgrp:', 'cluster-pg:', 'pg:', 'cluster-snapshot:'].flatMap((kind) => named('rds', kind)),
            // Instances may use the engine's default parameter group (AWS refuses changes to those).
            arn('rds', 'pg:default.*'),
            arn('rds', 'cluster-pg:default.*'),
          ],
        },
        { Sid: 'RdsManagedMasterSecret', Effect: 'Allow', Action: DEPLOY_RDS_SECRET_ACTIONS, Resource: arn('secretsmanager', 'secret:rds!cluster-*') },
        {
          Sid: 'BackupOwnVaultAndPlans',
          Effect: 'Allow',
          Action: DEPLOY_BACKUP_ACTIONS,
          Resource: [...named('backup', 'backup-vault:'), arn('backup', 'backup-plan:*')],
          Condition: inRegion(c.region),
        },
      ],
    },
    {
      suffix: 'compute',
      description: `ECS cluster, service, tasks and image repository of ${env}`,
      statements: [
        {
          Sid: 'EcsOwnClusterServiceTasks',
          Effect: 'Allow',
          Action: DEPLOY_ECS_ACTIONS,
          Resource: [
            ...named('ecs', 'cluster/'),
            ...names.map((n) => arn('ecs', `service/${n}/*`)),
            ...names.map((n) => arn('ecs', `task/${n}/*`)),
            ...names.map((n) => arn('ecs', `task-definition/${n}:*`)),
          ],
        },
        { Sid: 'EcsTaskDefinitionsInRegion', Effect: 'Allow', Action: DEPLOY_ECS_UNSCOPED_ACTIONS, Resource: '*', Condition: inRegion(c.region) },
        { Sid: 'EcrLogin', Effect: 'Allow', Action: ['ecr:GetAuthorizationToken'], Resource: '*', Condition: inRegion(c.region) },
        { Sid: 'EcrOwnRepository', Effect: 'Allow', Action: DEPLOY_ECR_ACTIONS, Resource: arn('ecr', `repository/${c.prefix}-processor-${env}`) },
        { Sid: 'AutoscalingInRegion', Effect: 'Allow', Action: DEPLOY_AUTOSCALING_ACTIONS, Resource: '*', Condition: inRegion(c.region) },
      ],
    },
    {
      suffix: 'edge',
      description: `API Gateway and WAF of ${env}`,
      statements: [
        {
          Sid: 'ApiGatewayInRegion',
          Effect: 'Allow',
          Action: DEPLOY_APIGATEWAY_ACTIONS,
          Resource: ['/restapis', '/restapis/*', '/apikeys', '/apikeys/*', '/usageplans', '/usageplans/*', '/account', '/tags/*']
            .map((path) => `arn:${c.partition}:apigateway:${c.region}::${path}`),
        },
        {
          Sid: 'WafOwnWebAcl',
          Effect: 'Allow',
          Action: DEPLOY_WAF_ACTIONS,
          Resource: [
            ...names.map((n) => arn('wafv2', `regional/webacl/${n}/*`)),
            arn('wafv2', 'regional/managedruleset/*/*'),
            `arn:${c.partition}:apigateway:${c.region}::/restapis/*/stages/*`,
          ],
        },
      ],
    },
    {
      suffix: 'observability',
      description: `Log groups, alarms, dashboard, alarm topic, audit trail and bucket of ${env}`,
      statements: [
        { Sid: 'LogsOwnGroups', Effect: 'Allow', Action: DEPLOY_LOGS_ACTIONS, Resource: logGroups },
        { Sid: 'LogDeliveryInRegion', Effect: 'Allow', Action: DEPLOY_LOG_DELIVERY_ACTIONS, Resource: '*', Condition: inRegion(c.region) },
        {
          Sid: 'CloudWatchOwnAlarmsAndDashboard',
          Effect: 'Allow',
          Action: DEPLOY_CLOUDWATCH_ACTIONS,
          Resource: [...named('cloudwatch', 'alarm:'), ...names.map((n) => `arn:${c.partition}:cloudwatch::${c.accountId}:dashboard/${n}`)],
        },
        { Sid: 'SnsOwnTopic', Effect: 'Allow', Action: DEPLOY_SNS_ACTIONS, Resource: [...named('sns', ''), ...names.map((n) => arn('sns', `${n}:*`))] },
        { Sid: 'CloudTrailOwnTrail', Effect: 'Allow', Action: DEPLOY_CLOUDTRAIL_ACTIONS, Resource: named('cloudtrail', 'trail/') },
        {
          Sid: 'S3OwnBuckets',
          Effect: 'Allow',
          Action: DEPLOY_S3_BUCKET_ACTIONS,
          Resource: [`arn:${c.partition}:s3:::${c.prefix}-*-${env}`, `arn:${c.partition}:s3:::${c.prefix}-*-${env}-*`],
        },
        {
          Sid: 'S3EmptyOwnBucketsOnDestroy',
          Effect: 'Allow',
          Action: DEPLOY_S3_OBJECT_ACTIONS,
          Resource: [`arn:${c.partition}:s3:::${c.prefix}-*-${env}/*`, `arn:${c.partition}:s3:::${c.prefix}-*-${env}-*/*`],
        },
      ],
    },
    {
      suffix: 'iam',
      description: `Roles of ${env} (never the CI roles) and passing them to the services that run them`,
      statements: [
        { Sid: 'IamOwnRoles', Effect: 'Allow', Action: DEPLOY_IAM_ROLE_ACTIONS, Resource: names.map((n) => `arn:${c.partition}:iam::${c.accountId}:role/${n}`) },
        { Sid: 'IamOwnPolicies', Effect: 'Allow', Action: DEPLOY_IAM_POLICY_ACTIONS, Resource: names.map((n) => `arn:${c.partition}:iam::${c.accountId}:policy/${n}`) },
        {
          Sid: 'PassOwnRolesToPipelineServices',
          Effect: 'Allow',
          Action: ['iam:PassRole'],
          Resource: names.map((n) => `arn:${c.partition}:iam::${c.accountId}:role/${n}`),
          Condition: { StringEquals: { 'iam:PassedToService': PASS_ROLE_SERVICES } },
        },
        {
          Sid: 'ServiceLinkedRoles',
          Effect: 'Allow',
          Action: ['iam:CreateServiceLinkedRole'],
          Resource: `arn:${c.partition}:iam::${c.accountId}:role/aws-service-role/*`,
          Condition: { StringEquals: { 'iam:AWSServiceName': SERVICE_LINKED_ROLE_SERVICES } },
        },
        {
          Sid: 'NeverTheCiRolesOrProvider',
          Effect: 'Deny',
          Action: PROTECTED_IAM_ACTIONS,
          Resource: [
            `arn:${c.partition}:iam::${c.accountId}:role/${c.prefix}-ci-*`,
            `arn:${c.partition}:iam::${c.accountId}:oidc-provider/${GITHUB_OIDC_HOST}`,
          ],
        },
        {
          Sid: 'NeverTheStateBackend',
          Effect: 'Deny',
          Action: PROTECTED_STATE_ACTIONS,
          Resource: [stateBucketArn, c.state.lockTableArn, c.state.keyArn],
        },
      ],
    },
  ];
}
