/**
 * GitHub Actions → AWS without long-lived keys: the GitHub OIDC identity provider and the roles the
 * workflow (.github/workflows/infra.yml) assumes with `aws-actions/configure-aws-credentials`.
 *
 * - `vitals-ci-diff`: assumable only from pull requests of one repository. Read-only: it reads the
 *   state of the registry and pipeline stacks of non-production environments and takes their locks (a plan locks state), uses the
 *   state key only through S3 and DynamoDB, and may describe what `terraform plan` refreshes. It
 *   cannot read stream records, secret values or log events.
 * - `vitals-ci-deploy-<env>`: one per environment, assumable only by a job running in the GitHub
 *   environment of the same name (whose protection rules require a reviewer). Deploying this stack
 *   creates VPCs, keys, streams, databases, services, APIs, trails and IAM roles, so this role is
 *   broad by necessity. It is scoped where AWS allows: resource names `vitals-*-<env>` (so a dev role
 *   cannot touch prod), the `Environment` tag where ids are random (API Gateway, EC2, backup plans,
 *   keys, execution log groups; `aws:RequestTag` on creation), role passing by receiving service.
 *   Roles are created and changed only with the environment's permissions boundary
 *   (src/infra/permissions-boundary.ts), managed policies never (its own are managed policies), so it
 *   cannot mint a role stronger than the boundary or rewrite itself. Explicit denies keep it away from
 *   the bootstrap (state bucket, lock table, state key), the CI roles, the boundaries and, in
 *   production, from erasing the audit trail, keys, log groups and backups. What remains region-scoped
 *   is listed in docs/runbook.md ("Deploy roles, the permissions boundary and break-glass"); the
 *   boundary is proven by __tests__/infra/policy-simulation.test.ts.
 *
 * The lists are derived from the resources the stacks declare; when a deploy fails with
 * AccessDenied, the message names the action: add it to the matching list below.
 */
import { PropProblems } from './prop-problems';
import { boundaryPolicyArn } from './permissions-boundary';
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
  /** The state bucket's access-log bucket (denied like the state bucket). @default none */
  readonly accessLogBucketName?: string;
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
  /**
   * Environments holding PHI. Their deploy roles may not erase or blind the audit trail, keys, log
   * groups or backups (break-glass in docs/runbook.md), and the pull-request diff role cannot read
   * their state (their plan is shown by the deploy job, behind the environment's reviewers).
   * @default []
   */
  readonly productionEnvironments?: readonly string[];
}

// ---- Read-only access for `terraform plan` (refresh) ------------------------------------------
// Configuration reads only: no kinesis:GetRecords, secretsmanager:GetSecretValue, logs:GetLogEvents,
// s3:GetObject outside the state, kms:Decrypt outside the state key.

/** Regional describe/list calls (most support no resource-level scoping). */
export const PLAN_READ_ACTIONS: readonly string[] = [
  'ec2:Describe*',
  'kinesis:DescribeLimits', 'kinesis:DescribeStream', 'kinesis:DescribeStreamSummary', 'kinesis:DescribeStreamConsumer', 'kinesis:ListShards',
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
  'events:DescribeEventBus', 'events:DescribeRule', 'events:ListTargetsByRule', 'events:DescribeArchive', 'events:ListTagsForResource',
  'sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:ListQueueTags',
  'apigateway:GET',
  'wafv2:GetWebACL', 'wafv2:GetWebACLForResource', 'wafv2:GetLoggingConfiguration', 'wafv2:ListTagsForResource', 'wafv2:ListResourcesForWebACL',
  'cloudtrail:DescribeTrails', 'cloudtrail:GetTrail', 'cloudtrail:GetTrailStatus', 'cloudtrail:GetEventSelectors',
  'cloudtrail:GetInsightSelectors', 'cloudtrail:ListTags',
  'backup:DescribeBackupVault', 'backup:GetBackupPlan', 'backup:GetBackupSelection', 'backup:GetBackupVaultAccessPolicy',
  'backup:GetBackupVaultNotifications', 'backup:ListTags',
  'application-autoscaling:DescribeScalableTargets', 'application-autoscaling:DescribeScalingPolicies',
  'application-autoscaling:ListTagsForResource',
  'elasticloadbalancing:Describe*',
];

/** IAM is global: role and policy reads for the roles the stacks declare. */
export const PLAN_READ_IAM_ACTIONS: readonly string[] = [
  'iam:GetRole', 'iam:GetRolePolicy', 'iam:ListRolePolicies', 'iam:ListAttachedRolePolicies', 'iam:ListRoleTags',
  'iam:GetPolicy', 'iam:GetPolicyVersion', 'iam:ListPolicyVersions', 'iam:GetOpenIDConnectProvider', 'iam:ListInstanceProfilesForRole',
];

/** Bucket configuration reads (audit bucket); never object reads. */
export const PLAN_READ_S3_BUCKET_ACTIONS: readonly string[] = [
  's3:GetBucket*', 's3:GetEncryptionConfiguration', 's3:GetLifecycleConfiguration', 's3:GetReplicationConfiguration',
  's3:GetAccelerateConfiguration', 's3:GetIntelligentTieringConfiguration', 's3:ListBucket',
];

// ---- State access ------------------------------------------------------------------------------
/** Item calls on the lock table, limited to this role's lock keys (dynamodb:LeadingKeys). */
export const STATE_LOCK_TABLE_ACTIONS: readonly string[] = ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:DeleteItem'];
/** Through S3 and DynamoDB only (kms:ViaService). */
export const STATE_KEY_ACTIONS: readonly string[] = ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey', 'kms:DescribeKey'];

// ---- Deploy: create, change, delete ------------------------------------------------------------
/** EC2 creations: the new resource must carry this environment's tag (aws:RequestTag), its parents already do. */
export const DEPLOY_EC2_NEW_RESOURCE_ACTIONS: readonly string[] = [
  'ec2:CreateSubnet', 'ec2:CreateRouteTable', 'ec2:CreateSecurityGroup', 'ec2:CreateVpcEndpoint', 'ec2:CreateFlowLogs',
  'ec2:AuthorizeSecurityGroupIngress', 'ec2:AuthorizeSecurityGroupEgress',
];
/** Resource types an EC2 creation brings into being (never `vpc`: a subnet's parent VPC must already be this environment's). */
export const EC2_NEW_RESOURCE_TYPES: readonly string[] = ['subnet', 'route-table', 'security-group', 'security-group-rule', 'vpc-endpoint', 'vpc-flow-log'];
/** Every EC2 change, on resources tagged with this environment. */
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
  'kinesis:StopStreamEncryption', 'kinesis:UpdateShardCount', 'kinesis:UpdateStreamMode', 'kinesis:PutResourcePolicy', 'kinesis:DeleteResourcePolicy', 'kinesis:TagResource',
  'kinesis:UntagResource',
];
/** Shard-level metrics: IAM authorises these on "*" only (no stream resource type). */
export const DEPLOY_KINESIS_UNSCOPED_ACTIONS: readonly string[] = ['kinesis:EnableEnhancedMonitoring', 'kinesis:DisableEnhancedMonitoring'];
/** The internal load balancers of the HL7 gateway and the FHIR API (names `vitals-*-<env>`). */
export const DEPLOY_ELB_ACTIONS: readonly string[] = [
  'elasticloadbalancing:CreateLoadBalancer', 'elasticloadbalancing:DeleteLoadBalancer', 'elasticloadbalancing:ModifyLoadBalancerAttributes',
  'elasticloadbalancing:SetSecurityGroups', 'elasticloadbalancing:SetSubnets', 'elasticloadbalancing:CreateTargetGroup',
  'elasticloadbalancing:DeleteTargetGroup', 'elasticloadbalancing:ModifyTargetGroup', 'elasticloadbalancing:ModifyTargetGroupAttributes',
  'elasticloadbalancing:CreateListener', 'elasticloadbalancing:DeleteListener', 'elasticloadbalancing:ModifyListener',
  'elasticloadbalancing:ModifyListenerAttributes', 'elasticloadbalancing:AddTags', 'elasticloadbalancing:RemoveTags',
];
/** The HL7 gateway's PrivateLink endpoint service. */
export const DEPLOY_EC2_ENDPOINT_SERVICE_ACTIONS: readonly string[] = [
  'ec2:ModifyVpcEndpointServiceConfiguration', 'ec2:ModifyVpcEndpointServicePermissions', 'ec2:DeleteVpcEndpointServiceConfigurations',
  'ec2:AcceptVpcEndpointConnections', 'ec2:RejectVpcEndpointConnections',
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
export const KMS_VIA_SERVICES: readonly string[] = ['rds', 'secretsmanager', 'kinesis', 'ecr', 'backup', 'logs', 'sns', 'sqs', 'events'];
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
export const DEPLOY_BACKUP_VAULT_ACTIONS: readonly string[] = [
  'backup:CreateBackupVault', 'backup:DeleteBackupVault', 'backup:PutBackupVaultAccessPolicy', 'backup:DeleteBackupVaultAccessPolicy',
  'backup:PutBackupVaultLockConfiguration', 'backup:PutBackupVaultNotifications', 'backup:DeleteBackupVaultNotifications',
  'backup:TagResource', 'backup:UntagResource',
];
export const DEPLOY_BACKUP_PLAN_ACTIONS: readonly string[] = [
  'backup:CreateBackupPlan', 'backup:UpdateBackupPlan', 'backup:DeleteBackupPlan', 'backup:CreateBackupSelection',
  'backup:DeleteBackupSelection', 'backup:TagResource', 'backup:UntagResource',
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
/** The alert bus, its rules, targets and archive (src/infra/alert-delivery.ts). */
export const DEPLOY_EVENTS_ACTIONS: readonly string[] = [
  'events:CreateEventBus', 'events:UpdateEventBus', 'events:DeleteEventBus', 'events:PutRule', 'events:DeleteRule',
  'events:EnableRule', 'events:DisableRule', 'events:PutTargets', 'events:RemoveTargets', 'events:CreateArchive',
  'events:UpdateArchive', 'events:DeleteArchive', 'events:TagResource', 'events:UntagResource',
];
/** The alert bus's dead-letter queue. */
export const DEPLOY_SQS_ACTIONS: readonly string[] = [
  'sqs:CreateQueue', 'sqs:DeleteQueue', 'sqs:SetQueueAttributes', 'sqs:TagQueue', 'sqs:UntagQueue',
];
/**
 * API Gateway authorises by HTTP verb on resource paths; ids are random, so the Environment tag is the
 * scope (child resources of a REST API, usage plan or key inherit its tags for authorisation).
 */
export const DEPLOY_APIGATEWAY_ACTIONS: readonly string[] = [
  'apigateway:POST', 'apigateway:PUT', 'apigateway:PATCH', 'apigateway:DELETE', 'apigateway:SetWebACL',
  // Setting or changing a REST API's resource policy (aws_api_gateway_rest_api_policy) also needs this.
  'apigateway:UpdateRestApiPolicy',
];
export const DEPLOY_WAF_ACTIONS: readonly string[] = [
  'wafv2:CreateWebACL', 'wafv2:UpdateWebACL', 'wafv2:DeleteWebACL', 'wafv2:AssociateWebACL', 'wafv2:DisassociateWebACL',
  'wafv2:PutLoggingConfiguration', 'wafv2:DeleteLoggingConfiguration', 'wafv2:TagResource', 'wafv2:UntagResource',
];
export const DEPLOY_CLOUDTRAIL_ACTIONS: readonly string[] = [
  'cloudtrail:CreateTrail', 'cloudtrail:UpdateTrail', 'cloudtrail:DeleteTrail', 'cloudtrail:StartLogging',
  'cloudtrail:PutEventSelectors', 'cloudtrail:PutInsightSelectors', 'cloudtrail:AddTags',
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
/** Role changes that add or remove permissions: only on roles carrying the environment's boundary (iam:PermissionsBoundary). */
export const DEPLOY_IAM_BOUNDED_ROLE_ACTIONS: readonly string[] = [
  'iam:CreateRole', 'iam:PutRolePermissionsBoundary', 'iam:PutRolePolicy', 'iam:DeleteRolePolicy',
];
/** Managed-policy attachments: boundary required, and only the AWS managed policies the stacks attach. */
export const DEPLOY_IAM_ATTACH_ACTIONS: readonly string[] = ['iam:AttachRolePolicy', 'iam:DetachRolePolicy'];
/** Role changes that grant nothing (the boundary caps whatever the role is given). */
export const DEPLOY_IAM_ROLE_METADATA_ACTIONS: readonly string[] = [
  'iam:DeleteRole', 'iam:UpdateRole', 'iam:UpdateRoleDescription', 'iam:UpdateAssumeRolePolicy', 'iam:TagRole', 'iam:UntagRole',
];
export const DEPLOY_IAM_ROLE_ACTIONS: readonly string[] = [...DEPLOY_IAM_BOUNDED_ROLE_ACTIONS, ...DEPLOY_IAM_ATTACH_ACTIONS, ...DEPLOY_IAM_ROLE_METADATA_ACTIONS];
/**
 * Managed-policy changes: never. The stacks create no managed policy; the deploy role's own policies
 * and the boundaries are managed policies, so one CreatePolicyVersion --set-as-default would be admin.
 */
export const DENIED_IAM_POLICY_ACTIONS: readonly string[] = [
  'iam:CreatePolicy', 'iam:DeletePolicy', 'iam:CreatePolicyVersion', 'iam:DeletePolicyVersion', 'iam:SetDefaultPolicyVersion',
  'iam:TagPolicy', 'iam:UntagPolicy',
];
/** AWS managed policies the stacks attach to their service roles (RDS monitoring, AWS Backup, API Gateway logging). */
export const ATTACHABLE_MANAGED_POLICIES: readonly string[] = [
  'service-role/AmazonRDSEnhancedMonitoringRole', 'service-role/AWSBackupServiceRolePolicyForBackup',
  'service-role/AWSBackupServiceRolePolicyForRestores', 'service-role/AmazonAPIGatewayPushToCloudWatchLogs',
];
/**
 * Production only: erasing or blinding the audit trail, its log group, the keys and the backups.
 * These change rarely and only through break-glass (docs/runbook.md); a dev deploy role keeps them
 * so a non-production environment can be destroyed.
 */
export const PRODUCTION_DENIED_ACTIONS: readonly string[] = [
  'cloudtrail:DeleteTrail', 'cloudtrail:UpdateTrail', 'cloudtrail:PutInsightSelectors',
  'kms:ScheduleKeyDeletion', 'kms:PutKeyPolicy', 'kms:DisableKey', 'kms:DisableKeyRotation',
  'logs:DeleteLogGroup', 'logs:DeleteRetentionPolicy', 'logs:DisassociateKmsKey',
  'backup:DeleteBackupVault', 'backup:DeleteBackupVaultAccessPolicy', 'backup:DeleteBackupVaultLockConfiguration',
  'backup:DeleteBackupPlan', 'backup:DeleteBackupSelection',
  's3:DeleteBucket', 's3:DeleteBucketPolicy',
  'rds:DeleteDBCluster', 'rds:DeleteDBInstance', 'kinesis:DeleteStream',
];
/*
 * Not denied in production because creating the resource calls them (the rehearsal's apply record):
 * logs:PutRetentionPolicy, cloudtrail:PutEventSelectors, s3:PutBucketVersioning and
 * s3:PutLifecycleConfiguration. Object Lock keeps audit objects whatever the lifecycle says and
 * versioning cannot be suspended on a locked bucket; retention and event-selector changes are
 * residual (docs/runbook.md).
 */
/** Never, in any environment: stopping the trail, erasing audit objects or recovery points. */
export const ALWAYS_DENIED_TAMPER_ACTIONS: readonly string[] = [
  'cloudtrail:StopLogging', 'backup:DeleteRecoveryPoint', 'backup:UpdateRecoveryPointLifecycle', 's3:BypassGovernanceRetention',
  's3:PutObjectRetention', 's3:PutObjectLegalHold',
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
  ...DEPLOY_IAM_ROLE_ACTIONS, 'iam:DeleteRolePermissionsBoundary', 'iam:DeleteOpenIDConnectProvider', 'iam:UpdateOpenIDConnectProviderThumbprint',
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

    const productionEnvironments = props.productionEnvironments ?? [];
    const ctx: PolicyContext = { partition, accountId, region, prefix, tagKey, state: props.state, repository: props.repository, productionEnvironments };
    const read = policy(planReadPolicy(ctx), `${prefix}-ci-plan-read`);
    // Pull requests run before review: they plan non-production environments only (prod's plan is the
    // deploy job's, behind the environment's reviewers).
    const diffEnvironments = props.environments.filter((e) => !productionEnvironments.includes(e));
    const diffState = diffEnvironments.length > 0 ? [policy(stateAccessPolicy(ctx, diffEnvironments, false), `${prefix}-ci-diff-state`)] : [];
    this.diffRole = role('DiffRole', `${prefix}-ci-diff`, `cdktf diff from pull requests of ${props.repository} (read-only)`, pullRequestSubject(props.repository), [read, ...diffState]);

    const deployRoles: Record<string, IamRole> = {};
    for (const env of props.environments) {
      const specs = deployPolicies(ctx, env);
      const attached = [read, policy(stateAccessPolicy(ctx, [env], true), `${prefix}-ci-deploy-state-${env}`), ...specs.map((s) => policy(s, `${prefix}-ci-deploy-${s.suffix}-${env}`))];
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
  readonly productionEnvironments: readonly string[];
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
function stateAccessPolicy(c: PolicyContext, envs: readonly string[], write: boolean): PolicySpec {
  const prefixes = c.state.stackPrefixes ?? ['registry', 'pipeline'];
  const bucketArn = `arn:${c.partition}:s3:::${c.state.bucketName}`;
  const paths = prefixes.flatMap((p) => envs.map((env) => `${p}/${env}/`));
  const objects = paths.map((p) => `${bucketArn}/${p}*`);
  const locks = paths.map((p) => `${bucketArn}/${p}*.tflock`);
  const lockKeys = paths.map((p) => `${c.state.bucketName}/${p}*`);
  const statements: Statement[] = [
    { Sid: 'ListStatePrefixes', Effect: 'Allow', Action: ['s3:ListBucket'], Resource: bucketArn, Condition: { StringLike: { 's3:prefix': paths.map((p) => `${p}*`) } } },
    { Sid: 'ReadState', Effect: 'Allow', Action: ['s3:GetObject'], Resource: objects },
    { Sid: 'S3LockFiles', Effect: 'Allow', Action: ['s3:PutObject', 's3:DeleteObject'], Resource: locks },
    ...(write ? [{ Sid: 'WriteState', Effect: 'Allow' as const, Action: ['s3:PutObject'], Resource: objects }] : []),
    // DescribeTable has no item keys: a LeadingKeys condition on it would be vacuous (ForAllValues over none).
    { Sid: 'DescribeLockTable', Effect: 'Allow', Action: ['dynamodb:DescribeTable'], Resource: c.state.lockTableArn },
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
  return { suffix: 'state', description: write ? `Read and write ${envs.join(', ')} state, take its locks` : `Read registry and pipeline state of ${envs.join(', ') || 'no environment'}, take their locks`, statements };
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
  const requestTagged = { StringEquals: { [`aws:RequestTag/${c.tagKey}`]: env, 'aws:RequestedRegion': c.region } };
  const production = c.productionEnvironments.includes(env);
  const boundary = boundaryPolicyArn(c.partition, c.accountId, c.prefix, env);
  const roleArns = names.map((n) => `arn:${c.partition}:iam::${c.accountId}:role/${n}`);
  const untaggedGettingOwnTag = {
    StringEquals: { [`aws:RequestTag/${c.tagKey}`]: env, 'aws:RequestedRegion': c.region },
    Null: { [`aws:ResourceTag/${c.tagKey}`]: 'true' },
  };
  const logGroups = [
    `/${c.prefix}/${env}/*`, `/ecs/${c.prefix}-*-${env}`, `/aws/rds/cluster/${c.prefix}-${env}/*`,
    `/aws/apigateway/${c.prefix}-*-${env}/*`, `aws-waf-logs-${c.prefix}-*-${env}`,
  ].flatMap((g) => [arn('logs', `log-group:${g}`), arn('logs', `log-group:${g}:*`)]);
  // API Gateway names its execution log group after the (random) API id: scoped by the Environment tag.
  const executionLogGroups = [arn('logs', 'log-group:API-Gateway-Execution-Logs_*'), arn('logs', 'log-group:API-Gateway-Execution-Logs_*:*')];
  const apiGateway = (paths: readonly string[]): string[] => paths.map((path) => `arn:${c.partition}:apigateway:${c.region}::${path}`);
  const rdsSecrets = arn('secretsmanager', 'secret:rds!cluster-*');
  const ownClusterArns = names.map((n) => arn('rds', `cluster:${n}`));
  const stateBucketArn = `arn:${c.partition}:s3:::${c.state.bucketName}`;

  return [
    {
      suffix: 'network',
      description: `VPC, subnets, security groups, endpoints, flow logs of ${env}`,
      statements: [
        { Sid: 'Ec2CreateVpcWithOwnTag', Effect: 'Allow', Action: ['ec2:CreateVpc'], Resource: arn('ec2', 'vpc/*'), Condition: requestTagged },
        { Sid: 'Ec2CreateWithOwnTag', Effect: 'Allow', Action: DEPLOY_EC2_NEW_RESOURCE_ACTIONS, Resource: EC2_NEW_RESOURCE_TYPES.map((t) => arn('ec2', `${t}/*`)), Condition: requestTagged },
        { Sid: 'Ec2ChangeOwnEnvironment', Effect: 'Allow', Action: DEPLOY_EC2_CREATE_ACTIONS, Resource: '*', Condition: tagged },
        { Sid: 'Ec2DeleteOwnEnvironment', Effect: 'Allow', Action: DEPLOY_EC2_DELETE_ACTIONS, Resource: '*', Condition: tagged },
        { Sid: 'Ec2CreateEndpointServiceWithOwnTag', Effect: 'Allow', Action: ['ec2:CreateVpcEndpointServiceConfiguration'], Resource: arn('ec2', 'vpc-endpoint-service/*'), Condition: requestTagged },
        { Sid: 'Ec2OwnEndpointService', Effect: 'Allow', Action: DEPLOY_EC2_ENDPOINT_SERVICE_ACTIONS, Resource: arn('ec2', 'vpc-endpoint-service/*'), Condition: tagged },
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
        { Sid: 'KinesisShardMetricsInRegion', Effect: 'Allow', Action: DEPLOY_KINESIS_UNSCOPED_ACTIONS, Resource: '*', Condition: inRegion(c.region) },
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
        // RDS creates, tags and rotates its managed secret with the caller's rights; the secret carries
        // the cluster's ARN as the tag aws:rds:primaryDBClusterArn, so only this environment's cluster's.
        {
          Sid: 'RdsManagedMasterSecretOfOwnCluster',
          Effect: 'Allow',
          Action: DEPLOY_RDS_SECRET_ACTIONS,
          Resource: rdsSecrets,
          Condition: { StringLike: { 'aws:ResourceTag/aws:rds:primaryDBClusterArn': ownClusterArns } },
        },
        {
          Sid: 'RdsCreatesSecretForOwnCluster',
          Effect: 'Allow',
          Action: ['secretsmanager:CreateSecret', 'secretsmanager:TagResource'],
          Resource: rdsSecrets,
          Condition: { StringLike: { 'aws:RequestTag/aws:rds:primaryDBClusterArn': ownClusterArns } },
        },
        { Sid: 'BackupOwnVault', Effect: 'Allow', Action: DEPLOY_BACKUP_VAULT_ACTIONS, Resource: named('backup', 'backup-vault:'), Condition: inRegion(c.region) },
        // AWS Backup mounts the vault's storage with the caller's rights when a vault is created (no resource type).
        { Sid: 'BackupStorage', Effect: 'Allow', Action: ['backup-storage:MountCapsule'], Resource: '*', Condition: inRegion(c.region) },
        { Sid: 'BackupOwnPlans', Effect: 'Allow', Action: DEPLOY_BACKUP_PLAN_ACTIONS, Resource: arn('backup', 'backup-plan:*'), Condition: tagged },
        { Sid: 'BackupCreatePlansWithOwnTag', Effect: 'Allow', Action: ['backup:CreateBackupPlan', 'backup:TagResource'], Resource: arn('backup', 'backup-plan:*'), Condition: requestTagged },
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
        {
          Sid: 'ElbOwnLoadBalancers',
          Effect: 'Allow',
          Action: DEPLOY_ELB_ACTIONS,
          Resource: names.flatMap((n) => [arn('elasticloadbalancing', `loadbalancer/*/${n}/*`), arn('elasticloadbalancing', `targetgroup/${n}/*`), arn('elasticloadbalancing', `listener/*/${n}/*/*`)]),
        },
        { Sid: 'AutoscalingInRegion', Effect: 'Allow', Action: DEPLOY_AUTOSCALING_ACTIONS, Resource: '*', Condition: inRegion(c.region) },
      ],
    },
    {
      suffix: 'edge',
      description: `API Gateway and WAF of ${env}`,
      statements: [
        { Sid: 'ApiGatewayCreateWithOwnTag', Effect: 'Allow', Action: ['apigateway:POST'], Resource: apiGateway(['/restapis', '/apikeys', '/usageplans', '/vpclinks', '/domainnames']), Condition: requestTagged },
        {
          Sid: 'ApiGatewayOwnEnvironment',
          Effect: 'Allow',
          Action: DEPLOY_APIGATEWAY_ACTIONS,
          Resource: apiGateway(['/restapis/*', '/apikeys/*', '/usageplans/*', '/vpclinks/*', '/domainnames/*', '/tags/*']),
          Condition: tagged,
        },
        // The region's API Gateway account settings (the CloudWatch role) are one per account: not
        // taggable. The role it may point to is limited by iam:PassRole to this environment's roles.
        { Sid: 'ApiGatewayAccountSettings', Effect: 'Allow', Action: ['apigateway:PATCH'], Resource: apiGateway(['/account']) },
        {
          Sid: 'WafOwnWebAcl',
          Effect: 'Allow',
          Action: DEPLOY_WAF_ACTIONS,
          Resource: [...names.map((n) => arn('wafv2', `regional/webacl/${n}/*`)), arn('wafv2', 'regional/managedruleset/*/*')],
        },
        // Associating a web ACL also needs apigateway:SetWebACL on the stage (ApiGatewayOwnEnvironment, by tag).
        { Sid: 'WafOwnStages', Effect: 'Allow', Action: ['wafv2:AssociateWebACL', 'wafv2:DisassociateWebACL'], Resource: apiGateway(['/restapis/*/stages/*']), Condition: tagged },
      ],
    },
    {
      suffix: 'observability',
      description: `Log groups, alarms, dashboard, alarm and alert topics, audit trail and bucket of ${env}`,
      statements: [
        { Sid: 'LogsOwnGroups', Effect: 'Allow', Action: DEPLOY_LOGS_ACTIONS, Resource: logGroups },
        { Sid: 'LogsOwnExecutionLogGroups', Effect: 'Allow', Action: DEPLOY_LOGS_ACTIONS.filter((a) => a !== 'logs:CreateLogGroup'), Resource: executionLogGroups, Condition: tagged },
        { Sid: 'LogsCreateExecutionLogGroupsWithOwnTag', Effect: 'Allow', Action: ['logs:CreateLogGroup', 'logs:TagResource', 'logs:TagLogGroup'], Resource: executionLogGroups, Condition: requestTagged },
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
        // A non-production audit bucket is emptied on destroy; a production one never (and Object Lock keeps it).
        ...(production ? [] : [{
          Sid: 'S3EmptyOwnBucketsOnDestroy',
          Effect: 'Allow' as const,
          Action: DEPLOY_S3_OBJECT_ACTIONS,
          Resource: [`arn:${c.partition}:s3:::${c.prefix}-*-${env}/*`, `arn:${c.partition}:s3:::${c.prefix}-*-${env}-*/*`],
        }]),
      ],
    },
    {
      suffix: 'alerts',
      description: `Alert event bus, its rules, targets and archive, and its dead-letter queue of ${env}`,
      statements: [
        // Rules of a custom bus are `rule/<bus>/<rule>`: `rule/vitals-*-<env>` covers the alert bus's.
        { Sid: 'EventsOwnBusRulesArchive', Effect: 'Allow', Action: DEPLOY_EVENTS_ACTIONS, Resource: ['event-bus/', 'rule/', 'archive/'].flatMap((kind) => named('events', kind)) },
        { Sid: 'SqsOwnQueues', Effect: 'Allow', Action: DEPLOY_SQS_ACTIONS, Resource: named('sqs', '') },
      ],
    },
    {
      suffix: 'iam',
      description: `Roles of ${env} (never the CI roles) and passing them to the services that run them`,
      statements: [
        { Sid: 'IamOwnRolesWithBoundary', Effect: 'Allow', Action: DEPLOY_IAM_BOUNDED_ROLE_ACTIONS, Resource: roleArns, Condition: { StringEquals: { 'iam:PermissionsBoundary': boundary } } },
        {
          Sid: 'IamAttachServicePoliciesWithBoundary',
          Effect: 'Allow',
          Action: DEPLOY_IAM_ATTACH_ACTIONS,
          Resource: roleArns,
          Condition: {
            StringEquals: { 'iam:PermissionsBoundary': boundary },
            ArnEquals: { 'iam:PolicyARN': ATTACHABLE_MANAGED_POLICIES.map((p) => `arn:${c.partition}:iam::aws:policy/${p}`) },
          },
        },
        { Sid: 'IamOwnRolesMetadata', Effect: 'Allow', Action: DEPLOY_IAM_ROLE_METADATA_ACTIONS, Resource: roleArns },
        {
          Sid: 'PassOwnRolesToPipelineServices',
          Effect: 'Allow',
          Action: ['iam:PassRole'],
          Resource: roleArns,
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
          Resource: [stateBucketArn, c.state.lockTableArn, c.state.keyArn, ...(c.state.accessLogBucketName ? [`arn:${c.partition}:s3:::${c.state.accessLogBucketName}`] : [])],
        },
        // The deploy role's own policies and the boundaries are managed policies: never changed by CI.
        { Sid: 'NeverManagedPolicies', Effect: 'Deny', Action: DENIED_IAM_POLICY_ACTIONS, Resource: `arn:${c.partition}:iam::${c.accountId}:policy/*` },
        { Sid: 'NeverRemoveABoundary', Effect: 'Deny', Action: ['iam:DeleteRolePermissionsBoundary'], Resource: '*' },
        {
          Sid: 'NeverARoleWithoutTheBoundary',
          Effect: 'Deny',
          Action: [...DEPLOY_IAM_BOUNDED_ROLE_ACTIONS, ...DEPLOY_IAM_ATTACH_ACTIONS],
          Resource: '*',
          Condition: { StringNotEquals: { 'iam:PermissionsBoundary': boundary } },
        },
        // A role trusting the deploy role by ARN needs no Allow here: the explicit Deny stops that path.
        { Sid: 'NeverAssumeOtherRoles', Effect: 'Deny', Action: ['sts:AssumeRole', 'sts:AssumeRoleWithWebIdentity', 'sts:TagSession'], Resource: '*' },
        { Sid: 'NeverTamperWithAudit', Effect: 'Deny', Action: ALWAYS_DENIED_TAMPER_ACTIONS, Resource: '*' },
        ...(production ? [
          { Sid: 'ProductionNeverErases', Effect: 'Deny' as const, Action: PRODUCTION_DENIED_ACTIONS, Resource: '*' },
          // It may write its buckets' policies; an explicit Deny here holds whatever a bucket policy grants it.
          {
            Sid: 'ProductionNeverTouchesAuditObjects',
            Effect: 'Deny' as const,
            Action: ['s3:DeleteObject', 's3:DeleteObjectVersion', 's3:PutObject', 's3:GetObject', 's3:GetObjectVersion'],
            Resource: [`arn:${c.partition}:s3:::${c.prefix}-*-${env}/*`, `arn:${c.partition}:s3:::${c.prefix}-*-${env}-*/*`],
          },
        ] : []),
      ],
    },
  ];
}
