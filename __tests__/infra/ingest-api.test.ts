import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv from 'ajv';
import { TerraformOutput, TerraformVariable, Testing } from 'cdktf';
import { ApiGatewayAccount } from '@cdktf/provider-aws/lib/api-gateway-account';
import { ApiGatewayBasePathMapping } from '@cdktf/provider-aws/lib/api-gateway-base-path-mapping';
import { ApiGatewayDomainName } from '@cdktf/provider-aws/lib/api-gateway-domain-name';
import { ApiGatewayDeployment } from '@cdktf/provider-aws/lib/api-gateway-deployment';
import { ApiGatewayGatewayResponse } from '@cdktf/provider-aws/lib/api-gateway-gateway-response';
import { ApiGatewayIntegration } from '@cdktf/provider-aws/lib/api-gateway-integration';
import { ApiGatewayIntegrationResponse } from '@cdktf/provider-aws/lib/api-gateway-integration-response';
import { ApiGatewayMethod } from '@cdktf/provider-aws/lib/api-gateway-method';
import { ApiGatewayMethodSettings } from '@cdktf/provider-aws/lib/api-gateway-method-settings';
import { ApiGatewayRequestValidator } from '@cdktf/provider-aws/lib/api-gateway-request-validator';
import { ApiGatewayRestApi } from '@cdktf/provider-aws/lib/api-gateway-rest-api';
import { ApiGatewayStage } from '@cdktf/provider-aws/lib/api-gateway-stage';
import { ApiGatewayUsagePlan } from '@cdktf/provider-aws/lib/api-gateway-usage-plan';
import { ApiGatewayUsagePlanKey } from '@cdktf/provider-aws/lib/api-gateway-usage-plan-key';
import { CloudwatchLogGroup } from '@cdktf/provider-aws/lib/cloudwatch-log-group';
import { IamRolePolicyAttachment } from '@cdktf/provider-aws/lib/iam-role-policy-attachment';
import { Wafv2WebAcl } from '@cdktf/provider-aws/lib/wafv2-web-acl';
import { Wafv2WebAclAssociation } from '@cdktf/provider-aws/lib/wafv2-web-acl-association';
import { Wafv2WebAclLoggingConfiguration } from '@cdktf/provider-aws/lib/wafv2-web-acl-logging-configuration';
import { API_GATEWAY_SCHEMA_DIALECT, JsonObject, toApiGatewayModelSchema } from '../../src/infra/api-model';
import { ExecutionLogLevel, IngestApi, IngestApiProps, QuotaPeriod } from '../../src/infra/ingest-api';
import { PUT_RECORDS_RESPONSE_TEMPLATE, integrationErrorTemplate, putRecordsRequestTemplate } from '../../src/infra/mapping-template';
import { ComputeHarnessStack, DUMMY, REGION, SynthesizedStack, ingestProps, synthHarness } from './helpers/compute-harness';
import { bySid, inlineStatementsOf, trustStatementsOf } from './helpers/iam-statements';

const SCHEMA_FILE = join(__dirname, '../../src/schema/device-event.v1.schema.json');
const schemaFromDisk = (): JsonObject => JSON.parse(readFileSync(SCHEMA_FILE, 'utf8')) as JsonObject;

let json: string;
let parsed: SynthesizedStack;
let stack: ComputeHarnessStack;

beforeAll(() => {
  ({ json, parsed, stack } = synthHarness());
});

const resources = (type: string) => Object.values(parsed.resource[type] ?? {});
const ref = (type: string, attribute: string) => expect.stringMatching(new RegExp(`^\\$\\{${type}\\.[^.]+\\.${attribute}\\}$`));
const synthWith = (overrides: Partial<IngestApiProps>) =>
  Testing.synthScope((scope) => {
    new IngestApi(scope, 'IngestApi', ingestProps(overrides));
  });

describe('IngestApi: REST API and routes', () => {
  test('is a REGIONAL REST API named with the environment suffix', () => {
    expect(json).toHaveResourceWithProperties(ApiGatewayRestApi, {
      name: 'vitals-ingest-test',
      endpoint_configuration: { types: ['REGIONAL'] },
      api_key_source: 'HEADER',
    });
  });

  test('exposes /v1/events and /v1/health', () => {
    const parts = resources('aws_api_gateway_resource').map((r) => r.path_part).sort();
    expect(parts).toEqual(['events', 'health', 'v1']);
  });

  test('POST /v1/events requires AWS_IAM and an API key, and validates the body against the model', () => {
    expect(json).toHaveResourceWithProperties(ApiGatewayMethod, {
      http_method: 'POST',
      authorization: 'AWS_IAM',
      api_key_required: true,
      request_validator_id: ref('aws_api_gateway_request_validator', 'id'),
      request_models: { 'application/json': ref('aws_api_gateway_model', 'name') },
    });
    expect(json).toHaveResourceWithProperties(ApiGatewayRequestValidator, { validate_request_body: true });
  });

  test('GET /v1/health is signed (AWS_IAM) and answered by a mock with {"status":"ok"}', () => {
    expect(json).toHaveResourceWithProperties(ApiGatewayMethod, { http_method: 'GET', authorization: 'AWS_IAM', api_key_required: false });
    expect(json).toHaveResourceWithProperties(ApiGatewayIntegration, { type: 'MOCK', request_templates: { 'application/json': '{"statusCode": 200}' } });
    expect(json).toHaveResourceWithProperties(ApiGatewayIntegrationResponse, {
      status_code: '200',
      response_templates: { 'application/json': '{"status": "ok"}' },
    });
  });

  test('no method is open without authorization', () => {
    for (const method of resources('aws_api_gateway_method')) expect(method.authorization).toBe('AWS_IAM');
  });
});

describe('IngestApi: Kinesis integration', () => {
  test('POST /v1/events is an AWS integration straight to Kinesis PutRecords with the integration role', () => {
    expect(json).toHaveResourceWithProperties(ApiGatewayIntegration, {
      type: 'AWS',
      integration_http_method: 'POST',
      uri: `arn:aws:apigateway:${REGION}:kinesis:action/PutRecords`,
      credentials: ref('aws_iam_role', 'arn'),
      request_parameters: { 'integration.request.header.Content-Type': "'application/x-amz-json-1.1'" },
    });
  });

  test('never passes an unmapped content type through (415 instead)', () => {
    expect(json).toHaveResourceWithProperties(ApiGatewayIntegration, { type: 'AWS', passthrough_behavior: 'NEVER' });
  });

  test('uses the PutRecords request template for this stream as its only template', () => {
    const integration = resources('aws_api_gateway_integration').find((i) => i.type === 'AWS') as { request_templates: Record<string, string> };
    expect(integration.request_templates).toEqual({ 'application/json': putRecordsRequestTemplate(DUMMY.streamName) });
  });

  test('maps 200 through the response template and Kinesis errors to 500/503 without echoing them', () => {
    expect(json).toHaveResourceWithProperties(ApiGatewayIntegrationResponse, {
      status_code: '200',
      response_templates: { 'application/json': PUT_RECORDS_RESPONSE_TEMPLATE },
    });
    expect(json).toHaveResourceWithProperties(ApiGatewayIntegrationResponse, {
      status_code: '500',
      selection_pattern: '4\\d{2}',
      response_templates: { 'application/json': integrationErrorTemplate('Internal server error') },
    });
    expect(json).toHaveResourceWithProperties(ApiGatewayIntegrationResponse, {
      status_code: '503',
      selection_pattern: '5\\d{2}',
      response_templates: { 'application/json': integrationErrorTemplate('Service Unavailable') },
    });
  });

  test('the integration role may only put records to this stream and generate data keys with its key', () => {
    const statements = inlineStatementsOf(parsed, stack.api.integrationRole);
    expect(statements).toHaveLength(2);
    expect(bySid(statements, 'StreamWrite')).toMatchObject({ actions: ['kinesis:PutRecord', 'kinesis:PutRecords'], resources: [DUMMY.streamArn] });
    expect(bySid(statements, 'StreamKey')).toMatchObject({ actions: ['kms:GenerateDataKey'], resources: [DUMMY.streamKeyArn] });
  });

  test('only API Gateway acting for this API may assume the integration role', () => {
    const [trust] = trustStatementsOf(parsed, stack.api.integrationRole);
    expect(trust.principals).toEqual([{ type: 'Service', identifiers: ['apigateway.amazonaws.com'] }]);
    expect(trust.condition).toEqual(
      expect.arrayContaining([
        { test: 'ArnLike', variable: 'aws:SourceArn', values: [expect.stringMatching(/^arn:aws:execute-api:eu-central-2:\$\{var\.account_id\}:\$\{aws_api_gateway_rest_api\..+\.id\}\/\*$/)] },
      ]),
    );
  });

  test('a validation failure answers 400 without the validator message, which quotes rejected values (PHI)', () => {
    expect(json).toHaveResourceWithProperties(ApiGatewayGatewayResponse, {
      response_type: 'BAD_REQUEST_BODY',
      status_code: '400',
      response_templates: { 'application/json': expect.stringContaining('Invalid request body') },
    });
    const responses = Object.values(resources('aws_api_gateway_gateway_response')) as Array<{ response_templates: Record<string, string> }>;
    for (const r of responses) expect(JSON.stringify(r.response_templates)).not.toContain('validationErrorString');
  });
});

describe('IngestApi: request model', () => {
  const deployedModel = () => {
    const models = resources('aws_api_gateway_model');
    expect(models).toHaveLength(1);
    return JSON.parse(String(models[0].schema)) as JsonObject;
  };

  test('equals the event schema file converted to an API Gateway model, so the two cannot drift', () => {
    expect(deployedModel()).toEqual(toApiGatewayModelSchema(schemaFromDisk()));
  });

  test('is draft-04 with every local reference inlined', () => {
    const model = deployedModel();
    expect(model.$schema).toBe(API_GATEWAY_SCHEMA_DIALECT);
    const text = JSON.stringify(model);
    expect(text).not.toContain('$ref');
    expect(text).not.toContain('"definitions"');
    expect(text).not.toContain('"$id"');
    expect(model).toMatchObject({ properties: { events: { maxItems: 500, minItems: 1, items: { required: expect.arrayContaining(['deviceId', 'eventId']) } } } });
  });

  describe('accepts and rejects exactly what the schema file does', () => {
    const ajv = new Ajv({ allErrors: true, strict: false });
    const { $schema: _fileDialect, ...fileSchema } = schemaFromDisk();
    const { $schema: _modelDialect, ...modelSchema } = toApiGatewayModelSchema(schemaFromDisk());
    const viaFile = ajv.compile(fileSchema);
    const viaModel = ajv.compile(modelSchema);
    const event = (over: Record<string, unknown> = {}) => ({
      schemaVersion: 1,
      eventId: '7d444840-9dc0-11d1-b245-5ffdce74fad2',
      deviceId: 'ward3:bed.4',
      patientId: 'MRN-000123',
      facilityId: 'st-elsewhere',
      observedAt: '2026-11-24T10:15:00.250+01:00',
      vitals: { pulse: { value: 72, unit: 'bpm' } },
      ...over,
    });
    const cases: Array<[string, unknown, boolean]> = [
      ['a valid batch', { events: [event(), event({ vitals: { spo2: { value: 95, unit: '%', scale: 2 } } })] }, true],
      ['500 events', { events: Array.from({ length: 500 }, () => event()) }, true],
      ['501 events', { events: Array.from({ length: 501 }, () => event()) }, false],
      ['an empty batch', { events: [] }, false],
      ['a missing deviceId', { events: [{ ...event(), deviceId: undefined }] }, false],
      ['a bad eventId', { events: [event({ eventId: 'not-a-uuid' })] }, false],
      ['an unknown unit', { events: [event({ vitals: { pulse: { value: 72, unit: 'Hz' } } })] }, false],
      ['an extra property', { events: [event({ note: 'x' })] }, false],
      ['no vitals', { events: [event({ vitals: {} })] }, false],
      ['a future schemaVersion', { events: [event({ schemaVersion: 2 })] }, false],
    ];
    test.each(cases)('%s', (_name, body, valid) => {
      const clean = JSON.parse(JSON.stringify(body)) as unknown;
      expect(viaFile(clean)).toBe(valid);
      expect(viaModel(clean)).toBe(valid);
    });
  });
});

describe('IngestApi: model conversion rules', () => {
  const base = (extra: JsonObject): JsonObject => ({ $schema: 'http://json-schema.org/draft-07/schema#', type: 'object', ...extra });

  test('rejects draft-06+ keywords that draft-04 would silently ignore', () => {
    expect(() => toApiGatewayModelSchema(base({ properties: { a: { const: 1 } } }))).toThrow(/\$\.properties\.a\.const must not be used: draft-04/);
  });

  test('rejects a numeric exclusiveMinimum (boolean in draft-04)', () => {
    expect(() => toApiGatewayModelSchema(base({ properties: { a: { exclusiveMinimum: 0 } } }))).toThrow(/exclusiveMinimum must be a boolean in draft-04; received 0/);
  });

  test('rejects a reference to another document', () => {
    expect(() => toApiGatewayModelSchema(base({ properties: { a: { $ref: 'other.json#/x' } } }))).toThrow(/\$ref must be a local reference.*received "other.json#\/x"/);
  });

  test('rejects a reference to a missing definition', () => {
    expect(() => toApiGatewayModelSchema(base({ properties: { a: { $ref: '#/definitions/Nope' } } }))).toThrow(/must point at an existing definition; received "#\/definitions\/Nope"/);
  });

  test('rejects a recursive reference (it cannot be inlined)', () => {
    const recursive = base({ definitions: { Node: { type: 'object', properties: { next: { $ref: '#/definitions/Node' } } } }, properties: { root: { $ref: '#/definitions/Node' } } });
    expect(() => toApiGatewayModelSchema(recursive)).toThrow(/must not be recursive/);
  });

  test('treats property names as names, not keywords (a property called "const" is fine)', () => {
    expect(toApiGatewayModelSchema(base({ properties: { const: { type: 'string' } } }))).toEqual({
      $schema: API_GATEWAY_SCHEMA_DIALECT,
      type: 'object',
      properties: { const: { type: 'string' } },
    });
  });
});

describe('IngestApi: stage', () => {
  test('has X-Ray tracing on and JSON access logs to the encrypted access log group', () => {
    expect(json).toHaveResourceWithProperties(ApiGatewayStage, {
      stage_name: 'test',
      xray_tracing_enabled: true,
      access_log_settings: { destination_arn: ref('aws_cloudwatch_log_group', 'arn'), format: expect.any(String) },
    });
    expect(json).toHaveResourceWithProperties(CloudwatchLogGroup, {
      name: '/aws/apigateway/vitals-ingest-test/access',
      kms_key_id: DUMMY.logsKeyArn,
      retention_in_days: 365,
    });
  });

  test('the access log line names who called what and the outcome, never the body', () => {
    const stage = resources('aws_api_gateway_stage')[0] as { access_log_settings: { format: string } };
    const format = JSON.parse(stage.access_log_settings.format) as Record<string, string>;
    expect(format).toMatchObject({
      requestId: '$context.requestId',
      ip: '$context.identity.sourceIp',
      caller: '$context.identity.caller',
      httpMethod: '$context.httpMethod',
      resourcePath: '$context.resourcePath',
      status: '$context.status',
      protocol: '$context.protocol',
      responseLength: '$context.responseLength',
    });
    expect(stage.access_log_settings.format).not.toMatch(/body|\$input|requestOverride|validationErrorString|querystring|header/i);
  });

  test('every method logs metrics and errors, never data traces (bodies are PHI), throttled at 500 burst / 100 rps', () => {
    expect(json).toHaveResourceWithProperties(ApiGatewayMethodSettings, {
      method_path: '*/*',
      settings: expect.objectContaining({
        metrics_enabled: true,
        logging_level: 'ERROR',
        data_trace_enabled: false,
        throttling_burst_limit: 500,
        throttling_rate_limit: 100,
      }),
    });
  });

  test('the execution log group API Gateway writes to is created encrypted, with retention', () => {
    expect(json).toHaveResourceWithProperties(CloudwatchLogGroup, {
      name: expect.stringMatching(/^API-Gateway-Execution-Logs_\$\{aws_api_gateway_rest_api\..+\.id\}\/test$/),
      kms_key_id: DUMMY.logsKeyArn,
      retention_in_days: 365,
    });
  });

  test('the execution log level can be raised to INFO, data tracing stays off', () => {
    expect(synthWith({ executionLogLevel: ExecutionLogLevel.INFO })).toHaveResourceWithProperties(ApiGatewayMethodSettings, {
      settings: expect.objectContaining({ logging_level: 'INFO', data_trace_enabled: false }),
    });
  });

  test('the REST API is replaced create-before-destroy so producers always have an endpoint', () => {
    expect(json).toHaveResourceWithProperties(ApiGatewayRestApi, { lifecycle: { create_before_destroy: true } });
  });

  test('the deployment is redeployed on any configuration change and replaced before it is destroyed', () => {
    const [deployment] = resources('aws_api_gateway_deployment') as Array<{ triggers: Record<string, string>; depends_on: string[] }>;
    expect(deployment.triggers.configuration).toMatch(/^[0-9a-f]{64}$/);
    expect(deployment.triggers.resources).toMatch(/^\$\{sha1\(jsonencode\(\[.*aws_api_gateway_integration\..*\]\)\)\}$/);
    expect(json).toHaveResourceWithProperties(ApiGatewayDeployment, { lifecycle: { create_before_destroy: true } });
    expect(deployment.depends_on).toEqual(expect.arrayContaining([expect.stringMatching(/^aws_api_gateway_integration_response\./), expect.stringMatching(/^aws_api_gateway_gateway_response\./)]));
  });

  test('the stage waits for the account CloudWatch role, which uses the managed push-to-logs policy', () => {
    expect(json).toHaveResourceWithProperties(ApiGatewayAccount, { cloudwatch_role_arn: ref('aws_iam_role', 'arn') });
    expect(json).toHaveResourceWithProperties(IamRolePolicyAttachment, {
      policy_arn: 'arn:aws:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs',
    });
    const [stage] = resources('aws_api_gateway_stage') as Array<{ depends_on: string[] }>;
    expect(stage.depends_on).toEqual([expect.stringMatching(/^aws_api_gateway_account\./)]);
  });

  test('leaves the account singleton alone when manageAccountSettings is false', () => {
    const synth = synthWith({ manageAccountSettings: false });
    expect(synth).not.toHaveResource(ApiGatewayAccount);
    expect(synth).not.toHaveResource(IamRolePolicyAttachment);
  });
});

describe('IngestApi: API key and usage plan', () => {
  test('the usage plan throttles at 500 burst / 100 rps on this stage', () => {
    expect(json).toHaveResourceWithProperties(ApiGatewayUsagePlan, {
      name: 'vitals-ingest-test',
      throttle_settings: { burst_limit: 500, rate_limit: 100 },
      api_stages: [{ api_id: ref('aws_api_gateway_rest_api', 'id'), stage: ref('aws_api_gateway_stage', 'stage_name') }],
    });
  });

  test('has no quota unless one is asked for', () => {
    const [plan] = resources('aws_api_gateway_usage_plan');
    expect(plan.quota_settings).toBeUndefined();
    expect(synthWith({ quota: { limit: 5_000_000, period: QuotaPeriod.DAY } })).toHaveResourceWithProperties(ApiGatewayUsagePlan, {
      quota_settings: { limit: 5_000_000, period: 'DAY' },
    });
  });

  test('binds the API key to the usage plan', () => {
    expect(json).toHaveResourceWithProperties(ApiGatewayUsagePlanKey, {
      key_type: 'API_KEY',
      key_id: ref('aws_api_gateway_api_key', 'id'),
      usage_plan_id: ref('aws_api_gateway_usage_plan', 'id'),
    });
  });

  test('a custom throttle applies to both the stage and the usage plan', () => {
    const synth = synthWith({ throttle: { burstLimit: 50, rateLimit: 10 } });
    expect(synth).toHaveResourceWithProperties(ApiGatewayUsagePlan, { throttle_settings: { burst_limit: 50, rate_limit: 10 } });
    expect(synth).toHaveResourceWithProperties(ApiGatewayMethodSettings, {
      settings: expect.objectContaining({ throttling_burst_limit: 50, throttling_rate_limit: 10 }),
    });
  });
});

describe('IngestApi: WAF', () => {
  const webAcl = () => resources('aws_wafv2_web_acl')[0] as { rule: Array<{ name: string; statement: Record<string, Record<string, unknown>> }> };

  test('a regional web ACL runs the AWS common, known-bad-inputs, IP-reputation and anonymous-IP rule groups', () => {
    expect(json).toHaveResourceWithProperties(Wafv2WebAcl, { name: 'vitals-ingest-test', scope: 'REGIONAL', default_action: { allow: {} } });
    const groups = webAcl().rule.map((r) => r.statement.managed_rule_group_statement?.name).filter(Boolean);
    expect(groups).toEqual([
      'AWSManagedRulesCommonRuleSet',
      'AWSManagedRulesKnownBadInputsRuleSet',
      'AWSManagedRulesAmazonIpReputationList',
      'AWSManagedRulesAnonymousIpList',
    ]);
  });

  test('anonymising proxies are blocked but cloud-hosted integration engines are only counted', () => {
    const anonymous = webAcl().rule.find((r) => r.name === 'AWSManagedRulesAnonymousIpList');
    expect(anonymous?.statement.managed_rule_group_statement.rule_action_override).toEqual([{ name: 'HostingProviderIPList', action_to_use: { count: {} } }]);
  });

  test('rule priorities are unique', () => {
    const priorities = (resources('aws_wafv2_web_acl')[0] as { rule: Array<{ priority: number }> }).rule.map((r) => r.priority);
    expect(new Set(priorities).size).toBe(priorities.length);
  });

  test("the common rule set's 8 KB body-size rule only counts, so 500-event batches pass", () => {
    const common = webAcl().rule.find((r) => r.name === 'AWSManagedRulesCommonRuleSet');
    expect(common?.statement.managed_rule_group_statement.rule_action_override).toEqual([{ name: 'SizeRestrictions_BODY', action_to_use: { count: {} } }]);
  });

  test('a rate-based rule blocks one IP above 30,000 requests per 5 minutes', () => {
    const rate = webAcl().rule.find((r) => r.statement.rate_based_statement);
    expect(rate?.statement.rate_based_statement).toEqual({ limit: 30000, aggregate_key_type: 'IP' });
    expect(synthWith({ wafRateLimitPer5Minutes: 2000 })).toContain('"limit": 2000');
  });

  test('is associated with the stage', () => {
    expect(json).toHaveResourceWithProperties(Wafv2WebAclAssociation, {
      resource_arn: ref('aws_api_gateway_stage', 'arn'),
      web_acl_arn: ref('aws_wafv2_web_acl', 'arn'),
    });
  });

  test('logs to an encrypted aws-waf-logs- group with credentials headers redacted', () => {
    expect(json).toHaveResourceWithProperties(CloudwatchLogGroup, {
      name: 'aws-waf-logs-vitals-ingest-test',
      kms_key_id: DUMMY.logsKeyArn,
      retention_in_days: 365,
    });
    expect(json).toHaveResourceWithProperties(Wafv2WebAclLoggingConfiguration, {
      log_destination_configs: [ref('aws_cloudwatch_log_group', 'arn')],
      redacted_fields: [
        { query_string: {} },
        { single_header: { name: 'authorization' } },
        { single_header: { name: 'x-api-key' } },
        { single_header: { name: 'x-amz-security-token' } },
        { single_header: { name: 'cookie' } },
      ],
    });
  });

  test('WAF logs redact the query string and keep only blocked and counted requests (no allowed request, no PHI query)', () => {
    expect(json).toHaveResourceWithProperties(Wafv2WebAclLoggingConfiguration, {
      redacted_fields: expect.arrayContaining([{ query_string: {} }]),
      logging_filter: {
        default_behavior: 'DROP',
        filter: [{
          behavior: 'KEEP',
          requirement: 'MEETS_ANY',
          condition: [{ action_condition: { action: 'BLOCK' } }, { action_condition: { action: 'COUNT' } }],
        }],
      },
    });
  });
});

describe('IngestApi: names and encryption across the construct', () => {
  test('every log group of the harness is encrypted with the logs key and has a retention (break-glass output: 1 day)', () => {
    const groups = resources('aws_cloudwatch_log_group');
    expect(groups.length).toBeGreaterThanOrEqual(4);
    for (const g of groups) {
      expect(g.kms_key_id).toBe(DUMMY.logsKeyArn);
      expect(g.retention_in_days).toBe(String(g.name).endsWith('/break-glass') ? 1 : 365);
    }
  });

  test('every physical name carries the environment suffix (models are scoped to their API)', () => {
    const named = Object.entries(parsed.resource)
      .filter(([type]) => type !== 'aws_api_gateway_model')
      .flatMap(([type, byId]) => Object.values(byId).map((r) => [type, r.name ?? r.family ?? r.alarm_name ?? r.stage_name] as const))
      // References to another resource's name (e.g. method settings -> stage) are checked at their source.
      .filter(([, name]) => name !== undefined && !String(name).startsWith('${'));
    expect(named.length).toBeGreaterThan(20);
    for (const [type, name] of named) expect(`${type}: ${String(name)}`).toMatch(/test/);
  });
});

describe('IngestApi: validation', () => {
  const rules: Array<[string, Partial<IngestApiProps>, RegExp]> = [
    ['environment', { environment: 'dev-1' }, /environment must be lowercase alphanumeric.*received "dev-1"/],
    ['region', { region: 'eu_central_2' }, /region must be an AWS region code.*received "eu_central_2"/],
    ['accountId', { accountId: '12345678901a' }, /accountId must be a 12-digit AWS account id; received "12345678901a"/],
    ['stream.arn', { stream: { ...ingestProps().stream, arn: 'vitals-events' } }, /stream\.arn must be an kinesis ARN.*received "vitals-events"/],
    ['stream.keyArn', { stream: { ...ingestProps().stream, keyArn: 'alias/data' } }, /stream\.keyArn must be an kms ARN.*received "alias\/data"/],
    ['logsKeyArn', { logsKeyArn: DUMMY.streamArn }, /logsKeyArn must be an kms ARN/],
    ['logRetentionDays', { logRetentionDays: 0 }, /logRetentionDays must be one of .*; received 0/],
    ['throttle.burstLimit', { throttle: { burstLimit: 0, rateLimit: 100 } }, /throttle\.burstLimit must be an integer from 1 to 5000; received 0/],
    ['throttle.rateLimit', { throttle: { burstLimit: 500, rateLimit: 20000 } }, /throttle\.rateLimit must be > 0 and <= 10000; received 20000/],
    ['quota.limit', { quota: { limit: 0, period: QuotaPeriod.MONTH } }, /quota\.limit must be an integer >= 1; received 0/],
    ['wafRateLimitPer5Minutes', { wafRateLimitPer5Minutes: 5 }, /wafRateLimitPer5Minutes must be an integer from 10 .*; received 5/],
  ];

  test.each(rules)('rejects a bad %s, naming prop, rule and received value', (_prop, overrides, message) => {
    expect(() => synthWith(overrides)).toThrow(message);
  });

  test('reports every invalid prop at once', () => {
    expect(() => synthWith({ region: 'x', throttle: { burstLimit: 0, rateLimit: 0 } })).toThrow(/region[\s\S]*throttle\.burstLimit[\s\S]*throttle\.rateLimit/);
  });

  test('skips unresolved tokens', () => {
    expect(() =>
      Testing.synthScope((scope) => {
        const accountId = new TerraformVariable(scope, 'account', { type: 'string' }).stringValue;
        const streamArn = new TerraformVariable(scope, 'stream', { type: 'string' }).stringValue;
        new IngestApi(scope, 'IngestApi', ingestProps({ accountId, stream: { ...ingestProps().stream, arn: streamArn } }));
      }),
    ).not.toThrow();
  });
});

describe('IngestApi: attribute getters', () => {
  test('resolve to the attributes consumers need', () => {
    const outputs = JSON.parse(
      Testing.synthScope((scope) => {
        const api = new IngestApi(scope, 'IngestApi', ingestProps());
        const getters: Record<string, string> = {
          eventsUrl: api.eventsUrl,
          invokeUrl: api.invokeUrl,
          restApiId: api.restApiId,
          stageName: api.stageName,
          apiKeyId: api.apiKeyId,
          usagePlanId: api.usagePlanId,
          webAclArn: api.webAclArn,
          accessLogGroupName: api.accessLogGroupName,
        };
        for (const [name, value] of Object.entries(getters)) new TerraformOutput(scope, name, { value });
      }),
    ).output as Record<string, { value: string }>;
    expect(outputs.eventsUrl.value).toMatch(/^\$\{aws_api_gateway_stage\.[^.]+\.invoke_url\}\/v1\/events$/);
    expect(outputs.invokeUrl.value).toMatch(/^\$\{aws_api_gateway_stage\.[^.]+\.invoke_url\}$/);
    expect(outputs.restApiId.value).toMatch(/^\$\{aws_api_gateway_rest_api\.[^.]+\.id\}$/);
    expect(outputs.stageName.value).toMatch(/^\$\{aws_api_gateway_stage\.[^.]+\.stage_name\}$/);
    expect(outputs.apiKeyId.value).toMatch(/^\$\{aws_api_gateway_api_key\.[^.]+\.id\}$/);
    expect(outputs.usagePlanId.value).toMatch(/^\$\{aws_api_gateway_usage_plan\.[^.]+\.id\}$/);
    expect(outputs.webAclArn.value).toMatch(/^\$\{aws_wafv2_web_acl\.[^.]+\.arn\}$/);
    expect(outputs.accessLogGroupName.value).toMatch(/^\$\{aws_cloudwatch_log_group\.[^.]*Access[^.]*\.name\}$/);
  });
});

describe('IngestApi: edge (issue 9 finding 10)', () => {
  const CERTIFICATE = `arn:aws:acm:${REGION}:123456789012:certificate/0a1b2c3d-0000-4000-8000-000000000000`;
  const policyDocument = (synthesized: string) => {
    const p = JSON.parse(synthesized) as SynthesizedStack & { data: Record<string, Record<string, { statement: Array<Record<string, unknown>> }>> };
    const [policy] = Object.values(p.resource.aws_api_gateway_rest_api_policy ?? {});
    const id = /data\.aws_iam_policy_document\.([^.]+)\.json/.exec(String(policy.policy))![1];
    return p.data.aws_iam_policy_document[id].statement;
  };

  test('attaches a resource policy letting only this account\'s principals invoke, denying everyone else', () => {
    const [allow, deny] = policyDocument(json);
    expect(allow).toMatchObject({ sid: 'InvokeByAllowedPrincipals', principals: [{ type: 'AWS', identifiers: [`arn:aws:iam::\${var.account_id}:root`] }], actions: ['execute-api:Invoke'] });
    expect(deny).toMatchObject({
      sid: 'DenyEveryoneElse',
      effect: 'Deny',
      principals: [{ type: '*', identifiers: ['*'] }],
      condition: [{ test: 'ArnNotLike', variable: 'aws:PrincipalArn', values: [`arn:aws:iam::\${var.account_id}:*`] }],
    });
    expect(JSON.stringify(allow.resources)).toMatch(/aws_api_gateway_rest_api\.[^.]+\.execution_arn\}\/\*/);
  });

  test('allows exactly the listed principals when given', () => {
    const hospital = 'arn:aws:iam::111122223333:role/hospital-engine';
    const [allow, deny] = policyDocument(synthWith({ allowedPrincipalArns: [hospital] }));
    expect(allow.principals).toEqual([{ type: 'AWS', identifiers: [hospital] }]);
    expect(deny.condition).toEqual([{ test: 'ArnNotLike', variable: 'aws:PrincipalArn', values: [hospital] }]);
    expect(() => synthWith({ allowedPrincipalArns: ['*'] })).toThrow(/allowedPrincipalArns must be IAM principal ARNs/);
    expect(() => synthWith({ allowedPrincipalArns: [] })).toThrow(/allowedPrincipalArns must name at least one principal/);
  });

  test('a new resource policy redeploys the stage', () => {
    const [deployment] = resources('aws_api_gateway_deployment');
    expect(String((deployment.triggers as Record<string, string>).resources)).toMatch(/data\.aws_iam_policy_document\.[^.]*ResourcePolicyDocument[^.]*\.json/);
    expect(deployment.depends_on).toEqual(expect.arrayContaining([expect.stringMatching(/^aws_api_gateway_rest_api_policy\./)]));
  });

  test('keeps the default execute-api endpoint and creates no domain without a custom domain', () => {
    expect(resources('aws_api_gateway_domain_name')).toEqual([]);
    expect(resources('aws_api_gateway_rest_api')[0].disable_execute_api_endpoint).toBe(false);
  });

  test('with a custom domain: regional, TLS 1.2, the stage mapped at its root, the default endpoint disabled', () => {
    const withDomain = synthWith({ customDomain: { domainName: 'api.vitals.example.org', certificateArn: CERTIFICATE } });
    expect(withDomain).toHaveResourceWithProperties(ApiGatewayDomainName, {
      domain_name: 'api.vitals.example.org',
      regional_certificate_arn: CERTIFICATE,
      endpoint_configuration: { types: ['REGIONAL'] },
      security_policy: 'TLS_1_2',
    });
    expect(withDomain).toHaveResourceWithProperties(ApiGatewayBasePathMapping, { stage_name: ref('aws_api_gateway_stage', 'stage_name') });
    expect(withDomain).toHaveResourceWithProperties(ApiGatewayRestApi, { disable_execute_api_endpoint: true });
    expect(() => synthWith({ customDomain: { domainName: 'api.vitals.example.org', certificateArn: 'not-an-arn' } })).toThrow(/customDomain\.certificateArn/);
  });
});
