/**
 * Token-bucket throttling with API Gateway's semantics: a bucket of `burst` tokens per API key,
 * refilled continuously at `ratePerSec`; a request takes one token or is refused with the time until
 * one is available. The clock is injected so tests can move time instead of sleeping.
 */

export type Clock = () => number;

export interface TokenBucketOptions {
  /** Bucket size: requests allowed at once. @default 500 (API Gateway stage default burst) */
  readonly burst?: number;
  /** Steady refill rate in requests per second. @default 100 */
  readonly ratePerSec?: number;
  /** Milliseconds since an arbitrary origin. @default performance.now */
  readonly clock?: Clock;
}

export const DEFAULT_BURST = 500;
export const DEFAULT_RATE_PER_SEC = 100;

export type TakeResult = { ok: true; remaining: number } | { ok: false; retryAfterMs: number };

export class TokenBucket {
  private tokens: number;
  private updatedAt: number;
  readonly burst: number;
  readonly ratePerSec: number;
  private readonly clock: Clock;

  constructor(options: TokenBucketOptions = {}) {
    this.burst = options.burst ?? DEFAULT_BURST;
    this.ratePerSec = options.ratePerSec ?? DEFAULT_RATE_PER_SEC;
    if (!Number.isInteger(this.burst) || this.burst < 1) {
      throw new RangeError(`burst must be an integer >= 1; received ${this.burst}`);
    }
    if (!Number.isFinite(this.ratePerSec) || this.ratePerSec <= 0) {
      throw new RangeError(`ratePerSec must be a number > 0; received ${this.ratePerSec}`);
    }
    this.clock = options.clock ?? (() => performance.now());
    this.tokens = this.burst;
    this.updatedAt = this.clock();
  }

  private refill(): void {
    const now = this.clock();
    const elapsedMs = Math.max(0, now - this.updatedAt);
    this.tokens = Math.min(this.burst, this.tokens + (elapsedMs * this.ratePerSec) / 1000);
    this.updatedAt = now;
  }

  /** Takes one token when available; otherwise reports how long until one is. */
  take(): TakeResult {
    this.refill();
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return { ok: true, remaining: Math.floor(this.tokens) };
    }
    return { ok: false, retryAfterMs: Math.ceil(((1 - this.tokens) * 1000) / this.ratePerSec) };
  }
}

/** One bucket per key, created on first use. Callers pass only authenticated keys, so the map is bounded. */
export class KeyedTokenBuckets {
  private readonly buckets = new Map<string, TokenBucket>();

  constructor(private readonly options: TokenBucketOptions = {}) {
    // Validate once, at construction, rather than on the first request.
    new TokenBucket(options);
  }

  take(key: string): TakeResult {
    let bucket = this.buckets.get(key);
    if (!bucket) {
      bucket = new TokenBucket(this.options);
      this.buckets.set(key, bucket);
    }
    return bucket.take();
  }
}
