/**
 * A patient's latest values (latest-vitals.ts) as the fixed binary layout `latest_vitals.packed`
 * stores (migration 0009): version byte 1, then one 16-byte slot per parameter in LATEST_SLOTS
 * order, each the value and its observation time (epoch milliseconds) as big-endian float64, NaN for
 * a parameter never observed. Every batch reads and rewrites one row per patient it touches: as JSON
 * (ISO times, quoted into a jsonb[] literal, parsed by PostgreSQL and again by the client) that row
 * cost more than the observations themselves; as 145 bytes it costs two buffer reads per slot.
 * Big-endian float64 is what PostgreSQL's float8send produces, so the migration packs existing rows in
 * SQL.
 */
import type { Consciousness } from '../schema';
import type { LatestVitals, TimedValue } from './latest-vitals';

export const LATEST_PACKING_VERSION = 1;

/** Slot order of the packed layout; append only (a new parameter is a new slot at the end). */
export const LATEST_SLOTS = [
  'pulse',
  'respirationRate',
  'spo2',
  'spo2Scale',
  'onSupplementalOxygen',
  'systolicBp',
  'diastolicBp',
  'temperatureC',
  'consciousness',
] as const satisfies readonly (keyof LatestVitals)[];

/** AVPU (ACVPU) levels by their code in the packed layout. */
export const CONSCIOUSNESS_CODES: readonly Consciousness[] = ['A', 'C', 'V', 'P', 'U'];

const SLOT_BYTES = 16;
export const PACKED_LATEST_BYTES = 1 + LATEST_SLOTS.length * SLOT_BYTES;

function toNumber(key: (typeof LATEST_SLOTS)[number], value: unknown): number {
  if (key === 'onSupplementalOxygen') return value ? 1 : 0;
  if (key === 'consciousness') {
    const code = CONSCIOUSNESS_CODES.indexOf(value as Consciousness);
    if (code < 0) throw new RangeError('consciousness must be one of A, C, V, P, U');
    return code;
  }
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new RangeError(`${key} must be a finite number`);
  return value;
}

function fromNumber(key: (typeof LATEST_SLOTS)[number], n: number): unknown {
  if (key === 'onSupplementalOxygen') return n !== 0;
  if (key === 'consciousness') {
    const level = CONSCIOUSNESS_CODES[n];
    if (level === undefined) throw new RangeError(`packed consciousness code ${n} is not one of 0-4`);
    return level;
  }
  return n;
}

export function packLatest(latest: LatestVitals): Buffer {
  const out = Buffer.allocUnsafe(PACKED_LATEST_BYTES);
  out.writeUInt8(LATEST_PACKING_VERSION, 0);
  for (let i = 0; i < LATEST_SLOTS.length; i++) {
    const key = LATEST_SLOTS[i] as (typeof LATEST_SLOTS)[number];
    const tv = latest[key] as TimedValue<unknown> | undefined;
    const at = 1 + i * SLOT_BYTES;
    out.writeDoubleBE(tv ? toNumber(key, tv.value) : NaN, at);
    out.writeDoubleBE(tv ? tv.observedAt.getTime() : NaN, at + 8);
  }
  return out;
}

/** null (a row locked before it held any value) is the empty state. */
export function unpackLatest(packed: Buffer | null): LatestVitals {
  const out: Record<string, TimedValue<unknown>> = {};
  if (packed === null) return out as LatestVitals;
  if (packed.length !== PACKED_LATEST_BYTES || packed.readUInt8(0) !== LATEST_PACKING_VERSION) {
    throw new RangeError(`packed latest vitals must be version ${LATEST_PACKING_VERSION}, ${PACKED_LATEST_BYTES} bytes; received ${packed.length} bytes`);
  }
  for (let i = 0; i < LATEST_SLOTS.length; i++) {
    const at = 1 + i * SLOT_BYTES;
    const time = packed.readDoubleBE(at + 8);
    if (Number.isNaN(time)) continue;
    const key = LATEST_SLOTS[i] as (typeof LATEST_SLOTS)[number];
    out[key] = { value: fromNumber(key, packed.readDoubleBE(at)), observedAt: new Date(time) };
  }
  return out as LatestVitals;
}
