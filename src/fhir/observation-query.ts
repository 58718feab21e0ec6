/**
 * SQL for the FHIR read API (pure: text and parameters; the adapter runs it). Reads `observations`
 * (each row carries its NEWS2 score since migration 0008) joined to its dictionaries `patient_keys`
 * and `sources` (the tables the read-only role may SELECT), by patient pseudonym, with keyset paging
 * on (observed_at, event_id) so a page costs one index range scan of observations_patient_time however
 * deep the client pages: the pseudonym is turned into its key once (a scalar subquery), so the scan
 * stays in index order and stops at the page's end.
 */
import { storedNews2 } from '../pipeline/news2-packing';
import type { ObservationKind, StoredObservation } from './observations';
import type { ObservationSearch } from './search';

export interface SqlQuery {
  readonly text: string;
  readonly values: unknown[];
}

/** A database row of the query below. */
export interface ObservationRow {
  event_id: string;
  observed_at: Date;
  observed_at_text: string;
  patient_pseudonym: Buffer;
  device_id: string;
  facility_id: string;
  pulse: number | null;
  respiration_rate: number | null;
  spo2: number | null;
  spo2_scale: number | null;
  on_supplemental_oxygen: boolean | null;
  systolic_bp: number | null;
  diastolic_bp: number | null;
  temperature_c: number | null;
  consciousness: string | null;
  stored_at: Date;
  news2_total: number | null;
  news2_parameters: number | null;
}

export interface StoredRow extends StoredObservation {
  /** observed_at exactly as stored (microseconds), for the page cursor. */
  readonly observedAtText: string;
}

const COLUMNS = `o.event_id::text AS event_id, o.observed_at,
  to_char(o.observed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS observed_at_text,
  k.patient_pseudonym, src.device_id, src.facility_id, o.pulse, o.respiration_rate, o.spo2, o.spo2_scale,
  o.on_supplemental_oxygen, o.systolic_bp, o.diastolic_bp, o.temperature_c, o.consciousness::text AS consciousness, o.stored_at,
  o.news2_total, o.news2_parameters`;
const FROM = 'observations o JOIN patient_keys k ON k.patient_key = o.patient_key JOIN sources src ON src.source_key = o.source_key';

/** A row has a resource of this kind when (SQL mirror of observations.ts KINDS[kind].present). */
const KIND_SQL: Readonly<Record<ObservationKind, string>> = {
  'heart-rate': 'o.pulse IS NOT NULL',
  'respiratory-rate': 'o.respiration_rate IS NOT NULL',
  'oxygen-saturation': 'o.spo2 IS NOT NULL',
  'blood-pressure': '(o.systolic_bp IS NOT NULL OR o.diastolic_bp IS NOT NULL)',
  'body-temperature': 'o.temperature_c IS NOT NULL',
  news2: 'o.news2_total IS NOT NULL',
};

/** One page's rows (at most `limit`), in the search's order, from its cursor on. */
export function searchQuery(search: ObservationSearch, limit: number): SqlQuery {
  const values: unknown[] = [Buffer.from(search.patientPseudonym, 'hex')];
  const where = ['o.patient_key = (SELECT patient_key FROM patient_keys WHERE patient_pseudonym = $1)'];
  const param = (v: unknown): string => {
    values.push(v);
    return `$${values.length}`;
  };
  for (const d of search.dates) {
    if (d.from !== undefined) where.push(`o.observed_at >= ${param(new Date(d.from).toISOString())}::timestamptz`);
    if (d.before !== undefined) where.push(`o.observed_at < ${param(new Date(d.before).toISOString())}::timestamptz`);
  }
  where.push(search.kinds.length === 0 ? 'false' : `(${search.kinds.map((k) => KIND_SQL[k]).join(' OR ')})`);
  const dir = search.order === 'desc' ? 'DESC' : 'ASC';
  if (search.cursor) {
    where.push(`(o.observed_at, o.event_id) ${search.order === 'desc' ? '<=' : '>='} (${param(search.cursor.time)}::timestamptz, ${param(search.cursor.eventId)}::uuid)`);
  }
  return {
    text: `SELECT ${COLUMNS} FROM ${FROM} WHERE ${where.join(' AND ')} ORDER BY o.observed_at ${dir}, o.event_id ${dir} LIMIT ${param(limit)}`,
    values,
  };
}

export function byEventIdQuery(eventId: string): SqlQuery {
  return { text: `SELECT ${COLUMNS} FROM ${FROM} WHERE o.event_id = $1::uuid LIMIT 1`, values: [eventId] };
}

export function fromRow(r: ObservationRow): StoredRow {
  return {
    eventId: r.event_id,
    observedAt: r.observed_at,
    observedAtText: r.observed_at_text,
    patientPseudonym: r.patient_pseudonym.toString('hex'),
    deviceId: r.device_id,
    facilityId: r.facility_id,
    pulse: r.pulse,
    respirationRate: r.respiration_rate,
    spo2: r.spo2,
    spo2Scale: r.spo2_scale === 1 || r.spo2_scale === 2 ? r.spo2_scale : null,
    onSupplementalOxygen: r.on_supplemental_oxygen,
    systolicBp: r.systolic_bp,
    diastolicBp: r.diastolic_bp,
    temperatureC: r.temperature_c,
    consciousness: r.consciousness,
    storedAt: r.stored_at,
    news2: r.news2_total !== null && r.news2_parameters !== null ? storedNews2(r.news2_total, r.news2_parameters) : null,
  };
}
