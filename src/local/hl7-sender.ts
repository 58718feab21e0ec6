/**
 * The simulator's HL7 side: an integration engine's MLLP client. A few long-lived connections to the
 * gateway, messages pipelined on each (ACKs come back in order), one answer per send: the parsed ACK,
 * or undefined when the connection dropped or no ACK came in time (the caller resends, as engines
 * do, with the same control id). Reconnects lazily.
 */
import { connect, type Socket } from 'node:net';
import { parseAck, type ParsedAck } from '../hl7/ack';
import { MllpDecoder, mllpFrame } from '../hl7/mllp';

export interface Hl7SenderOptions {
  readonly host: string;
  readonly port: number;
  /** @default 4 */
  readonly connections?: number;
  /** Unanswered messages per connection before a send waits. @default 32 */
  readonly maxInFlightPerConnection?: number;
  /** @default 15000 */
  readonly ackTimeoutMs?: number;
}

interface Pending {
  readonly resolve: (ack: ParsedAck | undefined) => void;
  readonly timer: NodeJS.Timeout;
}

class Connection {
  private socket?: Socket;
  private connecting?: Promise<Socket | undefined>;
  private decoder = new MllpDecoder(1024 * 1024);
  readonly pending: Pending[] = [];

  constructor(private readonly options: Required<Hl7SenderOptions>) {}

  get inFlight(): number {
    return this.pending.length;
  }

  private open(): Promise<Socket | undefined> {
    if (this.socket && !this.socket.destroyed) return Promise.resolve(this.socket);
    this.connecting ??= new Promise<Socket | undefined>((resolve) => {
      const s = connect({ host: this.options.host, port: this.options.port });
      s.setNoDelay(true);
      s.once('connect', () => {
        this.socket = s;
        this.decoder = new MllpDecoder(1024 * 1024);
        resolve(s);
      });
      s.on('data', (chunk: Buffer) => {
        for (const ev of this.decoder.push(chunk)) {
          if (ev.kind !== 'frame') continue;
          const p = this.pending.shift();
          if (!p) continue;
          clearTimeout(p.timer);
          p.resolve(parseAck(ev.payload.toString('utf8')));
        }
      });
      s.on('error', () => undefined);
      s.on('close', () => {
        if (this.socket === s) this.socket = undefined;
        this.failAll();
        resolve(undefined);
      });
    }).finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  /** Answers every unanswered message "no ACK": the caller resends. */
  private failAll(): void {
    for (const p of this.pending.splice(0)) {
      clearTimeout(p.timer);
      p.resolve(undefined);
    }
  }

  async send(message: string): Promise<ParsedAck | undefined> {
    const socket = await this.open();
    if (!socket) return undefined;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        // Without an ACK in time the connection's order is unknown: drop it, as engines do.
        socket.destroy();
      }, this.options.ackTimeoutMs);
      this.pending.push({ resolve, timer });
      socket.write(mllpFrame(message));
    });
  }

  close(): void {
    this.socket?.destroy();
    this.failAll();
  }
}

export class Hl7Sender {
  private readonly connections: Connection[];
  private readonly options: Required<Hl7SenderOptions>;
  private waiters: Array<() => void> = [];

  constructor(options: Hl7SenderOptions) {
    this.options = { connections: 4, maxInFlightPerConnection: 32, ackTimeoutMs: 15_000, ...options };
    this.connections = Array.from({ length: this.options.connections }, () => new Connection(this.options));
  }

  /** Unanswered messages over all connections. */
  get inFlight(): number {
    return this.connections.reduce((n, c) => n + c.inFlight, 0);
  }

  /** Sends one message on the least busy connection (waiting for room); resolves with its ACK or undefined. */
  async send(message: string): Promise<ParsedAck | undefined> {
    for (;;) {
      const c = this.connections.reduce((a, b) => (b.inFlight < a.inFlight ? b : a));
      if (c.inFlight < this.options.maxInFlightPerConnection) {
        return c.send(message).finally(() => this.wake());
      }
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    w.forEach((f) => f());
  }

  close(): void {
    this.connections.forEach((c) => c.close());
    this.wake();
  }
}
