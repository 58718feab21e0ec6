/**
 * Metrics as CloudWatch Embedded Metric Format log lines (one JSON line per flush on stdout; the
 * awslogs driver ships it and CloudWatch extracts the metrics: no PutMetricData call, no endpoint).
 * Counters, sampled values (at most 100 per metric per line, reservoir-sampled) and gauges; dimensions
 * are Service and Environment only: bounded cardinality, never a patient or device.
 *
 * The same line format as the processor's metrics (src/processor/metrics.ts), for any program.
 */
export const EMF_NAMESPACE = 'VitalsPipeline';
export type EmfUnit = 'Count' | 'Milliseconds' | 'Microseconds' | 'Count/Second' | 'None';

/** EMF accepts at most 100 values per metric per line. */
export const EMF_MAX_SAMPLES = 100;

export interface EmfOptions<N extends string> {
  readonly service: string;
  readonly environment: string;
  readonly units: Readonly<Record<N, EmfUnit>>;
  readonly write: (line: string) => void;
  readonly now?: () => number;
  readonly random?: () => number;
}

export class EmfMetrics<N extends string> {
  private counters = new Map<N, number>();
  private samples = new Map<N, { values: number[]; seen: number }>();
  private gauges = new Map<N, number>();
  private timer?: NodeJS.Timeout;
  private readonly now: () => number;
  private readonly random: () => number;

  constructor(private readonly options: EmfOptions<N>) {
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
  }

  count(name: N, n = 1): void {
    this.counters.set(name, (this.counters.get(name) ?? 0) + n);
  }

  /** A value kept in a uniform sample of at most EMF_MAX_SAMPLES per interval. */
  observe(name: N, value: number): void {
    const s = this.samples.get(name) ?? { values: [], seen: 0 };
    s.seen++;
    if (s.values.length < EMF_MAX_SAMPLES) s.values.push(value);
    else {
      const j = Math.floor(this.random() * s.seen);
      if (j < EMF_MAX_SAMPLES) s.values[j] = value;
    }
    this.samples.set(name, s);
  }

  /** A level (e.g. open connections): the latest value is written with every flush. */
  gauge(name: N, value: number): void {
    this.gauges.set(name, value);
  }

  /** Counters since the last flush (for tests and status lines). */
  peek(name: N): number {
    return this.counters.get(name) ?? 0;
  }

  flush(): void {
    const fields: Record<string, number | number[]> = {};
    for (const [name, n] of this.counters) fields[name] = n;
    for (const [name, v] of this.gauges) fields[name] = v;
    for (const [name, s] of this.samples) if (s.values.length > 0) fields[name] = s.values.length === 1 ? (s.values[0] as number) : s.values;
    this.counters = new Map();
    this.samples = new Map();
    if (Object.keys(fields).length === 0) return;
    const line = {
      _aws: {
        Timestamp: this.now(),
        CloudWatchMetrics: [
          {
            Namespace: EMF_NAMESPACE,
            Dimensions: [['Service', 'Environment']],
            Metrics: Object.keys(fields).map((Name) => ({ Name, Unit: this.options.units[Name as N] ?? 'None' })),
          },
        ],
      },
      Service: this.options.service,
      Environment: this.options.environment,
      ...fields,
    };
    this.options.write(`${JSON.stringify(line)}\n`);
  }

  start(intervalMs: number): void {
    this.timer = setInterval(() => this.flush(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.flush();
  }
}
