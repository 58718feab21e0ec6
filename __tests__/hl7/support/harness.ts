/**
 * Test support for the HL7 gateway: kinesalite, a stream, the gateway in-process with its real record
 * writer, captured logs and metrics, a raw MLLP client (for pipelining and misbehaving senders) and a
 * stream reader.
 */
import { randomUUID } from 'node:crypto';
import { connect as tcpConnect, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  ListShardsCommand,
  type KinesisClient,
} from '@aws-sdk/client-kinesis';
import { EmfMetrics } from '../../../src/adapters/emf';
import { kinesisClientFor } from '../../../src/adapters/kinesis-client';
import { createLogger } from '../../../src/adapters/logger';
import { parseAck, type ParsedAck } from '../../../src/hl7/ack';
import { MllpDecoder, mllpFrame } from '../../../src/hl7/mllp';
import { KinesisRecordWriter, type RecordWriter } from '../../../src/hl7/record-writer';
import { GATEWAY_METRIC_UNITS, MllpGateway, type GatewayMetric, type GatewayOptions } from '../../../src/hl7/server';
import { startKinesalite, type KinesaliteServer } from '../../../src/local/servers';
import type { DeviceEvent } from '../../../src/schema';

export async function createStream(kinesis: KinesisClient, name: string, shards = 1): Promise<void> {
  await kinesis.send(new CreateStreamCommand({ StreamName: name, ShardCount: shards }));
  for (let i = 0; i < 100; i++) {
    const s = await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: name }));
    if (s.StreamDescriptionSummary?.StreamStatus === 'ACTIVE') return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`stream ${name} did not become ACTIVE`);
}

/** Every record on the stream, decoded as events, with partition keys. */
export async function readStream(kinesis: KinesisClient, name: string): Promise<Array<{ event: DeviceEvent; partitionKey: string }>> {
  const shards = (await kinesis.send(new ListShardsCommand({ StreamName: name }))).Shards ?? [];
  const out: Array<{ event: DeviceEvent; partitionKey: string }> = [];
  for (const shard of shards) {
    let iterator = (await kinesis.send(new GetShardIteratorCommand({ StreamName: name, ShardId: shard.ShardId, ShardIteratorType: 'TRIM_HORIZON' }))).ShardIterator;
    for (let i = 0; iterator && i < 50; i++) {
      const r = await kinesis.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 10_000 }));
      for (const rec of r.Records ?? []) out.push({ event: JSON.parse(Buffer.from(rec.Data as Uint8Array).toString()) as DeviceEvent, partitionKey: rec.PartitionKey as string });
      if ((r.Records ?? []).length === 0) break;
      iterator = r.NextShardIterator;
    }
  }
  return out;
}

export interface Harness {
  readonly kinesalite: KinesaliteServer;
  readonly kinesis: KinesisClient;
  readonly logs: string[];
  readonly emf: string[];
  stop(): Promise<void>;
}

export async function startHarness(): Promise<Harness> {
  const kinesalite = await startKinesalite();
  const kinesis = kinesisClientFor({ region: 'eu-central-2', endpoint: kinesalite.endpoint });
  return {
    kinesalite,
    kinesis,
    logs: [],
    emf: [],
    stop: async () => {
      kinesis.destroy();
      await kinesalite.stop();
    },
  };
}

export interface RunningTestGateway {
  readonly gateway: MllpGateway;
  readonly port: number;
  readonly streamName: string;
  readonly metrics: EmfMetrics<GatewayMetric>;
  stop(): Promise<void>;
}

/** A gateway on a fresh stream (or on `streamName`, which may not exist). */
export async function startGateway(
  h: Harness,
  options: Partial<GatewayOptions> & { streamName?: string; createStream?: boolean; writerFor?: (kinesis: KinesisClient, stream: string) => RecordWriter } = {},
): Promise<RunningTestGateway> {
  const streamName = options.streamName ?? `hl7-${randomUUID().slice(0, 8)}`;
  if (options.createStream !== false) await createStream(h.kinesis, streamName);
  const logger = createLogger(
    { level: 'debug', base: { service: 'vitals-hl7-gateway' } },
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        h.logs.push(chunk.toString());
        cb();
      },
    }) as unknown as Parameters<typeof createLogger>[1],
  );
  const metrics = new EmfMetrics<GatewayMetric>({ service: 'vitals-hl7-gateway', environment: 'test', units: GATEWAY_METRIC_UNITS, write: (l) => h.emf.push(l) });
  const writer = options.writerFor ? options.writerFor(h.kinesis, streamName) : new KinesisRecordWriter({ kinesis: h.kinesis, streamName, deadlineMs: 2_000 });
  const gateway = new MllpGateway({ host: '127.0.0.1', port: 0, writer, logger, metrics, ...options });
  const { port } = await gateway.start();
  return { gateway, port, streamName, metrics, stop: () => gateway.stop(2_000) };
}

/** A raw MLLP client: writes frames as given, collects ACKs as they arrive. */
export class RawClient {
  readonly acks: ParsedAck[] = [];
  readonly raw: string[] = [];
  closed = false;
  private readonly decoder = new MllpDecoder(1024 * 1024);
  private waiters: Array<() => void> = [];

  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      for (const ev of this.decoder.push(chunk)) {
        if (ev.kind !== 'frame') continue;
        const text = ev.payload.toString();
        this.raw.push(text);
        this.acks.push(parseAck(text));
      }
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', () => undefined);
  }

  static async connect(port: number, tls?: ConnectionOptions): Promise<RawClient> {
    const socket = tls ? tlsConnect({ host: '127.0.0.1', port, ...tls }) : tcpConnect({ host: '127.0.0.1', port });
    await new Promise<void>((resolve, reject) => {
      socket.once(tls ? 'secureConnect' : 'connect', () => resolve());
      socket.once('error', reject);
    });
    return new RawClient(socket);
  }

  send(...messages: string[]): void {
    this.socket.write(Buffer.concat(messages.map((m) => mllpFrame(m))));
  }

  writeRaw(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    w.forEach((f) => f());
  }

  /** Waits until `n` ACKs arrived (or the connection closed, or the timeout). */
  async waitForAcks(n: number, timeoutMs = 10_000): Promise<ParsedAck[]> {
    const end = Date.now() + timeoutMs;
    while (this.acks.length < n && !this.closed && Date.now() < end) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.max(1, end - Date.now()));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return this.acks.slice(0, n);
  }

  async waitForClose(timeoutMs = 10_000): Promise<boolean> {
    const end = Date.now() + timeoutMs;
    while (!this.closed && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    return this.closed;
  }

  close(): void {
    this.socket.destroy();
  }
}

/** Resolves when `check` holds, polling; fails after the timeout. */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error('condition not met in time');
}
