/**
 * Puts the gateway's records on the stream. Records of messages arriving at the same time (from every
 * connection) are coalesced into PutRecords calls of at most 500 records and 5 MiB, after waiting at
 * most `lingerMs` for company; up to `maxConcurrentCalls` calls run at once. PutRecords is not atomic:
 * entries Kinesis refuses (throttling, internal errors) are retried alone with jittered backoff until
 * the message's deadline. A message counts as stored only when every one of its records was accepted
 * (then the gateway sends AA); otherwise the put fails and the gateway sends AR, and the sender's
 * resend carries the same event ids, so records that did land are stored once.
 */
import { PutRecordsCommand, type KinesisClient, type PutRecordsRequestEntry } from '@aws-sdk/client-kinesis';
import { backoffDelayMs, type BackoffPolicy } from '../adapters/backoff';
import type { PreparedRecord } from './prepare';

export type PutOutcome = { readonly ok: true; readonly putMs: number; readonly attempts: number } | { readonly ok: false; readonly putMs: number; readonly errorCodes: readonly string[] };

export interface RecordWriter {
  put(records: readonly PreparedRecord[]): Promise<PutOutcome>;
  /** Waits for calls in flight (at shutdown). */
  drain(): Promise<void>;
}

export interface KinesisRecordWriterOptions {
  readonly kinesis: Pick<KinesisClient, 'send'>;
  readonly streamName: string;
  /** A message's records must all be accepted within this. @default 10000 */
  readonly deadlineMs?: number;
  /** How long a record may wait for others to share its call. @default 2 */
  readonly lingerMs?: number;
  /** @default 8 */
  readonly maxConcurrentCalls?: number;
  /** @default { baseMs: 50, maxMs: 1000 } */
  readonly backoff?: BackoffPolicy;
  readonly now?: () => number;
  /** Called after each PutRecords call (for metrics). */
  readonly onCall?: (records: number, failed: number, ms: number) => void;
}

export const MAX_RECORDS_PER_CALL = 500;
/** PutRecords' request limit (data and partition keys). */
export const MAX_BYTES_PER_CALL = 5 * 1024 * 1024;
export const DEFAULT_PUT_DEADLINE_MS = 10_000;

interface Entry {
  readonly entry: PutRecordsRequestEntry;
  readonly bytes: number;
  readonly deadline: number;
  attempts: number;
  lastError?: string;
  resolve(ok: boolean): void;
}

export class KinesisRecordWriter implements RecordWriter {
  private readonly queue: Entry[] = [];
  private calls = 0;
  private timer?: NodeJS.Timeout;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly retryTimers = new Set<NodeJS.Timeout>();
  private readonly now: () => number;

  constructor(private readonly options: KinesisRecordWriterOptions) {
    // Monotonic, sub-millisecond: put times feed the latency figures.
    this.now = options.now ?? (() => performance.now());
  }

  async put(records: readonly PreparedRecord[]): Promise<PutOutcome> {
    const started = this.now();
    const deadline = started + (this.options.deadlineMs ?? DEFAULT_PUT_DEADLINE_MS);
    const entries = records.map(
      (r) =>
        new Promise<{ ok: boolean; attempts: number; error?: string }>((resolve) => {
          const e: Entry = {
            entry: { Data: r.data, PartitionKey: r.partitionKey },
            bytes: r.data.length + Buffer.byteLength(r.partitionKey),
            deadline,
            attempts: 0,
            resolve: (ok) => resolve({ ok, attempts: e.attempts, ...(e.lastError ? { error: e.lastError } : {}) }),
          };
          this.enqueue(e);
        }),
    );
    const results = await Promise.all(entries);
    const putMs = Math.round((this.now() - started) * 100) / 100;
    const failed = results.filter((r) => !r.ok);
    if (failed.length === 0) return { ok: true, putMs, attempts: Math.max(1, ...results.map((r) => r.attempts)) };
    return { ok: false, putMs, errorCodes: [...new Set(failed.map((f) => f.error ?? 'Unknown'))] };
  }

  async drain(): Promise<void> {
    while (this.queue.length > 0 || this.inFlight.size > 0 || this.retryTimers.size > 0) {
      if (this.inFlight.size > 0) await Promise.race(this.inFlight);
      else await new Promise((r) => setTimeout(r, 10));
    }
  }

  private enqueue(e: Entry): void {
    this.queue.push(e);
    this.schedule();
  }

  private schedule(): void {
    if (this.timer || this.queue.length === 0) return;
    const full = this.queue.length >= MAX_RECORDS_PER_CALL;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.pump();
    }, full ? 0 : (this.options.lingerMs ?? 2));
  }

  private pump(): void {
    const maxCalls = this.options.maxConcurrentCalls ?? 8;
    while (this.queue.length > 0 && this.calls < maxCalls) {
      const batch: Entry[] = [];
      let bytes = 0;
      while (this.queue.length > 0 && batch.length < MAX_RECORDS_PER_CALL) {
        const next = this.queue[0] as Entry;
        if (batch.length > 0 && bytes + next.bytes > MAX_BYTES_PER_CALL) break;
        batch.push(this.queue.shift() as Entry);
        bytes += next.bytes;
      }
      const call = this.send(batch).finally(() => {
        this.inFlight.delete(call);
        this.calls--;
        this.schedule();
      });
      this.calls++;
      this.inFlight.add(call);
    }
  }

  private async send(batch: Entry[]): Promise<void> {
    const started = this.now();
    let failures: Array<{ e: Entry; code: string }> = [];
    try {
      const out = await this.options.kinesis.send(new PutRecordsCommand({ StreamName: this.options.streamName, Records: batch.map((b) => b.entry) }));
      const results = out.Records ?? [];
      batch.forEach((e, i) => {
        e.attempts++;
        const r = results[i];
        if (r && !r.ErrorCode && r.SequenceNumber) e.resolve(true);
        else failures.push({ e, code: r?.ErrorCode ?? 'MissingResult' });
      });
    } catch (err) {
      // The SDK already retried transient call failures; every entry of the call failed.
      const code = err instanceof Error ? err.name : 'Error';
      failures = batch.map((e) => {
        e.attempts++;
        return { e, code };
      });
    }
    this.options.onCall?.(batch.length, failures.length, this.now() - started);
    for (const { e, code } of failures) {
      e.lastError = code;
      const delay = backoffDelayMs(e.attempts - 1, this.options.backoff ?? { baseMs: 50, maxMs: 1_000 });
      if (this.now() + delay >= e.deadline) {
        e.resolve(false);
        continue;
      }
      const t = setTimeout(() => {
        this.retryTimers.delete(t);
        this.enqueue(e);
      }, delay);
      this.retryTimers.add(t);
    }
  }
}
