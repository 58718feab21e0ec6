import type { PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { KinesisRecordWriter, MAX_RECORDS_PER_CALL } from '../../src/hl7/record-writer';
import type { PreparedRecord } from '../../src/hl7/prepare';

const rec = (i: number, bytes = 100): PreparedRecord => ({ eventId: `e${i}`, partitionKey: `dev-${i % 7}`, data: Buffer.alloc(bytes, 0x61) });

/** A fake Kinesis answering each entry by `answer(data, callIndex)`: undefined = accepted, else an error code. */
function fakeKinesis(answer: (data: Buffer, call: number) => string | undefined) {
  const calls: number[] = [];
  return {
    calls,
    send: async (cmd: PutRecordsCommand) => {
      const records = cmd.input.Records ?? [];
      const call = calls.length;
      calls.push(records.length);
      return {
        Records: records.map((r, i) => {
          const code = answer(Buffer.from(r.Data as Uint8Array), call);
          return code ? { ErrorCode: code, ErrorMessage: 'x' } : { SequenceNumber: `${call}-${i}`, ShardId: 'shardId-000000000000' };
        }),
      };
    },
  };
}

test('records of concurrent messages are coalesced into calls of at most 500 records', async () => {
  const k = fakeKinesis(() => undefined);
  const w = new KinesisRecordWriter({ kinesis: k as never, streamName: 's', lingerMs: 5, maxConcurrentCalls: 1 });
  const results = await Promise.all(Array.from({ length: 300 }, (_, i) => w.put([rec(2 * i), rec(2 * i + 1)])));
  expect(results.every((r) => r.ok)).toBe(true);
  expect(k.calls.reduce((a, b) => a + b, 0)).toBe(600);
  expect(Math.max(...k.calls)).toBeLessThanOrEqual(MAX_RECORDS_PER_CALL);
  expect(k.calls.length).toBeLessThan(10);
});

test('a call never exceeds 5 MiB', async () => {
  const k = fakeKinesis(() => undefined);
  const w = new KinesisRecordWriter({ kinesis: k as never, streamName: 's', lingerMs: 5, maxConcurrentCalls: 1 });
  await Promise.all(Array.from({ length: 12 }, (_, i) => w.put([rec(i, 900_000)])));
  expect(k.calls.every((n) => n * 900_000 <= 5 * 1024 * 1024)).toBe(true);
  expect(k.calls.reduce((a, b) => a + b, 0)).toBe(12);
});

test('entries Kinesis refuses are retried alone until accepted', async () => {
  let refusals = 0;
  const k = fakeKinesis((_d, call) => (call < 2 && refusals++ < 3 ? 'ProvisionedThroughputExceededException' : undefined));
  const w = new KinesisRecordWriter({ kinesis: k as never, streamName: 's', backoff: { baseMs: 1, maxMs: 5 } });
  const r = await w.put([rec(1), rec(2), rec(3), rec(4)]);
  expect(r).toMatchObject({ ok: true });
  expect(k.calls[0]).toBe(4);
  expect(k.calls.slice(1).reduce((a, b) => a + b, 0)).toBe(3);
});

test('a message whose records are still refused at its deadline fails with the error codes', async () => {
  const k = fakeKinesis(() => 'InternalFailure');
  const w = new KinesisRecordWriter({ kinesis: k as never, streamName: 's', deadlineMs: 200, backoff: { baseMs: 10, maxMs: 20 } });
  const r = await w.put([rec(1)]);
  expect(r).toMatchObject({ ok: false, errorCodes: ['InternalFailure'] });
  expect(k.calls.length).toBeGreaterThan(1);
  await w.drain();
});

test('one refused record fails its whole message, and only that message', async () => {
  const k = fakeKinesis((d) => (d.length === 101 ? 'InternalFailure' : undefined));
  const w = new KinesisRecordWriter({ kinesis: k as never, streamName: 's', deadlineMs: 100, backoff: { baseMs: 5, maxMs: 10 } });
  const [bad, good] = await Promise.all([w.put([rec(1), rec(2, 101)]), w.put([rec(3)])]);
  expect(bad?.ok).toBe(false);
  expect(good?.ok).toBe(true);
});

test('a call that throws fails every entry of it, which are retried', async () => {
  let n = 0;
  const w = new KinesisRecordWriter({
    kinesis: {
      send: async (cmd: PutRecordsCommand) => {
        if (n++ === 0) throw Object.assign(new Error('socket hang up'), { name: 'TimeoutError' });
        return { Records: (cmd.input.Records ?? []).map(() => ({ SequenceNumber: '1', ShardId: 's' })) };
      },
    } as never,
    streamName: 's',
    backoff: { baseMs: 1, maxMs: 2 },
  });
  expect(await w.put([rec(1), rec(2)])).toMatchObject({ ok: true, attempts: 2 });
});
