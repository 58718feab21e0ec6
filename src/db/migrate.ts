/**
 * The one-off migration command (`node dist/src/db/migrate.js`, run as an ECS task with the admin
 * secret): applies the node-pg-migrate migrations, creates/refreshes the processor role and its
 * grants (no DDL) and the FHIR read API's read-only role, writes the retention policy, and creates the upcoming daily partitions.
 */
import { join } from 'node:path';
import { Client, escapeLiteral } from 'pg';
import type { RunnerOption } from 'node-pg-migrate/dist/bundle/index';
import { ACKNOWLEDGE_READ_COLUMNS, ACKNOWLEDGE_UPDATED_COLUMNS, OUTBOX_INSERTED_COLUMNS } from '../adapters/alert-store';
import { tlsOptions } from '../adapters/db';

export const PROCESSOR_ROLE = 'vitals_processor';

/** Table privileges of the processor role: read and write rows, never alter the schema. */
export const PROCESSOR_TABLE_GRANTS: Readonly<Record<string, readonly string[]>> = {
  event_ids: ['SELECT', 'INSERT'],
  data_keys: ['SELECT', 'INSERT'],
  patients: ['SELECT', 'INSERT'],
  // Dictionaries observations refer to (migration 0008).
  patient_keys: ['SELECT', 'INSERT'],
  sources: ['SELECT', 'INSERT'],
  observations: ['SELECT', 'INSERT'],
  latest_vitals: ['SELECT', 'INSERT', 'UPDATE'],
  // A view over observations since migration 0008 (scores live on the observation rows).
  news2_scores: ['SELECT'],
  alert_state: ['SELECT', 'INSERT', 'UPDATE'],
  alerts: ['SELECT', 'INSERT'],
  // UPDATE of requeued_at only: the processor performs requested requeues (requeue-sweep.ts).
  dead_letters: ['SELECT', 'INSERT', 'UPDATE (requeued_at)'],
  clinical_alerts: ['SELECT', 'INSERT', 'UPDATE'],
  // DELETE: the relay prunes delivered rows past their retention.
  alert_outbox: ['SELECT', 'INSERT', 'UPDATE', 'DELETE'],
  // DELETE: leases of shards that expired from the stream are pruned.
  shard_leases: ['SELECT', 'INSERT', 'UPDATE', 'DELETE'],
};

/**
 * The FHIR read API's role: SELECT on the rendered tables only (no patients, no data keys), read-only
 * sessions. patient_keys holds pseudonyms only (the reader sees them on every resource already),
 * sources device and facility ids.
 */
export const FHIR_READER_ROLE = 'vitals_fhir_reader';
export const FHIR_READER_TABLES: readonly string[] = ['observations', 'news2_scores', 'patient_keys', 'sources'];

/**
 * The acknowledging service's role (the acknowledge route on AWS, served by the FHIR API service on the
 * Aurora writer): reads an alert, records its acknowledgement and writes the `acknowledged` transition
 * to the outbox. Column grants: it can change who/when acknowledged, the escalation deadline it stops,
 * and the alert's sequence and latest event; never severity, clearing, facility, patient or any
 * other table.
 */
export const ALERT_ACKER_ROLE = 'vitals_alert_acker';

/**
 * The operations role (dead-letter requeue requests, src/db/requeue-dead-letters.ts): sees which dead
 * letters exist and why, may request their requeue; never a payload, an error text, a patient or a key.
 */
export const OPS_ROLE = 'vitals_ops';
export const OPS_DEAD_LETTER_COLUMNS: readonly string[] = ['dead_letter_id', 'reason', 'dead_lettered_at', 'requeued_at', 'requeue_requested_at'];

/**
 * NOLOGIN role whose privileges pgaudit's object audit logs (`pgaudit.role`, set in the cluster's
 * parameter group): every read and write of the tables holding patient-id ciphertexts, their data keys
 * and dead-letter payloads is logged with the session's user. Observations (pseudonymised, one insert
 * per event) are left to session auditing of role changes and DDL, or the log would be the data.
 */
export const AUDIT_ROLE = 'vitals_auditor';
export const AUDITED_TABLES: readonly string[] = ['patients', 'data_keys', 'dead_letters'];

export const PARTITION_DAYS_AHEAD = 7;
export const PARTITION_DAYS_BACK = 7;

/**
 * Since issue 11 the processor no longer writes event ids (it dedupes on observations' own key); the
 * table and its pruning stay until a later migration drops them, for a processor of the previous
 * version still running during a rolling deploy (docs/design.md "Data model"). What follows is why
 * the horizon was set as it is. Event ids were the dedupe keys. A duplicate can reach the processor as long as a record stays in the
 * stream (its CONFIGURED retention, `STREAM_RETENTION_HOURS`: 168 h by default in the infrastructure)
 * after the original was stored, plus however late a producer retries; so the horizon must exceed the
 * stream's retention by a retry margin. Not Kinesis' maximum (365 days): at 1,000 events/s a year of
 * ids is ~31 billion rows, as much storage again as the observations. Past the horizon the
 * observations' own key still guards (see the writer), as long as the observation is kept.
 */
export const DEFAULT_EVENT_ID_RETENTION_DAYS = 35;
/** The stream's retention the infrastructure configures unless told otherwise (7 days) plus one day. */
export const MIN_EVENT_ID_RETENTION_DAYS = 8;
/** Producer retries later than this after the original are not expected. */
export const PRODUCER_RETRY_MARGIN_HOURS = 24;
/** Observations and scores are clinical records: never less than a year (also a CHECK in 0003_retention). */
export const MIN_OBSERVATION_RETENTION_DAYS = 366;
export const MAX_RETENTION_DAYS = 36_500;
/** Kinesis' bounds on a stream's retention. */
export const STREAM_RETENTION_HOURS_MIN = 24;
export const STREAM_RETENTION_HOURS_MAX = 8_760;

export interface RetentionSettings {
  /** @default DEFAULT_EVENT_ID_RETENTION_DAYS */
  readonly eventIdRetentionDays: number;
  /** Observations and NEWS2 scores older than this are dropped. @default undefined: kept forever */
  readonly observationRetentionDays?: number;
}

export interface MigrateSettings {
  readonly host: string;
  readonly port: number;
  readonly database: string;
  readonly sslCaFile: string;
  readonly adminUser: string;
  readonly adminPassword: string;
  /** Local runs: the processor role's password. On AWS unset: the role logs in with IAM (rds_iam). */
  readonly processorPassword?: string;
  /** Local runs: the FHIR reader role's password. On AWS unset: IAM (rds_iam). */
  readonly fhirReaderPassword?: string;
  /** Local runs: password of the acknowledging role (on AWS it authenticates by IAM). */
  readonly alertAckerPassword?: string;
  /** Local runs: the ops role's password. On AWS unset: IAM (rds_iam). */
  readonly opsPassword?: string;
  /** @default event ids DEFAULT_EVENT_ID_RETENTION_DAYS days, observations kept forever */
  readonly retention?: RetentionSettings;
  readonly log?: (message: string) => void;
}

function required(env: NodeJS.ProcessEnv, name: string): string {
  const value = env[name];
  if (!value) throw new Error(`missing environment variable ${name}`);
  return value;
}

/** An optional integer setting within min..max; a problem (name, rule, received value) otherwise. */
function optionalInteger(env: NodeJS.ProcessEnv, name: string, min: number, max: number, unit: string, problems: string[]): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) {
    problems.push(`${name} must be an integer ${min}..${max} (${unit}); received ${JSON.stringify(raw)}`);
    return undefined;
  }
  return n;
}

/**
 * EVENT_ID_RETENTION_DAYS (default 35, at least 8), OBSERVATION_RETENTION_DAYS (unset: kept forever;
 * at least 366), and, when given, STREAM_RETENTION_HOURS: the event-id horizon must then exceed the
 * stream's retention plus one day (producer retries), or the command refuses to run. Every problem
 * is reported at once.
 */
export function retentionSettingsFromEnv(env: NodeJS.ProcessEnv = process.env): RetentionSettings {
  const problems: string[] = [];
  const eventIdDays = optionalInteger(env, 'EVENT_ID_RETENTION_DAYS', MIN_EVENT_ID_RETENTION_DAYS, MAX_RETENTION_DAYS, 'days', problems);
  const observationDays = optionalInteger(env, 'OBSERVATION_RETENTION_DAYS', MIN_OBSERVATION_RETENTION_DAYS, MAX_RETENTION_DAYS, 'days', problems);
  const streamHours = optionalInteger(env, 'STREAM_RETENTION_HOURS', STREAM_RETENTION_HOURS_MIN, STREAM_RETENTION_HOURS_MAX, 'hours', problems);
  const eventIdRetentionDays = eventIdDays ?? DEFAULT_EVENT_ID_RETENTION_DAYS;
  const invalidEventIdDays = env.EVENT_ID_RETENTION_DAYS !== undefined && env.EVENT_ID_RETENTION_DAYS.trim() !== '' && eventIdDays === undefined;
  if (streamHours !== undefined && !invalidEventIdDays && eventIdRetentionDays * 24 <= streamHours + PRODUCER_RETRY_MARGIN_HOURS) {
    problems.push(
      `EVENT_ID_RETENTION_DAYS must exceed STREAM_RETENTION_HOURS plus ${PRODUCER_RETRY_MARGIN_HOURS} hours (producer retries), ` +
        `so no duplicate still in the stream outlives its dedupe key; received EVENT_ID_RETENTION_DAYS=${eventIdRetentionDays}` +
        `${eventIdDays === undefined ? ' (the default)' : ''} (${eventIdRetentionDays * 24} h) and STREAM_RETENTION_HOURS=${streamHours}` +
        ` (needs more than ${streamHours + PRODUCER_RETRY_MARGIN_HOURS} h: at least ${Math.floor((streamHours + PRODUCER_RETRY_MARGIN_HOURS) / 24) + 1} days)`,
    );
  }
  if (problems.length > 0) throw new Error(problems.join('; '));
  return { eventIdRetentionDays, observationRetentionDays: observationDays };
}

export function migrateSettingsFromEnv(env: NodeJS.ProcessEnv = process.env): MigrateSettings {
  const port = Number(env.DB_PORT ?? '5432');
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`DB_PORT must be a port number; received ${env.DB_PORT}`);
  return {
    retention: retentionSettingsFromEnv(env),
    host: required(env, 'DB_HOST'),
    port,
    database: required(env, 'DB_NAME'),
    sslCaFile: required(env, 'DB_SSL_CA_FILE'),
    adminUser: required(env, 'DB_ADMIN_USER'),
    adminPassword: required(env, 'DB_ADMIN_PASSWORD'),
    processorPassword: env.DB_PROCESSOR_PASSWORD || undefined,
    fhirReaderPassword: env.DB_FHIR_READER_PASSWORD || undefined,
    alertAckerPassword: env.DB_ALERT_ACKER_PASSWORD || undefined,
    opsPassword: env.DB_OPS_PASSWORD || undefined,
  };
}

/** Applies pending migrations, then the role, grants and partitions (all idempotent). */
export async function migrate(settings: MigrateSettings): Promise<{ applied: string[]; partitionsCreated: number }> {
  const log = settings.log ?? ((m: string) => process.stdout.write(`${JSON.stringify({ level: 'info', msg: m })}\n`));
  const client = new Client({
    host: settings.host,
    port: settings.port,
    database: settings.database,
    user: settings.adminUser,
    password: settings.adminPassword,
    ssl: tlsOptions(settings.sslCaFile),
    application_name: 'vitals-migrate',
  });
  await client.connect();
  try {
    // node-pg-migrate is ESM-only; Node >= 20.19 loads it with require().
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { runner } = require('node-pg-migrate') as { runner: (options: RunnerOption) => Promise<Array<{ name: string }>> };
    const applied = await runner({
      dbClient: client,
      dir: join(__dirname, 'migrations'),
      // compiled output carries .map and .d.ts files beside the migrations
      ignorePattern: '\\..*|.*\\.map|.*\\.d\\.ts',
      direction: 'up',
      migrationsTable: 'pgmigrations',
      singleTransaction: true,
      checkOrder: true,
      advisoryLockMode: 'wait',
      log,
    } as RunnerOption);
    await ensureProcessorRole(client, settings.database, settings.processorPassword, log);
    await ensureFhirReaderRole(client, settings.database, settings.fhirReaderPassword, log);
    await ensureOpsRole(client, settings.database, settings.opsPassword, log);
    await ensureAlertAckerRole(client, settings.database, settings.alertAckerPassword, log);
    await ensureAuditRole(client);
    await writeRetentionPolicy(client, settings.retention ?? { eventIdRetentionDays: DEFAULT_EVENT_ID_RETENTION_DAYS }, log);
    const { rows } = await client.query<{ created: number }>('SELECT ensure_time_partitions($1, $2) AS created', [PARTITION_DAYS_AHEAD, PARTITION_DAYS_BACK]);
    const partitionsCreated = rows[0]?.created ?? 0;
    log(`migrations applied: ${applied.length}; partitions created: ${partitionsCreated}`);
    return { applied: applied.map((m) => m.name), partitionsCreated };
  } finally {
    await client.end();
  }
}

/**
 * Declarative: every run writes what its environment says, so an unset OBSERVATION_RETENTION_DAYS
 * means "keep forever" again (a forgotten variable can only stop deletion, never widen it).
 */
async function writeRetentionPolicy(client: Client, retention: RetentionSettings, log: (m: string) => void): Promise<void> {
  await client.query('UPDATE retention_policy SET event_id_horizon_days = $1, observation_retention_days = $2, updated_at = now()', [
    retention.eventIdRetentionDays,
    retention.observationRetentionDays ?? null,
  ]);
  log(
    `retention: event ids ${retention.eventIdRetentionDays} days; observations and scores ` +
      (retention.observationRetentionDays === undefined ? 'kept forever' : `${retention.observationRetentionDays} days`),
  );
}

/** Creates a login role (idempotent) authenticating by IAM (rds_iam, on AWS) or a local password. */
async function ensureLoginRole(client: Client, role: string, password: string | undefined, passwordVariable: string, log: (m: string) => void): Promise<void> {
  const exists = await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [role]);
  if (exists.rowCount === 0) await client.query(`CREATE ROLE ${role} LOGIN`);
  await client.query(`ALTER ROLE ${role} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION`);
  const rdsIam = await client.query(`SELECT 1 FROM pg_roles WHERE rolname = 'rds_iam'`);
  if (rdsIam.rowCount) {
    await client.query(`GRANT rds_iam TO ${role}`);
    log(`role ${role}: IAM authentication (rds_iam)`);
  } else if (password) {
    await client.query(`ALTER ROLE ${role} WITH PASSWORD ${escapeLiteral(password)}`);
    log(`role ${role}: password authentication`);
  } else {
    log(`role ${role}: no rds_iam role and no ${passwordVariable}: password left unchanged`);
  }
}

async function ensureProcessorRole(client: Client, database: string, password: string | undefined, log: (m: string) => void): Promise<void> {
  const role = PROCESSOR_ROLE;
  await client.query('BEGIN');
  try {
    // Roles are cluster-wide: serialise concurrent migrations of several databases.
    await client.query(`SELECT pg_advisory_xact_lock(hashtext('vitals_processor_role'))`);
    await ensureLoginRole(client, role, password, 'DB_PROCESSOR_PASSWORD', log);
    await client.query(`GRANT CONNECT ON DATABASE ${client.escapeIdentifier(database)} TO ${role}`);
    await client.query('REVOKE CREATE ON SCHEMA public FROM PUBLIC');
    await client.query(`GRANT USAGE ON SCHEMA public TO ${role}`);
    await client.query(`REVOKE ALL ON ALL TABLES IN SCHEMA public FROM ${role}`);
    for (const [table, privileges] of Object.entries(PROCESSOR_TABLE_GRANTS)) {
      await client.query(`GRANT ${privileges.join(', ')} ON TABLE ${client.escapeIdentifier(table)} TO ${role}`);
    }
    await client.query(`GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO ${role}`);
    await client.query(`GRANT EXECUTE ON FUNCTION ensure_time_partitions(integer, integer) TO ${role}`);
    await client.query(`GRANT EXECUTE ON FUNCTION apply_retention(integer) TO ${role}`);
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK');
    throw err;
  }
}

/** The FHIR read API's role: SELECT on FHIR_READER_TABLES, nothing else; sessions read-only by default. */
async function ensureFhirReaderRole(client: Client, database: string, password: string | undefined, log: (m: string) => void): Promise<void> {
  const role = FHIR_READER_ROLE;
  await client.query('BEGIN');
  try {
    await client.query(`SELECT pg_advisory_xact_lock(hashtext('vitals_processor_role'))`);
    await ensureLoginRole(client, role, password, 'DB_FHIR_READER_PASSWORD', log);
    await client.query(`ALTER ROLE ${role} SET default_transaction_read_only = on`);
    await client.query(`GRANT CONNECT ON DATABASE ${client.escapeIdentifier(database)} TO ${role}`);
    await client.query(`GRANT USAGE ON SCHEMA public TO ${role}`);
    await client.query(`REVOKE ALL ON ALL TABLES IN SCHEMA public FROM ${role}`);
    await client.query(`REVOKE ALL ON ALL FUNCTIONS IN SCHEMA public FROM ${role}`);
    for (const table of FHIR_READER_TABLES) await client.query(`GRANT SELECT ON TABLE ${client.escapeIdentifier(table)} TO ${role}`);
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK');
    throw err;
  }
}

/**
 * A login role that may connect and use the schema and holds nothing else: every table and function
 * grant is revoked, then exactly `grants` are applied, in one transaction under the roles' lock.
 */
async function ensureNarrowRole(client: Client, database: string, role: string, password: string | undefined, passwordVariable: string, grants: readonly string[], log: (m: string) => void): Promise<void> {
  await client.query('BEGIN');
  try {
    await client.query(`SELECT pg_advisory_xact_lock(hashtext('vitals_processor_role'))`);
    await ensureLoginRole(client, role, password, passwordVariable, log);
    await client.query(`GRANT CONNECT ON DATABASE ${client.escapeIdentifier(database)} TO ${role}`);
    await client.query(`GRANT USAGE ON SCHEMA public TO ${role}`);
    await client.query(`REVOKE ALL ON ALL TABLES IN SCHEMA public FROM ${role}`);
    await client.query(`REVOKE ALL ON ALL FUNCTIONS IN SCHEMA public FROM ${role}`);
    for (const grant of grants) await client.query(grant);
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK');
    throw err;
  }
}

/** The ops role: column-level SELECT on dead_letters' metadata, UPDATE of requeue_requested_at; nothing else. */
async function ensureOpsRole(client: Client, database: string, password: string | undefined, log: (m: string) => void): Promise<void> {
  const columns = OPS_DEAD_LETTER_COLUMNS.map((c) => client.escapeIdentifier(c)).join(', ');
  await ensureNarrowRole(client, database, OPS_ROLE, password, 'DB_OPS_PASSWORD', [
    `GRANT SELECT (${columns}), UPDATE (requeue_requested_at) ON TABLE dead_letters TO ${OPS_ROLE}`,
  ], log);
}

/** The acknowledging role: column-level grants on clinical_alerts, INSERT into alert_outbox; nothing else. */
async function ensureAlertAckerRole(client: Client, database: string, password: string | undefined, log: (m: string) => void): Promise<void> {
  const role = ALERT_ACKER_ROLE;
  const columns = (names: readonly string[]): string => names.map((c) => client.escapeIdentifier(c)).join(', ');
  await ensureNarrowRole(client, database, role, password, 'DB_ALERT_ACKER_PASSWORD', [
    `GRANT SELECT (${columns(ACKNOWLEDGE_READ_COLUMNS)}), UPDATE (${columns(ACKNOWLEDGE_UPDATED_COLUMNS)}) ON TABLE clinical_alerts TO ${role}`,
    // SELECT of the conflict target: INSERT ... ON CONFLICT (transition_id) DO NOTHING needs it.
    `GRANT SELECT (transition_id), INSERT (${columns(OUTBOX_INSERTED_COLUMNS)}) ON TABLE alert_outbox TO ${role}`,
  ], log);
}

/** pgaudit's object-audit role (NOLOGIN): its grants select what is logged, it is never used to connect. */
async function ensureAuditRole(client: Client): Promise<void> {
  await client.query('BEGIN');
  try {
    await client.query(`SELECT pg_advisory_xact_lock(hashtext('vitals_processor_role'))`);
    const exists = await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [AUDIT_ROLE]);
    if (exists.rowCount === 0) await client.query(`CREATE ROLE ${AUDIT_ROLE} NOLOGIN`);
    for (const table of AUDITED_TABLES) {
      await client.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE ${client.escapeIdentifier(table)} TO ${AUDIT_ROLE}`);
    }
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK');
    throw err;
  }
}

if (require.main === module) {
  migrate(migrateSettingsFromEnv()).then(
    () => process.exit(0),
    (err: unknown) => {
      // Messages from pg and node-pg-migrate name objects, never row data.
      process.stderr.write(`${JSON.stringify({ level: 'error', msg: 'migration failed', err: err instanceof Error ? err.message : String(err) })}\n`);
      process.exit(1);
    },
  );
}
