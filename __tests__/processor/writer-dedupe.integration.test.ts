/**
 * Deduplication on observations' own key (issue 11), against a real PostgreSQL (TLS): an event is
 * (event id, observation time) of one patient, whatever its age; the check the writer runs reads only
 * the partitions of the batch's days.
 */
import type { Pool } from 'pg';
import { createPool } from '../../src/adapters/db';
import type { PatientIdentityProtector } from '../../src/adapters/phi';
import { BatchWriter, STORED_EVENTS_SQL, type BatchTarget, type StreamRecord } from '../../src/processor/writer';
import { count, makeEvent, makePatientId, processorDb, type TestStack } from './support/stack';
import { startWriterDb, type WriterDb } from './support/writer-db';

let db: WriterDb;
let stack: TestStack;
let database: string;
let admin: Pool;
let pool: Pool;
let phi: PatientIdentityProtector;

const STREAM = 'vitals-test';
const target: BatchTarget = { streamName: STREAM, shardId: 'shard-1', owner: 'worker-a', epoch: 1, shardEnd: false };
const DAY = 86_400_000;

beforeAll(async () => {
  db = await startWriterDb(4);
  ({ stack, database, admin, pool, phi } = db);
}, 60_000);

beforeEach(async () => {
  await admin.query('TRUNCATE event_ids, observations, latest_vitals, alert_state, alerts, alert_outbox, patients, patient_keys, sources, shard_leases, dead_letters');
  await admin.query(`INSERT INTO shard_leases (stream_name, shard_id, owner, epoch, expires_at) VALUES ($1, 'shard-1', 'worker-a', 1, now() + interval '1 hour')`, [STREAM]);
});

afterAll(async () => {
  await db?.stop();
});

let seq = 0;
function records(events: Record<string, unknown>[]): StreamRecord[] {
  return events.map((e) => ({ data: Buffer.from(JSON.stringify(e)), sequenceNumber: String(++seq) }));
}

/** A new writer each time: nothing cached from an earlier batch (as after a restart or on another worker). */
function writer(): BatchWriter {
  return new BatchWriter({ pool, phi, deadLetterPayloads: phi, news2WindowMs: 3_600_000 });
}

test('an event replayed long after it was stored (no event_ids row ever existed) is not stored, scored or alerted twice', async () => {
  const pid = makePatientId();
  // Alerting vitals (pulse 3 + respiration 3: medium risk), 400 days old: past any event-id horizon.
  const old = makeEvent({ patientId: pid, pulse: 135, respirationRate: 25, observedAt: new Date(Date.now() - 400 * DAY) });
  const first = await writer().writeBatch(target, records([old]));
  expect(first).toMatchObject({ inserted: 1, duplicates: 0, scores: 1, alerts: 1 });
  const before = {
    alerts: await count(admin, 'SELECT count(*) AS n FROM clinical_alerts'),
    outbox: await count(admin, 'SELECT count(*) AS n FROM alert_outbox'),
  };
  expect(before.alerts).toBe(1);
  expect(await count(admin, 'SELECT count(*) AS n FROM event_ids')).toBe(0);

  // The replay, alone and then beside a new event of the same patient, from writers with no cache.
  expect(await writer().writeBatch(target, records([old]))).toMatchObject({ inserted: 0, duplicates: 1, scores: 0, alerts: 0 });
  const fresh = makeEvent({ patientId: pid, observedAt: new Date(Date.now() - 60_000) });
  expect(await writer().writeBatch(target, records([old, fresh]))).toMatchObject({ inserted: 1, duplicates: 1 });

  expect(await count(admin, 'SELECT count(*) AS n FROM observations WHERE event_id = $1', [old.eventId])).toBe(1);
  expect(await count(admin, 'SELECT count(*) AS n FROM observations')).toBe(2);
  expect(await count(admin, 'SELECT count(*) AS n FROM news2_scores WHERE event_id = $1', [old.eventId])).toBe(1);
  expect(await count(admin, 'SELECT count(*) AS n FROM clinical_alerts')).toBe(before.alerts);
  expect(await count(admin, 'SELECT count(*) AS n FROM alert_outbox')).toBeLessThanOrEqual(before.outbox + 1); // the fresh event may clear the alert
  expect(await count(admin, 'SELECT count(*) AS n FROM dead_letters')).toBe(0);
  expect(await count(admin, 'SELECT count(*) AS n FROM event_ids')).toBe(0);
});

test('the same event id with another observation time is a second observation, in one batch and across batches', async () => {
  const pid = makePatientId();
  const id = '00000000-0000-4000-8000-00000000a001';
  const now = Date.now();
  const t = (minutesAgo: number): Date => new Date(now - minutesAgo * 60_000);
  const one = await writer().writeBatch(target, records([makeEvent({ eventId: id, patientId: pid, observedAt: t(30) }), makeEvent({ eventId: id, patientId: pid, observedAt: t(20) })]));
  expect(one).toMatchObject({ inserted: 2, duplicates: 0 });
  // A retry of the first (same id, same time; upper case is the same uuid) and a third time.
  const two = await writer().writeBatch(target, records([makeEvent({ eventId: id.toUpperCase(), patientId: pid, observedAt: t(30) }), makeEvent({ eventId: id, patientId: pid, observedAt: t(10) })]));
  expect(two).toMatchObject({ inserted: 1, duplicates: 1 });
  const rows = await admin.query<{ observed_at: Date }>('SELECT observed_at FROM observations WHERE event_id = $1 ORDER BY observed_at', [id]);
  expect(rows.rows.map((r) => r.observed_at.getTime())).toEqual([t(30), t(20), t(10)].map((d) => d.getTime()));
});

test('retries within one batch: each (id, time, patient) stored once, however often and in whatever order it repeats', async () => {
  const pid = makePatientId();
  const id = '00000000-0000-4000-8000-00000000b001';
  const now = Date.now();
  const at = (minutesAgo: number): Date => new Date(now - minutesAgo * 60_000);
  const a = makeEvent({ eventId: id, patientId: pid, observedAt: at(30) });
  const b = makeEvent({ eventId: id, patientId: pid, observedAt: at(20) });
  const c = makeEvent({ patientId: pid, observedAt: at(25) });
  const out = await writer().writeBatch(target, records([a, c, { ...a, eventId: id.toUpperCase() }, b, a, c, b]));
  expect(out).toMatchObject({ records: 7, inserted: 3, duplicates: 4, deadLetters: 0 });
  expect(await count(admin, 'SELECT count(*) AS n FROM observations')).toBe(3);
  expect(await count(admin, 'SELECT count(*) AS n FROM observations WHERE event_id = $1', [id])).toBe(2);
});

test('observation times are stored and deduped to the millisecond (sent as epoch milliseconds)', async () => {
  const pid = makePatientId();
  const times = [new Date('2026-11-30T23:59:59.999Z'), new Date('2025-02-28T00:00:00.001Z'), new Date(Date.now() - 1), new Date('2024-02-29T12:34:56.789Z')];
  const events = times.map((observedAt) => makeEvent({ patientId: pid, observedAt }));
  expect(await writer().writeBatch(target, records(events))).toMatchObject({ inserted: 4, duplicates: 0 });
  const { rows } = await admin.query<{ event_id: string; observed_at: Date }>('SELECT event_id::text, observed_at FROM observations');
  expect(new Map(rows.map((r) => [r.event_id, r.observed_at.toISOString()]))).toEqual(new Map(events.map((e) => [e.eventId, e.observedAt])));
  // The same events again, one millisecond later each: new observations; exactly again: duplicates.
  const shifted = events.map((e) => ({ ...e, observedAt: new Date(Date.parse(e.observedAt as string) + 1).toISOString() }));
  expect(await writer().writeBatch(target, records([...events, ...shifted]))).toMatchObject({ inserted: 4, duplicates: 4 });
});

test('the per-batch statements are prepared once per connection (named), the stored-events check is not', async () => {
  const single = createPool({ ...processorDb(stack, database), maxConnections: 1 });
  try {
    const w = new BatchWriter({ pool: single, phi, deadLetterPayloads: phi, news2WindowMs: 3_600_000 });
    const pid = makePatientId();
    for (let i = 0; i < 3; i++) await w.writeBatch(target, records([makeEvent({ patientId: pid, observedAt: new Date(Date.now() - (10 - i) * 1_000) })]));
    const { rows } = await single.query<{ name: string }>('SELECT name FROM pg_prepared_statements ORDER BY name');
    const names = rows.map((r) => r.name);
    expect(names.filter((n) => n.startsWith('vitals-writer-'))).toEqual(['vitals-writer-batch', 'vitals-writer-lock-patients']);
    expect(names).toContain('vitals-alerts-open'); // the batches were scored: their open alerts were read
    expect(names.every((n) => n.startsWith('vitals-writer-') || n.startsWith('vitals-alerts-'))).toBe(true);
    expect(await count(admin, 'SELECT count(*) AS n FROM observations')).toBe(3);
  } finally {
    await single.end();
  }
});

test('the stored-events check reads only the partitions of the batch\'s days (366+ daily partitions)', async () => {
  // A year and more of daily partitions, as in production (ensure_time_partitions makes only the
  // recent ones).
  await admin.query(`
    DO $do$
    DECLARE day date;
    BEGIN
      FOR i IN 8..400 LOOP
        day := (now() AT TIME ZONE 'UTC')::date - i;
        CONTINUE WHEN to_regclass('observations_' || to_char(day, 'YYYYMMDD')) IS NOT NULL;
        EXECUTE format('CREATE TABLE %I PARTITION OF observations FOR VALUES FROM (%L) TO (%L)', 'observations_' || to_char(day, 'YYYYMMDD'),
                       (day::timestamp AT TIME ZONE 'UTC'), ((day + 1)::timestamp AT TIME ZONE 'UTC'));
      END LOOP;
    END
    $do$`);
  const partitions = await count(admin, `SELECT count(*) AS n FROM pg_inherits WHERE inhparent = 'observations'::regclass`);
  expect(partitions).toBeGreaterThan(366);

  const utcDay = (d: Date): string => d.toISOString().slice(0, 10).replace(/-/g, '');
  const relations = async (times: Date[]): Promise<string[]> => {
    const { rows } = await admin.query<{ 'QUERY PLAN': unknown }>(`EXPLAIN (FORMAT JSON) ${STORED_EVENTS_SQL}`, [
      `{${times.map((_, i) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`).join(',')}}`,
      new Date(Math.min(...times.map((d) => d.getTime()))),
      new Date(Math.max(...times.map((d) => d.getTime()))),
    ]);
    const names = new Set<string>();
    const walk = (node: unknown): void => {
      if (Array.isArray(node)) node.forEach(walk);
      else if (node && typeof node === 'object') {
        for (const [k, v] of Object.entries(node)) {
          if (k === 'Relation Name' && typeof v === 'string') names.add(v);
          else walk(v);
        }
      }
    };
    walk(rows[0]?.['QUERY PLAN']);
    return [...names].sort();
  };

  // A current batch spanning midnight: today's and yesterday's partitions only.
  const midnight = new Date(`${new Date().toISOString().slice(0, 10)}T00:00:00Z`);
  const current = [new Date(midnight.getTime() - 90_000), new Date(midnight.getTime() + 30_000), new Date(midnight.getTime() - 10_000)];
  expect(await relations(current)).toEqual([`observations_${utcDay(new Date(midnight.getTime() - DAY))}`, `observations_${utcDay(midnight)}`]);
  // A replay of a 200-day-old event in a batch of its own.
  const old = new Date(midnight.getTime() - 200 * DAY + 3_600_000);
  expect(await relations([old])).toEqual([`observations_${utcDay(old)}`]);
});
