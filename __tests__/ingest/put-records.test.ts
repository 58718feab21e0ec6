import type { KinesisClient, PutRecordsCommand, PutRecordsResultEntry } from '@aws-sdk/client-kinesis';
import { putEvents, recordFor } from '../../src/ingest/put-records';
import type { DeviceEvent } from '../../src/schema';

function ev(i: number): DeviceEvent {
  return {
    schemaVersion: 1, eventId: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`, deviceId: `mon-${i % 3}`,
    patientId: `MRN-${i}`, facilityId: 'f1', observedAt: '2026-03-01T10:00:00Z', vitals: { pulse: { value: 60 + i, unit: 'bpm' } },
  };
}

/**
 * A Kinesis client double: each call's entries are answered by `decide(eventId, attempt)`, which returns
 * an error code or null for success. It records the event ids of every call.
 */
function fakeKinesis(decide: (eventId: string, call: number) => string | null | 'throw') {
  const calls: string[][] = [];
  const client = {
    send: async (cmd: PutRecordsCommand) => {
      const ids = (cmd.input.Records ?? []).map((r) => (JSON.parse(Buffer.from(r.Data as Uint8Array).toString('utf8')) as DeviceEvent).eventId);
      calls.push(ids);
      const call = calls.length;
      if (ids.some((id) => decide(id, call) === 'throw')) {
        throw Object.assign(new Error('boom'), { name: 'InternalFailure' });
      }
      const Records: PutRecordsResultEntry[] = ids.map((id, k) => {
        const code = decide(id, call);
        return code ? { ErrorCode: code, ErrorMessage: 'x' } : { SequenceNumber: `${call}-${k}`, ShardId: 'shardId-0' };
      });
      return { FailedRecordCount: Records.filter((r) => r.ErrorCode).length, Records };
    },
  };
  return { client: client as unknown as KinesisClient, calls };
}

const noSleep = { sleep: async () => undefined };
const idsOf = (events: DeviceEvent[], idx: number[]) => idx.map((i) => events[i].eventId);

describe('putEvents', () => {
  it('writes one record per event, in order, keyed by device id, with the event JSON as data', () => {
    const e = ev(7);
    const entry = recordFor(e);
    expect(entry.PartitionKey).toBe('mon-1');
    expect(JSON.parse(Buffer.from(entry.Data as Uint8Array).toString('utf8'))).toEqual(e);
  });

  it('writes a batch in one call when every entry succeeds', async () => {
    const events = [0, 1, 2, 3].map(ev);
    const { client, calls } = fakeKinesis(() => null);
    expect(await putEvents(client, 's', events, noSleep)).toEqual({ accepted: 4, failed: [], attempts: 1 });
    expect(calls).toEqual([idsOf(events, [0, 1, 2, 3])]);
  });

  it('retries only the failed entries, keeping their order', async () => {
    const events = [0, 1, 2, 3, 4].map(ev);
    const failFirst = new Set(idsOf(events, [1, 3, 4]));
    const { client, calls } = fakeKinesis((id, call) => (call === 1 && failFirst.has(id) ? 'ProvisionedThroughputExceededException' : null));
    const r = await putEvents(client, 's', events, noSleep);
    expect(r).toEqual({ accepted: 5, failed: [], attempts: 2 });
    expect(calls[1]).toEqual(idsOf(events, [1, 3, 4]));
  });

  it('gives up after the configured attempts and reports what failed', async () => {
    const events = [0, 1, 2].map(ev);
    const stuck = events[2].eventId;
    const { client, calls } = fakeKinesis((id) => (id === stuck ? 'InternalFailure' : null));
    const r = await putEvents(client, 's', events, { ...noSleep, maxAttempts: 3 });
    expect(r).toEqual({ accepted: 2, failed: [{ index: 2, errorCode: 'InternalFailure' }], attempts: 3 });
    expect(calls).toHaveLength(3);
  });

  it('treats a call that throws as a failure of every pending entry and retries it', async () => {
    const events = [0, 1].map(ev);
    const { client, calls } = fakeKinesis((_id, call) => (call === 1 ? 'throw' : null));
    expect(await putEvents(client, 's', events, noSleep)).toEqual({ accepted: 2, failed: [], attempts: 2 });
    expect(calls).toHaveLength(2);
  });

  it('reports every event failed when all attempts throw', async () => {
    const { client } = fakeKinesis(() => 'throw');
    const r = await putEvents(client, 's', [0, 1, 2].map(ev), { ...noSleep, maxAttempts: 2 });
    expect(r).toEqual({
      accepted: 0, failed: [0, 1, 2].map((index) => ({ index, errorCode: 'InternalFailure' })), attempts: 2,
    });
  });

  it('backs off between attempts within the policy cap', async () => {
    const waits: number[] = [];
    const { client } = fakeKinesis(() => 'InternalFailure');
    await putEvents(client, 's', [ev(0)], { maxAttempts: 4, backoff: { baseMs: 100, maxMs: 250 }, sleep: async (ms) => { waits.push(ms); } });
    expect(waits).toHaveLength(3);
    waits.forEach((w, i) => {
      expect(w).toBeGreaterThanOrEqual(0);
      expect(w).toBeLessThanOrEqual(Math.min(250, 100 * 2 ** i));
    });
  });
});
