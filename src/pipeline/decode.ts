/**
 * A Kinesis record's bytes to a normalised event, or the reason it belongs in the dead-letter table.
 * Errors name fields and rules only: never the record's text (JSON.parse's own messages quote the
 * input, so they are not passed on).
 */
import { validateEvent, type FieldError } from '../schema';
import { normaliseEvent, type NormalisedEvent } from './normalise';

export type DeadLetterReason = 'undecodable' | 'invalid' | 'future-timestamp';

export type DecodeResult =
  | { ok: true; event: NormalisedEvent }
  | { ok: false; reason: DeadLetterReason; errors: FieldError[] };

export interface DecodeOptions {
  /** How far an observation may lie ahead of the processor's clock. @default 300000 (5 min) */
  maxClockSkewMs?: number;
}

export const DEFAULT_MAX_CLOCK_SKEW_MS = 5 * 60_000;

const utf8 = new TextDecoder('utf-8', { fatal: true });

export function decodeRecord(data: Uint8Array, now: Date, opts: DecodeOptions = {}): DecodeResult {
  const maxClockSkewMs = opts.maxClockSkewMs ?? DEFAULT_MAX_CLOCK_SKEW_MS;
  let text: string;
  try {
    text = utf8.decode(data);
  } catch {
    return { ok: false, reason: 'undecodable', errors: [{ field: '', message: 'record is not valid UTF-8' }] };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'undecodable', errors: [{ field: '', message: 'record is not valid JSON' }] };
  }
  const valid = validateEvent(json);
  if (!valid.ok) return { ok: false, reason: 'invalid', errors: valid.errors };
  const normalised = normaliseEvent(valid.event);
  if (!normalised.ok) return { ok: false, reason: 'invalid', errors: normalised.errors };
  if (normalised.event.observedAt.getTime() > now.getTime() + maxClockSkewMs) {
    return {
      ok: false,
      reason: 'future-timestamp',
      errors: [{ field: '/observedAt', message: `must not be more than ${maxClockSkewMs} ms in the future` }],
    };
  }
  return { ok: true, event: normalised.event };
}
