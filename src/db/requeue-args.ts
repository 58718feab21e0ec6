/**
 * The requeue command's flags and environment, parsed once and validated; every problem is reported
 * at once (flag or variable, rule, received value). Pure: no I/O beyond what it is given.
 */
import { parseArgs } from 'node:util';
import type { DbSettings } from '../adapters/db';
import { envReader } from '../adapters/env-reader';

/** The reasons the processor stores (src/processor/writer.ts `StoredDeadLetterReason`). */
export const DEAD_LETTER_REASONS = ['undecodable', 'invalid', 'future-timestamp', 'unprocessable'] as const;
export type DeadLetterReasonFilter = (typeof DEAD_LETTER_REASONS)[number];

/** An upper bound on --limit: a run this large should be split (and dry-run first). */
export const MAX_REQUEUE_LIMIT = 10_000_000;

export interface RequeueFilter {
  /** @default every reason */
  readonly reason?: DeadLetterReasonFilter;
  /** dead_lettered_at >= since. @default no lower bound */
  readonly since?: Date;
  /** dead_lettered_at < until. @default no upper bound */
  readonly until?: Date;
  /** At most this many dead letters in this run. @default all that match */
  readonly limit?: number;
  /** Count what matches; decrypt, put and mark nothing. @default false */
  readonly dryRun?: boolean;
}

/**
 * The request command's environment: its own database role (`vitals_ops`) over TLS, IAM-authenticated
 * on AWS. No stream, no keys: operators request requeues, the processor performs them.
 */
export interface RequeueEnvironment {
  readonly db: DbSettings;
}

export class RequeueConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(problems.join('; '));
    this.name = 'RequeueConfigError';
  }
}


function parseInstant(flag: string, raw: string | undefined, problems: string[]): Date | undefined {
  if (raw === undefined) return undefined;
  // RFC 3339 / ISO 8601 with a date at least; Date.parse alone accepts far too much.
  const d = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(raw) ? new Date(raw) : new Date(NaN);
  if (Number.isNaN(d.getTime())) {
    problems.push(`${flag} must be an ISO 8601 date or time (e.g. 2026-11-24T06:00:00Z); received ${JSON.stringify(raw)}`);
    return undefined;
  }
  return d;
}

/** Flags: --reason, --since, --until, --limit, --dry-run. */
export function parseRequeueArgs(argv: readonly string[]): RequeueFilter {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        reason: { type: 'string' },
        since: { type: 'string' },
        until: { type: 'string' },
        limit: { type: 'string' },
        'dry-run': { type: 'boolean', default: false },
      },
    }));
  } catch (err) {
    throw new RequeueConfigError([`${err instanceof Error ? err.message : String(err)} (flags: --reason, --since, --until, --limit, --dry-run)`]);
  }
  const problems: string[] = [];
  const reasonRaw = values.reason as string | undefined;
  let reason: DeadLetterReasonFilter | undefined;
  if (reasonRaw !== undefined) {
    if ((DEAD_LETTER_REASONS as readonly string[]).includes(reasonRaw)) reason = reasonRaw as DeadLetterReasonFilter;
    else problems.push(`--reason must be one of ${DEAD_LETTER_REASONS.join(', ')}; received ${JSON.stringify(reasonRaw)}`);
  }
  const since = parseInstant('--since', values.since as string | undefined, problems);
  const until = parseInstant('--until', values.until as string | undefined, problems);
  if (since && until && since.getTime() >= until.getTime()) {
    problems.push(`--since must be before --until; received ${since.toISOString()} and ${until.toISOString()}`);
  }
  const limitRaw = values.limit as string | undefined;
  let limit: number | undefined;
  if (limitRaw !== undefined) {
    const n = Number(limitRaw);
    if (!/^\d+$/.test(limitRaw) || !Number.isSafeInteger(n) || n < 1 || n > MAX_REQUEUE_LIMIT) {
      problems.push(`--limit must be an integer 1..${MAX_REQUEUE_LIMIT}; received ${JSON.stringify(limitRaw)}`);
    } else limit = n;
  }
  if (problems.length > 0) throw new RequeueConfigError(problems);
  return { reason, since, until, limit, dryRun: values['dry-run'] === true };
}

/** The ops role's default name (src/db/migrate.ts OPS_ROLE). */
export const DEFAULT_OPS_DB_USER = 'vitals_ops';

/**
 * DB_HOST, DB_PORT, DB_NAME, DB_SSL_CA_FILE, DB_USER (default vitals_ops) and DB_AUTH (iam; password
 * only outside production, with DB_PASSWORD). NODE_ENV=production requires DB_AUTH=iam and refuses the
 * admin credentials and the variables of the old command (keys, stream).
 */
export function requeueEnvironmentFrom(env: NodeJS.ProcessEnv): RequeueEnvironment {
  const problems: string[] = [];
  const { production, get, need } = envReader(env, problems);
  for (const name of ['DB_ADMIN_USER', 'DB_ADMIN_PASSWORD', 'PHI_KMS_KEY_ARN', 'DEAD_LETTER_KMS_KEY_ARN', 'PHI_LOCAL_KEY_FILE', 'STREAM_NAME', 'KINESIS_ENDPOINT']) {
    if (get(name) !== undefined) problems.push(`${name} must not be set: the requeue command only requests requeues (the processor performs them) and never uses admin credentials, keys or the stream`);
  }
  const region = need('AWS_REGION', 'eu-central-2');
  const portRaw = need('DB_PORT', '5432');
  const port = Number(portRaw);
  if (portRaw && (!/^\d+$/.test(portRaw) || port < 1 || port > 65535)) problems.push(`DB_PORT must be a port number 1..65535; received ${JSON.stringify(portRaw)}`);
  const authRaw = need('DB_AUTH', 'iam');
  let auth: DbSettings['auth'] = { kind: 'iam', region };
  if (authRaw === 'password') {
    if (production) problems.push('DB_AUTH must be iam when NODE_ENV=production (no database password on AWS)');
    const password = get('DB_PASSWORD');
    if (password === undefined) problems.push('missing environment variable DB_PASSWORD (required with DB_AUTH=password)');
    auth = { kind: 'password', password: password ?? '' };
  } else if (authRaw !== 'iam' && authRaw !== '') {
    problems.push(`DB_AUTH must be iam or password; received ${JSON.stringify(authRaw)}`);
  }
  const db: DbSettings = {
    host: need('DB_HOST'),
    port,
    database: need('DB_NAME'),
    sslCaFile: need('DB_SSL_CA_FILE'),
    user: get('DB_USER') ?? DEFAULT_OPS_DB_USER,
    auth,
    maxConnections: 2,
    applicationName: 'vitals-requeue-request',
  };
  if (problems.length > 0) throw new RequeueConfigError(problems);
  return { db };
}
