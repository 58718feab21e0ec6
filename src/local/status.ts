/**
 * Live status and final summary of a local run: latency sampling, percentiles and formatting.
 * Pure; the runner feeds it numbers read from the simulator and the database.
 */

/** Nearest-rank percentile of an ascending array (p in (0, 100]); null when empty. */
export function percentile(sortedAscending: readonly number[], p: number): number | null {
  if (!(p > 0 && p <= 100)) throw new Error(`percentile must be in (0, 100]; received ${p}`);
  if (sortedAscending.length === 0) return null;
  const rank = Math.ceil((p / 100) * sortedAscending.length);
  return sortedAscending[Math.min(sortedAscending.length, Math.max(1, rank)) - 1];
}

/**
 * Event-to-commit latency from a sample of event ids: the simulator records when it sent each
 * sampled id; the runner asks the database for the pending ones' stored-at times and resolves them.
 * Bounded: at most `maxPending` ids wait (the oldest are dropped first and counted).
 */
export class LatencySampler {
  private readonly pending = new Map<string, number>();
  private readonly latenciesMs: number[] = [];
  private droppedCount = 0;

  constructor(private readonly maxPending = 20_000) {}

  recordSent(eventId: string, sentAtMs: number): void {
    if (this.pending.has(eventId)) return; // a retry keeps the first send time
    if (this.pending.size >= this.maxPending) {
      const oldest = this.pending.keys().next().value as string;
      this.pending.delete(oldest);
      this.droppedCount++;
    }
    this.pending.set(eventId, sentAtMs);
  }

  /** Oldest pending ids first, at most `limit`. */
  pendingIds(limit: number): string[] {
    const out: string[] = [];
    for (const id of this.pending.keys()) {
      if (out.length >= limit) break;
      out.push(id);
    }
    return out;
  }

  get pendingCount(): number {
    return this.pending.size;
  }

  get dropped(): number {
    return this.droppedCount;
  }

  resolve(eventId: string, storedAtMs: number): void {
    const sentAt = this.pending.get(eventId);
    if (sentAt === undefined) return;
    this.pending.delete(eventId);
    this.latenciesMs.push(Math.max(0, storedAtMs - sentAt));
  }

  get resolvedCount(): number {
    return this.latenciesMs.length;
  }

  /** p50 and p99 over every resolved sample so far (null before the first). */
  percentiles(): { p50: number | null; p99: number | null } {
    const sorted = [...this.latenciesMs].sort((a, b) => a - b);
    return { p50: percentile(sorted, 50), p99: percentile(sorted, 99) };
  }

  /** Percentiles of samples resolved since `fromIndex` (for the live line's recent window). */
  recentPercentiles(fromIndex: number): { p50: number | null; p99: number | null } {
    const sorted = this.latenciesMs.slice(fromIndex).sort((a, b) => a - b);
    return { p50: percentile(sorted, 50), p99: percentile(sorted, 99) };
  }
}

export interface StatusSnapshot {
  readonly elapsedSeconds: number;
  readonly sentPerSec: number;
  readonly storedPerSec: number;
  readonly eventsSent: number;
  readonly eventsStored: number;
  readonly millisBehindLatest: number | null;
  readonly deadLetters: number;
  readonly alerts: number;
  readonly rejected: number;
  readonly duplicates: number;
  readonly throttled: number;
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
}

function ms(x: number | null): string {
  return x === null ? '-' : `${Math.round(x)}ms`;
}

/** One status line, most important first (a narrow terminal cuts the end); no identifiers of any kind. */
export function formatStatusLine(s: StatusSnapshot): string {
  const lag = Math.max(0, s.eventsSent - s.eventsStored);
  return [
    `t=${s.elapsedSeconds.toFixed(0)}s`,
    `in ${s.sentPerSec.toFixed(0)}/s`,
    `stored ${s.storedPerSec.toFixed(0)}/s`,
    `lag ${lag} ev` + (s.millisBehindLatest === null ? '' : `, ${s.millisBehindLatest}ms behind`),
    `dead letters ${s.deadLetters}`,
    `alerts ${s.alerts}`,
    `p50 ${ms(s.p50Ms)} p99 ${ms(s.p99Ms)}`,
    `stored ${s.eventsStored}/${s.eventsSent}`,
    `400s ${s.rejected}`,
    `dups ${s.duplicates}`,
    `429s ${s.throttled}`,
  ].join(' | ');
}

export interface FinalSummary {
  readonly events_sent: number;
  readonly events_stored: number;
  readonly dead_letters: number;
  readonly alerts: number;
  readonly throughput_eps: number;
  readonly p50_latency_ms: number | null;
  readonly p99_latency_ms: number | null;
  /**
   * Event-to-commit latency of every event the processors committed: from its arrival in the stream
   * to the processor's clock right after COMMIT (EMF histograms, 5 % buckets), over the run and over
   * its first 10 s (cold start: leases being taken and balanced).
   */
  readonly commit_latency_events: number;
  readonly p50_commit_latency_ms: number | null;
  readonly p99_commit_latency_ms: number | null;
  readonly p99_commit_latency_first_10s_ms: number | null;
  /** Processor processes restarted after exiting unexpectedly (as ECS replaces a failed task). */
  readonly processor_restarts: number;
  /** kinesalite restarts after it exited unexpectedly (same port and data). */
  readonly kinesalite_restarts: number;
  /** PostgreSQL restarts after it exited unexpectedly (same port and data). */
  readonly postgres_restarts: number;
  /** HL7 v2 (IHE PCD-01) messages sent to the HL7 gateway over MLLP, every kind. */
  readonly hl7_messages: number;
  /** Their acknowledgements: AA (stored), and AE or AR (refused). */
  readonly hl7_acks_aa: number;
  readonly hl7_acks_ae_ar: number;
  /** Alert transitions the local bus accepted (distinct transition ids). */
  readonly alerts_delivered: number;
  /** Observation reached the stream -> the bus accepted its alert transition (raised/changed), p99. */
  readonly alert_delivery_p99_ms: number | null;
  readonly alerts_escalated: number;
  /** Acknowledged transitions delivered (the acknowledging client's first acknowledgements). */
  readonly alerts_acknowledged: number;
  /** The same transition delivered again (only after a processor crash between send and mark). */
  readonly alert_duplicate_deliveries: number;
}

/** The final line, keys in the order the issue names them. */
export function formatFinalLine(s: FinalSummary): string {
  const round1 = (x: number | null) => (x === null ? null : Math.round(x * 10) / 10);
  return JSON.stringify({
    events_sent: s.events_sent,
    events_stored: s.events_stored,
    dead_letters: s.dead_letters,
    alerts: s.alerts,
    throughput_eps: round1(s.throughput_eps),
    p50_latency_ms: round1(s.p50_latency_ms),
    p99_latency_ms: round1(s.p99_latency_ms),
    commit_latency_events: s.commit_latency_events,
    p50_commit_latency_ms: round1(s.p50_commit_latency_ms),
    p99_commit_latency_ms: round1(s.p99_commit_latency_ms),
    p99_commit_latency_first_10s_ms: round1(s.p99_commit_latency_first_10s_ms),
    processor_restarts: s.processor_restarts,
    kinesalite_restarts: s.kinesalite_restarts,
    postgres_restarts: s.postgres_restarts,
    hl7_messages: s.hl7_messages,
    hl7_acks_aa: s.hl7_acks_aa,
    hl7_acks_ae_ar: s.hl7_acks_ae_ar,
    alerts_delivered: s.alerts_delivered,
    alert_delivery_p99_ms: round1(s.alert_delivery_p99_ms),
    alerts_escalated: s.alerts_escalated,
    alerts_acknowledged: s.alerts_acknowledged,
    alert_duplicate_deliveries: s.alert_duplicate_deliveries,
  });
}
