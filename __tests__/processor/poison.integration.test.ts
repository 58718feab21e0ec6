/**
 * Integration: records the database keeps rejecting, against kinesalite and PostgreSQL (TLS) started
 * by this file. A test-only trigger (created here in each test database, never in migrations) makes
 * the insert of chosen event ids fail with a chosen SQLSTATE: a poison one (23514) must be isolated
 * and dead-lettered while the rest of its batch is stored exactly once; a retryable one (40001) must
 * stall the shard without losing or dead-lettering anything, and make health report it.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { get } from 'node:http';
import type { Pool } from 'pg';
import { freePort } from '../../src/local/servers';
import { startHealthServer } from '../../src/processor/health';
import { pgDataKeyStore } from '../../src/adapters/data-key-store';
import { createDeadLetterProtector } from '../../src/adapters/phi';
import { startProcessor, type RunningProcessor } from './support/in-process';
import { startChild } from './support/child';
import {
  adminPool,
  count,
  createStream,
  eventRecord,
  makeEvent,
  makePatientId,
  newDatabase,
  processorEnv,
  putRecords,
  waitFor,
  type TestStack,
} from './support/stack';
import { useIntegrationStack } from './support/lifecycle';

let stack: TestStack;
const logLines: string[] = [];
const patientIds: string[] = [];
const running: RunningProcessor[] = [];
const pools: Pool[] = [];
/** Put into every RAISE message: no log line may quote it (messages of poison errors are withheld). */
const MARKER = `REJECTION-TEXT-${randomBytes(4).toString('hex')}`;

function patient(): string {
  const id = makePatientId();
  patientIds.push(id);
  return id;
}

/** A fresh database and stream, with the test-only rejecting trigger on observations. */
async function setup(shards: number): Promise<{ db: Pool; database: string; stream: string }> {
  const database = await newDatabase(stack);
  const stream = `poison-${randomUUID().slice(0, 8)}`;
  await createStream(stack.kinesis, stream, shards);
  const db = adminPool(stack, database);
  pools.push(db);
  await db.query(`
    CREATE TABLE test_rejections (event_id uuid PRIMARY KEY, sqlstate text NOT NULL);
    CREATE FUNCTION test_reject_event() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS $fn$
    DECLARE code text;
    BEGIN
      SELECT sqlstate INTO code FROM test_rejections WHERE event_id = NEW.event_id;
      IF code IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = code, MESSAGE = '${MARKER} ' || NEW.event_id;
      END IF;
      RETURN NEW;
    END
    $fn$;
    CREATE TRIGGER test_reject_event BEFORE INSERT ON observations FOR EACH ROW EXECUTE FUNCTION test_reject_event();
  `);
  return { db, database, stream };
}

async function reject(db: Pool, eventId: string, sqlstate: string): Promise<void> {
  await db.query('INSERT INTO test_rejections (event_id, sqlstate) VALUES ($1, $2)', [eventId, sqlstate]);
}

function run(database: string, stream: string, overrides: Parameters<typeof startProcessor>[5] = {}): RunningProcessor {
  const p = startProcessor(stack, database, stream, 'worker-a', logLines, overrides);
  running.push(p);
  return p;
}

const bySequence = (a: string, b: string): number => (BigInt(a) < BigInt(b) ? -1 : BigInt(a) > BigInt(b) ? 1 : 0);

useIntegrationStack({ onStack: (s) => (stack = s), stack: () => stack, running, pools }, 60_000);

test('a record the database rejects is dead-lettered as unprocessable, its batch stored exactly once, and the shard moves on', async () => {
  const { db, database, stream } = await setup(1);
  const pid = patient();
  const t0 = Date.now() - 120_000;
  const at = (i: number): Date => new Date(t0 + i * 1_000);
  const before = Array.from({ length: 20 }, (_, i) => makeEvent({ patientId: pid, observedAt: at(i) }));
  const culprit = makeEvent({ patientId: pid, observedAt: at(20) });
  const after = Array.from({ length: 20 }, (_, i) => makeEvent({ patientId: pid, observedAt: at(21 + i) }));
  await reject(db, String(culprit.eventId), '23514');
  await putRecords(stack.kinesis, stream, [...before, culprit, ...after].map(eventRecord));
  const p = run(database, stream);

  await waitFor(async () => (await count(db, 'SELECT count(*) AS n FROM dead_letters')) === 1, 30_000);
  await waitFor(async () => (await count(db, 'SELECT count(*) AS n FROM observations')) === 40, 10_000);
  expect(await count(db, 'SELECT count(DISTINCT event_id) AS n FROM observations')).toBe(40);
  expect(await count(db, 'SELECT count(*) AS n FROM news2_scores')).toBe(40);
  expect(await count(db, 'SELECT count(*) AS n FROM observations WHERE event_id = $1', [culprit.eventId])).toBe(0);

  const dl = await db.query('SELECT reason, errors, shard_id, sequence_number, payload_bytes, payload_ciphertext, data_key_id FROM dead_letters');
  const row = dl.rows[0];
  expect(row.reason).toBe('unprocessable');
  expect(row.errors).toEqual([{ field: '', message: expect.stringMatching(/^rejected by the database: SQLSTATE 23514\b/) }]);
  expect(JSON.stringify(row.errors)).not.toContain(MARKER);
  // The payload is kept, envelope-encrypted and bound to its row: decrypting it gives the culprit back.
  const phi = createDeadLetterProtector({ kind: 'local', keyFile: stack.keyFile }, pgDataKeyStore(db));
  const plain = await phi.decrypt(
    { ciphertext: row.payload_ciphertext, dataKeyId: row.data_key_id },
    Buffer.from(`${stream}/${row.shard_id}/${row.sequence_number}`),
  );
  expect(JSON.parse(plain.toString()).eventId).toBe(culprit.eventId);
  expect((row.payload_ciphertext as Buffer).includes(Buffer.from(pid))).toBe(false);

  // Exactly the culprit's neighbours are stored, on both sides of it in the shard.
  const stored = (await db.query<{ id: string }>('SELECT event_id::text AS id FROM observations')).rows.map((r) => r.id).sort();
  expect(stored).toEqual([...before, ...after].map((e) => String(e.eventId)).sort());

  // The shard moves on: later events are stored and the checkpoint passes the dead letter.
  const later = Array.from({ length: 10 }, (_, i) => makeEvent({ patientId: pid, observedAt: at(41 + i) }));
  await putRecords(stack.kinesis, stream, later.map(eventRecord));
  await waitFor(async () => (await count(db, 'SELECT count(*) AS n FROM observations')) === 50, 20_000);
  const lease = await db.query<{ checkpoint: string }>('SELECT checkpoint FROM shard_leases');
  expect(bySequence(lease.rows[0]?.checkpoint as string, row.sequence_number as string)).toBe(1);
  expect(await count(db, 'SELECT count(*) AS n FROM observations WHERE event_id = ANY($1::uuid[])', [later.map((e) => e.eventId)])).toBe(10);
  expect(p.processor.healthy()).toBe(true);
  expect(await count(db, 'SELECT count(*) AS n FROM dead_letters')).toBe(1);

  await p.stop();
  running.splice(running.indexOf(p), 1);
  const emf = logLines.filter((l) => l.includes('"_aws"')).map((l) => JSON.parse(l) as Record<string, number>);
  expect(emf.reduce((n, m) => n + (m.UnprocessableRecords ?? 0), 0)).toBe(1);
  expect(emf.reduce((n, m) => n + (m.BatchSplits ?? 0), 0)).toBeGreaterThan(0);
  expect(logLines.some((l) => l.includes('record dead-lettered: the database keeps rejecting it'))).toBe(true);
});

test('the same event id and time for two patients (a producer bug): one is stored, the other dead-lettered unprocessable, nothing else lost', async () => {
  const { db, database, stream } = await setup(2);
  const [p1, p2] = [patient(), patient()];
  const at = new Date(Date.now() - 60_000);
  const id = randomUUID();
  const others = Array.from({ length: 10 }, (_, i) => makeEvent({ patientId: i % 2 ? p1 : p2, observedAt: new Date(at.getTime() - (i + 1) * 1_000) }));
  // Different partition keys: the two copies may be read by either shard, in one batch or two.
  await putRecords(stack.kinesis, stream, [
    ...others.slice(0, 5).map(eventRecord),
    { data: JSON.stringify(makeEvent({ eventId: id, patientId: p1, observedAt: at })), partitionKey: 'producer-a' },
    { data: JSON.stringify(makeEvent({ eventId: id, patientId: p2, observedAt: at })), partitionKey: 'producer-b' },
    ...others.slice(5).map(eventRecord),
  ]);
  run(database, stream);

  await waitFor(async () => (await count(db, 'SELECT count(*) AS n FROM dead_letters')) === 1, 30_000);
  await waitFor(async () => (await count(db, 'SELECT count(*) AS n FROM observations')) === 11, 10_000);
  await new Promise((r) => setTimeout(r, 1_000)); // nothing more lands
  expect(await count(db, 'SELECT count(*) AS n FROM observations WHERE event_id = $1', [id])).toBe(1);
  expect(await count(db, 'SELECT count(*) AS n FROM observations WHERE event_id = ANY($1::uuid[])', [others.map((e) => e.eventId)])).toBe(10);
  const dl = await db.query('SELECT reason, errors FROM dead_letters');
  expect(dl.rows[0].reason).toBe('unprocessable');
  expect(dl.rows[0].errors).toEqual([{ field: '', message: expect.stringMatching(/^rejected by the database: SQLSTATE 23505\b/) }]);
  expect(await count(db, 'SELECT count(*) AS n FROM dead_letters')).toBe(1);
});

test('a shard stuck on a retryable database error loses and dead-letters nothing, reports unhealthy, and recovers', async () => {
  const { db, database, stream } = await setup(1);
  const pid = patient();
  const events = Array.from({ length: 15 }, () => makeEvent({ patientId: pid }));
  await reject(db, String(events[7]?.eventId), '40001'); // serialization failure: retry, never skip
  await putRecords(stack.kinesis, stream, events.map(eventRecord));
  const p = run(database, stream, { shardStallUnhealthyMs: 1_500 });
  const health = await startHealthServer(0, () => p.processor.health(), '127.0.0.1');
  const status = (): Promise<number> =>
    new Promise((resolve, reject) => {
      get({ host: '127.0.0.1', port: health.port, path: '/health' }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      }).on('error', reject);
    });
  try {
    await waitFor(async () => p.processor.heldShards().length === 1, 10_000);
    await waitFor(async () => !p.processor.healthy(), 15_000);
    expect(p.processor.stalledShards()).toEqual(['shardId-000000000000']);
    expect(await status()).toBe(503);
    expect(await count(db, 'SELECT count(*) AS n FROM observations')).toBe(0);
    expect(await count(db, 'SELECT count(*) AS n FROM dead_letters')).toBe(0);

    await db.query('DELETE FROM test_rejections'); // the outage ends
    await waitFor(async () => (await count(db, 'SELECT count(*) AS n FROM observations')) === 15, 30_000);
    await waitFor(async () => p.processor.healthy(), 5_000);
    expect(await status()).toBe(200);
    expect(await count(db, 'SELECT count(*) AS n FROM dead_letters')).toBe(0);
    expect(logLines.some((l) => l.includes('shards stalled on retries beyond the threshold'))).toBe(true);
  } finally {
    await health.close();
  }
});

test('a processor killed with SIGKILL between the pieces of a split batch neither loses nor duplicates on restart', async () => {
  const { db, database, stream } = await setup(1);
  const pid = patient();
  const t0 = Date.now() - 120_000;
  const events = Array.from({ length: 40 }, (_, i) => makeEvent({ patientId: pid, observedAt: new Date(t0 + i * 1_000) }));
  const culprit = events[30] as Record<string, unknown>;
  await reject(db, String(culprit.eventId), '23514');
  // Hold the dead-letter transaction open, so the kill lands after some pieces committed and before it.
  await db.query(`
    CREATE FUNCTION test_slow_dead_letter() RETURNS trigger LANGUAGE plpgsql AS $fn$ BEGIN PERFORM pg_sleep(30); RETURN NEW; END $fn$;
    CREATE TRIGGER test_slow_dead_letter BEFORE INSERT ON dead_letters FOR EACH ROW EXECUTE FUNCTION test_slow_dead_letter();
  `);
  await putRecords(stack.kinesis, stream, events.map(eventRecord));
  const output: string[] = [];
  const env = processorEnv(stack, database, stream, { LEASE_TTL_MS: '2000', LEASE_RENEW_MS: '400', SHARD_SYNC_MS: '1000', IDLE_POLL_MS: '200' });

  const first = startChild({ ...env, HEALTH_PORT: String(await freePort()) }, output);
  await first.ready;
  const deadLetterInFlight = `SELECT count(*) AS n FROM pg_stat_activity
    WHERE datname = current_database() AND state = 'active' AND query LIKE 'INSERT INTO dead_letters%'`;
  await waitFor(async () => (await count(db, deadLetterInFlight)) > 0, 30_000, 100);
  const storedAtKill = await count(db, 'SELECT count(*) AS n FROM observations');
  first.proc.kill('SIGKILL');
  expect((await first.exited).signal).toBe('SIGKILL');
  // The server notices the dead client only when it next talks to it; end the orphaned transaction now.
  await db.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity
    WHERE datname = current_database() AND pid <> pg_backend_pid() AND query LIKE 'INSERT INTO dead_letters%'`);
  expect(storedAtKill).toBe(30); // every record before the culprit committed, in pieces; nothing after it
  expect(await count(db, 'SELECT count(*) AS n FROM dead_letters')).toBe(0);

  await db.query('DROP TRIGGER test_slow_dead_letter ON dead_letters');
  const second = startChild({ ...env, HEALTH_PORT: String(await freePort()) }, output);
  await second.ready;
  await waitFor(async () => (await count(db, 'SELECT count(*) AS n FROM dead_letters')) === 1, 30_000);
  await waitFor(async () => (await count(db, 'SELECT count(*) AS n FROM observations')) === 39, 10_000);
  await new Promise((r) => setTimeout(r, 1_000)); // anything extra (a duplicate) would show up now
  second.proc.kill('SIGTERM');
  expect((await second.exited).code).toBe(0);

  expect(await count(db, 'SELECT count(*) AS n FROM observations')).toBe(39);
  expect(await count(db, 'SELECT count(DISTINCT event_id) AS n FROM observations')).toBe(39);
  expect(await count(db, 'SELECT count(*) AS n FROM news2_scores')).toBe(39);
  const { rows } = await db.query<{ event_id: string }>('SELECT event_id FROM observations');
  const stored = new Set(rows.map((r) => r.event_id));
  expect(events.filter((e) => e !== culprit && !stored.has(String(e.eventId)))).toEqual([]);
  expect((await db.query('SELECT reason FROM dead_letters')).rows).toEqual([{ reason: 'unprocessable' }]);
  logLines.push(...output);
}, 90_000);

test('no log line of this file\'s runs quotes a patient identifier or the database\'s rejection text', () => {
  expect(patientIds.length).toBe(5);
  expect(logLines.length).toBeGreaterThan(10);
  expect(logLines.some((l) => l.includes('"code":"23514"'))).toBe(true); // the rejections were logged...
  const leaks = logLines.filter((line) => line.includes(MARKER) || patientIds.some((id) => line.includes(id)));
  expect(leaks).toEqual([]); // ...without their text
});
