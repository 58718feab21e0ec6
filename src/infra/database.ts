import { Construct } from 'constructs';
import { PropProblems } from './prop-problems';
import { BackupPlan } from '@cdktf/provider-aws/lib/backup-plan';
import { BackupSelection } from '@cdktf/provider-aws/lib/backup-selection';
import { BackupVault } from '@cdktf/provider-aws/lib/backup-vault';
import { BackupVaultLockConfiguration } from '@cdktf/provider-aws/lib/backup-vault-lock-configuration';
import { BackupVaultPolicy } from '@cdktf/provider-aws/lib/backup-vault-policy';
import { CloudwatchLogGroup } from '@cdktf/provider-aws/lib/cloudwatch-log-group';
import { DataAwsIamPolicyDocument } from '@cdktf/provider-aws/lib/data-aws-iam-policy-document';
import { DbSubnetGroup } from '@cdktf/provider-aws/lib/db-subnet-group';
import { IamRole } from '@cdktf/provider-aws/lib/iam-role';
import { IamRolePolicyAttachment } from '@cdktf/provider-aws/lib/iam-role-policy-attachment';
import { RdsCluster } from '@cdktf/provider-aws/lib/rds-cluster';
import { RdsClusterInstance } from '@cdktf/provider-aws/lib/rds-cluster-instance';
import { RdsClusterParameterGroup } from '@cdktf/provider-aws/lib/rds-cluster-parameter-group';
import { SecretsmanagerSecretRotation } from '@cdktf/provider-aws/lib/secretsmanager-secret-rotation';
import { SecurityGroup } from '@cdktf/provider-aws/lib/security-group';
import { VpcSecurityGroupEgressRule } from '@cdktf/provider-aws/lib/vpc-security-group-egress-rule';
import { VpcSecurityGroupIngressRule } from '@cdktf/provider-aws/lib/vpc-security-group-ingress-rule';
import {
  BACKUP_RETENTION_DAYS_MAX, BACKUP_RETENTION_DAYS_MIN, DB_ACU_MAX, DB_ACU_MIN, DEFAULT_BACKUP_RETENTION_DAYS,
} from './config';

export const POSTGRES_PORT = 5432;
export const DATABASE_NAME = 'vitals';
/** The processor's own database role (created by the migrations; `GRANT rds_iam`). */
export const PROCESSOR_DB_USER = 'vitals_processor';
export const MASTER_USERNAME = 'vitals_admin';

/**
 * Cluster parameters. TLS is mandatory; pgaudit records DDL and role changes, and (object audit)
 * every access to the PHI tables; statement logging covers DDL and slow statements, never bind
 * parameters (they carry PHI); errors are logged terse (no row values).
 */
/** What the vault policy denies every principal: recovery points outlive any credential. */
export const BACKUP_VAULT_DENIED_ACTIONS = [
  'backup:DeleteBackupVault', 'backup:DeleteRecoveryPoint', 'backup:UpdateRecoveryPointLifecycle',
] as const;
/** Vault Lock's grace period before compliance mode becomes immutable (AWS minimum 3 days). */
export const BACKUP_VAULT_LOCK_GRACE_DAYS = 3;

export const CLUSTER_PARAMETERS: ReadonlyArray<{ name: string; value: string; applyMethod: 'immediate' | 'pending-reboot' }> = [
  { name: 'rds.force_ssl', value: '1', applyMethod: 'immediate' },
  { name: 'shared_preload_libraries', value: 'pg_stat_statements,pgaudit', applyMethod: 'pending-reboot' },
  { name: 'pgaudit.log', value: 'ddl,role', applyMethod: 'immediate' },
  { name: 'pgaudit.log_parameter', value: '0', applyMethod: 'immediate' },
  { name: 'pgaudit.log_catalog', value: '0', applyMethod: 'immediate' },
  // Object audit: every read and write of the tables the migration grants to this NOLOGIN role
  // (patients, data_keys, dead_letters: src/db/migrate.ts AUDITED_TABLES), with the session's user.
  { name: 'pgaudit.role', value: 'vitals_auditor', applyMethod: 'immediate' },
  // Errors without DETAIL/CONTEXT: a constraint violation's "Failing row contains (...)" would put
  // device ids, pseudonyms and vitals into the postgresql log group.
  { name: 'log_error_verbosity', value: 'terse', applyMethod: 'immediate' },
  { name: 'log_statement', value: 'ddl', applyMethod: 'immediate' },
  { name: 'log_min_duration_statement', value: '1000', applyMethod: 'immediate' },
  { name: 'log_parameter_max_length', value: '0', applyMethod: 'immediate' },
  { name: 'log_parameter_max_length_on_error', value: '0', applyMethod: 'immediate' },
  { name: 'log_connections', value: '1', applyMethod: 'immediate' },
  { name: 'log_disconnections', value: '1', applyMethod: 'immediate' },
];

export interface DatabaseProps {
  readonly environment: string;
  readonly vpcId: string;
  /** Private subnets in at least two AZs. */
  readonly subnetIds: string[];
  /** Zones for the writer and the reader (the first two are used; they must differ). */
  readonly availabilityZones: readonly string[];
  /** Security group of the only client (the processor); 5432 is opened from it, and to the cluster from it. */
  readonly clientSecurityGroupId: string;
  /** Key for storage, Performance Insights, the master secret and the backup vault. */
  readonly dataKeyArn: string;
  /** Key for the exported PostgreSQL log group. */
  readonly logsKeyArn: string;
  /** @default 365 */
  readonly logRetentionDays?: number;
  /** Aurora PostgreSQL major.minor, 16 or later. @default '16.6' */
  readonly engineVersion?: string;
  /** Serverless v2 minimum ACUs; above 0 so the cluster never pauses. @default 0.5 */
  readonly minCapacityAcu?: number;
  /** @default 16 */
  readonly maxCapacityAcu?: number;
  /** Automated backups and AWS Backup recovery points, 7–35 days. @default 35 (the HIPAA conformance pack's check) */
  readonly backupRetentionDays?: number;
  /** Days between automatic rotations of the RDS-managed master secret. @default 7 */
  readonly masterSecretRotationDays?: number;
  /** Production: deletion protection on, final snapshot kept, backup vault never force-destroyed. @default false */
  readonly production?: boolean;
  /** The backup vault's own key (not the data key): one key's loss cannot take database and backups. */
  readonly backupKeyArn: string;
  /**
   * AWS Backup Vault Lock in compliance mode (after a 3-day grace period nobody can shorten retention,
   * delete recovery points early or remove the lock). @default false
   */
  readonly backupVaultLock?: boolean;
  /** Account of the confused-deputy guards on the service roles' trust policies. */
  readonly accountId: string;
}

/**
 * Aurora PostgreSQL Serverless v2: a writer and a reader in different AZs, encrypted with our key,
 * TLS forced, pgaudit, IAM database authentication, RDS-managed and rotated master secret, logs in
 * an encrypted log group, automated backups plus an AWS Backup plan. The security group admits 5432
 * only from the client security group.
 */
export class Database extends Construct {
  readonly cluster: RdsCluster;
  readonly writer: RdsClusterInstance;
  readonly reader: RdsClusterInstance;
  readonly securityGroup: SecurityGroup;
  readonly logGroup: CloudwatchLogGroup;
  readonly backupVault: BackupVault;
  readonly backupVaultPolicy: BackupVaultPolicy;
  readonly backupPlan: BackupPlan;
  readonly databaseName = DATABASE_NAME;
  readonly port = POSTGRES_PORT;
  readonly processorUser = PROCESSOR_DB_USER;

  constructor(scope: Construct, id: string, props: DatabaseProps) {
    super(scope, id);
    const engineVersion = props.engineVersion ?? '16.6';
    const minAcu = props.minCapacityAcu ?? 0.5;
    const maxAcu = props.maxCapacityAcu ?? 16;
    const backupRetentionDays = props.backupRetentionDays ?? DEFAULT_BACKUP_RETENTION_DAYS;
    const rotationDays = props.masterSecretRotationDays ?? 7;
    const production = props.production ?? false;
    Database.validate({ engineVersion, minAcu, maxAcu, backupRetentionDays, rotationDays, availabilityZones: props.availabilityZones });

    const identifier = `vitals-${props.environment}`;
    const major = engineVersion.split('.')[0];

    this.securityGroup = new SecurityGroup(this, 'SecurityGroup', {
      name: `vitals-db-${props.environment}`,
      description: 'vitals Aurora cluster: PostgreSQL from the processor only',
      vpcId: props.vpcId,
      tags: { Name: `vitals-db-${props.environment}` },
    });
    new VpcSecurityGroupIngressRule(this, 'FromClient', {
      securityGroupId: this.securityGroup.id,
      referencedSecurityGroupId: props.clientSecurityGroupId,
      ipProtocol: 'tcp', fromPort: POSTGRES_PORT, toPort: POSTGRES_PORT,
      description: 'PostgreSQL from processor tasks',
    });
    new VpcSecurityGroupEgressRule(this, 'ClientToDatabase', {
      securityGroupId: props.clientSecurityGroupId,
      referencedSecurityGroupId: this.securityGroup.id,
      ipProtocol: 'tcp', fromPort: POSTGRES_PORT, toPort: POSTGRES_PORT,
      description: 'PostgreSQL to the Aurora cluster',
    });

    const subnetGroup = new DbSubnetGroup(this, 'SubnetGroup', {
      name: identifier,
      description: `vitals ${props.environment}: private subnets`,
      subnetIds: props.subnetIds,
    });
    const parameterGroup = new RdsClusterParameterGroup(this, 'ParameterGroup', {
      name: `${identifier}-aurora-postgresql${major}`,
      family: `aurora-postgresql${major}`,
      description: 'TLS required, pgaudit, no bind parameters in logs',
      parameter: CLUSTER_PARAMETERS.map((p) => ({ ...p })),
    });

    // Created before the cluster so the exported logs land encrypted and expire (RDS would create it bare).
    this.logGroup = new CloudwatchLogGroup(this, 'PostgresqlLogGroup', {
      name: `/aws/rds/cluster/${identifier}/postgresql`,
      kmsKeyId: props.logsKeyArn,
      retentionInDays: props.logRetentionDays ?? 365,
    });

    this.cluster = new RdsCluster(this, 'Cluster', {
      clusterIdentifier: identifier,
      engine: 'aurora-postgresql',
      engineMode: 'provisioned',
      engineVersion,
      databaseName: DATABASE_NAME,
      masterUsername: MASTER_USERNAME,
      manageMasterUserPassword: true,
      masterUserSecretKmsKeyId: props.dataKeyArn,
      storageEncrypted: true,
      kmsKeyId: props.dataKeyArn,
      dbSubnetGroupName: subnetGroup.name,
      vpcSecurityGroupIds: [this.securityGroup.id],
      dbClusterParameterGroupName: parameterGroup.name,
      port: POSTGRES_PORT,
      iamDatabaseAuthenticationEnabled: true,
      enabledCloudwatchLogsExports: ['postgresql'],
      serverlessv2ScalingConfiguration: { minCapacity: minAcu, maxCapacity: maxAcu },
      backupRetentionPeriod: backupRetentionDays,
      preferredBackupWindow: '02:00-03:00',
      preferredMaintenanceWindow: 'sun:03:30-sun:04:30',
      copyTagsToSnapshot: true,
      deletionProtection: production,
      skipFinalSnapshot: !production,
      finalSnapshotIdentifier: production ? `${identifier}-final` : undefined,
      applyImmediately: !production,
      dependsOn: [this.logGroup],
    });

    const monitoringAssume = new DataAwsIamPolicyDocument(this, 'MonitoringAssume', {
      statement: [{
        actions: ['sts:AssumeRole'],
        principals: [{ type: 'Service', identifiers: ['monitoring.rds.amazonaws.com'] }],
        condition: [{ test: 'StringEquals', variable: 'aws:SourceAccount', values: [props.accountId] }],
      }],
    });
    const monitoringRole = new IamRole(this, 'MonitoringRole', { name: `vitals-rds-monitoring-${props.environment}`, assumeRolePolicy: monitoringAssume.json });
    new IamRolePolicyAttachment(this, 'MonitoringPolicy', {
      role: monitoringRole.name,
      policyArn: 'arn:aws:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole',
    });

    const instance = (id: string, az: string, promotionTier: number): RdsClusterInstance => new RdsClusterInstance(this, id, {
      identifier: `${identifier}-${id.toLowerCase()}`,
      clusterIdentifier: this.cluster.id,
      engine: this.cluster.engine,
      engineVersion: this.cluster.engineVersion,
      instanceClass: 'db.serverless',
      availabilityZone: az,
      promotionTier,
      publiclyAccessible: false,
      autoMinorVersionUpgrade: true,
      monitoringInterval: 60,
      monitoringRoleArn: monitoringRole.arn,
      performanceInsightsEnabled: true,
      performanceInsightsKmsKeyId: props.dataKeyArn,
      performanceInsightsRetentionPeriod: 7,
      caCertIdentifier: 'rds-ca-rsa2048-g1',
      copyTagsToSnapshot: true,
      applyImmediately: !production,
    });
    this.writer = instance('Writer', props.availabilityZones[0], 0);
    this.reader = instance('Reader', props.availabilityZones[1], 1);

    // RDS rotates its managed master secret itself (no Lambda); this pins the schedule explicitly.
    new SecretsmanagerSecretRotation(this, 'MasterSecretRotation', {
      secretId: this.masterSecretArn,
      rotationRules: { automaticallyAfterDays: rotationDays },
    });

    this.backupVault = new BackupVault(this, 'BackupVault', {
      name: identifier,
      kmsKeyArn: props.backupKeyArn,
      forceDestroy: !production,
    });
    // Nobody (CI, administrators, root) deletes recovery points, shortens their lifecycle or
    // deletes the vault; AWS Backup's own lifecycle still expires them. Removing this policy is a
    // management event in CloudTrail; Vault Lock (below) makes it moot in production.
    const vaultPolicy = new DataAwsIamPolicyDocument(this, 'BackupVaultPolicyDocument', {
      statement: [{
        sid: 'DenyRecoveryPointDeletion',
        effect: 'Deny',
        principals: [{ type: 'AWS', identifiers: ['*'] }],
        actions: [...BACKUP_VAULT_DENIED_ACTIONS],
        resources: ['*'],
      }],
    });
    this.backupVaultPolicy = new BackupVaultPolicy(this, 'BackupVaultPolicy', { backupVaultName: this.backupVault.name, policy: vaultPolicy.json });
    if (props.backupVaultLock) {
      new BackupVaultLockConfiguration(this, 'BackupVaultLock', {
        backupVaultName: this.backupVault.name,
        minRetentionDays: backupRetentionDays,
        maxRetentionDays: BACKUP_RETENTION_DAYS_MAX,
        changeableForDays: BACKUP_VAULT_LOCK_GRACE_DAYS,
      });
    }
    this.backupPlan = new BackupPlan(this, 'BackupPlan', {
      name: identifier,
      rule: [{
        ruleName: 'daily',
        targetVaultName: this.backupVault.name,
        schedule: 'cron(0 3 * * ? *)',
        startWindow: 60,
        completionWindow: 360,
        lifecycle: { deleteAfter: backupRetentionDays },
      }],
    });
    const backupAssume = new DataAwsIamPolicyDocument(this, 'BackupAssume', {
      statement: [{
        actions: ['sts:AssumeRole'],
        principals: [{ type: 'Service', identifiers: ['backup.amazonaws.com'] }],
        condition: [{ test: 'StringEquals', variable: 'aws:SourceAccount', values: [props.accountId] }],
      }],
    });
    const backupRole = new IamRole(this, 'BackupRole', { name: `vitals-backup-${props.environment}`, assumeRolePolicy: backupAssume.json });
    for (const [id, policy] of [['BackupPolicy', 'AWSBackupServiceRolePolicyForBackup'], ['RestorePolicy', 'AWSBackupServiceRolePolicyForRestores']]) {
      new IamRolePolicyAttachment(this, id, { role: backupRole.name, policyArn: `arn:aws:iam::aws:policy/service-role/${policy}` });
    }
    new BackupSelection(this, 'BackupSelection', {
      name: `${identifier}-aurora`,
      planId: this.backupPlan.id,
      iamRoleArn: backupRole.arn,
      resources: [this.cluster.arn],
    });
  }

  get clusterEndpoint(): string {
    return this.cluster.endpoint;
  }

  get readerEndpoint(): string {
    return this.cluster.readerEndpoint;
  }

  get clusterResourceId(): string {
    return this.cluster.clusterResourceId;
  }

  get clusterIdentifier(): string {
    return this.cluster.clusterIdentifier;
  }

  /** ARN of the RDS-managed, rotated master secret (for the migration task; never for the processor). */
  get masterSecretArn(): string {
    return this.cluster.masterUserSecret.get(0).secretArn;
  }

  get securityGroupId(): string {
    return this.securityGroup.id;
  }

  private static validate(p: { engineVersion: string; minAcu: number; maxAcu: number; backupRetentionDays: number; rotationDays: number; availabilityZones: readonly string[] }): void {
    new PropProblems('Database')
      .check(/^1[6-9]\.\d+$/.test(p.engineVersion), 'engineVersion', 'must be Aurora PostgreSQL 16 or later as major.minor', p.engineVersion)
      .check(p.minAcu >= DB_ACU_MIN && p.minAcu <= DB_ACU_MAX, 'minCapacityAcu', `must be from ${DB_ACU_MIN} to ${DB_ACU_MAX} (above 0: the cluster must never pause)`, p.minAcu)
      .check(p.maxAcu >= p.minAcu && p.maxAcu <= DB_ACU_MAX, 'maxCapacityAcu', `must be from minCapacityAcu (${p.minAcu}) to ${DB_ACU_MAX}`, p.maxAcu)
      .integer('backupRetentionDays', p.backupRetentionDays, BACKUP_RETENTION_DAYS_MIN, BACKUP_RETENTION_DAYS_MAX)
      .integer('masterSecretRotationDays', p.rotationDays, 1, 365)
      .check(p.availabilityZones.length >= 2 && p.availabilityZones[0] !== p.availabilityZones[1], 'availabilityZones', 'must hold two different zones for the writer and the reader', p.availabilityZones)
      .throwIfAny();
  }
}
