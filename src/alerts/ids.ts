/**
 * Alert and transition ids: UUID v5 (RFC 9562, name-based), so a batch re-processed after a crash
 * before its commit derives the very same ids, and a transition's id is a stable idempotency key.
 */
import { createHash } from 'node:crypto';

/** Namespace of the alert ids (a random v4 fixed once; changing it would re-key every alert). */
export const ALERT_ID_NAMESPACE = '6f1c2b7e-93d4-4a51-8c0e-2f7d5a9b4c31';

export function uuidV5(name: string, namespace: string = ALERT_ID_NAMESPACE): string {
  const ns = Buffer.from(namespace.replace(/-/g, ''), 'hex');
  const b = createHash('sha1').update(ns).update(name, 'utf8').digest().subarray(0, 16);
  b[6] = ((b[6] as number) & 0x0f) | 0x50;
  b[8] = ((b[8] as number) & 0x3f) | 0x80;
  const hex = b.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * The alert an observation raises: one per raising observation, which is identified by its event id
 * and observation time (the processor's dedupe key: the same id at another time is another
 * observation, so it must not collide with the first one's alert).
 */
export function alertIdFor(raisingEventId: string, observedAt: Date): string {
  return uuidV5(`alert|${raisingEventId.toLowerCase()}|${observedAt.toISOString()}`);
}

/** The n-th transition of an alert (1 = raised): the idempotency key consumers dedupe on. */
export function transitionIdFor(alertId: string, sequence: number): string {
  return uuidV5(`transition|${alertId}|${sequence}`);
}
