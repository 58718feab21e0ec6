/**
 * The local event bus: an HTTP server on loopback that speaks EventBridge's PutEvents wire protocol
 * (AWS JSON 1.1, `X-Amz-Target: AWSEvents.PutEvents`), so the processor's relay runs the very SDK
 * code path it runs on AWS (@aws-sdk/client-eventbridge, endpoint override). Chosen over moto
 * server's EventBridge for `npm start`: moto needs the Python rehearsal venv (minutes to build on a
 * clean clone, a second runtime for a Node-only local run), and its PutEvents fans out through Python
 * rule matching; the local run needs PutEvents accepted at 1,000 events/s and every accepted event
 * seen (to display it and measure latency), which this bus does in-process. Like moto it does not
 * verify SigV4 signatures. Rules, archives and SNS fan-out are the AWS side's (src/infra/alert-delivery.ts).
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface BusEvent {
  readonly eventId: string;
  readonly eventBusName: string;
  readonly source: string;
  readonly detailType: string;
  readonly detail: unknown;
  /** When the bus accepted it (ms since epoch). */
  readonly acceptedAt: number;
}

export interface AlertBusOptions {
  readonly host?: string;
  readonly port?: number;
  /** Called for each accepted entry, before the answer is sent. */
  readonly onEvent?: (event: BusEvent) => void;
  /** Awaited after the entries were accepted and before answering (tests hold the answer here). */
  readonly beforeAnswer?: (events: readonly BusEvent[]) => Promise<void>;
}

export interface AlertBus {
  readonly endpoint: string;
  readonly events: BusEvent[];
  stop(): Promise<void>;
}

interface PutEventsEntry {
  EventBusName?: string;
  Source?: string;
  DetailType?: string;
  Detail?: string;
}

const MAX_BODY_BYTES = 1024 * 1024;

function answer(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > MAX_BODY_BYTES) throw new Error('request too large');
    chunks.push(c);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export async function startAlertBus(options: AlertBusOptions = {}): Promise<AlertBus> {
  const events: BusEvent[] = [];
  const server: Server = createServer((req, res) => {
    void (async () => {
      const target = req.headers['x-amz-target'];
      if (req.method !== 'POST' || target !== 'AWSEvents.PutEvents') {
        answer(res, 400, { __type: 'UnknownOperationException', message: 'only AWSEvents.PutEvents is served' });
        return;
      }
      let body: { Entries?: PutEventsEntry[] };
      try {
        body = JSON.parse(await readBody(req)) as { Entries?: PutEventsEntry[] };
      } catch {
        answer(res, 400, { __type: 'ValidationException', message: 'body must be JSON' });
        return;
      }
      const entries = body.Entries ?? [];
      if (entries.length < 1 || entries.length > 10) {
        answer(res, 400, { __type: 'ValidationException', message: 'Entries must hold 1..10 items' });
        return;
      }
      const accepted: BusEvent[] = [];
      const results = entries.map((e) => {
        let detail: unknown;
        try {
          detail = JSON.parse(e.Detail ?? '');
        } catch {
          return { ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed.' };
        }
        if (!e.Source || !e.DetailType) return { ErrorCode: 'InvalidArgument', ErrorMessage: 'Source and DetailType are required.' };
        const event: BusEvent = { eventId: randomUUID(), eventBusName: e.EventBusName ?? 'default', source: e.Source, detailType: e.DetailType, detail, acceptedAt: Date.now() };
        accepted.push(event);
        return { EventId: event.eventId };
      });
      for (const ev of accepted) {
        events.push(ev);
        options.onEvent?.(ev);
      }
      await options.beforeAnswer?.(accepted);
      answer(res, 200, { FailedEntryCount: results.filter((r) => 'ErrorCode' in r).length, Entries: results });
    })().catch(() => {
      if (!res.headersSent) answer(res, 500, { __type: 'InternalException', message: 'local bus failed' });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const { address, port } = server.address() as AddressInfo;
  return {
    endpoint: `http://${address}:${port}`,
    events,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
