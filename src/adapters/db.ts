/**
 * PostgreSQL access: a pg Pool with TLS that verifies the server certificate against a CA bundle
 * (the RDS bundle on AWS, the generated local CA in local runs), authenticated by password or by a
 * short-lived RDS IAM token.
 */
import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import { Signer } from '@aws-sdk/rds-signer';
import { Pool, type PoolConfig } from 'pg';

/** RDS IAM tokens are valid for 15 minutes; renew well before. */
export const IAM_TOKEN_REFRESH_MS = 10 * 60_000;

/** TLS options: always on, server certificate verified. */
export function tlsOptions(caFile: string): ConnectionOptions {
  return { ca: readFileSync(caFile, 'utf8'), rejectUnauthorized: true };
}

export interface TokenSource {
  getAuthToken(): Promise<string>;
}

/**
 * Returns a password function handing out a cached IAM token, renewed after `refreshMs`
 * (pg calls it for each new connection).
 */
export function iamPassword(signer: TokenSource, refreshMs = IAM_TOKEN_REFRESH_MS, now: () => number = Date.now): () => Promise<string> {
  let cached: { token: string; at: number } | undefined;
  let inFlight: Promise<string> | undefined;
  return async () => {
    if (cached && now() - cached.at < refreshMs) return cached.token;
    inFlight ??= signer
      .getAuthToken()
      .then((token) => {
        cached = { token, at: now() };
        return token;
      })
      .finally(() => {
        inFlight = undefined;
      });
    return inFlight;
  };
}

export interface DbSettings {
  readonly host: string;
  readonly port: number;
  readonly database: string;
  readonly user: string;
  readonly sslCaFile: string;
  readonly auth: { readonly kind: 'password'; readonly password: string } | { readonly kind: 'iam'; readonly region: string };
  /** @default 10 */
  readonly maxConnections?: number;
  readonly applicationName?: string;
}

export function createPool(settings: DbSettings): Pool {
  const password =
    settings.auth.kind === 'password'
      ? settings.auth.password
      : iamPassword(new Signer({ hostname: settings.host, port: settings.port, username: settings.user, region: settings.auth.region }));
  const config: PoolConfig = {
    host: settings.host,
    port: settings.port,
    database: settings.database,
    user: settings.user,
    password,
    ssl: tlsOptions(settings.sslCaFile),
    max: settings.maxConnections ?? 10,
    idleTimeoutMillis: 30_000,
    connectionTimeoutMillis: 10_000,
    application_name: settings.applicationName ?? 'vitals-processor',
    // A statement stuck longer than this is a bug or a lock problem: fail the batch and retry.
    statement_timeout: 60_000,
    // TCP keepalive probes after 10 s idle: a connection to a server that vanished without closing
    // it (a failed-over host) fails within seconds instead of hanging for the OS default (2 hours).
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
    // Client-side bound on any query, past the server's statement_timeout: a query whose server is
    // gone fails (and its connection is discarded) instead of waiting on a dead socket.
    query_timeout: 75_000,
  };
  return new Pool(config);
}
