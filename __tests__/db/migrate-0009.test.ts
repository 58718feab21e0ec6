/**
 * Migration 0009 (packed latest vitals) with data: every patient's latest values written as JSON under
 * 0008 read the same from the packed column after migrating forward, and come back as the same JSON
 * after migrating back (down).
 */
import { randomBytes } from 'node:crypto';
import type { Client } from 'pg';
import type { LatestVitals } from '../../src/pipeline/latest-vitals';
import { unpackLatest } from '../../src/pipeline/latest-vitals-packing';
import { startMigrationDb, type MigrationDb } from './support/migration-db';

let db: MigrationDb;
let admin: Client;
const step = (direction: 'up' | 'down', count: number): Promise<string> => db.step(direction, count);

type Json = Record<string, { value: unknown; observedAt: string }>;

/** What the 0008 writer stored (JSON.stringify of LatestVitals): values and ISO times. */
const states: Json[] = [
  {
    pulse: { value: 72, observedAt: '2026-12-01T10:00:00.123Z' },
    respirationRate: { value: 18, observedAt: '2026-12-01T10:00:00.123Z' },
    spo2: { value: 96.5, observedAt: '2026-12-01T10:00:01.000Z' },
    spo2Scale: { value: 2, observedAt: '2026-12-01T09:00:00.000Z' },
    onSupplementalOxygen: { value: false, observedAt: '2026-12-01T10:00:00.999Z' },
    systolicBp: { value: 91.500241, observedAt: '2026-11-30T23:59:59.001Z' },
    diastolicBp: { value: 60.004613, observedAt: '2026-11-30T23:59:59.001Z' },
    temperatureC: { value: 38.277778, observedAt: '2026-12-01T10:00:02.500Z' },
    consciousness: { value: 'V', observedAt: '2026-12-01T10:00:00.123Z' },
  },
  { onSupplementalOxygen: { value: true, observedAt: '2025-01-01T00:00:00.000Z' }, consciousness: { value: 'U', observedAt: '2025-01-01T00:00:00.000Z' }, pulse: { value: 0, observedAt: '2025-01-01T00:00:00.000Z' } },
  ...(['A', 'C', 'P'] as const).map((c, i) => ({ consciousness: { value: c, observedAt: `2026-12-0${i + 1}T00:00:00.00${i}Z` }, temperatureC: { value: 35 + i / 10, observedAt: '2026-12-01T00:00:00.000Z' } })),
  {},
];
const patients = states.map(() => randomBytes(32));

function asLatest(json: Json): LatestVitals {
  const out: Record<string, { value: unknown; observedAt: Date }> = {};
  for (const [k, tv] of Object.entries(json)) out[k] = { value: tv.value, observedAt: new Date(tv.observedAt) };
  return out as LatestVitals;
}

beforeAll(async () => {
  db = await startMigrationDb('vitals_0009');
  admin = db.admin;
}, 90_000);

afterAll(async () => {
  await db?.stop();
});

test('latest vitals written as JSON under 0008 read the same packed after 0009, and come back as the same JSON after down', async () => {
  expect(await step('up', 8)).toMatch(/0008_compact-observations$/);
  for (const [i, s] of states.entries()) {
    await admin.query('INSERT INTO latest_vitals (patient_pseudonym, facility_id, vitals) VALUES ($1, $2, $3)', [patients[i], `fac-${i}`, JSON.stringify(s)]);
  }

  expect(await step('up', 1)).toBe('0009_packed-latest-vitals');
  const { rows } = await admin.query<{ patient_pseudonym: Buffer; facility_id: string; packed: Buffer | null }>('SELECT patient_pseudonym, facility_id, packed FROM latest_vitals');
  expect(rows).toHaveLength(states.length);
  for (const [i, s] of states.entries()) {
    const row = rows.find((r) => r.patient_pseudonym.equals(patients[i] as Buffer));
    expect(row?.facility_id).toBe(`fac-${i}`);
    expect(unpackLatest(row?.packed ?? null)).toEqual(asLatest(s));
  }
  expect(rows.find((r) => r.patient_pseudonym.equals(patients[states.length - 1] as Buffer))?.packed).toBeNull(); // {} -> the empty state
  expect((await admin.query(`SELECT 1 FROM information_schema.columns WHERE table_name = 'latest_vitals' AND column_name = 'vitals'`)).rows).toHaveLength(0);
  await expect(admin.query(`UPDATE latest_vitals SET packed = '\\x02'`)).rejects.toThrow(/check constraint/);

  expect(await step('down', 1)).toBe('0009_packed-latest-vitals');
  const { rows: back } = await admin.query<{ patient_pseudonym: Buffer; vitals: Json }>('SELECT patient_pseudonym, vitals FROM latest_vitals');
  for (const [i, s] of states.entries()) {
    expect(back.find((r) => r.patient_pseudonym.equals(patients[i] as Buffer))?.vitals).toEqual(s);
  }
}, 120_000);
