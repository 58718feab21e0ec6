/**
 * The gateway's settings, parsed once at start-up from the environment (docs/design.md, "HL7
 * gateway"). Every problem is reported at once, naming the variable, the rule and the value received;
 * in production (NODE_ENV=production) the stream name is mandatory, TLS is required, and local-only
 * variables are refused.
 */
import { readFileSync } from 'node:fs';
import { envReader } from '../adapters/env-reader';
import { isTimeZone } from './hl7-time';
import { DEFAULT_PUT_DEADLINE_MS } from './record-writer';
import {
  DEFAULT_FRAME_TIMEOUT_MS,
  DEFAULT_IDLE_TIMEOUT_MS,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_IN_FLIGHT_PER_CONNECTION,
  DEFAULT_MAX_MESSAGE_BYTES,
} from './server';

/** Where the TLS certificate comes from. */
export type TlsSource =
  | { readonly kind: 'off' }
  | { readonly kind: 'files'; readonly certFile: string; readonly keyFile: string; readonly clientCaFile?: string }
  /** A certificate generated at start-up: for TLS between the NLB (which does not verify targets) and the task. */
  | { readonly kind: 'self-signed'; readonly clientCaFile?: string };

export interface GatewayConfig {
  readonly production: boolean;
  readonly environment: string;
  readonly region: string;
  readonly streamName: string;
  readonly kinesisEndpoint?: string;
  readonly host: string;
  readonly port: number;
  readonly healthPort: number;
  readonly tls: TlsSource;
  readonly maxMessageBytes: number;
  readonly idleTimeoutMs: number;
  readonly frameTimeoutMs: number;
  readonly maxInFlightPerConnection: number;
  readonly maxConnections: number;
  readonly putDeadlineMs: number;
  readonly localTimeZone?: string;
  readonly ackApplication: string;
  readonly ackFacility: string;
  readonly logLevel: string;
  readonly metricsFlushMs: number;
  readonly shutdownDeadlineMs: number;
}

/** The registered MLLP port (IANA "hl7", 2575). */
export const DEFAULT_HL7_PORT = 2575;

export class GatewayConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid HL7 gateway configuration: ${problems.join('; ')}`);
    this.name = 'GatewayConfigError';
  }
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
const HD_TEXT = /^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$/;

export function loadGatewayConfig(env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  const problems: string[] = [];
  const { production, get, need, forbidInProduction } = envReader(env, problems);
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
  const streamName = need('STREAM_NAME');
  const kinesisEndpoint = get('KINESIS_ENDPOINT');
  forbidInProduction('KINESIS_ENDPOINT');
  if (kinesisEndpoint && !/^https?:\/\/.+/.test(kinesisEndpoint)) {
    problems.push(`KINESIS_ENDPOINT must be an http(s) URL; received ${JSON.stringify(kinesisEndpoint)}`);
  }

  const certFile = get('HL7_TLS_CERT_FILE');
  const keyFile = get('HL7_TLS_KEY_FILE');
  const clientCaFile = get('HL7_TLS_CLIENT_CA_FILE');
  const selfSigned = get('HL7_TLS_SELF_SIGNED');
  if (selfSigned !== undefined && !['true', 'false'].includes(selfSigned)) {
    problems.push(`HL7_TLS_SELF_SIGNED must be true or false; received ${JSON.stringify(selfSigned)}`);
  }
  let tls: TlsSource = { kind: 'off' };
  if (certFile || keyFile) {
    if (!certFile || !keyFile) problems.push('HL7_TLS_CERT_FILE and HL7_TLS_KEY_FILE must be set together');
    if (selfSigned === 'true') problems.push('HL7_TLS_SELF_SIGNED=true conflicts with HL7_TLS_CERT_FILE/HL7_TLS_KEY_FILE: choose one');
    for (const [name, file] of [['HL7_TLS_CERT_FILE', certFile], ['HL7_TLS_KEY_FILE', keyFile], ['HL7_TLS_CLIENT_CA_FILE', clientCaFile]] as const) {
      if (file) {
        try {
          readFileSync(file);
        } catch {
          problems.push(`${name} must name a readable file; cannot read ${JSON.stringify(file)}`);
        }
      }
    }
    tls = { kind: 'files', certFile: certFile ?? '', keyFile: keyFile ?? '', ...(clientCaFile ? { clientCaFile } : {}) };
  } else if (selfSigned === 'true') {
    tls = { kind: 'self-signed', ...(clientCaFile ? { clientCaFile } : {}) };
  } else if (clientCaFile) {
    problems.push('HL7_TLS_CLIENT_CA_FILE (mutual TLS) needs TLS: set HL7_TLS_CERT_FILE/HL7_TLS_KEY_FILE or HL7_TLS_SELF_SIGNED=true');
  }
  if (production && tls.kind === 'off') {
    problems.push('TLS is required when NODE_ENV=production: set HL7_TLS_CERT_FILE/HL7_TLS_KEY_FILE or HL7_TLS_SELF_SIGNED=true');
  }

  const localTimeZone = get('HL7_LOCAL_TIME_ZONE');
  if (localTimeZone && !isTimeZone(localTimeZone)) {
    problems.push(`HL7_LOCAL_TIME_ZONE must be an IANA time zone such as Europe/Zurich; received ${JSON.stringify(localTimeZone)}`);
  }
  const ackApplication = get('HL7_ACK_APPLICATION') ?? 'VITALS-PIPELINE';
  const ackFacility = get('HL7_ACK_FACILITY') ?? 'VITALS';
  for (const [name, v] of [['HL7_ACK_APPLICATION', ackApplication], ['HL7_ACK_FACILITY', ackFacility]] as const) {
    if (!HD_TEXT.test(v)) problems.push(`${name} must be 1-64 letters, digits, spaces, '.', '_' or '-'; received ${JSON.stringify(v)}`);
  }
  const logLevel = get('LOG_LEVEL') ?? 'info';
  if (!LOG_LEVELS.includes(logLevel)) problems.push(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}; received ${JSON.stringify(logLevel)}`);

  const idleTimeoutMs = int('HL7_IDLE_TIMEOUT_MS', DEFAULT_IDLE_TIMEOUT_MS, 1_000, 3_600_000);
  const config: GatewayConfig = {
    production,
    environment: get('ENVIRONMENT') ?? (production ? 'production' : 'local'),
    region,
    streamName,
    ...(kinesisEndpoint ? { kinesisEndpoint } : {}),
    // Every interface inside the container on AWS (the NLB reaches the task's ENI); loopback locally.
    host: get('HL7_HOST') ?? (production ? '0.0.0.0' : '127.0.0.1'),
    port: int('HL7_PORT', DEFAULT_HL7_PORT, 0, 65_535),
    healthPort: int('HEALTH_PORT', 8080, 0, 65_535),
    tls,
    maxMessageBytes: int('HL7_MAX_MESSAGE_BYTES', DEFAULT_MAX_MESSAGE_BYTES, 1_024, 16 * 1024 * 1024),
    idleTimeoutMs,
    frameTimeoutMs: int('HL7_FRAME_TIMEOUT_MS', DEFAULT_FRAME_TIMEOUT_MS, 100, 600_000),
    maxInFlightPerConnection: int('HL7_MAX_IN_FLIGHT_PER_CONNECTION', DEFAULT_MAX_IN_FLIGHT_PER_CONNECTION, 1, 10_000),
    maxConnections: int('HL7_MAX_CONNECTIONS', DEFAULT_MAX_CONNECTIONS, 1, 100_000),
    putDeadlineMs: int('HL7_PUT_DEADLINE_MS', DEFAULT_PUT_DEADLINE_MS, 100, 120_000),
    ...(localTimeZone ? { localTimeZone } : {}),
    ackApplication,
    ackFacility,
    logLevel,
    metricsFlushMs: int('METRICS_FLUSH_MS', 10_000, 100, 300_000),
    shutdownDeadlineMs: int('SHUTDOWN_DEADLINE_MS', 30_000, 1_000, 55_000),
  };
  if (problems.length > 0) throw new GatewayConfigError(problems);
  return config;
}
