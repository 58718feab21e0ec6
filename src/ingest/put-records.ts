/**
 * Writes a validated batch to Kinesis exactly as API Gateway's mapping template does: one record per
 * event, in order, partition key = deviceId, data = the event as UTF-8 JSON. PutRecords is not atomic:
 * entries that fail (throttling, internal errors) are retried alone with backoff, a bounded number of
 * times; what still fails is reported so the HTTP layer can answer 503 and the client can retry (the
 * processor deduplicates on eventId, so re-sent events that did land are stored once).
 */
import { PutRecordsCommand, type KinesisClient, type PutRecordsRequestEntry } from '@aws-sdk/client-kinesis';
import type { DeviceEvent } from '../schema';
import { backoffDelayMs, sleep, type BackoffPolicy } from '../adapters/backoff';

export interface PutEventsOptions {
  /** PutRecords calls per batch, the first included. @default 4 */
  readonly maxAttempts?: number;
  /** Backoff between attempts (full jitter). @default { baseMs: 50, maxMs: 1000 } */
  readonly backoff?: BackoffPolicy;
  /** Injected for tests. @default setTimeout-based sleep */
  readonly sleep?: (ms: number) => Promise<void>;
}

export interface PutEventsResult {
  /** Events Kinesis acknowledged. */
  readonly accepted: number;
  /** Events still unwritten after the last attempt: index into the batch and the last error code. */
  readonly failed: readonly FailedEvent[];
  readonly attempts: number;
}

export interface FailedEvent {
  readonly index: number;
  /** Kinesis' ErrorCode (e.g. ProvisionedThroughputExceededException), or the error name of a failed call. */
  readonly errorCode: string;
}

export const DEFAULT_PUT_ATTEMPTS = 4;
export const DEFAULT_PUT_BACKOFF: BackoffPolicy = { baseMs: 50, maxMs: 1_000 };

/** The PutRecords entry for one event: the mapping template's output, byte for byte. */
export function recordFor(event: DeviceEvent): PutRecordsRequestEntry {
  return { Data: Buffer.from(JSON.stringify(event), 'utf8'), PartitionKey: event.deviceId };
}

export async function putEvents(
  kinesis: KinesisClient,
  streamName: string,
  events: readonly DeviceEvent[],
  options: PutEventsOptions = {},
): Promise<PutEventsResult> {
  const maxAttempts = options.maxAttempts ?? DEFAULT_PUT_ATTEMPTS;
  const backoff = options.backoff ?? DEFAULT_PUT_BACKOFF;
  const wait = options.sleep ?? ((ms: number) => sleep(ms));
  const entries = events.map(recordFor);

  // Indexes (into `events`) still to be written; order is kept within each retry.
  let pending = entries.map((_, i) => i);
  let lastFailures: FailedEvent[] = [];
  let attempts = 0;
  while (pending.length > 0 && attempts < maxAttempts) {
    if (attempts > 0) await wait(backoffDelayMs(attempts - 1, backoff));
    attempts++;
    let failed: FailedEvent[];
    try {
      const out = await kinesis.send(
        new PutRecordsCommand({ StreamName: streamName, Records: pending.map((i) => entries[i]) }),
      );
      const results = out.Records ?? [];
      failed = [];
      pending.forEach((index, k) => {
        const r = results[k];
        if (!r || r.ErrorCode || !r.SequenceNumber) failed.push({ index, errorCode: r?.ErrorCode ?? 'MissingResult' });
      });
    } catch (err) {
      // The SDK has already retried transient errors; the whole call failed, so all pending entries did.
      const errorCode = err instanceof Error ? err.name : 'Error';
      failed = pending.map((index) => ({ index, errorCode }));
    }
    lastFailures = failed;
    pending = failed.map((f) => f.index);
  }
  return { accepted: events.length - lastFailures.length, failed: lastFailures, attempts };
}
