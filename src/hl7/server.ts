/**
 * The MLLP listener: TCP or TLS (optionally requiring client certificates), one MLLP decoder per
 * connection, the pure core (`prepareMessage`) per frame, the record writer, and ACKs written back in
 * the order the messages arrived.
 *
 * Protection of the process and of other senders:
 * - frames are bounded (`maxMessageBytes`): an oversize message is answered AR and never buffered whole;
 * - per-connection backpressure: at `maxInFlightPerConnection` unanswered messages the connection stops
 *   being read, and a client that does not read its ACKs (socket buffer full) is not read either;
 * - a frame must complete within `frameTimeoutMs` (a stalled or slow-dripping sender is disconnected)
 *   and an idle connection is closed after `idleTimeoutMs` (below the NLB's 350 s TCP idle timeout, so
 *   the gateway closes cleanly instead of the load balancer dropping the flow silently);
 * - at most `maxConnections` connections.
 * Logs carry connection ids, remote addresses, outcomes and reason codes: never message content.
 */
import { createServer as createTcpServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import type { EmfMetrics } from '../adapters/emf';
import type { Logger } from '../adapters/logger';
import type { AckIdentity, Outcome } from './ack';
import type { Issue } from './issues';
import { MllpDecoder, mllpFrame, type MllpEvent } from './mllp';
import { readMessageHeader, type MessageHeader } from './pcd01';
import { acknowledgements, decodePayload, oversizeIssue, prepareMessage, STREAM_UNAVAILABLE, type Prepared } from './prepare';
import type { RecordWriter } from './record-writer';

export type GatewayMetric =
  | 'MessagesReceived'
  | 'AcksAA'
  | 'AcksAE'
  | 'AcksAR'
  | 'RecordsPut'
  | 'PutCalls'
  | 'PutRecordFailures'
  | 'UnsupportedCodes'
  | 'ObservationsSkippedByStatus'
  | 'OversizeMessages'
  | 'GarbageBytes'
  | 'ConnectionsOpened'
  | 'ConnectionErrors'
  | 'ConnectionsOpen'
  | 'AckLatencyMs'
  | 'AckLatencyExcludingPutMs'
  | 'PutLatencyMs';

export const GATEWAY_METRIC_UNITS: Readonly<Record<GatewayMetric, 'Count' | 'Milliseconds'>> = {
  MessagesReceived: 'Count',
  AcksAA: 'Count',
  AcksAE: 'Count',
  AcksAR: 'Count',
  RecordsPut: 'Count',
  PutCalls: 'Count',
  PutRecordFailures: 'Count',
  UnsupportedCodes: 'Count',
  ObservationsSkippedByStatus: 'Count',
  OversizeMessages: 'Count',
  GarbageBytes: 'Count',
  ConnectionsOpened: 'Count',
  ConnectionErrors: 'Count',
  ConnectionsOpen: 'Count',
  AckLatencyMs: 'Milliseconds',
  AckLatencyExcludingPutMs: 'Milliseconds',
  PutLatencyMs: 'Milliseconds',
};

export interface TlsSettings {
  readonly key: string | Buffer;
  readonly cert: string | Buffer;
  /** CA bundle for client certificates; when set, clients must present a certificate it signed. */
  readonly clientCa?: string | Buffer;
}

export interface GatewayOptions {
  readonly host: string;
  readonly port: number;
  readonly tls?: TlsSettings;
  readonly writer: RecordWriter;
  readonly logger: Logger;
  readonly metrics: EmfMetrics<GatewayMetric>;
  /** @default 1 MiB */
  readonly maxMessageBytes?: number;
  /** @default 300000 (5 min) */
  readonly idleTimeoutMs?: number;
  /** @default 30000 */
  readonly frameTimeoutMs?: number;
  /** @default 64 */
  readonly maxInFlightPerConnection?: number;
  /** @default 1000 */
  readonly maxConnections?: number;
  readonly localTimeZone?: string;
  readonly ackIdentity?: AckIdentity;
  readonly now?: () => Date;
  /** Observes every answered message (tests, the local runner's counts). */
  readonly onAnswered?: (e: AnsweredMessage) => void;
}

export interface AnsweredMessage {
  readonly outcome: Outcome;
  readonly records: number;
  readonly ackLatencyMs: number;
  readonly putMs: number;
}

export const DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024;
export const DEFAULT_IDLE_TIMEOUT_MS = 300_000;
export const DEFAULT_FRAME_TIMEOUT_MS = 30_000;
export const DEFAULT_MAX_IN_FLIGHT_PER_CONNECTION = 64;
export const DEFAULT_MAX_CONNECTIONS = 1000;

interface Connection {
  readonly id: number;
  readonly socket: Socket;
  inFlight: number;
  /** Resolves once every ACK so far has been written. */
  chain: Promise<void>;
  /** Frames received while at the in-flight limit (at most one read's worth: reading is paused). */
  readonly pending: MllpEvent[];
  readPaused: boolean;
  waitingDrain: boolean;
  frameTimer?: NodeJS.Timeout;
}

const ACK_OUTCOME_METRIC: Readonly<Record<Outcome, GatewayMetric>> = { accepted: 'AcksAA', error: 'AcksAE', rejected: 'AcksAR' };

export class MllpGateway {
  private server?: Server;
  private readonly connections = new Map<number, Connection>();
  private nextConnectionId = 1;
  private ackSequence = 0;
  private stopping = false;
  private readonly ackPrefix = `VP${Date.now().toString(36).toUpperCase()}`;

  constructor(private readonly options: GatewayOptions) {}

  get listening(): boolean {
    return Boolean(this.server?.listening) && !this.stopping;
  }

  get openConnections(): number {
    return this.connections.size;
  }

  async start(): Promise<{ host: string; port: number }> {
    const onSocket = (socket: Socket): void => this.accept(socket);
    const server: Server = this.options.tls
      ? createTlsServer(
          {
            key: this.options.tls.key,
            cert: this.options.tls.cert,
            minVersion: 'TLSv1.2',
            ...(this.options.tls.clientCa ? { ca: this.options.tls.clientCa, requestCert: true, rejectUnauthorized: true } : {}),
            handshakeTimeout: 10_000,
          },
          onSocket,
        )
      : createTcpServer(onSocket);
    server.maxConnections = this.options.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
    server.on('tlsClientError', (err: Error & { code?: string }) => {
      this.options.metrics.count('ConnectionErrors');
      this.options.logger.warn({ code: err.code ?? err.name }, 'TLS handshake failed');
    });
    server.on('drop', () => {
      this.options.metrics.count('ConnectionErrors');
      this.options.logger.warn({ maxConnections: server.maxConnections }, 'connection refused: too many connections');
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.port, this.options.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    const address = server.address() as AddressInfo;
    return { host: address.address, port: address.port };
  }

  /** Stops accepting, answers every message already received, then closes connections (or at the deadline). */
  async stop(deadlineMs = 20_000): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    const closed = new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    for (const c of this.connections.values()) c.socket.pause();
    const answered = Promise.all([...this.connections.values()].map((c) => c.chain));
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, deadlineMs);
    });
    await Promise.race([answered, deadline]);
    clearTimeout(timer);
    for (const c of this.connections.values()) c.socket.end();
    // Sockets that do not close after end() (peer not reading) are destroyed after a grace period.
    let grace: NodeJS.Timeout | undefined;
    await Promise.race([closed, new Promise<void>((r) => (grace = setTimeout(r, 2_000)))]);
    clearTimeout(grace);
    for (const c of this.connections.values()) c.socket.destroy();
    // Resolve only once every socket has closed (and logged it): callers close the log after this.
    const end = Date.now() + 2_000;
    while (this.connections.size > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
  }

  private accept(socket: Socket): void {
    const { metrics, logger } = this.options;
    const id = this.nextConnectionId++;
    const c: Connection = { id, socket, inFlight: 0, chain: Promise.resolve(), pending: [], readPaused: false, waitingDrain: false };
    this.connections.set(id, c);
    metrics.count('ConnectionsOpened');
    metrics.gauge('ConnectionsOpen', this.connections.size);
    const tls = (socket as TLSSocket).encrypted === true;
    logger.info({ connection: id, remote: socket.remoteAddress, tls, ...(tls ? { clientCertificate: (socket as TLSSocket).authorized } : {}) }, 'connection opened');
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 60_000);
    socket.setTimeout(this.options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS);
    const decoder = new MllpDecoder(this.options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES);

    socket.on('data', (chunk: Buffer) => {
      if (this.stopping) return;
      for (const event of decoder.push(chunk)) this.onEvent(c, event);
      this.watchFrame(c, decoder.midFrame);
    });
    socket.on('timeout', () => {
      if (c.inFlight > 0) return; // answering takes time; not idle
      logger.info({ connection: id }, 'idle connection closed');
      socket.end();
    });
    socket.on('drain', () => {
      c.waitingDrain = false;
      this.updateReading(c);
    });
    socket.on('error', (err: Error & { code?: string }) => {
      metrics.count('ConnectionErrors');
      logger.warn({ connection: id, code: err.code ?? err.name }, 'connection error');
    });
    socket.on('close', () => {
      if (c.frameTimer) clearTimeout(c.frameTimer);
      this.connections.delete(id);
      metrics.gauge('ConnectionsOpen', this.connections.size);
      logger.info({ connection: id, unanswered: c.inFlight }, 'connection closed');
    });
  }

  /** A frame that has started must end within frameTimeoutMs. */
  private watchFrame(c: Connection, midFrame: boolean): void {
    if (!midFrame) {
      if (c.frameTimer) clearTimeout(c.frameTimer);
      c.frameTimer = undefined;
      return;
    }
    if (c.frameTimer) return;
    c.frameTimer = setTimeout(() => {
      this.options.metrics.count('ConnectionErrors');
      this.options.logger.warn({ connection: c.id, frameTimeoutMs: this.options.frameTimeoutMs ?? DEFAULT_FRAME_TIMEOUT_MS }, 'message not completed in time; connection closed');
      c.socket.destroy();
    }, this.options.frameTimeoutMs ?? DEFAULT_FRAME_TIMEOUT_MS);
  }

  private onEvent(c: Connection, event: MllpEvent): void {
    if (event.kind === 'garbage') {
      this.options.metrics.count('GarbageBytes', event.bytes);
      this.options.logger.warn({ connection: c.id, bytes: event.bytes }, 'bytes outside an MLLP frame ignored');
      return;
    }
    this.options.metrics.count('MessagesReceived');
    if (c.inFlight >= this.maxInFlight()) {
      c.pending.push(event);
      this.updateReading(c);
      return;
    }
    this.handleFrame(c, event);
  }

  private maxInFlight(): number {
    return this.options.maxInFlightPerConnection ?? DEFAULT_MAX_IN_FLIGHT_PER_CONNECTION;
  }

  /** Starts handling a frame at once (parsing and the put run concurrently); its ACK waits its turn. */
  private handleFrame(c: Connection, event: Exclude<MllpEvent, { kind: 'garbage' }>): void {
    const received = performance.now();
    let readyAt = received;
    const work: Promise<{ acks: string[]; outcome: Outcome; records: number; putMs: number }> = (
      event.kind === 'oversize' ? Promise.resolve(this.answerOversize(event.head)) : this.process(event.payload)
    ).then((r) => {
      readyAt = performance.now();
      return r;
    });
    c.inFlight++;
    this.updateReading(c);
    c.chain = c.chain.then(async () => {
      let result: Awaited<typeof work>;
      // This message's turn: its own work done and every earlier ACK of the connection written.
      let turnAt: number;
      try {
        result = await work;
        turnAt = performance.now();
      } catch (err) {
        // A bug, not the message: answer AR so the sender keeps the message and resends.
        this.options.logger.error({ connection: c.id, err: { name: (err as Error).name } }, 'message handling failed');
        result = { acks: acknowledgements(undefined, 'rejected', [STREAM_UNAVAILABLE], this.ackContext()), outcome: 'rejected', records: 0, putMs: 0 };
        turnAt = readyAt = performance.now();
      }
      for (const ack of result.acks) {
        if (!c.socket.destroyed && !c.socket.write(mllpFrame(ack))) c.waitingDrain = true;
      }
      const writtenAt = performance.now();
      const ackLatencyMs = Math.round((writtenAt - received) * 100) / 100;
      // The gateway's own time: before the put, and from its turn to the ACK written. Excluded: this
      // message's PutRecords wait and waiting for earlier messages' ACKs (their PutRecords waits).
      const ownMs = Math.max(0, readyAt - received - result.putMs) + (writtenAt - turnAt);
      this.options.metrics.count(ACK_OUTCOME_METRIC[result.outcome]);
      this.options.metrics.observe('AckLatencyMs', ackLatencyMs);
      this.options.metrics.observe('AckLatencyExcludingPutMs', Math.round(ownMs * 100) / 100);
      this.options.onAnswered?.({ outcome: result.outcome, records: result.records, ackLatencyMs, putMs: result.putMs });
      c.inFlight--;
      while (c.pending.length > 0 && c.inFlight < this.maxInFlight()) this.handleFrame(c, c.pending.shift() as Exclude<MllpEvent, { kind: 'garbage' }>);
      this.updateReading(c);
    });
  }

  private updateReading(c: Connection): void {
    const shouldPause = c.inFlight >= this.maxInFlight() || c.pending.length > 0 || c.waitingDrain || this.stopping;
    if (shouldPause && !c.readPaused) {
      c.readPaused = true;
      c.socket.pause();
    } else if (!shouldPause && c.readPaused) {
      c.readPaused = false;
      c.socket.resume();
    }
  }

  private ackContext() {
    return {
      now: (this.options.now ?? (() => new Date()))(),
      nextControlId: () => `${this.ackPrefix}${(++this.ackSequence).toString(36).toUpperCase()}`,
      ...(this.options.ackIdentity ? { identity: this.options.ackIdentity } : {}),
    };
  }

  private answerOversize(head: Buffer): { acks: string[]; outcome: Outcome; records: number; putMs: number } {
    this.options.metrics.count('OversizeMessages');
    const header: MessageHeader | undefined = readMessageHeader(decodePayload(head));
    const max = this.options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    this.options.logger.warn({ reason: 'oversize', maxMessageBytes: max }, 'message rejected');
    return { acks: acknowledgements(header, 'rejected', [oversizeIssue(max)], this.ackContext()), outcome: 'rejected', records: 0, putMs: 0 };
  }

  private async process(payload: Buffer): Promise<{ acks: string[]; outcome: Outcome; records: number; putMs: number }> {
    const { metrics, logger } = this.options;
    const now = (this.options.now ?? (() => new Date()))();
    const prepared: Prepared = prepareMessage(payload, { now, ...(this.options.localTimeZone ? { localTimeZone: this.options.localTimeZone } : {}) });
    metrics.count('UnsupportedCodes', prepared.counts.unsupported);
    metrics.count('ObservationsSkippedByStatus', prepared.counts.statusSkipped);
    if (prepared.kind === 'answer') {
      logger.warn({ outcome: prepared.outcome, reason: prepared.reason, errors: prepared.issues.filter((i) => i.severity === 'E').length }, 'message not accepted');
      return { acks: acknowledgements(prepared.header, prepared.outcome, prepared.issues, this.ackContext()), outcome: prepared.outcome, records: 0, putMs: 0 };
    }
    if (prepared.records.length === 0) {
      return { acks: acknowledgements(prepared.header, 'accepted', prepared.issues, this.ackContext()), outcome: 'accepted', records: 0, putMs: 0 };
    }
    const put = await this.options.writer.put(prepared.records);
    metrics.observe('PutLatencyMs', put.putMs);
    if (!put.ok) {
      logger.warn({ reason: 'stream-unavailable', records: prepared.records.length, errorCodes: put.errorCodes, putMs: put.putMs }, 'message not stored; answered AR');
      const issues: Issue[] = [STREAM_UNAVAILABLE, ...prepared.issues];
      return { acks: acknowledgements(prepared.header, 'rejected', issues, this.ackContext()), outcome: 'rejected', records: 0, putMs: put.putMs };
    }
    metrics.count('RecordsPut', prepared.records.length);
    return { acks: acknowledgements(prepared.header, 'accepted', prepared.issues, this.ackContext()), outcome: 'accepted', records: prepared.records.length, putMs: put.putMs };
  }
}
