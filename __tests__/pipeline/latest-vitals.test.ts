import { mergeLatest, news2InputFrom, type LatestVitals } from '../../src/pipeline/latest-vitals';
import type { NormalisedEvent, NormalisedVitals } from '../../src/pipeline/normalise';

const T0 = Date.parse('2026-03-01T10:00:00Z');
const MIN = 60_000;
const WINDOW = 60 * MIN;

function event(atMin: number, vitals: NormalisedVitals): NormalisedEvent {
  return {
    eventId: '00000000-0000-4000-8000-000000000000', deviceId: 'mon-1', patientId: 'MRN-1', facilityId: 'f1',
    observedAt: new Date(T0 + atMin * MIN), vitals,
  };
}

const FULL: NormalisedVitals = {
  respirationRate: 16, spo2: 97, systolicBp: 120, pulse: 70, consciousness: 'A', temperatureC: 37,
};

describe('mergeLatest', () => {
  it('records each parameter of an event with the event time', () => {
    const latest = mergeLatest({}, event(0, { pulse: 70, spo2: 97 }));
    expect(latest).toEqual({
      pulse: { value: 70, observedAt: new Date(T0) },
      spo2: { value: 97, observedAt: new Date(T0) },
    });
  });

  it('replaces a parameter with a newer reading and keeps the others', () => {
    const a = mergeLatest({}, event(0, { pulse: 70, spo2: 97 }));
    const b = mergeLatest(a, event(5, { pulse: 95 }));
    expect(b.pulse).toEqual({ value: 95, observedAt: new Date(T0 + 5 * MIN) });
    expect(b.spo2).toEqual({ value: 97, observedAt: new Date(T0) });
  });

  it('does not let an older event arriving late overwrite a newer reading', () => {
    const a = mergeLatest({}, event(5, { pulse: 95 }));
    const b = mergeLatest(a, event(1, { pulse: 60, temperatureC: 37.2 }));
    expect(b.pulse).toEqual({ value: 95, observedAt: new Date(T0 + 5 * MIN) });
    expect(b.temperatureC).toEqual({ value: 37.2, observedAt: new Date(T0 + MIN) });
  });

  it('lets the event merged last win at an equal observation time', () => {
    const a = mergeLatest({}, event(5, { pulse: 95 }));
    expect(mergeLatest(a, event(5, { pulse: 96 })).pulse?.value).toBe(96);
  });

  it('keeps a false supplemental-oxygen reading rather than skipping it as absent', () => {
    const a = mergeLatest({}, event(0, { onSupplementalOxygen: true }));
    expect(mergeLatest(a, event(1, { onSupplementalOxygen: false })).onSupplementalOxygen?.value).toBe(false);
  });

  it('returns the previous state itself when a late event takes no value, a new object when it takes any', () => {
    const a = mergeLatest({}, event(5, { pulse: 95, spo2: 97 }));
    expect(mergeLatest(a, event(1, { pulse: 60, spo2: 90 }))).toBe(a);
    const b = mergeLatest(a, event(1, { pulse: 60, temperatureC: 37.2 }));
    expect(b).not.toBe(a);
    expect(b.pulse?.value).toBe(95);
    expect(b.temperatureC?.value).toBe(37.2);
    expect(mergeLatest(a, event(5, { pulse: 95 }))).not.toBe(a); // an equal reading at the same time still takes its place
  });

  it('does not modify the previous state', () => {
    const a: LatestVitals = mergeLatest({}, event(0, { pulse: 70 }));
    const copy = structuredClone(a);
    mergeLatest(a, event(5, { pulse: 95 }));
    expect(a).toEqual(copy);
  });
});

describe('news2InputFrom', () => {
  const now = new Date(T0 + 30 * MIN);

  it('builds the input from the latest values within the window', () => {
    const latest = mergeLatest(mergeLatest({}, event(0, FULL)), event(10, { pulse: 112, onSupplementalOxygen: true }));
    expect(news2InputFrom(latest, now, WINDOW)).toEqual({
      respirationRate: 16, spo2: 97, spo2Scale: 1, onSupplementalOxygen: true,
      systolicBp: 120, pulse: 112, consciousness: 'A', temperatureC: 37,
    });
  });

  it.each(['respirationRate', 'spo2', 'systolicBp', 'pulse', 'consciousness', 'temperatureC'] as const)(
    'returns null when %s has never been observed',
    (name) => {
      const vitals = { ...FULL };
      delete vitals[name];
      expect(news2InputFrom(mergeLatest({}, event(0, vitals)), now, WINDOW)).toBeNull();
    },
  );

  it('returns null when a parameter is older than the window', () => {
    const latest = mergeLatest(mergeLatest({}, event(-40, FULL)), event(0, { ...FULL, temperatureC: undefined }));
    expect(news2InputFrom(latest, now, WINDOW)).toBeNull(); // temperature is 70 min old
  });

  it('includes a reading exactly at the window edge and excludes one a millisecond older', () => {
    const latest = mergeLatest({}, event(0, FULL));
    expect(news2InputFrom(latest, new Date(T0 + WINDOW), WINDOW)).not.toBeNull();
    expect(news2InputFrom(latest, new Date(T0 + WINDOW + 1), WINDOW)).toBeNull();
  });

  it('counts a reading slightly after now (clock skew) as current', () => {
    expect(news2InputFrom(mergeLatest({}, event(31, FULL)), now, WINDOW)).not.toBeNull();
  });

  it('defaults to SpO2 scale 1 when no scale was ever stated', () => {
    expect(news2InputFrom(mergeLatest({}, event(0, FULL)), now, WINDOW)?.spo2Scale).toBe(1);
  });

  it('keeps a stated SpO2 scale 2 beyond the window until another scale is stated', () => {
    const scaled = mergeLatest({}, event(-120, { spo2: 90, spo2Scale: 2 }));
    const latest = mergeLatest(scaled, event(0, FULL));
    expect(news2InputFrom(latest, now, WINDOW)?.spo2Scale).toBe(2);
    expect(news2InputFrom(mergeLatest(latest, event(1, { spo2: 97, spo2Scale: 1 })), now, WINDOW)?.spo2Scale).toBe(1);
  });

  it('assumes room air when no supplemental-oxygen reading was made', () => {
    expect(news2InputFrom(mergeLatest({}, event(0, FULL)), now, WINDOW)?.onSupplementalOxygen).toBe(false);
  });

  it('assumes room air when the last supplemental-oxygen reading is older than the window', () => {
    const latest = mergeLatest(mergeLatest({}, event(-90, { onSupplementalOxygen: true })), event(0, FULL));
    expect(news2InputFrom(latest, now, WINDOW)?.onSupplementalOxygen).toBe(false);
  });
});
