import { TerraformStack, Testing } from 'cdktf';
import 'cdktf/lib/testing/adapters/jest'; // type declarations of the cdktf matchers
import { CloudwatchEventArchive } from '@cdktf/provider-aws/lib/cloudwatch-event-archive';
import { CloudwatchEventBus } from '@cdktf/provider-aws/lib/cloudwatch-event-bus';
import { SqsQueue } from '@cdktf/provider-aws/lib/sqs-queue';
import {
  ALERT_EVENT_DETAIL_TYPE, ALERT_EVENT_SOURCE, AlertDelivery, AlertDeliveryProps, DEAD_LETTER_RETENTION_SECONDS,
  TARGET_MAXIMUM_EVENT_AGE_SECONDS, TARGET_MAXIMUM_RETRY_ATTEMPTS,
} from '../../src/infra/alert-delivery';
import { AlertSubscriptionProtocol } from '../../src/infra/config';
import { PipelineStack } from '../../src/infra/pipeline-stack';
import { ALERT_EVENT_DETAIL_TYPE as RELAY_DETAIL_TYPE, ALERT_EVENT_SOURCE as RELAY_SOURCE } from '../../src/alerts/detail';
import { ACCOUNT_ID, REGION, SynthJson, ofType, testConfig } from './helpers/synth';

const baseProps: AlertDeliveryProps = {
  environment: 'dev',
  region: REGION,
  accountId: ACCOUNT_ID,
  facilities: {
    '*': [],
    'icu-north': [
      { protocol: AlertSubscriptionProtocol.EMAIL, endpoint: 'icu-north@hospital.example' },
      { protocol: AlertSubscriptionProtocol.SMS, endpoint: '+41790000000', severities: ['high'] },
    ],
    'ward.7': [{ protocol: AlertSubscriptionProtocol.HTTPS, endpoint: 'https://pager.hospital.example/hook' }],
  },
  escalationTargets: {
    'escalation-tier-1': [{ protocol: AlertSubscriptionProtocol.EMAIL, endpoint: 'charge-nurse@hospital.example' }],
    'escalation-tier-2': [],
  },
  archiveRetentionDays: 30,
};

function synth(overrides: Partial<AlertDeliveryProps> = {}): { json: SynthJson; text: string; alerts: AlertDelivery; stack: TerraformStack } {
  const app = Testing.app();
  const stack = new TerraformStack(app, 'test');
  const alerts = new AlertDelivery(stack, 'Alerts', { ...baseProps, ...overrides });
  const text = Testing.synth(stack);
  return { json: JSON.parse(text) as SynthJson, text, alerts, stack };
}

/**
 * EventBridge pattern matching for what our rules use (exact values, `anything-but` lists, nested
 * objects; arrays in the event match when any element matches): enough to show which rules an event reaches.
 */
function matches(pattern: Record<string, unknown>, event: Record<string, unknown>): boolean {
  return Object.entries(pattern).every(([key, expected]) => {
    const value = event[key];
    if (Array.isArray(expected)) {
      return expected.some((e) => {
        if (typeof e === 'object' && e !== null && 'anything-but' in e) {
          const excluded = (e as { 'anything-but': unknown[] })['anything-but'];
          return value !== undefined && !excluded.includes(value);
        }
        return value === e;
      });
    }
    return typeof value === 'object' && value !== null && matches(expected as Record<string, unknown>, value as Record<string, unknown>);
  });
}

function event(detail: Record<string, unknown>): Record<string, unknown> {
  return { source: ALERT_EVENT_SOURCE, 'detail-type': ALERT_EVENT_DETAIL_TYPE, detail: { transition: 'raised', severity: 'high', ...detail } };
}

/** Names of the rules (on the alert bus) an event matches. */
function rulesReached(json: SynthJson, e: Record<string, unknown>): string[] {
  return ofType(json, 'aws_cloudwatch_event_rule')
    .filter((r) => matches(JSON.parse(String(r.event_pattern)) as Record<string, unknown>, e))
    .map((r) => String(r.name))
    .sort();
}

describe('AlertDelivery', () => {
  const { json, text, alerts, stack } = synth();
  const ref = (resource: { terraformResourceType: string }, attribute: string): string =>
    '${' + `${resource.terraformResourceType}.${stack.getLogicalId(resource as never)}.${attribute}` + '}';

  test('the relay and the rules agree on source and detail-type', () => {
    expect(ALERT_EVENT_SOURCE).toBe(RELAY_SOURCE);
    expect(ALERT_EVENT_DETAIL_TYPE).toBe(RELAY_DETAIL_TYPE);
  });

  test('the bus is vitals-alerts-<env>, encrypted with the alert key, dead-lettering encryption failures', () => {
    expect(text).toHaveResourceWithProperties(CloudwatchEventBus, {
      name: 'vitals-alerts-dev',
      kms_key_identifier: ref(alerts.key.key, 'arn'),
      dead_letter_config: { arn: ref(alerts.deadLetterQueue, 'arn') },
    });
    expect(alerts.busArn).toBe(`arn:aws:events:${REGION}:${ACCOUNT_ID}:event-bus/vitals-alerts-dev`);
    expect(AlertDelivery.busName('prod')).toBe('vitals-alerts-prod');
  });

  test('every topic is encrypted with the alert key', () => {
    const topics = ofType(json, 'aws_sns_topic');
    // *, icu-north, ward.7, two escalation names
    expect(topics.map((t) => t.name).sort()).toEqual([
      'vitals-alert-esc-escalation-tier-1-dev', 'vitals-alert-esc-escalation-tier-2-dev',
      'vitals-alert-fac-icu-north-dev', 'vitals-alert-fac-other-facilities-dev', 'vitals-alert-fac-ward_7-dev',
    ]);
    for (const t of topics) expect(t.kms_master_key_id).toBe(ref(alerts.key.key, 'arn'));
  });

  test('the dead-letter queue is encrypted with the alert key and keeps messages 14 days', () => {
    expect(text).toHaveResourceWithProperties(SqsQueue, {
      name: 'vitals-alerts-dlq-dev',
      kms_master_key_id: ref(alerts.key.key, 'arn'),
      message_retention_seconds: DEAD_LETTER_RETENTION_SECONDS,
    });
  });

  test('the archive keeps every alert transition of the bus for the configured days', () => {
    expect(text).toHaveResourceWithProperties(CloudwatchEventArchive, {
      name: 'vitals-alerts-dev',
      event_source_arn: ref(alerts.bus, 'arn'),
      retention_days: 30,
      event_pattern: JSON.stringify({ source: [ALERT_EVENT_SOURCE] }),
    });
  });

  test('an alert of a listed facility reaches that facility\'s rule only', () => {
    expect(rulesReached(json, event({ facilityId: 'icu-north' }))).toEqual(['vitals-alert-fac-icu-north-dev']);
    expect(rulesReached(json, event({ facilityId: 'ward.7' }))).toEqual(['vitals-alert-fac-ward_7-dev']);
  });

  test('an alert of a facility nobody listed reaches the "*" rule: never dropped', () => {
    expect(rulesReached(json, event({ facilityId: 'er-south' }))).toEqual(['vitals-alert-fac-other-facilities-dev']);
  });

  test('an escalation reaches its facility\'s rule and its target\'s rule', () => {
    expect(rulesReached(json, event({ facilityId: 'icu-north', transition: 'escalated', escalation: { tier: 2, target: 'escalation-tier-2' } })))
      .toEqual(['vitals-alert-esc-escalation-tier-2-dev', 'vitals-alert-fac-icu-north-dev']);
  });

  test('events of another source or detail-type reach no rule', () => {
    expect(rulesReached(json, { ...event({ facilityId: 'icu-north' }), source: 'someone.else' })).toEqual([]);
    expect(rulesReached(json, { ...event({ facilityId: 'icu-north' }), 'detail-type': 'Other' })).toEqual([]);
  });

  test('without listed facilities the "*" rule takes every alert', () => {
    const { json: onlyDefault } = synth({ facilities: {} });
    expect(rulesReached(onlyDefault, event({ facilityId: 'icu-north' }))).toEqual(['vitals-alert-fac-other-facilities-dev']);
  });

  test('every rule lives on the alert bus and targets its own topic with an hour of retries, then the dead-letter queue', () => {
    const rules = Object.entries(json.resource?.aws_cloudwatch_event_rule ?? {});
    const targets = ofType(json, 'aws_cloudwatch_event_target');
    expect(targets).toHaveLength(rules.length);
    for (const [id, r] of rules) {
      expect(r.event_bus_name).toBe(ref(alerts.bus, 'name'));
      const target = targets.find((t) => t.rule === `\${aws_cloudwatch_event_rule.${id}.name}`);
      const topicId = Object.entries(json.resource?.aws_sns_topic ?? {}).find(([, t]) => t.name === r.name)?.[0];
      expect(target).toMatchObject({
        arn: `\${aws_sns_topic.${topicId}.arn}`,
        event_bus_name: ref(alerts.bus, 'name'),
        retry_policy: { maximum_event_age_in_seconds: TARGET_MAXIMUM_EVENT_AGE_SECONDS, maximum_retry_attempts: TARGET_MAXIMUM_RETRY_ATTEMPTS },
        dead_letter_config: { arn: ref(alerts.deadLetterQueue, 'arn') },
      });
    }
  });

  test('subscriptions follow the settings; a severity list becomes a filter on the message body', () => {
    const subs = ofType(json, 'aws_sns_topic_subscription');
    expect(subs).toHaveLength(4);
    const sms = subs.find((s) => s.protocol === 'sms');
    expect(sms).toMatchObject({ endpoint: '+41790000000', filter_policy_scope: 'MessageBody', filter_policy: JSON.stringify({ detail: { severity: ['high'] } }) });
    const email = subs.find((s) => s.endpoint === 'icu-north@hospital.example');
    expect(email?.filter_policy).toBeUndefined();
    expect(subs.find((s) => s.protocol === 'https')?.endpoint).toBe('https://pager.hospital.example/hook');
  });

  test('the key lets EventBridge use it for this bus (by encryption context) and this bus\'s rules only', () => {
    const doc = json.data?.aws_iam_policy_document?.[stack.getLogicalId(alerts.key.policy)] as { statement: Array<{ sid: string; condition?: Array<{ test: string; variable: string; values: string[] }> }> };
    const bus = doc.statement.find((s) => s.sid === 'EventBridgeEncryptsThisBus');
    expect(bus?.condition).toContainEqual({ test: 'StringEquals', variable: 'kms:EncryptionContext:aws:events:event-bus:arn', values: [alerts.busArn] });
    const rules = doc.statement.find((s) => s.sid === 'EventBridgeRulesSendToEncryptedTopicsAndQueue');
    const sources = rules?.condition?.find((c) => c.variable === 'aws:SourceArn')?.values ?? [];
    expect(sources).toHaveLength(6); // the bus and its five rules
    for (const s of sources) expect(s.startsWith(`arn:aws:events:${REGION}:${ACCOUNT_ID}:`) && s.includes('vitals-alerts-dev')).toBe(true);
  });
});

describe('AlertDelivery validation', () => {
  test('an archive retention outside 1..3650 days is rejected with its value', () => {
    expect(() => synth({ archiveRetentionDays: 0 })).toThrow(/archiveRetentionDays must be an integer from 1 to 3650; received 0/);
  });

  test('a facility id that cannot name a topic and rule is rejected with its value', () => {
    expect(() => synth({ facilities: { 'icu north': [] } })).toThrow(/facilities keys must be facility ids.*received "icu north"/);
  });

  test('an escalation name that cannot name a topic is rejected with its value', () => {
    expect(() => synth({ escalationTargets: { '*': [] } })).toThrow(/escalationTargets keys must be routing names.*received "\*"/);
  });

  test('every invalid prop is reported at once', () => {
    expect(() => synth({ environment: 'Dev', archiveRetentionDays: 9999 })).toThrow(/environment[\s\S]*archiveRetentionDays/);
  });
});

describe('the pipeline stack wires the processor to the alert bus', () => {
  const json = JSON.parse(Testing.synth(new PipelineStack(Testing.app(), testConfig()))) as SynthJson;
  const busId = Object.keys(json.resource?.aws_cloudwatch_event_bus ?? {})[0];

  test('the processor task definition names the bus in ALERT_EVENT_BUS_NAME', () => {
    const definition = ofType(json, 'aws_ecs_task_definition').find((t) => t.family === 'vitals-processor-dev');
    const [container] = JSON.parse(String(definition?.container_definitions)) as Array<{ environment: Array<{ name: string; value: string }> }>;
    expect(container.environment).toContainEqual({ name: 'ALERT_EVENT_BUS_NAME', value: `\${aws_cloudwatch_event_bus.${busId}.name}` });
  });

  test('the VPC has an events interface endpoint in the private subnets, behind the endpoint security group', () => {
    const endpoint = ofType(json, 'aws_vpc_endpoint').find((e) => e.service_name === `com.amazonaws.${REGION}.events`);
    expect(endpoint).toMatchObject({ vpc_endpoint_type: 'Interface', private_dns_enabled: true });
    const other = ofType(json, 'aws_vpc_endpoint').find((e) => e.service_name === `com.amazonaws.${REGION}.kms`);
    expect(endpoint?.subnet_ids).toEqual(other?.subnet_ids);
    expect(endpoint?.security_group_ids).toEqual(other?.security_group_ids);
  });

  test('consumers find the bus, topics, queue and archive in the outputs', () => {
    for (const name of ['alert_event_bus_name', 'alert_event_bus_arn', 'alert_facility_topic_arns', 'alert_escalation_topic_arns', 'alert_dead_letter_queue_url', 'alert_archive_name', 'kms_alerts_key_arn']) {
      expect(json.output?.[name]).toBeDefined();
    }
  });
});
