/**
 * The processor's settings, parsed once at start-up from the environment (docs/design.md, "Processor
 * runtime contract"). Every problem is reported at once, naming the variable; in production every
 * AWS-side variable is mandatory and nothing falls back to a local default.
 */
import { hostname } from 'node:os';
import type { DbSettings } from '../adapters/db';
import { envReader } from '../adapters/env-reader';
import { DEFAULT_ESCALATION_AFTER_MS, DEFAULT_ESCALATION_TARGETS, parseEscalationTargets, type EscalationPolicy } from '../alerts/escalation';

export type PhiSettings =
  | { readonly kind: 'kms'; readonly region: string; readonly phiKeyArn: string; readonly hmacKeyArn: string; readonly deadLetterKeyArn: string }
  | { readonly kind: 'local'; readonly keyFile: string };

export interface ProcessorConfig {
  readonly production: boolean;
  /** Metric dimension, e.g. `dev`, `prod`. */
  readonly environment: string;
  readonly region: string;
  readonly streamName: string;
  readonly kinesisEndpoint?: string;
  readonly db: DbSettings;
  readonly phi: PhiSettings;
  readonly workerId: string;
  readonly healthPort: number;
  readonly logLevel: string;
  readonly news2WindowMs: number;
  /** A lease not renewed for this long may be taken by another worker. */
  readonly leaseTtlMs: number;
  readonly leaseRenewMs: number;
  /** How often ListShards is called to find new shards (reshards). */
  readonly shardSyncMs: number;
  /** Sleep after an empty GetRecords (Kinesis: at most 5 calls/s/shard; 1 s idle is the KCL default). */
  readonly idlePollMs: number;
  readonly maxRecordsPerCall: number;
  readonly shutdownDeadlineMs: number;
  readonly metricsFlushMs: number;
  /** A shard failing without progress for longer than this makes /health answer 503. */
  readonly shardStallUnhealthyMs: number;
  /** How often the requeue sweep looks for requeues operators requested (src/processor/requeue-sweep.ts). */
  readonly requeueSweepMs: number;
  /** No lease renewal (database unreachable or read-only) for longer than this makes /health report `degraded`. */
  readonly dbUnreachableDegradedMs: number;
  readonly alerts: AlertDeliverySettings;
}

/** Alert delivery (issue 12): the relay and the escalation scheduler run inside the processor. */
export interface AlertDeliverySettings {
  /** The EventBridge bus; unset (local only): no relay runs, transitions wait in the outbox. */
  readonly eventBusName?: string;
  /** A local bus speaking the PutEvents protocol (never in production). */
  readonly eventsEndpoint?: string;
  readonly escalation: EscalationPolicy;
  readonly relayPollMs: number;
  readonly escalationCheckMs: number;
}

/**
 * 5 minutes: longer than an Aurora failover (typically under a minute), a few statement timeouts
 * (60 s each) and the capped backoff (10 s), so a transient outage does not cycle tasks, yet a stuck
 * shard is replaced within minutes (ECS then needs 3 failed checks 15 s apart).
 */
export const DEFAULT_SHARD_STALL_UNHEALTHY_MS = 5 * 60_000;

/**
 * 10 s, one default lease TTL: a terminated connection or a single failed renewal is reconnected
 * well within it (no report), while an outage long enough for other workers' leases to expire is
 * reported as `degraded` (health, an error log line, LeaseCycleFailures).
 */
export const DEFAULT_DB_UNREACHABLE_DEGRADED_MS = 10_000;

/**
 * 2,000 records per GetRecords, i.e. per transaction (Kinesis allows 10,000): bounded batches keep
 * the processor's memory and each transaction's row locks small (issue 11: 10,000 meant ~23,000 rows
 * per transaction, ~340 MB RSS). At 5 calls/s a shard still drains 10,000 records/s, more than its
 * 2 MB/s read limit carries.
 */
export const DEFAULT_MAX_RECORDS_PER_CALL = 2_000;

export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid processor configuration: ${problems.join('; ')}`);
    this.name = 'ConfigError';
  }
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
const KMS_ARN = /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key|alias)\/.+$/;

export function loadConfig(env: NodeJS.ProcessEnv = process.env): ProcessorConfig {
  const problems: string[] = [];
  const { production, get, need, forbidInProduction } = envReader(env, problems);
  const int = (name: string, raw: string | undefined, fallback: number, min: number, max: number): number => {
    if (raw === undefined || raw === '') return fallback; // a missing required value is reported by need()
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) {
      problems.push(`${name} must be an integer ${min}..${max}; received ${JSON.stringify(raw)}`);
      return fallback;
    }
    return n;
  };

  const region = need('AWS_REGION', 'eu-central-2');
  const streamName = need('STREAM_NAME');
  const kinesisEndpoint = get('KINESIS_ENDPOINT');
  forbidInProduction('KINESIS_ENDPOINT');
  if (kinesisEndpoint && !/^https?:\/\/.+/.test(kinesisEndpoint)) {
    problems.push(`KINESIS_ENDPOINT must be an http(s) URL; received ${JSON.stringify(kinesisEndpoint)}`);
  }

  const dbHost = need('DB_HOST');
  const dbPort = int('DB_PORT', need('DB_PORT', '5432'), 5432, 1, 65535);
  const dbName = need('DB_NAME');
  const dbUser = need('DB_USER', 'vitals_processor');
  const sslCaFile = need('DB_SSL_CA_FILE');
  const dbAuth = need('DB_AUTH', 'password');
  let auth: DbSettings['auth'] = { kind: 'iam', region };
  if (dbAuth === 'password') {
    if (production) problems.push('DB_AUTH must be iam when NODE_ENV=production (no database password on AWS)');
    const password = get('DB_PASSWORD');
    if (password === undefined) problems.push('missing environment variable DB_PASSWORD (required with DB_AUTH=password)');
    auth = { kind: 'password', password: password ?? '' };
  } else if (dbAuth === 'iam') {
    if (get('DB_PASSWORD') !== undefined) problems.push('DB_PASSWORD must not be set with DB_AUTH=iam');
  } else if (dbAuth !== '') {
    problems.push(`DB_AUTH must be iam or password; received ${JSON.stringify(dbAuth)}`);
  }

  let phi: PhiSettings;
  const phiKeyArn = get('PHI_KMS_KEY_ARN');
  const hmacKeyArn = get('PATIENT_HMAC_KMS_KEY_ARN');
  const deadLetterKeyArn = get('DEAD_LETTER_KMS_KEY_ARN');
  forbidInProduction('PHI_LOCAL_KEY_FILE');
  if (production || phiKeyArn || hmacKeyArn || deadLetterKeyArn) {
    const phiArn = need('PHI_KMS_KEY_ARN');
    const hmacArn = need('PATIENT_HMAC_KMS_KEY_ARN');
    const deadLetterArn = need('DEAD_LETTER_KMS_KEY_ARN');
    for (const [name, v] of [['PHI_KMS_KEY_ARN', phiArn], ['PATIENT_HMAC_KMS_KEY_ARN', hmacArn], ['DEAD_LETTER_KMS_KEY_ARN', deadLetterArn]] as const) {
      if (v && !KMS_ARN.test(v)) problems.push(`${name} must be a KMS key or alias ARN; received ${JSON.stringify(v)}`);
    }
    // One key per purpose: the same key for both would let a dead-letter grant unwrap patient ids' data keys.
    if (phiArn && phiArn === deadLetterArn) problems.push('DEAD_LETTER_KMS_KEY_ARN must differ from PHI_KMS_KEY_ARN (one key per purpose)');
    phi = { kind: 'kms', region, phiKeyArn: phiArn, hmacKeyArn: hmacArn, deadLetterKeyArn: deadLetterArn };
  } else {
    phi = { kind: 'local', keyFile: need('PHI_LOCAL_KEY_FILE', '.local/keys/phi.key') };
  }

  // Behaviour settings, not AWS-side ones: the same defaults everywhere.
  const logLevel = get('LOG_LEVEL') ?? 'info';
  if (logLevel && !LOG_LEVELS.includes(logLevel)) problems.push(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}; received ${JSON.stringify(logLevel)}`);
  const windowMinutes = int('NEWS2_WINDOW_MINUTES', get('NEWS2_WINDOW_MINUTES'), 60, 1, 24 * 60);
  const healthPort = int('HEALTH_PORT', get('HEALTH_PORT'), 8080, 1, 65535);
  // Not an AWS-side setting: any id unique among live workers will do (on Fargate the hostname is
  // unique per task; the task definition cannot inject the task id itself).
  const workerId = get('WORKER_ID') ?? `${hostname()}-${process.pid}`;

  // Tuning knobs (optional everywhere; defaults follow the KCL's).
  const leaseTtlMs = int('LEASE_TTL_MS', get('LEASE_TTL_MS'), 10_000, 1_000, 600_000);
  const leaseRenewMs = int('LEASE_RENEW_MS', get('LEASE_RENEW_MS'), Math.floor(leaseTtlMs / 3), 100, 600_000);
  if (leaseRenewMs * 2 > leaseTtlMs) problems.push(`LEASE_RENEW_MS must be at most half of LEASE_TTL_MS; received ${leaseRenewMs} and ${leaseTtlMs}`);
  const shardSyncMs = int('SHARD_SYNC_MS', get('SHARD_SYNC_MS'), 30_000, 100, 3_600_000);
  const idlePollMs = int('IDLE_POLL_MS', get('IDLE_POLL_MS'), 1_000, 200, 60_000);
  const maxRecordsPerCall = int('MAX_RECORDS_PER_CALL', get('MAX_RECORDS_PER_CALL'), DEFAULT_MAX_RECORDS_PER_CALL, 1, 10_000);
  const shutdownDeadlineMs = int('SHUTDOWN_DEADLINE_MS', get('SHUTDOWN_DEADLINE_MS'), 30_000, 1_000, 55_000);
  const metricsFlushMs = int('METRICS_FLUSH_MS', get('METRICS_FLUSH_MS'), 10_000, 100, 300_000);
  const requeueSweepMs = int('REQUEUE_SWEEP_MS', get('REQUEUE_SWEEP_MS'), 30_000, 1_000, 3_600_000);
  const shardStallUnhealthyMs = int('SHARD_STALL_UNHEALTHY_MS', get('SHARD_STALL_UNHEALTHY_MS'), DEFAULT_SHARD_STALL_UNHEALTHY_MS, 10_000, 3_600_000);
  const dbUnreachableDegradedMs = int('DB_UNREACHABLE_DEGRADED_MS', get('DB_UNREACHABLE_DEGRADED_MS'), DEFAULT_DB_UNREACHABLE_DEGRADED_MS, 1_000, 3_600_000);
  if (dbUnreachableDegradedMs <= leaseRenewMs || dbUnreachableDegradedMs >= shardStallUnhealthyMs) {
    problems.push(
      `DB_UNREACHABLE_DEGRADED_MS must be greater than LEASE_RENEW_MS and less than SHARD_STALL_UNHEALTHY_MS; received ${dbUnreachableDegradedMs} (LEASE_RENEW_MS ${leaseRenewMs}, SHARD_STALL_UNHEALTHY_MS ${shardStallUnhealthyMs})`,
    );
  }
  const eventBusName = get('ALERT_EVENT_BUS_NAME');
  if (eventBusName && !/^[A-Za-z0-9._\-/]{1,256}$/.test(eventBusName)) problems.push(`ALERT_EVENT_BUS_NAME must be an event bus name; received ${JSON.stringify(eventBusName)}`);
  const eventsEndpoint = get('EVENTS_ENDPOINT');
  forbidInProduction('EVENTS_ENDPOINT');
  if (eventsEndpoint && !/^https?:\/\/.+/.test(eventsEndpoint)) problems.push(`EVENTS_ENDPOINT must be an http(s) URL; received ${JSON.stringify(eventsEndpoint)}`);
  const escalationSeconds = int('ALERT_ESCALATION_SECONDS', get('ALERT_ESCALATION_SECONDS'), DEFAULT_ESCALATION_AFTER_MS / 1000, 1, 86_400);
  let escalationTargets: Record<string, readonly string[]> = { ...DEFAULT_ESCALATION_TARGETS };
  const rawTargets = get('ALERT_ESCALATION_TARGETS');
  if (rawTargets) {
    try {
      escalationTargets = parseEscalationTargets(rawTargets);
    } catch (err) {
      problems.push((err as Error).message);
    }
  }
  const relayPollMs = int('ALERT_RELAY_POLL_MS', get('ALERT_RELAY_POLL_MS'), 1_000, 50, 60_000);
  const escalationCheckMs = int('ALERT_ESCALATION_CHECK_MS', get('ALERT_ESCALATION_CHECK_MS'), 1_000, 100, 60_000);
  // Only a metric dimension: the task definition should set it (dev, prod, ...).
  const environment = get('ENVIRONMENT') ?? (production ? 'production' : 'local');

  if (problems.length > 0) throw new ConfigError(problems);
  return {
    production,
    environment,
    region,
    streamName,
    kinesisEndpoint,
    db: { host: dbHost, port: dbPort, database: dbName, user: dbUser, sslCaFile, auth },
    phi,
    workerId,
    healthPort,
    logLevel,
    news2WindowMs: windowMinutes * 60_000,
    leaseTtlMs,
    leaseRenewMs,
    shardSyncMs,
    idlePollMs,
    maxRecordsPerCall,
    shutdownDeadlineMs,
    metricsFlushMs,
    shardStallUnhealthyMs,
    dbUnreachableDegradedMs,
    requeueSweepMs,
    alerts: {
      eventBusName,
      eventsEndpoint,
      escalation: { afterMs: escalationSeconds * 1000, targets: escalationTargets },
      relayPollMs,
      escalationCheckMs,
    },
  };
}
