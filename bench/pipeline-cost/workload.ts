/**
 * The benchmark's records: the local simulator's traffic mix (src/local: a ward of patients with one
 * monitor each, all seven NEWS2 parameters per reading, mixed units, a few deteriorating patients),
 * with its default shares of producer retries (duplicate event ids) and of malformed events that
 * reach the stream (physiologically impossible, undecodable bytes; schema-invalid ones never do, the
 * API rejects them). Deterministic for a seed; observation times end `endMs` at 1,000 events/s.
 */
import type { DeviceEvent } from '../../src/schema';
import { DEFAULT_RUN_OPTIONS } from '../../src/local/args';
import { seededRandom, pick } from '../../src/local/random';
import { eventIdFor, IMPOSSIBLE_KINDS, makeImpossible, makeUndecodable, MALFORMED_SPLIT, newRunTag } from '../../src/local/traffic';
import { createWard, newMonitorState, readingAt } from '../../src/local/vitals-model';

export interface WorkloadRecord {
  readonly data: Buffer;
  readonly partitionKey: string;
}

export interface WorkloadOptions {
  readonly events: number;
  readonly patients: number;
  readonly seed: number;
  /** The last observation's time (ms since the epoch). */
  readonly endMs: number;
  /** Observation rate of the ward. @default 1000 events/s */
  readonly ratePerSec?: number;
}

export interface Workload {
  readonly records: WorkloadRecord[];
  /** Distinct valid event ids among the records (what a correct consumer stores). */
  readonly validEvents: number;
}

export function buildWorkload(o: WorkloadOptions): Workload {
  const random = seededRandom(o.seed);
  const runTag = newRunTag(random);
  const ward = createWard({ patients: o.patients, runTag: runTag.slice(0, 6) }, random);
  const monitors = ward.map(() => newMonitorState(random));
  const rate = o.ratePerSec ?? 1000;
  const startMs = o.endMs - Math.ceil((o.events * 1000) / rate);
  // Malformed events that reach the stream: impossible and undecodable (schema-invalid is refused by the API).
  const malformed = DEFAULT_RUN_OPTIONS.malformedShare;
  const impossibleShare = malformed * MALFORMED_SPLIT.impossible;
  const undecodableShare = malformed * MALFORMED_SPLIT.undecodable;
  const duplicateShare = DEFAULT_RUN_OPTIONS.duplicateShare;
  const records: WorkloadRecord[] = [];
  const sent: WorkloadRecord[] = [];
  let validEvents = 0;
  for (let i = 0, seq = 0; i < o.events; i++) {
    const r = random();
    if (r < duplicateShare && sent.length > 0) {
      records.push(sent[Math.floor(random() * sent.length)] as WorkloadRecord);
      continue;
    }
    const p = i % ward.length;
    const patient = ward[p]!;
    const atMs = startMs + Math.floor((i * 1000) / rate);
    const event: DeviceEvent = {
      schemaVersion: 1,
      eventId: eventIdFor(runTag, seq++),
      deviceId: patient.deviceId,
      patientId: patient.patientId,
      facilityId: patient.facilityId,
      observedAt: new Date(atMs).toISOString(),
      vitals: readingAt(patient, atMs - startMs, random, monitors[p]),
    };
    const m = r - duplicateShare;
    if (m >= 0 && m < impossibleShare) {
      records.push({ data: Buffer.from(JSON.stringify(makeImpossible(event, pick(random, IMPOSSIBLE_KINDS)))), partitionKey: event.deviceId });
    } else if (m >= impossibleShare && m < impossibleShare + undecodableShare) {
      records.push({ data: makeUndecodable(event, random), partitionKey: event.deviceId });
    } else {
      const record = { data: Buffer.from(JSON.stringify(event)), partitionKey: event.deviceId };
      records.push(record);
      // Retries re-send recent events (a producer retries within seconds, not hours).
      sent.push(record);
      if (sent.length > 2_000) sent.shift();
      validEvents++;
    }
  }
  return { records, validEvents };
}
