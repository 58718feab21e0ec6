/**
 * Alert delivery end to end against real servers: kinesalite, PostgreSQL, the processor entry point
 * as a child process, and the local bus (PutEvents wire protocol, reached through the EventBridge SDK).
 * Every transition is delivered (none lost), in order per patient, schema-valid, without a patient
 * identifier; escalations follow with a short configured time; and a processor killed with SIGKILL
 * after the bus accepted events and before it marked them delivered re-sends exactly those.
 */
import { randomUUID } from 'node:crypto';
import type { Pool } from 'pg';
import { freePort } from '../../src/local/servers';
import { startAlertBus, type AlertBus, type BusEvent } from '../../src/local/alert-bus';
import type { AlertEventDetail } from '../../src/alerts/detail';
import { startChild } from '../processor/support/child';
import { adminPool, count, createStream, eventRecord, makePatientId, newDatabase, processorEnv, putRecords, startStack, waitFor, type TestStack } from '../processor/support/stack';
import { expectValidEvent } from './support';

let stack: TestStack;
const pools: Pool[] = [];
const buses: AlertBus[] = [];

beforeAll(async () => {
  stack = await startStack();
}, 60_000);

afterAll(async () => {
  await Promise.all(buses.map((b) => b.stop()));
  await Promise.all(pools.map((p) => p.end()));
  await stack?.stop();
});

/** Vital signs of each band: none (0), low-medium (RR 25 = a red score), medium (5), high (9). */
const BANDS = {
  none: { rr: 16, pulse: 72, spo2: 97 },
  lowMedium: { rr: 25, pulse: 72, spo2: 97 },
  medium: { rr: 25, pulse: 111, spo2: 97 },
  high: { rr: 25, pulse: 131, spo2: 91 },
} as const;
type Band = keyof typeof BANDS;

function event(patientId: string, band: Band, observedAt: Date): Record<string, unknown> {
  const b = BANDS[band];
  return {
    schemaVersion: 1,
    eventId: randomUUID(),
    deviceId: 'monitor-1',
    patientId,
    facilityId: 'hospital-a',
    observedAt: observedAt.toISOString(),
    vitals: {
      pulse: { value: b.pulse, unit: 'bpm' },
      respirationRate: { value: b.rr, unit: 'breaths/min' },
      spo2: { value: b.spo2, unit: '%' },
      supplementalOxygen: false,
      systolicBp: { value: 120, unit: 'mmHg' },
      diastolicBp: { value: 80, unit: 'mmHg' },
      temperature: { value: 37, unit: 'Cel' },
      consciousness: 'A',
    },
  };
}

/** Per patient: a full cycle twice (5 transitions each), or a rise left at high (3 + 2 escalations). */
const CYCLE: Band[] = ['none', 'lowMedium', 'medium', 'high', 'medium', 'none'];
const LEFT_HIGH: Band[] = ['none', 'lowMedium', 'medium', 'high'];

async function produce(stream: string, cycling: string[], leftHigh: string[]): Promise<void> {
  const t0 = Date.now() - 600_000;
  const rounds = [...CYCLE, ...CYCLE];
  const records = [];
  for (let step = 0; step < rounds.length; step++) {
    for (const p of cycling) records.push({ ...eventRecord(event(p, rounds[step] as Band, new Date(t0 + step * 10_000))), partitionKey: p });
    if (step < LEFT_HIGH.length) for (const p of leftHigh) records.push({ ...eventRecord(event(p, LEFT_HIGH[step] as Band, new Date(t0 + step * 10_000))), partitionKey: p });
  }
  await putRecords(stack.kinesis, stream, records);
}

function details(events: readonly BusEvent[]): AlertEventDetail[] {
  return events.map((e) => e.detail as AlertEventDetail);
}

/** Per patient, the transitions in first-arrival order must be the outbox's (commit) order. */
async function expectPerPatientOrder(db: Pool, received: readonly AlertEventDetail[]): Promise<void> {
  const { rows } = await db.query<{ transition_id: string; p: string }>(`SELECT transition_id, encode(patient_pseudonym, 'hex') AS p FROM alert_outbox ORDER BY outbox_id`);
  const expected = new Map<string, string[]>();
  for (const r of rows) expected.set(r.p, [...(expected.get(r.p) ?? []), r.transition_id]);
  const firstSeen = new Map<string, string[]>();
  const seen = new Set<string>();
  for (const d of received) {
    if (seen.has(d.transitionId)) continue;
    seen.add(d.transitionId);
    firstSeen.set(d.patientPseudonym, [...(firstSeen.get(d.patientPseudonym) ?? []), d.transitionId]);
  }
  expect(firstSeen).toEqual(expected);
}

test('every transition is delivered once, in order per patient, schema-valid and without PHI; unacknowledged high alerts escalate', async () => {
  const database = await newDatabase(stack);
  const db = adminPool(stack, database);
  pools.push(db);
  const stream = `alerts-${randomUUID().slice(0, 8)}`;
  await createStream(stack.kinesis, stream, 2);
  const bus = await startAlertBus();
  buses.push(bus);
  const cycling = Array.from({ length: 10 }, makePatientId);
  const leftHigh = Array.from({ length: 5 }, makePatientId);
  await produce(stream, cycling, leftHigh);

  const output: string[] = [];
  const child = startChild(
    processorEnv(stack, database, stream, {
      HEALTH_PORT: String(await freePort()),
      ALERT_EVENT_BUS_NAME: 'vitals-alerts-test',
      EVENTS_ENDPOINT: bus.endpoint,
      ALERT_ESCALATION_SECONDS: '1',
      ALERT_ESCALATION_CHECK_MS: '200',
      IDLE_POLL_MS: '200',
      SHARD_SYNC_MS: '1000',
    }),
    output,
  );
  await child.ready;
  const expected = cycling.length * 10 + leftHigh.length * (3 + 2);
  await waitFor(async () => bus.events.length >= expected && (await count(db, 'SELECT count(*) AS n FROM alert_outbox WHERE delivered_at IS NULL')) === 0, 60_000);
  await new Promise((r) => setTimeout(r, 2_500)); // no third escalation, nothing extra
  child.proc.kill('SIGTERM');
  expect((await child.exited).code).toBe(0);

  const received = details(bus.events);
  expect(received).toHaveLength(expected);
  expect(new Set(received.map((d) => d.transitionId)).size).toBe(expected);
  expect(await count(db, 'SELECT count(*) AS n FROM alert_outbox')).toBe(expected);
  received.forEach(expectValidEvent);
  expect(bus.events.every((e) => e.source === 'vitals-pipeline.alerts' && e.eventBusName === 'vitals-alerts-test')).toBe(true);
  const kinds = (t: string) => received.filter((d) => d.transition === t).length;
  expect({ raised: kinds('raised'), changed: kinds('changed'), cleared: kinds('cleared'), escalated: kinds('escalated') }).toEqual({
    raised: 20 + 5,
    changed: 20 * 3 + 5 * 2,
    cleared: 20,
    escalated: 5 * 2,
  });
  const escalations = received.filter((d) => d.transition === 'escalated').map((d) => d.escalation);
  expect(escalations.filter((e) => e?.tier === 1 && e.target === 'escalation-tier-1')).toHaveLength(5);
  expect(escalations.filter((e) => e?.tier === 2 && e.target === 'escalation-tier-2')).toHaveLength(5);
  await expectPerPatientOrder(db, received);
  const everything = JSON.stringify(bus.events) + output.join('\n');
  for (const p of [...cycling, ...leftHigh]) expect(everything).not.toContain(p);
  expect(output.some((l) => l.includes('"AlertsDelivered"'))).toBe(true);
});

test('a processor killed with SIGKILL between the send and the mark re-sends exactly the unmarked transitions, and loses none', async () => {
  const database = await newDatabase(stack);
  const db = adminPool(stack, database);
  pools.push(db);
  const stream = `alerts-kill-${randomUUID().slice(0, 8)}`;
  await createStream(stack.kinesis, stream, 2);
  let holding = true;
  let held: BusEvent[] = [];
  let sawHeld: () => void = () => undefined;
  const heldOnce = new Promise<void>((r) => (sawHeld = r));
  const bus = await startAlertBus({
    // While holding: accept the events but never answer, as if the process died right after the send.
    beforeAnswer: async (events) => {
      if (!holding) return;
      held = [...held, ...events];
      sawHeld();
      await new Promise(() => undefined);
    },
  });
  buses.push(bus);
  const cycling = Array.from({ length: 12 }, makePatientId);
  await produce(stream, cycling, []);
  const output: string[] = [];
  const env = processorEnv(stack, database, stream, {
    ALERT_EVENT_BUS_NAME: 'vitals-alerts-test',
    EVENTS_ENDPOINT: bus.endpoint,
    IDLE_POLL_MS: '200',
    SHARD_SYNC_MS: '1000',
    LEASE_TTL_MS: '2000',
    LEASE_RENEW_MS: '400',
  });
  const first = startChild({ ...env, HEALTH_PORT: String(await freePort()) }, output);
  await first.ready;
  await heldOnce;
  await new Promise((r) => setTimeout(r, 300)); // let the claim's other chunks reach the bus too
  first.proc.kill('SIGKILL');
  expect((await first.exited).signal).toBe('SIGKILL');
  const heldIds = new Set(details(held).map((d) => d.transitionId));
  expect(heldIds.size).toBeGreaterThan(0);
  expect(await count(db, 'SELECT count(*) AS n FROM alert_outbox WHERE transition_id = ANY($1::uuid[]) AND delivered_at IS NOT NULL', [[...heldIds]])).toBe(0);

  holding = false;
  const second = startChild({ ...env, HEALTH_PORT: String(await freePort()) }, output);
  await second.ready;
  const expected = cycling.length * 10;
  await waitFor(async () => (await count(db, 'SELECT count(*) AS n FROM alert_outbox')) === expected && (await count(db, 'SELECT count(*) AS n FROM alert_outbox WHERE delivered_at IS NULL')) === 0, 60_000);
  second.proc.kill('SIGTERM');
  await second.exited;

  const received = details(bus.events);
  const times = new Map<string, number>();
  for (const d of received) times.set(d.transitionId, (times.get(d.transitionId) ?? 0) + 1);
  expect(times.size).toBe(expected); // none lost
  const duplicated = [...times].filter(([, n]) => n > 1).map(([id]) => id);
  expect(new Set(duplicated)).toEqual(heldIds); // re-sent: exactly the accepted-but-unmarked ones, once more each
  expect([...times.values()].every((n) => n <= 2)).toBe(true);
  received.forEach(expectValidEvent);
  await expectPerPatientOrder(db, received);
  for (const p of cycling) expect(JSON.stringify(bus.events) + output.join('\n')).not.toContain(p);
});
