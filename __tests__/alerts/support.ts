/** Builders shared by the alert tests; every event a test produces goes through expectValidEvent. */
import type { Pool } from 'pg';
import { recordAlertTransitions } from '../../src/adapters/alert-store';
import type { AlertEventDetail } from '../../src/alerts/detail';
import { DEFAULT_ESCALATION_POLICY } from '../../src/alerts/escalation';
import type { ScoredObservation } from '../../src/alerts/transitions';
import type { News2Parameters, News2Result } from '../../src/pipeline/news2';
import { riskFor } from '../../src/pipeline/news2';
import { inTransaction } from '../../src/processor/writer';
import { validateAlertEvent } from '../../src/schema/alert-event';

export const PSEUDONYM_A = 'a'.repeat(64);
export const PSEUDONYM_B = 'b'.repeat(64);
export const PSEUDONYM_C = 'c'.repeat(64);

const ZERO: News2Parameters = { respirationRate: 0, spo2: 0, onSupplementalOxygen: 0, systolicBp: 0, pulse: 0, consciousness: 0, temperatureC: 0 };

/** A score with the given parameter scores (the rest 0); total and risk as NEWS2 computes them. */
export function score(parameters: Partial<News2Parameters>): News2Result {
  const p = { ...ZERO, ...parameters };
  const values = Object.values(p);
  const total = values.reduce((a, b) => a + b, 0);
  return { total, risk: riskFor(total, values.includes(3)), parameters: p };
}

/** Scores of each band: none (total 2), low-medium (a red score), medium (5), high (7). */
export const SCORES = {
  none: score({ pulse: 1, respirationRate: 1 }),
  lowMedium: score({ spo2: 3 }),
  medium: score({ pulse: 2, respirationRate: 2, temperatureC: 1 }),
  high: score({ pulse: 3, respirationRate: 2, spo2: 2 }),
} as const;

let n = 0;
export function observation(patientPseudonym: string, s: News2Result, over: Partial<ScoredObservation> = {}): ScoredObservation {
  n++;
  return {
    eventId: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
    observedAt: new Date(Date.UTC(2026, 11, 1, 6, 0, n)),
    receivedAt: new Date(Date.UTC(2026, 11, 1, 6, 0, n, 100)),
    patientPseudonym,
    facilityId: 'ward-3',
    deviceId: 'mon-7',
    score: s,
    ...over,
  };
}

export function expectValidEvent(detail: AlertEventDetail | unknown): void {
  const r = validateAlertEvent(detail);
  expect(r.ok ? [] : r.errors).toEqual([]);
}

/**
 * The acknowledgement tests' alerts, written by the processor's hook as `writer`: two open high alerts
 * (A, B) and one raised then cleared (C). Returns each pseudonym's (hex) alert id, read as `admin`.
 */
export async function seedAcknowledgeAlerts(writer: Pool, admin: Pool, at: Date): Promise<Map<string, string>> {
  await inTransaction(writer, (client) =>
    recordAlertTransitions(
      client,
      [observation(PSEUDONYM_A, SCORES.high), observation(PSEUDONYM_B, SCORES.high), observation(PSEUDONYM_C, SCORES.medium), observation(PSEUDONYM_C, SCORES.none)],
      at,
      DEFAULT_ESCALATION_POLICY,
    ),
  );
  const { rows } = await admin.query<{ p: string; alert_id: string }>(`SELECT encode(patient_pseudonym, 'hex') AS p, alert_id FROM clinical_alerts`);
  return new Map(rows.map((r) => [r.p, r.alert_id]));
}
