import { MAX_SAMPLES, Metrics } from '../../src/processor/metrics';

function capture(): { lines: string[]; metrics: (now: () => number) => Metrics } {
  const lines: string[] = [];
  return { lines, metrics: (now) => new Metrics({ environment: 'dev', write: (l) => lines.push(l), now }) };
}

test('a flush writes one Embedded Metric Format line with service-level dimensions', () => {
  let t = 0;
  const { lines, metrics } = capture();
  const m = metrics(() => t);
  m.count('EventsProcessed', 500);
  m.count('DeadLetters', 2);
  m.observe('BatchLatencyMs', 12);
  m.observe('BatchLatencyMs', 30);
  t = 10_000;
  m.flush();
  const line = JSON.parse(lines[0] as string);
  expect(line._aws.CloudWatchMetrics[0].Namespace).toBe('VitalsPipeline');
  expect(line._aws.CloudWatchMetrics[0].Dimensions).toEqual([['Service', 'Environment']]);
  expect(line._aws.Timestamp).toBe(10_000);
  expect(line.Environment).toBe('dev');
  expect(line.EventsProcessed).toBe(500);
  expect(line.EventsPerSecond).toBe(50);
  expect(line.BatchLatencyMs).toEqual([12, 30]);
  const declared = line._aws.CloudWatchMetrics[0].Metrics.map((x: { Name: string }) => x.Name);
  expect(declared).toEqual(expect.arrayContaining(['EventsProcessed', 'DeadLetters', 'BatchLatencyMs', 'EventsPerSecond']));
  expect(line._aws.CloudWatchMetrics[0].Metrics.find((x: { Name: string }) => x.Name === 'BatchLatencyMs').Unit).toBe('Milliseconds');
});

test('counters reset after each flush', () => {
  const { lines, metrics } = capture();
  const m = metrics(() => 1_000);
  m.count('AlertsRaised', 3);
  m.flush();
  m.flush();
  expect(JSON.parse(lines[1] as string).AlertsRaised).toBeUndefined();
});

test('no more than 100 samples per metric go into one line', () => {
  const { lines, metrics } = capture();
  const m = metrics(() => 1);
  for (let i = 0; i < 1_000; i++) m.observe('MillisBehindLatest', i);
  m.flush();
  expect(JSON.parse(lines[0] as string).MillisBehindLatest).toHaveLength(MAX_SAMPLES);
});

test('event-to-commit latency counts every event: percentiles as metrics, the histogram as a property the runner merges', () => {
  let t = 0;
  const { lines, metrics } = capture();
  const m = metrics(() => t);
  for (let i = 0; i < 1_000; i++) m.commitLatencyMs(i < 990 ? 100 : 2_000);
  t = 1_000;
  m.flush();
  const line = JSON.parse(lines[0] as string);
  expect(line.EventToCommitP50Ms).toBeGreaterThanOrEqual(100);
  expect(line.EventToCommitP50Ms).toBeLessThanOrEqual(105);
  expect(line.EventToCommitP99Ms).toBeLessThanOrEqual(105);
  expect(line.EventToCommitMaxMs).toBe(2_000);
  const declared = line._aws.CloudWatchMetrics[0].Metrics.map((x: { Name: string }) => x.Name);
  expect(declared).toEqual(expect.arrayContaining(['EventToCommitP50Ms', 'EventToCommitP99Ms', 'EventToCommitMaxMs']));
  expect(declared).not.toContain('EventToCommitHistogram');
  expect(Object.values(line.EventToCommitHistogram.buckets as Record<string, number>).reduce((a, b) => a + b, 0)).toBe(1_000);
  // The next interval starts empty.
  m.flush();
  expect(JSON.parse(lines[1] as string).EventToCommitHistogram).toBeUndefined();
});
