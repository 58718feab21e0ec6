/**
 * The requeue command's flags and environment, parsed once and validated; every problem is reported
 * at once (flag or variable, rule, received value). Pure: no I/O beyond what it is given.
 */
import { parseArgs } from 'node:util';
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

export interface RequeueEnvironment {
  readonly streamName: string;
  readonly region: string;
  /** kinesalite in local runs; unset on AWS. */
  readonly kinesisEndpoint?: string;
  readonly db: {
    readonly host: string;
    readonly port: number;
    readonly database: string;
    readonly sslCaFile: string;
    readonly adminUser: string;
    readonly adminPassword: string;
  };
  readonly phi: { readonly kind: 'kms'; readonly phiKeyArn: string } | { readonly kind: 'local'; readonly keyFile: string };
}

export class RequeueConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(problems.join('; '));
    this.name = 'RequeueConfigError';
  }
}

const KMS_ARN = /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key|alias)\/.+$/;

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

/**
 * The same variables as the migration command (admin credentials, TLS CA) and the processor (stream,
 * region, endpoint, PHI key). NODE_ENV=production requires PHI_KMS_KEY_ARN and forbids the local-only
 * PHI_LOCAL_KEY_FILE and KINESIS_ENDPOINT.
 */
export function requeueEnvironmentFrom(env: NodeJS.ProcessEnv): RequeueEnvironment {
  const problems: string[] = [];
  const { production, get, need, forbidInProduction } = envReader(env, problems);
  for (const name of ['PHI_LOCAL_KEY_FILE', 'KINESIS_ENDPOINT']) forbidInProduction(name);
  const streamName = need('STREAM_NAME');
  const region = need('AWS_REGION', 'eu-central-2');
  const kinesisEndpoint = get('KINESIS_ENDPOINT');
  if (kinesisEndpoint && !/^https?:\/\/.+/.test(kinesisEndpoint)) {
    problems.push(`KINESIS_ENDPOINT must be an http(s) URL; received ${JSON.stringify(kinesisEndpoint)}`);
  }
  const portRaw = need('DB_PORT', '5432');
  const port = Number(portRaw);
  if (portRaw && (!/^\d+$/.test(portRaw) || port < 1 || port > 65535)) problems.push(`DB_PORT must be a port number 1..65535; received ${JSON.stringify(portRaw)}`);
  const db = {
    host: need('DB_HOST'),
    port,
    database: need('DB_NAME'),
    sslCaFile: need('DB_SSL_CA_FILE'),
    adminUser: need('DB_ADMIN_USER'),
    adminPassword: need('DB_ADMIN_PASSWORD'),
  };
  let phi: RequeueEnvironment['phi'];
  const phiKeyArn = get('PHI_KMS_KEY_ARN');
  if (production || phiKeyArn) {
    const arn = need('PHI_KMS_KEY_ARN');
    if (arn && !KMS_ARN.test(arn)) problems.push(`PHI_KMS_KEY_ARN must be a KMS key or alias ARN; received ${JSON.stringify(arn)}`);
    phi = { kind: 'kms', phiKeyArn: arn };
  } else {
    phi = { kind: 'local', keyFile: need('PHI_LOCAL_KEY_FILE', '.local/keys/phi.key') };
  }
  if (problems.length > 0) throw new RequeueConfigError(problems);
  return { streamName, region, kinesisEndpoint, db, phi };
}
