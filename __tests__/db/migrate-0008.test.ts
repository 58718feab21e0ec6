/**
 * Migration 0008 (compact observations) with data: rows written in the 0007 shape are still there,
 * and read the same through the same queries, after migrating forward (the migration command) and
 * after migrating back (down).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { Pool, type Client } from 'pg';
import { tlsOptions } from '../../src/adapters/db';
import { pgObservationStore } from '../../src/adapters/observation-store';
import type { PostgresServer } from '../../src/local/servers';
import { riskFor, scoreNews2, type News2Result } from '../../src/pipeline/news2';
import { packNews2Parameters, storedNews2, unpackNews2Parameters } from '../../src/pipeline/news2-packing';
import { runMigrations } from '../processor/support/stack';
import { OBSERVATION_KINDS } from '../../src/fhir/observations';
import { startMigrationDb, type MigrationDb } from './support/migration-db';

const DB = 'vitals_0008';
let db: MigrationDb;
let pg: PostgresServer;
let admin: Client;
const step = (direction: 'up' | 'down', count: number): Promise<string> => db.step(direction, count);

interface Row {
  eventId: string;
  observedAt: Date;
  pseudonym: Buffer;
  deviceId: string;
  facilityId: string;
  vitals: { pulse: number; respirationRate: number; spo2: number; systolicBp: number; diastolicBp: number; temperatureC: number; spo2Scale: 1 | 2; onSupplementalOxygen: boolean; consciousness: string };
  storedAt: Date;
  score: News2Result | null;
}

const DAY = 86_400_000;
const today = new Date(new Date().toISOString().slice(0, 10) + 'T00:00:00Z').getTime();
const patients = Array.from({ length: 5 }, () => randomBytes(32));
const rows: Row[] = Array.from({ length: 60 }, (_, i) => {
  const vitals = {
    pulse: 40 + ((i * 7) % 100),
    respirationRate: 6 + (i % 25),
    spo2: 85 + (i % 15),
    systolicBp: 85 + ((i * 3) % 140),
    diastolicBp: 50 + (i % 30),
    temperatureC: 34.5 + (i % 50) / 10,
    spo2Scale: (i % 7 === 0 ? 2 : 1) as 1 | 2,
    onSupplementalOxygen: i % 3 === 0,
    consciousness: 'ACVPU'[i % 5] as string,
  };
  // Days ago: today's partition, 3 days back (a partition), 40 days back (no partition: default).
  const daysAgo = [0, 3, 40][i % 3] as number;
  return {
    eventId: randomUUID(),
    observedAt: new Date(today - daysAgo * DAY + i * 60_000 + 123),
    pseudonym: patients[i % patients.length] as Buffer,
    deviceId: `mon-${i % 4}`,
    facilityId: `fac-${i % 2}`,
    vitals,
    storedAt: new Date(today - daysAgo * DAY + i * 60_000 + 5_000),
    score: i % 4 === 3 ? null : scoreNews2({ ...vitals, consciousness: vitals.consciousness as 'A' }),
  };
});

beforeAll(async () => {
  db = await startMigrationDb(DB);
  ({ pg, admin } = db);
}, 90_000);

afterAll(async () => {
  await db?.stop();
});

const hex = (b: Buffer): string => `\\x${b.toString('hex')}`;

async function writeAs0007(): Promise<void> {
  const key = randomUUID();
  await admin.query(`INSERT INTO data_keys (data_key_id, wrapped_key, wrapping_key) VALUES ($1, '\\x00', 'test')`, [key]);
  for (const p of patients) await admin.query(`INSERT INTO patients (patient_pseudonym, patient_id_ciphertext, data_key_id) VALUES ($1, '\\x01', $2)`, [hex(p), key]);
  await admin.query(`SELECT ensure_time_partitions(1, 7)`);
  for (const r of rows) {
    const v = r.vitals;
    await admin.query(
      `INSERT INTO observations (event_id, observed_at, patient_pseudonym, device_id, facility_id, pulse, respiration_rate, spo2, spo2_scale,
                                 on_supplemental_oxygen, systolic_bp, diastolic_bp, temperature_c, consciousness, shard_id, sequence_number, arrived_at, stored_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, 'shardId-000000000001', '4960' || $15, $16, $16)`,
      [r.eventId, r.observedAt, hex(r.pseudonym), r.deviceId, r.facilityId, v.pulse, v.respirationRate, v.spo2, v.spo2Scale, v.onSupplementalOxygen, v.systolicBp, v.diastolicBp, v.temperatureC, v.consciousness, String(rows.indexOf(r)), r.storedAt],
    );
    await admin.query(`INSERT INTO event_ids (event_id, observed_at, stored_at) VALUES ($1, $2, $3)`, [r.eventId, r.observedAt, r.storedAt]);
    if (r.score) {
      await admin.query(
        `INSERT INTO news2_scores (event_id, observed_at, patient_pseudonym, facility_id, total, risk, parameters, scored_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
        [r.eventId, r.observedAt, hex(r.pseudonym), r.facilityId, r.score.total, r.score.risk, JSON.stringify(r.score.parameters), r.storedAt],
      );
    }
  }
  const high = rows.find((r) => r.score?.risk === 'high') as Row;
  await admin.query(
    `INSERT INTO alerts (event_id, observed_at, patient_pseudonym, facility_id, kind, risk, total, parameters) VALUES ($1, $2, $3, $4, 'raised', 'high', $5, $6)`,
    [high.eventId, high.observedAt, hex(high.pseudonym), high.facilityId, high.score?.total, JSON.stringify(high.score?.parameters)],
  );
  await admin.query(`INSERT INTO latest_vitals (patient_pseudonym, facility_id, vitals) VALUES ($1, 'fac-0', '{"pulse": {"value": 80, "observedAt": "2026-12-01T00:00:00.000Z"}}')`, [hex(patients[0] as Buffer)]);
}

/** The score as news2_scores presents it, from the 0007 table or the 0008 view. */
async function scoresByEvent(): Promise<Map<string, unknown>> {
  const { rows: scores } = await admin.query(
    `SELECT event_id::text, observed_at, patient_pseudonym, facility_id, total, risk, parameters, scored_at FROM news2_scores`,
  );
  return new Map(scores.map((s) => [s.event_id as string, { ...s, parameters: s.parameters as unknown }]));
}

test('NEWS2 parameter scores pack into 14 bits and back, and the stored risk follows riskFor', () => {
  for (const r of rows.filter((x) => x.score)) {
    const score = r.score as News2Result;
    const packed = packNews2Parameters(score.parameters);
    expect(packed).toBeGreaterThanOrEqual(0);
    expect(packed).toBeLessThan(1 << 14);
    expect(unpackNews2Parameters(packed)).toEqual(score.parameters);
    expect(storedNews2(score.total, packed)).toEqual(score);
  }
  expect(() => packNews2Parameters({ ...(rows[0]?.score as News2Result).parameters, pulse: 4 })).toThrow(RangeError);
});

test('rows written under 0007 are all readable after 0008, through the same queries, and again after down', async () => {
  expect(await step('up', 7)).toMatch(/0007_requeue-requests$/);
  await writeAs0007();
  const scoresBefore = await scoresByEvent();
  expect(scoresBefore.size).toBe(rows.filter((r) => r.score).length);
  const alertsBefore = (await admin.query('SELECT event_id, risk, total, parameters FROM alerts')).rows;
  const partitionsBefore = (await admin.query(`SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'observations'::regclass ORDER BY 1`)).rows;

  const out = await runMigrations(pg, DB);
  expect(out).toMatch(/0008_compact-observations/);
  expect(out).toMatch(/migrations applied: 3;/); // 0008, 0009 (packed latest vitals: its own test) and 0010 (a type, no data)

  // Every observation, its score (the view over observations), the dedupe keys, alerts, latest vitals.
  expect(Number((await admin.query('SELECT count(*) AS n FROM observations')).rows[0].n)).toBe(rows.length);
  expect(await scoresByEvent()).toEqual(scoresBefore);
  expect(Number((await admin.query('SELECT count(*) AS n FROM event_ids WHERE event_id = ANY($1::uuid[])', [rows.map((r) => r.eventId)])).rows[0].n)).toBe(rows.length);
  expect((await admin.query('SELECT event_id, risk, total, parameters FROM alerts')).rows).toEqual(alertsBefore);
  expect(Number((await admin.query('SELECT count(*) AS n FROM latest_vitals')).rows[0].n)).toBe(1);
  const partitionsAfter = (await admin.query(`SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'observations'::regclass ORDER BY 1`)).rows;
  expect(partitionsAfter).toEqual(expect.arrayContaining(partitionsBefore));
  // The 40-day-old rows sit in the default partition as before.
  expect(Number((await admin.query('SELECT count(*) AS n FROM observations_default')).rows[0].n)).toBe(rows.filter((_, i) => i % 3 === 2).length);

  // The view's risk is riskFor's.
  const { rows: risks } = await admin.query<{ total: number; risk: string; parameters: Record<string, number> }>('SELECT total, risk, parameters FROM news2_scores');
  for (const r of risks) expect(r.risk).toBe(riskFor(r.total, Object.values(r.parameters).includes(3)));

  // The FHIR read API's queries: every row of every patient, newest first, values and scores as written.
  const pool = new Pool({ host: pg.host, port: pg.port, user: pg.adminUser, password: pg.adminPassword, database: DB, ssl: tlsOptions(pg.caFile), max: 1 });
  try {
    const store = pgObservationStore(pool);
    for (const p of patients) {
      const mine = rows.filter((r) => r.pseudonym === p).sort((a, b) => b.observedAt.getTime() - a.observedAt.getTime());
      const found = await store.search(
        { patientPseudonym: p.toString('hex'), dates: [], kinds: [...OBSERVATION_KINDS], count: 100, order: 'desc' },
        100,
      );
      expect(found.map((f) => f.eventId)).toEqual(mine.map((r) => r.eventId));
      found.forEach((f, i) => {
        const r = mine[i] as Row;
        expect(f).toMatchObject({ observedAt: r.observedAt, patientPseudonym: p.toString('hex'), deviceId: r.deviceId, facilityId: r.facilityId, storedAt: r.storedAt, news2: r.score });
        expect(f.spo2Scale).toBe(r.vitals.spo2Scale);
        expect(f.onSupplementalOxygen).toBe(r.vitals.onSupplementalOxygen);
        expect(f.consciousness).toBe(r.vitals.consciousness);
        for (const [k, v] of Object.entries({ pulse: r.vitals.pulse, respirationRate: r.vitals.respirationRate, spo2: r.vitals.spo2, systolicBp: r.vitals.systolicBp, diastolicBp: r.vitals.diastolicBp, temperatureC: r.vitals.temperatureC })) {
          expect(f[k as 'pulse']).toBeCloseTo(v, 4);
        }
      });
      const one = await store.byEventId(mine[0]?.eventId as string);
      expect(one?.eventId).toBe(mine[0]?.eventId);
    }
  } finally {
    await pool.end();
  }

  // Down: the 0007 shape with every observation and score back.
  expect(await step('down', 3)).toBe('0010_observation-input-type,0009_packed-latest-vitals,0008_compact-observations');
  expect((await admin.query(`SELECT relkind FROM pg_class WHERE relname = 'news2_scores'`)).rows).toEqual([{ relkind: 'p' }]);
  expect(Number((await admin.query('SELECT count(*) AS n FROM observations')).rows[0].n)).toBe(rows.length);
  expect(await scoresByEvent()).toEqual(scoresBefore);
  const { rows: back } = await admin.query('SELECT event_id::text, patient_pseudonym, device_id, facility_id, pulse FROM observations ORDER BY event_id');
  expect(back).toEqual(
    [...rows].sort((a, b) => (a.eventId < b.eventId ? -1 : 1)).map((r) => ({ event_id: r.eventId, patient_pseudonym: r.pseudonym, device_id: r.deviceId, facility_id: r.facilityId, pulse: r.vitals.pulse })),
  );
  expect(Number((await admin.query('SELECT count(*) AS n FROM event_ids WHERE observed_at IS NOT NULL')).rows[0].n)).toBe(rows.length);
  // ... and forward again.
  expect(await runMigrations(pg, DB)).toMatch(/migrations applied: 3;/);
  expect(await scoresByEvent()).toEqual(scoresBefore);
}, 180_000);
