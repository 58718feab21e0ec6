/**
 * The per-patient rows a batch locks (issue 11), against a real PostgreSQL (TLS): a new patient's
 * latest_vitals row is created with its identifier, before the batch; each batch locks and reads the
 * rows in one statement; a row missing anyway is re-created in the batch; the legacy per-raise tables
 * (alerts, alert_state) are no longer written, the clinical alerts are.
 */
import type { Pool } from 'pg';
import { BatchWriter, type BatchTarget, type StreamRecord } from '../../src/processor/writer';
import { unpackLatest } from '../../src/pipeline/latest-vitals-packing';
import { count, makeEvent, makePatientId } from './support/stack';
import { startWriterDb, type WriterDb } from './support/writer-db';

let db: WriterDb;
let admin: Pool;

const target: BatchTarget = { streamName: 'vitals-test', shardId: 'shard-1', owner: 'worker-a', epoch: 1, shardEnd: false };

beforeAll(async () => {
  db = await startWriterDb(2);
  admin = db.admin;
}, 60_000);

beforeEach(async () => {
  await admin.query('TRUNCATE observations, latest_vitals, alert_state, alerts, clinical_alerts, alert_outbox, patients, patient_keys, sources, shard_leases');
  await admin.query(`INSERT INTO shard_leases (stream_name, shard_id, owner, epoch, expires_at) VALUES ($1, 'shard-1', 'worker-a', 1, now() + interval '1 hour')`, [target.streamName]);
});

afterAll(async () => {
  await db?.stop();
});

let seq = 0;
function records(events: Record<string, unknown>[]): StreamRecord[] {
  return events.map((e) => ({ data: Buffer.from(JSON.stringify(e)), sequenceNumber: String(++seq) }));
}

const writer = (): BatchWriter => new BatchWriter({ pool: db.pool, phi: db.phi, deadLetterPayloads: db.phi, news2WindowMs: 3_600_000 });
const at = (secondsAgo: number): Date => new Date(Date.now() - secondsAgo * 1_000);

async function latestOf(patientId: string): Promise<{ facility_id: string; packed: Buffer | null } | undefined> {
  const { rows } = await admin.query<{ facility_id: string; packed: Buffer | null }>('SELECT facility_id, packed FROM latest_vitals WHERE patient_pseudonym = $1', [await db.phi.pseudonym(patientId)]);
  return rows[0];
}

test('a new patient gets its latest_vitals row with its identifier, before the batch: a failed batch leaves the empty row, the next fills it', async () => {
  const patientId = makePatientId();
  // A lease another worker took: the batch is fenced off and rolls back, the patient's rows stay.
  await admin.query(`UPDATE shard_leases SET owner = 'worker-b', epoch = 2`);
  await expect(writer().writeBatch(target, records([makeEvent({ patientId, observedAt: at(30) })]))).rejects.toThrow(/lease/i);
  expect(await latestOf(patientId)).toEqual({ facility_id: 'hospital-a', packed: null });
  expect(await count(admin, 'SELECT count(*) AS n FROM patients')).toBe(1);
  expect(await count(admin, 'SELECT count(*) AS n FROM observations')).toBe(0);

  await admin.query(`UPDATE shard_leases SET owner = 'worker-a', epoch = 1`);
  expect(await writer().writeBatch(target, records([makeEvent({ patientId, pulse: 88, observedAt: at(20) })]))).toMatchObject({ inserted: 1, scores: 1 });
  expect(unpackLatest((await latestOf(patientId))?.packed ?? null).pulse?.value).toBe(88);
});

test('a row missing although the writer knows the patient (deleted by hand) is re-created in the batch, and the event stored and scored', async () => {
  const patientId = makePatientId();
  const w = writer();
  expect(await w.writeBatch(target, records([makeEvent({ patientId, pulse: 70, observedAt: at(30) })]))).toMatchObject({ inserted: 1, scores: 1 });
  await admin.query('DELETE FROM latest_vitals');
  // The same writer: its caches hold the patient, so it does not insert the patient's rows again.
  expect(await w.writeBatch(target, records([makeEvent({ patientId, pulse: 91, observedAt: at(10) })]))).toMatchObject({ inserted: 1, duplicates: 0, scores: 1 });
  const row = await latestOf(patientId);
  expect(row?.facility_id).toBe('hospital-a');
  expect(unpackLatest(row?.packed ?? null).pulse?.value).toBe(91);
  expect(await count(admin, 'SELECT count(*) AS n FROM observations')).toBe(2);
});

test('an alerting batch opens a clinical alert with its outbox transition and counts it raised; the legacy alerts and alert_state tables stay empty', async () => {
  const patientId = makePatientId();
  const w = writer();
  expect(await w.writeBatch(target, records([makeEvent({ patientId, observedAt: at(40) })]))).toMatchObject({ inserted: 1, scores: 1, alerts: 0 });
  // Pulse 135 and respiration 25 (3 + 3): medium risk. Then the same again: no second alert.
  expect(await w.writeBatch(target, records([makeEvent({ patientId, pulse: 135, respirationRate: 25, observedAt: at(30) })]))).toMatchObject({ inserted: 1, alerts: 1 });
  expect(await w.writeBatch(target, records([makeEvent({ patientId, pulse: 136, respirationRate: 25, observedAt: at(20) })]))).toMatchObject({ inserted: 1, alerts: 0 });
  expect((await admin.query(`SELECT severity FROM clinical_alerts WHERE cleared_at IS NULL`)).rows).toEqual([{ severity: 'medium' }]);
  expect((await admin.query(`SELECT detail->>'transition' AS t FROM alert_outbox`)).rows).toEqual([{ t: 'raised' }]);
  expect(await count(admin, 'SELECT count(*) AS n FROM alerts')).toBe(0);
  expect(await count(admin, 'SELECT count(*) AS n FROM alert_state')).toBe(0);
});
