/** Exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter"). */

export interface BackoffPolicy {
  readonly baseMs: number;
  readonly maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 200, maxMs: 10_000 };

/** Delay before retry number `attempt` (0-based): uniform in [0, min(max, base * 2^attempt)]. */
export function backoffDelayMs(attempt: number, policy: BackoffPolicy = DEFAULT_BACKOFF, random: () => number = Math.random): number {
  const cap = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, attempt));
  return Math.floor(random() * cap);
}

/** Kinesis errors worth retrying after a pause (throttling, transient server/network errors). */
const RETRYABLE_NAMES = new Set([
  'ProvisionedThroughputExceededException',
  'LimitExceededException',
  'KMSThrottlingException',
  'KMSInternalException',
  'DependencyTimeoutException',
  'InternalFailure',
  'InternalFailureException',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'ThrottlingException',
  'TimeoutError',
  'RequestTimeout',
  'RequestTimeoutException',
]);
const RETRYABLE_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNABORTED']);

export function isRetryableAwsError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const e = err as Error & { code?: string; $metadata?: { httpStatusCode?: number }; $retryable?: unknown };
  if (RETRYABLE_NAMES.has(e.name)) return true;
  if (e.code && RETRYABLE_CODES.has(e.code)) return true;
  if (e.$retryable) return true;
  const status = e.$metadata?.httpStatusCode;
  return status !== undefined && status >= 500;
}

/** Throttling answers of Kinesis and KMS (the SDK retries them too, in adaptive mode with a client-side rate limit). */
const THROTTLING_NAMES = new Set(['ProvisionedThroughputExceededException', 'LimitExceededException', 'ThrottlingException', 'KMSThrottlingException']);

export function isThrottlingError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  return THROTTLING_NAMES.has(err.name) || (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 429;
}

/** The part of an AWS SDK v3 client's middleware stack used here (structural, so any client fits). */
export interface AttemptMiddlewareStack {
  add(
    middleware: (next: (args: never) => Promise<unknown>) => (args: never) => Promise<unknown>,
    options: { step: 'deserialize'; name: string; priority: 'high' },
  ): void;
}

/**
 * Calls `observe` with the error of every failed attempt of every call the client makes, the SDK's
 * own retries included: the middleware sits in the deserialize step, inside the SDK's retry loop, so
 * a throttle that the SDK retried away still counts.
 */
export function observeAttemptErrors(client: { readonly middlewareStack: AttemptMiddlewareStack }, observe: (err: unknown) => void): void {
  client.middlewareStack.add(
    (next) => async (args) => {
      try {
        return await next(args);
      } catch (err) {
        observe(err);
        throw err;
      }
    },
    { step: 'deserialize', name: 'vitalsAttemptErrorObserver', priority: 'high' },
  );
}

/** Resolves after `ms`, or early (without throwing) when the signal aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
