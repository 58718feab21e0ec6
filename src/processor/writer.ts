/**
 * One PostgreSQL transaction per GetRecords batch: dead letters, observations (each event id once),
 * latest vitals, NEWS2 scores, alerts, and the shard checkpoint, fenced on the lease. Either all of it
 * commits or none, so a processor killed at any instant and restarted from the checkpoint neither
 * loses nor duplicates anything.
 *
 * Round trips per batch (issue 11): BEGIN, [dead letters], event ids + observations, lock + read the
 * patients' latest vitals and alert state, one statement for every remaining write and the checkpoint,
 * COMMIT. Array parameters are built as literals (pg-arrays.ts). New patients' encrypted identifiers
 * are inserted before, in their own short transaction: a patients row without observations is
 * harmless, while inserting them inside the batch made every other shard's batch wait on the first.
 */
import type { Pool, PoolClient } from 'pg';
import { alertTransition, type AlertState } from '../pipeline/alerts';
import { decodeRecord, type DeadLetterReason } from '../pipeline/decode';
import { mergeLatest, news2InputFrom, type LatestVitals } from '../pipeline/latest-vitals';
import { scoreNews2, type News2Result } from '../pipeline/news2';
import type { NormalisedEvent } from '../pipeline/normalise';
import type { FieldError } from '../schema';
import { LeaseLostError } from './leases';
import { LruCache, type Ciphertext, type PatientIdentityProtector, type PayloadProtector } from '../adapters/phi';
import { isPoisonError } from '../adapters/error-summary';
import { boolArray, byteaArray, numberArray, textArray, timestampArray } from '../adapters/pg-arrays';
import { recordAlertTransitions } from '../adapters/alert-store';
import { DEFAULT_ESCALATION_POLICY, type EscalationPolicy } from '../alerts/escalation';

export interface StreamRecord {
  readonly data: Uint8Array;
  readonly sequenceNumber: string;
  readonly arrivedAt?: Date;
}

export interface BatchTarget {
  readonly streamName: string;
  readonly shardId: string;
  readonly owner: string;
  readonly epoch: number;
  /** The shard ended with this batch (closed shard drained): mark the lease finished. */
  readonly shardEnd: boolean;
}

export interface BatchOutcome {
  readonly records: number;
  readonly inserted: number;
  readonly duplicates: number;
  readonly deadLetters: number;
  readonly scores: number;
  readonly alerts: number;
  readonly checkpoint: string | null;
}

export interface WriterOptions {
  readonly pool: Pool;
  readonly phi: PatientIdentityProtector;
  /** Dead-letter payloads: their own key and purpose, never the patient-id one (adapters/phi.ts). */
  readonly deadLetterPayloads: PayloadProtector;
  readonly news2WindowMs: number;
  readonly now?: () => Date;
  /** Max tolerated lead of observedAt over the processor clock. @default the core's default */
  readonly maxClockSkewMs?: number;
  /** When unacknowledged high alerts escalate, and to whom. @default DEFAULT_ESCALATION_POLICY */
  readonly escalationPolicy?: EscalationPolicy;
}

/**
 * Why a record is in dead_letters: the core's reasons, plus `unprocessable` for a record the core
 * accepted but the database kept rejecting (isolated by the shard reader; see errors.ts).
 */
export type StoredDeadLetterReason = DeadLetterReason | 'unprocessable';

interface DeadLetter {
  readonly sequenceNumber: string;
  readonly reason: StoredDeadLetterReason;
  readonly errors: FieldError[];
  readonly size: number;
  readonly arrivedAt: Date | null;
  readonly data: Uint8Array;
}

interface Accepted {
  readonly event: NormalisedEvent;
  readonly eventId: string;
  readonly sequenceNumber: string;
  readonly arrivedAt: Date | null;
  readonly index: number;
  pseudonym?: Buffer;
}

const KNOWN_PATIENTS_CACHE = 50_000;

export class BatchWriter {
  private readonly now: () => Date;
  /** Pseudonyms whose encrypted identifier is committed already (skip re-encrypting them). */
  private readonly knownPatients = new LruCache<string, true>(KNOWN_PATIENTS_CACHE);

  constructor(private readonly options: WriterOptions) {
    this.now = options.now ?? (() => new Date());
  }

  async writeBatch(target: BatchTarget, records: readonly StreamRecord[]): Promise<BatchOutcome> {
    const now = this.now();
    const accepted: Accepted[] = [];
    const deadLetters: DeadLetter[] = [];
    const seen = new Set<string>();
    let inBatchDuplicates = 0;
    records.forEach((r, index) => {
      const decoded = decodeRecord(r.data, now, { maxClockSkewMs: this.options.maxClockSkewMs });
      const arrivedAt = r.arrivedAt ?? null;
      if (!decoded.ok) {
        deadLetters.push({ sequenceNumber: r.sequenceNumber, reason: decoded.reason, errors: decoded.errors, size: r.data.length, arrivedAt, data: r.data });
        return;
      }
      const eventId = decoded.event.eventId.toLowerCase();
      if (seen.has(eventId)) {
        inBatchDuplicates++;
        return;
      }
      seen.add(eventId);
      accepted.push({ event: decoded.event, eventId, sequenceNumber: r.sequenceNumber, arrivedAt, index });
    });

    // Crypto before the transaction: KMS calls must not hold a connection and row locks.
    const newPatients = new Map<string, { pseudonym: Buffer; ciphertext: Buffer; dataKeyId: string }>();
    for (const a of accepted) {
      a.pseudonym = await this.options.phi.pseudonym(a.event.patientId);
      const hex = a.pseudonym.toString('hex');
      if (this.knownPatients.get(hex) || newPatients.has(hex)) continue;
      const enc = await this.options.phi.encrypt(Buffer.from(a.event.patientId, 'utf8'), a.pseudonym);
      newPatients.set(hex, { pseudonym: a.pseudonym, ciphertext: enc.ciphertext, dataKeyId: enc.dataKeyId });
    }
    const encryptedDeadLetters = await this.encryptDeadLetters(target, deadLetters);

    if (newPatients.size > 0) await this.insertPatients([...newPatients.values()]);
    for (const hex of newPatients.keys()) this.knownPatients.set(hex, true);

    const checkpoint = records.length > 0 ? (records[records.length - 1] as StreamRecord).sequenceNumber : null;
    return inTransaction(this.options.pool, async (client): Promise<BatchOutcome> => {
      if (encryptedDeadLetters.length > 0) await this.insertDeadLetters(client, target, encryptedDeadLetters);
      const fresh = accepted.length > 0 ? await this.insertObservations(client, target, accepted) : [];
      let written = { scores: 0, alerts: 0 };
      if (fresh.length > 0) written = await this.updatePatients(client, target, fresh, checkpoint);
      else await this.checkpoint(client, target, checkpoint);
      return {
        records: records.length,
        inserted: fresh.length,
        duplicates: accepted.length - fresh.length + inBatchDuplicates,
        deadLetters: deadLetters.length,
        scores: written.scores,
        alerts: written.alerts,
        checkpoint,
      };
    });
  }

  /**
   * Encrypted identifiers of patients not seen before, in key order (two shards inserting the same
   * new patients wait for each other instead of deadlocking), committed on their own.
   */
  private async insertPatients(rows: { pseudonym: Buffer; ciphertext: Buffer; dataKeyId: string }[]): Promise<void> {
    rows.sort((x, y) => Buffer.compare(x.pseudonym, y.pseudonym));
    await this.options.pool.query(
      `INSERT INTO patients (patient_pseudonym, patient_id_ciphertext, data_key_id)
       SELECT * FROM unnest($1::bytea[], $2::bytea[], $3::uuid[]) ON CONFLICT (patient_pseudonym) DO NOTHING`,
      [byteaArray(rows.map((r) => r.pseudonym)), byteaArray(rows.map((r) => r.ciphertext)), textArray(rows.map((r) => r.dataKeyId))],
    );
  }

  /**
   * Dead-letters one record the database keeps rejecting (reason `unprocessable`), with the checkpoint
   * moved onto it, in one transaction fenced on the lease. `errors` name the SQLSTATE and schema
   * objects only (errors.ts `rejectionDescription`), never values.
   */
  async writeUnprocessable(target: BatchTarget, record: StreamRecord, errors: readonly FieldError[]): Promise<BatchOutcome> {
    const deadLetter: DeadLetter = {
      sequenceNumber: record.sequenceNumber,
      reason: 'unprocessable',
      errors: [...errors],
      size: record.data.length,
      arrivedAt: record.arrivedAt ?? null,
      data: record.data,
    };
    const encrypted = await this.encryptDeadLetters(target, [deadLetter]);
    await inTransaction(this.options.pool, async (client) => {
      await this.insertDeadLetters(client, target, encrypted);
      await this.checkpoint(client, target, record.sequenceNumber);
    });
    return { records: 1, inserted: 0, duplicates: 0, deadLetters: 1, scores: 0, alerts: 0, checkpoint: record.sequenceNumber };
  }

  /** Crypto before the transaction (KMS calls must not hold a connection); the row binds the ciphertext (AAD). */
  private async encryptDeadLetters(target: BatchTarget, deadLetters: readonly DeadLetter[]): Promise<(DeadLetter & { payload: Ciphertext })[]> {
    const out: (DeadLetter & { payload: Ciphertext })[] = [];
    for (const d of deadLetters) {
      const aad = Buffer.from(`${target.streamName}/${target.shardId}/${d.sequenceNumber}`);
      out.push({ ...d, payload: await this.options.deadLetterPayloads.encrypt(Buffer.from(d.data), aad) });
    }
    return out;
  }

  private async insertDeadLetters(client: PoolClient, target: BatchTarget, d: readonly (DeadLetter & { payload: Ciphertext })[]): Promise<void> {
    await client.query(
      `INSERT INTO dead_letters (stream_name, shard_id, sequence_number, reason, errors, payload_bytes, payload_ciphertext, data_key_id, arrived_at)
       SELECT $1::text, $2::text, * FROM unnest($3::text[], $4::text[], $5::jsonb[], $6::int[], $7::bytea[], $8::uuid[], $9::timestamptz[])
       ON CONFLICT (stream_name, shard_id, sequence_number) DO NOTHING`,
      [
        target.streamName,
        target.shardId,
        d.map((x) => x.sequenceNumber),
        d.map((x) => x.reason),
        d.map((x) => JSON.stringify(x.errors)),
        d.map((x) => x.size),
        d.map((x) => x.payload.ciphertext),
        d.map((x) => x.payload.dataKeyId),
        d.map((x) => x.arrivedAt),
      ],
    );
  }

  /**
   * event_ids first (ON CONFLICT DO NOTHING), observations only for the ids actually inserted. The
   * observations' own key (event id, observation time) guards too: an event replayed after its id was
   * pruned (past the retention horizon) is still not stored, scored or alerted twice.
   */
  private async insertObservations(client: PoolClient, target: BatchTarget, accepted: Accepted[]): Promise<Accepted[]> {
    // Event ids in key order: a duplicate batch in another shard (same ids, another order) waits for
    // this one instead of deadlocking with it.
    const ordered = [...accepted].sort((x, y) => (x.eventId < y.eventId ? -1 : x.eventId > y.eventId ? 1 : 0));
    const v = <T>(pick: (a: Accepted) => T): T[] => ordered.map(pick);
    const { rows } = await client.query<{ event_id: string }>(
      `WITH input AS (
         SELECT * FROM unnest($1::uuid[], $2::timestamptz[], $3::bytea[], $4::text[], $5::text[], $6::float8[], $7::float8[],
                              $8::float8[], $9::int2[], $10::bool[], $11::float8[], $12::float8[], $13::float8[], $14::text[],
                              $15::text[], $16::timestamptz[])
           AS t(event_id, observed_at, patient_pseudonym, device_id, facility_id, pulse, respiration_rate, spo2, spo2_scale,
                on_supplemental_oxygen, systolic_bp, diastolic_bp, temperature_c, consciousness, sequence_number, arrived_at)
       ), fresh AS (
         INSERT INTO event_ids (event_id, observed_at) SELECT event_id, observed_at FROM input
         ON CONFLICT (event_id) DO NOTHING RETURNING event_id
       )
       INSERT INTO observations (event_id, observed_at, patient_pseudonym, device_id, facility_id, pulse, respiration_rate, spo2,
                                 spo2_scale, on_supplemental_oxygen, systolic_bp, diastolic_bp, temperature_c, consciousness,
                                 shard_id, sequence_number, arrived_at)
       SELECT i.event_id, i.observed_at, i.patient_pseudonym, i.device_id, i.facility_id, i.pulse, i.respiration_rate, i.spo2,
              i.spo2_scale, i.on_supplemental_oxygen, i.systolic_bp, i.diastolic_bp, i.temperature_c, i.consciousness,
              $17, i.sequence_number, i.arrived_at
       FROM input i JOIN fresh USING (event_id)
       ON CONFLICT (event_id, observed_at) DO NOTHING
       RETURNING event_id`,
      [
        textArray(v((a) => a.eventId)),
        timestampArray(v((a) => a.event.observedAt)),
        byteaArray(v((a) => a.pseudonym)),
        textArray(v((a) => a.event.deviceId)),
        textArray(v((a) => a.event.facilityId)),
        numberArray(v((a) => a.event.vitals.pulse)),
        numberArray(v((a) => a.event.vitals.respirationRate)),
        numberArray(v((a) => a.event.vitals.spo2)),
        numberArray(v((a) => a.event.vitals.spo2Scale)),
        boolArray(v((a) => a.event.vitals.onSupplementalOxygen)),
        numberArray(v((a) => a.event.vitals.systolicBp)),
        numberArray(v((a) => a.event.vitals.diastolicBp)),
        numberArray(v((a) => a.event.vitals.temperatureC)),
        textArray(v((a) => a.event.vitals.consciousness)),
        textArray(v((a) => a.sequenceNumber)),
        timestampArray(v((a) => a.arrivedAt)),
        target.shardId,
      ],
    );
    const inserted = new Set(rows.map((r) => r.event_id));
    return accepted.filter((a) => inserted.has(a.eventId));
  }

  /**
   * Latest vitals, scores and alerts for the patients of the newly stored events, then the
   * checkpoint. Patient rows are locked in pseudonym order (one statement, which also reads their
   * alert state), so concurrent batches touching the same patients from other shards serialise
   * instead of deadlocking; every write after that is one statement whose last step is the fence.
   */
  private async updatePatients(
    client: PoolClient,
    target: BatchTarget,
    fresh: Accepted[],
    checkpoint: string | null,
  ): Promise<{ scores: number; alerts: number }> {
    const byPatient = new Map<string, Accepted[]>();
    for (const a of fresh) {
      const hex = (a.pseudonym as Buffer).toString('hex');
      const list = byPatient.get(hex);
      if (list) list.push(a);
      else byPatient.set(hex, [a]);
    }
    const patients = [...byPatient.keys()].sort();
    const facilityOf = (hex: string): string => {
      const list = byPatient.get(hex) as Accepted[];
      return (list[list.length - 1] as Accepted).event.facilityId;
    };
    const pseudonyms = patients.map((h) => (byPatient.get(h) as Accepted[])[0]?.pseudonym as Buffer);
    const locked = await client.query<{ patient_pseudonym: Buffer; vitals: SerialisedLatest; risk: AlertState['risk'] | null; any_parameter_three: boolean | null }>(
      `WITH locked AS (
         INSERT INTO latest_vitals (patient_pseudonym, facility_id, vitals)
         SELECT p, f, '{}'::jsonb FROM unnest($1::bytea[], $2::text[]) AS t(p, f) ORDER BY p
         ON CONFLICT (patient_pseudonym) DO UPDATE SET updated_at = latest_vitals.updated_at
         RETURNING patient_pseudonym, vitals
       )
       SELECT l.patient_pseudonym, l.vitals, s.risk, s.any_parameter_three
       FROM locked l LEFT JOIN alert_state s USING (patient_pseudonym)`,
      [byteaArray(pseudonyms), textArray(patients.map(facilityOf))],
    );
    const latestByPatient = new Map<string, LatestVitals>();
    const stateByPatient = new Map<string, AlertState>();
    for (const r of locked.rows) {
      const hex = r.patient_pseudonym.toString('hex');
      latestByPatient.set(hex, parseLatest(r.vitals));
      if (r.any_parameter_three !== null) stateByPatient.set(hex, { risk: r.risk, anyParameterThree: r.any_parameter_three });
    }

    const latestRows: { p: Buffer; v: string; f: string }[] = [];
    const scoreRows: { a: Accepted; r: News2Result }[] = [];
    const alertRows: { a: Accepted; r: News2Result; kind: string }[] = [];
    const stateRows: { p: Buffer; s: AlertState }[] = [];
    patients.forEach((hex, i) => {
      const events = [...(byPatient.get(hex) as Accepted[])].sort(
        (x, y) => x.event.observedAt.getTime() - y.event.observedAt.getTime() || x.index - y.index,
      );
      let latest = latestByPatient.get(hex) ?? {};
      let state: AlertState | null = stateByPatient.get(hex) ?? null;
      const initialState = state;
      for (const a of events) {
        const merged = mergeLatest(latest, a.event);
        const changed = (Object.keys(merged) as (keyof LatestVitals)[]).some((k) => merged[k] !== latest[k]);
        latest = merged;
        // A late event that changed nothing leaves the score as it was: no new row, no transition.
        if (!changed) continue;
        const input = news2InputFrom(latest, asOf(latest), this.options.news2WindowMs);
        if (!input) continue;
        const result = scoreNews2(input);
        scoreRows.push({ a, r: result });
        const decision = alertTransition(state, result);
        state = decision.next;
        if (decision.raise && decision.kind) alertRows.push({ a, r: result, kind: decision.kind });
      }
      const p = pseudonyms[i] as Buffer;
      latestRows.push({ p, v: JSON.stringify(latest), f: facilityOf(hex) });
      if (state && state !== initialState) stateRows.push({ p, s: state });
    });

    // The alerts that reach clinicians: lifecycle and outbox rows in this transaction (issue 12).
    await recordAlertTransitions(
      client,
      scoreRows.map(({ a, r }) => ({ eventId: a.eventId, observedAt: a.event.observedAt, receivedAt: a.arrivedAt, patientPseudonym: (a.pseudonym as Buffer).toString('hex'), facilityId: a.event.facilityId, deviceId: a.event.deviceId, score: r })),
      this.now(),
      this.options.escalationPolicy ?? DEFAULT_ESCALATION_POLICY,
    );
    const { rows } = await client.query<{ fenced: number }>(
      `WITH latest AS (
         UPDATE latest_vitals AS l SET vitals = t.v, facility_id = t.f, updated_at = now()
         FROM unnest($1::bytea[], $2::jsonb[], $3::text[]) AS t(p, v, f) WHERE l.patient_pseudonym = t.p
       ), scores AS (
         INSERT INTO news2_scores (event_id, observed_at, patient_pseudonym, facility_id, total, risk, parameters)
         SELECT * FROM unnest($4::uuid[], $5::timestamptz[], $6::bytea[], $7::text[], $8::int2[], $9::text[], $10::jsonb[])
       ), states AS (
         INSERT INTO alert_state (patient_pseudonym, risk, any_parameter_three, updated_at)
         SELECT p, r, t, now() FROM unnest($11::bytea[], $12::text[], $13::bool[]) AS u(p, r, t)
         ON CONFLICT (patient_pseudonym) DO UPDATE
         SET risk = EXCLUDED.risk, any_parameter_three = EXCLUDED.any_parameter_three, updated_at = now()
       ), raised AS (
         INSERT INTO alerts (event_id, observed_at, patient_pseudonym, facility_id, kind, risk, total, parameters)
         SELECT * FROM unnest($14::uuid[], $15::timestamptz[], $16::bytea[], $17::text[], $18::text[], $19::text[], $20::int2[], $21::jsonb[])
         ON CONFLICT (event_id) DO NOTHING
       ), fence AS (${CHECKPOINT_AFTER_21_SQL} RETURNING 1)
       SELECT count(*)::int AS fenced FROM fence`,
      [
        byteaArray(latestRows.map((r) => r.p)),
        textArray(latestRows.map((r) => r.v)),
        textArray(latestRows.map((r) => r.f)),
        textArray(scoreRows.map((s) => s.a.eventId)),
        timestampArray(scoreRows.map((s) => s.a.event.observedAt)),
        byteaArray(scoreRows.map((s) => s.a.pseudonym)),
        textArray(scoreRows.map((s) => s.a.event.facilityId)),
        numberArray(scoreRows.map((s) => s.r.total)),
        textArray(scoreRows.map((s) => s.r.risk)),
        textArray(scoreRows.map((s) => JSON.stringify(s.r.parameters))),
        byteaArray(stateRows.map((s) => s.p)),
        textArray(stateRows.map((s) => s.s.risk)),
        boolArray(stateRows.map((s) => s.s.anyParameterThree)),
        textArray(alertRows.map((x) => x.a.eventId)),
        timestampArray(alertRows.map((x) => x.a.event.observedAt)),
        byteaArray(alertRows.map((x) => x.a.pseudonym)),
        textArray(alertRows.map((x) => x.a.event.facilityId)),
        textArray(alertRows.map((x) => x.kind)),
        textArray(alertRows.map((x) => x.r.risk)),
        numberArray(alertRows.map((x) => x.r.total)),
        textArray(alertRows.map((x) => JSON.stringify(x.r.parameters))),
        ...checkpointParams(target, checkpoint),
      ],
    );
    if (rows[0]?.fenced !== 1) throw new LeaseLostError(target.shardId);
    return { scores: scoreRows.length, alerts: alertRows.length };
  }

  /** The fence: the checkpoint moves only if this worker still holds the lease at the same epoch. */
  private async checkpoint(client: PoolClient, target: BatchTarget, checkpoint: string | null): Promise<void> {
    const { rowCount } = await client.query(CHECKPOINT_SQL, checkpointParams(target, checkpoint));
    if (rowCount !== 1) throw new LeaseLostError(target.shardId);
  }
}

/** The checkpoint update fenced on (owner, epoch); $1..$6 as checkpointParams. */
const CHECKPOINT_SQL = `UPDATE shard_leases
       SET checkpoint = COALESCE($5, checkpoint), finished = $6,
           owner = CASE WHEN $6 THEN NULL ELSE owner END,
           expires_at = CASE WHEN $6 THEN NULL ELSE expires_at END,
           updated_at = now()
       WHERE stream_name = $1 AND shard_id = $2 AND owner = $3 AND epoch = $4 AND NOT finished`;

/** The same, its parameters numbered after the 21 of updatePatients' final statement. */
const CHECKPOINT_AFTER_21_SQL = CHECKPOINT_SQL.replace(/\$(\d)/g, (_, n: string) => `$${Number(n) + 21}`);

function checkpointParams(target: BatchTarget, checkpoint: string | null): unknown[] {
  return [target.streamName, target.shardId, target.owner, target.epoch, checkpoint, target.shardEnd];
}

type SerialisedLatest = Record<string, { value: unknown; observedAt: string }>;

/** jsonb -> LatestVitals (observedAt back to Date). */
export function parseLatest(json: SerialisedLatest | null): LatestVitals {
  const out: Record<string, { value: unknown; observedAt: Date }> = {};
  for (const [k, tv] of Object.entries(json ?? {})) out[k] = { value: tv.value, observedAt: new Date(tv.observedAt) };
  return out as LatestVitals;
}

/** The newest observation time among the latest values: the instant the score describes. */
function asOf(latest: LatestVitals): Date {
  let max = 0;
  for (const tv of Object.values(latest) as { observedAt: Date }[]) max = Math.max(max, tv.observedAt.getTime());
  return new Date(max);
}

/**
 * Runs `work` in one transaction on a checked-out connection. While checked out the connection has
 * an `error` listener of its own: pg emits `error` on the client when the server goes away (restart,
 * failover, pg_terminate_backend) even while a query is in flight, and an unhandled `error` event
 * would kill the process. The query in flight rejects with the same loss, so the batch fails as
 * retryable. Afterwards the connection goes back to the pool only when the database rejected the
 * content (poison) and the rollback worked; after anything else (connection lost, 25006 read-only:
 * a writer demoted by a failover, timeouts) it is discarded, so the next connect resolves the
 * endpoint again and reaches the new writer.
 */
export async function inTransaction<T>(pool: Pool, work: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let lost: Error | undefined;
  const onError = (err: Error): void => {
    lost = err;
  };
  client.on('error', onError);
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    client.removeListener('error', onError);
    client.release();
    return result;
  } catch (err) {
    const rolledBack = lost === undefined && (await client.query('ROLLBACK').then(() => true, () => false));
    client.removeListener('error', onError);
    const keep = rolledBack && lost === undefined && isPoisonError(err);
    client.release(keep ? undefined : (lost ?? (err instanceof Error ? err : new Error('transaction failed'))));
    throw err;
  }
}
