/**
 * The processor on ECS Fargate: cluster, processor, migration and operations (dead-letter requeue)
 * task definitions, their roles,
 * the service in the private subnets, and Application Auto Scaling on CPU and Kinesis lag.
 *
 * Every dependency (stream, database, keys, subnets, image) arrives as a typed prop; nothing is
 * looked up, so the stack plans offline. IAM follows the runtime contract in docs/design.md and
 * grants each action on exactly one ARN.
 */
import { Construct } from 'constructs';
import { Fn, Token } from 'cdktf';
import { AppautoscalingPolicy } from '@cdktf/provider-aws/lib/appautoscaling-policy';
import { AppautoscalingTarget } from '@cdktf/provider-aws/lib/appautoscaling-target';
import { CloudwatchLogGroup } from '@cdktf/provider-aws/lib/cloudwatch-log-group';
import { CloudwatchMetricAlarm } from '@cdktf/provider-aws/lib/cloudwatch-metric-alarm';
import {
  DataAwsIamPolicyDocument,
  DataAwsIamPolicyDocumentStatement,
} from '@cdktf/provider-aws/lib/data-aws-iam-policy-document';
import { EcsCluster } from '@cdktf/provider-aws/lib/ecs-cluster';
import { EcsService } from '@cdktf/provider-aws/lib/ecs-service';
import { EcsTaskDefinition } from '@cdktf/provider-aws/lib/ecs-task-definition';
import { IamRole } from '@cdktf/provider-aws/lib/iam-role';
import { IamRolePolicy } from '@cdktf/provider-aws/lib/iam-role-policy';
import {
  LOG_RETENTION_DAYS_ALLOWED, STREAM_RETENTION_HOURS_MAX, STREAM_RETENTION_HOURS_MIN,
} from './config';
import { isKnown, PropProblems } from './prop-problems';
import { ALERT_PUBLISH_ACTIONS } from './alert-delivery';

/** What the construct needs from the stream construct. */
export interface ProcessingStreamRef {
  readonly name: string;
  readonly arn: string;
  /** KMS key the stream is encrypted with (consumers need kms:Decrypt). */
  readonly keyArn: string;
  /** Open shards: one consumer task per shard is the useful maximum (leases are per shard). */
  readonly shardCount: number;
  /**
   * The stream's retention in hours. The migration command gets it as `STREAM_RETENTION_HOURS`:
   * the event-id dedupe horizon must outlast the longest a record can stay in the stream.
   */
  readonly retentionHours: number;
}

/** What the construct needs from the database construct. */
export interface ProcessingDatabaseRef {
  /** Aurora writer endpoint. */
  readonly endpoint: string;
  readonly port: number;
  /** Database name (`vitals`). */
  readonly name: string;
  /** Cluster resource id (`cluster-ABC...`), the scope of `rds-db:connect`. */
  readonly clusterResourceId: string;
  /** RDS-managed, rotated master secret: injected into the migration task only. */
  readonly masterSecretArn: string;
  /** KMS key encrypting the master secret. */
  readonly secretKeyArn: string;
  /** Database role the processor logs in as with IAM auth (`vitals_processor`). */
  readonly processorUser: string;
  /** Database role the ops task logs in as with IAM auth. @default 'vitals_ops' */
  readonly opsUser?: string;
}

export interface ProcessingServiceProps {
  /** Environment suffix carried by every name (lowercase alphanumeric). */
  readonly environment: string;
  readonly region: string;
  /**
   * AWS partition of the ARNs the construct builds.
   * @default 'aws'
   */
  readonly partition?: string;
  /** AWS account id (usually a Terraform variable token); ARNs are built with it. */
  readonly accountId: string;
  readonly vpcId: string;
  /** Private subnets, one per AZ; Fargate spreads the service's tasks across their AZs. */
  readonly subnetIds: string[];
  /** The processor security group (created by the network construct). */
  readonly securityGroupIds: string[];
  /** Digest-pinned ECR image URI (`...@sha256:<64 hex>`), usually a Terraform variable token. */
  readonly imageUri: string;
  /** ECR repository of the image: image pulls are allowed from it only. */
  readonly repositoryArn: string;
  /** KMS key encrypting the log group. */
  readonly logsKeyArn: string;
  /**
   * Log retention; one of CloudWatch's allowed values.
   * @default 365
   */
  readonly logRetentionDays?: number;
  readonly stream: ProcessingStreamRef;
  readonly database: ProcessingDatabaseRef;
  /** KMS key for envelope encryption of patient ids (GenerateDataKey, Decrypt; purpose vitals-pipeline-phi). */
  readonly phiKeyArn: string;
  /** KMS key for envelope encryption of dead-letter payloads (purpose vitals-pipeline-dead-letter). */
  readonly deadLetterKeyArn: string;
  /** KMS HMAC_256 key for patient pseudonyms (GenerateMac). */
  readonly hmacKeyArn: string;
  /**
   * KMS key for the tasks' Fargate ephemeral storage (image layers, the /tmp volume). Its key
   * policy must let `fargate.amazonaws.com` use it for this cluster (Keys does, given the cluster
   * name from `ProcessingService.clusterName`).
   */
  readonly ephemeralStorageKeyArn: string;
  /**
   * The alert bus the outbox relay publishes to (`ALERT_EVENT_BUS_NAME`; `events:PutEvents` on this ARN
   * only). Unset: no relay runs and alert transitions wait in the outbox (the outbox-age alarm fires).
   */
  readonly alertEventBus?: { readonly name: string; readonly arn: string };
  /**
   * Tasks at rest; also the autoscaling minimum. Two keep a consumer running while one is replaced.
   * @default 2
   */
  readonly desiredCount?: number;
  /**
   * Task CPU units (a Fargate size).
   * @default 512
   */
  readonly cpu?: number;
  /**
   * Task memory in MiB (valid for the CPU size).
   * @default 1024
   */
  readonly memoryMiB?: number;
  /**
   * Processor log level (pino).
   * @default 'info'
   */
  readonly logLevel?: LogLevel;
  /**
   * CPU utilisation the target-tracking policy holds, in percent.
   * @default 60
   */
  readonly cpuTargetPercent?: number;
  /**
   * Kinesis iterator age (consumer lag) above which the service scales out, in milliseconds.
   * @default 60000
   */
  readonly iteratorAgeAlarmMs?: number;
  /**
   * CPU architecture the image is built for.
   * @default CpuArchitecture.X86_64
   */
  readonly cpuArchitecture?: CpuArchitecture;
}

/** pino levels the processor accepts. */
export enum LogLevel {
  FATAL = 'fatal',
  ERROR = 'error',
  WARN = 'warn',
  INFO = 'info',
  DEBUG = 'debug',
}

/** Fargate `runtime_platform.cpu_architecture` values. */
export enum CpuArchitecture {
  X86_64 = 'X86_64',
  ARM64 = 'ARM64',
}

/** Kinesis read actions a shard consumer needs (no SubscribeToShard: we poll, not enhanced fan-out). */
export const STREAM_READ_ACTIONS = [
  'kinesis:DescribeStream',
  'kinesis:DescribeStreamSummary',
  'kinesis:GetRecords',
  'kinesis:GetShardIterator',
  'kinesis:ListShards',
] as const;
/** Kinesis write actions of the processor's requeue sweep (puts requested dead letters back). */
export const STREAM_WRITE_ACTIONS = ['kinesis:PutRecords'] as const;
/** A producer on a KMS-encrypted stream: Kinesis generates a data key as the caller. */
export const STREAM_PRODUCER_KEY_ACTIONS = ['kms:GenerateDataKey'] as const;
/** Envelope encryption of patient identifiers and of dead-letter payloads (each its own key and purpose). */
export const PHI_KEY_ACTIONS = ['kms:Decrypt', 'kms:GenerateDataKey'] as const;
/** Encryption-context purposes (src/adapters/phi.ts), required by the IAM conditions and the key policies. */
export const PATIENT_ID_PURPOSE = 'vitals-pipeline-phi';
export const DEAD_LETTER_PURPOSE = 'vitals-pipeline-dead-letter';
export const DEFAULT_OPS_DB_USER = 'vitals_ops';
/** Patient pseudonyms (HMAC). */
export const HMAC_KEY_ACTIONS = ['kms:GenerateMac'] as const;
/** Image layers from one repository. */
export const ECR_PULL_ACTIONS = ['ecr:BatchCheckLayerAvailability', 'ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer'] as const;
/** The awslogs driver. */
export const LOG_WRITE_ACTIONS = ['logs:CreateLogStream', 'logs:PutLogEvents'] as const;

/** Port of the processor's `GET /health` (docs/design.md). */
export const HEALTH_PORT = 8080;
/** CA bundle baked into the image. */
export const RDS_CA_BUNDLE_PATH = '/app/certs/rds-global-bundle.pem';
/** Non-root uid:gid the containers run as. */
export const CONTAINER_USER = '1000:1000';
/** Seconds ECS waits after SIGTERM before SIGKILL; the processor drains within it (Fargate max 120). */
export const STOP_TIMEOUT_SECONDS = 60;
/**
 * The processor's command, also the image's CMD (Dockerfile; the image test checks they agree) and
 * what bench:pipeline runs. A young generation of 8 MiB semi-spaces instead of V8's 16: the
 * processor's allocations are short-lived per batch, so smaller scavenges cost no more CPU per event
 * (bench/README.md) and keep its peak RSS ~25 MiB lower.
 */
export const PROCESSOR_COMMAND = ['node', '--max-semi-space-size=8', 'dist/src/processor/main.js'] as const;
export const MIGRATION_COMMAND = ['node', 'dist/src/db/migrate.js'] as const;
/** The operations task's default command; flags (`--reason`, `--dry-run`, ...) come as a run-task override. */
export const OPS_COMMAND = ['node', 'dist/src/db/requeue-dead-letters.js'] as const;

const DEFAULT_LOG_RETENTION_DAYS = 365;
/** Break-glass query results are read once by the operator, then must not linger (CloudWatch's minimum). */
export const BREAK_GLASS_LOG_RETENTION_DAYS = 1;
const DEFAULT_DESIRED_COUNT = 2;
const DEFAULT_CPU = 512;
const DEFAULT_MEMORY_MIB = 1024;
const DEFAULT_CPU_TARGET_PERCENT = 60;
const DEFAULT_ITERATOR_AGE_ALARM_MS = 60_000;
const MIGRATION_CPU = 256;
const MIGRATION_MEMORY_MIB = 512;
const TMP_VOLUME = 'tmp';

/** Fargate task sizes: CPU units -> allowed memory (MiB). */
const FARGATE_MEMORY_BY_CPU: Readonly<Record<number, (mib: number) => boolean>> = {
  256: (m) => [512, 1024, 2048].includes(m),
  512: (m) => m >= 1024 && m <= 4096 && m % 1024 === 0,
  1024: (m) => m >= 2048 && m <= 8192 && m % 1024 === 0,
  2048: (m) => m >= 4096 && m <= 16384 && m % 1024 === 0,
  4096: (m) => m >= 8192 && m <= 30720 && m % 1024 === 0,
  8192: (m) => m >= 16384 && m <= 61440 && m % 4096 === 0,
  16384: (m) => m >= 32768 && m <= 122880 && m % 8192 === 0,
};

/**
 * The container health check, the same command as the image's HEALTHCHECK (Dockerfile): exits 0 only
 * on HTTP 200 from GET /health on HEALTH_PORT (src/processor/healthcheck.ts).
 */
export const HEALTHCHECK_COMMAND = ['node', 'dist/src/processor/healthcheck.js'] as const;

/** Default dedupe horizon of the migration command (src/db/migrate.ts). */
export const DEFAULT_EVENT_ID_RETENTION_DAYS = 35;

/**
 * Days event ids are kept for deduplication: the migration default, or longer when the stream keeps
 * records longer, so a replay from the stream's oldest record can never store an event twice
 * (migrate.ts refuses a horizon of no more than retention + 1 day).
 */
export function eventIdRetentionDays(streamRetentionHours: number): number {
  return Math.max(DEFAULT_EVENT_ID_RETENTION_DAYS, Math.floor((streamRetentionHours + 24) / 24) + 1);
}

function validate(id: string, props: ProcessingServiceProps): void {
  const p = new PropProblems(`ProcessingService "${id}"`);
  const { environment, region, accountId, stream, database } = props;
  p.environment('environment', environment);
  p.region('region', region);
  p.accountId('accountId', accountId);
  p.check(props.subnetIds.length >= 2, 'subnetIds', 'must list at least 2 private subnets (tasks spread over their AZs)', props.subnetIds);
  p.check(props.securityGroupIds.length >= 1, 'securityGroupIds', 'must list at least 1 security group', props.securityGroupIds);
  p.check(/@sha256:[0-9a-f]{64}$/.test(props.imageUri), 'imageUri', 'must be pinned by digest (...@sha256:<64 hex>)', props.imageUri);
  p.arn('repositoryArn', props.repositoryArn, 'ecr');
  p.arn('logsKeyArn', props.logsKeyArn, 'kms');
  p.arn('phiKeyArn', props.phiKeyArn, 'kms');
  p.arn('deadLetterKeyArn', props.deadLetterKeyArn, 'kms');
  p.arn('hmacKeyArn', props.hmacKeyArn, 'kms');
  p.arn('ephemeralStorageKeyArn', props.ephemeralStorageKeyArn, 'kms');
  p.arn('stream.arn', stream.arn, 'kinesis');
  if (props.alertEventBus) p.check(/^arn:aws[a-z-]*:events:[^:]+:[^:]*:event-bus\/.+$/.test(props.alertEventBus.arn), 'alertEventBus.arn', 'must be an EventBridge event bus ARN', props.alertEventBus.arn);
  p.arn('stream.keyArn', stream.keyArn, 'kms');
  p.arn('database.masterSecretArn', database.masterSecretArn, 'secretsmanager');
  p.arn('database.secretKeyArn', database.secretKeyArn, 'kms');
  p.check(Number.isInteger(stream.shardCount) && stream.shardCount >= 1, 'stream.shardCount', 'must be an integer >= 1', stream.shardCount);
  p.check(
    Number.isInteger(stream.retentionHours) && stream.retentionHours >= STREAM_RETENTION_HOURS_MIN && stream.retentionHours <= STREAM_RETENTION_HOURS_MAX,
    'stream.retentionHours', `must be an integer from ${STREAM_RETENTION_HOURS_MIN} to ${STREAM_RETENTION_HOURS_MAX}`, stream.retentionHours,
  );
  p.check(Number.isInteger(database.port) && database.port >= 1 && database.port <= 65535, 'database.port', 'must be a TCP port (1-65535)', database.port);
  p.check(/^[a-z_][a-z0-9_]{0,62}$/.test(database.processorUser), 'database.processorUser', 'must be a PostgreSQL role name (lowercase, digits, _; at most 63)', database.processorUser);
  const retention = props.logRetentionDays ?? DEFAULT_LOG_RETENTION_DAYS;
  p.check((LOG_RETENTION_DAYS_ALLOWED as readonly number[]).includes(retention), 'logRetentionDays', `must be one of ${LOG_RETENTION_DAYS_ALLOWED.join(', ')}`, retention);
  const desired = props.desiredCount ?? DEFAULT_DESIRED_COUNT;
  p.check(Number.isInteger(desired) && desired >= 1, 'desiredCount', 'must be an integer >= 1', desired);
  const cpu = props.cpu ?? DEFAULT_CPU;
  const memory = props.memoryMiB ?? DEFAULT_MEMORY_MIB;
  const memoryRule = FARGATE_MEMORY_BY_CPU[cpu];
  p.check(memoryRule !== undefined, 'cpu', `must be a Fargate size (${Object.keys(FARGATE_MEMORY_BY_CPU).join(', ')})`, cpu);
  if (memoryRule) p.check(memoryRule(memory), 'memoryMiB', `must be a Fargate memory size for cpu ${cpu}`, memory);
  const target = props.cpuTargetPercent ?? DEFAULT_CPU_TARGET_PERCENT;
  p.check(target >= 10 && target <= 90, 'cpuTargetPercent', 'must be between 10 and 90', target);
  const lag = props.iteratorAgeAlarmMs ?? DEFAULT_ITERATOR_AGE_ALARM_MS;
  p.check(Number.isInteger(lag) && lag >= 1000, 'iteratorAgeAlarmMs', 'must be an integer >= 1000', lag);
  p.throwIfAny();
}

export class ProcessingService extends Construct {
  /** The cluster's name, known before the cluster exists (the data key's policy names it). */
  static clusterName(environment: string): string {
    return `vitals-${environment}`;
  }

  /** The processor task role's name, known before the role exists (the PHI keys' policies name it). */
  static taskRoleName(environment: string): string {
    return `vitals-processor-task-${environment}`;
  }

  public readonly cluster: EcsCluster;
  public readonly logGroup: CloudwatchLogGroup;
  public readonly taskRole: IamRole;
  public readonly executionRole: IamRole;
  public readonly migrationExecutionRole: IamRole;
  public readonly opsExecutionRole: IamRole;
  /** The requeue-request task's role: connect as the ops database role; no key, no stream, no secret. */
  public readonly opsTaskRole: IamRole;
  public readonly taskDefinition: EcsTaskDefinition;
  public readonly migrationTaskDefinition: EcsTaskDefinition;
  public readonly opsTaskDefinition: EcsTaskDefinition;
  /** Break-glass SQL: the migration container under its own family, logging to a short-lived group. */
  public readonly breakGlassTaskDefinition: EcsTaskDefinition;
  public readonly breakGlassLogGroup: CloudwatchLogGroup;
  public readonly service: EcsService;
  public readonly scalableTarget: AppautoscalingTarget;
  public readonly cpuScalingPolicy: AppautoscalingPolicy;
  public readonly iteratorAgeScalingPolicy: AppautoscalingPolicy;
  public readonly iteratorAgeAlarm: CloudwatchMetricAlarm;
  /** Autoscaling bounds (max = shard count, at least the minimum). */
  public readonly minCapacity: number;
  public readonly maxCapacity: number;

  constructor(scope: Construct, id: string, props: ProcessingServiceProps) {
    super(scope, id);
    validate(id, props);

    const env = props.environment;
    const { region, accountId, stream, database } = props;
    const partition = props.partition ?? 'aws';
    const desiredCount = props.desiredCount ?? DEFAULT_DESIRED_COUNT;
    const imageUri = props.imageUri;

    this.logGroup = new CloudwatchLogGroup(this, 'LogGroup', {
      name: `/ecs/vitals-processor-${env}`,
      kmsKeyId: props.logsKeyArn,
      retentionInDays: props.logRetentionDays ?? DEFAULT_LOG_RETENTION_DAYS,
    });

    this.cluster = new EcsCluster(this, 'Cluster', {
      name: ProcessingService.clusterName(env),
      setting: [{ name: 'containerInsights', value: 'enabled' }],
      // ECS Exec is disabled on the service; should an operator ever enable it, sessions are
      // encrypted with our key and logged to the encrypted group, not to an unencrypted default.
      configuration: {
        // Fargate otherwise encrypts ephemeral storage with an AWS-owned key.
        managedStorageConfiguration: { fargateEphemeralStorageKmsKeyId: props.ephemeralStorageKeyArn },
        executeCommandConfiguration: {
          kmsKeyId: props.logsKeyArn,
          logging: 'OVERRIDE',
          logConfiguration: { cloudWatchEncryptionEnabled: true, cloudWatchLogGroupName: this.logGroup.name },
        },
      },
    });

    // ---- IAM -------------------------------------------------------------------------------
    const ecsTasksTrust = new DataAwsIamPolicyDocument(this, 'EcsTasksTrust', {
      statement: [
        {
          actions: ['sts:AssumeRole'],
          principals: [{ type: 'Service', identifiers: ['ecs-tasks.amazonaws.com'] }],
          // Confused-deputy guard: only ECS acting for this account may assume the roles.
          condition: [
            { test: 'StringEquals', variable: 'aws:SourceAccount', values: [accountId] },
            { test: 'ArnLike', variable: 'aws:SourceArn', values: [`arn:${partition}:ecs:${region}:${accountId}:*`] },
          ],
        },
      ],
    });
    const role = (roleId: string, name: string, statements: DataAwsIamPolicyDocumentStatement[]): IamRole => {
      const r = new IamRole(this, roleId, { name, assumeRolePolicy: ecsTasksTrust.json });
      const doc = new DataAwsIamPolicyDocument(this, `${roleId}PolicyDocument`, { statement: statements });
      new IamRolePolicy(this, `${roleId}Policy`, { name: `${name}-policy`, role: r.id, policy: doc.json });
      return r;
    };

    const pullAndLog: DataAwsIamPolicyDocumentStatement[] = [
      {
        sid: 'EcrAuthToken',
        actions: ['ecr:GetAuthorizationToken'],
        // The one non-ARN resource: GetAuthorizationToken is account-wide and supports no
        // resource-level permission (AWS documents "*" as its only resource).
        resources: ['*'],
      },
      { sid: 'EcrPull', actions: [...ECR_PULL_ACTIONS], resources: [props.repositoryArn] },
      { sid: 'Logs', actions: [...LOG_WRITE_ACTIONS], resources: [`${this.logGroup.arn}:log-stream:*`] },
    ];

    this.executionRole = role('ExecutionRole', `vitals-processor-exec-${env}`, pullAndLog);
    // The migration task gets the master secret injected by ECS; nothing else does.
    const pullLogAndMasterSecret: DataAwsIamPolicyDocumentStatement[] = [
      ...pullAndLog,
      { sid: 'MasterSecret', actions: ['secretsmanager:GetSecretValue'], resources: [database.masterSecretArn] },
      {
        sid: 'MasterSecretKey',
        actions: ['kms:Decrypt'],
        resources: [database.secretKeyArn],
        condition: [{ test: 'StringEquals', variable: 'kms:ViaService', values: [`secretsmanager.${region}.amazonaws.com`] }],
      },
    ];
    this.migrationExecutionRole = role('MigrationExecutionRole', `vitals-migrate-exec-${env}`, pullLogAndMasterSecret);
    this.opsExecutionRole = role('OpsExecutionRole', `vitals-ops-exec-${env}`, pullAndLog);
    const dbUser = (user: string): string => `arn:${partition}:rds-db:${region}:${accountId}:dbuser:${database.clusterResourceId}/${user}`;
    const viaKinesis = [{ test: 'StringEquals', variable: 'kms:ViaService', values: [`kinesis.${region}.amazonaws.com`] }];
    this.opsTaskRole = role('OpsTaskRole', `vitals-ops-task-${env}`, [
      { sid: 'DatabaseConnect', actions: ['rds-db:connect'], resources: [dbUser(database.opsUser ?? DEFAULT_OPS_DB_USER)] },
    ]);
    this.taskRole = role('TaskRole', ProcessingService.taskRoleName(env), [
      { sid: 'StreamRead', actions: [...STREAM_READ_ACTIONS], resources: [stream.arn] },
      // PutRecords: the requeue sweep puts requested dead letters back (src/processor/requeue-sweep.ts).
      { sid: 'StreamWrite', actions: [...STREAM_WRITE_ACTIONS], resources: [stream.arn] },
      { sid: 'StreamKey', actions: ['kms:Decrypt', ...STREAM_PRODUCER_KEY_ACTIONS], resources: [stream.keyArn], condition: viaKinesis },
      { sid: 'DatabaseConnect', actions: ['rds-db:connect'], resources: [dbUser(database.processorUser)] },
      // Each key serves one purpose; its encryption context (PATIENT_ID_PURPOSE, DEAD_LETTER_PURPOSE)
      // is bound cryptographically by KMS (src/infra/keys.ts says why it is not a policy condition).
      { sid: 'PhiEnvelope', actions: [...PHI_KEY_ACTIONS], resources: [props.phiKeyArn] },
      { sid: 'DeadLetterEnvelope', actions: [...PHI_KEY_ACTIONS], resources: [props.deadLetterKeyArn] },
      { sid: 'PatientPseudonym', actions: [...HMAC_KEY_ACTIONS], resources: [props.hmacKeyArn] },
      // The outbox relay (src/processor/alert-delivery.ts) publishes to this one bus. EventBridge uses
      // the bus's key itself (its key policy), so the task needs no KMS permission for it.
      ...(props.alertEventBus ? [{ sid: 'AlertPublish', actions: [...ALERT_PUBLISH_ACTIONS], resources: [props.alertEventBus.arn] }] : []),
    ]);

    // ---- Task definitions -----------------------------------------------------------------
    const dbPort = Token.asString(database.port);
    const logConfiguration = (streamPrefix: string) => ({
      logDriver: 'awslogs',
      options: {
        'awslogs-group': this.logGroup.name,
        'awslogs-region': region,
        'awslogs-stream-prefix': streamPrefix,
        // Never let a slow log pipe block the processor (it would stall the stream).
        mode: 'non-blocking',
        'max-buffer-size': '25m',
      },
    });
    const hardened = {
      essential: true,
      user: CONTAINER_USER,
      readonlyRootFilesystem: true,
      privileged: false,
      mountPoints: [{ sourceVolume: TMP_VOLUME, containerPath: '/tmp', readOnly: false }],
      linuxParameters: { initProcessEnabled: true, capabilities: { drop: ['ALL'] } },
    };
    const runtimePlatform = {
      operatingSystemFamily: 'LINUX',
      cpuArchitecture: props.cpuArchitecture ?? CpuArchitecture.X86_64,
    };
    const env_ = (vars: Record<string, string>) => Object.entries(vars).map(([name, value]) => ({ name, value }));

    const processorContainer = {
      name: 'processor',
      image: imageUri,
      command: [...PROCESSOR_COMMAND],
      ...hardened,
      stopTimeout: STOP_TIMEOUT_SECONDS,
      // The runtime contract (docs/design.md): never a password; DB_AUTH=iam signs tokens with the task role.
      environment: env_({
        NODE_ENV: 'production',
        ENVIRONMENT: env, // the processor's EMF metric dimension
        AWS_REGION: region,
        STREAM_NAME: stream.name,
        DB_HOST: database.endpoint,
        DB_PORT: dbPort,
        DB_NAME: database.name,
        DB_USER: database.processorUser,
        DB_AUTH: 'iam',
        DB_SSL_CA_FILE: RDS_CA_BUNDLE_PATH,
        PHI_KMS_KEY_ARN: props.phiKeyArn,
        PATIENT_HMAC_KMS_KEY_ARN: props.hmacKeyArn,
        DEAD_LETTER_KMS_KEY_ARN: props.deadLetterKeyArn,
        HEALTH_PORT: String(HEALTH_PORT),
        LOG_LEVEL: props.logLevel ?? LogLevel.INFO,
        ...(props.alertEventBus ? { ALERT_EVENT_BUS_NAME: props.alertEventBus.name } : {}),
      }),
      healthCheck: {
        command: ['CMD', ...HEALTHCHECK_COMMAND],
        interval: 15,
        timeout: 5,
        retries: 3,
        startPeriod: 30,
      },
      logConfiguration: logConfiguration('processor'),
    };

    this.taskDefinition = new EcsTaskDefinition(this, 'TaskDefinition', {
      family: `vitals-processor-${env}`,
      requiresCompatibilities: ['FARGATE'],
      networkMode: 'awsvpc',
      cpu: String(props.cpu ?? DEFAULT_CPU),
      memory: String(props.memoryMiB ?? DEFAULT_MEMORY_MIB),
      executionRoleArn: this.executionRole.arn,
      taskRoleArn: this.taskRole.arn,
      runtimePlatform,
      volume: [{ name: TMP_VOLUME }],
      containerDefinitions: JSON.stringify([processorContainer]),
    });

    const migrationContainer = {
      name: 'migrate',
      image: imageUri,
      ...hardened,
      command: [...MIGRATION_COMMAND],
      environment: env_({
        NODE_ENV: 'production',
        DB_HOST: database.endpoint,
        DB_PORT: dbPort,
        DB_NAME: database.name,
        DB_SSL_CA_FILE: RDS_CA_BUNDLE_PATH,
        // The dedupe horizon (event ids kept) must outlast the stream's retention (docs/design.md).
        STREAM_RETENTION_HOURS: Token.asString(stream.retentionHours),
        EVENT_ID_RETENTION_DAYS: String(eventIdRetentionDays(stream.retentionHours)),
      }),
      // ECS reads the rotated master secret at task start; the values never appear in Terraform.
      secrets: [
        { name: 'DB_ADMIN_USER', valueFrom: `${database.masterSecretArn}:username::` },
        { name: 'DB_ADMIN_PASSWORD', valueFrom: `${database.masterSecretArn}:password::` },
      ],
      logConfiguration: logConfiguration('migrate'),
    };

    // Run as a one-off task (`aws ecs run-task`) in the private subnets with the processor
    // security group, which the database admits. No task role: migrations call no AWS API.
    this.migrationTaskDefinition = new EcsTaskDefinition(this, 'MigrationTaskDefinition', {
      family: `vitals-migrate-${env}`,
      requiresCompatibilities: ['FARGATE'],
      networkMode: 'awsvpc',
      cpu: String(MIGRATION_CPU),
      memory: String(MIGRATION_MEMORY_MIB),
      executionRoleArn: this.migrationExecutionRole.arn,
      runtimePlatform,
      volume: [{ name: TMP_VOLUME }],
      containerDefinitions: JSON.stringify([migrationContainer]),
    });

    // The dead-letter requeue request (src/db/requeue-dead-letters.ts), a one-off task: it logs in as
    // the ops database role with IAM auth and may only mark dead letters for the processor to requeue.
    const opsContainer = {
      name: 'ops',
      image: imageUri,
      ...hardened,
      command: [...OPS_COMMAND],
      environment: env_({
        NODE_ENV: 'production',
        AWS_REGION: region,
        DB_HOST: database.endpoint,
        DB_PORT: dbPort,
        DB_NAME: database.name,
        DB_USER: database.opsUser ?? DEFAULT_OPS_DB_USER,
        DB_AUTH: 'iam',
        DB_SSL_CA_FILE: RDS_CA_BUNDLE_PATH,
      }),
      logConfiguration: logConfiguration('ops'),
    };
    this.opsTaskDefinition = new EcsTaskDefinition(this, 'OpsTaskDefinition', {
      family: `vitals-ops-${env}`,
      requiresCompatibilities: ['FARGATE'],
      networkMode: 'awsvpc',
      cpu: String(MIGRATION_CPU),
      memory: String(MIGRATION_MEMORY_MIB),
      executionRoleArn: this.opsExecutionRole.arn,
      taskRoleArn: this.opsTaskRole.arn,
      runtimePlatform,
      volume: [{ name: TMP_VOLUME }],
      containerDefinitions: JSON.stringify([opsContainer]),
    });

    // Break-glass SQL (docs/runbook.md): a named family, so every run is a RunTask of
    // `vitals-breakglass-<env>` in CloudTrail (with its overrides), and its output goes to a log group
    // kept BREAK_GLASS_LOG_RETENTION_DAYS, never to the 365-day processor group.
    this.breakGlassLogGroup = new CloudwatchLogGroup(this, 'BreakGlassLogGroup', {
      name: `/vitals/${env}/break-glass`,
      kmsKeyId: props.logsKeyArn,
      retentionInDays: BREAK_GLASS_LOG_RETENTION_DAYS,
    });
    const breakGlassExecutionRole = role('BreakGlassExecutionRole', `vitals-breakglass-exec-${env}`, [
      ...pullLogAndMasterSecret.filter((st) => st.sid !== 'Logs'),
      { sid: 'Logs', actions: [...LOG_WRITE_ACTIONS], resources: [`${this.breakGlassLogGroup.arn}:log-stream:*`] },
    ]);
    this.breakGlassTaskDefinition = new EcsTaskDefinition(this, 'BreakGlassTaskDefinition', {
      family: `vitals-breakglass-${env}`,
      requiresCompatibilities: ['FARGATE'],
      networkMode: 'awsvpc',
      cpu: String(MIGRATION_CPU),
      memory: String(MIGRATION_MEMORY_MIB),
      executionRoleArn: breakGlassExecutionRole.arn,
      runtimePlatform,
      volume: [{ name: TMP_VOLUME }],
      containerDefinitions: JSON.stringify([{
        ...migrationContainer,
        name: 'breakglass',
        logConfiguration: { ...logConfiguration('breakglass'), options: { ...logConfiguration('breakglass').options, 'awslogs-group': this.breakGlassLogGroup.name } },
      }]),
    });

    // ---- Service --------------------------------------------------------------------------
    this.service = new EcsService(this, 'Service', {
      name: `vitals-processor-${env}`,
      cluster: this.cluster.arn,
      taskDefinition: this.taskDefinition.arn,
      desiredCount,
      launchType: 'FARGATE',
      platformVersion: 'LATEST',
      networkConfiguration: {
        subnets: props.subnetIds,
        securityGroups: props.securityGroupIds,
        assignPublicIp: false,
      },
      // Fargate has no placement strategies: it spreads a service's tasks across the AZs of the
      // given subnets on its own, and AZ rebalancing moves them back after an AZ recovers.
      availabilityZoneRebalancing: 'ENABLED',
      deploymentCircuitBreaker: { enable: true, rollback: true },
      deploymentMinimumHealthyPercent: 100,
      deploymentMaximumPercent: 200,
      enableExecuteCommand: false,
      propagateTags: 'SERVICE',
      enableEcsManagedTags: true,
      // Application Auto Scaling owns the running count after creation.
      lifecycle: { ignoreChanges: ['desired_count'] },
    });

    // ---- Autoscaling ----------------------------------------------------------------------
    // A shard is leased by one consumer at a time, so tasks beyond the shard count would idle.
    this.minCapacity = desiredCount;
    this.maxCapacity = isKnown(stream.shardCount)
      ? Math.max(stream.shardCount, desiredCount)
      : Token.asNumber(Fn.max([stream.shardCount, desiredCount]));

    this.scalableTarget = new AppautoscalingTarget(this, 'ScalableTarget', {
      serviceNamespace: 'ecs',
      scalableDimension: 'ecs:service:DesiredCount',
      resourceId: `service/${this.cluster.name}/${this.service.name}`,
      minCapacity: this.minCapacity,
      maxCapacity: this.maxCapacity,
    });
    const target = {
      serviceNamespace: this.scalableTarget.serviceNamespace,
      scalableDimension: this.scalableTarget.scalableDimension,
      resourceId: this.scalableTarget.resourceId,
    };

    this.cpuScalingPolicy = new AppautoscalingPolicy(this, 'CpuScaling', {
      name: `vitals-processor-cpu-${env}`,
      policyType: 'TargetTrackingScaling',
      ...target,
      targetTrackingScalingPolicyConfiguration: {
        targetValue: props.cpuTargetPercent ?? DEFAULT_CPU_TARGET_PERCENT,
        predefinedMetricSpecification: { predefinedMetricType: 'ECSServiceAverageCPUUtilization' },
        scaleInCooldown: 300,
        scaleOutCooldown: 60,
      },
    });

    // Consumer lag. Step scaling on an alarm rather than target tracking: iterator age does not
    // fall in proportion to task count (target tracking's assumption) and sits near zero when
    // healthy, so a target-tracking policy on it would keep voting to scale in. The step policy
    // only adds tasks; scale-in stays with the CPU policy.
    const lagThresholdMs = props.iteratorAgeAlarmMs ?? DEFAULT_ITERATOR_AGE_ALARM_MS;
    this.iteratorAgeScalingPolicy = new AppautoscalingPolicy(this, 'IteratorAgeScaling', {
      name: `vitals-processor-lag-${env}`,
      policyType: 'StepScaling',
      ...target,
      stepScalingPolicyConfiguration: {
        adjustmentType: 'ChangeInCapacity',
        metricAggregationType: 'Maximum',
        cooldown: 120,
        stepAdjustment: [
          // Bounds are relative to the alarm threshold: lag up to 4 threshold-widths adds one
          // task, more adds two.
          { metricIntervalLowerBound: '0', metricIntervalUpperBound: String(lagThresholdMs * 4), scalingAdjustment: 1 },
          { metricIntervalLowerBound: String(lagThresholdMs * 4), scalingAdjustment: 2 },
        ],
      },
    });
    this.iteratorAgeAlarm = new CloudwatchMetricAlarm(this, 'IteratorAgeAlarm', {
      alarmName: `vitals-processor-lag-${env}`,
      alarmDescription: `Processor lag: oldest unread record on ${stream.name} older than ${lagThresholdMs} ms; scales the service out.`,
      namespace: 'AWS/Kinesis',
      metricName: 'GetRecords.IteratorAgeMilliseconds',
      dimensions: { StreamName: stream.name },
      statistic: 'Maximum',
      period: 60,
      evaluationPeriods: 3,
      datapointsToAlarm: 2,
      threshold: lagThresholdMs,
      comparisonOperator: 'GreaterThanOrEqualToThreshold',
      treatMissingData: 'notBreaching',
      alarmActions: [this.iteratorAgeScalingPolicy.arn],
    });
  }

  get clusterName(): string {
    return this.cluster.name;
  }
  get clusterArn(): string {
    return this.cluster.arn;
  }
  get serviceName(): string {
    return this.service.name;
  }
  get taskRoleArn(): string {
    return this.taskRole.arn;
  }
  get executionRoleArn(): string {
    return this.executionRole.arn;
  }
  get logGroupName(): string {
    return this.logGroup.name;
  }
  get logGroupArn(): string {
    return this.logGroup.arn;
  }
  get taskDefinitionArn(): string {
    return this.taskDefinition.arn;
  }
  get migrationTaskDefinitionArn(): string {
    return this.migrationTaskDefinition.arn;
  }
  get breakGlassTaskDefinitionArn(): string {
    return this.breakGlassTaskDefinition.arn;
  }
  get opsTaskDefinitionArn(): string {
    return this.opsTaskDefinition.arn;
  }
}
