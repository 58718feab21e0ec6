/**
 * National Early Warning Score 2, Royal College of Physicians 2017 (Chart 1: the NEWS scoring system;
 * Chart 2 for the clinical-risk thresholds).
 *
 * Rounding rule: the chart's bands are written for recorded values, integers for every parameter except
 * temperature, which is recorded to 0.1 °C. A device value is first rounded to that resolution, half
 * away from zero (RR 11.5 -> 12 scores 0; 11.49 -> 11 scores 1; 36.05 °C -> 36.1 scores 0; 36.04 -> 36.0
 * scores 1), then looked up in the bands. The gaps between bands (e.g. 35.0 and 35.1) are thereby closed.
 */
import type { Consciousness } from '../schema';

export interface News2Input {
  respirationRate: number;
  spo2: number;
  spo2Scale: 1 | 2;
  onSupplementalOxygen: boolean;
  systolicBp: number;
  pulse: number;
  consciousness: Consciousness;
  temperatureC: number;
}

export type News2Risk = 'low' | 'low-medium' | 'medium' | 'high';

export interface News2Parameters {
  respirationRate: number;
  spo2: number;
  onSupplementalOxygen: number;
  systolicBp: number;
  pulse: number;
  consciousness: number;
  temperatureC: number;
}

export interface News2Result {
  total: number;
  risk: News2Risk;
  parameters: News2Parameters;
}

/** Rounds half away from zero to `decimals`; the nudge keeps 36.05 (stored as 36.04999…) rounding up. */
export function roundToResolution(x: number, decimals: number): number {
  const f = 10 ** decimals;
  const scaled = x * f;
  return (Math.sign(scaled) * Math.round(Math.abs(scaled) + 1e-9)) / f;
}

/** A band: scores `score` when the (rounded) value is <= `upTo`; the last band has upTo = Infinity. */
type Bands = ReadonlyArray<readonly [upTo: number, score: number]>;

function band(value: number, bands: Bands): number {
  // Indexed loop: scored once per parameter per stored observation (no iterator, no destructuring).
  for (let i = 0; i < bands.length; i++) {
    const b = bands[i] as readonly [number, number];
    if (value <= b[0]) return b[1];
  }
  throw new RangeError('band table must end at Infinity');
}

const RESPIRATION_BANDS: Bands = [[8, 3], [11, 1], [20, 0], [24, 2], [Infinity, 3]];
const SPO2_SCALE1_BANDS: Bands = [[91, 3], [93, 2], [95, 1], [Infinity, 0]];
const SPO2_SCALE2_LOW_BANDS: Bands = [[83, 3], [85, 2], [87, 1], [92, 0]];
/** Scale 2 at >= 93 %: 0 on air, 1/2/3 on oxygen (a hypercapnic patient over-oxygenated). */
const SPO2_SCALE2_ON_OXYGEN_BANDS: Bands = [[94, 1], [96, 2], [Infinity, 3]];
const SYSTOLIC_BANDS: Bands = [[90, 3], [100, 2], [110, 1], [219, 0], [Infinity, 3]];
const PULSE_BANDS: Bands = [[40, 3], [50, 1], [90, 0], [110, 1], [130, 2], [Infinity, 3]];
const TEMPERATURE_BANDS: Bands = [[35.0, 3], [36.0, 1], [38.0, 0], [39.0, 1], [Infinity, 2]];
const SUPPLEMENTAL_OXYGEN_SCORE = 2;
const CONSCIOUSNESS_SCORES: Readonly<Record<Consciousness, number>> = { A: 0, C: 3, V: 3, P: 3, U: 3 };

/** Chart 2 thresholds on the aggregate score. */
export const NEWS2_MEDIUM_THRESHOLD = 5;
export const NEWS2_HIGH_THRESHOLD = 7;

function spo2Score(spo2: number, scale: 1 | 2, onOxygen: boolean): number {
  if (scale === 1) return band(spo2, SPO2_SCALE1_BANDS);
  if (spo2 <= 92) return band(spo2, SPO2_SCALE2_LOW_BANDS);
  return onOxygen ? band(spo2, SPO2_SCALE2_ON_OXYGEN_BANDS) : 0;
}

function requireFinite(name: keyof News2Input, value: number): void {
  if (!Number.isFinite(value)) throw new RangeError(`${name} must be a finite number`);
}

export function riskFor(total: number, anyParameterThree: boolean): News2Risk {
  if (total >= NEWS2_HIGH_THRESHOLD) return 'high';
  if (total >= NEWS2_MEDIUM_THRESHOLD) return 'medium';
  return anyParameterThree ? 'low-medium' : 'low';
}

const NUMERIC_INPUTS = ['respirationRate', 'spo2', 'systolicBp', 'pulse', 'temperatureC'] as const;

/** Scores one set of observations. Throws RangeError on a non-finite number or an unknown scale/ACVPU code. */
export function scoreNews2(input: News2Input): News2Result {
  for (let i = 0; i < NUMERIC_INPUTS.length; i++) requireFinite(NUMERIC_INPUTS[i] as (typeof NUMERIC_INPUTS)[number], input[NUMERIC_INPUTS[i] as (typeof NUMERIC_INPUTS)[number]]);
  if (input.spo2Scale !== 1 && input.spo2Scale !== 2) throw new RangeError('spo2Scale must be 1 or 2');
  if (!Object.prototype.hasOwnProperty.call(CONSCIOUSNESS_SCORES, input.consciousness)) {
    throw new RangeError('consciousness must be one of A, C, V, P, U');
  }
  if (typeof input.onSupplementalOxygen !== 'boolean') throw new RangeError('onSupplementalOxygen must be a boolean');

  const parameters: News2Parameters = {
    respirationRate: band(roundToResolution(input.respirationRate, 0), RESPIRATION_BANDS),
    spo2: spo2Score(roundToResolution(input.spo2, 0), input.spo2Scale, input.onSupplementalOxygen),
    onSupplementalOxygen: input.onSupplementalOxygen ? SUPPLEMENTAL_OXYGEN_SCORE : 0,
    systolicBp: band(roundToResolution(input.systolicBp, 0), SYSTOLIC_BANDS),
    pulse: band(roundToResolution(input.pulse, 0), PULSE_BANDS),
    consciousness: CONSCIOUSNESS_SCORES[input.consciousness],
    temperatureC: band(roundToResolution(input.temperatureC, 1), TEMPERATURE_BANDS),
  };
  const p = parameters;
  const total = p.respirationRate + p.spo2 + p.onSupplementalOxygen + p.systolicBp + p.pulse + p.consciousness + p.temperatureC;
  const anyThree = p.respirationRate === 3 || p.spo2 === 3 || p.systolicBp === 3 || p.pulse === 3 || p.consciousness === 3 || p.temperatureC === 3;
  return { total, risk: riskFor(total, anyThree), parameters };
}
