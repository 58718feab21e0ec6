/**
 * Settings of the standalone local ingest server (`node dist/src/ingest/main.js`), parsed once from
 * the environment; every problem is reported at once, naming the variable. API keys are secrets:
 * their values never appear in an error.
 */
import { DEFAULT_MAX_BODY_BYTES, DEFAULT_REQUEST_TIMEOUT_MS } from './server';
import { DEFAULT_BURST, DEFAULT_RATE_PER_SEC } from './token-bucket';

export interface IngestConfig {
  readonly host: string;
  readonly port: number;
  readonly region: string;
  readonly streamName: string;
  readonly kinesisEndpoint?: string;
  readonly apiKeys: readonly string[];
  readonly burst: number;
  readonly ratePerSec: number;
  readonly maxBodyBytes: number;
  /** A request (headers and body) must arrive within this, or it is answered 408 and closed. */
  readonly requestTimeoutMs: number;
  readonly logLevel: string;
}

/** @default port of the local ingest API */
export const DEFAULT_INGEST_PORT = 3000;

export class IngestConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid ingest configuration: ${problems.join('; ')}`);
    this.name = 'IngestConfigError';
  }
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export function loadIngestConfig(env: NodeJS.ProcessEnv = process.env): IngestConfig {
  const problems: string[] = [];
  const get = (name: string): string | undefined => {
    const v = env[name]?.trim();
    return v ? v : undefined;
  };
  const num = (name: string, fallback: number, min: number, max: number, integer = true): number => {
    const raw = get(name);
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isFinite(n) || (integer && !Number.isInteger(n)) || n < min || n > max) {
      problems.push(`${name} must be ${integer ? 'an integer' : 'a number'} ${min}..${max}; received ${JSON.stringify(raw)}`);
      return fallback;
    }
    return n;
  };

  const streamName = get('STREAM_NAME') ?? '';
  if (!streamName) problems.push('missing environment variable STREAM_NAME');
  const apiKeys = (get('INGEST_API_KEYS') ?? '').split(',').map((k) => k.trim()).filter(Boolean);
  if (apiKeys.length === 0) problems.push('missing environment variable INGEST_API_KEYS (comma-separated API keys)');
  const kinesisEndpoint = get('KINESIS_ENDPOINT');
  if (kinesisEndpoint && !/^https?:\/\/.+/.test(kinesisEndpoint)) {
    problems.push(`KINESIS_ENDPOINT must be an http(s) URL; received ${JSON.stringify(kinesisEndpoint)}`);
  }
  const logLevel = get('LOG_LEVEL') ?? 'info';
  if (!LOG_LEVELS.includes(logLevel)) problems.push(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}; received ${JSON.stringify(logLevel)}`);

  const config: IngestConfig = {
    // Loopback unless told otherwise: the local API is for this machine.
    host: get('INGEST_HOST') ?? '127.0.0.1',
    port: num('INGEST_PORT', DEFAULT_INGEST_PORT, 0, 65_535),
    region: get('AWS_REGION') ?? 'eu-central-2',
    streamName,
    ...(kinesisEndpoint ? { kinesisEndpoint } : {}),
    apiKeys,
    burst: num('INGEST_BURST', DEFAULT_BURST, 1, 1_000_000),
    ratePerSec: num('INGEST_RATE_PER_SEC', DEFAULT_RATE_PER_SEC, 0.001, 1_000_000, false),
    maxBodyBytes: num('INGEST_MAX_BODY_BYTES', DEFAULT_MAX_BODY_BYTES, 1, 10 * 1024 * 1024),
    requestTimeoutMs: num('INGEST_REQUEST_TIMEOUT_MS', DEFAULT_REQUEST_TIMEOUT_MS, 1_000, 300_000),
    logLevel,
  };
  if (problems.length > 0) throw new IngestConfigError(problems);
  return config;
}
