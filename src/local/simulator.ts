/**
 * The device simulator: plays a hospital integration engine that forwards bedside-monitor readings
 * to the ingest API over HTTP with an API key, paced to a target rate.
 *
 * - Batches are sized so the request rate stays well under the API's 100 requests/s.
 * - 429: waits for Retry-After, then re-sends the same batch. 5xx or a network error: backs off and
 *   re-sends the same batch (same event ids), so the stream may hold an event twice and the
 *   processor's deduplication must store it once.
 * - A configurable share of slots re-sends an already-accepted event (a producer retry), and a share
 *   is malformed (see traffic.ts); undecodable records go straight into Kinesis through `putRaw`.
 *
 * Counts only what the API acknowledged: `validAccepted` is the set of distinct valid events with a
 * 200, the figure every stored count is checked against.
 */
import type { ParsedAck } from '../hl7/ack';
import type { DeviceEvent } from '../schema';
import { HL7_EXPECTED_ACK, hl7ControlId, hl7Slot, type Hl7Slot } from './hl7-traffic';
import { pick, type Random, seededRandom } from './random';
import { SequenceSet } from './sequence-set';
import type { LatencySampler } from './status';
import {
  eventIdFor,
  IMPOSSIBLE_KINDS,
  makeImpossible,
  makeSchemaInvalid,
  makeUndecodable,
  nextSlotKind,
  SCHEMA_INVALID_KINDS,
  type TrafficMix,
  validateTrafficMix,
} from './traffic';
import { createWard, type MonitorState, newMonitorState, readingAt, type SimulatedPatient } from './vitals-model';

export interface RawRecord {
  readonly data: Buffer;
  readonly partitionKey: string;
}

export interface SimulatorOptions extends TrafficMix {
  /** Base URL of the ingest API, e.g. `http://127.0.0.1:3000`. */
  readonly ingestUrl: string;
  readonly apiKey: string;
  /** Target events per second, all slot kinds included. */
  readonly ratePerSec: number;
  readonly patients: number;
  /** 12 hex digits tagging this run's event ids (see traffic.eventIdFor). */
  readonly runTag: string;
  /** Writes records straight into the stream, bypassing the API (the misbehaving producer). */
  readonly putRaw: (records: readonly RawRecord[]) => Promise<void>;
  readonly latency: LatencySampler;
  /** @default 1 in 10 accepted valid events */
  readonly latencySampleEvery?: number;
  /** @default 0.05 */
  readonly deterioratingShare?: number;
  /** @default derived from the rate so requests stay near REQUESTS_PER_SEC_TARGET */
  readonly batchSize?: number;
  /** @default 32 */
  readonly maxInFlight?: number;
  /** @default a random seed */
  readonly seed?: number;
  readonly now?: () => number;
  /** Sends this share of the slots as IHE PCD-01 over MLLP instead of JSON (see hl7-traffic.ts). @default none */
  readonly hl7?: { readonly share: number; readonly send: (message: string) => Promise<ParsedAck | undefined> };
}

/** Requests per second the simulator aims at: a fifth of the API's steady 100/s, leaving room for retries. */
export const REQUESTS_PER_SEC_TARGET = 20;
export const MAX_BATCH_EVENTS = 500;
/** How long the sender may fall behind before it stops catching up (and counts the slots skipped). */
const MAX_CATCH_UP_MS = 2_000;
const REQUEST_TIMEOUT_MS = 15_000;
const DUPLICATE_POOL_SIZE = 2_000;

export function batchSizeFor(ratePerSec: number): number {
  return Math.min(MAX_BATCH_EVENTS, Math.max(1, Math.ceil(ratePerSec / REQUESTS_PER_SEC_TARGET)));
}

export interface SimulatorCounters {
  /** Slots generated (every kind). */
  slots: number;
  /** Distinct valid events the API accepted. */
  validAccepted: number;
  /** Re-sent events inside accepted batches. */
  duplicatesAccepted: number;
  /** Physiologically impossible events the API accepted (each must become a dead letter). */
  impossibleAccepted: number;
  /** Schema-invalid events whose batch the API rejected with 400, as it must. */
  schemaInvalidRejected: number;
  /** Undecodable records written straight into Kinesis. */
  undecodablePut: number;
  requests: number;
  throttled: number;
  retried: number;
  /** Responses that contradict the contract (a valid batch refused, an invalid one accepted...). */
  unexpected: number;
  /** Valid events never acknowledged (gave up at shutdown). */
  validUndelivered: number;
  /** Slots skipped because the sender fell more than MAX_CATCH_UP_MS behind. */
  skippedSlots: number;
  /** HL7 messages sent, one per slot (every kind, duplicates included; resends after AR are not counted again). */
  hl7Messages: number;
  /** Final acknowledgements of HL7 messages: AA, and AE or AR. */
  hl7AcksAa: number;
  hl7AcksAeAr: number;
  /** HL7 messages answered AR or not at all and resent (same control id). */
  hl7Resent: number;
  /** Valid HL7 messages never acknowledged AA (gave up at shutdown). */
  hl7Undelivered: number;
}

interface PendingBatch {
  readonly body: string;
  readonly validSeqs: number[];
  readonly validEvents: DeviceEvent[];
  readonly impossible: number;
  readonly duplicates: number;
  readonly expectRejection: boolean;
  readonly events: number;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class Simulator {
  readonly counters: SimulatorCounters = {
    slots: 0,
    validAccepted: 0,
    duplicatesAccepted: 0,
    impossibleAccepted: 0,
    schemaInvalidRejected: 0,
    undecodablePut: 0,
    requests: 0,
    throttled: 0,
    retried: 0,
    unexpected: 0,
    validUndelivered: 0,
    skippedSlots: 0,
    hl7Messages: 0,
    hl7AcksAa: 0,
    hl7AcksAeAr: 0,
    hl7Resent: 0,
    hl7Undelivered: 0,
  };
  /** Event ids of the valid HL7 messages acknowledged AA (each must be stored). */
  readonly hl7AcceptedEventIds = new Set<string>();
  /** Sequence numbers of the distinct valid events the API accepted. */
  readonly accepted = new SequenceSet();
  /** First few contract violations, PHI-free (status codes and field pointers only). */
  readonly problems: string[] = [];

  private readonly random: Random;
  private readonly ward: SimulatedPatient[];
  /** Noise state of each patient's monitor (same index as the ward). */
  private readonly monitors: MonitorState[];
  private readonly now: () => number;
  private readonly batchSize: number;
  private readonly maxInFlight: number;
  private readonly sampleEvery: number;
  private readonly duplicatePool: DeviceEvent[] = [];
  private readonly hl7DuplicatePool: Hl7Slot[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  /** HL7 sends: apart from the HTTP requests, whose count paces the sender. */
  private readonly hl7InFlight = new Set<Promise<void>>();
  private nextSeq = 0;
  private patientCursor = 0;
  private startedAt = 0;
  private stopping = false;
  private giveUpAt = Number.POSITIVE_INFINITY;
  private loop: Promise<void> | null = null;

  constructor(private readonly options: SimulatorOptions) {
    validateTrafficMix(options);
    const problems: string[] = [];
    if (!(options.ratePerSec > 0)) problems.push(`ratePerSec must be above 0; received ${options.ratePerSec}`);
    if (options.batchSize !== undefined && !(Number.isInteger(options.batchSize) && options.batchSize >= 1 && options.batchSize <= MAX_BATCH_EVENTS)) {
      problems.push(`batchSize must be a whole number from 1 to ${MAX_BATCH_EVENTS}; received ${options.batchSize}`);
    }
    if (options.hl7 && !(options.hl7.share >= 0 && options.hl7.share <= 1)) problems.push(`hl7 share must be between 0 and 1; received ${options.hl7.share}`);
    if (problems.length > 0) throw new Error(problems.join('; '));
    this.random = seededRandom(options.seed ?? Math.floor(Math.random() * 2 ** 32));
    this.ward = createWard(
      { patients: options.patients, deterioratingShare: options.deterioratingShare, runTag: options.runTag.slice(0, 6) },
      this.random,
    );
    this.monitors = this.ward.map(() => newMonitorState(this.random));
    this.now = options.now ?? Date.now;
    this.batchSize = options.batchSize ?? batchSizeFor(options.ratePerSec);
    this.maxInFlight = options.maxInFlight ?? 32;
    this.sampleEvery = options.latencySampleEvery ?? 10;
  }

  /** Starts sending; returns at once. */
  start(): void {
    if (this.loop) throw new Error('simulator already started');
    this.startedAt = this.now();
    this.loop = this.run();
  }

  get elapsedMs(): number {
    return this.startedAt === 0 ? 0 : this.now() - this.startedAt;
  }

  get inFlightRequests(): number {
    return this.inFlight.size;
  }

  /**
   * Stops generating, then waits for requests in flight (retries included) up to `drainMs`;
   * whatever is still unacknowledged after that is counted in `validUndelivered`.
   */
  async stop(drainMs = 20_000): Promise<void> {
    this.stopping = true;
    this.giveUpAt = this.now() + drainMs;
    await this.loop;
    while (this.inFlight.size > 0 || this.hl7InFlight.size > 0) await Promise.race([...this.inFlight, ...this.hl7InFlight]);
  }

  private async run(): Promise<void> {
    const tickMs = (1000 * this.batchSize) / this.options.ratePerSec;
    let issued = 0;
    let nextTick = this.startedAt;
    while (!this.stopping) {
      const elapsed = this.now() - this.startedAt;
      let due = Math.floor((this.options.ratePerSec * elapsed) / 1000) - issued;
      const maxBacklog = Math.ceil((this.options.ratePerSec * MAX_CATCH_UP_MS) / 1000);
      if (due > maxBacklog) {
        this.counters.skippedSlots += due - maxBacklog;
        issued += due - maxBacklog;
        due = maxBacklog;
      }
      while (due > 0 && this.inFlight.size < this.maxInFlight && !this.stopping) {
        const n = Math.min(due, this.batchSize);
        this.issueSlots(n, this.startedAt + elapsed);
        issued += n;
        due -= n;
      }
      nextTick += tickMs;
      const wait = nextTick - this.now();
      if (wait > 0) await sleep(wait);
      else {
        nextTick = this.now();
        await sleep(1); // let responses in
      }
    }
  }

  private newEvent(atMs: number): DeviceEvent {
    const i = this.patientCursor;
    this.patientCursor = (this.patientCursor + 1) % this.ward.length;
    const patient = this.ward[i];
    const seq = this.nextSeq++;
    return {
      schemaVersion: 1,
      eventId: eventIdFor(this.options.runTag, seq),
      deviceId: patient.deviceId,
      patientId: patient.patientId,
      facilityId: patient.facilityId,
      observedAt: new Date(atMs).toISOString(),
      vitals: readingAt(patient, atMs - this.startedAt, this.random, this.monitors[i]),
    };
  }

  private issueSlots(n: number, atMs: number): void {
    const events: DeviceEvent[] = [];
    const validSeqs: number[] = [];
    const validEvents: DeviceEvent[] = [];
    const raw: RawRecord[] = [];
    let impossible = 0;
    let duplicates = 0;
    for (let i = 0; i < n; i++) {
      this.counters.slots++;
      let kind = nextSlotKind(this.options, this.random);
      if (this.options.hl7 && this.random() < this.options.hl7.share) {
        this.issueHl7(kind, atMs);
        continue;
      }
      if (kind === 'duplicate' && this.duplicatePool.length === 0) kind = 'valid';
      switch (kind) {
        case 'valid': {
          const event = this.newEvent(atMs);
          events.push(event);
          validSeqs.push(this.nextSeq - 1);
          validEvents.push(event);
          break;
        }
        case 'duplicate':
          events.push(pick(this.random, this.duplicatePool));
          duplicates++;
          break;
        case 'impossible':
          events.push(makeImpossible(this.newEvent(atMs), pick(this.random, IMPOSSIBLE_KINDS)));
          impossible++;
          break;
        case 'schema-invalid': {
          const invalid = makeSchemaInvalid(this.newEvent(atMs), pick(this.random, SCHEMA_INVALID_KINDS));
          // Alone in its batch: a 400 rejects the whole batch, and valid neighbours must not be lost.
          this.track(
            this.send({
              body: JSON.stringify({ events: [invalid] }),
              validSeqs: [],
              validEvents: [],
              impossible: 0,
              duplicates: 0,
              expectRejection: true,
              events: 1,
            }),
          );
          break;
        }
        case 'undecodable': {
          const source = this.newEvent(atMs);
          raw.push({ data: makeUndecodable(source, this.random), partitionKey: source.deviceId });
          break;
        }
      }
    }
    if (events.length > 0) {
      this.track(
        this.send({
          body: JSON.stringify({ events }),
          validSeqs,
          validEvents,
          impossible,
          duplicates,
          expectRejection: false,
          events: events.length,
        }),
      );
    }
    if (raw.length > 0) this.track(this.putRaw(raw));
  }

  /** One slot as an HL7 message over MLLP. */
  private issueHl7(kind: ReturnType<typeof nextSlotKind>, atMs: number): void {
    let slot: Hl7Slot;
    if (kind === 'duplicate' && this.hl7DuplicatePool.length > 0) {
      slot = { ...pick(this.random, this.hl7DuplicatePool), kind: 'duplicate' };
    } else {
      const effective = kind === 'duplicate' ? 'valid' : kind;
      const event = this.newEvent(atMs);
      slot = hl7Slot(effective, event, hl7ControlId(this.options.runTag, this.nextSeq - 1));
      if (effective === 'valid' && slot.eventId && (this.nextSeq - 1) % this.sampleEvery === 0) this.options.latency.recordSent(slot.eventId, this.now());
    }
    this.counters.hl7Messages++;
    const tracked: Promise<void> = this.sendHl7(slot).finally(() => this.hl7InFlight.delete(tracked));
    this.hl7InFlight.add(tracked);
  }

  private async sendHl7(slot: Hl7Slot): Promise<void> {
    const send = this.options.hl7?.send;
    if (!send) return;
    const expected = HL7_EXPECTED_ACK[slot.kind];
    for (let attempt = 0; ; attempt++) {
      const ack = await send(slot.message);
      const code = ack?.code;
      // An AR for a message that should be accepted means "stream unavailable, resend"; no ACK likewise.
      const retry = code === undefined || (code === 'AR' && expected !== 'AR');
      if (retry) {
        if (this.now() > this.giveUpAt) break;
        this.counters.hl7Resent++;
        await sleep(Math.min(2_000, 50 * 2 ** Math.min(attempt, 6)));
        continue;
      }
      if (code === 'AA') {
        this.counters.hl7AcksAa++;
        if (slot.eventId) this.hl7AcceptedEventIds.add(slot.eventId);
        if (slot.kind === 'valid' && this.hl7DuplicatePool.length < DUPLICATE_POOL_SIZE) this.hl7DuplicatePool.push(slot);
      } else {
        this.counters.hl7AcksAeAr++;
      }
      if (code !== expected) this.noteProblem(`HL7 ${slot.kind} message answered ${code}, expected ${expected}${ack?.errors[0] ? ` (${ack.errors[0].reason})` : ''}`);
      return;
    }
    if (expected === 'AA') this.counters.hl7Undelivered++;
  }

  private track(p: Promise<void>): void {
    const tracked = p.finally(() => this.inFlight.delete(tracked));
    this.inFlight.add(tracked);
  }

  private noteProblem(text: string): void {
    this.counters.unexpected++;
    if (this.problems.length < 10) this.problems.push(text);
  }

  private async putRaw(records: RawRecord[]): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.options.putRaw(records);
        this.counters.undecodablePut += records.length;
        return;
      } catch (err) {
        if (this.now() > this.giveUpAt || attempt >= 10) {
          this.noteProblem(`raw PutRecords failed: ${(err as Error).name}`);
          return;
        }
        await sleep(Math.min(2_000, 100 * 2 ** attempt));
      }
    }
  }

  private async send(batch: PendingBatch): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const sentAt = this.now();
      let status: number;
      let retryAfterMs = 0;
      let responseText = '';
      this.counters.requests++;
      try {
        const res = await fetch(`${this.options.ingestUrl}/v1/events`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-api-key': this.options.apiKey },
          body: batch.body,
          signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
        });
        status = res.status;
        responseText = await res.text();
        const retryAfter = Number(res.headers.get('retry-after'));
        if (Number.isFinite(retryAfter) && retryAfter > 0) retryAfterMs = retryAfter * 1000;
      } catch {
        status = 0; // connection refused/reset or timeout: retry like a 503
      }

      if (status === 200) {
        this.onAccepted(batch, sentAt);
        return;
      }
      if (status === 400 && batch.expectRejection) {
        this.counters.schemaInvalidRejected += batch.events;
        return;
      }
      if (status === 429 || status === 0 || status >= 500) {
        if (status === 429) this.counters.throttled++;
        else this.counters.retried++;
        if (this.now() > this.giveUpAt) break;
        await sleep(status === 429 ? retryAfterMs || 1_000 : Math.min(2_000, 50 * 2 ** Math.min(attempt, 6)));
        continue;
      }
      if (batch.expectRejection) {
        this.noteProblem(`schema-invalid batch answered ${status}, expected 400`);
      } else {
        this.noteProblem(`batch of ${batch.events} answered ${status}: ${fieldsOnly(responseText)}`);
        this.counters.validUndelivered += batch.validSeqs.length;
      }
      return;
    }
    if (!batch.expectRejection) this.counters.validUndelivered += batch.validSeqs.length;
  }

  private onAccepted(batch: PendingBatch, sentAt: number): void {
    if (batch.expectRejection) {
      this.noteProblem('schema-invalid batch answered 200, expected 400');
      return;
    }
    for (let i = 0; i < batch.validSeqs.length; i++) {
      const seq = batch.validSeqs[i];
      if (!this.accepted.add(seq)) continue;
      this.counters.validAccepted++;
      if (seq % this.sampleEvery === 0) this.options.latency.recordSent(batch.validEvents[i].eventId, sentAt);
      const event = batch.validEvents[i];
      if (this.duplicatePool.length < DUPLICATE_POOL_SIZE) this.duplicatePool.push(event);
      else this.duplicatePool[Math.floor(this.random() * DUPLICATE_POOL_SIZE)] = event;
    }
    this.counters.impossibleAccepted += batch.impossible;
    this.counters.duplicatesAccepted += batch.duplicates;
  }
}

/** Keeps only the field pointers of a 400 body: error messages are PHI-free by contract, but values never print here. */
function fieldsOnly(responseText: string): string {
  try {
    const parsed = JSON.parse(responseText) as { errors?: Array<{ field?: unknown }> };
    const fields = (parsed.errors ?? []).map((e) => String(e.field)).slice(0, 5);
    return fields.length > 0 ? `fields ${fields.join(', ')}` : 'no field errors';
  } catch {
    return 'non-JSON body';
  }
}
