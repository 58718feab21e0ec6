/**
 * One PostgreSQL transaction per GetRecords batch: dead letters, observations (each event, identified
 * by event id and observation time, once), latest vitals, NEWS2 scores, alerts, and the shard
 * checkpoint, fenced on the lease. Either all of it commits or none, so a processor killed at any
 * instant and restarted from the checkpoint neither loses nor duplicates anything.
 *
 * The per-batch statements whose text never changes (the lock, the write) are named: prepared once
 * per connection, so PostgreSQL parses and plans them once instead of per batch (~15 % of its CPU per
 * event at steady-traffic batch sizes). The stored-events check stays unnamed: its plan prunes the
 * observation partitions to the batch's days, which a generic plan would plan over all of them.
 *
 * Round trips per batch (issue 11): BEGIN, [dead letters], lock and read the patients' latest vitals,
 * find the events already stored (observations' own key), [the patients' open alerts, their saves
 * and outbox rows: alert-store.ts], one statement for every remaining write (observations with their
 * NEWS2 score, latest vitals) and the checkpoint, COMMIT. The per-batch statements' array parameters
 * go in PostgreSQL's binary format (pg-binary-arrays.ts: no decimal text formatted here or parsed
 * there), the observations as one array of `observation_input` rows (migration 0010); the
 * once-per-new-patient statements keep text literals (pg-arrays.ts). New patients' encrypted
 * identifiers and empty latest_vitals rows, and the dictionary rows observations refer to
 * (patient_keys, sources: migration 0008), are inserted before, in short transactions of their own:
 * such a row without observations is harmless, while inserting them inside the batch made every
 * other shard's batch wait on the first. The legacy per-raise tables (alerts, alert_state) are no
 * longer written: docs/design.md "Processor cost".
 */
import type { Pool, PoolClient } from 'pg';
import { decodeRecord, type DeadLetterReason } from '../pipeline/decode';
import { mergeLatest, news2InputFrom, type LatestVitals } from '../pipeline/latest-vitals';
import { scoreNews2, type News2Result } from '../pipeline/news2';
import { packNews2Parameters } from '../pipeline/news2-packing';
import { packLatest, unpackLatest } from '../pipeline/latest-vitals-packing';
import type { NormalisedEvent } from '../pipeline/normalise';
import type { FieldError } from '../schema';
import { LeaseLostError } from './leases';
import { LruCache, type Ciphertext, type PatientIdentityProtector, type PayloadProtector } from '../adapters/phi';
import { isPoisonError } from '../adapters/error-summary';
import { byteaArray, textArray } from '../adapters/pg-arrays';
import * as binary from '../adapters/pg-binary-arrays';
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
  /** The pseudonym in hex: the writer's key for the patient within a batch. */
  hex?: string;
  /** patient_keys.patient_key of the pseudonym. */
  patientKey?: number;
  /** sources.source_key of (device id, facility id). */
  sourceKey?: number;
  /** The NEWS2 score stored on this observation's row (null: it changed no score). */
  score?: News2Result | null;
}

const KNOWN_PATIENTS_CACHE = 50_000;

interface NewPatient {
  readonly pseudonym: Buffer;
  readonly ciphertext: Buffer;
  readonly dataKeyId: string;
  /** The facility of the patient's first event in the batch (latest_vitals.facility_id until a batch of theirs commits). */
  readonly facilityId: string;
}

interface KnownPatient {
  readonly pseudonym: Buffer;
  readonly hex: string;
  readonly patientKey: number;
}
const KNOWN_SOURCES_CACHE = 50_000;

export class BatchWriter {
  private readonly now: () => Date;
  /**
   * Pseudonym (hex) -> patient_key, for patients whose encrypted identifier and key row are committed
   * already (skip re-encrypting them and looking the key up).
   */
  private readonly patientKeys = new LruCache<string, number>(KNOWN_PATIENTS_CACHE);
  /** `device id \n facility id` -> source_key. */
  private readonly sourceKeys = new LruCache<string, number>(KNOWN_SOURCES_CACHE);
  /**
   * Patient identifier -> pseudonym and patient_key, for patients whose rows are committed: the
   * common case (a known patient) costs one lookup per event, no await, no hex conversion. In memory
   * only, like the protector's own pseudonym cache.
   */
  private readonly knownPatients = new LruCache<string, KnownPatient>(KNOWN_PATIENTS_CACHE);

  /** pg_type.oid of observation_input (migration 0010), looked up once per writer. */
  private inputOid: number | undefined;

  constructor(private readonly options: WriterOptions) {
    this.now = options.now ?? (() => new Date());
  }

  async writeBatch(target: BatchTarget, records: readonly StreamRecord[]): Promise<BatchOutcome> {
    const now = this.now();
    const accepted: Accepted[] = [];
    const deadLetters: DeadLetter[] = [];
    // An event is (event id, observation time): a retry repeats both, and its patient (docs/design.md,
    // "Data model"). The same key for another patient is a producer bug: both go on to the insert,
    // whose unique violation dead-letters the later one (never silently dropped as a duplicate).
    // Keyed by event id first: full keys are built only for an id seen twice in the batch (rare).
    const firstById = new Map<string, Accepted>();
    let repeatedKeys: Set<string> | undefined;
    let inBatchDuplicates = 0;
    records.forEach((r, index) => {
      const decoded = decodeRecord(r.data, now, { maxClockSkewMs: this.options.maxClockSkewMs });
      const arrivedAt = r.arrivedAt ?? null;
      if (!decoded.ok) {
        deadLetters.push({ sequenceNumber: r.sequenceNumber, reason: decoded.reason, errors: decoded.errors, size: r.data.length, arrivedAt, data: r.data });
        return;
      }
      const a: Accepted = { event: decoded.event, eventId: decoded.event.eventId.toLowerCase(), sequenceNumber: r.sequenceNumber, arrivedAt, index };
      const first = firstById.get(a.eventId);
      if (first === undefined) {
        firstById.set(a.eventId, a);
        accepted.push(a);
        return;
      }
      repeatedKeys ??= new Set();
      repeatedKeys.add(eventKey(first));
      const key = eventKey(a);
      if (repeatedKeys.has(key)) {
        inBatchDuplicates++;
        return;
      }
      repeatedKeys.add(key);
      accepted.push(a);
    });

    // Crypto before the transaction: KMS calls must not hold a connection and row locks.
    const newPatients = new Map<string, NewPatient>();
    const newSources = new Map<string, { deviceId: string; facilityId: string }>();
    /** Events whose patient or source key the caches did not hold: resolved after the inserts below. */
    const unresolved: Accepted[] = [];
    for (const a of accepted) {
      const sourceId = `${a.event.deviceId}\n${a.event.facilityId}`;
      a.sourceKey = this.sourceKeys.get(sourceId);
      if (a.sourceKey === undefined && !newSources.has(sourceId)) newSources.set(sourceId, { deviceId: a.event.deviceId, facilityId: a.event.facilityId });
      const known = this.knownPatients.get(a.event.patientId);
      if (known) {
        a.pseudonym = known.pseudonym;
        a.hex = known.hex;
        a.patientKey = known.patientKey;
        if (a.sourceKey === undefined) unresolved.push(a);
        continue;
      }
      unresolved.push(a);
      a.pseudonym = await this.options.phi.pseudonym(a.event.patientId);
      const hex = (a.hex = a.pseudonym.toString('hex'));
      a.patientKey = this.patientKeys.get(hex);
      if (a.patientKey !== undefined || newPatients.has(hex)) continue;
      const enc = await this.options.phi.encrypt(Buffer.from(a.event.patientId, 'utf8'), a.pseudonym);
      newPatients.set(hex, { pseudonym: a.pseudonym, ciphertext: enc.ciphertext, dataKeyId: enc.dataKeyId, facilityId: a.event.facilityId });
    }
    const encryptedDeadLetters = await this.encryptDeadLetters(target, deadLetters);

    if (newPatients.size > 0) await this.insertPatients([...newPatients.values()]);
    if (newSources.size > 0) await this.insertSources([...newSources.entries()]);
    for (const a of unresolved) {
      if (a.patientKey === undefined) {
        a.patientKey = this.patientKeys.get(a.hex as string);
        if (a.patientKey !== undefined) this.knownPatients.set(a.event.patientId, { pseudonym: a.pseudonym as Buffer, hex: a.hex as string, patientKey: a.patientKey });
      } else if (this.knownPatients.get(a.event.patientId) === undefined) {
        this.knownPatients.set(a.event.patientId, { pseudonym: a.pseudonym as Buffer, hex: a.hex as string, patientKey: a.patientKey });
      }
      if (a.sourceKey === undefined) a.sourceKey = this.sourceKeys.get(`${a.event.deviceId}\n${a.event.facilityId}`);
      if (a.patientKey === undefined || a.sourceKey === undefined) throw new Error('patient or source key not resolved');
    }

    const checkpoint = records.length > 0 ? (records[records.length - 1] as StreamRecord).sequenceNumber : null;
    return inTransaction(this.options.pool, async (client): Promise<BatchOutcome> => {
      if (encryptedDeadLetters.length > 0) await this.insertDeadLetters(client, target, encryptedDeadLetters);
      let written = { fresh: 0, scores: 0, alerts: 0 };
      if (accepted.length > 0) written = await this.updatePatients(client, target, accepted, checkpoint);
      else await this.checkpoint(client, target, checkpoint);
      return {
        records: records.length,
        inserted: written.fresh,
        duplicates: accepted.length - written.fresh + inBatchDuplicates,
        deadLetters: deadLetters.length,
        scores: written.scores,
        alerts: written.alerts,
        checkpoint,
      };
    });
  }

  /**
   * Encrypted identifiers of patients not seen before, their patient_keys rows and their (empty)
   * latest_vitals rows, which every batch of theirs then locks, in key order (two shards inserting the
   * same new patients wait for each other instead of deadlocking), committed on their own
   * (autocommit: the key SELECT is a new statement, so it sees rows another shard committed while
   * this one's INSERT waited on them). Caches the keys.
   */
  private async insertPatients(rows: NewPatient[]): Promise<void> {
    rows.sort((x, y) => Buffer.compare(x.pseudonym, y.pseudonym));
    const pseudonyms = byteaArray(rows.map((r) => r.pseudonym));
    await this.options.pool.query(
      `WITH p AS (
         INSERT INTO patients (patient_pseudonym, patient_id_ciphertext, data_key_id)
         SELECT * FROM unnest($1::bytea[], $2::bytea[], $3::uuid[]) ON CONFLICT (patient_pseudonym) DO NOTHING
       ), l AS (
         INSERT INTO latest_vitals (patient_pseudonym, facility_id)
         SELECT * FROM unnest($1::bytea[], $4::text[]) ON CONFLICT (patient_pseudonym) DO NOTHING
       )
       INSERT INTO patient_keys (patient_pseudonym) SELECT unnest($1::bytea[]) ON CONFLICT (patient_pseudonym) DO NOTHING`,
      [pseudonyms, byteaArray(rows.map((r) => r.ciphertext)), textArray(rows.map((r) => r.dataKeyId)), textArray(rows.map((r) => r.facilityId))],
    );
    const { rows: keys } = await this.options.pool.query<{ patient_pseudonym: Buffer; patient_key: number }>(
      'SELECT patient_pseudonym, patient_key FROM patient_keys WHERE patient_pseudonym = ANY($1::bytea[])',
      [pseudonyms],
    );
    for (const k of keys) this.patientKeys.set(k.patient_pseudonym.toString('hex'), k.patient_key);
  }

  /** sources rows of (device, facility) pairs not seen before, as insertPatients. Caches the keys. */
  private async insertSources(entries: [string, { deviceId: string; facilityId: string }][]): Promise<void> {
    entries.sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0));
    const devices = textArray(entries.map(([, s]) => s.deviceId));
    const facilities = textArray(entries.map(([, s]) => s.facilityId));
    await this.options.pool.query(
      `INSERT INTO sources (device_id, facility_id) SELECT * FROM unnest($1::text[], $2::text[])
       ON CONFLICT (device_id, facility_id) DO NOTHING`,
      [devices, facilities],
    );
    const { rows } = await this.options.pool.query<{ device_id: string; facility_id: string; source_key: number }>(
      `SELECT s.device_id, s.facility_id, s.source_key FROM sources s
       JOIN unnest($1::text[], $2::text[]) AS t(d, f) ON s.device_id = t.d AND s.facility_id = t.f`,
      [devices, facilities],
    );
    for (const r of rows) this.sourceKeys.set(`${r.device_id}\n${r.facility_id}`, r.source_key);
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
   * Observations, latest vitals, scores and alerts of the events not stored yet, then the checkpoint.
   * One statement locks and reads the rows of all the batch's patients, in pseudonym order, so
   * concurrent batches touching the same patients from other shards serialise instead of
   * deadlocking; SELECT ... FOR UPDATE returns each row's latest committed version (READ COMMITTED
   * re-reads a row it had to wait for). Then, in a new statement (a snapshot taken after the locks are
   * held): which events are stored already. Every write after that is one statement whose last step
   * is the fence.
   */
  private async updatePatients(
    client: PoolClient,
    target: BatchTarget,
    accepted: Accepted[],
    checkpoint: string | null,
  ): Promise<{ fresh: number; scores: number; alerts: number }> {
    const byPatient = groupByPatient(accepted);
    const patients = [...byPatient.keys()].sort();
    const facilityOf = (hex: string): string => {
      const list = byPatient.get(hex) as Accepted[];
      return (list[list.length - 1] as Accepted).event.facilityId;
    };
    const pseudonyms = patients.map((h) => (byPatient.get(h) as Accepted[])[0]?.pseudonym as Buffer);
    const latestByPatient = await this.lockPatients(client, patients, pseudonyms, facilityOf);
    const fresh = await this.notStored(client, accepted);
    if (fresh.length === 0) {
      await this.checkpoint(client, target, checkpoint);
      return { fresh: 0, scores: 0, alerts: 0 };
    }
    const freshByPatient = groupByPatient(fresh);

    const latestRows: { p: Buffer; v: Buffer; f: string }[] = [];
    const scoreRows: { a: Accepted; r: News2Result }[] = [];
    patients.forEach((hex, i) => {
      const patientFresh = freshByPatient.get(hex);
      // Only duplicates of this patient: its latest values and alerts stay as they are.
      if (!patientFresh) return;
      const events = [...patientFresh].sort(
        (x, y) => x.event.observedAt.getTime() - y.event.observedAt.getTime() || x.index - y.index,
      );
      let latest = latestByPatient.get(hex) ?? {};
      for (const a of events) {
        const merged = mergeLatest(latest, a.event);
        const changed = merged !== latest;
        latest = merged;
        // A late event that changed nothing leaves the score as it was: no score, no transition.
        if (!changed) continue;
        const input = news2InputFrom(latest, asOf(latest), this.options.news2WindowMs);
        if (!input) continue;
        const result = scoreNews2(input);
        a.score = result;
        scoreRows.push({ a, r: result });
      }
      latestRows.push({ p: pseudonyms[i] as Buffer, v: packLatest(latest), f: facilityOf(hex) });
    });

    // The alerts that reach clinicians: lifecycle and outbox rows in this transaction (issue 12).
    const { raised } = await recordAlertTransitions(
      client,
      scoreRows.map(({ a, r }) => ({ eventId: a.eventId, observedAt: a.event.observedAt, receivedAt: a.arrivedAt, patientPseudonym: a.hex as string, facilityId: a.event.facilityId, deviceId: a.event.deviceId, score: r })),
      this.now(),
      this.options.escalationPolicy ?? DEFAULT_ESCALATION_POLICY,
    );
    // fresh is in key order (notStored): two batches inserting the same keys (a producer bug: the same
    // event id and time for two patients) wait for each other instead of deadlocking, and the later
    // fails with a unique violation, which the shard reader isolates and dead-letters (errors.ts).
    const params: unknown[] = [];
    const p = (value: unknown, type: string): string => {
      params.push(value);
      return `$${params.length}::${type}`;
    };
    const rows = new binary.CompositeArrayBuilder(OBSERVATION_INPUT, await this.observationInputOid(client), fresh.length, OBSERVATION_INPUT_FIELDS);
    for (const a of fresh) {
      const v = a.event.vitals;
      rows.row().uuid(a.eventId).timestamptz(a.event.observedAt).int4(a.patientKey).int4(a.sourceKey);
      rows.float4(v.pulse).float4(v.respirationRate).float4(v.spo2).float4(v.systolicBp).float4(v.diastolicBp).float4(v.temperatureC);
      rows.int2(a.score?.total).int2(a.score ? packNews2Parameters(a.score.parameters) : null).int2(v.spo2Scale).bool(v.onSupplementalOxygen).char(v.consciousness);
    }
    const observationsSql = `INSERT INTO observations (event_id, observed_at, patient_key, source_key, pulse, respiration_rate, spo2,
           systolic_bp, diastolic_bp, temperature_c, news2_total, news2_parameters, spo2_scale, on_supplemental_oxygen, consciousness)
         SELECT * FROM unnest(${p(rows.finish(), `${OBSERVATION_INPUT}[]`)})`;
    const latestSql = `UPDATE latest_vitals AS l SET packed = t.v, facility_id = t.f, updated_at = now()
         FROM unnest(${p(binary.byteaArray(latestRows.map((r) => r.p)), 'bytea[]')}, ${p(binary.byteaArray(latestRows.map((r) => r.v)), 'bytea[]')},
                     ${p(binary.textArray(latestRows.map((r) => r.f)), 'text[]')}) AS t(p, v, f)
         WHERE l.patient_pseudonym = t.p`;
    const fenceSql = checkpointSql(params.length);
    params.push(...checkpointParams(target, checkpoint));
    const fenced = await client
      .query<{ fenced: number }>({
        name: 'vitals-writer-batch',
        text: `WITH observations_in AS (${observationsSql}), latest AS (${latestSql}), fence AS (${fenceSql} RETURNING 1)
       SELECT count(*)::int AS fenced FROM fence`,
        values: params,
      })
      .catch((err: unknown) => {
        // Looked up again on the retry, in case the type was created again under a new OID (the old
        // one fails as datatype_mismatch, or as "cache lookup failed" on a connection that prepared
        // the statement before: not poison either way, and that connection is discarded).
        this.inputOid = undefined;
        throw err;
      });
    if (fenced.rows[0]?.fenced !== 1) throw new LeaseLostError(target.shardId);
    return { fresh: fresh.length, scores: scoreRows.length, alerts: raised };
  }

  /** A user-defined type has no fixed OID, and the binary array names its element type by OID. */
  private async observationInputOid(client: PoolClient): Promise<number> {
    if (this.inputOid === undefined) {
      const { rows } = await client.query<{ oid: string }>(`SELECT '${OBSERVATION_INPUT}'::regtype::oid::int8 AS oid`);
      this.inputOid = Number(rows[0]?.oid);
    }
    return this.inputOid as number;
  }

  /**
   * Locks the patients' latest_vitals rows in pseudonym order and reads them (one statement). The rows
   * exist: insertPatients creates each patient's row, with its identifier, before any batch of theirs.
   * A row missing anyway (created by an older version, or deleted by hand) is inserted here and read
   * again: two statements more, only then.
   */
  private async lockPatients(client: PoolClient, patients: readonly string[], pseudonyms: readonly Buffer[], facilityOf: (hex: string) => string): Promise<Map<string, LatestVitals>> {
    const read = (values: readonly Buffer[]): Promise<{ rows: { patient_pseudonym: Buffer; packed: Buffer | null }[] }> =>
      client.query<{ patient_pseudonym: Buffer; packed: Buffer | null }>({
        name: 'vitals-writer-lock-patients',
        text: `SELECT patient_pseudonym, packed FROM latest_vitals WHERE patient_pseudonym = ANY($1::bytea[])
         ORDER BY patient_pseudonym FOR UPDATE`,
        values: [binary.byteaArray(values)],
      });
    const latest = new Map<string, LatestVitals>();
    for (const r of (await read(pseudonyms)).rows) latest.set(r.patient_pseudonym.toString('hex'), unpackLatest(r.packed));
    if (latest.size === patients.length) return latest;
    const missing = patients.flatMap((hex, i) => (latest.has(hex) ? [] : [{ hex, p: pseudonyms[i] as Buffer }]));
    // ON CONFLICT DO UPDATE ... WHERE false: inserts the row, or locks it unchanged when another batch
    // committed it meanwhile; the SELECT then reads what that batch wrote.
    await client.query(
      `INSERT INTO latest_vitals (patient_pseudonym, facility_id)
       SELECT p, f FROM unnest($1::bytea[], $2::text[]) AS t(p, f) ORDER BY p
       ON CONFLICT (patient_pseudonym) DO UPDATE SET updated_at = latest_vitals.updated_at WHERE false`,
      [byteaArray(missing.map((m) => m.p)), textArray(missing.map((m) => facilityOf(m.hex)))],
    );
    for (const r of (await read(missing.map((m) => m.p))).rows) latest.set(r.patient_pseudonym.toString('hex'), unpackLatest(r.packed));
    return latest;
  }

  /**
   * The accepted events not stored yet, in key order (event id, observation time). An event is stored
   * when observations holds its key for the same patient: that covers a duplicate of any age (no
   * separate dedupe table, nothing pruned before the observation is). The batch's time range is
   * passed as well, so the planner keeps only the partitions of the batch's days. Must run after the
   * patients' rows are locked: a concurrent batch with the same event is about the same patient, so
   * it committed (and this new statement sees it) or has not begun storing.
   *
   * The same key stored for ANOTHER patient (a producer bug) is not a duplicate: the event is
   * returned as fresh and its insert fails with a unique violation, so the record is dead-lettered
   * `unprocessable` (never silently dropped, never stored twice).
   */
  private async notStored(client: PoolClient, accepted: Accepted[]): Promise<Accepted[]> {
    // Key order: a batch's observation inserts then run in key order too (see updatePatients).
    const ordered = [...accepted].sort(
      (x, y) => (x.eventId < y.eventId ? -1 : x.eventId > y.eventId ? 1 : x.event.observedAt.getTime() - y.event.observedAt.getTime()),
    );
    let min = Infinity;
    let max = -Infinity;
    for (const a of ordered) {
      const t = a.event.observedAt.getTime();
      if (t < min) min = t;
      if (t > max) max = t;
    }
    const { rows } = await client.query<{ event_id: string; ms: string; patient_key: number }>(STORED_EVENTS_SQL, [
      binary.uuidArray(ordered.map((a) => a.eventId)),
      new Date(min),
      new Date(max),
    ]);
    if (rows.length === 0) return ordered;
    const storedById = new Map<string, { ms: number; patientKey: number }[]>();
    for (const r of rows) {
      const list = storedById.get(r.event_id);
      const row = { ms: Number(r.ms), patientKey: r.patient_key };
      if (list) list.push(row);
      else storedById.set(r.event_id, [row]);
    }
    return ordered.filter((a) => {
      const stored = storedById.get(a.eventId);
      return !stored?.some((s) => s.ms === a.event.observedAt.getTime() && s.patientKey === a.patientKey);
    });
  }

  /** The fence: the checkpoint moves only if this worker still holds the lease at the same epoch. */
  private async checkpoint(client: PoolClient, target: BatchTarget, checkpoint: string | null): Promise<void> {
    const { rowCount } = await client.query(CHECKPOINT_SQL, checkpointParams(target, checkpoint));
    if (rowCount !== 1) throw new LeaseLostError(target.shardId);
  }
}

/**
 * The stored rows among the batch's event ids ($1), with their observation time (epoch milliseconds)
 * and patient key: the caller keeps an event as stored when all three match. $2/$3, the batch's
 * earliest and latest observation time, bound the time so the planner keeps only the partitions of
 * the batch's days (exported for the EXPLAIN test). One index scan of the primary key per partition
 * with the ids as an array condition, returning only the (few) rows stored already: a per-event
 * LATERAL probe re-ran the partition pruning for every event (~13 % of PostgreSQL's time per batch,
 * bench --pg-statements), and a join hash-joined the batch against the whole time range.
 */
export const STORED_EVENTS_SQL = `SELECT o.event_id::text AS event_id, round(extract(epoch FROM o.observed_at) * 1000)::int8 AS ms, o.patient_key
       FROM observations o
       WHERE o.event_id = ANY($1::uuid[]) AND o.observed_at BETWEEN $2::timestamptz AND $3::timestamptz`;

/** The composite type a batch's observations are sent as, one binary array of rows (migration 0010). */
const OBSERVATION_INPUT = 'observation_input';
/** Its fields, as many as the builder calls per row below (the server refuses another count). */
const OBSERVATION_INPUT_FIELDS = 15;

/** The checkpoint update fenced on (owner, epoch); $1..$6 as checkpointParams. */
const CHECKPOINT_SQL = `UPDATE shard_leases
       SET checkpoint = COALESCE($5, checkpoint), finished = $6,
           owner = CASE WHEN $6 THEN NULL ELSE owner END,
           expires_at = CASE WHEN $6 THEN NULL ELSE expires_at END,
           updated_at = now()
       WHERE stream_name = $1 AND shard_id = $2 AND owner = $3 AND epoch = $4 AND NOT finished`;

/** The same, its parameters numbered after the `before` of a larger statement. */
function checkpointSql(before: number): string {
  return CHECKPOINT_SQL.replace(/\$(\d)/g, (_, n: string) => `$${Number(n) + before}`);
}

function checkpointParams(target: BatchTarget, checkpoint: string | null): unknown[] {
  return [target.streamName, target.shardId, target.owner, target.epoch, checkpoint, target.shardEnd];
}

/** An event's identity within a batch: event id, observation time and patient (docs/design.md "Data model"). */
function eventKey(a: Accepted): string {
  return `${a.eventId} ${a.event.observedAt.getTime()} ${a.event.patientId}`;
}

/** Events by patient (pseudonym hex), each patient's in batch order. */
function groupByPatient(events: readonly Accepted[]): Map<string, Accepted[]> {
  const out = new Map<string, Accepted[]>();
  for (const a of events) {
    const hex = a.hex as string;
    const list = out.get(hex);
    if (list) list.push(a);
    else out.set(hex, [a]);
  }
  return out;
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
