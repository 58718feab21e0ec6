/**
 * NEWS2 parameter scores packed into one smallint (observations.news2_parameters, migration 0008):
 * two bits per parameter (each scores 0..3), in PACKING_ORDER from the lowest bits. The total is
 * stored beside it; the risk follows from both (riskFor). The SQL view news2_scores unpacks the same
 * layout (src/db/migrations/0008_compact-observations.ts).
 */
import { riskFor, type News2Parameters, type News2Result } from './news2';

export const PACKING_ORDER = ['respirationRate', 'spo2', 'onSupplementalOxygen', 'systolicBp', 'pulse', 'consciousness', 'temperatureC'] as const satisfies readonly (keyof News2Parameters)[];

export function packNews2Parameters(p: News2Parameters): number {
  let packed = 0;
  PACKING_ORDER.forEach((k, i) => {
    const score = p[k];
    if (!Number.isInteger(score) || score < 0 || score > 3) throw new RangeError(`NEWS2 parameter score ${k} must be 0..3`);
    packed |= score << (2 * i);
  });
  return packed;
}

export function unpackNews2Parameters(packed: number): News2Parameters {
  const out = {} as Record<keyof News2Parameters, number>;
  PACKING_ORDER.forEach((k, i) => {
    out[k] = (packed >> (2 * i)) & 3;
  });
  return out;
}

/** The stored pair back as a score (risk derived as when it was computed). */
export function storedNews2(total: number, packed: number): News2Result {
  const parameters = unpackNews2Parameters(packed);
  return { total, risk: riskFor(total, Object.values(parameters).includes(3)), parameters };
}
