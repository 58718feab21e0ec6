/**
 * Alert delivery inside the processor task: the outbox relay (woken by LISTEN at commit, polling as a
 * fallback), the escalation scheduler, the outbox-age metric (the backlog alarm's input) and the
 * pruning of delivered rows. Every loop is safe to run in every task: claims and escalations lock
 * with SKIP LOCKED, so tasks share the work without delivering a patient's transitions out of order.
 */
import type { Pool } from 'pg';
import { sleep } from '../adapters/backoff';
import { checkout, claimPending, escalateDue, oldestPendingAgeMs, OUTBOX_CHANNEL, pruneDelivered } from '../adapters/alert-store';
import { eventBridgeClientFor, eventBridgePublisher } from '../adapters/eventbridge-publisher';
import { errorSummary, type Logger } from '../adapters/logger';
import { AlertRelay } from '../alerts/relay';
import type { AlertDeliverySettings } from './config';
import type { Metrics } from './metrics';

/** Delivered rows are kept this long (for inspection), then deleted; clinical_alerts keeps the record. */
export const DELIVERED_RETENTION_MS = 7 * 24 * 3_600_000;
const HOUSEKEEPING_MS = 10_000;

export interface AlertDeliveryDeps {
  readonly region: string;
  readonly settings: AlertDeliverySettings;
  readonly pool: Pool;
  readonly metrics: Metrics;
  readonly logger: Logger;
}

export function startAlertDelivery(deps: AlertDeliveryDeps): { stop: () => Promise<void> } {
  const { settings, pool, metrics, logger } = deps;
  const abort = new AbortController();
  const loops: Promise<void>[] = [];
  let relay: AlertRelay | undefined;
  let client: ReturnType<typeof eventBridgeClientFor> | undefined;

  if (settings.eventBusName) {
    client = eventBridgeClientFor({ region: deps.region, endpoint: settings.eventsEndpoint });
    relay = new AlertRelay({
      claim: (limit) => claimPending(pool, limit),
      publisher: eventBridgePublisher({ client, eventBusName: settings.eventBusName }),
      logger,
      pollMs: settings.relayPollMs,
      onDelivered: (delivered) => {
        metrics.count('AlertsDelivered', delivered.length);
        for (const d of delivered) if (d.latencyMs !== null) metrics.observe('AlertDeliveryLatencyMs', d.latencyMs);
      },
      onFailed: (n) => metrics.count('AlertDeliveryFailures', n),
    });
    relay.start();
    loops.push(listen(pool, () => relay?.wake(), abort.signal, logger));
  } else {
    logger.warn('ALERT_EVENT_BUS_NAME unset: alert transitions stay in the outbox until a relay runs');
  }

  loops.push(
    every(settings.escalationCheckMs, abort.signal, async () => {
      const escalated = await escalateDue(pool, new Date(), settings.escalation);
      if (escalated.length > 0) {
        metrics.count('AlertsEscalated', escalated.length);
        relay?.wake();
      }
    }, logger, 'alert escalation check failed'),
    every(HOUSEKEEPING_MS, abort.signal, async () => {
      metrics.observe('AlertOutboxAgeMs', await oldestPendingAgeMs(pool));
      await pruneDelivered(pool, new Date(Date.now() - DELIVERED_RETENTION_MS));
    }, logger, 'alert outbox housekeeping failed'),
  );

  return {
    stop: async () => {
      abort.abort();
      await relay?.stop();
      await Promise.all(loops);
      client?.destroy();
    },
  };
}

async function every(ms: number, signal: AbortSignal, work: () => Promise<void>, logger: Logger, failure: string): Promise<void> {
  while (!signal.aborted) {
    try {
      await work();
    } catch (err) {
      logger.warn({ err: errorSummary(err) }, failure);
    }
    await sleep(ms, signal);
  }
}

/** Holds one connection LISTENing on the outbox channel; reconnects after losing it. */
async function listen(pool: Pool, onNotify: () => void, signal: AbortSignal, logger: Logger): Promise<void> {
  while (!signal.aborted) {
    let held: Awaited<ReturnType<typeof checkout>> | undefined;
    try {
      held = await checkout(pool);
      const conn = held.client;
      // checkout's own listener keeps an `error` from crashing the process; this one ends the wait.
      let onLost: (err: Error) => void = () => undefined;
      const lost = new Promise<Error>((resolve) => (onLost = resolve));
      conn.on('error', onLost);
      conn.on('notification', onNotify);
      await conn.query(`LISTEN ${OUTBOX_CHANNEL}`);
      const aborted = new Promise<undefined>((resolve) => signal.addEventListener('abort', () => resolve(undefined), { once: true }));
      const err = await Promise.race([lost, aborted]);
      conn.removeListener('notification', onNotify);
      conn.removeListener('error', onLost);
      if (err) throw err;
      await conn.query(`UNLISTEN ${OUTBOX_CHANNEL}`).catch(() => undefined);
      held.release();
      return;
    } catch (err) {
      held?.release(err as Error);
      logger.warn({ err: errorSummary(err) }, 'alert outbox listener lost; reconnecting (the relay polls meanwhile)');
      await sleep(1_000, signal);
    }
  }
}
