/**
 * The observation codes and units the gateway maps to a `DeviceEvent`: ISO/IEEE 11073-10101 (MDC)
 * terms as IHE PCD-01 sends them (numeric code = partition * 2^16 + term code, e.g. SCADA partition 2:
 * 131072 + 16770 = 147842 MDC_ECG_HEART_RATE), and the LOINC codes integration engines substitute.
 * Units: MDC dimension terms (partition 4) or UCUM.
 *
 * Several codes can carry one parameter (an ECG heart rate and a pulse-oximeter pulse rate in the
 * same message): the lowest `rank` wins, so the choice is deterministic. Blood pressure is chosen per
 * source (non-invasive cuff, arterial line) so that a systolic and a diastolic always come from the
 * same measurement.
 */
import type { DeviceVitals } from '../schema';

/** The numeric vitals of the event contract (consciousness and oxygen are not device metrics). */
export type VitalParameter = 'pulse' | 'respirationRate' | 'spo2' | 'systolicBp' | 'diastolicBp' | 'temperature';
export type BpSource = 'noninvasive' | 'arterial';

export interface ObservationCode {
  /** MDC numeric code, or the LOINC code. */
  readonly code: string;
  readonly system: 'MDC' | 'LOINC';
  /** MDC reference id (or the LOINC long common name), as shown in docs and ACKs. */
  readonly name: string;
  readonly parameter: VitalParameter;
  /** Among codes for one parameter in one observation set, the lowest rank is stored. */
  readonly rank: number;
  readonly bpSource?: BpSource;
}

const mdc = (code: number, name: string, parameter: VitalParameter, rank: number, bpSource?: BpSource): ObservationCode => ({
  code: String(code), system: 'MDC', name, parameter, rank, ...(bpSource ? { bpSource } : {}),
});
const loinc = (code: string, name: string, parameter: VitalParameter, rank: number, bpSource?: BpSource): ObservationCode => ({
  code, system: 'LOINC', name, parameter, rank, ...(bpSource ? { bpSource } : {}),
});

export const OBSERVATION_CODES: readonly ObservationCode[] = [
  // Heart/pulse rate: ECG first (the most reliable rate), then pulse oximetry, then the cuff.
  mdc(147842, 'MDC_ECG_HEART_RATE', 'pulse', 1),
  mdc(149530, 'MDC_PULS_OXIM_PULS_RATE', 'pulse', 2),
  mdc(149514, 'MDC_PULS_RATE', 'pulse', 3),
  mdc(149546, 'MDC_PULS_RATE_NON_INV', 'pulse', 4),
  mdc(149522, 'MDC_BLD_PULS_RATE_INV', 'pulse', 5),
  loinc('8867-4', 'Heart rate', 'pulse', 6),
  // Respiration rate: the monitor's primary value, then capnography, airway flow, impedance, pleth.
  mdc(151562, 'MDC_RESP_RATE', 'respirationRate', 1),
  mdc(151594, 'MDC_CO2_RESP_RATE', 'respirationRate', 2),
  mdc(151570, 'MDC_AWAY_RESP_RATE', 'respirationRate', 3),
  mdc(151578, 'MDC_TTHOR_RESP_RATE', 'respirationRate', 4),
  mdc(151658, 'MDC_PULS_OXIM_PLETH_RESP_RATE', 'respirationRate', 5),
  loinc('9279-1', 'Respiratory rate', 'respirationRate', 6),
  // SpO2 (pulse oximetry only: an arterial blood-gas saturation is not SpO2).
  mdc(150456, 'MDC_PULS_OXIM_SAT_O2', 'spo2', 1),
  loinc('59408-5', 'Oxygen saturation in Arterial blood by Pulse oximetry', 'spo2', 2),
  loinc('2708-6', 'Oxygen saturation in Arterial blood', 'spo2', 3),
  // Blood pressure: cuff first (what NEWS2 is charted from), then an arterial line.
  mdc(150021, 'MDC_PRESS_BLD_NONINV_SYS', 'systolicBp', 1, 'noninvasive'),
  mdc(150022, 'MDC_PRESS_BLD_NONINV_DIA', 'diastolicBp', 1, 'noninvasive'),
  loinc('8480-6', 'Systolic blood pressure', 'systolicBp', 2, 'noninvasive'),
  loinc('8462-4', 'Diastolic blood pressure', 'diastolicBp', 2, 'noninvasive'),
  mdc(150033, 'MDC_PRESS_BLD_ART_SYS', 'systolicBp', 3, 'arterial'),
  mdc(150034, 'MDC_PRESS_BLD_ART_DIA', 'diastolicBp', 3, 'arterial'),
  // Body temperature at any core-representative site (skin and blood temperatures are not NEWS2 inputs).
  mdc(150364, 'MDC_TEMP_BODY', 'temperature', 1),
  mdc(150368, 'MDC_TEMP_CORE', 'temperature', 2),
  mdc(188424, 'MDC_TEMP_ORAL', 'temperature', 3),
  mdc(150392, 'MDC_TEMP_TYMP', 'temperature', 4),
  mdc(188428, 'MDC_TEMP_EAR', 'temperature', 5),
  mdc(188420, 'MDC_TEMP_RECT', 'temperature', 6),
  mdc(188452, 'MDC_TEMP_AXIL', 'temperature', 7),
  loinc('8310-5', 'Body temperature', 'temperature', 8),
];

/** Contract units per parameter (the `unit` values of device-event.v1.schema.json). */
export type ContractUnit = 'bpm' | 'breaths/min' | '%' | 'mmHg' | 'kPa' | 'Cel' | '[degF]';

export interface UnitCode {
  readonly mdcCode: number;
  readonly mdcName: string;
  /** UCUM codes senders use for the same unit. */
  readonly ucum: readonly string[];
  /** What the unit means for each parameter it may measure. */
  readonly contractUnit: Partial<Readonly<Record<VitalParameter, ContractUnit>>>;
}

export const UNIT_CODES: readonly UnitCode[] = [
  { mdcCode: 264864, mdcName: 'MDC_DIM_BEAT_PER_MIN', ucum: ['/min', '{beats}/min', '{beat}/min'], contractUnit: { pulse: 'bpm' } },
  { mdcCode: 264928, mdcName: 'MDC_DIM_RESP_PER_MIN', ucum: ['/min', '{breaths}/min', '{breath}/min', '{resp}/min'], contractUnit: { respirationRate: 'breaths/min' } },
  { mdcCode: 262688, mdcName: 'MDC_DIM_PERCENT', ucum: ['%'], contractUnit: { spo2: '%' } },
  { mdcCode: 266016, mdcName: 'MDC_DIM_MMHG', ucum: ['mm[Hg]'], contractUnit: { systolicBp: 'mmHg', diastolicBp: 'mmHg' } },
  { mdcCode: 265987, mdcName: 'MDC_DIM_KILO_PASCAL', ucum: ['kPa'], contractUnit: { systolicBp: 'kPa', diastolicBp: 'kPa' } },
  { mdcCode: 268192, mdcName: 'MDC_DIM_DEGC', ucum: ['Cel'], contractUnit: { temperature: 'Cel' } },
  { mdcCode: 266560, mdcName: 'MDC_DIM_FAHR', ucum: ['[degF]'], contractUnit: { temperature: '[degF]' } },
];

const BY_MDC_CODE = new Map(OBSERVATION_CODES.filter((c) => c.system === 'MDC').map((c) => [c.code, c]));
const BY_MDC_NAME = new Map(OBSERVATION_CODES.filter((c) => c.system === 'MDC').map((c) => [c.name, c]));
const BY_LOINC = new Map(OBSERVATION_CODES.filter((c) => c.system === 'LOINC').map((c) => [c.code, c]));
// MDC_ECG_CARD_BEAT_RATE is the 11073-10101a name of the same term (147842); some gateways send it.
BY_MDC_NAME.set('MDC_ECG_CARD_BEAT_RATE', BY_MDC_CODE.get('147842') as ObservationCode);

const MDC_SYSTEMS = new Set(['MDC', '']);
const LOINC_SYSTEMS = new Set(['LN', 'LOINC']);
const UCUM_SYSTEMS = new Set(['UCUM', '']);

/** A coded element as OBX-3 / OBX-6 carry it (CWE: identifier ^ text ^ coding system, plus an alternate triplet). */
export interface CodedElement {
  readonly identifier: string;
  readonly text: string;
  readonly system: string;
  readonly altIdentifier: string;
  readonly altText: string;
  readonly altSystem: string;
}

function lookupTriplet(identifier: string, text: string, system: string): ObservationCode | undefined {
  const sys = system.toUpperCase();
  if (MDC_SYSTEMS.has(sys)) {
    return BY_MDC_CODE.get(identifier) ?? BY_MDC_NAME.get(identifier) ?? BY_MDC_NAME.get(text);
  }
  if (LOINC_SYSTEMS.has(sys)) return BY_LOINC.get(identifier);
  return undefined;
}

/** The supported observation an OBX-3 names (primary triplet first, then the alternate one). */
export function observationCodeFor(e: CodedElement): ObservationCode | undefined {
  return lookupTriplet(e.identifier, e.text, e.system) ?? (e.altIdentifier || e.altText ? lookupTriplet(e.altIdentifier, e.altText, e.altSystem) : undefined);
}

function unitCandidates(identifier: string, text: string, system: string): UnitCode[] {
  const sys = system.toUpperCase();
  const out: UnitCode[] = [];
  if (sys === 'MDC' || sys === '') {
    out.push(...UNIT_CODES.filter((u) => String(u.mdcCode) === identifier || u.mdcName === identifier || (identifier === '' && u.mdcName === text)));
  }
  if (UCUM_SYSTEMS.has(sys)) out.push(...UNIT_CODES.filter((u) => u.ucum.includes(identifier)));
  return out;
}

/**
 * The contract unit an OBX-6 means for `parameter`, or undefined when it is not a unit of that
 * parameter. UCUM '/min' is a unit of both rates: the parameter decides what it means.
 */
export function contractUnitFor(parameter: VitalParameter, e: CodedElement): ContractUnit | undefined {
  const candidates = [
    ...unitCandidates(e.identifier, e.text, e.system),
    ...(e.altIdentifier ? unitCandidates(e.altIdentifier, e.altText, e.altSystem) : []),
  ];
  for (const u of candidates) {
    const unit = u.contractUnit[parameter];
    if (unit) return unit;
  }
  return undefined;
}

/** The field of DeviceVitals a parameter fills (temperature keeps its name). */
export const VITALS_FIELD: Readonly<Record<VitalParameter, keyof DeviceVitals>> = {
  pulse: 'pulse',
  respirationRate: 'respirationRate',
  spo2: 'spo2',
  systolicBp: 'systolicBp',
  diastolicBp: 'diastolicBp',
  temperature: 'temperature',
};
