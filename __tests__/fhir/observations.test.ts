/**
 * The FHIR rendering of stored observations, validated by @medplum/core's validator against the R4
 * base definitions and the FHIR vital-signs profiles (vitalsigns, heartrate, resprate, oxygensat,
 * bodytemp). The bp profile's component slices are discriminated through a nested slice on
 * code.coding, which the validator cannot evaluate (nor could HL7's own Java validator before
 * hapifhir/org.hl7.fhir.core#22); for bp the slices' fixed values are read from the profile itself and
 * checked. Likewise the fixed UCUM system and code of each profile's value[x]:valueQuantity type slice,
 * which the validator does not apply.
 */
import type { Observation, ObservationComponent, StructureDefinition } from '@medplum/fhirtypes';
import {
  observationId,
  parseObservationId,
  toFhirObservations,
  type StoredObservation,
} from '../../src/fhir/observations';
import { issuesOf, profile, validate } from './support/fhir-validator';

const VITALSIGNS = 'http://hl7.org/fhir/StructureDefinition/vitalsigns';
const BP = 'http://hl7.org/fhir/StructureDefinition/bp';
const PSEUDONYM = 'ab'.repeat(32);

function row(over: Partial<StoredObservation> = {}): StoredObservation {
  return {
    eventId: 'd3c53754-7749-5ca2-971e-dc79ab824ad2',
    observedAt: new Date('2026-03-01T09:15:00.250Z'),
    patientPseudonym: PSEUDONYM,
    deviceId: '0009FB0000A1B2C3',
    facilityId: 'ZHGENERAL',
    pulse: 88,
    respirationRate: 19,
    spo2: 94,
    spo2Scale: null,
    onSupplementalOxygen: false,
    systolicBp: 118,
    diastolicBp: 74,
    temperatureC: 37.9,
    consciousness: 'A',
    storedAt: new Date('2026-03-01T09:15:00.900Z'),
    news2: { total: 3, risk: 'low', parameters: { respirationRate: 0, spo2: 1, onSupplementalOxygen: 0, systolicBp: 1, pulse: 0, consciousness: 0, temperatureC: 1 } },
    ...over,
  };
}

/** The bp profile's component slices: the LOINC code each must carry and its fixed unit. */
function bpSlices(sd: StructureDefinition): Array<{ slice: string; code: string; system: string; unit: string; valueMin: number }> {
  const els = sd.snapshot?.element ?? [];
  return els
    .filter((e) => e.path === 'Observation.component' && e.sliceName)
    .map((s) => {
      const id = `Observation.component:${s.sliceName}`;
      const find = (suffix: string) => els.find((e) => e.id?.startsWith(id) && e.id.endsWith(suffix));
      return {
        slice: s.sliceName as string,
        code: find('.code.coding:' + (s.sliceName === 'SystolicBP' ? 'SBPCode' : 'DBPCode') + '.code')?.fixedCode as string,
        system: find('.code.coding:' + (s.sliceName === 'SystolicBP' ? 'SBPCode' : 'DBPCode') + '.system')?.fixedUri as string,
        unit: find('.value[x].code')?.fixedCode as string,
        valueMin: find(`${id}.value[x]`)?.min ?? 0,
      };
    });
}

function checkBpSlices(o: Observation): void {
  const slices = bpSlices(profile(BP));
  expect(slices.map((s) => s.slice).sort()).toEqual(['DiastolicBP', 'SystolicBP']);
  for (const s of slices) {
    const matching = (o.component ?? []).filter((c: ObservationComponent) => c.code.coding?.some((cd) => cd.system === s.system && cd.code === s.code));
    expect(matching).toHaveLength(1);
    const c = matching[0] as ObservationComponent;
    if (c.valueQuantity) expect(c.valueQuantity.code).toBe(s.unit);
    else expect(c.dataAbsentReason).toBeDefined();
  }
}

/** The profile's fixed valueQuantity system and code (type slice value[x]:valueQuantity), checked. */
function checkFixedQuantity(o: Observation, url: string): void {
  const els = profile(url).snapshot?.element ?? [];
  const fixed = (suffix: string) => els.find((e) => e.id === `Observation.value[x]:valueQuantity.${suffix}`);
  const system = fixed('system')?.fixedUri;
  const code = fixed('code')?.fixedCode;
  if (system) expect(o.valueQuantity?.system).toBe(system);
  if (code) expect(o.valueQuantity?.code).toBe(code);
}

/** Validates a resource against R4, the vital-signs profile and its own declared profiles. */
function validateFully(o: Observation): void {
  const declared = o.meta?.profile ?? [];
  const isVital = o.category?.some((c) => c.coding?.some((cd) => cd.code === 'vital-signs')) ?? false;
  const profiles = [...(isVital ? [VITALSIGNS] : []), ...declared.filter((p) => p !== BP)];
  expect(issuesOf(() => validate(o, profiles))).toEqual([]);
  if (declared.includes(BP)) checkBpSlices(o);
  for (const url of declared.filter((p) => p !== BP)) checkFixedQuantity(o, url);
}

test('a complete row yields the five vital signs and the NEWS2 score, each valid FHIR R4', () => {
  const resources = toFhirObservations(row());
  expect(resources.map((o) => o.id)).toEqual([
    'd3c53754-7749-5ca2-971e-dc79ab824ad2-heart-rate',
    'd3c53754-7749-5ca2-971e-dc79ab824ad2-respiratory-rate',
    'd3c53754-7749-5ca2-971e-dc79ab824ad2-oxygen-saturation',
    'd3c53754-7749-5ca2-971e-dc79ab824ad2-blood-pressure',
    'd3c53754-7749-5ca2-971e-dc79ab824ad2-body-temperature',
    'd3c53754-7749-5ca2-971e-dc79ab824ad2-news2',
  ]);
  resources.forEach(validateFully);
});

test('vital signs carry the profile LOINC codes and UCUM units', () => {
  const byKind = new Map(toFhirObservations(row()).map((o) => [o.id?.split('-').slice(5).join('-'), o]));
  const code = (k: string) => byKind.get(k)?.code.coding?.map((c) => `${c.system}|${c.code}`);
  expect(code('heart-rate')).toEqual(['http://loinc.org|8867-4']);
  expect(code('respiratory-rate')).toEqual(['http://loinc.org|9279-1']);
  expect(code('oxygen-saturation')).toEqual(['http://loinc.org|2708-6', 'http://loinc.org|59408-5']);
  expect(code('blood-pressure')).toEqual(['http://loinc.org|85354-9']);
  expect(code('body-temperature')).toEqual(['http://loinc.org|8310-5']);
  expect(byKind.get('heart-rate')?.valueQuantity).toEqual({ value: 88, unit: 'beats/minute', system: 'http://unitsofmeasure.org', code: '/min' });
  expect(byKind.get('body-temperature')?.valueQuantity).toEqual({ value: 37.9, unit: 'C', system: 'http://unitsofmeasure.org', code: 'Cel' });
  expect(byKind.get('blood-pressure')?.component?.map((c) => [c.code.coding?.[0]?.code, c.valueQuantity?.value, c.valueQuantity?.code])).toEqual([
    ['8480-6', 118, 'mm[Hg]'],
    ['8462-4', 74, 'mm[Hg]'],
  ]);
});

test('subject is the patient pseudonym, device the sending device, effective the observation time', () => {
  for (const o of toFhirObservations(row())) {
    expect(o.subject).toEqual({ reference: `Patient/${PSEUDONYM}` });
    expect(o.device).toEqual({ identifier: { system: 'https://vitals-pipeline.example/fhir/sid/device-id', value: '0009FB0000A1B2C3' }, display: '0009FB0000A1B2C3' });
    expect(o.effectiveDateTime).toBe('2026-03-01T09:15:00.250Z');
    expect(o.issued).toBe('2026-03-01T09:15:00.900Z');
  }
});

test('the NEWS2 score is its own survey Observation with one component per parameter score', () => {
  const news2 = toFhirObservations(row()).find((o) => o.id?.endsWith('-news2')) as Observation;
  expect(news2.category?.[0]?.coding?.[0]?.code).toBe('survey');
  expect(news2.code.coding?.[0]).toMatchObject({ system: 'http://snomed.info/sct', code: '1104051000000101' });
  expect(news2.valueQuantity).toEqual({ value: 3, unit: 'score', system: 'http://unitsofmeasure.org', code: '{score}' });
  expect(news2.component?.map((c) => [c.code.coding?.[0]?.code, c.valueQuantity?.value])).toEqual([
    ['1104301000000104', 0], ['1104311000000102', 1], ['1104331000000105', 0], ['1104341000000101', 1],
    ['1104351000000103', 0], ['1104361000000100', 0], ['1104371000000107', 1],
  ]);
  expect(news2.interpretation?.[0]?.text).toBe('NEWS2 clinical risk: low');
});

test('a row stating SpO2 scale 2 names the scale 2 score component', () => {
  const news2 = toFhirObservations(row({ spo2Scale: 2 })).find((o) => o.id?.endsWith('-news2')) as Observation;
  expect(news2.component?.[1]?.code.coding?.[0]?.code).toBe('1104321000000108');
  validateFully(news2);
});

test('a lone systolic pressure is a valid panel with the diastolic marked absent', () => {
  const bp = toFhirObservations(row({ diastolicBp: null })).find((o) => o.id?.endsWith('-blood-pressure')) as Observation;
  expect(bp.component?.[1]?.dataAbsentReason?.coding?.[0]?.code).toBe('not-performed');
  validateFully(bp);
});

test('a row yields only the resources it has values for', () => {
  const ids = toFhirObservations(row({ pulse: null, respirationRate: null, systolicBp: null, diastolicBp: null, news2: null })).map((o) => o.id?.slice(37));
  expect(ids).toEqual(['oxygen-saturation', 'body-temperature']);
});

test('the checks are not vacuous: a wrong code, a missing subject, a wrong unit or a missing BP component fail', () => {
  const hr = toFhirObservations(row())[0] as Observation;
  const HEART_RATE = 'http://hl7.org/fhir/StructureDefinition/heartrate';
  expect(issuesOf(() => validate({ ...hr, code: { coding: [{ system: 'http://loinc.org', code: '9279-1' }] } }, [VITALSIGNS, HEART_RATE])).length).toBeGreaterThan(0);
  expect(() => checkFixedQuantity({ ...hr, valueQuantity: { ...hr.valueQuantity, code: 'bpm' } }, HEART_RATE)).toThrow();
  const { subject: _omit, ...noSubject } = hr;
  expect(issuesOf(() => validate(noSubject as Observation, [VITALSIGNS])).length).toBeGreaterThan(0);
  const wrongBp = toFhirObservations(row()).find((o) => o.id?.endsWith('-blood-pressure')) as Observation;
  expect(() => checkBpSlices({ ...wrongBp, component: wrongBp.component?.slice(0, 1) })).toThrow();
});

test('observation ids round-trip and refuse anything else', () => {
  expect(parseObservationId(observationId('d3c53754-7749-5ca2-971e-dc79ab824ad2', 'news2'))).toEqual({ eventId: 'd3c53754-7749-5ca2-971e-dc79ab824ad2', kind: 'news2' });
  expect(parseObservationId('d3c53754-7749-5ca2-971e-dc79ab824ad2-weight')).toBeUndefined();
  expect(parseObservationId('x')).toBeUndefined();
});

test('two hundred generated rows across the physiological ranges all render valid resources', () => {
  let seed = 42;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const maybe = <T>(v: T): T | null => (rnd() < 0.2 ? null : v);
  let validated = 0;
  for (let i = 0; i < 200; i++) {
    const sys = 20 + rnd() * 280;
    const r = row({
      eventId: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
      observedAt: new Date(Date.UTC(2026, 0, 1) + Math.floor(rnd() * 3e10)),
      pulse: maybe(Math.round(rnd() * 3000) / 10),
      respirationRate: maybe(Math.round(rnd() * 80)),
      spo2: maybe(Math.round(rnd() * 1000) / 10),
      spo2Scale: rnd() < 0.1 ? 2 : null,
      systolicBp: maybe(sys),
      diastolicBp: maybe(10 + rnd() * Math.min(189, sys - 11)),
      temperatureC: maybe(20 + rnd() * 27),
      news2: rnd() < 0.5 ? null : row().news2,
    });
    for (const o of toFhirObservations(r)) {
      validateFully(o);
      validated++;
    }
  }
  expect(validated).toBeGreaterThan(600);
});
