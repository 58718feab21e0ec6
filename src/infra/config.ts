/**
 * Deployment settings, read once (environment variables, then cdktf context) and validated as a
 * whole: every violation is collected and reported in one error naming the setting, the rule and the
 * received value. Everything else in src/infra receives typed values from here, never reads env.
 */

/** Project prefix of every physical name (`vitals-<component>-<env>`). */
export const PROJECT = 'vitals';

/**
 * Commercial-partition regions with at least three availability zones (the network spreads over
 * three). us-west-1 is left out on purpose: new accounts get only two AZs there.
 */
export const SUPPORTED_REGIONS = [
  'af-south-1', 'ap-east-1', 'ap-east-2', 'ap-northeast-1', 'ap-northeast-2', 'ap-northeast-3',
  'ap-south-1', 'ap-south-2', 'ap-southeast-1', 'ap-southeast-2', 'ap-southeast-3', 'ap-southeast-4',
  'ap-southeast-5', 'ap-southeast-7', 'ca-central-1', 'ca-west-1', 'eu-central-1', 'eu-central-2',
  'eu-north-1', 'eu-south-1', 'eu-south-2', 'eu-west-1', 'eu-west-2', 'eu-west-3', 'il-central-1',
  'me-central-1', 'me-south-1', 'mx-central-1', 'sa-east-1', 'us-east-1', 'us-east-2', 'us-west-2',
] as const;

/** The retention values CloudWatch Logs accepts (PutRetentionPolicy); 0 (never expire) is not offered. */
export const LOG_RETENTION_DAYS_ALLOWED = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
] as const;

/**
 * Environment suffix: lowercase alphanumeric, starting with a letter, at most 8 characters.
 * The binding limit is S3's 63 characters for bucket names: the longest name we derive is
 * `vitals-audit-<env>-<12-digit account>-<region>` = 41 + env characters with the longest region code
 * (14), so 8 keeps it at 49 and leaves room for the 32-character names of load balancer target groups
 * should one ever front the processor. Lowercase because S3, RDS and ECR names must be.
 */
export const ENVIRONMENT_PATTERN = /^[a-z][a-z0-9]{0,7}$/;
export const ENVIRONMENT_MAX_LENGTH = 8;

/**
 * Environments that hold no PHI and may be destroyed cleanly (NON_PRODUCTION_ENVIRONMENTS). Every
 * other environment name (prod, staging, a hospital's pilot, ...) is production: deletion protection,
 * final snapshots, nothing force-destroyed, audit Object Lock in COMPLIANCE mode, a locked backup
 * vault. Secure by default: a new name is protected until someone lists it here.
 */
export const DEFAULT_NON_PRODUCTION_ENVIRONMENTS = ['dev', 'test'] as const;

/** S3 Object Lock on the audit bucket (AUDIT_OBJECT_LOCK_MODE). */
export enum ObjectLockMode {
  COMPLIANCE = 'COMPLIANCE',
  GOVERNANCE = 'GOVERNANCE',
  OFF = 'OFF',
}

export const SHARD_COUNT_MIN = 1;
export const SHARD_COUNT_MAX = 500; // the default per-account, per-region shard quota in most regions
export const STREAM_RETENTION_HOURS_MIN = 24; // Kinesis bounds
export const STREAM_RETENTION_HOURS_MAX = 8760;
export const BACKUP_RETENTION_DAYS_MIN = 7; // HIPAA-grade floor (issue 2)
export const BACKUP_RETENTION_DAYS_MAX = 35; // Aurora's maximum automated backup retention
/** The AWS Config HIPAA conformance pack's default for backup-plan-min-frequency-and-min-retention-check. */
export const DEFAULT_BACKUP_RETENTION_DAYS = 35;
export const AUDIT_RETENTION_DAYS_MIN = 365;
export const DB_ACU_MIN = 0.5; // above 0: a paused cluster takes seconds to resume, too slow for real time
export const DB_ACU_MAX = 256;

/**
 * Default shard count. One shard takes 1 MB/s or 1,000 records/s of writes, whichever comes first.
 * Peak load is 1,000 events/s of ~1 KB (≈ 1 MB/s): one shard at 100 %. Designing for 10x
 * (10,000 records/s, ≈ 10 MB/s) would need 10 shards; we start at 4 (4,000 records/s, 4 MB/s: 4x the
 * peak, so a hot partition key or a burst does not throttle) and raise SHARD_COUNT towards 10 as load
 * grows: resharding is online (UpdateShardCount) and the processor's autoscaling maximum follows it.
 */
export const DEFAULT_SHARD_COUNT = 4;

export interface StateBackendSettings {
  /** S3 bucket holding every stack's state (global namespace: make STATE_PREFIX yours). */
  readonly bucket: string;
  /** DynamoDB lock table (`LockID` hash key). */
  readonly lockTable: string;
  /** KMS alias of the state key; the S3 backend encrypts state objects with it. */
  readonly keyAlias: string;
  /** Receives the state bucket's S3 server access logs: `<STATE_PREFIX>-tfstate-access-logs-<region>`. */
  readonly accessLogBucket: string;
  /** Region of the state bucket and table: the deployment region. */
  readonly region: string;
}

/** NEWS2 clinical-response bands carried as `detail.severity` (src/schema/alert-event.v1.schema.json). */
export const ALERT_SEVERITIES = ['low-medium', 'medium', 'high'] as const;
export type AlertSeverity = (typeof ALERT_SEVERITIES)[number];

/** SNS protocols a clinician-facing subscription may use (no plain HTTP: alerts leave over TLS only). */
export enum AlertSubscriptionProtocol {
  EMAIL = 'email',
  SMS = 'sms',
  HTTPS = 'https',
}

/** One subscriber of an alert topic. */
export interface AlertSubscription {
  readonly protocol: AlertSubscriptionProtocol;
  /** E-mail address, E.164 phone number or https:// URL. */
  readonly endpoint: string;
  /** Only transitions in these bands (an SNS filter policy on `detail.severity`); absent: every band. */
  readonly severities?: readonly AlertSeverity[];
}

/** The AWS side of alert delivery (src/infra/alert-delivery.ts). */
export interface AlertSettings {
  /**
   * Facility id -> subscribers of that facility's topic (ALERT_SUBSCRIPTIONS). `*` stands for every
   * facility not listed; its topic always exists, so an alert of an unlisted facility is never dropped.
   */
  readonly facilities: Readonly<Record<string, readonly AlertSubscription[]>>;
  /** Escalation routing name (the processor's ALERT_ESCALATION_TARGETS) -> subscribers (ALERT_ESCALATION_SUBSCRIPTIONS). */
  readonly escalationTargets: Readonly<Record<string, readonly AlertSubscription[]>>;
  /** Days the bus archive keeps every alert transition for replay (ALERT_ARCHIVE_RETENTION_DAYS). */
  readonly archiveRetentionDays: number;
}

/** Facility ids and escalation names become topic and rule names (EventBridge rule names: at most 64 characters). */
export const ALERT_ROUTING_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$/;
export const ALERT_ARCHIVE_RETENTION_DAYS_MIN = 1;
export const ALERT_ARCHIVE_RETENTION_DAYS_MAX = 3650;
/** The processor's default escalation tiers (src/alerts/escalation.ts DEFAULT_ESCALATION_TARGETS). */
export const DEFAULT_ALERT_ESCALATION_TARGETS = ['escalation-tier-1', 'escalation-tier-2'] as const;

export interface AppConfig {
  readonly project: string;
  /** Environment suffix carried by every physical name. */
  readonly environment: string;
  /** Not listed in NON_PRODUCTION_ENVIRONMENTS: holds PHI, protected against deletion. */
  readonly production: boolean;
  /** NON_PRODUCTION_ENVIRONMENTS: every other environment name is production. */
  readonly nonProductionEnvironments: readonly string[];
  readonly region: string;
  readonly partition: string;
  /** Three AZ names, derived from the region (`<region>a/b/c`) unless AVAILABILITY_ZONES is set. */
  readonly availabilityZones: readonly string[];
  readonly vpcCidr: string;
  readonly shardCount: number;
  readonly streamRetentionHours: number;
  readonly backupRetentionDays: number;
  readonly logRetentionDays: number;
  readonly auditRetentionDays: number;
  /** Days the S3 server access logs of the audit and state buckets are kept (ACCESS_LOG_RETENTION_DAYS). */
  readonly accessLogRetentionDays: number;
  /** Object Lock default retention of the audit bucket (AUDIT_OBJECT_LOCK_MODE, AUDIT_OBJECT_LOCK_DAYS). */
  readonly auditObjectLock: { readonly mode: ObjectLockMode; readonly days: number };
  /** AWS Backup Vault Lock (compliance mode after a 3-day grace period) on the database's vault (BACKUP_VAULT_LOCK). */
  readonly backupVaultLock: boolean;
  readonly dbEngineVersion: string;
  readonly dbMinCapacityAcu: number;
  readonly dbMaxCapacityAcu: number;
  /**
   * Whether this environment's stack manages the region's API Gateway account settings (the
   * CloudWatch logging role, one per account and region): turn off for all but one environment
   * sharing an account.
   */
  readonly manageApiGatewayAccount: boolean;
  readonly state: StateBackendSettings;
  /** E-mail addresses subscribed to the alarm topic (ALARM_EMAILS, comma-separated; none by default). */
  readonly alarmEmails: readonly string[];
  /** GitHub Actions access, created by the bootstrap stack (src/infra/ci-deploy-role.ts). */
  readonly ci: CiSettings;
  /** The HL7 gateway's reachability (src/infra/hl7-gateway.ts). */
  readonly hl7: Hl7Settings;
  /** Key administrators of every key (KEY_ADMIN_ARNS); empty = the account root (administration only, no use). */
  readonly keyAdminArns: readonly string[];
  /** Roles that may decrypt patient ids in an emergency (BREAK_GLASS_ROLE_ARNS; none by default). */
  readonly breakGlassRoleArns: readonly string[];
  /** Alert delivery on AWS: the bus's topics, their subscribers and the archive. */
  readonly alerts: AlertSettings;
  /** The ingest/FHIR REST API's edge (src/infra/ingest-api.ts; issue 9 finding 10). */
  readonly api: ApiEdgeSettings;
}

export interface ApiEdgeSettings {
  /**
   * Principals the REST API's resource policy lets invoke it (API_ALLOWED_PRINCIPAL_ARNS); empty: every
   * principal of this account (`arn:aws:iam::<account>:root`). Everyone else is explicitly denied.
   */
  readonly allowedPrincipalArns: readonly string[];
  /** Custom domain (API_DOMAIN_NAME + API_CERTIFICATE_ARN, a regional ACM certificate); the default endpoint is then off. */
  readonly customDomain?: { readonly domainName: string; readonly certificateArn: string };
  /** Whether the default execute-api endpoint answers (API_EXECUTE_API_ENDPOINT); never with a custom domain. */
  readonly executeApiEndpoint: boolean;
}

export interface Hl7Settings {
  /** IAM principals allowed to connect to the PrivateLink endpoint service (HL7_ALLOWED_PRINCIPALS). */
  readonly allowedPrincipals: readonly string[];
  /** VPN / Direct Connect ranges allowed to reach the listener (HL7_CLIENT_CIDRS). */
  readonly clientCidrs: readonly string[];
  /** IANA zone for HL7 times without an offset (HL7_LOCAL_TIME_ZONE); undefined refuses them. */
  readonly localTimeZone?: string;
}

export interface CiSettings {
  /**
   * `owner/name` of the repository whose workflows may assume the CI roles; undefined = no OIDC
   * provider and no CI roles. Deliberately not GITHUB_REPOSITORY, which Actions sets on every runner:
   * a synth in CI and one on a laptop must produce the same bootstrap stack.
   */
  readonly repository?: string;
  /** Environments that get a deploy role (each a GitHub environment with reviewers). */
  readonly environments: readonly string[];
  /** An existing GitHub OIDC provider of the account to reuse (one per account). */
  readonly oidcProviderArn?: string;
}

/** Raw settings: environment variables or cdktf context values, all strings (or absent). */
export type SettingsSource = Readonly<Record<string, string | undefined>>;

/** Names of the settings read by {@link loadConfig}, with their defaults (documented in `help`). */
export const SETTINGS = {
  ENVIRONMENT: 'dev',
  AWS_REGION: 'eu-central-2',
  AVAILABILITY_ZONES: '',
  VPC_CIDR: '10.40.0.0/16',
  SHARD_COUNT: String(DEFAULT_SHARD_COUNT),
  STREAM_RETENTION_HOURS: '168',
  NON_PRODUCTION_ENVIRONMENTS: DEFAULT_NON_PRODUCTION_ENVIRONMENTS.join(','),
  BACKUP_RETENTION_DAYS: String(DEFAULT_BACKUP_RETENTION_DAYS),
  LOG_RETENTION_DAYS: '365',
  AUDIT_RETENTION_DAYS: '2557',
  ACCESS_LOG_RETENTION_DAYS: '2557',
  /** Empty: COMPLIANCE in production, OFF elsewhere (so dev/test destroy cleanly). */
  AUDIT_OBJECT_LOCK_MODE: '',
  AUDIT_OBJECT_LOCK_DAYS: '365',
  /** Empty: on in production, off elsewhere. */
  BACKUP_VAULT_LOCK: '',
  DB_ENGINE_VERSION: '16.6',
  DB_MIN_ACU: '0.5',
  DB_MAX_ACU: '16',
  STATE_PREFIX: PROJECT,
  STATE_BUCKET: '',
  API_GATEWAY_ACCOUNT_SETTINGS: 'true',
  ALARM_EMAILS: '',
  CI_GITHUB_REPOSITORY: '',
  CI_ENVIRONMENTS: 'dev,prod',
  CI_OIDC_PROVIDER_ARN: '',
  HL7_ALLOWED_PRINCIPALS: '',
  HL7_CLIENT_CIDRS: '',
  HL7_LOCAL_TIME_ZONE: '',
  KEY_ADMIN_ARNS: '',
  BREAK_GLASS_ROLE_ARNS: '',
  /** JSON {"<facility id>|*": [{"protocol": "email|sms|https", "endpoint": "...", "severities": [...]}]}. */
  ALERT_SUBSCRIPTIONS: '{}',
  /** JSON {"<escalation routing name>": [subscription, ...]}; one topic per name. */
  ALERT_ESCALATION_SUBSCRIPTIONS: JSON.stringify(Object.fromEntries(DEFAULT_ALERT_ESCALATION_TARGETS.map((t) => [t, []]))),
  ALERT_ARCHIVE_RETENTION_DAYS: '90',
  API_ALLOWED_PRINCIPAL_ARNS: '',
  API_DOMAIN_NAME: '',
  API_CERTIFICATE_ARN: '',
  /** Empty: disabled in production (a custom domain is then required), enabled elsewhere. */
  API_EXECUTE_API_ENDPOINT: '',
} as const;
export type SettingName = keyof typeof SETTINGS;

export class ConfigError extends Error {
  constructor(readonly violations: readonly string[]) {
    super(`Invalid configuration (${violations.length} problem${violations.length === 1 ? '' : 's'}):\n  - ${violations.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

const S3_BUCKET_PATTERN = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const PREFIX_PATTERN = /^[a-z][a-z0-9-]{0,19}$/;
const CIDR_16_PATTERN = /^(\d{1,3})\.(\d{1,3})\.0\.0\/16$/;
const ENGINE_VERSION_PATTERN = /^1[6-9]\.\d+$/;

/** Parses and validates every setting; throws one {@link ConfigError} listing all violations. */
export function loadConfig(source: SettingsSource): AppConfig {
  const violations: string[] = [];
  const raw = (name: SettingName): string => {
    const value = source[name];
    return value === undefined || value.trim() === '' ? SETTINGS[name] : value.trim();
  };
  const fail = (name: SettingName, rule: string, value: string): void => {
    violations.push(`${name} ${rule}; received ${JSON.stringify(value)}`);
  };
  const number = (name: SettingName, rule: string, ok: (n: number) => boolean, integer = true): number => {
    const text = raw(name);
    const n = Number(text);
    const valid = text !== '' && Number.isFinite(n) && (!integer || Number.isInteger(n)) && ok(n);
    if (!valid) fail(name, rule, text);
    return n;
  };

  const environment = raw('ENVIRONMENT');
  if (!ENVIRONMENT_PATTERN.test(environment)) {
    fail('ENVIRONMENT', `must be lowercase alphanumeric, start with a letter and be at most ${ENVIRONMENT_MAX_LENGTH} characters (S3 bucket names are limited to 63)`, environment);
  }

  const region = raw('AWS_REGION');
  if (!(SUPPORTED_REGIONS as readonly string[]).includes(region)) {
    fail('AWS_REGION', 'must be an AWS region code with at least 3 availability zones (e.g. eu-central-2)', region);
  }

  const azText = raw('AVAILABILITY_ZONES');
  const availabilityZones = azText === '' ? ['a', 'b', 'c'].map((s) => `${region}${s}`) : azText.split(',').map((s) => s.trim());
  if (availabilityZones.length !== 3 || new Set(availabilityZones).size !== 3 || !availabilityZones.every((az) => new RegExp(`^${region}[a-z]$`).test(az))) {
    fail('AVAILABILITY_ZONES', `must be 3 distinct zones of ${region} (e.g. ${region}a,${region}b,${region}c)`, azText);
  }

  const vpcCidr = raw('VPC_CIDR');
  const cidr = CIDR_16_PATTERN.exec(vpcCidr);
  if (!cidr || Number(cidr[1]) > 255 || Number(cidr[2]) > 255) {
    fail('VPC_CIDR', 'must be an IPv4 /16 network such as 10.40.0.0/16', vpcCidr);
  }

  const shardCount = number('SHARD_COUNT', `must be an integer from ${SHARD_COUNT_MIN} to ${SHARD_COUNT_MAX}`, (n) => n >= SHARD_COUNT_MIN && n <= SHARD_COUNT_MAX);
  const streamRetentionHours = number('STREAM_RETENTION_HOURS', `must be an integer from ${STREAM_RETENTION_HOURS_MIN} to ${STREAM_RETENTION_HOURS_MAX} hours`, (n) => n >= STREAM_RETENTION_HOURS_MIN && n <= STREAM_RETENTION_HOURS_MAX);
  const backupRetentionDays = number('BACKUP_RETENTION_DAYS', `must be an integer from ${BACKUP_RETENTION_DAYS_MIN} to ${BACKUP_RETENTION_DAYS_MAX} days`, (n) => n >= BACKUP_RETENTION_DAYS_MIN && n <= BACKUP_RETENTION_DAYS_MAX);
  const logRetentionDays = number('LOG_RETENTION_DAYS', `must be one of CloudWatch Logs' retention values (${LOG_RETENTION_DAYS_ALLOWED.join(', ')})`, (n) => (LOG_RETENTION_DAYS_ALLOWED as readonly number[]).includes(n));
  const auditRetentionDays = number('AUDIT_RETENTION_DAYS', `must be an integer of at least ${AUDIT_RETENTION_DAYS_MIN} days`, (n) => n >= AUDIT_RETENTION_DAYS_MIN);
  const accessLogRetentionDays = number('ACCESS_LOG_RETENTION_DAYS', `must be an integer of at least ${AUDIT_RETENTION_DAYS_MIN} days`, (n) => n >= AUDIT_RETENTION_DAYS_MIN);

  const dbEngineVersion = raw('DB_ENGINE_VERSION');
  if (!ENGINE_VERSION_PATTERN.test(dbEngineVersion)) {
    fail('DB_ENGINE_VERSION', 'must be an Aurora PostgreSQL version 16 or later, as major.minor (e.g. 16.6)', dbEngineVersion);
  }
  const halfSteps = (n: number): boolean => Number.isInteger(n * 2);
  const dbMinCapacityAcu = number('DB_MIN_ACU', `must be from ${DB_ACU_MIN} to ${DB_ACU_MAX} in steps of 0.5 (above 0: the cluster never pauses)`, (n) => n >= DB_ACU_MIN && n <= DB_ACU_MAX && halfSteps(n), false);
  const dbMaxCapacityAcu = number('DB_MAX_ACU', `must be from ${DB_ACU_MIN} to ${DB_ACU_MAX} in steps of 0.5`, (n) => n >= DB_ACU_MIN && n <= DB_ACU_MAX && halfSteps(n), false);
  if (Number.isFinite(dbMinCapacityAcu) && Number.isFinite(dbMaxCapacityAcu) && dbMaxCapacityAcu < dbMinCapacityAcu) {
    fail('DB_MAX_ACU', `must be at least DB_MIN_ACU (${dbMinCapacityAcu})`, raw('DB_MAX_ACU'));
  }

  const statePrefix = raw('STATE_PREFIX');
  if (!PREFIX_PATTERN.test(statePrefix)) {
    fail('STATE_PREFIX', 'must be lowercase letters, digits or hyphens, start with a letter, at most 20 characters', statePrefix);
  }
  const bucket = raw('STATE_BUCKET') || `${statePrefix}-tfstate-${region}`;
  if (!S3_BUCKET_PATTERN.test(bucket) || bucket.includes('..')) {
    fail('STATE_BUCKET', 'must be a valid S3 bucket name (3-63 lowercase letters, digits, dots, hyphens)', bucket);
  }

  const apiAccount = raw('API_GATEWAY_ACCOUNT_SETTINGS');
  if (apiAccount !== 'true' && apiAccount !== 'false') {
    fail('API_GATEWAY_ACCOUNT_SETTINGS', 'must be true or false', apiAccount);
  }

  const list = (name: SettingName): string[] => raw(name).split(',').map((v) => v.trim()).filter((v) => v !== '');
  const alarmEmails = list('ALARM_EMAILS');
  for (const email of alarmEmails) {
    if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(email)) fail('ALARM_EMAILS', 'must be comma-separated e-mail addresses', email);
  }
  const ciRepository = raw('CI_GITHUB_REPOSITORY');
  if (ciRepository !== '' && !/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/.test(ciRepository)) {
    fail('CI_GITHUB_REPOSITORY', 'must be a GitHub repository as owner/name (or empty for no CI roles)', ciRepository);
  }
  const ciEnvironments = list('CI_ENVIRONMENTS');
  if (ciEnvironments.length === 0 || new Set(ciEnvironments).size !== ciEnvironments.length || !ciEnvironments.every((e) => ENVIRONMENT_PATTERN.test(e))) {
    fail('CI_ENVIRONMENTS', 'must be distinct environment names, comma-separated (e.g. dev,prod)', raw('CI_ENVIRONMENTS'));
  }
  const ciOidcProviderArn = raw('CI_OIDC_PROVIDER_ARN');
  if (ciOidcProviderArn !== '' && !/^arn:aws[a-z-]*:iam::\d{12}:oidc-provider\/token\.actions\.githubusercontent\.com$/.test(ciOidcProviderArn)) {
    fail('CI_OIDC_PROVIDER_ARN', 'must be the ARN of the account\'s token.actions.githubusercontent.com OIDC provider (or empty)', ciOidcProviderArn);
  }

  const hl7Principals = list('HL7_ALLOWED_PRINCIPALS');
  for (const principal of hl7Principals) {
    if (!/^arn:aws[a-z-]*:iam::\d{12}:(root|role\/.+|user\/.+)$/.test(principal)) fail('HL7_ALLOWED_PRINCIPALS', 'must be comma-separated IAM principal ARNs (arn:aws:iam::<account>:root, role/..., user/...)', principal);
  }
  const hl7Cidrs = list('HL7_CLIENT_CIDRS');
  for (const c of hl7Cidrs) {
    const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(c);
    if (!m || m.slice(1, 5).some((o) => Number(o) > 255) || Number(m[5]) < 8 || Number(m[5]) > 32) fail('HL7_CLIENT_CIDRS', 'must be comma-separated IPv4 CIDRs from /8 to /32', c);
  }
  const hl7TimeZone = raw('HL7_LOCAL_TIME_ZONE');
  if (hl7TimeZone !== '' && !isIanaTimeZone(hl7TimeZone)) fail('HL7_LOCAL_TIME_ZONE', 'must be an IANA time zone such as Europe/Zurich (or empty)', hl7TimeZone);

  const roleArns = (name: SettingName, what: string): string[] => {
    const arns = list(name);
    for (const arn of arns) {
      if (!/^arn:aws[a-z-]*:iam::\d{12}:(role|user)\/[\w+=,.@/-]+$/.test(arn)) fail(name, `must be comma-separated IAM role or user ARNs (${what})`, arn);
    }
    return arns;
  };
  const keyAdminArns = roleArns('KEY_ADMIN_ARNS', 'existing principals that administer the keys, never use them');
  const breakGlassRoleArns = roleArns('BREAK_GLASS_ROLE_ARNS', 'existing roles allowed to decrypt patient ids in an emergency');

  const nonProduction = list('NON_PRODUCTION_ENVIRONMENTS');
  if (!nonProduction.every((e) => ENVIRONMENT_PATTERN.test(e))) {
    fail('NON_PRODUCTION_ENVIRONMENTS', 'must be environment names (lowercase alphanumeric), comma-separated; every other environment is production', raw('NON_PRODUCTION_ENVIRONMENTS'));
  }
  const production = !nonProduction.includes(environment);
  const lockModeRaw = raw('AUDIT_OBJECT_LOCK_MODE').toUpperCase() || (production ? ObjectLockMode.COMPLIANCE : ObjectLockMode.OFF);
  if (!(Object.values(ObjectLockMode) as string[]).includes(lockModeRaw)) {
    fail('AUDIT_OBJECT_LOCK_MODE', 'must be COMPLIANCE, GOVERNANCE or OFF (empty: COMPLIANCE in production, OFF elsewhere)', raw('AUDIT_OBJECT_LOCK_MODE'));
  }
  if (production && lockModeRaw === ObjectLockMode.OFF) {
    fail('AUDIT_OBJECT_LOCK_MODE', `must not be OFF in a production environment (${environment} is not in NON_PRODUCTION_ENVIRONMENTS)`, raw('AUDIT_OBJECT_LOCK_MODE'));
  }
  const auditLockDays = number('AUDIT_OBJECT_LOCK_DAYS', `must be an integer from 1 to AUDIT_RETENTION_DAYS (${auditRetentionDays})`, (n) => n >= 1 && n <= auditRetentionDays);
  const vaultLockRaw = raw('BACKUP_VAULT_LOCK') || String(production);
  if (vaultLockRaw !== 'true' && vaultLockRaw !== 'false') fail('BACKUP_VAULT_LOCK', 'must be true or false (empty: true in production, false elsewhere)', raw('BACKUP_VAULT_LOCK'));

  const alertFacilities = alertSubscriptionMap(raw('ALERT_SUBSCRIPTIONS'), true, (rule, value) => fail('ALERT_SUBSCRIPTIONS', rule, value));
  const alertEscalations = alertSubscriptionMap(raw('ALERT_ESCALATION_SUBSCRIPTIONS'), false, (rule, value) => fail('ALERT_ESCALATION_SUBSCRIPTIONS', rule, value));
  const alertArchiveRetentionDays = number('ALERT_ARCHIVE_RETENTION_DAYS', `must be an integer from ${ALERT_ARCHIVE_RETENTION_DAYS_MIN} to ${ALERT_ARCHIVE_RETENTION_DAYS_MAX} days`, (n) => n >= ALERT_ARCHIVE_RETENTION_DAYS_MIN && n <= ALERT_ARCHIVE_RETENTION_DAYS_MAX);
  const apiPrincipals = list('API_ALLOWED_PRINCIPAL_ARNS');
  for (const principal of apiPrincipals) {
    if (!/^arn:aws[a-z-]*:iam::\d{12}:(root|role\/[\w+=,.@/-]+|user\/[\w+=,.@/-]+)$/.test(principal)) {
      fail('API_ALLOWED_PRINCIPAL_ARNS', 'must be comma-separated IAM principal ARNs (arn:aws:iam::<account>:root for a whole account, role/..., user/...)', principal);
    }
  }
  const apiDomain = raw('API_DOMAIN_NAME').toLowerCase();
  const apiCertificate = raw('API_CERTIFICATE_ARN');
  if (apiDomain !== '' && (apiDomain.length > 253 || !/^(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))+$/.test(apiDomain))) {
    fail('API_DOMAIN_NAME', 'must be a DNS name such as api.vitals.example.org (or empty)', apiDomain);
  }
  if (apiCertificate !== '' && !new RegExp(`^arn:aws[a-z-]*:acm:${region}:\\d{12}:certificate/[0-9a-f-]{36}$`).test(apiCertificate)) {
    fail('API_CERTIFICATE_ARN', `must be the ARN of an ACM certificate in ${region} (a regional API's certificate lives in its region)`, apiCertificate);
  }
  if ((apiDomain === '') !== (apiCertificate === '')) {
    fail(apiDomain === '' ? 'API_DOMAIN_NAME' : 'API_CERTIFICATE_ARN', 'must be set together with ' + (apiDomain === '' ? 'API_CERTIFICATE_ARN' : 'API_DOMAIN_NAME') + ' (the custom domain needs its certificate)', apiDomain === '' ? apiDomain : apiCertificate);
  }
  const executeApiRaw = raw('API_EXECUTE_API_ENDPOINT').toLowerCase() || (production || apiDomain !== '' ? 'disabled' : 'enabled');
  if (executeApiRaw !== 'enabled' && executeApiRaw !== 'disabled') {
    fail('API_EXECUTE_API_ENDPOINT', 'must be enabled or disabled (empty: disabled in production and whenever API_DOMAIN_NAME is set, enabled elsewhere)', raw('API_EXECUTE_API_ENDPOINT'));
  } else if (executeApiRaw === 'enabled' && apiDomain !== '') {
    fail('API_EXECUTE_API_ENDPOINT', 'must not be enabled when API_DOMAIN_NAME is set: clients use the custom domain (TLS 1.2+) and the default endpoint is switched off', raw('API_EXECUTE_API_ENDPOINT'));
  } else if (executeApiRaw === 'disabled' && apiDomain === '') {
    fail('API_DOMAIN_NAME', `must be set with API_CERTIFICATE_ARN while the default execute-api endpoint is disabled (the default in production: ${environment} is not in NON_PRODUCTION_ENVIRONMENTS); set API_EXECUTE_API_ENDPOINT=enabled to accept the default endpoint instead`, apiDomain);
  }

  if (violations.length > 0) throw new ConfigError(violations);

  return {
    project: PROJECT,
    environment,
    production,
    nonProductionEnvironments: nonProduction,
    region,
    partition: 'aws',
    availabilityZones,
    vpcCidr,
    shardCount,
    streamRetentionHours,
    backupRetentionDays,
    logRetentionDays,
    auditRetentionDays,
    accessLogRetentionDays,
    auditObjectLock: { mode: lockModeRaw as ObjectLockMode, days: auditLockDays },
    backupVaultLock: vaultLockRaw === 'true',
    dbEngineVersion,
    dbMinCapacityAcu,
    dbMaxCapacityAcu,
    manageApiGatewayAccount: apiAccount === 'true',
    alarmEmails,
    ci: {
      ...(ciRepository !== '' ? { repository: ciRepository } : {}),
      environments: ciEnvironments,
      ...(ciOidcProviderArn !== '' ? { oidcProviderArn: ciOidcProviderArn } : {}),
    },
    keyAdminArns,
    breakGlassRoleArns,
    alerts: {
      facilities: { '*': [], ...alertFacilities },
      escalationTargets: alertEscalations,
      archiveRetentionDays: alertArchiveRetentionDays,
    },
    api: {
      allowedPrincipalArns: apiPrincipals,
      ...(apiDomain !== '' ? { customDomain: { domainName: apiDomain, certificateArn: apiCertificate } } : {}),
      executeApiEndpoint: executeApiRaw === 'enabled',
    },
    hl7: { allowedPrincipals: hl7Principals, clientCidrs: hl7Cidrs, ...(hl7TimeZone !== '' ? { localTimeZone: hl7TimeZone } : {}) },
    state: {
      bucket,
      lockTable: `${statePrefix}-tfstate-lock`,
      keyAlias: `alias/${statePrefix}-tfstate`,
      accessLogBucket: `${statePrefix}-tfstate-access-logs-${region}`,
      region,
    },
  };
}

const E164_PATTERN = /^\+[1-9][0-9]{6,14}$/;

/**
 * Parses a JSON map of routing name -> subscriptions (ALERT_SUBSCRIPTIONS, ALERT_ESCALATION_SUBSCRIPTIONS),
 * reporting every problem through `fail` (the caller adds the setting's name).
 */
function alertSubscriptionMap(
  text: string,
  allowWildcard: boolean,
  fail: (rule: string, value: string) => void,
): Record<string, AlertSubscription[]> {
  const shape = '{"<name>": [{"protocol": "email" | "sms" | "https", "endpoint": "...", "severities": ["high", ...]}]}';
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    fail(`must be JSON ${shape}`, text);
    return {};
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    fail(`must be a JSON object ${shape}`, text);
    return {};
  }
  const out: Record<string, AlertSubscription[]> = {};
  const slugs = new Map<string, string>();
  for (const [name, list] of Object.entries(parsed as Record<string, unknown>)) {
    if (!(allowWildcard && name === '*') && !ALERT_ROUTING_NAME_PATTERN.test(name)) {
      fail(`keys must be ${allowWildcard ? 'facility ids (or *)' : 'escalation routing names'}: a letter or digit, then letters, digits, '.', '_' or '-', at most 32 characters (they name topics and rules)`, name);
      continue;
    }
    // Topic names allow no '.', so '.' becomes '_': two names may not differ only there.
    const slug = alertRoutingSlug(name);
    const clash = slugs.get(slug);
    if (clash !== undefined) fail(`keys must not differ only by '.' and '_' (both name the topic ${slug})`, `${clash}, ${name}`);
    slugs.set(slug, name);
    if (!Array.isArray(list)) {
      fail(`["${name}"] must be a list of subscriptions ${shape}`, JSON.stringify(list));
      continue;
    }
    const subscriptions: AlertSubscription[] = [];
    for (const item of list as unknown[]) {
      const entry = (typeof item === 'object' && item !== null ? item : {}) as Record<string, unknown>;
      const unknownKeys = Object.keys(entry).filter((k) => !['protocol', 'endpoint', 'severities'].includes(k));
      const protocol = entry.protocol as AlertSubscriptionProtocol;
      const endpoint = typeof entry.endpoint === 'string' ? entry.endpoint : '';
      const severities = entry.severities;
      const where = `["${name}"]`;
      if (unknownKeys.length > 0) fail(`${where} subscriptions take only protocol, endpoint and severities`, unknownKeys.join(', '));
      if (!(Object.values(AlertSubscriptionProtocol) as string[]).includes(String(protocol))) {
        fail(`${where} protocol must be email, sms or https`, String(entry.protocol));
        continue;
      }
      const endpointOk = protocol === AlertSubscriptionProtocol.EMAIL ? /^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(endpoint)
        : protocol === AlertSubscriptionProtocol.SMS ? E164_PATTERN.test(endpoint)
          : /^https:\/\/[^\s/]+(\/\S*)?$/.test(endpoint);
      if (!endpointOk) {
        fail(`${where} ${protocol} endpoint must be ${protocol === 'email' ? 'an e-mail address' : protocol === 'sms' ? 'an E.164 phone number (+41791234567)' : 'an https:// URL'}`, endpoint);
        continue;
      }
      if (severities !== undefined && (!Array.isArray(severities) || severities.length === 0 || !severities.every((v) => (ALERT_SEVERITIES as readonly unknown[]).includes(v)))) {
        fail(`${where} severities must be a non-empty list of ${ALERT_SEVERITIES.join(', ')}`, JSON.stringify(severities));
        continue;
      }
      subscriptions.push({ protocol, endpoint, ...(severities !== undefined ? { severities: [...new Set(severities as AlertSeverity[])] } : {}) });
    }
    out[name] = subscriptions;
  }
  return out;
}

/** The part of a topic or rule name a facility id or escalation name becomes (`.` is not allowed there). */
export function alertRoutingSlug(name: string): string {
  return name === '*' ? 'other-facilities' : name.replace(/\./g, '_');
}

function isIanaTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: name });
    return /\//.test(name) || name === 'UTC';
  } catch {
    return false;
  }
}

/**
 * Settings for a cdktf app: environment variables win over context values (`cdktf.json` "context" or
 * `--context`-style app context), so a CI job can override what the repo pins.
 */
export function settingsFrom(env: SettingsSource, context: (key: string) => unknown): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const name of Object.keys(SETTINGS) as SettingName[]) {
    const fromContext = context(name);
    out[name] = env[name] ?? (fromContext === undefined || fromContext === null ? undefined : String(fromContext));
  }
  return out;
}

