/**
 * Alert delivery on AWS (issue 12): the EventBridge custom bus the processor's outbox relay publishes
 * alert transitions to, encrypted with its own customer-managed key; one rule and one KMS-encrypted SNS
 * topic per facility (plus `*`, every facility not listed) and per escalation routing name; an archive
 * of every transition for replay; one KMS-encrypted SQS dead-letter queue for whatever EventBridge
 * could not deliver (target failures after retries, and the bus's own encryption errors).
 *
 * Topic policies let only the rule of this bus that routes to a topic publish to it (and deny everyone
 * else, account principals included). The bus, rule, topic, queue and archive names are derived from
 * the environment, so other constructs (the processor's IAM policy, the key policy) name them before
 * they exist. Nothing is looked up: the stack plans offline.
 */
import { Construct } from 'constructs';
import { CloudwatchEventArchive } from '@cdktf/provider-aws/lib/cloudwatch-event-archive';
import { CloudwatchEventBus } from '@cdktf/provider-aws/lib/cloudwatch-event-bus';
import { CloudwatchEventRule } from '@cdktf/provider-aws/lib/cloudwatch-event-rule';
import { CloudwatchEventTarget } from '@cdktf/provider-aws/lib/cloudwatch-event-target';
import { DataAwsIamPolicyDocumentStatement } from '@cdktf/provider-aws/lib/data-aws-iam-policy-document';
import { SnsTopic } from '@cdktf/provider-aws/lib/sns-topic';
import { SnsTopicPolicy } from '@cdktf/provider-aws/lib/sns-topic-policy';
import { SnsTopicSubscription } from '@cdktf/provider-aws/lib/sns-topic-subscription';
import { SqsQueue } from '@cdktf/provider-aws/lib/sqs-queue';
import { SqsQueuePolicy } from '@cdktf/provider-aws/lib/sqs-queue-policy';
import {
  ALERT_ARCHIVE_RETENTION_DAYS_MAX, ALERT_ARCHIVE_RETENTION_DAYS_MIN, ALERT_ROUTING_NAME_PATTERN, AlertSubscription,
  alertRoutingSlug,
} from './config';
import { DELETION_WINDOW_DAYS_MAX, DELETION_WINDOW_DAYS_MIN, ManagedKey } from './keys';
import { PropProblems } from './prop-problems';
import { ALERT_EVENT_DETAIL_TYPE, ALERT_EVENT_SOURCE } from '../alerts/detail';

/** `source` and `detail-type` of every alert event: the relay's own constants (one definition). */
export { ALERT_EVENT_DETAIL_TYPE, ALERT_EVENT_SOURCE };

/** What the processor's relay may do on the bus (and nothing else, on no other bus). */
export const ALERT_PUBLISH_ACTIONS = ['events:PutEvents'] as const;
/** EventBridge's use of a customer-managed key for a bus and for the encrypted topics and queue it sends to. */
export const EVENTS_KEY_USE_ACTIONS = ['kms:Decrypt', 'kms:GenerateDataKey'] as const;
/** What operators may do on the alert topics (subscriptions, inspection); publishing is the rules' alone. */
export const ALERT_TOPIC_ACCOUNT_ACTIONS = ['sns:GetTopicAttributes', 'sns:SetTopicAttributes', 'sns:Subscribe', 'sns:ListSubscriptionsByTopic'] as const;

/**
 * Retries of a rule target: EventBridge retries a failed delivery with backoff for up to an hour
 * (185 attempts is its maximum), then puts the event in the dead-letter queue, whose alarm pages.
 * An alert older than an hour still goes out (to the DLQ, then by hand): never dropped.
 */
export const TARGET_MAXIMUM_EVENT_AGE_SECONDS = 3600;
export const TARGET_MAXIMUM_RETRY_ATTEMPTS = 185;
/** SQS's maximum: time to notice, fix and redrive. */
export const DEAD_LETTER_RETENTION_SECONDS = 14 * 24 * 3600;
export const DEFAULT_ARCHIVE_RETENTION_DAYS = 90;

export interface AlertDeliveryProps {
  readonly environment: string;
  readonly region: string;
  readonly accountId: string;
  /** @default 'aws' */
  readonly partition?: string;
  /** Key administrators (KEY_ADMIN_ARNS). @default the account */
  readonly keyAdminArns?: readonly string[];
  /** Production keeps the key's 30-day deletion window; other environments 7 days. @default false */
  readonly production?: boolean;
  /** Facility id (or `*`: every facility not listed) -> subscribers of its topic. `*` is always created. */
  readonly facilities: Readonly<Record<string, readonly AlertSubscription[]>>;
  /** Escalation routing name (`detail.escalation.target`) -> subscribers of its topic. */
  readonly escalationTargets: Readonly<Record<string, readonly AlertSubscription[]>>;
  /** Days the archive keeps every transition. @default 90 */
  readonly archiveRetentionDays?: number;
}

/** One routed destination: a rule on the bus and the topic it publishes to. */
export interface AlertRoute {
  readonly rule: CloudwatchEventRule;
  readonly ruleArn: string;
  readonly topic: SnsTopic;
}

function validate(id: string, props: AlertDeliveryProps): void {
  const p = new PropProblems(`AlertDelivery "${id}"`);
  p.environment('environment', props.environment);
  p.region('region', props.region);
  p.accountId('accountId', props.accountId);
  const retention = props.archiveRetentionDays ?? DEFAULT_ARCHIVE_RETENTION_DAYS;
  p.integer('archiveRetentionDays', retention, ALERT_ARCHIVE_RETENTION_DAYS_MIN, ALERT_ARCHIVE_RETENTION_DAYS_MAX);
  for (const name of Object.keys(props.facilities)) {
    p.check(name === '*' || ALERT_ROUTING_NAME_PATTERN.test(name), 'facilities', `keys must be facility ids matching ${ALERT_ROUTING_NAME_PATTERN} (or *)`, name);
  }
  for (const name of Object.keys(props.escalationTargets)) {
    p.check(ALERT_ROUTING_NAME_PATTERN.test(name), 'escalationTargets', `keys must be routing names matching ${ALERT_ROUTING_NAME_PATTERN}`, name);
  }
  p.throwIfAny();
}

export class AlertDelivery extends Construct {
  /** The bus's name, known before the bus exists (the processor's task definition and policy name it). */
  static busName(environment: string): string {
    return `vitals-alerts-${environment}`;
  }

  static busArn(p: { partition?: string; region: string; accountId: string; environment: string }): string {
    return `arn:${p.partition ?? 'aws'}:events:${p.region}:${p.accountId}:event-bus/${AlertDelivery.busName(p.environment)}`;
  }

  readonly key: ManagedKey;
  readonly bus: CloudwatchEventBus;
  readonly busName: string;
  readonly busArn: string;
  readonly archive: CloudwatchEventArchive;
  readonly deadLetterQueue: SqsQueue;
  /** Facility id (`*` included) -> its rule and topic. */
  readonly facilityRoutes: Readonly<Record<string, AlertRoute>>;
  /** Escalation routing name -> its rule and topic. */
  readonly escalationRoutes: Readonly<Record<string, AlertRoute>>;

  constructor(scope: Construct, id: string, props: AlertDeliveryProps) {
    super(scope, id);
    validate(id, props);
    const { environment: env, region, accountId } = props;
    const partition = props.partition ?? 'aws';
    const arn = (service: string, resource: string): string => `arn:${partition}:${service}:${region}:${accountId}:${resource}`;
    this.busName = AlertDelivery.busName(env);
    this.busArn = AlertDelivery.busArn({ partition, region, accountId, environment: env });
    const ruleName = (kind: 'fac' | 'esc', name: string): string => `vitals-alert-${kind}-${alertRoutingSlug(name)}-${env}`;
    const ruleArn = (name: string): string => arn('events', `rule/${this.busName}/${name}`);
    const facilityNames = ['*', ...Object.keys(props.facilities).filter((f) => f !== '*').sort()];
    const escalationNames = Object.keys(props.escalationTargets).sort();
    const allRuleArns = [
      ...facilityNames.map((f) => ruleArn(ruleName('fac', f))),
      ...escalationNames.map((t) => ruleArn(ruleName('esc', t))),
    ];
    const account = { test: 'StringEquals', variable: 'aws:SourceAccount', values: [accountId] };
    const events = [{ type: 'Service', identifiers: ['events.amazonaws.com'] }];

    // One key for the bus, its topics and its dead-letter queue: alert events carry pseudonyms and
    // scores, so they stay under a key of their own (not the logs key, not the data key).
    const keyStatements: DataAwsIamPolicyDocumentStatement[] = [
      {
        // EventBridge encrypts events on this bus (and decrypts them to match rules). Its encryption
        // context names the bus, so the grant covers this bus only, bound cryptographically.
        sid: 'EventBridgeEncryptsThisBus',
        principals: events,
        actions: [...EVENTS_KEY_USE_ACTIONS],
        resources: ['*'],
        condition: [account, { test: 'StringEquals', variable: 'kms:EncryptionContext:aws:events:event-bus:arn', values: [this.busArn] }],
      },
      {
        sid: 'EventBridgeDescribesKey',
        principals: events,
        actions: ['kms:DescribeKey'],
        resources: ['*'],
        condition: [account],
      },
      {
        // Rule targets are KMS-encrypted topics and an encrypted queue: the publisher (EventBridge)
        // must generate the data key. Only on behalf of this account's rules on this bus.
        sid: 'EventBridgeRulesSendToEncryptedTopicsAndQueue',
        principals: events,
        actions: [...EVENTS_KEY_USE_ACTIONS],
        resources: ['*'],
        condition: [account, { test: 'ArnLike', variable: 'aws:SourceArn', values: [this.busArn, ...allRuleArns] }],
      },
    ];
    this.key = new ManagedKey(this, 'Key', {
      accountId,
      partition,
      aliasName: `vitals-alerts-${env}`,
      description: `vitals ${env}: alert event bus, its SNS topics and dead-letter queue`,
      deletionWindowInDays: props.production ? DELETION_WINDOW_DAYS_MAX : DELETION_WINDOW_DAYS_MIN,
      ...(props.keyAdminArns ? { adminArns: props.keyAdminArns } : {}),
      // Subscribers receive through SNS; operators read the dead-letter queue through SQS.
      viaServices: ['sns', 'sqs'].map((s) => `${s}.${region}.amazonaws.com`),
      serviceStatements: keyStatements,
    });

    this.deadLetterQueue = new SqsQueue(this, 'DeadLetterQueue', {
      name: `vitals-alerts-dlq-${env}`,
      kmsMasterKeyId: this.key.arn,
      kmsDataKeyReusePeriodSeconds: 300,
      messageRetentionSeconds: DEAD_LETTER_RETENTION_SECONDS,
    });
    new SqsQueuePolicy(this, 'DeadLetterQueuePolicy', {
      queueUrl: this.deadLetterQueue.url,
      policy: JSON.stringify({
        Version: '2012-10-17',
        Statement: [
          {
            Sid: 'ThisBusAndItsRulesDeadLetter',
            Effect: 'Allow',
            Principal: { Service: 'events.amazonaws.com' },
            Action: 'sqs:SendMessage',
            Resource: this.deadLetterQueue.arn,
            Condition: { ArnEquals: { 'aws:SourceArn': [this.busArn, ...allRuleArns] }, StringEquals: { 'aws:SourceAccount': accountId } },
          },
          {
            Sid: 'DenyInsecureTransport',
            Effect: 'Deny',
            Principal: '*',
            Action: 'sqs:*',
            Resource: this.deadLetterQueue.arn,
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          },
        ],
      }),
    });

    this.bus = new CloudwatchEventBus(this, 'Bus', {
      name: this.busName,
      description: `vitals ${env}: NEWS2 alert transitions (source ${ALERT_EVENT_SOURCE})`,
      // Provider 5.100.0 supports a customer-managed key on the bus (kms_key_identifier) and a
      // dead-letter queue for events that fail encryption or decryption (dead_letter_config).
      kmsKeyIdentifier: this.key.arn,
      deadLetterConfig: { arn: this.deadLetterQueue.arn },
    });

    // Provider 5.100.0's aws_cloudwatch_event_archive has no kms_key_identifier (the API has one since
    // 2024): the archive is encrypted with an AWS-owned key. docs/design.md says so and what it holds.
    this.archive = new CloudwatchEventArchive(this, 'Archive', {
      name: `vitals-alerts-${env}`,
      description: `every alert transition on ${this.busName}, for replay`,
      eventSourceArn: this.bus.arn,
      retentionDays: props.archiveRetentionDays ?? DEFAULT_ARCHIVE_RETENTION_DAYS,
      eventPattern: JSON.stringify({ source: [ALERT_EVENT_SOURCE] }),
    });

    const route = (kind: 'fac' | 'esc', name: string, pattern: Record<string, unknown>, description: string, subscriptions: readonly AlertSubscription[]): AlertRoute => {
      const rName = ruleName(kind, name);
      const childId = `${kind === 'fac' ? 'Facility' : 'Escalation'}-${alertRoutingSlug(name)}`;
      const topic = new SnsTopic(this, `${childId}-Topic`, {
        name: rName,
        displayName: kind === 'fac' ? `NEWS2 alerts ${name === '*' ? '(other facilities)' : name}` : `NEWS2 escalation ${name}`,
        kmsMasterKeyId: this.key.arn,
      });
      const rule = new CloudwatchEventRule(this, `${childId}-Rule`, {
        name: rName,
        description,
        eventBusName: this.bus.name,
        eventPattern: JSON.stringify({ source: [ALERT_EVENT_SOURCE], 'detail-type': [ALERT_EVENT_DETAIL_TYPE], ...pattern }),
      });
      const thisRuleArn = ruleArn(rName);
      new SnsTopicPolicy(this, `${childId}-TopicPolicy`, {
        arn: topic.arn,
        policy: JSON.stringify({
          Version: '2012-10-17',
          Statement: [
            {
              Sid: 'AccountManagesTopic',
              Effect: 'Allow',
              Principal: { AWS: `arn:${partition}:iam::${accountId}:root` },
              Action: [...ALERT_TOPIC_ACCOUNT_ACTIONS],
              Resource: topic.arn,
            },
            {
              Sid: 'ThisRulePublishes',
              Effect: 'Allow',
              Principal: { Service: 'events.amazonaws.com' },
              Action: 'sns:Publish',
              Resource: topic.arn,
              Condition: { ArnEquals: { 'aws:SourceArn': thisRuleArn }, StringEquals: { 'aws:SourceAccount': accountId } },
            },
            {
              // Nobody else publishes, whatever their identity policy says: a clinician's pager shows
              // only what the bus routed.
              Sid: 'DenyPublishByAnyoneElse',
              Effect: 'Deny',
              Principal: '*',
              Action: 'sns:Publish',
              Resource: topic.arn,
              Condition: { ArnNotEquals: { 'aws:SourceArn': thisRuleArn } },
            },
            {
              Sid: 'DenyInsecureTransport',
              Effect: 'Deny',
              Principal: '*',
              Action: 'sns:Publish',
              Resource: topic.arn,
              Condition: { Bool: { 'aws:SecureTransport': 'false' } },
            },
          ],
        }),
      });
      new CloudwatchEventTarget(this, `${childId}-Target`, {
        rule: rule.name,
        eventBusName: this.bus.name,
        targetId: 'topic',
        arn: topic.arn,
        retryPolicy: { maximumEventAgeInSeconds: TARGET_MAXIMUM_EVENT_AGE_SECONDS, maximumRetryAttempts: TARGET_MAXIMUM_RETRY_ATTEMPTS },
        deadLetterConfig: { arn: this.deadLetterQueue.arn },
      });
      subscriptions.forEach((s, index) => {
        new SnsTopicSubscription(this, `${childId}-Subscription${index}`, {
          topicArn: topic.arn,
          protocol: s.protocol,
          endpoint: s.endpoint,
          // Severity routing per subscriber: the topic gets every transition of its facility.
          ...(s.severities ? { filterPolicyScope: 'MessageBody', filterPolicy: JSON.stringify({ detail: { severity: [...s.severities] } }) } : {}),
        });
      });
      return { rule, ruleArn: thisRuleArn, topic };
    };

    const listed = facilityNames.filter((f) => f !== '*');
    const facilityRoutes: Record<string, AlertRoute> = {};
    for (const facility of facilityNames) {
      facilityRoutes[facility] = facility === '*'
        ? route('fac', facility, listed.length > 0 ? { detail: { facilityId: [{ 'anything-but': listed }] } } : {},
          'alert transitions of every facility without its own topic (ALERT_SUBSCRIPTIONS "*")', props.facilities['*'] ?? [])
        : route('fac', facility, { detail: { facilityId: [facility] } }, `alert transitions of facility ${facility}`, props.facilities[facility] ?? []);
    }
    this.facilityRoutes = facilityRoutes;
    const escalationRoutes: Record<string, AlertRoute> = {};
    for (const target of escalationNames) {
      escalationRoutes[target] = route('esc', target, { detail: { transition: ['escalated'], escalation: { target: [target] } } },
        `escalations to ${target} (ALERT_ESCALATION_TARGETS routing name)`, props.escalationTargets[target] ?? []);
    }
    this.escalationRoutes = escalationRoutes;
  }

  get deadLetterQueueName(): string {
    return this.deadLetterQueue.name;
  }
}
