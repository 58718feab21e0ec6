import { mergeLatest, type LatestVitals } from '../../src/pipeline/latest-vitals';
import { LATEST_SLOTS, PACKED_LATEST_BYTES, packLatest, unpackLatest } from '../../src/pipeline/latest-vitals-packing';
import type { NormalisedEvent } from '../../src/pipeline/normalise';

const T0 = Date.parse('2026-12-01T10:00:00.123Z');
const event = (offsetMs: number, vitals: NormalisedEvent['vitals']): NormalisedEvent => ({
  eventId: '00000000-0000-4000-8000-000000000001', deviceId: 'd', patientId: 'p', facilityId: 'f', observedAt: new Date(T0 + offsetMs), vitals,
});

describe('packed latest vitals', () => {
  it('round-trips every parameter with its own observation time, exactly', () => {
    let latest: LatestVitals = {};
    latest = mergeLatest(latest, event(0, { pulse: 72, respirationRate: 18, spo2: 96.5, spo2Scale: 2, onSupplementalOxygen: true }));
    latest = mergeLatest(latest, event(1_001, { systolicBp: 91.500241, diastolicBp: 60, temperatureC: 38.27, consciousness: 'V' }));
    const packed = packLatest(latest);
    expect(packed.length).toBe(PACKED_LATEST_BYTES);
    expect(packed[0]).toBe(1);
    expect(unpackLatest(packed)).toEqual(latest);
    expect(unpackLatest(packed).systolicBp?.observedAt.getTime()).toBe(T0 + 1_001);
  });

  it('keeps false and 0 apart from absent', () => {
    const latest = mergeLatest({}, event(0, { onSupplementalOxygen: false, pulse: 0, consciousness: 'A' }));
    const back = unpackLatest(packLatest(latest));
    expect(back).toEqual(latest);
    expect(Object.keys(back).sort()).toEqual(['consciousness', 'onSupplementalOxygen', 'pulse']);
  });

  it.each(['A', 'C', 'V', 'P', 'U'] as const)('keeps consciousness %s', (level) => {
    expect(unpackLatest(packLatest(mergeLatest({}, event(0, { consciousness: level })))).consciousness?.value).toBe(level);
  });

  it('is empty for a row that never held a value (NULL) and for an empty state', () => {
    expect(unpackLatest(null)).toEqual({});
    expect(unpackLatest(packLatest({}))).toEqual({});
  });

  it('lays slots out as big-endian float64 value and epoch-millisecond time, NaN when absent (what float8send gives SQL)', () => {
    const packed = packLatest(mergeLatest({}, event(0, { spo2: 97 })));
    const slot = 1 + LATEST_SLOTS.indexOf('spo2') * 16;
    expect(packed.readDoubleBE(slot)).toBe(97);
    expect(packed.readDoubleBE(slot + 8)).toBe(T0);
    expect(Number.isNaN(packed.readDoubleBE(1))).toBe(true); // pulse: never observed
  });

  it('refuses a value it cannot represent, and a layout it does not know', () => {
    expect(() => packLatest({ pulse: { value: Number.POSITIVE_INFINITY, observedAt: new Date(T0) } })).toThrow(/pulse must be a finite number/);
    expect(() => packLatest({ consciousness: { value: 'X' as 'A', observedAt: new Date(T0) } })).toThrow(/consciousness/);
    const wrongVersion = packLatest({});
    wrongVersion[0] = 2;
    expect(() => unpackLatest(wrongVersion)).toThrow(/version 1/);
    expect(() => unpackLatest(Buffer.alloc(10))).toThrow(/145 bytes/);
  });
});
