import { prepareMessage } from '../../src/hl7/prepare';
import { HL7_EXPECTED_ACK, hl7ControlId, hl7Slot } from '../../src/local/hl7-traffic';
import type { DeviceEvent } from '../../src/schema';

const NOW = new Date('2026-03-01T12:00:00Z');
const event: DeviceEvent = {
  schemaVersion: 1,
  eventId: 'aaaaaaaa-bbbb-4000-8000-000000000001',
  deviceId: 'mon-abc123-7',
  patientId: 'MRN-SIM-0007',
  facilityId: 'zrh-usz',
  observedAt: '2026-03-01T11:59:59.000Z',
  vitals: {
    pulse: { value: 88, unit: 'bpm' }, respirationRate: { value: 18, unit: 'breaths/min' }, spo2: { value: 95, unit: '%', scale: 1 },
    supplementalOxygen: false, systolicBp: { value: 16.1, unit: 'kPa' }, diastolicBp: { value: 10.2, unit: 'kPa' },
    temperature: { value: 99.1, unit: '[degF]' }, consciousness: 'A',
  },
};
const outcomeOf = (message: string) => {
  const p = prepareMessage(Buffer.from(message), { now: NOW });
  return p.kind === 'store' ? { code: 'AA', ids: p.records.map((r) => r.eventId), events: p.records.map((r) => JSON.parse(r.data.toString()) as DeviceEvent) } : { code: p.outcome === 'error' ? 'AE' : 'AR', ids: [], events: [] };
};

test.each(['valid', 'impossible', 'schema-invalid', 'undecodable'] as const)('a %s slot gets the acknowledgement the simulator expects', (kind) => {
  const slot = hl7Slot(kind, event, hl7ControlId('abcdef012345', 7));
  expect(outcomeOf(slot.message).code).toBe(HL7_EXPECTED_ACK[kind]);
});

test('a valid slot carries the numeric vitals and the event id the gateway derives', () => {
  const slot = hl7Slot('valid', event, 'abcdef012345-7');
  const out = outcomeOf(slot.message);
  expect(out.ids).toEqual([slot.eventId]);
  expect(out.events[0]).toMatchObject({
    patientId: 'MRN-SIM-0007', deviceId: 'mon-abc123-7', facilityId: 'zrh-usz', observedAt: '2026-03-01T11:59:59.000Z',
    vitals: { pulse: { value: 88, unit: 'bpm' }, spo2: { value: 95, unit: '%' }, systolicBp: { value: 16.1, unit: 'kPa' }, temperature: { value: 99.1, unit: '[degF]' } },
  });
  expect(out.events[0]?.vitals.consciousness).toBeUndefined();
});

test('control ids are unique per run and sequence', () => {
  expect(hl7ControlId('abcdef012345', 1)).not.toBe(hl7ControlId('abcdef012345', 2));
});
