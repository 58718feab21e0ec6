/**
 * Concurrent batches from two shards against a real PostgreSQL (TLS): the same event ids and the
 * same patients arriving in different orders must serialise, never deadlock (a deadlock is retried,
 * but costs deadlock_timeout and a rollback per occurrence).
 *
 * The interleavings are forced with a third transaction holding one key, and by waiting until each
 * batch is seen blocked on a lock before going on.
 */
import type { Pool } from 'pg';
import { createPool } from '../../src/adapters/db';
import { pgDataKeyStore } from '../../src/adapters/data-key-store';
import { createPhiProtector, type PatientIdentityProtector } from '../../src/adapters/phi';
import { BatchWriter, type BatchOutcome, type BatchTarget, type StreamRecord } from '../../src/processor/writer';
import { adminPool, count, makeEvent, makePatientId, newDatabase, processorDb, startStack, waitFor, type TestStack } from './support/stack';

let stack: TestStack;
let database: string;
let admin: Pool;
let pool: Pool;
let phi: PatientIdentityProtector;

const STREAM = 'vitals-test';
const target = (shardId: string): BatchTarget => ({ streamName: STREAM, shardId, owner: 'worker-a', epoch: 1, shardEnd: false });

beforeAll(async () => {
  stack = await startStack();
  database = await newDatabase(stack);
  admin = adminPool(stack, database);
  pool = createPool({ ...processorDb(stack, database), maxConnections: 6 });
  pool.on('error', () => undefined);
  phi = createPhiProtector({ kind: 'local', keyFile: stack.keyFile }, pgDataKeyStore(pool));
}, 60_000);

beforeEach(async () => {
  await admin.query('TRUNCATE event_ids, observations, latest_vitals, alert_state, alerts, patients, patient_keys, sources, shard_leases');
  await admin.query(
    `INSERT INTO shard_leases (stream_name, shard_id, owner, epoch, expires_at)
     VALUES ($1, 'shard-1', 'worker-a', 1, now() + interval '1 hour'), ($1, 'shard-2', 'worker-a', 1, now() + interval '1 hour')`,
    [STREAM],
  );
});

afterAll(async () => {
  await pool?.end();
  await admin?.end();
  await stack?.stop();
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

test('two shards storing the same event ids in opposite orders serialise instead of deadlocking, and only the first stores them', async () => {
  const [a, b, x] = [uuid(1), uuid(2), uuid(3)];
  const p1 = makePatientId();
  const p2 = makePatientId();
  const at = new Date(Date.now() - 60_000);
  // A third transaction holds X, so batch 1 stops inside its event-id insert with A (and, in key
  // order, B) already taken; batch 2 then comes with B and A in the opposite order.
  const holder = await admin.connect();
  try {
    await holder.query('BEGIN');
    await holder.query('INSERT INTO event_ids (event_id) VALUES ($1)', [x]);
    const writer1 = new BatchWriter({ pool, phi, deadLetterPayloads: phi, news2WindowMs: 3_600_000 });
    const writer2 = new BatchWriter({ pool, phi, deadLetterPayloads: phi, news2WindowMs: 3_600_000 });
    const first = settle(
      writer1.writeBatch(target('shard-1'), records([a, x, b].map((eventId) => makeEvent({ eventId, patientId: p1, observedAt: at })), 1)),
    );
    await waitFor(async () => (await blocked()) === 1, 10_000, 20);
    const second = settle(
      writer2.writeBatch(target('shard-2'), records([b, a].map((eventId) => makeEvent({ eventId, patientId: p2, observedAt: at })), 1)),
    );
    await waitFor(async () => (await blocked()) === 2, 10_000, 20);
    await holder.query('ROLLBACK');

    const [one, two] = await Promise.all([first, second]);
    expect(one).toMatchObject({ inserted: 3, duplicates: 0 });
    expect(two).toMatchObject({ inserted: 0, duplicates: 2 });
  } finally {
    holder.release();
  }
  expect(await count(admin, 'SELECT count(*) AS n FROM observations')).toBe(3);
  // The duplicates' patient got no latest vitals, scores or alerts from them.
  expect(await count(admin, 'SELECT count(*) AS n FROM latest_vitals')).toBe(1);
  expect(await count(admin, 'SELECT count(DISTINCT patient_pseudonym) AS n FROM news2_scores')).toBe(1);
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
