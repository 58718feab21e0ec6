import { Testing } from 'cdktf';
import { retentionSettingsFromEnv } from '../../src/db/migrate';
import { BootstrapStack } from '../../src/infra/bootstrap-stack';
import { PipelineStack } from '../../src/infra/pipeline-stack';
import { RegistryStack } from '../../src/infra/registry-stack';
import { SettingsSource } from '../../src/infra/config';
import { SynthJson, ofType, testConfig } from './helpers/synth';

const synth = <T extends BootstrapStack | RegistryStack | PipelineStack>(
  make: (app: ReturnType<typeof Testing.app>, settings: SettingsSource) => T, settings: SettingsSource = {},
): SynthJson => JSON.parse(Testing.synth(make(Testing.app(), settings))) as SynthJson;

const pipeline = (settings: SettingsSource = {}) => synth((app, s) => new PipelineStack(app, testConfig(s)), settings);
const dev = pipeline();

type Statement = { effect?: string; actions?: string[] };

/** Every IAM statement in the stack: policy documents and policies written as literal JSON. */
function allStatements(json: SynthJson): Statement[] {
  const fromDocuments = ofType(json, 'aws_iam_policy_document', 'data').flatMap((d) => (d.statement as Statement[] | undefined) ?? []);
  const fromJson: Statement[] = [];
  for (const resources of Object.values(json.resource ?? {})) {
    for (const resource of Object.values(resources)) {
      for (const field of ['policy', 'assume_role_policy']) {
        const text = resource[field];
        if (typeof text !== 'string' || text.startsWith('${')) continue;
        const parsed = JSON.parse(text) as { Statement?: { Effect: string; Action?: string | string[] }[] };
        for (const s of parsed.Statement ?? []) {
          if (s.Action !== undefined) fromJson.push({ effect: s.Effect, actions: ([] as string[]).concat(s.Action) });
        }
      }
    }
  }
  return [...fromDocuments, ...fromJson];
}

describe('PipelineStack', () => {
  it('keeps state in the S3 backend, encrypted with the state key, locked by DynamoDB and lock files', () => {
    expect(dev.terraform?.backend).toEqual({
      s3: {
        bucket: 'vitals-tfstate-eu-central-2',
        key: 'pipeline/dev/terraform.tfstate',
        region: 'eu-central-2',
        encrypt: true,
        kms_key_id: 'alias/vitals-tfstate',
        dynamodb_table: 'vitals-tfstate-lock',
        use_lockfile: true,
      },
    });
  });

  it('keeps one state per environment', () => {
    expect((pipeline({ ENVIRONMENT: 'qa' }).terraform?.backend as { s3: { key: string } }).s3.key).toBe('pipeline/qa/terraform.tfstate');
  });

  it('targets the configured region, refuses other accounts and tags everything once', () => {
    const [aws] = dev.provider?.aws ?? [];
    expect(aws).toMatchObject({
      region: 'eu-central-2',
      allowed_account_ids: ['${var.account_id}'],
      default_tags: [{ tags: { Project: 'vitals', Environment: 'dev', ManagedBy: 'cdktf', DataClassification: 'PHI' } }],
    });
    expect(pipeline({ AWS_REGION: 'eu-west-1' }).provider?.aws[0].region).toBe('eu-west-1');
  });

  it('takes the account id as a validated 12-digit variable', () => {
    expect(dev.variable?.account_id).toMatchObject({ type: 'string', validation: [{ condition: '${can(regex("^[0-9]{12}$", var.account_id))}' }] });
  });

  it('requires a digest-pinned image from this environment\'s repository, with instructions when missing', () => {
    const [rule] = dev.variable?.processor_image.validation as { condition: string; error_message: string }[];
    expect(rule.condition).toContain('[.]dkr[.]ecr[.]eu-central-2[.]amazonaws[.]com/vitals-processor-dev@sha256:[0-9a-f]{64}$');
    expect(rule.error_message).toMatch(/build and push the processor image first \(scripts\/deploy.sh\), then set TF_VAR_processor_image/);
    expect(dev.variable?.processor_image.default).toBe('');
  });

  it('runs the processor from that image, and from the repository ARN built from account and region', () => {
    expect(JSON.stringify(ofType(dev, 'aws_ecs_task_definition'))).toContain('${var.processor_image}');
    expect(JSON.stringify(dev)).toContain('arn:aws:ecr:eu-central-2:${var.account_id}:repository/vitals-processor-dev');
  });

  it('tells the migration task the stream\'s configured retention (the dedupe horizon must outlast it)', () => {
    const migration = (json: SynthJson) => {
      const td = ofType(json, 'aws_ecs_task_definition').find((t) => t.family === 'vitals-migrate-dev');
      const [container] = JSON.parse(String(td?.container_definitions)) as { environment: { name: string; value: string }[] }[];
      return Object.fromEntries(container.environment.map((e) => [e.name, e.value]));
    };
    const configured = pipeline({ STREAM_RETENTION_HOURS: '720' });
    expect(ofType(configured, 'aws_kinesis_stream')[0].retention_period).toBe(720);
    expect(migration(configured).STREAM_RETENTION_HOURS).toBe('720');
    expect(migration(dev).EVENT_ID_RETENTION_DAYS).toBe('35');
    const year = pipeline({ STREAM_RETENTION_HOURS: '8760' });
    // migrate.ts refuses days * 24 <= hours + 24: a year of retention needs a horizon past 366 days.
    expect(Number(migration(year).EVENT_ID_RETENTION_DAYS) * 24).toBeGreaterThan(8760 + 24);
    expect(migration(dev).STREAM_RETENTION_HOURS).toBe(String(ofType(dev, 'aws_kinesis_stream')[0].retention_period));
  });

  it.each(['24', '168', '815', '816', '2160', '8760'])('gives the migration command a dedupe horizon it accepts for a %s-hour stream', (hours) => {
    const td = ofType(pipeline({ STREAM_RETENTION_HOURS: hours }), 'aws_ecs_task_definition').find((t) => t.family === 'vitals-migrate-dev');
    const [container] = JSON.parse(String(td?.container_definitions)) as { environment: { name: string; value: string }[] }[];
    const env = Object.fromEntries(container.environment.map((e) => [e.name, e.value]));
    // The migration command's own validation (src/db/migrate.ts) is the judge.
    expect(() => retentionSettingsFromEnv(env)).not.toThrow();
  });

  it('grants no wildcard action in any Allow statement', () => {
    // VPC endpoint policies grant nothing: they bound what the identity and resource policies grant
    // to calls through the endpoint (this account's principals and resources; network.test.ts).
    const endpointPolicyDocuments = new Set(ofType(dev, 'aws_vpc_endpoint').map((e) => /data\.aws_iam_policy_document\.([^.]+)\.json/.exec(String(e.policy))?.[1]));
    const grants: SynthJson = { ...dev, data: { ...dev.data, aws_iam_policy_document: Object.fromEntries(Object.entries(dev.data?.aws_iam_policy_document ?? {}).filter(([id]) => !endpointPolicyDocuments.has(id))) } };
    expect(endpointPolicyDocuments.size).toBeGreaterThan(1);
    const statements = allStatements(grants);
    expect(statements.length).toBeGreaterThan(20);
    const wildcards = statements.filter((s) => (s.effect ?? 'Allow') === 'Allow').flatMap((s) => s.actions ?? []).filter((a) => a === '*' || a.endsWith(':*'));
    expect(wildcards).toEqual([]);
  });

  it('admits no ingress from 0.0.0.0/0 anywhere', () => {
    const ingress = [
      ...ofType(dev, 'aws_vpc_security_group_ingress_rule'),
      ...ofType(dev, 'aws_security_group_rule').filter((r) => r.type === 'ingress'),
      ...ofType(dev, 'aws_security_group').flatMap((g) => (g.ingress as Record<string, unknown>[] | undefined) ?? []),
    ];
    expect(ingress.length).toBeGreaterThan(0);
    for (const rule of ingress) {
      expect(JSON.stringify(rule)).not.toContain('0.0.0.0/0');
      expect(JSON.stringify(rule)).not.toContain('::/0');
    }
  });

  it('has no NAT or internet gateway and spreads subnets over three AZs', () => {
    expect(ofType(dev, 'aws_nat_gateway')).toEqual([]);
    expect(ofType(dev, 'aws_internet_gateway')).toEqual([]);
    expect(ofType(dev, 'aws_subnet').map((s) => s.availability_zone).sort()).toEqual(['eu-central-2a', 'eu-central-2b', 'eu-central-2c']);
  });

  it('carries the environment suffix in every physical name', () => {
    const qa = pipeline({ ENVIRONMENT: 'qa' });
    const named: string[] = [];
    for (const [type, resources] of Object.entries(qa.resource ?? {})) {
      // Names scoped to a parent that carries the suffix: inline policies (their role), models (their API).
      if (type === 'aws_iam_role_policy' || type === 'aws_api_gateway_model') continue;
      for (const resource of Object.values(resources)) {
        for (const field of ['name', 'bucket', 'cluster_identifier', 'identifier']) {
          const value = resource[field];
          if (typeof value === 'string' && !value.startsWith('${')) named.push(`${type}.${field}=${value}`);
        }
      }
    }
    expect(named.length).toBeGreaterThan(30);
    // API Gateway fixes its execution log group's name: API-Gateway-Execution-Logs_<api id>/<stage>.
    expect(named.filter((n) => !/(-qa\b|\/qa\/|\/qa$)/.test(n))).toEqual([]);
  });

  it('encrypts every log group with the logs key', () => {
    const groups = ofType(dev, 'aws_cloudwatch_log_group');
    expect(groups.length).toBeGreaterThanOrEqual(3);
    for (const group of groups) expect(group.kms_key_id).toMatch(/^\$\{aws_kms_key\.Keys_Logs_Key_\w+\.arn\}$/);
  });

  it('outputs what operators and integration tests need', () => {
    expect(Object.keys(dev.output ?? {})).toEqual(expect.arrayContaining([
      'api_events_url', 'stream_name', 'stream_arn', 'db_cluster_endpoint', 'db_reader_endpoint', 'db_master_secret_arn', 'ecs_cluster_name',
      'ecs_service_name', 'kms_data_key_arn', 'kms_logs_key_arn', 'kms_phi_key_arn', 'kms_patient_hmac_key_arn', 'vpc_id',
      'private_subnet_ids', 'audit_trail_name', 'audit_bucket_name', 'audit_log_group_name', 'processor_log_group_name',
      'ecs_ops_task_definition_arn',
    ]));
  });

  it('protects production data and lets other environments destroy cleanly', () => {
    const prod = pipeline({ ENVIRONMENT: 'prod' });
    expect(ofType(prod, 'aws_rds_cluster')[0]).toMatchObject({ deletion_protection: true, skip_final_snapshot: false });
    expect(ofType(prod, 'aws_s3_bucket').map((b) => b.force_destroy)).toEqual([false, false]);
    expect(ofType(dev, 'aws_rds_cluster')[0]).toMatchObject({ deletion_protection: false, skip_final_snapshot: true });
    expect(ofType(dev, 'aws_s3_bucket').map((b) => b.force_destroy)).toEqual([true, true]);
  });
});

describe('RegistryStack', () => {
  const registry = synth((app, s) => new RegistryStack(app, testConfig(s)));

  it('keeps its state beside the pipeline\'s, under its own key', () => {
    expect(registry.terraform?.backend).toMatchObject({ s3: { key: 'registry/dev/terraform.tfstate', encrypt: true, use_lockfile: true } });
  });

  it('outputs the repository URL to push to', () => {
    expect(Object.keys(registry.output ?? {})).toEqual(expect.arrayContaining(['ecr_repository_url', 'ecr_repository_arn']));
  });
});

describe('BootstrapStack', () => {
  const bootstrap = synth((app, s) => new BootstrapStack(app, testConfig(s)));

  it('keeps its own state locally, outside cdktf.out', () => {
    expect(bootstrap.terraform?.backend).toEqual({ local: { path: '../../../terraform.state-bootstrap.tfstate' } });
  });

  it('outputs the bucket, table and key the other stacks\' backends use', () => {
    expect(Object.keys(bootstrap.output ?? {}).sort()).toEqual(['permissions_boundary_arn_dev', 'permissions_boundary_arn_prod', 'state_bucket_name', 'state_key_alias', 'state_key_arn', 'state_lock_table_name']);
  });
});

describe('production protections follow NON_PRODUCTION_ENVIRONMENTS, not the name prod', () => {
  it('gives a staging environment the audit Object Lock (COMPLIANCE) and a locked backup vault, and dev neither', () => {
    const staging = pipeline({ ENVIRONMENT: 'staging' });
    expect(ofType(staging, 'aws_s3_bucket_object_lock_configuration')).toEqual([
      expect.objectContaining({ rule: { default_retention: { mode: 'COMPLIANCE', days: 365 } } }),
    ]);
    expect(ofType(staging, 'aws_backup_vault_lock_configuration')).toHaveLength(1);
    expect(ofType(staging, 'aws_rds_cluster')[0]).toMatchObject({ deletion_protection: true });
    const dev = pipeline({ ENVIRONMENT: 'dev' });
    expect(ofType(dev, 'aws_s3_bucket_object_lock_configuration')).toEqual([]);
    expect(ofType(dev, 'aws_backup_vault_lock_configuration')).toEqual([]);
    expect(ofType(dev, 'aws_backup_vault_policy')).toHaveLength(1);
  });
});
