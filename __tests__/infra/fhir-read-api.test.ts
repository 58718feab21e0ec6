import { Testing } from 'cdktf';
import { ApiGatewayIntegration } from '@cdktf/provider-aws/lib/api-gateway-integration';
import { ApiGatewayMethod } from '@cdktf/provider-aws/lib/api-gateway-method';
import { Lb } from '@cdktf/provider-aws/lib/lb';
import { LbListener } from '@cdktf/provider-aws/lib/lb-listener';
import { FhirReadApi, FHIR_READER_USER, type FhirReadApiProps } from '../../src/infra/fhir-read-api';
import { PipelineStack } from '../../src/infra/pipeline-stack';
import { FHIR_READER_ROLE } from '../../src/db/migrate';
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
    api: { restApiId: 'abc123', rootResourceId: 'root1', stageName: 'test' },
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
});
