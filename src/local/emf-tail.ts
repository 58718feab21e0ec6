/**
 * Reads the processors' CloudWatch Embedded Metric Format lines from their log files as they grow,
 * to show MillisBehindLatest in the live status (the same figure CloudWatch graphs on AWS) and to
 * report their event-to-commit latency at the end.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { COMMIT_LATENCY_HISTOGRAM_KEY, LatencyHistogram } from '../adapters/latency-histogram';

/** The largest MillisBehindLatest value in an EMF line, or null when the line has none. */
export function millisBehindLatestOf(line: string): number | null {
  if (!line.includes('"MillisBehindLatest"')) return null;
  try {
    const parsed = JSON.parse(line) as { MillisBehindLatest?: unknown };
    const v = parsed.MillisBehindLatest;
    if (typeof v === 'number') return v;
    if (Array.isArray(v)) {
      const numbers = v.filter((x): x is number => typeof x === 'number');
      return numbers.length > 0 ? Math.max(...numbers) : null;
    }
  } catch {
    // a partial or non-JSON line: ignore
  }
  return null;
}

/** Follows one log file from its current end. */
export class LogTail {
  private offset: number;
  private partial = '';

  constructor(private readonly file: string) {
    this.offset = LogTail.sizeOf(file);
  }

  private static sizeOf(file: string): number {
    try {
      const fd = openSync(file, 'r');
      try {
        return fstatSync(fd).size;
      } finally {
        closeSync(fd);
      }
    } catch {
      return 0;
    }
  }

  /** Complete lines appended since the last call. */
  readNewLines(maxBytes = 4 * 1024 * 1024): string[] {
    let fd: number;
    try {
      fd = openSync(this.file, 'r');
    } catch {
      return [];
    }
    try {
      const size = fstatSync(fd).size;
      if (size < this.offset) this.offset = 0; // truncated
      if (size - this.offset > maxBytes) {
        this.offset = size - maxBytes; // far behind: only the recent part matters
        this.partial = '';
      }
      const length = size - this.offset;
      if (length <= 0) return [];
      const buffer = Buffer.alloc(length);
      const read = readSync(fd, buffer, 0, length, this.offset);
      this.offset += read;
      const text = this.partial + buffer.subarray(0, read).toString('utf8');
      const lines = text.split('\n');
      this.partial = lines.pop() ?? '';
      return lines;
    } finally {
      closeSync(fd);
    }
  }
}

/** Latest MillisBehindLatest per processor log; the status shows the largest. */
export class MillisBehindTracker {
  private readonly tails: LogTail[];
  private readonly latest: Array<number | null>;

  constructor(files: readonly string[]) {
    this.tails = files.map((f) => new LogTail(f));
    this.latest = files.map(() => null);
  }

  poll(): number | null {
    this.tails.forEach((tail, i) => {
      for (const line of tail.readNewLines()) {
        const v = millisBehindLatestOf(line);
        if (v !== null) this.latest[i] = v;
      }
    });
    const known = this.latest.filter((v): v is number => v !== null);
    return known.length > 0 ? Math.max(...known) : null;
  }
}

/**
 * Every processor's event-to-commit histograms (one per EMF line, each event counted once, measured
 * on the processor's clock right after COMMIT), merged over the whole run and over its first
 * `firstWindowMs` (lines whose interval ended by then, plus one flush interval of slack).
 */
export class CommitLatencyTracker {
  private readonly tails: LogTail[];
  readonly all = new LatencyHistogram();
  readonly first = new LatencyHistogram();

  constructor(
    files: readonly string[],
    private readonly startedAtMs: number,
    private readonly firstWindowMs: number,
    private readonly flushMs: number,
  ) {
    this.tails = files.map((f) => new LogTail(f));
  }

  poll(): void {
    for (const tail of this.tails) {
      for (const line of tail.readNewLines()) {
        if (!line.includes(COMMIT_LATENCY_HISTOGRAM_KEY)) continue;
        let parsed: { _aws?: { Timestamp?: unknown }; [key: string]: unknown };
        try {
          parsed = JSON.parse(line) as typeof parsed;
        } catch {
          continue;
        }
        const h = LatencyHistogram.fromJSON(parsed[COMMIT_LATENCY_HISTOGRAM_KEY]);
        if (!h) continue;
        this.all.merge(h);
        const at = parsed._aws?.Timestamp;
        if (typeof at === 'number' && at - this.startedAtMs <= this.firstWindowMs + this.flushMs) this.first.merge(h);
      }
    }
  }
}
