/**
 * Settings of the FHIR read service (`node dist/src/fhir-api/main.js`, the ECS service behind API
 * Gateway), parsed once from the environment; every problem reported at once. In production it
 * connects as the read-only role with IAM database authentication, and the public base URL (the
 * API Gateway stage's /fhir) is required so bundle links point where clients call.
 */
import type { DbSettings } from '../adapters/db';
import { envReader } from '../adapters/env-reader';

export interface FhirApiConfig {
  readonly production: boolean;
  readonly host: string;
  readonly port: number;
  readonly baseUrl?: string;
  /** Serve HTTPS with a certificate generated at start-up (behind the NLB, which does not verify it). */
  readonly tlsSelfSigned: boolean;
  readonly db: DbSettings;
  /**
   * The acknowledge route (`POST /v1/alerts/{alertId}/acknowledge`), served when ALERT_ACK_DB_HOST is
   * set: its own pool to the writer as the acknowledging role (`vitals_alert_acker`).
   */
  readonly acknowledge?: { readonly db: DbSettings };
  readonly logLevel: string;
}

/** The header API Gateway sets to the authenticated caller (`$context.identity.userArn`), overriding any client value. */
export const CALLER_HEADER = 'x-vitals-caller';
export const DEFAULT_ALERT_ACKER_USER = 'vitals_alert_acker';

export class FhirApiConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid FHIR API configuration: ${problems.join('; ')}`);
    this.name = 'FhirApiConfigError';
  }
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export function loadFhirApiConfig(env: NodeJS.ProcessEnv = process.env): FhirApiConfig {
  const problems: string[] = [];
  const { production, get, need } = envReader(env, problems);
  const int = (name: string, fallback: number, min: number, max: number): number => {
    const raw = get(name);
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) {
      problems.push(`${name} must be an integer ${min}..${max}; received ${JSON.stringify(raw)}`);
      return fallback;
    }
    return n;
  };
  const region = need('AWS_REGION', 'eu-central-2');
  const dbAuth = need('DB_AUTH', 'password');
  let auth: DbSettings['auth'] = { kind: 'iam', region };
  if (dbAuth === 'password') {
    if (production) problems.push('DB_AUTH must be iam when NODE_ENV=production (no database password on AWS)');
    const password = get('DB_PASSWORD');
    if (password === undefined) problems.push('missing environment variable DB_PASSWORD (required with DB_AUTH=password)');
    auth = { kind: 'password', password: password ?? '' };
  } else if (dbAuth !== 'iam' && dbAuth !== '') {
    problems.push(`DB_AUTH must be iam or password; received ${JSON.stringify(dbAuth)}`);
  }
  const baseUrl = production ? need('FHIR_BASE_URL') : get('FHIR_BASE_URL');
  if (baseUrl && !/^https?:\/\/[^\s]+[^/]$/.test(baseUrl)) problems.push(`FHIR_BASE_URL must be an http(s) URL without a trailing slash; received ${JSON.stringify(baseUrl)}`);
  const tls = get('FHIR_TLS_SELF_SIGNED') ?? 'false';
  if (tls !== 'true' && tls !== 'false') problems.push(`FHIR_TLS_SELF_SIGNED must be true or false; received ${JSON.stringify(tls)}`);
  if (production && tls !== 'true') problems.push('FHIR_TLS_SELF_SIGNED must be true when NODE_ENV=production (TLS from the load balancer to the task)');
  const logLevel = get('LOG_LEVEL') ?? 'info';
  if (!LOG_LEVELS.includes(logLevel)) problems.push(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}; received ${JSON.stringify(logLevel)}`);
  const ackHost = get('ALERT_ACK_DB_HOST');
  let ackAuth: DbSettings['auth'] = auth;
  if (ackHost !== undefined && auth.kind === 'password') {
    const password = get('ALERT_ACK_DB_PASSWORD');
    if (password === undefined) problems.push('missing environment variable ALERT_ACK_DB_PASSWORD (required with ALERT_ACK_DB_HOST and DB_AUTH=password)');
    ackAuth = { kind: 'password', password: password ?? '' };
  }
  const config: FhirApiConfig = {
    production,
    host: get('FHIR_HOST') ?? (production ? '0.0.0.0' : '127.0.0.1'),
    port: int('FHIR_PORT', 8080, 0, 65_535),
    ...(baseUrl ? { baseUrl } : {}),
    tlsSelfSigned: tls === 'true',
    db: {
      host: need('DB_HOST'),
      port: int('DB_PORT', 5432, 1, 65_535),
      database: need('DB_NAME'),
      user: need('DB_USER', 'vitals_fhir_reader'),
      sslCaFile: need('DB_SSL_CA_FILE'),
      auth,
      maxConnections: int('DB_MAX_CONNECTIONS', 10, 1, 100),
      applicationName: 'vitals-fhir-api',
    },
    ...(ackHost !== undefined ? {
      acknowledge: {
        db: {
          host: ackHost,
          port: int('DB_PORT', 5432, 1, 65_535),
          database: need('DB_NAME'),
          user: get('ALERT_ACK_DB_USER') ?? DEFAULT_ALERT_ACKER_USER,
          sslCaFile: need('DB_SSL_CA_FILE'),
          auth: ackAuth,
          maxConnections: int('ALERT_ACK_DB_MAX_CONNECTIONS', 2, 1, 20),
          applicationName: 'vitals-fhir-api-acknowledge',
        },
      },
    } : {}),
    logLevel,
  };
  if (problems.length > 0) throw new FhirApiConfigError(problems);
  return config;
}
