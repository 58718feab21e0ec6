/**
 * The simulator against the real ingest API and a real kinesalite: what it counts as sent is
 * exactly what reached the stream, 429s and 503s are retried with the same event ids, and
 * malformed traffic takes the path it should.
 */
import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  type KinesisClient,
  ListShardsCommand,
  PutRecordsCommand,
  type PutRecordsCommandOutput,
} from '@aws-sdk/client-kinesis';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { buildIngestServer } from '../../src/ingest/server';
import { kinesisClientFor } from '../../src/adapters/kinesis-client';
import { startKinesalite, type KinesaliteServer } from '../../src/local/servers';
import { Simulator, type SimulatorOptions } from '../../src/local/simulator';
import { LatencySampler } from '../../src/local/status';
import { sequenceOf } from '../../src/local/traffic';
import { Hl7Sender } from '../../src/local/hl7-sender';
import { startGateway } from '../hl7/support/harness';

const RUN_TAG = 'c0ffee123456';
let kinesalite: KinesaliteServer;
let kinesis: KinesisClient;
let streamCounter = 0;

beforeAll(async () => {
  kinesalite = await startKinesalite();
  kinesis = kinesisClientFor({ region: 'eu-central-2', endpoint: kinesalite.endpoint });
});

afterAll(async () => {
  kinesis.destroy();
  await kinesalite.stop();
});

async function newStream(): Promise<string> {
  const name = `sim-test-${++streamCounter}`;
  await kinesis.send(new CreateStreamCommand({ StreamName: name, ShardCount: 2 }));
  for (;;) {
    const s = await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: name }));
    if (s.StreamDescriptionSummary?.StreamStatus === 'ACTIVE') return name;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Every record of the stream, as raw bytes. */
async function readStream(streamName: string): Promise<Buffer[]> {
  const out: Buffer[] = [];
  const shards = await kinesis.send(new ListShardsCommand({ StreamName: streamName }));
  for (const shard of shards.Shards ?? []) {
    let iterator = (
      await kinesis.send(new GetShardIteratorCommand({ StreamName: streamName, ShardId: shard.ShardId, ShardIteratorType: 'TRIM_HORIZON' }))
    ).ShardIterator;
    for (;;) {
      const page = await kinesis.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 10_000 }));
      for (const r of page.Records ?? []) out.push(Buffer.from(r.Data ?? new Uint8Array()));
      if (!page.Records?.length || page.MillisBehindLatest === 0) break;
      iterator = page.NextShardIterator;
    }
  }
  return out;
}

async function startIngest(streamName: string, client: KinesisClient, limits: { burst?: number; ratePerSec?: number } = {}) {
  const app: FastifyInstance = buildIngestServer({
    kinesis: client,
    streamName,
    apiKeys: ['test-key'],
    logger: pino({ level: 'silent' }),
    put: { sleep: () => Promise.resolve() },
    ...limits,
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const port = (app.server.address() as { port: number }).port;
  return { app, url: `http://127.0.0.1:${port}` };
}

function simulator(url: string, streamName: string, overrides: Partial<SimulatorOptions> = {}): Simulator {
  return new Simulator({
    ingestUrl: url,
    apiKey: 'test-key',
    ratePerSec: 400,
    patients: 40,
    malformedShare: 0.05,
    duplicateShare: 0.05,
    runTag: RUN_TAG,
    seed: 11,
    latency: new LatencySampler(),
    putRaw: async (records) => {
      const res = await kinesis.send(
        new PutRecordsCommand({ StreamName: streamName, Records: records.map((r) => ({ Data: r.data, PartitionKey: r.partitionKey })) }),
      );
      if (res.FailedRecordCount) throw new Error('raw put failed');
    },
    ...overrides,
  });
}

interface StreamContents {
  /** Sequence numbers of decodable events of this run, with how often each appears. */
  readonly seqCounts: Map<number, number>;
  readonly undecodable: number;
}

function classify(records: Buffer[]): StreamContents {
  const seqCounts = new Map<number, number>();
  let undecodable = 0;
  for (const data of records) {
    let parsed: { eventId?: string } | null = null;
    try {
      parsed = JSON.parse(data.toString('utf8')) as { eventId?: string };
    } catch {
      parsed = null;
    }
    const seq = parsed && typeof parsed.eventId === 'string' ? sequenceOf(RUN_TAG, parsed.eventId) : null;
    if (seq === null) undecodable++;
    else seqCounts.set(seq, (seqCounts.get(seq) ?? 0) + 1);
  }
  return { seqCounts, undecodable };
}

/** Waits for what a test needs to have happened (not a fixed time: these machines are shared and slow under load). */
async function until(condition: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
}

describe('simulator', () => {
  it('puts every accepted valid event, the duplicates and the malformed records into the stream', async () => {
    const stream = await newStream();
    const { app, url } = await startIngest(stream, kinesis);
    try {
      const sim = simulator(url, stream);
      sim.start();
      // Until enough went through (a condition, not a fixed time: this machine may be loaded).
      const deadline = Date.now() + 30_000;
      while (sim.counters.validAccepted <= 500 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      await sim.stop();
      const c = sim.counters;
      const contents = classify(await readStream(stream));

      expect(c.unexpected).toBe(0);
      expect(c.validUndelivered).toBe(0);
      expect(c.validAccepted).toBeGreaterThan(500);
      expect(sim.accepted.size).toBe(c.validAccepted);
      const acceptedButAbsent: number[] = [];
      for (let seq = 0; seq <= c.slots; seq++) {
        if (sim.accepted.has(seq) && !contents.seqCounts.has(seq)) acceptedButAbsent.push(seq);
      }
      expect(acceptedButAbsent).toEqual([]);
      const decodable = [...contents.seqCounts.values()].reduce((a, b) => a + b, 0);
      expect(decodable).toBe(c.validAccepted + c.duplicatesAccepted + c.impossibleAccepted);
      expect(c.duplicatesAccepted).toBeGreaterThan(0);
      expect(c.impossibleAccepted).toBeGreaterThan(0);
      expect(contents.undecodable).toBe(c.undecodablePut);
      expect(c.undecodablePut).toBeGreaterThan(0);
    } finally {
      await app.close();
    }
  });

  it('counts schema-invalid events as rejected by the API, never as sent', async () => {
    const stream = await newStream();
    const { app, url } = await startIngest(stream, kinesis);
    try {
      const sim = simulator(url, stream, { malformedShare: 0.3, duplicateShare: 0 });
      sim.start();
      await until(() => sim.counters.schemaInvalidRejected > 0 && sim.counters.validAccepted > 100);
      await sim.stop();
      expect(sim.counters.schemaInvalidRejected).toBeGreaterThan(0);
      expect(sim.counters.unexpected).toBe(0);
      const contents = classify(await readStream(stream));
      // Schema-invalid events took sequence numbers but none of them reached the stream.
      const inStream = [...contents.seqCounts.values()].reduce((a, b) => a + b, 0);
      expect(inStream).toBe(sim.counters.validAccepted + sim.counters.impossibleAccepted);
    } finally {
      await app.close();
    }
  });

  it('waits for Retry-After on 429 and still delivers every valid event', async () => {
    const stream = await newStream();
    // 2 requests of burst and 4/s against ~20 requests/s wanted.
    const { app, url } = await startIngest(stream, kinesis, { burst: 2, ratePerSec: 4 });
    try {
      const sim = simulator(url, stream, { malformedShare: 0, duplicateShare: 0, maxInFlight: 4 });
      sim.start();
      await until(() => sim.counters.throttled > 0 && sim.counters.validAccepted > 50);
      await sim.stop();
      expect(sim.counters.throttled).toBeGreaterThan(0);
      expect(sim.counters.validUndelivered).toBe(0);
      const contents = classify(await readStream(stream));
      expect(contents.seqCounts.size).toBe(sim.accepted.size);
    } finally {
      await app.close();
    }
  });

  it('re-sends a batch answered 503 with the same event ids', async () => {
    const stream = await newStream();
    // Every PutRecords call writes only its first record and reports the rest as throttled, so the
    // API answers 503 after its own retries, until the simulator has re-sent at least once (a
    // condition, not a time window: on a loaded machine a fixed window can pass before the first send).
    let failing = true;
    const flaky = {
      send: async (command: PutRecordsCommand): Promise<PutRecordsCommandOutput> => {
        if (!failing) return kinesis.send(command);
        const records = command.input.Records ?? [];
        const first = await kinesis.send(new PutRecordsCommand({ ...command.input, Records: records.slice(0, 1) }));
        return {
          $metadata: {},
          FailedRecordCount: records.length - 1,
          Records: [
            ...(first.Records ?? []),
            ...records.slice(1).map(() => ({ ErrorCode: 'ProvisionedThroughputExceededException', ErrorMessage: 'slow down' })),
          ],
        };
      },
    } as unknown as KinesisClient;
    const { app, url } = await startIngest(stream, flaky);
    try {
      const sim = simulator(url, stream, { malformedShare: 0, duplicateShare: 0 });
      sim.start();
      await until(() => sim.counters.retried > 0);
      failing = false;
      await new Promise((r) => setTimeout(r, 1_000));
      await sim.stop();
      expect(sim.counters.retried).toBeGreaterThan(0);
      expect(sim.counters.validUndelivered).toBe(0);
      const contents = classify(await readStream(stream));
      expect(contents.seqCounts.size).toBe(sim.accepted.size);
      // The first record of each failed attempt landed, and landed again on the re-send.
      expect([...contents.seqCounts.values()].some((n) => n > 1)).toBe(true);
    } finally {
      await app.close();
    }
  });
});

describe('simulator with HL7 traffic', () => {
  it('sends a share of the slots as PCD-01 over MLLP: every AA-acknowledged event is on the stream, malformed ones are refused', async () => {
    const stream = await newStream();
    const { app, url } = await startIngest(stream, kinesis);
    const harness = { kinesalite, kinesis, logs: [] as string[], emf: [] as string[], stop: async () => undefined };
    const gateway = await startGateway(harness, { streamName: stream, createStream: false });
    const sender = new Hl7Sender({ host: '127.0.0.1', port: gateway.port, connections: 2 });
    try {
      const sim = simulator(url, stream, { malformedShare: 0.1, duplicateShare: 0.05, hl7: { share: 0.3, send: (m) => sender.send(m) } });
      sim.start();
      await until(() => sim.counters.hl7Messages > 100 && sim.counters.hl7AcksAeAr > 0 && sim.hl7AcceptedEventIds.size > 50 && sim.counters.validAccepted > 200);
      await sim.stop();
      const c = sim.counters;
      expect(sim.problems).toEqual([]);
      expect(c.unexpected).toBe(0);
      expect(c.hl7Undelivered).toBe(0);
      expect(c.hl7Messages).toBeGreaterThan(100);
      expect(c.hl7Messages).toBe(c.hl7AcksAa + c.hl7AcksAeAr);
      expect(c.hl7AcksAeAr).toBeGreaterThan(0);
      const ids = new Set((await readStream(stream)).flatMap((d) => {
        try {
          return [String((JSON.parse(d.toString('utf8')) as { eventId?: string }).eventId)];
        } catch {
          return [];
        }
      }));
      expect([...sim.hl7AcceptedEventIds].filter((id) => !ids.has(id))).toEqual([]);
      expect(sim.hl7AcceptedEventIds.size).toBeGreaterThan(50);
      // JSON traffic still flows beside it.
      expect(c.validAccepted).toBeGreaterThan(200);
    } finally {
      sender.close();
      await gateway.stop();
      await app.close();
    }
  });
});
