/**
 * Sweeps over whole synthesized stacks: every resource of a kind, not one construct at a time, so a
 * log group, bucket or name added later by any construct is held to the same rules.
 */
import { Testing } from 'cdktf';
import { PipelineStack } from '../../src/infra/pipeline-stack';
import { RegistryStack } from '../../src/infra/registry-stack';
import { SettingsSource } from '../../src/infra/config';
import { SynthJson, ofType, testConfig } from './helpers/synth';

type Resources = Record<string, Record<string, unknown>>;

const pipeline = (settings: SettingsSource = {}): SynthJson =>
  JSON.parse(Testing.synth(new PipelineStack(Testing.app(), testConfig(settings)))) as SynthJson;
const registry = (settings: SettingsSource = {}): SynthJson =>
  JSON.parse(Testing.synth(new RegistryStack(Testing.app(), testConfig(settings)))) as SynthJson;

const dev = pipeline();
const CMK = /^\$\{aws_kms_key\.[A-Za-z0-9_-]+\.arn\}$/;

function resourcesOf(json: SynthJson, type: string): Resources {
  return json.resource?.[type] ?? {};
}

/** Resources of `type` whose `bucket` refers to the given bucket resource. */
function forBucket(json: SynthJson, type: string, bucketId: string): Record<string, unknown>[] {
  return Object.values(resourcesOf(json, type)).filter((r) => r.bucket === `\${aws_s3_bucket.${bucketId}.id}`);
}

describe('encryption and retention sweep over the pipeline stack', () => {
  it('gives every log group a customer-managed key and a retention', () => {
    const groups = Object.entries(resourcesOf(dev, 'aws_cloudwatch_log_group'));
    // flow logs, ECS, API access, API execution, WAF, CloudTrail, RDS postgresql
    expect(groups.length).toBeGreaterThanOrEqual(7);
    const missing = groups
      .filter(([, g]) => !CMK.test(String(g.kms_key_id)) || !(Number(g.retention_in_days) > 0))
      .map(([id]) => id);
    expect(missing).toEqual([]);
  });

  it('keeps every log group at least 365 days except the break-glass output, kept 1 day', () => {
    const groups = Object.values(resourcesOf(dev, 'aws_cloudwatch_log_group'));
    const short = groups.filter((g) => Number(g.retention_in_days) < 365).map((g) => [g.name, g.retention_in_days]);
    expect(short).toEqual([['/vitals/dev/break-glass', 1]]);
  });

  it('gives every bucket SSE-KMS with a customer-managed key (access-log buckets SSE-S3), a full public access block and a TLS-only policy', () => {
    const buckets = Object.keys(resourcesOf(dev, 'aws_s3_bucket'));
    expect(buckets.length).toBeGreaterThanOrEqual(2);
    for (const id of buckets) {
      const [sse] = forBucket(dev, 'aws_s3_bucket_server_side_encryption_configuration', id);
      const rule = (sse?.rule as { apply_server_side_encryption_by_default: { sse_algorithm: string; kms_master_key_id: string } }[])[0];
      if (String(resourcesOf(dev, 'aws_s3_bucket')[id].bucket).startsWith('vitals-access-logs-')) {
        // S3 server access log delivery targets: SSE-S3 (src/infra/secure-bucket.ts, accessLogBucket).
        expect(rule.apply_server_side_encryption_by_default).toEqual({ sse_algorithm: 'AES256' });
      } else {
        expect(rule.apply_server_side_encryption_by_default.sse_algorithm).toBe('aws:kms');
        expect(rule.apply_server_side_encryption_by_default.kms_master_key_id).toMatch(CMK);
      }

      const [block] = forBucket(dev, 'aws_s3_bucket_public_access_block', id);
      expect(block).toMatchObject({ block_public_acls: true, block_public_policy: true, ignore_public_acls: true, restrict_public_buckets: true });

      const [policy] = forBucket(dev, 'aws_s3_bucket_policy', id);
      const doc = /^\$\{data\.aws_iam_policy_document\.([^.]+)\.json\}$/.exec(String(policy?.policy))?.[1] ?? '';
      const statements = (dev.data?.aws_iam_policy_document[doc]?.statement ?? []) as Record<string, unknown>[];
      expect(statements).toContainEqual(expect.objectContaining({
        effect: 'Deny',
        actions: ['s3:*'],
        condition: [{ test: 'Bool', variable: 'aws:SecureTransport', values: ['false'] }],
      }));
    }
  });

  it('logs S3 server access of every bucket but the access-log buckets, into an access-log bucket that admits only S3 log delivery for them', () => {
    const buckets = resourcesOf(dev, 'aws_s3_bucket');
    const isLogBucket = (id: string): boolean => String(buckets[id].bucket).startsWith('vitals-access-logs-');
    const logBuckets = Object.keys(buckets).filter(isLogBucket);
    expect(logBuckets).toHaveLength(1);
    for (const id of Object.keys(buckets).filter((b) => !isLogBucket(b))) {
      expect(forBucket(dev, 'aws_s3_bucket_logging', id)).toEqual([expect.objectContaining({
        target_bucket: `\${aws_s3_bucket.${logBuckets[0]}.bucket}`,
        target_prefix: `${String(buckets[id].bucket)}/`,
      })]);
    }
    // The access-log bucket logs nowhere (its records would land in itself); CloudTrail data events cover it.
    expect(forBucket(dev, 'aws_s3_bucket_logging', logBuckets[0])).toEqual([]);
    const [policy] = forBucket(dev, 'aws_s3_bucket_policy', logBuckets[0]);
    const doc = /^\$\{data\.aws_iam_policy_document\.([^.]+)\.json\}$/.exec(String(policy?.policy))?.[1] ?? '';
    const allows = ((dev.data?.aws_iam_policy_document[doc]?.statement ?? []) as Record<string, unknown>[]).filter((s) => s.effect !== 'Deny');
    expect(allows).toEqual([expect.objectContaining({ principals: [{ type: 'Service', identifiers: ['logging.s3.amazonaws.com'] }], actions: ['s3:PutObject'] })]);
  });

  it('encrypts the stream, database, alarm topic, backup vault and master secret with customer-managed keys', () => {
    const streams = ofType(dev, 'aws_kinesis_stream');
    expect(streams.length).toBe(1);
    for (const s of streams) expect(s).toMatchObject({ encryption_type: 'KMS', kms_key_id: expect.stringMatching(CMK) });

    const clusters = ofType(dev, 'aws_rds_cluster');
    expect(clusters.length).toBe(1);
    for (const c of clusters) {
      expect(c).toMatchObject({
        storage_encrypted: true,
        kms_key_id: expect.stringMatching(CMK),
        manage_master_user_password: true,
        master_user_secret_kms_key_id: expect.stringMatching(CMK),
      });
    }

    const topics = ofType(dev, 'aws_sns_topic');
    expect(topics.length).toBeGreaterThanOrEqual(1);
    for (const t of topics) expect(t.kms_master_key_id).toMatch(CMK);

    const vaults = ofType(dev, 'aws_backup_vault');
    expect(vaults.length).toBe(1);
    for (const v of vaults) expect(v.kms_key_arn).toMatch(CMK);

    // The alert bus and its dead-letter queue (the topics are checked above with every topic).
    const buses = ofType(dev, 'aws_cloudwatch_event_bus');
    expect(buses.length).toBe(1);
    for (const b of buses) expect(b.kms_key_identifier).toMatch(CMK);
    const queues = ofType(dev, 'aws_sqs_queue');
    expect(queues.length).toBeGreaterThanOrEqual(1);
    for (const q of queues) expect(q.kms_master_key_id).toMatch(CMK);

    // Secrets created directly (none today: the master secret is RDS-managed, checked above).
    for (const s of ofType(dev, 'aws_secretsmanager_secret')) expect(s.kms_key_id).toMatch(CMK);
  });

  it('encrypts Fargate ephemeral storage with the data key, whose policy names the cluster', () => {
    const [cluster] = ofType(dev, 'aws_ecs_cluster');
    const config = cluster.configuration as { managed_storage_configuration?: { fargate_ephemeral_storage_kms_key_id?: string } };
    expect(config.managed_storage_configuration?.fargate_ephemeral_storage_kms_key_id).toMatch(/^\$\{aws_kms_key\.Keys_Data_Key_\w+\.arn\}$/);
    const dataKeyPolicy = Object.entries(dev.data?.aws_iam_policy_document ?? {}).find(([id]) => id.startsWith('Keys_Data_Policy'))?.[1];
    const conditions = ((dataKeyPolicy?.statement ?? []) as { condition?: { variable: string; values: string[] }[] }[]).flatMap((s) => s.condition ?? []);
    const named = conditions.filter((c) => c.variable === 'kms:EncryptionContext:aws:ecs:clusterName');
    expect(named.length).toBe(2);
    for (const c of named) expect(c.values).toEqual([cluster.name]);
  });

  it('encrypts the image repository with a customer-managed key', () => {
    const repositories = ofType(registry(), 'aws_ecr_repository');
    expect(repositories.length).toBe(1);
    for (const r of repositories) {
      expect(r.encryption_configuration).toEqual([{ encryption_type: 'KMS', kms_key: expect.stringMatching(CMK) }]);
    }
  });

  it('rotates every encryption key and gives every key its environment\'s deletion window', () => {
    const keys = ofType(dev, 'aws_kms_key');
    // data, logs, phi, dead-letter, backup, patient HMAC, alerts
    expect(keys.length).toBe(7);
    for (const k of keys) {
      if (k.key_usage === 'GENERATE_VERIFY_MAC') expect(k.enable_key_rotation).toBe(false); // AWS cannot rotate HMAC keys
      else expect(k.enable_key_rotation).toBe(true);
      expect(k.deletion_window_in_days).toBe(7);
    }
    for (const k of ofType(pipeline({ ENVIRONMENT: 'prod' }), 'aws_kms_key')) expect(k.deletion_window_in_days).toBe(30);
  });
});

/**
 * Attributes that hold a resource's physical name, and those that merely look like one: AWS's own
 * names (metrics, endpoint services, CA, parameter-group family), the database inside the cluster,
 * human-readable labels, and names scoped to a parent that carries the suffix.
 */
const NAME_FIELD = /^(name|name_prefix|family|identifier|bucket|[a-z_]+_name|[a-z_]+_identifier)$/;
const NOT_PHYSICAL_NAMES = new Set([
  'aws_cloudwatch_metric_alarm.metric_name',
  'aws_vpc_endpoint.service_name',
  'aws_rds_cluster.database_name',
  'aws_rds_cluster_instance.ca_cert_identifier',
  'aws_rds_cluster_parameter_group.family',
  'aws_sns_topic.display_name',
  'aws_iam_role_policy.name',
  'aws_api_gateway_model.name',
]);

function physicalNames(json: SynthJson): string[] {
  const names: string[] = [];
  for (const [type, resources] of Object.entries(json.resource ?? {})) {
    for (const resource of Object.values(resources)) {
      for (const [field, value] of Object.entries(resource)) {
        if (!NAME_FIELD.test(field) || NOT_PHYSICAL_NAMES.has(`${type}.${field}`)) continue;
        if (typeof value === 'string' && !value.startsWith('${')) names.push(`${type}.${field}=${value}`);
      }
    }
  }
  return names;
}

describe.each(['dev', 'qa'])('names in the %s environment', (environment) => {
  // -env at the end or before a separator, /env/ as a path segment, or the stage named env itself.
  const suffixed = new RegExp(`(-${environment}(?![a-z0-9])|/${environment}(/|$)|=${environment}$)`);
  const stacks = { pipeline: pipeline({ ENVIRONMENT: environment }), registry: registry({ ENVIRONMENT: environment }) };

  it.each(Object.keys(stacks) as (keyof typeof stacks)[])('every physical name in the %s stack carries the environment', (stack) => {
    const names = physicalNames(stacks[stack]);
    expect(names.length).toBeGreaterThan(stack === 'pipeline' ? 40 : 1);
    expect(names.filter((n) => !suffixed.test(n))).toEqual([]);
  });
});
