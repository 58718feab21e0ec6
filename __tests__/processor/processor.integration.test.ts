/**
 * Integration: the real processor against kinesalite and PostgreSQL (TLS), started by this file.
 */
import { randomUUID } from 'node:crypto';
import { ListShardsCommand, SplitShardCommand } from '@aws-sdk/client-kinesis';
import type { Pool } from 'pg';
import { startProcessor, type RunningProcessor } from './support/in-process';
import {
  adminPool,
  count,
  createStream,
  eventRecord,
  makeEvent,
  makePatientId,
  newDatabase,
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

function patient(): string {
  const id = makePatientId();
  patientIds.push(id);
  return id;
}

async function setup(shards: number): Promise<{ db: Pool; database: string; stream: string }> {
  const database = await newDatabase(stack);
  const stream = `vitals-${randomUUID().slice(0, 8)}`;
  await createStream(stack.kinesis, stream, shards);
  const db = adminPool(stack, database);
  pools.push(db);
  return { db, database, stream };
}

function run(database: string, stream: string, workerId: string): RunningProcessor {
  const p = startProcessor(stack, database, stream, workerId, logLines);
  running.push(p);
  return p;
}

useIntegrationStack({ onStack: (s) => (stack = s), stack: () => stack, running, pools }, 60_000);

test('a 4-shard stream is consumed completely, every event stored once', async () => {
  const { db, database, stream } = await setup(4);
  const patients = Array.from({ length: 20 }, () => patient());
  const events = Array.from({ length: 2_000 }, (_, i) => makeEvent({ patientId: patients[i % 20], deviceId: `monitor-${i % 40}` }));
  await putRecords(stack.kinesis, stream, events.map(eventRecord));
  run(database, stream, 'worker-a');

  await waitFor(async () => (await count(db, 'SELECT count(*) AS n FROM observations')) === 2_000, 30_000);
  // Every shard had records and its checkpoint moved (observations no longer carry their shard id).
  expect(await count(db, 'SELECT count(*) AS n FROM shard_leases WHERE checkpoint IS NOT NULL')).toBe(4);
  expect(await count(db, 'SELECT count(DISTINCT event_id) AS n FROM observations')).toBe(2_000);
  expect(await count(db, 'SELECT count(*) AS n FROM latest_vitals')).toBe(20);
  expect(await count(db, 'SELECT count(*) AS n FROM patients')).toBe(20);
  expect(await count(db, 'SELECT count(*) AS n FROM news2_scores')).toBeGreaterThanOrEqual(20);
  const leases = await db.query('SELECT shard_id, owner, checkpoint FROM shard_leases ORDER BY shard_id');
  expect(leases.rows).toHaveLength(4);
  for (const l of leases.rows) expect(l.owner).toBe('worker-a');
});

test('duplicate event ids are stored once, within a batch and across shards', async () => {
  const { db, database, stream } = await setup(2);
  const pid = patient();
  const originals = Array.from({ length: 100 }, () => makeEvent({ patientId: pid }));
  const records = [
    ...originals.map(eventRecord),
    ...originals.slice(0, 30).map(eventRecord), // producer retry, same partition key
    ...originals.slice(30, 60).map((e) => ({ data: JSON.stringify(e), partitionKey: `other-${String(e.eventId)}` })), // another shard
    ...originals.slice(60, 65).map((e) => ({ data: JSON.stringify({ ...e, eventId: String(e.eventId).toUpperCase() }), partitionKey: 'x' })),
  ];
  await putRecords(stack.kinesis, stream, records);
  run(database, stream, 'worker-a');

  await waitFor(async () => (await count(db, `SELECT count(*) AS n FROM shard_leases WHERE checkpoint IS NOT NULL`)) === 2, 20_000);
  await waitFor(async () => (await count(db, 'SELECT count(*) AS n FROM observations')) >= 100, 20_000);
  await new Promise((r) => setTimeout(r, 1_000)); // a duplicate would land in a later batch
  expect(await count(db, 'SELECT count(*) AS n FROM observations')).toBe(100);
  // Deduplicated on observations' own key: the processor no longer writes the old dedupe table.
  expect(await count(db, 'SELECT count(*) AS n FROM event_ids')).toBe(0);
  // How many events are scored depends on which shard's copy lands first (an event older than the
  // patient's latest values is not re-scored), so the invariant is: scores only for stored events,
  // at most one each, and some.
  const scores = await count(db, 'SELECT count(*) AS n FROM news2_scores');
  expect(scores).toBeGreaterThan(0);
  expect(scores).toBeLessThanOrEqual(100);
  expect(await count(db, 'SELECT count(*) AS n FROM news2_scores s WHERE NOT EXISTS (SELECT 1 FROM observations o WHERE o.event_id = s.event_id)')).toBe(0);
});

test('malformed records go to dead letters with reason and field pointers, and processing continues', async () => {
  const { db, database, stream } = await setup(1);
  const pid = patient();
  const good = Array.from({ length: 20 }, () => makeEvent({ patientId: pid }));
  const future = makeEvent({ patientId: pid, observedAt: new Date(Date.now() + 3_600_000) });
  const badPulse = makeEvent({ patientId: pid, pulse: 900 });
  const records = [
    eventRecord(good[0] as Record<string, unknown>),
    { data: Buffer.from([0xff, 0xfe, 0x00]), partitionKey: 'p' },
    { data: `{"patientId":"${pid}", not json`, partitionKey: 'p' },
    eventRecord(badPulse),
    eventRecord(future),
    ...good.slice(1).map(eventRecord),
  ];
  await putRecords(stack.kinesis, stream, records);
  run(database, stream, 'worker-a');

  await waitFor(async () => (await count(db, 'SELECT count(*) AS n FROM observations')) === 20, 20_000);
  const dl = await db.query('SELECT reason, errors, shard_id, sequence_number, payload_bytes FROM dead_letters ORDER BY dead_letter_id');
  expect(dl.rows.map((r) => r.reason)).toEqual(['undecodable', 'undecodable', 'invalid', 'future-timestamp']);
  expect(dl.rows[2].errors).toEqual(expect.arrayContaining([expect.objectContaining({ field: expect.stringContaining('pulse') })]));
  for (const r of dl.rows) {
    expect(r.shard_id).toBe('shardId-000000000000');
    expect(r.sequence_number).toMatch(/^\d+$/);
  }
  const raw = await db.query('SELECT payload_ciphertext FROM dead_letters');
  for (const r of raw.rows) expect((r.payload_ciphertext as Buffer).includes(Buffer.from(pid))).toBe(false);
});

test('two processors share the shards, and when one stops gracefully the other takes over without loss', async () => {
  const { db, database, stream } = await setup(4);
  const patients = Array.from({ length: 10 }, () => patient());
  const first = Array.from({ length: 1_000 }, (_, i) => makeEvent({ patientId: patients[i % 10], deviceId: `m-${i % 50}` }));
  await putRecords(stack.kinesis, stream, first.map(eventRecord));
  const a = run(database, stream, 'worker-a');
  const b = run(database, stream, 'worker-b');

  await waitFor(async () => {
    const owners = await db.query(`SELECT owner, count(*)::int AS n FROM shard_leases WHERE owner IS NOT NULL AND expires_at > now() GROUP BY owner`);
    const balanced = owners.rows.length === 2 && owners.rows.every((r) => r.n === 2);
    // readers of leases lost to balancing stop at the next renewal
    return balanced && a.processor.heldShards().length === 2 && b.processor.heldShards().length === 2;
  }, 20_000);
  const heldByA = a.processor.heldShards();
  expect(b.processor.heldShards().filter((s) => heldByA.includes(s))).toEqual([]);

  await a.stop();
  running.splice(running.indexOf(a), 1);
  const second = Array.from({ length: 1_000 }, (_, i) => makeEvent({ patientId: patients[i % 10], deviceId: `m-${i % 50}` }));
  await putRecords(stack.kinesis, stream, second.map(eventRecord));

  await waitFor(async () => (await count(db, 'SELECT count(*) AS n FROM observations')) === 2_000, 30_000);
  await waitFor(async () => b.processor.heldShards().length === 4, 10_000);
  expect(await count(db, 'SELECT count(DISTINCT event_id) AS n FROM observations')).toBe(2_000);
  expect(await count(db, `SELECT count(*) AS n FROM shard_leases WHERE owner = 'worker-b'`)).toBe(4);
});

test('after a reshard the parent shard is drained and finished before its children are read', async () => {
  const { db, database, stream } = await setup(1);
  const patients = Array.from({ length: 5 }, () => patient());
  const before = Array.from({ length: 600 }, (_, i) => makeEvent({ patientId: patients[i % 5], deviceId: `m-${i % 30}` }));
  await putRecords(stack.kinesis, stream, before.map(eventRecord));
  run(database, stream, 'worker-a');
  await waitFor(async () => (await count(db, 'SELECT count(*) AS n FROM observations')) > 0, 20_000);

  await stack.kinesis.send(new SplitShardCommand({ StreamName: stream, ShardToSplit: 'shardId-000000000000', NewStartingHashKey: (2n ** 127n).toString() }));
  await waitFor(async () => ((await stack.kinesis.send(new ListShardsCommand({ StreamName: stream }))).Shards ?? []).length === 3, 10_000);
  const after = Array.from({ length: 600 }, (_, i) => makeEvent({ patientId: patients[i % 5], deviceId: `m-${i % 30}` }));
  await putRecords(stack.kinesis, stream, after.map(eventRecord));

  await waitFor(async () => (await count(db, 'SELECT count(*) AS n FROM observations')) === 1_200, 30_000);
  expect(await count(db, 'SELECT count(DISTINCT event_id) AS n FROM observations')).toBe(1_200);
  const parent = await db.query(`SELECT finished, parent_shard_ids FROM shard_leases WHERE shard_id = 'shardId-000000000000'`);
  expect(parent.rows[0].finished).toBe(true);
  const children = await db.query(`SELECT shard_id FROM shard_leases WHERE 'shardId-000000000000' = ANY(parent_shard_ids) ORDER BY shard_id`);
  expect(children.rows.map((r) => r.shard_id)).toEqual(['shardId-000000000001', 'shardId-000000000002']);
  // Records put before the split are in the parent, those put after it in the children.
  const order = await db.query(
    `SELECT (SELECT max(stored_at) FROM observations WHERE event_id = ANY($1::uuid[])) AS parent_last,
            (SELECT min(stored_at) FROM observations WHERE event_id = ANY($2::uuid[])) AS child_first`,
    [before.map((e) => e.eventId), after.map((e) => e.eventId)],
  );
  expect(order.rows[0].child_first.getTime()).toBeGreaterThanOrEqual(order.rows[0].parent_last.getTime());
  expect(await count(db, 'SELECT count(*) AS n FROM observations WHERE event_id = ANY($1::uuid[])', [after.map((e) => e.eventId)])).toBe(600);
});

test('a rising NEWS2 raises one alert per transition, not one per event', async () => {
  const { db, database, stream } = await setup(1);
  const pid = patient();
  const t0 = Date.now() - 60_000;
  const events = [
    ...Array.from({ length: 5 }, (_, i) => makeEvent({ patientId: pid, observedAt: new Date(t0 + i * 1_000) })),
    // respiration 25+ scores 3 (single-parameter red score) and pulse 131+ scores 3: total 6 -> medium
    ...Array.from({ length: 5 }, (_, i) => makeEvent({ patientId: pid, respirationRate: 26, pulse: 135, observedAt: new Date(t0 + 10_000 + i * 1_000) })),
  ];
  await putRecords(stack.kinesis, stream, events.map(eventRecord));
  run(database, stream, 'worker-a');
  await waitFor(async () => (await count(db, 'SELECT count(*) AS n FROM news2_scores')) === 10, 20_000);
  const alerts = await db.query(`SELECT severity, cleared_at, last_detail->'score'->>'total' AS total FROM clinical_alerts`);
  expect(alerts.rows).toEqual([{ severity: 'medium', cleared_at: null, total: '6' }]);
  const transitions = await db.query(`SELECT detail->>'transition' AS transition, detail->>'severity' AS severity FROM alert_outbox`);
  expect(transitions.rows).toEqual([{ transition: 'raised', severity: 'medium' }]);
  // The legacy per-raise tables are no longer written (issue 11; clinical_alerts and the outbox hold the lifecycle).
  expect(await count(db, 'SELECT count(*) AS n FROM alerts')).toBe(0);
  expect(await count(db, 'SELECT count(*) AS n FROM alert_state')).toBe(0);
});

test('the processor\'s maintenance still prunes a previous version\'s event ids, and an event replayed long after is not stored, scored or alerted twice', async () => {
  const { db, database, stream } = await setup(1);
  // An id a processor of the previous version stored (rolling deploy), past the horizon.
  const aged = randomUUID();
  await db.query(`INSERT INTO event_ids (event_id, stored_at) VALUES ($1, now() - interval '401 days')`, [aged]);
  const pid = patient();
  // Alerting vitals (medium risk), 400 days old: any id of it would have been pruned long ago.
  const event = makeEvent({ patientId: pid, pulse: 135, respirationRate: 25, observedAt: new Date(Date.now() - 400 * 86_400_000) });
  await putRecords(stack.kinesis, stream, [eventRecord(event)]);
  run(database, stream, 'worker-a');
  // Maintenance runs at start-up, then hourly.
  await waitFor(async () => (await count(db, 'SELECT count(*) AS n FROM event_ids WHERE event_id = $1', [aged])) === 0, 20_000);
  await waitFor(async () => (await count(db, 'SELECT count(*) AS n FROM observations')) === 1, 20_000);
  expect(await count(db, 'SELECT count(*) AS n FROM clinical_alerts')).toBe(1);
  const outbox = await count(db, 'SELECT count(*) AS n FROM alert_outbox');

  // The same event comes again (a replay); the processor never wrote an event_ids row for it.
  const before = (await db.query('SELECT checkpoint FROM shard_leases')).rows[0].checkpoint as string;
  await putRecords(stack.kinesis, stream, [eventRecord(event)]);
  await waitFor(async () => (await db.query('SELECT checkpoint FROM shard_leases')).rows[0].checkpoint !== before, 20_000);
  expect(await count(db, 'SELECT count(*) AS n FROM observations')).toBe(1);
  expect(await count(db, 'SELECT count(*) AS n FROM news2_scores')).toBe(1);
  expect(await count(db, 'SELECT count(*) AS n FROM clinical_alerts')).toBe(1);
  expect(await count(db, 'SELECT count(*) AS n FROM alert_outbox')).toBe(outbox);
  expect(await count(db, 'SELECT count(*) AS n FROM dead_letters')).toBe(0);
  expect(await count(db, 'SELECT count(*) AS n FROM event_ids')).toBe(0);
});

test('no log line of this file\'s runs contains a patient identifier', () => {
  expect(patientIds.length).toBeGreaterThan(20);
  expect(logLines.length).toBeGreaterThan(10);
  const leaks = logLines.filter((line) => patientIds.some((id) => line.includes(id)));
  expect(leaks).toEqual([]);
});
