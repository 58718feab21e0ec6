import { validateEvent, type DeviceEvent } from '../../src/schema';
import { normaliseEvent } from '../../src/pipeline/normalise';
import { scoreNews2, type News2Result } from '../../src/pipeline/news2';
import { seededRandom } from '../../src/local/random';
import { createWard, newMonitorState, readingAt, severityAt, type SimulatedPatient } from '../../src/local/vitals-model';

function eventFor(patient: SimulatedPatient, elapsedMs: number, seed: number): DeviceEvent {
  return {
    schemaVersion: 1,
    eventId: '0f0e0d0c-0b0a-4000-8000-000000000001',
    deviceId: patient.deviceId,
    patientId: patient.patientId,
    facilityId: patient.facilityId,
    observedAt: '2026-11-24T10:00:00.000Z',
    vitals: readingAt(patient, elapsedMs, seededRandom(seed)),
  };
}

/** Scores a reading through the processor's own normalisation and NEWS2. */
function news2Of(event: DeviceEvent): News2Result {
  const normalised = normaliseEvent(event);
  if (!normalised.ok) throw new Error(`reading failed normalisation: ${JSON.stringify(normalised.errors)}`);
  const v = normalised.event.vitals;
  return scoreNews2({
    respirationRate: v.respirationRate!,
    spo2: v.spo2!,
    spo2Scale: v.spo2Scale ?? 1,
    onSupplementalOxygen: v.onSupplementalOxygen!,
    systolicBp: v.systolicBp!,
    pulse: v.pulse!,
    consciousness: v.consciousness!,
    temperatureC: v.temperatureC!,
  });
}

function meanNews2(patient: SimulatedPatient, elapsedMs: number): number {
  let sum = 0;
  for (let seed = 1; seed <= 20; seed++) sum += news2Of(eventFor(patient, elapsedMs, seed)).total;
  return sum / 20;
}

const ward = createWard({ patients: 400, runTag: 'abc123' }, seededRandom(42));
const deteriorating = ward.filter((p) => p.trajectory === 'deteriorating');
const stable = ward.filter((p) => p.trajectory === 'stable');

describe('vitals model', () => {
  it('makes the requested share of patients deteriorate', () => {
    expect(deteriorating).toHaveLength(20);
    expect(stable).toHaveLength(380);
  });

  it('gives every patient a distinct patient id and device id', () => {
    expect(new Set(ward.map((p) => p.patientId)).size).toBe(ward.length);
    expect(new Set(ward.map((p) => p.deviceId)).size).toBe(ward.length);
  });

  it('produces readings with all seven NEWS2 parameters that pass the schema and the physiological ranges', () => {
    for (const patient of ward) {
      for (const minutes of [0, 4, 10]) {
        const event = eventFor(patient, minutes * 60_000, patient.deviceId.length + minutes);
        expect(Object.keys(event.vitals).sort()).toEqual(
          ['consciousness', 'diastolicBp', 'pulse', 'respirationRate', 'spo2', 'supplementalOxygen', 'systolicBp', 'temperature'],
        );
        expect(validateEvent(event)).toEqual({ ok: true, event });
        expect(normaliseEvent(event).ok).toBe(true);
      }
    }
  });

  it('reports temperature in Fahrenheit for some monitors and Celsius for the rest', () => {
    const units = new Set(ward.map((p) => eventFor(p, 0, 1).vitals.temperature?.unit));
    expect(units).toEqual(new Set(['Cel', '[degF]']));
  });

  it('keeps stable patients at low risk', () => {
    const risks = stable.flatMap((p) => [0, 5, 10].map((m) => news2Of(eventFor(p, m * 60_000, m + 7)).risk));
    const lowShare = risks.filter((r) => r === 'low').length / risks.length;
    expect(lowShare).toBeGreaterThan(0.97);
    expect(risks).not.toContain('high');
  });

  it('raises a deteriorating patient NEWS2 over minutes into high risk', () => {
    for (const patient of deteriorating) {
      const start = meanNews2(patient, 0);
      const later = meanNews2(patient, patient.minutesToCritical * 60_000);
      expect(later).toBeGreaterThan(start);
      expect(news2Of(eventFor(patient, patient.minutesToCritical * 60_000, 3)).risk).toBe('high');
    }
  });

  it('passes a deteriorating patient through medium risk on the way up', () => {
    const patient = deteriorating[0];
    const risks = new Set<string>();
    for (let s = 0; s <= 120; s++) {
      risks.add(news2Of(eventFor(patient, s * 5_000, s)).risk);
    }
    expect(risks).toContain('medium');
    expect(risks).toContain('high');
  });

  it('makes a monitor\'s consecutive readings correlated, as real monitors are', () => {
    const patient = stable[0];
    const meanStep = (withState: boolean): number => {
      const random = seededRandom(9);
      const state = newMonitorState(random);
      let previous = readingAt(patient, 0, random, withState ? state : undefined).systolicBp.value;
      let sum = 0;
      for (let t = 1; t <= 600; t++) {
        const value = readingAt(patient, t * 1000, random, withState ? state : undefined).systolicBp.value;
        sum += Math.abs(value - previous);
        previous = value;
      }
      return sum / 600;
    };
    expect(meanStep(true)).toBeLessThan(meanStep(false) / 2);
  });

  it('never lets severity leave 0..1 and keeps stable patients at 0', () => {
    expect(severityAt(stable[0], 3_600_000)).toBe(0);
    expect(severityAt(deteriorating[0], 3_600_000)).toBe(1);
    expect(severityAt(deteriorating[0], 0)).toBeGreaterThanOrEqual(0);
  });

  it('rejects a ward of zero patients', () => {
    expect(() => createWard({ patients: 0, runTag: 'abc' }, seededRandom(1))).toThrow(/patients must be a whole number of at least 1; received 0/);
  });

  it('rejects a deteriorating share above 1', () => {
    expect(() => createWard({ patients: 10, deterioratingShare: 1.5, runTag: 'abc' }, seededRandom(1))).toThrow(
      /deterioratingShare must be a share between 0 and 1; received 1.5/,
    );
  });

  it('rejects a run tag that would make an invalid device id', () => {
    expect(() => createWard({ patients: 10, runTag: 'a/b' }, seededRandom(1))).toThrow(/runTag must be letters and digits/);
  });
});
