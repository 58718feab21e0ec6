import { classifyError, rejectionDescription } from '../../src/processor/errors';
import { LeaseLostError } from '../../src/processor/leases';
import { errorSummary } from '../../src/adapters/logger';

/** An error shaped like pg's DatabaseError (SQLSTATE in `code`, plus `severity`). */
function pgError(code: string, fields: Record<string, string> = {}, message = `error ${code}`): Error {
  return Object.assign(new Error(message), { code, severity: 'ERROR', ...fields });
}

function awsError(name: string, extra: Record<string, unknown> = {}): Error {
  return Object.assign(new Error(name), { name, $metadata: {}, ...extra });
}

test.each([
  ['22P02', 'invalid text representation'],
  ['22003', 'numeric value out of range'],
  ['22021', 'character not in repertoire'],
  ['23505', 'unique violation'],
  ['23514', 'check violation'],
  ['23502', 'not-null violation'],
  ['23503', 'foreign key violation'],
  ['54000', 'program limit exceeded (row too large)'],
  ['P0001', 'raise_exception from a trigger'],
  ['P0004', 'assert_failure'],
])('SQLSTATE %s (%s) is poison: the record itself is rejected', (code) => {
  expect(classifyError(pgError(code))).toBe('poison');
});

test.each([
  ['40001', 'serialization failure'],
  ['40P01', 'deadlock'],
  ['08006', 'connection failure'],
  ['08003', 'connection does not exist'],
  ['57014', 'statement timeout'],
  ['57P01', 'admin shutdown (failover)'],
  ['53300', 'too many connections'],
  ['55P03', 'lock not available'],
  ['42501', 'insufficient privilege (a deploy problem, not the record)'],
  ['42P01', 'undefined table (schema not migrated)'],
  ['42703', 'undefined column (a deploy between image rollout and migration: 0009)'],
  ['28P01', 'invalid password (expired IAM token)'],
  ['XX000', 'internal error'],
])('SQLSTATE %s (%s) is retryable', (code) => {
  expect(classifyError(pgError(code))).toBe('retryable');
});

test('a lost lease is neither retried nor split', () => {
  expect(classifyError(new LeaseLostError('shardId-000000000001'))).toBe('lease-lost');
});

test('network errors and errors without a SQLSTATE are retryable', () => {
  expect(classifyError(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }))).toBe('retryable');
  expect(classifyError(new Error('Connection terminated unexpectedly'))).toBe('retryable');
  expect(classifyError(new Error('timeout exceeded when trying to connect'))).toBe('retryable');
  expect(classifyError('a thrown string')).toBe('retryable');
});

test('AWS errors (KMS throttling, access denied) are retryable, never a record\'s fault', () => {
  expect(classifyError(awsError('KMSThrottlingException'))).toBe('retryable');
  expect(classifyError(awsError('AccessDeniedException'))).toBe('retryable');
  expect(classifyError(awsError('TypeError'))).toBe('retryable');
});

test('a TypeError or RangeError from our own code on a value is poison', () => {
  expect(classifyError(new TypeError("Cannot read properties of undefined (reading 'value')"))).toBe('poison');
  expect(classifyError(new RangeError('Invalid time value'))).toBe('poison');
});

test('a 5-character code without a pg severity is not taken for a SQLSTATE', () => {
  expect(classifyError(Object.assign(new Error('x'), { code: '23505' }))).toBe('retryable');
});

test('the dead-letter description names the SQLSTATE and schema objects, never the message or detail', () => {
  const err = pgError(
    '23514',
    { table: 'observations_20261124', constraint: 'pulse_range', detail: 'Failing row contains (MRN-12345, ...)' },
    'new row violates check constraint for MRN-12345',
  );
  const text = rejectionDescription(err);
  expect(text).toBe('rejected by the database: SQLSTATE 23514 (table observations_20261124, constraint pulse_range)');
  expect(text).not.toContain('MRN-12345');
  expect(rejectionDescription(new TypeError('bad MRN-12345'))).toBe('processing failed: TypeError');
});

test('log summaries of database errors keep the SQLSTATE and schema names, never the server\'s message', () => {
  const poison = errorSummary(pgError('22P02', {}, 'invalid input syntax for type uuid: "MRN-12345"'));
  expect(poison).toEqual({ name: 'Error', code: '22P02', message: 'invalid_text_representation (server message withheld: it may quote record data)' });
  const trigger = errorSummary(pgError('40001', { table: 'event_ids' }, 'custom RAISE text quoting MRN-12345'));
  expect(trigger).toMatchObject({ code: '40001', table: 'event_ids' });
  expect(JSON.stringify(trigger)).not.toContain('MRN-12345');
});

test('log summaries keep the messages of other errors, but not of a TypeError a record caused', () => {
  expect(errorSummary(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }))).toEqual({ name: 'Error', message: 'read ECONNRESET', code: 'ECONNRESET' });
  expect(errorSummary(new TypeError('MRN-12345 is not a function')).message).toBe('message withheld (may quote record data)');
});

test.each([
  ['25006', 'read-only transaction: a writer demoted by a failover'],
  ['57P01', 'admin shutdown: a restart or pg_terminate_backend'],
  ['57P03', 'cannot connect now: the server is starting'],
  ['08006', 'connection failure'],
  ['53300', 'too many connections'],
])('SQLSTATE %s (%s) is retryable, never a record\'s fault', (code) => {
  expect(classifyError(pgError(code, {}, 'x'))).toBe('retryable');
});

test('a connection lost under a query (pg: no SQLSTATE) is retryable', () => {
  expect(classifyError(new Error('Connection terminated unexpectedly'))).toBe('retryable');
  expect(classifyError(new Error('Query read timeout'))).toBe('retryable');
});
