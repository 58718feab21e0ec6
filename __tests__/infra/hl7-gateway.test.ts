import { Testing } from 'cdktf';
import { CloudwatchMetricAlarm } from '@cdktf/provider-aws/lib/cloudwatch-metric-alarm';
import { EcsService } from '@cdktf/provider-aws/lib/ecs-service';
import { Lb } from '@cdktf/provider-aws/lib/lb';
import { LbListener } from '@cdktf/provider-aws/lib/lb-listener';
import { LbTargetGroup } from '@cdktf/provider-aws/lib/lb-target-group';
import { VpcEndpointService } from '@cdktf/provider-aws/lib/vpc-endpoint-service';
import { Hl7Gateway, HL7_TLS_POLICY, type Hl7GatewayProps } from '../../src/infra/hl7-gateway';
import { PipelineStack } from '../../src/infra/pipeline-stack';
import { DUMMY, REGION, ACCOUNT } from './helpers/compute-harness';
import { inlineStatementsOf, bySid, type Statement } from './helpers/iam-statements';
import { ofType, synthConstruct, testConfig, type SynthJson } from './helpers/synth';
import type { SynthesizedStack } from './helpers/compute-harness';

const CERT = `arn:aws:acm:${REGION}:${ACCOUNT}:certificate/11111111-2222-3333-4444-555555555555`;
const TOPIC = `arn:aws:sns:${REGION}:${ACCOUNT}:vitals-alarms-test`;

function props(overrides: Partial<Hl7GatewayProps> = {}): Hl7GatewayProps {
  return {
    environment: 'test',
    region: REGION,
    accountId: ACCOUNT,
    vpcId: 'vpc-0123456789abcdef0',
    subnetIds: ['subnet-a', 'subnet-b', 'subnet-c'],
    clusterArn: `arn:aws:ecs:${REGION}:${ACCOUNT}:cluster/vitals-test`,
    clusterName: 'vitals-test',
    imageUri: DUMMY.imageUri,
    repositoryArn: DUMMY.repositoryArn,
    stream: { name: DUMMY.streamName, arn: DUMMY.streamArn, keyArn: DUMMY.streamKeyArn },
    logsKeyArn: DUMMY.logsKeyArn,
    endpointSecurityGroupId: 'sg-endpoints',
    s3PrefixListId: 'pl-s3',
    certificateArn: CERT,
    allowedPrincipals: [`arn:aws:iam::${'2'.repeat(12)}:root`],
    allowedClientCidrs: ['10.200.0.0/16'],
    alarmTopicArn: TOPIC,
    ...overrides,
  };
}

let gateway!: Hl7Gateway;
const synth = (overrides: Partial<Hl7GatewayProps> = {}): string =>
  Testing.synthScope((scope) => {
    gateway = new Hl7Gateway(scope, 'Hl7', props(overrides));
  });
const json = synth();
const parsed = JSON.parse(json) as SynthJson & SynthesizedStack;
const one = (type: string): Record<string, unknown> => {
  const all = ofType(parsed, type);
  expect(all).toHaveLength(1);
  return all[0] as Record<string, unknown>;
};
const container = () => (JSON.parse(String(one('aws_ecs_task_definition').container_definitions)) as Array<Record<string, unknown>>)[0] as Record<string, unknown>;

describe('Hl7Gateway: never public, TLS end to end', () => {
  test('the load balancer is an internal NLB in the private subnets', () => {
    expect(json).toHaveResourceWithProperties(Lb, { load_balancer_type: 'network', internal: true, subnets: ['subnet-a', 'subnet-b', 'subnet-c'] });
  });

  test('the listener is TLS with the given ACM certificate and a TLS 1.2+ policy', () => {
    expect(json).toHaveResourceWithProperties(LbListener, { protocol: 'TLS', port: 2575, certificate_arn: CERT, ssl_policy: HL7_TLS_POLICY });
    expect(HL7_TLS_POLICY).toBe('ELBSecurityPolicy-TLS13-1-2-2021-06');
  });

  test('the NLB re-encrypts to the tasks (TLS target group) and checks their health endpoint', () => {
    expect(json).toHaveResourceWithProperties(LbTargetGroup, {
      protocol: 'TLS', port: 2575, target_type: 'ip', connection_termination: true,
      health_check: { protocol: 'HTTP', port: '8080', path: '/health', interval: 10, healthy_threshold: 2, unhealthy_threshold: 2 },
    });
    expect(container().environment).toContainEqual({ name: 'HL7_TLS_SELF_SIGNED', value: 'true' });
  });

  test('hospitals connect over PrivateLink: an endpoint service with manual acceptance and the allowed principals', () => {
    expect(json).toHaveResourceWithProperties(VpcEndpointService, { acceptance_required: true, allowed_principals: [`arn:aws:iam::${'2'.repeat(12)}:root`] });
  });

  test('without allowed principals nobody can connect over PrivateLink', () => {
    const j = JSON.parse(synth({ allowedPrincipals: undefined })) as SynthJson;
    expect(ofType(j, 'aws_vpc_endpoint_service')[0]?.allowed_principals).toEqual([]);
  });

  test('no security group admits 0.0.0.0/0; the NLB admits only the VPN ranges; tasks only the NLB', () => {
    const ingress = ofType(parsed, 'aws_vpc_security_group_ingress_rule');
    expect(ingress.filter((r) => r.cidr_ipv4 === '0.0.0.0/0')).toEqual([]);
    const nlbSg = `\${aws_security_group.${gateway.loadBalancerSecurityGroup.friendlyUniqueId}.id}`;
    const taskSg = `\${aws_security_group.${gateway.taskSecurityGroup.friendlyUniqueId}.id}`;
    expect(ingress.filter((r) => r.security_group_id === nlbSg).map((r) => [r.cidr_ipv4, r.from_port])).toEqual([['10.200.0.0/16', 2575]]);
    expect(ingress.filter((r) => r.security_group_id === taskSg).map((r) => [r.referenced_security_group_id, r.from_port]).sort()).toEqual([[nlbSg, 2575], [nlbSg, 8080]]);
    expect(ingress.filter((r) => r.security_group_id === 'sg-endpoints').map((r) => r.referenced_security_group_id)).toEqual([taskSg]);
  });

  test('the service runs in the private subnets without public IPs, behind the target group, in the shared cluster', () => {
    expect(json).toHaveResourceWithProperties(EcsService, { cluster: `arn:aws:ecs:${REGION}:${ACCOUNT}:cluster/vitals-test`, launch_type: 'FARGATE' });
    expect(one('aws_ecs_service').network_configuration).toEqual({
      subnets: ['subnet-a', 'subnet-b', 'subnet-c'],
      security_groups: [`\${aws_security_group.${gateway.taskSecurityGroup.friendlyUniqueId}.id}`],
      assign_public_ip: false,
    });
    expect(one('aws_ecs_service').load_balancer).toEqual([
      { container_name: 'hl7-gateway', container_port: 2575, target_group_arn: `\${aws_lb_target_group.${gateway.targetGroup.friendlyUniqueId}.arn}` },
    ]);
  });
});

describe('Hl7Gateway: least privilege and hardening', () => {
  test('the task role may only put records on the stream and generate its data keys', () => {
    const statements = inlineStatementsOf(parsed, gateway.taskRole);
    expect(statements.map((s: Statement) => [s.sid, s.actions, s.resources])).toEqual([
      ['StreamPut', ['kinesis:PutRecords'], [DUMMY.streamArn]],
      ['StreamKey', ['kms:GenerateDataKey'], [DUMMY.streamKeyArn]],
    ]);
  });

  test('the execution role pulls from the one repository and writes the one log group', () => {
    const statements = inlineStatementsOf(parsed, gateway.executionRole);
    expect(bySid(statements, 'EcrPull').resources).toEqual([DUMMY.repositoryArn]);
    expect(bySid(statements, 'Logs').resources).toEqual([`\${aws_cloudwatch_log_group.${gateway.logGroup.friendlyUniqueId}.arn}:log-stream:*`]);
  });

  test('the container runs the gateway entry point as non-root on a read-only root file system', () => {
    const c = container();
    expect(c).toMatchObject({ command: ['node', 'dist/src/hl7/main.js'], user: '1000:1000', readonlyRootFilesystem: true, privileged: false });
    expect(c.environment).toEqual(expect.arrayContaining([
      { name: 'NODE_ENV', value: 'production' },
      { name: 'STREAM_NAME', value: DUMMY.streamName },
      { name: 'HL7_HOST', value: '0.0.0.0' },
      { name: 'HL7_IDLE_TIMEOUT_MS', value: '300000' },
    ]));
    expect(c.portMappings).toEqual([{ containerPort: 2575, protocol: 'tcp' }, { containerPort: 8080, protocol: 'tcp' }]);
  });

  test('the log group is encrypted with our key and retained', () => {
    expect(one('aws_cloudwatch_log_group')).toMatchObject({ name: '/ecs/vitals-hl7-gateway-test', kms_key_id: DUMMY.logsKeyArn, retention_in_days: 365 });
  });

  test('a configured local time zone reaches the container', () => {
    const j = JSON.parse(synth({ localTimeZone: 'Europe/Zurich' })) as SynthJson;
    const env = (JSON.parse(String(ofType(j, 'aws_ecs_task_definition')[0]?.container_definitions)) as Array<{ environment: unknown[] }>)[0]?.environment;
    expect(env).toContainEqual({ name: 'HL7_LOCAL_TIME_ZONE', value: 'Europe/Zurich' });
  });
});

describe('Hl7Gateway: alarms and autoscaling', () => {
  test('the NACK-rate alarm divides AE + AR by messages received, ignoring quiet periods, and notifies the topic', () => {
    const alarm = ofType(parsed, 'aws_cloudwatch_metric_alarm').find((a) => a.alarm_name === 'vitals-hl7-nack-rate-test') as Record<string, unknown>;
    const queries = alarm.metric_query as Array<{ id: string; expression?: string; metric?: { metric_name: string; dimensions: Record<string, string> } }>;
    expect(queries.find((q) => q.id === 'nack')?.expression).toBe('IF(FILL(received, 0) >= 20, 100 * (FILL(ae, 0) + FILL(ar, 0)) / received, 0)');
    expect(queries.filter((q) => q.metric).map((q) => q.metric?.metric_name)).toEqual(['MessagesReceived', 'AcksAE', 'AcksAR']);
    expect(queries[0]?.metric?.dimensions).toEqual({ Service: 'vitals-hl7-gateway', Environment: 'test' });
    expect(alarm).toMatchObject({ threshold: 5, comparison_operator: 'GreaterThanThreshold', alarm_actions: [TOPIC] });
  });

  test('connection errors and missing healthy targets alarm too', () => {
    expect(json).toHaveResourceWithProperties(CloudwatchMetricAlarm, { alarm_name: 'vitals-hl7-connection-errors-test', metric_name: 'ConnectionErrors', threshold: 20, alarm_actions: [TOPIC] });
    expect(json).toHaveResourceWithProperties(CloudwatchMetricAlarm, { alarm_name: 'vitals-hl7-healthy-targets-test', namespace: 'AWS/NetworkELB', metric_name: 'HealthyHostCount', threshold: 2, treat_missing_data: 'breaching' });
  });

  test('the service scales on CPU between the minimum and maximum', () => {
    expect(one('aws_appautoscaling_target')).toMatchObject({ min_capacity: 2, max_capacity: 6, resource_id: expect.stringContaining('service/vitals-test/') });
    expect(one('aws_appautoscaling_policy')).toMatchObject({ policy_type: 'TargetTrackingScaling', target_tracking_scaling_policy_configuration: { target_value: 50 } });
  });
});

describe('Hl7Gateway: prop validation', () => {
  const build = (o: Partial<Hl7GatewayProps>) => () => synthConstruct((s) => new Hl7Gateway(s, 'Hl7', props(o)));
  test.each([
    [{ certificateArn: 'arn:aws:iam::123456789012:server-certificate/x' }, /certificateArn must be an ACM certificate ARN/],
    [{ allowedPrincipals: ['*'] }, /allowedPrincipals must list IAM principal ARNs .* never "\*"; received "\*"/],
    [{ allowedClientCidrs: ['0.0.0.0/0'] }, /allowedClientCidrs must list IPv4 CIDRs from \/8 to \/32 \(never 0.0.0.0\/0\); received "0.0.0.0\/0"/],
    [{ imageUri: 'repo:latest' }, /imageUri must be pinned by digest/],
    [{ minCapacity: 4, maxCapacity: 3 }, /maxCapacity must be an integer from minCapacity \(4\) to 100; received 3/],
    [{ listenerPort: 70000 }, /listenerPort must be an integer from 1 to 65535; received 70000/],
    [{ localTimeZone: 'CET+1' }, /localTimeZone must be an IANA time zone/],
    [{ subnetIds: ['subnet-a'] }, /subnetIds must list at least 2 private subnets/],
    [{ nackRateAlarmPercent: 0 }, /nackRateAlarmPercent must be above 0/],
  ])('%o is refused', (o, message) => {
    expect(build(o as Partial<Hl7GatewayProps>)).toThrow(message);
  });

  test('every problem is reported at once', () => {
    expect(build({ certificateArn: 'x', allowedClientCidrs: ['0.0.0.0/0'] })).toThrow(/certificateArn[\s\S]*allowedClientCidrs/);
  });
});

describe('in the pipeline stack', () => {
  const stackJson = (settings: Record<string, string> = {}) => JSON.parse(Testing.synth(new PipelineStack(Testing.app(), testConfig(settings)))) as SynthJson;

  test('the certificate is a Terraform variable validated as an ACM ARN of the region', () => {
    const dev = stackJson();
    const v = dev.variable?.hl7_certificate_arn as { validation: Array<{ condition: string }> };
    expect(v.validation[0]?.condition).toContain(`:acm:${REGION}:`);
    expect(ofType(dev, 'aws_lb_listener').filter((l) => l.protocol === 'TLS').map((l) => l.certificate_arn)).toEqual(['${var.hl7_certificate_arn}']);
  });

  test('settings reach the construct: principals, VPN ranges; prod turns on deletion protection', () => {
    const prod = stackJson({ ENVIRONMENT: 'prod', HL7_ALLOWED_PRINCIPALS: `arn:aws:iam::${'3'.repeat(12)}:root`, HL7_CLIENT_CIDRS: '172.16.0.0/12' });
    expect(ofType(prod, 'aws_vpc_endpoint_service')[0]?.allowed_principals).toEqual([`arn:aws:iam::${'3'.repeat(12)}:root`]);
    expect(ofType(prod, 'aws_vpc_security_group_ingress_rule').some((r) => r.cidr_ipv4 === '172.16.0.0/12')).toBe(true);
    expect(ofType(prod, 'aws_lb').find((l) => l.name === 'vitals-hl7-prod')?.enable_deletion_protection).toBe(true);
    expect(ofType(stackJson(), 'aws_lb').find((l) => l.name === 'vitals-hl7-dev')?.enable_deletion_protection).toBe(false);
  });

  test('operators get the endpoint service name, the NLB name and the port', () => {
    const outputs = Object.keys(stackJson().output ?? {});
    expect(outputs).toEqual(expect.arrayContaining(['hl7_endpoint_service_name', 'hl7_load_balancer_dns_name', 'hl7_listener_port', 'ecs_hl7_service_name', 'hl7_log_group_name']));
  });

  test('bad HL7 settings are reported with the setting, rule and value', () => {
    expect(() => testConfig({ HL7_ALLOWED_PRINCIPALS: '*', HL7_CLIENT_CIDRS: '0.0.0.0/0', HL7_LOCAL_TIME_ZONE: 'Mars/Base' })).toThrow(
      /HL7_ALLOWED_PRINCIPALS must be comma-separated IAM principal ARNs[\s\S]*received "\*"[\s\S]*HL7_CLIENT_CIDRS must be comma-separated IPv4 CIDRs from \/8 to \/32; received "0.0.0.0\/0"[\s\S]*HL7_LOCAL_TIME_ZONE must be an IANA time zone/,
    );
  });
});
