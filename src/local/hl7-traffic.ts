/**
 * The simulator's HL7 traffic, as pure functions: a share of the slots travels as IHE PCD-01 ORU^R01
 * over MLLP (as a monitor vendor's gateway sends it) instead of JSON, malformed ones included, each
 * kind with the acknowledgement the gateway must answer:
 * - `valid`: AA, stored under the event id the gateway derives (UUID v5 of sender and control id);
 * - `duplicate`: an accepted message resent unchanged (same control id, as after a lost ACK): AA, stored once;
 * - `impossible`: a heart rate of 400 bpm: AE (outside the pipeline's physiological range);
 * - `schema-invalid`: a non-numeric OBX-5: AE;
 * - `undecodable`: a frame that is not HL7: AR.
 * PCD-01 carries no consciousness or oxygen delivery: those readings stay on the JSON side.
 */
import { composePcd01 } from '../hl7/compose';
import { eventIdFor } from '../hl7/prepare';
import type { DeviceEvent } from '../schema';
import type { SlotKind } from './traffic';

/** MSH-3 of the simulated monitor gateway. */
export const HL7_SENDING_APPLICATION = 'SIMGW';

export type Hl7Expectation = 'AA' | 'AE' | 'AR';

export const HL7_EXPECTED_ACK: Readonly<Record<SlotKind, Hl7Expectation>> = {
  valid: 'AA',
  duplicate: 'AA',
  impossible: 'AE',
  'schema-invalid': 'AE',
  undecodable: 'AR',
};

export interface Hl7Slot {
  readonly kind: SlotKind;
  readonly controlId: string;
  readonly message: string;
  /** The event id the gateway derives for a valid message's one observation set. */
  readonly eventId?: string;
}

/** MSH-10: unique per run and sequence (a resend reuses it). */
export function hl7ControlId(runTag: string, seq: number): string {
  return `${runTag}-${seq}`;
}

function compose(event: DeviceEvent, controlId: string, vitals: DeviceEvent['vitals']): string {
  // Numeric metrics only: PCD-01 has no ACVPU, oxygen-delivery or SpO2-scale observation.
  const numeric = Object.fromEntries(
    Object.entries(vitals).filter(([k]) => ['pulse', 'respirationRate', 'spo2', 'systolicBp', 'diastolicBp', 'temperature'].includes(k)),
  ) as DeviceEvent['vitals'];
  return composePcd01({
    controlId,
    sendingApplication: HL7_SENDING_APPLICATION,
    facility: event.facilityId,
    patientId: event.patientId,
    deviceId: event.deviceId,
    observedAt: new Date(event.observedAt),
    vitals: numeric,
  });
}

/** The HL7 form of a slot (`event` is the slot's freshly generated reading). */
export function hl7Slot(kind: Exclude<SlotKind, 'duplicate'>, event: DeviceEvent, controlId: string): Hl7Slot {
  switch (kind) {
    case 'valid':
      return {
        kind,
        controlId,
        message: compose(event, controlId, event.vitals),
        eventId: eventIdFor({ sendingApplication: HL7_SENDING_APPLICATION, sendingFacility: event.facilityId, controlId }, 0),
      };
    case 'impossible':
      return { kind, controlId, message: compose(event, controlId, { ...event.vitals, pulse: { value: 400, unit: 'bpm' } }) };
    case 'schema-invalid': {
      const message = compose(event, controlId, { ...event.vitals, pulse: { value: 72, unit: 'bpm' } }).replace(/(\|147842\^MDC_ECG_HEART_RATE\^MDC\|[^|]*\|)72\|/, '$1seventy-two|');
      return { kind, controlId, message };
    }
    case 'undecodable':
      return { kind, controlId, message: `NOT-HL7 ${controlId}\rsome engine sent its log file here` };
  }
}
