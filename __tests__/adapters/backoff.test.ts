import { KinesisClient, ListStreamsCommand, ProvisionedThroughputExceededException } from '@aws-sdk/client-kinesis';
import { backoffDelayMs, isRetryableAwsError, isThrottlingError, observeAttemptErrors, sleep } from '../../src/adapters/backoff';

function awsError(name: string, status?: number): Error {
  const e = new Error(name) as Error & { $metadata?: { httpStatusCode?: number } };
  e.name = name;
  if (status) e.$metadata = { httpStatusCode: status };
  return e;
}

test('the backoff cap doubles per attempt up to the maximum', () => {
  const max = (attempt: number): number => backoffDelayMs(attempt, { baseMs: 100, maxMs: 1_000 }, () => 0.999999);
  expect(max(0)).toBe(99);
  expect(max(1)).toBe(199);
  expect(max(3)).toBe(799);
  expect(max(10)).toBe(999);
});

test('the backoff is jittered over the whole interval', () => {
  expect(backoffDelayMs(3, { baseMs: 100, maxMs: 1_000 }, () => 0)).toBe(0);
  expect(backoffDelayMs(3, { baseMs: 100, maxMs: 1_000 }, () => 0.5)).toBe(400);
});

test('throttling and server errors are retryable', () => {
  expect(isRetryableAwsError(awsError('ProvisionedThroughputExceededException', 400))).toBe(true);
  expect(isRetryableAwsError(awsError('LimitExceededException', 400))).toBe(true);
  expect(isRetryableAwsError(awsError('SomethingElse', 503))).toBe(true);
  expect(isRetryableAwsError(Object.assign(new Error('reset'), { code: 'ECONNRESET' }))).toBe(true);
});

test('client errors are not retryable', () => {
  expect(isRetryableAwsError(awsError('ResourceNotFoundException', 400))).toBe(false);
  expect(isRetryableAwsError(awsError('AccessDeniedException', 403))).toBe(false);
  expect(isRetryableAwsError('not an error')).toBe(false);
});

test('sleep returns early when its signal aborts', async () => {
  const c = new AbortController();
  const started = Date.now();
  setTimeout(() => c.abort(), 20);
  await sleep(10_000, c.signal);
  expect(Date.now() - started).toBeLessThan(5_000);
});

test('throttling is told apart from other retryable errors', () => {
  expect(isThrottlingError(awsError('ProvisionedThroughputExceededException', 400))).toBe(true);
  expect(isThrottlingError(awsError('ThrottlingException', 400))).toBe(true);
  expect(isThrottlingError(awsError('KMSThrottlingException', 400))).toBe(true);
  expect(isThrottlingError(awsError('Anything', 429))).toBe(true);
  expect(isThrottlingError(awsError('InternalFailure', 500))).toBe(false);
});

test('the attempt observer sees every failed attempt, the SDK\'s own retries included', async () => {
  const client = new KinesisClient({ region: 'eu-central-2', endpoint: 'http://127.0.0.1:9', credentials: { accessKeyId: 'x', secretAccessKey: 'x' }, maxAttempts: 3, retryMode: 'standard' });
  const seen: string[] = [];
  observeAttemptErrors(client, (err) => seen.push((err as Error).name));
  // Inside the observer (added after it): every attempt is throttled, as an overloaded shard answers.
  client.middlewareStack.add(() => async () => {
    throw new ProvisionedThroughputExceededException({ message: 'Rate exceeded', $metadata: { httpStatusCode: 400 } });
  }, { step: 'deserialize', name: 'alwaysThrottled', priority: 'high' });
  await expect(client.send(new ListStreamsCommand({}))).rejects.toMatchObject({ name: 'ProvisionedThroughputExceededException', $metadata: { attempts: 3 } });
  expect(seen).toEqual(['ProvisionedThroughputExceededException', 'ProvisionedThroughputExceededException', 'ProvisionedThroughputExceededException']);
  client.destroy();
});
