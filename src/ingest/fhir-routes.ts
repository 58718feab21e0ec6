/**
 * The FHIR read API on the local ingest server (`GET /fhir/Observation?patient=...`, read by id,
 * `/fhir/metadata`), behind the server's API-key check and throttling like every route but health
 * and metadata. Registered by server.ts when it is given an observation store.
 */
import type { FastifyInstance } from 'fastify';
import { registerFhirRoutes, type FhirRoutesOptions } from '../adapters/fhir-http';

export type IngestFhirOptions = Pick<FhirRoutesOptions, 'store' | 'baseUrl'>;

export function registerIngestFhirRoutes(app: FastifyInstance, options: IngestFhirOptions | undefined): void {
  if (!options) return;
  registerFhirRoutes(app, { ...options, prefix: '/fhir', metadataConfig: { public: true } });
}
