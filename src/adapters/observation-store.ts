/**
 * The FHIR read API's PostgreSQL adapter: runs the read-only queries of src/fhir/observation-query.ts
 * through a pool (on AWS as the `vitals_fhir_reader` role, which may SELECT observations, the
 * news2_scores view and the dictionaries patient_keys and sources, and nothing else, in read-only
 * transactions).
 */
import type { Pool } from 'pg';
import type { ObservationStore } from '../fhir/api';
import { byEventIdQuery, fromRow, searchQuery, type ObservationRow } from '../fhir/observation-query';

export function pgObservationStore(pool: Pick<Pool, 'query'>): ObservationStore {
  return {
    search: async (search, limit) => {
      const q = searchQuery(search, limit);
      const { rows } = await pool.query<ObservationRow>(q.text, q.values);
      return rows.map(fromRow);
    },
    byEventId: async (eventId) => {
      const q = byEventIdQuery(eventId);
      const { rows } = await pool.query<ObservationRow>(q.text, q.values);
      return rows[0] ? fromRow(rows[0]) : undefined;
    },
  };
}
