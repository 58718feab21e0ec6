/**
 * The processor's Kinesis client (`fastGetRecords`: KinesisGetRecordsProtocol) against a stock one on
 * a real kinesalite: the same shard read page by page from the same iterators gives the same records
 * (Data bytes, timestamps, sequence numbers, partition keys), iterators and MillisBehindLatest, up to
 * the end of a closed (split) shard; errors are the same typed SDK exceptions; other operations are
 * unchanged. ChildShards, which kinesalite never sends, are covered on canned responses in
 * kinesis-get-records-protocol.test.ts.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  ExpiredIteratorException,
  GetRecordsCommand,
  GetShardIteratorCommand,
  InvalidArgumentException,
  ListShardsCommand,
  PutRecordsCommand,
  SplitShardCommand,
  waitUntilStreamExists,
  type GetRecordsCommandOutput,
  type KinesisClient,
} from '@aws-sdk/client-kinesis';
import { AwsJson1_1Protocol } from '@aws-sdk/core/protocols';
import { kinesisClientFor } from '../../src/adapters/kinesis-client';
import { KinesisGetRecordsProtocol } from '../../src/adapters/kinesis-get-records-protocol';
import { startKinesalite, type KinesaliteServer } from '../../src/local/servers';

let kinesalite: KinesaliteServer;
let stock: KinesisClient;
let fast: KinesisClient;
let stockPath: jest.SpiedFunction<AwsJson1_1Protocol['deserializeResponse']>;

/** Calls the fast client's protocol made into the stock code path. */
function fastClientStockPathCalls(): number {
  return stockPath.mock.contexts.filter((c) => c instanceof KinesisGetRecordsProtocol).length;
}

async function createStream(name: string): Promise<string> {
  await stock.send(new CreateStreamCommand({ StreamName: name, ShardCount: 1 }));
  await waitUntilStreamExists({ client: stock, maxWaitTime: 30, minDelay: 1, maxDelay: 1 }, { StreamName: name });
  const shards = await stock.send(new ListShardsCommand({ StreamName: name }));
  return shards.Shards![0]!.ShardId!;
}

async function trimHorizon(stream: string, shardId: string): Promise<string> {
  const it = await stock.send(new GetShardIteratorCommand({ StreamName: stream, ShardId: shardId, ShardIteratorType: 'TRIM_HORIZON' }));
  return it.ShardIterator!;
}

/** The output less what differs between any two calls (request ids; iterators embed their creation time). */
function comparable(out: GetRecordsCommandOutput): Record<string, unknown> {
  const { $metadata, NextShardIterator, ...rest } = out;
  return {
    ...rest,
    hasNextShardIterator: 'NextShardIterator' in out,
    // kinesalite's iterator: base64 of an 8-byte version header and the encrypted position.
    nextShardIteratorShape:
      NextShardIterator === undefined ? undefined : { length: NextShardIterator.length, header: Buffer.from(NextShardIterator, 'base64').subarray(0, 8).toString('hex') },
    $metadata: { httpStatusCode: $metadata.httpStatusCode, attempts: $metadata.attempts, requestId: typeof $metadata.requestId },
  };
}

/**
 * Reads a shard to its tip (or end) with both clients, each page from the same iterator, asserting
 * the same output; the next page's iterator alternates between the two clients' NextShardIterator.
 */
async function readBoth(iterator: string, limit: number): Promise<GetRecordsCommandOutput[]> {
  const pages: GetRecordsCommandOutput[] = [];
  for (let it: string | undefined = iterator; it !== undefined; ) {
    const fromFast: GetRecordsCommandOutput = await fast.send(new GetRecordsCommand({ ShardIterator: it, Limit: limit }));
    const fromStock: GetRecordsCommandOutput = await stock.send(new GetRecordsCommand({ ShardIterator: it, Limit: limit }));
    const [f, s] = [comparable(fromFast), comparable(fromStock)];
    if (fromStock.NextShardIterator === undefined) {
      // At a closed shard's end kinesalite's MillisBehindLatest is the time since the shard closed.
      expect(Math.abs((f.MillisBehindLatest as number) - (s.MillisBehindLatest as number))).toBeLessThan(5_000);
      f.MillisBehindLatest = s.MillisBehindLatest;
    }
    expect(f).toStrictEqual(s);
    pages.push(fromFast);
    if (fromFast.Records!.length === 0 && fromFast.MillisBehindLatest === 0 && fromFast.NextShardIterator !== undefined) break; // the open shard's tip
    it = pages.length % 2 ? fromFast.NextShardIterator : fromStock.NextShardIterator;
  }
  return pages;
}

/** A copy of a kinesalite iterator made 10 minutes earlier (kinesalite expires them after 5). */
function backdated(iterator: string): string {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { ITERATOR_PWD_KEY: key, ITERATOR_PWD_IV: iv } = require('kinesalite/db') as { ITERATOR_PWD_KEY: Buffer; ITERATOR_PWD_IV: Buffer };
  const raw = Buffer.from(iterator, 'base64');
  const decipher = createDecipheriv('aes-256-cbc', key, iv);
  const pieces = Buffer.concat([decipher.update(raw.subarray(8)), decipher.final()]).toString('utf8').split('/');
  pieces[0] = String(Date.now() - 10 * 60_000).padStart(14, '0');
  const cipher = createCipheriv('aes-256-cbc', key, iv);
  return Buffer.concat([raw.subarray(0, 8), cipher.update(pieces.join('/'), 'utf8'), cipher.final()]).toString('base64');
}

beforeAll(async () => {
  kinesalite = await startKinesalite({ stateChangeMs: 0 });
  stock = kinesisClientFor({ region: 'eu-central-2', endpoint: kinesalite.endpoint, maxAttempts: 1 });
  fast = kinesisClientFor({ region: 'eu-central-2', endpoint: kinesalite.endpoint, maxAttempts: 1, fastGetRecords: true });
  stockPath = jest.spyOn(AwsJson1_1Protocol.prototype, 'deserializeResponse');
});

afterAll(async () => {
  stockPath?.mockRestore();
  stock?.destroy();
  fast?.destroy();
  await kinesalite?.stop();
});

test('the same records, iterators and MillisBehindLatest as the stock client, page by page', async () => {
  const shardId = await createStream('same-records');
  const events = Array.from({ length: 40 }, (_, i) => ({
    data: Buffer.from(JSON.stringify({ schemaVersion: 1, eventId: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`, deviceId: `monitor-${i % 7}`, vitals: { pulse: { value: 60 + i, unit: 'bpm' } } })),
    key: `monitor-${i % 7}`,
  }));
  const sent = [
    { data: Buffer.from([0xff, 0xfe, 0xfd, 0x00, 0x80, 0xc3, 0x28, 0xa0, 0xa1, 0xe2, 0x28, 0xa1, 0xf0, 0x28, 0x8c, 0xbc]), key: 'not-utf-8' },
    { data: Buffer.from([0x00]), key: 'one-zero-byte' },
    { data: Buffer.from('{'), key: 'one-byte' },
    { data: Buffer.from([0xfb, 0xff]), key: 'base64-plus-slash' },
    { data: Buffer.from(Array.from({ length: 256 }, (_, i) => i)), key: 'every-byte-value' },
    { data: randomBytes(100 * 1024), key: 'large-100-KiB' },
    { data: Buffer.from(JSON.stringify({ patient: 'Zoë Ångström 患者 🫀', note: 'SpO₂ 97 %, "quoted", back\\slash, \u2028' })), key: 'Bett-ü-患者-🫀' },
    ...events,
  ];
  const before = Date.now();
  const put = await fast.send(new PutRecordsCommand({ StreamName: 'same-records', Records: sent.map((r) => ({ Data: r.data, PartitionKey: r.key })) }));
  const after = Date.now();
  expect(put.FailedRecordCount).toBe(0);

  const stockCallsBefore = fastClientStockPathCalls();
  // Pages of 4: some all ASCII, one with the raw UTF-8 partition key (both ways of reading the body).
  const pages = await readBoth(await trimHorizon('same-records', shardId), 4);
  expect(fastClientStockPathCalls()).toBe(stockCallsBefore); // every GetRecords took the fast path

  const records = pages.flatMap((p) => p.Records!);
  expect(records).toHaveLength(sent.length);
  records.forEach((r, i) => {
    expect(Buffer.from(r.Data!).equals(sent[i]!.data)).toBe(true);
    expect(r.PartitionKey).toBe(sent[i]!.key);
    expect(r.SequenceNumber).toBe(put.Records![i]!.SequenceNumber);
    expect(r.ApproximateArrivalTimestamp).toBeInstanceOf(Date);
    expect(r.ApproximateArrivalTimestamp!.getTime()).toBeGreaterThanOrEqual(before - 1_000);
    expect(r.ApproximateArrivalTimestamp!.getTime()).toBeLessThanOrEqual(after + 1_000);
  });
  expect(pages.every((p) => p.MillisBehindLatest === 0)).toBe(true);

  // AT_SEQUENCE_NUMBER: one page from the large record on.
  const at = await stock.send(new GetShardIteratorCommand({ StreamName: 'same-records', ShardId: shardId, ShardIteratorType: 'AT_SEQUENCE_NUMBER', StartingSequenceNumber: put.Records![5]!.SequenceNumber }));
  const fromFast = await fast.send(new GetRecordsCommand({ ShardIterator: at.ShardIterator, Limit: 3 }));
  const fromStock = await stock.send(new GetRecordsCommand({ ShardIterator: at.ShardIterator, Limit: 3 }));
  expect(comparable(fromFast)).toStrictEqual(comparable(fromStock));
  expect(fromFast.Records!.map((r) => r.PartitionKey)).toEqual(['large-100-KiB', 'Bett-ü-患者-🫀', 'monitor-0']);
});

test('a closed (split) shard read to its end: no NextShardIterator from either', async () => {
  const parent = await createStream('closing');
  await stock.send(new PutRecordsCommand({ StreamName: 'closing', Records: Array.from({ length: 5 }, (_, i) => ({ Data: randomBytes(50 + i), PartitionKey: `k${i}` })) }));
  await stock.send(new SplitShardCommand({ StreamName: 'closing', ShardToSplit: parent, NewStartingHashKey: (2n ** 127n).toString() }));
  await waitUntilStreamExists({ client: stock, maxWaitTime: 30, minDelay: 1, maxDelay: 1 }, { StreamName: 'closing' });
  const pages = await readBoth(await trimHorizon('closing', parent), 2);
  const last = pages[pages.length - 1]!;
  expect(last.NextShardIterator).toBeUndefined();
  expect(last).not.toHaveProperty('NextShardIterator');
  expect(pages.flatMap((p) => p.Records!)).toHaveLength(5);
});

test('errors are the same typed SDK exceptions (the processor matches ExpiredIteratorException by name)', async () => {
  const shardId = await createStream('errors');
  const iterator = await trimHorizon('errors', shardId);
  for (const [shardIterator, type] of [
    [backdated(iterator), ExpiredIteratorException],
    ['AAAAAAAAAAE' + 'A'.repeat(200), InvalidArgumentException],
  ] as const) {
    const [f, s] = await Promise.all([fast, stock].map((client) => client.send(new GetRecordsCommand({ ShardIterator: shardIterator })).then(() => undefined, (e: unknown) => e)));
    expect(f).toBeInstanceOf(type);
    expect(s).toBeInstanceOf(type);
    const fe = f as InstanceType<typeof type>;
    const se = s as InstanceType<typeof type>;
    expect(fe.name).toBe(type.name);
    expect(fe.message).toBe(se.message);
    expect(fe.$fault).toBe('client');
    expect(fe.$metadata.httpStatusCode).toBe(400);
  }
});

test('other operations through the fast client: the stock output', async () => {
  await createStream('other-ops');
  const calls = fastClientStockPathCalls();
  const [f1, s1] = await Promise.all([fast, stock].map((c) => c.send(new DescribeStreamSummaryCommand({ StreamName: 'other-ops' }))));
  const [f2, s2] = await Promise.all([fast, stock].map((c) => c.send(new ListShardsCommand({ StreamName: 'other-ops' }))));
  expect(fastClientStockPathCalls()).toBe(calls + 2);
  const strip = ({ $metadata, ...rest }: { $metadata: { httpStatusCode?: number } }): unknown => ({ ...rest, status: $metadata.httpStatusCode });
  expect(strip(f1!)).toStrictEqual(strip(s1!));
  expect(strip(f2!)).toStrictEqual(strip(s2!));
  expect(f1!.StreamDescriptionSummary!.StreamCreationTimestamp).toBeInstanceOf(Date);
  expect(f2!.Shards).toHaveLength(1);
});
