/**
 * The processor entry point (`node dist/src/processor/main.js`): parse the configuration, wire the
 * adapters, start the lease loop and the health server, and shut down gracefully on SIGTERM/SIGINT
 * within SHUTDOWN_DEADLINE_MS (well inside ECS's 60 s stopTimeout).
 */
import { KMSClient } from '@aws-sdk/client-kms';
import { isRetryableAwsError, isThrottlingError, observeAttemptErrors } from '../adapters/backoff';
import { pgDataKeyStore } from '../adapters/data-key-store';
import { createPool } from '../adapters/db';
import { kinesisClientFor } from '../adapters/kinesis-client';
import { createLogger, errorSummary, type Logger } from '../adapters/logger';
import { createDeadLetterProtector, createPhiProtector } from '../adapters/phi';
import { startAlertDelivery } from './alert-delivery';
import { ConfigError, loadConfig, type ProcessorConfig } from './config';
import { startHealthServer } from './health';
import { Metrics } from './metrics';
import { Processor } from './processor';
import { startRequeueSweep } from './requeue-sweep';
import { BatchWriter } from './writer';
import { exitOnSignals } from '../adapters/graceful-shutdown';

export async function runProcessor(config: ProcessorConfig, logger: Logger): Promise<{ stop: () => Promise<void> }> {
  const metrics = new Metrics({ environment: config.environment, write: (line) => process.stdout.write(line) });
  const pool = createPool({ ...config.db, maxConnections: 20 });
  pool.on('error', (err) => logger.warn({ err: errorSummary(err) }, 'idle database connection failed'));
  const kinesis = kinesisClientFor({ region: config.region, endpoint: config.kinesisEndpoint, fastGetRecords: true });
  countRetries(kinesis, metrics, 'KinesisRetries', 'KinesisThrottles');
  let kms: KMSClient | undefined;
  if (config.phi.kind === 'kms') {
    kms = new KMSClient({ region: config.phi.region, maxAttempts: 4, retryMode: 'adaptive' });
    countRetries(kms, metrics, 'KmsRetries', 'KmsThrottles');
  }
  const phi = createPhiProtector(config.phi, pgDataKeyStore(pool), kms);
  const deadLetterPayloads = createDeadLetterProtector(config.phi, pgDataKeyStore(pool), kms);
  const sink = new BatchWriter({ pool, phi, deadLetterPayloads, news2WindowMs: config.news2WindowMs, escalationPolicy: config.alerts.escalation });
  const processor = new Processor(config, { pool, kinesis, sink, logger, metrics });
  const health = await startHealthServer(config.healthPort, () => processor.health());
  metrics.start(config.metricsFlushMs);
  processor.start();
  const requeue = startRequeueSweep({ pool, kinesis, deadLetterPayloads, streamName: config.streamName, logger, intervalMs: config.requeueSweepMs });
  const alerts = startAlertDelivery({ region: config.region, settings: config.alerts, pool, metrics, logger });
  logger.info({ healthPort: health.port, phi: config.phi.kind, dbAuth: config.db.auth.kind }, 'processor running');
  return {
    stop: async () => {
      await processor.stop();
      await requeue.stop();
      await alerts.stop();
      metrics.stop();
      await health.close();
      await pool.end();
      kinesis.destroy();
      kms?.destroy();
    },
  };
}

/** Counts every retryable failed attempt of the client's calls (SDK retries included), and the throttles among them. */
export function countRetries(
  client: Parameters<typeof observeAttemptErrors>[0],
  metrics: Metrics,
  retries: 'KinesisRetries' | 'KmsRetries',
  throttles: 'KinesisThrottles' | 'KmsThrottles',
): void {
  observeAttemptErrors(client, (err) => {
    if (!isRetryableAwsError(err)) return;
    metrics.count(retries);
    if (isThrottlingError(err)) metrics.count(throttles);
  });
}

async function main(): Promise<void> {
  let config: ProcessorConfig;
  try {
    config = loadConfig();
  } catch (err) {
    const problems = err instanceof ConfigError ? err.problems : [String(err)];
    process.stderr.write(`${JSON.stringify({ level: 'fatal', msg: 'invalid configuration', problems })}\n`);
    process.exit(1);
  }
  const logger = createLogger({ level: config.logLevel, base: { workerId: config.workerId } });
  const running = await runProcessor(config, logger);
  exitOnSignals(running, logger, config.shutdownDeadlineMs);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`${JSON.stringify({ level: 'fatal', msg: 'processor failed to start', err: errorSummary(err) })}\n`);
    process.exit(1);
  });
}
