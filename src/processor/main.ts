/**
 * The processor entry point (`node dist/src/processor/main.js`): parse the configuration, wire the
 * adapters, start the lease loop and the health server, and shut down gracefully on SIGTERM/SIGINT
 * within SHUTDOWN_DEADLINE_MS (well inside ECS's 60 s stopTimeout).
 */
import type { Pool } from 'pg';
import { ConfigError, loadConfig, type ProcessorConfig } from './config';
import { createPool } from './db';
import { databaseAnswers, startHealthServer } from './health';
import { kinesisClientFor } from './kinesis-client';
import { createLogger, errorSummary, type Logger } from './logger';
import { Metrics } from './metrics';
import { createPhiProtector, type DataKeyStore } from './phi';
import { Processor } from './processor';
import { BatchWriter } from './writer';

/** data_keys rows: the wrapped data keys ciphertexts reference. */
export function pgDataKeyStore(pool: Pool): DataKeyStore {
  return {
    save: async (k) => {
      await pool.query('INSERT INTO data_keys (data_key_id, wrapped_key, wrapping_key) VALUES ($1, $2, $3)', [k.dataKeyId, k.wrappedKey, k.wrappingKey]);
    },
    load: async (id) => {
      const { rows } = await pool.query<{ wrapped_key: Buffer; wrapping_key: string }>('SELECT wrapped_key, wrapping_key FROM data_keys WHERE data_key_id = $1', [id]);
      const row = rows[0];
      return row ? { dataKeyId: id, wrappedKey: row.wrapped_key, wrappingKey: row.wrapping_key } : undefined;
    },
  };
}

export async function runProcessor(config: ProcessorConfig, logger: Logger): Promise<{ stop: () => Promise<void> }> {
  const metrics = new Metrics({ environment: config.environment, write: (line) => process.stdout.write(line) });
  const pool = createPool({ ...config.db, maxConnections: 20 });
  pool.on('error', (err) => logger.warn({ err: errorSummary(err) }, 'idle database connection failed'));
  const kinesis = kinesisClientFor({ region: config.region, endpoint: config.kinesisEndpoint });
  const phi = createPhiProtector(config.phi, pgDataKeyStore(pool));
  const sink = new BatchWriter({ pool, phi, news2WindowMs: config.news2WindowMs });
  const processor = new Processor(config, { pool, kinesis, sink, logger, metrics });
  const health = await startHealthServer(config.healthPort, async () => processor.healthy() && (await databaseAnswers(pool)));
  metrics.start(config.metricsFlushMs);
  processor.start();
  logger.info({ healthPort: health.port, phi: config.phi.kind, dbAuth: config.db.auth.kind }, 'processor running');
  return {
    stop: async () => {
      await processor.stop();
      metrics.stop();
      await health.close();
      await pool.end();
      kinesis.destroy();
    },
  };
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
  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal, deadlineMs: config.shutdownDeadlineMs }, 'shutting down');
    setTimeout(() => {
      logger.error('shutdown deadline exceeded; exiting');
      process.exit(1);
    }, config.shutdownDeadlineMs).unref();
    running.stop().then(
      () => {
        logger.info('shutdown complete');
        process.exit(0);
      },
      (err: unknown) => {
        logger.error({ err: errorSummary(err) }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`${JSON.stringify({ level: 'fatal', msg: 'processor failed to start', err: errorSummary(err) })}\n`);
    process.exit(1);
  });
}
