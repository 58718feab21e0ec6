/**
 * PostgreSQL access: a pg Pool with TLS that verifies the server certificate against a CA bundle
 * (the RDS bundle on AWS, the generated local CA in local runs), authenticated by password or by a
 * short-lived RDS IAM token.
 */
import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import { Signer } from '@aws-sdk/rds-signer';
import { Client, Pool, type PoolConfig } from 'pg';
import { sqlState } from './error-summary';

/** RDS IAM tokens are valid for 15 minutes; renew well before. */
export const IAM_TOKEN_REFRESH_MS = 10 * 60_000;

/** TLS options: always on, server certificate verified. */
export function tlsOptions(caFile: string): ConnectionOptions {
  return { ca: readFileSync(caFile, 'utf8'), rejectUnauthorized: true };
}

export interface TokenSource {
  getAuthToken(): Promise<string>;
}

/** A password function (pg calls it for each new connection) whose cached token can be dropped. */
export interface IamPassword {
  (): Promise<string>;
  /** Forget the cached token: the next connection signs a new one. */
  invalidate(): void;
}

/**
 * Returns a password function handing out a cached IAM token, renewed after `refreshMs`
 * (pg calls it for each new connection, so every reconnect gets a token valid at that moment).
 */
export function iamPassword(signer: TokenSource, refreshMs = IAM_TOKEN_REFRESH_MS, now: () => number = Date.now): IamPassword {
  let cached: { token: string; at: number } | undefined;
  let inFlight: Promise<string> | undefined;
  const password = async (): Promise<string> => {
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
  return Object.assign(password, {
    invalidate: () => {
      cached = undefined;
    },
  });
}

/** SQLSTATE class 28: the server refused the credentials (an expired or rejected IAM token). */
export function isAuthFailure(err: unknown): boolean {
  return sqlState(err)?.startsWith('28') ?? false;
}

/**
 * A pg Client that reports authentication failures, so the pool's next connection signs a fresh
 * IAM token instead of reusing the refused one until it ages out.
 */
function clientReportingAuthFailures(onAuthFailure: () => void): typeof Client {
  return class extends Client {
    override connect(): Promise<Client>;
    override connect(callback: ((err: Error) => void) | ((err: null, c: Client) => void)): void;
    override connect(callback?: ((err: Error) => void) | ((err: null, c: Client) => void)): Promise<Client> | void {
      const note = (err: Error | null | undefined): void => {
        if (err && isAuthFailure(err)) onAuthFailure();
      };
      if (!callback) {
        return super.connect().catch((err: Error) => {
          note(err);
          throw err;
        });
      }
      const cb = callback as (err: Error | null, c?: Client) => void;
      return super.connect((err: Error | null, c?: Client) => {
        note(err);
        cb(err, c);
      });
    }
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

/**
 * The pool. Every new connection resolves `host` again (pg connects by name each time, and Node does
 * not cache DNS), so after an Aurora failover moves the writer endpoint, reconnecting reaches the new
 * writer; connections to the old one are discarded by the callers on error (see the writer).
 */
export function createPool(settings: DbSettings, tokenSource?: TokenSource): Pool {
  const password =
    settings.auth.kind === 'password'
      ? settings.auth.password
      : iamPassword(tokenSource ?? new Signer({ hostname: settings.host, port: settings.port, username: settings.user, region: settings.auth.region }));
  const config: PoolConfig = {
    ...(typeof password === 'function' ? { Client: clientReportingAuthFailures(() => password.invalidate()) } : {}),
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
