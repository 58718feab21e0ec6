/**
 * The acknowledge route, shared by the local ingest server and any service that serves it on AWS:
 *
 *   POST /v1/alerts/{alertId}/acknowledge      (no body, or an empty JSON object)
 *
 * 200 `{alertId, status: "acknowledged", acknowledgedAt, acknowledgedBy, alreadyAcknowledged}`: the
 * first call records who (the caller's identity, from authentication: never from the body, never a
 * patient) and when; a repeated call answers the first acknowledgement again (idempotent).
 * 400 `{message, errors:[{field:"/alertId", ...}]}` for an id that is not a UUID; 404 for an unknown
 * alert; 409 `{message, clearedAt}` for an alert that cleared before anyone acknowledged it.
 * Authentication and throttling are the host server's (its onRequest hook runs first).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AcknowledgeOutcome } from './alert-store';

const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

export interface AlertRoutesOptions {
  readonly acknowledge: (alertId: string, by: string, now: Date) => Promise<AcknowledgeOutcome>;
  /** The authenticated caller, as recorded (e.g. `api-key:1a2b3c4d`, an IAM principal ARN). */
  readonly identityOf: (request: FastifyRequest) => string;
  readonly now?: () => Date;
}

export interface AcknowledgedBody {
  alertId: string;
  status: 'acknowledged';
  acknowledgedAt: string;
  acknowledgedBy: string | null;
  alreadyAcknowledged: boolean;
}

export function registerAlertRoutes(app: FastifyInstance, options: AlertRoutesOptions): void {
  const now = options.now ?? (() => new Date());
  app.post<{ Params: { alertId: string } }>('/v1/alerts/:alertId/acknowledge', async (request, reply) => {
    const { alertId } = request.params;
    if (!UUID.test(alertId)) {
      return reply.code(400).send({ message: 'Invalid request', errors: [{ field: '/alertId', message: 'must be a UUID' }] });
    }
    const body = request.body;
    if (body !== undefined && body !== null && !(typeof body === 'object' && !Array.isArray(body) && Object.keys(body).length === 0)) {
      // Free text could carry patient details: the route takes no body.
      return reply.code(400).send({ message: 'Invalid request body', errors: [{ field: '', message: 'must be empty' }] });
    }
    const outcome = await options.acknowledge(alertId.toLowerCase(), options.identityOf(request), now());
    switch (outcome.kind) {
      case 'not-found':
        return reply.code(404).send({ message: 'Not Found' });
      case 'cleared':
        return reply.code(409).send({ message: 'Alert already cleared; nothing to acknowledge', clearedAt: outcome.clearedAt.toISOString() });
      default: {
        const answer: AcknowledgedBody = {
          alertId: outcome.alertId,
          status: 'acknowledged',
          acknowledgedAt: outcome.acknowledgedAt.toISOString(),
          acknowledgedBy: outcome.acknowledgedBy,
          alreadyAcknowledged: outcome.kind === 'already-acknowledged',
        };
        return answer;
      }
    }
  });
}
