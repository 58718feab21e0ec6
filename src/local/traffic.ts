/**
 * The simulator's traffic mix, as pure functions: which kind each event slot is (a new valid
 * reading, a producer retry of an earlier one, or one of the malformed kinds), how event ids are
 * made, and what each malformed kind looks like.
 *
 * Malformed kinds and where they must end up:
 * - `schema-invalid`: the API rejects the batch with 400 (counted as rejected, never as sent);
 * - `impossible`: schema-valid but physiologically impossible; the API accepts it and the processor
 *   dead-letters it;
 * - `undecodable`: bytes a misbehaving producer writes straight into Kinesis; dead-lettered too.
 */
import type { DeviceEvent } from '../schema';
import { pick, type Random } from './random';

export type SlotKind = 'valid' | 'duplicate' | 'impossible' | 'schema-invalid' | 'undecodable';

export interface TrafficMix {
  /** Share of slots that are malformed (split over the three malformed kinds). */
  readonly malformedShare: number;
  /** Share of slots that re-send an already-accepted event with the same id. */
  readonly duplicateShare: number;
}

/** How the malformed share splits over its kinds. */
export const MALFORMED_SPLIT = { impossible: 0.4, 'schema-invalid': 0.3, undecodable: 0.3 } as const;

export function validateTrafficMix(mix: TrafficMix): void {
  const problems: string[] = [];
  if (!(mix.malformedShare >= 0 && mix.malformedShare <= 0.5)) {
    problems.push(`malformedShare must be between 0 and 0.5; received ${mix.malformedShare}`);
  }
  if (!(mix.duplicateShare >= 0 && mix.duplicateShare <= 0.5)) {
    problems.push(`duplicateShare must be between 0 and 0.5; received ${mix.duplicateShare}`);
  }
  if (problems.length > 0) throw new Error(problems.join('; '));
}

/** Draws the kind of the next slot. */
export function nextSlotKind(mix: TrafficMix, random: Random): SlotKind {
  const r = random();
  if (r < mix.duplicateShare) return 'duplicate';
  const m = r - mix.duplicateShare;
  if (m < mix.malformedShare * MALFORMED_SPLIT.impossible) return 'impossible';
  if (m < mix.malformedShare * (MALFORMED_SPLIT.impossible + MALFORMED_SPLIT['schema-invalid'])) return 'schema-invalid';
  if (m < mix.malformedShare) return 'undecodable';
  return 'valid';
}

/** 12 hex digits (48 bits) that tag every event id of one run. */
export function newRunTag(random: Random): string {
  let tag = '';
  for (let i = 0; i < 12; i++) tag += Math.floor(random() * 16).toString(16);
  return tag;
}

export const MAX_SEQUENCE = 2 ** 48 - 1;

/**
 * Event id for sequence number `seq` of run `runTag`: a well-formed version-4-style UUID whose first
 * 48 bits are the run tag and last 48 bits the sequence, so one run's ids form one contiguous uuid
 * range (`eventIdRange`) the runner can count in the database without remembering every id.
 */
export function eventIdFor(runTag: string, seq: number): string {
  if (!/^[0-9a-f]{12}$/.test(runTag)) throw new Error(`runTag must be 12 lowercase hex digits; received ${JSON.stringify(runTag)}`);
  if (!Number.isInteger(seq) || seq < 0 || seq > MAX_SEQUENCE) {
    throw new Error(`seq must be an integer between 0 and ${MAX_SEQUENCE}; received ${seq}`);
  }
  return `${runTag.slice(0, 8)}-${runTag.slice(8, 12)}-4000-8000-${seq.toString(16).padStart(12, '0')}`;
}

/** Inverse of `eventIdFor`: the sequence number, or null when the id is not of this run. */
export function sequenceOf(runTag: string, eventId: string): number | null {
  const id = eventId.toLowerCase();
  const prefix = `${runTag.slice(0, 8)}-${runTag.slice(8, 12)}-4000-8000-`;
  if (!id.startsWith(prefix) || id.length !== prefix.length + 12) return null;
  const seq = Number.parseInt(id.slice(prefix.length), 16);
  return Number.isNaN(seq) ? null : seq;
}

/** Inclusive uuid bounds of a run's event ids. */
export function eventIdRange(runTag: string): { first: string; last: string } {
  return { first: eventIdFor(runTag, 0), last: eventIdFor(runTag, MAX_SEQUENCE) };
}

export type ImpossibleKind = 'diastolic-above-systolic' | 'temperature-50C' | 'temperature-120F' | 'systolic-15mmHg';
export const IMPOSSIBLE_KINDS: readonly ImpossibleKind[] = [
  'diastolic-above-systolic',
  'temperature-50C',
  'temperature-120F',
  'systolic-15mmHg',
];

/** A schema-valid event no living patient can produce (the processor's ranges are in src/pipeline/normalise.ts). */
export function makeImpossible(event: DeviceEvent, kind: ImpossibleKind): DeviceEvent {
  const vitals = { ...event.vitals };
  switch (kind) {
    case 'diastolic-above-systolic':
      vitals.systolicBp = { value: 95, unit: 'mmHg' };
      vitals.diastolicBp = { value: 130, unit: 'mmHg' };
      break;
    case 'temperature-50C':
      vitals.temperature = { value: 50, unit: 'Cel' };
      break;
    case 'temperature-120F':
      vitals.temperature = { value: 120, unit: '[degF]' };
      break;
    case 'systolic-15mmHg':
      vitals.systolicBp = { value: 15, unit: 'mmHg' };
      vitals.diastolicBp = { value: 10, unit: 'mmHg' };
      break;
  }
  return { ...event, vitals };
}

export type SchemaInvalidKind = 'missing-event-id' | 'unknown-unit' | 'spo2-above-100' | 'bad-timestamp' | 'extra-field';
export const SCHEMA_INVALID_KINDS: readonly SchemaInvalidKind[] = [
  'missing-event-id',
  'unknown-unit',
  'spo2-above-100',
  'bad-timestamp',
  'extra-field',
];

/** An event the schema rejects; returned as plain JSON because it is, by design, not a DeviceEvent. */
export function makeSchemaInvalid(event: DeviceEvent, kind: SchemaInvalidKind): Record<string, unknown> {
  const copy: Record<string, unknown> = { ...event, vitals: { ...event.vitals } };
  const vitals = copy.vitals as Record<string, unknown>;
  switch (kind) {
    case 'missing-event-id':
      delete copy.eventId;
      break;
    case 'unknown-unit':
      vitals.temperature = { value: 310.2, unit: 'K' };
      break;
    case 'spo2-above-100':
      vitals.spo2 = { value: 104, unit: '%' };
      break;
    case 'bad-timestamp':
      copy.observedAt = '24/11/2026 10:31';
      break;
    case 'extra-field':
      copy.patientName = 'not allowed';
      break;
  }
  return copy;
}

/** Bytes that are not a DeviceEvent at all, as a broken producer might write them. */
export function makeUndecodable(event: DeviceEvent, random: Random): Buffer {
  const kind = pick(random, ['truncated-json', 'binary', 'text', 'json-array'] as const);
  switch (kind) {
    case 'truncated-json': {
      const json = JSON.stringify({ ...event, patientId: 'REDACTED' });
      return Buffer.from(json.slice(0, Math.max(1, Math.floor(json.length / 2))), 'utf8');
    }
    case 'binary': {
      const bytes = Buffer.alloc(64);
      for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(random() * 256);
      bytes[0] = 0xff; // never valid UTF-8 as a first byte
      return bytes;
    }
    case 'text':
      return Buffer.from('HL7 MSH|^~\\&|MONITOR|WARD|||', 'utf8');
    case 'json-array':
      return Buffer.from('[1,2,3]', 'utf8');
  }
}
