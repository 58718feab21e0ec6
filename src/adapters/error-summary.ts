/**
 * Error summaries safe to log: database errors reduced to SQLSTATE and schema object names, and the
 * test for errors a record's content caused (whose messages may quote its values, i.e. PHI). Shared by
 * every program that logs (processor, ingest, migrations, requeue).
 *
 * SQLSTATE classes and codes a record's values can cause:
 * 22 data exception (bad value, out of range, invalid text, untranslatable character),
 * 23 integrity constraint violation (check, not-null, unique, foreign key, exclusion),
 * 54 program limit exceeded (e.g. a row or index entry too large),
 * P0001/P0004 raise_exception/assert_failure (a trigger or function rejecting the row).
 */
const POISON_SQLSTATE_CLASSES = new Set(['22', '23', '54']);
const POISON_SQLSTATES = new Set(['P0001', 'P0004']);

/** JavaScript errors our own code throws deterministically on a value (not I/O). */
const POISON_JS_ERRORS = new Set(['TypeError', 'RangeError', 'SyntaxError', 'URIError']);

/** A PostgreSQL error as the pg driver reports it (`code` is the 5-character SQLSTATE). */
export interface PgErrorFields {
  readonly code?: string;
  readonly severity?: string;
  readonly constraint?: string;
  readonly table?: string;
  readonly column?: string;
}

export function sqlState(err: unknown): string | undefined {
  if (!(err instanceof Error)) return undefined;
  const e = err as Error & PgErrorFields;
  // pg's DatabaseError carries `severity`; Node's system errors use `code` too (ECONNRESET), never 5 chars of [0-9A-Z] with severity.
  return typeof e.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code) && typeof e.severity === 'string' ? e.code : undefined;
}

/** True for errors a record's content caused: the same input fails the same way again. */
export function isPoisonError(err: unknown): boolean {
  const state = sqlState(err);
  if (state !== undefined) return POISON_SQLSTATES.has(state) || POISON_SQLSTATE_CLASSES.has(state.slice(0, 2));
  return err instanceof Error && POISON_JS_ERRORS.has(err.name) && !(err as { $metadata?: unknown }).$metadata;
}

/** True for errors a record's content caused, whose JavaScript message may quote its values too. */
export function messageMayQuoteData(err: unknown): boolean {
  return isPoisonError(err);
}

/** Names of the SQLSTATEs an operator meets most (PostgreSQL Appendix A), for log lines. */
const CONDITION_NAMES: Readonly<Record<string, string>> = {
  '08000': 'connection_exception',
  '08003': 'connection_does_not_exist',
  '08006': 'connection_failure',
  '22P02': 'invalid_text_representation',
  '22003': 'numeric_value_out_of_range',
  '23502': 'not_null_violation',
  '23503': 'foreign_key_violation',
  '23505': 'unique_violation',
  '23514': 'check_violation',
  '25P02': 'in_failed_sql_transaction',
  '28000': 'invalid_authorization_specification',
  '28P01': 'invalid_password',
  '40001': 'serialization_failure',
  '40P01': 'deadlock_detected',
  '42501': 'insufficient_privilege',
  '42P01': 'undefined_table',
  '53300': 'too_many_connections',
  '55P03': 'lock_not_available',
  '57014': 'query_canceled',
  '57P01': 'admin_shutdown',
  P0001: 'raise_exception',
};

/**
 * A database error for a log line: the SQLSTATE, its condition name and the schema objects, never
 * the server's message or detail. Those can quote values (`invalid input syntax for type uuid: "..."`,
 * `Key (x)=(...)`), and a trigger's RAISE text is free-form whatever its SQLSTATE.
 */
export function databaseErrorSummary(err: unknown): { code: string; message: string; table?: string; column?: string; constraint?: string } | undefined {
  const state = sqlState(err);
  if (state === undefined) return undefined;
  const e = err as PgErrorFields;
  return {
    code: state,
    message: `${CONDITION_NAMES[state] ?? 'database error'} (server message withheld: it may quote record data)`,
    ...(e.table ? { table: e.table } : {}),
    ...(e.column ? { column: e.column } : {}),
    ...(e.constraint ? { constraint: e.constraint } : {}),
  };
}

