/**
 * The alert bus's policies, evaluated (not string-matched) with the policy simulator over the
 * synthesized account (dev and prod): the processor may put events on its own bus only; only the rule
 * that routes to a topic may publish to it; only this bus and its rules may dead-letter; only
 * EventBridge, for this bus and this account's rules, may use the alert key.
 */
import { SimRequest } from '../../src/infra/policy-sim/simulate';
import { COUNTS_DIR, simulator } from './helpers/policy-sim';
import { ACCOUNT_ID, REGION } from './helpers/synth';

const sim = simulator();
afterAll(() => sim.writeCounts(COUNTS_DIR, 'alert-policies'));

const arn = (service: string, resource: string): string => `arn:aws:${service}:${REGION}:${ACCOUNT_ID}:${resource}`;
const bus = (env: string): string => arn('events', `event-bus/vitals-alerts-${env}`);
const rule = (env: string, name: string): string => arn('events', `rule/vitals-alerts-${env}/${name}`);
const topic = (name: string): string => arn('sns', name);
const queue = (env: string): string => arn('sqs', `vitals-alerts-dlq-${env}`);
const processor = (env: string): string => `vitals-processor-task-${env}`;
const EVENTS = 'events.amazonaws.com';
const alertKey = (env: string): string => {
  const key = Object.keys(sim.model.resourcePolicies).find((k) => k.startsWith(arn('kms', `key/pipeline-${env}.Alerts_Key`)));
  if (!key) throw new Error(`no alert key in pipeline-${env}`);
  return key;
};
const fromRule = (ruleArn: string): SimRequest['context'] => ({ 'aws:SourceArn': ruleArn, 'aws:SourceAccount': ACCOUNT_ID });

describe('the processor task role and the alert bus', () => {
  test('puts events on its own environment\'s bus', async () => {
    await sim.expectAllowed(processor('dev'), { action: 'events:PutEvents', resource: bus('dev') });
    await sim.expectAllowed(processor('prod'), { action: 'events:PutEvents', resource: bus('prod') });
  });

  test('puts no events on another environment\'s bus, the default bus or any other bus', async () => {
    await sim.expectDenied(processor('dev'), { action: 'events:PutEvents', resource: bus('prod') });
    await sim.expectDenied(processor('prod'), { action: 'events:PutEvents', resource: bus('dev') });
    await sim.expectDenied(processor('dev'), { action: 'events:PutEvents', resource: arn('events', 'event-bus/default') });
    await sim.expectDenied(processor('dev'), { action: 'events:PutEvents', resource: arn('events', 'event-bus/vitals-alerts-dev-copy') });
  });

  test('cannot change the bus, its rules or targets, nor publish to the alert topics directly', async () => {
    for (const action of ['events:PutRule', 'events:PutTargets', 'events:DeleteEventBus', 'events:StartReplay']) {
      await sim.expectDenied(processor('dev'), { action, resource: action === 'events:PutRule' || action === 'events:PutTargets' ? rule('dev', 'vitals-alert-fac-other-facilities-dev') : bus('dev') });
    }
    await sim.expectDenied(processor('dev'), { action: 'sns:Publish', resource: topic('vitals-alert-fac-other-facilities-dev') }, 'explicit');
  });

  test('cannot use the alert key itself (EventBridge uses it on the bus\'s behalf)', async () => {
    await sim.expectDenied(processor('dev'), { action: 'kms:Decrypt', resource: alertKey('dev') });
    await sim.expectDenied(processor('dev'), { action: 'kms:GenerateDataKey', resource: alertKey('dev') });
  });
});

describe('alert topics: only the rule routing to a topic publishes to it', () => {
  const otherFacilities = 'vitals-alert-fac-other-facilities-dev';
  const tier1 = 'vitals-alert-esc-escalation-tier-1-dev';

  test('EventBridge publishes for the topic\'s own rule', async () => {
    await sim.expectService(EVENTS, { action: 'sns:Publish', resource: topic(otherFacilities), context: fromRule(rule('dev', otherFacilities)) }, 'Allowed');
    await sim.expectService(EVENTS, { action: 'sns:Publish', resource: topic(tier1), context: fromRule(rule('dev', tier1)) }, 'Allowed');
  });

  test('another rule of the same bus, the other environment\'s rule or no rule at all is refused', async () => {
    await sim.expectService(EVENTS, { action: 'sns:Publish', resource: topic(otherFacilities), context: fromRule(rule('dev', tier1)) }, 'ExplicitlyDenied');
    await sim.expectService(EVENTS, { action: 'sns:Publish', resource: topic(otherFacilities), context: fromRule(rule('prod', 'vitals-alert-fac-other-facilities-prod')) }, 'ExplicitlyDenied');
    await sim.expectService(EVENTS, { action: 'sns:Publish', resource: topic(otherFacilities) }, 'Denied');
  });

  test('no role of the account publishes, whatever its identity policy (explicit deny)', async () => {
    await sim.expectDenied('vitals-ci-deploy-dev', { action: 'sns:Publish', resource: topic(otherFacilities) }, 'explicit');
  });
});

describe('the alert dead-letter queue', () => {
  test('takes messages from this bus and its rules only', async () => {
    await sim.expectService(EVENTS, { action: 'sqs:SendMessage', resource: queue('dev'), context: fromRule(rule('dev', 'vitals-alert-esc-escalation-tier-2-dev')) }, 'Allowed');
    await sim.expectService(EVENTS, { action: 'sqs:SendMessage', resource: queue('dev'), context: fromRule(bus('dev')) }, 'Allowed');
    await sim.expectService(EVENTS, { action: 'sqs:SendMessage', resource: queue('dev'), context: fromRule(rule('prod', 'vitals-alert-esc-escalation-tier-2-prod')) }, 'Denied');
    await sim.expectService(EVENTS, { action: 'sqs:SendMessage', resource: queue('dev'), context: fromRule(arn('events', 'rule/someone-elses-rule')) }, 'Denied');
  });
});

describe('the alert key', () => {
  test('EventBridge sends to the encrypted topics and queue for this bus\'s rules only', async () => {
    await sim.expectService(EVENTS, { action: 'kms:GenerateDataKey', resource: alertKey('dev'), context: fromRule(rule('dev', 'vitals-alert-fac-other-facilities-dev')) }, 'Allowed');
    await sim.expectService(EVENTS, { action: 'kms:GenerateDataKey', resource: alertKey('dev'), context: fromRule(rule('prod', 'vitals-alert-fac-other-facilities-prod')) }, 'Denied');
    await sim.expectService(EVENTS, { action: 'kms:GenerateDataKey', resource: alertKey('dev'), context: fromRule(arn('events', 'rule/someone-elses-rule')) }, 'Denied');
    await sim.expectService(EVENTS, { action: 'kms:GenerateDataKey', resource: alertKey('dev'), context: { ...fromRule(rule('dev', 'vitals-alert-fac-other-facilities-dev')), 'aws:SourceAccount': '210987654321' } }, 'Denied');
  });

  test('EventBridge encrypts events of this bus only (encryption context names the bus)', () => {
    // @cloud-copilot/iam-simulate does not match kms:EncryptionContext:<key> conditions (src/infra/keys.ts),
    // so this one statement is read, not simulated: every other path to the key is simulated above.
    const policy = sim.model.resourcePolicies[alertKey('dev')];
    const statement = policy.Statement.find((st) => st.Sid === 'EventBridgeEncryptsThisBus');
    expect(statement).toMatchObject({
      Effect: 'Allow',
      Principal: { Service: [EVENTS] },
      Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
      Condition: { StringEquals: { 'aws:SourceAccount': [ACCOUNT_ID], 'kms:EncryptionContext:aws:events:event-bus:arn': [bus('dev')] } },
    });
  });

  test('EventBridge never administers the key', async () => {
    await sim.expectService(EVENTS, { action: 'kms:PutKeyPolicy', resource: alertKey('dev'), context: fromRule(bus('dev')) }, 'Denied');
    await sim.expectService(EVENTS, { action: 'kms:CreateGrant', resource: alertKey('dev'), context: fromRule(bus('dev')) }, 'Denied');
  });
});
