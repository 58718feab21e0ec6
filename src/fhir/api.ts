/**
 * The read-only FHIR R4 API over stored observations, independent of the HTTP framework: search
 * (`GET [base]/Observation?...` -> Bundle searchset with next links), read (`GET
 * [base]/Observation/<id>`) and the CapabilityStatement (`GET [base]/metadata`). Errors are
 * OperationOutcomes that name parameters and rules, never a stored value.
 */
import type { Bundle, BundleEntry, BundleLink, CapabilityStatement, Observation, OperationOutcome, Resource } from '@medplum/fhirtypes';
import type { StoredRow } from './observation-query';
import { observationOfKind, OBSERVATION_KINDS, parseObservationId } from './observations';
import { encodeCursor, parseObservationSearch, type ObservationSearch, type QueryValues } from './search';

export interface ObservationStore {
  /** At most `limit` rows matching the search, in its order, from its cursor on. */
  search(search: ObservationSearch, limit: number): Promise<StoredRow[]>;
  byEventId(eventId: string): Promise<StoredRow | undefined>;
}

export interface FhirResponse {
  readonly status: number;
  readonly body: Resource;
}

export const FHIR_JSON = 'application/fhir+json; charset=utf-8';

export function operationOutcome(status: number, code: 'invalid' | 'not-found' | 'exception' | 'not-supported' | 'security' | 'throttled', messages: readonly string[]): FhirResponse {
  const body: OperationOutcome = {
    resourceType: 'OperationOutcome',
    issue: messages.map((m) => ({ severity: 'error', code, diagnostics: m })),
  };
  return { status, body };
}

function queryString(query: QueryValues, cursor?: string): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (k === '_cursor' || v === undefined) continue;
    for (const x of Array.isArray(v) ? (v as readonly string[]) : [v as string]) p.append(k, x);
  }
  if (cursor) p.append('_cursor', cursor);
  return p.toString();
}

export async function searchObservations(query: QueryValues, store: ObservationStore, baseUrl: string): Promise<FhirResponse> {
  const parsed = parseObservationSearch(query);
  if (!parsed.ok) return operationOutcome(400, 'invalid', parsed.problems);
  const search = parsed.search;
  // One row yields at least one requested resource; the cursor row may yield fewer (its earlier
  // kinds were on the previous page), so count + 2 rows always fill a page and show whether more follow.
  const rows = search.kinds.length === 0 ? [] : await store.search(search, search.count + 2);
  const entries: Array<{ resource: Observation; row: StoredRow; kind: number }> = [];
  for (const row of rows) {
    const firstKind = search.cursor && row.eventId === search.cursor.eventId && row.observedAtText === search.cursor.time ? search.cursor.kind : 0;
    OBSERVATION_KINDS.forEach((kind, i) => {
      if (i < firstKind || !search.kinds.includes(kind)) return;
      const resource = observationOfKind(row, kind);
      if (resource) entries.push({ resource, row, kind: i });
    });
    if (entries.length > search.count) break;
  }
  const page = entries.slice(0, search.count);
  const following = entries[search.count];
  const link: BundleLink[] = [{ relation: 'self', url: `${baseUrl}/Observation?${queryString(query)}` }];
  if (following) {
    const token = encodeCursor({ time: following.row.observedAtText, eventId: following.row.eventId, kind: following.kind });
    link.push({ relation: 'next', url: `${baseUrl}/Observation?${queryString(query, token)}` });
  }
  const bundle: Bundle = {
    resourceType: 'Bundle',
    type: 'searchset',
    timestamp: new Date().toISOString(),
    link,
    entry: page.map(
      (e): BundleEntry => ({ fullUrl: `${baseUrl}/Observation/${e.resource.id}`, resource: e.resource, search: { mode: 'match' } }),
    ),
  };
  return { status: 200, body: bundle };
}

export async function readObservation(id: string, store: ObservationStore): Promise<FhirResponse> {
  const parsed = parseObservationId(id);
  const notFound = operationOutcome(404, 'not-found', [`Observation/${/^[A-Za-z0-9.-]{1,64}$/.test(id) ? id : '<invalid id>'} is not known`]);
  if (!parsed) return notFound;
  const row = await store.byEventId(parsed.eventId);
  const resource = row ? observationOfKind(row, parsed.kind) : undefined;
  return resource ? { status: 200, body: resource } : notFound;
}

export function capabilityStatement(baseUrl: string): CapabilityStatement {
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: '2026-12-01',
    kind: 'instance',
    implementation: { description: 'vitals-pipeline read-only FHIR API (vital signs and NEWS2 from bedside monitors)', url: baseUrl },
    fhirVersion: '4.0.1',
    format: ['json'],
    rest: [
      {
        mode: 'server',
        security: { description: 'API key (x-api-key) on every request; on AWS also SigV4 (IAM) through API Gateway.' },
        resource: [
          {
            type: 'Observation',
            supportedProfile: ['vitalsigns', 'heartrate', 'resprate', 'oxygensat', 'bp', 'bodytemp'].map((p) => `http://hl7.org/fhir/StructureDefinition/${p}`),
            interaction: [{ code: 'read' }, { code: 'search-type' }],
            searchParam: [
              { name: 'patient', type: 'reference', documentation: 'Required. Patient/<pseudonym> (HMAC-SHA256 of the identifier, 64 hex digits).' },
              { name: 'subject', type: 'reference', documentation: 'Same as patient.' },
              { name: 'date', type: 'date', documentation: 'Observation time; prefixes eq, gt, ge, lt, le, sa, eb; repeat to bound both sides.' },
              { name: 'code', type: 'token', documentation: 'LOINC 8867-4, 9279-1, 2708-6, 59408-5, 85354-9, 8480-6, 8462-4, 8310-5; SNOMED CT 1104051000000101 (NEWS2).' },
              { name: 'category', type: 'token', documentation: 'vital-signs or survey (NEWS2).' },
              { name: '_count', type: 'number', documentation: '1..500, default 50.' },
              { name: '_sort', type: 'string', documentation: '-date (default) or date.' },
            ],
          },
        ],
      },
    ],
  };
}
