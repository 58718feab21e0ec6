import { decodeRecord } from '../../src/pipeline/decode';

const PATIENT = 'MRN-5550123';
const NOW = new Date('2026-03-01T10:00:00Z');

function event(over: Record<string, unknown> = {}) {
  return {
    schemaVersion: 1, eventId: '3f2504e0-4f89-41d3-9a0c-0305e82c3301', deviceId: 'mon-7', patientId: PATIENT,
    facilityId: 'ward-3', observedAt: '2026-03-01T09:59:00Z',
    vitals: { pulse: { value: 88, unit: 'bpm' }, temperature: { value: 100.4, unit: '[degF]' } },
    ...over,
  };
}

const bytes = (x: unknown) => new TextEncoder().encode(typeof x === 'string' ? x : JSON.stringify(x));

describe('decodeRecord', () => {
  it('decodes, validates and normalises a valid record', () => {
    const r = decodeRecord(bytes(event()), NOW);
    expect(r).toEqual({
      ok: true,
      event: {
        eventId: '3f2504e0-4f89-41d3-9a0c-0305e82c3301', deviceId: 'mon-7', patientId: PATIENT, facilityId: 'ward-3',
        observedAt: new Date('2026-03-01T09:59:00Z'), vitals: { pulse: 88, temperatureC: 38 },
      },
    });
  });

  it('dead-letters bytes that are not UTF-8 as undecodable', () => {
    expect(decodeRecord(new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]), NOW)).toEqual({
      ok: false, reason: 'undecodable', errors: [{ field: '', message: 'record is not valid UTF-8' }],
    });
  });

  it('dead-letters text that is not JSON as undecodable without quoting it', () => {
    const r = decodeRecord(bytes(`{"patientId":"${PATIENT}",`), NOW);
    expect(r).toEqual({ ok: false, reason: 'undecodable', errors: [{ field: '', message: 'record is not valid JSON' }] });
  });

  it('dead-letters an empty record as undecodable', () => {
    expect(decodeRecord(new Uint8Array(), NOW)).toMatchObject({ ok: false, reason: 'undecodable' });
  });

  it('dead-letters a record failing the schema as invalid, naming the field', () => {
    const r = decodeRecord(bytes(event({ vitals: { pulse: { value: 88, unit: 'bpm/min' } } })), NOW);
    expect(r).toEqual({ ok: false, reason: 'invalid', errors: [{ field: '/vitals/pulse/unit', message: 'must be one of ["bpm"]' }] });
  });

  it('dead-letters a record outside the physiological ranges as invalid', () => {
    const r = decodeRecord(bytes(event({ vitals: { temperature: { value: 120, unit: '[degF]' } } })), NOW);
    expect(r).toMatchObject({ ok: false, reason: 'invalid', errors: [{ field: '/vitals/temperature/value' }] });
  });

  it('dead-letters a batch body sent as a single record as invalid', () => {
    expect(decodeRecord(bytes({ events: [event()] }), NOW)).toMatchObject({ ok: false, reason: 'invalid' });
  });

  it('accepts an observation up to the default five minutes ahead of the clock', () => {
    expect(decodeRecord(bytes(event({ observedAt: '2026-03-01T10:05:00Z' })), NOW).ok).toBe(true);
  });

  it('dead-letters an observation further in the future as future-timestamp', () => {
    expect(decodeRecord(bytes(event({ observedAt: '2026-03-01T10:05:00.001Z' })), NOW)).toEqual({
      ok: false, reason: 'future-timestamp',
      errors: [{ field: '/observedAt', message: 'must not be more than 300000 ms in the future' }],
    });
  });

  it('applies a configured clock skew', () => {
    const e = bytes(event({ observedAt: '2026-03-01T10:00:02Z' }));
    expect(decodeRecord(e, NOW, { maxClockSkewMs: 1000 })).toMatchObject({ ok: false, reason: 'future-timestamp' });
    expect(decodeRecord(e, NOW, { maxClockSkewMs: 2000 }).ok).toBe(true);
  });

  it('never puts the patient id into the errors of any rejected record', () => {
    const bad = [
      bytes(`{"patientId":"${PATIENT}"`),
      bytes(event({ patientId: `${PATIENT} ` })),
      bytes(event({ vitals: { pulse: { value: 999, unit: 'bpm' } } })),
      bytes(event({ observedAt: '2027-01-01T00:00:00Z' })),
    ];
    for (const b of bad) {
      const r = decodeRecord(b, NOW);
      expect(r.ok).toBe(false);
      expect(JSON.stringify(r)).not.toContain(PATIENT);
    }
  });
});
