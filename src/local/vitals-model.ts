/**
 * A pure model of a ward's bedside monitors: each patient has one device, a baseline, and a
 * trajectory. Most patients are stable; a few deteriorate over minutes (a sepsis-like picture:
 * breathing and heart rate up, saturation and blood pressure down, fever, then new confusion), so
 * their NEWS2 rises through medium into high and the processor raises alerts.
 *
 * Every reading carries all seven NEWS2 parameters with realistic measurement noise. Some monitors
 * report temperature in °F and a few report blood pressure in kPa, as mixed fleets do.
 * No I/O and no clock: time is passed in, randomness comes from the caller's seeded generator.
 */
import type { Consciousness, DeviceVitals } from '../schema';
import { gaussian, integerBetween, type Random, uniform } from './random';

export type Trajectory = 'stable' | 'deteriorating';

/** Per-patient values around which readings are drawn, in bpm, breaths/min, %, mmHg and °C. */
export interface Baseline {
  readonly pulse: number;
  readonly respirationRate: number;
  readonly spo2: number;
  readonly systolicBp: number;
  readonly diastolicBp: number;
  readonly temperatureC: number;
}

export interface SimulatedPatient {
  /** Medical record number: PHI. Never printed by the runner. */
  readonly patientId: string;
  readonly deviceId: string;
  readonly facilityId: string;
  readonly trajectory: Trajectory;
  /** NEWS2 SpO2 scale 2 is for confirmed hypercapnic respiratory failure (COPD); their target is 88–92 %. */
  readonly spo2Scale: 1 | 2;
  readonly temperatureUnit: 'Cel' | '[degF]';
  readonly bloodPressureUnit: 'mmHg' | 'kPa';
  readonly baseline: Baseline;
  /** Severity (0 = baseline, 1 = critically ill) when the run starts; 0 for stable patients. */
  readonly initialSeverity: number;
  /** Minutes a deteriorating patient takes to go from severity 0 to 1. */
  readonly minutesToCritical: number;
}

export interface WardOptions {
  readonly patients: number;
  /** Share of patients who deteriorate during the run. @default 0.05 */
  readonly deterioratingShare?: number;
  /** Share of monitors reporting temperature in °F. @default 0.2 */
  readonly fahrenheitShare?: number;
  /** Share of monitors reporting blood pressure in kPa. @default 0.05 */
  readonly kpaShare?: number;
  /** Share of patients on SpO2 scale 2. @default 0.03 */
  readonly spo2Scale2Share?: number;
  /** Tag that makes device ids unique to this run (letters and digits). */
  readonly runTag: string;
}

export const DEFAULT_DETERIORATING_SHARE = 0.05;

/** The facilities a simulated integration engine serves. */
export const FACILITIES = ['zrh-usz', 'zrh-triemli', 'bern-insel', 'basel-usb'] as const;

function assertShare(name: string, value: number): void {
  if (!(value >= 0 && value <= 1)) throw new Error(`${name} must be a share between 0 and 1; received ${value}`);
}

/**
 * Creates the ward. Which patients deteriorate is deterministic (evenly spread over the list) so the
 * share is exact; everything else is drawn from `random`.
 */
export function createWard(options: WardOptions, random: Random): SimulatedPatient[] {
  const {
    patients,
    deterioratingShare = DEFAULT_DETERIORATING_SHARE,
    fahrenheitShare = 0.2,
    kpaShare = 0.05,
    spo2Scale2Share = 0.03,
    runTag,
  } = options;
  if (!Number.isInteger(patients) || patients < 1) {
    throw new Error(`patients must be a whole number of at least 1; received ${patients}`);
  }
  assertShare('deterioratingShare', deterioratingShare);
  assertShare('fahrenheitShare', fahrenheitShare);
  assertShare('kpaShare', kpaShare);
  assertShare('spo2Scale2Share', spo2Scale2Share);
  if (!/^[A-Za-z0-9]+$/.test(runTag)) throw new Error(`runTag must be letters and digits; received ${JSON.stringify(runTag)}`);

  const deteriorating = Math.round(patients * deterioratingShare);
  const usedIds = new Set<string>();
  const ward: SimulatedPatient[] = [];
  for (let i = 0; i < patients; i++) {
    // Spread the deteriorating patients evenly: index i deteriorates when floor((i+1)·k/n) > floor(i·k/n).
    const trajectory: Trajectory =
      Math.floor(((i + 1) * deteriorating) / patients) > Math.floor((i * deteriorating) / patients)
        ? 'deteriorating'
        : 'stable';
    let patientId: string;
    do {
      patientId = `MRN${integerBetween(random, 10_000_000, 99_999_999)}`;
    } while (usedIds.has(patientId));
    usedIds.add(patientId);
    const facilityId = FACILITIES[i % FACILITIES.length];
    const spo2Scale: 1 | 2 = random() < spo2Scale2Share ? 2 : 1;
    const systolicBp = uniform(random, 112, 145);
    ward.push({
      patientId,
      deviceId: `mon-${facilityId}-${runTag}-${String(i + 1).padStart(4, '0')}`,
      facilityId,
      trajectory,
      spo2Scale,
      temperatureUnit: random() < fahrenheitShare ? '[degF]' : 'Cel',
      bloodPressureUnit: random() < kpaShare ? 'kPa' : 'mmHg',
      baseline: {
        pulse: uniform(random, 60, 86),
        respirationRate: uniform(random, 12, 18),
        spo2: spo2Scale === 2 ? uniform(random, 89, 91) : uniform(random, 96, 99),
        systolicBp,
        diastolicBp: systolicBp * uniform(random, 0.55, 0.65),
        temperatureC: uniform(random, 36.4, 37.3),
      },
      // Some deteriorating patients are already unwell when the run starts, so alerts appear early.
      initialSeverity: trajectory === 'deteriorating' ? uniform(random, 0, 0.6) : 0,
      minutesToCritical: uniform(random, 3, 8),
    });
  }
  return ward;
}

/** Severity in [0, 1] at `elapsedMs` after the run started. */
export function severityAt(patient: SimulatedPatient, elapsedMs: number): number {
  if (patient.trajectory === 'stable') return 0;
  const progressed = patient.initialSeverity + elapsedMs / 60_000 / patient.minutesToCritical;
  return Math.min(1, Math.max(0, progressed));
}

/** Clinicians start oxygen once saturation falls; the reading then recovers a little. */
const OXYGEN_FROM_SEVERITY = 0.55;

function round(x: number, decimals: number): number {
  const f = 10 ** decimals;
  return Math.round(x * f) / f;
}

function clamp(x: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, x));
}

/**
 * New confusion, then reduced responsiveness, late in the course. Deterministic in severity (which
 * only rises), so the level does not flicker from one reading to the next.
 */
function consciousnessAt(severity: number): Consciousness {
  if (severity >= 0.95) return 'V';
  if (severity >= 0.85) return 'C';
  return 'A';
}

/** The six measured parameters, in the order of MonitorState.drift. */
const MEASURED = ['pulse', 'respirationRate', 'spo2', 'systolicBp', 'diastolicBp', 'temperatureC'] as const;

/** Noise SD per parameter: pulse 2.5 bpm, respiration 1 /min, SpO2 0.8 %, BP 4/3 mmHg, temperature 0.1 °C. */
const NOISE_SD = { pulse: 2.5, respirationRate: 1, spo2: 0.8, systolicBp: 4, diastolicBp: 3, temperatureC: 0.1 } as const;

/**
 * How fast a reading's deviation from the patient's trend wanders. Consecutive readings of a real
 * monitor are strongly correlated; independent noise at every reading would make the score flap
 * across band edges and raise an alert per flap.
 */
export const DRIFT_TIME_CONSTANT_MS = 60_000;
/** Shares of the noise variance: slow drift (AR(1)) and independent per-reading jitter. */
const DRIFT_WEIGHT = 0.98;
const JITTER_WEIGHT = 0.2;

/** Per-monitor noise state: slowly varying deviations (in standard deviations), one per parameter. */
export interface MonitorState {
  atMs: number | null;
  readonly drift: number[];
}

export function newMonitorState(random: Random): MonitorState {
  return { atMs: null, drift: MEASURED.map(() => gaussian(random)) };
}

/** Advances the drift to `elapsedMs` (AR(1) with DRIFT_TIME_CONSTANT_MS) and returns one noise sample per parameter. */
function noiseAt(state: MonitorState, elapsedMs: number, random: Random): Record<(typeof MEASURED)[number], number> {
  if (state.atMs !== null) {
    const rho = Math.exp(-Math.max(0, elapsedMs - state.atMs) / DRIFT_TIME_CONSTANT_MS);
    const innovation = Math.sqrt(1 - rho * rho);
    for (let i = 0; i < state.drift.length; i++) state.drift[i] = rho * state.drift[i] + innovation * gaussian(random);
  }
  state.atMs = elapsedMs;
  const out = {} as Record<(typeof MEASURED)[number], number>;
  MEASURED.forEach((name, i) => {
    out[name] = NOISE_SD[name] * (DRIFT_WEIGHT * state.drift[i] + JITTER_WEIGHT * gaussian(random));
  });
  return out;
}

/**
 * One monitor reading with all seven NEWS2 parameters, in the monitor's own units. Pass the
 * monitor's `state` to get correlated readings over time; without it every reading's noise is independent.
 */
export function readingAt(
  patient: SimulatedPatient,
  elapsedMs: number,
  random: Random,
  state: MonitorState = newMonitorState(random),
): Required<DeviceVitals> {
  const s = severityAt(patient, elapsedMs);
  const b = patient.baseline;
  const onOxygen = s >= OXYGEN_FROM_SEVERITY;
  const desaturation = patient.spo2Scale === 2 ? 7 : 10;
  const n = noiseAt(state, elapsedMs, random);

  const pulse = clamp(round(b.pulse + 55 * s + n.pulse, 0), 30, 220);
  const respirationRate = clamp(round(b.respirationRate + 15 * s + n.respirationRate, 0), 6, 50);
  const spo2 = clamp(round(b.spo2 - desaturation * s + (onOxygen ? 2 : 0) + n.spo2, 0), 70, 100);
  const systolic = clamp(b.systolicBp - 45 * s + n.systolicBp, 60, 240);
  // Diastolic stays clearly below systolic: a real monitor never reports them the other way round.
  const diastolic = clamp(b.diastolicBp - 22 * s + n.diastolicBp, 30, systolic - 15);
  const temperatureC = clamp(b.temperatureC + 2.4 * s + n.temperatureC, 34, 42);

  const bp = (mmHg: number) =>
    patient.bloodPressureUnit === 'kPa'
      ? { value: round(mmHg / (760 / 101.325), 1), unit: 'kPa' as const }
      : { value: round(mmHg, 0), unit: 'mmHg' as const };

  return {
    pulse: { value: pulse, unit: 'bpm' },
    respirationRate: { value: respirationRate, unit: 'breaths/min' },
    spo2: { value: spo2, unit: '%', scale: patient.spo2Scale },
    supplementalOxygen: onOxygen,
    systolicBp: bp(systolic),
    diastolicBp: bp(diastolic),
    temperature:
      patient.temperatureUnit === '[degF]'
        ? { value: round((temperatureC * 9) / 5 + 32, 1), unit: '[degF]' }
        : { value: round(temperatureC, 1), unit: 'Cel' },
    consciousness: consciousnessAt(s),
  };
}
