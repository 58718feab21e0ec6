/**
 * Event-to-commit latency of every event (not a sample): log-spaced buckets 5 % wide from 1 ms to
 * ~2 h, so percentiles are exact to within 5 % at any count with constant memory. Serialised
 * sparsely ({ bucket upper bound in ms: count }) into the processor's EMF lines, where the local
 * runner merges the histograms of every processor (src/local/emf-tail.ts).
 */

/** The key of the histogram in a processor's EMF line (a property, not a metric). */
export const COMMIT_LATENCY_HISTOGRAM_KEY = 'EventToCommitHistogram';

const GROWTH = 1.05;
const LOG_GROWTH = Math.log(GROWTH);
/** Bucket 0 holds 0..1 ms; bucket i holds (GROWTH^(i-1), GROWTH^i] ms. */
const BUCKETS = 1 + Math.ceil(Math.log(2 * 3_600_000) / LOG_GROWTH);

/** Upper bound (ms) of bucket i, rounded to 0.1 ms. */
export function bucketUpperMs(i: number): number {
  return i === 0 ? 1 : Math.round(GROWTH ** i * 10) / 10;
}

function bucketOf(ms: number): number {
  if (!(ms > 1)) return 0;
  return Math.min(BUCKETS - 1, Math.ceil(Math.log(ms) / LOG_GROWTH - 1e-9));
}

export class LatencyHistogram {
  private readonly counts = new Uint32Array(BUCKETS);
  private total = 0;
  private maxMs = 0;

  add(ms: number): void {
    this.counts[bucketOf(ms)]++;
    this.total++;
    if (ms > this.maxMs) this.maxMs = ms;
  }

  get count(): number {
    return this.total;
  }

  get max(): number {
    return this.maxMs;
  }

  /** Nearest-rank percentile, as its bucket's upper bound (never below the true value; at most 5 % above); null when empty. */
  percentile(p: number): number | null {
    if (!(p > 0 && p <= 100)) throw new Error(`percentile must be in (0, 100]; received ${p}`);
    if (this.total === 0) return null;
    const rank = Math.ceil((p / 100) * this.total);
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i] as number;
      if (seen >= rank) return Math.min(bucketUpperMs(i), this.maxMs);
    }
    return this.maxMs;
  }

  merge(other: LatencyHistogram): void {
    for (let i = 0; i < BUCKETS; i++) this.counts[i] = (this.counts[i] as number) + (other.counts[i] as number);
    this.total += other.total;
    this.maxMs = Math.max(this.maxMs, other.maxMs);
  }

  /** Sparse form: bucket index -> count, plus the maximum. */
  toJSON(): { readonly buckets: Record<string, number>; readonly maxMs: number } {
    const buckets: Record<string, number> = {};
    for (let i = 0; i < BUCKETS; i++) if (this.counts[i]) buckets[i] = this.counts[i] as number;
    return { buckets, maxMs: this.maxMs };
  }

  static fromJSON(json: unknown): LatencyHistogram | null {
    const j = json as { buckets?: Record<string, unknown>; maxMs?: unknown } | null;
    if (!j || typeof j !== 'object' || typeof j.buckets !== 'object' || j.buckets === null || typeof j.maxMs !== 'number') return null;
    const h = new LatencyHistogram();
    for (const [k, v] of Object.entries(j.buckets)) {
      const i = Number(k);
      if (!Number.isInteger(i) || i < 0 || i >= BUCKETS || typeof v !== 'number' || !Number.isInteger(v) || v < 0) return null;
      h.counts[i] = v;
      h.total += v;
    }
    h.maxMs = j.maxMs;
    return h;
  }
}
