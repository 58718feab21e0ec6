/**
 * Reads one leased shard: GetShardIterator after the checkpoint (or from TRIM_HORIZON), then a
 * GetRecords loop within Kinesis limits (at most 5 calls/s/shard, up to MAX_RECORDS_PER_CALL records
 * per call, idle sleep when empty), handing each batch to the writer while the next GetRecords is
 * already on its way (prefetch). Throttling and transient errors back off
 * with jitter; an expired iterator is re-acquired from the last checkpoint; losing the lease stops
 * the reader. The shard is finished when GetRecords returns no NextShardIterator (a closed shard
 * drained to its end), which the writer records in the lease with the last batch. A batch the
 * database rejects for a record's content is split until that record is isolated and dead-lettered
 * (see `write`); retryable failures are retried, and their duration reported (`stalledForMs`).
 */
import { GetRecordsCommand, GetShardIteratorCommand, type GetRecordsCommandOutput, type KinesisClient } from '@aws-sdk/client-kinesis';
import { backoffDelayMs, isRetryableAwsError, sleep } from '../adapters/backoff';
import { classifyError, rejectionDescription } from './errors';
import type { Logger } from '../adapters/logger';
import { errorSummary } from '../adapters/logger';
import type { Metrics } from './metrics';
import type { FieldError } from '../schema';
import type { BatchOutcome, BatchTarget, StreamRecord } from './writer';

/** Kinesis allows 5 GetRecords calls per second per shard. */
export const MIN_GET_RECORDS_INTERVAL_MS = 200;

/** A single record failing with a poison error this many times in a row is dead-lettered. */
export const UNPROCESSABLE_ATTEMPTS = 2;

/**
 * `shard-gone`: Kinesis answered ResourceNotFoundException for the shard (trimmed past retention, or
 * the stream deleted). The lease stays held; the next shard sync decides (see LeaseManager.syncShards).
 */
export type ReaderExit = 'finished' | 'lease-lost' | 'stopped' | 'shard-gone';
type IteratorResult = { readonly iterator: string } | { readonly exit: 'stopped' | 'shard-gone' };
type WriteResult = 'ok' | 'lease-lost' | 'stopped';
type Fetched = { readonly out: GetRecordsCommandOutput } | { readonly err: unknown };

export interface BatchSink {
  /** Stores the records and moves the checkpoint onto the last one, in one transaction fenced on the lease. */
  writeBatch(target: BatchTarget, records: readonly StreamRecord[]): Promise<BatchOutcome>;
  /** Dead-letters one record as `unprocessable` and moves the checkpoint onto it, fenced likewise. */
  writeUnprocessable(target: BatchTarget, record: StreamRecord, errors: readonly FieldError[]): Promise<BatchOutcome>;
}

export interface ShardReaderOptions {
  readonly kinesis: KinesisClient;
  readonly sink: BatchSink;
  readonly streamName: string;
  readonly shardId: string;
  readonly owner: string;
  readonly epoch: number;
  readonly checkpoint: string | null;
  readonly logger: Logger;
  readonly metrics?: Metrics;
  readonly idlePollMs: number;
  readonly maxRecordsPerCall: number;
  /** Stop polling; a batch being written is still committed. */
  readonly signal: AbortSignal;
  /** Give up even on the batch in flight (shutdown deadline). */
  readonly hardSignal?: AbortSignal;
}

export class ShardReader {
  private checkpoint: string | null;
  private readonly log: Logger;
  /** Start of the current run of failed attempts (GetRecords, iterator or commit); unset after a success. */
  private failingSince?: number;
  /** When the last GetRecords call started (Kinesis: 5 calls/s/shard). */
  private lastCallAt = 0;

  constructor(private readonly o: ShardReaderOptions) {
    this.checkpoint = o.checkpoint;
    this.log = o.logger.child({ shardId: o.shardId, epoch: o.epoch });
  }

  /** How long this shard has been failing without progress (0 when it is not). */
  stalledForMs(now: number = Date.now()): number {
    return this.failingSince === undefined ? 0 : now - this.failingSince;
  }

  async run(): Promise<ReaderExit> {
    const first = await this.iteratorFromCheckpoint();
    if ('exit' in first) return first.exit;
    let iterator = first.iterator;
    let failures = 0;
    /** The next GetRecords, started while the current batch commits. */
    let prefetched: Promise<Fetched> | undefined;
    while (!this.o.signal.aborted) {
      const fetched = await (prefetched ?? this.getRecords(iterator));
      prefetched = undefined;
      if (this.o.signal.aborted) break;
      if ('err' in fetched) {
        const err = fetched.err;
        if ((err as Error).name === 'ExpiredIteratorException') {
          this.log.info({ checkpoint: this.checkpoint }, 'shard iterator expired; re-acquiring from the checkpoint');
          const again = await this.iteratorFromCheckpoint();
          if ('exit' in again) return again.exit;
          iterator = again.iterator;
          continue;
        }
        if ((err as Error).name === 'ResourceNotFoundException') return this.shardGone('GetRecords', err).exit;
        if (!isRetryableAwsError(err)) throw err;
        this.failingSince ??= Date.now();
        const delay = backoffDelayMs(failures++);
        this.log.warn({ err: errorSummary(err), delayMs: delay }, 'GetRecords failed; backing off');
        await sleep(delay, this.o.signal);
        continue;
      }
      failures = 0;
      this.failingSince = undefined;
      const out = fetched.out;
      const raw = out.Records ?? [];
      const records: StreamRecord[] = new Array<StreamRecord>(raw.length);
      for (let i = 0; i < raw.length; i++) {
        const r = raw[i] as NonNullable<GetRecordsCommandOutput['Records']>[number];
        records[i] = { data: r.Data ?? new Uint8Array(), sequenceNumber: r.SequenceNumber as string, arrivedAt: r.ApproximateArrivalTimestamp };
      }
      if (out.MillisBehindLatest !== undefined) this.o.metrics?.observe('MillisBehindLatest', out.MillisBehindLatest);
      const shardEnd = !out.NextShardIterator;
      if (!shardEnd) iterator = out.NextShardIterator as string;
      // Read the next batch while this one commits (still at most one call per MIN_GET_RECORDS_INTERVAL_MS):
      // the records after this batch are the same whether or not its commit needs retries or splits.
      if (records.length > 0 && !shardEnd) prefetched = this.getRecords(iterator);
      if (records.length > 0 || shardEnd) {
        const result = await this.write(records, shardEnd);
        if (result !== 'ok') return result;
      }
      if (shardEnd) {
        this.log.info({ checkpoint: this.checkpoint }, 'shard finished (closed and drained)');
        return 'finished';
      }
      if (records.length === 0) await sleep(this.o.idlePollMs, this.o.signal);
    }
    return 'stopped';
  }

  /** One GetRecords call, no sooner than MIN_GET_RECORDS_INTERVAL_MS after the previous one; never rejects. */
  private async getRecords(iterator: string): Promise<Fetched> {
    const wait = this.lastCallAt + MIN_GET_RECORDS_INTERVAL_MS - Date.now();
    if (wait > 0) await sleep(wait, this.o.signal);
    if (this.o.signal.aborted) return { err: new Error('stopped') };
    this.lastCallAt = Date.now();
    try {
      return { out: await this.o.kinesis.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: this.o.maxRecordsPerCall }), { abortSignal: this.o.signal }) };
    } catch (err) {
      return { err };
    }
  }

  /**
   * Commits `records` (contiguous, starting right after the checkpoint). Retryable failures are
   * retried with backoff, as long as they last (the stall shows in health after
   * SHARD_STALL_UNHEALTHY_MS). A poison failure splits the records in two halves committed one after
   * the other, each in its own fenced transaction whose checkpoint ends at its last record, so the
   * checkpoint never passes a record that is neither stored nor dead-lettered, and a crash between
   * halves resumes after the last committed one (nothing lost, nothing twice). A single record that
   * keeps failing is dead-lettered as `unprocessable`.
   */
  private async write(records: readonly StreamRecord[], shardEnd: boolean): Promise<WriteResult> {
    for (let attempt = 0, poisonAttempts = 0; ; attempt++) {
      if (this.o.hardSignal?.aborted) return 'stopped';
      const started = Date.now();
      try {
        const outcome = await this.o.sink.writeBatch(this.target(shardEnd), records);
        this.committed(outcome, records, Date.now() - started);
        return 'ok';
      } catch (err) {
        const kind = classifyError(err);
        if (kind === 'lease-lost') return this.leaseLost();
        const range = { records: records.length, firstSequenceNumber: records[0]?.sequenceNumber, lastSequenceNumber: records[records.length - 1]?.sequenceNumber };
        if (kind === 'poison' && records.length > 1) {
          this.log.warn({ err: errorSummary(err), ...range }, 'batch rejected for a record\'s content; splitting it to isolate the record');
          this.o.metrics?.count('BatchSplits');
          const mid = Math.ceil(records.length / 2);
          const left = await this.write(records.slice(0, mid), false);
          if (left !== 'ok') return left;
          return this.write(records.slice(mid), shardEnd);
        }
        // One record: confirm once (a constraint race can look like poison), then dead-letter it.
        if (kind === 'poison' && ++poisonAttempts >= UNPROCESSABLE_ATTEMPTS) return this.deadLetter(records[0] as StreamRecord, err, shardEnd);
        this.failingSince ??= Date.now();
        this.o.metrics?.count('BatchRetries');
        const delay = backoffDelayMs(attempt);
        this.log.error({ err: errorSummary(err), kind, attempt, delayMs: delay, ...range }, 'batch write failed; retrying');
        await sleep(delay, this.o.hardSignal);
      }
    }
  }

  /** Dead-letters one record (reason `unprocessable`) with the checkpoint on it; retries until that commits. */
  private async deadLetter(record: StreamRecord, cause: unknown, shardEnd: boolean): Promise<WriteResult> {
    const errors = [{ field: '', message: rejectionDescription(cause) }];
    for (let attempt = 0; ; attempt++) {
      if (this.o.hardSignal?.aborted) return 'stopped';
      const started = Date.now();
      try {
        const outcome = await this.o.sink.writeUnprocessable(this.target(shardEnd), record, errors);
        this.committed(outcome, [record], Date.now() - started);
        this.o.metrics?.count('UnprocessableRecords');
        this.log.error(
          { sequenceNumber: record.sequenceNumber, reason: 'unprocessable', cause: errorSummary(cause) },
          'record dead-lettered: the database keeps rejecting it',
        );
        return 'ok';
      } catch (err) {
        if (classifyError(err) === 'lease-lost') return this.leaseLost();
        this.failingSince ??= Date.now();
        this.o.metrics?.count('BatchRetries');
        const delay = backoffDelayMs(attempt);
        this.log.error({ err: errorSummary(err), attempt, delayMs: delay, sequenceNumber: record.sequenceNumber }, 'dead-letter write failed; retrying');
        await sleep(delay, this.o.hardSignal);
      }
    }
  }

  private target(shardEnd: boolean): BatchTarget {
    return { streamName: this.o.streamName, shardId: this.o.shardId, owner: this.o.owner, epoch: this.o.epoch, shardEnd };
  }

  private leaseLost(): 'lease-lost' {
    this.log.warn('lease lost before commit; batch rolled back and shard dropped');
    this.o.metrics?.count('LeaseLosses');
    return 'lease-lost';
  }

  private committed(outcome: BatchOutcome, records: readonly StreamRecord[], latency: number): void {
    const committedAt = Date.now();
    this.failingSince = undefined;
    this.checkpoint = outcome.checkpoint ?? this.checkpoint;
    const m = this.o.metrics;
    if (m) {
      // Honest latency: from arrival in the stream to this commit (the processor's post-COMMIT clock), every record.
      for (const r of records) if (r.arrivedAt) m.commitLatencyMs(committedAt - r.arrivedAt.getTime());
      m.observe('BatchLatencyMs', latency);
      m.count('EventsProcessed', outcome.inserted);
      m.count('DuplicatesSkipped', outcome.duplicates);
      m.count('DeadLetters', outcome.deadLetters);
      m.count('AlertsRaised', outcome.alerts);
      m.count('ScoresWritten', outcome.scores);
    }
    this.log.debug(
      {
        records: outcome.records,
        inserted: outcome.inserted,
        duplicates: outcome.duplicates,
        deadLetters: outcome.deadLetters,
        firstSequenceNumber: records[0]?.sequenceNumber,
        checkpoint: this.checkpoint,
        latencyMs: latency,
      },
      'batch committed',
    );
    if (outcome.deadLetters > 0) {
      this.log.warn({ deadLetters: outcome.deadLetters, checkpoint: this.checkpoint }, 'records dead-lettered');
    }
  }

  /**
   * An iterator right after the checkpoint, or at TRIM_HORIZON without one. A checkpoint Kinesis
   * refuses as not belonging to this shard (InvalidArgumentException: the stream was deleted and
   * recreated under the same name, so the shard id is reused) is dropped and the shard read from
   * TRIM_HORIZON: records already stored are skipped by event id, so this re-reads but never
   * duplicates. A checkpoint merely older than the trim horizon is accepted by Kinesis (kinesalite
   * does the same: its GetRecords skips records past retention), so those records are lost unseen.
   */
  private async iteratorFromCheckpoint(): Promise<IteratorResult> {
    for (let attempt = 0; !this.o.signal.aborted; attempt++) {
      try {
        const out = await this.o.kinesis.send(
          new GetShardIteratorCommand(
            this.checkpoint
              ? { StreamName: this.o.streamName, ShardId: this.o.shardId, ShardIteratorType: 'AFTER_SEQUENCE_NUMBER', StartingSequenceNumber: this.checkpoint }
              : { StreamName: this.o.streamName, ShardId: this.o.shardId, ShardIteratorType: 'TRIM_HORIZON' },
          ),
        );
        this.failingSince = undefined;
        return { iterator: out.ShardIterator as string };
      } catch (err) {
        const name = (err as Error).name;
        if (name === 'ResourceNotFoundException') return this.shardGone('GetShardIterator', err);
        if (name === 'InvalidArgumentException' && this.checkpoint) {
          this.log.warn(
            { checkpoint: this.checkpoint, err: errorSummary(err) },
            'checkpoint refused by Kinesis (not from this shard: stream recreated?); reading the shard from TRIM_HORIZON, already stored events are skipped by event id',
          );
          this.o.metrics?.count('CheckpointsReset');
          this.checkpoint = null;
          continue;
        }
        if (!isRetryableAwsError(err)) throw err;
        this.failingSince ??= Date.now();
        const delay = backoffDelayMs(attempt);
        this.log.warn({ err: errorSummary(err), delayMs: delay }, 'GetShardIterator failed; backing off');
        await sleep(delay, this.o.signal);
      }
    }
    return { exit: 'stopped' };
  }

  private shardGone(call: string, err: unknown): { readonly exit: 'shard-gone' } {
    this.log.warn({ call, checkpoint: this.checkpoint, err: errorSummary(err) }, 'shard not found in the stream; leaving it to the next shard sync');
    return { exit: 'shard-gone' };
  }
}
