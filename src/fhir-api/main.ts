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
import { acknowledgeAlert, type AcknowledgeOutcome } from '../adapters/alert-store';
import { registerAlertRoutes } from '../adapters/alert-http';
import { CALLER_HEADER, FhirApiConfigError, loadFhirApiConfig, type FhirApiConfig } from './config';
import { exitOnSignals } from '../adapters/graceful-shutdown';

export const DB_PING_TIMEOUT_MS = 2_000;

export interface FhirApiOptions {
  /** Absolute base URL of the API as clients call it (bundle links). */
  readonly baseUrl?: string;
  /** Serve HTTPS with this key and certificate. */
  readonly https?: { readonly key: string; readonly cert: string };
  /**
   * Serve `POST /v1/alerts/{alertId}/acknowledge` with this function (the acknowledging role's pool).
   * The caller is the IAM principal API Gateway authenticated, in the CALLER_HEADER it sets.
   */
  readonly acknowledge?: (alertId: string, by: string, now: Date) => Promise<AcknowledgeOutcome>;
}

/** An IAM principal ARN as API Gateway reports `$context.identity.userArn` (user, assumed role, root). */
const CALLER_ARN = /^arn:aws[a-z-]*:(iam|sts)::\d{12}:[\w+=,.@/-]{1,512}$/;

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
  if (options.acknowledge) {
    const acknowledge = options.acknowledge;
    app.register(async (scope) => {
      // Who acknowledged is the authenticated principal, never the request: without API Gateway's
      // header (a request that did not come through the authenticated route) nothing is recorded.
      scope.addHook('onRequest', async (request, reply) => {
        const caller = request.headers[CALLER_HEADER];
        if (typeof caller !== 'string' || !CALLER_ARN.test(caller)) {
          return reply.code(403).send({ message: 'Forbidden: no authenticated caller' });
        }
        return undefined;
      });
      registerAlertRoutes(scope, { acknowledge, identityOf: (request) => `iam:${String(request.headers[CALLER_HEADER])}` });
    });
  }
  return app;
}

export async function runFhirApi(config: FhirApiConfig, logger: Logger): Promise<{ port: number; stop: () => Promise<void> }> {
  const pool = createPool(config.db);
  pool.on('error', (err) => logger.warn({ err: errorSummary(err) }, 'idle database connection failed'));
  const ackPool = config.acknowledge ? createPool(config.acknowledge.db) : undefined;
  ackPool?.on('error', (err) => logger.warn({ err: errorSummary(err) }, 'idle acknowledge connection failed'));
  // Behind the NLB, which re-encrypts without verifying the target: a fresh certificate per task.
  const https = config.tlsSelfSigned ? await generate([{ name: 'commonName', value: 'vitals-fhir-api' }], { keyType: 'ec', curve: 'P-256', algorithm: 'sha256' }) : undefined;
  const app = buildFhirApi(pool, logger, {
    ...(config.baseUrl ? { baseUrl: config.baseUrl } : {}),
    ...(https ? { https: { key: https.private, cert: https.cert } } : {}),
    ...(ackPool ? { acknowledge: (alertId: string, by: string, now: Date) => acknowledgeAlert(ackPool, alertId, by, now) } : {}),
  });
  await app.listen({ host: config.host, port: config.port });
  const port = (app.server.address() as { port: number }).port;
  logger.info({ port, tls: config.tlsSelfSigned, dbAuth: config.db.auth.kind, user: config.db.user, acknowledgeUser: config.acknowledge?.db.user ?? null }, 'FHIR API listening');
  return {
    port,
    stop: async () => {
      await app.close();
      await pool.end();
      await ackPool?.end();
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
