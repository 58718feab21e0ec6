/**
 * Contract tests of the local ingest API against a real Kinesis-compatible server (kinesalite),
 * started here: the same cases API Gateway must satisfy on AWS.
 */
import { Writable } from 'node:stream';
import type { AddressInfo } from 'node:net';
import {
  CreateStreamCommand, GetRecordsCommand, GetShardIteratorCommand, ListShardsCommand, PutRecordsCommand,
  waitUntilStreamExists, type KinesisClient, type PutRecordsResultEntry,
} from '@aws-sdk/client-kinesis';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { buildIngestServer, DEFAULT_MAX_BODY_BYTES, type IngestServerOptions } from '../../src/ingest/server';
import { kinesisClientFor } from '../../src/adapters/kinesis-client';
import { startKinesalite, type KinesaliteServer } from '../../src/local/servers';


const KEY = 'test-key-0123456789';
const OTHER_KEY = 'test-key-other';
const PATIENTS = ['MRN-40417731', 'MRN-40417732', 'MRN-40417733'];

let kinesalite: KinesaliteServer;
let kinesis: KinesisClient;
let streamCounter = 0;

/** Every log line of every server built in this file. */
const logLines: string[] = [];
const logSink = new Writable({
  write(chunk: Buffer, _enc, cb) {
    logLines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    cb();
  },
});

async function createStream(shards = 2): Promise<string> {
  const name = `ingest-contract-${++streamCounter}`;
  await kinesis.send(new CreateStreamCommand({ StreamName: name, ShardCount: shards }));
  await waitUntilStreamExists({ client: kinesis, maxWaitTime: 30, minDelay: 1, maxDelay: 1 }, { StreamName: name });
  return name;
}

interface StoredRecord { shardId: string; partitionKey: string; sequence: string; data: unknown }

async function readStream(streamName: string): Promise<StoredRecord[]> {
  const out: StoredRecord[] = [];
  const { Shards = [] } = await kinesis.send(new ListShardsCommand({ StreamName: streamName }));
  for (const shard of Shards) {
    const it = await kinesis.send(new GetShardIteratorCommand({ StreamName: streamName, ShardId: shard.ShardId, ShardIteratorType: 'TRIM_HORIZON' }));
    let iterator = it.ShardIterator;
    for (;;) {
      const page = await kinesis.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 10_000 }));
      for (const r of page.Records ?? []) {
        out.push({
          shardId: shard.ShardId as string, partitionKey: r.PartitionKey as string, sequence: r.SequenceNumber as string,
          data: JSON.parse(Buffer.from(r.Data as Uint8Array).toString('utf8')),
        });
      }
      if (!page.Records?.length || !page.NextShardIterator) break;
      iterator = page.NextShardIterator;
    }
  }
  return out;
}

function event(i: number, over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    schemaVersion: 1, eventId: `6f1c2a4e-0000-4000-8000-${String(i).padStart(12, '0')}`, deviceId: `monitor-${i % 4}`,
    patientId: PATIENTS[i % PATIENTS.length], facilityId: 'hospital-1.ward-3', observedAt: '2026-03-01T10:00:00.000Z',
    vitals: {
      pulse: { value: 70 + (i % 20), unit: 'bpm' }, respirationRate: { value: 16, unit: 'breaths/min' },
      spo2: { value: 97, unit: '%' }, systolicBp: { value: 121, unit: 'mmHg' }, temperature: { value: 36.9, unit: 'Cel' },
      consciousness: 'A',
    },
    ...over,
  };
}

const batch = (events: unknown[]) => ({ events });

function server(overrides: Partial<IngestServerOptions> & { streamName: string }): FastifyInstance {
  return buildIngestServer({
    kinesis, apiKeys: [KEY, OTHER_KEY], logger: pino({ level: 'debug' }, logSink), ...overrides,
  });
}

/** A server listening on a free loopback port (fastify's inject needs an ESM-only dependency jest cannot load). */
interface Running { app: FastifyInstance; url: string; close(): Promise<void> }

async function start(overrides: Partial<IngestServerOptions> & { streamName: string }): Promise<Running> {
  const app = server(overrides);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  return { app, url, close: () => app.close() };
}

interface Answer { statusCode: number; headers: Headers; body: string; json(): unknown }

async function request(srv: Running, method: string, path: string, headers: Record<string, string>, body?: string | Uint8Array): Promise<Answer> {
  const res = await fetch(`${srv.url}${path}`, { method, headers, body });
  const text = await res.text();
  return { statusCode: res.status, headers: res.headers, body: text, json: () => JSON.parse(text) as unknown };
}

function post(srv: Running, body: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const all: Record<string, string> = { 'content-type': 'application/json', 'x-api-key': KEY, ...headers };
  for (const [k, v] of Object.entries(headers)) if (v === OMIT) delete all[k];
  return request(srv, 'POST', '/v1/events', all, typeof body === 'string' ? body : JSON.stringify(body));
}

/** Header value meaning "do not send this header". */
const OMIT = '\u0000omit';

beforeAll(async () => {
  kinesalite = await startKinesalite({ stateChangeMs: 0 });
  kinesis = kinesisClientFor({ region: 'eu-central-2', endpoint: kinesalite.endpoint, maxAttempts: 1 });
});

afterAll(async () => {
  kinesis?.destroy();
  await kinesalite?.stop();
});

describe('POST /v1/events with a valid batch', () => {
  let streamName: string;
  let app: Running;

  beforeAll(async () => {
    streamName = await createStream(2);
    app = await start({ streamName });
  });
  afterAll(() => app.close());

  it('answers 200 with the count and lands every event in the stream as one record, keyed by device id', async () => {
    const events = Array.from({ length: 40 }, (_, i) => event(i));
    const res = await post(app, batch(events));
    expect([res.statusCode, res.json()]).toEqual([200, { accepted: 40, FailedRecordCount: 0, failed: [], requestId: expect.any(String) }]);

    const stored = await readStream(streamName);
    expect(stored).toHaveLength(40);
    const byId = new Map(stored.map((r) => [(r.data as { eventId: string }).eventId, r]));
    for (const e of events) {
      const r = byId.get(e.eventId as string);
      expect(r?.data).toEqual(e);
      expect(r?.partitionKey).toBe(e.deviceId);
    }
    // Records of one device share a shard and keep the batch order there.
    for (const device of ['monitor-0', 'monitor-1', 'monitor-2', 'monitor-3']) {
      const records = stored.filter((r) => r.partitionKey === device).sort((a, b) => (BigInt(a.sequence) < BigInt(b.sequence) ? -1 : 1));
      expect(new Set(records.map((r) => r.shardId)).size).toBe(1);
      expect(records.map((r) => (r.data as { eventId: string }).eventId)).toEqual(
        events.filter((e) => e.deviceId === device).map((e) => e.eventId),
      );
    }
  });

  it('accepts a charset parameter on the JSON content type', async () => {
    const res = await post(app, batch([event(100)]), { 'content-type': 'application/json; charset=utf-8' });
    expect([res.statusCode, res.json()]).toEqual([200, { accepted: 1, FailedRecordCount: 0, failed: [], requestId: expect.any(String) }]);
  });

  it('accepts a batch of exactly 500 events', async () => {
    const res = await post(app, batch(Array.from({ length: 500 }, (_, i) => event(1000 + i))));
    expect([res.statusCode, res.json()]).toEqual([200, { accepted: 500, FailedRecordCount: 0, failed: [], requestId: expect.any(String) }]);
  });
});

describe('POST /v1/events with an invalid body', () => {
  let streamName: string;
  let app: Running;

  beforeAll(async () => {
    streamName = await createStream(1);
    app = await start({ streamName });
  });
  afterAll(() => app.close());
  afterAll(async () => {
    // A rejected batch writes nothing, not even its valid events.
    expect(await readStream(streamName)).toEqual([]);
  });

  const vitals = (v: Record<string, unknown>) => ({ ...(event(0).vitals as object), ...v });
  it.each<[string, Record<string, unknown>, string]>([
    ['a missing event id', { eventId: undefined }, '/events/1/eventId'],
    ['an event id that is not a UUID', { eventId: 'evt-1' }, '/events/1/eventId'],
    ['an unsupported schema version', { schemaVersion: 2 }, '/events/1/schemaVersion'],
    ['an empty device id', { deviceId: '' }, '/events/1/deviceId'],
    ['a patient id with a space', { patientId: 'MRN 40417731' }, '/events/1/patientId'],
    ['a missing facility id', { facilityId: undefined }, '/events/1/facilityId'],
    ['a timestamp without an offset', { observedAt: '2026-03-01T10:00:00' }, '/events/1/observedAt'],
    ['no vital signs', { vitals: {} }, '/events/1/vitals'],
    ['an unknown property (never named: it could be a patient id)', { ward: '3' }, '/events/1'],
    ['a pulse above the schema bound', { vitals: vitals({ pulse: { value: 301, unit: 'bpm' } }) }, '/events/1/vitals/pulse/value'],
    ['a pulse as a string', { vitals: vitals({ pulse: { value: '72', unit: 'bpm' } }) }, '/events/1/vitals/pulse/value'],
    ['an unknown unit', { vitals: vitals({ temperature: { value: 37, unit: 'C' } }) }, '/events/1/vitals/temperature/unit'],
    ['a missing unit', { vitals: vitals({ systolicBp: { value: 120 } }) }, '/events/1/vitals/systolicBp/unit'],
    ['an SpO2 scale of 3', { vitals: vitals({ spo2: { value: 95, unit: '%', scale: 3 } }) }, '/events/1/vitals/spo2/scale'],
    ['an unknown consciousness code', { vitals: vitals({ consciousness: 'alert' }) }, '/events/1/vitals/consciousness'],
    ['supplemental oxygen as text', { vitals: vitals({ supplementalOxygen: 'yes' }) }, '/events/1/vitals/supplementalOxygen'],
    ['an unknown vital sign', { vitals: vitals({ heartRate: { value: 70, unit: 'bpm' } }) }, '/events/1/vitals'],
  ])('answers 400 naming the field for %s', async (_name, change, field) => {
    const bad = event(1, change);
    const res = await post(app, batch([event(0), bad, event(2)]));
    expect(res.statusCode).toBe(400);
    const body = res.json() as { message: string; errors: Array<{ field: string; message: string }> };
    expect(body.message).toBe('Invalid request body');
    expect(body.errors.map((e) => e.field)).toContain(field);
    expect(body.errors.every((e) => e.field === '/events/1' || e.field.startsWith('/events/1/'))).toBe(true);
  });

  it('answers 400 naming /events for a batch of 501 events', async () => {
    const res = await post(app, batch(Array.from({ length: 501 }, (_, i) => event(i))));
    expect([res.statusCode, res.json()]).toEqual([400, { message: 'Invalid request body', errors: [{ field: '/events', message: 'must have at most 500 items' }] }]);
  });

  it('answers 400 naming /events for an empty batch', async () => {
    const res = await post(app, batch([]));
    expect(res.json()).toEqual({ message: 'Invalid request body', errors: [{ field: '/events', message: 'must have at least 1 items' }] });
  });

  it('answers 400 for a body that is not JSON, without quoting it', async () => {
    const res = await post(app, `{"events":[{"patientId":"${PATIENTS[0]}",`);
    expect([res.statusCode, res.json()]).toEqual([400, { message: 'Invalid request body', errors: [{ field: '', message: 'body is not valid JSON' }] }]);
  });

  it('never echoes a submitted value in the 400 answer', async () => {
    const res = await post(app, batch([event(0, { patientId: `${PATIENTS[1]} `, vitals: { pulse: { value: 987.6, unit: 'bpm' } } })]));
    expect(res.statusCode).toBe(400);
    expect(res.body).not.toContain(PATIENTS[1]);
    expect(res.body).not.toContain('987.6');
  });

  it('answers 415 for a body that is not JSON by content type', async () => {
    const res = await post(app, 'events=1', { 'content-type': 'application/x-www-form-urlencoded' });
    expect([res.statusCode, res.json()]).toEqual([415, { message: 'Unsupported Media Type' }]);
    const plain = await post(app, JSON.stringify(batch([event(0)])), { 'content-type': 'text/plain' });
    expect(plain.statusCode).toBe(415);
  });

  it('answers 415 for a body without a content type', async () => {
    // A byte body makes fetch send no content type at all.
    const res = await post(app, new TextEncoder().encode(JSON.stringify(batch([event(0)]))), { 'content-type': OMIT });
    expect(res.statusCode).toBe(415);
  });
});

describe('POST /v1/events body size', () => {
  let app: Running;

  beforeAll(async () => {
    app = await start({ streamName: await createStream(1) });
  });
  afterAll(() => app.close());

  /** A valid one-event batch padded with JSON whitespace to exactly `bytes`. */
  function paddedBody(bytes: number): string {
    const core = JSON.stringify(batch([event(3)]));
    return core.slice(0, -1) + ' '.repeat(bytes - core.length) + '}';
  }

  it(`accepts a body of exactly the default limit (${DEFAULT_MAX_BODY_BYTES} bytes)`, async () => {
    const body = paddedBody(DEFAULT_MAX_BODY_BYTES);
    expect(Buffer.byteLength(body)).toBe(DEFAULT_MAX_BODY_BYTES);
    expect((await post(app, body)).statusCode).toBe(200);
  });

  it('answers 413 for a body one byte over the default limit', async () => {
    const res = await post(app, paddedBody(DEFAULT_MAX_BODY_BYTES + 1));
    expect([res.statusCode, res.json()]).toEqual([413, { message: 'Request Too Long' }]);
  });

  it('applies a configured limit', async () => {
    const small = await start({ streamName: 'unused', maxBodyBytes: 1024 });
    expect((await post(small, paddedBody(1025))).statusCode).toBe(413);
    await small.close();
  });
});

describe('API keys', () => {
  let app: Running;

  beforeAll(async () => {
    app = await start({ streamName: await createStream(1) });
  });
  afterAll(() => app.close());

  it('answers 401 without an x-api-key header', async () => {
    const res = await post(app, batch([event(0)]), { 'x-api-key': OMIT });
    expect([res.statusCode, res.json()]).toEqual([401, { message: 'Unauthorized' }]);
  });

  it('answers 401 for an empty x-api-key header', async () => {
    expect((await post(app, batch([event(0)]), { 'x-api-key': '' })).statusCode).toBe(401);
  });

  it('answers 403 for an unknown key', async () => {
    const res = await post(app, batch([event(0)]), { 'x-api-key': `${KEY}x` });
    expect([res.statusCode, res.json()]).toEqual([403, { message: 'Forbidden' }]);
  });

  it('checks the key before the body, so an unauthenticated invalid body gets 401 not 400', async () => {
    const res = await post(app, '{', { 'x-api-key': OMIT });
    expect(res.statusCode).toBe(401);
  });

  it('accepts every configured key', async () => {
    expect((await post(app, batch([event(0)]), { 'x-api-key': OTHER_KEY })).statusCode).toBe(200);
  });

  it('answers GET /v1/health without a key', async () => {
    const res = await request(app, 'GET', '/v1/health', {});
    expect([res.statusCode, res.json()]).toEqual([200, { status: 'ok' }]);
  });

  it('refuses to start without keys', () => {
    expect(() => buildIngestServer({ kinesis, streamName: 's', apiKeys: [] })).toThrow(/apiKeys must hold at least one non-empty key/);
    expect(() => buildIngestServer({ kinesis, streamName: 's', apiKeys: [''] })).toThrow(/apiKeys/);
  });

  it('refuses an invalid body limit or an empty stream name', () => {
    expect(() => buildIngestServer({ kinesis, streamName: 's', apiKeys: [KEY], maxBodyBytes: 0 })).toThrow(/maxBodyBytes must be an integer >= 1; received 0/);
    expect(() => buildIngestServer({ kinesis, streamName: '', apiKeys: [KEY] })).toThrow(/streamName/);
  });
});

describe('throttling at burst 500, rate 100 per second per key', () => {
  let app: Running;
  let nowMs = 0;
  // An empty batch is refused with 400 after the throttle, without touching Kinesis: fast, and a
  // 400 proves the request passed the bucket.
  const cheap = (key = KEY) => post(app, batch([]), { 'x-api-key': key });

  beforeAll(async () => {
    app = await start({ streamName: 'unused', clock: () => nowMs });
  });
  afterAll(() => app.close());

  it('lets 500 requests through at once, refuses the next with 429 and Retry-After, and refills at 100/s', async () => {
    const burst = await Promise.all(Array.from({ length: 500 }, () => cheap()));
    expect(burst.filter((r) => r.statusCode === 400)).toHaveLength(500);

    const refused = await cheap();
    expect([refused.statusCode, refused.json()]).toEqual([429, { message: 'Too Many Requests' }]);
    expect(refused.headers.get('retry-after')).toBe('1');

    nowMs += 10; // one token
    expect((await cheap()).statusCode).toBe(400);
    expect((await cheap()).statusCode).toBe(429);

    nowMs += 1000; // 100 tokens
    const second = [];
    for (let i = 0; i < 101; i++) second.push((await cheap()).statusCode);
    expect(second.filter((s) => s === 400)).toHaveLength(100);
    expect(second[100]).toBe(429);
  });

  it('throttles each key separately', async () => {
    expect((await cheap()).statusCode).toBe(429);
    expect((await cheap(OTHER_KEY)).statusCode).toBe(400);
  });

  it('refills to the burst, not beyond, after a long pause', async () => {
    nowMs += 3_600_000;
    const statuses = await Promise.all(Array.from({ length: 501 }, () => cheap()));
    expect(statuses.filter((r) => r.statusCode === 400)).toHaveLength(500);
    expect(statuses.filter((r) => r.statusCode === 429)).toHaveLength(1);
  });

  it('applies configured burst and rate', async () => {
    let t = 0;
    const small = await start({ streamName: 'unused', burst: 2, ratePerSec: 1, clock: () => t });
    const s = async () => (await post(small, batch([]))).statusCode;
    expect([await s(), await s(), await s()]).toEqual([400, 400, 429]);
    t += 1000;
    expect([await s(), await s()]).toEqual([400, 429]);
    await small.close();
  });
});

/**
 * A client that forwards to kinesalite only the entries `accept(eventId, call)` lets through and
 * answers the others as throttled, the way Kinesis reports a partial failure.
 */
function partiallyFailingKinesis(accept: (eventId: string, call: number) => boolean): KinesisClient {
  let call = 0;
  const send = async (cmd: PutRecordsCommand) => {
    call++;
    const records = cmd.input.Records ?? [];
    const ids = records.map((r) => (JSON.parse(Buffer.from(r.Data as Uint8Array).toString('utf8')) as { eventId: string }).eventId);
    const through = records.filter((_, k) => accept(ids[k], call));
    const out = through.length
      ? await kinesis.send(new PutRecordsCommand({ StreamName: cmd.input.StreamName, Records: through }))
      : { Records: [] };
    let next = 0;
    const Records: PutRecordsResultEntry[] = ids.map((id) =>
      accept(id, call) ? (out.Records ?? [])[next++] : { ErrorCode: 'ProvisionedThroughputExceededException', ErrorMessage: 'Rate exceeded' },
    );
    return { FailedRecordCount: Records.filter((r) => r.ErrorCode).length, Records };
  };
  return { send } as unknown as KinesisClient;
}

describe('PutRecords partial failures', () => {
  const noWait = { sleep: async () => undefined };

  it('retries the throttled entries and lands every event exactly once', async () => {
    const streamName = await createStream(1);
    const events = Array.from({ length: 10 }, (_, i) => event(200 + i));
    const throttledFirst = new Set(events.filter((_, i) => i % 3 === 0).map((e) => e.eventId as string));
    const app = await start({ streamName, kinesis: partiallyFailingKinesis((id, call) => call > 1 || !throttledFirst.has(id)), put: noWait });
    const res = await post(app, batch(events));
    expect([res.statusCode, res.json()]).toMatchObject([200, { accepted: 10, FailedRecordCount: 0 }]);
    const stored = (await readStream(streamName)).map((r) => (r.data as { eventId: string }).eventId);
    expect([...stored].sort()).toEqual(events.map((e) => e.eventId as string).sort());
    await app.close();
  });

  it('answers 503 naming the events still throttled after the last attempt; the others are in the stream', async () => {
    const streamName = await createStream(1);
    const events = Array.from({ length: 6 }, (_, i) => event(300 + i));
    const stuck = new Set([events[1].eventId, events[4].eventId] as string[]);
    const app = await start({ streamName, kinesis: partiallyFailingKinesis((id) => !stuck.has(id)), put: { ...noWait, maxAttempts: 3 } });
    const res = await post(app, batch(events));
    expect(res.statusCode).toBe(503);
    expect(res.headers.get('retry-after')).toBe('1');
    expect(res.json()).toMatchObject({
      accepted: 4, FailedRecordCount: 2,
      failed: [{ index: 1, errorCode: 'ProvisionedThroughputExceededException' }, { index: 4, errorCode: 'ProvisionedThroughputExceededException' }],
    });
    const stored = (await readStream(streamName)).map((r) => (r.data as { eventId: string }).eventId);
    expect(stored).toEqual(events.filter((e) => !stuck.has(e.eventId as string)).map((e) => e.eventId));
    await app.close();
  });
});

describe('PutRecords failures', () => {
  it('answers 503 listing the unwritten events, with Retry-After, when events cannot be written after retries', async () => {
    const app = await start({ streamName: 'no-such-stream', put: { maxAttempts: 2, sleep: async () => undefined } });
    const res = await post(app, batch([event(0), event(1), event(2)]));
    expect(res.statusCode).toBe(503);
    expect(res.headers.get('retry-after')).toBe('1');
    expect(res.json()).toEqual({
      message: 'Service Unavailable', accepted: 0, FailedRecordCount: 3, requestId: expect.any(String),
      failed: [0, 1, 2].map((index) => ({ index, errorCode: 'ResourceNotFoundException' })),
    });
    await app.close();
  });
});

describe('logs', () => {
  it('contain no patient id, API key or request body from any request of the whole run', () => {
    // Runs last (jest keeps file order): every server above logged into logLines.
    expect(logLines.length).toBeGreaterThan(500);
    const all = logLines.join('\n');
    for (const secret of [...PATIENTS, 'MRN 40417731', KEY, OTHER_KEY, '987.6', 'hospital-1.ward-3']) {
      expect(all).not.toContain(secret);
    }
    for (const line of logLines) expect(() => JSON.parse(line)).not.toThrow();
  });

  it('record one access line per request with status and route', () => {
    const lines = logLines.map((l) => JSON.parse(l) as { msg: string; status?: number; route?: string; apiKey?: string });
    const completed = lines.filter((l) => l.msg === 'request completed');
    expect(completed.some((l) => l.status === 200 && l.route === '/v1/events' && /^[0-9a-f]{8}$/.test(l.apiKey ?? ''))).toBe(true);
    expect(completed.some((l) => l.status === 429)).toBe(true);
    expect(lines.some((l) => l.msg === 'PutRecords left events unwritten after retries')).toBe(true);
  });
});
