/**
 * The gateway's pure core: one MLLP frame in, either the Kinesis records to put (and the ACK to send
 * once they are accepted) or the ACK to send at once. Every observation set becomes one `DeviceEvent`,
 * checked by the processor's own decoder (`decodeRecord`: the event schema, unit-aware physiological
 * ranges, the clock-skew rule), so the gateway never acknowledges AA what the processor would
 * dead-letter.
 *
 * Event ids are UUID v5 (RFC 9562) of (MSH-3 sending application, MSH-4 sending facility, MSH-10
 * control id, index of the set in the message): a resend of the same message after a lost ACK yields
 * the same ids, which the processor stores once. No patient data goes into the name.
 */
import { createHash } from 'node:crypto';
import { decodeRecord } from '../pipeline/decode';
import type { DeviceEvent, DeviceVitals, FieldError } from '../schema';
import { ackCodesFor, buildAck, type AckIdentity, type Outcome } from './ack';
import { VITALS_FIELD, type VitalParameter } from './codes';
import { issue, type ErrorLocation, type Issue, type Reason } from './issues';
import { readPcd01, type MessageHeader, type ObservationSet, type ReadCounts, type ReadOptions } from './pcd01';

/** Namespace of the gateway's event ids (fixed forever: changing it would break resend dedupe). */
export const EVENT_ID_NAMESPACE = 'fa83f46f-6880-48a6-99a2-3923aacfa461';

export interface PreparedRecord {
  readonly eventId: string;
  readonly partitionKey: string;
  readonly data: Buffer;
}

export interface PrepareOptions extends ReadOptions {
  readonly now: Date;
  /** @default the decoder's 5 minutes */
  readonly maxClockSkewMs?: number;
}

/** What to do with a frame: put records then acknowledge, or acknowledge at once. */
export type Prepared =
  | { readonly kind: 'store'; readonly header: MessageHeader; readonly records: readonly PreparedRecord[]; readonly issues: readonly Issue[]; readonly counts: ReadCounts }
  | { readonly kind: 'answer'; readonly outcome: 'error' | 'rejected'; readonly header?: MessageHeader; readonly issues: readonly Issue[]; readonly counts: ReadCounts; readonly reason: Reason };

/** UUID version 5 (SHA-1, name-based). */
export function uuidV5(name: string, namespace: string = EVENT_ID_NAMESPACE): string {
  const ns = Buffer.from(namespace.replace(/-/g, ''), 'hex');
  const hash = createHash('sha1').update(ns).update(name, 'utf8').digest();
  const b = hash.subarray(0, 16);
  b[6] = ((b[6] as number) & 0x0f) | 0x50;
  b[8] = ((b[8] as number) & 0x3f) | 0x80;
  const hex = b.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export function eventIdFor(header: Pick<MessageHeader, 'sendingApplication' | 'sendingFacility' | 'controlId'>, index: number): string {
  return uuidV5(`${header.sendingApplication}|${header.sendingFacility}|${header.controlId}|${index}`);
}

/**
 * The payload's character set from MSH-18 (read before parsing): ISO 8859-1 when named, else UTF-8
 * (which covers ASCII, the HL7 default, and PCD-01's UNICODE UTF-8).
 */
export function decodePayload(payload: Buffer): string {
  const end = payload.indexOf(0x0d);
  const head = payload.subarray(0, end < 0 ? Math.min(payload.length, 1024) : end).toString('latin1');
  const separator = head.charAt(3) || '|';
  const charset = head.split(separator)[17] ?? '';
  return payload.toString(/8859/.test(charset) ? 'latin1' : 'utf8');
}

const PARAMETER_BY_FIELD = new Map<string, VitalParameter>(Object.entries(VITALS_FIELD).map(([p, f]) => [f, p as VitalParameter]));

/** A rule the event broke, pointed back at the OBX that carried the value. */
function toIssue(error: FieldError, set: ObservationSet, future: boolean): Issue {
  const [, top, fieldName] = error.field.split('/');
  if (top === 'vitals' && fieldName) {
    const loc = set.sources[fieldName as keyof DeviceVitals];
    const parameter = PARAMETER_BY_FIELD.get(fieldName);
    return issue('E', 'dataTypeError', 'out-of-range', `OBX-5 ${parameter ?? fieldName} ${error.message}`, loc);
  }
  const anySource = Object.values(set.sources)[0] as ErrorLocation | undefined;
  if (top === 'observedAt') {
    return issue('E', 'dataTypeError', future ? 'future-time' : 'bad-time', `OBX-14 observation time ${error.message}`, anySource ? { ...anySource, field: 14 } : undefined);
  }
  return issue('E', 'dataTypeError', 'out-of-range', `${error.field || 'event'} ${error.message}`, anySource);
}

function firstErrorReason(issues: readonly Issue[]): Reason {
  return issues.find((i) => i.severity === 'E')?.reason ?? 'no-observation';
}

export function prepareMessage(payload: Buffer, options: PrepareOptions): Prepared {
  const read = readPcd01(decodePayload(payload), options);
  if (read.headerRejected || !read.header) {
    return { kind: 'answer', outcome: 'rejected', ...(read.header ? { header: read.header } : {}), issues: read.issues, counts: read.counts, reason: firstErrorReason(read.issues) };
  }
  const header = read.header;
  const issues = [...read.issues];
  const records: PreparedRecord[] = [];
  read.sets.forEach((set, index) => {
    const eventId = eventIdFor(header, index);
    const event: DeviceEvent = {
      schemaVersion: 1,
      eventId,
      deviceId: set.deviceId,
      patientId: set.patientId,
      facilityId: set.facilityId,
      observedAt: set.observedAt.toISOString(),
      vitals: set.vitals,
    };
    const data = Buffer.from(JSON.stringify(event), 'utf8');
    const decoded = decodeRecord(data, options.now, options.maxClockSkewMs === undefined ? {} : { maxClockSkewMs: options.maxClockSkewMs });
    if (!decoded.ok) {
      // Errors go before the warnings already collected.
      issues.unshift(...decoded.errors.map((e) => toIssue(e, set, decoded.reason === 'future-timestamp')));
      return;
    }
    records.push({ eventId, partitionKey: set.deviceId, data });
  });
  if (issues.some((i) => i.severity === 'E')) {
    return { kind: 'answer', outcome: 'error', header, issues, counts: read.counts, reason: firstErrorReason(issues) };
  }
  return { kind: 'store', header, records, issues, counts: read.counts };
}

/** The issue an AR carries when the stream did not take the records. */
export const STREAM_UNAVAILABLE: Issue = issue('E', 'applicationInternalError', 'stream-unavailable', 'the stream did not accept the message in time; nothing was stored: resend it (same MSH-10)');

/** Issue for a frame over the size limit. */
export function oversizeIssue(maxBytes: number): Issue {
  return issue('E', 'applicationInternalError', 'oversize', `the message exceeds the gateway's limit of ${maxBytes} bytes`, { segment: 'MSH', sequence: 1 });
}

export interface AckContext {
  readonly now: Date;
  readonly nextControlId: () => string;
  readonly identity?: AckIdentity;
}

/** The ACK texts (0, 1 or 2 of them: see ackCodesFor) for an outcome. */
export function acknowledgements(header: MessageHeader | undefined, outcome: Outcome, issues: readonly Issue[], ctx: AckContext): string[] {
  return ackCodesFor(header, outcome).map((code) =>
    buildAck({ code, ...(header ? { header } : {}), issues, now: ctx.now, ackControlId: ctx.nextControlId(), ...(ctx.identity ? { identity: ctx.identity } : {}) }),
  );
}
