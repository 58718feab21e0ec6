import { Testing } from 'cdktf';
import { ApiGatewayIntegration } from '@cdktf/provider-aws/lib/api-gateway-integration';
import { ApiGatewayMethod } from '@cdktf/provider-aws/lib/api-gateway-method';
import { Lb } from '@cdktf/provider-aws/lib/lb';
import { LbListener } from '@cdktf/provider-aws/lib/lb-listener';
import { ApiGatewayResource } from '@cdktf/provider-aws/lib/api-gateway-resource';
import { ALERT_ACKER_USER, CALLER_HEADER, FhirReadApi, FHIR_READER_USER, type FhirReadApiProps } from '../../src/infra/fhir-read-api';
import { PipelineStack } from '../../src/infra/pipeline-stack';
import { ALERT_ACKER_ROLE, FHIR_READER_ROLE } from '../../src/db/migrate';
import { CALLER_HEADER as SERVICE_CALLER_HEADER, DEFAULT_ALERT_ACKER_USER } from '../../src/fhir-api/config';
import { ACCOUNT, DUMMY, REGION, type SynthesizedStack } from './helpers/compute-harness';
import { inlineStatementsOf } from './helpers/iam-statements';
import { ofType, synthConstruct, testConfig, type SynthJson } from './helpers/synth';

function props(overrides: Partial<FhirReadApiProps> = {}): FhirReadApiProps {
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
    logsKeyArn: DUMMY.logsKeyArn,
    endpointSecurityGroupId: 'sg-endpoints',
    s3PrefixListId: 'pl-s3',
    database: { readerEndpoint: 'vitals-test.cluster-ro-abc.eu-central-2.rds.amazonaws.com', port: 5432, name: 'vitals', clusterResourceId: DUMMY.clusterResourceId, securityGroupId: 'sg-db' },
    api: { restApiId: 'abc123', rootResourceId: 'root1', v1ResourceId: 'v1res', stageName: 'test' },
    ...overrides,
  };
}

let fhir!: FhirReadApi;
const json = Testing.synthScope((scope) => {
  fhir = new FhirReadApi(scope, 'Fhir', props());
});
const parsed = JSON.parse(json) as SynthJson & SynthesizedStack;
const container = () => (JSON.parse(String(ofType(parsed, 'aws_ecs_task_definition')[0]?.container_definitions)) as Array<Record<string, unknown>>)[0] as Record<string, unknown>;

test('GET /fhir/{proxy+} requires SigV4 and an API key, like POST /v1/events', () => {
  expect(json).toHaveResourceWithProperties(ApiGatewayMethod, { http_method: 'GET', authorization: 'AWS_IAM', api_key_required: true, request_parameters: { 'method.request.path.proxy': true } });
});

test('the integration proxies over HTTPS through the VPC link to the internal NLB', () => {
  expect(json).toHaveResourceWithProperties(ApiGatewayIntegration, {
    type: 'HTTP_PROXY',
    connection_type: 'VPC_LINK',
    connection_id: `\${aws_api_gateway_vpc_link.${fhir.vpcLink.friendlyUniqueId}.id}`,
    uri: `https://\${aws_lb.${fhir.loadBalancer.friendlyUniqueId}.dns_name}/fhir/{proxy}`,
    request_parameters: { 'integration.request.path.proxy': 'method.request.path.proxy' },
  });
  expect(json).toHaveResourceWithProperties(Lb, { load_balancer_type: 'network', internal: true });
  expect(json).toHaveResourceWithProperties(LbListener, { protocol: 'TCP', port: 443 });
  expect(ofType(parsed, 'aws_vpc_security_group_ingress_rule').filter((r) => r.security_group_id === `\${aws_security_group.${fhir.loadBalancerSecurityGroup.friendlyUniqueId}.id}`)).toEqual([]);
});

test('the task may only connect to the database as the read-only role, through the reader endpoint, with IAM auth', () => {
  expect(FHIR_READER_USER).toBe(FHIR_READER_ROLE);
  expect(inlineStatementsOf(parsed, fhir.taskRole).map((s) => [s.sid, s.actions, s.resources])).toEqual([
    ['DatabaseConnect', ['rds-db:connect'], [`arn:aws:rds-db:${REGION}:${ACCOUNT}:dbuser:${DUMMY.clusterResourceId}/vitals_fhir_reader`]],
  ]);
  expect(container().environment).toEqual(expect.arrayContaining([
    { name: 'DB_HOST', value: 'vitals-test.cluster-ro-abc.eu-central-2.rds.amazonaws.com' },
    { name: 'DB_USER', value: 'vitals_fhir_reader' },
    { name: 'DB_AUTH', value: 'iam' },
    { name: 'FHIR_TLS_SELF_SIGNED', value: 'true' },
    { name: 'FHIR_BASE_URL', value: `https://abc123.execute-api.${REGION}.amazonaws.com/test/fhir` },
  ]));
  expect(container()).toMatchObject({ command: ['node', 'dist/src/fhir-api/main.js'], user: '1000:1000', readonlyRootFilesystem: true });
});

test('the database admits the FHIR tasks on its port', () => {
  const rule = ofType(parsed, 'aws_vpc_security_group_ingress_rule').find((r) => r.security_group_id === 'sg-db');
  expect(rule).toMatchObject({ referenced_security_group_id: `\${aws_security_group.${fhir.taskSecurityGroup.friendlyUniqueId}.id}`, from_port: 5432, to_port: 5432 });
});

test('the deployment is told about every route resource', () => {
  expect(fhir.routes.deploymentIds).toHaveLength(6);
  expect(fhir.routes.dependables).toEqual([fhir.method, fhir.integration]);
});

test('invalid props are refused at once', () => {
  expect(() => synthConstruct((s) => new FhirReadApi(s, 'F', props({ imageUri: 'x:latest', minCapacity: 3, maxCapacity: 2 })))).toThrow(/imageUri must be pinned by digest[\s\S]*maxCapacity must be an integer from minCapacity \(3\) to 50; received 2/);
});

describe('the acknowledge route (issue 12), with the writer endpoint', () => {
  let acking!: FhirReadApi;
  const WRITER = 'vitals-test.cluster-abc.eu-central-2.rds.amazonaws.com';
  const text = Testing.synthScope((scope) => {
    acking = new FhirReadApi(scope, 'Fhir', props({ database: { ...props().database, writerEndpoint: WRITER } }));
  });
  const out = JSON.parse(text) as SynthJson & SynthesizedStack;
  const ackContainer = (JSON.parse(String(ofType(out, 'aws_ecs_task_definition')[0]?.container_definitions)) as Array<{ environment: Array<{ name: string; value: string }> }>)[0];

  test('infrastructure, service and migration agree on the role and the caller header', () => {
    expect(ALERT_ACKER_USER).toBe(ALERT_ACKER_ROLE);
    expect(ALERT_ACKER_USER).toBe(DEFAULT_ALERT_ACKER_USER);
    expect(CALLER_HEADER).toBe(SERVICE_CALLER_HEADER);
  });

  test('POST /v1/alerts/{alertId}/acknowledge hangs under /v1 and requires SigV4 and an API key, like POST /v1/events', () => {
    expect(text).toHaveResourceWithProperties(ApiGatewayResource, { parent_id: 'v1res', path_part: 'alerts' });
    expect(text).toHaveResourceWithProperties(ApiGatewayResource, { path_part: '{alertId}' });
    expect(text).toHaveResourceWithProperties(ApiGatewayResource, { path_part: 'acknowledge' });
    expect(text).toHaveResourceWithProperties(ApiGatewayMethod, {
      http_method: 'POST', authorization: 'AWS_IAM', api_key_required: true, request_parameters: { 'method.request.path.alertId': true },
    });
  });

  test('the integration proxies to the service and sets the caller header from the authenticated principal', () => {
    expect(text).toHaveResourceWithProperties(ApiGatewayIntegration, {
      type: 'HTTP_PROXY',
      integration_http_method: 'POST',
      connection_type: 'VPC_LINK',
      uri: `https://\${aws_lb.${acking.loadBalancer.friendlyUniqueId}.dns_name}/v1/alerts/{alertId}/acknowledge`,
      request_parameters: {
        'integration.request.path.alertId': 'method.request.path.alertId',
        [`integration.request.header.${CALLER_HEADER}`]: 'context.identity.userArn',
      },
    });
  });

  test('the task may connect as the acknowledging role too, and is told the writer endpoint', () => {
    expect(inlineStatementsOf(out, acking.taskRole).map((st) => [st.sid, st.resources])).toEqual([
      ['DatabaseConnect', [`arn:aws:rds-db:${REGION}:${ACCOUNT}:dbuser:${DUMMY.clusterResourceId}/vitals_fhir_reader`]],
      ['DatabaseConnectAcknowledge', [`arn:aws:rds-db:${REGION}:${ACCOUNT}:dbuser:${DUMMY.clusterResourceId}/vitals_alert_acker`]],
    ]);
    expect(ackContainer.environment).toEqual(expect.arrayContaining([
      { name: 'ALERT_ACK_DB_HOST', value: WRITER },
      { name: 'ALERT_ACK_DB_USER', value: 'vitals_alert_acker' },
      { name: 'DB_HOST', value: props().database.readerEndpoint },
    ]));
  });

  test('the deployment is told about the acknowledge resources too', () => {
    expect(acking.routes.deploymentIds).toHaveLength(11);
    expect(acking.routes.dependables).toEqual([acking.method, acking.integration, acking.acknowledgeMethod, acking.acknowledgeIntegration]);
  });

  test('without the writer endpoint there is no acknowledge route and no acknowledging role', () => {
    expect(ofType(parsed, 'aws_api_gateway_method').map((m) => m.http_method)).toEqual(['GET']);
    expect(JSON.stringify(container().environment)).not.toContain('ALERT_ACK_DB_HOST');
  });
});

describe('in the pipeline stack', () => {
  const dev = JSON.parse(Testing.synth(new PipelineStack(Testing.app(), testConfig()))) as SynthJson;

  test('the API deployment is replaced when the FHIR routes change and waits for them', () => {
    const deployment = ofType(dev, 'aws_api_gateway_deployment')[0] as { triggers: { resources: string }; depends_on: string[] };
    expect(deployment.triggers.resources).toContain('aws_api_gateway_integration.FhirApi_GetFhirIntegration');
    expect(deployment.depends_on.some((d) => d.startsWith('aws_api_gateway_integration.FhirApi_'))).toBe(true);
  });

  test('the health alarm notifies the pipeline alarm topic', () => {
    const alarm = ofType(dev, 'aws_cloudwatch_metric_alarm').find((a) => a.alarm_name === 'vitals-fhir-healthy-targets-dev');
    expect(String((alarm?.alarm_actions as string[])[0])).toMatch(/^\$\{aws_sns_topic\./);
  });

  test('operators get the FHIR base URL', () => {
    expect(Object.keys(dev.output ?? {})).toEqual(expect.arrayContaining(['fhir_base_url', 'ecs_fhir_service_name', 'fhir_log_group_name']));
  });

  test('the pipeline serves the acknowledge route, writing to the Aurora writer endpoint', () => {
    const methods = ofType(dev, 'aws_api_gateway_method').map((m) => m.http_method).sort();
    expect(methods).toEqual(['GET', 'GET', 'POST', 'POST']); // /v1/health, /fhir, /v1/events, acknowledge
    const definition = ofType(dev, 'aws_ecs_task_definition').find((t) => t.family === 'vitals-fhir-api-dev');
    const [c] = JSON.parse(String(definition?.container_definitions)) as Array<{ environment: Array<{ name: string; value: string }> }>;
    expect(c.environment.find((e) => e.name === 'ALERT_ACK_DB_HOST')?.value).toMatch(/^\$\{aws_rds_cluster\.[^.]+\.endpoint\}$/);
    expect(Object.keys(dev.output ?? {})).toContain('alert_acknowledge_url_template');
  });
});
