/**
 * The acknowledge route as served on AWS: by the FHIR API service (src/fhir-api/main.ts), writing as
 * the acknowledging database role `vitals_alert_acker` (column grants from the real migration command)
 * against real PostgreSQL with TLS. The caller is the IAM principal API Gateway puts in
 * `x-vitals-caller`; without it nothing is recorded. The role can do what an acknowledgement needs and
 * nothing else.
 */
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { DatabaseError, type Pool } from 'pg';
import { acknowledgeAlert } from '../../src/adapters/alert-store';
import { createPool } from '../../src/adapters/db';
import type { AlertEventDetail } from '../../src/alerts/detail';
import { CALLER_HEADER, DEFAULT_ALERT_ACKER_USER } from '../../src/fhir-api/config';
import { buildFhirApi } from '../../src/fhir-api/main';
import { adminPool, newDatabase, processorDb, runMigrations, startStack, type TestStack } from '../processor/support/stack';
import { expectValidEvent, PSEUDONYM_A, PSEUDONYM_B, PSEUDONYM_C, seedAcknowledgeAlerts } from '../alerts/support';

const ACKER_PASSWORD = 'acker-test-password';
const CALLER = 'arn:aws:sts::123456789012:assumed-role/ward-3-nurses/nurse.jones';
const T0 = new Date('2026-12-01T06:00:00.000Z');

let stack: TestStack;
let processor: Pool;
let acker: Pool;
let admin: Pool;
let app: FastifyInstance;
let clock = T0;
let baseUrl = '';
const logLines: string[] = [];
const alertOf = new Map<string, string>();

beforeAll(async () => {
  stack = await startStack();
  const database = await newDatabase(stack);
  await runMigrations(stack.pg, database, { DB_ALERT_ACKER_PASSWORD: ACKER_PASSWORD });
  processor = createPool({ ...processorDb(stack, database), maxConnections: 2 });
  acker = createPool({ ...processorDb(stack, database), user: DEFAULT_ALERT_ACKER_USER, auth: { kind: 'password', password: ACKER_PASSWORD }, maxConnections: 2 });
  // An idle connection closed by the server (a shutdown, or another suite's pg_terminate_backend of
  // the processor role on a shared server) must not crash the suite; a failing query still rejects.
  processor.on('error', () => undefined);
  acker.on('error', () => undefined);
  admin = adminPool(stack, database);
  for (const [p, id] of await seedAcknowledgeAlerts(processor, admin, T0)) alertOf.set(p, id);
  const logger = pino({ level: 'info' }, new Writable({ write: (c: Buffer, _e, cb) => (logLines.push(c.toString()), cb()) }));
  app = buildFhirApi(admin, logger, { acknowledge: (id, by) => acknowledgeAlert(acker, id, by, clock) });
  await app.listen({ host: '127.0.0.1', port: 0 });
  baseUrl = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
}, 120_000);

afterAll(async () => {
  await app?.close();
  await Promise.all([processor?.end(), acker?.end(), admin?.end()]);
  await stack?.stop();
});

async function ack(alertId: string, caller: string | null = CALLER): Promise<{ status: number; json: Record<string, unknown> }> {
  const r = await fetch(`${baseUrl}/v1/alerts/${alertId}/acknowledge`, { method: 'POST', headers: caller === null ? {} : { [CALLER_HEADER]: caller } });
  return { status: r.status, json: (await r.json()) as Record<string, unknown> };
}

async function outbox(alertId: string): Promise<AlertEventDetail[]> {
  const { rows } = await admin.query<{ detail: AlertEventDetail }>('SELECT detail FROM alert_outbox WHERE alert_id = $1 ORDER BY outbox_id', [alertId]);
  return rows.map((r) => r.detail);
}

test('without the authenticated caller API Gateway sets, or with a value that is not a principal ARN: 403, nothing recorded', async () => {
  const id = alertOf.get(PSEUDONYM_A)!;
  expect((await ack(id, null)).status).toBe(403);
  expect((await ack(id, 'nurse.jones')).status).toBe(403);
  expect((await outbox(id)).map((d) => d.transition)).toEqual(['raised']);
});

test('bad and unknown ids: 400 and 404', async () => {
  expect((await ack('not-a-uuid')).status).toBe(400);
  expect((await ack('00000000-0000-4000-8000-000000000000')).status).toBe(404);
});

test('the acknowledging role records the IAM caller once and writes a valid acknowledged transition; a re-ack answers the first', async () => {
  const id = alertOf.get(PSEUDONYM_A)!;
  clock = new Date(T0.getTime() + 60_000);
  const first = await ack(id);
  expect(first).toEqual({ status: 200, json: { alertId: id, status: 'acknowledged', acknowledgedAt: clock.toISOString(), acknowledgedBy: `iam:${CALLER}`, alreadyAcknowledged: false } });
  const again = await ack(id, 'arn:aws:sts::123456789012:assumed-role/ward-3-nurses/someone.else');
  expect(again.json).toMatchObject({ alreadyAcknowledged: true, acknowledgedBy: `iam:${CALLER}` });
  const details = await outbox(id);
  expect(details.map((d) => d.transition)).toEqual(['raised', 'acknowledged']);
  details.forEach(expectValidEvent);
  const { rows } = await admin.query('SELECT acknowledged_by, next_escalation_at, severity FROM clinical_alerts WHERE alert_id = $1', [id]);
  expect(rows[0]).toEqual({ acknowledged_by: `iam:${CALLER}`, next_escalation_at: null, severity: 'high' });
});

test('a cleared alert: 409', async () => {
  expect((await ack(alertOf.get(PSEUDONYM_C)!)).status).toBe(409);
});

describe('the acknowledging role may do nothing else', () => {
  const denied = async (sql: string, params: unknown[] = []): Promise<string | undefined> => {
    try {
      await acker.query(sql, params);
      return undefined;
    } catch (err) {
      return err instanceof DatabaseError ? err.code : String(err);
    }
  };
  const id = (): string => alertOf.get(PSEUDONYM_B)!;

  test('no change of severity, clearing, escalation tier, facility or patient', async () => {
    for (const column of ['severity', 'cleared_at', 'escalation_tier', 'facility_id', 'patient_pseudonym']) {
      expect(await denied(`UPDATE clinical_alerts SET ${column} = ${column} WHERE alert_id = $1`, [id()])).toBe('42501');
    }
  });

  test('no new alert, no deletion, no outbox delivery marks or deletes', async () => {
    expect(await denied('DELETE FROM clinical_alerts WHERE alert_id = $1', [id()])).toBe('42501');
    expect(await denied('UPDATE alert_outbox SET delivered_at = now()')).toBe('42501');
    expect(await denied('DELETE FROM alert_outbox')).toBe('42501');
    expect(await denied('SELECT detail FROM alert_outbox')).toBe('42501');
  });

  test('no other table: patients, keys, observations, dead letters', async () => {
    for (const table of ['patients', 'data_keys', 'observations', 'dead_letters', 'latest_vitals']) {
      expect(await denied(`SELECT 1 FROM ${table} LIMIT 1`)).toBe('42501');
    }
  });
});

test('no patient pseudonym and no caller ARN of a refused request in the service\'s log lines', () => {
  const text = logLines.join('');
  expect(text).not.toContain(PSEUDONYM_A);
  expect(text).not.toContain('nurse.jones');
});
