/**
 * Storage per event (issue 11): ~1,150 bytes per event -> the ≤ 350 target. What changes:
 * - The NEWS2 score is folded into its observation row (`news2_total`, and the seven parameter
 *   scores packed two bits each into `news2_parameters`; the risk follows from both, as
 *   src/pipeline/news2.ts riskFor). `news2_scores` was a second row per event repeating the key, the
 *   pseudonym, the facility and a JSON object: it is now a VIEW over `observations` with the same
 *   columns, so its readers (the FHIR reader role, operators, tests) keep their queries.
 * - Patient pseudonyms (32 bytes) and device/facility ids (~40 bytes of text) are stored once, in
 *   `patient_keys` and `sources`, and observations carry 4-byte keys; the patient-time index is on
 *   (patient_key, observed_at). No foreign keys: the writer inserts the key rows before the batch
 *   transaction and never deletes them (a check per row would cost CPU for nothing).
 * - Vital values are `real` (float4: 7 significant digits, far beyond any monitor's resolution)
 *   instead of double precision; consciousness is a one-byte "char".
 * - Dropped, because nothing reads them: observations' `shard_id`, `sequence_number` (the Kinesis
 *   record a row came from; dead letters keep theirs, and the event id is the producer's idempotency
 *   key) and `arrived_at` (latency is measured on the processor's clock and in the alert outbox);
 *   `event_ids.observed_at` (the dedupe key needs only the id and its storage time).
 * - `event_ids_stored_at` (retention's scan) becomes a BRIN index: ids are inserted in stored_at
 *   order, so a few bytes per range of pages replace ~20 bytes per id.
 * - `latest_vitals` and `alert_state` (one row per patient, updated by every batch) get fillfactor 50,
 *   so their updates are HOT and their dead versions pruned in place instead of growing the table.
 * Existing rows are carried over (observations joined with their scores); the migration refuses to
 * finish if a row or a score would be lost. Partitions keep their names and bounds.
 */
import type { MigrationBuilder } from 'node-pg-migrate/dist/bundle/index';

/** The view's risk: src/pipeline/news2.ts riskFor(total, any parameter scored 3). */
const RISK_SQL = (t: string, p: string): string => `CASE WHEN ${t} >= 7 THEN 'high' WHEN ${t} >= 5 THEN 'medium'
    WHEN (${p} & 3) = 3 OR ((${p} >> 2) & 3) = 3 OR ((${p} >> 4) & 3) = 3 OR ((${p} >> 6) & 3) = 3
      OR ((${p} >> 8) & 3) = 3 OR ((${p} >> 10) & 3) = 3 OR ((${p} >> 12) & 3) = 3 THEN 'low-medium'
    ELSE 'low' END`;

/** Packed parameter scores -> the JSON object news2_scores.parameters held (src/fhir unpacks it in TypeScript). */
const PARAMETERS_JSON_SQL = (p: string): string => `jsonb_build_object(
    'respirationRate', ${p} & 3, 'spo2', (${p} >> 2) & 3, 'onSupplementalOxygen', (${p} >> 4) & 3,
    'systolicBp', (${p} >> 6) & 3, 'pulse', (${p} >> 8) & 3, 'consciousness', (${p} >> 10) & 3, 'temperatureC', (${p} >> 12) & 3)`;

/** JSON object -> packed smallint (bit layout as src/pipeline/news2-packing.ts). */
const PACK_SQL = (j: string): string => `((${j}->>'respirationRate')::int | ((${j}->>'spo2')::int << 2)
    | ((${j}->>'onSupplementalOxygen')::int << 4) | ((${j}->>'systolicBp')::int << 6) | ((${j}->>'pulse')::int << 8)
    | ((${j}->>'consciousness')::int << 10) | ((${j}->>'temperatureC')::int << 12))::smallint`;

/** Renames the partitions of `parent` with a prefix (so the new table's partitions can take the names). */
const RENAME_PARTITIONS_SQL = (parent: string, prefix: string): string => `
DO $do$
DECLARE r record;
BEGIN
  FOR r IN SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = '${parent}'::regclass LOOP
    EXECUTE format('ALTER TABLE %I RENAME TO %I', r.relname, '${prefix}' || r.relname);
  END LOOP;
END
$do$;`;

/** Creates on `target` the daily partitions `source` has (same names without the prefix, same bounds). */
const COPY_PARTITIONS_SQL = (source: string, prefix: string, target: string): string => `
DO $do$
DECLARE r record;
BEGIN
  FOR r IN SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) AS bound
           FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
           WHERE i.inhparent = '${source}'::regclass AND c.relname ~ '^${prefix}${target}_[0-9]{8}$' LOOP
    EXECUTE format('CREATE TABLE %I PARTITION OF ${target} %s', substr(r.relname, ${prefix.length + 1}), r.bound);
  END LOOP;
END
$do$;`;

const ENSURE_TIME_PARTITIONS_SQL = (parents: string): string => `
CREATE OR REPLACE FUNCTION ensure_time_partitions(days_ahead integer DEFAULT 7, days_back integer DEFAULT 0)
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = public, pg_temp
AS $fn$
DECLARE
  parent  text;
  day     date;
  part    text;
  busy    boolean;
  created integer := 0;
BEGIN
  IF days_ahead NOT BETWEEN 0 AND 62 OR days_back NOT BETWEEN 0 AND 62 THEN
    RAISE EXCEPTION 'days_ahead and days_back must be 0..62; received % and %', days_ahead, days_back;
  END IF;
  PERFORM pg_advisory_xact_lock(hashtext('ensure_time_partitions'));
  FOREACH parent IN ARRAY ARRAY[${parents}] LOOP
    FOR i IN -days_back..days_ahead LOOP
      day := (now() AT TIME ZONE 'UTC')::date + i;
      part := parent || '_' || to_char(day, 'YYYYMMDD');
      CONTINUE WHEN to_regclass(part) IS NOT NULL;
      EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I WHERE observed_at >= %L AND observed_at < %L)',
                     parent || '_default', (day::timestamp AT TIME ZONE 'UTC'), ((day + 1)::timestamp AT TIME ZONE 'UTC'))
        INTO busy;
      CONTINUE WHEN busy;
      EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
                     part, parent, (day::timestamp AT TIME ZONE 'UTC'), ((day + 1)::timestamp AT TIME ZONE 'UTC'));
      created := created + 1;
    END LOOP;
  END LOOP;
  RETURN created;
END
$fn$;
REVOKE ALL ON FUNCTION ensure_time_partitions(integer, integer) FROM PUBLIC;`;

const APPLY_RETENTION_SQL = (parents: string): string => `
CREATE OR REPLACE FUNCTION apply_retention(max_event_ids integer DEFAULT 50000)
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
      WHERE p.relname = ANY (ARRAY[${parents}])
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
    FOR part IN SELECT unnest(ARRAY[${parents}]) AS parent LOOP
      EXECUTE format('DELETE FROM %I WHERE observed_at < %L', part.parent || '_default', (cutoff::timestamp AT TIME ZONE 'UTC'));
    END LOOP;
  END IF;

  DELETE FROM event_ids WHERE ctid = ANY (ARRAY(
    SELECT ctid FROM event_ids
    WHERE stored_at < now() - make_interval(days => policy.event_id_horizon_days)
    LIMIT max_event_ids));
  GET DIAGNOSTICS event_ids_deleted = ROW_COUNT;
  RETURN NEXT;
END
$fn$;
REVOKE ALL ON FUNCTION apply_retention(integer) FROM PUBLIC;`;

export const up = (pgm: MigrationBuilder): void => {
  pgm.sql(`
-- Dictionaries: one row per patient pseudonym and per (device, facility).
CREATE TABLE patient_keys (
  patient_key       integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  patient_pseudonym bytea   NOT NULL UNIQUE CHECK (octet_length(patient_pseudonym) = 32)
);
CREATE TABLE sources (
  source_key  integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  device_id   text    NOT NULL,
  facility_id text    NOT NULL,
  UNIQUE (device_id, facility_id)
);
INSERT INTO patient_keys (patient_pseudonym)
  SELECT patient_pseudonym FROM patients UNION SELECT patient_pseudonym FROM observations ORDER BY 1;
INSERT INTO sources (device_id, facility_id) SELECT DISTINCT device_id, facility_id FROM observations ORDER BY 1, 2;

-- The old tables out of the way (their partitions renamed too, so the new ones take the names).
ALTER TABLE observations RENAME TO old_observations;
${RENAME_PARTITIONS_SQL('old_observations', 'old_')}

-- Columns ordered widest first: no alignment padding (96-byte tuples with every value present).
CREATE TABLE observations (
  observed_at            timestamptz NOT NULL,
  stored_at              timestamptz NOT NULL DEFAULT now(),
  event_id               uuid        NOT NULL,
  patient_key            integer     NOT NULL,
  source_key             integer     NOT NULL,
  pulse                  real,
  respiration_rate       real,
  spo2                   real,
  systolic_bp            real,
  diastolic_bp           real,
  temperature_c          real,
  -- NEWS2 of the patient's latest values when this observation changed them (null: not scored).
  news2_total            smallint    CHECK (news2_total BETWEEN 0 AND 20),
  -- The seven parameter scores, two bits each (src/pipeline/news2-packing.ts).
  news2_parameters       smallint    CHECK (news2_parameters BETWEEN 0 AND 16383),
  spo2_scale             smallint,
  on_supplemental_oxygen boolean,
  consciousness          "char",
  CHECK ((news2_total IS NULL) = (news2_parameters IS NULL))
) PARTITION BY RANGE (observed_at);
CREATE TABLE observations_default PARTITION OF observations DEFAULT;
${COPY_PARTITIONS_SQL('old_observations', 'old_', 'observations')}

INSERT INTO observations (observed_at, stored_at, event_id, patient_key, source_key, pulse, respiration_rate, spo2,
                          systolic_bp, diastolic_bp, temperature_c, news2_total, news2_parameters, spo2_scale,
                          on_supplemental_oxygen, consciousness)
SELECT o.observed_at, o.stored_at, o.event_id, k.patient_key, src.source_key, o.pulse, o.respiration_rate, o.spo2,
       o.systolic_bp, o.diastolic_bp, o.temperature_c, s.total, CASE WHEN s.event_id IS NOT NULL THEN ${PACK_SQL('s.parameters')} END,
       o.spo2_scale, o.on_supplemental_oxygen, o.consciousness::text::"char"
FROM old_observations o
JOIN patient_keys k ON k.patient_pseudonym = o.patient_pseudonym
JOIN sources src ON src.device_id = o.device_id AND src.facility_id = o.facility_id
LEFT JOIN news2_scores s ON s.event_id = o.event_id AND s.observed_at = o.observed_at;

DO $do$
DECLARE
  before_rows bigint; after_rows bigint; before_scores bigint; after_scores bigint;
BEGIN
  SELECT count(*) INTO before_rows FROM old_observations;
  SELECT count(*) INTO after_rows FROM observations;
  SELECT count(*) INTO before_scores FROM news2_scores;
  SELECT count(*) INTO after_scores FROM observations WHERE news2_total IS NOT NULL;
  IF before_rows <> after_rows OR before_scores <> after_scores THEN
    RAISE EXCEPTION 'observations carried % of %, scores % of % (a score without its observation?): nothing migrated',
      after_rows, before_rows, after_scores, before_scores;
  END IF;
END
$do$;

DROP TABLE old_observations, news2_scores;
ALTER TABLE observations ADD PRIMARY KEY (event_id, observed_at);
CREATE INDEX observations_patient_time ON observations (patient_key, observed_at DESC);

-- news2_scores as it was, for its readers.
CREATE VIEW news2_scores AS
SELECT o.event_id, o.observed_at, k.patient_pseudonym, src.facility_id, o.news2_total AS total,
       ${RISK_SQL('o.news2_total', 'o.news2_parameters')} AS risk,
       ${PARAMETERS_JSON_SQL('o.news2_parameters')} AS parameters,
       o.stored_at AS scored_at
FROM observations o
JOIN patient_keys k ON k.patient_key = o.patient_key
JOIN sources src ON src.source_key = o.source_key
WHERE o.news2_total IS NOT NULL;

ALTER TABLE event_ids DROP COLUMN observed_at;
DROP INDEX event_ids_stored_at;
CREATE INDEX event_ids_stored_at ON event_ids USING brin (stored_at) WITH (pages_per_range = 16);

ALTER TABLE latest_vitals SET (fillfactor = 50);
ALTER TABLE alert_state SET (fillfactor = 50);
${ENSURE_TIME_PARTITIONS_SQL(`'observations'`)}
${APPLY_RETENTION_SQL(`'observations'`)}
`);
};

/**
 * Back to the 0007 shape. Every observation and score comes back; what 0008 dropped cannot: shard id
 * and sequence number come back empty, arrival times and event_ids.observed_at of ids without a kept
 * observation as their storage time, and values at float4 precision.
 */
export const down = (pgm: MigrationBuilder): void => {
  pgm.sql(`
DROP VIEW news2_scores;
ALTER TABLE observations RENAME TO new_observations;
ALTER INDEX observations_pkey RENAME TO new_observations_pkey;
ALTER INDEX observations_patient_time RENAME TO new_observations_patient_time;
${RENAME_PARTITIONS_SQL('new_observations', 'new_')}
CREATE TABLE observations (
  event_id               uuid             NOT NULL,
  observed_at            timestamptz      NOT NULL,
  patient_pseudonym      bytea            NOT NULL,
  device_id              text             NOT NULL,
  facility_id            text             NOT NULL,
  pulse                  double precision,
  respiration_rate       double precision,
  spo2                   double precision,
  spo2_scale             smallint,
  on_supplemental_oxygen boolean,
  systolic_bp            double precision,
  diastolic_bp           double precision,
  temperature_c          double precision,
  consciousness          char(1),
  shard_id               text             NOT NULL,
  sequence_number        text             NOT NULL,
  arrived_at             timestamptz,
  stored_at              timestamptz      NOT NULL DEFAULT now()
) PARTITION BY RANGE (observed_at);
CREATE TABLE observations_default PARTITION OF observations DEFAULT;
${COPY_PARTITIONS_SQL('new_observations', 'new_', 'observations')}
CREATE TABLE news2_scores (
  event_id          uuid        NOT NULL,
  observed_at       timestamptz NOT NULL,
  patient_pseudonym bytea       NOT NULL,
  facility_id       text        NOT NULL,
  total             smallint    NOT NULL,
  risk              text        NOT NULL CHECK (risk IN ('low', 'low-medium', 'medium', 'high')),
  parameters        jsonb       NOT NULL,
  scored_at         timestamptz NOT NULL DEFAULT now()
) PARTITION BY RANGE (observed_at);
CREATE TABLE news2_scores_default PARTITION OF news2_scores DEFAULT;
DO $do$
DECLARE r record;
BEGIN
  FOR r IN SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) AS bound
           FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
           WHERE i.inhparent = 'observations'::regclass AND c.relname ~ '^observations_[0-9]{8}$' LOOP
    EXECUTE format('CREATE TABLE %I PARTITION OF news2_scores %s', 'news2_scores_' || right(r.relname, 8), r.bound);
  END LOOP;
END
$do$;

INSERT INTO observations (event_id, observed_at, patient_pseudonym, device_id, facility_id, pulse, respiration_rate, spo2,
                          spo2_scale, on_supplemental_oxygen, systolic_bp, diastolic_bp, temperature_c, consciousness,
                          shard_id, sequence_number, arrived_at, stored_at)
SELECT o.event_id, o.observed_at, k.patient_pseudonym, src.device_id, src.facility_id, o.pulse, o.respiration_rate, o.spo2,
       o.spo2_scale, o.on_supplemental_oxygen, o.systolic_bp, o.diastolic_bp, o.temperature_c, o.consciousness::text,
       '', '', NULL, o.stored_at
FROM new_observations o
JOIN patient_keys k ON k.patient_key = o.patient_key
JOIN sources src ON src.source_key = o.source_key;
INSERT INTO news2_scores (event_id, observed_at, patient_pseudonym, facility_id, total, risk, parameters, scored_at)
SELECT o.event_id, o.observed_at, k.patient_pseudonym, src.facility_id, o.news2_total,
       ${RISK_SQL('o.news2_total', 'o.news2_parameters')},
       ${PARAMETERS_JSON_SQL('o.news2_parameters')}, o.stored_at
FROM new_observations o
JOIN patient_keys k ON k.patient_key = o.patient_key
JOIN sources src ON src.source_key = o.source_key
WHERE o.news2_total IS NOT NULL;

DO $do$
BEGIN
  IF (SELECT count(*) FROM observations) <> (SELECT count(*) FROM new_observations) THEN
    RAISE EXCEPTION 'observations without a patient or source key: nothing migrated';
  END IF;
END
$do$;
ALTER TABLE event_ids ADD COLUMN observed_at timestamptz;
UPDATE event_ids e SET observed_at = coalesce((SELECT min(o.observed_at) FROM new_observations o WHERE o.event_id = e.event_id), e.stored_at);
ALTER TABLE event_ids ALTER COLUMN observed_at SET NOT NULL;
DROP INDEX event_ids_stored_at;
CREATE INDEX event_ids_stored_at ON event_ids (stored_at);

DROP TABLE new_observations, patient_keys, sources;
ALTER TABLE observations ADD PRIMARY KEY (event_id, observed_at);
ALTER TABLE news2_scores ADD PRIMARY KEY (event_id, observed_at);
CREATE INDEX observations_patient_time ON observations (patient_pseudonym, observed_at DESC);
CREATE INDEX news2_scores_patient_time ON news2_scores (patient_pseudonym, observed_at DESC);
ALTER TABLE latest_vitals RESET (fillfactor);
ALTER TABLE alert_state RESET (fillfactor);
${ENSURE_TIME_PARTITIONS_SQL(`'observations', 'news2_scores'`)}
${APPLY_RETENTION_SQL(`'observations', 'news2_scores'`)}
`);
};
