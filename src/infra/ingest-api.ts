/**
 * The ingest API: API Gateway REST API whose `POST /v1/events` writes straight into Kinesis with
 * `PutRecords` (no Lambda in the path), validated against the event schema's model, authenticated
 * (AWS_IAM plus an API key on a usage plan), throttled, access-logged, traced and behind WAF.
 *
 * Bodies carry PHI: execution logging never traces data, the access log format has no body
 * field, and WAF logs keep only blocked and counted requests, with the query string and the
 * credentials headers redacted.
 */
import { createHash } from 'node:crypto';
import { Construct } from 'constructs';
import { Fn, ITerraformDependable } from 'cdktf';
import { ApiGatewayAccount } from '@cdktf/provider-aws/lib/api-gateway-account';
import { ApiGatewayApiKey } from '@cdktf/provider-aws/lib/api-gateway-api-key';
import { ApiGatewayBasePathMapping } from '@cdktf/provider-aws/lib/api-gateway-base-path-mapping';
import { ApiGatewayDomainName } from '@cdktf/provider-aws/lib/api-gateway-domain-name';
import { ApiGatewayDeployment } from '@cdktf/provider-aws/lib/api-gateway-deployment';
import { ApiGatewayGatewayResponse } from '@cdktf/provider-aws/lib/api-gateway-gateway-response';
import { ApiGatewayIntegration } from '@cdktf/provider-aws/lib/api-gateway-integration';
import { ApiGatewayIntegrationResponse } from '@cdktf/provider-aws/lib/api-gateway-integration-response';
import { ApiGatewayMethod } from '@cdktf/provider-aws/lib/api-gateway-method';
import { ApiGatewayMethodResponse } from '@cdktf/provider-aws/lib/api-gateway-method-response';
import { ApiGatewayMethodSettings } from '@cdktf/provider-aws/lib/api-gateway-method-settings';
import { ApiGatewayModel } from '@cdktf/provider-aws/lib/api-gateway-model';
import { ApiGatewayRequestValidator } from '@cdktf/provider-aws/lib/api-gateway-request-validator';
import { ApiGatewayResource } from '@cdktf/provider-aws/lib/api-gateway-resource';
import { ApiGatewayRestApi } from '@cdktf/provider-aws/lib/api-gateway-rest-api';
import { ApiGatewayRestApiPolicy } from '@cdktf/provider-aws/lib/api-gateway-rest-api-policy';
import { ApiGatewayStage } from '@cdktf/provider-aws/lib/api-gateway-stage';
import { ApiGatewayUsagePlan } from '@cdktf/provider-aws/lib/api-gateway-usage-plan';
import { ApiGatewayUsagePlanKey } from '@cdktf/provider-aws/lib/api-gateway-usage-plan-key';
import { CloudwatchLogGroup } from '@cdktf/provider-aws/lib/cloudwatch-log-group';
import { DataAwsIamPolicyDocument } from '@cdktf/provider-aws/lib/data-aws-iam-policy-document';
import { IamRole } from '@cdktf/provider-aws/lib/iam-role';
import { IamRolePolicy } from '@cdktf/provider-aws/lib/iam-role-policy';
import { IamRolePolicyAttachment } from '@cdktf/provider-aws/lib/iam-role-policy-attachment';
import { Wafv2WebAcl, Wafv2WebAclRule } from '@cdktf/provider-aws/lib/wafv2-web-acl';
import { Wafv2WebAclAssociation } from '@cdktf/provider-aws/lib/wafv2-web-acl-association';
import { Wafv2WebAclLoggingConfiguration } from '@cdktf/provider-aws/lib/wafv2-web-acl-logging-configuration';
import { DEVICE_EVENT_BATCH_MODEL, DEVICE_EVENT_BATCH_MODEL_NAME } from './api-model';
import {
  BAD_REQUEST_BODY_TEMPLATE,
  HEALTH_RESPONSE_TEMPLATE,
  INTERNAL_ERROR_MESSAGE,
  KINESIS_CONTENT_TYPE,
  MOCK_200_REQUEST_TEMPLATE,
  PARTIAL_FAILURE_STATUS,
  PUT_RECORDS_RESPONSE_TEMPLATE,
  SERVICE_UNAVAILABLE_MESSAGE,
  integrationErrorTemplate,
  putRecordsRequestTemplate,
} from './mapping-template';
import { LOG_RETENTION_DAYS_ALLOWED } from './config';
import { PropProblems } from './prop-problems';

export interface IngestStreamRef {
  readonly name: string;
  readonly arn: string;
  /** KMS key the stream is encrypted with (producers need kms:GenerateDataKey). */
  readonly keyArn: string;
}

export interface ThrottleSettings {
  /** Token-bucket size: requests that may arrive at once. */
  readonly burstLimit: number;
  /** Steady-state requests per second. */
  readonly rateLimit: number;
}

export interface UsagePlanQuota {
  /** Requests allowed per period. */
  readonly limit: number;
  readonly period: QuotaPeriod;
}

export enum QuotaPeriod {
  DAY = 'DAY',
  WEEK = 'WEEK',
  MONTH = 'MONTH',
}

/** API Gateway execution-log levels (`OFF` is not offered: errors must stay visible). */
export enum ExecutionLogLevel {
  ERROR = 'ERROR',
  INFO = 'INFO',
}

export interface IngestApiProps {
  /** Environment suffix carried by every name (lowercase alphanumeric). */
  readonly environment: string;
  readonly region: string;
  /**
   * AWS partition of the ARNs the construct builds.
   * @default 'aws'
   */
  readonly partition?: string;
  /** AWS account id (usually a Terraform variable token). */
  readonly accountId: string;
  readonly stream: IngestStreamRef;
  /** KMS key encrypting the access, execution and WAF log groups. */
  readonly logsKeyArn: string;
  /**
   * Retention of the API's log groups; one of CloudWatch's allowed values.
   * @default 365
   */
  readonly logRetentionDays?: number;
  /**
   * Stage and usage-plan throttling.
   * @default { burstLimit: 500, rateLimit: 100 }
   */
  readonly throttle?: ThrottleSettings;
  /**
   * Usage-plan quota. Off by default: the throttle already bounds traffic, and a quota that ran out
   * would reject bedside vitals for the rest of the period.
   * @default no quota
   */
  readonly quota?: UsagePlanQuota;
  /**
   * Execution-log level. Data tracing is always off (bodies are PHI); ERROR keeps execution logs
   * to failures, the access log records every request.
   * @default ExecutionLogLevel.ERROR
   */
  readonly executionLogLevel?: ExecutionLogLevel;
  /**
   * Requests per client IP per 5 minutes above which WAF blocks. The default equals the stage's
   * sustained rate (100 req/s x 300 s), so one hospital's integration engine behind a single NAT
   * address is never cut off before API Gateway's own throttle applies.
   * @default 30000
   */
  readonly wafRateLimitPer5Minutes?: number;
  /**
   * Manage the account's API Gateway CloudWatch role (a per-region singleton). Set false for all
   * but one stack when several environments share an account and region.
   * @default true
   */
  readonly manageAccountSettings?: boolean;
  /**
   * Further routes on this API (the FHIR read API), built before the deployment so the deployment
   * includes them and is replaced when their ids change.
   * @default none
   */
  readonly extraRoutes?: (api: ApiRouteContext) => ApiRoutes;
  /**
   * Principals the resource policy lets invoke the API (IAM role/user ARNs, or
   * `arn:aws:iam::<account>:root` for a whole account); every other principal is explicitly denied.
   * @default [`arn:<partition>:iam::<accountId>:root`]: this account's principals only
   */
  readonly allowedPrincipalArns?: readonly string[];
  /**
   * Custom domain with a regional ACM certificate and a TLS 1.2 security policy, the stage mapped at
   * its root. When set, the default execute-api endpoint is disabled: clients reach the API only
   * through this name.
   * @default none: the default execute-api endpoint
   */
  readonly customDomain?: ApiCustomDomain;
}

export interface ApiCustomDomain {
  /** e.g. `api.vitals.example.org` (the DNS record pointing at `regionalDomainName` is the operator's). */
  readonly domainName: string;
  /** ACM certificate covering `domainName`, in the API's region. */
  readonly certificateArn: string;
}

/** What a route builder gets: the API to add resources to and its stage. */
export interface ApiRouteContext {
  readonly restApiId: string;
  readonly rootResourceId: string;
  /** The `/v1` resource (routes of the versioned API, e.g. the alert acknowledgement). */
  readonly v1ResourceId: string;
  readonly stageName: string;
  /** Base URL clients use: the custom domain when there is one, else the stage's execute-api URL. @default the execute-api URL */
  readonly baseUrl?: string;
}

/** What the deployment must include and be replaced on: resource/method/integration ids. */
export interface ApiRoutes {
  readonly deploymentIds: readonly string[];
  readonly dependables: readonly ITerraformDependable[];
}

export const DEFAULT_THROTTLE: ThrottleSettings = { burstLimit: 500, rateLimit: 100 };
const DEFAULT_LOG_RETENTION_DAYS = 365;
const DEFAULT_WAF_RATE_LIMIT_PER_5_MINUTES = 30_000;
/** API Gateway's default account limits; a stage cannot exceed them. */
const ACCOUNT_MAX_BURST = 5000;
const ACCOUNT_MAX_RATE = 10000;

/** What the integration role may do: put to this stream, with its key. */
export const STREAM_WRITE_ACTIONS = ['kinesis:PutRecord', 'kinesis:PutRecords'] as const;
export const STREAM_KEY_WRITE_ACTIONS = ['kms:GenerateDataKey'] as const;

/** The one action the REST API's resource policy governs. */
export const API_INVOKE_ACTIONS = ['execute-api:Invoke'] as const;
/** TLS policy of the custom domain (TLS 1.2 minimum). */
export const API_DOMAIN_SECURITY_POLICY = 'TLS_1_2';

/** AWS's managed policy for the API Gateway account CloudWatch role (the documented setup). */
const API_GATEWAY_CLOUDWATCH_POLICY = 'policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs';

/**
 * Access-log line (JSON). Who called, what, and the outcome; never the body, query string or
 * headers, which could carry PHI or credentials.
 */
export const ACCESS_LOG_FORMAT = JSON.stringify({
  requestId: '$context.requestId',
  extendedRequestId: '$context.extendedRequestId',
  ip: '$context.identity.sourceIp',
  caller: '$context.identity.caller',
  user: '$context.identity.user',
  userArn: '$context.identity.userArn',
  apiKeyId: '$context.identity.apiKeyId',
  requestTime: '$context.requestTime',
  httpMethod: '$context.httpMethod',
  resourcePath: '$context.resourcePath',
  status: '$context.status',
  protocol: '$context.protocol',
  responseLength: '$context.responseLength',
  responseLatency: '$context.responseLatency',
  integrationStatus: '$context.integration.status',
  integrationLatency: '$context.integration.latency',
  errorType: '$context.error.responseType',
  wafStatus: '$context.waf.status',
  xrayTraceId: '$context.xrayTraceId',
});

/** AWS managed WAF rule groups, with rules switched to count where they would block valid traffic. */
const MANAGED_RULE_GROUPS: ReadonlyArray<{ readonly name: string; readonly countOnly?: readonly string[] }> = [
  // A 500-event batch is far above the common rule set's 8 KB body limit: count, don't block.
  { name: 'AWSManagedRulesCommonRuleSet', countOnly: ['SizeRestrictions_BODY'] },
  { name: 'AWSManagedRulesKnownBadInputsRuleSet' },
  { name: 'AWSManagedRulesAmazonIpReputationList' },
  // Tor exits and anonymising proxies have no business sending bedside vitals; hospital
  // integration engines may well run in a cloud, so the hosting-provider list only counts.
  { name: 'AWSManagedRulesAnonymousIpList', countOnly: ['HostingProviderIPList'] },
];

/** Header names WAF logs must not contain (credentials, session cookies). */
export const WAF_REDACTED_HEADERS = ['authorization', 'x-api-key', 'x-amz-security-token', 'cookie'] as const;
/**
 * WAF log records kept: requests a rule blocked or counted. Allowed requests are dropped (the access
 * log has every request, without query string or body), and so are matches of the rules overridden to
 * count (EXCLUDED_AS_COUNT: every large batch trips the body-size rule), whose metrics stay in
 * CloudWatch.
 */
export const WAF_LOGGED_ACTIONS = ['BLOCK', 'COUNT'] as const;

function validate(id: string, props: IngestApiProps): void {
  const p = new PropProblems(`IngestApi "${id}"`);
  p.environment('environment', props.environment);
  p.region('region', props.region);
  p.accountId('accountId', props.accountId);
  p.arn('stream.arn', props.stream.arn, 'kinesis');
  p.arn('stream.keyArn', props.stream.keyArn, 'kms');
  p.arn('logsKeyArn', props.logsKeyArn, 'kms');
  const retention = props.logRetentionDays ?? DEFAULT_LOG_RETENTION_DAYS;
  p.check((LOG_RETENTION_DAYS_ALLOWED as readonly number[]).includes(retention), 'logRetentionDays', `must be one of ${LOG_RETENTION_DAYS_ALLOWED.join(', ')}`, retention);
  const throttle = props.throttle ?? DEFAULT_THROTTLE;
  p.integer('throttle.burstLimit', throttle.burstLimit, 1, ACCOUNT_MAX_BURST);
  p.check(throttle.rateLimit > 0 && throttle.rateLimit <= ACCOUNT_MAX_RATE, 'throttle.rateLimit', `must be > 0 and <= ${ACCOUNT_MAX_RATE}`, throttle.rateLimit);
  if (props.quota) p.integer('quota.limit', props.quota.limit, 1);
  const wafLimit = props.wafRateLimitPer5Minutes ?? DEFAULT_WAF_RATE_LIMIT_PER_5_MINUTES;
  p.integer('wafRateLimitPer5Minutes', wafLimit, 10, 2_000_000_000, ' (WAF rate-based rule limits)');
  for (const principal of props.allowedPrincipalArns ?? []) {
    p.check(/^arn:aws[a-z-]*:iam::\d{12}:(root|role\/.+|user\/.+)$/.test(principal), 'allowedPrincipalArns', 'must be IAM principal ARNs (account root, role or user)', principal);
  }
  if (props.allowedPrincipalArns !== undefined) p.check(props.allowedPrincipalArns.length > 0, 'allowedPrincipalArns', 'must name at least one principal (omit it for this account\'s principals)', props.allowedPrincipalArns);
  if (props.customDomain) {
    p.check(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$/.test(props.customDomain.domainName), 'customDomain.domainName', 'must be a lowercase DNS name', props.customDomain.domainName);
    p.arn('customDomain.certificateArn', props.customDomain.certificateArn, 'acm');
  }
  p.throwIfAny();
}

/** A stable digest of the API's static configuration: any change redeploys the stage. */
function configurationDigest(parts: unknown): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex');
}

export class IngestApi extends Construct {
  public readonly restApi: ApiGatewayRestApi;
  public readonly v1Resource: ApiGatewayResource;
  public readonly eventsResource: ApiGatewayResource;
  public readonly healthResource: ApiGatewayResource;
  public readonly model: ApiGatewayModel;
  public readonly requestValidator: ApiGatewayRequestValidator;
  public readonly integrationRole: IamRole;
  public readonly postEventsMethod: ApiGatewayMethod;
  public readonly postEventsIntegration: ApiGatewayIntegration;
  public readonly getHealthMethod: ApiGatewayMethod;
  public readonly getHealthIntegration: ApiGatewayIntegration;
  public readonly badRequestBodyResponse: ApiGatewayGatewayResponse;
  public readonly deployment: ApiGatewayDeployment;
  public readonly stage: ApiGatewayStage;
  public readonly methodSettings: ApiGatewayMethodSettings;
  public readonly accessLogGroup: CloudwatchLogGroup;
  public readonly executionLogGroup: CloudwatchLogGroup;
  public readonly cloudwatchRole?: IamRole;
  public readonly account?: ApiGatewayAccount;
  public readonly apiKey: ApiGatewayApiKey;
  public readonly usagePlan: ApiGatewayUsagePlan;
  public readonly usagePlanKey: ApiGatewayUsagePlanKey;
  public readonly webAcl: Wafv2WebAcl;
  public readonly webAclAssociation: Wafv2WebAclAssociation;
  public readonly wafLogGroup: CloudwatchLogGroup;
  public readonly wafLogging: Wafv2WebAclLoggingConfiguration;
  public readonly resourcePolicy: ApiGatewayRestApiPolicy;
  public readonly domainName?: ApiGatewayDomainName;
  public readonly basePathMapping?: ApiGatewayBasePathMapping;
  private readonly baseUrl: string;

  constructor(scope: Construct, id: string, props: IngestApiProps) {
    super(scope, id);
    validate(id, props);

    const env = props.environment;
    const { region, accountId, stream } = props;
    const partition = props.partition ?? 'aws';
    const throttle = props.throttle ?? DEFAULT_THROTTLE;
    const retentionInDays = props.logRetentionDays ?? DEFAULT_LOG_RETENTION_DAYS;
    const stageName = env;
    const logGroup = (logId: string, name: string) =>
      new CloudwatchLogGroup(this, logId, { name, kmsKeyId: props.logsKeyArn, retentionInDays });

    // ---- Account-level CloudWatch role ---------------------------------------------------------
    // aws_api_gateway_account is a per-region singleton of the AWS account: every REST API in the
    // region logs through this one role. Stacks sharing an account and region must let only one
    // of them manage it (manageAccountSettings).
    if (props.manageAccountSettings ?? true) {
      const trust = new DataAwsIamPolicyDocument(this, 'CloudwatchRoleTrust', {
        statement: [
          {
            actions: ['sts:AssumeRole'],
            principals: [{ type: 'Service', identifiers: ['apigateway.amazonaws.com'] }],
            condition: [{ test: 'StringEquals', variable: 'aws:SourceAccount', values: [accountId] }],
          },
        ],
      });
      this.cloudwatchRole = new IamRole(this, 'CloudwatchRole', {
        name: `vitals-apigw-cloudwatch-${env}`,
        assumeRolePolicy: trust.json,
      });
      new IamRolePolicyAttachment(this, 'CloudwatchRolePolicy', {
        role: this.cloudwatchRole.name,
        policyArn: `arn:${partition}:iam::aws:${API_GATEWAY_CLOUDWATCH_POLICY}`,
      });
      this.account = new ApiGatewayAccount(this, 'Account', {
        cloudwatchRoleArn: this.cloudwatchRole.arn,
        resetOnDelete: true,
      });
    }

    // ---- REST API and resources ----------------------------------------------------------------
    this.restApi = new ApiGatewayRestApi(this, 'RestApi', {
      name: `vitals-ingest-${env}`,
      description: 'Bedside-monitor events into the vitals stream (PHI: no body logging).',
      endpointConfiguration: { types: ['REGIONAL'] },
      apiKeySource: 'HEADER',
      // With a custom domain, clients use only that name (TLS 1.2 policy); the default endpoint is off.
      disableExecuteApiEndpoint: props.customDomain !== undefined,
      // A replacement (e.g. endpoint type change) stands up the new API before the old one goes,
      // so producers are never without an endpoint mid-apply (checkov CKV_AWS_237).
      lifecycle: { createBeforeDestroy: true },
    });
    const restApiId = this.restApi.id;
    this.baseUrl = props.customDomain
      ? `https://${props.customDomain.domainName}`
      : `https://${restApiId}.execute-api.${region}.amazonaws.com/${stageName}`;

    // ---- Resource policy (issue 9 finding 10) -------------------------------------------------
    // Every method needs SigV4 (AWS_IAM); this policy decides whose signatures count: this account's
    // principals, or exactly the listed ones. Everyone else is denied explicitly, so no identity
    // policy (ours or another account's) can open the API to them.
    const allowedPrincipals = props.allowedPrincipalArns ?? [`arn:${partition}:iam::${accountId}:root`];
    // A whole account (`:root`) stands for every principal of it; aws:PrincipalArn is the caller's role or user.
    const allowedPrincipalPatterns = allowedPrincipals.map((a) => a.replace(/:root$/, ':*'));
    const apiArn = `${this.restApi.executionArn}/*`;
    const resourcePolicyDocument = new DataAwsIamPolicyDocument(this, 'ResourcePolicyDocument', {
      statement: [
        {
          sid: 'InvokeByAllowedPrincipals',
          principals: [{ type: 'AWS', identifiers: [...allowedPrincipals] }],
          actions: [...API_INVOKE_ACTIONS],
          resources: [apiArn],
        },
        {
          sid: 'DenyEveryoneElse',
          effect: 'Deny',
          principals: [{ type: '*', identifiers: ['*'] }],
          actions: [...API_INVOKE_ACTIONS],
          resources: [apiArn],
          condition: [{ test: 'ArnNotLike', variable: 'aws:PrincipalArn', values: allowedPrincipalPatterns }],
        },
      ],
    });
    this.resourcePolicy = new ApiGatewayRestApiPolicy(this, 'ResourcePolicy', { restApiId, policy: resourcePolicyDocument.json });
    this.v1Resource = new ApiGatewayResource(this, 'V1Resource', { restApiId, parentId: this.restApi.rootResourceId, pathPart: 'v1' });
    this.eventsResource = new ApiGatewayResource(this, 'EventsResource', { restApiId, parentId: this.v1Resource.id, pathPart: 'events' });
    this.healthResource = new ApiGatewayResource(this, 'HealthResource', { restApiId, parentId: this.v1Resource.id, pathPart: 'health' });

    const modelSchema = JSON.stringify(DEVICE_EVENT_BATCH_MODEL);
    this.model = new ApiGatewayModel(this, 'EventBatchModel', {
      restApiId,
      name: DEVICE_EVENT_BATCH_MODEL_NAME,
      contentType: 'application/json',
      description: 'DeviceEventBatch v1, generated from src/schema/device-event.v1.schema.json',
      schema: modelSchema,
    });
    this.requestValidator = new ApiGatewayRequestValidator(this, 'RequestValidator', {
      restApiId,
      name: `vitals-body-and-params-${env}`,
      validateRequestBody: true,
      validateRequestParameters: true,
    });

    // ---- POST /v1/events -> Kinesis PutRecords ------------------------------------------------
    const integrationTrust = new DataAwsIamPolicyDocument(this, 'IntegrationRoleTrust', {
      statement: [
        {
          actions: ['sts:AssumeRole'],
          principals: [{ type: 'Service', identifiers: ['apigateway.amazonaws.com'] }],
          condition: [
            { test: 'StringEquals', variable: 'aws:SourceAccount', values: [accountId] },
            { test: 'ArnLike', variable: 'aws:SourceArn', values: [`arn:${partition}:execute-api:${region}:${accountId}:${restApiId}/*`] },
          ],
        },
      ],
    });
    this.integrationRole = new IamRole(this, 'IntegrationRole', {
      name: `vitals-ingest-kinesis-${env}`,
      assumeRolePolicy: integrationTrust.json,
    });
    const integrationPolicy = new DataAwsIamPolicyDocument(this, 'IntegrationRolePolicyDocument', {
      statement: [
        { sid: 'StreamWrite', actions: [...STREAM_WRITE_ACTIONS], resources: [stream.arn] },
        {
          sid: 'StreamKey',
          actions: [...STREAM_KEY_WRITE_ACTIONS],
          resources: [stream.keyArn],
          condition: [{ test: 'StringEquals', variable: 'kms:ViaService', values: [`kinesis.${props.region}.amazonaws.com`] }],
        },
      ],
    });
    new IamRolePolicy(this, 'IntegrationRolePolicy', {
      name: `vitals-ingest-kinesis-${env}-policy`,
      role: this.integrationRole.id,
      policy: integrationPolicy.json,
    });

    this.postEventsMethod = new ApiGatewayMethod(this, 'PostEvents', {
      restApiId,
      resourceId: this.eventsResource.id,
      httpMethod: 'POST',
      authorization: 'AWS_IAM',
      apiKeyRequired: true,
      requestValidatorId: this.requestValidator.id,
      requestModels: { 'application/json': this.model.name },
    });
    const requestTemplate = putRecordsRequestTemplate(stream.name);
    this.postEventsIntegration = new ApiGatewayIntegration(this, 'PostEventsIntegration', {
      restApiId,
      resourceId: this.eventsResource.id,
      httpMethod: this.postEventsMethod.httpMethod,
      type: 'AWS',
      integrationHttpMethod: 'POST',
      uri: `arn:${partition}:apigateway:${region}:kinesis:action/PutRecords`,
      credentials: this.integrationRole.arn,
      // Only application/json has a template; anything else is answered 415, never passed through.
      passthroughBehavior: 'NEVER',
      requestParameters: { 'integration.request.header.Content-Type': `'${KINESIS_CONTENT_TYPE}'` },
      requestTemplates: { 'application/json': requestTemplate },
    });

    // Method responses, and which integration status maps to each (selection pattern on the
    // Kinesis HTTP status). Kinesis errors are never the client's fault (the body was validated).
    const eventsResponses: ReadonlyArray<{ status: string; selectionPattern?: string; template: string }> = [
      { status: '200', template: PUT_RECORDS_RESPONSE_TEMPLATE },
      { status: '500', selectionPattern: '4\\d{2}', template: integrationErrorTemplate(INTERNAL_ERROR_MESSAGE) },
      { status: String(PARTIAL_FAILURE_STATUS), selectionPattern: '5\\d{2}', template: integrationErrorTemplate(SERVICE_UNAVAILABLE_MESSAGE) },
    ];
    const dependables: ITerraformDependable[] = [this.postEventsIntegration];
    for (const r of eventsResponses) {
      const methodResponse = new ApiGatewayMethodResponse(this, `PostEvents${r.status}`, {
        restApiId,
        resourceId: this.eventsResource.id,
        httpMethod: this.postEventsMethod.httpMethod,
        statusCode: r.status,
        responseModels: { 'application/json': 'Empty' },
      });
      dependables.push(
        new ApiGatewayIntegrationResponse(this, `PostEventsIntegration${r.status}`, {
          restApiId,
          resourceId: this.eventsResource.id,
          httpMethod: this.postEventsMethod.httpMethod,
          statusCode: r.status,
          selectionPattern: r.selectionPattern,
          responseTemplates: { 'application/json': r.template },
          dependsOn: [this.postEventsIntegration, methodResponse],
        }),
      );
    }

    // ---- GET /v1/health (mock) ----------------------------------------------------------------
    this.getHealthMethod = new ApiGatewayMethod(this, 'GetHealth', {
      restApiId,
      resourceId: this.healthResource.id,
      httpMethod: 'GET',
      // Signed like every call to this API (no anonymous endpoints); no API key, so probes do not
      // need one and do not count against a client's usage plan.
      authorization: 'AWS_IAM',
      apiKeyRequired: false,
      requestValidatorId: this.requestValidator.id,
    });
    this.getHealthIntegration = new ApiGatewayIntegration(this, 'GetHealthIntegration', {
      restApiId,
      resourceId: this.healthResource.id,
      httpMethod: this.getHealthMethod.httpMethod,
      type: 'MOCK',
      passthroughBehavior: 'NEVER',
      requestTemplates: { 'application/json': MOCK_200_REQUEST_TEMPLATE },
    });
    const healthResponse = new ApiGatewayMethodResponse(this, 'GetHealth200', {
      restApiId,
      resourceId: this.healthResource.id,
      httpMethod: this.getHealthMethod.httpMethod,
      statusCode: '200',
      responseModels: { 'application/json': 'Empty' },
    });
    dependables.push(
      this.getHealthIntegration,
      new ApiGatewayIntegrationResponse(this, 'GetHealthIntegration200', {
        restApiId,
        resourceId: this.healthResource.id,
        httpMethod: this.getHealthMethod.httpMethod,
        statusCode: '200',
        responseTemplates: { 'application/json': HEALTH_RESPONSE_TEMPLATE },
        dependsOn: [this.getHealthIntegration, healthResponse],
      }),
    );

    // ---- Gateway responses ---------------------------------------------------------------------
    this.badRequestBodyResponse = new ApiGatewayGatewayResponse(this, 'BadRequestBody', {
      restApiId,
      responseType: 'BAD_REQUEST_BODY',
      statusCode: '400',
      responseTemplates: { 'application/json': BAD_REQUEST_BODY_TEMPLATE },
    });
    dependables.push(this.badRequestBodyResponse);

    const extra = props.extraRoutes?.({ restApiId, rootResourceId: this.restApi.rootResourceId, v1ResourceId: this.v1Resource.id, stageName, baseUrl: this.baseUrl });
    dependables.push(...(extra?.dependables ?? []));

    // ---- Deployment and stage ------------------------------------------------------------------
    this.deployment = new ApiGatewayDeployment(this, 'Deployment', {
      restApiId,
      description: 'Managed by Terraform; replaced when the API configuration changes.',
      triggers: {
        // Static configuration (templates, model, responses), hashed at synth time...
        configuration: configurationDigest({
          model: DEVICE_EVENT_BATCH_MODEL,
          requestTemplate: putRecordsRequestTemplate('<stream>'),
          responses: eventsResponses,
          health: [MOCK_200_REQUEST_TEMPLATE, HEALTH_RESPONSE_TEMPLATE],
          badRequestBody: BAD_REQUEST_BODY_TEMPLATE,
          methods: { post: ['AWS_IAM', true], get: ['AWS_IAM', false] },
          contentType: KINESIS_CONTENT_TYPE,
        }),
        // ...and what is only known at apply time (ids, the stream, the role).
        resources: Fn.sha1(
          Fn.jsonencode([
            this.v1Resource.id,
            this.eventsResource.id,
            this.healthResource.id,
            this.model.id,
            this.requestValidator.id,
            this.postEventsMethod.id,
            this.postEventsIntegration.id,
            this.getHealthMethod.id,
            this.getHealthIntegration.id,
            stream.name,
            this.integrationRole.arn,
            // A changed resource policy takes effect only with a new deployment.
            resourcePolicyDocument.json,
            ...(extra?.deploymentIds ?? []),
          ]),
        ),
      },
      lifecycle: { createBeforeDestroy: true },
      dependsOn: [...dependables, this.resourcePolicy],
    });

    this.accessLogGroup = logGroup('AccessLogGroup', `/aws/apigateway/vitals-ingest-${env}/access`);
    this.stage = new ApiGatewayStage(this, 'Stage', {
      restApiId,
      stageName,
      deploymentId: this.deployment.id,
      description: `vitals ingest, ${env}`,
      xrayTracingEnabled: true,
      cacheClusterEnabled: false,
      accessLogSettings: { destinationArn: this.accessLogGroup.arn, format: ACCESS_LOG_FORMAT },
      // Access logging needs the account's CloudWatch role in place first.
      dependsOn: this.account ? [this.account] : [],
    });

    // Created here, before API Gateway would create it unencrypted with no retention.
    this.executionLogGroup = logGroup('ExecutionLogGroup', `API-Gateway-Execution-Logs_${restApiId}/${stageName}`);
    this.methodSettings = new ApiGatewayMethodSettings(this, 'MethodSettings', {
      restApiId,
      stageName: this.stage.stageName,
      methodPath: '*/*',
      settings: {
        metricsEnabled: true,
        loggingLevel: props.executionLogLevel ?? ExecutionLogLevel.ERROR,
        // Data tracing would log full request and response bodies: PHI. Never on.
        dataTraceEnabled: false,
        throttlingBurstLimit: throttle.burstLimit,
        throttlingRateLimit: throttle.rateLimit,
        cachingEnabled: false,
        cacheDataEncrypted: true,
      },
      dependsOn: [this.executionLogGroup],
    });

    // ---- Custom domain -------------------------------------------------------------------------
    if (props.customDomain) {
      this.domainName = new ApiGatewayDomainName(this, 'DomainName', {
        domainName: props.customDomain.domainName,
        regionalCertificateArn: props.customDomain.certificateArn,
        endpointConfiguration: { types: ['REGIONAL'] },
        securityPolicy: API_DOMAIN_SECURITY_POLICY,
      });
      this.basePathMapping = new ApiGatewayBasePathMapping(this, 'BasePathMapping', {
        apiId: restApiId,
        stageName: this.stage.stageName,
        domainName: this.domainName.domainName,
      });
    }

    // ---- API key and usage plan ---------------------------------------------------------------
    this.apiKey = new ApiGatewayApiKey(this, 'ApiKey', {
      name: `vitals-ingest-${env}`,
      description: 'Hospital integration engine key; the value is generated by AWS and kept in state.',
      enabled: true,
    });
    this.usagePlan = new ApiGatewayUsagePlan(this, 'UsagePlan', {
      name: `vitals-ingest-${env}`,
      apiStages: [{ apiId: restApiId, stage: this.stage.stageName }],
      throttleSettings: { burstLimit: throttle.burstLimit, rateLimit: throttle.rateLimit },
      quotaSettings: props.quota ? { limit: props.quota.limit, period: props.quota.period } : undefined,
    });
    this.usagePlanKey = new ApiGatewayUsagePlanKey(this, 'UsagePlanKey', {
      keyId: this.apiKey.id,
      keyType: 'API_KEY',
      usagePlanId: this.usagePlan.id,
    });

    // ---- WAF -----------------------------------------------------------------------------------
    const visibility = (metricName: string) => ({ cloudwatchMetricsEnabled: true, metricName, sampledRequestsEnabled: true });
    const rules: Wafv2WebAclRule[] = MANAGED_RULE_GROUPS.map((group, i) => ({
      name: group.name,
      priority: i + 1,
      overrideAction: { none: {} },
      // `statement` is untyped in the bindings (the provider's schema nests too deep): snake_case.
      statement: {
        managed_rule_group_statement: {
          name: group.name,
          vendor_name: 'AWS',
          rule_action_override: (group.countOnly ?? []).map((rule) => ({ name: rule, action_to_use: { count: {} } })),
        },
      },
      visibilityConfig: visibility(`${group.name}-${env}`),
    }));
    rules.push({
      name: 'RateLimitPerIp',
      priority: MANAGED_RULE_GROUPS.length + 1,
      action: { block: {} },
      statement: {
        rate_based_statement: {
          limit: props.wafRateLimitPer5Minutes ?? DEFAULT_WAF_RATE_LIMIT_PER_5_MINUTES,
          aggregate_key_type: 'IP',
        },
      },
      visibilityConfig: visibility(`RateLimitPerIp-${env}`),
    });
    this.webAcl = new Wafv2WebAcl(this, 'WebAcl', {
      name: `vitals-ingest-${env}`,
      description: 'AWS managed rules and a per-IP rate limit in front of the ingest API',
      scope: 'REGIONAL',
      defaultAction: { allow: {} },
      rule: rules,
      visibilityConfig: visibility(`vitals-ingest-${env}`),
    });
    this.webAclAssociation = new Wafv2WebAclAssociation(this, 'WebAclAssociation', {
      resourceArn: this.stage.arn,
      webAclArn: this.webAcl.arn,
    });
    // WAF requires the "aws-waf-logs-" prefix for CloudWatch Logs destinations.
    this.wafLogGroup = logGroup('WafLogGroup', `aws-waf-logs-vitals-ingest-${env}`);
    this.wafLogging = new Wafv2WebAclLoggingConfiguration(this, 'WafLogging', {
      resourceArn: this.webAcl.arn,
      logDestinationConfigs: [this.wafLogGroup.arn],
      // FHIR searches carry the patient's pseudonym and dates in the query string: never logged.
      // (WAF can redact only the method, URI path, query string and single headers; a matched SQLi/XSS
      // body fragment of a blocked request stays in the record: docs/compliance.md, WAF logs.)
      redactedFields: [{ queryString: {} }, ...WAF_REDACTED_HEADERS.map((name) => ({ singleHeader: { name } }))],
      loggingFilter: {
        defaultBehavior: 'DROP',
        filter: [{
          behavior: 'KEEP',
          requirement: 'MEETS_ANY',
          condition: WAF_LOGGED_ACTIONS.map((action) => ({ actionCondition: { action } })),
        }],
      },
    });
  }

  get restApiId(): string {
    return this.restApi.id;
  }
  get stageName(): string {
    return this.stage.stageName;
  }
  /**
   * Base URL clients use: `https://<custom domain>` when there is one, else the stage's, e.g.
   * `https://abc.execute-api.eu-central-2.amazonaws.com/dev`.
   */
  get invokeUrl(): string {
    return this.domainName ? this.baseUrl : this.stage.invokeUrl;
  }
  /** Where clients POST batches. */
  get eventsUrl(): string {
    return `${this.invokeUrl}/v1/events`;
  }
  get healthUrl(): string {
    return `${this.invokeUrl}/v1/health`;
  }
  get apiKeyId(): string {
    return this.apiKey.id;
  }
  get usagePlanId(): string {
    return this.usagePlan.id;
  }
  get webAclArn(): string {
    return this.webAcl.arn;
  }
  get accessLogGroupName(): string {
    return this.accessLogGroup.name;
  }
  get wafLogGroupName(): string {
    return this.wafLogGroup.name;
  }
  get executionArnPrefix(): string {
    return this.restApi.executionArn;
  }
}
