/**
 * The batch's observations go to PostgreSQL as one binary array of `observation_input` rows
 * (migration 0010, issue 11), against a real PostgreSQL (TLS): every field lands in its column, and a
 * type created again under a new OID costs one retried batch, never a lost or poisoned one.
 */
import type { Pool } from 'pg';
import { isPoisonError } from '../../src/adapters/error-summary';
import { BatchWriter, type BatchTarget, type StreamRecord } from '../../src/processor/writer';
import { count, makeEvent, makePatientId } from './support/stack';
import { startWriterDb, type WriterDb } from './support/writer-db';

let db: WriterDb;
let admin: Pool;

const target: BatchTarget = { streamName: 'vitals-test', shardId: 'shard-1', owner: 'worker-a', epoch: 1, shardEnd: false };

beforeAll(async () => {
  db = await startWriterDb(2);
  admin = db.admin;
  await admin.query(`INSERT INTO shard_leases (stream_name, shard_id, owner, epoch, expires_at) VALUES ($1, 'shard-1', 'worker-a', 1, now() + interval '1 hour')`, [target.streamName]);
}, 60_000);

afterAll(async () => {
  await db?.stop();
});

let seq = 0;
function records(events: Record<string, unknown>[]): StreamRecord[] {
  return events.map((e) => ({ data: Buffer.from(JSON.stringify(e)), sequenceNumber: String(++seq) }));
}

test('every field of an observation lands in its column, absent vitals as NULL', async () => {
  const writer = new BatchWriter({ pool: db.pool, phi: db.phi, deadLetterPayloads: db.phi, news2WindowMs: 3_600_000 });
  const observedAt = new Date(Date.now() - 61_234);
  const full = makeEvent({ patientId: makePatientId(), observedAt, pulse: 131, respirationRate: 26 });
  full.vitals = {
    ...(full.vitals as object),
    spo2: { value: 91, unit: '%', scale: 2 },
    supplementalOxygen: true,
    systolicBp: { value: 88, unit: 'mmHg' },
    diastolicBp: { value: 51, unit: 'mmHg' },
    temperature: { value: 39.2, unit: 'Cel' },
    consciousness: 'V',
  };
  const sparse = makeEvent({ patientId: makePatientId(), observedAt, pulse: 72 });
  sparse.vitals = { pulse: { value: 72, unit: 'bpm' } };
  await writer.writeBatch(target, records([full, sparse]));
  const { rows } = await admin.query(
    `SELECT event_id::text, observed_at, pulse, respiration_rate, spo2, systolic_bp, diastolic_bp, temperature_c, news2_total IS NOT NULL AS scored, spo2_scale, on_supplemental_oxygen, consciousness::text
     FROM observations WHERE event_id = ANY($1::uuid[]) ORDER BY pulse DESC`,
    [[full.eventId, sparse.eventId]],
  );
  expect(rows[0]).toMatchObject({ event_id: full.eventId, pulse: 131, respiration_rate: 26, spo2: 91, systolic_bp: 88, diastolic_bp: 51, spo2_scale: 2, on_supplemental_oxygen: true, consciousness: 'V', scored: true });
  expect(rows[0].temperature_c).toBeCloseTo(39.2, 5);
  expect((rows[0].observed_at as Date).getTime()).toBe(observedAt.getTime());
  expect(rows[1]).toMatchObject({ event_id: sparse.eventId, pulse: 72, respiration_rate: null, spo2: null, systolic_bp: null, diastolic_bp: null, temperature_c: null, on_supplemental_oxygen: null, consciousness: null, scored: false });
});

test('observation_input created again (a new OID): the next batch fails retryably, the one after stores it', async () => {
  const writer = new BatchWriter({ pool: db.pool, phi: db.phi, deadLetterPayloads: db.phi, news2WindowMs: 3_600_000 });
  const patientId = makePatientId();
  await writer.writeBatch(target, records([makeEvent({ patientId, observedAt: new Date(Date.now() - 50_000) })])); // caches the OID
  const before = await admin.query<{ oid: string }>(`SELECT 'observation_input'::regtype::oid::int8 AS oid`);
  // Recreate the type with the same fields (its definition read back from the catalog).
  await admin.query(`DO $$
    DECLARE fields text;
    BEGIN
      SELECT string_agg(format('%I %s', a.attname, format_type(a.atttypid, a.atttypmod)), ', ' ORDER BY a.attnum) INTO fields
      FROM pg_type t JOIN pg_attribute a ON a.attrelid = t.typrelid WHERE t.oid = 'observation_input'::regtype AND a.attnum > 0 AND NOT a.attisdropped;
      DROP TYPE observation_input;
      EXECUTE format('CREATE TYPE observation_input AS (%s)', fields);
    END $$`);
  const after = await admin.query<{ oid: string }>(`SELECT 'observation_input'::regtype::oid::int8 AS oid`);
  expect(after.rows[0]?.oid).not.toBe(before.rows[0]?.oid);

  const event = makeEvent({ patientId, observedAt: new Date(Date.now() - 40_000) });
  const failed = await writer.writeBatch(target, records([event])).then(
    () => undefined,
    (err: unknown) => err,
  );
  // The connection prepared the statement for the old type ("cache lookup failed", XX000); a fresh one
  // with the old OID would get datatype_mismatch (42804). Either way retried, never dead-lettered.
  expect(['XX000', '42804']).toContain((failed as { code?: string }).code);
  expect(isPoisonError(failed)).toBe(false);
  expect(await count(admin, 'SELECT count(*) AS n FROM observations WHERE event_id = $1', [event.eventId])).toBe(0);
  await expect(writer.writeBatch(target, records([event]))).resolves.toMatchObject({ inserted: 1 });
  expect(await count(admin, 'SELECT count(*) AS n FROM observations WHERE event_id = $1', [event.eventId])).toBe(1);
});
