import { Construct } from 'constructs';
import { Fn, Lazy, TerraformOutput, TerraformVariable } from 'cdktf';
import { AlertDelivery } from './alert-delivery';
import { AuditTrail } from './audit-trail';
import { VitalsStack } from './base-stack';
import { AppConfig, ObjectLockMode } from './config';
import { Database } from './database';
import { FhirReadApi } from './fhir-read-api';
import { Hl7Gateway } from './hl7-gateway';
import { IngestApi } from './ingest-api';
import { Keys } from './keys';
import { Monitoring } from './monitoring';
import { Network } from './network';
import { ProcessingService } from './processing-service';
import { Registry } from './registry';
import { applyPermissionsBoundary, boundaryPolicyArn } from './permissions-boundary';
import { useRemoteState } from './state-backend';
import { Stream } from './stream';

export const pipelineStackId = (environment: string): string => `pipeline-${environment}`;
export const PROCESSOR_IMAGE_VARIABLE = 'processor_image';
export const HL7_CERTIFICATE_VARIABLE = 'hl7_certificate_arn';

/**
 * The whole pipeline for one environment: keys, network, stream, database, processing service,
 * ingest API and audit trail, each one construct; this class only composes them and names outputs.
 */
export class PipelineStack extends VitalsStack {
  readonly processorImageVariable: TerraformVariable;
  readonly keys: Keys;
  readonly network: Network;
  readonly stream: Stream;
  readonly database: Database;
  readonly processing: ProcessingService;
  readonly api: IngestApi;
  readonly audit: AuditTrail;
  readonly monitoring: Monitoring;
  readonly hl7CertificateVariable: TerraformVariable;
  readonly hl7: Hl7Gateway;
  readonly fhir: FhirReadApi;
  readonly alerts: AlertDelivery;

  constructor(scope: Construct, config: AppConfig) {
    super(scope, pipelineStackId(config.environment), config);
    useRemoteState(this, config.state, `pipeline/${config.environment}/terraform.tfstate`);
    // Every role gets the environment's permissions boundary (created by the bootstrap stack).
    applyPermissionsBoundary(this, boundaryPolicyArn(config.partition, this.accountId, config.project, config.environment));
    const { environment, region, partition, production } = config;
    const accountId = this.accountId;
    const logRetentionDays = config.logRetentionDays;

    const repository = Registry.repositoryName(environment);
    this.processorImageVariable = new TerraformVariable(this, PROCESSOR_IMAGE_VARIABLE, {
      type: 'string',
      default: '',
      description: `Digest-pinned processor image from ${repository} (set TF_VAR_processor_image; scripts/deploy.sh prints it).`,
      validation: [{
        // [.] instead of \. keeps the pattern free of escape layers (TypeScript, JSON, HCL).
        condition: `\${can(regex("^[0-9]{12}[.]dkr[.]ecr[.]${region}[.]amazonaws[.]com/${repository}@sha256:[0-9a-f]{64}$", var.${PROCESSOR_IMAGE_VARIABLE}))}`,
        errorMessage: `processor_image must be a digest-pinned image <account>.dkr.ecr.${region}.amazonaws.com/${repository}@sha256:<64 hex>: build and push the processor image first (scripts/deploy.sh), then set TF_VAR_processor_image.`,
      }],
    });

    const trailName = AuditTrail.trailName(environment);
    this.keys = new Keys(this, 'Keys', {
      environment, region, accountId, partition, production, trailName, ecsClusterName: ProcessingService.clusterName(environment),
      processorTaskRoleArn: `arn:${partition}:iam::${accountId}:role/${ProcessingService.taskRoleName(environment)}`,
      adminArns: config.keyAdminArns,
      breakGlassRoleArns: config.breakGlassRoleArns,
    });

    this.network = new Network(this, 'Network', {
      environment,
      region,
      accountId,
      partition,
      availabilityZones: config.availabilityZones,
      cidrBlock: config.vpcCidr,
      logsKeyArn: this.keys.logs.arn,
      logRetentionDays,
    });

    this.stream = new Stream(this, 'Stream', {
      environment,
      kmsKeyArn: this.keys.data.arn,
      shardCount: config.shardCount,
      retentionHours: config.streamRetentionHours,
      enforceConsumerDeletion: !production,
    });

    this.database = new Database(this, 'Database', {
      environment,
      vpcId: this.network.vpc.id,
      subnetIds: this.network.subnetIds,
      availabilityZones: config.availabilityZones,
      clientSecurityGroupId: this.network.processorSecurityGroup.id,
      dataKeyArn: this.keys.data.arn,
      logsKeyArn: this.keys.logs.arn,
      logRetentionDays,
      engineVersion: config.dbEngineVersion,
      minCapacityAcu: config.dbMinCapacityAcu,
      maxCapacityAcu: config.dbMaxCapacityAcu,
      backupRetentionDays: config.backupRetentionDays,
      backupKeyArn: this.keys.backup.arn,
      backupVaultLock: config.backupVaultLock,
      accountId,
      production,
    });

    // The alert bus, its topics, archive and dead-letter queue (issue 12): the processor publishes to it.
    this.alerts = new AlertDelivery(this, 'Alerts', {
      environment,
      region,
      partition,
      accountId,
      production,
      keyAdminArns: config.keyAdminArns,
      facilities: config.alerts.facilities,
      escalationTargets: config.alerts.escalationTargets,
      archiveRetentionDays: config.alerts.archiveRetentionDays,
    });

    this.processing = new ProcessingService(this, 'Processing', {
      environment,
      region,
      accountId,
      vpcId: this.network.vpc.id,
      subnetIds: this.network.subnetIds,
      securityGroupIds: [this.network.processorSecurityGroup.id],
      imageUri: this.processorImageVariable.stringValue,
      repositoryArn: Registry.repositoryArn({ partition, region, accountId, environment }),
      logsKeyArn: this.keys.logs.arn,
      logRetentionDays,
      stream: { name: this.stream.name, arn: this.stream.arn, keyArn: this.keys.data.arn, shardCount: this.stream.shardCount,
        retentionHours: this.stream.retentionHours,
      },
      database: {
        endpoint: this.database.clusterEndpoint,
        port: this.database.port,
        name: this.database.databaseName,
        clusterResourceId: this.database.clusterResourceId,
        masterSecretArn: this.database.masterSecretArn,
        secretKeyArn: this.keys.data.arn,
        processorUser: this.database.processorUser,
      },
      phiKeyArn: this.keys.phi.arn,
      deadLetterKeyArn: this.keys.deadLetter.arn,
      hmacKeyArn: this.keys.patientHmac.arn,
      ephemeralStorageKeyArn: this.keys.data.arn,
      alertEventBus: { name: this.alerts.bus.name, arn: this.alerts.bus.arn },
    });

    let fhir: FhirReadApi | undefined;
    this.api = new IngestApi(this, 'Api', {
      environment,
      region,
      partition,
      accountId,
      stream: { name: this.stream.name, arn: this.stream.arn, keyArn: this.keys.data.arn },
      logsKeyArn: this.keys.logs.arn,
      logRetentionDays,
      manageAccountSettings: config.manageApiGatewayAccount,
      ...(config.api.allowedPrincipalArns.length > 0 ? { allowedPrincipalArns: config.api.allowedPrincipalArns } : {}),
      ...(config.api.customDomain ? { customDomain: config.api.customDomain } : {}),
      // The FHIR read API's routes live on this API (same authentication, WAF and throttling).
      extraRoutes: (api) => {
        fhir = new FhirReadApi(this, 'FhirApi', {
          environment,
          region,
          partition,
          accountId,
          vpcId: this.network.vpc.id,
          subnetIds: this.network.subnetIds,
          clusterArn: this.processing.clusterArn,
          clusterName: this.processing.clusterName,
          imageUri: this.processorImageVariable.stringValue,
          repositoryArn: Registry.repositoryArn({ partition, region, accountId, environment }),
          logsKeyArn: this.keys.logs.arn,
          logRetentionDays,
          endpointSecurityGroupId: this.network.endpointSecurityGroup.id,
          s3PrefixListId: this.network.s3Endpoint.prefixListId,
          database: {
            readerEndpoint: this.database.readerEndpoint,
            // The acknowledge route writes (as vitals_alert_acker) to the writer.
            writerEndpoint: this.database.clusterEndpoint,
            port: this.database.port,
            name: this.database.databaseName,
            clusterResourceId: this.database.clusterResourceId,
            securityGroupId: this.database.securityGroup.id,
          },
          api,
          // The alarm topic is created with the monitoring, after the API.
          alarmTopicArn: Lazy.stringValue({ produce: () => this.monitoring.topicArn }),
          deletionProtection: production,
        });
        return fhir.routes;
      },
    });
    if (!fhir) throw new Error('IngestApi did not build the FHIR routes');
    this.fhir = fhir;

    this.audit = new AuditTrail(this, 'Audit', {
      environment,
      region,
      accountId,
      partition,
      logsKeyArn: this.keys.logs.arn,
      retentionDays: config.auditRetentionDays,
      logRetentionDays,
      forceDestroy: !production,
      // Data events: the stream's records and the state objects (the audit and access-log buckets' own are always in).
      streamArns: [this.stream.arn],
      dataEventBucketNames: [config.state.bucket],
      accessLogRetentionDays: config.accessLogRetentionDays,
      ...(config.auditObjectLock.mode !== ObjectLockMode.OFF
        ? { objectLock: { mode: config.auditObjectLock.mode as ObjectLockMode.COMPLIANCE | ObjectLockMode.GOVERNANCE, days: config.auditObjectLock.days } }
        : {}),
    });

    this.monitoring = new Monitoring(this, 'Monitoring', {
      environment,
      region,
      accountId,
      partition,
      keyArn: this.keys.logs.arn,
      alarmEmails: config.alarmEmails,
      streamName: this.stream.name,
      shardCount: this.stream.shardCount,
      ecsClusterName: this.processing.clusterName,
      ecsServiceName: this.processing.serviceName,
      minTaskCount: this.processing.minCapacity,
      processorLogGroupName: this.processing.logGroupName,
      apiName: this.api.restApi.name,
      stageName: this.api.stageName,
      apiAccessLogGroupName: this.api.accessLogGroup.name,
      dbClusterIdentifier: this.database.clusterIdentifier,
      dbMaxCapacityAcu: config.dbMaxCapacityAcu,
      trailName: this.audit.trailName,
      trailLogGroupName: this.audit.logGroup.name,
      webAclName: this.api.webAcl.name,
      alertDeadLetterQueueName: this.alerts.deadLetterQueue.name,
    });

    this.hl7CertificateVariable = new TerraformVariable(this, HL7_CERTIFICATE_VARIABLE, {
      type: 'string',
      default: '',
      description: 'ACM certificate (in this region) of the HL7 gateway\'s TLS listener: the name hospitals connect to (set TF_VAR_hl7_certificate_arn).',
      validation: [{
        condition: `\${can(regex("^arn:aws[a-z-]*:acm:${region}:[0-9]{12}:certificate/[0-9a-f-]{36}$", var.${HL7_CERTIFICATE_VARIABLE}))}`,
        errorMessage: `hl7_certificate_arn must be an ACM certificate ARN in ${region} (arn:aws:acm:${region}:<account>:certificate/<id>): request or import the certificate for the gateway's name first, then set TF_VAR_hl7_certificate_arn.`,
      }],
    });
    this.hl7 = new Hl7Gateway(this, 'Hl7Gateway', {
      environment,
      region,
      partition,
      accountId,
      vpcId: this.network.vpc.id,
      subnetIds: this.network.subnetIds,
      clusterArn: this.processing.clusterArn,
      clusterName: this.processing.clusterName,
      imageUri: this.processorImageVariable.stringValue,
      repositoryArn: Registry.repositoryArn({ partition, region, accountId, environment }),
      stream: { name: this.stream.name, arn: this.stream.arn, keyArn: this.keys.data.arn },
      logsKeyArn: this.keys.logs.arn,
      logRetentionDays,
      endpointSecurityGroupId: this.network.endpointSecurityGroup.id,
      s3PrefixListId: this.network.s3Endpoint.prefixListId,
      certificateArn: this.hl7CertificateVariable.stringValue,
      allowedPrincipals: config.hl7.allowedPrincipals,
      allowedClientCidrs: config.hl7.clientCidrs,
      ...(config.hl7.localTimeZone ? { localTimeZone: config.hl7.localTimeZone } : {}),
      alarmTopicArn: this.monitoring.topicArn,
      deletionProtection: production,
    });

    this.outputs();
  }

  private outputs(): void {
    const out = (name: string, value: string | number, description: string): void => {
      new TerraformOutput(this, name, { value, description });
    };
    out('api_events_url', this.api.eventsUrl, 'POST event batches here (AWS_IAM + x-api-key)');
    out('api_health_url', this.api.healthUrl, 'GET health check');
    out('api_rest_api_id', this.api.restApiId, 'REST API id');
    out('api_stage_name', this.api.stageName, 'stage');
    out('api_key_id', this.api.apiKeyId, 'API key id (aws apigateway get-api-key --include-value)');
    out('api_access_log_group_name', this.api.accessLogGroup.name, 'API access logs (JSON)');
    out('api_web_acl_arn', this.api.webAcl.arn, 'WAF web ACL on the stage');
    if (this.api.domainName) {
      out('api_domain_regional_domain_name', this.api.domainName.regionalDomainName, `point ${this.config.api.customDomain?.domainName ?? 'the custom domain'} here (CNAME or Route 53 alias, with api_domain_regional_zone_id)`);
      out('api_domain_regional_zone_id', this.api.domainName.regionalZoneId, 'hosted zone id of the regional domain name (Route 53 alias target)');
    }
    out('stream_name', this.stream.name, 'Kinesis stream (STREAM_NAME of the processor)');
    out('stream_arn', this.stream.arn, 'Kinesis stream ARN');
    out('db_cluster_endpoint', this.database.clusterEndpoint, 'Aurora writer endpoint (DB_HOST)');
    out('db_reader_endpoint', this.database.readerEndpoint, 'Aurora reader endpoint');
    out('db_port', this.database.port, 'PostgreSQL port');
    out('db_name', this.database.databaseName, 'database name (DB_NAME)');
    out('db_cluster_identifier', this.database.clusterIdentifier, 'Aurora cluster identifier');
    out('db_master_secret_arn', this.database.masterSecretArn, 'RDS-managed, rotated master secret (migrations only)');
    out('db_log_group_name', this.database.logGroup.name, 'exported PostgreSQL logs');
    out('ecs_cluster_name', this.processing.clusterName, 'ECS cluster');
    out('ecs_service_name', this.processing.serviceName, 'processor ECS service');
    out('ecs_migration_task_definition_arn', this.processing.migrationTaskDefinitionArn, 'one-off migration task (aws ecs run-task)');
    out('ecs_ops_task_definition_arn', this.processing.opsTaskDefinitionArn, 'one-off operations task: dead-letter requeue requests (aws ecs run-task)');
    out('ecr_repository_url', `${this.accountId}.dkr.ecr.${this.config.region}.amazonaws.com/${Registry.repositoryName(this.config.environment)}`, 'processor image repository (registry stack)');
    out('ecs_breakglass_task_definition_arn', this.processing.breakGlassTaskDefinitionArn, 'break-glass SQL task (docs/runbook.md); output kept 1 day');
    out('breakglass_log_group_name', this.processing.breakGlassLogGroup.name, 'break-glass SQL output (1-day retention)');
    out('processor_log_group_name', this.processing.logGroupName, 'processor logs (and EMF metrics)');
    out('kms_data_key_arn', this.keys.data.arn, 'stream, database, secret and backup key');
    out('kms_logs_key_arn', this.keys.logs.arn, 'log groups and CloudTrail key');
    out('kms_phi_key_arn', this.keys.phi.arn, 'PHI_KMS_KEY_ARN of the processor');
    out('kms_backup_key_arn', this.keys.backup.arn, 'AWS Backup vault key (its own: destroying the data key cannot take the backups)');
    out('kms_dead_letter_key_arn', this.keys.deadLetter.arn, 'DEAD_LETTER_KMS_KEY_ARN of the processor');
    out('kms_patient_hmac_key_arn', this.keys.patientHmac.arn, 'PATIENT_HMAC_KMS_KEY_ARN of the processor');
    out('vpc_id', this.network.vpc.id, 'VPC');
    new TerraformOutput(this, 'private_subnet_ids', { value: this.network.subnetIds, description: 'private subnets, one per AZ' });
    out('processor_security_group_id', this.network.processorSecurityGroup.id, 'security group of processor and migration tasks');
    out('vpc_flow_log_group_name', this.network.flowLogGroup.name, 'VPC flow logs');
    out('audit_trail_name', this.audit.trailName, 'CloudTrail trail');
    out('audit_bucket_name', this.audit.bucket.name, 'CloudTrail log files');
    out('audit_access_log_bucket_name', this.audit.accessLogBucket.name, 'S3 server access logs of the audit bucket (SSE-S3)');
    out('audit_log_group_name', this.audit.logGroup.name, 'CloudTrail events in CloudWatch Logs');
    out('alarm_topic_arn', this.monitoring.topicArn, 'SNS topic every alarm notifies (subscribe e-mail, pager or chat here)');
    out('dashboard_name', this.monitoring.dashboardName, 'CloudWatch dashboard of the pipeline');
    out('hl7_endpoint_service_name', this.hl7.endpointServiceName, 'PrivateLink service hospitals create an interface endpoint to (aws ec2 create-vpc-endpoint --service-name)');
    out('hl7_load_balancer_dns_name', this.hl7.loadBalancerDnsName, 'internal NLB of the HL7 gateway (VPN clients; point the certificate name here)');
    out('hl7_listener_port', this.hl7.listenerPort, 'MLLP over TLS port of the HL7 gateway');
    out('ecs_hl7_service_name', this.hl7.serviceName, 'HL7 gateway ECS service');
    out('hl7_log_group_name', this.hl7.logGroupName, 'HL7 gateway logs (and EMF metrics)');
    out('alert_acknowledge_url_template', `${this.api.invokeUrl}/v1/alerts/{alertId}/acknowledge`, 'POST here to acknowledge an alert (AWS_IAM + x-api-key; no body)');
    out('fhir_base_url', this.fhir.baseUrl, 'FHIR R4 read API base (GET <base>/Observation?patient=Patient/<pseudonym>; AWS_IAM + x-api-key)');
    out('ecs_fhir_service_name', this.fhir.serviceName, 'FHIR read API ECS service');
    out('fhir_log_group_name', this.fhir.logGroupName, 'FHIR read API logs');
    out('alert_event_bus_name', this.alerts.bus.name, 'EventBridge bus of alert transitions (ALERT_EVENT_BUS_NAME of the processor)');
    out('alert_event_bus_arn', this.alerts.bus.arn, 'EventBridge bus of alert transitions: add rules here for new consumers');
    out('alert_archive_name', this.alerts.archive.name, 'archive of every alert transition (aws events start-replay)');
    out('alert_dead_letter_queue_url', this.alerts.deadLetterQueue.url, 'alerts EventBridge could not deliver (docs/runbook.md "Alert dead letters")');
    out('kms_alerts_key_arn', this.alerts.key.arn, 'key of the alert bus, topics and dead-letter queue');
    new TerraformOutput(this, 'alert_facility_topic_arns', {
      value: Object.fromEntries(Object.entries(this.alerts.facilityRoutes).map(([facility, r]) => [facility, r.topic.arn])),
      description: 'facility id (* = every facility not listed) -> SNS topic of its alert transitions (subscribe pagers and integrations here)',
    });
    new TerraformOutput(this, 'alert_escalation_topic_arns', {
      value: Object.fromEntries(Object.entries(this.alerts.escalationRoutes).map(([target, r]) => [target, r.topic.arn])),
      description: 'escalation routing name -> SNS topic of the escalations to it',
    });
    out('subnet_csv', Fn.join(',', this.network.subnetIds), 'private subnets, comma-separated (aws ecs run-task --network-configuration)');
  }
}
