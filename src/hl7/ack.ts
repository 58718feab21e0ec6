/**
 * Acknowledgements (HL7 v2.6 ACK^R01^ACK: MSH, MSA, ERR*).
 *
 * Outcome to code: accepted (every observation set is on the stream) AA; content the gateway cannot
 * take (resending the same message will not help) AE; header unacceptable or the stream unavailable
 * (the sender should resend later, or the message is not for us) AR. ERR segments carry every issue:
 * errors first, then warnings (codes not stored) and information (results skipped by status).
 *
 * Acknowledgement modes (MSH-15 accept / MSH-16 application ack type, table 0155: AL always, NE
 * never, ER on error only, SU on success only): original mode (both empty) and IHE PCD-01 (NE/AL) get
 * one application ACK; a sender asking for accept acknowledgements gets CA/CE/CR, sent like AA only
 * after the stream accepted the records, so a commit ACK is as strong as an application ACK here.
 */
import { escapeHl7 } from './fields';
import { formatHl7Time } from './hl7-time';
import { CONDITIONS, type ErrorLocation, type Issue } from './issues';
import type { MessageHeader } from './pcd01';

export type Outcome = 'accepted' | 'error' | 'rejected';
export type AckCode = 'AA' | 'AE' | 'AR' | 'CA' | 'CE' | 'CR';

const APPLICATION_CODES: Readonly<Record<Outcome, AckCode>> = { accepted: 'AA', error: 'AE', rejected: 'AR' };
const COMMIT_CODES: Readonly<Record<Outcome, AckCode>> = { accepted: 'CA', error: 'CE', rejected: 'CR' };

export interface AckIdentity {
  /** MSH-3/4 of our ACKs when the message did not name us in MSH-5/6. */
  readonly application: string;
  readonly facility: string;
}

export const DEFAULT_ACK_IDENTITY: AckIdentity = { application: 'VITALS-PIPELINE', facility: 'VITALS' };

function wanted(ackType: string, outcome: Outcome): boolean {
  switch (ackType.toUpperCase()) {
    case 'AL':
      return true;
    case 'ER':
      return outcome !== 'accepted';
    case 'SU':
      return outcome === 'accepted';
    default:
      return false; // NE, or a value outside table 0155
  }
}

/** The acknowledgement codes to send, in order (accept ACK first), for a message's MSH-15/16. */
export function ackCodesFor(header: Pick<MessageHeader, 'acceptAckType' | 'applicationAckType'> | undefined, outcome: Outcome): AckCode[] {
  const accept = header?.acceptAckType ?? '';
  const application = header?.applicationAckType ?? '';
  if (accept === '' && application === '') return [APPLICATION_CODES[outcome]];
  const codes: AckCode[] = [];
  if (wanted(accept, outcome)) codes.push(COMMIT_CODES[outcome]);
  if (wanted(application, outcome)) codes.push(APPLICATION_CODES[outcome]);
  return codes;
}

function location(l: ErrorLocation | undefined): string {
  if (!l) return '';
  return [l.segment, String(l.sequence), l.field ? String(l.field) : '', '', l.component ? String(l.component) : ''].join('^').replace(/\^+$/, '');
}

/** An HD/EI field of the original header re-encoded with standard separators (its own may differ). */
function echoField(value: string): string {
  return value
    .split(/[\^&~]/)
    .slice(0, 3)
    .map(escapeHl7)
    .join('^')
    .replace(/\^+$/, '');
}

export interface AckInput {
  readonly code: AckCode;
  readonly header?: MessageHeader;
  readonly issues: readonly Issue[];
  readonly now: Date;
  /** MSH-10 of the ACK itself. */
  readonly ackControlId: string;
  readonly identity?: AckIdentity;
}

/** The ACK's text (segments separated by CR, no MLLP framing). */
export function buildAck(input: AckInput): string {
  const h = input.header;
  const identity = input.identity ?? DEFAULT_ACK_IDENTITY;
  const version = h && /^2\.[3-9](\.\d+)?$/.test(h.version) ? h.version : '2.6';
  const msh = [
    'MSH',
    '^~\\&',
    h?.receivingApplication ? echoField(h.receivingApplication) : escapeHl7(identity.application),
    h?.receivingFacility ? echoField(h.receivingFacility) : escapeHl7(identity.facility),
    h ? echoField(h.sendingApplication) : '',
    h ? echoField(h.sendingFacility) : '',
    formatHl7Time(input.now),
    '',
    `ACK^${h?.triggerEvent && /^[A-Z0-9]{3}$/.test(h.triggerEvent) ? h.triggerEvent : 'R01'}^ACK`,
    escapeHl7(input.ackControlId),
    'P',
    version,
  ].join('|');
  const msa = ['MSA', input.code, h ? escapeHl7(h.controlId) : ''].join('|');
  const ordered = [...input.issues].sort((a, b) => rank(a.severity) - rank(b.severity));
  const errs = ordered.map((i) => {
    const c = CONDITIONS[i.condition];
    return ['ERR', '', location(i.location), `${c.code}^${c.text}^HL70357`, i.severity, `${i.reason}^^L`, '', '', escapeHl7(i.message)].join('|');
  });
  return [msh, msa, ...errs].join('\r');
}

function rank(severity: Issue['severity']): number {
  return severity === 'E' ? 0 : severity === 'W' ? 1 : 2;
}

/** Fields of a received ACK a client (or a test) needs. */
export interface ParsedAck {
  readonly code: string;
  readonly controlId: string;
  readonly errors: ReadonlyArray<{ location: string; condition: string; severity: string; reason: string; message: string }>;
}

/** Reads an ACK with standard separators (what the gateway sends). */
export function parseAck(text: string): ParsedAck {
  const segments = text.split(/\r\n|\r|\n/).filter(Boolean).map((s) => s.split('|'));
  const msa = segments.find((s) => s[0] === 'MSA') ?? [];
  return {
    code: msa[1] ?? '',
    controlId: msa[2] ?? '',
    errors: segments
      .filter((s) => s[0] === 'ERR')
      .map((s) => ({
        location: s[2] ?? '',
        condition: (s[3] ?? '').split('^')[0] ?? '',
        severity: s[4] ?? '',
        reason: (s[5] ?? '').split('^')[0] ?? '',
        message: s[8] ?? '',
      })),
  };
}
