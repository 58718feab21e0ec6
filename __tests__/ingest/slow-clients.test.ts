/**
 * The ingest server's HTTP edges under misbehaving clients, over real sockets: slow clients are cut
 * off within a bounded time while others are served; a body shorter than its content-length followed
 * by the client closing its side gets the documented error shape; a charset other than UTF-8 is 415.
 */
import { randomUUID } from 'node:crypto';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { CreateStreamCommand, waitUntilStreamExists, type KinesisClient } from '@aws-sdk/client-kinesis';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { kinesisClientFor } from '../../src/adapters/kinesis-client';
import { buildIngestServer } from '../../src/ingest/server';
import { startKinesalite, type KinesaliteServer } from '../../src/local/servers';

const KEY = 'slow-client-test-key';
const SLOW_CLIENTS = 20;

let kinesalite: KinesaliteServer;
let kinesis: KinesisClient;
let app: FastifyInstance;
let port: number;

function event(): Record<string, unknown> {
  return {
    schemaVersion: 1,
    eventId: randomUUID(),
    deviceId: 'monitor-7',
    patientId: 'MRN-55501234',
    facilityId: 'hospital-a',
    observedAt: new Date().toISOString(),
    vitals: { pulse: { value: 72, unit: 'bpm' } },
  };
}

beforeAll(async () => {
  kinesalite = await startKinesalite({ stateChangeMs: 0 });
  kinesis = kinesisClientFor({ region: 'eu-central-2', endpoint: kinesalite.endpoint, maxAttempts: 1 });
  await kinesis.send(new CreateStreamCommand({ StreamName: 'slow-clients', ShardCount: 1 }));
  await waitUntilStreamExists({ client: kinesis, maxWaitTime: 30, minDelay: 1, maxDelay: 1 }, { StreamName: 'slow-clients' });
  app = buildIngestServer({ kinesis, streamName: 'slow-clients', apiKeys: [KEY], logger: pino({ level: 'silent' }), requestTimeoutMs: 2_000, headersTimeoutMs: 1_000 });
  await app.listen({ host: '127.0.0.1', port: 0 });
  port = (app.server.address() as AddressInfo).port;
});

afterAll(async () => {
  await app?.close();
  kinesis?.destroy();
  await kinesalite?.stop();
});

/** Opens a raw connection, writes `text`, and resolves with everything the server sent until it closed. */
function rawExchange(write: (socket: Socket) => void): { socket: Socket; answer: Promise<{ text: string; closedAfterMs: number }> } {
  const socket = connect({ host: '127.0.0.1', port });
  const opened = Date.now();
  const answer = new Promise<{ text: string; closedAfterMs: number }>((resolve) => {
    let text = '';
    socket.on('data', (d) => (text += d.toString()));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve({ text, closedAfterMs: Date.now() - opened }));
  });
  socket.on('connect', () => write(socket));
  return { socket, answer };
}

function bodyOf(raw: string): unknown {
  return JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4));
}

test('slow clients (partial bodies, trickled headers) are answered 408 and closed within a bounded time while other clients are served', async () => {
  const body = JSON.stringify({ events: [event()] });
  const slow = Array.from({ length: SLOW_CLIENTS }, (_, i) =>
    rawExchange((s) => {
      if (i % 2 === 0) {
        // Headers, then only half the declared body, then nothing.
        s.write(`POST /v1/events HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nx-api-key: ${KEY}\r\ncontent-length: ${body.length}\r\n\r\n${body.slice(0, 20)}`);
      } else {
        s.write('POST /v1/events HTTP/1.1\r\nhost: x\r\n'); // headers never finished
      }
    }),
  );
  // Meanwhile a well-behaved client is served normally, several times.
  for (let i = 0; i < 5; i++) {
    const res = await fetch(`http://127.0.0.1:${port}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': KEY }, body: JSON.stringify({ events: [event()] }) });
    expect(res.status).toBe(200);
  }
  const answers = await Promise.all(slow.map((s) => s.answer)); // every slow connection is closed by the server
  console.log(`slow clients closed after ${answers.map((a) => a.closedAfterMs).sort((a, b) => a - b).join(', ')} ms (request timeout 2000 ms, headers 1000 ms)`);
  for (const a of answers) {
    expect(a.text).toMatch(/^HTTP\/1\.1 408 /);
    expect(bodyOf(a.text)).toEqual({ message: 'Request Timeout' });
  }
}, 60_000);

test('a body shorter than its content-length, then the client closing its side, gets the documented error shape', async () => {
  const body = JSON.stringify({ events: [event()] });
  const { answer } = rawExchange((s) => {
    s.write(`POST /v1/events HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nx-api-key: ${KEY}\r\ncontent-length: ${body.length + 50}\r\n\r\n${body}`);
    s.end(); // half-close: the server can still answer
  });
  const { text } = await answer;
  expect(text).toMatch(/^HTTP\/1\.1 400 /);
  expect(bodyOf(text)).toEqual({ message: 'Invalid request body', errors: [{ field: '', message: expect.any(String) }] });
  expect(text).not.toContain('MRN-55501234');
}, 30_000);

test.each(['utf-16', 'UTF-16LE', 'iso-8859-1', '"utf-32"'])('application/json; charset=%s is refused with 415', async (charset) => {
  const res = await fetch(`http://127.0.0.1:${port}/v1/events`, {
    method: 'POST',
    headers: { 'content-type': `application/json; charset=${charset}`, 'x-api-key': KEY },
    body: JSON.stringify({ events: [event()] }),
  });
  expect([res.status, await res.json()]).toEqual([415, { message: 'Unsupported Media Type' }]);
});

test.each(['utf-8', 'UTF-8', 'utf8', '"utf-8"'])('application/json; charset=%s is accepted', async (charset) => {
  const res = await fetch(`http://127.0.0.1:${port}/v1/events`, {
    method: 'POST',
    headers: { 'content-type': `application/json; charset=${charset}`, 'x-api-key': KEY },
    body: JSON.stringify({ events: [event()] }),
  });
  expect(res.status).toBe(200);
});
