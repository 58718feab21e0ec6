/**
 * What a failed batch write means for the shard reader:
 * - `lease-lost`: another worker owns the shard now; drop the batch (it rolled back).
 * - `retryable`: the database, the network or a dependency is unwell (connection loss, failover,
 *   serialization failure, deadlock, timeout, throttling, missing privilege after a bad deploy).
 *   Retrying the same records later will work, so retry with backoff and never skip a record.
 * - `poison`: the records' content made the database (or our code) reject them; retrying the same
 *   batch fails the same way forever. Split the batch to isolate the record and dead-letter it.
 * Anything unrecognised is retryable: a stall is visible (health goes 503, MillisBehindLatest grows)
 * and loses nothing, whereas wrongly dead-lettering valid events during an outage would not be.
 */
import { isRetryableAwsError } from '../adapters/backoff';
import { isPoisonError, sqlState, type PgErrorFields } from '../adapters/error-summary';
import { LeaseLostError } from './leases';

export type ErrorKind = 'lease-lost' | 'retryable' | 'poison';

export function classifyError(err: unknown): ErrorKind {
  if (err instanceof LeaseLostError) return 'lease-lost';
  // A database error is poison or retryable by its SQLSTATE; an AWS/network error is retryable even
  // when its JavaScript name is one of the value errors.
  if (sqlState(err) === undefined && isRetryableAwsError(err)) return 'retryable';
  return isPoisonError(err) ? 'poison' : 'retryable';
}

/**
 * Why the database rejected a record, for the dead-letter row: the SQLSTATE and the schema object
 * names only. Never the message or detail, which can quote the rejected values (PHI).
 */
export function rejectionDescription(err: unknown): string {
  const state = sqlState(err);
  if (state !== undefined) {
    const e = err as PgErrorFields;
    const where = [e.table && `table ${e.table}`, e.column && `column ${e.column}`, e.constraint && `constraint ${e.constraint}`].filter(Boolean);
    return `rejected by the database: SQLSTATE ${state}${where.length > 0 ? ` (${where.join(', ')})` : ''}`;
  }
  return `processing failed: ${err instanceof Error ? err.name : 'non-error value thrown'}`;
}
