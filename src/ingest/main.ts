/**
 * Standalone local ingest API: `node dist/src/ingest/main.js`, configured by environment
 * (src/ingest/config.ts). Stops cleanly on SIGTERM/SIGINT, finishing requests in flight.
 */
import pino from 'pino';
import { kinesisClientFor } from '../adapters/kinesis-client';
import { REDACT_PATHS } from '../adapters/logger';
import { loadIngestConfig } from './config';
import { buildIngestServer } from './server';

async function main(): Promise<void> {
  const config = loadIngestConfig();
  const logger = pino({
    level: config.logLevel,
    base: { service: 'vitals-ingest' },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  });
  const kinesis = kinesisClientFor({ region: config.region, endpoint: config.kinesisEndpoint });
  const app = buildIngestServer({
    kinesis,
    streamName: config.streamName,
    apiKeys: config.apiKeys,
    burst: config.burst,
    ratePerSec: config.ratePerSec,
    maxBodyBytes: config.maxBodyBytes,
    requestTimeoutMs: config.requestTimeoutMs,
    logger,
  });
  await app.listen({ host: config.host, port: config.port });

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping');
    void app.close().then(() => {
      kinesis.destroy();
      process.exit(0);
    });
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

main().catch((err: unknown) => {
  // Configuration errors name variables, never values of secrets; other errors: name and message only.
  const e = err instanceof Error ? { name: err.name, message: err.message } : { name: 'Error', message: String(err) };
  process.stderr.write(`${JSON.stringify({ level: 'fatal', service: 'vitals-ingest', err: e, msg: 'ingest server failed to start' })}\n`);
  process.exit(1);
});
