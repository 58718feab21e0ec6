import { GetRecordsCommand, GetShardIteratorCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import { LeaseLostError } from '../../src/processor/leases';
import { createLogger } from '../../src/adapters/logger';
import type { Metrics } from '../../src/processor/metrics';
import { ShardReader, UNPROCESSABLE_ATTEMPTS, type BatchSink } from '../../src/processor/shard-reader';
import type { BatchTarget, StreamRecord } from '../../src/processor/writer';
import type { FieldError } from '../../src/schema';

const logger = createLogger({ level: 'silent' });

function awsError(name: string): Error {
  const e = new Error(name);
  e.name = name;
  return e;
}

type Step = { records?: string[]; next?: string | null; error?: string };

/** A scripted Kinesis: GetRecords answers from `steps` in order, GetShardIterator fails with `iteratorErrors` first; every call is recorded. */
function fakeKinesis(steps: Step[], iteratorErrors: string[] = []): { client: KinesisClient; calls: { op: string; input: Record<string, unknown> }[] } {
  const calls: { op: string; input: Record<string, unknown> }[] = [];
  let seq = 0;
  const client = {
    send: async (command: unknown) => {
      if (command instanceof GetShardIteratorCommand) {
        calls.push({ op: 'GetShardIterator', input: { ...command.input } });
        const error = iteratorErrors.shift();
        if (error) throw awsError(error);
        return { ShardIterator: `it-${calls.length}` };
      }
      if (command instanceof GetRecordsCommand) {
        calls.push({ op: 'GetRecords', input: { ...command.input } });
        const step = steps.shift() ?? { records: [], next: null };
        if (step.error) throw awsError(step.error);
        return {
          Records: (step.records ?? []).map((d) => ({ Data: Buffer.from(d), SequenceNumber: String(++seq), ApproximateArrivalTimestamp: new Date() })),
          NextShardIterator: step.next === null ? undefined : (step.next ?? 'it-next'),
          MillisBehindLatest: 0,
        };
      }
      throw new Error('unexpected command');
    },
  } as unknown as KinesisClient;
  return { client, calls };
}

interface Commit {
  readonly target: BatchTarget;
  readonly records: readonly StreamRecord[];
  readonly unprocessable?: readonly FieldError[];
}

/** Records what each committed transaction held; `fail` may reject a call (by call number or by its records). */
function recordingSink(
  fail?: (n: number, records: readonly StreamRecord[]) => Error | undefined,
): BatchSink & { batches: Commit[]; calls: number } {
  const batches: Commit[] = [];
  const sink = {
    batches,
    calls: 0,
    writeBatch: async (target: BatchTarget, records: readonly StreamRecord[]) => {
      const err = fail?.(sink.calls++, records);
      if (err) throw err;
      batches.push({ target, records });
      const checkpoint = records.length ? (records[records.length - 1] as StreamRecord).sequenceNumber : null;
      return { records: records.length, inserted: records.length, duplicates: 0, deadLetters: 0, scores: 0, alerts: 0, checkpoint };
    },
    writeUnprocessable: async (target: BatchTarget, record: StreamRecord, errors: readonly FieldError[]) => {
      batches.push({ target, records: [record], unprocessable: errors });
      return { records: 1, inserted: 0, duplicates: 0, deadLetters: 1, scores: 0, alerts: 0, checkpoint: record.sequenceNumber };
    },
  };
  return sink;
}

function reader(client: KinesisClient, sink: BatchSink, checkpoint: string | null = null): ShardReader {
  return new ShardReader({
    kinesis: client,
    sink,
    streamName: 's',
    shardId: 'shardId-000000000000',
    owner: 'me',
    epoch: 3,
    checkpoint,
    logger,
    idlePollMs: 200,
    maxRecordsPerCall: 10_000,
    signal: new AbortController().signal,
  });
}

test('a closed shard is read to its end and the last batch marks it finished', async () => {
  const { client } = fakeKinesis([{ records: ['a', 'b'] }, { records: ['c'], next: null }]);
  const sink = recordingSink();
  expect(await reader(client, sink).run()).toBe('finished');
  expect(sink.batches.map((b) => b.records.length)).toEqual([2, 1]);
  expect(sink.batches.map((b) => b.target.shardEnd)).toEqual([false, true]);
  expect(sink.batches[0]?.target.epoch).toBe(3);
});

test('reading starts after the checkpoint, or at the trim horizon without one', async () => {
  const a = fakeKinesis([{ records: [], next: null }]);
  await reader(a.client, recordingSink(), '42').run();
  expect(a.calls[0]?.input).toMatchObject({ ShardIteratorType: 'AFTER_SEQUENCE_NUMBER', StartingSequenceNumber: '42' });
  const b = fakeKinesis([{ records: [], next: null }]);
  await reader(b.client, recordingSink()).run();
  expect(b.calls[0]?.input).toMatchObject({ ShardIteratorType: 'TRIM_HORIZON' });
});

test('GetRecords asks for at most 10,000 records', async () => {
  const { client, calls } = fakeKinesis([{ records: [], next: null }]);
  await reader(client, recordingSink()).run();
  expect(calls.find((c) => c.op === 'GetRecords')?.input.Limit).toBe(10_000);
});

test('throughput exceeded is retried after a backoff, losing nothing', async () => {
  const { client } = fakeKinesis([{ error: 'ProvisionedThroughputExceededException' }, { records: ['a'], next: null }]);
  const sink = recordingSink();
  expect(await reader(client, sink).run()).toBe('finished');
  expect(sink.batches).toHaveLength(1);
});

test('an expired iterator is re-acquired from the last committed checkpoint', async () => {
  const { client, calls } = fakeKinesis([{ records: ['a', 'b'] }, { error: 'ExpiredIteratorException' }, { records: [], next: null }]);
  await reader(client, recordingSink()).run();
  const iterators = calls.filter((c) => c.op === 'GetShardIterator');
  expect(iterators).toHaveLength(2);
  expect(iterators[1]?.input).toMatchObject({ ShardIteratorType: 'AFTER_SEQUENCE_NUMBER', StartingSequenceNumber: '2' });
});

test('calls on one shard are spaced at least 200 ms apart (5 per second)', async () => {
  const { client } = fakeKinesis([{ records: ['a'] }, { records: ['b'] }, { records: ['c'], next: null }]);
  const started = Date.now();
  await reader(client, recordingSink()).run();
  expect(Date.now() - started).toBeGreaterThanOrEqual(400);
});

test('a failed write is retried with the same records', async () => {
  const { client } = fakeKinesis([{ records: ['a', 'b'], next: null }]);
  const sink = recordingSink((n) => (n === 0 ? Object.assign(new Error('deadlock detected'), { code: '40P01' }) : undefined));
  expect(await reader(client, sink).run()).toBe('finished');
  expect(sink.batches).toHaveLength(1);
  expect(sink.batches[0]?.records.map((r) => Buffer.from(r.data).toString())).toEqual(['a', 'b']);
});

test('a lost lease stops the reader without retrying the batch', async () => {
  const { client } = fakeKinesis([{ records: ['a'] }, { records: ['b'] }]);
  const sink = recordingSink(() => new LeaseLostError('shardId-000000000000'));
  expect(await reader(client, sink).run()).toBe('lease-lost');
});

test('a non-retryable Kinesis error is raised to the caller', async () => {
  const { client } = fakeKinesis([{ error: 'AccessDeniedException' }]);
  await expect(reader(client, recordingSink()).run()).rejects.toThrow('AccessDeniedException');
});

test('a shard Kinesis no longer has (trimmed past retention) ends the reader as shard-gone, from GetShardIterator or GetRecords', async () => {
  const a = fakeKinesis([], ['ResourceNotFoundException']);
  const sinkA = recordingSink();
  expect(await reader(a.client, sinkA, '42').run()).toBe('shard-gone');
  expect(a.calls.map((c) => c.op)).toEqual(['GetShardIterator']);
  const b = fakeKinesis([{ error: 'ResourceNotFoundException' }]);
  const sinkB = recordingSink();
  expect(await reader(b.client, sinkB, '42').run()).toBe('shard-gone');
  expect([...sinkA.batches, ...sinkB.batches]).toEqual([]); // nothing committed: the lease is left to the shard sync
});

test('a checkpoint Kinesis refuses as not from this shard (stream recreated) is dropped: the shard is read from the trim horizon and counted', async () => {
  const { client, calls } = fakeKinesis([{ records: ['a'], next: null }], ['InvalidArgumentException']);
  const counted: string[] = [];
  const metrics = { count: (name: string) => counted.push(name), observe: () => undefined, commitLatencyMs: () => undefined } as unknown as Metrics;
  const sink = recordingSink();
  const r = new ShardReader({
    kinesis: client, sink, streamName: 's', shardId: 'shardId-000000000000', owner: 'me', epoch: 3, checkpoint: '42',
    logger, metrics, idlePollMs: 200, maxRecordsPerCall: 10_000, signal: new AbortController().signal,
  });
  expect(await r.run()).toBe('finished');
  const iterators = calls.filter((c) => c.op === 'GetShardIterator').map((c) => c.input);
  expect(iterators[0]).toMatchObject({ ShardIteratorType: 'AFTER_SEQUENCE_NUMBER', StartingSequenceNumber: '42' });
  expect(iterators[1]).toMatchObject({ ShardIteratorType: 'TRIM_HORIZON' });
  expect(iterators[1]).not.toHaveProperty('StartingSequenceNumber');
  expect(counted).toContain('CheckpointsReset');
  expect(sink.batches.map((b) => b.records.length)).toEqual([1]);
});

test('an invalid argument without a checkpoint is raised, not retried from the trim horizon forever', async () => {
  const { client } = fakeKinesis([], ['InvalidArgumentException']);
  await expect(reader(client, recordingSink()).run()).rejects.toThrow('InvalidArgumentException');
});

/** An error shaped like pg's DatabaseError. */
function pgError(code: string, message = `database error ${code}`): Error {
  return Object.assign(new Error(message), { code, severity: 'ERROR' });
}

const text = (r: StreamRecord): string => Buffer.from(r.data).toString();
const stored = (sink: { batches: Commit[] }): string[] => sink.batches.filter((b) => !b.unprocessable).flatMap((b) => b.records.map(text));

test('a record the database rejects is isolated by splitting the batch, and only it is dead-lettered', async () => {
  const { client } = fakeKinesis([{ records: ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'], next: null }]);
  const sink = recordingSink((_, records) => (records.some((r) => text(r) === 'f') ? pgError('23514') : undefined));
  expect(await reader(client, sink).run()).toBe('finished');
  expect(stored(sink)).toEqual(['a', 'b', 'c', 'd', 'e', 'g', 'h']);
  const dead = sink.batches.filter((b) => b.unprocessable);
  expect(dead.map((b) => b.records.map(text))).toEqual([['f']]);
  expect(dead[0]?.unprocessable).toEqual([{ field: '', message: 'rejected by the database: SQLSTATE 23514' }]);
});

test('the commits of a split batch follow one another, so the checkpoint never skips a record', async () => {
  const { client } = fakeKinesis([{ records: ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j'], next: null }]);
  const sink = recordingSink((_, records) => (records.some((r) => ['c', 'h'].includes(text(r))) ? pgError('22P02') : undefined));
  await reader(client, sink).run();
  // In commit order, every transaction starts right after the previous one's last record.
  const sequence = sink.batches.flatMap((b) => b.records.map((r) => Number(r.sequenceNumber)));
  expect(sequence).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  expect(sink.batches.filter((b) => b.unprocessable).flatMap((b) => b.records.map(text))).toEqual(['c', 'h']);
});

test('only the last piece of a split batch at the end of a closed shard marks the shard finished', async () => {
  const { client } = fakeKinesis([{ records: ['a', 'b', 'c', 'd', 'e'], next: null }]);
  const sink = recordingSink((_, records) => (records.some((r) => text(r) === 'b') ? pgError('23502') : undefined));
  expect(await reader(client, sink).run()).toBe('finished');
  const flags = sink.batches.map((b) => b.target.shardEnd);
  expect(flags[flags.length - 1]).toBe(true);
  expect(flags.slice(0, -1).every((f) => !f)).toBe(true);
});

test('a single rejected record is tried again before it is dead-lettered', async () => {
  const { client } = fakeKinesis([{ records: ['a'], next: null }]);
  const sink = recordingSink(() => pgError('P0001'));
  await reader(client, sink).run();
  expect(sink.calls).toBe(UNPROCESSABLE_ATTEMPTS);
  expect(sink.batches.map((b) => !!b.unprocessable)).toEqual([true]);
});

test('a rejection that does not repeat stores the record instead of dead-lettering it', async () => {
  const { client } = fakeKinesis([{ records: ['a', 'b'], next: null }]);
  const sink = recordingSink((n) => (n === 0 || n === 1 ? pgError('23505') : undefined)); // batch, then 'a' once
  await reader(client, sink).run();
  expect(stored(sink)).toEqual(['a', 'b']);
  expect(sink.batches.some((b) => b.unprocessable)).toBe(false);
});

test('transient database errors are retried as long as they last and never dead-letter anything', async () => {
  const { client } = fakeKinesis([{ records: ['a', 'b', 'c'], next: null }]);
  const codes = ['40001', '40P01', '08006', '57014', '53300'];
  const sink = recordingSink((n) => (n < codes.length ? pgError(codes[n] as string) : undefined));
  expect(await reader(client, sink).run()).toBe('finished');
  expect(sink.calls).toBe(codes.length + 1);
  expect(sink.batches).toHaveLength(1);
  expect(stored(sink)).toEqual(['a', 'b', 'c']);
});

test('a shard failing on retries reports how long it has been stalled, and 0 once a batch commits', async () => {
  const { client } = fakeKinesis([{ records: ['a'], next: null }]);
  let databaseDown = true;
  const sink = recordingSink(() => (databaseDown ? Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) : undefined));
  const r = reader(client, sink);
  expect(r.stalledForMs()).toBe(0);
  const running = r.run();
  await new Promise((resolve) => setTimeout(resolve, 700));
  expect(r.stalledForMs()).toBeGreaterThanOrEqual(500);
  databaseDown = false;
  expect(await running).toBe('finished');
  expect(r.stalledForMs()).toBe(0);
  expect(sink.batches.some((b) => b.unprocessable)).toBe(false);
});

test('a lease lost while a batch is being split stops the reader without dead-lettering', async () => {
  const { client } = fakeKinesis([{ records: ['a', 'b', 'c', 'd'], next: null }]);
  const sink = recordingSink((n) => (n === 0 ? pgError('23514') : new LeaseLostError('shardId-000000000000')));
  expect(await reader(client, sink).run()).toBe('lease-lost');
  expect(sink.batches).toEqual([]);
});

test('every committed record is counted in the event-to-commit latency, from its arrival in the stream', async () => {
  const { client } = fakeKinesis([{ records: ['a', 'b'] }, { records: ['c'], next: null }]);
  const latencies: number[] = [];
  const metrics = { count: () => undefined, observe: () => undefined, commitLatencyMs: (ms: number) => latencies.push(ms) } as unknown as Metrics;
  const r = new ShardReader({
    kinesis: client, sink: recordingSink(), streamName: 's', shardId: 'shardId-000000000000', owner: 'me', epoch: 3, checkpoint: null,
    logger, metrics, idlePollMs: 200, maxRecordsPerCall: 10_000, signal: new AbortController().signal,
  });
  expect(await r.run()).toBe('finished');
  expect(latencies).toHaveLength(3);
  for (const ms of latencies) expect(ms).toBeGreaterThanOrEqual(0);
});

test('the next GetRecords is already on its way while a batch commits, no sooner than 200 ms after the previous call', async () => {
  const { client, calls } = fakeKinesis([{ records: ['a'] }, { records: ['b'] }, { records: ['c'], next: null }]);
  const callsDuringWrite: number[] = [];
  const sink = recordingSink();
  const slowSink = {
    ...sink,
    writeBatch: async (target: BatchTarget, records: readonly StreamRecord[]) => {
      await new Promise((res) => setTimeout(res, 300)); // a commit longer than the call spacing
      callsDuringWrite.push(calls.filter((c) => c.op === 'GetRecords').length);
      return sink.writeBatch(target, records);
    },
  };
  const started = Date.now();
  expect(await reader(client, slowSink).run()).toBe('finished');
  // While batch 1 committed, GetRecords #2 had been sent; while batch 2 committed, #3.
  expect(callsDuringWrite.slice(0, 2)).toEqual([2, 3]);
  expect(sink.batches.map((b) => b.records.map(text).join(''))).toEqual(['a', 'b', 'c']);
  expect(Date.now() - started).toBeGreaterThanOrEqual(400); // three calls, 200 ms apart at least
});
