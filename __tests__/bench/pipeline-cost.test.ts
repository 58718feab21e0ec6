/**
 * Smoke test of the pipeline-cost benchmark on a tiny input: the shape and internal consistency of
 * what it reports (never its timings: performance is not a test assertion).
 */
import { formatReport, ratios, targetChecks } from '../../bench/pipeline-cost/report';
import { median, runPipelineCost, type BenchResult } from '../../bench/pipeline-cost/run';
import { buildWorkload } from '../../bench/pipeline-cost/workload';

describe('pipeline-cost benchmark', () => {
  let result: BenchResult;

  beforeAll(async () => {
    result = await runPipelineCost({ events: 600, shards: 2, repeats: 2, patients: 40, log: () => undefined });
  }, 300_000);

  it('runs every consumer once per repeat over every record of the stream', () => {
    expect(result.events).toBe(600);
    expect(result.runs.map((r) => r.consumer).sort()).toEqual(['minimal', 'minimal', 'naive', 'naive', 'processor', 'processor']);
    for (const run of result.runs) expect(run.records).toBe(600);
  });

  it('stores each distinct valid event once through the processor; the peers store the same rows as each other', () => {
    for (const run of result.runs.filter((r) => r.consumer === 'processor')) expect(run.stored).toBe(result.validEvents);
    const peers = result.runs.filter((r) => r.consumer !== 'processor').map((r) => r.stored);
    expect(new Set(peers).size).toBe(1);
    // The peers validate nothing: physiologically impossible events are stored too.
    expect(peers[0]).toBeGreaterThanOrEqual(result.validEvents);
  });

  it('measures CPU, memory and bytes as finite, non-negative figures whose total is the sum of the tables', () => {
    for (const run of result.runs) {
      for (const v of [run.cpuUs.client, run.cpuUs.postgres, run.cpuUs.kinesalite, run.wallS, run.eventsPerS, run.rssMiB]) {
        expect(Number.isFinite(v)).toBe(true);
        expect(v).toBeGreaterThanOrEqual(0);
      }
      expect(run.cpuUs.client).toBeGreaterThan(0);
      expect(run.rssMiB).toBeGreaterThan(10);
      const sum = Object.values(run.bytesPerEvent).reduce((a, b) => a + b, 0);
      expect(run.totalBytesPerEvent).toBeCloseTo(sum, 6);
    }
    const processor = result.runs.find((r) => r.consumer === 'processor');
    expect(Object.keys(processor?.bytesPerEvent ?? {})).toEqual(expect.arrayContaining(['observations', 'event_ids', 'latest_vitals']));
    expect(Object.keys(result.runs.find((r) => r.consumer === 'minimal')?.bytesPerEvent ?? {})).toEqual(['peer_events']);
  });

  it('reports per-consumer medians of the repeats and ratios of those medians', () => {
    for (const consumer of ['processor', 'minimal', 'naive'] as const) {
      const runs = result.runs.filter((r) => r.consumer === consumer);
      expect(result.medians[consumer]?.cpuUs.client).toBe(median(runs.map((r) => r.cpuUs.client)));
      expect(result.medians[consumer]?.totalBytesPerEvent).toBe(median(runs.map((r) => r.totalBytesPerEvent)));
    }
    const p = result.medians.processor;
    const m = result.medians.minimal;
    expect(ratios(result).clientCpu).toBe((p?.cpuUs.client ?? NaN) / (m?.cpuUs.client ?? NaN));
    expect(ratios(result).postgresCpu).toBe((p?.cpuUs.postgres ?? NaN) / (m?.cpuUs.postgres ?? NaN));
    expect(targetChecks(result).map((c) => c.target)).toHaveLength(5);
  });

  it('prints a table with a column per consumer, the per-table bytes and the ratios', () => {
    const text = formatReport(result);
    expect(text).toContain('| per record | processor | minimal | naive |');
    expect(text).toMatch(/\| consumer CPU \(µs\) \| [\d.]+ \| [\d.]+ \| [\d.]+ \|/);
    expect(text).toMatch(/\| observations \| [\d,]+ \|/);
    expect(text).toContain(`processor / minimal: consumer CPU ${(ratios(result).clientCpu as number).toFixed(2)}x`);
    expect(text).toContain('median of 2 repeat(s)');
  });
});

describe('benchmark workload', () => {
  it('is the same records for the same seed, with duplicates and malformed records in the simulator mix', () => {
    const endMs = Date.parse('2026-12-01T00:00:00Z');
    const a = buildWorkload({ events: 5_000, patients: 100, seed: 7, endMs });
    const b = buildWorkload({ events: 5_000, patients: 100, seed: 7, endMs });
    expect(Buffer.concat(a.records.map((r) => r.data)).equals(Buffer.concat(b.records.map((r) => r.data)))).toBe(true);
    const distinct = new Set(a.records.map((r) => r.data.toString('base64'))).size;
    expect(distinct).toBeLessThan(a.records.length); // re-sent records (1 %)
    expect(a.validEvents).toBeLessThan(distinct); // impossible and undecodable ones (0.35 %)
    expect(a.validEvents).toBeGreaterThan(a.records.length * 0.95);
  });
});

describe('pipeline-cost benchmark options: a GetRecords limit (--records-per-call) and statement statistics (--pg-statements)', () => {
  let result: BenchResult;
  beforeAll(async () => {
    result = await runPipelineCost({ events: 300, shards: 2, repeats: 1, patients: 20, consumers: ['processor', 'minimal'], recordsPerCall: 50, statementStats: true, log: () => undefined });
  }, 300_000);

  it('reads every record through every consumer under the limit, and says so in the report', () => {
    expect(result.recordsPerCall).toBe(50);
    for (const run of result.runs) expect(run.records).toBe(300);
    expect(result.runs.find((r) => r.consumer === 'processor')?.stored).toBe(result.validEvents);
    expect(formatReport(result)).toMatch(/at most 50 records per GetRecords/);
  });

  it("splits each consumer's PostgreSQL time by statement: the processor's batch statement, the minimal consumer's one INSERT", () => {
    const processor = result.runs.find((r) => r.consumer === 'processor')?.statements ?? [];
    const minimal = result.runs.find((r) => r.consumer === 'minimal')?.statements ?? [];
    // At most 50 records per call over 2 shards: at least 300 / 50 batches, each one batch statement.
    const batch = processor.find((s) => s.query.startsWith('WITH observations_in AS (INSERT INTO observations'));
    expect(batch?.calls).toBeGreaterThanOrEqual(6);
    expect(batch?.execUsPerRecord).toBeGreaterThan(0);
    const peerInsert = minimal.find((s) => s.query.startsWith('INSERT INTO peer_events'));
    expect(peerInsert?.calls).toBeGreaterThanOrEqual(6);
    expect(minimal.some((s) => s.query.includes('observations'))).toBe(false); // each run's own database only
    for (const list of [processor, minimal]) {
      const times = list.map((s) => s.execUsPerRecord);
      expect(times).toEqual([...times].sort((a, b) => b - a));
    }
    const report = formatReport(result);
    expect(report).toMatch(/PostgreSQL execution time by statement, processor/);
    expect(report).toMatch(/PostgreSQL execution time by statement, minimal/);
  });
});
