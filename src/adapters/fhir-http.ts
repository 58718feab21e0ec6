/**
 * The FHIR read API's routes on a fastify server: `GET <prefix>/Observation` (search),
 * `GET <prefix>/Observation/:id` (read) and `GET <prefix>/metadata` (CapabilityStatement), answering
 * application/fhir+json. Shared by the local ingest server (behind its API-key check) and the FHIR
 * service on AWS (behind API Gateway). A database failure is a 503 OperationOutcome without detail.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { capabilityStatement, FHIR_JSON, operationOutcome, readObservation, searchObservations, type FhirResponse, type ObservationStore } from '../fhir/api';
import type { QueryValues } from '../fhir/search';
import { errorSummary } from './logger';

export interface FhirRoutesOptions {
  readonly store: ObservationStore;
  /** Path prefix of the routes. @default '/fhir' */
  readonly prefix?: string;
  /** Absolute base URL clients use (links in bundles). @default derived from the request's host */
  readonly baseUrl?: string;
  /** Route config of the metadata route (e.g. `{ public: true }` to skip an API-key hook). */
  readonly metadataConfig?: Record<string, unknown>;
}

export function registerFhirRoutes(app: FastifyInstance, options: FhirRoutesOptions): void {
  const prefix = options.prefix ?? '/fhir';
  const base = (request: FastifyRequest): string => options.baseUrl ?? `${request.protocol}://${request.host}${prefix}`;
  const send = (reply: FastifyReply, r: FhirResponse): FastifyReply => reply.code(r.status).type(FHIR_JSON).send(r.body);
  const guarded = async (request: FastifyRequest, reply: FastifyReply, run: () => Promise<FhirResponse>): Promise<FastifyReply> => {
    try {
      return send(reply, await run());
    } catch (err) {
      request.log.error({ err: errorSummary(err) }, 'FHIR query failed');
      reply.header('retry-after', '1');
      return send(reply, operationOutcome(503, 'exception', ['the observation store is unavailable; retry later']));
    }
  };
  app.get(`${prefix}/metadata`, { config: options.metadataConfig ?? {} }, async (request, reply) => send(reply, { status: 200, body: capabilityStatement(base(request)) }));
  app.get(`${prefix}/Observation`, async (request, reply) =>
    guarded(request, reply, () => searchObservations(request.query as QueryValues, options.store, base(request))),
  );
  app.get<{ Params: { id: string } }>(`${prefix}/Observation/:id`, async (request, reply) => guarded(request, reply, () => readObservation(request.params.id, options.store)));
}
