import { parseEscalationTargets } from '../../src/alerts/escalation';
import { planTransitions } from '../../src/alerts/transitions';
import { DEFAULT_ESCALATION_POLICY } from '../../src/alerts/escalation';
import { validateAlertEvent } from '../../src/schema/alert-event';
import { observation, PSEUDONYM_A, SCORES } from './support';

const detail = () => planTransitions(new Map(), [observation(PSEUDONYM_A, SCORES.high)], new Date(), DEFAULT_ESCALATION_POLICY).transitions[0]!.detail;

test('a planned event is valid', () => {
  expect(validateAlertEvent(detail())).toEqual({ ok: true });
});

test.each([
  // An unknown property is reported on the object that holds it, never by its name (a producer may key by a patient id).
  ['a patient identifier field', { patientId: 'MRN-0042137' }, ''],
  ['an unknown severity', { severity: 'critical' }, '/severity'],
  ['an unknown transition', { transition: 'snoozed' }, '/transition'],
  ['a pseudonym that is not 64 hex characters', { patientPseudonym: 'MRN-0042137' }, '/patientPseudonym'],
  ['a local time without Z', { observedAt: '2026-12-01T07:00:00+01:00' }, '/observedAt'],
])('the schema rejects %s, without echoing the value', (_name, over, field) => {
  const r = validateAlertEvent({ ...detail(), ...over });
  expect(r.ok).toBe(false);
  if (r.ok) return;
  expect(r.errors.map((e) => e.field)).toContain(field);
  expect(JSON.stringify(r.errors)).not.toContain('MRN-0042137');
});

describe('parseEscalationTargets', () => {
  test('reads per-facility tiers', () => {
    expect(parseEscalationTargets('{"*":["t1","t2"],"icu-1":["outreach"]}')).toEqual({ '*': ['t1', 't2'], 'icu-1': ['outreach'] });
  });
  test.each(['not json', '[]', '{"*":[]}', '{"*":["has space"]}', '{"*":"t1"}'])('rejects %s', (raw) => {
    expect(() => parseEscalationTargets(raw)).toThrow(/ALERT_ESCALATION_TARGETS/);
  });
});
