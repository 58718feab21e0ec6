/**
 * Reads an IHE PCD-01 (Device Enterprise Communication) ORU^R01 message into observation sets, one
 * per (patient, device, observation time): the shape of our `DeviceEvent`. Pure: text in, sets and
 * issues out.
 *
 * Message structure read (HL7 v2.6 ORU^R01 as profiled by PCD-01; other segments are skipped):
 *
 *   MSH  header: MSH-3/4 sender, MSH-9 ORU^R01, MSH-10 control id, MSH-11 processing id, MSH-12 version
 *   { PID   patient: PID-3 identifier list (the MR repetition, else PI, else the first)
 *     [PV1] location: PV1-3.4 facility
 *     { OBR  OBR-3 filler order number (device EUI-64 in EI.3), OBR-7 observation time
 *       { OBX  OBX-3 code, OBX-4 sub-id (MDS.VMD.CHANNEL.METRIC), OBX-5 value, OBX-6 units,
 *              OBX-11 result status, OBX-14 observation time, OBX-18 equipment instance id } } }
 *
 * Device identifier of a metric: OBX-18 of its MDS (the OBX whose sub-id is `n.0.0.0` in the same
 * OBR), else its own OBX-18, else OBR-3's universal id, else MSH-3's universal id.
 * Observation time: OBX-14, else OBR-7. Facility: PV1-3.4, else MSH-4.
 */
import { Hl7Message, type Hl7Segment } from '@medplum/core';
import type { DeviceVitals } from '../schema';
import { contractUnitFor, observationCodeFor, type BpSource, type CodedElement, type ObservationCode, type VitalParameter, VITALS_FIELD } from './codes';
import { component, repetitions, text } from './fields';
import { parseHl7Time } from './hl7-time';
import { issue, type ErrorLocation, type Issue } from './issues';

export interface MessageHeader {
  /** MSH-3 and MSH-4 as sent: with MSH-10 they name the message (event ids derive from them). */
  readonly sendingApplication: string;
  readonly sendingFacility: string;
  readonly receivingApplication: string;
  readonly receivingFacility: string;
  readonly controlId: string;
  /** MSH-9.1 / .2 */
  readonly messageType: string;
  readonly triggerEvent: string;
  readonly version: string;
  readonly processingId: string;
  /** MSH-15 / MSH-16 (HL7 table 0155: AL, NE, ER, SU; '' = original mode). */
  readonly acceptAckType: string;
  readonly applicationAckType: string;
}

export interface ObservationSet {
  readonly patientId: string;
  readonly deviceId: string;
  readonly facilityId: string;
  readonly observedAt: Date;
  readonly vitals: DeviceVitals;
  /** The OBX each vitals field came from, so a rule the event breaks can be pointed back at it. */
  readonly sources: Readonly<Partial<Record<keyof DeviceVitals, ErrorLocation>>>;
}

export interface ReadCounts {
  /** OBX segments carrying a value (device-hierarchy OBXs excluded). */
  readonly observations: number;
  /** OBXs whose value went into an observation set. */
  readonly mapped: number;
  /** OBXs of a supported parameter that a better-ranked code of the same set replaced. */
  readonly superseded: number;
  /** OBXs with a code this pipeline does not store. */
  readonly unsupported: number;
  /** OBXs not stored because of their result status (X, D, W, ...). */
  readonly statusSkipped: number;
}

export interface ReadResult {
  /** Absent when not even the header could be read. */
  readonly header?: MessageHeader;
  readonly sets: readonly ObservationSet[];
  /** Errors (E) make the message fail; warnings (W) and information (I) go into an AA too. */
  readonly issues: readonly Issue[];
  /** True when the header itself is unacceptable (reject, AR), not the content (error, AE). */
  readonly headerRejected: boolean;
  readonly counts: ReadCounts;
}

export interface ReadOptions {
  /** IANA zone for times sent without a UTC offset; without one such times are errors. */
  readonly localTimeZone?: string;
  /** @default 100 */
  readonly maxSetsPerMessage?: number;
}

export const DEFAULT_MAX_SETS_PER_MESSAGE = 100;
/** ERR segments in one ACK at most: enough to fix a message, bounded for a hostile one. */
export const MAX_ISSUES = 40;
/** Unsupported codes named individually in an ACK (the rest are counted in one line). */
export const MAX_LISTED_CODES = 20;

/** HL7 table 0085 result statuses whose value is a result to store. '' (not sent) is accepted too. */
const STORED_STATUSES = new Set(['F', 'R', 'C', 'P', 'A', 'U', 'S', '']);
/** Statuses meaning "no valid result here": skipped, reported as information. */
const SKIPPED_STATUSES: Readonly<Record<string, string>> = {
  X: 'cannot be obtained',
  D: 'deleted',
  W: 'wrong (posted in error)',
  N: 'not asked',
  I: 'pending',
  O: 'order detail only',
};
const PARAMETER_LABEL: Readonly<Record<VitalParameter, string>> = {
  pulse: 'heart/pulse rate',
  respirationRate: 'respiration rate',
  spo2: 'SpO2',
  systolicBp: 'systolic blood pressure',
  diastolicBp: 'diastolic blood pressure',
  temperature: 'body temperature',
};

const HL7_NUMERIC = /^[+-]?(\d+(\.\d*)?|\.\d+)$/;
const HIERARCHY_SUB_ID = /^\d+(\.0)+$/;
const MDS_SUB_ID = /^(\d+)\.0\.0\.0$/;
const PATIENT_ID = /^[A-Za-z0-9][A-Za-z0-9-]{0,63}$/;
const SUPPORTED_VERSION = /^2\.[3-9](\.\d+)?$/;
/** A code echoed in an ACK only when it looks like a code (MDC numbers, LOINC, reference ids). */
const ECHOABLE_CODE = /^[A-Za-z0-9_.-]{1,40}$/;

/** Device and facility identifiers: the contract's character set; other characters become '_'. */
export function contractIdentifier(raw: string, allowColon: boolean): string | undefined {
  const cleaned = raw.trim().replace(allowColon ? /[^A-Za-z0-9._:-]+/g : /[^A-Za-z0-9._-]+/g, '_').replace(/^[^A-Za-z0-9]+/, '');
  return cleaned.length > 0 && cleaned.length <= 64 ? cleaned : undefined;
}

interface Candidate {
  readonly code: ObservationCode;
  readonly value: number;
  readonly unit: string;
  readonly location: ErrorLocation;
}

interface SetBuilder {
  readonly patientId: string;
  readonly deviceId: string;
  readonly facilityId: string;
  readonly observedAt: Date;
  readonly single: Map<VitalParameter, Candidate>;
  readonly bp: Map<BpSource, { systolic?: Candidate; diastolic?: Candidate; rank: number }>;
  superseded: number;
}

function readHeader(msh: Hl7Segment): MessageHeader {
  const whole = (i: number): string => msh.getField(i)?.toString() ?? '';
  return {
    sendingApplication: whole(3),
    sendingFacility: whole(4),
    receivingApplication: whole(5),
    receivingFacility: whole(6),
    controlId: text(msh, 10),
    messageType: component(msh, 9, 1),
    triggerEvent: component(msh, 9, 2),
    version: component(msh, 12, 1),
    processingId: component(msh, 11, 1),
    acceptAckType: text(msh, 15),
    applicationAckType: text(msh, 16),
  };
}

/** The header of a message whose body is unusable (an oversize frame's head): for the reject ACK. */
export function readMessageHeader(raw: string): MessageHeader | undefined {
  const first = raw.replace(/^\uFEFF/, '').replace(/^[\r\n\s]+/, '').split(/\r|\n/)[0] ?? '';
  if (!first.startsWith('MSH') || first.length < 9) return undefined;
  try {
    return readHeader(Hl7Message.parse(first).segments[0] as Hl7Segment);
  } catch {
    return undefined;
  }
}

function headerIssues(h: MessageHeader): Issue[] {
  const at = (field: number): ErrorLocation => ({ segment: 'MSH', sequence: 1, field });
  const out: Issue[] = [];
  if (!h.controlId) out.push(issue('E', 'requiredFieldMissing', 'bad-header', 'MSH-10 message control id is required', at(10)));
  else if (h.controlId.length > 199) out.push(issue('E', 'dataTypeError', 'bad-header', 'MSH-10 message control id must be at most 199 characters', at(10)));
  if (h.messageType !== 'ORU') out.push(issue('E', 'unsupportedMessageType', 'unsupported-message', 'MSH-9 message type must be ORU (IHE PCD-01 ORU^R01)', at(9)));
  else if (h.triggerEvent !== 'R01') out.push(issue('E', 'unsupportedEventCode', 'unsupported-message', 'MSH-9 trigger event must be R01 (IHE PCD-01 ORU^R01)', at(9)));
  if (!SUPPORTED_VERSION.test(h.version)) out.push(issue('E', 'unsupportedVersionId', 'unsupported-version', 'MSH-12 version must be 2.3 to 2.9 (IHE PCD-01 uses 2.6)', at(12)));
  if (h.processingId === 'T') {
    out.push(issue('E', 'unsupportedProcessingId', 'unsupported-processing-id', 'MSH-11 processing id T (training) is not accepted into clinical storage; send P', at(11)));
  } else if (!['P', 'D', ''].includes(h.processingId)) {
    out.push(issue('E', 'unsupportedProcessingId', 'unsupported-processing-id', 'MSH-11 processing id must be P (or D)', at(11)));
  }
  return out;
}

function coded(seg: Hl7Segment, index: number): CodedElement {
  return {
    identifier: component(seg, index, 1).trim(),
    text: component(seg, index, 2).trim(),
    system: component(seg, index, 3).trim(),
    altIdentifier: component(seg, index, 4).trim(),
    altText: component(seg, index, 5).trim(),
    altSystem: component(seg, index, 6).trim(),
  };
}

/** PID-3: the repetition typed MR (medical record number), else PI (patient internal id), else the first. */
function patientIdentifier(pid: Hl7Segment): string {
  const n = repetitions(pid, 3);
  let first = '';
  let byType: Record<string, string> = {};
  for (let r = 0; r < n; r++) {
    const id = component(pid, 3, 1, undefined, r).trim();
    if (!id) continue;
    first ||= id;
    const type = component(pid, 3, 5, undefined, r).trim().toUpperCase();
    if (type && !byType[type]) byType = { ...byType, [type]: id };
  }
  return byType.MR ?? byType.PI ?? first;
}

export function readPcd01(raw: string, options: ReadOptions = {}): ReadResult {
  const emptyCounts: ReadCounts = { observations: 0, mapped: 0, superseded: 0, unsupported: 0, statusSkipped: 0 };
  const textIn = raw.replace(/^\uFEFF/, '').replace(/^[\r\n\s]+/, '').replace(/\r\n|\n/g, '\r');
  if (!textIn.startsWith('MSH') || textIn.length < 9) {
    return { sets: [], issues: [issue('E', 'segmentSequenceError', 'not-hl7', 'the message must start with an MSH segment', { segment: 'MSH', sequence: 1 })], headerRejected: true, counts: emptyCounts };
  }
  let message: Hl7Message;
  try {
    message = Hl7Message.parse(textIn);
  } catch {
    return { sets: [], issues: [issue('E', 'segmentSequenceError', 'not-hl7', 'the message is not parseable HL7 v2', { segment: 'MSH', sequence: 1 })], headerRejected: true, counts: emptyCounts };
  }
  const msh = message.segments[0] as Hl7Segment;
  const header = readHeader(msh);
  const rejected = headerIssues(header);
  if (rejected.length > 0) return { header, sets: [], issues: rejected, headerRejected: true, counts: emptyCounts };

  const issues: Issue[] = [];
  const maxSets = options.maxSetsPerMessage ?? DEFAULT_MAX_SETS_PER_MESSAGE;
  const occurrence = new Map<string, number>();
  const sets = new Map<string, SetBuilder>();
  const unsupported = new Map<string, { count: number; first: ErrorLocation; name: string }>();
  const skippedByStatus = new Map<string, number>();
  let observations = 0;
  let mapped = 0;
  let obxSegments = 0;

  const mshFacility = component(msh, 4, 1) || component(msh, 4, 2);
  const mshDevice = component(msh, 3, 2);
  let patient: { id: string; location: ErrorLocation } | undefined;
  let facility: string | undefined;
  let obr: { time: string; timeLocation: ErrorLocation; device: string; mds: Map<string, string> } | undefined;

  const addError = (i: Issue): void => {
    if (issues.length < MAX_ISSUES) issues.push(i);
  };

  for (const seg of message.segments.slice(1)) {
    const sequence = (occurrence.get(seg.name) ?? 0) + 1;
    occurrence.set(seg.name, sequence);
    if (seg.name === 'PID') {
      patient = { id: patientIdentifier(seg), location: { segment: 'PID', sequence, field: 3 } };
      facility = undefined;
      obr = undefined;
    } else if (seg.name === 'PV1') {
      facility = component(seg, 3, 4, 1) || component(seg, 3, 4);
    } else if (seg.name === 'OBR') {
      obr = { time: text(seg, 7), timeLocation: { segment: 'OBR', sequence, field: 7 }, device: component(seg, 3, 3), mds: new Map() };
    } else if (seg.name === 'OBX') {
      obxSegments++;
      const loc = (field?: number): ErrorLocation => ({ segment: 'OBX', sequence, ...(field ? { field } : {}) });
      const subId = text(seg, 4).trim();
      const value = component(seg, 5, 1).trim();
      const equipment = component(seg, 18, 1).trim();
      if (HIERARCHY_SUB_ID.test(subId) && value === '') {
        const mds = MDS_SUB_ID.exec(subId);
        if (mds && equipment && obr) obr.mds.set(mds[1] as string, equipment);
        continue;
      }
      if (value === '' && !observationCodeFor(coded(seg, 3))) continue; // a setting or label without a value
      observations++;
      const code = coded(seg, 3);
      const supported = observationCodeFor(code);
      if (!supported) {
        const key = ECHOABLE_CODE.test(code.identifier) ? code.identifier : ECHOABLE_CODE.test(code.text) ? code.text : '(unprintable code)';
        const name = ECHOABLE_CODE.test(code.text) && code.text !== key ? code.text : '';
        const u = unsupported.get(key);
        if (u) u.count++;
        else unsupported.set(key, { count: 1, first: loc(3), name });
        continue;
      }
      const status = text(seg, 11).trim().toUpperCase();
      if (SKIPPED_STATUSES[status] !== undefined) {
        skippedByStatus.set(status, (skippedByStatus.get(status) ?? 0) + 1);
        continue;
      }
      const label = PARAMETER_LABEL[supported.parameter];
      const problems: Issue[] = [];
      if (!STORED_STATUSES.has(status)) problems.push(issue('E', 'tableValueNotFound', 'bad-status', 'OBX-11 result status must be an HL7 table 0085 code', loc(11)));
      let numeric = Number.NaN;
      if (value === '') problems.push(issue('E', 'requiredFieldMissing', 'bad-value', `OBX-5 ${label} value is empty for a result that is not marked X (cannot be obtained)`, loc(5)));
      else if (!HL7_NUMERIC.test(value)) problems.push(issue('E', 'dataTypeError', 'bad-value', `OBX-5 ${label} value must be a number (NM)`, loc(5)));
      else numeric = Number(value);
      const unitCode = coded(seg, 6);
      const unit = contractUnitFor(supported.parameter, unitCode);
      if (!unit) {
        problems.push(
          unitCode.identifier || unitCode.text
            ? issue('E', 'tableValueNotFound', 'bad-unit', `OBX-6 unit is not a supported unit of ${label}`, loc(6))
            : issue('E', 'requiredFieldMissing', 'bad-unit', `OBX-6 unit of ${label} is required`, loc(6)),
        );
      }
      const ownTime = text(seg, 14).trim();
      const timeText = ownTime || obr?.time.trim() || '';
      let observedAt: Date | undefined;
      if (!timeText) {
        problems.push(issue('E', 'requiredFieldMissing', 'bad-time', 'OBX-14 or OBR-7 observation time is required', loc(14)));
      } else {
        const t = parseHl7Time(timeText, ownTime ? 'OBX-14' : 'OBR-7', options.localTimeZone);
        if (t.ok) observedAt = t.instant;
        else problems.push(issue('E', 'dataTypeError', 'bad-time', t.message, ownTime ? loc(14) : obr?.timeLocation));
      }
      if (!patient || !patient.id) {
        problems.push(issue('E', 'requiredFieldMissing', 'no-patient', 'PID-3 patient identifier is required (a monitor not admitted to a patient cannot be stored)', patient?.location ?? { segment: 'PID', sequence: 1, field: 3 }));
      } else if (!PATIENT_ID.test(patient.id)) {
        problems.push(issue('E', 'dataTypeError', 'bad-patient-id', 'PID-3 patient identifier must be 1 to 64 letters, digits or hyphens', patient.location));
      }
      const mdsNumber = subId.split('.')[0] ?? '';
      const deviceRaw = obr?.mds.get(mdsNumber) || equipment || obr?.device || mshDevice;
      const deviceId = deviceRaw ? contractIdentifier(deviceRaw, true) : undefined;
      if (!deviceId) {
        problems.push(
          deviceRaw
            ? issue('E', 'dataTypeError', 'no-device', 'OBX-18 equipment identifier must have 1 to 64 usable characters', loc(18))
            : issue('E', 'requiredFieldMissing', 'no-device', 'a device identifier is required: OBX-18 (of the metric or its MDS), OBR-3 or MSH-3 universal id', loc(18)),
        );
      }
      const facilityRaw = facility || mshFacility;
      const facilityId = facilityRaw ? contractIdentifier(facilityRaw, false) : undefined;
      if (!facilityId) problems.push(issue('E', 'requiredFieldMissing', 'no-facility', 'a facility is required: PV1-3.4 or MSH-4', { segment: 'MSH', sequence: 1, field: 4 }));
      if (problems.length > 0) {
        problems.forEach(addError);
        continue;
      }
      mapped++;
      const key = `${patient?.id}\u0000${deviceId}\u0000${observedAt?.getTime()}`;
      let set = sets.get(key);
      if (!set) {
        if (sets.size >= maxSets) {
          addError(issue('E', 'applicationInternalError', 'too-many-sets', `the message holds more than ${maxSets} observation sets (patient, device, time)`, loc()));
          continue;
        }
        set = { patientId: patient?.id as string, deviceId: deviceId as string, facilityId: facilityId as string, observedAt: observedAt as Date, single: new Map(), bp: new Map(), superseded: 0 };
        sets.set(key, set);
      }
      addCandidate(set, { code: supported, value: numeric, unit: unit as string, location: loc(5) });
    }
  }

  if (obxSegments === 0) addError(issue('E', 'requiredFieldMissing', 'no-observation', 'the message has no OBX segment', { segment: 'OBX', sequence: 1 }));

  const built = [...sets.values()].map(buildSet);
  const superseded = [...sets.values()].reduce((n, s) => n + s.superseded, 0);
  const unsupportedCount = [...unsupported.values()].reduce((n, u) => n + u.count, 0);
  const statusSkipped = [...skippedByStatus.values()].reduce((a, b) => a + b, 0);
  const hasErrors = issues.some((i) => i.severity === 'E');
  if (!hasErrors && built.length === 0 && obxSegments > 0 && statusSkipped === 0) {
    addError(issue('E', 'tableValueNotFound', 'no-observation', unsupportedCount > 0
      ? `no supported observation in the message (${unsupportedCount} with unsupported codes)`
      : 'no observation with a value in the message', { segment: 'OBX', sequence: 1 }));
  }

  // Warnings and information after the errors (an ACK lists errors first).
  let listed = 0;
  for (const [code, u] of unsupported) {
    if (listed >= MAX_LISTED_CODES) break;
    listed++;
    addError(issue('W', 'tableValueNotFound', 'unsupported-code',
      `observation code ${code}${u.name ? ` (${u.name})` : ''} is not stored by this gateway: ${u.count} OBX`, u.first));
  }
  if (unsupported.size > listed) {
    const rest = [...unsupported.values()].slice(listed).reduce((n, u) => n + u.count, 0);
    addError(issue('W', 'tableValueNotFound', 'unsupported-code', `${unsupported.size - listed} further unsupported codes not listed: ${rest} OBX`));
  }
  for (const [status, n] of skippedByStatus) {
    addError(issue('I', 'tableValueNotFound', 'status-skipped', `${n} OBX not stored: result status ${status} (${SKIPPED_STATUSES[status]})`));
  }

  return {
    header,
    sets: built,
    issues,
    headerRejected: false,
    counts: { observations, mapped: mapped - superseded, superseded, unsupported: unsupportedCount, statusSkipped },
  };
}

function addCandidate(set: SetBuilder, c: Candidate): void {
  const source = c.code.bpSource;
  if (source) {
    const slot = set.bp.get(source) ?? { rank: c.code.rank };
    const key = c.code.parameter === 'systolicBp' ? 'systolic' : 'diastolic';
    if (slot[key]) set.superseded++;
    else slot[key] = c;
    slot.rank = Math.min(slot.rank, c.code.rank);
    set.bp.set(source, slot);
    return;
  }
  const current = set.single.get(c.code.parameter);
  if (current && current.code.rank <= c.code.rank) {
    set.superseded++;
    return;
  }
  if (current) set.superseded++;
  set.single.set(c.code.parameter, c);
}

function buildSet(b: SetBuilder): ObservationSet {
  const vitals: Record<string, unknown> = {};
  const sources: Partial<Record<keyof DeviceVitals, ErrorLocation>> = {};
  for (const [parameter, c] of b.single) {
    const fieldName = VITALS_FIELD[parameter];
    vitals[fieldName] = { value: c.value, unit: c.unit };
    sources[fieldName] = c.location;
  }
  // One blood-pressure source: the best-ranked one with a systolic, else the best with a diastolic.
  const sourcesByRank = [...b.bp.values()].sort((x, y) => x.rank - y.rank);
  const chosen = sourcesByRank.find((s) => s.systolic) ?? sourcesByRank[0];
  for (const s of sourcesByRank) {
    if (s === chosen) continue;
    b.superseded += (s.systolic ? 1 : 0) + (s.diastolic ? 1 : 0);
  }
  if (chosen?.systolic) {
    vitals.systolicBp = { value: chosen.systolic.value, unit: chosen.systolic.unit };
    sources.systolicBp = chosen.systolic.location;
  }
  if (chosen?.diastolic) {
    vitals.diastolicBp = { value: chosen.diastolic.value, unit: chosen.diastolic.unit };
    sources.diastolicBp = chosen.diastolic.location;
  }
  return {
    patientId: b.patientId,
    deviceId: b.deviceId,
    facilityId: b.facilityId,
    observedAt: b.observedAt,
    vitals: vitals as DeviceVitals,
    sources,
  };
}
