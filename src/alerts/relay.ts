/**
 * The outbox relay: claims undelivered transitions (each patient's oldest first), publishes them in
 * PutEvents-sized chunks, and marks the accepted ones delivered in the claim's transaction. At least
 * once: a crash after the bus accepted an event and before the mark commits leaves the row
 * undelivered, and it is sent again (same transition id) by whichever relay claims it next. Failed
 * entries are retried with capped exponential backoff, and keep their patient's later transitions
 * waiting (per-patient order). Also the escalation scheduler's loop (same shape, own interval).
 */
import type { Logger } from 'pino';
import { backoffDelayMs, sleep, type BackoffPolicy } from '../adapters/backoff';
import type { OutboxClaim, PendingTransition } from '../adapters/alert-store';
import { errorSummary } from '../adapters/logger';
import { MAX_ENTRIES_PER_PUBLISH, type AlertPublisher } from './publisher';

export const RELAY_CLAIM_LIMIT = 500;
export const RELAY_POLL_MS = 1_000;
/** Parallel PutEvents calls per claim (each <= 10 entries). */
export const RELAY_CONCURRENCY = 8;
export const RELAY_RETRY_BACKOFF: BackoffPolicy = { baseMs: 500, maxMs: 60_000 };

export interface DeliveredTransition {
  readonly row: PendingTransition;
  /** Observation received -> bus accepted (null when the transition has no observation: ack, escalation). */
  readonly latencyMs: number | null;
}

export interface RelayOptions {
  readonly claim: (limit: number) => Promise<OutboxClaim>;
  readonly publisher: AlertPublisher;
  readonly logger: Logger;
  readonly pollMs?: number;
  readonly claimLimit?: number;
  readonly concurrency?: number;
  readonly now?: () => Date;
  readonly random?: () => number;
  readonly onDelivered?: (delivered: readonly DeliveredTransition[]) => void;
  readonly onFailed?: (failures: number) => void;
}

export class AlertRelay {
  private readonly abort = new AbortController();
  private wakeUp?: () => void;
  private pendingWake = false;
  private running?: Promise<void>;
  private readonly now: () => Date;

  constructor(private readonly options: RelayOptions) {
    this.now = options.now ?? (() => new Date());
  }

  start(): void {
    this.running ??= this.loop();
  }

  /** New rows were committed: claim now instead of at the next poll. */
  wake(): void {
    this.pendingWake = true;
    this.wakeUp?.();
  }

  /** Finishes the round in flight (its rows are marked or rolled back), then resolves. */
  async stop(): Promise<void> {
    this.abort.abort();
    this.wakeUp?.();
    await this.running;
  }

  /** One claim: publish and mark. Returns how many rows it claimed. */
  async deliverOnce(): Promise<number> {
    const claim = await this.options.claim(this.options.claimLimit ?? RELAY_CLAIM_LIMIT);
    if (claim.rows.length === 0) {
      await claim.release();
      return 0;
    }
    const chunks: PendingTransition[][] = [];
    for (let i = 0; i < claim.rows.length; i += MAX_ENTRIES_PER_PUBLISH) chunks.push(claim.rows.slice(i, i + MAX_ENTRIES_PER_PUBLISH));
    const delivered: DeliveredTransition[] = [];
    const failed: { outboxId: string; retryAt: Date }[] = [];
    const errors = new Map<string, number>();
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < chunks.length) {
        const chunk = chunks[next++] as PendingTransition[];
        const results = await this.options.publisher.publish(chunk.map((r) => r.detail));
        const at = this.now().getTime();
        results.forEach((res, i) => {
          const row = chunk[i] as PendingTransition;
          if (res.ok) {
            delivered.push({ row, latencyMs: row.receivedAt ? at - row.receivedAt.getTime() : null });
          } else {
            errors.set(res.error, (errors.get(res.error) ?? 0) + 1);
            const delay = backoffDelayMs(row.attempts, RELAY_RETRY_BACKOFF, this.options.random ?? Math.random);
            failed.push({ outboxId: row.outboxId, retryAt: new Date(at + Math.max(delay, 100)) });
          }
        });
      }
    };
    try {
      await Promise.all(Array.from({ length: Math.min(this.options.concurrency ?? RELAY_CONCURRENCY, chunks.length) }, worker));
    } catch (err) {
      await claim.release().catch(() => undefined);
      throw err;
    }
    await claim.complete(delivered.map((d) => d.row.outboxId), failed);
    if (delivered.length > 0) this.options.onDelivered?.(delivered);
    if (failed.length > 0) {
      this.options.onFailed?.(failed.length);
      // Codes and counts only: the events carry pseudonyms, which stay out of logs.
      this.options.logger.warn({ failed: failed.length, errors: Object.fromEntries(errors) }, 'alert delivery failed; retrying later');
    }
    return claim.rows.length;
  }

  private async loop(): Promise<void> {
    let failures = 0;
    while (!this.abort.signal.aborted) {
      let claimed = 0;
      try {
        this.pendingWake = false;
        claimed = await this.deliverOnce();
        failures = 0;
      } catch (err) {
        failures++;
        this.options.logger.error({ err: errorSummary(err) }, 'alert relay round failed; retrying');
        await sleep(backoffDelayMs(failures, RELAY_RETRY_BACKOFF, this.options.random), this.abort.signal);
        continue;
      }
      // A full claim means more is waiting; otherwise sleep until woken or the poll interval passes.
      if (claimed === 0 && !this.pendingWake) await this.idle(this.options.pollMs ?? RELAY_POLL_MS);
    }
  }

  private idle(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.wakeUp = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wakeUp = done;
      if (this.abort.signal.aborted) done();
    });
  }
}
