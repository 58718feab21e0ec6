/**
 * Concurrent batches from two shards against a real PostgreSQL (TLS): the same events and the
 * same patients arriving in different orders must serialise, never deadlock (a deadlock is retried,
 * but costs deadlock_timeout and a rollback per occurrence).
 *
 * The interleavings are forced with a third transaction holding one key, and by waiting until each
 * batch is seen blocked on a lock before going on.
 */
import type { Pool } from 'pg';
import type { PatientIdentityProtector } from '../../src/adapters/phi';
import { isPoisonError } from '../../src/adapters/error-summary';
import { BatchWriter, type BatchOutcome, type BatchTarget, type StreamRecord } from '../../src/processor/writer';
import { count, makeEvent, makePatientId, waitFor } from './support/stack';
import { startWriterDb, type WriterDb } from './support/writer-db';

let db: WriterDb;
let database: string;
let admin: Pool;
let pool: Pool;
let phi: PatientIdentityProtector;

const STREAM = 'vitals-test';
const target = (shardId: string): BatchTarget => ({ streamName: STREAM, shardId, owner: 'worker-a', epoch: 1, shardEnd: false });

beforeAll(async () => {
  db = await startWriterDb(6);
  ({ database, admin, pool, phi } = db);
}, 60_000);

beforeEach(async () => {
  await admin.query('TRUNCATE event_ids, observations, latest_vitals, alert_state, alerts, alert_outbox, patients, patient_keys, sources, shard_leases');
  await admin.query(
    `INSERT INTO shard_leases (stream_name, shard_id, owner, epoch, expires_at)
     VALUES ($1, 'shard-1', 'worker-a', 1, now() + interval '1 hour'), ($1, 'shard-2', 'worker-a', 1, now() + interval '1 hour')`,
    [STREAM],
  );
});

afterAll(async () => {
  await db?.stop();
});

function records(events: Record<string, unknown>[], firstSeq: number): StreamRecord[] {
  return events.map((e, i) => ({ data: Buffer.from(JSON.stringify(e)), sequenceNumber: String(firstSeq + i) }));
}

/** Backends of the test database waiting on a lock. */
async function blocked(): Promise<number> {
  return count(admin, `SELECT count(*) AS n FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock'`, [database]);
}

/** Settles to the outcome or the error's SQLSTATE, so a deadlock shows as '40P01'. */
function settle(p: Promise<BatchOutcome>): Promise<BatchOutcome | string> {
  return p.catch((err: { code?: string; message?: string }) => err.code ?? String(err.message));
}

const uuid = (n: number): string => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

test('two shards storing the same events of the same patients in opposite orders serialise instead of deadlocking, and only the first stores them', async () => {
  const [a, b] = [uuid(1), uuid(2)];
  // Two patients, ordered by pseudonym; both already known (their latest_vitals rows exist).
  const ids = [makePatientId(), makePatientId()];
  const byPseudonym = (await Promise.all(ids.map(async (id) => ({ id, p: await phi.pseudonym(id) })))).sort((l, r) => Buffer.compare(l.p, r.p));
  const [first, last] = byPseudonym as [{ id: string; p: Buffer }, { id: string; p: Buffer }];
  const earlier = new Date(Date.now() - 120_000);
  const seed = new BatchWriter({ pool, phi, deadLetterPayloads: phi, news2WindowMs: 3_600_000 });
  await seed.writeBatch(target('shard-1'), records([first, last].map((p) => makeEvent({ patientId: p.id, observedAt: earlier })), 1));
  const at = new Date(Date.now() - 60_000);
  const eventA = makeEvent({ eventId: a, patientId: first.id, observedAt: at, pulse: 135, respirationRate: 25 });
  const eventB = makeEvent({ eventId: b, patientId: last.id, observedAt: at, pulse: 135, respirationRate: 25 });
  // A third transaction holds the last patient's row, so batch 1 stops inside its lock statement
  // with the first patient's row taken; batch 2 then comes with the same events in the opposite order.
  const holder = await admin.connect();
  try {
    await holder.query('BEGIN');
    await holder.query('SELECT 1 FROM latest_vitals WHERE patient_pseudonym = $1 FOR UPDATE', [last.p]);
    const writer1 = new BatchWriter({ pool, phi, deadLetterPayloads: phi, news2WindowMs: 3_600_000 });
    const writer2 = new BatchWriter({ pool, phi, deadLetterPayloads: phi, news2WindowMs: 3_600_000 });
    const one = settle(writer1.writeBatch(target('shard-1'), records([eventA, eventB], 10)));
    await waitFor(async () => (await blocked()) === 1, 10_000, 20);
    const two = settle(writer2.writeBatch(target('shard-2'), records([eventB, eventA], 10)));
    await waitFor(async () => (await blocked()) === 2, 10_000, 20);
    await holder.query('ROLLBACK');

    const [r1, r2] = await Promise.all([one, two]);
    expect(r1).toMatchObject({ inserted: 2, duplicates: 0, scores: 2 });
    expect(r2).toMatchObject({ inserted: 0, duplicates: 2, scores: 0, alerts: 0 });
  } finally {
    holder.release();
  }
  expect(await count(admin, 'SELECT count(*) AS n FROM observations')).toBe(4);
  expect(await count(admin, 'SELECT count(*) AS n FROM observations WHERE event_id = ANY($1::uuid[])', [[a, b]])).toBe(2);
  expect(await count(admin, 'SELECT count(*) AS n FROM news2_scores WHERE event_id = ANY($1::uuid[])', [[a, b]])).toBe(2);
  expect(await count(admin, 'SELECT count(*) AS n FROM clinical_alerts')).toBe(2);
  expect(await count(admin, 'SELECT count(*) AS n FROM event_ids')).toBe(0);
});

test('the same event id and time for two patients in concurrent batches (a producer bug): the first is stored, the later fails with a unique violation (poison), never a deadlock', async () => {
  const [a, b, x] = [uuid(1), uuid(2), uuid(3)];
  const p1 = makePatientId();
  const p2 = makePatientId();
  const at = new Date(Date.now() - 60_000);
  // A third transaction holds the key (x, at), so batch 1 stops inside its observation insert with
  // a and b (key order) inserted; batch 2, another patient with b and a in the opposite order, then
  // waits on batch 1's uncommitted keys.
  const holder = await admin.connect();
  let rejection: unknown;
  try {
    await holder.query('BEGIN');
    await holder.query('INSERT INTO observations (event_id, observed_at, patient_key, source_key) VALUES ($1, $2, -1, -1)', [x, at]);
    const writer1 = new BatchWriter({ pool, phi, deadLetterPayloads: phi, news2WindowMs: 3_600_000 });
    const writer2 = new BatchWriter({ pool, phi, deadLetterPayloads: phi, news2WindowMs: 3_600_000 });
    const first = settle(writer1.writeBatch(target('shard-1'), records([x, a, b].map((eventId) => makeEvent({ eventId, patientId: p1, observedAt: at })), 1)));
    await waitFor(async () => (await blocked()) === 1, 10_000, 20);
    const second = writer2.writeBatch(target('shard-2'), records([b, a].map((eventId) => makeEvent({ eventId, patientId: p2, observedAt: at })), 1)).catch((err: unknown) => {
      rejection = err;
      return (err as { code?: string }).code ?? String(err);
    });
    await waitFor(async () => (await blocked()) === 2, 10_000, 20);
    await holder.query('ROLLBACK');

    const [one, two] = await Promise.all([first, second]);
    expect(one).toMatchObject({ inserted: 3, duplicates: 0 });
    expect(two).toBe('23505');
  } finally {
    holder.release();
  }
  // Poison: the shard reader splits the batch and dead-letters the record (poison.integration.test.ts).
  expect(isPoisonError(rejection)).toBe(true);
  const stored = await admin.query<{ event_id: string; n: string }>(
    'SELECT event_id::text, count(DISTINCT patient_key) AS n FROM observations GROUP BY event_id ORDER BY event_id',
  );
  expect(stored.rows).toEqual([a, b, x].map((event_id) => ({ event_id, n: '1' })));
  // The rejected batch changed nothing of its patient: its latest_vitals row (created with its
  // identifier, before the batch) holds no values.
  expect(await count(admin, 'SELECT count(*) AS n FROM latest_vitals WHERE packed IS NOT NULL')).toBe(1);
  expect(await count(admin, 'SELECT count(*) AS n FROM latest_vitals WHERE packed IS NULL')).toBe(1);
  expect(await count(admin, `SELECT count(*) AS n FROM shard_leases WHERE shard_id = 'shard-2' AND checkpoint IS NULL`)).toBe(1);
});

test('two shards seeing the same new patients in opposite orders serialise instead of deadlocking', async () => {
  const ids = [makePatientId(), makePatientId(), makePatientId()];
  // Order the three patients by pseudonym: the holder takes the last one, batch 1 has all three,
  // batch 2 the first two in the opposite order.
  const byPseudonym = (await Promise.all(ids.map(async (id) => ({ id, p: await phi.pseudonym(id) })))).sort((l, r) => Buffer.compare(l.p, r.p));
  const [first3, second3, last3] = byPseudonym as [{ id: string; p: Buffer }, { id: string; p: Buffer }, { id: string; p: Buffer }];
  const holder = await admin.connect();
  try {
    await holder.query('BEGIN');
    const { dataKeyId } = await phi.encrypt(Buffer.from('x'), Buffer.from('y')); // the current data key, stored
    await holder.query('INSERT INTO patients (patient_pseudonym, patient_id_ciphertext, data_key_id) VALUES ($1, $2, $3)', [last3.p, Buffer.alloc(32), dataKeyId]);
    const writer1 = new BatchWriter({ pool, phi, deadLetterPayloads: phi, news2WindowMs: 3_600_000 });
    const writer2 = new BatchWriter({ pool, phi, deadLetterPayloads: phi, news2WindowMs: 3_600_000 });
    const first = settle(writer1.writeBatch(target('shard-1'), records([first3, last3, second3].map((p) => makeEvent({ patientId: p.id })), 1)));
    await waitFor(async () => (await blocked()) === 1, 10_000, 20);
    const second = settle(writer2.writeBatch(target('shard-2'), records([second3, first3].map((p) => makeEvent({ patientId: p.id })), 1)));
    await waitFor(async () => (await blocked()) === 2, 10_000, 20);
    await holder.query('ROLLBACK');

    const [one, two] = await Promise.all([first, second]);
    expect(one).toMatchObject({ inserted: 3 });
    expect(two).toMatchObject({ inserted: 2 });
  } finally {
    holder.release();
  }
  expect(await count(admin, 'SELECT count(*) AS n FROM patients')).toBe(3);
  expect(await count(admin, 'SELECT count(*) AS n FROM observations')).toBe(5);
});
