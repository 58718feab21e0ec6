/**
 * Retention against a real PostgreSQL (TLS): the policy the migration command writes, and
 * apply_retention() as the processor role calls it.
 */
import { Client, Pool } from 'pg';
import { retentionSettingsFromEnv } from '../../src/db/migrate';
import { tlsOptions } from '../../src/adapters/db';
import { applyRetention } from '../../src/processor/processor';
import { PROCESSOR_PASSWORD, adminClient, runMigrations, startStack, type TestStack } from '../processor/support/stack';

const DB = 'vitals_retention';
let stack: TestStack;
let admin: Client;
let processor: Pool;

beforeAll(async () => {
  stack = await startStack();
  const c = await adminClient(stack.pg);
  await c.query(`CREATE DATABASE ${DB}`);
  await c.end();
  await runMigrations(stack.pg, DB);
  admin = await adminClient(stack.pg, DB);
  processor = new Pool({ host: stack.pg.host, port: stack.pg.port, database: DB, user: 'vitals_processor', password: PROCESSOR_PASSWORD, ssl: tlsOptions(stack.pg.caFile), max: 2 });
}, 90_000);

afterAll(async () => {
  await processor?.end();
  await admin?.end();
  await stack?.stop();
});

beforeEach(async () => {
  await admin.query('TRUNCATE event_ids, observations');
  await admin.query('UPDATE retention_policy SET event_id_horizon_days = 35, observation_retention_days = NULL');
  // Old daily partitions a previous test created: each test starts with today's partitions only.
  const { rows } = await admin.query<{ relname: string }>(
    `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
     WHERE i.inhparent = 'observations'::regclass AND c.relname ~ '_[0-9]{8}$'
       AND right(c.relname, 8) < to_char(now() - interval '60 days', 'YYYYMMDD')`,
  );
  for (const r of rows) await admin.query(`DROP TABLE ${r.relname}`);
});

/** UTC day `daysAgo` days before today, as YYYYMMDD and as its midnight. */
function day(daysAgo: number): { suffix: string; start: Date; end: Date } {
  const today = new Date(new Date().toISOString().slice(0, 10) + 'T00:00:00Z');
  const start = new Date(today.getTime() - daysAgo * 86_400_000);
  return { suffix: start.toISOString().slice(0, 10).replace(/-/g, ''), start, end: new Date(start.getTime() + 86_400_000) };
}

async function createDailyPartitions(daysAgo: number): Promise<void> {
  const d = day(daysAgo);
  for (const parent of ['observations']) {
    await admin.query(`CREATE TABLE IF NOT EXISTS ${parent}_${d.suffix} PARTITION OF ${parent} FOR VALUES FROM ('${d.start.toISOString()}') TO ('${d.end.toISOString()}')`);
  }
}

async function exists(table: string): Promise<boolean> {
  const { rows } = await admin.query('SELECT to_regclass($1) IS NOT NULL AS e', [table]);
  return rows[0].e as boolean;
}

async function insertObservation(observedAt: Date): Promise<void> {
  await admin.query(
    `INSERT INTO observations (event_id, observed_at, patient_key, source_key, news2_total, news2_parameters) VALUES (gen_random_uuid(), $1, 1, 1, 3, 21)`,
    [observedAt],
  );
}

async function insertEventIds(n: number, storedDaysAgo: number): Promise<void> {
  await admin.query(
    `INSERT INTO event_ids (event_id, stored_at)
     SELECT gen_random_uuid(), now() - make_interval(days => $2) FROM generate_series(1, $1)`,
    [n, storedDaysAgo],
  );
}

async function retain(maxEventIds = 50_000): Promise<{ event_ids_deleted: number; partitions_dropped: number; partitions_busy: number }> {
  const { rows } = await processor.query('SELECT * FROM apply_retention($1)', [maxEventIds]);
  return rows[0];
}

async function count(sql: string): Promise<number> {
  const { rows } = await admin.query(sql);
  return Number(rows[0].n);
}

test('by default event ids older than 35 days are pruned and every observation is kept', async () => {
  const out = await runMigrations(stack.pg, DB);
  expect(out).toMatch(/retention: event ids 35 days; observations and scores kept forever/);
  await insertEventIds(3, 36);
  await insertEventIds(2, 34);
  await createDailyPartitions(3 * 365);
  await insertObservation(new Date(day(3 * 365).start.getTime() + 3_600_000));
  expect(await retain()).toEqual({ event_ids_deleted: 3, partitions_dropped: 0, partitions_busy: 0 });
  expect(await count('SELECT count(*) AS n FROM event_ids')).toBe(2);
  expect(await exists(`observations_${day(3 * 365).suffix}`)).toBe(true);
  expect(await count('SELECT count(*) AS n FROM observations')).toBe(1);
});

test('with OBSERVATION_RETENTION_DAYS set, whole days older than it are dropped and younger ones kept', async () => {
  const out = await runMigrations(stack.pg, DB, { OBSERVATION_RETENTION_DAYS: '400' });
  expect(out).toMatch(/retention: event ids 35 days; observations and scores 400 days/);
  await createDailyPartitions(401); // ends exactly at the cutoff: entirely older
  await createDailyPartitions(400); // ends a day after the cutoff: kept
  expect(await retain()).toMatchObject({ partitions_dropped: 1 });
  expect(await exists(`observations_${day(401).suffix}`)).toBe(false);
  expect(await exists(`observations_${day(400).suffix}`)).toBe(true);
});

test('with OBSERVATION_RETENTION_DAYS set, rows that old parked in the default partition are deleted too', async () => {
  await runMigrations(stack.pg, DB, { OBSERVATION_RETENTION_DAYS: '400' });
  await insertObservation(new Date(day(450).start.getTime() + 3_600_000)); // no partition that day: default
  await insertObservation(new Date(day(100).start.getTime() + 3_600_000));
  expect(await count('SELECT count(*) AS n FROM observations_default')).toBe(2);
  await retain();
  const { rows } = await admin.query('SELECT observed_at FROM observations_default');
  expect(rows.map((r) => (r.observed_at as Date).toISOString().slice(0, 10))).toEqual([day(100).start.toISOString().slice(0, 10)]);
});

test('a migration run without OBSERVATION_RETENTION_DAYS keeps observations forever again', async () => {
  await runMigrations(stack.pg, DB, { OBSERVATION_RETENTION_DAYS: '400' });
  const out = await runMigrations(stack.pg, DB);
  expect(out).toMatch(/observations and scores kept forever/);
  await createDailyPartitions(800);
  expect(await retain()).toMatchObject({ partitions_dropped: 0 });
  expect(await exists(`observations_${day(800).suffix}`)).toBe(true);
});

test('EVENT_ID_RETENTION_DAYS moves the dedupe horizon', async () => {
  await runMigrations(stack.pg, DB, { EVENT_ID_RETENTION_DAYS: '500' });
  await insertEventIds(2, 450);
  await insertEventIds(1, 501);
  expect(await retain()).toMatchObject({ event_ids_deleted: 1 });
  await runMigrations(stack.pg, DB);
  expect(await retain()).toMatchObject({ event_ids_deleted: 2 });
});

test('one call deletes at most max_event_ids, and the processor\'s loop goes on until none are left', async () => {
  await insertEventIds(2_500, 36);
  expect(await retain(1_000)).toMatchObject({ event_ids_deleted: 1_000 });
  expect(await applyRetention(processor, undefined, 60_000, 1_000)).toEqual({ eventIdsDeleted: 1_500, partitionsDropped: 0, partitionsBusy: 0 });
  expect(await count('SELECT count(*) AS n FROM event_ids')).toBe(0);
});

test('a worker finding retention already running elsewhere skips instead of waiting', async () => {
  await insertEventIds(5, 36);
  const other = await adminClient(stack.pg, DB);
  try {
    await other.query('BEGIN');
    await other.query(`SELECT pg_advisory_xact_lock(hashtext('apply_retention'))`);
    expect(await retain()).toEqual({ event_ids_deleted: 0, partitions_dropped: 0, partitions_busy: 0 });
    await other.query('COMMIT');
    expect(await retain()).toMatchObject({ event_ids_deleted: 5 });
  } finally {
    await other.end();
  }
});

test('the processor role may run retention but neither read nor change the policy', async () => {
  await expect(processor.query('SELECT * FROM retention_policy')).rejects.toThrow(/permission denied/);
  await expect(processor.query('UPDATE retention_policy SET observation_retention_days = 366')).rejects.toThrow(/permission denied/);
  await expect(processor.query('DELETE FROM event_ids')).rejects.toThrow(/permission denied/);
});

test('an event-id horizon under 8 days or observation retention under 366 days is refused by the migration command, with the variable and value', () => {
  expect(() => retentionSettingsFromEnv({ OBSERVATION_RETENTION_DAYS: '30' })).toThrow(
    'OBSERVATION_RETENTION_DAYS must be an integer 366..36500 (days); received "30"',
  );
  expect(() => retentionSettingsFromEnv({ EVENT_ID_RETENTION_DAYS: '7' })).toThrow('EVENT_ID_RETENTION_DAYS must be an integer 8..36500 (days); received "7"');
  expect(() => retentionSettingsFromEnv({ EVENT_ID_RETENTION_DAYS: 'a year' })).toThrow(/received "a year"/);
  expect(retentionSettingsFromEnv({ EVENT_ID_RETENTION_DAYS: '8' })).toEqual({ eventIdRetentionDays: 8, observationRetentionDays: undefined });
  expect(retentionSettingsFromEnv({})).toEqual({ eventIdRetentionDays: 35, observationRetentionDays: undefined });
});

test('every retention problem is reported at once', () => {
  expect(() => retentionSettingsFromEnv({ EVENT_ID_RETENTION_DAYS: '0', OBSERVATION_RETENTION_DAYS: '1', STREAM_RETENTION_HOURS: '1' })).toThrow(
    /EVENT_ID_RETENTION_DAYS must be .*; OBSERVATION_RETENTION_DAYS must be .*; STREAM_RETENTION_HOURS must be an integer 24\.\.8760 \(hours\); received "1"/,
  );
});

test('a horizon that does not exceed the stream\'s retention plus one day is refused, naming both values', () => {
  expect(() => retentionSettingsFromEnv({ EVENT_ID_RETENTION_DAYS: '8', STREAM_RETENTION_HOURS: '168' })).toThrow(
    /EVENT_ID_RETENTION_DAYS must exceed STREAM_RETENTION_HOURS plus 24 hours .*received EVENT_ID_RETENTION_DAYS=8 \(192 h\) and STREAM_RETENTION_HOURS=168 .*at least 9 days/,
  );
  expect(retentionSettingsFromEnv({ EVENT_ID_RETENTION_DAYS: '9', STREAM_RETENTION_HOURS: '168' })).toMatchObject({ eventIdRetentionDays: 9 });
  // The default horizon against a stream keeping records for a year: refused, not silently unsafe.
  expect(() => retentionSettingsFromEnv({ STREAM_RETENTION_HOURS: '8760' })).toThrow(/EVENT_ID_RETENTION_DAYS=35 \(the default\) \(840 h\) and STREAM_RETENTION_HOURS=8760/);
  expect(retentionSettingsFromEnv({ EVENT_ID_RETENTION_DAYS: '367', STREAM_RETENTION_HOURS: '8760' })).toMatchObject({ eventIdRetentionDays: 367 });
  expect(retentionSettingsFromEnv({ STREAM_RETENTION_HOURS: '168' })).toMatchObject({ eventIdRetentionDays: 35 });
});

test('the migration command refuses to run with a horizon shorter than the stream\'s retention, and leaves the policy as it was', async () => {
  await expect(runMigrations(stack.pg, DB, { EVENT_ID_RETENTION_DAYS: '10', STREAM_RETENTION_HOURS: '720' })).rejects.toThrow(
    /EVENT_ID_RETENTION_DAYS=10 \(240 h\) and STREAM_RETENTION_HOURS=720/,
  );
  const { rows } = await admin.query('SELECT event_id_horizon_days FROM retention_policy');
  expect(rows).toEqual([{ event_id_horizon_days: 35 }]);
});

test('an event-id horizon under 8 days or observation retention under 366 days is refused by the policy table itself', async () => {
  await expect(admin.query('UPDATE retention_policy SET event_id_horizon_days = 7')).rejects.toThrow(/check constraint/);
  await admin.query('UPDATE retention_policy SET event_id_horizon_days = 8');
  await expect(admin.query('UPDATE retention_policy SET observation_retention_days = 365')).rejects.toThrow(/check constraint/);
  await expect(admin.query('INSERT INTO retention_policy DEFAULT VALUES')).rejects.toThrow(/duplicate key/);
});

test('an out-of-range batch size is refused', async () => {
  await expect(retain(0)).rejects.toThrow(/max_event_ids must be 1\.\.1000000/);
});
