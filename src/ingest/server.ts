/**
 * The local ingest API: the same route and contract as the API Gateway REST API on AWS.
 *
 *   POST /v1/events   x-api-key: <key>   content-type: application/json   {"events": [...]}
 *
 * Checks run in API Gateway's order: API key (401 missing / 403 unknown) and throttling (429 with
 * Retry-After) before the body is read, then media type (415), size (413) and the schema (400 with
 * `{ message, errors: [{ field, message }] }`), then PutRecords (200 `{ accepted, ... }`, or 503 when
 * some events could not be written after retries; both shaped like the API Gateway response template). Default messages are API Gateway's gateway-response
 * messages. No response or log line ever contains a request value: bodies and keys are never logged.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply } from 'fastify';
import pino from 'pino';
import { validateBatch, type FieldError } from '../schema';
import { REDACT_PATHS } from '../adapters/logger';
import { putEvents, type PutEventsOptions } from './put-records';
import { KeyedTokenBuckets, type Clock } from './token-bucket';
import { registerIngestFhirRoutes, type IngestFhirOptions } from './fhir-routes';
import { registerIngestAlertRoutes, type IngestAlertOptions } from './alert-routes';

export interface IngestServerOptions {
  readonly kinesis: KinesisClient;
  readonly streamName: string;
  /** Accepted values of the `x-api-key` header. */
  readonly apiKeys: readonly string[];
  /** Token-bucket size per API key. @default 500 */
  readonly burst?: number;
  /** Token refill rate per API key, requests per second. @default 100 */
  readonly ratePerSec?: number;
  /** pino-compatible logger. @default pino at `info` to stdout, with the PHI redaction paths */
  readonly logger?: FastifyBaseLogger;
  /**
   * Largest request body in bytes. @default 5 MiB (5,242,880): PutRecords' own per-request limit.
   * API Gateway accepts up to 10 MB, but a valid 500-event batch is ~0.3 MB of compact JSON, so a
   * body over 5 MiB can only be a batch that breaks the schema or one that PutRecords would refuse.
   */
  readonly maxBodyBytes?: number;
  /** Clock for the token buckets (ms). @default performance.now */
  readonly clock?: Clock;
  /** Retry policy for partially failed PutRecords calls. */
  readonly put?: PutEventsOptions;
  /**
   * A request (headers and body) must arrive within this, or it is answered 408 and its connection
   * closed, so slow clients cannot hold connections. @default 30000 (API Gateway's integration limit is 29 s)
   */
  readonly requestTimeoutMs?: number;
  /** Headers must arrive within this (at most requestTimeoutMs). @default 10000 */
  readonly headersTimeoutMs?: number;
  /** Serve the read-only FHIR API (`/fhir/...`) from this observation store. @default not served */
  readonly fhir?: IngestFhirOptions;
  /** Serve `POST /v1/alerts/{alertId}/acknowledge` with this. @default not served */
  readonly alerts?: IngestAlertOptions;
}

export const DEFAULT_MAX_BODY_BYTES = 5 * 1024 * 1024;
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
export const DEFAULT_HEADERS_TIMEOUT_MS = 10_000;
/** How often Node checks requests against the timeouts (its default, 30 s, would let them overrun). */
const TIMEOUT_CHECK_INTERVAL_MS = 250;

/** API Gateway's default gateway-response messages, so clients see the same text locally and on AWS. */
export const MESSAGES = {
  missingKey: 'Unauthorized',
  unknownKey: 'Forbidden',
  throttled: 'Too Many Requests',
  badBody: 'Invalid request body',
  tooLarge: 'Request Too Long',
  mediaType: 'Unsupported Media Type',
  notFound: 'Not Found',
  unavailable: 'Service Unavailable',
  internal: 'Internal server error',
  timeout: 'Request Timeout',
} as const;

/**
 * Errors Node raises before a request reaches fastify (a timed-out request, a body shorter than its
 * content-length cut by the client, malformed HTTP): answered in the documented `{message, errors}`
 * shape, never fastify's default, then the connection is closed.
 */
function answerClientError(err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return; // nobody left to answer
  const [status, body]: [number, ErrorBody] =
    err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? [408, { message: MESSAGES.timeout }]
      : err.code === 'HPE_HEADER_OVERFLOW'
        ? [431, { message: MESSAGES.badBody, errors: [{ field: '', message: 'request headers too large' }] }]
        : [400, { message: MESSAGES.badBody, errors: [{ field: '', message: 'malformed or incomplete HTTP request' }] }];
  const text = JSON.stringify(body);
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Length: ${Buffer.byteLength(text)}\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n${text}`);
  }
  socket.destroy();
}

/** Only UTF-8 bodies (RFC 8259): a JSON media type naming another charset is refused with 415. */
export function charsetAccepted(contentType: string | undefined): boolean {
  const m = /;\s*charset\s*=\s*"?([^";\s]+)"?/i.exec(contentType ?? '');
  return !m || /^utf-?8$/i.test(m[1] as string);
}

/** Error body of every 4xx answer; `errors` only for 400. */
export interface ErrorBody {
  message: string;
  errors?: FieldError[];
}

/**
 * Body of 200 and of 503 (some events unwritten), shaped like the API Gateway integration response
 * template (src/infra/mapping-template.ts) so clients parse one format: `failed` lists each unwritten
 * event's index and Kinesis error code, so a client can resend exactly those.
 */
export interface PutResultBody {
  message?: string;
  accepted: number;
  FailedRecordCount: number;
  failed: Array<{ index: number; errorCode: string }>;
  requestId: string;
}

function defaultLogger(): FastifyBaseLogger {
  return pino({
    level: 'info',
    base: { service: 'vitals-ingest' },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  });
}

/** A short, stable, non-reversible label for an API key in logs (the key itself is a secret). */
export function apiKeyLabel(key: string): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 8);
}

/** Constant-time membership test, so response timing does not reveal how much of a key matched. */
function keyMatcher(apiKeys: readonly string[]): (candidate: string) => boolean {
  const digests = apiKeys.map((k) => createHash('sha256').update(k).digest());
  return (candidate) => {
    const d = createHash('sha256').update(candidate).digest();
    let found = false;
    for (const k of digests) found = timingSafeEqual(k, d) || found;
    return found;
  };
}

function sendError(reply: FastifyReply, status: number, body: ErrorBody): FastifyReply {
  return reply.code(status).type('application/json').send(body);
}

declare module 'fastify' {
  interface FastifyRequest {
    apiKeyLabel?: string;
    eventCount?: number;
  }
}

export function buildIngestServer(opts: IngestServerOptions): FastifyInstance {
  if (opts.apiKeys.length === 0 || opts.apiKeys.some((k) => k.length === 0)) {
    throw new Error('apiKeys must hold at least one non-empty key');
  }
  if (!opts.streamName) throw new Error('streamName must not be empty');
  const maxBodyBytes = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  if (!Number.isInteger(maxBodyBytes) || maxBodyBytes < 1) {
    throw new RangeError(`maxBodyBytes must be an integer >= 1; received ${maxBodyBytes}`);
  }
  const requestTimeoutMs = opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const headersTimeoutMs = Math.min(opts.headersTimeoutMs ?? DEFAULT_HEADERS_TIMEOUT_MS, requestTimeoutMs);
  if (!Number.isInteger(requestTimeoutMs) || requestTimeoutMs < 1) throw new RangeError(`requestTimeoutMs must be an integer >= 1; received ${requestTimeoutMs}`);
  const isKnownKey = keyMatcher(opts.apiKeys);
  const buckets = new KeyedTokenBuckets({ burst: opts.burst, ratePerSec: opts.ratePerSec, clock: opts.clock });

  const app = Fastify({
    loggerInstance: opts.logger ?? defaultLogger(),
    bodyLimit: maxBodyBytes,
    // Our own access line (onResponse) replaces fastify's, whose req serializer logs the full URL.
    logController: new LogController({ disableRequestLogging: true }),
    // Slow clients: headers and the whole request are bounded in time, and so is an idle connection.
    requestTimeout: requestTimeoutMs,
    connectionTimeout: requestTimeoutMs * 2,
    http: { headersTimeout: headersTimeoutMs, connectionsCheckingInterval: TIMEOUT_CHECK_INTERVAL_MS },
    clientErrorHandler: answerClientError,
  });

  // API key and throttling before the body is read, like API Gateway (and cheap for rejected callers).
  app.addHook('onRequest', async (request, reply) => {
    if (request.routeOptions.config && (request.routeOptions.config as { public?: boolean }).public) return;
    if (request.routeOptions.url === undefined) return; // 404s are answered by the not-found handler
    const header = request.headers['x-api-key'];
    const key = Array.isArray(header) ? header[0] : header;
    if (!key) return sendError(reply, 401, { message: MESSAGES.missingKey });
    if (!isKnownKey(key)) return sendError(reply, 403, { message: MESSAGES.unknownKey });
    request.apiKeyLabel = apiKeyLabel(key);
    if (!charsetAccepted(request.headers['content-type'])) return sendError(reply, 415, { message: MESSAGES.mediaType });
    const taken = buckets.take(key);
    if (!taken.ok) {
      reply.header('retry-after', String(Math.max(1, Math.ceil(taken.retryAfterMs / 1000))));
      return sendError(reply, 429, { message: MESSAGES.throttled });
    }
    return undefined;
  });

  app.addHook('onResponse', async (request, reply) => {
    request.log.info(
      {
        method: request.method,
        route: request.routeOptions.url ?? 'unmatched',
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime),
        ...(request.apiKeyLabel ? { apiKey: request.apiKeyLabel } : {}),
        ...(request.eventCount !== undefined ? { events: request.eventCount } : {}),
      },
      'request completed',
    );
  });

  app.setNotFoundHandler((_request, reply) => sendError(reply, 404, { message: MESSAGES.notFound }));

  // Every framework error (bad JSON, wrong media type, oversize body) gets a fixed message: fastify's
  // own messages can quote the body (JSON.parse errors show the text around the fault).
  app.setErrorHandler((err: FastifyError, request, reply) => {
    const code = err.code ?? err.name;
    switch (code) {
      case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
        return sendError(reply, 415, { message: MESSAGES.mediaType });
      case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
        return sendError(reply, 400, { message: MESSAGES.badBody, errors: [{ field: '', message: 'content-length does not match the body' }] });
      case 'FST_ERR_CTP_BODY_TOO_LARGE':
        return sendError(reply, 413, { message: MESSAGES.tooLarge });
      case 'FST_ERR_CTP_EMPTY_JSON_BODY':
        return sendError(reply, 400, { message: MESSAGES.badBody, errors: [{ field: '', message: 'body is empty' }] });
      default:
        if (err.statusCode === 400 || err instanceof SyntaxError) {
          return sendError(reply, 400, { message: MESSAGES.badBody, errors: [{ field: '', message: 'body is not valid JSON' }] });
        }
        request.log.error({ err: { name: err.name, code } }, 'request failed');
        return sendError(reply, 500, { message: MESSAGES.internal });
    }
  });

  // Only JSON bodies: anything else is refused with 415 before it is parsed (fastify's default for
  // unregistered types); text/plain is registered by default, so remove it.
  app.removeContentTypeParser(['text/plain']);

  app.get('/v1/health', { config: { public: true } }, async () => ({ status: 'ok' }));
  registerIngestFhirRoutes(app, opts.fhir);
  registerIngestAlertRoutes(app, opts.alerts);

  app.post('/v1/events', async (request, reply) => {
    if (request.body === undefined) {
      // A POST without a content type carries no parsed body: API Gateway answers 415 for a missing type too.
      return sendError(reply, 415, { message: MESSAGES.mediaType });
    }
    const valid = validateBatch(request.body);
    if (!valid.ok) return sendError(reply, 400, { message: MESSAGES.badBody, errors: valid.errors });
    const { events } = valid.batch;
    request.eventCount = events.length;
    const result = await putEvents(opts.kinesis, opts.streamName, events, opts.put);
    const body: PutResultBody = {
      accepted: result.accepted,
      FailedRecordCount: result.failed.length,
      failed: result.failed.map((f) => ({ index: f.index, errorCode: f.errorCode })),
      requestId: request.id,
    };
    if (result.failed.length === 0) return body;
    request.log.warn(
      {
        accepted: result.accepted,
        failed: result.failed.length,
        errorCodes: [...new Set(result.failed.map((f) => f.errorCode))],
        attempts: result.attempts,
      },
      'PutRecords left events unwritten after retries',
    );
    reply.header('retry-after', '1');
    return reply.code(503).send({ message: MESSAGES.unavailable, ...body });
  });

  return app;
}
