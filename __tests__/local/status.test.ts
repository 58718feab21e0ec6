import { formatFinalLine, formatStatusLine, LatencySampler, percentile } from '../../src/local/status';
import { SequenceSet } from '../../src/local/sequence-set';

describe('percentile', () => {
  it('uses the nearest rank', () => {
    const values = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(values, 50)).toBe(50);
    expect(percentile(values, 99)).toBe(99);
    expect(percentile(values, 100)).toBe(100);
  });

  it('is null for no samples', () => {
    expect(percentile([], 50)).toBeNull();
  });

  it('rejects a percentile of zero', () => {
    expect(() => percentile([1], 0)).toThrow(/percentile must be in \(0, 100\]; received 0/);
  });
});

describe('LatencySampler', () => {
  it('measures from the recorded send time to the stored time', () => {
    const s = new LatencySampler();
    s.recordSent('a', 1_000);
    s.recordSent('b', 1_000);
    s.resolve('a', 1_040);
    s.resolve('b', 1_100);
    expect(s.percentiles()).toEqual({ p50: 40, p99: 100 });
    expect(s.pendingCount).toBe(0);
  });

  it('keeps the first send time when an id is sent again', () => {
    const s = new LatencySampler();
    s.recordSent('a', 1_000);
    s.recordSent('a', 1_500);
    s.resolve('a', 1_600);
    expect(s.percentiles().p50).toBe(600);
  });

  it('drops the oldest pending id when full, and counts it', () => {
    const s = new LatencySampler(2);
    s.recordSent('a', 1);
    s.recordSent('b', 2);
    s.recordSent('c', 3);
    expect(s.pendingIds(10)).toEqual(['b', 'c']);
    expect(s.dropped).toBe(1);
  });

  it('ignores ids it was never told about', () => {
    const s = new LatencySampler();
    s.resolve('x', 5);
    expect(s.resolvedCount).toBe(0);
  });
});

describe('SequenceSet', () => {
  it('counts distinct members only', () => {
    const set = new SequenceSet();
    expect(set.add(5)).toBe(true);
    expect(set.add(5)).toBe(false);
    set.add(100_000);
    expect(set.size).toBe(2);
    expect(set.has(100_000)).toBe(true);
    expect(set.has(6)).toBe(false);
  });

  it('lists the members missing from another set', () => {
    const sent = new SequenceSet();
    const stored = new SequenceSet();
    for (const n of [0, 1, 31, 32, 63, 64, 5_000]) sent.add(n);
    for (const n of [1, 32, 64]) stored.add(n);
    expect(sent.missingFrom(stored)).toEqual([0, 31, 63, 5_000]);
    expect(sent.intersectionSize(stored)).toBe(3);
  });

  it('rejects a negative sequence number', () => {
    expect(() => new SequenceSet().add(-1)).toThrow(/sequence must be a non-negative integer; received -1/);
  });
});

describe('formatting', () => {
  it('prints the final line with the keys in the documented order', () => {
    const line = formatFinalLine({
      events_sent: 10,
      events_stored: 10,
      dead_letters: 2,
      alerts: 1,
      throughput_eps: 123.456,
      p50_latency_ms: 41.04,
      p99_latency_ms: null,
      commit_latency_events: 9,
      p50_commit_latency_ms: 120.04,
      p99_commit_latency_ms: 480.3,
      p99_commit_latency_first_10s_ms: null,
      processor_restarts: 3,
      kinesalite_restarts: 1,
      postgres_restarts: 0,
      hl7_messages: 7,
      hl7_acks_aa: 5,
      hl7_acks_ae_ar: 2,
      alerts_delivered: 12,
      alert_delivery_p99_ms: 812.34,
      alerts_escalated: 3,
      alerts_acknowledged: 4,
      alert_duplicate_deliveries: 0,
    });
    expect(line).toBe(
      '{"events_sent":10,"events_stored":10,"dead_letters":2,"alerts":1,"throughput_eps":123.5,"p50_latency_ms":41,"p99_latency_ms":null,"commit_latency_events":9,"p50_commit_latency_ms":120,"p99_commit_latency_ms":480.3,"p99_commit_latency_first_10s_ms":null,"processor_restarts":3,"kinesalite_restarts":1,"postgres_restarts":0,"hl7_messages":7,"hl7_acks_aa":5,"hl7_acks_ae_ar":2,"alerts_delivered":12,"alert_delivery_p99_ms":812.3,"alerts_escalated":3,"alerts_acknowledged":4,"alert_duplicate_deliveries":0}',
    );
  });

  it('shows consumer lag as events sent but not yet stored', () => {
    const line = formatStatusLine({
      elapsedSeconds: 3,
      sentPerSec: 1000,
      storedPerSec: 900,
      eventsSent: 3000,
      eventsStored: 2800,
      millisBehindLatest: 120,
      deadLetters: 4,
      alerts: 2,
      rejected: 1,
      duplicates: 30,
      throttled: 0,
      p50Ms: 80,
      p99Ms: 400,
    });
    expect(line).toContain('lag 200 ev, 120ms behind');
    expect(line).toContain('p50 80ms p99 400ms');
    expect(line).toContain('stored 2800/3000');
  });
});
