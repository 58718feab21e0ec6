/**
 * The processor's half of dead-letter requeues: every `intervalMs` it requeues the dead letters an
 * operator requested (src/db/requeue-dead-letters.ts), decrypting them with the dead-letter key it
 * holds anyway. One task at a time (advisory lock; the others skip that round). Logs a summary line
 * of counts and ids only, never payloads.
 */
import type { Pool } from 'pg';
import type { PayloadProtector } from '../adapters/phi';
import type { Logger } from '../adapters/logger';
import { errorSummary } from '../adapters/logger';
import { requeueDeadLetters, type PutRecordsClient, type RequeueSummary } from '../adapters/dead-letter-requeue';

/** Requested dead letters per sweep: bounded work per round; the next round continues. */
export const REQUEUE_SWEEP_LIMIT = 5_000;

export interface RequeueSweepDeps {
  readonly pool: Pool;
  readonly kinesis: PutRecordsClient;
  readonly deadLetterPayloads: PayloadProtector;
  readonly streamName: string;
  readonly logger: Logger;
  readonly intervalMs: number;
}

/** One round: requeues what is requested (at most REQUEUE_SWEEP_LIMIT). */
export function sweepOnce(deps: Omit<RequeueSweepDeps, 'logger' | 'intervalMs'>): Promise<RequeueSummary> {
  return requeueDeadLetters(
    { streamName: deps.streamName, requestedOnly: true, skipIfLocked: true, limit: REQUEUE_SWEEP_LIMIT },
    { db: deps.pool, kinesis: deps.kinesis, phi: deps.deadLetterPayloads },
  );
}

/** Starts the periodic sweep; `stop()` waits for a round in progress. */
export function startRequeueSweep(deps: RequeueSweepDeps): { stop: () => Promise<void> } {
  let running: Promise<void> | undefined;
  let stopped = false;
  const round = async (): Promise<void> => {
    try {
      const summary = await sweepOnce(deps);
      if (summary.selected > 0) deps.logger[summary.failed > 0 ? 'warn' : 'info']({ stream: deps.streamName, ...summary }, 'dead-letter requeue');
    } catch (err) {
      deps.logger.warn({ err: errorSummary(err) }, 'dead-letter requeue sweep failed; retrying next round');
    }
  };
  const timer = setInterval(() => {
    if (stopped || running) return;
    running = round().finally(() => {
      running = undefined;
    });
  }, deps.intervalMs);
  timer.unref();
  return {
    stop: async () => {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
