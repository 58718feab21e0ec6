/**
 * The FHIR read API on AWS: `GET <stage>/fhir/{proxy+}` on the ingest REST API (IAM + API key, its
 * WAF, throttling and access log), through a VPC link to an internal NLB, to an ECS Fargate service
 * (the pipeline image, `node dist/src/fhir-api/main.js`) that queries the Aurora reader as the
 * read-only `vitals_fhir_reader` role with IAM authentication.
 *
 * Why ECS behind a VPC link, not Lambda in the VPC: the image, the TLS/IAM-token pool adapter and
 * the health model already exist for ECS; a long-lived process keeps a small warm pool of Aurora
 * connections (IAM tokens renewed in-process) where concurrent Lambdas would each open their own
 * (exhausting connections or needing RDS Proxy, billed per ACU); no cold starts on a clinician's
 * first query; and two small tasks cost about as much as a steady Lambda load. The price: an NLB
 * and a VPC link always on, and scaling by CPU rather than per request.
 *
 * TLS on every hop: API Gateway to the NLB through the VPC link (PrivateLink) as HTTPS; the NLB
 * passes TCP through; the task serves a certificate generated at start-up (API Gateway is told not
 * to verify it: the hop never leaves the private link).
 */
import { Construct } from 'constructs';
import type { ITerraformDependable } from 'cdktf';
import { ApiGatewayIntegration } from '@cdktf/provider-aws/lib/api-gateway-integration';
import { ApiGatewayMethod } from '@cdktf/provider-aws/lib/api-gateway-method';
import { ApiGatewayRequestValidator } from '@cdktf/provider-aws/lib/api-gateway-request-validator';
import { ApiGatewayResource } from '@cdktf/provider-aws/lib/api-gateway-resource';
import { ApiGatewayVpcLink } from '@cdktf/provider-aws/lib/api-gateway-vpc-link';
import { AppautoscalingPolicy } from '@cdktf/provider-aws/lib/appautoscaling-policy';
import { AppautoscalingTarget } from '@cdktf/provider-aws/lib/appautoscaling-target';
import { CloudwatchLogGroup } from '@cdktf/provider-aws/lib/cloudwatch-log-group';
import { CloudwatchMetricAlarm } from '@cdktf/provider-aws/lib/cloudwatch-metric-alarm';
import { DataAwsIamPolicyDocument, type DataAwsIamPolicyDocumentStatement } from '@cdktf/provider-aws/lib/data-aws-iam-policy-document';
import { EcsService } from '@cdktf/provider-aws/lib/ecs-service';
import { EcsTaskDefinition } from '@cdktf/provider-aws/lib/ecs-task-definition';
import { IamRole } from '@cdktf/provider-aws/lib/iam-role';
import { IamRolePolicy } from '@cdktf/provider-aws/lib/iam-role-policy';
import { Lb } from '@cdktf/provider-aws/lib/lb';
import { LbListener } from '@cdktf/provider-aws/lib/lb-listener';
import { LbTargetGroup } from '@cdktf/provider-aws/lib/lb-target-group';
import { SecurityGroup } from '@cdktf/provider-aws/lib/security-group';
import { VpcSecurityGroupEgressRule } from '@cdktf/provider-aws/lib/vpc-security-group-egress-rule';
import { VpcSecurityGroupIngressRule } from '@cdktf/provider-aws/lib/vpc-security-group-ingress-rule';
import { Token } from 'cdktf';
import { LOG_RETENTION_DAYS_ALLOWED } from './config';
import type { ApiRouteContext, ApiRoutes } from './ingest-api';
import { CONTAINER_USER, CpuArchitecture, ECR_PULL_ACTIONS, LOG_WRITE_ACTIONS, RDS_CA_BUNDLE_PATH } from './processing-service';
import { PropProblems } from './prop-problems';

export const FHIR_COMMAND = ['node', 'dist/src/fhir-api/main.js'] as const;
/** The task's HTTPS port (API and /health). */
export const FHIR_CONTAINER_PORT = 8443;
const HTTPS_PORT = 443;
const TMP_VOLUME = 'tmp';
/** The database role of the read API (src/db/migrate.ts FHIR_READER_ROLE). */
export const FHIR_READER_USER = 'vitals_fhir_reader';
/** The acknowledging role (src/db/migrate.ts ALERT_ACKER_ROLE). */
export const ALERT_ACKER_USER = 'vitals_alert_acker';
/** Header API Gateway sets to the authenticated IAM principal (src/fhir-api/config.ts CALLER_HEADER). */
export const CALLER_HEADER = 'x-vitals-caller';

/** The container health check: HTTPS GET /health on loopback (src/fhir-api/healthcheck.ts). */
export const FHIR_HEALTHCHECK_COMMAND = ['node', 'dist/src/fhir-api/healthcheck.js'] as const;

export interface FhirDatabaseRef {
  /** The reader endpoint: searches go to the replica. */
  readonly readerEndpoint: string;
  /**
   * The writer endpoint: when set, the service also serves `POST /v1/alerts/{alertId}/acknowledge`,
   * writing as ALERT_ACKER_USER (column grants only: src/db/migrate.ts). @default no acknowledge route
   */
  readonly writerEndpoint?: string;
  readonly port: number;
  readonly name: string;
  readonly clusterResourceId: string;
  readonly securityGroupId: string;
}

export interface FhirReadApiProps {
  readonly environment: string;
  readonly region: string;
  /** @default 'aws' */
  readonly partition?: string;
  readonly accountId: string;
  readonly vpcId: string;
  readonly subnetIds: string[];
  readonly clusterArn: string;
  readonly clusterName: string;
  readonly imageUri: string;
  readonly repositoryArn: string;
  readonly logsKeyArn: string;
  /** @default 365 */
  readonly logRetentionDays?: number;
  readonly endpointSecurityGroupId: string;
  readonly s3PrefixListId: string;
  readonly database: FhirDatabaseRef;
  /** Where the routes go: the ingest API (IngestApi's extraRoutes hook hands it over). */
  readonly api: ApiRouteContext;
  /** @default 2 */
  readonly minCapacity?: number;
  /** @default 4 */
  readonly maxCapacity?: number;
  /** @default 256 */
  readonly cpu?: number;
  /** @default 512 */
  readonly memoryMiB?: number;
  readonly alarmTopicArn?: string;
  /** @default false */
  readonly deletionProtection?: boolean;
  /** @default CpuArchitecture.X86_64 */
  readonly cpuArchitecture?: CpuArchitecture;
}

function validate(id: string, props: FhirReadApiProps): void {
  const p = new PropProblems(`FhirReadApi "${id}"`);
  p.environment('environment', props.environment);
  p.region('region', props.region);
  p.accountId('accountId', props.accountId);
  p.check(props.subnetIds.length >= 2, 'subnetIds', 'must list at least 2 private subnets', props.subnetIds);
  p.check(/@sha256:[0-9a-f]{64}$/.test(props.imageUri), 'imageUri', 'must be pinned by digest (...@sha256:<64 hex>)', props.imageUri);
  p.arn('repositoryArn', props.repositoryArn, 'ecr');
  p.arn('logsKeyArn', props.logsKeyArn, 'kms');
  p.arn('clusterArn', props.clusterArn, 'ecs');
  const min = props.minCapacity ?? 2;
  const max = props.maxCapacity ?? 4;
  p.integer('minCapacity', min, 1, 50);
  p.check(Number.isInteger(max) && max >= min && max <= 50, 'maxCapacity', `must be an integer from minCapacity (${min}) to 50`, max);
  p.check([256, 512, 1024].includes(props.cpu ?? 256), 'cpu', 'must be a Fargate size of 256, 512 or 1024', props.cpu);
  const retention = props.logRetentionDays ?? 365;
  p.check((LOG_RETENTION_DAYS_ALLOWED as readonly number[]).includes(retention), 'logRetentionDays', `must be one of ${LOG_RETENTION_DAYS_ALLOWED.join(', ')}`, retention);
  p.throwIfAny();
}

export class FhirReadApi extends Construct {
  readonly logGroup: CloudwatchLogGroup;
  readonly taskSecurityGroup: SecurityGroup;
  readonly loadBalancerSecurityGroup: SecurityGroup;
  readonly loadBalancer: Lb;
  readonly targetGroup: LbTargetGroup;
  readonly listener: LbListener;
  readonly vpcLink: ApiGatewayVpcLink;
  readonly fhirResource: ApiGatewayResource;
  readonly proxyResource: ApiGatewayResource;
  readonly method: ApiGatewayMethod;
  readonly integration: ApiGatewayIntegration;
  readonly executionRole: IamRole;
  readonly taskRole: IamRole;
  readonly taskDefinition: EcsTaskDefinition;
  readonly service: EcsService;
  readonly scalableTarget: AppautoscalingTarget;
  readonly healthyTargetsAlarm: CloudwatchMetricAlarm;
  /** For the API's deployment (IngestApi extraRoutes). */
  readonly routes: ApiRoutes;
  /** `POST /v1/alerts/{alertId}/acknowledge` (only with `database.writerEndpoint`). */
  readonly acknowledgeMethod?: ApiGatewayMethod;
  readonly acknowledgeIntegration?: ApiGatewayIntegration;
  /** The public base URL of the API (bundle links). */
  readonly baseUrl: string;

  constructor(scope: Construct, id: string, props: FhirReadApiProps) {
    super(scope, id);
    validate(id, props);
    const env = props.environment;
    const partition = props.partition ?? 'aws';
    const name = `vitals-fhir-${env}`;
    const { restApiId, rootResourceId, stageName } = props.api;
    this.baseUrl = `${props.api.baseUrl ?? `https://${restApiId}.execute-api.${props.region}.amazonaws.com/${stageName}`}/fhir`;

    this.logGroup = new CloudwatchLogGroup(this, 'LogGroup', { name: `/ecs/vitals-fhir-api-${env}`, kmsKeyId: props.logsKeyArn, retentionInDays: props.logRetentionDays ?? 365 });

    // ---- Network ----------------------------------------------------------------------------------
    this.loadBalancerSecurityGroup = new SecurityGroup(this, 'LoadBalancerSecurityGroup', {
      name: `${name}-nlb`,
      description: 'FHIR API NLB: reached only through the API Gateway VPC link (PrivateLink); no direct ingress',
      vpcId: props.vpcId,
      tags: { Name: `${name}-nlb` },
    });
    this.taskSecurityGroup = new SecurityGroup(this, 'TaskSecurityGroup', {
      name: `${name}-tasks`,
      description: 'FHIR API tasks: HTTPS from the NLB; PostgreSQL to Aurora; HTTPS to VPC endpoints and S3',
      vpcId: props.vpcId,
      tags: { Name: `${name}-tasks` },
    });
    new VpcSecurityGroupEgressRule(this, 'NlbToTasks', {
      securityGroupId: this.loadBalancerSecurityGroup.id,
      referencedSecurityGroupId: this.taskSecurityGroup.id,
      ipProtocol: 'tcp', fromPort: FHIR_CONTAINER_PORT, toPort: FHIR_CONTAINER_PORT,
      description: 'HTTPS (API and health checks) to FHIR API tasks',
    });
    new VpcSecurityGroupIngressRule(this, 'TasksFromNlb', {
      securityGroupId: this.taskSecurityGroup.id,
      referencedSecurityGroupId: this.loadBalancerSecurityGroup.id,
      ipProtocol: 'tcp', fromPort: FHIR_CONTAINER_PORT, toPort: FHIR_CONTAINER_PORT,
      description: 'HTTPS from the FHIR API NLB',
    });
    const dbPort = props.database.port;
    new VpcSecurityGroupEgressRule(this, 'TasksToDatabase', {
      securityGroupId: this.taskSecurityGroup.id,
      referencedSecurityGroupId: props.database.securityGroupId,
      ipProtocol: 'tcp', fromPort: dbPort, toPort: dbPort,
      description: 'PostgreSQL (TLS) to Aurora',
    });
    new VpcSecurityGroupIngressRule(this, 'DatabaseFromTasks', {
      securityGroupId: props.database.securityGroupId,
      referencedSecurityGroupId: this.taskSecurityGroup.id,
      ipProtocol: 'tcp', fromPort: dbPort, toPort: dbPort,
      description: 'PostgreSQL (TLS) from FHIR API tasks (read-only role)',
    });
    new VpcSecurityGroupEgressRule(this, 'TasksToEndpoints', {
      securityGroupId: this.taskSecurityGroup.id,
      referencedSecurityGroupId: props.endpointSecurityGroupId,
      ipProtocol: 'tcp', fromPort: HTTPS_PORT, toPort: HTTPS_PORT,
      description: 'HTTPS to CloudWatch Logs and ECR through interface endpoints',
    });
    new VpcSecurityGroupIngressRule(this, 'EndpointsFromTasks', {
      securityGroupId: props.endpointSecurityGroupId,
      referencedSecurityGroupId: this.taskSecurityGroup.id,
      ipProtocol: 'tcp', fromPort: HTTPS_PORT, toPort: HTTPS_PORT,
      description: 'HTTPS from FHIR API tasks',
    });
    new VpcSecurityGroupEgressRule(this, 'TasksToS3', {
      securityGroupId: this.taskSecurityGroup.id,
      prefixListId: props.s3PrefixListId,
      ipProtocol: 'tcp', fromPort: HTTPS_PORT, toPort: HTTPS_PORT,
      description: 'HTTPS to S3 through the gateway endpoint (ECR image layers)',
    });

    this.loadBalancer = new Lb(this, 'LoadBalancer', {
      name,
      loadBalancerType: 'network',
      internal: true,
      subnets: props.subnetIds,
      securityGroups: [this.loadBalancerSecurityGroup.id],
      // The VPC link is PrivateLink traffic: API Gateway has authenticated the caller.
      enforceSecurityGroupInboundRulesOnPrivateLinkTraffic: 'off',
      enableCrossZoneLoadBalancing: true,
      enableDeletionProtection: props.deletionProtection ?? false,
      tags: { Name: name },
    });
    this.targetGroup = new LbTargetGroup(this, 'TargetGroup', {
      name,
      port: FHIR_CONTAINER_PORT,
      protocol: 'TCP',
      targetType: 'ip',
      vpcId: props.vpcId,
      deregistrationDelay: '30',
      healthCheck: { protocol: 'HTTPS', port: 'traffic-port', path: '/health', interval: 10, healthyThreshold: 2, unhealthyThreshold: 2 },
      tags: { Name: name },
    });
    // TCP: TLS passes through to the task (the NLB holds no certificate for its internal name).
    this.listener = new LbListener(this, 'Listener', {
      loadBalancerArn: this.loadBalancer.arn,
      port: HTTPS_PORT,
      protocol: 'TCP',
      defaultAction: [{ type: 'forward', targetGroupArn: this.targetGroup.arn }],
    });
    this.vpcLink = new ApiGatewayVpcLink(this, 'VpcLink', { name, targetArns: [this.loadBalancer.arn], description: 'API Gateway to the FHIR read API' });

    // ---- API Gateway routes -----------------------------------------------------------------------
    this.fhirResource = new ApiGatewayResource(this, 'FhirResource', { restApiId, parentId: rootResourceId, pathPart: 'fhir' });
    this.proxyResource = new ApiGatewayResource(this, 'ProxyResource', { restApiId, parentId: this.fhirResource.id, pathPart: '{proxy+}' });
    // API Gateway checks the path parameter; the service checks every search parameter itself.
    const validator = new ApiGatewayRequestValidator(this, 'RequestValidator', { restApiId, name: `vitals-fhir-parameters-${env}`, validateRequestParameters: true, validateRequestBody: false });
    this.method = new ApiGatewayMethod(this, 'GetFhir', {
      restApiId,
      resourceId: this.proxyResource.id,
      httpMethod: 'GET',
      requestValidatorId: validator.id,
      // The same authentication as POST /v1/events: SigV4 (IAM) and an API key.
      authorization: 'AWS_IAM',
      apiKeyRequired: true,
      requestParameters: { 'method.request.path.proxy': true },
    });
    this.integration = new ApiGatewayIntegration(this, 'GetFhirIntegration', {
      restApiId,
      resourceId: this.proxyResource.id,
      httpMethod: this.method.httpMethod,
      type: 'HTTP_PROXY',
      integrationHttpMethod: 'GET',
      connectionType: 'VPC_LINK',
      connectionId: this.vpcLink.id,
      uri: `https://${this.loadBalancer.dnsName}/fhir/{proxy}`,
      requestParameters: { 'integration.request.path.proxy': 'method.request.path.proxy' },
      tlsConfig: { insecureSkipVerification: true },
      timeoutMilliseconds: 29_000,
    });
    const deploymentIds = [this.fhirResource.id, this.proxyResource.id, validator.id, this.method.id, this.integration.id, this.vpcLink.id];
    const dependables: ITerraformDependable[] = [this.method, this.integration];
    if (props.database.writerEndpoint !== undefined) {
      // The acknowledge route (issue 12) on the same API, authentication, WAF, throttling and access log
      // as POST /v1/events, served by this service. API Gateway puts the authenticated principal in
      // CALLER_HEADER (a mapped header replaces any value the client sent); the service records it.
      const alerts = new ApiGatewayResource(this, 'AlertsResource', { restApiId, parentId: props.api.v1ResourceId, pathPart: 'alerts' });
      const alert = new ApiGatewayResource(this, 'AlertResource', { restApiId, parentId: alerts.id, pathPart: '{alertId}' });
      const acknowledge = new ApiGatewayResource(this, 'AcknowledgeResource', { restApiId, parentId: alert.id, pathPart: 'acknowledge' });
      this.acknowledgeMethod = new ApiGatewayMethod(this, 'PostAcknowledge', {
        restApiId,
        resourceId: acknowledge.id,
        httpMethod: 'POST',
        requestValidatorId: validator.id,
        authorization: 'AWS_IAM',
        apiKeyRequired: true,
        requestParameters: { 'method.request.path.alertId': true },
      });
      this.acknowledgeIntegration = new ApiGatewayIntegration(this, 'PostAcknowledgeIntegration', {
        restApiId,
        resourceId: acknowledge.id,
        httpMethod: this.acknowledgeMethod.httpMethod,
        type: 'HTTP_PROXY',
        integrationHttpMethod: 'POST',
        connectionType: 'VPC_LINK',
        connectionId: this.vpcLink.id,
        uri: `https://${this.loadBalancer.dnsName}/v1/alerts/{alertId}/acknowledge`,
        requestParameters: {
          'integration.request.path.alertId': 'method.request.path.alertId',
          [`integration.request.header.${CALLER_HEADER}`]: 'context.identity.userArn',
        },
        tlsConfig: { insecureSkipVerification: true },
        timeoutMilliseconds: 29_000,
      });
      deploymentIds.push(alerts.id, alert.id, acknowledge.id, this.acknowledgeMethod.id, this.acknowledgeIntegration.id);
      dependables.push(this.acknowledgeMethod, this.acknowledgeIntegration);
    }
    this.routes = { deploymentIds, dependables };

    // ---- IAM ---------------------------------------------------------------------------------------
    const trust = new DataAwsIamPolicyDocument(this, 'EcsTasksTrust', {
      statement: [{
        actions: ['sts:AssumeRole'],
        principals: [{ type: 'Service', identifiers: ['ecs-tasks.amazonaws.com'] }],
        condition: [
          { test: 'StringEquals', variable: 'aws:SourceAccount', values: [props.accountId] },
          { test: 'ArnLike', variable: 'aws:SourceArn', values: [`arn:${partition}:ecs:${props.region}:${props.accountId}:*`] },
        ],
      }],
    });
    const role = (roleId: string, roleName: string, statements: DataAwsIamPolicyDocumentStatement[]): IamRole => {
      const r = new IamRole(this, roleId, { name: roleName, assumeRolePolicy: trust.json });
      const doc = new DataAwsIamPolicyDocument(this, `${roleId}PolicyDocument`, { statement: statements });
      new IamRolePolicy(this, `${roleId}Policy`, { name: `${roleName}-policy`, role: r.id, policy: doc.json });
      return r;
    };
    this.executionRole = role('ExecutionRole', `vitals-fhir-exec-${env}`, [
      { sid: 'EcrAuthToken', actions: ['ecr:GetAuthorizationToken'], resources: ['*'] },
      { sid: 'EcrPull', actions: [...ECR_PULL_ACTIONS], resources: [props.repositoryArn] },
      { sid: 'Logs', actions: [...LOG_WRITE_ACTIONS], resources: [`${this.logGroup.arn}:log-stream:*`] },
    ]);
    const dbUser = (user: string): string => `arn:${partition}:rds-db:${props.region}:${props.accountId}:dbuser:${props.database.clusterResourceId}/${user}`;
    this.taskRole = role('TaskRole', `vitals-fhir-task-${env}`, [
      { sid: 'DatabaseConnect', actions: ['rds-db:connect'], resources: [dbUser(FHIR_READER_USER)] },
      ...(props.database.writerEndpoint !== undefined
        ? [{ sid: 'DatabaseConnectAcknowledge', actions: ['rds-db:connect'], resources: [dbUser(ALERT_ACKER_USER)] }]
        : []),
    ]);

    // ---- Task and service -------------------------------------------------------------------------
    const environment: Record<string, string> = {
      NODE_ENV: 'production',
      AWS_REGION: props.region,
      FHIR_HOST: '0.0.0.0',
      FHIR_PORT: String(FHIR_CONTAINER_PORT),
      FHIR_TLS_SELF_SIGNED: 'true',
      FHIR_BASE_URL: this.baseUrl,
      DB_HOST: props.database.readerEndpoint,
      DB_PORT: Token.asString(dbPort),
      DB_NAME: props.database.name,
      DB_USER: FHIR_READER_USER,
      DB_AUTH: 'iam',
      DB_SSL_CA_FILE: RDS_CA_BUNDLE_PATH,
      LOG_LEVEL: 'info',
      ...(props.database.writerEndpoint !== undefined ? { ALERT_ACK_DB_HOST: props.database.writerEndpoint, ALERT_ACK_DB_USER: ALERT_ACKER_USER } : {}),
    };
    const container = {
      name: 'fhir-api',
      image: props.imageUri,
      essential: true,
      command: [...FHIR_COMMAND],
      user: CONTAINER_USER,
      readonlyRootFilesystem: true,
      privileged: false,
      portMappings: [{ containerPort: FHIR_CONTAINER_PORT, protocol: 'tcp' }],
      mountPoints: [{ sourceVolume: TMP_VOLUME, containerPath: '/tmp', readOnly: false }],
      linuxParameters: { initProcessEnabled: true, capabilities: { drop: ['ALL'] } },
      environment: Object.entries(environment).map(([n, value]) => ({ name: n, value })),
      healthCheck: { command: ['CMD', ...FHIR_HEALTHCHECK_COMMAND], interval: 15, timeout: 5, retries: 3, startPeriod: 20 },
      logConfiguration: {
        logDriver: 'awslogs',
        options: { 'awslogs-group': this.logGroup.name, 'awslogs-region': props.region, 'awslogs-stream-prefix': 'fhir-api', mode: 'non-blocking', 'max-buffer-size': '25m' },
      },
    };
    this.taskDefinition = new EcsTaskDefinition(this, 'TaskDefinition', {
      family: `vitals-fhir-api-${env}`,
      requiresCompatibilities: ['FARGATE'],
      networkMode: 'awsvpc',
      cpu: String(props.cpu ?? 256),
      memory: String(props.memoryMiB ?? 512),
      executionRoleArn: this.executionRole.arn,
      taskRoleArn: this.taskRole.arn,
      runtimePlatform: { operatingSystemFamily: 'LINUX', cpuArchitecture: props.cpuArchitecture ?? CpuArchitecture.X86_64 },
      volume: [{ name: TMP_VOLUME }],
      containerDefinitions: JSON.stringify([container]),
    });
    const minCapacity = props.minCapacity ?? 2;
    this.service = new EcsService(this, 'Service', {
      name: `vitals-fhir-api-${env}`,
      cluster: props.clusterArn,
      taskDefinition: this.taskDefinition.arn,
      desiredCount: minCapacity,
      launchType: 'FARGATE',
      platformVersion: 'LATEST',
      networkConfiguration: { subnets: props.subnetIds, securityGroups: [this.taskSecurityGroup.id], assignPublicIp: false },
      loadBalancer: [{ targetGroupArn: this.targetGroup.arn, containerName: container.name, containerPort: FHIR_CONTAINER_PORT }],
      healthCheckGracePeriodSeconds: 30,
      availabilityZoneRebalancing: 'ENABLED',
      deploymentCircuitBreaker: { enable: true, rollback: true },
      deploymentMinimumHealthyPercent: 100,
      deploymentMaximumPercent: 200,
      enableExecuteCommand: false,
      propagateTags: 'SERVICE',
      enableEcsManagedTags: true,
      lifecycle: { ignoreChanges: ['desired_count'] },
      dependsOn: [this.listener],
    });
    this.scalableTarget = new AppautoscalingTarget(this, 'ScalableTarget', {
      serviceNamespace: 'ecs',
      scalableDimension: 'ecs:service:DesiredCount',
      resourceId: `service/${props.clusterName}/${this.service.name}`,
      minCapacity,
      maxCapacity: props.maxCapacity ?? 4,
    });
    new AppautoscalingPolicy(this, 'CpuScaling', {
      name: `vitals-fhir-api-cpu-${env}`,
      policyType: 'TargetTrackingScaling',
      serviceNamespace: this.scalableTarget.serviceNamespace,
      scalableDimension: this.scalableTarget.scalableDimension,
      resourceId: this.scalableTarget.resourceId,
      targetTrackingScalingPolicyConfiguration: {
        targetValue: 60,
        predefinedMetricSpecification: { predefinedMetricType: 'ECSServiceAverageCPUUtilization' },
        scaleInCooldown: 300,
        scaleOutCooldown: 60,
      },
    });
    this.healthyTargetsAlarm = new CloudwatchMetricAlarm(this, 'HealthyTargetsAlarm', {
      alarmName: `vitals-fhir-healthy-targets-${env}`,
      alarmDescription: `Fewer than ${minCapacity} healthy FHIR API tasks for 3 minutes (a task is healthy while Aurora answers). Runbook: "FHIR API unhealthy targets".`,
      namespace: 'AWS/NetworkELB',
      metricName: 'HealthyHostCount',
      dimensions: { LoadBalancer: this.loadBalancer.arnSuffix, TargetGroup: this.targetGroup.arnSuffix },
      statistic: 'Minimum',
      period: 60,
      evaluationPeriods: 3,
      threshold: minCapacity,
      comparisonOperator: 'LessThanThreshold',
      treatMissingData: 'breaching',
      ...(props.alarmTopicArn ? { alarmActions: [props.alarmTopicArn], okActions: [props.alarmTopicArn] } : {}),
    });
  }

  get serviceName(): string {
    return this.service.name;
  }
  get logGroupName(): string {
    return this.logGroup.name;
  }
}
