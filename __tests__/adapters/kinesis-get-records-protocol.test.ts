/**
 * KinesisGetRecordsProtocol against the stock awsJson1.1 protocol on canned HTTP responses, both
 * called as the SDK's deserialization middleware calls them: shapes kinesalite never sends
 * (ChildShards, EncryptionType, unknown and null members, timestamp rounding, raw UTF-8), error
 * responses, and bodies the fast decoder hands to the stock one (same output, same errors).
 * The same read from a real kinesalite is in kinesis-get-records-protocol.integration.test.ts.
 */
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { ExpiredIteratorException, GetRecords$, ListShards$, ProvisionedThroughputExceededException, type KinesisClient } from '@aws-sdk/client-kinesis';
import { AwsJson1_1Protocol } from '@aws-sdk/core/protocols';
import { HttpResponse } from '@smithy/core/protocols';
import { fromBase64 } from '@smithy/core/serde';
import type { HandlerExecutionContext, OperationSchema, SerdeFunctions } from '@smithy/types';
import { kinesisClientFor } from '../../src/adapters/kinesis-client';
import { fromCanonicalBase64, KinesisGetRecordsProtocol } from '../../src/adapters/kinesis-get-records-protocol';

type Decode = (response: HttpResponse) => Promise<unknown>;
interface ProtocolConfig {
  protocol: AwsJson1_1Protocol;
}

let stockClient: KinesisClient;
let fastClient: KinesisClient;
/** Calls into the stock code path (RpcProtocol.deserializeResponse), by the protocol instance that made them. */
let stockPath: jest.SpiedFunction<AwsJson1_1Protocol['deserializeResponse']>;

/** `client.config.protocol.deserializeResponse` for `operation`, as the schema deserialization middleware calls it. */
function decoder(client: KinesisClient, operation: typeof GetRecords$ | typeof ListShards$): Decode {
  const config = client.config as unknown as ProtocolConfig & HandlerExecutionContext & SerdeFunctions;
  config.protocol.setSerdeContext(config);
  const [, namespace, name, traits, input, output] = operation;
  const schema = { name, namespace, traits, input, output } as OperationSchema;
  return (response) => config.protocol.deserializeResponse(schema, config, response);
}

function response(body: string, statusCode = 200): HttpResponse {
  const bytes = Buffer.from(body);
  // Split like a socket delivers it (the middle of a multi-byte character included).
  const chunks = bytes.length > 10 ? [bytes.subarray(0, 7), bytes.subarray(7, bytes.length - 3), bytes.subarray(bytes.length - 3)] : [bytes];
  return new HttpResponse({
    statusCode,
    headers: { 'X-Amzn-RequestId': 'b6e5a1f0-0000-4000-8000-000000000001', 'x-amz-id-2': 'ext-id', 'Content-Type': 'application/x-amz-json-1.1' },
    body: Readable.from(chunks),
  });
}

type Outcome = { ok: unknown } | { err: { ctor: unknown; name: string; message: string; fields: Record<string, unknown> } };

async function outcome(decode: Decode, body: string, statusCode?: number): Promise<Outcome> {
  try {
    return { ok: await decode(response(body, statusCode)) };
  } catch (e) {
    const err = e as Error;
    return { err: { ctor: err.constructor, name: err.name, message: err.message, fields: { ...err } } };
  }
}

function fastPathCalls(): number {
  return stockPath.mock.contexts.filter((c) => c instanceof KinesisGetRecordsProtocol).length;
}

/** Both protocols on the same body: the same outcome; and whether the fast one used the stock path. */
async function compare(body: string, statusCode?: number): Promise<{ outcome: Outcome; usedStockPath: boolean }> {
  const before = fastPathCalls();
  const fast = await outcome(decoder(fastClient, GetRecords$), body, statusCode);
  const usedStockPath = fastPathCalls() > before;
  const stock = await outcome(decoder(stockClient, GetRecords$), body, statusCode);
  expect(fast).toStrictEqual(stock);
  return { outcome: fast, usedStockPath };
}

const TS = 1796144780.137;
const record = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
  SequenceNumber: '49680743180250033099927190233224238555217348373071790082',
  ApproximateArrivalTimestamp: TS,
  Data: Buffer.from('{"pulse":72}').toString('base64'),
  PartitionKey: 'monitor-7',
  ...over,
});

beforeAll(() => {
  stockClient = kinesisClientFor({ region: 'eu-central-2', endpoint: 'http://127.0.0.1:9' });
  fastClient = kinesisClientFor({ region: 'eu-central-2', endpoint: 'http://127.0.0.1:9', fastGetRecords: true });
  stockPath = jest.spyOn(AwsJson1_1Protocol.prototype, 'deserializeResponse');
});

afterAll(() => {
  stockPath.mockRestore();
  stockClient.destroy();
  fastClient.destroy();
});

test('the option swaps the protocol; the default client keeps the stock one', () => {
  expect((fastClient.config as unknown as ProtocolConfig).protocol).toBeInstanceOf(KinesisGetRecordsProtocol);
  expect((stockClient.config as unknown as ProtocolConfig).protocol).not.toBeInstanceOf(KinesisGetRecordsProtocol);
  expect((stockClient.config as unknown as ProtocolConfig).protocol).toBeInstanceOf(AwsJson1_1Protocol);
});

test("the processor's client drops the SDK's logger middleware (a redacted copy of every response for a no-op logger); the default keeps it", () => {
  const names = (c: typeof fastClient): string[] => c.middlewareStack.identify().map((m) => m.split(' ')[0] as string);
  expect(names(stockClient)).toContain('loggerMiddleware');
  expect(names(fastClient)).not.toContain('loggerMiddleware');
  // Only that one: retries, signing, endpoint resolution and the rest are the stock client's.
  expect(names(fastClient).sort()).toEqual(names(stockClient).filter((n) => n !== 'loggerMiddleware').sort());
});

test("a closed shard's last response: ChildShards as the stock decoder gives them", async () => {
  const body = JSON.stringify({
    Records: [],
    MillisBehindLatest: 0,
    ChildShards: [
      { ShardId: 'shardId-000000000001', ParentShards: ['shardId-000000000000'], HashKeyRange: { StartingHashKey: '0', EndingHashKey: '170141183460469231731687303715884105727' } },
      { ShardId: 'shardId-000000000002', ParentShards: ['shardId-000000000000'], HashKeyRange: { StartingHashKey: '170141183460469231731687303715884105728', EndingHashKey: '340282366920938463463374607431768211455' } },
    ],
  });
  const { outcome: out, usedStockPath } = await compare(body);
  expect(usedStockPath).toBe(false);
  expect(out).toStrictEqual({
    ok: {
      Records: [],
      MillisBehindLatest: 0,
      ChildShards: [
        { ShardId: 'shardId-000000000001', ParentShards: ['shardId-000000000000'], HashKeyRange: { StartingHashKey: '0', EndingHashKey: '170141183460469231731687303715884105727' } },
        {
          ShardId: 'shardId-000000000002',
          ParentShards: ['shardId-000000000000'],
          HashKeyRange: { StartingHashKey: '170141183460469231731687303715884105728', EndingHashKey: '340282366920938463463374607431768211455' },
        },
      ],
      $metadata: { httpStatusCode: 200, requestId: 'b6e5a1f0-0000-4000-8000-000000000001', extendedRequestId: 'ext-id', cfId: undefined },
    },
  });
  // A merge: two parents.
  const merged = JSON.stringify({ Records: [], MillisBehindLatest: 12, ChildShards: [{ ShardId: 'shardId-000000000003', ParentShards: ['shardId-000000000001', 'shardId-000000000002'], HashKeyRange: { StartingHashKey: '0', EndingHashKey: '9' } }] });
  expect((await compare(merged)).usedStockPath).toBe(false);
  // Null and unknown members, as for records.
  const sparse = JSON.stringify({ Records: [], ChildShards: [{ ShardId: 'shardId-000000000004', ParentShards: null, HashKeyRange: { StartingHashKey: '0', EndingHashKey: null, Extra: 1 }, Extra: 2 }, { ShardId: null, ParentShards: [] }] });
  const { outcome: sparseOut, usedStockPath: sparseStock } = await compare(sparse);
  expect(sparseStock).toBe(false);
  expect((sparseOut as { ok: { ChildShards: unknown } }).ok.ChildShards).toStrictEqual([{ ShardId: 'shardId-000000000004', HashKeyRange: { StartingHashKey: '0' } }, { ParentShards: [] }]);
});

test('records: every declared field, unknown and null members dropped, timestamps rounded alike, raw UTF-8', async () => {
  const body = JSON.stringify({
    Records: [
      record({ EncryptionType: 'KMS', Data: randomBytes(300).toString('base64') }),
      // Epoch seconds whose milliseconds sit on .5 (rounding), an integer, a small and a huge one, an exponent.
      record({ ApproximateArrivalTimestamp: 1796144780.1375, EncryptionType: 'NONE' }),
      record({ ApproximateArrivalTimestamp: 1796144780 }),
      record({ ApproximateArrivalTimestamp: 0.0005 }),
      record({ ApproximateArrivalTimestamp: 8.64e12 }),
      record({ PartitionKey: 'Bett-ü-患者-🫀', Data: Buffer.from('{"name":"Zoë 患者 🫀"}').toString('base64') }),
      record({ Data: '' }),
      record({ Data: '+/8=' }),
      record({ EncryptionType: null, PartitionKey: null, Unknown: 'dropped', Nested: { a: 1 } }),
      { SequenceNumber: '1', Data: 'AA==' },
    ],
    NextShardIterator: 'AAAAAAAAAAE' + 'x'.repeat(200),
    MillisBehindLatest: 1234,
    SomethingNew: { dropped: true },
  });
  const { outcome: out, usedStockPath } = await compare(body);
  expect(usedStockPath).toBe(false);
  const ok = (out as { ok: { Records: { Data: Uint8Array; ApproximateArrivalTimestamp?: Date }[] } }).ok;
  expect(ok.Records).toHaveLength(10);
  expect(ok.Records[0]!.Data).toBeInstanceOf(Uint8Array);
  expect(Buffer.isBuffer(ok.Records[0]!.Data)).toBe(false);
  expect(ok.Records[1]!.ApproximateArrivalTimestamp).toEqual(new Date(Math.round(1796144780.1375 * 1000)));
  expect(ok).not.toHaveProperty('SomethingNew');
  expect(ok.Records[8]).toStrictEqual({ SequenceNumber: record().SequenceNumber, Data: new Uint8Array(Buffer.from('{"pulse":72}')), ApproximateArrivalTimestamp: new Date(Math.round(TS * 1000)) });
});

test('empty and minimal bodies', async () => {
  for (const body of ['', '{}', '{"Records":[]}', '{"Records":null,"NextShardIterator":null}']) {
    const { usedStockPath } = await compare(body);
    expect(usedStockPath).toBe(false);
  }
});

const UNLIKE_KINESIS: [string, string][] = [
  ['non-canonical base64 (the stock decoder accepts it)', JSON.stringify({ Records: [record({ Data: 'QR==' })] })],
  ['invalid base64', JSON.stringify({ Records: [record(), record({ Data: 'QQ=A' })] })],
  ['base64url', JSON.stringify({ Records: [record({ Data: '-_8=' })] })],
  ['base64 with a line break', JSON.stringify({ Records: [record({ Data: 'QUJD\nRA==' })] })],
  ['a non-ASCII character Buffer.from would alias', JSON.stringify({ Records: [record({ Data: 'QUJī' })] })],
  ['a record carrying __type', JSON.stringify({ Records: [record({ __type: 'Record', Extra: 1 })] })],
  ['__type at the top', JSON.stringify({ __type: 'GetRecordsOutput', Records: [record()], Extra: 1 })],
  ['timestamp as a string', JSON.stringify({ Records: [record({ ApproximateArrivalTimestamp: '1796144780.137' })] })],
  ['timestamp as an object', JSON.stringify({ Records: [record({ ApproximateArrivalTimestamp: { s: 1 } })] })],
  ['Data as a number', JSON.stringify({ Records: [record({ Data: 12 })] })],
  ['MillisBehindLatest as a numeric string', JSON.stringify({ Records: [], MillisBehindLatest: 'Infinity' })],
  ['Records not a list', JSON.stringify({ Records: { a: record() } })],
  ['a record not an object', JSON.stringify({ Records: ['x', 3] })],
  ['ChildShards not a list', JSON.stringify({ Records: [], ChildShards: 'shardId-1' })],
  ['HashKeyRange not an object', JSON.stringify({ Records: [], ChildShards: [{ ShardId: 's', HashKeyRange: ['0', '9'] }] })],
  ['a JSON array', '[1,2]'],
  ['truncated JSON', '{"Records":['],
];

test.each(UNLIKE_KINESIS)('unlike what Kinesis sends, the stock decoder decides: %s', async (_name, body) => {
  const { usedStockPath, outcome: out } = await compare(body);
  // JSON that does not parse fails before either decoder looks at it (the same SyntaxError).
  if (!('err' in out && out.err.name === 'SyntaxError')) expect(usedStockPath).toBe(true);
});

test('invalid base64 fails with the stock decoder\'s own error', async () => {
  const { outcome: out } = await compare(JSON.stringify({ Records: [record({ Data: 'QQ=A' })] }));
  expect(out).toMatchObject({ err: { name: 'TypeError', message: expect.stringContaining('Invalid base64 string.') } });
});

test('error responses raise the same typed SDK exception', async () => {
  const expired = await compare(JSON.stringify({ __type: 'ExpiredIteratorException', message: 'Iterator expired.' }), 400);
  expect(expired.usedStockPath).toBe(true);
  expect(expired.outcome).toMatchObject({ err: { ctor: ExpiredIteratorException, name: 'ExpiredIteratorException', message: 'Iterator expired.' } });
  const throttled = await compare(JSON.stringify({ __type: 'com.amazonaws.kinesis#ProvisionedThroughputExceededException', message: 'Rate exceeded' }), 400);
  expect(throttled.outcome).toMatchObject({ err: { ctor: ProvisionedThroughputExceededException, name: 'ProvisionedThroughputExceededException' } });
  const internal = await compare(JSON.stringify({ __type: 'InternalFailure', message: 'boom' }), 500);
  expect(internal.outcome).toMatchObject({ err: { name: 'InternalFailure', fields: { $fault: 'server' } } });
});

test('another operation goes to the stock decoder', async () => {
  const body = JSON.stringify({ Shards: [{ ShardId: 'shardId-000000000000', HashKeyRange: { StartingHashKey: '0', EndingHashKey: '9' }, SequenceNumberRange: { StartingSequenceNumber: '1' } }] });
  const before = fastPathCalls();
  const fast = await decoder(fastClient, ListShards$)(response(body));
  expect(fastPathCalls()).toBe(before + 1);
  expect(fast).toStrictEqual(await decoder(stockClient, ListShards$)(response(body)));
});

test('header names are lower-cased as the stock decoder does', async () => {
  const decodeFast = decoder(fastClient, GetRecords$);
  const r = response('{"Records":[]}');
  await decodeFast(r);
  expect(Object.keys(r.headers).sort()).toEqual(['content-type', 'x-amz-id-2', 'x-amzn-requestid']);
});

describe('fromCanonicalBase64', () => {
  function stock(s: string): Uint8Array | undefined {
    try {
      return fromBase64(s);
    } catch {
      return undefined;
    }
  }

  test('decodes what Buffer encodes, every length, to the bytes the stock decoder gives', () => {
    for (let n = 0; n < 300; n++) {
      const bytes = randomBytes(n);
      const s = bytes.toString('base64');
      const ours = fromCanonicalBase64(s);
      expect(ours).toStrictEqual(stock(s));
      expect(Buffer.from(ours!).equals(bytes)).toBe(true);
    }
  });

  test('never accepts what the stock decoder rejects, nor decodes differently (every UTF-16 code unit in each position)', () => {
    let accepted = 0;
    let mismatches = 0;
    for (let code = 0; code <= 0xffff; code++) {
      const c = String.fromCharCode(code);
      for (const s of ['QU' + c + 'D', 'QUJ' + c, 'Q' + c + '==', c + 'UJD', 'QQ' + c + '=', 'QUJDRA' + c + c]) {
        const ours = fromCanonicalBase64(s);
        if (ours === undefined) continue;
        accepted++;
        const theirs = stock(s);
        if (theirs === undefined || !Buffer.from(theirs).equals(Buffer.from(ours))) mismatches++;
      }
    }
    expect(mismatches).toBe(0);
    expect(accepted).toBeGreaterThan(64);
  });
});
