/**
 * Structured JSON logs (pino). Patient identifiers are redacted wherever they appear in a logged
 * object; the code never logs payloads in the first place (shard ids and sequence numbers only).
 */
import pino, { type DestinationStream, type Logger } from 'pino';

export type { Logger } from 'pino';

/** Keys that may carry a patient identifier, at any of the first three levels. */
const PHI_KEYS = ['patientId', 'patient_id', 'patientIdentifier', 'mrn', 'payload', 'data'];
export const REDACT_PATHS = PHI_KEYS.flatMap((k) => [k, `*.${k}`, `*.*.${k}`]);

export function createLogger(options: { level: string; base?: Record<string, unknown> }, destination?: DestinationStream): Logger {
  return pino(
    {
      level: options.level,
      base: { service: 'vitals-processor', ...options.base },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}

/** An error's name and message only: stacks and causes may quote data. */
export function errorSummary(err: unknown): { name: string; message: string; code?: string } {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return { name: err.name, message: err.message, ...(typeof code === 'string' ? { code } : {}) };
  }
  return { name: 'Error', message: String(err) };
}
