/**
 * Integration: a parent shard trimmed from the stream (past retention) while its lease was still
 * unfinished must not stall its children forever (kinesalite + PostgreSQL, started by this file).
 *
 * How the trim is simulated, honestly: kinesalite never drops a shard from ListShards (retention is
 * at least 24 h and it keeps closed shards listed), so the stream here is real and really resharded
 * (SplitShard: the children report the parent in ParentShardId, as on AWS), and only the second
 * processor's Kinesis client gets a middleware that makes the parent behave as AWS does once a closed
 * shard's data is past retention: ListShards no longer lists it, and GetShardIterator on it answers
 * ResourceNotFoundException. The records put into the parent after the first processor
 * stopped are what retention "lost": they must not be stored, and operators must be told.
 */
import { randomUUID } from 'node:crypto';
import { DeleteStreamCommand, DescribeStreamSummaryCommand, ListShardsCommand, ResourceNotFoundException, SplitShardCommand, type KinesisClient, type ListShardsCommandOutput } from '@aws-sdk/client-kinesis';
import type { Pool } from 'pg';
import { startProcessor, type RunningProcessor } from './support/in-process';
import { adminPool, count, createStream, eventRecord, makeEvent, makePatientId, newDatabase, putRecords, waitFor, type TestStack } from './support/stack';
import { useIntegrationStack } from './support/lifecycle';

const PARENT = 'shardId-000000000000';

let stack: TestStack;
const logLines: string[] = [];
const patientIds: string[] = [];
const running: RunningProcessor[] = [];
const pools: Pool[] = [];

/** What AWS shows once `shardId`'s data is all past retention: the shard is gone. */
function hideTrimmedShard(shardId: string): (client: KinesisClient) => void {
  return (client) => {
    client.middlewareStack.add(
      (next, context) => async (args) => {
        // No iterator on the shard is ever issued through this client, so GetRecords needs no rule.
        if (context.commandName === 'GetShardIteratorCommand' && (args.input as { ShardId?: string }).ShardId === shardId) {
          throw new ResourceNotFoundException({ message: `Shard ${shardId} does not exist`, $metadata: { httpStatusCode: 400 } });
        }
        const result = await next(args);
        if (context.commandName === 'ListShardsCommand') {
          const out = result.output as ListShardsCommandOutput;
          out.Shards = (out.Shards ?? []).filter((s) => s.ShardId !== shardId);
        }
        return result;
      },
      { step: 'initialize', name: 'simulateTrimmedShard' },
    );
  };
}

useIntegrationStack({ onStack: (s) => (stack = s), stack: () => stack, running, pools }, 60_000);

test('an unfinished parent lease whose shard was trimmed from the stream is finished as expired, and its children are read', async () => {
  const database = await newDatabase(stack);
  const stream = `vitals-${randomUUID().slice(0, 8)}`;
  await createStream(stack.kinesis, stream, 1);
  const db = adminPool(stack, database);
  pools.push(db);
  const patients = Array.from({ length: 5 }, () => {
    const id = makePatientId();
    patientIds.push(id);
    return id;
  });
  const batch = (n: number): Record<string, unknown>[] => Array.from({ length: n }, (_, i) => makeEvent({ patientId: patients[i % 5], deviceId: `m-${i % 20}` }));

  // A processor reads part of the parent, then all processors are down (graceful stop: lease released, unfinished).
  await putRecords(stack.kinesis, stream, batch(300).map(eventRecord));
  const first = startProcessor(stack, database, stream, 'worker-a', logLines);
  running.push(first);
  await waitFor(async () => (await count(db, 'SELECT count(*) AS n FROM observations')) === 300, 20_000);
  await first.stop();
  running.splice(running.indexOf(first), 1);
  const before = await db.query(`SELECT checkpoint, finished FROM shard_leases WHERE shard_id = $1`, [PARENT]);
  expect(before.rows[0].finished).toBe(false);
  const checkpoint = before.rows[0].checkpoint as string;
  expect(checkpoint).toMatch(/^\d+$/);

  // Meanwhile: more records in the parent (lost to retention below), a reshard, records in the children.
  await putRecords(stack.kinesis, stream, batch(200).map(eventRecord));
  await stack.kinesis.send(new SplitShardCommand({ StreamName: stream, ShardToSplit: PARENT, NewStartingHashKey: (2n ** 127n).toString() }));
  await waitFor(async () => ((await stack.kinesis.send(new ListShardsCommand({ StreamName: stream }))).Shards ?? []).length === 3, 10_000);
  const children = batch(400);
  await putRecords(stack.kinesis, stream, children.map(eventRecord));

  // The processors come back after the parent's data passed retention.
  const second = startProcessor(stack, database, stream, 'worker-b', logLines, {}, hideTrimmedShard(PARENT));
  running.push(second);

  await waitFor(async () => (await count(db, 'SELECT count(*) AS n FROM observations WHERE event_id = ANY($1::uuid[])', [children.map((e) => e.eventId)])) === 400, 30_000);
  expect(await count(db, 'SELECT count(*) AS n FROM observations')).toBe(700); // the 200 trimmed records are lost, not invented
  expect(await count(db, `SELECT count(*) AS n FROM shard_leases WHERE shard_id = $1 AND NOT finished`, [PARENT])).toBe(0);

  second.metrics.flush();
  const warnings = logLines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === 'shard trimmed from the stream before it was read to its end; its lease is finished so its children can be read');
  expect(warnings).toHaveLength(1);
  expect(warnings[0]).toMatchObject({ level: 'warn', shardId: PARENT, checkpoint });
  const emf = logLines.filter((l) => l.includes('"_aws"')).map((l) => JSON.parse(l) as Record<string, unknown>);
  expect(emf.reduce((n, l) => n + ((l.ShardsExpiredUnread as number | undefined) ?? 0), 0)).toBe(1);
}, 90_000);

test('after the stream is deleted and recreated under the same name, the stale checkpoint is dropped and the new shard is read from the trim horizon', async () => {
  // Real kinesalite behaviour, no simulation: the new stream reuses shardId-000000000000, and
  // GetShardIterator AFTER_SEQUENCE_NUMBER with the old stream's checkpoint answers
  // InvalidArgumentException ("did not come from this stream").
  const database = await newDatabase(stack);
  const stream = `vitals-${randomUUID().slice(0, 8)}`;
  await createStream(stack.kinesis, stream, 1);
  const db = adminPool(stack, database);
  pools.push(db);
  const pid = makePatientId();
  patientIds.push(pid);
  await putRecords(stack.kinesis, stream, Array.from({ length: 100 }, () => eventRecord(makeEvent({ patientId: pid }))));
  const first = startProcessor(stack, database, stream, 'worker-a', logLines);
  running.push(first);
  await waitFor(async () => (await count(db, 'SELECT count(*) AS n FROM observations')) === 100, 20_000);
  await first.stop();
  running.splice(running.indexOf(first), 1);
  const stale = (await db.query(`SELECT checkpoint FROM shard_leases WHERE shard_id = $1`, [PARENT])).rows[0].checkpoint as string;

  await stack.kinesis.send(new DeleteStreamCommand({ StreamName: stream }));
  await waitFor(async () => {
    try {
      await stack.kinesis.send(new DescribeStreamSummaryCommand({ StreamName: stream }));
      return false;
    } catch (err) {
      return (err as Error).name === 'ResourceNotFoundException';
    }
  }, 10_000);
  // kinesalite encodes the shard creation time in whole seconds: a stream recreated within the same
  // second would accept the stale checkpoint (and skip records), which AWS never does. Wait it out.
  await new Promise((r) => setTimeout(r, 1_100));
  await createStream(stack.kinesis, stream, 1);
  await putRecords(stack.kinesis, stream, Array.from({ length: 50 }, () => eventRecord(makeEvent({ patientId: pid }))));
  const second = startProcessor(stack, database, stream, 'worker-b', logLines);
  running.push(second);

  await waitFor(async () => (await count(db, 'SELECT count(*) AS n FROM observations')) === 150, 20_000);
  second.metrics.flush();
  const resets = logLines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => typeof l.msg === 'string' && l.msg.startsWith('checkpoint refused by Kinesis'));
  expect(resets.length).toBeGreaterThanOrEqual(1);
  expect(resets[0]).toMatchObject({ level: 'warn', shardId: PARENT, checkpoint: stale });
  const emf = logLines.filter((l) => l.includes('"_aws"')).map((l) => JSON.parse(l) as Record<string, unknown>);
  expect(emf.reduce((n, l) => n + ((l.CheckpointsReset as number | undefined) ?? 0), 0)).toBeGreaterThanOrEqual(1);
  expect((await db.query(`SELECT checkpoint FROM shard_leases WHERE shard_id = $1`, [PARENT])).rows[0].checkpoint).not.toBe(stale);
}, 60_000);

test('no log line of this file\'s runs contains a patient identifier', () => {
  expect(patientIds.length).toBeGreaterThan(0);
  expect(logLines.length).toBeGreaterThan(10);
  expect(logLines.filter((line) => patientIds.some((id) => line.includes(id)))).toEqual([]);
});
