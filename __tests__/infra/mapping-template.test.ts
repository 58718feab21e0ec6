import {
  BAD_REQUEST_BODY_TEMPLATE,
  HEALTH_RESPONSE_TEMPLATE,
  INTERNAL_ERROR_MESSAGE,
  SERVICE_UNAVAILABLE_MESSAGE,
  integrationErrorTemplate,
  PARTIAL_FAILURE_STATUS,
  PUT_RECORDS_RESPONSE_TEMPLATE,
  putRecordsRequestTemplate,
} from '../../src/infra/mapping-template';
import { renderMappingTemplate, substituteGatewayResponse } from './helpers/api-gateway-vtl';

const STREAM = 'vitals-events-test';

interface SampleEvent {
  schemaVersion: 1;
  eventId: string;
  deviceId: string;
  patientId: string;
  facilityId: string;
  observedAt: string;
  vitals: Record<string, unknown>;
  [extra: string]: unknown;
}

function sampleEvent(i: number): SampleEvent {
  const hex = i.toString(16).padStart(12, '0');
  return {
    schemaVersion: 1,
    eventId: `00000000-0000-4000-8000-${hex}`,
    deviceId: `ward3:bed.${i % 7}`,
    patientId: `MRN${100000 + i}`,
    facilityId: 'st-elsewhere',
    observedAt: `2026-11-24T10:${String(i % 60).padStart(2, '0')}:00.123+01:00`,
    vitals: {
      pulse: { value: 60 + (i % 50), unit: 'bpm' },
      spo2: { value: 97.5, unit: '%', scale: 1 },
      supplementalOxygen: false,
      temperature: { value: 98.6, unit: '[degF]' },
      consciousness: 'A',
    },
  };
}

interface PutRecordsRequest {
  StreamName: string;
  Records: Array<{ Data: string; PartitionKey: string }>;
}

function renderRequest(events: unknown[]): PutRecordsRequest {
  const { output } = renderMappingTemplate(putRecordsRequestTemplate(STREAM), { events });
  return JSON.parse(output) as PutRecordsRequest;
}

const decode = (data: string): unknown => JSON.parse(Buffer.from(data, 'base64').toString('utf8'));

describe('PutRecords request template', () => {
  test('renders exactly the PutRecords request for a batch: one record per event, in order', () => {
    const events = [sampleEvent(1), sampleEvent(2), sampleEvent(3)];
    const request = renderRequest(events);
    expect(request).toEqual({
      StreamName: STREAM,
      Records: events.map((e) => ({ Data: Buffer.from(JSON.stringify(e), 'utf8').toString('base64'), PartitionKey: e.deviceId })),
    });
  });

  test('each record decodes to the event JSON and is keyed by its deviceId', () => {
    const events = [sampleEvent(10), sampleEvent(11)];
    const request = renderRequest(events);
    expect(request.Records.map((r) => decode(r.Data))).toEqual(events);
    expect(request.Records.map((r) => r.PartitionKey)).toEqual(['ward3:bed.3', 'ward3:bed.4']);
  });

  test('a batch of 500 events (the schema maximum) yields 500 records in order', () => {
    const events = Array.from({ length: 500 }, (_, i) => sampleEvent(i));
    const request = renderRequest(events);
    expect(request.StreamName).toBe(STREAM);
    expect(request.Records).toHaveLength(500);
    expect(request.Records.map((r) => (decode(r.Data) as SampleEvent).eventId)).toEqual(events.map((e) => e.eventId));
    expect(request.Records.map((r) => r.PartitionKey)).toEqual(events.map((e) => e.deviceId));
  });

  test('quotes, backslashes and non-ASCII text in a string field survive the round trip byte for byte', () => {
    const tricky = { ...sampleEvent(1), note: 'Tür "zu" \\ 𝄞 – 患者 \u2028 end' };
    const request = renderRequest([tricky, sampleEvent(2)]);
    expect(request.Records).toHaveLength(2);
    expect(Buffer.from(request.Records[0].Data, 'base64').toString('utf8')).toBe(JSON.stringify(tricky));
    expect(decode(request.Records[0].Data)).toEqual(tricky);
  });

  test('a single-event batch renders a valid request without a trailing comma', () => {
    const request = renderRequest([sampleEvent(5)]);
    expect(request.Records).toHaveLength(1);
  });

  test('the template text contains no Terraform interpolation sequences', () => {
    const template = putRecordsRequestTemplate(STREAM);
    expect(template).not.toMatch(/\$\{|%\{/);
  });
});

describe('PutRecords response template', () => {
  const kinesisResponse = (errors: Array<string | null>) => ({
    FailedRecordCount: errors.filter((e) => e !== null).length,
    Records: errors.map((code, i) =>
      code === null
        ? { SequenceNumber: `4959${i}`, ShardId: 'shardId-000000000000' }
        : { ErrorCode: code, ErrorMessage: `Rate exceeded for shard shardId-000000000001 in stream ${STREAM} under account 123456789012.` },
    ),
  });

  test('a fully accepted batch answers with the accepted count, FailedRecordCount 0 and no status override', () => {
    const { output, statusOverride } = renderMappingTemplate(PUT_RECORDS_RESPONSE_TEMPLATE, kinesisResponse([null, null, null]), 'req-42');
    expect(JSON.parse(output)).toEqual({ accepted: 3, FailedRecordCount: 0, failed: [], requestId: 'req-42' });
    expect(statusOverride).toBeUndefined();
  });

  test('a partial failure lists each failed index and error code and turns the status into 503', () => {
    const errors = [null, 'ProvisionedThroughputExceededException', null, 'InternalFailure'];
    const { output, statusOverride } = renderMappingTemplate(PUT_RECORDS_RESPONSE_TEMPLATE, kinesisResponse(errors));
    expect(JSON.parse(output)).toEqual({
      message: 'Service Unavailable',
      accepted: 2,
      FailedRecordCount: 2,
      failed: [
        { index: 1, errorCode: 'ProvisionedThroughputExceededException' },
        { index: 3, errorCode: 'InternalFailure' },
      ],
      requestId: 'req-0001',
    });
    expect(statusOverride).toBe(PARTIAL_FAILURE_STATUS);
    expect(PARTIAL_FAILURE_STATUS).toBe(503);
  });

  test("the response never echoes Kinesis' error message (it names the account and shards)", () => {
    const { output } = renderMappingTemplate(PUT_RECORDS_RESPONSE_TEMPLATE, kinesisResponse(['ProvisionedThroughputExceededException']));
    expect(output).not.toContain('123456789012');
    expect(output).not.toContain('Rate exceeded');
  });
});

describe('error and health templates', () => {
  test.each([INTERNAL_ERROR_MESSAGE, SERVICE_UNAVAILABLE_MESSAGE])('the integration error body (%s) is JSON with the message and request id, never the Kinesis error', (message) => {
    const kinesisError = { __type: 'AccessDeniedException', message: 'User: arn:aws:sts::123456789012:assumed-role/x is not authorized' };
    const { output } = renderMappingTemplate(integrationErrorTemplate(message), kinesisError);
    expect(JSON.parse(output)).toEqual({ message, requestId: 'req-0001' });
    expect(output).not.toContain('123456789012');
  });

  test('the BAD_REQUEST_BODY gateway response never quotes the validator message, which carries the rejected value', () => {
    const body = substituteGatewayResponse(BAD_REQUEST_BODY_TEMPLATE, {
      '$context.error.validationErrorString': '[ECMA 262 regex "^[A-Za-z0-9][A-Za-z0-9-]*$" does not match input string "MRN 0042"]',
      '$context.requestId': 'req-7',
    });
    expect(JSON.parse(body)).toEqual({
      message: 'Invalid request body: it does not match the DeviceEventBatch v1 schema',
      schema: 'device-event.v1.schema.json',
      requestId: 'req-7',
    });
    expect(body).not.toContain('MRN 0042');
  });

  test('the health mock answers {"status":"ok"}', () => {
    expect(JSON.parse(renderMappingTemplate(HEALTH_RESPONSE_TEMPLATE, {}).output)).toEqual({ status: 'ok' });
  });
});

describe('rendered request against a Kinesis-compatible server (kinesalite)', () => {
  // kinesalite ships no types; the slice used here is tiny.
  const kinesalite = require('kinesalite') as (options: Record<string, number>) => import('node:http').Server;
  let server: import('node:http').Server;
  let port = 0;

  /** One Kinesis JSON-protocol call, as API Gateway's AWS integration sends it (minus a real signature). */
  const call = async (action: string, body: unknown): Promise<{ status: number; json: unknown }> => {
    const response = await fetch(`http://127.0.0.1:${port}/`, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/x-amz-json-1.1',
        'X-Amz-Target': `Kinesis_20131202.${action}`,
        'X-Amz-Date': '20261124T000000Z',
        Authorization: 'AWS4-HMAC-SHA256 Credential=test/20261124/eu-central-2/kinesis/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=00',
      },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, json: text ? JSON.parse(text) : undefined };
  };

  beforeAll(async () => {
    server = kinesalite({ createStreamMs: 0, deleteStreamMs: 0, updateStreamMs: 0 });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as import('node:net').AddressInfo).port;
    expect((await call('CreateStream', { StreamName: STREAM, ShardCount: 2 })).status).toBe(200);
    for (let i = 0; i < 50; i++) {
      const { json } = await call('DescribeStreamSummary', { StreamName: STREAM });
      if ((json as { StreamDescriptionSummary: { StreamStatus: string } }).StreamDescriptionSummary.StreamStatus === 'ACTIVE') break;
      await new Promise((r) => setTimeout(r, 20));
    }
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  test('the stream stores one record per event, each decoding to the event, keyed by deviceId, and the response template reports them accepted', async () => {
    const events = Array.from({ length: 20 }, (_, i) => sampleEvent(i));
    const { output } = renderMappingTemplate(putRecordsRequestTemplate(STREAM), { events });

    const put = await call('PutRecords', output);
    expect(put.status).toBe(200);
    const answer = renderMappingTemplate(PUT_RECORDS_RESPONSE_TEMPLATE, put.json);
    expect(JSON.parse(answer.output)).toMatchObject({ accepted: 20, FailedRecordCount: 0, failed: [] });
    expect(answer.statusOverride).toBeUndefined();

    const { json: shards } = await call('ListShards', { StreamName: STREAM });
    const stored: Array<{ data: unknown; key: string; shard: string }> = [];
    for (const { ShardId } of (shards as { Shards: Array<{ ShardId: string }> }).Shards) {
      const { json: it } = await call('GetShardIterator', { StreamName: STREAM, ShardId, ShardIteratorType: 'TRIM_HORIZON' });
      const { json: got } = await call('GetRecords', { ShardIterator: (it as { ShardIterator: string }).ShardIterator });
      for (const r of (got as { Records: Array<{ Data: string; PartitionKey: string }> }).Records) {
        stored.push({ data: decode(r.Data), key: r.PartitionKey, shard: ShardId });
      }
    }
    expect(stored).toHaveLength(events.length);
    expect(stored.map((s) => s.data)).toEqual(expect.arrayContaining(events));
    for (const s of stored) expect(s.key).toBe((s.data as SampleEvent).deviceId);
    // Same device, same shard: per-device order is what the partition key buys.
    const shardOfDevice = new Map<string, Set<string>>();
    for (const s of stored) shardOfDevice.set(s.key, (shardOfDevice.get(s.key) ?? new Set()).add(s.shard));
    for (const shardsOfOne of shardOfDevice.values()) expect(shardsOfOne.size).toBe(1);
    for (const device of shardOfDevice.keys()) {
      const sent = events.filter((e) => e.deviceId === device).map((e) => e.eventId);
      const read = stored.filter((s) => s.key === device).map((s) => (s.data as SampleEvent).eventId);
      expect(read).toEqual(sent);
    }
  });
});
