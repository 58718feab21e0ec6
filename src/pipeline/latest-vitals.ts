/**
 * "The latest value of each parameter within a configurable window": a per-patient map of the newest
 * reading of each parameter, merged event by event, and the NEWS2 input built from it.
 */
import type { News2Input } from './news2';
import type { NormalisedEvent, NormalisedVitals } from './normalise';

export interface TimedValue<T> {
  value: T;
  observedAt: Date;
}

export type LatestVitals = { [K in keyof NormalisedVitals]?: TimedValue<NonNullable<NormalisedVitals[K]>> };

type VitalKey = keyof NormalisedVitals;

/**
 * Keeps the newer value per parameter. An older event arriving late does not overwrite a newer
 * reading; at an equal observation time the event merged last wins (stream order, so replays agree).
 * Returns a new object when the event took the place of any value (even an equal one), and `prev`
 * itself when it took none (so callers test `merged !== prev`); `prev` is never modified.
 */
export function mergeLatest(prev: LatestVitals, event: NormalisedEvent): LatestVitals {
  let next: Record<string, TimedValue<unknown>> | undefined;
  const at = event.observedAt.getTime();
  const vitals = event.vitals;
  for (const key in vitals) {
    const value = vitals[key as VitalKey];
    if (value === undefined) continue;
    const current = prev[key as VitalKey] as TimedValue<unknown> | undefined;
    if (current && current.observedAt.getTime() > at) continue;
    next ??= { ...prev };
    next[key] = { value, observedAt: event.observedAt };
  }
  return (next ?? prev) as LatestVitals;
}

/** Default SpO2 scale: RCP 2017 reserves scale 2 for a clinician's documented hypercapnic target. */
export const DEFAULT_SPO2_SCALE = 1;
/** Default when no oxygen reading is in the window: room air (see news2InputFrom). */
export const DEFAULT_ON_SUPPLEMENTAL_OXYGEN = false;

/**
 * Builds a NEWS2 input from the latest values observed within `windowMs` before `now` (readings
 * slightly after `now`, allowed by the decoder's clock skew, count as current).
 *
 * Returns null unless all six measured parameters (respiration rate, SpO2, systolic pressure, pulse,
 * consciousness, temperature) are in the window: a partial score would understate the risk.
 * Decisions:
 * - spo2Scale: the latest stated scale regardless of the window (it is a care-plan designation that
 *   holds until changed, not a reading that ages), else 1.
 * - onSupplementalOxygen: the latest value in the window, else room air. Many bedside monitors do not
 *   report oxygen delivery; refusing to score without it would silence every alert for those patients,
 *   while assuming air can understate the score by at most 2 (and never hides a single-parameter 3).
 */
export function news2InputFrom(latest: LatestVitals, now: Date, windowMs: number): News2Input | null {
  const oldest = now.getTime() - windowMs;
  const fresh = <T>(tv: TimedValue<T> | undefined): T | undefined =>
    tv && tv.observedAt.getTime() >= oldest ? tv.value : undefined;

  const respirationRate = fresh(latest.respirationRate);
  const spo2 = fresh(latest.spo2);
  const systolicBp = fresh(latest.systolicBp);
  const pulse = fresh(latest.pulse);
  const consciousness = fresh(latest.consciousness);
  const temperatureC = fresh(latest.temperatureC);
  if (
    respirationRate === undefined ||
    spo2 === undefined ||
    systolicBp === undefined ||
    pulse === undefined ||
    consciousness === undefined ||
    temperatureC === undefined
  ) {
    return null;
  }
  return {
    respirationRate,
    spo2,
    spo2Scale: latest.spo2Scale?.value ?? DEFAULT_SPO2_SCALE,
    onSupplementalOxygen: fresh(latest.onSupplementalOxygen) ?? DEFAULT_ON_SUPPLEMENTAL_OXYGEN,
    systolicBp,
    pulse,
    consciousness,
    temperatureC,
  };
}
