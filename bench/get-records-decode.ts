/**
 * CPU cost of decoding one GetRecords response: the SDK's stock awsJson1.1 protocol vs
 * KinesisGetRecordsProtocol (src/adapters/kinesis-get-records-protocol.ts), both through their
 * `deserializeResponse`, as the client's deserialization middleware calls it.
 *
 *   npx ts-node --transpile-only bench/get-records-decode.ts [--records 2000] [--repeats 21] [--iterations 5]
 *
 * The body is what Kinesis sends for a full batch of the simulator's events (bench/pipeline-cost's
 * workload: JSON vital-sign events of ~500 bytes, base64 in the body, EncryptionType KMS as our stream
 * is encrypted), handed over as a Readable of 64 KiB chunks like a socket's. Each sample decodes it
 * `iterations` times after a full GC, timed with process.cpuUsage; the variants are interleaved
 * (alternating order), after a warm-up; figures are medians of `repeats` samples, in µs per record.
 * Prints figures; asserts nothing.
 */
import { Readable } from 'node:stream';
import { isDeepStrictEqual } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { GetRecords$, type GetRecordsCommandOutput, type KinesisClient } from '@aws-sdk/client-kinesis';
import { collectBody, HttpResponse } from '@smithy/core/protocols';
import type { HandlerExecutionContext, OperationSchema, SerdeFunctions } from '@smithy/types';
import { kinesisClientFor } from '../src/adapters/kinesis-client';
import { buildWorkload } from './pipeline-cost/workload';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}
const RECORDS = arg('records', 2000);
const REPEATS = arg('repeats', 21);
const ITERATIONS = arg('iterations', 5);
const WARMUP = 3;
const CHUNK = 64 * 1024;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** A GetRecords body as Kinesis sends it (value formats as kinesalite sends them: epoch seconds with milliseconds, decimal sequence numbers). */
function getRecordsBody(records: number): Buffer {
  const endMs = Date.UTC(2026, 11, 1, 12);
  const workload = buildWorkload({ events: records, patients: 1000, seed: 11, endMs });
  const out = workload.records.map((r, i) => ({
    SequenceNumber: (49680743180250033099927190233224238555217348373071790082n + BigInt(i) * 2n ** 64n).toString(),
    ApproximateArrivalTimestamp: (endMs - (records - i) * 2) / 1000,
    Data: r.data.toString('base64'),
    PartitionKey: r.partitionKey,
    EncryptionType: 'KMS',
  }));
  const nextShardIterator = Buffer.alloc(210, 7).toString('base64');
  return Buffer.from(JSON.stringify({ Records: out, NextShardIterator: nextShardIterator, MillisBehindLatest: 0 }));
}

function response(body: Buffer): HttpResponse {
  const chunks: Buffer[] = [];
  for (let i = 0; i < body.length; i += CHUNK) chunks.push(body.subarray(i, i + CHUNK));
  return new HttpResponse({
    statusCode: 200,
    headers: { 'x-amzn-RequestId': 'c0ffee00-0000-4000-8000-000000000000', 'Content-Type': 'application/x-amz-json-1.1', 'Content-Length': String(body.length) },
    body: Readable.from(chunks, { objectMode: false }),
  });
}

type Decode = (r: HttpResponse) => Promise<unknown>;

/** The client's configured protocol, called as the schema deserialization middleware calls it. */
function decoderOf(client: KinesisClient): Decode {
  const config = client.config as unknown as HandlerExecutionContext & SerdeFunctions & { protocol: { setSerdeContext(c: unknown): void; deserializeResponse: (o: OperationSchema, c: HandlerExecutionContext & SerdeFunctions, r: HttpResponse) => Promise<unknown> } };
  // The serde plugin does this on a client's first command.
  config.protocol.setSerdeContext(config);
  const [, namespace, name, traits, input, output] = GetRecords$;
  const operation = { name, namespace, traits, input, output } as OperationSchema;
  return (r) => config.protocol.deserializeResponse(operation, config, r);
}

/** The floor both share: collecting the body and one JSON.parse, nothing decoded. */
function floorDecoder(client: KinesisClient): Decode {
  const context = client.config as unknown as HandlerExecutionContext & SerdeFunctions;
  return async (r) => {
    const bytes = await collectBody(r.body, context);
    return JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
  };
}

async function sample(decode: Decode, body: Buffer): Promise<number> {
  const responses = Array.from({ length: ITERATIONS }, () => response(body));
  gc();
  const start = process.cpuUsage();
  for (const r of responses) await decode(r);
  const used = process.cpuUsage(start);
  return (used.user + used.system) / (ITERATIONS * RECORDS);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

async function main(): Promise<void> {
  const body = getRecordsBody(RECORDS);
  const stockClient = kinesisClientFor({ region: 'eu-central-2', endpoint: 'http://127.0.0.1:9' });
  const fastClient = kinesisClientFor({ region: 'eu-central-2', endpoint: 'http://127.0.0.1:9', fastGetRecords: true });
  const variants: [string, Decode][] = [
    ['stock', decoderOf(stockClient)],
    ['fast', decoderOf(fastClient)],
    ['floor', floorDecoder(stockClient)],
  ];
  const [stockOut, fastOut] = (await Promise.all([variants[0]![1](response(body)), variants[1]![1](response(body))])) as GetRecordsCommandOutput[];
  if (!isDeepStrictEqual(stockOut, fastOut)) throw new Error('stock and fast outputs differ');

  const samples = new Map<string, number[]>(variants.map(([n]) => [n, []]));
  for (let round = 0; round < WARMUP + REPEATS; round++) {
    const order = round % 2 === 0 ? variants : [...variants].reverse();
    for (const [n, decode] of order) {
      const us = await sample(decode, body);
      if (round >= WARMUP) samples.get(n)!.push(us);
    }
  }
  const stock = median(samples.get('stock')!);
  const fast = median(samples.get('fast')!);
  const avgData = stockOut.Records!.reduce((s, r) => s + (r.Data?.byteLength ?? 0), 0) / RECORDS;
  const range = (n: string): string => `(samples ${Math.min(...samples.get(n)!).toFixed(2)}-${Math.max(...samples.get(n)!).toFixed(2)})`;
  console.log(`GetRecords body: ${RECORDS} records, ${(body.length / 1024).toFixed(0)} KiB (mean Data ${avgData.toFixed(0)} bytes), ${ITERATIONS} decodes per sample, median of ${REPEATS} samples after ${WARMUP} warm-up rounds`);
  console.log(`stock AwsJson1_1Protocol:   ${stock.toFixed(3)} µs CPU per record ${range('stock')}`);
  console.log(`KinesisGetRecordsProtocol:  ${fast.toFixed(3)} µs CPU per record ${range('fast')}`);
  const ratios = samples.get('stock')!.map((s, i) => s / samples.get('fast')![i]!);
  console.log(`ratio stock / fast:         ${(stock / fast).toFixed(2)}x (of the medians; median of the rounds' own ratios ${median(ratios).toFixed(2)}x)`);
  console.log(`floor, collect body + UTF-8 JSON.parse only, nothing decoded: ${median(samples.get('floor')!).toFixed(3)} µs per record ${range('floor')}`);
  stockClient.destroy();
  fastClient.destroy();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
