/**
 * A stored observation (one row of `observations`, with its NEWS2 score when one was written) as FHIR
 * R4 Observations: one per vital sign per the FHIR vital-signs profiles (heart rate, respiratory rate,
 * oxygen saturation, blood pressure panel, body temperature; LOINC codes, UCUM units), and the NEWS2
 * score as its own Observation (survey category, SNOMED CT UK codes for the total and each
 * parameter's score). Pure: rows in, resources out.
 *
 * Identity: `Observation.id` is `<event id>-<kind>`, stable across reads; `subject` is the patient
 * pseudonym (`Patient/<64 hex>`): the pipeline holds no patient resource and never exposes the
 * identifier itself; `device` is a logical reference (identifier) to the sending device.
 */
import type { CodeableConcept, Observation, ObservationComponent, Quantity } from '@medplum/fhirtypes';
import type { News2Parameters, News2Risk } from '../pipeline/news2';

export interface StoredNews2 {
  readonly total: number;
  readonly risk: News2Risk;
  readonly parameters: News2Parameters;
}

/** One row of `observations` as the read API sees it (values already normalised by the processor). */
export interface StoredObservation {
  readonly eventId: string;
  readonly observedAt: Date;
  /** HMAC-SHA256 pseudonym, 64 lowercase hex characters. */
  readonly patientPseudonym: string;
  readonly deviceId: string;
  readonly facilityId: string;
  readonly pulse: number | null;
  readonly respirationRate: number | null;
  readonly spo2: number | null;
  readonly spo2Scale: 1 | 2 | null;
  readonly onSupplementalOxygen: boolean | null;
  readonly systolicBp: number | null;
  readonly diastolicBp: number | null;
  readonly temperatureC: number | null;
  readonly consciousness: string | null;
  readonly storedAt: Date;
  readonly news2: StoredNews2 | null;
}

export const LOINC = 'http://loinc.org';
export const SNOMED = 'http://snomed.info/sct';
export const UCUM = 'http://unitsofmeasure.org';
export const OBSERVATION_CATEGORY = 'http://terminology.hl7.org/CodeSystem/observation-category';
export const DATA_ABSENT_REASON = 'http://terminology.hl7.org/CodeSystem/data-absent-reason';
/** Identifier systems of this pipeline (logical, not resolvable). */
export const DEVICE_ID_SYSTEM = 'https://vitals-pipeline.example/fhir/sid/device-id';
export const EVENT_ID_SYSTEM = 'https://vitals-pipeline.example/fhir/sid/event-id';
export const FACILITY_ID_SYSTEM = 'https://vitals-pipeline.example/fhir/sid/facility-id';

const PROFILE = (name: string): string => `http://hl7.org/fhir/StructureDefinition/${name}`;

/** The resources one row can yield, in the order a search lists them. */
export const OBSERVATION_KINDS = ['heart-rate', 'respiratory-rate', 'oxygen-saturation', 'blood-pressure', 'body-temperature', 'news2'] as const;
export type ObservationKind = (typeof OBSERVATION_KINDS)[number];

interface KindSpec {
  /** Codes a `code=` search matches (system|code). */
  readonly codes: readonly string[];
  readonly category: 'vital-signs' | 'survey';
  /** The row has this resource (a SQL-side filter mirrors it: see observation-query.ts). */
  readonly present: (r: StoredObservation) => boolean;
}

export const KINDS: Readonly<Record<ObservationKind, KindSpec>> = {
  'heart-rate': { codes: [`${LOINC}|8867-4`], category: 'vital-signs', present: (r) => r.pulse !== null },
  'respiratory-rate': { codes: [`${LOINC}|9279-1`], category: 'vital-signs', present: (r) => r.respirationRate !== null },
  'oxygen-saturation': { codes: [`${LOINC}|2708-6`, `${LOINC}|59408-5`], category: 'vital-signs', present: (r) => r.spo2 !== null },
  'blood-pressure': { codes: [`${LOINC}|85354-9`, `${LOINC}|8480-6`, `${LOINC}|8462-4`], category: 'vital-signs', present: (r) => r.systolicBp !== null || r.diastolicBp !== null },
  'body-temperature': { codes: [`${LOINC}|8310-5`], category: 'vital-signs', present: (r) => r.temperatureC !== null },
  news2: { codes: [`${SNOMED}|1104051000000101`], category: 'survey', present: (r) => r.news2 !== null },
};

const VITAL_SIGNS_CATEGORY: CodeableConcept[] = [
  { coding: [{ system: OBSERVATION_CATEGORY, code: 'vital-signs', display: 'Vital Signs' }], text: 'Vital Signs' },
];
const SURVEY_CATEGORY: CodeableConcept[] = [{ coding: [{ system: OBSERVATION_CATEGORY, code: 'survey', display: 'Survey' }], text: 'Survey' }];

function loinc(code: string, display: string): CodeableConcept {
  return { coding: [{ system: LOINC, code, display }], text: display };
}

function quantity(value: number, unit: string, code: string): Quantity {
  return { value, unit, system: UCUM, code };
}

/** Decimals a JSON number should carry: the stored doubles after unit conversion, rounded for display. */
function round(x: number, decimals: number): number {
  const f = 10 ** decimals;
  return Math.round(x * f) / f;
}

export const observationId = (eventId: string, kind: ObservationKind): string => `${eventId}-${kind}`;

/** Parses `<event id>-<kind>` back; undefined for anything else. */
export function parseObservationId(id: string): { eventId: string; kind: ObservationKind } | undefined {
  const m = /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})-([a-z0-9-]+)$/.exec(id);
  if (!m || !(OBSERVATION_KINDS as readonly string[]).includes(m[2] as string)) return undefined;
  return { eventId: m[1] as string, kind: m[2] as ObservationKind };
}

function base(r: StoredObservation, kind: ObservationKind, profiles: readonly string[], code: CodeableConcept): Observation {
  return {
    resourceType: 'Observation',
    id: observationId(r.eventId, kind),
    ...(profiles.length > 0 ? { meta: { profile: [...profiles] } } : {}),
    identifier: [{ system: EVENT_ID_SYSTEM, value: `${r.eventId}/${kind}` }],
    status: 'final',
    category: KINDS[kind].category === 'vital-signs' ? VITAL_SIGNS_CATEGORY : SURVEY_CATEGORY,
    code,
    subject: { reference: `Patient/${r.patientPseudonym}` },
    effectiveDateTime: r.observedAt.toISOString(),
    issued: r.storedAt.toISOString(),
    device: { identifier: { system: DEVICE_ID_SYSTEM, value: r.deviceId }, display: r.deviceId },
  };
}

function vital(r: StoredObservation, kind: ObservationKind, profile: string, code: CodeableConcept, value: Quantity): Observation {
  return { ...base(r, kind, [PROFILE(profile)], code), valueQuantity: value };
}

const NEWS2_COMPONENTS: ReadonlyArray<readonly [keyof News2Parameters, string, string]> = [
  ['respirationRate', '1104301000000104', 'NEWS2 respiration rate score'],
  ['spo2', '1104311000000102', 'NEWS2 oxygen saturation scale 1 score'],
  ['onSupplementalOxygen', '1104331000000105', 'NEWS2 air or oxygen score'],
  ['systolicBp', '1104341000000101', 'NEWS2 systolic blood pressure score'],
  ['pulse', '1104351000000103', 'NEWS2 pulse score'],
  ['consciousness', '1104361000000100', 'NEWS2 consciousness score'],
  ['temperatureC', '1104371000000107', 'NEWS2 temperature score'],
];
const SPO2_SCALE2 = ['1104321000000108', 'NEWS2 oxygen saturation scale 2 score'] as const;

function news2Observation(r: StoredObservation, s: StoredNews2): Observation {
  const score = (value: number): Quantity => quantity(value, 'score', '{score}');
  const component: ObservationComponent[] = NEWS2_COMPONENTS.map(([key, code, display]) => {
    // The scale the scorer used is the latest stated one; a row stating scale 2 names it, else scale 1.
    const [c, d] = key === 'spo2' && r.spo2Scale === 2 ? SPO2_SCALE2 : [code, display];
    return { code: { coding: [{ system: SNOMED, code: c, display: d }], text: d }, valueQuantity: score(s.parameters[key]) };
  });
  return {
    ...base(r, 'news2', [], {
      coding: [{ system: SNOMED, code: '1104051000000101', display: 'Royal College of Physicians NEWS2 (National Early Warning Score 2) total score' }],
      text: 'NEWS2 total score',
    }),
    valueQuantity: score(s.total),
    interpretation: [{ text: `NEWS2 clinical risk: ${s.risk}` }],
    component,
  };
}

function bloodPressure(r: StoredObservation): Observation {
  const part = (code: string, display: string, value: number | null): ObservationComponent =>
    value === null
      ? { code: loinc(code, display), dataAbsentReason: { coding: [{ system: DATA_ABSENT_REASON, code: 'not-performed', display: 'Not Performed' }] } }
      : { code: loinc(code, display), valueQuantity: quantity(round(value, 1), 'mmHg', 'mm[Hg]') };
  return {
    ...base(r, 'blood-pressure', [PROFILE('bp')], loinc('85354-9', 'Blood pressure panel with all children optional')),
    component: [part('8480-6', 'Systolic blood pressure', r.systolicBp), part('8462-4', 'Diastolic blood pressure', r.diastolicBp)],
  };
}

/** The FHIR resource of one kind for a row, or undefined when the row has no value of that kind. */
export function observationOfKind(r: StoredObservation, kind: ObservationKind): Observation | undefined {
  if (!KINDS[kind].present(r)) return undefined;
  switch (kind) {
    case 'heart-rate':
      return vital(r, kind, 'heartrate', loinc('8867-4', 'Heart rate'), quantity(round(r.pulse as number, 1), 'beats/minute', '/min'));
    case 'respiratory-rate':
      return vital(r, kind, 'resprate', loinc('9279-1', 'Respiratory rate'), quantity(round(r.respirationRate as number, 1), 'breaths/minute', '/min'));
    case 'oxygen-saturation':
      return vital(
        r,
        kind,
        'oxygensat',
        {
          coding: [
            { system: LOINC, code: '2708-6', display: 'Oxygen saturation in Arterial blood' },
            { system: LOINC, code: '59408-5', display: 'Oxygen saturation in Arterial blood by Pulse oximetry' },
          ],
          text: 'SpO2 (pulse oximetry)',
        },
        quantity(round(r.spo2 as number, 1), '%', '%'),
      );
    case 'blood-pressure':
      return bloodPressure(r);
    case 'body-temperature':
      return vital(r, kind, 'bodytemp', loinc('8310-5', 'Body temperature'), quantity(round(r.temperatureC as number, 2), 'C', 'Cel'));
    case 'news2':
      return news2Observation(r, r.news2 as StoredNews2);
  }
}

/** Every resource a row yields, in OBSERVATION_KINDS order. */
export function toFhirObservations(r: StoredObservation): Observation[] {
  return OBSERVATION_KINDS.flatMap((k) => {
    const o = observationOfKind(r, k);
    return o ? [o] : [];
  });
}
