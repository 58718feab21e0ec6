/**
 * Migrations against a real PostgreSQL (TLS), through the real migration command.
 */
import { Client } from 'pg';
import { tlsOptions } from '../../src/adapters/db';
import { PROCESSOR_TABLE_GRANTS } from '../../src/db/migrate';
import { PROCESSOR_PASSWORD, adminClient, runMigrations, startStack, type TestStack } from '../processor/support/stack';

let stack: TestStack;
let admin: Client;
let processor: Client;
let firstRun: string;

beforeAll(async () => {
  stack = await startStack(); // migrates the template database
  const c = await adminClient(stack.pg);
  await c.query('CREATE DATABASE vitals');
  await c.end();
  firstRun = await runMigrations(stack.pg, 'vitals');
  admin = await adminClient(stack.pg, 'vitals');
  processor = new Client({ host: stack.pg.host, port: stack.pg.port, database: 'vitals', user: 'vitals_processor', password: PROCESSOR_PASSWORD, ssl: tlsOptions(stack.pg.caFile) });
  await processor.connect();
}, 90_000);

afterAll(async () => {
  await processor?.end();
  await admin?.end();
  await stack?.stop();
});

test('the first run applies every migration and creates partitions', () => {
  expect(firstRun).toMatch(/0001_initial-schema/);
  expect(firstRun).toMatch(/0002_unprocessable-dead-letters/);
  expect(firstRun).toMatch(/0003_retention/);
  expect(firstRun).toMatch(/0004_event-id-horizon/);
  expect(firstRun).toMatch(/0005_dead-letter-requeue/);
  expect(firstRun).toMatch(/0006_alert-outbox/);
  expect(firstRun).toMatch(/0007_requeue-requests/);
  expect(firstRun).toMatch(/0009_packed-latest-vitals/);
  expect(firstRun).toMatch(/0010_observation-input-type/);
  expect(firstRun).toMatch(/migrations applied: 10; partitions created: [1-9]\d*/);
});

test('a second run changes nothing', async () => {
  const out = await runMigrations(stack.pg, 'vitals');
  expect(out).toMatch(/migrations applied: 0; partitions created: 0/);
});

test('observations (with their scores) are range-partitioned by observation time with a default partition', async () => {
  const { rows } = await admin.query(
    `SELECT c.relname, pg_get_partkeydef(c.oid) AS key FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid ORDER BY 1`,
  );
  expect(rows).toEqual([{ relname: 'observations', key: 'RANGE (observed_at)' }]);
  expect((await admin.query(`SELECT relkind FROM pg_class WHERE relname = 'news2_scores'`)).rows).toEqual([{ relkind: 'v' }]);
  const parts = await admin.query(`SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'observations'::regclass`);
  const names = parts.rows.map((r) => r.relname as string);
  expect(names).toContain('observations_default');
  const today = new Date().toISOString().slice(0, 10).replace(/-/g, '');
  expect(names).toContain(`observations_${today}`);
  expect(names.length).toBeGreaterThanOrEqual(15); // 7 days back, today, 7 ahead, default
});

test('an event id is stored once in event_ids however often it is inserted', async () => {
  const id = '6f1c1e2a-1111-4222-8333-944445555666';
  await processor.query(`INSERT INTO event_ids (event_id) VALUES ($1) ON CONFLICT DO NOTHING`, [id]);
  const again = await processor.query(`INSERT INTO event_ids (event_id) VALUES ($1) ON CONFLICT DO NOTHING`, [id]);
  expect(again.rowCount).toBe(0);
  await expect(processor.query(`INSERT INTO event_ids (event_id) VALUES ($1)`, [id])).rejects.toThrow(/duplicate key/);
});

test('dead letters accept the reason unprocessable and no reason outside the documented set', async () => {
  const insert = (reason: string): Promise<unknown> =>
    admin.query(
      `WITH k AS (INSERT INTO data_keys (data_key_id, wrapped_key, wrapping_key) VALUES (gen_random_uuid(), '\\x00', 'test') RETURNING data_key_id)
       INSERT INTO dead_letters (stream_name, shard_id, sequence_number, reason, errors, payload_bytes, payload_ciphertext, data_key_id)
       SELECT 's', 'shard', gen_random_uuid()::text, $1, '[]', 1, '\\x00', data_key_id FROM k`,
      [reason],
    );
  await expect(insert('unprocessable')).resolves.toBeDefined();
  await expect(insert('whatever')).rejects.toThrow(/dead_letters_reason_check/);
});

test('the processor role may not create or alter tables', async () => {
  await expect(processor.query('CREATE TABLE x (a int)')).rejects.toThrow(/permission denied/);
  await expect(processor.query('ALTER TABLE observations ADD COLUMN y int')).rejects.toThrow(/must be owner/);
  await expect(processor.query('DROP TABLE alerts')).rejects.toThrow(/must be owner/);
});

test('the processor role may delete only leases', async () => {
  await expect(processor.query('DELETE FROM observations')).rejects.toThrow(/permission denied/);
  await expect(processor.query('DELETE FROM dead_letters')).rejects.toThrow(/permission denied/);
  await expect(processor.query('DELETE FROM shard_leases')).resolves.toBeDefined();
});

test('the processor role has exactly the declared table privileges', async () => {
  const { rows } = await admin.query(
    `SELECT table_name, string_agg(privilege_type, ',' ORDER BY privilege_type) AS privs
     FROM information_schema.role_table_grants WHERE grantee = 'vitals_processor' GROUP BY table_name ORDER BY table_name`,
  );
  // Column grants ('UPDATE (requeued_at)') are not table privileges: checked below.
  const expected = Object.entries(PROCESSOR_TABLE_GRANTS)
    .map(([table, privs]) => ({ table_name: table, privs: privs.filter((p) => !p.includes('(')).sort().join(',') }))
    .sort((a, b) => a.table_name.localeCompare(b.table_name));
  expect(rows).toEqual(expected);
  const { rows: columns } = await admin.query(
    `SELECT table_name, column_name, privilege_type FROM information_schema.column_privileges
     WHERE grantee = 'vitals_processor' AND privilege_type = 'UPDATE' AND table_name = 'dead_letters'`,
  );
  expect(columns).toEqual([{ table_name: 'dead_letters', column_name: 'requeued_at', privilege_type: 'UPDATE' }]);
});

test('the processor role cannot read the migrations table', async () => {
  await expect(processor.query('SELECT * FROM pgmigrations')).rejects.toThrow(/permission denied/);
});

test('the processor keeps partitions ahead through the one definer function', async () => {
  const { rows } = await processor.query('SELECT ensure_time_partitions(9, 0) AS created');
  expect(rows[0].created).toBe(2); // days 8 and 9 ahead, for observations
});

test('a day whose rows already sit in the default partition is left there', async () => {
  const day = new Date(Date.now() + 20 * 86_400_000);
  await admin.query(
    `INSERT INTO observations (event_id, observed_at, patient_key, source_key) VALUES (gen_random_uuid(), $1, 1, 1)`,
    [day],
  );
  await admin.query('SELECT ensure_time_partitions(25, 0)');
  const name = `observations_${day.toISOString().slice(0, 10).replace(/-/g, '')}`;
  const { rows } = await admin.query('SELECT to_regclass($1) AS r', [name]);
  expect(rows[0].r).toBeNull();
  const next = `observations_${new Date(day.getTime() + 86_400_000).toISOString().slice(0, 10).replace(/-/g, '')}`;
  expect((await admin.query('SELECT to_regclass($1) AS r', [next])).rows[0].r).not.toBeNull();
});

test('the local PostgreSQL refuses plaintext connections', async () => {
  const plain = new Client({ host: stack.pg.host, port: stack.pg.port, database: 'vitals', user: stack.pg.adminUser, password: stack.pg.adminPassword, ssl: false });
  await expect(plain.connect()).rejects.toThrow(/no encryption/);
});

test('a server certificate from another CA is rejected', async () => {
  const other = new Client({
    host: stack.pg.host,
    port: stack.pg.port,
    database: 'vitals',
    user: stack.pg.adminUser,
    password: stack.pg.adminPassword,
    ssl: { rejectUnauthorized: true },
  });
  await expect(other.connect()).rejects.toThrow(/self.signed|unable to verify|certificate/i);
});
