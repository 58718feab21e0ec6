/**
 * The HL7 gateway on AWS: an ECS Fargate service (the pipeline image, `node dist/src/hl7/main.js`)
 * in the private subnets behind an internal Network Load Balancer whose TLS listener carries the
 * hospital-facing certificate (ACM), exposed to hospital VPCs as a PrivateLink endpoint service
 * (allowed principals, manual acceptance) and to site-to-site VPN ranges by CIDR; never public.
 *
 * TLS end to end: the NLB terminates the client's TLS with the ACM certificate and re-encrypts to the
 * task (target group protocol TLS), which serves a certificate generated at start-up
 * (HL7_TLS_SELF_SIGNED; NLBs do not verify target certificates). The task role may only put records
 * on the stream. Alarms: NACK rate, connection errors, unhealthy targets; CPU target tracking.
 */
import { Construct } from 'constructs';
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
import { VpcEndpointService } from '@cdktf/provider-aws/lib/vpc-endpoint-service';
import { VpcSecurityGroupEgressRule } from '@cdktf/provider-aws/lib/vpc-security-group-egress-rule';
import { VpcSecurityGroupIngressRule } from '@cdktf/provider-aws/lib/vpc-security-group-ingress-rule';
import { LOG_RETENTION_DAYS_ALLOWED } from './config';
import {
  CONTAINER_USER, CpuArchitecture, ECR_PULL_ACTIONS, HEALTHCHECK_COMMAND, LOG_WRITE_ACTIONS, STOP_TIMEOUT_SECONDS, STREAM_PRODUCER_KEY_ACTIONS,
} from './processing-service';
import { isKnown, PropProblems } from './prop-problems';

/** The gateway's only stream action: PutRecords (it batches; PutRecord is never called). */
export const HL7_STREAM_ACTIONS = ['kinesis:PutRecords'] as const;
/** The registered MLLP port (IANA "hl7"): the container's listener. */
export const HL7_CONTAINER_PORT = 2575;
/** The container's `GET /health` (also the NLB's health check). */
export const HL7_HEALTH_PORT = 8080;
export const HL7_COMMAND = ['node', 'dist/src/hl7/main.js'] as const;
/** TLS 1.3 and 1.2 only (ELB's recommended policy). */
export const HL7_TLS_POLICY = 'ELBSecurityPolicy-TLS13-1-2-2021-06';
/** EMF dimensions of the gateway's metrics (src/hl7/main.ts). */
export const HL7_METRICS_SERVICE = 'vitals-hl7-gateway';
export const METRICS_NAMESPACE = 'VitalsPipeline';

const HTTPS_PORT = 443;
const TMP_VOLUME = 'tmp';
const ACM_ARN = /^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate\/[0-9a-f-]{36}$/;
const PRINCIPAL_ARN = /^arn:aws[a-z-]*:iam::(\d{12}):(root|role\/.+|user\/.+)$/;
const IPV4_CIDR = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/;

export interface Hl7StreamRef {
  readonly name: string;
  readonly arn: string;
  /** The stream's KMS key: a producer needs kms:GenerateDataKey on it. */
  readonly keyArn: string;
}

export interface Hl7GatewayProps {
  readonly environment: string;
  readonly region: string;
  /** @default 'aws' */
  readonly partition?: string;
  readonly accountId: string;
  readonly vpcId: string;
  /** Private subnets, one per AZ: the NLB and the tasks. */
  readonly subnetIds: string[];
  /** The ECS cluster the processor runs in (the gateway shares it). */
  readonly clusterArn: string;
  readonly clusterName: string;
  /** Digest-pinned image (the pipeline image). */
  readonly imageUri: string;
  readonly repositoryArn: string;
  readonly stream: Hl7StreamRef;
  readonly logsKeyArn: string;
  /** @default 365 */
  readonly logRetentionDays?: number;
  /** The interface endpoints' security group: the tasks need HTTPS to Kinesis, Logs and ECR. */
  readonly endpointSecurityGroupId: string;
  /** The S3 gateway endpoint's prefix list (ECR image layers). */
  readonly s3PrefixListId: string;
  /** ACM certificate of the TLS listener (the name hospitals connect to). */
  readonly certificateArn: string;
  /**
   * IAM principals (hospital accounts or roles) allowed to create an endpoint to the gateway's
   * PrivateLink endpoint service; each connection must still be accepted.
   * @default none: no hospital can connect over PrivateLink until listed
   */
  readonly allowedPrincipals?: readonly string[];
  /**
   * IPv4 ranges allowed to reach the listener directly (site-to-site VPN or Direct Connect); never
   * 0.0.0.0/0.
   * @default none
   */
  readonly allowedClientCidrs?: readonly string[];
  /** @default 2575 */
  readonly listenerPort?: number;
  /** IANA zone for HL7 times sent without an offset (HL7_LOCAL_TIME_ZONE). @default none: such times are refused */
  readonly localTimeZone?: string;
  /** @default 2 */
  readonly minCapacity?: number;
  /** @default 6 */
  readonly maxCapacity?: number;
  /** @default 512 */
  readonly cpu?: number;
  /** @default 1024 */
  readonly memoryMiB?: number;
  /** @default 50 */
  readonly cpuTargetPercent?: number;
  /** Share of messages answered AE or AR (5 min) that raises the NACK alarm, in percent. @default 5 */
  readonly nackRateAlarmPercent?: number;
  /** Connection errors (TLS failures, resets, timeouts) per 5 min that raise the alarm. @default 20 */
  readonly connectionErrorsAlarmThreshold?: number;
  /** SNS topic the alarms notify. @default no notification */
  readonly alarmTopicArn?: string;
  /** NLB deletion protection (production). @default false */
  readonly deletionProtection?: boolean;
  /** @default CpuArchitecture.X86_64 */
  readonly cpuArchitecture?: CpuArchitecture;
}

function cidrOk(cidr: string): boolean {
  const m = IPV4_CIDR.exec(cidr);
  if (!m) return false;
  const octets = m.slice(1, 5).map(Number);
  const prefix = Number(m[5]);
  return octets.every((o) => o <= 255) && prefix >= 8 && prefix <= 32;
}

function validate(id: string, props: Hl7GatewayProps): void {
  const p = new PropProblems(`Hl7Gateway "${id}"`);
  p.environment('environment', props.environment);
  p.region('region', props.region);
  p.accountId('accountId', props.accountId);
  p.check(props.subnetIds.length >= 2, 'subnetIds', 'must list at least 2 private subnets', props.subnetIds);
  p.check(/@sha256:[0-9a-f]{64}$/.test(props.imageUri), 'imageUri', 'must be pinned by digest (...@sha256:<64 hex>)', props.imageUri);
  p.arn('repositoryArn', props.repositoryArn, 'ecr');
  p.arn('stream.arn', props.stream.arn, 'kinesis');
  p.arn('stream.keyArn', props.stream.keyArn, 'kms');
  p.arn('logsKeyArn', props.logsKeyArn, 'kms');
  p.arn('clusterArn', props.clusterArn, 'ecs');
  p.check(ACM_ARN.test(props.certificateArn), 'certificateArn', 'must be an ACM certificate ARN (arn:aws:acm:<region>:<account>:certificate/<id>)', props.certificateArn);
  for (const principal of props.allowedPrincipals ?? []) {
    p.check(PRINCIPAL_ARN.test(principal), 'allowedPrincipals', 'must list IAM principal ARNs (arn:aws:iam::<account>:root, role/..., user/...); never "*"', principal);
  }
  for (const cidr of props.allowedClientCidrs ?? []) {
    p.check(cidrOk(cidr), 'allowedClientCidrs', 'must list IPv4 CIDRs from /8 to /32 (never 0.0.0.0/0)', cidr);
  }
  p.integer('listenerPort', props.listenerPort ?? HL7_CONTAINER_PORT, 1, 65535);
  const min = props.minCapacity ?? 2;
  const max = props.maxCapacity ?? 6;
  p.integer('minCapacity', min, 1, 100);
  p.check(Number.isInteger(max) && max >= min && max <= 100, 'maxCapacity', `must be an integer from minCapacity (${min}) to 100`, max);
  p.check([256, 512, 1024, 2048].includes(props.cpu ?? 512), 'cpu', 'must be a Fargate size of 256, 512, 1024 or 2048', props.cpu);
  p.integer('memoryMiB', props.memoryMiB ?? 1024, 512, 16384);
  p.check((props.cpuTargetPercent ?? 50) >= 10 && (props.cpuTargetPercent ?? 50) <= 90, 'cpuTargetPercent', 'must be between 10 and 90', props.cpuTargetPercent);
  p.check((props.nackRateAlarmPercent ?? 5) > 0 && (props.nackRateAlarmPercent ?? 5) <= 100, 'nackRateAlarmPercent', 'must be above 0 and at most 100', props.nackRateAlarmPercent);
  p.integer('connectionErrorsAlarmThreshold', props.connectionErrorsAlarmThreshold ?? 20, 1);
  const retention = props.logRetentionDays ?? 365;
  p.check((LOG_RETENTION_DAYS_ALLOWED as readonly number[]).includes(retention), 'logRetentionDays', `must be one of ${LOG_RETENTION_DAYS_ALLOWED.join(', ')}`, retention);
  if (props.localTimeZone !== undefined && isKnown(props.localTimeZone)) {
    p.check(/^[A-Za-z_]+(\/[A-Za-z0-9_+-]+)+$|^UTC$/.test(props.localTimeZone), 'localTimeZone', 'must be an IANA time zone such as Europe/Zurich', props.localTimeZone);
  }
  p.throwIfAny();
}

export class Hl7Gateway extends Construct {
  readonly logGroup: CloudwatchLogGroup;
  readonly taskSecurityGroup: SecurityGroup;
  readonly loadBalancerSecurityGroup: SecurityGroup;
  readonly loadBalancer: Lb;
  readonly targetGroup: LbTargetGroup;
  readonly listener: LbListener;
  readonly endpointService: VpcEndpointService;
  readonly executionRole: IamRole;
  readonly taskRole: IamRole;
  readonly taskDefinition: EcsTaskDefinition;
  readonly service: EcsService;
  readonly scalableTarget: AppautoscalingTarget;
  readonly cpuScalingPolicy: AppautoscalingPolicy;
  readonly nackRateAlarm: CloudwatchMetricAlarm;
  readonly connectionErrorsAlarm: CloudwatchMetricAlarm;
  readonly unhealthyTargetsAlarm: CloudwatchMetricAlarm;
  readonly listenerPort: number;

  constructor(scope: Construct, id: string, props: Hl7GatewayProps) {
    super(scope, id);
    validate(id, props);
    const env = props.environment;
    const partition = props.partition ?? 'aws';
    const name = `vitals-hl7-${env}`;
    this.listenerPort = props.listenerPort ?? HL7_CONTAINER_PORT;

    this.logGroup = new CloudwatchLogGroup(this, 'LogGroup', {
      name: `/ecs/vitals-hl7-gateway-${env}`,
      kmsKeyId: props.logsKeyArn,
      retentionInDays: props.logRetentionDays ?? 365,
    });

    // ---- Network: load balancer <-> tasks; tasks -> AWS APIs through the endpoints -------------
    this.loadBalancerSecurityGroup = new SecurityGroup(this, 'LoadBalancerSecurityGroup', {
      name: `${name}-nlb`,
      description: 'HL7 gateway NLB: MLLP over TLS from allowed VPN ranges (PrivateLink is governed by the endpoint service)',
      vpcId: props.vpcId,
      tags: { Name: `${name}-nlb` },
    });
    this.taskSecurityGroup = new SecurityGroup(this, 'TaskSecurityGroup', {
      name: `${name}-tasks`,
      description: 'HL7 gateway tasks: MLLP and health from the NLB; HTTPS to VPC endpoints and S3',
      vpcId: props.vpcId,
      tags: { Name: `${name}-tasks` },
    });
    (props.allowedClientCidrs ?? []).forEach((cidr, i) => {
      new VpcSecurityGroupIngressRule(this, `ClientCidr${i}`, {
        securityGroupId: this.loadBalancerSecurityGroup.id,
        cidrIpv4: cidr,
        ipProtocol: 'tcp', fromPort: this.listenerPort, toPort: this.listenerPort,
        description: `MLLP over TLS from hospital range ${cidr}`,
      });
    });
    for (const [ruleId, port, what] of [['Mllp', HL7_CONTAINER_PORT, 'MLLP (TLS)'], ['Health', HL7_HEALTH_PORT, 'health checks']] as const) {
      new VpcSecurityGroupEgressRule(this, `NlbTo${ruleId}`, {
        securityGroupId: this.loadBalancerSecurityGroup.id,
        referencedSecurityGroupId: this.taskSecurityGroup.id,
        ipProtocol: 'tcp', fromPort: port, toPort: port,
        description: `${what} to gateway tasks`,
      });
      new VpcSecurityGroupIngressRule(this, `TasksFromNlb${ruleId}`, {
        securityGroupId: this.taskSecurityGroup.id,
        referencedSecurityGroupId: this.loadBalancerSecurityGroup.id,
        ipProtocol: 'tcp', fromPort: port, toPort: port,
        description: `${what} from the NLB`,
      });
    }
    new VpcSecurityGroupEgressRule(this, 'TasksToEndpoints', {
      securityGroupId: this.taskSecurityGroup.id,
      referencedSecurityGroupId: props.endpointSecurityGroupId,
      ipProtocol: 'tcp', fromPort: HTTPS_PORT, toPort: HTTPS_PORT,
      description: 'HTTPS to Kinesis, CloudWatch Logs and ECR through interface endpoints',
    });
    new VpcSecurityGroupIngressRule(this, 'EndpointsFromTasks', {
      securityGroupId: props.endpointSecurityGroupId,
      referencedSecurityGroupId: this.taskSecurityGroup.id,
      ipProtocol: 'tcp', fromPort: HTTPS_PORT, toPort: HTTPS_PORT,
      description: 'HTTPS from HL7 gateway tasks',
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
      // PrivateLink connections are admitted by the endpoint service (allowed principals, manual
      // acceptance); the security group governs the VPN ranges.
      enforceSecurityGroupInboundRulesOnPrivateLinkTraffic: 'off',
      enableCrossZoneLoadBalancing: true,
      enableDeletionProtection: props.deletionProtection ?? false,
      tags: { Name: name },
    });
    this.targetGroup = new LbTargetGroup(this, 'TargetGroup', {
      name,
      port: HL7_CONTAINER_PORT,
      protocol: 'TLS',
      targetType: 'ip',
      vpcId: props.vpcId,
      // Short: a draining task has already stopped reading and answers what it received.
      deregistrationDelay: '30',
      // Close connections to a deregistered task so senders reconnect to a healthy one.
      connectionTermination: true,
      healthCheck: {
        protocol: 'HTTP',
        port: String(HL7_HEALTH_PORT),
        path: '/health',
        interval: 10,
        healthyThreshold: 2,
        unhealthyThreshold: 2,
      },
      tags: { Name: name },
    });
    this.listener = new LbListener(this, 'Listener', {
      loadBalancerArn: this.loadBalancer.arn,
      port: this.listenerPort,
      protocol: 'TLS',
      certificateArn: props.certificateArn,
      sslPolicy: HL7_TLS_POLICY,
      defaultAction: [{ type: 'forward', targetGroupArn: this.targetGroup.arn }],
    });
    this.endpointService = new VpcEndpointService(this, 'EndpointService', {
      networkLoadBalancerArns: [this.loadBalancer.arn],
      acceptanceRequired: true,
      allowedPrincipals: [...(props.allowedPrincipals ?? [])],
      tags: { Name: name },
    });

    // ---- IAM ------------------------------------------------------------------------------------
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
    this.executionRole = role('ExecutionRole', `vitals-hl7-exec-${env}`, [
      // GetAuthorizationToken supports no resource-level permission ("*" is its only resource).
      { sid: 'EcrAuthToken', actions: ['ecr:GetAuthorizationToken'], resources: ['*'] },
      { sid: 'EcrPull', actions: [...ECR_PULL_ACTIONS], resources: [props.repositoryArn] },
      { sid: 'Logs', actions: [...LOG_WRITE_ACTIONS], resources: [`${this.logGroup.arn}:log-stream:*`] },
    ]);
    this.taskRole = role('TaskRole', `vitals-hl7-task-${env}`, [
      { sid: 'StreamPut', actions: [...HL7_STREAM_ACTIONS], resources: [props.stream.arn] },
      {
        sid: 'StreamKey',
        actions: [...STREAM_PRODUCER_KEY_ACTIONS],
        resources: [props.stream.keyArn],
        condition: [{ test: 'StringEquals', variable: 'kms:ViaService', values: [`kinesis.${props.region}.amazonaws.com`] }],
      },
    ]);

    // ---- Task definition and service --------------------------------------------------------------
    const environment: Record<string, string> = {
      NODE_ENV: 'production',
      ENVIRONMENT: env,
      AWS_REGION: props.region,
      STREAM_NAME: props.stream.name,
      HL7_HOST: '0.0.0.0',
      HL7_PORT: String(HL7_CONTAINER_PORT),
      HEALTH_PORT: String(HL7_HEALTH_PORT),
      HL7_TLS_SELF_SIGNED: 'true',
      // Below the NLB's 350 s TCP idle timeout: the gateway closes idle connections cleanly first.
      HL7_IDLE_TIMEOUT_MS: '300000',
      LOG_LEVEL: 'info',
      ...(props.localTimeZone ? { HL7_LOCAL_TIME_ZONE: props.localTimeZone } : {}),
    };
    const container = {
      name: 'hl7-gateway',
      image: props.imageUri,
      essential: true,
      command: [...HL7_COMMAND],
      user: CONTAINER_USER,
      readonlyRootFilesystem: true,
      privileged: false,
      stopTimeout: STOP_TIMEOUT_SECONDS,
      portMappings: [
        { containerPort: HL7_CONTAINER_PORT, protocol: 'tcp' },
        { containerPort: HL7_HEALTH_PORT, protocol: 'tcp' },
      ],
      mountPoints: [{ sourceVolume: TMP_VOLUME, containerPath: '/tmp', readOnly: false }],
      linuxParameters: { initProcessEnabled: true, capabilities: { drop: ['ALL'] } },
      environment: Object.entries(environment).map(([n, value]) => ({ name: n, value })),
      // The image's health check command reads HEALTH_PORT: the gateway's health server (HTTP, loopback).
      healthCheck: { command: ['CMD', ...HEALTHCHECK_COMMAND], interval: 15, timeout: 5, retries: 3, startPeriod: 20 },
      logConfiguration: {
        logDriver: 'awslogs',
        options: {
          'awslogs-group': this.logGroup.name,
          'awslogs-region': props.region,
          'awslogs-stream-prefix': 'hl7-gateway',
          mode: 'non-blocking',
          'max-buffer-size': '25m',
        },
      },
    };
    this.taskDefinition = new EcsTaskDefinition(this, 'TaskDefinition', {
      family: `vitals-hl7-gateway-${env}`,
      requiresCompatibilities: ['FARGATE'],
      networkMode: 'awsvpc',
      cpu: String(props.cpu ?? 512),
      memory: String(props.memoryMiB ?? 1024),
      executionRoleArn: this.executionRole.arn,
      taskRoleArn: this.taskRole.arn,
      runtimePlatform: { operatingSystemFamily: 'LINUX', cpuArchitecture: props.cpuArchitecture ?? CpuArchitecture.X86_64 },
      volume: [{ name: TMP_VOLUME }],
      containerDefinitions: JSON.stringify([container]),
    });
    const minCapacity = props.minCapacity ?? 2;
    this.service = new EcsService(this, 'Service', {
      name: `vitals-hl7-gateway-${env}`,
      cluster: props.clusterArn,
      taskDefinition: this.taskDefinition.arn,
      desiredCount: minCapacity,
      launchType: 'FARGATE',
      platformVersion: 'LATEST',
      networkConfiguration: { subnets: props.subnetIds, securityGroups: [this.taskSecurityGroup.id], assignPublicIp: false },
      loadBalancer: [{ targetGroupArn: this.targetGroup.arn, containerName: container.name, containerPort: HL7_CONTAINER_PORT }],
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
      maxCapacity: props.maxCapacity ?? 6,
    });
    this.cpuScalingPolicy = new AppautoscalingPolicy(this, 'CpuScaling', {
      name: `vitals-hl7-gateway-cpu-${env}`,
      policyType: 'TargetTrackingScaling',
      serviceNamespace: this.scalableTarget.serviceNamespace,
      scalableDimension: this.scalableTarget.scalableDimension,
      resourceId: this.scalableTarget.resourceId,
      targetTrackingScalingPolicyConfiguration: {
        targetValue: props.cpuTargetPercent ?? 50,
        predefinedMetricSpecification: { predefinedMetricType: 'ECSServiceAverageCPUUtilization' },
        scaleInCooldown: 300,
        scaleOutCooldown: 60,
      },
    });

    // ---- Alarms ------------------------------------------------------------------------------------
    const actions = props.alarmTopicArn ? { alarmActions: [props.alarmTopicArn], okActions: [props.alarmTopicArn] } : {};
    const emf = (metricName: string) => ({
      namespace: METRICS_NAMESPACE,
      metricName,
      dimensions: { Service: HL7_METRICS_SERVICE, Environment: env },
      period: 300,
      stat: 'Sum',
    });
    const nackPercent = props.nackRateAlarmPercent ?? 5;
    this.nackRateAlarm = new CloudwatchMetricAlarm(this, 'NackRateAlarm', {
      alarmName: `vitals-hl7-nack-rate-${env}`,
      alarmDescription: `More than ${nackPercent} % of HL7 messages answered AE or AR over 5 minutes (at least 20 messages): senders' messages are not being stored. Runbook: "HL7 gateway NACK rate".`,
      comparisonOperator: 'GreaterThanThreshold',
      threshold: nackPercent,
      evaluationPeriods: 2,
      datapointsToAlarm: 2,
      treatMissingData: 'notBreaching',
      metricQuery: [
        { id: 'received', metric: emf('MessagesReceived'), returnData: false },
        { id: 'ae', metric: emf('AcksAE'), returnData: false },
        { id: 'ar', metric: emf('AcksAR'), returnData: false },
        {
          id: 'nack',
          label: 'NACK %',
          // Below 20 messages per 5 minutes a rate says little: report 0 rather than alarm on one error.
          expression: 'IF(FILL(received, 0) >= 20, 100 * (FILL(ae, 0) + FILL(ar, 0)) / received, 0)',
          returnData: true,
        },
      ],
      ...actions,
    });
    const errorsThreshold = props.connectionErrorsAlarmThreshold ?? 20;
    this.connectionErrorsAlarm = new CloudwatchMetricAlarm(this, 'ConnectionErrorsAlarm', {
      alarmName: `vitals-hl7-connection-errors-${env}`,
      alarmDescription: `At least ${errorsThreshold} HL7 connection errors (TLS handshake failures, resets, frame timeouts, refused connections) in 5 minutes. Runbook: "HL7 gateway connection errors".`,
      namespace: METRICS_NAMESPACE,
      metricName: 'ConnectionErrors',
      dimensions: { Service: HL7_METRICS_SERVICE, Environment: env },
      statistic: 'Sum',
      period: 300,
      evaluationPeriods: 1,
      threshold: errorsThreshold,
      comparisonOperator: 'GreaterThanOrEqualToThreshold',
      treatMissingData: 'notBreaching',
      ...actions,
    });
    this.unhealthyTargetsAlarm = new CloudwatchMetricAlarm(this, 'HealthyTargetsAlarm', {
      alarmName: `vitals-hl7-healthy-targets-${env}`,
      alarmDescription: `Fewer than ${minCapacity} healthy HL7 gateway tasks behind the NLB for 3 minutes. Runbook: "HL7 gateway unhealthy targets".`,
      namespace: 'AWS/NetworkELB',
      metricName: 'HealthyHostCount',
      dimensions: { LoadBalancer: this.loadBalancer.arnSuffix, TargetGroup: this.targetGroup.arnSuffix },
      statistic: 'Minimum',
      period: 60,
      evaluationPeriods: 3,
      threshold: minCapacity,
      comparisonOperator: 'LessThanThreshold',
      // No datapoints at all means no healthy target reported: breaching.
      treatMissingData: 'breaching',
      ...actions,
    });
  }

  /** The name hospitals' endpoints resolve to inside this VPC (VPN clients connect here). */
  get loadBalancerDnsName(): string {
    return this.loadBalancer.dnsName;
  }
  /** What a hospital gives `aws ec2 create-vpc-endpoint --service-name`. */
  get endpointServiceName(): string {
    return this.endpointService.serviceName;
  }
  get serviceName(): string {
    return this.service.name;
  }
  get logGroupName(): string {
    return this.logGroup.name;
  }
}
