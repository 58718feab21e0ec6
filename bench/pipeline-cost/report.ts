/** The benchmark's printed report: per-consumer medians, ratios to the minimal consumer, targets (issue 11). */
import type { BenchResult, Consumer, ConsumerRun } from './run';

/** Issue 11's targets for our processor. */
export const TARGETS = {
  processorCpuUsPerEvent: 40,
  clientCpuVsMinimal: 1.3,
  postgresCpuVsMinimal: 1.3,
  bytesPerEvent: 350,
  rssMiB: 256,
} as const;

export interface Ratios {
  /** processor ÷ minimal */
  readonly clientCpu: number;
  readonly postgresCpu: number;
  readonly kinesaliteCpu: number;
  readonly bytes: number;
  /** naive ÷ processor: how much longer the naive consumer takes (wall). */
  readonly naiveWallVsProcessor: number;
  /** naive ÷ processor: client + PostgreSQL CPU per event. */
  readonly naiveCpuVsProcessor: number;
}

export function ratios(result: BenchResult): Partial<Ratios> {
  const { processor: p, minimal: m, naive: n } = result.medians;
  const out: { -readonly [K in keyof Ratios]?: number } = {};
  if (p && m) {
    out.clientCpu = p.cpuUs.client / m.cpuUs.client;
    out.postgresCpu = p.cpuUs.postgres / m.cpuUs.postgres;
    out.kinesaliteCpu = p.cpuUs.kinesalite / m.cpuUs.kinesalite;
    out.bytes = p.totalBytesPerEvent / m.totalBytesPerEvent;
  }
  if (p && n) {
    out.naiveWallVsProcessor = n.wallS / p.wallS;
    out.naiveCpuVsProcessor = (n.cpuUs.client + n.cpuUs.postgres) / (p.cpuUs.client + p.cpuUs.postgres);
  }
  return out;
}

export interface TargetCheck {
  readonly target: string;
  readonly value: string;
  readonly met: boolean;
}

export function targetChecks(result: BenchResult): TargetCheck[] {
  const p = result.medians.processor;
  if (!p) return [];
  const r = ratios(result);
  const checks: TargetCheck[] = [
    { target: `processor CPU <= ${TARGETS.processorCpuUsPerEvent} µs/event`, value: `${p.cpuUs.client.toFixed(1)} µs`, met: p.cpuUs.client <= TARGETS.processorCpuUsPerEvent },
    { target: `processor RSS <= ${TARGETS.rssMiB} MiB`, value: `${p.rssMiB.toFixed(0)} MiB`, met: p.rssMiB <= TARGETS.rssMiB },
    { target: `bytes stored <= ${TARGETS.bytesPerEvent} per event`, value: `${p.totalBytesPerEvent.toFixed(0)} B`, met: p.totalBytesPerEvent <= TARGETS.bytesPerEvent },
  ];
  if (r.clientCpu !== undefined) checks.push({ target: `processor CPU <= ${TARGETS.clientCpuVsMinimal}x minimal`, value: `${r.clientCpu.toFixed(2)}x`, met: r.clientCpu <= TARGETS.clientCpuVsMinimal });
  if (r.postgresCpu !== undefined) checks.push({ target: `PostgreSQL CPU <= ${TARGETS.postgresCpuVsMinimal}x minimal`, value: `${r.postgresCpu.toFixed(2)}x`, met: r.postgresCpu <= TARGETS.postgresCpuVsMinimal });
  return checks;
}

const n0 = (x: number): string => Math.round(x).toLocaleString('en-US');
const n1 = (x: number): string => x.toFixed(1);

function row(cells: readonly string[]): string {
  return `| ${cells.join(' | ')} |`;
}

export function formatReport(result: BenchResult): string {
  const consumers = Object.keys(result.medians) as Consumer[];
  const med = (c: Consumer): ConsumerRun => result.medians[c] as ConsumerRun;
  const repeats = result.runs.filter((r) => r.consumer === consumers[0]).length;
  const lines: string[] = [];
  lines.push(`${result.events.toLocaleString('en-US')} records (${result.validEvents.toLocaleString('en-US')} distinct valid events, ${result.patients} patients, ${result.shards} shards); median of ${repeats} repeat(s); consumers ${result.compiled ? 'compiled' : 'under ts-node'}${result.recordsPerCall ? `; at most ${result.recordsPerCall} records per GetRecords` : ''}`);
  lines.push('');
  lines.push(row(['per record', ...consumers]));
  lines.push(row(['---', ...consumers.map(() => '---')]));
  const metrics: [string, (r: ConsumerRun) => string][] = [
    ['consumer CPU (µs)', (r) => n1(r.cpuUs.client)],
    ['PostgreSQL CPU (µs)', (r) => n1(r.cpuUs.postgres)],
    ['kinesalite CPU (µs)', (r) => n1(r.cpuUs.kinesalite)],
    ['wall time (s)', (r) => n1(r.wallS)],
    ['records/s', (r) => n0(r.eventsPerS)],
    ['consumer peak RSS (MiB)', (r) => n0(r.rssMiB)],
    ['rows stored', (r) => n0(r.stored)],
    ['bytes stored per record', (r) => n0(r.totalBytesPerEvent)],
  ];
  for (const [name, f] of metrics) lines.push(row([name, ...consumers.map((c) => f(med(c)))]));
  lines.push('');
  const tables = [...new Set(consumers.flatMap((c) => Object.keys(med(c).bytesPerEvent)))].sort();
  lines.push(row(['bytes per record, by table', ...consumers]));
  lines.push(row(['---', ...consumers.map(() => '---')]));
  for (const t of tables) {
    const values = consumers.map((c) => med(c).bytesPerEvent[t]);
    if (values.every((v) => v === undefined || v < 0.5)) continue;
    lines.push(row([t, ...values.map((v) => (v === undefined ? '' : n0(v)))]));
  }
  const r = ratios(result);
  lines.push('');
  lines.push('ratios (same run, medians):');
  if (r.clientCpu !== undefined) {
    lines.push(`  processor / minimal: consumer CPU ${r.clientCpu.toFixed(2)}x, PostgreSQL CPU ${(r.postgresCpu as number).toFixed(2)}x, kinesalite CPU ${(r.kinesaliteCpu as number).toFixed(2)}x, bytes ${(r.bytes as number).toFixed(2)}x`);
  }
  if (r.naiveWallVsProcessor !== undefined) {
    lines.push(`  naive / processor: wall ${r.naiveWallVsProcessor.toFixed(1)}x, consumer + PostgreSQL CPU ${(r.naiveCpuVsProcessor as number).toFixed(1)}x`);
  }
  for (const c of consumers) {
    const last = [...result.runs].reverse().find((x) => x.consumer === c && x.statements);
    if (!last?.statements) continue;
    const total = last.statements.reduce((a, x) => a + x.execUsPerRecord, 0);
    lines.push('');
    lines.push(`PostgreSQL execution time by statement, ${c} (last repeat; pg_stat_statements: ${n1(total)} µs per record executing, planning and protocol excluded):`);
    lines.push(row(['statement', 'calls', 'rows per call', 'µs per record', 'share']));
    lines.push(row(['---', '---', '---', '---', '---']));
    for (const x of last.statements.slice(0, 12)) {
      const text = x.query.length > 90 ? `${x.query.slice(0, 87)}...` : x.query;
      lines.push(row([`\`${text.replace(/\|/g, '\\|').replace(/`/g, "'")}\``, n0(x.calls), n1(x.rows / Math.max(1, x.calls)), x.execUsPerRecord.toFixed(2), `${((100 * x.execUsPerRecord) / (total || 1)).toFixed(0)} %`]));
    }
  }
  const checks = targetChecks(result);
  if (checks.length > 0) {
    lines.push('');
    lines.push('issue 11 targets:');
    for (const c of checks) lines.push(`  ${c.met ? 'met    ' : 'NOT met'} ${c.target}: ${c.value}`);
  }
  return lines.join('\n');
}
