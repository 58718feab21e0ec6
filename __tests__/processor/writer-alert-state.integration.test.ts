/**
 * The legacy per-patient alert state (alert_state) is rewritten only when a score changes it (issue
 * 11: every batch rewrote every scored patient's row, ~10 % of the batch statement's time), against a
 * real PostgreSQL (TLS). The row's xmin (the transaction that last wrote it) tells whether a batch
 * wrote it.
 */
import type { Pool } from 'pg';
import { BatchWriter, type BatchTarget, type StreamRecord } from '../../src/processor/writer';
import { makeEvent, makePatientId } from './support/stack';
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

async function stateRow(): Promise<{ risk: string; any_parameter_three: boolean; xmin: string }> {
  const { rows } = await admin.query<{ risk: string; any_parameter_three: boolean; xmin: string }>('SELECT risk, any_parameter_three, xmin::text FROM alert_state');
  expect(rows).toHaveLength(1);
  return rows[0] as { risk: string; any_parameter_three: boolean; xmin: string };
}

test('a score that leaves the risk band and red-score flag as they were does not rewrite the row; a change does', async () => {
  const writer = new BatchWriter({ pool: db.pool, phi: db.phi, deadLetterPayloads: db.phi, news2WindowMs: 3_600_000 });
  const patientId = makePatientId();
  const at = (secondsAgo: number): Date => new Date(Date.now() - secondsAgo * 1_000);

  expect(await writer.writeBatch(target, records([makeEvent({ patientId, observedAt: at(50) })]))).toMatchObject({ inserted: 1, scores: 1 });
  const first = await stateRow();
  expect(first).toMatchObject({ risk: 'low', any_parameter_three: false });

  // Two more normal readings (new scores, same band): the row is untouched.
  expect(await writer.writeBatch(target, records([makeEvent({ patientId, pulse: 75, observedAt: at(40) }), makeEvent({ patientId, pulse: 78, observedAt: at(30) })]))).toMatchObject({ inserted: 2, scores: 2 });
  expect(await stateRow()).toEqual(first);

  // Pulse 135 and respiration 25 (3 + 3): medium risk and a red score; the row is rewritten.
  expect(await writer.writeBatch(target, records([makeEvent({ patientId, pulse: 135, respirationRate: 25, observedAt: at(20) })]))).toMatchObject({ inserted: 1, scores: 1, alerts: 1 });
  const raised = await stateRow();
  expect(raised).toMatchObject({ risk: 'medium', any_parameter_three: true });
  expect(raised.xmin).not.toBe(first.xmin);

  // The same again (no new alert), then back to normal (the state falls: rewritten).
  expect(await writer.writeBatch(target, records([makeEvent({ patientId, pulse: 136, respirationRate: 25, observedAt: at(10) })]))).toMatchObject({ inserted: 1, alerts: 0 });
  expect(await stateRow()).toEqual(raised);
  expect(await writer.writeBatch(target, records([makeEvent({ patientId, observedAt: at(5) })]))).toMatchObject({ inserted: 1, alerts: 0 });
  expect(await stateRow()).toMatchObject({ risk: 'low', any_parameter_three: false });
});
