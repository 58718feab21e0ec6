/**
 * What the gateway reports back to a sender, in HL7 terms: an ERR segment per issue (HL7 table 0357
 * condition code, severity, error location) with a message of ours. Messages name fields and rules,
 * never the values received: an ACK travels back through interface engines that log it.
 */

/** HL7 table 0357 (message error condition codes) entries the gateway uses. */
export const CONDITIONS = {
  segmentSequenceError: { code: '100', text: 'Segment sequence error' },
  requiredFieldMissing: { code: '101', text: 'Required field missing' },
  dataTypeError: { code: '102', text: 'Data type error' },
  tableValueNotFound: { code: '103', text: 'Table value not found' },
  unsupportedMessageType: { code: '200', text: 'Unsupported message type' },
  unsupportedEventCode: { code: '201', text: 'Unsupported event code' },
  unsupportedProcessingId: { code: '202', text: 'Unsupported processing id' },
  unsupportedVersionId: { code: '203', text: 'Unsupported version id' },
  applicationInternalError: { code: '207', text: 'Application internal error' },
} as const;

export type Condition = keyof typeof CONDITIONS;

/** ERR-4 severity (HL7 table 0516): E error, W warning, I information. */
export type Severity = 'E' | 'W' | 'I';

/** ERR-2 error location (ERL): the segment, its occurrence in the message (1-based), a field and component. */
export interface ErrorLocation {
  readonly segment: string;
  readonly sequence: number;
  readonly field?: number;
  readonly component?: number;
}

/**
 * Our own reason (ERR-5, application error code, coding system `L` local), stable for senders' rules
 * and for metrics; one per kind of problem.
 */
export type Reason =
  | 'not-hl7'
  | 'oversize'
  | 'bad-header'
  | 'unsupported-message'
  | 'unsupported-version'
  | 'unsupported-processing-id'
  | 'no-patient'
  | 'bad-patient-id'
  | 'no-device'
  | 'no-facility'
  | 'no-observation'
  | 'bad-value'
  | 'bad-unit'
  | 'bad-time'
  | 'bad-status'
  | 'out-of-range'
  | 'future-time'
  | 'unsupported-code'
  | 'status-skipped'
  | 'stream-unavailable'
  | 'too-many-sets';

export interface Issue {
  readonly severity: Severity;
  readonly condition: Condition;
  readonly reason: Reason;
  readonly message: string;
  readonly location?: ErrorLocation;
}

export function issue(severity: Severity, condition: Condition, reason: Reason, message: string, location?: ErrorLocation): Issue {
  return { severity, condition, reason, message, ...(location ? { location } : {}) };
}

export const isError = (i: Issue): boolean => i.severity === 'E';
