/**
 * Unit normalisation and unit-aware physiological ranges: the only place where units are converted.
 * Input is an event that already passed the schema (whose numeric bounds are deliberately loose and
 * unit-independent); output is in bpm, breaths/min, %, mmHg and °C.
 */
import type { Consciousness, DeviceEvent, FieldError } from '../schema';

export interface NormalisedVitals {
  pulse?: number;
  respirationRate?: number;
  spo2?: number;
  /** Present only when the event states it; a scale is a clinical designation, not a measurement. */
  spo2Scale?: 1 | 2;
  onSupplementalOxygen?: boolean;
  systolicBp?: number;
  diastolicBp?: number;
  temperatureC?: number;
  consciousness?: Consciousness;
}

export interface NormalisedEvent {
  eventId: string;
  deviceId: string;
  patientId: string;
  facilityId: string;
  observedAt: Date;
  vitals: NormalisedVitals;
}

export type NormaliseResult = { ok: true; event: NormalisedEvent } | { ok: false; errors: FieldError[] };

/** 1 kPa in mmHg (101.325 kPa = 760 mmHg). */
export const MMHG_PER_KPA = 760 / 101.325;

export interface Range {
  readonly min: number;
  readonly max: number;
}

/**
 * Physiologically possible ranges, after conversion. They reject what cannot be a reading from a
 * living (or arresting) patient, never what is merely abnormal: an abnormal value is exactly what
 * NEWS2 must see.
 * - pulse 0–300 bpm: 0 is asystole (a real arrest reading); ~300 is the fastest conducted rhythm
 *   (1:1 atrial flutter, infant SVT) and the top of bedside monitors' heart-rate range.
 * - respirationRate 0–80 /min: 0 is apnoea; 80 is above extreme neonatal tachypnoea.
 * - spo2 0–100 %: a saturation is a fraction; oximeters report the whole range (unreliably below ~70).
 * - systolicBp 20–300 mmHg: cuffs measure down to ~30–40 mmHg and invasive lines lower in shock,
 *   but below 20 mmHg a "systolic" is transducer noise; cuffs inflate to ~300 mmHg at most.
 * - diastolicBp 10–200 mmHg and below the systolic of the same event: severe aortic regurgitation
 *   and vasodilatory shock give diastolics near 20; above 200 is beyond any recorded crisis.
 * - temperatureC 20–47 °C: 20 °C is the lowest core temperature a ward probe meaningfully reports
 *   (and the schema's Celsius floor); 47 °C sits just above the highest temperature survived (46.5 °C).
 */
export const PHYSIOLOGICAL_RANGES = {
  pulse: { min: 0, max: 300 },
  respirationRate: { min: 0, max: 80 },
  spo2: { min: 0, max: 100 },
  systolicBp: { min: 20, max: 300 },
  diastolicBp: { min: 10, max: 200 },
  temperatureC: { min: 20, max: 47 },
} as const satisfies Record<string, Range>;

/** Conversions are rounded to 6 decimals to remove binary floating-point noise (98.6 °F is 37 °C, not 36.99999999999999). */
function clean(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}

export function fahrenheitToCelsius(f: number): number {
  return clean(((f - 32) * 5) / 9);
}

export function kpaToMmHg(kpa: number): number {
  return clean(kpa * MMHG_PER_KPA);
}

const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;

/**
 * Parses an RFC 3339 timestamp strictly: the calendar date must exist (no 31 February). A leap second
 * (:60) becomes the first instant of the next minute, as POSIX clocks record it. Returns null when the
 * text is not a real instant.
 */
export function parseRfc3339(text: string): Date | null {
  const m = RFC3339.exec(text);
  if (!m) return null;
  // Unary + on the captured digits: no intermediate array or Date per call (one call per event).
  const year = +(m[1] as string);
  const month = +(m[2] as string);
  const day = +(m[3] as string);
  const hour = +(m[4] as string);
  const minute = +(m[5] as string);
  const second = +(m[6] as string);
  const fraction = m[7];
  const millis = fraction ? +(fraction.length >= 3 ? fraction.slice(0, 3) : fraction.padEnd(3, '0')) : 0;
  if (month < 1 || month > 12 || hour > 23 || minute > 59 || second > 60) return null;
  if (day < 1 || day > daysInMonth(year, month)) return null;
  let offsetMinutes = 0;
  if (!m[8]) {
    const oh = Number(m[10]);
    const om = Number(m[11]);
    if (oh > 23 || om > 59) return null;
    offsetMinutes = (m[9] === '-' ? -1 : 1) * (oh * 60 + om);
  }
  // Date.UTC maps years 0–99 to 1900–1999; setUTCFullYear does not. Both roll a leap second (:60) over.
  let utc: number;
  if (year >= 100) utc = Date.UTC(year, month - 1, day, hour, minute, second, millis);
  else {
    const d = new Date(0);
    d.setUTCFullYear(year, month - 1, day);
    d.setUTCHours(hour, minute, second, millis);
    utc = d.getTime();
  }
  return new Date(utc - offsetMinutes * 60_000);
}

/** Days in a month of the proleptic Gregorian calendar (month 1–12). */
function daysInMonth(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

function checkRange(
  errors: FieldError[],
  field: string,
  value: number,
  range: Range,
  unit: string,
): void {
  if (value < range.min || value > range.max) {
    errors.push({ field, message: `must be between ${range.min} and ${range.max} ${unit} after unit conversion` });
  }
}

/** Converts an event's units and applies the physiological ranges; pointers are relative to the event. */
export function normaliseEvent(e: DeviceEvent): NormaliseResult {
  const errors: FieldError[] = [];
  const vitals: NormalisedVitals = {};
  const v = e.vitals;
  const R = PHYSIOLOGICAL_RANGES;

  const observedAt = parseRfc3339(e.observedAt);
  if (!observedAt) errors.push({ field: '/observedAt', message: 'must be a real RFC 3339 date-time' });

  if (v.pulse) {
    vitals.pulse = v.pulse.value;
    checkRange(errors, '/vitals/pulse/value', vitals.pulse, R.pulse, 'bpm');
  }
  if (v.respirationRate) {
    vitals.respirationRate = v.respirationRate.value;
    checkRange(errors, '/vitals/respirationRate/value', vitals.respirationRate, R.respirationRate, 'breaths/min');
  }
  if (v.spo2) {
    vitals.spo2 = v.spo2.value;
    if (v.spo2.scale !== undefined) vitals.spo2Scale = v.spo2.scale;
    checkRange(errors, '/vitals/spo2/value', vitals.spo2, R.spo2, '%');
  }
  if (v.supplementalOxygen !== undefined) vitals.onSupplementalOxygen = v.supplementalOxygen;
  if (v.systolicBp) {
    vitals.systolicBp = v.systolicBp.unit === 'kPa' ? kpaToMmHg(v.systolicBp.value) : v.systolicBp.value;
    checkRange(errors, '/vitals/systolicBp/value', vitals.systolicBp, R.systolicBp, 'mmHg');
  }
  if (v.diastolicBp) {
    vitals.diastolicBp = v.diastolicBp.unit === 'kPa' ? kpaToMmHg(v.diastolicBp.value) : v.diastolicBp.value;
    checkRange(errors, '/vitals/diastolicBp/value', vitals.diastolicBp, R.diastolicBp, 'mmHg');
    if (vitals.systolicBp !== undefined && vitals.diastolicBp >= vitals.systolicBp) {
      errors.push({ field: '/vitals/diastolicBp/value', message: 'must be below the systolic pressure of the same event' });
    }
  }
  if (v.temperature) {
    vitals.temperatureC =
      v.temperature.unit === '[degF]' ? fahrenheitToCelsius(v.temperature.value) : v.temperature.value;
    checkRange(errors, '/vitals/temperature/value', vitals.temperatureC, R.temperatureC, '°C');
  }
  if (v.consciousness !== undefined) vitals.consciousness = v.consciousness;

  if (errors.length > 0 || !observedAt) return { ok: false, errors };
  return {
    ok: true,
    event: {
      eventId: e.eventId.toLowerCase(),
      deviceId: e.deviceId,
      patientId: e.patientId,
      facilityId: e.facilityId,
      observedAt,
      vitals,
    },
  };
}
