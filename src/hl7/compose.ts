/**
 * Composes IHE PCD-01 ORU^R01 messages the way a monitor gateway sends them (MSH with the PCD-01
 * profile id, PID, PV1, OBR, an MDS OBX carrying the device EUI-64, then one metric OBX per vital
 * with MDC code, MDC unit, result status R and OBX-14). Used by the local simulator, the benchmark
 * and the tests; the gateway itself only reads messages.
 */
import type { DeviceVitals } from '../schema';
import { escapeHl7 } from './fields';
import { formatHl7Time } from './hl7-time';

export interface ComposeInput {
  readonly controlId: string;
  /** MSH-3 namespace id (the device gateway's name). @default 'MONGW' */
  readonly sendingApplication?: string;
  /** MSH-4 and PV1-3.4. */
  readonly facility: string;
  readonly patientId: string;
  /** OBX-18 of the MDS: the monitor's identifier (EUI-64 on real monitors). */
  readonly deviceId: string;
  readonly observedAt: Date;
  readonly vitals: DeviceVitals;
  /** Further OBX lines after the vitals, without the set id (e.g. an unsupported code). */
  readonly extraObx?: readonly string[];
  /** MSH-7. @default observedAt */
  readonly messageTime?: Date;
}

interface MetricSpec {
  readonly code: string;
  readonly unit: (u: string) => string;
  readonly subId: string;
}

const MDC_UNITS: Readonly<Record<string, string>> = {
  bpm: '264864^MDC_DIM_BEAT_PER_MIN^MDC',
  'breaths/min': '264928^MDC_DIM_RESP_PER_MIN^MDC',
  '%': '262688^MDC_DIM_PERCENT^MDC',
  mmHg: '266016^MDC_DIM_MMHG^MDC',
  kPa: '265987^MDC_DIM_KILO_PASCAL^MDC',
  Cel: '268192^MDC_DIM_DEGC^MDC',
  '[degF]': '266560^MDC_DIM_FAHR^MDC',
};
const unit = (u: string): string => MDC_UNITS[u] ?? '';

const METRICS: ReadonlyArray<readonly [keyof DeviceVitals, MetricSpec]> = [
  ['pulse', { code: '147842^MDC_ECG_HEART_RATE^MDC', unit, subId: '1.1.1.1' }],
  ['respirationRate', { code: '151562^MDC_RESP_RATE^MDC', unit, subId: '1.1.2.1' }],
  ['spo2', { code: '150456^MDC_PULS_OXIM_SAT_O2^MDC', unit, subId: '1.2.1.1' }],
  ['systolicBp', { code: '150021^MDC_PRESS_BLD_NONINV_SYS^MDC', unit, subId: '1.3.1.1' }],
  ['diastolicBp', { code: '150022^MDC_PRESS_BLD_NONINV_DIA^MDC', unit, subId: '1.3.1.2' }],
  ['temperature', { code: '150364^MDC_TEMP_BODY^MDC', unit, subId: '1.4.1.1' }],
];

export const PCD01_PROFILE = 'IHE_PCD_001^IHE PCD^1.3.6.1.4.1.19376.1.6.1.1.1^ISO';

export function composePcd01(input: ComposeInput): string {
  const app = escapeHl7(input.sendingApplication ?? 'MONGW');
  const facility = escapeHl7(input.facility);
  const time = formatHl7Time(input.observedAt);
  const device = escapeHl7(input.deviceId);
  const lines = [
    `MSH|^~\\&|${app}|${facility}|VITALS|${facility}|${formatHl7Time(input.messageTime ?? input.observedAt)}||ORU^R01^ORU_R01|${escapeHl7(input.controlId)}|P|2.6|||NE|AL||UNICODE UTF-8|||${PCD01_PROFILE}`,
    `PID|||${escapeHl7(input.patientId)}^^^${facility}^MR`,
    `PV1||I|WARD^^^${facility}`,
    `OBR|1|${escapeHl7(input.controlId)}^${app}^${device}^EUI-64|${escapeHl7(input.controlId)}^${app}^${device}^EUI-64|182777000^monitoring of patient^SCT|||${time}`,
    `OBX|1||69965^MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS^MDC|1.0.0.0|||||||X|||||||${device}^EUI-64`,
  ];
  let setId = 2;
  for (const [key, spec] of METRICS) {
    const m = input.vitals[key] as { value: number; unit: string } | undefined;
    if (!m) continue;
    lines.push(`OBX|${setId++}|NM|${spec.code}|${spec.subId}|${m.value}|${spec.unit(m.unit)}|||||R|||${time}`);
  }
  for (const extra of input.extraObx ?? []) lines.push(`OBX|${setId++}|${extra}`);
  return lines.join('\r');
}
