import { AUDIT_ROLE, AUDITED_TABLES } from '../../src/db/migrate';
import { BackupVault } from '@cdktf/provider-aws/lib/backup-vault';
import { RdsCluster } from '@cdktf/provider-aws/lib/rds-cluster';
import { RdsClusterParameterGroup } from '@cdktf/provider-aws/lib/rds-cluster-parameter-group';
import { SecretsmanagerSecretRotation } from '@cdktf/provider-aws/lib/secretsmanager-secret-rotation';
import { Database, DatabaseProps } from '../../src/infra/database';
import { KEY_ARN, ofType, synthConstruct } from './helpers/synth';

const AZS = ['eu-central-2a', 'eu-central-2b', 'eu-central-2c'];
const CLIENT_SG = 'sg-0processor';
const database = (props: Partial<DatabaseProps> = {}) => synthConstruct((scope) => new Database(scope, 'Database', {
  environment: 'dev',
  vpcId: 'vpc-0test',
  subnetIds: ['subnet-a', 'subnet-b', 'subnet-c'],
  availabilityZones: AZS,
  clientSecurityGroupId: CLIENT_SG,
  dataKeyArn: KEY_ARN('data'),
  logsKeyArn: KEY_ARN('logs'),
  backupKeyArn: KEY_ARN('backup'),
  accountId: '123456789012',
  ...props,
}));
const cluster = (json: ReturnType<typeof database>) => ofType(json, 'aws_rds_cluster')[0];

describe('Database', () => {
  it('is Aurora PostgreSQL Serverless v2 16.x that never pauses', () => {
    expect(JSON.stringify(database())).toHaveResourceWithProperties(RdsCluster, {
      cluster_identifier: 'vitals-dev',
      engine: 'aurora-postgresql',
      engine_mode: 'provisioned',
      engine_version: '16.6',
      database_name: 'vitals',
      serverlessv2_scaling_configuration: { min_capacity: 0.5, max_capacity: 16 },
    });
  });

  it('encrypts storage with the data key', () => {
    expect(JSON.stringify(database())).toHaveResourceWithProperties(RdsCluster, { storage_encrypted: true, kms_key_id: KEY_ARN('data') });
  });

  it('lets RDS manage the master password in Secrets Manager under the data key, rotated weekly', () => {
    const json = database();
    expect(cluster(json)).toMatchObject({ manage_master_user_password: true, master_user_secret_kms_key_id: KEY_ARN('data') });
    expect(cluster(json).master_password).toBeUndefined();
    expect(JSON.stringify(json)).toHaveResourceWithProperties(SecretsmanagerSecretRotation, { rotation_rules: { automatically_after_days: 7 } });
    expect(ofType(json, 'aws_secretsmanager_secret_rotation')[0].secret_id).toMatch(/master_user_secret\[0\]\.secret_arn/);
  });

  it('enables IAM database authentication and exports PostgreSQL logs', () => {
    expect(cluster(database())).toMatchObject({ iam_database_authentication_enabled: true, enabled_cloudwatch_logs_exports: ['postgresql'] });
  });

  it('creates the exported log group encrypted and with retention before the cluster', () => {
    const json = database();
    expect(ofType(json, 'aws_cloudwatch_log_group')).toEqual([expect.objectContaining({ name: '/aws/rds/cluster/vitals-dev/postgresql', kms_key_id: KEY_ARN('logs') })]);
    expect(cluster(json).depends_on).toEqual([expect.stringMatching(/aws_cloudwatch_log_group/)]);
  });

  it('forces TLS and loads pgaudit through the cluster parameter group', () => {
    const parameters = ofType(database(), 'aws_rds_cluster_parameter_group')[0].parameter as { name: string; value: string }[];
    const byName = Object.fromEntries(parameters.map((p) => [p.name, p.value]));
    expect(byName['rds.force_ssl']).toBe('1');
    expect(byName.shared_preload_libraries).toContain('pgaudit');
    expect(byName['pgaudit.log']).toBe('ddl,role');
  });

  it('never writes bind parameters (which carry PHI) to the logs', () => {
    const parameters = ofType(database(), 'aws_rds_cluster_parameter_group')[0].parameter as { name: string; value: string }[];
    const byName = Object.fromEntries(parameters.map((p) => [p.name, p.value]));
    expect(byName).toMatchObject({ 'pgaudit.log_parameter': '0', log_parameter_max_length: '0', log_parameter_max_length_on_error: '0' });
  });

  it('logs errors terse, so a constraint violation never logs the failing row', () => {
    const parameters = ofType(database(), 'aws_rds_cluster_parameter_group')[0].parameter as { name: string; value: string }[];
    expect(parameters).toContainEqual(expect.objectContaining({ name: 'log_error_verbosity', value: 'terse' }));
  });

  it('object-audits the PHI tables through the pgaudit role the migration grants them to', () => {
    const parameters = ofType(database(), 'aws_rds_cluster_parameter_group')[0].parameter as { name: string; value: string }[];
    expect(parameters).toContainEqual(expect.objectContaining({ name: 'pgaudit.role', value: AUDIT_ROLE }));
    expect(AUDITED_TABLES).toEqual(['patients', 'data_keys', 'dead_letters']);
  });

  it('uses the parameter group family of the engine major version', () => {
    expect(JSON.stringify(database({ engineVersion: '17.4' }))).toHaveResourceWithProperties(RdsClusterParameterGroup, { family: 'aurora-postgresql17' });
  });

  it('runs a writer and a reader in different AZs, private, with Performance Insights under the data key', () => {
    const instances = ofType(database(), 'aws_rds_cluster_instance');
    expect(instances.map((i) => i.availability_zone).sort()).toEqual(['eu-central-2a', 'eu-central-2b']);
    for (const instance of instances) {
      expect(instance).toMatchObject({
        instance_class: 'db.serverless', publicly_accessible: false, performance_insights_enabled: true, performance_insights_kms_key_id: KEY_ARN('data'),
      });
    }
  });

  it('admits PostgreSQL only from the client security group, and opens the client\'s egress to it', () => {
    const json = database();
    const ingress = ofType(json, 'aws_vpc_security_group_ingress_rule');
    expect(ingress).toEqual([expect.objectContaining({ referenced_security_group_id: CLIENT_SG, from_port: 5432, to_port: 5432 })]);
    expect(ingress[0].cidr_ipv4).toBeUndefined();
    expect(ofType(json, 'aws_vpc_security_group_egress_rule')).toEqual([expect.objectContaining({ security_group_id: CLIENT_SG, from_port: 5432 })]);
  });

  it('keeps backups 35 days by default and covers the cluster with an AWS Backup plan in a vault with its own key', () => {
    const json = database();
    expect(cluster(json).backup_retention_period).toBe(35);
    expect(JSON.stringify(json)).toHaveResourceWithProperties(BackupVault, { kms_key_arn: KEY_ARN('backup'), force_destroy: true });
    const [selection] = ofType(json, 'aws_backup_selection');
    expect(selection.resources).toEqual([expect.stringMatching(/aws_rds_cluster\.Database_Cluster.*\.arn/)]);
  });

  it('skips the final snapshot and deletion protection outside production', () => {
    expect(cluster(database())).toMatchObject({ deletion_protection: false, skip_final_snapshot: true, copy_tags_to_snapshot: true });
  });

  it('protects production: deletion protection, a final snapshot, a vault that is never force-destroyed', () => {
    const json = database({ production: true });
    expect(cluster(json)).toMatchObject({ deletion_protection: true, skip_final_snapshot: false, final_snapshot_identifier: 'vitals-dev-final' });
    expect(JSON.stringify(json)).toHaveResourceWithProperties(BackupVault, { force_destroy: false });
  });

  it('denies every principal deleting recovery points, shortening their lifecycle or deleting the vault', () => {
    const json = database();
    expect(ofType(json, 'aws_backup_vault_policy')).toHaveLength(1);
    const docs = ofType(json, 'aws_iam_policy_document', 'data') as Array<{ statement: Array<{ sid?: string; effect?: string; principals?: unknown; actions?: string[] }> }>;
    const deny = docs.flatMap((d) => d.statement).find((st) => st.sid === 'DenyRecoveryPointDeletion');
    expect(deny).toMatchObject({
      effect: 'Deny',
      principals: [{ type: 'AWS', identifiers: ['*'] }],
      actions: ['backup:DeleteBackupVault', 'backup:DeleteRecoveryPoint', 'backup:UpdateRecoveryPointLifecycle'],
    });
  });

  it('locks the vault in compliance mode only when asked (production default), retention between the setting and 35 days', () => {
    expect(ofType(database(), 'aws_backup_vault_lock_configuration')).toEqual([]);
    expect(ofType(database({ backupVaultLock: true, backupRetentionDays: 21 }), 'aws_backup_vault_lock_configuration')).toEqual([
      expect.objectContaining({ min_retention_days: 21, max_retention_days: 35, changeable_for_days: 3 }),
    ]);
  });

  it('lets only AWS Backup and RDS monitoring acting for this account assume their roles', () => {
    const docs = ofType(database(), 'aws_iam_policy_document', 'data') as Array<{ statement: Array<{ actions?: string[]; principals?: Array<{ identifiers: string[] }>; condition?: unknown }> }>;
    const trusts = docs.flatMap((d) => d.statement).filter((st) => st.actions?.includes('sts:AssumeRole'));
    expect(trusts.map((t) => t.principals?.[0]?.identifiers[0]).sort()).toEqual(['backup.amazonaws.com', 'monitoring.rds.amazonaws.com']);
    for (const t of trusts) expect(t.condition).toEqual([{ test: 'StringEquals', variable: 'aws:SourceAccount', values: ['123456789012'] }]);
  });

  it('rejects backup retention under 7 days', () => {
    expect(() => database({ backupRetentionDays: 3 })).toThrow(/backupRetentionDays must be an integer from 7 to 35; received 3/);
  });

  it('rejects a minimum capacity of 0 (auto-pause)', () => {
    expect(() => database({ minCapacityAcu: 0 })).toThrow(/minCapacityAcu must be from 0.5 to 256 .*received 0/);
  });

  it('rejects a maximum capacity below the minimum', () => {
    expect(() => database({ minCapacityAcu: 4, maxCapacityAcu: 2 })).toThrow(/maxCapacityAcu must be from minCapacityAcu \(4\)/);
  });

  it('rejects an engine before PostgreSQL 16', () => {
    expect(() => database({ engineVersion: '15.7' })).toThrow(/engineVersion must be Aurora PostgreSQL 16 or later/);
  });

  it('rejects the writer and reader sharing an AZ', () => {
    expect(() => database({ availabilityZones: ['eu-central-2a', 'eu-central-2a'] })).toThrow(/two different zones/);
  });

  it('rejects a master secret rotation outside 1 to 365 days', () => {
    expect(() => database({ masterSecretRotationDays: 0 })).toThrow(/masterSecretRotationDays must be an integer from 1 to 365/);
  });
});
