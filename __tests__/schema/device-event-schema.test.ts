import {
  deviceEventBatchSchema, MAX_REPORTED_ERRORS, validateBatch, validateEvent, type DeviceEvent,
} from '../../src/schema';

const PATIENT = 'MRN-0042137';

function event(over: Partial<Record<keyof DeviceEvent, unknown>> = {}): Record<string, unknown> {
  return {
    schemaVersion: 1, eventId: '3f2504e0-4f89-41d3-9a0c-0305e82c3301', deviceId: 'mon-7', patientId: PATIENT,
    facilityId: 'ward-3', observedAt: '2026-03-01T09:59:00.250+01:00',
    vitals: {
      pulse: { value: 88, unit: 'bpm' }, respirationRate: { value: 18, unit: 'breaths/min' },
      spo2: { value: 95, unit: '%', scale: 1 }, supplementalOxygen: true,
      systolicBp: { value: 16, unit: 'kPa' }, diastolicBp: { value: 80, unit: 'mmHg' },
      temperature: { value: 99.1, unit: '[degF]' }, consciousness: 'A',
    },
    ...over,
  };
}

function withVitals(vitals: Record<string, unknown>) {
  return { events: [event({ vitals })] };
}

function errorsOf(body: unknown) {
  const r = validateBatch(body);
  return r.ok ? [] : r.errors;
}

describe('validateBatch', () => {
  it('accepts a batch of one fully populated event', () => {
    expect(validateBatch({ events: [event()] })).toEqual({ ok: true, batch: { events: [event()] } });
  });

  it('accepts a batch of exactly 500 events', () => {
    expect(validateBatch({ events: Array.from({ length: 500 }, () => event()) }).ok).toBe(true);
  });

  it('rejects a batch of 501 events naming /events', () => {
    expect(errorsOf({ events: Array.from({ length: 501 }, () => event()) })).toEqual([
      { field: '/events', message: 'must have at most 500 items' },
    ]);
  });

  it('rejects an empty batch naming /events', () => {
    expect(errorsOf({ events: [] })).toEqual([{ field: '/events', message: 'must have at least 1 items' }]);
  });

  it.each([
    ['a missing events array', {}, '/events', 'is required'],
    ['a body that is an array', [event()], '', 'must be object'],
    ['a body that is null', null, '', 'must be object'],
    ['an unknown top-level property', { events: [event()], extra: 1 }, '', 'has a property that is not allowed'],
  ])('rejects %s', (_name, body, field, message) => {
    expect(errorsOf(body)).toContainEqual({ field, message });
  });

  it.each([
    ['schemaVersion', 2, 'must be one of [1]'],
    ['eventId', 'not-a-uuid', expect.stringMatching(/^must match the pattern/)],
    ['deviceId', '', 'must have at least 1 characters'],
    ['deviceId', 'x'.repeat(65), 'must have at most 64 characters'],
    ['patientId', 'MRN 42', expect.stringMatching(/^must match the pattern/)],
    ['facilityId', 7, 'must be string'],
    ['observedAt', '2026-03-01 09:59:00', expect.stringMatching(/^must match the pattern/)],
    ['observedAt', '2026-03-01T09:59:00', expect.stringMatching(/^must match the pattern/)],
    ['vitals', {}, 'must have at least 1 properties'],
  ])('rejects an event whose %s is %p, naming the field', (name, value, message) => {
    const errors = errorsOf({ events: [event({ [name]: value } as Record<string, unknown>)] });
    expect(errors).toContainEqual({ field: `/events/0/${name}`, message });
    expect(errors.every((e) => e.field === `/events/0/${name}`)).toBe(true);
  });

  it.each(['schemaVersion', 'eventId', 'deviceId', 'patientId', 'facilityId', 'observedAt', 'vitals'])(
    'rejects an event without %s, naming the field',
    (name) => {
      const e = event();
      delete e[name];
      expect(errorsOf({ events: [e] })).toEqual([{ field: `/events/0/${name}`, message: 'is required' }]);
    },
  );

  it.each([
    ['pulse', { value: 301, unit: 'bpm' }, '/pulse/value', 'must be <= 300'],
    ['pulse', { value: -1, unit: 'bpm' }, '/pulse/value', 'must be >= 0'],
    ['pulse', { value: '88', unit: 'bpm' }, '/pulse/value', 'must be number'],
    ['pulse', { value: 88, unit: 'bpm', extra: 1 }, '/pulse', 'has a property that is not allowed'],
    ['pulse', { value: 88 }, '/pulse/unit', 'is required'],
    ['respirationRate', { value: 81, unit: 'breaths/min' }, '/respirationRate/value', 'must be <= 80'],
    ['respirationRate', { value: 18, unit: '/min' }, '/respirationRate/unit', 'must be one of ["breaths/min"]'],
    ['spo2', { value: 101, unit: '%' }, '/spo2/value', 'must be <= 100'],
    ['spo2', { value: 95, unit: '%', scale: 3 }, '/spo2/scale', 'must be one of [1,2]'],
    ['supplementalOxygen', 'yes', '/supplementalOxygen', 'must be boolean'],
    ['systolicBp', { value: 120, unit: 'cmH2O' }, '/systolicBp/unit', 'must be one of ["mmHg","kPa"]'],
    ['diastolicBp', { value: 301, unit: 'mmHg' }, '/diastolicBp/value', 'must be <= 300'],
    ['temperature', { value: 37, unit: 'C' }, '/temperature/unit', 'must be one of ["Cel","[degF]"]'],
    ['temperature', { value: 19, unit: 'Cel' }, '/temperature/value', 'must be >= 20'],
    ['temperature', { value: 121, unit: '[degF]' }, '/temperature/value', 'must be <= 120'],
    ['consciousness', 'alert', '/consciousness', 'must be one of ["A","C","V","P","U"]'],
    ['heartRate', { value: 88, unit: 'bpm' }, '', 'has a property that is not allowed'],
  ])('rejects vitals.%s = %p naming the field', (name, value, suffix, message) => {
    expect(errorsOf(withVitals({ [name]: value }))).toContainEqual({ field: `/events/0/vitals${suffix}`, message });
  });

  it('accepts the schema bounds for Fahrenheit up to 120 so the unit-aware 47 °C limit decides', () => {
    expect(validateBatch(withVitals({ temperature: { value: 116.6, unit: '[degF]' } })).ok).toBe(true);
  });

  it('reports errors in every event of the batch with its index', () => {
    const errors = errorsOf({ events: [event(), event({ deviceId: 'x'.repeat(65) }), event(), event({ schemaVersion: 3 })] });
    expect(errors.map((e) => e.field)).toEqual(['/events/1/deviceId', '/events/3/schemaVersion']);
  });

  it(`caps the reported errors at ${MAX_REPORTED_ERRORS}`, () => {
    const errors = errorsOf({ events: Array.from({ length: 500 }, () => event({ deviceId: '' })) });
    expect(errors).toHaveLength(MAX_REPORTED_ERRORS);
  });

  it('never copies an unknown property name into an error: a patient id used as a key stays out', () => {
    const errors = errorsOf({ events: [event({ [PATIENT]: { value: 1 }, 'a/b~c': 1 } as Record<string, unknown>)] });
    expect(errors).toContainEqual({ field: '/events/0', message: 'has a property that is not allowed' });
    expect(JSON.stringify(errors)).not.toContain(PATIENT);
    expect(JSON.stringify(errors)).not.toContain('a~1b');
  });

  it('never puts an offending value or the patient id into an error message', () => {
    const body = {
      events: [event({
        patientId: `${PATIENT} x`, eventId: 'SECRET-EVENT', observedAt: 'SECRET-TIME',
        vitals: { pulse: { value: 333.3, unit: 'SECRET-UNIT' }, consciousness: 'SECRET-ACVPU' },
      })],
    };
    const errors = errorsOf(body);
    expect(errors.length).toBeGreaterThanOrEqual(5);
    const text = JSON.stringify(errors);
    for (const secret of [PATIENT, 'SECRET', '333.3']) expect(text).not.toContain(secret);
  });
});

describe('validateEvent', () => {
  it('accepts a valid event', () => {
    expect(validateEvent(event())).toEqual({ ok: true, event: event() });
  });

  it('names fields relative to the event', () => {
    expect(validateEvent(event({ vitals: { pulse: { value: 301, unit: 'bpm' } } }))).toEqual({
      ok: false, errors: [{ field: '/vitals/pulse/value', message: 'must be <= 300' }],
    });
  });

  it('rejects a value that is not an object', () => {
    expect(validateEvent('{"events":[]}')).toEqual({ ok: false, errors: [{ field: '', message: 'must be object' }] });
  });
});

describe('deviceEventBatchSchema', () => {
  /** Keywords with the same meaning in draft-04 (API Gateway models) and draft-07 (ajv). */
  const SHARED_KEYWORDS = new Set([
    '$schema', '$ref', 'title', 'description', 'type', 'enum', 'properties', 'required', 'additionalProperties',
    'items', 'minItems', 'maxItems', 'minimum', 'maximum', 'minLength', 'maxLength', 'pattern', 'minProperties',
    'definitions',
  ]);

  function keywordsIn(node: unknown, out = new Set<string>()): Set<string> {
    if (!node || typeof node !== 'object' || Array.isArray(node)) return out;
    for (const [k, v] of Object.entries(node)) {
      out.add(k);
      if (k === 'properties' || k === 'definitions') for (const child of Object.values(v as object)) keywordsIn(child, out);
      else if (k === 'items') keywordsIn(v, out);
    }
    return out;
  }

  it('uses only keywords shared by draft-04 and draft-07, plus $id which draft-04 ignores', () => {
    const used = [...keywordsIn(deviceEventBatchSchema)].filter((k) => k !== '$id');
    expect(used.filter((k) => !SHARED_KEYWORDS.has(k))).toEqual([]);
  });

  it('is the JSON file the API Gateway model is built from', () => {
    expect(deviceEventBatchSchema).toEqual(require('../../src/schema/device-event.v1.schema.json'));
  });
});
