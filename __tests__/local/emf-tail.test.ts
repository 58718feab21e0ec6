import { appendFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CommitLatencyTracker } from '../../src/local/emf-tail';
import { Metrics } from '../../src/processor/metrics';

test("the run's event-to-commit latency merges every processor's histograms, and the first window only the early ones", () => {
  const dir = mkdtempSync(join(tmpdir(), 'emf-tail-'));
  const files = [join(dir, 'p1.log'), join(dir, 'p2.log')];
  for (const f of files) writeFileSync(f, '{"level":30,"msg":"before the run"}\n');
  const start = 1_000_000;
  const tracker = new CommitLatencyTracker(files, start, 10_000, 1_000);
  const emit = (file: string, at: number, values: number[]): void => {
    const m = new Metrics({ environment: 'local', write: (l) => appendFileSync(file, l), now: () => at });
    for (const v of values) m.commitLatencyMs(v);
    m.flush();
  };
  emit(files[0] as string, start + 5_000, Array(100).fill(900)); // cold start, slow
  emit(files[1] as string, start + 10_900, Array(100).fill(800)); // interval ending within the window + one flush
  emit(files[0] as string, start + 30_000, Array(800).fill(50)); // steady
  appendFileSync(files[1] as string, 'not json {EventToCommitHistogram\n');
  tracker.poll();
  expect(tracker.all.count).toBe(1_000);
  expect(tracker.first.count).toBe(200);
  expect(tracker.all.percentile(50)).toBeLessThanOrEqual(53);
  expect(tracker.first.percentile(99)).toBeGreaterThanOrEqual(900);
  // Lines already read are not counted twice.
  tracker.poll();
  expect(tracker.all.count).toBe(1_000);
});
