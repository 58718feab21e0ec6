/**
 * The processor's control loop: keeps the lease table in sync with the stream's shards, renews this
 * worker's leases, takes/steals leases per the plan, runs one ShardReader per held lease, and shuts
 * down gracefully (stop polling, commit the batch in flight, release leases) within a deadline.
 */
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { Pool } from 'pg';
import { sleep } from '../adapters/backoff';
import { DEFAULT_DB_UNREACHABLE_DEGRADED_MS, DEFAULT_SHARD_STALL_UNHEALTHY_MS } from './config';
import type { HealthReport } from './health';
import { LeaseManager, planLeases, type HeldLease } from './leases';
import { errorSummary, type Logger } from '../adapters/logger';
import type { Metrics } from './metrics';
import { ShardReader, type BatchSink, type ReaderExit } from './shard-reader';

export interface ProcessorSettings {
  readonly streamName: string;
  readonly workerId: string;
  readonly leaseTtlMs: number;
  readonly leaseRenewMs: number;
  readonly shardSyncMs: number;
  readonly idlePollMs: number;
  readonly maxRecordsPerCall: number;
  readonly shutdownDeadlineMs: number;
  /**
   * A shard failing without progress (retryable errors) for longer than this makes /health answer
   * 503, so ECS replaces the task. @default DEFAULT_SHARD_STALL_UNHEALTHY_MS
   */
  readonly shardStallUnhealthyMs?: number;
  /**
   * No lease renewal (the database unreachable or read-only) for longer than this makes /health
   * report `degraded`; for longer than shardStallUnhealthyMs, `unhealthy`. @default DEFAULT_DB_UNREACHABLE_DEGRADED_MS
   */
  readonly dbUnreachableDegradedMs?: number;
}


export interface ProcessorDeps {
  readonly pool: Pool;
  readonly kinesis: KinesisClient;
  readonly sink: BatchSink;
  readonly logger: Logger;
  readonly metrics?: Metrics;
}

/**
 * Hourly maintenance: partitions kept 7 days ahead (idempotent, cheap when nothing is missing), then
 * retention (the policy the migration command wrote; see src/db/migrations/0003_retention.ts).
 */
export const PARTITION_MAINTENANCE_MS = 60 * 60_000;
/** Event ids deleted per apply_retention() call: one short transaction each. */
export const RETENTION_BATCH = 50_000;
/** At most this long per hour on retention; what is left is pruned the next hour. */
export const RETENTION_BUDGET_MS = 10 * 60_000;

export interface RetentionResult {
  readonly eventIdsDeleted: number;
  readonly partitionsDropped: number;
  readonly partitionsBusy: number;
}

/** Calls apply_retention() until a call deletes less than a full batch, the budget is spent or `signal` aborts. */
export async function applyRetention(pool: Pool, signal?: AbortSignal, budgetMs = RETENTION_BUDGET_MS, batch = RETENTION_BATCH): Promise<RetentionResult> {
  const started = Date.now();
  const total = { eventIdsDeleted: 0, partitionsDropped: 0, partitionsBusy: 0 };
  for (;;) {
    const { rows } = await pool.query<{ event_ids_deleted: number; partitions_dropped: number; partitions_busy: number }>(
      'SELECT * FROM apply_retention($1)',
      [batch],
    );
    const r = rows[0];
    total.eventIdsDeleted += r?.event_ids_deleted ?? 0;
    total.partitionsDropped += r?.partitions_dropped ?? 0;
    total.partitionsBusy += r?.partitions_busy ?? 0;
    if ((r?.event_ids_deleted ?? 0) < batch || signal?.aborted || Date.now() - started >= budgetMs) return total;
  }
}

interface RunningReader {
  readonly epoch: number;
  readonly controller: AbortController;
  readonly done: Promise<ReaderExit | 'failed'>;
  /** The reader, set once the previous reader of the shard (if any) has exited. */
  readonly current: { reader?: ShardReader };
}

export class Processor {
  private readonly leases: LeaseManager;
  private readonly readers = new Map<string, RunningReader>();
  /**
   * Leases this worker took and has not seen end (finished, lost): what a graceful stop releases. Kept
   * apart from `readers`, whose entries go as soon as a reader exits, often before stop() gets there.
   */
  private readonly leasesHeld = new Map<string, number>();
  private readonly stopController = new AbortController();
  private readonly hardStop = new AbortController();
  private loop?: Promise<void>;
  private lastRenewOkAt = 0;
  private readonly startedAt = Date.now();
  private reportedDbState: 'ok' | 'degraded' = 'ok';
  private lastSyncAt = 0;
  private lastMaintenanceAt = 0;
  private maintenance?: Promise<void>;
  private wake?: () => void;
  private reportedStalls = '';
  private readonly log: Logger;

  constructor(
    private readonly settings: ProcessorSettings,
    private readonly deps: ProcessorDeps,
  ) {
    this.leases = new LeaseManager({ pool: deps.pool, streamName: settings.streamName, workerId: settings.workerId, ttlMs: settings.leaseTtlMs });
    this.log = deps.logger.child({ workerId: settings.workerId });
  }

  start(): void {
    if (this.loop) return;
    this.log.info({ streamName: this.settings.streamName }, 'processor starting');
    this.loop = this.run();
  }

  /** True unless the health report is `unhealthy`. */
  healthy(): boolean {
    return this.health().status !== 'unhealthy';
  }

  /**
   * `ok` while leases are renewed; `degraded` once no renewal has succeeded for dbUnreachableDegradedMs
   * (the database unreachable or refusing writes: the processor keeps retrying and recovers on its
   * own); `unhealthy` when stopping, when a shard has stalled on retries, or when the database has
   * been unreachable, for longer than shardStallUnhealthyMs.
   */
  health(now: number = Date.now()): HealthReport {
    const stallLimit = this.settings.shardStallUnhealthyMs ?? DEFAULT_SHARD_STALL_UNHEALTHY_MS;
    const unreachableMs = this.databaseUnreachableForMs(now);
    const unhealthy: string[] = [];
    if (this.stopController.signal.aborted) unhealthy.push('shutting down');
    const stalled = this.stalledShards(now);
    this.reportStalls(); // whoever sees the stall first (a health check or the lease cycle) logs it
    if (stalled.length > 0) unhealthy.push(`shards stalled on retries for over ${stallLimit} ms: ${stalled.join(', ')}`);
    if (unreachableMs > stallLimit) unhealthy.push(`database unreachable for ${unreachableMs} ms`);
    if (unhealthy.length > 0) return { status: 'unhealthy', reasons: unhealthy };
    if (unreachableMs > (this.settings.dbUnreachableDegradedMs ?? DEFAULT_DB_UNREACHABLE_DEGRADED_MS)) {
      return { status: 'degraded', reasons: [`database unreachable for ${unreachableMs} ms (no lease renewal); retrying`] };
    }
    return { status: 'ok', reasons: [] };
  }

  /** Time since the last successful lease renewal (since start before the first one). */
  databaseUnreachableForMs(now: number = Date.now()): number {
    const since = this.lastRenewOkAt === 0 ? this.startedAt : this.lastRenewOkAt;
    // A renewal is due every leaseRenewMs: only the time past that counts as unreachable.
    return Math.max(0, now - since - this.settings.leaseRenewMs);
  }

  /** Shards failing without progress for longer than the threshold (logged, and reported by health). */
  stalledShards(now: number = Date.now()): string[] {
    const limit = this.settings.shardStallUnhealthyMs ?? DEFAULT_SHARD_STALL_UNHEALTHY_MS;
    return [...this.readers.entries()].filter(([, r]) => (r.current.reader?.stalledForMs(now) ?? 0) > limit).map(([id]) => id).sort();
  }

  heldShards(): string[] {
    return [...this.readers.keys()].sort();
  }

  private async run(): Promise<void> {
    const signal = this.stopController.signal;
    while (!signal.aborted) {
      await this.tick();
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        void sleep(this.settings.leaseRenewMs, signal).then(resolve);
      });
      this.wake = undefined;
    }
  }

  private async tick(): Promise<void> {
    const now = Date.now();
    if (now - this.lastSyncAt >= this.settings.shardSyncMs) {
      // Apart from the renewal below: Kinesis (or the database) failing here must not let leases expire.
      try {
        const { added, pruned, expired } = await this.leases.syncShards(this.deps.kinesis);
        this.lastSyncAt = now;
        if (added || pruned) this.log.info({ added, pruned }, 'shard leases synced');
        for (const lease of expired) {
          // Records between the checkpoint and the shard's end were trimmed before anyone read them.
          this.log.warn(
            { shardId: lease.shardId, checkpoint: lease.checkpoint, epoch: lease.epoch },
            'shard trimmed from the stream before it was read to its end; its lease is finished so its children can be read',
          );
        }
        if (expired.length > 0) this.deps.metrics?.count('ShardsExpiredUnread', expired.length);
      } catch (err) {
        this.log.warn({ err: errorSummary(err) }, 'shard sync failed; retried next cycle');
      }
    }
    try {
      if (now - this.lastMaintenanceAt >= PARTITION_MAINTENANCE_MS && !this.maintenance) {
        // Beside the lease loop, never blocking renewals; retried next period when it fails.
        this.lastMaintenanceAt = now;
        this.maintenance = this.maintain().finally(() => (this.maintenance = undefined));
      }

      let held: HeldLease[];
      try {
        held = await this.leases.renew();
      } catch (err) {
        this.deps.metrics?.count('LeaseCycleFailures');
        this.reportDatabase();
        throw err;
      }
      this.lastRenewOkAt = Date.now();
      this.reportDatabase();
      const heldById = new Map(held.map((l) => [l.shardId, l]));
      for (const [shardId, reader] of this.readers) {
        const lease = heldById.get(shardId);
        if (!lease || lease.epoch !== reader.epoch) {
          if (this.leasesHeld.get(shardId) === reader.epoch) this.leasesHeld.delete(shardId);
          this.log.warn({ shardId }, 'lease no longer held; stopping its reader');
          reader.controller.abort();
        }
      }
      this.reportStalls();
      if (this.stopController.signal.aborted) return;
      // Held leases without a reader (a reader that failed): restart them.
      for (const lease of held) if (!this.readers.has(lease.shardId)) this.startReader(lease);

      const plan = planLeases(await this.leases.list(), this.settings.workerId);
      for (const lease of plan.take) {
        const got = await this.leases.acquire(lease, 'take');
        if (got) {
          this.log.info({ shardId: got.shardId, epoch: got.epoch, checkpoint: got.checkpoint, fairShare: plan.fairShare }, 'lease taken');
          this.startReader(got);
        }
      }
      for (const lease of plan.steal) {
        const got = await this.leases.acquire(lease, 'steal');
        if (got) {
          this.log.info({ shardId: got.shardId, epoch: got.epoch, from: lease.owner, fairShare: plan.fairShare }, 'lease stolen to balance');
          this.startReader(got);
        }
      }
    } catch (err) {
      this.log.error({ err: errorSummary(err) }, 'lease cycle failed');
    }
  }

  /** Logs once when the database becomes unreachable beyond the degraded threshold, and once when it is back. */
  private reportDatabase(): void {
    const degraded = this.databaseUnreachableForMs() > (this.settings.dbUnreachableDegradedMs ?? DEFAULT_DB_UNREACHABLE_DEGRADED_MS);
    if (degraded && this.reportedDbState === 'ok') {
      this.reportedDbState = 'degraded';
      this.log.error({ unreachableForMs: this.databaseUnreachableForMs() }, 'database unreachable beyond the threshold; health degraded, retrying');
    } else if (!degraded && this.reportedDbState === 'degraded') {
      this.reportedDbState = 'ok';
      this.log.info('database reachable again; health ok');
    }
  }

  /** Logs when the set of stalled shards changes (health answers 503 while it is not empty). */
  private reportStalls(): void {
    const stalled = this.stalledShards();
    const key = stalled.join(',');
    if (key === this.reportedStalls) return;
    this.reportedStalls = key;
    const thresholdMs = this.settings.shardStallUnhealthyMs ?? DEFAULT_SHARD_STALL_UNHEALTHY_MS;
    if (stalled.length > 0) this.log.error({ shards: stalled, thresholdMs }, 'shards stalled on retries beyond the threshold; reporting unhealthy');
    else this.log.info('no shard stalled any more; reporting healthy');
  }

  private async maintain(): Promise<void> {
    try {
      await this.deps.pool.query('SELECT ensure_time_partitions(7, 0)');
    } catch (err) {
      // Rows go to the default partition meanwhile.
      this.log.warn({ err: errorSummary(err) }, 'partition maintenance failed');
    }
    try {
      const r = await applyRetention(this.deps.pool, this.stopController.signal);
      if (r.eventIdsDeleted > 0 || r.partitionsDropped > 0 || r.partitionsBusy > 0) this.log.info({ ...r }, 'retention applied');
    } catch (err) {
      this.log.warn({ err: errorSummary(err) }, 'retention failed; retried next period');
    }
  }


  private startReader(lease: HeldLease): void {
    const existing = this.readers.get(lease.shardId);
    if (existing && existing.epoch === lease.epoch) return;
    existing?.controller.abort();
    const controller = new AbortController();
    const current: RunningReader['current'] = {};
    const onStop = (): void => controller.abort();
    // A lease taken while the stop was being requested (the cycle was mid-acquire): an abort listener
    // added now would never fire, so the reader would poll on until the deadline and past it.
    if (this.stopController.signal.aborted) controller.abort();
    else this.stopController.signal.addEventListener('abort', onStop, { once: true });
    const done = (async (): Promise<ReaderExit | 'failed'> => {
      if (existing) await existing.done; // never two readers of one shard in this process
      const reader = (current.reader = new ShardReader({
        kinesis: this.deps.kinesis,
        sink: this.deps.sink,
        streamName: this.settings.streamName,
        shardId: lease.shardId,
        owner: this.settings.workerId,
        epoch: lease.epoch,
        checkpoint: lease.checkpoint,
        logger: this.log,
        metrics: this.deps.metrics,
        idlePollMs: this.settings.idlePollMs,
        maxRecordsPerCall: this.settings.maxRecordsPerCall,
        signal: controller.signal,
        hardSignal: this.hardStop.signal,
      }));
      try {
        return await reader.run();
      } catch (err) {
        this.log.error({ shardId: lease.shardId, err: errorSummary(err) }, 'shard reader failed; restarting on the next lease cycle');
        return 'failed';
      }
    })();
    const entry: RunningReader = { epoch: lease.epoch, controller, done, current };
    this.readers.set(lease.shardId, entry);
    this.leasesHeld.set(lease.shardId, lease.epoch);
    void done.then((exit) => {
      this.stopController.signal.removeEventListener('abort', onStop);
      if (this.readers.get(lease.shardId) === entry) this.readers.delete(lease.shardId);
      // Stopped, failed or shard-gone readers leave the lease held (released on stop, or restarted next cycle).
      if ((exit === 'finished' || exit === 'lease-lost') && this.leasesHeld.get(lease.shardId) === lease.epoch) this.leasesHeld.delete(lease.shardId);
      if (exit === 'finished' || exit === 'shard-gone') {
        // Children may now be eligible, or the shard was trimmed (the sync finishes its lease): sync right away.
        this.lastSyncAt = 0;
        this.wake?.();
      }
    });
  }

  /**
   * Graceful stop: no new GetRecords, in-flight batches commit, leases released so another worker
   * takes them at once. Gives up on in-flight batches at the deadline (they roll back; nothing is lost).
   */
  async stop(): Promise<void> {
    if (this.stopController.signal.aborted) return;
    const deadline = Date.now() + this.settings.shutdownDeadlineMs - 2_000;
    this.log.info({ shards: this.heldShards() }, 'processor stopping');
    this.stopController.abort();
    this.wake?.();
    await this.loop;
    const readers = [...this.readers.entries()];
    const cancelTimeout = new AbortController();
    const timeout = sleep(Math.max(0, deadline - Date.now()), cancelTimeout.signal);
    const all = Promise.all([...readers.map(([, r]) => r.done), this.maintenance]);
    await Promise.race([all, timeout]);
    cancelTimeout.abort();
    if (this.readers.size > 0) {
      this.log.warn({ shards: this.heldShards() }, 'shutdown deadline reached; abandoning batches in flight (they roll back)');
      this.hardStop.abort();
    }
    try {
      // Fenced on (owner, epoch): a lease lost meanwhile is left to its new owner.
      const released = await this.leases.release([...this.leasesHeld].map(([shardId, epoch]) => ({ shardId, epoch })));
      this.log.info({ released }, 'leases released');
    } catch (err) {
      this.log.warn({ err: errorSummary(err) }, 'lease release failed; leases expire on their own');
    }
  }
}
