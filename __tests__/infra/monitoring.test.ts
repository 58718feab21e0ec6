import { readFileSync } from 'node:fs';
import { join } from 'node:path';
// terraform validate and the offline plan of these resources run with the whole pipeline stack
// (scripts/terraform-check.sh), which composes Monitoring.
import { TerraformStack, Testing } from 'cdktf';
import 'cdktf/lib/testing/adapters/jest'; // type declarations of the cdktf matchers
import { CloudwatchDashboard } from '@cdktf/provider-aws/lib/cloudwatch-dashboard';
import { CloudwatchLogMetricFilter } from '@cdktf/provider-aws/lib/cloudwatch-log-metric-filter';
import { CloudwatchMetricAlarm } from '@cdktf/provider-aws/lib/cloudwatch-metric-alarm';
import { SnsTopic } from '@cdktf/provider-aws/lib/sns-topic';
import { SnsTopicSubscription } from '@cdktf/provider-aws/lib/sns-topic-subscription';
import { ALARM_THRESHOLDS, AlarmId, Monitoring, MonitoringProps, PROCESSOR_METRIC_NAMESPACE, PROCESSOR_METRICS } from '../../src/infra/monitoring';
import { Metrics } from '../../src/processor/metrics';
import { ACCESS_LOG_FORMAT } from '../../src/infra/ingest-api';

const KEY_ARN = 'arn:aws:kms:eu-central-2:123456789012:key/1111-2222';

const baseProps: MonitoringProps = {
  environment: 'dev',
  region: 'eu-central-2',
  accountId: '123456789012',
  keyArn: KEY_ARN,
  streamName: 'vitals-events-dev',
  shardCount: 4,
  ecsClusterName: 'vitals-cluster-dev',
  ecsServiceName: 'vitals-processor-dev',
  minTaskCount: 2,
  processorLogGroupName: '/ecs/vitals-processor-dev',
  apiName: 'vitals-ingest-dev',
  stageName: 'v1',
  apiAccessLogGroupName: '/vitals/dev/api-access',
  dbClusterIdentifier: 'vitals-db-dev',
  dbMaxCapacityAcu: 16,
  trailName: 'vitals-trail-dev',
  trailLogGroupName: '/vitals/dev/cloudtrail',
  webAclName: 'vitals-waf-dev',
  alertDeadLetterQueueName: 'vitals-alerts-dlq-dev',
};

interface AlarmJson {
  alarm_name: string;
  alarm_actions: string[];
  ok_actions: string[];
  threshold: number;
  period?: number;
  namespace?: string;
  metric_name?: string;
  dimensions?: Record<string, string>;
  treat_missing_data: string;
  metric_query?: Array<{ id: string; expression?: string; metric?: { metric_name: string; namespace: string; dimensions: Record<string, string>; period: number } }>;
}

function synth(overrides: Partial<MonitoringProps> = {}): { json: Record<string, Record<string, Record<string, unknown>>>; monitoring: Monitoring; stack: TerraformStack } {
  const app = Testing.app();
  const stack = new TerraformStack(app, 'test');
  const monitoring = new Monitoring(stack, 'Monitoring', { ...baseProps, ...overrides });
  const json = JSON.parse(Testing.synth(stack)) as { resource: Record<string, Record<string, Record<string, unknown>>> };
  return { json: json.resource, monitoring, stack };
}

function flatDimensions(body: { widgets: Array<{ properties: { metrics?: unknown[][] } }> }): string[] {
  return body.widgets.flatMap((w) => (w.properties.metrics ?? []).filter((m) => m[0] === 'VitalsPipeline').flatMap((m) => m.filter((x) => typeof x === 'string')));
}

function alarms(resources: Record<string, Record<string, Record<string, unknown>>>): AlarmJson[] {
  return Object.values(resources[CloudwatchMetricAlarm.tfResourceType] ?? {}) as unknown as AlarmJson[];
}

function alarmNamed(resources: Record<string, Record<string, Record<string, unknown>>>, name: string): AlarmJson {
  const found = alarms(resources).find((a) => a.alarm_name === name);
  if (!found) throw new Error(`no alarm ${name}`);
  return found;
}

describe('Monitoring', () => {
  const { json, monitoring, stack } = synth();
  const topicRef = `${'${'}aws_sns_topic.${stack.getLogicalId(monitoring.topic)}.arn}`;

  test('the alarm topic is encrypted with the key passed in', () => {
    expect(Testing.synth(stack)).toHaveResourceWithProperties(SnsTopic, { name: 'vitals-alarms-dev', kms_master_key_id: KEY_ARN });
  });

  test('there is one alarm per entry of ALARM_THRESHOLDS, with the names exposed', () => {
    const names = alarms(json).map((a) => a.alarm_name).sort();
    expect(names).toHaveLength(Object.keys(ALARM_THRESHOLDS).length);
    expect([...monitoring.alarmNames].sort()).toEqual(names);
    expect(Object.keys(monitoring.alarms).sort()).toEqual(Object.keys(ALARM_THRESHOLDS).sort());
  });

  test('every alarm notifies the topic on alarm and on OK', () => {
    for (const alarm of alarms(json)) {
      expect(alarm.alarm_actions).toEqual([topicRef]);
      expect(alarm.ok_actions).toEqual([topicRef]);
    }
  });

  test('every alarm name carries the environment suffix', () => {
    for (const alarm of alarms(json)) expect(alarm.alarm_name).toMatch(/^vitals-[a-z0-9-]+-dev$/);
  });

  test('every alarm chooses how missing data is treated and says why in its description', () => {
    for (const alarm of alarms(json)) {
      expect(['breaching', 'notBreaching', 'ignore', 'missing']).toContain(alarm.treat_missing_data);
      expect((alarm as unknown as { alarm_description: string }).alarm_description).toMatch(/Missing data: \w+ \(.+\)/);
    }
  });

  test.each<[string, string, string, number, Record<string, string>]>([
    ['vitals-kinesis-iterator-age-dev', 'AWS/Kinesis', 'GetRecords.IteratorAgeMilliseconds', ALARM_THRESHOLDS.kinesisIteratorAge.thresholdMilliseconds, { StreamName: 'vitals-events-dev' }],
    ['vitals-kinesis-write-throttles-dev', 'AWS/Kinesis', 'WriteProvisionedThroughputExceeded', ALARM_THRESHOLDS.kinesisWriteThrottles.thresholdRecords, { StreamName: 'vitals-events-dev' }],
    ['vitals-kinesis-read-throttles-dev', 'AWS/Kinesis', 'ReadProvisionedThroughputExceeded', ALARM_THRESHOLDS.kinesisReadThrottles.thresholdCalls, { StreamName: 'vitals-events-dev' }],
    ['vitals-processor-running-tasks-dev', 'ECS/ContainerInsights', 'RunningTaskCount', 2, { ClusterName: 'vitals-cluster-dev', ServiceName: 'vitals-processor-dev' }],
    ['vitals-processor-dead-letters-dev', 'VitalsPipeline', PROCESSOR_METRICS.deadLetters, ALARM_THRESHOLDS.deadLetters.thresholdEvents, { Service: 'vitals-processor', Environment: 'dev' }],
    ['vitals-processor-database-unreachable-dev', 'VitalsPipeline', PROCESSOR_METRICS.leaseCycleFailures, ALARM_THRESHOLDS.processorDatabaseUnreachable.thresholdFailedCycles, { Service: 'vitals-processor', Environment: 'dev' }],
    ['vitals-processor-batch-retries-dev', 'VitalsPipeline', PROCESSOR_METRICS.batchRetries, ALARM_THRESHOLDS.processorBatchRetries.thresholdRetries, { Service: 'vitals-processor', Environment: 'dev' }],
    ['vitals-processor-kinesis-retries-dev', 'VitalsPipeline', PROCESSOR_METRICS.kinesisRetries, ALARM_THRESHOLDS.processorKinesisRetries.thresholdAttempts, { Service: 'vitals-processor', Environment: 'dev' }],
    ['vitals-processor-kms-throttles-dev', 'VitalsPipeline', PROCESSOR_METRICS.kmsThrottles, ALARM_THRESHOLDS.processorKmsThrottles.thresholdAttempts, { Service: 'vitals-processor', Environment: 'dev' }],
    ['vitals-aurora-acu-utilization-dev', 'AWS/RDS', 'ACUUtilization', ALARM_THRESHOLDS.auroraAcuUtilization.thresholdPercent, { DBClusterIdentifier: 'vitals-db-dev' }],
    ['vitals-aurora-cpu-dev', 'AWS/RDS', 'CPUUtilization', ALARM_THRESHOLDS.auroraCpu.thresholdPercent, { DBClusterIdentifier: 'vitals-db-dev' }],
    ['vitals-aurora-free-local-storage-dev', 'AWS/RDS', 'FreeLocalStorage', ALARM_THRESHOLDS.auroraFreeLocalStorage.thresholdBytes, { DBClusterIdentifier: 'vitals-db-dev' }],
    ['vitals-aurora-deadlocks-dev', 'AWS/RDS', 'Deadlocks', ALARM_THRESHOLDS.auroraDeadlocks.thresholdDeadlocksPerSecond, { DBClusterIdentifier: 'vitals-db-dev' }],
    ['vitals-alert-delivery-failures-dev', 'VitalsPipeline', PROCESSOR_METRICS.alertDeliveryFailures, ALARM_THRESHOLDS.alertDeliveryFailures.thresholdFailures, { Service: 'vitals-processor', Environment: 'dev' }],
    ['vitals-alert-outbox-age-dev', 'VitalsPipeline', PROCESSOR_METRICS.alertOutboxAgeMs, ALARM_THRESHOLDS.alertOutboxAge.thresholdMilliseconds, { Service: 'vitals-processor', Environment: 'dev' }],
    ['vitals-alert-dead-letters-dev', 'AWS/SQS', 'ApproximateNumberOfMessagesVisible', ALARM_THRESHOLDS.alertDeadLetters.thresholdMessages, { QueueName: 'vitals-alerts-dlq-dev' }],
    ['vitals-waf-blocked-requests-dev', 'AWS/WAFV2', 'BlockedRequests', ALARM_THRESHOLDS.wafBlockedRequests.thresholdRequests, { WebACL: 'vitals-waf-dev', Region: 'eu-central-2', Rule: 'ALL' }],
  ])('%s watches %s %s at its threshold constant', (name, namespace, metricName, threshold, dimensions) => {
    const alarm = alarmNamed(json, name);
    expect(alarm.namespace).toBe(namespace);
    expect(alarm.metric_name).toBe(metricName);
    expect(alarm.threshold).toBe(threshold);
    expect(alarm.dimensions).toEqual(dimensions);
  });

  test('each single-metric alarm uses the period constant of its entry', () => {
    (Object.keys(ALARM_THRESHOLDS) as AlarmId[]).forEach((id, index) => {
      const alarm = alarmNamed(json, monitoring.alarmNames[index]);
      const period = alarm.period ?? alarm.metric_query?.find((q) => q.metric)?.metric?.period;
      expect(period).toBe(ALARM_THRESHOLDS[id].periodSeconds);
    });
  });

  test('the running-task alarm fires below the minimum task count it is given', () => {
    const { json: other } = synth({ minTaskCount: 3 });
    const alarm = alarmNamed(other, 'vitals-processor-running-tasks-dev');
    expect(alarm.threshold).toBe(3);
    expect((alarm as unknown as { comparison_operator: string }).comparison_operator).toBe('LessThanThreshold');
    expect(alarm.treat_missing_data).toBe('breaching');
  });

  test('API 5XX and 4XX alarms are error rates computed from errors over request count', () => {
    for (const [name, errorMetric, threshold] of [
      ['vitals-api-5xx-rate-dev', '5XXError', ALARM_THRESHOLDS.api5xxRate.thresholdPercent],
      ['vitals-api-4xx-rate-dev', '4XXError', ALARM_THRESHOLDS.api4xxRate.thresholdPercent],
    ] as const) {
      const alarm = alarmNamed(json, name);
      expect(alarm.threshold).toBe(threshold);
      const queries = alarm.metric_query ?? [];
      expect(queries.find((q) => q.id === 'rate')?.expression).toMatch(/100 \* errors \/ requests/);
      expect(queries.find((q) => q.id === 'errors')?.metric).toMatchObject({ namespace: 'AWS/ApiGateway', metric_name: errorMetric, dimensions: { ApiName: 'vitals-ingest-dev', Stage: 'v1' } });
      expect(queries.find((q) => q.id === 'requests')?.metric).toMatchObject({ namespace: 'AWS/ApiGateway', metric_name: 'Count' });
    }
  });

  test('processor errors are counted from the processor\'s error and fatal log lines', () => {
    expect(Testing.synth(stack)).toHaveResourceWithProperties(CloudwatchLogMetricFilter, {
      log_group_name: '/ecs/vitals-processor-dev',
      pattern: '{ ($.level = "error") || ($.level = "fatal") }',
      metric_transformation: expect.objectContaining({ name: 'ProcessorErrorLogs-dev', namespace: 'VitalsPipeline/LogMetrics', default_value: '0' }),
    });
    const alarm = alarmNamed(json, 'vitals-processor-errors-dev');
    expect(alarm.metric_name).toBe('ProcessorErrorLogs-dev');
    expect(alarm.threshold).toBe(ALARM_THRESHOLDS.processorErrors.thresholdErrors);
  });

  test('API throttles are counted from 429 entries of the access log', () => {
    expect(Testing.synth(stack)).toHaveResourceWithProperties(CloudwatchLogMetricFilter, {
      log_group_name: '/vitals/dev/api-access',
      pattern: '{ $.status = "429" }',
      metric_transformation: expect.objectContaining({ name: 'ApiThrottledRequests-dev', namespace: 'VitalsPipeline/LogMetrics' }),
    });
    const alarm = alarmNamed(json, 'vitals-api-throttles-dev');
    expect(alarm.metric_name).toBe('ApiThrottledRequests-dev');
    expect(alarm.threshold).toBe(ALARM_THRESHOLDS.apiThrottles.thresholdRequests);
  });

  test('the access-log status field of the throttle filter is configurable', () => {
    const { stack: other } = synth({ apiAccessLogStatusField: 'httpStatus' });
    expect(Testing.synth(other)).toHaveResourceWithProperties(CloudwatchLogMetricFilter, { pattern: '{ $.httpStatus = "429" }' });
  });

  test('the throttle filter matches the status field of the API\'s access-log format, a quoted string', () => {
    const format = JSON.parse(ACCESS_LOG_FORMAT) as Record<string, string>;
    expect(format.status).toBe('$context.status');
  });

  test('CloudTrail delivery failure alarms when no trail event reaches the log group, treating silence as breaching', () => {
    expect(Testing.synth(stack)).toHaveResourceWithProperties(CloudwatchLogMetricFilter, {
      log_group_name: '/vitals/dev/cloudtrail',
      metric_transformation: expect.objectContaining({ name: 'CloudTrailEventsDelivered-dev' }),
    });
    const alarm = alarmNamed(json, 'vitals-cloudtrail-delivery-dev');
    expect(alarm.metric_name).toBe('CloudTrailEventsDelivered-dev');
    expect((alarm as unknown as { comparison_operator: string }).comparison_operator).toBe('LessThanThreshold');
    expect(alarm.treat_missing_data).toBe('breaching');
    expect(alarm.period).toBe(ALARM_THRESHOLDS.cloudTrailDelivery.periodSeconds);
  });

  test('stopping or deleting the trail raises an alarm', () => {
    const filters = Object.values(json[CloudwatchLogMetricFilter.tfResourceType]) as Array<{ pattern: string }>;
    const pattern = filters.map((f) => f.pattern).find((p) => p.includes('StopLogging'));
    expect(pattern).toBeDefined();
    expect(pattern).toContain('DeleteTrail');
    expect(alarmNamed(json, 'vitals-cloudtrail-logging-changed-dev').metric_name).toBe('CloudTrailLoggingChanged-dev');
  });

  test('the dashboard body parses as JSON and references the stream, service, API and database', () => {
    const dashboard = Object.values(json[CloudwatchDashboard.tfResourceType])[0] as { dashboard_name: string; dashboard_body: string };
    expect(dashboard.dashboard_name).toBe('vitals-pipeline-dev');
    const body = JSON.parse(dashboard.dashboard_body) as { widgets: Array<{ type: string; properties: { title?: string; metrics?: unknown[][] } }> };
    const metricLines = body.widgets.flatMap((w) => w.properties.metrics ?? []);
    const flat = JSON.stringify(metricLines);
    expect(flat).toContain('vitals-events-dev');
    expect(flat).toContain('vitals-processor-dev');
    expect(flat).toContain('vitals-ingest-dev');
    expect(flat).toContain('vitals-db-dev');
  });

  test('the dashboard shows every stage of the pipeline', () => {
    const dashboard = Object.values(json[CloudwatchDashboard.tfResourceType])[0] as { dashboard_body: string };
    const body = JSON.parse(dashboard.dashboard_body) as { widgets: Array<{ properties: { metrics?: unknown[][] } }> };
    const metricNames = new Set(body.widgets.flatMap((w) => (w.properties.metrics ?? []).map((m) => `${m[0]}:${m[1]}`)));
    expect(flatDimensions(body)).toContain('Service');
    for (const expected of [
      'AWS/ApiGateway:Count',
      'AWS/Kinesis:IncomingRecords',
      'AWS/Kinesis:GetRecords.IteratorAgeMilliseconds',
      'VitalsPipeline:MillisBehindLatest',
      'VitalsPipeline:EventsProcessed',
      'VitalsPipeline:BatchLatencyMs',
      'AWS/ApiGateway:Latency',
      'VitalsPipeline:DeadLetters',
      'VitalsPipeline:AlertsRaised',
      'AWS/RDS:ServerlessDatabaseCapacity',
      'AWS/RDS:CPUUtilization',
      'AWS/RDS:DatabaseConnections',
    ]) {
      expect(metricNames).toContain(expected);
    }
  });

  test('batch latency is charted at p50 and p99', () => {
    const dashboard = Object.values(json[CloudwatchDashboard.tfResourceType])[0] as { dashboard_body: string };
    const lines = (JSON.parse(dashboard.dashboard_body) as { widgets: Array<{ properties: { metrics?: unknown[][] } }> }).widgets
      .flatMap((w) => w.properties.metrics ?? [])
      .filter((m) => m[1] === 'BatchLatencyMs');
    const stats = lines.map((m) => (m[m.length - 1] as { stat: string }).stat).sort();
    expect(stats).toEqual(['p50', 'p99']);
  });

  test('every alarm names a runbook procedure that exists in docs/runbook.md', () => {
    const runbook = readFileSync(join(__dirname, '../../docs/runbook.md'), 'utf8');
    const headings = new Set([...runbook.matchAll(/^#{2,4} (.+)$/gm)].map((m) => m[1].trim()));
    for (const alarm of alarms(json)) {
      const section = /Runbook: docs\/runbook.md, "([^"]+)"/.exec((alarm as unknown as { alarm_description: string }).alarm_description)?.[1];
      expect(section).toBeDefined();
      expect(headings).toContain(section);
      expect(runbook).toContain(alarm.alarm_name.replace(/-dev$/, '-<env>'));
    }
  });

  test('alarm e-mails become topic subscriptions', () => {
    const { stack: other } = synth({ alarmEmails: ['oncall@example.org'] });
    expect(Testing.synth(other)).toHaveResourceWithProperties(SnsTopicSubscription, { protocol: 'email', endpoint: 'oncall@example.org' });
  });

  test('no subscription is created by default', () => {
    expect(json[SnsTopicSubscription.tfResourceType]).toBeUndefined();
  });

  test('the topic policy admits only this account\'s CloudWatch alarms and denies plain-HTTP publishing', () => {
    const policy = JSON.parse((Object.values(json.aws_sns_topic_policy)[0] as { policy: string }).policy) as {
      Statement: Array<{ Sid: string; Effect: string; Principal: unknown; Condition?: Record<string, Record<string, string>> }>;
    };
    const cw = policy.Statement.find((s) => s.Sid === 'CloudWatchAlarmsOfThisAccountPublish');
    expect(cw?.Principal).toEqual({ Service: 'cloudwatch.amazonaws.com' });
    expect(cw?.Condition?.StringEquals['aws:SourceAccount']).toBe('123456789012');
    const deny = policy.Statement.find((s) => s.Effect === 'Deny');
    expect(deny?.Condition?.Bool['aws:SecureTransport']).toBe('false');
  });

});

describe('Monitoring and the processor agree on metrics', () => {
  // Whatever the processor emits is what the alarms and the dashboard must query: a metric is found
  // only by namespace, name and its exact dimension set.
  const lines: string[] = [];
  const metrics = new Metrics({ environment: 'dev', write: (l) => lines.push(l) });
  for (const name of ['EventsProcessed', 'DeadLetters', 'AlertsRaised', 'DuplicatesSkipped', 'LeaseLosses', 'ShardsExpiredUnread', 'LeaseCycleFailures', 'BatchRetries', 'KinesisRetries', 'KmsThrottles', 'AlertsDelivered', 'AlertDeliveryFailures', 'AlertsEscalated'] as const) metrics.count(name);
  metrics.observe('AlertDeliveryLatencyMs', 40);
  metrics.observe('AlertOutboxAgeMs', 0);
  metrics.observe('BatchLatencyMs', 12);
  metrics.observe('MillisBehindLatest', 300);
  metrics.flush();
  const emf = JSON.parse(lines[0]) as { _aws: { CloudWatchMetrics: Array<{ Namespace: string; Dimensions: string[][]; Metrics: Array<{ Name: string }> }> } } & Record<string, unknown>;
  const directive = emf._aws.CloudWatchMetrics[0];

  test('the processor emits every metric the monitoring uses, in the namespace it queries', () => {
    expect(directive.Namespace).toBe(PROCESSOR_METRIC_NAMESPACE);
    const emitted = directive.Metrics.map((m) => m.Name);
    for (const name of Object.values(PROCESSOR_METRICS)) expect(emitted).toContain(name);
  });

  test('the alarms query the dimension set the processor emits, with its values', () => {
    const { json } = synth();
    const alarm = alarmNamed(json, 'vitals-processor-dead-letters-dev');
    expect(directive.Dimensions.map((set) => [...set].sort())).toEqual([Object.keys(alarm.dimensions ?? {}).sort()]);
    for (const [key, value] of Object.entries(alarm.dimensions ?? {})) expect(emf[key]).toBe(value);
  });
});

describe('Monitoring validation', () => {
  const build = (overrides: Partial<MonitoringProps>): (() => void) => () => synth(overrides);

  test('a bad environment suffix is rejected with the value received', () => {
    expect(build({ environment: 'Dev_1' })).toThrow(/environment must be lowercase alphanumeric.*received "Dev_1"/);
  });

  test('an account id that is not 12 digits is rejected', () => {
    expect(build({ accountId: '1234' })).toThrow(/accountId must be a 12-digit AWS account id; received "1234"/);
  });

  test('a minimum task count below one is rejected', () => {
    expect(build({ minTaskCount: 0 })).toThrow(/minTaskCount must be an integer >= 1.*received 0/);
  });

  test('a shard count that is not a positive integer is rejected', () => {
    expect(build({ shardCount: 1.5 })).toThrow(/shardCount must be an integer >= 1; received 1.5/);
  });

  test('a maximum ACU outside Aurora Serverless v2 bounds is rejected', () => {
    expect(build({ dbMaxCapacityAcu: 512 })).toThrow(/dbMaxCapacityAcu must be from 0.5 to 256; received 512/);
  });

  test('an alarm e-mail that is not an address is rejected', () => {
    expect(build({ alarmEmails: ['not-an-address'] })).toThrow(/alarmEmails must hold e-mail addresses; received "not-an-address"/);
  });

  test('an access-log status field that is not a plain field name is rejected', () => {
    expect(build({ apiAccessLogStatusField: 'a.b' })).toThrow(/apiAccessLogStatusField must be a plain JSON field name; received "a.b"/);
  });

  test('every violation is reported at once', () => {
    expect(build({ environment: 'BAD', minTaskCount: 0 })).toThrow(/environment must[\s\S]*minTaskCount must/);
  });
});
