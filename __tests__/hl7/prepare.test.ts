import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildAck, parseAck } from '../../src/hl7/ack';
import { composePcd01 } from '../../src/hl7/compose';
import { acknowledgements, decodePayload, eventIdFor, oversizeIssue, prepareMessage, STREAM_UNAVAILABLE, uuidV5, type Prepared } from '../../src/hl7/prepare';
import { readMessageHeader } from '../../src/hl7/pcd01';
import { decodeRecord } from '../../src/pipeline/decode';
import type { DeviceEvent } from '../../src/schema';

const NOW = new Date('2026-03-01T12:00:00Z');
const input = {
  controlId: 'CTRL-1',
  facility: 'HOSP',
  patientId: 'MRN-5550123',
  deviceId: '0009FB0000000042',
  observedAt: new Date('2026-03-01T11:59:00Z'),
  vitals: { pulse: { value: 72, unit: 'bpm' as const }, spo2: { value: 96, unit: '%' as const }, systolicBp: { value: 16, unit: 'kPa' as const }, diastolicBp: { value: 10, unit: 'kPa' as const }, temperature: { value: 98.6, unit: '[degF]' as const } },
};
const prepare = (text: string): Prepared => prepareMessage(Buffer.from(text), { now: NOW });
const stored = (p: Prepared): DeviceEvent[] => (p.kind === 'store' ? p.records.map((r) => JSON.parse(r.data.toString()) as DeviceEvent) : []);

test('uuidV5 matches the RFC 9562 test vector', () => {
  expect(uuidV5('www.example.com', '6ba7b810-9dad-11d1-80b4-00c04fd430c8')).toBe('2ed6657d-e927-568b-95e1-2665a8aea6a2');
});

test('a composed PCD-01 message reads back to the same vitals', () => {
  const [e] = stored(prepare(composePcd01(input)));
  expect(e).toMatchObject({ deviceId: input.deviceId, patientId: input.patientId, facilityId: 'HOSP', observedAt: '2026-03-01T11:59:00.000Z', vitals: input.vitals });
});

test('a resend of the same message (same sender, same MSH-10) yields the same event ids', () => {
  const a = prepare(composePcd01(input));
  const b = prepare(composePcd01({ ...input, messageTime: new Date('2026-03-01T11:59:30Z') }));
  expect(a.kind === 'store' && a.records.map((r) => r.eventId)).toEqual(b.kind === 'store' && b.records.map((r) => r.eventId));
});

test('another control id, or the same control id from another sender, yields other event ids', () => {
  const id = (over: Partial<typeof input> & { sendingApplication?: string }) => stored(prepare(composePcd01({ ...input, ...over })))[0]?.eventId;
  const base = id({});
  expect(id({ controlId: 'CTRL-2' })).not.toBe(base);
  expect(id({ sendingApplication: 'OTHERGW' })).not.toBe(base);
  expect(id({ facility: 'OTHERHOSP' })).not.toBe(base);
});

test('event ids are RFC 9562 version 5 UUIDs derived without patient data', () => {
  const [e] = stored(prepare(composePcd01(input)));
  expect(e?.eventId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  expect(e?.eventId).toBe(eventIdFor({ sendingApplication: 'MONGW', sendingFacility: 'HOSP', controlId: 'CTRL-1' }, 0));
  expect(stored(prepare(composePcd01({ ...input, patientId: 'MRN-OTHER' })))[0]?.eventId).toBe(e?.eventId);
});

test('every record is exactly what the processor decodes and accepts, keyed by device id', () => {
  const p = prepare(composePcd01(input));
  if (p.kind !== 'store') throw new Error('expected records');
  for (const r of p.records) {
    expect(decodeRecord(r.data, NOW).ok).toBe(true);
    expect(r.partitionKey).toBe(input.deviceId);
  }
});

test('MSH-18 naming ISO 8859-1 decodes the payload as Latin-1, otherwise UTF-8', () => {
  const latin = Buffer.from('MSH|^~\\&|A|B|||x||ORU^R01|1|P|2.6|||NE|AL||8859/1\rNTE|1||Zürich', 'latin1');
  expect(decodePayload(latin)).toContain('Zürich');
  const utf8 = Buffer.from('MSH|^~\\&|A|B|||x||ORU^R01|1|P|2.6|||NE|AL||UNICODE UTF-8\rNTE|1||Zürich', 'utf8');
  expect(decodePayload(utf8)).toContain('Zürich');
});

test('the header of an oversize frame is enough for a reject ACK naming its control id', () => {
  const head = composePcd01(input).slice(0, 300);
  const header = readMessageHeader(head);
  const [ack] = acknowledgements(header, 'rejected', [oversizeIssue(1_048_576)], { now: NOW, nextControlId: () => 'X' }).map(parseAck);
  expect(ack).toMatchObject({ code: 'AR', controlId: 'CTRL-1', errors: [{ reason: 'oversize', message: expect.stringContaining('1048576 bytes') }] });
});

test('the stream-unavailable ACK is an AR telling the sender to resend', () => {
  const p = prepare(composePcd01(input));
  const [ack] = acknowledgements(p.header, 'rejected', [STREAM_UNAVAILABLE], { now: NOW, nextControlId: () => 'X' }).map(parseAck);
  expect(ack).toMatchObject({ code: 'AR', controlId: 'CTRL-1', errors: [{ reason: 'stream-unavailable', condition: '207' }] });
});

test('an ACK answers in the standard encoding even when the message used its own separators', () => {
  const text = composePcd01(input).replace(/\|/g, '#').replace('MSH#^~\\&#', 'MSH#^~\\&#');
  const p = prepare(text);
  const ack = acknowledgements(p.header, 'accepted', p.issues, { now: NOW, nextControlId: () => 'X' })[0] as string;
  expect(ack.startsWith('MSH|^~\\&|VITALS|HOSP|MONGW|HOSP|')).toBe(true);
  expect(parseAck(ack).code).toBe('AA');
});

test('ACK text escapes separators in our own messages', () => {
  const ack = buildAck({ code: 'AE', issues: [{ severity: 'E', condition: 'dataTypeError', reason: 'bad-value', message: 'a|b^c' }], now: NOW, ackControlId: 'X' });
  expect(ack).toContain('a\\F\\b\\S\\c');
});

describe('no patient data in any ACK', () => {
  const PHI = ['MRN-4471203', 'Muster', 'Anna', '19580412', 'VN88120', 'PAT-000981', 'ICU-5512', 'CARD-1001', 'CARD-1002', 'HED12'];
  const dir = join(__dirname, 'conformance');
  const texts = readdirSync(dir).map((f) => readFileSync(join(dir, f), 'utf8').trimEnd().replace(/\n/g, '\r'));
  // Each message also broken in every way that produces an error, so error ACKs are covered too.
  const broken = texts.flatMap((t) => [
    t.replace(/\|NM\|/g, '|NM|').replace(/(OBX\|\d+\|NM\|[^|]*\|[^|]*\|)[^|]*/g, '$1abc'),
    t.replace(/\|P\|2\./, '|T|2.'),
    t.replace(/(\|\d{14}(\.\d+)?)[+-]\d{4}/g, '$1'),
    t.replace(/MR~|PI$/gm, 'XX~'),
  ]);

  test('the broken variants do produce error ACKs (AE and AR), so those are covered', () => {
    const codes = new Set(broken.map((t) => {
      const p = prepare(t);
      return p.kind === 'store' ? 'AA' : p.outcome;
    }));
    expect([...codes].sort()).toEqual(['AA', 'error', 'rejected']);
  });

  test.each([...texts, ...broken].map((t, i) => [i, t]))('message %i', (_i, text) => {
    const p = prepare(text as string);
    const outcome = p.kind === 'store' ? 'accepted' : p.outcome;
    for (const ack of acknowledgements(p.header, outcome, p.issues, { now: NOW, nextControlId: () => 'X' })) {
      for (const phi of PHI) expect(ack).not.toContain(phi);
    }
  });
});
