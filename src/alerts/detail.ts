/**
 * The alert event (EventBridge `detail`, schema src/schema/alert-event.v1.schema.json): one per
 * transition of an alert. Carries the patient's pseudonym only (the HMAC every table joins on), never
 * an identifier; acknowledgements name the caller's identity (an API principal), never a patient.
 */
import type { News2Parameters } from '../pipeline/news2';
import type { AlertSeverity } from './severity';

export const ALERT_EVENT_SOURCE = 'vitals-pipeline.alerts';
export const ALERT_EVENT_DETAIL_TYPE = 'NEWS2 alert transition';

export const ALERT_TRANSITIONS = ['raised', 'changed', 'cleared', 'acknowledged', 'escalated'] as const;
export type AlertTransition = (typeof ALERT_TRANSITIONS)[number];

export interface AlertEventDetail {
  readonly schemaVersion: 1;
  /** The idempotency key: the same transition delivered twice (after a crash) carries the same id. */
  readonly transitionId: string;
  readonly alertId: string;
  /** 1 for `raised`, +1 per later transition of the same alert: consumers order (and spot gaps) by it. */
  readonly sequence: number;
  readonly transition: AlertTransition;
  readonly severity: AlertSeverity;
  readonly previousSeverity: AlertSeverity | null;
  readonly singleParameterThree: boolean;
  readonly score: { readonly total: number; readonly parameters: News2Parameters };
  readonly contributingParameters: readonly { readonly parameter: keyof News2Parameters; readonly score: number }[];
  readonly facilityId: string;
  readonly deviceId: string;
  /** HMAC-SHA256 pseudonym, hex. Not reversible without the key; resolving it needs database access. */
  readonly patientPseudonym: string;
  /** The observation whose score caused the transition (for acknowledged/escalated: the alert's latest). */
  readonly observedAt: string;
  /** When that observation reached the stream (absent when unknown): where delivery latency is measured from. */
  readonly receivedAt?: string;
  readonly raisedAt: string;
  readonly transitionAt: string;
  readonly escalation?: { readonly tier: number; readonly target: string };
  readonly acknowledgement?: { readonly by: string; readonly at: string };
}
