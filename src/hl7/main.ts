/**
 * The HL7 gateway entry point (`node dist/src/hl7/main.js`): parse the configuration, start the MLLP
 * listener and the health server (`GET /health`), flush EMF metrics, and on SIGTERM/SIGINT stop
 * accepting, answer every message already received, and exit within SHUTDOWN_DEADLINE_MS.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { generate } from 'selfsigned';
import { EmfMetrics } from '../adapters/emf';
import { kinesisClientFor } from '../adapters/kinesis-client';
import { createLogger, errorSummary, type Logger } from '../adapters/logger';
import { GatewayConfigError, loadGatewayConfig, type GatewayConfig } from './config';
import { KinesisRecordWriter } from './record-writer';
import { GATEWAY_METRIC_UNITS, MllpGateway, type GatewayMetric, type GatewayOptions, type TlsSettings } from './server';
import { exitOnSignals } from '../adapters/graceful-shutdown';

async function tlsSettings(config: GatewayConfig): Promise<TlsSettings | undefined> {
  const t = config.tls;
  if (t.kind === 'off') return undefined;
  const clientCa = t.clientCaFile ? { clientCa: readFileSync(t.clientCaFile) } : {};
  if (t.kind === 'files') return { cert: readFileSync(t.certFile), key: readFileSync(t.keyFile), ...clientCa };
  // The NLB re-encrypts to the task without verifying its certificate: a fresh one per task will do.
  const pems = await generate([{ name: 'commonName', value: 'vitals-hl7-gateway' }], { keyType: 'ec', curve: 'P-256', algorithm: 'sha256' });
  return { cert: pems.cert, key: pems.private, ...clientCa };
}

export interface RunningGateway {
  readonly port: number;
  readonly healthPort: number;
  readonly gateway: MllpGateway;
  stop(): Promise<void>;
}

export interface RunGatewayOptions {
  /** Where EMF lines go. @default stdout (the awslogs driver ships them) */
  readonly writeMetrics?: (line: string) => void;
  /** Observes every answered message (the local runner's counts). */
  readonly onAnswered?: GatewayOptions['onAnswered'];
}

export async function runGateway(config: GatewayConfig, logger: Logger, options: RunGatewayOptions = {}): Promise<RunningGateway> {
  const metrics = new EmfMetrics<GatewayMetric>({
    service: 'vitals-hl7-gateway',
    environment: config.environment,
    units: GATEWAY_METRIC_UNITS,
    write: options.writeMetrics ?? ((line) => process.stdout.write(line)),
  });
  const kinesis = kinesisClientFor({ region: config.region, endpoint: config.kinesisEndpoint });
  const writer = new KinesisRecordWriter({
    kinesis,
    streamName: config.streamName,
    deadlineMs: config.putDeadlineMs,
    onCall: (records, failed) => {
      metrics.count('PutCalls');
      if (failed > 0) metrics.count('PutRecordFailures', failed);
    },
  });
  const tls = await tlsSettings(config);
  const gateway = new MllpGateway({
    host: config.host,
    port: config.port,
    ...(tls ? { tls } : {}),
    writer,
    logger,
    metrics,
    maxMessageBytes: config.maxMessageBytes,
    idleTimeoutMs: config.idleTimeoutMs,
    frameTimeoutMs: config.frameTimeoutMs,
    maxInFlightPerConnection: config.maxInFlightPerConnection,
    maxConnections: config.maxConnections,
    ...(config.localTimeZone ? { localTimeZone: config.localTimeZone } : {}),
    ackIdentity: { application: config.ackApplication, facility: config.ackFacility },
    ...(options.onAnswered ? { onAnswered: options.onAnswered } : {}),
  });
  const address = await gateway.start();
  const health = await startHealth(config.host === '127.0.0.1' ? '127.0.0.1' : '0.0.0.0', config.healthPort, gateway);
  metrics.start(config.metricsFlushMs);
  logger.info({ host: address.host, port: address.port, tls: config.tls.kind, mutualTls: config.tls.kind !== 'off' && Boolean(config.tls.clientCaFile), healthPort: health.port }, 'HL7 gateway listening');
  return {
    port: address.port,
    healthPort: health.port,
    gateway,
    stop: async () => {
      await gateway.stop(Math.max(1_000, config.shutdownDeadlineMs - 5_000));
      await writer.drain();
      metrics.stop();
      await new Promise<void>((resolve) => {
        health.server.closeAllConnections();
        health.server.close(() => resolve());
      });
      kinesis.destroy();
    },
  };
}

/** GET /health: 200 while the MLLP listener accepts connections, 503 while stopping. */
async function startHealth(host: string, port: number, gateway: MllpGateway): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/health') {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"status":"not found"}');
      return;
    }
    const ok = gateway.listening;
    res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify({ status: ok ? 'ok' : 'stopping', connections: gateway.openConnections }));
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return { server, port: (server.address() as AddressInfo).port };
}

async function main(): Promise<void> {
  let config: GatewayConfig;
  try {
    config = loadGatewayConfig();
  } catch (err) {
    const problems = err instanceof GatewayConfigError ? err.problems : [String(err)];
    process.stderr.write(`${JSON.stringify({ level: 'fatal', service: 'vitals-hl7-gateway', msg: 'invalid configuration', problems })}\n`);
    process.exit(1);
  }
  const logger = createLogger({ level: config.logLevel, base: { service: 'vitals-hl7-gateway' } });
  const running = await runGateway(config, logger);
  // The local runner reads this line to find the port.
  process.stdout.write(`${JSON.stringify({ level: 'info', service: 'vitals-hl7-gateway', msg: 'listening', hl7: `${config.host}:${running.port}`, health: running.healthPort })}\n`);
  exitOnSignals(running, logger, config.shutdownDeadlineMs);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`${JSON.stringify({ level: 'fatal', service: 'vitals-hl7-gateway', msg: 'HL7 gateway failed to start', err: errorSummary(err) })}\n`);
    process.exit(1);
  });
}
