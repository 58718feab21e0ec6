import { validateBatch, validateEvent, type DeviceEvent } from '../../src/schema';
import { decodeRecord } from '../../src/pipeline/decode';
import { normaliseEvent } from '../../src/pipeline/normalise';
import { seededRandom } from '../../src/local/random';
import {
  eventIdFor,
  eventIdRange,
  IMPOSSIBLE_KINDS,
  makeImpossible,
  makeSchemaInvalid,
  makeUndecodable,
  MALFORMED_SPLIT,
  nextSlotKind,
  SCHEMA_INVALID_KINDS,
  sequenceOf,
  type SlotKind,
  validateTrafficMix,
} from '../../src/local/traffic';

const sample: DeviceEvent = {
  schemaVersion: 1,
  eventId: '0f0e0d0c-0b0a-4000-8000-000000000001',
  deviceId: 'mon-zrh-usz-abc123-0001',
  patientId: 'MRN12345678',
  facilityId: 'zrh-usz',
  observedAt: '2026-11-24T10:00:00.000Z',
  vitals: {
    pulse: { value: 72, unit: 'bpm' },
    respirationRate: { value: 14, unit: 'breaths/min' },
    spo2: { value: 97, unit: '%', scale: 1 },
    supplementalOxygen: false,
    systolicBp: { value: 124, unit: 'mmHg' },
    diastolicBp: { value: 78, unit: 'mmHg' },
    temperature: { value: 36.8, unit: 'Cel' },
    consciousness: 'A',
  },
};

function countKinds(malformedShare: number, duplicateShare: number, n: number): Record<SlotKind, number> {
  const random = seededRandom(7);
  const counts: Record<SlotKind, number> = { valid: 0, duplicate: 0, impossible: 0, 'schema-invalid': 0, undecodable: 0 };
  for (let i = 0; i < n; i++) counts[nextSlotKind({ malformedShare, duplicateShare }, random)]++;
  return counts;
}

describe('traffic mix', () => {
  it('draws malformed and duplicate slots at the configured shares', () => {
    const n = 200_000;
    const c = countKinds(0.05, 0.02, n);
    expect(c.duplicate / n).toBeCloseTo(0.02, 2);
    expect(c.impossible / n).toBeCloseTo(0.05 * MALFORMED_SPLIT.impossible, 2);
    expect(c['schema-invalid'] / n).toBeCloseTo(0.05 * MALFORMED_SPLIT['schema-invalid'], 2);
    expect(c.undecodable / n).toBeCloseTo(0.05 * MALFORMED_SPLIT.undecodable, 2);
    expect((c.impossible + c['schema-invalid'] + c.undecodable) / n).toBeCloseTo(0.05, 2);
  });

  it('draws only valid slots when both shares are zero', () => {
    expect(countKinds(0, 0, 10_000).valid).toBe(10_000);
  });

  it('rejects a malformed share above one half', () => {
    expect(() => validateTrafficMix({ malformedShare: 0.6, duplicateShare: 0 })).toThrow(/malformedShare must be between 0 and 0.5; received 0.6/);
  });

  it('rejects a negative duplicate share', () => {
    expect(() => validateTrafficMix({ malformedShare: 0, duplicateShare: -0.1 })).toThrow(/duplicateShare must be between 0 and 0.5; received -0.1/);
  });
});

describe('event ids', () => {
  it('are schema-valid UUIDs that encode the run tag and sequence number', () => {
    const id = eventIdFor('a1b2c3d4e5f6', 0x1234);
    expect(id).toBe('a1b2c3d4-e5f6-4000-8000-000000001234');
    expect(validateEvent({ ...sample, eventId: id }).ok).toBe(true);
    expect(sequenceOf('a1b2c3d4e5f6', id)).toBe(0x1234);
  });

  it('do not decode as a sequence of another run', () => {
    expect(sequenceOf('000000000000', eventIdFor('a1b2c3d4e5f6', 5))).toBeNull();
  });

  it('of one run sort inside that run range', () => {
    const { first, last } = eventIdRange('a1b2c3d4e5f6');
    const id = eventIdFor('a1b2c3d4e5f6', 123_456_789);
    expect(first <= id && id <= last).toBe(true);
  });

  it('reject a negative sequence number', () => {
    expect(() => eventIdFor('a1b2c3d4e5f6', -1)).toThrow(/seq must be an integer between 0 and/);
  });

  it('reject a run tag that is not 12 hex digits', () => {
    expect(() => eventIdFor('xyz', 1)).toThrow(/runTag must be 12 lowercase hex digits/);
  });
});

describe('malformed events', () => {
  it.each(IMPOSSIBLE_KINDS)('%s passes the schema but fails the physiological ranges', (kind) => {
    const event = makeImpossible(sample, kind);
    expect(validateEvent(event).ok).toBe(true);
    expect(normaliseEvent(event).ok).toBe(false);
  });

  it.each(SCHEMA_INVALID_KINDS)('%s makes the API batch fail the schema', (kind) => {
    const result = validateBatch({ events: [makeSchemaInvalid(sample, kind)] });
    expect(result.ok).toBe(false);
  });

  it('undecodable records never decode as events', () => {
    const random = seededRandom(3);
    for (let i = 0; i < 50; i++) {
      const decoded = decodeRecord(makeUndecodable(sample, random), new Date());
      expect(decoded.ok).toBe(false);
    }
  });

  it('undecodable records never carry the patient identifier', () => {
    const random = seededRandom(4);
    for (let i = 0; i < 50; i++) {
      expect(makeUndecodable(sample, random).toString('latin1')).not.toContain(sample.patientId);
    }
  });
});
