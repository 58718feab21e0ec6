/**
 * The acknowledge contract on the local ingest server against real PostgreSQL: authentication, bad
 * and unknown ids, idempotent re-acknowledgement, who/when recorded (the caller's key label, never a
 * patient), and the interplay with escalation (injected clock): acknowledged alerts do not escalate.
 */
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import type { Pool } from 'pg';
import { acknowledgeAlert, escalateDue } from '../../src/adapters/alert-store';
import { createPool } from '../../src/adapters/db';
import { DEFAULT_ESCALATION_POLICY } from '../../src/alerts/escalation';
import type { AlertEventDetail } from '../../src/alerts/detail';
import { apiKeyLabel, buildIngestServer } from '../../src/ingest/server';
import { adminPool, newDatabase, processorDb, startStack, type TestStack } from '../processor/support/stack';
import { expectValidEvent, PSEUDONYM_A, PSEUDONYM_B, PSEUDONYM_C, seedAcknowledgeAlerts } from './support';

const KEY = 'ward-3-ack-key-0123456789';
const T0 = new Date('2026-12-01T06:00:00.000Z');
const MIN = 60_000;

let stack: TestStack;
let pool: Pool;
let admin: Pool;
let app: FastifyInstance;
let clock = T0;
let baseUrl = '';
const logLines: string[] = [];
const alertOf = new Map<string, string>();

beforeAll(async () => {
  stack = await startStack();
  const database = await newDatabase(stack);
  pool = createPool({ ...processorDb(stack, database), maxConnections: 4 });
  // An idle connection the server terminates at teardown (seen under load) must not fail the suite.
  pool.on('error', () => undefined);
  admin = adminPool(stack, database);
  for (const [p, id] of await seedAcknowledgeAlerts(pool, admin, T0)) alertOf.set(p, id);
  const logger = pino({ level: 'info' }, new Writable({ write: (c: Buffer, _e, cb) => (logLines.push(c.toString()), cb()) }));
  app = buildIngestServer({
    kinesis: stack.kinesis,
    streamName: 'unused',
    apiKeys: [KEY],
    logger,
    alerts: { acknowledge: (id, by, now) => acknowledgeAlert(pool, id, by, now), now: () => clock },
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  baseUrl = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
}, 90_000);

afterAll(async () => {
  await app?.close();
  await pool?.end();
  await admin?.end();
  await stack?.stop();
});

async function ack(alertId: string, headers: Record<string, string> = { 'x-api-key': KEY }, payload?: unknown) {
  const r = await fetch(`${baseUrl}/v1/alerts/${alertId}/acknowledge`, {
    method: 'POST',
    headers: payload === undefined ? headers : { ...headers, 'content-type': 'application/json' },
    body: payload === undefined ? undefined : JSON.stringify(payload),
  });
  const body = await r.text();
  return { statusCode: r.status, body, json: () => JSON.parse(body) as Record<string, unknown> };
}

async function outbox(alertId: string): Promise<AlertEventDetail[]> {
  const { rows } = await admin.query<{ detail: AlertEventDetail }>('SELECT detail FROM alert_outbox WHERE alert_id = $1 ORDER BY outbox_id', [alertId]);
  return rows.map((r) => r.detail);
}

test('without an API key: 401; with an unknown one: 403; nothing recorded', async () => {
  const id = alertOf.get(PSEUDONYM_A)!;
  expect((await ack(id, {})).statusCode).toBe(401);
  expect((await ack(id, { 'x-api-key': 'not-a-key' })).statusCode).toBe(403);
  expect((await outbox(id)).map((d) => d.transition)).toEqual(['raised']);
});

test('an id that is not a UUID: 400 naming the field; an unknown UUID: 404', async () => {
  const bad = await ack('12345');
  expect(bad.statusCode).toBe(400);
  expect(bad.json()).toEqual({ message: 'Invalid request', errors: [{ field: '/alertId', message: 'must be a UUID' }] });
  expect((await ack('00000000-0000-4000-8000-000000000000')).statusCode).toBe(404);
});

test('a body is refused (free text could carry patient details)', async () => {
  const r = await ack(alertOf.get(PSEUDONYM_A)!, { 'x-api-key': KEY }, { note: 'MRN-1234 looks fine' });
  expect(r.statusCode).toBe(400);
  expect(r.body).not.toContain('MRN-1234');
});

test('acknowledging records who and when once, delivers an acknowledged transition, and a re-acknowledgement answers the first', async () => {
  const id = alertOf.get(PSEUDONYM_A)!;
  clock = new Date(T0.getTime() + 2 * MIN);
  const first = await ack(id, { 'x-api-key': KEY }, {});
  expect(first.statusCode).toBe(200);
  const who = `api-key:${apiKeyLabel(KEY)}`;
  expect(first.json()).toEqual({ alertId: id, status: 'acknowledged', acknowledgedAt: clock.toISOString(), acknowledgedBy: who, alreadyAcknowledged: false });
  clock = new Date(T0.getTime() + 3 * MIN);
  const again = await ack(id.toUpperCase());
  expect(again.statusCode).toBe(200);
  expect(again.json()).toMatchObject({ alreadyAcknowledged: true, acknowledgedAt: new Date(T0.getTime() + 2 * MIN).toISOString(), acknowledgedBy: who });
  const details = await outbox(id);
  expect(details.map((d) => [d.transition, d.sequence])).toEqual([['raised', 1], ['acknowledged', 2]]);
  expect(details[1]?.acknowledgement).toEqual({ by: who, at: new Date(T0.getTime() + 2 * MIN).toISOString() });
  details.forEach(expectValidEvent);
  const { rows } = await admin.query('SELECT acknowledged_by, acknowledged_at, next_escalation_at FROM clinical_alerts WHERE alert_id = $1', [id]);
  expect(rows[0]).toEqual({ acknowledged_by: who, acknowledged_at: new Date(T0.getTime() + 2 * MIN), next_escalation_at: null });
  expect(logLines.join('')).not.toContain(KEY);
});

test('a cleared alert answers 409 with when it cleared', async () => {
  const r = await ack(alertOf.get(PSEUDONYM_C)!);
  expect(r.statusCode).toBe(409);
  expect(r.json()).toEqual({ message: 'Alert already cleared; nothing to acknowledge', clearedAt: T0.toISOString() });
});

test('at the escalation time only the unacknowledged high alert escalates (tier 1), then tier 2', async () => {
  expect(await escalateDue(pool, new Date(T0.getTime() + 5 * MIN - 1), DEFAULT_ESCALATION_POLICY)).toEqual([]);
  const tier1 = await escalateDue(pool, new Date(T0.getTime() + 5 * MIN), DEFAULT_ESCALATION_POLICY);
  expect(tier1.map((d) => [d.alertId, d.escalation])).toEqual([[alertOf.get(PSEUDONYM_B), { tier: 1, target: 'escalation-tier-1' }]]);
  expect(await escalateDue(pool, new Date(T0.getTime() + 6 * MIN), DEFAULT_ESCALATION_POLICY)).toEqual([]);
  const tier2 = await escalateDue(pool, new Date(T0.getTime() + 10 * MIN), DEFAULT_ESCALATION_POLICY);
  expect(tier2.map((d) => d.escalation)).toEqual([{ tier: 2, target: 'escalation-tier-2' }]);
  expect(await escalateDue(pool, new Date(T0.getTime() + 60 * MIN), DEFAULT_ESCALATION_POLICY)).toEqual([]);
  [...tier1, ...tier2].forEach(expectValidEvent);
  expect((await outbox(alertOf.get(PSEUDONYM_B)!)).map((d) => d.sequence)).toEqual([1, 2, 3]);
});

test('acknowledging an escalated alert stops it (and the acknowledgement carries no escalation block)', async () => {
  const id = alertOf.get(PSEUDONYM_B)!;
  expect((await ack(id)).statusCode).toBe(200);
  const last = (await outbox(id)).at(-1);
  expect(last?.transition).toBe('acknowledged');
  expect(last?.escalation).toBeUndefined();
});
