/**
 * Monitoring: one KMS-encrypted SNS topic, every alarm of the pipeline (each with an alarm and an OK
 * action on the topic) and one CloudWatch dashboard that shows the pipeline end to end.
 *
 * Every dependency is passed in as a plain value (names, ARNs): nothing is looked up in AWS, so the
 * stack plans offline. Thresholds live in {@link ALARM_THRESHOLDS}; each key carries its unit.
 * docs/runbook.md names, for each alarm, the procedure it leads to.
 */
import { EMAIL_PATTERN, PropProblems } from './prop-problems';
import { Construct } from 'constructs';
import { CloudwatchDashboard } from '@cdktf/provider-aws/lib/cloudwatch-dashboard';
import { CloudwatchLogMetricFilter } from '@cdktf/provider-aws/lib/cloudwatch-log-metric-filter';
import {
  CloudwatchMetricAlarm,
  CloudwatchMetricAlarmMetricQuery,
} from '@cdktf/provider-aws/lib/cloudwatch-metric-alarm';
import { SnsTopic } from '@cdktf/provider-aws/lib/sns-topic';
import { SnsTopicPolicy } from '@cdktf/provider-aws/lib/sns-topic-policy';
import { SnsTopicSubscription } from '@cdktf/provider-aws/lib/sns-topic-subscription';

/**
 * The processor's embedded-metric-format namespace and metric names (src/processor/metrics.ts; a
 * test checks that the processor really emits these, with these dimensions).
 */
export const PROCESSOR_METRIC_NAMESPACE = 'VitalsPipeline';
export const PROCESSOR_METRICS = {
  eventsProcessed: 'EventsProcessed',
  batchLatencyMs: 'BatchLatencyMs',
  millisBehindLatest: 'MillisBehindLatest',
  deadLetters: 'DeadLetters',
  alertsRaised: 'AlertsRaised',
  duplicatesSkipped: 'DuplicatesSkipped',
  leaseLosses: 'LeaseLosses',
  shardsExpiredUnread: 'ShardsExpiredUnread',
  leaseCycleFailures: 'LeaseCycleFailures',
  batchRetries: 'BatchRetries',
  kinesisRetries: 'KinesisRetries',
  kmsThrottles: 'KmsThrottles',
  alertsDelivered: 'AlertsDelivered',
  alertDeliveryFailures: 'AlertDeliveryFailures',
  alertsEscalated: 'AlertsEscalated',
  alertDeliveryLatencyMs: 'AlertDeliveryLatencyMs',
  alertOutboxAgeMs: 'AlertOutboxAgeMs',
} as const;
/** The processor's EMF dimension set: `Service` (its name) and `Environment`. */
export const PROCESSOR_SERVICE_DIMENSION_VALUE = 'vitals-processor';

/** CloudWatch's `treat_missing_data` values. */
export enum TreatMissingData {
  BREACHING = 'breaching',
  NOT_BREACHING = 'notBreaching',
  IGNORE = 'ignore',
  MISSING = 'missing',
}

/**
 * Thresholds, periods and evaluation windows of every alarm, with their units in the names.
 * Why each number:
 * - iterator age 60 s for 5 min: NEWS2 alerts are only as fresh as the oldest unread record; a minute
 *   behind for five minutes is a consumer that is not keeping up, not a blip.
 * - write throttles: any throttled PutRecords record is one the device must resend (API Gateway
 *   returns the per-record failure): alarm on the first one, so shards are added before data waits.
 * - read throttles 20 calls / 5 min: one poller per shard at 5 GetRecords/s/shard sees the occasional
 *   throttle by design (it backs off); a steady stream means too many readers or too few shards.
 * - running tasks below the service minimum for 3 min: a task replacement takes ~1–2 min; longer is
 *   a crash loop or a capacity problem.
 * - processor errors 5 / 5 min: single retryable errors (a failover, a throttled KMS call) heal; five
 *   in five minutes do not.
 * - dead letters: every dead letter is a vital sign that was not scored: alarm on the first.
 * - API 5XX 1 % / 4XX 5 % of requests over 5 min, evaluated only above 20 requests in the period so
 *   one failed request in a quiet dev account is not a 100 % error rate.
 * - API throttles (429) 10 / 5 min: the stage and usage plan cap at 100 requests/s; a few 429s at a
 *   burst are expected, ten in five minutes mean a client needs a higher limit or is misbehaving.
 * - Aurora ACU 90 % and CPU 80 % for 15 min: Serverless v2 scales in seconds, so sustained high
 *   utilisation means the configured maximum is too low.
 * - Aurora free local storage 2 GiB: temporary files and logs live there; below 2 GiB sorts and
 *   vacuum start failing.
 * - deadlocks: the processor's one-transaction-per-batch design should never deadlock: any is a bug.
 * - CloudTrail: no event reaches the trail's log group for an hour (there are always some: every KMS
 *   call of the processor is one), or the trail was stopped, deleted or changed.
 * - database unreachable: 15 failed lease cycles a minute for 2 minutes. Each processor renews every
 *   ~3.3 s (18 cycles a minute), so this is one processor that has not reached the database for two
 *   minutes (or several for less): longer than a failover (30-60 s) or a Serverless scaling blip.
 * - batch retries 20 / 5 min: a lone retry is a dropped connection; twenty in five minutes is a fault
 *   that is not healing (database or KMS), while data waits in the stream.
 * - Kinesis retries 100 / 5 min: the SDK retries 5xx and throttles on its own; a hundred failed
 *   attempts in five minutes (about one every 3 s across all pollers) is a sustained fault.
 * - KMS throttles 50 / 5 min: the processor calls KMS per new patient; steady throttling means the
 *   account's KMS quota (shared by every service in the region) is exhausted.
 * - WAF: 100 blocked requests in 5 min from authenticated hospital clients is an attack or a broken
 *   client, worth a look either way.
 * - alert delivery failures: PutEvents entries the bus refused (or could not be reached for) in each of
 *   3 consecutive minutes: one throttle heals on the relay's next try (0.5 s backoff), three minutes
 *   of failures mean clinicians are not being told.
 * - alert outbox age 30 s (issue 12): the oldest transition not yet accepted by the bus; the relay
 *   delivers within a second when healthy, so half a minute is a relay that is not delivering.
 * - alert dead letters: every message in the queue is an alert EventBridge gave up delivering to a
 *   topic (after an hour of retries) or could not encrypt: alarm on the first.
 */
export const ALARM_THRESHOLDS = {
  kinesisIteratorAge: { thresholdMilliseconds: 60_000, periodSeconds: 60, evaluationPeriods: 5 },
  kinesisWriteThrottles: { thresholdRecords: 1, periodSeconds: 60, evaluationPeriods: 1 },
  kinesisReadThrottles: { thresholdCalls: 20, periodSeconds: 300, evaluationPeriods: 1 },
  processorRunningTasks: { periodSeconds: 60, evaluationPeriods: 3 },
  processorErrors: { thresholdErrors: 5, periodSeconds: 300, evaluationPeriods: 1 },
  deadLetters: { thresholdEvents: 1, periodSeconds: 300, evaluationPeriods: 1 },
  shardsExpiredUnread: { thresholdShards: 1, periodSeconds: 300, evaluationPeriods: 1 },
  processorDatabaseUnreachable: { thresholdFailedCycles: 15, periodSeconds: 60, evaluationPeriods: 2 },
  processorBatchRetries: { thresholdRetries: 20, periodSeconds: 300, evaluationPeriods: 1 },
  processorKinesisRetries: { thresholdAttempts: 100, periodSeconds: 300, evaluationPeriods: 1 },
  processorKmsThrottles: { thresholdAttempts: 50, periodSeconds: 300, evaluationPeriods: 1 },
  api5xxRate: { thresholdPercent: 1, minRequestsPerPeriod: 20, periodSeconds: 300, evaluationPeriods: 1 },
  api4xxRate: { thresholdPercent: 5, minRequestsPerPeriod: 20, periodSeconds: 300, evaluationPeriods: 1 },
  apiThrottles: { thresholdRequests: 10, periodSeconds: 300, evaluationPeriods: 1 },
  auroraAcuUtilization: { thresholdPercent: 90, periodSeconds: 300, evaluationPeriods: 3 },
  auroraCpu: { thresholdPercent: 80, periodSeconds: 300, evaluationPeriods: 3 },
  auroraFreeLocalStorage: { thresholdBytes: 2 * 1024 ** 3, periodSeconds: 300, evaluationPeriods: 1 },
  auroraDeadlocks: { thresholdDeadlocksPerSecond: 0, periodSeconds: 300, evaluationPeriods: 1 },
  cloudTrailDelivery: { thresholdEvents: 1, periodSeconds: 3600, evaluationPeriods: 1 },
  cloudTrailLoggingChanged: { thresholdEvents: 1, periodSeconds: 300, evaluationPeriods: 1 },
  wafBlockedRequests: { thresholdRequests: 100, periodSeconds: 300, evaluationPeriods: 1 },
  alertDeliveryFailures: { thresholdFailures: 1, periodSeconds: 60, evaluationPeriods: 3 },
  alertOutboxAge: { thresholdMilliseconds: 30_000, periodSeconds: 60, evaluationPeriods: 1 },
  alertDeadLetters: { thresholdMessages: 1, periodSeconds: 60, evaluationPeriods: 1 },
} as const;

export type AlarmId = keyof typeof ALARM_THRESHOLDS;

/** Physical names: `<prefix>-<slug>-<env>`. */
const ALARM_SLUGS: Readonly<Record<AlarmId, string>> = {
  kinesisIteratorAge: 'kinesis-iterator-age',
  kinesisWriteThrottles: 'kinesis-write-throttles',
  kinesisReadThrottles: 'kinesis-read-throttles',
  processorRunningTasks: 'processor-running-tasks',
  processorErrors: 'processor-errors',
  deadLetters: 'processor-dead-letters',
  shardsExpiredUnread: 'processor-shards-expired-unread',
  processorDatabaseUnreachable: 'processor-database-unreachable',
  processorBatchRetries: 'processor-batch-retries',
  processorKinesisRetries: 'processor-kinesis-retries',
  processorKmsThrottles: 'processor-kms-throttles',
  api5xxRate: 'api-5xx-rate',
  api4xxRate: 'api-4xx-rate',
  apiThrottles: 'api-throttles',
  auroraAcuUtilization: 'aurora-acu-utilization',
  auroraCpu: 'aurora-cpu',
  auroraFreeLocalStorage: 'aurora-free-local-storage',
  auroraDeadlocks: 'aurora-deadlocks',
  cloudTrailDelivery: 'cloudtrail-delivery',
  cloudTrailLoggingChanged: 'cloudtrail-logging-changed',
  wafBlockedRequests: 'waf-blocked-requests',
  alertDeliveryFailures: 'alert-delivery-failures',
  alertOutboxAge: 'alert-outbox-age',
  alertDeadLetters: 'alert-dead-letters',
};

/** Log-derived metrics (metric filters) live beside the processor's, in `<namespace>/LogMetrics`. */
export const LOG_METRICS = {
  /** pino `error`/`fatal` lines of the processor: every failure path logs one (the EMF metrics count only outcomes). */
  processorErrors: 'ProcessorErrorLogs',
  apiThrottled: 'ApiThrottledRequests',
  cloudTrailEvents: 'CloudTrailEventsDelivered',
  cloudTrailLoggingChanged: 'CloudTrailLoggingChanged',
} as const;

/**
 * CloudTrail API calls that stop or redirect audit logging (CIS AWS Foundations 4.5's list, narrowed
 * to the calls that can interrupt delivery).
 */
export const CLOUDTRAIL_LOGGING_CHANGE_EVENTS = ['StopLogging', 'DeleteTrail', 'UpdateTrail', 'PutEventSelectors'] as const;

export interface MonitoringProps {
  /** Environment suffix (lowercase alphanumeric); every name ends with it. */
  readonly environment: string;
  /** Region of every monitored resource (dashboard widgets name it). */
  readonly region: string;
  /** 12-digit account id: the topic policy admits CloudWatch alarms of this account only. */
  readonly accountId: string;
  /**
   * ARN partition.
   * @default 'aws'
   */
  readonly partition?: string;
  /**
   * Customer-managed KMS key of the alarm topic. Its key policy must let `cloudwatch.amazonaws.com`
   * use `kms:GenerateDataKey*` and `kms:Decrypt`, or alarms cannot publish.
   */
  readonly keyArn: string;
  /**
   * E-mail addresses subscribed to the topic (each must confirm the subscription once).
   * @default [] (no subscription: attach a pager or chat integration to the topic yourself)
   */
  readonly alarmEmails?: readonly string[];
  /**
   * Prefix of every physical name.
   * @default 'vitals'
   */
  readonly namePrefix?: string;
  /** Kinesis data stream name. */
  readonly streamName: string;
  /** The stream's shard count (the dashboard draws the write capacity it gives). */
  readonly shardCount: number;
  /** ECS cluster of the processor (Container Insights enabled). */
  readonly ecsClusterName: string;
  /** ECS service of the processor. */
  readonly ecsServiceName: string;
  /** Minimum number of processor tasks (the autoscaling minimum); fewer running raises an alarm. */
  readonly minTaskCount: number;
  /** Log group of the processor's JSON logs (pino: `level` is the label, e.g. "error"). */
  readonly processorLogGroupName: string;
  /** API Gateway REST API name (the `ApiName` metric dimension). */
  readonly apiName: string;
  /** API Gateway stage name. */
  readonly stageName: string;
  /**
   * Log group of the stage's JSON access logs. API Gateway has no throttle metric (429s are folded
   * into 4XXError), so a metric filter counts `status` 429 entries here.
   */
  readonly apiAccessLogGroupName: string;
  /**
   * JSON field of the access-log format that holds `$context.status`.
   * @default 'status'
   */
  readonly apiAccessLogStatusField?: string;
  /** Aurora cluster identifier. */
  readonly dbClusterIdentifier: string;
  /** The cluster's maximum ACUs (the dashboard draws it). */
  readonly dbMaxCapacityAcu: number;
  /** CloudTrail trail name. */
  readonly trailName: string;
  /** Log group the trail delivers to (CloudTrail publishes no delivery metric: we count deliveries). */
  readonly trailLogGroupName: string;
  /** Regional WAF web ACL name (the `WebACL` metric dimension). */
  readonly webAclName: string;
  /** The alert bus's dead-letter queue (src/infra/alert-delivery.ts): alerts EventBridge could not deliver. */
  readonly alertDeadLetterQueueName: string;
  /**
   * The processor's EMF namespace.
   * @default 'VitalsPipeline'
   */
  readonly metricNamespace?: string;
  /**
   * Value of the `Service` dimension on the processor's EMF metrics.
   * @default 'vitals-processor'
   */
  readonly processorServiceDimension?: string;
}

/** One metric of a CloudWatch alarm or widget. */
interface MetricRef {
  readonly namespace: string;
  readonly metricName: string;
  readonly dimensions: Readonly<Record<string, string>>;
  readonly stat: string;
}

interface AlarmDefinition {
  readonly description: string;
  readonly comparison:
    | 'GreaterThanOrEqualToThreshold'
    | 'GreaterThanThreshold'
    | 'LessThanThreshold'
    | 'LessThanOrEqualToThreshold';
  readonly threshold: number;
  readonly periodSeconds: number;
  readonly evaluationPeriods: number;
  readonly treatMissingData: TreatMissingData;
  /** Why this missing-data treatment (kept in the alarm description for the on-call reader). */
  readonly missingDataReason: string;
  /** Runbook section the alarm leads to. */
  readonly runbook: string;
  /** A single metric, or a metric-math expression over named metrics. */
  readonly metric: MetricRef | { readonly expression: string; readonly label: string; readonly inputs: Readonly<Record<string, MetricRef>> };
}

/** Kinesis write capacity of one shard, records per second. */
const SHARD_WRITE_RECORDS_PER_SECOND = 1000;


/** Collects every invalid prop and throws once, naming prop, rule and received value. */
function validate(props: MonitoringProps): void {
  const p = new PropProblems('Monitoring')
    .environment('environment', props.environment)
    .accountId('accountId', props.accountId)
    .integer('shardCount', props.shardCount, 1)
    .integer('minTaskCount', props.minTaskCount, 1, undefined, ' (a pipeline with no processor is down)')
    .check(props.dbMaxCapacityAcu >= 0.5 && props.dbMaxCapacityAcu <= 256, 'dbMaxCapacityAcu', 'must be from 0.5 to 256', props.dbMaxCapacityAcu);
  for (const email of props.alarmEmails ?? []) p.check(EMAIL_PATTERN.test(email), 'alarmEmails', 'must hold e-mail addresses', email);
  const field = props.apiAccessLogStatusField ?? 'status';
  p.check(/^[A-Za-z_][A-Za-z0-9_]*$/.test(field), 'apiAccessLogStatusField', 'must be a plain JSON field name', field);
  p.throwIfAny();
}

export class Monitoring extends Construct {
  /** The alarm topic (KMS-encrypted with {@link MonitoringProps.keyArn}). */
  public readonly topic: SnsTopic;
  public readonly topicArn: string;
  /** Every alarm, by id. */
  public readonly alarms: Readonly<Record<AlarmId, CloudwatchMetricAlarm>>;
  /** Physical names of every alarm, in {@link ALARM_THRESHOLDS} order. */
  public readonly alarmNames: readonly string[];
  public readonly dashboard: CloudwatchDashboard;
  public readonly dashboardName: string;

  constructor(scope: Construct, id: string, props: MonitoringProps) {
    super(scope, id);
    validate(props);

    const env = props.environment;
    const prefix = props.namePrefix ?? 'vitals';
    const partition = props.partition ?? 'aws';
    const namespace = props.metricNamespace ?? PROCESSOR_METRIC_NAMESPACE;
    const logMetricNamespace = `${namespace}/LogMetrics`;
    const name = (slug: string): string => `${prefix}-${slug}-${env}`;

    this.topic = new SnsTopic(this, 'Topic', {
      name: name('alarms'),
      displayName: `Vitals pipeline alarms (${env})`,
      kmsMasterKeyId: props.keyArn,
    });
    this.topicArn = this.topic.arn;

    new SnsTopicPolicy(this, 'TopicPolicy', {
      arn: this.topic.arn,
      policy: JSON.stringify({
        Version: '2012-10-17',
        Statement: [
          {
            Sid: 'AccountManagesTopic',
            Effect: 'Allow',
            Principal: { AWS: `arn:${partition}:iam::${props.accountId}:root` },
            Action: ['sns:GetTopicAttributes', 'sns:SetTopicAttributes', 'sns:Subscribe', 'sns:ListSubscriptionsByTopic', 'sns:Publish'],
            Resource: this.topic.arn,
          },
          {
            Sid: 'CloudWatchAlarmsOfThisAccountPublish',
            Effect: 'Allow',
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: 'sns:Publish',
            Resource: this.topic.arn,
            Condition: {
              StringEquals: { 'aws:SourceAccount': props.accountId },
              ArnLike: { 'aws:SourceArn': `arn:${partition}:cloudwatch:${props.region}:${props.accountId}:alarm:*` },
            },
          },
          {
            Sid: 'DenyInsecureTransport',
            Effect: 'Deny',
            Principal: '*',
            Action: 'sns:Publish',
            Resource: this.topic.arn,
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          },
        ],
      }),
    });

    (props.alarmEmails ?? []).forEach((email, index) => {
      new SnsTopicSubscription(this, `Email${index}`, { topicArn: this.topic.arn, protocol: 'email', endpoint: email });
    });

    // Log-derived metrics: the two signals AWS does not publish as metrics.
    const statusField = props.apiAccessLogStatusField ?? 'status';
    const logMetricFilters: ReadonlyArray<{ id: string; logGroupName: string; metric: string; pattern: string; defaultValue?: string }> = [
      {
        id: 'ProcessorErrorsFilter',
        logGroupName: props.processorLogGroupName,
        metric: LOG_METRICS.processorErrors,
        pattern: '{ ($.level = "error") || ($.level = "fatal") }',
        defaultValue: '0',
      },
      {
        id: 'ApiThrottledFilter',
        logGroupName: props.apiAccessLogGroupName,
        metric: LOG_METRICS.apiThrottled,
        // The access-log format quotes every value ("status":"429"), so the match is on the string.
        pattern: `{ $.${statusField} = "429" }`,
        defaultValue: '0',
      },
      {
        // Matches every trail event: its absence is the delivery failure (no default value, so an
        // hour without any event is missing data, which that alarm treats as breaching).
        id: 'CloudTrailDeliveredFilter',
        logGroupName: props.trailLogGroupName,
        metric: LOG_METRICS.cloudTrailEvents,
        pattern: '{ $.eventID = "*" }',
      },
      {
        id: 'CloudTrailLoggingChangedFilter',
        logGroupName: props.trailLogGroupName,
        metric: LOG_METRICS.cloudTrailLoggingChanged,
        pattern: `{ ($.eventSource = "cloudtrail.amazonaws.com") && (${CLOUDTRAIL_LOGGING_CHANGE_EVENTS.map((e) => `($.eventName = "${e}")`).join(' || ')}) }`,
        defaultValue: '0',
      },
    ];
    for (const filter of logMetricFilters) {
      new CloudwatchLogMetricFilter(this, filter.id, {
        name: `${filter.metric}-${env}`,
        logGroupName: filter.logGroupName,
        pattern: filter.pattern,
        metricTransformation: {
          name: `${filter.metric}-${env}`,
          namespace: logMetricNamespace,
          value: '1',
          unit: 'Count',
          ...(filter.defaultValue !== undefined ? { defaultValue: filter.defaultValue } : {}),
        },
      });
    }

    const t = ALARM_THRESHOLDS;
    const stream = { StreamName: props.streamName };
    const ecsService = { ClusterName: props.ecsClusterName, ServiceName: props.ecsServiceName };
    const api = { ApiName: props.apiName, Stage: props.stageName };
    const db = { DBClusterIdentifier: props.dbClusterIdentifier };
    const processor = processorDimensions(props);
    const metric = (ns: string, metricName: string, dimensions: Record<string, string>, stat: string): MetricRef => ({ namespace: ns, metricName, dimensions, stat });
    const logMetric = (metricName: string): MetricRef => metric(logMetricNamespace, `${metricName}-${env}`, {}, 'Sum');
    const errorRate = (errorMetric: string, minRequests: number): AlarmDefinition['metric'] => ({
      expression: `IF(requests >= ${minRequests}, 100 * errors / requests, 0)`,
      label: `${errorMetric} % of requests`,
      inputs: {
        errors: metric('AWS/ApiGateway', errorMetric, api, 'Sum'),
        requests: metric('AWS/ApiGateway', 'Count', api, 'Sum'),
      },
    });

    const definitions: Record<AlarmId, AlarmDefinition> = {
      kinesisIteratorAge: {
        description: `Processor falling behind: oldest unread record in ${props.streamName} older than ${t.kinesisIteratorAge.thresholdMilliseconds} ms`,
        comparison: 'GreaterThanOrEqualToThreshold',
        threshold: t.kinesisIteratorAge.thresholdMilliseconds,
        periodSeconds: t.kinesisIteratorAge.periodSeconds,
        evaluationPeriods: t.kinesisIteratorAge.evaluationPeriods,
        treatMissingData: TreatMissingData.BREACHING,
        missingDataReason: 'a live poller reports an age on every GetRecords call, even an idle one; none means no consumer',
        runbook: 'Processor falling behind',
        metric: metric('AWS/Kinesis', 'GetRecords.IteratorAgeMilliseconds', stream, 'Maximum'),
      },
      kinesisWriteThrottles: {
        description: `PutRecords records throttled on ${props.streamName}: the stream needs more shards or a partition key is hot`,
        comparison: 'GreaterThanOrEqualToThreshold',
        threshold: t.kinesisWriteThrottles.thresholdRecords,
        periodSeconds: t.kinesisWriteThrottles.periodSeconds,
        evaluationPeriods: t.kinesisWriteThrottles.evaluationPeriods,
        treatMissingData: TreatMissingData.NOT_BREACHING,
        missingDataReason: 'published only while records are written; no writes means no throttling',
        runbook: 'Scale shards',
        metric: metric('AWS/Kinesis', 'WriteProvisionedThroughputExceeded', stream, 'Sum'),
      },
      kinesisReadThrottles: {
        description: `GetRecords calls throttled on ${props.streamName}: too many readers per shard or too few shards`,
        comparison: 'GreaterThanOrEqualToThreshold',
        threshold: t.kinesisReadThrottles.thresholdCalls,
        periodSeconds: t.kinesisReadThrottles.periodSeconds,
        evaluationPeriods: t.kinesisReadThrottles.evaluationPeriods,
        treatMissingData: TreatMissingData.NOT_BREACHING,
        missingDataReason: 'published only while records are read; the iterator-age alarm covers a stopped reader',
        runbook: 'Scale shards',
        metric: metric('AWS/Kinesis', 'ReadProvisionedThroughputExceeded', stream, 'Sum'),
      },
      processorRunningTasks: {
        description: `Fewer than ${props.minTaskCount} processor tasks running in ${props.ecsServiceName}`,
        comparison: 'LessThanThreshold',
        threshold: props.minTaskCount,
        periodSeconds: t.processorRunningTasks.periodSeconds,
        evaluationPeriods: t.processorRunningTasks.evaluationPeriods,
        treatMissingData: TreatMissingData.BREACHING,
        missingDataReason: 'Container Insights reports every minute for a live service; silence means the service or its insights are gone',
        runbook: 'Processor tasks below minimum',
        metric: metric('ECS/ContainerInsights', 'RunningTaskCount', ecsService, 'Minimum'),
      },
      processorErrors: {
        description: `Processor error and fatal log lines in ${props.processorLogGroupName}`,
        comparison: 'GreaterThanOrEqualToThreshold',
        threshold: t.processorErrors.thresholdErrors,
        periodSeconds: t.processorErrors.periodSeconds,
        evaluationPeriods: t.processorErrors.evaluationPeriods,
        treatMissingData: TreatMissingData.NOT_BREACHING,
        missingDataReason: 'the filter reports 0 while the processor logs; the task-count and iterator-age alarms cover a silent processor',
        runbook: 'Processor errors',
        metric: logMetric(LOG_METRICS.processorErrors),
      },
      deadLetters: {
        description: `Events dead-lettered by the processor (EMF ${PROCESSOR_METRICS.deadLetters}) in ${env}: vital signs that were not scored`,
        comparison: 'GreaterThanOrEqualToThreshold',
        threshold: t.deadLetters.thresholdEvents,
        periodSeconds: t.deadLetters.periodSeconds,
        evaluationPeriods: t.deadLetters.evaluationPeriods,
        treatMissingData: TreatMissingData.NOT_BREACHING,
        missingDataReason: 'no datapoint means nothing was dead-lettered',
        runbook: 'Drain and requeue dead letters',
        metric: metric(namespace, PROCESSOR_METRICS.deadLetters, processor, 'Sum'),
      },
      shardsExpiredUnread: {
        description: `Shards trimmed from the stream before the processor finished them (EMF ${PROCESSOR_METRICS.shardsExpiredUnread}) in ${env}: records were lost to retention`,
        comparison: 'GreaterThanOrEqualToThreshold',
        threshold: t.shardsExpiredUnread.thresholdShards,
        periodSeconds: t.shardsExpiredUnread.periodSeconds,
        evaluationPeriods: t.shardsExpiredUnread.evaluationPeriods,
        treatMissingData: TreatMissingData.NOT_BREACHING,
        missingDataReason: 'no datapoint means no shard expired unread',
        runbook: 'Records expired unread',
        metric: metric(namespace, PROCESSOR_METRICS.shardsExpiredUnread, processor, 'Sum'),
      },
      processorDatabaseUnreachable: {
        description: `Processor cannot reach the database (EMF ${PROCESSOR_METRICS.leaseCycleFailures}: failed lease renewals) in ${env}: events wait in the stream`,
        comparison: 'GreaterThanOrEqualToThreshold',
        threshold: t.processorDatabaseUnreachable.thresholdFailedCycles,
        periodSeconds: t.processorDatabaseUnreachable.periodSeconds,
        evaluationPeriods: t.processorDatabaseUnreachable.evaluationPeriods,
        treatMissingData: TreatMissingData.NOT_BREACHING,
        missingDataReason: 'the metric is emitted only when a lease cycle fails; the running-task and iterator-age alarms cover a silent processor',
        runbook: 'Database unreachable',
        metric: metric(namespace, PROCESSOR_METRICS.leaseCycleFailures, processor, 'Sum'),
      },
      processorBatchRetries: {
        description: `Batch writes retried (EMF ${PROCESSOR_METRICS.batchRetries}) in ${env}: a database or KMS fault is not healing`,
        comparison: 'GreaterThanOrEqualToThreshold',
        threshold: t.processorBatchRetries.thresholdRetries,
        periodSeconds: t.processorBatchRetries.periodSeconds,
        evaluationPeriods: t.processorBatchRetries.evaluationPeriods,
        treatMissingData: TreatMissingData.NOT_BREACHING,
        missingDataReason: 'emitted only when a batch is retried',
        runbook: 'Batch retries',
        metric: metric(namespace, PROCESSOR_METRICS.batchRetries, processor, 'Sum'),
      },
      processorKinesisRetries: {
        description: `Kinesis calls failing retryably (EMF ${PROCESSOR_METRICS.kinesisRetries}: 5xx, network, throttling) in ${env}`,
        comparison: 'GreaterThanOrEqualToThreshold',
        threshold: t.processorKinesisRetries.thresholdAttempts,
        periodSeconds: t.processorKinesisRetries.periodSeconds,
        evaluationPeriods: t.processorKinesisRetries.evaluationPeriods,
        treatMissingData: TreatMissingData.NOT_BREACHING,
        missingDataReason: 'emitted only when a Kinesis attempt fails',
        runbook: 'Kinesis errors',
        metric: metric(namespace, PROCESSOR_METRICS.kinesisRetries, processor, 'Sum'),
      },
      processorKmsThrottles: {
        description: `KMS throttling the processor (EMF ${PROCESSOR_METRICS.kmsThrottles}) in ${env}: the account's KMS request quota is exhausted`,
        comparison: 'GreaterThanOrEqualToThreshold',
        threshold: t.processorKmsThrottles.thresholdAttempts,
        periodSeconds: t.processorKmsThrottles.periodSeconds,
        evaluationPeriods: t.processorKmsThrottles.evaluationPeriods,
        treatMissingData: TreatMissingData.NOT_BREACHING,
        missingDataReason: 'emitted only when KMS throttles a call',
        runbook: 'KMS throttling',
        metric: metric(namespace, PROCESSOR_METRICS.kmsThrottles, processor, 'Sum'),
      },
      api5xxRate: {
        description: `API ${props.apiName}/${props.stageName}: 5XX responses above ${t.api5xxRate.thresholdPercent} % of requests`,
        comparison: 'GreaterThanOrEqualToThreshold',
        threshold: t.api5xxRate.thresholdPercent,
        periodSeconds: t.api5xxRate.periodSeconds,
        evaluationPeriods: t.api5xxRate.evaluationPeriods,
        treatMissingData: TreatMissingData.NOT_BREACHING,
        missingDataReason: 'no requests means no failed requests',
        runbook: 'API errors',
        metric: errorRate('5XXError', t.api5xxRate.minRequestsPerPeriod),
      },
      api4xxRate: {
        description: `API ${props.apiName}/${props.stageName}: 4XX responses above ${t.api4xxRate.thresholdPercent} % of requests (rejected auth, invalid batches, throttling)`,
        comparison: 'GreaterThanOrEqualToThreshold',
        threshold: t.api4xxRate.thresholdPercent,
        periodSeconds: t.api4xxRate.periodSeconds,
        evaluationPeriods: t.api4xxRate.evaluationPeriods,
        treatMissingData: TreatMissingData.NOT_BREACHING,
        missingDataReason: 'no requests means no rejected requests',
        runbook: 'API errors',
        metric: errorRate('4XXError', t.api4xxRate.minRequestsPerPeriod),
      },
      apiThrottles: {
        description: `API ${props.apiName}/${props.stageName}: requests answered 429 (stage or usage-plan throttle, or API-key quota), counted from the access log`,
        comparison: 'GreaterThanOrEqualToThreshold',
        threshold: t.apiThrottles.thresholdRequests,
        periodSeconds: t.apiThrottles.periodSeconds,
        evaluationPeriods: t.apiThrottles.evaluationPeriods,
        treatMissingData: TreatMissingData.NOT_BREACHING,
        missingDataReason: 'the filter reports 0 while requests flow and nothing without requests',
        runbook: 'API throttling',
        metric: logMetric(LOG_METRICS.apiThrottled),
      },
      auroraAcuUtilization: {
        description: `Aurora ${props.dbClusterIdentifier} near its maximum of ${props.dbMaxCapacityAcu} ACUs`,
        comparison: 'GreaterThanOrEqualToThreshold',
        threshold: t.auroraAcuUtilization.thresholdPercent,
        periodSeconds: t.auroraAcuUtilization.periodSeconds,
        evaluationPeriods: t.auroraAcuUtilization.evaluationPeriods,
        treatMissingData: TreatMissingData.IGNORE,
        missingDataReason: 'a capacity alarm: a gap says nothing about capacity (an unreachable database shows in processor errors and iterator age)',
        runbook: 'Database capacity',
        metric: metric('AWS/RDS', 'ACUUtilization', db, 'Maximum'),
      },
      auroraCpu: {
        description: `Aurora ${props.dbClusterIdentifier} CPU high`,
        comparison: 'GreaterThanOrEqualToThreshold',
        threshold: t.auroraCpu.thresholdPercent,
        periodSeconds: t.auroraCpu.periodSeconds,
        evaluationPeriods: t.auroraCpu.evaluationPeriods,
        treatMissingData: TreatMissingData.IGNORE,
        missingDataReason: 'a capacity alarm: a gap says nothing about load',
        runbook: 'Database capacity',
        metric: metric('AWS/RDS', 'CPUUtilization', db, 'Maximum'),
      },
      auroraFreeLocalStorage: {
        description: `Aurora ${props.dbClusterIdentifier} local storage (temp files, logs) below ${t.auroraFreeLocalStorage.thresholdBytes} bytes`,
        comparison: 'LessThanThreshold',
        threshold: t.auroraFreeLocalStorage.thresholdBytes,
        periodSeconds: t.auroraFreeLocalStorage.periodSeconds,
        evaluationPeriods: t.auroraFreeLocalStorage.evaluationPeriods,
        treatMissingData: TreatMissingData.IGNORE,
        missingDataReason: 'a capacity alarm: a gap says nothing about free space',
        runbook: 'Database capacity',
        metric: metric('AWS/RDS', 'FreeLocalStorage', db, 'Minimum'),
      },
      auroraDeadlocks: {
        description: `Aurora ${props.dbClusterIdentifier} reported deadlocks (the processor's batch transactions should never deadlock)`,
        comparison: 'GreaterThanThreshold',
        threshold: t.auroraDeadlocks.thresholdDeadlocksPerSecond,
        periodSeconds: t.auroraDeadlocks.periodSeconds,
        evaluationPeriods: t.auroraDeadlocks.evaluationPeriods,
        treatMissingData: TreatMissingData.NOT_BREACHING,
        missingDataReason: 'no datapoint means no deadlock was counted',
        runbook: 'Database deadlocks',
        metric: metric('AWS/RDS', 'Deadlocks', db, 'Maximum'),
      },
      cloudTrailDelivery: {
        description: `No CloudTrail event from ${props.trailName} reached ${props.trailLogGroupName} in ${t.cloudTrailDelivery.periodSeconds} s: audit delivery is failing (check get-trail-status)`,
        comparison: 'LessThanThreshold',
        threshold: t.cloudTrailDelivery.thresholdEvents,
        periodSeconds: t.cloudTrailDelivery.periodSeconds,
        evaluationPeriods: t.cloudTrailDelivery.evaluationPeriods,
        treatMissingData: TreatMissingData.BREACHING,
        missingDataReason: 'the absence of events is exactly the failure this alarm looks for',
        runbook: 'CloudTrail delivery failure',
        metric: logMetric(LOG_METRICS.cloudTrailEvents),
      },
      cloudTrailLoggingChanged: {
        description: `CloudTrail logging stopped, deleted or reconfigured (${CLOUDTRAIL_LOGGING_CHANGE_EVENTS.join(', ')})`,
        comparison: 'GreaterThanOrEqualToThreshold',
        threshold: t.cloudTrailLoggingChanged.thresholdEvents,
        periodSeconds: t.cloudTrailLoggingChanged.periodSeconds,
        evaluationPeriods: t.cloudTrailLoggingChanged.evaluationPeriods,
        treatMissingData: TreatMissingData.NOT_BREACHING,
        missingDataReason: 'the filter reports 0 while events flow; the delivery alarm covers silence',
        runbook: 'CloudTrail delivery failure',
        metric: logMetric(LOG_METRICS.cloudTrailLoggingChanged),
      },
      wafBlockedRequests: {
        description: `WAF ${props.webAclName} blocked-request spike`,
        comparison: 'GreaterThanOrEqualToThreshold',
        threshold: t.wafBlockedRequests.thresholdRequests,
        periodSeconds: t.wafBlockedRequests.periodSeconds,
        evaluationPeriods: t.wafBlockedRequests.evaluationPeriods,
        treatMissingData: TreatMissingData.NOT_BREACHING,
        missingDataReason: 'WAF reports BlockedRequests only when non-zero',
        runbook: 'WAF blocked-request spike',
        metric: metric('AWS/WAFV2', 'BlockedRequests', { WebACL: props.webAclName, Region: props.region, Rule: 'ALL' }, 'Sum'),
      },
      alertDeliveryFailures: {
        description: `Alert transitions the event bus refused or could not be reached for (EMF ${PROCESSOR_METRICS.alertDeliveryFailures}) in ${env}: clinicians are not being told`,
        comparison: 'GreaterThanOrEqualToThreshold',
        threshold: t.alertDeliveryFailures.thresholdFailures,
        periodSeconds: t.alertDeliveryFailures.periodSeconds,
        evaluationPeriods: t.alertDeliveryFailures.evaluationPeriods,
        treatMissingData: TreatMissingData.NOT_BREACHING,
        missingDataReason: 'emitted only when a PutEvents entry fails; the outbox-age alarm covers a relay that does not run',
        runbook: 'Alert delivery failures',
        metric: metric(namespace, PROCESSOR_METRICS.alertDeliveryFailures, processor, 'Sum'),
      },
      alertOutboxAge: {
        description: `Oldest alert transition not yet accepted by the event bus (EMF ${PROCESSOR_METRICS.alertOutboxAgeMs}) older than ${t.alertOutboxAge.thresholdMilliseconds} ms in ${env}`,
        comparison: 'GreaterThanThreshold',
        threshold: t.alertOutboxAge.thresholdMilliseconds,
        periodSeconds: t.alertOutboxAge.periodSeconds,
        evaluationPeriods: t.alertOutboxAge.evaluationPeriods,
        treatMissingData: TreatMissingData.BREACHING,
        missingDataReason: 'every processor task reports the age every 10 s (0 when nothing waits); silence means no task is watching the outbox',
        runbook: 'Alert outbox backlog',
        metric: metric(namespace, PROCESSOR_METRICS.alertOutboxAgeMs, processor, 'Maximum'),
      },
      alertDeadLetters: {
        description: `Alerts EventBridge could not deliver to their topic (after retries) or could not encrypt, waiting in ${props.alertDeadLetterQueueName}`,
        comparison: 'GreaterThanOrEqualToThreshold',
        threshold: t.alertDeadLetters.thresholdMessages,
        periodSeconds: t.alertDeadLetters.periodSeconds,
        evaluationPeriods: t.alertDeadLetters.evaluationPeriods,
        treatMissingData: TreatMissingData.NOT_BREACHING,
        missingDataReason: 'SQS stops reporting an empty, idle queue; a queue holding messages is active and reported',
        runbook: 'Alert dead letters',
        metric: metric('AWS/SQS', 'ApproximateNumberOfMessagesVisible', { QueueName: props.alertDeadLetterQueueName }, 'Maximum'),
      },
    };

    const alarms = {} as Record<AlarmId, CloudwatchMetricAlarm>;
    for (const id of Object.keys(ALARM_THRESHOLDS) as AlarmId[]) {
      alarms[id] = this.alarm(id, name(ALARM_SLUGS[id]), definitions[id]);
    }
    this.alarms = alarms;
    this.alarmNames = (Object.keys(ALARM_THRESHOLDS) as AlarmId[]).map((id) => name(ALARM_SLUGS[id]));

    this.dashboardName = name('pipeline');
    this.dashboard = new CloudwatchDashboard(this, 'Dashboard', {
      dashboardName: this.dashboardName,
      dashboardBody: JSON.stringify(dashboardBody(props, namespace, logMetricNamespace, this.alarms)),
    });
  }

  private alarm(id: AlarmId, alarmName: string, d: AlarmDefinition): CloudwatchMetricAlarm {
    const common = {
      alarmName,
      alarmDescription: `${d.description}. Runbook: docs/runbook.md, "${d.runbook}". Missing data: ${d.treatMissingData} (${d.missingDataReason}).`,
      comparisonOperator: d.comparison,
      threshold: d.threshold,
      evaluationPeriods: d.evaluationPeriods,
      datapointsToAlarm: d.evaluationPeriods,
      treatMissingData: d.treatMissingData,
      alarmActions: [this.topic.arn],
      okActions: [this.topic.arn],
    };
    if ('expression' in d.metric) {
      const queries: CloudwatchMetricAlarmMetricQuery[] = [
        { id: 'rate', expression: d.metric.expression, label: d.metric.label, returnData: true },
        ...Object.entries(d.metric.inputs).map(([queryId, m]) => ({
          id: queryId,
          returnData: false,
          metric: { namespace: m.namespace, metricName: m.metricName, dimensions: { ...m.dimensions }, stat: m.stat, period: d.periodSeconds },
        })),
      ];
      return new CloudwatchMetricAlarm(this, `Alarm-${id}`, { ...common, metricQuery: queries });
    }
    const m = d.metric;
    return new CloudwatchMetricAlarm(this, `Alarm-${id}`, {
      ...common,
      namespace: m.namespace,
      metricName: m.metricName,
      ...(Object.keys(m.dimensions).length > 0 ? { dimensions: { ...m.dimensions } } : {}),
      statistic: m.stat,
      period: d.periodSeconds,
    });
  }
}

/** The dimension set of the processor's EMF metrics (a metric is found only by its exact set). */
function processorDimensions(props: MonitoringProps): Record<string, string> {
  return { Service: props.processorServiceDimension ?? PROCESSOR_SERVICE_DIMENSION_VALUE, Environment: props.environment };
}

/** One CloudWatch dashboard-body metric line: namespace, name, dimension pairs, then options. */
type MetricLine = Array<string | Record<string, unknown>>;
const line = (ns: string, metricName: string, dimensions: Readonly<Record<string, string>>, options: Record<string, unknown>): MetricLine => [
  ns,
  metricName,
  ...Object.entries(dimensions).flat(),
  options,
];

/** The dashboard, top to bottom in pipeline order: ingest, stream lag, processing, latency, outcomes, database. */
function dashboardBody(
  props: MonitoringProps,
  namespace: string,
  logMetricNamespace: string,
  alarms: Readonly<Record<AlarmId, CloudwatchMetricAlarm>>,
): { widgets: unknown[] } {
  const region = props.region;
  const stream = { StreamName: props.streamName };
  const api = { ApiName: props.apiName, Stage: props.stageName };
  const db = { DBClusterIdentifier: props.dbClusterIdentifier };
  const processor = processorDimensions(props);
  const ecsService = { ClusterName: props.ecsClusterName, ServiceName: props.ecsServiceName };
  const WIDTH = 12;
  const HEIGHT = 6;
  const graph = (title: string, metrics: MetricLine[], extra: Record<string, unknown> = {}): Record<string, unknown> => ({
    type: 'metric',
    width: WIDTH,
    height: HEIGHT,
    properties: { title, region, view: 'timeSeries', stacked: false, period: 60, metrics, ...extra },
  });

  const widgets: Record<string, unknown>[] = [
    {
      type: 'text',
      width: 24,
      height: 2,
      properties: {
        markdown: `# Vitals pipeline (${props.environment})\nAPI \`${props.apiName}/${props.stageName}\` → Kinesis \`${props.streamName}\` → ECS \`${props.ecsClusterName}/${props.ecsServiceName}\` → Aurora \`${props.dbClusterIdentifier}\`. Procedures: docs/runbook.md.`,
      },
    },
    graph('Ingest rate (requests and records per minute)', [
      line('AWS/ApiGateway', 'Count', api, { stat: 'Sum', label: 'API requests' }),
      line('AWS/Kinesis', 'IncomingRecords', stream, { stat: 'Sum', label: 'Kinesis records in' }),
    ], {
      annotations: { horizontal: [{ label: `write capacity (${props.shardCount} shards)`, value: props.shardCount * SHARD_WRITE_RECORDS_PER_SECOND * 60 }] },
    }),
    graph('Stream lag (ms)', [
      line('AWS/Kinesis', 'GetRecords.IteratorAgeMilliseconds', stream, { stat: 'Maximum', label: 'iterator age (max)' }),
      line(namespace, PROCESSOR_METRICS.millisBehindLatest, processor, { stat: 'Maximum', label: 'processor MillisBehindLatest (max)' }),
    ], {
      annotations: { horizontal: [{ label: 'alarm', value: ALARM_THRESHOLDS.kinesisIteratorAge.thresholdMilliseconds }] },
    }),
    graph('Processing rate (events per minute)', [
      line(namespace, PROCESSOR_METRICS.eventsProcessed, processor, { stat: 'Sum', label: 'events processed' }),
      line(namespace, PROCESSOR_METRICS.duplicatesSkipped, processor, { stat: 'Sum', label: 'duplicates skipped' }),
      line(namespace, PROCESSOR_METRICS.leaseLosses, processor, { stat: 'Sum', label: 'lease losses' }),
      line('ECS/ContainerInsights', 'RunningTaskCount', ecsService, { stat: 'Minimum', label: 'running tasks', yAxis: 'right' }),
    ]),
    graph('Latency (ms)', [
      line(namespace, PROCESSOR_METRICS.batchLatencyMs, processor, { stat: 'p50', label: 'batch p50' }),
      line(namespace, PROCESSOR_METRICS.batchLatencyMs, processor, { stat: 'p99', label: 'batch p99' }),
      line('AWS/ApiGateway', 'Latency', api, { stat: 'p50', label: 'API p50' }),
      line('AWS/ApiGateway', 'Latency', api, { stat: 'p99', label: 'API p99' }),
    ]),
    graph('Dead letters and errors (per minute)', [
      line(namespace, PROCESSOR_METRICS.deadLetters, processor, { stat: 'Sum', label: 'dead letters' }),
      line(logMetricNamespace, `${LOG_METRICS.processorErrors}-${props.environment}`, {}, { stat: 'Sum', label: 'processor error logs' }),
      line('AWS/ApiGateway', '5XXError', api, { stat: 'Sum', label: 'API 5XX' }),
      line('AWS/ApiGateway', '4XXError', api, { stat: 'Sum', label: 'API 4XX' }),
      line(logMetricNamespace, `${LOG_METRICS.apiThrottled}-${props.environment}`, {}, { stat: 'Sum', label: 'API 429' }),
    ]),
    graph('Infrastructure faults (retries per minute)', [
      line(namespace, PROCESSOR_METRICS.leaseCycleFailures, processor, { stat: 'Sum', label: 'failed lease cycles (database)' }),
      line(namespace, PROCESSOR_METRICS.batchRetries, processor, { stat: 'Sum', label: 'batch retries' }),
      line(namespace, PROCESSOR_METRICS.kinesisRetries, processor, { stat: 'Sum', label: 'Kinesis retries' }),
      line(namespace, PROCESSOR_METRICS.kmsThrottles, processor, { stat: 'Sum', label: 'KMS throttles' }),
    ]),
    graph('NEWS2 alerts raised (per minute)', [
      line(namespace, PROCESSOR_METRICS.alertsRaised, processor, { stat: 'Sum', label: 'alerts raised' }),
    ]),
    graph('Alert delivery (per minute; ages in ms, right axis)', [
      line(namespace, PROCESSOR_METRICS.alertsDelivered, processor, { stat: 'Sum', label: 'transitions delivered' }),
      line(namespace, PROCESSOR_METRICS.alertsEscalated, processor, { stat: 'Sum', label: 'escalated' }),
      line(namespace, PROCESSOR_METRICS.alertDeliveryFailures, processor, { stat: 'Sum', label: 'delivery failures' }),
      line('AWS/SQS', 'ApproximateNumberOfMessagesVisible', { QueueName: props.alertDeadLetterQueueName }, { stat: 'Maximum', label: 'dead letters (queue)' }),
      line(namespace, PROCESSOR_METRICS.alertOutboxAgeMs, processor, { stat: 'Maximum', label: 'outbox age (max)', yAxis: 'right' }),
      line(namespace, PROCESSOR_METRICS.alertDeliveryLatencyMs, processor, { stat: 'p99', label: 'delivery latency p99', yAxis: 'right' }),
    ], {
      annotations: { horizontal: [{ label: 'outbox age alarm', value: ALARM_THRESHOLDS.alertOutboxAge.thresholdMilliseconds, yAxis: 'right' }] },
    }),
    graph('Database load', [
      line('AWS/RDS', 'ServerlessDatabaseCapacity', db, { stat: 'Maximum', label: 'ACUs' }),
      line('AWS/RDS', 'CPUUtilization', db, { stat: 'Maximum', label: 'CPU %', yAxis: 'right' }),
      line('AWS/RDS', 'DatabaseConnections', db, { stat: 'Maximum', label: 'connections' }),
    ], {
      annotations: { horizontal: [{ label: 'max ACUs', value: props.dbMaxCapacityAcu }] },
    }),
    graph('Edge: WAF blocked requests', [
      line('AWS/WAFV2', 'BlockedRequests', { WebACL: props.webAclName, Region: region, Rule: 'ALL' }, { stat: 'Sum', label: 'blocked' }),
    ]),
    {
      type: 'alarm',
      width: 24,
      height: 4,
      properties: { title: 'Alarms', alarms: (Object.keys(alarms) as AlarmId[]).map((id) => alarms[id].arn) },
    },
  ];
  return { widgets };
}
