/**
 * Retention, as policy data plus one narrow function (the pattern of pg_partman's part_config and
 * run_maintenance()):
 * - `retention_policy` (one row) is written by the migration command from its environment, i.e. by
 *   the admin; the processor role cannot read or change it, so a compromised processor cannot choose
 *   to delete clinical data.
 * - `apply_retention(max_event_ids)` (SECURITY DEFINER, executable by the processor, called from its
 *   hourly maintenance) applies the policy:
 *   - event ids (the dedupe keys) older than `event_id_horizon_days` are deleted, at most
 *     `max_event_ids` per call (short transactions; the caller loops). The horizon must exceed
 *     Kinesis' longest retention (365 days), so no record still in the stream can be re-inserted
 *     after its id is pruned (a second guard: observations' own key, see the writer).
 *   - observations and NEWS2 scores are kept forever unless `observation_retention_days` is set:
 *     they are clinical records, whose retention is the hospital's decision (often 6 to 10 years or
 *     more). When set, whole daily partitions older than it are dropped, and rows parked in the
 *     default partitions that old are deleted.
 * Both limits are at least 366 days (CHECK), so a mistyped value cannot destroy recent data.
 * (0004_event-id-horizon lowers the event-id floor to 8 days and its default to 35: the horizon must
 * exceed the stream's configured retention, not Kinesis' maximum.)
 */
import type { MigrationBuilder } from 'node-pg-migrate/dist/bundle/index';

export const up = (pgm: MigrationBuilder): void => {
  pgm.sql(`
CREATE INDEX event_ids_stored_at ON event_ids (stored_at);

CREATE TABLE retention_policy (
  singleton                  boolean     PRIMARY KEY DEFAULT true CHECK (singleton),
  event_id_horizon_days      integer     NOT NULL DEFAULT 400 CHECK (event_id_horizon_days BETWEEN 366 AND 36500),
  observation_retention_days integer     CHECK (observation_retention_days BETWEEN 366 AND 36500),
  updated_at                 timestamptz NOT NULL DEFAULT now()
);
INSERT INTO retention_policy DEFAULT VALUES;

CREATE FUNCTION apply_retention(max_event_ids integer DEFAULT 50000)
RETURNS TABLE (event_ids_deleted integer, partitions_dropped integer, partitions_busy integer)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = public, pg_temp
AS $fn$
DECLARE
  policy  retention_policy;
  cutoff  date;
  part    record;
BEGIN
  IF max_event_ids NOT BETWEEN 1 AND 1000000 THEN
    RAISE EXCEPTION 'max_event_ids must be 1..1000000; received %', max_event_ids;
  END IF;
  event_ids_deleted := 0;
  partitions_dropped := 0;
  partitions_busy := 0;
  -- Every worker runs maintenance; one at a time is enough (the others skip).
  IF NOT pg_try_advisory_xact_lock(hashtext('apply_retention')) THEN
    RETURN NEXT;
    RETURN;
  END IF;
  SELECT * INTO STRICT policy FROM retention_policy;
  -- Dropping a partition locks its parent: never queue the writers behind a long wait.
  PERFORM set_config('lock_timeout', '2s', true);

  IF policy.observation_retention_days IS NOT NULL THEN
    cutoff := (now() AT TIME ZONE 'UTC')::date - policy.observation_retention_days;
    FOR part IN
      SELECT c.relname, p.relname AS parent
      FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
      WHERE p.relname IN ('observations', 'news2_scores')
        -- Only the daily partitions ensure_time_partitions() names <parent>_YYYYMMDD (CASE: the
        -- planner may evaluate to_date before the pattern test otherwise).
        AND CASE WHEN c.relname ~ ('^' || p.relname || '_[0-9]{8}$')
                 THEN to_date(right(c.relname, 8), 'YYYYMMDD') + 1 <= cutoff ELSE false END
      ORDER BY c.relname
    LOOP
      BEGIN
        EXECUTE format('DROP TABLE %I', part.relname);
        partitions_dropped := partitions_dropped + 1;
      EXCEPTION WHEN lock_not_available THEN
        partitions_busy := partitions_busy + 1; -- next hour
      END;
    END LOOP;
    DELETE FROM observations_default WHERE observed_at < (cutoff::timestamp AT TIME ZONE 'UTC');
    DELETE FROM news2_scores_default WHERE observed_at < (cutoff::timestamp AT TIME ZONE 'UTC');
  END IF;

  DELETE FROM event_ids WHERE ctid = ANY (ARRAY(
    SELECT ctid FROM event_ids
    WHERE stored_at < now() - make_interval(days => policy.event_id_horizon_days)
    LIMIT max_event_ids));
  GET DIAGNOSTICS event_ids_deleted = ROW_COUNT;
  RETURN NEXT;
END
$fn$;
REVOKE ALL ON FUNCTION apply_retention(integer) FROM PUBLIC;
`);
};

export const down = (pgm: MigrationBuilder): void => {
  pgm.sql(`
DROP FUNCTION IF EXISTS apply_retention(integer);
DROP TABLE IF EXISTS retention_policy;
DROP INDEX IF EXISTS event_ids_stored_at;
`);
};
