/**
 * The FHIR read service (`node dist/src/fhir-api/main.js`): the read-only FHIR API over a pooled,
 * TLS, IAM-authenticated connection to Aurora as `vitals_fhir_reader`, behind API Gateway (which
 * authenticates callers) through a VPC link. `GET /health` answers 200 while the database answers.
 * Access lines name the route template and status, never the query (it carries the patient pseudonym).
 */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Pool } from 'pg';
import { generate } from 'selfsigned';
import { createPool } from '../adapters/db';
import { registerFhirRoutes } from '../adapters/fhir-http';
import { createLogger, errorSummary, type Logger } from '../adapters/logger';
import { pgObservationStore } from '../adapters/observation-store';
import { FhirApiConfigError, loadFhirApiConfig, type FhirApiConfig } from './config';
import { exitOnSignals } from '../adapters/graceful-shutdown';

export const DB_PING_TIMEOUT_MS = 2_000;

export interface FhirApiOptions {
  /** Absolute base URL of the API as clients call it (bundle links). */
  readonly baseUrl?: string;
  /** Serve HTTPS with this key and certificate. */
  readonly https?: { readonly key: string; readonly cert: string };
}

export function buildFhirApi(pool: Pick<Pool, 'query'>, logger: Logger, options: FhirApiOptions = {}): FastifyInstance {
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    ...(options.https ? { https: { key: options.https.key, cert: options.https.cert, minVersion: 'TLSv1.2' as const } } : {}),
  }) as unknown as FastifyInstance;
  app.addHook('onResponse', async (request, reply) => {
    request.log.info({ method: request.method, route: request.routeOptions.url ?? 'unmatched', status: reply.statusCode, ms: Math.round(reply.elapsedTime) }, 'request completed');
  });
  app.get('/health', async (_request, reply) => {
    let timer: NodeJS.Timeout | undefined;
    const ok = await Promise.race([
      pool.query('SELECT 1').then(() => true, () => false),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), DB_PING_TIMEOUT_MS))),
    ]);
    clearTimeout(timer);
    return reply.code(ok ? 200 : 503).send({ status: ok ? 'ok' : 'database unavailable' });
  });
  registerFhirRoutes(app, { store: pgObservationStore(pool), prefix: '/fhir', ...(options.baseUrl ? { baseUrl: options.baseUrl } : {}) });
  return app;
}

export async function runFhirApi(config: FhirApiConfig, logger: Logger): Promise<{ port: number; stop: () => Promise<void> }> {
  const pool = createPool(config.db);
  pool.on('error', (err) => logger.warn({ err: errorSummary(err) }, 'idle database connection failed'));
  // Behind the NLB, which re-encrypts without verifying the target: a fresh certificate per task.
  const https = config.tlsSelfSigned ? await generate([{ name: 'commonName', value: 'vitals-fhir-api' }], { keyType: 'ec', curve: 'P-256', algorithm: 'sha256' }) : undefined;
  const app = buildFhirApi(pool, logger, { ...(config.baseUrl ? { baseUrl: config.baseUrl } : {}), ...(https ? { https: { key: https.private, cert: https.cert } } : {}) });
  await app.listen({ host: config.host, port: config.port });
  const port = (app.server.address() as { port: number }).port;
  logger.info({ port, tls: config.tlsSelfSigned, dbAuth: config.db.auth.kind, user: config.db.user }, 'FHIR API listening');
  return {
    port,
    stop: async () => {
      await app.close();
      await pool.end();
    },
  };
}

async function main(): Promise<void> {
  let config: FhirApiConfig;
  try {
    config = loadFhirApiConfig();
  } catch (err) {
    const problems = err instanceof FhirApiConfigError ? err.problems : [String(err)];
    process.stderr.write(`${JSON.stringify({ level: 'fatal', service: 'vitals-fhir-api', msg: 'invalid configuration', problems })}\n`);
    process.exit(1);
  }
  const logger = createLogger({ level: config.logLevel, base: { service: 'vitals-fhir-api' } });
  const running = await runFhirApi(config, logger);
  exitOnSignals(running, logger, 20_000);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`${JSON.stringify({ level: 'fatal', service: 'vitals-fhir-api', msg: 'FHIR API failed to start', err: errorSummary(err) })}\n`);
    process.exit(1);
  });
}
