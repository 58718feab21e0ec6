/**
 * The FHIR API handler over an in-memory store with the SQL's semantics (the SQL itself runs against
 * PostgreSQL in read-api.integration.test.ts), served through fastify as the ingest server does.
 */
import Fastify from 'fastify';
import type { Bundle, Observation, OperationOutcome } from '@medplum/fhirtypes';
import { registerFhirRoutes } from '../../src/adapters/fhir-http';
import { capabilityStatement, searchObservations, type ObservationStore } from '../../src/fhir/api';
import type { StoredRow } from '../../src/fhir/observation-query';
import { KINDS } from '../../src/fhir/observations';
import { issuesOf, validate } from './support/fhir-validator';

const P = 'ab'.repeat(32);
const BASE = 'http://localhost/fhir';

function row(i: number, over: Partial<StoredRow> = {}): StoredRow {
  const observedAt = new Date(Date.UTC(2026, 2, 1, 10, 0, i));
  return {
    eventId: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
    observedAt,
    observedAtText: observedAt.toISOString().replace('Z', '000Z'),
    patientPseudonym: P,
    deviceId: 'mon-1',
    facilityId: 'f1',
    pulse: 70 + i,
    respirationRate: 16,
    spo2: 97,
    spo2Scale: null,
    onSupplementalOxygen: false,
    systolicBp: 120,
    diastolicBp: 80,
    temperatureC: 37,
    consciousness: 'A',
    storedAt: observedAt,
    news2: i % 2 === 0 ? { total: 1, risk: 'low', parameters: { respirationRate: 0, spo2: 0, onSupplementalOxygen: 0, systolicBp: 0, pulse: 0, consciousness: 0, temperatureC: 1 } } : null,
    ...over,
  };
}

/** The query's semantics in memory. */
function memoryStore(rows: StoredRow[], calls: number[] = []): ObservationStore {
  return {
    search: async (s, limit) => {
      calls.push(limit);
      const key = (r: StoredRow) => `${r.observedAtText}|${r.eventId}`;
      const sorted = rows
        .filter((r) => r.patientPseudonym === s.patientPseudonym)
        .filter((r) => s.dates.every((d) => (d.from === undefined || r.observedAt.getTime() >= d.from) && (d.before === undefined || r.observedAt.getTime() < d.before)))
        .filter((r) => s.kinds.some((k) => KINDS[k].present(r)))
        .sort((a, b) => (key(a) < key(b) ? -1 : 1));
      if (s.order === 'desc') sorted.reverse();
      const c = s.cursor ? `${s.cursor.time}|${s.cursor.eventId}` : undefined;
      return sorted.filter((r) => c === undefined || (s.order === 'desc' ? key(r) <= c : key(r) >= c)).slice(0, limit);
    },
    byEventId: async (id) => rows.find((r) => r.eventId === id),
  };
}

async function allPages(store: ObservationStore, query: Record<string, string | string[]>): Promise<{ ids: string[]; pages: Bundle[] }> {
  const pages: Bundle[] = [];
  let q: Record<string, string | string[]> = query;
  for (let i = 0; i < 100; i++) {
    const r = await searchObservations(q, store, BASE);
    expect(r.status).toBe(200);
    const b = r.body as Bundle;
    pages.push(b);
    const next = b.link?.find((l) => l.relation === 'next')?.url;
    if (!next) break;
    const u = new URL(next);
    q = {};
    for (const k of new Set(u.searchParams.keys())) {
      const v = u.searchParams.getAll(k);
      q[k] = v.length > 1 ? v : (v[0] as string);
    }
  }
  return { ids: pages.flatMap((p) => (p.entry ?? []).map((e) => e.resource?.id as string)), pages };
}

test('paging through every page yields every resource once, newest first, pages never over _count', async () => {
  const rows = Array.from({ length: 13 }, (_, i) => row(i));
  const everything = (await allPages(memoryStore(rows), { patient: P, _count: '500' })).ids;
  expect(everything).toHaveLength(13 * 5 + 7);
  expect(everything[0]).toBe('00000000-0000-4000-8000-000000000012-heart-rate');
  for (const count of [1, 4, 5, 6, 7, 11]) {
    const { ids, pages } = await allPages(memoryStore(rows), { patient: P, _count: String(count) });
    expect(ids).toEqual(everything);
    expect(pages.every((p) => (p.entry ?? []).length <= count)).toBe(true);
    expect(pages.slice(0, -1).every((p) => (p.entry ?? []).length === count)).toBe(true);
  }
});

test('ascending order and date and code filters page correctly too', async () => {
  const rows = Array.from({ length: 10 }, (_, i) => row(i));
  const { ids } = await allPages(memoryStore(rows), { patient: P, _sort: 'date', _count: '3', code: 'http://loinc.org|8867-4', date: ['ge2026-03-01T10:00:03Z', 'lt2026-03-01T10:00:07Z'] });
  expect(ids).toEqual([3, 4, 5, 6].map((i) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}-heart-rate`));
});

test('a page asks the store for count + 2 rows, no more', async () => {
  const calls: number[] = [];
  await searchObservations({ patient: P, _count: '7' }, memoryStore([row(1)], calls), BASE);
  expect(calls).toEqual([9]);
});

test('a searchset bundle and its entries are valid FHIR R4', async () => {
  const r = await searchObservations({ patient: `Patient/${P}`, _count: '4' }, memoryStore([row(0), row(1)]), BASE);
  const b = r.body as Bundle;
  expect(b.type).toBe('searchset');
  expect(b.link?.map((l) => l.relation)).toEqual(['self', 'next']);
  expect(b.entry?.[0]).toMatchObject({ fullUrl: `${BASE}/Observation/00000000-0000-4000-8000-000000000001-heart-rate`, search: { mode: 'match' } });
  expect(issuesOf(() => validate(b))).toEqual([]);
});

test('no resource kind requested means an empty bundle without a database call', async () => {
  const calls: number[] = [];
  const r = await searchObservations({ patient: P, code: 'http://loinc.org|1234-5' }, memoryStore([row(0)], calls), BASE);
  expect((r.body as Bundle).entry).toEqual([]);
  expect(calls).toEqual([]);
});

test('the CapabilityStatement is valid FHIR R4', () => {
  expect(issuesOf(() => validate(capabilityStatement(BASE)))).toEqual([]);
});

describe('over HTTP (fastify)', () => {
  const app = Fastify();
  const rows = [row(0), row(1)];
  let failing = false;
  registerFhirRoutes(app, {
    store: {
      search: async (s, l) => {
        if (failing) throw Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:5432'), { code: 'ECONNREFUSED' });
        return memoryStore(rows).search(s, l);
      },
      byEventId: (id) => memoryStore(rows).byEventId(id),
    },
  });
  let url = '';
  // fastify's inject needs an ESM-only dependency jest cannot load: listen on loopback instead.
  beforeAll(async () => {
    await app.listen({ port: 0, host: '127.0.0.1' });
    url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
  });
  afterAll(() => app.close());
  const get = async (path: string) => {
    const res = await fetch(`${url}${path}`);
    const body = await res.text();
    return { statusCode: res.status, headers: Object.fromEntries(res.headers), body, json: <T = unknown>() => JSON.parse(body) as T };
  };

  test('search answers application/fhir+json with links on the host the client used', async () => {
    const r = await get(`/fhir/Observation?patient=Patient/${P}&_count=2`);
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-type']).toBe('application/fhir+json; charset=utf-8');
    expect((r.json() as Bundle).link?.[1]?.url).toMatch(new RegExp(`^${url}/fhir/Observation\\?patient=Patient%2Fabab.*&_count=2&_cursor=`));
  });

  test('bad parameters are a 400 OperationOutcome', async () => {
    const r = await get('/fhir/Observation?patient=MRN-1');
    expect(r.statusCode).toBe(400);
    expect(r.json<OperationOutcome>().issue[0]).toMatchObject({ severity: 'error', code: 'invalid' });
  });

  test('read by id returns the resource; an unknown id or kind is a 404', async () => {
    const hit = await get('/fhir/Observation/00000000-0000-4000-8000-000000000000-news2');
    expect(hit.statusCode).toBe(200);
    expect(hit.json<Observation>().code.coding?.[0]?.code).toBe('1104051000000101');
    expect((await get('/fhir/Observation/00000000-0000-4000-8000-000000000001-news2')).statusCode).toBe(404);
    expect((await get('/fhir/Observation/nope')).statusCode).toBe(404);
  });

  test('a database failure is a 503 OperationOutcome that says nothing of the database', async () => {
    failing = true;
    const r = await get(`/fhir/Observation?patient=${P}`);
    failing = false;
    expect(r.statusCode).toBe(503);
    expect(r.headers['retry-after']).toBe('1');
    expect(r.body).not.toContain('10.0.0.1');
    expect(r.body).not.toContain('ECONNREFUSED');
  });

  test('metadata is served', async () => {
    const r = await get('/fhir/metadata');
    expect(r.json()).toMatchObject({ resourceType: 'CapabilityStatement', fhirVersion: '4.0.1' });
  });
});
