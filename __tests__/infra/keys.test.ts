import { KmsAlias } from '@cdktf/provider-aws/lib/kms-alias';
import { KmsKey } from '@cdktf/provider-aws/lib/kms-key';
import { Keys, ManagedKey } from '../../src/infra/keys';
import { ACCOUNT_ID, REGION, allowedActions, ofType, synthConstruct } from './helpers/synth';

const keys = (production = false) => synthConstruct((scope) => new Keys(scope, 'Keys', { environment: 'dev', region: REGION, accountId: ACCOUNT_ID, production }));

type Statement = { sid?: string; actions?: string[]; principals?: { identifiers: string[] }[]; condition?: { test: string; variable: string; values: string[] }[] };
const statements = (json: ReturnType<typeof keys>): Statement[] =>
  ofType(json, 'aws_iam_policy_document', 'data').flatMap((d) => d.statement as Statement[]);

describe('Keys', () => {
  it('creates four customer-managed keys, each with an alias carrying the environment', () => {
    const json = keys();
    expect(ofType(json, 'aws_kms_key')).toHaveLength(4);
    expect(ofType(json, 'aws_kms_alias').map((a) => a.name).sort()).toEqual([
      'alias/vitals-data-dev', 'alias/vitals-logs-dev', 'alias/vitals-patient-hmac-dev', 'alias/vitals-phi-dev',
    ]);
    expect(JSON.stringify(json)).toHaveResourceWithProperties(KmsAlias, { name: 'alias/vitals-data-dev' });
  });

  it('rotates every symmetric encryption key', () => {
    const symmetric = ofType(keys(), 'aws_kms_key').filter((k) => k.key_usage === 'ENCRYPT_DECRYPT');
    expect(symmetric).toHaveLength(3);
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
    expect(ofType(keys(false), 'aws_kms_key').map((k) => k.deletion_window_in_days)).toEqual([7, 7, 7, 7]);
    expect(ofType(keys(true), 'aws_kms_key').map((k) => k.deletion_window_in_days)).toEqual([30, 30, 30, 30]);
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
    const named = synthConstruct((scope) => new Keys(scope, 'Keys', { environment: 'dev', region: REGION, accountId: ACCOUNT_ID, ecsClusterName: 'other-dev' }));
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
