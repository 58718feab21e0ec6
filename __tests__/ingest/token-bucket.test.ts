import { KeyedTokenBuckets, TokenBucket } from '../../src/ingest/token-bucket';

function manualClock(start = 0) {
  let t = start;
  return { now: () => t, advance: (ms: number) => { t += ms; } };
}

function takeUntilRefused(bucket: { take(): { ok: boolean } }): number {
  let n = 0;
  while (bucket.take().ok) n++;
  return n;
}

describe('TokenBucket', () => {
  it('allows a full burst of 500 at once by default and refuses the next', () => {
    const clock = manualClock();
    expect(takeUntilRefused(new TokenBucket({ clock: clock.now }))).toBe(500);
  });

  it('refills at 100 tokens per second by default', () => {
    const clock = manualClock();
    const bucket = new TokenBucket({ clock: clock.now });
    takeUntilRefused(bucket);
    clock.advance(1000);
    expect(takeUntilRefused(bucket)).toBe(100);
    clock.advance(250);
    expect(takeUntilRefused(bucket)).toBe(25);
  });

  it('grants one token every 10 ms at 100 per second', () => {
    const clock = manualClock();
    const bucket = new TokenBucket({ clock: clock.now });
    takeUntilRefused(bucket);
    clock.advance(9);
    expect(bucket.take().ok).toBe(false);
    clock.advance(1);
    expect(bucket.take().ok).toBe(true);
    expect(bucket.take().ok).toBe(false);
  });

  it('never holds more than the burst however long it idles', () => {
    const clock = manualClock();
    const bucket = new TokenBucket({ burst: 5, ratePerSec: 1, clock: clock.now });
    clock.advance(3_600_000);
    expect(takeUntilRefused(bucket)).toBe(5);
  });

  it('reports the time until the next token when refusing', () => {
    const clock = manualClock();
    const bucket = new TokenBucket({ burst: 1, ratePerSec: 100, clock: clock.now });
    bucket.take();
    expect(bucket.take()).toEqual({ ok: false, retryAfterMs: 10 });
    clock.advance(4);
    expect(bucket.take()).toEqual({ ok: false, retryAfterMs: 6 });
  });

  it('does not count refused requests against the bucket', () => {
    const clock = manualClock();
    const bucket = new TokenBucket({ burst: 2, ratePerSec: 1, clock: clock.now });
    takeUntilRefused(bucket);
    for (let i = 0; i < 10; i++) bucket.take();
    clock.advance(1000);
    expect(takeUntilRefused(bucket)).toBe(1);
  });

  it('ignores a clock that steps backwards', () => {
    const clock = manualClock(10_000);
    const bucket = new TokenBucket({ burst: 2, ratePerSec: 1, clock: clock.now });
    takeUntilRefused(bucket);
    clock.advance(-5_000);
    expect(bucket.take().ok).toBe(false);
  });

  it.each([0, -1, 1.5, Number.NaN])('throws naming burst when it is %p', (burst) => {
    expect(() => new TokenBucket({ burst })).toThrow(/burst must be an integer >= 1/);
  });

  it.each([0, -5, Number.NaN, Number.POSITIVE_INFINITY])('throws naming ratePerSec when it is %p', (ratePerSec) => {
    expect(() => new TokenBucket({ ratePerSec })).toThrow(/ratePerSec must be a number > 0/);
  });
});

describe('KeyedTokenBuckets', () => {
  it('keeps a separate bucket per key', () => {
    const clock = manualClock();
    const buckets = new KeyedTokenBuckets({ burst: 3, ratePerSec: 1, clock: clock.now });
    expect(takeUntilRefused({ take: () => buckets.take('a') })).toBe(3);
    expect(takeUntilRefused({ take: () => buckets.take('b') })).toBe(3);
  });

  it('validates its options at construction', () => {
    expect(() => new KeyedTokenBuckets({ burst: 0 })).toThrow(/burst/);
  });
});
