/**
 * Alert severity: the NEWS2 clinical-response bands that need a response (RCP 2017, Chart 2):
 * `low-medium` (a score of 3 in a single parameter, aggregate 0–4: urgent ward-based response),
 * `medium` (aggregate 5–6: urgent response), `high` (aggregate >= 7: emergency response). An aggregate
 * of 0–4 without a red score raises nothing, and a patient falling back there clears the alert.
 */
import type { News2Parameters, News2Result } from '../pipeline/news2';

export const ALERT_SEVERITIES = ['low-medium', 'medium', 'high'] as const;
export type AlertSeverity = (typeof ALERT_SEVERITIES)[number];

export const SEVERITY_RANK: Readonly<Record<AlertSeverity, number>> = { 'low-medium': 1, medium: 2, high: 3 };

/** The band a score needs a response in, or null (aggregate 0–4, no red score). */
export function severityOf(score: News2Result): AlertSeverity | null {
  if (score.risk === 'high') return 'high';
  if (score.risk === 'medium') return 'medium';
  return hasSingleParameterThree(score) ? 'low-medium' : null;
}

export function hasSingleParameterThree(score: News2Result): boolean {
  return Object.values(score.parameters).includes(3);
}

/** The parameters that scored (> 0), highest first: what the clinician looks at first. */
export function contributingParameters(parameters: News2Parameters): { parameter: keyof News2Parameters; score: number }[] {
  return (Object.entries(parameters) as [keyof News2Parameters, number][])
    .filter(([, s]) => s > 0)
    .sort(([a, x], [b, y]) => y - x || (a < b ? -1 : a > b ? 1 : 0))
    .map(([parameter, score]) => ({ parameter, score }));
}
