/**
 * PostgreSQL side of the alerts (tables from migration 0006): the processor's hook that turns a batch's
 * scores into alert transitions and outbox rows inside the batch's transaction, the relay's claim and
 * mark queries, the escalation scheduler's and the acknowledge API's locked read-modify-write.
 * Every transition is written with its alert row in one transaction, under that row's lock, so
 * sequence numbers (and transition ids) never collide between the processor, the scheduler and an
 * acknowledgement.
 */
import type { Pool, PoolClient } from 'pg';
import type { AlertEventDetail } from '../alerts/detail';
import type { EscalationPolicy } from '../alerts/escalation';
import { acknowledge, escalate, planTransitions, type AlertRecord, type PlannedTransition, type ScoredObservation } from '../alerts/transitions';
import type { AlertSeverity } from '../alerts/severity';

/** Wakes the relay at commit (NOTIFY is transactional); it also polls, so a lost wake-up only delays. */
export const OUTBOX_CHANNEL = 'alert_outbox';

type Queryable = Pick<PoolClient, 'query'>;

interface AlertRow {
  alert_id: string;
  patient_pseudonym: Buffer;
  facility_id: string;
  device_id: string;
  severity: AlertSeverity;
  raised_at: Date;
  high_since: Date | null;
  cleared_at: Date | null;
  acknowledged_at: Date | null;
  escalation_tier: number;
  next_escalation_at: Date | null;
  sequence: number;
  last_detail: AlertEventDetail;
}

const ALERT_COLUMNS = `alert_id, patient_pseudonym, facility_id, device_id, severity, raised_at, high_since, cleared_at,
  acknowledged_at, escalation_tier, next_escalation_at, sequence, last_detail`;

function fromRow(r: AlertRow): AlertRecord {
  return {
    alertId: r.alert_id,
    patientPseudonym: r.patient_pseudonym.toString('hex'),
    facilityId: r.facility_id,
    deviceId: r.device_id,
    severity: r.severity,
    raisedAt: r.raised_at,
    highSince: r.high_since,
    clearedAt: r.cleared_at,
    acknowledgedAt: r.acknowledged_at,
    escalationTier: r.escalation_tier,
    nextEscalationAt: r.next_escalation_at,
    sequence: r.sequence,
    lastDetail: r.last_detail,
  };
}

async function saveAlerts(client: Queryable, alerts: readonly AlertRecord[], acknowledgedBy?: string): Promise<void> {
  if (alerts.length === 0) return;
  const v = <T>(pick: (a: AlertRecord) => T): T[] => alerts.map(pick);
  // Named (prepared once per connection): the processor runs it in most batches.
  await client.query({
    name: 'vitals-alerts-save',
    text: `INSERT INTO clinical_alerts (alert_id, patient_pseudonym, facility_id, device_id, severity, raised_at, high_since, cleared_at,
                                  acknowledged_at, escalation_tier, next_escalation_at, sequence, last_detail, acknowledged_by)
     SELECT *, $14::text FROM unnest($1::uuid[], $2::bytea[], $3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::timestamptz[],
                         $8::timestamptz[], $9::timestamptz[], $10::int2[], $11::timestamptz[], $12::int4[], $13::jsonb[])
     ON CONFLICT (alert_id) DO UPDATE SET
       facility_id = EXCLUDED.facility_id, device_id = EXCLUDED.device_id, severity = EXCLUDED.severity,
       high_since = EXCLUDED.high_since, cleared_at = EXCLUDED.cleared_at, acknowledged_at = EXCLUDED.acknowledged_at,
       acknowledged_by = COALESCE(EXCLUDED.acknowledged_by, clinical_alerts.acknowledged_by),
       escalation_tier = EXCLUDED.escalation_tier, next_escalation_at = EXCLUDED.next_escalation_at,
       sequence = EXCLUDED.sequence, last_detail = EXCLUDED.last_detail`,
    values: [
      v((a) => a.alertId),
      v((a) => Buffer.from(a.patientPseudonym, 'hex')),
      v((a) => a.facilityId),
      v((a) => a.deviceId),
      v((a) => a.severity),
      v((a) => a.raisedAt),
      v((a) => a.highSince),
      v((a) => a.clearedAt),
      v((a) => a.acknowledgedAt),
      v((a) => a.escalationTier),
      v((a) => a.nextEscalationAt),
      v((a) => a.sequence),
      v((a) => JSON.stringify(a.lastDetail)),
      acknowledgedBy ?? null,
    ],
  });
}

async function insertOutbox(client: Queryable, transitions: readonly PlannedTransition[]): Promise<void> {
  if (transitions.length === 0) return;
  // One statement with the wake-up (NOTIFY is sent at commit), prepared once per connection.
  await client.query({
    name: 'vitals-alerts-outbox',
    text: `WITH inserted AS (
       INSERT INTO alert_outbox (transition_id, alert_id, patient_pseudonym, detail, received_at)
       SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::bytea[], $4::jsonb[], $5::timestamptz[])
       ON CONFLICT (transition_id) DO NOTHING
     )
     SELECT pg_notify('${OUTBOX_CHANNEL}', '')`,
    values: [
      transitions.map((t) => t.detail.transitionId),
      transitions.map((t) => t.detail.alertId),
      transitions.map((t) => Buffer.from(t.detail.patientPseudonym, 'hex')),
      transitions.map((t) => JSON.stringify(t.detail)),
      transitions.map((t) => t.receivedAt),
    ],
  });
}

/** What a batch's scores did to the alerts. */
export interface RecordedTransitions {
  /** Transitions written to the outbox. */
  readonly transitions: number;
  /** Of those, alerts raised (an alert opened for a patient with none open). */
  readonly raised: number;
}

/**
 * The processor's hook, called once per batch inside its transaction (the patients' latest_vitals rows
 * are locked already): applies the batch's scores, in the order the processor applied them, to the
 * patients' open alerts and writes the transitions to the outbox.
 */
export async function recordAlertTransitions(client: Queryable, scored: readonly ScoredObservation[], now: Date, policy: EscalationPolicy): Promise<RecordedTransitions> {
  if (scored.length === 0) return { transitions: 0, raised: 0 };
  const patients = [...new Set(scored.map((s) => s.patientPseudonym))].sort();
  // FOR UPDATE: the scheduler and acknowledgements wait (or skip), so the sequence read here stays current.
  const { rows } = await client.query<AlertRow>({
    name: 'vitals-alerts-open',
    text: `SELECT ${ALERT_COLUMNS} FROM clinical_alerts WHERE patient_pseudonym = ANY($1::bytea[]) AND cleared_at IS NULL
     ORDER BY patient_pseudonym FOR UPDATE`,
    values: [patients.map((h) => Buffer.from(h, 'hex'))],
  });
  const open = new Map(rows.map((r) => [r.patient_pseudonym.toString('hex'), fromRow(r)]));
  const plan = planTransitions(open, scored, now, policy);
  await saveAlerts(client, [...plan.alerts.values()]);
  await insertOutbox(client, plan.transitions);
  return { transitions: plan.transitions.length, raised: plan.transitions.filter((t) => t.detail.transition === 'raised').length };
}

/** Escalates up to `limit` due alerts in one transaction (SKIP LOCKED: several schedulers share the work). */
export async function escalateDue(pool: Pool, now: Date, policy: EscalationPolicy, limit = 100): Promise<AlertEventDetail[]> {
  return inTransaction(pool, async (client) => {
    const { rows } = await client.query<AlertRow>(
      `SELECT ${ALERT_COLUMNS} FROM clinical_alerts WHERE next_escalation_at <= $1 ORDER BY next_escalation_at LIMIT $2 FOR UPDATE SKIP LOCKED`,
      [now, limit],
    );
    const alerts: AlertRecord[] = [];
    const transitions: PlannedTransition[] = [];
    for (const r of rows) {
      const e = escalate(fromRow(r), now, policy);
      // Not escalatable any more (e.g. targets reconfigured): stop looking at it.
      const next = e?.alert ?? { ...fromRow(r), nextEscalationAt: null };
      alerts.push(next);
      if (e) transitions.push(e.transition);
    }
    await saveAlerts(client, alerts);
    await insertOutbox(client, transitions);
    return transitions.map((t) => t.detail);
  });
}

export type AcknowledgeOutcome =
  | { readonly kind: 'not-found' }
  | { readonly kind: 'acknowledged' | 'already-acknowledged'; readonly alertId: string; readonly acknowledgedAt: Date; readonly acknowledgedBy: string | null }
  | { readonly kind: 'cleared'; readonly alertId: string; readonly clearedAt: Date };

/** Acknowledges an alert (idempotent: a second call reports the first acknowledgement). */
/** What acknowledgeAlert reads and writes: the grants of the acknowledging role (src/db/migrate.ts). */
export const ACKNOWLEDGE_READ_COLUMNS: readonly string[] = [...ALERT_COLUMNS.split(',').map((c) => c.trim()), 'acknowledged_by'];
export const ACKNOWLEDGE_UPDATED_COLUMNS: readonly string[] = ['acknowledged_at', 'acknowledged_by', 'next_escalation_at', 'sequence', 'last_detail'];
export const OUTBOX_INSERTED_COLUMNS: readonly string[] = ['transition_id', 'alert_id', 'patient_pseudonym', 'detail', 'received_at'];

export async function acknowledgeAlert(pool: Pool, alertId: string, by: string, now: Date): Promise<AcknowledgeOutcome> {
  return inTransaction(pool, async (client) => {
    const { rows } = await client.query<AlertRow & { acknowledged_by: string | null }>(
      `SELECT ${ALERT_COLUMNS}, acknowledged_by FROM clinical_alerts WHERE alert_id = $1 FOR UPDATE`,
      [alertId],
    );
    const row = rows[0];
    if (!row) return { kind: 'not-found' };
    if (row.acknowledged_at) return { kind: 'already-acknowledged', alertId, acknowledgedAt: row.acknowledged_at, acknowledgedBy: row.acknowledged_by };
    if (row.cleared_at) return { kind: 'cleared', alertId, clearedAt: row.cleared_at };
    const done = acknowledge(fromRow(row), by, now);
    if (!done) throw new Error('an open, unacknowledged alert must be acknowledgeable');
    // Only the columns an acknowledgement changes (ACKNOWLEDGE_UPDATED_COLUMNS): the acknowledging
    // service's database role may update nothing else (src/db/migrate.ts ALERT_ACKER_ROLE).
    await client.query(
      `UPDATE clinical_alerts SET acknowledged_at = $2, acknowledged_by = $3, next_escalation_at = $4, sequence = $5, last_detail = $6
       WHERE alert_id = $1`,
      [alertId, done.alert.acknowledgedAt, by, done.alert.nextEscalationAt, done.alert.sequence, JSON.stringify(done.alert.lastDetail)],
    );
    await insertOutbox(client, [done.transition]);
    return { kind: 'acknowledged', alertId, acknowledgedAt: now, acknowledgedBy: by };
  });
}

/** A row the relay is delivering. */
export interface PendingTransition {
  readonly outboxId: string;
  readonly detail: AlertEventDetail;
  readonly receivedAt: Date | null;
  readonly createdAt: Date;
  readonly attempts: number;
}

export interface OutboxClaim {
  readonly rows: readonly PendingTransition[];
  /** Marks these delivered and commits (with the failures' retry times). */
  complete(delivered: readonly string[], failed: readonly { outboxId: string; retryAt: Date }[]): Promise<void>;
  /** Gives the rows back untouched (rolls back). */
  release(): Promise<void>;
}

/**
 * Claims the next transition of each patient (the oldest undelivered; a patient's later transitions
 * wait until it is delivered), oldest first, locked (SKIP LOCKED) for the claim's transaction, so
 * several relays never deliver one patient's transitions out of order. `delivered_at IS NULL` is
 * repeated outside the subquery: a row another relay delivered meanwhile is re-checked when locked.
 */
export async function claimPending(pool: Pool, limit: number): Promise<OutboxClaim> {
  const { client, release } = await checkout(pool);
  let done = false;
  const finish = async (sql: 'COMMIT' | 'ROLLBACK'): Promise<void> => {
    if (done) return;
    done = true;
    try {
      await client.query(sql);
      release();
    } catch (e) {
      release(e as Error);
      throw e;
    }
  };
  try {
    await client.query('BEGIN');
    const { rows } = await client.query<{ outbox_id: string; detail: AlertEventDetail; received_at: Date | null; created_at: Date; attempts: number }>(
      `SELECT o.outbox_id, o.detail, o.received_at, o.created_at, o.attempts FROM alert_outbox o
       WHERE o.outbox_id IN (SELECT DISTINCT ON (patient_pseudonym) outbox_id FROM alert_outbox
                             WHERE delivered_at IS NULL ORDER BY patient_pseudonym, outbox_id)
         AND o.delivered_at IS NULL AND (o.next_attempt_at IS NULL OR o.next_attempt_at <= clock_timestamp())
       ORDER BY o.outbox_id LIMIT $1
       FOR UPDATE SKIP LOCKED`,
      [limit],
    );
    return {
      rows: rows.map((r) => ({ outboxId: r.outbox_id, detail: r.detail, receivedAt: r.received_at, createdAt: r.created_at, attempts: r.attempts })),
      complete: async (delivered, failed) => {
        try {
          if (delivered.length > 0) {
            await client.query('UPDATE alert_outbox SET delivered_at = clock_timestamp(), attempts = attempts + 1 WHERE outbox_id = ANY($1::bigint[])', [delivered]);
          }
          if (failed.length > 0) {
            await client.query(
              `UPDATE alert_outbox o SET attempts = o.attempts + 1, next_attempt_at = f.retry_at
               FROM unnest($1::bigint[], $2::timestamptz[]) AS f(id, retry_at) WHERE o.outbox_id = f.id`,
              [failed.map((f) => f.outboxId), failed.map((f) => f.retryAt)],
            );
          }
        } catch (err) {
          done = true;
          release(err as Error);
          throw err;
        }
        await finish('COMMIT');
      },
      release: () => finish('ROLLBACK'),
    };
  } catch (err) {
    done = true;
    release(err as Error);
    throw err;
  }
}

/** Age of the oldest undelivered transition (0 when none): the backlog alarm's metric. */
export async function oldestPendingAgeMs(pool: Pick<Pool, 'query'>): Promise<number> {
  const { rows } = await pool.query<{ age_ms: number | null }>(
    `SELECT (EXTRACT(EPOCH FROM clock_timestamp() - min(created_at)) * 1000)::float8 AS age_ms FROM alert_outbox WHERE delivered_at IS NULL`,
  );
  return Math.max(0, Math.round(rows[0]?.age_ms ?? 0));
}

/** Deletes delivered rows older than `before` (the outbox is a queue, not the record: clinical_alerts is). */
export async function pruneDelivered(pool: Pick<Pool, 'query'>, before: Date, limit = 10_000): Promise<number> {
  const { rowCount } = await pool.query(
    `DELETE FROM alert_outbox WHERE outbox_id IN (SELECT outbox_id FROM alert_outbox WHERE delivered_at < $1 LIMIT $2)`,
    [before, limit],
  );
  return rowCount ?? 0;
}

/**
 * A checked-out connection with an `error` listener of its own while out: pg emits `error` on the
 * client when the server goes away (restart, failover, pg_terminate_backend), and an unhandled one
 * would kill the process; the query in flight rejects anyway. A connection that failed is
 * discarded on release, never returned to the pool.
 */
export async function checkout(pool: Pool): Promise<{ client: PoolClient; release: (err?: Error) => void }> {
  const client = await pool.connect();
  let lost: Error | undefined;
  const onError = (err: Error): void => {
    lost = err;
  };
  client.on('error', onError);
  let released = false;
  return {
    client,
    release: (err) => {
      if (released) return;
      released = true;
      client.removeListener('error', onError);
      client.release(err ?? lost);
    },
  };
}

async function inTransaction<T>(pool: Pool, work: (client: PoolClient) => Promise<T>): Promise<T> {
  const { client, release } = await checkout(pool);
  try {
    await client.query('BEGIN');
    const out = await work(client);
    await client.query('COMMIT');
    release();
    return out;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    release(err as Error);
    throw err;
  }
}
