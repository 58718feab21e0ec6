import { acknowledge, escalate, planTransitions, type AlertRecord } from '../../src/alerts/transitions';
import { DEFAULT_ESCALATION_POLICY, type EscalationPolicy } from '../../src/alerts/escalation';
import { alertIdFor, transitionIdFor } from '../../src/alerts/ids';
import { expectValidEvent, observation, PSEUDONYM_A, PSEUDONYM_B, SCORES } from './support';

const NOW = new Date('2026-12-01T06:00:00.000Z');
const MIN = 60_000;
const POLICY: EscalationPolicy = { afterMs: 5 * MIN, targets: { '*': ['tier-1', 'tier-2'], 'icu-1': ['icu-outreach'] } };

function plan(scores: Parameters<typeof planTransitions>[1], open: ReadonlyMap<string, AlertRecord> = new Map(), now = NOW) {
  const p = planTransitions(open, scores, now, POLICY);
  p.transitions.forEach((t) => expectValidEvent(t.detail));
  return p;
}

function openAlert(severity: 'medium' | 'high' = 'high'): AlertRecord {
  const p = plan([observation(PSEUDONYM_A, severity === 'high' ? SCORES.high : SCORES.medium)]);
  return [...p.alerts.values()][0] as AlertRecord;
}

describe('planTransitions', () => {
  test('a score needing no response raises nothing', () => {
    expect(plan([observation(PSEUDONYM_A, SCORES.none)]).transitions).toEqual([]);
  });

  test.each([
    ['lowMedium', 'low-medium'],
    ['medium', 'medium'],
    ['high', 'high'],
  ] as const)('a %s score raises an alert of severity %s', (band, severity) => {
    const obs = observation(PSEUDONYM_A, SCORES[band]);
    const [t] = plan([obs]).transitions;
    expect(t?.detail).toMatchObject({ transition: 'raised', severity, sequence: 1, previousSeverity: null, alertId: alertIdFor(obs.eventId, obs.observedAt) });
    expect(t?.detail.transitionId).toBe(transitionIdFor(alertIdFor(obs.eventId, obs.observedAt), 1));
  });

  test('the same band again is no transition (one event per transition, not per observation)', () => {
    const p = plan([observation(PSEUDONYM_A, SCORES.medium), observation(PSEUDONYM_A, SCORES.medium)]);
    expect(p.transitions.map((t) => t.detail.transition)).toEqual(['raised']);
  });

  test('rise, fall and recovery are raised, changed, changed, cleared with rising sequence numbers', () => {
    const p = plan([SCORES.medium, SCORES.high, SCORES.lowMedium, SCORES.none].map((s) => observation(PSEUDONYM_A, s)));
    expect(p.transitions.map((t) => [t.detail.transition, t.detail.severity, t.detail.previousSeverity, t.detail.sequence])).toEqual([
      ['raised', 'medium', null, 1],
      ['changed', 'high', 'medium', 2],
      ['changed', 'low-medium', 'high', 3],
      ['cleared', 'low-medium', 'low-medium', 4],
    ]);
    expect(new Set(p.transitions.map((t) => t.detail.alertId)).size).toBe(1);
    expect(new Set(p.transitions.map((t) => t.detail.transitionId)).size).toBe(4);
    expect([...p.alerts.values()][0]?.clearedAt).toEqual(NOW);
  });

  test('a patient deteriorating again after clearing gets a new alert', () => {
    const p = plan([SCORES.high, SCORES.none, SCORES.medium].map((s) => observation(PSEUDONYM_A, s)));
    const [first, , second] = p.transitions;
    expect(second?.detail.transition).toBe('raised');
    expect(second?.detail.alertId).not.toBe(first?.detail.alertId);
    expect(p.alerts.size).toBe(2);
  });

  test('patients are independent, and the open alert passed in continues', () => {
    const open = new Map([[PSEUDONYM_A, openAlert('medium')]]);
    const p = plan([observation(PSEUDONYM_A, SCORES.high), observation(PSEUDONYM_B, SCORES.high)], open);
    expect(p.transitions.map((t) => [t.detail.patientPseudonym, t.detail.transition, t.detail.sequence])).toEqual([
      [PSEUDONYM_A, 'changed', 2],
      [PSEUDONYM_B, 'raised', 1],
    ]);
  });

  test('the event carries score, contributing parameters (highest first), facility, device and times', () => {
    const obs = observation(PSEUDONYM_A, SCORES.high, { facilityId: 'icu-1', deviceId: 'bed-4' });
    const d = plan([obs]).transitions[0]?.detail;
    expect(d).toMatchObject({
      score: { total: 7 },
      singleParameterThree: true,
      contributingParameters: [{ parameter: 'pulse', score: 3 }, { parameter: 'respirationRate', score: 2 }, { parameter: 'spo2', score: 2 }],
      facilityId: 'icu-1',
      deviceId: 'bed-4',
      patientPseudonym: PSEUDONYM_A,
      observedAt: obs.observedAt.toISOString(),
      raisedAt: NOW.toISOString(),
    });
  });

  test('the same input plans the same ids (a batch re-processed after a crash re-derives them)', () => {
    const obs = [observation(PSEUDONYM_A, SCORES.medium), observation(PSEUDONYM_A, SCORES.high)];
    expect(plan(obs).transitions.map((t) => t.detail.transitionId)).toEqual(plan(obs).transitions.map((t) => t.detail.transitionId));
  });

  test('the same event id at another observation time (another observation) raises an alert of its own', () => {
    const first = observation(PSEUDONYM_A, SCORES.high);
    const reused = observation(PSEUDONYM_B, SCORES.high, { eventId: first.eventId, observedAt: new Date(first.observedAt.getTime() + 60_000) });
    const ids = plan([first, reused]).transitions.map((t) => t.detail.alertId);
    expect(ids).toHaveLength(2);
    expect(new Set(ids).size).toBe(2);
  });

  test('only a high alert has an escalation deadline', () => {
    const p = plan([observation(PSEUDONYM_A, SCORES.medium), observation(PSEUDONYM_B, SCORES.high)]);
    const byPatient = new Map([...p.alerts.values()].map((a) => [a.patientPseudonym, a]));
    expect(byPatient.get(PSEUDONYM_A)?.nextEscalationAt).toBeNull();
    expect(byPatient.get(PSEUDONYM_B)?.nextEscalationAt).toEqual(new Date(NOW.getTime() + 5 * MIN));
  });
});

describe('escalate (injected clock)', () => {
  test('nothing is due before the escalation time', () => {
    expect(escalate(openAlert(), new Date(NOW.getTime() + 5 * MIN - 1), POLICY)).toBeNull();
  });

  test('an unacknowledged high alert escalates to tier 1, then tier 2, then no further', () => {
    const a0 = openAlert();
    const e1 = escalate(a0, new Date(NOW.getTime() + 5 * MIN), POLICY);
    expect(e1?.transition.detail).toMatchObject({ transition: 'escalated', sequence: 2, escalation: { tier: 1, target: 'tier-1' } });
    expectValidEvent(e1?.transition.detail);
    expect(escalate(e1!.alert, new Date(NOW.getTime() + 10 * MIN - 1), POLICY)).toBeNull();
    const e2 = escalate(e1!.alert, new Date(NOW.getTime() + 10 * MIN), POLICY);
    expect(e2?.transition.detail).toMatchObject({ sequence: 3, escalation: { tier: 2, target: 'tier-2' } });
    expectValidEvent(e2?.transition.detail);
    expect(e2?.alert.nextEscalationAt).toBeNull();
    expect(escalate(e2!.alert, new Date(NOW.getTime() + 60 * MIN), POLICY)).toBeNull();
  });

  test('a late scheduler does not shift later tiers (each counts from the previous due time)', () => {
    const e1 = escalate(openAlert(), new Date(NOW.getTime() + 7 * MIN), POLICY);
    expect(e1?.alert.nextEscalationAt).toEqual(new Date(NOW.getTime() + 10 * MIN));
  });

  test("a facility's own targets are used", () => {
    const a = [...plan([observation(PSEUDONYM_A, SCORES.high, { facilityId: 'icu-1' })]).alerts.values()][0] as AlertRecord;
    const e1 = escalate(a, new Date(NOW.getTime() + 5 * MIN), POLICY);
    expect(e1?.transition.detail.escalation).toEqual({ tier: 1, target: 'icu-outreach' });
    expect(e1?.alert.nextEscalationAt).toBeNull();
  });

  test('an acknowledged alert does not escalate', () => {
    const acked = acknowledge(openAlert(), 'arn:aws:iam::123456789012:role/ward-3-nurses', new Date(NOW.getTime() + MIN));
    expect(escalate(acked!.alert, new Date(NOW.getTime() + 60 * MIN), POLICY)).toBeNull();
  });

  test('an alert that fell to medium stops escalating; rising to high again restarts the clock', () => {
    const open = new Map([[PSEUDONYM_A, openAlert()]]);
    const later = new Date(NOW.getTime() + 2 * MIN);
    const fell = [...plan([observation(PSEUDONYM_A, SCORES.medium)], open, later).alerts.values()][0] as AlertRecord;
    expect(escalate(fell, new Date(NOW.getTime() + 60 * MIN), POLICY)).toBeNull();
    const again = new Date(NOW.getTime() + 3 * MIN);
    const rose = [...plan([observation(PSEUDONYM_A, SCORES.high)], new Map([[PSEUDONYM_A, fell]]), again).alerts.values()][0] as AlertRecord;
    expect(rose.nextEscalationAt).toEqual(new Date(again.getTime() + 5 * MIN));
  });

  test('the default policy escalates after 5 minutes', () => {
    const a = [...planTransitions(new Map(), [observation(PSEUDONYM_A, SCORES.high)], NOW, DEFAULT_ESCALATION_POLICY).alerts.values()][0] as AlertRecord;
    expect(a.nextEscalationAt).toEqual(new Date(NOW.getTime() + 5 * MIN));
  });
});

describe('acknowledge', () => {
  test('records who and when, once (re-acknowledging yields nothing)', () => {
    const at = new Date(NOW.getTime() + MIN);
    const first = acknowledge(openAlert(), 'ward-3-nurses', at);
    expect(first?.transition.detail).toMatchObject({ transition: 'acknowledged', sequence: 2, acknowledgement: { by: 'ward-3-nurses', at: at.toISOString() } });
    expectValidEvent(first?.transition.detail);
    expect(acknowledge(first!.alert, 'someone-else', new Date(at.getTime() + MIN))).toBeNull();
  });

  test('an acknowledgement after an escalation carries no escalation block', () => {
    const e1 = escalate(openAlert(), new Date(NOW.getTime() + 5 * MIN), POLICY);
    const ack = acknowledge(e1!.alert, 'rrt', new Date(NOW.getTime() + 6 * MIN));
    expect(ack?.transition.detail.escalation).toBeUndefined();
    expectValidEvent(ack?.transition.detail);
  });
});
