/**
 * Integration: the MLLP gateway with its real Kinesis writer against kinesalite, driven over loopback
 * by a real MLLP client library (@medplum/hl7's Hl7Client / Hl7Connection, also over TLS) and by a raw
 * client for pipelining and misbehaving senders.
 */
import { connect as tlsConnect } from 'node:tls';
import { Hl7Message } from '@medplum/core';
import { Hl7Client, Hl7Connection } from '@medplum/hl7';
import { generate } from 'selfsigned';
import { composePcd01, type ComposeInput } from '../../src/hl7/compose';
import { mllpFrame, VT } from '../../src/hl7/mllp';
import { eventIdFor } from '../../src/hl7/prepare';
import { KinesisRecordWriter, type PutOutcome, type RecordWriter } from '../../src/hl7/record-writer';
import { eventually, RawClient, readStream, startGateway, startHarness, createStream, type Harness, type RunningTestGateway } from './support/harness';

let h: Harness;
const gateways: RunningTestGateway[] = [];
const clients: RawClient[] = [];
const everyClient: RawClient[] = [];
const PATIENTS = ['MRN-9900001', 'MRN-9900002', 'MRN-9900003'];

beforeAll(async () => {
  h = await startHarness();
});
afterEach(async () => {
  clients.splice(0).forEach((c) => c.close());
  await Promise.all(gateways.splice(0).map((g) => g.stop()));
});
afterAll(async () => {
  await h.stop();
});

async function gateway(options: Parameters<typeof startGateway>[1] = {}): Promise<RunningTestGateway> {
  const g = await startGateway(h, options);
  gateways.push(g);
  return g;
}
async function client(port: number): Promise<RawClient> {
  const c = await RawClient.connect(port);
  clients.push(c);
  everyClient.push(c);
  return c;
}

function message(controlId: string, over: Partial<ComposeInput> = {}): string {
  return composePcd01({
    controlId,
    facility: 'HOSP',
    patientId: PATIENTS[0] as string,
    deviceId: '0009FB0000000077',
    observedAt: new Date(Date.now() - 30_000),
    vitals: { pulse: { value: 77, unit: 'bpm' }, spo2: { value: 95, unit: '%' } },
    ...over,
  });
}

/** A writer that holds every put until released (to observe what happens before Kinesis answers). */
function gatedWriter(inner: RecordWriter): RecordWriter & { release(): void; puts: number } {
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  const w = {
    puts: 0,
    release: () => open(),
    put: async (records: Parameters<RecordWriter['put']>[0]): Promise<PutOutcome> => {
      w.puts++;
      await gate;
      return inner.put(records);
    },
    drain: () => inner.drain(),
  };
  return w;
}

test('a real MLLP client gets AA, and the event is on the stream with the derived id and the device as partition key', async () => {
  const g = await gateway();
  const hl7 = new Hl7Client({ host: '127.0.0.1', port: g.port });
  try {
    const ack = await hl7.sendAndWait(Hl7Message.parse(message('REAL-1')));
    expect(ack.getSegment('MSA')?.getField(1)?.toString()).toBe('AA');
    expect(ack.getSegment('MSA')?.getField(2)?.toString()).toBe('REAL-1');
  } finally {
    await hl7.close();
  }
  const records = await readStream(h.kinesis, g.streamName);
  expect(records).toHaveLength(1);
  expect(records[0]?.partitionKey).toBe('0009FB0000000077');
  expect(records[0]?.event).toMatchObject({
    eventId: eventIdFor({ sendingApplication: 'MONGW', sendingFacility: 'HOSP', controlId: 'REAL-1' }, 0),
    patientId: PATIENTS[0],
    vitals: { pulse: { value: 77, unit: 'bpm' }, spo2: { value: 95, unit: '%' } },
  });
});

test('no ACK is sent before Kinesis accepted the record', async () => {
  let writer!: ReturnType<typeof gatedWriter>;
  const g = await gateway({ writerFor: (k, s) => (writer = gatedWriter(new KinesisRecordWriter({ kinesis: k, streamName: s }))) });
  const c = await client(g.port);
  c.send(message('GATED-1'));
  await eventually(() => writer.puts === 1);
  await new Promise((r) => setTimeout(r, 300));
  expect(c.acks).toEqual([]);
  expect(await readStream(h.kinesis, g.streamName)).toEqual([]);
  writer.release();
  const [ack] = await c.waitForAcks(1);
  expect(ack?.code).toBe('AA');
  expect(await readStream(h.kinesis, g.streamName)).toHaveLength(1);
});

test('when the stream is unavailable the sender gets AR, nothing is stored, and the resend after recovery is stored with the same event id', async () => {
  const streamName = `hl7-missing-${Date.now()}`;
  const g = await gateway({ streamName, createStream: false, writerFor: (k, s) => new KinesisRecordWriter({ kinesis: k, streamName: s, deadlineMs: 300 }) });
  const c = await client(g.port);
  c.send(message('OUTAGE-1'));
  const [ar] = await c.waitForAcks(1);
  expect(ar).toMatchObject({ code: 'AR', controlId: 'OUTAGE-1', errors: [{ reason: 'stream-unavailable', condition: '207' }] });
  await createStream(h.kinesis, streamName);
  expect(await readStream(h.kinesis, streamName)).toEqual([]);
  c.send(message('OUTAGE-1'));
  const [, aa] = await c.waitForAcks(2);
  expect(aa?.code).toBe('AA');
  const records = await readStream(h.kinesis, streamName);
  expect(records.map((r) => r.event.eventId)).toEqual([eventIdFor({ sendingApplication: 'MONGW', sendingFacility: 'HOSP', controlId: 'OUTAGE-1' }, 0)]);
});

test('a resend after a lost ACK carries the same event ids (the processor stores it once)', async () => {
  const g = await gateway();
  const c = await client(g.port);
  c.send(message('DUP-1'));
  await c.waitForAcks(1);
  c.close();
  const c2 = await client(g.port);
  c2.send(message('DUP-1', { messageTime: new Date() }));
  await c2.waitForAcks(1);
  const ids = (await readStream(h.kinesis, g.streamName)).map((r) => r.event.eventId);
  expect(ids).toHaveLength(2);
  expect(new Set(ids).size).toBe(1);
});

test('a malformed message is answered AE and nothing reaches the stream', async () => {
  const g = await gateway();
  const c = await client(g.port);
  c.send(message('BAD-1').replace('|77|', '|seventy|'));
  const [ack] = await c.waitForAcks(1);
  expect(ack).toMatchObject({ code: 'AE', controlId: 'BAD-1', errors: [{ reason: 'bad-value', location: 'OBX^2^5' }] });
  expect(await readStream(h.kinesis, g.streamName)).toEqual([]);
});

test('pipelined messages on one connection are all answered, in the order sent', async () => {
  const g = await gateway();
  const c = await client(g.port);
  const ids = Array.from({ length: 50 }, (_, i) => `PIPE-${i}`);
  c.send(...ids.map((id, i) => (i % 7 === 3 ? message(id).replace('|77|', '|x|') : message(id, { patientId: PATIENTS[i % 3] as string }))));
  const acks = await c.waitForAcks(50);
  expect(acks.map((a) => a.controlId)).toEqual(ids);
  expect(acks.filter((a) => a.code === 'AE')).toHaveLength(7);
  expect(await readStream(h.kinesis, g.streamName)).toHaveLength(43);
});

test('an oversize message is answered AR naming its control id, and the connection stays usable', async () => {
  const g = await gateway({ maxMessageBytes: 4_096 });
  const c = await client(g.port);
  c.send(`${message('BIG-1')}\rNTE|1||${'x'.repeat(20_000)}`, message('SMALL-1'));
  const acks = await c.waitForAcks(2);
  expect(acks.map((a) => [a.code, a.controlId, a.errors[0]?.reason ?? ''])).toEqual([
    ['AR', 'BIG-1', 'oversize'],
    ['AA', 'SMALL-1', ''],
  ]);
});

test('a connection that stops reading its ACKs is paused at the in-flight limit (backpressure)', async () => {
  let writer!: ReturnType<typeof gatedWriter>;
  const g = await gateway({ maxInFlightPerConnection: 3, writerFor: (k, s) => (writer = gatedWriter(new KinesisRecordWriter({ kinesis: k, streamName: s }))) });
  const c = await client(g.port);
  c.send(...Array.from({ length: 20 }, (_, i) => message(`BP-${i}`)));
  await eventually(() => writer.puts === 3);
  await new Promise((r) => setTimeout(r, 300));
  expect(writer.puts).toBe(3);
  writer.release();
  const acks = await c.waitForAcks(20);
  expect(acks.map((a) => a.code)).toEqual(Array(20).fill('AA'));
});

test('an idle connection is closed by the gateway', async () => {
  const g = await gateway({ idleTimeoutMs: 200 });
  const c = await client(g.port);
  expect(await c.waitForClose(5_000)).toBe(true);
});

test('a message that never completes is cut off at the frame timeout', async () => {
  const g = await gateway({ frameTimeoutMs: 300, idleTimeoutMs: 60_000 });
  const c = await client(g.port);
  c.writeRaw(Buffer.concat([Buffer.from([VT]), Buffer.from(message('SLOW-1').slice(0, 100))]));
  expect(await c.waitForClose(5_000)).toBe(true);
  await eventually(() => g.metrics.peek('ConnectionErrors') >= 1);
});

test('bytes outside frames are counted and ignored; the next frame is answered', async () => {
  const g = await gateway();
  const c = await client(g.port);
  c.writeRaw(Buffer.concat([Buffer.from('GET / HTTP/1.1\r\n\r\n'), mllpFrame(message('AFTER-NOISE'))]));
  const [ack] = await c.waitForAcks(1);
  expect(ack?.code).toBe('AA');
  expect(g.metrics.peek('GarbageBytes')).toBeGreaterThan(0);
});

describe('TLS', () => {
  let server: { cert: string; key: string };
  let clientCa: { cert: string; key: string };
  let clientCert: { cert: string; key: string };

  beforeAll(async () => {
    const s = await generate([{ name: 'commonName', value: 'localhost' }], {
      keyType: 'ec', algorithm: 'sha256',
      extensions: [{ name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }, { type: 2, value: 'localhost' }] }],
    });
    server = { cert: s.cert, key: s.private };
    const ca = await generate([{ name: 'commonName', value: 'hospital device CA' }], { keyType: 'ec', algorithm: 'sha256', extensions: [{ name: 'basicConstraints', cA: true }, { name: 'keyUsage', keyCertSign: true, digitalSignature: true }] });
    clientCa = { cert: ca.cert, key: ca.private };
    const cc = await generate([{ name: 'commonName', value: 'monitor gateway' }], { keyType: 'ec', algorithm: 'sha256', ca: { key: clientCa.key, cert: clientCa.cert }, extensions: [{ name: 'extKeyUsage', clientAuth: true }] });
    clientCert = { cert: cc.cert, key: cc.private };
  });

  test('a TLS client (the MLLP library over a TLS socket) gets AA', async () => {
    const g = await gateway({ tls: server });
    const conn = new Hl7Connection(tlsConnect({ host: '127.0.0.1', port: g.port, ca: server.cert }));
    try {
      const ack = await conn.sendAndWait(Hl7Message.parse(message('TLS-1')));
      expect(ack.getSegment('MSA')?.getField(1)?.toString()).toBe('AA');
    } finally {
      await conn.close();
    }
    expect(await readStream(h.kinesis, g.streamName)).toHaveLength(1);
  });

  test('a plaintext client on the TLS port is refused and counted as a connection error', async () => {
    const g = await gateway({ tls: server });
    const c = await client(g.port);
    c.send(message('PLAIN-1'));
    expect(await c.waitForClose(5_000)).toBe(true);
    expect(c.acks).toEqual([]);
    await eventually(() => g.metrics.peek('ConnectionErrors') >= 1);
    expect(await readStream(h.kinesis, g.streamName)).toEqual([]);
  });

  test('with mutual TLS a client without a certificate signed by the client CA is refused, one with it is served', async () => {
    const g = await gateway({ tls: { ...server, clientCa: clientCa.cert } });
    const anonymous = tlsConnect({ host: '127.0.0.1', port: g.port, ca: server.cert });
    const refused = await new Promise<boolean>((resolve) => {
      anonymous.on('error', () => resolve(true));
      anonymous.on('close', () => resolve(true));
      anonymous.on('secureConnect', () => {
        anonymous.write(mllpFrame(message('ANON-1')));
        anonymous.on('data', () => resolve(false));
      });
    });
    anonymous.destroy();
    expect(refused).toBe(true);
    const c = await RawClient.connect(g.port, { ca: server.cert, cert: clientCert.cert, key: clientCert.key });
    clients.push(c);
    c.send(message('MTLS-1'));
    const [ack] = await c.waitForAcks(1);
    expect(ack?.code).toBe('AA');
    expect(await readStream(h.kinesis, g.streamName)).toHaveLength(1);
  });
});

test('EMF metrics count messages and ACKs by code, and sample ACK latency', async () => {
  const g = await gateway();
  const c = await client(g.port);
  c.send(message('M-1'), message('M-2').replace('|77|', '|x|'));
  await c.waitForAcks(2);
  g.metrics.flush();
  const line = JSON.parse(h.emf[h.emf.length - 1] as string) as Record<string, unknown>;
  expect(line).toMatchObject({ Service: 'vitals-hl7-gateway', MessagesReceived: 2, AcksAA: 1, AcksAE: 1, RecordsPut: 1 });
  expect(line.AckLatencyMs).toBeDefined();
});

test('no patient identifier appears in any gateway log line or ACK of this file', () => {
  const text = h.logs.join('');
  expect(text.length).toBeGreaterThan(0);
  for (const p of PATIENTS) expect(text).not.toContain(p);
  const acks = everyClient.flatMap((c) => c.raw);
  expect(acks.length).toBeGreaterThan(50);
  for (const raw of acks) for (const p of PATIENTS) expect(raw).not.toContain(p);
});
