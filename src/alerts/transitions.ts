/**
 * The alert lifecycle as a pure function of the scores: per patient at most one open alert.
 * - no open alert, the score needs a response (severityOf)      => `raised` (a new alert);
 * - open alert, another band that still needs a response         => `changed`;
 * - open alert, the score needs none (aggregate 0–4, no red score) => `cleared` (the alert closes);
 * - same band => nothing (one event per transition, not per observation).
 * `acknowledged` and `escalated` come from the acknowledge API and the escalation scheduler.
 */
import type { News2Result } from '../pipeline/news2';
import type { AlertEventDetail, AlertTransition } from './detail';
import { nextEscalationAt, targetFor, type EscalationPolicy } from './escalation';
import { alertIdFor, transitionIdFor } from './ids';
import { contributingParameters, hasSingleParameterThree, severityOf, type AlertSeverity } from './severity';

/** An alert's state as stored (clinical_alerts). */
export interface AlertRecord {
  readonly alertId: string;
  readonly patientPseudonym: string;
  readonly facilityId: string;
  readonly deviceId: string;
  readonly severity: AlertSeverity;
  readonly raisedAt: Date;
  /** When it last became high (escalation counts from here); null while not high. */
  readonly highSince: Date | null;
  readonly clearedAt: Date | null;
  readonly acknowledgedAt: Date | null;
  readonly escalationTier: number;
  readonly nextEscalationAt: Date | null;
  /** The sequence number of its latest transition. */
  readonly sequence: number;
  readonly lastDetail: AlertEventDetail;
}

/** A stored, scored observation, in the order the processor applied it to the patient. */
export interface ScoredObservation {
  readonly eventId: string;
  readonly observedAt: Date;
  /** When the record reached the stream (Kinesis arrival): start of the delivery-latency clock. */
  readonly receivedAt: Date | null;
  readonly patientPseudonym: string;
  readonly facilityId: string;
  readonly deviceId: string;
  readonly score: News2Result;
}

/** One outbox row: the event to deliver. */
export interface PlannedTransition {
  readonly detail: AlertEventDetail;
  readonly receivedAt: Date | null;
}

export interface TransitionPlan {
  readonly transitions: PlannedTransition[];
  /** The final state of every alert touched (new ones included), by alert id. */
  readonly alerts: Map<string, AlertRecord>;
}

function detailFrom(
  alert: Omit<AlertRecord, 'lastDetail' | 'sequence'>,
  sequence: number,
  transition: AlertTransition,
  previousSeverity: AlertSeverity | null,
  obs: { observedAt: Date; receivedAt: Date | null; score: News2Result },
  at: Date,
): AlertEventDetail {
  return {
    schemaVersion: 1,
    transitionId: transitionIdFor(alert.alertId, sequence),
    alertId: alert.alertId,
    sequence,
    transition,
    severity: alert.severity,
    previousSeverity,
    singleParameterThree: hasSingleParameterThree(obs.score),
    score: { total: obs.score.total, parameters: { ...obs.score.parameters } },
    contributingParameters: contributingParameters(obs.score.parameters),
    facilityId: alert.facilityId,
    deviceId: alert.deviceId,
    patientPseudonym: alert.patientPseudonym,
    observedAt: obs.observedAt.toISOString(),
    ...(obs.receivedAt ? { receivedAt: obs.receivedAt.toISOString() } : {}),
    raisedAt: alert.raisedAt.toISOString(),
    transitionAt: at.toISOString(),
  };
}

/** Applies `scores` (grouped or interleaved by patient, each patient's in order) to the open alerts. */
export function planTransitions(open: ReadonlyMap<string, AlertRecord>, scores: readonly ScoredObservation[], now: Date, policy: EscalationPolicy): TransitionPlan {
  const current = new Map(open);
  const alerts = new Map<string, AlertRecord>();
  const transitions: PlannedTransition[] = [];
  for (const obs of scores) {
    const severity = severityOf(obs.score);
    const prev = current.get(obs.patientPseudonym);
    let next: AlertRecord | undefined;
    if (!prev) {
      if (!severity) continue;
      const base = {
        alertId: alertIdFor(obs.eventId, obs.observedAt),
        patientPseudonym: obs.patientPseudonym,
        facilityId: obs.facilityId,
        deviceId: obs.deviceId,
        severity,
        raisedAt: now,
        highSince: severity === 'high' ? now : null,
        clearedAt: null,
        acknowledgedAt: null,
        escalationTier: 0,
        nextEscalationAt: severity === 'high' ? nextEscalationAt(policy, obs.facilityId, now, 0) : null,
      };
      next = { ...base, sequence: 1, lastDetail: detailFrom(base, 1, 'raised', null, obs, now) };
    } else if (severity === prev.severity) {
      continue;
    } else {
      const sequence = prev.sequence + 1;
      const transition: AlertTransition = severity ? 'changed' : 'cleared';
      // `changed` means the band moved, so a high band here is newly high.
      const highSince = severity === 'high' ? now : null;
      const base = {
        ...prev,
        // A cleared alert keeps the band it was in; `previousSeverity` says where it came from.
        severity: severity ?? prev.severity,
        deviceId: obs.deviceId,
        facilityId: obs.facilityId,
        highSince,
        clearedAt: severity ? null : now,
        // Escalation runs only while high and unacknowledged; a new rise to high restarts the clock at the tier reached.
        nextEscalationAt: severity === 'high' && !prev.acknowledgedAt ? nextEscalationAt(policy, obs.facilityId, now, prev.escalationTier) : null,
      };
      next = { ...base, sequence, lastDetail: detailFrom(base, sequence, transition, prev.severity, obs, now) };
    }
    transitions.push({ detail: next.lastDetail, receivedAt: obs.receivedAt });
    alerts.set(next.alertId, next);
    if (next.clearedAt) current.delete(obs.patientPseudonym);
    else current.set(obs.patientPseudonym, next);
  }
  return { transitions, alerts };
}

/** The escalation of an alert that is due at `now` (its nextEscalationAt has passed), or null. */
export function escalate(alert: AlertRecord, now: Date, policy: EscalationPolicy): { alert: AlertRecord; transition: PlannedTransition } | null {
  if (alert.clearedAt || alert.acknowledgedAt || alert.severity !== 'high' || !alert.highSince) return null;
  if (!alert.nextEscalationAt || alert.nextEscalationAt.getTime() > now.getTime()) return null;
  const tier = alert.escalationTier + 1;
  const sequence = alert.sequence + 1;
  const last = alert.lastDetail;
  const detail: AlertEventDetail = {
    ...last,
    transitionId: transitionIdFor(alert.alertId, sequence),
    sequence,
    transition: 'escalated',
    previousSeverity: alert.severity,
    transitionAt: now.toISOString(),
    escalation: { tier, target: targetFor(policy, alert.facilityId, tier) },
  };
  delete (detail as { acknowledgement?: unknown }).acknowledgement;
  const next: AlertRecord = {
    ...alert,
    escalationTier: tier,
    nextEscalationAt: nextEscalationAt(policy, alert.facilityId, alert.nextEscalationAt, tier),
    sequence,
    lastDetail: detail,
  };
  return { alert: next, transition: { detail, receivedAt: null } };
}

/**
 * Acknowledges an open alert (idempotent: an acknowledged or cleared alert yields no transition).
 * `by` is the caller's identity (an API principal), never a patient's.
 */
export function acknowledge(alert: AlertRecord, by: string, now: Date): { alert: AlertRecord; transition: PlannedTransition } | null {
  if (alert.acknowledgedAt || alert.clearedAt) return null;
  const sequence = alert.sequence + 1;
  const detail: AlertEventDetail = {
    ...alert.lastDetail,
    transitionId: transitionIdFor(alert.alertId, sequence),
    sequence,
    transition: 'acknowledged',
    previousSeverity: alert.severity,
    transitionAt: now.toISOString(),
    acknowledgement: { by, at: now.toISOString() },
  };
  delete (detail as { escalation?: unknown }).escalation;
  const next: AlertRecord = { ...alert, acknowledgedAt: now, nextEscalationAt: null, sequence, lastDetail: detail };
  return { alert: next, transition: { detail, receivedAt: null } };
}
