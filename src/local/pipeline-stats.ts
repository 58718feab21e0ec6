/**
 * What the runner reads back from the database, scoped to one run: this run's event ids form one
 * uuid range (traffic.eventIdRange), its dead letters and alerts are those written since it started.
 * Counts and timestamps only; no patient data is ever selected.
 */
import type { Pool } from 'pg';
import { SequenceSet } from './sequence-set';
import { eventIdRange, sequenceOf } from './traffic';

export interface RunScope {
  readonly runTag: string;
  readonly streamName: string;
  /** When the run started sending. */
  readonly startedAt: Date;
}

/** Distinct events of this run that the processor stored (observations; the run never reuses an id). */
export async function countStored(pool: Pool, scope: RunScope): Promise<number> {
  const { first, last } = eventIdRange(scope.runTag);
  const { rows } = await pool.query<{ n: string }>(
    'SELECT count(DISTINCT event_id) AS n FROM observations WHERE event_id BETWEEN $1::uuid AND $2::uuid',
    [first, last],
  );
  return Number(rows[0].n);
}

export async function countDeadLetters(pool: Pool, scope: RunScope): Promise<number> {
  const { rows } = await pool.query<{ n: string }>(
    'SELECT count(*) AS n FROM dead_letters WHERE stream_name = $1 AND dead_lettered_at >= $2',
    [scope.streamName, scope.startedAt],
  );
  return Number(rows[0].n);
}

/** Clinical alerts raised since the run started (each run simulates new patients, so these are this run's). */
export async function countAlerts(pool: Pool, scope: RunScope): Promise<number> {
  const { rows } = await pool.query<{ n: string }>('SELECT count(*) AS n FROM clinical_alerts WHERE raised_at >= $1', [scope.startedAt]);
  return Number(rows[0].n);
}

/** Stored-at times (epoch ms: the storing transaction's start) of those of `eventIds` already stored. */
export async function storedTimes(pool: Pool, eventIds: readonly string[]): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  if (eventIds.length === 0) return out;
  const { rows } = await pool.query<{ id: string; ms: number }>(
    'SELECT event_id::text AS id, extract(epoch FROM min(stored_at)) * 1000 AS ms FROM observations WHERE event_id = ANY($1::uuid[]) GROUP BY event_id',
    [eventIds],
  );
  for (const r of rows) out.set(r.id, Number(r.ms));
  return out;
}

export interface StoredSet {
  /** Sequence numbers of this run's events present in `observations`. */
  readonly stored: SequenceSet;
  /** Latest stored-at among them (epoch ms), null when none. */
  readonly lastStoredAtMs: number | null;
}

/** Reads this run's stored observation ids page by page (keyset pagination) into a bit set. */
export async function readStoredSet(pool: Pool, scope: RunScope, pageSize = 50_000): Promise<StoredSet> {
  const { first, last } = eventIdRange(scope.runTag);
  const stored = new SequenceSet();
  let lastStoredAtMs: number | null = null;
  let after = first;
  let inclusive = true;
  for (;;) {
    const { rows } = await pool.query<{ id: string; ms: number }>(
      `SELECT event_id::text AS id, extract(epoch FROM max(stored_at)) * 1000 AS ms
         FROM observations
        WHERE event_id ${inclusive ? '>=' : '>'} $1::uuid AND event_id <= $2::uuid
        GROUP BY event_id ORDER BY event_id LIMIT $3`,
      [after, last, pageSize],
    );
    for (const r of rows) {
      const seq = sequenceOf(scope.runTag, r.id);
      if (seq !== null) stored.add(seq);
      const ms = Number(r.ms);
      if (lastStoredAtMs === null || ms > lastStoredAtMs) lastStoredAtMs = ms;
    }
    if (rows.length < pageSize) break;
    after = rows[rows.length - 1].id;
    inclusive = false;
  }
  return { stored, lastStoredAtMs };
}

/** How many of `eventIds` are stored (the HL7 gateway's derived ids lie outside the run's range). */
export async function countStoredIds(pool: Pool, eventIds: Iterable<string>): Promise<number> {
  const ids = [...eventIds];
  let n = 0;
  for (let i = 0; i < ids.length; i += 10_000) {
    const { rows } = await pool.query<{ n: string }>('SELECT count(DISTINCT event_id) AS n FROM observations WHERE event_id = ANY($1::uuid[])', [ids.slice(i, i + 10_000)]);
    n += Number(rows[0]?.n ?? 0);
  }
  return n;
}
