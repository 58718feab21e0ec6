/**
 * Structured JSON logs (pino). Patient identifiers are redacted wherever they appear in a logged
 * object; the code never logs payloads in the first place (shard ids and sequence numbers only).
 */
import pino, { type DestinationStream, type Logger } from 'pino';
import { databaseErrorSummary, messageMayQuoteData } from './error-summary';

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

/**
 * An error's name and message only: stacks, causes and details may quote data. Database errors are
 * reduced to SQLSTATE and schema object names (their messages can quote values; see
 * databaseErrorSummary), and so are messages of other errors a record's content caused.
 */
export function errorSummary(err: unknown): { name: string; message: string; code?: string; table?: string; column?: string; constraint?: string } {
  if (err instanceof Error) {
    const db = databaseErrorSummary(err);
    if (db) return { name: err.name, ...db };
    const code = (err as { code?: unknown }).code;
    const message = messageMayQuoteData(err) ? 'message withheld (may quote record data)' : err.message;
    return { name: err.name, message, ...(typeof code === 'string' ? { code } : {}) };
  }
  return { name: 'Error', message: typeof err === 'string' || typeof err === 'number' ? String(err) : 'non-error value thrown' };
}
