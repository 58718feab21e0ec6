import { LatencyHistogram } from '../../src/adapters/latency-histogram';

test('percentiles are within 5 % above the exact nearest-rank value and never below it', () => {
  const h = new LatencyHistogram();
  const values = Array.from({ length: 10_000 }, (_, i) => 1 + ((i * 7919) % 2_000) / 3);
  for (const v of values) h.add(v);
  const sorted = [...values].sort((a, b) => a - b);
  for (const p of [50, 90, 99, 100]) {
    const exact = sorted[Math.ceil((p / 100) * sorted.length) - 1] as number;
    const got = h.percentile(p) as number;
    expect(got).toBeGreaterThanOrEqual(exact);
    expect(got).toBeLessThanOrEqual(exact * 1.05 + 1e-9);
  }
  expect(h.count).toBe(10_000);
  expect(h.percentile(100)).toBe(Math.max(...values));
});

test('every value counts: a single slow event among thousands is the maximum and moves p100, not p50', () => {
  const h = new LatencyHistogram();
  for (let i = 0; i < 999; i++) h.add(100);
  h.add(5_000);
  expect(h.percentile(50)).toBeLessThanOrEqual(105);
  expect(h.max).toBe(5_000);
  expect(h.percentile(100)).toBe(5_000);
});

test('sub-millisecond and zero latencies fall in the first bucket; empty histograms have no percentile', () => {
  const h = new LatencyHistogram();
  expect(h.percentile(99)).toBeNull();
  h.add(0);
  h.add(0.4);
  expect(h.percentile(99)).toBeLessThanOrEqual(1);
});

test('merged JSON round trips equal one histogram of all values', () => {
  const a = new LatencyHistogram();
  const b = new LatencyHistogram();
  const both = new LatencyHistogram();
  for (let i = 1; i <= 500; i++) {
    (i % 2 ? a : b).add(i * 3);
    both.add(i * 3);
  }
  const merged = LatencyHistogram.fromJSON(JSON.parse(JSON.stringify(a))) as LatencyHistogram;
  merged.merge(LatencyHistogram.fromJSON(JSON.parse(JSON.stringify(b))) as LatencyHistogram);
  expect(merged.toJSON()).toEqual(both.toJSON());
  expect(merged.percentile(99)).toBe(both.percentile(99));
});

test('malformed serialised histograms are refused, not half-read', () => {
  expect(LatencyHistogram.fromJSON(null)).toBeNull();
  expect(LatencyHistogram.fromJSON({ buckets: { '-1': 3 }, maxMs: 1 })).toBeNull();
  expect(LatencyHistogram.fromJSON({ buckets: { 2: 1.5 }, maxMs: 1 })).toBeNull();
  expect(LatencyHistogram.fromJSON({ buckets: {} })).toBeNull();
});
