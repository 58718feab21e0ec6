/**
 * Alert transitions: one alert when a patient's state crosses into a worse band, none while it stays
 * there. RCP 2017 escalation points: aggregate 5–6 (medium), >= 7 (high), and a score of 3 in any single
 * parameter ("red score", which needs an urgent ward-based response even at a low aggregate).
 */
import type { News2Result, News2Risk } from './news2';

export interface AlertState {
  risk: News2Risk | null;
  anyParameterThree: boolean;
}

export type AlertKind = 'risk-medium' | 'risk-high' | 'single-parameter-3';

export interface AlertDecision {
  raise: boolean;
  kind?: AlertKind;
  next: AlertState;
}

const RISK_RANK: Readonly<Record<News2Risk, number>> = { low: 0, 'low-medium': 1, medium: 2, high: 3 };

/**
 * Decides whether this score raises an alert given the patient's previous state (null: first score).
 * - risk rises to medium or high (from anything lower, including after having fallen) => risk alert;
 * - a single-parameter 3 appears while none was present => 'single-parameter-3', once until it clears;
 * - both at once => one alert, the risk kind (the higher escalation), and the red score counts as seen;
 * - staying or falling => no alert.
 */
export function alertTransition(prev: AlertState | null, score: News2Result): AlertDecision {
  const anyParameterThree = Object.values(score.parameters).includes(3);
  const next: AlertState = { risk: score.risk, anyParameterThree };
  const prevRank = prev?.risk ? RISK_RANK[prev.risk] : -1;
  const rank = RISK_RANK[score.risk];

  if (rank > prevRank && rank >= RISK_RANK.medium) {
    return { raise: true, kind: score.risk === 'high' ? 'risk-high' : 'risk-medium', next };
  }
  if (anyParameterThree && !(prev?.anyParameterThree ?? false)) {
    return { raise: true, kind: 'single-parameter-3', next };
  }
  return { raise: false, next };
}
