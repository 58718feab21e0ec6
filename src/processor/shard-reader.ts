/**
 * Reads one leased shard: GetShardIterator after the checkpoint (or from TRIM_HORIZON), then a
 * GetRecords loop within Kinesis limits (at most 5 calls/s/shard, up to 10,000 records per call,
 * idle sleep when empty), handing each batch to the writer. Throttling and transient errors back off
 * with jitter; an expired iterator is re-acquired from the last checkpoint; losing the lease stops
 * the reader. The shard is finished when GetRecords returns no NextShardIterator (a closed shard
 * drained to its end), which the writer records in the lease with the last batch.
 */
import { GetRecordsCommand, GetShardIteratorCommand, type GetRecordsCommandOutput, type KinesisClient } from '@aws-sdk/client-kinesis';
import { backoffDelayMs, isRetryableAwsError, sleep } from './backoff';
import { LeaseLostError } from './leases';
import type { Logger } from './logger';
import { errorSummary } from './logger';
import type { Metrics } from './metrics';
import type { BatchOutcome, BatchTarget, StreamRecord } from './writer';

/** Kinesis allows 5 GetRecords calls per second per shard. */
export const MIN_GET_RECORDS_INTERVAL_MS = 200;

export type ReaderExit = 'finished' | 'lease-lost' | 'stopped';

export interface BatchSink {
  writeBatch(target: BatchTarget, records: readonly StreamRecord[]): Promise<BatchOutcome>;
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

  constructor(private readonly o: ShardReaderOptions) {
    this.checkpoint = o.checkpoint;
    this.log = o.logger.child({ shardId: o.shardId, epoch: o.epoch });
  }

  async run(): Promise<ReaderExit> {
    let iterator = await this.iteratorFromCheckpoint();
    if (iterator === undefined) return 'stopped';
    let lastCall = 0;
    let failures = 0;
    while (!this.o.signal.aborted) {
      const wait = lastCall + MIN_GET_RECORDS_INTERVAL_MS - Date.now();
      if (wait > 0) await sleep(wait, this.o.signal);
      if (this.o.signal.aborted) break;
      lastCall = Date.now();
      let out: GetRecordsCommandOutput;
      try {
        out = await this.o.kinesis.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: this.o.maxRecordsPerCall }), {
          abortSignal: this.o.signal,
        });
        failures = 0;
      } catch (err) {
        if (this.o.signal.aborted) break;
        if ((err as Error).name === 'ExpiredIteratorException') {
          this.log.info({ checkpoint: this.checkpoint }, 'shard iterator expired; re-acquiring from the checkpoint');
          const again = await this.iteratorFromCheckpoint();
          if (again === undefined) break;
          iterator = again;
          continue;
        }
        if (!isRetryableAwsError(err)) throw err;
        const delay = backoffDelayMs(failures++);
        this.log.warn({ err: errorSummary(err), delayMs: delay }, 'GetRecords failed; backing off');
        await sleep(delay, this.o.signal);
        continue;
      }
      const records: StreamRecord[] = (out.Records ?? []).map((r) => ({
        data: r.Data ?? new Uint8Array(),
        sequenceNumber: r.SequenceNumber as string,
        arrivedAt: r.ApproximateArrivalTimestamp,
      }));
      if (out.MillisBehindLatest !== undefined) this.o.metrics?.observe('MillisBehindLatest', out.MillisBehindLatest);
      const shardEnd = !out.NextShardIterator;
      if (records.length > 0 || shardEnd) {
        const result = await this.write(records, shardEnd);
        if (result !== 'ok') return result;
      }
      if (shardEnd) {
        this.log.info({ checkpoint: this.checkpoint }, 'shard finished (closed and drained)');
        return 'finished';
      }
      iterator = out.NextShardIterator as string;
      if (records.length === 0) await sleep(this.o.idlePollMs, this.o.signal);
    }
    return 'stopped';
  }

  /** Writes one batch, retrying transient failures (deadlocks, connection loss) with backoff. */
  private async write(records: StreamRecord[], shardEnd: boolean): Promise<'ok' | 'lease-lost' | 'stopped'> {
    const target: BatchTarget = { streamName: this.o.streamName, shardId: this.o.shardId, owner: this.o.owner, epoch: this.o.epoch, shardEnd };
    for (let attempt = 0; ; attempt++) {
      if (this.o.hardSignal?.aborted) return 'stopped';
      const started = Date.now();
      try {
        const outcome = await this.o.sink.writeBatch(target, records);
        const latency = Date.now() - started;
        this.checkpoint = outcome.checkpoint ?? this.checkpoint;
        const m = this.o.metrics;
        if (m) {
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
        return 'ok';
      } catch (err) {
        if (err instanceof LeaseLostError) {
          this.log.warn('lease lost before commit; batch rolled back and shard dropped');
          this.o.metrics?.count('LeaseLosses');
          return 'lease-lost';
        }
        const delay = backoffDelayMs(attempt);
        this.log.error(
          { err: errorSummary(err), attempt, delayMs: delay, firstSequenceNumber: records[0]?.sequenceNumber },
          'batch write failed; retrying',
        );
        await sleep(delay, this.o.hardSignal);
      }
    }
  }

  private async iteratorFromCheckpoint(): Promise<string | undefined> {
    for (let attempt = 0; !this.o.signal.aborted; attempt++) {
      try {
        const out = await this.o.kinesis.send(
          new GetShardIteratorCommand(
            this.checkpoint
              ? { StreamName: this.o.streamName, ShardId: this.o.shardId, ShardIteratorType: 'AFTER_SEQUENCE_NUMBER', StartingSequenceNumber: this.checkpoint }
              : { StreamName: this.o.streamName, ShardId: this.o.shardId, ShardIteratorType: 'TRIM_HORIZON' },
          ),
        );
        return out.ShardIterator as string;
      } catch (err) {
        if (!isRetryableAwsError(err)) throw err;
        const delay = backoffDelayMs(attempt);
        this.log.warn({ err: errorSummary(err), delayMs: delay }, 'GetShardIterator failed; backing off');
        await sleep(delay, this.o.signal);
      }
    }
    return undefined;
  }
}
