import { KmsAlias } from '@cdktf/provider-aws/lib/kms-alias';
import { KmsKey } from '@cdktf/provider-aws/lib/kms-key';
import { Keys, ManagedKey } from '../../src/infra/keys';
import { ACCOUNT_ID, REGION, allowedActions, ofType, synthConstruct } from './helpers/synth';

const PROCESSOR = `arn:aws:iam::${ACCOUNT_ID}:role/vitals-processor-task-dev`;
const keys = (production = false, extra: { adminArns?: string[]; breakGlassRoleArns?: string[] } = {}) =>
  synthConstruct((scope) => new Keys(scope, 'Keys', { environment: 'dev', region: REGION, accountId: ACCOUNT_ID, production, processorTaskRoleArn: PROCESSOR, ...extra }));

type Statement = { sid?: string; actions?: string[]; principals?: { identifiers: string[] }[]; condition?: { test: string; variable: string; values: string[] }[] };
const statements = (json: ReturnType<typeof keys>): Statement[] =>
  ofType(json, 'aws_iam_policy_document', 'data').flatMap((d) => d.statement as Statement[]);

describe('Keys', () => {
  it('creates six customer-managed keys, each with an alias carrying the environment', () => {
    const json = keys();
    expect(ofType(json, 'aws_kms_key')).toHaveLength(6);
    expect(ofType(json, 'aws_kms_alias').map((a) => a.name).sort()).toEqual([
      'alias/vitals-backup-dev', 'alias/vitals-data-dev', 'alias/vitals-dead-letter-dev', 'alias/vitals-logs-dev', 'alias/vitals-patient-hmac-dev', 'alias/vitals-phi-dev',
    ]);
    expect(JSON.stringify(json)).toHaveResourceWithProperties(KmsAlias, { name: 'alias/vitals-data-dev' });
  });

  it('rotates every symmetric encryption key', () => {
    const symmetric = ofType(keys(), 'aws_kms_key').filter((k) => k.key_usage === 'ENCRYPT_DECRYPT');
    expect(symmetric).toHaveLength(5);
    for (const key of symmetric) expect(key.enable_key_rotation).toBe(true);
  });

  it('makes the patient pseudonym key an HMAC_256 key that is not rotated', () => {
    expect(JSON.stringify(keys())).toHaveResourceWithProperties(KmsKey, {
      key_usage: 'GENERATE_VERIFY_MAC',
      customer_master_key_spec: 'HMAC_256',
      enable_key_rotation: false,
    });
  });

  it('uses a 7-day deletion window outside production and 30 days in production', () => {
    expect(ofType(keys(false), 'aws_kms_key').map((k) => k.deletion_window_in_days)).toEqual([7, 7, 7, 7, 7, 7]);
    expect(ofType(keys(true), 'aws_kms_key').map((k) => k.deletion_window_in_days)).toEqual([30, 30, 30, 30, 30, 30]);
  });

  it('binds CloudWatch Logs to this account\'s log groups through the encryption context', () => {
    const logs = statements(keys()).find((s) => s.sid === 'CloudWatchLogsEncryptsThisAccountsLogGroups');
    expect(logs?.principals?.[0].identifiers).toEqual([`logs.${REGION}.amazonaws.com`]);
    expect(logs?.condition).toEqual([{
      test: 'ArnLike', variable: 'kms:EncryptionContext:aws:logs:arn', values: [`arn:aws:logs:${REGION}:${ACCOUNT_ID}:log-group:*`],
    }]);
  });

  it('lets CloudTrail encrypt only for this account\'s trails and only from the named trail', () => {
    const trail = statements(keys()).find((s) => s.sid === 'CloudTrailEncryptsTrailLogs');
    expect(trail?.condition).toEqual(expect.arrayContaining([
      { test: 'StringLike', variable: 'kms:EncryptionContext:aws:cloudtrail:arn', values: [`arn:aws:cloudtrail:*:${ACCOUNT_ID}:trail/*`] },
      { test: 'StringEquals', variable: 'aws:SourceArn', values: [`arn:aws:cloudtrail:${REGION}:${ACCOUNT_ID}:trail/vitals-trail-dev`] },
    ]));
  });

  it('lets CloudWatch alarms publish to topics encrypted with the logs key', () => {
    const alarms = statements(keys()).find((s) => s.sid === 'CloudWatchAlarmsPublishToEncryptedTopics');
    expect(alarms?.principals?.[0].identifiers).toEqual(['cloudwatch.amazonaws.com']);
    expect(alarms?.actions).toEqual(['kms:Decrypt', 'kms:GenerateDataKey']);
    expect(alarms?.condition).toEqual([
      { test: 'StringEquals', variable: 'aws:SourceAccount', values: [ACCOUNT_ID] },
      { test: 'ArnLike', variable: 'aws:SourceArn', values: [`arn:aws:cloudwatch:${REGION}:${ACCOUNT_ID}:alarm:*`] },
    ]);
  });

  const namedUse = (json: ReturnType<typeof keys>): Statement[] => statements(json).filter((s) => s.sid === 'NamedRolesUseKey');
  const usedBy = (json: ReturnType<typeof keys>, roles: string[]): Statement[] =>
    namedUse(json).filter((s) => s.condition?.length === 1 && s.condition[0]?.test === 'ArnEquals' && s.condition[0]?.variable === 'aws:PrincipalArn'
      && JSON.stringify(s.condition[0]?.values) === JSON.stringify(roles));

  it('gives key administrators administration only, and the account root no direct use of any key', () => {
    const json = keys(false, { adminArns: [`arn:aws:iam::${ACCOUNT_ID}:role/key-admin`] });
    const all = statements(json);
    const admin = all.filter((s) => s.sid === 'KeyAdministrators');
    expect(admin).toHaveLength(6);
    for (const a of admin) {
      expect(a.principals?.[0].identifiers).toEqual([`arn:aws:iam::${ACCOUNT_ID}:role/key-admin`]);
      expect(a.actions?.filter((x) => /Decrypt|Encrypt|GenerateDataKey|GenerateMac|CreateGrant/.test(x))).toEqual([]);
    }
    // Every statement naming the account root for use is conditioned (via a service or a named role).
    const rootUse = all.filter((s) => s.sid !== 'KeyAdministrators' && s.principals?.some((p) => p.identifiers.some((i) => i.endsWith(':root'))));
    expect(rootUse.length).toBeGreaterThan(0);
    for (const s of rootUse) expect(s.condition?.some((c) => c.variable === 'kms:ViaService' || c.variable === 'aws:PrincipalArn')).toBe(true);
  });

  it('lets only the processor (and break-glass roles) use the patient-id key, only with its purpose', () => {
    const breakGlass = `arn:aws:iam::${ACCOUNT_ID}:role/vitals-break-glass`;
    const json = keys(false, { breakGlassRoleArns: [breakGlass] });
    // The patient-id key: processor and break-glass; the dead-letter and HMAC keys: processor only.
    expect(usedBy(json, [PROCESSOR, breakGlass]).map((s) => s.actions)).toEqual([['kms:Decrypt', 'kms:GenerateDataKey']]);
    expect(usedBy(json, [PROCESSOR]).map((s) => s.actions)).toEqual([['kms:Decrypt', 'kms:GenerateDataKey'], ['kms:GenerateMac']]);
    const hmac = namedUse(keys()).find((s) => s.actions?.includes('kms:GenerateMac'));
    expect(hmac?.actions).toEqual(['kms:GenerateMac']);
  });

  it('allows CreateGrant through services only for AWS resources', () => {
    const grants = statements(keys()).filter((s) => s.actions?.includes('kms:CreateGrant') && !s.principals?.some((p) => p.identifiers.includes('fargate.amazonaws.com')));
    expect(grants.length).toBeGreaterThan(0);
    for (const g of grants) expect(g.condition).toEqual(expect.arrayContaining([{ test: 'Bool', variable: 'kms:GrantIsForAWSResource', values: ['true'] }]));
  });

  it('lets Fargate encrypt the ephemeral storage of this environment\'s cluster only, and grant nothing but Decrypt', () => {
    const context = [
      { test: 'StringEquals', variable: 'kms:EncryptionContext:aws:ecs:clusterAccount', values: [ACCOUNT_ID] },
      { test: 'StringEquals', variable: 'kms:EncryptionContext:aws:ecs:clusterName', values: ['vitals-dev'] },
    ];
    const fargate = statements(keys()).filter((s) => s.principals?.some((p) => p.identifiers.includes('fargate.amazonaws.com')));
    expect(fargate).toEqual([
      expect.objectContaining({ sid: 'FargateEncryptsEphemeralStorage', actions: ['kms:GenerateDataKeyWithoutPlaintext'], condition: context }),
      expect.objectContaining({
        sid: 'FargateGrantsDecryptForEphemeralStorage',
        actions: ['kms:CreateGrant'],
        condition: [...context, { test: 'ForAllValues:StringEquals', variable: 'kms:GrantOperations', values: ['Decrypt'] }],
      }),
    ]);
    const named = synthConstruct((scope) => new Keys(scope, 'Keys', { environment: 'dev', region: REGION, accountId: ACCOUNT_ID, ecsClusterName: 'other-dev', processorTaskRoleArn: PROCESSOR }));
    expect(JSON.stringify(statements(named))).toContain('"values":["other-dev"]');
  });

  it('grants no wildcard action in any key policy', () => {
    const actions = allowedActions(keys());
    expect(actions.length).toBeGreaterThan(0);
    expect(actions.filter((a) => a.includes('*'))).toEqual([]);
  });

  it('rejects a deletion window outside 7 to 30 days', () => {
    expect(() => synthConstruct((scope) => new ManagedKey(scope, 'K', {
      aliasName: 'x', description: 'x', accountId: ACCOUNT_ID, deletionWindowInDays: 3,
    }))).toThrow(/deletionWindowInDays must be an integer from 7 to 30; received 3/);
  });
});
