/**
 * The acknowledge API on the local ingest server (`POST /v1/alerts/{alertId}/acknowledge`), behind
 * its API-key check and throttling. The caller is recorded as `api-key:<label>` (the key's short
 * SHA-256 label, never the key). Registered by server.ts when it is given an acknowledge function.
 */
import type { FastifyInstance } from 'fastify';
import { registerAlertRoutes, type AlertRoutesOptions } from '../adapters/alert-http';

export type IngestAlertOptions = Pick<AlertRoutesOptions, 'acknowledge' | 'now'>;

export function registerIngestAlertRoutes(app: FastifyInstance, options: IngestAlertOptions | undefined): void {
  if (!options) return;
  registerAlertRoutes(app, { ...options, identityOf: (request) => `api-key:${request.apiKeyLabel ?? 'unknown'}` });
}
