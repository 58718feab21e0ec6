import { GetRecordsCommand, GetShardIteratorCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import { LeaseLostError } from '../../src/processor/leases';
import { createLogger } from '../../src/processor/logger';
import { ShardReader, type BatchSink } from '../../src/processor/shard-reader';
import type { BatchTarget, StreamRecord } from '../../src/processor/writer';

const logger = createLogger({ level: 'silent' });

function awsError(name: string): Error {
  const e = new Error(name);
  e.name = name;
  return e;
}

type Step = { records?: string[]; next?: string | null; error?: string };

/** A scripted Kinesis: GetRecords answers from `steps` in order; every call is recorded. */
function fakeKinesis(steps: Step[]): { client: KinesisClient; calls: { op: string; input: Record<string, unknown> }[] } {
  const calls: { op: string; input: Record<string, unknown> }[] = [];
  let seq = 0;
  const client = {
    send: async (command: unknown) => {
      if (command instanceof GetShardIteratorCommand) {
        calls.push({ op: 'GetShardIterator', input: { ...command.input } });
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

function recordingSink(fail?: (n: number) => Error | undefined): BatchSink & { batches: { target: BatchTarget; records: readonly StreamRecord[] }[] } {
  const batches: { target: BatchTarget; records: readonly StreamRecord[] }[] = [];
  let n = 0;
  return {
    batches,
    writeBatch: async (target, records) => {
      const err = fail?.(n++);
      if (err) throw err;
      batches.push({ target, records });
      const checkpoint = records.length ? (records[records.length - 1] as StreamRecord).sequenceNumber : null;
      return { records: records.length, inserted: records.length, duplicates: 0, deadLetters: 0, scores: 0, alerts: 0, checkpoint };
    },
  };
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
  const { client } = fakeKinesis([{ error: 'ResourceNotFoundException' }]);
  await expect(reader(client, recordingSink()).run()).rejects.toThrow('ResourceNotFoundException');
});
