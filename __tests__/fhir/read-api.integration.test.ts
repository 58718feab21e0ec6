/**
 * End to end: PCD-01 messages through the MLLP gateway, JSON events through the stream, the real
 * processor into PostgreSQL (TLS), then the FHIR read API of the local ingest server, querying as the
 * read-only `vitals_fhir_reader` role. Every resource served is validated as FHIR R4.
 */
import { execFile } from 'node:child_process';
import { get as httpsGet } from 'node:https';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Bundle, Observation, OperationOutcome } from '@medplum/fhirtypes';
import { generate } from 'selfsigned';
import { Pool } from 'pg';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { tlsOptions } from '../../src/adapters/db';
import { createLogger } from '../../src/adapters/logger';
import { buildFhirApi } from '../../src/fhir-api/main';
import { localMac, readLocalKey } from '../../src/adapters/phi';
import { pgObservationStore } from '../../src/adapters/observation-store';
import { composePcd01 } from '../../src/hl7/compose';
import { buildIngestServer } from '../../src/ingest/server';
import { RawClient, startGateway, type Harness } from '../hl7/support/harness';
import { startProcessor, type RunningProcessor } from '../processor/support/in-process';
import { useIntegrationStack } from '../processor/support/lifecycle';
import { adminPool, count, createStream, eventRecord, makeEvent, newDatabase, putRecords, runMigrations, waitFor, type TestStack } from '../processor/support/stack';
import { issuesOf, validate } from './support/fhir-validator';

let stack: TestStack;
const running: RunningProcessor[] = [];
const pools: Pool[] = [];
useIntegrationStack({ onStack: (s) => (stack = s), stack: () => stack, running, pools }, 90_000);

const execFileAsync = promisify(execFile);
const READER_PASSWORD = 'reader-test-password';
const API_KEY = 'fhir-test-key';
const VITALSIGNS = 'http://hl7.org/fhir/StructureDefinition/vitalsigns';

async function pseudonymOf(patientId: string): Promise<string> {
  return (await localMac(readLocalKey(stack.keyFile)).mac(Buffer.from(patientId))).toString('hex');
}

interface Api {
  readonly url: string;
  readonly app: FastifyInstance;
  readonly reader: Pool;
}

async function startApi(database: string): Promise<Api> {
  await runMigrations(stack.pg, database, { DB_FHIR_READER_PASSWORD: READER_PASSWORD });
  const reader = new Pool({ host: stack.pg.host, port: stack.pg.port, database, user: 'vitals_fhir_reader', password: READER_PASSWORD, ssl: tlsOptions(stack.pg.caFile), max: 3 });
  reader.on('error', () => undefined);
  pools.push(reader);
  const app = buildIngestServer({ kinesis: stack.kinesis, streamName: 'unused', apiKeys: [API_KEY], logger: pino({ level: 'silent' }), fhir: { store: pgObservationStore(reader) } });
  await app.listen({ port: 0, host: '127.0.0.1' });
  return { url: `http://127.0.0.1:${(app.server.address() as { port: number }).port}`, app, reader };
}

async function get<T>(api: Api, path: string, key: string | null = API_KEY): Promise<{ status: number; body: T }> {
  const res = await fetch(path.startsWith('http') ? path : `${api.url}${path}`, { headers: key ? { 'x-api-key': key } : {} });
  return { status: res.status, body: (await res.json()) as T };
}

function validateObservation(o: Observation): void {
  const vital = o.category?.[0]?.coding?.[0]?.code === 'vital-signs';
  const profiles = [...(vital ? [VITALSIGNS] : []), ...(o.meta?.profile ?? []).filter((p) => !p.endsWith('/bp'))];
  expect(issuesOf(() => validate(o, profiles))).toEqual([]);
}

test('HL7 messages and JSON events, stored by the processor, are served as valid FHIR R4 Observations', async () => {
  const database = await newDatabase(stack);
  const stream = `fhir-${Date.now()}`;
  await createStream(stack.kinesis, stream, 2);
  const admin = adminPool(stack, database);
  pools.push(admin);

  // Two PCD-01 messages through the gateway (the monitor), one JSON event with the nurse's ACVPU
  // (so NEWS2 can be scored: monitors do not report consciousness).
  const harness: Harness = { kinesalite: stack.kinesalite, kinesis: stack.kinesis, logs: [], emf: [], stop: async () => undefined };
  const gw = await startGateway(harness, { streamName: stream, createStream: false });
  const patient = 'MRN-FHIR-0001';
  const t0 = Date.now() - 120_000;
  const client = await RawClient.connect(gw.port);
  client.send(
    composePcd01({ controlId: 'F-1', facility: 'HOSP', patientId: patient, deviceId: '0009FB00000000F1', observedAt: new Date(t0), vitals: { pulse: { value: 118, unit: 'bpm' }, respirationRate: { value: 23, unit: 'breaths/min' }, spo2: { value: 93, unit: '%' }, systolicBp: { value: 98, unit: 'mmHg' }, diastolicBp: { value: 61, unit: 'mmHg' }, temperature: { value: 38.4, unit: 'Cel' } } }),
    composePcd01({ controlId: 'F-2', facility: 'HOSP', patientId: patient, deviceId: '0009FB00000000F1', observedAt: new Date(t0 + 60_000), vitals: { pulse: { value: 121, unit: 'bpm' } } }),
  );
  expect((await client.waitForAcks(2)).map((a) => a.code)).toEqual(['AA', 'AA']);
  client.close();
  await gw.stop();
  const acvpu = { ...makeEvent({ patientId: patient, deviceId: 'nurse-tablet-1', observedAt: new Date(t0 + 90_000) }), vitals: { consciousness: 'A' } };
  await putRecords(stack.kinesis, stream, [eventRecord(acvpu)]);

  running.push(startProcessor(stack, database, stream, 'w-fhir', []));
  await waitFor(async () => (await count(admin, 'SELECT count(*) AS n FROM observations')) === 3, 30_000);
  await waitFor(async () => (await count(admin, 'SELECT count(*) AS n FROM news2_scores')) >= 1, 30_000);

  const api = await startApi(database);
  try {
    const pseudonym = await pseudonymOf(patient);
    const r = await get<Bundle>(api, `/fhir/Observation?patient=Patient/${pseudonym}`);
    expect(r.status).toBe(200);
    expect(issuesOf(() => validate(r.body))).toEqual([]);
    const resources = (r.body.entry ?? []).map((e) => e.resource as Observation);
    resources.forEach(validateObservation);
    // Rows in time order (newest first); within a row, the five vital signs then NEWS2. Which rows
    // carry a score depends on the order the shards were read (the ACVPU may arrive first or last).
    const times = resources.map((o) => o.effectiveDateTime as string);
    expect(times).toEqual([...times].sort().reverse());
    const kindsAt = (t: number) => resources.filter((o) => o.effectiveDateTime === new Date(t).toISOString()).map((o) => o.code.coding?.map((c) => c.code).join('+'));
    expect(kindsAt(t0 + 60_000).filter((k) => k !== '1104051000000101')).toEqual(['8867-4']);
    expect(kindsAt(t0).filter((k) => k !== '1104051000000101')).toEqual(['8867-4', '9279-1', '2708-6+59408-5', '85354-9', '8310-5']);
    const scores = resources.filter((o) => o.code.coding?.[0]?.code === '1104051000000101');
    expect(scores.length).toBeGreaterThanOrEqual(1);
    // RR 23 (2) + SpO2 93 (2) + air (0) + SBP 98 (2) + pulse 118 or 121 (2) + A (0) + 38.4 C (1) = 9.
    for (const news2 of scores) {
      expect(news2.valueQuantity?.value).toBe(9);
      expect(news2.interpretation?.[0]?.text).toBe('NEWS2 clinical risk: high');
    }
    const hr = resources.find((o) => o.effectiveDateTime === new Date(t0 + 60_000).toISOString()) as Observation;
    expect(resources.every((o) => o.subject?.reference === `Patient/${pseudonym}`)).toBe(true);
    expect(hr.device?.identifier?.value).toBe('0009FB00000000F1');
    expect(hr.valueQuantity?.value).toBe(121);
    expect(JSON.stringify(r.body)).not.toContain(patient);

    const read = await get<Observation>(api, `/fhir/Observation/${hr.id}`);
    expect(read.status).toBe(200);
    expect(read.body).toEqual(hr);

    const filtered = await get<Bundle>(api, `/fhir/Observation?patient=${pseudonym}&code=http://loinc.org|8867-4&date=lt${new Date(t0 + 30_000).toISOString()}`);
    expect((filtered.body.entry ?? []).map((e) => (e.resource as Observation).valueQuantity?.value)).toEqual([118]);
  } finally {
    await api.app.close();
  }
}, 120_000);

test('paging through a patient with many observations returns each resource once, across pages', async () => {
  const database = await newDatabase(stack);
  const stream = `fhir-page-${Date.now()}`;
  await createStream(stack.kinesis, stream, 2);
  const admin = adminPool(stack, database);
  pools.push(admin);
  const patient = 'MRN-FHIR-PAGE';
  const base = Date.now() - 3_600_000;
  const events = Array.from({ length: 40 }, (_, i) => makeEvent({ patientId: patient, deviceId: `mon-${i % 3}`, observedAt: new Date(base + i * 1_000 + (i % 3)) }));
  await putRecords(stack.kinesis, stream, events.map(eventRecord));
  running.push(startProcessor(stack, database, stream, 'w-page', []));
  await waitFor(async () => (await count(admin, 'SELECT count(*) AS n FROM observations')) === 40, 30_000);
  const scores = await count(admin, 'SELECT count(*) AS n FROM news2_scores');
  const api = await startApi(database);
  try {
    const pseudonym = await pseudonymOf(patient);
    const ids: string[] = [];
    let next: string | undefined = `/fhir/Observation?patient=${pseudonym}&_count=7`;
    let pages = 0;
    while (next && pages < 100) {
      const page: { status: number; body: Bundle } = await get<Bundle>(api, next);
      expect(page.status).toBe(200);
      expect((page.body.entry ?? []).length).toBeLessThanOrEqual(7);
      ids.push(...(page.body.entry ?? []).map((e) => e.resource?.id as string));
      next = page.body.link?.find((l) => l.relation === 'next')?.url;
      pages++;
    }
    expect(ids).toHaveLength(40 * 5 + scores);
    expect(new Set(ids).size).toBe(ids.length);
    const times = await Promise.all(ids.filter((id) => id.endsWith('-heart-rate')).map(async (id) => (await get<Observation>(api, `/fhir/Observation/${id}`)).body.effectiveDateTime as string));
    expect(times).toEqual([...times].sort().reverse());
  } finally {
    await api.app.close();
  }
}, 120_000);

test('the FHIR reader role can read only the rendered tables, and never write', async () => {
  const database = await newDatabase(stack);
  const api = await startApi(database);
  await api.app.close();
  const denied = async (sql: string): Promise<string | undefined> => {
    try {
      await api.reader.query(sql);
      return undefined;
    } catch (e) {
      return (e as { code?: string }).code;
    }
  };
  expect(await denied('SELECT count(*) FROM observations')).toBeUndefined();
  expect(await denied('SELECT count(*) FROM news2_scores')).toBeUndefined();
  expect(await denied('SELECT count(*) FROM patient_keys')).toBeUndefined();
  expect(await denied('SELECT count(*) FROM sources')).toBeUndefined();
  expect(await denied('SELECT * FROM patients')).toBe('42501');
  expect(await denied('SELECT * FROM data_keys')).toBe('42501');
  expect(await denied('SELECT * FROM dead_letters')).toBe('42501');
  expect(await denied("INSERT INTO sources (device_id, facility_id) VALUES ('d', 'f')")).toBe('25006');
  expect(await denied("INSERT INTO observations (event_id, observed_at, patient_key, source_key) VALUES (gen_random_uuid(), now(), 1, 1)")).toBe('25006');
  expect(await denied('SET TRANSACTION READ WRITE; DELETE FROM observations')).toBe('42501');
}, 120_000);

test('the FHIR routes sit behind the API key; metadata does not', async () => {
  const database = await newDatabase(stack);
  const api = await startApi(database);
  try {
    expect((await get<OperationOutcome>(api, `/fhir/Observation?patient=${'0'.repeat(64)}`, null)).status).toBe(401);
    expect((await get<OperationOutcome>(api, `/fhir/Observation?patient=${'0'.repeat(64)}`, 'wrong')).status).toBe(403);
    expect((await get<Bundle>(api, `/fhir/Observation?patient=${'0'.repeat(64)}`)).body).toMatchObject({ resourceType: 'Bundle', entry: [] });
    expect((await get<unknown>(api, '/fhir/metadata', null)).status).toBe(200);
  } finally {
    await api.app.close();
  }
}, 120_000);

test('the FHIR service (the ECS program) reports database health and serves the API; a dead database is a 503', async () => {
  const database = await newDatabase(stack);
  const api = await startApi(database);
  await api.app.close();
  const logger = createLogger({ level: 'silent' });
  const service = buildFhirApi(api.reader, logger, { baseUrl: 'https://api.example/v1/fhir' });
  await service.listen({ port: 0, host: '127.0.0.1' });
  const dead = new Pool({ host: '127.0.0.1', port: 1, database, user: 'x', password: 'x', connectionTimeoutMillis: 500 });
  dead.on('error', () => undefined);
  const broken = buildFhirApi(dead, logger);
  await broken.listen({ port: 0, host: '127.0.0.1' });
  const at = (app: FastifyInstance, path: string) => fetch(`http://127.0.0.1:${(app.server.address() as { port: number }).port}${path}`);
  try {
    expect((await at(service, '/health')).status).toBe(200);
    const bundle = (await (await at(service, `/fhir/Observation?patient=${'0'.repeat(64)}&_count=1`)).json()) as Bundle;
    expect(bundle.link?.[0]?.url).toBe(`https://api.example/v1/fhir/Observation?patient=${'0'.repeat(64)}&_count=1`);
    expect((await at(broken, '/health')).status).toBe(503);
    const down = await at(broken, `/fhir/Observation?patient=${'0'.repeat(64)}`);
    expect(down.status).toBe(503);
    expect(((await down.json()) as OperationOutcome).issue[0]?.code).toBe('exception');
  } finally {
    await Promise.all([service.close(), broken.close()]);
    await dead.end();
  }
}, 120_000);

test('on AWS the service serves HTTPS with a certificate generated at start-up, and its health check command passes', async () => {
  const database = await newDatabase(stack);
  const api = await startApi(database);
  await api.app.close();
  const pems = await generate([{ name: 'commonName', value: 'vitals-fhir-api' }], { keyType: 'ec', curve: 'P-256', algorithm: 'sha256' });
  const service = buildFhirApi(api.reader, createLogger({ level: 'silent' }), { https: { key: pems.private, cert: pems.cert } });
  await service.listen({ port: 0, host: '127.0.0.1' });
  const port = (service.server.address() as { port: number }).port;
  try {
    const status = await new Promise<number>((resolve, reject) =>
      httpsGet({ host: '127.0.0.1', port, path: '/health', rejectUnauthorized: false }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      }).on('error', reject),
    );
    expect(status).toBe(200);
    await expect(fetch(`http://127.0.0.1:${port}/health`)).rejects.toThrow();
    const check = await execFileAsync(process.execPath, ['-r', 'ts-node/register/transpile-only', 'src/fhir-api/healthcheck.ts'], { cwd: join(__dirname, '..', '..'), env: { ...process.env, FHIR_PORT: String(port) } }).then(
      () => 0,
      (e: { code?: number }) => e.code ?? 1,
    );
    expect(check).toBe(0);
  } finally {
    await service.close();
  }
}, 120_000);
