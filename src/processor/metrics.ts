/**
 * Metrics as CloudWatch Embedded Metric Format log lines: the awslogs driver ships stdout to
 * CloudWatch Logs, which extracts the metrics (no PutMetricData call, no extra VPC endpoint).
 * Event-to-commit latency is counted for every event (a histogram per interval, see
 * latency-histogram.ts), its percentiles emitted as metrics and the histogram itself as a property.
 * Service-level dimensions only (no shard or patient dimension: bounded cardinality, no PHI).
 */

import { COMMIT_LATENCY_HISTOGRAM_KEY, LatencyHistogram } from '../adapters/latency-histogram';

export const METRICS_NAMESPACE = 'VitalsPipeline';

type Unit = 'Count' | 'Milliseconds' | 'Count/Second';
export type CounterName =
  | 'EventsProcessed'
  | 'DeadLetters'
  | 'AlertsRaised'
  | 'DuplicatesSkipped'
  | 'ScoresWritten'
  | 'LeaseLosses'
  /** Batches split to isolate a record the database rejects. */
  | 'BatchSplits'
  /** Records dead-lettered as `unprocessable` (also counted in DeadLetters). */
  | 'UnprocessableRecords'
  /** Unfinished leases of shards trimmed from the stream (past retention) before they were read to their end: data lost. */
  | 'ShardsExpiredUnread'
  /** Checkpoints Kinesis refused (not from this shard: stream recreated); the shard is re-read from TRIM_HORIZON. */
  | 'CheckpointsReset'
  /** Lease cycles whose renewal failed: the database unreachable or refusing writes (a failover, a restart). */
  | 'LeaseCycleFailures'
  /** Batch or dead-letter writes that failed retryably and are retried (database loss, KMS errors); nothing skipped. */
  | 'BatchRetries'
  /** Kinesis call attempts that failed retryably (5xx, network, throttling), SDK retries included. */
  | 'KinesisRetries'
  /** Of those, throttled (ProvisionedThroughputExceededException, LimitExceededException). */
  | 'KinesisThrottles'
  /** KMS call attempts that failed retryably, SDK retries included. */
  | 'KmsRetries'
  /** Of those, throttled (ThrottlingException, KMSThrottlingException). */
  | 'KmsThrottles'
  /** Alert transitions the event bus accepted (re-sends after a crash included). */
  | 'AlertsDelivered'
  /** Alert transitions the bus refused or could not be reached for (retried later). */
  | 'AlertDeliveryFailures'
  /** Unacknowledged high alerts escalated to the next tier. */
  | 'AlertsEscalated';
export type SampleName = 'BatchLatencyMs' | 'MillisBehindLatest' | 'AlertDeliveryLatencyMs' | 'AlertOutboxAgeMs';
/** From the event's arrival in Kinesis to the commit of its batch, every event of the interval (LatencyHistogram). */
export type CommitLatencyName = 'EventToCommitP50Ms' | 'EventToCommitP99Ms' | 'EventToCommitMaxMs';


const UNITS: Readonly<Record<CounterName | SampleName | CommitLatencyName | 'EventsPerSecond', Unit>> = {
  EventToCommitP50Ms: 'Milliseconds',
  EventToCommitP99Ms: 'Milliseconds',
  EventToCommitMaxMs: 'Milliseconds',
  EventsProcessed: 'Count',
  DeadLetters: 'Count',
  AlertsRaised: 'Count',
  DuplicatesSkipped: 'Count',
  ScoresWritten: 'Count',
  LeaseLosses: 'Count',
  BatchSplits: 'Count',
  UnprocessableRecords: 'Count',
  ShardsExpiredUnread: 'Count',
  CheckpointsReset: 'Count',
  LeaseCycleFailures: 'Count',
  BatchRetries: 'Count',
  KinesisRetries: 'Count',
  KinesisThrottles: 'Count',
  KmsRetries: 'Count',
  KmsThrottles: 'Count',
  AlertsDelivered: 'Count',
  AlertDeliveryFailures: 'Count',
  AlertsEscalated: 'Count',
  AlertDeliveryLatencyMs: 'Milliseconds',
  AlertOutboxAgeMs: 'Milliseconds',
  BatchLatencyMs: 'Milliseconds',
  MillisBehindLatest: 'Milliseconds',
  EventsPerSecond: 'Count/Second',
};

/** EMF accepts at most 100 values per metric per line. */
export const MAX_SAMPLES = 100;

export interface MetricsOptions {
  readonly environment: string;
  readonly service?: string;
  readonly write: (line: string) => void;
  readonly now?: () => number;
  readonly random?: () => number;
}

export class Metrics {
  private counters = new Map<CounterName, number>();
  private samples = new Map<SampleName, { values: number[]; seen: number }>();
  private commitLatency = new LatencyHistogram();
  private since: number;
  private timer?: NodeJS.Timeout;
  private readonly now: () => number;
  private readonly random: () => number;

  constructor(private readonly options: MetricsOptions) {
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
    this.since = this.now();
  }

  count(name: CounterName, n = 1): void {
    this.counters.set(name, (this.counters.get(name) ?? 0) + n);
  }

  /** Keeps a uniform sample of at most MAX_SAMPLES values per interval (reservoir sampling). */
  observe(name: SampleName, value: number): void {
    const s = this.samples.get(name) ?? { values: [], seen: 0 };
    s.seen++;
    if (s.values.length < MAX_SAMPLES) s.values.push(value);
    else {
      const j = Math.floor(this.random() * s.seen);
      if (j < MAX_SAMPLES) s.values[j] = value;
    }
    this.samples.set(name, s);
  }

  /** Event-to-commit latency of one event (counted, not sampled). */
  commitLatencyMs(ms: number): void {
    this.commitLatency.add(ms);
  }

  /** Writes one EMF line with everything recorded since the last flush (nothing when idle). */
  flush(): void {
    const now = this.now();
    const elapsedS = Math.max(0.001, (now - this.since) / 1000);
    this.since = now;
    const fields: Record<string, number | number[]> = {};
    for (const [name, n] of this.counters) fields[name] = n;
    fields.EventsPerSecond = Math.round(((this.counters.get('EventsProcessed') ?? 0) / elapsedS) * 100) / 100;
    for (const [name, s] of this.samples) if (s.values.length > 0) fields[name] = s.values.length === 1 ? (s.values[0] as number) : s.values;
    const latency = this.commitLatency;
    if (latency.count > 0) {
      fields.EventToCommitP50Ms = latency.percentile(50) as number;
      fields.EventToCommitP99Ms = latency.percentile(99) as number;
      fields.EventToCommitMaxMs = latency.max;
    }
    this.counters = new Map();
    this.samples = new Map();
    this.commitLatency = new LatencyHistogram();
    const line = {
      _aws: {
        Timestamp: now,
        CloudWatchMetrics: [
          {
            Namespace: METRICS_NAMESPACE,
            Dimensions: [['Service', 'Environment']],
            Metrics: Object.keys(fields).map((Name) => ({ Name, Unit: UNITS[Name as keyof typeof UNITS] })),
          },
        ],
      },
      Service: this.options.service ?? 'vitals-processor',
      Environment: this.options.environment,
      ...fields,
      ...(latency.count > 0 ? { [COMMIT_LATENCY_HISTOGRAM_KEY]: latency.toJSON() } : {}),
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
