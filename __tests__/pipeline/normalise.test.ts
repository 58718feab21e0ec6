import type { DeviceEvent, DeviceVitals } from '../../src/schema';
import {
  fahrenheitToCelsius, kpaToMmHg, normaliseEvent, parseRfc3339, PHYSIOLOGICAL_RANGES,
} from '../../src/pipeline/normalise';

const PATIENT = 'MRN-7734219';

function ev(vitals: DeviceVitals, observedAt = '2026-03-01T10:00:00Z'): DeviceEvent {
  return {
    schemaVersion: 1, eventId: 'A1B2C3D4-0000-4000-8000-00000000000F', deviceId: 'mon-1',
    patientId: PATIENT, facilityId: 'f1', observedAt, vitals,
  };
}

function errorsOf(e: DeviceEvent) {
  const r = normaliseEvent(e);
  return r.ok ? [] : r.errors;
}

describe('normaliseEvent unit conversion', () => {
  it('converts Fahrenheit to Celsius', () => {
    const r = normaliseEvent(ev({ temperature: { value: 98.6, unit: '[degF]' } }));
    expect(r.ok && r.event.vitals.temperatureC).toBe(37);
  });

  it('keeps Celsius as it is', () => {
    const r = normaliseEvent(ev({ temperature: { value: 38.3, unit: 'Cel' } }));
    expect(r.ok && r.event.vitals.temperatureC).toBe(38.3);
  });

  it('converts kPa blood pressure to mmHg', () => {
    const r = normaliseEvent(ev({ systolicBp: { value: 16, unit: 'kPa' }, diastolicBp: { value: 10.7, unit: 'kPa' } }));
    expect(r.ok && r.event.vitals.systolicBp).toBeCloseTo(120.01, 2);
    expect(r.ok && r.event.vitals.diastolicBp).toBeCloseTo(80.26, 2);
  });

  it('removes floating-point noise from conversions', () => {
    expect(fahrenheitToCelsius(93.83)).toBe(34.35);
    expect(kpaToMmHg(101.325)).toBe(760);
  });

  it('maps every vital to its normalised name', () => {
    const r = normaliseEvent(ev({
      pulse: { value: 72, unit: 'bpm' }, respirationRate: { value: 14, unit: 'breaths/min' },
      spo2: { value: 95, unit: '%', scale: 2 }, supplementalOxygen: false,
      systolicBp: { value: 118, unit: 'mmHg' }, diastolicBp: { value: 76, unit: 'mmHg' },
      temperature: { value: 36.6, unit: 'Cel' }, consciousness: 'C',
    }));
    expect(r).toEqual({
      ok: true,
      event: {
        eventId: 'a1b2c3d4-0000-4000-8000-00000000000f', deviceId: 'mon-1', patientId: PATIENT, facilityId: 'f1',
        observedAt: new Date('2026-03-01T10:00:00Z'),
        vitals: {
          pulse: 72, respirationRate: 14, spo2: 95, spo2Scale: 2, onSupplementalOxygen: false,
          systolicBp: 118, diastolicBp: 76, temperatureC: 36.6, consciousness: 'C',
        },
      },
    });
  });

  it('leaves the SpO2 scale out when the event does not state it', () => {
    const r = normaliseEvent(ev({ spo2: { value: 95, unit: '%' } }));
    expect(r.ok && 'spo2Scale' in r.event.vitals).toBe(false);
  });
});

describe('normaliseEvent physiological ranges', () => {
  // [vitals at the bound, vitals just outside, field]
  const cases: Array<[string, DeviceVitals, DeviceVitals, string]> = [
    ['pulse lower', { pulse: { value: 0, unit: 'bpm' } }, { pulse: { value: -0.1, unit: 'bpm' } }, '/vitals/pulse/value'],
    ['pulse upper', { pulse: { value: 300, unit: 'bpm' } }, { pulse: { value: 300.1, unit: 'bpm' } }, '/vitals/pulse/value'],
    ['respiration lower', { respirationRate: { value: 0, unit: 'breaths/min' } }, { respirationRate: { value: -1, unit: 'breaths/min' } }, '/vitals/respirationRate/value'],
    ['respiration upper', { respirationRate: { value: 80, unit: 'breaths/min' } }, { respirationRate: { value: 81, unit: 'breaths/min' } }, '/vitals/respirationRate/value'],
    ['SpO2 lower', { spo2: { value: 0, unit: '%' } }, { spo2: { value: -1, unit: '%' } }, '/vitals/spo2/value'],
    ['SpO2 upper', { spo2: { value: 100, unit: '%' } }, { spo2: { value: 100.5, unit: '%' } }, '/vitals/spo2/value'],
    ['systolic lower', { systolicBp: { value: 20, unit: 'mmHg' } }, { systolicBp: { value: 19.9, unit: 'mmHg' } }, '/vitals/systolicBp/value'],
    ['systolic upper', { systolicBp: { value: 300, unit: 'mmHg' } }, { systolicBp: { value: 301, unit: 'mmHg' } }, '/vitals/systolicBp/value'],
    ['systolic upper in kPa', { systolicBp: { value: 39.9, unit: 'kPa' } }, { systolicBp: { value: 40.1, unit: 'kPa' } }, '/vitals/systolicBp/value'],
    ['diastolic lower', { diastolicBp: { value: 10, unit: 'mmHg' } }, { diastolicBp: { value: 9, unit: 'mmHg' } }, '/vitals/diastolicBp/value'],
    ['diastolic upper', { diastolicBp: { value: 200, unit: 'mmHg' } }, { diastolicBp: { value: 201, unit: 'mmHg' } }, '/vitals/diastolicBp/value'],
    ['temperature lower', { temperature: { value: 20, unit: 'Cel' } }, { temperature: { value: 19.9, unit: 'Cel' } }, '/vitals/temperature/value'],
    ['temperature upper', { temperature: { value: 47, unit: 'Cel' } }, { temperature: { value: 47.1, unit: 'Cel' } }, '/vitals/temperature/value'],
    ['temperature upper in °F', { temperature: { value: 116.6, unit: '[degF]' } }, { temperature: { value: 116.7, unit: '[degF]' } }, '/vitals/temperature/value'],
    ['temperature lower in °F', { temperature: { value: 68, unit: '[degF]' } }, { temperature: { value: 67.9, unit: '[degF]' } }, '/vitals/temperature/value'],
  ];

  it.each(cases)('accepts the %s bound and rejects a value just outside it', (_name, inside, outside, field) => {
    expect(normaliseEvent(ev(inside)).ok).toBe(true);
    const errors = errorsOf(ev(outside));
    expect(errors).toHaveLength(1);
    expect(errors[0].field).toBe(field);
    expect(errors[0].message).toMatch(/must be between/);
  });

  it('accepts pulse 0 and respiration 0 together, as in a cardiac arrest', () => {
    expect(normaliseEvent(ev({ pulse: { value: 0, unit: 'bpm' }, respirationRate: { value: 0, unit: 'breaths/min' } })).ok).toBe(true);
  });

  it('rejects a diastolic pressure equal to the systolic of the same event', () => {
    expect(errorsOf(ev({ systolicBp: { value: 90, unit: 'mmHg' }, diastolicBp: { value: 90, unit: 'mmHg' } }))).toEqual([
      { field: '/vitals/diastolicBp/value', message: 'must be below the systolic pressure of the same event' },
    ]);
  });

  it('compares diastolic with systolic after converting mixed units', () => {
    // 12 kPa = 90.0 mmHg systolic, 95 mmHg diastolic
    expect(errorsOf(ev({ systolicBp: { value: 12, unit: 'kPa' }, diastolicBp: { value: 95, unit: 'mmHg' } }))).toHaveLength(1);
    expect(normaliseEvent(ev({ systolicBp: { value: 12, unit: 'kPa' }, diastolicBp: { value: 85, unit: 'mmHg' } })).ok).toBe(true);
  });

  it('reports every out-of-range field at once', () => {
    const errors = errorsOf(ev({ pulse: { value: 301, unit: 'bpm' }, temperature: { value: 50, unit: 'Cel' } }, '2026-02-30T00:00:00Z'));
    expect(errors.map((e) => e.field)).toEqual(['/observedAt', '/vitals/pulse/value', '/vitals/temperature/value']);
  });

  it('never puts the offending value or the patient id into an error message', () => {
    const errors = errorsOf(ev({ pulse: { value: 301.7, unit: 'bpm' }, systolicBp: { value: 345.6, unit: 'mmHg' } }, '2026-02-30T00:00:00Z'));
    const text = JSON.stringify(errors);
    expect(errors).toHaveLength(3);
    expect(text).not.toContain('301.7');
    expect(text).not.toContain('345.6');
    expect(text).not.toContain('2026-02-30');
    expect(text).not.toContain(PATIENT);
  });

  it('documents each range as data', () => {
    expect(PHYSIOLOGICAL_RANGES.temperatureC).toEqual({ min: 20, max: 47 });
  });
});

describe('parseRfc3339', () => {
  it('parses UTC and offset times to the same instant', () => {
    expect(parseRfc3339('2026-03-01T10:00:00Z')?.toISOString()).toBe('2026-03-01T10:00:00.000Z');
    expect(parseRfc3339('2026-03-01T11:30:00+01:30')?.toISOString()).toBe('2026-03-01T10:00:00.000Z');
    expect(parseRfc3339('2026-03-01t05:00:00-05:00')?.toISOString()).toBe('2026-03-01T10:00:00.000Z');
  });

  it('keeps milliseconds and truncates finer fractions', () => {
    expect(parseRfc3339('2026-03-01T10:00:00.123456789Z')?.toISOString()).toBe('2026-03-01T10:00:00.123Z');
    expect(parseRfc3339('2026-03-01T10:00:00.5Z')?.toISOString()).toBe('2026-03-01T10:00:00.500Z');
  });

  it('rejects calendar dates that do not exist', () => {
    expect(parseRfc3339('2026-02-29T10:00:00Z')).toBeNull();
    expect(parseRfc3339('2026-04-31T10:00:00Z')).toBeNull();
    expect(parseRfc3339('2028-02-29T10:00:00Z')).not.toBeNull();
    expect(parseRfc3339('1900-02-29T10:00:00Z')).toBeNull(); // century: not a leap year
    expect(parseRfc3339('2000-02-29T10:00:00Z')?.toISOString()).toBe('2000-02-29T10:00:00.000Z'); // 400th year: leap
    expect(parseRfc3339('2026-06-31T10:00:00Z')).toBeNull();
    expect(parseRfc3339('2026-12-31T10:00:00Z')).not.toBeNull();
  });

  it('keeps years below 100 as written (not mapped to the 1900s)', () => {
    expect(parseRfc3339('0099-12-31T23:00:00-01:00')?.toISOString()).toBe('0100-01-01T00:00:00.000Z');
  });

  it('reads a leap second as the start of the next minute', () => {
    expect(parseRfc3339('2016-12-31T23:59:60Z')?.toISOString()).toBe('2017-01-01T00:00:00.000Z');
  });

  it('rejects text without an offset or with a malformed time', () => {
    expect(parseRfc3339('2026-03-01T10:00:00')).toBeNull();
    expect(parseRfc3339('2026-03-01T24:00:00Z')).toBeNull();
    expect(parseRfc3339('2026-03-01 10:00:00Z')).toBeNull();
  });

  it('keeps years below 100 as written', () => {
    expect(parseRfc3339('0099-01-01T00:00:00Z')?.getUTCFullYear()).toBe(99);
  });
});
